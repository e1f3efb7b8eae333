/* test_sim_server.c: `marquee sim --server URL` against a real server (mq_server_start in this
 * process, on a free loopback port, with --clock event, Trending Now off and the experiments
 * file the simulator wrote).
 *
 * Identity: for a fixed seed and one thread (and again with two), the HTTP mode and the in-process mode give the
 * same summary, the same units and the same event log, record for record (member, title, time,
 * kind, value bits, row, position; page ids differ by construction, the server's carry its
 * boot id, so they are checked to correspond one to one in order of appearance), and
 * `xp collect` of the server's logs is byte for byte the in-process run's collect file.
 *
 * A server that goes away mid-run (build/marquee serve killed with SIGKILL): the run ends with
 * MQ_EIO naming how far it got (the members posted, or the simulated day); the server's event log reads back
 * clean and holds exactly those members and at most the one in flight; the simulator wrote no
 * units file. */
#include "marquee.h"
#include "sim/sim.h"
#include "../test.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); p = NULL; }
    if (p) p[n] = 0;
    fclose(f);
    return p;
}

/* The "unit,variant,pages" of each row of a collect CSV. */
static int read_units3(const char *path, char (*out)[64], int cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512], u[32], v[16];
    long long first;
    int pages, n = 0;
    if (!fgets(line, sizeof line, f)) { fclose(f); return -1; }
    while (n < cap && fgets(line, sizeof line, f))
        if (sscanf(line, "%31[^,],%15[^,],%lld,%d", u, v, &first, &pages) == 4) snprintf(out[n++], 64, "%s,%s,%d", u, v, pages);
    fclose(f);
    return n;
}

typedef struct evs { mq_event *ev; int n, cap; } evs;

static int by_member(const void *a, const void *b)
{
    const mq_event *x = *(const mq_event *const *)a, *y = *(const mq_event *const *)b;
    int c = strcmp(x->member, y->member);
    return c ? c : (x < y ? -1 : x > y);
}

/* A stable reorder of e's events by member (log order within a member). */
static void order_by_member(evs *e)
{
    const mq_event **p = malloc((size_t)e->n * sizeof *p);
    mq_event *o = malloc((size_t)e->n * sizeof *o);
    for (int i = 0; i < e->n; i++) p[i] = &e->ev[i];
    qsort(p, (size_t)e->n, sizeof *p, by_member);
    for (int i = 0; i < e->n; i++) o[i] = *p[i];
    free(p);
    free(e->ev);
    e->ev = o;
}

static int collect_cb(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    (void)first_seq;
    evs *e = user;
    if (e->n + n > e->cap) {
        e->cap = (e->n + n) * 2;
        e->ev = realloc(e->ev, (size_t)e->cap * sizeof *e->ev);
        if (!e->ev) return MQ_ENOMEM;
    }
    memcpy(e->ev + e->n, ev, (size_t)n * sizeof *ev);
    e->n += n;
    return 0;
}

/* The options of a server as the simulator drives it (--clock event, Trending Now kept at its
 * seed as in-process, logs under dir); the static paths serve one server at a time. */
static void sim_server_opts(mq_server_opts *so, const char *data, const char *models, const char *experiments,
                            const char *dir)
{
    static char store[1200], events[1200], expos[1200];
    snprintf(store, sizeof store, "lmdb:%s/state", dir);
    snprintf(events, sizeof events, "%s/events", dir);
    snprintf(expos, sizeof expos, "%s/exposures", dir);
    mq_server_opts_init(so, sizeof *so);
    so->port = 0;
    so->data = data;
    so->models = models;
    so->store = store;
    so->events = events;
    so->exposures = expos;
    so->exposure_log = 1;
    so->experiments = experiments;
    so->clock = MQ_CLOCK_EVENT;
    so->trending_refresh = -1;   /* Trending Now stays the seed, as in-process */
    so->fsync = MQ_FSYNC_NONE;
    so->threads = 2;
}

static int start_server_art(const char *data, const char *models, const char *experiments, const char *dir,
                            const char *artwork_policy, mq_server **out, mq_err *err)
{
    mq_server_opts so;
    sim_server_opts(&so, data, models, experiments, dir);
    so.artwork_policy = artwork_policy;
    return mq_server_start(&so, out, err);
}

static int start_server(const char *data, const char *models, const char *experiments, const char *dir, mq_server **out,
                        mq_err *err)
{
    return start_server_art(data, models, experiments, dir, NULL, out, err);
}

/* Runs scenario scen (artwork_weight set to art_w and click_scale to click when >= 0) on
 * `threads` threads. */
static int sim_t(const char *data, const char *models, const char *scen, int members, int days, uint64_t seed,
                 const char *out, const char *server, int threads, double art_w, double click, char **json, mq_err *err)
{
    char path[256];
    snprintf(path, sizeof path, "scenarios/%s.json", scen);
    mq_sim_scenario sc;
    int rc = mq_sim_scenario_load(path, &sc, err);
    if (rc) return rc;
    if (art_w >= 0) sc.params.artwork_weight = art_w;
    if (click >= 0) sc.params.click_scale = click;
    mq_sim_opts o; mq_sim_opts_init(&o, sizeof o);
    o.data = data; o.models = models; o.experiments = NULL; o.out = out; o.scenario = &sc;
    o.members = members; o.days = days; o.seed = seed; o.counterfactual = false; o.threads = threads;
    o.log = NULL; o.server = server;
    rc = mq_sim_run(&o, json, err);
    mq_sim_scenario_release(&sc);
    return rc;
}

static int sim(const char *data, const char *models, const char *scen, int members, int days, uint64_t seed,
               const char *out, const char *server, char **json, mq_err *err)
{
    return sim_t(data, models, scen, members, days, seed, out, server, 1, -1, -1, json, err);
}

MQ_TEST(sim_server_mode_identical_event_logs)
{
    const char *data = mq_test_shared("ml-100k");
    if (!data) MQ_SKIP("ml-100k not in ../shared/data");
    mq_err err = {0, ""};
    const char *models = mq_test_cache_dir("ease-vs-pop");
    char a[1100], b[1100], sdir[1100], xpath[1200], url[64];
    snprintf(a, sizeof a, "%s/inproc", mq_test_tmpdir());
    snprintf(b, sizeof b, "%s/http", mq_test_tmpdir());
    snprintf(sdir, sizeof sdir, "%s/server", mq_test_tmpdir());
    /* ease-vs-pop: a treatment model, a pre-period (the experiment starts after it), CUPED */
    char *ja = NULL, *jb = NULL;
    ASSERT_OK(sim(data, models, "ease-vs-pop", 60, 10, 3, a, NULL, &ja, &err), &err);
    snprintf(xpath, sizeof xpath, "%s/experiments.json", a);
    mq_server *srv = NULL;
    ASSERT_OK(start_server(data, models, xpath, sdir, &srv, &err), &err);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", mq_server_port(srv));
    int rc = sim(data, models, "ease-vs-pop", 60, 10, 3, b, url, &jb, &err);
    mq_server_stop(srv);
    ASSERT_OK(rc, &err);
    ASSERT_STR_EQ(ja, jb);
    char *ja2 = ja;
    free(jb);
    /* the event logs, record for record */
    evs ea = {0}, eb = {0};
    char ed[1200];
    snprintf(ed, sizeof ed, "%s/log/events", a);
    ASSERT_OK(mq_evlog_scan(ed, collect_cb, &ea, &err), &err);
    snprintf(ed, sizeof ed, "%s/events", sdir);
    ASSERT_OK(mq_evlog_scan(ed, collect_cb, &eb, &err), &err);
    ASSERT(ea.n > 1000);   /* the members' arrival histories and the simulated plays */
    ASSERT_INT_EQ(ea.n, eb.n);
    /* in-process runs member after member, the HTTP run day by day in time order: compare
     * each member's events in log order */
    order_by_member(&ea);
    order_by_member(&eb);
    int attributed = 0;
    static char pa[4096][48], pb[4096][48];
    int np = 0;
    for (int i = 0; i < ea.n; i++) {
        const mq_event *x = &ea.ev[i], *y = &eb.ev[i];
        ASSERT_STR_EQ(x->member, y->member);
        ASSERT_STR_EQ(x->title, y->title);
        ASSERT_INT_EQ(x->time, y->time);
        ASSERT_INT_EQ(x->kind, y->kind);
        ASSERT(memcmp(&x->value, &y->value, sizeof x->value) == 0);
        ASSERT_STR_EQ(x->row, y->row);
        ASSERT_INT_EQ(x->has_position, y->has_position);
        ASSERT_INT_EQ(x->position, y->position);
        ASSERT_INT_EQ(x->page_id[0] != 0, y->page_id[0] != 0);
        if (!x->page_id[0]) continue;
        attributed++;
        /* page ids correspond one to one, in order of first appearance */
        int k = -1;
        for (int j = np - 1; j >= 0 && k < 0; j--)
            if (!strcmp(pa[j], x->page_id)) k = j;
        if (k < 0) {
            for (int j = 0; j < np; j++) ASSERT(strcmp(pb[j], y->page_id) != 0);
            ASSERT(np < 4096);
            snprintf(pa[np], sizeof pa[np], "%s", x->page_id);
            snprintf(pb[np], sizeof pb[np], "%s", y->page_id);
            np++;
        } else {
            ASSERT_STR_EQ(pb[k], y->page_id);
        }
    }
    ASSERT(attributed > 100);
    free(ea.ev);
    free(eb.ev);
    /* xp collect of the server's logs = the in-process run's collect file */
    char ca[1200], cb[1200], ex[1200];
    snprintf(ca, sizeof ca, "%s/collect-ease_vs_pop.csv", a);
    snprintf(cb, sizeof cb, "%s/collect.csv", sdir);
    snprintf(ed, sizeof ed, "%s/events", sdir);
    snprintf(ex, sizeof ex, "%s/exposures", sdir);
    mq_xp_collect_opts co; mq_xp_collect_opts_init(&co, sizeof co);
    co.events = ed; co.exposures = ex; co.experiment = "ease_vs_pop"; co.from = 0; co.to = 0;
    co.pre_days = 7; co.finish_seconds = 5400;
    ASSERT_OK(mq_xp_collect(&co, cb, NULL, &err), &err);
    /* byte for byte: under --clock event the server stamps each page with its request's time
     * (?time=), also when another member's plays have moved the event clock past it (the older
     * live units raised a page's time to the latest event counted: with them this fails, a
     * unit's first exposure late and its plays before it lost) */
    char *fa = slurp_file(ca), *fb = slurp_file(cb);
    ASSERT(fa && fb);
    char ux[400][64];
    ASSERT(read_units3(ca, ux, 400) > 30);
    ASSERT_STR_EQ(fa, fb);
    free(fb);
    /* two threads (two connections): the day's visits reach the server from both, not always
     * in time order; each page keeps its request's time, so the summary and the collected
     * units are still the in-process run's */
    char c2[1200], s2[1100];
    snprintf(s2, sizeof s2, "%s/server2", mq_test_tmpdir());
    snprintf(b, sizeof b, "%s/http2", mq_test_tmpdir());
    ASSERT_OK(start_server(data, models, xpath, s2, &srv, &err), &err);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", mq_server_port(srv));
    rc = sim_t(data, models, "ease-vs-pop", 60, 10, 3, b, url, 2, -1, -1, &jb, &err);
    mq_server_stop(srv);
    ASSERT_OK(rc, &err);
    ASSERT_STR_EQ(ja2, jb);
    free(ja2);
    free(jb);
    snprintf(c2, sizeof c2, "%s/collect.csv", s2);
    snprintf(ed, sizeof ed, "%s/events", s2);
    snprintf(ex, sizeof ex, "%s/exposures", s2);
    ASSERT_OK(mq_xp_collect(&co, c2, NULL, &err), &err);
    fb = slurp_file(c2);
    ASSERT(fb);
    ASSERT_STR_EQ(fa, fb);
    free(fa);
    free(fb);
}

/* build/marquee serve in its own process (a crash of it is what "goes away" means), waiting
 * for its port file. Returns the pid, or -1. */
static int spawn_server(const char *data, const char *models, const char *experiments, const char *dir, int *port)
{
    char store[1200], events[1200], expos[1200], pf[1200];
    snprintf(store, sizeof store, "lmdb:%s/state", dir);
    snprintf(events, sizeof events, "%s/events", dir);
    snprintf(expos, sizeof expos, "%s/exposures", dir);
    snprintf(pf, sizeof pf, "%s/port", dir);
    const char *bin = getenv("MQ_BIN") ? getenv("MQ_BIN") : "build/marquee";
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr) || !freopen("/dev/null", "w", stdout)) _exit(127);
        execl(bin, bin, "serve", "--data", data, "--models", models, "--experiments", experiments, "--clock", "event",
              "--trending-refresh", "off", "--fsync", "none", "--exposure-log", "full", "--events", events,
              "--exposures", expos, "--store", store, "--threads", "2", "--port", "0", "--port-file", pf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) {
        FILE *f = fopen(pf, "r");
        if (f) {
            int ok = fscanf(f, "%d", port) == 1;
            fclose(f);
            if (ok) return (int)pid;
        }
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

typedef struct killer { pid_t pid; int ms; } killer;

static void *kill_later(void *arg)
{
    killer *k = arg;
    usleep((useconds_t)k->ms * 1000);
    kill(k->pid, SIGKILL);
    waitpid(k->pid, NULL, 0);
    return NULL;
}

static int latest_cb(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    (void)first_seq;
    long long *hi = user;
    for (int i = 0; i < n; i++)
        if (ev[i].time > *hi) *hi = ev[i].time;
    return 0;
}

MQ_TEST(sim_server_gone_ends_run_with_count)
{
    const char *data = mq_test_shared("ml-100k");
    if (!data) MQ_SKIP("ml-100k not in ../shared/data");
    mq_err err = {0, ""};
    const char *models = mq_test_cache_dir("aa");
    char a[1100], sdir[1100], xpath[1200], url[64];
    char b[1100];
    snprintf(a, sizeof a, "%s/small", mq_test_tmpdir());
    snprintf(b, sizeof b, "%s/gone", mq_test_tmpdir());
    snprintf(sdir, sizeof sdir, "%s/server", mq_test_tmpdir());
    /* a tiny in-process run writes the experiments file (and trains the models if missing) */
    char *j = NULL;
    ASSERT_OK(sim(data, models, "aa", 5, 2, 1, a, NULL, &j, &err), &err);
    free(j);
    snprintf(xpath, sizeof xpath, "%s/experiments.json", a);
    int port = 0;
    int pid = spawn_server(data, models, xpath, sdir, &port);
    ASSERT(pid > 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    killer k = {pid, 1500};   /* kill -9 the server 1.5 s into the run */
    pthread_t th;
    ASSERT(pthread_create(&th, NULL, kill_later, &k) == 0);
    int rc = sim(data, models, "aa", 3000, 7, 1, b, url, &j, &err);
    pthread_join(th, NULL);
    ASSERT_INT_EQ(rc, MQ_EIO);
    ASSERT(j == NULL);
    fprintf(stderr, "  %s\n", err.msg);
    /* stopped while the members' histories were being posted, or on a simulated day */
    int day = -1, of = 0, posted = -1;
    if (sscanf(err.msg, "sim: the run stopped on simulated day %d of %d", &day, &of) == 2) {
        ASSERT_INT_EQ(of, 7);
        ASSERT(day >= 0 && day < 7);
    } else {
        ASSERT(sscanf(err.msg, "sim: the run stopped while posting the members' arrival histories (%d of %d", &posted, &of) == 2);
        ASSERT_INT_EQ(of, 3000);
        ASSERT(posted >= 0 && posted < 3000);
        day = -1;
    }
    ASSERT(strstr(err.msg, "went away"));
    /* the server's log reads back clean after the kill -9: the members simulated in full, and
     * the first events of the one in flight */
    char ed[1200];
    snprintf(ed, sizeof ed, "%s/events", sdir);
    /* nothing from a simulated day after the one that stopped (a play may run past midnight) */
    long long latest = 0;
    ASSERT_OK(mq_evlog_scan(ed, latest_cb, &latest, &err), &err);
    ASSERT(latest < 1767225600LL + (long long)(day + 2) * 86400);
    /* nothing half-written by the simulator: no units of the failed run */
    char up[1200];
    snprintf(up, sizeof up, "%s/units-aa.csv", b);
    ASSERT(access(up, F_OK) != 0);
}

/* ?time= is a simulator's tool: refused (400, naming the query and the flag) by a server on
 * the wall clock, taken under --clock event (the exposure record's time is the query's). */
MQ_TEST(sim_server_time_query_needs_event_clock)
{
    const char *data = mq_test_shared("ml-100k");
    if (!data) MQ_SKIP("ml-100k not in ../shared/data");
    mq_err err = {0, ""};
    const char *models = mq_test_cache_dir("aa");
    char a[1100], sdir[1100], xpath[1200], url[64];
    snprintf(a, sizeof a, "%s/small", mq_test_tmpdir());
    char *j = NULL;
    ASSERT_OK(sim(data, models, "aa", 5, 2, 1, a, NULL, &j, &err), &err);
    free(j);
    snprintf(xpath, sizeof xpath, "%s/experiments.json", a);
    for (int clock = 0; clock < 2; clock++) {
        snprintf(sdir, sizeof sdir, "%s/server%d", mq_test_tmpdir(), clock);
        mq_server *srv = NULL;
        ASSERT_OK(start_server(data, models, xpath, sdir, &srv, &err), &err);
        if (clock == 0) {   /* the same server on the wall clock */
            mq_server_stop(srv);
            mq_server_opts so;
            mq_server_opts_init(&so, sizeof so);
            char store[1200], ev[1200];
            snprintf(store, sizeof store, "lmdb:%s/state", sdir);
            snprintf(ev, sizeof ev, "%s/events", sdir);
            so.data = data;
            so.models = models;
            so.store = store;
            so.events = ev;
            so.experiments = xpath;
            so.threads = 1;
            ASSERT_OK(mq_server_start(&so, &srv, &err), &err);
        }
        snprintf(url, sizeof url, "http://127.0.0.1:%d", mq_server_port(srv));
        mq__sim_http h;
        ASSERT_OK(mq__sim_http_init(&h, url, &err), &err);
        mq_buf out;
        mq_buf_init(&out);
        int status = 0;
        int rc = mq__sim_http_request(&h, "GET", "/v1/members/sim1/homepage?time=1767225600", NULL, 0, &status, &out, &err);
        mq__sim_http_release(&h);
        mq_server_stop(srv);
        ASSERT_OK(rc, &err);
        if (clock == 0) {
            ASSERT_INT_EQ(status, 400);
            ASSERT(strstr(out.p, "query 'time'") && strstr(out.p, "--clock event"));
        } else {
            ASSERT_INT_EQ(status, 200);
            ASSERT(strstr(out.p, "\"page_id\""));
        }
        mq_buf_release(&out);
    }
}

/* The plays of a units file (the column after unit, variant, first_exposure, pages). */
static long long units_plays(const char *dir)
{
    char path[4600], line[512];
    snprintf(path, sizeof path, "%s/units-aa.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long long n = 0;
    int pages, plays;
    char u[64], v[16];
    long long first;
    if (!fgets(line, sizeof line, f)) { fclose(f); return -1; }
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%63[^,],%15[^,],%lld,%d,%d", u, v, &first, &pages, &plays) == 5) n += plays;
    fclose(f);
    return n;
}

/* Artwork end to end: the demo catalog (data/ml-latest-small, with artwork.csv) served by a
 * real server whose pages carry each title's artwork ("artwork": id; --artwork-policy fixed:
 * the title's first variant, tagged with 3 tags for 9,708 titles and 2 for 34), read by the
 * simulator (fetch_page) into the click probability min(1, click_scale a art), art =
 * exp(artwork_weight * mean over the artwork's tags of the member's taste z ~ N(0, 1)).
 * Controls: without artwork on pages the weight changes nothing (the run is the in-process
 * run, which shows no artwork); with artwork shown and weight 0 nothing changes either.
 * With artwork shown and weight 1.5, E[art] = E[exp(1.5 z-bar)] = exp(1.5^2 / (2 x 3)) = 1.455
 * (3 tags): with clicks rare (click_scale 0.05, so P(click) stays proportional to art) the
 * plays rise by up to that factor; somewhat less, as a play often ends the visit (the cascade
 * examines fewer titles when clicks come earlier). */
MQ_TEST(sim_artwork_on_pages_changes_clicks)
{
    const char *data = "data/ml-latest-small";
    if (access("data/ml-latest-small/artwork.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small/artwork.csv missing");
    mq_err err = {0, ""};
    const char *models = mq_test_cache_dir("sim-artwork");
    char a[1100], b[3][1100], sdir[1100], xpath[1200], url[64];
    snprintf(a, sizeof a, "%s/inproc", mq_test_tmpdir());
    char *j0 = NULL;
    ASSERT_OK(sim_t(data, models, "aa", 200, 5, 1, a, NULL, 1, 1.5, 0.05, &j0, &err), &err);
    snprintf(xpath, sizeof xpath, "%s/experiments.json", a);
    static const char *const pol[] = {"off", "fixed", "fixed"};
    static const double wt[] = {1.5, 0, 1.5};
    char *js[3];
    long long plays[3];
    for (int k = 0; k < 3; k++) {
        snprintf(sdir, sizeof sdir, "%s/server%d", mq_test_tmpdir(), k);
        snprintf(b[k], sizeof b[k], "%s/http%d", mq_test_tmpdir(), k);
        mq_server *srv = NULL;
        ASSERT_OK(start_server_art(data, models, xpath, sdir, pol[k], &srv, &err), &err);
        snprintf(url, sizeof url, "http://127.0.0.1:%d", mq_server_port(srv));
        js[k] = NULL;
        int rc = sim_t(data, models, "aa", 200, 5, 1, b[k], url, 1, wt[k], 0.05, &js[k], &err);
        mq_server_stop(srv);
        ASSERT_OK(rc, &err);
        plays[k] = units_plays(b[k]);
        fprintf(stderr, "  artwork %s, artwork_weight %g: %lld plays\n", pol[k], wt[k], plays[k]);
    }
    ASSERT_STR_EQ(js[0], j0);       /* no artwork on pages: the weight changes nothing (the in-process run) */
    ASSERT_STR_EQ(js[1], j0);       /* artwork shown, no taste for it: nothing changes */
    ASSERT(plays[1] > 200);
    double ratio = (double)plays[2] / (double)plays[1];
    fprintf(stderr, "  plays with artwork taste / without: %.3f (E[art] = %.3f)\n", ratio, exp(1.5 * 1.5 / 6));
    ASSERT(ratio > 1.15 && ratio < exp(1.5 * 1.5 / 6) + 0.1);
    for (int k = 0; k < 3; k++) free(js[k]);
    free(j0);
}

static void grab_retries(void *user, const char *line)
{
    long long *n = user;
    const char *p = strstr(line, "sim: ");
    long long k;
    if (p && sscanf(p, "sim: %lld requests the server shed", &k) == 1) *n += k;
}

/* A server busier than its limits sheds requests (503 "overloaded: ...", before handling them:
 * nothing applied): the simulator sends them again after a back-off, so the run completes with
 * the in-process summary. Here the server admits one request at a time (max_inflight 1) and
 * four simulator connections compete: requests are shed (counted from the progress line) and
 * the summary is still the in-process one. */
MQ_TEST(sim_server_shed_requests_sent_again)
{
    const char *data = mq_test_shared("ml-100k");
    if (!data) MQ_SKIP("ml-100k not in ../shared/data");
    mq_err err = {0, ""};
    const char *models = mq_test_cache_dir("aa");
    char a[1100], b[1100], sdir[1100], xpath[1200], url[64];
    snprintf(a, sizeof a, "%s/inproc", mq_test_tmpdir());
    snprintf(b, sizeof b, "%s/http", mq_test_tmpdir());
    snprintf(sdir, sizeof sdir, "%s/server", mq_test_tmpdir());
    char *ja = NULL, *jb = NULL;
    ASSERT_OK(sim(data, models, "aa", 80, 4, 2, a, NULL, &ja, &err), &err);
    snprintf(xpath, sizeof xpath, "%s/experiments.json", a);
    mq_server_opts so;
    sim_server_opts(&so, data, models, xpath, sdir);
    so.threads = 4;
    so.max_inflight = 1;
    mq_server *srv = NULL;
    ASSERT_OK(mq_server_start(&so, &srv, &err), &err);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", mq_server_port(srv));
    mq_sim_scenario sc;
    ASSERT_OK(mq_sim_scenario_load("scenarios/aa.json", &sc, &err), &err);
    long long shed = 0;
    mq_log lg = {grab_retries, &shed};
    mq_sim_opts o; mq_sim_opts_init(&o, sizeof o);
    o.data = data; o.models = models; o.experiments = NULL; o.out = b; o.scenario = &sc;
    o.members = 80; o.days = 4; o.seed = 2; o.counterfactual = false; o.threads = 4; o.log = &lg; o.server = url;
    int rc = mq_sim_run(&o, &jb, &err);
    mq_sim_scenario_release(&sc);
    mq_server_stop(srv);
    ASSERT_OK(rc, &err);
    fprintf(stderr, "  %lld requests shed and sent again\n", shed);
    ASSERT(shed > 0);
    ASSERT_STR_EQ(ja, jb);
    free(ja);
    free(jb);
}
