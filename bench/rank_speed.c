/* rank_speed.c: the ranker's feature building rate against a plain pass over the same
 * memory, and its boosters' training time (measured here; python3-xgboost on the same feature
 * file is timed by bench/rank_speed.sh in the same run).
 *
 * usage: bench_rank_speed DATA FEATURES.csv
 * DATA: any file `marquee eval` reads with timestamps (default use: ml-100k u.data). Positives
 * (ratings >= 4, >= 5 per member), temporal split (90% time quantile), a ranker trained on the
 * training part with one thread. Then, for the test members, three timed passes (best of 3):
 *   features: mq__rank_member_features (fold-in of every generator, top-N selection, union,
 *             the feature rows) for each member;
 *   scoring:  only the generators' fold-in scoring (mq_model_score), the dominant part;
 *   plain:    one pass over the same memory per member: read the G score vectors
 *             (G × n_titles floats) and write n_cand × n_features floats;
 * and writes the feature file (mq_rank_evaluate) for the training comparison, then times the
 * two boosters' training on its rows with the ranker's chosen rounds, one thread, as
 * tests/ref/rank_ref.py trains them. */
#include "rank/rank.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double best3(double a, double b, double c) { return MQ_MIN(a, MQ_MIN(b, c)); }

/* CPU seconds of the process (the machine is shared: wall time measures the neighbours). */
static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *data = argc > 1 ? argv[1] : "../shared/data/ml-100k/u.data";
    const char *feat = argc > 2 ? argv[2] : "/tmp/rank_features.csv";
    mq_err err = {0};
    mq_dataset *raw = NULL, *pos = NULL;
    if (mq_data_open(data, NULL, &raw, &err) || mq_data_positives(raw, 4, 5, &pos, &err)) {
        fprintf(stderr, "bench_rank_speed: %s\n", err.msg);
        return 1;
    }
    mq_split sp;
    mq_split_opts so; mq_split_opts_init(&so, sizeof so);
    so.protocol = MQ_SPLIT_TEMPORAL; so.seed = 1;
    if (mq_split_make(pos, &so, &sp, &err)) {
        fprintf(stderr, "bench_rank_speed: %s\n", err.msg);
        return 1;
    }
    /* A short training (3 windows, at most 60 rounds) keeps the benchmark under a minute. */
    static const char *const tpar[] = {"windows=3", "rounds=60", "early_stop=0"};
    mq_train_opts to; mq_train_opts_init(&to, sizeof to);
    to.params = tpar; to.n_params = 3; to.n_threads = 1; to.seed = 1;
    mq_model *m = NULL;
    double t0 = mq_now();
    if (mq_model_train("ranker", sp.train, &to, &m, &err)) {
        fprintf(stderr, "bench_rank_speed: %s\n", err.msg);
        return 1;
    }
    double fit = mq_now() - t0;
    const mq__rank_state *st = m->state;
    const mq__rank_snap *s = &st->snap;
    int nf = st->nf, mc = mq__rank_max_cand(s), G = s->n_gen;
    int32_t nt = m->n_titles;
    mq__rank_scratch w;
    mq__rank_scratch_init(&w, s, &err);
    int32_t *cand = malloc((size_t)mc * 4);
    float *x = malloc((size_t)mc * nf * 4), *sc = malloc((size_t)G * nt * 4);
    int *ncand = calloc((size_t)sp.test.n, sizeof *ncand);
    const mq_heldout *h = &sp.test;
    double tf[3], tg[3], tp[3];
    int64_t rows = 0;
    volatile float sink = 0;
    for (int rep = 0; rep < 3; rep++) {
        rows = 0;
        t0 = cpu();
        for (int32_t i = 0; i < h->n; i++) {
            int c = mq__rank_member_features(s, h->in_idx + h->in_ptr[i], NULL,
                                             (int)(h->in_ptr[i + 1] - h->in_ptr[i]), -1, &w, cand,
                                             x, &err);
            ncand[i] = c;
            rows += c;
        }
        tf[rep] = cpu() - t0;
        t0 = cpu();
        for (int32_t i = 0; i < h->n; i++)
            for (int g = 0; g < G; g++)
                mq_model_score(s->gen[g], h->in_idx + h->in_ptr[i],
                               NULL, (int)(h->in_ptr[i + 1] - h->in_ptr[i]), sc + (size_t)g * nt,
                               &err);
        tg[rep] = cpu() - t0;
        t0 = cpu();
        for (int32_t i = 0; i < h->n; i++) {
            float acc = 0;
            for (size_t k = 0; k < (size_t)G * nt; k++) acc += sc[k];
            for (size_t k = 0; k < (size_t)ncand[i] * nf; k++) x[k] = acc;
            sink += x[0];
        }
        tp[rep] = cpu() - t0;
    }
    double bf = best3(tf[0], tf[1], tf[2]), bg = best3(tg[0], tg[1], tg[2]),
           bp = best3(tp[0], tp[1], tp[2]);
    printf("data %s: %d test members, %lld candidates, %d features, %d generators, %d titles\n",
           data, h->n, (long long)rows, nf, G, nt);
    printf("ranker fit (1 thread, 3 windows, wall): %.2f s\n", fit);
    printf("features: %.4f s = %.0f candidates/s (%.1f us/member)\n", bf, rows / bf,
           1e6 * bf / h->n);
    printf("generator fold-in scoring alone: %.4f s (%.0f%% of features)\n", bg, 100 * bg / bf);
    printf("plain pass over the same memory: %.4f s = %.0f candidates/s; features / plain = "
           "%.1fx\n", bp, rows / bp, bf / bp);
    /* Feature file, then the boosters' training on its rows. */
    mq_eval_opts eo;
    mq_eval_opts_init(&eo, sizeof eo);
    eo.n_threads = 1;
    mq_rank_eval_opts ro; mq_rank_eval_opts_init(&ro, sizeof ro);
    ro.features_csv = feat;
    if (mq_rank_evaluate(m, sp.train, &sp.test, &eo, &ro, NULL, NULL, &err)) {
        fprintf(stderr, "bench_rank_speed: %s\n", err.msg);
        return 1;
    }
    int64_t n;
    float *X, *L;
    int32_t *S;
    if (mq_rank_features_read(m, feat, &n, &X, &L, &S, &err)) {
        fprintf(stderr, "bench_rank_speed: %s\n", err.msg);
        return 1;
    }
    /* Rows of sets 0 and 1 come first, grouped; rebuild the groups from the file order. */
    FILE *f = fopen(feat, "r");
    char line[1 << 16];
    int32_t *grp = malloc((size_t)n * 4);
    int64_t k = 0;
    fgets(line, sizeof line, f);
    fgets(line, sizeof line, f);
    while (k < n && fgets(line, sizeof line, f)) grp[k++] = atoi(strchr(line, ',') + 1);
    fclose(f);
    int64_t n01 = 0, n0 = 0;
    for (int64_t i = 0; i < n; i++) {
        n01 += S[i] <= 1;
        n0 += S[i] == 0;
    }
    uint32_t *gs = calloc((size_t)n, sizeof *gs);
    int32_t ng = 0, ng0 = 0;
    for (int64_t i = 0; i < n01; i++) {
        if (i == 0 || grp[i] != grp[i - 1]) {
            ng++;
            if (S[i] == 0) ng0++;
        }
        gs[ng - 1]++;
    }
    float *yb = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) yb[i] = L[i] > 0;
    mq__xgb_data dr = {X, L, n01, nf, gs, ng}, dp = {X, yb, n0, nf, NULL, 0};
    mq__xgb_cfg cr = {st->objective, "ndcg@20", true, st->depth, st->eta, st->min_child_weight,
                      st->lambda, st->rank_rounds, 0, 1, st->seed, st->monotone, 0};
    mq__xgb_cfg cp = {"binary:logistic", "logloss", false, st->prob_depth, st->prob_eta,
                      st->min_child_weight, st->lambda, st->prob_rounds, 0, 1, st->seed,
                      st->monotone, 0};
    double trr[3], trp[3];
    for (int rep = 0; rep < 3; rep++) {
        uint8_t *b;
        size_t l;
        int r;
        double v;
        t0 = cpu();
        mq__xgb_train(&cr, &dr, NULL, &b, &l, &r, &v, &err);
        trr[rep] = cpu() - t0;
        free(b);
        t0 = cpu();
        mq__xgb_train(&cp, &dp, NULL, &b, &l, &r, &v, &err);
        trp[rep] = cpu() - t0;
        free(b);
    }
    printf("C API training (1 thread, best of 3): %s %d rounds on %lld rows %.3f s; "
           "binary:logistic %d rounds on %lld rows %.3f s\n", st->objective, st->rank_rounds, (long long)n01,
           best3(trr[0], trr[1], trr[2]), st->prob_rounds, (long long)n0,
           best3(trp[0], trp[1], trp[2]));
    (void)sink;
    return 0;
}
