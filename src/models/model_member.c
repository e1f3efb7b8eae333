/* model_member.c: recommendations for one member of a dataset, named by external id, as one
 * library call: what `marquee recommend --member ID --data PATH` does, for embedders (the
 * Python binding, python/marquee/) and the CLI alike.
 *
 * The member's history is their row of `pos` (the implicit positives of the data, e.g. from
 * mq_data_positives), each title mapped to the model's title index by external id; titles the
 * model never saw are skipped and counted. Titles of the member's row in `raw` (the data before
 * binarization, which also holds what they watched but did not like, e.g. a 3-star rating) are
 * "seen": not history, but never recommended unless the filter says include_seen.
 */
#include "models/model.h"

#include <stdlib.h>
#include <string.h>

/* The model's indices of the titles in member u's row of d; unknown ones counted. */
static int row_titles(const mq_model *m, const mq_dataset *d, int32_t u, int32_t **out, int *n_out,
                      int *n_unknown)
{
    int64_t len = d->m_ptr[u + 1] - d->m_ptr[u];
    int32_t *v = malloc((size_t)(len > 0 ? len : 1) * sizeof *v);
    if (!v) return MQ_ENOMEM;
    int n = 0, unknown = 0;
    for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) {
        int32_t t = mq_model_title_index(m, mq_idmap_name(d->title_ids, d->m_idx[e]));
        if (t < 0) unknown++;
        else v[n++] = t;
    }
    *out = v;
    *n_out = n;
    if (n_unknown) *n_unknown = unknown;
    return 0;
}

int mq_model_member_history(const mq_model *m, const mq_dataset *pos, const mq_dataset *raw,
                            const char *member, int32_t **hist, int *n_hist, int32_t **seen,
                            int *n_seen, int *n_unknown, mq_err *err)
{
    *hist = NULL;
    *n_hist = 0;
    if (seen) *seen = NULL;
    if (n_seen) *n_seen = 0;
    if (!m || !pos || !member) return mq__err_set(err, MQ_EINVAL, "member history: NULL argument");
    int32_t u = mq_idmap_find(pos->member_ids, member, strlen(member));
    if (u < 0)
        return mq__err_set(err, MQ_ENOTFOUND, "member '%s' has no positives in the data", member);
    if (row_titles(m, pos, u, hist, n_hist, n_unknown)) goto oom;
    if (seen && n_seen && raw) {
        int32_t ru = mq_idmap_find(raw->member_ids, member, strlen(member));
        if (ru >= 0 && row_titles(m, raw, ru, seen, n_seen, NULL)) goto oom;
    }
    return 0;
oom:
    free(*hist);
    *hist = NULL;
    *n_hist = 0;
    return mq__err_set(err, MQ_ENOMEM, "member history: out of memory");
}

int mq_model_recommend_member(const mq_model *m, const mq_dataset *pos, const mq_dataset *raw,
                              const char *member, const mq_filter *f, int n, int32_t *out_titles,
                              float *out_scores, mq_err *err)
{
    mq_filter fm; int frc = MQ__OPTS_GET(mq_filter, &fm, f, err); if (frc) return frc;
    int32_t *hist = NULL, *seen = NULL, *ex = NULL;
    int n_hist = 0, n_seen = 0;
    int rc = mq_model_member_history(m, pos, fm.include_seen ? NULL : raw, member, &hist, &n_hist,
                                     &seen, &n_seen, NULL, err);
    if (rc) return rc;
    if (n_seen) {
        ex = malloc(((size_t)fm.n_exclude + (size_t)n_seen) * sizeof *ex);
        if (!ex) {
            rc = mq__err_set(err, MQ_ENOMEM, "recommend: out of memory");
            goto done;
        }
        if (fm.n_exclude) memcpy(ex, fm.exclude, (size_t)fm.n_exclude * sizeof *ex);
        memcpy(ex + fm.n_exclude, seen, (size_t)n_seen * sizeof *ex);
        fm.exclude = ex;
        fm.n_exclude += n_seen;
    }
    rc = mq_model_recommend(m, hist, NULL, n_hist, &fm, n, out_titles, out_scores, err);
done:
    free(hist);
    free(seen);
    free(ex);
    return rc;
}
