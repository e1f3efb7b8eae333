/* test_xp_live.c: the server's experiment machinery at library level: assignment equals
 * mq_xp_assign for 100k ids, the merged treatment, forcing, strict experiments-file
 * validation (file, experiment and field named), the exposure record format and log (round
 * trip, rollover, a crash of the writing process, torn tails, damage), and the event log's
 * attribution fields with backward compatibility of records written without them. */
#include "../test.h"
#include "serve/serve.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *write_tmp(const char *name, const char *text)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", mq_test_tmpdir(), name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static const char *XP =
    "{\"experiments\": ["
    " {\"name\": \"a\", \"layer\": \"L\", \"layer_range\": [0, 0.4], \"variants\": [\"A\", {\"name\": \"B\", \"treatment\": {\"model\": \"m2\", \"mmr\": 0.3}}]},"
    " {\"name\": \"b\", \"layer\": \"L\", \"layer_range\": [0.4, 1], \"coverage\": 0.6, \"variants\": ["
    "    {\"name\": \"x\", \"weight\": 0.2, \"treatment\": {\"model\": \"m3\"}}, {\"name\": \"y\", \"weight\": 0.8}]},"
    " {\"name\": \"c\", \"coverage\": 0.7, \"start\": 1000, \"end\": 2000, \"variants\": [{\"name\": \"p\", \"treatment\": {\"rows\": 4, \"per_row\": 7,"
    "    \"row_priors\": {\"trending\": 1.5, \"genre\": 0}}}, \"q\", \"r\"]}"
    "]}";

MQ_TEST(xp_live_assign_equals_mq_xp_assign)
{
    mq_err err = {0, ""};
    mq__xps x;
    ASSERT_OK(mq__xps_load(write_tmp("xp.json", XP), &x, &err), &err);
    ASSERT_INT_EQ(x.xp.n, 3);
    ASSERT_INT_EQ(x.n_models, 2);
    ASSERT_STR_EQ(x.models[0], "m2");
    char why[300];
    long in[3] = {0, 0, 0};
    for (int i = 0; i < 100000; i++) {
        char m[32];
        snprintf(m, sizeof m, "member-%d", i);
        long long now = i % 3 == 0 ? 500 : 1500;   /* c runs in [1000, 2000) */
        mq__xps_result r;
        ASSERT_INT_EQ(mq__xps_assign(&x, m, now, NULL, NULL, &r, why, sizeof why), 0);
        int k = 0;
        unsigned set = 0;
        for (int e = 0; e < 3; e++) {
            mq_xp_assignment a;
            mq_xp_assign(&x.xp.exps[e], m, now, &a);
            if (!a.in_experiment) continue;
            ASSERT(k < r.n);
            ASSERT_INT_EQ(r.p[k].exp, e);
            ASSERT_INT_EQ(r.p[k].variant, a.variant);
            ASSERT(!r.p[k].forced);
            set |= x.treat[e * MQ_XP_MAX_VARIANTS + a.variant].set;
            in[e]++;
            k++;
        }
        ASSERT_INT_EQ(r.n, k);
        ASSERT_INT_EQ(r.t.set, set);   /* the merge is the union of the keys */
        ASSERT(!(r.n > 0 && r.p[0].exp == 0 && r.p[0].variant == 1) || !strcmp(r.t.model, "m2"));
        ASSERT(!(r.n == 2 && r.p[1].exp == 2 && r.p[1].variant == 0) || (r.t.rows == 4 && r.t.row_prior[3] == 1.5 &&
                                                                         r.t.row_prior[5] == 0 && r.t.row_prior[0] == 1));
    }
    /* layer L splits 0.4 / 0.6 and b covers 60% of its share; c: 70% of 2/3 of the ids */
    ASSERT(in[0] > 38000 && in[0] < 42000);
    ASSERT(in[1] > 34000 && in[1] < 38000);
    ASSERT(in[2] > 44500 && in[2] < 48800);
    /* forcing: replaces or adds the pick, marks it */
    mq__xps_result r;
    ASSERT_INT_EQ(mq__xps_assign(&x, "member-1", 500, "c:r,a:B", NULL, &r, why, sizeof why), 0);
    ASSERT(r.forced);
    bool saw_c = false, saw_a = false;
    for (int i = 0; i < r.n; i++) {
        if (r.p[i].exp == 2) { saw_c = true; ASSERT_INT_EQ(r.p[i].variant, 2); ASSERT(r.p[i].forced); }
        if (r.p[i].exp == 0) { saw_a = true; ASSERT_INT_EQ(r.p[i].variant, 1); }
    }
    ASSERT(saw_c && saw_a);
    ASSERT_INT_EQ(mq__xps_assign(&x, "m", 0, "nope:A", NULL, &r, why, sizeof why), MQ_EINVAL);
    ASSERT(strstr(why, "no experiment 'nope'"));
    ASSERT_INT_EQ(mq__xps_assign(&x, "m", 0, "a:C", NULL, &r, why, sizeof why), MQ_EINVAL);
    ASSERT(strstr(why, "experiment 'a' has no variant 'C'"));
    ASSERT_INT_EQ(mq__xps_assign(&x, "m", 0, "a", NULL, &r, why, sizeof why), MQ_EINVAL);
    mq__xps_release(&x);
    /* no experiments: nothing assigned, forcing refused */
    ASSERT_INT_EQ(mq__xps_assign(NULL, "m", 0, NULL, NULL, &r, why, sizeof why), 0);
    ASSERT_INT_EQ(r.n, 0);
    ASSERT_INT_EQ(mq__xps_assign(NULL, "m", 0, "a:B", NULL, &r, why, sizeof why), MQ_EINVAL);
}

static void expect_error(mq_test_ctx *t_, const char *json, const char *want)
{
    mq_err err = {0, ""};
    mq__xps x;
    const char *path = write_tmp("bad.json", json);
    int rc = mq__xps_load(path, &x, &err);
    if (rc == 0) { mq__xps_release(&x); MQ_FAIL_("accepted: %s", json); }
    if (!strstr(err.msg, want) || !strstr(err.msg, "bad.json")) MQ_FAIL_("message '%s' lacks '%s'", err.msg, want);
}

MQ_TEST(xp_live_config_errors)
{
    expect_error(t_, "{\"name\": \"e\", \"variants\": [\"A\", {\"name\": \"B\", \"treatment\": {\"color\": 1}}]}",
                 "experiment 'e': field 'variants[1].treatment.color': unknown key");
    expect_error(t_, "{\"name\": \"e\", \"variants\": [\"A\", {\"name\": \"B\", \"treatment\": {\"mmr\": 1.5}}]}",
                 "field 'variants[1].treatment.mmr' must be a number in [0, 1]");
    expect_error(t_, "{\"name\": \"e\", \"variants\": [\"A\", {\"name\": \"B\", \"treatment\": {\"rows\": 2.5}}]}",
                 "field 'variants[1].treatment.rows' must be an integer in [1, 50]");
    expect_error(t_, "{\"name\": \"e\", \"variants\": [\"A\", {\"name\": \"B\", \"treatment\": {\"row_priors\": {\"hero\": 1}}}]}",
                 "unknown row kind 'hero'");
    expect_error(t_, "{\"name\": \"e\", \"variants\": [\"A\", {\"name\": \"B\", \"treatment\": {\"model\": \"../x\"}}]}",
                 "is not a model name");
    expect_error(t_, "{\"name\": \"e\", \"variants\": [\"A\", {\"name\": \"B\", \"canary\": [1, 5]}]}",
                 "field 'variants[1].canary': unknown");
    expect_error(t_, "{\"name\": \"e\", \"variants\": [\"A\", {\"name\": \"B\", \"ramp\": [1, 5, 3], \"ramp_every\": \"1h\"}]}",
                 "field 'variants[1].ramp': 3 after 5: a ramp only goes up");
    expect_error(t_, "{\"name\": \"e\", \"variants\": [\"A\", {\"name\": \"B\", \"ramp\": [1, 5]}]}",
                 "field 'variants[1].ramp_every' is missing");
    expect_error(t_, "{\"name\": \"e\", \"variants\": [\"A\", {\"name\": \"B\", \"ramp\": [1, 500], \"ramp_every\": \"1h\"}]}",
                 "field 'variants[1].ramp[1]' must be a percent in (0, 100]");
    expect_error(t_, "{\"name\": \"e\", \"variants\": [\"A\", {\"name\": \"B\", \"ramp\": [1, 50], \"ramp_every\": \"1 hour\"}]}",
                 "field 'variants[1].ramp_every' must be a duration");
    expect_error(t_, "{\"name\": \"e\", \"variants\": [{\"name\": \"A\", \"ramp\": [1, 50], \"ramp_every\": \"1h\"}, \"B\"]}",
                 "the first variant is the control");
    expect_error(t_, "{\"name\": \"e\", \"check_every\": \"0s\", \"variants\": [\"A\", \"B\"]}",
                 "field 'check_every' must be a duration");
    expect_error(t_, "{\"name\": \"e\", \"min_units\": 1, \"variants\": [\"A\", \"B\"]}",
                 "field 'min_units' must be an integer >= 2");
    expect_error(t_, "{\"name\": \"e\", \"max_error_rate\": 2, \"variants\": [\"A\", \"B\"]}",
                 "field 'max_error_rate' must be a fraction in [0, 1]");
    expect_error(t_, "{\"name\": \"e\", \"max_p99_ms\": \"fast\", \"variants\": [\"A\", \"B\"]}",
                 "field 'max_p99_ms' must be a number of milliseconds");
    expect_error(t_, "{\"name\": \"e\", \"variants\": [\"A\", \"B\"], \"weights\": [0.5, 0.4]}", "sum is 0.9, must be 1");
    expect_error(t_, "{\"experiments\": [{\"name\": \"e\", \"layer\": \"L\", \"layer_range\": [0, 0.6], \"variants\": [\"A\", \"B\"]},"
                     "{\"name\": \"f\", \"layer\": \"L\", \"layer_range\": [0.5, 1], \"variants\": [\"A\", \"B\"]}]}",
                 "overlapping 'layer_range'");
    /* two experiments that can share a member may not set the same key ... */
    expect_error(t_, "{\"experiments\": [{\"name\": \"e\", \"variants\": [\"A\", {\"name\": \"B\", \"treatment\": {\"rows\": 3}}]},"
                     "{\"name\": \"f\", \"layer\": \"L\", \"variants\": [{\"name\": \"A\", \"treatment\": {\"rows\": 4}}, \"B\"]}]}",
                 "experiments 'e' and 'f' can hold the same member (not one layer) and both set treatment key 'rows'");
    /* ... while experiments of one layer (disjoint members) may */
    mq_err err = {0, ""};
    mq__xps x;
    ASSERT_OK(mq__xps_load(write_tmp("ok.json",
                           "{\"experiments\": [{\"name\": \"e\", \"layer\": \"L\", \"variants\": [\"A\", {\"name\": \"B\", \"treatment\": {\"rows\": 3}}]},"
                           "{\"name\": \"f\", \"layer\": \"L\", \"variants\": [{\"name\": \"A\", \"treatment\": {\"rows\": 4}}, \"B\"]}]}"),
                           &x, &err), &err);
    mq__xps_release(&x);
}

static int count_fn(void *user, const mq__expo_rec *r, uint64_t seq)
{
    long *n = user;
    if ((uint64_t)*n + 1 != seq) return MQ_EINVAL;
    ++*n;
    return 0;
}

/* Encodes record i of a deterministic series (some with experiments, rows of titles). */
static int enc(int i, bool summary, mq_buf *b)
{
    char member[32], page[MQ_PAGE_ID_MAX + 1], t[40][16];
    snprintf(member, sizeof member, "mem%d", i);
    mq__xps_page_id(0xabcdefull, (uint64_t)i + 1, page);
    const char *titles[40];
    for (int k = 0; k < 40; k++) { snprintf(t[k], sizeof t[k], "t%d", (i * 7 + k) % 1000); titles[k] = t[k]; }
    const char *rid[3] = {"top_picks", "because_you_watched:42", "trending"};
    int rn[3] = {i % 11, 10, 19};
    mq__expo e = {0};
    e.time = 1700000000 + i;
    e.route = i % 3;
    e.forced = i % 5 == 0;
    e.member = member;
    e.page_id = page;
    e.model_version = "ials@20260101T000000Z";
    e.n_exp = i % 3;
    for (int k = 0; k < e.n_exp; k++) { e.exp_name[k] = k ? "e2" : "e1"; e.variant[k] = i % 2 ? "B" : "A"; e.served_default[k] = k == 1; }
    e.n_rows = 3;
    e.row_id = rid;
    e.row_n = rn;
    e.titles = titles;
    return mq__expo_encode(&e, summary, b, NULL);
}

static int check_fn(void *user, const mq__expo_rec *r, uint64_t seq)
{
    int i = (int)seq - 1;
    int *bad = user;
    char member[32];
    snprintf(member, sizeof member, "mem%d", i);
    if (r->time != 1700000000 + i || r->route != i % 3 || r->forced != (i % 5 == 0) || r->n_exp != i % 3 ||
        r->member.n != (int)strlen(member) || memcmp(r->member.p, member, strlen(member)) ||
        r->n_titles != (uint32_t)(i % 11 + 29)) { (*bad)++; return 0; }
    for (int k = 0; k < r->n_exp; k++)
        if (r->served_default[k] != (k == 1) || r->variant[k].n != 1 || r->variant[k].p[0] != (i % 2 ? 'B' : 'A')) (*bad)++;
    if (r->summary) { if (r->n_rows) (*bad)++; return 0; }
    const unsigned char *at = r->rows;
    mq__expo_str rid, tt[40];
    int nt, row = 0, pos = 0;
    while (mq__expo_rows_next(r, &at, &rid, tt, 40, &nt)) {
        for (int j = 0; j < nt; j++) {
            char want[16];
            snprintf(want, sizeof want, "t%d", (i * 7 + pos++) % 1000);
            if (tt[j].n != (int)strlen(want) || memcmp(tt[j].p, want, strlen(want))) (*bad)++;
        }
        row++;
    }
    if (row != 3 || pos != (int)r->n_titles) (*bad)++;
    return 0;
}

MQ_TEST(xp_live_exposure_log_roundtrip_rollover)
{
    const char *dir = mq_test_tmpdir();
    mq_err err = {0, ""};
    mq__exlog *l;
    mq_buf b;
    mq_buf_init(&b);
    /* small segments: many rollovers */
    ASSERT_OK(mq__exlog_open(dir, 4096, NULL, &l, &err), &err);
    for (int i = 0; i < 300; i++) {
        ASSERT_INT_EQ(enc(i, i % 4 == 3, &b), 0);
        ASSERT_OK(mq__exlog_append(l, &b, &err), &err);
    }
    mq__exlog_close(l);
    int bad = 0;
    ASSERT_OK(mq__exlog_scan(dir, check_fn, &bad, &err), &err);
    ASSERT_INT_EQ(bad, 0);
    long n = 0;
    ASSERT_OK(mq__exlog_scan(dir, count_fn, &n, &err), &err);
    ASSERT_INT_EQ(n, 300);
    ASSERT(mq_test_sh("test $(ls %s | wc -l) -gt 10", dir) == 0);
    /* reopened, it goes on at the next sequence */
    ASSERT_OK(mq__exlog_open(dir, 4096, NULL, &l, &err), &err);
    for (int i = 300; i < 320; i++) {
        ASSERT_INT_EQ(enc(i, false, &b), 0);
        ASSERT_OK(mq__exlog_append(l, &b, &err), &err);
    }
    mq__exlog_close(l);
    n = 0;
    bad = 0;
    ASSERT_OK(mq__exlog_scan(dir, count_fn, &n, &err), &err);
    ASSERT_OK(mq__exlog_scan(dir, check_fn, &bad, &err), &err);
    ASSERT_INT_EQ(n, 320);
    ASSERT_INT_EQ(bad, 0);
    mq_buf_release(&b);
}

MQ_TEST(xp_live_exposure_log_crash_and_damage)
{
    const char *dir = mq_test_tmpdir();
    mq_err err = {0, ""};
    /* a child appends 1000 records and is killed without closing: every record returned from
     * append is in the page cache */
    pid_t pid = fork();
    if (pid == 0) {
        mq__exlog *l;
        mq_buf b;
        mq_buf_init(&b);
        if (mq__exlog_open(dir, 0, NULL, &l, NULL)) _exit(3);
        for (int i = 0; i < 1000; i++)
            if (enc(i, false, &b) || mq__exlog_append(l, &b, NULL)) _exit(4);
        raise(SIGKILL);
        _exit(5);
    }
    int st;
    waitpid(pid, &st, 0);
    ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    long n = 0;
    ASSERT_OK(mq__exlog_scan(dir, count_fn, &n, &err), &err);
    ASSERT_INT_EQ(n, 1000);
    /* a torn record (half written) at the end is cut at open */
    mq__exlog *l;
    ASSERT_OK(mq__exlog_open(dir, 0, NULL, &l, &err), &err);
    mq__exlog_close(l);
    char seg[700];
    mq__seg_path(seg, sizeof seg, dir, 1);
    mq_buf b;
    mq_buf_init(&b);
    ASSERT_INT_EQ(enc(1000, false, &b), 0);
    int fd = open(seg, O_WRONLY | O_APPEND);
    ASSERT(fd >= 0);
    ASSERT(write(fd, b.p, b.len / 2) == (ssize_t)(b.len / 2));
    close(fd);
    n = 0;
    ASSERT_OK(mq__exlog_scan(dir, count_fn, &n, &err), &err);
    ASSERT_INT_EQ(n, 1000);
    ASSERT_OK(mq__exlog_open(dir, 0, NULL, &l, &err), &err);
    ASSERT_OK(mq__exlog_append(l, &b, &err), &err);
    mq__exlog_close(l);
    n = 0;
    ASSERT_OK(mq__exlog_scan(dir, count_fn, &n, &err), &err);
    ASSERT_INT_EQ(n, 1001);
    /* a flipped byte inside an early record, with records after it: damage, not a torn tail */
    fd = open(seg, O_RDWR);
    unsigned char c;
    ASSERT(pread(fd, &c, 1, 40) == 1);
    c ^= 0xff;
    ASSERT(pwrite(fd, &c, 1, 40) == 1);
    close(fd);
    ASSERT_INT_EQ(mq__exlog_scan(dir, count_fn, &n, &err), MQ_ECORRUPT);
    ASSERT(strstr(err.msg, "record 1") && strstr(err.msg, "CRC-32C"));
    ASSERT_INT_EQ(mq__exlog_open(dir, 0, NULL, &l, &err), MQ_ECORRUPT);
    mq_buf_release(&b);
}

typedef struct evs { mq_event ev[16]; int n; } evs;

static int ev_fn(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    evs *e = user;
    for (int i = 0; i < n && e->n < 16; i++) e->ev[e->n++] = ev[i];
    return 0;
}

MQ_TEST(xp_live_event_attribution_backward_compatible)
{
    const char *dir = mq_test_tmpdir();
    mq_err err = {0, ""};
    /* a segment as written before attribution existed: one hand-built old record */
    char seg[700];
    mq__seg_path(seg, sizeof seg, dir, 1);
    unsigned char rec[64];
    mq__seg_header(rec, "MQEVLOG1", 1);
    FILE *f = fopen(seg, "wb");
    fwrite(rec, 1, 16, f);
    unsigned char *q = rec + MQ__SEG_REC_HDR;
    mq__put_u64(q, 1234);
    float v = 42;
    uint32_t fv;
    memcpy(&fv, &v, 4);
    mq__put_u32(q + 8, fv);
    q[12] = MQ_EV_PLAY;
    q[13] = 2;
    q[14] = 3;
    memcpy(q + 15, "m1t10", 5);
    size_t n = mq__seg_frame(rec, 20);
    fwrite(rec, 1, n, f);
    fclose(f);
    mq_evlog *l;
    ASSERT_OK(mq_evlog_open(dir, NULL, &l, &err), &err);
    mq_event e[3];
    memset(e, 0, sizeof e);
    for (int i = 0; i < 3; i++) {
        snprintf(e[i].member, sizeof e[i].member, "m%d", i);
        snprintf(e[i].title, sizeof e[i].title, "t%d", i);
        e[i].time = 2000 + i;
        e[i].value = 1;
    }
    snprintf(e[0].page_id, sizeof e[0].page_id, "0123456789abcdef-0000000000000001");
    snprintf(e[0].row, sizeof e[0].row, "because_you_watched:%0200d", 7);
    e[0].has_position = true;
    e[0].position = 0;
    snprintf(e[0].event_id, sizeof e[0].event_id, "client-1");
    e[1].has_position = true;
    e[1].position = 17;
    ASSERT_OK(mq_evlog_append(l, e, 3, NULL, &err), &err);
    mq_event bad = e[2];
    bad.position = -1;
    bad.has_position = true;
    ASSERT_INT_EQ(mq_evlog_append(l, &bad, 1, NULL, &err), MQ_EINVAL);
    mq_evlog_close(l);
    evs got = {.n = 0};
    ASSERT_OK(mq_evlog_scan(dir, ev_fn, &got, &err), &err);
    ASSERT_INT_EQ(got.n, 4);
    ASSERT_STR_EQ(got.ev[0].member, "m1");
    ASSERT_STR_EQ(got.ev[0].title, "t10");
    ASSERT_INT_EQ(got.ev[0].time, 1234);
    ASSERT(got.ev[0].value == 42 && !got.ev[0].page_id[0] && !got.ev[0].has_position);
    ASSERT_STR_EQ(got.ev[1].page_id, e[0].page_id);
    ASSERT_STR_EQ(got.ev[1].row, e[0].row);
    ASSERT_STR_EQ(got.ev[1].event_id, "client-1");
    ASSERT(got.ev[1].has_position && got.ev[1].position == 0);
    ASSERT(!got.ev[2].page_id[0] && got.ev[2].has_position && got.ev[2].position == 17 && !got.ev[2].event_id[0]);
    ASSERT(!got.ev[3].has_position && !got.ev[3].row[0]);
}

MQ_TEST(xp_live_ramp_monotone_hash_consistent)
{
    mq_err err = {0, ""};
    mq__xps x;
    ASSERT_OK(mq__xps_load(write_tmp("r.json",
              "{\"name\": \"e\", \"variants\": [\"A\", {\"name\": \"B\", \"ramp\": [1, 5, 20, 50, 100], \"ramp_every\": {\"units\": 10}}]}"),
              &x, &err), &err);
    ASSERT_INT_EQ(mq__xps_duration("90s"), 90);
    ASSERT_INT_EQ(mq__xps_duration("5m"), 300);
    ASSERT_INT_EQ(mq__xps_duration("1.5h"), 5400);
    ASSERT_INT_EQ(mq__xps_duration("2d"), 172800);
    ASSERT_INT_EQ(mq__xps_duration("2w"), -1);
    _Atomic int served[MQ_XP_MAX_VARIANTS];
    for (int v = 0; v < MQ_XP_MAX_VARIANTS; v++) atomic_init(&served[v], 1000);
    char why[200];
    static bool in_prev[20000];
    long prev = 0;
    for (int step = 0; step < 5; step++) {
        atomic_store(&served[1], mq__xps_ramp_permille(&x.ramp[1], step));
        long in = 0, dflt = 0, in_b = 0;
        for (int i = 0; i < 20000; i++) {
            char m[32];
            snprintf(m, sizeof m, "r%d", i);
            mq__xps_result r;
            ASSERT_INT_EQ(mq__xps_assign(&x, m, 0, NULL, served, &r, why, sizeof why), 0);
            ASSERT_INT_EQ(r.n, 1);
            if (r.p[0].variant != 1) { ASSERT(!r.p[0].served_default); continue; }
            in_b++;
            bool served_b = !r.p[0].served_default;
            /* monotone: whoever was served B at a smaller share still is */
            if (in_prev[i]) ASSERT(served_b);
            in_prev[i] = served_b;
            in += served_b;
            dflt += !served_b;
        }
        double share = (double)in / (double)in_b, want = x.ramp[1].pct[step] / 100;
        /* 1000 hash buckets, 500 in B: the share is a whole number of buckets, within a few
         * sd of the binomial noise of 10,000 members */
        ASSERT_NEAR(share, want, 4 * sqrt(want * (1 - want) / in_b) + 0.004);
        ASSERT(in >= prev);
        prev = in;
        ASSERT_INT_EQ(in + dflt, in_b);
    }
    /* a stopped variant (0 permille): all of B's members get the default */
    atomic_store(&served[1], mq__xps_ramp_permille(&x.ramp[1], -1));
    mq__xps_result r;
    for (int i = 0; i < 200; i++) {
        char m[32];
        snprintf(m, sizeof m, "r%d", i);
        mq__xps_assign(&x, m, 0, NULL, served, &r, why, sizeof why);
        ASSERT(r.p[0].variant != 1 || (r.p[0].served_default && r.t.set == 0));
    }
    mq__xps_release(&x);
}

/* Exponential unit metric (heavy-ish tail like watch time), mean mu. */
static double draw_exp(mq_rng *g, double mu) { return -mu * log(1 - mq_rng_uniform(g)); }

/* One simulated canary: checks every 'per' new units per arm up to 'checks' checks; returns
 * the check at which the guardrail stopped it (1-based) or 0. */
static int simulate(unsigned long long seed, double ratio, int per, int checks, int min_units)
{
    mq_rng g;
    mq_rng_seed(&g, seed);
    double sa = 0, sa2 = 0, sb = 0, sb2 = 0, n = 0, tau2 = 0, p = 1;
    for (int c = 1; c <= checks; c++) {
        for (int i = 0; i < per; i++) {
            double a = draw_exp(&g, 100), b = draw_exp(&g, 100 * ratio);
            sa += a; sa2 += a * a; sb += b; sb2 += b * b; n += 1;
        }
        if (n < min_units) continue;
        mq_xp_arm A = {n, sa / n, (sa2 - sa * sa / n) / (n - 1)}, B = {n, sb / n, (sb2 - sb * sb / n) / (n - 1)};
        if (mq__xpg_test(&A, &B, 0.05, true, true, 0.05, &tau2, &p, NULL)) return c;
    }
    return 0;
}

MQ_TEST(xp_live_guardrail_aa_false_stops_and_harmful_stopped)
{
    /* A/A with a 5% allowed degradation, looked at every check: 400 canaries x 200 checks of
     * 50 new units per arm. The mSPRT p is always valid at the boundary, and A/A sits inside
     * H0 (5% away from it), so the false stop rate must stay under alpha = 5%. */
    int stops = 0;
    for (int r = 0; r < 400; r++) stops += simulate(1000 + (unsigned long long)r, 1.0, 50, 200, 100) > 0;
    ASSERT(stops <= 20);
    /* the same even at the boundary itself (B exactly 5% worse: the worst case of H0) */
    int edge = 0;
    for (int r = 0; r < 400; r++) edge += simulate(5000 + (unsigned long long)r, 0.95, 50, 200, 100) > 0;
    ASSERT(edge <= 20);
    /* a harmful variant (30% less watch time): stopped within a few checks of 100 units per
     * arm, in every one of 200 runs, at the latest by the 8th */
    int worst = 0;
    long sum = 0;
    for (int r = 0; r < 200; r++) {
        int c = simulate(9000 + (unsigned long long)r, 0.7, 100, 50, 100);
        ASSERT(c > 0);
        worst = MQ_MAX(worst, c);
        sum += c;
    }
    ASSERT(worst <= 10);
    fprintf(stderr, "  A/A false stops %d/400, at the boundary %d/400; harmful stopped at check %.2f on average, %d at worst\n",
            stops, edge, sum / 200.0, worst);
}

MQ_TEST(xp_live_health_guardrails_stop_and_persist)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s", mq_test_tmpdir());
    mq_err err = {0, ""};
    mq__xps x;
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/h.json", dir);
    FILE *f = fopen(cfg, "w");
    fputs("{\"experiments\": [{\"name\": \"lat\", \"check_every\": \"1s\", \"min_units\": 10, \"max_p99_ms\": 5,"
          " \"variants\": [\"A\", \"B\"]}, {\"name\": \"err\", \"layer\": \"x\", \"check_every\": \"1s\", \"min_units\": 10,"
          " \"max_error_rate\": 0.1, \"variants\": [\"A\", \"B\", \"C\"]}]}", f);
    fclose(f);
    ASSERT_OK(mq__xps_load(cfg, &x, &err), &err);
    ASSERT(x.live[0].max_p99_ms == 5 && x.live[0].max_error_rate < 0 && x.live[1].max_error_rate == 0.1);
    /* the logs (empty) and the state */
    char ev[700], ex[700];
    snprintf(ev, sizeof ev, "%s/events", dir);
    snprintf(ex, sizeof ex, "%s/exposures", dir);
    mq_evlog *el;
    ASSERT_OK(mq_evlog_open(ev, NULL, &el, &err), &err);
    mq_evlog_close(el);
    mq__exlog *xl;
    ASSERT_OK(mq__exlog_open(ex, 0, NULL, &xl, &err), &err);
    mq__xpg *g;
    ASSERT_OK(mq__xpg_open(ex, NULL, &g, &err), &err);
    static mq__xpv vs[2 * MQ_XP_MAX_VARIANTS];
    static _Atomic int served[2 * MQ_XP_MAX_VARIANTS];
    mq__xpg_served(g, &x, 100, served);
    ASSERT_INT_EQ(atomic_load(&served[1]), 1000);
    /* lat/B: 100 pages, 2 of them slow (p99 above 5 ms); lat/A is the control: never stopped */
    for (int i = 0; i < 100; i++) {
        mq__xpv_add(&vs[1], i < 2 ? 0.050 : 0.001, false);
        mq__xpv_add(&vs[0], 0.100, false);
    }
    ASSERT(mq__xpv_p99_ms(&vs[1]) > 5 && mq__xpv_p99_ms(&vs[1]) < 60);
    /* err/B: 5% failed builds (under 10%), err/C: 20% */
    for (int i = 0; i < 100; i++) {
        mq__xpv_add(&vs[MQ_XP_MAX_VARIANTS + 1], 0.001, i % 20 == 0);
        mq__xpv_add(&vs[MQ_XP_MAX_VARIANTS + 2], 0.001, i % 5 == 0);
    }
    ASSERT_OK(mq__xpg_check(g, &x, NULL, 100, served, vs, xl, &err), &err);
    ASSERT_INT_EQ(atomic_load(&served[0]), 1000);
    ASSERT_INT_EQ(atomic_load(&served[1]), 0);
    ASSERT_INT_EQ(atomic_load(&served[MQ_XP_MAX_VARIANTS + 1]), 1000);
    ASSERT_INT_EQ(atomic_load(&served[MQ_XP_MAX_VARIANTS + 2]), 0);
    char buf[700];
    const char *reason;
    ASSERT_STR_EQ(mq__xpg_state(g, &x, 0, &reason, buf, sizeof buf), "stopped");
    ASSERT(strstr(reason, "p99"));
    ASSERT_STR_EQ(mq__xpg_state(g, &x, 1, &reason, buf, sizeof buf), "running");
    ASSERT(strstr(reason, "error rate 0.2"));
    mq_buf m;
    mq_buf_init(&m);
    mq__xpg_metrics(g, &m);
    ASSERT(strstr(mq_buf_cstr(&m), "marquee_xp_rollbacks_total{experiment=\"lat\",variant=\"B\"} 1"));
    ASSERT(strstr(mq_buf_cstr(&m), "marquee_xp_rollbacks_total{experiment=\"err\",variant=\"C\"} 1"));
    mq_buf_release(&m);
    mq__xpg_close(g);
    mq__exlog_close(xl);
    /* persisted: a new state object serves 0 for the stopped variants */
    ASSERT_OK(mq__xpg_open(ex, NULL, &g, &err), &err);
    static _Atomic int served2[2 * MQ_XP_MAX_VARIANTS];
    mq__xpg_served(g, &x, 200, served2);
    ASSERT_INT_EQ(atomic_load(&served2[1]), 0);
    ASSERT_INT_EQ(atomic_load(&served2[MQ_XP_MAX_VARIANTS + 2]), 0);
    ASSERT_INT_EQ(atomic_load(&served2[MQ_XP_MAX_VARIANTS + 1]), 1000);
    mq__xpg_close(g);
    mq__xps_release(&x);
}

MQ_TEST(xp_live_drift_reference_and_psi)
{
    /* PSI against equal shares, by hand: counts 20,10x8,0 of 100 -> a = 0.2, 0.1 x 8, 1e-4 */
    unsigned long long c[MQ_MODEL_SCORE_BINS] = {20, 10, 10, 10, 10, 10, 10, 10, 10, 0};
    double want = (0.2 - 0.1) * log(2.0) + (1e-4 - 0.1) * log(1e-4 / 0.1);
    ASSERT_NEAR(mq_model_psi(c), want, 1e-12);
    unsigned long long flat[MQ_MODEL_SCORE_BINS] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
    ASSERT_NEAR(mq_model_psi(flat), 0, 1e-15);
    unsigned long long none[MQ_MODEL_SCORE_BINS] = {0};
    ASSERT(isnan(mq_model_psi(none)));
    /* a model trained on the demo data carries the deciles of its members' best-100 scores;
     * scoring training members again reproduces them (PSI near 0), a shifted scale does not */
    mq_err err = {0, ""};
    mq_dataset *d = NULL, *pos = NULL;
    mq_load_opts lo; mq_load_opts_init(&lo, sizeof lo);
    ASSERT_OK(mq_data_open("data/ml-latest-small", &lo, &d, &err), &err);
    ASSERT_OK(mq_dataset_binarize(d, 4.0f, 1, &pos, &err), &err);
    const char *params[] = {"factors=8", "epochs=3"};
    mq_train_opts to; mq_train_opts_init(&to, sizeof to);
    to.params = params; to.n_params = 2; to.seed = 42;
    mq_model *m = NULL;
    ASSERT_OK(mq_model_train("ials", pos, &to, &m, &err), &err);
    float edges[MQ_MODEL_SCORE_BINS - 1];
    ASSERT_INT_EQ(mq_model_score_ref(m, edges), 0);
    for (int k = 1; k < MQ_MODEL_SCORE_BINS - 1; k++) ASSERT(edges[k] >= edges[k - 1]);
    int32_t nt = mq_model_n_titles(m);
    float *sc = malloc((size_t)nt * sizeof *sc);
    unsigned long long same[MQ_MODEL_SCORE_BINS] = {0}, shifted[MQ_MODEL_SCORE_BINS] = {0};
    for (int32_t u = 0; u < pos->n_members; u++) {
        int64_t lo2 = pos->m_ptr[u], hi = pos->m_ptr[u + 1];
        if (hi == lo2) continue;
        ASSERT_OK(mq_model_score(m, pos->m_idx + lo2, NULL, (int)(hi - lo2), sc, &err), &err);
        for (int64_t k = lo2; k < hi; k++) sc[pos->m_idx[k]] = NAN;
        ASSERT_INT_EQ(mq_model_score_bin_top(edges, sc, nt, same), 100);
        for (int32_t t = 0; t < nt; t++) sc[t] *= 0.7f;
        mq_model_score_bin_top(edges, sc, nt, shifted);
    }
    free(sc);
    /* the reference used 500 of these members: all of them match it closely */
    ASSERT(mq_model_psi(same) < 0.02);
    ASSERT(mq_model_psi(shifted) > 0.25);
    fprintf(stderr, "  PSI: training members %.4f, scores x 0.7 %.3f\n", mq_model_psi(same), mq_model_psi(shifted));
    /* saved and loaded, the deciles stay; pop of the same data has its own */
    char path[600];
    snprintf(path, sizeof path, "%s/m.mqm", mq_test_tmpdir());
    ASSERT_OK(mq_model_save(m, path, &err), &err);
    mq_model *m2 = NULL;
    ASSERT_OK(mq_model_load(path, &m2, &err), &err);
    float e2[MQ_MODEL_SCORE_BINS - 1];
    ASSERT_INT_EQ(mq_model_score_ref(m2, e2), 0);
    ASSERT(!memcmp(e2, edges, sizeof e2));
    mq_model_destroy(m2);
    mq_model_destroy(m);
    mq_dataset_destroy(pos);
    mq_dataset_destroy(d);
}
