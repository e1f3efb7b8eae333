/* serve_page.c: the homepage builder alone, in process: 20 rows x 40 titles over a synthetic
 * catalog of 20,000 titles (20 genres, years 1950-2024) with 64-factor scores, members
 * rotating. Reports, per page: scoring (20,000 x 64 dot products as one single-threaded
 * OpenBLAS sgemv, the floor of any personalized page: 5.1 MB of factors streamed from cache),
 * mq_page_build (rows, dedup, MMR, evidence) and mq__page_json (~80 KB),
 * each as a ratio to the scoring floor measured in the same run. With MQ_CUT=1 the page gets
 * the cut the server passes (mq_model_score_top's: here the exact (scored titles + history)-th
 * best score, found outside the timed steps), so mq_page_build skips the titles below it.
 *
 * Usage: [MQ_CUT=1] build/bench_serve_page [pages (default 2000)] */
#include "marquee.h"
#include "serve/serve.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* This thread's CPU seconds (not inflated while other processes hold the core). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { NT = 20000, K = 64, NG = 20, SIMN = 200 };

typedef struct simtab { int32_t t[NT][32]; float s[NT][32]; } simtab;

static int sim_cb(void *user, int32_t t, int n, int32_t *out, float *score)
{
    simtab *st = user;
    int m = n < 32 ? n : 32;
    memcpy(out, st->t[t], (size_t)m * sizeof *out);
    memcpy(score, st->s[t], (size_t)m * sizeof *score);
    return m;
}

int main(int argc, char **argv)
{
    int pages = argc > 1 ? atoi(argv[1]) : 2000;
    openblas_set_num_threads(1);   /* one server thread scores one page */
    mq_rng r;
    mq_rng_seed(&r, 1);
    mq_catalog cat;
    mq_catalog_init(&cat, NT);
    cat.n_genres = NG;
    static const char *gn[NG] = {"Action", "Adventure", "Animation", "Children", "Comedy", "Crime",
                                 "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX",
                                 "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
                                 "Western", "Biography"};
    for (int g = 0; g < NG; g++) cat.genre_names[g] = strdup(gn[g]);
    char **ids = malloc(NT * sizeof *ids);
    float *pop = malloc(NT * sizeof *pop), *trend = malloc(NT * sizeof *trend);
    float *H = malloc((size_t)NT * K * sizeof *H), *scores = malloc(NT * sizeof *scores);
    float *sorted = malloc(NT * sizeof *sorted);
    bool use_cut = getenv("MQ_CUT") && !strcmp(getenv("MQ_CUT"), "1");
    for (int t = 0; t < NT; t++) {
        char b[64];
        snprintf(b, sizeof b, "%d", 100000 + t);
        ids[t] = strdup(b);
        snprintf(b, sizeof b, "Synthetic Title Number %d", t);
        cat.names[t] = strdup(b);
        cat.years[t] = 1950 + (int)mq_rng_below(&r, 75);
        cat.genres[t] = (1ull << mq_rng_below(&r, NG)) | (1ull << mq_rng_below(&r, NG));
        pop[t] = (float)(1.0 / (1 + t));
        trend[t] = (float)mq_rng_uniform(&r);
        for (int k = 0; k < K; k++) H[(size_t)t * K + k] = (float)mq_rng_normal(&r) * 0.1f;
    }
    simtab *st = malloc(sizeof *st);
    for (int t = 0; t < NT; t++)
        for (int j = 0; j < 32; j++) {
            st->t[t][j] = (int32_t)mq_rng_below(&r, NT);
            st->s[t][j] = 1.0f / (float)(1 + j);
        }
    mq_page_catalog pc;
    mq_err err;
    if (mq_page_catalog_init(&pc, NT, &cat, (const char *const *)ids, pop, trend, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    pc.similar = sim_cb;
    pc.similar_user = st;
    mq_page_ctx *ctx = mq_page_ctx_create();
    mq_page_hist hist[50];
    float w[K];
    mq_buf out;
    mq_buf_init(&out);
    double t_score = 0, t_build = 0, t_json = 0, c_build = 0;
    size_t bytes = 0;
    int rows = 0, titles = 0;
    double sink = 0;
    for (int p = 0; p < pages; p++) {
        for (int k = 0; k < K; k++) w[k] = (float)mq_rng_normal(&r);
        for (int i = 0; i < 50; i++)
            hist[i] = (mq_page_hist){(int32_t)mq_rng_below(&r, NT), 1000 + i, i == 49 ? 600.0f : 0,
                                     1, i != 49, i == 49};
        double t0 = mq_now();
        cblas_sgemv(CblasRowMajor, CblasNoTrans, NT, K, 1.0f, H, K, w, 1, 0.0f, scores, 1);
        double t1 = mq_now();
        const mq_page *pg;
        mq_page_req req; mq_page_req_init(&req, sizeof req);
        req.rows = 20; req.per_row = 40; req.mmr_lambda = 0.7; req.genre = -1; req.exclude = NULL;
        req.n_exclude = 0; req.hour = 20; req.device = 0; req.score_cut = NULL;
        req.row_prior = NULL;
        float cut;
        if (use_cut) {
            int keep = mq_page_scored_titles(&req, NT) + 50;
            memcpy(sorted, scores, NT * sizeof *sorted);
            cut = mq__kth_largest(sorted, NT, keep);
            req.score_cut = &cut;
            t1 = mq_now();
        }
        double c1 = cpu_now();
        if (mq_page_build(ctx, &pc, scores, hist, 50, &req, &pg, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        c_build += cpu_now() - c1;
        double t2 = mq_now();
        mq_buf_reset(&out);
        mq__page_json(pg, &pc, &out);
        double t3 = mq_now();
        t_score += t1 - t0;
        t_build += t2 - t1;
        t_json += t3 - t2;
        bytes += out.len;
        rows += pg->n_rows;
        for (int i = 0; i < pg->n_rows; i++) titles += pg->rows[i].n;
        sink += scores[p % NT];
    }
    double n = pages;
    printf("serve_page: %d pages of 20 rows x 40 titles, %d titles x %d factors (sink %g)\n", pages, NT, K, sink > 1e300 ? sink : 0);
    printf("  rows/page %.1f, titles/page %.1f, JSON %.1f KB/page\n", rows / n, titles / n, bytes / n / 1024);
    printf("  scoring (floor: %d x %d MACs) %8.3f ms/page  1.00x\n", NT, K, 1e3 * t_score / n);
    printf("  mq_page_build                    %8.3f ms/page  %.2fx\n", 1e3 * t_build / n, t_build / t_score);
    printf("  page build, thread CPU           %8.4f ms/page\n", 1e3 * c_build / n);
    printf("  mq__page_json                     %8.3f ms/page  %.2fx\n", 1e3 * t_json / n, t_json / t_score);
    printf("  total                            %8.3f ms/page  %.2fx\n", 1e3 * (t_score + t_build + t_json) / n,
           (t_score + t_build + t_json) / t_score);
    mq_buf_release(&out);
    mq_page_ctx_destroy(ctx);
    mq_page_catalog_release(&pc);
    return 0;
}
