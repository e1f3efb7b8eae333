/* log.c: the durable event log: append-only segment files, a CRC-32C per record, group
 * commit, replay at start-up, torn-tail recovery.
 *
 * Layout. A log is a directory of segments (seglog.c: "%020llu.log" named by the sequence of
 * their first record; sequence numbers start at 1 and run on across segments, so a record's
 * number is its position in the whole log), magic "MQEVLOG1", records
 *
 *     u32 len | u32 crc | payload[len]        crc = CRC-32C(len bytes || payload)
 *     payload = i64 time | f32 value | u8 kind | u8 member_len | u8 title_len | member | title
 *               [ u8 flags | (1) u8 n page_id | (2) u16 n row | (4) i32 position
 *                 | (8) u8 n event_id ]
 *
 * The bracketed attribution extension is present only when the event carries one of those
 * fields (flags says which, in that order); a record without it is the format written before
 * attribution existed, so old logs read unchanged.
 *
 * Recovery (seglog.c's rules). open() reads every segment. A torn final record (crash during
 * a write) is cut back; damage anywhere else is MQ_ECORRUPT naming segment and offset: it is
 * not what a crash does, and dropping it silently could lose acknowledged events.
 *
 * Group commit. Appenders encode their records outside the lock, then under the lock add them
 * to the pending buffer and take sequence numbers. The first appender that finds no commit in
 * progress becomes the leader: it takes the whole pending buffer (double-buffered, so others
 * keep appending to the other one), and without the lock writes it, fsyncs, and calls the apply
 * callback (the member store), then marks the batch durable and wakes the waiters. Everyone
 * whose records were in that batch returns; anyone left becomes the next leader. So N
 * concurrent writers cost about one fsync per fsync-latency, not N. In "batch" mode an append
 * waits for the log to be idle and commits alone; in "none" mode there is no fsync.
 *
 * Threads: all state is under l->mu; the leader role (l->flushing) makes file writes, fsync,
 * rollover and apply calls single-threaded and in sequence order.
 */
#include "serve/serve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define SEG_MAGIC "MQEVLOG1"
#define SEG_HDR MQ__SEG_HDR
#define REC_HDR MQ__SEG_REC_HDR
#define PAYLOAD_FIXED 15
#define EXT_MAX (1 + 1 + MQ_PAGE_ID_MAX + 2 + MQ_ROW_ID_MAX + 4 + 1 + MQ_EVENT_ID_MAX)
#define PAYLOAD_MAX (PAYLOAD_FIXED + 2 * MQ_ID_MAX + EXT_MAX)
#define REC_MAX (REC_HDR + PAYLOAD_MAX)
#define EXT_PAGE 1
#define EXT_ROW 2
#define EXT_POS 4
#define EXT_EVID 8

static const mq__seg_fmt evlog_fmt = {SEG_MAGIC, "event log", PAYLOAD_FIXED + 2, PAYLOAD_MAX};
#define REPLAY_BATCH 4096
#define MAX_BEHIND (1u << 20)   /* unapplied events kept before appends are refused */

typedef struct async_cb {
    mq_evlog_done_fn fn;
    void *user;
    uint64_t first;
} async_cb;

struct mq_evlog {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char dir[4096];
    int fd;                     /* the last segment, open for writing */
    int64_t seg_off;            /* its size */
    mq_evlog_opts o;
    mq_buf pending;             /* encoded records waiting for the next commit */
    mq_event *pend_ev;          /* the same records decoded, for the apply callback */
    int pend_n, pend_cap;
    uint64_t next_seq;          /* sequence of the next record taken */
    uint64_t durable_seq;       /* every record <= this is committed and applied */
    bool flushing;              /* a leader is committing */
    int sticky;                 /* write/fsync failed: the log refuses appends */
    char sticky_msg[sizeof(((mq_err *)0)->msg)];
    char apply_msg[sizeof(((mq_err *)0)->msg)];
    uint64_t fail_lo, fail_hi;  /* the last commit whose apply failed */
    int fail_code;
    /* a write or fsync that failed cleanly (the file was cut back to the last commit): the
     * batch and everything queued behind it were refused, their sequence numbers reused */
    bool need_roll;             /* the segment is full: open the next before the next write */
    uint64_t discard_gen;       /* bumped at each such refusal (synchronous waiters watch it) */
    int last_code;              /* the last write failure, 0 once a write succeeds again */
    char last_msg[sizeof(((mq_err *)0)->msg)];
    uint64_t write_failures, apply_failures;
    /* events durable in the log whose apply failed: one contiguous range, retried (leader
     * only) before any later batch so the store's applied sequence never passes them */
    mq_event *unapplied;
    int n_unapplied, cap_unapplied;
    uint64_t unapplied_first;
    uint64_t behind;            /* n_unapplied, published under mu */
    mq_evlog_stats st;
    async_cb *pend_cb;          /* asynchronous appenders waiting for the next commit */
    int pend_cbn, pend_cbcap;
    pthread_t committer;        /* started by the first asynchronous append */
    bool committer_started, closing;
};

int mq_fsync_parse(const char *s)
{
    if (!strcmp(s, "group")) return MQ_FSYNC_GROUP;
    if (!strcmp(s, "batch")) return MQ_FSYNC_BATCH;
    if (!strcmp(s, "none")) return MQ_FSYNC_NONE;
    return -1;
}

/* ---- encoding ---- */

static int check_event(const mq_event *e, mq_err *err)
{
    size_t ml = strnlen(e->member, MQ_ID_MAX + 1), tl = strnlen(e->title, MQ_ID_MAX + 1);
    if (ml == 0 || ml > MQ_ID_MAX)
        return mq__err_set(err, MQ_EINVAL, "event: member id is empty or longer than %d bytes",
                           MQ_ID_MAX);
    if (tl == 0 || tl > MQ_ID_MAX)
        return mq__err_set(err, MQ_EINVAL, "event: title id is empty or longer than %d bytes",
                           MQ_ID_MAX);
    if (e->kind < 0 || e->kind >= MQ_EV_COUNT)
        return mq__err_set(err, MQ_EINVAL, "event: kind %d is out of range", (int)e->kind);
    if (strnlen(e->page_id, MQ_PAGE_ID_MAX + 1) > MQ_PAGE_ID_MAX ||
        strnlen(e->row, MQ_ROW_ID_MAX + 1) > MQ_ROW_ID_MAX ||
        strnlen(e->event_id, MQ_EVENT_ID_MAX + 1) > MQ_EVENT_ID_MAX)
        return mq__err_set(err, MQ_EINVAL, "event: page_id, row or event_id is too long");
    if (e->has_position && e->position < 0)
        return mq__err_set(err, MQ_EINVAL, "event: position %d is negative", (int)e->position);
    return 0;
}

/* Encodes one record into p (REC_MAX bytes); returns its size. */
static size_t encode(const mq_event *e, unsigned char *p)
{
    size_t ml = strlen(e->member), tl = strlen(e->title);
    unsigned char *q = p + REC_HDR;
    mq__put_u64(q, (uint64_t)e->time);
    uint32_t fv;
    memcpy(&fv, &e->value, 4);
    mq__put_u32(q + 8, fv);
    q[12] = (unsigned char)e->kind;
    q[13] = (unsigned char)ml;
    q[14] = (unsigned char)tl;
    memcpy(q + 15, e->member, ml);
    memcpy(q + 15 + ml, e->title, tl);
    size_t len = PAYLOAD_FIXED + ml + tl;
    size_t pl = strlen(e->page_id), rl = strlen(e->row), il = strlen(e->event_id);
    unsigned flags = (pl ? EXT_PAGE : 0) | (rl ? EXT_ROW : 0) | (e->has_position ? EXT_POS : 0) |
                     (il ? EXT_EVID : 0);
    if (flags) {
        q[len++] = (unsigned char)flags;
        if (pl) { q[len++] = (unsigned char)pl; memcpy(q + len, e->page_id, pl); len += pl; }
        if (rl) { q[len++] = (unsigned char)(rl & 0xff); q[len++] = (unsigned char)(rl >> 8); memcpy(q + len, e->row, rl); len += rl; }
        if (e->has_position) { mq__put_u32(q + len, (uint32_t)e->position); len += 4; }
        if (il) { q[len++] = (unsigned char)il; memcpy(q + len, e->event_id, il); len += il; }
    }
    return mq__seg_frame(p, (uint32_t)len);
}

/* Decodes a payload whose frame and CRC are good. Returns 0 or MQ__SEG_BAD (*why). */
static int decode(const unsigned char *q, uint32_t len, mq_event *e, const char **why)
{
    size_t ml = q[13], tl = q[14];
    if (ml == 0 || tl == 0 || PAYLOAD_FIXED + ml + tl > len || q[12] >= MQ_EV_COUNT) {
        *why = "record fields inconsistent";
        return MQ__SEG_BAD;
    }
    e->time = (int64_t)mq__get_u64(q);
    uint32_t fv = mq__get_u32(q + 8);
    memcpy(&e->value, &fv, 4);
    e->kind = q[12];
    memcpy(e->member, q + 15, ml);
    e->member[ml] = 0;
    memcpy(e->title, q + 15 + ml, tl);
    e->title[tl] = 0;
    e->page_id[0] = e->row[0] = e->event_id[0] = 0;
    e->has_position = false;
    e->position = 0;
    size_t off = PAYLOAD_FIXED + ml + tl;
    if (off == len) return 0;
    unsigned flags = q[off++];
    *why = "record attribution fields inconsistent";
    if (!flags || flags > 15) return MQ__SEG_BAD;
    if (flags & EXT_PAGE) {
        size_t n = off < len ? q[off++] : 0;
        if (!n || n > MQ_PAGE_ID_MAX || off + n > len) return MQ__SEG_BAD;
        memcpy(e->page_id, q + off, n);
        e->page_id[n] = 0;
        off += n;
    }
    if (flags & EXT_ROW) {
        if (off + 2 > len) return MQ__SEG_BAD;
        size_t n = (size_t)q[off] | (size_t)q[off + 1] << 8;
        off += 2;
        if (!n || n > MQ_ROW_ID_MAX || off + n > len) return MQ__SEG_BAD;
        memcpy(e->row, q + off, n);
        e->row[n] = 0;
        off += n;
    }
    if (flags & EXT_POS) {
        if (off + 4 > len) return MQ__SEG_BAD;
        e->position = (int32_t)mq__get_u32(q + off);
        e->has_position = true;
        off += 4;
        if (e->position < 0) return MQ__SEG_BAD;
    }
    if (flags & EXT_EVID) {
        size_t n = off < len ? q[off++] : 0;
        if (!n || n > MQ_EVENT_ID_MAX || off + n > len) return MQ__SEG_BAD;
        memcpy(e->event_id, q + off, n);
        e->event_id[n] = 0;
        off += n;
    }
    if (off != len) return MQ__SEG_BAD;
    *why = NULL;
    return 0;
}

/* ---- segments (seglog.c) ---- */

typedef struct scan_cb {
    mq_evlog_apply_fn fn;
    void *user;
    uint64_t after;         /* deliver records with seq > after */
    mq_event *buf;          /* [REPLAY_BATCH] */
    int n;
    uint64_t buf_first;
} scan_cb;

static int scan_flush(scan_cb *c)
{
    if (!c->n) return 0;
    int rc = c->fn ? c->fn(c->user, c->buf, c->n, c->buf_first) : 0;
    c->n = 0;
    return rc;
}

/* seglog's record callback: decodes into the batch, delivers full batches. */
static int scan_rec(void *user, const unsigned char *payload, uint32_t len, uint64_t seq,
                    const char **why)
{
    scan_cb *cb = user;
    mq_event tmp;
    mq_event *e = cb->buf ? &cb->buf[cb->n] : &tmp;
    int rc = decode(payload, len, e, why);
    if (rc) return rc;
    if (cb->buf && seq > cb->after) {
        if (cb->n == 0) cb->buf_first = seq;
        if (++cb->n == REPLAY_BATCH) {
            rc = scan_flush(cb);
            if (rc == MQ__SEG_BAD) rc = MQ_EIO;
            return rc;
        }
    }
    return 0;
}

/* Scans all segments of dir. With repair, truncates a torn tail (reporting it). */
static int scan_dir(const char *dir, scan_cb *cb, bool repair, const mq_log *log,
                    mq__seg_scan_out *so, mq_evlog_stats *st, mq_err *err)
{
    int rc = mq__seg_scan(dir, &evlog_fmt, scan_rec, cb, repair, log, so, err);
    if (st) {
        st->segments = so->segments;
        st->bytes = so->bytes;
        st->truncated_bytes += so->truncated_bytes;
    }
    if (!rc && cb->buf) rc = scan_flush(cb);
    return rc;
}

static int sys_code(int e) { return e == ENOSPC || e == EDQUOT ? MQ_ENOSPC : MQ_EIO; }

/* Opens (creating with a header if empty) the segment starting at first for appending. */
static int open_segment(mq_evlog *l, uint64_t first, mq_err *err)
{
    char path[4200];
    mq__seg_path(path, sizeof path, l->dir, first);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return mq__err_set(err, sys_code(errno), "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return mq__err_set(err, MQ_EIO, "%s: %s", path, strerror(errno));
    }
    int64_t size = sb.st_size;
    if (size < SEG_HDR) {
        unsigned char h[SEG_HDR];
        mq__seg_header(h, SEG_MAGIC, first);
        if (pwrite(fd, h, SEG_HDR, 0) != SEG_HDR || (l->o.fsync != MQ_FSYNC_NONE && fsync(fd))) {
            int e = errno;
            close(fd);
            return mq__err_set(err, sys_code(e), "%s: writing header: %s", path, strerror(e));
        }
        size = SEG_HDR;
        int rc = l->o.fsync != MQ_FSYNC_NONE ? mq__fsync_dir(l->dir, err) : 0;
        if (rc) { close(fd); return rc; }
        l->st.segments++;
        l->st.bytes += SEG_HDR;
    }
    if (l->fd >= 0) close(l->fd);
    l->fd = fd;
    l->seg_off = size;
    return 0;
}

int mq_evlog_open(const char *dir, const mq_evlog_opts *opts, mq_evlog **out, mq_err *err)
{
    *out = NULL;
    if (strlen(dir) >= 4000) return mq__err_set(err, MQ_EINVAL, "event log path too long");
    int rc = mq__mkdir_p(dir, err);
    if (rc) return rc;
    mq_evlog *l = calloc(1, sizeof *l);
    if (!l) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    l->fd = -1;
    if ((rc = MQ__OPTS_GET(mq_evlog_opts, &l->o, opts, err))) goto fail;
    if (l->o.segment_bytes <= 0) l->o.segment_bytes = 64 << 20;
    if (l->o.max_pending_bytes <= 0) l->o.max_pending_bytes = 64 << 20;
    mq_buf_init(&l->pending);

    scan_cb cb = {l->o.apply, l->o.apply_user, l->o.applied_seq, NULL, 0, 0};
    cb.buf = malloc(REPLAY_BATCH * sizeof *cb.buf);
    if (!cb.buf) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
    mq__seg_scan_out so;
    rc = scan_dir(dir, &cb, true, l->o.log, &so, &l->st, err);
    free(cb.buf);
    if (rc) goto fail;
    l->next_seq = so.next_seq;
    uint64_t last_first = so.last_first;
    int64_t last_len = so.last_len;
    l->durable_seq = l->next_seq - 1;
    l->st.records = l->durable_seq;
    if (last_first) {
        if (last_len < SEG_HDR) {       /* torn header: rewrite it */
            l->st.segments--;
            l->st.bytes -= last_len;
        }
        rc = open_segment(l, last_first, err);
    } else {
        rc = open_segment(l, l->next_seq, err);
    }
    if (rc) goto fail;
    *out = l;
    return 0;
fail:
    mq_evlog_close(l);
    return rc;
}

void mq_evlog_close(mq_evlog *l)
{
    if (!l) return;
    if (l->committer_started) {
        pthread_mutex_lock(&l->mu);
        l->closing = true;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->committer, NULL);
    }
    free(l->pend_cb);
    free(l->unapplied);
    if (l->fd >= 0) close(l->fd);
    mq_buf_release(&l->pending);
    free(l->pend_ev);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

void mq_evlog_get_health(mq_evlog *l, mq_evlog_health *h)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_lock(&l->mu);
    h->failed = l->sticky != 0;
    h->code = l->sticky ? l->sticky : l->last_code;
    snprintf(h->msg, sizeof h->msg, "%s", l->sticky ? l->sticky_msg : l->last_code ? l->last_msg : "");
    h->behind = l->behind;
    if (l->behind) snprintf(h->store_msg, sizeof h->store_msg, "%s", l->apply_msg);
    h->write_failures = l->write_failures;
    h->apply_failures = l->apply_failures;
    int fd = l->fd;
    struct statvfs vs;
    h->free_bytes = fd >= 0 && fstatvfs(fd, &vs) == 0 ? (int64_t)vs.f_bavail * (int64_t)vs.f_frsize : -1;
    pthread_mutex_unlock(&l->mu);
}

static void lead_commit(mq_evlog *l);

int mq_evlog_catch_up(mq_evlog *l, mq_err *err)
{
    pthread_mutex_lock(&l->mu);
    if (l->behind && !l->flushing && !l->sticky) lead_commit(l);
    int rc = l->behind ? mq__err_set(err, MQ_EBUSY, "%s", l->apply_msg) : 0;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void mq_evlog_get_stats(mq_evlog *l, mq_evlog_stats *s)
{
    pthread_mutex_lock(&l->mu);
    *s = l->st;
    pthread_mutex_unlock(&l->mu);
}

/* Writes bytes at the end of the current segment and fsyncs per mode; a full segment is
 * followed by a new one before the next write. Called by the leader only, without the lock. A
 * failed write or fsync cuts the file back to the last commit, so the log holds either the
 * whole batch or none of it, and returns the error (MQ_ENOSPC for a full disk); *fatal is set
 * when even that failed (the log's state on disk is then unknown). */
static int commit_bytes(mq_evlog *l, const char *p, size_t n, uint64_t first, bool *fatal,
                        mq_err *err)
{
    *fatal = false;
    if (n == 0) return 0;
    if (l->need_roll) {
        int rc = open_segment(l, first, err);
        if (rc) return rc;
        l->need_roll = false;
    }
    size_t done = 0;
    int rc = 0;
    while (done < n) {
        ssize_t w = pwrite(l->fd, p + done, n - done, l->seg_off + (off_t)done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            rc = mq__err_set(err, sys_code(e), "event log '%s': write: %s", l->dir, strerror(e));
            break;
        }
        done += (size_t)w;
    }
    if (!rc && l->o.fsync != MQ_FSYNC_NONE && fdatasync(l->fd) != 0) {
        int e = errno;
        rc = mq__err_set(err, sys_code(e), "event log '%s': fsync: %s", l->dir, strerror(e));
    }
    if (rc) {
        if (ftruncate(l->fd, l->seg_off) != 0 ||
            (l->o.fsync != MQ_FSYNC_NONE && fdatasync(l->fd) != 0)) {
            *fatal = true;
            mq__err_set(err, MQ_EIO, "event log '%s': cannot cut a failed write back (%s) after: %s",
                        l->dir, strerror(errno), err ? err->msg : "");
        }
        return rc;
    }
    l->seg_off += (int64_t)n;
    l->st.bytes += (int64_t)n;
    if (l->seg_off >= l->o.segment_bytes) l->need_roll = true;
    return 0;
}

/* Applies the unapplied range then [first, first+n), keeping whatever fails for the next
 * commit. Returns 0 or the apply callback's code. Leader only. */
static int apply_in_order(mq_evlog *l, const mq_event *ev, int n, uint64_t first)
{
    int rc = 0;
    if (l->n_unapplied) {
        rc = l->o.apply(l->o.apply_user, l->unapplied, l->n_unapplied, l->unapplied_first);
        if (!rc) l->n_unapplied = 0;
    }
    if (!rc && n) {
        rc = l->o.apply(l->o.apply_user, ev, n, first);
        if (!rc) return 0;
    }
    if (!rc || !n) return rc;
    /* keep this batch behind the range that waits (contiguous: the log commits in order) */
    if (l->n_unapplied == 0) l->unapplied_first = first;
    if (l->n_unapplied + n > l->cap_unapplied) {
        int cap = MQ_MAX(2 * l->cap_unapplied, l->n_unapplied + n);
        mq_event *q = realloc(l->unapplied, (size_t)cap * sizeof *q);
        if (!q) return MQ_ENOMEM;
        l->unapplied = q;
        l->cap_unapplied = cap;
    }
    memcpy(l->unapplied + l->n_unapplied, ev, (size_t)n * sizeof *ev);
    l->n_unapplied += n;
    return rc;
}

/* The leader's commit of [first, last] held in buf/ev (lock not held): < 0 the write failed
 * (nothing of the batch is in the log), > 0 the batch is durable but applying it failed (it
 * stays queued for the next commit), 0 both done. */
static int commit(mq_evlog *l, const mq_buf *buf, const mq_event *ev, int n, uint64_t first,
                  bool *fatal, mq_err *err)
{
    int rc = commit_bytes(l, buf->p, buf->len, first, fatal, err);
    if (rc) return rc;
    if (l->o.apply && (n || l->n_unapplied)) {
        rc = apply_in_order(l, ev, n, first);
        if (rc == MQ_ENOMEM && l->n_unapplied < n) {
            /* cannot even remember them: only a restart (replay from the store's applied
             * sequence) brings them to the store */
            *fatal = true;
            mq__err_set(err, MQ_ENOMEM, "event log: out of memory keeping events the member store "
                        "has not applied: restart to replay them");
            return MQ_ENOMEM;
        }
        if (rc) {
            uint64_t lo = l->n_unapplied ? l->unapplied_first : first;
            mq__err_set(err, rc, "events %llu..%llu are durable in the event log but the member "
                        "store failed (%s); they are applied in order once it recovers",
                        (unsigned long long)lo, (unsigned long long)(first + (uint64_t)n - 1),
                        mq_strerror(rc));
            return 1;   /* marker: apply failure, not a log failure */
        }
    }
    return 0;
}

/* The leader's turn (lock held on entry and on return, released during the I/O): takes
 * everything pending, commits it, records the outcome, then tells the asynchronous appenders
 * of that batch (outside the lock, in sequence order). */
static void lead_commit(mq_evlog *l)
{
    l->flushing = true;
    mq_buf batch = l->pending;
    mq_event *bev = l->pend_ev;
    int bn = l->pend_n;
    int bcap = l->pend_cap;
    async_cb *cbs = l->pend_cb;
    int ncb = l->pend_cbn;
    mq_buf_init(&l->pending);
    l->pend_ev = NULL;
    l->pend_n = l->pend_cap = 0;
    l->pend_cb = NULL;
    l->pend_cbn = l->pend_cbcap = 0;
    uint64_t first = l->durable_seq + 1;
    pthread_mutex_unlock(&l->mu);

    mq_err cerr = {0, ""};
    bool fatal = false;
    int crc = commit(l, &batch, bev, bn, first, &fatal, &cerr);
    int cb_rc = crc < 0 ? crc : crc > 0 ? (cerr.code ? cerr.code : MQ_EIO) : 0;

    /* the outcome first (a client told its events are durable finds the log saying so), then
     * the asynchronous appenders, outside the lock and in sequence order (flushing stays set,
     * so no other leader runs meanwhile) */
    pthread_mutex_lock(&l->mu);
    async_cb *dropped = NULL;
    int ndropped = 0;
    if (crc < 0) {
        l->last_code = crc;
        snprintf(l->last_msg, sizeof l->last_msg, "%s", cerr.msg);
    } else if (crc > 0) {
        snprintf(l->apply_msg, sizeof l->apply_msg, "%s", cerr.msg);
    }
    if (crc < 0 && fatal) {
        l->sticky = crc;
        snprintf(l->sticky_msg, sizeof l->sticky_msg, "%s", cerr.msg);
    } else if (crc < 0) {
        /* nothing of the batch is in the log: what was queued behind it took the sequence
         * numbers after it, so it is refused too and the numbers are handed out again */
        l->write_failures++;
        dropped = l->pend_cb;
        ndropped = l->pend_cbn;
        l->pend_cb = NULL;
        l->pend_cbn = l->pend_cbcap = 0;
        mq_buf_reset(&l->pending);
        l->pend_n = 0;
        l->next_seq = l->durable_seq + 1;
        l->discard_gen++;
    } else {
        l->durable_seq = first + (uint64_t)bn - 1;
        l->st.records = l->durable_seq;
        if (bn) l->st.commits++;
        l->last_code = 0;
        if (crc > 0) {
            l->apply_failures++;
            l->fail_lo = first;
            l->fail_hi = l->durable_seq;
            l->fail_code = cerr.code;
        }
    }
    l->behind = (uint64_t)l->n_unapplied;
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < ncb; i++) cbs[i].fn(cbs[i].user, cb_rc, crc < 0 ? 0 : cbs[i].first);
    free(cbs);
    for (int i = 0; i < ndropped; i++) dropped[i].fn(dropped[i].user, crc, 0);
    free(dropped);
    pthread_mutex_lock(&l->mu);
    /* recycle the larger buffers */
    if (!l->pend_ev && bcap) {
        l->pend_ev = bev;
        l->pend_cap = bcap;
        bev = NULL;
    }
    free(bev);
    if (l->pending.cap == 0) {
        mq_buf_reset(&batch);
        l->pending = batch;
    } else {
        mq_buf_release(&batch);
    }
    l->flushing = false;
    pthread_cond_broadcast(&l->cv);
}

/* Encodes and queues n events under the lock; *mine_first gets the first sequence. */
static int enqueue_locked(mq_evlog *l, const mq_event *ev, int n, const mq_buf *enc,
                          uint64_t *mine_first, mq_err *err)
{
    if (l->sticky) return mq__err_set(err, l->sticky, "%s", l->sticky_msg);
    if (l->closing) return mq__err_set(err, MQ_EBUSY, "event log: closing");
    if (l->behind >= MAX_BEHIND)
        return mq__err_set(err, MQ_EBUSY, "the member store is %llu events behind the event log "
                           "(%s)", (unsigned long long)l->behind, l->apply_msg);
    if ((int64_t)(l->pending.len + enc->len) > l->o.max_pending_bytes)
        return mq__err_set(err, MQ_EBUSY, "event log: %zu bytes already wait to be committed",
                           l->pending.len);
    if (l->pend_n + n > l->pend_cap) {
        int cap = MQ_MAX(l->pend_cap * 2, l->pend_n + n);
        cap = MQ_MAX(cap, 64);
        mq_event *p = realloc(l->pend_ev, (size_t)cap * sizeof *p);
        if (!p) return mq__err_set(err, MQ_ENOMEM, "out of memory");
        l->pend_ev = p;
        l->pend_cap = cap;
    }
    size_t before = l->pending.len;
    mq_buf_put(&l->pending, enc->p, enc->len);
    if (l->pending.oom) {
        l->pending.oom = false;
        l->pending.len = before;
        return mq__err_set(err, MQ_ENOMEM, "out of memory");
    }
    memcpy(l->pend_ev + l->pend_n, ev, (size_t)n * sizeof *ev);
    l->pend_n += n;
    *mine_first = l->next_seq;
    l->next_seq += (uint64_t)n;
    return 0;
}

static void *committer_main(void *arg)
{
    mq_evlog *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->closing && (l->pend_cbn == 0 || l->flushing)) pthread_cond_wait(&l->cv, &l->mu);
        if (l->pend_cbn == 0 || l->flushing) {
            if (l->closing) break;
            continue;
        }
        if (l->sticky) {
            /* fail what waits: it will never be written */
            async_cb *cbs = l->pend_cb;
            int ncb = l->pend_cbn;
            l->pend_cb = NULL;
            l->pend_cbn = l->pend_cbcap = 0;
            int code = l->sticky;
            pthread_mutex_unlock(&l->mu);
            for (int i = 0; i < ncb; i++) cbs[i].fn(cbs[i].user, code, 0);
            free(cbs);
            pthread_mutex_lock(&l->mu);
            continue;
        }
        lead_commit(l);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Checks and encodes n events into enc (outside the lock); the caller releases enc. */
static int encode_batch(const mq_event *ev, int n, mq_buf *enc, mq_err *err)
{
    mq_buf_init(enc);
    for (int i = 0; i < n; i++) {
        int rc = check_event(&ev[i], err);
        if (rc) return rc;
    }
    unsigned char rec[REC_MAX];
    for (int i = 0; i < n; i++) mq_buf_put(enc, rec, encode(&ev[i], rec));
    if (enc->oom) {
        mq_buf_release(enc);
        return mq__err_set(err, MQ_ENOMEM, "out of memory");
    }
    return 0;
}

int mq_evlog_append_async(mq_evlog *l, const mq_event *ev, int n, mq_evlog_done_fn done,
                          void *user, mq_err *err)
{
    if (n <= 0) return mq__err_set(err, MQ_EINVAL, "event log: nothing to append");
    mq_buf enc;
    int rc = encode_batch(ev, n, &enc, err);
    if (rc) return rc;
    pthread_mutex_lock(&l->mu);
    if (!l->committer_started) {
        if (pthread_create(&l->committer, NULL, committer_main, l) != 0) {
            rc = mq__err_set(err, MQ_ENOMEM, "event log: cannot start the committer thread");
            goto out;
        }
        l->committer_started = true;
    }
    if (l->pend_cbn == l->pend_cbcap) {
        int cap = l->pend_cbcap ? 2 * l->pend_cbcap : 64;
        async_cb *p = realloc(l->pend_cb, (size_t)cap * sizeof *p);
        if (!p) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto out; }
        l->pend_cb = p;
        l->pend_cbcap = cap;
    }
    uint64_t first;
    rc = enqueue_locked(l, ev, n, &enc, &first, err);
    if (rc) goto out;
    l->pend_cb[l->pend_cbn++] = (async_cb){done, user, first};
    pthread_cond_broadcast(&l->cv);
out:
    pthread_mutex_unlock(&l->mu);
    mq_buf_release(&enc);
    return rc;
}

int mq_evlog_append(mq_evlog *l, const mq_event *ev, int n, uint64_t *first_seq, mq_err *err)
{
    if (n <= 0) return 0;
    mq_buf enc;
    int rc = encode_batch(ev, n, &enc, err);
    if (rc) return rc;
    pthread_mutex_lock(&l->mu);
    if (l->o.fsync == MQ_FSYNC_BATCH) {
        while (l->flushing && !l->sticky) pthread_cond_wait(&l->cv, &l->mu);
    }
    uint64_t mine_first;
    if (first_seq) *first_seq = 0;
    rc = enqueue_locked(l, ev, n, &enc, &mine_first, err);
    if (rc) goto out;
    uint64_t mine_last = mine_first + (uint64_t)n - 1;
    uint64_t gen = l->discard_gen;
    if (first_seq) *first_seq = mine_first;

    while (l->durable_seq < mine_last && !l->sticky && l->discard_gen == gen) {
        if (l->flushing) {
            pthread_cond_wait(&l->cv, &l->mu);
            continue;
        }
        lead_commit(l);
    }
    if (l->durable_seq < mine_last && l->discard_gen != gen) {
        rc = mq__err_set(err, l->last_code, "%s", l->last_msg);
        if (first_seq) *first_seq = 0;
    } else if (l->durable_seq < mine_last) {
        rc = mq__err_set(err, l->sticky, "%s", l->sticky_msg);
        if (first_seq) *first_seq = 0;
    } else if (l->fail_code && mine_first <= l->fail_hi && mine_last >= l->fail_lo) {
        rc = mq__err_set(err, l->fail_code, "%s", l->apply_msg);
    }
out:
    pthread_mutex_unlock(&l->mu);
    mq_buf_release(&enc);
    return rc;
}

int mq_evlog_scan(const char *dir, mq_evlog_apply_fn fn, void *user, mq_err *err)
{
    scan_cb cb = {fn, user, 0, NULL, 0, 0};
    cb.buf = malloc(REPLAY_BATCH * sizeof *cb.buf);
    if (!cb.buf) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    mq__seg_scan_out so;
    int rc = scan_dir(dir, &cb, false, NULL, &so, NULL, err);
    free(cb.buf);
    return rc;
}

/* The log's identity lives in the directory (file LOG_ID_FILE, 8 hex digits and a newline),
 * so it moves with the directory and does not change with the host name. A log created before
 * the file existed gets the name the earlier releases derived from "host:absolute path", so a
 * store that recorded its applied sequence under that name keeps it; a new log gets a random
 * name. */
#define LOG_ID_FILE "LOG_ID"

static bool read_log_id(const char *path, char *out)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char buf[32] = "";
    bool ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    size_t n = strcspn(buf, "\r\n");
    ok = ok && n == 8;
    for (size_t i = 0; ok && i < 8; i++)
        ok = (buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f');
    if (ok) {
        memcpy(out, buf, 8);
        out[8] = 0;
    }
    return ok;
}

static void legacy_log_id(const char *dir, char *out)
{
    char host[256] = "", abs[4096], ident[4400];
    gethostname(host, sizeof host - 1);
    if (!realpath(dir, abs)) snprintf(abs, sizeof abs, "%s", dir);
    snprintf(ident, sizeof ident, "%s:%s", host, abs);
    snprintf(out, 9, "%08x", mq_crc32c(0, ident, strlen(ident)));
}

void mq_evlog_id(const char *dir, char *out)
{
    char path[4200];
    mq__mkdir_p(dir, NULL);
    snprintf(path, sizeof path, "%s/" LOG_ID_FILE, dir);
    if (read_log_id(path, out)) return;
    uint64_t *segs = NULL;
    int nseg = 0;
    bool legacy = mq__seg_list(dir, "event log", &segs, &nseg, NULL) == 0 && nseg > 0;
    free(segs);
    if (legacy) {
        legacy_log_id(dir, out);
    } else {
        uint32_t r = 0;
        FILE *f = fopen("/dev/urandom", "rb");
        if (!f || fread(&r, sizeof r, 1, f) != 1) r = (uint32_t)(mq_now() * 1e6) ^ (uint32_t)getpid();
        if (f) fclose(f);
        snprintf(out, 9, "%08x", r);
    }
    /* written atomically; if the directory is read-only the name is derived again next time
     * (the same for a legacy log) */
    char line[16];
    int n = snprintf(line, sizeof line, "%s\n", out);
    mq__write_file_atomic(path, line, (size_t)n, NULL);
}

/* ---- the event log as a training dataset ---- */

typedef struct to_ds {
    mq_idmap *members, *titles;
    mq_interaction *x;
    int64_t n, cap;
} to_ds;

static int to_ds_add(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    (void)first_seq;
    to_ds *t = user;
    for (int i = 0; i < n; i++) {
        if (t->n == t->cap) {
            int64_t cap = t->cap ? 2 * t->cap : 4096;
            mq_interaction *p = realloc(t->x, (size_t)cap * sizeof *p);
            if (!p) return MQ_ENOMEM;
            t->x = p;
            t->cap = cap;
        }
        int32_t m = mq_idmap_intern(t->members, ev[i].member, strlen(ev[i].member));
        int32_t ti = mq_idmap_intern(t->titles, ev[i].title, strlen(ev[i].title));
        if (m < 0 || ti < 0) return MQ_ENOMEM;
        t->x[t->n++] = (mq_interaction){m, ti, mq_event_strength(ev[i].kind, ev[i].value), ev[i].kind, ev[i].time};
    }
    return 0;
}

int mq_evlog_to_dataset(const char *dir, mq_dataset **out, mq_err *err)
{
    *out = NULL;
    to_ds t = {mq_idmap_create(), mq_idmap_create(), NULL, 0, 0};
    int rc;
    if (!t.members || !t.titles) {
        rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
        goto fail;
    }
    rc = mq_evlog_scan(dir, to_ds_add, &t, err);
    if (rc == MQ_ENOMEM) mq__err_set(err, rc, "out of memory reading event log '%s'", dir);
    if (rc) goto fail;
    if (t.n == 0) {
        rc = mq__err_set(err, MQ_EFORMAT, "event log '%s' holds no events", dir);
        goto fail;
    }
    rc = mq_dataset_build(t.x, t.n, t.members, t.titles, out, err);
    free(t.x);
    return rc;
fail:
    mq_idmap_destroy(t.members);
    mq_idmap_destroy(t.titles);
    free(t.x);
    return rc;
}
