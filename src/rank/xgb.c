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
#include <xgboost/c_api.h>

struct mq__xgb {
    BoosterHandle h;
    pthread_mutex_t lock;
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
    struct { const char *k; char v[160]; } ps[12];
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
    *out = x;
    return 0;
}

void mq__xgb_free(mq__xgb *b)
{
    if (!b) return;
    XGBoosterFree(b->h);
    pthread_mutex_destroy(&b->lock);
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
