/* cmd_abr.c: `marquee abr`: play a video over every throughput trace of a directory with one or
 * more ABR algorithms and report QoE, bitrate, stalls, startup and switching per algorithm
 * (means with 95% t intervals across traces), optionally as JSON, a per-session CSV for
 * `marquee xp analyze` (paired by trace) and a per-chunk CSV.  A thin client of marquee/abr.h:
 * parse arguments, load, run, print.  Single-threaded. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "usage: marquee abr --traces DIR --video DIR [options]\n"
    "\n"
    "Simulates a DASH player over measured throughput traces (Pensieve's cooked format: one\n"
    "'time_s throughput_mbps' sample a line) and scores ABR algorithms.  Defaults reproduce\n"
    "Pensieve's test simulator exactly.\n"
    "\n"
    "  --traces DIR            trace files (all regular files, played in sorted name order)\n"
    "  --video DIR             chunk sizes: DIR/video_size_0 .. video_size_{L-1} (bytes a line)\n"
    "  --algo LIST             comma-separated algorithms, or 'all' (default:\n"
    "                          bb,rb,bola,dynamic,mpc,robustmpc); --list shows them\n"
    "  --qoe lin|log|hd        score (default lin): total over chunks 1..N-1 per trace\n"
    "  --json                  print the JSON report instead of the table\n"
    "  --sessions-csv FILE     one row per (trace, algorithm): unit,variant,qoe,bitrate_kbps,\n"
    "                          rebuffer_s,rebuffer_ratio,startup_s,switches,switch_kbps\n"
    "  --csv-columns U,V       names of the first two CSV columns (default unit,variant;\n"
    "                          e.g. trace,algo)\n"
    "  --per-chunk FILE        one row per (trace, algorithm, chunk)\n"
    "  --ladder LIST           bitrates in kbit/s, increasing (default 300,750,1200,1850,2850,4300)\n"
    "  --chunks N              chunks played (default 48)\n"
    "  --chunk-seconds S       seconds of video per chunk (default 4)\n"
    "  --start-level L         level of chunk 0 (default 1)\n"
    "  --startup-threshold S   start playback once S seconds are buffered (default 0 = Pensieve)\n"
    "  --buffer-cap S          buffer cap in seconds (default 60)\n"
    "  --rtt-ms MS             per-chunk round trip (default 80)\n"
    "  --payload-factor F      share of throughput carrying payload (default 0.95)\n"
    "  --random-start          start each trace at a random sample (seeded)\n"
    "  --noise LO,HI           multiply download times by U(LO,HI) (seeded; Pensieve training: 0.9,1.1)\n"
    "  --seed N                seed for --random-start and --noise (default 42)\n"
    "  --list                  list the algorithms and exit\n"
    "\n"
    "Example: marquee abr --traces ../shared/data/abr-traces/test_cooked_traces \\\n"
    "           --video ../shared/data/abr-traces/video_sizes --algo bb,robustmpc\n";

static int parse_list(const char *s, double *out, int max, int *n)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n >= max || mq_cli_parse_double(tok, &out[*n]) != 0) return -1;
        (*n)++;
    }
    return *n > 0 ? 0 : -1;
}

/* The options: val = MQ_CLI_OPT + row, and the loop below dispatches on the name. */
static const struct option abr_opts[] = {
    {"list", no_argument, 0, MQ_CLI_OPT + 0},
    {"json", no_argument, 0, MQ_CLI_OPT + 1},
    {"random-start", no_argument, 0, MQ_CLI_OPT + 2},
    {"traces", required_argument, 0, MQ_CLI_OPT + 3},
    {"video", required_argument, 0, MQ_CLI_OPT + 4},
    {"algo", required_argument, 0, MQ_CLI_OPT + 5},
    {"qoe", required_argument, 0, MQ_CLI_OPT + 6},
    {"sessions-csv", required_argument, 0, MQ_CLI_OPT + 7},
    {"per-chunk", required_argument, 0, MQ_CLI_OPT + 8},
    {"csv-columns", required_argument, 0, MQ_CLI_OPT + 9},
    {"ladder", required_argument, 0, MQ_CLI_OPT + 10},
    {"noise", required_argument, 0, MQ_CLI_OPT + 11},
    {"chunks", required_argument, 0, MQ_CLI_OPT + 12},
    {"start-level", required_argument, 0, MQ_CLI_OPT + 13},
    {"seed", required_argument, 0, MQ_CLI_OPT + 14},
    {"chunk-seconds", required_argument, 0, MQ_CLI_OPT + 15},
    {"startup-threshold", required_argument, 0, MQ_CLI_OPT + 16},
    {"buffer-cap", required_argument, 0, MQ_CLI_OPT + 17},
    {"rtt-ms", required_argument, 0, MQ_CLI_OPT + 18},
    {"payload-factor", required_argument, 0, MQ_CLI_OPT + 19},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

int mq_cli_abr(int argc, char **argv)
{
    const char *cmd = "abr";
    const char *traces_dir = NULL, *video_dir = NULL, *algo_list = "bb,rb,bola,dynamic,mpc,robustmpc";
    const char *qoe_name = "lin", *sessions_csv = NULL, *chunks_csv = NULL;
    char unit_col[128] = "unit", variant_col[128] = "variant";
    int json = 0, n_ladder = 0;
    double ladder[MQ_ABR_MAX_LEVELS];
    long long n_chunks = 48;
    double chunk_s = 4;
    mq_abr_opts o;
    mq_abr_opts_init(&o, sizeof o);

    int c;
    while ((c = mq_cli_getopt(argc, argv, abr_opts)) != -1) {
        if (c == 'h') { fputs(USAGE, stdout); return MQ_EXIT_OK; }
        if (c < MQ_CLI_OPT) return mq_cli_bad_option(cmd, argv, abr_opts);
        char a[64];
        snprintf(a, sizeof a, "--%s", abr_opts[c - MQ_CLI_OPT].name);
        if (!strcmp(a, "--list")) {
            for (int k = 0; k < mq_abr_algo_count(); k++)
                printf("%-16s %s\n", mq_abr_algo_name(k), mq_abr_algo_summary(k));
            return MQ_EXIT_OK;
        }
        if (!strcmp(a, "--json")) { json = 1; continue; }
        if (!strcmp(a, "--random-start")) { o.random_start = 1; continue; }
        const char *v = optarg;
        double d;
        long long ll;
        if (!strcmp(a, "--traces")) traces_dir = v;
        else if (!strcmp(a, "--video")) video_dir = v;
        else if (!strcmp(a, "--algo")) algo_list = v;
        else if (!strcmp(a, "--qoe")) qoe_name = v;
        else if (!strcmp(a, "--sessions-csv")) sessions_csv = v;
        else if (!strcmp(a, "--per-chunk")) chunks_csv = v;
        else if (!strcmp(a, "--csv-columns")) {
            const char *comma = strchr(v, ',');
            if (!comma || comma == v || !comma[1] || strchr(comma + 1, ',') || (size_t)(comma - v) >= sizeof unit_col ||
                strlen(comma + 1) >= sizeof variant_col)
                return mq_cli_usage_error(cmd, "--csv-columns: expected two names 'U,V', got '%s'", v);
            snprintf(unit_col, sizeof unit_col, "%.*s", (int)(comma - v), v);
            snprintf(variant_col, sizeof variant_col, "%s", comma + 1);
        } else if (!strcmp(a, "--ladder")) {
            if (parse_list(v, ladder, MQ_ABR_MAX_LEVELS, &n_ladder) != 0)
                return mq_cli_usage_error(cmd, "--ladder: expected up to %d comma-separated kbit/s values, got '%s'",
                                          MQ_ABR_MAX_LEVELS, v);
            for (int l = 0; l < n_ladder; l++)
                if (!(ladder[l] > 0 && ladder[l] < 1e9) || (l && !(ladder[l] > ladder[l - 1])))
                    return mq_cli_usage_error(cmd, "--ladder: bitrates must be positive kbit/s and increase "
                                              "(level %d: %g), got '%s'", l, ladder[l], v);
        } else if (!strcmp(a, "--noise")) {
            double nz[2];
            int k;
            if (parse_list(v, nz, 2, &k) != 0 || k != 2)
                return mq_cli_usage_error(cmd, "--noise: expected LO,HI, got '%s'", v);
            o.noise_lo = nz[0];
            o.noise_hi = nz[1];
        } else if (!strcmp(a, "--chunks")) {
            if (mq_cli_parse_i64(v, &ll) || ll < 1 || ll > 1000000)
                return mq_cli_usage_error(cmd, "--chunks: expected a positive integer, got '%s'", v);
            n_chunks = ll;
        } else if (!strcmp(a, "--start-level")) {
            if (mq_cli_parse_i64(v, &ll) || ll < 0 || ll >= MQ_ABR_MAX_LEVELS)
                return mq_cli_usage_error(cmd, "--start-level: expected a level index, got '%s'", v);
            o.start_level = (int)ll;
        } else if (!strcmp(a, "--seed")) {
            if (mq_cli_parse_i64(v, &ll) || ll < 0)
                return mq_cli_usage_error(cmd, "--seed: expected a non-negative integer, got '%s'", v);
            o.seed = (uint64_t)ll;
        } else if (!strcmp(a, "--chunk-seconds") || !strcmp(a, "--startup-threshold") ||
                   !strcmp(a, "--buffer-cap") || !strcmp(a, "--rtt-ms") ||
                   !strcmp(a, "--payload-factor")) {
            if (mq_cli_parse_double(v, &d) != 0)
                return mq_cli_usage_error(cmd, "%s: expected a number, got '%s'", a, v);
            if (!strcmp(a, "--chunk-seconds")) {
                if (!(d > 0 && d <= MQ_ABR_MAX_CHUNK_S))
                    return mq_cli_usage_error(cmd, "--chunk-seconds: expected a number in (0, %d], got '%s'", MQ_ABR_MAX_CHUNK_S, v);
                chunk_s = d;
            } else if (!strcmp(a, "--startup-threshold")) o.startup_threshold_s = d;
            else if (!strcmp(a, "--buffer-cap")) o.buffer_cap_s = d;
            else if (!strcmp(a, "--rtt-ms")) o.rtt_ms = d;
            else o.payload_factor = d;
        } else {
            return mq_cli_usage_error(cmd, "unknown option: %s", a);
        }
    }
    if (optind < argc) return mq_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!traces_dir) return mq_cli_usage_error(cmd, "--traces DIR is required");
    if (!video_dir) return mq_cli_usage_error(cmd, "--video DIR is required");

    mq_err err = {0};
    mq_abr_qoe_kind qk;
    if (mq_abr_qoe_parse(qoe_name, &qk, &err) != 0) return mq_cli_usage_error(cmd, "--qoe: %s", err.msg);
    if (mq_abr_opts_check(&o, &err) != 0) return mq_cli_usage_error(cmd, "%s", err.msg);

    /* Algorithms. */
    char algbuf[1024];
    const char *names[64];
    int n_alg = 0;
    if (!strcmp(algo_list, "all")) {
        for (int k = 0; k < mq_abr_algo_count() && n_alg < 64; k++) names[n_alg++] = mq_abr_algo_name(k);
    } else {
        if (strlen(algo_list) >= sizeof algbuf) return mq_cli_usage_error(cmd, "--algo: list too long");
        snprintf(algbuf, sizeof algbuf, "%s", algo_list);
        for (char *save = NULL, *tok = strtok_r(algbuf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (mq_abr_algo_find(tok) < 0)
                return mq_cli_usage_error(cmd, "--algo: unknown algorithm '%s' (see --list)", tok);
            if (n_alg == 64) return mq_cli_usage_error(cmd, "--algo: at most 64 algorithms");
            names[n_alg++] = tok;
        }
        if (!n_alg) return mq_cli_usage_error(cmd, "--algo: empty list");
    }

    int rc = MQ_EXIT_FAIL, n_tr = 0;
    mq_abr_trace *tr = NULL;
    mq_abr_video vid = {0};
    mq_abr_session *sess = NULL;
    mq_abr_chunk *chunks = NULL;
    mq_abr_result res[64];
    if (mq_abr_video_load(&vid, video_dir, n_ladder ? ladder : NULL, n_ladder, (int)n_chunks, chunk_s, &err) ||
        mq_abr_traces_load_dir(traces_dir, &tr, &n_tr, &err)) {
        rc = mq_cli_fail(cmd, &err);
        goto done;
    }
    mq_abr_qoe q;
    if (mq_abr_qoe_init(&q, qk, &vid, &err)) { rc = mq_cli_fail(cmd, &err); goto done; }
    if (o.start_level >= vid.n_levels)
        { rc = mq_cli_usage_error(cmd, "--start-level %d: the ladder has %d levels", o.start_level, vid.n_levels); goto done; }
    sess = calloc((size_t)n_alg * (size_t)n_tr, sizeof *sess);
    if (chunks_csv) chunks = calloc((size_t)n_alg * (size_t)n_tr * (size_t)vid.n_chunks, sizeof *chunks);
    if (!sess || (chunks_csv && !chunks)) {
        err.code = MQ_ENOMEM;
        snprintf(err.msg, sizeof err.msg, "out of memory");
        rc = mq_cli_fail(cmd, &err);
        goto done;
    }
    for (int a = 0; a < n_alg; a++) {
        mq_abr_chunk *ch = chunks ? chunks + (size_t)a * (size_t)n_tr * (size_t)vid.n_chunks : NULL;
        if (mq_abr_run(tr, n_tr, &vid, names[a], &o, &q, sess + (size_t)a * (size_t)n_tr, ch, &err)) {
            rc = mq_cli_fail(cmd, &err);
            goto done;
        }
        res[a].algo = names[a];
        res[a].sessions = sess + (size_t)a * (size_t)n_tr;
        res[a].chunks = ch;
    }
    if (sessions_csv &&
        mq_abr_write_sessions_csv(sessions_csv, tr, n_tr, res, n_alg, unit_col, variant_col, &err)) {
        rc = mq_cli_fail(cmd, &err);
        goto done;
    }
    if (chunks_csv && mq_abr_write_chunks_csv(chunks_csv, tr, n_tr, vid.n_chunks, res, n_alg, &err)) {
        rc = mq_cli_fail(cmd, &err);
        goto done;
    }
    if (json) {
        char *s = mq_abr_report_json(&q, tr, n_tr, res, n_alg);
        if (!s) {
            err.code = MQ_ENOMEM;
            snprintf(err.msg, sizeof err.msg, "out of memory");
            rc = mq_cli_fail(cmd, &err);
            goto done;
        }
        fputs(s, stdout);
        free(s);
    } else {
        printf("%d traces, %d chunks of %g s, QoE_%s over chunks 1..%d (mean [95%% CI] across traces)\n",
               n_tr, vid.n_chunks, vid.chunk_s, mq_abr_qoe_name(qk), vid.n_chunks - 1);
        printf("%-16s %-24s %-22s %-18s %-8s %-9s %-9s %s\n", "algo", "qoe", "bitrate_kbps",
               "rebuffer_s", "rebuf_%", "startup_s", "switches", "switch_kbps");
        for (int a = 0; a < n_alg; a++) {
            mq_abr_summary su;
            mq_abr_summarize(res[a].sessions, n_tr, &su);
            char c1[64], c2[64], c3[64];
            snprintf(c1, sizeof c1, "%.2f [%.2f, %.2f]", su.qoe.mean, su.qoe.lo, su.qoe.hi);
            snprintf(c2, sizeof c2, "%.0f [%.0f, %.0f]", su.bitrate_kbps.mean, su.bitrate_kbps.lo, su.bitrate_kbps.hi);
            snprintf(c3, sizeof c3, "%.2f [%.2f, %.2f]", su.rebuf_s.mean, su.rebuf_s.lo, su.rebuf_s.hi);
            printf("%-16s %-24s %-22s %-18s %-8.2f %-9.3f %-9.2f %.0f\n", names[a], c1, c2, c3,
                   100 * su.rebuf_ratio.mean, su.startup_s.mean, su.switches.mean, su.switch_kbps.mean);
        }
    }
    if (fflush(stdout) != 0) {
        err.code = MQ_EIO;
        snprintf(err.msg, sizeof err.msg, "writing to stdout failed");
        rc = mq_cli_fail(cmd, &err);
        goto done;
    }
    rc = MQ_EXIT_OK;
done:
    free(sess);
    free(chunks);
    mq_abr_traces_free(tr, n_tr);
    mq_abr_video_release(&vid);
    return rc;
}
