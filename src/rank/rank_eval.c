/* rank_eval.c: evaluating a ranker on held-out members, the paired comparison with its
 * generators, calibration on the test window, and feature files.
 *
 * Flow of mq_rank_evaluate: (1) each held-out member's history and its timestamps are taken
 * from the training data (the member matched by external id; the positives before the
 * ranker's as_of time), and candidates and features are built for all members in parallel
 * (features.c); (2) the rows of all members are predicted in one call per booster (XGBoost
 * threads internally); (3) the evaluation loop of src/eval runs with a batch scorer that
 * writes each member's precomputed LambdaMART scores (-inf outside the candidates), so the
 * ranker gets exactly the metrics, standard errors and --json fields of every model;
 * (4) per member, NDCG@20 of the ranker and of each generator alone (its fold-in scores over
 * the same rankable titles, fold-in titles excluded, same targets) gives the paired
 * difference and its standard error sd(d)/√n; (5) every candidate of an evaluated member is
 * one calibration sample (label: it is a target), scored raw, Platt and isotonic.
 *
 * The batch scorer finds the member of a block from the row-pointer address the evaluation
 * loop passes (h->in_ptr + first member); it checks the address lies inside h->in_ptr.
 */
#include "rank/rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct ev_member {
    int n;
    int32_t *cand;
    float *x;
    int32_t train_row;        /* -1: not in the training data */
} ev_member;

typedef struct ev_ctx {
    const mq_model *m;
    const mq__rank_state *st;
    const mq_dataset *train;
    const mq_heldout *h;
    const mq_eval_opts *eo;
    ev_member *mem;
    int64_t *off;             /* [h->n + 1] row offsets into rs / pr */
    float *rs, *pr;           /* LambdaMART scores, raw probabilities */
    mq__rank_scratch *w;
    int32_t **cbuf, **hbuf;
    float **xbuf;
    int64_t **tbuf;
    /* report pass */
    double *nd;               /* [h->n x (G + 1)], NaN: not evaluated */
    uint8_t *evaluated;       /* [h->n] */
    uint8_t *is_target;       /* [rows] */
    float **sbuf;             /* [threads][n_titles] */
    int32_t **mark;           /* [threads][n_titles] */
    int32_t **tgt, **top;
    mq_err errs[64];
} ev_ctx;

static int feat_range(void *vctx, int64_t b, int64_t e, int tid)
{
    ev_ctx *c = vctx;
    const mq__rank_state *st = c->st;
    int nf = st->nf;
    for (int64_t i = b; i < e; i++) {
        ev_member *q = &c->mem[i];
        const int32_t *hist;
        const int64_t *ht = NULL;
        int nh;
        if (q->train_row >= 0) {
            const mq_dataset *d = c->train;
            nh = 0;
            for (int64_t k = d->m_ptr[q->train_row]; k < d->m_ptr[q->train_row + 1]; k++)
                if (d->m_time[k] < st->snap.now && mq__rank_positive(d, d->m_val[k])) {
                    c->hbuf[tid][nh] = d->m_idx[k];
                    c->tbuf[tid][nh] = d->m_time[k];
                    nh++;
                }
            hist = c->hbuf[tid];
            ht = c->tbuf[tid];
        } else {
            hist = c->h->in_idx + c->h->in_ptr[i];
            nh = (int)(c->h->in_ptr[i + 1] - c->h->in_ptr[i]);
        }
        int n = mq__rank_member_features(&st->snap, hist, ht, nh, -1, &c->w[tid], c->cbuf[tid],
                                         c->xbuf[tid], &c->errs[tid & 63]);
        if (n < 0) return n;
        q->n = n;
        q->cand = malloc((size_t)MQ_MAX(n, 1) * sizeof *q->cand);
        q->x = malloc((size_t)MQ_MAX(n, 1) * nf * sizeof *q->x);
        if (!q->cand || !q->x)
            return mq__err_set(&c->errs[tid & 63], MQ_ENOMEM, "ranker: out of memory");
        memcpy(q->cand, c->cbuf[tid], (size_t)n * sizeof *q->cand);
        memcpy(q->x, c->xbuf[tid], (size_t)n * nf * sizeof *q->x);
    }
    return 0;
}

static int batch_score(void *user, int n, const int64_t *ptr, const int32_t *idx, float *scores,
                       mq_err *err)
{
    ev_ctx *c = user;
    const mq_heldout *h = c->h;
    if (ptr < h->in_ptr || ptr + n > h->in_ptr + h->n + 1)
        return mq__err_set(err, MQ_EINVAL, "ranker: the evaluation passed rows of another "
                           "held-out set");
    int64_t b0 = ptr - h->in_ptr;
    int32_t nt = c->m->n_titles;
    for (int i = 0; i < n; i++) {
        float *s = scores + (size_t)i * nt;
        for (int32_t t = 0; t < nt; t++) s[t] = -INFINITY;
        const ev_member *q = &c->mem[b0 + i];
        const float *r = c->rs + c->off[b0 + i];
        for (int k = 0; k < q->n; k++) s[q->cand[k]] = r[k];
    }
    return 0;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

#define KCMP 20

/* Per member: NDCG@20 of the ranker and each generator; marks the candidates that are
 * targets. */
static int report_range(void *vctx, int64_t b, int64_t e, int tid)
{
    ev_ctx *c = vctx;
    const mq_heldout *h = c->h;
    int32_t nt = c->m->n_titles;
    int G = c->st->snap.n_gen;
    float *s = c->sbuf[tid];
    int32_t *mark = c->mark[tid], *tg = c->tgt[tid], *top = c->top[tid];
    for (int64_t i = b; i < e; i++) {
        double *nd = c->nd + i * (G + 1);
        for (int g = 0; g <= G; g++) nd[g] = NAN;
        const int32_t *hist = h->in_idx + h->in_ptr[i];
        int nh = (int)(h->in_ptr[i + 1] - h->in_ptr[i]);
        int32_t ex = (int32_t)(2 * i + 1), ts = (int32_t)(2 * i + 2);
        for (int k = 0; k < nh; k++)
            if (mark[hist[k]] >= 0) mark[hist[k]] = ex;
        int ntg = 0;
        for (int64_t k = h->out_ptr[i]; k < h->out_ptr[i + 1]; k++) {
            int32_t t = h->out_idx[k];
            if (mark[t] < 0 || mark[t] == ex || mark[t] == ts) continue;
            mark[t] = ts;
            tg[ntg++] = t;
        }
        if (ntg == 0) continue;
        qsort(tg, (size_t)ntg, sizeof *tg, cmp_i32);
        c->evaluated[i] = 1;
        const ev_member *q = &c->mem[i];
        for (int k = 0; k < q->n; k++) c->is_target[c->off[i] + k] = mark[q->cand[k]] == ts;
        for (int g = -1; g < G; g++) {
            if (g < 0) {
                for (int32_t t = 0; t < nt; t++) s[t] = -INFINITY;
                const float *r = c->rs + c->off[i];
                for (int k = 0; k < q->n; k++) s[q->cand[k]] = r[k];
            } else {
                int rc = mq_model_score(c->st->snap.gen[g], hist, NULL, nh, s, &c->errs[tid & 63]);
                if (rc) return rc;
            }
            /* mq_eval_topk skips marks equal to the stamp and negative marks; targets have ts. */
            int L = mq_eval_topk(s, nt, NULL, 0, KCMP, mark, ex, top);
            nd[g + 1] = mq_eval_ndcg(top, L, tg, ntg, KCMP);
        }
    }
    return 0;
}

static void put_csv_id(mq_buf *b, const char *id)
{
    if (!strpbrk(id, ",\"\n\r")) {
        mq_buf_puts(b, id);
        return;
    }
    mq_buf_putc(b, '"');
    for (const char *p = id; *p; p++) {
        if (*p == '"') mq_buf_putc(b, '"');
        mq_buf_putc(b, *p);
    }
    mq_buf_putc(b, '"');
}

/* A row's watch-time values (rankers with the head): seconds played (NaN: not a play or no
 * duration) and the head's prediction. */
typedef struct watch_vals {
    bool on;
    float secs, pred;
} watch_vals;

static void put_row(mq_buf *b, int set, int64_t group, const char *member, const char *title,
                    float label, const float *x, int nf, float pr, float pp, watch_vals wv)
{
    mq_buf_printf(b, "%d,%lld,", set, (long long)group);
    put_csv_id(b, member);
    mq_buf_putc(b, ',');
    put_csv_id(b, title);
    mq_buf_printf(b, ",%.9g", label);
    for (int f = 0; f < nf; f++) {
        if (isnan(x[f])) mq_buf_puts(b, ",nan");
        else mq_buf_printf(b, ",%.9g", x[f]);
    }
    mq_buf_printf(b, ",%.9g,%.9g", pr, pp);
    if (wv.on) {
        if (isnan(wv.secs)) mq_buf_puts(b, ",nan");
        else mq_buf_printf(b, ",%.9g", wv.secs);
        mq_buf_printf(b, ",%.9g", wv.pred);
    }
    mq_buf_putc(b, '\n');
}

/* An id in a LibSVM comment: bytes that would end or split the field as %XX. */
static void put_pct_id(mq_buf *b, const char *id)
{
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        if (*p <= ' ' || *p == '%' || *p == '#' || *p == '=' || *p == 0x7f) mq_buf_printf(b, "%%%02X", *p);
        else mq_buf_putc(b, (char)*p);
    }
}

static void put_row_svm(mq_buf *b, int set, int64_t group, const char *member, const char *title,
                        float label, const float *x, int nf, float pr, float pp, watch_vals wv)
{
    mq_buf_printf(b, "%.9g qid:%lld", label, (long long)group);
    for (int f = 0; f < nf; f++)
        if (!isnan(x[f])) mq_buf_printf(b, " %d:%.9g", f, x[f]);
    mq_buf_printf(b, " # set=%d member=", set);
    put_pct_id(b, member);
    mq_buf_puts(b, " title=");
    put_pct_id(b, title);
    mq_buf_printf(b, " pred_rank=%.9g pred_prob=%.9g", pr, pp);
    if (wv.on) {
        if (!isnan(wv.secs)) mq_buf_printf(b, " secs=%.9g", wv.secs);
        mq_buf_printf(b, " pred_secs=%.9g", wv.pred);
    }
    mq_buf_putc(b, '\n');
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int write_features(const ev_ctx *c, const char *path, int format, mq_err *err)
{
    const mq__rank_state *st = c->st;
    const mq_model *m = c->m;
    int nf = st->nf;
    if (format == MQ_RANK_FEATURES_AUTO)
        format = ends_with(path, ".libsvm") || ends_with(path, ".svm") ? MQ_RANK_FEATURES_LIBSVM
                                                                        : MQ_RANK_FEATURES_CSV;
    bool svm = format == MQ_RANK_FEATURES_LIBSVM;
    void (*put)(mq_buf *, int, int64_t, const char *, const char *, float, const float *, int,
                float, float, watch_vals) = svm ? put_row_svm : put_row;
    bool wh = st->secs != NULL;
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_printf(&b, "# marquee-features v1 catalog=%08x features=%d rank_rounds=%d "
                      "prob_rounds=%d depth=%d prob_depth=%d eta=%.17g prob_eta=%.17g "
                      "min_child_weight=%.17g lambda=%.17g seed=%llu objective=%s exclude=%s "
                      "monotone=%s%s",
                  st->fingerprint, nf, st->rank_rounds, st->prob_rounds, st->depth,
                  st->prob_depth, st->eta, st->prob_eta, st->min_child_weight, st->lambda,
                  (unsigned long long)st->seed, st->objective, st->exclude,
                  st->monotone[0] ? st->monotone : "none", "");
    if (wh)   /* the watch-time head: reg:squarederror on the plays of set 0 */
        mq_buf_printf(&b, " watch_rounds=%d watch_base=%.17g", st->watch_rounds, st->watch_base);
    mq_buf_printf(&b, "%s\n", svm ? " format=libsvm" : "");
    if (svm) {
        mq_buf_puts(&b, "# features:");
        for (int f = 0; f < nf; f++) mq_buf_printf(&b, " %d:%s", f, st->names[f]);
        mq_buf_putc(&b, '\n');
    } else {
        mq_buf_puts(&b, "set,group,member,title,label");
        for (int f = 0; f < nf; f++) mq_buf_printf(&b, ",%s", st->names[f]);
        mq_buf_puts(&b, wh ? ",pred_rank,pred_prob,secs,pred_secs\n" : ",pred_rank,pred_prob\n");
    }
    int rc = 0;
    const mq__rank_rows *r = st->rows;
    if (r && r->n > 0) {
        float *pr = malloc((size_t)r->n * sizeof *pr), *pp = malloc((size_t)r->n * sizeof *pp);
        float *ps = malloc((size_t)r->n * sizeof *ps);
        if (!pr || !pp || !ps) rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        if (!rc) rc = mq_rank_predict_rows(m, r->x, r->n, pr, pp, err);
        if (!rc && wh) rc = mq__xgb_predict(st->secs, r->x, r->n, nf, false, ps, err);
        for (int64_t k = 0; !rc && k < r->n; k++)
            put(&b, r->set[k], r->group[k], mq_idmap_name(r->names, r->member[k]),
                    mq_model_title_id(m, r->title[k]), r->grade[k], r->x + k * nf, nf, pr[k],
                    pp[k], (watch_vals){wh, r->secs[k], wh ? ps[k] : NAN});
        free(pr);
        free(pp);
        free(ps);
    }
    int64_t g0 = r && r->n ? r->group[r->n - 1] + 1 : 0;
    float *tsec = NULL;
    if (!rc && wh) {
        int mc = mq__rank_max_cand(&st->snap);
        tsec = malloc((size_t)MQ_MAX(mc, 1) * sizeof *tsec);
        if (!tsec) rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
    }
    for (int32_t i = 0; !rc && i < c->h->n; i++) {
        if (!c->evaluated[i]) continue;
        const ev_member *q = &c->mem[i];
        if (wh && q->n > 0 && (rc = mq__xgb_predict(st->secs, q->x, q->n, nf, false, tsec, err)))
            break;
        for (int k = 0; k < q->n; k++) {
            int64_t row = c->off[i] + k;
            put(&b, 2, g0 + i, c->h->member_ids[i], mq_model_title_id(m, q->cand[k]),
                    c->is_target[row], q->x + (size_t)k * nf, nf, c->rs[row], c->pr[row],
                    (watch_vals){wh, NAN, wh ? tsec[k] : NAN});
        }
    }
    free(tsec);
    if (!rc && b.oom) rc = mq__err_set(err, MQ_ENOMEM, "%s: out of memory", path);
    if (!rc) rc = mq__write_file_atomic(path, b.p, b.len, err);
    mq_buf_release(&b);
    return rc;
}

static int write_reliability(const char *path, const mq_calib_bin bins[3][15], mq_err *err)
{
    static const char *const names[3] = {"raw", "platt", "isotonic"};
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_puts(&b, "method,bin,count,mean_predicted,observed_rate\n");
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 15; i++)
            mq_buf_printf(&b, "%s,%d,%lld,%.9g,%.9g\n", names[k], i, (long long)bins[k][i].count,
                          bins[k][i].mean_p, bins[k][i].rate);
    int rc = b.oom ? mq__err_set(err, MQ_ENOMEM, "%s: out of memory", path)
                   : mq__write_file_atomic(path, b.p, b.len, err);
    mq_buf_release(&b);
    return rc;
}

static double logit(double p)
{
    p = MQ_MIN(MQ_MAX(p, 1e-15), 1 - 1e-15);
    return log(p / (1 - p));
}

int mq_rank_evaluate(const mq_model *m, const mq_dataset *train, const mq_heldout *h,
                     const mq_eval_opts *eo, const mq_rank_eval_opts *ro, mq_eval_result *res,
                     mq_rank_report *rep, mq_err *err)
{
    mq_eval_opts eov; mq_rank_eval_opts rov; int orc;
    if ((orc = MQ__OPTS_GET(mq_eval_opts, &eov, eo, err)) || (orc = MQ__OPTS_GET(mq_rank_eval_opts, &rov, ro, err))) return orc;
    if (eo) eo = &eov;
    if (ro) ro = &rov;
    if (!mq_rank_is_ranker(m)) return mq__err_set(err, MQ_EINVAL, "mq_rank_evaluate: not a ranker");
    if (!train || !h) return mq__err_set(err, MQ_EINVAL, "mq_rank_evaluate: no data");
    if (train->n_titles != m->n_titles)
        return mq__err_set(err, MQ_EINVAL, "ranker: the data has %d titles, the model %d",
                           train->n_titles, m->n_titles);
    const mq__rank_state *st = m->state;
    int G = st->snap.n_gen, nf = st->nf;
    int nt = mq__threads(eo ? eo->n_threads : 0);
    ev_ctx *c = calloc(1, sizeof *c);
    if (!c) return mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
    c->m = m;
    c->st = st;
    c->train = train;
    c->h = h;
    c->eo = eo;
    int rc = 0;
    int32_t n = h->n;
    c->mem = calloc((size_t)MQ_MAX(n, 1), sizeof *c->mem);
    c->off = calloc((size_t)n + 1, sizeof *c->off);
    c->w = calloc((size_t)nt, sizeof *c->w);
    c->cbuf = calloc((size_t)nt, sizeof *c->cbuf);
    c->hbuf = calloc((size_t)nt, sizeof *c->hbuf);
    c->xbuf = calloc((size_t)nt, sizeof *c->xbuf);
    c->tbuf = calloc((size_t)nt, sizeof *c->tbuf);
    c->sbuf = calloc((size_t)nt, sizeof *c->sbuf);
    c->mark = calloc((size_t)nt, sizeof *c->mark);
    c->tgt = calloc((size_t)nt, sizeof *c->tgt);
    c->top = calloc((size_t)nt, sizeof *c->top);
    if (!c->mem || !c->off || !c->w || !c->cbuf || !c->hbuf || !c->xbuf || !c->tbuf || !c->sbuf ||
        !c->mark || !c->tgt || !c->top) {
        rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        goto done;
    }
    int64_t maxdeg = 1, maxout = 1;
    for (int32_t u = 0; u < train->n_members; u++)
        maxdeg = MQ_MAX(maxdeg, train->m_ptr[u + 1] - train->m_ptr[u]);
    for (int32_t i = 0; i < n; i++) maxout = MQ_MAX(maxout, h->out_ptr[i + 1] - h->out_ptr[i]);
    int mc = mq__rank_max_cand(&st->snap);
    for (int t = 0; t < nt; t++) {
        c->cbuf[t] = malloc((size_t)mc * sizeof **c->cbuf);
        c->xbuf[t] = malloc((size_t)mc * nf * sizeof **c->xbuf);
        c->hbuf[t] = malloc((size_t)maxdeg * sizeof **c->hbuf);
        c->tbuf[t] = malloc((size_t)maxdeg * sizeof **c->tbuf);
        c->sbuf[t] = malloc((size_t)m->n_titles * sizeof **c->sbuf);
        c->mark[t] = calloc((size_t)m->n_titles, sizeof **c->mark);
        c->tgt[t] = malloc((size_t)maxout * sizeof **c->tgt);
        c->top[t] = malloc(KCMP * sizeof **c->top);
        if (!c->cbuf[t] || !c->xbuf[t] || !c->hbuf[t] || !c->tbuf[t] || !c->sbuf[t] ||
            !c->mark[t] || !c->tgt[t] || !c->top[t]) {
            rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
            goto done;
        }
        if ((rc = mq__rank_scratch_init(&c->w[t], &st->snap, err))) goto done;
        if (eo && eo->rankable)
            for (int32_t x = 0; x < m->n_titles; x++)
                if (!eo->rankable[x]) c->mark[t][x] = -1;
    }
    for (int32_t i = 0; i < n; i++) {
        const char *id = h->member_ids ? h->member_ids[i] : NULL;
        c->mem[i].train_row = id ? mq_idmap_find(train->member_ids, id, strlen(id)) : -1;
    }
    double t0 = mq_now();
    rc = mq__parallel_for(nt, n, 4, feat_range, c);
    if (rc) {
        for (int i = 0; i < 64; i++)
            if (c->errs[i].code) {
                if (err) *err = c->errs[i];
                break;
            }
        goto done;
    }
    double feat_s = mq_now() - t0;
    for (int32_t i = 0; i < n; i++) c->off[i + 1] = c->off[i] + c->mem[i].n;
    int64_t rows = c->off[n];
    float *X = malloc((size_t)MQ_MAX(rows, 1) * nf * sizeof *X);
    c->rs = malloc((size_t)MQ_MAX(rows, 1) * sizeof *c->rs);
    c->pr = malloc((size_t)MQ_MAX(rows, 1) * sizeof *c->pr);
    c->is_target = calloc((size_t)MQ_MAX(rows, 1), 1);
    c->nd = malloc((size_t)MQ_MAX(n, 1) * (G + 1) * sizeof *c->nd);
    c->evaluated = calloc((size_t)MQ_MAX(n, 1), 1);
    if (!X || !c->rs || !c->pr || !c->is_target || !c->nd || !c->evaluated) {
        free(X);
        rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        goto done;
    }
    for (int32_t i = 0; i < n; i++)
        memcpy(X + c->off[i] * nf, c->mem[i].x, (size_t)c->mem[i].n * nf * sizeof *X);
    rc = mq_rank_predict_rows(m, X, rows, c->rs, c->pr, err);
    if (!rc && ro && ro->order_feature) {
        int j = 0;
        while (j < nf && strcmp(st->names[j], ro->order_feature) != 0) j++;
        if (j == nf)
            rc = mq__err_set(err, MQ_EINVAL, "ranker: order_feature '%s' is not a feature",
                             ro->order_feature);
        for (int64_t r = 0; !rc && r < rows; r++) c->rs[r] = X[r * nf + j];
    }
    free(X);
    if (rc) goto done;
    mq_eval_result local;
    rc = mq_eval_heldout_batch(batch_score, c, m->n_titles, h, eo, res ? res : &local, err);
    if (rc) goto done;
    if (!rep && !(ro && (ro->features_csv || ro->reliability_csv))) goto done;
    rc = mq__parallel_for(nt, n, 4, report_range, c);
    if (rc) {
        for (int i = 0; i < 64; i++)
            if (c->errs[i].code) {
                if (err) *err = c->errs[i];
                break;
            }
        goto done;
    }
    mq_rank_report R;
    memset(&R, 0, sizeof R);
    R.n_generators = G;
    R.k_cmp = KCMP;
    R.feature_seconds = feat_s;
    R.candidates_per_sec = feat_s > 0 ? rows / feat_s : 0;
    for (int g = 0; g < G; g++) snprintf(R.generators[g], sizeof R.generators[g], "%s", st->gens[g]);
    /* Paired NDCG@20: ranker − generator over the evaluated members. */
    for (int g = 0; g <= G; g++) {
        double s0 = 0, sd = 0;
        int64_t k = 0;
        for (int32_t i = 0; i < n; i++)
            if (c->evaluated[i]) {
                s0 += c->nd[(int64_t)i * (G + 1) + g];
                k++;
            }
        double mean_g = k ? s0 / k : NAN;
        if (g == 0) {
            R.ndcg = mean_g;
            continue;
        }
        R.gen_ndcg[g - 1] = mean_g;
        double dm = 0;
        for (int32_t i = 0; i < n; i++)
            if (c->evaluated[i]) dm += c->nd[(int64_t)i * (G + 1)] - c->nd[(int64_t)i * (G + 1) + g];
        dm = k ? dm / k : NAN;
        for (int32_t i = 0; i < n; i++)
            if (c->evaluated[i]) {
                double d = c->nd[(int64_t)i * (G + 1)] - c->nd[(int64_t)i * (G + 1) + g] - dm;
                sd += d * d;
            }
        R.delta[g - 1] = dm;
        R.delta_se[g - 1] = k > 1 ? sqrt(sd / (k - 1)) / sqrt((double)k) : NAN;
    }
    /* Calibration samples: every candidate of an evaluated member. */
    int64_t ns = 0;
    for (int32_t i = 0; i < n; i++)
        if (c->evaluated[i]) ns += c->mem[i].n;
    double *p3 = malloc((size_t)MQ_MAX(ns, 1) * 3 * sizeof *p3);
    uint8_t *y = malloc((size_t)MQ_MAX(ns, 1));
    if (!p3 || !y) {
        free(p3);
        free(y);
        rc = mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
        goto done;
    }
    int64_t k = 0, pos = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!c->evaluated[i]) continue;
        for (int j = 0; j < c->mem[i].n; j++, k++) {
            int64_t row = c->off[i] + j;
            double p = c->pr[row];
            p3[k] = p;
            p3[ns + k] = mq_calib_platt_apply(st->platt_a, st->platt_b, logit(p));
            p3[2 * ns + k] = mq_isotonic_apply(&st->iso, (double)(float)p);
            y[k] = c->is_target[row];
            pos += y[k];
        }
    }
    R.n_pairs = ns;
    R.base_rate = ns ? (double)pos / ns : NAN;
    mq_calib_bin bins[3][15];
    mq_calib_figures *f3[3] = {&R.raw, &R.platt, &R.isotonic};
    for (int v = 0; v < 3 && !rc && ns > 0; v++)
        rc = mq_calib_figures_compute(p3 + v * ns, y, ns, 15, f3[v], bins[v], err);
    free(p3);
    free(y);
    if (rc) goto done;
    if (ro && ro->reliability_csv && ns > 0 && (rc = write_reliability(ro->reliability_csv, bins, err)))
        goto done;
    if (ro && ro->features_csv && (rc = write_features(c, ro->features_csv, ro->features_format, err))) goto done;
    if (rep) *rep = R;
done:
    for (int32_t i = 0; c->mem && i < n; i++) {
        free(c->mem[i].cand);
        free(c->mem[i].x);
    }
    for (int t = 0; t < nt; t++) {
        if (c->w) mq__rank_scratch_release(&c->w[t]);
        if (c->cbuf) free(c->cbuf[t]);
        if (c->xbuf) free(c->xbuf[t]);
        if (c->hbuf) free(c->hbuf[t]);
        if (c->tbuf) free(c->tbuf[t]);
        if (c->sbuf) free(c->sbuf[t]);
        if (c->mark) free(c->mark[t]);
        if (c->tgt) free(c->tgt[t]);
        if (c->top) free(c->top[t]);
    }
    free(c->w); free(c->cbuf); free(c->xbuf); free(c->hbuf); free(c->tbuf); free(c->sbuf);
    free(c->mark); free(c->tgt); free(c->top);
    free(c->mem); free(c->off); free(c->rs); free(c->pr); free(c->is_target); free(c->nd);
    free(c->evaluated);
    free(c);
    return rc;
}

int mq_rank_report_json(const mq_rank_report *r, char *out, size_t cap)
{
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_puts(&b, "\"calibration\": {\"ece_raw\": ");
    mq_buf_json_num(&b, r->raw.ece);
    mq_buf_puts(&b, ", \"ece_platt\": ");
    mq_buf_json_num(&b, r->platt.ece);
    mq_buf_puts(&b, ", \"ece_isotonic\": ");
    mq_buf_json_num(&b, r->isotonic.ece);
    const struct { const char *n; double v; } more[] = {
        {"log_loss_raw", r->raw.log_loss}, {"log_loss_platt", r->platt.log_loss},
        {"log_loss_isotonic", r->isotonic.log_loss}, {"brier_raw", r->raw.brier},
        {"brier_platt", r->platt.brier}, {"brier_isotonic", r->isotonic.brier},
        {"base_rate", r->base_rate}, {"samples", (double)r->n_pairs}};
    for (size_t i = 0; i < sizeof more / sizeof *more; i++) {
        mq_buf_printf(&b, ", \"%s\": ", more[i].n);
        mq_buf_json_num(&b, more[i].v);
    }
    mq_buf_printf(&b, ", \"bins\": 15}, \"vs_generators\": {\"metric\": \"ndcg@%d\", \"ranker\": ",
                  r->k_cmp);
    mq_buf_json_num(&b, r->ndcg);
    mq_buf_puts(&b, ", \"generators\": [");
    for (int g = 0; g < r->n_generators; g++) {
        mq_buf_puts(&b, g ? ", {\"model\": " : "{\"model\": ");
        mq_buf_json_str(&b, r->generators[g], strlen(r->generators[g]));
        mq_buf_puts(&b, ", \"ndcg\": ");
        mq_buf_json_num(&b, r->gen_ndcg[g]);
        mq_buf_puts(&b, ", \"delta\": ");
        mq_buf_json_num(&b, r->delta[g]);
        mq_buf_puts(&b, ", \"delta_se\": ");
        mq_buf_json_num(&b, r->delta_se[g]);
        mq_buf_putc(&b, '}');
    }
    mq_buf_printf(&b, "]}, \"feature_seconds\": ");
    mq_buf_json_num(&b, r->feature_seconds);
    mq_buf_puts(&b, ", \"candidates_per_second\": ");
    mq_buf_json_num(&b, r->candidates_per_sec);
    int rc;
    if (b.oom) rc = MQ_ENOMEM;
    else if (b.len + 1 > cap) rc = MQ_ERANGE;
    else {
        memcpy(out, b.p, b.len);
        out[b.len] = 0;
        rc = (int)b.len;
    }
    mq_buf_release(&b);
    return rc;
}

/* ---- reading a feature file ---------------------------------------------------------------- */

/* Next CSV field of line at *p (quotes allowed); returns its start, NUL-terminates it. */
static char *next_field(char **p)
{
    char *s = *p;
    if (!s) return NULL;
    if (*s == '"') {
        char *w = s, *r = s + 1;
        for (;;) {
            if (!*r) break;
            if (*r == '"') {
                if (r[1] == '"') {
                    *w++ = '"';
                    r += 2;
                    continue;
                }
                r++;
                break;
            }
            *w++ = *r++;
        }
        *w = 0;
        *p = *r == ',' ? r + 1 : NULL;
        return s;
    }
    char *e = strchr(s, ',');
    if (e) {
        *e = 0;
        *p = e + 1;
    } else {
        *p = NULL;
    }
    return s;
}

/* One LibSVM row "<label> qid:<g> <j>:<v> ... # set=<s> ..." into x [nf] (NaN where absent). */
static int parse_svm_row(char *line, int nf, const char *path, int64_t lineno, float *x,
                         float *label, int32_t *set, mq_err *err)
{
    for (int j = 0; j < nf; j++) x[j] = NAN;
    char *hash = strchr(line, '#');
    if (!hash)
        return mq__err_set(err, MQ_EFORMAT, "%s:%lld: no '# set=...' comment", path,
                           (long long)lineno);
    *hash = 0;
    char *end, *p = line;
    *label = strtof(p, &end);
    if (end == p)
        return mq__err_set(err, MQ_EFORMAT, "%s:%lld: field 'label': not a number", path,
                           (long long)lineno);
    p = end;
    while (*p == ' ') p++;
    if (strncmp(p, "qid:", 4) != 0)
        return mq__err_set(err, MQ_EFORMAT, "%s:%lld: expected 'qid:' after the label", path,
                           (long long)lineno);
    strtoll(p + 4, &end, 10);
    if (end == p + 4)
        return mq__err_set(err, MQ_EFORMAT, "%s:%lld: field 'qid': not an integer", path,
                           (long long)lineno);
    p = end;
    for (;;) {
        while (*p == ' ') p++;
        if (!*p) break;
        long j = strtol(p, &end, 10);
        if (end == p || *end != ':' || j < 0 || j >= nf)
            return mq__err_set(err, MQ_EFORMAT, "%s:%lld: '%.20s': expected <feature 0..%d>:<value>",
                               path, (long long)lineno, p, nf - 1);
        p = end + 1;
        x[j] = strtof(p, &end);
        if (end == p)
            return mq__err_set(err, MQ_EFORMAT, "%s:%lld: feature %ld: not a number", path,
                               (long long)lineno, j);
        p = end;
    }
    char *sp = strstr(hash + 1, " set=");
    if (!sp)
        return mq__err_set(err, MQ_EFORMAT, "%s:%lld: no 'set=' in the comment", path,
                           (long long)lineno);
    *set = (int32_t)strtol(sp + 5, &end, 10);
    if (end == sp + 5)
        return mq__err_set(err, MQ_EFORMAT, "%s:%lld: field 'set': not an integer", path,
                           (long long)lineno);
    return 0;
}

int mq_rank_features_read(const mq_model *m, const char *path, int64_t *n_rows, float **x,
                          float **label, int32_t **set, mq_err *err)
{
    *n_rows = 0;
    *x = NULL;
    *label = NULL;
    *set = NULL;
    if (!mq_rank_is_ranker(m)) return mq__err_set(err, MQ_EINVAL, "%s: not a ranker model", path);
    const mq__rank_state *st = m->state;
    FILE *f = fopen(path, "r");
    if (!f) return mq__err_set(err, MQ_EIO, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    int64_t n = 0, ncap = 0, lineno = 0;
    float *X = NULL, *L = NULL;
    int32_t *S = NULL;
    int nf = st->nf;
    unsigned fp = 0;
    int fnf = -1;
    len = getline(&line, &cap, f);
    lineno++;
    if (len <= 0 || sscanf(line, "# marquee-features v1 catalog=%x features=%d", &fp, &fnf) != 2) {
        rc = mq__err_set(err, MQ_EFORMAT, "%s:1: not a marquee feature file (expected '# "
                         "marquee-features v1 catalog=... features=...')", path);
        goto done;
    }
    if (fp != st->fingerprint) {
        rc = mq__err_set(err, MQ_EINVAL, "%s:1: catalog fingerprint %08x, the ranker's catalog "
                         "is %08x: the features were built for another catalog", path, fp,
                         st->fingerprint);
        goto done;
    }
    if (fnf != nf) {
        rc = mq__err_set(err, MQ_EINVAL, "%s:1: %d features, the ranker has %d", path, fnf, nf);
        goto done;
    }
    bool svm = strstr(line, " format=libsvm") != NULL;
    len = getline(&line, &cap, f);
    lineno++;
    if (svm) {
        if (len <= 0 || strncmp(line, "# features:", 11) != 0) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s:2: expected '# features: 0:<name> ...'", path);
            goto done;
        }
    } else if (len <= 0 || strncmp(line, "set,group,member,title,label", 28) != 0) {
        rc = mq__err_set(err, MQ_EFORMAT, "%s:2: expected the header 'set,group,member,title,"
                         "label,...'", path);
        goto done;
    }
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[len - 1] == '\n') line[--len] = 0;
        if (len == 0) continue;
        if (n == ncap) {
            ncap = ncap ? 2 * ncap : 1024;
            float *nx = realloc(X, (size_t)ncap * nf * sizeof *X);
            if (nx) X = nx;
            float *nl = realloc(L, (size_t)ncap * sizeof *L);
            if (nl) L = nl;
            int32_t *ns = realloc(S, (size_t)ncap * sizeof *S);
            if (ns) S = ns;
            if (!nx || !nl || !ns) {
                rc = mq__err_set(err, MQ_ENOMEM, "%s: out of memory", path);
                goto done;
            }
        }
        if (svm) {
            if ((rc = parse_svm_row(line, nf, path, lineno, X + n * nf, &L[n], &S[n], err)))
                goto done;
            n++;
            continue;
        }
        char *p = line;
        char *fs = next_field(&p), *fg = next_field(&p);
        next_field(&p);
        next_field(&p);
        char *fl = next_field(&p), *end;
        if (!fs || !fg || !fl) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s:%lld: too few fields", path, (long long)lineno);
            goto done;
        }
        S[n] = (int32_t)strtol(fs, &end, 10);
        if (*end || end == fs) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s:%lld: field 'set': '%s' is not an integer", path,
                             (long long)lineno, fs);
            goto done;
        }
        L[n] = strtof(fl, &end);
        if (*end || end == fl) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s:%lld: field 'label': '%s' is not a number", path,
                             (long long)lineno, fl);
            goto done;
        }
        for (int j = 0; j < nf; j++) {
            char *v = next_field(&p);
            if (!v) {
                rc = mq__err_set(err, MQ_EFORMAT, "%s:%lld: %d features expected, %d found", path,
                                 (long long)lineno, nf, j);
                goto done;
            }
            X[n * nf + j] = strtof(v, &end);
            if (*end || end == v) {
                rc = mq__err_set(err, MQ_EFORMAT, "%s:%lld: feature '%s': '%s' is not a number",
                                 path, (long long)lineno, st->names[j], v);
                goto done;
            }
        }
        n++;
    }
    *n_rows = n;
    *x = X;
    *label = L;
    *set = S;
    X = NULL;
    L = NULL;
    S = NULL;
done:
    free(line);
    free(X);
    free(L);
    free(S);
    fclose(f);
    return rc;
}
