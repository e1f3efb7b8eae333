/* marquee/stats.h: probability distributions and multiple-testing tools used by the xp module
 * (included by marquee.h only).
 *
 * Every function here is pure (no state, thread-safe) and returns a double. Arguments outside
 * the domain (df <= 0, p outside [0, 1], NaN) return NaN; callers in marquee check their inputs
 * first and never print NaN. Accuracy is checked against scipy.stats in tests/stats/test_stats.c and
 * tests/ref/xp_stats.py: normal cdf/quantile to ~1 ulp-scale relative error, t and chi-square
 * to better than 1e-12 relative on the ranges marquee uses (df up to 1e7).
 */
#ifndef MARQUEE_STATS_H
#define MARQUEE_STATS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmarquee.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* Standard normal density, cdf P(Z <= x), survival P(Z > x) (accurate in the far upper tail),
 * and quantile: the x with P(Z <= x) = p (Wichura's AS 241, ~1e-16 relative), p in (0, 1);
 * p = 0 and p = 1 give -inf and +inf. */
double mq_stats_norm_pdf(double x);
double mq_stats_norm_cdf(double x);
double mq_stats_norm_sf(double x);
double mq_stats_norm_ppf(double p);

/* Student t with df > 0 degrees of freedom (df may be fractional, as in Welch's test):
 * cdf, survival function, and quantile (p in (0, 1)). */
double mq_stats_t_cdf(double t, double df);
double mq_stats_t_sf(double t, double df);
double mq_stats_t_ppf(double p, double df);

/* Chi-square with k > 0 degrees of freedom: cdf and survival P(X > x), x >= 0. */
double mq_stats_chi2_cdf(double x, double k);
double mq_stats_chi2_sf(double x, double k);

/* Regularized incomplete beta I_x(a, b) (a, b > 0, x in [0, 1]) and regularized incomplete
 * gamma P(a, x) and Q(a, x) = 1 - P(a, x) (a > 0, x >= 0). */
double mq_stats_ibeta(double a, double b, double x);
double mq_stats_igamma_p(double a, double x);
double mq_stats_igamma_q(double a, double x);

/* Multiple-testing adjustment of n p-values p[0..n) into adj[0..n) (same order; adj may alias
 * p). Holm's step-down family-wise procedure and Benjamini-Hochberg's step-up false discovery
 * rate procedure, both as statsmodels.stats.multitest.multipletests ('holm', 'fdr_bh').
 * Returns 0, or MQ_ENOMEM. */
int mq_stats_holm(const double *p, int n, double *adj);
int mq_stats_bh(const double *p, int n, double *adj);

/* Kendall's rank correlation tau-b of the pairs (x[i], y[i]), i < n (Kendall 1945, the tie-
 * corrected form scipy.stats.kendalltau computes by default):
 *   tau_b = (C - D) / sqrt((n0 - n1) (n0 - n2)),  n0 = n(n-1)/2,
 * C / D the concordant / discordant pairs, n1 / n2 the pairs tied in x / in y. O(n^2): for the
 * handful of items it is used on (model orderings). NaN when n < 2 or either side is constant. */
double mq_stats_kendall_tau(const double *x, const double *y, int n);

/* Group-sequential designs with K equally spaced looks of a two-sided z-test.
 * mq_stats_gs_crossing: the probability under H0 that |Z_k| >= bounds[k] at some look k
 * (Z_k = S_k / sqrt(k), S a random walk with unit-variance increments), by recursive numerical
 * integration (Armitage, McPherson & Rowe 1969; Jennison & Turnbull 2000, ch. 19) on a Simpson
 * grid. mq_stats_gs_bounds fills bounds[0..K) for type MQ_GS_POCOCK (a constant c) or
 * MQ_GS_OBF (O'Brien-Fleming, c * sqrt(K / k)) so that the crossing probability is alpha.
 * K in [1, 50], alpha in (0, 1). Returns 0 or MQ_EINVAL. */
#define MQ_GS_POCOCK 1
#define MQ_GS_OBF 2
double mq_stats_gs_crossing(int K, const double *bounds);
int mq_stats_gs_bounds(int K, double alpha, int type, double *bounds);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
