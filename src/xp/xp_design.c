/* xp_design.c: sample size and minimum detectable effect of a two-sample comparison.
 *
 * Normal approximation for a two-sided test at level a with power 1 - b:
 *     n per arm = (z_{1 - a/2} + z_{1 - b})^2 (s_A^2 + s_B^2) / delta^2
 * where s^2 = sd^2 for a mean (equal variances) and s^2 = p (1 - p) in each arm for a rate (the
 * unpooled form, p_B = p_A + delta). REFERENCES.md: sd 1, delta 0.02, a 0.05, power 0.8 ->
 * 39,244.4 per arm; 10% -> 11% -> 14,748. With k arms (k - 1 comparisons against control) a is
 * divided by k - 1 (Bonferroni), which keeps the family-wise error at a. CUPED with variance
 * reduction r (the squared correlation of the pre-period covariate) multiplies the variance, and
 * so n, by 1 - r (Deng, Xu, Kohavi & Walker, WSDM 2013). The MDE for a given n inverts the
 * formula (in closed form for means, by bisection for rates since s_B depends on delta).
 */
#include "core/core.h"
#include <math.h>
#include <string.h>

int mq_xp_design(const mq_xp_design_in *in, mq_xp_design_out *out, mq_err *err)
{
    memset(out, 0, sizeof *out);
    mq_xp_design_in iv; int orc = MQ__OPTS_GET(mq_xp_design_in, &iv, in, err); if (orc) return orc; in = &iv;
    int arms = in->arms ? in->arms : 2;
    bool rate = in->baseline_rate > 0;
    if (arms < 2 || arms > MQ_XP_MAX_VARIANTS)
        return mq__err_set(err, MQ_EINVAL, "arms: %d is out of range [2, %d]", arms, MQ_XP_MAX_VARIANTS);
    if (!(in->alpha > 0 && in->alpha < 1))
        return mq__err_set(err, MQ_EINVAL, "alpha: %g is out of range (0, 1)", in->alpha);
    if (!(in->power > 0 && in->power < 1))
        return mq__err_set(err, MQ_EINVAL, "power: %g is out of range (0, 1)", in->power);
    if (rate && in->sd > 0)
        return mq__err_set(err, MQ_EINVAL, "give either sd (a mean metric) or baseline-rate (a rate), not both");
    if (rate && !(in->baseline_rate < 1))
        return mq__err_set(err, MQ_EINVAL, "baseline-rate: %g is out of range (0, 1)", in->baseline_rate);
    if (!rate && !(in->sd > 0 && isfinite(in->sd)))
        return mq__err_set(err, MQ_EINVAL, "sd: missing or not > 0 (or give baseline-rate for a rate metric)");
    if (!(in->variance_reduction >= 0 && in->variance_reduction < 1))
        return mq__err_set(err, MQ_EINVAL, "variance-reduction: %g is out of range [0, 1)", in->variance_reduction);
    if (in->daily_traffic < 0 || !isfinite(in->daily_traffic))
        return mq__err_set(err, MQ_EINVAL, "daily-traffic: %g must be > 0", in->daily_traffic);
    double base = rate ? in->baseline_rate : in->baseline_mean;
    if (in->relative && !(base != 0 && isfinite(base)))
        return mq__err_set(err, MQ_EINVAL, "a relative MDE needs --baseline-mean (for --sd) or --baseline-rate");
    double vr = in->variance_reduction, acmp = in->alpha / (arms - 1);
    double z = mq_stats_norm_ppf(1 - acmp / 2) + mq_stats_norm_ppf(in->power), z2 = z * z;
    out->alpha_per_comparison = acmp;
    out->variance_reduction = vr;
    if (in->n > 0) {
        /* MDE for n per arm */
        double n = in->n, d;
        if (!rate) {
            /* sqrt(2) sd z sqrt((1 - vr) / n): no squaring of sd, so a large sd cannot overflow. */
            d = z * M_SQRT2 * in->sd * sqrt((1 - vr) / n);
            if (!isfinite(d))
                return mq__err_set(err, MQ_ERANGE, "sd: %g is too large (the MDE overflows)", in->sd);
        } else {
            double p1 = in->baseline_rate, lo = 0, hi = 1 - p1;
            for (int it = 0; it < 200; it++) {
                double m = 0.5 * (lo + hi), p2 = p1 + m;
                double need = z2 * (p1 * (1 - p1) + p2 * (1 - p2)) * (1 - vr) / (m * m);
                if (need > n) lo = m; else hi = m;
            }
            d = hi;
            if (d >= 1 - p1 - 1e-12)
                return mq__err_set(err, MQ_EINVAL, "n: %g per arm cannot detect any rate change from %g", n, p1);
        }
        out->n_exact = n;
        out->mde_abs = d;
        out->mde_rel = base != 0 ? d / fabs(base) : 0;
        out->n_without_cuped = n;
    } else {
        if (!(in->mde > 0 && isfinite(in->mde)))
            return mq__err_set(err, MQ_EINVAL, "mde: missing or not > 0 (or give --n to get the MDE)");
        double d = in->relative ? in->mde * fabs(base) : in->mde;
        double var;
        if (!rate) {
            var = 2 * in->sd * in->sd;
        } else {
            double p1 = in->baseline_rate, p2 = p1 + d;
            if (!(p2 < 1))
                return mq__err_set(err, MQ_EINVAL, "mde: baseline-rate + mde = %g is not a rate below 1", p2);
            var = p1 * (1 - p1) + p2 * (1 - p2);
        }
        out->n_without_cuped = z2 * var / (d * d);
        out->n_exact = out->n_without_cuped * (1 - vr);
        out->mde_abs = d;
        out->mde_rel = base != 0 ? d / fabs(base) : 0;
    }
    /* NaN (sd and mde both overflowing when squared) fails here too, before the cast. */
    if (!(out->n_exact <= 9e15))
        return mq__err_set(err, MQ_ERANGE, "sample size %g is too large (or sd / mde out of range)", out->n_exact);
    out->n_per_arm = (long long)ceil(out->n_exact - 1e-9 * out->n_exact);
    if (out->n_per_arm < 2) out->n_per_arm = 2;   /* a variance needs two units per arm */
    out->n_total = out->n_per_arm * arms;
    if (in->daily_traffic > 0) out->days = (double)out->n_total / in->daily_traffic;
    return 0;
}
