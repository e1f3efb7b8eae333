/* test_sim.c: the member simulator (src/sim/). The behaviour model's pure pieces against their
 * closed forms; the scenario parser's refusals; and each shipped scenario's documented
 * direction reproduced at small sizes on ml-100k (docs/sim.md lists them). Truths come from
 * counterfactual runs under common random numbers, so an identical variant's true effect is
 * exactly 0 and a scenario's direction is a property of the behaviour model, not of luck;
 * sizes are picked so each test stays within a few seconds. */
#include "marquee.h"
#include "sim/sim.h"
#include "../test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

MQ_TEST(sim_affinity_closed_form)
{
    mq_sim_params p;
    mq_sim_params_default(&p);
    /* a = 1 / (1 + exp(-(2 z + 0.5 q + 0.5 eps - 2))) at the defaults */
    double z = 1.3, q = -0.4, e = 0.7;
    double want = 1.0 / (1.0 + exp(-(2.0 * z + 0.5 * q + 0.5 * e - 2.0)));
    ASSERT_NEAR(mq__sim_affinity(&p, z, q, e), want, 1e-15);
    ASSERT_NEAR(mq__sim_affinity(&p, 1.0, 0, 0), 0.5, 1e-15);   /* beta z = bias */
    /* pair noise: a fixed N(0, 1) deviate per (seed, title): same value twice; over 200k titles
     * mean within 5 standard errors of 0 (5 / sqrt(2e5) = 0.011) and variance within 5 SE of 1
     * (SE of the sample variance = sqrt(2 / n) = 0.0032) */
    ASSERT(mq__sim_pair_noise(42, 7) == mq__sim_pair_noise(42, 7));
    ASSERT(mq__sim_pair_noise(42, 7) != mq__sim_pair_noise(43, 7));
    int n = 200000;
    double s1 = 0, s2 = 0;
    for (int t = 0; t < n; t++) {
        double x = mq__sim_pair_noise(9, t);
        s1 += x;
        s2 += x * x;
    }
    double m = s1 / n, v = s2 / n - m * m;
    ASSERT_NEAR(m, 0, 5 / sqrt(n));
    ASSERT_NEAR(v, 1, 5 * sqrt(2.0 / n));
}

static bool refused(const char *json, const char *needle)
{
    mq_sim_scenario sc;
    mq_err err = {0, ""};
    int rc = mq_sim_scenario_parse(json, strlen(json), "t.json", &sc, &err);
    if (rc == 0) { mq_sim_scenario_release(&sc); return false; }
    if (!strstr(err.msg, needle)) { fprintf(stderr, "  message: %s\n", err.msg); return false; }
    return rc == MQ_EFORMAT;
}

MQ_TEST(sim_scenario_strict)
{
    ASSERT(refused("{\"nmae\": \"x\"}", "field 'nmae' is unknown"));
    ASSERT(refused("{\"sim\": {\"click_scale\": 1.5}}", "field 'sim.click_scale': 1.5 is not a probability"));
    ASSERT(refused("{\"sim\": {\"row_patience\": -0.1}}", "field 'sim.row_patience'"));
    ASSERT(refused("{\"sim\": {\"clik_scale\": 0.5}}", "field 'sim.clik_scale' is unknown"));
    ASSERT(refused("{\"sim\": {\"churn_after_days\": 2.5}}", "an integer"));
    ASSERT(refused("{\"models\": {\"m\": {\"kind\": \"nope\"}}}", "field 'models.m.kind'"));
    ASSERT(refused("{\"sim_treatments\": {\"e\": {\"B\": {\"clickbait\": 2}}}}", "sim_treatments.e.B.clickbait"));
    ASSERT(refused("{\"sim_treatments\": {\"e\": {\"B\": {\"bait\": 0.1}}}}", "sim_treatments.e.B.bait' is unknown"));
    ASSERT(refused("{\"experiments\": {}}", "field 'experiments' must be an array"));
    ASSERT(refused("[1]", "a scenario is a JSON object"));
    /* accepted: a parameter overrides its default, the others keep theirs */
    const char *ok = "{\"name\": \"x\", \"sim\": {\"click_scale\": 0.2}}";
    mq_sim_scenario sc;
    mq_err err = {0, ""};
    ASSERT_OK(mq_sim_scenario_parse(ok, strlen(ok), "t.json", &sc, &err), &err);
    ASSERT_NEAR(sc.params.click_scale, 0.2, 0);
    ASSERT_NEAR(sc.params.row_patience, 0.6, 0);
    mq_sim_scenario_release(&sc);
    /* every shipped scenario parses */
    static const char *const names[] = {"aa", "clickbait", "ease-vs-pop", "mmr", "novelty"};
    for (int i = 0; i < 5; i++) {
        char path[256];
        snprintf(path, sizeof path, "scenarios/%s.json", names[i]);
        ASSERT_OK(mq_sim_scenario_load(path, &sc, &err), &err);
        ASSERT(sc.experiments_json != NULL);
        mq_sim_scenario_release(&sc);
    }
}

/* Runs scenario NAME on ml-100k; returns the parsed summary (NULL when the data is absent). */
static char last_out[1024];   /* the output folder of the latest run_scenario */
static cJSON *run_scenario(const char *name, int members, int days, uint64_t seed, int threads,
                           bool cf, const char *out_sub, char **text, mq_err *err, int *rc)
{
    const char *data = mq_test_shared("ml-100k");
    *rc = 0;
    if (!data) return NULL;
    char path[256], models[1024], out[1024];
    snprintf(path, sizeof path, "scenarios/%s.json", name);
    snprintf(models, sizeof models, "%s", mq_test_cache_dir(name));
    snprintf(out, sizeof out, "%s/%s", mq_test_tmpdir(), out_sub);
    snprintf(last_out, sizeof last_out, "%s", out);
    mq_sim_scenario sc;
    if ((*rc = mq_sim_scenario_load(path, &sc, err))) return NULL;
    mq_sim_opts o; mq_sim_opts_init(&o, sizeof o);
    o.data = data; o.models = models; o.experiments = NULL; o.out = out; o.scenario = &sc;
    o.members = members; o.days = days; o.seed = seed; o.counterfactual = cf; o.threads = threads;
    o.log = NULL; o.server = NULL;
    char *json = NULL;
    *rc = mq_sim_run(&o, &json, err);
    mq_sim_scenario_release(&sc);
    if (*rc) return NULL;
    cJSON *j = cJSON_Parse(json);
    if (text) *text = json;
    else free(json);
    return j;
}

static double num(const cJSON *root, const char *sec, const char *exp, const char *metric,
                  const char *variant, const char *field)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, sec);
    x = cJSON_GetObjectItemCaseSensitive(x, exp);
    x = cJSON_GetObjectItemCaseSensitive(x, metric);
    x = cJSON_GetObjectItemCaseSensitive(x, variant);
    x = cJSON_GetObjectItemCaseSensitive(x, field);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

MQ_TEST(sim_aa_truth_zero_estimate_not_significant)
{
    mq_err err = {0, ""};
    int rc;
    cJSON *j = run_scenario("aa", 600, 7, 1, 2, true, "aa", NULL, &err, &rc);
    if (!j && !rc) MQ_SKIP("ml-100k not in ../shared/data");
    ASSERT_OK(rc, &err);
    /* identical variants under common random numbers: every true effect is exactly 0 */
    static const char *const ms[] = {"plays", "play_seconds", "active_days", "retained"};
    for (int k = 0; k < 4; k++) ASSERT(num(j, "truth", "aa", ms[k], "B", "effect") == 0);
    /* the estimate: no significant difference on this seed, and the CIs cover 0 */
    for (int k = 0; k < 3; k++) {
        double p = num(j, "estimate", "aa", ms[k], "B", "p_value");
        ASSERT(p > 0.05);
        ASSERT(num(j, "estimate", "aa", ms[k], "B", "ci_low") <= 0 && num(j, "estimate", "aa", ms[k], "B", "ci_high") >= 0);
    }
    ASSERT(cJSON_GetObjectItemCaseSensitive(j, "members")->valueint == 600);
    ASSERT(cJSON_GetObjectItemCaseSensitive(j, "pages")->valuedouble > 600);
    cJSON_Delete(j);
    /* the files: units CSV with the collect columns plus retained; truth.json; SRM passed */
    char path[1100];
    snprintf(path, sizeof path, "%s/units-aa.csv", last_out);
    FILE *f = fopen(path, "r");
    ASSERT(f);
    char line[512];
    ASSERT(fgets(line, sizeof line, f));
    fclose(f);
    ASSERT_STR_EQ(line, "unit,variant,first_exposure,pages,plays,play_seconds,finishes,active_days,pre_plays,pre_play_seconds,retained\n");
    snprintf(path, sizeof path, "%s/truth.json", last_out);
    f = fopen(path, "r");
    ASSERT(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/analyze-aa.json", last_out);
    f = fopen(path, "r");
    ASSERT(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    ASSERT(strstr(buf, "\"passed\":true"));
}

MQ_TEST(sim_same_output_any_thread_count)
{
    mq_err err = {0, ""};
    int rc;
    char *a = NULL, *b = NULL;
    cJSON *ja = run_scenario("aa", 300, 5, 7, 1, false, "t1", &a, &err, &rc);
    if (!ja && !rc) MQ_SKIP("ml-100k not in ../shared/data");
    ASSERT_OK(rc, &err);
    cJSON *jb = run_scenario("aa", 300, 5, 7, 3, false, "t3", &b, &err, &rc);
    ASSERT_OK(rc, &err);
    ASSERT_STR_EQ(a, b);
    free(a);
    free(b);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    /* and a different seed gives a different run */
    cJSON *jc = run_scenario("aa", 300, 5, 8, 1, false, "t8", &a, &err, &rc);
    ASSERT_OK(rc, &err);
    ASSERT(strcmp(a, "") != 0);
    char *c = a;
    ja = run_scenario("aa", 300, 5, 7, 1, false, "t1b", &a, &err, &rc);
    ASSERT(strcmp(a, c) != 0);
    free(a);
    free(c);
    cJSON_Delete(ja);
    cJSON_Delete(jc);
}

MQ_TEST(sim_clickbait_plays_up_retention_down)
{
    mq_err err = {0, ""};
    int rc;
    cJSON *j = run_scenario("clickbait", 800, 21, 1, 2, true, "cb", NULL, &err, &rc);
    if (!j && !rc) MQ_SKIP("ml-100k not in ../shared/data");
    ASSERT_OK(rc, &err);
    double plays = num(j, "truth", "clickbait", "plays", "B", "effect");
    double days = num(j, "truth", "clickbait", "active_days", "B", "effect");
    double ret = num(j, "truth", "clickbait", "retained", "B", "effect");
    fprintf(stderr, "  truth: plays %+.3f, active_days %+.3f, retained %+.4f\n", plays, days, ret);
    ASSERT(plays > 0);
    ASSERT(days < 0);
    ASSERT(ret < 0);
    /* the A/B estimate sees the rise in plays */
    ASSERT(num(j, "estimate", "clickbait", "plays", "B", "effect") > 0);
    cJSON_Delete(j);
}

/* The guardrail decision end to end: the clickbait scenario (retained a guardrail, higher is
 * better, at most 1% relative fall) made strong enough to show at a small size (clickbait 0.5,
 * abandon_loss 1.0, retained = a visit in the last 2 days): plays rise and retained falls
 * significantly, and the analysis the simulator writes (analyze-clickbait.json) says don't
 * ship, naming the violated guardrail (before the deterioration test the decision was "keep
 * running" whenever the drop's CI was not entirely beyond the 1%). */
MQ_TEST(sim_clickbait_guardrail_says_dont_ship)
{
    const char *data = mq_test_shared("ml-100k");
    if (!data) MQ_SKIP("ml-100k not in ../shared/data");
    mq_err err = {0, ""};
    mq_sim_scenario sc;
    ASSERT_OK(mq_sim_scenario_load("scenarios/clickbait.json", &sc, &err), &err);
    ASSERT_INT_EQ(sc.n_treat, 1);
    sc.treat[0].clickbait = 0.5;
    sc.params.abandon_loss = 1.0;
    sc.params.retained_days = 2;
    char out[1100], path[1200];
    snprintf(out, sizeof out, "%s/cbg", mq_test_tmpdir());
    mq_sim_opts o; mq_sim_opts_init(&o, sizeof o);
    o.data = data; o.models = mq_test_cache_dir("clickbait"); o.experiments = NULL; o.out = out; o.scenario = &sc;
    o.members = 4000; o.days = 14; o.seed = 3; o.counterfactual = false; o.threads = 2; o.log = NULL; o.server = NULL;
    char *json = NULL;
    int rc = mq_sim_run(&o, &json, &err);
    mq_sim_scenario_release(&sc);
    ASSERT_OK(rc, &err);
    cJSON *j = cJSON_Parse(json);
    free(json);
    ASSERT(j);
    double pp = num(j, "estimate", "clickbait", "plays", "B", "p_value"), pr = num(j, "estimate", "clickbait", "retained", "B", "p_value");
    fprintf(stderr, "  estimate: plays %+.3f (p %.3g), retained %+.4f (p %.3g)\n", num(j, "estimate", "clickbait", "plays", "B", "effect"),
            pp, num(j, "estimate", "clickbait", "retained", "B", "effect"), pr);
    ASSERT(num(j, "estimate", "clickbait", "plays", "B", "effect") > 0 && pp < 0.05);
    ASSERT(num(j, "estimate", "clickbait", "retained", "B", "effect") < 0 && pr < 0.05);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/analyze-clickbait.json", out);
    FILE *f = fopen(path, "r");
    ASSERT(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *a = cJSON_Parse(buf);
    ASSERT(a);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(a, "decision");
    ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(d, "action")->valuestring, "don't ship");
    const char *why = cJSON_GetObjectItemCaseSensitive(d, "reason")->valuestring;
    fprintf(stderr, "  decision: %s\n", why);
    ASSERT(strstr(why, "B: guardrail 'retained' "));
    ASSERT(strstr(why, "significantly worse") || strstr(why, "degraded beyond 0.01"));
    const cJSON *g = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(d, "guardrails"), 0);
    ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(g, "metric")->valuestring, "retained");
    ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "higher_is_better")));
    ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "significantly_worse")));
    ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "violated")));
    cJSON_Delete(a);
}

MQ_TEST(sim_ease_beats_pop)
{
    mq_err err = {0, ""};
    int rc;
    /* 7 pre-period days (everyone on A's page) + 7 experiment days */
    cJSON *j = run_scenario("ease-vs-pop", 500, 14, 1, 2, true, "evp", NULL, &err, &rc);
    if (!j && !rc) MQ_SKIP("ml-100k not in ../shared/data");
    ASSERT_OK(rc, &err);
    double plays = num(j, "truth", "ease_vs_pop", "plays", "B", "effect");
    double secs = num(j, "truth", "ease_vs_pop", "play_seconds", "B", "effect");
    fprintf(stderr, "  truth: plays %+.3f, play_seconds %+.0f\n", plays, secs);
    ASSERT(plays > 0);
    ASSERT(secs > 0);
    cJSON_Delete(j);
    /* with a pre-period the estimate is CUPED on the same metric's pre-period */
    char path[1100];
    snprintf(path, sizeof path, "%s/analyze-ease_vs_pop.json", last_out);
    FILE *f = fopen(path, "r");
    ASSERT(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    ASSERT(strstr(buf, "\"metric\":\"play_seconds\",\"variant\":\"B\""));
    ASSERT(strstr(buf, "\"covariate\":\"pre_play_seconds\""));
}

/* Relative true effect of B against A: effect / (mean_B - effect). */
static double rel(const cJSON *j, const char *exp, const char *metric)
{
    double e = num(j, "truth", exp, metric, "B", "effect"), m = num(j, "truth", exp, metric, "B", "mean");
    return e / (m - e);
}

MQ_TEST(sim_novelty_early_effect_fades)
{
    mq_err err = {0, ""};
    int rc;
    cJSON *early = run_scenario("novelty", 400, 3, 1, 2, true, "n3", NULL, &err, &rc);
    if (!early && !rc) MQ_SKIP("ml-100k not in ../shared/data");
    ASSERT_OK(rc, &err);
    cJSON *late = run_scenario("novelty", 400, 14, 1, 2, true, "n14", NULL, &err, &rc);
    ASSERT_OK(rc, &err);
    double e3 = rel(early, "novelty", "plays"), e14 = rel(late, "novelty", "plays");
    fprintf(stderr, "  true relative effect on plays: %+.4f over 3 days, %+.4f over 14 days\n", e3, e14);
    ASSERT(e3 > 0);
    ASSERT(e14 < e3 / 2);
    cJSON_Delete(early);
    cJSON_Delete(late);
}

MQ_TEST(sim_mmr_small_effect)
{
    mq_err err = {0, ""};
    int rc;
    cJSON *j = run_scenario("mmr", 400, 10, 1, 2, true, "mmr", NULL, &err, &rc);
    if (!j && !rc) MQ_SKIP("ml-100k not in ../shared/data");
    ASSERT_OK(rc, &err);
    double r = rel(j, "mmr", "play_seconds");
    fprintf(stderr, "  true relative effect of mmr 1.0 on play_seconds: %+.4f\n", r);
    ASSERT(fabs(r) < 0.10);
    ASSERT(r != 0);   /* the treatment reaches the page builder */
    cJSON_Delete(j);
}

/* One CSV row's first fields: unit, variant, first_exposure, pages, plays, play_seconds. */
typedef struct urow { char unit[32], variant[32]; long long first; int pages, plays; double seconds; } urow;

static int read_units(const char *path, urow *rows, int cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[1024];
    int n = 0;
    if (!fgets(line, sizeof line, f)) { fclose(f); return -1; }
    while (n < cap && fgets(line, sizeof line, f)) {
        urow *r = &rows[n];
        if (sscanf(line, "%31[^,],%31[^,],%lld,%d,%d,%lf", r->unit, r->variant, &r->first, &r->pages, &r->plays, &r->seconds) != 6) break;
        n++;
    }
    fclose(f);
    return n;
}

/* The A/B run writes the server's event and exposure logs; `xp collect` (mq_xp_collect) on them
 * must find the simulator's own units: same units in the same order, same variant, first
 * exposure, pages, plays and play seconds (the logged float seconds, summed in double by both;
 * 1e-6 s covers the last bits of summation order). active_days may differ by the plays that
 * run past midnight (collect counts the UTC day of every event) and finishes by titles replayed
 * after an abandon (collect sums a title's seconds), so they are not compared. */
MQ_TEST(sim_units_match_xp_collect_of_the_logs)
{
    mq_err err = {0, ""};
    int rc;
    cJSON *j = run_scenario("aa", 400, 7, 3, 2, false, "logs", NULL, &err, &rc);
    if (!j && !rc) MQ_SKIP("ml-100k not in ../shared/data");
    ASSERT_OK(rc, &err);
    cJSON_Delete(j);
    static urow a[400], b[400];
    char pa[1100], pb[1100];
    snprintf(pa, sizeof pa, "%s/units-aa.csv", last_out);
    snprintf(pb, sizeof pb, "%s/collect-aa.csv", last_out);
    int na = read_units(pa, a, 400), nb = read_units(pb, b, 400);
    ASSERT(na > 300);
    ASSERT_INT_EQ(na, nb);
    for (int i = 0; i < na; i++) {
        ASSERT_STR_EQ(a[i].unit, b[i].unit);
        ASSERT_STR_EQ(a[i].variant, b[i].variant);
        ASSERT_INT_EQ(a[i].first, b[i].first);
        ASSERT_INT_EQ(a[i].pages, b[i].pages);
        ASSERT_INT_EQ(a[i].plays, b[i].plays);
        ASSERT_NEAR(a[i].seconds, b[i].seconds, 1e-6);
    }
}

/* The command: a scenario with an out-of-range probability exits 1 naming the field; a missing
 * required option exits 2. */
MQ_TEST(sim_cli_refuses_bad_scenario)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/bad.json", mq_test_tmpdir());
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fputs("{\"sim\": {\"thumb_prob\": 1.2}}", f);
    fclose(f);
    char cmd[5000];
    snprintf(cmd, sizeof cmd, "%s sim --data x --models %s.m --out %s.o --scenario %s 2>%s.err", mq_test_bin(), path, path, path, path);
    ASSERT_INT_EQ(mq_test_sh("%s", cmd), 1);
    char ep[1200];
    snprintf(ep, sizeof ep, "%s.err", path);
    f = fopen(ep, "r");
    ASSERT(f);
    char msg[512] = "";
    size_t n = fread(msg, 1, sizeof msg - 1, f);
    msg[n] = 0;
    fclose(f);
    ASSERT(strstr(msg, "field 'sim.thumb_prob': 1.2 is not a probability in [0, 1]"));
    ASSERT_INT_EQ(mq_test_sh("%s sim --data x --scenario aa 2>/dev/null", mq_test_bin()), 2);
}

/* No interference between arms in-process (SUTVA): every member's page depends only on its own
 * history, so a unit's row in the A/B run (ease-vs-pop: variants with different models, a
 * pre-period) is, column for column, its row in the counterfactual run of its own variant
 * (cf-<experiment>-<variant>.csv). The A/B estimate's error against the truth is then only
 * which members the hash put in which arm (docs/sim.md, "Does the estimate tell the truth?"). */
MQ_TEST(sim_no_interference_between_arms)
{
    mq_err err = {0, ""};
    int rc;
    cJSON *j = run_scenario("ease-vs-pop", 300, 10, 5, 2, true, "sutva", NULL, &err, &rc);
    if (!j && !rc) MQ_SKIP("ml-100k not in ../shared/data");
    ASSERT_OK(rc, &err);
    cJSON_Delete(j);
    static char ab[400][256], cf[2][400][256];
    int nab = 0, ncf[2] = {0, 0};
    char path[1200], line[256];
    snprintf(path, sizeof path, "%s/units-ease_vs_pop.csv", last_out);
    FILE *f = fopen(path, "r");
    ASSERT(f && fgets(line, sizeof line, f));
    while (nab < 400 && fgets(ab[nab], sizeof ab[nab], f)) nab++;
    fclose(f);
    for (int v = 0; v < 2; v++) {
        snprintf(path, sizeof path, "%s/cf-ease_vs_pop-%s.csv", last_out, v ? "B" : "A");
        f = fopen(path, "r");
        ASSERT(f && fgets(line, sizeof line, f));
        while (ncf[v] < 400 && fgets(cf[v][ncf[v]], sizeof cf[v][0], f)) ncf[v]++;
        fclose(f);
        ASSERT_INT_EQ(ncf[v], nab);   /* the same members are exposed under either variant */
    }
    ASSERT(nab > 200);
    int checked[2] = {0, 0};
    for (int i = 0; i < nab; i++) {
        const char *c1 = strchr(ab[i], ',');
        ASSERT(c1);
        int v = c1[1] == 'B';
        bool found = false;
        for (int k = 0; k < ncf[v] && !found; k++)
            if (!strncmp(cf[v][k], ab[i], (size_t)(c1 - ab[i] + 1))) {
                ASSERT_STR_EQ(cf[v][k], ab[i]);
                found = true;
            }
        ASSERT(found);
        checked[v]++;
    }
    ASSERT(checked[0] > 50 && checked[1] > 50);
    /* and the variants do differ for the members: the check is not one of identical files */
    int differ = 0;
    for (int k = 0; k < ncf[0]; k++) {
        const char *a = strchr(cf[0][k], ','), *b = strchr(cf[1][k], ',');
        differ += strcmp(strchr(a + 1, ','), strchr(b + 1, ',')) != 0;
    }
    ASSERT(differ > nab / 4);
}

/* --offline-check: four models (kinds and a hyperparameter) each served alone; the summary
 * has every model with the eval metrics offline and the four unit metrics online, the first
 * model's effects are exactly 0, a model served to everyone differs online from another, and
 * kendall_tau is Kendall's tau-b (mq_stats_kendall_tau, checked against scipy in
 * stats_kendall_tau_vs_scipy) of the reported offline metric and play_seconds effects. */
MQ_TEST(sim_offline_check_orders_models)
{
    const char *data = mq_test_shared("ml-100k");
    if (!data) MQ_SKIP("ml-100k not in ../shared/data");
    mq_err err = {0, ""};
    mq_sim_scenario sc;
    ASSERT_OK(mq_sim_scenario_load("scenarios/aa.json", &sc, &err), &err);
    char out[1100];
    snprintf(out, sizeof out, "%s/offline", mq_test_tmpdir());
    mq_sim_opts o; mq_sim_opts_init(&o, sizeof o);
    o.data = data; o.models = mq_test_cache_dir("offline"); o.experiments = NULL; o.out = out;
    o.scenario = &sc; o.members = 200; o.days = 8; o.seed = 1; o.counterfactual = false;
    o.threads = 2; o.log = NULL; o.server = NULL;
    const char *models[] = {"pop=pop", "ease200=ease:lambda=200", "ease5=ease:lambda=5", "knn=itemknn:k=50"};
    char *json = NULL;
    int rc = mq_sim_offline_check(&o, models, 4, "recall@20", &json, &err);
    mq_sim_scenario_release(&sc);
    ASSERT_OK(rc, &err);
    cJSON *j = cJSON_Parse(json);
    free(json);
    ASSERT(j);
    ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(j, "metric")->valuestring, "recall@20");
    ASSERT_INT_EQ(cJSON_GetObjectItemCaseSensitive(j, "cut_day")->valueint, 4);
    ASSERT(cJSON_GetObjectItemCaseSensitive(j, "heldout_members")->valueint > 50);
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "models");
    ASSERT_INT_EQ(cJSON_GetArraySize(ms), 4);
    double off[4], eff[4];
    static const char *const names[] = {"pop", "ease200", "ease5", "knn"}, *const kinds[] = {"pop", "ease", "ease", "itemknn"};
    for (int v = 0; v < 4; v++) {
        const cJSON *m = cJSON_GetArrayItem(ms, v);
        ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(m, "name")->valuestring, names[v]);
        ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(m, "kind")->valuestring, kinds[v]);
        const cJSON *offl = cJSON_GetObjectItemCaseSensitive(m, "offline"), *onl = cJSON_GetObjectItemCaseSensitive(m, "online");
        off[v] = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(offl, "recall@20"), "mean")->valuedouble;
        ASSERT(off[v] > 0 && off[v] <= 1);
        ASSERT(cJSON_GetObjectItemCaseSensitive(offl, "ndcg@10") && cJSON_GetObjectItemCaseSensitive(offl, "auc"));
        eff[v] = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(onl, "play_seconds"), "effect")->valuedouble;
        ASSERT(cJSON_GetObjectItemCaseSensitive(onl, "retained"));
    }
    ASSERT(eff[0] == 0);
    ASSERT(eff[1] != 0 && eff[2] != 0 && eff[3] != 0);
    ASSERT(off[1] != off[2]);   /* the hyperparameter reaches the model */
    ASSERT_NEAR(cJSON_GetObjectItemCaseSensitive(j, "kendall_tau")->valuedouble, mq_stats_kendall_tau(off, eff, 4), 1e-15);
    cJSON_Delete(j);
    /* bad model lists are refused naming the model */
    sc = (mq_sim_scenario){0};
    ASSERT_OK(mq_sim_scenario_load("scenarios/aa.json", &sc, &err), &err);
    o.scenario = &sc;
    const char *bad[] = {"pop=pop", "pop=ease"};
    ASSERT(mq_sim_offline_check(&o, bad, 2, NULL, &json, &err) == MQ_EINVAL);
    ASSERT(strstr(err.msg, "'pop' named twice"));
    ASSERT(mq_sim_offline_check(&o, bad, 1, NULL, &json, &err) == MQ_EINVAL);
    mq_sim_scenario_release(&sc);
}

/* The artwork term against its closed form: exp(w * mean over the tags of z), z the hashed
 * standard normal of (member seed, tag CRC-32C); 1 without artwork or with weight 0; over many
 * members one tag's log-factor has mean 0 and sd w (20,000 draws: the sd's standard error is
 * w / sqrt(40,000) = 0.0025, 4% tolerance is 8 of them). And the catalog lookup of an artwork
 * id among a title's artworks. */
MQ_TEST(sim_artwork_factor_closed_form)
{
    mq_sim_params p;
    mq_sim_params_default(&p);
    ASSERT_NEAR(p.artwork_weight, 0.5, 0);
    ASSERT(mq__sim_artwork_factor(&p, 7, NULL) == 1.0);
    ASSERT(mq__sim_artwork_factor(&p, 7, "") == 1.0);
    double z1 = mq__sim_pair_noise(7 ^ 0x61727477ULL, (int32_t)mq_crc32c(0, "closeup", 7));
    double z2 = mq__sim_pair_noise(7 ^ 0x61727477ULL, (int32_t)mq_crc32c(0, "dark", 4));
    ASSERT_NEAR(mq__sim_artwork_factor(&p, 7, "closeup;dark"), exp(0.5 * (z1 + z2) / 2), 1e-15);
    ASSERT_NEAR(mq__sim_artwork_factor(&p, 7, "closeup"), exp(0.5 * z1), 1e-15);
    ASSERT(mq__sim_artwork_factor(&p, 8, "closeup") != mq__sim_artwork_factor(&p, 7, "closeup"));
    double s1 = 0, s2 = 0;
    for (uint64_t seed = 1; seed <= 20000; seed++) {
        double l = log(mq__sim_artwork_factor(&p, seed * 0x9e3779b97f4a7c15ULL, "dark"));
        s1 += l;
        s2 += l * l;
    }
    double mean = s1 / 20000, sd = sqrt(s2 / 20000 - mean * mean);
    ASSERT(fabs(mean) < 4 * 0.5 / sqrt(20000.0));
    ASSERT_NEAR(sd, 0.5, 0.02);
    p.artwork_weight = 0;
    ASSERT(mq__sim_artwork_factor(&p, 7, "closeup;dark") == 1.0);
    /* lookup: title 1's artworks "1-a" ("closeup") and "1-b" ("dark;text") */
    mq_catalog c;
    ASSERT(mq_catalog_init(&c, 2) == 0);
    c.art_ptr = calloc(3, sizeof *c.art_ptr);
    c.art_ids = calloc(2, sizeof *c.art_ids);
    c.art_features = calloc(2, sizeof *c.art_features);
    ASSERT(c.art_ptr && c.art_ids && c.art_features);
    c.art_ptr[2] = 2;
    c.art_ptr[1] = 0;
    c.art_ids[0] = strdup("1-a");
    c.art_ids[1] = strdup("1-b");
    c.art_features[0] = strdup("closeup");
    c.art_features[1] = strdup("dark;text");
    c.n_artworks = 2;
    ASSERT_STR_EQ(mq__sim_artwork_features(&c, 1, "1-b"), "dark;text");
    ASSERT(mq__sim_artwork_features(&c, 1, "1-z") == NULL);
    ASSERT(mq__sim_artwork_features(&c, 0, "1-a") == NULL);
    ASSERT(mq__sim_artwork_features(&c, 5, "1-a") == NULL);
    mq_catalog_release(&c);
}
