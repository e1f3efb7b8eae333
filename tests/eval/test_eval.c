/* test_eval.c: the evaluation module.
 *
 * - Metric functions on hand-computed cases (closed forms written out in the comments).
 * - Top-k selection against the rank order (ties by the lower index), heap vs full sort.
 * - The evaluation loop against an independent numpy implementation (tests/ref/eval_ref.py
 *   loop): a synthetic scorer with many tied scores, fold-in masking, members without targets.
 * - Determinism across thread counts; errors (bad indices, scorer failure).
 * The end-to-end checks on a real split (popularity exact, EASE to 1e-4 against numpy) are in
 * test_eval_cli.c, which drives `marquee eval`.
 */
#include "../test.h"

#include <stdlib.h>

#define LOG2(x) (log(x) / log(2.0))

MQ_TEST(eval_metrics_hand)
{
    /* ranked 5,2,9,1,7 against targets {1,2,8}: hits at positions 2 and 4. */
    const int32_t r[] = {5, 2, 9, 1, 7}, tg[] = {1, 2, 8};
    double idcg3 = 1 + 1 / LOG2(3) + 1 / LOG2(4);
    /* k = 3: one hit (position 2). */
    ASSERT_NEAR(mq_eval_recall(r, 5, tg, 3, 3), 1.0 / 3, 1e-15);
    ASSERT_NEAR(mq_eval_precision(r, 5, tg, 3, 3), 1.0 / 3, 1e-15);
    ASSERT_NEAR(mq_eval_ndcg(r, 5, tg, 3, 3), (1 / LOG2(3)) / idcg3, 1e-15);
    ASSERT_NEAR(mq_eval_map(r, 5, tg, 3, 3), (1.0 / 2) / 3, 1e-15);
    /* k = 5: hits at 2 and 4. */
    ASSERT_NEAR(mq_eval_recall(r, 5, tg, 3, 5), 2.0 / 3, 1e-15);
    ASSERT_NEAR(mq_eval_precision(r, 5, tg, 3, 5), 2.0 / 5, 1e-15);
    ASSERT_NEAR(mq_eval_ndcg(r, 5, tg, 3, 5), (1 / LOG2(3) + 1 / LOG2(5)) / idcg3, 1e-15);
    ASSERT_NEAR(mq_eval_map(r, 5, tg, 3, 5), (1.0 / 2 + 2.0 / 4) / 3, 1e-15);
    /* k = 2 < |T|: recall is normalized by min(k, |T|) = 2; ideal DCG over 2 positions. */
    ASSERT_NEAR(mq_eval_recall(r, 5, tg, 3, 2), 1.0 / 2, 1e-15);
    ASSERT_NEAR(mq_eval_ndcg(r, 5, tg, 3, 2), (1 / LOG2(3)) / (1 + 1 / LOG2(3)), 1e-15);
    /* k = 10 > list length: no padding, recall over min(10, 3) = 3, precision over 10. */
    ASSERT_NEAR(mq_eval_recall(r, 5, tg, 3, 10), 2.0 / 3, 1e-15);
    ASSERT_NEAR(mq_eval_precision(r, 5, tg, 3, 10), 2.0 / 10, 1e-15);
    /* Perfect list: all 1. No targets: 0. */
    const int32_t p[] = {1, 2, 8, 0};
    ASSERT_NEAR(mq_eval_ndcg(p, 4, tg, 3, 3), 1.0, 1e-15);
    ASSERT_NEAR(mq_eval_map(p, 4, tg, 3, 4), 1.0, 1e-15);
    ASSERT_NEAR(mq_eval_recall(p, 4, tg, 0, 3), 0.0, 0);
}

MQ_TEST(eval_full_ranking_hand)
{
    /* Titles 0..5, scores below, title 4 excluded (fold-in), targets {2, 3}. Rank order:
     * 1 (0.9), 2 (0.9, tie lost to the lower index 1), 0 (0.5), 5 (0.3), 3 (0.1).
     * The best target (2) is at rank 2: RR = 1/2. Non-targets {1, 0, 5}: target 2 beats 0 and
     * 5, target 3 beats none: AUC = 2 / (2 * 3) = 1/3. */
    const float s[] = {0.5f, 0.9f, 0.9f, 0.1f, 0.7f, 0.3f};
    const int32_t ex[] = {4}, tg[] = {2, 3};
    ASSERT_NEAR(mq_eval_rr(s, 6, ex, 1, tg, 2), 0.5, 1e-15);
    ASSERT_NEAR(mq_eval_auc(s, 6, ex, 1, tg, 2), 1.0 / 3, 1e-15);
    /* Without the exclusion, title 4 (0.7) is a fourth non-target: target 2 beats 4, 0 and 5,
     * target 3 none: AUC = 3 / (2 * 4). */
    ASSERT_NEAR(mq_eval_auc(s, 6, NULL, 0, tg, 2), 3.0 / 8, 1e-15);
    /* NaN ranks last. */
    const float sn[] = {NAN, 0.0f, -1.0f};
    const int32_t t0[] = {0};
    ASSERT_NEAR(mq_eval_rr(sn, 3, NULL, 0, t0, 1), 1.0 / 3, 1e-15);
    ASSERT_NEAR(mq_eval_auc(sn, 3, NULL, 0, t0, 1), 0.0, 1e-15);
    /* No targets: RR 0, AUC NaN (undefined). */
    ASSERT_NEAR(mq_eval_rr(s, 6, NULL, 0, tg, 0), 0.0, 0);
    ASSERT(isnan(mq_eval_auc(s, 6, NULL, 0, tg, 0)));

    int32_t mark[6] = {0}, out[3];
    ASSERT_INT_EQ(mq_eval_topk(s, 6, ex, 1, 3, mark, 7, out), 3);
    ASSERT_INT_EQ(out[0], 1);
    ASSERT_INT_EQ(out[1], 2);
    ASSERT_INT_EQ(out[2], 0);
    /* Fewer candidates than k. */
    int32_t mark2[6] = {0}, out6[6];
    const int32_t ex3[] = {0, 1, 2};
    ASSERT_INT_EQ(mq_eval_topk(s, 6, ex3, 3, 6, mark2, 1, out6), 3);
    ASSERT_INT_EQ(out6[0], 4);
    ASSERT_INT_EQ(out6[1], 5);
    ASSERT_INT_EQ(out6[2], 3);
}

MQ_TEST(eval_novelty_diversity_hand)
{
    /* pop {10, 5, 0, 1} of 10 members: self-information 0, 1, log2(10) (pop 0 counts as 1). */
    const int32_t pop[] = {10, 5, 0, 1}, r[] = {0, 1, 2};
    ASSERT_NEAR(mq_eval_novelty(r, 3, 3, pop, 10), (0 + 1 + LOG2(10)) / 3, 1e-14);
    ASSERT_NEAR(mq_eval_novelty(r, 3, 2, pop, 10), 0.5, 1e-15);
    /* genres {0,1}, {1,2}, {}: d = 1 - 1/3, 1, 1 -> mean (2/3 + 2) / 3. */
    const uint64_t g[] = {0x3, 0x6, 0x0, 0x0};
    ASSERT_NEAR(mq_eval_diversity(r, 3, 3, g), (2.0 / 3 + 2) / 3, 1e-15);
    /* Two titles without genres are at distance 0; a single title has no pairs. */
    const int32_t r2[] = {2, 3};
    ASSERT_NEAR(mq_eval_diversity(r2, 2, 2, g), 0.0, 0);
    ASSERT_NEAR(mq_eval_diversity(r, 3, 1, g), 0.0, 0);
}

/* ---- the loop against numpy --------------------------------------------------------- */

/* A deterministic scorer: scores depend on the history only (FNV hash -> RNG), quantized to
 * eighths so that ties are frequent and the tie rule is exercised. */
typedef struct synth_scorer {
    int32_t n_titles;
    int fail_at;    /* fail when the history's first title equals this (-1: never) */
} synth_scorer;

static int synth_score(void *user, const int32_t *hist, int n_hist, float *scores, mq_err *err)
{
    const synth_scorer *s = user;
    if (n_hist > 0 && hist[0] == s->fail_at) {
        if (err) {
            err->code = MQ_EIO;
            snprintf(err->msg, sizeof err->msg, "synthetic failure");
        }
        return MQ_EIO;
    }
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n_hist; i++) h = (h ^ (uint64_t)hist[i]) * 1099511628211ull;
    mq_rng r;
    mq_rng_seed(&r, h);
    for (int32_t t = 0; t < s->n_titles; t++)
        scores[t] = (float)(floor(mq_rng_uniform(&r) * 8) / 8) + (t % 7 == 0 ? 0.0625f : 0);
    return 0;
}

static int synth_batch(void *user, int n_members, const int64_t *ptr, const int32_t *idx,
                       float *scores, mq_err *err)
{
    const synth_scorer *s = user;
    for (int i = 0; i < n_members; i++) {
        int rc = synth_score(user, idx + ptr[i], (int)(ptr[i + 1] - ptr[i]),
                             scores + (size_t)i * (size_t)s->n_titles, err);
        if (rc) return rc;
    }
    return 0;
}

typedef struct synth_heldout {
    mq_heldout h;
    int32_t *pop;
    uint64_t *genres;
} synth_heldout;

/* n members; each has 3..30 distinct fold-in titles and 0..12 targets (disjoint); member 5
 * has no targets. */
static int make_heldout(synth_heldout *s, int32_t n, int32_t n_titles, uint64_t seed)
{
    mq_rng r;
    mq_rng_seed(&r, seed);
    mq_heldout *h = &s->h;
    memset(s, 0, sizeof *s);
    h->n = n;
    h->in_ptr = calloc((size_t)n + 1, sizeof(int64_t));
    h->out_ptr = calloc((size_t)n + 1, sizeof(int64_t));
    h->in_idx = malloc((size_t)n * 30 * sizeof(int32_t));
    h->out_idx = malloc((size_t)n * 12 * sizeof(int32_t));
    s->pop = malloc((size_t)n_titles * sizeof(int32_t));
    s->genres = malloc((size_t)n_titles * sizeof(uint64_t));
    uint8_t *used = calloc((size_t)n_titles, 1);
    if (!h->in_ptr || !h->out_ptr || !h->in_idx || !h->out_idx || !s->pop || !s->genres || !used)
        return -1;
    for (int32_t t = 0; t < n_titles; t++) {
        s->pop[t] = (int32_t)mq_rng_below(&r, 50);   /* zeros included */
        s->genres[t] = mq_rng_next(&r) & 0x1f & mq_rng_next(&r);
    }
    for (int32_t m = 0; m < n; m++) {
        memset(used, 0, (size_t)n_titles);
        int ni = 3 + (int)mq_rng_below(&r, 28), no = m == 5 ? 0 : (int)mq_rng_below(&r, 13);
        int64_t pi = h->in_ptr[m], po = h->out_ptr[m];
        for (int i = 0; i < ni; i++) {
            int32_t t = (int32_t)mq_rng_below(&r, (uint64_t)n_titles);
            if (used[t]) continue;
            used[t] = 1;
            h->in_idx[pi++] = t;
        }
        for (int i = 0; i < no; i++) {
            int32_t t = (int32_t)mq_rng_below(&r, (uint64_t)n_titles);
            if (used[t]) continue;
            used[t] = 1;
            h->out_idx[po++] = t;
        }
        h->in_ptr[m + 1] = pi;
        h->out_ptr[m + 1] = po;
    }
    free(used);
    return 0;
}

static void free_heldout(synth_heldout *s)
{
    free(s->h.in_ptr);
    free(s->h.out_ptr);
    free(s->h.in_idx);
    free(s->h.out_idx);
    free(s->pop);
    free(s->genres);
}

MQ_TEST(eval_loop_vs_numpy)
{
    const int32_t n_titles = 150, n = 70;
    synth_heldout sh;
    ASSERT(make_heldout(&sh, n, n_titles, 42) == 0);
    synth_scorer sc = {n_titles, -1};
    mq_eval_opts o;
    mq_eval_opts_init(&o, sizeof o);
    o.ks[0] = 5;       /* small cut-offs too, and one larger than some candidate lists */
    o.ks[1] = 10;
    o.ks[2] = 20;
    o.ks[3] = 200;     /* longer than every candidate list: no padding, L < k paths */
    o.n_threads = 3;
    o.title_pop = sh.pop;
    o.n_pop_members = 50;
    o.genres = sh.genres;
    /* Every 9th title is outside the ranked title set (as titles no training member has). */
    uint8_t rankable[150];
    for (int32_t t = 0; t < n_titles; t++) rankable[t] = t % 9 != 4;
    o.rankable = rankable;
    mq_eval_result res;
    mq_err err = {0};
    ASSERT_OK(mq_eval_heldout(synth_score, &sc, n_titles, &sh.h, &o, &res, &err), &err);
    int32_t no_targets = 0;
    for (int32_t m = 0; m < n; m++) {
        int ok = 0;
        for (int64_t p = sh.h.out_ptr[m]; p < sh.h.out_ptr[m + 1]; p++)
            ok += rankable[sh.h.out_idx[p]];
        no_targets += ok == 0;
    }
    ASSERT(no_targets >= 1);   /* member 5 at least */
    ASSERT_INT_EQ(res.n_skipped, no_targets);
    ASSERT_INT_EQ(res.n_members, n - no_targets);
    ASSERT(mq_eval_find(&res, "recall@20") && mq_eval_find(&res, "diversity@200"));

    char path[4096];
    snprintf(path, sizeof path, "%s/loop_case.txt", mq_test_tmpdir());
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fprintf(f, "T %d %d\nK 5 10 20 200\nP", n_titles, 50);
    for (int32_t t = 0; t < n_titles; t++) fprintf(f, " %d", sh.pop[t]);
    fprintf(f, "\nX");
    for (int32_t t = 0; t < n_titles; t++)
        if (!rankable[t]) fprintf(f, " %d", t);
    fprintf(f, "\nG");
    for (int32_t t = 0; t < n_titles; t++) fprintf(f, " %llu", (unsigned long long)sh.genres[t]);
    fprintf(f, "\n");
    float *scores = malloc((size_t)n_titles * sizeof *scores);
    ASSERT(scores);
    for (int32_t m = 0; m < n; m++) {
        const mq_heldout *h = &sh.h;
        fprintf(f, "M");
        for (int64_t p = h->in_ptr[m]; p < h->in_ptr[m + 1]; p++) fprintf(f, " %d", h->in_idx[p]);
        fprintf(f, "\nO");
        for (int64_t p = h->out_ptr[m]; p < h->out_ptr[m + 1]; p++)
            fprintf(f, " %d", h->out_idx[p]);
        fprintf(f, "\nS");
        synth_score(&sc, h->in_idx + h->in_ptr[m], (int)(h->in_ptr[m + 1] - h->in_ptr[m]),
                    scores, NULL);
        for (int32_t t = 0; t < n_titles; t++) fprintf(f, " %.9g", scores[t]);
        fprintf(f, "\n");
    }
    free(scores);
    for (int i = 0; i < res.n_metrics; i++)
        fprintf(f, "R %s %.17g %.17g\n", res.metrics[i].name, res.metrics[i].mean,
                res.metrics[i].se);
    fclose(f);
    int rc = mq_test_sh("/usr/bin/python3 tests/ref/eval_ref.py loop %s", path);
    free_heldout(&sh);
    ASSERT_INT_EQ(rc, 0);
}

MQ_TEST(eval_loop_deterministic_and_naive)
{
    const int32_t n_titles = 400, n = 200;
    synth_heldout sh;
    ASSERT(make_heldout(&sh, n, n_titles, 7) == 0);
    synth_scorer sc = {n_titles, -1};
    mq_eval_opts o;
    mq_eval_opts_init(&o, sizeof o);
    o.title_pop = sh.pop;
    o.n_pop_members = 50;
    uint8_t rankable[400];
    for (int32_t t = 0; t < n_titles; t++) rankable[t] = t % 7 != 3;
    o.rankable = rankable;
    mq_eval_result a, b, c;
    mq_err err = {0};
    o.n_threads = 1;
    ASSERT_OK(mq_eval_heldout(synth_score, &sc, n_titles, &sh.h, &o, &a, &err), &err);
    o.n_threads = 4;
    ASSERT_OK(mq_eval_heldout(synth_score, &sc, n_titles, &sh.h, &o, &b, &err), &err);
    o.naive_topk = true;
    ASSERT_OK(mq_eval_heldout(synth_score, &sc, n_titles, &sh.h, &o, &c, &err), &err);
    mq_eval_result d;
    o.naive_topk = false;
    o.n_threads = 3;
    ASSERT_OK(mq_eval_heldout_batch(synth_batch, &sc, n_titles, &sh.h, &o, &d, &err), &err);
    ASSERT_INT_EQ(a.n_metrics, b.n_metrics);
    ASSERT_INT_EQ(a.n_metrics, c.n_metrics);
    ASSERT_INT_EQ(a.n_metrics, d.n_metrics);
    for (int i = 0; i < a.n_metrics; i++) {
        ASSERT_STR_EQ(a.metrics[i].name, b.metrics[i].name);
        /* Bitwise equal: the reduction runs in member order whatever the threads did. */
        ASSERT(memcmp(&a.metrics[i].mean, &b.metrics[i].mean, sizeof(double)) == 0);
        ASSERT(memcmp(&a.metrics[i].mean, &c.metrics[i].mean, sizeof(double)) == 0);
        ASSERT(memcmp(&a.metrics[i].mean, &d.metrics[i].mean, sizeof(double)) == 0);
    }
    free_heldout(&sh);
}

MQ_TEST(eval_loop_errors)
{
    const int32_t n_titles = 100, n = 40;
    synth_heldout sh;
    ASSERT(make_heldout(&sh, n, n_titles, 9) == 0);
    mq_eval_result res;
    mq_err err = {0};
    /* The scorer's error comes back, message included. */
    int32_t victim = 17;
    while (sh.h.out_ptr[victim + 1] == sh.h.out_ptr[victim]) victim++;
    synth_scorer bad = {n_titles, sh.h.in_idx[sh.h.in_ptr[victim]]};
    int rc = mq_eval_heldout(synth_score, &bad, n_titles, &sh.h, NULL, &res, &err);
    ASSERT_INT_EQ(rc, MQ_EIO);
    ASSERT(strstr(err.msg, "synthetic failure"));
    /* A title index outside the model's titles is an error naming the member and index. */
    synth_scorer ok = {n_titles, -1};
    rc = mq_eval_heldout(synth_score, &ok, 50, &sh.h, NULL, &res, &err);
    ASSERT_INT_EQ(rc, MQ_EINVAL);
    ASSERT(strstr(err.msg, "not in [0, 50)"));
    /* Cut-offs must ascend. */
    mq_eval_opts o;
    mq_eval_opts_init(&o, sizeof o);
    o.ks[1] = 5;
    rc = mq_eval_heldout(synth_score, &ok, n_titles, &sh.h, &o, &res, &err);
    ASSERT_INT_EQ(rc, MQ_EINVAL);
    /* Empty held-out set: no members, no crash, no NaN means reported as numbers. */
    mq_heldout empty = {0};
    int64_t zero = 0;
    empty.in_ptr = &zero;
    empty.out_ptr = &zero;
    ASSERT_OK(mq_eval_heldout(synth_score, &ok, n_titles, &empty, NULL, &res, &err), &err);
    ASSERT_INT_EQ(res.n_members, 0);
    free_heldout(&sh);
}
