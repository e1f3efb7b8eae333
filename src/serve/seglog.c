/* seglog.c: the segment files shared by the event log (log.c) and the exposure log
 * (exposure.c): naming, headers, record framing, and the scan with torn-tail recovery.
 *
 * A log is a directory of segments named by the sequence number of their first record,
 * "%020llu.log". A segment starts with a 16-byte header, an 8-byte magic that names the kind
 * of log ("MQEVLOG1", "MQEXPLG1") and the first sequence (u64 little-endian), then records
 *
 *     u32 len | u32 crc | payload[len]        crc = CRC-32C(len bytes || payload)
 *
 * whose payload the owning log defines (a record callback decodes and checks it).
 *
 * Recovery rules (one place for both logs). A record whose length runs past the end of the
 * last segment, or that fails its CRC or its field checks and is the last thing in the file,
 * or after which the file holds only zero bytes from any offset inside that record (a
 * filesystem that extended the file, or allocated its last pages, before the data landed) is a
 * torn write: with repair the file
 * is cut back to the last good record. Damage anywhere else (a bad record followed by more
 * data, a bad header, a gap in sequence numbers) is MQ_ECORRUPT naming segment and offset.
 */
#include "serve/serve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void mq__put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
void mq__put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
uint32_t mq__get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
uint64_t mq__get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

size_t mq__seg_frame(unsigned char *rec, uint32_t len)
{
    mq__put_u32(rec, len);
    uint32_t crc = mq_crc32c(0, rec, 4);
    crc = mq_crc32c(crc, rec + MQ__SEG_REC_HDR, len);
    mq__put_u32(rec + 4, crc);
    return MQ__SEG_REC_HDR + (size_t)len;
}

void mq__seg_header(unsigned char *h, const char *magic, uint64_t first)
{
    memcpy(h, magic, 8);
    mq__put_u64(h + 8, first);
}

void mq__seg_path(char *out, size_t cap, const char *dir, uint64_t first)
{
    snprintf(out, cap, "%s/%020llu.log", dir, (unsigned long long)first);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int mq__seg_list(const char *dir, const char *what, uint64_t **first, int *n, mq_err *err)
{
    *first = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return mq__err_set(err, errno == ENOENT ? MQ_ENOTFOUND : MQ_EIO,
                               "%s '%s': %s", what, dir, strerror(errno));
    int cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        size_t len = strlen(nm);
        if (len != 24 || strcmp(nm + 20, ".log") != 0) continue;
        bool digits = true;
        for (int i = 0; i < 20; i++) digits &= nm[i] >= '0' && nm[i] <= '9';
        if (!digits) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            uint64_t *p = realloc(*first, (size_t)cap * sizeof *p);
            if (!p) { closedir(d); free(*first); *first = NULL; *n = 0; return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
            *first = p;
        }
        (*first)[(*n)++] = strtoull(nm, NULL, 10);
    }
    closedir(d);
    if (*n > 1) qsort(*first, (size_t)*n, sizeof **first, cmp_u64);
    return 0;
}

int mq__mkdir_p(const char *dir, mq_err *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return mq__err_set(err, MQ_EIO, "mkdir '%s': %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return mq__err_set(err, MQ_EIO, "mkdir '%s': %s", tmp, strerror(errno));
    return 0;
}

int mq__fsync_dir(const char *dir, mq_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return mq__err_set(err, MQ_EIO, "'%s': %s", dir, strerror(errno));
    int r = fsync(fd);
    close(fd);
    return r ? mq__err_set(err, MQ_EIO, "'%s': fsync: %s", dir, strerror(errno)) : 0;
}

/* Walks one segment's records from *seq. *good_end: byte offset after the last good record;
 * *torn: a torn tail follows it (allowed only in the last segment). */
static int scan_segment(const char *path, const unsigned char *p, size_t len, bool last,
                        uint64_t first, uint64_t *seq, const mq__seg_fmt *f, mq__seg_rec_fn fn,
                        void *user, size_t *good_end, bool *torn, mq_err *err)
{
    *torn = false;
    *good_end = 0;
    if (len < MQ__SEG_HDR) {
        if (last) { *torn = true; return 0; }   /* crashed while creating it */
        return mq__err_set(err, MQ_ECORRUPT, "%s: truncated segment header (%zu bytes)", path, len);
    }
    if (memcmp(p, f->magic, 8) != 0)
        return mq__err_set(err, MQ_ECORRUPT, "%s: bad magic (not a%s %s segment)", path,
                           strchr("aeiou", f->what[0]) ? "n" : "", f->what);
    if (mq__get_u64(p + 8) != first || first != *seq)
        return mq__err_set(err, MQ_ECORRUPT,
                           "%s: segment starts at sequence %llu, expected %llu", path,
                           (unsigned long long)mq__get_u64(p + 8), (unsigned long long)*seq);
    size_t off = MQ__SEG_HDR;
    while (off < len) {
        const char *why = NULL;
        bool past = false;
        size_t avail = len - off;
        uint32_t rl = avail >= MQ__SEG_REC_HDR ? mq__get_u32(p + off) : 0;
        if (avail < MQ__SEG_REC_HDR) { why = "short record header"; past = true; }
        else if (rl < f->min_len || rl > f->max_len) why = "record length out of range";
        else if (avail < MQ__SEG_REC_HDR + (size_t)rl) { why = "record runs past the end"; past = true; }
        else {
            uint32_t crc = mq_crc32c(0, p + off, 4);
            crc = mq_crc32c(crc, p + off + MQ__SEG_REC_HDR, rl);
            if (crc != mq__get_u32(p + off + 4)) why = "CRC-32C mismatch";
            else {
                int rc = fn ? fn(user, p + off + MQ__SEG_REC_HDR, rl, *seq, &why) : 0;
                if (rc == MQ__SEG_BAD) { if (!why) why = "record fields inconsistent"; }
                else if (rc) return rc;
            }
        }
        if (why) {
            /* the zero tail: everything from zero_from to the end of the file is zero bytes */
            size_t zero_from = len;
            while (zero_from > off && p[zero_from - 1] == 0) zero_from--;
            /* where the bad record would end, if its length field can be believed (else as far
             * as the longest record could reach) */
            bool believable = avail >= MQ__SEG_REC_HDR && rl >= f->min_len && rl <= f->max_len;
            size_t rec_end = off + MQ__SEG_REC_HDR + (believable ? (size_t)rl : (size_t)f->max_len);
            bool ends_at_eof = avail >= MQ__SEG_REC_HDR && off + MQ__SEG_REC_HDR + (size_t)rl == len;
            /* zeros from any offset inside this record to the end of the file: the file was
             * extended (or its last pages allocated) before the data landed, as a crash on
             * many file systems leaves it; nothing after it can be a record */
            bool zeros = zero_from <= rec_end;
            if (last && (past || zeros || ends_at_eof)) {
                *torn = true;
                *good_end = off;
                return 0;
            }
            return mq__err_set(err, MQ_ECORRUPT, "%s: byte offset %zu (record %llu): %s", path,
                               off, (unsigned long long)*seq, why);
        }
        (*seq)++;
        off += MQ__SEG_REC_HDR + rl;
    }
    *good_end = off;
    return 0;
}

int mq__seg_scan(const char *dir, const mq__seg_fmt *f, mq__seg_rec_fn fn, void *user,
                 bool repair, const mq_log *log, mq__seg_scan_out *out, mq_err *err)
{
    uint64_t *first;
    int n;
    memset(out, 0, sizeof *out);
    int rc = mq__seg_list(dir, f->what, &first, &n, err);
    if (rc) return rc;
    uint64_t seq = n ? first[0] : 1;
    out->segments = (uint64_t)n;
    for (int i = 0; i < n && !rc; i++) {
        char path[4200];
        mq__seg_path(path, sizeof path, dir, first[i]);
        const void *data;
        size_t len;
        rc = mq__file_map(path, &data, &len, err);
        if (rc) break;
        size_t good;
        bool torn;
        bool last = i == n - 1;
        rc = scan_segment(path, data, len, last, first[i], &seq, f, fn, user, &good, &torn, err);
        mq__file_unmap(data, len);
        if (rc) break;
        if (torn) {
            size_t keep = good >= MQ__SEG_HDR ? good : 0;
            if (repair) {
                if (truncate(path, (off_t)keep) != 0) {
                    rc = mq__err_set(err, MQ_EIO, "%s: truncate: %s", path, strerror(errno));
                    break;
                }
                mq__logf(log, "%s: %s: dropped a torn final record (%zu bytes after offset %zu)",
                             f->what, path, len - keep, keep);
                out->truncated_bytes += len - keep;
            }
            good = keep;
        } else {
            good = len;
        }
        out->bytes += (int64_t)good;
        if (last) { out->last_first = first[i]; out->last_len = (int64_t)good; }
    }
    free(first);
    out->next_seq = seq;
    return rc;
}
