/* bandit.h (internal): what the bandit files share (bandit_log.c, bandit_ope.c, bandit_synth.c,
 * bandit_policy.c). Not part of the public API.
 *
 * - mq__bandit_gamma / mq__bandit_beta: Marsaglia & Tsang (2000) gamma deviates (shape < 1 by
 *   Gamma(a + 1) U^(1/a)), Beta as X / (X + Y); used by the OBD BTS Monte Carlo and Thompson
 *   sampling.
 * - mq__bandit_sigmoid: a logistic function that does not overflow.
 * - mq__bandit_log_alloc: the arrays of a log of capacity n.
 */
#ifndef MQ_BANDIT_INTERNAL_H
#define MQ_BANDIT_INTERNAL_H

#include "core/core.h"

double mq__bandit_gamma(mq_rng *r, double shape);
double mq__bandit_beta(mq_rng *r, double a, double b);
double mq__bandit_sigmoid(double z);
/* Allocates l's arrays for cap rows (x when dim > 0). 0 or MQ_ENOMEM. */
int mq__bandit_log_reserve(mq_bandit_log *l, int64_t cap);

#endif
