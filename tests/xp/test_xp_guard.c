/* test_xp_guard.c: the guardrail rules of `xp analyze`'s decision (src/xp/xp_decide.c).
 *
 * The primary metric improves clearly in every case; the guardrail metric g (higher is better,
 * at most 1% relative degradation allowed) is built so that each arm's sample mean and sd are
 * exact (normal deviates standardized per arm), so the relative effect, its delta-method SE and
 * the 95% CI are known in closed form here and the three guardrail verdicts are checked
 * against them:
 *  - significantly worse (CI entirely below 0) and not shown within 1%: violated -> don't ship,
 *    the reason naming the deterioration (before the deterioration test this was "keep
 *    running": the CI does not lie entirely beyond -1%);
 *  - a small, certain drop shown within 1% (non-inferior): not violated -> ship;
 *  - an uncertain drop (CI across 0 and -1%): not yet shown within -> keep running.
 */
#include "marquee.h"
#include "../test.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 4000

/* n standard normal deviates with sample mean exactly 0 and sample sd (n - 1) exactly 1 */
static void standardized(mq_rng *r, double *z, int n)
{
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) { z[i] = mq_rng_normal(r); s += z[i]; }
    double m = s / n;
    for (int i = 0; i < n; i++) s2 += (z[i] - m) * (z[i] - m);
    double sd = sqrt(s2 / (n - 1));
    for (int i = 0; i < n; i++) z[i] = (z[i] - m) / sd;
}

/* Writes the units (y improves by 0.2 sd in B; g has mean 1 and mean mb, sd sg in both arms)
 * and returns the analysis' decision object (the caller frees root). */
static const cJSON *decide(const char *path, double mb, double sg, cJSON **root)
{
    static double zy[2][N], zg[2][N];
    mq_rng r;
    mq_rng_seed(&r, 77);
    for (int a = 0; a < 2; a++) { standardized(&r, zy[a], N); standardized(&r, zg[a], N); }
    FILE *f = fopen(path, "w");
    if (!f) return NULL;
    fprintf(f, "unit,variant,y,g\n");
    for (int i = 0; i < N; i++)
        for (int a = 0; a < 2; a++)
            fprintf(f, "u%d%c,%s,%.17g,%.17g\n", i, a ? 'b' : 'a', a ? "B" : "A", zy[a][i] + 0.2 * a,
                    (a ? mb : 1.0) + sg * zg[a][i]);
    fclose(f);
    mq_xp_analyze_opts o; mq_xp_analyze_opts_init(&o, sizeof o);
    o.metrics[0] = "y"; o.n_metrics = 1; o.control = "A"; o.n_guardrails = 1;
    strcpy(o.guardrails[0].metric, "g");
    o.guardrails[0].max_degradation = 0.01;
    o.guardrails[0].relative = true;
    o.guardrails[0].direction = MQ_XP_HIGHER_IS_BETTER;
    char *js = NULL, *txt = NULL;
    mq_err err = {0};
    if (mq_xp_analyze(path, &o, &js, &txt, NULL, &err)) { fprintf(stderr, "analyze: %s\n", err.msg); return NULL; }
    *root = cJSON_Parse(js);
    free(js);
    free(txt);
    return cJSON_GetObjectItemCaseSensitive(*root, "decision");
}

static bool flag(const cJSON *o, const char *k) { return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k)); }
static const char *s_of(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(x) ? x->valuestring : "";
}

/* The closed form of the relative effect's 95% CI (delta method, the means' SEs from the exact
 * sample sd): lo, hi in relative units. */
static void rel_ci(double mb, double sg, double *lo, double *hi)
{
    double se_a = sg / sqrt(N), se_b = sg / sqrt(N);
    double rel = mb - 1, se = sqrt(se_b * se_b + mb * mb * se_a * se_a);
    *lo = rel - 1.959963984540054 * se;
    *hi = rel + 1.959963984540054 * se;
}

MQ_TEST(xp_guardrail_significantly_worse_is_no_ship)
{
    char path[512];
    snprintf(path, sizeof path, "%s/g.csv", mq_test_tmpdir());
    cJSON *root = NULL;
    double lo, hi;
    /* 1. a 1.2% drop, CI about [-1.6%, -0.8%]: below 0 but not entirely beyond -1% */
    rel_ci(0.988, 0.1, &lo, &hi);
    ASSERT(hi < 0 && lo < -0.01 && hi > -0.01);
    const cJSON *d = decide(path, 0.988, 0.1, &root);
    ASSERT(d);
    const cJSON *g = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(d, "guardrails"), 0);
    ASSERT(flag(g, "significantly_worse") && flag(g, "violated") && !flag(g, "non_inferior"));
    ASSERT_STR_EQ(s_of(d, "action"), "don't ship");
    ASSERT(strstr(s_of(d, "reason"), "guardrail 'g' significantly worse (relative effect -1.2%"));
    ASSERT(strstr(s_of(d, "reason"), "not shown within 0.01"));
    cJSON_Delete(root);
    /* 2. a 0.3% drop, CI about [-0.4%, -0.2%]: significantly worse, yet shown within 1% */
    rel_ci(0.997, 0.03, &lo, &hi);
    ASSERT(hi < 0 && lo > -0.01);
    d = decide(path, 0.997, 0.03, &root);
    ASSERT(d);
    g = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(d, "guardrails"), 0);
    ASSERT(flag(g, "significantly_worse") && flag(g, "non_inferior") && !flag(g, "violated"));
    ASSERT_STR_EQ(s_of(d, "action"), "ship");
    cJSON_Delete(root);
    /* 3. a 0.5% drop, CI about [-1.9%, +0.9%]: neither worse nor shown within: keep running */
    rel_ci(0.995, 0.35, &lo, &hi);
    ASSERT(hi > 0 && lo < -0.01);
    d = decide(path, 0.995, 0.35, &root);
    ASSERT(d);
    g = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(d, "guardrails"), 0);
    ASSERT(!flag(g, "significantly_worse") && !flag(g, "non_inferior") && !flag(g, "violated"));
    ASSERT_STR_EQ(s_of(d, "action"), "keep running");
    ASSERT(strstr(s_of(d, "reason"), "not yet shown within 0.01"));
    cJSON_Delete(root);
}
