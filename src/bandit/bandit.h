/* bandit.h (internal): what the bandit files share (bandit_log.c, bandit_ope.c, bandit_synth.c,
 * bandit_policy.c). Not part of the public API.
 *
 * - mq__bandit_gamma / mq__bandit_beta: Marsaglia & Tsang (2000) gamma deviates (shape < 1 by
 *   Gamma(a + 1) U^(1/a)), Beta as X / (X + Y); used by the OBD BTS Monte Carlo and Thompson
 *   sampling.
 * - mq__bandit_sigmoid: a logistic function that does not overflow.
 * - mq__bandit_log_alloc: the arrays of a log of capacity n.
 * - mq__ope_acc: what one pass over a log keeps for mq_bandit_ope_file (no rows): per (action,
 *   fold, position) cell the count, the reward sum (in row order, as the ctr model sums it),
 *   shifted sums and cross-products of h = 1/propensity and g = reward/propensity, and the
 *   propensity range; per fold the reward sum in row order. mq__bandit_log_scan (bandit_log.c)
 *   fills it with the log reader's rows.
 */
#ifndef MQ_BANDIT_INTERNAL_H
#define MQ_BANDIT_INTERNAL_H

#include "core/core.h"

double mq__bandit_gamma(mq_rng *r, double shape);
double mq__bandit_beta(mq_rng *r, double a, double b);
double mq__bandit_sigmoid(double z);
/* Allocates l's arrays for cap rows (x when dim > 0). 0 or MQ_ENOMEM. */
int mq__bandit_log_reserve(mq_bandit_log *l, int64_t cap);

/* One cell's statistics (mq__ope_acc), in two groups: rows with reward 0 (g = 0: only h varies)
 * and the others. Each group keeps sums of deviations from its first row's values (h0, g0):
 * no division per row, exact zeros when the propensity is constant, and centring that costs
 * no precision when the shift is within a few standard deviations of the mean (it is one of
 * the group's own values; rare clicks, where the first g would be far from the mean, are the
 * reason for the two groups). mq__ope_cell_moments merges them (Chan, Golub & LeVeque 1979). */
typedef struct mq__ope_cell {
    double sr;               /* sum of rewards, row order (the ctr model's) */
    int64_t n0, n1;          /* rows with reward 0 / not 0 */
    double q0, h0, s0, ss0;  /* zero group: first q and h; sum (h - h0); sum (h - h0)^2 */
    double q1, r1, h1, g1;   /* other group: first q, r, h and g */
    double sh, sg, shh, sgg, shg;   /* sums of (h - h1), (g - g1) and their products */
    double qmin, qmax;       /* propensity range */
} mq__ope_cell;

/* The cell's count, means of h and g and centred sums Mhh, Mgg, Mhg. */
static inline int64_t mq__ope_cell_moments(const mq__ope_cell *c, double *mh, double *mg, double *Mhh, double *Mgg,
                                           double *Mhg)
{
    const int64_t n = c->n0 + c->n1;
    double m0 = 0, M0 = 0, m1h = 0, m1g = 0, M1hh = 0, M1gg = 0, M1hg = 0;
    if (c->n0) {
        const double k = (double)c->n0;
        m0 = c->h0 + c->s0 / k;
        M0 = c->ss0 - c->s0 * c->s0 / k;
    }
    if (c->n1) {
        const double k = (double)c->n1;
        m1h = c->h1 + c->sh / k;
        m1g = c->g1 + c->sg / k;
        M1hh = c->shh - c->sh * c->sh / k;
        M1gg = c->sgg - c->sg * c->sg / k;
        M1hg = c->shg - c->sh * c->sg / k;
    }
    if (!c->n1) { *mh = m0; *mg = 0; *Mhh = M0; *Mgg = 0; *Mhg = 0; return n; }
    if (!c->n0) { *mh = m1h; *mg = m1g; *Mhh = M1hh; *Mgg = M1gg; *Mhg = M1hg; return n; }
    const double a = (double)c->n0, b = (double)c->n1, t = a * b / (a + b), dh = m1h - m0, dg = m1g;
    *mh = m0 + dh * b / (a + b);
    *mg = m1g * b / (a + b);
    *Mhh = M0 + M1hh + dh * dh * t;
    *Mgg = M1gg + dg * dg * t;
    *Mhg = M1hg + dh * dg * t;
    return n;
}

typedef struct mq__ope_acc {
    int32_t F;               /* folds (1 = none); row i is in fold i mod F */
    int32_t Kcap, Lcap;      /* cells allocated: [Kcap][F][Lcap] */
    int32_t fold;            /* fold of the next row */
    mq__ope_cell *c;
    double *Sf;              /* [F] reward sums, row order */
} mq__ope_acc;

/* Room for action a (0-based) and position p (0-based): 0 or MQ_ENOMEM. */
int mq__ope_acc_room(mq__ope_acc *A, int32_t a, int32_t p);
void mq__ope_acc_free(mq__ope_acc *A);

/* Adds a row of reward r and propensity q, h = 1 / q (the cell must have room). */
static inline __attribute__((always_inline)) void mq__ope_acc_add(mq__ope_acc *A, int32_t a, int32_t p, double r,
                                                                  double q, double h)
{
    const int f = A->fold;
    mq__ope_cell *c = &A->c[((size_t)a * (size_t)A->F + (size_t)f) * (size_t)A->Lcap + (size_t)p];
    if (++A->fold == A->F) A->fold = 0;
    /* A row equal to its group's first adds zeros to every deviation sum and is inside the
     * propensity range: only counted (the rule for a uniform log's rows) */
    if (r == 0) {   /* adds nothing to the reward sums (+0 + -0 = +0) */
        if (c->n0 && q == c->q0) { c->n0++; return; }
    } else {
        c->sr += r;
        A->Sf[f] += r;
        if (c->n1 && q == c->q1 && r == c->r1) { c->n1++; return; }
    }
    if (c->n0 + c->n1 == 0) c->qmin = c->qmax = q;
    else {
        c->qmin = q < c->qmin ? q : c->qmin;
        c->qmax = q > c->qmax ? q : c->qmax;
    }
    if (r == 0) {
        if (c->n0++ == 0) { c->q0 = q; c->h0 = h; }
        const double d = h - c->h0;
        c->s0 += d;
        c->ss0 += d * d;
    } else {
        const double g = r * h;
        if (c->n1++ == 0) { c->q1 = q; c->r1 = r; c->h1 = h; c->g1 = g; }
        const double dh = h - c->h1, dg = g - c->g1;
        c->sh += dh;
        c->sg += dg;
        c->shh += dh * dh;
        c->sgg += dg * dg;
        c->shg += dh * dg;
    }
}

/* Reads a log into A instead of arrays (the reader of mq_bandit_log_load: the same checks and
 * messages). *n, *K, *L: rows, actions (n_actions or from the file) and positions. MQ_EUNSUP
 * when the header has context columns and !allow_context (the caller wants the arrays). */
int mq__bandit_log_scan(const char *path, int format, int32_t n_actions, bool allow_context,
                        mq__ope_acc *A, int64_t *n, int32_t *K, int32_t *L, mq_err *err);

#endif
