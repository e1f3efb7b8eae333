/* features.c: candidates and point-in-time features for the ranker.
 *
 * Snapshot at a cut time T (mq__rank_snap_build): the positives of d with time < T form a
 * dataset (mq_dataset_select; title indices unchanged) on which every generator and the
 * item-kNN similarity model (k = 100, shrink 0) are trained; per-title statistics come from
 * the same events. Nothing at or after T is read, so features at T are the same whether or
 * not later events exist (tests/rank/test_rank.c: rank_features_are_point_in_time).
 *
 * Candidates of a member: each generator scores every title from the member's history
 * (fold-in); history titles and titles with no positive before T are removed; the top N of
 * each generator (ties by the lower title index, mq__topk) are united. Features per candidate
 * t (2 per generator, then the fixed block; NaN = missing, XGBoost learns where it goes):
 *   <g>_score   generator g's fold-in score of t
 *   <g>_rank    t's position in g's top N (1 = best), N + 1 when outside it
 *   pop         positives on t before T
 *   pop_7d      positives on t in [T − 7 d, T);  pop_30d: in [T − 30 d, T)
 *   trending    Σ over t's positives before T of 0.5^((T − time) / 7 d)
 *   age_years   (1970 + T / 31556952 s) − release year (missing when the year is unknown)
 *   days_since_first  (T − time of t's first positive) / 86400
 *   hist_len    the member's positives before T
 *   days_since_last   (T − the member's latest positive) / 86400 (missing without times)
 *   genre_affinity    mean over t's genres G of the share of the member's history titles
 *                     having that genre; 0 when t has no genre (missing: empty history)
 *   sim_last_max / sim_last_mean: max and mean over the member's last 10 positives (by time,
 *                     ties by the higher title index; without times the last 10 entries of
 *                     the history as given) of the item-kNN cosine to t (0 outside the top
 *                     100 neighbours); missing for an empty history
 *   hour        the request's hour of day (missing offline: the data sets carry no context)
 *   pop_share, pop_7d_share, pop_30d_share, trending_share: each of the four title counts
 *               divided by its sum over all titles (comparable across cut times whose activity
 *               differs; trees split on absolute values)
 *
 * Cost per member: one fold-in per generator (O(n_titles) each), a top-N heap per generator,
 * O(10 × 100) for the similarity rows, O(features) per candidate. Scratch is per thread and
 * reset only where it was touched (stamps), so no O(n_titles) clearing per member.
 */
#include "rank/rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400.0

void mq__rank_title_stats(const mq_dataset *d, int64_t T, float *stat, int64_t *first)
{
    int32_t n = d->n_titles;
    float *pop = stat, *p7 = stat + n, *p30 = stat + 2 * (size_t)n, *tr = stat + 3 * (size_t)n;
    for (int32_t t = 0; t < n; t++) {
        double a = 0, b = 0, c = 0, s = 0;
        int64_t f = INT64_MAX;
        for (int64_t e = d->t_ptr[t]; e < d->t_ptr[t + 1]; e++) {
            int64_t tm = d->t_time[e];
            if (tm >= T || !mq__rank_positive(d, d->t_val[e])) continue;
            double age = (double)(T - tm);
            a += 1;
            b += age <= 7 * DAY;
            c += age <= 30 * DAY;
            s += exp2(-age / (7 * DAY));
            if (tm < f) f = tm;
        }
        pop[t] = (float)a;
        p7[t] = (float)b;
        p30[t] = (float)c;
        tr[t] = (float)s;
        first[t] = f;
    }
}

void mq__rank_snap_totals(mq__rank_snap *s)
{
    for (int k = 0; k < 4; k++) {
        double a = 0;
        for (int32_t t = 0; t < s->n_titles; t++) a += s->stat[(size_t)k * s->n_titles + t];
        s->tot[k] = a;
    }
}

void mq__rank_owned_release(mq__rank_owned *o)
{
    for (int g = 0; g < MQ__RANK_MAX_GEN; g++) mq_model_destroy(o->gen[g]);
    mq_model_destroy(o->sim);
    free(o->stat);
    free(o->first);
    memset(o, 0, sizeof *o);
}

int mq__rank_snap_build(const mq_dataset *d, int64_t T, const char *const *gens, int n_gen,
                        const char *const *const *gen_params, const int *n_gp, int n_top,
                        int n_threads, uint64_t seed, mq__rank_owned *o, mq_err *err)
{
    memset(o, 0, sizeof *o);
    if (n_gen < 1 || n_gen > MQ__RANK_MAX_GEN)
        return mq__err_set(err, MQ_EINVAL, "ranker: 1 to %d generators expected", MQ__RANK_MAX_GEN);
    uint8_t *keep = malloc((size_t)MQ_MAX(d->nnz, 1));
    if (!keep) return mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
    int64_t n_keep = 0;
    for (int64_t e = 0; e < d->nnz; e++) {
        keep[e] = d->m_time[e] < T && mq__rank_positive(d, d->m_val[e]);
        n_keep += keep[e];
    }
    if (n_keep == 0) {
        free(keep);
        return mq__err_set(err, MQ_EINVAL, "ranker: no positives before the cut time %lld",
                           (long long)T);
    }
    mq_dataset *before = NULL;
    int rc = mq_dataset_select(d, keep, true, &before, err);
    free(keep);
    if (rc) return rc;
    o->stat = malloc((size_t)d->n_titles * 4 * sizeof *o->stat);
    o->first = malloc((size_t)d->n_titles * sizeof *o->first);
    if (!o->stat || !o->first) {
        rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        goto fail;
    }
    mq__rank_title_stats(d, T, o->stat, o->first);
    for (int g = 0; g < n_gen; g++) {
        mq_train_opts to;
        mq_train_opts_init(&to, sizeof to);
        to.params = gen_params ? gen_params[g] : NULL;
        to.n_params = n_gp ? n_gp[g] : 0, to.n_threads = n_threads, to.seed = seed;
        rc = mq__model_train_sub(gens[g], before, &to, &o->gen[g], err);
        if (rc) goto fail;
    }
    static const char *const knn_p[] = {"k=100", "shrink=0"};
    mq_train_opts ko;
    mq_train_opts_init(&ko, sizeof ko);
    ko.params = knn_p, ko.n_params = 2, ko.n_threads = n_threads, ko.seed = seed;
    rc = mq__model_train_sub("itemknn", before, &ko, &o->sim, err);
    if (rc) goto fail;
    mq__rank_snap *s = &o->s;
    s->now = T;
    s->n_titles = d->n_titles;
    s->n_gen = n_gen;
    for (int g = 0; g < n_gen; g++) s->gen[g] = o->gen[g];
    s->sim = o->sim;
    rc = mq__model_bind_csr(o->sim, &s->sim_ptr, &s->sim_idx, &s->sim_val, err);
    if (rc) goto fail;
    s->stat = o->stat;
    mq__rank_snap_totals(s);
    s->first = o->first;
    s->years = d->catalog.years;
    s->genres = d->catalog.genres;
    s->n_top = n_top;
    mq_dataset_destroy(before);
    return 0;
fail:
    mq_dataset_destroy(before);
    mq__rank_owned_release(o);
    return rc;
}

int mq__rank_scratch_init(mq__rank_scratch *w, const mq__rank_snap *s, mq_err *err)
{
    memset(w, 0, sizeof *w);
    size_t n = (size_t)s->n_titles;
    w->n_titles = s->n_titles;
    w->n_gen = s->n_gen;
    w->scores = malloc((size_t)s->n_gen * n * sizeof *w->scores);
    w->rank = calloc((size_t)s->n_gen * n, sizeof *w->rank);
    w->mark = calloc(n, sizeof *w->mark);
    w->simsum = calloc(n, sizeof *w->simsum);
    w->simmax = calloc(n, sizeof *w->simmax);
    w->topi = malloc((size_t)MQ_MAX(s->n_top, 1) * sizeof *w->topi);
    w->topv = malloc((size_t)MQ_MAX(s->n_top, 1) * sizeof *w->topv);
    if (!w->scores || !w->rank || !w->mark || !w->simsum || !w->simmax || !w->topi || !w->topv) {
        mq__rank_scratch_release(w);
        return mq__err_set(err, MQ_ENOMEM, "ranker: out of memory for feature scratch");
    }
    return 0;
}

void mq__rank_scratch_release(mq__rank_scratch *w)
{
    free(w->scores);
    free(w->rank);
    free(w->mark);
    free(w->simsum);
    free(w->simmax);
    free(w->topi);
    free(w->topv);
    memset(w, 0, sizeof *w);
}

void mq__rank_feature_names(const char *const *gens, int n_gen, char (*names)[32])
{
    static const char *const fixed[F_N_FIXED] = {
        "pop", "pop_7d", "pop_30d", "trending", "age_years", "days_since_first", "hist_len",
        "days_since_last", "genre_affinity", "sim_last_max", "sim_last_mean", "hour",
        "pop_share", "pop_7d_share", "pop_30d_share", "trending_share"};
    for (int g = 0; g < n_gen; g++) {
        snprintf(names[2 * g], 32, "%s_score", gens[g]);
        snprintf(names[2 * g + 1], 32, "%s_rank", gens[g]);
    }
    for (int i = 0; i < F_N_FIXED; i++) snprintf(names[2 * n_gen + i], 32, "%s", fixed[i]);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Latest first: time descending, then title index descending. */
typedef struct tpos {
    int64_t time;
    int32_t title;
} tpos;

static int cmp_recent(const void *a, const void *b)
{
    const tpos *x = a, *y = b;
    if (x->time != y->time) return x->time < y->time ? 1 : -1;
    return (x->title < y->title) - (x->title > y->title);
}

static inline int popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int)((x * 0x0101010101010101ull) >> 56);
}

int mq__rank_member_features(const mq__rank_snap *s, const int32_t *hist, const int64_t *htime,
                             int n_hist, int hour, mq__rank_scratch *w, int32_t *cand, float *x,
                             mq_err *err)
{
    int32_t n = s->n_titles;
    int G = s->n_gen, N = s->n_top, nf = mq__rank_n_features(G);
    const float *pop = s->stat;
    for (int i = 0; i < n_hist; i++)
        if (hist[i] < 0 || hist[i] >= n)
            return mq__err_set(err, MQ_EINVAL, "ranker: history title %d outside [0, %d)", hist[i], n);
    /* New stamps; on wrap-around clear the mark array once. */
    if (w->stamp >= INT32_MAX - 4) {
        memset(w->mark, 0, (size_t)n * sizeof *w->mark);
        w->stamp = 0;
    }
    int32_t hist_stamp = ++w->stamp, cand_stamp = ++w->stamp;
    for (int i = 0; i < n_hist; i++) w->mark[hist[i]] = hist_stamp;
    int n_cand = 0;
    for (int g = 0; g < G; g++) {
        float *sc = w->scores + (size_t)g * n;
        int rc = mq_model_score(s->gen[g], hist, NULL, n_hist, sc, err);
        if (rc) return rc;
        /* A copy with history and never-seen titles removed picks the top N. */
        int32_t *rk = w->rank + (size_t)g * n;
        /* History and never-seen titles are masked in place (their scores are not features). */
        for (int i = 0; i < n_hist; i++) sc[hist[i]] = NAN;
        for (int32_t t = 0; t < n; t++)
            if (!(pop[t] > 0)) sc[t] = NAN;
        int c = mq__topk(sc, n, N, w->topi, w->topv);
        for (int i = 0; i < c; i++) {
            int32_t t = w->topi[i];
            rk[t] = i + 1;
            if (w->mark[t] != cand_stamp) {
                w->mark[t] = cand_stamp;
                cand[n_cand++] = t;
            }
        }
    }
    qsort(cand, (size_t)n_cand, sizeof *cand, cmp_i32);
    /* Member block. */
    double last_days = NAN;
    tpos *rec = NULL;
    int n_last = MQ_MIN(n_hist, MQ__RANK_LAST);
    int32_t last[MQ__RANK_LAST];
    if (htime && n_hist > 0) {
        rec = malloc((size_t)n_hist * sizeof *rec);
        if (!rec) return mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        for (int i = 0; i < n_hist; i++) rec[i] = (tpos){htime[i], hist[i]};
        qsort(rec, (size_t)n_hist, sizeof *rec, cmp_recent);
        last_days = (double)(s->now - rec[0].time) / DAY;
        for (int i = 0; i < n_last; i++) last[i] = rec[i].title;
        free(rec);
    } else {
        for (int i = 0; i < n_last; i++) last[i] = hist[n_hist - 1 - i];
    }
    double gshare[MQ_MAX_GENRES];
    memset(gshare, 0, sizeof gshare);
    if (s->genres && n_hist > 0) {
        for (int i = 0; i < n_hist; i++) {
            uint64_t gb = s->genres[hist[i]];
            while (gb) {
                int b = __builtin_ctzll(gb);
                gshare[b] += 1;
                gb &= gb - 1;
            }
        }
        for (int b = 0; b < MQ_MAX_GENRES; b++) gshare[b] /= n_hist;
    }
    for (int i = 0; i < n_last; i++) {
        int32_t j = last[i];
        for (int64_t e = s->sim_ptr[j]; e < s->sim_ptr[j + 1]; e++) {
            int32_t t = s->sim_idx[e];
            float v = s->sim_val[e];
            w->simsum[t] += v;
            if (v > w->simmax[t]) w->simmax[t] = v;
        }
    }
    double year_now = 1970.0 + (double)s->now / 31556952.0;
    for (int c = 0; c < n_cand; c++) {
        int32_t t = cand[c];
        float *r = x + (size_t)c * nf;
        for (int g = 0; g < G; g++) {
            r[2 * g] = w->scores[(size_t)g * n + t];
            int32_t rk = w->rank[(size_t)g * n + t];
            r[2 * g + 1] = (float)(rk > 0 ? rk : N + 1);
        }
        float *f = r + 2 * G;
        f[F_POP] = pop[t];
        f[F_POP7] = s->stat[(size_t)n + t];
        f[F_POP30] = s->stat[2 * (size_t)n + t];
        f[F_TREND] = s->stat[3 * (size_t)n + t];
        f[F_AGE] = s->years && s->years[t] > 0 ? (float)(year_now - s->years[t]) : NAN;
        f[F_FIRST] = s->first[t] < INT64_MAX ? (float)((double)(s->now - s->first[t]) / DAY) : NAN;
        f[F_HLEN] = (float)n_hist;
        f[F_LAST] = (float)last_days;
        if (n_hist == 0) {
            f[F_GENRE] = NAN;
            f[F_SIMMAX] = NAN;
            f[F_SIMMEAN] = NAN;
        } else {
            double a = 0;
            uint64_t gb = s->genres ? s->genres[t] : 0;
            int ng = popcount64(gb);
            while (gb) {
                a += gshare[__builtin_ctzll(gb)];
                gb &= gb - 1;
            }
            f[F_GENRE] = ng ? (float)(a / ng) : 0.0f;
            f[F_SIMMAX] = w->simmax[t];
            f[F_SIMMEAN] = w->simsum[t] / (float)n_last;
        }
        f[F_HOUR] = hour >= 0 ? (float)hour : NAN;
        for (int k = 0; k < 4; k++)
            f[F_POP_SH + k] = s->tot[k] > 0 ? (float)(s->stat[(size_t)k * n + t] / s->tot[k]) : 0.0f;
    }
    /* Reset what was touched: ranks of every generator's top list, similarity rows. */
    for (int c = 0; c < n_cand; c++)
        for (int g = 0; g < G; g++) w->rank[(size_t)g * n + cand[c]] = 0;
    for (int i = 0; i < n_last; i++) {
        int32_t j = last[i];
        for (int64_t e = s->sim_ptr[j]; e < s->sim_ptr[j + 1]; e++) {
            w->simsum[s->sim_idx[e]] = 0;
            w->simmax[s->sim_idx[e]] = 0;
        }
    }
    return n_cand;
}
