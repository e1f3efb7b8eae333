/* test_rank.c: the second stage: point-in-time features, calibration against statsmodels and
 * an independent PAV, the ranker's artifact and bad input, the evaluation's calibration
 * figures, and the booster's predictions against python3-xgboost trained on the same feature
 * file (tests/ref/rank_ref.py).
 *
 * Data: a synthetic catalog with release days and decaying popularity (titles are played
 * mostly in the weeks after their release), so recency features carry signal and a temporal
 * protocol has something to learn. */
#include "../test.h"
#include "rank/rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1600000000LL
#define DAYS 120

/* Members arrive over the period and play 12..40 titles each; a play at day τ picks a title
 * released before τ with probability ∝ quality × exp(−(τ − release) / 15 days). When
 * ratings, values are 1..5 stars (higher for better titles), else 1. Title t has genre bit
 * t % 5. When cut > 0 only events before it are kept (same id maps and title order). */
static mq_dataset *temporal_synth(uint64_t seed, bool ratings, int64_t cut)
{
    enum { NM = 300, NT = 200 };
    mq_rng r;
    mq_rng_seed(&r, seed);
    double rel[NT], q[NT];
    for (int t = 0; t < NT; t++) {
        rel[t] = t < 40 ? 0 : mq_rng_uniform(&r) * DAYS;
        q[t] = 0.1 + 0.9 * mq_rng_uniform(&r);
    }
    mq_idmap *mi = mq_idmap_create(), *ti = mq_idmap_create();
    char id[32];
    for (int u = 0; u < NM; u++) mq_idmap_intern(mi, id, (size_t)snprintf(id, sizeof id, "m%d", u));
    for (int t = 0; t < NT; t++) mq_idmap_intern(ti, id, (size_t)snprintf(id, sizeof id, "t%d", t));
    mq_interaction *x = malloc((size_t)NM * 40 * sizeof *x);
    int64_t n = 0;
    uint8_t seen[NT];
    for (int u = 0; u < NM; u++) {
        memset(seen, 0, sizeof seen);
        double tau = mq_rng_uniform(&r) * DAYS * 0.8;
        int c = 12 + (int)mq_rng_below(&r, 29);
        for (int i = 0; i < c && tau < DAYS; i++) {
            int32_t pick = -1;
            for (int tries = 0; tries < 2000 && pick < 0; tries++) {
                int32_t t = (int32_t)mq_rng_below(&r, NT);
                if (rel[t] > tau || seen[t]) continue;
                if (mq_rng_uniform(&r) < q[t] * exp(-(tau - rel[t]) / 15.0)) pick = t;
            }
            if (pick >= 0) {
                /* One event per (member, title): the dataset merges repeats at their latest
                 * time, which would move an early play past a cut. */
                seen[pick] = 1;
                int64_t tm = T0 + (int64_t)(tau * 86400);
                float v = ratings ? (float)MQ_MIN(5, 1 + (int)(q[pick] * 5 * mq_rng_uniform(&r) + 2 * q[pick])) : 1.0f;
                if (cut <= 0 || tm < cut)
                    x[n++] = (mq_interaction){u, pick, v, ratings ? MQ_EV_RATING : MQ_EV_PLAY, tm};
            }
            tau += mq_rng_uniform(&r) * 4;
        }
    }
    mq_dataset *d = NULL;
    mq_err err;
    if (mq_dataset_build(x, n, mi, ti, &d, &err) != 0) d = NULL;
    free(x);
    if (d) {
        d->ratings = ratings;
        mq_catalog_release(&d->catalog);
        mq_catalog_init(&d->catalog, NT);
        d->catalog.n_genres = 5;
        for (int g = 0; g < 5; g++) {
            char gn[16];
            snprintf(gn, sizeof gn, "g%d", g);
            d->catalog.genre_names[g] = strdup(gn);
        }
        for (int t = 0; t < NT; t++) {
            d->catalog.genres[t] = 1ull << (t % 5);
            d->catalog.years[t] = 2000 + t % 20;
        }
    }
    return d;
}

/* Positives of member u before T. */
static int hist_before(const mq_dataset *d, int32_t u, int64_t T, int32_t *h, int64_t *tm)
{
    int n = 0;
    for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++)
        if (d->m_time[e] < T && d->m_val[e] > 0) {
            h[n] = d->m_idx[e];
            tm[n] = d->m_time[e];
            n++;
        }
    return n;
}

MQ_TEST(rank_features_are_point_in_time)
{
    int64_t T = T0 + 70 * 86400LL;
    mq_dataset *full = temporal_synth(7, false, 0), *cut = temporal_synth(7, false, T);
    ASSERT(full && cut);
    ASSERT(full->nnz > cut->nnz);   /* there are events at or after T */
    ASSERT_INT_EQ(full->n_titles, cut->n_titles);
    static const char *const gens[] = {"ease", "ials", "itemknn", "pop", "trending"};
    mq__rank_owned a, b, later;
    mq_err err = {0};
    ASSERT_OK(mq__rank_snap_build(full, T, gens, 5, NULL, NULL, 50, 1, 3, &a, &err), &err);
    ASSERT_OK(mq__rank_snap_build(cut, T, gens, 5, NULL, NULL, 50, 1, 3, &b, &err), &err);
    /* The same data a day later must differ somewhere: the comparison below can fail. */
    ASSERT_OK(mq__rank_snap_build(full, T + 86400, gens, 5, NULL, NULL, 50, 1, 3, &later, &err), &err);
    mq__rank_scratch wa, wb, wl;
    ASSERT_OK(mq__rank_scratch_init(&wa, &a.s, &err), &err);
    ASSERT_OK(mq__rank_scratch_init(&wb, &b.s, &err), &err);
    ASSERT_OK(mq__rank_scratch_init(&wl, &later.s, &err), &err);
    int nf = mq__rank_n_features(5), mc = mq__rank_max_cand(&a.s);
    int32_t *ca = malloc((size_t)mc * 4), *cb = malloc((size_t)mc * 4), *h = malloc(400 * 4);
    float *xa = malloc((size_t)mc * nf * 4), *xb = malloc((size_t)mc * nf * 4);
    int64_t *tm = malloc(400 * 8);
    int members = 0, differ_later = 0;
    for (int32_t u = 0; u < full->n_members; u += 7) {
        const char *id = mq_idmap_name(full->member_ids, u);
        int32_t v = mq_idmap_find(cut->member_ids, id, strlen(id));
        int nh = hist_before(full, u, T, h, tm);
        if (v < 0) {
            ASSERT_INT_EQ(nh, 0);
            continue;
        }
        int na = mq__rank_member_features(&a.s, h, tm, nh, -1, &wa, ca, xa, &err);
        int nb2 = hist_before(cut, v, T, h, tm);
        ASSERT_INT_EQ(nb2, nh);
        int nb = mq__rank_member_features(&b.s, h, tm, nh, -1, &wb, cb, xb, &err);
        ASSERT(na > 0);
        ASSERT_INT_EQ(na, nb);
        ASSERT(memcmp(ca, cb, (size_t)na * 4) == 0);
        /* Bit for bit, NaN (missing) included. */
        ASSERT(memcmp(xa, xb, (size_t)na * nf * 4) == 0);
        int nl = mq__rank_member_features(&later.s, h, tm, nh, -1, &wl, cb, xb, &err);
        differ_later += nl != na || memcmp(xa, xb, (size_t)na * nf * 4) != 0;
        /* Closed forms: pop and pop_7d of each candidate from the raw events. */
        for (int k = 0; k < na; k++) {
            int32_t t = ca[k];
            int p = 0, p7 = 0;
            for (int64_t e = full->t_ptr[t]; e < full->t_ptr[t + 1]; e++)
                if (full->t_time[e] < T) {
                    p++;
                    p7 += full->t_time[e] >= T - 7 * 86400LL;
                }
            ASSERT_INT_EQ((int)xa[(size_t)k * nf + 10 + F_POP], p);
            ASSERT_INT_EQ((int)xa[(size_t)k * nf + 10 + F_POP7], p7);
            ASSERT_INT_EQ((int)xa[(size_t)k * nf + 10 + F_HLEN], nh);
        }
        members++;
    }
    ASSERT(members > 20);
    ASSERT(differ_later > members / 2);
    free(ca); free(cb); free(h); free(xa); free(xb); free(tm);
    mq__rank_scratch_release(&wa);
    mq__rank_scratch_release(&wb);
    mq__rank_scratch_release(&wl);
    mq__rank_owned_release(&a);
    mq__rank_owned_release(&b);
    mq__rank_owned_release(&later);
    mq_dataset_destroy(full);
    mq_dataset_destroy(cut);
}

MQ_TEST(rank_calibration_matches_statsmodels_and_reference_pav)
{
    /* Scores with a known miscalibration: y ~ Bernoulli(σ(1.7 z − 0.4)), 4000 samples, many
     * tied scores (z rounded to 0.05) so pooling of ties is exercised. */
    enum { N = 4000 };
    mq_rng r;
    mq_rng_seed(&r, 11);
    double *z = malloc(N * sizeof *z), *p = malloc(N * sizeof *p);
    uint8_t *y = malloc(N);
    for (int i = 0; i < N; i++) {
        z[i] = round(mq_rng_normal(&r) * 1.5 * 20) / 20;
        p[i] = 1 / (1 + exp(-z[i]));
        y[i] = mq_rng_uniform(&r) < 1 / (1 + exp(-(1.7 * z[i] - 0.4)));
    }
    mq_err err = {0};
    double a, b;
    ASSERT_OK(mq_calib_platt_fit(z, y, N, &a, &b, &err), &err);
    mq_isotonic iso;
    ASSERT_OK(mq_isotonic_fit(p, y, N, &iso, &err), &err);
    for (int i = 1; i < iso.n; i++) ASSERT(iso.y[i] > iso.y[i - 1] && iso.x[i] > iso.x[i - 1]);
    mq_calib_figures f;
    mq_calib_bin bins[15];
    ASSERT_OK(mq_calib_figures_compute(p, y, N, 15, &f, bins, &err), &err);
    int64_t tot = 0;
    for (int i = 0; i < 15; i++) tot += bins[i].count;
    ASSERT_INT_EQ(tot, N);
    char path[512], exp_path[512];
    snprintf(path, sizeof path, "%s/calib.csv", mq_test_tmpdir());
    snprintf(exp_path, sizeof exp_path, "%s/calib_expected.txt", mq_test_tmpdir());
    FILE *fo = fopen(path, "w");
    ASSERT(fo);
    fprintf(fo, "z,y\n");
    for (int i = 0; i < N; i++) fprintf(fo, "%.17g,%d\n", z[i], y[i]);
    fclose(fo);
    fo = fopen(exp_path, "w");
    ASSERT(fo);
    fprintf(fo, "platt %.17g %.17g\nfigures %.17g %.17g %.17g\niso %d\n", a, b, f.log_loss,
            f.brier, f.ece, iso.n);
    for (int i = 0; i < iso.n; i++) fprintf(fo, "%.17g %.17g\n", iso.x[i], iso.y[i]);
    fclose(fo);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/rank_calib_ref.py %s %s", path, exp_path), 0);
    /* Degenerate input is refused. */
    uint8_t ones[3] = {1, 1, 1};
    ASSERT(mq_calib_platt_fit(z, ones, 3, &a, &b, &err) == MQ_EINVAL);
    mq_isotonic_release(&iso);
    free(z);
    free(p);
    free(y);
}

static const char *const fast_params[] = {"candidates=pop,trending,itemknn,ease", "top=50",
                                          "rounds=40", "early_stop=10", "label_frac=0.15",
                                          "windows=3"};

static mq_model *train_ranker(mq_dataset *d, const char *const *extra, int n_extra, mq_err *err)
{
    const char *p[16];
    int n = 0;
    for (size_t i = 0; i < sizeof fast_params / sizeof *fast_params; i++) p[n++] = fast_params[i];
    for (int i = 0; i < n_extra; i++) p[n++] = extra[i];
    mq_train_opts o; mq_train_opts_init(&o, sizeof o);
    o.params = p; o.n_params = n; o.n_threads = 1; o.seed = 5;
    mq_model *m = NULL;
    if (mq_model_train("ranker", d, &o, &m, err) != 0) return NULL;
    return m;
}

MQ_TEST(rank_artifact_round_trip_and_bad_input)
{
    mq_dataset *d = temporal_synth(21, false, 0);
    ASSERT(d);
    mq_err err = {0};
    mq_model *m = train_ranker(d, NULL, 0, &err);
    ASSERT_OK(m ? 0 : err.code, &err);
    ASSERT(mq_rank_is_ranker(m));
    ASSERT_INT_EQ(mq_rank_n_features(m), 2 * 4 + F_N_FIXED);
    ASSERT_STR_EQ(mq_rank_feature_name(m, 0), "pop_score");
    char path[512];
    snprintf(path, sizeof path, "%s/ranker.mqm", mq_test_tmpdir());
    ASSERT_OK(mq_model_save(m, path, &err), &err);
    mq_model *l = NULL;
    ASSERT_OK(mq_model_load(path, &l, &err), &err);
    int32_t hist[3] = {0, 5, 9};
    float *s1 = malloc((size_t)d->n_titles * 4), *s2 = malloc((size_t)d->n_titles * 4);
    ASSERT_OK(mq_model_score(m, hist, NULL, 3, s1, &err), &err);
    ASSERT_OK(mq_model_score(l, hist, NULL, 3, s2, &err), &err);
    ASSERT(memcmp(s1, s2, (size_t)d->n_titles * 4) == 0);
    int finite = 0;
    for (int32_t t = 0; t < d->n_titles; t++) finite += isfinite(s1[t]);
    ASSERT(finite > 0 && finite < d->n_titles);   /* candidates only */
    ASSERT(!isfinite(s1[5]));                      /* history titles are not candidates */
    /* A generator missing from the artifact: the load names it. */
    mq_model_destroy(m->sub[1]);
    m->sub[1] = NULL;
    snprintf(path, sizeof path, "%s/broken.mqm", mq_test_tmpdir());
    ASSERT_OK(mq_model_save(m, path, &err), &err);
    mq_model *bad = NULL;
    ASSERT(mq_model_load(path, &bad, &err) != 0);
    ASSERT(strstr(err.msg, "generator(s) trending missing") != NULL);
    /* Unknown generator, label that the data cannot give, no timestamps. */
    const char *unk[] = {"candidates=pop,nosuch"};
    ASSERT(train_ranker(d, unk, 1, &err) == NULL);
    ASSERT(strstr(err.msg, "unknown generator 'nosuch'") != NULL);
    const char *rat[] = {"label=rating"};
    ASSERT(train_ranker(d, rat, 1, &err) == NULL);
    ASSERT(strstr(err.msg, "label=rating needs explicit ratings") != NULL);
    const char *gp[] = {"ials.factors=8"};
    ASSERT(train_ranker(d, gp, 1, &err) == NULL);
    ASSERT(strstr(err.msg, "'ials' is not one of the candidates") != NULL);
    free(s1);
    free(s2);
    mq_model_destroy(m);
    mq_model_destroy(l);
    mq_dataset_destroy(d);
}

MQ_TEST(rank_graded_rating_labels_train)
{
    mq_dataset *d = temporal_synth(23, true, 0);
    ASSERT(d);
    mq_err err = {0};
    const char *rat[] = {"label=rating", "ease.lambda=50"};
    mq_model *m = train_ranker(d, rat, 2, &err);
    ASSERT_OK(m ? 0 : err.code, &err);
    ASSERT(strstr(mq_model_params(m), "label=rating") != NULL);
    double lam;
    ASSERT_OK(mq_model_param_double(m->sub[3], "lambda", &lam), &err);
    ASSERT_NEAR(lam, 50, 0);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
}

/* The temporal split of d (cutoff at the 90% time quantile) and a trained ranker. */
MQ_TEST(rank_predictions_equal_python_xgboost)
{
    mq_dataset *d = temporal_synth(31, false, 0);
    ASSERT(d);
    mq_err err = {0};
    mq_split sp;
    mq_split_opts so; mq_split_opts_init(&so, sizeof so);
    so.protocol = MQ_SPLIT_TEMPORAL; so.seed = 1;
    ASSERT_OK(mq_split_make(d, &so, &sp, &err), &err);
    mq_model *m = train_ranker(sp.train, NULL, 0, &err);
    ASSERT_OK(m ? 0 : err.code, &err);
    char feat[512], rel[512];
    snprintf(feat, sizeof feat, "%s/features.csv", mq_test_tmpdir());
    snprintf(rel, sizeof rel, "%s/reliability.csv", mq_test_tmpdir());
    mq_eval_opts eo;
    mq_eval_opts_init(&eo, sizeof eo);
    eo.n_threads = 2;
    mq_rank_eval_opts ro; mq_rank_eval_opts_init(&ro, sizeof ro);
    ro.reliability_csv = rel; ro.features_csv = feat;
    mq_eval_result res;
    mq_rank_report rep;
    ASSERT_OK(mq_rank_evaluate(m, sp.train, &sp.test, &eo, &ro, &res, &rep, &err), &err);
    ASSERT(res.n_members > 10);
    /* The report's NDCG@20 is the evaluation loop's. */
    ASSERT_NEAR(rep.ndcg, mq_eval_find(&res, "ndcg@20")->mean, 1e-12);
    ASSERT(rep.n_pairs > 0 && rep.base_rate > 0 && rep.base_rate < 1);
    ASSERT(rep.isotonic.ece >= 0 && rep.isotonic.ece < 0.5);
    char json[4096];
    ASSERT(mq_rank_report_json(&rep, json, sizeof json) > 0);
    ASSERT(strstr(json, "\"ece_isotonic\": ") && strstr(json, "\"log_loss_isotonic\": ") &&
           strstr(json, "\"brier_isotonic\": ") && strstr(json, "\"vs_generators\""));
    /* python3-xgboost, same parameters, same rows: predictions to 1e-6. */
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/rank_ref.py %s", feat), 0);
    /* The same rows as LibSVM (chosen by the extension): python3-xgboost loads the file itself
     * (its own LibSVM parser) and reproduces both prediction columns to 1e-6; marquee reads it
     * back to the same matrix as the CSV file. */
    char svm[512];
    snprintf(svm, sizeof svm, "%s/features.libsvm", mq_test_tmpdir());
    mq_rank_eval_opts rs; mq_rank_eval_opts_init(&rs, sizeof rs);
    rs.features_csv = svm;
    ASSERT_OK(mq_rank_evaluate(m, sp.train, &sp.test, &eo, &rs, NULL, NULL, &err), &err);
    ASSERT_INT_EQ(mq_test_sh("head -1 %s | grep -q ' format=libsvm$'", svm), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/rank_ref.py %s", svm), 0);
    {
        int64_t n1, n2;
        float *x1, *x2, *l1, *l2;
        int32_t *s1, *s2;
        ASSERT_OK(mq_rank_features_read(m, feat, &n1, &x1, &l1, &s1, &err), &err);
        ASSERT_OK(mq_rank_features_read(m, svm, &n2, &x2, &l2, &s2, &err), &err);
        ASSERT_INT_EQ(n1, n2);
        int nf = mq_rank_n_features(m);
        int64_t bad = 0, nan = 0;
        for (int64_t i = 0; i < n1; i++) {
            bad += l1[i] != l2[i] || s1[i] != s2[i];
            for (int j = 0; j < nf; j++) {
                float a = x1[i * nf + j], b = x2[i * nf + j];
                nan += isnan(a);
                bad += isnan(a) ? !isnan(b) : a != b;
            }
        }
        ASSERT_INT_EQ(bad, 0);
        ASSERT(nan > 0);   /* missing features are left out of the LibSVM rows */
        free(x1); free(x2); free(l1); free(l2); free(s1); free(s2);
    }
    /* The file reads back; a file of another catalog is refused. */
    int64_t n;
    float *x, *lab;
    int32_t *set;
    ASSERT_OK(mq_rank_features_read(m, feat, &n, &x, &lab, &set, &err), &err);
    ASSERT(n >= rep.n_pairs);
    float *pr = malloc((size_t)n * 4);
    ASSERT_OK(mq_rank_predict_rows(m, x, n, pr, NULL, &err), &err);
    free(pr);
    free(x);
    free(lab);
    free(set);
    char other[512];
    snprintf(other, sizeof other, "%s/other.csv", mq_test_tmpdir());
    ASSERT_INT_EQ(mq_test_sh("sed '1s/catalog=[0-9a-f]*/catalog=deadbeef/' %s > %s", feat, other), 0);
    ASSERT(mq_rank_features_read(m, other, &n, &x, &lab, &set, &err) == MQ_EINVAL);
    ASSERT(strstr(err.msg, "another catalog") != NULL);
    mq_model_destroy(m);
    mq_split_release(&sp);
    mq_dataset_destroy(d);
}

/* A ranker restricted to one generator's score must reproduce that generator: the candidates
 * hold each generator's top N, the feature is the generator's own fold-in score, and the
 * evaluation of candidate scores (−inf elsewhere) equals the generator's full ranking. Exact,
 * for each generator (ties in both are broken by the lower title index). */
MQ_TEST(rank_single_feature_reproduces_each_generator)
{
    mq_dataset *d = temporal_synth(37, false, 0);
    ASSERT(d);
    mq_err err = {0};
    mq_split sp;
    mq_split_opts so; mq_split_opts_init(&so, sizeof so);
    so.protocol = MQ_SPLIT_TEMPORAL; so.seed = 1;
    ASSERT_OK(mq_split_make(d, &so, &sp, &err), &err);
    mq_model *m = train_ranker(sp.train, NULL, 0, &err);
    ASSERT_OK(m ? 0 : err.code, &err);
    mq_eval_opts eo;
    mq_eval_opts_init(&eo, sizeof eo);
    eo.n_threads = 2;
    mq_rank_report full;
    ASSERT_OK(mq_rank_evaluate(m, sp.train, &sp.test, &eo, NULL, NULL, &full, &err), &err);
    static const char *const gens[] = {"pop", "trending", "itemknn", "ease"};
    int differs = 0;
    for (int g = 0; g < 4; g++) {
        char name[32];
        snprintf(name, sizeof name, "%s_score", gens[g]);
        mq_rank_eval_opts ro; mq_rank_eval_opts_init(&ro, sizeof ro);
        ro.order_feature = name;
        mq_eval_result res;
        mq_rank_report rep;
        ASSERT_OK(mq_rank_evaluate(m, sp.train, &sp.test, &eo, &ro, &res, &rep, &err), &err);
        ASSERT_STR_EQ(rep.generators[g], gens[g]);
        ASSERT(rep.n_generators == 4 && rep.gen_ndcg[g] > 0);
        ASSERT_NEAR(rep.ndcg, rep.gen_ndcg[g], 0);
        ASSERT_NEAR(rep.delta[g], 0, 0);
        ASSERT_NEAR(mq_eval_find(&res, "ndcg@20")->mean, rep.gen_ndcg[g], 0);
        differs += rep.gen_ndcg[g] != full.ndcg;
    }
    ASSERT(differs > 0);   /* the diagnostic does change the order */
    mq_rank_eval_opts bad; mq_rank_eval_opts_init(&bad, sizeof bad);
    bad.order_feature = "nosuch";
    ASSERT(mq_rank_evaluate(m, sp.train, &sp.test, &eo, &bad, NULL, NULL, &err) == MQ_EINVAL);
    ASSERT(strstr(err.msg, "nosuch") != NULL);
    mq_model_destroy(m);
    mq_split_release(&sp);
    mq_dataset_destroy(d);
}

/* Graded labels through the command line: eval binarizes --data (ratings >= 4) for every
 * model, and the ranker reads the grades from the values before binarization. The feature
 * file's training labels then hold grades above 1; label=play_seconds on ratings is refused
 * with its reason. */
MQ_TEST(rank_graded_labels_through_the_cli)
{
    mq_dataset *d = temporal_synth(43, true, 0);
    ASSERT(d);
    const char *dir = mq_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/u.data", dir);
    FILE *f = fopen(path, "w");
    ASSERT(f);
    for (int32_t u = 0; u < d->n_members; u++)
        for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++)
            fprintf(f, "%d\t%d\t%d\t%lld\n", u + 1, d->m_idx[e] + 1,
                    MQ_MIN(5, MQ_MAX(1, (int)d->m_val[e])),
                    (long long)d->m_time[e]);
    fclose(f);
    mq_dataset_destroy(d);
    const char *common = "--param ranker.windows=3 --param ranker.label_frac=0.15 --param "
                         "ranker.candidates=pop,trending,itemknn --param ranker.top=50 --param "
                         "ranker.rounds=30";
    ASSERT_INT_EQ(mq_test_sh("%s eval --data %s --format ml100k --protocol temporal --models "
                             "pop,ranker --k 20 --threads 1 %s --param ranker.label=rating "
                             "--write-features %s/g.csv > /dev/null 2> %s/g.err",
                             mq_test_bin(), path, common, dir, dir), 0);
    /* Labels of sets 0 and 1 (column 5): some grade above 1, every grade an integer >= 0. */
    ASSERT_INT_EQ(mq_test_sh("awk -F, 'NR > 2 && $1 < 2 { if ($5 > 1) hi++; if ($5 != int($5) "
                             "|| $5 < 0) bad++ } END { exit !(hi > 0 && bad == 0) }' %s/g.csv",
                             dir), 0);
    ASSERT(mq_test_sh("%s eval --data %s --format ml100k --protocol temporal --models ranker "
                      "--threads 1 %s --param ranker.label=play_seconds > /dev/null 2> %s/p.err",
                      mq_test_bin(), path, common, dir) != 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q 'needs watch durations' %s/p.err", dir), 0);
    /* marquee train takes the same path. */
    ASSERT_INT_EQ(mq_test_sh("%s train --data %s --format ml100k --model ranker --out %s/g.mqm "
                             "--threads 1 --param windows=3 --param label_frac=0.15 --param "
                             "candidates=pop,trending --param top=50 --param rounds=20 --param "
                             "label=rating > %s/t.out 2> /dev/null && grep -q 'label=rating' "
                             "%s/t.out", mq_test_bin(), path, dir, dir, dir), 0);
}

MQ_TEST(rank_eval_cli_reports_calibration)
{
    mq_dataset *d = temporal_synth(41, false, 0);
    ASSERT(d);
    const char *dir = mq_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/events.csv", dir);
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fprintf(f, "member,title,timestamp,event,value\n");
    for (int32_t u = 0; u < d->n_members; u++)
        for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++)
            fprintf(f, "%s,%s,%lld,play,1\n", mq_idmap_name(d->member_ids, u),
                    mq_idmap_name(d->title_ids, d->m_idx[e]), (long long)d->m_time[e]);
    fclose(f);
    mq_dataset_destroy(d);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data %s --protocol temporal --models pop,ranker --k 10,20 "
                             "--threads 1 --param ranker.windows=3 --param ranker.label_frac=0.15 "
                             "--param ranker.candidates=pop,trending,itemknn --param "
                             "ranker.top=50 --json --reliability %s/rel.csv --write-features "
                             "%s/f.csv > %s/out.json 2> %s/err.txt",
                             mq_test_bin(), path, dir, dir, dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 -c \"import json,sys; j=json.load(open('%s/out.json')); "
                             "r=[m for m in j['models'] if m['model']=='ranker'][0]; c=r['calibration']; "
                             "assert all(k in c for k in ('ece_raw','ece_platt','ece_isotonic',"
                             "'log_loss_isotonic','brier_isotonic')); assert 0 <= c['ece_isotonic'] < 1; "
                             "assert abs(r['test']['ndcg@20'] - r['vs_generators']['ranker']) < 1e-9\"", dir), 0);
    ASSERT_INT_EQ(mq_test_sh("head -1 %s/rel.csv | grep -q '^method,bin,count,mean_predicted,"
                             "observed_rate$' && test $(wc -l < %s/rel.csv) -eq 46", dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("head -1 %s/f.csv | grep -q '^# marquee-features v1 catalog='", dir), 0);
    /* An unknown generator is a clear failure naming it. */
    ASSERT(mq_test_sh("%s eval --data %s --protocol temporal --models ranker --param "
                      "ranker.candidates=pop,nosuch 2> %s/err2.txt", mq_test_bin(), path, dir) != 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q \"unknown generator 'nosuch'\" %s/err2.txt", dir), 0);
    /* marquee train writes a ranker artifact that loads. */
    ASSERT_INT_EQ(mq_test_sh("%s train --data %s --model ranker --out %s/r.mqm --threads 1 --param "
                             "windows=3 --param label_frac=0.15 --param candidates=pop,trending "
                             "--param top=50 --param rounds=20 2> /dev/null > /dev/null",
                             mq_test_bin(), path, dir), 0);
    char mpath[512];
    snprintf(mpath, sizeof mpath, "%s/r.mqm", dir);
    mq_model *m = NULL;
    mq_err err = {0};
    ASSERT_OK(mq_model_load(mpath, &m, &err), &err);
    ASSERT(mq_rank_is_ranker(m));
    mq_model_destroy(m);
    /* A feature file without a ranker to write it is a usage error (exit 2). */
    ASSERT_INT_EQ(mq_test_sh("%s eval --data %s --protocol temporal --models pop --write-features "
                             "%s/x.csv 2> /dev/null", mq_test_bin(), path, dir), 2);
}

/* The watch-time head: on plays with durations (seconds as the event values) the ranker
 * trains a third booster (reg:squarederror on the training windows' plays, base_score their
 * mean seconds), which python3-xgboost reproduces from the feature file (CSV and LibSVM) to a
 * relative 1e-6; the artifact keeps it, mq_rank_expected_seconds predicts with it, and with
 * relevance=watch_time mq_rank_relevance is the probability times expected seconds over the
 * mean. Data without durations gets no head, and relevance=watch_time on it is refused. */
MQ_TEST(rank_watch_time_head_equals_python_xgboost)
{
    mq_dataset *d = temporal_synth(47, false, 0);
    ASSERT(d);
    const char *dir = mq_test_tmpdir();
    char path[512], flat[512];
    snprintf(path, sizeof path, "%s/plays.csv", dir);
    snprintf(flat, sizeof flat, "%s/flat.csv", dir);
    FILE *f = fopen(path, "w"), *g = fopen(flat, "w");
    ASSERT(f && g);
    fprintf(f, "member,title,timestamp,event,value\n");
    fprintf(g, "member,title,timestamp,event,value\n");
    mq_rng r;
    mq_rng_seed(&r, 3);
    for (int32_t u = 0; u < d->n_members; u++)
        for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) {
            /* Seconds that depend on the title (its genre) and the member: a head has
             * something to learn. */
            int32_t t = d->m_idx[e];
            double secs = 600 + 900 * (t % 5) + 400 * (u % 3) + 300 * mq_rng_uniform(&r);
            fprintf(f, "%s,%s,%lld,play,%.0f\n", mq_idmap_name(d->member_ids, u),
                    mq_idmap_name(d->title_ids, t), (long long)d->m_time[e], secs);
            fprintf(g, "%s,%s,%lld,play,1\n", mq_idmap_name(d->member_ids, u),
                    mq_idmap_name(d->title_ids, t), (long long)d->m_time[e]);
        }
    fclose(f);
    fclose(g);
    mq_dataset_destroy(d);
    const char *common = "--param ranker.windows=3 --param ranker.label_frac=0.15 --param "
                         "ranker.candidates=pop,trending,itemknn --param ranker.top=50 --param "
                         "ranker.rounds=30";
    for (int k = 0; k < 2; k++) {
        const char *ext = k ? "libsvm" : "csv";
        ASSERT_INT_EQ(mq_test_sh("%s eval --data %s --protocol temporal --models pop,ranker "
                                 "--k 20 --threads 1 %s --write-features %s/w.%s > /dev/null "
                                 "2> %s/w.err", mq_test_bin(), path, common, dir, ext, dir), 0);
        ASSERT_INT_EQ(mq_test_sh("grep -q 'watch time reg:squarederror' %s/w.err && head -1 "
                                 "%s/w.%s | grep -q ' watch_rounds=[1-9][0-9]* watch_base='",
                                 dir, dir, ext), 0);
        ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/rank_ref.py %s/w.%s", dir, ext), 0);
    }
    /* The reference must be able to fail: a wrong base_score in the file's header. */
    ASSERT_INT_EQ(mq_test_sh("sed '1s/watch_base=[0-9.e+]*/watch_base=100/' %s/w.csv > %s/wb.csv",
                             dir, dir), 0);
    ASSERT(mq_test_sh("/usr/bin/python3 tests/ref/rank_ref.py %s/wb.csv > /dev/null", dir) != 0);
    /* The artifact keeps the head; relevance=watch_time is recorded and used. */
    ASSERT_INT_EQ(mq_test_sh("%s train --data %s --model ranker --out %s/w.mqm --threads 1 "
                             "--param windows=3 --param label_frac=0.15 --param "
                             "candidates=pop,trending --param top=50 --param rounds=20 --param "
                             "relevance=watch_time > /dev/null 2>&1", mq_test_bin(), path, dir), 0);
    char mp[512];
    snprintf(mp, sizeof mp, "%s/w.mqm", dir);
    mq_model *m = NULL;
    mq_err err = {0};
    ASSERT_OK(mq_model_load(mp, &m, &err), &err);
    ASSERT(mq_rank_has_watch_head(m) && mq_rank_relevance_is_watch_time(m));
    double base = 0;
    ASSERT_INT_EQ(mq_model_param_double(m, "watch_base", &base), 0);
    ASSERT(base > 600 && base < 5500);
    int nf = mq_rank_n_features(m), mc = mq_rank_max_candidates(m);
    int32_t *cand = malloc((size_t)mc * sizeof *cand);
    float *x = malloc((size_t)mc * nf * sizeof *x), *p = malloc((size_t)mc * sizeof *p);
    float *s = malloc((size_t)mc * sizeof *s), *rel = malloc((size_t)mc * sizeof *rel);
    mq_rank_work *w = NULL;
    ASSERT_OK(mq_rank_work_create(m, &w, &err), &err);
    int32_t hist[3] = {50, 51, 52};
    mq_rank_live live; mq_rank_live_init(&live, sizeof live);
    live.now = 0; live.hour = -1;
    int n = mq_rank_live_features(m, &live, hist, NULL, 3, w, cand, x, &err);
    ASSERT(n > 10);
    ASSERT_OK(mq_rank_play_probability(m, x, n, p, NULL, NULL, &err), &err);
    ASSERT_OK(mq_rank_expected_seconds(m, x, n, s, &err), &err);
    ASSERT_OK(mq_rank_relevance(m, x, n, p, rel, &err), &err);
    double lo = 1e300, hi = 0;
    for (int i = 0; i < n; i++) {
        ASSERT(s[i] >= 0);
        lo = MQ_MIN(lo, s[i]);
        hi = MQ_MAX(hi, s[i]);
        ASSERT_NEAR(rel[i], (double)p[i] * s[i] / base, 1e-6 * (1 + fabs(rel[i])));
    }
    ASSERT(hi - lo > 100);   /* the head tells titles apart (genres differ by 900 s) */
    mq_rank_work_destroy(w);
    free(cand); free(x); free(p); free(s); free(rel);
    mq_model_destroy(m);
    /* Without durations: no head, and relevance=watch_time is refused with its reason. */
    ASSERT(mq_test_sh("%s train --data %s --model ranker --out %s/f.mqm --threads 1 --param "
                      "windows=3 --param label_frac=0.15 --param candidates=pop,trending --param "
                      "top=50 --param rounds=20 --param relevance=watch_time > /dev/null 2> "
                      "%s/f.err", mq_test_bin(), flat, dir, dir) != 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q 'relevance=watch_time needs the watch-time head' %s/f.err",
                             dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s train --data %s --model ranker --out %s/f.mqm --threads 1 "
                             "--param windows=3 --param label_frac=0.15 --param "
                             "candidates=pop,trending --param top=50 --param rounds=20 > "
                             "/dev/null 2>&1", mq_test_bin(), flat, dir), 0);
    snprintf(mp, sizeof mp, "%s/f.mqm", dir);
    ASSERT_OK(mq_model_load(mp, &m, &err), &err);
    ASSERT(!mq_rank_has_watch_head(m));
    float one = 0;
    ASSERT(mq_rank_expected_seconds(m, &one, 0, &one, &err) == MQ_EINVAL);
    mq_model_destroy(m);
}
