/* xp_collect.c: unit metrics of an online experiment from the server's two logs (`marquee xp
 * collect`), and the same units kept current in memory for the server's live reports and
 * guardrails: one row per (member, experiment) exposed at least once, ready for `xp analyze`.
 *
 * Offline (mq__xpc_build), two passes, both sequential reads of the logs:
 *  1. the exposure log: every record not forced with ?xp= (and with --from/--to, inside the
 *     window) makes each (member, experiment) it names in a variant, not served the default,
 *     a unit: variant (the first one seen), first exposure (the earliest time), pages, and
 *     the UTC days with a page;
 *  2. the event log: each event of a member with units updates each of them: events at or
 *     after the second of the unit's first exposure (and before --to) count in the metrics
 *     (trigger-based analysis); plays in the --pre-days before it count as the covariates.
 * Per unit the titles played are kept (title index, seconds) for finishes and distinct titles;
 * members, titles and experiment names are interned once (mq_idmap). Memory: O(units + titles
 * played per unit). Rows are sorted by first exposure, then unit (bytewise), then experiment.
 *
 * Live (mq__xpc_open_live, the server): the same state, built at start-up from the exposure log
 * (pass 1), then fed by the event log's replay at open and every commit after it
 * (mq__xpc_events, pass 2 in log order) and by every exposure as it is written
 * (mq__xpc_expose), so a report reads the units in memory: O(units), no log reads. It equals
 * the offline pass because:
 *  - exposures are counted under the state's mutex in the order they are appended, and their
 *    times never go down in log order (mq__xpc_expose raises a time below the log's latest,
 *    L, to L before writing), so a unit's variant is its first record's and its first
 *    exposure never changes once the unit exists;
 *  - events are counted in log order, like pass 2; an event that arrives before its member's
 *    unit exists (pre-period plays, or events stamped later than the page) is kept per member
 *    while a unit created later (first exposure >= L) can still count it: a play while its
 *    time is >= L - pre_days, another event while its time is >= L; kept events are replayed,
 *    in log order, into each unit created for that member. The others are swept when the
 *    kept total doubles (memory: the plays of the last pre_days, 24 bytes each);
 *  - units stay in collect's order: a new unit's first exposure is >= every other's, so it is
 *    inserted among the units of its own second (sorted by unit, then experiment).
 * One difference is by design: a play counts in plays_from_pages when its page was served
 * before the play was counted (a client cannot know a page id before it is answered).
 *
 * Range members (the SRM check under ramps, docs/xp.md): pass 1 also keeps, per (member,
 * experiment) exposed, a record of the variant's hash range it is in, served or not: first
 * exposure in the range, whether it was ever served the variant (then it is a unit) and the
 * largest served share of its exposures (exposure records' flag 8). The members never served
 * follow the units in the CSV with an empty variant and no metrics. Memory: O(range members).
 *
 * Columns (docs/xp.md): unit, variant, first_exposure, pages, plays, play_seconds, finishes,
 * distinct_titles, active_days, plays_from_pages, pre_plays, pre_play_seconds, range,
 * served_share. A play counts in
 * plays_from_pages when its page_id is one the server answered (a set of the 64-bit FNV-1a
 * hashes of every page id in the exposure log); others are unattributed.
 *
 * Thread safety: one mutex around the state; every entry point but build/destroy takes it.
 */
#include "serve/serve.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct tsec { int32_t title; double seconds; } tsec;

typedef struct unit {
    int32_t member, exp, next;      /* next unit of the same member, -1 */
    char variant[MQ_XP_NAME];
    int64_t first;
    long long pages, plays, plays_from_pages, pre_plays;
    double play_seconds, pre_play_seconds;
    int64_t *days;                  /* distinct UTC days, unsorted */
    int n_days, cap_days;
    tsec *titles;
    int n_titles, cap_titles;
    int32_t rm;                     /* its range member (rmem) */
} unit;

/* A member of a variant's hash range in an experiment (served the variant or, outside its
 * ramp or after a stop, the default): what the SRM check counts (docs/xp.md, "SRM under
 * ramps"). One per (member, experiment) exposed, units or not. */
typedef struct rmem {
    int32_t member, exp, next;      /* next range member record of the same member, -1 */
    char variant[MQ_XP_NAME];       /* the range's variant (the first record's) */
    int64_t first;                  /* first exposure in the range */
    double share;                   /* the largest served share of its exposures */
    bool share_known;               /* every exposure carried a share (flag 8) */
    bool served;                    /* some exposure served the variant: a unit */
} rmem;

/* An event as the units count it: what a unit created later (live) needs of it. */
typedef struct kev {
    int64_t time;
    double value;                   /* seconds of a play */
    int32_t title;                  /* interned title of a play, -1 otherwise */
    bool play, attributed;          /* attributed: its page_id is a served page */
} kev;

/* Per interned member: its units and (live) its recent events. */
typedef struct mem {
    int32_t head;                   /* first unit or -1 */
    int n_kept, cap_kept;
    kev *kept;                      /* in log order */
    int32_t rhead;                  /* first range member record or -1 */
} mem;

typedef struct coll {
    const mq_xp_collect_opts *o;
    mq_idmap *members, *exps, *titles;
    unit *u;
    int64_t n, cap;
    rmem *rm;                       /* range members, in order of first exposure in the log */
    int64_t n_rm, cap_rm;
    int32_t *order;                 /* [n] units in collect order, once sorted */
    bool sorted;                    /* order is kept on insertion (after pass 1) */
    mem *mem;                       /* [mem_cap] by member index */
    int32_t mem_cap;
    uint64_t *pages;                /* open-addressing set of served page ids (64-bit hashes) */
    int64_t n_pages, cap_pages;
    /* live */
    bool keep;                      /* keep recent events for units created later */
    int64_t last_time;              /* L: the latest exposure time in the log */
    int64_t kept_total, kept_swept;
    uint64_t ev_seq;                /* the last event-log record counted */
} coll;

/* FNV-1a 64 of a page id (0 is the empty slot, so 0 maps to 1). */
static uint64_t page_hash(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)p[i]; h *= 0x100000001b3ull; }
    return h ? h : 1;
}

static int page_add(coll *c, uint64_t h)
{
    if (2 * (c->n_pages + 1) > c->cap_pages) {
        int64_t cap = c->cap_pages ? 2 * c->cap_pages : 4096;
        uint64_t *t = calloc((size_t)cap, sizeof *t);
        if (!t) return MQ_ENOMEM;
        for (int64_t i = 0; i < c->cap_pages; i++) {
            if (!c->pages[i]) continue;
            int64_t j = (int64_t)(c->pages[i] & (uint64_t)(cap - 1));
            while (t[j]) j = (j + 1) & (cap - 1);
            t[j] = c->pages[i];
        }
        free(c->pages);
        c->pages = t;
        c->cap_pages = cap;
    }
    int64_t j = (int64_t)(h & (uint64_t)(c->cap_pages - 1));
    while (c->pages[j] && c->pages[j] != h) j = (j + 1) & (c->cap_pages - 1);
    if (!c->pages[j]) { c->pages[j] = h; c->n_pages++; }
    return 0;
}

static bool page_served(const coll *c, const char *id)
{
    if (!c->cap_pages) return false;
    uint64_t h = page_hash(id, strlen(id));
    int64_t j = (int64_t)(h & (uint64_t)(c->cap_pages - 1));
    while (c->pages[j]) {
        if (c->pages[j] == h) return true;
        j = (j + 1) & (c->cap_pages - 1);
    }
    return false;
}

static int add_day(unit *u, int64_t t)
{
    int64_t d = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    for (int i = 0; i < u->n_days; i++) if (u->days[i] == d) return 0;
    if (u->n_days == u->cap_days) {
        int cap = u->cap_days ? 2 * u->cap_days : 8;
        int64_t *p = realloc(u->days, (size_t)cap * sizeof *p);
        if (!p) return MQ_ENOMEM;
        u->days = p;
        u->cap_days = cap;
    }
    u->days[u->n_days++] = d;
    return 0;
}

/* The member's slot, growing the table to hold index m. */
static mem *mem_at(coll *c, int32_t m)
{
    if (m >= c->mem_cap) {
        int32_t cap = MQ_MAX(2 * c->mem_cap, m + 1024);
        mem *p = realloc(c->mem, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        for (int32_t k = c->mem_cap; k < cap; k++) p[k] = (mem){-1, 0, 0, NULL, -1};
        c->mem = p;
        c->mem_cap = cap;
    }
    return &c->mem[m];
}

static int cmp_idx(const void *a, const void *b, void *arg)
{
    const coll *c = arg;
    const unit *x = &c->u[*(const int32_t *)a], *y = &c->u[*(const int32_t *)b];
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    int r = strcmp(mq_idmap_name(c->members, x->member), mq_idmap_name(c->members, y->member));
    if (r) return r;
    return strcmp(mq_idmap_name(c->exps, x->exp), mq_idmap_name(c->exps, y->exp));
}

/* One event into one unit (pass 2's rule). */
static int unit_event(coll *c, unit *u, const kev *k)
{
    const mq_xp_collect_opts *o = c->o;
    int64_t pre = (int64_t)o->pre_days * 86400;
    if (k->time >= u->first && (!o->to || k->time < o->to)) {
        if (add_day(u, k->time)) return MQ_ENOMEM;
        if (!k->play) return 0;
        u->plays++;
        u->play_seconds += k->value;
        if (k->attributed) u->plays_from_pages++;
        int j = 0;
        while (j < u->n_titles && u->titles[j].title != k->title) j++;
        if (j == u->n_titles) {
            if (u->n_titles == u->cap_titles) {
                int cap = u->cap_titles ? 2 * u->cap_titles : 8;
                tsec *p = realloc(u->titles, (size_t)cap * sizeof *p);
                if (!p) return MQ_ENOMEM;
                u->titles = p;
                u->cap_titles = cap;
            }
            u->titles[u->n_titles++] = (tsec){k->title, 0};
        }
        u->titles[j].seconds += k->value;
    } else if (k->play && k->time < u->first && k->time >= u->first - pre) {
        u->pre_plays++;
        u->pre_play_seconds += k->value;
    }
    return 0;
}

/* Pass 1, one record: also the live path for each exposure written. */
static int on_expo(void *user, const mq__expo_rec *r, uint64_t seq)
{
    coll *c = user;
    const mq_xp_collect_opts *o = c->o;
    if (r->route == MQ__EXPO_ROUTE_ROLLBACK) return 0;
    if (r->time > c->last_time) c->last_time = r->time;
    /* every answered page (forced ones too) can be the origin of an attributed play */
    if (r->page_id.n && page_add(c, page_hash(r->page_id.p, (size_t)r->page_id.n))) return MQ_ENOMEM;
    if (r->forced) return 0;
    if (o->from && r->time < o->from) return 0;
    if (o->to && r->time >= o->to) return 0;
    for (int i = 0; i < r->n_exp; i++) {
        if (o->experiment && ((size_t)r->exp_name[i].n != strlen(o->experiment) ||
                              memcmp(r->exp_name[i].p, o->experiment, (size_t)r->exp_name[i].n)))
            continue;
        int32_t m = mq_idmap_intern(c->members, r->member.p, (size_t)r->member.n);
        int32_t e = mq_idmap_intern(c->exps, r->exp_name[i].p, (size_t)r->exp_name[i].n);
        if (m < 0 || e < 0) return MQ_ENOMEM;
        mem *mm = mem_at(c, m);
        if (!mm) return MQ_ENOMEM;
        /* the member of the variant's range, served or not (the SRM check's count) */
        int32_t ri = mm->rhead;
        while (ri >= 0 && c->rm[ri].exp != e) ri = c->rm[ri].next;
        if (ri < 0) {
            if (c->n_rm == c->cap_rm) {
                int64_t cap = c->cap_rm ? 2 * c->cap_rm : 1024;
                rmem *p = realloc(c->rm, (size_t)cap * sizeof *p);
                if (!p) return MQ_ENOMEM;
                c->rm = p;
                c->cap_rm = cap;
            }
            ri = (int32_t)c->n_rm++;
            rmem *q = &c->rm[ri];
            memset(q, 0, sizeof *q);
            q->member = m;
            q->exp = e;
            q->next = mm->rhead;
            mm->rhead = ri;
            int vn = MQ_MIN(r->variant[i].n, MQ_XP_NAME - 1);
            memcpy(q->variant, r->variant[i].p, (size_t)vn);
            q->variant[vn] = 0;
            q->first = r->time;
            q->share = 0;
            q->share_known = true;
        }
        rmem *q = &c->rm[ri];
        if (r->time < q->first) q->first = r->time;   /* pass 1 only: live times never go down */
        if (isnan(r->served_share[i])) q->share_known = false;
        else if (r->served_share[i] > q->share) q->share = r->served_share[i];
        if (r->served_default[i]) continue;
        q->served = true;
        int32_t k = mm->head;
        while (k >= 0 && c->u[k].exp != e) k = c->u[k].next;
        if (k < 0) {
            if (c->n == c->cap) {
                int64_t cap = c->cap ? 2 * c->cap : 1024;
                unit *p = realloc(c->u, (size_t)cap * sizeof *p);
                int32_t *q = realloc(c->order, (size_t)cap * sizeof *q);
                if (p) c->u = p;
                if (q) c->order = q;
                if (!p || !q) return MQ_ENOMEM;
                c->cap = cap;
            }
            k = (int32_t)c->n++;
            unit *u = &c->u[k];
            memset(u, 0, sizeof *u);
            u->member = m;
            u->exp = e;
            u->rm = ri;
            u->next = mm->head;
            mm->head = k;
            int vn = MQ_MIN(r->variant[i].n, MQ_XP_NAME - 1);
            memcpy(u->variant, r->variant[i].p, (size_t)vn);
            u->variant[vn] = 0;
            u->first = r->time;
            /* live: the member's events that came before the unit, in log order */
            for (int j = 0; j < mm->n_kept; j++)
                if (unit_event(c, u, &mm->kept[j])) return MQ_ENOMEM;
            /* live: its place among the units of its second (all others are earlier) */
            int64_t at = c->n - 1;
            if (c->sorted)
                while (at > 0 && cmp_idx(&c->order[at - 1], &k, c) > 0) { c->order[at] = c->order[at - 1]; at--; }
            c->order[at] = k;
        }
        unit *u = &c->u[k];
        if (r->time < u->first) u->first = r->time;   /* pass 1 only: live times never go down */
        u->pages++;
        if (add_day(u, r->time)) return MQ_ENOMEM;
    }
    return 0;
}

/* Whether a unit created from now on (first exposure >= L) can count event k: a play as a
 * pre-period play when time >= L - pre_days, any event in the metrics when time >= L. */
static bool may_count(const coll *c, const kev *k)
{
    return k->time >= c->last_time - (k->play ? (int64_t)c->o->pre_days * 86400 : 0);
}

/* Drops kept events that no unit created from now on can count. */
static void sweep(coll *c)
{
    int64_t total = 0;
    for (int32_t m = 0; m < c->mem_cap; m++) {
        mem *mm = &c->mem[m];
        int w = 0;
        for (int j = 0; j < mm->n_kept; j++)
            if (may_count(c, &mm->kept[j])) mm->kept[w++] = mm->kept[j];
        mm->n_kept = w;
        if (!w) { free(mm->kept); mm->kept = NULL; mm->cap_kept = 0; }
        total += w;
    }
    c->kept_total = c->kept_swept = total;
}

/* Pass 2, a batch of events in log order: also the live path for every commit. */
static int on_events(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    coll *c = user;
    int64_t horizon = c->last_time - (int64_t)c->o->pre_days * 86400;
    for (int i = 0; i < n; i++) {
        const mq_event *e = &ev[i];
        int32_t m = mq_idmap_find(c->members, e->member, strlen(e->member));
        bool keep = c->keep && e->time >= (e->kind == MQ_EV_PLAY ? horizon : c->last_time);
        if (m < 0 && keep) m = mq_idmap_intern(c->members, e->member, strlen(e->member));
        if (m < 0) {
            if (keep) return MQ_ENOMEM;
            continue;
        }
        if (!keep && (m >= c->mem_cap || c->mem[m].head < 0)) continue;
        mem *mm = mem_at(c, m);
        if (!mm) return MQ_ENOMEM;
        kev k = {e->time, e->value, -1, e->kind == MQ_EV_PLAY, false};
        if (k.play) {
            k.title = mq_idmap_intern(c->titles, e->title, strlen(e->title));
            if (k.title < 0) return MQ_ENOMEM;
            k.attributed = e->page_id[0] && page_served(c, e->page_id);
        }
        for (int32_t j = mm->head; j >= 0; j = c->u[j].next)
            if (unit_event(c, &c->u[j], &k)) return MQ_ENOMEM;
        if (!keep) continue;
        if (mm->n_kept == mm->cap_kept) {
            int cap = mm->cap_kept ? 2 * mm->cap_kept : 4;
            kev *p = realloc(mm->kept, (size_t)cap * sizeof *p);
            if (!p) return MQ_ENOMEM;
            mm->kept = p;
            mm->cap_kept = cap;
        }
        mm->kept[mm->n_kept++] = k;
        if (++c->kept_total > 2 * c->kept_swept + 65536) sweep(c);
    }
    return 0;
}

static void csv_field(mq_buf *b, const char *s)
{
    bool q = strpbrk(s, ",\"\n\r") != NULL;
    if (!q) { mq_buf_puts(b, s); return; }
    mq_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"') mq_buf_putc(b, '"');
        mq_buf_putc(b, *s);
    }
    mq_buf_putc(b, '"');
}

struct mq__xpc {
    pthread_mutex_t mu;
    coll c;
    mq_xp_collect_opts o;
    bool keep_times;                /* exposure times are the requests' own (mq__xpc_keep_times) */
    bool stale;                     /* an exposure came out of time order: rebuild before reading */
};

static int seq_events(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    coll *c = user;
    int rc = on_events(c, ev, n, first_seq);
    c->ev_seq = first_seq + (uint64_t)n - 1;
    return rc;
}

static int build_units(const mq_xp_collect_opts *o, bool keep, mq__xpc **out, mq_err *err);

/* Rebuilds stale units from both logs (x->mu held), as at start-up; on failure the old units
 * stay (and stay stale: the next read tries again). */
static void refresh(mq__xpc *x)
{
    if (!x->stale) return;
    mq__xpc *nx;
    mq_err err = {0, ""};
    if (build_units(&x->o, true, &nx, &err)) return;
    nx->c.last_time = MQ_MAX(nx->c.last_time, x->c.last_time);
    int rc = mq_evlog_scan(x->o.events, seq_events, &nx->c, &err);
    if (rc && rc != MQ_ENOTFOUND) { mq__xpc_destroy(nx); return; }
    coll old = x->c;
    x->c = nx->c;
    x->c.o = &x->o;
    nx->c = old;
    nx->c.o = &nx->o;
    mq__xpc_destroy(nx);
    x->stale = false;
}

void mq__xpc_keep_times(mq__xpc *x)
{
    pthread_mutex_lock(&x->mu);
    x->keep_times = true;
    pthread_mutex_unlock(&x->mu);
}

void mq__xpc_destroy(mq__xpc *x)
{
    if (!x) return;
    coll *c = &x->c;
    for (int64_t k = 0; k < c->n; k++) { free(c->u[k].days); free(c->u[k].titles); }
    for (int32_t m = 0; m < c->mem_cap; m++) free(c->mem[m].kept);
    free(c->u);
    free(c->rm);
    free(c->order);
    free(c->mem);
    free(c->pages);
    mq_idmap_destroy(c->members);
    mq_idmap_destroy(c->exps);
    mq_idmap_destroy(c->titles);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

/* Pass 1 into a new state: the units of the exposure log, sorted. */
static int build_units(const mq_xp_collect_opts *o, bool keep, mq__xpc **out, mq_err *err)
{
    *out = NULL;
    mq__xpc *x = calloc(1, sizeof *x);
    if (!x) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    pthread_mutex_init(&x->mu, NULL);
    x->o = *o;
    coll *c = &x->c;
    c->o = &x->o;
    c->keep = keep;
    c->last_time = INT64_MIN / 2;
    c->members = mq_idmap_create();
    c->exps = mq_idmap_create();
    c->titles = mq_idmap_create();
    int rc = 0;
    if (!c->members || !c->exps || !c->titles) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
    rc = mq__exlog_scan(o->exposures, on_expo, c, err);
    if (rc == MQ_ENOMEM) mq__err_set(err, rc, "out of memory reading the exposure log '%s'", o->exposures);
    if (rc) goto fail;
    for (int64_t k = 0; k < c->n; k++) c->order[k] = (int32_t)k;
    if (c->n > 1) qsort_r(c->order, (size_t)c->n, sizeof *c->order, cmp_idx, c);
    c->sorted = true;
    *out = x;
    return 0;
fail:
    mq__xpc_destroy(x);
    return rc;
}

int mq__xpc_build(const mq_xp_collect_opts *o, mq__xpc **out, mq_err *err)
{
    int rc = build_units(o, false, out, err);
    if (rc) return rc;
    coll *c = &(*out)->c;
    rc = mq_evlog_scan(o->events, on_events, c, err);
    if (rc == MQ_ENOMEM) mq__err_set(err, rc, "out of memory reading the event log '%s'", o->events);
    if (rc == MQ_ENOTFOUND) rc = 0;   /* no events yet: zero metrics */
    if (rc) {
        mq__xpc_destroy(*out);
        *out = NULL;
    }
    return rc;
}

int mq__xpc_open_live(const mq_xp_collect_opts *o, long long now, mq__xpc **out, mq_err *err)
{
    if (o->experiment || o->from || o->to)
        return mq__err_set(err, MQ_EINVAL, "live units cover every experiment and all time");
    int rc = build_units(o, true, out, err);
    /* exposures written from now on are stamped no earlier than now (mq__xpc_expose) */
    if (!rc) (*out)->c.last_time = MQ_MAX((*out)->c.last_time, (int64_t)now);
    return rc;
}

int mq__xpc_expose(mq__xpc *x, struct mq__exlog *l, const mq__expo *e, mq_buf *rec, mq_err *err)
{
    pthread_mutex_lock(&x->mu);
    coll *c = &x->c;
    int64_t t = e->time;
    if (t < c->last_time && x->keep_times) {
        x->stale = true;
    } else if (t < c->last_time) {
        t = c->last_time;
        mq__expo_retime(rec, t);
    }
    int rc = mq__exlog_append(l, rec, err);
    if (!rc) {
        mq__expo_rec r;
        memset(&r, 0, sizeof r);
        r.time = t;
        r.route = e->route;
        r.forced = e->forced;
#define STR(dst, s) dst = (mq__expo_str){(s) ? (s) : "", (s) ? (int)strnlen((s), 255) : 0}
        STR(r.member, e->member);
        STR(r.page_id, e->page_id);
        STR(r.model_version, e->model_version);
        r.n_exp = MQ_MIN(e->n_exp, MQ__XPS_MAX);
        for (int i = 0; i < r.n_exp; i++) {
            STR(r.exp_name[i], e->exp_name[i]);
            STR(r.variant[i], e->variant[i]);
            r.served_default[i] = e->served_default[i];
            r.served_share[i] = e->has_share ? e->served_share[i] : NAN;
        }
#undef STR
        if (on_expo(c, &r, 0))
            rc = mq__err_set(err, MQ_ENOMEM, "out of memory counting an exposure (the record is in the log; "
                             "a restart counts it)");
    }
    pthread_mutex_unlock(&x->mu);
    return rc;
}

int mq__xpc_events(mq__xpc *x, const mq_event *ev, int n, uint64_t first_seq, long long now)
{
    pthread_mutex_lock(&x->mu);
    coll *c = &x->c;
    /* the next exposure is stamped no earlier than this (mq__xpc_expose): the horizon of the
     * kept events follows the clock through quiet spells */
    c->last_time = MQ_MAX(c->last_time, (int64_t)now);
    int rc = 0;
    uint64_t last = first_seq + (uint64_t)n - 1;
    if (n > 0 && last > c->ev_seq) {
        int skip = first_seq > c->ev_seq ? 0 : (int)(c->ev_seq - first_seq + 1);
        rc = on_events(c, ev + skip, n - skip, first_seq + (uint64_t)skip);
        c->ev_seq = last;
    }
    pthread_mutex_unlock(&x->mu);
    return rc;
}

/* ",v" in decimal (printf costs most of the CSV's time). */
static void put_int(mq_buf *b, long long v)
{
    char t[24], *q = t + sizeof t;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do { *--q = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) *--q = '-';
    *--q = ',';
    mq_buf_put(b, q, (size_t)(t + sizeof t - q));
}

/* ",x" as mq_buf_json_num writes it, integers without printf. */
static void put_num(mq_buf *b, double x)
{
    if (fabs(x) < 1e15 && x == (double)(long long)x) { put_int(b, (long long)x); return; }
    mq_buf_putc(b, ',');
    mq_buf_json_num(b, x);
}

/* A unit's CSV row, copied out under the lock and formatted after it (formatting costs ten
 * times the copy; pages and events wait only for the copy). */
typedef struct snap {
    int64_t first;
    long long pages, plays, plays_from_pages, pre_plays;
    double play_seconds, pre_play_seconds;
    int fin, n_titles, n_days;
    double share;                   /* served_share, NaN unknown */
    bool unit;                      /* false: a range member served only the default */
    size_t name;                    /* offset of "member\0variant\0" in the names buffer */
} snap;

#define HEADER "unit,variant,first_exposure,pages,plays,play_seconds,finishes,distinct_titles," \
               "active_days,plays_from_pages,pre_plays,pre_play_seconds,range,served_share\n"

/* Range members served only the default, in collect order (first exposure, unit, experiment). */
static int cmp_rm(const void *a, const void *b, void *arg)
{
    const coll *c = arg;
    const rmem *x = &c->rm[*(const int32_t *)a], *y = &c->rm[*(const int32_t *)b];
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    int r = strcmp(mq_idmap_name(c->members, x->member), mq_idmap_name(c->members, y->member));
    if (r) return r;
    return strcmp(mq_idmap_name(c->exps, x->exp), mq_idmap_name(c->exps, y->exp));
}

int mq__xpc_csv(mq__xpc *x, const char *experiment, mq_buf *b, int64_t *n_units, mq_err *err)
{
    if (!x) {   /* no units (a server without experiments) */
        mq_buf_puts(b, HEADER);
        if (n_units) *n_units = 0;
        return b->oom ? mq__err_set(err, MQ_ENOMEM, "out of memory") : 0;
    }
    pthread_mutex_lock(&x->mu);
    refresh(x);
    const coll *c = &x->c;
    int32_t e = -1;
    if (experiment) {
        e = mq_idmap_find(c->exps, experiment, strlen(experiment));
    } else if (mq_idmap_size(c->exps) > 1) {
        int rc = mq__err_set(err, MQ_EINVAL, "the exposure log '%s' holds %d experiments ('%s', '%s', ...): name one with --experiment",
                             x->o.exposures, mq_idmap_size(c->exps), mq_idmap_name(c->exps, 0), mq_idmap_name(c->exps, 1));
        pthread_mutex_unlock(&x->mu);
        return rc;
    }
    int64_t n = 0, n_out = 0;
    snap *rows = malloc((size_t)MQ_MAX(c->n + c->n_rm, 1) * sizeof *rows);
    int32_t *outside = malloc((size_t)MQ_MAX(c->n_rm, 1) * sizeof *outside);
    mq_buf names;
    mq_buf_init(&names);
    if (!outside) { free(rows); rows = NULL; }
    for (int64_t i = 0; rows && (!experiment || e >= 0) && i < c->n; i++) {
        const unit *u = &c->u[c->order[i]];
        if (experiment && u->exp != e) continue;
        snap *r = &rows[n++];
        r->fin = 0;
        for (int j = 0; j < u->n_titles; j++) r->fin += u->titles[j].seconds >= x->o.finish_seconds;
        r->first = u->first;
        r->pages = u->pages;
        r->plays = u->plays;
        r->plays_from_pages = u->plays_from_pages;
        r->pre_plays = u->pre_plays;
        r->play_seconds = u->play_seconds;
        r->pre_play_seconds = u->pre_play_seconds;
        r->n_titles = u->n_titles;
        r->n_days = u->n_days;
        r->share = c->rm[u->rm].share_known ? c->rm[u->rm].share : NAN;
        r->unit = true;
        r->name = names.len;
        const char *m = mq_idmap_name(c->members, u->member);
        mq_buf_put(&names, m, strlen(m) + 1);
        mq_buf_put(&names, u->variant, strlen(u->variant) + 1);
    }
    /* then the range members served only the default: rows of no arm (docs/xp.md) */
    for (int64_t k = 0; rows && (!experiment || e >= 0) && k < c->n_rm; k++)
        if (!c->rm[k].served && (!experiment || c->rm[k].exp == e)) outside[n_out++] = (int32_t)k;
    if (n_out > 1) qsort_r(outside, (size_t)n_out, sizeof *outside, cmp_rm, (void *)c);
    for (int64_t i = 0; rows && i < n_out; i++) {
        const rmem *q = &c->rm[outside[i]];
        snap *r = &rows[n + i];
        memset(r, 0, sizeof *r);
        r->first = q->first;
        r->share = q->share_known ? q->share : NAN;
        r->name = names.len;
        const char *m = mq_idmap_name(c->members, q->member);
        mq_buf_put(&names, m, strlen(m) + 1);
        mq_buf_put(&names, q->variant, strlen(q->variant) + 1);
    }
    pthread_mutex_unlock(&x->mu);
    free(outside);
    int rc = 0;
    if (!rows || names.oom) {
        rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
        goto done;
    }
    mq_buf_puts(b, HEADER);
    for (int64_t i = 0; i < n + n_out; i++) {
        const snap *r = &rows[i];
        const char *m = names.p + r->name, *v = m + strlen(m) + 1;
        csv_field(b, m);
        mq_buf_putc(b, ',');
        if (r->unit) csv_field(b, v);
        put_int(b, r->first);
        if (r->unit) {
            put_int(b, r->pages);
            put_int(b, r->plays);
            put_num(b, r->play_seconds);
            put_int(b, r->fin);
            put_int(b, r->n_titles);
            put_int(b, r->n_days);
            put_int(b, r->plays_from_pages);
            put_int(b, r->pre_plays);
            put_num(b, r->pre_play_seconds);
        } else {
            mq_buf_puts(b, ",,,,,,,,,");   /* no metrics: not a unit */
        }
        mq_buf_putc(b, ',');
        csv_field(b, v);
        mq_buf_putc(b, ',');
        if (!isnan(r->share)) mq_buf_json_num(b, r->share);
        mq_buf_putc(b, '\n');
    }
    if (n_units) *n_units = n;
    if (b->oom) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
done:
    free(rows);
    mq_buf_release(&names);
    return rc;
}

int64_t mq__xpc_units(mq__xpc *x, const char *experiment, const char *variant)
{
    if (!x) return 0;
    pthread_mutex_lock(&x->mu);
    refresh(x);
    const coll *c = &x->c;
    int32_t e = mq_idmap_find(c->exps, experiment, strlen(experiment));
    int64_t n = 0;
    for (int64_t k = 0; e >= 0 && k < c->n; k++)
        n += c->u[k].exp == e && (!variant || !strcmp(c->u[k].variant, variant));
    pthread_mutex_unlock(&x->mu);
    return n;
}

int mq_xp_collect(const mq_xp_collect_opts *o, const char *out_path, int64_t *n_units, mq_err *err)
{
    mq__xpc *x;
    mq_xp_collect_opts ov;
    int rc = MQ__OPTS_GET(mq_xp_collect_opts, &ov, o, err);
    if (rc) return rc;
    o = &ov;
    rc = mq__xpc_build(o, &x, err);
    if (rc) return rc;
    mq_buf b;
    mq_buf_init(&b);
    rc = mq__xpc_csv(x, o->experiment, &b, n_units, err);
    if (!rc) {
        if (!strcmp(out_path, "-")) {
            if (fwrite(b.p, 1, b.len, stdout) != b.len) rc = mq__err_set(err, MQ_EIO, "writing stdout failed");
        } else {
            rc = mq__write_file_atomic(out_path, b.p, b.len, err);
        }
    }
    mq_buf_release(&b);
    mq__xpc_destroy(x);
    return rc;
}

int mq__xpc_arm(mq__xpc *x, const char *experiment, const char *variant, const char *metric,
                mq_xp_arm *out)
{
    static const char *const cols[] = {"pages", "plays", "play_seconds", "finishes", "distinct_titles",
                                       "active_days", "plays_from_pages", "pre_plays", "pre_play_seconds",
                                       "plays_per_page"};
    int m = 0;
    while (m < 10 && strcmp(cols[m], metric)) m++;
    if (m == 10) return MQ_EINVAL;
    if (!x) { *out = (mq_xp_arm){0, 0, 0}; return 0; }
    pthread_mutex_lock(&x->mu);
    refresh(x);
    const coll *c = &x->c;
    int32_t e = mq_idmap_find(c->exps, experiment, strlen(experiment));
    /* Welford over the units, in collect order */
    double n = 0, mean = 0, m2 = 0;
    for (int64_t i = 0; e >= 0 && i < c->n; i++) {
        const unit *u = &c->u[c->order[i]];
        if (u->exp != e || strcmp(u->variant, variant)) continue;
        int fin = 0;
        for (int j = 0; j < u->n_titles && m == 3; j++) fin += u->titles[j].seconds >= x->o.finish_seconds;
        double v = m == 0 ? (double)u->pages : m == 1 ? (double)u->plays : m == 2 ? u->play_seconds
                 : m == 3 ? fin : m == 4 ? u->n_titles : m == 5 ? u->n_days : m == 6 ? (double)u->plays_from_pages
                 : m == 7 ? (double)u->pre_plays : m == 8 ? u->pre_play_seconds
                 : (double)u->plays / (double)MQ_MAX(u->pages, 1);
        n += 1;
        double d = v - mean;
        mean += d / n;
        m2 += d * (v - mean);
    }
    pthread_mutex_unlock(&x->mu);
    out->n = n;
    out->mean = mean;
    out->var = n > 1 ? m2 / (n - 1) : 0;
    return 0;
}
