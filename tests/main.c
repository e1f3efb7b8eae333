/* main.c: the test runner. Runs every registered test (or those whose name contains one of
 * the arguments), each in order of registration, and prints "N passed, N failed, N skipped"
 * as its last line; exits 1 if any failed. */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct test_entry {
    const char *name, *file;
    mq_test_fn fn;
} test_entry;

static test_entry tests[1024];
static int n_tests;
static char tmp_root[256];
static int tmp_count;

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
    snprintf(dir, sizeof dir, "%s/t%d", tmp_root, ++tmp_count);
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
    if (tmp_root[0] && !getenv("MQ_KEEP_TMP")) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
    }
}

int main(int argc, char **argv)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/mqtest.XXXXXX");
    if (!mkdtemp(tmp_root)) { perror("mkdtemp"); return 1; }
    atexit(cleanup);
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        bool run = argc < 2;
        for (int a = 1; a < argc; a++) run |= strstr(tests[i].name, argv[a]) != NULL;
        if (!run) continue;
        mq_test_ctx ctx = {0, 0};
        double t0 = mq_now();
        fprintf(stderr, "[ RUN  ] %s\n", tests[i].name);
        tests[i].fn(&ctx);
        double dt = mq_now() - t0;
        if (ctx.failed) { failed++; fprintf(stderr, "[ FAIL ] %s (%.2fs)\n", tests[i].name, dt); }
        else if (ctx.skipped) { skipped++; fprintf(stderr, "[ SKIP ] %s\n", tests[i].name); }
        else { passed++; fprintf(stderr, "[  OK  ] %s (%.2fs)\n", tests[i].name, dt); }
    }
    fflush(stderr);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
