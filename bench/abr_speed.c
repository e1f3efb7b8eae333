/* abr_speed.c (build/bench_abr_speed): speed of the ABR simulator and of robustMPC's search.
 *
 * usage: bench_abr_speed TRACES_DIR VIDEO_DIR [REPEATS]
 * 1. Wall time to play every trace with every registered algorithm (best of REPEATS), and
 *    with only the non-MPC ones.
 * 2. robustMPC decisions per second: the decision inputs (buffer, last level, forecast, chunk
 *    indices) of a robustmpc run are recorded, then replayed through the pruned exact search
 *    and through plain enumeration of all 6^5 sequences (Pensieve's mpc.py loop, the
 *    baseline); both must return the same levels.  The floor of the enumeration is counted:
 *    h * 6^h sequence steps per decision (38,880 for h = 5), each ~12 flops. */
#include "abr/abr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct decision {
    int idx[5], h, last;
    double buffer, bw;
} decision;

typedef struct rec {
    decision *d;
    int n, cap;
    double errs[5];
    int n_errs, have;
    double last_est;
} rec;

/* robustMPC exactly as src/abr/abr_mpc.c's published variant (history across traces, sizes one
 * chunk ahead), recording each decision into the recorder passed as the run's params. */
static int rec_choose(void *st, const mq__abr_env *env, const mq__abr_obs *o)
{
    rec *r = (rec *)env->params;
    const mq_abr_video *v = env->video;
    double cur = o->tput[o->chunk];
    r->errs[r->n_errs % 5] = r->have ? fabs(r->last_est - cur) / cur : 0;
    r->n_errs++;
    int n = o->chunk + 1 < 5 ? o->chunk + 1 : 5;
    double hm = mq__abr_harmonic(o->tput + o->chunk + 1 - n, n);
    int ne = r->n_errs < 5 ? r->n_errs : 5;
    double mx = 0;
    for (int i = 0; i < ne; i++) mx = r->errs[i] > mx ? r->errs[i] : mx;
    double bw = hm / (1 + mx);
    r->last_est = hm;
    r->have = 1;
    int h = v->n_chunks - o->next < 5 ? v->n_chunks - o->next : 5;
    if (h <= 0) return 0;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 1024;
        r->d = realloc(r->d, (size_t)r->cap * sizeof *r->d);
        if (!r->d) exit(1);
    }
    decision *d = &r->d[r->n++];
    for (int k = 0; k < h; k++) d->idx[k] = o->next + k + 1;
    d->h = h;
    d->last = o->level;
    d->buffer = o->buffer_s;
    d->bw = bw;
    return mq__abr_mpc_search(v, env->qoe, d->idx, h, o->buffer_s, o->level, bw, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TRACES_DIR VIDEO_DIR [REPEATS]\n", argv[0]);
        return 2;
    }
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (reps < 1) reps = 1;
    mq_err err = {0};
    mq_abr_trace *t;
    int n;
    mq_abr_video v;
    if (mq_abr_traces_load_dir(argv[1], &t, &n, &err) || mq_abr_video_load(&v, argv[2], NULL, 0, 0, 0, &err)) {
        fprintf(stderr, "bench_abr_speed: %s\n", err.msg);
        return 1;
    }
    mq_abr_qoe q;
    mq_abr_qoe_init(&q, MQ_ABR_QOE_LIN, &v, &err);
    mq_abr_opts o;
    mq_abr_opts_init(&o, sizeof o);
    mq_abr_session *s = calloc((size_t)n, sizeof *s);
    if (!s) return 1;

    /* 1. all traces x algorithms */
    const char *simple[] = {"bb", "rb", "bola", "dynamic"};
    double best_all = 1e9, best_simple = 1e9;
    for (int r = 0; r < reps; r++) {
        double t0 = mq_now();
        for (int a = 0; a < mq_abr_algo_count(); a++)
            if (mq_abr_run(t, n, &v, mq_abr_algo_name(a), &o, &q, s, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        double t1 = mq_now();
        for (int a = 0; a < 4; a++) mq_abr_run(t, n, &v, simple[a], &o, &q, s, NULL, &err);
        double t2 = mq_now();
        if (t1 - t0 < best_all) best_all = t1 - t0;
        if (t2 - t1 < best_simple) best_simple = t2 - t1;
    }
    printf("traces %d, chunks %d, algorithms %d\n", n, v.n_chunks, mq_abr_algo_count());
    printf("all algorithms x all traces: %.4f s (best of %d); bb,rb,bola,dynamic only: %.5f s "
           "(%.0f ns per chunk)\n", best_all, reps, best_simple, best_simple / (4.0 * n * v.n_chunks) * 1e9);

    /* 2. robustMPC decisions */
    rec r = {0};
    mq__abr_algo recalgo = {"rec", "", 1, NULL, NULL, rec_choose};
    if (mq__abr_run_algo(t, n, &v, &recalgo, &r, &o, &q, s, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    int *lv = malloc((size_t)r.n * sizeof *lv);
    long long ev_pruned = 0, ev_naive = 0, floor_steps = 0;
    double tp = 1e9, tn = 1e9;
    for (int k = 0; k < r.n; k++) {
        int hh = 1;
        for (int j = 0; j < r.d[k].h; j++) hh *= v.n_levels;
        floor_steps += (long long)hh * r.d[k].h;
    }
    for (int rep = 0; rep < reps; rep++) {
        ev_pruned = 0;
        double t0 = mq_now();
        for (int k = 0; k < r.n; k++) {
            decision *d = &r.d[k];
            lv[k] = mq__abr_mpc_search(&v, &q, d->idx, d->h, d->buffer, d->last, d->bw, &ev_pruned);
        }
        double t1 = mq_now();
        if (t1 - t0 < tp) tp = t1 - t0;
    }
    int naive_reps = reps < 2 ? reps : 2, mismatches = 0;
    for (int rep = 0; rep < naive_reps; rep++) {
        ev_naive = 0;
        double t0 = mq_now();
        for (int k = 0; k < r.n; k++) {
            decision *d = &r.d[k];
            int l = mq__abr_mpc_search_naive(&v, &q, d->idx, d->h, d->buffer, d->last, d->bw, 0, 0, &ev_naive);
            mismatches += l != lv[k];
        }
        double t1 = mq_now();
        if (t1 - t0 < tn) tn = t1 - t0;
    }
    printf("robustMPC decisions: %d (h <= 5), enumeration floor %.0f steps/decision\n", r.n,
           (double)floor_steps / r.n);
    printf("  naive 6^5 enumeration: %.0f decisions/s (%.2f us each, %.2f ns per sequence step)\n",
           r.n / tn, tn / r.n * 1e6, tn / (double)floor_steps * 1e9);
    printf("  pruned exact search:   %.0f decisions/s (%.2f us each), %.0f prefix steps/decision "
           "(%.1f%% of the floor)\n", r.n / tp, tp / r.n * 1e6, (double)ev_pruned / r.n,
           100.0 * ev_pruned / floor_steps);
    printf("  speedup %.1fx, identical decisions: %s\n", tn / tp, mismatches ? "NO" : "yes");
    free(lv);
    free(r.d);
    free(s);
    mq_abr_traces_free(t, n);
    mq_abr_video_release(&v);
    return mismatches ? 1 : 0;
}
