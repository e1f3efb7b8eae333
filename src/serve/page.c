/* page.c: the homepage builder: candidate rows, greedy row selection, de-duplication across
 * the page, MMR diversity within a row, evidence strings, and the JSON writer.
 *
 * Inputs per request: the member's scores for every title (from the model, any scale; NULL for
 * a cold-start page), their history (finished / in-progress / disliked titles with times) and
 * the request (rows, per_row, filters, MMR lambda, hour, device). Shared inputs (mq_page_catalog):
 * popularity and trending in [0, 1] with their orders, recent releases, per-genre popularity
 * lists, a similar-titles callback and pre-rendered title JSON.
 *
 * Relevance. rel[t] in [0, 1] is the member's score rescaled over their top candidates
 * (min-max between the best and the K-th best unseen title; below that 0), or popularity on a
 * cold page. Each candidate row has its own order and row score (similarity to the seed,
 * trending, ...); a title's value in a row is 0.5 row score + 0.5 rel[t], so rows stay what
 * they say they are while the member's taste decides which rows win.
 *
 * Row selection (greedy, after Netflix's page-generation work: Alvino & Basilico, "Learning a
 * Personalized Homepage", 2015; Gomez-Uribe & Hunt 2015): Continue Watching is pinned first
 * when non-empty; then repeatedly, for every remaining candidate row, take its first per_row
 * titles not already on the page and compute
 *     u(row) = prior(kind) * 0.85^(rows of the same kind above) * sum_j d_j v_j / sum_j d_j,
 * d_j = 1 / log2(j + 2) over the full per_row slots (a short row is penalized); choose the best
 * row, fill it, mark its titles used. So each row is chosen given the rows above it.
 *
 * Within a row: Maximal Marginal Relevance (Carbonell & Goldstein 1998) over the row's first
 * 3 x per_row unused candidates, next = argmax lambda v_t - (1 - lambda) max_{s in row} sim(t, s),
 * with sim the Jaccard overlap of genre sets; the max is kept incrementally, so a row costs
 * O(per_row x pool), run four pool entries at a time (eight with AVX2) with the same float
 * operations as the scalar form (bit-identical values; ties go to the earliest candidate).
 *
 * Speed (bench/serve_page.c): the member's top K candidates are found with a sampled
 * threshold, then a stable radix sort of the score halves of the (title-ordered) keys, which
 * is the exact (score descending, title ascending) order; each candidate row keeps a cursor
 * past its banned prefix; the JSON writer copies prepared title JSON with prefetches and
 * escapes each distinct evidence string once. tests/serve/test_serve_page_golden.c pins the output
 * byte for byte to the straightforward implementation's.
 *
 * Memory: an mq_page_ctx holds scratch arrays sized to the catalog and a bump arena for the
 * page, reused across builds: a steady-state build does no heap allocation. Not thread-safe;
 * one per request at a time.
 */
#include "serve/serve.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK (256 * 1024)
#define MAX_CAND_ROWS 64
#define MAX_SEEDS 18
#define MAX_GENRE_ROWS 8

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_block;

typedef struct cand_row {
    int kind;
    char id[MQ_ID_MAX + 32];
    const char *name, *reason, *evidence;   /* evidence: one per row, or NULL = per title */
    const int32_t *order;                   /* candidates in row order */
    const float *rscore;                    /* their row scores in [0,1] (parallel to order) */
    int n;
    int skip;                               /* order[0 .. skip) are all on the page or banned */
    double prior;
    bool done;
} cand_row;

enum { K_CW, K_TOP, K_BYW, K_TREND, K_NEW, K_GENRE, K_POP, K_KINDS };
_Static_assert(K_KINDS == MQ_PAGE_ROW_KINDS, "row kinds");
const char *const mq_page_row_kind_names[MQ_PAGE_ROW_KINDS] = {
    "continue_watching", "top_picks", "because_you_watched", "trending", "new_releases", "genre", "popular"};

struct mq_page_ctx {
    arena_block *arena;
    int32_t cap_titles;
    uint8_t *flag;          /* [n] 1 banned, 2 on the page */
    float *rel;             /* [n] */
    float *tmpf;            /* [n] */
    int32_t *tmpi;          /* [n] */
    float *maxsim;          /* MMR pool scratch: max similarity to the row so far */
    uint64_t *gmask;        /* MMR pool scratch: genre sets */
    uint32_t *glo, *ghi;    /* MMR pool scratch: their low and high 32 bits */
    float *gpop;            /* MMR pool scratch: their sizes */
    float *mval;            /* MMR pool scratch: the MMR value, -inf once taken */
    mq_page page;
    int rows_cap, titles_cap;
};

static void *arena_alloc(mq_page_ctx *c, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    arena_block *b = c->arena;
    if (!b || b->used + n > b->cap) {
        size_t cap = MQ_MAX(n, (size_t)ARENA_BLOCK);
        /* reuse the next (already allocated) block if it fits: blocks form a stack */
        arena_block *nb = malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        c->arena = b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

/* Resets the arena, keeping the largest block and freeing the rest: a page that fits once
 * fits again without allocating. */
static void arena_reset(mq_page_ctx *c)
{
    arena_block *keep = NULL;
    for (arena_block *b = c->arena, *nx; b; b = nx) {
        nx = b->next;
        if (!keep || b->cap > keep->cap) {
            if (keep) free(keep);
            keep = b;
        } else {
            free(b);
        }
    }
    if (keep) { keep->next = NULL; keep->used = 0; }
    c->arena = keep;
}

static char *arena_printf(mq_page_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *arena_printf(mq_page_ctx *c, const char *fmt, ...)
{
    char tmp[640];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof tmp) n = sizeof tmp - 1;
    char *p = arena_alloc(c, (size_t)n + 1);
    if (p) memcpy(p, tmp, (size_t)n + 1);
    return p;
}

/* dst (cap bytes) = a b, cut to cap - 1 bytes like snprintf(dst, cap, "%s%s", a, b), without
 * printf's format parsing (a page builds ~150 such strings). */
static void str_cat2(char *dst, size_t cap, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > cap - 1) la = cap - 1;
    if (lb > cap - 1 - la) lb = cap - 1 - la;
    memcpy(dst, a, la);
    memcpy(dst + la, b, lb);
    dst[la + lb] = 0;
}

/* arena_printf(c, "%s%s%s", a, b, d) without the format parsing (same 639-byte cut). */
static char *arena_cat3(mq_page_ctx *c, const char *a, const char *b, const char *d)
{
    char tmp[640];
    str_cat2(tmp, sizeof tmp, a, b);
    size_t n = strlen(tmp), ld = strlen(d);
    if (ld > sizeof tmp - 1 - n) ld = sizeof tmp - 1 - n;
    char *p = arena_alloc(c, n + ld + 1);
    if (p) {
        memcpy(p, tmp, n);
        memcpy(p + n, d, ld);
        p[n + ld] = 0;
    }
    return p;
}

mq_page_ctx *mq_page_ctx_create(void) { return calloc(1, sizeof(mq_page_ctx)); }

void mq_page_ctx_destroy(mq_page_ctx *c)
{
    if (!c) return;
    for (arena_block *b = c->arena, *nx; b; b = nx) { nx = b->next; free(b); }
    free(c->flag);
    free(c->rel);
    free(c->tmpf);
    free(c->tmpi);
    free(c->maxsim);
    free(c->gmask);
    free(c->glo);
    free(c->ghi);
    free(c->gpop);
    free(c->mval);
    free(c->page.rows);
    free(c->page.titles);
    free(c->page.scores);
    free(c->page.evidence);
    free(c);
}

static int ctx_reserve(mq_page_ctx *c, int32_t n, int rows, int titles)
{
    if (n > c->cap_titles) {
        free(c->flag); free(c->rel); free(c->tmpf); free(c->tmpi);
        c->flag = malloc((size_t)n);
        c->rel = malloc((size_t)n * sizeof *c->rel);
        c->tmpf = malloc(((size_t)n + 8) * sizeof *c->tmpf);   /* + the MMR pool's padding */
        c->tmpi = malloc((size_t)n * sizeof *c->tmpi);
        c->cap_titles = n;
        if (!c->flag || !c->rel || !c->tmpf || !c->tmpi) { c->cap_titles = 0; return MQ_ENOMEM; }
    }
    if (rows > c->rows_cap) {
        free(c->page.rows);
        c->page.rows = malloc((size_t)rows * sizeof *c->page.rows);
        c->rows_cap = c->page.rows ? rows : 0;
        if (!c->page.rows) return MQ_ENOMEM;
    }
    if (titles > c->titles_cap) {
        free(c->page.titles); free(c->page.scores); free(c->page.evidence); free(c->maxsim);
        free(c->gmask); free(c->gpop); free(c->mval); free(c->glo); free(c->ghi);
        c->glo = malloc((size_t)titles * 3 * sizeof *c->glo);
        c->ghi = malloc((size_t)titles * 3 * sizeof *c->ghi);
        c->mval = malloc((size_t)titles * 3 * sizeof *c->mval);
        c->gmask = malloc((size_t)titles * 3 * sizeof *c->gmask);
        c->gpop = malloc((size_t)titles * 3 * sizeof *c->gpop);
        c->page.titles = malloc((size_t)titles * sizeof *c->page.titles);
        c->page.scores = malloc((size_t)titles * sizeof *c->page.scores);
        c->page.evidence = malloc((size_t)titles * sizeof *c->page.evidence);
        c->maxsim = malloc((size_t)titles * 3 * sizeof *c->maxsim);
        c->titles_cap = titles;
        if (!c->page.titles || !c->page.scores || !c->page.evidence || !c->maxsim || !c->gmask || !c->gpop ||
            !c->mval || !c->glo || !c->ghi) {
            c->titles_cap = 0;
            return MQ_ENOMEM;
        }
    }
    return 0;
}

/* ---- top-K selection ---- */

typedef struct sv { float s; int32_t t; } sv;


/* Sort keys: (score descending, title ascending) as one ascending uint64, so selection and
 * sorting compare integers inline instead of calling qsort's comparator. */
static inline uint64_t sv_key(float s, int32_t t)
{
    uint32_t u;
    memcpy(&u, &s, 4);
    u = u & 0x80000000u ? ~u : u | 0x80000000u;     /* order-preserving float -> uint */
    return (uint64_t)~u << 32 | (uint32_t)t;
}

static void sort_u64(uint64_t *a, int n)
{
    while (n > 16) {
        uint64_t x = a[0], y = a[n / 2], z = a[n - 1];
        uint64_t piv = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
        int i = 0, j = n - 1;
        for (;;) {
            while (a[i] < piv) i++;
            while (a[j] > piv) j--;
            if (i >= j) break;
            uint64_t t = a[i]; a[i] = a[j]; a[j] = t;
            i++; j--;
        }
        /* recurse into the smaller side, loop on the larger */
        if (j + 1 < n - j - 1) { sort_u64(a, j + 1); a += j + 1; n -= j + 1; }
        else { sort_u64(a + j + 1, n - j - 1); n = j + 1; }
    }
    for (int i = 1; i < n; i++) {
        uint64_t v = a[i];
        int j = i - 1;
        while (j >= 0 && a[j] > v) { a[j + 1] = a[j]; j--; }
        a[j + 1] = v;
    }
}

/* Moves the k smallest keys of a[0..n) to a[0..k) (Hoare quickselect), then sorts them. */
static void top_k_u64(uint64_t *a, int n, int k)
{
    if (k < n) {
        int lo = 0, hi = n - 1;
        while (lo < hi) {
            uint64_t x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi];
            uint64_t piv = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
            int i = lo, j = hi;
            while (i <= j) {
                while (a[i] < piv) i++;
                while (a[j] > piv) j--;
                if (i <= j) { uint64_t t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
            }
            if (k - 1 <= j) hi = j;
            else if (k - 1 >= i) lo = i;
            else break;
        }
    }
    sort_u64(a, k < n ? k : n);
}

/* Sorts a[0..n) ascending by the high 32 bits alone, stably (LSD radix, 8 bits a pass, a pass
 * skipped when all keys share its digit); tmp holds n more. When the low halves are ascending
 * in the input, the result is the full 64-bit ascending order. */
static void radix_hi32(uint64_t *a, uint64_t *tmp, int n)
{
    uint32_t cnt[4][256];
    memset(cnt, 0, sizeof cnt);
    for (int i = 0; i < n; i++) {
        uint32_t h = (uint32_t)(a[i] >> 32);
        cnt[0][h & 255]++;
        cnt[1][h >> 8 & 255]++;
        cnt[2][h >> 16 & 255]++;
        cnt[3][h >> 24]++;
    }
    uint64_t *src = a, *dst = tmp;
    for (int pass = 0; pass < 4; pass++) {
        uint32_t *cp = cnt[pass];
        int shift = 32 + 8 * pass;
        if (n == 0 || cp[(src[0] >> shift) & 255] == (uint32_t)n) continue;
        uint32_t sum = 0;
        for (int d = 0; d < 256; d++) { uint32_t x = cp[d]; cp[d] = sum; sum += x; }
        for (int i = 0; i < n; i++) dst[cp[(src[i] >> shift) & 255]++] = src[i];
        uint64_t *x = src; src = dst; dst = x;
    }
    if (src != a) memcpy(a, src, (size_t)n * sizeof *a);
}

/* ---- helpers ---- */

static const char *title_name(const mq_page_catalog *pc, int32_t t)
{
    const char *n = pc->catalog && pc->catalog->names ? pc->catalog->names[t] : NULL;
    return n ? n : pc->title_ids[t];
}

static uint64_t title_genres(const mq_page_catalog *pc, int32_t t)
{
    return pc->catalog && pc->catalog->genres ? pc->catalog->genres[t] : 0;
}

/* Portable popcount (SWAR) so the build does not depend on -mpopcnt. */
static inline int popc(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return (int)((x * 0x0101010101010101ULL) >> 56);
}


static const char *genre_name(const mq_page_catalog *pc, int g)
{
    return pc->catalog && g < pc->catalog->n_genres && pc->catalog->genre_names[g]
               ? pc->catalog->genre_names[g] : "?";
}

/* ---- the builder ---- */

typedef struct builder {
    mq_page_ctx *c;
    const mq_page_catalog *pc;
    const mq_page_req *req;
    cand_row rows[MAX_CAND_ROWS + 1];
    int n_rows;
    int n_total;
    bool cold;
    double disc[101];       /* 1 / log2(j + 2) */
    double disc_sum;        /* over per_row slots */
    /* the member's history, newest first; the Continue Watching titles among it */
    const mq_page_hist **hs;
    int n_hs;
    int32_t *cw;
    float *cw_score;
    int n_cw;
    /* the best-scored candidates (relevance), best first */
    sv *top;
    int n_top;
} builder;

static cand_row *add_row(builder *b, int kind, double prior)
{
    /* at most 1 + 1 + MAX_SEEDS + 2 + MAX_GENRE_ROWS + 1 rows are added: never full */
    cand_row *r = &b->rows[b->n_rows < MAX_CAND_ROWS ? b->n_rows++ : MAX_CAND_ROWS];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->prior = prior * (b->req->row_prior ? b->req->row_prior[kind] : 1.0);
    return r;
}

/* Value of title t in row r at candidate position j. */
static inline float value_of(const builder *b, const cand_row *r, int j)
{
    float rs = r->rscore ? r->rscore[j] : b->c->rel[r->order[j]];
    return b->cold ? rs : 0.5f * rs + 0.5f * b->c->rel[r->order[j]];
}

static double row_utility(const builder *b, cand_row *r, int same_kind)
{
    int per = b->req->per_row, got = 0;
    double num = 0, den = b->disc_sum;
    const uint8_t *flag = b->c->flag;
    /* flags only ever get set while rows are chosen: a banned prefix stays banned */
    int j = r->skip;
    while (j < r->n && flag[r->order[j]]) j++;
    r->skip = j;
    for (; j < r->n && got < per; j++) {
        if (flag[r->order[j]]) continue;
        num += b->disc[got] * value_of(b, r, j);
        got++;
    }
    int min_fill = per < 4 ? per : (per + 3) / 4;
    if (got < min_fill) return -1;
    double u = r->prior * num / den;
    for (int i = 0; i < same_kind; i++) u *= 0.85;
    return u;
}

/* ---- MMR kernels over 4-wide vectors ---- */

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef uint32_t v4u __attribute__((vector_size(16)));

static inline v4f ld4f(const float *p) { v4f v; memcpy(&v, p, sizeof v); return v; }
static inline v4u ld4u(const uint32_t *p) { v4u v; memcpy(&v, p, sizeof v); return v; }
static inline void st4f(float *p, v4f v) { memcpy(p, &v, sizeof v); }
/* m ? a : b per lane, m all ones or all zeros */
static inline v4f sel4f(v4i m, v4f a, v4f b) { return (v4f)((m & (v4i)a) | (~m & (v4i)b)); }
static inline v4i sel4i(v4i m, v4i a, v4i b) { return (m & a) | (~m & b); }

static inline v4u popc4(v4u x)
{
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0f0f0f0fu;
    x = x + (x >> 8);
    x = x + (x >> 16);
    return x & 0x3fu;
}

/* Merges n lanes' first maxima (values bv, indices bi; -1 = none) into the overall first
 * maximum (ties to the lowest index). */
static inline int lanes_best_n(const float *bv, const int32_t *bi, int n)
{
    int best = -1;
    float bb = -__builtin_inff();
    for (int l = 0; l < n; l++)
        if (bi[l] >= 0 && (best < 0 || bv[l] > bb || (bv[l] == bb && bi[l] < best))) {
            best = bi[l];
            bb = bv[l];
        }
    return best;
}

static inline int lanes_best(v4f bv, v4i bi)
{
    float v[4];
    int32_t i[4];
    memcpy(v, &bv, sizeof v);
    memcpy(i, &bi, sizeof i);
    return lanes_best_n(v, i, 4);
}

/* Index of the largest mv[0 .. n) (n a multiple of 4), ties to the lowest index: four lanes
 * keep their first maximum (strict >), then the lanes are merged with the same rule. */
static int mmr_argmax(const float *mv, int n)
{
    const float ninf = -__builtin_inff();
    v4f bv = {ninf, ninf, ninf, ninf};
    v4i bi = {-1, -1, -1, -1}, idx = {0, 1, 2, 3}, four = {4, 4, 4, 4};
    for (int i = 0; i < n; i += 4) {
        v4f v = ld4f(mv + i);
        v4i m = v > bv;
        bv = sel4f(m, v, bv);
        bi = sel4i(m, idx, bi);
        idx += four;
    }
    return lanes_best(bv, bi);
}

/* Folds a new pick (genre set g of size gpb) into every pool entry's max similarity ms and
 * MMR value mv = lf pv - mf ms (taken entries keep -inf), and returns the next argmax of mv
 * (as mmr_argmax) from the same pass. Jaccard |a & b| / (|a| + |b| - |a & b|) with the sizes
 * kept; computed lane-wise with the same float operations, in the same order, as the scalar
 * form, so the values are bit-identical. */
static inline __attribute__((always_inline)) int
mmr_fold_k(uint64_t g, float gpb, const uint32_t *glo, const uint32_t *ghi, const float *gp,
           const float *pv, float *ms, float *mv, int n, float lf, float mf, bool hi)
{
    const float ninf = -__builtin_inff();
    v4u glv = {(uint32_t)g, (uint32_t)g, (uint32_t)g, (uint32_t)g};
    v4u ghv = {(uint32_t)(g >> 32), (uint32_t)(g >> 32), (uint32_t)(g >> 32), (uint32_t)(g >> 32)};
    v4f gbv = {gpb, gpb, gpb, gpb}, lv = {lf, lf, lf, lf}, mfv = {mf, mf, mf, mf};
    v4f one = {1, 1, 1, 1}, zero = {0, 0, 0, 0}, ninfv = {ninf, ninf, ninf, ninf};
    v4f bv = ninfv;
    v4i bi = {-1, -1, -1, -1}, idx = {0, 1, 2, 3}, four = {4, 4, 4, 4};
    for (int i = 0; i < n; i += 4) {
        v4u c = popc4(glv & ld4u(glo + i));
        if (hi) c += popc4(ghv & ld4u(ghi + i));
        v4f inter = __builtin_convertvector((v4i)c, v4f);
        v4f uni = gbv + ld4f(gp + i) - inter;
        v4f sv = inter / sel4f(uni > zero, uni, one);
        v4f m0 = ld4f(ms + i);
        v4f m = sel4f(sv > m0, sv, m0);
        v4f v = lv * ld4f(pv + i) - mfv * m;
        v4f old = ld4f(mv + i);
        v4f nv = sel4f(old == ninfv, ninfv, v);
        st4f(ms + i, m);
        st4f(mv + i, nv);
        v4i gt = nv > bv;
        bv = sel4f(gt, nv, bv);
        bi = sel4i(gt, idx, bi);
        idx += four;
    }
    return lanes_best(bv, bi);
}

#if defined(__x86_64__)
#include <immintrin.h>

/* Per 32-bit lane popcount of a & b plus c & d: nibble lookups (pshufb), byte sums, then
 * pairwise widening sums. Exact. */
__attribute__((target("avx2"))) static inline __m256i popc2_avx2(__m256i a, __m256i b, __m256i c,
                                                                   __m256i d)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256i x = _mm256_and_si256(a, b), y = _mm256_and_si256(c, d);
    __m256i cnt = _mm256_add_epi8(
        _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(x, m4)),
                        _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x, 4), m4))),
        _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(y, m4)),
                        _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(y, 4), m4))));
    cnt = _mm256_maddubs_epi16(cnt, _mm256_set1_epi8(1));
    return _mm256_madd_epi16(cnt, _mm256_set1_epi16(1));
}

/* mmr_fold_k eight entries at a time (n a multiple of 8), with the same float operations in
 * the same order (no fused multiply-adds), so every value is bit-identical to it. */
__attribute__((target("avx2"))) static int mmr_fold_avx2(uint64_t g, float gpb, const uint32_t *glo,
                                                         const uint32_t *ghi, const float *gp,
                                                         const float *pv, float *ms, float *mv,
                                                         int n, float lf, float mf)
{
    const __m256i glv = _mm256_set1_epi32((int32_t)(uint32_t)g);
    const __m256i ghv = _mm256_set1_epi32((int32_t)(uint32_t)(g >> 32));
    const __m256 gbv = _mm256_set1_ps(gpb), lv = _mm256_set1_ps(lf), mfv = _mm256_set1_ps(mf);
    const __m256 one = _mm256_set1_ps(1), zero = _mm256_setzero_ps();
    const __m256 ninfv = _mm256_set1_ps(-__builtin_inff());
    __m256 bv = ninfv;
    __m256i bi = _mm256_set1_epi32(-1), idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i eight = _mm256_set1_epi32(8);
    for (int i = 0; i < n; i += 8) {
        __m256i c = popc2_avx2(glv, _mm256_loadu_si256((const __m256i *)(glo + i)), ghv,
                               _mm256_loadu_si256((const __m256i *)(ghi + i)));
        __m256 inter = _mm256_cvtepi32_ps(c);
        __m256 uni = _mm256_sub_ps(_mm256_add_ps(gbv, _mm256_loadu_ps(gp + i)), inter);
        __m256 sv = _mm256_div_ps(inter, _mm256_blendv_ps(one, uni, _mm256_cmp_ps(uni, zero, _CMP_GT_OQ)));
        __m256 m0 = _mm256_loadu_ps(ms + i);
        __m256 m = _mm256_blendv_ps(m0, sv, _mm256_cmp_ps(sv, m0, _CMP_GT_OQ));
        __m256 v = _mm256_sub_ps(_mm256_mul_ps(lv, _mm256_loadu_ps(pv + i)), _mm256_mul_ps(mfv, m));
        __m256 old = _mm256_loadu_ps(mv + i);
        __m256 nv = _mm256_blendv_ps(v, ninfv, _mm256_cmp_ps(old, ninfv, _CMP_EQ_OQ));
        _mm256_storeu_ps(ms + i, m);
        _mm256_storeu_ps(mv + i, nv);
        __m256 gt = _mm256_cmp_ps(nv, bv, _CMP_GT_OQ);
        bv = _mm256_blendv_ps(bv, nv, gt);
        bi = _mm256_blendv_epi8(bi, idx, _mm256_castps_si256(gt));
        idx = _mm256_add_epi32(idx, eight);
    }
    /* lanes_best_n without branches: the largest value, then the lowest index holding it
     * (a lane holds an index only if its value beat -inf, so valid lanes are the finite ones) */
    __m256 mx = _mm256_max_ps(bv, _mm256_permute2f128_ps(bv, bv, 1));
    mx = _mm256_max_ps(mx, _mm256_permute_ps(mx, 0x4e));
    mx = _mm256_max_ps(mx, _mm256_permute_ps(mx, 0xb1));
    __m256i at = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(bv, mx, _CMP_EQ_OQ)),
                                  _mm256_cmpgt_epi32(bi, _mm256_set1_epi32(-1)));
    __m256i cand = _mm256_blendv_epi8(_mm256_set1_epi32(INT32_MAX), bi, at);
    __m256i mn = _mm256_min_epi32(cand, _mm256_permute2x128_si256(cand, cand, 1));
    mn = _mm256_min_epi32(mn, _mm256_shuffle_epi32(mn, 0x4e));
    mn = _mm256_min_epi32(mn, _mm256_shuffle_epi32(mn, 0xb1));
    int32_t best = _mm256_cvtsi256_si32(mn);
    return best == INT32_MAX ? -1 : best;
}
#endif

/* The fold, specialized: with AVX2, eight entries at a time; else a pick without genres
 * above bit 31 shares none there either, so the high half's popcount (0) is skipped, which
 * leaves every value unchanged. n is a multiple of 8. */
static int mmr_fold(uint64_t g, float gpb, const uint32_t *glo, const uint32_t *ghi,
                    const float *gp, const float *pv, float *ms, float *mv, int n, float lf,
                    float mf)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) return mmr_fold_avx2(g, gpb, glo, ghi, gp, pv, ms, mv, n, lf, mf);
#endif
    if (g >> 32) return mmr_fold_k(g, gpb, glo, ghi, gp, pv, ms, mv, n, lf, mf, true);
    return mmr_fold_k(g, gpb, glo, ghi, gp, pv, ms, mv, n, lf, mf, false);
}

/* Fills the chosen row into the page with MMR; marks its titles used.
 *
 * The pool stays in candidate order and a taken title's MMR value becomes -inf, so the
 * argmax with a strict > picks, among equal values, the earliest candidate (the tie rule) in
 * one plain scan. Each candidate's value lambda v - (1 - lambda) maxsim is recomputed only
 * when its maxsim grows, and only titles sharing a genre with the new pick can have it grow
 * (Jaccard 0 otherwise). */
static int fill_row(builder *b, cand_row *r)
{
    mq_page_ctx *c = b->c;
    const mq_page_catalog *pc = b->pc;
    int per = b->req->per_row;
    int pool_cap = 3 * per;
    /* the pool: the first 3 x per_row unused candidates (tmpi holds positions in r->order) */
    int32_t *pool = c->tmpi;
    float *pv = c->tmpf, *ms = c->maxsim, *gp = c->gpop, *mv = c->mval;
    uint64_t *gm = c->gmask;
    int np = 0;
    for (int j = r->skip; j < r->n && np < pool_cap; j++) {
        if (c->flag[r->order[j]]) continue;
        c->flag[r->order[j]] = 4;               /* in the pool: skip repeats */
        pool[np] = j;
        pv[np] = value_of(b, r, j);
        ms[np] = 0;
        gm[np] = title_genres(pc, r->order[j]);
        gp[np] = (float)popc(gm[np]);
        np++;
    }
    for (int i = 0; i < np; i++) c->flag[r->order[pool[i]]] = 0;
    mq_page *p = &c->page;
    mq_page_row *row = &p->rows[p->n_rows];
    str_cat2(row->id, sizeof row->id, r->id, "");
    str_cat2(row->name, sizeof row->name, r->name, "");
    str_cat2(row->reason, sizeof row->reason, r->reason, "");
    row->first = b->n_total;
    row->n = 0;
    double lam = b->req->mmr_lambda;
    bool mmr = lam < 1.0 && r->kind != K_CW;
    float lf = (float)lam, mf = (float)(1 - lam);
    const char *ev = r->evidence ? r->evidence : r->kind == K_CW ? "Continue watching" : "Recommended for you";
    int take = per < np ? per : np;
    const float ninf = -__builtin_inff();
    /* the MMR scans run four pool entries at a time (GCC/Clang vector types: SSE2 on x86-64,
     * NEON on arm64; eight at a time with AVX2); the pool is padded to a multiple of 8 with
     * entries never chosen */
    int np8 = (np + 7) & ~7;
    uint32_t *glo = c->glo, *ghi = c->ghi;
    if (mmr) {
        for (int i = np; i < np8; i++) { pv[i] = 0; ms[i] = 0; gm[i] = 0; gp[i] = 0; }
        for (int i = 0; i < np8; i++) {
            mv[i] = i < np ? lf * pv[i] - mf * ms[i] : ninf;
            glo[i] = (uint32_t)gm[i];
            ghi[i] = (uint32_t)(gm[i] >> 32);
        }
    }
    int next = mmr && take > 0 ? mmr_argmax(mv, np8) : 0;
    for (int k = 0; k < take; k++) {
        int best = mmr ? next : k;              /* lambda = 1: take the pool in order */
        int32_t t = r->order[pool[best]];
        int at = b->n_total++;
        p->titles[at] = t;
        p->scores[at] = pv[best];
        p->evidence[at] = ev;
        row->n++;
        c->flag[t] = 2;
        if (!mmr) continue;
        mv[best] = ninf;
        if (k + 1 == take) break;
        uint64_t g = gm[best];
        next = g ? mmr_fold(g, gp[best], glo, ghi, gp, pv, ms, mv, np8, lf, mf)
                 : mmr_argmax(mv, np8);         /* no genres: similarity 0, nothing moves */
    }
    p->n_rows++;
    r->done = true;
    return 0;
}

typedef struct genre_aff { double a; int g; } genre_aff;

static int aff_desc(const void *x, const void *y)
{
    const genre_aff *a = x, *b = y;
    if (a->a != b->a) return a->a < b->a ? 1 : -1;
    return a->g - b->g;
}

static int hist_time_desc(const void *x, const void *y)
{
    const mq_page_hist *a = *(const mq_page_hist *const *)x, *b = *(const mq_page_hist *const *)y;
    if (a->time != b->time) return a->time < b->time ? 1 : -1;
    if (a->weight != b->weight) return a->weight < b->weight ? 1 : -1;
    return a->title - b->title;
}

static void fmt_minutes(char *out, size_t cap, float seconds)
{
    int min = (int)(seconds / 60 + 0.5f);
    if (min >= 60) snprintf(out, cap, "%dh %02dm", min / 60, min % 60);
    else snprintf(out, cap, "%d min", min);
}

/* The keys of the unbanned titles scoring >= cut, in title order; returns their count. Most
 * titles are below the cut: with AVX2 eight are compared at once and only the bits set are
 * visited. */
#if defined(__x86_64__)
__attribute__((target("avx2"))) static int keys_above_cut_avx2(const float *scores, const uint8_t *flag,
                                                               int32_t n, float cut, uint64_t *keys)
{
    __m256 cv = _mm256_set1_ps(cut);
    int m = 0;
    int32_t t0 = 0;
    for (; t0 + 8 <= n; t0 += 8) {
        unsigned bits = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(scores + t0), cv, _CMP_GE_OQ));
        for (; bits; bits &= bits - 1) {
            int32_t t = t0 + __builtin_ctz(bits);
            keys[m] = sv_key(scores[t], t);
            m += !flag[t];
        }
    }
    for (int32_t t = t0; t < n; t++)
        if (scores[t] >= cut && !flag[t]) keys[m++] = sv_key(scores[t], t);
    return m;
}
#endif

static int keys_above_cut(const float *scores, const uint8_t *flag, int32_t n, float cut, uint64_t *keys)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) return keys_above_cut_avx2(scores, flag, n, cut, keys);
#endif
    int m = 0;
    for (int32_t t = 0; t < n; t++)
        if (scores[t] >= cut && !flag[t]) keys[m++] = sv_key(scores[t], t);
    return m;
}

int mq_page_scored_titles(const mq_page_req *req, int32_t n_titles)
{
    if (!req || MQ__OPTS_CHECK(mq_page_req, req, NULL)) return MQ_EINVAL;
    return MQ_MIN(n_titles, MQ_MAX(req->rows * req->per_row + 200, 500));
}

#define NOMEM(err) mq__err_set(err, MQ_ENOMEM, "out of memory building a page")

/* Step 1, bans: history (seen), exclusions, genre filter; history sorted newest first and the
 * Continue Watching candidates (in-progress titles not excluded or filtered out) picked. */
static int page_bans(builder *b, const mq_page_hist *hist, int n_hist, mq_err *err)
{
    mq_page_ctx *c = b->c;
    const mq_page_req *req = b->req;
    int32_t n = b->pc->n_titles;
    uint64_t gmask = req->genre >= 0 ? (uint64_t)1 << req->genre : 0;
    if (gmask)
        for (int32_t t = 0; t < n; t++) c->flag[t] = !(title_genres(b->pc, t) & gmask);
    else
        memset(c->flag, 0, (size_t)n);
    for (int i = 0; i < req->n_exclude; i++)
        if (req->exclude[i] >= 0 && req->exclude[i] < n) c->flag[req->exclude[i]] = 1;
    b->hs = arena_alloc(c, (size_t)MQ_MAX(n_hist, 1) * sizeof *b->hs);
    b->cw = arena_alloc(c, (size_t)MQ_MAX(n_hist, 1) * sizeof *b->cw);
    b->cw_score = arena_alloc(c, (size_t)MQ_MAX(n_hist, 1) * sizeof *b->cw_score);
    if (!b->hs || !b->cw || !b->cw_score) return NOMEM(err);
    const mq_page_hist **hs = b->hs;
    int n_hs = 0, n_cw = 0;
    for (int i = 0; i < n_hist; i++)
        if (hist[i].title >= 0 && hist[i].title < n) hs[n_hs++] = &hist[i];
    qsort(hs, (size_t)n_hs, sizeof *hs, hist_time_desc);
    for (int i = 0; i < n_hs; i++) {
        int32_t t = hs[i]->title;
        if (hs[i]->in_progress && !hs[i]->finished && hs[i]->weight >= 0 && !c->flag[t]) {
            bool dup = false;
            for (int k = 0; k < n_cw && !dup; k++) dup = b->cw[k] == t;
            if (!dup) { b->cw_score[n_cw] = 1.0f; b->cw[n_cw++] = t; }
        }
    }
    /* in-progress titles are banned elsewhere but CW shows them: unbanned for CW only */
    for (int i = 0; i < n_hs; i++) c->flag[hs[i]->title] = 1;
    b->n_hs = n_hs;
    b->n_cw = n_cw;
    return 0;
}

/* Step 2, relevance: the best mq_page_scored_titles() unbanned titles by score, best first, and
 * rel[] = their scores min-max scaled to [0, 1] (0 elsewhere); cold pages use popularity. */
static int page_relevance(builder *b, const float *scores, mq_err *err)
{
    mq_page_ctx *c = b->c;
    const mq_page_req *req = b->req;
    const mq_page_catalog *pc = b->pc;
    int32_t n = pc->n_titles;
    int K = mq_page_scored_titles(req, n);
    b->top = arena_alloc(c, (size_t)MQ_MAX(K, 1) * sizeof *b->top);
    uint64_t *keys = arena_alloc(c, (size_t)MQ_MAX(n, 1) * sizeof *keys);
    if (!b->top || !keys) return NOMEM(err);
    b->n_top = 0;
    if (b->cold) {
        for (int32_t t = 0; t < n; t++) c->rel[t] = pc->popularity[t];
        return 0;
    }
    int n_top = 0;
    if (req->score_cut) {
        n_top = keys_above_cut(scores, c->flag, n, *req->score_cut, keys);
    } else {
        for (int32_t t = 0; t < n; t++)
            if (!c->flag[t] && scores[t] == scores[t]) keys[n_top++] = sv_key(scores[t], t);
    }
    K = MQ_MIN(K, n_top);
    /* Pre-filter: a threshold from an evenly spaced sample of 512 keys, set at about twice
     * the K-th best's rank, keeps ~2K candidates in one predictable pass; quickselect then
     * runs on those. If the sample misleads (fewer than K kept), select from all. */
    if (n_top > 8 * K) {
        uint64_t sample[512];
        int step = n_top / 512;
        for (int i = 0; i < 512; i++) sample[i] = keys[i * step];
        int at = MQ_MIN(511, (int)(2.0 * 512 * K / n_top) + 8);
        top_k_u64(sample, 512, at + 1);     /* only sample[at] is needed */
        uint64_t thr = sample[at];
        uint64_t *kept = arena_alloc(c, (size_t)n_top * sizeof *kept);
        int m = 0;
        if (kept) {
            for (int i = 0; i < n_top; i++) {
                kept[m] = keys[i];
                m += keys[i] <= thr;
            }
            if (m >= K) { keys = kept; n_top = m; }
        }
    }
    /* keys are in title order, so a stable sort on the score half alone orders them
     * fully (score descending, title ascending): an LSD radix sort, no comparisons */
    uint64_t *rtmp = arena_alloc(c, (size_t)MQ_MAX(n_top, 1) * sizeof *rtmp);
    if (rtmp) radix_hi32(keys, rtmp, n_top);
    else top_k_u64(keys, n_top, K);
    n_top = K;
    sv *top = b->top;
    for (int i = 0; i < n_top; i++) {
        int32_t t = (int32_t)(uint32_t)keys[i];
        top[i] = (sv){scores[t], t};
    }
    float hi = n_top ? top[0].s : 1, lo = n_top ? top[n_top - 1].s : 0;
    float span = hi > lo ? hi - lo : 1;
    memset(c->rel, 0, (size_t)n * sizeof *c->rel);
    for (int i = 0; i < n_top; i++) c->rel[top[i].t] = (top[i].s - lo) / span;
    b->n_top = n_top;
    return 0;
}

/* Candidate rows, step 3a: Continue Watching, Top Picks and Because You Watched (recent liked
 * titles as seeds, each distinct). */
static int rows_personal(builder *b, mq_err *err)
{
    mq_page_ctx *c = b->c;
    const mq_page_req *req = b->req;
    const mq_page_catalog *pc = b->pc;
    int32_t n = pc->n_titles;
    if (b->n_cw) {
        cand_row *r = add_row(b, K_CW, 10);
        str_cat2(r->id, sizeof r->id, "continue_watching", "");
        r->name = "Continue Watching";
        r->reason = "Titles you started and have not finished";
        r->order = b->cw;
        r->rscore = b->cw_score;
        r->n = b->n_cw;
        r->evidence = NULL;     /* per title: how far in */
    }
    if (b->cold) return 0;
    int n_top = b->n_top;
    int32_t *ord = arena_alloc(c, (size_t)MQ_MAX(n_top, 1) * sizeof *ord);
    float *rs = arena_alloc(c, (size_t)MQ_MAX(n_top, 1) * sizeof *rs);
    if (!ord || !rs) return NOMEM(err);
    for (int i = 0; i < n_top; i++) { ord[i] = b->top[i].t; rs[i] = c->rel[b->top[i].t]; }
    cand_row *r = add_row(b, K_TOP, 1.0);
    str_cat2(r->id, sizeof r->id, "top_picks", "");
    r->name = "Top Picks for You";
    r->reason = "Ranked for you from everything you have watched";
    r->evidence = "Top pick for you";
    r->order = ord;
    r->rscore = rs;
    r->n = n_top;

    int n_seeds = 0;
    int sim_n = MQ_MIN(n, 3 * req->per_row + 20);
    for (int i = 0; i < b->n_hs && n_seeds < MAX_SEEDS; i++) {
        if (b->hs[i]->weight <= 0 || !pc->similar) continue;
        int32_t seed = b->hs[i]->title;
        bool dup = false;
        for (int k = 0; k < b->n_rows && !dup; k++)
            dup = b->rows[k].kind == K_BYW && b->rows[k].order && b->rows[k].n >= 0 &&
                  strcmp(b->rows[k].id + 20, pc->title_ids[seed]) == 0;
        if (dup) continue;
        int32_t *so = arena_alloc(c, (size_t)sim_n * sizeof *so);
        float *ss = arena_alloc(c, (size_t)sim_n * sizeof *ss);
        if (!so || !ss) return NOMEM(err);
        int got = pc->similar(pc->similar_user, seed, sim_n, so, ss);
        if (got <= 0) continue;
        float smax = ss[0] > 0 ? ss[0] : 1;
        for (int k = 0; k < got; k++) ss[k] = ss[k] > 0 ? ss[k] / smax : 0;
        r = add_row(b, K_BYW, 0.95 * (1.0 - 0.04 * n_seeds));
        str_cat2(r->id, sizeof r->id, "because_you_watched:", pc->title_ids[seed]);
        const char *nm = title_name(pc, seed);
        r->name = arena_cat3(c, "Because You Watched ", nm, "");
        r->reason = arena_cat3(c, "Titles similar to ", nm, ", which you watched");
        r->evidence = arena_cat3(c, "Because you watched ", nm, "");
        r->order = so;
        r->rscore = ss;
        r->n = got;
        n_seeds++;
    }
    return 0;
}

/* Step 3b: Trending Now (prime time raises it) and New Releases (mornings raise it), ordered
 * by the member's relevance (cold: popularity). */
static int rows_trending_new(builder *b, mq_err *err)
{
    mq_page_ctx *c = b->c;
    const mq_page_req *req = b->req;
    const mq_page_catalog *pc = b->pc;
    const mq_catalog *cat = pc->catalog;
    int32_t n = pc->n_titles;
    int hour = req->hour;
    double prime = hour >= 18 && hour <= 23 ? 1.1 : 1.0;
    double morning = hour >= 6 && hour <= 11 ? 1.1 : 1.0;
    cand_row *r = add_row(b, K_TREND, (b->cold ? 1.0 : 0.8) * prime);
    str_cat2(r->id, sizeof r->id, "trending", "");
    r->name = "Trending Now";
    r->reason = "Most watched recently, weighted toward the last days";
    r->evidence = "Trending now";
    r->order = pc->trend_order;
    /* row score = trending, via a copy in order */
    float *ts = arena_alloc(c, (size_t)MQ_MAX(n, 1) * sizeof *ts);
    if (!ts) return NOMEM(err);
    int m = MQ_MIN(n, 3 * req->per_row * req->rows + 200);
    for (int k = 0; k < m; k++) ts[k] = pc->trending[pc->trend_order[k]];
    r->rscore = ts;
    r->n = m;
    if (pc->n_new <= 0) return 0;
    r = add_row(b, K_NEW, (b->cold ? 0.85 : 0.75) * morning);
    str_cat2(r->id, sizeof r->id, "new_releases", "");
    r->name = "New Releases";
    int y = cat && cat->years ? cat->years[pc->new_order[pc->n_new - 1]] : 0;
    r->reason = y ? arena_printf(c, "Released in %d or later", y) : "Recently released";
    uint64_t *nv = arena_alloc(c, (size_t)pc->n_new * sizeof *nv);
    int32_t *no = arena_alloc(c, (size_t)pc->n_new * sizeof *no);
    float *ns = arena_alloc(c, (size_t)pc->n_new * sizeof *ns);
    if (!nv || !no || !ns) return NOMEM(err);
    for (int k = 0; k < pc->n_new; k++) {
        int32_t t = pc->new_order[k];
        float fr = pc->fresh ? pc->fresh[t] : 0;     /* titles new to the catalog lead */
        nv[k] = sv_key((b->cold ? pc->popularity[t] : c->rel[t] + 0.01f * pc->popularity[t]) + fr, t);
    }
    sort_u64(nv, pc->n_new);
    for (int k = 0; k < pc->n_new; k++) {
        no[k] = (int32_t)(uint32_t)nv[k];
        ns[k] = pc->fresh ? MQ_MAX(pc->popularity[no[k]], pc->fresh[no[k]]) : pc->popularity[no[k]];
    }
    r->order = no;
    r->rscore = ns;
    r->n = pc->n_new;
    r->evidence = NULL;     /* per title: the year */
    return 0;
}

/* Step 3c: genre rows for the member's strongest genres (lift of their history's genre mix over
 * the catalog's; cold: the biggest genres), each the member's top candidates in that genre and
 * then the genre's popular titles. */
static int rows_genre(builder *b, mq_err *err)
{
    mq_page_ctx *c = b->c;
    const mq_page_req *req = b->req;
    const mq_page_catalog *pc = b->pc;
    const mq_catalog *cat = pc->catalog;
    int32_t n = pc->n_titles;
    const sv *top = b->top;
    int n_top = b->n_top, n_hs = b->n_hs;
    const mq_page_hist **hs = b->hs;
    if (!cat || cat->n_genres <= 0 || !pc->genre_ptr) return 0;
    int ng = cat->n_genres;
    /* the top candidates' genre sets, gathered once for all genre rows */
    uint64_t *tg = arena_alloc(c, (size_t)MQ_MAX(n_top, 1) * sizeof *tg);
    if (!tg) return NOMEM(err);
    for (int k = 0; k < n_top; k++) tg[k] = title_genres(pc, top[k].t);
    /* the top candidates bucketed by genre, in top order (one pass for all genre rows) */
    int32_t gb_ptr[MQ_MAX_GENRES + 1] = {0}, gb_fill[MQ_MAX_GENRES];
    uint64_t known = ng >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << ng) - 1;
    for (int k = 0; k < n_top; k++)
        for (uint64_t x = tg[k] & known; x; x &= x - 1) gb_ptr[__builtin_ctzll(x) + 1]++;
    for (int g = 0; g < ng; g++) gb_ptr[g + 1] += gb_ptr[g];
    int32_t *gb_t = arena_alloc(c, (size_t)MQ_MAX(gb_ptr[ng], 1) * sizeof *gb_t);
    float *gb_rel = arena_alloc(c, (size_t)MQ_MAX(gb_ptr[ng], 1) * sizeof *gb_rel);
    if (!gb_t || !gb_rel) return NOMEM(err);
    memcpy(gb_fill, gb_ptr, sizeof gb_fill);
    for (int k = 0; k < n_top; k++)
        for (uint64_t x = tg[k] & known; x; x &= x - 1) {
            int g = __builtin_ctzll(x);
            gb_t[gb_fill[g]] = top[k].t;
            gb_rel[gb_fill[g]++] = c->rel[top[k].t];
        }
    /* which titles have rel > 0, as a bitmap */
    size_t words = ((size_t)n + 63) / 64;
    uint64_t *relbit = arena_alloc(c, MQ_MAX(words, (size_t)1) * sizeof *relbit);
    if (!relbit) return NOMEM(err);
    memset(relbit, 0, words * sizeof *relbit);
    for (int k = 0; k < n_top; k++)
        if (c->rel[top[k].t] > 0) relbit[top[k].t >> 6] |= (uint64_t)1 << (top[k].t & 63);
    genre_aff aff[MQ_MAX_GENRES];
    double total = 0;
    for (int g = 0; g < ng; g++) aff[g] = (genre_aff){0, g};
    if (!b->cold) {
        for (int i = 0; i < n_hs; i++) {
            if (hs[i]->weight <= 0) continue;
            uint64_t gs = title_genres(pc, hs[i]->title);
            double w = hs[i]->weight / (1.0 + 0.02 * i);
            for (int g = 0; g < ng; g++)
                if (gs >> g & 1) { aff[g].a += w; total += w; }
        }
        /* lift over the genre's share of the catalog, damped */
        for (int g = 0; g < ng; g++) {
            double share = (double)(pc->genre_ptr[g + 1] - pc->genre_ptr[g]) / (n ? n : 1);
            aff[g].a = aff[g].a > 0 ? aff[g].a / __builtin_sqrt(share + 1e-3) : 0;
        }
    } else {
        for (int g = 0; g < ng; g++) aff[g].a = pc->genre_ptr[g + 1] - pc->genre_ptr[g];
    }
    qsort(aff, (size_t)ng, sizeof *aff, aff_desc);
    /* A row is only ever read up to its first 3 x per_row titles that are neither banned
     * nor on the page, and at most n_hs + exclusions + rows x per_row titles are: a genre
     * list (no title twice) longer than that changes nothing. */
    int gmax = n_hs + req->n_exclude + req->rows * req->per_row + 3 * req->per_row;
    int made = 0;
    for (int i = 0; i < ng && made < MAX_GENRE_ROWS; i++) {
        int g = aff[i].g;
        if (aff[i].a <= 0) break;
        if (req->genre >= 0 && g != req->genre) continue;
        int glen = pc->genre_ptr[g + 1] - pc->genre_ptr[g];
        if (glen <= 0) continue;
        const char *gname = genre_name(pc, g);
        if (!strcmp(gname, "(no genres listed)")) continue;
        int32_t *go;
        float *gs;
        int m = 0;
        uint64_t bit = (uint64_t)1 << g;
        if (!b->cold) {
            /* the member's top candidates in this genre, then the genre's popular ones */
            go = arena_alloc(c, (size_t)(n_top + glen) * sizeof *go);
            gs = arena_alloc(c, (size_t)(n_top + glen) * sizeof *gs);
            if (!go || !gs) return NOMEM(err);
            m = MQ_MIN(gb_ptr[g + 1] - gb_ptr[g], gmax);
            memcpy(go, gb_t + gb_ptr[g], (size_t)m * sizeof *go);
            memcpy(gs, gb_rel + gb_ptr[g], (size_t)m * sizeof *gs);
            /* the titles with rel > 0 are already listed above (relbit: L1-resident);
             * branch-free: a listed title's slot is overwritten by the next one */
            const int32_t *gi = pc->genre_idx + pc->genre_ptr[g];
            for (int k = 0; k < glen && m < gmax; k++) {
                int32_t t = gi[k];
                go[m] = t;
                gs[m] = 0.5f * pc->popularity[t];
                m += !(relbit[t >> 6] >> (t & 63) & 1);
            }
        } else {
            go = (int32_t *)pc->genre_idx + pc->genre_ptr[g];
            gs = arena_alloc(c, (size_t)glen * sizeof *gs);
            if (!gs) return NOMEM(err);
            m = MQ_MIN(glen, gmax);
            for (int k = 0; k < m; k++) gs[k] = pc->popularity[go[k]];
        }
        cand_row *r = add_row(b, K_GENRE, b->cold ? 0.8 : 0.85);
        str_cat2(r->id, sizeof r->id, "genre:", gname);
        r->name = gname;
        if (b->cold) {
            r->reason = arena_cat3(c, "The most popular ", gname, " titles");
            r->evidence = arena_cat3(c, "Popular in ", gname, "");
        } else {
            double raw = 0;
            for (int k = 0; k < n_hs; k++)
                if (hs[k]->weight > 0 && (title_genres(pc, hs[k]->title) & bit))
                    raw += hs[k]->weight / (1.0 + 0.02 * k);
            r->reason = arena_printf(c, "You watch a lot of %s (%.0f%% of your genre mix)",
                                     gname, total > 0 ? 100.0 * raw / total : 0.0);
            r->evidence = arena_cat3(c, "Because you like ", gname, "");
        }
        r->order = go;
        r->rscore = gs;
        r->n = m;
        made++;
    }
    return 0;
}

/* Step 3d: Popular on Marquee, the fallback every page can fill. */
static int row_popular(builder *b, mq_err *err)
{
    const mq_page_catalog *pc = b->pc;
    cand_row *r = add_row(b, K_POP, b->cold ? 0.95 : 0.6);
    str_cat2(r->id, sizeof r->id, "popular", "");
    r->name = "Popular on Marquee";
    r->reason = "The most watched titles";
    r->evidence = "Popular on Marquee";
    int m = MQ_MIN(pc->n_titles, 3 * b->req->per_row * b->req->rows + 200);
    float *ps = arena_alloc(b->c, (size_t)MQ_MAX(m, 1) * sizeof *ps);
    if (!ps) return NOMEM(err);
    for (int k = 0; k < m; k++) ps[k] = pc->popularity[pc->pop_order[k]];
    r->order = pc->pop_order;
    r->rscore = ps;
    r->n = m;
    return 0;
}

/* Step 4, greedy row selection: Continue Watching first (its titles are flagged as history: it
 * is let see them), then the row of highest utility until the page has its rows. */
static void choose_rows(builder *b)
{
    mq_page_ctx *c = b->c;
    const mq_catalog *cat = b->pc->catalog;
    int same[K_KINDS] = {0};
    char buf[64];
    if (b->n_cw) {
        for (int k = 0; k < b->n_cw; k++) c->flag[b->cw[k]] = 0;
        fill_row(b, &b->rows[0]);
        for (int k = c->page.rows[0].first; k < b->n_total; k++) {
            int32_t t = c->page.titles[k];
            const mq_page_hist *h = NULL;
            for (int i = 0; i < b->n_hs && !h; i++) if (b->hs[i]->title == t) h = b->hs[i];
            fmt_minutes(buf, sizeof buf, h ? h->seconds : 0);
            c->page.evidence[k] = arena_printf(c, "Resume: %s watched", buf);
            c->page.scores[k] = 1.0f;
        }
        for (int k = 0; k < b->n_cw; k++) c->flag[b->cw[k]] = c->flag[b->cw[k]] ? c->flag[b->cw[k]] : 1;
        same[K_CW]++;
    }
    while (c->page.n_rows < b->req->rows) {
        int best = -1;
        double bu = 0;
        for (int i = 0; i < b->n_rows; i++) {
            cand_row *r = &b->rows[i];
            if (r->done || r->kind == K_CW) continue;
            double u = row_utility(b, r, same[r->kind]);
            if (u > bu) { bu = u; best = i; }
        }
        if (best < 0) break;
        cand_row *r = &b->rows[best];
        int first = b->n_total;
        fill_row(b, r);
        same[r->kind]++;
        if (r->kind == K_NEW)
            for (int k = first; k < b->n_total; k++) {
                int y = cat && cat->years ? cat->years[c->page.titles[k]] : 0;
                c->page.evidence[k] = y ? arena_printf(c, "New release (%d)", y) : "New release";
            }
    }
}

int mq_page_build(mq_page_ctx *c, const mq_page_catalog *pc, const float *scores,
                  const mq_page_hist *hist, int n_hist, const mq_page_req *req,
                  const mq_page **out, mq_err *err)
{
    *out = NULL;
    mq_page_req rv; int orc = MQ__OPTS_GET(mq_page_req, &rv, req, err); if (orc) return orc; req = &rv;
    int32_t n = pc->n_titles;
    if (req->rows < 1 || req->rows > 50)
        return mq__err_set(err, MQ_ERANGE, "rows=%d is out of range [1, 50]", req->rows);
    if (req->per_row < 1 || req->per_row > 100)
        return mq__err_set(err, MQ_ERANGE, "per_row=%d is out of range [1, 100]", req->per_row);
    if (!(req->mmr_lambda >= 0 && req->mmr_lambda <= 1))
        return mq__err_set(err, MQ_ERANGE, "mmr=%g is out of range [0, 1]", req->mmr_lambda);
    arena_reset(c);
    if (ctx_reserve(c, MQ_MAX(n, 1), req->rows, req->rows * req->per_row + 3 * req->per_row))
        return NOMEM(err);
    c->page.n_rows = 0;
    builder B;      /* rows[] are set as they are added: no need to clear them */
    builder *b = &B;
    b->c = c;
    b->pc = pc;
    b->req = req;
    b->n_rows = 0;
    b->n_total = 0;
    b->cold = scores == NULL;
    b->disc_sum = 0;
    for (int j = 0; j < req->per_row; j++) {
        b->disc[j] = 1.0 / __builtin_log2(j + 2.0);
        b->disc_sum += b->disc[j];
    }
    int rc;
    if ((rc = page_bans(b, hist, n_hist, err)) || (rc = page_relevance(b, scores, err)) ||
        (rc = rows_personal(b, err)) || (rc = rows_trending_new(b, err)) ||
        (rc = rows_genre(b, err)) || (rc = row_popular(b, err)))
        return rc;
    choose_rows(b);
    c->page.cold = b->cold;
    *out = &c->page;
    return 0;
}

/* ---- JSON ---- */

void mq__page_title_json(const mq_page_catalog *pc, int32_t t, mq_buf *b)
{
    const char *id = pc->title_ids[t];
    mq_buf_puts(b, "\"id\":");
    mq_buf_json_str(b, id, strlen(id));
    const char *nm = title_name(pc, t);
    mq_buf_puts(b, ",\"name\":");
    mq_buf_json_str(b, nm, strlen(nm));
    int y = pc->catalog && pc->catalog->years ? pc->catalog->years[t] : 0;
    if (y) mq_buf_printf(b, ",\"year\":%d", y);
    else mq_buf_puts(b, ",\"year\":null");
    mq_buf_puts(b, ",\"genres\":[");
    uint64_t g = title_genres(pc, t);
    bool first = true;
    for (int k = 0; g && k < 64; k++) {
        if (!(g >> k & 1)) continue;
        if (!first) mq_buf_putc(b, ',');
        first = false;
        const char *gn = genre_name(pc, k);
        mq_buf_json_str(b, gn, strlen(gn));
    }
    mq_buf_putc(b, ']');
}

/* Makes room for n more bytes (plus the NUL mq_buf keeps room for) and returns where they go,
 * or NULL once an allocation failed (then b->oom is set, as mq_buf's own appends do). */
static char *buf_room(mq_buf *b, size_t n)
{
    if (b->oom) return NULL;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return NULL; }
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

/* A score in [0, 1] (clamped) with four decimals, without printf: 6 bytes at w. */
static inline void put_score(char *w, float s)
{
    if (!(s > 0)) s = 0;
    if (s > 1) s = 1;
    int v = (int)(s * 10000.0f + 0.5f);
    w[0] = (char)('0' + v / 10000);
    w[1] = '.';
    w[2] = (char)('0' + v / 1000 % 10);
    w[3] = (char)('0' + v / 100 % 10);
    w[4] = (char)('0' + v / 10 % 10);
    w[5] = (char)('0' + v % 10);
}

#define PUT_LIT(w, s) (memcpy((w), (s), sizeof(s) - 1), (w) += sizeof(s) - 1)

/* The writer copies each title's prepared JSON (title_json, scattered over a catalog-sized
 * buffer: mostly cache misses) with prefetches a few titles ahead, and escapes each distinct
 * evidence string once per page: later titles with the same evidence copy the escaped bytes
 * written earlier in the output. */
void mq__page_json(const mq_page *p, const mq_page_catalog *pc, mq_buf *b)
{
    mq_buf_puts(b, "\"rows\":[");
    const char *pev = NULL;          /* the last evidence escaped, and where it is in b */
    size_t pev_off = 0, pev_len = 0;
    const char *const *tj = pc->title_json;
    const int32_t *tjl = pc->title_json_len;
    for (int r = 0; r < p->n_rows; r++) {
        const mq_page_row *row = &p->rows[r];
        if (r) mq_buf_putc(b, ',');
        mq_buf_puts(b, "{\"id\":");
        mq_buf_json_str(b, row->id, strlen(row->id));
        mq_buf_puts(b, ",\"name\":");
        mq_buf_json_str(b, row->name, strlen(row->name));
        mq_buf_puts(b, ",\"reason\":");
        mq_buf_json_str(b, row->reason, strlen(row->reason));
        mq_buf_puts(b, ",\"titles\":[");
        int end = row->first + row->n;
        if (tj)
            for (int k = row->first; k < end && k < row->first + 4; k++)
                __builtin_prefetch(tj[p->titles[k]]);
        for (int k = row->first; k < end; k++) {
            int32_t t = p->titles[k];
            if (tj && k + 4 < end) {
                int32_t u = p->titles[k + 4];
                __builtin_prefetch(tj[u]);
                __builtin_prefetch(tj[u] + 64);
            }
            const char *ev = p->evidence[k];
            bool same_ev = pev && (ev == pev || !strcmp(ev, pev));
            const char *art = p->artwork ? p->artwork[k] : NULL;
            size_t al = art ? strlen(art) : 0;
            if (tj && same_ev) {
                /* the fast path: one reservation, then plain copies */
                size_t jl = (size_t)tjl[t];
                char *w = buf_room(b, jl + pev_len + al + 48);
                if (!w) return;
                char *w0 = w;
                if (k > row->first) *w++ = ',';
                *w++ = '{';
                memcpy(w, tj[t], jl);
                w += jl;
                PUT_LIT(w, ",\"score\":");
                put_score(w, p->scores[k]);
                w += 6;
                PUT_LIT(w, ",\"evidence\":");
                memcpy(w, b->p + pev_off, pev_len);
                w += pev_len;
                if (art) {
                    PUT_LIT(w, ",\"artwork\":");
                    memcpy(w, art, al);
                    w += al;
                }
                *w++ = '}';
                b->len += (size_t)(w - w0);
                continue;
            }
            if (k > row->first) mq_buf_putc(b, ',');
            mq_buf_putc(b, '{');
            if (tj) mq_buf_put(b, tj[t], (size_t)tjl[t]);
            else mq__page_title_json(pc, t, b);
            mq_buf_puts(b, ",\"score\":");
            char sc[6];
            put_score(sc, p->scores[k]);
            mq_buf_put(b, sc, 6);
            mq_buf_puts(b, ",\"evidence\":");
            if (same_ev) {
                char *w = buf_room(b, pev_len);
                if (!w) return;
                memcpy(w, b->p + pev_off, pev_len);
                b->len += pev_len;
            } else {
                size_t at = b->len;
                mq_buf_json_str(b, ev, strlen(ev));
                pev = ev;
                pev_off = at;
                pev_len = b->len - at;
            }
            if (art) {
                mq_buf_puts(b, ",\"artwork\":");
                mq_buf_put(b, art, al);
            }
            mq_buf_putc(b, '}');
        }
        mq_buf_puts(b, "]}");
    }
    mq_buf_putc(b, ']');
}

/* ---- the shared page catalog ---- */

typedef struct pc_owned {
    float *pop, *trend;
    int32_t *pop_order, *trend_order, *new_order, *genre_ptr, *genre_idx, *json_len;
    char **json;
    mq_buf json_buf;
} pc_owned;


static int by_key_desc(const void *a, const void *b, void *ctx)
{
    const float *k = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (k[x] != k[y]) return k[x] < k[y] ? 1 : -1;
    return (x > y) - (x < y);
}

typedef struct new_ctx { const int32_t *years; const float *pop; } new_ctx;
static int by_year_pop(const void *a, const void *b, void *ctx)
{
    const new_ctx *c = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (c->years[x] != c->years[y]) return c->years[x] < c->years[y] ? 1 : -1;
    if (c->pop[x] != c->pop[y]) return c->pop[x] < c->pop[y] ? 1 : -1;
    return (x > y) - (x < y);
}

static void normalize(float *dst, const float *src, int32_t n)
{
    float mx = 0;
    for (int32_t t = 0; t < n; t++) {
        float v = src ? src[t] : 0;
        dst[t] = v > 0 && v == v ? v : 0;
        if (dst[t] > mx) mx = dst[t];
    }
    if (mx > 0)
        for (int32_t t = 0; t < n; t++) dst[t] /= mx;
}

int mq_page_catalog_init(mq_page_catalog *pc, int32_t n, const mq_catalog *cat,
                         const char *const *title_ids, const float *popularity,
                         const float *trending, mq_err *err)
{

    memset(pc, 0, sizeof *pc);
    pc_owned *o = calloc(1, sizeof *o);
    if (!o) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    pc->owned = o;
    size_t N = (size_t)MQ_MAX(n, 1);
    int ng = cat ? cat->n_genres : 0;
    o->pop = malloc(N * sizeof(float));
    o->trend = malloc(N * sizeof(float));
    o->pop_order = malloc(N * sizeof(int32_t));
    o->trend_order = malloc(N * sizeof(int32_t));
    o->new_order = malloc(N * sizeof(int32_t));
    o->genre_ptr = calloc((size_t)ng + 1, sizeof(int32_t));
    o->json = malloc(N * sizeof(char *));
    o->json_len = malloc(N * sizeof(int32_t));
    if (!o->pop || !o->trend || !o->pop_order || !o->trend_order || !o->new_order ||
        !o->genre_ptr || !o->json || !o->json_len) {
        mq_page_catalog_release(pc);
        return mq__err_set(err, MQ_ENOMEM, "out of memory");
    }
    normalize(o->pop, popularity, n);
    normalize(o->trend, trending ? trending : popularity, n);
    for (int32_t t = 0; t < n; t++) o->pop_order[t] = o->trend_order[t] = t;
    qsort_r(o->pop_order, (size_t)n, sizeof(int32_t), by_key_desc, o->pop);
    qsort_r(o->trend_order, (size_t)n, sizeof(int32_t), by_key_desc, o->trend);
    /* genre lists by popularity */
    int64_t total = 0;
    for (int32_t k = 0; k < n; k++) {
        uint64_t g = cat && cat->genres ? cat->genres[o->pop_order[k]] : 0;
        for (int b = 0; b < ng; b++) if (g >> b & 1) { o->genre_ptr[b + 1]++; total++; }
    }
    for (int b = 0; b < ng; b++) o->genre_ptr[b + 1] += o->genre_ptr[b];
    o->genre_idx = malloc((size_t)MQ_MAX(total, 1) * sizeof(int32_t));
    if (!o->genre_idx) { mq_page_catalog_release(pc); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    int32_t *fill = calloc((size_t)ng + 1, sizeof(int32_t));
    if (!fill) { mq_page_catalog_release(pc); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    for (int32_t k = 0; k < n; k++) {
        int32_t t = o->pop_order[k];
        uint64_t g = cat && cat->genres ? cat->genres[t] : 0;
        for (int b = 0; b < ng; b++)
            if (g >> b & 1) o->genre_idx[o->genre_ptr[b] + fill[b]++] = t;
    }
    free(fill);
    /* recent releases: newest years until at least 50 titles (titles with a known year) */
    int n_new = 0;
    if (cat && cat->years) {
        int32_t *ord = o->new_order;
        int m = 0;
        for (int32_t t = 0; t < n; t++) if (cat->years[t] > 0) ord[m++] = t;
        new_ctx nc = {cat->years, o->pop};
        qsort_r(ord, (size_t)m, sizeof(int32_t), by_year_pop, &nc);
        while (n_new < m) {
            int y = cat->years[ord[n_new]];
            if (n_new >= 50 && y != cat->years[ord[n_new - 1]]) break;
            n_new++;
        }
    }
    /* title JSON */
    mq_buf_init(&o->json_buf);
    pc->n_titles = n;
    pc->catalog = cat;
    pc->title_ids = title_ids;
    size_t *off = malloc(N * sizeof *off);
    if (!off) { mq_page_catalog_release(pc); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    for (int32_t t = 0; t < n; t++) {
        off[t] = o->json_buf.len;
        mq__page_title_json(pc, t, &o->json_buf);
        o->json_len[t] = (int32_t)(o->json_buf.len - off[t]);
    }
    if (o->json_buf.oom) { free(off); mq_page_catalog_release(pc); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    for (int32_t t = 0; t < n; t++) o->json[t] = o->json_buf.p + off[t];
    free(off);
    pc->popularity = o->pop;
    pc->trending = o->trend;
    pc->pop_order = o->pop_order;
    pc->trend_order = o->trend_order;
    pc->new_order = o->new_order;
    pc->n_new = n_new;
    pc->genre_ptr = o->genre_ptr;
    pc->genre_idx = o->genre_idx;
    pc->title_json = (const char *const *)o->json;
    pc->title_json_len = o->json_len;
    return 0;
}

void mq_page_catalog_release(mq_page_catalog *pc)
{
    pc_owned *o = pc->owned;
    if (o) {
        free(o->pop); free(o->trend); free(o->pop_order); free(o->trend_order);
        free(o->new_order); free(o->genre_ptr); free(o->genre_idx); free(o->json);
        free(o->json_len);
        mq_buf_release(&o->json_buf);
        free(o);
    }
    memset(pc, 0, sizeof *pc);
}
