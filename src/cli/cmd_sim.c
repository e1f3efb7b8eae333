/* cmd_sim.c: `marquee sim`: the member simulator (mq_sim_run; docs/sim.md). A thin client:
 * options, the scenario file (a path, or a NAME of scenarios/NAME.json), the summary JSON on
 * stdout with --json, else a short table; progress on stderr. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *usage_text =
    "usage: marquee sim --data DATA --models DIR --scenario FILE|NAME --out DIR\n"
    "                   [--experiments FILE] [--members 2000] [--days 14] [--seed 1]\n"
    "                   [--counterfactual] [--threads N] [--server URL] [--json]\n"
    "       marquee sim --offline-check MODEL MODEL... [--offline-metric ndcg@20] (same options)\n"
    "Simulated members with known tastes visit homepages built by the library's page builder,\n"
    "play, abandon, come back or churn. Writes DIR/units-<experiment>.csv (the A/B run's units),\n"
    "DIR/analyze-<experiment>.json (marquee xp analyze on them), DIR/log/{events,exposures} (the\n"
    "A/B run's logs in the server's formats), DIR/collect-<experiment>.csv (xp collect on them)\n"
    "and, with --counterfactual,\n"
    "DIR/truth.json (each variant alone, common random numbers). --scenario NAME reads\n"
    "scenarios/NAME.json; --experiments overrides the scenario's experiments. Models missing\n"
    "from --models are trained from the scenario. --server http://HOST:PORT: the A/B run's\n"
    "pages and events go over HTTP to a `marquee serve --clock event --trending-refresh off\n"
    "--experiments DIR/experiments.json` of the same --models and --data (its logs are the\n"
    "server's; --threads connections in flight). --offline-check: each MODEL (NAME, a model of\n"
    "--models or of the scenario, or NAME=KIND[:k=v,...]) served alone to everyone: its true\n"
    "effect on play_seconds against the first, its marquee eval metrics on the first model's\n"
    "simulated plays held out in time (the second half of the days), and Kendall's tau between\n"
    "the two orderings. See docs/sim.md.\n";

enum { O_DATA = MQ_CLI_OPT, O_MODELS, O_EXPS, O_SCEN, O_MEMBERS, O_DAYS, O_SEED, O_OUT, O_CF,
       O_THREADS, O_JSON, O_SERVER, O_OFFLINE, O_OFFLINE_METRIC };
static const struct option sim_opts[] = {
    {"data", required_argument, 0, O_DATA},
    {"models", required_argument, 0, O_MODELS},
    {"experiments", required_argument, 0, O_EXPS},
    {"scenario", required_argument, 0, O_SCEN},
    {"members", required_argument, 0, O_MEMBERS},
    {"days", required_argument, 0, O_DAYS},
    {"seed", required_argument, 0, O_SEED},
    {"out", required_argument, 0, O_OUT},
    {"counterfactual", no_argument, 0, O_CF},
    {"threads", required_argument, 0, O_THREADS},
    {"json", no_argument, 0, O_JSON},
    {"server", required_argument, 0, O_SERVER},
    {"offline-check", no_argument, 0, O_OFFLINE},
    {"offline-metric", required_argument, 0, O_OFFLINE_METRIC},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

/* The summary for people: one line per (experiment, metric, variant), truth beside estimate. */
static void print_table(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    if (!j) { fputs(json, stdout); return; }
    const cJSON *est = cJSON_GetObjectItemCaseSensitive(j, "estimate"), *tru = cJSON_GetObjectItemCaseSensitive(j, "truth");
    printf("members %d, days %d, pages %.0f, events %.0f\n", cJSON_GetObjectItemCaseSensitive(j, "members")->valueint,
           cJSON_GetObjectItemCaseSensitive(j, "days")->valueint, cJSON_GetObjectItemCaseSensitive(j, "pages")->valuedouble,
           cJSON_GetObjectItemCaseSensitive(j, "events")->valuedouble);
    printf("%-16s %-14s %-8s %14s %14s %28s %10s\n", "experiment", "metric", "variant", "truth", "estimate", "95% CI", "p");
    for (const cJSON *e = est ? est->child : NULL; e; e = e->next)
        for (const cJSON *m = e->child; m; m = m->next)
            for (const cJSON *v = m->child; v; v = v->next) {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(tru, e->string), m->string), v->string), "effect");
                char tb[32] = "-";
                if (cJSON_IsNumber(t)) snprintf(tb, sizeof tb, "%.6g", t->valuedouble);
                const cJSON *ef = cJSON_GetObjectItemCaseSensitive(v, "effect"), *lo = cJSON_GetObjectItemCaseSensitive(v, "ci_low"),
                            *hi = cJSON_GetObjectItemCaseSensitive(v, "ci_high"), *p = cJSON_GetObjectItemCaseSensitive(v, "p_value");
                char ci[64] = "-";
                if (cJSON_IsNumber(lo) && cJSON_IsNumber(hi)) snprintf(ci, sizeof ci, "[%.6g, %.6g]", lo->valuedouble, hi->valuedouble);
                printf("%-16s %-14s %-8s %14s %14.6g %28s %10.4g\n", e->string, m->string, v->string, tb,
                       cJSON_IsNumber(ef) ? ef->valuedouble : NAN, ci, cJSON_IsNumber(p) ? p->valuedouble : NAN);
            }
    cJSON_Delete(j);
}

/* --offline-check for people: one line per model, then Kendall's tau. */
static void print_offline(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    if (!j) { fputs(json, stdout); return; }
    const char *metric = cJSON_GetObjectItemCaseSensitive(j, "metric")->valuestring;
    printf("members %d, days %d, held out from day %d (%d members with targets)\n",
           cJSON_GetObjectItemCaseSensitive(j, "members")->valueint, cJSON_GetObjectItemCaseSensitive(j, "days")->valueint,
           cJSON_GetObjectItemCaseSensitive(j, "cut_day")->valueint, cJSON_GetObjectItemCaseSensitive(j, "heldout_members")->valueint);
    printf("%-16s %-8s %12s %10s %18s %14s\n", "model", "kind", metric, "se", "play_seconds", "effect");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "models");
    for (const cJSON *m = ms ? ms->child : NULL; m; m = m->next) {
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "offline"), metric);
        const cJSON *on = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "online"), "play_seconds");
        printf("%-16s %-8s %12.5f %10.5f %18.1f %+14.1f\n", cJSON_GetObjectItemCaseSensitive(m, "name")->valuestring,
               cJSON_GetObjectItemCaseSensitive(m, "kind")->valuestring,
               cJSON_GetObjectItemCaseSensitive(off, "mean")->valuedouble, cJSON_GetObjectItemCaseSensitive(off, "se")->valuedouble,
               cJSON_GetObjectItemCaseSensitive(on, "mean")->valuedouble, cJSON_GetObjectItemCaseSensitive(on, "effect")->valuedouble);
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "kendall_tau");
    printf("Kendall's tau (%s vs true play_seconds effect): %.4f\n", metric, cJSON_IsNumber(t) ? t->valuedouble : NAN);
    cJSON_Delete(j);
}

int mq_cli_sim(int argc, char **argv)
{
    const char *cmd = "sim", *scen = NULL;
    mq_sim_opts o; mq_sim_opts_init(&o, sizeof o);
    o.members = 2000;
    o.days = 14;
    o.seed = 1;
    o.log = &mq_cli_log;
    bool json = false, offline = false;
    const char *ometric = NULL;
    int c;
    while ((c = mq_cli_getopt(argc, argv, sim_opts)) != -1) {
        const char *v = optarg;
        long long x;
        switch (c) {
        case 'h': fputs(usage_text, stdout); return MQ_EXIT_OK;
        case O_DATA: o.data = v; break;
        case O_MODELS: o.models = v; break;
        case O_EXPS: o.experiments = v; break;
        case O_SCEN: scen = v; break;
        case O_OUT: o.out = v; break;
        case O_MEMBERS:
            if (mq_cli_parse_i64(v, &x) || x < 1 || x > 100000000) return mq_cli_usage_error(cmd, "--members: '%s' is not in [1, 1e8]", v);
            o.members = (int)x;
            break;
        case O_DAYS:
            if (mq_cli_parse_i64(v, &x) || x < 1 || x > 3650) return mq_cli_usage_error(cmd, "--days: '%s' is not in [1, 3650]", v);
            o.days = (int)x;
            break;
        case O_SEED:
            if (mq_cli_parse_i64(v, &x) || x < 0) return mq_cli_usage_error(cmd, "--seed: '%s' is not a non-negative integer", v);
            o.seed = (uint64_t)x;
            break;
        case O_THREADS:
            if (mq_cli_parse_i64(v, &x) || x < 1 || x > 256) return mq_cli_usage_error(cmd, "--threads: '%s' is not in [1, 256]", v);
            o.threads = (int)x;
            break;
        case O_CF: o.counterfactual = true; break;
        case O_OFFLINE: offline = true; break;
        case O_OFFLINE_METRIC: ometric = v; break;
        case O_JSON: json = true; break;
        case O_SERVER:
            if (strncmp(v, "http://", 7)) return mq_cli_usage_error(cmd, "--server: '%s' is not an http:// URL", v);
            o.server = v;
            break;
        default: return mq_cli_bad_option(cmd, argv, sim_opts);
        }
    }
    if (!offline && optind < argc) return mq_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (offline && argc - optind < 2) return mq_cli_usage_error(cmd, "--offline-check needs at least 2 models");
    if (offline && o.server) return mq_cli_usage_error(cmd, "--offline-check runs in-process: drop --server");
    if (!o.data) return mq_cli_usage_error(cmd, "--data is required");
    if (!o.models) return mq_cli_usage_error(cmd, "--models is required");
    if (!o.out) return mq_cli_usage_error(cmd, "--out is required");
    if (!scen) return mq_cli_usage_error(cmd, "--scenario is required (a file, or a name in scenarios/)");
    char path[4200];
    if (!strchr(scen, '/') && !strstr(scen, ".json")) snprintf(path, sizeof path, "scenarios/%s.json", scen);
    else snprintf(path, sizeof path, "%s", scen);
    mq_err err = {0, ""};
    mq_sim_scenario sc;
    if (mq_sim_scenario_load(path, &sc, &err)) return mq_cli_fail(cmd, &err);
    o.scenario = &sc;
    char *out = NULL;
    int rc = offline ? mq_sim_offline_check(&o, (const char *const *)argv + optind, argc - optind, ometric, &out, &err)
                     : mq_sim_run(&o, &out, &err);
    mq_sim_scenario_release(&sc);
    if (rc) return mq_cli_fail(cmd, &err);
    if (json) fputs(out, stdout);
    else if (offline) print_offline(out);
    else print_table(out);
    free(out);
    return MQ_EXIT_OK;
}
