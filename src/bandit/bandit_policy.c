/* bandit_policy.c: bandit policies with exact propensities, and Li et al. (2011) replay.
 *
 * Every policy produces a distribution q over the K actions, mixes it with uniform,
 *   p = (1 - gamma) q + gamma / K,   gamma = floor * K   (floor default 0.05 / K),
 * so every action keeps probability >= floor (what off-policy evaluation of later policies
 * needs), and draws the action from p, which it returns as the propensities.
 *  - uniform: q = 1/K.
 *  - epsilon-greedy: q = (1 - eps) on the greedy set (ties share it) + eps / K; the greedy set
 *    is the argmax of the empirical mean reward (an unplayed action's mean is 0).
 *  - Bernoulli Thompson sampling (Thompson 1933; Chapelle & Li 2011): Beta(1 + S_a, 1 + N_a - S_a)
 *    posteriors; q(a) = P(a has the largest sample), estimated by mc_draws posterior draws
 *    (default 1000: each entry within 0.5 / sqrt(1000) ~ 0.016 of the limit, by the binomial
 *    variance). The action is drawn from the estimated q (mixed), so the recorded propensity is
 *    exact for the action played.
 *  - LinUCB (Li, Chu, Langford & Schapire 2010) over per-action feature rows x_a [d]: one ridge
 *    model A = lambda I + sum x x', b = sum r x, theta = A^-1 b; score_a = theta' x_a +
 *    alpha sqrt(x_a' A^-1 x_a); q = uniform over the argmax set. Features crossed with a one-hot
 *    of the action give Li et al.'s disjoint model; member x artwork features the shared one.
 *  - Linear Thompson sampling (Agrawal & Goyal 2013): theta~ ~ N(theta, v^2 A^-1), choose
 *    argmax theta~' x_a; q by mc_draws draws as for Bernoulli TS.
 * A^-1 is kept by Sherman-Morrison rank-one updates (O(d^2) per update); Thompson sampling
 * factors A^-1 = C C' (Cholesky) when A changed since the last draw. Score computations skip
 * the zero entries of x_a (one-hot crossings are sparse).
 *
 * A policy is not thread-safe (its RNG and state change with each call).
 */
#include "bandit/bandit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mq_bandit_policy {
    mq_policy_opts o;
    mq_rng rng;
    int32_t K, d;
    double gamma;
    double *n, *s;            /* [K] plays and reward sums */
    double *Ainv, *b, *theta; /* [d*d], [d], [d] */
    double *C;                /* [d*d] Cholesky factor of Ainv (lower), valid when !dirty */
    bool dirty;
    double *q, *tmp, *z;      /* [K], [d], [d] scratch */
    int32_t *nz;              /* [d] scratch */
    int32_t *ties;            /* [K] scratch */
};

static const char *KINDS[] = {"uniform", "egreedy", "ts", "linucb", "lints"};

const char *mq_policy_name(int kind) { return kind >= 0 && kind <= MQ_POLICY_LINTS ? KINDS[kind] : NULL; }

int mq_policy_parse(const char *spec, mq_policy_opts *o, mq_err *err)
{
    int orc = MQ__OPTS_CHECK(mq_policy_opts, o, err);
    if (orc) return orc;
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    for (int k = 0; k <= MQ_POLICY_LINTS; k++) {
        if (strlen(KINDS[k]) != n || memcmp(KINDS[k], spec, n) != 0) continue;
        o->kind = k;
        o->param = 0;
        if (colon) {
            char *end;
            double v = strtod(colon + 1, &end);
            if (end == colon + 1 || *end || !(v >= 0) || !isfinite(v) || k == MQ_POLICY_UNIFORM || k == MQ_POLICY_BTS ||
                (k == MQ_POLICY_EGREEDY && v > 1))
                return mq__err_set(err, MQ_EINVAL, "policy '%s': bad parameter '%s'", spec, colon + 1);
            o->param = v;
        }
        return 0;
    }
    return mq__err_set(err, MQ_EINVAL, "unknown policy '%s' (uniform, egreedy[:EPS], ts, "
                       "linucb[:ALPHA], lints[:V])", spec);
}

void mq_bandit_policy_destroy(mq_bandit_policy *p)
{
    if (!p) return;
    free(p->n);
    free(p->s);
    free(p->Ainv);
    free(p->b);
    free(p->theta);
    free(p->C);
    free(p->q);
    free(p->tmp);
    free(p->z);
    free(p->nz);
    free(p->ties);
    free(p);
}

int mq_bandit_policy_create(const mq_policy_opts *o, mq_bandit_policy **out, mq_err *err)
{
    *out = NULL;
    mq_policy_opts ov; int orc = MQ__OPTS_GET(mq_policy_opts, &ov, o, err); if (orc) return orc; o = &ov;
    bool linear = o->kind == MQ_POLICY_LINUCB || o->kind == MQ_POLICY_LINTS;
    if (o->kind < 0 || o->kind > MQ_POLICY_LINTS) return mq__err_set(err, MQ_EINVAL, "unknown policy kind %d", o->kind);
    if (o->n_actions < 1 || o->n_actions > 1000000) return mq__err_set(err, MQ_EINVAL, "policy: need 1..1000000 actions");
    if (linear && (o->dim < 1 || o->dim > 4096)) return mq__err_set(err, MQ_EINVAL, "policy %s: need feature dimension 1..4096", KINDS[o->kind]);
    if (o->floor < 0 || o->floor * o->n_actions > 1) return mq__err_set(err, MQ_EINVAL, "policy: floor must be in [0, 1/K]");
    mq_bandit_policy *p = calloc(1, sizeof *p);
    if (!p) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    p->o = *o;
    p->K = o->n_actions;
    p->d = linear ? o->dim : 0;
    if (p->o.param == 0) p->o.param = o->kind == MQ_POLICY_EGREEDY ? 0.1 : o->kind == MQ_POLICY_LINTS ? 0.5 : 1.0;
    if (p->o.lambda <= 0) p->o.lambda = 1;
    if (p->o.mc_draws <= 0) p->o.mc_draws = 1000;
    p->gamma = (o->floor > 0 ? o->floor : 0.05 / p->K) * p->K;
    mq_rng_seed(&p->rng, o->seed);
    size_t K = (size_t)p->K, d = (size_t)p->d;
    p->n = calloc(K, sizeof *p->n);
    p->s = calloc(K, sizeof *p->s);
    p->q = calloc(K, sizeof *p->q);
    p->ties = calloc(K, sizeof *p->ties);
    bool ok = p->n && p->s && p->q && p->ties;
    if (linear) {
        p->Ainv = calloc(d * d, sizeof *p->Ainv);
        p->C = calloc(d * d, sizeof *p->C);
        p->b = calloc(d, sizeof *p->b);
        p->theta = calloc(d, sizeof *p->theta);
        p->tmp = calloc(d, sizeof *p->tmp);
        p->z = calloc(d, sizeof *p->z);
        p->nz = calloc(d, sizeof *p->nz);
        ok = ok && p->Ainv && p->C && p->b && p->theta && p->tmp && p->z && p->nz;
        if (ok)
            for (size_t i = 0; i < d; i++) p->Ainv[i * d + i] = 1.0 / p->o.lambda;
        p->dirty = true;
    }
    if (!ok) { mq_bandit_policy_destroy(p); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    *out = p;
    return 0;
}

/* x_a' A^-1 x_a over the nonzero entries of x_a. */
static double quad(const mq_bandit_policy *p, const double *xa)
{
    int32_t m = 0, d = p->d;
    for (int32_t j = 0; j < d; j++)
        if (xa[j] != 0) p->nz[m++] = j;
    double s = 0;
    for (int32_t u = 0; u < m; u++) {
        const double *row = p->Ainv + (size_t)p->nz[u] * d;
        double t = 0;
        for (int32_t v = 0; v < m; v++) t += row[p->nz[v]] * xa[p->nz[v]];
        s += xa[p->nz[u]] * t;
    }
    return s;
}

static double dot(const double *a, const double *b, int32_t n)
{
    double s = 0;
    for (int32_t j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

void mq_bandit_policy_scores(const mq_bandit_policy *p, const double *x, double *theta, double *scores)
{
    if (theta && p->d) memcpy(theta, p->theta, (size_t)p->d * sizeof *theta);
    if (!scores) return;
    for (int32_t a = 0; a < p->K; a++) {
        if (!p->d) { scores[a] = p->n[a] > 0 ? p->s[a] / p->n[a] : 0; continue; }
        const double *xa = x + (size_t)a * p->d;
        scores[a] = dot(p->theta, xa, p->d) + p->o.param * sqrt(MQ_MAX(quad(p, xa), 0));
    }
}

/* Index of the largest v, ties broken uniformly at random (reservoir over the tie set). */
static int32_t argmax_random(mq_bandit_policy *p, const double *v)
{
    int32_t best = 0, nt = 1;
    for (int32_t a = 1; a < p->K; a++) {
        if (v[a] > v[best]) { best = a; nt = 1; }
        else if (v[a] == v[best] && mq_rng_below(&p->rng, (uint64_t)++nt) == 0) best = a;
    }
    return best;
}

/* The greedy set of v into q: 1/|ties| on each maximum. */
static void greedy_dist(mq_bandit_policy *p, const double *v, double *q)
{
    double m = v[0];
    for (int32_t a = 1; a < p->K; a++) m = MQ_MAX(m, v[a]);
    int32_t nt = 0;
    for (int32_t a = 0; a < p->K; a++) nt += v[a] == m;
    for (int32_t a = 0; a < p->K; a++) q[a] = v[a] == m ? 1.0 / nt : 0;
}

/* Cholesky factor C (lower) of Ainv; falls back to the diagonal if rounding broke positivity. */
static void factor(mq_bandit_policy *p)
{
    int32_t d = p->d;
    memcpy(p->C, p->Ainv, (size_t)d * d * sizeof *p->C);
    double *A = p->C;
    for (int32_t j = 0; j < d; j++) {
        double s = A[j * d + j];
        for (int32_t k = 0; k < j; k++) s -= A[j * d + k] * A[j * d + k];
        double l = sqrt(MQ_MAX(s, 1e-300));
        A[j * d + j] = l;
        for (int32_t i = j + 1; i < d; i++) {
            double t = A[i * d + j];
            for (int32_t k = 0; k < j; k++) t -= A[i * d + k] * A[j * d + k];
            A[i * d + j] = t / l;
        }
        for (int32_t k = j + 1; k < d; k++) A[j * d + k] = 0;
    }
    p->dirty = false;
}

/* One Thompson draw: the chosen action. */
static int32_t ts_draw(mq_bandit_policy *p, const double *x, double *v)
{
    if (p->o.kind == MQ_POLICY_BTS) {
        for (int32_t a = 0; a < p->K; a++) v[a] = mq__bandit_beta(&p->rng, 1 + p->s[a], 1 + p->n[a] - p->s[a]);
        return argmax_random(p, v);
    }
    int32_t d = p->d;
    if (p->dirty) factor(p);
    for (int32_t j = 0; j < d; j++) p->z[j] = mq_rng_normal(&p->rng);
    for (int32_t i = 0; i < d; i++) {
        double t = 0;
        for (int32_t k = 0; k <= i; k++) t += p->C[(size_t)i * d + k] * p->z[k];
        p->tmp[i] = p->theta[i] + p->o.param * t;
    }
    for (int32_t a = 0; a < p->K; a++) v[a] = dot(p->tmp, x + (size_t)a * d, d);
    return argmax_random(p, v);
}

int32_t mq_bandit_policy_decide(mq_bandit_policy *p, const double *x, double *probs)
{
    const int32_t K = p->K;
    double *q = p->q;
    bool ts = p->o.kind == MQ_POLICY_BTS || (p->o.kind == MQ_POLICY_LINTS && x);
    if (ts && !probs) {
        /* One posterior draw decides; with probability gamma a uniform action instead. */
        if (mq_rng_uniform(&p->rng) < p->gamma) return (int32_t)mq_rng_below(&p->rng, (uint64_t)K);
        double *v = malloc((size_t)K * sizeof *v);
        if (!v) return (int32_t)mq_rng_below(&p->rng, (uint64_t)K);
        int32_t a = ts_draw(p, x, v);
        free(v);
        return a;
    }
    double *dist = probs ? probs : q;
    int kind = p->d && !x ? MQ_POLICY_UNIFORM : p->o.kind;   /* no features: nothing to score */
    switch (kind) {
    case MQ_POLICY_UNIFORM:
        for (int32_t a = 0; a < K; a++) dist[a] = 1.0 / K;
        break;
    case MQ_POLICY_EGREEDY: {
        for (int32_t a = 0; a < K; a++) q[a] = p->n[a] > 0 ? p->s[a] / p->n[a] : 0;
        double eps = p->o.param;
        greedy_dist(p, q, dist);
        for (int32_t a = 0; a < K; a++) dist[a] = (1 - eps) * dist[a] + eps / K;
        break;
    }
    case MQ_POLICY_LINUCB:
        mq_bandit_policy_scores(p, x, NULL, q);
        greedy_dist(p, q, dist);
        break;
    default: {   /* Thompson: Monte Carlo share of draws */
        double *v = malloc((size_t)K * sizeof *v);
        for (int32_t a = 0; a < K; a++) dist[a] = 0;
        if (!v) { for (int32_t a = 0; a < K; a++) dist[a] = 1.0 / K; break; }
        for (int32_t t = 0; t < p->o.mc_draws; t++) dist[ts_draw(p, x, v)] += 1;
        for (int32_t a = 0; a < K; a++) dist[a] /= p->o.mc_draws;
        free(v);
    }
    }
    for (int32_t a = 0; a < K; a++) dist[a] = (1 - p->gamma) * dist[a] + p->gamma / K;
    double u = mq_rng_uniform(&p->rng), cum = 0;
    for (int32_t a = 0; a < K; a++) {
        cum += dist[a];
        if (u < cum) return a;
    }
    for (int32_t a = K - 1; a >= 0; a--)
        if (dist[a] > 0) return a;
    return K - 1;
}

void mq_bandit_policy_update(mq_bandit_policy *p, const double *x, int32_t a, double r)
{
    if (a < 0 || a >= p->K) return;
    p->n[a] += 1;
    p->s[a] += r;
    if (!p->d || !x) return;
    const int32_t d = p->d;
    const double *xa = x + (size_t)a * d;
    /* Sherman-Morrison: (A + x x')^-1 = A^-1 - (A^-1 x)(A^-1 x)' / (1 + x' A^-1 x). */
    double *u = p->tmp;
    for (int32_t i = 0; i < d; i++) u[i] = dot(p->Ainv + (size_t)i * d, xa, d);
    double den = 1 + dot(xa, u, d);
    for (int32_t i = 0; i < d; i++) {
        if (u[i] == 0) continue;
        double f = u[i] / den;
        for (int32_t j = 0; j < d; j++) p->Ainv[(size_t)i * d + j] -= f * u[j];
    }
    for (int32_t j = 0; j < d; j++) p->b[j] += r * xa[j];
    for (int32_t i = 0; i < d; i++) p->theta[i] = dot(p->Ainv + (size_t)i * d, p->b, d);
    p->dirty = true;
}

/* ---- replay ---------------------------------------------------------------------------------- */

int mq_bandit_replay(const mq_bandit_log *l, const mq_policy_opts *o, mq_replay_result *out, mq_err *err)
{
    memset(out, 0, sizeof *out);
    mq_policy_opts po; int orc = MQ__OPTS_GET(mq_policy_opts, &po, o, err); if (orc) return orc;
    const int32_t K = l->n_actions, L = l->n_positions, m = l->dim + 1;
    /* Uniform-random logging: one propensity per position. */
    double *pp = malloc((size_t)L * sizeof *pp);
    if (!pp) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    for (int32_t j = 0; j < L; j++) pp[j] = -1;
    for (int64_t i = 0; i < l->n; i++) {
        double *q = &pp[l->position[i]];
        if (*q < 0) *q = l->propensity[i];
        else if (fabs(*q - l->propensity[i]) > 1e-12 * *q) {
            double was = *q;
            free(pp);
            return mq__err_set(err, MQ_EINVAL, "replay needs uniform-random logs: row %lld has propensity "
                               "%.9g, an earlier row at its position %.9g (use `bandit ope` instead)",
                               (long long)i, l->propensity[i], was);
        }
    }
    free(pp);
    po.n_actions = K;
    po.dim = K * m;
    mq_bandit_policy *p;
    int rc = mq_bandit_policy_create(&po, &p, err);
    if (rc) return rc;
    const bool linear = po.kind == MQ_POLICY_LINUCB || po.kind == MQ_POLICY_LINTS;
    double *X = linear ? calloc((size_t)K * po.dim, sizeof *X) : NULL;
    if (linear && !X) { mq_bandit_policy_destroy(p); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    double sum = 0, sum2 = 0;
    bool binary = true;
    for (int64_t i = 0; i < l->n; i++) {
        if (linear)
            for (int32_t a = 0; a < K; a++) {
                double *xa = X + (size_t)a * po.dim + (size_t)a * m;
                xa[0] = 1;
                for (int32_t j = 1; j < m; j++) xa[j] = l->x[i * l->dim + j - 1];
            }
        int32_t a = mq_bandit_policy_decide(p, X, NULL);
        if (a != l->action[i]) continue;
        double r = l->reward[i];
        binary &= r == 0 || r == 1;
        out->n_matched++;
        sum += r;
        sum2 += r * r;
        mq_bandit_policy_update(p, X, a, r);
    }
    out->n_rounds = l->n;
    int64_t k = out->n_matched;
    const double z = 1.959963984540054;
    out->ctr = k ? sum / k : NAN;
    double var = k > 1 ? (sum2 - sum * sum / k) / (k - 1) : NAN;
    out->se = k > 1 ? sqrt(MQ_MAX(var, 0) / k) : NAN;
    if (k > 0 && binary) {
        /* Wilson score interval: sensible with few or no clicks, where the normal one collapses. */
        double ph = out->ctr, den = 1 + z * z / k, mid = (ph + z * z / (2.0 * k)) / den;
        double hw = z * sqrt(ph * (1 - ph) / k + z * z / (4.0 * k * k)) / den;
        out->ci_low = mid - hw;
        out->ci_high = mid + hw;
    } else {
        out->ci_low = out->ctr - z * out->se;
        out->ci_high = out->ctr + z * out->se;
    }
    free(X);
    mq_bandit_policy_destroy(p);
    return 0;
}
