/* test_stats.c: the distributions of src/stats/stats.c against scipy values (tests/stats/test_stats_vec.h)
 * and the published group-sequential and multiple-testing vectors of REFERENCES.md. */
#include "../test.h"
#include <unistd.h>
#include "test_stats_vec.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Relative closeness, with an absolute floor for values near 0. */
static int close_rel(double a, double b, double rel, double abs_floor)
{
    return fabs(a - b) <= rel * fabs(b) + abs_floor;
}

MQ_TEST(stats_normal_vs_scipy)
{
    /* glibc erfc is within a few ulp; rounding x / sqrt 2 perturbs the tail by a relative
     * ~x^2 * 1e-16 (the condition number of erfc), so 1e-14 (1 + x^2) relative; any formula
     * error shows at 1e-3 or worse. */
    for (int i = 0; i < N_OF(NORM_VEC); i++) {
        double x = NORM_VEC[i][0], tol = 1e-14 * (1 + x * x);
        if (!close_rel(mq_stats_norm_cdf(x), NORM_VEC[i][1], tol, 1e-305)) /* subnormals */
            MQ_FAIL_("norm cdf(%g): %.17g vs scipy %.17g", x, mq_stats_norm_cdf(x), NORM_VEC[i][1]);
        if (!close_rel(mq_stats_norm_sf(x), NORM_VEC[i][2], tol, 1e-305))
            MQ_FAIL_("norm sf(%g): %.17g vs scipy %.17g", x, mq_stats_norm_sf(x), NORM_VEC[i][2]);
    }
    /* AS 241 is accurate to about 1e-16; scipy's ndtri to a few ulp: 1e-14. */
    for (int i = 0; i < N_OF(NORMPPF_VEC); i++) {
        double p = NORMPPF_VEC[i][0], q = mq_stats_norm_ppf(p);
        if (!close_rel(q, NORMPPF_VEC[i][1], 1e-14, 1e-300))
            MQ_FAIL_("norm ppf(%g): %.17g vs scipy %.17g", p, q, NORMPPF_VEC[i][1]);
    }
    ASSERT(isinf(mq_stats_norm_ppf(0)) && mq_stats_norm_ppf(0) < 0);
    ASSERT(isnan(mq_stats_norm_ppf(1.5)));
}

MQ_TEST(stats_t_chi2_beta_vs_scipy)
{
    /* The continued fractions stop at 1e-16 per step; with the log-beta prefactor the result is
     * good to ~1e-13 relative, so 1e-11 is a safe bound that still catches real errors. */
    for (int i = 0; i < N_OF(T_VEC); i++) {
        double t = T_VEC[i][0], df = T_VEC[i][1];
        if (!close_rel(mq_stats_t_cdf(t, df), T_VEC[i][2], 1e-11, 0) ||
            !close_rel(mq_stats_t_sf(t, df), T_VEC[i][3], 1e-11, 0))
            MQ_FAIL_("t(%g, df %g): cdf %.17g sf %.17g vs scipy %.17g %.17g", t, df,
                     mq_stats_t_cdf(t, df), mq_stats_t_sf(t, df), T_VEC[i][2], T_VEC[i][3]);
    }
    for (int i = 0; i < N_OF(TPPF_VEC); i++) {
        double q = mq_stats_t_ppf(TPPF_VEC[i][0], TPPF_VEC[i][1]);
        /* scipy 1.10's t.ppf (cephes incbi) is itself only good to ~2e-9 (df = 3, p = 0.995:
         * 5.84090929976 vs the exact 5.84090930973), so the reference is scipy's t.ppf polished
         * by Newton steps on scipy's t.cdf; then 1e-12 relative holds. Our quantile also
         * inverts the (scipy-checked) cdf to 1e-13. */
        if (!close_rel(q, TPPF_VEC[i][2], 1e-12, 0))
            MQ_FAIL_("t ppf(%g, df %g): %.17g vs scipy %.17g", TPPF_VEC[i][0], TPPF_VEC[i][1], q,
                     TPPF_VEC[i][2]);
        if (!close_rel(mq_stats_t_cdf(q, TPPF_VEC[i][1]), TPPF_VEC[i][0], 1e-13, 0))
            MQ_FAIL_("t cdf(ppf(%g)) = %.17g", TPPF_VEC[i][0], mq_stats_t_cdf(q, TPPF_VEC[i][1]));
    }
    for (int i = 0; i < N_OF(CHI2_VEC); i++) {
        double x = CHI2_VEC[i][0], k = CHI2_VEC[i][1];
        if (!close_rel(mq_stats_chi2_cdf(x, k), CHI2_VEC[i][2], 1e-12, 0) ||
            !close_rel(mq_stats_chi2_sf(x, k), CHI2_VEC[i][3], 1e-12, 0))
            MQ_FAIL_("chi2(%g, k %g): cdf %.17g sf %.17g vs scipy %.17g %.17g", x, k,
                     mq_stats_chi2_cdf(x, k), mq_stats_chi2_sf(x, k), CHI2_VEC[i][2], CHI2_VEC[i][3]);
    }
    for (int i = 0; i < N_OF(IBETA_VEC); i++) {
        double v = mq_stats_ibeta(IBETA_VEC[i][0], IBETA_VEC[i][1], IBETA_VEC[i][2]);
        if (!close_rel(v, IBETA_VEC[i][3], 1e-11, 0))
            MQ_FAIL_("ibeta(%g, %g, %g): %.17g vs scipy %.17g", IBETA_VEC[i][0], IBETA_VEC[i][1],
                     IBETA_VEC[i][2], v, IBETA_VEC[i][3]);
    }
    ASSERT(isnan(mq_stats_t_sf(1, 0)));
}

MQ_TEST(stats_bh_holm_reference)
{
    /* REFERENCES.md: Benjamini-Hochberg vector, printed to 5 significant digits. */
    double p[10] = {0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216};
    double want[10] = {0.01, 0.04, 0.084, 0.084, 0.084, 0.1, 0.10571, 0.216, 0.216, 0.216};
    double adj[10];
    ASSERT_INT_EQ(mq_stats_bh(p, 10, adj), 0);
    for (int i = 0; i < 10; i++) ASSERT_NEAR(adj[i], want[i], 5e-6);
    /* Holm by hand: sorted p times (n - j), running max, capped at 1. */
    double q[4] = {0.04, 0.01, 0.03, 0.2}, h[4];
    ASSERT_INT_EQ(mq_stats_holm(q, 4, h), 0);
    ASSERT_NEAR(h[1], 0.04, 1e-15);
    ASSERT_NEAR(h[2], 0.09, 1e-15);
    ASSERT_NEAR(h[0], 0.09, 1e-15);
    ASSERT_NEAR(h[3], 0.2, 1e-15);
}

MQ_TEST(stats_group_sequential_reference)
{
    /* REFERENCES.md: K = 5, two-sided alpha = 0.05. Pocock 2.4132; OBF 4.562 3.226 2.634 2.281
     * 2.040; naive 1.96 at each look: 0.1417. Printed precision: 4 decimals / 3 decimals. */
    double b[5];
    ASSERT_INT_EQ(mq_stats_gs_bounds(5, 0.05, MQ_GS_POCOCK, b), 0);
    ASSERT_NEAR(b[0], 2.4132, 5e-5);
    ASSERT_INT_EQ(mq_stats_gs_bounds(5, 0.05, MQ_GS_OBF, b), 0);
    double obf[5] = {4.562, 3.226, 2.634, 2.281, 2.040};
    for (int k = 0; k < 5; k++) ASSERT_NEAR(b[k], obf[k], 5e-4);
    double naive[5] = {1.959963984540054, 1.959963984540054, 1.959963984540054,
                       1.959963984540054, 1.959963984540054};
    ASSERT_NEAR(mq_stats_gs_crossing(5, naive), 0.1417, 5e-5);
    /* one look is the plain two-sided test */
    ASSERT_NEAR(mq_stats_gs_crossing(1, naive), 0.05, 1e-9);
}

/* Kendall's tau-b against scipy.stats.kendalltau (run here by Debian's python3): random
 * orderings with and without ties in either variable, and the degenerate cases. Both sides
 * count the same integers and take one square root: agreement to 1e-12. */
MQ_TEST(stats_kendall_tau_vs_scipy)
{
    char in[1024], out[1024];
    snprintf(in, sizeof in, "%s/kt.txt", mq_test_tmpdir());
    snprintf(out, sizeof out, "%s/kt.out", mq_test_tmpdir());
    enum { CASES = 12, N = 9 };
    static double x[CASES][N], y[CASES][N];
    mq_rng r;
    mq_rng_seed(&r, 42);
    FILE *f = fopen(in, "w");
    ASSERT(f);
    for (int c = 0; c < CASES; c++) {
        for (int i = 0; i < N; i++) {
            /* cases 4..7 tie x (3 levels), 8..11 tie both */
            x[c][i] = c >= 4 ? (double)mq_rng_below(&r, 3) : mq_rng_uniform(&r);
            y[c][i] = c >= 8 ? (double)mq_rng_below(&r, 4) : x[c][i] + 0.5 * mq_rng_normal(&r);
            fprintf(f, "%s%.17g %.17g", i ? " " : "", x[c][i], y[c][i]);
        }
        fputc('\n', f);
    }
    fclose(f);
    if (access("/usr/bin/python3", X_OK) != 0) MQ_SKIP("/usr/bin/python3 not installed");
    char py[1024];
    snprintf(py, sizeof py, "%s/kt.py", mq_test_tmpdir());
    f = fopen(py, "w");
    ASSERT(f);
    fputs("import sys\nfrom scipy.stats import kendalltau\nfor l in open(sys.argv[1]):\n"
          "    v = list(map(float, l.split()))\n    print(repr(float(kendalltau(v[0::2], v[1::2])[0])))\n", f);
    fclose(f);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 %s %s > %s", py, in, out), 0);
    f = fopen(out, "r");
    ASSERT(f);
    for (int c = 0; c < CASES; c++) {
        double ref;
        ASSERT(fscanf(f, "%lf", &ref) == 1);
        ASSERT_NEAR(mq_stats_kendall_tau(x[c], y[c], N), ref, 1e-12);
    }
    fclose(f);
    /* closed forms: identical and reversed orders, a constant side, too few pairs */
    double a[] = {1, 2, 3, 4}, b[] = {4, 3, 2, 1}, k[] = {5, 5, 5, 5};
    ASSERT_NEAR(mq_stats_kendall_tau(a, a, 4), 1, 0);
    ASSERT_NEAR(mq_stats_kendall_tau(a, b, 4), -1, 0);
    ASSERT(isnan(mq_stats_kendall_tau(a, k, 4)));
    ASSERT(isnan(mq_stats_kendall_tau(a, b, 1)));
}
