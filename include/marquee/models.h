/* marquee/models.h: candidate generators (pop, trending, itemknn, ease, ials, content,
 * hybrid), fold-in scoring for any member from their history alone, explanations, and model
 * artifacts (mmap-able, checksummed, written atomically).
 *
 * A trained or loaded mq_model is immutable: every function taking a const mq_model* is safe
 * to call from many threads at once. Title indices are those of the training dataset; the
 * model carries the title external ids and the catalog metadata it was trained with.
 */
#ifndef MARQUEE_MODELS_H
#define MARQUEE_MODELS_H

#include "core.h"
#include "data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmarquee.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

typedef struct mq_model mq_model;

/* Hyperparameters as "name=value" strings, e.g. {"lambda=200", "factors=128"}; each model
 * documents the names it takes and rejects unknown ones with MQ_EINVAL. */
typedef struct mq_train_opts {
    uint32_t struct_size;       /* sizeof, set by mq_train_opts_init (marquee/core.h) */
    const char *const *params;
    int n_params;
    int n_threads;           /* 0 = the number of cores */
    uint64_t seed;
    const mq_log *log;       /* per-epoch progress */
} mq_train_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: no parameters, all cores, seed 0, no log. */
void mq_train_opts_init(mq_train_opts *o, size_t size);

/* The model kinds mq_model_train accepts ("pop", "trending", "itemknn", "ease", "dlae",
 * "ials", "content", "hybrid"), from the library's one registry: a NULL-terminated array of
 * static strings. The CLI's help, its option checks and the library's messages all use it. */
const char *const *mq_model_kinds(void);
/* The same names as one static string, "pop, trending, ..., hybrid" (for help and messages). */
const char *mq_model_kinds_text(void);
/* Whether kind is one of mq_model_kinds() (NULL: false). */
bool mq_model_kind_valid(const char *kind);

/* Trains model `kind` (one of mq_model_kinds()) on the implicit positives of d. The model
 * copies what it needs from d (ids, catalog). An unknown kind is MQ_EINVAL naming the valid
 * ones. */
int mq_model_train(const char *kind, const mq_dataset *d, const mq_train_opts *o,
                   mq_model **out, mq_err *err);
void mq_model_destroy(mq_model *m);
/* Checks, without any data, what mq_model_train would refuse in its options: the kind, every
 * parameter name for that kind (a hybrid's base-model parameters and a ranker's
 * "<generator>.<name>" ones included) and every value (a number where one is expected, in the
 * kind's range). 0 when train would accept them; else MQ_EINVAL (unknown kind or name, not a
 * number) or MQ_ERANGE (out of range) with a message naming the parameter and the value.
 * Commands call it before loading data, so a typo fails at once. */
int mq_model_check_params(const char *kind, const mq_train_opts *o, mq_err *err);

const char *mq_model_kind(const mq_model *m);
int32_t mq_model_n_titles(const mq_model *m);
/* External id of title index t; the catalog entry (may have NULL fields). */
const char *mq_model_title_id(const mq_model *m, int32_t t);
int32_t mq_model_title_index(const mq_model *m, const char *id);   /* -1 if unknown */
const mq_catalog *mq_model_catalog(const mq_model *m);

/* Scores every title for a member given only their history (fold-in): hist are title indices
 * (any order), hist_val their values (NULL = all 1). scores: [n_titles], written in full.
 * Thread-safe; allocates nothing on the heap for pop/trending/itemknn/ease. */
int mq_model_score(const mq_model *m, const int32_t *hist, const float *hist_val, int n_hist,
                   float *scores, mq_err *err);
/* As mq_model_score, for callers that only need the best `top` titles: those titles (and any
 * title that could tie or beat them) get their exact mq_model_score values, bit for bit; every
 * other title gets a value strictly below all of those (a lower bound of its score). Factor
 * models (ials) prune with int8 factors and an error bound, so a page pays for ~top exact
 * dot products instead of n_titles; other models score everything. top >= n_titles: same as
 * mq_model_score. cut (may be NULL) receives a value at or below the top-th best score such
 * that every title scored below it is known not to be among the best `top` (-inf when nothing
 * was pruned): callers can skip those titles without looking further. */
int mq_model_score_top(const mq_model *m, const int32_t *hist, const float *hist_val, int n_hist,
                       int top, float *scores, float *cut, mq_err *err);

/* Request-time filters for mq_model_recommend. */
typedef struct mq_filter {
    uint32_t struct_size;       /* sizeof, set by mq_filter_init (marquee/core.h) */
    bool include_seen;        /* default false: titles in the history are excluded */
    const int32_t *exclude;   /* title indices never to return */
    int n_exclude;
    int genre;                /* keep only titles with this catalog genre bit; -1 = any */
} mq_filter;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: seen titles excluded, no exclusions, any genre (-1). */
void mq_filter_init(mq_filter *o, size_t size);

/* Top-n titles for a history: out_titles/out_scores [n], returns the count written (<= n) or
 * a negative MQ_E* code. f may be NULL (defaults). */
int mq_model_recommend(const mq_model *m, const int32_t *hist, const float *hist_val,
                       int n_hist, const mq_filter *f, int n, int32_t *out_titles,
                       float *out_scores, mq_err *err);

/* The history of a member of a dataset, by external id, for mq_model_recommend: *hist gets the
 * model's indices of the member's titles in pos (their implicit positives, mq_data_positives),
 * skipping titles the model does not know (*n_unknown counts them; may be NULL). With raw (the
 * data before binarization; may be NULL) and seen/n_seen non-NULL, *seen gets the model's
 * indices of every title of the member in raw, positive or not: titles to exclude as seen.
 * Arrays are malloc'd (caller frees; *seen stays NULL when there is none). MQ_ENOTFOUND when
 * the member has no positives in pos. Thread-safe. */
int mq_model_member_history(const mq_model *m, const mq_dataset *pos, const mq_dataset *raw,
                            const char *member, int32_t **hist, int *n_hist, int32_t **seen,
                            int *n_seen, int *n_unknown, mq_err *err);
/* Top-n for a member of a dataset (`marquee recommend --member ID --data PATH`): the history
 * of mq_model_member_history, the titles seen in raw excluded unless f->include_seen, then
 * mq_model_recommend with f (NULL = defaults). Returns the count written or a negative MQ_E*. */
int mq_model_recommend_member(const mq_model *m, const mq_dataset *pos, const mq_dataset *raw,
                              const char *member, const mq_filter *f, int n, int32_t *out_titles,
                              float *out_scores, mq_err *err);

/* Why title t was recommended: the history titles that contributed most to its score, with
 * their contributions; returns the count written (<= max). */
int mq_model_explain(const mq_model *m, const int32_t *hist, const float *hist_val, int n_hist,
                     int32_t t, int max, int32_t *out_titles, float *out_weights, mq_err *err);
/* mq_model_explain for n_t titles ts at once, sharing the per-history work (iALS factors the
 * member's system once instead of once per title): title i's count in out_n[i] (<= max), its
 * titles and weights in out_titles / out_weights [i * max ...]. The same explanations as
 * mq_model_explain up to float rounding. Returns 0 or a negative MQ_E* (as mq_model_explain). */
int mq_model_explain_many(const mq_model *m, const int32_t *hist, const float *hist_val, int n_hist,
                          const int32_t *ts, int n_t, int max, int32_t *out_titles, float *out_weights,
                          int *out_n, mq_err *err);

/* Titles most similar to title t (itemknn/ease weights, ials/content cosine); count written. */
int mq_model_similar(const mq_model *m, int32_t t, int n, int32_t *out_titles,
                     float *out_scores, mq_err *err);
/* Whether the model has a title similarity (popularity and trending have none). */
bool mq_model_has_similar(const mq_model *m);

/* Cold start for titles the model was not trained on (src/models/model_content.c): the
 * content model's scores for titles known only by their metadata. mq_model_cold_create builds
 * the TF-IDF vectors of cat's titles [first, first + n) (genres matched by name to the model's
 * genre_names, tags to its tag_names; unknown ones dropped) with the training catalog's
 * document frequencies, as training builds a trained title's; m is a content model or a hybrid
 * (its content part), else MQ_EUNSUP. The result borrows m (destroy it first) and is immutable
 * (thread-safe). mq_model_cold_score writes scores[n]: cos(v_i, p) with p the member's profile
 * from hist (model title indices; hist_val NULL = all 1), exactly what mq_model_score gives a
 * trained title with the same vector (0 for an empty history). */
typedef struct mq_model_cold mq_model_cold;
int mq_model_cold_create(const mq_model *m, const mq_catalog *cat, int32_t first, int32_t n,
                         mq_model_cold **out, mq_err *err);
int mq_model_cold_score(const mq_model_cold *c, const int32_t *hist, const float *hist_val, int n_hist,
                        float *scores, mq_err *err);
void mq_model_cold_destroy(mq_model_cold *c);    /* NULL is fine */

/* Artifacts: magic "MQMODEL1", version, kind, parameters, training-data checksum, aligned
 * arrays, CRC-32C; written by temp file + fsync + rename; loaded by mmap. */
int mq_model_save(const mq_model *m, const char *path, mq_err *err);
int mq_model_load(const char *path, mq_model **out, mq_err *err);
/* Like mq_model_load, but the file is read into private memory instead of mapped: nothing done
 * to the file afterwards (copied over in place, truncated) can change the model or crash the
 * process. For long-lived holders (the server); costs one read of the file (memory it would
 * touch anyway). */
int mq_model_load_private(const char *path, mq_model **out, mq_err *err);

/* The canonical parameter text of a model, every parameter with its value, e.g.
 * "lambda=200 prune=0". Owned by the model. */
const char *mq_model_params(const mq_model *m);
/* One numeric parameter of mq_model_params ("name=value"): 0 and *out, MQ_ENOTFOUND when the
 * model has no such parameter, MQ_EFORMAT when its value is not a number. */
int mq_model_param_double(const mq_model *m, const char *name, double *out);

/* What a model was trained on and how long it took, recorded by mq_model_train and saved with
 * the model (the array "train_info"): members, titles and interactions (the implicit
 * positives) of the training data, when (unix seconds) and the wall time of the training
 * alone (seconds). MQ_ENOTFOUND for an artifact written before this was recorded. */
typedef struct mq_model_train_info {
    int64_t n_members, n_titles, n_interactions;
    int64_t trained_at;
    double train_seconds;
} mq_model_train_info;
int mq_model_train_info_get(const mq_model *m, mq_model_train_info *out);

/* Scores many histories at once (fold-in), e.g. all test members of an evaluation: member b's
 * history is hist_idx[hist_ptr[b] .. hist_ptr[b+1]) (title indices); scores is
 * [n_batch x n_titles] row-major, written in full. Models use blocked matrix products where
 * they can (ials: one sgemm of the folded-in factors against the title factors); the others
 * score member by member on n_threads threads (0 = all cores). Thread-safe. */
int mq_model_score_batch(const mq_model *m, int32_t n_batch, const int64_t *hist_ptr,
                         const int32_t *hist_idx, float *scores, int n_threads, mq_err *err);

/* Top-n for many histories: scores blocks of members with mq_model_score_batch (bounded
 * memory, ~64 MiB of scores at a time), applies f (the member's own history is excluded unless
 * f->include_seen) and selects each member's top n by partial selection. out_titles and
 * out_scores are [n_batch x n] (row b holds out_counts[b] valid entries, best first). */
int mq_model_recommend_batch(const mq_model *m, int32_t n_batch, const int64_t *hist_ptr,
                             const int32_t *hist_idx, const mq_filter *f, int n,
                             int32_t *out_titles, float *out_scores, int32_t *out_counts,
                             int n_threads, mq_err *err);

/* ---- drift (src/models/model_drift.c) ---- */

#define MQ_MODEL_SCORE_BINS 10
/* The deciles (9 interior edges) of the best-100 scores of training members, stored in the
 * artifact by mq_model_train. MQ_ENOTFOUND for an artifact written before them. */
int mq_model_score_ref(const mq_model *m, float edges[MQ_MODEL_SCORE_BINS - 1]);
/* Adds the best 100 of scores[n_titles] (NaN entries skipped: put NaN on the history) to
 * counts by the bins of edges; returns how many were added. */
int mq_model_score_bin_top(const float edges[MQ_MODEL_SCORE_BINS - 1], const float *scores, int32_t n_titles,
                           unsigned long long counts[MQ_MODEL_SCORE_BINS]);
/* The Population Stability Index of counts against equal shares (the reference deciles):
 * sum (a - 0.1) ln(a / 0.1), empty bins taken as 0.01%; NaN without counts. */
double mq_model_psi(const unsigned long long counts[MQ_MODEL_SCORE_BINS]);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
