/* test_xp_params.c: mq_xp_analyze_params (src/xp/xp_params.c) gives byte for byte the JSON
 * and text of mq_xp_analyze with the same options set in the struct, and names bad
 * parameters. The statistics themselves are checked in test_xp.c and tests/ref/xp_ref.py. */
#include "../test.h"

#include <stdlib.h>

MQ_TEST(xp_analyze_params_equal_struct_options)
{
    char path[512];
    snprintf(path, sizeof path, "%s/units.csv", mq_test_tmpdir());
    FILE *f = fopen(path, "w");
    ASSERT(f != NULL);
    fprintf(f, "unit,variant,y,x,seg\n");
    mq_rng r;
    mq_rng_seed(&r, 5);
    for (int i = 0; i < 400; i++) {
        double x = 10 + 3 * mq_rng_normal(&r);
        fprintf(f, "u%d,%s,%.6f,%.6f,%s\n", i, i % 2 ? "B" : "A", 0.7 * x + mq_rng_normal(&r) + (i % 2) * 0.3,
                x, i % 3 ? "s1" : "s2");
    }
    fclose(f);
    mq_xp_analyze_opts o;
    mq_xp_analyze_opts_init(&o, sizeof o);
    o.look_every = 100;
    o.metrics[o.n_metrics++] = "y";
    o.metrics[o.n_metrics++] = "x";
    o.control = "A";
    o.covariate = "x";
    o.alpha = 0.1;
    o.quantiles[o.n_quantiles++] = 0.5;
    o.seed = 3;
    mq_err err = {0};
    char *js = NULL, *txt = NULL, *js2 = NULL, *txt2 = NULL;
    ASSERT_OK(mq_xp_analyze(path, &o, &js, &txt, NULL, &err), &err);
    const char *p[] = {"metric=y", "metric=x", "control=A", "covariate=x", "alpha=0.1",
                       "quantile=0.5", "seed=3"};
    int rc = mq_xp_analyze_params(path, p, 7, &js2, &txt2, NULL, &err);
    if (rc == 0) {
        ASSERT_STR_EQ(js2, js);
        ASSERT_STR_EQ(txt2, txt);
    }
    free(js);
    free(txt);
    free(js2);
    free(txt2);
    ASSERT_OK(rc, &err);

    struct { const char *p[3]; int n; const char *needle; } bad[] = {
        {{"metric=y", "control=A", "alpha=2"}, 3, "'alpha': '2'"},
        {{"metric=y", "control=A", "colour=red"}, 3, "unknown parameter 'colour'"},
        {{"metric=y", "control=A", "sequential=maybe"}, 3, "'maybe' is not true or false"},
        {{"metric=y", "control"}, 2, "'control' is not name=value"},
        {{"metric=y"}, 1, "'control' is required"},
        {{"control=A"}, 1, "'metric' is required"},
        {{"metric=y", "control=A", "experiment=e"}, 3, "'experiment' needs 'config'"},
        {{"metric=nope", "control=A"}, 2, "nope"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *j = NULL, *t = NULL;
        err = (mq_err){0};
        rc = mq_xp_analyze_params(path, bad[i].p, bad[i].n, &j, &t, NULL, &err);
        free(j);
        free(t);
        if (rc >= 0 || !strstr(err.msg, bad[i].needle))
            MQ_FAIL_("case %zu: rc %d, message \"%s\", expected \"%s\"", i, rc, err.msg, bad[i].needle);
    }
}
