/* test_eval_cli.c: `marquee eval` end to end.
 *
 * - Usage errors exit 2 with a message naming the option.
 * - On ml-100k (ratings >= 4, members with >= 5 positives, strong generalization, seed 98765):
 *   write the split, evaluate pop and EASE on it with `--split`, and have the independent numpy
 *   implementation (tests/ref/eval_ref.py split) recompute every ranking metric from the split
 *   files: popularity must agree exactly (ties by the lower title index), EASE within 1e-4
 *   (float32 Cholesky in C vs float64 inverse in numpy; at λ = 200 the scores differ by ~1e-6
 *   relative, which can swap near-ties only rarely: 1e-4 in any metric is the bound).
 */
#include "test.h"

#include <stdlib.h>

static int eval_available(void)
{
    /* A build without the data layer or the models says so and exits 1 (see cmd_eval.c). */
    int rc = mq_test_sh("%s eval --models pop --split /nonexistent-dir 2>&1 | "
                        "grep -q 'does not include'",
                        mq_test_bin());
    return rc != 0;
}

MQ_TEST(eval_cli_usage)
{
    const char *b = mq_test_bin();
    ASSERT_INT_EQ(mq_test_sh("%s eval --help | grep -q -- '--write-split'", b), 0);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x >/dev/null 2>&1", b), 2);   /* no --models */
    ASSERT_INT_EQ(mq_test_sh("%s eval --models pop >/dev/null 2>&1", b), 2);   /* no data */
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --models nosuch 2>&1 | grep -q \"unknown model 'nosuch'\"", b), 0);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --models pop --protocol weird >/dev/null 2>&1", b), 2);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --models pop --param lambda=3 2>&1 | grep -q 'MODEL.NAME=VALUE'", b), 0);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --models pop --param ease.lambda=3 2>&1 | grep -q \"'ease' is not in --models\"", b), 0);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --models pop --test-frac 1.5 >/dev/null 2>&1", b), 2);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --models pop --k 20,10 >/dev/null 2>&1", b), 2);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --split y --models pop >/dev/null 2>&1", b), 2);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --models pop --bogus >/dev/null 2>&1", b), 2);
}

MQ_TEST(eval_cli_ml100k_vs_numpy)
{
    const char *data = mq_test_shared("ml-100k/u.data");
    if (!data) MQ_SKIP("../shared/data/ml-100k is absent");
    if (!eval_available()) MQ_SKIP("this build lacks the data loaders or the models");
    const char *b = mq_test_bin(), *tmp = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("%s eval --data %s --protocol strong --seed 98765 --models pop "
                             "--write-split %s/split --threads 2 > %s/direct.txt",
                             b, data, tmp, tmp),
                  0);
    ASSERT_INT_EQ(mq_test_sh("%s eval --split %s/split --models pop,ease --param ease.lambda=200 "
                             "--json --threads 2 > %s/c.json",
                             b, tmp, tmp),
                  0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/eval_ref.py split %s/split %s/c.json "
                             "--lambda 200 --models pop,ease --tol-ease 1e-4",
                             tmp, tmp),
                  0);
    /* The split on disk is what the direct run used: same test members. */
    ASSERT_INT_EQ(mq_test_sh("test $(tail -n +2 %s/split/test_out.csv | cut -d, -f1 | sort -u | "
                             "wc -l) -gt 50",
                             tmp),
                  0);
}
