/* main.c: the test runner. Runs every registered test (or those whose name contains one of
 * the arguments), each in order of registration, and prints "N passed, N failed, N skipped"
 * as its last line; exits 1 if any failed.
 *
 * Isolation (as libuv's runner): each test runs in a forked child, in its own process group,
 * with a wall-clock limit (MQ_TEST_TIMEOUT seconds, default 300). A test that crashes, calls
 * exit, or hangs is reported as failed under its own name ("crashed: signal 11", "timed out
 * after 300 s", "exit status 23" for a sanitizer report at exit) and the next test still runs.
 * After each test the runner kills whatever is left in the child's process group (servers a
 * failed test did not stop). The child tells its outcome through its exit status: 0 passed,
 * 1 failed, 3 skipped. MQ_TEST_NOFORK=1 runs the tests in the runner's own process (for a
 * debugger); a crash then ends the run.
 *
 * Temporary files: one root directory per run (/tmp/mqtest.XXXXXX, removed at exit unless
 * MQ_KEEP_TMP is set). mq_test_tmpdir gives a fresh folder per call named after the test's
 * index and a per-test counter, so children never reuse each other's folders;
 * mq_test_cache_dir(name) is the same folder for every test of the run, for artifacts that
 * several tests share (the serve tests' trained models). */
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct test_entry {
    const char *name, *file;
    mq_test_fn fn;
} test_entry;

enum { CHILD_PASSED = 0, CHILD_FAILED = 1, CHILD_SKIPPED = 3 };

static test_entry tests[1024];
static int n_tests;
static char tmp_root[256];
static int tmp_count;
static int cur_test;                /* index of the running test (names its tmpdirs) */
static pid_t runner_pid;
static volatile pid_t child_pgid;   /* process group of the running child, 0 when none */

void mq_test_register(const char *name, const char *file, mq_test_fn fn)
{
    if (n_tests < (int)(sizeof tests / sizeof tests[0]))
        tests[n_tests++] = (test_entry){name, file, fn};
}

const char *mq_test_shared(const char *rel)
{
    static __thread char path[1024];
    const char *root = getenv("MQ_SHARED_DATA");
    snprintf(path, sizeof path, "%s/%s", root ? root : "../shared/data", rel);
    return access(path, R_OK) == 0 ? path : NULL;
}

const char *mq_test_tmpdir(void)
{
    static char dir[300];
    snprintf(dir, sizeof dir, "%s/t%d.%d", tmp_root, cur_test, ++tmp_count);
    mkdir(dir, 0755);
    return dir;
}

const char *mq_test_cache_dir(const char *name)
{
    static char dir[300];
    snprintf(dir, sizeof dir, "%s/cache-%s", tmp_root, name);
    mkdir(dir, 0755);
    return dir;
}

const char *mq_test_bin(void)
{
    const char *b = getenv("MQ_BIN");
    return b ? b : "build/marquee";
}

int mq_test_sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cleanup(void)
{
    if (getpid() != runner_pid) return;   /* a test's child exiting: the run goes on */
    if (tmp_root[0] && !getenv("MQ_KEEP_TMP")) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
    }
}

/* SIGINT/SIGTERM to the runner: take the running test's process group along, then exit
 * (atexit removes the temporary root). */
static void on_signal(int sig)
{
    if (child_pgid > 0) kill(-child_pgid, SIGKILL);
    signal(sig, SIG_DFL);
    exit(128 + sig);
}

static int run_inline(int i)
{
    mq_test_ctx ctx = {0, 0};
    tests[i].fn(&ctx);
    return ctx.failed ? CHILD_FAILED : ctx.skipped ? CHILD_SKIPPED : CHILD_PASSED;
}

/* Runs test i in a child; returns its CHILD_* outcome, or CHILD_FAILED with why[] set. */
static int run_forked(int i, double timeout, char *why, size_t why_cap)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_cap, "fork: %s", strerror(errno));
        return CHILD_FAILED;
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        int r = run_inline(i);
        fflush(stdout);
        exit(r);   /* exit, not _exit: sanitizers check for leaks at exit, per test */
    }
    setpgid(pid, pid);   /* also here, so the group exists before we might signal it */
    child_pgid = pid;
    double t0 = mq_now();
    int st = 0;
    bool timed_out = false;
    for (useconds_t nap = 1000;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) {
            snprintf(why, why_cap, "waitpid: %s", strerror(errno));
            child_pgid = 0;
            return CHILD_FAILED;
        }
        if (mq_now() - t0 > timeout) {
            timed_out = true;
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        usleep(nap);
        if (nap < 20000) nap *= 2;
    }
    kill(-pid, SIGKILL);   /* whatever the test left running (servers it did not stop) */
    child_pgid = 0;
    if (timed_out) {
        snprintf(why, why_cap, "timed out after %g s", timeout);
        return CHILD_FAILED;
    }
    if (WIFSIGNALED(st)) {
        snprintf(why, why_cap, "crashed: signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
        return CHILD_FAILED;
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code == CHILD_PASSED || code == CHILD_FAILED || code == CHILD_SKIPPED) return code;
    snprintf(why, why_cap, "exit status %d (the test exited, or a sanitizer reported at exit)", code);
    return CHILD_FAILED;
}

int main(int argc, char **argv)
{
    runner_pid = getpid();
    snprintf(tmp_root, sizeof tmp_root, "/tmp/mqtest.XXXXXX");
    if (!mkdtemp(tmp_root)) { perror("mkdtemp"); return 1; }
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    double timeout = 300;
    const char *te = getenv("MQ_TEST_TIMEOUT");
    if (te && (timeout = atof(te)) <= 0) {
        fprintf(stderr, "MQ_TEST_TIMEOUT: '%s' is not a positive number of seconds\n", te);
        return 2;
    }
    const char *nf = getenv("MQ_TEST_NOFORK");
    bool fork_tests = !(nf && nf[0] && strcmp(nf, "0") != 0);
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        bool run = argc < 2;
        for (int a = 1; a < argc; a++) run |= strstr(tests[i].name, argv[a]) != NULL;
        if (!run) continue;
        cur_test = i;
        tmp_count = 0;
        char why[256] = "";
        double t0 = mq_now();
        fprintf(stderr, "[ RUN  ] %s\n", tests[i].name);
        int r = fork_tests ? run_forked(i, timeout, why, sizeof why) : run_inline(i);
        double dt = mq_now() - t0;
        if (r == CHILD_FAILED) {
            failed++;
            fprintf(stderr, "[ FAIL ] %s (%.2fs)%s%s\n", tests[i].name, dt, why[0] ? ": " : "", why);
        } else if (r == CHILD_SKIPPED) {
            skipped++;
            fprintf(stderr, "[ SKIP ] %s\n", tests[i].name);
        } else {
            passed++;
            fprintf(stderr, "[  OK  ] %s (%.2fs)\n", tests[i].name, dt);
        }
    }
    fflush(stderr);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
