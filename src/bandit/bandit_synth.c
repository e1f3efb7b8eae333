/* bandit_synth.c: synthetic bandit logs whose evaluation-policy value is known exactly.
 *
 * Model (K actions, D context features), all drawn from one seeded RNG in this order:
 *   action features f_a ~ N(0, I_D / D), a = 0..K-1; interaction M ~ N(0, 1/D) entrywise [D x D];
 *   action biases c_a ~ N(-1, 0.5^2);
 *   per row i: x_i ~ N(0, I_D), mu(x_i, a) = sigmoid(c_a + x_i' M f_a)   (logistic in context x
 *   action features; x' M f_a has unit variance), logged action a_i ~ pi0(. | x_i), reward
 *   r_i ~ Bernoulli(mu(x_i, a_i)).
 * Logging pi0: uniform (1/K) or softmax(mu(x_i, .) / tau0). Evaluation pi: softmax(mu / tau).
 * The truth is V = (1/n) sum_i sum_a pi(a | x_i) mu(x_i, a): the policy's exact expected reward
 * on these contexts (the reward noise is integrated out, the contexts are not).
 *
 * Output: in memory (mq_bandit_synth_make), or the log in Marquee's bandit format
 * (round,action,position,reward,propensity,x0..) and "<path>.pi.csv" (row,action,probability),
 * both %.17g, both written atomically. A per-(a, p) logistic regression on (1, x) is a correctly
 * specified reward model for this truth.
 */
#include "bandit/bandit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void softmax(const double *mu, int32_t K, double tau, double *p)
{
    double m = mu[0];
    for (int32_t a = 1; a < K; a++) m = MQ_MAX(m, mu[a]);
    double s = 0;
    for (int32_t a = 0; a < K; a++) s += p[a] = exp((mu[a] - m) / tau);
    for (int32_t a = 0; a < K; a++) p[a] /= s;
}

int mq_bandit_synth_make(const mq_bandit_synth_opts *o, mq_bandit_log **log_out, mq_bandit_dist **pi_out,
                         double *true_value, mq_err *err)
{
    *log_out = NULL;
    *pi_out = NULL;
    mq_bandit_synth_opts ov; int orc = MQ__OPTS_GET(mq_bandit_synth_opts, &ov, o, err); if (orc) return orc; o = &ov;
    const int32_t K = o->n_actions, D = o->dim;
    if (K < 2 || K > 100000 || D < 1 || D > 1000 || o->n < 1 || o->n > ((int64_t)1 << 40) / K)
        return mq__err_set(err, MQ_EINVAL, "synth: need actions >= 2, dim in 1..1000 and n >= 1");
    if (o->logging_tau < 0 || o->policy_tau < 0)
        return mq__err_set(err, MQ_EINVAL, "synth: temperatures must be > 0");
    const double tau = o->policy_tau > 0 ? o->policy_tau : 0.1;
    const int64_t n = o->n;
    double *F = malloc((size_t)K * D * sizeof *F), *Mx = malloc((size_t)D * D * sizeof *Mx);
    double *c = malloc((size_t)K * sizeof *c), *theta = malloc((size_t)K * D * sizeof *theta);
    double *mu = malloc((size_t)K * sizeof *mu), *p0 = malloc((size_t)K * sizeof *p0);
    mq_bandit_log *l = calloc(1, sizeof *l);
    mq_bandit_dist *pi = calloc(1, sizeof *pi);
    int rc = 0;
    if (!F || !Mx || !c || !theta || !mu || !p0 || !l || !pi) goto oom;
    l->dim = D;
    if (mq__bandit_log_reserve(l, n)) goto oom;
    pi->p = malloc((size_t)n * K * sizeof *pi->p);
    if (!pi->p) goto oom;
    l->n = n;
    l->n_actions = pi->n_actions = K;
    l->n_positions = pi->n_positions = 1;
    pi->n_rows = n;
    mq_rng rng;
    mq_rng_seed(&rng, o->seed);
    const double sd = 1.0 / sqrt((double)D);
    for (int64_t i = 0; i < (int64_t)K * D; i++) F[i] = sd * mq_rng_normal(&rng);
    for (int64_t i = 0; i < (int64_t)D * D; i++) Mx[i] = sd * mq_rng_normal(&rng);
    for (int32_t a = 0; a < K; a++) c[a] = -1 + 0.5 * mq_rng_normal(&rng);
    /* theta_a = M f_a, so x' M f_a = x . theta_a. */
    for (int32_t a = 0; a < K; a++)
        for (int32_t j = 0; j < D; j++) {
            double s = 0;
            for (int32_t k = 0; k < D; k++) s += Mx[j * D + k] * F[a * D + k];
            theta[a * D + j] = s;
        }
    double truth = 0;
    for (int64_t i = 0; i < n; i++) {
        double *x = l->x + i * D, *pe = pi->p + i * K;
        for (int32_t j = 0; j < D; j++) x[j] = mq_rng_normal(&rng);
        for (int32_t a = 0; a < K; a++) {
            double z = c[a];
            for (int32_t j = 0; j < D; j++) z += x[j] * theta[a * D + j];
            mu[a] = mq__bandit_sigmoid(z);
        }
        if (o->logging_tau > 0) softmax(mu, K, o->logging_tau, p0);
        else
            for (int32_t a = 0; a < K; a++) p0[a] = 1.0 / K;
        softmax(mu, K, tau, pe);
        double u = mq_rng_uniform(&rng), cum = 0;
        int32_t act = K - 1;
        for (int32_t a = 0; a < K; a++) {
            cum += p0[a];
            if (u < cum) { act = a; break; }
        }
        l->action[i] = act;
        l->position[i] = 0;
        l->reward[i] = mq_rng_uniform(&rng) < mu[act];
        l->propensity[i] = p0[act];
        double v = 0;
        for (int32_t a = 0; a < K; a++) v += pe[a] * mu[a];
        truth += v;
    }
    *true_value = truth / (double)n;
    goto done;
oom:
    rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
done:
    free(F);
    free(Mx);
    free(c);
    free(theta);
    free(mu);
    free(p0);
    if (rc) {
        mq_bandit_log_destroy(l);
        mq_bandit_dist_destroy(pi);
    } else {
        *log_out = l;
        *pi_out = pi;
    }
    return rc;
}

int mq_bandit_synth(const mq_bandit_synth_opts *o, const char *path, double *true_value, mq_err *err)
{
    mq_bandit_log *l;
    mq_bandit_dist *pi;
    int rc = mq_bandit_synth_make(o, &l, &pi, true_value, err);
    if (rc) return rc;
    char pi_path[4200];
    snprintf(pi_path, sizeof pi_path, "%s.pi.csv", path);
    mq_atomic_file lf;
    const int32_t K = l->n_actions, D = l->dim;
    if ((rc = mq__atomic_open(&lf, path, err))) goto done;
    fputs("round,action,position,reward,propensity", lf.f);
    for (int32_t j = 0; j < D; j++) fprintf(lf.f, ",x%d", j);
    fputc('\n', lf.f);
    for (int64_t i = 0; i < l->n; i++) {
        fprintf(lf.f, "%lld,%d,1,%d,%.17g", (long long)i, l->action[i], (int)l->reward[i], l->propensity[i]);
        for (int32_t j = 0; j < D; j++) fprintf(lf.f, ",%.17g", l->x[i * D + j]);
        fputc('\n', lf.f);
    }
    if ((rc = mq__atomic_commit(&lf, err))) goto done;
    (void)K;
    rc = mq_bandit_dist_save(pi, pi_path, err);
done:
    mq_bandit_log_destroy(l);
    mq_bandit_dist_destroy(pi);
    return rc;
}
