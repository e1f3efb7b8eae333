/* test_cli_errors.c: the command-line contract of `marquee`, `marquee data`, `marquee xp` and
 * `marquee abr` (the hardening review): every (sub)command answers --help on stdout with exit 0;
 * unknown options, missing values, non-numbers and out-of-range values exit 2 with a message
 * naming the option and pointing at --help, and print nothing on stdout; runtime failures exit 1
 * naming the file and what is wrong. Each case runs build/marquee through the shell, capturing
 * stdout and stderr in the test's temporary directory. */
#include "../test.h"

#include <stdlib.h>

/* Runs `marquee ARGS`; returns the exit status and leaves stdout / stderr in out / err
 * (static buffers, NUL-terminated, truncated at 16 KiB). */
static char out_txt[16384], err_txt[16384];

static void slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

static int cli(const char *args)
{
    static char t[4096];   /* one directory for the captures (mq_test_tmpdir makes a new one a call) */
    if (!t[0]) snprintf(t, sizeof t, "%s", mq_test_tmpdir());
    int rc = mq_test_sh("cd . && %s %s >'%s/cli.out' 2>'%s/cli.err' </dev/null", mq_test_bin(), args, t, t);
    char p[4200];
    snprintf(p, sizeof p, "%s/cli.out", t);
    slurp(p, out_txt, sizeof out_txt);
    snprintf(p, sizeof p, "%s/cli.err", t);
    slurp(p, err_txt, sizeof err_txt);
    return rc;
}

/* Checks one run; returns 0 or prints why and returns 1. want_err NULL = any stderr. */
static int check(const char *file, int line, const char *args, int want_rc, const char *want_err)
{
    int rc = cli(args);
    const char *why = NULL;
    if (rc != want_rc) why = "wrong exit status";
    else if (want_err && !strstr(err_txt, want_err)) why = "stderr lacks the expected text";
    else if (rc != 0 && out_txt[0]) why = "failed but printed on stdout";
    else if (strstr(out_txt, "nan") || strstr(out_txt, "inf")) why = "printed nan/inf";
    if (!why) return 0;
    fprintf(stderr, "  %s:%d: marquee %s: %s (exit %d, want %d; want '%s')\n  stdout: %.400s\n  stderr: %.400s\n",
            file, line, args, why, rc, want_rc, want_err ? want_err : "", out_txt, err_txt);
    return 1;
}

#define EXPECT(args, want_rc, want_err)                                                        \
    do {                                                                                       \
        if (check(__FILE__, __LINE__, args, want_rc, want_err)) { t_->failed = 1; return; }   \
    } while (0)

MQ_TEST(cli_help_everywhere)
{
    static const char *const cmds[] = {
        "--help", "data --help", "data import --help", "data stats --help", "data split --help",
        "data synth --help", "xp --help", "xp assign --help", "xp analyze --help", "xp design --help",
        "xp bounds --help", "abr --help", "data -h", "xp analyze -h", "abr -h"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        EXPECT(cmds[i], 0, NULL);
        if (!strstr(out_txt, "sage")) MQ_FAIL_("marquee %s: no usage text on stdout: %s", cmds[i], out_txt);
        if (err_txt[0]) MQ_FAIL_("marquee %s wrote to stderr: %s", cmds[i], err_txt);
    }
}

MQ_TEST(cli_usage_errors_exit_2)
{
    /* Missing command / subcommand: the usage on stderr. */
    EXPECT("", 2, "Usage: marquee <command>");
    EXPECT("bogus", 2, "unknown command 'bogus'");
    EXPECT("data", 2, "Usage: marquee data");
    EXPECT("data bogus", 2, "unknown subcommand 'bogus'");
    EXPECT("xp bogus", 2, "unknown command 'bogus'");
    /* data */
    EXPECT("data import --bogus", 2, "unknown option '--bogus'");
    EXPECT("data import tests/fixtures/data/ml", 2, "--out FILE is required");
    EXPECT("data import tests/fixtures/data/ml --out", 2, "option '--out' needs a value");
    EXPECT("data import tests/fixtures/data/ml --out x.mqd --format bogus", 2, "unknown --format 'bogus'");
    EXPECT("data stats", 2, "name a PATH");
    EXPECT("data split x --bogus 1", 2, "unknown option '--bogus'");
    EXPECT("data split x --protocol", 2, "option '--protocol' needs a value");
    EXPECT("data split x --protocol random --seed 1 --write-split d", 2, "--protocol must be strong, temporal or loo (got 'random')");
    EXPECT("data split x --protocol loo --seed x --write-split d", 2, "--seed must be a non-negative integer (got 'x')");
    EXPECT("data split x --protocol strong --test-frac 1.5 --write-split d", 2, "--test-frac must be in [0, 1) (got '1.5')");
    EXPECT("data synth --bogus 1", 2, "unknown option '--bogus'");
    EXPECT("data synth --members x --titles 3 --interactions 5 --out o.csv", 2, "--members must be a positive integer (got 'x')");
    EXPECT("data synth --members 3 --titles 3 --interactions 5 --out o.csv", 2, "lower --interactions");
    EXPECT("data synth --members 3 --titles 4 --interactions 5 --out o.csv --zipf nan", 2, "--zipf must be a positive number (got 'nan')");
    /* xp */
    EXPECT("xp assign", 2, "--config and --member are required");
    EXPECT("xp assign --config c.json --member m --time abc", 2, "--time: 'abc' is not unix seconds");
    EXPECT("xp analyze", 2, "FILE is required");
    EXPECT("xp analyze f.csv --metric y", 2, "--control is required");
    EXPECT("xp analyze f.csv --metric y --control A --alpha 2", 2, "--alpha must be in (0, 1)");
    EXPECT("xp analyze f.csv --metric y --control A --alpha x", 2, "--alpha: 'x' is not a number");
    EXPECT("xp analyze f.csv --metric y --control A --quantile 2", 2, "--quantile must be in (0, 1) (got '2')");
    EXPECT("xp analyze f.csv --metric y --control A --boot 0", 2, "--boot: '0' is not a count");
    EXPECT("xp analyze f.csv --metric y --control A --weights A=x", 2, "--weights: 'x' is not a weight");
    EXPECT("xp design --sd x --mde 0.1", 2, "--sd: 'x' is not a number");
    EXPECT("xp design --sd 1 --mde 0.1 --power 1", 2, "power: 1 is out of range (0, 1)");
    EXPECT("xp design --sd 1e300 --mde 1e-300", 2, "is too large");
    EXPECT("xp design --sd 1e300 --mde 1e300", 2, "sd / mde out of range");   /* inf / inf = NaN */
    EXPECT("xp design --sd 1.7e308 --n 2", 2, "sd: 1.7e+308 is too large (the MDE overflows)");
    EXPECT("xp design --sd 1e-300 --mde 1e300", 0, "");
    if (!strstr(out_txt, "units per arm: 2 ")) MQ_FAIL_("a sample size below 2 per arm: %s", out_txt);
    EXPECT("xp bounds --looks 0", 2, "--looks must be an integer in [1, 50]");
    EXPECT("xp bounds --looks 3 --type x", 2, "--type: 'x' is not obf or pocock");
    /* abr */
    EXPECT("abr", 2, "--traces DIR is required");
    EXPECT("abr --bogus", 2, "--bogus");
    EXPECT("abr --traces t --video v --chunks x", 2, "--chunks: expected a positive integer, got 'x'");
    EXPECT("abr --traces t --video v --chunk-seconds 1e308", 2, "--chunk-seconds: expected a number in (0, 3600]");
    EXPECT("abr --traces t --video v --ladder 3,2,1", 2, "--ladder: bitrates must be positive kbit/s and increase");
    EXPECT("abr --traces t --video v --rtt-ms 1e308", 2, "rtt_ms 1e+308: expected in [0, 86400000]");
    EXPECT("abr --traces t --video v --buffer-cap inf", 2, "buffer");
    EXPECT("abr --traces t --video v --noise 2,1", 2, "expected 0 < lo <= hi");
    EXPECT("abr --traces t --video v --algo nope", 2, "unknown algorithm 'nope' (see --list)");
    EXPECT("abr --traces t --video v --seed -1", 2, "--seed: expected a non-negative integer, got '-1'");
}

MQ_TEST(cli_runtime_errors_exit_1)
{
    char t[1024];
    snprintf(t, sizeof t, "%s", mq_test_tmpdir());
    char a[8192];
    EXPECT("data stats /nonexistent/r.csv", 1, "/nonexistent/r.csv");
    EXPECT("data import /nonexistent --out x.mqd", 1, "/nonexistent: No such file or directory");
    /* A malformed row names file:line. */
    ASSERT_INT_EQ(mq_test_sh("printf 'userId,movieId,rating,timestamp\\n1,2,3.5,100\\n1,x,4,100\\n' > '%s/ratings.csv'", t), 0);
    snprintf(a, sizeof a, "data import '%s/ratings.csv' --out '%s/r.mqd'", t, t);
    EXPECT(a, 1, "ratings.csv:3");
    /* A corrupt snapshot is refused, naming the file; the previous snapshot survives a failed import. */
    ASSERT_INT_EQ(mq_test_sh("printf 'userId,movieId,rating,timestamp\\n1,2,3.5,100\\n2,2,4,100\\n' > '%s/good.csv'", t), 0);
    snprintf(a, sizeof a, "data import '%s/good.csv' --format movielens --out '%s/keep.mqd'", t, t);
    EXPECT(a, 0, NULL);
    snprintf(a, sizeof a, "data import '%s/ratings.csv' --out '%s/keep.mqd'", t, t);
    EXPECT(a, 1, "ratings.csv:3");
    snprintf(a, sizeof a, "data stats '%s/keep.mqd'", t);
    EXPECT(a, 0, NULL);
    ASSERT_INT_EQ(mq_test_sh("cp '%s/keep.mqd' '%s/bad.mqd' && printf 'X' | dd of='%s/bad.mqd' bs=1 seek=100 conv=notrunc 2>/dev/null", t, t, t), 0);
    snprintf(a, sizeof a, "data stats '%s/bad.mqd'", t);
    EXPECT(a, 1, "bad.mqd: corrupt snapshot");
    /* An output in a missing directory names the path given (not a temp name). */
    snprintf(a, sizeof a, "data import '%s/good.csv' --format movielens --out /nonexistent-dir/x.mqd", t);
    EXPECT(a, 1, "/nonexistent-dir/x.mqd: cannot write");
    /* A split with nothing left after binarizing says which knob to turn. */
    snprintf(a, sizeof a, "data split '%s/good.csv' --protocol strong --write-split '%s/sp'", t, t);
    EXPECT(a, 1, "good.csv: no member has 5 or more positives (interactions with value >= 4); lower --min-positives");
    /* xp: a missing column names file:line and the header; a bad config names the field. */
    ASSERT_INT_EQ(mq_test_sh("printf 'unit,variant,y\\nu1,A,1\\nu2,B,2\\nu3,A,x\\n' > '%s/x.csv'", t), 0);
    snprintf(a, sizeof a, "xp analyze '%s/x.csv' --metric nope --control A", t);
    EXPECT(a, 1, "x.csv:1: column 'nope' not found");
    snprintf(a, sizeof a, "xp analyze '%s/x.csv' --metric y --control A", t);
    EXPECT(a, 1, "x.csv:4");
    ASSERT_INT_EQ(mq_test_sh("printf '{\"name\":\"e\",\"variants\":[\"A\",\"B\"],\"start\":1e300}' > '%s/c.json'", t), 0);
    snprintf(a, sizeof a, "xp assign --config '%s/c.json' --member m", t);
    EXPECT(a, 1, "experiment 'e': field 'start'");
    /* abr: an empty chunk-size file and a too-fine trace are named. */
    ASSERT_INT_EQ(mq_test_sh("mkdir -p '%s/tr' '%s/tr2' '%s/v' && printf '0 1\\n1 2\\n2 3\\n' > '%s/tr/a' && "
                             "printf '0 1\\n1e-12 2\\n' > '%s/tr2/a' && for l in 0 1; do seq 1000 1000 9000 > '%s/v/video_size_'$l; done && "
                             ": > '%s/v/video_size_2'", t, t, t, t, t, t, t), 0);
    snprintf(a, sizeof a, "abr --traces '%s/tr' --video '%s/v' --ladder 100,200,300 --chunks 5", t, t);
    EXPECT(a, 1, "video_size_2: empty chunk-size file");
    snprintf(a, sizeof a, "abr --traces '%s/tr2' --video '%s/v' --ladder 100,200 --chunks 5", t, t);
    EXPECT(a, 1, "too fine to simulate");
    snprintf(a, sizeof a, "abr --traces '%s/tr' --video '%s/v' --ladder 100,200 --chunks 5 --json", t, t);
    EXPECT(a, 0, NULL);
    ASSERT(strstr(out_txt, "\"n_traces\": 1") != NULL);
}
