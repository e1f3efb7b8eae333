/* abr.h (internal): the interface every ABR algorithm implements, shared by src/abr/abr.c (the
 * simulator, which owns the registry) and src/abr_<algo>.c (one file per algorithm).
 *
 * Protocol, as in Pensieve's test harness: chunk 0 is fetched at the start level without asking
 * the algorithm; after every chunk n (0..n_chunks-1, the last one included, which matters for
 * algorithms with history such as the published robustMPC) the simulator calls choose() with
 * what a player knows, and the answer is the level of chunk n+1 (ignored after the last).
 * State: one block of state_size bytes, zeroed and passed to run_start() once per mq_abr_run,
 * then session_start() before every trace.  No globals, so runs are independent.
 *
 * Adding an algorithm: write src/abr_<name>.c defining `const mq__abr_algo mq__abr_algo_<name>`
 * and add one line to the registry table in src/abr/abr.c. */
#ifndef MQ_ABR_INTERNAL_H
#define MQ_ABR_INTERNAL_H

#include "marquee.h"

/* What the algorithm sees after a chunk is downloaded. */
typedef struct mq__abr_obs {
    int chunk;            /* index of the chunk just downloaded (0-based) */
    int next;             /* chunk + 1: the chunk being decided (== n_chunks after the last) */
    int level;            /* its level */
    double buffer_s;      /* buffer after its download and any sleep */
    double rebuf_s;       /* stall it caused */
    double delay_ms;      /* its download time incl. RTT */
    /* Measured throughput of chunks 0..chunk of this session in MB/s (bytes / delay_ms / 1000,
     * Pensieve's state[3]); tput[chunk] is the newest. */
    const double *tput;
} mq__abr_obs;

typedef struct mq__abr_env {
    const mq_abr_video *video;
    const mq_abr_qoe *qoe;
    const mq_abr_opts *opts;
    const void *params;   /* algorithm-specific tuning (NULL = the algorithm's defaults) */
} mq__abr_env;

typedef struct mq__abr_algo {
    const char *name;
    const char *summary;
    size_t state_size;
    void (*run_start)(void *st, const mq__abr_env *env);     /* may be NULL */
    void (*session_start)(void *st, const mq__abr_env *env); /* may be NULL */
    int (*choose)(void *st, const mq__abr_env *env, const mq__abr_obs *obs);
} mq__abr_algo;

/* mq_abr_run with an explicit algorithm table and tuning parameters (for tuning studies). */
int mq__abr_run_algo(const mq_abr_trace *traces, int n_traces, const mq_abr_video *v,
                     const mq__abr_algo *a, const void *params, const mq_abr_opts *o,
                     const mq_abr_qoe *q, mq_abr_session *sessions, mq_abr_chunk *chunks,
                     mq_err *err);

/* Harmonic mean of x[0..n) skipping nothing (all > 0), summed oldest first as Pensieve does. */
double mq__abr_harmonic(const double *x, int n);
/* Highest level whose ladder bitrate <= kbps (0 if none). */
int mq__abr_level_for_kbps(const mq_abr_video *v, double kbps);
/* Bytes of chunk `index` at `level`; 0 beyond the size table (as Pensieve's get_chunk_size). */
double mq__abr_size(const mq_abr_video *v, int level, int index);

/* The exact MPC search (src/abr/abr_mpc.c), shared by the MPC family and variants: maximizes over
 * all n_levels^h level sequences for chunks idx[0..h) (idx[k] may exceed the size table: size
 * 0) the objective sum q - mu * rebuf - sum |dq| (+ terminal(buffer) when term_w != 0) with
 * download time = size / 1e6 / bw_MBps, starting from buffer_s and last level `last`; returns
 * the first level of the lexicographically LAST optimal sequence (Pensieve's `>=` tie rule).
 * *evals counts sequence-prefix evaluations (for benchmarks), may be NULL. */
int mq__abr_mpc_search(const mq_abr_video *v, const mq_abr_qoe *q, const int *idx, int h,
                       double buffer_s, int last, double bw_MBps, long long *evals);
/* The same with a terminal cost term_k * max(0, term_b - buffer at the horizon's end) (QoE
 * units per second of missing buffer) subtracted from every sequence's objective; term_k = 0 is
 * exactly mq__abr_mpc_search.  The cost is <= 0, so the pruning bound stays rigorous. */
int mq__abr_mpc_search_ex(const mq_abr_video *v, const mq_abr_qoe *q, const int *idx, int h,
                          double buffer_s, int last, double bw_MBps, double term_k,
                          double term_b, long long *evals);
/* mq__abr_mpc_search_ex by plain enumeration of all sequences in lexicographic order with
 * Pensieve's `>=` rule (the reference and the speed baseline). */
int mq__abr_mpc_search_naive(const mq_abr_video *v, const mq_abr_qoe *q, const int *idx, int h,
                             double buffer_s, int last, double bw_MBps, double term_k,
                             double term_b, long long *evals);



/* BOLA-BASIC's choice (src/abr/abr_bola.c), shared with DYNAMIC: argmax_m (V (v_m + gp) - Q) / S_m
 * with v_m = ln(R_m / R_0), Q the buffer in seconds, S_m the next chunk's bytes, and V, gp set
 * so that the lowest level is chosen up to q_low_s and the highest from q_target_s. */
int mq__abr_bola_choose(const mq__abr_env *env, const mq__abr_obs *o, double q_low_s,
                        double q_target_s);
#endif
