/* model_drift.c: the reference distribution of a model's serving scores, stored in the
 * artifact at training time, for the server's drift monitor.
 *
 * At the end of mq_model_train: for up to 500 members of the training data (evenly spaced
 * over the members with history; deterministic), the model scores every title from the
 * member's history (as the server does: mq_model_score without values), the history titles
 * are left out, and the best 100 scores are pooled. The deciles of the pool (9 interior
 * edges) are stored as the float array "score_ref". The server bins the best 100 scores of its
 * live pages by these edges; with equal expected shares e = 0.1 the Population Stability
 * Index is PSI = sum_i (a_i - e) ln(a_i / e) (Siddiqi 2006; < 0.1 stable, 0.1-0.25 some
 * shift, > 0.25 a large shift). Artifacts written before this have no "score_ref": unknown.
 */
#include "models/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REF_MEMBERS 500
#define REF_TOP 100

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

int mq__model_score_ref(mq_model *m, const mq_dataset *d, mq_err *err)
{
    int32_t nt = mq_model_n_titles(m);
    if (nt <= REF_TOP || d->n_titles != nt || d->n_members <= 0) return 0;   /* nothing to learn */
    int32_t with = 0;
    for (int32_t u = 0; u < d->n_members; u++) with += d->m_ptr[u + 1] > d->m_ptr[u];
    if (!with) return 0;
    int32_t step = MQ_MAX(1, with / REF_MEMBERS);
    float *sc = malloc((size_t)nt * sizeof *sc), *pool = malloc((size_t)REF_MEMBERS * REF_TOP * sizeof *pool);
    float *top = malloc(REF_TOP * sizeof *top);
    int32_t *idx = malloc(REF_TOP * sizeof *idx), *hist = NULL;
    int hist_cap = 0;
    int64_t np = 0;
    int rc = 0;
    if (!sc || !pool || !top || !idx) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto out; }
    for (int32_t u = 0, seen = 0; u < d->n_members && np < (int64_t)REF_MEMBERS * REF_TOP; u++) {
        int64_t lo = d->m_ptr[u], hi = d->m_ptr[u + 1];
        if (hi == lo) continue;
        if (seen++ % step) continue;
        int nh = (int)(hi - lo);
        if (nh > hist_cap) {
            int32_t *h = realloc(hist, (size_t)nh * sizeof *h);
            if (!h) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto out; }
            hist = h;
            hist_cap = nh;
        }
        memcpy(hist, d->m_idx + lo, (size_t)nh * sizeof *hist);
        rc = mq_model_score(m, hist, NULL, nh, sc, err);
        if (rc) goto out;
        for (int i = 0; i < nh; i++) sc[hist[i]] = NAN;
        int got = mq__topk(sc, nt, REF_TOP, idx, top);
        for (int i = 0; i < got; i++) if (isfinite(top[i])) pool[np++] = top[i];
    }
    if (np < 10 * MQ_MODEL_SCORE_BINS) goto out;
    qsort(pool, (size_t)np, sizeof *pool, cmp_float);
    float *edges = mq__alloc(MQ_MODEL_SCORE_BINS - 1, sizeof *edges);
    if (!edges) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto out; }
    for (int k = 1; k < MQ_MODEL_SCORE_BINS; k++) edges[k - 1] = pool[(np * k) / MQ_MODEL_SCORE_BINS];
    rc = mq__model_add(m, "score_ref", MQ__A_F32, MQ_MODEL_SCORE_BINS - 1, edges, err);
out:
    free(sc);
    free(pool);
    free(top);
    free(idx);
    free(hist);
    return rc;
}

int mq_model_score_ref(const mq_model *m, float edges[MQ_MODEL_SCORE_BINS - 1])
{
    int64_t n = 0;
    const float *e = mq__model_get(m, "score_ref", MQ__A_F32, &n, NULL);
    if (!e || n != MQ_MODEL_SCORE_BINS - 1) return MQ_ENOTFOUND;
    memcpy(edges, e, (MQ_MODEL_SCORE_BINS - 1) * sizeof *edges);
    return 0;
}

int mq_model_score_bin_top(const float edges[MQ_MODEL_SCORE_BINS - 1], const float *scores, int32_t n_titles,
                           unsigned long long counts[MQ_MODEL_SCORE_BINS])
{
    int32_t idx[REF_TOP];
    float top[REF_TOP];
    int got = mq__topk(scores, n_titles, REF_TOP, idx, top);
    for (int i = 0; i < got; i++) {
        int b = 0;
        while (b < MQ_MODEL_SCORE_BINS - 1 && top[i] >= edges[b]) b++;
        counts[b]++;
    }
    return got;
}

double mq_model_psi(const unsigned long long counts[MQ_MODEL_SCORE_BINS])
{
    double n = 0, psi = 0, e = 1.0 / MQ_MODEL_SCORE_BINS;
    for (int b = 0; b < MQ_MODEL_SCORE_BINS; b++) n += (double)counts[b];
    if (!(n > 0)) return NAN;
    for (int b = 0; b < MQ_MODEL_SCORE_BINS; b++) {
        double a = MQ_MAX((double)counts[b] / n, 1e-4);   /* an empty bin counts as 0.01% */
        psi += (a - e) * log(a / e);
    }
    return psi;
}
