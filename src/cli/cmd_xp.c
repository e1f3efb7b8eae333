/* cmd_xp.c: `marquee xp assign | analyze | interactions | design | bounds`, thin clients of the
 * xp API. Options are parsed with getopt_long: `--opt value` and `--opt=value` both work, options
 * and the FILE operand may come in any order, and an unknown option or a missing value is a
 * usage error naming it. Data (tables, JSON) go to stdout, errors to stderr; exit 0 ok,
 * 1 failure, 2 usage. */
#include "cli.h"
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *USAGE_XP =
    "usage: marquee xp <command> [options]\n"
    "  assign        --config xp.json --member ID [--experiment NAME] [--time UNIX] [--json]\n"
    "  analyze       FILE --metric NAME [--metric NAME2 ...] --control A [options] [--json]\n"
    "  interactions  FILE --experiments E1,E2 --metric M [--control E1=V,E2=W] [--json]\n"
    "  design        --sd 1 --mde 0.02 | --baseline-rate 0.1 --mde 0.01 [options] [--json]\n"
    "  bounds        --looks 5 [--alpha 0.05] [--type obf|pocock] [--json]\n"
    "Run 'marquee xp <command> --help' for the options of each.\n";

static const char *USAGE_ASSIGN =
    "usage: marquee xp assign --config xp.json --member ID [--experiment NAME] [--time UNIX] [--json]\n"
    "Deterministic assignment (GrowthBook v1 FNV-1a hashing): prints, for every experiment of the\n"
    "config (or the one named), the member's variant or why it is not in the experiment.\n";

static const char *USAGE_ANALYZE =
    "usage: marquee xp analyze FILE --metric NAME [--metric NAME2 ...] --control A [options]\n"
    "FILE: CSV with a header (unit,variant,<metrics>,<covariates>...); '-' reads stdin.\n"
    "Results do not depend on how the arms' rows are interleaved; each arm's own row order is\n"
    "its time order (for --sequential).\n"
    "  --metric NAME         metric column (repeatable); NUM/DEN for a ratio metric (delta method)\n"
    "  --control A           control variant\n"
    "  --config xp.json      experiment definition: weights, primary metric, guardrails, MDE\n"
    "  --experiment NAME     which experiment of the config (default: the first)\n"
    "  --variant-col COL     variant column (default 'variant')\n"
    "  --weights A=0.5,B=0.5 expected traffic split for the SRM check (default: config or equal)\n"
    "  --alpha 0.05          two-sided level\n"
    "  --covariate PRE       pre-period covariate of the primary metric: CUPED\n"
    "  --covariate M=PRE     covariate PRE for metric M (repeatable)\n"
    "  --cuped-se hc2|ols    CUPED standard error: HC2 robust (default) or classical OLS\n"
    "  --segment COL         per-segment effects, Cochran's Q, post-stratified estimate\n"
    "  --day COL             day since exposure: per-day effects and a trend (novelty) test\n"
    "  --pair COL            paired analysis: units matched on COL, t-test on differences\n"
    "  --sequential          mSPRT always-valid p-values and confidence sequences\n"
    "  --tau T               mSPRT mixing sd (default: absolute MDE, else 0.1 x pooled sd)\n"
    "  --look-every N        mSPRT look after every N units of each arm (default 100)\n"
    "  --gs-looks K --gs-look k [--gs-type obf|pocock]  group-sequential bound at look k of K\n"
    "  --bayes               Bayesian read-out: chance to win, expected loss, credible interval\n"
    "  --mann-whitney        Mann-Whitney U test (on the reservoir sample)\n"
    "  --bootstrap           percentile bootstrap of the mean difference\n"
    "  --quantile Q          quantile treatment effect with bootstrap CI (repeatable)\n"
    "  --boot N              bootstrap resamples (default 2000)\n"
    "  --reservoir N         reservoir sample per arm and metric (default 20000)\n"
    "  --seed S              seed for reservoir and bootstrap (default 1)\n"
    "  --guardrail M:D:lower|higher[:abs]  guardrail metric M may degrade by at most D (relative\n"
    "                        unless :abs); the direction is required (:lower = lower is better)\n"
    "  --srm-alpha 0.001     SRM failure threshold\n"
    "  --threads 1|2         threads for the plain pass (default: 2 for files >= 64 MiB when no\n"
    "                        sequential/reservoir/pair/segment/day option or HC2 from stdin needs\n"
    "                        one ordered pass)\n"
    "  --json                the stable JSON document (docs/xp.md)\n";

static const char *USAGE_INTERACTIONS =
    "usage: marquee xp interactions FILE --experiments E1,E2 --metric M [options] [--json]\n"
    "FILE: CSV with a header and one row per unit: a column per experiment holding the unit's\n"
    "variant in it, and the metric (unit,E1,E2,M,...). Tests whether E1's effect depends on E2's\n"
    "variant: OLS of M ~ C(E1) * C(E2) with HC2 standard errors; 2 x 2: the interaction contrast\n"
    "y11 - y10 - y01 + y00 of the cell means with its CI and p-value; any k x m: the joint Wald\n"
    "chi-square test of the (k-1)(m-1) interaction terms.\n"
    "  --experiments E1,E2   the two experiment columns\n"
    "  --metric M            metric column\n"
    "  --control E1=V,E2=W   reference variant of each (default: the first in byte order)\n"
    "  --alpha 0.05          two-sided level of the CI\n"
    "  --json                {\"metric\", \"cells\", \"interaction\" (2 x 2 only), \"joint_test\"}\n";

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

/* Prints s as a JSON string literal (the library's one escaper: invalid UTF-8 becomes U+FFFD). */
static void jstr(const char *s) { mq_json_write_str(stdout, s); }

/* Option codes of the long-only options. */
enum {
    O_JSON = 256, O_CONFIG, O_MEMBER, O_EXPERIMENT, O_TIME, O_METRIC, O_CONTROL, O_VARIANT_COL,
    O_COVARIATE, O_CUPED_SE, O_SEGMENT, O_DAY, O_PAIR, O_WEIGHTS, O_ALPHA, O_SRM_ALPHA,
    O_SEQUENTIAL, O_TAU, O_LOOK_EVERY, O_GS_LOOKS, O_GS_LOOK, O_GS_TYPE, O_BAYES, O_MANN_WHITNEY,
    O_BOOTSTRAP, O_QUANTILE, O_BOOT, O_RESERVOIR, O_SEED, O_GUARDRAIL, O_THREADS, O_EXPERIMENTS,
    O_SD, O_MDE, O_BASELINE_RATE, O_BASELINE_MEAN, O_POWER, O_N, O_DAILY_TRAFFIC, O_VR,
    O_ARMS, O_RELATIVE, O_LOOKS, O_TYPE
};

/* The next option of argv by getopt_long (argv[0] is the subcommand; call with *started false
 * first). Returns the option's code, 'h' for help, -1 at the end of the options, or 0 after
 * printing a usage error that names the unknown option or the option missing its value. */
static int next_opt(const char *cmd, int argc, char **argv, const struct option *lo, bool *started)
{
    if (!*started) { optind = 0; opterr = 0; *started = true; }   /* optind 0: full re-initialisation */
    int ch = getopt_long(argc, argv, ":h", lo, NULL);
    if (ch == '?' || ch == ':') {
        const char *a = argv[optind - 1];
        char name[128];
        if (optopt && optopt < 256 && !(a[0] == '-' && a[1] == '-')) snprintf(name, sizeof name, "-%c", optopt);
        else snprintf(name, sizeof name, "%.*s", (int)strcspn(a, "="), a);
        if (ch == ':') mq_cli_usage_error(cmd, "option '%s' needs a value", name);
        else mq_cli_usage_error(cmd, "unknown option '%s'", name);
        return 0;
    }
    return ch;
}

static int num(const char *cmd, const char *opt, const char *v, double *out)
{
    if (mq_cli_parse_double(v, out) || !isfinite(*out)) { mq_cli_usage_error(cmd, "%s: '%s' is not a number", opt, v); return 0; }
    return 1;
}

static int cmd_assign(int argc, char **argv)
{
    static const struct option lo[] = {
        {"help", no_argument, 0, 'h'}, {"json", no_argument, 0, O_JSON}, {"config", required_argument, 0, O_CONFIG},
        {"member", required_argument, 0, O_MEMBER}, {"experiment", required_argument, 0, O_EXPERIMENT},
        {"time", required_argument, 0, O_TIME}, {0, 0, 0, 0}};
    const char *cmd = "xp assign", *config = NULL, *member = NULL, *exp = NULL;
    long long now = 0;
    bool json = false, started = false;
    for (int ch; (ch = next_opt(cmd, argc, argv, lo, &started)) != -1;) {
        switch (ch) {
        case 0: return MQ_EXIT_USAGE;
        case 'h': fputs(USAGE_ASSIGN, stdout); return MQ_EXIT_OK;
        case O_JSON: json = true; break;
        case O_CONFIG: config = optarg; break;
        case O_MEMBER: member = optarg; break;
        case O_EXPERIMENT: exp = optarg; break;
        case O_TIME: if (mq_cli_parse_i64(optarg, &now)) return mq_cli_usage_error(cmd, "--time: '%s' is not unix seconds", optarg); break;
        }
    }
    if (optind < argc) return mq_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
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

/* --guardrail METRIC:MAX_DEGRADATION:lower|higher[:abs]; the direction is required. */
static int parse_guardrail(const char *cmd, const char *s, mq_xp_guardrail *g)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    memset(g, 0, sizeof *g);
    g->relative = true;
    char *save = NULL, *name = strtok_r(buf, ":", &save), *d = strtok_r(NULL, ":", &save);
    if (!name || !d || strlen(name) >= MQ_XP_NAME) { mq_cli_usage_error(cmd, "--guardrail: '%s' is not METRIC:MAX_DEGRADATION:lower|higher[:abs]", s); return 0; }
    strcpy(g->metric, name);
    if (mq_cli_parse_double(d, &g->max_degradation) || !(g->max_degradation >= 0)) { mq_cli_usage_error(cmd, "--guardrail: '%s' is not a degradation >= 0", d); return 0; }
    for (char *f = strtok_r(NULL, ":", &save); f; f = strtok_r(NULL, ":", &save)) {
        if (!strcmp(f, "lower")) g->direction = MQ_XP_LOWER_IS_BETTER;
        else if (!strcmp(f, "higher")) g->direction = MQ_XP_HIGHER_IS_BETTER;
        else if (!strcmp(f, "abs")) g->relative = false;
        else { mq_cli_usage_error(cmd, "--guardrail: unknown flag '%s' (lower, higher, abs)", f); return 0; }
    }
    if (!g->direction) {
        mq_cli_usage_error(cmd, "--guardrail '%s': say which direction is better: '%s:%s:lower' when lower values are "
                           "better (e.g. rebuffering), '%s:%s:higher' when higher values are", s, name, d, name, d);
        return 0;
    }
    return 1;
}

/* --covariate COLUMN (the primary metric's) or METRIC=COLUMN (repeatable). */
static int parse_covariate(const char *cmd, char *s, mq_xp_analyze_opts *o)
{
    char *eq = strchr(s, '=');
    if (!eq) {
        if (o->covariate) { mq_cli_usage_error(cmd, "--covariate: a second bare column '%s' (use METRIC=COLUMN for other metrics)", s); return 0; }
        o->covariate = s;
        return 1;
    }
    if (eq == s || !eq[1]) { mq_cli_usage_error(cmd, "--covariate: '%s' is not METRIC=COLUMN", s); return 0; }
    if (o->n_covariates >= MQ_XP_MAX_METRICS) { mq_cli_usage_error(cmd, "--covariate: at most %d", MQ_XP_MAX_METRICS); return 0; }
    *eq = 0;   /* argv strings are writable and live as long as the command */
    o->covariate_metric[o->n_covariates] = s;
    o->covariate_col[o->n_covariates++] = eq + 1;
    return 1;
}

static const struct option LO_ANALYZE[] = {
    {"help", no_argument, 0, 'h'}, {"json", no_argument, 0, O_JSON}, {"metric", required_argument, 0, O_METRIC},
    {"control", required_argument, 0, O_CONTROL}, {"config", required_argument, 0, O_CONFIG},
    {"experiment", required_argument, 0, O_EXPERIMENT}, {"variant-col", required_argument, 0, O_VARIANT_COL},
    {"covariate", required_argument, 0, O_COVARIATE}, {"cuped-se", required_argument, 0, O_CUPED_SE},
    {"segment", required_argument, 0, O_SEGMENT}, {"day", required_argument, 0, O_DAY},
    {"pair", required_argument, 0, O_PAIR}, {"weights", required_argument, 0, O_WEIGHTS},
    {"alpha", required_argument, 0, O_ALPHA}, {"srm-alpha", required_argument, 0, O_SRM_ALPHA},
    {"sequential", no_argument, 0, O_SEQUENTIAL}, {"tau", required_argument, 0, O_TAU},
    {"look-every", required_argument, 0, O_LOOK_EVERY}, {"gs-looks", required_argument, 0, O_GS_LOOKS},
    {"gs-look", required_argument, 0, O_GS_LOOK}, {"gs-type", required_argument, 0, O_GS_TYPE},
    {"bayes", no_argument, 0, O_BAYES}, {"mann-whitney", no_argument, 0, O_MANN_WHITNEY},
    {"bootstrap", no_argument, 0, O_BOOTSTRAP}, {"quantile", required_argument, 0, O_QUANTILE},
    {"boot", required_argument, 0, O_BOOT}, {"reservoir", required_argument, 0, O_RESERVOIR},
    {"seed", required_argument, 0, O_SEED}, {"guardrail", required_argument, 0, O_GUARDRAIL},
    {"threads", required_argument, 0, O_THREADS}, {0, 0, 0, 0}};

/* One analyze option (ch with value v) into o; returns 0 after a usage error. */
static int analyze_opt(const char *cmd, int ch, char *v, mq_xp_analyze_opts *o, const char **config, const char **exp, bool *json)
{
    double d;
    long long n;
    switch (ch) {
    case O_JSON: *json = true; return 1;
    case O_METRIC:
        if (o->n_metrics >= MQ_XP_MAX_METRICS) { mq_cli_usage_error(cmd, "at most %d metrics", MQ_XP_MAX_METRICS); return 0; }
        o->metrics[o->n_metrics++] = v;
        return 1;
    case O_CONTROL: o->control = v; return 1;
    case O_CONFIG: *config = v; return 1;
    case O_EXPERIMENT: *exp = v; return 1;
    case O_VARIANT_COL: o->variant_col = v; return 1;
    case O_COVARIATE: return parse_covariate(cmd, v, o);
    case O_CUPED_SE:
        if (!strcasecmp(v, "hc2")) o->cuped_se = MQ_XP_SE_HC2;
        else if (!strcasecmp(v, "ols")) o->cuped_se = MQ_XP_SE_OLS;
        else { mq_cli_usage_error(cmd, "--cuped-se: '%s' is not hc2 or ols", v); return 0; }
        return 1;
    case O_SEGMENT: o->segment = v; return 1;
    case O_DAY: o->day = v; return 1;
    case O_PAIR: o->pair = v; return 1;
    case O_WEIGHTS: return parse_weights(cmd, v, o);
    case O_ALPHA:
    case O_SRM_ALPHA:
        if (!num(cmd, ch == O_ALPHA ? "--alpha" : "--srm-alpha", v, &d)) return 0;
        if (!(d > 0 && d < 1)) { mq_cli_usage_error(cmd, "%s must be in (0, 1)", ch == O_ALPHA ? "--alpha" : "--srm-alpha"); return 0; }
        *(ch == O_ALPHA ? &o->alpha : &o->srm_alpha) = d;
        return 1;
    case O_SEQUENTIAL: o->sequential = true; return 1;
    case O_TAU:
        if (!num(cmd, "--tau", v, &o->tau)) return 0;
        if (!(o->tau > 0)) { mq_cli_usage_error(cmd, "--tau must be > 0"); return 0; }
        return 1;
    case O_LOOK_EVERY:
        if (mq_cli_parse_i64(v, &n) || n < 1) { mq_cli_usage_error(cmd, "--look-every: '%s' is not a count >= 1", v); return 0; }
        o->look_every = n;
        return 1;
    case O_GS_LOOKS:
    case O_GS_LOOK:
        if (mq_cli_parse_i64(v, &n) || n < 1 || n > 50) { mq_cli_usage_error(cmd, "%s: '%s' is not an integer in [1, 50]", ch == O_GS_LOOKS ? "--gs-looks" : "--gs-look", v); return 0; }
        *(ch == O_GS_LOOKS ? &o->gs_looks : &o->gs_look) = (int)n;
        return 1;
    case O_GS_TYPE:
        if (!strcmp(v, "obf")) o->gs_type = MQ_GS_OBF;
        else if (!strcmp(v, "pocock")) o->gs_type = MQ_GS_POCOCK;
        else { mq_cli_usage_error(cmd, "--gs-type: '%s' is not obf or pocock", v); return 0; }
        return 1;
    case O_BAYES: o->bayes = true; return 1;
    case O_MANN_WHITNEY: o->mann_whitney = true; return 1;
    case O_BOOTSTRAP: o->bootstrap = true; return 1;
    case O_QUANTILE:
        if (o->n_quantiles >= MQ_XP_MAX_QUANTILES) { mq_cli_usage_error(cmd, "at most %d quantiles", MQ_XP_MAX_QUANTILES); return 0; }
        if (!num(cmd, "--quantile", v, &d)) return 0;
        if (!(d > 0 && d < 1)) { mq_cli_usage_error(cmd, "--quantile must be in (0, 1) (got '%s')", v); return 0; }
        o->quantiles[o->n_quantiles++] = d;
        return 1;
    case O_BOOT:
        if (mq_cli_parse_i64(v, &n) || n < 10 || n > 1000000) { mq_cli_usage_error(cmd, "--boot: '%s' is not a count in [10, 1e6]", v); return 0; }
        o->n_boot = (int)n;
        return 1;
    case O_RESERVOIR:
        if (mq_cli_parse_i64(v, &n) || n < 2) { mq_cli_usage_error(cmd, "--reservoir: '%s' is not a count >= 2", v); return 0; }
        o->reservoir = n;
        return 1;
    case O_SEED:
        if (mq_cli_parse_i64(v, &n)) { mq_cli_usage_error(cmd, "--seed: '%s' is not an integer", v); return 0; }
        o->seed = (unsigned long long)n;
        return 1;
    case O_GUARDRAIL:
        if (o->n_guardrails >= MQ_XP_MAX_GUARDRAILS) { mq_cli_usage_error(cmd, "too many guardrails"); return 0; }
        if (!parse_guardrail(cmd, v, &o->guardrails[o->n_guardrails])) return 0;
        o->n_guardrails++;
        return 1;
    case O_THREADS:
        if (mq_cli_parse_i64(v, &n) || n < 1 || n > 2) { mq_cli_usage_error(cmd, "--threads: '%s' is not 1 or 2", v); return 0; }
        o->threads = (int)n;
        return 1;
    }
    return 0;
}

static int cmd_analyze(int argc, char **argv)
{
    const char *cmd = "xp analyze", *file = NULL, *config = NULL, *exp = NULL;
    mq_xp_analyze_opts o;
    mq_xp_analyze_opts_init(&o, sizeof o);
    o.look_every = 100;
    bool json = false, started = false;
    for (int ch; (ch = next_opt(cmd, argc, argv, LO_ANALYZE, &started)) != -1;) {
        if (ch == 'h') { fputs(USAGE_ANALYZE, stdout); return MQ_EXIT_OK; }
        if (!ch || !analyze_opt(cmd, ch, optarg, &o, &config, &exp, &json)) return MQ_EXIT_USAGE;
    }
    if (optind < argc) file = argv[optind++];
    if (optind < argc) return mq_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
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

/* --control E1=V,E2=W: the reference variant of named experiments. */
static int parse_refs(const char *cmd, char *s, mq_xp_interact_opts *o)
{
    for (char *save = NULL, *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1]) { mq_cli_usage_error(cmd, "--control: '%s' is not EXPERIMENT=VARIANT", tok); return 0; }
        *eq = 0;
        int k = o->experiments[0] && !strcmp(tok, o->experiments[0]) ? 0 : o->experiments[1] && !strcmp(tok, o->experiments[1]) ? 1 : -1;
        if (k < 0) { mq_cli_usage_error(cmd, "--control: '%s' is not one of the --experiments columns", tok); return 0; }
        o->control[k] = eq + 1;
    }
    return 1;
}

static int cmd_interactions(int argc, char **argv)
{
    static const struct option lo[] = {
        {"help", no_argument, 0, 'h'}, {"json", no_argument, 0, O_JSON}, {"experiments", required_argument, 0, O_EXPERIMENTS},
        {"metric", required_argument, 0, O_METRIC}, {"control", required_argument, 0, O_CONTROL},
        {"alpha", required_argument, 0, O_ALPHA}, {0, 0, 0, 0}};
    const char *cmd = "xp interactions";
    char *refs = NULL;
    mq_xp_interact_opts o;
    mq_xp_interact_opts_init(&o, sizeof o);
    bool json = false, started = false;
    for (int ch; (ch = next_opt(cmd, argc, argv, lo, &started)) != -1;) {
        switch (ch) {
        case 0: return MQ_EXIT_USAGE;
        case 'h': fputs(USAGE_INTERACTIONS, stdout); return MQ_EXIT_OK;
        case O_JSON: json = true; break;
        case O_METRIC: o.metric = optarg; break;
        case O_CONTROL: refs = optarg; break;
        case O_ALPHA:
            if (!num(cmd, "--alpha", optarg, &o.alpha)) return MQ_EXIT_USAGE;
            if (!(o.alpha > 0 && o.alpha < 1)) return mq_cli_usage_error(cmd, "--alpha must be in (0, 1)");
            break;
        case O_EXPERIMENTS: {
            char *comma = strchr(optarg, ',');
            if (!comma || comma == optarg || !comma[1] || strchr(comma + 1, ','))
                return mq_cli_usage_error(cmd, "--experiments: '%s' is not two columns E1,E2", optarg);
            *comma = 0;
            o.experiments[0] = optarg;
            o.experiments[1] = comma + 1;
            if (!strcmp(o.experiments[0], o.experiments[1])) return mq_cli_usage_error(cmd, "--experiments: the two columns are the same ('%s')", optarg);
            break;
        }
        }
    }
    const char *file = optind < argc ? argv[optind++] : NULL;
    if (optind < argc) return mq_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!file) return mq_cli_usage_error(cmd, "FILE is required");
    if (!strcmp(file, "-")) return mq_cli_usage_error(cmd, "FILE must be a file (standard input is not supported)");
    if (!o.experiments[0]) return mq_cli_usage_error(cmd, "--experiments E1,E2 is required");
    if (!o.metric) return mq_cli_usage_error(cmd, "--metric is required");
    if (refs && !parse_refs(cmd, refs, &o)) return MQ_EXIT_USAGE;
    char *js = NULL, *txt = NULL;
    mq_err err = {0};
    if (mq_xp_interactions(file, &o, &js, &txt, &mq_cli_log, &err)) return mq_cli_fail(cmd, &err);
    fputs(json ? js : txt, stdout);
    free(js);
    free(txt);
    return MQ_EXIT_OK;
}

static int cmd_design(int argc, char **argv)
{
    static const struct option lo[] = {
        {"help", no_argument, 0, 'h'}, {"json", no_argument, 0, O_JSON}, {"relative", no_argument, 0, O_RELATIVE},
        {"sd", required_argument, 0, O_SD}, {"mde", required_argument, 0, O_MDE},
        {"baseline-rate", required_argument, 0, O_BASELINE_RATE}, {"baseline-mean", required_argument, 0, O_BASELINE_MEAN},
        {"alpha", required_argument, 0, O_ALPHA}, {"power", required_argument, 0, O_POWER}, {"n", required_argument, 0, O_N},
        {"daily-traffic", required_argument, 0, O_DAILY_TRAFFIC}, {"cuped-r2", required_argument, 0, O_VR},
        {"variance-reduction", required_argument, 0, O_VR}, {"arms", required_argument, 0, O_ARMS}, {0, 0, 0, 0}};
    const char *cmd = "xp design";
    mq_xp_design_in in;
    mq_xp_design_in_init(&in, sizeof in);
    in.alpha = 0.05;
    in.power = 0.8;
    in.arms = 2;
    bool json = false, started = false;
    double v;
    for (int ch; (ch = next_opt(cmd, argc, argv, lo, &started)) != -1;) {
        double *dst = NULL;
        switch (ch) {
        case 0: return MQ_EXIT_USAGE;
        case 'h': fputs(USAGE_DESIGN, stdout); return MQ_EXIT_OK;
        case O_JSON: json = true; continue;
        case O_RELATIVE: in.relative = true; continue;
        case O_SD: dst = &in.sd; break;
        case O_MDE: dst = &in.mde; break;
        case O_BASELINE_RATE: dst = &in.baseline_rate; break;
        case O_BASELINE_MEAN: dst = &in.baseline_mean; break;
        case O_ALPHA: dst = &in.alpha; break;
        case O_POWER: dst = &in.power; break;
        case O_N: dst = &in.n; break;
        case O_DAILY_TRAFFIC: dst = &in.daily_traffic; break;
        case O_VR: dst = &in.variance_reduction; break;
        case O_ARMS: dst = &v; break;
        }
        const char *name = "value";
        for (const struct option *q = lo; q->name; q++) if (q->val == ch) { name = q->name; break; }
        char opt[64];
        snprintf(opt, sizeof opt, "--%s", name);
        if (!num(cmd, opt, optarg, dst)) return MQ_EXIT_USAGE;
        if (dst == &v) { if (v != floor(v) || v < 2 || v > MQ_XP_MAX_VARIANTS) return mq_cli_usage_error(cmd, "--arms must be an integer in [2, %d]", MQ_XP_MAX_VARIANTS); in.arms = (int)v; }
        if (dst == &in.baseline_rate && !(in.baseline_rate > 0 && in.baseline_rate < 1)) return mq_cli_usage_error(cmd, "--baseline-rate must be in (0, 1)");
        if (dst == &in.n && !(in.n >= 2)) return mq_cli_usage_error(cmd, "--n must be >= 2");
    }
    if (optind < argc) return mq_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    mq_xp_design_out out;
    mq_err err = {0};
    if (mq_xp_design(&in, &out, &err)) { fprintf(stderr, "marquee %s: %s\nTry 'marquee %s --help'.\n", cmd, err.msg, cmd); return MQ_EXIT_USAGE; }
    if (json) {
        /* Numbers through the library's JSON writer (shortest round-trip form). */
        printf("{\"n_per_arm\":%lld,\"n_per_arm_exact\":", out.n_per_arm);
        mq_json_write_num(stdout, out.n_exact);
        printf(",\"n_total\":%lld,\"arms\":%d,\"mde\":", out.n_total, in.arms);
        mq_json_write_num(stdout, out.mde_abs);
        fputs(",\"mde_relative\":", stdout);
        mq_json_write_num(stdout, out.mde_rel > 0 ? out.mde_rel : NAN);
        const char *key[5] = {"alpha", "alpha_per_comparison", "power", "variance_reduction", "n_per_arm_without_cuped"};
        double val[5] = {in.alpha, out.alpha_per_comparison, in.power, out.variance_reduction, out.n_without_cuped};
        for (int k = 0; k < 5; k++) {
            printf(",\"%s\":", key[k]);
            mq_json_write_num(stdout, val[k]);
        }
        printf(",\"metric\":\"%s\",\"days\":", in.baseline_rate > 0 ? "rate" : "mean");
        mq_json_write_num(stdout, out.days > 0 ? out.days : NAN);
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
    static const struct option lo[] = {
        {"help", no_argument, 0, 'h'}, {"json", no_argument, 0, O_JSON}, {"looks", required_argument, 0, O_LOOKS},
        {"alpha", required_argument, 0, O_ALPHA}, {"type", required_argument, 0, O_TYPE}, {0, 0, 0, 0}};
    const char *cmd = "xp bounds";
    double alpha = 0.05, looks = 0;
    int type = MQ_GS_OBF;
    bool json = false, started = false;
    for (int ch; (ch = next_opt(cmd, argc, argv, lo, &started)) != -1;) {
        switch (ch) {
        case 0: return MQ_EXIT_USAGE;
        case 'h': fputs(USAGE_BOUNDS, stdout); return MQ_EXIT_OK;
        case O_JSON: json = true; break;
        case O_LOOKS: if (!num(cmd, "--looks", optarg, &looks)) return MQ_EXIT_USAGE; break;
        case O_ALPHA: if (!num(cmd, "--alpha", optarg, &alpha)) return MQ_EXIT_USAGE; break;
        case O_TYPE:
            if (!strcmp(optarg, "obf")) type = MQ_GS_OBF;
            else if (!strcmp(optarg, "pocock")) type = MQ_GS_POCOCK;
            else return mq_cli_usage_error(cmd, "--type: '%s' is not obf or pocock", optarg);
            break;
        }
    }
    if (optind < argc) return mq_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (looks != floor(looks) || looks < 1 || looks > 50) return mq_cli_usage_error(cmd, "--looks must be an integer in [1, 50]");
    if (!(alpha > 0 && alpha < 1)) return mq_cli_usage_error(cmd, "--alpha must be in (0, 1)");
    int K = (int)looks;
    double b[50], naive[50];
    mq_stats_gs_bounds(K, alpha, type, b);
    for (int k = 0; k < K; k++) naive[k] = mq_stats_norm_ppf(1 - alpha / 2);
    double nv = mq_stats_gs_crossing(K, naive);
    if (json) {
        printf("{\"type\":\"%s\",\"looks\":%d,\"alpha\":", type == MQ_GS_OBF ? "obrien_fleming" : "pocock", K);
        mq_json_write_num(stdout, alpha);
        fputs(",\"bounds\":[", stdout);
        for (int k = 0; k < K; k++) {
            if (k) putchar(',');
            mq_json_write_num(stdout, b[k]);
        }
        fputs("],\"naive_type1_error\":", stdout);
        mq_json_write_num(stdout, nv);
        fputs("}\n", stdout);
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
    if (!strcmp(argv[1], "interactions")) return cmd_interactions(argc - 1, argv + 1);
    if (!strcmp(argv[1], "design")) return cmd_design(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bounds")) return cmd_bounds(argc - 1, argv + 1);
    if (!strcmp(argv[1], "collect")) return mq_cli_xp_collect(argc - 1, argv + 1);
    return mq_cli_usage_error("xp", "unknown command '%s'", argv[1]);
}
