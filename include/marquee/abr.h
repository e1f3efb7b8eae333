/* marquee/abr.h: public interface of the abr module (included by marquee.h only).
 *
 * Adaptive-bitrate streaming: a deterministic player/network simulator driven by measured
 * throughput traces (Pensieve's "cooked" format), the bitrate-selection algorithms real players
 * use, and the published QoE scores (Mao et al., "Neural Adaptive Video Streaming with Pensieve",
 * SIGCOMM 2017).  With default options the simulator has exactly the semantics of Pensieve's
 * test simulator (fixed_env.py): see docs/abr.md and src/abr/abr.c for the equations.
 *
 * Objects: an mq_abr_trace (one throughput trace), an mq_abr_video (bitrate ladder + chunk byte
 * sizes), an mq_abr_qoe (the score), mq_abr_opts (simulator options).  mq_abr_run plays the
 * video over every trace with one algorithm and fills one mq_abr_session per trace (and
 * optionally one mq_abr_chunk per downloaded chunk).  All objects are plain data owned by the
 * caller; after loading they are read-only and may be shared by threads.  mq_abr_run keeps its
 * algorithm state on its own stack/heap, so concurrent runs are safe. */
#ifndef MARQUEE_ABR_H
#define MARQUEE_ABR_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmarquee.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

#define MQ_ABR_MAX_LEVELS 16
/* Longest chunk a video may have, in seconds (a sanity bound: DASH chunks are 2-10 s). */
#define MQ_ABR_MAX_CHUNK_S 3600

/* ---- traces ---- */

/* One throughput trace: n samples of (time in seconds, throughput in Mbit/s); time strictly
 * increasing, throughput >= 0 (0.0 = outage).  name is the file's base name. */
typedef struct mq_abr_trace {
    char name[256];
    int n;
    double *time_s;   /* [n] */
    double *mbps;     /* [n] */
} mq_abr_trace;

/* Parses a cooked trace from text[0..len) (one sample a line: time and throughput separated
 * by whitespace; further columns ignored; blank lines skipped).  `where` names the source in
 * error messages ("file:line: ...").  Fails with MQ_EFORMAT on an empty trace, fewer than 2
 * samples, a missing column, a non-numeric / non-finite / negative value, time not strictly
 * increasing, or no positive throughput after the first sample (the simulator would never
 * finish a download).  On success the caller owns t and frees it with mq_abr_trace_release. */
int mq_abr_trace_parse(mq_abr_trace *t, const char *where, const char *text, size_t len,
                       mq_err *err);
/* Loads one trace file (see mq_abr_trace_parse); t->name is the file's base name. */
int mq_abr_trace_load(mq_abr_trace *t, const char *path, mq_err *err);
void mq_abr_trace_release(mq_abr_trace *t);
/* Loads every regular file of dir (hidden files skipped) in sorted (strcmp) file-name order
 * into a new array *traces of *n entries; the caller frees it with mq_abr_traces_free.
 * Fails (nothing allocated) on the first malformed file or when dir holds no trace. */
int mq_abr_traces_load_dir(const char *dir, mq_abr_trace **traces, int *n, mq_err *err);
void mq_abr_traces_free(mq_abr_trace *traces, int n);

/* ---- video ---- */

/* A video: n_levels bitrates (kbit/s, increasing), n_chunks chunks of chunk_s seconds played,
 * and byte sizes for n_sizes >= n_chunks chunks per level (Pensieve's files hold 49 sizes and
 * 48 chunks are played; lookahead algorithms may read the extra sizes). */
typedef struct mq_abr_video {
    int n_levels;
    int n_chunks;
    int n_sizes;
    double chunk_s;
    double bitrate_kbps[MQ_ABR_MAX_LEVELS];
    double *sizes;    /* [n_levels][n_sizes] bytes, row-major */
} mq_abr_video;

/* Pensieve's ladder: 300, 750, 1200, 1850, 2850, 4300 kbit/s. */
extern const double mq_abr_pensieve_ladder_kbps[6];

/* Loads dir/video_size_0 .. dir/video_size_{n_levels-1} (one positive integer byte count a
 * line, level 0 = lowest bitrate) for the given ladder (NULL, 0 = Pensieve's six levels).
 * n_chunks <= 0 means 48 and chunk_s <= 0 means 4 s (Pensieve); every file must hold at least
 * n_chunks sizes and all files the same count.  Errors (MQ_EFORMAT, MQ_ENOTFOUND for a missing
 * file) name file:line.  Caller releases with mq_abr_video_release. */
int mq_abr_video_load(mq_abr_video *v, const char *dir, const double *ladder_kbps, int n_levels,
                      int n_chunks, double chunk_s, mq_err *err);
/* Builds a video from sizes[n_levels * n_sizes] (copied); same checks as the loader. */
int mq_abr_video_init(mq_abr_video *v, const double *ladder_kbps, int n_levels, int n_chunks,
                      int n_sizes, double chunk_s, const double *sizes, mq_err *err);
void mq_abr_video_release(mq_abr_video *v);

/* ---- QoE ---- */

typedef enum { MQ_ABR_QOE_LIN = 0, MQ_ABR_QOE_LOG = 1, MQ_ABR_QOE_HD = 2 } mq_abr_qoe_kind;

/* QoE of chunk n = q(R_n) - mu T_n - |q(R_n) - q(R_{n-1})| (T_n = rebuffer seconds of chunk n,
 * R_{-1} = the start level).  q(level) = units[level] / scale: lin: units = kbit/s, scale 1000,
 * mu 4.3; log: units = ln(R/R_min), scale 1, mu 2.66; hd: units {1,2,3,12,15,20} (needs the
 * six-level ladder), scale 1, mu 8.  (Integer units for lin keep sums exact, as in Pensieve.) */
typedef struct mq_abr_qoe {
    mq_abr_qoe_kind kind;
    double mu;
    double scale;
    double units[MQ_ABR_MAX_LEVELS];
} mq_abr_qoe;

/* Parses "lin", "log" or "hd". */
int mq_abr_qoe_parse(const char *s, mq_abr_qoe_kind *kind, mq_err *err);
const char *mq_abr_qoe_name(mq_abr_qoe_kind kind);
/* Fills q for video v; MQ_EINVAL when kind is hd and v's ladder is not Pensieve's. */
int mq_abr_qoe_init(mq_abr_qoe *q, mq_abr_qoe_kind kind, const mq_abr_video *v, mq_err *err);
/* q(level) in the score's units. */
double mq_abr_qoe_q(const mq_abr_qoe *q, int level);
/* The QoE of one chunk (see mq_abr_qoe). */
double mq_abr_qoe_chunk(const mq_abr_qoe *q, int level, int prev_level, double rebuf_s);

/* ---- simulator ---- */

/* Simulator options; mq_abr_opts_init gives Pensieve's test simulator exactly. */
typedef struct mq_abr_opts {
    uint32_t struct_size;     /* sizeof, set by mq_abr_opts_init (marquee/core.h) */
    double payload_factor;    /* 0.95: share of trace throughput that carries chunk bytes */
    double rtt_ms;            /* 80: added to every chunk's download time */
    double buffer_cap_s;      /* 60: above it the player sleeps ... */
    double sleep_step_ms;     /* 500: ... in steps of this many ms */
    int start_level;          /* 1: level of chunk 0 (750 kbit/s) and R_{-1} of the QoE */
    double startup_threshold_s; /* 0: playback starts once the buffer holds this much video;
                                   0 = Pensieve (chunk 0's download time is the startup) */
    int random_start;         /* 0: trace pointer starts at sample 1; 1: uniform in [1, n) */
    double noise_lo, noise_hi;/* 1, 1: each chunk's download time (before the RTT) is
                                 multiplied by U(noise_lo, noise_hi) (Pensieve's training env
                                 uses 0.9, 1.1) */
    uint64_t seed;            /* seeds random start and noise; each trace gets its own stream
                                 derived from (seed, trace index), the same for every
                                 algorithm, so comparisons are paired */
} mq_abr_opts;

/* Sets o (size = sizeof *o as the caller was compiled) to the defaults in the comments above. */
void mq_abr_opts_init(mq_abr_opts *o, size_t size);
/* Checks option ranges; MQ_EINVAL naming the field. */
int mq_abr_opts_check(const mq_abr_opts *o, mq_err *err);

/* One downloaded chunk. */
typedef struct mq_abr_chunk {
    int level;
    double bitrate_kbps;
    double bytes;
    double delay_ms;     /* download time incl. RTT (and noise) */
    double sleep_ms;     /* sleep after it (buffer above the cap) */
    double rebuf_s;      /* stall caused by this chunk (0 before playback starts) */
    double buffer_s;     /* buffer after download and sleep */
    double qoe;          /* its QoE term */
} mq_abr_chunk;

/* One trace's session.  Figures over chunks 1..n_chunks-1 (chunk 0 and the startup delay are
 * excluded, as in the Pensieve reference), except startup_s. */
typedef struct mq_abr_session {
    double qoe;            /* total QoE over chunks 1..n_chunks-1 */
    double bitrate_kbps;   /* mean bitrate */
    double rebuf_s;        /* total stall time */
    double rebuf_ratio;    /* rebuf_s / (rebuf_s + played seconds of those chunks) */
    double startup_s;      /* chunk 0's download time (threshold 0) or time to reach the
                              startup threshold */
    int switches;          /* number of bitrate changes (chunk n vs n-1, n >= 1) */
    double switch_kbps;    /* mean |bitrate change| over the switches (0 if none) */
} mq_abr_session;

/* Number of registered algorithms, and the name / one-line summary of algorithm i. */
int mq_abr_algo_count(void);
const char *mq_abr_algo_name(int i);
const char *mq_abr_algo_summary(int i);
/* Index of the algorithm called name, or -1. */
int mq_abr_algo_find(const char *name);

/* Plays video v over traces[0..n_traces) in that order with algorithm `algo` (a name from the
 * registry) and fills sessions[n_traces]; chunks, when not NULL, receives n_traces * n_chunks
 * records (trace-major).  Algorithms that keep state across sessions (robustmpc, as published)
 * see the traces in the order given.  q is the score reported and the objective of
 * score-driven algorithms (MPC family, BOLA utilities stay ln R).  Deterministic for given
 * inputs and seed.  Fails with MQ_ENOTFOUND for an unknown algorithm, MQ_EINVAL for bad
 * options, MQ_ERANGE when a trace is too slow to deliver a chunk within a day (instead of
 * looping), MQ_ENOMEM; sessions are then partly filled. */
int mq_abr_run(const mq_abr_trace *traces, int n_traces, const mq_abr_video *v, const char *algo,
               const mq_abr_opts *o, const mq_abr_qoe *q, mq_abr_session *sessions,
               mq_abr_chunk *chunks, mq_err *err);

/* ---- summaries ---- */

/* Mean with a two-sided 95% Student-t confidence interval across n values. */
typedef struct mq_abr_stat {
    double mean, lo, hi;
} mq_abr_stat;

typedef struct mq_abr_summary {
    int n_traces;
    mq_abr_stat qoe, bitrate_kbps, rebuf_s, rebuf_ratio, startup_s, switches, switch_kbps;
} mq_abr_summary;

/* Summarizes n >= 1 sessions (CI half-width 0 when n == 1). */
void mq_abr_summarize(const mq_abr_session *s, int n, mq_abr_summary *out);
/* Mean and 95% t interval of x[0..n). */
mq_abr_stat mq_abr_stat_of(const double *x, int n);
/* The 0.975 quantile of Student's t with df degrees of freedom (df >= 1). */
double mq_abr_t975(int df);

/* ---- reports ---- */

/* One algorithm's results over n_traces traces, as mq_abr_run returned them. */
typedef struct mq_abr_result {
    const char *algo;
    const mq_abr_session *sessions;   /* [n_traces] */
    const mq_abr_chunk *chunks;       /* [n_traces * n_chunks], or NULL */
} mq_abr_result;

/* The JSON report (a malloc'd NUL-terminated string the caller frees, or NULL on out of
 * memory): {"qoe": "lin", "n_traces": N, "algorithms": [{"algo": "bb", "mean_qoe": x,
 * "qoe_ci95": [lo, hi], "mean_bitrate_kbps": x, "bitrate_kbps_ci95": [..], "mean_rebuffer_s": x,
 * "rebuffer_s_ci95": [..], "rebuffer_ratio": x, "rebuffer_ratio_ci95": [..], "mean_startup_s": x,
 * "startup_s_ci95": [..], "mean_switches": x, "switches_ci95": [..], "mean_switch_kbps": x,
 * "switch_kbps_ci95": [..], "traces": [{"trace": "norway_bus_1", "qoe": x, "bitrate_kbps": x,
 * "rebuffer_s": x, "rebuffer_ratio": x, "startup_s": x, "switches": n, "switch_kbps": x}]}]}. */
char *mq_abr_report_json(const mq_abr_qoe *q, const mq_abr_trace *traces, int n_traces,
                         const mq_abr_result *res, int n_res);
/* Writes (atomically) one CSV row per (trace, algorithm): header
 * `<unit_col>,<variant_col>,qoe,bitrate_kbps,rebuffer_s,rebuffer_ratio,startup_s,switches,
 * switch_kbps`, unit = trace name, variant = algorithm (NULL names: "unit", "variant", the
 * layout `marquee xp analyze` reads). */
int mq_abr_write_sessions_csv(const char *path, const mq_abr_trace *traces, int n_traces,
                              const mq_abr_result *res, int n_res, const char *unit_col,
                              const char *variant_col, mq_err *err);
/* Writes (atomically) one CSV row per (trace, algorithm, chunk): trace,algo,chunk,level,
 * bitrate_kbps,bytes,delay_ms,sleep_ms,rebuffer_s,buffer_s,qoe.  Every res[i].chunks must be
 * set. */
int mq_abr_write_chunks_csv(const char *path, const mq_abr_trace *traces, int n_traces,
                            int n_chunks, const mq_abr_result *res, int n_res, mq_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
