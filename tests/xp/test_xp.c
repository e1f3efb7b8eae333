/* test_xp.c: assignment, design, analysis and the simulation checks of the xp module.
 * Reference vectors are REFERENCES.md's "Experimentation statistics" section; randomized
 * agreement with scipy/statsmodels is tests/ref/xp_ref.py (run from here). Simulations are sized
 * to finish in a few seconds; bench/xp_sim.c runs them larger. */
#include "../test.h"
#include "core/core.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <unistd.h>

/* Runs analyze through the library on path and returns the parsed JSON (caller deletes). */
static cJSON *analyze(const char *path, mq_xp_analyze_opts *o, mq_err *err)
{
    char *js = NULL, *txt = NULL;
    if (mq_xp_analyze(path, o, &js, &txt, NULL, err)) return NULL;
    cJSON *doc = cJSON_Parse(js);
    if (strstr(js, ":nan") || strstr(js, ":-nan") || strstr(js, ":inf") || strstr(js, ":-inf") || strstr(js, "NaN")) { cJSON_Delete(doc); doc = NULL; snprintf(err->msg, sizeof err->msg, "NaN/inf in output"); }
    free(js);
    free(txt);
    return doc;
}

static double jget(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const cJSON *result(const cJSON *doc, const char *method)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "results")) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "method");
        if (cJSON_IsString(m) && !strcmp(m->valuestring, method)) return r;
    }
    return NULL;
}

MQ_TEST(xp_hash_reference_vectors)
{
    /* REFERENCES.md: GrowthBook v1, exact to the printed 3 decimals (buckets are thousandths). */
    ASSERT_NEAR(mq_xp_hash_v1("", "a"), 0.22, 1e-12);
    ASSERT_NEAR(mq_xp_hash_v1("", "b"), 0.077, 1e-12);
    ASSERT_NEAR(mq_xp_hash_v1("b", "a"), 0.946, 1e-12);
    ASSERT_NEAR(mq_xp_hash_v1("ef", "d"), 0.652, 1e-12);
    ASSERT_NEAR(mq_xp_hash_v1("", "123"), 0.011, 1e-12);
    ASSERT_INT_EQ(mq_xp_fnv1a32("", 0), 0x811c9dc5u);
}

MQ_TEST(xp_assign_layers_weights_coverage)
{
    const char *js =
        "{\"experiments\":[{\"name\":\"rows\",\"layer\":\"home\",\"variants\":[\"A\",\"B\"],\"weights\":[0.2,0.8]},"
        "{\"name\":\"art\",\"layer\":\"home\",\"variants\":[\"A\",\"B\",\"C\"],\"coverage\":0.5},"
        "{\"name\":\"solo\",\"variants\":[\"x\",\"y\"]}]}";
    mq_xp_config cfg;
    mq_err err = {0};
    ASSERT_OK(mq_xp_config_parse(js, strlen(js), "t.json", &cfg, &err), &err);
    ASSERT_INT_EQ(cfg.n, 3);
    int in_rows = 0, in_art = 0, both = 0, rowsB = 0, artv[3] = {0};
    char id[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof id, "member-%d", i);
        mq_xp_assignment a, b, c2;
        ASSERT_OK(mq_xp_assign(&cfg.exps[0], id, 0, &a), &err);
        ASSERT_OK(mq_xp_assign(&cfg.exps[1], id, 0, &b), &err);
        ASSERT_OK(mq_xp_assign(&cfg.exps[2], id, 0, &c2), &err);
        ASSERT(c2.in_experiment);              /* no layer, full coverage */
        in_rows += a.in_experiment;
        in_art += b.in_experiment;
        both += a.in_experiment && b.in_experiment;
        rowsB += a.in_experiment && a.variant == 1;
        if (b.in_experiment) artv[b.variant]++;
        /* deterministic */
        mq_xp_assignment again;
        mq_xp_assign(&cfg.exps[0], id, 0, &again);
        ASSERT_INT_EQ(again.variant, a.variant);
    }
    ASSERT_INT_EQ(both, 0);                    /* mutually exclusive within the layer */
    /* binomial sd of each share is < 0.005 here; 0.02 is 4+ sd */
    ASSERT_NEAR(in_rows / 20000.0, 0.5, 0.02);
    ASSERT_NEAR(in_art / 20000.0, 0.25, 0.02);  /* half the layer x coverage 0.5 */
    ASSERT_NEAR((double)rowsB / in_rows, 0.8, 0.02);
    for (int v = 0; v < 3; v++) ASSERT_NEAR((double)artv[v] / in_art, 1.0 / 3, 0.03);
    mq_xp_config_release(&cfg);
}

MQ_TEST(xp_config_errors_name_the_field)
{
    struct { const char *js, *want; } cases[] = {
        {"{\"name\":\"e\",\"variants\":[\"A\",\"B\"],\"weights\":[0.5,0.4]}", "field 'weights': sum is 0.9"},
        {"{\"name\":\"e\",\"variants\":[\"A\"]}", "field 'variants'"},
        {"{\"name\":\"e\",\"variants\":[\"A\",\"B\"],\"wieghts\":[1,0]}", "unknown field 'wieghts'"},
        {"{\"name\":\"e\",\"variants\":[\"A\",\"B\"],\"coverage\":1.5}", "field 'coverage'"},
        {"{\"name\":\"e\",\"variants\":[\"A\",\"B\"],\"start\":\"tomorrow\"}", "field 'start'"},
        {"{\"name\":\"e\",\"variants\":[\"A\",\"B\"],\"guardrails\":[{\"metric\":\"m\"}]}", "'max_degradation' is missing"},
        {"{\"experiments\":[{\"name\":\"a\",\"layer\":\"L\",\"layer_range\":[0,0.6],\"variants\":[\"A\",\"B\"]},"
         "{\"name\":\"b\",\"layer\":\"L\",\"layer_range\":[0.5,1],\"variants\":[\"A\",\"B\"]}]}", "overlapping"},
        {"{\"name\":\"e\",", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mq_xp_config cfg;
        mq_err err = {0};
        int rc = mq_xp_config_parse(cases[i].js, strlen(cases[i].js), "xp.json", &cfg, &err);
        if (rc == 0 || !strstr(err.msg, cases[i].want) || !strstr(err.msg, "xp.json"))
            MQ_FAIL_("case %zu: rc %d, message '%s', wanted '%s'", i, rc, err.msg, cases[i].want);
    }
}

MQ_TEST(xp_design_reference)
{
    mq_xp_design_in in; mq_xp_design_in_init(&in, sizeof in);
    in.sd = 1; in.mde = 0.02; in.alpha = 0.05; in.power = 0.8;
    mq_xp_design_out out;
    mq_err err = {0};
    ASSERT_OK(mq_xp_design(&in, &out, &err), &err);
    ASSERT_NEAR(out.n_exact, 39244.4, 0.05);   /* printed to 0.1 */
    ASSERT_INT_EQ(out.n_per_arm, 39245);
    mq_xp_design_in r; mq_xp_design_in_init(&r, sizeof r);
    r.baseline_rate = 0.1; r.mde = 0.01; r.alpha = 0.05; r.power = 0.8;
    ASSERT_OK(mq_xp_design(&r, &out, &err), &err);
    ASSERT_INT_EQ((long long)floor(out.n_exact + 0.5), 14748);   /* printed as 14,748 (14748.05) */
    r.relative = true;
    r.mde = 0.1;                                                  /* 10% -> 11% */
    ASSERT_OK(mq_xp_design(&r, &out, &err), &err);
    ASSERT_INT_EQ((long long)floor(out.n_exact + 0.5), 14748);
    /* MDE for n inverts the sample size */
    mq_xp_design_in m; mq_xp_design_in_init(&m, sizeof m);
    m.sd = 1; m.n = 39244.39867174544; m.alpha = 0.05; m.power = 0.8;
    ASSERT_OK(mq_xp_design(&m, &out, &err), &err);
    ASSERT_NEAR(out.mde_abs, 0.02, 1e-9);
    mq_xp_design_in rn; mq_xp_design_in_init(&rn, sizeof rn);
    rn.baseline_rate = 0.1; rn.n = 14748.045020841937; rn.alpha = 0.05; rn.power = 0.8;
    ASSERT_OK(mq_xp_design(&rn, &out, &err), &err);
    ASSERT_NEAR(out.mde_abs, 0.01, 1e-9);
    /* CUPED halves n at r2 = 0.5; 3 arms: Bonferroni alpha / 2; duration */
    mq_xp_design_in c; mq_xp_design_in_init(&c, sizeof c);
    c.sd = 1; c.mde = 0.02; c.alpha = 0.05; c.power = 0.8; c.variance_reduction = 0.5; c.arms = 3;
    c.daily_traffic = 10000;
    ASSERT_OK(mq_xp_design(&c, &out, &err), &err);
    double z = mq_stats_norm_ppf(1 - 0.0125) + mq_stats_norm_ppf(0.8);
    ASSERT_NEAR(out.n_exact, z * z * 2 / 0.0004 * 0.5, 1e-6);
    ASSERT_NEAR(out.days, (double)out.n_total / 10000, 1e-12);
    mq_xp_design_in bad; mq_xp_design_in_init(&bad, sizeof bad);
    bad.sd = 1; bad.mde = 0.02; bad.alpha = 1.5; bad.power = 0.8;
    ASSERT(mq_xp_design(&bad, &out, &err) == MQ_EINVAL && strstr(err.msg, "alpha"));
}

/* Writes n values with exactly the given sum and sum of squares: n - 2 at the mean, and two
 * values that fix the second moment. */
static void arm_with_moments(FILE *f, const char *arm, int n, double sum, double sumsq)
{
    double m = sum / n, rest = sum - (n - 2) * m, rq = sumsq - (n - 2) * m * m;
    /* a + b = rest, a^2 + b^2 = rq */
    double d = sqrt(2 * rq - rest * rest);
    double a = 0.5 * (rest + d), b = 0.5 * (rest - d);
    for (int i = 0; i < n - 2; i++) fprintf(f, "%s,%.17g\n", arm, m);
    fprintf(f, "%s,%.17g\n%s,%.17g\n", arm, a, arm, b);
}

MQ_TEST(xp_welch_srm_reference)
{
    char path[512];
    snprintf(path, sizeof path, "%s/welch.csv", mq_test_tmpdir());
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fprintf(f, "variant,m\n");
    arm_with_moments(f, "A", 3407, 1396.87, 52377.9767);
    arm_with_moments(f, "B", 3461, 2422.7, 134698.29);
    fclose(f);
    mq_xp_analyze_opts o; mq_xp_analyze_opts_init(&o, sizeof o);
    o.metrics[0] = "m"; o.n_metrics = 1; o.control = "A";
    mq_err err = {0};
    cJSON *doc = analyze(path, &o, &err);
    ASSERT(doc);
    const cJSON *r = result(doc, "welch");
    ASSERT(r);
    /* REFERENCES.md, printed precision: 0.29, se 0.12478, CI (0.04538, 0.53462), p 0.02016
     * (scipy 0.020158); relative 0.70732, CI (-0.03526, 1.44989), p 0.06191. */
    ASSERT_NEAR(jget(r, "effect"), 0.29, 1e-9);
    ASSERT_NEAR(jget(r, "se"), 0.12478, 5e-6);
    ASSERT_NEAR(jget(r, "ci_low"), 0.04538, 5e-6);
    ASSERT_NEAR(jget(r, "ci_high"), 0.53462, 5e-6);
    ASSERT_NEAR(jget(r, "p_value"), 0.020158, 5e-7);
    ASSERT_NEAR(jget(r, "relative_effect"), 0.70732, 5e-6);
    /* The delta-method se with the Welch t quantile (df 5841.7), as the reference does. */
    ASSERT_NEAR(jget(r, "relative_ci_low"), -0.03526, 5e-6);
    ASSERT_NEAR(jget(r, "relative_ci_high"), 1.44989, 5e-6);
    ASSERT_NEAR(jget(r, "relative_p_value"), 0.06191, 5e-6);
    cJSON_Delete(doc);

    /* SRM: 5000 vs 5100 at 50/50 -> p = 0.31972 */
    snprintf(path, sizeof path, "%s/srm.csv", mq_test_tmpdir());
    f = fopen(path, "w");
    fprintf(f, "variant,m\n");
    for (int i = 0; i < 10100; i++) fprintf(f, "%s,%d\n", i < 5000 ? "A" : "B", i % 7);
    fclose(f);
    mq_xp_analyze_opts o2; mq_xp_analyze_opts_init(&o2, sizeof o2);
    o2.metrics[0] = "m"; o2.n_metrics = 1; o2.control = "A"; o2.n_weights = 2;
    strcpy(o2.weight_names[0], "A"); strcpy(o2.weight_names[1], "B"); o2.weights[0] = o2.weights[1] = 0.5;
    doc = analyze(path, &o2, &err);
    ASSERT(doc);
    const cJSON *srm = cJSON_GetObjectItemCaseSensitive(doc, "srm");
    ASSERT_NEAR(jget(srm, "p_value"), 0.31972, 5e-6);
    cJSON_Delete(doc);

    /* a failing SRM marks everything untrustworthy and the decision says so */
    o2.weights[0] = 0.4;
    o2.weights[1] = 0.6;
    doc = analyze(path, &o2, &err);
    ASSERT(doc);
    ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(doc, "trustworthy")));
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(doc, "decision");
    ASSERT(strstr(cJSON_GetObjectItemCaseSensitive(dec, "reason")->valuestring, "sample ratio mismatch"));
    cJSON_Delete(doc);
}

MQ_TEST(xp_msprt_reference)
{
    /* REFERENCES.md: sigma^2 = 1, tau^2 = 0.01, n = 10,000 per arm, theta = 0.05 -> 64.17,
     * p <= 0.01558. v = 2 sigma^2 / n. */
    double lam = mq_xp_msprt_lambda(0.05, 2.0 / 10000, 0.01);
    ASSERT_NEAR(lam, 64.17, 0.005);
    ASSERT_NEAR(1 / lam, 0.01558, 5e-6);
    /* the confidence sequence's edge has Lambda = 1/alpha exactly */
    double v = 2.0 / 10000, hw = mq_xp_msprt_halfwidth(v, 0.01, 0.05);
    ASSERT_NEAR(mq_xp_msprt_lambda(hw, v, 0.01), 20, 1e-9);
}

/* p-value of the library's Welch test (the code analyze runs) from sums: s = {nA, sumA,
 * sumsqA, nB, sumB, sumsqB}. */
static double welch_p(const double *s, int n)
{
    (void)n;
    mq_xp_arm a = {s[0], s[1] / s[0], (s[2] - s[1] * s[1] / s[0]) / (s[0] - 1)};
    mq_xp_arm b = {s[3], s[4] / s[3], (s[5] - s[4] * s[4] / s[3]) / (s[3] - 1)};
    mq_xp_effect e;
    if (mq_xp_welch(&a, &b, 0.05, &e) || !e.estimable) return 1;
    return e.p_value;
}

MQ_TEST(xp_simulation_aa_fpr_and_power)
{
    /* 10,000 A/A Welch tests of 50 vs 50 normal units at alpha 0.05: the false-positive rate's
     * binomial sd is 0.22 points, so [4.5%, 5.5%] is a 2.3-sd band around 5% (fixed seed). */
    mq_rng rng;
    mq_rng_seed(&rng, 42);
    int fp = 0;
    for (int t = 0; t < 10000; t++) {
        double s[6] = {50, 0, 0, 50, 0, 0};
        for (int i = 0; i < 50; i++) { double x = mq_rng_normal(&rng); s[1] += x; s[2] += x * x; }
        for (int i = 0; i < 50; i++) { double x = mq_rng_normal(&rng); s[4] += x; s[5] += x * x; }
        fp += welch_p(s, 50) < 0.05;
    }
    double fpr = fp / 10000.0;
    if (!(fpr >= 0.045 && fpr <= 0.055)) MQ_FAIL_("A/A false-positive rate %.4f outside [0.045, 0.055]", fpr);
    /* power: design's n for delta = 0.25 sd at 80% power; 4000 simulated tests (sd of the
     * estimate 0.63 points) must land within 2 points of 0.80. */
    mq_xp_design_in in; mq_xp_design_in_init(&in, sizeof in);
    in.sd = 1; in.mde = 0.25; in.alpha = 0.05; in.power = 0.8;
    mq_xp_design_out out;
    mq_err err = {0};
    ASSERT_OK(mq_xp_design(&in, &out, &err), &err);
    int n = (int)out.n_per_arm, hit = 0;
    for (int t = 0; t < 4000; t++) {
        double s[6] = {n, 0, 0, n, 0, 0};
        for (int i = 0; i < n; i++) { double x = mq_rng_normal(&rng); s[1] += x; s[2] += x * x; }
        for (int i = 0; i < n; i++) { double x = mq_rng_normal(&rng) + 0.25; s[4] += x; s[5] += x * x; }
        hit += welch_p(s, n) < 0.05;
    }
    double power = hit / 4000.0;
    if (fabs(power - 0.8) > 0.02) MQ_FAIL_("achieved power %.4f vs designed 0.80 (n %d per arm)", power, n);
}

MQ_TEST(xp_simulation_msprt_vs_peeking)
{
    /* 1000 A/A experiments of up to 2000 units per arm, a look after every 100 units per arm:
     * mSPRT (tau = 0.1 sd, sigma estimated) must keep the FPR <= 5%; the naive t-test at every
     * look visibly exceeds it (theory: ~20% for 20 looks). */
    mq_rng rng;
    mq_rng_seed(&rng, 7);
    int fp_m = 0, fp_n = 0, sims = 1000;
    for (int t = 0; t < sims; t++) {
        double s[6] = {0, 0, 0, 0, 0, 0};
        bool hit_m = false, hit_n = false;
        for (int look = 1; look <= 20; look++) {
            for (int i = 0; i < 100; i++) {
                double a = mq_rng_normal(&rng), b = mq_rng_normal(&rng);
                s[0]++; s[1] += a; s[2] += a * a; s[3]++; s[4] += b; s[5] += b * b;
            }
            double mA = s[1] / s[0], mB = s[4] / s[3];
            double v = (s[2] - s[0] * mA * mA) / (s[0] - 1) / s[0] + (s[5] - s[3] * mB * mB) / (s[3] - 1) / s[3];
            if (mq_xp_msprt_lambda(mB - mA, v, 0.01) >= 20) hit_m = true;
            if (welch_p(s, 0) < 0.05) hit_n = true;
        }
        fp_m += hit_m;
        fp_n += hit_n;
    }
    double fm = (double)fp_m / sims, fn = (double)fp_n / sims;
    if (!(fm <= 0.05)) MQ_FAIL_("mSPRT FPR under peeking %.3f > 0.05", fm);
    if (!(fn >= 0.12)) MQ_FAIL_("naive peeking FPR %.3f does not exceed alpha visibly", fn);
}

MQ_TEST(xp_cuped_variance_reduction_matches_rho2)
{
    /* y = rho x + sqrt(1 - rho^2) e with rho = 0.7: reduction rho^2 = 0.49. With 20,000 units
     * the sample rho^2 has sd ~0.005; 0.02 is 4 sd. */
    char path[512];
    snprintf(path, sizeof path, "%s/cuped.csv", mq_test_tmpdir());
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fprintf(f, "unit,variant,y,pre\n");
    mq_rng rng;
    mq_rng_seed(&rng, 3);
    for (int i = 0; i < 20000; i++) {
        double x = mq_rng_normal(&rng), y = 0.7 * x + sqrt(1 - 0.49) * mq_rng_normal(&rng);
        fprintf(f, "u%d,%s,%.12g,%.12g\n", i, i % 2 ? "B" : "A", y, x);
    }
    fclose(f);
    mq_xp_analyze_opts o; mq_xp_analyze_opts_init(&o, sizeof o);
    o.metrics[0] = "y"; o.n_metrics = 1; o.control = "A"; o.covariate = "pre";
    mq_err err = {0};
    cJSON *doc = analyze(path, &o, &err);
    ASSERT(doc);
    const cJSON *r = result(doc, "cuped");
    ASSERT(r);
    ASSERT_NEAR(jget(r, "variance_reduction"), 0.49, 0.02);
    cJSON_Delete(doc);
}

MQ_TEST(xp_bad_input_clear_errors_never_nan)
{
    const char *dir = mq_test_tmpdir();
    char path[512];
    mq_err err = {0};
    mq_xp_analyze_opts o; mq_xp_analyze_opts_init(&o, sizeof o);
    o.metrics[0] = "m"; o.n_metrics = 1; o.control = "A";
    char *js, *txt;
    /* missing column */
    snprintf(path, sizeof path, "%s/a.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "unit,variant,x\n1,A,2\n");
    fclose(f);
    ASSERT(mq_xp_analyze(path, &o, &js, &txt, NULL, &err) == MQ_EFORMAT);
    ASSERT(strstr(err.msg, "a.csv:1: column 'm' not found"));
    /* non-numeric value: file:line, column, value */
    f = fopen(path, "w");
    fprintf(f, "unit,variant,m\n1,A,2\n2,B,3\n3,B,abc\n");
    fclose(f);
    ASSERT(mq_xp_analyze(path, &o, &js, &txt, NULL, &err) == MQ_EFORMAT);
    ASSERT(strstr(err.msg, "a.csv:4: column 'm': 'abc' is not a number"));
    /* variant not in the configured weights */
    f = fopen(path, "w");
    fprintf(f, "unit,variant,m\n1,A,2\n2,C,3\n");
    fclose(f);
    mq_xp_analyze_opts ow = o;
    ow.n_weights = 2;
    strcpy(ow.weight_names[0], "A");
    strcpy(ow.weight_names[1], "B");
    ow.weights[0] = ow.weights[1] = 0.5;
    ASSERT(mq_xp_analyze(path, &ow, &js, &txt, NULL, &err) == MQ_EFORMAT);
    ASSERT(strstr(err.msg, "a.csv:3: column 'variant': 'C' is not a variant"));
    /* empty arm (B configured, no rows) and zero variance: explicit, never NaN */
    f = fopen(path, "w");
    fprintf(f, "unit,variant,m,z\n1,A,2,5\n2,A,3,5\n3,C,3,5\n4,C,4,5\n");
    fclose(f);
    ow.n_weights = 3;
    strcpy(ow.weight_names[2], "C");
    ow.weights[0] = ow.weights[1] = ow.weights[2] = 1.0 / 3;
    ow.metrics[1] = "z";
    ow.n_metrics = 2;
    ow.sequential = true;
    ow.look_every = 1;
    ow.mann_whitney = true;
    ow.bootstrap = true;
    ow.n_quantiles = 1;
    ow.quantiles[0] = 0.9;
    ASSERT_OK(mq_xp_analyze(path, &ow, &js, &txt, NULL, &err), &err);
    ASSERT(!strstr(js, "nan") && !strstr(js, "NaN") && !strstr(js, ":inf") && !strstr(js, ":-inf"));
    ASSERT(strstr(js, "arm 'B' has 0 units"));
    ASSERT(strstr(js, "zero variance in both arms"));
    ASSERT(strstr(txt, "not estimable"));
    cJSON *doc = cJSON_Parse(js);
    ASSERT(doc);
    cJSON_Delete(doc);
    free(js);
    free(txt);
    /* CLI: exit 2 on usage errors, 1 on data errors */
    ASSERT_INT_EQ(mq_test_sh("%s xp analyze %s --control A >/dev/null 2>&1", mq_test_bin(), path), 2);
    ASSERT_INT_EQ(mq_test_sh("%s xp analyze %s/none.csv --metric m --control A >/dev/null 2>&1", mq_test_bin(), dir), 1);
    ASSERT_INT_EQ(mq_test_sh("%s xp design --sd 1 --mde 0.02 --alpha 0.05 --power 0.8 --json | grep -q '\"n_per_arm\":39245'", mq_test_bin()), 0);
}

MQ_TEST(xp_segments_novelty_decision)
{
    /* segment effects differ (0 vs 1): Cochran's Q must flag heterogeneity; the effect grows by
     * 0.1 per day: the novelty trend must be significant; guardrail violated -> don't ship. */
    char path[512];
    snprintf(path, sizeof path, "%s/seg.csv", mq_test_tmpdir());
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fprintf(f, "unit,variant,y,g,seg,day\n");
    mq_rng rng;
    mq_rng_seed(&rng, 5);
    for (int i = 0; i < 8000; i++) {
        int b = i % 2, s = (i / 2) % 2, d = (i / 4) % 10;
        double y = mq_rng_normal(&rng) + b * (s ? 1.0 : 0.0) + b * 0.1 * d;
        double g = 10 + mq_rng_normal(&rng) - b * 2;   /* guardrail drops 20% */
        fprintf(f, "u%d,%s,%.10g,%.10g,%s,%d\n", i, b ? "B" : "A", y, g, s ? "tv" : "mobile", d);
    }
    fclose(f);
    mq_xp_analyze_opts o; mq_xp_analyze_opts_init(&o, sizeof o);
    o.metrics[0] = "y"; o.n_metrics = 1; o.control = "A"; o.segment = "seg"; o.day = "day";
    o.n_guardrails = 1;
    strcpy(o.guardrails[0].metric, "g");
    o.guardrails[0].max_degradation = 0.05;
    o.guardrails[0].relative = true;
    o.guardrails[0].direction = MQ_XP_HIGHER_IS_BETTER;
    mq_err err = {0};
    cJSON *doc = analyze(path, &o, &err);
    if (!doc) MQ_FAIL_("analyze: %s", err.msg);
    const cJSON *seg = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "segments"), 0);
    ASSERT(seg);
    ASSERT(jget(cJSON_GetObjectItemCaseSensitive(seg, "heterogeneity"), "p_value") < 1e-6);
    const cJSON *nov = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "novelty"), 0);
    ASSERT(nov);
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(nov, "trend");
    ASSERT_NEAR(jget(tr, "slope_per_day"), 0.1, 0.03);
    ASSERT(jget(tr, "p_value") < 1e-4);
    ASSERT(result(doc, "poststrat"));
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(doc, "decision");
    ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(dec, "action")->valuestring, "don't ship");
    ASSERT(strstr(cJSON_GetObjectItemCaseSensitive(dec, "reason")->valuestring, "guardrail 'g'"));
    cJSON_Delete(doc);
}

MQ_TEST(xp_reference_scipy_statsmodels)
{
    /* Welch, z-test, Mann-Whitney, CUPED (OLS), paired t, SRM, ratio, Holm/BH, two threads vs one,
     * segments + Cochran Q (combine_effects), post-stratification, novelty WLS slope; 12 random
     * datasets to 1e-9 relative (tests/ref/xp_ref.py exits non-zero on any mismatch). */
    if (access("/usr/bin/python3", X_OK) != 0) MQ_SKIP("/usr/bin/python3 not installed");
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_ref.py %s %s 12", mq_test_bin(), mq_test_tmpdir()), 0);
}

MQ_TEST(xp_paired_abr_sessions)
{
    /* The ABR module's sessions CSV (one row per (trace, algorithm)) analysed paired by trace:
     * REFERENCES.md's 142 test traces give buffer-based 30.04 and robustMPC 41.19 mean QoE_lin. */
    char tr[1024], vi[1024], csv[512];
    const char *p = mq_test_shared("abr-traces/test_cooked_traces");   /* a static buffer */
    if (!p) MQ_SKIP("../shared/data/abr-traces is absent");
    snprintf(tr, sizeof tr, "%s", p);
    p = mq_test_shared("abr-traces/video_sizes");
    if (!p) MQ_SKIP("../shared/data/abr-traces is absent");
    snprintf(vi, sizeof vi, "%s", p);
    snprintf(csv, sizeof csv, "%s/sessions.csv", mq_test_tmpdir());
    if (mq_test_sh("%s abr --traces %s --video %s --algo bb,robustmpc --sessions-csv %s >/dev/null 2>&1",
                   mq_test_bin(), tr, vi, csv) != 0)
        MQ_SKIP("marquee abr is not available in this build");
    mq_xp_analyze_opts o; mq_xp_analyze_opts_init(&o, sizeof o);
    o.metrics[0] = "qoe"; o.n_metrics = 1; o.control = "bb"; o.pair = "unit";
    mq_err err = {0};
    cJSON *doc = analyze(csv, &o, &err);
    if (!doc) MQ_FAIL_("analyze: %s", err.msg);
    const cJSON *r = result(doc, "paired");
    ASSERT(r);
    const cJSON *mean = cJSON_GetObjectItemCaseSensitive(r, "mean");
    ASSERT_NEAR(cJSON_GetArrayItem(mean, 0)->valuedouble, 30.04, 0.005);
    ASSERT_NEAR(cJSON_GetArrayItem(mean, 1)->valuedouble, 41.19, 0.005);
    ASSERT_NEAR(jget(r, "pairs"), 142, 0);
    ASSERT(jget(r, "p_value") < 1e-6);
    cJSON_Delete(doc);
}

MQ_TEST(xp_cli_config_sequential_group_sequential)
{
    /* The CLI with a config (weights, primary metric, MDE, guardrail), --sequential and a
     * group-sequential look: the JSON carries the always-valid p-value (>= the fixed-horizon one
     * here, since it pays for peeking), a confidence sequence containing the CI's centre, and
     * the O'Brien-Fleming bound of look 2 of 5 (3.226). */
    const char *dir = mq_test_tmpdir();
    char cfg[512], csv[512], out[512];
    snprintf(cfg, sizeof cfg, "%s/xp.json", dir);
    snprintf(csv, sizeof csv, "%s/d.csv", dir);
    snprintf(out, sizeof out, "%s/o.json", dir);
    FILE *f = fopen(cfg, "w");
    ASSERT(f);
    fprintf(f, "{\"name\":\"e\",\"variants\":[\"A\",\"B\"],\"weights\":[0.5,0.5],\"primary_metric\":\"y\","
               "\"mde\":0.5,\"guardrails\":[{\"metric\":\"g\",\"max_degradation\":0.1,\"higher_is_better\":true}]}");
    fclose(f);
    f = fopen(csv, "w");
    fprintf(f, "unit,variant,y,g\n");
    mq_rng rng;
    mq_rng_seed(&rng, 11);
    for (int i = 0; i < 4000; i++)
        fprintf(f, "%d,%s,%.10g,%.10g\n", i, i % 2 ? "B" : "A", mq_rng_normal(&rng) + (i % 2) * 0.15, 5 + mq_rng_normal(&rng));
    fclose(f);
    ASSERT_INT_EQ(mq_test_sh("%s xp analyze %s --config %s --control A --sequential --gs-looks 5 --gs-look 2 --json > %s",
                             mq_test_bin(), csv, cfg, out), 0);
    f = fopen(out, "r");
    ASSERT(f);
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *doc = cJSON_Parse(buf);
    ASSERT(doc);
    const cJSON *r = result(doc, "welch");
    ASSERT(r);
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(r, "sequential");
    ASSERT(seq);
    ASSERT(jget(seq, "always_valid_p_value") >= jget(r, "p_value"));
    ASSERT(jget(seq, "cs_low") <= jget(r, "effect") && jget(r, "effect") <= jget(seq, "cs_high"));
    ASSERT_NEAR(jget(seq, "tau"), 0.5, 1e-12);             /* the config's absolute MDE */
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(r, "group_sequential");
    ASSERT(gs);
    ASSERT_NEAR(jget(gs, "bound"), 3.226, 5e-4);
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(doc, "decision");
    ASSERT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(dec, "guardrails")) == 1);
    ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "trustworthy")));
    cJSON_Delete(doc);
    /* the table mentions the always-valid p-value, and usage errors exit 2 */
    ASSERT_INT_EQ(mq_test_sh("%s xp analyze %s --config %s --control A --sequential | grep -q 'always-valid p='",
                             mq_test_bin(), csv, cfg), 0);
    ASSERT_INT_EQ(mq_test_sh("%s xp analyze %s --metric y --control A --weights A=0.5 >/dev/null 2>&1", mq_test_bin(), csv), 2);
    ASSERT_INT_EQ(mq_test_sh("%s xp assign --config %s --member u1 --json | grep -q '\"in_experiment\":true'", mq_test_bin(), cfg), 0);
    ASSERT_INT_EQ(mq_test_sh("%s xp bounds --looks 5 --type pocock --json | grep -q '2.4131'", mq_test_bin()), 0);
}

MQ_TEST(xp_welch_api_reference)
{
    /* REFERENCES.md's Welch vector straight from its sufficient statistics. */
    mq_xp_arm a = {3407, 1396.87 / 3407, (52377.9767 - 1396.87 * 1396.87 / 3407) / 3406};
    mq_xp_arm b = {3461, 2422.7 / 3461, (134698.29 - 2422.7 * 2422.7 / 3461) / 3460};
    mq_xp_effect e;
    ASSERT_INT_EQ(mq_xp_welch(&a, &b, 0.05, &e), 0);
    ASSERT(e.estimable && e.rel_estimable);
    ASSERT_NEAR(e.effect, 0.29, 1e-12);
    ASSERT_NEAR(e.se, 0.12478, 5e-6);
    ASSERT_NEAR(e.ci_low, 0.04538, 5e-6);
    ASSERT_NEAR(e.ci_high, 0.53462, 5e-6);
    ASSERT_NEAR(e.p_value, 0.020158, 5e-7);
    ASSERT_NEAR(e.rel, 0.70732, 5e-6);
    ASSERT_NEAR(e.rel_ci_low, -0.03526, 5e-6);
    ASSERT_NEAR(e.rel_ci_high, 1.44989, 5e-6);
    ASSERT_NEAR(e.rel_p_value, 0.06191, 5e-6);
    mq_xp_arm z = {10, 1, 0};
    ASSERT_INT_EQ(mq_xp_welch(&z, &z, 0.05, &e), 0);
    ASSERT(!e.estimable && strstr(e.reason, "zero variance"));
    ASSERT_INT_EQ(mq_xp_welch(&a, &b, 1.5, &e), MQ_EINVAL);
}

/* ---- fuzz regressions (fuzz/fuzz_xp_csv.c, fuzz/fuzz_xp_config.c; inputs in tests/fixtures/fuzz) ---- */

/* A metric value of 3e19 (beyond int64) reached mq_buf_json_num, whose integer test cast it to
 * int64 before checking the range: undefined behaviour. The input, with a segment column, must
 * analyse (or fail with a message) and print the large numbers as numbers. */
MQ_TEST(xp_fuzz_huge_value_in_json)
{
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_json_num(&b, 3.2e38);
    mq_buf_putc(&b, ' ');
    mq_buf_json_num(&b, -9.5e18);
    mq_buf_putc(&b, '\0');
    ASSERT(b.p != NULL);
    ASSERT_STR_EQ(b.p, "3.2e+38 -9.5e+18");
    mq_buf_release(&b);

    /* The fuzzer's input: byte 0 picks the options (3: --segment s), the rest is the CSV. */
    FILE *f = fopen("tests/fixtures/fuzz/xp_csv_huge_number", "rb");
    ASSERT(f != NULL);
    char raw[4096];
    size_t n = fread(raw, 1, sizeof raw, f);
    fclose(f);
    ASSERT(n > 1 && raw[0] == 3);
    char path[4096];
    snprintf(path, sizeof path, "%s/huge.csv", mq_test_tmpdir());
    f = fopen(path, "wb");
    ASSERT(f != NULL);
    fwrite(raw + 1, 1, n - 1, f);
    fclose(f);
    mq_xp_analyze_opts o;
    mq_xp_analyze_opts_init(&o, sizeof o);
    o.control = "A";
    o.metrics[o.n_metrics++] = "y";
    o.segment = "s";
    o.threads = 1;
    char *json = NULL, *text = NULL;
    mq_err err = {0};
    int rc = mq_xp_analyze(path, &o, &json, &text, NULL, &err);
    if (rc == 0) {
        ASSERT(strstr(json, "nan") == NULL && strstr(json, "inf") == NULL);
        free(json);
        free(text);
    } else {
        ASSERT(err.msg[0] != 0);
    }
}

/* "start": 1.44e109 was cast to long long (undefined behaviour); times outside years 0..9999
 * are now a format error naming the field. */
MQ_TEST(xp_fuzz_config_huge_time)
{
    FILE *f = fopen("tests/fixtures/fuzz/xp_config_huge_time", "rb");
    ASSERT(f != NULL);
    char raw[4096];
    size_t n = fread(raw, 1, sizeof raw, f);
    fclose(f);
    mq_xp_config cfg;
    mq_err err = {0};
    ASSERT(mq_xp_config_parse(raw, n, "fuzz.json", &cfg, &err) != 0);
    ASSERT(err.msg[0] != 0);
    const char *big = "{\"name\":\"e\",\"variants\":[\"A\",\"B\"],\"start\":1e300}";
    ASSERT_INT_EQ(mq_xp_config_parse(big, strlen(big), "x.json", &cfg, &err), MQ_EFORMAT);
    ASSERT(strstr(err.msg, "x.json: experiment 'e': field 'start'") != NULL);
    const char *neg = "{\"name\":\"e\",\"variants\":[\"A\",\"B\"],\"end\":-1e20}";
    ASSERT_INT_EQ(mq_xp_config_parse(neg, strlen(neg), "x.json", &cfg, &err), MQ_EFORMAT);
    ASSERT(strstr(err.msg, "field 'end'") != NULL);
    const char *ok = "{\"name\":\"e\",\"variants\":[\"A\",\"B\"],\"start\":1700000000,\"end\":1800000000.5}";
    ASSERT_OK(mq_xp_config_parse(ok, strlen(ok), "x.json", &cfg, &err), &err);
    ASSERT_INT_EQ(cfg.exps[0].start, 1700000000);
    ASSERT_INT_EQ(cfg.exps[0].end, 1800000000);
    mq_xp_config_release(&cfg);
}
