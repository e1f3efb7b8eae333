/* test_cli_habits.c: the command line's Unix habits: getopt_long parsing ("--opt=value" as
 * "--opt value"), `marquee --version`, `marquee help CMD`, "did you mean" for commands,
 * subcommands, options and model names, and validation of every argument before any data is
 * read (a bad model name fails at once, exit 2, even when --data does not exist). */
#include "../test.h"

/* Runs `marquee ARGS` in dir with stdout/stderr captured to dir/o, dir/e; returns the status. */
static int run(const char *dir, const char *args)
{
    return mq_test_sh("%s %s > '%s/o' 2> '%s/e' < /dev/null", mq_test_bin(), args, dir, dir);
}

static int has(const char *dir, const char *file, const char *text)
{
    return mq_test_sh("grep -qF -- \"%s\" '%s/%s'", text, dir, file) == 0;
}

#define EXPECT_RUN(args, rc, file, text)                                                        \
    do {                                                                                    \
        int r_ = run(d, args);                                                              \
        if (r_ != (rc) || !has(d, file, text)) {                                            \
            mq_test_sh("cat '%s/o' '%s/e' >&2", d, d);                                       \
            MQ_FAIL_("marquee %s: exit %d (want %d), %s should hold \"%s\"", args, r_, rc,   \
                     file, text);                                                           \
        }                                                                                   \
    } while (0)

MQ_TEST(cli_version_and_help_cmd)
{
    const char *d = mq_test_tmpdir();
    EXPECT_RUN("--version", 0, "o", "marquee " MQ_VERSION);
    EXPECT_RUN("help train", 0, "o", "usage: marquee train");
    EXPECT_RUN("help data split", 0, "o", "Usage: marquee data split");
    EXPECT_RUN("help", 0, "o", "marquee help <command>");
    EXPECT_RUN("help nosuch", 2, "e", "unknown command 'nosuch'");
}

MQ_TEST(cli_did_you_mean)
{
    const char *d = mq_test_tmpdir();
    EXPECT_RUN("evl", 2, "e", "unknown command 'evl' (did you mean 'eval'?)");
    EXPECT_RUN("--verison", 2, "e", "did you mean '--version'?");
    EXPECT_RUN("data improt x", 2, "e", "did you mean 'import'?");
    EXPECT_RUN("train --modle ease", 2, "e", "unknown option '--modle' (did you mean '--model'?)");
    EXPECT_RUN("eval --modles ease --data x", 2, "e", "did you mean '--models'?");
    EXPECT_RUN("serve --prot 1", 2, "e", "did you mean '--port'?");
    EXPECT_RUN("abr --trcaes x", 2, "e", "did you mean '--traces'?");
    EXPECT_RUN("recommend --membr 1", 2, "e", "did you mean '--member'?");
    EXPECT_RUN("eval --data x --models pop --protocol strng", 2, "e", "did you mean 'strong'?");
    EXPECT_RUN("serve --log-format jsn", 2, "e", "did you mean 'json'?");
    /* nothing close: no suggestion */
    EXPECT_RUN("train --zzzzzz 1", 2, "e", "unknown option '--zzzzzz'");
    ASSERT(!has(d, "e", "did you mean"));
    /* missing value, value on a flag */
    EXPECT_RUN("train --model", 2, "e", "option '--model' needs a value");
    EXPECT_RUN("eval --json=yes", 2, "e", "option '--json' takes no value");
}

MQ_TEST(cli_validates_before_loading)
{
    /* The data path does not exist: if the model name were checked after loading, the error
     * would be about the file (exit 1). */
    const char *d = mq_test_tmpdir();
    EXPECT_RUN("train --data /nonexistent/x.csv --model eas --out m.mqm", 2, "e",
               "unknown model 'eas' (did you mean 'ease'?");
    ASSERT(!has(d, "e", "nonexistent"));
    EXPECT_RUN("eval --data /nonexistent/x.csv --models pop,eas", 2, "e", "did you mean 'ease'?");
    EXPECT_RUN("eval --data /nonexistent/x.csv --models ease --tune --grid ease.lambda=1,,2", 2, "e",
               "ease.lambda");
    EXPECT_RUN("serve --data /nonexistent --model ials2", 2, "e", "did you mean 'ials'?");
    EXPECT_RUN("train --data /nonexistent/x.csv --model ease --out m.mqm --format nope", 2, "e",
               "--format");
    EXPECT_RUN("recommend --model /nonexistent.mqm --member 1 --data x --format nope", 2, "e",
               "--format");
}

MQ_TEST(cli_param_values_before_loading)
{
    /* A parameter's value, a negative factor count and a name the model does not take fail at
     * once with exit 2 naming the parameter and the value: the data path is a FIFO nobody
     * writes, so reading it would block until the timeout (exit 124). */
    const char *d = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("mkfifo '%s/fifo.csv'", d), 0);
    static const struct { const char *args, *want; } cases[] = {
        {"train --model ease --param lambda=abc --out m.mqm", "ease: parameter 'lambda': 'abc' is not a number"},
        {"train --model ials --param factors=-3 --out m.mqm", "ials: parameter 'factors': -3 is out of range [1, 4096]"},
        {"train --model ease --param factors=8 --out m.mqm", "ease: unknown parameter 'factors'"},
        {"train --model hybrid --param base=ials --param reg=-1 --out m.mqm", "ials: parameter 'reg': -1 is out of range"},
        {"train --model ranker --param ranker.ials.factors=0 --out m.mqm", "ials: parameter 'factors': 0 is out of range"},
        {"eval --models pop,ials --param ials.epochs=x", "ials: parameter 'epochs': 'x' is not an integer"},
        {"serve --model ials --param nu=11 --models nomodels", "ials: parameter 'nu': 11 is out of range [0, 10]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int r = mq_test_sh("timeout 20 %s %s --data '%s/fifo.csv' > '%s/o' 2> '%s/e' < /dev/null",
                           mq_test_bin(), cases[i].args, d, d, d);
        if (r != 2 || !has(d, "e", cases[i].want)) {
            mq_test_sh("cat '%s/e' >&2", d);
            MQ_FAIL_("marquee %s: exit %d (want 2), stderr should hold \"%s\"", cases[i].args, r, cases[i].want);
        }
    }
    /* and the scenario of `marquee sim` (a file: exit 1 naming the field, before the data) */
    ASSERT_INT_EQ(mq_test_sh("printf '{\"models\": {\"m\": {\"kind\": \"ease\", \"params\": [\"lambda=-5\"]}}}' > '%s/s.json'", d), 0);
    int r = mq_test_sh("timeout 20 %s sim --data '%s/fifo.csv' --models '%s/mdir' --scenario '%s/s.json' "
                       "--out '%s/out' > '%s/o' 2> '%s/e' < /dev/null", mq_test_bin(), d, d, d, d, d, d);
    ASSERT_INT_EQ(r, 1);
    ASSERT(has(d, "e", "field 'models.m.params': ease: parameter 'lambda': -5 is out of range"));
}

MQ_TEST(cli_equals_form)
{
    /* --name=value and --name value give the same result. */
    const char *d = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("%s data stats tests/fixtures/data/ml --json --format=auto > %s/a && "
                             "%s data stats tests/fixtures/data/ml --json --format auto > %s/b && "
                             "cmp -s %s/a %s/b", mq_test_bin(), d, mq_test_bin(), d, d, d), 0);
    ASSERT_INT_EQ(mq_test_sh("%s train --data=tests/fixtures/data/ml --model=pop --out=%s/p.mqm > /dev/null 2>&1 && "
                             "%s recommend --model=%s/p.mqm --history=1 -n 3 --json > %s/r1 && "
                             "%s recommend --model %s/p.mqm --history 1 -n=3 --json > %s/r2 && cmp -s %s/r1 %s/r2",
                             mq_test_bin(), d, mq_test_bin(), d, d, mq_test_bin(), d, d, d, d), 0);
}

MQ_TEST(cli_log_format)
{
    /* --log-format json: every stderr line of a long command is one JSON object with a UTC
     * timestamp, a level and the message; text (the default) carries the same timestamp and
     * level before "marquee: ". Checked with Python's json module. */
    const char *d = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("%s train --data tests/fixtures/data/ml --model pop --out %s/p.mqm "
                             "--log-format json > /dev/null 2> %s/json.err && "
                             "%s data import tests/fixtures/data/ml --out %s/c.mqd --log-format=text 2> %s/text.err",
                             mq_test_bin(), d, d, mq_test_bin(), d, d), 0);
    ASSERT_INT_EQ(mq_test_sh(
                      "/usr/bin/python3 - %s <<'PY'\n"
                      "import json, re, sys\n"
                      "d = sys.argv[1]\n"
                      "ts = re.compile(r'^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$')\n"
                      "lines = open(d + '/json.err').read().splitlines()\n"
                      "assert lines, 'no log lines'\n"
                      "for l in lines:\n"
                      "    o = json.loads(l)\n"
                      "    assert set(o) == {'ts', 'level', 'msg'}, o\n"
                      "    assert ts.match(o['ts']) and o['level'] in ('info', 'warn', 'error'), o\n"
                      "assert any(o['msg'].startswith('training pop') for o in map(json.loads, lines))\n"
                      "t = open(d + '/text.err').read().splitlines()\n"
                      "assert t and all(re.match(r'^\\S+Z (info|warn|error) marquee: ', l) for l in t), t\n"
                      "PY",
                      d),
                  0);
    ASSERT_INT_EQ(mq_test_sh("%s train --log-format xml 2> /dev/null", mq_test_bin()), 2);
}
