/* bandit_coverage.c: accuracy of the off-policy estimators against known truth, many seeds.
 *
 * For seeds 1..S (default 100): mq_bandit_synth_make with K = 10 actions, D = 5 context
 * features, n = 100,000 uniform-random logged rounds, evaluation policy softmax(mu / 0.1); then
 * mq_bandit_ope with the default (logistic) reward model. Prints, per estimator, the share of
 * seeds whose 95% CI covers the exact value, the mean and largest relative error, and the mean
 * CI half-width; exits 1 when DR's largest relative error exceeds 5% or the IPS, SNIPS or DR
 * coverage is outside 90-99% (the targets).
 * usage: bench_bandit_coverage [SEEDS] [N]
 */
#include "marquee.h"
#include <math.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int S = argc > 1 ? atoi(argv[1]) : 100;
    int64_t n = argc > 2 ? atoll(argv[2]) : 100000;
    int cover[MQ_OPE_COUNT] = {0};
    double err_sum[MQ_OPE_COUNT] = {0}, err_max[MQ_OPE_COUNT] = {0}, half[MQ_OPE_COUNT] = {0};
    double t0 = mq_now();
    for (int s = 1; s <= S; s++) {
        mq_bandit_synth_opts o; mq_bandit_synth_opts_init(&o, sizeof o);
        o.n_actions = 10; o.dim = 5; o.n = n; o.seed = (uint64_t)s; o.logging_tau = 0;
        o.policy_tau = 0.1;
        mq_bandit_log *l;
        mq_bandit_dist *pi;
        double truth;
        mq_err err = {0};
        mq_ope_result r;
        if (mq_bandit_synth_make(&o, &l, &pi, &truth, &err) || mq_bandit_ope(l, pi, NULL, &r, &err)) {
            fprintf(stderr, "bandit_coverage: %s\n", err.msg);
            return 1;
        }
        for (int k = 0; k < MQ_OPE_COUNT; k++) {
            const mq_ope_estimate *E = &r.est[k];
            cover[k] += E->ci_low <= truth && truth <= E->ci_high;
            double e = fabs(E->value - truth) / truth;
            err_sum[k] += e;
            if (e > err_max[k]) err_max[k] = e;
            half[k] += (E->ci_high - E->ci_low) / 2 / truth;
        }
        mq_bandit_log_destroy(l);
        mq_bandit_dist_destroy(pi);
    }
    printf("bandit_coverage: %d seeds, K 10, D 5, n %lld, uniform logging, pi = softmax(mu/0.1) (%.1f s)\n",
           S, (long long)n, mq_now() - t0);
    printf("%-10s %9s %14s %14s %16s\n", "estimator", "coverage", "mean rel err", "max rel err", "mean CI half/V");
    for (int k = 0; k < MQ_OPE_COUNT; k++)
        printf("%-10s %8.0f%% %13.2f%% %13.2f%% %15.2f%%\n", mq_ope_name(k), 100.0 * cover[k] / S,
               100 * err_sum[k] / S, 100 * err_max[k], 100 * half[k] / S);
    int bad = err_max[MQ_OPE_DR] > 0.05;
    const int check[3] = {MQ_OPE_IPS, MQ_OPE_SNIPS, MQ_OPE_DR};
    for (int k = 0; k < 3; k++) {
        double c = (double)cover[check[k]] / S;
        bad |= c < 0.90 || c > 0.99;
    }
    printf("targets (DR max rel err <= 5%%, IPS/SNIPS/DR coverage in 90-99%%): %s\n", bad ? "MISSED" : "met");
    return bad;
}
