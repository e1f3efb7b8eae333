/* test_models.c: the candidate models against independent numpy references (tests/ref/
 * models_ref.py) on ml-100k (ratings >= 4), plus fold-in, explanations, filters, artifacts
 * and determinism. Small synthetic datasets cover what needs no real data. */
#include "../test.h"
#include "models/model.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- datasets ---------------------------------------------------------------------------- */

/* ml-100k u.data binarized at >= 4 (members with >= 1 positive), or NULL when absent. */
static mq_dataset *ml100k(void)
{
    const char *path = mq_test_shared("ml-100k/u.data");
    if (!path) return NULL;
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    mq_idmap *mi = mq_idmap_create(), *ti = mq_idmap_create();
    mq_interaction *x = malloc(100000 * sizeof *x);
    int64_t n = 0;
    char a[32], b[32];
    float r;
    long long t;
    while (n < 100000 && fscanf(f, "%31s %31s %f %lld", a, b, &r, &t) == 4)
        x[n++] = (mq_interaction){mq_idmap_intern(mi, a, strlen(a)),
                                  mq_idmap_intern(ti, b, strlen(b)), r, MQ_EV_RATING, t};
    fclose(f);
    mq_dataset *d = NULL, *bin = NULL;
    mq_err err;
    if (mq_dataset_build(x, n, mi, ti, &d, &err) == 0) mq_dataset_binarize(d, 4, 1, &bin, &err);
    mq_dataset_destroy(d);
    free(x);
    return bin;
}

/* A small random dataset: n_members x n_titles, each member with 3..12 positives drawn with a
 * popularity skew; genres: title t has genre bit (t % 3). */
static mq_dataset *synth(int32_t nm, int32_t nt, uint64_t seed)
{
    mq_rng r;
    mq_rng_seed(&r, seed);
    mq_idmap *mi = mq_idmap_create(), *ti = mq_idmap_create();
    char id[32];
    for (int32_t u = 0; u < nm; u++) mq_idmap_intern(mi, id, (size_t)snprintf(id, sizeof id, "m%d", u));
    for (int32_t t = 0; t < nt; t++) mq_idmap_intern(ti, id, (size_t)snprintf(id, sizeof id, "t%d", t));
    mq_interaction *x = malloc((size_t)nm * 12 * sizeof *x);
    int64_t n = 0;
    for (int32_t u = 0; u < nm; u++) {
        int c = 3 + (int)mq_rng_below(&r, 10);
        for (int i = 0; i < c; i++) {
            double z = mq_rng_uniform(&r);
            int32_t t = (int32_t)(z * z * nt);
            x[n++] = (mq_interaction){u, t, 1, MQ_EV_PLAY, 1600000000 + (int64_t)mq_rng_below(&r, 86400 * 30)};
        }
    }
    mq_dataset *d = NULL;
    mq_err err;
    mq_dataset_build(x, n, mi, ti, &d, &err);
    free(x);
    if (d) {
        d->catalog.n_genres = 3;
        d->catalog.genre_names[0] = strdup("Action");
        d->catalog.genre_names[1] = strdup("Comedy");
        d->catalog.genre_names[2] = strdup("Drama");
        for (int32_t t = 0; t < nt; t++) d->catalog.genres[t] = (uint64_t)1 << (t % 3);
    }
    return d;
}

static mq_model *train(const char *kind, const mq_dataset *d, const char *const *params, int np,
                       int threads, uint64_t seed, mq_err *err)
{
    mq_train_opts o; mq_train_opts_init(&o, sizeof o);
    o.params = params; o.n_params = np; o.n_threads = threads; o.seed = seed;
    mq_model *m = NULL;
    if (mq_model_train(kind, d, &o, &m, err)) return NULL;
    return m;
}

/* Writes the training matrix and meta for the reference script. */
static void write_train(const mq_dataset *d, const char *dir)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/train.txt", dir);
    FILE *f = fopen(p, "w");
    for (int32_t u = 0; u < d->n_members; u++)
        for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) fprintf(f, "%d %d\n", u, d->m_idx[e]);
    fclose(f);
    snprintf(p, sizeof p, "%s/meta.txt", dir);
    f = fopen(p, "w");
    fprintf(f, "%d %d\n", d->n_members, d->n_titles);
    fclose(f);
}

/* Dumps C scores of every 37th member's own history. */
static int write_scores(const mq_model *m, const mq_dataset *d, const char *dir, mq_err *err)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/hist.txt", dir);
    FILE *fh = fopen(p, "w");
    snprintf(p, sizeof p, "%s/scores.f32", dir);
    FILE *fs = fopen(p, "wb");
    float *s = malloc((size_t)d->n_titles * sizeof *s);
    int rc = 0;
    for (int32_t u = 0; u < d->n_members && !rc; u += 37) {
        rc = mq_model_score(m, d->m_idx + d->m_ptr[u], NULL, (int)(d->m_ptr[u + 1] - d->m_ptr[u]), s, err);
        fprintf(fh, "%d\n", u);
        fwrite(s, sizeof *s, (size_t)d->n_titles, fs);
    }
    free(s);
    fclose(fh);
    fclose(fs);
    return rc;
}

static const char *subdir(const char *name)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s", mq_test_tmpdir(), name);
    mkdir(p, 0755);
    return p;
}

/* ---- references --------------------------------------------------------------------------- */

MQ_TEST(models_pop_equals_numpy)
{
    mq_dataset *d = ml100k();
    if (!d) MQ_SKIP("../shared/data/ml-100k/u.data is absent");
    mq_err err;
    mq_model *m = train("pop", d, NULL, 0, 1, 1, &err);
    ASSERT(m);
    const char *dir = subdir("pop");
    write_train(d, dir);
    int32_t *top = malloc((size_t)d->n_titles * sizeof *top);
    float *sc = malloc((size_t)d->n_titles * sizeof *sc);
    mq_filter f; mq_filter_init(&f, sizeof f);
    f.include_seen = true; f.genre = -1;
    int n = mq_model_recommend(m, NULL, NULL, 0, &f, d->n_titles, top, sc, &err);
    ASSERT_INT_EQ(n, d->n_titles);
    char p[8192];
    snprintf(p, sizeof p, "%s/topk.i32", dir);
    FILE *fo = fopen(p, "wb");
    fwrite(top, sizeof *top, (size_t)n, fo);
    fclose(fo);
    free(top);
    free(sc);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/models_ref.py pop %s", dir), 0);
}

MQ_TEST(models_ease_equals_numpy)
{
    mq_dataset *d = ml100k();
    if (!d) MQ_SKIP("../shared/data/ml-100k/u.data is absent");
    mq_err err;
    const char *pr[] = {"lambda=250"};
    mq_model *m = train("ease", d, pr, 1, 2, 1, &err);
    ASSERT(m);
    const char *dir = subdir("ease");
    write_train(d, dir);
    ASSERT_OK(write_scores(m, d, dir, &err), &err);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/models_ref.py ease %s 250", dir), 0);
}

/* DLAE's reference solves (XᵀX + Λ)B = XᵀX directly; C inverts and scales the columns by Λ.
 * A wrong dropout term (p instead of p/(1−p), or a missing diag(XᵀX)) moves the scores by
 * far more than the tolerance: the test fails for p = 0.5 passed to the reference as 0.4. */
MQ_TEST(models_dlae_equals_numpy)
{
    mq_dataset *d = ml100k();
    if (!d) MQ_SKIP("../shared/data/ml-100k/u.data is absent");
    mq_err err;
    const char *pr[] = {"lambda=80", "dropout=0.5"};
    mq_model *m = train("dlae", d, pr, 2, 2, 1, &err);
    ASSERT(m);
    ASSERT_STR_EQ(mq_model_params(m), "lambda=80 dropout=0.5 prune=0");
    const char *dir = subdir("dlae");
    write_train(d, dir);
    ASSERT_OK(write_scores(m, d, dir, &err), &err);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/models_ref.py dlae %s 80 0.5", dir), 0);
    ASSERT(mq_test_sh("/usr/bin/python3 tests/ref/models_ref.py dlae %s 80 0.4 > /dev/null",
                      dir) != 0);
}

MQ_TEST(models_itemknn_equals_numpy)
{
    mq_dataset *d = ml100k();
    if (!d) MQ_SKIP("../shared/data/ml-100k/u.data is absent");
    mq_err err;
    const char *pr[] = {"k=50", "shrink=10"};
    mq_model *m = train("itemknn", d, pr, 2, 2, 1, &err);
    ASSERT(m);
    const char *dir = subdir("knn");
    write_train(d, dir);
    ASSERT_OK(write_scores(m, d, dir, &err), &err);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/models_ref.py itemknn %s 50 10", dir), 0);
}

/* ---- iALS ---------------------------------------------------------------------------------- */

typedef struct losses {
    double v[64];
    int n;
} losses;

static void collect_loss(void *u, const char *line)
{
    losses *l = u;
    const char *p = strstr(line, " loss ");
    if (p && l->n < 64) l->v[l->n++] = strtod(p + 6, NULL);
}

/* Max over titles of |fold-in score − training-time score| relative to the largest score,
 * over every 7th training member (the model must keep W: keep_members=1). */
static double foldin_gap(const mq_model *m, const mq_dataset *d, mq_err *err)
{
    int64_t nw, nh;
    const float *W = mq__model_get(m, "W", MQ__A_F32, &nw, err);
    const float *H = mq__model_get(m, "H", MQ__A_F32, &nh, err);
    if (!W || !H) return 1e9;
    int kp = (int)(nh / d->n_titles);
    float *s = malloc((size_t)d->n_titles * sizeof *s);
    double worst = 0;
    for (int32_t u = 0; u < d->n_members; u += 7) {
        if (mq_model_score(m, d->m_idx + d->m_ptr[u], NULL, (int)(d->m_ptr[u + 1] - d->m_ptr[u]), s, err)) {
            worst = 1e9;
            break;
        }
        double mx = 1e-12, gap = 0;
        for (int32_t t = 0; t < d->n_titles; t++) {
            double y = mq__dot(W + (size_t)u * kp, H + (size_t)t * kp, kp);
            mx = fmax(mx, fabs(y));
            gap = fmax(gap, fabs(y - s[t]));
        }
        worst = fmax(worst, gap / mx);
    }
    free(s);
    return worst;
}

MQ_TEST(models_ials_loss_decreases_and_foldin_equals_training)
{
    mq_dataset *d = ml100k();
    if (!d) MQ_SKIP("../shared/data/ml-100k/u.data is absent");
    mq_err err;
    losses L = {0};
    mq_log lg = {collect_loss, &L};
    const char *pr[] = {"factors=16", "epochs=6", "solver=exact", "reg=0.01", "alpha0=0.1",
                        "keep_members=1"};
    mq_train_opts o; mq_train_opts_init(&o, sizeof o);
    o.params = pr; o.n_params = 6; o.n_threads = 2; o.seed = 7; o.log = &lg;
    mq_model *m = NULL;
    ASSERT_OK(mq_model_train("ials", d, &o, &m, &err), &err);
    ASSERT_INT_EQ(L.n, 6);
    /* ALS never increases the loss: each half-step minimizes it exactly in one block. Allow
     * float noise of 1e-6 relative. */
    for (int i = 1; i < L.n; i++) ASSERT(L.v[i] <= L.v[i - 1] * (1 + 1e-6));
    ASSERT(L.v[L.n - 1] < 0.9 * L.v[0]);
    /* Exact solver: the fold-in runs the very same solve as the last half-epoch; only the
     * order of float operations in the final dot products differs (1e-5 relative). */
    double gap = foldin_gap(m, d, &err);
    ASSERT(gap < 1e-5);
    mq_model_destroy(m);

    /* CG (3 steps, warm-started): training-time factors are within the CG tolerance of the
     * exact fold-in; after 16 epochs the warm starts have converged to ~1% of the scale. */
    const char *pc[] = {"factors=16", "epochs=16", "reg=0.01", "alpha0=0.1", "keep_members=1"};
    mq_train_opts oc; mq_train_opts_init(&oc, sizeof oc);
    oc.params = pc; oc.n_params = 5; oc.n_threads = 2; oc.seed = 7;
    ASSERT_OK(mq_model_train("ials", d, &oc, &m, &err), &err);
    gap = foldin_gap(m, d, &err);
    if (!(gap < 0.05)) MQ_FAIL_("cg fold-in gap %.4g", gap);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
}

/* NDCG@100 of a model on held-out members (in/out CSR). */
static double ndcg100(const mq_model *m, int32_t nb, const int64_t *ip, const int32_t *ii,
                      const int64_t *op, const int32_t *oi)
{
    int32_t *top = malloc((size_t)nb * 100 * sizeof *top);
    float *sc = malloc((size_t)nb * 100 * sizeof *sc);
    int32_t *cnt = malloc((size_t)nb * sizeof *cnt);
    mq_err err;
    double sum = 0;
    int used = 0;
    if (mq_model_recommend_batch(m, nb, ip, ii, NULL, 100, top, sc, cnt, 2, &err) == 0)
        for (int32_t b = 0; b < nb; b++) {
            int64_t no = op[b + 1] - op[b];
            if (!no) continue;
            double dcg = 0, idcg = 0;
            for (int i = 0; i < cnt[b]; i++)
                for (int64_t j = op[b]; j < op[b + 1]; j++)
                    if (oi[j] == top[(size_t)b * 100 + i]) dcg += 1 / log2(i + 2.0);
            for (int i = 0; i < (no < 100 ? no : 100); i++) idcg += 1 / log2(i + 2.0);
            sum += dcg / idcg;
            used++;
        }
    free(top);
    free(sc);
    free(cnt);
    return used ? sum / used : -1;
}

MQ_TEST(models_ials_quality_matches_numpy)
{
    mq_dataset *d = ml100k();
    if (!d) MQ_SKIP("../shared/data/ml-100k/u.data is absent");
    /* Hold out every 8th member: 80% of their positives as fold-in, the last 20% targets. */
    mq_idmap *mi = mq_idmap_create(), *ti = mq_idmap_create();
    for (int32_t t = 0; t < d->n_titles; t++) {
        const char *id = mq_idmap_name(d->title_ids, t);
        mq_idmap_intern(ti, id, strlen(id));
    }
    mq_interaction *x = malloc((size_t)d->nnz * sizeof *x);
    int64_t n = 0, *ip = calloc((size_t)d->n_members + 1, 8), *op = calloc((size_t)d->n_members + 1, 8);
    int32_t *ii = malloc((size_t)d->nnz * 4), *oi = malloc((size_t)d->nnz * 4), nb = 0;
    const char *dir = subdir("ials");
    char p[8192];
    snprintf(p, sizeof p, "%s/test_in.txt", dir);
    FILE *fi = fopen(p, "w");
    snprintf(p, sizeof p, "%s/test_out.txt", dir);
    FILE *fo = fopen(p, "w");
    for (int32_t u = 0; u < d->n_members; u++) {
        int64_t b = d->m_ptr[u], len = d->m_ptr[u + 1] - b;
        if (u % 8 == 0 && len >= 5) {
            ip[nb + 1] = ip[nb];
            op[nb + 1] = op[nb];
            for (int64_t e = 0; e < len; e++) {
                /* Interleave: every 5th title is a target. */
                if (e % 5 == 4) {
                    oi[op[nb + 1]++] = d->m_idx[b + e];
                    fprintf(fo, "%d %d\n", nb, d->m_idx[b + e]);
                } else {
                    ii[ip[nb + 1]++] = d->m_idx[b + e];
                    fprintf(fi, "%d %d\n", nb, d->m_idx[b + e]);
                }
            }
            nb++;
            continue;
        }
        const char *id = mq_idmap_name(d->member_ids, u);
        int32_t m = mq_idmap_intern(mi, id, strlen(id));
        for (int64_t e = b; e < b + len; e++) x[n++] = (mq_interaction){m, d->m_idx[e], 1, 0, 0};
    }
    fclose(fi);
    fclose(fo);
    mq_dataset *tr = NULL;
    mq_err err;
    ASSERT_OK(mq_dataset_build(x, n, mi, ti, &tr, &err), &err);
    free(x);
    write_train(tr, dir);
    snprintf(p, sizeof p, "%s/c_ndcg.txt", dir);
    FILE *fc = fopen(p, "w");
    for (uint64_t seed = 1; seed <= 3; seed++) {
        const char *pr[] = {"factors=32", "epochs=8", "reg=0.01", "alpha0=0.1"};
        mq_model *m = train("ials", tr, pr, 4, 2, seed, &err);
        ASSERT(m);
        fprintf(fc, "%.6f\n", ndcg100(m, nb, ip, ii, op, oi));
        mq_model_destroy(m);
    }
    fclose(fc);
    free(ip); free(op); free(ii); free(oi);
    mq_dataset_destroy(tr);
    mq_dataset_destroy(d);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/models_ref.py ials %s 32 0.01 0.1 8", dir), 0);
}

/* ---- artifacts, determinism, filters, explanations --------------------------------------- */

static bool same_scores(const mq_model *a, const mq_model *b, const mq_dataset *d)
{
    float *sa = malloc((size_t)d->n_titles * sizeof *sa), *sb = malloc((size_t)d->n_titles * sizeof *sb);
    mq_err err;
    bool same = true;
    for (int32_t u = 0; u < d->n_members && same; u += 5) {
        const int32_t *h = d->m_idx + d->m_ptr[u];
        int n = (int)(d->m_ptr[u + 1] - d->m_ptr[u]);
        if (mq_model_score(a, h, NULL, n, sa, &err) || mq_model_score(b, h, NULL, n, sb, &err) ||
            memcmp(sa, sb, (size_t)d->n_titles * sizeof *sa) != 0)
            same = false;
    }
    free(sa);
    free(sb);
    return same;
}

static const char *all_kinds[] = {"pop",  "trending", "itemknn", "ease",
                                  "dlae", "ials",     "content", "hybrid", "ranker"};

/* The registry (mq_model_kinds) lists exactly the kinds that train, in this order; the text
 * form joins the same names; anything else is not a kind (and fails to train). */
MQ_TEST(models_registry_lists_every_kind_once)
{
    const char *const *k = mq_model_kinds();
    size_t n = 0;
    char joined[256] = "";
    for (; k[n]; n++) {
        ASSERT(n < sizeof all_kinds / sizeof all_kinds[0]);
        ASSERT_STR_EQ(k[n], all_kinds[n]);
        ASSERT(mq_model_kind_valid(k[n]));
        snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s", n ? ", " : "", k[n]);
    }
    ASSERT_INT_EQ((long)n, (long)(sizeof all_kinds / sizeof all_kinds[0]));
    ASSERT_STR_EQ(mq_model_kinds_text(), joined);
    ASSERT(!mq_model_kind_valid("eas"));
    ASSERT(!mq_model_kind_valid(""));
    ASSERT(!mq_model_kind_valid(NULL));
    mq_dataset *d = synth(50, 20, 3);
    mq_err err = {0};
    mq_model *m = train("eas", d, NULL, 0, 1, 1, &err);
    ASSERT(m == NULL);
    ASSERT_INT_EQ(err.code, MQ_EINVAL);
    ASSERT(strstr(err.msg, joined) != NULL);
    mq_dataset_destroy(d);
}

/* mq_model_check_params refuses, without data, exactly what mq_model_train refuses: each case
 * is checked both ways (same code, same message) on a small synthetic dataset; every kind
 * accepts its defaults. */
MQ_TEST(models_check_params_agrees_with_train)
{
    mq_err err = {0}, err2 = {0};
    for (const char *const *k = mq_model_kinds(); *k; k++) ASSERT_OK(mq_model_check_params(*k, NULL, &err), &err);
    static const struct { const char *kind, *p[2]; int np, code; const char *msg; } cases[] = {
        {"ease", {"lambda=abc"}, 1, MQ_EINVAL, "ease: parameter 'lambda': 'abc' is not a number"},
        {"ease", {"lambda=-1"}, 1, MQ_ERANGE, "ease: parameter 'lambda': -1 is out of range"},
        {"dlae", {"dropout=1"}, 1, MQ_ERANGE, "dlae: parameter 'dropout': 1 is out of range"},
        {"ease", {"dropout=0.5"}, 1, MQ_EINVAL, "ease: unknown parameter 'dropout'"},
        {"ials", {"factors=-3"}, 1, MQ_ERANGE, "ials: parameter 'factors': -3 is out of range"},
        {"ials", {"solver=lu"}, 1, MQ_EINVAL, "ials: parameter 'solver': 'lu'"},
        {"itemknn", {"k=0"}, 1, MQ_ERANGE, "itemknn: parameter 'k': 0 is out of range"},
        {"pop", {"k=1"}, 1, MQ_EINVAL, "pop: unknown parameter 'k'"},
        {"trending", {"half_life=0"}, 1, MQ_ERANGE, "trending: parameter 'half_life'"},
        {"content", {"tag_weight=x"}, 1, MQ_EINVAL, "content: parameter 'tag_weight': 'x'"},
        {"hybrid", {"base=ials", "factors=0"}, 2, MQ_ERANGE, "ials: parameter 'factors': 0 is out of range"},
        {"hybrid", {"base=pop"}, 1, MQ_EINVAL, "hybrid: parameter 'base': 'pop'"},
        {"ranker", {"ials.reg=x"}, 1, MQ_EINVAL, "ials: parameter 'reg': 'x' is not a number"},
        {"ranker", {"depth=99"}, 1, MQ_ERANGE, "ranker: parameter 'depth': 99 is out of range"},
        {"eas", {NULL}, 0, MQ_EINVAL, "unknown model 'eas'"},
    };
    mq_dataset *d = synth(60, 25, 5);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mq_train_opts o; mq_train_opts_init(&o, sizeof o);
        o.params = cases[i].p; o.n_params = cases[i].np; o.n_threads = 1; o.seed = 1;
        int rc = mq_model_check_params(cases[i].kind, &o, &err);
        if (rc != cases[i].code || !strstr(err.msg, cases[i].msg))
            MQ_FAIL_("check %s %s: rc %d (want %d): %s", cases[i].kind, cases[i].p[0] ? cases[i].p[0] : "",
                     rc, cases[i].code, err.msg);
        mq_model *m = NULL;
        int rc2 = mq_model_train(cases[i].kind, d, &o, &m, &err2);
        mq_model_destroy(m);
        ASSERT_INT_EQ(rc2, rc);
        ASSERT_STR_EQ(err2.msg, err.msg);
    }
    mq_dataset_destroy(d);
}

MQ_TEST(models_artifacts_round_trip_and_reject_damage)
{
    mq_dataset *d = synth(300, 120, 3);
    ASSERT(d);
    mq_err err;
    for (size_t k = 0; k < sizeof all_kinds / sizeof all_kinds[0]; k++) {
        const char *pr[] = {"prune=20"};
        /* The ranker at a small size: its artifact has every section kind all the same. */
        const char *rk[] = {"top=30", "windows=3", "label_frac=0.15", "rounds=12"};
        bool isr = strcmp(all_kinds[k], "ranker") == 0;
        int np = strcmp(all_kinds[k], "ease") == 0 || strcmp(all_kinds[k], "dlae") == 0 ? 1 : 0;
        mq_model *m = train(all_kinds[k], d, isr ? rk : pr, isr ? 4 : np, 2, 5, &err);
        if (!m) MQ_FAIL_("train %s: %s", all_kinds[k], err.msg);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.mqm", mq_test_tmpdir(), all_kinds[k]);
        ASSERT_OK(mq_model_save(m, path, &err), &err);
        mq_model *l = NULL;
        ASSERT_OK(mq_model_load(path, &l, &err), &err);
        ASSERT_STR_EQ(mq_model_kind(l), all_kinds[k]);
        ASSERT_STR_EQ(mq_model_params(l), mq_model_params(m));
        ASSERT_INT_EQ(mq_model_n_titles(l), d->n_titles);
        ASSERT_STR_EQ(mq_model_title_id(l, 17), "t17");
        ASSERT_INT_EQ(mq_model_title_index(l, "t42"), 42);
        ASSERT_INT_EQ(mq_model_catalog(l)->n_genres, 3);
        ASSERT_STR_EQ(mq_model_catalog(l)->genre_names[2], "Drama");
        ASSERT_INT_EQ((long long)mq_model_catalog(l)->genres[5], 4);
        if (!same_scores(m, l, d)) MQ_FAIL_("%s: loaded scores differ", all_kinds[k]);
        mq_model_destroy(l);
        mq_model_destroy(m);

        /* Damage: flip one byte in the header, the table, and the last section; truncate. */
        struct stat st;
        ASSERT(stat(path, &st) == 0);
        long offs[] = {3, 20, 70, (long)st.st_size - 70};
        for (size_t i = 0; i < 4; i++) {
            char bad[8192];
            snprintf(bad, sizeof bad, "%s.bad", path);
            ASSERT_INT_EQ(mq_test_sh("cp %s %s && printf '\\377' | dd of=%s bs=1 seek=%ld conv=notrunc status=none",
                                     path, bad, bad, offs[i]), 0);
            int rc = mq_model_load(bad, &l, &err);
            if (rc != MQ_ECORRUPT && rc != MQ_EFORMAT)
                MQ_FAIL_("%s: flipped byte at %ld: rc %d (%s)", all_kinds[k], offs[i], rc, err.msg);
            ASSERT(l == NULL);
        }
        char tr[8192];
        snprintf(tr, sizeof tr, "%s.trunc", path);
        ASSERT_INT_EQ(mq_test_sh("head -c %ld %s > %s", (long)st.st_size - 64, path, tr), 0);
        ASSERT_INT_EQ(mq_model_load(tr, &l, &err), MQ_ECORRUPT);
        ASSERT(strstr(err.msg, "truncated"));
        ASSERT_INT_EQ(mq_test_sh("head -c 10 %s > %s", path, tr), 0);
        ASSERT_INT_EQ(mq_model_load(tr, &l, &err), MQ_ECORRUPT);
    }
    mq_dataset_destroy(d);
}

MQ_TEST(models_deterministic_for_seed_and_threads)
{
    mq_dataset *d = synth(400, 150, 4);
    ASSERT(d);
    mq_err err;
    /* The ranker at a small size (it trains every generator once per window and boosts three
     * heads): still all five default generators (iALS's seeded start included), two threads
     * (XGBoost's per-thread pair sampling), early stopping and the window choice. */
    static const char *const small_ranker[] = {"top=30", "windows=3", "label_frac=0.15",
                                               "rounds=12", "early_stop=4"};
    for (size_t k = 0; k < sizeof all_kinds / sizeof all_kinds[0]; k++) {
        bool rk = strcmp(all_kinds[k], "ranker") == 0;
        const char *const *pp = rk ? small_ranker : NULL;
        int np = rk ? (int)(sizeof small_ranker / sizeof *small_ranker) : 0;
        mq_model *a = train(all_kinds[k], d, pp, np, 2, 11, &err);
        mq_model *b = train(all_kinds[k], d, pp, np, 2, 11, &err);
        ASSERT(a && b);
        if (!same_scores(a, b, d)) MQ_FAIL_("%s: two runs differ", all_kinds[k]);
        mq_model_destroy(b);
        /* Row-parallel trainers give the same result on any thread count. */
        if (strcmp(all_kinds[k], "itemknn") == 0 || strcmp(all_kinds[k], "ease") == 0 ||
            strcmp(all_kinds[k], "dlae") == 0) {
            b = train(all_kinds[k], d, NULL, 0, 1, 11, &err);
            ASSERT(b);
            if (!same_scores(a, b, d)) MQ_FAIL_("%s: 1 vs 2 threads differ", all_kinds[k]);
            mq_model_destroy(b);
        }
        mq_model_destroy(a);
    }
    mq_dataset_destroy(d);
}

MQ_TEST(models_filters_and_topk)
{
    mq_dataset *d = synth(300, 90, 6);
    ASSERT(d);
    mq_err err;
    mq_model *m = train("pop", d, NULL, 0, 1, 1, &err);
    ASSERT(m);
    int32_t hist[] = {0, 1, 2}, out[90];
    float sc[90];
    int n = mq_model_recommend(m, hist, NULL, 3, NULL, 90, out, sc, &err);
    ASSERT_INT_EQ(n, 87);   /* seen titles excluded by default */
    for (int i = 0; i < n; i++) {
        ASSERT(out[i] > 2);
        if (i) ASSERT(sc[i] < sc[i - 1] || (sc[i] == sc[i - 1] && out[i] > out[i - 1]));
    }
    int32_t ex[] = {out[0], out[1]};
    int32_t first = out[2];
    mq_filter f; mq_filter_init(&f, sizeof f);
    f.include_seen = true; f.exclude = ex; f.n_exclude = 2; f.genre = 1;
    n = mq_model_recommend(m, hist, NULL, 3, &f, 90, out, sc, &err);
    ASSERT_INT_EQ(n, 30 - (int)((ex[0] % 3 == 1) + (ex[1] % 3 == 1)));
    for (int i = 0; i < n; i++) {
        ASSERT_INT_EQ(out[i] % 3, 1);
        ASSERT(out[i] != ex[0] && out[i] != ex[1]);
    }
    (void)first;
    f.genre = 7;
    ASSERT_INT_EQ(mq_model_recommend(m, hist, NULL, 3, &f, 5, out, sc, &err), MQ_EINVAL);
    int32_t badh[] = {500};
    ASSERT_INT_EQ(mq_model_recommend(m, badh, NULL, 1, NULL, 5, out, sc, &err), MQ_EINVAL);
    const char *bad[] = {"nope=1"};
    mq_model *x = train("ease", d, bad, 1, 1, 1, &err);
    ASSERT(!x);
    ASSERT(strstr(err.msg, "unknown parameter 'nope'"));
    const char *bad2[] = {"lambda=abc"};
    ASSERT(!train("ease", d, bad2, 1, 1, 1, &err));
    ASSERT(strstr(err.msg, "'abc' is not a number"));
    ASSERT(!train("nosuch", d, NULL, 0, 1, 1, &err));
    mq_model_destroy(m);

    /* A batch of members gives the same lists as one by one. */
    m = train("ease", d, NULL, 0, 2, 1, &err);
    ASSERT(m);
    int32_t nb = 20, bt[20 * 10], cnt[20], one[10];
    float bs[20 * 10], os[10];
    ASSERT_OK(mq_model_recommend_batch(m, nb, d->m_ptr, d->m_idx, NULL, 10, bt, bs, cnt, 2, &err), &err);
    for (int32_t u = 0; u < nb; u++) {
        int c = mq_model_recommend(m, d->m_idx + d->m_ptr[u], NULL, (int)(d->m_ptr[u + 1] - d->m_ptr[u]), NULL, 10, one, os, &err);
        ASSERT_INT_EQ(c, cnt[u]);
        ASSERT(memcmp(one, bt + u * 10, (size_t)c * sizeof *one) == 0);
    }
    mq_model_destroy(m);
    mq_dataset_destroy(d);
}

MQ_TEST(models_explanations_sum_to_scores)
{
    mq_dataset *d = synth(400, 100, 8);
    ASSERT(d);
    mq_err err;
    const char *kinds[] = {"itemknn", "ease", "ials"};
    for (int k = 0; k < 3; k++) {
        mq_model *m = train(kinds[k], d, NULL, 0, 2, 3, &err);
        ASSERT(m);
        const int32_t *h = d->m_idx + d->m_ptr[10];
        int nh = (int)(d->m_ptr[11] - d->m_ptr[10]);
        int32_t top[5], et[64];
        float ts[5], ew[64];
        ASSERT_INT_EQ(mq_model_recommend(m, h, NULL, nh, NULL, 5, top, ts, &err), 5);
        /* All positive contributions of the top title; since the score is the sum of all
         * contributions (Hu et al. 2008 for ials), the positive ones sum to >= the score. */
        int c = mq_model_explain(m, h, NULL, nh, top[0], 64, et, ew, &err);
        ASSERT(c > 0);
        double sum = 0;
        for (int i = 0; i < c; i++) {
            sum += ew[i];
            if (i) ASSERT(ew[i] <= ew[i - 1]);
        }
        ASSERT(sum >= ts[0] - 1e-4 * fabs(ts[0]));
        /* Exactly: the full contribution vector sums to the score. */
        float *w = malloc((size_t)nh * sizeof *w);
        ASSERT_OK(m->ops->contrib(m, h, NULL, nh, top[0], w, &err), &err);
        double all = 0;
        for (int i = 0; i < nh; i++) all += w[i];
        free(w);
        /* float sums of ~10 terms: 1e-4 relative (ials: a double solve vs a float one). */
        ASSERT_NEAR(all, ts[0], 1e-4 * fabs(ts[0]) + 1e-6);
        int32_t st[5];
        float ss[5];
        int ns = mq_model_similar(m, top[0], 5, st, ss, &err);
        ASSERT(ns > 0);
        for (int i = 0; i < ns; i++) ASSERT(st[i] != top[0]);
        mq_model_destroy(m);
    }
    mq_dataset_destroy(d);
}

/* ---- the commands --------------------------------------------------------------------------- */

MQ_TEST(models_cli_train_and_recommend)
{
    const char *data = mq_test_shared("ml-100k/u.data");
    if (!data) MQ_SKIP("../shared/data/ml-100k/u.data is absent");
    const char *bin = mq_test_bin(), *dir = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("%s train --help | grep -q 'usage: marquee train'", bin), 0);
    ASSERT_INT_EQ(mq_test_sh("%s recommend --help | grep -q 'usage: marquee recommend'", bin), 0);
    ASSERT_INT_EQ(mq_test_sh("%s train --data %s --model ease --param ease.lambda=150 --out %s/e.mqm "
                             "--threads 2 > %s/train.out", bin, data, dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q 'lambda=150' %s/train.out", dir), 0);
    /* Member 196's history from the data; JSON with explanations; seen titles excluded. */
    ASSERT_INT_EQ(mq_test_sh("%s recommend --model %s/e.mqm --member 196 --data %s -n 7 --explain "
                             "--json > %s/rec.json", bin, dir, data, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 -c \"import json,sys; r=json.load(open('%s/rec.json')); "
                             "seen={l.split()[1] for l in open('%s') if l.split()[0]=='196' and float(l.split()[2])>=4}; "
                             "ids=[i['title'] for i in r['items']]; "
                             "sys.exit(0 if len(ids)==7 and not seen & set(ids) and r['model']=='ease' and "
                             "all(i['because'] for i in r['items']) else 1)\"", dir, data), 0);
    /* Fold-in history, genre filter (Comedy), exclusions. */
    ASSERT_INT_EQ(mq_test_sh("%s recommend --model %s/e.mqm --history 50,172,181 --genre comedy "
                             "--exclude 1 -n 3 --json | grep -q '\"rank\": 3'", bin, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s recommend --model %s/e.mqm --similar 50 -n 3 | grep -c . | grep -q 3", bin, dir), 0);
    /* Usage errors exit 2, failures exit 1 with a clear message. */
    ASSERT_INT_EQ(mq_test_sh("%s train --data %s --model ease --out %s/x.mqm --param nolambda 2>/dev/null", bin, data, dir), 2);
    ASSERT_INT_EQ(mq_test_sh("%s train --data %s --model ease --out %s/x.mqm --param ials.factors=3 2>/dev/null", bin, data, dir), 2);
    /* an unknown parameter name is a usage error too, found before the data is read */
    ASSERT_INT_EQ(mq_test_sh("%s train --data %s --model ease --out %s/x.mqm --param bogus=1 2>%s/err.txt", bin, data, dir, dir), 2);
    ASSERT_INT_EQ(mq_test_sh("grep -q \"unknown parameter 'bogus'\" %s/err.txt", dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s recommend --model %s/e.mqm --history 50,nosuch 2>/dev/null", bin, dir), 2);
    ASSERT_INT_EQ(mq_test_sh("%s recommend --model %s/e.mqm --history 50 --genre nosuch 2>/dev/null", bin, dir), 2);
    ASSERT_INT_EQ(mq_test_sh("head -c 1000 %s/e.mqm > %s/t.mqm; %s recommend --model %s/t.mqm --history 50 2>%s/err2.txt",
                             dir, dir, bin, dir, dir), 1);
    ASSERT_INT_EQ(mq_test_sh("grep -q 'truncated' %s/err2.txt", dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s recommend --model %s/nonexistent.mqm --history 50 2>/dev/null", bin, dir), 1);
}

MQ_TEST(models_content_equals_numpy)
{
    const char *path = mq_test_shared("ml-latest-small/ratings.csv");
    if (!path) MQ_SKIP("../shared/data/ml-latest-small is absent");
    char dirpath[1024];
    snprintf(dirpath, sizeof dirpath, "%s", path);
    *strrchr(dirpath, '/') = 0;
    mq_load_opts lo; mq_load_opts_init(&lo, sizeof lo);
    mq_dataset *raw = NULL, *d = NULL;
    mq_err err;
    ASSERT_OK(mq_data_open(dirpath, &lo, &raw, &err), &err);
    ASSERT_OK(mq_dataset_binarize(raw, 4, 1, &d, &err), &err);
    mq_dataset_destroy(raw);
    ASSERT(d->catalog.n_genres > 5 && d->catalog.n_tags > 100);
    mq_model *m = train("content", d, NULL, 0, 2, 1, &err);
    ASSERT(m);
    const char *dir = subdir("content");
    write_train(d, dir);
    ASSERT_OK(write_scores(m, d, dir, &err), &err);
    char p[8192];
    snprintf(p, sizeof p, "%s/features.txt", dir);
    FILE *f = fopen(p, "w");
    const mq_catalog *c = &d->catalog;
    for (int32_t t = 0; t < d->n_titles; t++) {
        for (int g = 0; g < c->n_genres; g++)
            if (c->genres[t] >> g & 1) fprintf(f, "%d %d 0\n", t, g);
        for (int64_t q = c->tag_ptr[t]; q < c->tag_ptr[t + 1]; q++)
            fprintf(f, "%d %d %.9g\n", t, c->n_genres + c->tag_ids[q], c->tag_counts ? c->tag_counts[q] : 1.0);
    }
    fclose(f);
    snprintf(p, sizeof p, "%s/n_genres.txt", dir);
    f = fopen(p, "w");
    fprintf(f, "%d\n", c->n_genres);
    fclose(f);
    /* Cold start: a title with metadata and no positives still gets a content score. */
    int32_t cold = -1;
    for (int32_t t = 0; t < d->n_titles && cold < 0; t++)
        if (d->t_ptr[t + 1] == d->t_ptr[t] && c->genres[t]) cold = t;
    if (cold >= 0) {
        float *s = malloc((size_t)d->n_titles * sizeof *s);
        ASSERT_OK(mq_model_score(m, d->m_idx, NULL, (int)(d->m_ptr[1] - d->m_ptr[0]), s, &err), &err);
        float sc = s[cold];
        free(s);
        ASSERT(sc >= 0);
    }
    mq_model_destroy(m);
    mq_dataset_destroy(d);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/models_ref.py content %s", dir), 0);
}

MQ_TEST(models_trending_closed_form)
{
    mq_dataset *d = synth(200, 50, 9);
    ASSERT(d);
    mq_err err;
    const char *pr[] = {"half_life=2.5"};
    mq_model *m = train("trending", d, pr, 1, 1, 1, &err);
    ASSERT(m);
    int64_t tmax = 0;
    for (int64_t e = 0; e < d->nnz; e++) tmax = d->t_time[e] > tmax ? d->t_time[e] : tmax;
    float *s = malloc((size_t)d->n_titles * sizeof *s);
    ASSERT_OK(mq_model_score(m, NULL, NULL, 0, s, &err), &err);
    for (int32_t t = 0; t < d->n_titles; t++) {
        double want = 0;
        for (int64_t e = d->t_ptr[t]; e < d->t_ptr[t + 1]; e++)
            want += pow(0.5, (double)(tmax - d->t_time[e]) / (2.5 * 86400));
        /* float storage of a sum of <= 200 terms: 1e-6 relative. */
        ASSERT_NEAR(s[t], want, 1e-6 * want + 1e-12);
    }
    free(s);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
}

MQ_TEST(models_artifact_every_flip_is_caught)
{
    /* Every byte of a model file is covered by a checksum or must be zero padding: flipping
     * any one of them (here: 300 positions spread over a hybrid model file) is an error. */
    mq_dataset *d = synth(150, 60, 12);
    ASSERT(d);
    mq_err err;
    mq_model *m = train("hybrid", d, NULL, 0, 1, 2, &err);
    ASSERT(m);
    char path[2048], bad[2100];
    snprintf(path, sizeof path, "%s/h.mqm", mq_test_tmpdir());
    snprintf(bad, sizeof bad, "%s.flip", path);
    ASSERT_OK(mq_model_save(m, path, &err), &err);
    mq_model_destroy(m);
    FILE *f = fopen(path, "rb");
    ASSERT(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len);
    ASSERT(fread(buf, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    for (int i = 0; i < 300; i++) {
        long pos = (long)((double)i / 300 * len);
        buf[pos] ^= 0x10;
        FILE *o = fopen(bad, "wb");
        fwrite(buf, 1, (size_t)len, o);
        fclose(o);
        buf[pos] ^= 0x10;
        mq_model *l = NULL;
        int rc = mq_model_load(bad, &l, &err);
        if (rc == 0) {
            mq_model_destroy(l);
            free(buf);
            MQ_FAIL_("flip at byte %ld of %ld was not detected", pos, len);
        }
        ASSERT(rc == MQ_ECORRUPT || rc == MQ_EFORMAT || rc == MQ_EUNSUP);
    }
    free(buf);
    mq_dataset_destroy(d);
}

MQ_TEST(models_ease_pruned_matches_dense)
{
    mq_dataset *d = synth(300, 80, 13);
    ASSERT(d);
    mq_err err;
    const char *full[] = {"lambda=50", "prune=79"}, *few[] = {"lambda=50", "prune=5"};
    const char *dense_p[] = {"lambda=50"};
    mq_model *dn = train("ease", d, dense_p, 1, 2, 1, &err);
    mq_model *pf = train("ease", d, full, 2, 2, 1, &err);
    mq_model *p5 = train("ease", d, few, 2, 2, 1, &err);
    ASSERT(dn && pf && p5);
    int64_t nB;
    const float *B = mq__model_get(dn, "B", MQ__A_F32, &nB, &err);
    ASSERT(B);
    /* Every title of this set is active, so the compact B is the full 80 x 80 matrix. */
    ASSERT_INT_EQ(nB, 80 * 80);
    float s1[80], s2[80];
    for (int32_t u = 0; u < 40; u++) {
        const int32_t *h = d->m_idx + d->m_ptr[u];
        int n = (int)(d->m_ptr[u + 1] - d->m_ptr[u]);
        ASSERT_OK(mq_model_score(dn, h, NULL, n, s1, &err), &err);
        ASSERT_OK(mq_model_score(pf, h, NULL, n, s2, &err), &err);
        /* Same terms, same order; only FMA contraction may differ: 1e-6 relative. */
        for (int t = 0; t < 80; t++) ASSERT_NEAR(s1[t], s2[t], 1e-6 * (fabs(s1[t]) + 1e-6));
    }
    /* prune=5 keeps, for each title, its 5 largest |B_ij| with their exact values. */
    for (int32_t i = 0; i < 80; i++) {
        int32_t tj[5];
        float tv[5];
        int c = 0;
        float row[80];
        ASSERT_OK(mq_model_score(p5, &i, NULL, 1, row, &err), &err);
        for (int j = 0; j < 80; j++)
            if (row[j] != 0) {
                ASSERT(c < 5);
                tj[c] = j;
                tv[c++] = row[j];
            }
        for (int q = 0; q < c; q++) {
            ASSERT(tv[q] == B[(size_t)i * 80 + tj[q]]);
            int larger = 0;
            for (int j = 0; j < 80; j++) larger += fabsf(B[(size_t)i * 80 + j]) > fabsf(tv[q]);
            ASSERT(larger < 5);
        }
    }
    mq_model_destroy(dn);
    mq_model_destroy(pf);
    mq_model_destroy(p5);
    mq_dataset_destroy(d);
}

/* The compact EASE layout ("map" i32 [n] + "B" [na x na]) against the legacy dense layout
 * ("B" [n x n] with zero rows/columns for titles nobody watched, no "map") built from the same
 * fit: scores must be bit-for-bit equal (the compact sum is the same axpy sequence over the
 * active columns; inactive titles are +0 in both), before and after a save/load round trip,
 * and explanations and similar-title lists must agree. A damaged map is rejected. */
MQ_TEST(models_ease_compact_equals_legacy_dense)
{
    /* 600 titles drawn with a z^2 skew by 300 members: the least popular titles go unwatched. */
    mq_dataset *d = synth(300, 600, 21);
    ASSERT(d);
    int32_t n = d->n_titles, na = 0;
    for (int32_t t = 0; t < n; t++) na += d->t_ptr[t + 1] > d->t_ptr[t];
    ASSERT(na < n && na > 100);
    mq_err err;
    const char *pr[] = {"lambda=30"};
    mq_model *m = train("ease", d, pr, 1, 2, 1, &err);
    ASSERT(m);
    int64_t cm, cb;
    const int32_t *map = mq__model_get(m, "map", MQ__A_I32, &cm, &err);
    const float *B = mq__model_get(m, "B", MQ__A_F32, &cb, &err);
    ASSERT(map && B);
    ASSERT_INT_EQ(cm, n);
    ASSERT_INT_EQ(cb, (int64_t)na * na);

    /* The legacy artifact: same kind, params, titles; B expanded to n x n. */
    mq_model *old = NULL;
    ASSERT_OK(mq__model_new("ease", d, &old, &err), &err);
    snprintf(old->params, sizeof old->params, "%s", m->params);
    float *F = mq__alloc((size_t)n * n, sizeof *F);
    ASSERT(F);
    for (int32_t i = 0; i < n; i++)
        for (int32_t j = 0; j < n; j++)
            if (map[i] >= 0 && map[j] >= 0) F[(size_t)i * n + j] = B[(size_t)map[i] * na + map[j]];
    ASSERT_OK(mq__model_add(old, "B", MQ__A_F32, (int64_t)n * n, F, &err), &err);
    ASSERT_OK(mq__model_bind(old, &err), &err);

    char po[4096], pn[4096];
    snprintf(po, sizeof po, "%s/ease_legacy.mqm", mq_test_tmpdir());
    snprintf(pn, sizeof pn, "%s/ease_compact.mqm", mq_test_tmpdir());
    ASSERT_OK(mq_model_save(old, po, &err), &err);
    ASSERT_OK(mq_model_save(m, pn, &err), &err);
    mq_model *lo = NULL, *ln = NULL;
    ASSERT_OK(mq_model_load(po, &lo, &err), &err);
    ASSERT_OK(mq_model_load(pn, &ln, &err), &err);
    struct stat so, sn;
    ASSERT(stat(po, &so) == 0 && stat(pn, &sn) == 0);
    ASSERT(sn.st_size < so.st_size);   /* the point of the layout */

    mq_model *all[] = {m, old, lo, ln};
    float *s0 = malloc((size_t)n * sizeof *s0), *s1 = malloc((size_t)n * sizeof *s1);
    /* Every member's history, plus histories with inactive titles and weights (hist_val). */
    for (int32_t u = 0; u <= d->n_members; u++) {
        int32_t hx[4] = {n - 1, 0, n - 2, 1};
        float hv[4] = {1.5f, -0.5f, 2.0f, 0.25f};
        const int32_t *h = u < d->n_members ? d->m_idx + d->m_ptr[u] : hx;
        int nh = u < d->n_members ? (int)(d->m_ptr[u + 1] - d->m_ptr[u]) : 4;
        const float *v = u < d->n_members ? NULL : hv;
        ASSERT_OK(mq_model_score(old, h, v, nh, s0, &err), &err);
        for (int k = 0; k < 4; k++) {
            ASSERT_OK(mq_model_score(all[k], h, v, nh, s1, &err), &err);
            if (memcmp(s0, s1, (size_t)n * sizeof *s0) != 0) MQ_FAIL_("member %d, model %d: scores differ", u, k);
        }
        for (int32_t t = 0; t < n; t++)
            if (map[t] < 0 && (s1[t] != 0 || signbit(s1[t]))) MQ_FAIL_("inactive title %d scored %g", t, s1[t]);
    }
    /* Batched scoring (the eval path) equals the dense one too. */
    int32_t nb = 50;
    float *b0 = malloc((size_t)nb * n * sizeof *b0), *b1 = malloc((size_t)nb * n * sizeof *b1);
    ASSERT_OK(mq_model_score_batch(lo, nb, d->m_ptr, d->m_idx, b0, 2, &err), &err);
    ASSERT_OK(mq_model_score_batch(ln, nb, d->m_ptr, d->m_idx, b1, 2, &err), &err);
    ASSERT(memcmp(b0, b1, (size_t)nb * n * sizeof *b0) == 0);
    free(b0);
    free(b1);
    /* Explanations and similar titles, including an inactive title. */
    int32_t inactive = -1;
    for (int32_t t = 0; t < n && inactive < 0; t++)
        if (map[t] < 0) inactive = t;
    for (int32_t t = 0; t < n; t += 37) {
        int32_t o0[10], o1[10];
        float v0[10], v1[10];
        int c0 = mq_model_similar(lo, t, 10, o0, v0, &err), c1 = mq_model_similar(ln, t, 10, o1, v1, &err);
        ASSERT_INT_EQ(c0, c1);
        ASSERT(c0 < 0 || (memcmp(o0, o1, (size_t)c0 * sizeof *o0) == 0 && memcmp(v0, v1, (size_t)c0 * sizeof *v0) == 0));
        const int32_t *h = d->m_idx + d->m_ptr[t % d->n_members];
        int nh = (int)(d->m_ptr[t % d->n_members + 1] - d->m_ptr[t % d->n_members]);
        c0 = mq_model_explain(lo, h, NULL, nh, t, 10, o0, v0, &err);
        c1 = mq_model_explain(ln, h, NULL, nh, t, 10, o1, v1, &err);
        ASSERT_INT_EQ(c0, c1);
        ASSERT(c0 < 0 || (memcmp(o0, o1, (size_t)c0 * sizeof *o0) == 0 && memcmp(v0, v1, (size_t)c0 * sizeof *v0) == 0));
    }
    int32_t so0[5], so1[5];
    float sv0[5], sv1[5];
    int c0 = mq_model_similar(lo, inactive, 5, so0, sv0, &err), c1 = mq_model_similar(ln, inactive, 5, so1, sv1, &err);
    ASSERT_INT_EQ(c0, c1);
    ASSERT(c0 <= 0 || memcmp(sv0, sv1, (size_t)c0 * sizeof *sv0) == 0);
    free(s0);
    free(s1);

    /* A map that does not number the active titles in order is rejected at bind. */
    mq_model *bad = NULL;
    ASSERT_OK(mq__model_new("ease", d, &bad, &err), &err);
    snprintf(bad->params, sizeof bad->params, "%s", m->params);
    int32_t *bm = mq__alloc((size_t)n, sizeof *bm);
    float *bB = mq__alloc((size_t)na * na, sizeof *bB);
    ASSERT(bm && bB);
    memcpy(bm, map, (size_t)n * sizeof *bm);
    for (int32_t t = 0; t < n; t++)
        if (bm[t] == 1) bm[t] = na;   /* out of range, out of order */
    ASSERT_OK(mq__model_add(bad, "map", MQ__A_I32, n, bm, &err), &err);
    ASSERT_OK(mq__model_add(bad, "B", MQ__A_F32, (int64_t)na * na, bB, &err), &err);
    ASSERT_INT_EQ(mq__model_bind(bad, &err), MQ_ECORRUPT);
    ASSERT(strstr(err.msg, "map["));
    mq_model_destroy(bad);

    mq_model_destroy(lo);
    mq_model_destroy(ln);
    mq_model_destroy(old);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
}

static int cmp_float_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* mq_model_score_top's contract on a real model: every title that is among the best `top`
 * exact scores (ties included) gets its mq_model_score value bit for bit; every other title a
 * value at most its exact score and strictly below the top-th best. Also that it prunes: on
 * ml-100k with 64 factors most titles are not scored exactly (counted, not timed). */
MQ_TEST(models_ials_score_top_is_exact_where_it_matters)
{
    mq_dataset *d = ml100k();
    if (!d) MQ_SKIP("../shared/data/ml-100k/u.data is absent");
    mq_err err;
    const char *pr[] = {"factors=64", "epochs=4", "reg=0.01", "alpha0=0.1"};
    mq_train_opts o; mq_train_opts_init(&o, sizeof o);
    o.params = pr; o.n_params = 4; o.n_threads = 2; o.seed = 7;
    mq_model *m = NULL;
    ASSERT_OK(mq_model_train("ials", d, &o, &m, &err), &err);
    int32_t n = d->n_titles;
    float *ex = malloc((size_t)n * sizeof *ex), *tp = malloc((size_t)n * sizeof *tp);
    float *sorted = malloc((size_t)n * sizeof *sorted);
    const int tops[] = {1, 20, 100, 500};
    float cut;
    long exact_total = 0, checked = 0;
    for (int32_t u = 0; u < d->n_members; u += 5) {
        const int32_t *h = d->m_idx + d->m_ptr[u];
        int nh = (int)(d->m_ptr[u + 1] - d->m_ptr[u]);
        ASSERT_OK(mq_model_score(m, h, NULL, nh, ex, &err), &err);
        memcpy(sorted, ex, (size_t)n * sizeof *ex);
        qsort(sorted, (size_t)n, sizeof *sorted, cmp_float_desc);
        for (int k = 0; k < 4; k++) {
            ASSERT_OK(mq_model_score_top(m, h, NULL, nh, tops[k], tp, &cut, &err), &err);
            float thr = sorted[tops[k] - 1];
            if (!(cut <= thr)) MQ_FAIL_("member %d top %d: cut %.9g above the top-th %.9g", u, tops[k], cut, thr);
            for (int32_t t = 0; t < n; t++) {
                if (ex[t] >= thr && memcmp(&ex[t], &tp[t], sizeof *tp))
                    MQ_FAIL_("member %d top %d title %d: %.9g, exact %.9g", u, tops[k], t, tp[t], ex[t]);
                if (tp[t] != ex[t] && !(tp[t] <= ex[t] && tp[t] < thr))
                    MQ_FAIL_("member %d top %d title %d: bound %.9g vs exact %.9g, top-th %.9g",
                             u, tops[k], t, tp[t], ex[t], thr);
                exact_total += tp[t] == ex[t];
            }
            checked += n;
        }
    }
    /* top >= n_titles is mq_model_score itself */
    ASSERT_OK(mq_model_score_top(m, d->m_idx, NULL, (int)d->m_ptr[1], n, tp, NULL, &err), &err);
    ASSERT_OK(mq_model_score(m, d->m_idx, NULL, (int)d->m_ptr[1], ex, &err), &err);
    ASSERT(memcmp(tp, ex, (size_t)n * sizeof *ex) == 0);
    /* the int8 scan runs where the CPU has AVX-512 VNNI; elsewhere every title is exact */
#if defined(__x86_64__)
    bool vnni = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
#else
    bool vnni = false;
#endif
    if (vnni && !(exact_total < checked / 2))
        MQ_FAIL_("%ld of %ld scored exactly: no pruning", exact_total, checked);
    free(ex);
    free(tp);
    free(sorted);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
}

/* What a model was trained on is recorded by mq_model_train for every kind, saved with it and
 * read back; a model without the record (an artifact from before it) says MQ_ENOTFOUND. */
MQ_TEST(models_train_info_recorded_and_saved)
{
    mq_dataset *d = synth(300, 120, 3);
    ASSERT(d);
    mq_err err;
    long long now = (long long)time(NULL);
    /* one top-level record for every kind (mq_model_train); three cheap ones, hybrid with subs */
    static const char *const kinds[] = {"pop", "ials", "hybrid"};
    for (size_t k = 0; k < 3; k++) {
        mq_model *m = train(kinds[k], d, NULL, 0, 2, 5, &err);
        if (!m) MQ_FAIL_("train %s: %s", kinds[k], err.msg);
        mq_model_train_info a, b;
        ASSERT_INT_EQ(mq_model_train_info_get(m, &a), 0);
        ASSERT_INT_EQ(a.n_members, d->n_members);
        ASSERT_INT_EQ(a.n_titles, d->n_titles);
        ASSERT_INT_EQ(a.n_interactions, d->nnz);
        ASSERT(a.trained_at >= now - 5 && a.trained_at <= (long long)time(NULL) + 1);
        ASSERT(a.train_seconds >= 0 && a.train_seconds < 600);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.mqm", mq_test_tmpdir(), kinds[k]);
        ASSERT_OK(mq_model_save(m, path, &err), &err);
        mq_model *l = NULL;
        ASSERT_OK(mq_model_load(path, &l, &err), &err);
        ASSERT_INT_EQ(mq_model_train_info_get(l, &b), 0);
        ASSERT(memcmp(&a, &b, sizeof a) == 0);
        mq_model_destroy(l);
        mq_model_destroy(m);
    }
    mq_model *bare;
    ASSERT_OK(mq__model_new("pop", NULL, &bare, &err), &err);
    mq_model_train_info c;
    ASSERT_INT_EQ(mq_model_train_info_get(bare, &c), MQ_ENOTFOUND);
    mq_model_destroy(bare);
    mq_dataset_destroy(d);
}

/* mq_model_explain_many gives mq_model_explain's explanations for many titles at once: the
 * same history titles, weights equal up to float rounding (ials solves A_u z = h_j per history
 * title instead of A_u z = h_t per title: the same quantity h_tᵀ A_u⁻¹ h_j, summed in another
 * order; 1e-4 relative covers float32 factors with k = 16 and a condition number of A_u
 * in the hundreds). Kinds without a batch path loop over mq_model_explain. */
MQ_TEST(models_explain_many_equals_explain)
{
    mq_dataset *d = synth(300, 120, 3);
    ASSERT(d);
    mq_err err;
    static const char *const kinds[] = {"ials", "itemknn", "hybrid"};
    int32_t hist[12];
    for (int i = 0; i < 12; i++) hist[i] = (i * 37 + 5) % d->n_titles;
    for (size_t k = 0; k < 3; k++) {
        mq_model *m = train(kinds[k], d, NULL, 0, 2, 5, &err);
        if (!m) MQ_FAIL_("train %s: %s", kinds[k], err.msg);
        int32_t ts[60], ot[60 * 3], one_t[3];
        float ow[60 * 3], one_w[3];
        int on[60];
        for (int i = 0; i < 60; i++) ts[i] = (i * 11 + 1) % d->n_titles;
        ASSERT_INT_EQ(mq_model_explain_many(m, hist, NULL, 12, ts, 60, 3, ot, ow, on, &err), 0);
        int nonempty = 0;
        for (int i = 0; i < 60; i++) {
            int c = mq_model_explain(m, hist, NULL, 12, ts[i], 3, one_t, one_w, &err);
            ASSERT(c >= 0);
            if (c != on[i]) MQ_FAIL_("%s title %d: %d explanations, many gives %d", kinds[k], ts[i], c, on[i]);
            nonempty += c > 0;
            for (int j = 0; j < c; j++) {
                double tol = 1e-4 * fabs(one_w[j]) + 1e-7;
                ASSERT_NEAR(ow[i * 3 + j], one_w[j], tol);
                /* a different title only where two weights tie within the tolerance */
                if (ot[i * 3 + j] != one_t[j] && !(j + 1 < c && fabs(one_w[j] - one_w[j + 1]) <= 2 * tol) &&
                    !(j > 0 && fabs(one_w[j] - one_w[j - 1]) <= 2 * tol))
                    MQ_FAIL_("%s title %d rank %d: history title %d vs %d", kinds[k], ts[i], j, ot[i * 3 + j], one_t[j]);
            }
        }
        ASSERT(nonempty > 10);
        mq_model_destroy(m);
    }
    mq_dataset_destroy(d);
}
