/* bandit_page.c: the cost of choosing artwork for every title of a page with LinUCB.
 *
 * A page of 800 titles with 3-6 artworks each (4.5 on average); member features dm = 8,
 * artwork features df = 32 tags with 3 set per artwork; the policy is LinUCB over the crossed
 * features (d = 256), trained on 5,000 random rows. Times, per page: mq_bandit_page_artwork
 * (the member's part of the model once per page, then nnz(f)^2 per artwork), and the generic
 * way, mq_bandit_policy_scores over each title's crossed rows, for comparison. The page build
 * it must stay under 10% of is measured by bench_serve_page (bench/bandit_page.sh runs both).
 * usage: bench_bandit_page [pages (default 200)]
 */
#include "marquee.h"
#include <stdlib.h>
#include <string.h>

enum { NT = 800, KMAX = 6, DM = 8, DF = 32, D = DM * DF };

int main(int argc, char **argv)
{
    int pages = argc > 1 ? atoi(argv[1]) : 200;
    mq_policy_opts o = {MQ_POLICY_LINUCB, KMAX, D, 1.0, 0, 0, 0, 1};
    mq_bandit_policy *p;
    mq_err err = {0};
    if (mq_bandit_policy_create(&o, &p, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    mq_rng r;
    mq_rng_seed(&r, 2);
    static double x[KMAX * D], F[NT * KMAX * DF], m[DM], scores[KMAX], prop[NT];
    static int64_t ptr[NT + 1], choice[NT], fptr[NT * KMAX + 1];
    static int32_t fidx[NT * KMAX * 3];
    for (int t = 0; t < 5000; t++) {
        memset(x, 0, D * sizeof *x);
        for (int c = 0; c < 3; c++) {
            int j = (int)mq_rng_below(&r, DF);
            for (int k = 0; k < DM; k++) x[j * DM + k] = mq_rng_normal(&r);
        }
        mq_bandit_policy_update(p, x, 0, mq_rng_uniform(&r) < 0.2);
    }
    for (int t = 0; t < NT; t++) ptr[t + 1] = ptr[t] + 3 + (int64_t)mq_rng_below(&r, 4);
    for (int64_t a = 0; a < ptr[NT]; a++) {   /* 3 tags per artwork, dense and as sparse rows */
        for (int c = 0; c < 3; c++) F[a * DF + mq_rng_below(&r, DF)] = 1;
        fptr[a + 1] = fptr[a];
        for (int j = 0; j < DF; j++)
            if (F[a * DF + j] != 0) fidx[fptr[a + 1]++] = j;
    }
    double sink = 0, t0 = mq_now();
    for (int g = 0; g < pages; g++) {
        for (int k = 0; k < DM; k++) m[k] = mq_rng_uniform(&r);
        if (mq_bandit_page_artwork(p, m, DM, DF, fptr, fidx, NULL, ptr, NT, choice, prop, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        sink += prop[g % NT];
    }
    double t_page = (mq_now() - t0) / pages;
    int gen_pages = pages / 10 > 0 ? pages / 10 : 1;
    t0 = mq_now();
    for (int g = 0; g < gen_pages; g++) {
        for (int t = 0; t < NT; t++) {
            int K = (int)(ptr[t + 1] - ptr[t]);
            memset(x, 0, sizeof x);
            for (int a = 0; a < K; a++)
                for (int j = 0; j < DF; j++)
                    if (F[(ptr[t] + a) * DF + j] != 0)
                        for (int k = 0; k < DM; k++) x[a * D + j * DM + k] = F[(ptr[t] + a) * DF + j] * m[k];
            mq_bandit_policy_scores(p, x, NULL, scores);
            sink += scores[0];
        }
    }
    double t_gen = (mq_now() - t0) / gen_pages;
    printf("bandit_page: %d titles, %lld artworks, LinUCB over %d member x %d artwork features (sink %g)\n", NT,
           (long long)ptr[NT], DM, DF, sink > 1e300 ? sink : 0);
    printf("  mq_bandit_page_artwork (factored)   %8.3f ms/page\n", 1e3 * t_page);
    printf("  generic scores on crossed rows      %8.3f ms/page  (%.1fx the factored)\n", 1e3 * t_gen, t_gen / t_page);
    mq_bandit_policy_destroy(p);
    return 0;
}
