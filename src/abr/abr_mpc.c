/* abr_mpc.c: model-predictive control (Yin, Jindal, Sekar, Sinopoli, "A Control-Theoretic
 * Approach for Dynamic Adaptive Video Streaming over HTTP", SIGCOMM 2015) in three variants:
 *   mpc              : throughput forecast = harmonic mean of the session's last 5 chunks;
 *   robustmpc        : Pensieve's test/mpc.py exactly: forecast = harmonic mean / (1 + max of
 *                      the last 5 relative forecast errors), the error history (and the last
 *                      forecast) kept across videos, i.e. across traces in the order played,
 *                      and chunk sizes looked up one chunk ahead (index next + k + 1: the
 *                      published off-by-one, sizes past the table count as 0 bytes);
 *   robustmpc-fixed  : the same forecast with a per-session error history and the right sizes.
 * Each decision maximizes, over all L^h level sequences for the next h = min(5, remaining)
 * chunks, the QoE  sum q(R_k) - mu sum T_k - sum |q(R_k) - q(R_{k-1})|  where the buffer
 * evolves as b <- max(b - d_k, 0) + chunk, T_k = max(d_k - b, 0), d_k = size_k / 1e6 / bw.
 * Ties go to the lexicographically last sequence (mpc.py's `reward >= max_reward`).
 *
 * Search: the objective of a sequence only depends on its prefix state (buffer, rebuffer,
 * bitrate sum, smoothness sum), so a depth-first walk shares every prefix (L + L^2 + ... + L^h
 * steps instead of h L^h) and visits levels from high to low, keeping the FIRST strict maximum
 * (= the lexicographically last optimum).  A prefix is cut when even the best conceivable
 * suffix (top level each step, no further rebuffer or switching cost) cannot beat the best
 * found: every operation in the objective is monotone under IEEE rounding, so the bound is
 * rigorous in floating point and the result equals plain enumeration bit for bit (checked in
 * tests/abr/test_abr.c against mq__abr_mpc_search_naive).  State: see the structs below. */
#include "abr/abr.h"

#include <math.h>
#include <string.h>

#define HORIZON 5
#define WINDOW 5

typedef struct search {
    const mq_abr_qoe *q;
    int L, h;
    double chunk_s, bw;
    double dl[HORIZON][MQ_ABR_MAX_LEVELS]; /* download seconds of step k at level m */
    double umax;
    double best;
    double incumbent; /* value of a known sequence: a lower bound on the optimum */
    double term_k, term_b; /* terminal cost term_k * max(0, term_b - final buffer), 0 = none */
    int best_first;
    long long evals;
} search;

/* Objective of a whole sequence seq[0..h) evaluated exactly as the search does. */
static double seq_value(const search *s, int last, double buf, const int *seq)
{
    const double *u = s->q->units;
    double reb = 0, bsum = 0, ssum = 0;
    for (int k = 0; k < s->h; k++) {
        double d = s->dl[k][seq[k]];
        if (buf < d) { reb += d - buf; buf = 0; }
        else buf -= d;
        buf += s->chunk_s;
        bsum += u[seq[k]];
        ssum += fabs(u[seq[k]] - u[last]);
        last = seq[k];
    }
    double reward = bsum / s->q->scale - s->q->mu * reb - ssum / s->q->scale;
    if (s->term_k != 0 && buf < s->term_b) reward -= s->term_k * (s->term_b - buf);
    return reward;
}

static void dfs(search *s, int k, int last, double buf, double reb, double bsum, double ssum,
                int first)
{
    const double *u = s->q->units;
    const int rem = s->h - 1 - k;
    for (int m = s->L - 1; m >= 0; m--) {
        double d = s->dl[k][m], b = buf, r = reb;
        if (b < d) { r += d - b; b = 0; }
        else b -= d;
        b += s->chunk_s;
        double bs = bsum + u[m], ss = ssum + fabs(u[m] - u[last]);
        int f = k == 0 ? m : first;
        s->evals++;
        if (rem == 0) {
            double reward = bs / s->q->scale - s->q->mu * r - ss / s->q->scale;
            if (s->term_k != 0 && b < s->term_b) reward -= s->term_k * (s->term_b - b);
            if (reward > s->best) { s->best = reward; s->best_first = f; }
        } else {
            /* Best conceivable suffix: rem chunks at the top level, reached with one switch
             * from u[m] (sum x - sum |dx| <= rem * umax - (umax - u[m]) for any suffix), no
             * further stall, no terminal cost; plus a slack of 1e-9 relative, far above the
             * rounding of the few operations involved, so the bound is rigorous in floating
             * point. */
            double up = rem * s->umax - (s->umax - u[m]);
            double bound = (bs - ss + up) / s->q->scale - s->q->mu * r;
            bound += 1e-9 * (fabs(bs) + fabs(ss) + fabs(up)) / s->q->scale + 1e-12;
            /* Cut when no suffix can beat the best sequence seen (ties would not replace it:
             * it comes earlier in reverse-lexicographic order) or strictly lose to the
             * incumbent (a real sequence, so nothing below it is optimal). */
            if (bound > s->best && bound >= s->incumbent) dfs(s, k + 1, m, b, r, bs, ss, f);
        }
    }
}

static void fill_dl(search *s, const mq_abr_video *v, const int *idx)
{
    for (int k = 0; k < s->h; k++)
        for (int m = 0; m < s->L; m++)
            s->dl[k][m] = (mq__abr_size(v, m, idx[k]) / 1000000.) / s->bw;
}

int mq__abr_mpc_search(const mq_abr_video *v, const mq_abr_qoe *q, const int *idx, int h,
                       double buffer_s, int last, double bw_MBps, long long *evals)
{
    return mq__abr_mpc_search_ex(v, q, idx, h, buffer_s, last, bw_MBps, 0, 0, evals);
}

int mq__abr_mpc_search_ex(const mq_abr_video *v, const mq_abr_qoe *q, const int *idx, int h,
                          double buffer_s, int last, double bw_MBps, double term_k,
                          double term_b, long long *evals)
{
    if (h <= 0) return 0;
    search s;
    s.term_k = term_k;
    s.term_b = term_b;
    s.q = q;
    s.L = v->n_levels;
    s.h = h > HORIZON ? HORIZON : h;
    s.chunk_s = v->chunk_s;
    s.bw = bw_MBps;
    s.umax = q->units[s.L - 1];
    s.best = -INFINITY;
    s.best_first = 0;
    s.evals = 0;
    fill_dl(&s, v, idx);
    /* Incumbent: the best constant-level sequence (L * h steps). */
    s.incumbent = -INFINITY;
    for (int m = 0; m < s.L; m++) {
        int seq[HORIZON];
        for (int k = 0; k < s.h; k++) seq[k] = m;
        double x = seq_value(&s, last, buffer_s, seq);
        if (x > s.incumbent) s.incumbent = x;
    }
    s.evals += (long long)s.L * s.h;
    dfs(&s, 0, last, buffer_s, 0, 0, 0, 0);
    if (evals) *evals += s.evals;
    return s.best_first;
}

int mq__abr_mpc_search_naive(const mq_abr_video *v, const mq_abr_qoe *q, const int *idx, int h,
                             double buffer_s, int last, double bw_MBps, double term_k,
                             double term_b, long long *evals)
{
    if (h <= 0) return 0;
    search s;
    s.L = v->n_levels;
    s.h = h > HORIZON ? HORIZON : h;
    s.bw = bw_MBps;
    fill_dl(&s, v, idx);
    int n = 1, seq[HORIZON];
    for (int k = 0; k < s.h; k++) n *= s.L;
    double best = -100000000.0;
    int first = 0;
    for (int c = 0; c < n; c++) {
        for (int k = s.h - 1, x = c; k >= 0; k--, x /= s.L) seq[k] = x % s.L;
        double buf = buffer_s, reb = 0, bsum = 0, ssum = 0;
        int lq = last;
        for (int k = 0; k < s.h; k++) {
            double d = s.dl[k][seq[k]];
            if (buf < d) { reb += d - buf; buf = 0; }
            else buf -= d;
            buf += v->chunk_s;
            bsum += q->units[seq[k]];
            ssum += fabs(q->units[seq[k]] - q->units[lq]);
            lq = seq[k];
        }
        if (evals) *evals += s.h;
        double reward = bsum / q->scale - q->mu * reb - ssum / q->scale;
        if (term_k != 0 && buf < term_b) reward -= term_k * (term_b - buf);
        if (reward >= best) { best = reward; first = seq[0]; }
    }
    return first;
}

/* ---- the three controllers ---- */

typedef struct mpcst {
    int robust, keep_history, offbyone;
    double errs[WINDOW]; /* ring of the last relative forecast errors */
    int n_errs;          /* errors recorded (in this run or session) */
    double last_est;     /* last undiscounted forecast (MB/s) */
    int have_est;
} mpcst;

static void init_variant(mpcst *m, int robust, int keep, int off)
{
    memset(m, 0, sizeof *m);
    m->robust = robust;
    m->keep_history = keep;
    m->offbyone = off;
}

static void mpc_run_start(void *st, const mq__abr_env *e) { init_variant(st, 0, 0, 0); }
static void rmpc_run_start(void *st, const mq__abr_env *e) { init_variant(st, 1, 1, 1); }
static void rmpcf_run_start(void *st, const mq__abr_env *e) { init_variant(st, 1, 0, 0); }

static void mpc_session(void *st, const mq__abr_env *e)
{
    mpcst *m = st;
    if (!m->keep_history) {
        m->n_errs = 0;
        m->have_est = 0;
    }
}

static int mpc_choose(void *st, const mq__abr_env *env, const mq__abr_obs *o)
{
    mpcst *m = st;
    const mq_abr_video *v = env->video;
    double cur = o->tput[o->chunk];
    double err = m->have_est ? fabs(m->last_est - cur) / cur : 0;
    m->errs[m->n_errs % WINDOW] = err;
    m->n_errs++;
    int n = o->chunk + 1 < WINDOW ? o->chunk + 1 : WINDOW;
    double hm = mq__abr_harmonic(o->tput + o->chunk + 1 - n, n);
    double bw = hm;
    if (m->robust) {
        int ne = m->n_errs < WINDOW ? m->n_errs : WINDOW;
        double mx = 0;
        for (int i = 0; i < ne; i++) mx = m->errs[i] > mx ? m->errs[i] : mx;
        bw = hm / (1 + mx);
    }
    m->last_est = hm;
    m->have_est = 1;
    int h = v->n_chunks - o->next < HORIZON ? v->n_chunks - o->next : HORIZON;
    if (h <= 0) return 0;
    int idx[HORIZON];
    for (int k = 0; k < h; k++) idx[k] = o->next + k + (m->offbyone ? 1 : 0);
    return mq__abr_mpc_search(v, env->qoe, idx, h, o->buffer_s, o->level, bw, NULL);
}

const mq__abr_algo mq__abr_algo_mpc = {
    "mpc", "MPC (Yin et al.): 5-chunk exhaustive QoE search, harmonic-mean forecast",
    sizeof(mpcst), mpc_run_start, mpc_session, mpc_choose,
};
const mq__abr_algo mq__abr_algo_robustmpc = {
    "robustmpc", "robustMPC exactly as published with Pensieve (history across traces, size index +1)",
    sizeof(mpcst), rmpc_run_start, mpc_session, mpc_choose,
};
const mq__abr_algo mq__abr_algo_robustmpc_fixed = {
    "robustmpc-fixed", "robustMPC corrected: per-session error history, right chunk sizes",
    sizeof(mpcst), rmpcf_run_start, mpc_session, mpc_choose,
};
