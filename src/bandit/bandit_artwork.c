/* bandit_artwork.c: artwork decisions for pages, with one learner shared by every policy.
 *
 * The arms of a title are its artwork variants (the catalog's art_ptr). Showing artwork a to a
 * member has the features x = f_a (x) m: f_a the artwork's tags (0/1 over the catalog's tag
 * vocabulary, df of them), m the member context (dm values, mq_art_context). The learner keeps
 * the sufficient statistics of a ridge regression of the reward on x (LinUCB's and linear
 * Thompson sampling's model, Li et al. 2010; Agrawal & Goyal 2013),
 *     A = lambda I + sum_impressions x x',      b = sum_impressions r x,
 * and per artwork the impressions n_a and reward sum s_a (epsilon-greedy, Bernoulli TS). Every
 * policy reads the same statistics, so an experiment comparing decision rules compares rules,
 * not the data each happened to collect (docs/bandit.md).
 *
 * Exactness. Context values are multiples of 1/16 and tags are 0/1, so each term of A and b is
 * a multiple of 1/256 well inside double precision: the sums are exact, and a state rebuilt from
 * the logs in any order equals the live one bit for bit (tests/bandit: restart test).
 *
 * Cost. An impression adds (f f') (x) (m m') to A. A page's impressions share m, so a page adds
 * (sum_t f_t f_t') (x) (m m'): one dm x dm block per distinct tag pair on the page, whatever the
 * number of titles. A decision needs theta'x = f' v and x' A^-1 x = f' G f with
 *     v_j = sum_k theta_{j dm + k} m_k,     G_jl = m' [A^-1]_{jl} m       ([A^-1]_{jl}: dm x dm),
 computed once per page (G as one pass over a snapshot table, skipping the member's zero
 * context values). Artworks with the same tags ("shapes": the demo's 43,874 artworks have 380)
 * score the same, so LinUCB scores each shape once per page and a title then costs K lookups, a
 * max and one uniform draw. Linear TS: theta~ ~ N(theta, v^2 A^-1) gives scores f' u with
 * u = Theta~ m ~ N(v, v^2 G) (G over the tags present on the page), so a posterior draw costs
 * one Cholesky solve of size (tags on the page) and serves every title of the page at once;
 * the draws' scores are summed and compared 4 at a time (vector extensions).
 *
 * A published state (mq_art_snap) holds A^-1 from the Cholesky factor of A (A = L L', A^-1 =
 * L^-T L^-1) and theta = A^-1 b. Bernoulli TS distributions are Monte Carlo estimates cached per
 * title in the snapshot, drawn from an RNG seeded by (snapshot version, title), so they do not
 * depend on which request computed them first.
 */
#include "bandit/bandit.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TAGS 256
#define ST_MAGIC "MQARTST1"

struct mq_art_space {
    int32_t n_titles;
    int64_t n_art;
    int64_t *art_ptr;           /* [n_titles + 1] */
    int32_t df, dm, n_g;
    char *tags[MAX_TAGS];
    int64_t *f_ptr;             /* [n_art + 1] CSR of each artwork's tags, ascending */
    int32_t *f_idx;
    int32_t genre[MQ_ART_GENRES];   /* catalog genre of each context genre slot */
    uint32_t digest;
    uint8_t *pack;              /* [n_titles * 32]: byte 0 = K (0: not packed), then 4 tag bytes
                                 * per artwork (255 = none): one cache line per title for pages */
    int32_t n_shapes;           /* distinct tag sets ("shapes") among the artworks */
    int32_t *shape;             /* [n_art] each artwork's shape */
    int64_t *shape_art;         /* [n_shapes] an artwork of each shape (the first) */
    int64_t *sh_ptr;            /* [n_shapes + 1] CSR of each shape's tags, ascending: compact, */
    int32_t *sh_idx;            /* so a page's shapes stay in cache from page to page */
    int32_t n_pc;               /* tag pairs (j, l <= j) that occur together in some shape */
    int32_t *pcol;              /* [df * df] the snapshot column of pair (j, l) (symmetric):
                                 * the n_pc co-occurring pairs first, then the others */
    int64_t *sp_ptr;            /* [n_shapes + 1] CSR of each shape's pair columns, in art_ucb's */
    int32_t *sp_col;            /* summation order (x ascending: (x, x), then (x, y) for y < x) */
    int32_t kmax;               /* the most artworks of a title */
};

struct mq_art_stats {
    const mq_art_space *s;
    int32_t d;
    double lambda;
    double *A, *b;              /* [d * d], [d] */
    double *n, *r;              /* [n_art] impressions, reward sums */
    int32_t *pair;              /* [df * df] scratch: impressions per tag pair of a page */
    int32_t *touched;           /* [df * df] the pairs set */
};

struct mq_art_snap {
    const mq_art_space *s;
    uint64_t version;
    int32_t d, ts_draws;
    double *S;                  /* [Q x P], P = df (df+1)/2 tag pairs (j, l <= j; column
                                 * pcol(j, l): the space's order, the pairs that occur in a shape
                                 * first), Q = dm (dm+1)/2 context pairs (k <= k'): column p
                                 * is block (j, l) of A^-1 symmetrized, so that G_jl = m' B_jl m =
                                 * sum_q w_q S[q][p] with w_(k,k') = m_k m_k'. Stored by context
                                 * pair so a page adds whole rows (vectorized) and skips the rows
                                 * of zero context values (a member has one device, one hour slot) */
    double *theta;              /* [d] */
    double *n, *r;              /* [n_art] */
    float *tsq;                 /* [n_art] Bernoulli TS: P(the artwork's draw is its title's best) */
    uint8_t *greedy;            /* [n_titles] epsilon-greedy: bit a = artwork a has the best mean
                                 * reward (titles of <= 8 artworks) */
};

/* ---- the feature space ---- */

void mq_art_space_destroy(mq_art_space *s)
{
    if (!s) return;
    for (int j = 0; j < s->df; j++) free(s->tags[j]);
    free(s->art_ptr);
    free(s->f_ptr);
    free(s->f_idx);
    free(s->pack);
    free(s->shape);
    free(s->shape_art);
    free(s->sh_ptr);
    free(s->sh_idx);
    free(s->pcol);
    free(s->sp_ptr);
    free(s->sp_col);
    free(s);
}

/* Groups the artworks by tag set: a linear model scores artworks of the same tags equally, so
 * a page scores each shape once (the demo's 43,874 artworks have 380 shapes). */
static int make_shapes(mq_art_space *s)
{
    int64_t nb = 16;
    while (nb < 2 * s->n_art) nb *= 2;
    int64_t *h = calloc((size_t)nb, sizeof *h);   /* shape + 1, 0 empty */
    s->shape = malloc((size_t)MQ_MAX(s->n_art, 1) * sizeof *s->shape);
    s->shape_art = malloc((size_t)MQ_MAX(s->n_art, 1) * sizeof *s->shape_art);
    if (!h || !s->shape || !s->shape_art) { free(h); return MQ_ENOMEM; }
    for (int64_t a = 0; a < s->n_art; a++) {
        const int64_t b0 = s->f_ptr[a], nf = s->f_ptr[a + 1] - b0;
        uint32_t k = mq_crc32c((uint32_t)nf, s->f_idx + b0, (size_t)nf * sizeof *s->f_idx);
        for (int64_t i = k & (nb - 1);; i = (i + 1) & (nb - 1)) {
            if (!h[i]) {
                s->shape_art[s->n_shapes] = a;
                h[i] = ++s->n_shapes;
                s->shape[a] = (int32_t)(h[i] - 1);
                break;
            }
            int64_t r = s->shape_art[h[i] - 1];
            if (s->f_ptr[r + 1] - s->f_ptr[r] == nf && !memcmp(s->f_idx + s->f_ptr[r], s->f_idx + b0, (size_t)nf * sizeof *s->f_idx)) {
                s->shape[a] = (int32_t)(h[i] - 1);
                break;
            }
        }
    }
    free(h);
    s->sh_ptr = malloc(((size_t)s->n_shapes + 1) * sizeof *s->sh_ptr);
    if (!s->sh_ptr) return MQ_ENOMEM;
    s->sh_ptr[0] = 0;
    for (int32_t k = 0; k < s->n_shapes; k++)
        s->sh_ptr[k + 1] = s->sh_ptr[k] + s->f_ptr[s->shape_art[k] + 1] - s->f_ptr[s->shape_art[k]];
    if (!(s->sh_idx = malloc((size_t)MQ_MAX(s->sh_ptr[s->n_shapes], 1) * sizeof *s->sh_idx))) return MQ_ENOMEM;
    for (int32_t k = 0; k < s->n_shapes; k++)
        memcpy(s->sh_idx + s->sh_ptr[k], s->f_idx + s->f_ptr[s->shape_art[k]],
               (size_t)(s->sh_ptr[k + 1] - s->sh_ptr[k]) * sizeof *s->sh_idx);
    /* the snapshot's columns: the tag pairs that occur in a shape first (all LinUCB reads,
     * about half of all pairs in the demo: a composition never pairs with another), in the
     * order (j, l <= j) within each group */
    const int32_t df = s->df;
    if (!(s->pcol = malloc((size_t)df * df * sizeof *s->pcol))) return MQ_ENOMEM;
    for (int32_t i = 0; i < df * df; i++) s->pcol[i] = -1;
    int64_t nsp = 0;
    for (int32_t k = 0; k < s->n_shapes; k++) {
        const int64_t b0 = s->sh_ptr[k], nf = s->sh_ptr[k + 1] - b0;
        nsp += nf * (nf + 1) / 2;
        for (int64_t x = 0; x < nf; x++)
            for (int64_t y = 0; y <= x; y++) s->pcol[s->sh_idx[b0 + x] * df + s->sh_idx[b0 + y]] = 0;
    }
    int32_t c = 0;   /* marked pairs (0) get -2 - column, then the others (-1) their column */
    for (int32_t j = 0; j < df; j++)
        for (int32_t l = 0; l <= j; l++)
            if (s->pcol[j * df + l] == 0) s->pcol[j * df + l] = -2 - c++;
    s->n_pc = c;
    for (int32_t j = 0; j < df; j++)
        for (int32_t l = 0; l <= j; l++)
            if (s->pcol[j * df + l] == -1) s->pcol[j * df + l] = c++;
    for (int32_t j = 0; j < df; j++)
        for (int32_t l = 0; l <= j; l++) {
            int32_t v = s->pcol[j * df + l];
            s->pcol[j * df + l] = s->pcol[l * df + j] = v <= -2 ? -2 - v : v;
        }
    s->sp_ptr = malloc(((size_t)s->n_shapes + 1) * sizeof *s->sp_ptr);
    s->sp_col = malloc((size_t)MQ_MAX(nsp, 1) * sizeof *s->sp_col);
    if (!s->sp_ptr || !s->sp_col) return MQ_ENOMEM;
    s->sp_ptr[0] = 0;
    for (int32_t k = 0; k < s->n_shapes; k++) {
        const int64_t b0 = s->sh_ptr[k], nf = s->sh_ptr[k + 1] - b0;
        int64_t o = s->sp_ptr[k];
        for (int64_t x = 0; x < nf; x++) {
            s->sp_col[o++] = s->pcol[s->sh_idx[b0 + x] * df + s->sh_idx[b0 + x]];
            for (int64_t y = 0; y < x; y++) s->sp_col[o++] = s->pcol[s->sh_idx[b0 + x] * df + s->sh_idx[b0 + y]];
        }
        s->sp_ptr[k + 1] = o;
    }
    return 0;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int mq_art_space_create(const mq_catalog *c, mq_art_space **out, mq_err *err)
{
    *out = NULL;
    if (!c->art_ptr || c->n_artworks < 1) return mq__err_set(err, MQ_EINVAL, "artwork: the catalog has no artwork");
    mq_art_space *s = calloc(1, sizeof *s);
    if (!s) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    s->n_titles = c->n_titles;
    s->n_art = c->n_artworks;
    s->art_ptr = malloc((size_t)(c->n_titles + 1) * sizeof *s->art_ptr);
    s->f_ptr = calloc((size_t)s->n_art + 1, sizeof *s->f_ptr);
    int64_t cap = 4 * s->n_art + 16, nnz = 0;
    s->f_idx = malloc((size_t)cap * sizeof *s->f_idx);
    if (!s->art_ptr || !s->f_ptr || !s->f_idx) goto oom;
    memcpy(s->art_ptr, c->art_ptr, (size_t)(c->n_titles + 1) * sizeof *s->art_ptr);
    s->kmax = 1;
    for (int32_t t = 0; t < c->n_titles; t++) s->kmax = (int32_t)MQ_MAX(s->kmax, s->art_ptr[t + 1] - s->art_ptr[t]);
    uint32_t dg = mq_crc32c(0, s->art_ptr, (size_t)(c->n_titles + 1) * sizeof *s->art_ptr);
    for (int64_t a = 0; a < s->n_art; a++) {
        const char *f = c->art_features[a] ? c->art_features[a] : "";
        int64_t start = nnz;
        while (*f) {
            const char *e = strchr(f, ';');
            size_t len = e ? (size_t)(e - f) : strlen(f);
            int32_t j = -1;
            for (int32_t k = 0; k < s->df && j < 0; k++)
                if (strlen(s->tags[k]) == len && !memcmp(s->tags[k], f, len)) j = k;
            if (j < 0 && s->df < MAX_TAGS && len > 0) {
                if (!(s->tags[s->df] = strndup(f, len))) goto oom;
                j = s->df++;
            }
            if (j >= 0) {
                bool dup = false;
                for (int64_t u = start; u < nnz; u++) dup |= s->f_idx[u] == j;
                if (!dup) {
                    if (nnz == cap) {
                        int32_t *p = realloc(s->f_idx, (size_t)(cap *= 2) * sizeof *p);
                        if (!p) goto oom;
                        s->f_idx = p;
                    }
                    s->f_idx[nnz++] = j;
                }
            }
            f += len + (e ? 1 : 0);
        }
        qsort(s->f_idx + start, (size_t)(nnz - start), sizeof *s->f_idx, cmp_i32);
        s->f_ptr[a + 1] = nnz;
        dg = mq_crc32c(dg, c->art_ids[a] ? c->art_ids[a] : "", c->art_ids[a] ? strlen(c->art_ids[a]) + 1 : 1);
    }
    for (int32_t j = 0; j < s->df; j++) dg = mq_crc32c(dg, s->tags[j], strlen(s->tags[j]) + 1);
    dg = mq_crc32c(dg, s->f_idx, (size_t)nnz * sizeof *s->f_idx);
    if (s->df == 0) {
        mq_art_space_destroy(s);
        return mq__err_set(err, MQ_EINVAL, "artwork: no artwork of the catalog has a tag (features)");
    }
    /* the catalog's most common genres, by number of titles (ties: lower genre index) */
    int64_t cnt[MQ_MAX_GENRES] = {0};
    for (int32_t t = 0; c->genres && t < c->n_titles; t++)
        for (int g = 0; g < c->n_genres && g < MQ_MAX_GENRES; g++) cnt[g] += (c->genres[t] >> g) & 1;
    bool used[MQ_MAX_GENRES] = {false};
    for (int k = 0; k < MQ_ART_GENRES; k++) {
        int best = -1;
        for (int g = 0; g < c->n_genres && g < MQ_MAX_GENRES; g++)
            if (!used[g] && cnt[g] > 0 && (best < 0 || cnt[g] > cnt[best])) best = g;
        if (best < 0) break;
        used[best] = true;
        s->genre[s->n_g++] = best;
    }
    s->dm = 6 + s->n_g;
    /* a title's artworks and their tags in one cache line, where they fit (K <= 7, <= 4 tags) */
    if ((s->pack = calloc((size_t)s->n_titles * 32, 1)))
        for (int32_t t = 0; t < s->n_titles; t++) {
            int64_t a0 = s->art_ptr[t], K = s->art_ptr[t + 1] - a0;
            bool fits = K >= 1 && K <= 7 && s->df < 255;
            for (int64_t a = a0; a < a0 + K && fits; a++) fits = s->f_ptr[a + 1] - s->f_ptr[a] <= 4;
            if (!fits) continue;
            uint8_t *pk = s->pack + (size_t)t * 32;
            memset(pk + 1, 255, 31);
            pk[0] = (uint8_t)K;
            for (int64_t a = 0; a < K; a++)
                for (int64_t w = s->f_ptr[a0 + a]; w < s->f_ptr[a0 + a + 1]; w++)
                    pk[1 + 4 * a + (w - s->f_ptr[a0 + a])] = (uint8_t)s->f_idx[w];
        }
    dg = mq_crc32c(dg, s->genre, (size_t)s->n_g * sizeof *s->genre);
    s->digest = dg;
    if (make_shapes(s)) goto oom;
    *out = s;
    return 0;
oom:
    mq_art_space_destroy(s);
    return mq__err_set(err, MQ_ENOMEM, "out of memory");
}

int32_t mq_art_space_dm(const mq_art_space *s) { return s->dm; }
int32_t mq_art_space_df(const mq_art_space *s) { return s->df; }
uint32_t mq_art_space_digest(const mq_art_space *s) { return s->digest; }

void mq_art_context(const mq_art_space *s, const uint64_t *genres, const float *weight, int n_hist,
                    int device, int hour, uint8_t *ctx)
{
    memset(ctx, 0, (size_t)s->dm);
    ctx[0] = 16;
    ctx[1] = device == 1 ? 16 : 0;
    ctx[2] = device == 2 ? 16 : 0;
    ctx[3] = hour >= 6 && hour < 12 ? 16 : 0;
    ctx[4] = hour >= 12 && hour < 18 ? 16 : 0;
    ctx[5] = hour >= 18 && hour < 24 ? 16 : 0;
    int liked = 0, with[MQ_ART_GENRES] = {0};
    for (int i = 0; i < n_hist; i++) {
        if (weight && !(weight[i] > 0)) continue;
        liked++;
        for (int k = 0; k < s->n_g; k++) with[k] += (int)((genres[i] >> s->genre[k]) & 1);
    }
    for (int k = 0; liked && k < s->n_g; k++) ctx[6 + k] = (uint8_t)((32 * with[k] + liked) / (2 * liked));   /* round(16 share) */
}

/* ---- the learner ---- */

void mq_art_stats_destroy(mq_art_stats *st)
{
    if (!st) return;
    free(st->A);
    free(st->b);
    free(st->n);
    free(st->r);
    free(st->pair);
    free(st->touched);
    free(st);
}

int mq_art_stats_create(const mq_art_space *s, double lambda, mq_art_stats **out, mq_err *err)
{
    *out = NULL;
    if (!(lambda > 0)) lambda = 1;
    mq_art_stats *st = calloc(1, sizeof *st);
    if (!st) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    st->s = s;
    st->d = s->df * s->dm;
    st->lambda = lambda;
    size_t d = (size_t)st->d;
    st->A = calloc(d * d, sizeof *st->A);
    st->b = calloc(d, sizeof *st->b);
    st->n = calloc((size_t)s->n_art, sizeof *st->n);
    st->r = calloc((size_t)s->n_art, sizeof *st->r);
    st->pair = calloc((size_t)s->df * s->df, sizeof *st->pair);
    st->touched = malloc((size_t)s->df * s->df * sizeof *st->touched);
    if (!st->A || !st->b || !st->n || !st->r || !st->pair || !st->touched) {
        mq_art_stats_destroy(st);
        return mq__err_set(err, MQ_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < d; i++) st->A[i * d + i] = lambda;
    *out = st;
    return 0;
}

void mq_art_stats_add_page(mq_art_stats *st, const uint8_t *ctx, const int64_t *art, int n)
{
    const mq_art_space *s = st->s;
    const int32_t df = s->df, dm = s->dm, d = st->d;
    int nt = 0;
    for (int i = 0; i < n; i++) {
        int64_t a = art[i];
        if (a < 0 || a >= s->n_art) continue;
        st->n[a] += 1;
        for (int64_t u = s->f_ptr[a]; u < s->f_ptr[a + 1]; u++)
            for (int64_t w = s->f_ptr[a]; w < s->f_ptr[a + 1]; w++) {
                int32_t p = s->f_idx[u] * df + s->f_idx[w];
                if (st->pair[p]++ == 0) st->touched[nt++] = p;
            }
    }
    double m[MQ_ART_DM_MAX];
    int32_t nzk[MQ_ART_DM_MAX], nm = 0;
    for (int32_t k = 0; k < dm; k++) {
        m[k] = ctx[k] / 16.0;
        if (ctx[k]) nzk[nm++] = k;
    }
    for (int q = 0; q < nt; q++) {
        int32_t p = st->touched[q], j = p / df, l = p % df;
        double c = st->pair[p];
        st->pair[p] = 0;
        for (int32_t u = 0; u < nm; u++) {
            int32_t k = nzk[u];
            double *row = st->A + (size_t)(j * dm + k) * d + (size_t)l * dm;
            double ck = c * m[k];
            for (int32_t w = 0; w < nm; w++) row[nzk[w]] += ck * m[nzk[w]];
        }
    }
}

void mq_art_stats_add_reward(mq_art_stats *st, const uint8_t *ctx, int64_t a, double r)
{
    const mq_art_space *s = st->s;
    if (a < 0 || a >= s->n_art || r == 0) return;
    st->r[a] += r;
    for (int64_t u = s->f_ptr[a]; u < s->f_ptr[a + 1]; u++)
        for (int32_t k = 0; k < s->dm; k++)
            if (ctx[k]) st->b[s->f_idx[u] * s->dm + k] += r * (ctx[k] / 16.0);
}

void mq_art_stats_copy(mq_art_stats *dst, const mq_art_stats *src)
{
    size_t d = (size_t)src->d, na = (size_t)src->s->n_art;
    dst->lambda = src->lambda;
    memcpy(dst->A, src->A, d * d * sizeof *dst->A);
    memcpy(dst->b, src->b, d * sizeof *dst->b);
    memcpy(dst->n, src->n, na * sizeof *dst->n);
    memcpy(dst->r, src->r, na * sizeof *dst->r);
}

void mq_art_stats_totals(const mq_art_stats *st, double *impressions, double *rewards)
{
    double n = 0, r = 0;
    for (int64_t a = 0; a < st->s->n_art; a++) { n += st->n[a]; r += st->r[a]; }
    if (impressions) *impressions = n;
    if (rewards) *rewards = r;
}

uint32_t mq_art_stats_digest(const mq_art_stats *st)
{
    size_t d = (size_t)st->d, na = (size_t)st->s->n_art;
    uint32_t c = mq_crc32c(0, st->A, d * d * sizeof *st->A);
    c = mq_crc32c(c, st->b, d * sizeof *st->b);
    c = mq_crc32c(c, st->n, na * sizeof *st->n);
    return mq_crc32c(c, st->r, na * sizeof *st->r);
}

/* File: magic[8] | u32 space digest | i32 df | i32 dm | i32 pad | i64 n_art | f64 lambda |
 * u64 marks[4] | A [d*d] f64 | b [d] | n [n_art] | r [n_art] | u32 CRC-32C of all before. */
int mq_art_stats_save(const mq_art_stats *st, const uint64_t marks[4], const char *path, mq_err *err)
{
    size_t d = (size_t)st->d, na = (size_t)st->s->n_art;
    size_t head = 8 + 4 + 4 + 4 + 4 + 8 + 8 + 32;
    size_t len = head + (d * d + d + 2 * na) * sizeof(double) + 4;
    unsigned char *p = malloc(len);
    if (!p) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    unsigned char *w = p;
    memcpy(w, ST_MAGIC, 8);
    w += 8;
    int32_t dims[4] = {(int32_t)st->s->digest, st->s->df, st->s->dm, 0};
    memcpy(w, dims, 16);
    w += 16;
    int64_t n_art = st->s->n_art;
    memcpy(w, &n_art, 8);
    memcpy(w + 8, &st->lambda, 8);
    w += 16;
    uint64_t mk[4] = {0};
    if (marks) memcpy(mk, marks, sizeof mk);
    memcpy(w, mk, 32);
    w += 32;
    memcpy(w, st->A, d * d * sizeof(double));
    w += d * d * sizeof(double);
    memcpy(w, st->b, d * sizeof(double));
    w += d * sizeof(double);
    memcpy(w, st->n, na * sizeof(double));
    w += na * sizeof(double);
    memcpy(w, st->r, na * sizeof(double));
    w += na * sizeof(double);
    uint32_t crc = mq_crc32c(0, p, (size_t)(w - p));
    memcpy(w, &crc, 4);
    int rc = mq__write_file_atomic(path, p, len, err);
    free(p);
    return rc;
}

int mq_art_stats_load(const mq_art_space *s, const char *path, mq_art_stats **out, uint64_t marks[4],
                      mq_err *err)
{
    *out = NULL;
    const void *data;
    size_t len;
    int rc = mq__file_read(path, &data, &len, err);
    if (rc) return rc;
    const unsigned char *p = data;
    size_t d = (size_t)s->df * s->dm, na = (size_t)s->n_art;
    size_t head = 72, want = head + (d * d + d + 2 * na) * sizeof(double) + 4;
    int32_t dims[4] = {0};
    if (len >= head) memcpy(dims, p + 8, 16);
    uint32_t crc = 0;
    if (len == want) memcpy(&crc, p + want - 4, 4);
    if (len < head || memcmp(p, ST_MAGIC, 8)) rc = mq__err_set(err, MQ_ECORRUPT, "%s: not an artwork state file", path);
    else if ((uint32_t)dims[0] != s->digest || dims[1] != s->df || dims[2] != s->dm)
        rc = mq__err_set(err, MQ_ECORRUPT, "%s: the state is for another artwork catalog (features changed)", path);
    else if (len != want || mq_crc32c(0, p, want - 4) != crc)
        rc = mq__err_set(err, MQ_ECORRUPT, "%s: corrupt artwork state (length or CRC-32C)", path);
    mq_art_stats *st = NULL;
    if (!rc) {
        double lambda;
        memcpy(&lambda, p + 32, 8);
        rc = mq_art_stats_create(s, lambda, &st, err);
    }
    if (!rc) {
        if (marks) memcpy(marks, p + 40, 32);
        const unsigned char *q = p + head;
        memcpy(st->A, q, d * d * sizeof(double));
        q += d * d * sizeof(double);
        memcpy(st->b, q, d * sizeof(double));
        q += d * sizeof(double);
        memcpy(st->n, q, na * sizeof(double));
        q += na * sizeof(double);
        memcpy(st->r, q, na * sizeof(double));
        *out = st;
    }
    mq__file_unmap(data, len);
    return rc;
}

/* ---- published states ---- */

void mq_art_snap_destroy(mq_art_snap *sn)
{
    if (!sn) return;
    free(sn->tsq);
    free(sn->greedy);
    free(sn->S);
    free(sn->theta);
    free(sn->n);
    free(sn->r);
    free(sn);
}

uint64_t mq_art_snap_version(const mq_art_snap *sn) { return sn->version; }

/* A^-1 of the symmetric positive definite A [d x d] into out: A = L L' (L overwrites a copy),
 * L^-1 by forward substitution, A^-1 = L^-T L^-1. Pivots are floored at 1e-300 (A >= lambda I
 * keeps them positive in exact arithmetic). */
static int spd_inverse(const double *A, int32_t d, double *out)
{
    size_t n = (size_t)d;
    double *L = malloc(n * n * sizeof *L), *M = calloc(n * n, sizeof *M);
    if (!L || !M) { free(L); free(M); return MQ_ENOMEM; }
    memcpy(L, A, n * n * sizeof *L);
    for (size_t j = 0; j < n; j++) {
        double s = L[j * n + j];
        for (size_t k = 0; k < j; k++) s -= L[j * n + k] * L[j * n + k];
        double l = sqrt(MQ_MAX(s, 1e-300));
        L[j * n + j] = l;
        for (size_t i = j + 1; i < n; i++) {
            double t = L[i * n + j];
            const double *Li = L + i * n, *Lj = L + j * n;
            for (size_t k = 0; k < j; k++) t -= Li[k] * Lj[k];
            L[i * n + j] = t / l;
        }
    }
    /* M = L^-1 (lower): row i of L M = e_i */
    for (size_t c = 0; c < n; c++) {
        M[c * n + c] = 1 / L[c * n + c];
        for (size_t i = c + 1; i < n; i++) {
            double t = 0;
            for (size_t k = c; k < i; k++) t += L[i * n + k] * M[k * n + c];
            M[i * n + c] = -t / L[i * n + i];
        }
    }
    /* out = M' M: out_ij = sum_{k >= max(i,j)} M_ki M_kj */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j <= i; j++) {
            double t = 0;
            for (size_t k = i; k < n; k++) t += M[k * n + i] * M[k * n + j];
            out[i * n + j] = out[j * n + i] = t;
        }
    free(L);
    free(M);
    return 0;
}

/* Bernoulli TS distributions of title t's K artworks into q: the share of draws of
 * Beta(1 + s_a, 1 + n_a - s_a) in which each is the largest (ties: the first; draws are
 * continuous). Identical posteriors (e.g. never shown): exactly 1/K by symmetry. */
static void ts_title(const mq_art_snap *sn, int32_t t, float *q)
{
    const int64_t a0 = sn->s->art_ptr[t];
    const int32_t K = (int32_t)(sn->s->art_ptr[t + 1] - a0);
    bool same = true;
    for (int32_t a = 1; a < K; a++) same &= sn->n[a0 + a] == sn->n[a0] && sn->r[a0 + a] == sn->r[a0];
    if (same) {
        for (int32_t a = 0; a < K; a++) q[a] = 1.0f / (float)K;
        return;
    }
    mq_rng rng;
    mq_rng_seed(&rng, sn->version * 0x9E3779B97F4A7C15ull ^ (uint64_t)t);
    double cnt[64] = {0};
    for (int32_t i = 0; i < sn->ts_draws; i++) {
        int32_t best = 0;
        double bv = -1;
        for (int32_t a = 0; a < K && a < 64; a++) {
            double v = mq__bandit_beta(&rng, 1 + sn->r[a0 + a], 1 + MQ_MAX(sn->n[a0 + a] - sn->r[a0 + a], 0));
            if (v > bv) { bv = v; best = a; }
        }
        cnt[best] += 1;
    }
    for (int32_t a = 0; a < K; a++) q[a] = a < 64 ? (float)(cnt[a] / sn->ts_draws) : 0;
}

int mq_art_snap_create(const mq_art_stats *st, uint64_t version, const mq_art_snap *prev, int32_t ts_draws,
                       mq_art_snap **out, mq_err *err)
{
    *out = NULL;
    const mq_art_space *s = st->s;
    mq_art_snap *sn = calloc(1, sizeof *sn);
    if (!sn) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    sn->s = s;
    sn->version = version;
    sn->d = st->d;
    sn->ts_draws = ts_draws > 0 ? ts_draws : 200;
    const size_t d = (size_t)st->d, na = (size_t)s->n_art, df = (size_t)s->df, dm = (size_t)s->dm;
    double *Ainv = malloc(d * d * sizeof *Ainv);
    const size_t P = df * (df + 1) / 2, Q = dm * (dm + 1) / 2;
    sn->S = malloc(P * Q * sizeof *sn->S);
    sn->theta = calloc(d, sizeof *sn->theta);
    sn->n = malloc(na * sizeof *sn->n);
    sn->r = malloc(na * sizeof *sn->r);
    sn->tsq = malloc(na * sizeof *sn->tsq);
    sn->greedy = calloc((size_t)s->n_titles, 1);
    if (!Ainv || !sn->S || !sn->greedy || !sn->theta || !sn->n || !sn->r || !sn->tsq || spd_inverse(st->A, st->d, Ainv)) {
        free(Ainv);
        mq_art_snap_destroy(sn);
        return mq__err_set(err, MQ_ENOMEM, "out of memory");
    }
    memcpy(sn->n, st->n, na * sizeof *sn->n);
    memcpy(sn->r, st->r, na * sizeof *sn->r);
    for (size_t i = 0; i < d; i++) {
        double t = 0;
        const double *row = Ainv + i * d;
        for (size_t j = 0; j < d; j++) t += row[j] * st->b[j];
        sn->theta[i] = t;
    }
    for (size_t j = 0; j < df; j++)
        for (size_t l = 0; l <= j; l++) {
            double *col = sn->S + s->pcol[j * df + l];
            for (size_t k = 0, q = 0; k < dm; k++)
                for (size_t k2 = k; k2 < dm; k2++, q++) {
                    double b1 = Ainv[(j * dm + k) * d + l * dm + k2], b2 = Ainv[(j * dm + k2) * d + l * dm + k];
                    col[q * P] = k == k2 ? b1 : b1 + b2;
                }
        }
    free(Ainv);
    /* Bernoulli TS: every title's distribution now (the publisher's thread), copied from prev
     * where the title's counts did not change, so a page only looks them up */
    for (int32_t t = 0; t < s->n_titles; t++) {
        const int64_t a0 = s->art_ptr[t], K = s->art_ptr[t + 1] - a0;
        if (K < 1) continue;
        bool same = prev && prev->ts_draws == sn->ts_draws;
        for (int64_t a = a0; a < a0 + K && same; a++) same = prev->n[a] == sn->n[a] && prev->r[a] == sn->r[a];
        if (same) memcpy(sn->tsq + a0, prev->tsq + a0, (size_t)K * sizeof *sn->tsq);
        else ts_title(sn, t, sn->tsq + a0);
        if (K <= 8) {   /* epsilon-greedy's best set: the largest mean reward (0 unshown) */
            double best = -1;
            for (int64_t a = a0; a < a0 + K; a++) best = MQ_MAX(best, sn->n[a] > 0 ? sn->r[a] / sn->n[a] : 0);
            for (int64_t a = a0; a < a0 + K; a++)
                if ((sn->n[a] > 0 ? sn->r[a] / sn->n[a] : 0) == best) sn->greedy[t] |= (uint8_t)(1u << (a - a0));
        }
    }
    *out = sn;
    return 0;
}

/* ---- decisions ---- */

static const char *ART_KINDS[] = {"uniform", "egreedy", "ts", "linucb", "lints", "fixed"};

const char *mq_art_policy_name(int kind) { return kind >= 0 && kind <= MQ_POLICY_FIXED ? ART_KINDS[kind] : NULL; }

int mq_art_policy_parse(const char *spec, mq_art_policy *p, mq_err *err)
{
    int orc = MQ__OPTS_CHECK(mq_art_policy, p, err);
    if (orc) return orc;
    if (!strcmp(spec, "fixed")) {
        p->kind = MQ_POLICY_FIXED;
        p->param = 0;
        return 0;
    }
    mq_policy_opts o;
    mq_policy_opts_init(&o, sizeof o);
    int rc = mq_policy_parse(spec, &o, err);
    if (rc) return mq__err_set(err, rc, "artwork policy '%s': fixed, uniform, egreedy[:EPS], ts, linucb[:ALPHA] "
                               "or lints[:V]", spec);
    p->kind = o.kind;
    p->param = o.param;
    return 0;
}

/* The member's part of the linear model for one page: v_j = sum_k theta_(j dm + k) m_k and
 * G_jl = m' [A^-1]_jl m = g[pcol(j, l)] (one block: v [df], g [ncol], G [df x df] with full):
 * LinUCB needs only the pairs that occur in a shape (the first n_pc columns), linear TS every
 * pair among the page's tags (all P, unpacked to G). */
typedef struct page_lin {
    int32_t df;
    const int32_t *pcol;
    double *v, *g, *G;
} page_lin;

static inline double G_at(const page_lin *pl, int32_t j, int32_t l) { return pl->G[(size_t)j * pl->df + l]; }

/* y += a x: vectorized (the build's -O2 keeps loops scalar unless the trip count is fixed);
 * each y[p] is still summed in the same order, so the result is that of the scalar loop. On
 * x86-64 a 4-wide AVX clone where the CPU has it (chosen at load time; AVX without FMA: the
 * same separately rounded multiply and add, so the same bits). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx", "default")))
#endif
__attribute__((optimize("tree-vectorize")))
static void axpy(double *restrict y, const double *restrict x, double a, int32_t n)
{
    for (int32_t p = 0; p < n; p++) y[p] += a * x[p];
}

/* G_packed = S' w over the context pairs with w_q = m_k m_k' != 0 only (a member has one
 * device and one hour slot of five: about half the rows are skipped), whole rows of the
 * snapshot table added at a time, then unpacked to the full symmetric df x df. */
static int page_lin_init(page_lin *pl, const mq_art_snap *sn, const uint8_t *ctx, bool full)
{
    const mq_art_space *s = sn->s;
    const int32_t df = s->df, dm = s->dm;
    const int32_t P = df * (df + 1) / 2, ncol = full ? P : s->n_pc;
    pl->df = df;
    pl->pcol = s->pcol;
    double *blk = calloc((size_t)df + (size_t)ncol + (full ? (size_t)df * df : 0), sizeof *blk);
    if (!blk) return MQ_ENOMEM;
    pl->v = blk;
    pl->g = blk + df;
    pl->G = full ? pl->g + ncol : NULL;
    double *g = pl->g, m[MQ_ART_DM_MAX];
    int32_t nzk[MQ_ART_DM_MAX], nm = 0;
    for (int32_t k = 0; k < dm; k++) {
        m[k] = ctx[k] / 16.0;
        if (ctx[k]) nzk[nm++] = k;
    }
    for (int32_t k = 0, q = 0; k < dm; k++)
        for (int32_t k2 = k; k2 < dm; k2++, q++)
            if (ctx[k] && ctx[k2]) axpy(g, sn->S + (size_t)q * P, m[k] * m[k2], ncol);
    if (full)
        for (int32_t i = 0; i < df * df; i++) pl->G[i] = g[s->pcol[i]];
    for (int32_t j = 0; j < df; j++) {
        double t = 0;
        for (int32_t w = 0; w < nm; w++) t += sn->theta[j * dm + nzk[w]] * m[nzk[w]];
        pl->v[j] = t;
    }
    return 0;
}

/* Linear TS's inner loop over the draws of a page, in 4-wide vectors (GCC/Clang vector
 * extensions: SSE2 on x86-64, NEON on arm64; the build's -O2 leaves a select loop scalar and
 * branchy): an artwork's scores for all draws are the sum of its tags' rows of U (up to 4,
 * absent ones pointing at a zero row); the title's best score and best artwork per draw are
 * updated in the same pass (the index kept as a float, the scores' width, so one mask serves
 * both). n: a multiple of 4. An exact tie (the same tags) keeps the first artwork. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static void best_row(float *restrict bs, float *restrict bi, const float *const rows[4], float a, int32_t n)
{
    const v4f av = {a, a, a, a};
    for (int32_t r = 0; r < n; r += 4) {
        v4f x0, x1, x2, x3, b, i;
        memcpy(&x0, rows[0] + r, 16);
        memcpy(&x1, rows[1] + r, 16);
        memcpy(&x2, rows[2] + r, 16);
        memcpy(&x3, rows[3] + r, 16);
        v4f sc = ((x0 + x1) + x2) + x3;
        if (a == 0) {
            memcpy(bs + r, &sc, 16);
            memset(bi + r, 0, 16);
            continue;
        }
        memcpy(&b, bs + r, 16);
        memcpy(&i, bi + r, 16);
        v4i gt = sc > b;
        b = (v4f)(((v4i)b & ~gt) | ((v4i)sc & gt));
        i = (v4f)(((v4i)i & ~gt) | ((v4i)av & gt));
        memcpy(bs + r, &b, 16);
        memcpy(bi + r, &i, 16);
    }
}

/* Draws r < n whose best artwork is a. */
static int32_t count_eq(const float *bi, float a, int32_t n)
{
    const v4f av = {a, a, a, a};
    v4i acc = {0, 0, 0, 0};
    int32_t r = 0;
    for (; r + 4 <= n; r += 4) {
        v4f i;
        memcpy(&i, bi + r, 16);
        acc -= (v4i)(i == av);   /* a true lane is -1 */
    }
    int32_t c = acc[0] + acc[1] + acc[2] + acc[3];
    for (; r < n; r++) c += bi[r] == a;
    return c;
}

/* Draws from p = (1 - gamma) q + gamma / K; returns the index and its probability. */
static int32_t draw_mixed(const double *q, int32_t K, double gamma, mq_rng *rng, double *prob)
{
    double u = mq_rng_uniform(rng), cum = 0;
    int32_t pick = -1;
    for (int32_t a = 0; a < K; a++) {
        cum += (1 - gamma) * q[a] + gamma / K;
        if (u < cum) { pick = a; break; }
    }
    if (pick < 0)   /* rounding left u above the sum: the last artwork with probability > 0 */
        for (pick = K - 1; pick > 0 && (1 - gamma) * q[pick] + gamma / K <= 0; pick--) {}
    *prob = (1 - gamma) * q[pick] + gamma / K;
    return pick;
}

/* Draws from p = (1 - gamma) q + gamma / K with q uniform over the nt artworks whose score
 * equals best (the first of them: first), without forming q or walking a cumulative sum (the
 * hot path of LinUCB): one uniform u; u < 1 - gamma picks one of the best, the
 * floor(u / (1 - gamma) nt)-th, and the rest an artwork uniformly, the
 * floor((u - (1 - gamma)) / gamma K)-th; so P(a) = (1 - gamma) 1{a best} / nt + gamma / K,
 * the probability returned. tab (K < 16): tab[2K] = gamma / K, tab[2K + 1] = the one-best
 * probability, the same values without two divisions per title. */
static int32_t draw_best(const double *sc, double best, int32_t nt, int32_t first, int32_t K, double gamma,
                         const double *tab, mq_rng *rng, double *prob)
{
    const double lo = K < 16 ? tab[2 * K] : (1 - gamma) * 0.0 + gamma / K;
    const double hi = K < 16 && nt == 1 ? tab[2 * K + 1] : (1 - gamma) * (1.0 / nt) + gamma / K;
    const double u = mq__rng_uniform(rng);
    int32_t pick = first;
    if (u < 1 - gamma) {
        if (nt > 1) {
            int32_t k = MQ_MIN((int32_t)(u / (1 - gamma) * nt), nt - 1);
            for (pick = 0; pick < K; pick++)
                if (sc[pick] == best && k-- == 0) break;
        }
    } else pick = MQ_MIN((int32_t)((u - (1 - gamma)) / gamma * K), K - 1);
    *prob = sc[pick] == best ? hi : lo;
    return pick;
}

/* q = uniform over the maxima of v[0..K). */
static void greedy(const double *v, int32_t K, double *q)
{
    double m = v[0];
    for (int32_t a = 1; a < K; a++) m = MQ_MAX(m, v[a]);
    int32_t nt = 0;
    for (int32_t a = 0; a < K; a++) nt += v[a] == m;
    for (int32_t a = 0; a < K; a++) q[a] = v[a] == m ? 1.0 / nt : 0;
}

/* LinUCB's score theta'x + alpha sqrt(x'A^-1 x) = f'v + alpha sqrt(f'G f) of an artwork with
 * the nf tags ix (ascending: the same sums, in the same order, for every artwork of a shape). */
static double art_ucb(const page_lin *pl, const int32_t *ix, int64_t nf, double alpha)
{
    double mean = 0, w = 0;
    for (int64_t x = 0; x < nf; x++) {
        mean += pl->v[ix[x]];
        w += pl->g[pl->pcol[ix[x] * pl->df + ix[x]]];
        for (int64_t y = 0; y < x; y++) w += 2 * pl->g[pl->pcol[ix[x] * pl->df + ix[y]]];
    }
    return mean + alpha * sqrt(MQ_MAX(w, 0));
}

/* art_ucb of shape k: its pair columns precomputed in the same summation order (sp_col). */
static inline __attribute__((always_inline)) double shape_ucb(const mq_art_space *s, const page_lin *pl, int32_t k, double alpha)
{
    const int32_t *ix = s->sh_idx + s->sh_ptr[k], *pc = s->sp_col + s->sp_ptr[k];
    const int64_t nf = s->sh_ptr[k + 1] - s->sh_ptr[k];
    double mean = 0, w = 0;
    for (int64_t x = 0; x < nf; x++) {
        mean += pl->v[ix[x]];
        w += pl->g[*pc++];
        for (int64_t y = 0; y < x; y++) w += 2 * pl->g[*pc++];
    }
    return mean + alpha * sqrt(MQ_MAX(w, 0));
}

/* The best of sc[0..K); *nt: how many share it, *first: the first of them. */
static double best_of(const double *sc, int32_t K, int32_t *nt, int32_t *first)
{
    double best = sc[0];   /* without data-dependent branches (maxsd, cmov, then counts; one
                            * pass that resets the count made GCC branch, mispredicted half the time) */
    int32_t f = 0;
    for (int32_t a = 1; a < K; a++) {
        f = sc[a] > best ? a : f;
        best = sc[a] > best ? sc[a] : best;
    }
    int32_t n = 0;
    for (int32_t a = 0; a < K; a++) n += sc[a] == best;
    *nt = n;
    *first = f;
    return best;
}

/* LinUCB's draws for a page whose shapes are all scored (ssc; the common case, the decisions
 * only): decide's loop without its per-policy branches, the same draws in the same order. */
static void linucb_titles(const mq_art_space *s, const double *ssc, const int32_t *titles, int n, double gamma,
                          const double *tab, mq_rng *rng, double *scp, int64_t *choice, double *prop)
{
    const uint32_t nt_all = (uint32_t)s->n_titles;
    for (int i = 0; i < n; i++) {
        if (i + 16 < n && (uint32_t)titles[i + 16] < nt_all) __builtin_prefetch(s->art_ptr + titles[i + 16]);
        if (i + 8 < n && (uint32_t)titles[i + 8] < nt_all) __builtin_prefetch(s->shape + s->art_ptr[titles[i + 8]]);
        const int32_t t = titles[i];
        if ((uint32_t)t >= nt_all || s->art_ptr[t + 1] == s->art_ptr[t]) {
            choice[i] = -1;
            prop[i] = 0;
            continue;
        }
        const int64_t a0 = s->art_ptr[t];
        const int32_t K = (int32_t)(s->art_ptr[t + 1] - a0);
        if (K == 1) {
            choice[i] = a0;
            prop[i] = 1;
            continue;
        }
        /* best_of in one branch-free pass: the count restarts at 1 on a new maximum (written
         * with masks: as a conditional GCC branches on it, mispredicted half the time) */
        const int32_t *sh = s->shape + a0;
        double best = ssc[sh[0]];
        int32_t nt = 1, first = 0;
        for (int32_t a = 1; a < K; a++) {
            const double v = ssc[sh[a]];
            const int32_t gt = v > best, eq = v == best;
            nt = ((nt + eq) & (gt - 1)) | gt;
            first = gt ? a : first;
            best = gt ? v : best;
        }
        if (nt > 1 || K >= 16) {   /* a tie (or a large title): draw_best's general case */
            for (int32_t a = 0; a < K; a++) scp[a] = ssc[sh[a]];
            choice[i] = a0 + draw_best(scp, best, nt, first, K, gamma, tab, rng, &prop[i]);
            continue;
        }
        /* draw_best with one best: sc[pick] == best exactly when pick == first */
        const double u = mq__rng_uniform(rng);
        int32_t pick = first;
        if (!(u < 1 - gamma)) pick = MQ_MIN((int32_t)((u - (1 - gamma)) / gamma * K), K - 1);
        choice[i] = a0 + pick;
        prop[i] = pick == first ? tab[2 * K + 1] : tab[2 * K];
    }
}

/* Linear TS for the page: u ~ N(v, nu^2 G) over the tags present on the page (titles with a
 * choice to make), draws times; cnt[off_t + a] = the share of draws in which title t's
 * artwork a scores best (off_t: the sum of K over the titles before t). */
static int lints_page(const mq_art_space *s, const page_lin *pl, const int32_t *titles, int n, double nu, int32_t draws,
                      mq_rng *rng, double *cnt)
{
    const int32_t df = s->df;
    int rc = MQ_ENOMEM;
    int32_t *tagpos = malloc((size_t)df * 2 * sizeof *tagpos), *present = tagpos ? tagpos + df : NULL;
    double *Lp = NULL, *z = NULL;
    float *U = NULL, *bs = NULL;
    if (!tagpos) goto done;
    for (int32_t j = 0; j < df; j++) tagpos[j] = -1;
    int32_t np = 0;
    for (int i = 0; i < n; i++) {
        int32_t t = titles[i];
        if (t < 0 || t >= s->n_titles || s->art_ptr[t + 1] - s->art_ptr[t] < 2) continue;
        if (s->pack && s->pack[(size_t)t * 32]) {
            const uint8_t *pk = s->pack + (size_t)t * 32 + 1;
            for (int x = 0; x < 4 * s->pack[(size_t)t * 32]; x++)
                if (pk[x] != 255 && tagpos[pk[x]] < 0) { tagpos[pk[x]] = np; present[np++] = pk[x]; }
            continue;
        }
        for (int64_t a = s->art_ptr[t]; a < s->art_ptr[t + 1]; a++)
            for (int64_t w = s->f_ptr[a]; w < s->f_ptr[a + 1]; w++)
                if (tagpos[s->f_idx[w]] < 0) { tagpos[s->f_idx[w]] = np; present[np++] = s->f_idx[w]; }
    }
    const int32_t np1 = MQ_MAX(np, 1);
    Lp = calloc((size_t)np1 * np1 + np1, sizeof *Lp);
    /* U[i][r] = u_i of draw r: the draws in a row per tag (rows of R = draws rounded up to 4,
     * the padding 0), then a zero row; bs, bi: [R] each */
    const int32_t R = (draws + 3) & ~3;
    U = calloc(((size_t)np1 + 4) * R, sizeof *U);
    if (!Lp || !U) goto done;
    z = Lp + (size_t)np1 * np1;
    const float *zero = U + (size_t)np1 * R;
    bs = U + (size_t)(np1 + 1) * R;
    float *bi = bs + R, *acc = bi + R;
    for (int32_t i = 0; i < np; i++)
        for (int32_t j = 0; j <= i; j++) Lp[i * np + j] = G_at(pl, present[i], present[j]);
    for (int32_t j = 0; j < np; j++) {   /* in-place Cholesky, lower */
        double d0 = Lp[j * np + j];
        for (int32_t k = 0; k < j; k++) d0 -= Lp[j * np + k] * Lp[j * np + k];
        double l = sqrt(MQ_MAX(d0, 0));
        Lp[j * np + j] = l;
        for (int32_t i = j + 1; i < np; i++) {
            double t = Lp[i * np + j];
            for (int32_t k = 0; k < j; k++) t -= Lp[i * np + k] * Lp[j * np + k];
            Lp[i * np + j] = l > 0 ? t / l : 0;
        }
    }
    for (int32_t r = 0; r < draws; r++) {
        for (int32_t i = 0; i < np; i += 2) {   /* Marsaglia's polar method: two per pair */
            double x, y, q2;
            do {
                x = 2 * mq_rng_uniform(rng) - 1;
                y = 2 * mq_rng_uniform(rng) - 1;
                q2 = x * x + y * y;
            } while (q2 >= 1 || q2 == 0);
            double f = sqrt(-2 * log(q2) / q2);
            z[i] = x * f;
            if (i + 1 < np) z[i + 1] = y * f;
        }
        for (int32_t i = 0; i < np; i++) {
            double t = 0;
            for (int32_t k = 0; k <= i; k++) t += Lp[i * np + k] * z[k];
            U[(size_t)i * R + r] = (float)(pl->v[present[i]] + nu * t);
        }
    }
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        int32_t t = titles[i];
        if (t < 0 || t >= s->n_titles) continue;
        const int64_t a0 = s->art_ptr[t];
        const int32_t K = (int32_t)(s->art_ptr[t + 1] - a0);
        if (K >= 2) {
            const uint8_t *pk = s->pack && s->pack[(size_t)t * 32] ? s->pack + (size_t)t * 32 + 1 : NULL;
            for (int32_t a = 0; a < K; a++) {
                const float *rows[4] = {zero, zero, zero, zero};
                if (pk) {
                    for (int x = 0; x < 4 && pk[4 * a + x] != 255; x++) rows[x] = U + (size_t)tagpos[pk[4 * a + x]] * R;
                    best_row(bs, bi, rows, (float)a, R);
                    continue;
                }
                /* not packed (more than 4 tags, or K > 7): the tags' rows summed into acc first */
                memset(acc, 0, (size_t)R * sizeof *acc);
                for (int64_t w = s->f_ptr[a0 + a]; w < s->f_ptr[a0 + a + 1]; w++) {
                    const float *row = U + (size_t)tagpos[s->f_idx[w]] * R;
                    for (int32_t r = 0; r < R; r++) acc[r] += row[r];
                }
                rows[0] = acc;
                best_row(bs, bi, rows, (float)a, R);
            }
            for (int32_t a = 0; a < K; a++) cnt[off + a] = (double)count_eq(bi, (float)a, draws) / draws;
        }
        off += K;
    }
    rc = 0;
done:
    free(tagpos);
    free(Lp);
    free(U);
    return rc;
}

/* mq_art_decide and mq_art_probs: with probs, every artwork's probability instead of a draw. */
static int decide(const mq_art_snap *sn, const mq_art_policy *pol, const uint8_t *ctx, const int32_t *titles, int n,
                  mq_rng *rng_out, int64_t *choice, double *prop, double *probs, mq_err *err)
{
    mq_rng lrng = *rng_out, *rng = &lrng;   /* a local copy: the stores to choice (int64_t) may
                                             * not alias it, so it stays in registers; written back */
    mq_art_policy pv; int orc = MQ__OPTS_GET(mq_art_policy, &pv, pol, err); if (orc) return orc; pol = &pv;
    const mq_art_space *s = sn->s;
    const int kind = pol->kind;
    if (kind < 0 || kind > MQ_POLICY_FIXED) return mq__err_set(err, MQ_EINVAL, "artwork: unknown policy kind %d", kind);
    const double gamma = pol->gamma > 0 ? MQ_MIN(pol->gamma, 1.0) : 0.05;
    const bool linear = kind == MQ_POLICY_LINUCB || kind == MQ_POLICY_LINTS;
    double param = pol->param > 0 ? pol->param : kind == MQ_POLICY_EGREEDY ? 0.1 : kind == MQ_POLICY_LINTS ? 0.5 : 1.0;
    const int32_t kmax = s->kmax;   /* the catalog's: no pass over the page for it */
    int64_t tot = 0;
    for (int i = 0; kind == MQ_POLICY_LINTS && i < n; i++) {
        int32_t t = titles[i];
        if (t >= 0 && t < s->n_titles) tot += s->art_ptr[t + 1] - s->art_ptr[t];
    }
    page_lin pl = {0};
    double q[16], sc[16], *qh = NULL, *cnt = NULL, *ssc = NULL;
    double *qp = q, *scp = sc;
    int rc = 0;
    bool ssc_all = false;
    if (kmax > 16) {   /* larger titles than the stack arrays hold */
        if (!(qh = malloc((size_t)kmax * 2 * sizeof *qh))) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
        qp = qh;
        scp = qh + kmax;
    }
    if (linear && page_lin_init(&pl, sn, ctx, kind == MQ_POLICY_LINTS)) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
    /* LinUCB scores each shape (tag set) of the page once, when the catalog's shapes are few
     * against the page's titles (else artwork by artwork) */
    if (kind == MQ_POLICY_LINUCB && s->n_shapes <= 8 * (int64_t)n + 256) {
        if (!(ssc = malloc((size_t)MQ_MAX(s->n_shapes, 1) * sizeof *ssc))) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
        const bool all = ssc_all = s->n_shapes <= n;   /* fewer shapes than titles: all of them now */
        for (int32_t k = 0; k < s->n_shapes; k++)
            ssc[k] = all ? shape_ucb(s, &pl, k, param) : NAN;
    }
    if (kind == MQ_POLICY_LINTS) {
        if (!(cnt = calloc((size_t)MQ_MAX(tot, 1), sizeof *cnt)) ||
            lints_page(s, &pl, titles, n, param, pol->mc_draws > 0 ? pol->mc_draws : 100, rng, cnt)) {
            rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
            goto done;
        }
    }
    double tab[32];
    for (int32_t K = 1; K < 16; K++) {
        tab[2 * K] = (1 - gamma) * 0.0 + gamma / K;
        tab[2 * K + 1] = (1 - gamma) * (1.0 / 1) + gamma / K;
    }
    if (kind == MQ_POLICY_LINUCB && ssc_all && !probs) {
        linucb_titles(s, ssc, titles, n, gamma, tab, rng, scp, choice, prop);
        goto done;
    }
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        int32_t t = titles[i];
        if (i + 16 < n && titles[i + 16] >= 0 && titles[i + 16] < s->n_titles) __builtin_prefetch(s->art_ptr + titles[i + 16]);
        if (i + 8 < n && titles[i + 8] >= 0 && titles[i + 8] < s->n_titles) {   /* the next titles' lines */
            int32_t u8 = titles[i + 8];
            if (s->pack && kind != MQ_POLICY_LINUCB) __builtin_prefetch(s->pack + (size_t)u8 * 32);
            if (kind == MQ_POLICY_LINUCB) __builtin_prefetch(s->shape + s->art_ptr[u8]);
            if (kind == MQ_POLICY_BTS) __builtin_prefetch(sn->tsq + s->art_ptr[u8]);
            if (kind == MQ_POLICY_EGREEDY) __builtin_prefetch(sn->greedy + u8);
        }
        if (t < 0 || t >= s->n_titles || s->art_ptr[t + 1] == s->art_ptr[t]) {
            if (!probs) { choice[i] = -1; prop[i] = 0; }
            continue;
        }
        const int64_t a0 = s->art_ptr[t];
        const int32_t K = (int32_t)(s->art_ptr[t + 1] - a0);
        off += K;
        if (K == 1 || kind == MQ_POLICY_FIXED) {
            if (probs)
                for (int32_t a = 0; a < K; a++) probs[off - K + a] = a == 0;
            else { choice[i] = a0; prop[i] = 1; }
            continue;
        }
        switch (kind) {
        case MQ_POLICY_UNIFORM:
            for (int32_t a = 0; a < K; a++) qp[a] = 1.0 / K;
            break;
        case MQ_POLICY_EGREEDY:
            if (K <= 8) {   /* the snapshot's greedy set */
                int nt = __builtin_popcount(sn->greedy[t]);
                for (int32_t a = 0; a < K; a++) qp[a] = (sn->greedy[t] >> a & 1) ? 1.0 / nt : 0;
            } else {
                for (int32_t a = 0; a < K; a++) scp[a] = sn->n[a0 + a] > 0 ? sn->r[a0 + a] / sn->n[a0 + a] : 0;
                greedy(scp, K, qp);
            }
            for (int32_t a = 0; a < K; a++) qp[a] = (1 - param) * qp[a] + param / K;
            break;
        case MQ_POLICY_BTS:
            for (int32_t a = 0; a < K; a++) qp[a] = sn->tsq[a0 + a];
            break;
        case MQ_POLICY_LINUCB: {
            const int32_t *sh = s->shape + a0;
            if (ssc_all)   /* every shape scored: lookups only */
                for (int32_t a = 0; a < K; a++) scp[a] = ssc[sh[a]];
            else for (int32_t a = 0; a < K; a++) {
                double v = ssc ? ssc[sh[a]] : NAN;
                if (isnan(v)) {
                    v = ssc ? shape_ucb(s, &pl, sh[a], param)
                            : art_ucb(&pl, s->f_idx + s->f_ptr[a0 + a], s->f_ptr[a0 + a + 1] - s->f_ptr[a0 + a], param);
                    if (ssc) ssc[sh[a]] = v;
                }
                scp[a] = v;
            }
            int32_t nt, first;
            double best = best_of(scp, K, &nt, &first);
            if (probs) {
                for (int32_t a = 0; a < K; a++) qp[a] = scp[a] == best ? 1.0 / nt : 0;
                break;
            }
            choice[i] = a0 + draw_best(scp, best, nt, first, K, gamma, tab, rng, &prop[i]);
            continue;
        }
        default:   /* linear TS: the page's shared draws */
            for (int32_t a = 0; a < K; a++) qp[a] = cnt[off - K + a];
        }
        if (probs)
            for (int32_t a = 0; a < K; a++) probs[off - K + a] = (1 - gamma) * qp[a] + gamma / K;
        else choice[i] = a0 + draw_mixed(qp, K, gamma, rng, &prop[i]);
    }
done:
    *rng_out = lrng;
    free(qh);
    free(ssc);
    free(pl.v);
    free(cnt);
    return rc;
}

int mq_art_decide(const mq_art_snap *sn, const mq_art_policy *pol, const uint8_t *ctx,
                  const int32_t *titles, int n, mq_rng *rng, int64_t *choice, double *prop,
                  mq_err *err)
{
    return decide(sn, pol, ctx, titles, n, rng, choice, prop, NULL, err);
}

int mq_art_probs(const mq_art_snap *sn, const mq_art_policy *pol, const uint8_t *ctx,
                 const int32_t *titles, int n, mq_rng *rng, double *probs, mq_err *err)
{
    return decide(sn, pol, ctx, titles, n, rng, NULL, NULL, probs, err);
}
