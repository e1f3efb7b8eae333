/* model_content.c: content-based scoring from catalog metadata, and the hybrid blend.
 *
 * content: each title is a TF-IDF vector over features = genres ∪ tags:
 *   tf(genre) = genre_weight; tf(tag) = tag_weight · (1 + ln count);
 *   idf(f) = ln((1 + n_titles) / (1 + df_f)) + 1          (smoothed, as scikit-learn's)
 *   v_t = tf·idf, L2-normalized (a title without metadata has the zero vector).
 * A member profile is p = mean_{j ∈ history} val_j·v_j and score(t) = v_t·p / ‖p‖ (cosine),
 * so titles nobody has watched yet (cold start) are scored like any other. Explanations: title
 * j contributes val_j·(v_t·v_j) / (n_hist·‖p‖), which sum to the score.
 * Parameters: genre_weight (1), tag_weight (1). Arrays: "ptr" i64 [n+1], "feat" i32, "w" f32
 * (each title's features, ascending), "dims" i64 [1] = number of features.
 *
 * hybrid: (1 − weight)·s_base/max|s_base| + weight·s_content/max|s_content|, each normalized
 * by its largest magnitude over the catalog for this member so the blend is scale-free.
 * Parameters: base (ease | ials | itemknn, default ease), weight (0.1); every other parameter
 * goes to the base model (e.g. lambda=100 for ease). Sub-models: 0 = base, 1 = content.
 */
#include "models/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct content_state {
    const int64_t *ptr;
    const int32_t *feat;
    const float *w;
    int64_t n_feat;
} content_state;

/* The parameters (train and the check before any data is loaded share these). */
static int content_cfg(const mq_train_opts *o, double *gw, double *tw, mq_err *err)
{
    mq__params p;
    int rc = mq__params_parse(&p, o->params, o->n_params, err);
    if (!rc) rc = mq__param_double(&p, "content", "genre_weight", 1, 0, 1e6, gw, err);
    if (!rc) rc = mq__param_double(&p, "content", "tag_weight", 1, 0, 1e6, tw, err);
    return rc ? rc : mq__params_done(&p, "content", "genre_weight, tag_weight", err);
}

static int content_check(const mq_train_opts *o, mq_err *err)
{
    double gw, tw;
    return content_cfg(o, &gw, &tw, err);
}

static int content_train(mq_model *m, const mq_dataset *d, const mq_train_opts *o, mq_err *err)
{
    double gw, tw;
    int rc = content_cfg(o, &gw, &tw, err);
    if (rc) return rc;
    mq__model_param_num(m, "genre_weight", gw);
    mq__model_param_num(m, "tag_weight", tw);
    const mq_catalog *c = &d->catalog;
    int32_t n = d->n_titles;
    int ng = c->n_genres;
    int64_t nf = ng + (int64_t)c->n_tags;
    int64_t *ptr = mq__alloc((size_t)n + 1, sizeof *ptr);
    double *df = calloc((size_t)MQ_MAX(nf, 1), sizeof *df);
    if (!ptr || !df) {
        free(ptr);
        free(df);
        return mq__err_set(err, MQ_ENOMEM, "content: out of memory");
    }
    for (int32_t t = 0; t < n; t++) {
        int64_t cnt = 0;
        for (int g = 0; g < ng; g++)
            if (c->genres[t] >> g & 1) {
                df[g]++;
                cnt++;
            }
        if (c->tag_ptr)
            for (int64_t q = c->tag_ptr[t]; q < c->tag_ptr[t + 1]; q++) {
                df[ng + c->tag_ids[q]]++;
                cnt++;
            }
        ptr[t + 1] = ptr[t] + cnt;
    }
    int32_t *feat = mq__alloc((size_t)ptr[n], sizeof *feat);
    float *w = mq__alloc((size_t)ptr[n], sizeof *w);
    int64_t *dims = mq__alloc(1, sizeof *dims);
    if (!feat || !w || !dims) {
        free(ptr); free(df); free(feat); free(w); free(dims);
        return mq__err_set(err, MQ_ENOMEM, "content: out of memory");
    }
    dims[0] = nf;
    for (int32_t t = 0; t < n; t++) {
        int64_t q0 = ptr[t], q = q0;
        for (int g = 0; g < ng; g++)
            if (c->genres[t] >> g & 1) {
                feat[q] = g;
                w[q++] = (float)(gw * (log((1.0 + n) / (1.0 + df[g])) + 1));
            }
        if (c->tag_ptr) {
            /* Tags of a title may come in any order: insert sorted by feature id. */
            for (int64_t e = c->tag_ptr[t]; e < c->tag_ptr[t + 1]; e++) {
                int32_t f = ng + c->tag_ids[e];
                float cnt = c->tag_counts ? c->tag_counts[e] : 1.0f;
                float val = (float)(tw * (1 + log(fmax(cnt, 1.0))) *
                                    (log((1.0 + n) / (1.0 + df[f])) + 1));
                int64_t pos = q++;
                while (pos > q0 && feat[pos - 1] > f) {
                    feat[pos] = feat[pos - 1];
                    w[pos] = w[pos - 1];
                    pos--;
                }
                if (pos > q0 && feat[pos - 1] == f) {   /* duplicate tag entry: merge */
                    w[pos - 1] += val;
                    for (int64_t r = pos; r < q - 1; r++) {
                        feat[r] = feat[r + 1];
                        w[r] = w[r + 1];
                    }
                    q--;
                    continue;
                }
                feat[pos] = f;
                w[pos] = val;
            }
        }
        /* Entries merged away leave zeros at the end of the row: compact later. */
        double nrm = 0;
        for (int64_t r = q0; r < q; r++) nrm += (double)w[r] * w[r];
        nrm = sqrt(nrm);
        for (int64_t r = q0; r < q; r++) w[r] = nrm > 0 ? (float)(w[r] / nrm) : 0.0f;
        for (int64_t r = q; r < ptr[t + 1]; r++) feat[r] = -1;
    }
    /* Compact rows that lost merged duplicates. */
    int64_t o2 = 0;
    for (int32_t t = 0; t < n; t++) {
        int64_t b = ptr[t], e = ptr[t + 1];
        ptr[t] = o2;
        for (int64_t r = b; r < e; r++)
            if (feat[r] >= 0) {
                feat[o2] = feat[r];
                w[o2++] = w[r];
            }
    }
    ptr[n] = o2;
    free(df);
    rc = mq__model_add(m, "ptr", MQ__A_I64, n + 1, ptr, err);
    if (!rc) rc = mq__model_add(m, "feat", MQ__A_I32, o2, feat, err);
    else free(feat);
    if (!rc) rc = mq__model_add(m, "w", MQ__A_F32, o2, w, err);
    else free(w);
    if (!rc) rc = mq__model_add(m, "dims", MQ__A_I64, 1, dims, err);
    else free(dims);
    return rc;
}

static int content_bind(mq_model *m, mq_err *err)
{
    content_state *st = calloc(1, sizeof *st);
    if (!st) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    int64_t np, nf, nw, nd;
    st->ptr = mq__model_get(m, "ptr", MQ__A_I64, &np, err);
    st->feat = st->ptr ? mq__model_get(m, "feat", MQ__A_I32, &nf, err) : NULL;
    st->w = st->feat ? mq__model_get(m, "w", MQ__A_F32, &nw, err) : NULL;
    const int64_t *dims = st->w ? mq__model_get(m, "dims", MQ__A_I64, &nd, err) : NULL;
    int rc = 0;
    if (!dims || nd != 1 || dims[0] < 0 || dims[0] > INT32_MAX || np != (int64_t)m->n_titles + 1 ||
        st->ptr[0] != 0 || st->ptr[m->n_titles] != nf || nf != nw)
        rc = mq__err_set(err, MQ_ECORRUPT, "content: feature arrays disagree");
    for (int32_t t = 0; !rc && t < m->n_titles; t++) {
        if (st->ptr[t + 1] < st->ptr[t]) rc = MQ_ECORRUPT;
        for (int64_t q = st->ptr[t]; !rc && q < st->ptr[t + 1]; q++)
            if (st->feat[q] < 0 || st->feat[q] >= dims[0]) rc = MQ_ECORRUPT;
    }
    if (rc) {
        free(st);
        return mq__err_set(err, MQ_ECORRUPT, "content: feature arrays disagree");
    }
    st->n_feat = dims[0];
    m->state = st;
    return 0;
}

static void plain_unbind(mq_model *m)
{
    free(m->state);
    m->state = NULL;
}

/* p (dense profile, n_feat) and its norm. */
static double profile(const content_state *st, const int32_t *hist, const float *hv, int n_hist,
                      float *p)
{
    memset(p, 0, (size_t)MQ_MAX(st->n_feat, 1) * sizeof *p);
    for (int h = 0; h < n_hist; h++) {
        float a = (hv ? hv[h] : 1.0f) / (float)n_hist;
        for (int64_t q = st->ptr[hist[h]]; q < st->ptr[hist[h] + 1]; q++) p[st->feat[q]] += a * st->w[q];
    }
    double nrm = 0;
    for (int64_t f = 0; f < st->n_feat; f++) nrm += (double)p[f] * p[f];
    return sqrt(nrm);
}

static int content_score(const mq_model *m, const int32_t *hist, const float *hv, int n_hist,
                         float *scores, mq_err *err)
{
    const content_state *st = m->state;
    float *p = malloc((size_t)MQ_MAX(st->n_feat, 1) * sizeof *p);
    if (!p) return mq__err_set(err, MQ_ENOMEM, "content: out of memory");
    double nrm = profile(st, hist, hv, n_hist, p);
    for (int32_t t = 0; t < m->n_titles; t++) {
        double s = 0;
        for (int64_t q = st->ptr[t]; q < st->ptr[t + 1]; q++) s += (double)st->w[q] * p[st->feat[q]];
        scores[t] = nrm > 0 ? (float)(s / nrm) : 0.0f;
    }
    free(p);
    return 0;
}

static double title_dot(const content_state *st, int32_t a, int32_t b)
{
    int64_t i = st->ptr[a], j = st->ptr[b];
    double s = 0;
    while (i < st->ptr[a + 1] && j < st->ptr[b + 1]) {
        if (st->feat[i] < st->feat[j]) i++;
        else if (st->feat[i] > st->feat[j]) j++;
        else s += (double)st->w[i++] * st->w[j++];
    }
    return s;
}

static int content_contrib(const mq_model *m, const int32_t *hist, const float *hv, int n_hist,
                           int32_t t, float *w, mq_err *err)
{
    const content_state *st = m->state;
    float *p = malloc((size_t)MQ_MAX(st->n_feat, 1) * sizeof *p);
    if (!p) return mq__err_set(err, MQ_ENOMEM, "content: out of memory");
    double nrm = profile(st, hist, hv, n_hist, p);
    free(p);
    for (int h = 0; h < n_hist; h++)
        w[h] = nrm > 0 ? (float)((hv ? hv[h] : 1.0f) * title_dot(st, t, hist[h]) / (n_hist * nrm)) : 0.0f;
    return 0;
}

static int content_similar(const mq_model *m, int32_t t, float *sim, mq_err *err)
{
    const content_state *st = m->state;
    for (int32_t j = 0; j < m->n_titles; j++) sim[j] = (float)title_dot(st, t, j);
    return 0;
}

const mq__model_ops mq__model_content = {
    .kind = "content", .check = content_check, .train = content_train, .bind = content_bind, .unbind = plain_unbind,
    .score = content_score, .contrib = content_contrib, .similar = content_similar,
};

/* ---- hybrid --------------------------------------------------------------------------------- */

typedef struct hybrid_state {
    double weight;
} hybrid_state;

static int hybrid_parse(mq__params *p, char *base, size_t base_len, double *weight, mq_err *err)
{
    const char *b = mq__param_str(p, "base", "ease");
    if (strcmp(b, "ease") != 0 && strcmp(b, "dlae") != 0 && strcmp(b, "ials") != 0 &&
        strcmp(b, "itemknn") != 0)
        return mq__err_set(err, MQ_EINVAL, "hybrid: parameter 'base': '%s' (valid: ease, dlae, "
                           "ials, itemknn)", b);
    snprintf(base, base_len, "%s", b);
    return mq__param_double(p, "hybrid", "weight", 0.1, 0, 1, weight, err);
}

/* The hybrid's own parameters from o; everything else is the base model's, as "name=value"
 * strings in buf, pointed to by fwd (returns their number, or a negative MQ_E*). */
static int hybrid_cfg(const mq_train_opts *o, char *base, size_t base_len, double *weight,
                      const char *fwd[32], char buf[32][220], mq_err *err)
{
    mq__params p;
    int rc = mq__params_parse(&p, o->params, o->n_params, err);
    if (!rc) rc = hybrid_parse(&p, base, base_len, weight, err);
    if (rc) return rc;
    int nf = 0;
    for (int i = 0; i < p.n; i++)
        if (!p.used[i]) {
            snprintf(buf[nf], 220, "%s=%s", p.name[i], p.val[i]);
            fwd[nf] = buf[nf];
            nf++;
        }
    return nf;
}

static int hybrid_check(const mq_train_opts *o, mq_err *err)
{
    char base[16], buf[32][220];
    const char *fwd[32];
    double weight;
    int nf = hybrid_cfg(o, base, sizeof base, &weight, fwd, buf, err);
    if (nf < 0) return nf;
    mq_train_opts ob = *o;
    ob.params = fwd;
    ob.n_params = nf;
    return mq_model_check_params(base, &ob, err);
}

static int hybrid_train(mq_model *m, const mq_dataset *d, const mq_train_opts *o, mq_err *err)
{
    char base[16];
    double weight;
    const char *fwd[32];
    char buf[32][220];
    int nf = hybrid_cfg(o, base, sizeof base, &weight, fwd, buf, err);
    if (nf < 0) return nf;
    int rc;
    mq__model_param_set(m, "base", "%s", base);
    mq__model_param_num(m, "weight", weight);
    mq_train_opts ob = *o;
    ob.params = fwd;
    ob.n_params = nf;
    rc = mq__model_train_sub(base, d, &ob, &m->sub[0], err);
    if (rc) return rc;
    mq_train_opts oc = *o;
    oc.params = NULL;
    oc.n_params = 0;
    return mq__model_train_sub("content", d, &oc, &m->sub[1], err);
}

static int hybrid_bind(mq_model *m, mq_err *err)
{
    mq__params p;
    char base[16];
    double weight;
    int rc = mq__params_parse_text(&p, m->params, err);
    if (!rc) rc = hybrid_parse(&p, base, sizeof base, &weight, err);
    if (rc) return rc;
    if (!m->sub[0] || !m->sub[1] || strcmp(m->sub[0]->kind, base) != 0 ||
        strcmp(m->sub[1]->kind, "content") != 0 || m->sub[0]->n_titles != m->n_titles)
        return mq__err_set(err, MQ_ECORRUPT, "hybrid: sub-models missing or of the wrong kind");
    hybrid_state *st = malloc(sizeof *st);
    if (!st) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    st->weight = weight;
    m->state = st;
    return 0;
}

static float maxabs(const float *s, int32_t n)
{
    float mx = 0;
    for (int32_t i = 0; i < n; i++) mx = fmaxf(mx, fabsf(s[i]));
    return mx > 0 ? mx : 1.0f;
}

/* Scales of the two parts for this history: a = (1−w)/max|base|, b = w/max|content|. */
static int hybrid_parts(const mq_model *m, const int32_t *hist, const float *hv, int n_hist,
                        float *scores, float *tmp, float *a, float *b, mq_err *err)
{
    const hybrid_state *st = m->state;
    int rc = m->sub[0]->ops->score(m->sub[0], hist, hv, n_hist, scores, err);
    if (!rc) rc = m->sub[1]->ops->score(m->sub[1], hist, hv, n_hist, tmp, err);
    if (rc) return rc;
    *a = (float)(1 - st->weight) / maxabs(scores, m->n_titles);
    *b = (float)st->weight / maxabs(tmp, m->n_titles);
    return 0;
}

static int hybrid_score(const mq_model *m, const int32_t *hist, const float *hv, int n_hist,
                        float *scores, mq_err *err)
{
    float *tmp = malloc((size_t)m->n_titles * sizeof *tmp), a, b;
    if (!tmp) return mq__err_set(err, MQ_ENOMEM, "hybrid: out of memory");
    int rc = hybrid_parts(m, hist, hv, n_hist, scores, tmp, &a, &b, err);
    if (!rc)
        for (int32_t t = 0; t < m->n_titles; t++) scores[t] = a * scores[t] + b * tmp[t];
    free(tmp);
    return rc;
}

static int hybrid_contrib(const mq_model *m, const int32_t *hist, const float *hv, int n_hist,
                          int32_t t, float *w, mq_err *err)
{
    float *s = malloc((size_t)m->n_titles * 2 * sizeof *s), a, b;
    float *w2 = malloc((size_t)MQ_MAX(n_hist, 1) * sizeof *w2);
    int rc = !s || !w2 ? mq__err_set(err, MQ_ENOMEM, "hybrid: out of memory") : 0;
    if (!rc) rc = hybrid_parts(m, hist, hv, n_hist, s, s + m->n_titles, &a, &b, err);
    if (!rc && !m->sub[0]->ops->contrib)
        rc = mq__err_set(err, MQ_EUNSUP, "hybrid: base has no explanations");
    if (!rc) rc = m->sub[0]->ops->contrib(m->sub[0], hist, hv, n_hist, t, w, err);
    if (!rc) rc = m->sub[1]->ops->contrib(m->sub[1], hist, hv, n_hist, t, w2, err);
    if (!rc)
        for (int h = 0; h < n_hist; h++) w[h] = a * w[h] + b * w2[h];
    free(s);
    free(w2);
    return rc;
}

static int hybrid_similar(const mq_model *m, int32_t t, float *sim, mq_err *err)
{
    return m->sub[0]->ops->similar(m->sub[0], t, sim, err);
}

const mq__model_ops mq__model_hybrid = {
    .kind = "hybrid", .check = hybrid_check, .train = hybrid_train, .bind = hybrid_bind, .unbind = plain_unbind,
    .score = hybrid_score, .contrib = hybrid_contrib, .similar = hybrid_similar,
};

/* ---- cold start for titles the model was not trained on ------------------------------------
 *
 * A title added to the catalog after training (the server's PUT /v1/titles) has no column in
 * any model, but its metadata place it in the content model's feature space: its vector is
 * built exactly as content_train builds a trained title's (tf·idf over genres ∪ tags, with the
 * training catalog's document frequencies and the model's genre_weight / tag_weight,
 * L2-normalized), features the model never saw (a new genre or tag) are dropped, and its score
 * for a member is the same cosine v·p/‖p‖ against the member's profile. The vectors are built
 * once (mq_model_cold_create), each member's scores per request (mq_model_cold_score). */
struct mq_model_cold {
    const mq_model *content;    /* borrowed: the content model, or the hybrid's content part */
    int32_t n;
    int64_t *ptr;               /* [n + 1] CSR of the new titles' features */
    int32_t *feat;
    float *w;
};

static int32_t find_name(char *const *names, int32_t n, const char *s)
{
    for (int32_t i = 0; s && i < n; i++)
        if (names[i] && !strcmp(names[i], s)) return i;
    return -1;
}

int mq_model_cold_create(const mq_model *m, const mq_catalog *cat, int32_t first, int32_t n,
                         mq_model_cold **out, mq_err *err)
{
    *out = NULL;
    const mq_model *cm = m && !strcmp(m->kind, "content") ? m
                       : m && !strcmp(m->kind, "hybrid") && m->sub[1] ? m->sub[1] : NULL;
    if (!cm) return mq__err_set(err, MQ_EUNSUP, "cold start: model '%s' has no content part", m ? m->kind : "");
    if (first < 0 || n < 0 || (int64_t)first + n > cat->n_titles)
        return mq__err_set(err, MQ_EINVAL, "cold start: titles %d..%d are not in the catalog", first, first + n);
    const mq_catalog *mc = &cm->catalog;
    int32_t nt = cm->n_titles;
    int ng = mc->n_genres;
    double gw = 1, tw = 1;
    mq_model_param_double(cm, "genre_weight", &gw);
    mq_model_param_double(cm, "tag_weight", &tw);
    mq_model_cold *c = calloc(1, sizeof *c);
    int64_t cap = 0;
    for (int32_t i = 0; i < n; i++)
        cap += 64 + (cat->tag_ptr ? cat->tag_ptr[first + i + 1] - cat->tag_ptr[first + i] : 0);
    double *df = calloc((size_t)ng + (size_t)mc->n_tags + 1, sizeof *df);
    if (c) {
        c->ptr = calloc((size_t)n + 1, sizeof *c->ptr);
        c->feat = malloc((size_t)MQ_MAX(cap, 1) * sizeof *c->feat);
        c->w = malloc((size_t)MQ_MAX(cap, 1) * sizeof *c->w);
    }
    if (!c || !df || !c->ptr || !c->feat || !c->w) {
        free(df);
        mq_model_cold_destroy(c);
        return mq__err_set(err, MQ_ENOMEM, "cold start: out of memory");
    }
    c->content = cm;
    c->n = n;
    /* document frequencies of the training catalog, as content_train counts them */
    for (int32_t t = 0; t < nt; t++) {
        for (int g = 0; g < ng; g++) df[g] += (double)(mc->genres && (mc->genres[t] >> g & 1));
        if (mc->tag_ptr)
            for (int64_t q = mc->tag_ptr[t]; q < mc->tag_ptr[t + 1]; q++) df[ng + mc->tag_ids[q]]++;
    }
    int64_t q = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t t = first + i;
        int64_t q0 = q;
        for (int g = 0; cat->genres && g < cat->n_genres; g++) {
            if (!(cat->genres[t] >> g & 1)) continue;
            int32_t f = find_name(mc->genre_names, ng, cat->genre_names[g]);
            if (f < 0) continue;
            c->feat[q] = f;
            c->w[q++] = (float)(gw * (log((1.0 + nt) / (1.0 + df[f])) + 1));
        }
        for (int64_t e = cat->tag_ptr ? cat->tag_ptr[t] : 0; cat->tag_ptr && e < cat->tag_ptr[t + 1]; e++) {
            int32_t k = find_name(mc->tag_names, mc->n_tags, cat->tag_names[cat->tag_ids[e]]);
            if (k < 0) continue;
            int32_t f = ng + k;
            float cnt = cat->tag_counts ? cat->tag_counts[e] : 1.0f;
            float val = (float)(tw * (1 + log(fmax(cnt, 1.0))) * (log((1.0 + nt) / (1.0 + df[f])) + 1));
            int64_t pos = q0;
            while (pos < q && c->feat[pos] < f) pos++;
            if (pos < q && c->feat[pos] == f) { c->w[pos] += val; continue; }   /* a repeated tag */
            memmove(c->feat + pos + 1, c->feat + pos, (size_t)(q - pos) * sizeof *c->feat);
            memmove(c->w + pos + 1, c->w + pos, (size_t)(q - pos) * sizeof *c->w);
            c->feat[pos] = f;
            c->w[pos] = val;
            q++;
        }
        double nrm = 0;
        for (int64_t r = q0; r < q; r++) nrm += (double)c->w[r] * c->w[r];
        nrm = sqrt(nrm);
        for (int64_t r = q0; r < q; r++) c->w[r] = nrm > 0 ? (float)(c->w[r] / nrm) : 0.0f;
        c->ptr[i + 1] = q;
    }
    free(df);
    *out = c;
    return 0;
}

int mq_model_cold_score(const mq_model_cold *c, const int32_t *hist, const float *hist_val, int n_hist,
                        float *scores, mq_err *err)
{
    const content_state *st = c->content->state;
    for (int h = 0; h < n_hist; h++)
        if (hist[h] < 0 || hist[h] >= c->content->n_titles)
            return mq__err_set(err, MQ_EINVAL, "cold start: history title %d is out of range", hist[h]);
    float *p = malloc((size_t)MQ_MAX(st->n_feat, 1) * sizeof *p);
    if (!p) return mq__err_set(err, MQ_ENOMEM, "cold start: out of memory");
    double nrm = n_hist > 0 ? profile(st, hist, hist_val, n_hist, p) : 0;
    for (int32_t i = 0; i < c->n; i++) {
        double s = 0;
        for (int64_t q = c->ptr[i]; q < c->ptr[i + 1]; q++) s += (double)c->w[q] * p[c->feat[q]];
        scores[i] = nrm > 0 ? (float)(s / nrm) : 0.0f;
    }
    free(p);
    return 0;
}

void mq_model_cold_destroy(mq_model_cold *c)
{
    if (!c) return;
    free(c->ptr);
    free(c->feat);
    free(c->w);
    free(c);
}
