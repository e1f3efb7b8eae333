/* rank.h: internals of the second stage (not part of the public API).
 *
 * A snapshot (mq__rank_snap) is everything the features read at one cut time T: generator
 * models trained on the positives before T, an item-kNN similarity model trained on the same
 * data, and per-title statistics computed from the events before T. Training builds one at T1
 * (features for the label window [T1, T2)) and one at T2 (what the stored ranker scores
 * with). A snapshot never sees an event at or after its T: that is the point-in-time
 * guarantee, tested in tests/rank/test_rank.c by comparing features built from the whole data
 * with features built from the data truncated at T.
 *
 * Feature layout (n_gen generators): [g_score, g_rank for each generator] then the fixed block
 * F_POP .. F_HOUR below; exact definitions in docs/models.md.
 */
#ifndef MQ_RANK_H
#define MQ_RANK_H

#include "models/model.h"

#define MQ__RANK_MAX_GEN 6
#define MQ__RANK_LAST 10          /* "last plays" for the similarity features */

enum {
    F_POP = 0,       /* positives before T */
    F_POP7,          /* positives in [T - 7 days, T) */
    F_POP30,         /* positives in [T - 30 days, T) */
    F_TREND,         /* Σ 0.5^((T - time) / 7 days) over positives before T */
    F_AGE,           /* years from the title's release year to T (missing: no year) */
    F_FIRST,         /* days from the title's first positive to T */
    F_HLEN,          /* the member's positives before T */
    F_LAST,          /* days since the member's latest positive (missing: no times) */
    F_GENRE,         /* mean over the title's genres of the member's genre shares */
    F_SIMMAX,        /* max item-kNN cosine to the member's last plays */
    F_SIMMEAN,       /* mean of the same */
    F_HOUR,          /* hour of day of the request (missing offline) */
    F_POP_SH,        /* pop / Σ pop over titles: the share, comparable across cut times */
    F_POP7_SH,       /* pop_7d share */
    F_POP30_SH,      /* pop_30d share */
    F_TREND_SH,      /* trending share */
    F_N_FIXED
};

typedef struct mq__rank_snap {
    int64_t now;                          /* T (unix seconds) */
    int32_t n_titles;
    int n_gen;
    const mq_model *gen[MQ__RANK_MAX_GEN];
    const mq_model *sim;                  /* itemknn over the same data */
    const int64_t *sim_ptr;               /* its CSR rows */
    const int32_t *sim_idx;
    const float *sim_val;
    const float *stat;                    /* [4 x n_titles]: pop, pop7, pop30, trend */
    double tot[4];                        /* Σ over titles of each stat row */
    const int64_t *first;                 /* [n_titles], INT64_MAX: no positive before T */
    const int32_t *years;                 /* catalog years (may be NULL) */
    const uint64_t *genres;               /* catalog genres (may be NULL) */
    int n_top;                            /* N: top titles taken from each generator */
} mq__rank_snap;

/* A snapshot with its own storage (models and arrays), built by mq__rank_snap_build. */
typedef struct mq__rank_owned {
    mq__rank_snap s;
    mq_model *gen[MQ__RANK_MAX_GEN];
    mq_model *sim;
    float *stat;
    int64_t *first;
} mq__rank_owned;

/* Is event e of d a positive (ratings: value >= 4; otherwise value > 0)? */
static inline bool mq__rank_positive(const mq_dataset *d, float v)
{
    return d->ratings ? v >= 4.0f : v > 0.0f;
}

/* Builds the snapshot of d at T: generators gens [n_gen] (each trained with the parameters
 * gen_params[g], n_gp[g] of them) and the similarity model on the positives before T. */
int mq__rank_snap_build(const mq_dataset *d, int64_t T, const char *const *gens, int n_gen,
                        const char *const *const *gen_params, const int *n_gp, int n_top,
                        int n_threads, uint64_t seed, mq__rank_owned *o, mq_err *err);
void mq__rank_owned_release(mq__rank_owned *o);
/* Sets s->tot from s->stat (after stat and n_titles are set). */
void mq__rank_snap_totals(mq__rank_snap *s);
/* Fills the per-title statistics of d at T: stat [4 x n_titles], first [n_titles]. */
void mq__rank_title_stats(const mq_dataset *d, int64_t T, float *stat, int64_t *first);

/* Per-thread scratch for mq__rank_member_features. */
typedef struct mq__rank_scratch {
    int32_t n_titles;
    int n_gen;
    float *scores;        /* [n_gen x n_titles] */
    int32_t *rank;        /* [n_gen x n_titles], 0 = not in that generator's top N */
    int32_t *mark;        /* [n_titles] candidate stamp */
    float *simsum, *simmax;  /* [n_titles] */
    int32_t *topi;        /* [n_top] */
    float *topv;
    int32_t stamp;
} mq__rank_scratch;
int mq__rank_scratch_init(mq__rank_scratch *w, const mq__rank_snap *s, mq_err *err);
void mq__rank_scratch_release(mq__rank_scratch *w);

static inline int mq__rank_n_features(int n_gen) { return 2 * n_gen + F_N_FIXED; }
static inline int mq__rank_max_cand(const mq__rank_snap *s) { return s->n_gen * s->n_top; }

/* Candidates and features of one member at s->now: hist [n_hist] their positives before now
 * (any order), htime [n_hist] the times (NULL: unknown; the last plays are then the last
 * entries of hist), hour the request's hour (-1: unknown). Writes cand [<= max_cand] (title
 * indices, ascending) and x [n_cand x n_features] (NaN = missing); returns n_cand or a
 * negative MQ_E* code. Titles in hist and titles without a positive before now are never
 * candidates. Thread-safe with one scratch per thread. */
int mq__rank_member_features(const mq__rank_snap *s, const int32_t *hist, const int64_t *htime,
                             int n_hist, int hour, mq__rank_scratch *w, int32_t *cand, float *x,
                             mq_err *err);

/* Feature names for generators gens: names[i] receives feature i's name. */
void mq__rank_feature_names(const char *const *gens, int n_gen, char (*names)[32]);

/* ---- XGBoost (xgb.c) ---- */
typedef struct mq__xgb_cfg {
    const char *objective;    /* "rank:ndcg" or "binary:logistic" */
    const char *metric;       /* "ndcg@20" or "logloss" */
    bool maximize;            /* the metric is better when larger */
    int depth;
    double eta, min_child_weight, lambda;
    int rounds;               /* maximum boosting rounds */
    int early_stop;           /* stop after this many rounds without improvement (0: never) */
    int n_threads;
    uint64_t seed;
    const char *monotone;     /* XGBoost's monotone_constraints "(1,0,-1,...)" (NULL: none) */
    double base_score;        /* XGBoost's base_score (0: not set, XGBoost's default 0.5) */
} mq__xgb_cfg;

/* A training matrix: rows x [n x n_feat], labels [n], query groups (consecutive row counts,
 * NULL for none). */
typedef struct mq__xgb_data {
    const float *x;
    const float *label;
    int64_t n;
    int n_feat;
    const uint32_t *groups;
    int32_t n_groups;
} mq__xgb_data;

/* Trains on tr, evaluating on va (may have n == 0: no early stopping) after each round; keeps
 * the rounds up to the best validation value. Returns the booster saved as UBJSON bytes
 * (*model, malloc'ed, *len), the rounds kept and the best validation value. */
int mq__xgb_train(const mq__xgb_cfg *cfg, const mq__xgb_data *tr, const mq__xgb_data *va,
                  uint8_t **model, size_t *len, int *rounds, double *best, mq_err *err);

/* A loaded booster: predictions are serialized by a mutex (XGBoost's C API keeps one output
 * buffer per booster and thread; the mutex keeps the contract simple). */
typedef struct mq__xgb mq__xgb;
int mq__xgb_load(const uint8_t *model, size_t len, int n_threads, mq__xgb **out, mq_err *err);
void mq__xgb_free(mq__xgb *b);
/* out [n]: probabilities (binary:logistic) or scores (rank:ndcg); margin: raw margins. */
int mq__xgb_predict(mq__xgb *b, const float *x, int64_t n, int n_feat, bool margin, float *out,
                    mq_err *err);
/* The same predictions (type 0) for the serving path (a few hundred rows per call): by the
 * booster's trees compiled at load (binary:logistic boosters: a flat node array walked in
 * XGBoost's order of operations, tested equal to XGBoost's predictions), else by XGBoost's
 * inplace prediction on the dense rows (no DMatrix). */
int mq__xgb_predict_dense(mq__xgb *b, const float *x, int64_t n, int n_feat, float *out, mq_err *err);
/* SHAP contributions (XGBoost's predict type 2): out [n x (n_feat + 1)], feature columns then
 * the bias; each row sums to the row's margin. */
int mq__xgb_contribs(mq__xgb *b, const float *x, int64_t n, int n_feat, float *out, mq_err *err);
/* Threads of the booster's later predictions (0: all cores). */
int mq__xgb_set_threads(mq__xgb *b, int n_threads, mq_err *err);
/* Whether the booster's trees were compiled (mq__xgb_predict_dense walks them itself). */
bool mq__xgb_compiled(const mq__xgb *b);
/* The number of features the booster was trained on (-1 if XGBoost cannot say). */
int mq__xgb_n_features(mq__xgb *b);
/* CRC-32C of the feature names in order: the artifact's "features" parameter. */
uint32_t mq__rank_feature_fingerprint(char (*names)[32], int nf);

/* ---- the bound state of a ranker model, shared by ranker.c (train, bind, score) and
 * rank_eval.c (evaluation, feature files) ---- */

/* Training rows kept in memory after training (not in the artifact), for feature files:
 * set 0 (fit) rows then set 1 (validation) rows, grouped by query. */
typedef struct mq__rank_rows {
    int64_t n;
    int nf;
    float *x;          /* [n x nf] */
    float *grade, *y;  /* [n] ranking grade, binary label */
    float *secs;       /* [n] seconds played (NaN: not a play, or no watch-time head) */
    uint8_t *set;      /* [n] 0 or 1 */
    int32_t *group;    /* [n] query id */
    int32_t *member;   /* [n] index into names */
    int32_t *title;    /* [n] */
    mq_idmap *names;   /* member external ids */
} mq__rank_rows;
void mq__rank_rows_release(mq__rank_rows *r);

typedef struct mq__rank_state {
    mq__rank_snap snap;
    char gens[MQ__RANK_MAX_GEN][16];
    char names[2 * MQ__RANK_MAX_GEN + F_N_FIXED][32];
    int nf;
    mq__xgb *rank, *prob;
    mq__xgb *secs;           /* the watch-time head (NULL: none; docs/models.md) */
    int watch_rounds;
    double watch_base;       /* its base_score: the training plays' mean seconds */
    bool rel_watch;          /* relevance=watch_time: serving multiplies by it */
    double platt_a, platt_b;
    mq_isotonic iso;
    uint32_t fingerprint;
    int rank_rounds, prob_rounds, depth, prob_depth;
    double eta, prob_eta, min_child_weight, lambda;
    uint64_t seed;
    char objective[16];      /* "rank:pairwise" or "rank:ndcg" */
    char exclude[512];       /* the features the boosters ignore, "none" when none */
    char monotone[256];      /* XGBoost monotone_constraints, "" when off */
    mq__rank_rows *rows;     /* NULL after a load */
} mq__rank_state;

int mq__rank_split_gens(const char *list, char names[][16], int max, mq_err *err);
/* The features the boosters ignore (parameter `exclude`: "auto", "none" or feature names):
 * excl [n_features] receives 1 for each, canon their names ("none" when empty). */
int mq__rank_exclude_mask(const char *const *gens, int n_gen, const char *spec, uint8_t *excl,
                          char *canon, size_t cap, mq_err *err);
/* XGBoost monotone constraints: +1 for the share features, −1 for the generators' ranks, 0
 * otherwise and for excluded features; "(c0,c1,...)". */
void mq__rank_monotone(const char *const *gens, int n_gen, const uint8_t *excl, char *out,
                       size_t cap);
uint32_t mq__rank_fingerprint(const mq_idmap *ids, int32_t n);

#endif
