/* artwork.c: the server's artwork bandit: decisions on pages, rewards from events, the learner
 * rebuilt from the logs.
 *
 * Decisions. A served list (homepage, recommendations, similar) gets one artwork per title that
 * has artwork (the dataset catalog's artwork.csv), chosen by the member's policy (the server's
 * --artwork-policy, or an experiment's "artwork_policy" treatment) from the current published
 * state (mq_art_snap) with mq_art_decide: each choice is stochastic with its exact propensity.
 * The RNG of a page is seeded from (--artwork-seed, member, the page's sequence number since
 * start-up), so a server restarted on the same logs makes the same decisions for the same
 * requests. The decisions, the policy and the member context go to the exposure log (version 2
 * records, exposure.c).
 *
 * Learning. One learner (mq_art_stats: ridge statistics over member x artwork features, and
 * per-artwork counts) serves every policy. Every decided title of an answered list is an
 * impression; a "play" event that names the list's page_id and a position, on a title of that
 * list, within the reward window (default 30 minutes of event time after the page; up to a
 * minute before it is taken as clock skew) rewards that title's impression with 1, once. Pages
 * wait for their rewards in a pending table (the last --artwork-pending pages, FIFO; a page
 * pushed out early loses its later rewards, counted as marquee_artwork_pages_dropped_total).
 * Impressions are folded into the statistics by the publisher thread (not the request
 * thread), which every --artwork-refresh seconds copies the statistics under the lock and
 * builds the next snapshot (a d x d inverse) outside it; request threads swap to the new one
 * on their next page.
 *
 * Start-up. The statistics are rebuilt from the logs: every version 2 exposure record's
 * impressions, then every logged play matched against those pages (all of them, so a rebuild
 * counts a reward the live server missed only when its pending table overflowed). The sums
 * are exact (bandit_artwork.c), so the rebuilt state equals the live one bit for bit. The
 * state is also saved atomically to <exposures>/artwork_state.bin (every minute and at stop);
 * when the logs hold no artwork decisions (the exposure log was off or removed) the file is
 * where the learner resumes from, and when both exist and differ the logs win (logged).
 *
 * Thread safety: mu guards the statistics and the pending table; smu the current snapshot's
 * reference count. Request threads hold mu only to append a page or match a reward.
 */
#include "serve/serve.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct pend {
    char page_id[MQ_PAGE_ID_MAX + 1];
    int64_t time;
    uint8_t ctx[MQ_ART_DM_MAX];
    int n;
    bool counted;               /* impressions folded into the statistics */
    int64_t *art;               /* [n] global artwork, -1 none */
    int32_t *title;             /* [n] dataset title */
    uint8_t *rewarded;          /* [n] */
} pend;

typedef struct snapref {
    mq_art_snap *sn;
    int refs;
} snapref;

struct mq__art {
    mq__art_opts o;
    const mq_dataset *d;
    mq_art_space *space;
    char **json;                /* [n_art] the artwork id as a JSON string */
    mq_log log;
    char state_path[4200];
    pthread_mutex_t mu;
    mq_art_stats *st, *pub;     /* live statistics; the copy a snapshot is built from */
    pend *pg;                   /* pending pages [head, n_pg) live */
    int64_t head, n_pg, cap_pg;
    int64_t *hash;              /* [nb] page index + 1, 0 empty */
    int64_t nb, hash_used;
    bool dirty;
    uint64_t dropped;
    pthread_mutex_t smu;
    snapref *cur;
    uint64_t version;
    pthread_t thread;
    pthread_cond_t cv;
    bool stop, started;
    double saved_at;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* ---- the pending table ---- */

static void pend_free(pend *p)
{
    free(p->art);
    free(p->title);
    free(p->rewarded);
    memset(p, 0, sizeof *p);
}

static int rehash(mq__art *a)
{
    int64_t live = a->n_pg - a->head, nb = 1024;
    while (nb < 4 * (live + 1)) nb *= 2;
    int64_t *h = calloc((size_t)nb, sizeof *h);
    if (!h) return MQ_ENOMEM;
    for (int64_t i = a->head; i < a->n_pg; i++) {
        uint64_t k = hash_str(a->pg[i].page_id) & (uint64_t)(nb - 1);
        while (h[k]) k = (k + 1) & (uint64_t)(nb - 1);
        h[k] = i + 1;
    }
    free(a->hash);
    a->hash = h;
    a->nb = nb;
    a->hash_used = live;
    return 0;
}

static pend *pend_find(mq__art *a, const char *page_id)
{
    if (!a->nb) return NULL;
    uint64_t k = hash_str(page_id) & (uint64_t)(a->nb - 1);
    for (; a->hash[k]; k = (k + 1) & (uint64_t)(a->nb - 1)) {
        int64_t i = a->hash[k] - 1;
        if (i >= a->head && !strcmp(a->pg[i].page_id, page_id)) return &a->pg[i];
    }
    return NULL;
}

/* Appends a page (taking its arrays). mu held. limit: pages kept (0 = no limit: the rebuild). */
static int pend_add(mq__art *a, pend *p, int64_t limit)
{
    while (limit && a->n_pg - a->head >= limit) {
        pend *old = &a->pg[a->head];
        if (!old->counted) mq_art_stats_add_page(a->st, old->ctx, old->art, old->n);
        bool waiting = false;
        for (int i = 0; i < old->n && !waiting; i++) waiting = old->art[i] >= 0 && !old->rewarded[i];
        a->dropped += waiting && old->time + (int64_t)a->o.window_s > p->time;
        pend_free(old);
        a->head++;
    }
    if (a->head > 0 && a->head >= a->n_pg / 2 && a->n_pg == a->cap_pg) {   /* compact */
        memmove(a->pg, a->pg + a->head, (size_t)(a->n_pg - a->head) * sizeof *a->pg);
        a->n_pg -= a->head;
        a->head = 0;
        if (rehash(a)) return MQ_ENOMEM;
    }
    if (a->n_pg == a->cap_pg) {
        int64_t cap = a->cap_pg ? 2 * a->cap_pg : 256;
        pend *q = realloc(a->pg, (size_t)cap * sizeof *q);
        if (!q) return MQ_ENOMEM;
        a->pg = q;
        a->cap_pg = cap;
    }
    a->pg[a->n_pg++] = *p;
    if (2 * (a->hash_used + 1) > a->nb) return rehash(a);
    uint64_t k = hash_str(p->page_id) & (uint64_t)(a->nb - 1);
    while (a->hash[k]) k = (k + 1) & (uint64_t)(a->nb - 1);
    a->hash[k] = a->n_pg;
    a->hash_used++;
    return 0;
}

/* One event against the pending pages. mu held. */
static void reward(mq__art *a, const mq_event *e)
{
    if (e->kind != MQ_EV_PLAY || !e->page_id[0] || !e->has_position) return;
    pend *p = pend_find(a, e->page_id);
    if (!p) return;
    int64_t dt = e->time - p->time;
    if (dt < -60 || dt > (int64_t)a->o.window_s) return;
    int32_t t = mq_idmap_find(a->d->title_ids, e->title, strlen(e->title));
    for (int i = 0; i < p->n; i++)
        if (p->title[i] == t && p->art[i] >= 0 && !p->rewarded[i]) {
            p->rewarded[i] = 1;
            mq_art_stats_add_reward(a->st, p->ctx, p->art[i], 1);
            a->dirty = true;
            return;
        }
}

/* ---- snapshots ---- */

static snapref *snap_get(mq__art *a)
{
    pthread_mutex_lock(&a->smu);
    snapref *r = a->cur;
    if (r) r->refs++;
    pthread_mutex_unlock(&a->smu);
    return r;
}

static void snap_put(mq__art *a, snapref *r)
{
    if (!r) return;
    pthread_mutex_lock(&a->smu);
    bool last = --r->refs == 0;
    pthread_mutex_unlock(&a->smu);
    if (last) {
        mq_art_snap_destroy(r->sn);
        free(r);
    }
}

/* Folds the pending impressions, copies the statistics and publishes a new snapshot. */
static int publish(mq__art *a, bool save, mq_err *err)
{
    pthread_mutex_lock(&a->mu);
    for (int64_t i = a->head; i < a->n_pg; i++)
        if (!a->pg[i].counted) {
            mq_art_stats_add_page(a->st, a->pg[i].ctx, a->pg[i].art, a->pg[i].n);
            a->pg[i].counted = true;
        }
    mq_art_stats_copy(a->pub, a->st);
    a->dirty = false;
    uint64_t v = ++a->version;
    pthread_mutex_unlock(&a->mu);
    snapref *r = calloc(1, sizeof *r);
    if (!r) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    snapref *prev = snap_get(a);
    int rc = mq_art_snap_create(a->pub, v, prev ? prev->sn : NULL, 0, &r->sn, err);
    snap_put(a, prev);
    if (rc) { free(r); return rc; }
    r->refs = 1;
    pthread_mutex_lock(&a->smu);
    snapref *old = a->cur;
    a->cur = r;
    pthread_mutex_unlock(&a->smu);
    snap_put(a, old);
    if (save && a->state_path[0]) {
        rc = mq_art_stats_save(a->pub, NULL, a->state_path, err);
        a->saved_at = mq_now();
    }
    return rc;
}

int mq__art_publish(mq__art *a, mq_err *err) { return publish(a, false, err); }

static void *publisher(void *arg)
{
    mq__art *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double w = a->o.refresh_s > 0 ? a->o.refresh_s : 1;
        ts.tv_sec += (time_t)w;
        ts.tv_nsec += (long)((w - (double)(time_t)w) * 1e9);
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&a->cv, &a->mu, &ts);
        if (a->stop) break;
        bool pending = a->dirty;
        for (int64_t i = a->head; i < a->n_pg && !pending; i++) pending = !a->pg[i].counted;
        if (!pending) continue;
        pthread_mutex_unlock(&a->mu);
        mq_err err = {0, ""};
        if (publish(a, mq_now() - a->saved_at > 60, &err)) mq__logf(&a->log, "serve: artwork: %s", err.msg);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ---- rebuild from the logs ---- */

typedef struct rb { mq__art *a; int rc; mq_err *err; } rb;

static int rb_expo(void *user, const mq__expo_rec *r, uint64_t seq)
{
    rb *x = user;
    mq__art *a = x->a;
    if (!r->art || r->route > MQ__EXPO_ROUTE_SIMILAR || r->art_dm != mq_art_space_dm(a->space)) return 0;
    pend p = {0};
    snprintf(p.page_id, sizeof p.page_id, "%.*s", r->page_id.n, r->page_id.p);
    p.time = r->art_time;
    memcpy(p.ctx, r->art_ctx, (size_t)r->art_dm);
    p.n = (int)r->n_titles;
    p.art = malloc((size_t)MQ_MAX(p.n, 1) * sizeof *p.art);
    p.title = malloc((size_t)MQ_MAX(p.n, 1) * sizeof *p.title);
    p.rewarded = calloc((size_t)MQ_MAX(p.n, 1), 1);
    if (!p.art || !p.title || !p.rewarded) { pend_free(&p); return x->rc = mq__err_set(x->err, MQ_ENOMEM, "out of memory"); }
    const unsigned char *at = r->rows;
    mq__expo_str row, ts[256];
    int nt;
    uint32_t i = 0;
    const mq_catalog *c = &a->d->catalog;
    while (mq__expo_rows_next(r, &at, &row, ts, 256, &nt))
        for (int j = 0; j < nt && i < r->n_titles; j++, i++) {
            int v;
            double pr;
            mq__expo_art(r, i, &v, &pr);
            int32_t t = j < 256 ? mq_idmap_find(a->d->title_ids, ts[j].p, (size_t)ts[j].n) : -1;
            p.title[i] = t;
            p.art[i] = t >= 0 && v != 255 && v < c->art_ptr[t + 1] - c->art_ptr[t] ? c->art_ptr[t] + v : -1;
        }
    p.n = (int)i;
    mq_art_stats_add_page(a->st, p.ctx, p.art, p.n);
    p.counted = true;
    if (pend_add(a, &p, 0)) { pend_free(&p); return x->rc = mq__err_set(x->err, MQ_ENOMEM, "out of memory"); }
    return 0;
}

static int rb_events(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    rb *x = user;
    for (int i = 0; i < n; i++) reward(x->a, &ev[i]);
    return 0;
}

static bool dir_exists(const char *p)
{
    struct stat sb;
    return p && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* ---- open / close ---- */

void mq__art_close(mq__art *a)
{
    if (!a) return;
    if (a->started) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
        mq_err err = {0, ""};
        if (publish(a, true, &err)) mq__logf(&a->log, "serve: artwork: saving the state: %s", err.msg);
    }
    snap_put(a, a->cur);
    for (int64_t i = a->head; i < a->n_pg; i++) pend_free(&a->pg[i]);
    free(a->pg);
    free(a->hash);
    for (int64_t k = 0; a->json && a->space && k < a->d->catalog.n_artworks; k++) free(a->json[k]);
    free(a->json);
    mq_art_stats_destroy(a->st);
    mq_art_stats_destroy(a->pub);
    mq_art_space_destroy(a->space);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->smu);
    pthread_cond_destroy(&a->cv);
    free(a);
}

int mq__art_open(const mq_dataset *d, const mq__art_opts *o, const char *exposures, const char *events,
                 const mq_log *log, mq__art **out, mq_err *err)
{
    *out = NULL;
    mq__art *a = calloc(1, sizeof *a);
    if (!a) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    a->o = *o;
    if (!(a->o.window_s > 0)) a->o.window_s = 1800;
    if (a->o.pending <= 0) a->o.pending = 65536;
    if (log) a->log = *log;
    a->d = d;
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->smu, NULL);
    pthread_cond_init(&a->cv, NULL);
    int rc = mq_art_space_create(&d->catalog, &a->space, err);
    if (!rc) rc = mq_art_stats_create(a->space, 1.0, &a->st, err);
    if (!rc) rc = mq_art_stats_create(a->space, 1.0, &a->pub, err);
    if (rc) goto fail;
    a->json = calloc((size_t)d->catalog.n_artworks, sizeof *a->json);
    if (!a->json) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
    for (int64_t k = 0; k < d->catalog.n_artworks; k++) {
        mq_buf b;
        mq_buf_init(&b);
        const char *id = d->catalog.art_ids[k] ? d->catalog.art_ids[k] : "";
        mq_buf_json_str(&b, id, strlen(id));
        if (b.oom || !(a->json[k] = strdup(mq_buf_cstr(&b)))) { mq_buf_release(&b); rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
        mq_buf_release(&b);
    }
    if (exposures) snprintf(a->state_path, sizeof a->state_path, "%s/artwork_state.bin", exposures);
    /* rebuild: impressions from the exposure log, then rewards from the event log */
    double t0 = mq_now();
    rb x = {a, 0, err};
    if (dir_exists(exposures) && (rc = mq__exlog_scan(exposures, rb_expo, &x, err))) goto fail;
    if (x.rc) { rc = x.rc; goto fail; }
    if (dir_exists(events) && (rc = mq_evlog_scan(events, rb_events, &x, err))) goto fail;
    int64_t logged = a->n_pg - a->head;
    while (a->n_pg - a->head > a->o.pending) pend_free(&a->pg[a->head++]);
    if ((rc = rehash(a))) { rc = mq__err_set(err, rc, "out of memory"); goto fail; }
    double imp, rew;
    mq_art_stats_totals(a->st, &imp, &rew);
    struct stat sb;
    if (a->state_path[0] && stat(a->state_path, &sb) == 0) {
        mq_art_stats *f = NULL;
        mq_err e2 = {0, ""};
        if (mq_art_stats_load(a->space, a->state_path, &f, NULL, &e2))
            mq__logf(&a->log, "serve: artwork: ignoring the state file: %s", e2.msg);
        else if (logged == 0) {
            mq_art_stats_copy(a->st, f);
            mq_art_stats_totals(a->st, &imp, &rew);
            mq__logf(&a->log, "serve: artwork: the logs hold no artwork decisions: resuming from %s", a->state_path);
        } else if (mq_art_stats_digest(f) != mq_art_stats_digest(a->st))
            mq__logf(&a->log, "serve: artwork: %s differs from the logs (newer decisions or rewards were logged after "
                     "it was saved): the logs win", a->state_path);
        mq_art_stats_destroy(f);
    }
    mq__logf(&a->log, "serve: artwork: %lld artworks, %d tags x %d context features; learner rebuilt from %lld "
             "logged pages (%.0f impressions, %.0f rewards) in %.2f s",
             (long long)d->catalog.n_artworks, mq_art_space_df(a->space), mq_art_space_dm(a->space),
             (long long)logged, imp, rew, mq_now() - t0);
    if ((rc = publish(a, false, err))) goto fail;
    a->saved_at = mq_now();
    if (pthread_create(&a->thread, NULL, publisher, a)) { rc = mq__err_set(err, MQ_EIO, "artwork: cannot start a thread"); goto fail; }
    a->started = true;
    *out = a;
    return 0;
fail:
    mq__art_close(a);
    return rc;
}

/* ---- per request ---- */

int32_t mq__art_dm(const mq__art *a) { return mq_art_space_dm(a->space); }

void mq__art_context(const mq__art *a, const int32_t *ds_titles, const float *weight, int n, int device,
                     int hour, uint8_t *ctx)
{
    uint64_t g[256];
    float w[256];
    int m = 0;
    const mq_catalog *c = &a->d->catalog;
    for (int i = 0; i < n && m < 256; i++) {
        if (ds_titles[i] < 0 || !c->genres) continue;
        g[m] = c->genres[ds_titles[i]];
        w[m++] = weight ? weight[i] : 1;
    }
    mq_art_context(a->space, g, w, m, device, hour, ctx);
}

int mq__art_decide(mq__art *a, mq__art_page *p, mq_err *err)
{
    mq_art_policy pol = a->o.policy;
    if (p->kind >= 0) { pol.kind = p->kind; pol.param = p->param; }
    p->policy = pol.kind;
    snapref *r = snap_get(a);
    if (!r) return mq__err_set(err, MQ_EINVAL, "artwork: no published state");
    mq_rng rng;
    mq_rng_seed(&rng, mix64(a->o.seed ^ mix64(hash_str(p->member) ^ mix64(p->page_seq))));
    int rc = mq_art_decide(r->sn, &pol, p->ctx, p->titles, p->n, &rng, p->choice, p->prop, err);
    snap_put(a, r);
    if (rc) return rc;
    const mq_catalog *c = &a->d->catalog;
    for (int i = 0; i < p->n; i++) {
        p->variant[i] = p->choice[i] >= 0 ? (uint8_t)(p->choice[i] - c->art_ptr[p->titles[i]]) : 255;
        p->json[i] = p->choice[i] >= 0 ? a->json[p->choice[i]] : NULL;
    }
    return 0;
}

int mq__art_record(mq__art *a, const mq__art_page *p, mq_err *err)
{
    pend q = {0};
    snprintf(q.page_id, sizeof q.page_id, "%s", p->page_id);
    q.time = p->time;
    memcpy(q.ctx, p->ctx, (size_t)mq_art_space_dm(a->space));
    q.n = p->n;
    q.art = malloc((size_t)MQ_MAX(p->n, 1) * sizeof *q.art);
    q.title = malloc((size_t)MQ_MAX(p->n, 1) * sizeof *q.title);
    q.rewarded = calloc((size_t)MQ_MAX(p->n, 1), 1);
    if (!q.art || !q.title || !q.rewarded) { pend_free(&q); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    memcpy(q.art, p->choice, (size_t)p->n * sizeof *q.art);
    memcpy(q.title, p->titles, (size_t)p->n * sizeof *q.title);
    pthread_mutex_lock(&a->mu);
    int rc = pend_add(a, &q, a->o.pending);
    pthread_mutex_unlock(&a->mu);
    if (rc) { pend_free(&q); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    return 0;
}

void mq__art_events(mq__art *a, const mq_event *ev, int n)
{
    bool any = false;
    for (int i = 0; i < n && !any; i++) any = ev[i].kind == MQ_EV_PLAY && ev[i].page_id[0] && ev[i].has_position;
    if (!any) return;
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < n; i++) reward(a, &ev[i]);
    pthread_mutex_unlock(&a->mu);
}

uint32_t mq__art_digest(mq__art *a)
{
    pthread_mutex_lock(&a->mu);
    for (int64_t i = a->head; i < a->n_pg; i++)
        if (!a->pg[i].counted) {
            mq_art_stats_add_page(a->st, a->pg[i].ctx, a->pg[i].art, a->pg[i].n);
            a->pg[i].counted = true;
        }
    uint32_t dg = mq_art_stats_digest(a->st);
    pthread_mutex_unlock(&a->mu);
    return dg;
}

void mq__art_metrics(mq__art *a, mq_buf *out)
{
    uint32_t dg = mq__art_digest(a);
    pthread_mutex_lock(&a->mu);
    double imp, rew;
    mq_art_stats_totals(a->st, &imp, &rew);
    int64_t waiting = a->n_pg - a->head;
    uint64_t v = a->version, dropped = a->dropped;
    pthread_mutex_unlock(&a->mu);
    mq_buf_printf(out, "# HELP marquee_artwork_impressions_total Artwork decisions of answered lists folded into the learner.\n"
                  "# TYPE marquee_artwork_impressions_total counter\nmarquee_artwork_impressions_total %.0f\n"
                  "# HELP marquee_artwork_rewards_total Plays that rewarded an artwork decision (page, position, window).\n"
                  "# TYPE marquee_artwork_rewards_total counter\nmarquee_artwork_rewards_total %.0f\n"
                  "# HELP marquee_artwork_pending_pages Pages waiting for rewards.\n"
                  "# TYPE marquee_artwork_pending_pages gauge\nmarquee_artwork_pending_pages %lld\n"
                  "# HELP marquee_artwork_pages_dropped_total Pages pushed out of the pending table inside their reward window.\n"
                  "# TYPE marquee_artwork_pages_dropped_total counter\nmarquee_artwork_pages_dropped_total %llu\n"
                  "# HELP marquee_artwork_state_version Published learner states since start-up.\n"
                  "# TYPE marquee_artwork_state_version gauge\nmarquee_artwork_state_version %llu\n"
                  "# HELP marquee_artwork_state_digest CRC-32C of the learner state (equal digests, equal states).\n"
                  "# TYPE marquee_artwork_state_digest gauge\nmarquee_artwork_state_digest %u\n",
                  imp, rew, (long long)waiting, (unsigned long long)dropped, (unsigned long long)v, dg);
}

/* ---- the logs as a bandit log (`marquee bandit export`) ---- */

typedef struct xrow { uint64_t title; double prop; float reward; uint8_t variant; uint8_t policy; } xrow;
typedef struct xpage { char page_id[MQ_PAGE_ID_MAX + 1]; int64_t time; int64_t first; int n; uint8_t ctx[MQ_ART_DM_MAX]; } xpage;

typedef struct xctx {
    const mq_artwork_export_opts *o;
    xrow *row;
    int64_t n_row, cap_row;
    xpage *pg;
    int64_t n_pg, cap_pg;
    int64_t *hash;
    int64_t nb;
    int dm;
    int policy;                 /* -1: all */
    mq_err *err;
    int rc;
} xctx;

static int x_expo(void *user, const mq__expo_rec *r, uint64_t seq)
{
    xctx *x = user;
    if (!r->art || r->forced || r->route > MQ__EXPO_ROUTE_SIMILAR) return 0;
    if (x->policy >= 0 && r->art_policy != x->policy) return 0;
    if (x->dm < 0) x->dm = r->art_dm;
    if (r->art_dm != x->dm)
        return x->rc = mq__err_set(x->err, MQ_EFORMAT, "exposure log: records with %d and %d context features "
                                   "(the catalog changed): export one period at a time", x->dm, r->art_dm);
    if (x->n_pg == x->cap_pg) {
        int64_t cap = x->cap_pg ? 2 * x->cap_pg : 1024;
        xpage *p = realloc(x->pg, (size_t)cap * sizeof *p);
        if (!p) return x->rc = mq__err_set(x->err, MQ_ENOMEM, "out of memory");
        x->pg = p;
        x->cap_pg = cap;
    }
    if (x->n_row + r->n_titles > x->cap_row) {
        int64_t cap = MQ_MAX(2 * x->cap_row, x->n_row + (int64_t)r->n_titles + 4096);
        xrow *p = realloc(x->row, (size_t)cap * sizeof *p);
        if (!p) return x->rc = mq__err_set(x->err, MQ_ENOMEM, "out of memory");
        x->row = p;
        x->cap_row = cap;
    }
    xpage *p = &x->pg[x->n_pg++];
    snprintf(p->page_id, sizeof p->page_id, "%.*s", r->page_id.n, r->page_id.p);
    p->time = r->art_time;
    p->first = x->n_row;
    memcpy(p->ctx, r->art_ctx, (size_t)r->art_dm);
    const unsigned char *at = r->rows;
    mq__expo_str row, ts[256];
    int nt;
    uint32_t i = 0;
    while (mq__expo_rows_next(r, &at, &row, ts, 256, &nt))
        for (int j = 0; j < nt && i < r->n_titles; j++, i++) {
            int v;
            double pr;
            mq__expo_art(r, i, &v, &pr);
            if (v == 255 || j >= 256) continue;
            char id[MQ_ID_MAX + 1];
            snprintf(id, sizeof id, "%.*s", ts[j].n, ts[j].p);
            x->row[x->n_row++] = (xrow){hash_str(id), pr, 0, (uint8_t)v, (uint8_t)r->art_policy};
        }
    p->n = (int)(x->n_row - p->first);
    return 0;
}

static int x_events(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    xctx *x = user;
    for (int i = 0; i < n; i++) {
        const mq_event *e = &ev[i];
        if (e->kind != MQ_EV_PLAY || !e->page_id[0] || !e->has_position || !x->nb) continue;
        uint64_t k = hash_str(e->page_id) & (uint64_t)(x->nb - 1);
        for (; x->hash[k]; k = (k + 1) & (uint64_t)(x->nb - 1)) {
            xpage *p = &x->pg[x->hash[k] - 1];
            if (strcmp(p->page_id, e->page_id)) continue;
            int64_t dt = e->time - p->time;
            if (dt < -60 || dt > (int64_t)x->o->window_s) break;
            uint64_t h = hash_str(e->title);
            for (int j = 0; j < p->n; j++)
                if (x->row[p->first + j].title == h) {
                    x->row[p->first + j].reward = 1;   /* once: a second play changes nothing */
                    break;
                }
            break;
        }
    }
    return 0;
}

int mq_artwork_export(const mq_artwork_export_opts *o, const char *out_path, int64_t *n_rows, mq_err *err)
{
    mq_artwork_export_opts oo;
    int orc = MQ__OPTS_GET(mq_artwork_export_opts, &oo, o, err);
    if (orc) return orc;
    o = &oo;
    if (!(oo.window_s > 0)) oo.window_s = 1800;
    xctx x = {.o = &oo, .dm = -1, .policy = -1, .err = err};
    if (o->policy) {
        mq_art_policy p; mq_art_policy_init(&p, sizeof p);
        int rc = mq_art_policy_parse(o->policy, &p, err);
        if (rc) return rc;
        x.policy = p.kind;
    }
    if (!dir_exists(o->exposures)) return mq__err_set(err, MQ_ENOTFOUND, "%s: no exposure log there", o->exposures ? o->exposures : "(none)");
    int rc = mq__exlog_scan(o->exposures, x_expo, &x, err);
    if (!rc) rc = x.rc;
    if (!rc) {
        x.nb = 1024;
        while (x.nb < 2 * x.n_pg + 2) x.nb *= 2;
        x.hash = calloc((size_t)x.nb, sizeof *x.hash);
        if (!x.hash) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
        for (int64_t i = 0; !rc && i < x.n_pg; i++) {
            uint64_t k = hash_str(x.pg[i].page_id) & (uint64_t)(x.nb - 1);
            while (x.hash[k]) k = (k + 1) & (uint64_t)(x.nb - 1);
            x.hash[k] = i + 1;
        }
    }
    if (!rc && dir_exists(o->events)) rc = mq_evlog_scan(o->events, x_events, &x, err);
    if (!rc) {
        mq_buf b;
        mq_buf_init(&b);
        mq_buf_puts(&b, "action,reward,propensity,policy");
        for (int k = 0; k < MQ_MAX(x.dm, 0); k++) mq_buf_printf(&b, ",x%d", k);
        mq_buf_putc(&b, '\n');
        for (int64_t i = 0; i < x.n_pg; i++) {
            const xpage *p = &x.pg[i];
            for (int j = 0; j < p->n; j++) {
                const xrow *w = &x.row[p->first + j];
                mq_buf_printf(&b, "%d,%g,%.17g,%d", w->variant, (double)w->reward, w->prop, w->policy);
                for (int k = 0; k < x.dm; k++) {
                    mq_buf_putc(&b, ',');
                    mq_buf_json_num(&b, p->ctx[k] / 16.0);
                }
                mq_buf_putc(&b, '\n');
            }
        }
        if (b.oom) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
        else if (!strcmp(out_path, "-")) rc = fwrite(b.p, 1, b.len, stdout) == b.len ? 0 : mq__err_set(err, MQ_EIO, "stdout: write failed");
        else rc = mq__write_file_atomic(out_path, b.p, b.len, err);
        mq_buf_release(&b);
        if (n_rows) *n_rows = x.n_row;
    }
    free(x.row);
    free(x.pg);
    free(x.hash);
    return rc;
}
