/* model_pop.c: popularity baselines.
 *
 * pop:      score(t) = number of training members with a positive on t. Ties are broken by
 *           the lower title index in every ranking (mq__topk), which makes the order exactly
 *           reproducible (tests/ref/models_pop.py).
 * trending: score(t) = sum over t's positives of 0.5^((T - time) / half_life), T the latest
 *           event time in the training data, half_life in days (parameter half_life, default
 *           7). With no timestamps (all 0) every weight is 1 and trending equals pop. T is
 *           recorded as the parameter as_of (unix seconds), the time the scores hold at:
 *           `marquee serve` seeds its live trending counters (src/serve/trend.c) from them.
 *
 * Array: "score" f32 [n_titles]. Scoring ignores the history (the filters remove seen titles).
 */
#include "models/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct pop_state {
    const float *score;
} pop_state;

static int pop_fill(mq_model *m, const mq_dataset *d, double half_life_days, mq_err *err)
{
    int64_t tmax = 0;
    for (int64_t e = 0; e < d->nnz; e++) tmax = MQ_MAX(tmax, d->t_time[e]);
    if (half_life_days > 0) mq__model_param_num(m, "as_of", (double)tmax);
    float *s = mq__alloc((size_t)d->n_titles, sizeof *s);
    if (!s) return mq__err_set(err, MQ_ENOMEM, "%s: out of memory", m->kind);
    if (half_life_days <= 0) {
        for (int32_t t = 0; t < d->n_titles; t++) s[t] = (float)(d->t_ptr[t + 1] - d->t_ptr[t]);
    } else {
        double hl = half_life_days * 86400.0;
        for (int32_t t = 0; t < d->n_titles; t++) {
            double acc = 0;
            for (int64_t e = d->t_ptr[t]; e < d->t_ptr[t + 1]; e++)
                acc += d->t_time[e] > 0 ? exp2(-(double)(tmax - d->t_time[e]) / hl) : 1.0;
            s[t] = (float)acc;
        }
    }
    return mq__model_add(m, "score", MQ__A_F32, d->n_titles, s, err);
}

/* The parameters (train and the check before any data is loaded share these). */
static int pop_check(const mq_train_opts *o, mq_err *err)
{
    mq__params p;
    int rc = mq__params_parse(&p, o->params, o->n_params, err);
    return rc ? rc : mq__params_done(&p, "pop", "none", err);
}

static int trending_cfg(const mq_train_opts *o, double *hl, mq_err *err)
{
    mq__params p;
    int rc = mq__params_parse(&p, o->params, o->n_params, err);
    if (!rc) rc = mq__param_double(&p, "trending", "half_life", 7, 1e-6, 1e6, hl, err);
    return rc ? rc : mq__params_done(&p, "trending", "half_life", err);
}

static int trending_check(const mq_train_opts *o, mq_err *err)
{
    double hl;
    return trending_cfg(o, &hl, err);
}

static int pop_train(mq_model *m, const mq_dataset *d, const mq_train_opts *o, mq_err *err)
{
    int rc = pop_check(o, err);
    return rc ? rc : pop_fill(m, d, 0, err);
}

static int trending_train(mq_model *m, const mq_dataset *d, const mq_train_opts *o, mq_err *err)
{
    double hl;
    int rc = trending_cfg(o, &hl, err);
    if (rc) return rc;
    mq__model_param_num(m, "half_life", hl);
    return pop_fill(m, d, hl, err);
}

static int pop_bind(mq_model *m, mq_err *err)
{
    int64_t n;
    const float *s = mq__model_get(m, "score", MQ__A_F32, &n, err);
    if (!s) return MQ_ECORRUPT;
    if (n != m->n_titles)
        return mq__err_set(err, MQ_ECORRUPT, "%s: score array has %lld entries, expected %d",
                           m->kind, (long long)n, m->n_titles);
    pop_state *st = malloc(sizeof *st);
    if (!st) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    st->score = s;
    m->state = st;
    return 0;
}

static void pop_unbind(mq_model *m)
{
    free(m->state);
    m->state = NULL;
}

static int pop_score(const mq_model *m, const int32_t *hist, const float *val, int n,
                     float *scores, mq_err *err)
{
    const pop_state *st = m->state;
    memcpy(scores, st->score, (size_t)m->n_titles * sizeof *scores);
    return 0;
}

const mq__model_ops mq__model_pop = {
    .kind = "pop", .check = pop_check, .train = pop_train, .bind = pop_bind, .unbind = pop_unbind,
    .score = pop_score,
};
const mq__model_ops mq__model_trending = {
    .kind = "trending", .check = trending_check, .train = trending_train, .bind = pop_bind, .unbind = pop_unbind,
    .score = pop_score,
};
