/* bandit_page.c: the cost of the server's artwork decisions for the titles of one page.
 *
 * A catalog of 20,000 titles (as bench_serve_page's) with 3-6 artworks each, tagged like the
 * demo's synthetic artwork (a composition of 5, a tone of 4, a cue of 19 genres: 28 tags, 3 per
 * artwork) and 20 genres, so the member context has dm = 16 values and the linear models
 * d = 28 x 16 = 448 features. The learner is trained on 3,000 random pages of 40 impressions
 * (a click on one in ten) and published. Then, per page of 800 titles (bench_serve_page's 20
 * rows x 40) with a fresh member context, mq_art_decide for each policy: linucb, lints (100
 * posterior draws per page), egreedy, ts (per-title distributions computed when the state is
 * published: timed as part of "a published state"), fixed. bench/bandit_page.sh sets these against mq_page_build in the
 * same run (target: <= 10% of the page build).
 * usage: bench_bandit_page [pages (default 300)] [policy (default: all)]
 */
#include "marquee.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* This thread's CPU seconds: unlike wall time, not inflated while other processes hold the core. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { NT = 20000, NG = 20, PAGE = 800 };

int main(int argc, char **argv)
{
    int pages = argc > 1 ? atoi(argv[1]) : 300;
    static const char *comp[] = {"closeup", "group", "landscape", "action-shot", "text-heavy"};
    static const char *tone[] = {"dark", "bright", "warm", "cool"};
    mq_rng r;
    mq_rng_seed(&r, 2);
    mq_catalog c;
    mq_catalog_init(&c, NT);
    c.n_genres = NG;
    for (int g = 0; g < NG; g++) {
        char nm[16];
        snprintf(nm, sizeof nm, "g%d", g);
        c.genre_names[g] = strdup(nm);
    }
    c.art_ptr = calloc(NT + 1, sizeof *c.art_ptr);
    for (int t = 0; t < NT; t++) {
        c.genres[t] = 1ull << mq_rng_below(&r, NG) | 1ull << mq_rng_below(&r, NG);
        c.art_ptr[t + 1] = c.art_ptr[t] + 3 + (int64_t)mq_rng_below(&r, 4);
    }
    c.n_artworks = c.art_ptr[NT];
    c.art_ids = calloc((size_t)c.n_artworks, sizeof(char *));
    c.art_features = calloc((size_t)c.n_artworks, sizeof(char *));
    for (int64_t a = 0; a < c.n_artworks; a++) {
        char id[32], f[64];
        snprintf(id, sizeof id, "a%lld", (long long)a);
        snprintf(f, sizeof f, "%s;%s;cue%d", comp[mq_rng_below(&r, 5)], tone[mq_rng_below(&r, 4)], (int)mq_rng_below(&r, 19));
        c.art_ids[a] = strdup(id);
        c.art_features[a] = strdup(f);
    }
    mq_err err = {0};
    mq_art_space *s;
    mq_art_stats *st;
    mq_art_snap *sn;
    if (mq_art_space_create(&c, &s, &err) || mq_art_stats_create(s, 1.0, &st, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    const int dm = mq_art_space_dm(s), df = mq_art_space_df(s);
    uint8_t ctx[MQ_ART_DM_MAX];
    uint64_t hg[50];
    int64_t art[40];
    double t0 = mq_now();
    for (int p = 0; p < 3000; p++) {
        for (int i = 0; i < 50; i++) hg[i] = c.genres[mq_rng_below(&r, NT)];
        mq_art_context(s, hg, NULL, 50, (int)mq_rng_below(&r, 3), (int)mq_rng_below(&r, 24), ctx);
        for (int i = 0; i < 40; i++) art[i] = (int64_t)mq_rng_below(&r, (uint64_t)c.n_artworks);
        mq_art_stats_add_page(st, ctx, art, 40);
        for (int i = 0; i < 40; i++)
            if (mq_rng_uniform(&r) < 0.1) mq_art_stats_add_reward(st, ctx, art[i], 1);
    }
    double t_learn = (mq_now() - t0) / 3000;
    t0 = mq_now();
    if (mq_art_snap_create(st, 1, NULL, 0, &sn, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double t_pub = mq_now() - t0;
    static int32_t titles[PAGE];
    static int64_t choice[PAGE];
    static double prop[PAGE];
    printf("bandit_page: %d titles on a page, %lld artworks in the catalog, %d tags x %d context values (d = %d)\n",
           PAGE, (long long)c.n_artworks, df, dm, df * dm);
    printf("  learner: %.3f ms per page of 40 impressions; a published state (d x d inverse, TS tables) %.1f ms\n",
           1e3 * t_learn, 1e3 * t_pub);
    const char *specs[] = {"linucb", "lints", "egreedy", "ts", "fixed"};
    double sink = 0;
    for (int k = 0; k < 5; k++) {
        if (argc > 2 && strcmp(argv[2], specs[k])) continue;
        mq_art_policy pol; mq_art_policy_init(&pol, sizeof pol);
        mq_art_policy_parse(specs[k], &pol, &err);
        double tt = 0, tc = 0;
        for (int g = 0; g < pages + 1; g++) {
            for (int i = 0; i < PAGE; i++) titles[i] = (int32_t)mq_rng_below(&r, NT);
            for (int i = 0; i < 50; i++) hg[i] = c.genres[mq_rng_below(&r, NT)];
            double t1 = mq_now(), c1 = cpu_now();
            mq_art_context(s, hg, NULL, 50, (int)mq_rng_below(&r, 3), (int)mq_rng_below(&r, 24), ctx);
            if (mq_art_decide(sn, &pol, ctx, titles, PAGE, &r, choice, prop, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            if (g) { tt += mq_now() - t1; tc += cpu_now() - c1; }   /* page 0: warm-up */
            sink += prop[g % PAGE];
        }
        printf("  %-8s %8.4f ms/page  (CPU %.4f ms)\n", specs[k], 1e3 * tt / pages, 1e3 * tc / pages);
    }
    if (sink < 0) printf("%g\n", sink);
    mq_art_snap_destroy(sn);
    mq_art_stats_destroy(st);
    mq_art_space_destroy(s);
    mq_catalog_release(&c);
    return 0;
}
