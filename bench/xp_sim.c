/* xp_sim.c: the simulation checks of tests/xp/test_xp.c at larger size (bench/xp_analyze.sh runs
 * it). Prints each figure with its binomial standard error:
 *  - A/A false-positive rate of Welch's test at alpha 0.05 (100,000 tests, 100 vs 100 units,
 *    normal and lognormal metrics);
 *  - mSPRT vs naive repeated testing, a look every 100 units per arm up to 10,000 per arm
 *    (10,000 experiments);
 *  - achieved power vs `design` (20,000 tests at three effect sizes);
 *  - CUPED variance reduction vs rho^2 (rho = 0.3, 0.5, 0.7, 0.9; via mq_xp_analyze on a file).
 */
#include "marquee.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { double n, s, q; } arm;

/* p-value of the library's Welch test (exactly what `xp analyze` runs). */
static double welch_p(const arm *a, const arm *b)
{
    mq_xp_arm x = {a->n, a->s / a->n, (a->q - a->s * a->s / a->n) / (a->n - 1)};
    mq_xp_arm y = {b->n, b->s / b->n, (b->q - b->s * b->s / b->n) / (b->n - 1)};
    mq_xp_effect e;
    if (mq_xp_welch(&x, &y, 0.05, &e) || !e.estimable) return 1;
    return e.p_value;
}

static void add(arm *a, double x) { a->n++; a->s += x; a->q += x * x; }

int main(void)
{
    mq_rng r;
    mq_rng_seed(&r, 2024);
    double t0 = mq_now();
    for (int dist = 0; dist < 2; dist++) {
        int T = 100000, fp = 0;
        for (int t = 0; t < T; t++) {
            arm a = {0}, b = {0};
            for (int i = 0; i < 100; i++) {
                double x = mq_rng_normal(&r), y = mq_rng_normal(&r);
                if (dist) { x = exp(x); y = exp(y); }
                add(&a, x);
                add(&b, y);
            }
            fp += welch_p(&a, &b) < 0.05;
        }
        double f = (double)fp / T;
        printf("A/A Welch FPR (%s, 100 vs 100, %d tests): %.4f (se %.4f)\n", dist ? "lognormal" : "normal", T, f, sqrt(f * (1 - f) / T));
    }
    {
        int S = 10000, fm = 0, fn = 0;
        for (int t = 0; t < S; t++) {
            arm a = {0}, b = {0};
            int hm = 0, hn = 0;
            for (int look = 1; look <= 100; look++) {
                for (int i = 0; i < 100; i++) { add(&a, mq_rng_normal(&r)); add(&b, mq_rng_normal(&r)); }
                double ma = a.s / a.n, mb = b.s / b.n;
                double v = (a.q - a.n * ma * ma) / (a.n - 1) / a.n + (b.q - b.n * mb * mb) / (b.n - 1) / b.n;
                if (mq_xp_msprt_lambda(mb - ma, v, 0.01) >= 20) hm = 1;
                if (welch_p(&a, &b) < 0.05) hn = 1;
            }
            fm += hm;
            fn += hn;
        }
        printf("peeking every 100 units/arm to 10,000/arm (%d A/A experiments): mSPRT FPR %.4f, naive t-test FPR %.4f\n",
               S, (double)fm / S, (double)fn / S);
    }
    double effects[3] = {0.1, 0.2, 0.3};
    for (int e = 0; e < 3; e++) {
        mq_xp_design_in in; mq_xp_design_in_init(&in, sizeof in);
        in.sd = 1; in.mde = effects[e]; in.alpha = 0.05; in.power = 0.8;
        mq_xp_design_out out;
        mq_xp_design(&in, &out, NULL);
        int T = 20000, hit = 0, n = (int)out.n_per_arm;
        for (int t = 0; t < T; t++) {
            arm a = {0}, b = {0};
            for (int i = 0; i < n; i++) { add(&a, mq_rng_normal(&r)); add(&b, mq_rng_normal(&r) + effects[e]); }
            hit += welch_p(&a, &b) < 0.05;
        }
        double p = (double)hit / T;
        printf("power at delta %.1f sd, n %d per arm (design promises 0.80): %.4f (se %.4f)\n", effects[e], n, p, sqrt(p * (1 - p) / T));
    }
    double rhos[4] = {0.3, 0.5, 0.7, 0.9};
    for (int k = 0; k < 4; k++) {
        char path[] = "/tmp/xp_sim_cuped.XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0) return 1;
        FILE *f = fdopen(fd, "w");
        fprintf(f, "unit,variant,y,pre\n");
        for (int i = 0; i < 200000; i++) {
            double x = mq_rng_normal(&r), y = rhos[k] * x + sqrt(1 - rhos[k] * rhos[k]) * mq_rng_normal(&r);
            fprintf(f, "%d,%s,%.10g,%.10g\n", i, i % 2 ? "B" : "A", y, x);
        }
        fclose(f);
        mq_xp_analyze_opts o;
        mq_xp_analyze_opts_init(&o, sizeof o);
        o.metrics[0] = "y";
        o.n_metrics = 1;
        o.control = "A";
        o.covariate = "pre";
        char *js = NULL, *txt = NULL;
        mq_err err = {0};
        if (mq_xp_analyze(path, &o, &js, &txt, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); remove(path); return 1; }
        const char *v = strstr(js, "\"variance_reduction\":");
        printf("CUPED rho %.1f (rho^2 %.2f), 200,000 units: variance reduction %.4f\n", rhos[k], rhos[k] * rhos[k],
               v ? atof(v + 21) : -1);
        free(js);
        free(txt);
        remove(path);
    }
    printf("simulations took %.1f s\n", mq_now() - t0);
    return 0;
}
