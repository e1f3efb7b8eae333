/* rank_live.c: the ranker at request time (the public serving functions of marquee/rank.h).
 *
 * A server ranks one member's candidates per page. The features are those of training, from
 * the one feature function (mq__rank_member_features, features.c), on a copy of the ranker's
 * snapshot with three things made live:
 *   - now: the request's time instead of the artifact's as_of (age_years, days_since_first,
 *     days_since_last move with it; never earlier than as_of);
 *   - the generators: the models the server loaded from its models directory (checked to be
 *     of the generator's kind, over the ranker's titles, by mq_rank_check_generator), so a
 *     retrained ease.mqm is what proposes and scores the candidates after a reload;
 *   - trending: the server's live counters when given (any scale): trending_share is the
 *     title's share of them and trending that share times the ranker's trending total at
 *     as_of (the live counters are relative; the total keeps the raw feature on the scale the
 *     booster learned);
 * and the member's history (titles and times) as the caller gathered it now. The popularity
 * counts (pop, pop_7d, pop_30d and their shares) and first-positive times stay the artifact's,
 * as of as_of: the server keeps no windowed counts.
 *
 * Predictions: the play-probability head on the candidate rows (mq__xgb_predict_dense: the
 * booster's trees compiled at load, bit-equal to XGBoost's predictor; no DMatrix), then its
 * Platt and isotonic calibrations; SHAP contributions of the same head through XGBoost's predict
 * type 2, in margin (log-odds) units, summing with the bias to the margin.
 *
 * Thread safety: a bound ranker is immutable; each thread needs its own mq_rank_work.
 */
#include "rank/rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mq_rank_work {
    const mq_model *m;          /* the ranker it was sized for */
    mq__rank_scratch s;
};

uint32_t mq__rank_feature_fingerprint(char (*names)[32], int nf)
{
    uint32_t crc = mq_crc32c(0, &nf, sizeof nf);
    for (int i = 0; i < nf; i++) crc = mq_crc32c(crc, names[i], strlen(names[i]) + 1);
    return crc;
}

static const mq__rank_state *state_of(const mq_model *m, mq_err *err)
{
    if (!mq_rank_is_ranker(m) || !m->state) {
        mq__err_set(err, MQ_EINVAL, "not a ranker model");
        return NULL;
    }
    return m->state;
}

int mq_rank_n_generators(const mq_model *m)
{
    return mq_rank_is_ranker(m) && m->state ? ((const mq__rank_state *)m->state)->snap.n_gen : 0;
}

const char *mq_rank_generator(const mq_model *m, int g)
{
    const mq__rank_state *st = mq_rank_is_ranker(m) ? m->state : NULL;
    return st && g >= 0 && g < st->snap.n_gen ? st->gens[g] : NULL;
}

const char *mq_rank_generator_params(const mq_model *m, int g)
{
    const mq__rank_state *st = mq_rank_is_ranker(m) ? m->state : NULL;
    return st && g >= 0 && g < st->snap.n_gen ? mq_model_params(st->snap.gen[g]) : NULL;
}

int64_t mq_rank_as_of(const mq_model *m)
{
    const mq__rank_state *st = mq_rank_is_ranker(m) ? m->state : NULL;
    return st ? st->snap.now : 0;
}

int mq_rank_max_candidates(const mq_model *m)
{
    const mq__rank_state *st = mq_rank_is_ranker(m) ? m->state : NULL;
    return st ? mq__rank_max_cand(&st->snap) : 0;
}

int mq_rank_set_threads(const mq_model *m, int n_threads, mq_err *err)
{
    const mq__rank_state *st = state_of(m, err);
    if (!st) return MQ_EINVAL;
    int rc = mq__xgb_set_threads(st->rank, n_threads, err);
    return rc ? rc : mq__xgb_set_threads(st->prob, n_threads, err);
}

int mq_rank_check_generator(const mq_model *m, int g, const mq_model *gen, mq_err *err)
{
    const mq__rank_state *st = state_of(m, err);
    if (!st) return MQ_EINVAL;
    if (g < 0 || g >= st->snap.n_gen) return mq__err_set(err, MQ_EINVAL, "ranker: no generator %d", g);
    if (strcmp(mq_model_kind(gen), st->gens[g]) != 0)
        return mq__err_set(err, MQ_EINVAL, "generator %d of the ranker is '%s', the model given is '%s'",
                           g, st->gens[g], mq_model_kind(gen));
    if (mq_model_n_titles(gen) != m->n_titles ||
        mq__rank_fingerprint(gen->title_ids, gen->n_titles) != st->fingerprint)
        return mq__err_set(err, MQ_EINVAL, "the %s model's titles (%d, catalog %08x) are not the "
                           "ranker's (%d, catalog %08x): train both from the same data", st->gens[g],
                           mq_model_n_titles(gen), mq__rank_fingerprint(gen->title_ids, gen->n_titles),
                           m->n_titles, st->fingerprint);
    return 0;
}

int mq_rank_work_create(const mq_model *m, mq_rank_work **out, mq_err *err)
{
    *out = NULL;
    const mq__rank_state *st = state_of(m, err);
    if (!st) return MQ_EINVAL;
    mq_rank_work *w = calloc(1, sizeof *w);
    if (!w) return mq__err_set(err, MQ_ENOMEM, "ranker: out of memory");
    int rc = mq__rank_scratch_init(&w->s, &st->snap, err);
    if (rc) {
        free(w);
        return rc;
    }
    w->m = m;
    *out = w;
    return 0;
}

void mq_rank_work_destroy(mq_rank_work *w)
{
    if (!w) return;
    mq__rank_scratch_release(&w->s);
    free(w);
}

int mq_rank_live_features(const mq_model *m, const mq_rank_live *live, const int32_t *hist,
                          const int64_t *htime, int n_hist, mq_rank_work *w, int32_t *cand,
                          float *x, mq_err *err)
{
    mq_rank_live lv; int orc = MQ__OPTS_GET(mq_rank_live, &lv, live, err); if (orc) return orc; if (live) live = &lv;
    const mq__rank_state *st = state_of(m, err);
    if (!st) return MQ_EINVAL;
    if (!w || w->m != m)
        return mq__err_set(err, MQ_EINVAL, "ranker: work area made for another ranker");
    mq__rank_snap s = st->snap;          /* a copy: now and the generators made live */
    int G = s.n_gen, nf = st->nf;
    if (live) {
        if (live->now > s.now) s.now = live->now;
        for (int g = 0; live->generators && g < G; g++)
            if (live->generators[g]) s.gen[g] = live->generators[g];
    }
    int n = mq__rank_member_features(&s, hist, htime, n_hist, live ? live->hour : -1, &w->s,
                                     cand, x, err);
    if (n <= 0 || !live || !live->trending) return n;
    double tot = 0;
    for (int32_t t = 0; t < s.n_titles; t++)
        if (live->trending[t] > 0) tot += live->trending[t];
    for (int c = 0; c < n; c++) {
        float v = live->trending[cand[c]];
        double share = tot > 0 && v > 0 ? v / tot : 0;
        float *f = x + (size_t)c * nf + 2 * G;
        f[F_TREND_SH] = (float)share;
        f[F_TREND] = (float)(share * s.tot[3]);
    }
    return n;
}

/* As training's Platt fit saw it: the logit of the float probability, clipped. */
static double logit(double p)
{
    p = MQ_MIN(MQ_MAX(p, 1e-15), 1 - 1e-15);
    return log(p / (1 - p));
}

int mq_rank_play_probability(const mq_model *m, const float *x, int64_t n, float *raw,
                             float *platt, float *isotonic, mq_err *err)
{
    const mq__rank_state *st = state_of(m, err);
    if (!st) return MQ_EINVAL;
    int rc = mq__xgb_predict_dense(st->prob, x, n, st->nf, raw, err);
    if (rc) return rc;
    for (int64_t i = 0; i < n; i++) {
        if (platt) platt[i] = (float)mq_calib_platt_apply(st->platt_a, st->platt_b, logit(raw[i]));
        if (isotonic) isotonic[i] = (float)mq_isotonic_apply(&st->iso, raw[i]);
    }
    return 0;
}

int mq_rank_contributions(const mq_model *m, const float *x, int64_t n, float *contrib,
                          float *margin, mq_err *err)
{
    const mq__rank_state *st = state_of(m, err);
    if (!st) return MQ_EINVAL;
    int rc = mq__xgb_contribs(st->prob, x, n, st->nf, contrib, err);
    if (!rc && margin) rc = mq__xgb_predict(st->prob, x, n, st->nf, true, margin, err);
    return rc;
}

bool mq_rank_has_watch_head(const mq_model *m)
{
    return mq_rank_is_ranker(m) && m->state && ((const mq__rank_state *)m->state)->secs;
}

bool mq_rank_relevance_is_watch_time(const mq_model *m)
{
    return mq_rank_has_watch_head(m) && ((const mq__rank_state *)m->state)->rel_watch;
}

int mq_rank_expected_seconds(const mq_model *m, const float *x, int64_t n, float *secs,
                             mq_err *err)
{
    const mq__rank_state *st = state_of(m, err);
    if (!st) return MQ_EINVAL;
    if (!st->secs)
        return mq__err_set(err, MQ_EINVAL, "ranker: no watch-time head (trained without watch "
                           "durations)");
    int rc = mq__xgb_predict_dense(st->secs, x, n, st->nf, secs, err);
    /* Squared error can put a leaf's sum below zero far from the data: no negative time. */
    for (int64_t i = 0; !rc && i < n; i++) secs[i] = MQ_MAX(secs[i], 0.0f);
    return rc;
}

int mq_rank_relevance(const mq_model *m, const float *x, int64_t n, const float *prob,
                      float *rel, mq_err *err)
{
    const mq__rank_state *st = state_of(m, err);
    if (!st) return MQ_EINVAL;
    if (!st->rel_watch || !st->secs) {
        if (rel != prob) memcpy(rel, prob, (size_t)n * sizeof *rel);
        return 0;
    }
    int rc = mq_rank_expected_seconds(m, x, n, rel, err);
    for (int64_t i = 0; !rc && i < n; i++)
        rel[i] = (float)((double)prob[i] * rel[i] / st->watch_base);
    return rc;
}
