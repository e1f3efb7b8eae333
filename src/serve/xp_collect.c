/* xp_collect.c: unit metrics of an online experiment from the server's two logs (`marquee xp
 * collect`): one row per (member, experiment) exposed at least once, ready for `xp analyze`.
 *
 * Two passes, both sequential reads of the logs:
 *  1. the exposure log: every record not forced with ?xp= (and with --from/--to, inside the
 *     window) makes each (member, experiment) it names in a variant, not served the default,
 *     a unit: variant (the first one seen), first exposure (the earliest time), pages, and
 *     the UTC days with a page;
 *  2. the event log: each event of a member with units updates each of them: events at or
 *     after the second of the unit's first exposure (and before --to) count in the metrics
 *     (trigger-based analysis); plays in the --pre-days before it count as the covariates.
 * Per unit the titles played are kept (title index, seconds) for finishes and distinct titles;
 * members, titles and experiment names are interned once (mq_idmap). Memory: O(units + titles
 * played per unit). Rows are sorted by first exposure, then unit (bytewise).
 *
 * Columns (docs/xp.md): unit, variant, first_exposure, pages, plays, play_seconds, finishes,
 * distinct_titles, active_days, plays_from_pages, pre_plays, pre_play_seconds. A play counts in
 * plays_from_pages when its page_id is one the server answered (a set of the 64-bit FNV-1a
 * hashes of every page id in the exposure log); others are unattributed.
 */
#include "serve/serve.h"

#include <math.h>
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
} unit;

typedef struct coll {
    const mq_xp_collect_opts *o;
    mq_idmap *members, *exps, *titles;
    unit *u;
    int64_t n, cap;
    int32_t *head;                  /* [members] first unit or -1 */
    int32_t head_cap;
    uint64_t *pages;                /* open-addressing set of served page ids (64-bit hashes) */
    int64_t n_pages, cap_pages;
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

static int on_expo(void *user, const mq__expo_rec *r, uint64_t seq)
{
    coll *c = user;
    const mq_xp_collect_opts *o = c->o;
    if (r->route == MQ__EXPO_ROUTE_ROLLBACK) return 0;
    /* every answered page (forced ones too) can be the origin of an attributed play */
    if (r->page_id.n && page_add(c, page_hash(r->page_id.p, (size_t)r->page_id.n))) return MQ_ENOMEM;
    if (r->forced) return 0;
    if (o->from && r->time < o->from) return 0;
    if (o->to && r->time >= o->to) return 0;
    for (int i = 0; i < r->n_exp; i++) {
        if (r->served_default[i]) continue;
        if (o->experiment && ((size_t)r->exp_name[i].n != strlen(o->experiment) ||
                              memcmp(r->exp_name[i].p, o->experiment, (size_t)r->exp_name[i].n)))
            continue;
        int32_t m = mq_idmap_intern(c->members, r->member.p, (size_t)r->member.n);
        int32_t e = mq_idmap_intern(c->exps, r->exp_name[i].p, (size_t)r->exp_name[i].n);
        if (m < 0 || e < 0) return MQ_ENOMEM;
        if (m >= c->head_cap) {
            int32_t cap = MQ_MAX(2 * c->head_cap, m + 1024);
            int32_t *h = realloc(c->head, (size_t)cap * sizeof *h);
            if (!h) return MQ_ENOMEM;
            for (int32_t k = c->head_cap; k < cap; k++) h[k] = -1;
            c->head = h;
            c->head_cap = cap;
        }
        int32_t k = c->head[m];
        while (k >= 0 && c->u[k].exp != e) k = c->u[k].next;
        if (k < 0) {
            if (c->n == c->cap) {
                int64_t cap = c->cap ? 2 * c->cap : 1024;
                unit *p = realloc(c->u, (size_t)cap * sizeof *p);
                if (!p) return MQ_ENOMEM;
                c->u = p;
                c->cap = cap;
            }
            k = (int32_t)c->n++;
            unit *u = &c->u[k];
            memset(u, 0, sizeof *u);
            u->member = m;
            u->exp = e;
            u->next = c->head[m];
            c->head[m] = k;
            int vn = MQ_MIN(r->variant[i].n, MQ_XP_NAME - 1);
            memcpy(u->variant, r->variant[i].p, (size_t)vn);
            u->variant[vn] = 0;
            u->first = r->time;
        }
        unit *u = &c->u[k];
        if (r->time < u->first) u->first = r->time;
        u->pages++;
        if (add_day(u, r->time)) return MQ_ENOMEM;
    }
    return 0;
}

static int on_events(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    coll *c = user;
    const mq_xp_collect_opts *o = c->o;
    int64_t pre = (int64_t)o->pre_days * 86400;
    for (int i = 0; i < n; i++) {
        const mq_event *e = &ev[i];
        int32_t m = mq_idmap_find(c->members, e->member, strlen(e->member));
        if (m < 0 || m >= c->head_cap) continue;
        for (int32_t k = c->head[m]; k >= 0; k = c->u[k].next) {
            unit *u = &c->u[k];
            bool play = e->kind == MQ_EV_PLAY;
            if (e->time >= u->first && (!o->to || e->time < o->to)) {
                if (add_day(u, e->time)) return MQ_ENOMEM;
                if (!play) continue;
                u->plays++;
                u->play_seconds += e->value;
                if (e->page_id[0] && page_served(c, e->page_id)) u->plays_from_pages++;
                int32_t t = mq_idmap_intern(c->titles, e->title, strlen(e->title));
                if (t < 0) return MQ_ENOMEM;
                int j = 0;
                while (j < u->n_titles && u->titles[j].title != t) j++;
                if (j == u->n_titles) {
                    if (u->n_titles == u->cap_titles) {
                        int cap = u->cap_titles ? 2 * u->cap_titles : 8;
                        tsec *p = realloc(u->titles, (size_t)cap * sizeof *p);
                        if (!p) return MQ_ENOMEM;
                        u->titles = p;
                        u->cap_titles = cap;
                    }
                    u->titles[u->n_titles++] = (tsec){t, 0};
                }
                u->titles[j].seconds += e->value;
            } else if (play && e->time < u->first && e->time >= u->first - pre) {
                u->pre_plays++;
                u->pre_play_seconds += e->value;
            }
        }
    }
    return 0;
}

static int cmp_unit(const void *a, const void *b, void *arg)
{
    const coll *sort_c = arg;
    const unit *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    int r = strcmp(mq_idmap_name(sort_c->members, x->member), mq_idmap_name(sort_c->members, y->member));
    if (r) return r;
    return strcmp(mq_idmap_name(sort_c->exps, x->exp), mq_idmap_name(sort_c->exps, y->exp));
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
    coll c;
    mq_xp_collect_opts o;
};

void mq__xpc_destroy(mq__xpc *x)
{
    if (!x) return;
    coll *c = &x->c;
    for (int64_t k = 0; k < c->n; k++) { free(c->u[k].days); free(c->u[k].titles); }
    free(c->u);
    free(c->head);
    free(c->pages);
    mq_idmap_destroy(c->members);
    mq_idmap_destroy(c->exps);
    mq_idmap_destroy(c->titles);
    free(x);
}

int mq__xpc_build(const mq_xp_collect_opts *o, mq__xpc **out, mq_err *err)
{
    *out = NULL;
    mq__xpc *x = calloc(1, sizeof *x);
    if (!x) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    x->o = *o;
    coll *c = &x->c;
    c->o = &x->o;
    c->members = mq_idmap_create();
    c->exps = mq_idmap_create();
    c->titles = mq_idmap_create();
    int rc = 0;
    if (!c->members || !c->exps || !c->titles) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
    rc = mq__exlog_scan(o->exposures, on_expo, c, err);
    if (rc == MQ_ENOMEM) mq__err_set(err, rc, "out of memory reading the exposure log '%s'", o->exposures);
    if (rc) goto fail;
    rc = mq_evlog_scan(o->events, on_events, c, err);
    if (rc == MQ_ENOMEM) mq__err_set(err, rc, "out of memory reading the event log '%s'", o->events);
    if (rc == MQ_ENOTFOUND) rc = 0;   /* no events yet: zero metrics */
    if (rc) goto fail;
    if (c->n > 1) qsort_r(c->u, (size_t)c->n, sizeof *c->u, cmp_unit, c);
    *out = x;
    return 0;
fail:
    mq__xpc_destroy(x);
    return rc;
}

int mq__xpc_csv(const mq__xpc *x, const char *experiment, mq_buf *b, int64_t *n_units, mq_err *err)
{
    const coll *c = &x->c;
    int32_t e = -1;
    if (experiment) {
        e = mq_idmap_find(c->exps, experiment, strlen(experiment));
    } else if (mq_idmap_size(c->exps) > 1) {
        return mq__err_set(err, MQ_EINVAL, "the exposure log '%s' holds %d experiments ('%s', '%s', ...): name one with --experiment",
                           x->o.exposures, mq_idmap_size(c->exps), mq_idmap_name(c->exps, 0), mq_idmap_name(c->exps, 1));
    }
    mq_buf_puts(b, "unit,variant,first_exposure,pages,plays,play_seconds,finishes,distinct_titles,"
                   "active_days,plays_from_pages,pre_plays,pre_play_seconds\n");
    int64_t n = 0;
    for (int64_t k = 0; k < c->n; k++) {
        const unit *u = &c->u[k];
        if (experiment && u->exp != e) continue;
        int fin = 0;
        for (int j = 0; j < u->n_titles; j++) fin += u->titles[j].seconds >= x->o.finish_seconds;
        csv_field(b, mq_idmap_name(c->members, u->member));
        mq_buf_putc(b, ',');
        csv_field(b, u->variant);
        mq_buf_printf(b, ",%lld,%lld,%lld,", (long long)u->first, u->pages, u->plays);
        mq_buf_json_num(b, u->play_seconds);
        mq_buf_printf(b, ",%d,%d,%d,%lld,%lld,", fin, u->n_titles, u->n_days, u->plays_from_pages, u->pre_plays);
        mq_buf_json_num(b, u->pre_play_seconds);
        mq_buf_putc(b, '\n');
        n++;
    }
    if (n_units) *n_units = n;
    return b->oom ? mq__err_set(err, MQ_ENOMEM, "out of memory") : 0;
}

int64_t mq__xpc_units(const mq__xpc *x, const char *experiment, const char *variant)
{
    const coll *c = &x->c;
    int32_t e = mq_idmap_find(c->exps, experiment, strlen(experiment));
    int64_t n = 0;
    for (int64_t k = 0; e >= 0 && k < c->n; k++)
        n += c->u[k].exp == e && (!variant || !strcmp(c->u[k].variant, variant));
    return n;
}

int mq_xp_collect(const mq_xp_collect_opts *o, const char *out_path, int64_t *n_units, mq_err *err)
{
    mq__xpc *x;
    int rc = mq__xpc_build(o, &x, err);
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

int mq__xpc_arm(const mq__xpc *x, const char *experiment, const char *variant, const char *metric,
                mq_xp_arm *out)
{
    const coll *c = &x->c;
    static const char *const cols[] = {"pages", "plays", "play_seconds", "finishes", "distinct_titles",
                                       "active_days", "plays_from_pages", "pre_plays", "pre_play_seconds",
                                       "plays_per_page"};
    int m = 0;
    while (m < 10 && strcmp(cols[m], metric)) m++;
    if (m == 10) return MQ_EINVAL;
    int32_t e = mq_idmap_find(c->exps, experiment, strlen(experiment));
    /* Welford over the units */
    double n = 0, mean = 0, m2 = 0;
    for (int64_t k = 0; e >= 0 && k < c->n; k++) {
        const unit *u = &c->u[k];
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
    out->n = n;
    out->mean = mean;
    out->var = n > 1 ? m2 / (n - 1) : 0;
    return 0;
}
