/* test_abr.c: the ABR module.  The simulator against chunks computed by hand on a tiny trace
 * (download across samples, an outage, wrap-around, RTT, rebuffer, 500 ms sleeps); QoE
 * definitions on small cases; the pruned MPC search against plain enumeration; the Pensieve
 * reference means (BB 30.04 / 15.68, robustMPC 41.19 on the 142 test / 127 mixed traces) and,
 * trace by trace, against an independent numpy implementation (tests/ref/abr_ref.py); option
 * semantics (seeded noise / random start, startup threshold); malformed files naming
 * file:line; the command's JSON and CSV outputs and exit codes. */
#include "../test.h"
#include "abr/abr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* A 2-level video, ladder 1000/2000 kbit/s, 3 chunks of 4 s. */
static int tiny_video(mq_abr_video *v, mq_err *err)
{
    static const double ladder[2] = {1000, 2000};
    static const double sizes[6] = {1200000, 300000, 100000, 2400000, 600000, 200000};
    return mq_abr_video_init(v, ladder, 2, 3, 3, 4.0, sizes, err);
}

MQ_TEST(abr_sim_hand_computed_chunks)
{
    /* Trace: samples at t = 0,1,2,3 s with 0, 8, 0, 4 Mbit/s: sample 1 delivers 1e6 B/s, sample
     * 2 is an outage, sample 3 delivers 5e5 B/s; payload is 95% of it. */
    const char *text = "0.0\t0.0\n1.0\t8.0\n2.0\t0.0\n3.0\t4.0\n";
    mq_err err = {0};
    mq_abr_trace t;
    ASSERT_OK(mq_abr_trace_parse(&t, "tiny", text, strlen(text), &err), &err);
    mq_abr_video v;
    ASSERT_OK(tiny_video(&v, &err), &err);
    mq_abr_qoe q;
    ASSERT_OK(mq_abr_qoe_init(&q, MQ_ABR_QOE_LIN, &v, &err), &err);
    mq_abr_opts o;
    mq_abr_opts_init(&o, sizeof o);
    o.start_level = 0;
    o.buffer_cap_s = 6; /* small cap so that sleeps happen */
    mq_abr_session s;
    mq_abr_chunk ch[3];
    ASSERT_OK(mq_abr_run(&t, 1, &v, "bb", &o, &q, &s, ch, &err), &err);

    /* Chunk 0 (1.2e6 B): sample 1 whole (0.95e6 B, 1 s), sample 2 (0 B, 1 s), then 2.5e5 B of
     * sample 3 at 5e5 * 0.95 B/s; + 80 ms RTT; the buffer is empty so all of it is stall. */
    double d0 = 1000 * (2 + 250000.0 / 500000 / 0.95) + 80;
    ASSERT_NEAR(ch[0].delay_ms, d0, 1e-9);
    ASSERT_NEAR(ch[0].rebuf_s, d0 / 1000, 1e-12);
    ASSERT_NEAR(ch[0].buffer_s, 4.0, 1e-12);
    ASSERT_NEAR(ch[0].sleep_ms, 0, 0);
    /* BB: buffer 4 s < reservoir 5 s -> level 0.  Chunk 1 (3e5 B): the rest of sample 3
     * (1 - 0.5263 s, 2.25e5 B), wrap to sample 1 with last time 0, then 7.5e4 B at 0.95e6 B/s. */
    double rest = 1 - 250000.0 / 500000 / 0.95;
    double d1 = 1000 * (rest + 75000.0 / 1000000 / 0.95) + 80;
    ASSERT_INT_EQ(ch[1].level, 0);
    ASSERT_NEAR(ch[1].delay_ms, d1, 1e-9);
    ASSERT_NEAR(ch[1].rebuf_s, 0, 0);
    /* Buffer 4000 - d1 + 4000 ms exceeds the 6000 ms cap by 1367 ms -> sleep 3 x 500 ms. */
    ASSERT_NEAR(ch[1].sleep_ms, 1500, 0);
    ASSERT_NEAR(ch[1].buffer_s, (8000 - d1 - 1500) / 1000, 1e-12);
    /* The sleep consumed the rest of sample 1 (0.921 s) and 0.579 s of the outage, so chunk 2
     * (1e5 B) first waits out the outage (0.421 s) then takes 1e5 / (5e5 * 0.95) s. */
    double used = 1 - 75000.0 / 1000000 / 0.95;
    double d2 = 1000 * ((1 - (1.5 - used)) + 100000.0 / 500000 / 0.95) + 80;
    ASSERT_INT_EQ(ch[2].level, 0);
    ASSERT_NEAR(ch[2].delay_ms, d2, 1e-9);
    double b2 = (8000 - d1 - 1500) - d2 + 4000;
    double sl2 = ceil((b2 - 6000) / 500) * 500;
    ASSERT_NEAR(ch[2].sleep_ms, sl2, 0);
    ASSERT_NEAR(ch[2].buffer_s, (b2 - sl2) / 1000, 1e-12);
    /* QoE_lin: chunk 0 = 1 - 4.3 * stall; chunks 1, 2 = 1 each (no switch); reported = 2. */
    ASSERT_NEAR(ch[0].qoe, 1 - 4.3 * d0 / 1000, 1e-12);
    ASSERT_NEAR(s.qoe, 2.0, 1e-12);
    ASSERT_NEAR(s.startup_s, d0 / 1000, 1e-12);
    ASSERT_NEAR(s.bitrate_kbps, 1000, 0);
    ASSERT_INT_EQ(s.switches, 0);

    /* Startup threshold 8 s: chunks 0 and 1 are prebuffered (no stall, no drain); playback
     * starts with 8 s buffered, the startup delay is d0 + d1. */
    o.buffer_cap_s = 60;
    o.startup_threshold_s = 8;
    ASSERT_OK(mq_abr_run(&t, 1, &v, "bb", &o, &q, &s, ch, &err), &err);
    ASSERT_NEAR(ch[0].rebuf_s + ch[1].rebuf_s, 0, 0);
    ASSERT_NEAR(ch[1].buffer_s, 8.0, 1e-12);
    ASSERT_NEAR(s.startup_s, (ch[0].delay_ms + ch[1].delay_ms) / 1000, 1e-12);
    mq_abr_video_release(&v);
    mq_abr_trace_release(&t);
}

MQ_TEST(abr_qoe_definitions)
{
    mq_err err = {0};
    mq_abr_video v;
    double sizes[6 * 2];
    for (int i = 0; i < 12; i++) sizes[i] = 1000 + i;
    ASSERT_OK(mq_abr_video_init(&v, mq_abr_pensieve_ladder_kbps, 6, 2, 2, 4, sizes, &err), &err);
    mq_abr_qoe q;
    /* lin: q = Mbit/s, mu 4.3: level 5 after level 1 with 0.5 s stall: 4.3 - 2.15 - 3.55. */
    ASSERT_OK(mq_abr_qoe_init(&q, MQ_ABR_QOE_LIN, &v, &err), &err);
    ASSERT_NEAR(mq_abr_qoe_chunk(&q, 5, 1, 0.5), 4.3 - 2.15 - 3.55, 1e-12);
    ASSERT_NEAR(mq_abr_qoe_q(&q, 0), 0.3, 1e-15);
    /* log: q = ln(R/300), mu 2.66. */
    ASSERT_OK(mq_abr_qoe_init(&q, MQ_ABR_QOE_LOG, &v, &err), &err);
    ASSERT_NEAR(mq_abr_qoe_chunk(&q, 5, 1, 0.5), log(4300.0 / 300) - 1.33 - log(4300.0 / 750), 1e-12);
    ASSERT_NEAR(mq_abr_qoe_q(&q, 0), 0, 0);
    /* hd: {1,2,3,12,15,20}, mu 8: level 3 after 4 with 1 s stall: 12 - 8 - 3. */
    ASSERT_OK(mq_abr_qoe_init(&q, MQ_ABR_QOE_HD, &v, &err), &err);
    ASSERT_NEAR(mq_abr_qoe_chunk(&q, 3, 4, 1.0), 1.0, 1e-12);
    mq_abr_qoe_kind k;
    ASSERT_OK(mq_abr_qoe_parse("log", &k, &err), &err);
    ASSERT_INT_EQ(k, MQ_ABR_QOE_LOG);
    ASSERT(mq_abr_qoe_parse("linear", &k, &err) == MQ_EINVAL);
    mq_abr_video_release(&v);
    /* hd needs the Pensieve ladder. */
    ASSERT_OK(tiny_video(&v, &err), &err);
    ASSERT(mq_abr_qoe_init(&q, MQ_ABR_QOE_HD, &v, &err) == MQ_EINVAL);
    mq_abr_video_release(&v);
}

MQ_TEST(abr_mpc_pruned_search_equals_enumeration)
{
    /* Random instances (including ties from equal sizes and zero-size chunks past the table)
     * for every QoE: the pruned DFS must return exactly the naive enumeration's choice and
     * never evaluate more prefixes (beyond its L*h incumbent steps). */
    mq_err err = {0};
    mq_rng r;
    mq_rng_seed(&r, 7);
    double sizes[6 * 8];
    for (int trial = 0; trial < 3000; trial++) {
        for (int i = 0; i < 48; i++)
            sizes[i] = trial % 5 == 0 ? 1e5 * (1 + i / 8) : 5e4 + mq_rng_uniform(&r) * 3e6 * (1 + i / 8);
        mq_abr_video v;
        ASSERT_OK(mq_abr_video_init(&v, mq_abr_pensieve_ladder_kbps, 6, 8, 8, 4, sizes, &err), &err);
        mq_abr_qoe q;
        ASSERT_OK(mq_abr_qoe_init(&q, (mq_abr_qoe_kind)(trial % 3), &v, &err), &err);
        int h = 1 + (int)mq_rng_below(&r, 5), idx[5];
        for (int k = 0; k < h; k++) idx[k] = 3 + k + (trial % 2); /* may run past the 8 sizes */
        double buf = mq_rng_uniform(&r) * 30, bw = 0.02 + mq_rng_uniform(&r) * 1.5;
        int last = (int)mq_rng_below(&r, 6);
        long long e1 = 0, e2 = 0;
        double tk = trial % 3 == 1 ? mq_rng_uniform(&r) * 3 : 0, tb = mq_rng_uniform(&r) * 25;
        int a = mq__abr_mpc_search_ex(&v, &q, idx, h, buf, last, bw, tk, tb, &e1);
        int b = mq__abr_mpc_search_naive(&v, &q, idx, h, buf, last, bw, tk, tb, &e2);
        if (a != b) fprintf(stderr, "  trial %d: pruned %d, naive %d\n", trial, a, b);
        ASSERT_INT_EQ(a, b);
        ASSERT(e1 <= e2 + 6 * h); /* + the constant-sequence incumbents */
        mq_abr_video_release(&v);
    }
}

/* Loads the Pensieve data, or returns 0 (the caller skips). */
static int load_pensieve(const char *set, mq_abr_trace **t, int *n, mq_abr_video *v, mq_err *err)
{
    char rel[128], tdir[1024], vdir[1024];
    snprintf(rel, sizeof rel, "abr-traces/%s", set);
    const char *p = mq_test_shared(rel);
    if (!p) return 0;
    snprintf(tdir, sizeof tdir, "%s", p);
    p = mq_test_shared("abr-traces/video_sizes/video_size_0");
    if (!p) return 0;
    snprintf(vdir, sizeof vdir, "%s", p);
    *strrchr(vdir, '/') = 0;
    if (mq_abr_traces_load_dir(tdir, t, n, err)) return -1;
    if (mq_abr_video_load(v, vdir, NULL, 0, 0, 0, err)) return -1;
    return 1;
}

static double mean_qoe(const mq_abr_trace *t, int n, const mq_abr_video *v, const char *algo,
                       mq_err *err, int *rc)
{
    mq_abr_qoe q;
    mq_abr_opts o;
    mq_abr_opts_init(&o, sizeof o);
    mq_abr_session *s = calloc((size_t)n, sizeof *s);
    *rc = s ? mq_abr_qoe_init(&q, MQ_ABR_QOE_LIN, v, err) : MQ_ENOMEM;
    if (!*rc) *rc = mq_abr_run(t, n, v, algo, &o, &q, s, NULL, err);
    double m = 0;
    for (int i = 0; i < n && !*rc; i++) m += s[i].qoe;
    free(s);
    return m / n;
}

MQ_TEST(abr_pensieve_reference_means)
{
    /* The published figures are printed to two decimals: agree to +-0.005. */
    mq_err err = {0};
    const char *sets[2] = {"test_cooked_traces", "train_cooked_traces"};
    const double bb_ref[2] = {30.04, 15.68}, rmpc_ref[2] = {41.19, 24.91};
    const int n_ref[2] = {142, 127};
    for (int k = 0; k < 2; k++) {
        mq_abr_trace *t = NULL;
        int n = 0, rc;
        mq_abr_video v = {0};
        int got = load_pensieve(sets[k], &t, &n, &v, &err);
        if (got == 0) MQ_SKIP("../shared/data/abr-traces not present: Pensieve reference not checked");
        ASSERT_OK(got < 0 ? -1 : 0, &err);
        ASSERT_INT_EQ(n, n_ref[k]);
        double bb = mean_qoe(t, n, &v, "bb", &err, &rc);
        ASSERT_OK(rc, &err);
        ASSERT_NEAR(bb, bb_ref[k], 0.005);
        double rm = mean_qoe(t, n, &v, "robustmpc", &err, &rc);
        ASSERT_OK(rc, &err);
        if (k == 0) {
            ASSERT_NEAR(rm, rmpc_ref[k], 0.005);
        } else {
            /* Mixed set: the published robustMPC carries its error history from one trace to
             * the next, so its mean depends on the order traces are played (24.36 .. 26.88
             * over 200 random orders).  Sorted order gives 26.39, not the 24.91 quoted in
             * REFERENCES.md (docs/abr.md explains); pinned here as a regression value. */
            ASSERT_NEAR(rm, 26.3903, 0.0005);
        }
        mq_abr_traces_free(t, n);
        mq_abr_video_release(&v);
    }
}

MQ_TEST(abr_per_trace_against_numpy_reference)
{
    const char *p = mq_test_shared("abr-traces/test_cooked_traces");
    if (!p) MQ_SKIP("../shared/data/abr-traces not present: per-trace reference not checked");
    char tdir[1024];
    snprintf(tdir, sizeof tdir, "%s", p);
    char vdir[1024];
    snprintf(vdir, sizeof vdir, "%s", tdir);
    *strrchr(vdir, '/') = 0;
    strcat(vdir, "/video_sizes");
    const char *tmp = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("%s abr --traces %s --video %s --algo bb,robustmpc --sessions-csv %s/s.csv > /dev/null",
                             mq_test_bin(), tdir, vdir, tmp), 0);
    /* All 142 traces for both algorithms (robustMPC's history runs through all of them). */
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/abr_ref.py %s %s %s/s.csv", tdir, vdir, tmp), 0);
    /* The 127 mixed traces (FCC traces are long and fast: sleeps at the 60 s cap matter). */
    char mdir[1100];
    snprintf(mdir, sizeof mdir, "%s", tdir);
    *strrchr(mdir, '/') = 0;
    strcat(mdir, "/train_cooked_traces");
    ASSERT_INT_EQ(mq_test_sh("%s abr --traces %s --video %s --algo bb,robustmpc --sessions-csv %s/m.csv > /dev/null",
                             mq_test_bin(), mdir, vdir, tmp), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/abr_ref.py %s %s %s/m.csv", mdir, vdir, tmp), 0);
}

MQ_TEST(abr_options_seeded_and_paired)
{
    mq_err err = {0};
    mq_abr_trace *t = NULL;
    int n = 0;
    mq_abr_video v = {0};
    int got = load_pensieve("test_cooked_traces", &t, &n, &v, &err);
    if (got == 0) MQ_SKIP("../shared/data/abr-traces not present");
    ASSERT_OK(got < 0 ? -1 : 0, &err);
    mq_abr_qoe q;
    ASSERT_OK(mq_abr_qoe_init(&q, MQ_ABR_QOE_LIN, &v, &err), &err);
    mq_abr_opts o;
    mq_abr_opts_init(&o, sizeof o);
    o.random_start = 1;
    o.noise_lo = 0.9;
    o.noise_hi = 1.1;
    int m = 20;
    mq_abr_session a[20], b[20], c[20];
    ASSERT_OK(mq_abr_run(t, m, &v, "bb", &o, &q, a, NULL, &err), &err);
    ASSERT_OK(mq_abr_run(t, m, &v, "bb", &o, &q, b, NULL, &err), &err);
    for (int i = 0; i < m; i++) ASSERT(a[i].qoe == b[i].qoe);
    o.seed = 43;
    ASSERT_OK(mq_abr_run(t, m, &v, "bb", &o, &q, c, NULL, &err), &err);
    int differ = 0;
    for (int i = 0; i < m; i++) differ += a[i].qoe != c[i].qoe;
    ASSERT(differ > m / 2);
    /* The network a trace gets does not depend on the algorithm's choices: with a fixed
     * algorithm the chunk-0 download (made before any decision) is identical across algorithms. */
    mq_abr_chunk *c1 = calloc((size_t)m * 48, sizeof *c1), *c2 = calloc((size_t)m * 48, sizeof *c2);
    ASSERT(c1 && c2);
    ASSERT_OK(mq_abr_run(t, m, &v, "bb", &o, &q, a, c1, &err), &err);
    ASSERT_OK(mq_abr_run(t, m, &v, "rb", &o, &q, b, c2, &err), &err);
    for (int i = 0; i < m; i++) ASSERT(c1[(size_t)i * 48].delay_ms == c2[(size_t)i * 48].delay_ms);
    free(c1);
    free(c2);
    /* Bad options are refused, naming the field. */
    o.noise_lo = 1.2;
    ASSERT(mq_abr_run(t, m, &v, "bb", &o, &q, a, NULL, &err) == MQ_EINVAL);
    ASSERT(strstr(err.msg, "noise"));
    mq_abr_opts_init(&o, sizeof o);
    ASSERT(mq_abr_run(t, m, &v, "nosuch", &o, &q, a, NULL, &err) == MQ_ENOTFOUND);
    mq_abr_traces_free(t, n);
    mq_abr_video_release(&v);
}

MQ_TEST(abr_malformed_files_name_file_and_line)
{
    mq_err err = {0};
    mq_abr_trace t;
    struct {
        const char *text, *want;
    } bad[] = {
        {"", "empty trace"},
        {"0.0 1.0\n", "at least 2 samples"},
        {"0.0 1.0\n1.0\n", "bad:2: missing throughput"},
        {"0.0 1.0\n1.0 -2\n", "bad:2: negative throughput"},
        {"0.0 1.0\n1.0 fast\n", "bad:2: throughput 'fast' is not a finite number"},
        {"0.0 1.0\n1.0 nan\n", "bad:2: throughput 'nan'"},
        {"0.0 1.0\n1.0 2\n1.0 3\n", "bad:3: time 1 does not increase"},
        {"0.0 1.0\n1.0 0\n2.0 0.0\n", "nothing could ever be downloaded"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = mq_abr_trace_parse(&t, "bad", bad[i].text, strlen(bad[i].text), &err);
        if (!strstr(err.msg, bad[i].want)) fprintf(stderr, "  case %zu: '%s'\n", i, err.msg);
        ASSERT_INT_EQ(rc, MQ_EFORMAT);
        ASSERT(strstr(err.msg, bad[i].want));
    }
    /* Zero throughput samples are valid (outages), as are blank lines and CRLF. */
    const char *ok = "0.0\t0.0\r\n1.0\t0.0\r\n\n2.0\t3.5\r\n";
    ASSERT_OK(mq_abr_trace_parse(&t, "ok", ok, strlen(ok), &err), &err);
    ASSERT_INT_EQ(t.n, 3);
    mq_abr_trace_release(&t);

    /* A trace too slow to ever finish a chunk is refused, not looped on. */
    {
        const char *slow = "0 0\n1 1e-12\n";
        mq_abr_video v0;
        mq_abr_qoe q0;
        mq_abr_opts o0;
        mq_abr_session s0;
        mq_abr_opts_init(&o0, sizeof o0);
        o0.start_level = 0;
        ASSERT_OK(mq_abr_trace_parse(&t, "slow", slow, strlen(slow), &err), &err);
        ASSERT_OK(tiny_video(&v0, &err), &err);
        ASSERT_OK(mq_abr_qoe_init(&q0, MQ_ABR_QOE_LIN, &v0, &err), &err);
        ASSERT(mq_abr_run(&t, 1, &v0, "bb", &o0, &q0, &s0, NULL, &err) == MQ_ERANGE);
        ASSERT(strstr(err.msg, "slow: chunk 0"));
        mq_abr_video_release(&v0);
        mq_abr_trace_release(&t);
    }

    /* Chunk-size files. */
    const char *dir = mq_test_tmpdir();
    char path[512];
    mq_abr_video v;
    for (int l = 0; l < 6; l++) {
        snprintf(path, sizeof path, "%s/video_size_%d", dir, l);
        write_file(path, "100\n200\n300\n");
    }
    ASSERT_OK(mq_abr_video_load(&v, dir, NULL, 0, 3, 4, &err), &err);
    mq_abr_video_release(&v);
    ASSERT(mq_abr_video_load(&v, dir, NULL, 0, 48, 4, &err) == MQ_EFORMAT);
    ASSERT(strstr(err.msg, "video_size_0: 3 chunk sizes, but 48 chunks are played"));
    snprintf(path, sizeof path, "%s/video_size_2", dir);
    write_file(path, "100\n-5\n300\n");
    ASSERT(mq_abr_video_load(&v, dir, NULL, 0, 3, 4, &err) == MQ_EFORMAT);
    ASSERT(strstr(err.msg, "video_size_2:2: chunk size -5 must be positive"));
    write_file(path, "100\n0\n300\n");
    ASSERT(mq_abr_video_load(&v, dir, NULL, 0, 3, 4, &err) == MQ_EFORMAT);
    ASSERT(strstr(err.msg, "video_size_2:2:"));
    write_file(path, "100\n2.5\n300\n");
    ASSERT(mq_abr_video_load(&v, dir, NULL, 0, 3, 4, &err) == MQ_EFORMAT);
    ASSERT(strstr(err.msg, "video_size_2:2: chunk size '2.5' is not an integer"));
    write_file(path, "");
    ASSERT(mq_abr_video_load(&v, dir, NULL, 0, 3, 4, &err) == MQ_EFORMAT);
    ASSERT(strstr(err.msg, "empty chunk-size file"));
    write_file(path, "100\n200\n300\n");
    snprintf(path, sizeof path, "%s/video_size_5", dir);
    remove(path);
    ASSERT(mq_abr_video_load(&v, dir, NULL, 0, 3, 4, &err) == MQ_ENOTFOUND);
    ASSERT(strstr(err.msg, "video_size_5"));
    write_file(path, "100\n200\n300\n");
    /* Through the command: exit 1 with the message. */
    char tdir[600];
    snprintf(tdir, sizeof tdir, "%s/traces", dir);
    ASSERT_INT_EQ(mq_test_sh("mkdir -p %s && printf '0 1\\n1 x\\n' > %s/tr", tdir, tdir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s abr --traces %s --video %s --chunks 3 2> %s/err.txt; test $? -eq 1 && grep -q 'tr:2: throughput' %s/err.txt",
                             mq_test_bin(), tdir, dir, dir, dir), 0);
}

MQ_TEST(abr_cli_json_and_csv)
{
    const char *p = mq_test_shared("abr-traces/test_cooked_traces");
    if (!p) MQ_SKIP("../shared/data/abr-traces not present: command output not checked");
    char tdir[1024], vdir[1024];
    snprintf(tdir, sizeof tdir, "%s", p);
    snprintf(vdir, sizeof vdir, "%s", tdir);
    *strrchr(vdir, '/') = 0;
    strcat(vdir, "/video_sizes");
    const char *tmp = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("%s abr --traces %s --video %s --algo bb,rb --json --sessions-csv %s/s.csv "
                             "--csv-columns trace,algo --per-chunk %s/c.csv > %s/out.json",
                             mq_test_bin(), tdir, vdir, tmp, tmp, tmp), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 -c \"import json,csv,sys; d=json.load(open('%s/out.json')); "
                             "a=d['algorithms']; assert d['qoe']=='lin' and [x['algo'] for x in a]==['bb','rb']; "
                             "assert abs(a[0]['mean_qoe']-30.04)<0.005 and len(a[0]['traces'])==142; "
                             "t=a[0]['traces'][0]; assert t['trace']=='norway_bus_1' and set(t)>={'qoe','rebuffer_s','startup_s','switches'}; "
                             "assert abs(sum(x['qoe'] for x in a[1]['traces'])/142-a[1]['mean_qoe'])<1e-9; "
                             "assert a[0]['qoe_ci95'][0]<a[0]['mean_qoe']<a[0]['qoe_ci95'][1]; "
                             "r=list(csv.DictReader(open('%s/s.csv'))); assert len(r)==284 and r[0]['trace']=='norway_bus_1' and r[0]['algo']=='bb'; "
                             "c=list(csv.reader(open('%s/c.csv'))); assert len(c)==1+2*142*48\"",
                             tmp, tmp, tmp), 0);
    /* The sessions CSV feeds `marquee xp analyze` paired by trace (when the xp module is in). */
    if (mq_test_sh("%s xp analyze --help > /dev/null 2>&1", mq_test_bin()) == 0) {
        ASSERT_INT_EQ(mq_test_sh("%s abr --traces %s --video %s --algo bb,rb --sessions-csv %s/p.csv > /dev/null && "
                                 "%s xp analyze %s/p.csv --metric qoe --control bb --pair unit --json > %s/xp.json",
                                 mq_test_bin(), tdir, vdir, tmp, mq_test_bin(), tmp, tmp), 0);
        /* rb - bb on the test traces: 35.0171 - 30.0432 = 4.974 per trace on average. */
        ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 -c \"import json; r=json.load(open('%s/xp.json'))['results'][0]; "
                                 "assert r['method']=='paired' and abs(r['effect']-4.97388)<1e-4, r\"", tmp), 0);
    }
    /* Usage errors exit 2. */
    ASSERT_INT_EQ(mq_test_sh("%s abr --traces %s > /dev/null 2>&1; test $? -eq 2", mq_test_bin(), tdir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s abr --traces %s --video %s --qoe best > /dev/null 2>&1; test $? -eq 2",
                             mq_test_bin(), tdir, vdir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s abr --help | grep -q sessions-csv", mq_test_bin()), 0);
}

MQ_TEST(abr_t_quantile_and_ci)
{
    /* scipy.stats.t.ppf(0.975, df): the table is exact to 1e-8, the expansion to 3e-8. */
    ASSERT_NEAR(mq_abr_t975(1), 12.706204736, 1e-8);
    ASSERT_NEAR(mq_abr_t975(10), 2.228138852, 1e-8);
    ASSERT_NEAR(mq_abr_t975(31), 2.039513446, 1e-7);
    ASSERT_NEAR(mq_abr_t975(141), 1.976931489, 1e-7);
    double x[4] = {1, 2, 3, 6};
    mq_abr_stat s = mq_abr_stat_of(x, 4);
    /* mean 3, sd sqrt(14/3), half-width t(3) * sd / 2. */
    ASSERT_NEAR(s.mean, 3, 1e-15);
    ASSERT_NEAR(s.hi - s.mean, 3.182446305 * sqrt(14.0 / 3) / 2, 1e-7);
}

/* ---- fuzz regressions (fuzz/fuzz_abr.c; inputs in tests/fixtures/fuzz) ---- */

/* An empty chunk-size file maps to (NULL, 0); the line reader computed NULL + 0 (undefined
 * behaviour). Now: a format error naming the file; an empty trace text likewise. The fuzzer's
 * input abr_empty_sizes (two files of sizes, the rest empty) must fail the same way. */
MQ_TEST(abr_fuzz_empty_size_file)
{
    char dir[4096], p[4200];
    snprintf(dir, sizeof dir, "%s/vid", mq_test_tmpdir());
    ASSERT_INT_EQ(mq_test_sh("mkdir -p '%s'", dir), 0);
    FILE *f = fopen("tests/fixtures/fuzz/abr_empty_sizes", "rb");
    ASSERT(f != NULL);
    char raw[4096];
    size_t n = fread(raw, 1, sizeof raw, f), at = 1;
    fclose(f);
    for (int l = 0; l < 6; l++) {   /* as the harness splits it: '|' separates the files */
        snprintf(p, sizeof p, "%s/video_size_%d", dir, l);
        f = fopen(p, "wb");
        ASSERT(f != NULL);
        size_t e = at;
        while (e < n && raw[e] != '|') e++;
        if (at < n) fwrite(raw + at, 1, e - at, f);
        fclose(f);
        at = e < n ? e + 1 : n;
    }
    mq_abr_video v;
    mq_err err = {0};
    int levels = 1 + (raw[0] >> 1) % 6, chunks = 1 + (raw[0] >> 4) % 8;
    ASSERT_INT_EQ(mq_abr_video_load(&v, dir, mq_abr_pensieve_ladder_kbps, levels, chunks, 4.0, &err), MQ_EFORMAT);
    ASSERT(strstr(err.msg, "video_size_2: empty chunk-size file") != NULL);
    mq_abr_trace t;
    ASSERT_INT_EQ(mq_abr_trace_parse(&t, "empty.trace", NULL, 0, &err), MQ_EFORMAT);
    ASSERT(strstr(err.msg, "empty.trace") != NULL);
    snprintf(p, sizeof p, "%s/empty.trace", dir);
    ASSERT_INT_EQ(mq_test_sh(": > '%s'", p), 0);
    ASSERT_INT_EQ(mq_abr_trace_load(&t, p, &err), MQ_EFORMAT);
    ASSERT(strstr(err.msg, "empty.trace") != NULL);
}
