/* marquee/rank.h: the second stage: a learned ranker over the candidates of several
 * generators, its calibrated play probability, and the calibration tools it uses.
 *
 * The ranker is a model kind ("ranker", trained with mq_model_train like any other): for each
 * member it takes the union of the top N titles of its generators (candidates=ease,ials,...),
 * computes point-in-time features per (member, title) and orders them with LambdaMART
 * (XGBoost rank:ndcg); a second booster (binary:logistic) predicts the probability of a play,
 * calibrated by Platt scaling and isotonic regression. The features, the temporal training
 * protocol and the artifact are described in docs/models.md ("ranker").
 *
 * mq_model_score on a ranker scores the candidates (every other title gets -inf) from the
 * history alone, as of the training data's end; the functions below also take the history's
 * timestamps (for the recency features) and report calibration on held-out members.
 * Everything here is thread-safe on a trained (immutable) ranker.
 */
#ifndef MARQUEE_RANK_H
#define MARQUEE_RANK_H

#include "core.h"
#include "data.h"
#include "models.h"
#include "eval.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmarquee.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* ---- calibration (pure functions) ------------------------------------------------------- */

/* Platt scaling: p = 1 / (1 + exp(-(a z + b))), a and b the maximum-likelihood logistic
 * regression of the labels y [n] (0/1) on the scores z [n] (Newton's method; Platt 1999
 * without the target smoothing). MQ_EINVAL when n == 0 or the labels are all equal (no
 * finite maximum). */
int mq_calib_platt_fit(const double *z, const uint8_t *y, int64_t n, double *a, double *b,
                       mq_err *err);
double mq_calib_platt_apply(double a, double b, double z);

/* Isotonic regression by pool adjacent violators: the non-decreasing step function of p that
 * minimizes Σ (f(p_i) − y_i)² (equal p values are pooled first). Blocks are stored as their
 * lowest p (x, ascending) and value (y). Applying it to p gives the value of the last block
 * whose x <= p (the first block's value below x[0]). The caller owns x and y (free with
 * mq_isotonic_release). */
typedef struct mq_isotonic {
    int32_t n;
    double *x;     /* [n] block lower bounds, ascending */
    double *y;     /* [n] block values, non-decreasing */
} mq_isotonic;
int mq_isotonic_fit(const double *p, const uint8_t *y, int64_t n, mq_isotonic *out, mq_err *err);
double mq_isotonic_apply(const mq_isotonic *iso, double p);
void mq_isotonic_release(mq_isotonic *iso);

/* Calibration figures of probabilities p [n] against labels y [n]:
 *   log loss = −mean(y ln p + (1−y) ln(1−p)), p clipped to [1e-15, 1 − 1e-15]
 *   Brier    = mean((p − y)²)
 *   ECE      = Σ_b (n_b / n) |mean_b(p) − mean_b(y)| over n_bins equal-mass bins: the
 *              predictions sorted ascending (ties by index) and cut at floor(b n / n_bins).
 * When bins is not NULL it receives n_bins rows of the reliability diagram. */
typedef struct mq_calib_bin {
    int64_t count;
    double mean_p, rate;      /* mean prediction and observed positive rate in the bin */
} mq_calib_bin;
typedef struct mq_calib_figures {
    double log_loss, brier, ece;
} mq_calib_figures;
int mq_calib_figures_compute(const double *p, const uint8_t *y, int64_t n, int n_bins,
                             mq_calib_figures *out, mq_calib_bin *bins, mq_err *err);

/* ---- the ranker ------------------------------------------------------------------------- */

/* Whether m is a ranker. */
bool mq_rank_is_ranker(const mq_model *m);

/* The number of features and the name of feature i ("ease_score", "pop_7d", ...). */
int mq_rank_n_features(const mq_model *m);
const char *mq_rank_feature_name(const mq_model *m, int i);

/* CRC-32C of the title ids in index order (with their count): the catalog fingerprint that
 * feature files and the ranker artifact carry. */
uint32_t mq_rank_catalog_fingerprint(const mq_model *m);

/* What mq_rank_evaluate adds to the ranking metrics. */
typedef struct mq_rank_report {
    int n_generators;
    char generators[8][16];
    double gen_ndcg[8];           /* NDCG@k_cmp of each generator alone (same members) */
    double delta[8], delta_se[8]; /* ranker − generator, paired mean and standard error */
    double ndcg;                  /* the ranker's NDCG@k_cmp */
    int k_cmp;                    /* 20 */
    int64_t n_pairs;              /* candidates scored on the test members */
    double base_rate;             /* share of them that are targets */
    mq_calib_figures raw, platt, isotonic;
    double feature_seconds;       /* building the test features */
    double candidates_per_sec;
} mq_rank_report;

/* Trains a ranker as mq_model_train("ranker", d, o, ...) does, with graded labels
 * (label=rating|play_seconds) read from raw: the same interactions before binarization (same
 * external ids; explicit ratings, or watch seconds as values). d holds the positives the
 * ranker learns from (binarized or not); raw NULL reads the values of d itself. */
int mq_rank_train(const mq_dataset *d, const mq_dataset *raw, const mq_train_opts *o,
                  mq_model **out, mq_err *err);

typedef struct mq_rank_eval_opts {
    uint32_t struct_size;       /* sizeof, set by mq_rank_eval_opts_init (marquee/core.h) */
    const char *reliability_csv;  /* write the reliability diagram here (NULL: not written) */
    const char *features_csv;     /* write the training and test feature rows (NULL: not) */
    int features_format;          /* MQ_RANK_FEATURES_AUTO (0: LibSVM when the file name ends
                                   * in .libsvm or .svm, else CSV), _CSV or _LIBSVM */
    const char *order_feature;    /* a diagnostic: order the candidates by this feature (e.g.
                                   * "trending_score") instead of the order head; NULL: the
                                   * order head. With a generator's score it must reproduce
                                   * that generator's NDCG exactly. */
} mq_rank_eval_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: nothing written, the order head. */
void mq_rank_eval_opts_init(mq_rank_eval_opts *o, size_t size);

enum { MQ_RANK_FEATURES_AUTO = 0, MQ_RANK_FEATURES_CSV = 1, MQ_RANK_FEATURES_LIBSVM = 2 };

/* Evaluates a ranker on held-out members h (as mq_eval_heldout_batch with the same options
 * and metrics) where each member's history and its timestamps come from train (members
 * matched by external id; a member train lacks is scored from h's fold-in without times), as
 * of the ranker's as_of time. Also fills rep (may be NULL): the paired NDCG comparison with
 * each generator, and log loss, Brier and ECE (15 equal-mass bins) of the raw, Platt and
 * isotonic play probabilities of every candidate against "is a target". */
int mq_rank_evaluate(const mq_model *ranker, const mq_dataset *train, const mq_heldout *h,
                     const mq_eval_opts *eo, const mq_rank_eval_opts *ro, mq_eval_result *res,
                     mq_rank_report *rep, mq_err *err);

/* Appends rep as the JSON members "calibration": {...}, "vs_generators": [...] (no braces
 * around them) to out [cap]; returns the length written or a negative MQ_E* code. */
int mq_rank_report_json(const mq_rank_report *rep, char *out, size_t cap);

/* A feature file (written by mq_rank_evaluate's features_csv): its first line is
 * "# marquee-features v1 catalog=<fingerprint hex> features=<n> ...". CSV: then a header and
 * rows "set,group,member,title,label,<features...>,pred_rank,pred_prob" (set 0: training
 * rows, 1: validation rows (early stopping and calibration), 2: test rows; group: the
 * member's query id; missing features are "nan"). LibSVM (" format=libsvm" on line 1): a
 * "# features: 0:<name> 1:<name> ..." line, then rows "<label> qid:<group> <j>:<value> ...
 * # set=<s> member=<id> title=<id> pred_rank=<x> pred_prob=<x>" with 0-based feature
 * indices, missing features left out and ids percent-encoded (bytes <= ' ', '%', '#', '=').
 * Reads either back as a dense matrix after checking its
 * catalog fingerprint against the ranker's (MQ_EINVAL naming both when they differ); x is
 * [n_rows x n_features] row-major, set/label [n_rows]. The caller frees the arrays. */
int mq_rank_features_read(const mq_model *ranker, const char *path, int64_t *n_rows,
                          float **x, float **label, int32_t **set, mq_err *err);

/* Predictions of the ranker's boosters for rows x [n x n_features]: the LambdaMART score and
 * the raw play probability (either output may be NULL). */
int mq_rank_predict_rows(const mq_model *ranker, const float *x, int64_t n, float *rank_score,
                         float *prob, mq_err *err);

/* ---- serving: one member's candidates at request time (src/rank/rank_live.c) -------------
 * What `marquee serve` does with a ranker (docs/models.md, "Serving a ranker"); any other
 * server can do the same. A bound ranker is immutable and shared; each thread needs its own
 * mq_rank_work. */

/* The ranker's generators (kinds, in feature order), its as_of time and the most candidates
 * one member can have (generators × top). 0 / NULL for a model that is not a ranker. */
int mq_rank_n_generators(const mq_model *m);
const char *mq_rank_generator(const mq_model *m, int g);
/* The canonical parameters of the copy of generator g trained inside the ranker. */
const char *mq_rank_generator_params(const mq_model *m, int g);
int64_t mq_rank_as_of(const mq_model *m);
int mq_rank_max_candidates(const mq_model *m);

/* Threads of the ranker's booster predictions from now on (0: all cores; a server ranking one
 * page per request thread wants 1). Not to be called while another thread predicts. */
int mq_rank_set_threads(const mq_model *ranker, int n_threads, mq_err *err);

/* Whether gen can stand in for the ranker's generator g: the same kind and the ranker's
 * titles in the ranker's order (catalog fingerprint). MQ_EINVAL with the reason otherwise. */
int mq_rank_check_generator(const mq_model *ranker, int g, const mq_model *gen, mq_err *err);

/* The live inputs of the features (NULL fields: the artifact's own). */
typedef struct mq_rank_live {
    uint32_t struct_size;       /* sizeof, set by mq_rank_live_init (marquee/core.h) */
    int64_t now;                         /* request time, unix seconds (used when after as_of) */
    int hour;                            /* the request's local hour 0..23, -1 unknown */
    const mq_model *const *generators;   /* [mq_rank_n_generators] models checked with
                                            mq_rank_check_generator (entries may be NULL) */
    const float *trending;               /* [n_titles] live trending counters, any scale */
} mq_rank_live;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: now 0, hour -1, the artifact's generators and trending. */
void mq_rank_live_init(mq_rank_live *o, size_t size);

/* Per-thread scratch sized for one ranker (O(generators × titles)): create once per thread
 * and ranker, reuse for every member. */
typedef struct mq_rank_work mq_rank_work;
int mq_rank_work_create(const mq_model *ranker, mq_rank_work **out, mq_err *err);
void mq_rank_work_destroy(mq_rank_work *w);     /* NULL is fine */

/* Candidates and features of one member now, by the training feature function: hist [n_hist]
 * the member's positives (any order), htime [n_hist] their times (NULL: unknown). Writes cand
 * [<= mq_rank_max_candidates] (title indices, ascending) and x [n_cand x mq_rank_n_features]
 * (NaN = missing); returns n_cand or a negative MQ_E* code. History titles are never
 * candidates. */
int mq_rank_live_features(const mq_model *ranker, const mq_rank_live *live, const int32_t *hist,
                          const int64_t *htime, int n_hist, mq_rank_work *w, int32_t *cand,
                          float *x, mq_err *err);

/* The play-probability head on rows x [n x n_features]: raw [n] the booster's probability;
 * platt [n] and isotonic [n] (either may be NULL) its two calibrations (Platt on the logit of
 * raw, as fitted in training: strictly increasing in raw when platt_a > 0; isotonic: a step
 * function, equal for every raw value in one block). */
int mq_rank_play_probability(const mq_model *ranker, const float *x, int64_t n, float *raw,
                             float *platt, float *isotonic, mq_err *err);

/* The watch-time head (trained when the data has watch durations, docs/models.md): expected
 * seconds of a play of each row x [n x n_features], secs [n] (XGBoost reg:squarederror, the
 * conditional mean; never below 0). MQ_EINVAL for a ranker without the head. */
bool mq_rank_has_watch_head(const mq_model *ranker);
int mq_rank_expected_seconds(const mq_model *ranker, const float *x, int64_t n, float *secs,
                             mq_err *err);
/* Whether the ranker was trained with relevance=watch_time (and has the head). */
bool mq_rank_relevance_is_watch_time(const mq_model *ranker);
/* A page's relevance of rows x [n x n_features] from their (calibrated) play probabilities
 * prob [n]: rel [n] = prob, or for relevance=watch_time prob × expected seconds ÷ the
 * training plays' mean seconds (the expected watch time in units of an average play, on the
 * probability's scale, so MMR's similarity term keeps its weight). rel must not overlap prob
 * unless the ranker's relevance is the probability. */
int mq_rank_relevance(const mq_model *ranker, const float *x, int64_t n, const float *prob,
                      float *rel, mq_err *err);

/* SHAP contributions (XGBoost's TreeSHAP) of the play-probability head's margin (log-odds) for
 * rows x [n x n_features]: contrib [n x (n_features + 1)], one column per feature then the
 * bias, each row summing to the row's margin; margin [n] (may be NULL) that margin. */
int mq_rank_contributions(const mq_model *ranker, const float *x, int64_t n, float *contrib,
                          float *margin, mq_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
