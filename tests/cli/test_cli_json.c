/* test_cli_json.c: every JSON the command prints is valid JSON (RFC 8259: UTF-8 text), even
 * when a string it echoes holds bytes that are not UTF-8: a member id typed on the command line,
 * a data path. The CLI writes strings through the library's one escaper (mq_json_write_str, core's
 * mq_buf_json_str), which replaces each invalid byte by U+FFFD. Each case pipes the output into
 * Debian's python3, whose strict UTF-8 decoder and json parser fail on anything else, and checks
 * the echoed string came back with the replacement characters. */
#include "../test.h"

/* Runs `marquee ARGS | python3 -c CHECK` with sh variables bad (the bytes "u\377\376") and
 * bin set; CHECK gets the parsed document as d. Returns the shell status. */
static int json_check(const char *setup, const char *args, const char *check)
{
    return mq_test_sh("bad=$(printf 'u\\377\\376'); bin='%s'; %s \"$bin\" %s | /usr/bin/python3 -c '"
                      "import json, sys\n"
                      "d = json.loads(sys.stdin.buffer.read().decode(\"utf-8\"))\n"
                      "assert %s, d\n'",
                      mq_test_bin(), setup, args, check);
}

MQ_TEST(cli_json_invalid_utf8_member_in_recommend_and_xp_assign)
{
    const char *t = mq_test_tmpdir();
    char setup[4096];
    snprintf(setup, sizeof setup,
             "\"$bin\" train --data tests/fixtures/data/ml --model pop --out '%s/m.mqm' >/dev/null 2>&1 && "
             "printf '{\"experiments\":[{\"name\":\"e\",\"variants\":[\"A\",\"B\"]}]}' > '%s/x.json' &&",
             t, t);
    char args[4096];
    snprintf(args, sizeof args, "recommend --model '%s/m.mqm' --member \"$bad\" --history 1 --json", t);
    ASSERT_INT_EQ(json_check(setup, args, "d[\"member\"] == \"u\\ufffd\\ufffd\" and d[\"items\"]"), 0);
    snprintf(args, sizeof args, "xp assign --config '%s/x.json' --member \"$bad\" --json", t);
    ASSERT_INT_EQ(json_check("", args, "d[\"member\"] == \"u\\ufffd\\ufffd\""), 0);
}

MQ_TEST(cli_json_invalid_utf8_path_in_eval)
{
    const char *t = mq_test_tmpdir();
    char setup[4096], args[4096];
    /* a data folder whose name is not UTF-8 (a link to the demo catalog) */
    snprintf(setup, sizeof setup, "ln -s \"$PWD/data/ml-latest-small\" '%s/'\"$bad\" &&", t);
    snprintf(args, sizeof args, "eval --data '%s/'\"$bad\" --models pop --threads 1 --json 2>/dev/null", t);
    ASSERT_INT_EQ(json_check(setup, args,
                             "d[\"data\"].endswith(\"/u\\ufffd\\ufffd\") and d[\"models\"][0][\"model\"] == \"pop\""),
                  0);
}
