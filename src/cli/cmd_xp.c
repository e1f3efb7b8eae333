/* cmd_xp.c: `marquee xp assign | analyze | design | bounds`, thin clients of the xp API.
 * Data (tables, JSON) go to stdout, errors to stderr; exit 0 ok, 1 failure, 2 usage. */
#include "cli.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE_XP =
    "usage: marquee xp <command> [options]\n"
    "  assign   --config xp.json --member ID [--experiment NAME] [--time UNIX] [--json]\n"
    "  analyze  FILE --metric NAME [--metric NAME2 ...] --control A [options] [--json]\n"
    "  design   --sd 1 --mde 0.02 | --baseline-rate 0.1 --mde 0.01 [options] [--json]\n"
    "  bounds   --looks 5 [--alpha 0.05] [--type obf|pocock] [--json]\n"
    "Run 'marquee xp <command> --help' for the options of each.\n";

static const char *USAGE_ASSIGN =
    "usage: marquee xp assign --config xp.json --member ID [--experiment NAME] [--time UNIX] [--json]\n"
    "Deterministic assignment (GrowthBook v1 FNV-1a hashing): prints, for every experiment of the\n"
    "config (or the one named), the member's variant or why it is not in the experiment.\n";

static const char *USAGE_ANALYZE =
    "usage: marquee xp analyze FILE --metric NAME [--metric NAME2 ...] --control A [options]\n"
    "FILE: CSV with a header (unit,variant,<metrics>,<covariates>...); '-' reads stdin.\n"
    "  --metric NAME         metric column (repeatable); NUM/DEN for a ratio metric (delta method)\n"
    "  --control A           control variant\n"
    "  --config xp.json      experiment definition: weights, primary metric, guardrails, MDE\n"
    "  --experiment NAME     which experiment of the config (default: the first)\n"
    "  --variant-col COL     variant column (default 'variant')\n"
    "  --weights A=0.5,B=0.5 expected traffic split for the SRM check (default: config or equal)\n"
    "  --alpha 0.05          two-sided level\n"
    "  --covariate PRE       pre-period covariate: CUPED (OLS, theta pooled within arms)\n"
    "  --segment COL         per-segment effects, Cochran's Q, post-stratified estimate\n"
    "  --day COL             day since exposure: per-day effects and a trend (novelty) test\n"
    "  --pair COL            paired analysis: units matched on COL, t-test on differences\n"
    "  --sequential          mSPRT always-valid p-values and confidence sequences\n"
    "  --tau T               mSPRT mixing sd (default: absolute MDE, else 0.1 x pooled sd)\n"
    "  --look-every N        mSPRT look after every N rows (default 100)\n"
    "  --gs-looks K --gs-look k [--gs-type obf|pocock]  group-sequential bound at look k of K\n"
    "  --mann-whitney        Mann-Whitney U test (on the reservoir sample)\n"
    "  --bootstrap           percentile bootstrap of the mean difference\n"
    "  --quantile Q          quantile treatment effect with bootstrap CI (repeatable)\n"
    "  --boot N              bootstrap resamples (default 2000)\n"
    "  --reservoir N         reservoir sample per arm and metric (default 20000)\n"
    "  --seed S              seed for reservoir and bootstrap (default 1)\n"
    "  --guardrail M:D[:lower][:abs]  guardrail metric M may degrade by at most D (relative)\n"
    "  --srm-alpha 0.001     SRM failure threshold\n"
    "  --threads 1|2         threads for the plain pass (default: 2 for files >= 64 MiB when no\n"
    "                        sequential/reservoir/pair/segment/day option needs one ordered pass)\n"
    "  --json                the stable JSON document (docs/xp.md)\n";

static const char *USAGE_DESIGN =
    "usage: marquee xp design (--sd S | --baseline-rate P) (--mde D | --n N) [options]\n"
    "  --sd S                 metric standard deviation (a mean metric)\n"
    "  --baseline-rate P      control conversion rate (a rate metric; unpooled variances)\n"
    "  --baseline-mean M      control mean (needed for --relative with --sd)\n"
    "  --mde D                minimum detectable effect (absolute; a fraction with --relative)\n"
    "  --relative             the MDE is relative to the baseline\n"
    "  --n N                  units per arm: report the MDE instead of the sample size\n"
    "  --alpha 0.05 --power 0.8 --arms 2   (alpha is split over arms-1 comparisons: Bonferroni)\n"
    "  --daily-traffic T      units per day entering the experiment (all arms): duration\n"
    "  --cuped-r2 R2 | --variance-reduction R   CUPED's expected variance reduction\n"
    "  --json\n";

static const char *USAGE_BOUNDS =
    "usage: marquee xp bounds --looks K [--alpha 0.05] [--type obf|pocock] [--json]\n"
    "Two-sided group-sequential z bounds for K equally spaced looks, and the type-I error of\n"
    "testing at the fixed 1 - alpha/2 quantile at every look.\n";

/* Prints s as a JSON string literal. */
static void jstr(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

static int need(int i, int argc, const char *cmd, const char *opt)
{
    if (i + 1 >= argc) { mq_cli_usage_error(cmd, "%s needs a value", opt); return 0; }
    return 1;
}

static int num(const char *cmd, const char *opt, const char *v, double *out)
{
    if (mq_cli_parse_double(v, out) || !isfinite(*out)) { mq_cli_usage_error(cmd, "%s: '%s' is not a number", opt, v); return 0; }
    return 1;
}

static int cmd_assign(int argc, char **argv)
{
    const char *cmd = "xp assign", *config = NULL, *member = NULL, *exp = NULL;
    long long now = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (mq_cli_is_help(argv[i])) { fputs(USAGE_ASSIGN, stdout); return MQ_EXIT_OK; }
        else if (!strcmp(argv[i], "--config")) { if (!need(i, argc, cmd, argv[i])) return MQ_EXIT_USAGE; config = argv[++i]; }
        else if (!strcmp(argv[i], "--member")) { if (!need(i, argc, cmd, argv[i])) return MQ_EXIT_USAGE; member = argv[++i]; }
        else if (!strcmp(argv[i], "--experiment")) { if (!need(i, argc, cmd, argv[i])) return MQ_EXIT_USAGE; exp = argv[++i]; }
        else if (!strcmp(argv[i], "--time")) {
            if (!need(i, argc, cmd, argv[i])) return MQ_EXIT_USAGE;
            if (mq_cli_parse_i64(argv[++i], &now)) return mq_cli_usage_error(cmd, "--time: '%s' is not unix seconds", argv[i]);
        } else if (!strcmp(argv[i], "--json")) json = true;
        else return mq_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
    }
    if (!config || !member) return mq_cli_usage_error(cmd, "--config and --member are required");
    mq_xp_config cfg;
    mq_err err = {0};
    if (mq_xp_config_load(config, &cfg, &err)) return mq_cli_fail(cmd, &err);
    if (exp && !mq_xp_config_find(&cfg, exp)) {
        err.code = MQ_ENOTFOUND;
        snprintf(err.msg, sizeof err.msg, "%s: no experiment named '%s'", config, exp);
        mq_xp_config_release(&cfg);
        return mq_cli_fail(cmd, &err);
    }
    if (json) { printf("{\"member\":"); jstr(member); printf(",\"assignments\":["); }
    bool first = true;
    for (int i = 0; i < cfg.n; i++) {
        const mq_xp_experiment *x = &cfg.exps[i];
        if (exp && strcmp(x->name, exp)) continue;
        mq_xp_assignment a;
        mq_xp_assign(x, member, now, &a);
        if (json) {
            printf("%s{\"experiment\":", first ? "" : ",");
            jstr(x->name);
            printf(",\"layer\":");
            if (x->layer[0]) jstr(x->layer); else printf("null");
            printf(",\"in_experiment\":%s,\"variant\":", a.in_experiment ? "true" : "false");
            if (a.in_experiment) jstr(a.variant_name); else printf("null");
            printf(",\"bucket\":%.3f,\"reason\":", a.bucket);
            jstr(a.reason);
            printf("}");
        } else {
            printf("%s\t%s\t%s\n", x->name, a.in_experiment ? a.variant_name : "-", a.reason);
        }
        first = false;
    }
    if (json) printf("]}\n");
    mq_xp_config_release(&cfg);
    return MQ_EXIT_OK;
}

static int parse_weights(const char *cmd, const char *s, mq_xp_analyze_opts *o)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", s);
    o->n_weights = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok) { mq_cli_usage_error(cmd, "--weights: '%s' is not NAME=WEIGHT", tok); return 0; }
        *eq = 0;
        if (o->n_weights >= MQ_XP_MAX_VARIANTS || strlen(tok) >= MQ_XP_NAME) { mq_cli_usage_error(cmd, "--weights: too many variants or name too long"); return 0; }
        double w;
        if (mq_cli_parse_double(eq + 1, &w) || !(w >= 0) || !isfinite(w)) { mq_cli_usage_error(cmd, "--weights: '%s' is not a weight >= 0", eq + 1); return 0; }
        strcpy(o->weight_names[o->n_weights], tok);
        o->weights[o->n_weights++] = w;
    }
    double sum = 0;
    for (int i = 0; i < o->n_weights; i++) sum += o->weights[i];
    if (o->n_weights < 2 || !(sum > 0)) { mq_cli_usage_error(cmd, "--weights: need at least 2 variants with positive total weight"); return 0; }
    return 1;
}

static int parse_guardrail(const char *cmd, const char *s, mq_xp_guardrail *g)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    memset(g, 0, sizeof *g);
    g->relative = true;
    g->higher_is_better = true;
    char *save = NULL, *name = strtok_r(buf, ":", &save), *d = strtok_r(NULL, ":", &save);
    if (!name || !d || strlen(name) >= MQ_XP_NAME) { mq_cli_usage_error(cmd, "--guardrail: '%s' is not METRIC:MAX_DEGRADATION[:lower][:abs]", s); return 0; }
    strcpy(g->metric, name);
    if (mq_cli_parse_double(d, &g->max_degradation) || !(g->max_degradation >= 0)) { mq_cli_usage_error(cmd, "--guardrail: '%s' is not a degradation >= 0", d); return 0; }
    for (char *f = strtok_r(NULL, ":", &save); f; f = strtok_r(NULL, ":", &save)) {
        if (!strcmp(f, "lower")) g->higher_is_better = false;
        else if (!strcmp(f, "abs")) g->relative = false;
        else { mq_cli_usage_error(cmd, "--guardrail: unknown flag '%s' (lower, abs)", f); return 0; }
    }
    return 1;
}

static int cmd_analyze(int argc, char **argv)
{
    const char *cmd = "xp analyze", *file = NULL, *config = NULL, *exp = NULL;
    mq_xp_analyze_opts o;
    memset(&o, 0, sizeof o);
    o.look_every = 100;
    bool json = false;
    double v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define VAL() do { if (!need(i, argc, cmd, a)) return MQ_EXIT_USAGE; } while (0)
        if (mq_cli_is_help(a)) { fputs(USAGE_ANALYZE, stdout); return MQ_EXIT_OK; }
        else if (!strcmp(a, "--metric")) { VAL(); if (o.n_metrics >= MQ_XP_MAX_METRICS) return mq_cli_usage_error(cmd, "at most %d metrics", MQ_XP_MAX_METRICS); o.metrics[o.n_metrics++] = argv[++i]; }
        else if (!strcmp(a, "--control")) { VAL(); o.control = argv[++i]; }
        else if (!strcmp(a, "--config")) { VAL(); config = argv[++i]; }
        else if (!strcmp(a, "--experiment")) { VAL(); exp = argv[++i]; }
        else if (!strcmp(a, "--variant-col")) { VAL(); o.variant_col = argv[++i]; }
        else if (!strcmp(a, "--covariate")) { VAL(); o.covariate = argv[++i]; }
        else if (!strcmp(a, "--segment")) { VAL(); o.segment = argv[++i]; }
        else if (!strcmp(a, "--day")) { VAL(); o.day = argv[++i]; }
        else if (!strcmp(a, "--pair")) { VAL(); o.pair = argv[++i]; }
        else if (!strcmp(a, "--weights")) { VAL(); if (!parse_weights(cmd, argv[++i], &o)) return MQ_EXIT_USAGE; }
        else if (!strcmp(a, "--alpha")) { VAL(); if (!num(cmd, a, argv[++i], &o.alpha)) return MQ_EXIT_USAGE; if (!(o.alpha > 0 && o.alpha < 1)) return mq_cli_usage_error(cmd, "--alpha must be in (0, 1)"); }
        else if (!strcmp(a, "--srm-alpha")) { VAL(); if (!num(cmd, a, argv[++i], &o.srm_alpha)) return MQ_EXIT_USAGE; if (!(o.srm_alpha > 0 && o.srm_alpha < 1)) return mq_cli_usage_error(cmd, "--srm-alpha must be in (0, 1)"); }
        else if (!strcmp(a, "--sequential")) o.sequential = true;
        else if (!strcmp(a, "--tau")) { VAL(); if (!num(cmd, a, argv[++i], &o.tau)) return MQ_EXIT_USAGE; if (!(o.tau > 0)) return mq_cli_usage_error(cmd, "--tau must be > 0"); }
        else if (!strcmp(a, "--look-every")) { VAL(); long long n; if (mq_cli_parse_i64(argv[++i], &n) || n < 1) return mq_cli_usage_error(cmd, "--look-every: '%s' is not a count >= 1", argv[i]); o.look_every = n; }
        else if (!strcmp(a, "--gs-looks")) { VAL(); if (!num(cmd, a, argv[++i], &v)) return MQ_EXIT_USAGE; o.gs_looks = (int)v; }
        else if (!strcmp(a, "--gs-look")) { VAL(); if (!num(cmd, a, argv[++i], &v)) return MQ_EXIT_USAGE; o.gs_look = (int)v; }
        else if (!strcmp(a, "--gs-type")) { VAL(); i++; if (!strcmp(argv[i], "obf")) o.gs_type = MQ_GS_OBF; else if (!strcmp(argv[i], "pocock")) o.gs_type = MQ_GS_POCOCK; else return mq_cli_usage_error(cmd, "--gs-type: '%s' is not obf or pocock", argv[i]); }
        else if (!strcmp(a, "--mann-whitney")) o.mann_whitney = true;
        else if (!strcmp(a, "--bootstrap")) o.bootstrap = true;
        else if (!strcmp(a, "--quantile")) { VAL(); if (o.n_quantiles >= MQ_XP_MAX_QUANTILES) return mq_cli_usage_error(cmd, "at most %d quantiles", MQ_XP_MAX_QUANTILES); if (!num(cmd, a, argv[++i], &o.quantiles[o.n_quantiles])) return MQ_EXIT_USAGE; if (!(o.quantiles[o.n_quantiles] > 0 && o.quantiles[o.n_quantiles] < 1)) return mq_cli_usage_error(cmd, "--quantile must be in (0, 1) (got '%s')", argv[i]); o.n_quantiles++; }
        else if (!strcmp(a, "--boot")) { VAL(); long long n; if (mq_cli_parse_i64(argv[++i], &n) || n < 10 || n > 1000000) return mq_cli_usage_error(cmd, "--boot: '%s' is not a count in [10, 1e6]", argv[i]); o.n_boot = (int)n; }
        else if (!strcmp(a, "--reservoir")) { VAL(); long long n; if (mq_cli_parse_i64(argv[++i], &n) || n < 2) return mq_cli_usage_error(cmd, "--reservoir: '%s' is not a count >= 2", argv[i]); o.reservoir = n; }
        else if (!strcmp(a, "--seed")) { VAL(); long long n; if (mq_cli_parse_i64(argv[++i], &n)) return mq_cli_usage_error(cmd, "--seed: '%s' is not an integer", argv[i]); o.seed = (unsigned long long)n; }
        else if (!strcmp(a, "--guardrail")) { VAL(); if (o.n_guardrails >= MQ_XP_MAX_GUARDRAILS) return mq_cli_usage_error(cmd, "too many guardrails"); if (!parse_guardrail(cmd, argv[++i], &o.guardrails[o.n_guardrails])) return MQ_EXIT_USAGE; o.n_guardrails++; }
        else if (!strcmp(a, "--threads")) { VAL(); long long n; if (mq_cli_parse_i64(argv[++i], &n) || n < 1 || n > 2) return mq_cli_usage_error(cmd, "--threads: '%s' is not 1 or 2", argv[i]); o.threads = (int)n; }
        else if (!strcmp(a, "--json")) json = true;
        else if (a[0] == '-' && a[1]) return mq_cli_usage_error(cmd, "unknown option '%s'", a);
        else if (!file) file = a;
        else return mq_cli_usage_error(cmd, "unexpected argument '%s'", a);
#undef VAL
    }
    if (!file) return mq_cli_usage_error(cmd, "FILE is required");
    if (!o.control) return mq_cli_usage_error(cmd, "--control is required");
    if (o.gs_looks && !o.gs_look) return mq_cli_usage_error(cmd, "--gs-looks needs --gs-look");
    mq_err err = {0};
    mq_xp_config cfg = {0};
    if (config) {
        if (mq_xp_config_load(config, &cfg, &err)) return mq_cli_fail(cmd, &err);
        o.experiment = exp ? mq_xp_config_find(&cfg, exp) : &cfg.exps[0];
        if (!o.experiment) { mq_xp_config_release(&cfg); return mq_cli_usage_error(cmd, "--experiment: '%s' is not in %s", exp, config); }
    }
    if (!o.n_metrics && !(o.experiment && o.experiment->primary_metric[0])) { mq_xp_config_release(&cfg); return mq_cli_usage_error(cmd, "--metric is required"); }
    char *js = NULL, *txt = NULL;
    int rc = mq_xp_analyze(file, &o, &js, &txt, &mq_cli_log, &err);
    mq_xp_config_release(&cfg);
    if (rc) return mq_cli_fail(cmd, &err);
    fputs(json ? js : txt, stdout);
    free(js);
    free(txt);
    return MQ_EXIT_OK;
}

static int cmd_design(int argc, char **argv)
{
    const char *cmd = "xp design";
    mq_xp_design_in in;
    memset(&in, 0, sizeof in);
    in.alpha = 0.05;
    in.power = 0.8;
    in.arms = 2;
    bool json = false;
    double v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double *dst = NULL;
        if (mq_cli_is_help(a)) { fputs(USAGE_DESIGN, stdout); return MQ_EXIT_OK; }
        else if (!strcmp(a, "--json")) { json = true; continue; }
        else if (!strcmp(a, "--relative")) { in.relative = true; continue; }
        else if (!strcmp(a, "--sd")) dst = &in.sd;
        else if (!strcmp(a, "--mde")) dst = &in.mde;
        else if (!strcmp(a, "--baseline-rate")) dst = &in.baseline_rate;
        else if (!strcmp(a, "--baseline-mean")) dst = &in.baseline_mean;
        else if (!strcmp(a, "--alpha")) dst = &in.alpha;
        else if (!strcmp(a, "--power")) dst = &in.power;
        else if (!strcmp(a, "--n")) dst = &in.n;
        else if (!strcmp(a, "--daily-traffic")) dst = &in.daily_traffic;
        else if (!strcmp(a, "--cuped-r2") || !strcmp(a, "--variance-reduction")) dst = &in.variance_reduction;
        else if (!strcmp(a, "--arms")) dst = &v;
        else return mq_cli_usage_error(cmd, "unknown option '%s'", a);
        if (!need(i, argc, cmd, a)) return MQ_EXIT_USAGE;
        if (!num(cmd, a, argv[++i], dst)) return MQ_EXIT_USAGE;
        if (dst == &v) { if (v != floor(v) || v < 2 || v > MQ_XP_MAX_VARIANTS) return mq_cli_usage_error(cmd, "--arms must be an integer in [2, %d]", MQ_XP_MAX_VARIANTS); in.arms = (int)v; }
        if (dst == &in.baseline_rate && !(in.baseline_rate > 0 && in.baseline_rate < 1)) return mq_cli_usage_error(cmd, "--baseline-rate must be in (0, 1)");
        if (dst == &in.n && !(in.n >= 2)) return mq_cli_usage_error(cmd, "--n must be >= 2");
    }
    mq_xp_design_out out;
    mq_err err = {0};
    if (mq_xp_design(&in, &out, &err)) { fprintf(stderr, "marquee %s: %s\nTry 'marquee %s --help'.\n", cmd, err.msg, cmd); return MQ_EXIT_USAGE; }
    if (json) {
        printf("{\"n_per_arm\":%lld,\"n_per_arm_exact\":%.10g,\"n_total\":%lld,\"arms\":%d,\"mde\":%.10g,\"mde_relative\":",
               out.n_per_arm, out.n_exact, out.n_total, in.arms, out.mde_abs);
        if (out.mde_rel > 0) printf("%.10g", out.mde_rel); else printf("null");
        printf(",\"alpha\":%.10g,\"alpha_per_comparison\":%.10g,\"power\":%.10g,\"variance_reduction\":%.10g,\"n_per_arm_without_cuped\":%.10g,\"metric\":\"%s\",\"days\":",
               in.alpha, out.alpha_per_comparison, in.power, out.variance_reduction, out.n_without_cuped, in.baseline_rate > 0 ? "rate" : "mean");
        if (out.days > 0) printf("%.10g", out.days); else printf("null");
        printf(",\"multiple_arms\":\"Bonferroni: alpha / (arms - 1) per comparison with control\"}\n");
    } else {
        if (in.n > 0) printf("MDE with %.0f units per arm: %.6g%s\n", in.n, out.mde_abs, out.mde_rel > 0 ? "" : "");
        else printf("units per arm: %lld (exact %.1f), total %lld over %d arms\n", out.n_per_arm, out.n_exact, out.n_total, in.arms);
        if (out.mde_rel > 0) printf("MDE: %.6g absolute, %.4g%% relative\n", out.mde_abs, 100 * out.mde_rel);
        printf("alpha %.4g two-sided (%.4g per comparison), power %.4g\n", in.alpha, out.alpha_per_comparison, in.power);
        if (out.variance_reduction > 0) printf("CUPED variance reduction %.1f%%: %.1f units per arm without it\n", 100 * out.variance_reduction, out.n_without_cuped);
        if (out.days > 0) printf("duration: %.2f days at %.0f units/day\n", out.days, in.daily_traffic);
    }
    return MQ_EXIT_OK;
}

static int cmd_bounds(int argc, char **argv)
{
    const char *cmd = "xp bounds";
    double alpha = 0.05, looks = 0;
    int type = MQ_GS_OBF;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mq_cli_is_help(a)) { fputs(USAGE_BOUNDS, stdout); return MQ_EXIT_OK; }
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--looks")) { if (!need(i, argc, cmd, a) || !num(cmd, a, argv[++i], &looks)) return MQ_EXIT_USAGE; }
        else if (!strcmp(a, "--alpha")) { if (!need(i, argc, cmd, a) || !num(cmd, a, argv[++i], &alpha)) return MQ_EXIT_USAGE; }
        else if (!strcmp(a, "--type")) {
            if (!need(i, argc, cmd, a)) return MQ_EXIT_USAGE;
            i++;
            if (!strcmp(argv[i], "obf")) type = MQ_GS_OBF; else if (!strcmp(argv[i], "pocock")) type = MQ_GS_POCOCK;
            else return mq_cli_usage_error(cmd, "--type: '%s' is not obf or pocock", argv[i]);
        } else return mq_cli_usage_error(cmd, "unknown option '%s'", a);
    }
    if (looks != floor(looks) || looks < 1 || looks > 50) return mq_cli_usage_error(cmd, "--looks must be an integer in [1, 50]");
    if (!(alpha > 0 && alpha < 1)) return mq_cli_usage_error(cmd, "--alpha must be in (0, 1)");
    int K = (int)looks;
    double b[50], naive[50];
    mq_stats_gs_bounds(K, alpha, type, b);
    for (int k = 0; k < K; k++) naive[k] = mq_stats_norm_ppf(1 - alpha / 2);
    double nv = mq_stats_gs_crossing(K, naive);
    if (json) {
        printf("{\"type\":\"%s\",\"looks\":%d,\"alpha\":%.10g,\"bounds\":[", type == MQ_GS_OBF ? "obrien_fleming" : "pocock", K, alpha);
        for (int k = 0; k < K; k++) printf("%s%.6f", k ? "," : "", b[k]);
        printf("],\"naive_type1_error\":%.6f}\n", nv);
    } else {
        printf("%s bounds, %d equally spaced looks, two-sided alpha %.4g:\n", type == MQ_GS_OBF ? "O'Brien-Fleming" : "Pocock", K, alpha);
        for (int k = 0; k < K; k++) printf("  look %d: |z| >= %.4f\n", k + 1, b[k]);
        printf("testing at %.4f at every look instead has type-I error %.4f\n", naive[0], nv);
    }
    return MQ_EXIT_OK;
}

int mq_cli_xp(int argc, char **argv)
{
    if (argc < 2 || mq_cli_is_help(argv[1])) { fputs(USAGE_XP, argc < 2 ? stderr : stdout); return argc < 2 ? MQ_EXIT_USAGE : MQ_EXIT_OK; }
    if (!strcmp(argv[1], "assign")) return cmd_assign(argc - 1, argv + 1);
    if (!strcmp(argv[1], "analyze")) return cmd_analyze(argc - 1, argv + 1);
    if (!strcmp(argv[1], "design")) return cmd_design(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bounds")) return cmd_bounds(argc - 1, argv + 1);
    if (!strcmp(argv[1], "collect")) return mq_cli_xp_collect(argc - 1, argv + 1);
    return mq_cli_usage_error("xp", "unknown command '%s'", argv[1]);
}
