/* test_serve_log.c: the event log (group commit, rollover, replay, torn tails, CRC damage)
 * and the member state store (LMDB and a real redis-server started on a unix socket). */
#include "../test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static mq_event mk(int member, int title, int64_t t, int kind, float v)
{
    mq_event e;
    memset(&e, 0, sizeof e);
    snprintf(e.member, sizeof e.member, "m%d", member);
    snprintf(e.title, sizeof e.title, "t%d", title);
    e.time = t;
    e.kind = kind;
    e.value = v;
    return e;
}

typedef struct collect {
    mq_event *ev;
    int n, cap;
    uint64_t first, next;
    int gaps;
} collect;

static int collect_fn(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    collect *c = user;
    if (c->n == 0) c->first = first_seq;
    else if (first_seq != c->next) c->gaps++;
    c->next = first_seq + (uint64_t)n;
    if (c->n + n > c->cap) {
        c->cap = (c->n + n) * 2;
        c->ev = realloc(c->ev, (size_t)c->cap * sizeof *c->ev);
    }
    memcpy(c->ev + c->n, ev, (size_t)n * sizeof *ev);
    c->n += n;
    return 0;
}

typedef struct writer {
    mq_evlog *l;
    int id, n, fails;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    for (int i = 0; i < w->n; i++) {
        mq_event e = mk(w->id, i, 1000 + i, MQ_EV_PLAY, (float)i);
        mq_err err;
        if (mq_evlog_append(w->l, &e, 1, NULL, &err)) w->fails++;
    }
    return NULL;
}

MQ_TEST(serve_log_group_commit_and_replay)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/log", mq_test_tmpdir());
    mq_err err;
    mq_evlog *l;
    collect applied = {0};
    mq_evlog_opts o; mq_evlog_opts_init(&o, sizeof o);
    o.fsync = MQ_FSYNC_GROUP; o.segment_bytes = 4096; o.apply = collect_fn;
    o.apply_user = &applied;
    ASSERT_OK(mq_evlog_open(dir, &o, &l, &err), &err);
    enum { W = 8, N = 150 };
    writer w[W];
    pthread_t th[W];
    for (int i = 0; i < W; i++) {
        w[i] = (writer){l, i, N, 0};
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    }
    for (int i = 0; i < W; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < W; i++) ASSERT_INT_EQ(w[i].fails, 0);
    mq_evlog_stats st;
    mq_evlog_get_stats(l, &st);
    ASSERT_INT_EQ(st.records, W * N);
    /* every append was applied exactly once, in sequence order */
    ASSERT_INT_EQ(applied.n, W * N);
    ASSERT_INT_EQ(applied.gaps, 0);
    ASSERT_INT_EQ(applied.first, 1);
    ASSERT(st.segments > 3);            /* 4 KiB segments roll over */
    fprintf(stderr, "  %d appends in %llu commits, %llu segments\n", W * N,
            (unsigned long long)st.commits, (unsigned long long)st.segments);
    mq_evlog_close(l);

    /* scan sees all, each writer's events in its own order */
    collect c = {0};
    ASSERT_OK(mq_evlog_scan(dir, collect_fn, &c, &err), &err);
    ASSERT_INT_EQ(c.n, W * N);
    int seen[W] = {0};
    for (int i = 0; i < c.n; i++) {
        int m = atoi(c.ev[i].member + 1), t = atoi(c.ev[i].title + 1);
        ASSERT(m >= 0 && m < W);
        ASSERT_INT_EQ(t, seen[m]);
        ASSERT_NEAR(c.ev[i].value, t, 0);
        ASSERT_INT_EQ(c.ev[i].time, 1000 + t);
        seen[m]++;
    }
    /* reopen: replay only after applied_seq */
    collect r = {0};
    o.apply_user = &r;
    o.applied_seq = 1000;
    ASSERT_OK(mq_evlog_open(dir, &o, &l, &err), &err);
    ASSERT_INT_EQ(r.n, W * N - 1000);
    ASSERT_INT_EQ(r.first, 1001);
    mq_event e = mk(99, 1, 5, MQ_EV_RATING, 4.5f);
    uint64_t seq;
    ASSERT_OK(mq_evlog_append(l, &e, 1, &seq, &err), &err);
    ASSERT_INT_EQ(seq, W * N + 1);
    mq_evlog_close(l);
    /* to a dataset */
    mq_dataset *d;
    ASSERT_OK(mq_evlog_to_dataset(dir, &d, &err), &err);
    ASSERT_INT_EQ(d->n_members, W + 1);
    ASSERT_INT_EQ(d->nnz, W * N + 1);
    mq_dataset_destroy(d);
    free(c.ev);
    free(r.ev);
    free(applied.ev);
}

static long file_size(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

MQ_TEST(serve_log_torn_tail_dropped_and_crc_detected)
{
    char dir[1024], seg[1100];
    snprintf(dir, sizeof dir, "%s/torn", mq_test_tmpdir());
    snprintf(seg, sizeof seg, "%s/%020d.log", dir, 1);
    mq_err err;
    mq_evlog *l;
    mq_evlog_opts o; mq_evlog_opts_init(&o, sizeof o);
    o.fsync = MQ_FSYNC_BATCH;
    ASSERT_OK(mq_evlog_open(dir, &o, &l, &err), &err);
    for (int i = 0; i < 10; i++) {
        mq_event e = mk(1, i, 100 + i, MQ_EV_PLAY, 60);
        ASSERT_OK(mq_evlog_append(l, &e, 1, NULL, &err), &err);
    }
    mq_evlog_close(l);
    long full = file_size(seg);
    /* each record here is 8 + 15 + 2 + 2 = 27 bytes */
    ASSERT_INT_EQ(full, 16 + 10 * 27);

    /* a torn final record: cut 5 bytes off the end */
    ASSERT_INT_EQ(truncate(seg, full - 5), 0);
    collect c = {0};
    ASSERT_OK(mq_evlog_scan(dir, collect_fn, &c, &err), &err);
    ASSERT_INT_EQ(c.n, 9);                       /* scan alone does not modify */
    ASSERT_INT_EQ(file_size(seg), full - 5);
    ASSERT_OK(mq_evlog_open(dir, &o, &l, &err), &err);
    ASSERT_INT_EQ(file_size(seg), full - 27);    /* cut back to the last whole record */
    mq_evlog_stats st;
    mq_evlog_get_stats(l, &st);
    ASSERT_INT_EQ(st.records, 9);
    ASSERT_INT_EQ(st.truncated_bytes, 22);
    mq_event e = mk(1, 42, 500, MQ_EV_PLAY, 1);
    ASSERT_OK(mq_evlog_append(l, &e, 1, NULL, &err), &err);
    mq_evlog_close(l);
    c.n = 0;
    ASSERT_OK(mq_evlog_scan(dir, collect_fn, &c, &err), &err);
    ASSERT_INT_EQ(c.n, 10);
    ASSERT_STR_EQ(c.ev[9].title, "t42");

    /* a zero-filled tail (file extended, data never landed) is also a torn write */
    FILE *f = fopen(seg, "ab");
    char zeros[40] = {0};
    fwrite(zeros, 1, sizeof zeros, f);
    fclose(f);
    ASSERT_OK(mq_evlog_open(dir, &o, &l, &err), &err);
    mq_evlog_close(l);
    full += 1;                                   /* "t42" is a byte longer than "t9" */
    ASSERT_INT_EQ(file_size(seg), full);

    /* a flipped byte in a middle record: corruption, not a crash: refuse, name the offset */
    f = fopen(seg, "r+b");
    fseek(f, 16 + 3 * 27 + 20, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 16 + 3 * 27 + 20, SEEK_SET);
    fputc(ch ^ 0x40, f);
    fclose(f);
    int rc = mq_evlog_open(dir, &o, &l, &err);
    ASSERT_INT_EQ(rc, MQ_ECORRUPT);
    ASSERT(strstr(err.msg, "byte offset 97") != NULL);
    ASSERT(strstr(err.msg, "CRC") != NULL);
    ASSERT_INT_EQ(mq_evlog_scan(dir, collect_fn, &c, &err), MQ_ECORRUPT);
    ASSERT_INT_EQ(file_size(seg), full);         /* nothing was cut */
    free(c.ev);
}

MQ_TEST(serve_store_state_rules)
{
    mq_member_state *st = calloc(1, sizeof *st);
    mq_event e = mk(1, 1, 100, MQ_EV_PLAY, 600);
    mq_member_state_apply(st, &e, 5400);
    e = mk(1, 2, 200, MQ_EV_PLAY, 6000);         /* watched to the end */
    mq_member_state_apply(st, &e, 5400);
    e = mk(1, 3, 150, MQ_EV_RATING, 4);
    mq_member_state_apply(st, &e, 5400);
    e = mk(1, 1, 300, MQ_EV_PLAY, 5000);         /* 600 + 5000 >= 5400: now finished */
    mq_member_state_apply(st, &e, 5400);
    e = mk(1, 4, 50, MQ_EV_IMPRESSION, 1);       /* counted, not in history */
    mq_member_state_apply(st, &e, 5400);
    ASSERT_INT_EQ(st->n, 3);
    ASSERT_STR_EQ(st->recent[0].title, "t1");    /* most recent first */
    ASSERT_STR_EQ(st->recent[1].title, "t2");
    ASSERT_STR_EQ(st->recent[2].title, "t3");
    ASSERT_NEAR(st->recent[0].seconds, 5600, 0);
    ASSERT_INT_EQ(st->recent[0].finished, 1);
    ASSERT_INT_EQ(st->recent[2].finished, 1);
    ASSERT_NEAR(st->recent[2].rating, 4, 0);
    ASSERT_INT_EQ(st->n_events, 5);
    ASSERT_INT_EQ(st->n_plays, 3);
    ASSERT_INT_EQ(st->first_time, 50);
    ASSERT_INT_EQ(st->last_time, 300);
    unsigned char *buf = malloc(64 * 1024);
    size_t len;
    ASSERT_INT_EQ(mq_member_state_encode(st, buf, 64 * 1024, &len), 0);
    mq_member_state *st2 = calloc(1, sizeof *st2);
    mq_err err;
    ASSERT_OK(mq_member_state_decode(buf, len, st2, &err), &err);
    ASSERT_INT_EQ(st2->n, 3);
    ASSERT_STR_EQ(st2->recent[1].title, "t2");
    ASSERT_NEAR(st2->seconds_watched, 11600, 0);
    ASSERT_INT_EQ(mq_member_state_decode(buf, len - 3, st2, &err), MQ_ECORRUPT);
    /* the oldest falls off past MQ_STORE_RECENT */
    for (int i = 0; i < MQ_STORE_RECENT + 5; i++) {
        e = mk(1, 1000 + i, 1000 + i, MQ_EV_PLAY, 1);
        mq_member_state_apply(st, &e, 5400);
    }
    ASSERT_INT_EQ(st->n, MQ_STORE_RECENT);
    ASSERT_STR_EQ(st->recent[0].title, "t1204");
    free(buf);
    free(st);
    free(st2);
}

static void store_roundtrip(mq_test_ctx *t_, mq_store *s)
{
    mq_err err;
    mq_event ev[4] = {mk(7, 1, 100, MQ_EV_PLAY, 60), mk(8, 2, 110, MQ_EV_PLAY, 6000),
                      mk(7, 3, 120, MQ_EV_THUMB_DOWN, 1), mk(7, 1, 130, MQ_EV_PLAY, 60)};
    ASSERT_OK(mq_store_apply(s, ev, 4, 4, &err), &err);
    uint64_t seq;
    ASSERT_OK(mq_store_applied_seq(s, &seq, &err), &err);
    ASSERT_INT_EQ(seq, 4);
    mq_member_state *st = calloc(1, sizeof *st);
    ASSERT_OK(mq_store_get(s, "m7", st, &err), &err);
    ASSERT_INT_EQ(st->n, 2);
    ASSERT_STR_EQ(st->recent[0].title, "t1");
    ASSERT_NEAR(st->recent[0].seconds, 120, 0);
    ASSERT_INT_EQ(st->recent[0].finished, 0);
    ASSERT_INT_EQ(st->recent[1].thumb, 2);
    ASSERT_OK(mq_store_get(s, "m8", st, &err), &err);
    ASSERT_INT_EQ(st->n, 1);
    ASSERT_INT_EQ(st->recent[0].finished, 1);
    ASSERT_OK(mq_store_get(s, "nobody", st, &err), &err);
    ASSERT_INT_EQ(st->n, 0);
    mq_event e2 = mk(7, 9, 200, MQ_EV_PLAY, 30);
    ASSERT_OK(mq_store_apply(s, &e2, 1, 5, &err), &err);
    ASSERT_OK(mq_store_get(s, "m7", st, &err), &err);
    ASSERT_INT_EQ(st->n, 3);
    ASSERT_STR_EQ(st->recent[0].title, "t9");
    ASSERT_OK(mq_store_applied_seq(s, &seq, &err), &err);
    ASSERT_INT_EQ(seq, 5);
    free(st);
}

MQ_TEST(serve_store_lmdb)
{
    char spec[1100];
    snprintf(spec, sizeof spec, "lmdb:%s/state", mq_test_tmpdir());
    mq_err err;
    mq_store *s;
    ASSERT_OK(mq_store_open(spec, NULL, &s, &err), &err);
    ASSERT_STR_EQ(mq_store_kind(s), "lmdb");
    store_roundtrip(t_, s);
    mq_store_close(s);
    /* persisted */
    ASSERT_OK(mq_store_open(spec, NULL, &s, &err), &err);
    uint64_t seq;
    ASSERT_OK(mq_store_applied_seq(s, &seq, &err), &err);
    ASSERT_INT_EQ(seq, 5);
    mq_store_close(s);
    ASSERT_INT_EQ(mq_store_open("nonsense", NULL, &s, &err), MQ_EINVAL);
    ASSERT_INT_EQ(mq_store_open("redis://127.0.0.1:notaport", NULL, &s, &err), MQ_EINVAL);
}

MQ_TEST(serve_store_redis)
{
    if (mq_test_sh("command -v redis-server >/dev/null") != 0) MQ_SKIP("redis-server not installed");
    const char *tmp = mq_test_tmpdir();
    if (mq_test_sh("redis-server --port 0 --unixsocket %s/redis.sock --save '' --appendonly no "
                   "--daemonize yes --pidfile %s/redis.pid --logfile %s/redis.log --dir %s",
                   tmp, tmp, tmp, tmp) != 0)
        MQ_SKIP("cannot start redis-server");
    char sock[1100], spec[1200];
    snprintf(sock, sizeof sock, "%s/redis.sock", tmp);
    for (int i = 0; i < 100 && access(sock, F_OK) != 0; i++) usleep(20000);
    snprintf(spec, sizeof spec, "redis+unix://%s", sock);
    mq_err err;
    mq_store *s = NULL;
    int rc = mq_store_open(spec, NULL, &s, &err);
    if (rc == 0) {
        store_roundtrip(t_, s);
        mq_store_close(s);
    }
    mq_test_sh("kill $(cat %s/redis.pid)", tmp);
    ASSERT_OK(rc, &err);
}

typedef struct async_ctx {
    atomic_int done, failed;
    mq_evlog *l;
    int id;
} async_ctx;

static void async_done(void *user, int rc, uint64_t first_seq)
{
    async_ctx *c = user;
    if (rc || first_seq == 0) atomic_fetch_add(&c->failed, 1);
    atomic_fetch_add(&c->done, 1);
}

static void *async_writer(void *arg)
{
    async_ctx *c = arg;
    for (int i = 0; i < 200; i++) {
        mq_event e = mk(c->id, i, 10 + i, MQ_EV_PLAY, 1);
        mq_err err;
        if (mq_evlog_append_async(c->l, &e, 1, async_done, c, &err)) atomic_fetch_add(&c->failed, 1);
    }
    return NULL;
}

MQ_TEST(serve_log_async_group_commit)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/alog", mq_test_tmpdir());
    mq_err err;
    mq_evlog *l;
    collect applied = {0};
    mq_evlog_opts o; mq_evlog_opts_init(&o, sizeof o);
    o.fsync = MQ_FSYNC_GROUP; o.apply = collect_fn; o.apply_user = &applied;
    ASSERT_OK(mq_evlog_open(dir, &o, &l, &err), &err);
    async_ctx c[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        atomic_init(&c[i].done, 0);
        atomic_init(&c[i].failed, 0);
        c[i].l = l;
        c[i].id = i;
        pthread_create(&th[i], NULL, async_writer, &c[i]);
    }
    /* a synchronous appender at the same time */
    for (int i = 0; i < 50; i++) {
        mq_event e = mk(9, i, 5, MQ_EV_RATING, 3);
        ASSERT_OK(mq_evlog_append(l, &e, 1, NULL, &err), &err);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int k = 0; k < 500; k++) {
        int d = 0;
        for (int i = 0; i < 4; i++) d += atomic_load(&c[i].done);
        if (d == 800) break;
        usleep(10000);
    }
    for (int i = 0; i < 4; i++) {
        ASSERT_INT_EQ(atomic_load(&c[i].done), 200);
        ASSERT_INT_EQ(atomic_load(&c[i].failed), 0);
    }
    mq_evlog_stats st;
    mq_evlog_get_stats(l, &st);
    ASSERT_INT_EQ(st.records, 850);
    fprintf(stderr, "  850 appends (800 asynchronous) in %llu commits\n", (unsigned long long)st.commits);
    ASSERT(st.commits < 850);
    mq_evlog_close(l);
    ASSERT_INT_EQ(applied.n, 850);
    ASSERT_INT_EQ(applied.gaps, 0);
    free(applied.ev);
}
