/* model_knn.c: item-item nearest neighbours with cosine similarity and shrinkage.
 *
 *   c_ij   = Σ_u x_ui x_uj                      (co-occurrence, from the sparse matrix)
 *   sim_ij = c_ij / (‖x_i‖ ‖x_j‖ + shrink)       (cosine; shrink damps pairs seen rarely)
 *   row i keeps its k largest positive sim_ij (j ≠ i)
 *   score(member, j) = Σ_{i ∈ history} val_i · sim_ij   (over the kept neighbours of i)
 *
 * Training is threaded over titles i: each thread accumulates row i of XᵀX into a dense
 * scratch vector through the members of column i (cost Σ_u |x_u|² in all), then selects the
 * top k with a heap. Parameters: k (default 100), shrink (default 0).
 * Arrays: "ptr" i64 [n+1], "idx" i32, "val" f32: row i's neighbours, columns ascending.
 */
#include "models/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct knn_state {
    const int64_t *ptr;
    const int32_t *idx;
    const float *val;
} knn_state;

typedef struct knn_ctx {
    const mq_dataset *d;
    const float *norm;
    double shrink;
    int32_t k;
    int32_t *cnt;            /* [n] neighbours kept per row */
    int32_t *idx;            /* [n x k] */
    float *val;              /* [n x k] */
} knn_ctx;

static int cmp_pair(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int knn_rows(void *vctx, int64_t b, int64_t e, int tid)
{
    knn_ctx *c = vctx;
    const mq_dataset *d = c->d;
    int32_t n = d->n_titles;
    float *acc = calloc((size_t)n, sizeof *acc);
    uint8_t *mark = calloc((size_t)n, 1);
    int32_t *touched = malloc((size_t)n * sizeof *touched);
    float *sim = malloc((size_t)n * sizeof *sim);
    int32_t *ti = malloc((size_t)c->k * sizeof *ti);
    float *tv = malloc((size_t)c->k * sizeof *tv);
    struct { int32_t j; float v; } *pairs = malloc((size_t)c->k * sizeof *pairs);
    int rc = 0;
    if (!acc || !mark || !touched || !sim || !ti || !tv || !pairs) {
        rc = MQ_ENOMEM;
        goto done;
    }
    for (int64_t i = b; i < e; i++) {
        int nt = 0;
        for (int64_t p = d->t_ptr[i]; p < d->t_ptr[i + 1]; p++) {
            int32_t u = d->t_idx[p];
            float vi = d->t_val[p];
            for (int64_t q = d->m_ptr[u]; q < d->m_ptr[u + 1]; q++) {
                int32_t j = d->m_idx[q];
                if (!mark[j]) {
                    mark[j] = 1;
                    touched[nt++] = j;
                }
                acc[j] += vi * d->m_val[q];
            }
        }
        /* Sorting the touched titles makes positions follow title order, so mq__topk's
         * tie-break (lower position) is the lower title index. */
        qsort(touched, (size_t)nt, sizeof *touched, cmp_pair);
        for (int q = 0; q < nt; q++) {
            int32_t j = touched[q];
            float s = (float)(acc[j] / ((double)c->norm[i] * c->norm[j] + c->shrink));
            sim[q] = j != i && s > 0 ? s : NAN;
        }
        int got = mq__topk(sim, nt, c->k, ti, tv);
        for (int q = 0; q < got; q++) {
            pairs[q].j = touched[ti[q]];
            pairs[q].v = tv[q];
        }
        qsort(pairs, (size_t)got, sizeof *pairs, cmp_pair);
        for (int q = 0; q < got; q++) {
            c->idx[(size_t)i * c->k + q] = pairs[q].j;
            c->val[(size_t)i * c->k + q] = pairs[q].v;
        }
        c->cnt[i] = got;
        for (int q = 0; q < nt; q++) acc[touched[q]] = 0, mark[touched[q]] = 0;
    }
done:
    free(acc); free(mark); free(touched); free(sim); free(ti); free(tv); free(pairs);
    return rc;
}

/* The parameters (train and the check before any data is loaded share these). */
static int knn_cfg(const mq_train_opts *o, long *k, double *shrink, mq_err *err)
{
    mq__params p;
    int rc = mq__params_parse(&p, o->params, o->n_params, err);
    if (!rc) rc = mq__param_int(&p, "itemknn", "k", 100, 1, 100000, k, err);
    if (!rc) rc = mq__param_double(&p, "itemknn", "shrink", 0, 0, 1e9, shrink, err);
    return rc ? rc : mq__params_done(&p, "itemknn", "k, shrink", err);
}

static int knn_check(const mq_train_opts *o, mq_err *err)
{
    long k;
    double shrink;
    return knn_cfg(o, &k, &shrink, err);
}

static int knn_train(mq_model *m, const mq_dataset *d, const mq_train_opts *o, mq_err *err)
{
    long k;
    double shrink;
    int rc = knn_cfg(o, &k, &shrink, err);
    if (rc) return rc;
    mq__model_param_set(m, "k", "%ld", k);
    mq__model_param_num(m, "shrink", shrink);
    int32_t n = d->n_titles;
    if (k > n) k = n;
    double t0 = mq_now();
    float *norm = malloc((size_t)n * sizeof *norm);
    int32_t *cnt = calloc((size_t)n, sizeof *cnt);
    int32_t *idx = malloc((size_t)n * k * sizeof *idx);
    float *val = malloc((size_t)n * k * sizeof *val);
    int64_t *ptr = mq__alloc((size_t)n + 1, sizeof *ptr);
    int32_t *oidx = NULL;
    float *oval = NULL;
    if (!norm || !cnt || !idx || !val || !ptr) goto nomem;
    for (int32_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t q = d->t_ptr[i]; q < d->t_ptr[i + 1]; q++) s += (double)d->t_val[q] * d->t_val[q];
        norm[i] = (float)sqrt(s);
    }
    knn_ctx c = {d, norm, shrink, (int32_t)k, cnt, idx, val};
    rc = mq__parallel_for(mq__threads(o->n_threads), n, 16, knn_rows, &c);
    if (rc) goto nomem;
    for (int32_t i = 0; i < n; i++) ptr[i + 1] = ptr[i] + cnt[i];
    oidx = mq__alloc((size_t)ptr[n], sizeof *oidx);
    oval = mq__alloc((size_t)ptr[n], sizeof *oval);
    if (!oidx || !oval) goto nomem;
    for (int32_t i = 0; i < n; i++) {
        memcpy(oidx + ptr[i], idx + (size_t)i * k, (size_t)cnt[i] * sizeof *oidx);
        memcpy(oval + ptr[i], val + (size_t)i * k, (size_t)cnt[i] * sizeof *oval);
    }
    free(norm); free(cnt); free(idx); free(val);
    mq__logf(o->log, "itemknn: %d titles, %lld neighbour pairs, %.2fs", n, (long long)ptr[n],
             mq_now() - t0);
    int64_t nnz = ptr[n];
    rc = mq__model_add(m, "ptr", MQ__A_I64, n + 1, ptr, err);
    if (!rc) rc = mq__model_add(m, "idx", MQ__A_I32, nnz, oidx, err);
    else free(oidx);
    if (!rc) rc = mq__model_add(m, "val", MQ__A_F32, nnz, oval, err);
    else free(oval);
    return rc;
nomem:
    free(norm); free(cnt); free(idx); free(val); free(ptr); free(oidx); free(oval);
    return mq__err_set(err, MQ_ENOMEM, "itemknn: out of memory");
}

static int knn_bind(mq_model *m, mq_err *err)
{
    knn_state *st = calloc(1, sizeof *st);
    if (!st) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    if (mq__model_bind_csr(m, &st->ptr, &st->idx, &st->val, err)) {
        free(st);
        return MQ_ECORRUPT;
    }
    m->state = st;
    return 0;
}

static void knn_unbind(mq_model *m)
{
    free(m->state);
    m->state = NULL;
}

static int knn_score(const mq_model *m, const int32_t *hist, const float *hv, int n_hist,
                     float *scores, mq_err *err)
{
    const knn_state *st = m->state;
    mq__model_score_csr(st->ptr, st->idx, st->val, m->n_titles, hist, hv, n_hist, scores);
    return 0;
}

static int knn_contrib(const mq_model *m, const int32_t *hist, const float *hv, int n_hist,
                       int32_t t, float *w, mq_err *err)
{
    const knn_state *st = m->state;
    for (int h = 0; h < n_hist; h++)
        w[h] = (hv ? hv[h] : 1.0f) * mq__model_csr_at(st->ptr, st->idx, st->val, hist[h], t);
    return 0;
}

static int knn_similar(const mq_model *m, int32_t t, float *sim, mq_err *err)
{
    return knn_score(m, &t, NULL, 1, sim, err);
}

const mq__model_ops mq__model_itemknn = {
    .kind = "itemknn", .check = knn_check, .train = knn_train, .bind = knn_bind, .unbind = knn_unbind,
    .score = knn_score, .contrib = knn_contrib, .similar = knn_similar,
};
