/* fuzz/fuzz_load.c: a fuzz target for the data loaders and the snapshot reader.
 *
 * The first input byte picks the target: a loader format (movielens, ml100k, mldat, lastfm,
 * lines, events; with and without skip_bad_rows), or the snapshot reader; the rest of the input
 * is the file. Every call must either load (then the dataset is checked for consistency and
 * round-tripped through a snapshot) or fail with a message; never crash, leak or hang.
 *
 * libFuzzer (clang), the recipe in docs/data.md:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc \
 *     fuzz/fuzz_load.c src/data/data_load.c src/data/catalog.c src/data/snapshot.c src/data/dataset.c src/data/idmap.c \
 *     src/core/common.c -o build/fuzz_load -lm -lpthread
 *   build/fuzz_load -max_total_time=300 fuzz/corpus
 * Without libFuzzer (-DMQ_FUZZ_STANDALONE, any compiler with ASan): a built-in mutator over the
 * seed files named on the command line, for a number of seconds:
 *   cc -g -O1 -fsanitize=address,undefined -DMQ_FUZZ_STANDALONE ... -o build/fuzz_load_sa
 *   build/fuzz_load_sa 120 tests/fixtures/data/ml/ratings.csv tests/fixtures/data/events.csv ...
 */
#include "marquee.h"
#include "fuzz_io.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *names[] = {"ratings.csv", "u.data", "ratings.dat", "user_artists.dat", "train.txt", "events.csv"};

static void check(const mq_dataset *d)
{
    /* Structural invariants the rest of the library relies on. */
    if (d->m_ptr[0] != 0 || d->m_ptr[d->n_members] != d->nnz || d->t_ptr[d->n_titles] != d->nnz) abort();
    for (int32_t u = 0; u < d->n_members; u++)
        for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) {
            if (d->m_idx[e] < 0 || d->m_idx[e] >= d->n_titles) abort();
            if (e > d->m_ptr[u] && d->m_idx[e] <= d->m_idx[e - 1]) abort();
            if (d->m_val[e] != d->m_val[e]) abort();   /* NaN */
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char path[160], snap[160];
    const char *dir = fuzz_dir("load");   /* tmpfs: the snapshot round trip's fsync is free */
    int sel = data[0] % 13;
    bool snapshot = sel == 12;
    int fmt = sel % 6 + 1;
    snprintf(path, sizeof path, "%s/%s", dir, snapshot ? "in.mqd" : names[fmt - 1]);
    snprintf(snap, sizeof snap, "%s/out.mqd", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    mq_dataset *d = NULL;
    mq_err err = {0};
    int rc;
    if (snapshot) {
        rc = mq_snapshot_load(path, &d, &err);
    } else {
        mq_load_opts o;
        mq_load_opts_init(&o, sizeof o);
        o.format = fmt;
        o.skip_bad_rows = sel >= 6;
        const char *p[1] = {path};
        rc = mq_data_load(p, 1, &o, &d, &err);
    }
    if (rc == 0) {
        check(d);
        mq_dataset *e = NULL;
        if (mq_snapshot_save(d, snap, &err) == 0 && mq_snapshot_load(snap, &e, &err) == 0) {
            if (e->nnz != d->nnz) abort();
            mq_dataset_destroy(e);
        }
        mq_dataset_destroy(d);
    } else if (!err.msg[0]) {
        abort();   /* every failure explains itself */
    }
    return 0;
}

#ifdef MQ_FUZZ_STANDALONE
#include <time.h>
/* A small mutator: byte flips, inserts of interesting bytes, deletions, line duplication,
 * truncation; seeded from the fixtures, a fresh format byte each time. */
int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: %s SECONDS SEED_FILE...\n", argv[0]); return 2; }
    double secs = atof(argv[1]);
    int ns = argc - 2;
    uint8_t **seed = calloc((size_t)ns, sizeof *seed);
    size_t *slen = calloc((size_t)ns, sizeof *slen);
    for (int i = 0; i < ns; i++) {
        FILE *f = fopen(argv[i + 2], "rb");
        if (!f) { perror(argv[i + 2]); return 1; }
        seed[i] = malloc(1 << 16);
        slen[i] = fread(seed[i], 1, (1 << 16) - 1, f);
        fclose(f);
    }
    static const uint8_t interesting[] = {',', '\n', '\t', '|', ':', '"', ' ', '\r', '0', '9', '-', '.', 'e', 0, 0x80, 0xC3, 0xFF};
    mq_rng r;
    mq_rng_seed(&r, (uint64_t)time(NULL));
    uint8_t *buf = malloc(1 << 17);
    double t0 = mq_now();
    long iters = 0;
    while (mq_now() - t0 < secs) {
        int s = (int)mq_rng_below(&r, (uint64_t)ns);
        size_t n = slen[s];
        memcpy(buf + 1, seed[s], n);
        buf[0] = (uint8_t)mq_rng_below(&r, 256);
        int muts = 1 + (int)mq_rng_below(&r, 8);
        for (int m = 0; m < muts && n > 0; m++) {
            size_t at = 1 + mq_rng_below(&r, n);
            switch (mq_rng_below(&r, 5)) {
            case 0: buf[at] ^= (uint8_t)(1u << mq_rng_below(&r, 8)); break;
            case 1: if (n < (1 << 16)) { memmove(buf + at + 1, buf + at, n + 1 - at); buf[at] = interesting[mq_rng_below(&r, sizeof interesting)]; n++; } break;
            case 2: memmove(buf + at, buf + at + 1, n - at); n--; break;
            case 3: n = at - 1 + (size_t)mq_rng_below(&r, 2); break;   /* truncate */
            default: buf[at] = interesting[mq_rng_below(&r, sizeof interesting)];
            }
        }
        LLVMFuzzerTestOneInput(buf, n + 1);
        iters++;
    }
    fprintf(stderr, "fuzz_load: %ld inputs in %.0f s, no crash\n", iters, mq_now() - t0);
    for (int i = 0; i < ns; i++) free(seed[i]);
    free(seed);
    free(slen);
    free(buf);
    return 0;
}
#endif
