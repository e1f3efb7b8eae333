/* models_score_top.c: the serving scorer of a factor model against exact scoring.
 *
 * For members sampled from a dataset, times per member (one thread, as a server thread):
 *   - mq_model_score: fold-in plus every title's exact dot product (20,000 x 64 MACs on the
 *     synthetic serving catalog: 5.1 MB of float factors streamed per member);
 *   - mq_model_score_top with the homepage's budget (a 20 x 40 page ranks its best 1,000 titles
 *     once history is banned): int8 factors (1.3 MB, cache-resident) for every title, exact
 *     dot products only where a title could reach the best `top`;
 *   - the fold-in alone (mq_model_score_top with top = 1 still folds in and scans once).
 * and counts how many titles were scored exactly. Checks the two agree on the best `top`.
 *
 * Usage: build/bench_models_score_top MODEL.mqm DATA.mqd [members=2000] [top=1000]
 * e.g. after `bash bench/serve_http.sh synth`:
 *   build/bench_models_score_top out/bench/synth-models/main.mqm out/bench/synth.mqd
 */
#include "marquee.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.mqm DATA.mqd [members] [top]\n", argv[0]);
        return 2;
    }
    int n_mem = argc > 3 ? atoi(argv[3]) : 2000, top = argc > 4 ? atoi(argv[4]) : 1000;
    mq_err err;
    mq_model *m;
    mq_dataset *d;
    if (mq_model_load(argv[1], &m, &err) || mq_snapshot_load(argv[2], &d, &err)) {
        fprintf(stderr, "models_score_top: %s\n", err.msg);
        return 1;
    }
    int32_t n = mq_model_n_titles(m);
    float *ex = malloc((size_t)n * sizeof *ex), *tp = malloc((size_t)n * sizeof *tp);

    float *srt = malloc((size_t)n * sizeof *srt);
    /* the sampled members' histories, in model title indices */
    int32_t *hptr = calloc((size_t)n_mem + 1, sizeof *hptr);
    int32_t *hidx = NULL;
    int64_t cap = 0;
    mq_rng rng;
    mq_rng_seed(&rng, 11);
    int used = 0;
    for (int i = 0; i < n_mem; i++) {
        int32_t u = (int32_t)(mq_rng_next(&rng) % (uint64_t)d->n_members);
        int64_t need = hptr[used] + (d->m_ptr[u + 1] - d->m_ptr[u]);
        if (need > cap) { cap = 2 * need + 1024; hidx = realloc(hidx, (size_t)cap * sizeof *hidx); }
        int nh = 0;
        for (int64_t j = d->m_ptr[u]; j < d->m_ptr[u + 1]; j++) {
            int32_t t = mq_model_title_index(m, mq_idmap_name(d->title_ids, d->m_idx[j]));
            if (t >= 0) hidx[hptr[used] + nh++] = t;
        }
        if (nh) { hptr[used + 1] = hptr[used] + nh; used++; }
    }
    /* timed: each path alone over all members (as one server thread would run it) */
    double t0 = mq_now();
    for (int i = 0; i < used && !err.code; i++) mq_model_score(m, NULL, NULL, 0, ex, &err);
    double t_fold0 = mq_now() - t0;   /* an empty history: no fold-in work, the dots alone */
    t0 = mq_now();
    for (int i = 0; i < used && !err.code; i++) mq_model_score(m, hidx + hptr[i], NULL, hptr[i + 1] - hptr[i], ex, &err);
    double t_exact = mq_now() - t0;
    t0 = mq_now();
    for (int i = 0; i < used && !err.code; i++)
        mq_model_score_top(m, hidx + hptr[i], NULL, hptr[i + 1] - hptr[i], top + hptr[i + 1] - hptr[i], tp, NULL, &err);
    double t_top = mq_now() - t0;
    /* checked: the best top + history exact values are there, bit for bit */
    long n_exact = 0, mismatches = 0;
    for (int i = 0; i < used && !err.code; i++) {
        int nh = hptr[i + 1] - hptr[i];
        if (mq_model_score(m, hidx + hptr[i], NULL, nh, ex, &err) ||
            mq_model_score_top(m, hidx + hptr[i], NULL, nh, top + nh, tp, NULL, &err)) break;
        memcpy(srt, ex, (size_t)n * sizeof *srt);
        qsort(srt, (size_t)n, sizeof *srt, desc);
        float thr = srt[(top + nh < n ? top + nh : n) - 1];
        for (int32_t t = 0; t < n; t++) {
            n_exact += tp[t] == ex[t];
            mismatches += ex[t] >= thr && tp[t] != ex[t];
        }
    }
    if (err.code) { fprintf(stderr, "models_score_top: %s\n", err.msg); return 1; }
    printf("models_score_top: %s, %d titles, %d members, top %d (+ history)\n", mq_model_kind(m), n, used, top);
    printf("  mq_model_score (exact, every title)   %8.3f ms/member  1.00x\n", 1e3 * t_exact / used);
    printf("  mq_model_score_top                    %8.3f ms/member  %.2fx faster\n", 1e3 * t_top / used, t_exact / t_top);
    printf("  (every title's exact dot, no history: %8.3f ms/member)\n", 1e3 * t_fold0 / used);
    printf("  titles scored exactly: %.0f a member (%.1f%%); best-%d mismatches: %ld\n",
           (double)n_exact / used, 100.0 * (double)n_exact / ((double)used * n), top, mismatches);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
    free(ex); free(tp); free(srt); free(hptr); free(hidx);
    return mismatches != 0;
}
