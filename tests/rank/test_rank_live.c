/* test_rank_live.c: the ranker at request time (src/rank/rank_live.c): live features are the
 * training features (same function) with now, generators and trending made live; SHAP
 * contributions sum with the bias to the margin and equal python3-xgboost's pred_contribs on
 * the same rows (tests/ref/rank_contrib_ref.py); an artifact whose feature set differs from
 * this build's is refused on load.
 *
 * Data: mq_synth_write's events (Zipf popularity, chronological members over 2020). */
#include "../test.h"
#include "rank/rank.h"

#include <stdlib.h>
#include <string.h>

static mq_dataset *synth(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/events.csv", dir);
    mq_synth_opts so; mq_synth_opts_init(&so, sizeof so);
    so.n_members = 300; so.n_titles = 200; so.n_interactions = 9000; so.seed = 7;
    mq_err err = {0};
    if (mq_synth_write(&so, path, NULL, &err)) return NULL;
    mq_dataset *d = NULL;
    if (mq_data_open(path, NULL, &d, &err)) return NULL;
    return d;
}

/* The ranker of synth's data: trained by the first test of the run that needs it, saved in
 * the run's cache (atomically: a concurrent test at worst trains it twice) and loaded. */
static mq_model *train(const mq_dataset *d, mq_err *err)
{
    char path[600];
    snprintf(path, sizeof path, "%s/ranker.mqm", mq_test_cache_dir("rank-live"));
    mq_model *m = NULL;
    if (mq_model_load(path, &m, err) == 0) return m;
    static const char *const p[] = {"candidates=pop,trending,itemknn,ease", "top=40", "rounds=30",
                                    "early_stop=10", "label_frac=0.15", "windows=3"};
    mq_train_opts o; mq_train_opts_init(&o, sizeof o);
    o.params = p; o.n_params = 6; o.n_threads = 1; o.seed = 5;
    if (mq_model_train("ranker", d, &o, &m, err) != 0) return NULL;
    if (mq_model_save(m, path, err) != 0) {
        mq_model_destroy(m);
        return NULL;
    }
    return m;
}

/* Equal values, NaN equal to NaN (missing features). */
static bool same_values(const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!(a[i] == b[i] || (a[i] != a[i] && b[i] != b[i]))) return false;
    return true;
}

/* Member u's positives (all of them: the ranker's as_of is after the data) and times. */
static int member_hist(const mq_dataset *d, int32_t u, int32_t *h, int64_t *tm)
{
    int n = 0;
    for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) {
        h[n] = d->m_idx[e];
        tm[n++] = d->m_time[e];
    }
    return n;
}

MQ_TEST(rank_live_features_are_the_training_features)
{
    const char *dir = mq_test_tmpdir();
    mq_dataset *d = synth(dir);
    ASSERT(d);
    mq_err err = {0};
    mq_model *m = train(d, &err);
    ASSERT_OK(m ? 0 : err.code, &err);
    const mq__rank_state *st = m->state;
    int nf = mq_rank_n_features(m), mc = mq_rank_max_candidates(m), G = mq_rank_n_generators(m);
    ASSERT_INT_EQ(G, 4);
    ASSERT_STR_EQ(mq_rank_generator(m, 3), "ease");
    ASSERT(mq_rank_as_of(m) == st->snap.now);
    int32_t *h = malloc((size_t)d->n_titles * sizeof *h), *c1 = malloc((size_t)mc * 4), *c2 = malloc((size_t)mc * 4);
    int64_t *tm = malloc((size_t)d->n_titles * sizeof *tm);
    float *x1 = malloc((size_t)mc * nf * 4), *x2 = malloc((size_t)mc * nf * 4);
    mq__rank_scratch w;
    ASSERT_OK(mq__rank_scratch_init(&w, &st->snap, &err), &err);
    mq_rank_work *rw = NULL;
    ASSERT_OK(mq_rank_work_create(m, &rw, &err), &err);
    /* the live trending counters equal to the artifact's own (a scale of 3: any scale) */
    int32_t n = d->n_titles;
    float *tr = malloc((size_t)n * sizeof *tr);
    for (int32_t t = 0; t < n; t++) tr[t] = 3 * st->snap.stat[3 * (size_t)n + t];
    for (int32_t u = 0; u < 20; u++) {
        int nh = member_hist(d, u, h, tm);
        int k1 = mq__rank_member_features(&st->snap, h, tm, nh, -1, &w, c1, x1, &err);
        ASSERT(k1 > 0);
        /* no live inputs: exactly the training function's rows */
        int k2 = mq_rank_live_features(m, NULL, h, tm, nh, rw, c2, x2, &err);
        ASSERT_INT_EQ(k2, k1);
        ASSERT(memcmp(c1, c2, (size_t)k1 * 4) == 0);
        ASSERT(same_values(x1, x2, (int64_t)k1 * nf));
        /* live trending at another scale and now 10 days later: the trending features are the
         * same to float rounding, the day counts move by exactly 10 */
        const mq_model *gens[4] = {NULL, NULL, NULL, NULL};
        mq_rank_live lv; mq_rank_live_init(&lv, sizeof lv);
        lv.now = st->snap.now + 10 * 86400; lv.hour = -1; lv.generators = gens; lv.trending = tr;
        k2 = mq_rank_live_features(m, &lv, h, tm, nh, rw, c2, x2, &err);
        ASSERT_INT_EQ(k2, k1);
        for (int i = 0; i < k1; i++) {
            const float *a = x1 + (size_t)i * nf + 2 * G, *b = x2 + (size_t)i * nf + 2 * G;
            ASSERT_NEAR(b[F_TREND], a[F_TREND], 1e-6 * (1 + fabs(a[F_TREND])));
            ASSERT_NEAR(b[F_TREND_SH], a[F_TREND_SH], 1e-6 * (1 + fabs(a[F_TREND_SH])));
            if (a[F_FIRST] == a[F_FIRST]) ASSERT_NEAR(b[F_FIRST] - a[F_FIRST], 10, 1e-3);
            ASSERT_NEAR(b[F_LAST] - a[F_LAST], 10, 1e-3);
            ASSERT(b[F_POP] == a[F_POP] && b[F_POP7] == a[F_POP7]);
        }
    }
    /* a generator of another kind, or over other titles, cannot stand in */
    ASSERT(mq_rank_check_generator(m, 0, st->snap.gen[1], &err) == MQ_EINVAL);
    ASSERT(strstr(err.msg, "is 'pop', the model given is 'trending'") != NULL);
    ASSERT_OK(mq_rank_check_generator(m, 1, st->snap.gen[1], &err), &err);
    mq_rank_work_destroy(rw);
    mq__rank_scratch_release(&w);
    free(tr);
    free(h);
    free(tm);
    free(c1);
    free(c2);
    free(x1);
    free(x2);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
}

MQ_TEST(rank_live_contributions_sum_to_margin_and_match_python)
{
    const char *dir = mq_test_tmpdir();
    mq_dataset *d = synth(dir);
    ASSERT(d);
    mq_err err = {0};
    mq_model *m = train(d, &err);
    ASSERT_OK(m ? 0 : err.code, &err);
    int nf = mq_rank_n_features(m), mc = mq_rank_max_candidates(m);
    mq_rank_work *rw = NULL;
    ASSERT_OK(mq_rank_work_create(m, &rw, &err), &err);
    int32_t *h = malloc((size_t)d->n_titles * sizeof *h), *cand = malloc((size_t)mc * 4);
    int64_t *tm = malloc((size_t)d->n_titles * sizeof *tm);
    /* rows of 10 members, one matrix */
    int64_t cap = 10LL * mc, n = 0;
    float *x = malloc((size_t)cap * nf * 4);
    for (int32_t u = 0; u < 10; u++) {
        int nh = member_hist(d, u, h, tm);
        int k = mq_rank_live_features(m, NULL, h, tm, nh, rw, cand, x + n * nf, &err);
        ASSERT(k > 0);
        n += k;
    }
    float *ct = malloc((size_t)n * (nf + 1) * 4), *mg = malloc((size_t)n * 4);
    float *raw = malloc((size_t)n * 4), *cal = malloc((size_t)n * 4), *pl = malloc((size_t)n * 4);
    ASSERT_OK(mq_rank_contributions(m, x, n, ct, mg, &err), &err);
    ASSERT_OK(mq_rank_play_probability(m, x, n, raw, pl, cal, &err), &err);
    const mq__rank_state *st = m->state;
    int nonzero = 0;
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int f = 0; f <= nf; f++) s += ct[i * (nf + 1) + f];
        for (int f = 0; f < nf; f++) nonzero += ct[i * (nf + 1) + f] != 0;
        /* float32 sums of ~25 terms of size < 10: rounding ~1e-6 */
        ASSERT_NEAR(s, mg[i], 1e-5);
        /* the probability is the logistic of the margin; calibration is the isotonic map */
        ASSERT_NEAR(raw[i], 1 / (1 + exp(-(double)mg[i])), 1e-6);
        ASSERT_NEAR(cal[i], mq_isotonic_apply(&st->iso, raw[i]), 1e-7);
        /* Platt: 1 / (1 + exp(-(a z + b))), z the logit of the probability */
        double z = log((double)raw[i] / (1 - (double)raw[i]));
        ASSERT_NEAR(pl[i], 1 / (1 + exp(-(st->platt_a * z + st->platt_b))), 1e-6);
    }
    ASSERT(nonzero > n);          /* the trees use several features */
    /* the serving path's compiled trees against XGBoost's own predictor (DMatrix): equal to
     * float rounding (the same float operations in the same order: 0 expected) */
    ASSERT(mq__xgb_compiled(st->prob));
    float *px = malloc((size_t)n * 4);
    ASSERT_OK(mq_rank_predict_rows(m, x, n, NULL, px, &err), &err);
    double dmax = 0;
    for (int64_t i = 0; i < n; i++) dmax = fmax(dmax, fabs((double)px[i] - raw[i]));
    fprintf(stderr, "  compiled trees vs XGBoost: max |diff| %.3g over %lld rows\n", dmax, (long long)n);
    ASSERT(dmax <= 1e-6);
    free(px);
    /* python3-xgboost's pred_contribs on the same rows and booster: to 1e-5 */
    char p[512];
    snprintf(p, sizeof p, "%s/prob.ubj", dir);
    int64_t blen;
    const uint8_t *bytes = mq__model_get(m, "booster_prob", MQ__A_U8, &blen, &err);
    ASSERT(bytes);
    FILE *f = fopen(p, "wb");
    ASSERT(f && fwrite(bytes, 1, (size_t)blen, f) == (size_t)blen);
    fclose(f);
    snprintf(p, sizeof p, "%s/rows.csv", dir);
    f = fopen(p, "w");
    ASSERT(f);
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < nf; j++) fprintf(f, "%s%.9g", j ? "," : "", x[i * nf + j]);
        for (int j = 0; j <= nf; j++) fprintf(f, ",%.9g", ct[i * (nf + 1) + j]);
        fprintf(f, ",%.9g\n", mg[i]);
    }
    fclose(f);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/rank_contrib_ref.py %s/prob.ubj %s/rows.csv %d",
                             dir, dir, nf), 0);
    free(ct);
    free(mg);
    free(raw);
    free(cal);
    free(pl);
    free(x);
    free(h);
    free(tm);
    free(cand);
    mq_rank_work_destroy(rw);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
}

MQ_TEST(rank_live_other_feature_set_refused)
{
    const char *dir = mq_test_tmpdir();
    mq_dataset *d = synth(dir);
    ASSERT(d);
    mq_err err = {0};
    mq_model *m = train(d, &err);
    ASSERT_OK(m ? 0 : err.code, &err);
    ASSERT(strstr(mq_model_params(m), "features=") != NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/r.mqm", dir);
    ASSERT_OK(mq_model_save(m, path, &err), &err);
    mq_model *l = NULL;
    ASSERT_OK(mq_model_load(path, &l, &err), &err);
    mq_model_destroy(l);
    /* an artifact written by a build with other features */
    mq__model_param_set(m, "features", "%08x", 0xdeadbeefu);
    ASSERT_OK(mq_model_save(m, path, &err), &err);
    ASSERT(mq_model_load(path, &l, &err) != 0);
    ASSERT(strstr(err.msg, "feature fingerprint deadbeef") != NULL);
    ASSERT(strstr(err.msg, "retrain the ranker") != NULL);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
}
