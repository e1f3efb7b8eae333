/* ranker.c: the "ranker" model kind: training protocol, artifact arrays, scoring.
 *
 * Training on d (every event before T2 = d's latest time + 1; d must carry timestamps):
 *   window cuts c_0 = T2 > c_1 > ... > c_W, c_k = the (1 − k·label_frac) quantile of d's
 *   positive times (label_frac 0.1, W = windows = 8); label window k = [c_k, c_k−1);
 *   for each window a snapshot at c_k (features.c): generators and similarity trained on the
 *   positives before c_k, never on anything later;
 *   the window's queries: members with a positive in it on a title some positive before c_k
 *   has; each query's candidates and features at c_k; labels: binary (a positive in the
 *   window), rating (1 + round(max(0, rating − the member's mean rating before c_k)) for
 *   positives, else 0; needs explicit ratings) or play_seconds (1 + min(8, floor(log2(1 +
 *   minutes watched)))) for positives; needs durations); graded values come from the raw
 *   data mq_rank_train was given (the commands pass --data before binarization), else d;
 *   window 1 (the latest) is the validation window, windows 2..W' train, W' the first of
 *   3, 5, 9, ... (and W itself) whose order head scores best on the validation window;
 *   the order head (objective=pairwise: rank:pairwise, or ndcg: rank:ndcg) and the play
 *   probability (binary:logistic on "is a positive"), each boosted for `rounds` (150; depth 4,
 *   min_child_weight 20: a few hundred queries per window) and cut at its best round on the
 *   validation window (NDCG@20, log loss; early_stop > 0 stops after that many rounds without
 *   improvement instead of running all of them), both blind to the excluded features
 *   (exclude=auto: the counts whose scale follows the period's activity, pop, pop_7d, pop_30d,
 *   trending and the pop/trending generator scores; they are NaN in every training row, so no
 *   tree splits on them) and, with monotone=1, increasing in each share feature and
 *   decreasing in each generator rank;
 *   with tune=1 both are trained for each point of a small grid (depth 4, 6, 8 × eta 0.05,
 *   0.1, 0.2) and the best validation value wins; with refit=1 (default) the order head is
 *   trained once more on every window with the chosen rounds, depth and eta;
 *   Platt and isotonic calibration of the play probability fitted on cross-fitted
 *   predictions of windows 1..W' (calib=crossfit; crossfit_predict) or on the validation
 *   window (calib=validation); with durations in the data, a watch-time head (reg:squarederror
 *   on the plays' seconds, artifact section "booster_secs");
 *   then the snapshot at T2 (generators and similarity retrained on all of d's positives) is
 *   what the artifact keeps: the generators and the similarity model as sub-models 0..G, the
 *   boosters as byte arrays "booster_rank" and "booster_prob" (each section CRC-checked like
 *   every artifact section), per-title statistics "stat" and "first", the isotonic blocks
 *   "iso_x"/"iso_y", and in the parameters the as_of time T2, c_1, the rounds kept, Platt's a
 *   and b and the catalog fingerprint (CRC-32C of the title ids, checked on load).
 *
 * Scoring (mq_model_score): the member's candidates and features as of T2 from the history
 * alone (no times: days_since_last is missing and the last plays are the last history
 * entries), the LambdaMART score for candidates, -inf for every other title.
 * mq_rank_evaluate (rank_eval.c) passes the histories' timestamps.
 *
 * XGBoost's rank:ndcg samples pairs with per-thread generators: the boosters are identical
 * for the same seed, data and thread count, not across thread counts.
 */
#include "rank/rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400.0

static const char *const default_gens = "ease,ials,itemknn,pop,trending";

int mq__rank_split_gens(const char *list, char names[][16], int max, mq_err *err)
{
    int n = 0;
    const char *s = list;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l == 0 || l >= 16)
            return mq__err_set(err, MQ_EINVAL, "ranker: parameter 'candidates': bad generator "
                               "name '%.*s'", (int)MQ_MIN(l, 40), s);
        if (n == max)
            return mq__err_set(err, MQ_EINVAL, "ranker: at most %d generators", max);
        memcpy(names[n], s, l);
        names[n][l] = 0;
        if (strcmp(names[n], "ranker") == 0 || strcmp(names[n], "hybrid") == 0 ||
            !mq__model_ops_find(names[n]))
            return mq__err_set(err, MQ_EINVAL, "ranker: unknown generator '%s' in candidates "
                               "(pop, trending, itemknn, ease, dlae, ials, content)", names[n]);
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], names[n]) == 0)
                return mq__err_set(err, MQ_EINVAL, "ranker: generator '%s' named twice", names[n]);
        n++;
        s += l;
        if (*s == ',') s++;
    }
    if (n == 0) return mq__err_set(err, MQ_EINVAL, "ranker: no generators in candidates");
    return n;
}

uint32_t mq__rank_fingerprint(const mq_idmap *ids, int32_t n)
{
    uint32_t crc = mq_crc32c(0, &n, sizeof n);
    for (int32_t t = 0; t < n; t++) {
        const char *s = mq_idmap_name(ids, t);
        crc = mq_crc32c(crc, s, strlen(s) + 1);
    }
    return crc;
}

/* ---- training ------------------------------------------------------------------------------ */

typedef struct rk_cfg {
    char gens[MQ__RANK_MAX_GEN][16];
    int n_gen;
    const char *gp[MQ__RANK_MAX_GEN][16];   /* generator parameters "name=value" */
    int n_gp[MQ__RANK_MAX_GEN];
    char gp_store[MQ__RANK_MAX_GEN][16][160];
    long top, depth, rounds, early, tune, windows, refit;
    double label_frac, eta, mcw, lambda;
    int label;                              /* 0 binary, 1 rating, 2 play_seconds */
    int pairwise;                           /* objective: 1 rank:pairwise, 0 rank:ndcg */
    long monotone;                          /* monotone constraints on shares and ranks */
    const char *exclude;                    /* the parameter's text */
    int watch;                              /* watch-time head: -1 auto, 0 off, 1 on */
    int rel_watch;                          /* relevance=watch_time (serving) */
    int calib_cross;                        /* calib=crossfit (1) or validation (0) */
} rk_cfg;

static int parse_cfg(mq__params *p, rk_cfg *c, mq_err *err)
{
    memset(c, 0, sizeof *c);
    const char *gl = mq__param_str(p, "candidates", default_gens);
    int n = mq__rank_split_gens(gl, c->gens, MQ__RANK_MAX_GEN, err);
    if (n < 0) return n;
    c->n_gen = n;
    int rc;
    if ((rc = mq__param_int(p, "ranker", "top", 200, 1, 100000, &c->top, err)) ||
        (rc = mq__param_double(p, "ranker", "label_frac", 0.1, 0.001, 0.9, &c->label_frac, err)) ||
        (rc = mq__param_int(p, "ranker", "windows", 8, 2, 20, &c->windows, err)) ||
        (rc = mq__param_int(p, "ranker", "depth", 4, 1, 16, &c->depth, err)) ||
        (rc = mq__param_double(p, "ranker", "eta", 0.1, 1e-4, 1, &c->eta, err)) ||
        (rc = mq__param_int(p, "ranker", "rounds", 150, 1, 5000, &c->rounds, err)) ||
        (rc = mq__param_int(p, "ranker", "early_stop", 0, 0, 5000, &c->early, err)) ||
        (rc = mq__param_double(p, "ranker", "min_child_weight", 20, 0, 1e6, &c->mcw, err)) ||
        (rc = mq__param_double(p, "ranker", "lambda", 1, 0, 1e6, &c->lambda, err)) ||
        (rc = mq__param_int(p, "ranker", "tune", 0, 0, 1, &c->tune, err)) ||
        (rc = mq__param_int(p, "ranker", "refit", 1, 0, 1, &c->refit, err)) ||
        (rc = mq__param_int(p, "ranker", "monotone", 1, 0, 1, &c->monotone, err)))
        return rc;
    const char *ob = mq__param_str(p, "objective", "pairwise");
    if (strcmp(ob, "pairwise") == 0) c->pairwise = 1;
    else if (strcmp(ob, "ndcg") == 0) c->pairwise = 0;
    else return mq__err_set(err, MQ_EINVAL, "ranker: parameter 'objective': '%s' is not pairwise "
                            "or ndcg", ob);
    c->exclude = mq__param_str(p, "exclude", "auto");
    const char *wa = mq__param_str(p, "watch", "auto");
    if (strcmp(wa, "auto") == 0) c->watch = -1;
    else if (strcmp(wa, "1") == 0) c->watch = 1;
    else if (strcmp(wa, "0") == 0) c->watch = 0;
    else return mq__err_set(err, MQ_EINVAL, "ranker: parameter 'watch': '%s' is not auto, 1 or 0",
                            wa);
    const char *cb = mq__param_str(p, "calib", "crossfit");
    if (strcmp(cb, "crossfit") == 0) c->calib_cross = 1;
    else if (strcmp(cb, "validation") == 0) c->calib_cross = 0;
    else return mq__err_set(err, MQ_EINVAL, "ranker: parameter 'calib': '%s' is not crossfit or "
                            "validation", cb);
    const char *rl = mq__param_str(p, "relevance", "probability");
    if (strcmp(rl, "probability") == 0) c->rel_watch = 0;
    else if (strcmp(rl, "watch_time") == 0) c->rel_watch = 1;
    else return mq__err_set(err, MQ_EINVAL, "ranker: parameter 'relevance': '%s' is not "
                            "probability or watch_time", rl);
    const char *lb = mq__param_str(p, "label", "binary");
    if (strcmp(lb, "binary") == 0) c->label = 0;
    else if (strcmp(lb, "rating") == 0) c->label = 1;
    else if (strcmp(lb, "play_seconds") == 0) c->label = 2;
    else return mq__err_set(err, MQ_EINVAL, "ranker: parameter 'label': '%s' is not binary, "
                            "rating or play_seconds", lb);
    /* Generator parameters: "<generator>.<name>=value". */
    for (int i = 0; i < p->n; i++) {
        const char *dot = strchr(p->name[i], '.');
        if (!dot) continue;
        int g = 0;
        while (g < c->n_gen && (strlen(c->gens[g]) != (size_t)(dot - p->name[i]) ||
                                strncmp(c->gens[g], p->name[i], (size_t)(dot - p->name[i]))))
            g++;
        if (g == c->n_gen)
            return mq__err_set(err, MQ_EINVAL, "ranker: parameter '%s': '%.*s' is not one of "
                               "the candidates (%s)", p->name[i], (int)(dot - p->name[i]),
                               p->name[i], gl);
        if (c->n_gp[g] == 16) return mq__err_set(err, MQ_EINVAL, "ranker: too many parameters for %s", c->gens[g]);
        char *st = c->gp_store[g][c->n_gp[g]];
        snprintf(st, 160, "%s=%s", dot + 1, p->val[i]);
        c->gp[g][c->n_gp[g]++] = st;
        p->used[i] = true;
    }
    return 0;
}

/* One query's rows while training. */
typedef struct query {
    int32_t member;
    int n;
    int32_t *cand;
    float *x;
    float *grade, *y;
    float *secs;              /* seconds played for a positive with a duration, else NaN */
    bool valid;
    bool skip;                /* in a window older than the number of windows chosen */
    int window;
} query;

typedef struct feat_job {
    const mq__rank_snap *s;
    const mq_dataset *d;
    int64_t T;
    query *q;
    mq__rank_scratch *w;      /* [threads] */
    int32_t **cbuf;
    float **xbuf;
    int64_t **tbuf;
    int32_t **hbuf;
    mq_err errs[64];
} feat_job;

/* The positives of member u before T: titles and times into hb/tb; returns the count. */
static int member_before(const mq_dataset *d, int32_t u, int64_t T, int32_t *hb, int64_t *tb)
{
    int n = 0;
    for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++)
        if (d->m_time[e] < T && mq__rank_positive(d, d->m_val[e])) {
            hb[n] = d->m_idx[e];
            tb[n] = d->m_time[e];
            n++;
        }
    return n;
}

static int feat_range(void *vctx, int64_t b, int64_t e, int tid)
{
    feat_job *j = vctx;
    int nf = mq__rank_n_features(j->s->n_gen);
    for (int64_t i = b; i < e; i++) {
        query *q = &j->q[i];
        int nh = member_before(j->d, q->member, j->T, j->hbuf[tid], j->tbuf[tid]);
        int c = mq__rank_member_features(j->s, j->hbuf[tid], j->tbuf[tid], nh, -1, &j->w[tid],
                                         j->cbuf[tid], j->xbuf[tid], &j->errs[tid & 63]);
        if (c < 0) return c;
        q->n = c;
        q->cand = malloc((size_t)MQ_MAX(c, 1) * sizeof *q->cand);
        q->x = malloc((size_t)MQ_MAX(c, 1) * nf * sizeof *q->x);
        q->grade = calloc((size_t)MQ_MAX(c, 1), sizeof *q->grade);
        q->y = calloc((size_t)MQ_MAX(c, 1), sizeof *q->y);
        q->secs = malloc((size_t)MQ_MAX(c, 1) * sizeof *q->secs);
        if (!q->cand || !q->x || !q->grade || !q->y || !q->secs)
            return mq__err_set(&j->errs[tid & 63], MQ_ENOMEM, "ranker: out of memory");
        memcpy(q->cand, j->cbuf[tid], (size_t)c * sizeof *q->cand);
        memcpy(q->x, j->xbuf[tid], (size_t)c * nf * sizeof *q->x);
        for (int k = 0; k < c; k++) q->secs[k] = NAN;
    }
    return 0;
}

void mq__rank_rows_release(mq__rank_rows *r)
{
    free(r->x);
    free(r->grade);
    free(r->y);
    free(r->secs);
    free(r->set);
    free(r->group);
    free(r->member);
    free(r->title);
    mq_idmap_destroy(r->names);
    memset(r, 0, sizeof *r);
}

/* Features of the queries q [nq] at the snapshot s (parallel over queries). */
static int build_queries(const mq__rank_snap *s, const mq_dataset *d, int64_t T, query *q,
                         int32_t nq, int threads, mq_err *err)
{
    int nt = mq__threads(threads);
    feat_job *j = calloc(1, sizeof *j);
    if (!j) return mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
    j->s = s;
    j->d = d;
    j->T = T;
    j->q = q;
    j->w = calloc((size_t)nt, sizeof *j->w);
    j->cbuf = calloc((size_t)nt, sizeof *j->cbuf);
    j->xbuf = calloc((size_t)nt, sizeof *j->xbuf);
    j->tbuf = calloc((size_t)nt, sizeof *j->tbuf);
    j->hbuf = calloc((size_t)nt, sizeof *j->hbuf);
    int rc = 0;
    int64_t maxdeg = 1;
    for (int32_t u = 0; u < d->n_members; u++) maxdeg = MQ_MAX(maxdeg, d->m_ptr[u + 1] - d->m_ptr[u]);
    int mc = mq__rank_max_cand(s), nf = mq__rank_n_features(s->n_gen);
    if (!j->w || !j->cbuf || !j->xbuf || !j->tbuf || !j->hbuf) rc = MQ_ENOMEM;
    for (int t = 0; t < nt && !rc; t++) {
        j->cbuf[t] = malloc((size_t)mc * sizeof **j->cbuf);
        j->xbuf[t] = malloc((size_t)mc * nf * sizeof **j->xbuf);
        j->tbuf[t] = malloc((size_t)maxdeg * sizeof **j->tbuf);
        j->hbuf[t] = malloc((size_t)maxdeg * sizeof **j->hbuf);
        if (!j->cbuf[t] || !j->xbuf[t] || !j->tbuf[t] || !j->hbuf[t]) rc = MQ_ENOMEM;
        else if (mq__rank_scratch_init(&j->w[t], s, err)) rc = MQ_ENOMEM;
    }
    if (rc) {
        mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
    } else {
        rc = mq__parallel_for(nt, nq, 4, feat_range, j);
        if (rc)
            for (int i = 0; i < 64; i++)
                if (j->errs[i].code) {
                    if (err) *err = j->errs[i];
                    break;
                }
    }
    for (int t = 0; t < nt && j->w; t++) {
        mq__rank_scratch_release(&j->w[t]);
        if (j->cbuf) free(j->cbuf[t]);
        if (j->xbuf) free(j->xbuf[t]);
        if (j->tbuf) free(j->tbuf[t]);
        if (j->hbuf) free(j->hbuf[t]);
    }
    free(j->w);
    free(j->cbuf);
    free(j->xbuf);
    free(j->tbuf);
    free(j->hbuf);
    free(j);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int find_sorted(const int32_t *v, int n, int32_t x)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (v[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && v[lo] == x ? lo : -1;
}

/* Where graded labels read their values: src (d itself, or the raw data the caller passed)
 * and d's title indices in src (-1: absent); val [src->n_titles] is scratch (NaN between
 * calls). */
typedef struct grade_src {
    const mq_dataset *src;
    int32_t *title;
    float *val;
} grade_src;

/* Labels of query q from the member's events in [T1, Tend): y = 1 for a positive on a
 * candidate; the grade by c->label, from the member's values in g->src; with the watch-time
 * head (watch), secs = the seconds played for each positive whose raw value is known. */
static void label_query(const mq_dataset *d, const rk_cfg *c, const grade_src *g, bool watch,
                        int64_t T1, int64_t Tend, query *q)
{
    int32_t u = q->member;
    const mq_dataset *s = g->src;
    int32_t su = -1;
    double mean = 4.0;
    if (c->label != 0 || watch) {
        const char *id = mq_idmap_name(d->member_ids, u);
        su = s == d ? u : mq_idmap_find(s->member_ids, id, strlen(id));
        if (su >= 0) {
            double sum = 0;
            int nr = 0;
            for (int64_t e = s->m_ptr[su]; e < s->m_ptr[su + 1]; e++) {
                g->val[s->m_idx[e]] = s->m_val[e];
                if (s->m_time[e] < T1) {
                    sum += s->m_val[e];
                    nr++;
                }
            }
            if (nr) mean = sum / nr;
        }
    }
    for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) {
        if (d->m_time[e] < T1 || d->m_time[e] >= Tend) continue;
        if (!mq__rank_positive(d, d->m_val[e])) continue;
        int k = find_sorted(q->cand, q->n, d->m_idx[e]);
        if (k < 0) continue;
        q->y[k] = 1;
        if (c->label == 0 && !watch) {
            q->grade[k] = 1;
            continue;
        }
        int32_t st = s == d ? d->m_idx[e] : g->title[d->m_idx[e]];
        float v = su >= 0 && st >= 0 ? g->val[st] : NAN;
        if (watch) q->secs[k] = v;
        if (c->label == 0) {
            q->grade[k] = 1;
            continue;
        }
        if (isnan(v)) q->grade[k] = 1;   /* no value: the lowest positive grade */
        else if (c->label == 1) q->grade[k] = (float)(1 + lround(MQ_MAX(0.0, v - mean)));
        else {
            double gr = floor(log2(1.0 + v / 60.0));
            q->grade[k] = (float)(1 + MQ_MIN(8.0, MQ_MAX(0.0, gr)));
        }
    }
    if (su >= 0)
        for (int64_t e = s->m_ptr[su]; e < s->m_ptr[su + 1]; e++) g->val[s->m_idx[e]] = NAN;
}

/* Concatenates the rows of the queries with valid == want into an xgb data set. */
static int gather(query *q, int32_t nq, bool want, int nf, bool binary, const uint8_t *excl,
                  mq__xgb_data *out, float **xs, float **ls, uint32_t **gs, mq_err *err)
{
    int64_t n = 0;
    int32_t ng = 0;
    for (int32_t i = 0; i < nq; i++)
        if (q[i].valid == want && q[i].n > 0 && !q[i].skip) {
            n += q[i].n;
            ng++;
        }
    *xs = malloc((size_t)MQ_MAX(n, 1) * nf * sizeof **xs);
    *ls = malloc((size_t)MQ_MAX(n, 1) * sizeof **ls);
    *gs = malloc((size_t)MQ_MAX(ng, 1) * sizeof **gs);
    if (!*xs || !*ls || !*gs) return mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
    int64_t r = 0;
    int32_t g = 0;
    for (int32_t i = 0; i < nq; i++) {
        if (q[i].valid != want || q[i].n == 0 || q[i].skip) continue;
        memcpy(*xs + r * nf, q[i].x, (size_t)q[i].n * nf * sizeof **xs);
        memcpy(*ls + r, binary ? q[i].y : q[i].grade, (size_t)q[i].n * sizeof **ls);
        (*gs)[g++] = (uint32_t)q[i].n;
        r += q[i].n;
    }
    /* Excluded features are missing in every training row: no tree splits on them, so the
     * boosters' predictions do not depend on their values. */
    for (int j = 0; j < nf; j++)
        if (excl[j])
            for (int64_t k = 0; k < n; k++) (*xs)[k * nf + j] = NAN;
    *out = (mq__xgb_data){*xs, *ls, n, nf, *gs, ng};
    return 0;
}

/* The plays of the queries with valid == want (positives whose seconds are known): rows and
 * seconds, excluded features missing as in gather. */
static int gather_plays(query *q, int32_t nq, bool want, int nf, const uint8_t *excl,
                        mq__xgb_data *out, float **xs, float **ls, mq_err *err)
{
    int64_t n = 0;
    for (int32_t i = 0; i < nq; i++)
        if (q[i].valid == want && !q[i].skip)
            for (int k = 0; k < q[i].n; k++) n += q[i].y[k] > 0 && !isnan(q[i].secs[k]);
    *xs = malloc((size_t)MQ_MAX(n, 1) * nf * sizeof **xs);
    *ls = malloc((size_t)MQ_MAX(n, 1) * sizeof **ls);
    if (!*xs || !*ls) return mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
    int64_t r = 0;
    for (int32_t i = 0; i < nq; i++) {
        if (q[i].valid != want || q[i].skip) continue;
        for (int k = 0; k < q[i].n; k++) {
            if (!(q[i].y[k] > 0) || isnan(q[i].secs[k])) continue;
            for (int j = 0; j < nf; j++)
                (*xs)[r * nf + j] = excl[j] ? NAN : q[i].x[(size_t)k * nf + j];
            (*ls)[r++] = q[i].secs[k];
        }
    }
    *out = (mq__xgb_data){*xs, *ls, n, nf, NULL, 0};
    return 0;
}

/* Out-of-fold play probabilities of every row of windows 1..w_max: the windows split by
 * parity (odd: 1, 3, ...; even: 2, 4, ...); a binary:logistic head with the configuration xc
 * (the stored head's depth, eta and rounds, no early stopping) trained on one half predicts
 * the other. p [.., n_out] and y receive the predictions and labels (odd windows' rows first),
 * n_out their count. Cross-fitting as in scikit-learn's CalibratedClassifierCV
 * (ensemble=False): the calibrator sees every window, each through a head that never
 * trained on it, and is then applied to the stored head. */
static int crossfit_predict(query *q, int32_t nq, int w_max, int nf, const uint8_t *excl,
                            const mq__xgb_cfg *xc, double *p, uint8_t *y, int64_t *n_out,
                            mq_err *err)
{
    int64_t k = 0;
    int rc = 0;
    bool *keep_skip = malloc((size_t)MQ_MAX(nq, 1) * sizeof *keep_skip);
    bool *keep_valid = malloc((size_t)MQ_MAX(nq, 1) * sizeof *keep_valid);
    if (!keep_skip || !keep_valid) {
        free(keep_skip);
        free(keep_valid);
        return mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
    }
    for (int32_t i = 0; i < nq; i++) {
        keep_skip[i] = q[i].skip;
        keep_valid[i] = q[i].valid;
    }
    for (int half = 1; half >= 0 && !rc; half--) {
        /* Predict the windows of parity `half` (valid = true) from the others (valid = false). */
        for (int32_t i = 0; i < nq; i++) {
            q[i].skip = q[i].window > w_max;
            q[i].valid = (q[i].window & 1) == half;
        }
        mq__xgb_data ht, hp;
        float *hx[2] = {0}, *hl[2] = {0};
        uint32_t *hg[2] = {0};
        uint8_t *b = NULL;
        size_t l = 0;
        int rounds;
        double v;
        mq__xgb *bst = NULL;
        float *out = NULL;
        rc = gather(q, nq, false, nf, true, excl, &ht, &hx[0], &hl[0], &hg[0], err);
        if (!rc) rc = gather(q, nq, true, nf, true, excl, &hp, &hx[1], &hl[1], &hg[1], err);
        if (!rc && (ht.n == 0 || hp.n == 0))
            rc = mq__err_set(err, MQ_EINVAL, "ranker: cross-fitted calibration needs rows in both "
                             "halves of the windows (windows_used %d; calib=validation)", w_max);
        if (!rc) rc = mq__xgb_train(xc, &ht, NULL, &b, &l, &rounds, &v, err);
        if (!rc) rc = mq__xgb_load(b, l, xc->n_threads, &bst, err);
        if (!rc && !(out = malloc((size_t)hp.n * sizeof *out)))
            rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        if (!rc) rc = mq__xgb_predict(bst, hp.x, hp.n, nf, false, out, err);
        for (int64_t i = 0; !rc && i < hp.n; i++, k++) {
            p[k] = out[i];
            y[k] = hp.label[i] > 0;
        }
        free(out);
        mq__xgb_free(bst);
        free(b);
        for (int j = 0; j < 2; j++) {
            free(hx[j]);
            free(hl[j]);
            free(hg[j]);
        }
    }
    for (int32_t i = 0; i < nq; i++) {
        q[i].skip = keep_skip[i];
        q[i].valid = keep_valid[i];
    }
    free(keep_skip);
    free(keep_valid);
    *n_out = k;
    return rc;
}

static double logit(double p)
{
    p = MQ_MIN(MQ_MAX(p, 1e-15), 1 - 1e-15);
    return log(p / (1 - p));
}

/* Counts whose scale follows the activity of the period before the cut time: the training
 * windows' cut times and the test time see different totals, so the boosters read their
 * shares (and the generators' ranks) instead. */
static const char *const auto_exclude[] = {"pop", "pop_7d", "pop_30d", "trending", "pop_score",
                                           "trending_score"};

int mq__rank_exclude_mask(const char *const *gens, int n_gen, const char *spec, uint8_t *excl,
                          char *canon, size_t cap, mq_err *err)
{
    char names[2 * MQ__RANK_MAX_GEN + F_N_FIXED][32];
    mq__rank_feature_names(gens, n_gen, names);
    int nf = mq__rank_n_features(n_gen);
    memset(excl, 0, (size_t)nf);
    if (strcmp(spec, "auto") == 0) {
        for (int j = 0; j < nf; j++)
            for (size_t k = 0; k < sizeof auto_exclude / sizeof *auto_exclude; k++)
                if (strcmp(names[j], auto_exclude[k]) == 0) excl[j] = 1;
    } else if (strcmp(spec, "none") != 0) {
        const char *s = spec;
        while (*s) {
            const char *e = strchr(s, ',');
            size_t l = e ? (size_t)(e - s) : strlen(s);
            int j = 0;
            while (j < nf && (strlen(names[j]) != l || strncmp(names[j], s, l) != 0)) j++;
            if (j == nf)
                return mq__err_set(err, MQ_EINVAL, "ranker: parameter 'exclude': '%.*s' is not "
                                   "a feature (names in docs/models.md; 'auto' or 'none')",
                                   (int)MQ_MIN(l, 40), s);
            excl[j] = 1;
            s += l;
            if (*s == ',') s++;
        }
    }
    canon[0] = 0;
    for (int j = 0; j < nf; j++)
        if (excl[j]) {
            size_t l = strlen(canon);
            snprintf(canon + l, cap - l, "%s%s", l ? "," : "", names[j]);
        }
    if (!canon[0]) snprintf(canon, cap, "none");
    return 0;
}

void mq__rank_monotone(const char *const *gens, int n_gen, const uint8_t *excl, char *out,
                       size_t cap)
{
    char names[2 * MQ__RANK_MAX_GEN + F_N_FIXED][32];
    mq__rank_feature_names(gens, n_gen, names);
    int nf = mq__rank_n_features(n_gen);
    size_t l = (size_t)snprintf(out, cap, "(");
    for (int j = 0; j < nf && l < cap; j++) {
        size_t n = strlen(names[j]);
        int v = 0;
        if (!excl[j] && n > 6 && strcmp(names[j] + n - 6, "_share") == 0) v = 1;
        else if (!excl[j] && n > 5 && strcmp(names[j] + n - 5, "_rank") == 0) v = -1;
        l += (size_t)snprintf(out + l, cap - l, "%s%d", j ? "," : "", v);
    }
    if (l < cap) snprintf(out + l, cap - l, ")");
}

static int resolve_features(const rk_cfg *c, uint8_t *excl, char *text, size_t cap, char *mono,
                            size_t mcap, mq_err *err)
{
    const char *g[MQ__RANK_MAX_GEN];
    for (int k = 0; k < c->n_gen; k++) g[k] = c->gens[k];
    int rc = mq__rank_exclude_mask(g, c->n_gen, c->exclude, excl, text, cap, err);
    if (rc) return rc;
    mono[0] = 0;
    if (c->monotone) mq__rank_monotone(g, c->n_gen, excl, mono, mcap);
    return 0;
}

/* The ranker's parameters from o (train and the check before any data share this). */
static int ranker_cfg(const mq_train_opts *o, rk_cfg *c, mq_err *err)
{
    mq__params p;
    int rc = mq__params_parse(&p, o->params, o->n_params, err);
    if (rc) return rc;
    if ((rc = parse_cfg(&p, c, err))) return rc;
    return mq__params_done(&p, "ranker", "candidates, top, label, label_frac, windows, "
                           "depth, eta, rounds, early_stop, min_child_weight, lambda, tune, refit, "
                           "objective, exclude, monotone, watch, relevance, calib, "
                           "<generator>.<name>",
                           err);
}

/* The ranker's parameters and each generator's ("<generator>.<name>"), without data. */
static int ranker_check(const mq_train_opts *o, mq_err *err)
{
    rk_cfg *c = malloc(sizeof *c);
    if (!c) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    int rc = ranker_cfg(o, c, err);
    for (int g = 0; !rc && g < c->n_gen; g++) {
        mq_train_opts og = *o;
        og.params = (const char *const *)c->gp[g];
        og.n_params = c->n_gp[g];
        rc = mq_model_check_params(c->gens[g], &og, err);
    }
    free(c);
    return rc;
}

static int ranker_train_raw(mq_model *m, const mq_dataset *d, const mq_dataset *raw,
                            const mq_train_opts *o, mq_err *err)
{
    rk_cfg c;
    int rc = ranker_cfg(o, &c, err);
    if (rc) return rc;
    /* Graded labels read the values of the raw data (the caller's o->raw, or d itself when d
     * was not binarized). */
    const mq_dataset *gsrc = raw ? raw : d;
    if (c.label == 1 && !gsrc->ratings)
        return mq__err_set(err, MQ_EINVAL, "ranker: label=rating needs explicit ratings (this "
                           "data holds implicit values%s)", raw ? "" : ", or positives "
                           "already binarized and no raw data was given");
    if (c.label == 2 && gsrc->ratings)
        return mq__err_set(err, MQ_EINVAL, "ranker: label=play_seconds needs watch durations "
                           "(this data holds ratings)");
    if (c.label == 2) {
        bool dur = false;
        for (int64_t e = 0; e < gsrc->nnz && !dur; e++) dur = gsrc->m_val[e] > 1;
        if (!dur)
            return mq__err_set(err, MQ_EINVAL, "ranker: label=play_seconds needs watch durations "
                               "(every value of this data is at most 1 second: plays without "
                               "durations%s)", raw ? "" : ", or positives already binarized "
                               "and no raw data was given");
    }
    /* The watch-time head: on when the raw data has durations (plays, some value above 1 s;
     * watch=auto), always (watch=1: refused without durations) or never (watch=0). */
    bool has_dur = false;
    if (!gsrc->ratings)
        for (int64_t e = 0; e < gsrc->nnz && !has_dur; e++) has_dur = gsrc->m_val[e] > 1;
    if (c.watch == 1 && !has_dur)
        return mq__err_set(err, MQ_EINVAL, "ranker: watch=1 needs watch durations (this data "
                           "holds %s)", gsrc->ratings ? "ratings" : "plays of at most 1 second");
    bool watch = c.watch == 1 || (c.watch == -1 && has_dur);
    if (c.rel_watch && !watch)
        return mq__err_set(err, MQ_EINVAL, "ranker: relevance=watch_time needs the watch-time "
                           "head, trained only on data with watch durations");
    /* Cut times from the positives' times. */
    int64_t np = 0, tmax = INT64_MIN;
    for (int64_t e = 0; e < d->nnz; e++)
        if (mq__rank_positive(d, d->m_val[e])) np++;
    int64_t *times = malloc((size_t)MQ_MAX(np, 1) * sizeof *times);
    if (!times) return mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
    np = 0;
    for (int64_t e = 0; e < d->nnz; e++)
        if (mq__rank_positive(d, d->m_val[e])) {
            times[np++] = d->m_time[e];
            tmax = MQ_MAX(tmax, d->m_time[e]);
        }
    if (np < 2 || times[0] == 0) {
        bool any = false;
        for (int64_t i = 0; i < np; i++) any = any || times[i] != 0;
        if (!any) {
            free(times);
            return mq__err_set(err, MQ_EINVAL, "ranker: the data has no timestamps (the ranker "
                               "learns from a time window; see docs/models.md)");
        }
    }
    qsort(times, (size_t)np, sizeof *times, cmp_i64);
    /* Window cuts: c_0 = T2, c_k = the (1 − k label_frac) quantile; window k = [c_k, c_k−1). */
    int64_t cuts[21] = {0};
    int64_t T2 = tmax + 1;
    cuts[0] = T2;
    bool bad = false;
    for (int k = 1; k <= c.windows; k++) {
        double qf = 1.0 - k * c.label_frac;
        cuts[k] = qf > 0 ? times[(int64_t)floor(qf * (double)(np - 1))] : times[0];
        bad = bad || cuts[k] <= times[0] || cuts[k] >= cuts[k - 1];
    }
    int64_t T1 = cuts[1];
    free(times);
    if (bad)
        return mq__err_set(err, MQ_EINVAL, "ranker: %ld label windows of %g of the events each "
                           "do not fit in the data (an empty window or nothing before the "
                           "first); lower windows or label_frac", c.windows, c.label_frac);
    const char *gn[MQ__RANK_MAX_GEN];
    const char *const *gpp[MQ__RANK_MAX_GEN];
    for (int g = 0; g < c.n_gen; g++) {
        gn[g] = c.gens[g];
        gpp[g] = c.gp[g];
    }
    grade_src gs_ = {gsrc, NULL, NULL};
    mq__rank_owned s2;
    memset(&s2, 0, sizeof s2);
    query *q = NULL;
    int32_t nq = 0, qcap = 0;
    mq__rank_rows *rows = NULL;
    float *xs[2] = {0}, *ls[2] = {0};
    uint32_t *gs[2] = {0};
    uint8_t *brank = NULL, *bprob = NULL, *bsecs = NULL;
    size_t lrank = 0, lprob = 0, lsecs = 0;
    int wrounds = 0;
    double wbase = 0;
    mq__xgb *pb = NULL;
    double *vz = NULL, *vp = NULL;
    uint8_t *vy = NULL;
    mq_isotonic iso = {0};
    if (c.label != 0 || watch) {
        gs_.val = malloc((size_t)MQ_MAX(gsrc->n_titles, 1) * sizeof *gs_.val);
        gs_.title = malloc((size_t)MQ_MAX(d->n_titles, 1) * sizeof *gs_.title);
        if (!gs_.val || !gs_.title) {
            rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
            goto done;
        }
        for (int32_t t = 0; t < gsrc->n_titles; t++) gs_.val[t] = NAN;
        for (int32_t t = 0; t < d->n_titles; t++) {
            const char *id = mq_idmap_name(d->title_ids, t);
            gs_.title[t] = gsrc == d ? t : mq_idmap_find(gsrc->title_ids, id, strlen(id));
        }
    }
    double t0 = mq_now();
    /* Window 1 (the latest) is the validation window; the earlier ones train. */
    for (int k = 1; k <= c.windows; k++) {
        mq__rank_owned s1;
        rc = mq__rank_snap_build(d, cuts[k], gn, c.n_gen, gpp, c.n_gp, (int)c.top, o->n_threads,
                                 o->seed, &s1, err);
        if (rc) goto done;
        int32_t first = nq;
        for (int32_t u = 0; u < d->n_members; u++) {
            bool any = false;
            for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1] && !any; e++)
                any = d->m_time[e] >= cuts[k] && d->m_time[e] < cuts[k - 1] &&
                      mq__rank_positive(d, d->m_val[e]) && s1.s.stat[d->m_idx[e]] > 0;
            if (!any) continue;
            if (nq == qcap) {
                qcap = qcap ? 2 * qcap : 1024;
                query *nqp = realloc(q, (size_t)qcap * sizeof *q);
                if (!nqp) {
                    mq__rank_owned_release(&s1);
                    rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
                    goto done;
                }
                q = nqp;
            }
            memset(&q[nq], 0, sizeof q[nq]);
            q[nq].member = u;
            q[nq].valid = k == 1;
            q[nq].window = k;
            nq++;
        }
        rc = build_queries(&s1.s, d, cuts[k], q + first, nq - first, o->n_threads, err);
        mq__rank_owned_release(&s1);
        if (rc) goto done;
        for (int32_t i = first; i < nq; i++) label_query(d, &c, &gs_, watch, cuts[k], cuts[k - 1], &q[i]);
        mq__logf(o->log, "ranker: window %d [%lld, %lld): %d queries%s", k, (long long)cuts[k],
                 (long long)cuts[k - 1], nq - first, k == 1 ? " (validation)" : "");
    }
    int32_t n_valid = 0;
    int64_t n_rows = 0;
    for (int32_t i = 0; i < nq; i++) {
        n_valid += q[i].valid;
        n_rows += q[i].n;
    }
    if (n_valid == 0 || n_valid == nq) {
        rc = mq__err_set(err, MQ_EINVAL, "ranker: %d queries in the training windows and %d in "
                         "the validation window; at least one of each is needed", nq - n_valid,
                         n_valid);
        goto done;
    }
    int nf = mq__rank_n_features(c.n_gen);
    uint8_t excl[2 * MQ__RANK_MAX_GEN + F_N_FIXED];
    char excl_text[512], mono[256];
    if ((rc = resolve_features(&c, excl, excl_text, sizeof excl_text, mono, sizeof mono, err)))
        goto done;
    const char *rank_obj = c.pairwise ? "rank:pairwise" : "rank:ndcg";
    mq__logf(o->log, "ranker: %d queries (%d validation), %lld candidate rows x %d features "
                 "in %.2f s", nq, n_valid, (long long)n_rows, nf, mq_now() - t0);
    /* How many training windows: 2, 4, 8 ... up to `windows`, chosen by the order head's
     * validation NDCG@20 at the given depth and eta (older windows can describe another era:
     * on ml-latest-small they span years). */
    int w_best = (int)c.windows;
    {
        double best_w = -INFINITY;
        int choices[8], nc = 0;
        for (int w = 2; w < c.windows && nc < 7; w *= 2) choices[nc++] = w + 1;
        choices[nc++] = (int)c.windows;
        for (int ci = 0; ci < nc && c.windows > 2; ci++) {
            for (int32_t i = 0; i < nq; i++) q[i].skip = q[i].window > choices[ci];
            mq__xgb_data wt, wv;
            float *wx[2] = {0}, *wl[2] = {0};
            uint32_t *wg[2] = {0};
            rc = gather(q, nq, false, nf, false, excl, &wt, &wx[0], &wl[0], &wg[0], err);
            if (!rc) rc = gather(q, nq, true, nf, false, excl, &wv, &wx[1], &wl[1], &wg[1], err);
            mq__xgb_cfg xc = {.objective = rank_obj, .metric = "ndcg@20", .maximize = true,
                              .depth = (int)c.depth, .eta = c.eta, .min_child_weight = c.mcw,
                              .lambda = c.lambda, .rounds = (int)c.rounds,
                              .early_stop = (int)c.early, .n_threads = o->n_threads,
                              .seed = o->seed, .monotone = mono};
            uint8_t *b = NULL;
            size_t l;
            int rounds = 0;
            double v = -INFINITY;
            if (!rc) rc = mq__xgb_train(&xc, &wt, &wv, &b, &l, &rounds, &v, err);
            free(b);
            for (int k = 0; k < 2; k++) {
                free(wx[k]);
                free(wl[k]);
                free(wg[k]);
            }
            if (rc) goto done;
            mq__logf(o->log, "ranker: windows 2..%d for training: validation ndcg@20 %.5f "
                     "(%d rounds)", choices[ci], v, rounds);
            if (v > best_w) {
                best_w = v;
                w_best = choices[ci];
            }
        }
        n_rows = 0;
        for (int32_t i = 0; i < nq; i++) {
            q[i].skip = q[i].window > w_best;
            if (!q[i].skip) n_rows += q[i].n;
        }
    }
    /* LambdaMART and the play probability, each over the grid when tuning. */
    mq__xgb_data tr, va, trb, vab;
    if ((rc = gather(q, nq, false, nf, false, excl, &tr, &xs[0], &ls[0], &gs[0], err)) ||
        (rc = gather(q, nq, true, nf, false, excl, &va, &xs[1], &ls[1], &gs[1], err)))
        goto done;
    /* The binary labels of the same rows (the row order is the same). */
    float *yb[2];
    yb[0] = malloc((size_t)MQ_MAX(tr.n, 1) * sizeof *yb[0]);
    yb[1] = malloc((size_t)MQ_MAX(va.n, 1) * sizeof *yb[1]);
    if (!yb[0] || !yb[1]) {
        free(yb[0]);
        free(yb[1]);
        rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        goto done;
    }
    for (int64_t i = 0, k0 = 0, k1 = 0; i < nq; i++) {
        if (q[i].skip) continue;
        float *dst = q[i].valid ? yb[1] + k1 : yb[0] + k0;
        memcpy(dst, q[i].y, (size_t)q[i].n * sizeof *dst);
        if (q[i].valid) k1 += q[i].n;
        else k0 += q[i].n;
    }
    trb = tr;
    trb.label = yb[0];
    vab = va;
    vab.label = yb[1];
    static const int gd[3] = {4, 6, 8};
    static const double ge[3] = {0.05, 0.1, 0.2};
    int n_grid = c.tune ? 9 : 1;
    double best_r = -INFINITY, best_p = INFINITY;
    int rr = 0, pr = 0;
    long bd_r = c.depth, bd_p = c.depth;
    double be_r = c.eta, be_p = c.eta;
    for (int gi = 0; gi < n_grid; gi++) {
        mq__xgb_cfg xc = {.objective = rank_obj, .metric = "ndcg@20", .maximize = true,
                          .depth = c.tune ? gd[gi / 3] : (int)c.depth,
                          .eta = c.tune ? ge[gi % 3] : c.eta, .min_child_weight = c.mcw,
                          .lambda = c.lambda, .rounds = (int)c.rounds, .early_stop = (int)c.early,
                          .n_threads = o->n_threads, .seed = o->seed, .monotone = mono};
        uint8_t *b;
        size_t l;
        int rounds;
        double v;
        double tt = mq_now();
        rc = mq__xgb_train(&xc, &tr, &va, &b, &l, &rounds, &v, err);
        if (rc) break;
        mq__logf(o->log, "ranker: %s depth %d eta %g: %d rounds, validation ndcg@20 "
                     "%.5f (%.2f s)", rank_obj, xc.depth, xc.eta, rounds, v, mq_now() - tt);
        if (v > best_r) {
            best_r = v;
            free(brank);
            brank = b;
            lrank = l;
            rr = rounds;
            bd_r = xc.depth;
            be_r = xc.eta;
        } else {
            free(b);
        }
        xc.objective = "binary:logistic";
        xc.metric = "logloss";
        xc.maximize = false;
        tt = mq_now();
        rc = mq__xgb_train(&xc, &trb, &vab, &b, &l, &rounds, &v, err);
        if (rc) break;
        mq__logf(o->log, "ranker: binary:logistic depth %d eta %g: %d rounds, validation "
                     "log loss %.5f (%.2f s)", xc.depth, xc.eta, rounds, v, mq_now() - tt);
        if (v < best_p) {
            best_p = v;
            free(bprob);
            bprob = b;
            lprob = l;
            pr = rounds;
            bd_p = xc.depth;
            be_p = xc.eta;
        } else {
            free(b);
        }
    }
    if (rc) {
        free(yb[0]);
        free(yb[1]);
        goto done;
    }
    /* The watch-time head: expected seconds of a play, given the features, on the training
     * windows' plays (reg:squarederror, whose minimizer is the conditional mean), early
     * stopping on the validation window's plays, starting from their mean (base_score). */
    if (watch) {
        mq__xgb_data wt, wv;
        float *wx[2] = {0}, *wl[2] = {0};
        rc = gather_plays(q, nq, false, nf, excl, &wt, &wx[0], &wl[0], err);
        if (!rc) rc = gather_plays(q, nq, true, nf, excl, &wv, &wx[1], &wl[1], err);
        if (!rc && wt.n == 0)
            rc = mq__err_set(err, MQ_EINVAL, "ranker: no plays with a duration in the training "
                             "windows for the watch-time head (watch=0 to train without it)");
        if (!rc) {
            double sum = 0;
            for (int64_t i = 0; i < wt.n; i++) sum += wt.label[i];
            wbase = sum / (double)wt.n;
            mq__xgb_cfg xc = {.objective = "reg:squarederror", .metric = "rmse",
                              .maximize = false, .depth = (int)bd_p, .eta = be_p,
                              .min_child_weight = c.mcw, .lambda = c.lambda,
                              .rounds = (int)c.rounds, .early_stop = (int)c.early,
                              .n_threads = o->n_threads, .seed = o->seed, .monotone = NULL,
                              .base_score = wbase};
            double v, tt = mq_now();
            rc = mq__xgb_train(&xc, &wt, &wv, &bsecs, &lsecs, &wrounds, &v, err);
            if (!rc)
                mq__logf(o->log, "ranker: watch time reg:squarederror on %lld plays (mean %.1f "
                         "s): %d rounds, validation rmse %.1f s over %lld plays (%.2f s)",
                         (long long)wt.n, wbase, wrounds, v, (long long)wv.n, mq_now() - tt);
        }
        for (int k = 0; k < 2; k++) {
            free(wx[k]);
            free(wl[k]);
        }
        if (rc) {
            free(yb[0]);
            free(yb[1]);
            goto done;
        }
    }
    /* The order head once more on every window (the validation window is the closest to the
     * future), with the rounds, depth and eta validation chose. */
    if (c.refit) {
        int64_t na = tr.n + va.n;
        float *xa = malloc((size_t)MQ_MAX(na, 1) * nf * sizeof *xa);
        float *la = malloc((size_t)MQ_MAX(na, 1) * sizeof *la);
        uint32_t *ga = malloc((size_t)MQ_MAX(tr.n_groups + va.n_groups, 1) * sizeof *ga);
        if (!xa || !la || !ga) {
            free(xa); free(la); free(ga); free(yb[0]); free(yb[1]);
            rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
            goto done;
        }
        memcpy(xa, tr.x, (size_t)tr.n * nf * sizeof *xa);
        memcpy(xa + tr.n * nf, va.x, (size_t)va.n * nf * sizeof *xa);
        memcpy(la, tr.label, (size_t)tr.n * sizeof *la);
        memcpy(la + tr.n, va.label, (size_t)va.n * sizeof *la);
        memcpy(ga, tr.groups, (size_t)tr.n_groups * sizeof *ga);
        memcpy(ga + tr.n_groups, va.groups, (size_t)va.n_groups * sizeof *ga);
        mq__xgb_data all = {xa, la, na, nf, ga, tr.n_groups + va.n_groups};
        mq__xgb_cfg xc = {.objective = rank_obj, .metric = "ndcg@20", .maximize = true,
                          .depth = (int)bd_r, .eta = be_r, .min_child_weight = c.mcw,
                          .lambda = c.lambda, .rounds = rr, .early_stop = 0,
                          .n_threads = o->n_threads, .seed = o->seed, .monotone = mono};
        uint8_t *b;
        size_t l;
        int rounds;
        double v;
        rc = mq__xgb_train(&xc, &all, NULL, &b, &l, &rounds, &v, err);
        free(xa);
        free(la);
        free(ga);
        if (rc) {
            free(yb[0]);
            free(yb[1]);
            goto done;
        }
        free(brank);
        brank = b;
        lrank = l;
    }
    /* Calibration data: calib=validation, the stored head's predictions on the validation
     * window; calib=crossfit (default), out-of-fold predictions on every window used (see
     * crossfit_predict). */
    int64_t ncal = c.calib_cross ? tr.n + va.n : va.n;
    vz = malloc((size_t)MQ_MAX(ncal, 1) * sizeof *vz);
    vp = malloc((size_t)MQ_MAX(ncal, 1) * sizeof *vp);
    vy = malloc((size_t)MQ_MAX(ncal, 1));
    float *tmp = malloc((size_t)MQ_MAX(va.n, 1) * sizeof *tmp);
    if (!vz || !vp || !vy || !tmp) {
        free(tmp);
        free(yb[0]);
        free(yb[1]);
        rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        goto done;
    }
    rc = mq__xgb_load(bprob, lprob, o->n_threads, &pb, err);
    if (!rc) rc = mq__xgb_predict(pb, va.x, va.n, nf, false, tmp, err);
    for (int64_t i = 0; !rc && i < va.n; i++) {
        vp[i] = tmp[i];
        vz[i] = logit(tmp[i]);
        vy[i] = yb[1][i] > 0;
    }
    free(tmp);
    free(yb[0]);
    free(yb[1]);
    if (!rc && c.calib_cross) {
        mq__xgb_cfg xc = {.objective = "binary:logistic", .metric = "logloss", .maximize = false,
                          .depth = (int)bd_p, .eta = be_p, .min_child_weight = c.mcw,
                          .lambda = c.lambda, .rounds = pr, .early_stop = 0,
                          .n_threads = o->n_threads, .seed = o->seed, .monotone = mono};
        double tt = mq_now();
        rc = crossfit_predict(q, nq, w_best, nf, excl, &xc, vp, vy, &ncal, err);
        for (int64_t i = 0; !rc && i < ncal; i++) vz[i] = logit(vp[i]);
        if (!rc)
            mq__logf(o->log, "ranker: cross-fitted calibration on %lld rows of windows 1..%d "
                     "(%.2f s)", (long long)ncal, w_best, mq_now() - tt);
    }
    double pa = 1, pbb = 0;
    if (!rc) rc = mq_calib_platt_fit(vz, vy, ncal, &pa, &pbb, err);
    if (!rc) rc = mq_isotonic_fit(vp, vy, ncal, &iso, err);
    if (rc) goto done;
    /* Keep the training rows for --write-features (sets 0 and 1, in query order). */
    rows = calloc(1, sizeof *rows);
    if (!rows) {
        rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        goto done;
    }
    rows->n = n_rows;
    rows->nf = nf;
    rows->x = malloc((size_t)MQ_MAX(n_rows, 1) * nf * sizeof *rows->x);
    rows->grade = malloc((size_t)MQ_MAX(n_rows, 1) * sizeof *rows->grade);
    rows->y = malloc((size_t)MQ_MAX(n_rows, 1) * sizeof *rows->y);
    rows->secs = malloc((size_t)MQ_MAX(n_rows, 1) * sizeof *rows->secs);
    rows->set = malloc((size_t)MQ_MAX(n_rows, 1));
    rows->group = malloc((size_t)MQ_MAX(n_rows, 1) * sizeof *rows->group);
    rows->member = malloc((size_t)MQ_MAX(n_rows, 1) * sizeof *rows->member);
    rows->title = malloc((size_t)MQ_MAX(n_rows, 1) * sizeof *rows->title);
    if (!rows->x || !rows->grade || !rows->y || !rows->secs || !rows->set || !rows->group || !rows->member ||
        !rows->title) {
        rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        goto done;
    }
    int64_t r = 0;
    for (int pass = 0; pass < 2; pass++)   /* set 0 rows first, then set 1 */
        for (int32_t i = 0; i < nq; i++) {
            if (q[i].valid != (pass == 1) || q[i].skip) continue;
            for (int k = 0; k < q[i].n; k++, r++) {
                memcpy(rows->x + r * nf, q[i].x + (size_t)k * nf, (size_t)nf * sizeof *rows->x);
                rows->grade[r] = q[i].grade[k];
                rows->y[r] = q[i].y[k];
                rows->secs[r] = q[i].secs[k];
                rows->set[r] = (uint8_t)pass;
                rows->group[r] = i;
                rows->member[r] = q[i].member;
                rows->title[r] = q[i].cand[k];
            }
        }
    /* Member names for the file (d may be gone when it is written). */
    rows->names = mq_idmap_create();
    if (!rows->names) {
        rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        goto done;
    }
    for (int64_t k = 0; k < n_rows; k++) {
        const char *nm = mq_idmap_name(d->member_ids, rows->member[k]);
        rows->member[k] = mq_idmap_intern(rows->names, nm, strlen(nm));
    }

    /* The snapshot at T2: what the artifact keeps. */
    mq__logf(o->log, "ranker: snapshot at T2 = %lld", (long long)T2);
    rc = mq__rank_snap_build(d, T2, gn, c.n_gen, gpp, c.n_gp, (int)c.top, o->n_threads,
                             o->seed, &s2, err);
    if (rc) goto done;
    for (int g = 0; g < c.n_gen; g++) {
        m->sub[g] = s2.gen[g];
        s2.gen[g] = NULL;
    }
    m->sub[c.n_gen] = s2.sim;
    s2.sim = NULL;
    float *ix = mq__alloc((size_t)iso.n, sizeof *ix), *iy = mq__alloc((size_t)iso.n, sizeof *iy);
    uint8_t *br = mq__alloc(lrank, 1), *bp = mq__alloc(lprob, 1);
    float *st = mq__alloc((size_t)d->n_titles * 4, sizeof *st);
    int64_t *fi = mq__alloc((size_t)d->n_titles, sizeof *fi);
    if (!ix || !iy || !br || !bp || !st || !fi) {
        free(ix); free(iy); free(br); free(bp); free(st); free(fi);
        rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        goto done;
    }
    for (int32_t i = 0; i < iso.n; i++) {
        ix[i] = (float)iso.x[i];
        iy[i] = (float)iso.y[i];
    }
    memcpy(br, brank, lrank);
    memcpy(bp, bprob, lprob);
    memcpy(st, s2.stat, (size_t)d->n_titles * 4 * sizeof *st);
    memcpy(fi, s2.first, (size_t)d->n_titles * sizeof *fi);
    if ((rc = mq__model_add(m, "booster_rank", MQ__A_U8, (int64_t)lrank, br, err)) ||
        (rc = mq__model_add(m, "booster_prob", MQ__A_U8, (int64_t)lprob, bp, err)) ||
        (rc = mq__model_add(m, "iso_x", MQ__A_F32, iso.n, ix, err)) ||
        (rc = mq__model_add(m, "iso_y", MQ__A_F32, iso.n, iy, err)) ||
        (rc = mq__model_add(m, "stat", MQ__A_F32, (int64_t)d->n_titles * 4, st, err)) ||
        (rc = mq__model_add(m, "first", MQ__A_I64, d->n_titles, fi, err)))
        goto done;
    if (watch) {
        uint8_t *bw = mq__alloc(lsecs, 1);
        if (!bw) {
            rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
            goto done;
        }
        memcpy(bw, bsecs, lsecs);
        if ((rc = mq__model_add(m, "booster_secs", MQ__A_U8, (int64_t)lsecs, bw, err))) goto done;
    }
    /* Canonical parameters, then what training chose and measured. */
    char gl[128] = "";
    for (int g = 0; g < c.n_gen; g++) {
        size_t l = strlen(gl);
        snprintf(gl + l, sizeof gl - l, "%s%s", g ? "," : "", c.gens[g]);
    }
    mq__model_param_set(m, "candidates", "%s", gl);
    mq__model_param_set(m, "top", "%ld", c.top);
    mq__model_param_set(m, "label", "%s", c.label == 0 ? "binary" : c.label == 1 ? "rating" : "play_seconds");
    mq__model_param_num(m, "label_frac", c.label_frac);
    mq__model_param_set(m, "windows", "%ld", c.windows);
    mq__model_param_set(m, "windows_used", "%d", w_best);
    mq__model_param_set(m, "depth", "%ld", c.tune ? bd_r : c.depth);
    mq__model_param_num(m, "eta", c.tune ? be_r : c.eta);
    mq__model_param_set(m, "rounds", "%ld", c.rounds);
    mq__model_param_set(m, "early_stop", "%ld", c.early);
    mq__model_param_num(m, "min_child_weight", c.mcw);
    mq__model_param_num(m, "lambda", c.lambda);
    mq__model_param_set(m, "tune", "%ld", c.tune);
    mq__model_param_set(m, "refit", "%ld", c.refit);
    mq__model_param_set(m, "objective", "%s", c.pairwise ? "pairwise" : "ndcg");
    mq__model_param_set(m, "exclude", "%s", excl_text);
    mq__model_param_set(m, "monotone", "%ld", c.monotone);
    mq__model_param_set(m, "calib", "%s", c.calib_cross ? "crossfit" : "validation");
    mq__model_param_set(m, "watch", "%d", watch ? 1 : 0);
    mq__model_param_set(m, "relevance", "%s", c.rel_watch ? "watch_time" : "probability");
    /* Generator parameters live in each generator's own canonical text (sub-models). */
    mq__model_param_set(m, "prob_depth", "%ld", c.tune ? bd_p : c.depth);
    mq__model_param_num(m, "prob_eta", c.tune ? be_p : c.eta);
    mq__model_param_set(m, "rank_rounds", "%d", rr);
    mq__model_param_set(m, "prob_rounds", "%d", pr);
    if (watch) {
        mq__model_param_set(m, "watch_rounds", "%d", wrounds);
        mq__model_param_num(m, "watch_base", wbase);
    }
    mq__model_param_num(m, "val_ndcg20", best_r);
    mq__model_param_num(m, "val_logloss", best_p);
    mq__model_param_num(m, "platt_a", pa);
    mq__model_param_num(m, "platt_b", pbb);
    mq__model_param_set(m, "t1", "%lld", (long long)T1);
    mq__model_param_set(m, "as_of", "%lld", (long long)T2);
    mq__model_param_set(m, "seed", "%llu", (unsigned long long)o->seed);
    mq__model_param_set(m, "catalog", "%08x", mq__rank_fingerprint(m->title_ids, m->n_titles));
    {
        char fnames[2 * MQ__RANK_MAX_GEN + F_N_FIXED][32];
        mq__rank_feature_names(gn, c.n_gen, fnames);
        mq__model_param_set(m, "features", "%08x", mq__rank_feature_fingerprint(fnames, nf));
    }
    /* Bind now (so the kept rows can be attached to the state). */
    rc = mq__model_bind(m, err);
    if (rc) goto done;
    ((mq__rank_state *)m->state)->rows = rows;
    rows = NULL;
done:
    free(gs_.val);
    free(gs_.title);
    if (rows) {
        mq__rank_rows_release(rows);
        free(rows);
    }
    for (int32_t i = 0; q && i < nq; i++) {
        free(q[i].cand);
        free(q[i].x);
        free(q[i].grade);
        free(q[i].y);
        free(q[i].secs);
    }
    free(q);
    for (int k = 0; k < 2; k++) {
        free(xs[k]);
        free(ls[k]);
        free(gs[k]);
    }
    free(brank);
    free(bprob);
    free(bsecs);
    mq__xgb_free(pb);
    free(vz);
    free(vp);
    free(vy);
    mq_isotonic_release(&iso);
    mq__rank_owned_release(&s2);
    return rc;
}

static int ranker_train(mq_model *m, const mq_dataset *d, const mq_train_opts *o, mq_err *err)
{
    return ranker_train_raw(m, d, NULL, o, err);
}

int mq_rank_train(const mq_dataset *d, const mq_dataset *raw, const mq_train_opts *o,
                  mq_model **out, mq_err *err)
{
    *out = NULL;
    if (!d) return mq__err_set(err, MQ_EINVAL, "mq_rank_train: NULL dataset");
    mq_train_opts ov; int orc = MQ__OPTS_GET(mq_train_opts, &ov, o, err); if (orc) return orc; o = &ov;
    if (o->n_params < 0 || (o->n_params > 0 && !o->params))
        return mq__err_set(err, MQ_EINVAL, "mq_rank_train: bad parameter list");
    if (d->n_titles <= 0) return mq__err_set(err, MQ_EINVAL, "ranker: the dataset has no titles");
    mq_model *m;
    int rc = mq__model_new("ranker", d, &m, err);
    if (rc) return rc;
    m->n_threads = o->n_threads;
    rc = ranker_train_raw(m, d, raw, o, err);
    if (!rc) rc = mq__model_bind(m, err);
    if (!rc) rc = mq__model_score_ref(m, d, err);   /* drift reference, as mq_model_train */
    if (rc) {
        mq_model_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ---- bind, score ---------------------------------------------------------------------------- */

static void ranker_unbind(mq_model *m)
{
    mq__rank_state *st = m->state;
    if (!st) return;
    mq__xgb_free(st->rank);
    mq__xgb_free(st->prob);
    mq__xgb_free(st->secs);
    mq_isotonic_release(&st->iso);
    if (st->rows) {
        mq__rank_rows_release(st->rows);
        free(st->rows);
    }
    free(st);
    m->state = NULL;
}

static int num_param(const mq_model *m, const char *name, double *v, mq_err *err)
{
    if (mq_model_param_double(m, name, v) != 0)
        return mq__err_set(err, MQ_ECORRUPT, "ranker: parameter '%s' is missing or not a number",
                           name);
    return 0;
}

static int ranker_bind(mq_model *m, mq_err *err)
{
    mq__params p;
    int rc = mq__params_parse_text(&p, m->params, err);
    if (rc) return rc;
    mq__rank_state *st = calloc(1, sizeof *st);
    if (!st) return mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
    m->state = st;
    int G = mq__rank_split_gens(mq__param_str(&p, "candidates", ""), st->gens, MQ__RANK_MAX_GEN, err);
    if (G < 0) {
        rc = G;
        goto fail;
    }
    /* Every generator must be present, of its kind: name the missing ones. */
    char missing[256] = "";
    for (int g = 0; g < G; g++)
        if (!m->sub[g] || strcmp(m->sub[g]->kind, st->gens[g]) != 0 ||
            m->sub[g]->n_titles != m->n_titles) {
            size_t l = strlen(missing);
            snprintf(missing + l, sizeof missing - l, "%s%s", l ? ", " : "", st->gens[g]);
        }
    if (missing[0]) {
        rc = mq__err_set(err, MQ_ECORRUPT, "ranker: generator(s) %s missing from the model "
                         "(candidates=%s)", missing, mq__param_str(&p, "candidates", ""));
        goto fail;
    }
    if (!m->sub[G] || strcmp(m->sub[G]->kind, "itemknn") != 0) {
        rc = mq__err_set(err, MQ_ECORRUPT, "ranker: the similarity model is missing");
        goto fail;
    }
    double v;
    mq__rank_snap *s = &st->snap;
    s->n_titles = m->n_titles;
    s->n_gen = G;
    for (int g = 0; g < G; g++) s->gen[g] = m->sub[g];
    s->sim = m->sub[G];
    if ((rc = mq__model_bind_csr(s->sim, &s->sim_ptr, &s->sim_idx, &s->sim_val, err))) goto fail;
    if ((rc = num_param(m, "as_of", &v, err))) goto fail;
    s->now = (int64_t)v;
    if ((rc = num_param(m, "top", &v, err))) goto fail;
    s->n_top = (int)v;
    int64_t cnt;
    s->stat = mq__model_get(m, "stat", MQ__A_F32, &cnt, err);
    if (!s->stat || cnt != (int64_t)m->n_titles * 4) {
        rc = mq__err_set(err, MQ_ECORRUPT, "ranker: bad 'stat' array");
        goto fail;
    }
    mq__rank_snap_totals(s);
    s->first = mq__model_get(m, "first", MQ__A_I64, &cnt, err);
    if (!s->first || cnt != m->n_titles) {
        rc = mq__err_set(err, MQ_ECORRUPT, "ranker: bad 'first' array");
        goto fail;
    }
    s->years = m->catalog.years;
    s->genres = m->catalog.genres;
    st->nf = mq__rank_n_features(G);
    const char *gp[MQ__RANK_MAX_GEN];
    for (int g = 0; g < G; g++) gp[g] = st->gens[g];
    mq__rank_feature_names(gp, G, st->names);
    const uint8_t *b = mq__model_get(m, "booster_rank", MQ__A_U8, &cnt, err);
    if (!b || (rc = mq__xgb_load(b, (size_t)cnt, m->n_threads, &st->rank, err))) {
        if (!rc) rc = MQ_ECORRUPT;
        goto fail;
    }
    b = mq__model_get(m, "booster_prob", MQ__A_U8, &cnt, err);
    if (!b || (rc = mq__xgb_load(b, (size_t)cnt, m->n_threads, &st->prob, err))) {
        if (!rc) rc = MQ_ECORRUPT;
        goto fail;
    }
    /* The feature set the boosters learned must be the one this build computes: the count
     * (from the boosters) and, when the artifact records it, the names' fingerprint. */
    for (int k = 0; k < 2; k++) {
        int bn = mq__xgb_n_features(k ? st->prob : st->rank);
        if (bn != st->nf) {
            rc = mq__err_set(err, MQ_ECORRUPT, "ranker: booster_%s expects %d features, this build "
                             "computes %d for candidates=%s (feature set changed: retrain the ranker)",
                             k ? "prob" : "rank", bn, st->nf, mq__param_str(&p, "candidates", ""));
            goto fail;
        }
    }
    const char *ffp = mq__param_str(&p, "features", NULL);
    if (ffp) {
        char fwant[16];
        snprintf(fwant, sizeof fwant, "%08x", mq__rank_feature_fingerprint(st->names, st->nf));
        if (strcmp(ffp, fwant) != 0) {
            rc = mq__err_set(err, MQ_ECORRUPT, "ranker: feature fingerprint %s in the artifact, this "
                             "build's features (%s ... %s) give %s: retrain the ranker", ffp,
                             st->names[0], st->names[st->nf - 1], fwant);
            goto fail;
        }
    }
    /* The watch-time head, when the artifact has one (watch=1). */
    if (strcmp(mq__param_str(&p, "watch", "0"), "1") == 0) {
        b = mq__model_get(m, "booster_secs", MQ__A_U8, &cnt, err);
        if (!b || (rc = mq__xgb_load(b, (size_t)cnt, m->n_threads, &st->secs, err))) {
            if (!rc) rc = MQ_ECORRUPT;
            goto fail;
        }
        if (mq__xgb_n_features(st->secs) != st->nf) {
            rc = mq__err_set(err, MQ_ECORRUPT, "ranker: booster_secs expects %d features, this "
                             "build computes %d (retrain the ranker)",
                             mq__xgb_n_features(st->secs), st->nf);
            goto fail;
        }
        if ((rc = num_param(m, "watch_rounds", &v, err))) goto fail;
        st->watch_rounds = (int)v;
        if ((rc = num_param(m, "watch_base", &st->watch_base, err))) goto fail;
        st->rel_watch = strcmp(mq__param_str(&p, "relevance", "probability"), "watch_time") == 0;
    }
    int64_t nx, ny;
    const float *ix = mq__model_get(m, "iso_x", MQ__A_F32, &nx, err);
    const float *iy = mq__model_get(m, "iso_y", MQ__A_F32, &ny, err);
    if (!ix || !iy || nx != ny || nx < 1) {
        rc = mq__err_set(err, MQ_ECORRUPT, "ranker: bad isotonic arrays");
        goto fail;
    }
    st->iso.n = (int32_t)nx;
    st->iso.x = malloc((size_t)nx * sizeof *st->iso.x);
    st->iso.y = malloc((size_t)nx * sizeof *st->iso.y);
    if (!st->iso.x || !st->iso.y) {
        rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < nx; i++) {
        st->iso.x[i] = ix[i];
        st->iso.y[i] = iy[i];
    }
    if ((rc = num_param(m, "platt_a", &st->platt_a, err)) ||
        (rc = num_param(m, "platt_b", &st->platt_b, err)))
        goto fail;
    struct { const char *n; double *d; int *i; } nums[] = {
        {"rank_rounds", NULL, &st->rank_rounds}, {"prob_rounds", NULL, &st->prob_rounds},
        {"depth", NULL, &st->depth}, {"prob_depth", NULL, &st->prob_depth},
        {"eta", &st->eta, NULL}, {"prob_eta", &st->prob_eta, NULL},
        {"min_child_weight", &st->min_child_weight, NULL}, {"lambda", &st->lambda, NULL}};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        if ((rc = num_param(m, nums[i].n, &v, err))) goto fail;
        if (nums[i].d) *nums[i].d = v;
        else *nums[i].i = (int)v;
    }
    if ((rc = num_param(m, "seed", &v, err))) goto fail;
    st->seed = (uint64_t)v;
    /* Artifacts from before these parameters: rank:ndcg on every feature, no constraints. */
    snprintf(st->objective, sizeof st->objective, "rank:%s",
             strcmp(mq__param_str(&p, "objective", "ndcg"), "pairwise") == 0 ? "pairwise" : "ndcg");
    {
        uint8_t ex[2 * MQ__RANK_MAX_GEN + F_N_FIXED];
        if ((rc = mq__rank_exclude_mask(gp, G, mq__param_str(&p, "exclude", "none"), ex,
                                        st->exclude, sizeof st->exclude, err)))
            goto fail;
        if (strcmp(mq__param_str(&p, "monotone", "0"), "1") == 0)
            mq__rank_monotone(gp, G, ex, st->monotone, sizeof st->monotone);
    }
    st->fingerprint = mq__rank_fingerprint(m->title_ids, m->n_titles);
    const char *cat = mq__param_str(&p, "catalog", "");
    char want[16];
    snprintf(want, sizeof want, "%08x", st->fingerprint);
    if (strcmp(cat, want) != 0) {
        rc = mq__err_set(err, MQ_ECORRUPT, "ranker: catalog fingerprint %s in the parameters, "
                         "%s from the title ids", cat, want);
        goto fail;
    }
    return 0;
fail:
    ranker_unbind(m);
    return rc;
}

static int ranker_score(const mq_model *m, const int32_t *hist, const float *val, int n,
                        float *scores, mq_err *err)
{
    const mq__rank_state *st = m->state;
    mq__rank_scratch w;
    int rc = mq__rank_scratch_init(&w, &st->snap, err);
    if (rc) return rc;
    int mc = mq__rank_max_cand(&st->snap);
    int32_t *cand = malloc((size_t)mc * sizeof *cand);
    float *x = malloc((size_t)mc * st->nf * sizeof *x), *out = malloc((size_t)mc * sizeof *out);
    if (!cand || !x || !out) {
        rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        goto done;
    }
    int c = mq__rank_member_features(&st->snap, hist, NULL, n, -1, &w, cand, x, err);
    if (c < 0) {
        rc = c;
        goto done;
    }
    rc = mq__xgb_predict(st->rank, x, c, st->nf, false, out, err);
    if (rc) goto done;
    for (int32_t t = 0; t < m->n_titles; t++) scores[t] = -INFINITY;
    for (int i = 0; i < c; i++) scores[cand[i]] = out[i];
done:
    free(cand);
    free(x);
    free(out);
    mq__rank_scratch_release(&w);
    return rc;
}

const mq__model_ops mq__model_ranker = {
    .kind = "ranker",
    .check = ranker_check,
    .train = ranker_train,
    .bind = ranker_bind,
    .unbind = ranker_unbind,
    .score = ranker_score,
};

bool mq_rank_is_ranker(const mq_model *m) { return m && m->ops == &mq__model_ranker; }

int mq_rank_n_features(const mq_model *m)
{
    return mq_rank_is_ranker(m) && m->state ? ((const mq__rank_state *)m->state)->nf : 0;
}

const char *mq_rank_feature_name(const mq_model *m, int i)
{
    const mq__rank_state *st = mq_rank_is_ranker(m) ? m->state : NULL;
    return st && i >= 0 && i < st->nf ? st->names[i] : NULL;
}

uint32_t mq_rank_catalog_fingerprint(const mq_model *m)
{
    return mq__rank_fingerprint(m->title_ids, m->n_titles);
}

int mq_rank_predict_rows(const mq_model *m, const float *x, int64_t n, float *rank_score,
                         float *prob, mq_err *err)
{
    if (!mq_rank_is_ranker(m)) return mq__err_set(err, MQ_EINVAL, "not a ranker model");
    const mq__rank_state *st = m->state;
    int rc = 0;
    if (rank_score) rc = mq__xgb_predict(st->rank, x, n, st->nf, false, rank_score, err);
    if (!rc && prob) rc = mq__xgb_predict(st->prob, x, n, st->nf, false, prob, err);
    return rc;
}
