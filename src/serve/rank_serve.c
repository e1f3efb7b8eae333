/* rank_serve.c: the second-stage ranker in the server: loading ranker.mqm (and the rankers
 * experiment treatments name) with its generators from the models directory, and each
 * page's relevance from the member's live state (docs/models.md, "Serving a ranker").
 *
 * Loading (at start and at every reload, into the new bundle; a failure fails the reload and
 * the old bundle keeps serving): NAME.mqm must be a ranker over main.mqm's titles (catalog
 * fingerprint); each generator it names (candidates=ease,ials,...) must be in the models
 * directory as <generator>.mqm, of that kind, over the same titles: the load fails naming
 * every missing one. A generator whose canonical parameters differ from the copy trained
 * inside the ranker is logged (its scores are not the ones the booster learned from).
 *
 * Per page (mq__rsv_score): the member's live positives with their times, from the dataset's
 * history and the store's recent events (the ranker's rule: a rating >= 4 on rated data, any
 * positive value otherwise; plays and thumbs up; a thumb down or a low rating in the store
 * overrides the data); the candidates and features at the request time by the training
 * feature function (mq_rank_live_features, with the live generators and the live trending
 * counters); one prediction of the play-probability head for all candidates (one call);
 * the relevance of a candidate is its Platt-calibrated play probability. Not the isotonic one:
 * isotonic calibration is a step function, and its top block holds dozens of a member's best
 * candidates (equal relevance would leave their order to the title index and MMR); Platt's
 * map is strictly increasing in the booster's margin, so the page keeps the head's full order
 * (a ranker with platt_a <= 0 uses the raw probability). A ranker trained with
 * relevance=watch_time (it has the watch-time head) multiplies that probability by the head's
 * expected seconds over the training plays' mean (mq_rank_relevance). Explain shows both
 * calibrations.
 * Every other title gets NaN: no relevance (mq_page_build skips it).
 *
 * Threads: a loaded mq__rsv is immutable; each request thread has its own mq__rsv_work
 * (cached in the server's per-request context, keyed by bundle generation and slot).
 */
#include "serve/serve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- loading ---- */

static void rsv_destroy(mq__rsv *r)
{
    if (!r) return;
    for (int g = 0; g < r->n_gen; g++) mq_model_destroy(r->gen[g]);
    mq_model_destroy(r->ranker);
    free(r);
}

static int rsv_load(const char *models, const char *name, const mq_model *main, const mq_log *log,
                    mq__rsv **out, mq_err *err)
{
    *out = NULL;
    mq__rsv *r = calloc(1, sizeof *r);
    if (!r) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    snprintf(r->name, sizeof r->name, "%s", name);
    char path[4400];
    snprintf(path, sizeof path, "%s/%s.mqm", models, name);
    mq_err e = {0, ""};
    int rc = mq_model_load_private(path, &r->ranker, &e);
    if (rc) {
        rc = mq__err_set(err, rc, "%s", e.msg);
        goto fail;
    }
    if (!mq_rank_is_ranker(r->ranker)) {
        rc = mq__err_set(err, MQ_EFORMAT, "%s: a '%s' model, not a ranker", path, mq_model_kind(r->ranker));
        goto fail;
    }
    uint32_t want = mq_rank_catalog_fingerprint(main), have = mq_rank_catalog_fingerprint(r->ranker);
    if (want != have) {
        rc = mq__err_set(err, MQ_EFORMAT, "%s: the ranker's catalog (%d titles, fingerprint %08x) is "
                         "not main.mqm's (%d titles, fingerprint %08x): train both from the same data",
                         path, mq_model_n_titles(r->ranker), have, mq_model_n_titles(main), want);
        goto fail;
    }
    /* one page's rows are a few hundred: predicted on the request's own thread */
    if ((rc = mq_rank_set_threads(r->ranker, 1, err))) goto fail;
    r->n_gen = mq_rank_n_generators(r->ranker);
    char missing[256] = "";
    for (int g = 0; g < r->n_gen; g++) {
        const char *gk = mq_rank_generator(r->ranker, g);
        char gp[4400];
        snprintf(gp, sizeof gp, "%s/%s.mqm", models, gk);
        struct stat sb;
        if (stat(gp, &sb) != 0) {
            size_t l = strlen(missing);
            snprintf(missing + l, sizeof missing - l, "%s%s.mqm", l ? ", " : "", gk);
            continue;
        }
        if ((rc = mq_model_load_private(gp, &r->gen[g], &e))) {
            rc = mq__err_set(err, rc, "%s: generator %s of %s: %s", gp, gk, path, e.msg);
            goto fail;
        }
        if ((rc = mq_rank_check_generator(r->ranker, g, r->gen[g], &e))) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s: generator of %s: %s", gp, path, e.msg);
            goto fail;
        }
        const char *mine = mq_model_params(r->gen[g]), *theirs = mq_rank_generator_params(r->ranker, g);
        if (log && theirs && strcmp(mine, theirs) != 0)
            mq__logf(log, "serve: %s: parameters '%s' differ from those of the %s the ranker %s was "
                     "trained with ('%s')", gp, mine, gk, name, theirs);
    }
    if (missing[0]) {
        rc = mq__err_set(err, MQ_EFORMAT, "%s: the ranker's generators %s are missing from the models "
                         "directory %s (train them from the same data: marquee train --model <kind>)",
                         path, missing, models);
        goto fail;
    }
    struct stat sb;
    struct tm tm = {0};
    time_t mt = stat(path, &sb) == 0 ? sb.st_mtime : 0;
    gmtime_r(&mt, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(r->version, sizeof r->version, "%s@%s", name, when);
    double pa = 0;
    r->platt_ok = mq_model_param_double(r->ranker, "platt_a", &pa) == 0 && pa > 0;
    *out = r;
    return 0;
fail:
    rsv_destroy(r);
    return rc;
}

int mq__rsv_set_load(mq__rsv_set *set, const char *models, mq__xps *xps, const mq_model *main,
                     const mq_log *log, mq_err *err)
{
    memset(set, 0, sizeof *set);
    char path[4400];
    snprintf(path, sizeof path, "%s/ranker.mqm", models);
    struct stat sb;
    int rc = 0;
    if (stat(path, &sb) == 0 && (rc = rsv_load(models, "ranker", main, log, &set->def, err))) return rc;
    for (int i = 0; xps && i < xps->xp.n * MQ_XP_MAX_VARIANTS; i++) {
        mq__xps_treat *t = &xps->treat[i];
        if (!(t->set & (1u << MQ__XT_RANKER))) continue;
        t->ranker_slot = -1;                       /* "none": no ranker for this variant */
        if (!strcmp(t->ranker, "none")) continue;
        if (!strcmp(t->ranker, "ranker") && set->def) { t->ranker_slot = 0; continue; }
        int k = 0;
        while (k < set->n && strcmp(set->alt[k]->name, t->ranker)) k++;
        if (k == set->n) {
            if (set->n == MQ__RSV_MAX) {
                mq__rsv_set_release(set);
                return mq__err_set(err, MQ_EFORMAT, "%s: more than %d distinct treatment rankers",
                                   xps->path, MQ__RSV_MAX);
            }
            mq_err e = {0, ""};
            if ((rc = rsv_load(models, t->ranker, main, log, &set->alt[k], &e))) {
                mq__rsv_set_release(set);
                return mq__err_set(err, MQ_EFORMAT, "%s: treatment ranker '%s': %s", xps->path, t->ranker, e.msg);
            }
            set->n++;
        }
        t->ranker_slot = k + 1;
    }
    return 0;
}

void mq__rsv_set_release(mq__rsv_set *set)
{
    rsv_destroy(set->def);
    for (int k = 0; k < set->n; k++) rsv_destroy(set->alt[k]);
    memset(set, 0, sizeof *set);
}

const mq__rsv *mq__rsv_pick(const mq__rsv_set *set, const mq__xps_treat *t, int *slot)
{
    int k = 0;
    if (t && (t->set & (1u << MQ__XT_RANKER))) k = t->ranker_slot;
    if (slot) *slot = k;
    if (k < 0) return NULL;
    return k == 0 ? set->def : set->alt[k - 1];
}

/* ---- per request ---- */

struct mq__rsv_work {
    uint64_t key;                   /* bundle generation and slot it was made for */
    const mq__rsv *r;
    mq_rank_work *rw;
    int32_t n_titles;
    uint32_t *mark;                 /* [n_titles] stamps: title seen in this history */
    int32_t *hpos;                  /* [n_titles] its index in hist */
    uint32_t stamp;
    int hcap;
    int32_t *hist;                  /* [hcap] the live positives */
    int64_t *htime;
    int8_t *hok;                    /* [hcap] positive (1) or only seen (0) */
    int ccap;                       /* max candidates */
    int nf;
    int n_cand;
    int32_t *cand;                  /* [ccap] */
    float *x;                       /* [ccap x nf] */
    float *raw, *platt, *cal;       /* [ccap] probabilities: raw, Platt, isotonic */
    float *rel;                     /* [ccap] relevance=watch_time rankers: probability x expected
                                       seconds / mean seconds (mq_rank_relevance); else NULL */
    int n_ex;                       /* explained rows (mq__rsv_explain_prepare) */
    float *ex_x, *ex_ct, *ex_mg;    /* [ccap x nf], [ccap x (nf + 1)], [ccap] */
    int *ex_c;                      /* [ccap] their candidate index */
};

void mq__rsv_work_free(mq__rsv_work *w)
{
    if (!w) return;
    mq_rank_work_destroy(w->rw);
    free(w->mark);
    free(w->hpos);
    free(w->hist);
    free(w->htime);
    free(w->hok);
    free(w->cand);
    free(w->x);
    free(w->raw);
    free(w->cal);
    free(w->platt);
    free(w->rel);
    free(w->ex_x);
    free(w->ex_ct);
    free(w->ex_mg);
    free(w->ex_c);
    free(w);
}

static int work_get(const mq__rsv *r, uint64_t key, mq__rsv_work **wp, mq_err *err)
{
    mq__rsv_work *w = *wp;
    if (w && w->key == key && w->r == r) return 0;
    mq__rsv_work_free(w);
    *wp = NULL;
    w = calloc(1, sizeof *w);
    if (!w) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    w->key = key;
    w->r = r;
    w->n_titles = mq_model_n_titles(r->ranker);
    w->nf = mq_rank_n_features(r->ranker);
    w->ccap = MQ_MAX(mq_rank_max_candidates(r->ranker), 1);
    int rc = mq_rank_work_create(r->ranker, &w->rw, err);
    w->mark = calloc((size_t)MQ_MAX(w->n_titles, 1), sizeof *w->mark);
    w->hpos = malloc((size_t)MQ_MAX(w->n_titles, 1) * sizeof *w->hpos);
    w->cand = malloc((size_t)w->ccap * sizeof *w->cand);
    w->x = malloc((size_t)w->ccap * (size_t)w->nf * sizeof *w->x);
    w->raw = malloc((size_t)w->ccap * sizeof *w->raw);
    w->cal = malloc((size_t)w->ccap * sizeof *w->cal);
    w->platt = malloc((size_t)w->ccap * sizeof *w->platt);
    if (mq_rank_relevance_is_watch_time(r->ranker)) {
        w->rel = malloc((size_t)w->ccap * sizeof *w->rel);
        if (!w->rel) rc = rc ? rc : mq__err_set(err, MQ_ENOMEM, "out of memory");
    }
    if (!rc && (!w->mark || !w->hpos || !w->cand || !w->x || !w->raw || !w->cal || !w->platt))
        rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
    if (rc) {
        mq__rsv_work_free(w);
        return rc;
    }
    *wp = w;
    return 0;
}

static int hist_room(mq__rsv_work *w, int n, mq_err *err)
{
    if (n <= w->hcap) return 0;
    int cap = MQ_MAX(n, 2 * w->hcap);
    int32_t *h = realloc(w->hist, (size_t)cap * sizeof *h);
    if (h) w->hist = h;
    int64_t *t = realloc(w->htime, (size_t)cap * sizeof *t);
    if (t) w->htime = t;
    int8_t *o = realloc(w->hok, (size_t)cap);
    if (o) w->hok = o;
    if (!h || !t || !o) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    w->hcap = cap;
    return 0;
}

/* The member's live positives into w->hist/htime (compacted); returns their count. */
static int live_history(mq__rsv_work *w, const mq__rsv *r, const char *member, const int32_t *ds2m,
                        const mq__rsv_in *in, mq_err *err)
{
    const mq_dataset *d = in->data;
    int32_t row = d ? mq_idmap_find(d->member_ids, member, strlen(member)) : -1;
    int64_t lo = row >= 0 ? d->m_ptr[row] : 0, hi = row >= 0 ? d->m_ptr[row + 1] : 0;
    int ns = in->st ? in->st->n : 0;
    if (hist_room(w, ns + (int)(hi - lo) + 1, err)) return MQ_ENOMEM;
    if (++w->stamp == 0) {
        memset(w->mark, 0, (size_t)w->n_titles * sizeof *w->mark);
        w->stamp = 1;
    }
    int m = 0;
    /* the store first: its entry decides for the title (it is the newer information) */
    for (int i = 0; i < ns; i++) {
        const mq_recent *e = &in->st->recent[i];
        int32_t t = mq_model_title_index(r->ranker, e->title);
        if (t < 0 || w->mark[t] == w->stamp) continue;
        bool pos = e->thumb == 1 ||
                   (e->thumb != 2 && (e->rating > 0 ? (!d || !d->ratings || e->rating >= 4.0f) : e->seconds > 0));
        w->mark[t] = w->stamp;
        w->hpos[t] = m;
        w->hist[m] = t;
        w->htime[m] = e->time;
        w->hok[m++] = pos;
    }
    for (int64_t k = lo; k < hi; k++) {
        int32_t t = ds2m ? ds2m[d->m_idx[k]] : -1;
        if (t < 0) continue;
        if (w->mark[t] == w->stamp) {       /* also in the store: the later time */
            int i = w->hpos[t];
            if (d->m_time[k] > w->htime[i]) w->htime[i] = d->m_time[k];
            continue;
        }
        w->mark[t] = w->stamp;
        w->hpos[t] = m;
        w->hist[m] = t;
        w->htime[m] = d->m_time[k];
        w->hok[m++] = d->ratings ? d->m_val[k] >= 4.0f : d->m_val[k] > 0;
    }
    int p = 0;
    for (int i = 0; i < m; i++)
        if (w->hok[i]) {
            w->hist[p] = w->hist[i];
            w->htime[p++] = w->htime[i];
        }
    return p;
}

int mq__rsv_score(const mq__rsv *r, mq__rsv_work **wp, uint64_t key, const char *member,
                  const int32_t *ds2m, const mq__rsv_in *in, float *scores, mq_err *err)
{
    int rc = work_get(r, key, wp, err);
    if (rc) return rc;
    mq__rsv_work *w = *wp;
    w->n_cand = 0;
    int nh = live_history(w, r, member, ds2m, in, err);
    if (nh < 0) return nh;
    if (nh == 0) return 0;
    mq_rank_live live; mq_rank_live_init(&live, sizeof live);
    live.now = in->now, live.hour = in->hour, live.generators = (const mq_model *const *)r->gen, live.trending = in->trending;
    int n = mq_rank_live_features(r->ranker, &live, w->hist, w->htime, nh, w->rw, w->cand, w->x, err);
    if (n < 0) return n;
    if (n > 0 && (rc = mq_rank_play_probability(r->ranker, w->x, n, w->raw, w->platt, w->cal, err))) return rc;
    w->n_cand = n;
    for (int32_t t = 0; t < w->n_titles; t++) scores[t] = NAN;
    const float *rel = r->platt_ok ? w->platt : w->raw;
    if (w->rel && n > 0) {      /* relevance=watch_time: times the expected seconds */
        if ((rc = mq_rank_relevance(r->ranker, w->x, n, rel, w->rel, err))) return rc;
        rel = w->rel;
    }
    for (int i = 0; i < n; i++) scores[w->cand[i]] = rel[i];
    return n;
}

int mq__rsv_explain_prepare(const mq__rsv *r, mq__rsv_work *w, const int32_t *titles, int n,
                            mq_err *err)
{
    int nf = w->nf;
    w->n_ex = 0;
    if (!w->ex_x) {
        w->ex_x = malloc((size_t)w->ccap * (size_t)nf * sizeof *w->ex_x);
        w->ex_ct = malloc((size_t)w->ccap * (size_t)(nf + 1) * sizeof *w->ex_ct);
        w->ex_mg = malloc((size_t)w->ccap * sizeof *w->ex_mg);
        w->ex_c = malloc((size_t)w->ccap * sizeof *w->ex_c);
        if (!w->ex_x || !w->ex_ct || !w->ex_mg || !w->ex_c) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n && w->n_ex < w->ccap; i++) {
        int lo = 0, hi = w->n_cand;        /* cand is ascending */
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (w->cand[mid] < titles[i]) lo = mid + 1;
            else hi = mid;
        }
        if (lo < w->n_cand && w->cand[lo] == titles[i]) {
            memcpy(w->ex_x + (size_t)w->n_ex * nf, w->x + (size_t)lo * nf, (size_t)nf * sizeof *w->x);
            w->ex_c[w->n_ex++] = lo;
        }
    }
    if (w->n_ex == 0) return 0;
    return mq_rank_contributions(r->ranker, w->ex_x, w->n_ex, w->ex_ct, w->ex_mg, err);
}

void mq__rsv_explain_json(const mq__rsv *r, const mq__rsv_work *w, int32_t title, int k, mq_buf *b)
{
    int nf = w->nf, j = 0;
    while (j < w->n_ex && w->cand[w->ex_c[j]] != title) j++;
    if (j == w->n_ex) return;
    int c = w->ex_c[j];
    const float *cr = w->ex_ct + (size_t)j * (nf + 1);
    mq_buf_puts(b, ",\"ranker\":{\"play_probability\":");
    mq_buf_json_num(b, w->cal[c]);
    mq_buf_puts(b, ",\"platt_probability\":");
    mq_buf_json_num(b, w->platt[c]);
    mq_buf_puts(b, ",\"raw_probability\":");
    mq_buf_json_num(b, w->raw[c]);
    if (w->rel) {
        mq_buf_puts(b, ",\"watch_relevance\":");
        mq_buf_json_num(b, w->rel[c]);
    }
    mq_buf_puts(b, ",\"margin\":");
    mq_buf_json_num(b, w->ex_mg[j]);
    mq_buf_puts(b, ",\"bias\":");
    mq_buf_json_num(b, cr[nf]);
    mq_buf_puts(b, ",\"contributions\":[");
    /* the k largest by magnitude, largest first (ties: the lower feature index) */
    uint64_t used[4] = {0};
    for (int q = 0; q < k && q < nf && q < 256; q++) {
        int best = -1;
        for (int f = 0; f < nf && f < 256; f++)
            if (!(used[f >> 6] >> (f & 63) & 1) && (best < 0 || fabsf(cr[f]) > fabsf(cr[best]))) best = f;
        used[best >> 6] |= 1ull << (best & 63);
        if (q) mq_buf_putc(b, ',');
        const char *fname = mq_rank_feature_name(r->ranker, best);
        mq_buf_puts(b, "{\"feature\":");
        mq_buf_json_str(b, fname, strlen(fname));
        mq_buf_puts(b, ",\"value\":");
        float v = w->x[(size_t)c * nf + best];
        if (v == v) mq_buf_json_num(b, v);
        else mq_buf_puts(b, "null");
        mq_buf_puts(b, ",\"contribution\":");
        mq_buf_json_num(b, cr[best]);
        mq_buf_putc(b, '}');
    }
    /* the rest, so that bias + contributions + other = margin */
    double other = 0;
    for (int f = 0; f < nf; f++)
        if (f >= 256 || !(used[f >> 6] >> (f & 63) & 1)) other += cr[f];
    mq_buf_puts(b, "],\"other\":");
    mq_buf_json_num(b, other);
    mq_buf_putc(b, '}');
}
