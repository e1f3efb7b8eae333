/* test_runner.c: the runner's isolation (tests/main.c): a test that crashes or hangs fails
 * under its own name while the others still run and the closing line still counts them.
 *
 * The "zz_forkcheck_*" tests misbehave on purpose, only when MQ_FORKCHECK=1 (otherwise they
 * skip); runner_isolates_crash_and_hang runs this same binary on them with a 1-second
 * timeout and reads its report. */
#include "../test.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static bool forkcheck(void) { const char *e = getenv("MQ_FORKCHECK"); return e && !strcmp(e, "1"); }

MQ_TEST(zz_forkcheck_crash)
{
    if (!forkcheck()) MQ_SKIP("only under runner_isolates_crash_and_hang");
    raise(SIGKILL);   /* a signal no sanitizer intercepts: the same outcome in `make asan` */
}

MQ_TEST(zz_forkcheck_hang)
{
    if (!forkcheck()) MQ_SKIP("only under runner_isolates_crash_and_hang");
    for (;;) pause();
}

MQ_TEST(zz_forkcheck_exit)
{
    if (!forkcheck()) MQ_SKIP("only under runner_isolates_crash_and_hang");
    exit(7);
}

MQ_TEST(zz_forkcheck_ok)
{
    if (!forkcheck()) MQ_SKIP("only under runner_isolates_crash_and_hang");
    /* a tmpdir per test: not one another test of the run already handed out */
    const char *d = mq_test_tmpdir();
    ASSERT(d && access(d, W_OK) == 0);
    ASSERT_INT_EQ(mq_test_sh("test -z \"$(ls -A '%s')\"", d), 0);
}

MQ_TEST(runner_isolates_crash_and_hang)
{
    /* this very binary, even if rebuilt (unlinked) since it started */
    char self[64];
    snprintf(self, sizeof self, "/proc/%d/exe", (int)getpid());
    ASSERT(access(self, X_OK) == 0);
    const char *t = mq_test_tmpdir();
    double t0 = mq_now();
    int rc = mq_test_sh("MQ_FORKCHECK=1 MQ_TEST_TIMEOUT=1 '%s' zz_forkcheck_ > '%s/out' 2> '%s/err'",
                        self, t, t);
    double dt = mq_now() - t0;
    ASSERT_INT_EQ(rc, 1);   /* some failed */
    ASSERT(dt < 30);        /* the hang was cut at its timeout */
    ASSERT_INT_EQ(mq_test_sh("grep -q '^\\[ FAIL \\] zz_forkcheck_crash .*crashed: signal 9' '%s/err'", t), 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q '^\\[ FAIL \\] zz_forkcheck_hang .*timed out after 1 s' '%s/err'", t), 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q '^\\[ FAIL \\] zz_forkcheck_exit .*exit status 7' '%s/err'", t), 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q '^\\[  OK  \\] zz_forkcheck_ok' '%s/err'", t), 0);
    ASSERT_INT_EQ(mq_test_sh("test \"$(tail -n 1 '%s/out')\" = '1 passed, 3 failed, 0 skipped'", t), 0);
}
