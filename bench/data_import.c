/* bench/data_import.c: times the data layer's loading paths for bench/data_import.sh.
 *
 *   bench_data_import load PATH [REPS]   mq_data_load (parse + validate + build CSR/CSC + catalog)
 *   bench_data_import snap FILE.mqd [REPS]  mq_snapshot_load (mmap + checksums + id maps)
 *   bench_data_import touch FILE.mqd     snapshot load, then one pass over every array (RSS)
 *   bench_data_import fresh BYTES        malloc + memset + free of BYTES of fresh memory: the
 *                                        cost of first-touching the memory an import must fill
 *
 * Prints the best wall time over REPS runs (default 3) in seconds and the interaction count,
 * as "seconds nnz". One thread; the library is single-threaded here.
 */
#include "marquee.h"

#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s load|snap|touch PATH [REPS]\n", argv[0]);
        return 2;
    }
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    if (reps < 1) reps = 1;
    if (strcmp(argv[1], "fresh") == 0) {
        size_t bytes = (size_t)atoll(argv[2]);
        double b = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = mq_now();
            char *p = malloc(bytes);
            if (!p) return 1;
            memset(p, r + 1, bytes);
            volatile char c = p[bytes / 2];
            (void)c;
            free(p);
            double t = mq_now() - t0;
            if (t < b) b = t;
        }
        printf("%.6f %zu\n", b, bytes);
        return 0;
    }
    double best = 1e30;
    long long nnz = 0;
    double sink = 0;
    for (int r = 0; r < reps; r++) {
        mq_err err = {0};
        mq_dataset *d = NULL;
        double t0 = mq_now();
        int rc;
        if (strcmp(argv[1], "load") == 0) {
            mq_load_opts o; mq_load_opts_init(&o, sizeof o);
            const char *p[1] = {argv[2]};
            rc = mq_data_load(p, 1, &o, &d, &err);
        } else {
            rc = mq_snapshot_load(argv[2], &d, &err);
        }
        if (rc) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        if (strcmp(argv[1], "touch") == 0)
            for (int64_t e = 0; e < d->nnz; e++) sink += d->m_val[e] + (double)d->t_idx[e];
        double t = mq_now() - t0;
        if (t < best) best = t;
        nnz = d->nnz;
        mq_dataset_destroy(d);
    }
    printf("%.6f %lld\n", best, nnz);
    return sink < 0;   /* keeps the touch loop */
}
