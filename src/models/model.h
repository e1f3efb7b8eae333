/* model.h: internals shared by the model files (not part of the public API).
 *
 * A model is: a kind (an ops table), canonical parameters as text ("lambda=200 prune=0"),
 * the training-data checksum, the title external ids and catalog, and a list of named typed
 * arrays (the learned state). Every kind implements train/bind/score/explain/similar over its
 * arrays, so saving and loading are generic (model_artifact.c): load maps the file, points the
 * arrays into the mapping, re-parses the parameter text and calls the kind's bind() to derive
 * its read-only state (pointers, sizes) from the arrays.
 *
 * Sub-models (hybrid = a collaborative base + content) are models of their own held in
 * sub[]; the artifact stores their kind, parameters and arrays under the prefixes "0/" and
 * "1/".
 */
#ifndef MQ_MODEL_H
#define MQ_MODEL_H

#include "core/core.h"

enum { MQ__A_U8 = 1, MQ__A_I32 = 2, MQ__A_I64 = 3, MQ__A_F32 = 4, MQ__A_U64 = 5 };
#define MQ__MODEL_MAX_ARRAYS 24
#define MQ__MODEL_PARAMS_LEN 1024
#define MQ__MODEL_MAX_SUB 8

typedef struct mq__marray {
    char name[40];
    int type;          /* MQ__A_* */
    int64_t count;     /* elements */
    void *p;
    bool owned;        /* heap memory freed with the model (false: points into a mapping) */
} mq__marray;

/* "name=value" parameters, parsed once; lookups mark names used so unknown ones are caught. */
#define MQ__MAX_PARAMS 48      /* the ranker's canonical parameters number 34 */
typedef struct mq__params {
    int n;
    char name[MQ__MAX_PARAMS][48];
    char val[MQ__MAX_PARAMS][160];
    bool used[MQ__MAX_PARAMS];
} mq__params;

int mq__params_parse(mq__params *p, const char *const *kv, int n, mq_err *err);
/* Parses space-separated canonical text ("a=1 b=2"). */
int mq__params_parse_text(mq__params *p, const char *text, mq_err *err);
int mq__param_double(mq__params *p, const char *kind, const char *name, double def, double lo,
                     double hi, double *out, mq_err *err);
int mq__param_int(mq__params *p, const char *kind, const char *name, long def, long lo, long hi,
                  long *out, mq_err *err);
/* The value of name, or def; marks it used. */
const char *mq__param_str(mq__params *p, const char *name, const char *def);
/* MQ_EINVAL naming the first unused (unknown) parameter and the valid names. */
int mq__params_done(const mq__params *p, const char *kind, const char *valid, mq_err *err);

typedef struct mq__model_ops mq__model_ops;

struct mq_model {
    const mq__model_ops *ops;
    char kind[16];
    char params[MQ__MODEL_PARAMS_LEN];   /* canonical, every parameter with its value */
    uint64_t data_crc;                   /* CRC-32C of the training matrix (m_ptr, m_idx) */
    int32_t n_titles;
    int32_t n_members;                   /* training members (informative) */
    int n_threads;                       /* for batch scoring; 0 = cores */
    mq_idmap *title_ids;
    mq_catalog catalog;
    int n_arr;
    mq__marray arr[MQ__MODEL_MAX_ARRAYS];
    void *state;                         /* kind-specific, built by bind() */
    const void *mapping;
    size_t mapping_len;
    mq_model *sub[MQ__MODEL_MAX_SUB];    /* hybrid: 2; ranker: its generators + similarity */
};

struct mq__model_ops {
    const char *kind;
    /* Checks o's parameters (names for this kind, values parsed and in range) as train would,
     * without data: mq_model_check_params. */
    int (*check)(const mq_train_opts *o, mq_err *err);
    /* Learns the arrays from d; params come from o->params; writes m->params. */
    int (*train)(mq_model *m, const mq_dataset *d, const mq_train_opts *o, mq_err *err);
    /* Derives m->state from m->params and m->arr (after train and after load). */
    int (*bind)(mq_model *m, mq_err *err);
    void (*unbind)(mq_model *m);
    /* scores[n_titles] for one history; thread-safe. */
    int (*score)(const mq_model *m, const int32_t *hist, const float *val, int n, float *scores,
                 mq_err *err);
    /* Optional: mq_model_score_top (exact for the best top titles, lower bounds elsewhere);
     * called with 1 <= top < n_titles. */
    int (*score_top)(const mq_model *m, const int32_t *hist, const float *val, int n, int top,
                     float *scores, float *cut, mq_err *err);
    /* Optional: scores[n_batch x n_titles] for many histories (CSR); NULL = one by one. */
    int (*score_batch)(const mq_model *m, int32_t n_batch, const int64_t *ptr,
                       const int32_t *idx, float *scores, int n_threads, mq_err *err);
    /* Optional: per-history-title contributions to title t's score: w[n_hist]. */
    int (*contrib)(const mq_model *m, const int32_t *hist, const float *val, int n, int32_t t,
                   float *w, mq_err *err);
    /* Optional: contrib for n_t titles at once, w[n_t x n_hist] row-major (a model whose
     * contributions share per-history work, e.g. ials' factorisation); NULL = contrib per title. */
    int (*contrib_many)(const mq_model *m, const int32_t *hist, const float *val, int n,
                        const int32_t *ts, int n_t, float *w, mq_err *err);
    /* Optional: similarity of title t to every title: sim[n_titles]. */
    int (*similar)(const mq_model *m, int32_t t, float *sim, mq_err *err);
};

/* The model kinds, in the order help and messages list them: X(kind) for each, where
 * mq__model_<kind> is its ops table. The one list (model.c expands it into the registry). */
#define MQ__MODEL_KINDS(X) X(pop) X(trending) X(itemknn) X(ease) X(dlae) X(ials) X(content) X(hybrid) X(ranker)

#define MQ__MODEL_OPS_DECL(k) extern const mq__model_ops mq__model_##k;
MQ__MODEL_KINDS(MQ__MODEL_OPS_DECL)
#undef MQ__MODEL_OPS_DECL

/* Adds a heap array (taking ownership of p, allocated with mq__alloc) to m. */
int mq__model_add(mq_model *m, const char *name, int type, int64_t count, void *p, mq_err *err);
/* The array called name with the given type, or NULL (MQ_ECORRUPT message in err). */
void *mq__model_get(const mq_model *m, const char *name, int type, int64_t *count, mq_err *err);
/* 64-byte aligned, zeroed allocation (free with free()). NULL on overflow or ENOMEM. */
void *mq__alloc(size_t n, size_t size);
/* Appends " name=value" to m->params. */
void mq__model_param_set(mq_model *m, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends " name=value" with the shortest decimal that reads back as v exactly. */
void mq__model_param_num(mq_model *m, const char *name, double v);

/* Stores the reference distribution of the model's best-100 serving scores ("score_ref",
 * model_drift.c), computed on up to 500 members of d. */
int mq__model_score_ref(mq_model *m, const mq_dataset *d, mq_err *err);

/* Builds an empty model of kind (with the title ids + catalog of d when d != NULL). */
int mq__model_new(const char *kind, const mq_dataset *d, mq_model **out, mq_err *err);
const mq__model_ops *mq__model_ops_find(const char *kind);
/* Trains a sub-model (hybrid). */
int mq__model_train_sub(const char *kind, const mq_dataset *d, const mq_train_opts *o,
                        mq_model **out, mq_err *err);
/* Finishes a loaded model: bind sub-models and this one. */
int mq__model_bind(mq_model *m, mq_err *err);

/* Parallel for over [0, n) in chunks of `chunk`, items taken dynamically; fn(ctx, begin, end,
 * thread). Runs inline when n_threads <= 1. Results must not depend on which thread ran an
 * item (all our uses write disjoint outputs). Returns the first non-zero fn result. */
typedef int (*mq__range_fn)(void *ctx, int64_t begin, int64_t end, int tid);
int mq__parallel_for(int n_threads, int64_t n, int64_t chunk, mq__range_fn fn, void *ctx);
int mq__threads(int n);   /* 0 -> online cores */

/* Dot product / axpy kernels (AVX2+FMA clones where the CPU has them). */
float mq__dot(const float *a, const float *b, int n);
void mq__axpy(float a, const float *x, float *y, int n);

/* Sparse row matrices (pruned EASE, itemknn): the arrays "ptr", "idx", "val" of m, checked
 * (sizes, row pointers, sorted in-range columns; MQ_ECORRUPT otherwise); scoring; one entry. */
int mq__model_bind_csr(const mq_model *m, const int64_t **ptr, const int32_t **idx,
                       const float **val, mq_err *err);
void mq__model_score_csr(const int64_t *ptr, const int32_t *idx, const float *v, int32_t n,
                         const int32_t *hist, const float *hv, int n_hist, float *scores);
float mq__model_csr_at(const int64_t *ptr, const int32_t *idx, const float *v, int32_t i,
                       int32_t j);

#endif
