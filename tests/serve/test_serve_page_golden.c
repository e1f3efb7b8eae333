/* test_serve_page_golden.c: the page builder's output, byte for byte, against a checksum
 * recorded from the straightforward implementation (before the fast paths in page.c: partial
 * selection, radix-sorted candidates, the MMR row scan, the JSON writer). 64 pages over a
 * seeded 3,000-title catalog (warm and cold, MMR lambda 0 to 1, genre filters, exclusions,
 * 1 to 50 rows, 1 to 100 titles a row): the CRC-32C of every page's JSON and of its raw score
 * bits must equal the recorded value. A change to the page rules changes the checksum: then
 * re-record it (the test prints the new value) after checking the change is intended. */
#include "../test.h"
#include "serve/serve.h"

#include <stdlib.h>

enum { GNT = 3000, GNG = 20, GSIM = 64 };

typedef struct gsim { int32_t t[GNT][GSIM]; float s[GNT][GSIM]; } gsim;

static int gsim_cb(void *user, int32_t t, int n, int32_t *out, float *score)
{
    const gsim *g = user;
    int m = n < GSIM ? n : GSIM;
    memcpy(out, g->t[t], (size_t)m * sizeof *out);
    memcpy(score, g->s[t], (size_t)m * sizeof *score);
    return m;
}

static int float_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

MQ_TEST(serve_page_golden_output)
{
    mq_err err;
    mq_rng r;
    mq_rng_seed(&r, 20261122);
    mq_catalog cat;
    ASSERT_OK(mq_catalog_init(&cat, GNT), &err);
    cat.n_genres = GNG;
    for (int g = 0; g < GNG; g++) {
        char b[32];
        snprintf(b, sizeof b, "Genre \"%d\"", g);
        cat.genre_names[g] = strdup(b);
    }
    char **ids = calloc(GNT, sizeof *ids);
    float *pop = malloc(GNT * sizeof *pop), *trend = malloc(GNT * sizeof *trend);
    float *scores = malloc(GNT * sizeof *scores);
    gsim *sim = malloc(sizeof *sim);
    ASSERT(ids && pop && trend && scores && sim);
    for (int t = 0; t < GNT; t++) {
        char b[64];
        snprintf(b, sizeof b, "tt%05d", t);
        ids[t] = strdup(b);
        snprintf(b, sizeof b, "Title %d \"quoted\"", t);
        cat.names[t] = strdup(b);
        cat.years[t] = mq_rng_below(&r, 20) ? 1950 + (int)mq_rng_below(&r, 75) : 0;
        int k = (int)mq_rng_below(&r, 4);
        for (int j = 0; j < k; j++) cat.genres[t] |= 1ull << mq_rng_below(&r, GNG);
        pop[t] = (float)(1.0 / (1 + mq_rng_below(&r, GNT)));
        trend[t] = (float)mq_rng_uniform(&r);
        for (int j = 0; j < GSIM; j++) {
            sim->t[t][j] = (int32_t)mq_rng_below(&r, GNT);
            sim->s[t][j] = 1.0f / (float)(1 + j);
        }
    }
    mq_page_catalog pc;
    ASSERT_OK(mq_page_catalog_init(&pc, GNT, &cat, (const char *const *)ids, pop, trend, &err), &err);
    pc.similar = gsim_cb;
    pc.similar_user = sim;
    mq_page_ctx *ctx = mq_page_ctx_create();
    ASSERT(ctx);
    mq_buf out, cut_out;
    mq_buf_init(&out);
    mq_buf_init(&cut_out);
    float *sorted = malloc(GNT * sizeof *sorted), *bounded = malloc(GNT * sizeof *bounded);
    int cut_pages = 0;
    uint32_t crc = 0;
    size_t bytes = 0;
    static const double lams[] = {0, 0.3, 0.5, 0.7, 0.7, 0.9, 1.0};
    for (int p = 0; p < 64; p++) {
        mq_page_hist hist[60];
        int nh = (int)mq_rng_below(&r, 60);
        for (int i = 0; i < nh; i++) {
            int kind = (int)mq_rng_below(&r, 5);
            hist[i] = (mq_page_hist){(int32_t)mq_rng_below(&r, GNT), (int64_t)mq_rng_below(&r, 40),
                                     (float)mq_rng_below(&r, 10000),
                                     kind == 0 ? -1.0f : kind == 1 ? 0.0f : (float)mq_rng_uniform(&r) * 3,
                                     mq_rng_below(&r, 3) == 0, mq_rng_below(&r, 4) == 0};
        }
        for (int t = 0; t < GNT; t++)
            scores[t] = p % 7 == 3 ? (float)mq_rng_below(&r, 5) : (float)mq_rng_normal(&r);
        int32_t ex[8];
        int nex = (int)mq_rng_below(&r, 8);
        for (int i = 0; i < nex; i++) ex[i] = (int32_t)mq_rng_below(&r, GNT);
        mq_page_req req; mq_page_req_init(&req, sizeof req);
        req.rows = 1 + (int)mq_rng_below(&r, 50); req.per_row = 1 + (int)mq_rng_below(&r, 100);
        req.mmr_lambda = lams[mq_rng_below(&r, 7)];
        req.genre = mq_rng_below(&r, 4) == 0 ? (int)mq_rng_below(&r, GNG) : -1; req.exclude = ex;
        req.n_exclude = nex; req.hour = (int)mq_rng_below(&r, 25) - 1; req.device = 0;
        req.score_cut = NULL; req.row_prior = NULL;
        if (p % 4 == 0) { req.rows = 20; req.per_row = 40; req.mmr_lambda = 0.7; }
        const mq_page *pg;
        ASSERT_OK(mq_page_build(ctx, &pc, p % 6 == 5 ? NULL : scores, hist, nh, &req, &pg, &err), &err);
        mq_buf_reset(&out);
        /* every 8th page without the prepared title JSON: the writer's other path */
        const char *const *tj = pc.title_json;
        if (p % 8 == 7) pc.title_json = NULL;
        mq__page_json(pg, &pc, &out);
        pc.title_json = tj;
        ASSERT(!out.oom);
        crc = mq_crc32c(crc, out.p, out.len);
        bytes += out.len;
        for (int i = 0; i < pg->n_rows; i++)
            crc = mq_crc32c(crc, pg->scores + pg->rows[i].first,
                            (size_t)pg->rows[i].n * sizeof *pg->scores);
        /* mq_page_req.score_cut: the scores below a cut that keeps the best scored_titles +
         * banned titles replaced by lower bounds (what mq_model_score_top leaves there) give
         * the same bytes */
        int keep = mq_page_scored_titles(&req, GNT) + nh + nex;
        if (p % 6 != 5 && req.genre < 0 && keep < GNT) {
            memcpy(sorted, scores, GNT * sizeof *sorted);
            qsort(sorted, GNT, sizeof *sorted, float_desc);
            float cut = sorted[keep - 1];
            for (int t = 0; t < GNT; t++) bounded[t] = scores[t] >= cut ? scores[t] : cut - 1 - (float)t;
            req.score_cut = &cut;
            ASSERT_OK(mq_page_build(ctx, &pc, bounded, hist, nh, &req, &pg, &err), &err);
            mq_buf_reset(&cut_out);
            if (p % 8 == 7) pc.title_json = NULL;
            mq__page_json(pg, &pc, &cut_out);
            pc.title_json = tj;
            ASSERT(cut_out.len == out.len && memcmp(cut_out.p, out.p, out.len) == 0);
            cut_pages++;
        }
    }
    ASSERT(cut_pages >= 20);
    if (crc != 0x22bca217u)
        fprintf(stderr, "    page checksum 0x%08x over %zu bytes of JSON\n", (unsigned)crc, bytes);
    ASSERT(crc == 0x22bca217u);
    mq_buf_release(&out);
    mq_buf_release(&cut_out);
    free(sorted);
    free(bounded);
    mq_page_ctx_destroy(ctx);
    mq_page_catalog_release(&pc);
    mq_catalog_release(&cat);
    for (int t = 0; t < GNT; t++) free(ids[t]);
    free(ids); free(pop); free(trend); free(scores); free(sim);
}
