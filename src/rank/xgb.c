/* xgb.c: the ranker's boosters through XGBoost's C API (Debian libxgboost-dev 1.7).
 *
 * Training: one DMatrix per set (dense rows, NaN = missing, query groups for rank:ndcg), a
 * booster with the configuration's parameters (tree_method hist, deterministic: no row or
 * column subsampling), one XGBoosterUpdateOneIter per round and XGBoosterEvalOneIter on the
 * validation set after it; the rounds after the best validation value are cut off
 * (XGBoosterSlice) once `early_stop` rounds pass without improvement or `rounds` is reached.
 * The booster is returned as UBJSON bytes (XGBoosterSaveModelToBuffer), which the ranker
 * stores as an artifact section (CRC-32C checked on load like every section).
 *
 * Prediction: the bytes are loaded once per model (XGBoosterLoadModelFromBuffer); each call
 * builds a DMatrix of the rows and calls XGBoosterPredictFromDMatrix. XGBoost keeps the output
 * buffer inside the booster, so calls on one booster are serialized by a mutex and the
 * result is copied out before the unlock.
 *
 * Parameters are the same names python3-xgboost takes; tests/ref/rank_ref.py trains with them
 * on the feature file and must reproduce the predictions to 1e-6.
 */
#include "rank/rank.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <xgboost/c_api.h>

/* The trees of a binary:logistic booster compiled for small batches (mq__xgb_predict_dense):
 * nodes of all trees in one array; feat's top bit is default_left (missing goes left); a leaf
 * points to itself both ways (feature 0) and holds its value in cond, so walking a tree's depth
 * in steps from its root ends on the leaf whatever the path: rows walk in lockstep, without
 * branches. */
typedef struct xnode {
    int32_t child[2];           /* [0] right, [1] left: indexed by "goes left", no branch */
    uint32_t feat;
    float cond;
} xnode;
#define XDEFLEFT 0x80000000u
#define XLANES 16       /* rows walked in lockstep */

struct mq__xgb {
    BoosterHandle h;
    pthread_mutex_t lock;
    int n_trees;                /* 0: not compiled (XGBoost predicts) */
    int n_feat;
    int32_t *root;              /* [n_trees] first node of each tree in nodes */
    int32_t *depth;             /* [n_trees] steps from the root to the deepest leaf */
    xnode *nodes;
    float base;                 /* the base margin */
};

static int xerr(mq_err *err, const char *what)
{
    return mq__err_set(err, MQ_EINVAL, "xgboost: %s: %s", what, XGBGetLastError());
}

static int make_dmatrix(const float *x, int64_t n, int n_feat, DMatrixHandle *out, mq_err *err)
{
    if (XGDMatrixCreateFromMat(x, (bst_ulong)n, (bst_ulong)n_feat, NAN, out))
        return xerr(err, "creating a matrix");
    return 0;
}

static int make_train_matrix(const mq__xgb_data *d, DMatrixHandle *out, mq_err *err)
{
    int rc = make_dmatrix(d->x, d->n, d->n_feat, out, err);
    if (rc) return rc;
    if (XGDMatrixSetFloatInfo(*out, "label", d->label, (bst_ulong)d->n)) {
        rc = xerr(err, "setting labels");
        goto fail;
    }
    if (d->groups && XGDMatrixSetUIntInfo(*out, "group", d->groups, (bst_ulong)d->n_groups)) {
        rc = xerr(err, "setting groups");
        goto fail;
    }
    return 0;
fail:
    XGDMatrixFree(*out);
    return rc;
}

/* The value after the last ':' of "[3]\tvalid-ndcg@20:0.51234". */
static double eval_value(const char *s)
{
    const char *c = strrchr(s, ':');
    return c ? strtod(c + 1, NULL) : NAN;
}

int mq__xgb_train(const mq__xgb_cfg *cfg, const mq__xgb_data *tr, const mq__xgb_data *va,
                  uint8_t **model, size_t *len, int *rounds, double *best, mq_err *err)
{
    *model = NULL;
    *len = 0;
    if (tr->n <= 0) return mq__err_set(err, MQ_EINVAL, "ranker: no training rows");
    DMatrixHandle dt = NULL, dv = NULL;
    BoosterHandle b = NULL, cut = NULL;
    int rc = make_train_matrix(tr, &dt, err);
    if (rc) return rc;
    bool has_va = va && va->n > 0;
    if (has_va && (rc = make_train_matrix(va, &dv, err))) goto done;
    DMatrixHandle cache[2] = {dt, dv};
    if (XGBoosterCreate(cache, has_va ? 2 : 1, &b)) {
        rc = xerr(err, "creating a booster");
        goto done;
    }
    char v[64];
    struct { const char *k; char v[160]; } ps[13];
    int np = 0;
#define P(key, ...) do { ps[np].k = key; snprintf(ps[np].v, sizeof ps[np].v, __VA_ARGS__); np++; } while (0)
    P("objective", "%s", cfg->objective);
    P("eval_metric", "%s", cfg->metric);
    P("max_depth", "%d", cfg->depth);
    P("eta", "%.17g", cfg->eta);
    P("min_child_weight", "%.17g", cfg->min_child_weight);
    P("lambda", "%.17g", cfg->lambda);
    P("tree_method", "hist");
    P("nthread", "%d", mq__threads(cfg->n_threads));
    P("seed", "%llu", (unsigned long long)(cfg->seed & 0x7fffffff));
    P("verbosity", "0");
    if (cfg->monotone && cfg->monotone[0]) P("monotone_constraints", "%s", cfg->monotone);
    if (cfg->base_score != 0) P("base_score", "%.17g", cfg->base_score);
#undef P
    for (int i = 0; i < np; i++)
        if (XGBoosterSetParam(b, ps[i].k, ps[i].v)) {
            snprintf(v, sizeof v, "setting %s", ps[i].k);
            rc = xerr(err, v);
            goto done;
        }
    double bestv = cfg->maximize ? -INFINITY : INFINITY;
    int best_round = 0;
    for (int it = 0; it < cfg->rounds; it++) {
        if (XGBoosterUpdateOneIter(b, it, dt)) {
            rc = xerr(err, "boosting");
            goto done;
        }
        if (!has_va) {
            best_round = it + 1;
            continue;
        }
        const char *names[1] = {"valid"};
        DMatrixHandle ev[1] = {dv};
        const char *out;
        if (XGBoosterEvalOneIter(b, it, ev, names, 1, &out)) {
            rc = xerr(err, "evaluating");
            goto done;
        }
        double val = eval_value(out);
        if (cfg->maximize ? val > bestv : val < bestv) {
            bestv = val;
            best_round = it + 1;
        }
        if (cfg->early_stop > 0 && it + 1 - best_round >= cfg->early_stop) break;
    }
    int done_rounds = 0;
    XGBoosterBoostedRounds(b, &done_rounds);
    BoosterHandle keep = b;
    if (best_round < done_rounds) {
        if (XGBoosterSlice(b, 0, best_round, 1, &cut)) {
            rc = xerr(err, "slicing");
            goto done;
        }
        keep = cut;
    }
    bst_ulong blen;
    const char *bytes;
    if (XGBoosterSaveModelToBuffer(keep, "{\"format\": \"ubj\"}", &blen, &bytes)) {
        rc = xerr(err, "saving");
        goto done;
    }
    *model = malloc(blen ? blen : 1);
    if (!*model) {
        rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        goto done;
    }
    memcpy(*model, bytes, blen);
    *len = blen;
    *rounds = best_round;
    *best = has_va ? bestv : NAN;
done:
    if (cut) XGBoosterFree(cut);
    if (b) XGBoosterFree(b);
    if (dt) XGDMatrixFree(dt);
    if (dv) XGDMatrixFree(dv);
    return rc;
}

static const cJSON *path_get(const cJSON *j, const char *const *keys, int n)
{
    for (int i = 0; j && i < n; i++) j = cJSON_GetObjectItemCaseSensitive(j, keys[i]);
    return j;
}

static const char *str_at(const cJSON *j, const char *const *keys, int n)
{
    j = path_get(j, keys, n);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* Compiles x's trees when the booster is a plain binary:logistic gbtree (numerical splits, one
 * output); anything else stays with XGBoost's predictor. */
static void compile_trees(mq__xgb *x)
{
    bst_ulong len;
    const char *bytes;
    if (XGBoosterSaveModelToBuffer(x->h, "{\"format\": \"json\"}", &len, &bytes)) return;
    cJSON *j = cJSON_ParseWithLength(bytes, len);
    if (!j) return;
    static const char *const k_obj[] = {"learner", "objective", "name"};
    static const char *const k_gb[] = {"learner", "gradient_booster", "name"};
    static const char *const k_base[] = {"learner", "learner_model_param", "base_score"};
    static const char *const k_ncls[] = {"learner", "learner_model_param", "num_class"};
    static const char *const k_nf[] = {"learner", "learner_model_param", "num_feature"};
    static const char *const k_par[] = {"learner", "gradient_booster", "model", "gbtree_model_param", "num_parallel_tree"};
    static const char *const k_trees[] = {"learner", "gradient_booster", "model", "trees"};
    const char *obj = str_at(j, k_obj, 3), *gb = str_at(j, k_gb, 3), *base = str_at(j, k_base, 3);
    const char *ncls = str_at(j, k_ncls, 3), *nf = str_at(j, k_nf, 3), *par = str_at(j, k_par, 5);
    const cJSON *trees = path_get(j, k_trees, 4);
    int32_t *root = NULL, *depth = NULL, *dd = NULL;
    xnode *nodes = NULL;
    if (!obj || strcmp(obj, "binary:logistic") || !gb || strcmp(gb, "gbtree") || !base || !ncls ||
        strcmp(ncls, "0") || !nf || !par || strcmp(par, "1") || !cJSON_IsArray(trees))
        goto done;
    int nt = cJSON_GetArraySize(trees), total = 0, n_feat = atoi(nf);
    const cJSON *t;
    cJSON_ArrayForEach(t, trees) total += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "left_children"));
    root = malloc((size_t)MQ_MAX(nt, 1) * sizeof *root);
    depth = malloc((size_t)MQ_MAX(nt, 1) * sizeof *depth);
    nodes = malloc((size_t)MQ_MAX(total, 1) * sizeof *nodes);
    dd = malloc((size_t)MQ_MAX(total, 1) * sizeof *dd);
    if (!root || !depth || !nodes || !dd || n_feat < 1) goto done;
    int at = 0, k = 0;
    cJSON_ArrayForEach(t, trees) {
        const cJSON *lc = cJSON_GetObjectItemCaseSensitive(t, "left_children"),
                    *rc = cJSON_GetObjectItemCaseSensitive(t, "right_children"),
                    *si = cJSON_GetObjectItemCaseSensitive(t, "split_indices"),
                    *sc = cJSON_GetObjectItemCaseSensitive(t, "split_conditions"),
                    *df = cJSON_GetObjectItemCaseSensitive(t, "default_left"),
                    *ty = cJSON_GetObjectItemCaseSensitive(t, "split_type");
        int n = cJSON_GetArraySize(lc);
        if (n < 1 || cJSON_GetArraySize(rc) != n || cJSON_GetArraySize(si) != n ||
            cJSON_GetArraySize(sc) != n || cJSON_GetArraySize(df) != n)
            goto done;
        root[k] = at;
        depth[k] = 0;
        dd[at] = 0;
        const cJSON *a = lc->child, *b = rc->child, *c = si->child, *d = sc->child, *e = df->child;
        const cJSON *f = ty ? ty->child : NULL;
        /* children follow their parent (checked), so depths fill in one pass */
        for (int i = 0; i < n; i++, a = a->next, b = b->next, c = c->next, d = d->next, e = e->next) {
            int l = a->valueint, r = b->valueint, fi = c->valueint;
            if (f) {
                if (f->valueint != 0) goto done;        /* a categorical split */
                f = f->next;
            }
            bool left = cJSON_IsTrue(e) || (cJSON_IsNumber(e) && e->valueint != 0);
            if (l == -1) {
                nodes[at + i] = (xnode){{at + i, at + i}, 0, (float)d->valuedouble};
                continue;
            }
            if (l <= i || l >= n || r <= i || r >= n || fi < 0 || fi >= n_feat) goto done;
            nodes[at + i] = (xnode){{at + r, at + l}, (uint32_t)fi | (left ? XDEFLEFT : 0), (float)d->valuedouble};
            dd[at + l] = dd[at + r] = dd[at + i] + 1;
            depth[k] = MQ_MAX(depth[k], dd[at + i] + 1);
        }
        k++;
        at += n;
    }
    double p = strtod(base, NULL);
    if (!(p > 0 && p < 1)) goto done;
    x->base = (float)-log(1.0 / p - 1.0);      /* XGBoost's ProbToMargin for binary:logistic */
    x->n_feat = n_feat;
    x->root = root;
    x->depth = depth;
    x->nodes = nodes;
    x->n_trees = nt;
    root = depth = NULL;
    nodes = NULL;
done:
    free(root);
    free(depth);
    free(dd);
    free(nodes);
    cJSON_Delete(j);
}

int mq__xgb_load(const uint8_t *model, size_t len, int n_threads, mq__xgb **out, mq_err *err)
{
    *out = NULL;
    mq__xgb *x = calloc(1, sizeof *x);
    if (!x) return mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
    if (XGBoosterCreate(NULL, 0, &x->h)) {
        free(x);
        return xerr(err, "creating a booster");
    }
    if (XGBoosterLoadModelFromBuffer(x->h, model, (bst_ulong)len)) {
        int rc = mq__err_set(err, MQ_ECORRUPT, "ranker: the stored booster does not load: %s",
                             XGBGetLastError());
        XGBoosterFree(x->h);
        free(x);
        return rc;
    }
    char nt[16];
    snprintf(nt, sizeof nt, "%d", mq__threads(n_threads));
    XGBoosterSetParam(x->h, "nthread", nt);
    pthread_mutex_init(&x->lock, NULL);
    compile_trees(x);
    *out = x;
    return 0;
}

void mq__xgb_free(mq__xgb *b)
{
    if (!b) return;
    XGBoosterFree(b->h);
    pthread_mutex_destroy(&b->lock);
    free(b->root);
    free(b->depth);
    free(b->nodes);
    free(b);
}

int mq__xgb_predict(mq__xgb *b, const float *x, int64_t n, int n_feat, bool margin, float *out,
                    mq_err *err)
{
    if (n == 0) return 0;
    DMatrixHandle d;
    int rc = make_dmatrix(x, n, n_feat, &d, err);
    if (rc) return rc;
    const char *cfg = margin ? "{\"type\": 1, \"training\": false, \"iteration_begin\": 0, "
                               "\"iteration_end\": 0, \"strict_shape\": false}"
                             : "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                               "\"iteration_end\": 0, \"strict_shape\": false}";
    const bst_ulong *shape;
    bst_ulong dim;
    const float *res;
    pthread_mutex_lock(&b->lock);
    if (XGBoosterPredictFromDMatrix(b->h, d, cfg, &shape, &dim, &res)) {
        rc = xerr(err, "predicting");
    } else if (dim < 1 || shape[0] != (bst_ulong)n) {
        rc = mq__err_set(err, MQ_ECORRUPT, "xgboost: prediction has an unexpected shape");
    } else {
        memcpy(out, res, (size_t)n * sizeof *out);
    }
    pthread_mutex_unlock(&b->lock);
    XGDMatrixFree(d);
    return rc;
}

int mq__xgb_contribs(mq__xgb *b, const float *x, int64_t n, int n_feat, float *out, mq_err *err)
{
    if (n == 0) return 0;
    DMatrixHandle d;
    int rc = make_dmatrix(x, n, n_feat, &d, err);
    if (rc) return rc;
    /* type 2: SHAP contributions, [n x (n_feat + 1)], the last column the bias */
    const char *cfg = "{\"type\": 2, \"training\": false, \"iteration_begin\": 0, "
                      "\"iteration_end\": 0, \"strict_shape\": false}";
    const bst_ulong *shape;
    bst_ulong dim;
    const float *res;
    pthread_mutex_lock(&b->lock);
    if (XGBoosterPredictFromDMatrix(b->h, d, cfg, &shape, &dim, &res)) {
        rc = xerr(err, "computing contributions");
    } else if (dim != 2 || shape[0] != (bst_ulong)n || shape[1] != (bst_ulong)n_feat + 1) {
        rc = mq__err_set(err, MQ_ECORRUPT, "xgboost: contributions have an unexpected shape");
    } else {
        memcpy(out, res, (size_t)n * (size_t)(n_feat + 1) * sizeof *out);
    }
    pthread_mutex_unlock(&b->lock);
    XGDMatrixFree(d);
    return rc;
}

int mq__xgb_n_features(mq__xgb *b)
{
    bst_ulong nf = 0;
    if (XGBoosterGetNumFeature(b->h, &nf)) return -1;
    return (int)nf;
}

int mq__xgb_set_threads(mq__xgb *b, int n_threads, mq_err *err)
{
    char nt[16];
    snprintf(nt, sizeof nt, "%d", mq__threads(n_threads));
    pthread_mutex_lock(&b->lock);
    int bad = XGBoosterSetParam(b->h, "nthread", nt);
    pthread_mutex_unlock(&b->lock);
    return bad ? xerr(err, "setting nthread") : 0;
}

int mq__xgb_predict_dense(mq__xgb *b, const float *x, int64_t n, int n_feat, float *out, mq_err *err)
{
    if (n == 0) return 0;
    if (b->n_trees > 0 && n_feat == b->n_feat) {
        /* XGBoost's order of operations: the base margin, then each tree's leaf added in tree
         * order (float), a split goes left when value < cond, missing (NaN) by default_left;
         * then its sigmoid, 1 / (exp(min(-x, 88.7)) + 1 + 1e-16) in float. Rows walk each tree
         * 8 at a time in lockstep (independent chains the core overlaps). */
        for (int64_t r = 0; r < n; r++) out[r] = b->base;
        const xnode *nd = b->nodes;
        for (int t = 0; t < b->n_trees; t++) {
            int D = b->depth[t];
            int32_t r0 = b->root[t];
            for (int64_t r = 0; r < n; r += XLANES) {
                int m = (int)MQ_MIN(XLANES, n - r);
                int32_t idx[XLANES];
                const float *row[XLANES];
                for (int q = 0; q < XLANES; q++) {
                    idx[q] = r0;
                    row[q] = x + (r + (q < m ? q : 0)) * n_feat;
                }
                for (int s = 0; s < D; s++)
                    for (int q = 0; q < XLANES; q++) {
                        const xnode *z = &nd[idx[q]];
                        float v = row[q][z->feat & ~XDEFLEFT];
                        int left = (v < z->cond) | ((v != v) & (int)(z->feat >> 31));
                        idx[q] = z->child[left];
                    }
                for (int q = 0; q < m; q++) out[r + q] += nd[idx[q]].cond;
            }
        }
        for (int64_t r = 0; r < n; r++) out[r] = 1.0f / (expf(fminf(-out[r], 88.7f)) + 1.0f + 1e-16f);
        return 0;
    }
    /* inplace prediction on the row-major array (no DMatrix): __array_interface__ v3 */
    char arr[160];
    snprintf(arr, sizeof arr, "{\"data\": [%llu, true], \"shape\": [%lld, %d], \"typestr\": \"<f4\", "
             "\"version\": 3}", (unsigned long long)(uintptr_t)x, (long long)n, n_feat);
    const char *cfg = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
                      "\"strict_shape\": false, \"cache_id\": 0, \"missing\": NaN}";
    const bst_ulong *shape;
    bst_ulong dim;
    const float *res;
    int rc = 0;
    pthread_mutex_lock(&b->lock);
    if (XGBoosterPredictFromDense(b->h, arr, cfg, NULL, &shape, &dim, &res)) {
        rc = xerr(err, "predicting");
    } else if (dim < 1 || shape[0] != (bst_ulong)n) {
        rc = mq__err_set(err, MQ_ECORRUPT, "xgboost: prediction has an unexpected shape");
    } else {
        memcpy(out, res, (size_t)n * sizeof *out);
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

bool mq__xgb_compiled(const mq__xgb *b) { return b && b->n_trees > 0; }
