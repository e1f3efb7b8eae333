/* model_ease.c: EASE, the embarrassingly shallow autoencoder (Steck 2019, "Embarrassingly
 * Shallow Autoencoders for Sparse Data", WWW), and DLAE, the denoising linear autoencoder
 * (Steck 2020, "Autoencoders that don't overfit towards the identity", NeurIPS), which share
 * every step but the regularizer and the final column scaling.
 *
 *   EASE:  G = XᵀX + λI                     (n_titles x n_titles, X the binary member x title
 *          P = G⁻¹                            matrix; float Cholesky: LAPACKE spotrf, then
 *          B = I − P·diag(1/diag(P)),         spotri for the inverse)
 *              i.e. B_ij = −P_ij / P_jj and B_jj = 0
 *   DLAE:  Λ = p/(1−p)·diag(XᵀX) + λI        (dropout probability p on the input: the
 *          G = XᵀX + Λ,  P = G⁻¹              expected denoising loss is the least-squares
 *          B = P·XᵀX = I − P·Λ,               loss with this popularity-scaled ridge)
 *              i.e. B_ij = −P_ij·Λ_j (i ≠ j)
 *   score(member) = x·B = Σ_{i ∈ history} val_i · B[i, :]
 *
 * DLAE has no zero-diagonal constraint: its dropout term is what keeps B away from the
 * identity. Its diagonal B_jj = 1 − P_jj·Λ_j only adds to the score of a title j the member
 * already has; Marquee stores it as 0 like EASE's (seen titles are excluded by default, the
 * ranking of every other title is unchanged, and the layouts, pruning, fold-in and explanations
 * below are EASE's as they are). With p = 0 and this diagonal dropped, DLAE's off-diagonal
 * B_ij = −λ·P_ij differs from EASE's only in the column scale (EASE: 1/P_jj).
 *
 * Cost: the Gram matrix Σ_u |x_u|² pair updates (sparse, threaded over rows of G), then
 * n³/3 flops for spotrf and 2n³/3 for spotri (OpenBLAS threads). G is filled in its row-major
 * upper triangle, which is the column-major lower triangle, so LAPACKE is called in column-major
 * 'L' and never transposes a copy; memory is one n x n float matrix (24,915 titles: 2.5 GB).
 *
 * Parameters: lambda (EASE default 200, DLAE 100), dropout (DLAE only: p in [0, 1), default
 * 0.5), prune (0 = keep the dense B; K > 0 = keep the K largest |B_ij| of each row as a sparse
 * matrix, for large catalogs: memory n·K·8 bytes).
 *
 * Arrays. Titles nobody watched ("inactive") have all-zero rows and columns of B, so the dense
 * form stores only the block of the na active titles:
 *   "map" i32 [n]      row of B of each title (0, 1, ..., na−1 in title order), −1 if inactive
 *   "B"   f32 [na×na]  row-major, rows and columns in map order
 * Older artifacts (before "map" existed) hold "B" f32 [n×n] with the zero rows and columns
 * expanded and no "map"; they still load and score identically (legacy layout: map == NULL).
 * Pruned: "ptr" i64 [n+1], "idx" i32, "val" f32 (each row's columns ascending, over all n).
 *
 * Scoring with the compact form: the history's active rows are summed into the first na
 * entries of scores (the same axpy, in the same history order, as the dense sum restricted to
 * the active columns, so every active score is bit-for-bit the dense one: inactive history
 * titles add an all-zero row, x + w·0 = x exactly, and are skipped), then scattered in place,
 * from the last title down, to scores[t] = acc[map[t]] or +0 for inactive t (the dense sum of
 * ±0 terms onto +0 is +0). In place works because map[t] <= t: step t reads index map[t] <= t
 * and writes index t, and every later step t' < t reads map[t'] <= t' < t, never a written one.
 * Memory read per history title: 4·na bytes instead of 4·n.
 * History values (hist_val) weight the rows; NULL = 1.
 */
#include "models/model.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct ease_state {
    int32_t n;
    int32_t na;              /* rows of the dense B (n in the legacy layout) */
    const float *B;          /* dense [na x na], or NULL */
    const int32_t *map;      /* [n] title -> row of B, -1 inactive; NULL = legacy n x n */
    const int64_t *ptr;      /* pruned */
    const int32_t *idx;
    const float *val;
} ease_state;

typedef struct gram_ctx {
    const mq_dataset *d;
    float *G;
    int32_t n;            /* active titles (rows of G) */
    const int32_t *act;   /* [n] title of each row */
    const int32_t *map;   /* [n_titles] row of each title, -1 if inactive */
} gram_ctx;

/* Rows [b, e) of the upper triangle of XᵀX: for title i, each member u of column i adds
 * x_ui·x_uj to G[i][j] for the titles j >= i of u's row. */
static int gram_rows(void *vctx, int64_t b, int64_t e, int tid)
{
    gram_ctx *c = vctx;
    const mq_dataset *d = c->d;
    for (int64_t ci = b; ci < e; ci++) {
        float *gi = c->G + (size_t)ci * c->n;
        int32_t i = c->act[ci];
        for (int64_t p = d->t_ptr[i]; p < d->t_ptr[i + 1]; p++) {
            int32_t u = d->t_idx[p];
            float vi = d->t_val[p];
            const int32_t *row = d->m_idx + d->m_ptr[u];
            const float *rv = d->m_val + d->m_ptr[u];
            int64_t lo = 0, hi = d->m_ptr[u + 1] - d->m_ptr[u];
            while (lo < hi) {   /* first position with row[pos] >= i */
                int64_t mid = (lo + hi) / 2;
                if (row[mid] < i) lo = mid + 1;
                else hi = mid;
            }
            int64_t len = d->m_ptr[u + 1] - d->m_ptr[u];
            for (int64_t q = lo; q < len; q++) gi[c->map[row[q]]] += vi * rv[q];
        }
    }
    return 0;
}

typedef struct fin_ctx {
    float *P;
    const float *diag;   /* EASE: diag(P), columns divided by it */
    const float *ridge;  /* DLAE: Λ, columns multiplied by it (NULL for EASE) */
    int32_t n;
} fin_ctx;

/* Rows [b, e): copy the upper triangle (final after spotri) into the lower one, so P is a
 * full symmetric matrix. Only lower entries are written and only upper ones read: no races. */
static int mirror_rows(void *vctx, int64_t b, int64_t e, int tid)
{
    fin_ctx *c = vctx;
    size_t n = (size_t)c->n;
    for (int64_t i = b; i < e; i++)
        for (int64_t j = 0; j < i; j++) c->P[(size_t)i * n + j] = c->P[(size_t)j * n + i];
    return 0;
}

static int scale_rows(void *vctx, int64_t b, int64_t e, int tid)
{
    fin_ctx *c = vctx;
    size_t n = (size_t)c->n;
    for (int64_t i = b; i < e; i++) {
        float *row = c->P + (size_t)i * n;
        if (c->ridge)
            for (size_t j = 0; j < n; j++) row[j] = -row[j] * c->ridge[j];
        else
            for (size_t j = 0; j < n; j++) row[j] = -row[j] / c->diag[j];
        row[i] = 0;
    }
    return 0;
}

typedef struct prune_ctx {
    const float *B;
    int32_t n, k;
    int32_t *idx;
    float *val;
} prune_ctx;

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int prune_rows(void *vctx, int64_t b, int64_t e, int tid)
{
    prune_ctx *c = vctx;
    float *mag = malloc((size_t)c->n * sizeof *mag);
    float *tv = malloc((size_t)c->k * sizeof *tv);
    if (!mag || !tv) {
        free(mag);
        free(tv);
        return MQ_ENOMEM;
    }
    for (int64_t i = b; i < e; i++) {
        const float *row = c->B + (size_t)i * c->n;
        for (int32_t j = 0; j < c->n; j++) mag[j] = fabsf(row[j]);
        mag[i] = NAN;
        int32_t *ri = c->idx + (size_t)i * c->k;
        int got = mq__topk(mag, c->n, c->k, ri, tv);
        for (int q = got; q < c->k; q++) ri[q] = (int32_t)i;   /* padding: B_ii = 0 */
        qsort(ri, (size_t)c->k, sizeof *ri, cmp_i32);
        for (int q = 0; q < c->k; q++) c->val[(size_t)i * c->k + q] = row[ri[q]];
    }
    free(mag);
    free(tv);
    return 0;
}

/* EASE (dropout < 0) or DLAE (dropout p in [0, 1)): see the top of the file. */
static int fit(mq_model *m, const mq_dataset *d, const mq_train_opts *o, double lambda,
               double dropout, long prune, mq_err *err)
{
    const char *kind = m->kind;
    bool dlae = dropout >= 0;
    int rc;
    int32_t n = d->n_titles;
    if (lambda <= 0) {
        /* Titles nobody watched make G singular without a ridge. */
        for (int32_t t = 0; t < n; t++)
            if (d->t_ptr[t + 1] == d->t_ptr[t])
                return mq__err_set(err, MQ_EINVAL, "%s: lambda must be > 0 when some titles "
                                   "have no interactions", kind);
    }
    mq__model_param_num(m, "lambda", lambda);
    if (dlae) mq__model_param_num(m, "dropout", dropout);
    mq__model_param_set(m, "prune", "%ld", prune);
    if (prune >= n) prune = n - 1 > 0 ? n - 1 : 1;

    double t0 = mq_now();
    /* Titles nobody watched have B rows and columns of zero (G = λ on them, P_ij = 0 off the
     * diagonal): solve on the active titles only and expand, which is exact and saves
     * (n/n_active)³ of the work on catalogs with many cold titles. */
    int32_t *map = malloc((size_t)n * sizeof *map), *act = malloc((size_t)n * sizeof *act);
    if (!map || !act) {
        free(map);
        free(act);
        return mq__err_set(err, MQ_ENOMEM, "%s: out of memory", kind);
    }
    int32_t na = 0;
    for (int32_t t = 0; t < n; t++) {
        map[t] = d->t_ptr[t + 1] > d->t_ptr[t] ? na : -1;
        if (map[t] >= 0) act[na++] = t;
    }
    if (na == 0) na = 1, act[0] = 0, map[0] = 0;
    float *G = mq__alloc((size_t)na * na, sizeof *G);
    if (!G) {
        free(map);
        free(act);
        return mq__err_set(err, MQ_ENOMEM, "%s: out of memory for the %d x %d Gram matrix "
                           "(%.1f GB)", kind, na, na, (double)na * na * 4 / 1e9);
    }
    gram_ctx gc = {d, G, na, act, map};
    int nth = mq__threads(o->n_threads);
    mq__parallel_for(nth, na, 16, gram_rows, &gc);
    float *ridge = NULL;   /* DLAE's Λ */
    if (dlae) {
        ridge = malloc((size_t)na * sizeof *ridge);
        if (!ridge) {
            free(G);
            free(map);
            free(act);
            return mq__err_set(err, MQ_ENOMEM, "%s: out of memory", kind);
        }
        double emph = dropout / (1 - dropout);
        for (int32_t i = 0; i < na; i++)
            ridge[i] = (float)(emph * G[(size_t)i * na + i] + lambda);
    }
    for (int32_t i = 0; i < na; i++) G[(size_t)i * na + i] += dlae ? ridge[i] : (float)lambda;
    double t1 = mq_now();
    lapack_int info = LAPACKE_spotrf(LAPACK_COL_MAJOR, 'L', na, G, na);
    if (info == 0) info = LAPACKE_spotri(LAPACK_COL_MAJOR, 'L', na, G, na);
    if (info != 0) {
        free(G);
        free(map);
        free(act);
        free(ridge);
        return mq__err_set(err, MQ_ERANGE, "%s: Cholesky/inverse failed (LAPACK info %d): the "
                           "Gram matrix is not positive definite in float; raise lambda",
                           kind, (int)info);
    }
    double t2 = mq_now();
    float *diag = malloc((size_t)na * sizeof *diag);
    if (!diag) {
        free(G);
        free(map);
        free(act);
        free(ridge);
        return mq__err_set(err, MQ_ENOMEM, "%s: out of memory", kind);
    }
    for (int32_t i = 0; i < na; i++) diag[i] = G[(size_t)i * na + i];
    fin_ctx fc = {G, diag, ridge, na};
    mq__parallel_for(nth, na, 64, mirror_rows, &fc);
    mq__parallel_for(nth, na, 64, scale_rows, &fc);
    free(diag);
    free(ridge);
    mq__logf(o->log, "%s: %d active of %d titles", kind, na, n);
    mq__logf(o->log, "%s: %d titles, gram %.2fs, cholesky+inverse %.2fs, total %.2fs", kind, n,
             t1 - t0, t2 - t1, mq_now() - t0);
    free(act);
    if (prune == 0) {
        /* Compact layout: the na x na block plus the title -> row map. */
        int32_t *mp = mq__alloc((size_t)n, sizeof *mp);
        if (!mp) {
            free(G);
            free(map);
            return mq__err_set(err, MQ_ENOMEM, "%s: out of memory", kind);
        }
        memcpy(mp, map, (size_t)n * sizeof *mp);
        free(map);
        rc = mq__model_add(m, "map", MQ__A_I32, n, mp, err);
        if (rc) {
            free(G);
            return rc;
        }
        return mq__model_add(m, "B", MQ__A_F32, (int64_t)na * na, G, err);
    }
    /* Pruning selects over the full rows (columns in title order): expand first. */
    if (na < n) {
        float *F = mq__alloc((size_t)n * n, sizeof *F);
        if (!F) {
            free(G);
            free(map);
            return mq__err_set(err, MQ_ENOMEM, "%s: out of memory", kind);
        }
        for (int32_t t = 0; t < n; t++) {
            if (map[t] < 0) continue;
            float *dst = F + (size_t)t * n;
            const float *src = G + (size_t)map[t] * na;
            for (int32_t t2 = 0; t2 < n; t2++)
                if (map[t2] >= 0) dst[t2] = src[map[t2]];
        }
        free(G);
        G = F;
    }
    free(map);

    int64_t *ptr = mq__alloc((size_t)n + 1, sizeof *ptr);
    int32_t *idx = mq__alloc((size_t)n * prune, sizeof *idx);
    float *val = mq__alloc((size_t)n * prune, sizeof *val);
    if (!ptr || !idx || !val) {
        free(G); free(ptr); free(idx); free(val);
        return mq__err_set(err, MQ_ENOMEM, "%s: out of memory", kind);
    }
    prune_ctx pc = {G, n, (int32_t)prune, idx, val};
    rc = mq__parallel_for(nth, n, 16, prune_rows, &pc);
    free(G);
    if (rc) {
        free(ptr); free(idx); free(val);
        return mq__err_set(err, MQ_ENOMEM, "%s: out of memory", kind);
    }
    for (int32_t i = 0; i <= n; i++) ptr[i] = (int64_t)i * prune;
    rc = mq__model_add(m, "ptr", MQ__A_I64, n + 1, ptr, err);
    if (!rc) rc = mq__model_add(m, "idx", MQ__A_I32, (int64_t)n * prune, idx, err);
    else free(idx);
    if (!rc) rc = mq__model_add(m, "val", MQ__A_F32, (int64_t)n * prune, val, err);
    else free(val);
    return rc;
}

/* The parameters of ease (dlae: dropout >= 0 wanted; ease: *dropout = -1), shared by train
 * and the check before any data is loaded. */
static int ease_cfg(const char *kind, const mq_train_opts *o, double *lambda, double *dropout,
                    long *prune, mq_err *err)
{
    mq__params p;
    bool dl = strcmp(kind, "dlae") == 0;
    *dropout = -1;
    int rc = mq__params_parse(&p, o->params, o->n_params, err);
    if (!rc) rc = mq__param_double(&p, kind, "lambda", dl ? 100 : 200, 0, 1e12, lambda, err);
    if (!rc && dl) rc = mq__param_double(&p, kind, "dropout", 0.5, 0, 0.99, dropout, err);
    if (!rc) rc = mq__param_int(&p, kind, "prune", 0, 0, 1 << 20, prune, err);
    return rc ? rc : mq__params_done(&p, kind, dl ? "lambda, dropout, prune" : "lambda, prune", err);
}

static int ease_check(const mq_train_opts *o, mq_err *err)
{
    double lambda, dropout;
    long prune;
    return ease_cfg("ease", o, &lambda, &dropout, &prune, err);
}

static int dlae_check(const mq_train_opts *o, mq_err *err)
{
    double lambda, dropout;
    long prune;
    return ease_cfg("dlae", o, &lambda, &dropout, &prune, err);
}

static int ease_train(mq_model *m, const mq_dataset *d, const mq_train_opts *o, mq_err *err)
{
    double lambda, dropout;
    long prune;
    int rc = ease_cfg("ease", o, &lambda, &dropout, &prune, err);
    return rc ? rc : fit(m, d, o, lambda, -1, prune, err);
}

static int dlae_train(mq_model *m, const mq_dataset *d, const mq_train_opts *o, mq_err *err)
{
    double lambda, dropout;
    long prune;
    int rc = ease_cfg("dlae", o, &lambda, &dropout, &prune, err);
    return rc ? rc : fit(m, d, o, lambda, dropout, prune, err);
}

int mq__model_bind_csr(const mq_model *m, const int64_t **ptr, const int32_t **idx,
                       const float **val, mq_err *err)
{
    int64_t np, ni, nv;
    *ptr = mq__model_get(m, "ptr", MQ__A_I64, &np, err);
    *idx = *ptr ? mq__model_get(m, "idx", MQ__A_I32, &ni, err) : NULL;
    *val = *idx ? mq__model_get(m, "val", MQ__A_F32, &nv, err) : NULL;
    if (!*val) return MQ_ECORRUPT;
    int32_t n = m->n_titles;
    const int64_t *p = *ptr;
    const int32_t *ix = *idx;
    if (np != (int64_t)n + 1 || p[0] != 0 || p[n] != ni || nv != ni)
        return mq__err_set(err, MQ_ECORRUPT, "%s: sparse matrix sizes disagree", m->kind);
    for (int32_t i = 0; i < n; i++) {
        if (p[i + 1] < p[i]) return mq__err_set(err, MQ_ECORRUPT, "%s: bad row pointer", m->kind);
        for (int64_t q = p[i]; q < p[i + 1]; q++)
            if (ix[q] < 0 || ix[q] >= n || (q > p[i] && ix[q] < ix[q - 1]))
                return mq__err_set(err, MQ_ECORRUPT, "%s: bad column index in row %d", m->kind, i);
    }
    return 0;
}

static int ease_bind(mq_model *m, mq_err *err)
{
    ease_state *st = calloc(1, sizeof *st);
    if (!st) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    st->n = m->n_titles;
    int64_t c;
    mq_err e2;
    st->B = mq__model_get(m, "B", MQ__A_F32, &c, &e2);
    if (st->B) {
        int64_t nm;
        st->map = mq__model_get(m, "map", MQ__A_I32, &nm, &e2);
        if (!st->map) {
            if (e2.code && strstr(e2.msg, "has type")) {
                int rc = mq__err_set(err, MQ_ECORRUPT, "%s", e2.msg);
                free(st);
                return rc;
            }
            /* Legacy layout: B is n x n. */
            st->na = st->n;
        } else {
            /* The map must number the active titles 0, 1, ... in title order (scoring's
             * in-place scatter relies on map[t] <= t) and B must be their square block. */
            if (nm != st->n) {
                int rc = mq__err_set(err, MQ_ECORRUPT, "%s: map has %lld entries, expected %d",
                                   m->kind, (long long)nm, st->n);
                free(st);
                return rc;
            }
            int32_t na = 0;
            for (int32_t t = 0; t < st->n; t++) {
                if (st->map[t] == -1) continue;
                if (st->map[t] != na) {
                    int rc = mq__err_set(err, MQ_ECORRUPT, "%s: map[%d] = %d, expected -1 or %d",
                                       m->kind, t, st->map[t], na);
                    free(st);
                    return rc;
                }
                na++;
            }
            st->na = na;
        }
        if (c != (int64_t)st->na * st->na) {
            int rc = mq__err_set(err, MQ_ECORRUPT, "%s: B has %lld entries, expected %d^2",
                               m->kind, (long long)c, st->na);
            free(st);
            return rc;
        }
    } else {
        if (mq__model_bind_csr(m, &st->ptr, &st->idx, &st->val, err)) {
            free(st);
            return MQ_ECORRUPT;
        }
    }
    m->state = st;
    return 0;
}

static void ease_unbind(mq_model *m)
{
    free(m->state);
    m->state = NULL;
}

/* Sparse-row scoring shared by pruned EASE and itemknn. */
void mq__model_score_csr(const int64_t *ptr, const int32_t *idx, const float *v, int32_t n,
                         const int32_t *hist, const float *hv, int n_hist, float *scores)
{
    memset(scores, 0, (size_t)n * sizeof *scores);
    for (int h = 0; h < n_hist; h++) {
        int32_t i = hist[h];
        float w = hv ? hv[h] : 1.0f;
        for (int64_t q = ptr[i]; q < ptr[i + 1]; q++) scores[idx[q]] += w * v[q];
    }
}

float mq__model_csr_at(const int64_t *ptr, const int32_t *idx, const float *v, int32_t i,
                       int32_t j)
{
    int64_t lo = ptr[i], hi = ptr[i + 1];
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (idx[mid] < j) lo = mid + 1;
        else hi = mid;
    }
    return lo < ptr[i + 1] && idx[lo] == j ? v[lo] : 0.0f;
}

static int ease_score(const mq_model *m, const int32_t *hist, const float *hv, int n_hist,
                      float *scores, mq_err *err)
{
    const ease_state *st = m->state;
    if (!st->B) {
        mq__model_score_csr(st->ptr, st->idx, st->val, st->n, hist, hv, n_hist, scores);
        return 0;
    }
    if (!st->map) {   /* legacy n x n layout */
        memset(scores, 0, (size_t)st->n * sizeof *scores);
        for (int h = 0; h < n_hist; h++)
            mq__axpy(hv ? hv[h] : 1.0f, st->B + (size_t)hist[h] * st->n, scores, st->n);
        return 0;
    }
    /* Compact: accumulate the active block in scores[0, na), then scatter in place (see the
     * comment atop the file for why this equals the dense sum bit for bit). */
    int32_t na = st->na;
    memset(scores, 0, (size_t)na * sizeof *scores);
    for (int h = 0; h < n_hist; h++) {
        int32_t a = st->map[hist[h]];
        if (a >= 0) mq__axpy(hv ? hv[h] : 1.0f, st->B + (size_t)a * na, scores, na);
    }
    for (int32_t t = st->n - 1; t >= 0; t--) {
        int32_t a = st->map[t];
        scores[t] = a >= 0 ? scores[a] : 0.0f;
    }
    return 0;
}

/* B[i][j] in title indices, whatever the layout (0 for inactive titles). */
static float ease_at(const ease_state *st, int32_t i, int32_t j)
{
    if (!st->B) return mq__model_csr_at(st->ptr, st->idx, st->val, i, j);
    if (!st->map) return st->B[(size_t)i * st->n + j];
    int32_t a = st->map[i], b = st->map[j];
    return a >= 0 && b >= 0 ? st->B[(size_t)a * st->na + b] : 0.0f;
}

static int ease_contrib(const mq_model *m, const int32_t *hist, const float *hv, int n_hist,
                        int32_t t, float *w, mq_err *err)
{
    const ease_state *st = m->state;
    for (int h = 0; h < n_hist; h++) w[h] = (hv ? hv[h] : 1.0f) * ease_at(st, hist[h], t);
    return 0;
}

static int ease_similar(const mq_model *m, int32_t t, float *sim, mq_err *err)
{
    return ease_score(m, &t, NULL, 1, sim, err);
}

const mq__model_ops mq__model_ease = {
    .kind = "ease", .check = ease_check, .train = ease_train, .bind = ease_bind, .unbind = ease_unbind,
    .score = ease_score, .contrib = ease_contrib, .similar = ease_similar,
};

/* DLAE: its own training; the artifact layout, scoring, fold-in and explanations are EASE's. */
const mq__model_ops mq__model_dlae = {
    .kind = "dlae", .check = dlae_check, .train = dlae_train, .bind = ease_bind, .unbind = ease_unbind,
    .score = ease_score, .contrib = ease_contrib, .similar = ease_similar,
};
