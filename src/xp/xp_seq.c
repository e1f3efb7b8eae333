/* xp_seq.c: mixture sequential probability ratio test (mSPRT).
 *
 * Johari, Pekelis & Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests"
 * (Operations Research 2022; arXiv 1512.04922), normal mixture: for an estimate theta_hat of the
 * difference with variance v and a N(0, tau2) mixing distribution,
 *     Lambda = sqrt(v / (v + tau2)) exp(tau2 theta_hat^2 / (2 v (v + tau2))).
 * With n units per arm and V = 2 sigma^2, v = V / n and this is the paper's
 * sqrt(V / (V + n tau2)) exp(n^2 tau2 theta_hat^2 / (2 V (V + n tau2))); REFERENCES.md:
 * sigma^2 = 1, tau2 = 0.01, n = 10,000, theta_hat = 0.05 -> Lambda = 64.17. p_n = min(p_{n-1},
 * 1 / Lambda_n) is valid at any stopping time; the confidence sequence is the set of theta0
 * with Lambda(theta_hat - theta0) < 1 / alpha. The running evaluation over a file lives in
 * xp_analyze.c; these are the pure formulas.
 */
#include "core/core.h"
#include <math.h>

double mq_xp_msprt_lambda(double theta_hat, double v, double tau2)
{
    if (!(v > 0) || !(tau2 > 0)) return NAN;
    return sqrt(v / (v + tau2)) * exp(tau2 * theta_hat * theta_hat / (2 * v * (v + tau2)));
}

double mq_xp_msprt_halfwidth(double v, double tau2, double alpha)
{
    if (!(v > 0) || !(tau2 > 0) || !(alpha > 0 && alpha < 1)) return NAN;
    return sqrt(v * (v + tau2) / tau2 * (log((v + tau2) / v) - 2 * log(alpha)));
}
