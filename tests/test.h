/* test.h: the one test runner's registry and assertions.
 *
 * A test is `MQ_TEST(name) { ... }` in any file under tests/; a constructor registers it, so
 * adding a test is adding a function. Assertions print both sides and the location, mark the
 * test failed and return from it. MQ_SKIP("why") ends a test as skipped (e.g. a dataset in
 * ../shared/data is absent). The runner (tests/main.c) takes optional name-substring filters,
 * runs each test in a forked child with a timeout (MQ_TEST_TIMEOUT, default 300 s), and ends
 * with the line "N passed, N failed, N skipped".
 */
#ifndef MQ_TEST_H
#define MQ_TEST_H

#include "marquee.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct mq_test_ctx {
    int failed;
    int skipped;
} mq_test_ctx;

typedef void (*mq_test_fn)(mq_test_ctx *t_);
void mq_test_register(const char *name, const char *file, mq_test_fn fn);

#define MQ_TEST(name)                                                                   \
    static void test_##name(mq_test_ctx *t_);                                           \
    __attribute__((constructor)) static void register_##name(void)                      \
    {                                                                                   \
        mq_test_register(#name, __FILE__, test_##name);                                 \
    }                                                                                   \
    static void test_##name(mq_test_ctx *t_)

#define MQ_FAIL_(...)                                                                   \
    do {                                                                                \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                               \
        fprintf(stderr, __VA_ARGS__);                                                   \
        fputc('\n', stderr);                                                            \
        t_->failed = 1;                                                                 \
        return;                                                                         \
    } while (0)

#define ASSERT(c)                                                                       \
    do { if (!(c)) MQ_FAIL_("assertion failed: %s", #c); } while (0)
#define ASSERT_INT_EQ(a, b)                                                             \
    do {                                                                                \
        long long a_ = (long long)(a), b_ = (long long)(b);                             \
        if (a_ != b_) MQ_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);               \
    } while (0)
/* |a - b| <= tol, printing both sides with full precision. */
#define ASSERT_NEAR(a, b, tol)                                                          \
    do {                                                                                \
        double a_ = (double)(a), b_ = (double)(b), t__ = (double)(tol);                 \
        if (!(fabs(a_ - b_) <= t__))                                                    \
            MQ_FAIL_("%s ~ %s: %.12g vs %.12g (|diff| %.3g > tol %.3g)", #a, #b, a_, b_, \
                     fabs(a_ - b_), t__);                                               \
    } while (0)
#define ASSERT_STR_EQ(a, b)                                                             \
    do {                                                                                \
        const char *a_ = (a), *b_ = (b);                                                \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                          \
            MQ_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",           \
                     b_ ? b_ : "(null)");                                               \
    } while (0)
/* rc == 0, else print the mq_err message. */
#define ASSERT_OK(rc, errp)                                                             \
    do {                                                                                \
        int rc_ = (rc);                                                                 \
        if (rc_ != 0) MQ_FAIL_("%s failed: %d (%s)", #rc, rc_, (errp)->msg);            \
    } while (0)
/* 1 in a build under AddressSanitizer (make asan): tests that time a live server or link
 * an uninstrumented program against the build skip there, saying why. */
#if defined(__SANITIZE_ADDRESS__)
#define MQ_TEST_ASAN 1
#else
#define MQ_TEST_ASAN 0
#endif

#define MQ_SKIP(...)                                                                    \
    do {                                                                                \
        fprintf(stderr, "  skipped: ");                                                 \
        fprintf(stderr, __VA_ARGS__);                                                   \
        fputc('\n', stderr);                                                            \
        t_->skipped = 1;                                                                \
        return;                                                                         \
    } while (0)

/* Helpers for tests (tests/main.c). */
/* Path of a shared dataset file ("ml-100k/u.data") if ../shared/data holds it, else NULL.
 * MQ_SHARED_DATA overrides the folder. Returns a static buffer. */
const char *mq_test_shared(const char *rel);
/* A fresh empty temporary directory for this test (removed at exit). */
const char *mq_test_tmpdir(void);
/* A directory shared by every test of this run (tests run in separate processes, so a cache
 * kept in a static variable does not outlive its test): <run's tmp root>/cache-NAME, created
 * if needed. Returns a static buffer. */
const char *mq_test_cache_dir(const char *name);
/* Runs a shell command; returns its exit status (or -1). Output goes to the log. */
int mq_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The marquee binary under test ($MQ_BIN, default build/marquee). */
const char *mq_test_bin(void);

#endif
