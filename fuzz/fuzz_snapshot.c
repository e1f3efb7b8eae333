/* fuzz/fuzz_snapshot.c: a fuzz target for the snapshot loader (mq_snapshot_load) that gets
 * past the checksums.
 *
 * Raw mutations of a snapshot almost always die at a CRC check, which leaves the structural
 * checks behind it unexercised. So, when the first input byte is odd, the harness first
 * "repairs" the checksums of the rest of the input: it recomputes each in-bounds section's
 * CRC-32C, the section table's and the header's (and the header's file-size field), exactly as a
 * writer would, then loads it. When even, the bytes are loaded as they are. Either way the load
 * must succeed (then the dataset is checked for the invariants the library relies on) or fail
 * with MQ_ECORRUPT (MQ_EUNSUP for an intact header of another version) and a message; never crash, read out of bounds, leak or hang.
 * Seeds: fuzz/corpus/snapshot (snapshots of the test fixtures). Build and run: docs/fuzzing.md.
 */
#include "marquee.h"
#include "fuzz_io.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void repair(uint8_t *p, size_t n)
{
    if (n < 64) return;
    uint64_t fsize = n;
    memcpy(p + 40, &fsize, 8);
    uint32_t ns;
    memcpy(&ns, p + 32, 4);
    if (ns <= 64 && 64 + (size_t)ns * 32 <= n) {
        for (uint32_t i = 0; i < ns; i++) {
            uint8_t *e = p + 64 + (size_t)i * 32;
            uint64_t off, len;
            memcpy(&off, e + 8, 8);
            memcpy(&len, e + 16, 8);
            if (off <= n && len <= n - off) {
                uint32_t c = len ? mq_crc32c(0, p + off, (size_t)len) : 0;
                memcpy(e + 4, &c, 4);
            }
        }
        uint32_t t = mq_crc32c(0, p + 64, (size_t)ns * 32);
        memcpy(p + 48, &t, 4);
    }
    uint32_t h = mq_crc32c(0, p, 60);
    memcpy(p + 60, &h, 4);
}

static void check(const mq_dataset *d)
{
    if (d->n_members < 0 || d->n_titles < 0 || d->nnz < 0) abort();
    if (d->m_ptr[0] != 0 || d->m_ptr[d->n_members] != d->nnz) abort();
    if (d->t_ptr[0] != 0 || d->t_ptr[d->n_titles] != d->nnz) abort();
    for (int32_t u = 0; u < d->n_members; u++) {
        if (d->m_ptr[u + 1] < d->m_ptr[u]) abort();
        for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++)
            if (d->m_idx[e] < 0 || d->m_idx[e] >= d->n_titles) abort();
    }
    for (int32_t i = 0; i < d->n_titles; i++) {
        if (d->t_ptr[i + 1] < d->t_ptr[i]) abort();
        for (int64_t e = d->t_ptr[i]; e < d->t_ptr[i + 1]; e++)
            if (d->t_idx[e] < 0 || d->t_idx[e] >= d->n_members) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t n = size - 1;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return 0;
    memcpy(buf, data + 1, n);
    if (data[0] & 1) repair(buf, n);
    const char *path = fuzz_memfile(buf, n);
    free(buf);
    if (!path) return 0;
    mq_dataset *d = NULL;
    mq_err err = {0};
    int rc = mq_snapshot_load(path, &d, &err);
    if (rc == 0) {
        check(d);
        mq_dataset_destroy(d);
    } else if (rc != MQ_ECORRUPT && rc != MQ_ENOMEM && rc != MQ_EUNSUP) {
        fprintf(stderr, "rc %d: %s\n", rc, err.msg);
        abort();   /* damaged: corrupt (or, a checksummed header of another version: unsupported) */
    } else if (!err.msg[0]) {
        abort();
    }
    return 0;
}
