/* marquee/eval.h: offline evaluation of candidate generators on held-out members.
 *
 * The evaluation loop takes any scorer (a callback that scores every title for a history, e.g.
 * a wrapper around mq_model_score) and a set of held-out members (mq_heldout: fold-in history
 * and targets per member), ranks all titles that are not in the member's fold-in history (fold-in
 * titles are never ranked), and averages ranking metrics over members with their standard
 * errors. Ranking ties are broken by the lower title index, everywhere.
 *
 * Metrics (binary relevance; r_1..r_L the ranked list without fold-in titles, T the targets):
 *   Recall@k    = |top-k ∩ T| / min(k, |T|)                     (Liang et al. 2018)
 *   Precision@k = |top-k ∩ T| / k
 *   NDCG@k      = Σ_{i<=k, r_i∈T} 1/log2(i+1)  /  Σ_{i<=min(k,|T|)} 1/log2(i+1)
 *   MAP@k       = Σ_{i<=k, r_i∈T} Precision@i / min(k, |T|)
 *   MRR         = 1 / (rank of the best-ranked target in the full ranking)
 *   AUC         = share of (target, non-target) pairs of the full ranking (fold-in titles
 *                 excluded) where the target ranks first
 *   Coverage@k  = |∪_members top-k| / (rankable titles)         (one figure, no standard error)
 *   Novelty@k   = mean over top-k of −log2(max(pop_i, 1) / n_members), pop_i = the number of
 *                 training members with title i
 *   Diversity@k = mean over pairs i<j of the top-k of 1 − |G_i ∩ G_j| / |G_i ∪ G_j| (genre
 *                 sets; two titles without genres are at distance 0)
 * Each per-member metric is reported as its mean over members with at least one target and its
 * standard error sd/√n (sd with n − 1).
 */
#ifndef MARQUEE_EVAL_H
#define MARQUEE_EVAL_H

#include "core.h"
#include "data.h"
#include "models.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmarquee.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* ---- metrics on one ranked list (pure functions) ---------------------------------------- */

/* ranked: [n_ranked] title indices, best first (no duplicates). targets: [n_targets] title
 * indices in ascending order. k >= 1. Lists shorter than k count as they are (no padding).
 * All return 0 when n_targets == 0. */
double mq_eval_recall(const int32_t *ranked, int n_ranked, const int32_t *targets,
                      int n_targets, int k);
double mq_eval_precision(const int32_t *ranked, int n_ranked, const int32_t *targets,
                         int n_targets, int k);
double mq_eval_ndcg(const int32_t *ranked, int n_ranked, const int32_t *targets,
                    int n_targets, int k);
double mq_eval_map(const int32_t *ranked, int n_ranked, const int32_t *targets, int n_targets,
                   int k);

/* Full-ranking metrics from scores: scores [n_titles]; excluded [n_excluded] title indices
 * (fold-in history, any order) are removed from the ranking; targets ascending, disjoint from
 * excluded. Title a ranks before b when score_a > score_b, or they are equal and a < b; NaN
 * scores rank as −inf. mq_eval_rr returns 1/rank of the best target (0 without targets);
 * mq_eval_auc returns the AUC, or NaN when there are no targets or no non-targets. O(n log |T|). */
double mq_eval_rr(const float *scores, int32_t n_titles, const int32_t *excluded,
                  int n_excluded, const int32_t *targets, int n_targets);
double mq_eval_auc(const float *scores, int32_t n_titles, const int32_t *excluded,
                   int n_excluded, const int32_t *targets, int n_targets);

/* Mean self-information of the first min(k, n_ranked) titles: −log2(max(pop[i],1)/n_members).
 * 0 for an empty list. */
double mq_eval_novelty(const int32_t *ranked, int n_ranked, int k, const int32_t *pop,
                       int32_t n_members);
/* Mean pairwise genre distance 1 − Jaccard over the first min(k, n_ranked) titles; genres
 * [n_titles] are bit sets (mq_catalog.genres). 0 for lists of fewer than two titles. */
double mq_eval_diversity(const int32_t *ranked, int n_ranked, int k, const uint64_t *genres);

/* Top-k selection: writes the k best titles of scores (the rank order above), skipping
 * excluded titles, into out [k] best first, and returns the count written (< k only when
 * fewer titles remain). A size-k heap: O(n log k), no full sort. mark [n_titles] is caller
 * scratch that must hold no value equal to stamp (> 0) on entry; the function sets
 * mark[t] = stamp for excluded titles; titles whose mark is negative are skipped as well. */
int mq_eval_topk(const float *scores, int32_t n_titles, const int32_t *excluded, int n_excluded,
                 int k, int32_t *mark, int32_t stamp, int32_t *out);

/* ---- the evaluation loop ---------------------------------------------------------------- */

/* A scorer: writes scores [n_titles] for a member with history hist [n_hist] (title indices,
 * ascending). Must be safe to call from several threads at once with distinct scores buffers.
 * Returns 0 or a negative MQ_E* code (with err filled). */
typedef int (*mq_eval_score_fn)(void *user, const int32_t *hist, int n_hist, float *scores,
                                mq_err *err);

#define MQ_EVAL_MAX_K 8
#define MQ_EVAL_MAX_METRICS 64

typedef struct mq_eval_opts {
    uint32_t struct_size;       /* sizeof, set by mq_eval_opts_init (marquee/core.h) */
    int ks[MQ_EVAL_MAX_K];      /* cut-offs, ascending; n_ks == 0 means {10, 20, 50, 100} */
    int n_ks;
    int n_threads;              /* 0 = the number of online cores */
    const int32_t *title_pop;   /* [n_titles] training members per title; NULL: no novelty */
    int32_t n_pop_members;      /* training members (denominator of novelty) */
    const uint64_t *genres;     /* [n_titles] genre bit sets; NULL: no diversity */
    const uint8_t *rankable;    /* [n_titles] 0: never ranked, and dropped from targets (e.g.
                                 * titles no training member has); NULL: every title */
    bool naive_topk;            /* benchmark baseline: full sort per member instead of a heap */
    const mq_log *log;          /* progress lines (members done, rate); NULL = silent */
} mq_eval_opts;

/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: k = 10, 20, 50, 100;
 * all cores; no novelty or diversity. */
void mq_eval_opts_init(mq_eval_opts *o, size_t size);

/* One reported figure: "recall@20", "ndcg@100", "mrr", "auc", "coverage@10", ... */
typedef struct mq_eval_metric {
    char name[32];
    double mean;
    double se;                  /* standard error over members; NaN for coverage */
    int32_t n;                  /* members it averages (those where it is defined) */
} mq_eval_metric;

typedef struct mq_eval_result {
    int32_t n_members;          /* held-out members with at least one target */
    int32_t n_skipped;          /* held-out members without targets (not evaluated) */
    int n_metrics;
    mq_eval_metric metrics[MQ_EVAL_MAX_METRICS];
    double seconds;             /* wall time of scoring + ranking + metrics */
    double members_per_sec;
} mq_eval_result;

/* Evaluates score on the held-out members h (title indices < n_titles). Members are split into
 * blocks handed to n_threads threads; per-member values are kept and reduced in member order,
 * so results do not depend on the thread count. Fails with MQ_EINVAL on out-of-range title
 * indices or bad options, or with the scorer's error (the first one). */
int mq_eval_heldout(mq_eval_score_fn score, void *user, int32_t n_titles, const mq_heldout *h,
                    const mq_eval_opts *o, mq_eval_result *res, mq_err *err);

/* A batch scorer: scores n_members members at once; member i's history is
 * idx[ptr[i] .. ptr[i+1]) (absolute offsets into idx, as in mq_heldout), its scores go to
 * scores[i * n_titles .. (i+1) * n_titles). Called concurrently from several threads with
 * distinct buffers; n_members <= 16. */
typedef int (*mq_eval_batch_fn)(void *user, int n_members, const int64_t *ptr, const int32_t *idx,
                                float *scores, mq_err *err);

/* mq_eval_heldout with a batch scorer: the same results, blocks of up to 16 members scored per
 * call (for models whose scoring is a matrix product). */
int mq_eval_heldout_batch(mq_eval_batch_fn batch, void *user, int32_t n_titles,
                          const mq_heldout *h, const mq_eval_opts *o, mq_eval_result *res,
                          mq_err *err);

/* The metric named name in r, or NULL. */
const mq_eval_metric *mq_eval_find(const mq_eval_result *r, const char *name);

/* ---- hyperparameter search on validation members (src/eval/tune.c) ----------------------
 *
 * A grid search: every point of the Cartesian product of the axes is trained on the training
 * matrix and scored on the validation members; the best validation metric wins (ties keep the
 * earlier point). Then the search does not stop at the grid's edge: while the best point sits
 * on the lowest or highest value of a numeric axis, that axis is extended geometrically past
 * the edge (next value = edge * edge / neighbour, i.e. the ratio of the two outermost grid
 * values; rounded for integer axes) and the new value is tried with the other axes at the best
 * point, at most max_extend steps per side and axis. An axis cannot be extended past a value
 * <= 0, nor past a value the model rejects (MQ_EINVAL or MQ_ERANGE from its parameter check): the optimum
 * then sits on the parameter's bound. The result says which axes were extended and whether
 * the optimum is interior. */

#define MQ_TUNE_MAX_AXES 8
#define MQ_TUNE_MAX_VALUES 32      /* per axis: given values plus extensions */
#define MQ_TUNE_MAX_POINTS 160     /* grid points (at most 64) plus extension steps */

typedef struct mq_tune_axis {
    char name[48];                          /* the parameter ("lambda") */
    char values[MQ_TUNE_MAX_VALUES][32];    /* its values as text, grid first then extensions */
    int n, n_grid;                          /* values in all, values of the grid */
    bool numeric;                           /* every grid value is a number */
    int extended_low, extended_high;        /* extension steps taken past each edge */
    int best;                               /* (result) index of the chosen value in values */
    int edge;                               /* (result) -1 the chosen value is the lowest, +1
                                             * the highest, 0 inside (or a non-numeric axis) */
    const char *stop;                       /* (result) why an edge optimum was not extended
                                             * further: "max_extend", "bound" (value <= 0 or
                                             * rejected by the model); NULL when interior */
} mq_tune_axis;

/* Builds the axes for model kind: the built-in default grid of that kind (docs/eval.md), each
 * axis replaced or added by a grid spec "name=v1,v2,..." (up to 16 values), then without the
 * parameters fixed in fixed[n_fixed] ("name=value"). *n_axes may be 0 (nothing to tune). */
int mq_eval_tune_axes(const char *kind, const char *const *grid_specs, int n_specs,
                      const char *const *fixed, int n_fixed, mq_tune_axis *axes, int *n_axes,
                      mq_err *err);

typedef struct mq_tune_opts {
    uint32_t struct_size;       /* sizeof, set by mq_tune_opts_init (marquee/core.h) */
    const char *kind;                   /* model kind */
    const char *const *fixed;           /* [n_fixed] "name=value" parameters held fixed */
    int n_fixed;
    const char *metric;                 /* validation metric to maximise, e.g. "ndcg@100" */
    int max_extend;                     /* extension steps per side and axis (-1: default 3;
                                         * 0: plain grid search) */
    int n_threads;                      /* training threads (0 = all cores) */
    uint64_t seed;                      /* training seed */
    const mq_eval_opts *eval;           /* how validation members are scored (ks, rankable...) */
    const mq_log *log;                  /* one line per point tried; NULL = silent */
} mq_tune_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: max_extend -1 (3 steps), all cores;
 * kind, metric and eval must be set. */
void mq_tune_opts_init(mq_tune_opts *o, size_t size);

typedef struct mq_tune_point {
    char params[256];                   /* the axes' values, "lambda=200 prune=0" */
    double value;                       /* validation metric */
    double fit_seconds;
    bool extension;                     /* tried by the edge extension, not in the grid */
} mq_tune_point;

typedef struct mq_tune_result {
    mq_tune_axis axes[MQ_TUNE_MAX_AXES];     /* the axes with their extensions and choice */
    int n_axes;
    mq_tune_point points[MQ_TUNE_MAX_POINTS]; /* in the order tried */
    int n_points;
    int best;                           /* index of the chosen point */
    char best_params[MQ_TUNE_MAX_AXES][80];   /* the chosen "name=value", one per axis */
    bool interior;                      /* no numeric axis ends at an edge */
    mq_eval_result val;                 /* the chosen point's validation figures */
    double fit_seconds;                 /* the chosen point's fit time */
    mq_model *model;                    /* the model trained at the chosen point; the caller
                                         * owns it (mq_model_destroy) */
} mq_tune_result;

/* Searches axes [n_axes] (from mq_eval_tune_axes) for o->kind, training on train and scoring
 * the validation members val (title indices of train). res is large (~100 KB): allocate it.
 * Fails with MQ_EINVAL when val is empty, the grid has more than 64 points or the metric is
 * not computed, or with a training or scoring error. Deterministic for a seed and inputs. */
int mq_eval_tune(const mq_tune_opts *o, const mq_dataset *train, const mq_heldout *val,
                 const mq_tune_axis *axes, int n_axes, mq_tune_result *res, mq_err *err);

/* The training members of train plus every validation member of val (fold-in and targets as
 * positives with value 1, time 0), for refitting the chosen point on more data. Title indices
 * and the catalog are train's, so a model trained on it scores the same title space. A
 * validation member whose id is also a training member's is MQ_EINVAL. The caller owns *out. */
int mq_eval_refit_data(const mq_dataset *train, const mq_heldout *val, mq_dataset **out,
                       mq_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
