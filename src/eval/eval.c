/* eval.c: ranking metrics and the offline evaluation loop over held-out members.
 *
 * What: for every held-out member (fold-in history H, targets T), the scorer fills a score per
 * title; the titles of H are removed from the ranking; a size-K heap (K = the largest cut-off)
 * selects the top K in O(n log K) without sorting the catalog; one more pass over the scores
 * places every non-target title against the sorted targets (binary search) to get the full-
 * ranking metrics (MRR, AUC) in O(n log |T|). The formulas are in include/marquee/eval.h and
 * docs/eval.md; recall is normalized by min(k, |T|) and NDCG uses binary gains with a log2
 * discount and an ideal DCG over min(|T|, k) positions, as in Liang et al. 2018 ("Variational
 * Autoencoders for Collaborative Filtering") and Steck 2019 ("Embarrassingly Shallow
 * Autoencoders"), whose published tables use this protocol.
 *
 * Rank order, everywhere: a before b when s_a > s_b, or s_a == s_b and a < b (the lower title
 * index wins ties); NaN scores count as −inf. This makes every ranking a strict total order, so
 * the numpy reference (tests/ref/eval_ref.py, np.lexsort((index, -score))) reproduces it.
 *
 * Data structures: per-member metric values live in one [n_members × n_values] double array
 * (NaN = undefined for that member) and the top-K lists in [n_members × K] int32, so the
 * reduction (means, standard errors, coverage) runs after all threads finish, in member order:
 * the result does not depend on the thread count or on scheduling.
 *
 * Threading: n_threads workers take blocks of 16 members from an atomic counter. With a batch
 * scorer (mq_eval_heldout_batch) the model scores the whole block in one call (blocked matrix
 * products), into a [16 × n_titles] buffer. Each worker owns its scratch: the score vector(s), a mark vector [n_titles] int32 (stamps that tag the
 * member's fold-in titles and targets without clearing between members), the heap and the
 * target keys. The scorer is called concurrently and must be thread-safe.
 */
#include "core/core.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct rank_item {
    float s;
    int32_t t;
} rank_item;

static inline float fix_score(float s) { return s == s ? s : -INFINITY; }

/* a ranks before b. */
static inline bool better(rank_item a, rank_item b)
{
    return a.s > b.s || (a.s == b.s && a.t < b.t);
}

/* Does target key a rank before the title (s, t)? The same order as better(), without
 * short-circuit branches. */
static inline int beats_key(rank_item a, float s, int32_t t)
{
    return (a.s > s) | ((a.s == s) & (a.t < t));
}

/* ---- metrics on a hit vector ------------------------------------------------------------ */

/* hit [L]: 1 where ranked[i] is a target. Fills recall, precision, ndcg, map at k. */
typedef struct list_metrics {
    double recall, precision, ndcg, map;
} list_metrics;

static list_metrics metrics_from_hits(const uint8_t *hit, int L, int nt, int k)
{
    list_metrics r = {0, 0, 0, 0};
    if (nt <= 0 || k <= 0) return r;
    int n = MQ_MIN(k, L), denom = MQ_MIN(k, nt);
    double hits = 0, dcg = 0, ap = 0, idcg = 0;
    for (int i = 0; i < n; i++) {
        if (hit[i]) {
            hits += 1;
            dcg += 1.0 / log2((double)i + 2.0);
            ap += hits / (double)(i + 1);
        }
    }
    for (int i = 0; i < denom; i++) idcg += 1.0 / log2((double)i + 2.0);
    r.recall = hits / denom;
    r.precision = hits / k;
    r.ndcg = dcg / idcg;
    r.map = ap / denom;
    return r;
}

static bool in_sorted(const int32_t *v, int n, int32_t x)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (v[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && v[lo] == x;
}

static list_metrics pure_metrics(const int32_t *ranked, int n_ranked, const int32_t *targets,
                                 int n_targets, int k)
{
    list_metrics r = {0, 0, 0, 0};
    if (n_targets <= 0 || k <= 0 || n_ranked < 0) return r;
    int n = MQ_MIN(k, n_ranked);
    uint8_t stack_hit[256] = {0};
    uint8_t *hit = n <= 256 ? stack_hit : malloc((size_t)n);
    if (!hit) return r;
    for (int i = 0; i < n; i++) hit[i] = in_sorted(targets, n_targets, ranked[i]);
    r = metrics_from_hits(hit, n, n_targets, k);
    if (hit != stack_hit) free(hit);
    return r;
}

double mq_eval_recall(const int32_t *ranked, int n_ranked, const int32_t *targets, int n_targets,
                      int k)
{
    return pure_metrics(ranked, n_ranked, targets, n_targets, k).recall;
}

double mq_eval_precision(const int32_t *ranked, int n_ranked, const int32_t *targets,
                         int n_targets, int k)
{
    return pure_metrics(ranked, n_ranked, targets, n_targets, k).precision;
}

double mq_eval_ndcg(const int32_t *ranked, int n_ranked, const int32_t *targets, int n_targets,
                    int k)
{
    return pure_metrics(ranked, n_ranked, targets, n_targets, k).ndcg;
}

double mq_eval_map(const int32_t *ranked, int n_ranked, const int32_t *targets, int n_targets,
                   int k)
{
    return pure_metrics(ranked, n_ranked, targets, n_targets, k).map;
}

double mq_eval_novelty(const int32_t *ranked, int n_ranked, int k, const int32_t *pop,
                       int32_t n_members)
{
    int n = MQ_MIN(k, n_ranked);
    if (n <= 0 || n_members <= 0) return 0;
    double s = 0;
    for (int i = 0; i < n; i++) {
        int32_t p = pop[ranked[i]] > 0 ? pop[ranked[i]] : 1;
        s += -log2((double)p / (double)n_members);
    }
    return s / n;
}

/* Bit count without relying on the POPCNT instruction (the default x86-64 target turns
 * __builtin_popcountll into a libgcc call). */
static inline int popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int)((x * 0x0101010101010101ull) >> 56);
}

static inline double genre_dist(uint64_t a, uint64_t b)
{
    int u = popcount64(a | b);
    if (u == 0) return 0;
    return 1.0 - (double)popcount64(a & b) / (double)u;
}

/* Diversity at every cut-off from one pass over the pairs of the top K: row[j] = Σ_{i<j}
 * d(i, j), so the pairs of the top k are the rows j < k. out[c] for ks[c]. */
static void diversity_all(const int32_t *ranked, int L, const int32_t *ks, int nk,
                          const uint64_t *genres, double *out, int stride)
{
    double acc = 0;
    int c = 0;
    for (int j = 0; j <= L && c < nk; j++) {
        while (c < nk && MQ_MIN(ks[c], L) == j) {
            int n = j;
            out[c * stride] = n < 2 ? 0 : acc / ((double)n * (n - 1) / 2.0);
            c++;
        }
        if (j == L) break;
        uint64_t gj = genres[ranked[j]];
        for (int i = 0; i < j; i++) acc += genre_dist(genres[ranked[i]], gj);
    }
}

double mq_eval_diversity(const int32_t *ranked, int n_ranked, int k, const uint64_t *genres)
{
    int n = MQ_MIN(k, n_ranked);
    if (n < 2) return 0;
    double s = 0;
    for (int j = 1; j < n; j++)
        for (int i = 0; i < j; i++) s += genre_dist(genres[ranked[i]], genres[ranked[j]]);
    return s / ((double)n * (n - 1) / 2.0);
}

/* ---- top-k selection -------------------------------------------------------------------- */

/* Heap selection (core's top-k heap, mq__heap_offer): hs [k] scores scratch, out [k] the
 * heap's indices and then the list, best first. NaN ranks as -inf. */
static int topk_heap(const float *scores, int32_t n_titles, const int32_t *mark, int32_t stamp,
                     int k, float *hs, int32_t *out)
{
    int n = 0;
    for (int32_t t = 0; t < n_titles; t++) {
        if (mark[t] == stamp || mark[t] < 0) continue;
        mq__heap_offer(hs, out, &n, k, fix_score(scores[t]), t);
    }
    mq__heap_sort(hs, out, n);
    return n;
}

static int cmp_rank(const void *a, const void *b)
{
    rank_item x = *(const rank_item *)a, y = *(const rank_item *)b;
    if (better(x, y)) return -1;
    if (better(y, x)) return 1;
    return 0;
}

/* The benchmark baseline: every candidate into an array, qsort, take the first k. */
static int topk_sort(const float *scores, int32_t n_titles, const int32_t *mark, int32_t stamp,
                     int k, rank_item *all, int32_t *out)
{
    int32_t n = 0;
    for (int32_t t = 0; t < n_titles; t++)
        if (mark[t] != stamp && mark[t] >= 0) all[n++] = (rank_item){fix_score(scores[t]), t};
    qsort(all, (size_t)n, sizeof *all, cmp_rank);
    int m = n < k ? (int)n : k;
    for (int i = 0; i < m; i++) out[i] = all[i].t;
    return m;
}

int mq_eval_topk(const float *scores, int32_t n_titles, const int32_t *excluded, int n_excluded,
                 int k, int32_t *mark, int32_t stamp, int32_t *out)
{
    if (k <= 0) return 0;
    for (int i = 0; i < n_excluded; i++)
        if (excluded[i] >= 0 && excluded[i] < n_titles) mark[excluded[i]] = stamp;
    float stack_heap[128];
    float *heap = k <= 128 ? stack_heap : malloc((size_t)k * sizeof *heap);
    if (!heap) return 0;
    int n = topk_heap(scores, n_titles, mark, stamp, k, heap, out);
    if (heap != stack_heap) free(heap);
    return n;
}

/* ---- full-ranking metrics ----------------------------------------------------------------- */

/* tk [nt]: the targets' (score, index) sorted best first. is_target/is_excluded by stamps.
 * For each other candidate j, c_j = #targets ranking before j, found by binary search.
 * AUC = Σ_j c_j / (nt · n_neg); the best target's rank = 1 + #{j : c_j == 0}. */
static void full_rank(const float *scores, int32_t n_titles, const int32_t *mark, int32_t ex_stamp,
                      int32_t tg_stamp, const rank_item *tk, int nt,
                      double *rr, double *auc)
{
    double sum_c = 0;
    int64_t n_neg = 0, ahead = 0;
    rank_item worst = tk[nt - 1], best = tk[0];
    for (int32_t t = 0; t < n_titles; t++) {
        int32_t mk = mark[t];
        if (mk == ex_stamp || mk == tg_stamp || mk < 0) continue;
        rank_item j = {fix_score(scores[t]), t};
        n_neg++;
        int c;
        if (better(worst, j)) {
            c = nt;
        } else if (better(j, best)) {
            c = 0;
        } else {
            int lo = 0, hi = nt;   /* first position whose target does not beat j */
            while (lo < hi) {
                int mid = lo + (hi - lo) / 2;
                if (better(tk[mid], j)) lo = mid + 1;
                else hi = mid;
            }
            c = lo;
        }
        sum_c += c;
        if (c == 0) ahead++;
    }
    *rr = 1.0 / (double)(ahead + 1);
    *auc = n_neg > 0 ? sum_c / ((double)nt * (double)n_neg) : NAN;
}

/* The heap selection and full_rank fused into one pass over the scores (the real loop; the
 * naive baseline runs topk_sort and full_rank separately). Targets enter the heap like any
 * candidate; every non-target also gets its count of targets ranking before it. */
static int fused_pass(const float *scores, int32_t n_titles, const int32_t *mark, int32_t ex_stamp,
                      int32_t tg_stamp, int k, float *hs, int32_t *out,
                      const rank_item *tk, int nt, double *rr, double *auc)
{
    int hn = 0;
    int64_t sum_c = 0, n_neg = 0, ahead = 0;   /* integer sum: no FP add latency chain */
    for (int32_t t = 0; t < n_titles; t++) {
        int32_t mk = mark[t];
        if (mk == ex_stamp || mk < 0) continue;
        float s = fix_score(scores[t]);
        mq__heap_offer(hs, out, &hn, k, s, t);
        if (mk == tg_stamp) continue;
        n_neg++;
        /* c = the number of targets ranking before (s, t): a branch-free lower bound over the
         * sorted targets (scores of popular-title models put most titles between the best and
         * the worst target, where a branching search mispredicts at every step). */
        const rank_item *base = tk;
        int len = nt;
        while (len > 1) {
            int half = len / 2;
            base = beats_key(base[half - 1], s, t) ? base + half : base;
            len -= half;
        }
        int64_t c = (int64_t)(base - tk) + beats_key(*base, s, t);
        sum_c += c;
        ahead += c == 0;
    }
    *rr = 1.0 / (double)(ahead + 1);
    *auc = n_neg > 0 ? (double)sum_c / ((double)nt * (double)n_neg) : NAN;
    mq__heap_sort(hs, out, hn);
    return hn;
}

static int build_target_keys(const float *scores, const int32_t *targets, int nt, rank_item *tk)
{
    for (int i = 0; i < nt; i++) tk[i] = (rank_item){fix_score(scores[targets[i]]), targets[i]};
    qsort(tk, (size_t)nt, sizeof *tk, cmp_rank);
    return nt;
}

/* Shared by mq_eval_rr / mq_eval_auc: marks in a temporary vector. */
static void pure_full(const float *scores, int32_t n_titles, const int32_t *excluded,
                      int n_excluded, const int32_t *targets, int n_targets, double *rr,
                      double *auc)
{
    *rr = 0;
    *auc = NAN;
    if (n_targets <= 0 || n_titles <= 0) return;
    int32_t *mark = calloc((size_t)n_titles, sizeof *mark);
    rank_item *tk = malloc((size_t)n_targets * sizeof *tk);
    if (!mark || !tk) goto done;
    for (int i = 0; i < n_excluded; i++)
        if (excluded[i] >= 0 && excluded[i] < n_titles) mark[excluded[i]] = 1;
    int nt = 0;
    int32_t *tg = malloc((size_t)n_targets * sizeof *tg);
    if (!tg) goto done;
    for (int i = 0; i < n_targets; i++) {
        int32_t t = targets[i];
        if (t < 0 || t >= n_titles || mark[t] == 1) continue;
        mark[t] = 2;
        tg[nt++] = t;
    }
    if (nt > 0) {
        build_target_keys(scores, tg, nt, tk);
        full_rank(scores, n_titles, mark, 1, 2, tk, nt, rr, auc);
    }
    free(tg);
done:
    free(mark);
    free(tk);
}

double mq_eval_rr(const float *scores, int32_t n_titles, const int32_t *excluded, int n_excluded,
                  const int32_t *targets, int n_targets)
{
    double rr, auc;
    pure_full(scores, n_titles, excluded, n_excluded, targets, n_targets, &rr, &auc);
    return rr;
}

double mq_eval_auc(const float *scores, int32_t n_titles, const int32_t *excluded,
                   int n_excluded, const int32_t *targets, int n_targets)
{
    double rr, auc;
    pure_full(scores, n_titles, excluded, n_excluded, targets, n_targets, &rr, &auc);
    return auc;
}

/* ---- the loop ----------------------------------------------------------------------------- */

void mq_eval_opts_init(mq_eval_opts *o, size_t size)
{
    mq_eval_opts d;
    memset(&d, 0, sizeof d);
    d.ks[0] = 10;
    d.ks[1] = 20;
    d.ks[2] = 50;
    d.ks[3] = 100;
    d.n_ks = 4;
    mq__opts_fill(o, size, &d, sizeof d);   /* struct_size: src/core/opts.c */
}

/* Per-member value layout: for each cut-off index c, 6 values (recall, ndcg, precision, map,
 * novelty, diversity), then MRR and AUC. */
enum { V_RECALL, V_NDCG, V_PREC, V_MAP, V_NOV, V_DIV, V_PER_K };

typedef struct loop_ctx {
    mq_eval_score_fn score;
    mq_eval_batch_fn batch;
    void *user;
    int32_t n_titles;
    const mq_heldout *h;
    const mq_eval_opts *o;
    int nk, K, nv;
    const int32_t *ks;
    double *vals;           /* [n × nv] */
    int32_t *tops;          /* [n × K] */
    int32_t *top_len;       /* [n] */
    atomic_int_fast64_t next;
    atomic_int_fast64_t done;
    atomic_int stop;
    pthread_mutex_t lock;
    int rc;
    mq_err err;
    double t0;
} loop_ctx;

typedef struct worker {
    loop_ctx *c;
    int id;
    int rc;
} worker;

#define BLOCK 16

static void record_error(loop_ctx *c, int rc, const mq_err *e)
{
    pthread_mutex_lock(&c->lock);
    if (c->rc == 0) {
        c->rc = rc;
        if (e) c->err = *e;
        else mq__err_set(&c->err, rc, "evaluation failed: %s", mq_strerror(rc));
    }
    pthread_mutex_unlock(&c->lock);
    atomic_store(&c->stop, 1);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    loop_ctx *c = w->c;
    const mq_heldout *h = c->h;
    int32_t n = c->n_titles;
    int K = c->K;
    float *block = malloc((size_t)n * (c->batch ? BLOCK : 1) * sizeof *block);
    float *scores = block;
    int32_t *mark = calloc((size_t)n, sizeof *mark);
    rank_item *heap = c->o->naive_topk ? malloc((size_t)n * sizeof *heap) : NULL;
    float *hs = malloc((size_t)K * sizeof *hs);
    int max_t = 1;
    for (int32_t m = 0; m < h->n; m++) {
        int64_t l = h->out_ptr[m + 1] - h->out_ptr[m];
        if (l > max_t) max_t = (int)l;
    }
    rank_item *tk = malloc((size_t)max_t * sizeof *tk);
    int32_t *tg = malloc((size_t)max_t * sizeof *tg);
    uint8_t *hit = malloc((size_t)K);
    if (!block || !mark || (c->o->naive_topk && !heap) || !hs || !tk || !tg || !hit) {
        record_error(c, MQ_ENOMEM, NULL);
        goto done;
    }
    /* Titles outside the ranked set carry mark -1 for good (stamps are positive). */
    if (c->o->rankable)
        for (int32_t t = 0; t < n; t++)
            if (!c->o->rankable[t]) mark[t] = -1;
    double next_log = mq_now() + 5.0;
    for (;;) {
        if (atomic_load(&c->stop)) break;
        int64_t b0 = atomic_fetch_add(&c->next, BLOCK);
        if (b0 >= h->n) break;
        int64_t b1 = MQ_MIN(b0 + BLOCK, (int64_t)h->n);
        if (c->batch) {
            /* One call scores the whole block (blocked matrix products in the model). */
            mq_err e = {0};
            int rc = c->batch(c->user, (int)(b1 - b0), h->in_ptr + b0, h->in_idx, block, &e);
            if (rc < 0) {
                record_error(c, rc, &e);
                goto done;
            }
        }
        for (int64_t m = b0; m < b1; m++) {
            double *v = c->vals + m * c->nv;
            for (int j = 0; j < c->nv; j++) v[j] = NAN;
            c->top_len[m] = -1;
            const int32_t *hist = h->in_idx + h->in_ptr[m];
            int n_hist = (int)(h->in_ptr[m + 1] - h->in_ptr[m]);
            const int32_t *out = h->out_idx + h->out_ptr[m];
            int n_out = (int)(h->out_ptr[m + 1] - h->out_ptr[m]);
            int32_t ex_stamp = (int32_t)(2 * m + 1), tg_stamp = (int32_t)(2 * m + 2);
            for (int i = 0; i < n_hist; i++)
                if (mark[hist[i]] >= 0) mark[hist[i]] = ex_stamp;   /* -1 stays: never ranked */
            int nt = 0;
            for (int i = 0; i < n_out; i++) {
                int32_t t = out[i];
                if (mark[t] == ex_stamp || mark[t] == tg_stamp) continue;   /* in fold-in/dup */
                if (mark[t] < 0) continue;   /* not in the ranked title set */
                mark[t] = tg_stamp;
                tg[nt++] = t;
            }
            if (nt == 0) continue;   /* nothing to find: not evaluated */
            if (c->batch) {
                scores = block + (size_t)(m - b0) * (size_t)n;
            } else {
                mq_err e = {0};
                int rc = c->score(c->user, hist, n_hist, scores, &e);
                if (rc < 0) {
                    record_error(c, rc, &e);
                    goto done;
                }
            }
            int32_t *top = c->tops + m * K;
            /* Titles whose mark is ex_stamp are skipped; targets stay rankable. */
            double *vfull = &v[c->nk * V_PER_K];
            build_target_keys(scores, tg, nt, tk);
            int L;
            if (c->o->naive_topk) {
                L = topk_sort(scores, n, mark, ex_stamp, K, heap, top);
                full_rank(scores, n, mark, ex_stamp, tg_stamp, tk, nt, &vfull[0], &vfull[1]);
            } else {
                L = fused_pass(scores, n, mark, ex_stamp, tg_stamp, K, hs, top, tk, nt,
                               &vfull[0], &vfull[1]);
            }
            c->top_len[m] = L;
            for (int i = 0; i < L; i++) hit[i] = mark[top[i]] == tg_stamp;
            for (int ci = 0; ci < c->nk; ci++) {
                int k = c->ks[ci];
                list_metrics lm = metrics_from_hits(hit, L, nt, k);
                double *vk = v + ci * V_PER_K;
                vk[V_RECALL] = lm.recall;
                vk[V_NDCG] = lm.ndcg;
                vk[V_PREC] = lm.precision;
                vk[V_MAP] = lm.map;
                if (c->o->title_pop)
                    vk[V_NOV] = mq_eval_novelty(top, L, k, c->o->title_pop, c->o->n_pop_members);
            }
            if (c->o->genres)
                diversity_all(top, L, c->ks, c->nk, c->o->genres, v + V_DIV, V_PER_K);
        }
        int64_t d = atomic_fetch_add(&c->done, b1 - b0) + (b1 - b0);
        if (w->id == 0 && c->o->log && mq_now() > next_log) {
            double el = mq_now() - c->t0;
            mq__logf(c->o->log, "eval: %lld/%d members, %.0f members/s", (long long)d, h->n,
                     d / (el > 0 ? el : 1e-9));
            next_log = mq_now() + 5.0;
        }
    }
done:
    free(block);
    free(mark);
    free(heap);
    free(hs);
    free(tk);
    free(tg);
    free(hit);
    return NULL;
}

static void reduce(const double *vals, int32_t n, int nv, int j, double *mean, double *se,
                   int32_t *cnt)
{
    double s = 0;
    int32_t c = 0;
    for (int32_t m = 0; m < n; m++) {
        double x = vals[(int64_t)m * nv + j];
        if (x == x) {
            s += x;
            c++;
        }
    }
    *cnt = c;
    if (c == 0) {
        *mean = NAN;
        *se = NAN;
        return;
    }
    double mu = s / c, ss = 0;
    for (int32_t m = 0; m < n; m++) {
        double x = vals[(int64_t)m * nv + j];
        if (x == x) ss += (x - mu) * (x - mu);
    }
    *mean = mu;
    *se = c > 1 ? sqrt(ss / (c - 1)) / sqrt((double)c) : NAN;
}

static void add_metric(mq_eval_result *r, const char *name, int k, double mean, double se,
                       int32_t n)
{
    if (r->n_metrics >= MQ_EVAL_MAX_METRICS) return;
    mq_eval_metric *m = &r->metrics[r->n_metrics++];
    if (k > 0) snprintf(m->name, sizeof m->name, "%s@%d", name, k);
    else snprintf(m->name, sizeof m->name, "%s", name);
    m->mean = mean;
    m->se = se;
    m->n = n;
}

const mq_eval_metric *mq_eval_find(const mq_eval_result *r, const char *name)
{
    for (int i = 0; i < r->n_metrics; i++)
        if (strcmp(r->metrics[i].name, name) == 0) return &r->metrics[i];
    return NULL;
}

static int check_heldout(const mq_heldout *h, int32_t n_titles, mq_err *err)
{
    if (h->n < 0) return mq__err_set(err, MQ_EINVAL, "held-out set: negative member count");
    if (h->n > 0 && (!h->in_ptr || !h->out_ptr))
        return mq__err_set(err, MQ_EINVAL, "held-out set: missing row pointers");
    if (h->n >= (1 << 30))
        return mq__err_set(err, MQ_ERANGE, "held-out set: %d members is too many", h->n);
    for (int32_t m = 0; m < h->n; m++) {
        if (h->in_ptr[m + 1] < h->in_ptr[m] || h->out_ptr[m + 1] < h->out_ptr[m])
            return mq__err_set(err, MQ_EINVAL, "held-out member %d: decreasing row pointers", m);
        for (int64_t p = h->in_ptr[m]; p < h->in_ptr[m + 1]; p++)
            if (h->in_idx[p] < 0 || h->in_idx[p] >= n_titles)
                return mq__err_set(err, MQ_EINVAL,
                                   "held-out member %d: fold-in title index %d not in [0, %d)",
                                   m, h->in_idx[p], n_titles);
        for (int64_t p = h->out_ptr[m]; p < h->out_ptr[m + 1]; p++)
            if (h->out_idx[p] < 0 || h->out_idx[p] >= n_titles)
                return mq__err_set(err, MQ_EINVAL,
                                   "held-out member %d: target title index %d not in [0, %d)", m,
                                   h->out_idx[p], n_titles);
        if (h->in_ptr[m + 1] - h->in_ptr[m] > INT32_MAX / 2 ||
            h->out_ptr[m + 1] - h->out_ptr[m] > INT32_MAX / 2)
            return mq__err_set(err, MQ_ERANGE, "held-out member %d: history too long", m);
    }
    return 0;
}

static int run_loop(mq_eval_score_fn score, mq_eval_batch_fn batch, void *user, int32_t n_titles,
                    const mq_heldout *h, const mq_eval_opts *o, mq_eval_result *res, mq_err *err);

int mq_eval_heldout(mq_eval_score_fn score, void *user, int32_t n_titles, const mq_heldout *h,
                    const mq_eval_opts *o, mq_eval_result *res, mq_err *err)
{
    if (!score) {
        if (res) memset(res, 0, sizeof *res);
        return mq__err_set(err, MQ_EINVAL, "eval: no scorer");
    }
    return run_loop(score, NULL, user, n_titles, h, o, res, err);
}

int mq_eval_heldout_batch(mq_eval_batch_fn batch, void *user, int32_t n_titles,
                          const mq_heldout *h, const mq_eval_opts *o, mq_eval_result *res,
                          mq_err *err)
{
    if (!batch) {
        if (res) memset(res, 0, sizeof *res);
        return mq__err_set(err, MQ_EINVAL, "eval: no scorer");
    }
    return run_loop(NULL, batch, user, n_titles, h, o, res, err);
}

static int run_loop(mq_eval_score_fn score, mq_eval_batch_fn batch, void *user, int32_t n_titles,
                    const mq_heldout *h, const mq_eval_opts *o, mq_eval_result *res, mq_err *err)
{
    memset(res, 0, sizeof *res);
    mq_eval_opts ov;
    int orc = MQ__OPTS_GET(mq_eval_opts, &ov, o, err);
    if (orc) return orc;
    o = &ov;
    if (!h) return mq__err_set(err, MQ_EINVAL, "eval: no held-out set");
    if (n_titles <= 0) return mq__err_set(err, MQ_EINVAL, "eval: the model has no titles");
    int ks_default[4] = {10, 20, 50, 100};
    const int32_t *ks;
    int32_t ksbuf[MQ_EVAL_MAX_K];
    int nk = o->n_ks;
    if (nk == 0) {
        nk = 4;
        for (int i = 0; i < 4; i++) ksbuf[i] = ks_default[i];
    } else {
        if (nk < 0 || nk > MQ_EVAL_MAX_K)
            return mq__err_set(err, MQ_EINVAL, "eval: %d cut-offs (1..%d allowed)", nk,
                               MQ_EVAL_MAX_K);
        for (int i = 0; i < nk; i++) {
            if (o->ks[i] < 1 || o->ks[i] > 100000 || (i > 0 && o->ks[i] <= o->ks[i - 1]))
                return mq__err_set(err, MQ_EINVAL,
                                   "eval: cut-off k=%d: cut-offs must be ascending in [1, 100000]",
                                   o->ks[i]);
            ksbuf[i] = o->ks[i];
        }
    }
    ks = ksbuf;
    if (o->title_pop && o->n_pop_members <= 0)
        return mq__err_set(err, MQ_EINVAL, "eval: novelty needs n_pop_members > 0");
    int rc = check_heldout(h, n_titles, err);
    if (rc) return rc;

    loop_ctx c;
    memset(&c, 0, sizeof c);
    c.score = score;
    c.batch = batch;
    c.user = user;
    c.n_titles = n_titles;
    c.h = h;
    c.o = o;
    c.nk = nk;
    c.ks = ks;
    c.K = ks[nk - 1];
    c.nv = nk * V_PER_K + 2;
    atomic_init(&c.next, 0);
    atomic_init(&c.done, 0);
    atomic_init(&c.stop, 0);
    pthread_mutex_init(&c.lock, NULL);
    int64_t n = h->n;
    c.vals = malloc((size_t)MQ_MAX(n, 1) * (size_t)c.nv * sizeof(double));
    c.tops = malloc((size_t)MQ_MAX(n, 1) * (size_t)c.K * sizeof(int32_t));
    c.top_len = malloc((size_t)MQ_MAX(n, 1) * sizeof(int32_t));
    if (!c.vals || !c.tops || !c.top_len) {
        rc = mq__err_set(err, MQ_ENOMEM, "eval: out of memory for %lld members", (long long)n);
        goto fail;
    }
    int nth = o->n_threads;
    if (nth <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        nth = nc > 0 ? (int)nc : 1;
    }
    if (nth > 256) nth = 256;
    if (nth > (n + BLOCK - 1) / BLOCK) nth = (int)MQ_MAX((n + BLOCK - 1) / BLOCK, 1);
    c.t0 = mq_now();
    worker ws[256];
    pthread_t th[256];
    int started = 0;
    for (int i = 0; i < nth; i++) {
        ws[i] = (worker){&c, i, 0};
        if (i == 0) continue;
        if (pthread_create(&th[i], NULL, worker_main, &ws[i]) != 0) break;
        started = i;
    }
    worker_main(&ws[0]);
    for (int i = 1; i <= started; i++) pthread_join(th[i], NULL);
    double secs = mq_now() - c.t0;
    if (c.rc) {
        if (err) *err = c.err;
        rc = c.rc;
        goto fail;
    }

    /* Reduction, in member order. */
    int32_t n_eval = 0;
    for (int64_t m = 0; m < n; m++) n_eval += c.top_len[m] >= 0;
    res->n_members = n_eval;
    res->n_skipped = (int32_t)(n - n_eval);
    static const char *const names[V_PER_K] = {"recall", "ndcg", "precision", "map", "novelty",
                                               "diversity"};
    double mean, se;
    int32_t cnt;
    for (int j = 0; j < V_NOV; j++)
        for (int ci = 0; ci < nk; ci++) {
            reduce(c.vals, (int32_t)n, c.nv, ci * V_PER_K + j, &mean, &se, &cnt);
            add_metric(res, names[j], ks[ci], mean, se, cnt);
        }
    reduce(c.vals, (int32_t)n, c.nv, nk * V_PER_K, &mean, &se, &cnt);
    add_metric(res, "mrr", 0, mean, se, cnt);
    reduce(c.vals, (int32_t)n, c.nv, nk * V_PER_K + 1, &mean, &se, &cnt);
    add_metric(res, "auc", 0, mean, se, cnt);
    /* Catalog coverage: distinct titles over all top-k lists / n_titles. */
    uint8_t *seen = malloc((size_t)n_titles);
    if (!seen) {
        rc = mq__err_set(err, MQ_ENOMEM, "eval: out of memory");
        goto fail;
    }
    int32_t n_rankable = n_titles;
    if (o->rankable) {
        n_rankable = 0;
        for (int32_t t = 0; t < n_titles; t++) n_rankable += o->rankable[t] != 0;
        if (n_rankable == 0) n_rankable = 1;
    }
    for (int ci = 0; ci < nk; ci++) {
        memset(seen, 0, (size_t)n_titles);
        int64_t distinct = 0;
        for (int64_t m = 0; m < n; m++) {
            int L = MQ_MIN(c.top_len[m], ks[ci]);
            for (int i = 0; i < L; i++) {
                int32_t t = c.tops[m * c.K + i];
                distinct += !seen[t];
                seen[t] = 1;
            }
        }
        add_metric(res, "coverage", ks[ci], n_eval > 0 ? (double)distinct / n_rankable : NAN, NAN,
                   n_eval);
    }
    free(seen);
    for (int j = V_NOV; j <= V_DIV; j++) {
        if (j == V_NOV && !o->title_pop) continue;
        if (j == V_DIV && !o->genres) continue;
        for (int ci = 0; ci < nk; ci++) {
            reduce(c.vals, (int32_t)n, c.nv, ci * V_PER_K + j, &mean, &se, &cnt);
            add_metric(res, names[j], ks[ci], mean, se, cnt);
        }
    }
    res->seconds = secs;
    res->members_per_sec = secs > 0 ? n_eval / secs : 0;
    rc = 0;
fail:
    free(c.vals);
    free(c.tops);
    free(c.top_len);
    pthread_mutex_destroy(&c.lock);
    return rc;
}
