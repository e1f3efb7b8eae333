/* store.c: member state for serving: each member's recent titles (for Continue Watching and
 * the seeds of Because You Watched rows) and counters, in LMDB (embedded, the default) or in
 * Redis (shared by several replicas).
 *
 * Data. One value per member under key "m:<member id>" ("mq:m:<id>" in Redis): a small binary
 * record, little-endian:
 *     "MQMS" | u8 version (1) | u8 n | u16 0 | u64 n_events | u64 n_plays | f64 seconds |
 *     i64 first_time | i64 last_time | n x (i64 time | f32 seconds | f32 rating | u8 finished |
 *     u8 thumb | u8 title_len | title bytes)
 * kept most recent first, at most MQ_STORE_RECENT titles. The key "meta:applied_seq"
 * ("mq:meta:applied_seq") holds the last event-log sequence folded in, written in the same
 * LMDB transaction / Redis MULTI as the events, so replaying the log after a crash applies each
 * event exactly once.
 *
 * Threads. Writes come from one thread at a time (the event log's committing leader); reads
 * from every server thread. LMDB: MDB_NOTLS read transactions per call, one write transaction
 * per batch; MDB_NOMETASYNC because the log, not the store, is the durable record (a lost last
 * transaction is replayed from the log). Redis: a pool of blocking hiredis connections under a
 * mutex; a batch is WATCH + pipelined GETs + MULTI/SET.../EXEC, retried if another replica
 * wrote one of the same members meanwhile.
 */
#include "serve/serve.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <lmdb.h>
#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ST_MAGIC "MQMS"
#define ST_FIXED 48
#define ENT_FIXED 19
#define ST_MAX (ST_FIXED + MQ_STORE_RECENT * (ENT_FIXED + MQ_ID_MAX))

/* ---- the in-memory state and its encoding ---- */

static void wr(unsigned char **p, const void *v, size_t n)
{
    /* little-endian on the hosts we build for (x86-64, aarch64); checked below */
    memcpy(*p, v, n);
    *p += n;
}
static void rd(const unsigned char **p, void *v, size_t n)
{
    memcpy(v, *p, n);
    *p += n;
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the state encoding assumes little-endian");

int mq_member_state_encode(const mq_member_state *st, void *buf, size_t cap, size_t *len)
{
    if (cap < ST_MAX) return MQ_EINVAL;
    unsigned char *p = buf;
    wr(&p, ST_MAGIC, 4);
    *p++ = 1;
    *p++ = (unsigned char)st->n;
    *p++ = 0;
    *p++ = 0;
    wr(&p, &st->n_events, 8);
    wr(&p, &st->n_plays, 8);
    wr(&p, &st->seconds_watched, 8);
    wr(&p, &st->first_time, 8);
    wr(&p, &st->last_time, 8);
    for (int i = 0; i < st->n; i++) {
        const mq_recent *r = &st->recent[i];
        size_t tl = strlen(r->title);
        wr(&p, &r->time, 8);
        wr(&p, &r->seconds, 4);
        wr(&p, &r->rating, 4);
        *p++ = r->finished;
        *p++ = r->thumb;
        *p++ = (unsigned char)tl;
        wr(&p, r->title, tl);
    }
    *len = (size_t)(p - (unsigned char *)buf);
    return 0;
}

int mq_member_state_decode(const void *buf, size_t len, mq_member_state *st, mq_err *err)
{
    memset(st, 0, offsetof(mq_member_state, recent));
    st->n_events = st->n_plays = 0;
    st->seconds_watched = 0;
    st->first_time = st->last_time = 0;
    const unsigned char *p = buf, *end = p + len;
    if (len < ST_FIXED || memcmp(p, ST_MAGIC, 4) != 0 || p[4] != 1)
        return mq__err_set(err, MQ_ECORRUPT, "member state: bad header (%zu bytes)", len);
    int n = p[5];
    if (n > MQ_STORE_RECENT) return mq__err_set(err, MQ_ECORRUPT, "member state: %d entries", n);
    p += 8;
    rd(&p, &st->n_events, 8);
    rd(&p, &st->n_plays, 8);
    rd(&p, &st->seconds_watched, 8);
    rd(&p, &st->first_time, 8);
    rd(&p, &st->last_time, 8);
    for (int i = 0; i < n; i++) {
        mq_recent *r = &st->recent[i];
        if (end - p < ENT_FIXED) return mq__err_set(err, MQ_ECORRUPT, "member state: truncated");
        rd(&p, &r->time, 8);
        rd(&p, &r->seconds, 4);
        rd(&p, &r->rating, 4);
        r->finished = *p++;
        r->thumb = *p++;
        size_t tl = *p++;
        if (tl == 0 || end - p < (ptrdiff_t)tl)
            return mq__err_set(err, MQ_ECORRUPT, "member state: truncated title");
        memcpy(r->title, p, tl);
        r->title[tl] = 0;
        p += tl;
    }
    st->n = n;
    return 0;
}

void mq_member_state_apply(mq_member_state *st, const mq_event *ev, double finish_seconds)
{
    st->n_events++;
    if (!st->first_time || ev->time < st->first_time) st->first_time = ev->time;
    if (ev->time > st->last_time) st->last_time = ev->time;
    if (ev->kind == MQ_EV_PLAY) {
        st->n_plays++;
        if (ev->value > 0 && isfinite(ev->value)) st->seconds_watched += ev->value;
    }
    if (ev->kind == MQ_EV_IMPRESSION || ev->kind == MQ_EV_SEARCH) return;

    mq_recent r;
    int at = -1;
    for (int i = 0; i < st->n; i++)
        if (!strcmp(st->recent[i].title, ev->title)) { at = i; break; }
    if (at >= 0) {
        r = st->recent[at];
        memmove(&st->recent[at], &st->recent[at + 1], (size_t)(st->n - at - 1) * sizeof r);
        st->n--;
    } else {
        memset(&r, 0, sizeof r);
        snprintf(r.title, sizeof r.title, "%s", ev->title);
    }
    if (ev->time > r.time) r.time = ev->time;
    switch (ev->kind) {
    case MQ_EV_PLAY:
        if (ev->value > 0 && isfinite(ev->value)) r.seconds += ev->value;
        if (r.seconds >= finish_seconds) r.finished = 1;
        break;
    case MQ_EV_RATING: r.rating = ev->value; r.finished = 1; break;
    case MQ_EV_THUMB_UP: r.thumb = 1; r.finished = 1; break;
    case MQ_EV_THUMB_DOWN: r.thumb = 2; r.finished = 1; break;
    default: break;
    }
    /* insert by time, most recent first; the oldest falls off when full */
    int pos = 0;
    while (pos < st->n && st->recent[pos].time > r.time) pos++;
    if (st->n == MQ_STORE_RECENT) {
        if (pos == MQ_STORE_RECENT) return;
        st->n--;
    }
    memmove(&st->recent[pos + 1], &st->recent[pos], (size_t)(st->n - pos) * sizeof r);
    st->recent[pos] = r;
    st->n++;
}

/* ---- the store ---- */

struct mq_store {
    int kind;                   /* 0 lmdb, 1 redis */
    mq_store_opts o;
    /* lmdb */
    MDB_env *env;
    MDB_dbi dbi;
    /* redis */
    char host[256];
    int port, db;
    char unix_path[1024];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    redisContext **pool;
    int n_free;
    char seq_key[128];          /* "meta:applied_seq[:<log id>]" */
    size_t seq_key_len;
};

const char *mq_store_kind(const mq_store *s) { return s->kind ? "redis" : "lmdb"; }

static int lmdb_err(mq_err *err, int rc, const char *what)
{
    return mq__err_set(err, rc == MDB_MAP_FULL ? MQ_ERANGE : MQ_EIO, "lmdb %s: %s", what,
                       mdb_strerror(rc));
}

static int lmdb_open(mq_store *s, const char *path, mq_err *err)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return mq__err_set(err, MQ_EIO, "store '%s': mkdir: %s", path, strerror(errno));
    int rc = mdb_env_create(&s->env);
    if (rc) return lmdb_err(err, rc, "env_create");
    mdb_env_set_mapsize(s->env, (size_t)s->o.map_bytes);
    mdb_env_set_maxreaders(s->env, 1024);
    rc = mdb_env_open(s->env, path, MDB_NOTLS | MDB_NOMETASYNC, 0644);
    if (rc) return mq__err_set(err, MQ_EIO, "store '%s': %s", path, mdb_strerror(rc));
    int dead = 0;
    mdb_reader_check(s->env, &dead);    /* free reader slots of a process killed earlier */
    MDB_txn *txn;
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return lmdb_err(err, rc, "txn_begin");
    rc = mdb_dbi_open(txn, NULL, 0, &s->dbi);
    if (rc) { mdb_txn_abort(txn); return lmdb_err(err, rc, "dbi_open"); }
    rc = mdb_txn_commit(txn);
    return rc ? lmdb_err(err, rc, "commit") : 0;
}

static redisContext *redis_connect(mq_store *s, mq_err *err)
{
    struct timeval tv = {2, 0};
    redisContext *c = s->unix_path[0] ? redisConnectUnixWithTimeout(s->unix_path, tv)
                                      : redisConnectWithTimeout(s->host, s->port, tv);
    if (!c || c->err) {
        mq__err_set(err, MQ_EIO, "redis %s%s:%d: %s", s->unix_path[0] ? "unix:" : "",
                    s->unix_path[0] ? s->unix_path : s->host, s->unix_path[0] ? 0 : s->port,
                    c ? c->errstr : "cannot allocate a context");
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (s->db) {
        redisReply *r = redisCommand(c, "SELECT %d", s->db);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        if (r) freeReplyObject(r);
        if (!ok) {
            mq__err_set(err, MQ_EIO, "redis: SELECT %d failed", s->db);
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

static redisContext *pool_get(mq_store *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->n_free == 0) pthread_cond_wait(&s->cv, &s->mu);
    redisContext *c = s->pool[--s->n_free];
    pthread_mutex_unlock(&s->mu);
    return c;
}

/* Returns c to the pool; a broken connection is replaced (or NULL kept, reconnected later). */
static void pool_put(mq_store *s, redisContext *c)
{
    if (c && c->err) {
        redisFree(c);
        c = NULL;
    }
    pthread_mutex_lock(&s->mu);
    s->pool[s->n_free++] = c;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static int redis_open(mq_store *s, const char *spec, mq_err *err)
{
    if (!strncmp(spec, "redis+unix://", 13)) {
        snprintf(s->unix_path, sizeof s->unix_path, "%s", spec + 13);
    } else {
        const char *h = spec + 8;   /* after redis:// */
        const char *colon = strchr(h, ':'), *slash = strchr(h, '/');
        size_t hl = colon ? (size_t)(colon - h) : slash ? (size_t)(slash - h) : strlen(h);
        if (hl == 0 || hl >= sizeof s->host)
            return mq__err_set(err, MQ_EINVAL, "store '%s': expected redis://HOST:PORT[/DB]", spec);
        memcpy(s->host, h, hl);
        s->host[hl] = 0;
        s->port = 6379;
        if (colon) {
            char *end;
            long p = strtol(colon + 1, &end, 10);
            if (end == colon + 1 || (*end && *end != '/') || p <= 0 || p > 65535)
                return mq__err_set(err, MQ_EINVAL, "store '%s': bad port", spec);
            s->port = (int)p;
        }
        if (slash) {
            char *end;
            long d = strtol(slash + 1, &end, 10);
            if (end == slash + 1 || *end || d < 0 || d > 1000)
                return mq__err_set(err, MQ_EINVAL, "store '%s': bad database number", spec);
            s->db = (int)d;
        }
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->pool = calloc((size_t)s->o.pool, sizeof *s->pool);
    if (!s->pool) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    /* connect one now to fail fast; the rest lazily */
    redisContext *c = redis_connect(s, err);
    if (!c) return MQ_EIO;
    redisReply *r = redisCommand(c, "PING");
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    if (!ok) { redisFree(c); return mq__err_set(err, MQ_EIO, "redis: PING failed"); }
    s->pool[0] = c;
    s->n_free = s->o.pool;
    return 0;
}

int mq_store_open(const char *spec, const mq_store_opts *opts, mq_store **out, mq_err *err)
{
    *out = NULL;
    mq_store *s = calloc(1, sizeof *s);
    if (!s) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    int orc = MQ__OPTS_GET(mq_store_opts, &s->o, opts, err);
    if (orc) { free(s); return orc; }
    if (s->o.finish_seconds <= 0) s->o.finish_seconds = 5400;
    if (s->o.pool <= 0) s->o.pool = 8;
    if (s->o.map_bytes <= 0) s->o.map_bytes = (int64_t)4 << 30;
    s->seq_key_len = (size_t)snprintf(s->seq_key, sizeof s->seq_key, "meta:applied_seq%s%.80s",
                                      s->o.log_id ? ":" : "", s->o.log_id ? s->o.log_id : "");
    s->o.log_id = NULL;
    int rc;
    if (!strncmp(spec, "lmdb:", 5) && spec[5]) {
        s->kind = 0;
        rc = lmdb_open(s, spec + 5, err);
    } else if (!strncmp(spec, "redis://", 8) || !strncmp(spec, "redis+unix://", 13)) {
        s->kind = 1;
        rc = redis_open(s, spec, err);
    } else {
        rc = mq__err_set(err, MQ_EINVAL,
                         "store '%s': expected lmdb:PATH, redis://HOST:PORT or redis+unix://PATH", spec);
    }
    if (rc) { mq_store_close(s); return rc; }
    *out = s;
    return 0;
}

void mq_store_close(mq_store *s)
{
    if (!s) return;
    if (s->env) mdb_env_close(s->env);
    if (s->pool) {
        for (int i = 0; i < s->o.pool; i++)
            if (s->pool[i]) redisFree(s->pool[i]);
        free(s->pool);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
    }
    free(s);
}

static void empty_state(mq_member_state *st)
{
    st->n = 0;
    st->n_events = st->n_plays = 0;
    st->seconds_watched = 0;
    st->first_time = st->last_time = 0;
}

static size_t member_key(char *k, size_t cap, const char *prefix, const char *member)
{
    return (size_t)snprintf(k, cap, "%sm:%s", prefix, member);
}

int mq_store_get(mq_store *s, const char *member, mq_member_state *st, mq_err *err)
{
    empty_state(st);
    char key[MQ_ID_MAX + 16];
    if (s->kind == 0) {
        size_t kl = member_key(key, sizeof key, "", member);
        MDB_txn *txn;
        int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
        if (rc) return lmdb_err(err, rc, "txn_begin");
        MDB_val k = {kl, key}, v;
        rc = mdb_get(txn, s->dbi, &k, &v);
        if (rc == MDB_NOTFOUND) { mdb_txn_abort(txn); return 0; }
        if (rc) { mdb_txn_abort(txn); return lmdb_err(err, rc, "get"); }
        rc = mq_member_state_decode(v.mv_data, v.mv_size, st, err);
        mdb_txn_abort(txn);
        return rc;
    }
    size_t kl = member_key(key, sizeof key, "mq:", member);
    redisContext *c = pool_get(s);
    if (!c) c = redis_connect(s, err);
    if (!c) { pool_put(s, NULL); return MQ_EIO; }
    redisReply *r = redisCommand(c, "GET %b", key, kl);
    int rc = 0;
    if (!r) rc = mq__err_set(err, MQ_EIO, "redis GET: %s", c->errstr);
    else if (r->type == REDIS_REPLY_STRING) rc = mq_member_state_decode(r->str, r->len, st, err);
    else if (r->type != REDIS_REPLY_NIL) rc = mq__err_set(err, MQ_EIO, "redis GET: unexpected reply");
    if (r) freeReplyObject(r);
    pool_put(s, c);
    return rc;
}

/* Groups a batch by member: order[] lists event indices sorted by member, stable. */
static int cmp_member(const void *a, const void *b, void *ctx)
{
    const mq_event *ev = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    int c = strcmp(ev[i].member, ev[j].member);
    return c ? c : (i > j) - (i < j);
}

static int lmdb_apply(mq_store *s, const mq_event *ev, const int *order, int n, uint64_t last_seq,
                      mq_member_state *st, unsigned char *buf, mq_err *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return lmdb_err(err, rc, "txn_begin");
    char key[MQ_ID_MAX + 16];
    for (int a = 0; a < n;) {
        int b = a;
        const char *member = ev[order[a]].member;
        while (b < n && !strcmp(ev[order[b]].member, member)) b++;
        size_t kl = member_key(key, sizeof key, "", member);
        MDB_val k = {kl, key}, v;
        rc = mdb_get(txn, s->dbi, &k, &v);
        if (rc == MDB_NOTFOUND) empty_state(st);
        else if (rc) { rc = lmdb_err(err, rc, "get"); goto fail; }
        else if ((rc = mq_member_state_decode(v.mv_data, v.mv_size, st, err))) goto fail;
        for (int i = a; i < b; i++) mq_member_state_apply(st, &ev[order[i]], s->o.finish_seconds);
        size_t len;
        mq_member_state_encode(st, buf, ST_MAX, &len);
        v.mv_size = len;
        v.mv_data = buf;
        rc = mdb_put(txn, s->dbi, &k, &v, 0);
        if (rc) { rc = lmdb_err(err, rc, "put"); goto fail; }
        a = b;
    }
    MDB_val k = {s->seq_key_len, s->seq_key}, v = {8, &last_seq};
    rc = mdb_put(txn, s->dbi, &k, &v, 0);
    if (rc) { rc = lmdb_err(err, rc, "put"); goto fail; }
    rc = mdb_txn_commit(txn);
    return rc ? lmdb_err(err, rc, "commit") : 0;
fail:
    mdb_txn_abort(txn);
    return rc;
}

static int redis_apply(mq_store *s, const mq_event *ev, const int *order, int n,
                       uint64_t last_seq, mq_member_state *st, unsigned char *buf, mq_err *err)
{
    redisContext *c = pool_get(s);
    if (!c) c = redis_connect(s, err);
    if (!c) { pool_put(s, NULL); return MQ_EIO; }
    int rc = 0;
    /* member groups */
    int n_groups = 0;
    int *gstart = malloc((size_t)(n + 1) * sizeof *gstart);
    if (!gstart) { pool_put(s, c); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    for (int a = 0; a < n;) {
        int b = a;
        while (b < n && !strcmp(ev[order[b]].member, ev[order[a]].member)) b++;
        gstart[n_groups++] = a;
        a = b;
    }
    gstart[n_groups] = n;
    char key[MQ_ID_MAX + 16];
    mq_buf vals;
    mq_buf_init(&vals);
    size_t *voff = malloc((size_t)(n_groups + 1) * sizeof *voff);
    if (!voff) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
    for (int attempt = 0; attempt < 20; attempt++) {
        redisReply *r;
        for (int g = 0; g < n_groups; g++) {
            size_t kl = member_key(key, sizeof key, "mq:", ev[order[gstart[g]]].member);
            redisAppendCommand(c, "WATCH %b", key, kl);
        }
        for (int g = 0; g < n_groups; g++) {
            size_t kl = member_key(key, sizeof key, "mq:", ev[order[gstart[g]]].member);
            redisAppendCommand(c, "GET %b", key, kl);
        }
        for (int g = 0; g < n_groups; g++) {
            if (redisGetReply(c, (void **)&r) != REDIS_OK) goto ioerr;
            freeReplyObject(r);
        }
        /* fold each member's events into their state, encoding the new values */
        mq_buf_reset(&vals);
        int bad = 0;
        for (int g = 0; g < n_groups; g++) {
            if (redisGetReply(c, (void **)&r) != REDIS_OK) goto ioerr;
            if (r->type == REDIS_REPLY_STRING) {
                if (!bad) bad = mq_member_state_decode(r->str, r->len, st, err);
            } else {
                empty_state(st);
            }
            freeReplyObject(r);
            voff[g] = vals.len;
            if (bad) continue;
            for (int i = gstart[g]; i < gstart[g + 1]; i++)
                mq_member_state_apply(st, &ev[order[i]], s->o.finish_seconds);
            size_t len;
            mq_member_state_encode(st, buf, ST_MAX, &len);
            mq_buf_put(&vals, buf, len);
        }
        voff[n_groups] = vals.len;
        if (bad || vals.oom) {
            r = redisCommand(c, "UNWATCH");
            if (r) freeReplyObject(r);
            rc = bad ? bad : mq__err_set(err, MQ_ENOMEM, "out of memory");
            break;
        }
        redisAppendCommand(c, "MULTI");
        for (int g = 0; g < n_groups; g++) {
            size_t kl = member_key(key, sizeof key, "mq:", ev[order[gstart[g]]].member);
            redisAppendCommand(c, "SET %b %b", key, kl, vals.p + voff[g], voff[g + 1] - voff[g]);
        }
        char seqs[32];
        snprintf(seqs, sizeof seqs, "%llu", (unsigned long long)last_seq);
        redisAppendCommand(c, "SET mq:%s %s", s->seq_key, seqs);
        redisAppendCommand(c, "EXEC");
        /* replies: +OK for MULTI, QUEUED per SET, then EXEC's */
        for (int i = 0; i < n_groups + 2; i++) {
            if (redisGetReply(c, (void **)&r) != REDIS_OK) goto ioerr;
            freeReplyObject(r);
        }
        if (redisGetReply(c, (void **)&r) != REDIS_OK) goto ioerr;
        bool committed = r->type == REDIS_REPLY_ARRAY, aborted = r->type == REDIS_REPLY_NIL;
        if (r->type == REDIS_REPLY_ERROR) rc = mq__err_set(err, MQ_EIO, "redis EXEC: %s", r->str);
        else if (!committed && !aborted) rc = mq__err_set(err, MQ_EIO, "redis EXEC: unexpected reply");
        freeReplyObject(r);
        if (committed || rc) break;
        if (attempt == 19) rc = mq__err_set(err, MQ_EBUSY, "redis: members kept changing under us");
    }
done:
    mq_buf_release(&vals);
    free(voff);
    free(gstart);
    pool_put(s, c);
    return rc;
ioerr:
    rc = mq__err_set(err, MQ_EIO, "redis: %s", c->errstr[0] ? c->errstr : "no reply");
    mq_buf_release(&vals);
    free(voff);
    free(gstart);
    pool_put(s, c);
    return rc;
}

int mq_store_apply(mq_store *s, const mq_event *ev, int n, uint64_t last_seq, mq_err *err)
{
    if (n <= 0) return 0;
    int *order = malloc((size_t)n * sizeof *order);
    unsigned char *buf = malloc(ST_MAX);
    mq_member_state *st = malloc(sizeof *st);
    int rc;
    if (!order || !buf || !st) {
        rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, cmp_member, (void *)ev);
    rc = s->kind == 0 ? lmdb_apply(s, ev, order, n, last_seq, st, buf, err)
                      : redis_apply(s, ev, order, n, last_seq, st, buf, err);
out:
    free(order);
    free(buf);
    free(st);
    return rc;
}

int mq_store_applied_seq(mq_store *s, uint64_t *seq, mq_err *err)
{
    *seq = 0;
    if (s->kind == 0) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
        if (rc) return lmdb_err(err, rc, "txn_begin");
        MDB_val k = {s->seq_key_len, s->seq_key}, v;
        rc = mdb_get(txn, s->dbi, &k, &v);
        if (rc == 0 && v.mv_size == 8) memcpy(seq, v.mv_data, 8);
        mdb_txn_abort(txn);
        return rc == 0 || rc == MDB_NOTFOUND ? 0 : lmdb_err(err, rc, "get");
    }
    redisContext *c = pool_get(s);
    if (!c) c = redis_connect(s, err);
    if (!c) { pool_put(s, NULL); return MQ_EIO; }
    redisReply *r = redisCommand(c, "GET mq:%s", s->seq_key);
    int rc = 0;
    if (!r) rc = mq__err_set(err, MQ_EIO, "redis GET: %s", c->errstr);
    else if (r->type == REDIS_REPLY_STRING) *seq = strtoull(r->str, NULL, 10);
    if (r) freeReplyObject(r);
    pool_put(s, c);
    return rc;
}

int mq_store_reset(mq_store *s, mq_err *err)
{
    if (s->kind != 0)
        return mq__err_set(err, MQ_EUNSUP, "store: a Redis store may hold other replicas' members; "
                           "rebuilding it from one event log would drop them: delete its mq:* keys "
                           "and restart to rebuild it");
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return lmdb_err(err, rc, "txn_begin");
    rc = mdb_drop(txn, s->dbi, 0);
    if (rc) { mdb_txn_abort(txn); return lmdb_err(err, rc, "drop"); }
    rc = mdb_txn_commit(txn);
    if (rc) return lmdb_err(err, rc, "commit");
    /* the log is the durable record, but a reset must not come back after a crash */
    rc = mdb_env_sync(s->env, 1);
    return rc ? lmdb_err(err, rc, "sync") : 0;
}
