/* bandit_ope.c: off-policy estimators of a policy's value from logged bandit feedback.
 *
 * Notation: logged row i has action a_i at position p_i, reward r_i, logging propensity
 * pi0_i = pi0(a_i | x_i, p_i) and optional context x_i. The evaluation policy gives pi(a | i)
 * (context-free: pi(a | p_i); per row: pi(a | x_i)). w_i = pi(a_i | i) / pi0_i. q(i, a) is a
 * reward model fitted on the whole log. The value is the mean over logged rows, as OBP computes
 * it (Saito et al. 2021), each position being its own decision:
 *
 *   DM        = (1/n) sum_i d_i,    d_i = sum_a pi(a | i) q(i, a)          (Beygelzimer & Langford 2009)
 *   IPS       = (1/n) sum_i w_i r_i                                         (Horvitz & Thompson 1952)
 *   SNIPS     = sum_i w_i r_i / sum_i w_i                                   (Swaminathan & Joachims 2015)
 *   DR        = (1/n) sum_i [d_i + w_i (r_i - q(i, a_i))]                   (Dudik, Langford & Li 2011)
 *   Switch-DR = (1/n) sum_i [d_i + 1{w_i <= tau} w_i (r_i - q(i, a_i))]     (Wang, Agarwal & Dudik 2017;
 *                                                                            OBP's SwitchDoublyRobust)
 *   SNDR      = (1/n) sum_i d_i + sum_i w_i (r_i - q(i, a_i)) / sum_i w_i   (OBP's SelfNormalizedDR)
 *
 * Standard errors: each estimator is a mean (or a smooth function of means) of iid row terms,
 * so se = sqrt(s^2 / n) with s^2 the sample variance (n - 1) of its influence terms psi_i:
 * psi = d, w r, d + w e, d + 1{w <= tau} w e for the means; (w r - V w) / mean(w) for SNIPS and
 * d + (w e - B w) / mean(w) with B = sum w e / sum w for SNDR (delta method). CI = V -/+ z se.
 * The reward model is treated as fixed (its fitting noise is O(1/n) in DR's bias).
 *
 * Reward models: ctr, q(a, p) = the mean reward of the rows with (a, p) (the overall mean for a
 * pair the log never shows); logistic, per (a, p) an L2-penalized logistic regression of r on
 * (1, x) (penalty ridge/2 |w|^2 on every weight, intercept included, so cells without clicks
 * stay finite), fitted by Newton's method to |step| < 1e-12.
 *
 * Support: a pair (a, p) that never appears in the log is taken as outside the logging policy's
 * support; when pi gives it mass, importance weighting cannot see it and the weighted estimators
 * are reported as undefined (NaN) with the mass, rather than as a silently biased number.
 *
 * Two passes over the log arrays, no per-row storage: means first, then centred sums of squares.
 */
#include "bandit/bandit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *NAMES[MQ_OPE_COUNT] = {"dm", "ips", "snips", "dr", "switch-dr", "sndr"};

const char *mq_ope_name(int e) { return e >= 0 && e < MQ_OPE_COUNT ? NAMES[e] : NULL; }

int mq_ope_parse(const char *s, size_t len)
{
    for (int e = 0; e < MQ_OPE_COUNT; e++)
        if (strlen(NAMES[e]) == len && memcmp(NAMES[e], s, len) == 0) return e;
    return -1;
}

/* Solves (A) x = b in place for a symmetric positive definite [m x m] A (Cholesky); A is
 * overwritten by its factor. Returns false when A is not positive definite. */
static bool chol_solve(double *A, double *b, int m)
{
    for (int j = 0; j < m; j++) {
        double s = A[j * m + j];
        for (int k = 0; k < j; k++) s -= A[j * m + k] * A[j * m + k];
        if (!(s > 0)) return false;
        double l = sqrt(s);
        A[j * m + j] = l;
        for (int i = j + 1; i < m; i++) {
            double t = A[i * m + j];
            for (int k = 0; k < j; k++) t -= A[i * m + k] * A[j * m + k];
            A[i * m + j] = t / l;
        }
    }
    for (int i = 0; i < m; i++) {
        double t = b[i];
        for (int k = 0; k < i; k++) t -= A[i * m + k] * b[k];
        b[i] = t / A[i * m + i];
    }
    for (int i = m - 1; i >= 0; i--) {
        double t = b[i];
        for (int k = i + 1; k < m; k++) t -= A[k * m + i] * b[k];
        b[i] = t / A[i * m + i];
    }
    return true;
}

/* Penalized logistic regression of r on (1, x) over the rows idx[0..cnt): w [D + 1]. */
static int fit_logistic(const mq_bandit_log *l, const int64_t *idx, int64_t cnt, double ridge,
                        double *w, double *H, double *g)
{
    const int D = l->dim, m = D + 1;
    memset(w, 0, (size_t)m * sizeof *w);
    for (int it = 0; it < 100; it++) {
        memset(H, 0, (size_t)m * m * sizeof *H);
        for (int j = 0; j < m; j++) { g[j] = ridge * w[j]; H[j * m + j] = ridge; }
        for (int64_t t = 0; t < cnt; t++) {
            int64_t i = idx[t];
            const double *x = l->x + i * D;
            double z = w[0];
            for (int j = 0; j < D; j++) z += w[j + 1] * x[j];
            double p = mq__bandit_sigmoid(z), res = p - l->reward[i], h = p * (1 - p);
            g[0] += res;
            H[0] += h;
            for (int j = 0; j < D; j++) {
                g[j + 1] += res * x[j];
                H[(j + 1) * m] += h * x[j];
                for (int k = 0; k <= j; k++) H[(j + 1) * m + k + 1] += h * x[j] * x[k];
            }
        }
        for (int j = 0; j < m; j++)
            for (int k = j + 1; k < m; k++) H[j * m + k] = H[k * m + j];
        if (!chol_solve(H, g, m)) return MQ_ERANGE;
        double step = 0;
        for (int j = 0; j < m; j++) {
            w[j] -= g[j];
            step = MQ_MAX(step, fabs(g[j]));
        }
        if (step < 1e-12) return 0;
    }
    return 0;   /* 100 Newton steps: converged to rounding for any data this sees */
}

/* The reward model: one fitted on all rows (F = 1), or F cross-fitted ones, model f fitted on
 * the rows i with i % F != f and used for the rows of fold f. */
typedef struct model {
    int kind;
    int32_t K, L, D, F;
    double *q;        /* ctr: [F][L * K] */
    double *w;        /* logistic: [F][L * K * (D + 1)] */
} model;

static inline int fold_of(const model *M, int64_t i) { return M->F > 1 ? (int)(i % M->F) : 0; }

static double q_of(const model *M, int f, const double *x, int32_t a, int32_t p)
{
    const size_t cells = (size_t)M->K * M->L, c = (size_t)p * M->K + a;
    if (M->kind == MQ_RM_CTR) return M->q[(size_t)f * cells + c];
    const double *w = M->w + ((size_t)f * cells + c) * (size_t)(M->D + 1);
    double z = w[0];
    for (int j = 0; j < M->D; j++) z += w[j + 1] * x[j];
    return mq__bandit_sigmoid(z);
}

/* The ctr model from per-(fold, cell) reward sums S and counts N ([F][L * K]) and per-fold
 * sums Sf, Nf (row order): q_f(c) = the mean reward of cell c over the training folds of model
 * f (all rows when F = 1, else those outside fold f); the training rows' mean for an empty cell. */
static int ctr_fill(model *M, const double *S, const int64_t *N, const double *Sf, const int64_t *Nf,
                    mq_err *err)
{
    const int32_t F = M->F;
    const size_t cells = (size_t)M->K * M->L;
    M->kind = MQ_RM_CTR;
    double S_all = 0;
    int64_t N_all = 0;
    for (int f = 0; f < F; f++) { S_all += Sf[f]; N_all += Nf[f]; }
    M->q = calloc((size_t)F * cells, sizeof *M->q);
    if (!M->q) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    for (int f = 0; f < F; f++) {
        double s_tr = F > 1 ? S_all - Sf[f] : S_all;
        int64_t n_tr = F > 1 ? N_all - Nf[f] : N_all;
        double mean = n_tr ? s_tr / (double)n_tr : 0;
        for (size_t c = 0; c < cells; c++) {
            double sc = 0;
            int64_t nc = 0;
            for (int h = 0; h < F; h++)
                if (F == 1 || h != f) { sc += S[(size_t)h * cells + c]; nc += N[(size_t)h * cells + c]; }
            M->q[(size_t)f * cells + c] = nc ? sc / (double)nc : mean;
        }
    }
    return 0;
}

static int fit_model(const mq_bandit_log *l, int kind, double ridge, model *M, mq_err *err)
{
    const int32_t K = M->K, L = M->L, F = M->F;
    const size_t cells = (size_t)K * L;
    M->kind = kind;
    /* Reward sums and counts per (fold, cell) and per fold. */
    double *S = calloc((size_t)F * cells, sizeof *S), *Sf = calloc((size_t)F, sizeof *Sf);
    int64_t *N = calloc((size_t)F * cells, sizeof *N), *Nf = calloc((size_t)F, sizeof *Nf);
    int rc = 0;
    int64_t *start = NULL, *idx = NULL, *sub = NULL;
    double *H = NULL, *g = NULL;
    if (!S || !Sf || !N || !Nf) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
    for (int64_t i = 0; i < l->n; i++) {
        int f = fold_of(M, i);
        size_t c = (size_t)f * cells + (size_t)l->position[i] * K + l->action[i];
        S[c] += l->reward[i];
        N[c]++;
        Sf[f] += l->reward[i];
        Nf[f]++;
    }
    double S_all = 0;
    int64_t N_all = 0;
    for (int f = 0; f < F; f++) { S_all += Sf[f]; N_all += Nf[f]; }
    if (kind == MQ_RM_CTR) {
        rc = ctr_fill(M, S, N, Sf, Nf, err);
        goto done;
    }
    const int m = l->dim + 1;
    M->D = l->dim;
    M->w = calloc((size_t)F * cells * (size_t)m, sizeof *M->w);
    start = calloc(cells + 1, sizeof *start);
    idx = malloc((size_t)l->n * sizeof *idx);
    sub = malloc((size_t)l->n * sizeof *sub);
    H = malloc((size_t)m * m * sizeof *H);
    g = malloc((size_t)m * sizeof *g);
    if (!M->w || !start || !idx || !sub || !H || !g) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
    /* Rows grouped by cell (counting sort, row order kept within a cell). */
    for (size_t c = 0; c < cells; c++) {
        int64_t nc = 0;
        for (int h = 0; h < F; h++) nc += N[(size_t)h * cells + c];
        start[c + 1] = start[c] + nc;
    }
    for (int64_t i = 0; i < l->n; i++) idx[start[(size_t)l->position[i] * K + l->action[i]]++] = i;
    for (size_t c = cells; c > 0; c--) start[c] = start[c - 1];
    start[0] = 0;
    for (int f = 0; f < F; f++) {
        double s_tr = F > 1 ? S_all - Sf[f] : S_all;
        int64_t n_tr = F > 1 ? N_all - Nf[f] : N_all;
        double mean = n_tr ? s_tr / (double)n_tr : 0.5;
        double logit_mean = log((mean + 1e-12) / (1 - mean + 1e-12));
        for (size_t c = 0; c < cells; c++) {
            double *w = M->w + ((size_t)f * cells + c) * (size_t)m;
            int64_t k = 0;
            for (int64_t t = start[c]; t < start[c + 1]; t++)
                if (F == 1 || fold_of(M, idx[t]) != f) sub[k++] = idx[t];
            if (k == 0) { w[0] = logit_mean; continue; }
            if (fit_logistic(l, sub, k, ridge, w, H, g)) {
                rc = mq__err_set(err, MQ_ERANGE, "logistic reward model: singular Hessian for action %d "
                                 "position %d", (int)(c % (size_t)K), (int)(c / (size_t)K) + 1);
                goto done;
            }
        }
    }
done:
    free(S);
    free(Sf);
    free(N);
    free(Nf);
    free(start);
    free(idx);
    free(sub);
    free(H);
    free(g);
    return rc;
}

/* The per-row quantities: d (DM term), w, qf = q(i, a_i), u (pi mass on unseen pairs). */
typedef struct rowctx {
    const mq_bandit_log *l;
    const mq_bandit_dist *pi;
    const model *M;
    const uint8_t *seen;     /* [L * K] */
    const double *d_pos;     /* [F * L] precomputed d when both pi and q are context-free */
    const double *u_pos;     /* [L] */
} rowctx;

static inline void row_terms(const rowctx *c, int64_t i, double *d, double *w, double *qf, double *u)
{
    const mq_bandit_log *l = c->l;
    const int32_t K = l->n_actions, p = l->position[i], a = l->action[i];
    const double *pr = c->pi->n_rows ? c->pi->p + (size_t)i * K : c->pi->p + (size_t)p * K;
    const double *x = l->dim ? l->x + (size_t)i * l->dim : NULL;
    const int f = fold_of(c->M, i);
    *w = pr[a] / l->propensity[i];
    *qf = q_of(c->M, f, x, a, p);
    if (c->d_pos) {
        *d = c->d_pos[(size_t)f * l->n_positions + p];
        *u = c->u_pos[p];
        return;
    }
    double s = 0, un = 0;
    const uint8_t *seen = c->seen + (size_t)p * K;
    for (int32_t b = 0; b < K; b++) {
        if (pr[b] == 0) continue;
        s += pr[b] * q_of(c->M, f, x, b, p);
        if (!seen[b]) un += pr[b];
    }
    *d = s;
    *u = un;
}

/* What mq_bandit_ope and mq_bandit_ope_file check of the log (n rows, K actions, L positions)
 * against the policy. */
static int check_inputs(int64_t n, int32_t K, int32_t L, int dim, const mq_bandit_dist *pi, int kind, mq_err *err)
{
    if (n < 2) return mq__err_set(err, MQ_EINVAL, "off-policy evaluation needs at least 2 logged rows");
    if (pi->n_actions != K)
        return mq__err_set(err, MQ_EINVAL, "the evaluation policy has %d actions, the log %d", pi->n_actions, K);
    if (pi->n_rows && pi->n_rows != n)
        return mq__err_set(err, MQ_EINVAL, "the evaluation policy has probabilities for %lld rows, "
                           "the log has %lld", (long long)pi->n_rows, (long long)n);
    if (!pi->n_rows && pi->n_positions < L)
        return mq__err_set(err, MQ_EINVAL, "the evaluation policy covers positions 1..%d, the log "
                           "has position %d", pi->n_positions, L);
    if (kind == MQ_RM_LOGISTIC && dim == 0)
        return mq__err_set(err, MQ_EINVAL, "the logistic reward model needs context columns (x0, x1, ...)");
    return 0;
}

/* For a context-free policy and the ctr model: d per (fold, position) and the policy's mass on
 * unseen pairs per position. */
static int context_free_terms(const model *M, const mq_bandit_dist *pi, const uint8_t *seen, double **d_pos,
                              double **u_pos, mq_err *err)
{
    const int32_t K = M->K, L = M->L;
    const size_t cells = (size_t)K * L;
    *d_pos = calloc((size_t)M->F * L, sizeof **d_pos);
    *u_pos = calloc((size_t)L, sizeof **u_pos);
    if (!*d_pos || !*u_pos) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    for (int32_t p = 0; p < L; p++)
        for (int32_t b = 0; b < K; b++) {
            double pr = pi->p[(size_t)p * K + b];
            if (pr == 0) continue;
            for (int f = 0; f < M->F; f++) (*d_pos)[(size_t)f * L + p] += pr * M->q[(size_t)f * cells + (size_t)p * K + b];
            if (!seen[(size_t)p * K + b]) (*u_pos)[p] += pr;
        }
    return 0;
}

/* Values V, centred sums of squares Q and the diagonostic sums into out. */
static void finish(mq_ope_result *out, int64_t n_rows, int kind, double level, const double *V, const double *Q,
                   double S_w, double S_w2, double w_max, double S_u)
{
    const double n = (double)n_rows, z = mq_stats_norm_ppf(0.5 + level / 2);
    out->n = n_rows;
    out->reward_model = kind;
    out->mean_weight = S_w / n;
    out->max_weight = w_max;
    out->ess = S_w2 > 0 ? S_w * S_w / S_w2 : 0;
    out->unsupported_mass = S_u / n;
    for (int k = 0; k < MQ_OPE_COUNT; k++) {
        mq_ope_estimate *E = &out->est[k];
        bool weighted = k != MQ_OPE_DM;
        if ((weighted && out->unsupported_mass > 0) || !isfinite(V[k])) {
            E->value = E->se = E->ci_low = E->ci_high = NAN;
            continue;
        }
        E->value = V[k];
        E->se = sqrt(Q[k] / (n - 1) / n);
        E->ci_low = V[k] - z * E->se;
        E->ci_high = V[k] + z * E->se;
    }
}

static void opts_of(const mq_ope_opts *o, double *tau, double *ridge, double *level)
{
    *tau = o->switch_tau > 0 ? o->switch_tau : 10;
    *ridge = o->ridge > 0 ? o->ridge : 1;
    *level = o->level > 0 && o->level < 1 ? o->level : 0.95;
}

int mq_bandit_ope(const mq_bandit_log *l, const mq_bandit_dist *pi, const mq_ope_opts *o,
                  mq_ope_result *out, mq_err *err)
{
    memset(out, 0, sizeof *out);
    mq_ope_opts ov; int orc = MQ__OPTS_GET(mq_ope_opts, &ov, o, err); if (orc) return orc; o = &ov;
    double tau, ridge, level;
    opts_of(o, &tau, &ridge, &level);
    int kind = o->reward_model == MQ_RM_AUTO ? (l->dim > 0 ? MQ_RM_LOGISTIC : MQ_RM_CTR) : o->reward_model;
    int rc = check_inputs(l->n, l->n_actions, l->n_positions, l->dim, pi, kind, err);
    if (rc) return rc;
    const int32_t K = l->n_actions, L = l->n_positions;
    const size_t cells = (size_t)K * L;
    model M = {0, K, L, 0, o->folds > 1 ? o->folds : 1, NULL, NULL};
    if (M.F > l->n) return mq__err_set(err, MQ_EINVAL, "%d cross-fitting folds for %lld rows", M.F, (long long)l->n);
    int64_t *cnt = calloc(cells, sizeof *cnt);
    uint8_t *seen = calloc(cells, 1);
    double *d_pos = NULL, *u_pos = NULL;
    if (!cnt || !seen) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
    for (int64_t i = 0; i < l->n; i++) cnt[(size_t)l->position[i] * K + l->action[i]]++;
    for (size_t c = 0; c < cells; c++) seen[c] = cnt[c] > 0;
    if ((rc = fit_model(l, kind, ridge, &M, err))) goto done;
    rowctx C = {l, pi, &M, seen, NULL, NULL};
    if (!pi->n_rows && kind == MQ_RM_CTR) {
        if ((rc = context_free_terms(&M, pi, seen, &d_pos, &u_pos, err))) goto done;
        C.d_pos = d_pos;
        C.u_pos = u_pos;
    }

    /* Pass 1: means. */
    const double n = (double)l->n;
    double S_d = 0, S_w = 0, S_wr = 0, S_we = 0, S_swe = 0, S_u = 0, S_w2 = 0, w_max = 0;
    for (int64_t i = 0; i < l->n; i++) {
        double d, w, qf, u, r = l->reward[i];
        row_terms(&C, i, &d, &w, &qf, &u);
        S_d += d;
        S_w += w;
        S_w2 += w * w;
        S_wr += w * r;
        S_we += w * (r - qf);
        if (w <= tau) S_swe += w * (r - qf);
        S_u += u;
        if (w > w_max) w_max = w;
    }
    const double dm = S_d / n, wbar = S_w / n, ips = S_wr / n;
    const double snips = S_w > 0 ? S_wr / S_w : NAN, B = S_w > 0 ? S_we / S_w : NAN;
    double V[MQ_OPE_COUNT] = {dm, ips, snips, dm + S_we / n, dm + S_swe / n, dm + B};
    /* Pass 2: centred sums of squares of the influence terms. */
    double Q[MQ_OPE_COUNT] = {0};
    for (int64_t i = 0; i < l->n; i++) {
        double d, w, qf, u, r = l->reward[i];
        row_terms(&C, i, &d, &w, &qf, &u);
        double e = r - qf, psi[MQ_OPE_COUNT];
        psi[MQ_OPE_DM] = d - V[MQ_OPE_DM];
        psi[MQ_OPE_IPS] = w * r - V[MQ_OPE_IPS];
        psi[MQ_OPE_SNIPS] = (w * r - snips * w) / wbar;
        psi[MQ_OPE_DR] = d + w * e - V[MQ_OPE_DR];
        psi[MQ_OPE_SWITCH_DR] = d + (w <= tau ? w * e : 0) - V[MQ_OPE_SWITCH_DR];
        psi[MQ_OPE_SNDR] = (d - dm) + (w * e - B * w) / wbar;
        for (int k = 0; k < MQ_OPE_COUNT; k++) Q[k] += psi[k] * psi[k];
    }
    for (size_t c = 0; c < cells; c++)
        if (!seen[c]) {
            int32_t p = (int32_t)(c / (size_t)K), b = (int32_t)(c % (size_t)K);
            bool mass = false;
            if (!pi->n_rows) mass = pi->p[c] > 0;
            else
                for (int64_t i = 0; i < l->n && !mass; i++) mass = l->position[i] == p && pi->p[(size_t)i * K + b] > 0;
            out->unsupported_pairs += mass;
        }
    finish(out, l->n, kind, level, V, Q, S_w, S_w2, w_max, S_u);
done:
    free(cnt);
    free(seen);
    free(d_pos);
    free(u_pos);
    free(M.q);
    free(M.w);
    return rc;
}

/* The estimators from the per-cell statistics of one pass (mq_bandit_ope_file). Within a cell
 * (action a, fold f, position p) pi(a | p) = pc is fixed, so w = pc h and w r = pc g: the sums of
 * mq_bandit_ope's first pass are sums over cells of pc times the cell's sums of h and g, and
 * each influence term is alpha + beta w + gamma w r with alpha, beta, gamma fixed in the cell
 * (given the values), so its centred sum of squares over the cell is
 *   n (alpha + beta mean w + gamma mean wr)^2 + beta^2 Mww + 2 beta gamma Mw,wr + gamma^2 Mwr,wr
 * with the cell's own centred moments (mq__ope_cell_moments): no cancellation. Switch-DR's indicator
 * w <= tau is fixed in a cell when pc / qmax and pc / qmin (its smallest and largest weight)
 * fall on the same side of tau; MQ_EUNSUP when they do not (the caller reads the rows). */
static int ope_from_cells(const mq__ope_acc *A, int64_t n_rows, int32_t K, int32_t L, const mq_bandit_dist *pi,
                          const mq_ope_opts *o, mq_ope_result *out, mq_err *err)
{
    double tau, ridge, level;
    opts_of(o, &tau, &ridge, &level);
    const size_t cells = (size_t)K * L, F = (size_t)A->F;
    model M = {0, K, L, 0, A->F, NULL, NULL};
    double *S = calloc(F * cells, sizeof *S), *d_pos = NULL, *u_pos = NULL;
    int64_t *N = calloc(F * cells, sizeof *N), *Nf = calloc(F, sizeof *Nf);
    uint8_t *seen = calloc(cells, 1), *in = calloc(F * cells, 1);
    int rc = 0;
    if (!S || !N || !Nf || !seen || !in) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
#define CELL(a, f, p) (&A->c[((size_t)(a) * F + (size_t)(f)) * (size_t)A->Lcap + (size_t)(p)])
    for (int32_t a = 0; a < K; a++)
        for (size_t f = 0; f < F; f++)
            for (int32_t p = 0; p < L; p++) {
                const mq__ope_cell *c = CELL(a, f, p);
                size_t j = f * cells + (size_t)p * K + (size_t)a;
                S[j] = c->sr;
                N[j] = c->n0 + c->n1;
                Nf[f] += N[j];
                if (N[j]) {
                    seen[(size_t)p * K + a] = 1;
                    double pc = pi->p[(size_t)p * K + a], lo = pc / c->qmax, hi = pc / c->qmin;
                    if ((lo <= tau) != (hi <= tau)) { rc = MQ_EUNSUP; goto done; }
                    in[j] = hi <= tau;
                }
            }
    if ((rc = ctr_fill(&M, S, N, A->Sf, Nf, err))) goto done;
    if ((rc = context_free_terms(&M, pi, seen, &d_pos, &u_pos, err))) goto done;
    const double n = (double)n_rows;
    double S_d = 0, S_w = 0, S_wr = 0, S_we = 0, S_swe = 0, S_u = 0, S_w2 = 0, w_max = 0;
    for (int32_t a = 0; a < K; a++)
        for (size_t f = 0; f < F; f++)
            for (int32_t p = 0; p < L; p++) {
                const mq__ope_cell *c = CELL(a, f, p);
                double mh, mg, Mhh, Mgg, Mhg;
                const int64_t cn = mq__ope_cell_moments(c, &mh, &mg, &Mhh, &Mgg, &Mhg);
                if (!cn) continue;
                size_t j = f * cells + (size_t)p * K + (size_t)a;
                const double pc = pi->p[(size_t)p * K + a], nc = (double)cn, qf = M.q[j];
                const double sw = pc * mh * nc, swr = pc * mg * nc;
                S_d += nc * d_pos[f * (size_t)L + (size_t)p];
                S_u += nc * u_pos[p];
                S_w += sw;
                S_w2 += pc * pc * (Mhh + nc * mh * mh);
                S_wr += swr;
                S_we += swr - qf * sw;
                if (in[j]) S_swe += swr - qf * sw;
                if (pc / c->qmin > w_max) w_max = pc / c->qmin;
            }
    const double dm = S_d / n, wbar = S_w / n, ips = S_wr / n;
    const double snips = S_w > 0 ? S_wr / S_w : NAN, B = S_w > 0 ? S_we / S_w : NAN;
    double V[MQ_OPE_COUNT] = {dm, ips, snips, dm + S_we / n, dm + S_swe / n, dm + B};
    double Q[MQ_OPE_COUNT] = {0};
    for (int32_t a = 0; a < K; a++)
        for (size_t f = 0; f < F; f++)
            for (int32_t p = 0; p < L; p++) {
                const mq__ope_cell *c = CELL(a, f, p);
                double mh, mg, Mhh, Mgg, Mhg;
                const int64_t cn = mq__ope_cell_moments(c, &mh, &mg, &Mhh, &Mgg, &Mhg);
                if (!cn) continue;
                size_t j = f * cells + (size_t)p * K + (size_t)a;
                const double pc = pi->p[(size_t)p * K + a], nc = (double)cn, qf = M.q[j];
                const double d = d_pos[f * (size_t)L + (size_t)p];
                const double mw = pc * mh, mv = pc * mg;
                const double Mww = pc * pc * Mhh, Mvv = pc * pc * Mgg, Mwv = pc * pc * Mhg;
                const double coef[MQ_OPE_COUNT][3] = {
                    {d - dm, 0, 0},
                    {-ips, 0, 1},
                    {0, -snips / wbar, 1 / wbar},
                    {d - V[MQ_OPE_DR], -qf, 1},
                    {d - V[MQ_OPE_SWITCH_DR], in[j] ? -qf : 0, in[j] ? 1 : 0},
                    {d - dm, -(qf + B) / wbar, 1 / wbar},
                };
                for (int k = 0; k < MQ_OPE_COUNT; k++) {
                    const double al = coef[k][0], be = coef[k][1], ga = coef[k][2], m = al + be * mw + ga * mv;
                    Q[k] += nc * m * m + be * be * Mww + 2 * be * ga * Mwv + ga * ga * Mvv;
                }
            }
#undef CELL
    for (size_t c = 0; c < cells; c++) out->unsupported_pairs += !seen[c] && pi->p[c] > 0;
    finish(out, n_rows, MQ_RM_CTR, level, V, Q, S_w, S_w2, w_max, S_u);
done:
    free(S);
    free(N);
    free(Nf);
    free(seen);
    free(in);
    free(d_pos);
    free(u_pos);
    free(M.q);
    return rc;
}

int mq_bandit_ope_file(const char *path, int format, int32_t n_actions, mq_bandit_policy_fn policy, void *ctx,
                       const mq_ope_opts *o, mq_ope_result *out, mq_err *err)
{
    memset(out, 0, sizeof *out);
    mq_ope_opts ov; int orc = MQ__OPTS_GET(mq_ope_opts, &ov, o, err); if (orc) return orc; o = &ov;
    const int want = o->reward_model;
    const int F = o->folds > 1 ? o->folds : 1;
    mq__ope_acc A = {.F = F};
    int64_t n = 0;
    int32_t K = 0, L = 0;
    mq_bandit_dist *pi = NULL;
    /* One pass when the reward model is ctr: explicitly, or by default for a log without context
     * columns (a log with them would default to logistic: MQ_EUNSUP, read below). */
    int rc = want == MQ_RM_LOGISTIC ? MQ_EUNSUP
                                    : mq__bandit_log_scan(path, format, n_actions, want == MQ_RM_CTR, &A, &n, &K, &L, err);
    if (rc == 0) {
        rc = policy(ctx, K, L, &pi, err);
        if (rc == 0) rc = check_inputs(n, K, L, 0, pi, MQ_RM_CTR, err);
        if (rc == 0 && F > n) rc = mq__err_set(err, MQ_EINVAL, "%d cross-fitting folds for %lld rows", F, (long long)n);
        if (rc == 0) rc = pi->n_rows ? MQ_EUNSUP : ope_from_cells(&A, n, K, L, pi, o, out, err);
    }
    mq__ope_acc_free(&A);
    if (rc != MQ_EUNSUP) return rc;
    /* The rows are needed (logistic model, a per-row policy, or weights on both sides of tau
     * within a cell): read them into arrays. */
    memset(out, 0, sizeof *out);
    mq_bandit_log *l = NULL;
    if ((rc = mq_bandit_log_load(path, format, n_actions, &l, err))) return rc;
    if (!pi) rc = policy(ctx, l->n_actions, l->n_positions, &pi, err);
    if (rc == 0) rc = mq_bandit_ope(l, pi, o, out, err);
    mq_bandit_log_destroy(l);
    return rc;
}

static const char *RM_NAMES[] = {"auto", "ctr", "logistic"};

int mq_bandit_ope_json(const mq_ope_result *r, const int *estimators, int n_estimators,
                       double on_policy, double on_policy_se, char **out)
{
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_printf(&b, "{\"n\":%lld,\"estimates\":[", (long long)r->n);
    for (int k = 0; k < n_estimators; k++) {
        int e = estimators[k];
        if (e < 0 || e >= MQ_OPE_COUNT) continue;
        const mq_ope_estimate *E = &r->est[e];
        mq_buf_puts(&b, k ? ",{\"estimator\":" : "{\"estimator\":");
        mq_buf_json_str(&b, NAMES[e], strlen(NAMES[e]));
        mq_buf_puts(&b, ",\"value\":");
        mq_buf_json_num(&b, E->value);
        mq_buf_puts(&b, ",\"se\":");
        mq_buf_json_num(&b, E->se);
        mq_buf_puts(&b, ",\"ci_low\":");
        mq_buf_json_num(&b, E->ci_low);
        mq_buf_puts(&b, ",\"ci_high\":");
        mq_buf_json_num(&b, E->ci_high);
        mq_buf_putc(&b, '}');
    }
    mq_buf_puts(&b, "],\"on_policy\":");
    mq_buf_json_num(&b, on_policy);
    mq_buf_puts(&b, ",\"on_policy_se\":");
    mq_buf_json_num(&b, on_policy_se);
    mq_buf_puts(&b, ",\"reward_model\":");
    const char *rm = RM_NAMES[r->reward_model >= 0 && r->reward_model <= 2 ? r->reward_model : 0];
    mq_buf_json_str(&b, rm, strlen(rm));
    mq_buf_puts(&b, ",\"mean_weight\":");
    mq_buf_json_num(&b, r->mean_weight);
    mq_buf_puts(&b, ",\"max_weight\":");
    mq_buf_json_num(&b, r->max_weight);
    mq_buf_puts(&b, ",\"ess\":");
    mq_buf_json_num(&b, r->ess);
    mq_buf_puts(&b, ",\"unsupported_mass\":");
    mq_buf_json_num(&b, r->unsupported_mass);
    mq_buf_printf(&b, ",\"unsupported_pairs\":%lld}\n", (long long)r->unsupported_pairs);
    if (b.oom) { mq_buf_release(&b); return MQ_ENOMEM; }
    mq_buf_cstr(&b);
    *out = b.p;
    return 0;
}

int mq_bandit_replay_json(const mq_replay_result *r, const char *policy, char **out)
{
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_printf(&b, "{\"policy\":");
    mq_buf_json_str(&b, policy, strlen(policy));
    mq_buf_printf(&b, ",\"rounds\":%lld,\"matched\":%lld,\"ctr\":", (long long)r->n_rounds, (long long)r->n_matched);
    mq_buf_json_num(&b, r->ctr);
    mq_buf_puts(&b, ",\"se\":");
    mq_buf_json_num(&b, r->se);
    mq_buf_puts(&b, ",\"ci_low\":");
    mq_buf_json_num(&b, r->ci_low);
    mq_buf_puts(&b, ",\"ci_high\":");
    mq_buf_json_num(&b, r->ci_high);
    mq_buf_puts(&b, "}\n");
    if (b.oom) { mq_buf_release(&b); return MQ_ENOMEM; }
    mq_buf_cstr(&b);
    *out = b.p;
    return 0;
}
