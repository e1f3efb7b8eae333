/* test_xp_units.c: the server's live experiment units (xp_collect.c) against `xp collect`'s
 * offline pass over the same logs, at library level: exposures and events interleaved at
 * random (events before their member's first page, pre-period plays, plays stamped after the
 * page, attributed and unattributed plays, forced pages, members served the default, a
 * member whose variant changes after a reload, exposure times that go back a little between
 * threads), compared byte for byte as CSV at checkpoints, after a restart (rebuilt from the
 * logs) and after more traffic on top of the rebuild. */
#include "../test.h"
#include "serve/serve.h"

#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <stdbool.h>
#include <time.h>

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33) % n;
}

typedef struct world {
    char ev[600], ex[600];
    mq__exlog *xl;
    mq__xpc *units;
    mq_evlog *el;
    long long base;             /* exposure times start here (the clock now) */
    int step;
    bool member_order;          /* pages out of time order, days back (a simulator's order) */
    char pages[4000][MQ_PAGE_ID_MAX + 1];
    int n_pages;
} world;

static int apply_cb(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    world *w = user;
    return mq__xpc_events(w->units, ev, n, first_seq, mq__xps_now());
}

static int open_world(world *w, mq_err *err)
{
    int rc = mq__exlog_open(w->ex, 0, NULL, &w->xl, err);
    mq_xp_collect_opts co; mq_xp_collect_opts_init(&co, sizeof co);
    co.events = w->ev; co.exposures = w->ex; co.pre_days = 14; co.finish_seconds = 600;
    /* --clock event: the horizon follows the exposures alone (http.c's units_now) */
    if (!rc) rc = mq__xpc_open_live(&co, w->member_order ? 0 : mq__xps_now(), &w->units, err);
    if (!rc && w->member_order) mq__xpc_keep_times(w->units);
    mq_evlog_opts lo; mq_evlog_opts_init(&lo, sizeof lo);
    lo.apply = apply_cb; lo.apply_user = w;
    if (!rc) rc = mq_evlog_open(w->ev, &lo, &w->el, err);
    return rc;
}

static void close_world(world *w)
{
    mq_evlog_close(w->el);
    mq__exlog_close(w->xl);
    mq__xpc_destroy(w->units);
}

/* One random step: a page (exposure) or a batch of events. */
static int step(world *w, mq_buf *rec, mq_err *err)
{
    w->step++;
    char member[32], page_id[MQ_PAGE_ID_MAX + 1];
    snprintf(member, sizeof member, "m%u", rnd(300));
    long long t = w->base + w->step / 8;
    if (rnd(2)) {
        /* a page: two experiments; the variant follows the member, except after a "reload" */
        unsigned h = (unsigned)atoi(member + 1);
        const char *v1 = (h % 2) ? "B" : "A", *v2 = (h % 3) == 0 ? "X" : (h % 3) == 1 ? "Y" : "Z";
        if (w->step > 1500 && h % 10 == 0) v1 = (h % 2) ? "A" : "B";
        mq__expo e = {0};
        e.time = t - (rnd(4) == 0 ? 2 : 0);      /* a thread that read the clock earlier */
        if (w->member_order && w->step > 700 && rnd(5) == 0) e.time -= 86400 * (1 + (long long)rnd(4));
        e.route = (int)rnd(3);
        e.member = member;
        mq__xps_page_id(77, (uint64_t)w->step, page_id);
        e.page_id = page_id;
        e.model_version = "ials@x";
        e.forced = rnd(20) == 0;
        e.n_exp = 2;
        e.exp_name[0] = "e1";
        e.variant[0] = v1;
        e.served_default[0] = rnd(10) == 0;
        e.exp_name[1] = "e2";
        e.variant[1] = v2;
        const char *rid[1] = {"top_picks"}, *titles[3] = {"t1", "t2", "t3"};
        int rn[1] = {3};
        e.n_rows = 1;
        e.row_id = rid;
        e.row_n = rn;
        e.titles = titles;
        int rc = mq__expo_encode(&e, false, rec, err);
        if (!rc) rc = mq__xpc_expose(w->units, w->xl, &e, rec, err);
        if (!rc && w->n_pages < 4000) strcpy(w->pages[w->n_pages++], page_id);
        return rc;
    }
    mq_event ev[5];
    int n = 1 + (int)rnd(5);
    memset(ev, 0, sizeof ev);
    static const long long offs[] = {-20 * 86400, -14 * 86400, -14 * 86400 + 1, -2 * 86400, -1, 0, 5, 86400 + 7, 3 * 86400};
    for (int i = 0; i < n; i++) {
        snprintf(ev[i].member, sizeof ev[i].member, "%s", rnd(3) ? member : (char[16]){0});
        if (!ev[i].member[0]) snprintf(ev[i].member, sizeof ev[i].member, "m%u", rnd(300));
        snprintf(ev[i].title, sizeof ev[i].title, "t%u", rnd(30));
        ev[i].time = t + offs[rnd(sizeof offs / sizeof *offs)];
        unsigned k = rnd(10);
        ev[i].kind = k < 7 ? MQ_EV_PLAY : k == 7 ? MQ_EV_RATING : k == 8 ? MQ_EV_THUMB_UP : MQ_EV_IMPRESSION;
        ev[i].value = ev[i].kind == MQ_EV_PLAY ? (float)(rnd(700) + (rnd(2) ? 0.25 : 0)) : 1;
        unsigned a = rnd(4);
        if (a == 0 && w->n_pages) snprintf(ev[i].page_id, sizeof ev[i].page_id, "%s", w->pages[rnd((uint32_t)w->n_pages)]);
        else if (a == 1) snprintf(ev[i].page_id, sizeof ev[i].page_id, "never-served-%u", rnd(100));
    }
    return mq_evlog_append(w->el, ev, n, NULL, err);
}

/* The live CSV of each experiment equals the offline pass over the logs. */
static int same_as_collect(world *w, const char *when)
{
    static const char *const exps[] = {"e1", "e2"};
    int bad = 0;
    for (int k = 0; k < 2; k++) {
        mq_err err = {0, ""};
        mq_xp_collect_opts co; mq_xp_collect_opts_init(&co, sizeof co);
        co.events = w->ev; co.exposures = w->ex; co.experiment = exps[k]; co.pre_days = 14;
        co.finish_seconds = 600;
        mq__xpc *off;
        if (mq__xpc_build(&co, &off, &err)) { fprintf(stderr, "  collect: %s\n", err.msg); return 1; }
        mq_buf a, b;
        mq_buf_init(&a);
        mq_buf_init(&b);
        int64_t na = 0, nb = 0;
        mq__xpc_csv(w->units, exps[k], &a, &na, &err);
        mq__xpc_csv(off, exps[k], &b, &nb, &err);
        if (a.len != b.len || memcmp(a.p, b.p, a.len)) {
            fprintf(stderr, "  %s: experiment %s: live (%lld units) != collect (%lld units)\n", when, exps[k],
                    (long long)na, (long long)nb);
            bad = 1;
        }
        if (k == 0) fprintf(stderr, "  %s: %lld units of e1 agree\n", when, (long long)na);
        mq_xp_arm x, y;
        mq__xpc_arm(w->units, exps[k], k ? "X" : "A", "plays_per_page", &x);
        mq__xpc_arm(off, exps[k], k ? "X" : "A", "plays_per_page", &y);
        if (x.n != y.n || x.mean != y.mean || x.var != y.var) bad = 1;
        mq_buf_release(&a);
        mq_buf_release(&b);
        mq__xpc_destroy(off);
    }
    return bad;
}

MQ_TEST(xp_units_live_equal_collect_through_restart)
{
    static world w;
    memset(&w, 0, sizeof w);
    snprintf(w.ev, sizeof w.ev, "%s/events", mq_test_tmpdir());
    snprintf(w.ex, sizeof w.ex, "%s/exposures", mq_test_tmpdir());
    w.base = (long long)time(NULL);
    rng_state = 12345;
    mq_err err = {0, ""};
    mq_buf rec;
    mq_buf_init(&rec);
    ASSERT_OK(open_world(&w, &err), &err);
    for (int i = 1; i <= 3000; i++) {
        ASSERT_OK(step(&w, &rec, &err), &err);
        if (i % 1000 == 0) ASSERT_INT_EQ(same_as_collect(&w, "live"), 0);
    }
    /* every kind of event reached units: pre-period, metrics and attributed plays */
    mq_buf csv;
    mq_buf_init(&csv);
    ASSERT_OK(mq__xpc_csv(w.units, "e1", &csv, NULL, &err), &err);
    double pre = 0, fromp = 0, n = 0;
    for (const char *p = strchr(mq_buf_cstr(&csv), '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
        double v[10];
        const char *q = strchr(strchr(p + 1, ',') + 1, ',') + 1;   /* after unit, variant */
        for (int j = 0; j < 10; j++) { v[j] = strtod(q, (char **)&q); q++; }
        fromp += v[7];
        pre += v[8];
        n++;
    }
    mq_buf_release(&csv);
    ASSERT(n > 200 && pre > 0 && fromp > 0);
    /* a restart rebuilds the same units from the logs; more traffic on top stays equal */
    close_world(&w);
    ASSERT_OK(open_world(&w, &err), &err);
    ASSERT_INT_EQ(same_as_collect(&w, "restart"), 0);
    w.base += 3600;
    for (int i = 1; i <= 1000; i++) ASSERT_OK(step(&w, &rec, &err), &err);
    ASSERT_INT_EQ(same_as_collect(&w, "after restart"), 0);
    /* --clock event: times written as they are; out of order, the units are rebuilt on read */
    mq__xpc_keep_times(w.units);
    for (int i = 1; i <= 500; i++) ASSERT_OK(step(&w, &rec, &err), &err);
    ASSERT_INT_EQ(same_as_collect(&w, "times kept"), 0);
    close_world(&w);
    mq_buf_release(&rec);
}

/* --clock event: exposures keep their own times, also days below the latest (a simulator that
 * runs member after member); kept in memory while pages come in time order (first 700 steps),
 * then read from the logs, equal to collect's throughout. */
MQ_TEST(xp_units_event_clock_keeps_exposure_times)
{
    static world w;
    memset(&w, 0, sizeof w);
    snprintf(w.ev, sizeof w.ev, "%s/events", mq_test_tmpdir());
    snprintf(w.ex, sizeof w.ex, "%s/exposures", mq_test_tmpdir());
    w.base = 1767830400;        /* 2026-01-08: an event clock's "now", far from the wall's */
    w.member_order = true;
    rng_state = 777;
    mq_err err = {0, ""};
    mq_buf rec;
    mq_buf_init(&rec);
    ASSERT_OK(open_world(&w, &err), &err);
    for (int i = 1; i <= 1500; i++) {
        ASSERT_OK(step(&w, &rec, &err), &err);
        if (i % 500 == 0) ASSERT_INT_EQ(same_as_collect(&w, "event clock"), 0);
    }
    /* the pages asked for days back kept their times: some unit's first exposure is before base */
    mq_buf csv;
    mq_buf_init(&csv);
    ASSERT_OK(mq__xpc_csv(w.units, "e1", &csv, NULL, &err), &err);
    long long first = LLONG_MAX;
    for (const char *p = strchr(mq_buf_cstr(&csv), '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
        const char *q = strchr(strchr(p + 1, ',') + 1, ',') + 1;
        long long f = strtoll(q, NULL, 10);
        if (f < first) first = f;
    }
    mq_buf_release(&csv);
    ASSERT(first < w.base - 86400);
    close_world(&w);
    mq_buf_release(&rec);
}
