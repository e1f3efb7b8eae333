/* test_serve_recovery.c: the recovery paths of serving (issue 12, "Recovery and data"):
 * a zeroed tail from any offset is a torn tail; the log's identity survives a move; a full
 * disk refuses a batch cleanly and the log resumes when space returns; a failed store apply is
 * retried in order (never skipped); the member store is derived again when the log lost its
 * tail; a model copied over the live file neither crashes nor changes the server, and
 * `marquee models install` replaces a model atomically. */
#include "serve_harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

static mq_event mkev(const char *member, int title, int64_t t, float v)
{
    mq_event e;
    memset(&e, 0, sizeof e);
    snprintf(e.member, sizeof e.member, "%s", member);
    snprintf(e.title, sizeof e.title, "t%d", title);
    e.time = t;
    e.kind = MQ_EV_PLAY;
    e.value = v;
    return e;
}

typedef struct seqs {
    uint64_t first, next;
    int n, gaps;
    float sum;
} seqs;

static int seqs_fn(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    seqs *c = user;
    if (c->n == 0) c->first = first_seq;
    else if (first_seq != c->next) c->gaps++;
    c->next = first_seq + (uint64_t)n;
    c->n += n;
    for (int i = 0; i < n; i++) c->sum += ev[i].value;
    return 0;
}

static long fsize(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

MQ_TEST(serve_log_zero_tail_from_any_offset)
{
    /* A crash can leave the end of the file zeroed from any byte (the file system extended it
     * before the data landed, up to a page boundary): every such tail is torn, not corrupt,
     * for the server's open and for `train --events` (scan) alike. */
    char dir[1024], seg[1100];
    snprintf(dir, sizeof dir, "%s/log", mq_test_tmpdir());
    snprintf(seg, sizeof seg, "%s/%020d.log", dir, 1);
    mq_err err;
    mq_evlog *l;
    mq_evlog_opts o; mq_evlog_opts_init(&o, sizeof o);
    o.fsync = MQ_FSYNC_BATCH;
    ASSERT_OK(mq_evlog_open(dir, &o, &l, &err), &err);
    for (int i = 0; i < 10; i++) {
        mq_event e = mkev("m1", i, 100 + i, 60);
        ASSERT_OK(mq_evlog_append(l, &e, 1, NULL, &err), &err);
    }
    mq_evlog_close(l);
    long full = fsize(seg);
    ASSERT_INT_EQ(full, 16 + 10 * 27);          /* 27-byte records */
    unsigned char pristine[512];
    FILE *f = fopen(seg, "rb");
    ASSERT(f && fread(pristine, 1, (size_t)full, f) == (size_t)full);
    fclose(f);
    int cases = 0;
    for (long k = 16 + 6 * 27; k < full; k++) {
        /* bytes [k, 4096) zero: the page the last records were in, rounded up */
        unsigned char page[4096] = {0};
        memcpy(page, pristine, (size_t)k);
        f = fopen(seg, "wb");
        ASSERT(f && fwrite(page, 1, sizeof page, f) == sizeof page);
        fclose(f);
        int whole = (int)((k - 16) / 27);
        seqs sc = {0};
        int rc = mq_evlog_scan(dir, seqs_fn, &sc, &err);
        if (rc) fprintf(stderr, "  zeros from byte %ld: %s\n", k, err.msg);
        ASSERT_INT_EQ(rc, 0);
        ASSERT_INT_EQ(sc.n, whole);
        seqs sa = {0};
        mq_evlog_opts ro; mq_evlog_opts_init(&ro, sizeof ro);
        ro.fsync = MQ_FSYNC_BATCH; ro.apply = seqs_fn; ro.apply_user = &sa;
        ASSERT_OK(mq_evlog_open(dir, &ro, &l, &err), &err);
        ASSERT_INT_EQ(sa.n, whole);
        mq_evlog_stats st;
        mq_evlog_get_stats(l, &st);
        ASSERT_INT_EQ(st.records, whole);
        /* the next append continues right after the last whole record */
        mq_event e = mkev("m1", 7, 500, 1);
        uint64_t seq;
        ASSERT_OK(mq_evlog_append(l, &e, 1, &seq, &err), &err);
        ASSERT_INT_EQ(seq, whole + 1);
        mq_evlog_close(l);
        ASSERT_INT_EQ(fsize(seg), 16 + (whole + 1) * 27);
        cases++;
    }
    ASSERT_INT_EQ(cases, 4 * 27 - 0);
    /* damage followed by more data is still refused, naming the offset */
    memcpy(pristine + 16 + 3 * 27 + 20, "\x55", 1);
    f = fopen(seg, "wb");
    ASSERT(f && fwrite(pristine, 1, (size_t)full, f) == (size_t)full);
    fclose(f);
    ASSERT_INT_EQ(mq_evlog_open(dir, &o, &l, &err), MQ_ECORRUPT);
    ASSERT(strstr(err.msg, "byte offset 97") != NULL);
}

MQ_TEST(serve_log_identity_moves_with_the_directory)
{
    /* The name under which a store keeps the log's applied sequence must not change when the
     * directory moves (or the host is renamed), else the whole log is applied again. */
    char a[1024], b[1024];
    const char *tmp = mq_test_tmpdir();
    snprintf(a, sizeof a, "%s/events-a", tmp);
    snprintf(b, sizeof b, "%s/moved/events-b", tmp);
    mq_err err;
    mq_evlog *l;
    ASSERT_OK(mq_evlog_open(a, NULL, &l, &err), &err);
    mq_event e = mkev("m", 1, 1, 1);
    ASSERT_OK(mq_evlog_append(l, &e, 1, NULL, &err), &err);
    mq_evlog_close(l);
    char id1[16], id2[16], id3[16];
    mq_evlog_id(a, id1);
    ASSERT_INT_EQ(strlen(id1), 8);
    ASSERT_INT_EQ(mq_test_sh("mkdir -p %s/moved && mv %s %s", tmp, a, b), 0);
    mq_evlog_id(b, id2);
    ASSERT_STR_EQ(id1, id2);
    /* a log from before the identity file keeps the name it had (host:path), then keeps it
     * when moved */
    ASSERT_INT_EQ(mq_test_sh("rm %s/LOG_ID && mv %s %s", b, b, a), 0);
    char host[256] = "", abs[4096], ident[4400], legacy[16];
    gethostname(host, sizeof host - 1);
    ASSERT(realpath(a, abs) != NULL);
    snprintf(ident, sizeof ident, "%s:%s", host, abs);
    snprintf(legacy, sizeof legacy, "%08x", mq_crc32c(0, ident, strlen(ident)));
    mq_evlog_id(a, id3);
    ASSERT_STR_EQ(id3, legacy);
    ASSERT_INT_EQ(mq_test_sh("mv %s %s", a, b), 0);
    mq_evlog_id(b, id2);
    ASSERT_STR_EQ(id2, legacy);
    /* two new logs get different names */
    snprintf(a, sizeof a, "%s/other", tmp);
    mq_evlog_id(a, id3);
    ASSERT(strcmp(id3, id1) != 0);
}

MQ_TEST(serve_log_disk_full_refuses_cleanly_and_resumes)
{
    /* On a full file system the failing batch is refused with the real cause (no space left),
     * none of its bytes stay in the log, its sequence numbers are handed out again, and the log
     * takes appends again as soon as space returns, without reopening. */
    const char *tmp = mq_test_tmpdir();
    char mnt[600], dir[700], ballast[700];
    snprintf(mnt, sizeof mnt, "%s/mnt", tmp);
    snprintf(dir, sizeof dir, "%s/log", mnt);
    snprintf(ballast, sizeof ballast, "%s/ballast", mnt);
    if (mq_test_sh("mkdir -p %s && mount -t tmpfs -o size=64k tmpfs %s 2>/dev/null", mnt, mnt) != 0)
        MQ_SKIP("cannot mount a small tmpfs (needs root)");
    mq_test_sh("head -c 16384 /dev/zero > %s", ballast);
    mq_err err;
    mq_evlog *l;
    mq_evlog_opts o; mq_evlog_opts_init(&o, sizeof o);
    o.fsync = MQ_FSYNC_BATCH;
    int rc = mq_evlog_open(dir, &o, &l, &err);
    int ok = 0, code = 0, i;
    char msg[512] = "";
    for (i = 0; rc == 0 && i < 10000; i++) {
        mq_event e = mkev("member-with-a-long-name", i % 10, i, 1);
        int r = mq_evlog_append(l, &e, 1, NULL, &err);
        if (r) { code = r; snprintf(msg, sizeof msg, "%s", err.msg); break; }
        ok++;
    }
    mq_evlog_stats st = {0};
    mq_evlog_health h = {0};
    uint64_t seq = 0;
    int rc2 = -1, rc3 = -1;
    if (rc == 0) {
        mq_evlog_get_stats(l, &st);
        mq_evlog_get_health(l, &h);
        mq_event e = mkev("member-with-a-long-name", 1, 1, 1);
        rc2 = mq_evlog_append(l, &e, 1, NULL, &err);   /* still full */
        unlink(ballast);
        rc3 = mq_evlog_append(l, &e, 1, &seq, &err);  /* space is back */
        mq_evlog_close(l);
    }
    seqs sc = {0};
    int rc4 = rc == 0 ? mq_evlog_scan(dir, seqs_fn, &sc, &err) : -1;
    mq_test_sh("umount %s", mnt);
    ASSERT_OK(rc, &err);
    fprintf(stderr, "  %d appends before the disk filled: %s\n", ok, msg);
    ASSERT(ok > 100);
    ASSERT_INT_EQ(code, MQ_ENOSPC);
    ASSERT(strstr(msg, "No space left on device") != NULL);
    ASSERT_INT_EQ(st.records, ok);
    ASSERT_INT_EQ(h.code, MQ_ENOSPC);
    ASSERT(!h.failed);
    ASSERT_INT_EQ(rc2, MQ_ENOSPC);
    ASSERT_INT_EQ(rc3, 0);
    ASSERT_INT_EQ(seq, ok + 1);                 /* no gap: the refused numbers were reused */
    ASSERT_INT_EQ(rc4, 0);
    ASSERT_INT_EQ(sc.n, ok + 1);
    ASSERT_INT_EQ(sc.gaps, 0);
}

typedef struct flaky {
    atomic_int fail;
    seqs got;
} flaky;

static int flaky_apply(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    flaky *f = user;
    if (atomic_load(&f->fail)) return MQ_EIO;
    return seqs_fn(&f->got, ev, n, first_seq);
}

MQ_TEST(serve_log_failed_apply_is_retried_in_order)
{
    /* While the apply callback (the member store) fails, events stay durable in the log and
     * queued; later commits never apply past them; once it works again every event is applied
     * exactly once, in sequence order. */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/log", mq_test_tmpdir());
    flaky f = {0};
    mq_err err;
    mq_evlog *l;
    mq_evlog_opts o; mq_evlog_opts_init(&o, sizeof o);
    o.fsync = MQ_FSYNC_NONE; o.apply = flaky_apply; o.apply_user = &f;
    ASSERT_OK(mq_evlog_open(dir, &o, &l, &err), &err);
    int total = 0;
    for (int i = 0; i < 5; i++, total++) {
        mq_event e = mkev("m", i, i, (float)(total + 1));
        ASSERT_OK(mq_evlog_append(l, &e, 1, NULL, &err), &err);
    }
    atomic_store(&f.fail, 1);
    for (int i = 0; i < 5; i++, total++) {
        mq_event e = mkev("m", i, i, (float)(total + 1));
        uint64_t seq;
        int rc = mq_evlog_append(l, &e, 1, &seq, &err);
        ASSERT_INT_EQ(rc, MQ_EIO);
        ASSERT(strstr(err.msg, "durable in the event log") != NULL);
        ASSERT_INT_EQ(seq, total + 1);
    }
    mq_evlog_health h;
    mq_evlog_get_health(l, &h);
    ASSERT_INT_EQ(h.behind, 5);
    ASSERT_INT_EQ(mq_evlog_catch_up(l, &err), MQ_EBUSY);
    ASSERT_INT_EQ(f.got.n, 5);
    atomic_store(&f.fail, 0);
    ASSERT_OK(mq_evlog_catch_up(l, &err), &err);
    mq_evlog_get_health(l, &h);
    ASSERT_INT_EQ(h.behind, 0);
    for (int i = 0; i < 5; i++, total++) {
        mq_event e = mkev("m", i, i, (float)(total + 1));
        ASSERT_OK(mq_evlog_append(l, &e, 1, NULL, &err), &err);
    }
    /* and a failure healed by the next commit (no explicit catch-up) */
    atomic_store(&f.fail, 1);
    mq_event e = mkev("m", 0, 0, (float)(++total));
    ASSERT_INT_EQ(mq_evlog_append(l, &e, 1, NULL, &err), MQ_EIO);
    atomic_store(&f.fail, 0);
    e = mkev("m", 0, 0, (float)(++total));
    ASSERT_OK(mq_evlog_append(l, &e, 1, NULL, &err), &err);
    mq_evlog_close(l);
    ASSERT_INT_EQ(f.got.n, total);
    ASSERT_INT_EQ(f.got.first, 1);
    ASSERT_INT_EQ(f.got.gaps, 0);
    ASSERT_NEAR(f.got.sum, total * (total + 1) / 2.0, 0);   /* each value 1..total once */
}

/* ---- end to end ---- */

static int count_cw_minutes(int port, const char *member, const char *title)
{
    char path[300];
    snprintf(path, sizeof path, "/v1/members/%s/homepage?rows=3&per_row=5", member);
    int st;
    cJSON *p = get_json(port, path, &st);
    const cJSON *cw = p ? find_row(p, "continue_watching") : NULL, *t;
    int minutes = -1;
    if (cw)
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(cw, "titles"))
            if (!strcmp(cJSON_GetObjectItem(t, "id")->valuestring, title))
                sscanf(cJSON_GetObjectItem(t, "evidence")->valuestring, "Resume: %d min", &minutes);
    cJSON_Delete(p);
    return minutes;
}

/* The tail-loss cases, end to end through the server (issue 12 item 2). A server takes 30
 * one-minute plays of member "tail-m" (30-byte records) and stops; the log is then split into
 * two segments (records 1-20 and 21-30, as a rollover leaves it) and each case damages a copy
 * of that state: the log loses its tail while the store has applied all 30. After a restart
 * the store must agree with what the log still holds (Continue Watching shows `keep` minutes),
 * new events must get the next sequence numbers and reach the store, and after a stop the
 * store's applied sequence, its member counts and the log's records must match. */
typedef enum { CUT, ZERO_TO_PAGE, FLIP, UNLINK_LAST, UNLINK_ALL, NONE } tail_op;

typedef struct tail_case {
    const char *what;
    tail_op op;
    long at;            /* byte offset in the last segment (CUT, ZERO_TO_PAGE, FLIP) */
    int keep;           /* records the log holds after start-up */
} tail_case;

#define TREC 30                         /* bytes per record of member "tail-m", title "2" */
#define TOFF(r) (16 + ((r) - 21) * TREC)  /* where record r (21..30) starts in the last segment */

static const tail_case tail_cases[] = {
    {"cut inside the last record's payload (crash mid-write)", CUT, TOFF(30) + 20, 29},
    {"cut inside the last record's 8-byte header", CUT, TOFF(30) + 5, 29},
    {"cut at a record boundary (an older copy restored: 4 records lost)", CUT, TOFF(27), 26},
    {"zeros from inside a record to the 4 KiB page boundary", ZERO_TO_PAGE, TOFF(27) + 11, 26},
    {"the last record's payload damaged, nothing after it (CRC-32C mismatch)", FLIP, TOFF(30) + 20, 29},
    {"the last segment's header torn (7 of 16 bytes)", CUT, 7, 20},
    {"the last segment deleted", UNLINK_LAST, 0, 20},
    {"every segment deleted (LOG_ID kept)", UNLINK_ALL, 0, 0},
    {"control: no damage", NONE, 0, 30},
};

static int tail_damage(const char *events, const tail_case *c)
{
    char a[800], b[800];
    snprintf(a, sizeof a, "%s/%020d.log", events, 1);
    snprintf(b, sizeof b, "%s/%020d.log", events, 21);
    switch (c->op) {
    case CUT: return truncate(b, c->at);
    case ZERO_TO_PAGE: {
        unsigned char page[4096] = {0};
        FILE *f = fopen(b, "rb");
        if (!f) return -1;
        size_t n = fread(page, 1, sizeof page, f);
        fclose(f);
        if ((long)n <= c->at) return -1;
        memset(page + c->at, 0, sizeof page - (size_t)c->at);
        f = fopen(b, "wb");
        int rc = f && fwrite(page, 1, sizeof page, f) == sizeof page ? 0 : -1;
        if (f) fclose(f);
        return rc;
    }
    case FLIP: {
        int fd = open(b, O_RDWR);
        unsigned char x;
        int rc = fd >= 0 && pread(fd, &x, 1, c->at) == 1 && (x ^= 0x40, pwrite(fd, &x, 1, c->at) == 1) ? 0 : -1;
        if (fd >= 0) close(fd);
        return rc;
    }
    case UNLINK_LAST: return unlink(b);
    case UNLINK_ALL: return unlink(a) || unlink(b) ? -1 : 0;
    case NONE: return 0;
    }
    return -1;
}

/* Splits the one segment of 30 records into records 1-20 and a segment 21 with 21-30. */
static int tail_split(const char *events)
{
    char a[800], b[800];
    snprintf(a, sizeof a, "%s/%020d.log", events, 1);
    snprintf(b, sizeof b, "%s/%020d.log", events, 21);
    unsigned char buf[16 + 30 * TREC];
    FILE *f = fopen(a, "rb");
    if (!f || fread(buf, 1, sizeof buf, f) != sizeof buf || fgetc(f) != EOF) { if (f) fclose(f); return -1; }
    fclose(f);
    unsigned char hdr[16];
    memcpy(hdr, "MQEVLOG1", 8);
    for (int i = 0; i < 8; i++) hdr[8 + i] = (unsigned char)(i == 0 ? 21 : 0);
    f = fopen(b, "wb");
    int rc = f && fwrite(hdr, 1, 16, f) == 16 && fwrite(buf + 16 + 20 * TREC, 1, 10 * TREC, f) == 10 * TREC ? 0 : -1;
    if (f) fclose(f);
    return rc ? rc : truncate(a, 16 + 20 * TREC);
}

static int post_seq(int port, const char *body)
{
    resp r;
    int seq = -1;
    if (post(port, KEY, body, &r) == 0 && r.status == 200) {
        const char *p = strstr(r.body, "\"first_seq\":");
        if (p) seq = atoi(p + 12);
    }
    resp_free(&r);
    return seq;
}

MQ_TEST(serve_http_tail_loss_cases)
{
    if (access("data/ml-latest-small/ratings.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small not here");
    server s;
    char pristine[600];
    snprintf(pristine, sizeof pristine, "%s/pristine", mq_test_tmpdir());
    ASSERT_INT_EQ(mq_test_sh("mkdir -p %s", pristine), 0);
    ASSERT_INT_EQ(start_server(&s, pristine, NULL), 0);
    for (int i = 0; i < 30; i++)
        ASSERT_INT_EQ(post_seq(s.port, "{\"member\":\"tail-m\",\"title\":\"2\",\"value\":60}"), i + 1);
    ASSERT_INT_EQ(count_cw_minutes(s.port, "tail-m", "2"), 30);
    stop_server(&s, SIGTERM);
    char events[700];
    snprintf(events, sizeof events, "%s/events", pristine);
    ASSERT_INT_EQ(tail_split(events), 0);
    int n_cases = (int)(sizeof tail_cases / sizeof *tail_cases);
    for (int ci = 0; ci < n_cases; ci++) {
        const tail_case *c = &tail_cases[ci];
        int k = c->keep;
        fprintf(stderr, "  case %d: %s: expect %d records\n", ci + 1, c->what, k);
        char dir[600];
        snprintf(dir, sizeof dir, "%s/case%d", mq_test_tmpdir(), ci + 1);
        ASSERT_INT_EQ(mq_test_sh("cp -a %s %s && rm -f %s/log.txt", pristine, dir, dir), 0);
        snprintf(events, sizeof events, "%s/events", dir);
        ASSERT_INT_EQ(tail_damage(events, c), 0);
        ASSERT_INT_EQ(start_server(&s, dir, NULL), 0);
        /* the store agrees with what the log still holds */
        ASSERT_INT_EQ(count_cw_minutes(s.port, "tail-m", "2"), k ? k : -1);
        /* new events get the next numbers and reach the store */
        ASSERT_INT_EQ(post_seq(s.port, "{\"member\":\"tail-m2\",\"title\":\"2\",\"value\":120}"), k + 1);
        ASSERT_INT_EQ(post_seq(s.port, "{\"member\":\"tail-m\",\"title\":\"2\",\"value\":60}"), k + 2);
        ASSERT_INT_EQ(count_cw_minutes(s.port, "tail-m2", "2"), 2);
        ASSERT_INT_EQ(count_cw_minutes(s.port, "tail-m", "2"), k + 1);
        stop_server(&s, SIGTERM);
        /* after the stop: the log holds k + 2 records without gaps, and the store applied
         * exactly them */
        seqs sc = {0};
        mq_err err;
        ASSERT_OK(mq_evlog_scan(events, seqs_fn, &sc, &err), &err);
        ASSERT_INT_EQ(sc.n, k + 2);
        ASSERT_INT_EQ(sc.first, 1);
        ASSERT_INT_EQ(sc.gaps, 0);
        char log_id[16], spec[700];
        mq_evlog_id(events, log_id);
        snprintf(spec, sizeof spec, "lmdb:%s/state", dir);
        mq_store_opts so; mq_store_opts_init(&so, sizeof so);
        so.log_id = log_id;
        mq_store *st;
        ASSERT_OK(mq_store_open(spec, &so, &st, &err), &err);
        uint64_t applied = 0;
        mq_member_state m1, m2;
        int rc = mq_store_applied_seq(st, &applied, &err);
        if (!rc) rc = mq_store_get(st, "tail-m", &m1, &err);
        if (!rc) rc = mq_store_get(st, "tail-m2", &m2, &err);
        mq_store_close(st);
        ASSERT_OK(rc, &err);
        ASSERT_INT_EQ(applied, k + 2);
        ASSERT_INT_EQ(m1.n_events, k + 1);
        ASSERT_INT_EQ(m2.n_events, 1);
        /* the loss is reported (and nothing is rebuilt when nothing was lost) */
        ASSERT_INT_EQ(mq_test_sh("grep -q 'rebuilding the member store' %s/log.txt", dir), k < 30 ? 0 : 1);
    }
}

MQ_TEST(serve_http_moved_directory_is_not_replayed_again)
{
    if (access("data/ml-latest-small/ratings.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small not here");
    server s;
    ASSERT_INT_EQ(start_server(&s, NULL, NULL), 0);
    resp r;
    ASSERT_INT_EQ(post(s.port, KEY, "{\"member\":\"mv-m\",\"title\":\"2\",\"value\":600}", &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    ASSERT_INT_EQ(count_cw_minutes(s.port, "mv-m", "2"), 10);
    stop_server(&s, SIGTERM);
    char moved[600];
    snprintf(moved, sizeof moved, "%s-moved", s.dir);
    ASSERT_INT_EQ(mq_test_sh("mv %s %s", s.dir, moved), 0);
    ASSERT_INT_EQ(start_server(&s, moved, NULL), 0);
    ASSERT_INT_EQ(count_cw_minutes(s.port, "mv-m", "2"), 10);   /* not 20: applied once */
    stop_server(&s, SIGTERM);
}

typedef struct pager {
    int port;
    atomic_int *stop;
    int ok, failed;
} pager;

static void *pager_main(void *arg)
{
    pager *p = arg;
    while (!atomic_load(p->stop)) {
        resp r;
        if (http(p->port, "GET", "/v1/members/1/homepage?rows=5&per_row=10", NULL, NULL, &r) == 0 &&
            r.status == 200)
            p->ok++;
        else
            p->failed++;
        resp_free(&r);
    }
    return NULL;
}

MQ_TEST(serve_http_model_copied_over_the_live_file)
{
    /* cp over the loaded model (in place: truncate, then write) while pages are served: no
     * crash, no failed page; a reload then loads the new file; `marquee models install`
     * replaces a model atomically and refuses a damaged one. */
    if (access("data/ml-latest-small/ratings.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small not here");
    server s;
    ASSERT_INT_EQ(start_server(&s, NULL, NULL), 0);     /* trains the shared models */
    stop_server(&s, SIGTERM);
    char models[700], extra[800];
    snprintf(models, sizeof models, "%s/mymodels", s.dir);
    ASSERT_INT_EQ(mq_test_sh("mkdir -p %s && cp %s/main.mqm %s/pop.mqm %s/trending.mqm %s/",
                             models, shared_models, shared_models, shared_models, models), 0);
    snprintf(extra, sizeof extra, "--models %s", models);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", s.dir);
    ASSERT_INT_EQ(start_server(&s, dir, extra), 0);
    atomic_int stop = 0;
    pager pg[2] = {{s.port, &stop, 0, 0}, {s.port, &stop, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, pager_main, &pg[i]);
    usleep(200000);
    /* the popularity model over the main one, in place, several times */
    for (int k = 0; k < 5; k++) {
        ASSERT_INT_EQ(mq_test_sh("cp %s/pop.mqm %s/main.mqm && cp %s/main.mqm %s/main.mqm",
                                 shared_models, models, shared_models, models), 0);
        usleep(50000);
    }
    ASSERT_INT_EQ(mq_test_sh("cp %s/pop.mqm %s/main.mqm", shared_models, models), 0);
    usleep(300000);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    ASSERT(kill(s.pid, 0) == 0);                          /* alive */
    ASSERT_INT_EQ(pg[0].failed + pg[1].failed, 0);
    ASSERT(pg[0].ok + pg[1].ok > 5);
    resp r;
    ASSERT_INT_EQ(http(s.port, "POST", "/v1/admin/reload", KEY, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT(strstr(r.body, "\"model_version\":\"pop@") != NULL);
    resp_free(&r);
    /* install: atomic (a new inode), then a reload serves it */
    struct stat before, after;
    char mainp[800];
    snprintf(mainp, sizeof mainp, "%s/main.mqm", models);
    ASSERT_INT_EQ(stat(mainp, &before), 0);
    ASSERT_INT_EQ(mq_test_sh("%s models install --as main.mqm %s/main.mqm %s > %s/inst.txt",
                             mq_test_bin(), shared_models, models, s.dir), 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q 'installed .*main.mqm (ials' %s/inst.txt", s.dir), 0);
    ASSERT_INT_EQ(stat(mainp, &after), 0);
    ASSERT(before.st_ino != after.st_ino);
    ASSERT_INT_EQ(http(s.port, "POST", "/v1/admin/reload", KEY, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT(strstr(r.body, "\"model_version\":\"ials@") != NULL);
    resp_free(&r);
    /* a damaged file is refused and the installed one stays */
    ASSERT_INT_EQ(mq_test_sh("cp %s/main.mqm %s/bad.mqm && printf 'XXXX' | dd of=%s/bad.mqm bs=1 "
                             "seek=5000 conv=notrunc 2>/dev/null", shared_models, s.dir, s.dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s models install --as main.mqm %s/bad.mqm %s 2> %s/inst.err",
                             mq_test_bin(), s.dir, models, s.dir), 1);
    ASSERT_INT_EQ(mq_test_sh("grep -q 'checksum mismatch' %s/inst.err", s.dir), 0);
    ASSERT_INT_EQ(mq_test_sh("cmp -s %s/main.mqm %s", shared_models, mainp), 0);
    ASSERT_INT_EQ(mq_test_sh("%s models install %s/main.mqm 2>/dev/null", mq_test_bin(), shared_models), 2);
    stop_server(&s, SIGTERM);
}

/* The first title of the cold-start page's Trending Now row. */
static void trending_top(int port, char *out, size_t cap)
{
    int st;
    cJSON *p = get_json(port, "/v1/members/clock-cold/homepage?rows=20&per_row=10", &st);
    const cJSON *row = p ? find_row(p, "trending") : NULL;
    out[0] = 0;
    if (row) snprintf(out, cap, "%s", cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(row, "titles"), 0), "id")->valuestring);
    cJSON_Delete(p);
}

/* Three plays (no timestamp) of title 6 (an old, rarely played title), then the top of
 * Trending Now once the 0.2 s refresh ran. */
static int three_plays_then_top(const char *extra, char *before, char *after, size_t cap)
{
    server s;
    if (start_server(&s, NULL, extra)) return -1;
    trending_top(s.port, before, cap);
    resp r;
    int rc = 0;
    for (int i = 0; i < 3 && !rc; i++) {
        char ev[128];
        snprintf(ev, sizeof ev, "{\"member\":\"clock-m%d\",\"title\":\"6\",\"value\":3000}", i);
        rc = post(s.port, KEY, ev, &r) || r.status != 200;
        resp_free(&r);
    }
    usleep(600000);
    trending_top(s.port, after, cap);
    stop_server(&s, SIGTERM);
    return rc;
}

MQ_TEST(serve_http_clock_offset_keeps_the_demo_trending)
{
    /* The demo data ends in 2018: on the wall clock its seeded Trending Now counts have
     * decayed to nothing (90-day half-life) and three plays take the row over; with --clock
     * offset the data's last event is "now" and three plays do not. */
    if (access("data/ml-latest-small/ratings.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small not here");
    char b1[64], a1[64], b2[64], a2[64];
    ASSERT_INT_EQ(three_plays_then_top("--trending-refresh 0.2", b1, a1, sizeof b1), 0);
    ASSERT_INT_EQ(three_plays_then_top("--trending-refresh 0.2 --clock offset", b2, a2, sizeof b2), 0);
    fprintf(stderr, "  wall clock: top %s -> %s; offset clock: top %s -> %s\n", b1, a1, b2, a2);
    ASSERT_STR_EQ(a1, "6");                 /* the problem, on the wall clock */
    ASSERT(b2[0] && strcmp(b2, "6") != 0);
    ASSERT_STR_EQ(a2, b2);                  /* offset: three plays do not take the row over */
    ASSERT_INT_EQ(mq_test_sh("%s serve --clock sometimes 2>/dev/null", mq_test_bin()), 2);
}

MQ_TEST(serve_http_snapshot_copied_over_the_live_file)
{
    /* The same for the dataset snapshot the server was started with (--data FILE.mqd). */
    if (access("data/ml-latest-small/ratings.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small not here");
    server s;
    ASSERT_INT_EQ(start_server(&s, NULL, NULL), 0);     /* trains the shared models */
    stop_server(&s, SIGTERM);
    ASSERT_INT_EQ(mq_test_sh("%s data import data/ml-latest-small --out %s/big.mqd 2>/dev/null && "
                             "head -2000 data/ml-latest-small/ratings.csv > %s/small.csv && "
                             "%s data import %s/small.csv --out %s/small.mqd 2>/dev/null && cp %s/big.mqd %s/live.mqd",
                             mq_test_bin(), s.dir, s.dir, mq_test_bin(), s.dir, s.dir, s.dir, s.dir), 0);
    char extra[700];
    snprintf(extra, sizeof extra, "--data %s/live.mqd", s.dir);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", s.dir);
    ASSERT_INT_EQ(start_server(&s, dir, extra), 0);
    atomic_int stop = 0;
    pager pg[2] = {{s.port, &stop, 0, 0}, {s.port, &stop, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, pager_main, &pg[i]);
    usleep(200000);
    for (int k = 0; k < 5; k++) {       /* smaller file in place, then back */
        ASSERT_INT_EQ(mq_test_sh("cp %s/small.mqd %s/live.mqd && cp %s/big.mqd %s/live.mqd", s.dir, s.dir, s.dir, s.dir), 0);
        usleep(50000);
    }
    ASSERT_INT_EQ(mq_test_sh("cp %s/small.mqd %s/live.mqd", s.dir, s.dir), 0);
    usleep(300000);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    ASSERT(kill(s.pid, 0) == 0);
    ASSERT_INT_EQ(pg[0].failed + pg[1].failed, 0);
    ASSERT(pg[0].ok + pg[1].ok > 5);
    stop_server(&s, SIGTERM);
}
