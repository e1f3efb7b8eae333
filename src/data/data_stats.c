/* data_stats.c: summary statistics of a dataset (`marquee data stats`).
 *
 * Counts come straight from the CSR/CSC pointers. The top-1% share sorts per-title counts
 * (descending) and sums the first ceil(0.01 * n_titles) of them over nnz. Member activity
 * quantiles use linear interpolation between order statistics (numpy's default "linear"
 * method: position p * (n - 1)). O(nnz) for the time range, O(n log n) for the sorts.
 */
#include "data/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

static int cmp_asc(const void *a, const void *b) { return -cmp_desc(a, b); }

/* Quantile p of sorted v[0..n) with linear interpolation. */
static double quantile(const int64_t *v, int64_t n, double p)
{
    if (n == 0) return 0;
    double pos = p * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    int64_t hi = lo + 1 < n ? lo + 1 : lo;
    double f = pos - (double)lo;
    return (double)v[lo] + f * (double)(v[hi] - v[lo]);
}

void mq_data_stats_compute(const mq_dataset *d, mq_data_stats *s)
{
    memset(s, 0, sizeof *s);
    s->n_members = d->n_members;
    s->n_titles = d->n_titles;
    s->nnz = d->nnz;
    s->density = d->n_members && d->n_titles ? (double)d->nnz / ((double)d->n_members * (double)d->n_titles) : 0;
    int64_t n = MQ_MAX(d->n_members, d->n_titles);
    int64_t *cnt = malloc((size_t)MQ_MAX(n, 1) * sizeof *cnt);
    if (!cnt) return;   /* leaves the derived figures at 0; callers print what they have */
    for (int32_t t = 0; t < d->n_titles; t++) {
        cnt[t] = d->t_ptr[t + 1] - d->t_ptr[t];
        s->n_titles_with_events += cnt[t] > 0;
    }
    qsort(cnt, (size_t)d->n_titles, sizeof *cnt, cmp_desc);
    int64_t k = (int64_t)ceil(0.01 * d->n_titles), top = 0;
    if (k < 1) k = 1;
    for (int64_t i = 0; i < k && i < d->n_titles; i++) top += cnt[i];
    s->top1pct_share = d->nnz ? (double)top / (double)d->nnz : 0;
    for (int32_t u = 0; u < d->n_members; u++) cnt[u] = d->m_ptr[u + 1] - d->m_ptr[u];
    qsort(cnt, (size_t)d->n_members, sizeof *cnt, cmp_asc);
    static const double qs[5] = {0, 0.25, 0.5, 0.75, 1};
    for (int i = 0; i < 5; i++) s->activity_q[i] = quantile(cnt, d->n_members, qs[i]);
    s->activity_mean = d->n_members ? (double)d->nnz / d->n_members : 0;
    free(cnt);
    if (d->nnz) {
        s->time_min = s->time_max = d->m_time[0];
        for (int64_t e = 1; e < d->nnz; e++) {
            if (d->m_time[e] < s->time_min) s->time_min = d->m_time[e];
            if (d->m_time[e] > s->time_max) s->time_max = d->m_time[e];
        }
    }
}
