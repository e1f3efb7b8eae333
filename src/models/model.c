/* model.c: the model core: kinds, parameters, scoring, top-k with filters, explanations,
 * batched recommendation, and the small parallel-for used by every trainer.
 *
 * Dispatch: mq_model_train looks the kind up in a table of ops (src/model_*.c), creates an
 * empty model carrying the training data's title ids and catalog, and lets the kind fill its
 * arrays; bind() then derives read-only state. A model is immutable afterwards.
 *
 * Top-k: a size-k min-heap over the scores (O(n log k)), ordered by score descending and
 * title index ascending on ties, so every ranking is deterministic ("ties by the lower title
 * index"; indices follow the order titles first appear in the data).
 *
 * Threads: mq__parallel_for starts n_threads-1 pthreads plus the caller; work is handed out in
 * chunks through an atomic counter. Each item writes only its own outputs, so results do not
 * depend on the schedule.
 */
#include "models/model.h"
#include <time.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* ---- kernels ---------------------------------------------------------------------------- */

__attribute__((target_clones("avx2", "default")))
float mq__dot(const float *a, const float *b, int n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 += a[i] * b[i]; s1 += a[i + 1] * b[i + 1]; s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3]; s4 += a[i + 4] * b[i + 4]; s5 += a[i + 5] * b[i + 5];
        s6 += a[i + 6] * b[i + 6]; s7 += a[i + 7] * b[i + 7];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

#if defined(__x86_64__)
/* Eight at a time, a multiply then an add (no fused multiply-add): every y[i] is the same
 * float as the scalar loop's. (GCC does not vectorize that loop at -O2: x and y may alias.) */
__attribute__((target("avx2"))) static void axpy_avx2(float a, const float *x, float *y, int n)
{
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 32; k += 8)
            _mm256_storeu_ps(y + i + k, _mm256_add_ps(_mm256_loadu_ps(y + i + k),
                                                      _mm256_mul_ps(va, _mm256_loadu_ps(x + i + k))));
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_mul_ps(va, _mm256_loadu_ps(x + i))));
    for (; i < n; i++) y[i] += a * x[i];
}
#endif

void mq__axpy(float a, const float *x, float *y, int n)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) {
        axpy_avx2(a, x, y, n);
        return;
    }
#endif
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* ---- parameters ------------------------------------------------------------------------- */

static int params_add(mq__params *p, const char *s, size_t len, mq_err *err)
{
    const char *eq = memchr(s, '=', len);
    if (!eq || eq == s)
        return mq__err_set(err, MQ_EINVAL, "parameter '%.*s': expected NAME=VALUE", (int)len, s);
    size_t nl = (size_t)(eq - s), vl = len - nl - 1;
    if (p->n >= MQ__MAX_PARAMS)
        return mq__err_set(err, MQ_EINVAL, "too many parameters (at most %d)", MQ__MAX_PARAMS);
    if (nl >= sizeof p->name[0] || vl >= sizeof p->val[0])
        return mq__err_set(err, MQ_EINVAL, "parameter '%.*s': too long", (int)MQ_MIN(len, 60), s);
    for (int i = 0; i < p->n; i++)
        if (strlen(p->name[i]) == nl && memcmp(p->name[i], s, nl) == 0) {
            /* A later value replaces an earlier one (command line overrides defaults). */
            memcpy(p->val[i], eq + 1, vl);
            p->val[i][vl] = 0;
            return 0;
        }
    memcpy(p->name[p->n], s, nl);
    p->name[p->n][nl] = 0;
    memcpy(p->val[p->n], eq + 1, vl);
    p->val[p->n][vl] = 0;
    p->used[p->n] = false;
    p->n++;
    return 0;
}

int mq__params_parse(mq__params *p, const char *const *kv, int n, mq_err *err)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < n; i++) {
        if (!kv[i]) return mq__err_set(err, MQ_EINVAL, "parameter %d is NULL", i);
        int rc = params_add(p, kv[i], strlen(kv[i]), err);
        if (rc) return rc;
    }
    return 0;
}

int mq__params_parse_text(mq__params *p, const char *text, mq_err *err)
{
    memset(p, 0, sizeof *p);
    const char *s = text;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        const char *e = strchr(s, ' ');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        int rc = params_add(p, s, len, err);
        if (rc) return rc;
        s += len;
    }
    return 0;
}

static int params_find(mq__params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->name[i], name) == 0) {
            p->used[i] = true;
            return i;
        }
    return -1;
}

int mq__param_double(mq__params *p, const char *kind, const char *name, double def, double lo,
                     double hi, double *out, mq_err *err)
{
    int i = params_find(p, name);
    if (i < 0) {
        *out = def;
        return 0;
    }
    char *end;
    double v = strtod(p->val[i], &end);
    if (end == p->val[i] || *end || !isfinite(v))
        return mq__err_set(err, MQ_EINVAL, "%s: parameter '%s': '%s' is not a number", kind, name,
                           p->val[i]);
    if (v < lo || v > hi)
        return mq__err_set(err, MQ_ERANGE, "%s: parameter '%s': %g is out of range [%g, %g]",
                           kind, name, v, lo, hi);
    *out = v;
    return 0;
}

int mq__param_int(mq__params *p, const char *kind, const char *name, long def, long lo, long hi,
                  long *out, mq_err *err)
{
    int i = params_find(p, name);
    if (i < 0) {
        *out = def;
        return 0;
    }
    char *end;
    long v = strtol(p->val[i], &end, 10);
    if (end == p->val[i] || *end)
        return mq__err_set(err, MQ_EINVAL, "%s: parameter '%s': '%s' is not an integer", kind,
                           name, p->val[i]);
    if (v < lo || v > hi)
        return mq__err_set(err, MQ_ERANGE, "%s: parameter '%s': %ld is out of range [%ld, %ld]",
                           kind, name, v, lo, hi);
    *out = v;
    return 0;
}

const char *mq__param_str(mq__params *p, const char *name, const char *def)
{
    int i = params_find(p, name);
    return i < 0 ? def : p->val[i];
}

int mq__params_done(const mq__params *p, const char *kind, const char *valid, mq_err *err)
{
    for (int i = 0; i < p->n; i++)
        if (!p->used[i])
            return mq__err_set(err, MQ_EINVAL, "%s: unknown parameter '%s' (valid: %s)", kind,
                               p->name[i], valid);
    return 0;
}

void mq__model_param_set(mq_model *m, const char *name, const char *fmt, ...)
{
    size_t len = strlen(m->params);
    char val[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    snprintf(m->params + len, sizeof m->params - len, "%s%s=%s", len ? " " : "", name, val);
}

void mq__model_param_num(mq_model *m, const char *name, double v)
{
    /* The shortest of %.15g..%.17g that reads back exactly: "0.003", not "0.0030000000000000001". */
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    mq__model_param_set(m, name, "%s", buf);
}

/* ---- arrays ----------------------------------------------------------------------------- */

void *mq__alloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    size_t bytes = (n * size + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    void *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

int mq__model_add(mq_model *m, const char *name, int type, int64_t count, void *p, mq_err *err)
{
    if (m->n_arr >= MQ__MODEL_MAX_ARRAYS || strlen(name) >= sizeof m->arr[0].name) {
        free(p);
        return mq__err_set(err, MQ_EINVAL, "model: too many arrays or name too long ('%s')", name);
    }
    mq__marray *a = &m->arr[m->n_arr++];
    snprintf(a->name, sizeof a->name, "%s", name);
    a->type = type;
    a->count = count;
    a->p = p;
    a->owned = true;
    return 0;
}

void *mq__model_get(const mq_model *m, const char *name, int type, int64_t *count, mq_err *err)
{
    for (int i = 0; i < m->n_arr; i++)
        if (strcmp(m->arr[i].name, name) == 0) {
            if (m->arr[i].type != type) {
                mq__err_set(err, MQ_ECORRUPT, "model '%s': array '%s' has type %d, expected %d",
                            m->kind, name, m->arr[i].type, type);
                return NULL;
            }
            if (count) *count = m->arr[i].count;
            return m->arr[i].p;
        }
    mq__err_set(err, MQ_ECORRUPT, "model '%s': array '%s' is missing", m->kind, name);
    return NULL;
}

/* ---- kinds -------------------------------------------------------------------------------- */

/* The registry: MQ__MODEL_KINDS (model.h) is the one list of kinds; the ops tables, the public
 * name list (mq_model_kinds) and the text used in messages and the CLI's help all expand it. */
#define OPS_ENTRY(k) &mq__model_##k,
#define NAME_ENTRY(k) #k,
#define TEXT_ENTRY(k) ", " #k
static const mq__model_ops *const kinds[] = {MQ__MODEL_KINDS(OPS_ENTRY)};
static const char *const kind_names[] = {MQ__MODEL_KINDS(NAME_ENTRY) NULL};
static const char kinds_text[] = "" MQ__MODEL_KINDS(TEXT_ENTRY);

const char *const *mq_model_kinds(void) { return kind_names; }

const char *mq_model_kinds_text(void) { return kinds_text + 2; }   /* past the first ", " */

bool mq_model_kind_valid(const char *kind) { return kind && mq__model_ops_find(kind) != NULL; }

const mq__model_ops *mq__model_ops_find(const char *kind)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i]->kind, kind) == 0) return kinds[i];
    return NULL;
}

int mq__model_new(const char *kind, const mq_dataset *d, mq_model **out, mq_err *err)
{
    *out = NULL;
    const mq__model_ops *ops = mq__model_ops_find(kind);
    if (!ops)
        return mq__err_set(err, MQ_EINVAL, "unknown model '%s' (valid: %s)", kind,
                           mq_model_kinds_text());
    mq_model *m = calloc(1, sizeof *m);
    if (!m) return mq__err_set(err, MQ_ENOMEM, "model: out of memory");
    m->ops = ops;
    snprintf(m->kind, sizeof m->kind, "%s", kind);
    if (d) {
        m->n_titles = d->n_titles;
        m->n_members = d->n_members;
        m->title_ids = mq_idmap_create();
        if (!m->title_ids) goto nomem;
        for (int32_t t = 0; t < d->n_titles; t++) {
            const char *id = mq_idmap_name(d->title_ids, t);
            if (mq_idmap_intern(m->title_ids, id, strlen(id)) != t) goto nomem;
        }
        if (mq_catalog_copy(&m->catalog, &d->catalog) != 0) goto nomem;
        if (m->catalog.n_titles != d->n_titles) {
            mq_model_destroy(m);
            return mq__err_set(err, MQ_EINVAL, "dataset catalog has %d titles, matrix %d",
                               m->catalog.n_titles, d->n_titles);
        }
        uint32_t crc = mq_crc32c(0, d->m_ptr, ((size_t)d->n_members + 1) * sizeof *d->m_ptr);
        crc = mq_crc32c(crc, d->m_idx, (size_t)d->nnz * sizeof *d->m_idx);
        m->data_crc = crc;
    }
    *out = m;
    return 0;
nomem:
    mq_model_destroy(m);
    return mq__err_set(err, MQ_ENOMEM, "model: out of memory");
}

void mq_model_destroy(mq_model *m)
{
    if (!m) return;
    if (m->ops && m->ops->unbind && m->state) m->ops->unbind(m);
    for (int i = 0; i < MQ__MODEL_MAX_SUB; i++) mq_model_destroy(m->sub[i]);
    for (int i = 0; i < m->n_arr; i++)
        if (m->arr[i].owned) free(m->arr[i].p);
    mq_idmap_destroy(m->title_ids);
    mq_catalog_release(&m->catalog);
    if (m->mapping) mq__file_unmap(m->mapping, m->mapping_len);
    free(m);
}

int mq__model_bind(mq_model *m, mq_err *err)
{
    for (int i = 0; i < MQ__MODEL_MAX_SUB; i++)
        if (m->sub[i]) {
            int rc = mq__model_bind(m->sub[i], err);
            if (rc) return rc;
        }
    /* Sub-models trained by a hybrid are bound already. */
    return m->ops->bind && !m->state ? m->ops->bind(m, err) : 0;
}

int mq__model_train_sub(const char *kind, const mq_dataset *d, const mq_train_opts *o,
                        mq_model **out, mq_err *err)
{
    mq_model *m;
    int rc = mq__model_new(kind, d, &m, err);
    if (rc) return rc;
    m->n_threads = o->n_threads;
    rc = m->ops->train(m, d, o, err);
    if (!rc) rc = mq__model_bind(m, err);
    if (rc) {
        mq_model_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

int mq_model_check_params(const char *kind, const mq_train_opts *o, mq_err *err)
{
    const mq__model_ops *ops = kind ? mq__model_ops_find(kind) : NULL;
    if (!ops)
        return mq__err_set(err, MQ_EINVAL, "unknown model '%s' (valid: %s)", kind ? kind : "(null)",
                           mq_model_kinds_text());
    mq_train_opts ov; int orc = MQ__OPTS_GET(mq_train_opts, &ov, o, err); if (orc) return orc; o = &ov;
    if (o->n_params < 0 || (o->n_params > 0 && !o->params))
        return mq__err_set(err, MQ_EINVAL, "mq_model_check_params: bad parameter list");
    return ops->check(o, err);
}

int mq_model_train(const char *kind, const mq_dataset *d, const mq_train_opts *o,
                   mq_model **out, mq_err *err)
{
    *out = NULL;
    if (!kind || !d) return mq__err_set(err, MQ_EINVAL, "mq_model_train: NULL kind or dataset");
    mq_train_opts ov; int orc = MQ__OPTS_GET(mq_train_opts, &ov, o, err); if (orc) return orc; o = &ov;
    if (o->n_params < 0 || (o->n_params > 0 && !o->params))
        return mq__err_set(err, MQ_EINVAL, "mq_model_train: bad parameter list");
    if (d->n_titles <= 0) return mq__err_set(err, MQ_EINVAL, "%s: the dataset has no titles", kind);
    double t0 = mq_now();
    int rc = mq__model_train_sub(kind, d, o, out, err);
    if (!rc) {
        /* what it was trained on, when and how long it took: [members, interactions, unix time, us] */
        int64_t *info = malloc(4 * sizeof *info);
        if (!info) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
        else {
            info[0] = d->n_members;
            info[1] = d->nnz;
            info[2] = (int64_t)time(NULL);
            info[3] = (int64_t)llround((mq_now() - t0) * 1e6);
            rc = mq__model_add(*out, "train_info", MQ__A_I64, 4, info, err);
        }
        if (rc) { mq_model_destroy(*out); *out = NULL; }
    }
    if (!rc && (rc = mq__model_score_ref(*out, d, err))) {   /* drift reference, model_drift.c */
        mq_model_destroy(*out);
        *out = NULL;
    }
    return rc;
}

const char *mq_model_kind(const mq_model *m) { return m->kind; }
int32_t mq_model_n_titles(const mq_model *m) { return m->n_titles; }
const mq_catalog *mq_model_catalog(const mq_model *m) { return &m->catalog; }

const char *mq_model_title_id(const mq_model *m, int32_t t)
{
    return t >= 0 && t < m->n_titles ? mq_idmap_name(m->title_ids, t) : NULL;
}

int32_t mq_model_title_index(const mq_model *m, const char *id)
{
    return id ? mq_idmap_find(m->title_ids, id, strlen(id)) : -1;
}

const char *mq_model_params(const mq_model *m) { return m->params; }

int mq_model_train_info_get(const mq_model *m, mq_model_train_info *out)
{
    int64_t n = 0;
    const int64_t *info = mq__model_get(m, "train_info", MQ__A_I64, &n, NULL);
    if (!info || n != 4) return MQ_ENOTFOUND;
    out->n_members = info[0];
    out->n_titles = m->n_titles;
    out->n_interactions = info[1];
    out->trained_at = info[2];
    out->train_seconds = (double)info[3] / 1e6;
    return 0;
}

int mq_model_param_double(const mq_model *m, const char *name, double *out)
{
    size_t nl = strlen(name);
    for (const char *p = m->params; *p;) {
        if (!strncmp(p, name, nl) && p[nl] == '=') {
            char *end;
            double v = strtod(p + nl + 1, &end);
            if (end == p + nl + 1 || (*end && *end != ' ')) return MQ_EFORMAT;
            *out = v;
            return 0;
        }
        const char *sp = strchr(p, ' ');
        if (!sp) break;
        p = sp + 1;
    }
    return MQ_ENOTFOUND;
}

/* ---- scoring ---------------------------------------------------------------------------- */

static int check_hist(const mq_model *m, const int32_t *hist, int n_hist, mq_err *err)
{
    if (n_hist < 0 || (n_hist > 0 && !hist))
        return mq__err_set(err, MQ_EINVAL, "history: bad length %d", n_hist);
    for (int i = 0; i < n_hist; i++)
        if (hist[i] < 0 || hist[i] >= m->n_titles)
            return mq__err_set(err, MQ_EINVAL, "history[%d]: title index %d outside [0, %d)", i,
                               hist[i], m->n_titles);
    return 0;
}

int mq_model_score(const mq_model *m, const int32_t *hist, const float *hist_val, int n_hist,
                   float *scores, mq_err *err)
{
    int rc = check_hist(m, hist, n_hist, err);
    if (rc) return rc;
    return m->ops->score(m, hist, hist_val, n_hist, scores, err);
}

int mq_model_score_top(const mq_model *m, const int32_t *hist, const float *hist_val, int n_hist,
                       int top, float *scores, float *cut, mq_err *err)
{
    float none;
    if (!cut) cut = &none;
    *cut = -INFINITY;
    int rc = check_hist(m, hist, n_hist, err);
    if (rc) return rc;
    if (m->ops->score_top && top < m->n_titles)
        return m->ops->score_top(m, hist, hist_val, n_hist, MQ_MAX(top, 1), scores, cut, err);
    return m->ops->score(m, hist, hist_val, n_hist, scores, err);
}

/* Marks filtered titles NaN in scores. */
static int apply_filter(const mq_model *m, const int32_t *hist, int n_hist, const mq_filter *f,
                        float *scores, mq_err *err)
{
    bool include_seen = f && f->include_seen;
    if (!include_seen)
        for (int i = 0; i < n_hist; i++) scores[hist[i]] = NAN;
    if (f && f->n_exclude > 0) {
        if (!f->exclude) return mq__err_set(err, MQ_EINVAL, "filter: exclude list is NULL");
        for (int i = 0; i < f->n_exclude; i++) {
            int32_t t = f->exclude[i];
            if (t < 0 || t >= m->n_titles)
                return mq__err_set(err, MQ_EINVAL, "filter: exclude[%d] = %d outside [0, %d)", i,
                                   t, m->n_titles);
            scores[t] = NAN;
        }
    }
    if (f && f->genre >= 0) {
        if (f->genre >= MQ_MAX_GENRES || f->genre >= MQ_MAX(m->catalog.n_genres, 0))
            return mq__err_set(err, MQ_EINVAL, "filter: genre %d outside [0, %d)", f->genre,
                               m->catalog.n_genres);
        uint64_t bit = (uint64_t)1 << f->genre;
        for (int32_t t = 0; t < m->n_titles; t++)
            if (!(m->catalog.genres[t] & bit)) scores[t] = NAN;
    }
    return 0;
}

int mq_model_recommend(const mq_model *m, const int32_t *hist, const float *hist_val,
                       int n_hist, const mq_filter *f, int n, int32_t *out_titles,
                       float *out_scores, mq_err *err)
{
    mq_filter fv; int frc = MQ__OPTS_GET(mq_filter, &fv, f, err); if (frc) return frc; f = &fv;
    if (n < 0) return mq__err_set(err, MQ_EINVAL, "recommend: n = %d is negative", n);
    float *scores = malloc((size_t)MQ_MAX(m->n_titles, 1) * sizeof *scores);
    float *tmp = out_scores ? NULL : malloc((size_t)MQ_MAX(n, 1) * sizeof *tmp);
    if (!scores || (!out_scores && !tmp)) {
        free(scores);
        free(tmp);
        return mq__err_set(err, MQ_ENOMEM, "recommend: out of memory");
    }
    int rc = mq_model_score(m, hist, hist_val, n_hist, scores, err);
    if (!rc) rc = apply_filter(m, hist, n_hist, f, scores, err);
    if (!rc) rc = mq__topk(scores, m->n_titles, n, out_titles, out_scores ? out_scores : tmp);
    free(scores);
    free(tmp);
    return rc;
}

int mq_model_explain(const mq_model *m, const int32_t *hist, const float *hist_val, int n_hist,
                     int32_t t, int max, int32_t *out_titles, float *out_weights, mq_err *err)
{
    int rc = check_hist(m, hist, n_hist, err);
    if (rc) return rc;
    if (t < 0 || t >= m->n_titles)
        return mq__err_set(err, MQ_EINVAL, "explain: title index %d outside [0, %d)", t,
                           m->n_titles);
    if (!m->ops->contrib)
        return mq__err_set(err, MQ_EUNSUP, "explain: model '%s' does not use the history "
                           "title by title", m->kind);
    if (n_hist == 0 || max <= 0) return 0;
    float *w = malloc((size_t)n_hist * sizeof *w);
    int32_t *pos = malloc((size_t)MQ_MIN(max, n_hist) * sizeof *pos);
    float *val = malloc((size_t)MQ_MIN(max, n_hist) * sizeof *val);
    if (!w || !pos || !val) {
        rc = mq__err_set(err, MQ_ENOMEM, "explain: out of memory");
        goto done;
    }
    rc = m->ops->contrib(m, hist, hist_val, n_hist, t, w, err);
    if (rc) goto done;
    /* Strongest contributions first; only positive ones explain a recommendation. */
    for (int i = 0; i < n_hist; i++)
        if (!(w[i] > 0)) w[i] = NAN;
    int c = mq__topk(w, n_hist, MQ_MIN(max, n_hist), pos, val);
    for (int i = 0; i < c; i++) {
        out_titles[i] = hist[pos[i]];
        out_weights[i] = val[i];
    }
    rc = c;
done:
    free(w);
    free(pos);
    free(val);
    return rc;
}

int mq_model_explain_many(const mq_model *m, const int32_t *hist, const float *hist_val, int n_hist,
                          const int32_t *ts, int n_t, int max, int32_t *out_titles, float *out_weights,
                          int *out_n, mq_err *err)
{
    int rc = check_hist(m, hist, n_hist, err);
    if (rc) return rc;
    for (int i = 0; i < n_t; i++) {
        out_n[i] = 0;
        if (ts[i] < 0 || ts[i] >= m->n_titles)
            return mq__err_set(err, MQ_EINVAL, "explain: title index %d outside [0, %d)", ts[i], m->n_titles);
    }
    if (!m->ops->contrib)
        return mq__err_set(err, MQ_EUNSUP, "explain: model '%s' does not use the history "
                           "title by title", m->kind);
    if (n_hist == 0 || max <= 0 || n_t <= 0) return 0;
    if (!m->ops->contrib_many) {
        for (int i = 0; i < n_t; i++) {
            int c = mq_model_explain(m, hist, hist_val, n_hist, ts[i], max, out_titles + (size_t)i * max,
                                     out_weights + (size_t)i * max, err);
            if (c < 0) return c;
            out_n[i] = c;
        }
        return 0;
    }
    int k = MQ_MIN(max, n_hist);
    float *w = malloc((size_t)n_t * n_hist * sizeof *w), *val = malloc((size_t)k * sizeof *val);
    int32_t *pos = malloc((size_t)k * sizeof *pos);
    if (!w || !pos || !val) {
        rc = mq__err_set(err, MQ_ENOMEM, "explain: out of memory");
        goto done;
    }
    rc = m->ops->contrib_many(m, hist, hist_val, n_hist, ts, n_t, w, err);
    if (rc) goto done;
    for (int i = 0; i < n_t; i++) {
        float *wi = w + (size_t)i * n_hist;
        /* strongest contributions first; only positive ones explain (as mq_model_explain) */
        for (int h = 0; h < n_hist; h++)
            if (!(wi[h] > 0)) wi[h] = NAN;
        int c = mq__topk(wi, n_hist, k, pos, val);
        for (int j = 0; j < c; j++) {
            out_titles[(size_t)i * max + j] = hist[pos[j]];
            out_weights[(size_t)i * max + j] = val[j];
        }
        out_n[i] = c;
    }
done:
    free(w);
    free(pos);
    free(val);
    return rc;
}

bool mq_model_has_similar(const mq_model *m) { return m->ops->similar != NULL; }

int mq_model_similar(const mq_model *m, int32_t t, int n, int32_t *out_titles,
                     float *out_scores, mq_err *err)
{
    if (t < 0 || t >= m->n_titles)
        return mq__err_set(err, MQ_EINVAL, "similar: title index %d outside [0, %d)", t,
                           m->n_titles);
    if (!m->ops->similar)
        return mq__err_set(err, MQ_EUNSUP, "similar: model '%s' has no title similarity",
                           m->kind);
    if (n <= 0) return 0;
    float *sim = malloc((size_t)m->n_titles * sizeof *sim);
    if (!sim) return mq__err_set(err, MQ_ENOMEM, "similar: out of memory");
    int rc = m->ops->similar(m, t, sim, err);
    if (!rc) {
        sim[t] = NAN;
        for (int32_t j = 0; j < m->n_titles; j++)
            if (!(sim[j] > 0)) sim[j] = NAN;
        rc = mq__topk(sim, m->n_titles, n, out_titles, out_scores);
    }
    free(sim);
    return rc;
}

/* ---- batches ------------------------------------------------------------------------------ */

typedef struct batch_ctx {
    const mq_model *m;
    const int64_t *ptr;
    const int32_t *idx;
    float *scores;
    const mq_filter *f;
    int n;
    int32_t *out_titles;
    float *out_scores;
    int32_t *out_counts;
    int64_t base;          /* first member of the block */
    mq_err errs[64];
} batch_ctx;

static int score_one_range(void *vctx, int64_t b, int64_t e, int tid)
{
    batch_ctx *c = vctx;
    for (int64_t i = b; i < e; i++) {
        int rc = c->m->ops->score(c->m, c->idx + c->ptr[i], NULL, (int)(c->ptr[i + 1] - c->ptr[i]),
                                  c->scores + (size_t)i * c->m->n_titles, &c->errs[tid & 63]);
        if (rc) return rc;
    }
    return 0;
}

int mq_model_score_batch(const mq_model *m, int32_t n_batch, const int64_t *hist_ptr,
                         const int32_t *hist_idx, float *scores, int n_threads, mq_err *err)
{
    if (n_batch < 0 || (n_batch > 0 && (!hist_ptr || !hist_idx || !scores)))
        return mq__err_set(err, MQ_EINVAL, "score_batch: bad arguments");
    for (int32_t b = 0; b < n_batch; b++) {
        if (hist_ptr[b + 1] < hist_ptr[b] || hist_ptr[b + 1] - hist_ptr[b] > INT32_MAX)
            return mq__err_set(err, MQ_EINVAL, "score_batch: hist_ptr not ascending at %d", b);
        int rc = check_hist(m, hist_idx + hist_ptr[b], (int)(hist_ptr[b + 1] - hist_ptr[b]), err);
        if (rc) return rc;
    }
    n_threads = mq__threads(n_threads);
    if (m->ops->score_batch)
        return m->ops->score_batch(m, n_batch, hist_ptr, hist_idx, scores, n_threads, err);
    batch_ctx *c = calloc(1, sizeof *c);
    if (!c) return mq__err_set(err, MQ_ENOMEM, "score_batch: out of memory");
    c->m = m;
    c->ptr = hist_ptr;
    c->idx = hist_idx;
    c->scores = scores;
    int rc = mq__parallel_for(n_threads, n_batch, 8, score_one_range, c);
    if (rc) {
        for (int i = 0; i < 64; i++)
            if (c->errs[i].code) {
                if (err) *err = c->errs[i];
                break;
            }
    }
    free(c);
    return rc;
}

static int topk_range(void *vctx, int64_t b, int64_t e, int tid)
{
    batch_ctx *c = vctx;
    int32_t nt = c->m->n_titles;
    for (int64_t i = b; i < e; i++) {
        int64_t g = c->base + i;
        float *s = c->scores + (size_t)i * nt;
        int rc = apply_filter(c->m, c->idx + c->ptr[g], (int)(c->ptr[g + 1] - c->ptr[g]), c->f, s,
                              &c->errs[tid & 63]);
        if (rc) return rc;
        c->out_counts[g] = mq__topk(s, nt, c->n, c->out_titles + (size_t)g * c->n,
                                    c->out_scores + (size_t)g * c->n);
    }
    return 0;
}

int mq_model_recommend_batch(const mq_model *m, int32_t n_batch, const int64_t *hist_ptr,
                             const int32_t *hist_idx, const mq_filter *f, int n,
                             int32_t *out_titles, float *out_scores, int32_t *out_counts,
                             int n_threads, mq_err *err)
{
    mq_filter fv; int frc = MQ__OPTS_GET(mq_filter, &fv, f, err); if (frc) return frc; f = &fv;
    if (n < 0) return mq__err_set(err, MQ_EINVAL, "recommend_batch: n = %d is negative", n);
    n_threads = mq__threads(n_threads);
    /* Blocks bounded to ~64 MiB of scores keep memory flat for any batch size. */
    int64_t block = MQ_MAX(1, MQ_MIN(1024, (64 << 20) / ((int64_t)m->n_titles * 4)));
    float *scores = malloc((size_t)block * m->n_titles * sizeof *scores);
    batch_ctx *c = calloc(1, sizeof *c);
    if (!scores || !c) {
        free(scores);
        free(c);
        return mq__err_set(err, MQ_ENOMEM, "recommend_batch: out of memory");
    }
    int rc = 0;
    for (int64_t b0 = 0; b0 < n_batch && !rc; b0 += block) {
        int32_t nb = (int32_t)MQ_MIN(block, n_batch - b0);
        /* Rebase the block's pointers so score_batch sees a self-contained CSR. */
        int64_t *ptr = malloc(((size_t)nb + 1) * sizeof *ptr);
        if (!ptr) {
            rc = mq__err_set(err, MQ_ENOMEM, "recommend_batch: out of memory");
            break;
        }
        for (int32_t i = 0; i <= nb; i++) ptr[i] = hist_ptr[b0 + i] - hist_ptr[b0];
        rc = mq_model_score_batch(m, nb, ptr, hist_idx + hist_ptr[b0], scores, n_threads, err);
        free(ptr);
        if (rc) break;
        memset(c->errs, 0, sizeof c->errs);
        c->m = m;
        c->ptr = hist_ptr;
        c->idx = hist_idx;
        c->scores = scores;
        c->f = f;
        c->n = n;
        c->out_titles = out_titles;
        c->out_scores = out_scores;
        c->out_counts = out_counts;
        c->base = b0;
        /* topk_range indexes scores by i (block-relative) and histories by base + i. */
        rc = mq__parallel_for(n_threads, nb, 16, topk_range, c);
        if (rc)
            for (int i = 0; i < 64; i++)
                if (c->errs[i].code) {
                    if (err) *err = c->errs[i];
                    break;
                }
    }
    free(scores);
    free(c);
    return rc;
}

/* ---- threads -------------------------------------------------------------------------------- */

int mq__threads(int n)
{
    if (n > 0) return MQ_MIN(n, 256);
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)MQ_MIN(c, 256) : 1;
}

typedef struct pf_ctx {
    mq__range_fn fn;
    void *ctx;
    int64_t n, chunk;
    atomic_llong next;
    atomic_int rc;
} pf_ctx;

typedef struct pf_arg {
    pf_ctx *c;
    int tid;
} pf_arg;

static void *pf_worker(void *varg)
{
    pf_arg *a = varg;
    pf_ctx *c = a->c;
    for (;;) {
        if (atomic_load(&c->rc)) break;
        int64_t b = atomic_fetch_add(&c->next, c->chunk);
        if (b >= c->n) break;
        int64_t e = MQ_MIN(b + c->chunk, c->n);
        int rc = c->fn(c->ctx, b, e, a->tid);
        if (rc) {
            int zero = 0;
            atomic_compare_exchange_strong(&c->rc, &zero, rc);
            break;
        }
    }
    return NULL;
}

int mq__parallel_for(int n_threads, int64_t n, int64_t chunk, mq__range_fn fn, void *ctx)
{
    if (n <= 0) return 0;
    if (chunk < 1) chunk = 1;
    n_threads = mq__threads(n_threads);
    if (n_threads > (n + chunk - 1) / chunk) n_threads = (int)((n + chunk - 1) / chunk);
    if (n_threads <= 1) return fn(ctx, 0, n, 0);
    pf_ctx c = {.fn = fn, .ctx = ctx, .n = n, .chunk = chunk};
    atomic_init(&c.next, 0);
    atomic_init(&c.rc, 0);
    pthread_t th[256];
    pf_arg args[256];
    int started = 0;
    for (int i = 1; i < n_threads; i++) {
        args[i] = (pf_arg){&c, i};
        if (pthread_create(&th[i], NULL, pf_worker, &args[i]) != 0) break;
        started = i;
    }
    args[0] = (pf_arg){&c, 0};
    pf_worker(&args[0]);
    for (int i = 1; i <= started; i++) pthread_join(th[i], NULL);
    return atomic_load(&c.rc);
}
