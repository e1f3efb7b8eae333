/* abr_reservempc.c: "reservempc", Marquee's own controller (no learning): robust MPC that also
 * prices the buffer it leaves behind.
 *
 * Plain MPC optimizes 5 chunks and treats the buffer left at the end of the horizon as free, so
 * on traces with outages it drains the buffer right before the stall it cannot see.  reservempc
 * keeps the exhaustive 5-chunk search of robustMPC (forecast = harmonic mean of the last W chunk
 * throughputs / (1 + a * max of the last 5 relative forecast errors), per-session history, the
 * right chunk sizes) and subtracts a terminal cost
 *     kappa * max(0, B_ref - B_end)
 * from every sequence: each second of buffer below B_ref at the horizon's end costs kappa QoE
 * units, a linear stand-in for the rebuffering (mu per second) that a thin buffer risks later.
 * Near the end of the video the reserve is pointless, so B_ref shrinks to the video that is
 * left after the horizon.  Parameters (tuned on the mixed set, checked on the test set; see
 * docs/abr.md): see `defaults` below.  State: the error ring, per session. */
#include "abr/abr.h"

#include <math.h>
#include <string.h>

#define HORIZON 5
#define ERR_WINDOW 5

typedef struct rparams {
    int window;        /* chunks in the harmonic mean */
    double err_gain;   /* a: discount 1 + a * max recent error */
    double kappa;      /* terminal cost per second of missing buffer (QoE units) */
    double b_ref;      /* reserve target (s) */
} rparams;

static const rparams defaults = {5, 1.0, 1.0, 16.0};

typedef struct rst {
    rparams p;
    double errs[ERR_WINDOW];
    int n_errs;
    double last_est;
    int have_est;
} rst;

static void r_run_start(void *st, const mq__abr_env *env)
{
    rst *r = st;
    memset(r, 0, sizeof *r);
    r->p = env->params ? *(const rparams *)env->params : defaults;
}

static void r_session(void *st, const mq__abr_env *env)
{
    rst *r = st;
    r->n_errs = 0;
    r->have_est = 0;
}

static int r_choose(void *st, const mq__abr_env *env, const mq__abr_obs *o)
{
    rst *r = st;
    const mq_abr_video *v = env->video;
    double cur = o->tput[o->chunk];
    r->errs[r->n_errs % ERR_WINDOW] = r->have_est ? fabs(r->last_est - cur) / cur : 0;
    r->n_errs++;
    int w = o->chunk + 1 < r->p.window ? o->chunk + 1 : r->p.window;
    double hm = mq__abr_harmonic(o->tput + o->chunk + 1 - w, w);
    int ne = r->n_errs < ERR_WINDOW ? r->n_errs : ERR_WINDOW;
    double mx = 0;
    for (int i = 0; i < ne; i++) mx = r->errs[i] > mx ? r->errs[i] : mx;
    double bw = hm / (1 + r->p.err_gain * mx);
    r->last_est = hm;
    r->have_est = 1;
    int h = v->n_chunks - o->next < HORIZON ? v->n_chunks - o->next : HORIZON;
    if (h <= 0) return 0;
    int idx[HORIZON];
    for (int k = 0; k < h; k++) idx[k] = o->next + k;
    double left = (v->n_chunks - o->next - h) * v->chunk_s; /* video after the horizon */
    double bref = r->p.b_ref < left ? r->p.b_ref : left;
    return mq__abr_mpc_search_ex(v, env->qoe, idx, h, o->buffer_s, o->level, bw, r->p.kappa,
                                 bref, NULL);
}

const mq__abr_algo mq__abr_algo_reservempc = {
    "reservempc", "Marquee's own: robust MPC + a terminal cost on buffer below a reserve",
    sizeof(rst), r_run_start, r_session, r_choose,
};
