/* cmd_bandit.c: `marquee bandit ope | synth | replay | export`, thin clients of the bandit API
 * (include/marquee/bandit.h). Estimates go to stdout (a table, or JSON with --json), errors and
 * warnings to stderr; exit 0 ok, 1 failure, 2 usage. Formats and formulas: docs/bandit.md. */
#include "cli.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "usage: marquee bandit <command> [options]\n"
    "  ope     off-policy evaluation of a policy from logged bandit feedback\n"
    "  synth   a synthetic log with known truth (and the evaluation policy's probabilities)\n"
    "  replay  Li et al. (2011) replay of a learning policy on uniform-random logs\n"
    "  export  the server's artwork decisions (exposure + event logs) as a bandit log\n"
    "Run 'marquee bandit <command> --help' for the options of each.\n";

static const char *USAGE_OPE =
    "usage: marquee bandit ope --log FILE (--policy SPEC | --action-dist FILE) [options]\n"
    "  --log FILE             logged rounds (CSV)\n"
    "  --format marquee|obd   log format (default marquee: action,reward,propensity[,position][,x0..])\n"
    "  --action-dist FILE     the evaluation policy's probabilities: item,position,probability or\n"
    "                         row,action,probability\n"
    "  --policy SPEC          uniform | bts:PRIOR_YAML:CAMPAIGN (OBD's Bernoulli TS, Monte Carlo)\n"
    "  --estimators LIST      comma-separated from dm,ips,snips,dr,switch-dr,sndr (default all)\n"
    "  --reward-model M       auto|ctr|logistic (default auto: logistic with context, else ctr)\n"
    "  --switch-tau T         Switch-DR weight threshold (default 10)\n"
    "  --folds F              cross-fit the reward model: row i's from the other folds (i mod F);\n"
    "                         default 1 (one model on all rows)\n"
    "  --actions K            size of the action set (default: from the file)\n"
    "  --positions L          positions of the bts policy (default 3)\n"
    "  --mc-draws N           Monte Carlo draws of the bts policy (default 100000)\n"
    "  --seed S               seed of the Monte Carlo (default 12345)\n"
    "  --save-action-dist F   write the evaluation policy's probabilities to F\n"
    "  --on-policy-log FILE   a log of the evaluation policy itself: its mean reward is reported\n"
    "                         as on_policy (same --format)\n"
    "  --json                 {\"n\", \"estimates\": [{estimator, value, se, ci_low, ci_high}], \"on_policy\"}\n";

static const char *USAGE_SYNTH =
    "usage: marquee bandit synth --actions K --dim D --n N --seed S --out FILE [options]\n"
    "  --logging uniform|softmax:TAU   logging policy (default uniform)\n"
    "  --policy softmax:TAU            evaluation policy (default softmax:0.1 over true rewards)\n"
    "  --json                          print {\"true_value\": x}\n"
    "Writes FILE (Marquee bandit log) and FILE.pi.csv (row,action,probability).\n";

static const char *USAGE_REPLAY =
    "usage: marquee bandit replay --log FILE --policy SPEC [options]\n"
    "  --policy SPEC          uniform | egreedy[:EPS] | ts | linucb[:ALPHA] | lints[:V]\n"
    "  --format marquee|obd   log format (default marquee)\n"
    "  --actions K            size of the action set (default: from the file)\n"
    "  --seed S               policy seed (default 1)\n"
    "  --floor F              minimum probability of each action (default 0.05/K)\n"
    "  --json\n";

static const char *USAGE_EXPORT =
    "usage: marquee bandit export --exposures DIR [--events DIR] --out FILE [options]\n"
    "  --exposures DIR        the server's exposure log (records with artwork decisions)\n"
    "  --events DIR           the server's event log: a play naming the page and a position on\n"
    "                         the title within the window is reward 1 (without it: all 0)\n"
    "  --window S             reward window in seconds of event time (default 1800)\n"
    "  --policy P             only the decisions of logging policy P (egreedy, linucb, ...)\n"
    "  --out FILE             the bandit log (action,reward,propensity,policy,x0..): '-' = stdout\n"
    "Then: marquee bandit ope --log FILE --action-dist PI.csv (docs/bandit.md).\n";

static int need(int i, int argc, const char *cmd, const char *opt)
{
    if (i + 1 >= argc) { mq_cli_usage_error(cmd, "%s needs a value", opt); return 0; }
    return 1;
}

static int parse_format(const char *s)
{
    return !strcmp(s, "marquee") ? MQ_BANDIT_FMT_MARQUEE : !strcmp(s, "obd") ? MQ_BANDIT_FMT_OBD : -1;
}

#define NEED() do { if (!need(i, argc, cmd, argv[i])) return MQ_EXIT_USAGE; } while (0)

/* The evaluation policy of `bandit ope` (mq_bandit_policy_fn), for a log of K actions. */
typedef struct pol_ctx {
    const char *dist_path, *policy, *yaml, *campaign, *log_path;
    long long positions, draws, seed;
    mq_bandit_dist *pi;      /* what it made (freed by cmd_ope) */
    int32_t K;
} pol_ctx;

static int make_policy(void *vctx, int32_t K, int32_t L, mq_bandit_dist **out, mq_err *err)
{
    pol_ctx *c = vctx;
    mq_bandit_dist *pi = NULL;
    c->K = K;
    *out = NULL;
    if (c->dist_path) {
        if (mq_bandit_dist_load(c->dist_path, K, &pi, err)) return err->code ? err->code : MQ_EINVAL;
    } else if (!strcmp(c->policy, "uniform")) {
        pi = calloc(1, sizeof *pi);
        if (!pi || !(pi->p = malloc((size_t)K * L * sizeof *pi->p))) {
            free(pi);
            err->code = MQ_ENOMEM;
            return MQ_ENOMEM;
        }
        pi->n_actions = K;
        pi->n_positions = L;
        for (int64_t j = 0; j < (int64_t)K * L; j++) pi->p[j] = 1.0 / K;
    } else {
        if (mq_bandit_bts_dist(c->yaml, c->campaign, (int32_t)c->positions, c->draws, (uint64_t)c->seed, &pi, err))
            return err->code ? err->code : MQ_EINVAL;
        if (pi->n_actions != K) {
            err->code = MQ_EINVAL;
            snprintf(err->msg, sizeof err->msg, "%.200s: campaign '%.50s' has %d items, the log %.200s has %d actions",
                     c->yaml, c->campaign, pi->n_actions, c->log_path, K);
            mq_bandit_dist_destroy(pi);
            return MQ_EINVAL;
        }
    }
    c->pi = pi;
    *out = pi;
    return 0;
}

static int cmd_ope(int argc, char **argv)
{
    const char *cmd = "bandit ope", *log_path = NULL, *dist_path = NULL, *policy = NULL;
    const char *save = NULL, *onp = NULL;
    int format = MQ_BANDIT_FMT_MARQUEE, est[MQ_OPE_COUNT], n_est = 0;
    long long K = 0, positions = 3, draws = 100000, seed = 12345;
    bool json = false;
    mq_ope_opts o; mq_ope_opts_init(&o, sizeof o);
    o.reward_model = MQ_RM_AUTO; o.switch_tau = 10; o.ridge = 1; o.level = 0.95; o.folds = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mq_cli_is_help(a)) { fputs(USAGE_OPE, stdout); return MQ_EXIT_OK; }
        else if (!strcmp(a, "--log")) { NEED(); log_path = argv[++i]; }
        else if (!strcmp(a, "--action-dist")) { NEED(); dist_path = argv[++i]; }
        else if (!strcmp(a, "--policy")) { NEED(); policy = argv[++i]; }
        else if (!strcmp(a, "--save-action-dist")) { NEED(); save = argv[++i]; }
        else if (!strcmp(a, "--on-policy-log")) { NEED(); onp = argv[++i]; }
        else if (!strcmp(a, "--format")) {
            NEED();
            if ((format = parse_format(argv[++i])) < 0) return mq_cli_usage_error(cmd, "--format: '%s' is not marquee or obd", argv[i]);
        } else if (!strcmp(a, "--estimators")) {
            NEED();
            const char *s = argv[++i];
            n_est = 0;
            while (*s) {
                const char *c = strchr(s, ',');
                size_t n = c ? (size_t)(c - s) : strlen(s);
                int e = mq_ope_parse(s, n);
                if (e < 0) return mq_cli_usage_error(cmd, "--estimators: unknown estimator '%.*s' (dm, ips, snips, dr, switch-dr, sndr)", (int)n, s);
                if (n_est < MQ_OPE_COUNT) est[n_est++] = e;
                s += n + (c != NULL);
            }
        } else if (!strcmp(a, "--reward-model")) {
            NEED();
            const char *m = argv[++i];
            o.reward_model = !strcmp(m, "auto") ? MQ_RM_AUTO : !strcmp(m, "ctr") ? MQ_RM_CTR : !strcmp(m, "logistic") ? MQ_RM_LOGISTIC : -1;
            if (o.reward_model < 0) return mq_cli_usage_error(cmd, "--reward-model: '%s' is not auto, ctr or logistic", m);
        } else if (!strcmp(a, "--switch-tau")) {
            NEED();
            if (mq_cli_parse_double(argv[++i], &o.switch_tau) || !(o.switch_tau > 0)) return mq_cli_usage_error(cmd, "--switch-tau: '%s' is not a positive number", argv[i]);
        } else if (!strcmp(a, "--actions") || !strcmp(a, "--positions") || !strcmp(a, "--mc-draws") || !strcmp(a, "--seed") ||
                   !strcmp(a, "--folds")) {
            NEED();
            long long v;
            if (mq_cli_parse_i64(argv[++i], &v) || v < (strcmp(a, "--seed") ? 1 : 0)) return mq_cli_usage_error(cmd, "%s: '%s' is not a positive integer", a, argv[i]);
            if (!strcmp(a, "--folds")) {
                if (v > 100) return mq_cli_usage_error(cmd, "--folds: at most 100");
                o.folds = (int)v;
            } else if (!strcmp(a, "--actions")) K = v;
            else if (!strcmp(a, "--positions")) positions = v;
            else if (!strcmp(a, "--mc-draws")) draws = v;
            else seed = v;
        } else if (!strcmp(a, "--json")) json = true;
        else return mq_cli_usage_error(cmd, "unknown option '%s'", a);
    }
    if (!log_path) return mq_cli_usage_error(cmd, "--log is required");
    if (!dist_path == !policy) return mq_cli_usage_error(cmd, "give one of --policy and --action-dist");
    if (K > 1000000 || positions > 1000) return mq_cli_usage_error(cmd, "--actions or --positions too large");
    char yaml[4096], campaign[256];
    if (policy && strcmp(policy, "uniform")) {
        const char *c1 = strncmp(policy, "bts:", 4) ? NULL : policy + 4;
        const char *c2 = c1 ? strrchr(c1, ':') : NULL;
        if (!c2 || c2 == c1 || !c2[1] || (size_t)(c2 - c1) >= sizeof yaml || strlen(c2 + 1) >= sizeof campaign)
            return mq_cli_usage_error(cmd, "--policy: '%s' is not uniform or bts:PRIOR_YAML:CAMPAIGN", policy);
        snprintf(yaml, sizeof yaml, "%.*s", (int)(c2 - c1), c1);
        snprintf(campaign, sizeof campaign, "%s", c2 + 1);
    }
    if (n_est == 0)
        for (int e = 0; e < MQ_OPE_COUNT; e++) est[n_est++] = e;

    mq_err err = {0};
    mq_bandit_log *on = NULL;
    int status = MQ_EXIT_FAIL;
    pol_ctx pc = {dist_path, policy, yaml, campaign, log_path, positions, draws, seed, NULL, 0};
    mq_ope_result r;
    /* One pass over the log when it can (mq_bandit_ope_file); the policy is built once the log's
     * action count is known, as before. */
    if (mq_bandit_ope_file(log_path, format, (int32_t)K, make_policy, &pc, &o, &r, &err)) goto fail;
    mq_bandit_dist *pi = pc.pi;
    if (save && mq_bandit_dist_save(pi, save, &err)) goto fail;
    double onv = NAN, onse = NAN;
    if (onp) {
        if (mq_bandit_log_load(onp, format, pc.K, &on, &err)) goto fail;
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < on->n; i++) { s += on->reward[i]; s2 += on->reward[i] * on->reward[i]; }
        onv = s / on->n;
        onse = on->n > 1 ? sqrt(fmax(s2 - s * s / on->n, 0) / (on->n - 1) / on->n) : NAN;
    }
    if (r.unsupported_mass > 0)
        fprintf(stderr, "marquee %s: warning: the evaluation policy puts mass %.4g on %lld (action, position) "
                "pairs the log never shows (unsupported support): the weighted estimators are undefined\n",
                cmd, r.unsupported_mass, (long long)r.unsupported_pairs);
    if (json) {
        char *js;
        if (mq_bandit_ope_json(&r, est, n_est, onv, onse, &js)) { err.code = MQ_ENOMEM; goto fail; }
        fputs(js, stdout);
        free(js);
    } else {
        printf("rows %lld, reward model %s, mean weight %.4f, max weight %.4g, ESS %.1f\n",
               (long long)r.n, r.reward_model == MQ_RM_CTR ? "ctr" : "logistic", r.mean_weight, r.max_weight, r.ess);
        printf("%-10s %12s %12s %12s %12s\n", "estimator", "value", "se", "ci_low", "ci_high");
        for (int k = 0; k < n_est; k++) {
            const mq_ope_estimate *E = &r.est[est[k]];
            if (isnan(E->value)) printf("%-10s %12s\n", mq_ope_name(est[k]), "undefined");
            else printf("%-10s %12.6g %12.4g %12.6g %12.6g\n", mq_ope_name(est[k]), E->value, E->se, E->ci_low, E->ci_high);
        }
        if (onp) printf("%-10s %12.6g %12.4g %12.6g %12.6g\n", "on-policy", onv, onse, onv - 1.959963984540054 * onse,
                        onv + 1.959963984540054 * onse);
    }
    status = MQ_EXIT_OK;
fail:
    if (status) status = mq_cli_fail(cmd, &err);
    mq_bandit_log_destroy(on);
    mq_bandit_dist_destroy(pc.pi);
    return status;
}

static int softmax_spec(const char *cmd, const char *opt, const char *s, double *tau)
{
    if (!strcmp(s, "uniform")) { *tau = 0; return 0; }
    if (strncmp(s, "softmax:", 8) || mq_cli_parse_double(s + 8, tau) || !(*tau > 0) || !isfinite(*tau))
        return mq_cli_usage_error(cmd, "%s: '%s' is not uniform or softmax:TAU (TAU > 0)", opt, s);
    return 0;
}

static int cmd_synth(int argc, char **argv)
{
    const char *cmd = "bandit synth", *out = NULL;
    long long K = 0, D = 0, n = 0, seed = 1;
    bool json = false;
    mq_bandit_synth_opts o; mq_bandit_synth_opts_init(&o, sizeof o);
    o.policy_tau = 0.1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mq_cli_is_help(a)) { fputs(USAGE_SYNTH, stdout); return MQ_EXIT_OK; }
        else if (!strcmp(a, "--out")) { NEED(); out = argv[++i]; }
        else if (!strcmp(a, "--logging")) { NEED(); if (softmax_spec(cmd, a, argv[++i], &o.logging_tau)) return MQ_EXIT_USAGE; }
        else if (!strcmp(a, "--policy")) {
            NEED();
            if (softmax_spec(cmd, a, argv[++i], &o.policy_tau) || o.policy_tau == 0)
                return mq_cli_usage_error(cmd, "--policy: '%s' is not softmax:TAU", argv[i]);
        } else if (!strcmp(a, "--actions") || !strcmp(a, "--dim") || !strcmp(a, "--n") || !strcmp(a, "--seed")) {
            NEED();
            long long v;
            if (mq_cli_parse_i64(argv[++i], &v) || v < 0) return mq_cli_usage_error(cmd, "%s: '%s' is not a non-negative integer", a, argv[i]);
            if (!strcmp(a, "--actions")) K = v;
            else if (!strcmp(a, "--dim")) D = v;
            else if (!strcmp(a, "--n")) n = v;
            else seed = v;
        } else if (!strcmp(a, "--json")) json = true;
        else return mq_cli_usage_error(cmd, "unknown option '%s'", a);
    }
    if (!out || K < 2 || D < 1 || n < 1) return mq_cli_usage_error(cmd, "--out, --actions (>= 2), --dim (>= 1) and --n (>= 1) are required");
    if (K > 100000 || D > 1000) return mq_cli_usage_error(cmd, "--actions at most 100000, --dim at most 1000");
    o.n_actions = (int32_t)K;
    o.dim = (int32_t)D;
    o.n = n;
    o.seed = (uint64_t)seed;
    double truth;
    mq_err err = {0};
    if (mq_bandit_synth(&o, out, &truth, &err)) return mq_cli_fail(cmd, &err);
    if (json) printf("{\"true_value\":%.17g,\"n\":%lld,\"actions\":%lld,\"dim\":%lld,\"log\":\"%s\",\"action_dist\":\"%s.pi.csv\"}\n",
                     truth, n, K, D, out, out);
    else printf("true value %.10g (n %lld, K %lld, D %lld): log %s, evaluation policy %s.pi.csv\n", truth, n, K, D, out, out);
    return MQ_EXIT_OK;
}

static int cmd_replay(int argc, char **argv)
{
    const char *cmd = "bandit replay", *log_path = NULL, *spec = NULL;
    int format = MQ_BANDIT_FMT_MARQUEE;
    long long K = 0, seed = 1;
    double floor_p = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mq_cli_is_help(a)) { fputs(USAGE_REPLAY, stdout); return MQ_EXIT_OK; }
        else if (!strcmp(a, "--log")) { NEED(); log_path = argv[++i]; }
        else if (!strcmp(a, "--policy")) { NEED(); spec = argv[++i]; }
        else if (!strcmp(a, "--format")) {
            NEED();
            if ((format = parse_format(argv[++i])) < 0) return mq_cli_usage_error(cmd, "--format: '%s' is not marquee or obd", argv[i]);
        } else if (!strcmp(a, "--floor")) {
            NEED();
            if (mq_cli_parse_double(argv[++i], &floor_p) || !(floor_p >= 0 && floor_p < 1)) return mq_cli_usage_error(cmd, "--floor: '%s' is not in [0, 1)", argv[i]);
        } else if (!strcmp(a, "--actions") || !strcmp(a, "--seed")) {
            NEED();
            long long v;
            if (mq_cli_parse_i64(argv[++i], &v) || v < 0) return mq_cli_usage_error(cmd, "%s: '%s' is not a non-negative integer", a, argv[i]);
            if (!strcmp(a, "--actions")) K = v; else seed = v;
        } else if (!strcmp(a, "--json")) json = true;
        else return mq_cli_usage_error(cmd, "unknown option '%s'", a);
    }
    if (!log_path || !spec) return mq_cli_usage_error(cmd, "--log and --policy are required");
    mq_policy_opts po; mq_policy_opts_init(&po, sizeof po);
    mq_err err = {0};
    if (mq_policy_parse(spec, &po, &err)) return mq_cli_usage_error(cmd, "--policy: %s", err.msg);
    po.seed = (uint64_t)seed;
    po.floor = floor_p;
    mq_bandit_log *log = NULL;
    if (mq_bandit_log_load(log_path, format, (int32_t)K, &log, &err)) return mq_cli_fail(cmd, &err);
    mq_replay_result r;
    int rc = mq_bandit_replay(log, &po, &r, &err);
    mq_bandit_log_destroy(log);
    if (rc) return mq_cli_fail(cmd, &err);
    if (json) {
        char *js;
        if (mq_bandit_replay_json(&r, spec, &js)) { err.code = MQ_ENOMEM; return mq_cli_fail(cmd, &err); }
        fputs(js, stdout);
        free(js);
    } else {
        printf("policy %s: %lld of %lld rounds matched, CTR %.6g (se %.4g, 95%% CI %.6g .. %.6g)\n", spec,
               (long long)r.n_matched, (long long)r.n_rounds, r.ctr, r.se, r.ci_low, r.ci_high);
    }
    return MQ_EXIT_OK;
}

static int cmd_export(int argc, char **argv)
{
    const char *cmd = "bandit export", *out = NULL;
    mq_artwork_export_opts o; mq_artwork_export_opts_init(&o, sizeof o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mq_cli_is_help(a)) { fputs(USAGE_EXPORT, stdout); return MQ_EXIT_OK; }
        if (!strcmp(a, "--exposures") || !strcmp(a, "--events") || !strcmp(a, "--out") || !strcmp(a, "--policy") ||
            !strcmp(a, "--window")) {
            if (!need(i, argc, cmd, a)) return MQ_EXIT_USAGE;
            const char *v = argv[++i];
            if (!strcmp(a, "--exposures")) o.exposures = v;
            else if (!strcmp(a, "--events")) o.events = v;
            else if (!strcmp(a, "--out")) out = v;
            else if (!strcmp(a, "--policy")) {
                mq_art_policy p; mq_art_policy_init(&p, sizeof p);
                mq_err e = {0};
                if (mq_art_policy_parse(v, &p, &e)) return mq_cli_usage_error(cmd, "--policy: %s", e.msg);
                o.policy = v;
            } else if (mq_cli_parse_double(v, &o.window_s) || !(o.window_s >= 1))
                return mq_cli_usage_error(cmd, "--window: '%s' is not a number of seconds >= 1", v);
        } else return mq_cli_usage_error(cmd, "unknown option '%s'", a);
    }
    if (!o.exposures || !out) return mq_cli_usage_error(cmd, "--exposures and --out are required");
    mq_err err = {0};
    int64_t n = 0;
    if (mq_artwork_export(&o, out, &n, &err)) return mq_cli_fail(cmd, &err);
    mq_cli_logf(MQ_CLI_INFO, "bandit export: %lld decisions written to %s", (long long)n, out);
    return MQ_EXIT_OK;
}

int mq_cli_bandit(int argc, char **argv)
{
    if (argc < 2) { fputs(USAGE, stderr); return MQ_EXIT_USAGE; }
    if (mq_cli_is_help(argv[1])) { fputs(USAGE, stdout); return MQ_EXIT_OK; }
    if (!strcmp(argv[1], "ope")) return cmd_ope(argc - 1, argv + 1);
    if (!strcmp(argv[1], "synth")) return cmd_synth(argc - 1, argv + 1);
    if (!strcmp(argv[1], "replay")) return cmd_replay(argc - 1, argv + 1);
    if (!strcmp(argv[1], "export")) return cmd_export(argc - 1, argv + 1);
    return mq_cli_usage_error("bandit", "unknown command '%s' (ope, synth, replay, export)", argv[1]);
}
