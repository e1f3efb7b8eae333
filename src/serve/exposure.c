/* exposure.c: the exposure log: what every served list showed, to whom, under which variants.
 *
 * Records use seglog.c's segments, framing (u32 len | u32 CRC-32C | payload) and torn-tail
 * rules, with magic "MQEXPLG1". The payload (little-endian):
 *
 *     u8 version (1) | u8 flags (1 forced by ?xp=, 2 summary) | u8 route (0 homepage,
 *     1 recommendations, 2 similar, 3 a guardrail stop: member = the experiment, model_version =
 *     the reason, one experiment entry naming the variant) | i64 time (unix s) | u8 n member | u8 n page_id |
 *     u8 n model_version | u8 n_exp { u8 n name | u8 n variant | u8 served (1: default) } |
 *     u32 n_titles | u16 n_rows { u16 n row_id | u16 nt { u8 n title } x nt }
 *
 * where each "u8 n X" is a length followed by X's bytes. A summary record has n_rows = 0
 * (n_titles still counts what was shown). Row index = order in the record, position = order
 * within the row.
 *
 * Version 2 (a full record with artwork decisions) is version 1 followed by
 *
 *     u8 policy (mq_policy_kind, 5 = fixed) | u8 dm | dm bytes of member context (value = byte
 *     / 16, mq_art_context) | i64 the page's time on the server's event clock (--clock: what
 *     the reward window is measured on) | n_titles x { u8 variant (index among the title's
 *     artworks, 255 = none) | f64 propensity }
 *
 * in the titles' record order. Readers take both versions; a version 1 record has no artwork.
 *
 * Flag 4 (either version): exploration slots (explore.c). After everything above come
 * n_titles x f64: each title's exploration slot propensity, 0 for a title the page builder
 * placed.
 *
 * Flag 8 (either version): each experiment entry is followed by f64 share: the share of the
 * variant's hash buckets served the variant when the page was built (ramps and stops; 1 for
 * an unramped variant): the chance that a member of the variant's range is served it, which
 * the SRM check of docs/xp.md needs ("SRM under ramps"). Records without it (written before)
 * read as NaN shares.
 *
 * Writing. The request thread encodes and frames its record outside any lock (CRC included),
 * then, under the log's mutex, pwrites it at the end of the current segment before the page is
 * answered: once pwrite returns the record is in the kernel's page cache, so a crash of the
 * process (kill -9) after the response was queued cannot lose it. A background thread
 * fdatasyncs the segment once a second (batched: one sync for every page of that second), so
 * a machine crash loses at most the last second. Records are written one at a time under the
 * mutex, so a crash mid-write leaves at most one torn record at the end: the torn-tail rule
 * cuts it (its page was never answered). A full segment is synced and closed, and the next one
 * starts at the next sequence number. (A shared mapping instead of pwrite was measured slower:
 * each first write to a page of the mapping takes a page fault; bench/serve_exposure_append.c.)
 */
#include "serve/serve.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXPO_MAGIC "MQEXPLG1"
#define EXPO_MAX (16u << 20)
#define EXPO_MIN 17u

static const mq__seg_fmt expo_fmt = {EXPO_MAGIC, "exposure log", EXPO_MIN, EXPO_MAX};

typedef struct scan_ctx {
    int (*fn)(void *user, const mq__expo_rec *r, uint64_t seq);
    void *user;
} scan_ctx;
static int scan_rec(void *user, const unsigned char *payload, uint32_t len, uint64_t seq,
                    const char **why);

int mq__expo_mode_parse(const char *s)
{
    if (!strcmp(s, "full")) return MQ__EXPO_FULL;
    if (!strcmp(s, "summary")) return MQ__EXPO_SUMMARY;
    if (!strcmp(s, "off")) return MQ__EXPO_OFF;
    return -1;
}

/* ---- encoding ---- */

static void put_str8(mq_buf *b, const char *s)
{
    size_t n = s ? strnlen(s, 255) : 0;
    mq_buf_putc(b, (char)n);
    mq_buf_put(b, s, n);
}

static void put_u16(mq_buf *b, unsigned v)
{
    unsigned char p[2] = {(unsigned char)(v & 0xff), (unsigned char)(v >> 8)};
    mq_buf_put(b, p, 2);
}

int mq__expo_encode(const mq__expo *e, bool summary, mq_buf *b, mq_err *err)
{
    mq_buf_reset(b);
    unsigned char hdr[MQ__SEG_REC_HDR] = {0};
    mq_buf_put(b, hdr, sizeof hdr);
    unsigned char head[11];
    bool art = e->art_variant && !summary && e->n_rows <= 65535;
    head[0] = art ? 2 : 1;
    bool xp4 = e->explore_prop && !summary && e->n_rows <= 65535;
    bool share = e->has_share && e->n_exp > 0;
    head[1] = (unsigned char)((e->forced ? 1 : 0) | (summary ? 2 : 0) | (xp4 ? 4 : 0) | (share ? 8 : 0));
    head[2] = (unsigned char)e->route;
    mq__put_u64(head + 3, (uint64_t)e->time);
    mq_buf_put(b, head, sizeof head);
    put_str8(b, e->member);
    put_str8(b, e->page_id);
    put_str8(b, e->model_version);
    int ne = MQ_MIN(e->n_exp, MQ__XPS_MAX);
    mq_buf_putc(b, (char)ne);
    for (int i = 0; i < ne; i++) {
        put_str8(b, e->exp_name[i]);
        put_str8(b, e->variant[i]);
        mq_buf_putc(b, e->served_default[i] ? 1 : 0);
        if (share) mq_buf_put(b, &e->served_share[i], 8);   /* little-endian hosts, as below */
    }
    uint32_t total = 0;
    for (int r = 0; r < e->n_rows; r++) total += (uint32_t)e->row_n[r];
    unsigned char t4[4];
    mq__put_u32(t4, total);
    mq_buf_put(b, t4, 4);
    if (summary || e->n_rows > 65535) {
        put_u16(b, 0);
    } else {
        put_u16(b, (unsigned)e->n_rows);
        const char *const *t = e->titles;
        for (int r = 0; r < e->n_rows; r++) {
            size_t rl = strnlen(e->row_id[r], 65535);
            put_u16(b, (unsigned)rl);
            mq_buf_put(b, e->row_id[r], rl);
            int nt = MQ_MIN(e->row_n[r], 65535);
            put_u16(b, (unsigned)nt);
            /* the row's titles in one pass: measure, make room once, copy */
            size_t need = 0;
            unsigned char len[256];             /* title lengths, measured once (rows <= 100) */
            if (nt > 256) { mq_buf_release(b); return mq__err_set(err, MQ_ERANGE, "exposure: a row of %d titles", nt); }
            for (int j = 0; j < nt; j++) need += 1u + (len[j] = (unsigned char)strnlen(t[j], 255));
            if (need && !b->oom) {
                if (b->cap - b->len < need) {
                    char *p = realloc(b->p, b->len + need + 4096);
                    if (!p) { b->oom = true; break; }
                    b->p = p;
                    b->cap = b->len + need + 4096;
                }
                unsigned char *q = (unsigned char *)b->p + b->len;
                for (int j = 0; j < nt; j++) {
                    size_t n = len[j];
                    *q++ = (unsigned char)n;
                    memcpy(q, t[j], n);
                    q += n;
                }
                b->len += need;
            }
            t += e->row_n[r];
        }
    }
    if (art) {
        mq_buf_putc(b, (char)e->art_policy);
        mq_buf_putc(b, (char)e->art_dm);
        mq_buf_put(b, e->art_ctx, (size_t)e->art_dm);
        unsigned char t8[8];
        mq__put_u64(t8, (uint64_t)e->art_time);
        mq_buf_put(b, t8, 8);
        for (uint32_t i = 0; i < total; i++) {
            unsigned char q[9];
            q[0] = e->art_variant[i];
            memcpy(q + 1, &e->art_prop[i], 8);   /* little-endian hosts (as every u64 here) */
            mq_buf_put(b, q, 9);
        }
    }
    if (xp4)
        for (uint32_t i = 0; i < total; i++) mq_buf_put(b, &e->explore_prop[i], 8);
    if (b->oom) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    if (b->len - MQ__SEG_REC_HDR > EXPO_MAX)
        return mq__err_set(err, MQ_ERANGE, "exposure record of %zu bytes is over the limit", b->len);
    mq__seg_frame((unsigned char *)b->p, (uint32_t)(b->len - MQ__SEG_REC_HDR));
    return 0;
}

void mq__expo_retime(mq_buf *rec, int64_t time)
{
    unsigned char *p = (unsigned char *)rec->p;
    mq__put_u64(p + MQ__SEG_REC_HDR + 3, (uint64_t)time);
    mq__seg_frame(p, (uint32_t)(rec->len - MQ__SEG_REC_HDR));
}

typedef struct rd { const unsigned char *p, *end; bool bad; } rd;

static unsigned rd_u8(rd *r) { if (r->p + 1 > r->end) { r->bad = true; return 0; } return *r->p++; }
static unsigned rd_u16(rd *r)
{
    if (r->p + 2 > r->end) { r->bad = true; return 0; }
    unsigned v = (unsigned)r->p[0] | (unsigned)r->p[1] << 8;
    r->p += 2;
    return v;
}
static mq__expo_str rd_str(rd *r, unsigned n)
{
    mq__expo_str s = {(const char *)r->p, (int)n};
    if (r->p + n > r->end) { r->bad = true; s.n = 0; return s; }
    r->p += n;
    return s;
}

int mq__expo_decode(const unsigned char *payload, uint32_t len, mq__expo_rec *o)
{
    rd r = {payload, payload + len, false};
    memset(o, 0, sizeof *o);
    if (len < EXPO_MIN || payload[0] < 1 || payload[0] > 2 || payload[1] > 15 || payload[2] > 3) return MQ__SEG_BAD;
    const bool xp4 = payload[1] & 4;
    const bool v2 = payload[0] == 2;
    o->art_policy = -1;
    o->forced = payload[1] & 1;
    o->summary = payload[1] & 2;
    o->route = payload[2];
    o->time = (int64_t)mq__get_u64(payload + 3);
    r.p += 11;
    o->member = rd_str(&r, rd_u8(&r));
    o->page_id = rd_str(&r, rd_u8(&r));
    o->model_version = rd_str(&r, rd_u8(&r));
    o->n_exp = (int)rd_u8(&r);
    if (o->n_exp > MQ__XPS_MAX) return MQ__SEG_BAD;
    for (int i = 0; i < o->n_exp && !r.bad; i++) {
        o->exp_name[i] = rd_str(&r, rd_u8(&r));
        o->variant[i] = rd_str(&r, rd_u8(&r));
        unsigned sd = rd_u8(&r);
        if (sd > 1) return MQ__SEG_BAD;
        o->served_default[i] = sd;
        o->served_share[i] = NAN;
        if (payload[1] & 8) {
            mq__expo_str t8 = rd_str(&r, 8);
            if (r.bad) return MQ__SEG_BAD;
            memcpy(&o->served_share[i], t8.p, 8);
            if (!(o->served_share[i] >= 0 && o->served_share[i] <= 1)) return MQ__SEG_BAD;
        }
    }
    if (r.bad || r.p + 4 > r.end) return MQ__SEG_BAD;
    o->n_titles = mq__get_u32(r.p);
    r.p += 4;
    o->n_rows = (int)rd_u16(&r);
    o->rows = r.p;
    o->end = r.end;
    /* walk the rows once to check the lengths add up */
    uint64_t seen = 0;
    for (int i = 0; i < o->n_rows && !r.bad; i++) {
        rd_str(&r, rd_u16(&r));
        unsigned nt = rd_u16(&r);
        for (unsigned j = 0; j < nt && !r.bad; j++) rd_str(&r, rd_u8(&r));
        seen += nt;
    }
    if (v2 && !r.bad) {
        if (o->summary || !o->n_rows) return MQ__SEG_BAD;
        o->art_policy = (int)rd_u8(&r);
        o->art_dm = (int)rd_u8(&r);
        o->art_ctx = (const uint8_t *)rd_str(&r, (unsigned)o->art_dm).p;
        mq__expo_str t8 = rd_str(&r, 8);
        if (r.bad) return MQ__SEG_BAD;
        o->art_time = (int64_t)mq__get_u64((const unsigned char *)t8.p);
        if ((size_t)(r.end - r.p) < (size_t)o->n_titles * 9 || o->art_policy > MQ_POLICY_FIXED) return MQ__SEG_BAD;
        o->art = r.p;
        r.p += (size_t)o->n_titles * 9;
    }
    const unsigned char *tail = r.p;
    if (xp4 && !r.bad) {
        if (o->summary || !o->n_rows || (size_t)(r.end - r.p) < (size_t)o->n_titles * 8) return MQ__SEG_BAD;
        o->explore = r.p;
        r.p += (size_t)o->n_titles * 8;
    }
    if (r.bad || r.p != r.end || o->member.n == 0 || (o->n_rows && seen != o->n_titles)) return MQ__SEG_BAD;
    if (v2 || xp4) o->end = tail - (v2 ? (size_t)o->n_titles * 9 : 0);   /* the row walk stops at the blocks */
    return 0;
}

double mq__expo_explore(const mq__expo_rec *r, uint32_t i)
{
    double p = 0;
    if (r->explore && i < r->n_titles) memcpy(&p, r->explore + (size_t)i * 8, 8);
    return p;
}

void mq__expo_art(const mq__expo_rec *r, uint32_t i, int *variant, double *prop)
{
    if (!r->art || i >= r->n_titles) { *variant = 255; *prop = 0; return; }
    const unsigned char *q = r->art + (size_t)i * 9;
    *variant = q[0];
    memcpy(prop, q + 1, 8);
}

bool mq__expo_rows_next(const mq__expo_rec *rec, const unsigned char **at, mq__expo_str *row_id,
                        mq__expo_str *titles, int cap, int *n_titles)
{
    if (!*at || *at >= rec->end) return false;
    rd r = {*at, rec->end, false};
    *row_id = rd_str(&r, rd_u16(&r));
    int nt = (int)rd_u16(&r);
    *n_titles = nt;
    for (int j = 0; j < nt; j++) {
        mq__expo_str s = rd_str(&r, rd_u8(&r));
        if (j < cap) titles[j] = s;
    }
    if (r.bad) return false;
    *at = r.p;
    return true;
}

/* ---- the writer ---- */

struct mq__exlog {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char dir[4096];
    int fd;                         /* the current segment, -1 after a failure */
    int64_t off;                    /* its size */
    int64_t segment_bytes;
    uint64_t next_seq;
    bool dirty, stop, thread_started;
    pthread_t flusher;
    const mq_log *log;
    mq__exlog_stats st;
};

/* Opens the segment starting at first for appending at off (creating it with a header). mu
 * held (or not yet shared). */
static int open_segment(mq__exlog *l, uint64_t first, int64_t off, mq_err *err)
{
    char path[4200];
    mq__seg_path(path, sizeof path, l->dir, first);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return mq__err_set(err, MQ_EIO, "%s: %s", path, strerror(errno));
    if (off < MQ__SEG_HDR) {
        unsigned char h[MQ__SEG_HDR];
        mq__seg_header(h, EXPO_MAGIC, first);
        if (ftruncate(fd, 0) != 0 || pwrite(fd, h, MQ__SEG_HDR, 0) != MQ__SEG_HDR) {
            int e = errno;
            close(fd);
            return mq__err_set(err, MQ_EIO, "%s: writing the header: %s", path, strerror(e));
        }
        off = MQ__SEG_HDR;
        mq__fsync_dir(l->dir, NULL);
    }
    l->fd = fd;
    l->off = off;
    return 0;
}

/* Syncs and closes the current segment. mu held. */
static void close_segment(mq__exlog *l)
{
    if (l->fd < 0) return;
    fdatasync(l->fd);
    close(l->fd);
    l->fd = -1;
}

static void *flusher_main(void *arg)
{
    mq__exlog *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        if (!l->dirty || l->fd < 0) continue;
        int fd = dup(l->fd);
        l->dirty = false;
        pthread_mutex_unlock(&l->mu);
        /* one fdatasync for every record of the last second */
        if (fd >= 0) { fdatasync(fd); close(fd); }
        pthread_mutex_lock(&l->mu);
        l->st.syncs++;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int mq__exlog_open(const char *dir, int64_t segment_bytes, const mq_log *log, mq__exlog **out,
                   mq_err *err)
{
    *out = NULL;
    if (strlen(dir) >= 4000) return mq__err_set(err, MQ_EINVAL, "exposure log path too long");
    int rc = mq__mkdir_p(dir, err);
    if (rc) return rc;
    mq__exlog *l = calloc(1, sizeof *l);
    if (!l) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    l->fd = -1;
    l->log = log;
    l->segment_bytes = segment_bytes > 0 ? segment_bytes : 64 << 20;
    mq__seg_scan_out so;
    scan_ctx sc = {NULL, NULL};
    rc = mq__seg_scan(dir, &expo_fmt, scan_rec, &sc, true, log, &so, err);
    if (rc) goto fail;
    l->next_seq = so.next_seq;
    l->st.records = so.next_seq - 1;
    l->st.bytes = so.bytes;
    rc = so.last_first ? open_segment(l, so.last_first, so.last_len, err) : open_segment(l, l->next_seq, 0, err);
    if (rc) goto fail;
    if (pthread_create(&l->flusher, NULL, flusher_main, l) != 0) {
        rc = mq__err_set(err, MQ_ENOMEM, "exposure log: cannot start its flush thread");
        goto fail;
    }
    l->thread_started = true;
    *out = l;
    return 0;
fail:
    mq__exlog_close(l);
    return rc;
}

void mq__exlog_close(mq__exlog *l)
{
    if (!l) return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->flusher, NULL);
    }
    close_segment(l);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

int mq__exlog_append(mq__exlog *l, const mq_buf *rec, mq_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    if (l->fd < 0) {
        rc = mq__err_set(err, MQ_EIO, "exposure log '%s' failed earlier", l->dir);
    } else {
        if (l->off + (int64_t)rec->len > l->segment_bytes && l->off > MQ__SEG_HDR) {
            close_segment(l);
            rc = open_segment(l, l->next_seq, 0, err);
        }
        size_t done = 0;
        while (!rc && done < rec->len) {
            ssize_t w = pwrite(l->fd, rec->p + done, rec->len - done, l->off + (off_t)done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                rc = mq__err_set(err, MQ_EIO, "exposure log '%s': write: %s", l->dir, w < 0 ? strerror(errno) : "no progress");
                /* cut what may have landed, so the file ends on a whole record */
                if (ftruncate(l->fd, (off_t)l->off) != 0) { close(l->fd); l->fd = -1; }
                break;
            }
            done += (size_t)w;
        }
        if (!rc) {
            l->off += (int64_t)rec->len;
            l->next_seq++;
            l->dirty = true;
            l->st.records++;
            l->st.bytes += (int64_t)rec->len;
        }
    }
    if (rc) l->st.failures++;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void mq__exlog_get_stats(mq__exlog *l, mq__exlog_stats *st)
{
    pthread_mutex_lock(&l->mu);
    *st = l->st;
    pthread_mutex_unlock(&l->mu);
}

static int scan_rec(void *user, const unsigned char *payload, uint32_t len, uint64_t seq,
                    const char **why)
{
    scan_ctx *c = user;
    mq__expo_rec r;
    if (mq__expo_decode(payload, len, &r)) {
        *why = "exposure record fields inconsistent";
        return MQ__SEG_BAD;
    }
    int rc = c->fn ? c->fn(c->user, &r, seq) : 0;
    return rc == MQ__SEG_BAD ? MQ_EIO : rc;
}

int mq__exlog_scan(const char *dir, int (*fn)(void *user, const mq__expo_rec *r, uint64_t seq),
                   void *user, mq_err *err)
{
    scan_ctx c = {fn, user};
    mq__seg_scan_out so;
    return mq__seg_scan(dir, &expo_fmt, scan_rec, &c, false, NULL, &so, err);
}
