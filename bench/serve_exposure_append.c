/* serve_exposure_append.c: the request-path cost of the exposure log, in process: encoding a
 * full 20 x 40 homepage record (800 title ids of the demo catalog's length, 20 row ids, two
 * experiments) and copying it into the mapped segment, N times (default 20,000), with the
 * background fdatasync running. Prints ns per page for encode and append, the record size,
 * and the same for a summary record.
 *
 * Usage: build/bench_serve_exposure_append [N]   (make build/bench_serve_exposure_append)
 */
#include "serve/serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double run(const char *dir, int n, bool summary, size_t *bytes)
{
    static char ids[800][8];
    static const char *titles[800];
    for (int i = 0; i < 800; i++) { snprintf(ids[i], sizeof ids[i], "%d", 1 + (i * 7919) % 190000); titles[i] = ids[i]; }
    const char *rid[20];
    int rn[20];
    static char rows[20][64];
    for (int r = 0; r < 20; r++) { snprintf(rows[r], sizeof rows[r], r % 3 ? "genre:Comedy" : "because_you_watched:%d", r); rid[r] = rows[r]; rn[r] = 40; }
    mq__expo e = {0};
    e.member = "123456";
    e.model_version = "ease@20261206T044429Z";
    e.n_exp = 2;
    e.exp_name[0] = "home_rows_v2"; e.variant[0] = "B";
    e.exp_name[1] = "page_size"; e.variant[1] = "big";
    e.n_rows = 20;
    e.row_id = rid;
    e.row_n = rn;
    e.titles = titles;
    mq__exlog *l;
    mq_err err = {0, ""};
    if (mq__exlog_open(dir, 0, NULL, &l, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    mq_buf b;
    mq_buf_init(&b);
    char page[MQ_PAGE_ID_MAX + 1];
    double t0 = mq_now(), enc = 0;
    for (int i = 0; i < n; i++) {
        mq__xps_page_id(0x1234, (uint64_t)i, page);
        e.page_id = page;
        e.time = 1796500000 + i / 100;
        double a = mq_now();
        int rc = mq__expo_encode(&e, summary, &b, &err);
        enc += mq_now() - a;
        if (rc || mq__exlog_append(l, &b, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    }
    double dt = mq_now() - t0;
    fprintf(stderr, "  (%s: encode %.0f ns/page)\n", summary ? "summary" : "full", enc / n * 1e9);
    *bytes = b.len;
    mq_buf_release(&b);
    mq__exlog_close(l);
    return dt / n * 1e9;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    char dir[] = "/tmp/mq-expo-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char d1[64], d2[64];
    snprintf(d1, sizeof d1, "%s/full", dir);
    snprintf(d2, sizeof d2, "%s/summary", dir);
    size_t b1, b2;
    double full = run(d1, n, false, &b1), sum = run(d2, n, true, &b2);
    printf("exposure record, 20 x 40 page: full %.0f ns/page (%zu bytes), summary %.0f ns/page (%zu bytes), %d pages each\n",
           full, b1, sum, b2, n);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) != 0;
}
