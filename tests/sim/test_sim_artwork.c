/* test_sim_artwork.c: artwork in the member simulator (the sim_artwork section of sim.c).
 *
 * - The response model: with artwork_common = 0 a member's taste for each tag is a standard
 *   normal deviate independent of everything a policy can observe, so every 3-tag artwork has
 *   the same expected click factor over members: no context-based policy can beat the default
 *   artwork on average (why the scenario sets artwork_common). With artwork_common the closed
 *   form exp(mean over tags of (w z + c c_g)) holds and artworks differ on average.
 * - scenarios/artwork.json, small: LinUCB's true click rate (counterfactual runs, common random
 *   numbers) above fixed's; the egreedy arm's logs exported by `bandit export` (the library's
 *   mq_artwork_export) hold exactly the simulator's rows and clicks, and the IPS / SNIPS / DR
 *   estimates of LinUCB from them (the probabilities the simulator wrote) have 95% CIs covering
 *   LinUCB's true value on those rows. bench/sim_artwork.sh runs the full size.
 */
#include "../test.h"
#include "sim/sim.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

MQ_TEST(sim_artwork_common_closed_form)
{
    mq_sim_params p;
    mq_sim_params_default(&p);
    ASSERT(p.artwork_common == 0);
    /* the population effect c_g: one deviate per tag, the same for every member */
    double c[6];
    static const char *tags[] = {"closeup", "dark", "shadow", "group", "bright", "couple"};
    for (int k = 0; k < 6; k++) c[k] = mq__sim_pair_noise(0x636f6d6d6f6eULL, (int32_t)mq_crc32c(0, tags[k], strlen(tags[k])));
    /* averages over 20,000 members of log(factor) for two 3-tag artworks */
    enum { M = 20000 };
    for (int with = 0; with < 2; with++) {
        p.artwork_common = with ? 0.8 : 0;
        double s1 = 0, s2 = 0;
        for (uint64_t seed = 1; seed <= M; seed++) {
            uint64_t ms = seed * 0x9e3779b97f4a7c15ULL;
            double l1 = log(mq__sim_artwork_factor(&p, ms, "closeup;dark;shadow"));
            double l2 = log(mq__sim_artwork_factor(&p, ms, "group;bright;couple"));
            s1 += l1;
            s2 += l2;
            if (seed == 1) {   /* the closed form, member by member */
                double z = 0, y = 0;
                for (int k = 0; k < 3; k++) {
                    z += 0.5 * mq__sim_pair_noise(ms ^ 0x61727477ULL, (int32_t)mq_crc32c(0, tags[k], strlen(tags[k])));
                    y += 0.5 * mq__sim_pair_noise(ms ^ 0x61727477ULL, (int32_t)mq_crc32c(0, tags[3 + k], strlen(tags[3 + k])));
                    if (with) { z += 0.8 * c[k]; y += 0.8 * c[3 + k]; }
                }
                ASSERT_NEAR(l1, z / 3, 1e-12);
                ASSERT_NEAR(l2, y / 3, 1e-12);
            }
        }
        /* the member part averages to 0 with sd 0.5 / sqrt(3) / sqrt(M) = 0.0020 per artwork */
        double want1 = with ? 0.8 * (c[0] + c[1] + c[2]) / 3 : 0, want2 = with ? 0.8 * (c[3] + c[4] + c[5]) / 3 : 0;
        ASSERT(fabs(s1 / M - want1) < 4 * 0.5 / sqrt(3.0 * M));
        ASSERT(fabs(s2 / M - want2) < 4 * 0.5 / sqrt(3.0 * M));
        /* without the common effect the two artworks are equally good on average; with it they
         * differ by the closed form (here |difference| > 10 sd of the noise) */
        if (with) ASSERT(fabs(want1 - want2) > 10 * 0.5 * sqrt(2.0 / (3.0 * M)));
    }
}

static double jnum(const cJSON *root, const char *a, const char *b, const char *c)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, a);
    if (b) x = cJSON_GetObjectItemCaseSensitive(x, b);
    if (c) x = cJSON_GetObjectItemCaseSensitive(x, c);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

MQ_TEST(sim_artwork_linucb_beats_fixed_and_ope_covers)
{
    mq_err err = {0, ""};
    mq_sim_scenario sc;
    ASSERT_OK(mq_sim_scenario_load("scenarios/artwork.json", &sc, &err), &err);
    char out[1024], models[1024];
    snprintf(out, sizeof out, "%s/art", mq_test_tmpdir());
    snprintf(models, sizeof models, "%s", mq_test_cache_dir("artwork"));
    mq_sim_opts o; mq_sim_opts_init(&o, sizeof o);
    o.data = "data/ml-latest-small"; o.models = models; o.out = out; o.scenario = &sc;
    o.members = 200; o.days = 14; o.seed = 1; o.counterfactual = true; o.threads = 2;
    char *json = NULL;
    ASSERT_OK(mq_sim_run(&o, &json, &err), &err);
    mq_sim_scenario_release(&sc);
    cJSON *j = cJSON_Parse(json);
    ASSERT(j);
    const cJSON *art = cJSON_GetObjectItemCaseSensitive(j, "artwork");
    ASSERT(art);
    const cJSON *truth = cJSON_GetObjectItemCaseSensitive(art, "truth");
    double fixed = jnum(truth, "artwork.fixed", "true_ctr", NULL), lin = jnum(truth, "artwork.linucb", "true_ctr", NULL);
    double eff = jnum(truth, "artwork.linucb", "true_ctr_effect", NULL), lo = jnum(truth, "artwork.linucb", "ci_low", NULL);
    printf("  true click rate: fixed %.6f, linucb %.6f (effect %.6f, 95%% CI low %.6f)\n", fixed, lin, eff, lo);
    ASSERT_NEAR(eff, lin - fixed, 1e-12);
    ASSERT(lo > 0);   /* LinUCB beats the default artwork, beyond its paired CI */
    /* the egreedy arm's logs as a bandit log: the simulator's rows and clicks, exactly */
    char evdir[1100], exdir[1100], csv[1100], pi[1100];
    snprintf(evdir, sizeof evdir, "%s/log/events", out);
    snprintf(exdir, sizeof exdir, "%s/log/exposures", out);
    snprintf(csv, sizeof csv, "%s/egreedy.csv", out);
    snprintf(pi, sizeof pi, "%s/artwork-pi-linucb.csv", out);
    mq_artwork_export_opts xo; mq_artwork_export_opts_init(&xo, sizeof xo);
    xo.events = evdir; xo.exposures = exdir; xo.window_s = 86400; xo.policy = "egreedy";
    int64_t rows = 0;
    ASSERT_OK(mq_artwork_export(&xo, csv, &rows, &err), &err);
    const cJSON *ope = cJSON_GetObjectItemCaseSensitive(art, "ope");
    double truth_v = jnum(ope, "linucb_true_value", NULL, NULL);
    ASSERT_INT_EQ(rows, (int64_t)jnum(ope, "rows", NULL, NULL));
    mq_bandit_log *l;
    mq_bandit_dist *d;
    ASSERT_OK(mq_bandit_log_load(csv, MQ_BANDIT_FMT_MARQUEE, 6, &l, &err), &err);   /* the demo: 3-6 artworks a title */
    double clicks = 0;
    for (int64_t i = 0; i < l->n; i++) clicks += l->reward[i];
    ASSERT(clicks == jnum(art, "ab", "egreedy", "clicks") && clicks > 100);
    ASSERT_OK(mq_bandit_dist_load(pi, 6, &d, &err), &err);
    mq_ope_result r;
    ASSERT_OK(mq_bandit_ope(l, d, NULL, &r, &err), &err);
    ASSERT(fabs(r.mean_weight - 1) < 0.05);   /* the logged propensities are the policy's */
    static const int est[] = {MQ_OPE_IPS, MQ_OPE_SNIPS, MQ_OPE_DR};
    for (int k = 0; k < 3; k++) {
        const mq_ope_estimate *e = &r.est[est[k]];
        printf("  %s %.6f [%.6f, %.6f], LinUCB's true value %.6f\n", mq_ope_name(est[k]), e->value, e->ci_low, e->ci_high, truth_v);
        ASSERT(e->ci_low <= truth_v && truth_v <= e->ci_high);
    }
    mq_bandit_dist_destroy(d);
    mq_bandit_log_destroy(l);
    cJSON_Delete(j);
    free(json);
}
