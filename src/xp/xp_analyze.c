/* xp_analyze.c: the A/B test statistics of `xp analyze` over the accumulators of xp_read.c.
 *
 * Statistics (each with its citation in docs/xp.md):
 *  - SRM: Pearson chi^2 of the arm counts against the configured weights, k - 1 df; with a
 *    collect file's range columns, of the range members plus each ramp's served units
 *    (srm_check).
 *  - Welch t (means), two-proportion z (0/1 metrics; pooled se for the test, unpooled Wald CI,
 *    as statsmodels proportions_ztest / confint_proportions_2indep), delta-method relative
 *    effect mB / mA - 1 with var = vB / (nB mA^2) + mB^2 vA / (nA mA^4).
 *  - Ratio metrics: per arm R = mean(N) / mean(D), var = (sN^2 - 2 R sND + R^2 sD^2) / (n mD^2).
 *  - CUPED as the OLS regression y ~ 1 + treat + x on the two arms (theta pooled within arms);
 *    the treatment coefficient, its t(n - 3) p-value and CI; variance reduction 1 - s_res^2/s_y^2.
 *    Standard error HC2 by default (MacKinnon & White 1985, statsmodels cov_type="HC2"): in the
 *    equivalent basis [1_A, 1_B, x - mean_arm(x)] the columns are orthogonal, so the leverage is
 *    h_i = 1/n_arm + xc_i^2 / Sxx and, with e_i = (y_i - ybar_arm) - theta xc_i and
 *    dx = xbar_B - xbar_A,
 *      var(b) = sum_{i in A} e_i^2/(1-h_i) (1/n_A + dx xc_i/Sxx)^2
 *             + sum_{i in B} e_i^2/(1-h_i) (1/n_B - dx xc_i/Sxx)^2
 *    (a second pass over a regular file, summing each arm's terms in its own row order, or
 *    for stdin one pass over the units' stored (y, x)); or the classical OLS
 *    s^2 (1/n_A + 1/n_B + dx^2/Sxx) with --cuped-se ols.
 *  - Post-stratification: sum_s w_s (mB_s - mA_s), w_s the segment's share of units.
 *  - Segments: per-segment difference with a normal CI (Welch se), Cochran's Q = sum w_s (e_s - e_w)^2, w = 1/se^2, chi^2 S-1 df.
 *  - Novelty: per-day effects, weighted least squares slope over day with a z test.
 *  - Mann-Whitney U (ties averaged, continuity-corrected normal approximation, as
 *    scipy.stats.mannwhitneyu's asymptotic method); effect = P(B > A) + P(tie)/2 - 1/2 with the
 *    Hanley-McNeil (1982) standard error.
 *  - Percentile bootstrap of the mean difference and quantile differences (numpy's linear
 *    interpolation), B resamples from the reservoirs with an explicit seeded RNG.
 *  - mSPRT always-valid p-values and confidence sequences (xp_seq.c).
 *  - Bayesian read-out (--bayes) of each primary row: effect estimate d with standard error se
 *    as the likelihood N(d | delta, se^2), prior delta ~ N(0, (0.3 |control mean|)^2) (the
 *    relative-lift prior N(0, 0.3^2) of GrowthBook's engine, on the absolute scale); posterior
 *    N(mu, s^2) with 1/s^2 = 1/tau^2 + 1/se^2, mu = s^2 d / se^2; chance to win
 *    Phi(dir mu / s), expected loss of shipping E[max(0, -dir delta)] =
 *    s phi(dir mu / s) - dir mu Phi(-dir mu / s), credible interval mu +- z_{1-alpha/2} s.
 *  - Holm and Benjamini-Hochberg over all primary (metric, variant) rows; guardrails and the
 *    decision are in xp_decide.c.
 */
#include "xp.h"
/* Messages are truncated on purpose when names are very long. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <math.h>
#include <sys/stat.h>

/* ---- statistics ---- */

row *mq__xp_new_row(ctx *c, int m, int b, const char *method)
{
    if (c->n_out == c->cap_out) {
        int nc = c->cap_out ? c->cap_out * 2 : 16;
        row *nr = realloc(c->out, (size_t)nc * sizeof *nr);
        if (!nr) return NULL;
        c->out = nr;
        c->cap_out = nc;
    }
    row *r = &c->out[c->n_out++];
    memset(r, 0, sizeof *r);
    r->metric = m;
    r->variant = b;
    r->method = method;
    r->est = r->rel_est = true;
    r->p_holm = r->p_bh = NAN;
    mq_buf_init(&r->extra);
    return r;
}

static void not_est(row *r, const char *why)
{
    r->est = false;
    r->rel_est = false;
    snprintf(r->reason, sizeof r->reason, "%s", why);
    snprintf(r->rel_reason, sizeof r->rel_reason, "%s", why);
}

/* Relative effect mB / mA - 1 by the delta method for independent means with standard errors
 * seA, seB. The CI and p-value use Student's t with df degrees of freedom (the test's own df:
 * Welch's for means, as REFERENCES.md's vector does), or the normal when df is 0. */
static void relative(ctx *c, row *r, double mA, double mB, double seA, double seB, double df)
{
    if (mA == 0) { r->rel_est = false; snprintf(r->rel_reason, sizeof r->rel_reason, "control mean is 0"); return; }
    double rel = mB / mA - 1;
    double var = seB * seB / (mA * mA) + mB * mB * seA * seA / (mA * mA * mA * mA);
    double se = sqrt(var);
    double z = df > 0 ? mq_stats_t_ppf(1 - c->alpha / 2, df) : mq_stats_norm_ppf(1 - c->alpha / 2);
    r->rel = rel;
    r->rel_se = se;
    if (!(se > 0)) { r->rel_est = false; snprintf(r->rel_reason, sizeof r->rel_reason, "zero variance"); return; }
    r->rlo = rel - z * se;
    r->rhi = rel + z * se;
    r->rel_p = 2 * (df > 0 ? mq_stats_t_sf(fabs(rel) / se, df) : mq_stats_norm_sf(fabs(rel) / se));
}

int mq_xp_welch(const mq_xp_arm *a, const mq_xp_arm *b, double alpha, mq_xp_effect *out)
{
    memset(out, 0, sizeof *out);
    if (!a || !b || !(alpha > 0 && alpha < 1)) return MQ_EINVAL;
    out->effect = b->mean - a->mean;
    if (a->n < 2 || b->n < 2) { out->reason = "an arm has fewer than 2 units"; return 0; }
    if (!(a->var >= 0) || !(b->var >= 0)) return MQ_EINVAL;
    double vA = a->var / a->n, vB = b->var / b->n, se = sqrt(vA + vB);
    if (!(se > 0)) { out->reason = "zero variance in both arms"; return 0; }
    double df = (vA + vB) * (vA + vB) / (vA * vA / (a->n - 1) + vB * vB / (b->n - 1));
    double t = out->effect / se, q = mq_stats_t_ppf(1 - alpha / 2, df);
    out->estimable = true;
    out->se = se;
    out->df = df;
    out->statistic = t;
    out->ci_low = out->effect - q * se;
    out->ci_high = out->effect + q * se;
    out->p_value = 2 * mq_stats_t_sf(fabs(t), df);
    if (a->mean == 0) { out->rel_reason = "control mean is 0"; return 0; }
    double mA = a->mean, mB = b->mean;
    double rv = vB / (mA * mA) + mB * mB * vA / (mA * mA * mA * mA), rs = sqrt(rv);
    out->rel = mB / mA - 1;
    out->rel_se = rs;
    out->rel_estimable = true;
    out->rel_ci_low = out->rel - q * rs;
    out->rel_ci_high = out->rel + q * rs;
    out->rel_p_value = 2 * mq_stats_t_sf(fabs(out->rel) / rs, df);
    return 0;
}

static void welch(ctx *c, row *r, const mom *A, const mom *B, const char *nameA, const char *nameB)
{
    r->n[0] = A->n; r->n[1] = B->n; r->mean[0] = A->my; r->mean[1] = B->my;
    r->effect = B->my - A->my;
    char why[200];
    if (A->n < 2 || B->n < 2) {
        snprintf(why, sizeof why, "arm '%s' has %.0f units (at least 2 needed)", A->n < 2 ? nameA : nameB, A->n < 2 ? A->n : B->n);
        not_est(r, why);
        if (A->n < 1 || B->n < 1) r->effect = NAN;
        return;
    }
    mq_xp_arm a = {A->n, A->my, mom_var(A)}, b = {B->n, B->my, mom_var(B)};
    mq_xp_effect e;
    mq_xp_welch(&a, &b, c->alpha, &e);
    if (!e.estimable) { not_est(r, e.reason); return; }
    r->se = e.se;
    r->lo = e.ci_low;
    r->hi = e.ci_high;
    r->p = e.p_value;
    mq_buf_printf(&r->extra, ",\"var\":[");
    mq_buf_json_num(&r->extra, a.var); mq_buf_putc(&r->extra, ',');
    mq_buf_json_num(&r->extra, b.var);
    mq_buf_printf(&r->extra, "],\"df\":");
    mq_buf_json_num(&r->extra, e.df);
    mq_buf_printf(&r->extra, ",\"statistic\":");
    mq_buf_json_num(&r->extra, e.statistic);
    if (!e.rel_estimable) { r->rel_est = false; snprintf(r->rel_reason, sizeof r->rel_reason, "%s", e.rel_reason); return; }
    r->rel = e.rel;
    r->rel_se = e.rel_se;
    r->rlo = e.rel_ci_low;
    r->rhi = e.rel_ci_high;
    r->rel_p = e.rel_p_value;
}

static void ztest(ctx *c, row *r, const mom *A, const mom *B, const char *nameA, const char *nameB)
{
    r->n[0] = A->n; r->n[1] = B->n; r->mean[0] = A->my; r->mean[1] = B->my;
    r->effect = B->my - A->my;
    if (A->n < 1 || B->n < 1) {
        char why[200];
        snprintf(why, sizeof why, "arm '%s' is empty", A->n < 1 ? nameA : nameB);
        not_est(r, why);
        r->effect = NAN;
        return;
    }
    double pA = A->my, pB = B->my, pp = (pA * A->n + pB * B->n) / (A->n + B->n);
    double se0 = sqrt(pp * (1 - pp) * (1 / A->n + 1 / B->n));
    double se = sqrt(pA * (1 - pA) / A->n + pB * (1 - pB) / B->n), z = mq_stats_norm_ppf(1 - c->alpha / 2);
    if (!(se0 > 0)) { not_est(r, pp == 0 ? "all values are 0 in both arms" : "all values are 1 in both arms"); return; }
    r->p = 2 * mq_stats_norm_sf(fabs(r->effect) / se0);
    r->se = se;
    r->lo = r->effect - z * se;
    r->hi = r->effect + z * se;
    mq_buf_printf(&r->extra, ",\"statistic\":");
    mq_buf_json_num(&r->extra, r->effect / se0);
    if (!(se > 0)) { r->est = true; snprintf(r->reason, sizeof r->reason, "CI has zero width: each arm is constant"); }
    relative(c, r, pA, pB, sqrt(mom_var(A) / A->n), sqrt(mom_var(B) / B->n), 0);
}

static void ratio_test(ctx *c, row *r, const mom *A, const mom *B, const char *nameA, const char *nameB)
{
    r->n[0] = A->n; r->n[1] = B->n;
    if (A->n < 2 || B->n < 2 || A->mx == 0 || B->mx == 0) {
        char why[200];
        if (A->n < 2 || B->n < 2) snprintf(why, sizeof why, "arm '%s' has fewer than 2 units", A->n < 2 ? nameA : nameB);
        else snprintf(why, sizeof why, "denominator mean is 0 in arm '%s'", A->mx == 0 ? nameA : nameB);
        not_est(r, why);
        r->effect = NAN;
        return;
    }
    double RA = A->my / A->mx, RB = B->my / B->mx;
    double vA = (A->m2y - 2 * RA * A->cxy + RA * RA * A->m2x) / (A->n - 1) / (A->n * A->mx * A->mx);
    double vB = (B->m2y - 2 * RB * B->cxy + RB * RB * B->m2x) / (B->n - 1) / (B->n * B->mx * B->mx);
    if (vA < 0) vA = 0;
    if (vB < 0) vB = 0;
    r->mean[0] = RA; r->mean[1] = RB;
    r->effect = RB - RA;
    double se = sqrt(vA + vB), z = mq_stats_norm_ppf(1 - c->alpha / 2);
    if (!(se > 0)) { not_est(r, "zero variance of the ratio in both arms"); return; }
    r->se = se;
    r->lo = r->effect - z * se;
    r->hi = r->effect + z * se;
    r->p = 2 * mq_stats_norm_sf(fabs(r->effect) / se);
    relative(c, r, RA, RB, sqrt(vA), sqrt(vB), 0);
}

/* HC2 variance of the CUPED coefficient of treatment bb (formula atop this file): the sums of
 * the second pass, or one pass over the stored (y, x) of the two arms; NAN when a leverage
 * reaches 1 with a nonzero residual. */
static double cuped_hc2_var(const ctx *c, int m, int a, int bb, double theta, double sxx)
{
    if (c->hc2_part) return HC2PART(c, a, bb, m) + HC2PART(c, bb, bb, m);
    const mom *A = ACC(c, a, m), *B = ACC(c, bb, m);
    double dx = B->mx - A->mx, var = 0;
    bool bad = false;
    for (int side = 0; side < 2; side++) {
        const yxvals *v = &c->hc2[(size_t)(side ? bb : a) * c->n_metrics + m];
        for (long long i = 0; i < v->n; i++)
            var += mq__xp_hc2_term(v->y[i], v->x[i], side ? B : A, theta, sxx, dx, side ? -1 : 1, &bad);
    }
    return bad ? NAN : var;
}

static void cuped(ctx *c, row *r, int m, int a, int bb, const char *nameA, const char *nameB)
{
    const mom *A = ACC(c, a, m), *B = ACC(c, bb, m);
    r->n[0] = A->n; r->n[1] = B->n; r->mean[0] = A->my; r->mean[1] = B->my;
    double n = A->n + B->n;
    if (A->n < 2 || B->n < 2) {
        char why[200];
        snprintf(why, sizeof why, "arm '%s' has fewer than 2 units", A->n < 2 ? nameA : nameB);
        not_est(r, why);
        r->effect = A->n >= 1 && B->n >= 1 ? B->my - A->my : NAN;
        return;
    }
    double sxx = A->m2x + B->m2x, sxy = A->cxy + B->cxy, syy = A->m2y + B->m2y;
    if (!(sxx > 0) || n < 4) { welch(c, r, A, B, nameA, nameB); r->method = "welch"; snprintf(r->reason, sizeof r->reason, "covariate is constant: CUPED not applicable, Welch used"); return; }
    double theta = sxy / sxx, dx = B->mx - A->mx;
    double b = (B->my - A->my) - theta * dx;
    double rss = syy - theta * sxy;
    if (rss < 0) rss = 0;
    bool hc2 = c->o->cuped_se != MQ_XP_SE_OLS;
    double s2 = rss / (n - 3), var;
    if (hc2) var = cuped_hc2_var(c, m, a, bb, theta, sxx);
    else var = s2 * (1 / A->n + 1 / B->n + dx * dx / sxx);
    double se = sqrt(var);
    r->effect = b;
    mq_buf_printf(&r->extra, ",\"se_type\":\"%s\"", hc2 ? "HC2" : "OLS");
    if (!(se > 0)) { not_est(r, hc2 && isnan(var) ? "a unit has leverage 1: HC2 undefined (try --cuped-se ols)" : "zero residual variance"); return; }
    double df = n - 3, q = mq_stats_t_ppf(1 - c->alpha / 2, df);
    r->se = se;
    r->lo = b - q * se;
    r->hi = b + q * se;
    r->p = 2 * mq_stats_t_sf(fabs(b / se), df);
    double vr = syy > 0 ? 1 - (rss / (n - 3)) / (syy / (n - 2)) : 0;
    mq_buf_printf(&r->extra, ",\"theta\":");
    mq_buf_json_num(&r->extra, theta);
    mq_buf_printf(&r->extra, ",\"variance_reduction\":");
    mq_buf_json_num(&r->extra, vr);
    mq_buf_printf(&r->extra, ",\"df\":");
    mq_buf_json_num(&r->extra, df);
    /* relative to the control mean; the control mean's own noise enters as in Welch's case */
    relative(c, r, A->my, A->my + b, sqrt(mom_var(A) / A->n), se, df);
}

static void paired(ctx *c, row *r, int m, int a, int b)
{
    mom d = {0}, ab = {0};
    for (long long p = 0; p < c->n_pairs; p++) {
        double ya = PAIRV(c, p, a, m), yb = PAIRV(c, p, b, m);
        if (isnan(ya) || isnan(yb)) continue;
        mom_add1(&d, yb - ya);
        mom_add2(&ab, yb, ya);
    }
    r->n[0] = r->n[1] = d.n;
    r->mean[0] = ab.mx; r->mean[1] = ab.my;
    r->effect = d.my;
    mq_buf_printf(&r->extra, ",\"pairs\":%.0f", d.n);
    if (d.n < 2) { not_est(r, "fewer than 2 complete pairs"); if (d.n < 1) r->effect = NAN; return; }
    double se = sqrt(mom_var(&d) / d.n);
    if (!(se > 0)) { not_est(r, "zero variance of the paired differences"); return; }
    double df = d.n - 1, q = mq_stats_t_ppf(1 - c->alpha / 2, df);
    r->se = se;
    r->lo = d.my - q * se;
    r->hi = d.my + q * se;
    r->p = 2 * mq_stats_t_sf(fabs(d.my / se), df);
    mq_buf_printf(&r->extra, ",\"df\":");
    mq_buf_json_num(&r->extra, df);
    double mA = ab.mx, mB = ab.my;
    if (mA == 0) { r->rel_est = false; snprintf(r->rel_reason, sizeof r->rel_reason, "control mean is 0"); return; }
    double R = mB / mA, vA = ab.m2x / (ab.n - 1), vB = ab.m2y / (ab.n - 1), cab = ab.cxy / (ab.n - 1);
    double var = (vB - 2 * R * cab + R * R * vA) / (ab.n * mA * mA), rs = sqrt(var > 0 ? var : 0);
    double z = q;   /* the paired test's t quantile (df = pairs - 1), as for Welch */
    r->rel = R - 1;
    r->rel_se = rs;
    if (!(rs > 0)) { r->rel_est = false; snprintf(r->rel_reason, sizeof r->rel_reason, "zero variance"); return; }
    r->rlo = r->rel - z * rs;
    r->rhi = r->rel + z * rs;
    r->rel_p = 2 * mq_stats_t_sf(fabs(r->rel) / rs, df);
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void mann_whitney(ctx *c, row *r, const reservoir *A, const reservoir *B, long long capA, long long capB)
{
    long long nA = MQ_MIN(A->n, capA), nB = MQ_MIN(B->n, capB), n = nA + nB;
    r->n[0] = (double)nA; r->n[1] = (double)nB;
    r->rel_est = false;
    snprintf(r->rel_reason, sizeof r->rel_reason, "not defined for a rank test");
    if (nA < 1 || nB < 1) { not_est(r, "an arm is empty"); r->effect = NAN; return; }
    typedef struct { double v; int arm; } lv;
    lv *all = malloc((size_t)n * sizeof *all);
    if (!all) { not_est(r, "out of memory"); return; }
    double sA = 0, sB = 0;
    for (long long i = 0; i < nA; i++) { all[i].v = A->v[i]; all[i].arm = 0; sA += A->v[i]; }
    for (long long i = 0; i < nB; i++) { all[nA + i].v = B->v[i]; all[nA + i].arm = 1; sB += B->v[i]; }
    r->mean[0] = sA / nA; r->mean[1] = sB / nB;
    qsort(all, (size_t)n, sizeof *all, dcmp);
    double rankB = 0, tie = 0;
    for (long long i = 0; i < n;) {
        long long j = i;
        while (j < n && all[j].v == all[i].v) j++;
        double avg = 0.5 * (double)(i + 1 + j), t = (double)(j - i);
        for (long long k = i; k < j; k++) if (all[k].arm) rankB += avg;
        tie += t * t * t - t;
        i = j;
    }
    free(all);
    double UB = rankB - (double)nB * (nB + 1) / 2, UA = (double)nA * nB - UB, mu = (double)nA * nB / 2;
    double s = sqrt((double)nA * nB / 12.0 * ((n + 1) - tie / ((double)n * (n - 1))));
    double auc = UB / ((double)nA * nB);
    r->effect = auc - 0.5;
    mq_buf_printf(&r->extra, ",\"u\":");
    mq_buf_json_num(&r->extra, UB);
    mq_buf_printf(&r->extra, ",\"sample\":\"%s\"", A->n > capA || B->n > capB ? "reservoir subsample" : "all units");
    if (!(s > 0)) { not_est(r, "all values are tied"); return; }
    double U = MQ_MAX(UA, UB), z = (U - mu - 0.5) / s;
    r->p = MQ_MIN(1.0, 2 * mq_stats_norm_sf(z));
    /* Hanley & McNeil (1982) standard error of the AUC */
    double q1 = auc / (2 - auc), q2 = 2 * auc * auc / (1 + auc);
    double var = (auc * (1 - auc) + (nB - 1) * (q1 - auc * auc) + (nA - 1) * (q2 - auc * auc)) / ((double)nA * nB);
    double se = sqrt(var > 0 ? var : 0), zq = mq_stats_norm_ppf(1 - c->alpha / 2);
    r->se = se;
    r->lo = r->effect - zq * se;
    r->hi = r->effect + zq * se;
    if (!(se > 0)) { r->lo = r->hi = r->effect; }
}

/* numpy's default (linear) quantile of sorted-or-not v[0..n): selection by sorting a copy. */
static double quantile_sorted(const double *s, long long n, double q)
{
    double h = (n - 1) * q;
    long long lo = (long long)floor(h);
    if (lo >= n - 1) return s[n - 1];
    return s[lo] + (h - lo) * (s[lo + 1] - s[lo]);
}

/* numpy's linear quantile of v[0..n) by selection (Hoare's quickselect, median of three):
 * O(n), reorders v. */
static double quantile_select(double *v, long long n, double q)
{
    double h = (n - 1) * q;
    long long k = (long long)floor(h), lo = 0, hi = n - 1;
    if (k >= n - 1) k = n - 1;
    while (hi > lo) {
        long long mid = lo + (hi - lo) / 2;
        double a = v[lo], b = v[mid], cc = v[hi];
        double piv = a < b ? (b < cc ? b : (a < cc ? cc : a)) : (a < cc ? a : (b < cc ? cc : b));
        long long i = lo, j = hi;
        while (i <= j) {
            while (v[i] < piv) i++;
            while (v[j] > piv) j--;
            if (i <= j) { double t = v[i]; v[i] = v[j]; v[j] = t; i++; j--; }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
    double x = v[k];
    if (k >= n - 1) return x;
    double y = v[k + 1];
    for (long long i = k + 2; i < n; i++) if (v[i] < y) y = v[i];   /* right side is >= v[k] */
    return x + (h - k) * (y - x);
}

static void bootstrap(ctx *c, int m, int a, int b, const reservoir *A, const reservoir *B)
{
    long long nA = MQ_MIN(A->n, c->res_cap), nB = MQ_MIN(B->n, c->res_cap);
    int nq = c->o->n_quantiles, B_ = c->o->n_boot > 0 ? c->o->n_boot : 2000;
    bool want_mean = c->o->bootstrap;
    row *rm = want_mean ? mq__xp_new_row(c, m, b, "bootstrap") : NULL;
    row *rq[MQ_XP_MAX_QUANTILES];
    for (int k = 0; k < nq; k++) rq[k] = mq__xp_new_row(c, m, b, "quantile");
    if ((want_mean && !rm)) return;
    for (int k = 0; k < nq; k++) if (!rq[k]) return;
    const char *samp = A->n > c->res_cap || B->n > c->res_cap ? "reservoir subsample" : "all units";
    row *all[1 + MQ_XP_MAX_QUANTILES];
    int na = 0;
    if (rm) all[na++] = rm;
    for (int k = 0; k < nq; k++) all[na++] = rq[k];
    for (int k = 0; k < na; k++) {
        all[k]->n[0] = (double)nA; all[k]->n[1] = (double)nB;
        mq_buf_printf(&all[k]->extra, ",\"sample\":\"%s\",\"resamples\":%d", samp, B_);
    }
    if (nA < 2 || nB < 2) { for (int k = 0; k < na; k++) { not_est(all[k], "an arm has fewer than 2 sampled units"); all[k]->effect = NAN; } return; }
    double *sa = malloc((size_t)nA * sizeof *sa), *sb = malloc((size_t)nB * sizeof *sb);
    double *stat = malloc((size_t)B_ * (1 + nq) * sizeof *stat);
    if (!sa || !sb || !stat) { free(sa); free(sb); free(stat); for (int k = 0; k < na; k++) not_est(all[k], "out of memory"); return; }
    /* point estimates */
    memcpy(sa, A->v, (size_t)nA * sizeof *sa);
    memcpy(sb, B->v, (size_t)nB * sizeof *sb);
    qsort(sa, (size_t)nA, sizeof *sa, dcmp);
    qsort(sb, (size_t)nB, sizeof *sb, dcmp);
    double mA = 0, mB = 0;
    for (long long i = 0; i < nA; i++) mA += sa[i];
    for (long long i = 0; i < nB; i++) mB += sb[i];
    mA /= nA; mB /= nB;
    if (rm) { rm->mean[0] = mA; rm->mean[1] = mB; rm->effect = mB - mA; }
    for (int k = 0; k < nq; k++) {
        double q = c->o->quantiles[k];
        rq[k]->mean[0] = quantile_sorted(sa, nA, q);
        rq[k]->mean[1] = quantile_sorted(sb, nB, q);
        rq[k]->effect = rq[k]->mean[1] - rq[k]->mean[0];
        mq_buf_printf(&rq[k]->extra, ",\"quantile\":");
        mq_buf_json_num(&rq[k]->extra, q);
    }
    mq_rng rng;
    mq_rng_seed(&rng, (c->o->seed ? c->o->seed : 1) * 0x9e3779b97f4a7c15ull + (uint64_t)(m * 131 + b));
    for (int it = 0; it < B_; it++) {
        double ma = 0, mb = 0;
        for (long long i = 0; i < nA; i++) { sa[i] = A->v[mq_rng_below(&rng, (uint64_t)nA)]; ma += sa[i]; }
        for (long long i = 0; i < nB; i++) { sb[i] = B->v[mq_rng_below(&rng, (uint64_t)nB)]; mb += sb[i]; }
        stat[(size_t)it * (1 + nq)] = mb / nB - ma / nA;
        for (int k = 0; k < nq; k++)
            stat[(size_t)it * (1 + nq) + 1 + k] = quantile_select(sb, nB, c->o->quantiles[k]) - quantile_select(sa, nA, c->o->quantiles[k]);
    }
    double *col = malloc((size_t)B_ * sizeof *col);
    for (int k = 0; k < 1 + nq; k++) {
        row *r = k == 0 ? rm : rq[k - 1];
        if (!r) continue;
        if (!col) { not_est(r, "out of memory"); continue; }
        long long le = 0, ge = 0;
        for (int it = 0; it < B_; it++) {
            col[it] = stat[(size_t)it * (1 + nq) + k];
            le += col[it] <= 0;
            ge += col[it] >= 0;
        }
        qsort(col, (size_t)B_, sizeof *col, dcmp);
        r->lo = quantile_sorted(col, B_, c->alpha / 2);
        r->hi = quantile_sorted(col, B_, 1 - c->alpha / 2);
        r->p = MQ_MIN(1.0, 2.0 * (double)MQ_MIN(le, ge) / B_);
        if (r->p == 0) r->p = 1.0 / B_;   /* resolution of the bootstrap: p < 1/B */
        r->rel_est = false;
        snprintf(r->rel_reason, sizeof r->rel_reason, "not computed for the bootstrap");
        if (r->mean[0] != 0) {
            r->rel_est = true;
            r->rel = r->effect / r->mean[0];
            r->rlo = r->lo / r->mean[0];
            r->rhi = r->hi / r->mean[0];
            if (r->mean[0] < 0) { double t = r->rlo; r->rlo = r->rhi; r->rhi = t; }
            r->rel_p = r->p;
        }
    }
    free(col);
    free(sa);
    free(sb);
    free(stat);
}


/* The Bayesian read-out of a primary row (formulas atop this file), appended to its JSON. */
static void bayes(ctx *c, row *r)
{
    mq_buf *x = &r->extra;
    double mA = r->mean[0], tau = 0.3 * fabs(mA);
    int dir = mq__xp_direction(c, r->metric);
    if (!r->est || !(r->se > 0) || !(tau > 0) || !isfinite(r->effect)) {
        const char *why = !r->est || !(r->se > 0) ? "the effect's standard error is not estimable" : "the prior is scaled by the control mean, which is 0";
        mq_buf_printf(x, ",\"bayes\":{\"estimable\":false,\"reason\":\"%s\"}", why);
        r->bayes_missing = why;
        return;
    }
    double prec = 1 / (tau * tau) + 1 / (r->se * r->se), s = 1 / sqrt(prec), mu = r->effect / (r->se * r->se) / prec;
    double dm = dir * mu, z = mq_stats_norm_ppf(1 - c->alpha / 2);
    double win = mq_stats_norm_cdf(dm / s), loss = s * mq_stats_norm_pdf(dm / s) - dm * mq_stats_norm_sf(dm / s);
    if (loss < 0) loss = 0;
    char prior[160];
    snprintf(prior, sizeof prior, "normal(0, %.6g^2) on the absolute effect: 0.3 x |control mean|, i.e. N(0, 0.3^2) on the relative lift", tau);
    mq_buf_puts(x, ",\"bayes\":{");
    mq_buf_puts(x, "\"chance_to_win\":");
    mq_buf_json_num(x, win);
    mq__xp_jnum(x, "expected_loss", loss);
    mq__xp_jnum(x, "ci_low", mu - z * s);
    mq__xp_jnum(x, "ci_high", mu + z * s);
    mq_buf_puts(x, ",\"prior\":");
    mq_buf_json_str(x, prior, strlen(prior));
    mq__xp_jnum(x, "prior_sd", tau);
    mq__xp_jnum(x, "posterior_mean", mu);
    mq__xp_jnum(x, "posterior_sd", s);
    mq_buf_printf(x, ",\"higher_is_better\":%s}", dir > 0 ? "true" : "false");
    r->has_bayes = true;
    r->b_win = win;
    r->b_loss = loss;
    r->b_lo = mu - z * s;
    r->b_hi = mu + z * s;
}

/* ---- output ---- */
void mq__xp_jnum(mq_buf *b, const char *key, double v)
{
    mq_buf_printf(b, ",\"%s\":", key);
    mq_buf_json_num(b, v);
}

static void row_json(const ctx *c, mq_buf *b, const row *r)
{
    mq_buf_puts(b, "{\"metric\":");
    mq_buf_json_str(b, c->met[r->metric].name, strlen(c->met[r->metric].name));
    mq_buf_puts(b, ",\"variant\":");
    mq_buf_json_str(b, c->arms[r->variant], strlen(c->arms[r->variant]));
    mq_buf_puts(b, ",\"control\":");
    mq_buf_json_str(b, c->arms[c->control], strlen(c->arms[c->control]));
    mq_buf_printf(b, ",\"n\":[%.0f,%.0f],\"mean\":[", r->n[0], r->n[1]);
    mq_buf_json_num(b, r->mean[0]);
    mq_buf_putc(b, ',');
    mq_buf_json_num(b, r->mean[1]);
    mq_buf_putc(b, ']');
    mq__xp_jnum(b, "effect", r->effect);
    mq__xp_jnum(b, "ci_low", r->est ? r->lo : NAN);
    mq__xp_jnum(b, "ci_high", r->est ? r->hi : NAN);
    mq__xp_jnum(b, "p_value", r->est ? r->p : NAN);
    mq__xp_jnum(b, "relative_effect", r->rel_est ? r->rel : NAN);
    mq__xp_jnum(b, "relative_ci_low", r->rel_est ? r->rlo : NAN);
    mq__xp_jnum(b, "relative_ci_high", r->rel_est ? r->rhi : NAN);
    mq__xp_jnum(b, "relative_p_value", r->rel_est ? r->rel_p : NAN);
    mq_buf_puts(b, ",\"method\":");
    mq_buf_json_str(b, r->method, strlen(r->method));
    mq__xp_jnum(b, "se", r->est ? r->se : NAN);
    mq_buf_printf(b, ",\"estimable\":%s", r->est ? "true" : "false");
    if (r->reason[0]) { mq_buf_puts(b, ",\"reason\":"); mq_buf_json_str(b, r->reason, strlen(r->reason)); }
    if (!r->rel_est && r->rel_reason[0] && r->est) {
        mq_buf_puts(b, ",\"relative_reason\":");
        mq_buf_json_str(b, r->rel_reason, strlen(r->rel_reason));
    }
    if (r->primary) {
        mq__xp_jnum(b, "p_value_holm", r->p_holm);
        mq__xp_jnum(b, "p_value_bh", r->p_bh);
        const char *cov = !strcmp(r->method, "cuped") ? c->met[r->metric].cov : NULL;
        mq_buf_puts(b, ",\"covariate\":");
        if (cov) mq_buf_json_str(b, cov, strlen(cov)); else mq_buf_puts(b, "null");
    }
    if (r->extra.len) mq_buf_put(b, r->extra.p, r->extra.len);
    mq_buf_putc(b, '}');
}

static void fmt(char *s, size_t n, double v)
{
    if (isfinite(v)) snprintf(s, n, "%.6g", v);
    else snprintf(s, n, "-");
}

static void row_text(const ctx *c, mq_buf *t, const row *r)
{
    char e[32], lo[32], hi[32], p[32], rel[32], rlo[32], rhi[32];
    fmt(e, sizeof e, r->effect);
    mq_buf_printf(t, "%-20s %-8s %-11s n=%.0f/%.0f mean=%.6g/%.6g effect=%s", c->met[r->metric].name,
                  c->arms[r->variant], r->method, r->n[0], r->n[1], r->mean[0], r->mean[1], e);
    if (!r->est) {
        mq_buf_printf(t, "  not estimable: %s\n", r->reason);
        if (r->seq_missing) mq_buf_printf(t, "%-20s always-valid p-value (mSPRT) not estimable: no look had 2 units and nonzero variance in both arms\n", "");
        if (r->bayes_missing) mq_buf_printf(t, "%-20s Bayes read-out not estimable: %s\n", "", r->bayes_missing);
        return;
    }
    fmt(lo, sizeof lo, r->lo); fmt(hi, sizeof hi, r->hi); fmt(p, sizeof p, r->p);
    mq_buf_printf(t, " CI [%s, %s] p=%s", lo, hi, p);
    if (r->rel_est) {
        fmt(rel, sizeof rel, 100 * r->rel); fmt(rlo, sizeof rlo, 100 * r->rlo); fmt(rhi, sizeof rhi, 100 * r->rhi);
        mq_buf_printf(t, " rel=%s%% [%s%%, %s%%]", rel, rlo, rhi);
    }
    if (r->primary) mq_buf_printf(t, " p_holm=%.4g p_bh=%.4g", r->p_holm, r->p_bh);
    if (!strcmp(r->method, "cuped"))
        mq_buf_printf(t, " (covariate %s, %s se)", c->met[r->metric].cov, c->o->cuped_se == MQ_XP_SE_OLS ? "OLS" : "HC2");
    if (r->reason[0]) mq_buf_printf(t, "\n%-20s note: %s", "", r->reason);
    if (r->bayes_missing) mq_buf_printf(t, "\n%-20s Bayes read-out not estimable: %s", "", r->bayes_missing);
    if (r->has_bayes)
        mq_buf_printf(t, "\n%-20s Bayes: chance to win %.4g%%, expected loss %.4g, %.4g%% credible interval [%.6g, %.6g]", "",
                      100 * r->b_win, r->b_loss, 100 * (1 - c->alpha), r->b_lo, r->b_hi);
    if (r->has_seq)
        mq_buf_printf(t, "\n%-20s always-valid p=%.4g, confidence sequence [%.6g, %.6g]", "", r->seq_p, r->cs_lo, r->cs_hi);
    if (r->seq_missing)
        mq_buf_printf(t, "\n%-20s always-valid p-value (mSPRT) not estimable: no look had 2 units and nonzero variance in both arms; the decision uses the fixed-horizon p-value", "");
    if (r->has_gs)
        mq_buf_printf(t, "\n%-20s group-sequential: |z|=%.4f vs bound %.4f: %s", "", fabs(r->gs_z), r->gs_bound,
                      r->gs_crossed ? "crossed, stop" : "not crossed, continue");
    mq_buf_putc(t, '\n');
}

const row *mq__xp_primary_row(const ctx *c, int m, int b)
{
    for (int i = 0; i < c->n_out; i++)
        if (c->out[i].primary && c->out[i].metric == m && c->out[i].variant == b) return &c->out[i];
    return NULL;
}

static void segments_json(ctx *c, mq_buf *j, mq_buf *t)
{
    mq_buf_puts(j, ",\"segments\":[");
    bool first = true;
    double z = mq_stats_norm_ppf(1 - c->alpha / 2);
    for (int m = 0; m < c->n_metrics; m++)
        for (int b = 0; b < c->n_arms; b++) {
            if (b == c->control || c->met[m].ratio) continue;
            if (!first) mq_buf_putc(j, ',');
            first = false;
            mq_buf_puts(j, "{\"metric\":");
            mq_buf_json_str(j, c->met[m].name, strlen(c->met[m].name));
            mq_buf_puts(j, ",\"variant\":");
            mq_buf_json_str(j, c->arms[b], strlen(c->arms[b]));
            mq_buf_puts(j, ",\"by_segment\":[");
            double sw = 0, swe = 0, swe2 = 0;
            int k = 0;
            for (int s = 0; s < c->n_segs; s++) {
                const mom *A = SEGACC(c, s, c->control, m), *B = SEGACC(c, s, b, m);
                if (s) mq_buf_putc(j, ',');
                mq_buf_puts(j, "{\"segment\":");
                mq_buf_json_str(j, c->seg_names[s], strlen(c->seg_names[s]));
                mq_buf_printf(j, ",\"n\":[%.0f,%.0f]", A->n, B->n);
                double e = B->my - A->my, se = A->n > 1 && B->n > 1 ? sqrt(mom_var(A) / A->n + mom_var(B) / B->n) : 0;
                mq__xp_jnum(j, "effect", A->n > 0 && B->n > 0 ? e : NAN);
                if (se > 0) {
                    mq__xp_jnum(j, "ci_low", e - z * se);
                    mq__xp_jnum(j, "ci_high", e + z * se);
                    mq__xp_jnum(j, "p_value", 2 * mq_stats_norm_sf(fabs(e) / se));
                    double w = 1 / (se * se);
                    sw += w; swe += w * e; swe2 += w * e * e;
                    k++;
                    mq_buf_printf(t, "  segment %-12s %-16s %-6s effect=%.6g CI [%.6g, %.6g]\n", c->seg_names[s],
                                  c->met[m].name, c->arms[b], e, e - z * se, e + z * se);
                } else {
                    mq_buf_puts(j, ",\"estimable\":false,\"reason\":\"fewer than 2 units or zero variance in an arm of this segment\"");
                }
                mq_buf_putc(j, '}');
            }
            mq_buf_puts(j, "],\"heterogeneity\":{\"test\":\"cochran_q\"");
            if (k >= 2) {
                double Q = swe2 - swe * swe / sw;
                if (Q < 0) Q = 0;
                mq__xp_jnum(j, "q", Q);
                mq_buf_printf(j, ",\"df\":%d", k - 1);
                mq__xp_jnum(j, "p_value", mq_stats_chi2_sf(Q, k - 1));
                mq_buf_printf(t, "  heterogeneity %s %s: Cochran Q=%.4g df=%d p=%.4g\n", c->met[m].name, c->arms[b], Q,
                              k - 1, mq_stats_chi2_sf(Q, k - 1));
            } else {
                mq_buf_puts(j, ",\"estimable\":false,\"reason\":\"fewer than 2 estimable segments\"");
            }
            mq_buf_puts(j, "}}");
        }
    mq_buf_putc(j, ']');
}

static void novelty_json(ctx *c, mq_buf *j, mq_buf *t)
{
    mq_buf_puts(j, ",\"novelty\":[");
    bool first = true;
    double z = mq_stats_norm_ppf(1 - c->alpha / 2);
    for (int m = 0; m < c->n_metrics; m++) {
        if (c->met[m].ratio) continue;
        for (int b = 0; b < c->n_arms; b++) {
            if (b == c->control) continue;
            if (!first) mq_buf_putc(j, ',');
            first = false;
            mq_buf_puts(j, "{\"metric\":");
            mq_buf_json_str(j, c->met[m].name, strlen(c->met[m].name));
            mq_buf_puts(j, ",\"variant\":");
            mq_buf_json_str(j, c->arms[b], strlen(c->arms[b]));
            mq_buf_puts(j, ",\"by_day\":[");
            double sw = 0, swd = 0, swe = 0, swdd = 0, swde = 0;
            int k = 0;
            bool f2 = true;
            for (int d = 0; d < c->n_days; d++) {
                const mom *A = DAYACC(c, d, c->control, m), *B = DAYACC(c, d, b, m);
                if (A->n + B->n == 0) continue;
                if (!f2) mq_buf_putc(j, ',');
                f2 = false;
                mq_buf_printf(j, "{\"day\":%d,\"n\":[%.0f,%.0f]", d, A->n, B->n);
                double e = B->my - A->my, se = A->n > 1 && B->n > 1 ? sqrt(mom_var(A) / A->n + mom_var(B) / B->n) : 0;
                if (se > 0) {
                    mq__xp_jnum(j, "effect", e);
                    mq__xp_jnum(j, "ci_low", e - z * se);
                    mq__xp_jnum(j, "ci_high", e + z * se);
                    double w = 1 / (se * se);
                    sw += w; swd += w * d; swe += w * e; swdd += w * d * d; swde += w * d * e;
                    k++;
                } else {
                    mq_buf_puts(j, ",\"estimable\":false,\"reason\":\"fewer than 2 units or zero variance in an arm that day\"");
                }
                mq_buf_putc(j, '}');
            }
            mq_buf_puts(j, "],\"trend\":{\"test\":\"wls_slope\"");
            double sxx = swdd - swd * swd / sw;
            if (k >= 3 && sxx > 0) {
                double slope = (swde - swd * swe / sw) / sxx, se = 1 / sqrt(sxx), p = 2 * mq_stats_norm_sf(fabs(slope) / se);
                mq__xp_jnum(j, "slope_per_day", slope);
                mq__xp_jnum(j, "se", se);
                mq__xp_jnum(j, "p_value", p);
                mq_buf_printf(t, "novelty %s %s: effect slope %.6g per day (se %.4g, p=%.4g)%s\n", c->met[m].name,
                              c->arms[b], slope, se, p, p < c->alpha ? " - the effect changes with exposure time" : "");
            } else {
                mq_buf_puts(j, ",\"estimable\":false,\"reason\":\"fewer than 3 estimable days\"");
            }
            mq_buf_puts(j, "}}");
        }
    }
    mq_buf_putc(j, ']');
}

/* ---- the analysis, step by step ---- */

/* The sample ratio mismatch check: the "srm" object and the first lines of j and t.
 *
 * Without range columns: Pearson's chi^2 of the arms' units against the weights, k - 1 df.
 * With them (a collect file; docs/xp.md, "SRM under ramps"), two parts summed into one chi^2:
 *  1. the split: each arm's range members n_v (its units plus the members of its hash range
 *     served only the default) against the weights, sum (n_v - N w_v)^2 / (N w_v), k - 1 df.
 *     The hash puts members into ranges by weight whatever the ramps and stops do;
 *  2. the ramp, per variant with sum s_i (1 - s_i) > 0 over its range members (s_i the
 *     member's served share: the largest share of the range served at its exposures, so
 *     P(member i is a unit) = s_i): units S against E = sum s_i, (S - E)^2 / sum s_i (1 - s_i),
 *     1 df each (given the range members these are independent Bernoulli trials, and the
 *     terms are asymptotically independent of part 1). A variant whose shares are all 0 or 1
 *     must have exactly E units, else p = 0 (e.g. a unit served after its variant stopped).
 * Members without a share (records written before shares were logged) count in part 1 only. */
static void srm_check(ctx *c, mq_buf *j, mq_buf *t, double *srm_p, bool *srm_ok)
{
    double tot = 0, chi2 = 0, wsum = 0, n[MQ_XP_MAX_VARIANTS];
    const rngacc *rg[MQ_XP_MAX_VARIANTS] = {0};
    bool ranges = c->col_range >= 0;
    if (!c->fixed_arms) for (int a = 0; a < c->n_arms; a++) c->weights[a] = 1.0 / c->n_arms;
    for (int a = 0; a < c->n_arms; a++) {
        for (int k = 0; ranges && k < c->n_rng; k++) if (!strcmp(c->rng[k].name, c->arms[a])) rg[a] = &c->rng[k];
        n[a] = ranges ? (rg[a] ? (double)rg[a]->members : 0) : (double)c->count[a];
        tot += n[a];
        wsum += c->weights[a];
    }
    for (int a = 0; a < c->n_arms; a++) {
        double e = tot * c->weights[a] / wsum;
        if (e > 0) chi2 += (n[a] - e) * (n[a] - e) / e;
        else if (n[a] > 0) chi2 = INFINITY;
    }
    int k = 0;
    for (int a = 0; a < c->n_arms; a++) k += c->weights[a] > 0;
    int df = k - 1;
    double ramp_chi2[MQ_XP_MAX_VARIANTS] = {0};
    for (int a = 0; a < c->n_arms; a++) {
        if (!rg[a]) continue;
        double d = (double)rg[a]->units_known - rg[a]->e;
        if (rg[a]->v > 0) {
            ramp_chi2[a] = d * d / rg[a]->v;
            chi2 += ramp_chi2[a];
            df++;
        } else if (fabs(d) > 1e-6 * MQ_MAX(1.0, rg[a]->e)) {
            ramp_chi2[a] = INFINITY;
            chi2 = INFINITY;
        }
    }
    double p = df > 0 ? mq_stats_chi2_sf(chi2, df) : 1;
    if (isinf(chi2)) p = 0;
    double srm_alpha = c->o->srm_alpha > 0 ? c->o->srm_alpha : 0.001;
    bool ok = p >= srm_alpha;
    mq_buf_puts(j, "{\"srm\":{\"p_value\":");
    mq_buf_json_num(j, p);
    mq__xp_jnum(j, "chi2", isinf(chi2) ? 1e308 : chi2);
    mq_buf_printf(j, ",\"df\":%d,\"threshold\":", df);
    mq_buf_json_num(j, srm_alpha);
    mq_buf_printf(j, ",\"passed\":%s,\"counts\":{", ok ? "true" : "false");
    mq_buf_printf(t, "SRM: chi2=%.4g df=%d p=%.4g %s  (", chi2, df, p, ok ? "ok" : "FAILED: results untrustworthy");
    for (int a = 0; a < c->n_arms; a++) {
        if (a) mq_buf_putc(j, ',');
        mq_buf_json_str(j, c->arms[a], strlen(c->arms[a]));
        mq_buf_printf(j, ":%lld", c->count[a]);
        mq_buf_printf(t, "%s%s=%.0f expected %.1f", a ? ", " : ranges ? "range members " : "", c->arms[a], n[a],
                      tot * c->weights[a] / wsum);
    }
    mq_buf_puts(j, "},\"expected_share\":{");
    for (int a = 0; a < c->n_arms; a++) {
        if (a) mq_buf_putc(j, ',');
        mq_buf_json_str(j, c->arms[a], strlen(c->arms[a]));
        mq_buf_putc(j, ':');
        mq_buf_json_num(j, c->weights[a] / wsum);
    }
    mq_buf_putc(j, '}');
    if (ranges) {
        mq_buf_puts(j, ",\"range_members\":{");
        for (int a = 0; a < c->n_arms; a++) {
            if (a) mq_buf_putc(j, ',');
            mq_buf_json_str(j, c->arms[a], strlen(c->arms[a]));
            mq_buf_printf(j, ":%.0f", n[a]);
        }
        mq_buf_puts(j, "},\"ramps\":[");
        bool first = true;
        for (int a = 0; a < c->n_arms; a++) {
            if (!rg[a] || (rg[a]->v <= 0 && ramp_chi2[a] == 0)) continue;
            mq_buf_puts(j, first ? "{\"variant\":" : ",{\"variant\":");
            first = false;
            mq_buf_json_str(j, c->arms[a], strlen(c->arms[a]));
            mq_buf_printf(j, ",\"units\":%lld", rg[a]->units_known);
            mq__xp_jnum(j, "expected_units", rg[a]->e);
            mq__xp_jnum(j, "variance", rg[a]->v);
            mq__xp_jnum(j, "chi2", isinf(ramp_chi2[a]) ? 1e308 : ramp_chi2[a]);
            mq_buf_putc(j, '}');
            mq_buf_printf(t, "; %s served %lld of %lld range members, expected %.1f", c->arms[a], rg[a]->units_known,
                          rg[a]->members, rg[a]->e);
        }
        mq_buf_putc(j, ']');
    }
    mq_buf_printf(j, "},\"trustworthy\":%s,\"rows\":%lld", ok ? "true" : "false", c->rows);
    mq__xp_jnum(j, "alpha", c->alpha);
    mq_buf_puts(t, ")\n");
    *srm_p = p;
    *srm_ok = ok;
}

/* The mSPRT and group-sequential summaries of a primary row. */
static void sequential_info(ctx *c, row *r, int m, int b)
{
    const mq_xp_analyze_opts *o = c->o;
    if (c->seq && !c->met[m].ratio) {
        const seqstate *s = &c->seq[(size_t)b * c->n_metrics + m];
        if (s->looks) {
            mq_buf_printf(&r->extra, ",\"sequential\":{\"method\":\"msprt\"");
            mq__xp_jnum(&r->extra, "tau", sqrt(s->tau2));
            mq__xp_jnum(&r->extra, "always_valid_p_value", s->p);
            r->has_seq = true;
            r->seq_p = s->p;
            r->cs_lo = s->cs_lo;
            r->cs_hi = s->cs_hi;
            mq__xp_jnum(&r->extra, "cs_low", s->cs_lo);
            mq__xp_jnum(&r->extra, "cs_high", s->cs_hi);
            mq_buf_printf(&r->extra, ",\"looks\":%lld,\"look_every\":%lld}", s->looks, o->look_every);
        } else {
            r->seq_missing = true;
            mq_buf_puts(&r->extra, ",\"sequential\":{\"method\":\"msprt\",\"estimable\":false,\"reason\":\"no look had 2 units and nonzero variance in both arms\",\"decision_uses\":\"fixed-horizon p-value\"}");
        }
    }
    if (o->gs_looks > 0 && r->est) {
        double bnd[50];
        if (!mq_stats_gs_bounds(o->gs_looks, c->alpha, o->gs_type ? o->gs_type : MQ_GS_OBF, bnd)) {
            double z = r->effect / r->se, bk = bnd[o->gs_look - 1];
            mq_buf_printf(&r->extra, ",\"group_sequential\":{\"type\":\"%s\",\"looks\":%d,\"look\":%d",
                          o->gs_type == MQ_GS_POCOCK ? "pocock" : "obrien_fleming", o->gs_looks, o->gs_look);
            mq__xp_jnum(&r->extra, "z", z);
            mq__xp_jnum(&r->extra, "bound", bk);
            mq_buf_printf(&r->extra, ",\"crossed\":%s}", fabs(z) >= bk ? "true" : "false");
            r->has_gs = true;
            r->gs_z = z;
            r->gs_bound = bk;
            r->gs_crossed = fabs(z) >= bk;
        }
    }
}

/* The post-stratified effect over the segments with 2 units in both arms. */
static int poststrat(ctx *c, int m, int b)
{
    row *ps = mq__xp_new_row(c, m, b, "poststrat");
    if (!ps) return MQ_ENOMEM;
    const mom *A = ACC(c, c->control, m), *B = ACC(c, b, m);
    double ntot = 0, eff = 0, var = 0;
    int dropped = 0;
    for (int s = 0; s < c->n_segs; s++) {
        const mom *SA = SEGACC(c, s, c->control, m), *SB = SEGACC(c, s, b, m);
        if (SA->n >= 2 && SB->n >= 2) ntot += SA->n + SB->n; else dropped++;
    }
    for (int s = 0; s < c->n_segs && ntot > 0; s++) {
        const mom *SA = SEGACC(c, s, c->control, m), *SB = SEGACC(c, s, b, m);
        if (SA->n < 2 || SB->n < 2) continue;
        double w = (SA->n + SB->n) / ntot;
        eff += w * (SB->my - SA->my);
        var += w * w * (mom_var(SA) / SA->n + mom_var(SB) / SB->n);
    }
    ps->n[0] = A->n; ps->n[1] = B->n; ps->mean[0] = A->my; ps->mean[1] = B->my;
    ps->effect = eff;
    mq_buf_printf(&ps->extra, ",\"segments_used\":%d,\"segments_dropped\":%d", c->n_segs - dropped, dropped);
    double se = sqrt(var), z = mq_stats_norm_ppf(1 - c->alpha / 2);
    if (!(se > 0)) { not_est(ps, "no segment with 2 units and nonzero variance in both arms"); return 0; }
    ps->se = se; ps->lo = eff - z * se; ps->hi = eff + z * se;
    ps->p = 2 * mq_stats_norm_sf(fabs(eff) / se);
    relative(c, ps, A->my, A->my + eff, sqrt(mom_var(A) / A->n), se, 0);
    return 0;
}

/* Every row of metric m, treatment b: the primary test (paired, ratio, CUPED, z or Welch),
 * then the extra rows the options ask for. */
static int compare(ctx *c, int m, int b)
{
    const mq_xp_analyze_opts *o = c->o;
    int a = c->control;
    const mom *A = ACC(c, a, m), *B = ACC(c, b, m);
    const char *na = c->arms[a], *nb = c->arms[b];
    const metric *mt = &c->met[m];
    row *r;
    if (c->col_pair >= 0) { if ((r = mq__xp_new_row(c, m, b, "paired"))) paired(c, r, m, a, b); }
    else if (mt->ratio) { if ((r = mq__xp_new_row(c, m, b, "delta_ratio"))) ratio_test(c, r, A, B, na, nb); }
    else if (mt->cov) { if ((r = mq__xp_new_row(c, m, b, "cuped"))) cuped(c, r, m, a, b, na, nb); }
    else if (mt->binary) { if ((r = mq__xp_new_row(c, m, b, "ztest"))) ztest(c, r, A, B, na, nb); }
    else { if ((r = mq__xp_new_row(c, m, b, "welch"))) welch(c, r, A, B, na, nb); }
    if (!r) return MQ_ENOMEM;
    r->primary = true;
    sequential_info(c, r, m, b);
    if (o->bayes) bayes(c, r);
    if (c->col_seg >= 0 && !mt->ratio && c->col_pair < 0 && poststrat(c, m, b)) return MQ_ENOMEM;
    if (o->mann_whitney && c->res && !mt->ratio) {
        row *mw = mq__xp_new_row(c, m, b, "mann_whitney");
        if (!mw) return MQ_ENOMEM;
        mann_whitney(c, mw, &c->res[(size_t)a * c->n_metrics + m], &c->res[(size_t)b * c->n_metrics + m], c->res_cap, c->res_cap);
    }
    if ((o->bootstrap || o->n_quantiles) && c->res && !mt->ratio)
        bootstrap(c, m, a, b, &c->res[(size_t)a * c->n_metrics + m], &c->res[(size_t)b * c->n_metrics + m]);
    return 0;
}

/* Holm and Benjamini-Hochberg over all primary rows (a row that is not estimable counts as
 * p = 1). */
static int adjust(ctx *c)
{
    int np = 0;
    for (int i = 0; i < c->n_out; i++) np += c->out[i].primary;
    double *p = malloc((size_t)(np + 1) * sizeof *p), *h = malloc((size_t)(np + 1) * sizeof *h), *q = malloc((size_t)(np + 1) * sizeof *q);
    if (!p || !h || !q) { free(p); free(h); free(q); return MQ_ENOMEM; }
    int k = 0;
    for (int i = 0; i < c->n_out; i++) if (c->out[i].primary) p[k++] = c->out[i].est ? c->out[i].p : 1;
    mq_stats_holm(p, np, h);
    mq_stats_bh(p, np, q);
    k = 0;
    for (int i = 0; i < c->n_out; i++) if (c->out[i].primary) { c->out[i].p_holm = h[k]; c->out[i].p_bh = q[k]; k++; }
    free(p); free(h); free(q);
    return 0;
}

static int run(ctx *c, char **json, char **text, const mq_log *log, mq_err *err)
{
    int rc = mq__xp_read(c, log, err);
    if (rc) return rc;
    c->control = -1;
    for (int a = 0; a < c->n_arms; a++) if (!strcmp(c->arms[a], c->o->control)) c->control = a;
    if (c->control < 0)
        return mq__err_set(err, MQ_EINVAL, "%s: control variant '%s' has no rows", c->path, c->o->control);
    if (c->n_arms < 2) return mq__err_set(err, MQ_EFORMAT, "%s: only one variant ('%s') in the data", c->path, c->arms[0]);
    if (c->seq) mq__xp_seq_run(c);
    if (c->hc2_part && (rc = mq__xp_hc2_pass(c, log, err))) return rc;
    mq_buf j, t;
    mq_buf_init(&j);
    mq_buf_init(&t);
    double srm_p;
    bool srm_ok;
    srm_check(c, &j, &t, &srm_p, &srm_ok);
    for (int m = 0; m < c->n_metrics && !rc; m++)
        for (int b = 0; b < c->n_arms && !rc; b++)
            if (b != c->control) rc = compare(c, m, b);
    if (!rc) rc = adjust(c);
    if (rc) { rc = mq__err_set(err, rc, "out of memory"); goto fail; }
    mq_buf_puts(&j, ",\"results\":[");
    for (int i = 0; i < c->n_out; i++) {
        if (i) mq_buf_putc(&j, ',');
        row_json(c, &j, &c->out[i]);
        row_text(c, &t, &c->out[i]);
    }
    mq_buf_putc(&j, ']');
    if (c->col_seg >= 0) segments_json(c, &j, &t);
    if (c->col_day >= 0) novelty_json(c, &j, &t);
    mq__xp_decide(c, &j, &t, srm_p, srm_ok);
    mq_buf_puts(&j, "}\n");
    if (j.oom || t.oom) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
    mq_buf_cstr(&j);
    mq_buf_cstr(&t);
    *json = j.p ? j.p : strdup("{}");
    *text = t.p ? t.p : strdup("");
    return 0;
fail:
    mq_buf_release(&j);
    mq_buf_release(&t);
    return rc;
}

/* ---- set-up ---- */

static int add_metric(ctx *c, const char *nm, mq_err *err)
{
    for (int q = 0; q < c->n_metrics; q++) if (!strcmp(c->met[q].name, nm)) return q;
    size_t len = strlen(nm);
    if (c->n_metrics >= MQ_XP_ALL_METRICS || len >= MQ_XP_NAME || !len)
        return mq__err_set(err, MQ_EINVAL, "metric '%.200s': empty, too long, or too many metrics", nm);
    if (c->o->pair && strchr(nm, '/'))
        return mq__err_set(err, MQ_EUNSUP, "metric '%.200s': ratio metrics are not supported with --pair (give the per-unit ratio as its own column)", nm);
    memcpy(c->met[c->n_metrics].name, nm, len + 1);
    return c->n_metrics++;
}

static int check_opts(const mq_xp_analyze_opts *o, mq_err *err)
{
    if (!o || !o->control || !o->control[0]) return mq__err_set(err, MQ_EINVAL, "analyze: a file and the control variant are required");
    if (o->n_metrics < 1 && !(o->experiment && o->experiment->primary_metric[0]))
        return mq__err_set(err, MQ_EINVAL, "analyze: at least one --metric is required");
    double alpha = o->alpha > 0 ? o->alpha : 0.05;
    if (!(alpha < 1)) return mq__err_set(err, MQ_EINVAL, "alpha: %g is out of range (0, 1)", alpha);
    if (o->look_every <= 0 && o->sequential) return mq__err_set(err, MQ_EINVAL, "look-every must be > 0");
    if (o->gs_looks && (o->gs_looks < 1 || o->gs_looks > 50 || o->gs_look < 1 || o->gs_look > o->gs_looks))
        return mq__err_set(err, MQ_EINVAL, "group-sequential: need 1 <= look (%d) <= looks (%d) <= 50", o->gs_look, o->gs_looks);
    for (int k = 0; k < o->n_quantiles; k++)
        if (!(o->quantiles[k] >= 0 && o->quantiles[k] <= 1)) return mq__err_set(err, MQ_EINVAL, "quantile: %g is out of range [0, 1]", o->quantiles[k]);
    if (o->cuped_se != MQ_XP_SE_HC2 && o->cuped_se != MQ_XP_SE_OLS) return mq__err_set(err, MQ_EINVAL, "cuped-se: %d is not HC2 or OLS", o->cuped_se);
    return 0;
}

/* Metrics: the config's primary metric, the given ones, then the guardrails; covariates. */
static int setup_metrics(ctx *c, mq_err *err)
{
    const mq_xp_analyze_opts *o = c->o;
    const mq_xp_experiment *x = o->experiment;
    int rc;
    if (x && x->primary_metric[0]) if ((rc = add_metric(c, x->primary_metric, err)) < 0) return rc;
    for (int m = 0; m < o->n_metrics; m++) if ((rc = add_metric(c, o->metrics[m], err)) < 0) return rc;
    c->primary = 0;
    if (x) for (int g = 0; g < x->n_guardrails; g++) c->guard[c->n_guard++] = x->guardrails[g];
    for (int g = 0; g < o->n_guardrails && c->n_guard < MQ_XP_MAX_GUARDRAILS; g++) c->guard[c->n_guard++] = o->guardrails[g];
    for (int g = 0; g < c->n_guard; g++) {
        const mq_xp_guardrail *gr = &c->guard[g];
        if (gr->direction != MQ_XP_HIGHER_IS_BETTER && gr->direction != MQ_XP_LOWER_IS_BETTER)
            return mq__err_set(err, MQ_EINVAL, "guardrail '%s': its direction is not stated: say whether lower or higher values are better (--guardrail %s:%g:lower or :higher; in a config, \"higher_is_better\": false or true)",
                               gr->metric, gr->metric, gr->max_degradation);
        if ((rc = add_metric(c, gr->metric, err)) < 0) return rc;
    }
    /* the bare --covariate adjusts the primary metric only; METRIC=COLUMN names its metric */
    if (o->covariate) c->met[c->primary].cov = o->covariate;
    for (int k = 0; k < o->n_covariates; k++) {
        int m = -1;
        for (int q = 0; q < c->n_metrics; q++) if (!strcmp(c->met[q].name, o->covariate_metric[k])) m = q;
        if (m < 0) return mq__err_set(err, MQ_EINVAL, "covariate %s=%s: '%s' is not a metric of this analysis (--metric, guardrail or the config's primary metric)",
                                      o->covariate_metric[k], o->covariate_col[k], o->covariate_metric[k]);
        c->met[m].cov = o->covariate_col[k];
    }
    for (int m = 0; m < c->n_metrics; m++)
        if (c->met[m].cov && strchr(c->met[m].name, '/'))
            return mq__err_set(err, MQ_EUNSUP, "covariate %s for the ratio metric '%s': CUPED is not supported for ratio metrics", c->met[m].cov, c->met[m].name);
    return 0;
}

/* Arms from --weights or the config (then fixed, in that order), else from the data. */
static int setup_arms(ctx *c, mq_err *err)
{
    const mq_xp_analyze_opts *o = c->o;
    const mq_xp_experiment *x = o->experiment;
    if (o->n_weights > 0) {
        for (int a = 0; a < o->n_weights; a++) { strcpy(c->arms[a], o->weight_names[a]); c->weights[a] = o->weights[a]; }
        c->n_arms = o->n_weights;
        c->fixed_arms = true;
    } else if (x) {
        for (int a = 0; a < x->n_variants; a++) { strcpy(c->arms[a], x->variants[a]); c->weights[a] = x->weights[a]; }
        c->n_arms = x->n_variants;
        c->fixed_arms = true;
    }
    for (int a = 0; a < c->n_arms; a++) c->arm_len[a] = strlen(c->arms[a]);
    if (c->fixed_arms) {
        bool found = false;
        for (int a = 0; a < c->n_arms; a++) found |= !strcmp(c->arms[a], o->control);
        if (!found) return mq__err_set(err, MQ_EINVAL, "control '%s' is not one of the configured variants", o->control);
    }
    return 0;
}

static int setup_stores(ctx *c, mq_err *err)
{
    const mq_xp_analyze_opts *o = c->o;
    size_t n = (size_t)MQ_XP_MAX_VARIANTS * c->n_metrics;
    c->acc = calloc(n, sizeof *c->acc);
    c->pend = calloc(n, sizeof *c->pend);
    if (!c->acc || !c->pend) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    if (o->mann_whitney || o->bootstrap || o->n_quantiles) {
        c->res_cap = o->reservoir > 0 ? o->reservoir : 20000;
        if (!(c->res = calloc(n, sizeof *c->res))) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    }
    bool any_cov = false;
    for (int m = 0; m < c->n_metrics; m++) any_cov |= c->met[m].cov != NULL;
    if (any_cov && o->cuped_se == MQ_XP_SE_HC2 && !o->pair) {
        /* HC2 needs every unit's residual: a second pass over a regular file, else (stdin, a
         * pipe) the units' (y, x) kept in memory */
        struct stat st;
        bool regular = strcmp(c->path, "-") && stat(c->path, &st) == 0 && S_ISREG(st.st_mode);
        if (regular) c->hc2_part = calloc((size_t)MQ_XP_MAX_VARIANTS * n, sizeof *c->hc2_part);
        else c->hc2 = calloc(n, sizeof *c->hc2);
        if (!c->hc2_part && !c->hc2) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    }
    if (o->sequential && !(c->seq = calloc(n, sizeof *c->seq))) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    return 0;
}

static void ctx_free(ctx *c)
{
    size_t n = (size_t)MQ_XP_MAX_VARIANTS * c->n_metrics;
    if (c->res) for (size_t i = 0; i < n; i++) free(c->res[i].v);
    if (c->hc2) for (size_t i = 0; i < n; i++) { free(c->hc2[i].y); free(c->hc2[i].x); }
    for (int a = 0; a < MQ_XP_MAX_VARIANTS; a++) free(c->snap[a]);
    free(c->res);
    free(c->hc2);
    free(c->hc2_part);
    free(c->seq);
    free(c->acc);
    free(c->pend);
    for (int s = 0; s < c->n_segs; s++) free(c->seg_names[s]);
    free(c->seg_names);
    free(c->colname);
    free(c->seg_acc);
    free(c->day_acc);
    free(c->pair_val);
    mq__xp_smap_free(&c->segs);
    mq__xp_smap_free(&c->pairs);
    for (int i = 0; i < c->n_out; i++) mq_buf_release(&c->out[i].extra);
    free(c->out);
    free(c);
}

int mq_xp_analyze(const char *path, const mq_xp_analyze_opts *o, char **json, char **text,
                  const mq_log *log, mq_err *err)
{
    *json = *text = NULL;
    if (!path) return mq__err_set(err, MQ_EINVAL, "analyze: a file and the control variant are required");
    mq_xp_analyze_opts ov; int rc = MQ__OPTS_GET(mq_xp_analyze_opts, &ov, o, err); if (rc) return rc; if (o) o = &ov;
    rc = check_opts(o, err);
    if (rc) return rc;
    ctx *c = calloc(1, sizeof *c);
    if (!c) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    c->o = o;
    c->path = path;
    c->alpha = o->alpha > 0 ? o->alpha : 0.05;
    if (!(rc = setup_metrics(c, err)) && !(rc = setup_arms(c, err)) && !(rc = setup_stores(c, err)))
        rc = run(c, json, text, log, err);
    ctx_free(c);
    return rc;
}
