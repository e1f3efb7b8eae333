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
 * Experiments (src/serve/xp_live.c, exposure.c; docs/xp.md "Online experiments"): the bundle
 * also holds the experiments file and the models its treatments name (NAME.mqm, each with
 * its own similar-titles cache), so a reload swaps models and experiments together. Each
 * list route assigns the member (mq__xps_assign), applies the merged treatment, answers with
 * page_id and experiments, and writes an exposure record to the exposure log (page cache) before
 * the response is queued.
 *
 * Limits (helpers in limits.c): the route, method, path id, declared Content-Length and API
 * key are decided on the first call, from the headers alone, so a rejected request (404, 405,
 * 400, 413, 401) is answered before any of its body is read or buffered. Request JSON is
 * checked strictly (limits.c) before cJSON parses it. A watchdog closes connections that take
 * longer than header_timeout / body_timeout to send a request (however slowly they trickle),
 * libmicrohttpd caps connections per client address and in all; a request that waited longer
 * than the shedding limit (shed_queue_ms, or adaptive: see shed()) in the kernel before a
 * thread reached it is answered 503 + Retry-After (shedding); more than max_inflight at once: 503; an event-log backlog over its bound: 429.
 *
 * Failures of the event log or the store are answered so the client knows whether its events
 * are in the log: a write that failed is cut back off the log (507 on a full disk, else 503,
 * both "not written"); a store that failed leaves the events durable and queued in the log
 * (503 "durable ... applied once it recovers"). Client event_ids are claimed before the append
 * and remembered with their sequence (limits.c), so a retry is not written twice.
 */
#include "serve/serve.h"

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

enum { R_HOMEPAGE, R_RECS, R_SIMILAR, R_EVENTS, R_HEALTHZ, R_METRICS, R_RELOAD, R_READYZ, R_XP,
       R_XP_REPORT, R_XP_TIMELINE, R_XP_ACTION, R_MODELS, R_TITLE, R_TITLES, R_OTHER, N_ROUTES };
static const char *route_names[N_ROUTES] = {"homepage", "recommendations", "similar", "events",
                                            "healthz", "metrics", "reload", "readyz", "experiments",
                                            "experiment_report", "experiment_timeline", "experiment_action",
                                            "models", "titles", "titles_batch", "other"};
static const int statuses[] = {200, 400, 401, 404, 405, 413, 429, 500, 503, 507};
#define N_STATUS 10
#define STATUS_500 7
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

/* A treatment model (NAME.mqm) loaded beside main, with its own similar-titles cache. Its
 * titles are main's, in the same order (checked at load), so pages index one title space. */
/* A model's drift monitor: the training-time deciles of its best-100 scores (from the
 * artifact) and the live counts per decile from sampled pages (model_drift.c, docs/xp.md).
 * The counts are the server's entry for (model name, edges) (xp_drift.c), so they go on
 * across reloads of the same artifact and restarts; own[] when that entry cannot be had. */
typedef struct drift {
    bool known;
    float edges[MQ_MODEL_SCORE_BINS - 1];
    _Atomic unsigned long long *counts;
    _Atomic unsigned long long own[MQ_MODEL_SCORE_BINS];
} drift;

static void drift_init(drift *d, const mq_model *m, mq__drifts *store, const char *name)
{
    d->known = mq_model_score_ref(m, d->edges) == 0;
    d->counts = d->known ? mq__drifts_counts(store, name, d->edges) : NULL;
    if (!d->counts) d->counts = d->own;
}

static double drift_psi(const drift *d)
{
    unsigned long long c[MQ_MODEL_SCORE_BINS];
    for (int b = 0; b < MQ_MODEL_SCORE_BINS; b++) c[b] = atomic_load_explicit(&d->counts[b], memory_order_relaxed);
    return d->known ? mq_model_psi(c) : NAN;
}

typedef struct altmodel {
    char name[MQ_XP_NAME];
    drift drift;
    char version[160];
    mq_model *m;
    _Atomic(simlist *) *sim;         /* [n_titles] filled on demand and by the warmer */
    atomic_int sim_cached;           /* lists in sim */
    int32_t n_titles;
} altmodel;

typedef struct bundle {
    atomic_int refs;
    mq__xps *xps;                    /* the experiments file, NULL without --experiments */
    _Atomic int *served;             /* [xps->xp.n][MQ_XP_MAX_VARIANTS] permille served: ramps, stops */
    mq__xpv *vstats;                 /* [xps->xp.n][MQ_XP_MAX_VARIANTS] page builds per variant */
    drift drift;                     /* main's */
    int n_alt;
    altmodel *alt;                   /* [n_alt]: slot k + 1 of a treatment's model_slot */
    mq_model *main, *pop, *trend;
    char version[160];
    int32_t n_titles;
    const char **ids;                /* [n_titles] model title ids */
    mq_page_catalog pc;
    int32_t *ds2m;                   /* [dataset n_titles] -> model title or -1 */
    int32_t *m2ds;                   /* [n_titles] model title -> dataset title or -1 (artwork) */
    _Atomic uint32_t *imp;           /* [n_titles] homepage slots per title (exploration weights) */
    _Atomic(simlist *) *sim;         /* [n_titles] filled on demand and by the warmer */
    atomic_int sim_cached;           /* lists in sim */
    uint64_t gen;                    /* load number: tags the trending snapshots of this bundle */
    float *trend_seed;               /* [n_titles] raw trending scores, as of trend_as_of */
    int64_t trend_as_of;
    double trend_half_life_days;     /* the trending model's, else 0 */
    /* Catalog views (titles.c): what requests see is a view of a loaded bundle (base), with
     * the catalog log applied: n_titles = the model's n_model titles, then the added ones; ids,
     * pc and trend_seed are the view's, everything else is base's (shared, not freed here). */
    int32_t n_model;
    struct bundle *base;             /* NULL for a loaded bundle */
    mq__tview *tv;                   /* the view's catalog (NULL for a loaded bundle) */
    mq__rsv_set rsv;                 /* ranker.mqm and treatment rankers (rank_serve.c) */
} bundle;

/* The loaded bundle a view shares its models, caches and monitors with. */
static inline struct bundle *bundle_root(struct bundle *b) { return b->base ? b->base : b; }

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
    mq_buf xrec;                     /* the exposure record being encoded */
    const char **xt;                 /* [xt_cap] title ids of the list, for the record */
    int xt_cap;
    int32_t *excl;                   /* [excl_cap] titles a list must not show */
    int excl_cap;
    mq__rsv_work *rw;                /* the ranker's working memory (rank_serve.c) */
    /* artwork decisions of the list ([art_cap] each; artwork.c) */
    int art_cap;
    int32_t *art_t;                  /* dataset titles of the list, then of the history */
    int64_t *art_choice;
    double *art_prop;
    uint8_t *art_var;
    const char **art_json;
    float *art_w;
    /* exploration slots of the page ([x_cap] each; explore.c) */
    int x_cap;
    int32_t *x_titles;
    const char **x_ev;
    float *x_scores;
    double *x_prop;
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
    /* online experiments: page ids (a random boot id and a counter), the exposure log */
    uint64_t boot_id;
    atomic_ullong page_seq;
    char exposures[4096];
    mq__exlog *exlog;                /* NULL with --exposure-log off */
    mq__art *art;                    /* the artwork bandit; NULL when the catalog has no artwork */
    mq__xpc *units;                  /* live experiment units (xp_collect.c), with exlog and --experiments */
    atomic_ullong exposures_failed;
    mq__xpg *guard;                  /* ramps and stops, persisted in <exposures>/xp_state.json */
    mq__drifts *drifts;              /* drift counts, persisted in <exposures>/drift_state.json */
    pthread_t guard_thread;
    bool guard_started;
    atomic_bool guard_quit;
    /* limits (src/serve/limits.c) */
    mq__guard *conn_wd;               /* connection deadlines */
    mq__dedup *dedup;                /* client event ids seen recently */
    bool replaying;                  /* the event log's replay at open (refills dedup) */
    atomic_ullong shed, duplicates;
    mq__codel codel;                 /* adaptive shedding (--shed-queue-ms auto, the default) */
    int64_t clock_offset;            /* --clock offset: wall clock minus the server's now */
    atomic_llong latest_event;       /* the latest event time seen (data, then the log) */
    pthread_mutex_t smu;             /* guards store_msg */
    char store_msg[512];             /* the member store's last failure */
    /* titles put and withdrawn at run time (titles.c): written under reload_mu */
    char catalog[4096];
    mq__titles *titles;
};

/* ---- bundles ---- */

static void bundle_release(bundle *b);

static void bundle_destroy(bundle *b)
{
    if (!b) return;
    if (b->base) {          /* a view: only its catalog is its own */
        mq__tview_destroy(b->tv);
        bundle_release(b->base);
        free(b);
        return;
    }
    for (int k = 0; k < b->n_alt; k++) {
        if (b->alt[k].sim)
            for (int32_t t = 0; t < b->alt[k].n_titles; t++) free(atomic_load(&b->alt[k].sim[t]));
        free(b->alt[k].sim);
        mq_model_destroy(b->alt[k].m);
    }
    free(b->alt);
    mq__xps_release(b->xps);
    free(b->xps);
    free(b->served);
    free(b->vstats);
    mq_page_catalog_release(&b->pc);
    if (b->sim)
        for (int32_t t = 0; t < b->n_titles; t++) free(atomic_load(&b->sim[t]));
    free(b->sim);
    free(b->ids);
    free(b->ds2m);
    free(b->m2ds);
    free(b->imp);
    free(b->trend_seed);
    mq_model_destroy(b->main);
    mq_model_destroy(b->pop);
    mq_model_destroy(b->trend);
    mq__rsv_set_release(&b->rsv);
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

/* Title t's similar list of model m, computed and published in slots[t] (compare-and-swap) on
 * first use, counted in *cached; NULL when out of memory. */
static const simlist *cached_similar(const mq_model *m, _Atomic(simlist *) *slots, atomic_int *cached, int32_t t)
{
    simlist *l = atomic_load_explicit(&slots[t], memory_order_acquire);
    if (l) return l;
    simlist *nl = malloc(sizeof *nl);
    if (!nl) return NULL;
    int got = mq_model_similar(m, t, SIM_N, nl->t, nl->s, NULL);
    nl->n = got > 0 ? got : 0;
    simlist *expect = NULL;
    if (atomic_compare_exchange_strong(&slots[t], &expect, nl)) {
        atomic_fetch_add_explicit(cached, 1, memory_order_relaxed);
        return nl;
    }
    free(nl);
    return expect;
}

/* The main model's list of title t. */
static const simlist *similar_list(bundle *b, int32_t t)
{
    return cached_similar(b->main, b->sim, &b->sim_cached, t);
}

/* The same for a treatment model (computed on first use and by the warmer). */
static const simlist *alt_list(altmodel *a, int32_t t)
{
    return cached_similar(a->m, a->sim, &a->sim_cached, t);
}

static int alt_similar_cb(void *user, int32_t t, int n, int32_t *out, float *score)
{
    altmodel *a = user;
    if (t < 0 || t >= a->n_titles) return 0;
    const simlist *l = alt_list(a, t);
    if (!l) return 0;
    int m = MQ_MIN(n, l->n);
    memcpy(out, l->t, (size_t)m * sizeof *out);
    memcpy(score, l->s, (size_t)m * sizeof *score);
    return m;
}

static int similar_cb(void *user, int32_t t, int n, int32_t *out, float *score)
{
    bundle *b = user;
    if (t < 0 || t >= b->n_titles) return 0;
    if (t >= b->n_model) return mq__tview_similar(b->tv, t, n, out, score);   /* an added title */
    const simlist *l = similar_list(bundle_root(b), t);
    if (!l) return 0;
    int m = MQ_MIN(n, l->n);
    memcpy(out, l->t, (size_t)m * sizeof *out);
    memcpy(score, l->s, (size_t)m * sizeof *score);
    return m;
}

/* The warmer: a background thread at low priority (nice 10) that computes every title's
 * similar list after a model loads, most popular titles first (the likeliest seeds of Because
 * You Watched rows), so pages stop paying for them within seconds instead of over hours of
 * long-tail traffic: main's first, then each treatment model's (experiments), in the
 * experiments file's order. Requests that need a list first compute it themselves, as before. */
typedef struct warm_arg { mq_server *s; bundle *b; } warm_arg;

static void *warm_similar(void *varg)
{
    warm_arg *a = varg;
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    double t0 = mq_now();
    int32_t n = a->b->n_titles;
    const atomic_bool *quit = &a->s->warmer_quit;
    if (mq_model_has_similar(a->b->main)) {
        for (int32_t i = 0; i < n && !atomic_load_explicit(quit, memory_order_relaxed); i++)
            similar_list(a->b, a->b->pc.pop_order[i]);
        if (atomic_load(&a->b->sim_cached) == n)
            mq__logf(&a->s->log, "serve: similar titles of all %d titles ready in %.1f s", n, mq_now() - t0);
    }
    for (int k = 0; k < a->b->n_alt; k++) {
        altmodel *am = &a->b->alt[k];
        if (!mq_model_has_similar(am->m)) continue;
        t0 = mq_now();
        for (int32_t i = 0; i < n && i < am->n_titles && !atomic_load_explicit(quit, memory_order_relaxed); i++)
            alt_list(am, a->b->pc.pop_order[i]);
        if (atomic_load(&am->sim_cached) == am->n_titles)
            mq__logf(&a->s->log, "serve: similar titles of treatment model '%s' (all %d titles) ready in %.1f s",
                     am->name, am->n_titles, mq_now() - t0);
    }
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
    bool any = mq_model_has_similar(b->main);
    for (int k = 0; k < b->n_alt; k++) any |= mq_model_has_similar(b->alt[k].m);
    if (!any) return;
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

static void model_version(const mq_model *m, const char *path, char *out, size_t cap)
{
    struct stat sb;
    struct tm tm = {0};
    time_t mt = stat(path, &sb) == 0 ? sb.st_mtime : 0;
    gmtime_r(&mt, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, cap, "%s@%s", mq_model_kind(m), when);
}

static int64_t server_now(mq_server *s);

/* The experiments' "now" (assignment, exposure records, ramps, guardrail checks, reports):
 * the wall clock, or under --clock event the server's event time, so a simulated month of
 * traffic starts, ramps and checks experiments on its own calendar. */
static long long xp_now(mq_server *s)
{
    return s->o.clock == MQ_CLOCK_EVENT ? (long long)server_now(s) : mq__xps_now();
}

/* The clock the live units' horizon follows through quiet spells (mq__xpc_events): the wall
 * clock's now; none under --clock event, where a client may post events stamped ahead of the
 * pages it asks for (a simulator posting members' histories first): there the horizon follows
 * the exposures alone, so a page's exposure keeps the time it was asked for. */
static long long units_now(mq_server *s)
{
    return s->o.clock == MQ_CLOCK_EVENT ? 0 : xp_now(s);
}

/* Loads the experiments file and the models its treatments name into b (at start-up and at
 * every reload, so a bad file keeps the previous bundle serving). */
static int xp_load(mq_server *s, bundle *b, mq_err *err)
{
    b->xps = calloc(1, sizeof *b->xps);
    if (!b->xps) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    int rc = mq__xps_load(s->o.experiments, b->xps, err);
    if (rc) { free(b->xps); b->xps = NULL; return rc; }
    b->alt = calloc((size_t)MQ_MAX(b->xps->n_models, 1), sizeof *b->alt);
    if (!b->alt) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    int slot[MQ_XP_MAX_VARIANTS * 64 + 1];
    int nm = MQ_MIN(b->xps->n_models, (int)(sizeof slot / sizeof *slot));
    for (int k = 0; k < nm; k++) {
        const char *name = b->xps->models[k];
        if (!strcmp(name, "main")) { slot[k] = 0; continue; }
        altmodel *a = &b->alt[b->n_alt];
        char path[4400];
        snprintf(path, sizeof path, "%s/%s.mqm", s->models, name);
        snprintf(a->name, sizeof a->name, "%s", name);
        mq_err merr = {0, ""};
        if (mq_model_load(path, &a->m, &merr))
            return mq__err_set(err, MQ_EFORMAT, "%s: treatment model '%s': %s", s->o.experiments, name, merr.msg);
        b->n_alt++;
        a->n_titles = mq_model_n_titles(a->m);
        bool same = a->n_titles == b->n_titles;
        for (int32_t t = 0; same && t < b->n_titles; t++) same = !strcmp(mq_model_title_id(a->m, t), b->ids[t]);
        if (!same)
            return mq__err_set(err, MQ_EFORMAT, "%s: treatment model '%s' (%s) does not have main.mqm's titles "
                               "in main.mqm's order (train both from the same data)", s->o.experiments, name, path);
        a->sim = calloc((size_t)MQ_MAX(a->n_titles, 1), sizeof *a->sim);
        if (!a->sim) return mq__err_set(err, MQ_ENOMEM, "out of memory");
        model_version(a->m, path, a->version, sizeof a->version);
        drift_init(&a->drift, a->m, s->drifts, a->name);
        slot[k] = b->n_alt;
    }
    mq__xps *x = b->xps;
    b->served = calloc((size_t)MQ_MAX(x->xp.n, 1) * MQ_XP_MAX_VARIANTS, sizeof *b->served);
    b->vstats = calloc((size_t)MQ_MAX(x->xp.n, 1) * MQ_XP_MAX_VARIANTS, sizeof *b->vstats);
    if (!b->served || !b->vstats) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    mq__xpg_served(s->guard, x, xp_now(s), b->served);
    for (int i = 0; i < x->xp.n * MQ_XP_MAX_VARIANTS; i++) {
        mq__xps_treat *t = &x->treat[i];
        if (!(t->set & (1u << MQ__XT_MODEL))) continue;
        for (int k = 0; k < nm; k++)
            if (!strcmp(x->models[k], t->model)) t->model_slot = slot[k];
    }
    return 0;
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
    int rc = mq_model_load_private(path, &b->main, err);
    if (rc) goto fail;
    struct stat sb;
    stat(path, &sb);
    struct tm tm;
    gmtime_r(&sb.st_mtime, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(b->version, sizeof b->version, "%s@%s", mq_model_kind(b->main), when);
    b->n_titles = b->n_model = mq_model_n_titles(b->main);
    drift_init(&b->drift, b->main, s->drifts, "main");
    int32_t n = b->n_titles;
    b->ids = malloc((size_t)MQ_MAX(n, 1) * sizeof *b->ids);
    b->sim = calloc((size_t)MQ_MAX(n, 1), sizeof *b->sim);
    b->imp = calloc((size_t)MQ_MAX(n, 1), sizeof *b->imp);
    if (!b->imp) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
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
        b->m2ds = malloc((size_t)MQ_MAX(n, 1) * sizeof *b->m2ds);
        if (!b->m2ds) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
        for (int32_t t = 0; t < n; t++) b->m2ds[t] = -1;
        for (int32_t j = 0; j < d->n_titles; j++)
            if (b->ds2m[j] >= 0) b->m2ds[b->ds2m[j]] = j;
    }
    /* popularity and trending: from pop.mqm / trending.mqm when present, else from the data */
    snprintf(path, sizeof path, "%s/pop.mqm", s->models);
    if (file_exists(path)) {
        if ((rc = mq_model_load_private(path, &b->pop, err)) || (rc = aux_scores(b->pop, b, pop, err))) goto fail;
    } else if (d) {
        for (int32_t j = 0; j < d->n_titles; j++)
            if (b->ds2m[j] >= 0) pop[b->ds2m[j]] += (float)(d->t_ptr[j + 1] - d->t_ptr[j]);
    }
    snprintf(path, sizeof path, "%s/trending.mqm", s->models);
    if (file_exists(path)) {
        if ((rc = mq_model_load_private(path, &b->trend, err)) || (rc = aux_scores(b->trend, b, trend, err)))
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
    pop = NULL;
    b->trend_seed = trend;
    trend = NULL;
    if (s->o.experiments && (rc = xp_load(s, b, err))) goto fail;
    if ((rc = mq__rsv_set_load(&b->rsv, s->models, b->xps, b->main, &s->log, err))) goto fail;
    *out = b;
    return 0;
fail:
    free(pop);
    free(trend);
    bundle_destroy(b);
    return rc;
}

/* ---- catalog views (titles.c) ---- */

/* A title's index in b's title space: the model's, else an added title's; -1 if unknown. */
static int32_t title_index(const bundle *b, const char *id)
{
    int32_t t = mq_model_title_index(b->main, id);
    if (t < 0 && b->tv) t = mq__tview_find(b->tv, id);
    return t;
}

/* A view of the loaded bundle base with the catalog log applied (the writer side is stable:
 * reload_mu held). The view takes a reference to base. */
static int bundle_view(mq_server *s, bundle *base, bundle **out, mq_err *err)
{
    *out = NULL;
    bundle *v = malloc(sizeof *v);
    if (!v) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    memcpy(v, base, sizeof *v);
    atomic_init(&v->refs, 1);
    int rc = mq__tview_build(s->titles, base->main, base->ids, base->n_titles, base->pc.popularity,
                             base->trend_seed, &v->tv, err);
    if (rc) { free(v); return rc; }
    atomic_fetch_add(&base->refs, 1);
    v->base = base;
    v->n_titles = mq__tview_n(v->tv);
    v->ids = (const char **)mq__tview_ids(v->tv);
    v->pc = *mq__tview_pc(v->tv);
    v->pc.similar = similar_cb;
    v->pc.similar_user = v;
    v->trend_seed = (float *)mq__tview_trend_seed(v->tv);
    *out = v;
    return 0;
}

static int64_t server_now(mq_server *s);

/* Publishes a new view of the current bundle's base after a put or a withdrawal (reload_mu
 * held): the trending counters grow to the new titles and follow the view, then requests
 * switch to it by pointer (the old view is freed by its last request). */
static int publish_view(mq_server *s, mq_err *err)
{
    bundle *base = bundle_root(s->cur), *v;
    int rc = bundle_view(s, base, &v, err);
    if (rc) return rc;
    pthread_mutex_lock(&s->tmu);
    bundle *oldt = NULL;
    if (s->trend && bundle_root(s->tbundle) == base) {
        rc = mq__trend_grow(s->trend, v->n_titles);
        if (!rc) {
            oldt = s->tbundle;
            s->tbundle = v;
            atomic_fetch_add(&v->refs, 1);
            s->trend_dirty = true;
            pthread_cond_signal(&s->tcv);
        }
    }
    pthread_mutex_unlock(&s->tmu);
    bundle_release(oldt);
    if (rc) { bundle_release(v); return mq__err_set(err, rc, "out of memory growing the trending counters"); }
    pthread_mutex_lock(&s->bmu);
    bundle *old = s->cur;
    s->cur = v;
    pthread_mutex_unlock(&s->bmu);
    bundle_release(old);
    return 0;
}

/* ---- live trending ---- */

#define TREND_DEFAULT_HALF_LIFE_DAYS 7.0

/* The server's "now" in unix seconds (--clock): the wall clock; or, for data that ends in the
 * past (the demo's ends in 2018), the latest event time seen so far (event: the data's last
 * event, then every logged event; time stands still between events), or the wall clock moved
 * back so that the data's last event is now at start-up (offset: time runs on from there, as
 * in a live service). It stamps events posted without a timestamp and is the "now" of the
 * Trending Now counters. */
static int64_t server_now(mq_server *s)
{
    switch (s->o.clock) {
    case MQ_CLOCK_EVENT: return (int64_t)atomic_load_explicit(&s->latest_event, memory_order_relaxed);
    case MQ_CLOCK_OFFSET: return (int64_t)time(NULL) - s->clock_offset;
    default: return (int64_t)time(NULL);
    }
}

/* Counts events into s->trend (tmu held). Every log record passes here exactly once per set
 * of counters: the replay at open and the commits after it in sequence order, or the rescan
 * of a reseed, which stops at trend_seq. */
static void trend_count(mq_server *s, const mq_event *ev, int n, uint64_t first_seq)
{
    for (int i = 0; i < n; i++)
        if (ev[i].time > atomic_load_explicit(&s->latest_event, memory_order_relaxed))
            atomic_store_explicit(&s->latest_event, ev[i].time, memory_order_relaxed);
    int64_t now = server_now(s);
    uint64_t counted = 0;
    for (int i = 0; i < n; i++) {
        float w = mq_trend_event_weight(ev[i].kind, ev[i].value);
        if (w <= 0) continue;
        int32_t t = title_index(s->tbundle, ev[i].title);
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
        if (s->trend_dirty && s->o.trending_refresh > 0) {   /* < 0: off, the seed stays */
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
        double at = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + fabs(s->o.trending_refresh);
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
    bundle *loaded = nb;
    if (!rc) {
        /* requests see a view of it: the catalog log's titles applied (titles.c) */
        rc = bundle_view(s, loaded, &nb, err);
        bundle_release(loaded);
    }
    if (rc) {
        atomic_fetch_add(&s->reload_failures, 1);
        pthread_mutex_unlock(&s->reload_mu);
        return rc;
    }
    loaded->gen = nb->gen = ++s->bundle_gen;
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
    warmer_start(s, loaded);
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
    mq_buf_release(&r->xrec);
    free(r->xt);
    free(r->excl);
    mq__rsv_work_free(r->rw);
    free(r->art_t);
    free(r->art_choice);
    free(r->art_prop);
    free(r->art_var);
    free(r->art_json);
    free(r->art_w);
    free(r->x_titles);
    free(r->x_ev);
    free(r->x_scores);
    free(r->x_prop);
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
        int32_t t = title_index(b, e->title);
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
    for (int i = 0; i < m; i++)     /* the model sees its own titles (added ones get cold scores) */
        if (r->hist[i].weight > 0 && r->hist[i].title < b->n_model) r->hidx[p++] = r->hist[i].title;
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
    bool answered;                  /* answered after the headers (rejected before the body) */
    int shed_waited;                /* > 0: shed (it waited this many ms), answered next call */
    double shed_limit;              /* the wait limit it was shed at (ms) */
    bool console;                   /* a web console page (console.c), answered next call */
    int route;
    char method;                    /* R_TITLE: 'G' (GET/HEAD), 'P' (PUT), 'D' (DELETE) */
    char id[MQ_ID_MAX + 1];         /* the route's member or title id */
    mq_server *s;
    mq__conn *gc;                   /* the connection's deadline record */
    /* client event ids this request claimed (retry-safe events): claim_at[k] is the index of
     * claim_id[k]'s event in the appended batch */
    int n_claims, n_dups;
    char **claim_id;
    int *claim_at;
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
    return STATUS_500;   /* other statuses are counted as 500 */
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
    if (status == 507) MHD_add_response_header(resp, "Retry-After", "10");
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

/* ---- exposures ---- */

static int expo_reserve(reqctx *r, int n)
{
    if (n <= r->xt_cap) return 0;
    const char **p = realloc(r->xt, (size_t)n * sizeof *p);
    if (!p) return MQ_ENOMEM;
    r->xt = p;
    r->xt_cap = n;
    return 0;
}

/* Records one served list (rows of title ids in r->xt, row after row) in the exposure log.
 * A failure fails the request: an answered page must be in the log. */
static int expose(mq_server *s, bundle *b, reqctx *r, int route, const char *member,
                  const char *page_id, const char *version, const mq__xps_result *xr, long long now,
                  int n_rows, const char *const *row_id, const int *row_n, const mq__art_page *ap,
                  const double *explore_prop, mq_err *err)
{
    if (!s->exlog) return ap ? mq__art_record(s->art, ap, err) : 0;
    mq__expo e = {0};
    e.time = now;
    e.explore_prop = explore_prop;
    if (ap) {
        e.art_time = ap->time;
        e.art_policy = ap->policy;
        e.art_dm = mq__art_dm(s->art);
        e.art_ctx = ap->ctx;
        e.art_variant = ap->variant;
        e.art_prop = ap->prop;
    }
    e.route = route;
    e.member = member;
    e.page_id = page_id;
    e.model_version = version;
    if (b->xps) mq__xps_expo(b->xps, xr, &e);
    e.n_rows = n_rows;
    e.row_id = row_id;
    e.row_n = row_n;
    e.titles = r->xt;
    int rc = mq__expo_encode(&e, s->o.exposure_log == MQ__EXPO_SUMMARY, &r->xrec, err);
    if (!rc)   /* with experiments, the live units count it as it is written */
        rc = s->units ? mq__xpc_expose(s->units, s->exlog, &e, &r->xrec, err) : mq__exlog_append(s->exlog, &r->xrec, err);
    if (!rc && ap) return mq__art_record(s->art, ap, err);
    if (rc) {
        atomic_fetch_add(&s->exposures_failed, 1);
        mq__logf(&s->log, "serve: exposure log: %s", err->msg);
        mq__err_set(err, MQ_EIO, "the exposure log failed (%s)", err->msg);
    }
    return rc;
}

/* Artwork for a served list of n titles (model indices) when the server has an artwork bandit:
 * the member's context from its history (r->hist), then the policy's decisions into r's arrays
 * and *ap (which expose() logs and records). Returns 0 with ap->n = 0 when there is nothing to
 * decide. */
static int art_decide(mq_server *s, const bundle *b, reqctx *r, const mq__xps_result *xr,
                      const char *member, const char *page_id, uint64_t seq, long long at, const int32_t *titles,
                      int n, int n_hist, int device, int hour, uint8_t *ctx, mq__art_page *ap, mq_err *err)
{
    memset(ap, 0, sizeof *ap);
    if (!s->art || !b->m2ds || n <= 0) return 0;
    int need = MQ_MAX(n, n_hist);
    if (need > r->art_cap) {
        int cap = MQ_MAX(need, 2 * r->art_cap);
        int32_t *t = realloc(r->art_t, (size_t)cap * sizeof *t);
        if (t) r->art_t = t;
        int64_t *c = realloc(r->art_choice, (size_t)cap * sizeof *c);
        if (c) r->art_choice = c;
        double *p = realloc(r->art_prop, (size_t)cap * sizeof *p);
        if (p) r->art_prop = p;
        uint8_t *v = realloc(r->art_var, (size_t)cap);
        if (v) r->art_var = v;
        const char **j = realloc(r->art_json, (size_t)cap * sizeof *j);
        if (j) r->art_json = j;
        float *w = realloc(r->art_w, (size_t)cap * sizeof *w);
        if (w) r->art_w = w;
        if (!t || !c || !p || !v || !j || !w) return mq__err_set(err, MQ_ENOMEM, "out of memory");
        r->art_cap = cap;
    }
    /* m2ds covers the model's titles; titles put at run time (a view's n_model..) have no
     * dataset artwork */
    for (int i = 0; i < n_hist; i++) {
        r->art_t[i] = r->hist[i].title < b->n_model ? b->m2ds[r->hist[i].title] : -1;
        r->art_w[i] = r->hist[i].weight;
    }
    mq__art_context(s->art, r->art_t, r->art_w, n_hist, device, hour, ctx);
    for (int i = 0; i < n; i++) r->art_t[i] = titles[i] < b->n_model ? b->m2ds[titles[i]] : -1;
    ap->member = member;
    ap->page_id = page_id;
    ap->page_seq = seq;
    /* the page's time for the reward window: now; under --clock event the request's own time
     * (?time=, at >= 0), else the member's own latest event (the server's event clock is the
     * latest event of anyone: members replayed or simulated side by side live at different
     * times) */
    if (s->o.clock != MQ_CLOCK_EVENT) ap->time = server_now(s);
    else if (at >= 0) ap->time = at;
    else ap->time = member[0] && r->st.last_time > 0 ? r->st.last_time : server_now(s);
    ap->kind = xr && (xr->t.set & (1u << MQ__XT_ARTWORK_POLICY)) ? xr->t.art_kind : -1;
    ap->param = xr ? xr->t.art_param : 0;
    ap->ctx = ctx;
    ap->titles = r->art_t;
    ap->n = n;
    ap->choice = r->art_choice;
    ap->prop = r->art_prop;
    ap->variant = r->art_var;
    ap->json = r->art_json;
    return mq__art_decide(s->art, ap, err);
}

/* ---- handlers ---- */

static bool key_ok(mq_server *s, struct MHD_Connection *c);

/* The assignment of a list route: ?xp= needs the key; *am is the treatment's model or NULL;
 * *now the request's time (xp_now, or under --clock event the query's 'time', unix seconds:
 * a simulator replaying members' visits on its own calendar, docs/sim.md); *asked the query's
 * 'time' or -1. Returns 0, or the HTTP status of the error written to why. */
static int route_assign(mq_server *s, struct MHD_Connection *c, bundle *b, const char *member,
                        mq__xps_result *xr, altmodel **am, long long *now, long long *asked, char *why,
                        size_t cap)
{
    const char *force = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "xp");
    if (force && !(s->api_key_len && key_ok(s, c))) {
        snprintf(why, cap, "query 'xp' (forcing a variant) needs the API key (Authorization: Bearer <key>)");
        return 401;
    }
    long at;
    if (q_int(c, "time", 0, 99999999999L, -1, &at, why, cap)) return 400;
    if (at >= 0 && s->o.clock != MQ_CLOCK_EVENT) {
        snprintf(why, cap, "query 'time' (a simulated request time) needs the server's --clock event");
        return 400;
    }
    *now = at >= 0 ? at : xp_now(s);
    *asked = at;
    if (mq__xps_assign(b->xps, member, *now, force, b->served, xr, why, cap)) return 400;
    *am = xr->t.model_slot > 0 ? &b->alt[xr->t.model_slot - 1] : NULL;
    return 0;
}


static int32_t *excl_reserve(reqctx *r, int n)
{
    if (n > r->excl_cap) {
        int32_t *p = realloc(r->excl, (size_t)n * sizeof *p);
        if (!p) return NULL;
        r->excl = p;
        r->excl_cap = n;
    }
    return r->excl;
}

/* Scores of the titles added at run time (b's titles n_model..n_titles), after the model's in
 * r->scores: their cold-start relevance (titles.c) placed between the member's best unseen
 * model score and the page's cut (or, when the model pruned nothing, its k-th best score). */
static int cold_scores(const bundle *b, reqctx *r, int n_hist, int n_pos, int k, float cut, mq_err *err)
{
    int32_t nm = b->n_model;
    for (int i = 0; i < n_hist; i++) if (r->hist[i].title < nm) r->mark[r->hist[i].title] = 1;
    float hi = -INFINITY;
    for (int32_t t = 0; t < nm; t++)
        if (!r->mark[t] && r->scores[t] > hi) hi = r->scores[t];
    for (int i = 0; i < n_hist; i++) if (r->hist[i].title < nm) r->mark[r->hist[i].title] = 0;
    float lo = cut;
    if (!(lo > -INFINITY) && nm > 0) {
        float *tmp = malloc((size_t)nm * sizeof *tmp);
        if (!tmp) return mq__err_set(err, MQ_ENOMEM, "out of memory");
        int m = 0;
        for (int32_t t = 0; t < nm; t++) if (r->scores[t] == r->scores[t]) tmp[m++] = r->scores[t];
        lo = m ? mq__kth_largest(tmp, m, MQ_MAX(1, MQ_MIN(k, m))) : 0;
        free(tmp);
    }
    if (!(hi > -INFINITY)) hi = lo + 1;
    return mq__tview_cold(b->tv, r->hidx, n_pos, r->hist, n_hist, lo, hi, r->scores, err);
}

/* The relevance of ranker rk (slot: mq__rsv_pick's) into r->scores from the member's live
 * state (rank_serve.c): 1 when set, 0 when the member has no live positives, or a negative code. */
static int rank_scores(mq_server *s, bundle *b, reqctx *r, const mq__rsv *rk, int slot,
                       const char *member, int hour, const mq_trend_snap *ts, mq_err *err)
{
    bool live = ts && ts->tag == b->gen && ts->n_titles == b->n_titles;
    mq__rsv_in in = {s->data, &r->st, server_now(s), hour, live ? ts->score : NULL};
    int n = mq__rsv_score(rk, &r->rw, (b->gen << 8) | (uint64_t)(slot + 1), member, b->ds2m, &in,
                          r->scores, err);
    return n < 0 ? n : n > 0;
}

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
    mq__xps_result xr;
    altmodel *am;
    long long now, asked = -1;
    int st = route_assign(s, c, b, member, &xr, &am, &now, &asked, why, sizeof why);
    if (st) { bundle_release(b); return send_error(s, c, cs, st, "%s", why); }
    /* the experiments' treatment decides over the query's page settings */
    if (xr.t.set & (1u << MQ__XT_ROWS)) rows = xr.t.rows;
    if (xr.t.set & (1u << MQ__XT_PER_ROW)) per = xr.t.per_row;
    if (xr.t.set & (1u << MQ__XT_MMR)) mmr = xr.t.mmr;
    const mq_model *model = am ? am->m : b->main;
    const char *mversion = am ? am->version : b->version;
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
    /* exclude=: comma-separated title ids; unknown ones are ignored; then the titles outside
     * their availability window or withdrawn (titles.c) */
    int32_t *excl = excl_reserve(r, 256 + mq__tview_n_hidable(b->tv));
    if (!excl) { reqctx_put(s, r); bundle_release(b); return send_error(s, c, cs, 500, "out of memory"); }
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
                int32_t t = title_index(b, id);
                if (t >= 0) excl[n_excl++] = t;
            }
            p = q ? q + 1 : p + len;
        }
    }
    n_excl += mq__tview_hidden(b->tv, server_now(s), excl + n_excl);
    mq_err err = {0, ""};
    int n_hist, n_pos;
    bool known;
    double t0 = mq_now();
    int rc = gather_history(s, b, r, member, &n_hist, &n_pos, &known, &err);
    const float *scores = NULL;
    mq_page_req req; mq_page_req_init(&req, sizeof req);
    req.rows = (int)rows; req.per_row = (int)per; req.mmr_lambda = mmr; req.genre = genre;
    req.exclude = excl; req.n_exclude = n_excl; req.hour = (int)hour; req.device = device;
    req.score_cut = NULL;
    req.row_prior = xr.t.set & (1u << MQ__XT_ROW_PRIORS) ? xr.t.row_prior : NULL;
    float cut;
    /* Trending Now from the live snapshot when it is for this bundle's titles (right after a
     * reload, until the next rebuild, the bundle's own scores) */
    mq_page_catalog pc = b->pc;
    const mq_trend_snap *ts = mq_trend_acquire(s->trend_pub);
    if (ts && ts->tag == b->gen && ts->n_titles == b->n_titles) {
        pc.trending = ts->score;
        pc.trend_order = ts->order;
    }
    /* a ranker (ranker.mqm or the treatment's) gives the relevance of its candidates */
    int rslot;
    const mq__rsv *rk = mq__rsv_pick(&b->rsv, &xr.t, &rslot);
    bool ranked = false;
    if (!rc && rk) {
        int got = rank_scores(s, b, r, rk, rslot, member, (int)hour, ts, &err);
        if (got < 0) rc = got;
        ranked = got > 0;
        if (ranked) scores = r->scores;
    }
    if (!rc && !ranked && n_pos > 0) {
        /* exact where the page can see it: its best titles once history and exclusions are
         * banned (a genre filter bans an unknown number: score everything) */
        int top = genre >= 0 ? b->n_titles : mq_page_scored_titles(&req, b->n_titles) + n_hist + n_excl;
        rc = mq_model_score_top(model, r->hidx, NULL, n_pos, top, r->scores, &cut, &err);
        scores = r->scores;
        req.score_cut = &cut;
        if (!rc && b->n_titles > b->n_model)    /* titles the model has never seen */
            rc = cold_scores(b, r, n_hist, n_pos, mq_page_scored_titles(&req, b->n_model), cut, &err);
    } else if (!rc && ranked && b->n_titles > b->n_model) {
        /* the ranker scores the model's titles; the added ones get their cold-start relevance */
        rc = cold_scores(b, r, n_hist, n_pos, mq_page_scored_titles(&req, b->n_model), -INFINITY, &err);
    }
    const mq_page *page = NULL;
    if (am) {
        pc.similar = alt_similar_cb;
        pc.similar_user = am;
    }
    if (!rc) {
        /* titles not shown now (withdrawn, outside their window) are banned by excl; out of the
         * history the page sees, they seed no row ("Because You Watched X" would name X) */
        if (mq__tview_n_hidable(b->tv)) {
            int64_t now = server_now(s);
            int m = 0;
            for (int i = 0; i < n_hist; i++)
                if (mq__tview_shown(b->tv, r->hist[i].title, now)) r->hist[m++] = r->hist[i];
            n_hist = m;
        }
        rc = mq_page_build(r->page, &pc, scores, r->hist, n_hist, &req, &page, &err);
    }
    /* each variant's serving health (its guardrails on error rate and p99) */
    for (int i = 0; b->vstats && i < xr.n; i++)
        if (!xr.p[i].served_default && !xr.p[i].forced)
            mq__xpv_add(&b->vstats[xr.p[i].exp * MQ_XP_MAX_VARIANTS + xr.p[i].variant], mq_now() - t0, rc != 0);
    char page_id[MQ_PAGE_ID_MAX + 1];
    uint64_t seq = atomic_fetch_add(&s->page_seq, 1) + 1;
    mq__xps_page_id(s->boot_id, seq, page_id);
    drift *dr = am ? &am->drift : &bundle_root(b)->drift;
    if (!rc && scores && !ranked && dr->known && seq % 8 == 0) {
        /* one page in 8 feeds the drift monitor: its model's best 100 unseen scores */
        unsigned long long cnt[MQ_MODEL_SCORE_BINS] = {0};
        for (int i = 0; i < n_hist; i++) r->scores[r->hist[i].title] = NAN;
        mq_model_score_bin_top(dr->edges, r->scores, b->n_model, cnt);
        for (int k = 0; k < MQ_MODEL_SCORE_BINS; k++)
            if (cnt[k]) atomic_fetch_add_explicit(&dr->counts[k], cnt[k], memory_order_relaxed);
    }
    /* exploration slots: titles from outside the page, with their slot propensities */
    mq_page pg_x;
    const double *xprop = NULL;
    if (!rc && s->o.explore_epsilon > 0) {
        int total = 0;
        for (int i = 0; i < page->n_rows; i++) total = MQ_MAX(total, page->rows[i].first + page->rows[i].n);
        if (total > r->x_cap) {
            int cap = MQ_MAX(total, 2 * r->x_cap);
            int32_t *t = realloc(r->x_titles, (size_t)cap * sizeof *t);
            if (t) r->x_titles = t;
            const char **e = realloc(r->x_ev, (size_t)cap * sizeof *e);
            if (e) r->x_ev = e;
            float *f = realloc(r->x_scores, (size_t)cap * sizeof *f);
            if (f) r->x_scores = f;
            double *d = realloc(r->x_prop, (size_t)cap * sizeof *d);
            if (d) r->x_prop = d;
            if (t && e && f && d) r->x_cap = cap;
            else rc = mq__err_set(&err, MQ_ENOMEM, "out of memory");
        }
        if (!rc) {
            for (int i = 0; i < n_hist; i++) r->hidx[i] = r->hist[i].title;
            mq_rng xrng;
            mq_rng_seed(&xrng, s->o.artwork_seed ^ 0x6a09e667f3bcc909ull ^ seq * 0x9E3779B97F4A7C15ull);
            mq__explore_in xi = {page, b->n_model, b->pc.catalog, genre, r->hidx, n_hist, excl, n_excl, b->imp,
                                 s->o.explore_epsilon, &xrng, r->mark, r->x_titles, r->x_ev, r->x_scores};
            int nx;
            rc = mq__explore_page(&xi, &pg_x, r->x_prop, &nx, &err);
            if (!rc) {
                page = &pg_x;
                xprop = r->x_prop;
            }
        }
    }
    mq__art_page ap = {0};
    uint8_t actx[MQ_ART_DM_MAX];
    mq_page pg_art;
    if (!rc && s->art) {
        /* artwork for the titles shown (the first 50 rows, as logged) */
        int total = 0;
        for (int i = 0; i < page->n_rows && i < 50; i++) total += page->rows[i].n;
        rc = art_decide(s, b, r, &xr, member, page_id, seq, asked, page->titles, total, n_hist, device, (int)hour,
                        actx, &ap, &err);
        if (!rc && ap.n) {
            pg_art = *page;
            pg_art.artwork = ap.json;
            page = &pg_art;
        }
    }
    if (!rc) {
        /* the exposure record is in the log (the page cache) before the page is answered */
        const char *rid[50];
        int rn[50];
        int total = 0;
        for (int i = 0; i < page->n_rows && i < 50; i++) total += page->rows[i].n;
        rc = expo_reserve(r, total);
        for (int i = 0; !rc && i < page->n_rows && i < 50; i++) {
            rid[i] = page->rows[i].id;
            rn[i] = page->rows[i].n;
            for (int j = 0; j < rn[i]; j++) r->xt[page->rows[i].first + j] = b->ids[page->titles[page->rows[i].first + j]];
        }
        if (!rc) rc = expose(s, b, r, MQ__EXPO_ROUTE_HOMEPAGE, member, page_id, mversion, &xr, now,
                             MQ_MIN(page->n_rows, 50), rid, rn, ap.n ? &ap : NULL, xprop, &err);
        if (!rc && s->o.explore_epsilon > 0)    /* impressions weigh only the exploration slots */
            mq__explore_count(b->imp, b->n_model, page->titles, total);
        else mq__err_set(&err, rc, "out of memory");
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
        mq_buf_json_str(&out, mversion, strlen(mversion));
        if (ranked) {
            mq_buf_puts(&out, ",\"ranker\":");
            mq_buf_json_str(&out, rk->version, strlen(rk->version));
        }
        mq__xps_json(&out, b->xps, &xr, page_id);
        mq_buf_printf(&out, ",\"cold_start\":%s,", page->cold ? "true" : "false");
        mq__page_json(page, &pc, &out);
        mq_buf_puts(&out, "}\n");
        hist_add(&s->page_build, mq_now() - t0);
        ret = send_buf(s, c, cs, 200, &out, "application/json");
    }
    mq_trend_release(s->trend_pub, ts);
    reqctx_put(s, r);
    bundle_release(b);
    return ret;
}

/* Merges the titles added at run time into a member's recommendations top[got] (best first):
 * their cold-start scores on the same scale a page gives them (cold_scores over the model's
 * best 500, a default page's candidates) enter where they beat the list's tail. Returns the
 * new count or a negative code. */
static int recs_add_cold(mq_server *s, const bundle *b, const mq_model *model, reqctx *r, int n_hist,
                         int n_pos, int n, int32_t *top, float *sc, int got, mq_err *err)
{
    float cut;
    int k = MQ_MIN(500, b->n_model);
    int rc = mq_model_score_top(model, r->hidx, NULL, n_pos, k, r->scores, &cut, err);
    if (!rc) rc = cold_scores(b, r, n_hist, n_pos, k, cut, err);
    if (rc) return rc;
    int64_t now = server_now(s);
    for (int32_t t = b->n_model; t < b->n_titles; t++) {
        bool seen = !mq__tview_shown(b->tv, t, now);
        for (int i = 0; i < n_hist && !seen; i++) seen = r->hist[i].title == t;
        float v = r->scores[t];
        if (seen || (got == n && !(v > sc[got - 1]))) continue;
        int at = got < n ? got++ : got - 1;
        while (at > 0 && sc[at - 1] < v) { top[at] = top[at - 1]; sc[at] = sc[at - 1]; at--; }
        top[at] = t;
        sc[at] = v;
    }
    return got;
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
    mq__xps_result xr;
    altmodel *am;
    long long now, asked = -1;
    int st = route_assign(s, c, b, member, &xr, &am, &now, &asked, why, sizeof why);
    if (st) { bundle_release(b); return send_error(s, c, cs, st, "%s", why); }
    const mq_model *model = am ? am->m : b->main;
    const char *mversion = am ? am->version : b->version;
    reqctx *r = reqctx_get(s, MQ_MAX(b->n_titles, 1));
    if (!r) { bundle_release(b); return send_error(s, c, cs, 500, "out of memory"); }
    mq_err err = {0, ""};
    int n_hist, n_pos;
    bool known;
    int rc = gather_history(s, b, r, member, &n_hist, &n_pos, &known, &err);
    int32_t *top = malloc((size_t)n * sizeof *top);
    float *sc = malloc((size_t)n * sizeof *sc);
    int32_t *ex = malloc((size_t)(n_hist + mq__tview_n_hidable(b->tv) + 1) * sizeof *ex);
    enum MHD_Result ret;
    if (!top || !sc || !ex) rc = mq__err_set(&err, MQ_ENOMEM, "out of memory");
    int got = 0;
    bool cold = n_pos == 0;
    int64_t tnow = server_now(s);     /* availability windows follow the server clock */
    int rslot;
    const mq__rsv *rk = mq__rsv_pick(&b->rsv, &xr.t, &rslot);
    bool ranked = false;
    if (!rc && !cold && rk) {
        /* the ranker's best candidates by calibrated play probability, history excluded */
        const mq_trend_snap *ts = mq_trend_acquire(s->trend_pub);
        int st2 = rank_scores(s, b, r, rk, rslot, member, -1, ts, &err);
        mq_trend_release(s->trend_pub, ts);
        if (st2 < 0) rc = st2;
        else if (st2 > 0) {
            ranked = true;
            for (int i = 0; i < n_hist; i++) r->scores[r->hist[i].title] = NAN;
            /* titles put at run time are the ranker's unknowns; hidden ones never show */
            for (int32_t t = b->n_model; t < b->n_titles; t++) r->scores[t] = NAN;
            int32_t *hid = excl_reserve(r, mq__tview_n_hidable(b->tv));
            int nh = hid ? mq__tview_hidden(b->tv, tnow, hid) : 0;
            for (int i = 0; i < nh; i++) r->scores[hid[i]] = NAN;
            got = mq__topk(r->scores, b->n_titles, (int)n, top, sc);
            if (explain && got > 0) rc = mq__rsv_explain_prepare(rk, r->rw, top, got, &err);
        }
    }
    if (!rc && !ranked) {
        if (!cold) {
            /* every history title is excluded, also those not fed to the model, and the
             * titles not available now */
            int n_ex = 0;
            for (int i = 0; i < n_hist; i++)
                if (r->hist[i].title < b->n_model) ex[n_ex++] = r->hist[i].title;
            int at = n_ex, nh = mq__tview_hidden(b->tv, tnow, ex + at);
            for (int i = 0; i < nh; i++)
                if (ex[at + i] < b->n_model) ex[n_ex++] = ex[at + i];
            mq_filter f; mq_filter_init(&f, sizeof f); f.exclude = ex, f.n_exclude = n_ex;
            got = mq_model_recommend(model, r->hidx, NULL, n_pos, &f, (int)n, top, sc, &err);
            if (got < 0) rc = got;
            if (!rc && b->n_titles > b->n_model) got = recs_add_cold(s, b, model, r, n_hist, n_pos, (int)n, top, sc, got, &err);
            if (got < 0) rc = got;
        } else {
            for (int32_t k = 0; k < b->n_titles && got < n; k++) {
                int32_t t = b->pc.pop_order[k];
                bool seen = !mq__tview_shown(b->tv, t, tnow);
                for (int i = 0; i < n_hist && !seen; i++) seen = r->hist[i].title == t;
                if (seen) continue;
                top[got] = t;
                sc[got++] = b->pc.popularity[t];
            }
        }
    }
    char page_id[MQ_PAGE_ID_MAX + 1];
    uint64_t seq = atomic_fetch_add(&s->page_seq, 1) + 1;
    mq__xps_page_id(s->boot_id, seq, page_id);
    mq__art_page ap = {0};
    uint8_t actx[MQ_ART_DM_MAX];
    if (!rc) rc = art_decide(s, b, r, &xr, member, page_id, seq, asked, top, got, n_hist, 0, -1, actx, &ap, &err);
    if (!rc && !(rc = expo_reserve(r, MQ_MAX(got, 1)))) {
        for (int i = 0; i < got; i++) r->xt[i] = b->ids[top[i]];
        const char *rid = "recommendations";
        rc = expose(s, b, r, MQ__EXPO_ROUTE_RECS, member, page_id, mversion, &xr, now, 1, &rid, &got, ap.n ? &ap : NULL, NULL, &err);
    } else if (rc == MQ_ENOMEM) mq__err_set(&err, rc, "out of memory");
    if (rc) {
        ret = send_error(s, c, cs, err_status(rc), "%s", err.msg);
    } else {
        mq_buf out;
        mq_buf_init(&out);
        mq_buf_puts(&out, "{\"member\":");
        mq_buf_json_str(&out, member, strlen(member));
        mq_buf_puts(&out, ",\"model_version\":");
        mq_buf_json_str(&out, mversion, strlen(mversion));
        if (ranked) {
            mq_buf_puts(&out, ",\"ranker\":");
            mq_buf_json_str(&out, rk->version, strlen(rk->version));
        }
        mq__xps_json(&out, b->xps, &xr, page_id);
        mq_buf_printf(&out, ",\"cold_start\":%s,\"titles\":[", cold ? "true" : "false");
        /* the explanations of every listed title at once (one factorisation for ials) */
        int32_t *why_all = NULL, *known = NULL;
        float *whyw_all = NULL;
        int *why_n = NULL, n_known = 0;
        if (!cold && explain && got > 0) {
            why_all = malloc((size_t)got * 3 * sizeof *why_all);
            whyw_all = malloc((size_t)got * 3 * sizeof *whyw_all);
            why_n = calloc((size_t)got, sizeof *why_n);
            known = malloc((size_t)got * sizeof *known);    /* the listed titles the model has */
            if (known)
                for (int i = 0; i < got; i++)
                    if (top[i] < b->n_model) known[n_known++] = top[i];
            if (why_all && whyw_all && why_n && known &&
                mq_model_explain_many(model, r->hidx, NULL, n_pos, known, n_known, 3, why_all, whyw_all, why_n,
                                      NULL) < 0)
                memset(why_n, 0, (size_t)got * sizeof *why_n);
        }
        for (int i = 0, k_known = 0; i < got; i++) {
            if (i) mq_buf_putc(&out, ',');
            title_obj(&out, b, top[i]);
            if (ap.n && ap.json[i]) {
                mq_buf_puts(&out, ",\"artwork\":");
                mq_buf_puts(&out, ap.json[i]);
            }
            mq_buf_puts(&out, ",\"score\":");
            mq_buf_json_num(&out, sc[i]);
            bool added = top[i] >= b->n_model;     /* put at run time: no model evidence */
            int at = added ? 0 : k_known++;
            const int32_t *why_t = why_all && !added ? why_all + (size_t)at * 3 : NULL;
            const float *why_w = whyw_all && !added ? whyw_all + (size_t)at * 3 : NULL;
            int nw = why_n && !added ? why_n[at] : 0;
            if (cold) mq_buf_puts(&out, ",\"evidence\":\"Popular on Marquee\"");
            else if (added) mq_buf_puts(&out, ",\"evidence\":\"New on Marquee\"");
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
                if (ranked) mq__rsv_explain_json(rk, r->rw, top[i], 5, &out);
            }
            mq_buf_putc(&out, '}');
        }
        mq_buf_puts(&out, "]}\n");
        free(why_all);
        free(whyw_all);
        free(why_n);
        free(known);
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
    /* ?member=ID: the member looking (assigned to experiments, and the list is an exposure) */
    const char *member = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "member");
    if (member && !valid_id(member))
        return send_error(s, c, cs, 400, "query 'member' must be 1 to %d bytes of UTF-8", MQ_ID_MAX);
    bundle *b = bundle_acquire(s);
    if (!b) return send_error(s, c, cs, 503, "no model loaded");
    enum MHD_Result ret;
    mq__xps_result xr = {0};
    altmodel *am = NULL;
    long long now = xp_now(s), asked = -1;
    if (member) {
        int st = route_assign(s, c, b, member, &xr, &am, &now, &asked, why, sizeof why);
        if (st) { bundle_release(b); return send_error(s, c, cs, st, "%s", why); }
    }
    const char *mversion = am ? am->version : b->version;
    int32_t t = title_index(b, title);
    int64_t tnow = server_now(s);
    reqctx *r = NULL;
    if (t < 0) {
        ret = send_error(s, c, cs, 404, "title '%.255s' is not in the catalog", title);
    } else if (!mq__tview_shown(b->tv, t, tnow)) {
        ret = send_error(s, c, cs, 404, "title '%.255s' is %s", title,
                         mq__tview_withdrawn(b->tv, t) ? "withdrawn" : "not available now (outside its availability window)");
    } else if (!(r = reqctx_get(s, MQ_MAX(b->n_titles, 1)))) {
        ret = send_error(s, c, cs, 500, "out of memory");
    } else {
        int32_t out_t[SIM_N];
        float out_s[SIM_N];
        int got = am ? alt_similar_cb(am, t, SIM_N, out_t, out_s) : similar_cb(b, t, SIM_N, out_t, out_s);
        int kept = 0;       /* titles not available now never show */
        for (int i = 0; i < got && kept < n; i++)
            if (mq__tview_shown(b->tv, out_t[i], tnow)) { out_t[kept] = out_t[i]; out_s[kept++] = out_s[i]; }
        got = kept;
        char page_id[MQ_PAGE_ID_MAX + 1];
        uint64_t seq = atomic_fetch_add(&s->page_seq, 1) + 1;
        mq__xps_page_id(s->boot_id, seq, page_id);
        mq_err err = {0, ""};
        int rc = 0;
        mq__art_page ap = {0};
        uint8_t actx[MQ_ART_DM_MAX];
        if (member && s->art) {
            /* a member looking: the context from their history */
            int n_hist = 0, n_pos;
            bool known;
            rc = gather_history(s, b, r, member, &n_hist, &n_pos, &known, &err);
            if (!rc) rc = art_decide(s, b, r, &xr, member, page_id, seq, asked, out_t, got, n_hist, 0, -1, actx, &ap, &err);
        } else if (s->art) {
            rc = art_decide(s, b, r, NULL, "", page_id, seq, -1, out_t, got, 0, 0, -1, actx, &ap, &err);
        }
        if (!rc && member && !(rc = expo_reserve(r, MQ_MAX(got, 1)))) {
            for (int i = 0; i < got; i++) r->xt[i] = b->ids[out_t[i]];
            char rid[MQ_ID_MAX + 16];
            snprintf(rid, sizeof rid, "similar:%s", title);
            const char *rp = rid;
            rc = expose(s, b, r, MQ__EXPO_ROUTE_SIMILAR, member, page_id, mversion, &xr, now, 1, &rp, &got, ap.n ? &ap : NULL, NULL, &err);
        } else if (rc == MQ_ENOMEM) mq__err_set(&err, rc, "out of memory");
        if (rc) {
            ret = send_error(s, c, cs, err_status(rc), "%s", err.msg);
        } else {
            mq_buf out;
            mq_buf_init(&out);
            mq_buf_puts(&out, "{\"title\":");
            title_obj(&out, b, t);
            mq_buf_puts(&out, "},\"model_version\":");
            mq_buf_json_str(&out, mversion, strlen(mversion));
            mq__xps_json(&out, b->xps, &xr, page_id);
            mq_buf_puts(&out, ",\"titles\":[");
            for (int i = 0; i < got; i++) {
                if (i) mq_buf_putc(&out, ',');
                title_obj(&out, b, out_t[i]);
                if (ap.n && ap.json[i]) {
                    mq_buf_puts(&out, ",\"artwork\":");
                    mq_buf_puts(&out, ap.json[i]);
                }
                mq_buf_puts(&out, ",\"score\":");
                mq_buf_json_num(&out, out_s[i]);
                mq_buf_putc(&out, '}');
            }
            mq_buf_puts(&out, "]}\n");
            ret = send_buf(s, c, cs, 200, &out, "application/json");
        }
    }
    reqctx_put(s, r);
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

/* An optional string field of at most max bytes of UTF-8 (absent: ""). */
static int opt_str(const cJSON *o, const char *name, size_t max, char *dst, int i, char *why, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    dst[0] = 0;
    if (!v) return 0;
    size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
    if (!cJSON_IsString(v) || n == 0 || n > max || !mq__utf8_valid(v->valuestring, n)) {
        snprintf(why, cap, "event %d: field '%s' must be a string of 1 to %zu bytes of UTF-8", i, name, max);
        return -1;
    }
    memcpy(dst, v->valuestring, n + 1);
    return 0;
}

/* Attribution: page_id (a page this server family answered), row (row id), position (0-based
 * within the row), event_id (the client's id for retries). All optional. */
static int parse_attribution(const cJSON *o, int i, mq_event *e, char *why, size_t cap)
{
    if (opt_str(o, "page_id", MQ_PAGE_ID_MAX, e->page_id, i, why, cap) ||
        opt_str(o, "row", MQ_ROW_ID_MAX, e->row, i, why, cap) ||
        opt_str(o, "event_id", MQ_EVENT_ID_MAX, e->event_id, i, why, cap))
        return -1;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "position");
    if (p) {
        if (!cJSON_IsNumber(p) || !(p->valuedouble >= 0 && p->valuedouble <= 1e6) ||
            p->valuedouble != (double)(int32_t)p->valuedouble) {
            snprintf(why, cap, "event %d: field 'position' must be an integer in [0, 1000000] (0-based within the row)", i);
            return -1;
        }
        e->has_position = true;
        e->position = (int32_t)p->valuedouble;
    }
    return 0;
}

static int parse_event(const cJSON *o, int i, int64_t now, mq_event *e, char *why, size_t cap)
{
    if (!cJSON_IsObject(o)) { snprintf(why, cap, "event %d: not a JSON object", i); return -1; }
    memset(e, 0, sizeof *e);
    if (json_id(o, "member", e->member, i, why, cap) || json_id(o, "title", e->title, i, why, cap)) return -1;
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(o, "timestamp");
    if (!ts) e->time = now;
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
    if (!v && e->kind == MQ_EV_RATING) {
        snprintf(why, cap, "event %d: field 'value' is missing: a rating event needs a value", i);
        return -1;
    }
    if (!v) e->value = 1;
    else if (!cJSON_IsNumber(v)) { snprintf(why, cap, "event %d: field 'value' must be a number", i); return -1; }
    else {
        /* the same check as the events CSV loader's */
        const char *bad = mq_event_value_check(e->kind, v->valuedouble);
        if (bad) { snprintf(why, cap, "event %d: field 'value': %.17g %s", i, v->valuedouble, bad); return -1; }
        e->value = (float)v->valuedouble;
    }
    return parse_attribution(o, i, e, why, cap);
}

#define MAX_EVENTS 10000

/* Claims the event ids of a request's events (ev[0..*n), ids eids[i] or NULL) and removes the
 * events already written from ev, so a retry is not logged twice: *n becomes the count to
 * append and cs remembers each claim's position in it. Returns 0, the number of ids another
 * request is writing right now (nothing claimed then), or -1 when out of memory. */
static int claims_take(mq_server *s, conn_state *cs, mq_event *ev, const char **eids, int *n)
{
    int with = 0;
    for (int i = 0; i < *n; i++) with += eids[i] != NULL;
    if (!with) return 0;
    cs->claim_id = calloc((size_t)with, sizeof *cs->claim_id);
    cs->claim_at = malloc((size_t)with * sizeof *cs->claim_at);
    if (!cs->claim_id || !cs->claim_at) return -1;
    double now = mq_now();
    int keep = 0, busy = 0;
    for (int i = 0; i < *n; i++) {
        if (!eids[i]) { ev[keep++] = ev[i]; continue; }
        uint64_t seq;
        int st = mq__dedup_claim(s->dedup, eids[i], now, &seq);
        if (st == MQ_ENOMEM) { busy = -1; break; }
        if (st == MQ__DEDUP_NEW) {
            cs->claim_id[cs->n_claims] = strdup(eids[i]);
            cs->claim_at[cs->n_claims++] = keep;
            if (!cs->claim_id[cs->n_claims - 1]) { busy = -1; break; }
            ev[keep++] = ev[i];
            continue;
        }
        /* written before (or earlier in this request): not again */
        bool mine = false;
        for (int k = 0; k < cs->n_claims && !mine && st == MQ__DEDUP_PENDING; k++)
            mine = !strcmp(cs->claim_id[k], eids[i]);
        if (st == MQ__DEDUP_PENDING && !mine) busy++;
        cs->n_dups++;
    }
    if (busy) {
        for (int k = 0; k < cs->n_claims; k++) {
            if (cs->claim_id[k]) mq__dedup_release(s->dedup, cs->claim_id[k]);
            free(cs->claim_id[k]);
        }
        cs->n_claims = 0;
        return busy;
    }
    atomic_fetch_add(&s->duplicates, (unsigned long long)cs->n_dups);
    *n = keep;
    return 0;
}

/* The append of a request's events finished: first_seq > 0 their sequence in the log (the ids
 * now name those records), 0 when they are not in the log (the ids are free again, so a retry
 * is written). Any thread. */
static void claims_settle(mq_server *s, conn_state *cs, uint64_t first_seq)
{
    for (int k = 0; k < cs->n_claims; k++) {
        if (first_seq) mq__dedup_set(s->dedup, cs->claim_id[k], first_seq + (uint64_t)cs->claim_at[k]);
        else mq__dedup_release(s->dedup, cs->claim_id[k]);
        free(cs->claim_id[k]);
    }
    cs->n_claims = 0;
}

/* The status for a failed append: a full disk 507, the events in the log but the member store
 * behind 503 (they are applied once it recovers), a backlog 429, other log failures 503 (the
 * log tries again at the next request); each with Retry-After (send_buf). */
static int events_failure_status(int rc, uint64_t first_seq)
{
    if (rc == MQ_ENOSPC) return 507;
    if (rc == MQ_EBUSY) return 429;
    if (rc == MQ_EINVAL || rc == MQ_EFORMAT || rc == MQ_ERANGE) return first_seq ? 503 : 400;
    return 503;
}

static void events_failure_msg(mq_server *s, int rc, uint64_t first_seq, int n, char *msg, size_t cap)
{
    mq_evlog_health h;
    mq_evlog_get_health(s->evlog, &h);
    if (first_seq) {
        char store[300];
        pthread_mutex_lock(&s->smu);
        snprintf(store, sizeof store, "%.299s", s->store_msg[0] ? s->store_msg : mq_strerror(rc));
        pthread_mutex_unlock(&s->smu);
        snprintf(msg, cap, "events %llu..%llu are durable in the event log but the member store "
                 "failed (%s): they are applied in order once it recovers; a retry with the same "
                 "event_id is not written twice",
                 (unsigned long long)first_seq, (unsigned long long)(first_seq + (uint64_t)n - 1), store);
    } else if (rc == MQ_EBUSY) {
        snprintf(msg, cap, "%s", h.behind ? "the member store is behind the event log" : "the event log's commit backlog is full");
    } else {
        snprintf(msg, cap, "not written (nothing of this request is in the event log or the store): %.400s",
                 h.msg[0] ? h.msg : mq_strerror(rc));
    }
}

static enum MHD_Result events_ok(mq_server *s, struct MHD_Connection *c, conn_state *cs, int n,
                                 uint64_t first)
{
    atomic_fetch_add(&s->events_accepted, (unsigned long long)n);
    mq_buf out;
    mq_buf_init(&out);
    mq_buf_printf(&out, "{\"accepted\":%d", n);
    if (cs->n_dups) mq_buf_printf(&out, ",\"duplicates\":%d", cs->n_dups);
    if (n)
        mq_buf_printf(&out, ",\"first_seq\":%llu,\"last_seq\":%llu", (unsigned long long)first,
                      (unsigned long long)(first + (uint64_t)n - 1));
    mq_buf_puts(&out, "}\n");
    return send_buf(s, c, cs, 200, &out, "application/json");
}

/* The event log's committer thread: the request's events are durable (or failed). */
static void events_done(void *user, int rc, uint64_t first_seq)
{
    conn_state *cs = user;
    cs->async_rc = rc;
    cs->async_first = first_seq;
    claims_settle(cs->s, cs, first_seq);
    if (rc) events_failure_msg(cs->s, rc, first_seq, cs->async_n, cs->async_msg, sizeof cs->async_msg);
    atomic_store(&cs->async_state, 2);
    MHD_resume_connection(cs->conn);
}

/* The second turn of an events request after its commit. */
static enum MHD_Result events_answer(mq_server *s, struct MHD_Connection *c, conn_state *cs)
{
    atomic_store(&cs->async_state, 0);
    atomic_fetch_sub(&s->async_waiting, 1);
    int rc = cs->async_rc;
    if (rc) return send_error(s, c, cs, events_failure_status(rc, cs->async_first), "%s", cs->async_msg);
    return events_ok(s, c, cs, cs->async_n, cs->async_first);
}

static enum MHD_Result h_events(mq_server *s, struct MHD_Connection *c, conn_state *cs)
{
    if (!cs->body.len) return send_error(s, c, cs, 400, "empty body: expected an event object or an array of events");
    const char *why_strict;
    long bad_at = mq__json_strict(cs->body.p, cs->body.len, &why_strict);
    if (bad_at >= 0) return send_error(s, c, cs, 400, "malformed JSON at byte %ld: %s", bad_at, why_strict);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(cs->body.p, cs->body.len, &end, false);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= cs->body.p && at <= cs->body.p + cs->body.len ? (long)(at - cs->body.p) : -1;
        return send_error(s, c, cs, 400, "malformed JSON near byte %ld", off);
    }
    size_t tail = end && end >= cs->body.p ? (size_t)(end - cs->body.p) : cs->body.len;
    while (tail < cs->body.len && strchr(" \t\r\n", cs->body.p[tail])) tail++;
    if (tail < cs->body.len) {
        cJSON_Delete(j);
        return send_error(s, c, cs, 400, "malformed JSON at byte %zu: text after the JSON value", tail);
    }
    int n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : 1;
    if (n == 0 || n > MAX_EVENTS) {
        cJSON_Delete(j);
        return send_error(s, c, cs, n ? 413 : 400, "%d events in one request (1 to %d allowed)", n, MAX_EVENTS);
    }
    mq_event *ev = malloc((size_t)n * sizeof *ev);
    const char **eids = calloc((size_t)n, sizeof *eids);
    if (!ev || !eids) { free(ev); free(eids); cJSON_Delete(j); return send_error(s, c, cs, 500, "out of memory"); }
    char why[400];
    int i = 0;
    enum MHD_Result ret;
    int64_t now = server_now(s);
    bundle *b = bundle_acquire(s);
    if (cJSON_IsArray(j)) {
        const cJSON *o;
        cJSON_ArrayForEach(o, j) {
            if (parse_event(o, i, now, &ev[i], why, sizeof why)) goto bad;
            eids[i] = ev[i].event_id[0] ? ev[i].event_id : NULL;   /* the stored event_id */
            i++;
        }
    } else if (parse_event(j, 0, now, &ev[0], why, sizeof why)) {
        goto bad;
    } else {
        eids[0] = ev[0].event_id[0] ? ev[0].event_id : NULL;
    }
    if (b)
        for (i = 0; i < n; i++)
            if (title_index(b, ev[i].title) < 0 || mq__tview_withdrawn(b->tv, title_index(b, ev[i].title))) {
                char shown[300];
                mq__printable(ev[i].title, strlen(ev[i].title), shown, sizeof shown);
                ret = send_error(s, c, cs, 404, "event %d: title '%s' is %s", i, shown,
                                 title_index(b, ev[i].title) < 0 ? "not in the catalog" : "withdrawn");
                goto out;
            }
    /* retry-safe events: those whose event_id was written before are not written again */
    int pending = claims_take(s, cs, ev, eids, &n);
    cJSON_Delete(j);
    j = NULL;
    if (pending < 0) { ret = send_error(s, c, cs, 500, "out of memory"); goto out; }
    if (pending > 0) {
        ret = send_error(s, c, cs, 503, "%d event_id(s) of this request are being written by another "
                         "request; retry", pending);
        goto out;
    }
    if (n == 0) { ret = events_ok(s, c, cs, 0, 0); goto out; }
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
            claims_settle(s, cs, 0);
            cs->async_rc = rc;
            cs->async_first = 0;
            snprintf(cs->async_msg, sizeof cs->async_msg, "%s", err.msg);
            atomic_store(&cs->async_state, 2);
            MHD_resume_connection(c);
        }
        ret = MHD_YES;
        goto out;
    }
    first = 0;
    int rc = mq_evlog_append(s->evlog, ev, n, &first, &err);
    /* first stays 0 unless the events are in the log */
    claims_settle(s, cs, first);
    if (rc) {
        char msg[600];
        if (err_status(rc) == 400) snprintf(msg, sizeof msg, "%s", err.msg);
        else events_failure_msg(s, rc, first, n, msg, sizeof msg);
        ret = send_error(s, c, cs, err_status(rc) == 400 ? 400 : events_failure_status(rc, first), "%s", msg);
        goto out;
    }
    ret = events_ok(s, c, cs, n, first);
    goto out;
bad:
    ret = send_error(s, c, cs, 400, "%s", why);
out:
    cJSON_Delete(j);
    free(ev);
    free(eids);
    bundle_release(b);
    return ret;
}

/* GET /v1/experiments and /v1/experiments/{name}/report (src/serve/xp_report.c). */
static enum MHD_Result h_experiments(mq_server *s, struct MHD_Connection *c, conn_state *cs, const char *name)
{
    bundle *b = bundle_acquire(s);
    if (!b) return send_error(s, c, cs, 503, "no model loaded");
    mq_buf o, dj;
    mq_buf_init(&o);
    mq_buf_init(&dj);
    /* the drift of each variant's model, for the report */
    const mq_xp_experiment *xe = name && b->xps ? mq_xp_config_find(&b->xps->xp, name) : NULL;
    for (int v = 0; xe && v < xe->n_variants; v++) {
        const mq__xps_treat *t = &b->xps->treat[(xe - b->xps->xp.exps) * MQ_XP_MAX_VARIANTS + v];
        const drift *d = t->model_slot > 0 ? &b->alt[t->model_slot - 1].drift : &bundle_root(b)->drift;
        const char *mn = t->model_slot > 0 ? b->alt[t->model_slot - 1].name : "main";
        mq_buf_puts(&dj, v ? ",{\"variant\":" : "{\"variant\":");
        mq_buf_json_str(&dj, xe->variants[v], strlen(xe->variants[v]));
        mq_buf_puts(&dj, ",\"model\":");
        mq_buf_json_str(&dj, mn, strlen(mn));
        double psi = drift_psi(d);
        mq_buf_puts(&dj, ",\"psi\":");
        if (isfinite(psi)) mq_buf_json_num(&dj, psi);
        else mq_buf_puts(&dj, "\"unknown\"");
        mq_buf_putc(&dj, '}');
    }
    mq_err err = {0, ""};
    int rc = !s->exlog ? mq__err_set(&err, MQ_ENOTFOUND, "reports need the exposure log (--exposure-log full or summary)")
           : name ? mq__xpr_report(b->xps, s->guard, s->units, name, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "metric"),
                                   mq_buf_cstr(&dj), xp_now(s), &o, &err)
                  : mq__xpr_list(b->xps, s->guard, s->units, xp_now(s), &o, &err);
    bundle_release(b);
    mq_buf_release(&dj);
    if (rc) {
        mq_buf_release(&o);
        return send_error(s, c, cs, err_status(rc), "%s", err.msg);
    }
    return send_buf(s, c, cs, 200, &o, "application/json");
}

/* GET /v1/experiments/{name}/timeline, POST .../variants/{v}/stop|advance (src/serve/xp_ops.c). */
static enum MHD_Result h_xp_ops(mq_server *s, struct MHD_Connection *c, conn_state *cs)
{
    bundle *b = bundle_acquire(s);
    if (!b) return send_error(s, c, cs, 503, "no model loaded");
    mq_buf o;
    mq_buf_init(&o);
    mq_err err = {0, ""};
    int rc = !s->exlog ? mq__err_set(&err, MQ_ENOTFOUND, "experiments need the exposure log (--exposure-log full or summary)")
           : cs->route == R_XP_TIMELINE
           ? mq__xpo_timeline(b->xps, s->guard, s->units, cs->id, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "metric"),
                              xp_now(s), &o, &err)
           : mq__xpo_action(b->xps, s->guard, s->units, cs->id, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "reason"),
                            xp_now(s), b->served, s->exlog, &o, &err);
    bundle_release(b);
    if (rc) {
        mq_buf_release(&o);
        return send_error(s, c, cs, err_status(rc), "%s", err.msg);
    }
    return send_buf(s, c, cs, 200, &o, "application/json");
}

/* GET /v1/models: the bundle's models (main, pop, trending, the treatments'), console.c writes each. */
static enum MHD_Result h_models(mq_server *s, struct MHD_Connection *c, conn_state *cs)
{
    bundle *b = bundle_acquire(s);
    if (!b) return send_error(s, c, cs, 503, "no model loaded");
    mq_buf o;
    mq_buf_init(&o);
    mq_buf_puts(&o, "{\"models\":[");
    mq__console_model_json(&o, "main", b->version, b->main, drift_psi(&bundle_root(b)->drift));
    const struct { const char *role; const mq_model *m; } more[2] = {{"pop", b->pop}, {"trending", b->trend}};
    for (int k = 0; k < 2; k++)
        if (more[k].m && more[k].m != b->main) {
            char v[200];
            snprintf(v, sizeof v, "%s", mq_model_kind(more[k].m));
            mq_buf_putc(&o, ',');
            mq__console_model_json(&o, more[k].role, v, more[k].m, NAN);
        }
    for (int k = 0; k < b->n_alt; k++) {
        mq_buf_putc(&o, ',');
        mq__console_model_json(&o, b->alt[k].name, b->alt[k].version, b->alt[k].m, drift_psi(&b->alt[k].drift));
    }
    mq_buf_puts(&o, "]}\n");
    bundle_release(b);
    return send_buf(s, c, cs, 200, &o, "application/json");
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
    if (s->exlog) {
        mq__exlog_stats xs;
        mq__exlog_get_stats(s->exlog, &xs);
        mq_buf_printf(&o, "# HELP marquee_exposure_log_records Records in the exposure log.\n"
                          "# TYPE marquee_exposure_log_records gauge\nmarquee_exposure_log_records %llu\n"
                          "# HELP marquee_exposure_log_syncs_total Background fdatasyncs of the exposure log.\n"
                          "# TYPE marquee_exposure_log_syncs_total counter\nmarquee_exposure_log_syncs_total %llu\n",
                      (unsigned long long)xs.records, (unsigned long long)xs.syncs);
    }
    mq__xpg_metrics(s->guard, &o);
    if (s->art) mq__art_metrics(s->art, &o);
    mq_buf_printf(&o, "# HELP marquee_exposure_log_failures_total Pages refused because their exposure could not be logged.\n"
                      "# TYPE marquee_exposure_log_failures_total counter\nmarquee_exposure_log_failures_total %llu\n",
                  atomic_load(&s->exposures_failed));
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
        mq_buf_puts(&o, "# HELP marquee_model_score_psi Population Stability Index of the live pages' best-100 scores "
                        "against the model's training deciles (NaN: unknown, an old artifact or no pages yet).\n"
                        "# TYPE marquee_model_score_psi gauge\n");
        mq_buf_puts(&o, "marquee_model_score_psi{model=\"main\"} ");
        mq_buf_printf(&o, "%.6g\n", drift_psi(&bundle_root(b)->drift));
        for (int k = 0; k < b->n_alt; k++) {
            mq_buf_puts(&o, "marquee_model_score_psi{model=");
            mq_buf_json_str(&o, b->alt[k].name, strlen(b->alt[k].name));
            mq_buf_printf(&o, "} %.6g\n", drift_psi(&b->alt[k].drift));
        }
        mq_buf_printf(&o, "# HELP marquee_similar_lists_cached Titles whose similar-titles list is "
                          "computed (of marquee_model_info's titles).\n"
                          "# TYPE marquee_similar_lists_cached gauge\nmarquee_similar_lists_cached %d\n",
                      atomic_load(&bundle_root(b)->sim_cached));
        if (b->n_alt)
            mq_buf_puts(&o, "# HELP marquee_treatment_similar_lists_cached Titles whose similar-titles list is "
                            "computed, per treatment model of the experiments (warmed after main's).\n"
                            "# TYPE marquee_treatment_similar_lists_cached gauge\n");
        for (int k = 0; k < b->n_alt; k++) {
            mq_buf_puts(&o, "marquee_treatment_similar_lists_cached{model=");
            mq_buf_json_str(&o, b->alt[k].name, strlen(b->alt[k].name));
            mq_buf_printf(&o, "} %d\n", atomic_load(&b->alt[k].sim_cached));
        }
        mq_buf_printf(&o, "# HELP marquee_catalog_added_titles Titles put at run time (PUT /v1/titles) that the "
                          "model was not trained on, withdrawn ones included.\n"
                          "# TYPE marquee_catalog_added_titles gauge\nmarquee_catalog_added_titles %d\n",
                      b->n_titles - b->n_model);
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
    mq_evlog_health lh;
    mq_evlog_get_health(s->evlog, &lh);
    mq_buf_printf(&o, "# HELP marquee_requests_shed_total Requests answered 503 because they waited over the --shed-queue-ms limit.\n"
                      "# TYPE marquee_requests_shed_total counter\nmarquee_requests_shed_total %llu\n"
                      "# HELP marquee_connection_timeouts_total Connections closed for sending headers or body too slowly.\n"
                      "# TYPE marquee_connection_timeouts_total counter\nmarquee_connection_timeouts_total %llu\n"
                      "# HELP marquee_open_connections Connections open now.\n"
                      "# TYPE marquee_open_connections gauge\nmarquee_open_connections %d\n"
                      "# HELP marquee_events_duplicate_total Events not written again: their event_id was written before.\n"
                      "# TYPE marquee_events_duplicate_total counter\nmarquee_events_duplicate_total %llu\n"
                      "# HELP marquee_event_log_write_failures_total Commits refused because a write or fsync failed (e.g. disk full).\n"
                      "# TYPE marquee_event_log_write_failures_total counter\nmarquee_event_log_write_failures_total %llu\n"
                      "# HELP marquee_store_behind_events Logged events the member store has not applied (it failed).\n"
                      "# TYPE marquee_store_behind_events gauge\nmarquee_store_behind_events %llu\n",
                  atomic_load(&s->shed), (unsigned long long)mq__guard_timeouts(s->conn_wd),
                  mq__guard_open_count(s->conn_wd), atomic_load(&s->duplicates),
                  (unsigned long long)lh.write_failures, (unsigned long long)lh.behind);
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

/* Matches "<prefix>{id}<suffix>": 0 no match, 1 match with a valid id copied to id, -1 a
 * match whose id is not 1..MQ_ID_MAX bytes of UTF-8 without '/' (why says how). The URL is
 * already percent-decoded, so "%ff" arrives as the byte 0xff. */
static int match_id(const char *url, const char *prefix, const char *suffix, char *id,
                    char *why, size_t cap)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), ul = strlen(url);
    if (ul < pl + sl || strncmp(url, prefix, pl) != 0 || strcmp(url + ul - sl, suffix) != 0) return 0;
    size_t il = ul - pl - sl;
    const char *p = url + pl;
    char shown[80];
    mq__printable(p, MQ_MIN(il, (size_t)40), shown, sizeof shown);
    if (il == 0) { snprintf(why, cap, "empty id"); return -1; }
    if (il > MQ_ID_MAX) { snprintf(why, cap, "id of %zu bytes (at most %d)", il, MQ_ID_MAX); return -1; }
    if (memchr(p, '/', il)) return 0;      /* another route's shape */
    if (!mq__utf8_valid(p, il)) { snprintf(why, cap, "id '%s' is not valid UTF-8", shown); return -1; }
    memcpy(id, p, il);
    id[il] = 0;
    return 1;
}

/* The route of a request (cs->route, cs->id); a route with a bad id is 400 at once. */
static int route_of(const char *url, conn_state *cs, char *why, size_t cap)
{
    static const struct { const char *prefix, *suffix; int route; const char *what; } shaped[] = {
        {"/v1/members/", "/homepage", R_HOMEPAGE, "member"},
        {"/v1/members/", "/recommendations", R_RECS, "member"},
        {"/v1/titles/", "/similar", R_SIMILAR, "title"},
        {"/v1/experiments/", "/report", R_XP_REPORT, "experiment"},
        {"/v1/experiments/", "/timeline", R_XP_TIMELINE, "experiment"},
        {"/v1/titles/", "", R_TITLE, "title"},
    };
    why[0] = 0;
    if (!strcmp(url, "/healthz")) return R_HEALTHZ;
    if (!strcmp(url, "/readyz")) return R_READYZ;
    if (!strcmp(url, "/metrics")) return R_METRICS;
    if (!strcmp(url, "/v1/events")) return R_EVENTS;
    if (!strcmp(url, "/v1/admin/reload")) return R_RELOAD;
    if (!strcmp(url, "/v1/experiments")) return R_XP;
    if (!strcmp(url, "/v1/models")) return R_MODELS;
    if (!strcmp(url, "/v1/titles")) return R_TITLES;
    /* POST /v1/experiments/{name}/variants/{v}/stop|advance: the tail goes to xp_ops.c */
    size_t ul = strlen(url);
    if (!strncmp(url, "/v1/experiments/", 16) && strstr(url + 16, "/variants/") &&
        ((ul > 21 && !strcmp(url + ul - 5, "/stop")) || (ul > 24 && !strcmp(url + ul - 8, "/advance")))) {
        if (ul - 16 > MQ_ID_MAX) snprintf(why, cap, "experiment path of %zu bytes (at most %d)", ul - 16, MQ_ID_MAX);
        else strcpy(cs->id, url + 16);
        return R_XP_ACTION;
    }
    for (size_t k = 0; k < sizeof shaped / sizeof shaped[0]; k++) {
        char w[200];
        int m = match_id(url, shaped[k].prefix, shaped[k].suffix, cs->id, w, sizeof w);
        if (m == 0) continue;
        if (m < 0) snprintf(why, cap, "bad %s id in the path: %s", shaped[k].what, w);
        return shaped[k].route;
    }
    return R_OTHER;
}

/* Readiness (separate from liveness, /healthz): a model is loaded, the event log can write
 * (its last write succeeded, or the file system has room again) and the member store has
 * applied everything logged. Answers 200 {"status":"ready"} or 503 with the reasons. */
#define READY_FREE_BYTES (64 << 10)     /* room for a few hundred events */

static enum MHD_Result h_readyz(mq_server *s, struct MHD_Connection *c, conn_state *cs)
{
    mq_buf b;
    mq_buf_init(&b);
    int n_bad = 0;
    mq_buf_puts(&b, "{\"reasons\":[");
    bundle *bd = bundle_acquire(s);
    if (!bd) { mq_buf_puts(&b, "\"no model loaded\""); n_bad++; }
    bundle_release(bd);
    mq_err err;
    mq_evlog_catch_up(s->evlog, &err);      /* a store that recovered takes its backlog now */
    mq_evlog_health h;
    mq_evlog_get_health(s->evlog, &h);
    char line[1200];
    if (h.failed || (h.code && !(h.free_bytes >= READY_FREE_BYTES))) {
        snprintf(line, sizeof line, "event log: %s", h.msg);
        if (n_bad++) mq_buf_putc(&b, ',');
        mq_buf_json_str(&b, line, strlen(line));
    }
    if (h.behind) {
        snprintf(line, sizeof line, "member store: %llu logged events not applied yet (%s)",
                 (unsigned long long)h.behind, h.store_msg);
        if (n_bad++) mq_buf_putc(&b, ',');
        mq_buf_json_str(&b, line, strlen(line));
    }
    mq_buf_printf(&b, "],\"status\":\"%s\"}\n", n_bad ? "not ready" : "ready");
    return send_buf(s, c, cs, n_bad ? 503 : 200, &b, "application/json");
}

/* What can be decided from the request line and headers alone, before any of the body is
 * read: the route (404), the method (405), the id in the path (400), the declared body size
 * (413, at once, even when no body follows) and the API key (401: an unauthenticated client
 * cannot make the server buffer anything). Returns true when it answered. */
static bool early_answer(mq_server *s, struct MHD_Connection *c, conn_state *cs, const char *url,
                         const char *method, enum MHD_Result *ret)
{
    char why[300];
    int route = route_of(url, cs, why, sizeof why);
    cs->route = route;
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    if (route == R_OTHER && get && mq__console_owns(url)) {     /* the web console: console.c */
        cs->console = true;     /* answered once the request is complete (keeps keep-alive) */
        return false;
    }
    if (route == R_OTHER) {
        char m[80], u[300];
        mq__printable(method, strlen(method), m, sizeof m);
        mq__printable(url, strlen(url), u, sizeof u);
        *ret = send_error(s, c, cs, 404, "no route for %s %s", m, u);
        return true;
    }
    bool writes = route == R_EVENTS || route == R_RELOAD || route == R_XP_ACTION;
    if (route == R_TITLE) {     /* GET, PUT (add or replace a title), DELETE (withdraw it) */
        cs->method = get ? 'G' : !strcmp(method, "PUT") ? 'P' : !strcmp(method, "DELETE") ? 'D' : 0;
        writes = cs->method == 'P' || cs->method == 'D';
    }
    if (route == R_TITLE ? !cs->method : writes ? !post : !get) {
        char m[80];
        mq__printable(method, strlen(method), m, sizeof m);
        *ret = send_error(s, c, cs, 405, "%s is not allowed on this route (%s)", m,
                          route == R_TITLE ? "GET, PUT, DELETE" : writes ? "POST" : "GET");
        return true;
    }
    if (why[0]) { *ret = send_error(s, c, cs, 400, "%s", why); return true; }
    if (s->api_key_len && (writes || (s->o.keyed_reads && route != R_HEALTHZ && route != R_READYZ)) &&
        !key_ok(s, c)) {
        *ret = send_error(s, c, cs, 401, "missing or wrong API key (Authorization: Bearer <key>)");
        return true;
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno == ERANGE || v > s->o.max_body) {
            *ret = send_error(s, c, cs, 413, "request body of %s bytes is over the limit of %zu bytes", cl,
                              s->o.max_body);
            return true;
        }
    }
    return false;
}

/* Load shedding: a request that waited longer than the limit in the kernel before a thread
 * got to it is answered 503 at once, so the requests that are served keep their latency
 * instead of every request queueing ever longer. The limit is --shed-queue-ms, or by default
 * adaptive (CoDel, limits.c: 250 ms while the queue drains, 5 ms once it stood
 * for a 100 ms interval). Operator
 * routes are never shed. */
static bool shed(mq_server *s, struct MHD_Connection *c, conn_state *cs, enum MHD_Result *ret)
{
    if (s->o.shed_queue_ms < 0 || cs->route > R_EVENTS) return false;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int waited = ci ? mq__socket_wait_ms(ci->connect_fd) : -1;
    if (waited < 0) return false;
    double limit = s->o.shed_queue_ms > 0 ? s->o.shed_queue_ms
                 : mq__codel_limit(&s->codel, waited, (long long)(mq_now() * 1e6));
    if (waited <= limit) return false;
    atomic_fetch_add_explicit(&s->shed, 1, memory_order_relaxed);
    if (cs->route != R_EVENTS) {
        /* no body follows: answer on the next call, which keeps the connection alive (an
         * answer before the end of a request makes libmicrohttpd close the connection) */
        cs->shed_waited = waited;
        cs->shed_limit = limit;
        return false;
    }
    *ret = send_error(s, c, cs, 503, "overloaded: the request waited %d ms for a thread (limit %g ms)",
                      waited, limit);
    return true;
}

/* POST /v1/admin/reload loads the models on a thread of its own while the connection is
 * suspended: a load takes from tens of milliseconds to seconds, and on an HTTP thread it would
 * hold up every request queued behind it on that thread's event loop. */
static void *reload_main(void *arg)
{
    conn_state *cs = arg;
    mq_err err = {0, ""};
    cs->async_rc = mq_server_reload(cs->s, &err);
    snprintf(cs->async_msg, sizeof cs->async_msg, "%s", err.msg);
    atomic_store(&cs->async_state, 2);
    MHD_resume_connection(cs->conn);
    return NULL;
}

static enum MHD_Result reload_start(mq_server *s, struct MHD_Connection *c, conn_state *cs)
{
    cs->conn = c;
    atomic_store(&cs->async_state, 1);
    atomic_fetch_add(&s->async_waiting, 1);
    MHD_suspend_connection(c);
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &at, reload_main, cs) != 0) {
        cs->async_rc = MQ_ENOMEM;
        snprintf(cs->async_msg, sizeof cs->async_msg, "cannot start a reload thread");
        atomic_store(&cs->async_state, 2);
        MHD_resume_connection(c);
    }
    pthread_attr_destroy(&at);
    return MHD_YES;
}

static enum MHD_Result reload_answer(mq_server *s, struct MHD_Connection *c, conn_state *cs)
{
    atomic_store(&cs->async_state, 0);
    atomic_fetch_sub(&s->async_waiting, 1);
    if (cs->async_rc)
        return send_error(s, c, cs, 500, "reload failed, the previous model keeps serving: %s", cs->async_msg);
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

/* /v1/titles/{id} (titles.c, docs/API.md "New titles"): GET the title as the catalog has it;
 * PUT adds or replaces it and DELETE withdraws it, each written to the catalog log (durable
 * before the answer) and published as a new catalog view, so the next page has it. Writers
 * are serialized with reloads by reload_mu; pages never wait on them. */
/* Title t's artwork as pages serve it, as a JSON array of {"id", "features"}: a model title's
 * from the dataset's catalog (the artwork bandit's, through m2ds), a title put at run time
 * from the catalog view's. */
static void title_artwork(mq_buf *o, const mq_server *s, const bundle *b, int32_t t)
{
    const mq_catalog *acat = b->pc.catalog;
    int32_t at = t;
    if (s->art && b->m2ds && t < b->n_model && b->m2ds[t] >= 0 && s->data->catalog.art_ptr) {
        acat = &s->data->catalog;
        at = b->m2ds[t];
    }
    mq_buf_putc(o, '[');
    for (int64_t q = acat->art_ptr ? acat->art_ptr[at] : 0; acat->art_ptr && q < acat->art_ptr[at + 1]; q++) {
        mq_buf_puts(o, q > acat->art_ptr[at] ? ",{\"id\":" : "{\"id\":");
        mq_buf_json_str(o, acat->art_ids[q], strlen(acat->art_ids[q]));
        mq_buf_puts(o, ",\"features\":[");
        for (const char *f = acat->art_features[q] ? acat->art_features[q] : ""; *f;) {
            size_t len = strcspn(f, ";");
            if (f > acat->art_features[q]) mq_buf_putc(o, ',');
            mq_buf_json_str(o, f, len);
            f += len + (f[len] == ';');
        }
        mq_buf_puts(o, "]}");
    }
    mq_buf_putc(o, ']');
}

static void title_answer(mq_buf *o, const mq_server *s, const bundle *b, int32_t t, int64_t now)
{
    mq_buf_putc(o, '{');
    mq_buf_put(o, b->pc.title_json[t], (size_t)b->pc.title_json_len[t]);
    const mq_catalog *cat = b->pc.catalog;
    mq_buf_puts(o, ",\"tags\":[");
    for (int64_t q = cat->tag_ptr ? cat->tag_ptr[t] : 0; cat->tag_ptr && q < cat->tag_ptr[t + 1]; q++) {
        if (q > cat->tag_ptr[t]) mq_buf_putc(o, ',');
        const char *tn = cat->tag_names[cat->tag_ids[q]];
        mq_buf_json_str(o, tn, strlen(tn));
    }
    mq_buf_puts(o, "],\"artwork\":");
    title_artwork(o, s, b, t);
    int64_t from, until;
    mq__tview_window(b->tv, t, &from, &until);
    if (from != INT64_MIN) mq_buf_printf(o, ",\"available_from\":%lld", (long long)from);
    if (until != INT64_MAX) mq_buf_printf(o, ",\"available_until\":%lld", (long long)until);
    mq_buf_printf(o, ",\"added\":%s,\"withdrawn\":%s,\"available\":%s}",
                  t >= b->n_model ? "true" : "false", mq__tview_withdrawn(b->tv, t) ? "true" : "false",
                  mq__tview_shown(b->tv, t, now) ? "true" : "false");
}

static enum MHD_Result h_title(mq_server *s, struct MHD_Connection *c, conn_state *cs)
{
    const char *id = cs->id;
    int64_t now = server_now(s);
    mq_err err = {0, ""};
    int rc = 0, status = 200;
    bool created = false;
    if (cs->method != 'G') {
        pthread_mutex_lock(&s->reload_mu);
        bundle *cur = s->cur;       /* stable: only reload_mu holders replace it */
        int32_t t = title_index(cur, id);
        if (cs->method == 'D' && (t < 0 || mq__tview_withdrawn(cur->tv, t))) {
            rc = mq__err_set(&err, MQ_ENOTFOUND, "title '%.255s' is %s", id, t < 0 ? "not in the catalog" : "already withdrawn");
        } else if (cs->method == 'D') {
            rc = mq__titles_delete(s->titles, id, &err);
        } else {
            created = t < 0 || mq__tview_withdrawn(cur->tv, t);
            rc = mq__titles_put(s->titles, id, cs->body.p ? cs->body.p : "", cs->body.len,
                                mq_model_catalog(cur->main), now, &err);
        }
        double t0 = mq_now();
        struct timespec c0, c1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
        if (!rc && (rc = publish_view(s, &err)))
            mq__err_set(&err, rc, "the title is saved in the catalog log but not yet served (%s); it is "
                        "served after the next reload", err.msg);
        int32_t n_view = s->cur->n_titles;     /* cur may be gone: the new view's */
        double build_ms = 1e3 * (mq_now() - t0);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        double cpu_ms = 1e3 * (double)(c1.tv_sec - c0.tv_sec) + 1e-6 * (double)(c1.tv_nsec - c0.tv_nsec);
        pthread_mutex_unlock(&s->reload_mu);
        if (rc) {
            status = rc == MQ_EINVAL ? 400 : rc == MQ_ENOTFOUND ? 404 : rc == MQ_ENOSPC ? 507 : rc == MQ_ENOMEM ? 500 : 503;
            return send_error(s, c, cs, status, "%s", err.msg);
        }
        mq__logf(&s->log, "serve: title '%s' %s (catalog view of %d titles published in %.1f ms, %.1f ms CPU)", id,
                 cs->method == 'D' ? "withdrawn" : created ? "added" : "replaced", n_view, build_ms, cpu_ms);
    }
    bundle *b = bundle_acquire(s);
    if (!b) return send_error(s, c, cs, 503, "no model loaded");
    int32_t t = title_index(b, id);
    enum MHD_Result ret;
    if (t < 0) {
        char shown[300];
        mq__printable(id, strlen(id), shown, sizeof shown);
        ret = send_error(s, c, cs, 404, "title '%s' is not in the catalog", shown);
    } else {
        mq_buf o;
        mq_buf_init(&o);
        if (cs->method == 'P') mq_buf_printf(&o, "{\"created\":%s,\"title\":", created ? "true" : "false");
        else if (cs->method == 'D') mq_buf_puts(&o, "{\"withdrawn\":true,\"title\":");
        title_answer(&o, s, b, t, now);
        if (cs->method != 'G') mq_buf_putc(&o, '}');
        mq_buf_putc(&o, '\n');
        ret = send_buf(s, c, cs, status, &o, "application/json");
    }
    bundle_release(b);
    return ret;
}

/* GET /v1/titles?ids=A,B,...[&fields=artwork]: several titles at once, each as GET
 * /v1/titles/{id} answers it, or only its id and artwork (the console's artwork tags for a
 * page); unknown ids are listed under "missing". */
#define TITLES_MAX 1000
static enum MHD_Result h_titles(mq_server *s, struct MHD_Connection *c, conn_state *cs)
{
    const char *ids = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ids");
    const char *fields = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fields");
    if (!ids || !*ids) return send_error(s, c, cs, 400, "query parameter 'ids' (comma-separated title ids) is required");
    if (fields && strcmp(fields, "artwork")) {
        char shown[80];
        mq__printable(fields, MQ_MIN(strlen(fields), (size_t)40), shown, sizeof shown);
        return send_error(s, c, cs, 400, "query parameter 'fields': '%s' is not 'artwork'", shown);
    }
    bundle *b = bundle_acquire(s);
    if (!b) return send_error(s, c, cs, 503, "no model loaded");
    int64_t now = server_now(s);
    mq_buf o, miss;
    mq_buf_init(&o);
    mq_buf_init(&miss);
    mq_buf_puts(&o, "{\"titles\":[");
    int n = 0, n_miss = 0, n_ok = 0;
    char id[MQ_ID_MAX + 1], why[320] = "";
    for (const char *p = ids; *p && !why[0]; n++) {
        size_t len = strcspn(p, ",");
        char shown[80];
        mq__printable(p, MQ_MIN(len, (size_t)40), shown, sizeof shown);
        if (n == TITLES_MAX) snprintf(why, sizeof why, "more than %d ids", TITLES_MAX);
        else if (len == 0 || len > MQ_ID_MAX || !mq__utf8_valid(p, len))
            snprintf(why, sizeof why, "id %d ('%s') is empty, longer than %d bytes or not UTF-8", n + 1, shown, MQ_ID_MAX);
        else {
            memcpy(id, p, len);
            id[len] = 0;
            int32_t t = title_index(b, id);
            if (t < 0) {
                if (n_miss++) mq_buf_putc(&miss, ',');
                mq_buf_json_str(&miss, id, len);
            } else {
                if (n_ok++) mq_buf_putc(&o, ',');
                if (fields) {
                    mq_buf_puts(&o, "{\"id\":");
                    mq_buf_json_str(&o, id, len);
                    mq_buf_puts(&o, ",\"artwork\":");
                    title_artwork(&o, s, b, t);
                    mq_buf_putc(&o, '}');
                } else {
                    title_answer(&o, s, b, t, now);
                }
            }
        }
        p += len + (p[len] == ',');
    }
    bundle_release(b);
    if (why[0]) {
        mq_buf_release(&o);
        mq_buf_release(&miss);
        return send_error(s, c, cs, 400, "query parameter 'ids': %s", why);
    }
    mq_buf_puts(&o, "],\"missing\":[");
    mq_buf_put(&o, miss.p ? miss.p : "", miss.len);
    mq_buf_puts(&o, "]}\n");
    mq_buf_release(&miss);
    return send_buf(s, c, cs, 200, &o, "application/json");
}

static enum MHD_Result dispatch(mq_server *s, struct MHD_Connection *c, conn_state *cs, const char *url)
{
    if (cs->console)
        return mq__console_answer(c, url, s->o.models, !s->api_key_len || !s->o.keyed_reads || key_ok(s, c));
    if (cs->shed_waited)
        return send_error(s, c, cs, 503, "overloaded: the request waited %d ms for a thread (limit %g ms)",
                          cs->shed_waited, cs->shed_limit);
    if (cs->too_big) return send_error(s, c, cs, 413, "request body over %zu bytes", s->o.max_body);
    switch (cs->route) {
    case R_HEALTHZ: {
        mq_buf b;
        mq_buf_init(&b);
        mq_buf_puts(&b, "{\"status\":\"ok\"}\n");
        return send_buf(s, c, cs, 200, &b, "application/json");
    }
    case R_READYZ: return h_readyz(s, c, cs);
    case R_METRICS: return h_metrics(s, c, cs);
    case R_HOMEPAGE: return h_homepage(s, c, cs, cs->id);
    case R_RECS: return h_recs(s, c, cs, cs->id);
    case R_SIMILAR: return h_similar(s, c, cs, cs->id);
    case R_EVENTS: return h_events(s, c, cs);
    case R_XP: case R_XP_REPORT: return h_experiments(s, c, cs, cs->route == R_XP ? NULL : cs->id);
    case R_XP_TIMELINE: case R_XP_ACTION: return h_xp_ops(s, c, cs);
    case R_MODELS: return h_models(s, c, cs);
    case R_RELOAD: return reload_start(s, c, cs);
    case R_TITLE: return h_title(s, c, cs);
    case R_TITLES: return h_titles(s, c, cs);
    }
    return send_error(s, c, cs, 500, "unrouted");
}

static mq__conn *conn_guard(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    mq_server *s = cls;
    conn_state *cs = *con_cls;
    if (!cs) {
        /* the headers are in: decide what needs no body before reading any of it */
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        cs->t0 = mq_now();
        cs->s = s;
        cs->gc = conn_guard(c);
        mq_buf_init(&cs->body);
        *con_cls = cs;
        enum MHD_Result ret;
        if (early_answer(s, c, cs, url, method, &ret) || shed(s, c, cs, &ret)) {
            cs->answered = true;
            mq__guard_phase(cs->gc, MQ__CONN_ANSWER);
            return ret;
        }
        mq__guard_phase(cs->gc, cs->route == R_EVENTS || cs->route == R_RELOAD || cs->method == 'P'
                                    ? MQ__CONN_BODY : MQ__CONN_ANSWER);
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!cs->too_big && !cs->answered) {
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
    if (cs->answered) return MHD_YES;
    mq__guard_phase(cs->gc, MQ__CONN_ANSWER);
    int as = atomic_load(&cs->async_state);
    if (as == 2) return cs->route == R_RELOAD ? reload_answer(s, c, cs) : events_answer(s, c, cs);
    if (as == 1) return MHD_YES;        /* spurious call while suspended */
    int inflight = atomic_fetch_add(&s->inflight, 1) + 1;
    enum MHD_Result ret;
    if (inflight > s->o.max_inflight) {
        ret = send_error(s, c, cs, 503, "overloaded: %d requests in flight", inflight - 1);
    } else {
        ret = dispatch(s, c, cs, url);
    }
    atomic_fetch_sub(&s->inflight, 1);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    conn_state *cs = *con_cls;
    if (!cs) return;
    mq_server *s = cls;
    /* the next request on this connection has header_timeout from now */
    mq__guard_phase(cs->gc, MQ__CONN_HEADERS);
    claims_settle(s, cs, 0);   /* only claims of a request that never reached the log remain */
    free(cs->claim_id);
    free(cs->claim_at);
    mq_buf_release(&cs->body);
    free(cs);
    *con_cls = NULL;
}

/* Connections open and close: registered with the deadline watchdog (limits.c). */
static void notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    mq_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? mq__guard_open(s->conn_wd, ci->connect_fd) : NULL;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        mq__guard_close(s->conn_wd, *socket_context);
        *socket_context = NULL;
    }
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
/* The replay at open refills the window of client event ids from the log, which stores each
 * event's event_id: an id whose event time is within the window is remembered with its
 * sequence, aged by its event time, so a retry after a restart is still not written twice. */
static void dedup_refill(mq_server *s, const mq_event *ev, int n, uint64_t first_seq)
{
    int64_t now = server_now(s);
    double mono = mq_now();
    for (int i = 0; i < n; i++) {
        if (!ev[i].event_id[0]) continue;
        double age = (double)(now - ev[i].time);
        if (age > s->o.dedup_window) continue;
        if (age < 0) age = 0;
        uint64_t seq;
        if (mq__dedup_claim(s->dedup, ev[i].event_id, mono - age, &seq) == MQ__DEDUP_NEW)
            mq__dedup_set(s->dedup, ev[i].event_id, first_seq + (uint64_t)i);
    }
}

static int store_apply_cb(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    mq_server *s = user;
    if (s->replaying) dedup_refill(s, ev, n, first_seq);
    if (s->art && !s->replaying) mq__art_events(s->art, ev, n);
    if (s->units && mq__xpc_events(s->units, ev, n, first_seq, units_now(s)))
        mq__logf(&s->log, "serve: experiment units: out of memory counting events (a restart recounts them)");
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
    if (rc) {
        mq__logf(&s->log, "serve: store update failed: %s", err.msg);
        pthread_mutex_lock(&s->smu);
        snprintf(s->store_msg, sizeof s->store_msg, "%s", err.msg);
        pthread_mutex_unlock(&s->smu);
    }
    return rc;
}

/* The experiments checker: once a second, the due guardrail checks and ramp steps of the
 * current experiments (src/serve/xp_guard.c); every DRIFT_SAVE_EVERY seconds, the drift
 * counts to their state file (xp_drift.c). */
#define DRIFT_SAVE_EVERY 5
static void *guard_main(void *arg)
{
    mq_server *s = arg;
    for (unsigned long tick = 1; !atomic_load(&s->guard_quit); tick++) {
        for (int i = 0; i < 10 && !atomic_load(&s->guard_quit); i++) usleep(100000);
        mq_err derr = {0, ""};
        if (tick % DRIFT_SAVE_EVERY == 0 && mq__drifts_save(s->drifts, &derr))
            mq__logf(&s->log, "serve: drift state: %s", derr.msg);
        bundle *b = bundle_acquire(s);
        if (b && b->xps) {
            mq_err err = {0, ""};
            if (mq__xpg_check(s->guard, b->xps, s->units, xp_now(s), b->served, b->vstats, s->exlog, &err))
                mq__logf(&s->log, "serve: experiments check failed: %s", err.msg);
        }
        bundle_release(b);
    }
    return NULL;
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
    mq_server_opts ov; int orc = MQ__OPTS_GET(mq_server_opts, &ov, o, err); if (orc) return orc; o = &ov;
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
    pthread_mutex_init(&s->smu, NULL);
    if (!(s->o.trending_refresh > 0) && !(s->o.trending_refresh < 0)) s->o.trending_refresh = 1.0;
    if (!(s->o.header_timeout > 0)) s->o.header_timeout = 10;
    if (!(s->o.body_timeout > 0)) s->o.body_timeout = 30;
    if (s->o.max_connections_per_ip <= 0) s->o.max_connections_per_ip = 256;
    mq__codel_init(&s->codel, 5, 100, 250, 16);
    if (s->o.dedup_ids <= 0) s->o.dedup_ids = 1000000;
    if (!(s->o.dedup_window > 0)) s->o.dedup_window = 86400;
    s->started = mq_now();
    s->trend_pub = mq_trend_pub_create();
    s->conn_wd = mq__guard_create(s->o.header_timeout, s->o.body_timeout);
    s->dedup = mq__dedup_create(s->o.dedup_ids, s->o.dedup_window);
    if (!s->trend_pub || !s->conn_wd || !s->dedup) {
        mq_trend_pub_destroy(s->trend_pub);
        mq__guard_destroy(s->conn_wd);
        mq__dedup_destroy(s->dedup);
        free(s);
        return mq__err_set(err, MQ_ENOMEM, "out of memory");
    }
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
        mq_load_opts lo; mq_load_opts_init(&lo, sizeof lo);
        lo.log = &s->log;
        lo.private_copy = true;     /* the server holds it for hours: see mq_model_load_private */
        rc = mq_data_open(o->data, &lo, &s->data, err);
        if (rc) goto fail;
    }
    /* the exposure log (default <models>/exposures) and the experiments' state beside it,
     * before the first bundle and page */
    s->boot_id = mq__xps_boot_id();
    snprintf(s->exposures, sizeof s->exposures, "%s", o->exposures ? o->exposures : "");
    if (!o->exposures) snprintf(s->exposures, sizeof s->exposures, "%s/exposures", o->models);
    if ((rc = mq__mkdir_p(s->exposures, err)) || (rc = mq__xpg_open(s->exposures, &s->log, &s->guard, err)) ||
        (rc = mq__drifts_open(s->exposures, &s->log, &s->drifts, err))) goto fail;
    /* the catalog log (titles put at run time), replayed before the first view is built */
    snprintf(s->catalog, sizeof s->catalog, "%s", o->catalog ? o->catalog : "");
    if (!o->catalog) snprintf(s->catalog, sizeof s->catalog, "%s/catalog", o->models);
    if ((rc = mq__titles_open(s->catalog, &s->log, &s->titles, err))) goto fail;
    {
        uint64_t recs;
        int nt = mq__titles_count(s->titles, &recs);
        mq__logf(&s->log, "serve: catalog log %s: %llu records, %d titles put or withdrawn", s->catalog,
                 (unsigned long long)recs, nt);
    }
    rc = mq_server_reload(s, err);
    if (rc) goto fail;
    /* the clock: the data's last event (the trending seed's time) is where event time starts */
    atomic_store(&s->latest_event, s->cur->trend_as_of);
    if (s->o.clock == MQ_CLOCK_OFFSET) {
        s->clock_offset = s->cur->trend_as_of > 0 ? (int64_t)time(NULL) - s->cur->trend_as_of : 0;
        mq__logf(&s->log, "serve: --clock offset: the data's last event (unix %lld) is now; time runs on from it",
                 (long long)s->cur->trend_as_of);
    }
    if (s->o.exposure_log != MQ__EXPO_OFF) {
        rc = mq__exlog_open(s->exposures, 0, &s->log, &s->exlog, err);
        if (rc) goto fail;
        mq__exlog_stats xs;
        mq__exlog_get_stats(s->exlog, &xs);
        mq__logf(&s->log, "serve: exposure log %s (%s): %llu records", s->exposures,
                 s->o.exposure_log == MQ__EXPO_SUMMARY ? "summary" : "full", (unsigned long long)xs.records);
        /* the experiments' units: from the exposure log now, from the event log's replay below
         * (without --experiments no experiment can appear in this process: none kept) */
        mq_xp_collect_opts co; mq_xp_collect_opts_init(&co, sizeof co);
        co.events = s->events; co.exposures = s->exposures; co.pre_days = 14;
        co.finish_seconds = s->o.finish_seconds;
        if (s->o.experiments && (rc = mq__xpc_open_live(&co, xp_now(s), &s->units, err))) goto fail;
        if (s->units && s->o.clock == MQ_CLOCK_EVENT) mq__xpc_keep_times(s->units);
    }
    /* the log's identity, so replicas sharing a Redis store keep separate applied sequences */
    char log_id[16];
    mq_evlog_id(s->events, log_id);
    mq_store_opts so; mq_store_opts_init(&so, sizeof so);
    so.finish_seconds = s->o.finish_seconds; so.pool = s->o.threads + 2; so.log_id = log_id;
    rc = mq_store_open(s->store_spec, &so, &s->store, err);
    if (rc) goto fail;
    uint64_t applied;
    rc = mq_store_applied_seq(s->store, &applied, err);
    if (rc) goto fail;
    /* the whole log is replayed: the trending counters count every record, the store only
     * those after what it applied */
    s->store_applied = applied;
    mq_evlog_opts lo; mq_evlog_opts_init(&lo, sizeof lo);
    lo.fsync = s->o.fsync; lo.apply = store_apply_cb; lo.apply_user = s; lo.applied_seq = 0;
    lo.log = &s->log;
    s->replaying = true;
    rc = mq_evlog_open(s->events, &lo, &s->evlog, err);
    s->replaying = false;
    if (rc) goto fail;
    mq_evlog_stats ls;
    mq_evlog_get_stats(s->evlog, &ls);
    if (applied > ls.records && (rc = store_rederive(s, applied, ls.records, err))) goto fail;
    /* the artwork bandit when the catalog has artwork (rebuilt from both logs) */
    const char *apol = s->o.artwork_policy ? s->o.artwork_policy : "linucb";
    if (s->data && s->data->catalog.art_ptr && strcmp(apol, "off")) {
        mq__art_opts ao = {.window_s = s->o.artwork_window, .seed = s->o.artwork_seed, .refresh_s = 1};
        mq_art_policy_init(&ao.policy, sizeof ao.policy);
        if ((rc = mq_art_policy_parse(apol, &ao.policy, err))) goto fail;
        if ((rc = mq__art_open(s->data, &ao, s->exposures, s->events, &s->log, &s->art, err))) goto fail;
    }
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
    if (pthread_create(&s->guard_thread, NULL, guard_main, s) != 0) {
        rc = mq__err_set(err, MQ_ENOMEM, "serve: cannot start the experiments checker thread");
        goto fail;
    }
    s->guard_started = true;
    mq__logf(&s->log, "serve: trending: %llu events counted from the log, half-life %g days, "
             "refreshed every %g s%s", (unsigned long long)mq_trend_counted(s->trend),
             s->o.trending_half_life > 0 ? s->o.trending_half_life
             : s->cur->trend_half_life_days > 0 ? s->cur->trend_half_life_days : TREND_DEFAULT_HALF_LIFE_DAYS,
             fabs(s->o.trending_refresh), s->o.trending_refresh < 0 ? " (off: Trending Now stays the seed)" : "");
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
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->o.max_connections_per_ip,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, notify_connection, s,
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

int mq_clock_parse(const char *s)
{
    if (!strcmp(s, "wall")) return MQ_CLOCK_WALL;
    if (!strcmp(s, "event")) return MQ_CLOCK_EVENT;
    if (!strcmp(s, "offset")) return MQ_CLOCK_OFFSET;
    return -1;
}

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
    if (s->guard_started) {
        atomic_store(&s->guard_quit, true);
        pthread_join(s->guard_thread, NULL);
    }
    mq_evlog_close(s->evlog);
    mq__art_close(s->art);
    mq__exlog_close(s->exlog);
    mq__xpc_destroy(s->units);
    mq__xpg_close(s->guard);
    if (s->drifts && s->d) {   /* a server that served: its last drift counts */
        mq_err derr = {0, ""};
        if (mq__drifts_save(s->drifts, &derr)) mq__logf(&s->log, "serve: drift state: %s", derr.msg);
    }
    mq__drifts_close(s->drifts);
    mq__titles_close(s->titles);
    mq_store_close(s->store);
    mq__guard_destroy(s->conn_wd);
    mq__dedup_destroy(s->dedup);
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
    pthread_mutex_destroy(&s->smu);
    pthread_cond_destroy(&s->tcv);
    free(s);
}
