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
 * with Lambda(theta_hat - theta0) < 1 / alpha.
 *
 * Looks over a file (mq__xp_seq_run): the file's order is time order within each arm only, so a
 * look is defined per arm, not per row of the file: look k of treatment B against control A
 * uses the first k * look_every units of A and the first k * look_every units of B (the reader
 * snapshots each arm's moments at those counts), for k = 1 while both arms have that many,
 * then one last look with all units. The same units enter every look however the arms' rows
 * are interleaved. tau: --tau, else the config's absolute MDE, else 0.1 x the pooled sd at the
 * first look with two units and nonzero variance in both arms.
 */
#include "xp.h"
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

static void look(ctx *c, seqstate *s, const mom *A, const mom *B)
{
    if (A->n < 2 || B->n < 2) return;
    double v = mom_var(A) / A->n + mom_var(B) / B->n;
    if (!(v > 0)) return;
    if (s->tau2 == 0) {
        const mq_xp_analyze_opts *o = c->o;
        double t = o->tau;
        if (!(t > 0) && o->experiment && o->experiment->mde > 0 && !o->experiment->mde_relative) t = o->experiment->mde;
        if (!(t > 0)) t = 0.1 * sqrt(0.5 * (mom_var(A) + mom_var(B)));
        if (!(t > 0)) return;
        s->tau2 = t * t;
        s->p = 1;
        s->cs_lo = -INFINITY;
        s->cs_hi = INFINITY;
    }
    double th = B->my - A->my, lam = mq_xp_msprt_lambda(th, v, s->tau2);
    double hw = mq_xp_msprt_halfwidth(v, s->tau2, c->alpha);
    if (isfinite(lam) && lam > 0) s->p = MQ_MIN(s->p, 1 / lam);
    if (isfinite(hw)) { s->cs_lo = MQ_MAX(s->cs_lo, th - hw); s->cs_hi = MQ_MIN(s->cs_hi, th + hw); }
    s->looks++;
}

void mq__xp_seq_run(ctx *c)
{
    int a = c->control, nm = c->n_metrics;
    for (int b = 0; b < c->n_arms; b++) {
        if (b == a) continue;
        long long K = MQ_MIN(c->n_snap[a], c->n_snap[b]);
        for (int m = 0; m < nm; m++) {
            if (c->met[m].ratio) continue;
            seqstate *s = &c->seq[(size_t)b * nm + m];
            for (long long k = 0; k < K; k++) look(c, s, &c->snap[a][(size_t)k * nm + m], &c->snap[b][(size_t)k * nm + m]);
            /* the last look, with every unit, unless look K already held them all */
            if (c->count[a] != K * c->o->look_every || c->count[b] != K * c->o->look_every)
                look(c, s, ACC(c, a, m), ACC(c, b, m));
        }
    }
}
