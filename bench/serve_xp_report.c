/* serve_xp_report.c: the cost of a live experiment report (GET /v1/experiments/NAME/report)
 * with the server's in-memory units (xp_collect.c, mq__xpc_open_live) against the previous
 * path, which rebuilt the units from both logs on every request (mq__xpc_build, what `xp
 * collect` does), in the same run on the same logs.
 *
 * The logs: N units (default 100,000) of one experiment (A/B), 1-3 summary pages each, three
 * plays after the first page (one attributed to it) and one pre-period play per unit, so
 * about 2N exposure records and 4N events. Both paths answer the same report (checked byte
 * for byte), which includes the sequential analysis of the N units (mq_xp_analyze). Prints
 * per path the median wall and CPU time of R reports (default 5), the ratio, and the one-off
 * start-up cost of the in-memory units (exposure log scan + event log replay).
 *
 * Usage: build/bench_serve_xp_report [UNITS [REPORTS]]   (bash bench/serve_xp_report.sh)
 */
#include "serve/serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what, const mq_err *err)
{
    fprintf(stderr, "bench_serve_xp_report: %s: %s\n", what, err->msg);
    exit(1);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int feed(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    return mq__xpc_events(user, ev, n, first_seq, mq__xps_now());
}

int main(int argc, char **argv)
{
    int units = argc > 1 ? atoi(argv[1]) : 100000, reps = argc > 2 ? atoi(argv[2]) : 5;
    if (units < 10 || reps < 1 || reps > 100) { fprintf(stderr, "usage: bench_serve_xp_report [UNITS [REPORTS]]\n"); return 2; }
    char dir[64], ev[128], ex[128], cfg[128];
    snprintf(dir, sizeof dir, "out/bench/xp-report-%d", units);
    snprintf(ev, sizeof ev, "%s/events", dir);
    snprintf(ex, sizeof ex, "%s/exposures", dir);
    snprintf(cfg, sizeof cfg, "%s/xp.json", dir);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    if (system(cmd)) return 1;
    FILE *f = fopen(cfg, "w");
    if (!f) return 1;
    fputs("{\"name\": \"bench\", \"variants\": [\"A\", \"B\"]}\n", f);
    fclose(f);
    mq_err err = {0, ""};
    mq__xps x;
    if (mq__xps_load(cfg, &x, &err)) die("experiments", &err);

    /* the logs */
    long long t0 = (long long)time(NULL) - 2 * 86400;
    mq__exlog *xl;
    if (mq__exlog_open(ex, 0, NULL, &xl, &err)) die("exposure log", &err);
    mq_evlog *el;
    mq_evlog_opts lo; mq_evlog_opts_init(&lo, sizeof lo);
    lo.fsync = MQ_FSYNC_NONE;
    if (mq_evlog_open(ev, &lo, &el, &err)) die("event log", &err);
    mq_buf rec;
    mq_buf_init(&rec);
    static mq_event batch[1024];
    int nb = 0;
    long long n_expo = 0, n_ev = 0;
    char member[32], page[MQ_PAGE_ID_MAX + 1], first_page[MQ_PAGE_ID_MAX + 1];
    for (int i = 0; i < units; i++) {
        snprintf(member, sizeof member, "m%d", i);
        long long t = t0 + i / 50;
        const char *v = (i * 2654435761u) >> 31 ? "B" : "A";
        for (int p = 0; p < 1 + i % 3; p++) {
            mq__expo e = {0};
            e.time = t + p;
            e.member = member;
            mq__xps_page_id(0xbe7c, (uint64_t)n_expo, page);
            if (!p) strcpy(first_page, page);
            e.page_id = page;
            e.model_version = "ease@bench";
            e.n_exp = 1;
            e.exp_name[0] = "bench";
            e.variant[0] = v;
            if (mq__expo_encode(&e, true, &rec, &err) || mq__exlog_append(xl, &rec, &err)) die("exposure", &err);
            n_expo++;
        }
        for (int k = 0; k < 4; k++) {
            if (nb + 1 > (int)(sizeof batch / sizeof *batch)) {
                if (mq_evlog_append(el, batch, nb, NULL, &err)) die("events", &err);
                n_ev += nb;
                nb = 0;
            }
            mq_event *e = &batch[nb++];
            memset(e, 0, sizeof *e);
            snprintf(e->member, sizeof e->member, "%s", member);
            snprintf(e->title, sizeof e->title, "%d", 1 + (i * 7 + k * 131) % 9000);
            e->kind = MQ_EV_PLAY;
            e->time = k == 3 ? t - 3 * 86400 : t + 10 + k;
            e->value = (float)(60 * (1 + (i + k) % 90) + (v[0] == 'B' ? 30 : 0));
            if (k == 0) snprintf(e->page_id, sizeof e->page_id, "%s", first_page);
        }
    }
    if (nb && mq_evlog_append(el, batch, nb, NULL, &err)) die("events", &err);
    n_ev += nb;
    mq_evlog_close(el);
    mq__exlog_close(xl);
    mq_buf_release(&rec);

    /* the server's start-up: units from the exposure log, then the event log's replay */
    mq_xp_collect_opts co; mq_xp_collect_opts_init(&co, sizeof co);
    co.events = ev; co.exposures = ex; co.pre_days = 14; co.finish_seconds = 5400;
    double w0 = mq_now(), c0 = cpu_now();
    mq__xpc *live;
    if (mq__xpc_open_live(&co, mq__xps_now(), &live, &err)) die("live units", &err);
    if (mq_evlog_scan(ev, feed, live, &err)) die("replay", &err);
    double w_open = mq_now() - w0, c_open = cpu_now() - c0;

    long long now = (long long)time(NULL);
    double wall[2][100], cpu[2][100];
    mq_buf out[2];
    size_t first_len[2] = {0, 0};
    for (int r = 0; r < reps; r++)
        for (int path = 0; path < 2; path++) {   /* alternating: 0 rebuild from the logs, 1 in memory */
            mq_buf_init(&out[path]);
            w0 = mq_now();
            c0 = cpu_now();
            mq__xpc *c = live;
            if (path == 0) {
                mq_xp_collect_opts o1 = co;
                o1.experiment = "bench";
                if (mq__xpc_build(&o1, &c, &err)) die("rebuild", &err);
            }
            if (mq__xpr_report(&x, NULL, c, "bench", "play_seconds", NULL, now, &out[path], &err)) die("report", &err);
            if (path == 0) mq__xpc_destroy(c);
            wall[path][r] = mq_now() - w0;
            cpu[path][r] = cpu_now() - c0;
            if (!r) first_len[path] = out[path].len;
            if (path == 1 && (out[0].len != out[1].len || memcmp(out[0].p, out[1].p, out[0].len))) {
                fprintf(stderr, "bench_serve_xp_report: the two paths answered different reports\n");
                return 1;
            }
            if (path == 1) { mq_buf_release(&out[0]); mq_buf_release(&out[1]); }
        }
    for (int p = 0; p < 2; p++) { qsort(wall[p], (size_t)reps, sizeof **wall, cmp_d); qsort(cpu[p], (size_t)reps, sizeof **cpu, cmp_d); }
    printf("logs: %d units, %lld exposure records, %lld events; report %zu bytes, identical on both paths\n",
           units, n_expo, n_ev, first_len[1]);
    printf("report, units rebuilt from the logs (old): median %.1f ms wall, %.1f ms CPU (min %.1f, max %.1f ms CPU)\n",
           wall[0][reps / 2] * 1e3, cpu[0][reps / 2] * 1e3, cpu[0][0] * 1e3, cpu[0][reps - 1] * 1e3);
    printf("report, units in memory (new):          median %.1f ms wall, %.1f ms CPU (min %.1f, max %.1f ms CPU)\n",
           wall[1][reps / 2] * 1e3, cpu[1][reps / 2] * 1e3, cpu[1][0] * 1e3, cpu[1][reps - 1] * 1e3);
    printf("old / new: %.1fx wall, %.1fx CPU (medians of %d reports each, alternating)\n",
           wall[0][reps / 2] / wall[1][reps / 2], cpu[0][reps / 2] / cpu[1][reps / 2], reps);
    /* the CSV of the units, which includes the copy under the units' mutex */
    double lk[100];
    for (int r = 0; r < reps; r++) {
        mq_buf csv;
        mq_buf_init(&csv);
        c0 = cpu_now();
        if (mq__xpc_csv(live, "bench", &csv, NULL, &err)) die("csv", &err);
        lk[r] = cpu_now() - c0;
        mq_buf_release(&csv);
    }
    qsort(lk, (size_t)reps, sizeof *lk, cmp_d);
    printf("of a report, the units' CSV (copied under the units' mutex, then formatted): median %.1f ms CPU\n", lk[reps / 2] * 1e3);
    printf("start-up (once): units built from both logs in %.1f ms wall, %.1f ms CPU\n", w_open * 1e3, c_open * 1e3);
    mq__xpc_destroy(live);
    mq__xps_release(&x);
    return 0;
}
