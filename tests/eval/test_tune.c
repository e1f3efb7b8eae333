/* test_tune.c: the tuning axes of mq_eval_tune_axes (defaults, --grid replacement, fixed
 * parameters dropped, bad specs) and mq_eval_tune's argument checks. The search itself, with
 * its edge extension, runs end to end in test_eval_cli.c (eval_cli_tune_extends_edge). */
#include "../test.h"

#include <stdlib.h>

MQ_TEST(eval_tune_axes)
{
    mq_tune_axis ax[MQ_TUNE_MAX_AXES];
    int n = -1;
    mq_err err = {0, ""};
    /* iALS defaults: factors, reg, alpha0 */
    ASSERT_OK(mq_eval_tune_axes("ials", NULL, 0, NULL, 0, ax, &n, &err), &err);
    ASSERT_INT_EQ(n, 3);
    ASSERT_STR_EQ(ax[0].name, "factors");
    ASSERT_INT_EQ(ax[0].n, 3);
    ASSERT_INT_EQ(ax[0].n_grid, 3);
    ASSERT_STR_EQ(ax[0].values[2], "256");
    ASSERT(ax[0].numeric);
    /* a grid replaces a default axis, a new name adds one, a fixed parameter drops one */
    const char *grids[] = {"reg=0.1,1", "solver=cg,exact"};
    const char *fixed[] = {"factors=32"};
    ASSERT_OK(mq_eval_tune_axes("ials", grids, 2, fixed, 1, ax, &n, &err), &err);
    ASSERT_INT_EQ(n, 3);
    ASSERT_STR_EQ(ax[0].name, "reg");
    ASSERT_INT_EQ(ax[0].n, 2);
    ASSERT_STR_EQ(ax[0].values[1], "1");
    ASSERT_STR_EQ(ax[1].name, "alpha0");
    ASSERT_STR_EQ(ax[2].name, "solver");
    ASSERT(!ax[2].numeric);   /* categorical: never extended */
    /* pop has no grid */
    ASSERT_OK(mq_eval_tune_axes("pop", NULL, 0, NULL, 0, ax, &n, &err), &err);
    ASSERT_INT_EQ(n, 0);
    /* bad specs */
    const char *bad1[] = {"lambda"}, *bad2[] = {"lambda=1,,2"}, *bad3[] = {"lambda=1,"};
    ASSERT_INT_EQ(mq_eval_tune_axes("ease", bad1, 1, NULL, 0, ax, &n, &err), MQ_EINVAL);
    ASSERT_INT_EQ(mq_eval_tune_axes("ease", bad2, 1, NULL, 0, ax, &n, &err), MQ_EINVAL);
    ASSERT_INT_EQ(mq_eval_tune_axes("ease", bad3, 1, NULL, 0, ax, &n, &err), MQ_EINVAL);
    ASSERT(strstr(err.msg, "ease.lambda"));
}

MQ_TEST(eval_tune_needs_validation_members)
{
    mq_tune_axis ax[MQ_TUNE_MAX_AXES];
    int n = 0;
    mq_err err = {0, ""};
    ASSERT_OK(mq_eval_tune_axes("ease", NULL, 0, NULL, 0, ax, &n, &err), &err);
    mq_eval_opts eo;
    mq_eval_opts_init(&eo, sizeof eo);
    mq_tune_opts o; mq_tune_opts_init(&o, sizeof o);
    o.kind = "ease"; o.metric = "ndcg@100"; o.max_extend = -1; o.eval = &eo;
    mq_heldout empty;
    memset(&empty, 0, sizeof empty);
    mq_dataset dummy;
    memset(&dummy, 0, sizeof dummy);
    mq_tune_result *res = calloc(1, sizeof *res);
    ASSERT(res);
    int rc = mq_eval_tune(&o, &dummy, &empty, ax, n, res, &err);
    free(res);
    ASSERT_INT_EQ(rc, MQ_EINVAL);
    ASSERT(strstr(err.msg, "validation members"));
}
