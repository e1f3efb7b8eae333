/* models_util.h: small helpers for the model benchmarks (header-only, bench programs only):
 * minimal readers for the shared datasets (so the benchmarks do not depend on the data
 * layer's loaders), a synthetic power-law generator, a strong-generalization split and
 * Recall/NDCG, used to tune defaults and to time training at realistic quality. The project's
 * evaluation harness is `marquee eval`; these exist to keep bench/ self-contained. */
#ifndef MQ_BENCH_MODELS_UTIL_H
#define MQ_BENCH_MODELS_UTIL_H

#include "marquee.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct bu_vec {
    mq_interaction *x;
    int64_t n, cap;
} bu_vec;

static inline void bu_push(bu_vec *v, int32_t m, int32_t t, float val, int64_t time)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 1 << 16;
        v->x = realloc(v->x, (size_t)v->cap * sizeof *v->x);
        if (!v->x) abort();
    }
    v->x[v->n++] = (mq_interaction){m, t, val, MQ_EV_RATING, time};
}

/* fmt: "u.data" (tab: member title rating time), "csv" (ratings.csv with header), "lastfm"
 * (user_artists.dat, header, tab: member artist weight), "lines" (amazon-book: member t t ...).
 * Returns a dataset binarized at threshold (values >= thr), members with >= 5 positives. */
static inline mq_dataset *bu_load(const char *path, const char *fmt, float thr)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    mq_idmap *mi = mq_idmap_create(), *ti = mq_idmap_create();
    bu_vec v = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!strcmp(fmt, "lines")) {
            char *s = line, *tok = strtok(s, " ");
            if (!tok) continue;
            int32_t m = mq_idmap_intern(mi, tok, strlen(tok));
            while ((tok = strtok(NULL, " "))) bu_push(&v, m, mq_idmap_intern(ti, tok, strlen(tok)), 1, 0);
            continue;
        }
        if ((!strcmp(fmt, "csv") || !strcmp(fmt, "lastfm")) && lineno == 1) continue;
        char *sep = !strcmp(fmt, "csv") ? "," : "\t";
        char *a = strtok(line, sep), *b = strtok(NULL, sep), *c = strtok(NULL, sep), *d = strtok(NULL, sep);
        if (!a || !b || !c) continue;
        bu_push(&v, mq_idmap_intern(mi, a, strlen(a)), mq_idmap_intern(ti, b, strlen(b)),
                (float)atof(c), d ? atoll(d) : 0);
    }
    free(line);
    fclose(f);
    mq_dataset *d = NULL, *bin = NULL;
    mq_err err;
    if (mq_dataset_build(v.x, v.n, mi, ti, &d, &err)) { fprintf(stderr, "%s\n", err.msg); return NULL; }
    free(v.x);
    int min_pm = getenv("MQ_MIN") ? atoi(getenv("MQ_MIN")) : 1;
    if (mq_dataset_binarize(d, thr, min_pm, &bin, &err)) { fprintf(stderr, "%s\n", err.msg); return NULL; }
    mq_dataset_destroy(d);
    return bin;
}

/* A strong-generalization split: n_test members held out (80% of each one's positives as
 * fold-in, 20% targets), the rest train. */
typedef struct bu_split {
    mq_dataset *train;
    int32_t n_test;
    int64_t *in_ptr, *out_ptr;
    int32_t *in_idx, *out_idx;
} bu_split;

static inline void bu_split_make(const mq_dataset *d, double test_frac, uint64_t seed, bu_split *s)
{
    mq_rng r;
    mq_rng_seed(&r, seed);
    int32_t n = d->n_members;
    int32_t *perm = malloc((size_t)n * sizeof *perm);
    for (int32_t i = 0; i < n; i++) perm[i] = i;
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j = (int32_t)mq_rng_below(&r, (uint64_t)i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int32_t nt = (int32_t)(n * test_frac);
    char *is_test = calloc((size_t)n, 1);
    for (int32_t i = 0; i < nt; i++) is_test[perm[i]] = 1;
    s->n_test = nt;
    s->in_ptr = calloc((size_t)nt + 1, sizeof *s->in_ptr);
    s->out_ptr = calloc((size_t)nt + 1, sizeof *s->out_ptr);
    s->in_idx = malloc((size_t)d->nnz * sizeof *s->in_idx);
    s->out_idx = malloc((size_t)d->nnz * sizeof *s->out_idx);
    bu_vec v = {0};
    mq_idmap *mi = mq_idmap_create(), *ti = mq_idmap_create();
    for (int32_t t = 0; t < d->n_titles; t++) {
        const char *id = mq_idmap_name(d->title_ids, t);
        mq_idmap_intern(ti, id, strlen(id));
    }
    int64_t ni = 0, no = 0;
    for (int32_t b = 0; b < nt; b++) {
        int32_t u = perm[b];
        int64_t len = d->m_ptr[u + 1] - d->m_ptr[u];
        int32_t *tmp = malloc((size_t)len * sizeof *tmp);
        memcpy(tmp, d->m_idx + d->m_ptr[u], (size_t)len * sizeof *tmp);
        for (int64_t i = len - 1; i > 0; i--) {
            int64_t j = (int64_t)mq_rng_below(&r, (uint64_t)i + 1);
            int32_t t = tmp[i]; tmp[i] = tmp[j]; tmp[j] = t;
        }
        int64_t n_out = (int64_t)llround(0.2 * (double)len);
        if (n_out < 1) n_out = 1;
        for (int64_t i = 0; i < len; i++) {
            if (i < n_out) s->out_idx[no++] = tmp[i];
            else s->in_idx[ni++] = tmp[i];
        }
        s->in_ptr[b + 1] = ni;
        s->out_ptr[b + 1] = no;
        free(tmp);
    }
    for (int32_t u = 0; u < n; u++) {
        if (is_test[u]) continue;
        const char *id = mq_idmap_name(d->member_ids, u);
        int32_t m = mq_idmap_intern(mi, id, strlen(id));
        for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) bu_push(&v, m, d->m_idx[e], 1, d->m_time[e]);
    }
    mq_err err;
    if (mq_dataset_build(v.x, v.n, mi, ti, &s->train, &err)) abort();
    free(v.x);
    free(perm);
    free(is_test);
}

/* Recall@20, Recall@50, NDCG@100 of a model on the split (batched recommendation). */
static inline void bu_eval(const mq_model *m, const bu_split *s, int threads, double out[3])
{
    int n = 100;
    int32_t *titles = malloc((size_t)s->n_test * n * sizeof *titles);
    float *sc = malloc((size_t)s->n_test * n * sizeof *sc);
    int32_t *cnt = malloc((size_t)s->n_test * sizeof *cnt);
    mq_err err;
    if (mq_model_recommend_batch(m, s->n_test, s->in_ptr, s->in_idx, NULL, n, titles, sc, cnt,
                                 threads, &err)) {
        fprintf(stderr, "recommend_batch: %s\n", err.msg);
        exit(1);
    }
    double r20 = 0, r50 = 0, nd = 0;
    for (int32_t b = 0; b < s->n_test; b++) {
        int64_t no = s->out_ptr[b + 1] - s->out_ptr[b];
        const int32_t *tg = s->out_idx + s->out_ptr[b];
        int h20 = 0, h50 = 0;
        double dcg = 0, idcg = 0;
        for (int i = 0; i < cnt[b]; i++) {
            int32_t t = titles[(size_t)b * n + i];
            bool hit = false;
            for (int64_t j = 0; j < no; j++) hit |= tg[j] == t;
            if (hit) {
                if (i < 20) h20++;
                if (i < 50) h50++;
                dcg += 1 / log2(i + 2.0);
            }
        }
        for (int i = 0; i < (no < 100 ? no : 100); i++) idcg += 1 / log2(i + 2.0);
        r20 += h20 / (double)(no < 20 ? no : 20);
        r50 += h50 / (double)(no < 50 ? no : 50);
        nd += dcg / idcg;
    }
    out[0] = r20 / s->n_test;
    out[1] = r50 / s->n_test;
    out[2] = nd / s->n_test;
    free(titles);
    free(sc);
    free(cnt);
}

#endif
