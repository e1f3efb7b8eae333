/* http.c: the HTTP server: routes, request parsing, auth, limits, metrics, hot reload.
 *
 * Serving state:
 *  - the dataset (--data): member histories known at training time, read-only;
 *  - a model "bundle": the main model, popularity and trending scores, the page catalog, the
 *    dataset-to-model title map and a lazily filled cache of similar-title lists. A bundle is
 *    immutable once built (the similar cache fills by compare-and-swap) and reference counted:
 *    each request takes a reference to the current one under a short mutex, so a reload
 *    (POST /v1/admin/reload, SIGHUP via the CLI) builds the new bundle aside, swaps the pointer,
 *    and the old one is freed by whichever request releases it last. No request fails or waits;
 *  - the event log and the member store: POST /v1/events appends to the log, which commits
 *    (fsync, group-committed across concurrent requests) and applies the events to the store
 *    before the request is answered, so the next homepage request sees them;
 *  - live trending (src/serve/trend.c): the same apply step adds each batch to per-title decayed
 *    counters (one mutex per group commit), seeded from the bundle's trending scores; a thread
 *    ranks them into an immutable snapshot every trending_refresh seconds when they changed,
 *    which pages take and give back with one atomic operation each (no lock). At start-up the
 *    whole log is replayed (the counters count every record once, the store only those after
 *    its applied sequence); a reload seeds counters for the new bundle and rescans the log.
 *
 * Threads: libmicrohttpd runs a pool of `threads` event-loop threads (epoll), each handling
 * its own connections; handlers run on those threads and block only on the event log's commit
 * and the store. Per-request working memory (page arena, score vector, history) comes from a
 * pool of request contexts, so a steady state allocates little beyond the response buffer.
 * Responses are queued on the second call of the access handler (after the request headers),
 * which keeps HTTP/1.1 keep-alive working in libmicrohttpd.
 *
 * Limits: request bodies over max_body are answered 413 (the rest of the body is discarded);
 * more than max_inflight requests at once: 503; an event-log backlog over its bound: 429;
 * connections over max_connections are refused by libmicrohttpd.
 */
#include "core/core.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <math.h>
#include <strings.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>


/* ---- metrics ---- */

enum { R_HOMEPAGE, R_RECS, R_SIMILAR, R_EVENTS, R_HEALTHZ, R_METRICS, R_RELOAD, R_OTHER, N_ROUTES };
static const char *route_names[N_ROUTES] = {"homepage", "recommendations", "similar", "events",
                                            "healthz", "metrics", "reload", "other"};
static const int statuses[] = {200, 400, 401, 404, 405, 413, 429, 500, 503};
#define N_STATUS 9
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                 0.025, 0.05, 0.1, 0.25, 1.0};
#define N_BUCKETS 12

typedef struct hist {
    atomic_ullong b[N_BUCKETS + 1];     /* non-cumulative counts; the last is > 1 s */
    atomic_ullong count;
    atomic_ullong sum_ns;
} hist;

static void hist_add(hist *h, double sec)
{
    int i = 0;
    while (i < N_BUCKETS && sec > buckets[i]) i++;
    atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, (unsigned long long)(sec * 1e9), memory_order_relaxed);
}

/* ---- the model bundle ---- */

#define SIM_N 200

typedef struct simlist {
    int n;
    int32_t t[SIM_N];
    float s[SIM_N];
} simlist;

typedef struct bundle {
    atomic_int refs;
    mq_model *main, *pop, *trend;
    char version[160];
    int32_t n_titles;
    const char **ids;                /* [n_titles] model title ids */
    mq_page_catalog pc;
    int32_t *ds2m;                   /* [dataset n_titles] -> model title or -1 */
    _Atomic(simlist *) *sim;         /* [n_titles] filled on demand and by the warmer */
    atomic_int sim_cached;           /* lists in sim */
    uint64_t gen;                    /* load number: tags the trending snapshots of this bundle */
    float *trend_seed;               /* [n_titles] raw trending scores, as of trend_as_of */
    int64_t trend_as_of;
    double trend_half_life_days;     /* the trending model's, else 0 */
} bundle;

/* ---- per-request working memory ---- */

typedef struct reqctx {
    struct reqctx *next;
    mq_page_ctx *page;
    int32_t cap;                     /* n_titles the arrays are sized for */
    float *scores;
    uint8_t *mark;                   /* [cap] title already in hist */
    int hist_cap;
    mq_page_hist *hist;
    int32_t *hidx;
    mq_member_state st;
} reqctx;

struct mq_server {
    mq_server_opts o;
    char models[4096], events[4096], store_spec[4200], data_path[4096];
    char api_key[512];
    size_t api_key_len;
    mq_log log;
    struct MHD_Daemon *d;
    int port;
    mq_dataset *data;
    mq_store *store;
    mq_evlog *evlog;
    pthread_mutex_t bmu;             /* guards cur and reload */
    pthread_mutex_t reload_mu;
    bundle *cur;
    pthread_t warmer;                /* fills cur's similar lists, most popular titles first */
    bool warmer_running;
    atomic_bool warmer_quit;
    pthread_mutex_t pmu;
    reqctx *pool;
    atomic_int inflight;
    atomic_int async_waiting;        /* events requests suspended until their commit */
    atomic_ullong events_accepted, reloads, reload_failures;
    /* live trending (src/serve/trend.c): counters fed by every logged event, guarded by tmu (taken
     * once per group commit); a thread ranks them into a snapshot every trending_refresh
     * seconds when they changed; pages read the snapshot without a lock */
    pthread_mutex_t tmu;
    pthread_cond_t tcv;
    mq_trend *trend;                 /* counters in the title space of tbundle */
    bundle *tbundle;                 /* a reference to the bundle the counters follow */
    uint64_t trend_seq;              /* the last log record counted (or skipped) */
    uint64_t store_applied;          /* the store's applied sequence at open */
    bool trend_dirty, trend_stop, trend_thread_started;
    pthread_t trend_thread;
    mq_trend_pub *trend_pub;
    uint64_t bundle_gen;
    atomic_ullong trend_rebuilds, trend_events;
    atomic_ullong count[N_ROUTES][N_STATUS];
    hist lat[N_ROUTES][N_STATUS];
    hist page_build;
    double started;
};

/* ---- bundles ---- */

static void bundle_destroy(bundle *b)
{
    if (!b) return;
    mq_page_catalog_release(&b->pc);
    if (b->sim)
        for (int32_t t = 0; t < b->n_titles; t++) free(atomic_load(&b->sim[t]));
    free(b->sim);
    free(b->ids);
    free(b->ds2m);
    free(b->trend_seed);
    mq_model_destroy(b->main);
    mq_model_destroy(b->pop);
    mq_model_destroy(b->trend);
    free(b);
}

static bundle *bundle_acquire(mq_server *s)
{
    pthread_mutex_lock(&s->bmu);
    bundle *b = s->cur;
    if (b) atomic_fetch_add(&b->refs, 1);
    pthread_mutex_unlock(&s->bmu);
    return b;
}

static void bundle_release(bundle *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) bundle_destroy(b);
}

/* Title t's similar list, computed and published (compare-and-swap) on first use; NULL when
 * out of memory. */
static const simlist *similar_list(bundle *b, int32_t t)
{
    simlist *l = atomic_load_explicit(&b->sim[t], memory_order_acquire);
    if (l) return l;
    simlist *nl = malloc(sizeof *nl);
    if (!nl) return NULL;
    int got = mq_model_similar(b->main, t, SIM_N, nl->t, nl->s, NULL);
    nl->n = got > 0 ? got : 0;
    simlist *expect = NULL;
    if (atomic_compare_exchange_strong(&b->sim[t], &expect, nl)) {
        atomic_fetch_add_explicit(&b->sim_cached, 1, memory_order_relaxed);
        return nl;
    }
    free(nl);
    return expect;
}

static int similar_cb(void *user, int32_t t, int n, int32_t *out, float *score)
{
    bundle *b = user;
    if (t < 0 || t >= b->n_titles) return 0;
    const simlist *l = similar_list(b, t);
    if (!l) return 0;
    int m = MQ_MIN(n, l->n);
    memcpy(out, l->t, (size_t)m * sizeof *out);
    memcpy(score, l->s, (size_t)m * sizeof *score);
    return m;
}

/* The warmer: a background thread at low priority (nice 10) that computes every title's
 * similar list after a model loads, most popular titles first (the likeliest seeds of Because
 * You Watched rows), so pages stop paying for them within seconds instead of over hours of
 * long-tail traffic. Requests that need a list first compute it themselves, as before. */
typedef struct warm_arg { mq_server *s; bundle *b; } warm_arg;

static void *warm_similar(void *varg)
{
    warm_arg *a = varg;
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    double t0 = mq_now();
    int32_t n = a->b->n_titles;
    for (int32_t i = 0; i < n && !atomic_load_explicit(&a->s->warmer_quit, memory_order_relaxed); i++)
        similar_list(a->b, a->b->pc.pop_order[i]);
    if (atomic_load(&a->b->sim_cached) == n)
        mq__logf(&a->s->log, "serve: similar titles of all %d titles ready in %.1f s", n, mq_now() - t0);
    bundle_release(a->b);
    free(a);
    return NULL;
}

static void warmer_stop(mq_server *s)
{
    if (!s->warmer_running) return;
    atomic_store(&s->warmer_quit, true);
    pthread_join(s->warmer, NULL);
    s->warmer_running = false;
}

/* Restarts the warmer on bundle b (the reload lock is held). Without a thread, lists are
 * still computed on demand. */
static void warmer_start(mq_server *s, bundle *b)
{
    warmer_stop(s);
    if (!mq_model_has_similar(b->main)) return;
    warm_arg *a = malloc(sizeof *a);
    if (!a) return;
    a->s = s;
    a->b = b;
    atomic_fetch_add(&b->refs, 1);
    atomic_store(&s->warmer_quit, false);
    if (pthread_create(&s->warmer, NULL, warm_similar, a)) {
        bundle_release(b);
        free(a);
        return;
    }
    s->warmer_running = true;
}

/* Scores of an aux model (pop, trending) mapped into the main model's title space. */
static int aux_scores(const mq_model *aux, const bundle *b, float *dst, mq_err *err)
{
    int32_t na = mq_model_n_titles(aux);
    float *tmp = malloc((size_t)MQ_MAX(na, 1) * sizeof *tmp);
    if (!tmp) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    int rc = mq_model_score(aux, NULL, NULL, 0, tmp, err);
    if (rc == 0)
        for (int32_t t = 0; t < b->n_titles; t++) {
            int32_t j = mq_model_title_index(aux, b->ids[t]);
            dst[t] = j >= 0 ? tmp[j] : 0;
        }
    free(tmp);
    return rc;
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static int bundle_load(mq_server *s, bundle **out, mq_err *err)
{
    *out = NULL;
    bundle *b = calloc(1, sizeof *b);
    if (!b) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    atomic_init(&b->refs, 1);
    char path[4200];
    float *pop = NULL, *trend = NULL;
    snprintf(path, sizeof path, "%s/main.mqm", s->models);
    int rc = mq_model_load(path, &b->main, err);
    if (rc) goto fail;
    struct stat sb;
    stat(path, &sb);
    struct tm tm;
    gmtime_r(&sb.st_mtime, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(b->version, sizeof b->version, "%s@%s", mq_model_kind(b->main), when);
    b->n_titles = mq_model_n_titles(b->main);
    int32_t n = b->n_titles;
    b->ids = malloc((size_t)MQ_MAX(n, 1) * sizeof *b->ids);
    b->sim = calloc((size_t)MQ_MAX(n, 1), sizeof *b->sim);
    pop = calloc((size_t)MQ_MAX(n, 1), sizeof *pop);
    trend = calloc((size_t)MQ_MAX(n, 1), sizeof *trend);
    if (!b->ids || !b->sim || !pop || !trend) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
    for (int32_t t = 0; t < n; t++) b->ids[t] = mq_model_title_id(b->main, t);
    /* dataset -> model titles */
    const mq_dataset *d = s->data;
    if (d) {
        b->ds2m = malloc((size_t)MQ_MAX(d->n_titles, 1) * sizeof *b->ds2m);
        if (!b->ds2m) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
        for (int32_t j = 0; j < d->n_titles; j++)
            b->ds2m[j] = mq_model_title_index(b->main, mq_idmap_name(d->title_ids, j));
    }
    /* popularity and trending: from pop.mqm / trending.mqm when present, else from the data */
    snprintf(path, sizeof path, "%s/pop.mqm", s->models);
    if (file_exists(path)) {
        if ((rc = mq_model_load(path, &b->pop, err)) || (rc = aux_scores(b->pop, b, pop, err))) goto fail;
    } else if (d) {
        for (int32_t j = 0; j < d->n_titles; j++)
            if (b->ds2m[j] >= 0) pop[b->ds2m[j]] += (float)(d->t_ptr[j + 1] - d->t_ptr[j]);
    }
    snprintf(path, sizeof path, "%s/trending.mqm", s->models);
    if (file_exists(path)) {
        if ((rc = mq_model_load(path, &b->trend, err)) || (rc = aux_scores(b->trend, b, trend, err)))
            goto fail;
    } else {
        memcpy(trend, pop, (size_t)n * sizeof *pop);
    }
    /* the time the seed scores hold at: the trending model's as_of, else the data's latest
     * event (popularity has no time), else none (the first live event outweighs the seed) */
    double v;
    if (b->trend && mq_model_param_double(b->trend, "as_of", &v) == 0) b->trend_as_of = (int64_t)v;
    else if (d)
        for (int64_t e = 0; e < d->nnz; e++) b->trend_as_of = MQ_MAX(b->trend_as_of, d->m_time[e]);
    if (b->trend && mq_model_param_double(b->trend, "half_life", &v) == 0) b->trend_half_life_days = v;
    rc = mq_page_catalog_init(&b->pc, n, mq_model_catalog(b->main), b->ids, pop, trend, err);
    if (rc) goto fail;
    b->pc.similar = similar_cb;
    b->pc.similar_user = b;
    free(pop);
    b->trend_seed = trend;
    *out = b;
    return 0;
fail:
    free(pop);
    free(trend);
    bundle_destroy(b);
    return rc;
}

/* ---- live trending ---- */

#define TREND_DEFAULT_HALF_LIFE_DAYS 7.0

/* Counts events into s->trend (tmu held). Every log record passes here exactly once per set
 * of counters: the replay at open and the commits after it in sequence order, or the rescan
 * of a reseed, which stops at trend_seq. */
static void trend_count(mq_server *s, const mq_event *ev, int n, uint64_t first_seq)
{
    int64_t now = (int64_t)time(NULL);
    uint64_t counted = 0;
    for (int i = 0; i < n; i++) {
        float w = mq_trend_event_weight(ev[i].kind, ev[i].value);
        if (w <= 0) continue;
        int32_t t = mq_model_title_index(s->tbundle->main, ev[i].title);
        counted += mq_trend_add(s->trend, t, ev[i].time, w, now);
    }
    s->trend_seq = first_seq + (uint64_t)n - 1;
    if (counted) {
        s->trend_dirty = true;
        atomic_fetch_add_explicit(&s->trend_events, counted, memory_order_relaxed);
    }
}

typedef struct rescan {
    mq_server *s;
    uint64_t upto;
} rescan;

static int rescan_cb(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    rescan *r = user;
    if (first_seq > r->upto) return 0;
    uint64_t m = MQ_MIN((uint64_t)n, r->upto - first_seq + 1);
    /* counted again into new counters, not new events: the sequence and the metric stay */
    uint64_t keep = r->s->trend_seq;
    unsigned long long events = atomic_load(&r->s->trend_events);
    trend_count(r->s, ev, (int)m, first_seq);
    r->s->trend_seq = keep;
    atomic_store(&r->s->trend_events, events);
    return 0;
}

/* New counters for bundle b: its trending scores as the seed, then every event of the log up
 * to the last one counted so far (the commits after it arrive through the apply callback,
 * which waits on tmu meanwhile). At start-up the log is not open yet: its replay counts. */
static int trend_reseed(mq_server *s, bundle *b, mq_err *err)
{
    double hl = s->o.trending_half_life > 0 ? s->o.trending_half_life
              : b->trend_half_life_days > 0 ? b->trend_half_life_days : TREND_DEFAULT_HALF_LIFE_DAYS;
    mq_trend *tr;
    int rc = mq_trend_create(b->n_titles, hl * 86400.0, b->trend_seed, b->trend_as_of, &tr, err);
    if (rc) return rc;
    pthread_mutex_lock(&s->tmu);
    mq_trend *old = s->trend;
    bundle *oldb = s->tbundle;
    s->trend = tr;
    s->tbundle = b;
    atomic_fetch_add(&b->refs, 1);
    if (s->evlog) {
        rescan r = {s, s->trend_seq};
        rc = mq_evlog_scan(s->events, rescan_cb, &r, err);
        if (rc) {     /* keep the old counters */
            s->trend = old;
            s->tbundle = oldb;
            old = tr;
            oldb = b;
        }
    }
    s->trend_dirty = true;
    pthread_cond_signal(&s->tcv);
    pthread_mutex_unlock(&s->tmu);
    mq_trend_destroy(old);
    bundle_release(oldb);
    return rc;
}

/* Copies the counters (under tmu) and ranks them into a new snapshot (without it). */
static int trend_rebuild(mq_server *s, double *scratch, int32_t cap)
{
    double t0 = mq_now();
    pthread_mutex_lock(&s->tmu);
    int32_t n = mq_trend_n_titles(s->trend);
    if (n > cap) { pthread_mutex_unlock(&s->tmu); return MQ_ENOMEM; }
    mq_trend_copy(s->trend, scratch);
    uint64_t tag = s->tbundle->gen;
    s->trend_dirty = false;
    pthread_mutex_unlock(&s->tmu);
    mq_trend_snap *snap = mq_trend_snap_create(n);
    if (!snap) return MQ_ENOMEM;
    mq_trend_rank(scratch, n, snap->score, snap->order);
    snap->tag = tag;
    snap->built = mq_now();
    snap->build_seconds = snap->built - t0;
    mq_err err;
    int rc = mq_trend_publish(s->trend_pub, snap, &err);
    if (rc) mq__logf(&s->log, "serve: %s", err.msg);
    else atomic_fetch_add(&s->trend_rebuilds, 1);
    return rc;
}

static void *trend_main(void *arg)
{
    mq_server *s = arg;
    double *scratch = NULL;
    int32_t cap = 0;
    pthread_mutex_lock(&s->tmu);
    while (!s->trend_stop) {
        if (s->trend_dirty) {
            int32_t n = mq_trend_n_titles(s->trend);
            pthread_mutex_unlock(&s->tmu);
            if (n > cap) {
                free(scratch);
                scratch = malloc((size_t)MQ_MAX(n, 1) * sizeof *scratch);
                cap = scratch ? n : 0;
            }
            if (trend_rebuild(s, scratch, cap) == MQ_ENOMEM) mq__logf(&s->log, "serve: trending: out of memory");
            pthread_mutex_lock(&s->tmu);
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double at = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + s->o.trending_refresh;
        ts.tv_sec = (time_t)at;
        ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
        if (!s->trend_stop) pthread_cond_timedwait(&s->tcv, &s->tmu, &ts);
    }
    pthread_mutex_unlock(&s->tmu);
    free(scratch);
    return NULL;
}

int mq_server_reload(mq_server *s, mq_err *err)
{
    pthread_mutex_lock(&s->reload_mu);
    bundle *nb;
    double t0 = mq_now();
    int rc = bundle_load(s, &nb, err);
    if (rc) {
        atomic_fetch_add(&s->reload_failures, 1);
        pthread_mutex_unlock(&s->reload_mu);
        return rc;
    }
    nb->gen = ++s->bundle_gen;
    rc = trend_reseed(s, nb, err);
    if (rc) {
        bundle_release(nb);
        atomic_fetch_add(&s->reload_failures, 1);
        pthread_mutex_unlock(&s->reload_mu);
        return rc;
    }
    pthread_mutex_lock(&s->bmu);
    bundle *old = s->cur;
    s->cur = nb;
    pthread_mutex_unlock(&s->bmu);
    bundle_release(old);
    warmer_start(s, nb);
    atomic_fetch_add(&s->reloads, 1);
    mq__logf(&s->log, "serve: model %s loaded in %.2f s (%d titles)", nb->version, mq_now() - t0,
             nb->n_titles);
    pthread_mutex_unlock(&s->reload_mu);
    return 0;
}

/* ---- request contexts ---- */

static void reqctx_free(reqctx *r)
{
    if (!r) return;
    mq_page_ctx_destroy(r->page);
    free(r->scores);
    free(r->mark);
    free(r->hist);
    free(r->hidx);
    free(r);
}

static reqctx *reqctx_get(mq_server *s, int32_t n)
{
    pthread_mutex_lock(&s->pmu);
    reqctx *r = s->pool;
    if (r) s->pool = r->next;
    pthread_mutex_unlock(&s->pmu);
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return NULL;
        r->page = mq_page_ctx_create();
        if (!r->page) { free(r); return NULL; }
    }
    if (r->cap < n) {
        free(r->scores);
        free(r->mark);
        r->scores = malloc((size_t)n * sizeof *r->scores);
        r->mark = calloc((size_t)n, 1);
        r->cap = r->scores && r->mark ? n : 0;
        if (!r->cap) { reqctx_free(r); return NULL; }
    }
    return r;
}

static void reqctx_put(mq_server *s, reqctx *r)
{
    if (!r) return;
    pthread_mutex_lock(&s->pmu);
    r->next = s->pool;
    s->pool = r;
    pthread_mutex_unlock(&s->pmu);
}

static int hist_reserve(reqctx *r, int n)
{
    if (n <= r->hist_cap) return 0;
    int cap = MQ_MAX(n, 2 * r->hist_cap);
    mq_page_hist *h = realloc(r->hist, (size_t)cap * sizeof *h);
    if (!h) return MQ_ENOMEM;
    r->hist = h;
    int32_t *x = realloc(r->hidx, (size_t)cap * sizeof *x);
    if (!x) return MQ_ENOMEM;
    r->hidx = x;
    r->hist_cap = cap;
    return 0;
}

/* Gathers the member's history in model title indices: live state from the store first (it is
 * the most recent), then the training data. Sets *n_hist; *n_pos = titles fed to the model. */
static int gather_history(mq_server *s, const bundle *b, reqctx *r, const char *member,
                          int *n_hist, int *n_pos, bool *known, mq_err *err)
{
    *n_hist = *n_pos = 0;
    *known = false;
    int rc = mq_store_get(s->store, member, &r->st, err);
    if (rc) return rc;
    int32_t row = -1;
    int64_t lo = 0, hi = 0;
    if (s->data) {
        row = mq_idmap_find(s->data->member_ids, member, strlen(member));
        if (row >= 0) { lo = s->data->m_ptr[row]; hi = s->data->m_ptr[row + 1]; }
    }
    if (hist_reserve(r, r->st.n + (int)(hi - lo) + 1)) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    int m = 0;
    for (int i = 0; i < r->st.n; i++) {
        const mq_recent *e = &r->st.recent[i];
        int32_t t = mq_model_title_index(b->main, e->title);
        if (t < 0 || r->mark[t]) continue;
        r->mark[t] = 1;
        float w = e->thumb == 2 ? -1.0f : e->rating > 0 && e->rating < 2.5f ? 0.1f : 1.0f;
        r->hist[m++] = (mq_page_hist){t, e->time, e->seconds, w, e->finished != 0,
                                      e->seconds > 0 && !e->finished};
    }
    if (row >= 0) {
        double mean = 0;
        for (int64_t k = lo; k < hi; k++) mean += s->data->m_val[k];
        mean = hi > lo ? mean / (double)(hi - lo) : 0;
        for (int64_t k = lo; k < hi; k++) {
            int32_t t = b->ds2m ? b->ds2m[s->data->m_idx[k]] : -1;
            if (t < 0) continue;
            if (r->mark[t]) {   /* also seen at training time: finished */
                for (int i = 0; i < m; i++)
                    if (r->hist[i].title == t) { r->hist[i].finished = true; r->hist[i].in_progress = false; }
                continue;
            }
            r->mark[t] = 1;
            float w = s->data->m_val[k] >= 0.9 * mean ? 1.0f : 0.1f;
            r->hist[m++] = (mq_page_hist){t, s->data->m_time[k], 0, w, true, false};
        }
    }
    for (int i = 0; i < m; i++) r->mark[r->hist[i].title] = 0;
    int p = 0;
    for (int i = 0; i < m; i++)
        if (r->hist[i].weight > 0) r->hidx[p++] = r->hist[i].title;
    *n_hist = m;
    *n_pos = p;
    *known = row >= 0 || r->st.n_events > 0;
    return 0;
}

/* ---- responses ---- */

typedef struct conn_state {
    double t0;
    mq_buf body;
    bool too_big;
    int route;
    /* POST /v1/events waiting for its group commit (connection suspended) */
    struct MHD_Connection *conn;
    atomic_int async_state;         /* 0 none, 1 waiting, 2 done */
    int async_rc, async_n;
    uint64_t async_first;
    char async_msg[600];
} conn_state;

static int status_index(int st)
{
    for (int i = 0; i < N_STATUS; i++) if (statuses[i] == st) return i;
    return 7;   /* counted as 500 */
}

static enum MHD_Result send_buf(mq_server *s, struct MHD_Connection *c, conn_state *cs, int status,
                                mq_buf *b, const char *ctype)
{
    if (b->oom) {
        mq_buf_release(b);
        static const char oom[] = "{\"error\":{\"code\":500,\"message\":\"out of memory\"}}";
        mq_buf_put(b, oom, sizeof oom - 1);
        status = 500;
    }
    struct MHD_Response *resp;
    if (b->len) resp = MHD_create_response_from_buffer_with_free_callback(b->len, b->p, free);
    else { mq_buf_release(b); resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT); }
    b->p = NULL;
    b->len = b->cap = 0;
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", ctype);
    if (status == 503 || status == 429) MHD_add_response_header(resp, "Retry-After", "1");
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    int si = status_index(status);
    atomic_fetch_add_explicit(&s->count[cs->route][si], 1, memory_order_relaxed);
    hist_add(&s->lat[cs->route][si], mq_now() - cs->t0);
    return ret;
}

static enum MHD_Result send_error(mq_server *s, struct MHD_Connection *c, conn_state *cs,
                                  int status, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static enum MHD_Result send_error(mq_server *s, struct MHD_Connection *c, conn_state *cs,
                                  int status, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_printf(&b, "{\"error\":{\"code\":%d,\"message\":", status);
    mq_buf_json_str(&b, msg, strlen(msg));
    mq_buf_puts(&b, "}}\n");
    return send_buf(s, c, cs, status, &b, "application/json");
}

static int err_status(int code)
{
    switch (code) {
    case MQ_EINVAL: case MQ_EFORMAT: case MQ_ERANGE: return 400;
    case MQ_ENOTFOUND: return 404;
    case MQ_EBUSY: return 429;
    default: return 500;
    }
}

/* ---- query parsing ---- */

static int q_int(struct MHD_Connection *c, const char *name, long lo, long hi, long dflt,
                 long *out, char *why, size_t cap)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    *out = dflt;
    if (!v) return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno) { snprintf(why, cap, "query '%s': '%.100s' is not an integer", name, v); return -1; }
    if (x < lo || x > hi) { snprintf(why, cap, "query '%s': %ld is out of range [%ld, %ld]", name, x, lo, hi); return -1; }
    *out = x;
    return 0;
}

static bool valid_id(const char *id)
{
    size_t n = strlen(id);
    return n > 0 && n <= MQ_ID_MAX && mq__utf8_valid(id, n);
}

static void title_obj(mq_buf *b, const bundle *bd, int32_t t)
{
    mq_buf_putc(b, '{');
    mq_buf_put(b, bd->pc.title_json[t], (size_t)bd->pc.title_json_len[t]);
}

/* ---- handlers ---- */

static enum MHD_Result h_homepage(mq_server *s, struct MHD_Connection *c, conn_state *cs,
                                  const char *member)
{
    char why[300];
    const char *dev = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "device");
    int device = 0, drows = 12, dper = 20;
    if (dev) {
        if (!strcmp(dev, "web")) device = 0;
        else if (!strcmp(dev, "tv")) { device = 1; drows = 10; dper = 15; }
        else if (!strcmp(dev, "mobile")) { device = 2; drows = 8; dper = 10; }
        else return send_error(s, c, cs, 400, "query 'device': '%.60s' is not one of tv, mobile, web", dev);
    }
    long rows, per, hour;
    if (q_int(c, "rows", 1, 50, drows, &rows, why, sizeof why) ||
        q_int(c, "per_row", 1, 100, dper, &per, why, sizeof why) ||
        q_int(c, "hour", 0, 23, -1, &hour, why, sizeof why))
        return send_error(s, c, cs, 400, "%s", why);
    double mmr = 0.7;
    const char *mv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "mmr");
    if (mv) {
        char *end;
        mmr = strtod(mv, &end);
        if (!*mv || *end || !(mmr >= 0 && mmr <= 1))
            return send_error(s, c, cs, 400, "query 'mmr': '%.60s' is not a number in [0, 1]", mv);
    }
    bundle *b = bundle_acquire(s);
    if (!b) return send_error(s, c, cs, 503, "no model loaded");
    enum MHD_Result ret;
    int genre = -1;
    const char *gv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "genre");
    const mq_catalog *cat = b->pc.catalog;
    if (gv) {
        for (int g = 0; cat && g < cat->n_genres; g++)
            if (cat->genre_names[g] && !strcasecmp(cat->genre_names[g], gv)) genre = g;
        if (genre < 0) {
            bundle_release(b);
            return send_error(s, c, cs, 400, "query 'genre': '%.80s' is not a genre of this catalog", gv);
        }
    }
    reqctx *r = reqctx_get(s, MQ_MAX(b->n_titles, 1));
    if (!r) { bundle_release(b); return send_error(s, c, cs, 500, "out of memory"); }
    /* exclude=: comma-separated title ids; unknown ones are ignored */
    int32_t excl[256];
    int n_excl = 0;
    const char *ev = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "exclude");
    if (ev) {
        const char *p = ev;
        while (*p && n_excl < 256) {
            const char *q = strchr(p, ',');
            size_t len = q ? (size_t)(q - p) : strlen(p);
            char id[MQ_ID_MAX + 1];
            if (len > 0 && len <= MQ_ID_MAX) {
                memcpy(id, p, len);
                id[len] = 0;
                int32_t t = mq_model_title_index(b->main, id);
                if (t >= 0) excl[n_excl++] = t;
            }
            p = q ? q + 1 : p + len;
        }
    }
    mq_err err = {0, ""};
    int n_hist, n_pos;
    bool known;
    double t0 = mq_now();
    int rc = gather_history(s, b, r, member, &n_hist, &n_pos, &known, &err);
    const float *scores = NULL;
    mq_page_req req = {(int)rows, (int)per, mmr, genre, excl, n_excl, (int)hour, device, NULL};
    float cut;
    if (!rc && n_pos > 0) {
        /* exact where the page can see it: its best titles once history and exclusions are
         * banned (a genre filter bans an unknown number: score everything) */
        int top = genre >= 0 ? b->n_titles : mq_page_scored_titles(&req, b->n_titles) + n_hist + n_excl;
        rc = mq_model_score_top(b->main, r->hidx, NULL, n_pos, top, r->scores, &cut, &err);
        scores = r->scores;
        req.score_cut = &cut;
    }
    const mq_page *page = NULL;
    /* Trending Now from the live snapshot when it is for this bundle's titles (right after a
     * reload, until the next rebuild, the bundle's own scores) */
    mq_page_catalog pc = b->pc;
    const mq_trend_snap *ts = mq_trend_acquire(s->trend_pub);
    if (ts && ts->tag == b->gen && ts->n_titles == b->n_titles) {
        pc.trending = ts->score;
        pc.trend_order = ts->order;
    }
    if (!rc) {
        rc = mq_page_build(r->page, &pc, scores, r->hist, n_hist, &req, &page, &err);
    }
    if (rc) {
        ret = send_error(s, c, cs, err_status(rc), "%s", err.msg);
    } else {
        mq_buf out;
        mq_buf_init(&out);
        /* sized for the page up front (~170 bytes a title): no regrowth copies */
        size_t want = 1024 + (size_t)rows * (size_t)per * 192;
        out.p = malloc(want);
        out.cap = out.p ? want : 0;
        mq_buf_puts(&out, "{\"member\":");
        mq_buf_json_str(&out, member, strlen(member));
        mq_buf_puts(&out, ",\"model_version\":");
        mq_buf_json_str(&out, b->version, strlen(b->version));
        mq_buf_printf(&out, ",\"cold_start\":%s,", page->cold ? "true" : "false");
        mq_page_json(page, &pc, &out);
        mq_buf_puts(&out, "}\n");
        hist_add(&s->page_build, mq_now() - t0);
        ret = send_buf(s, c, cs, 200, &out, "application/json");
    }
    mq_trend_release(s->trend_pub, ts);
    reqctx_put(s, r);
    bundle_release(b);
    return ret;
}

static enum MHD_Result h_recs(mq_server *s, struct MHD_Connection *c, conn_state *cs, const char *member)
{
    char why[300];
    long n, explain;
    if (q_int(c, "n", 1, 1000, 20, &n, why, sizeof why) ||
        q_int(c, "explain", 0, 1, 0, &explain, why, sizeof why))
        return send_error(s, c, cs, 400, "%s", why);
    bundle *b = bundle_acquire(s);
    if (!b) return send_error(s, c, cs, 503, "no model loaded");
    reqctx *r = reqctx_get(s, MQ_MAX(b->n_titles, 1));
    if (!r) { bundle_release(b); return send_error(s, c, cs, 500, "out of memory"); }
    mq_err err = {0, ""};
    int n_hist, n_pos;
    bool known;
    int rc = gather_history(s, b, r, member, &n_hist, &n_pos, &known, &err);
    int32_t *top = malloc((size_t)n * sizeof *top);
    float *sc = malloc((size_t)n * sizeof *sc);
    int32_t *ex = malloc((size_t)MQ_MAX(n_hist, 1) * sizeof *ex);
    enum MHD_Result ret;
    if (!top || !sc || !ex) rc = mq__err_set(&err, MQ_ENOMEM, "out of memory");
    int got = 0;
    bool cold = n_pos == 0;
    if (!rc) {
        if (!cold) {
            /* every history title is excluded, also those not fed to the model */
            for (int i = 0; i < n_hist; i++) ex[i] = r->hist[i].title;
            mq_filter f = {false, ex, n_hist, -1};
            got = mq_model_recommend(b->main, r->hidx, NULL, n_pos, &f, (int)n, top, sc, &err);
            if (got < 0) rc = got;
        } else {
            for (int32_t k = 0; k < b->n_titles && got < n; k++) {
                int32_t t = b->pc.pop_order[k];
                bool seen = false;
                for (int i = 0; i < n_hist && !seen; i++) seen = r->hist[i].title == t;
                if (seen) continue;
                top[got] = t;
                sc[got++] = b->pc.popularity[t];
            }
        }
    }
    if (rc) {
        ret = send_error(s, c, cs, err_status(rc), "%s", err.msg);
    } else {
        mq_buf out;
        mq_buf_init(&out);
        mq_buf_puts(&out, "{\"member\":");
        mq_buf_json_str(&out, member, strlen(member));
        mq_buf_puts(&out, ",\"model_version\":");
        mq_buf_json_str(&out, b->version, strlen(b->version));
        mq_buf_printf(&out, ",\"cold_start\":%s,\"titles\":[", cold ? "true" : "false");
        for (int i = 0; i < got; i++) {
            if (i) mq_buf_putc(&out, ',');
            title_obj(&out, b, top[i]);
            mq_buf_puts(&out, ",\"score\":");
            mq_buf_json_num(&out, sc[i]);
            int32_t why_t[3];
            float why_w[3];
            int nw = 0;
            if (!cold && explain) {
                nw = mq_model_explain(b->main, r->hidx, NULL, n_pos, top[i], 3, why_t, why_w, NULL);
                if (nw < 0) nw = 0;
            }
            if (cold) mq_buf_puts(&out, ",\"evidence\":\"Popular on Marquee\"");
            else if (nw > 0) {
                const char *nm = b->pc.catalog && b->pc.catalog->names && b->pc.catalog->names[why_t[0]]
                                     ? b->pc.catalog->names[why_t[0]] : b->ids[why_t[0]];
                char e[400];
                snprintf(e, sizeof e, "Because you watched %s", nm);
                mq_buf_puts(&out, ",\"evidence\":");
                mq_buf_json_str(&out, e, strlen(e));
            } else mq_buf_puts(&out, ",\"evidence\":\"Top pick for you\"");
            if (explain) {
                mq_buf_puts(&out, ",\"because\":[");
                for (int k = 0; k < nw; k++) {
                    if (k) mq_buf_putc(&out, ',');
                    title_obj(&out, b, why_t[k]);
                    mq_buf_puts(&out, ",\"weight\":");
                    mq_buf_json_num(&out, why_w[k]);
                    mq_buf_putc(&out, '}');
                }
                mq_buf_putc(&out, ']');
            }
            mq_buf_putc(&out, '}');
        }
        mq_buf_puts(&out, "]}\n");
        ret = send_buf(s, c, cs, 200, &out, "application/json");
    }
    free(top);
    free(sc);
    free(ex);
    reqctx_put(s, r);
    bundle_release(b);
    return ret;
}

static enum MHD_Result h_similar(mq_server *s, struct MHD_Connection *c, conn_state *cs, const char *title)
{
    char why[300];
    long n;
    if (q_int(c, "n", 1, SIM_N, 20, &n, why, sizeof why)) return send_error(s, c, cs, 400, "%s", why);
    bundle *b = bundle_acquire(s);
    if (!b) return send_error(s, c, cs, 503, "no model loaded");
    enum MHD_Result ret;
    int32_t t = mq_model_title_index(b->main, title);
    if (t < 0) {
        ret = send_error(s, c, cs, 404, "title '%.255s' is not in the catalog", title);
    } else {
        int32_t out_t[SIM_N];
        float out_s[SIM_N];
        int got = similar_cb(b, t, (int)n, out_t, out_s);
        mq_buf out;
        mq_buf_init(&out);
        mq_buf_puts(&out, "{\"title\":");
        title_obj(&out, b, t);
        mq_buf_puts(&out, "},\"model_version\":");
        mq_buf_json_str(&out, b->version, strlen(b->version));
        mq_buf_puts(&out, ",\"titles\":[");
        for (int i = 0; i < got; i++) {
            if (i) mq_buf_putc(&out, ',');
            title_obj(&out, b, out_t[i]);
            mq_buf_puts(&out, ",\"score\":");
            mq_buf_json_num(&out, out_s[i]);
            mq_buf_putc(&out, '}');
        }
        mq_buf_puts(&out, "]}\n");
        ret = send_buf(s, c, cs, 200, &out, "application/json");
    }
    bundle_release(b);
    return ret;
}

/* An id field: a string, or an integer number written as its decimal digits. */
static int json_id(const cJSON *o, const char *name, char *dst, int i, char *why, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v) { snprintf(why, cap, "event %d: field '%s' is missing", i, name); return -1; }
    if (cJSON_IsString(v)) {
        if (!valid_id(v->valuestring)) {
            snprintf(why, cap, "event %d: field '%s' must be 1 to %d bytes of UTF-8", i, name, MQ_ID_MAX);
            return -1;
        }
        strcpy(dst, v->valuestring);
        return 0;
    }
    if (cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble &&
        v->valuedouble >= -9e15 && v->valuedouble <= 9e15) {
        snprintf(dst, MQ_ID_MAX + 1, "%lld", (long long)v->valuedouble);
        return 0;
    }
    snprintf(why, cap, "event %d: field '%s' must be a string or an integer", i, name);
    return -1;
}

static int parse_event(const cJSON *o, int i, mq_event *e, char *why, size_t cap)
{
    if (!cJSON_IsObject(o)) { snprintf(why, cap, "event %d: not a JSON object", i); return -1; }
    memset(e, 0, sizeof *e);
    if (json_id(o, "member", e->member, i, why, cap) || json_id(o, "title", e->title, i, why, cap)) return -1;
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(o, "timestamp");
    if (!ts) e->time = (int64_t)time(NULL);
    else if (cJSON_IsNumber(ts) && ts->valuedouble >= 0 && ts->valuedouble < 1e11 &&
             ts->valuedouble == (double)(int64_t)ts->valuedouble)
        e->time = (int64_t)ts->valuedouble;
    else { snprintf(why, cap, "event %d: field 'timestamp' must be integer unix seconds", i); return -1; }
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
    if (!ev) e->kind = MQ_EV_PLAY;
    else if (cJSON_IsString(ev) && (e->kind = mq_event_parse(ev->valuestring, strlen(ev->valuestring))) >= 0) {
    } else {
        snprintf(why, cap, "event %d: field 'event' must be one of play, rating, thumb_up, thumb_down, "
                           "impression, search", i);
        return -1;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value");
    if (!v) e->value = 1;
    else if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && fabs(v->valuedouble) < 1e9)
        e->value = (float)v->valuedouble;
    else { snprintf(why, cap, "event %d: field 'value' must be a finite number", i); return -1; }
    if (e->kind == MQ_EV_PLAY && e->value < 0) {
        snprintf(why, cap, "event %d: field 'value' (seconds watched) must be >= 0", i);
        return -1;
    }
    return 0;
}

#define MAX_EVENTS 10000

/* The event log's committer thread: the request's events are durable (or failed). */
static void events_done(void *user, int rc, uint64_t first_seq)
{
    conn_state *cs = user;
    cs->async_rc = rc;
    cs->async_first = first_seq;
    if (rc) snprintf(cs->async_msg, sizeof cs->async_msg, "the event log failed (%s)", mq_strerror(rc));
    atomic_store(&cs->async_state, 2);
    MHD_resume_connection(cs->conn);
}

/* The second turn of an events request after its commit. */
static enum MHD_Result events_answer(mq_server *s, struct MHD_Connection *c, conn_state *cs)
{
    atomic_store(&cs->async_state, 0);
    atomic_fetch_sub(&s->async_waiting, 1);
    int rc = cs->async_rc;
    if (rc)
        return send_error(s, c, cs, rc == MQ_EBUSY ? 429 : err_status(rc) == 400 ? 400 : 500, "%s", cs->async_msg);
    atomic_fetch_add(&s->events_accepted, (unsigned long long)cs->async_n);
    mq_buf out;
    mq_buf_init(&out);
    mq_buf_printf(&out, "{\"accepted\":%d,\"first_seq\":%llu,\"last_seq\":%llu}\n", cs->async_n,
                  (unsigned long long)cs->async_first,
                  (unsigned long long)(cs->async_first + (uint64_t)cs->async_n - 1));
    return send_buf(s, c, cs, 200, &out, "application/json");
}

static enum MHD_Result h_events(mq_server *s, struct MHD_Connection *c, conn_state *cs)
{
    if (!cs->body.len) return send_error(s, c, cs, 400, "empty body: expected an event object or an array of events");
    cJSON *j = cJSON_ParseWithLength(cs->body.p, cs->body.len);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= cs->body.p && at <= cs->body.p + cs->body.len ? (long)(at - cs->body.p) : -1;
        return send_error(s, c, cs, 400, "malformed JSON near byte %ld", off);
    }
    int n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : 1;
    if (n == 0 || n > MAX_EVENTS) {
        cJSON_Delete(j);
        return send_error(s, c, cs, n ? 413 : 400, "%d events in one request (1 to %d allowed)", n, MAX_EVENTS);
    }
    mq_event *ev = malloc((size_t)n * sizeof *ev);
    if (!ev) { cJSON_Delete(j); return send_error(s, c, cs, 500, "out of memory"); }
    char why[400];
    int i = 0;
    enum MHD_Result ret;
    bundle *b = bundle_acquire(s);
    if (cJSON_IsArray(j)) {
        const cJSON *o;
        cJSON_ArrayForEach(o, j) {
            if (parse_event(o, i, &ev[i], why, sizeof why)) goto bad;
            i++;
        }
    } else if (parse_event(j, 0, &ev[0], why, sizeof why)) {
        goto bad;
    }
    cJSON_Delete(j);
    j = NULL;
    if (b)
        for (i = 0; i < n; i++)
            if (mq_model_title_index(b->main, ev[i].title) < 0) {
                ret = send_error(s, c, cs, 404, "event %d: title '%s' is not in the catalog", i, ev[i].title);
                goto out;
            }
    mq_err err = {0, ""};
    uint64_t first;
    if (s->o.fsync != MQ_FSYNC_BATCH) {
        /* Suspend first (the commit may finish before append_async returns), then queue: the
         * committer thread resumes the connection when the batch is durable and applied, and
         * the access handler is called again to answer (events_answer). */
        cs->conn = c;
        cs->async_n = n;
        atomic_store(&cs->async_state, 1);
        atomic_fetch_add(&s->async_waiting, 1);
        MHD_suspend_connection(c);
        int rc = mq_evlog_append_async(s->evlog, ev, n, events_done, cs, &err);
        if (rc) {
            cs->async_rc = rc;
            snprintf(cs->async_msg, sizeof cs->async_msg, "%s", err.msg);
            atomic_store(&cs->async_state, 2);
            MHD_resume_connection(c);
        }
        ret = MHD_YES;
        goto out;
    }
    int rc = mq_evlog_append(s->evlog, ev, n, &first, &err);
    if (rc) {
        ret = send_error(s, c, cs, rc == MQ_EBUSY ? 429 : err_status(rc) == 400 ? 400 : 500, "%s", err.msg);
        goto out;
    }
    atomic_fetch_add(&s->events_accepted, (unsigned long long)n);
    mq_buf out;
    mq_buf_init(&out);
    mq_buf_printf(&out, "{\"accepted\":%d,\"first_seq\":%llu,\"last_seq\":%llu}\n", n,
                  (unsigned long long)first, (unsigned long long)(first + (uint64_t)n - 1));
    ret = send_buf(s, c, cs, 200, &out, "application/json");
    goto out;
bad:
    ret = send_error(s, c, cs, 400, "%s", why);
out:
    cJSON_Delete(j);
    free(ev);
    bundle_release(b);
    return ret;
}

static enum MHD_Result h_metrics(mq_server *s, struct MHD_Connection *c, conn_state *cs)
{
    mq_buf o;
    mq_buf_init(&o);
    mq_buf_puts(&o, "# HELP marquee_http_requests_total HTTP requests by route and status.\n"
                    "# TYPE marquee_http_requests_total counter\n");
    for (int r = 0; r < N_ROUTES; r++)
        for (int k = 0; k < N_STATUS; k++) {
            unsigned long long v = atomic_load(&s->count[r][k]);
            if (v) mq_buf_printf(&o, "marquee_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                                 route_names[r], statuses[k], v);
        }
    mq_buf_puts(&o, "# HELP marquee_http_request_duration_seconds Time from request headers to "
                    "response queued.\n# TYPE marquee_http_request_duration_seconds histogram\n");
    for (int r = 0; r < N_ROUTES; r++)
        for (int k = 0; k < N_STATUS; k++) {
            hist *h = &s->lat[r][k];
            unsigned long long cnt = atomic_load(&h->count);
            if (!cnt) continue;
            unsigned long long cum = 0;
            for (int i = 0; i < N_BUCKETS; i++) {
                cum += atomic_load(&h->b[i]);
                mq_buf_printf(&o, "marquee_http_request_duration_seconds_bucket{route=\"%s\",status=\"%d\",le=\"%g\"} %llu\n",
                              route_names[r], statuses[k], buckets[i], cum);
            }
            mq_buf_printf(&o, "marquee_http_request_duration_seconds_bucket{route=\"%s\",status=\"%d\",le=\"+Inf\"} %llu\n",
                          route_names[r], statuses[k], cnt);
            mq_buf_printf(&o, "marquee_http_request_duration_seconds_sum{route=\"%s\",status=\"%d\"} %.9f\n",
                          route_names[r], statuses[k], (double)atomic_load(&h->sum_ns) / 1e9);
            mq_buf_printf(&o, "marquee_http_request_duration_seconds_count{route=\"%s\",status=\"%d\"} %llu\n",
                          route_names[r], statuses[k], cnt);
        }
    hist *h = &s->page_build;
    mq_buf_puts(&o, "# HELP marquee_page_build_seconds Homepage build time: history, scoring, rows, JSON.\n"
                    "# TYPE marquee_page_build_seconds histogram\n");
    unsigned long long cum = 0;
    for (int i = 0; i < N_BUCKETS; i++) {
        cum += atomic_load(&h->b[i]);
        mq_buf_printf(&o, "marquee_page_build_seconds_bucket{le=\"%g\"} %llu\n", buckets[i], cum);
    }
    mq_buf_printf(&o, "marquee_page_build_seconds_bucket{le=\"+Inf\"} %llu\n", atomic_load(&h->count));
    mq_buf_printf(&o, "marquee_page_build_seconds_sum %.9f\nmarquee_page_build_seconds_count %llu\n",
                  (double)atomic_load(&h->sum_ns) / 1e9, atomic_load(&h->count));
    mq_buf_printf(&o, "# HELP marquee_events_accepted_total Events acknowledged (durable).\n"
                      "# TYPE marquee_events_accepted_total counter\nmarquee_events_accepted_total %llu\n",
                  atomic_load(&s->events_accepted));
    mq_evlog_stats ls;
    mq_evlog_get_stats(s->evlog, &ls);
    mq_buf_printf(&o, "# HELP marquee_event_log_commits_total Write+fsync rounds of the event log.\n"
                      "# TYPE marquee_event_log_commits_total counter\nmarquee_event_log_commits_total %llu\n"
                      "# HELP marquee_event_log_records Records in the event log.\n"
                      "# TYPE marquee_event_log_records gauge\nmarquee_event_log_records %llu\n",
                  (unsigned long long)ls.commits, (unsigned long long)ls.records);
    mq_buf_printf(&o, "# HELP marquee_model_reloads_total Successful model loads.\n"
                      "# TYPE marquee_model_reloads_total counter\nmarquee_model_reloads_total %llu\n"
                      "# HELP marquee_model_reload_failures_total Failed reloads (the old model kept serving).\n"
                      "# TYPE marquee_model_reload_failures_total counter\nmarquee_model_reload_failures_total %llu\n",
                  atomic_load(&s->reloads), atomic_load(&s->reload_failures));
    bundle *b = bundle_acquire(s);
    if (b) {
        mq_buf_puts(&o, "# HELP marquee_model_info The model being served.\n# TYPE marquee_model_info gauge\n"
                        "marquee_model_info{version=");
        mq_buf_json_str(&o, b->version, strlen(b->version));
        mq_buf_printf(&o, ",titles=\"%d\"} 1\n", b->n_titles);
        mq_buf_printf(&o, "# HELP marquee_similar_lists_cached Titles whose similar-titles list is "
                          "computed (of marquee_model_info's titles).\n"
                          "# TYPE marquee_similar_lists_cached gauge\nmarquee_similar_lists_cached %d\n",
                      atomic_load(&b->sim_cached));
        bundle_release(b);
    }
    const mq_trend_snap *ts = mq_trend_acquire(s->trend_pub);
    mq_buf_printf(&o, "# HELP marquee_trending_events_total Events that moved the live trending counters.\n"
                      "# TYPE marquee_trending_events_total counter\nmarquee_trending_events_total %llu\n"
                      "# HELP marquee_trending_rebuilds_total Trending snapshots ranked and published.\n"
                      "# TYPE marquee_trending_rebuilds_total counter\nmarquee_trending_rebuilds_total %llu\n",
                  atomic_load(&s->trend_events), atomic_load(&s->trend_rebuilds));
    if (ts)
        mq_buf_printf(&o, "# HELP marquee_trending_snapshot_age_seconds Age of the trending snapshot pages use.\n"
                          "# TYPE marquee_trending_snapshot_age_seconds gauge\nmarquee_trending_snapshot_age_seconds %.3f\n"
                          "# HELP marquee_trending_rebuild_seconds Time the last trending rebuild took (copy + rank).\n"
                          "# TYPE marquee_trending_rebuild_seconds gauge\nmarquee_trending_rebuild_seconds %.6f\n",
                      mq_now() - ts->built, ts->build_seconds);
    mq_trend_release(s->trend_pub, ts);
    mq_buf_printf(&o, "# HELP marquee_inflight_requests Requests being handled.\n"
                      "# TYPE marquee_inflight_requests gauge\nmarquee_inflight_requests %d\n"
                      "# HELP marquee_uptime_seconds Seconds since start.\n# TYPE marquee_uptime_seconds gauge\n"
                      "marquee_uptime_seconds %.3f\n",
                  atomic_load(&s->inflight) - 1, mq_now() - s->started);
    return send_buf(s, c, cs, 200, &o, "text/plain; version=0.0.4");
}

/* ---- routing ---- */

static bool key_ok(mq_server *s, struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) return false;
    const char *k = h + 7;
    size_t kl = strlen(k);
    /* constant time in the key's length: compare every byte of the configured key */
    unsigned char diff = (unsigned char)(kl != s->api_key_len);
    for (size_t i = 0; i < s->api_key_len; i++)
        diff |= (unsigned char)(s->api_key[i] ^ (i < kl ? k[i] : 0));
    return diff == 0;
}

/* Splits "/v1/members/{id}/rest": returns true and copies id when path matches. */
static bool match_id(const char *url, const char *prefix, const char *suffix, char *id)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), ul = strlen(url);
    if (ul <= pl + sl || strncmp(url, prefix, pl) != 0 || strcmp(url + ul - sl, suffix) != 0) return false;
    size_t il = ul - pl - sl;
    if (il > MQ_ID_MAX) return false;
    memcpy(id, url + pl, il);
    id[il] = 0;
    return strchr(id, '/') == NULL && valid_id(id);
}

static enum MHD_Result dispatch(mq_server *s, struct MHD_Connection *c, conn_state *cs,
                                const char *url, const char *method)
{
    char id[MQ_ID_MAX + 1];
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    int route = R_OTHER;
    if (!strcmp(url, "/healthz")) route = R_HEALTHZ;
    else if (!strcmp(url, "/metrics")) route = R_METRICS;
    else if (!strcmp(url, "/v1/events")) route = R_EVENTS;
    else if (!strcmp(url, "/v1/admin/reload")) route = R_RELOAD;
    else if (match_id(url, "/v1/members/", "/homepage", id)) route = R_HOMEPAGE;
    else if (match_id(url, "/v1/members/", "/recommendations", id)) route = R_RECS;
    else if (match_id(url, "/v1/titles/", "/similar", id)) route = R_SIMILAR;
    cs->route = route;
    if (route == R_OTHER) return send_error(s, c, cs, 404, "no route for %.200s %.200s", method, url);
    bool writes = route == R_EVENTS || route == R_RELOAD;
    if (writes ? !post : !get) return send_error(s, c, cs, 405, "%s %s is not allowed", method, url);
    if (cs->too_big) return send_error(s, c, cs, 413, "request body over %zu bytes", s->o.max_body);
    if (s->api_key_len && (writes || (s->o.keyed_reads && route != R_HEALTHZ)) && !key_ok(s, c))
        return send_error(s, c, cs, 401, "missing or wrong API key (Authorization: Bearer <key>)");
    switch (route) {
    case R_HEALTHZ: {
        mq_buf b;
        mq_buf_init(&b);
        mq_buf_puts(&b, "{\"status\":\"ok\"}\n");
        return send_buf(s, c, cs, 200, &b, "application/json");
    }
    case R_METRICS: return h_metrics(s, c, cs);
    case R_HOMEPAGE: return h_homepage(s, c, cs, id);
    case R_RECS: return h_recs(s, c, cs, id);
    case R_SIMILAR: return h_similar(s, c, cs, id);
    case R_EVENTS: return h_events(s, c, cs);
    case R_RELOAD: {
        mq_err err = {0, ""};
        int rc = mq_server_reload(s, &err);
        if (rc) return send_error(s, c, cs, 500, "reload failed, the previous model keeps serving: %s", err.msg);
        bundle *b = bundle_acquire(s);
        if (!b) return send_error(s, c, cs, 503, "no model loaded");
        mq_buf o;
        mq_buf_init(&o);
        mq_buf_puts(&o, "{\"model_version\":");
        mq_buf_json_str(&o, b->version, strlen(b->version));
        mq_buf_puts(&o, "}\n");
        bundle_release(b);
        return send_buf(s, c, cs, 200, &o, "application/json");
    }
    }
    return send_error(s, c, cs, 500, "unrouted");
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    mq_server *s = cls;
    conn_state *cs = *con_cls;
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        cs->t0 = mq_now();
        mq_buf_init(&cs->body);
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!cs->too_big) {
            if (cs->body.len + *upload_data_size > s->o.max_body) {
                cs->too_big = true;
                mq_buf_release(&cs->body);
            } else {
                mq_buf_put(&cs->body, upload_data, *upload_data_size);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    int as = atomic_load(&cs->async_state);
    if (as == 2) return events_answer(s, c, cs);
    if (as == 1) return MHD_YES;        /* spurious call while suspended */
    int inflight = atomic_fetch_add(&s->inflight, 1) + 1;
    enum MHD_Result ret;
    if (inflight > s->o.max_inflight) {
        cs->route = R_OTHER;
        ret = send_error(s, c, cs, 503, "overloaded: %d requests in flight", inflight - 1);
    } else {
        ret = dispatch(s, c, cs, url, method);
    }
    atomic_fetch_sub(&s->inflight, 1);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    conn_state *cs = *con_cls;
    if (!cs) return;
    mq_buf_release(&cs->body);
    free(cs);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    mq_server *s = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    mq__logf(&s->log, "http: %s", line);
}

/* ---- start / stop ---- */

/* The event log's apply callback: the replay at open (every record: the trending counters
 * start from the seed each time, while the store keeps what it applied before) and each
 * durable group commit after it. */
static int store_apply_cb(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    mq_server *s = user;
    pthread_mutex_lock(&s->tmu);
    if (first_seq + (uint64_t)n - 1 > s->trend_seq) {
        int skip = first_seq > s->trend_seq ? 0 : (int)(s->trend_seq - first_seq + 1);
        trend_count(s, ev + skip, n - skip, first_seq + (uint64_t)skip);
    }
    pthread_mutex_unlock(&s->tmu);
    uint64_t last = first_seq + (uint64_t)n - 1;
    if (last <= s->store_applied) return 0;
    int skip = first_seq > s->store_applied ? 0 : (int)(s->store_applied - first_seq + 1);
    mq_err err;
    int rc = mq_store_apply(s->store, ev + skip, n - skip, last, &err);
    if (rc) mq__logf(&s->log, "serve: store update failed: %s", err.msg);
    return rc;
}

/* Store and log agreement after the log lost its tail (restored from an older copy, cut by a
 * damaged disk): the store has applied sequence numbers the log no longer holds, so the next
 * events would get those numbers and the store would skip them as applied. The store is
 * derived state: empty it and apply the whole log again. */
static int rederive_cb(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    mq_server *s = user;
    mq_err err;
    int rc = mq_store_apply(s->store, ev, n, first_seq + (uint64_t)n - 1, &err);
    if (rc) mq__logf(&s->log, "serve: rebuilding the member store: %s", err.msg);
    return rc;
}

static int store_rederive(mq_server *s, uint64_t applied, uint64_t log_end, mq_err *err)
{
    mq__logf(&s->log, "serve: the store has applied sequence %llu but the event log ends at %llu "
             "(the log lost its tail): rebuilding the member store from the log",
             (unsigned long long)applied, (unsigned long long)log_end);
    double t0 = mq_now();
    int rc = mq_store_reset(s->store, err);
    if (!rc) rc = mq_evlog_scan(s->events, rederive_cb, s, err);
    if (rc) return mq__err_set(err, rc, "serve: the store is ahead of the event log and cannot be "
                               "rebuilt from it: %s", err->msg);
    s->store_applied = log_end;
    mq__logf(&s->log, "serve: member store rebuilt from %llu logged events in %.2f s",
             (unsigned long long)log_end, mq_now() - t0);
    return 0;
}

int mq_server_start(const mq_server_opts *o, mq_server **out, mq_err *err)
{
    *out = NULL;
    if (!o->models || !o->models[0]) return mq__err_set(err, MQ_EINVAL, "serve: a models directory is required");
    mq_server *s = calloc(1, sizeof *s);
    if (!s) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    s->o = *o;
    if (o->log) s->log = *o->log;
    s->o.log = &s->log;
    if (!s->o.max_body) s->o.max_body = 1 << 20;
    if (s->o.max_inflight <= 0) s->o.max_inflight = 1024;
    if (s->o.max_connections <= 0) s->o.max_connections = 4096;
    if (s->o.threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        s->o.threads = nc > 0 ? (int)nc : 1;
    }
    if (s->o.finish_seconds <= 0) s->o.finish_seconds = 5400;
    pthread_mutex_init(&s->bmu, NULL);
    pthread_mutex_init(&s->reload_mu, NULL);
    pthread_mutex_init(&s->pmu, NULL);
    pthread_mutex_init(&s->tmu, NULL);
    pthread_cond_init(&s->tcv, NULL);
    if (!(s->o.trending_refresh > 0)) s->o.trending_refresh = 1.0;
    s->started = mq_now();
    s->trend_pub = mq_trend_pub_create();
    if (!s->trend_pub) { free(s); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    snprintf(s->models, sizeof s->models, "%s", o->models);
    snprintf(s->events, sizeof s->events, "%s", o->events ? o->events : "");
    if (!o->events) snprintf(s->events, sizeof s->events, "%s/events", o->models);
    if (o->store) snprintf(s->store_spec, sizeof s->store_spec, "%s", o->store);
    else snprintf(s->store_spec, sizeof s->store_spec, "lmdb:%s/state", o->models);
    if (o->api_key) {
        s->api_key_len = strlen(o->api_key);
        if (s->api_key_len == 0 || s->api_key_len >= sizeof s->api_key) {
            free(s);
            return mq__err_set(err, MQ_EINVAL, "serve: the API key must be 1 to %zu bytes", sizeof s->api_key - 1);
        }
        memcpy(s->api_key, o->api_key, s->api_key_len);
    }
    s->o.api_key = NULL;
    int rc;
    if (o->data) {
        mq_load_opts lo = {0};
        lo.log = &s->log;
        rc = mq_data_open(o->data, &lo, &s->data, err);
        if (rc) goto fail;
    }
    rc = mq_server_reload(s, err);
    if (rc) goto fail;
    /* the log's identity, so replicas sharing a Redis store keep separate applied sequences */
    char log_id[16];
    mq_evlog_id(s->events, log_id);
    mq_store_opts so = {.finish_seconds = s->o.finish_seconds, .pool = s->o.threads + 2, .log_id = log_id};
    rc = mq_store_open(s->store_spec, &so, &s->store, err);
    if (rc) goto fail;
    uint64_t applied;
    rc = mq_store_applied_seq(s->store, &applied, err);
    if (rc) goto fail;
    /* the whole log is replayed: the trending counters count every record, the store only
     * those after what it applied */
    s->store_applied = applied;
    mq_evlog_opts lo = {.fsync = s->o.fsync, .apply = store_apply_cb, .apply_user = s,
                        .applied_seq = 0, .log = &s->log};
    rc = mq_evlog_open(s->events, &lo, &s->evlog, err);
    if (rc) goto fail;
    mq_evlog_stats ls;
    mq_evlog_get_stats(s->evlog, &ls);
    if (applied > ls.records && (rc = store_rederive(s, applied, ls.records, err))) goto fail;
    /* the first snapshot before the first request; then the refresh thread */
    double *scratch = malloc((size_t)MQ_MAX(s->cur->n_titles, 1) * sizeof *scratch);
    rc = scratch ? trend_rebuild(s, scratch, s->cur->n_titles) : MQ_ENOMEM;
    free(scratch);
    if (rc) { mq__err_set(err, rc, "serve: cannot build the trending snapshot"); goto fail; }
    if (pthread_create(&s->trend_thread, NULL, trend_main, s) != 0) {
        rc = mq__err_set(err, MQ_ENOMEM, "serve: cannot start the trending thread");
        goto fail;
    }
    s->trend_thread_started = true;
    mq__logf(&s->log, "serve: trending: %llu events counted from the log, half-life %g days, "
             "refreshed every %g s", (unsigned long long)mq_trend_counted(s->trend),
             s->o.trending_half_life > 0 ? s->o.trending_half_life
             : s->cur->trend_half_life_days > 0 ? s->cur->trend_half_life_days : TREND_DEFAULT_HALF_LIFE_DAYS,
             s->o.trending_refresh);
    mq__logf(&s->log, "serve: event log %s: %llu events (store had applied %llu), store %s",
             s->events, (unsigned long long)ls.records, (unsigned long long)applied, s->store_spec);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)o->port);
    const char *bind = o->bind ? o->bind : "127.0.0.1";
    if (inet_pton(AF_INET, bind, &addr.sin_addr) != 1) {
        rc = mq__err_set(err, MQ_EINVAL, "serve: bind address '%s' is not an IPv4 address", bind);
        goto fail;
    }
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                                MHD_ALLOW_SUSPEND_RESUME,
                            (uint16_t)o->port, NULL, NULL, access_handler, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->o.threads,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_END);
    if (!s->d) {
        rc = mq__err_set(err, MQ_EIO, "serve: cannot listen on %s:%d (in use, or not permitted)", bind, o->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : o->port;
    mq__logf(&s->log, "serve: listening on http://%s:%d with %d threads", bind, s->port, s->o.threads);
    *out = s;
    return 0;
fail:
    mq_server_stop(s);
    return rc;
}

int mq_server_port(const mq_server *s) { return s->port; }

void mq_server_stop(mq_server *s)
{
    if (!s) return;
    if (s->d) {
        /* stop accepting, let suspended event requests get their commit and answer */
        MHD_quiesce_daemon(s->d);
        for (int i = 0; i < 500 && atomic_load(&s->async_waiting) > 0; i++) usleep(10000);
        MHD_stop_daemon(s->d);
    }
    warmer_stop(s);
    if (s->trend_thread_started) {
        pthread_mutex_lock(&s->tmu);
        s->trend_stop = true;
        pthread_cond_signal(&s->tcv);
        pthread_mutex_unlock(&s->tmu);
        pthread_join(s->trend_thread, NULL);
    }
    mq_evlog_close(s->evlog);
    mq_store_close(s->store);
    mq_trend_pub_destroy(s->trend_pub);
    mq_trend_destroy(s->trend);
    bundle_release(s->tbundle);
    bundle_release(s->cur);
    mq_dataset_destroy(s->data);
    for (reqctx *r = s->pool, *nx; r; r = nx) { nx = r->next; reqctx_free(r); }
    pthread_mutex_destroy(&s->bmu);
    pthread_mutex_destroy(&s->reload_mu);
    pthread_mutex_destroy(&s->pmu);
    pthread_mutex_destroy(&s->tmu);
    pthread_cond_destroy(&s->tcv);
    free(s);
}
