/* cmd_eval.c: `marquee eval`: train candidate models and evaluate them offline.
 *
 * Flow: parse and validate every argument (models, parameters, grids, cut-offs, protocol,
 * format, threshold) before any data is read; load the data (mq_data_open), binarize it
 * (explicit ratings >= 4 are positives, implicit data keeps every pair; members with >= 5
 * positives), split it (mq_split_make with the chosen protocol, or read an explicit split with
 * --split DIR), optionally write the split (--write-split DIR, so other tools can be compared
 * on the identical split), then for each model: optionally tune its hyperparameters on the
 * validation members (mq_eval_tune: a small grid per model chosen by NDCG@100, extended past
 * an edge where the best point sits on one), train on the training matrix, and evaluate the
 * test members (mq_eval_heldout_batch: fold-in from the member's history alone, fold-in titles
 * never ranked, titles no training member has are neither ranked nor counted as targets).
 *
 * --refit (off by default; Liang et al. 2018 and Steck 2019 test the model trained on the
 * training members alone): after the choice, train the chosen point once more on the training
 * members plus every validation member (mq_eval_refit_data), and test that model. The ranked
 * title set, novelty popularity and the test members are unchanged.
 *
 * Output: a readable table on stdout, or with --json one object {"models": [...]} whose field
 * names are a promise to scripts (docs/eval.md). Progress goes to stderr.
 *
 * Threading: models train and the loop scores with --threads threads (0 = all cores); the
 * model is immutable while being scored, so the scorer below is called from all of them.
 * The CLI sees the public header only.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODELS 16
#define MAX_PARAMS 64

static const char *usage_text =
    "usage: marquee eval --data PATH --models pop,ease,ials,... [options]\n"
    "       marquee eval --split DIR --models ... [options]\n"
    "\n"
    "Trains each model on the training members and evaluates it on held-out members: Recall,\n"
    "NDCG, Precision, MAP at k = 10, 20, 50, 100, MRR, AUC, catalog coverage, novelty and\n"
    "genre diversity, each with its standard error over members.\n"
    "\n"
    "options:\n"
    "  --data PATH            interactions (any format `marquee data` reads, or a snapshot);\n"
    "                         repeat it to load several files as one data set (e.g. amazon-book\n"
    "                         train.txt and test.txt)\n"
    "  --format FMT           input format (auto, movielens, ml100k, mldat, lastfm, lines, events)\n"
    "  --protocol P           strong (default): held-out members, 80% of each one's positives\n"
    "                         folded in, 20% targets; temporal: a global time cutoff; loo: the\n"
    "                         latest positive of each member is the target\n"
    "  --models LIST          comma-separated model kinds (marquee --help lists them), e.g.\n"
    "                         pop,ease,ials\n"
    "  --seed S               split and training seed (default 1)\n"
    "  --param MODEL.NAME=V   a hyperparameter, e.g. ease.lambda=200 ials.factors=128 (repeatable)\n"
    "  --tune                 choose hyperparameters on the validation members (NDCG@100) from a\n"
    "                         small grid per model, then report test figures with the choice\n"
    "  --grid MODEL.NAME=V1,V2,...  replace the tuning grid of one hyperparameter (repeatable)\n"
    "  --tune-extend N        when the best point sits on a numeric axis's edge, extend that axis\n"
    "                         geometrically by up to N steps per side (default 3; 0: grid only)\n"
    "  --refit                after choosing, train again on the training plus the validation\n"
    "                         members (all their positives) and test that model (default: test\n"
    "                         the model trained on the training members, as Liang et al. 2018)\n"
    "  --test-frac F          share of members held out for test (strong; default 0.1)\n"
    "  --val-frac F           share held out for validation (strong; default 0.1)\n"
    "  --threshold X|none     positives are values >= X (default: ratings >= 4 for explicit\n"
    "                         ratings, every pair with a positive value for implicit data)\n"
    "  --min-positives N      keep members with at least N positives (default 5)\n"
    "  --split DIR            evaluate on an explicit split: DIR/train.csv, test_in.csv,\n"
    "                         test_out.csv (member,title with a header), optional val_in.csv,\n"
    "                         val_out.csv\n"
    "  --write-split DIR      write the split used (same layout) before evaluating\n"
    "  --k LIST               cut-offs (default 10,20,50,100)\n"
    "  --threads N            threads for training and scoring (default: all cores)\n"
    "  --json                 one JSON object on stdout instead of the table\n"
    "  --log-format FMT       progress lines on stderr as text (default) or json\n"
    "  --write-features FILE  ranker: write its training and test feature rows (with labels,\n"
    "                         groups and the catalog fingerprint) for other tools: LibSVM when\n"
    "                         FILE ends in .libsvm or .svm, else CSV\n"
    "  --features-format F    csv or libsvm, whatever the file name\n"
    "  --reliability FILE     ranker: write the test window's reliability diagram (CSV)\n"
    "  --naive-topk           benchmark: also evaluate the test members with a full sort per\n"
    "                         member instead of the size-k heap, and report its rate\n"
    "                         (naive_members_per_second; the figures must be identical)\n"
    "\n"
    "JSON: {\"models\": [{\"model\": \"ease\", \"params\": {...}, \"fit_seconds\": x,\n"
    "        \"eval_seconds\": x, \"members_per_second\": x, \"test\": {\"recall@20\": x,\n"
    "        \"recall@20_se\": x, ..., \"members\": n}, \"val\": {...}, \"tuning\": [...],\n"
    "        \"tuning_axes\": [...], \"optimum_interior\": true}], ...}\n";

/* ---- arguments ------------------------------------------------------------------------- */

typedef struct eval_args {
    const char *data_paths[8];
    int n_data;
    const char *protocol, *split_dir, *write_dir, *format, *threshold_s;
    char *models_arg, *ks_arg;
    char *params[MAX_PARAMS * 4], *grids[32];
    int n_params, n_grids;
    bool tune, json, naive, refit;
    long long seed, threads, min_pos, tune_extend;
    double test_frac, val_frac;
    int proto;              /* mq_protocol, from protocol */
    float threshold;        /* NAN: the default rule */
    mq_rank_eval_opts rank; /* --write-features, --reliability (the ranker's extra outputs) */
} eval_args;

/* One model's report. The parameter strings point into argv or into tuning->best_params. */
typedef struct model_report {
    const char *kind;
    const char *p[MAX_PARAMS];   /* "name=value" */
    int n;
    const char *grids[32];       /* this model's --grid specs without "MODEL." */
    int n_grids;
    double fit_seconds;
    mq_eval_result test;
    double naive_rate;           /* members/s of the full-sort baseline; 0 when not run */
    char canon[1024];            /* the trained model's full parameter text ("" if unknown) */
    mq_tune_result *tuning;      /* NULL when not tuned */
    char rank_json[4096];        /* ranker: calibration and generator comparison (JSON members) */
    mq_rank_report rank;
} model_report;

enum {
    O_DATA = MQ_CLI_OPT, O_FORMAT, O_PROTOCOL, O_MODELS, O_SEED, O_PARAM, O_TUNE, O_GRID,
    O_TUNE_EXTEND, O_REFIT, O_TEST_FRAC, O_VAL_FRAC, O_THRESHOLD, O_MIN_POS, O_SPLIT,
    O_WRITE_SPLIT, O_K, O_THREADS, O_JSON, O_NAIVE, O_LOG_FORMAT, O_WRITE_FEATURES, O_RELIABILITY,
    O_FEATURES_FORMAT,
};
static const struct option eval_opts[] = {
    {"data", required_argument, 0, O_DATA},
    {"format", required_argument, 0, O_FORMAT},
    {"protocol", required_argument, 0, O_PROTOCOL},
    {"models", required_argument, 0, O_MODELS},
    {"seed", required_argument, 0, O_SEED},
    {"param", required_argument, 0, O_PARAM},
    {"tune", no_argument, 0, O_TUNE},
    {"grid", required_argument, 0, O_GRID},
    {"tune-extend", required_argument, 0, O_TUNE_EXTEND},
    {"refit", no_argument, 0, O_REFIT},
    {"test-frac", required_argument, 0, O_TEST_FRAC},
    {"val-frac", required_argument, 0, O_VAL_FRAC},
    {"threshold", required_argument, 0, O_THRESHOLD},
    {"min-positives", required_argument, 0, O_MIN_POS},
    {"split", required_argument, 0, O_SPLIT},
    {"write-split", required_argument, 0, O_WRITE_SPLIT},
    {"k", required_argument, 0, O_K},
    {"threads", required_argument, 0, O_THREADS},
    {"json", no_argument, 0, O_JSON},
    {"naive-topk", no_argument, 0, O_NAIVE},
    {"log-format", required_argument, 0, O_LOG_FORMAT},
    {"write-features", required_argument, 0, O_WRITE_FEATURES},
    {"reliability", required_argument, 0, O_RELIABILITY},
    {"features-format", required_argument, 0, O_FEATURES_FORMAT},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

static int split_list(char *s, char **out, int max)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max) return -1;
        out[n++] = tok;
    }
    return n;
}

/* Reads argv into a; returns -1 to go on, or an exit status (help, usage error). */
static int parse_args(const char *cmd, int argc, char **argv, eval_args *a)
{
    memset(a, 0, sizeof *a);
    mq_rank_eval_opts_init(&a->rank, sizeof a->rank);
    a->protocol = "strong";
    a->format = "auto";
    a->seed = 1;
    a->min_pos = 5;
    a->tune_extend = -1;
    a->test_frac = a->val_frac = 0.1;
    int c;
    while ((c = mq_cli_getopt(argc, argv, eval_opts)) != -1) {
        char *v = optarg;
        double x;
        switch (c) {
        case 'h': fputs(usage_text, stdout); return MQ_EXIT_OK;
        case O_DATA:
            if (a->n_data == 8) return mq_cli_usage_error(cmd, "--data: at most 8 files");
            a->data_paths[a->n_data++] = v;
            break;
        case O_FORMAT: a->format = v; break;
        case O_PROTOCOL: a->protocol = v; break;
        case O_MODELS: a->models_arg = v; break;
        case O_SPLIT: a->split_dir = v; break;
        case O_WRITE_SPLIT: a->write_dir = v; break;
        case O_THRESHOLD: a->threshold_s = v; break;
        case O_K: a->ks_arg = v; break;
        case O_TUNE: a->tune = true; break;
        case O_REFIT: a->refit = true; break;
        case O_JSON: a->json = true; break;
        case O_NAIVE: a->naive = true; break;
        case O_WRITE_FEATURES: a->rank.features_csv = v; break;
        case O_RELIABILITY: a->rank.reliability_csv = v; break;
        case O_FEATURES_FORMAT:
            if (strcmp(v, "csv") == 0) a->rank.features_format = MQ_RANK_FEATURES_CSV;
            else if (strcmp(v, "libsvm") == 0) a->rank.features_format = MQ_RANK_FEATURES_LIBSVM;
            else return mq_cli_usage_error(cmd, "--features-format must be csv or libsvm (got '%s')", v);
            break;
        case O_LOG_FORMAT:
            if (mq_cli_log_format(cmd, v)) return MQ_EXIT_USAGE;
            break;
        case O_SEED:
            if (mq_cli_parse_i64(v, &a->seed) || a->seed < 0)
                return mq_cli_usage_error(cmd, "--seed: '%s' is not a non-negative integer", v);
            break;
        case O_THREADS:
            if (mq_cli_parse_i64(v, &a->threads) || a->threads < 0 || a->threads > 256)
                return mq_cli_usage_error(cmd, "--threads: '%s' is not in [0, 256]", v);
            break;
        case O_TUNE_EXTEND:
            if (mq_cli_parse_i64(v, &a->tune_extend) || a->tune_extend < 0 || a->tune_extend > 10)
                return mq_cli_usage_error(cmd, "--tune-extend: '%s' is not in [0, 10]", v);
            break;
        case O_MIN_POS:
            if (mq_cli_parse_i64(v, &a->min_pos) || a->min_pos < 1 || a->min_pos > 1000000)
                return mq_cli_usage_error(cmd, "--min-positives: '%s' is not in [1, 1e6]", v);
            break;
        case O_TEST_FRAC:
        case O_VAL_FRAC:
            if (mq_cli_parse_double(v, &x) || !(x >= 0 && x < 1))
                return mq_cli_usage_error(cmd, "--%s: '%s' is not in [0, 1)",
                                          c == O_TEST_FRAC ? "test-frac" : "val-frac", v);
            *(c == O_TEST_FRAC ? &a->test_frac : &a->val_frac) = x;
            break;
        case O_PARAM:
        case O_GRID: {
            const char *name = c == O_PARAM ? "--param" : "--grid";
            const char *dot = strchr(v, '.'), *eq = strchr(v, '=');
            if (!dot || !eq || dot > eq || dot == v || eq == dot + 1 || !eq[1])
                return mq_cli_usage_error(cmd, "%s: '%s' is not MODEL.NAME=VALUE", name, v);
            if (c == O_PARAM) {
                if (a->n_params == (int)(sizeof a->params / sizeof *a->params))
                    return mq_cli_usage_error(cmd, "too many --param options");
                a->params[a->n_params++] = v;
            } else {
                if (a->n_grids == (int)(sizeof a->grids / sizeof *a->grids))
                    return mq_cli_usage_error(cmd, "too many --grid options");
                a->grids[a->n_grids++] = v;
            }
            break;
        }
        default: return mq_cli_bad_option(cmd, argv, eval_opts);
        }
    }
    if (optind < argc) return mq_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    return -1;
}

/* Replaces or adds "name=value" in r (strings must outlive r). */
static int set_param(model_report *r, const char *nv)
{
    const char *eq = strchr(nv, '=');
    size_t l = eq ? (size_t)(eq - nv) : strlen(nv);
    for (int i = 0; i < r->n; i++)
        if (strncmp(r->p[i], nv, l) == 0 && r->p[i][l] == '=') {
            r->p[i] = nv;
            return 0;
        }
    if (r->n == MAX_PARAMS) return -1;
    r->p[r->n++] = nv;
    return 0;
}

/* Everything that can be checked without the data: the models and where each --param and
 * --grid goes, the protocol, format, threshold and cut-offs. Returns -1 or an exit status. */
static int validate(const char *cmd, eval_args *a, model_report *reps, int *n_models,
                    mq_eval_opts *eo)
{
    if (!a->models_arg) return mq_cli_usage_error(cmd, "--models is required");
    if (!a->n_data && !a->split_dir) return mq_cli_usage_error(cmd, "--data or --split is required");
    if (a->n_data && a->split_dir) return mq_cli_usage_error(cmd, "--data and --split exclude each other");
    static const char *const protocols[] = {"strong", "temporal", "loo"};
    a->proto = -1;
    for (int i = 0; i < 3; i++)
        if (strcmp(a->protocol, protocols[i]) == 0) a->proto = i;
    if (a->proto < 0) {
        const char *s = mq_cli_suggest(a->protocol, protocols, 3);
        return mq_cli_usage_error(cmd, "--protocol: '%s' is not strong, temporal or loo%s%s%s",
                                  a->protocol, s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
    }
    if (a->proto == MQ_SPLIT_STRONG && a->test_frac <= 0)
        return mq_cli_usage_error(cmd, "--test-frac must be > 0 for the strong protocol");
    if (a->test_frac + a->val_frac >= 1)
        return mq_cli_usage_error(cmd, "--test-frac + --val-frac must be < 1");
    if (mq_format_parse(a->format) < 0)
        return mq_cli_usage_error(cmd, "--format: unknown format '%s'", a->format);
    a->threshold = NAN;
    if (a->threshold_s) {
        double x;
        if (strcmp(a->threshold_s, "none") == 0) a->threshold = -INFINITY;
        else if (mq_cli_parse_double(a->threshold_s, &x) == 0 && isfinite(x)) a->threshold = (float)x;
        else return mq_cli_usage_error(cmd, "--threshold: '%s' is not a number or none", a->threshold_s);
    }
    char *names[MAX_MODELS];
    int nm = split_list(a->models_arg, names, MAX_MODELS);
    if (nm <= 0) return mq_cli_usage_error(cmd, "--models: 1 to %d models expected", MAX_MODELS);
    for (int i = 0; i < nm; i++) {
        if (mq_cli_check_model(cmd, "--models", names[i])) return MQ_EXIT_USAGE;
        reps[i].kind = names[i];
    }
    *n_models = nm;
    if (a->rank.features_csv || a->rank.reliability_csv) {
        bool has_ranker = false;
        for (int i = 0; i < nm; i++) has_ranker |= strcmp(reps[i].kind, "ranker") == 0;
        if (!has_ranker)
            return mq_cli_usage_error(cmd, "%s needs the ranker in --models",
                                      a->rank.features_csv ? "--write-features" : "--reliability");
    }
    for (int i = 0; i < a->n_params + a->n_grids; i++) {
        bool is_param = i < a->n_params;
        const char *opt = is_param ? a->params[i] : a->grids[i - a->n_params];
        const char *dot = strchr(opt, '.');
        size_t l = (size_t)(dot - opt);
        bool used = false;
        for (int m = 0; m < nm; m++) {
            model_report *r = &reps[m];
            if (strlen(r->kind) != l || strncmp(r->kind, opt, l) != 0) continue;
            used = true;
            if (is_param ? set_param(r, dot + 1) != 0 : r->n_grids == 32)
                return mq_cli_usage_error(cmd, "too many %s for %s", is_param ? "parameters" : "grids", r->kind);
            if (!is_param) r->grids[r->n_grids++] = dot + 1;
        }
        if (!used)
            return mq_cli_usage_error(cmd, "%s %s: model '%.*s' is not in --models",
                                      is_param ? "--param" : "--grid", opt, (int)l, opt);
    }
    /* each model's parameter names and values, before any data is read */
    for (int m = 0; m < nm; m++) {
        mq_train_opts to; mq_train_opts_init(&to, sizeof to);
        to.params = reps[m].p;
        to.n_params = reps[m].n;
        mq_err err = {0, ""};
        if (mq_model_check_params(reps[m].kind, &to, &err))
            return mq_cli_usage_error(cmd, "--param: %s", err.msg);
    }
    mq_eval_opts_init(eo, sizeof *eo);
    if (a->ks_arg) {
        char *kv[MQ_EVAL_MAX_K];
        int nk = split_list(a->ks_arg, kv, MQ_EVAL_MAX_K);
        if (nk <= 0) return mq_cli_usage_error(cmd, "--k: 1 to %d cut-offs expected", MQ_EVAL_MAX_K);
        for (int i = 0; i < nk; i++) {
            long long k;
            if (mq_cli_parse_i64(kv[i], &k) || k < 1 || k > 100000 || (i && k <= eo->ks[i - 1]))
                return mq_cli_usage_error(cmd, "--k: '%s' is not an ascending cut-off in [1, 100000]", kv[i]);
            eo->ks[i] = (int)k;
        }
        eo->n_ks = nk;
    }
    eo->n_threads = (int)a->threads;
    eo->log = &mq_cli_log;
    if (a->tune) {   /* the grids too: a bad --grid fails now, not after loading */
        mq_tune_axis axes[MQ_TUNE_MAX_AXES];
        int n_axes;
        mq_err err = {0, ""};
        for (int m = 0; m < nm; m++)
            if (mq_eval_tune_axes(reps[m].kind, reps[m].grids, reps[m].n_grids, reps[m].p,
                                  reps[m].n, axes, &n_axes, &err))
                return mq_cli_usage_error(cmd, "%s", err.msg);
    }
    return -1;
}

/* ---- data ------------------------------------------------------------------------------ */

/* Loads and binarizes --data, then splits it; or reads --split. *raw_out receives the data
 * before binarization (NULL with --split; the ranker's graded labels read its values). */
static int load_split(const eval_args *a, mq_split *sp, mq_dataset **raw_out, mq_err *err)
{
    *raw_out = NULL;
    if (a->split_dir) return mq_split_read(a->split_dir, sp, err);
    mq_load_opts lo;
    mq_load_opts_init(&lo, sizeof lo);
    lo.format = mq_format_parse(a->format);
    lo.log = &mq_cli_log;
    mq_dataset *raw = NULL, *bin = NULL;
    double t0 = mq_now();
    int rc = a->n_data == 1 ? mq_data_open(a->data_paths[0], &lo, &raw, err)
                            : mq_data_load(a->data_paths, a->n_data, &lo, &raw, err);
    if (rc) return rc;
    /* REFERENCES.md: explicit ratings >= 4 are positives, implicit data every pair with a
     * positive value (mq_data_positives knows which the loader read); --threshold X applies
     * value >= X to any data, --threshold none keeps every pair. */
    const char *rule;
    if (!isnan(a->threshold)) {
        rc = mq_dataset_binarize(raw, a->threshold, (int)a->min_pos, &bin, err);
        rule = isfinite(a->threshold) ? "values >= --threshold" : "every pair";
    } else {
        rc = mq_data_positives(raw, 4.0f, (int)a->min_pos, &bin, err);
        rule = raw->ratings ? "ratings >= 4" : "every pair with a positive value";
    }
    if (rc == 0) {
        mq_cli_logf(MQ_CLI_INFO, "eval: %s: %d members x %d titles, %lld interactions -> %lld "
                    "positives (%s), %d members with >= %lld; %.2f s",
                    a->data_paths[a->n_data - 1], raw->n_members, raw->n_titles,
                    (long long)raw->nnz, (long long)bin->nnz, rule, bin->n_members, a->min_pos,
                    mq_now() - t0);
        mq_split_opts so;
        mq_split_opts_init(&so, sizeof so);
        so.protocol = a->proto;
        so.seed = (uint64_t)a->seed;
        so.test_frac = a->test_frac;
        so.val_frac = a->val_frac;
        so.in_frac = 0.8;
        rc = mq_split_make(bin, &so, sp, err);
    }
    if (rc == 0) *raw_out = raw;
    else mq_dataset_destroy(raw);
    mq_dataset_destroy(bin);
    return rc;
}

/* Title popularity among training members (novelty) and the ranked title set: the titles some
 * training member has (REFERENCES.md: the title set is the training members'). pop and
 * rankable are allocated here and owned by the caller; returns the ranked count or -1. */
static int32_t ranked_titles(const mq_dataset *tr, mq_eval_opts *eo, int32_t **pop,
                             uint8_t **rankable)
{
    *pop = calloc((size_t)tr->n_titles + 1, sizeof **pop);
    *rankable = calloc((size_t)tr->n_titles + 1, 1);
    if (!*pop || !*rankable) return -1;
    int32_t pop_members = 0, n_ranked = 0;
    for (int32_t m = 0; m < tr->n_members; m++) pop_members += tr->m_ptr[m + 1] > tr->m_ptr[m];
    for (int32_t t = 0; t < tr->n_titles; t++) {
        (*pop)[t] = (int32_t)(tr->t_ptr[t + 1] - tr->t_ptr[t]);
        (*rankable)[t] = (*pop)[t] > 0;
        n_ranked += (*rankable)[t];
    }
    eo->title_pop = *pop;
    eo->n_pop_members = pop_members > 0 ? pop_members : 1;
    eo->rankable = *rankable;
    if (tr->catalog.n_genres > 0 && tr->catalog.genres) eo->genres = tr->catalog.genres;
    return n_ranked;
}

/* ---- one model --------------------------------------------------------------------------- */

typedef struct run_ctx {
    const mq_split *split;
    const mq_dataset *train_data;   /* what the tested model fits on: split->train or refit */
    const mq_dataset *raw;          /* --data before binarization (NULL with --split) */
    mq_eval_opts eo;
    const eval_args *args;
} run_ctx;

static int score_batch(void *user, int n, const int64_t *ptr, const int32_t *idx, float *scores,
                       mq_err *err)
{
    return mq_model_score_batch(user, n, ptr, idx, scores, 1, err);
}

static int evaluate(const run_ctx *rc, const mq_eval_opts *eo, const mq_model *m,
                    mq_eval_result *res, mq_err *err)
{
    return mq_eval_heldout_batch(score_batch, (void *)m, rc->split->train->n_titles,
                                 &rc->split->test, eo, res, err);
}

static double metric(const mq_eval_result *r, const char *name)
{
    const mq_eval_metric *m = mq_eval_find(r, name);
    return m ? m->mean : NAN;
}

static int fail_with(mq_err *err, int code, const char *msg)
{
    err->code = code;
    snprintf(err->msg, sizeof err->msg, "%s", msg);
    return code;
}

/* Trains r's parameters on data; fit seconds in r->fit_seconds. */
static int train(const run_ctx *rc, const mq_dataset *data, model_report *r, mq_model **out,
                 mq_err *err)
{
    mq_train_opts to;
    mq_train_opts_init(&to, sizeof to);
    to.params = r->p;
    to.n_params = r->n;
    to.n_threads = (int)rc->args->threads;
    to.seed = (uint64_t)rc->args->seed;
    to.log = &mq_cli_log;
    /* Temporal protocol: the ranker's label windows take the test window's share of the
     * training positives (label_frac, unless given), so its play probability is the
     * probability of a play within the horizon that is evaluated (docs/models.md). */
    const char *pl[MAX_PARAMS + 1];
    char lf[64];
    if (strcmp(r->kind, "ranker") == 0 && rc->args->proto == MQ_SPLIT_TEMPORAL && !rc->args->split_dir &&
        rc->split->train->nnz > 0 && r->n < MAX_PARAMS) {
        bool given = false;
        long windows = 8;
        for (int i = 0; i < r->n; i++) {
            given |= strncmp(r->p[i], "label_frac=", 11) == 0;
            if (strncmp(r->p[i], "windows=", 8) == 0) windows = strtol(r->p[i] + 8, NULL, 10);
        }
        double share = (double)rc->split->test.out_ptr[rc->split->test.n] /
                       (double)rc->split->train->nnz;
        if (!given && windows > 0 && share > 0) {
            if (share > 0.95 / (double)windows) share = 0.95 / (double)windows;
            if (share < 0.001) share = 0.001;
            for (int i = 0; i < r->n; i++) pl[i] = r->p[i];
            snprintf(lf, sizeof lf, "label_frac=%.6g", share);
            pl[r->n] = lf;
            to.params = pl;
            to.n_params = r->n + 1;
            mq_cli_logf(MQ_CLI_INFO, "eval: ranker: label windows of %s of the training positives (the test "
                        "window's share)", lf + 11);
        }
    }
    double t0 = mq_now();
    /* The ranker's graded labels read the values before binarization. */
    int e = strcmp(r->kind, "ranker") == 0 ? mq_rank_train(data, rc->raw, &to, out, err)
                                           : mq_model_train(r->kind, data, &to, out, err);
    r->fit_seconds = mq_now() - t0;
    if (e == 0 && mq_model_n_titles(*out) != rc->split->train->n_titles) {
        mq_model_destroy(*out);
        *out = NULL;
        return fail_with(err, MQ_EINVAL, "the model's title count differs from the split's");
    }
    return e;
}

/* Tunes r on the validation members (when it has axes): r's parameters become the chosen
 * point's and *m the model trained with it. */
static int tune(const run_ctx *rc, model_report *r, mq_model **m, mq_err *err)
{
    mq_tune_axis axes[MQ_TUNE_MAX_AXES];
    int n_axes = 0;
    int e = mq_eval_tune_axes(r->kind, r->grids, r->n_grids, r->p, r->n, axes, &n_axes, err);
    if (e || n_axes == 0) return e;
    r->tuning = calloc(1, sizeof *r->tuning);
    if (!r->tuning) return fail_with(err, MQ_ENOMEM, "out of memory");
    char key[32];
    snprintf(key, sizeof key, "ndcg@%d", rc->eo.ks[rc->eo.n_ks - 1]);
    for (int i = 0; i < rc->eo.n_ks; i++)
        if (rc->eo.ks[i] == 100) snprintf(key, sizeof key, "ndcg@100");
    mq_tune_opts to;
    mq_tune_opts_init(&to, sizeof to);
    to.kind = r->kind;
    to.fixed = r->p;
    to.n_fixed = r->n;
    to.metric = key;
    to.max_extend = (int)rc->args->tune_extend;
    to.n_threads = (int)rc->args->threads;
    to.seed = (uint64_t)rc->args->seed;
    to.eval = &rc->eo;
    to.log = &mq_cli_log;
    e = mq_eval_tune(&to, rc->split->train, &rc->split->val, axes, n_axes, r->tuning, err);
    if (e) return e;
    for (int a = 0; a < r->tuning->n_axes; a++)
        if (set_param(r, r->tuning->best_params[a]))
            return fail_with(err, MQ_EINVAL, "too many parameters");
    r->fit_seconds = r->tuning->fit_seconds;
    *m = r->tuning->model;
    r->tuning->model = NULL;
    return 0;
}

/* --naive-topk: the same scorer and members with a full sort per member; the figures must
 * be identical, only the rate differs. */
static int naive_check(const run_ctx *rc, const mq_model *m, model_report *r, mq_err *err)
{
    mq_eval_opts eo = rc->eo;
    eo.naive_topk = true;
    mq_eval_result nr;
    int e = evaluate(rc, &eo, m, &nr, err);
    if (e) return e;
    r->naive_rate = nr.members_per_sec;
    const mq_eval_metric *a = mq_eval_find(&r->test, "ndcg@100"), *b = mq_eval_find(&nr, "ndcg@100");
    if (a && b && a->mean != b->mean) {
        snprintf(err->msg, sizeof err->msg, "naive and heap top-k disagree (%.17g vs %.17g)",
                 a->mean, b->mean);
        return err->code = MQ_EINVAL;
    }
    return 0;
}

/* Tunes (optionally), trains (or refits) and tests one model. */
static int run_model(const run_ctx *rc, model_report *r, mq_err *err)
{
    mq_model *m = NULL;
    int e = 0;
    if (rc->args->tune) e = tune(rc, r, &m, err);
    if (!e && rc->train_data != rc->split->train) {
        /* --refit: the chosen point (or the given parameters) once more on train + validation */
        mq_model_destroy(m);
        m = NULL;
        e = train(rc, rc->train_data, r, &m, err);
    } else if (!e && !m) {
        e = train(rc, rc->split->train, r, &m, err);
    }
    if (e) goto out;
    snprintf(r->canon, sizeof r->canon, "%s", mq_model_params(m));
    if (mq_rank_is_ranker(m)) {
        /* The ranker reads the histories' timestamps and adds calibration figures. */
        e = mq_rank_evaluate(m, rc->train_data, &rc->split->test, &rc->eo, &rc->args->rank,
                             &r->test, &r->rank, err);
        if (!e && mq_rank_report_json(&r->rank, r->rank_json, sizeof r->rank_json) < 0)
            r->rank_json[0] = 0;
    } else {
        e = evaluate(rc, &rc->eo, m, &r->test, err);
    }
    if (!e && rc->args->naive) e = naive_check(rc, m, r, err);
    if (!e)
        mq_cli_logf(MQ_CLI_INFO, "eval: %s: fit %.2f s; test recall@20 %.4f recall@50 %.4f "
                    "ndcg@100 %.4f; %.0f members/s",
                    r->kind, r->fit_seconds, metric(&r->test, "recall@20"),
                    metric(&r->test, "recall@50"), metric(&r->test, "ndcg@100"),
                    r->test.members_per_sec);
out:
    mq_model_destroy(m);
    return e;
}

/* ---- output ------------------------------------------------------------------------------- */

/* "name=value" pairs as a JSON object; numeric values as numbers. */
static void json_params(FILE *f, const char *const *p, int n)
{
    fputc('{', f);
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(p[i], '=');
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(eq ? (size_t)(eq - p[i]) : strlen(p[i])), p[i]);
        fputs(i ? ", " : "", f);
        mq_json_write_str(f, name);
        fputs(": ", f);
        double v;
        if (eq && mq_cli_parse_double(eq + 1, &v) == 0 && isfinite(v)) mq_json_write_num(f, v);
        else mq_json_write_str(f, eq ? eq + 1 : "");
    }
    fputc('}', f);
}

static void json_metrics(FILE *f, const mq_eval_result *r)
{
    fputc('{', f);
    for (int i = 0; i < r->n_metrics; i++) {
        const mq_eval_metric *m = &r->metrics[i];
        fputs(i ? ", " : "", f);
        mq_json_write_str(f, m->name);
        fputs(": ", f);
        mq_json_write_num(f, m->mean);
        if (isfinite(m->se)) {
            fprintf(f, ", \"%s_se\": ", m->name);
            mq_json_write_num(f, m->se);
        }
    }
    fprintf(f, "%s\"members\": %d}", r->n_metrics ? ", " : "", r->n_members);
}

/* A value of an axis: a number when it reads as one, else a string. */
static void json_value(FILE *f, const char *s)
{
    double v;
    if (mq_cli_parse_double(s, &v) == 0 && isfinite(v)) mq_json_write_num(f, v);
    else mq_json_write_str(f, s);
}

/* "tuning" (every point tried), "tuning_axes" (each axis: grid, extensions, choice) and
 * "optimum_interior". */
static void json_tuning(FILE *f, const mq_tune_result *t)
{
    fprintf(f, ",\n   \"tuning\": [");
    for (int g = 0; g < t->n_points; g++) {
        fprintf(f, "%s{\"params\": ", g ? ", " : "");
        mq_json_write_str(f, t->points[g].params);
        fprintf(f, ", \"val_ndcg\": ");
        mq_json_write_num(f, t->points[g].value);
        fprintf(f, ", \"fit_seconds\": ");
        mq_json_write_num(f, t->points[g].fit_seconds);
        fprintf(f, ", \"extension\": %s}", t->points[g].extension ? "true" : "false");
    }
    fprintf(f, "],\n   \"tuning_axes\": [");
    for (int a = 0; a < t->n_axes; a++) {
        const mq_tune_axis *ax = &t->axes[a];
        fprintf(f, "%s{\"name\": ", a ? ", " : "");
        mq_json_write_str(f, ax->name);
        fprintf(f, ", \"values\": [");
        for (int i = 0; i < ax->n; i++) {
            fputs(i ? ", " : "", f);
            json_value(f, ax->values[i]);
        }
        fprintf(f, "], \"grid_values\": %d, \"extended\": %s, \"extended_low\": %d, "
                   "\"extended_high\": %d, \"best\": ",
                ax->n_grid, ax->extended_low + ax->extended_high ? "true" : "false",
                ax->extended_low, ax->extended_high);
        json_value(f, ax->values[ax->best]);
        fprintf(f, ", \"edge\": %s, \"stop\": ",
                ax->edge < 0 ? "\"low\"" : ax->edge > 0 ? "\"high\"" : "null");
        if (ax->stop) mq_json_write_str(f, ax->stop);
        else fputs("null", f);
        fputc('}', f);
    }
    fprintf(f, "],\n   \"optimum_interior\": %s", t->interior ? "true" : "false");
}

static void json_model(FILE *f, const model_report *r)
{
    fprintf(f, "{\"model\": ");
    mq_json_write_str(f, r->kind);
    fprintf(f, ", \"params\": ");
    if (r->canon[0]) {
        /* Every parameter with its value, as the model reports them ("a=1 b=2"). */
        char buf[1024], *toks[MAX_PARAMS];
        int nt = 0;
        snprintf(buf, sizeof buf, "%s", r->canon);
        for (char *t = strtok(buf, " "); t && nt < MAX_PARAMS; t = strtok(NULL, " ")) toks[nt++] = t;
        json_params(f, (const char *const *)toks, nt);
    } else {
        json_params(f, r->p, r->n);
    }
    fprintf(f, ", \"fit_seconds\": ");
    mq_json_write_num(f, r->fit_seconds);
    fprintf(f, ", \"eval_seconds\": ");
    mq_json_write_num(f, r->test.seconds);
    fprintf(f, ", \"members_per_second\": ");
    mq_json_write_num(f, r->test.members_per_sec);
    if (r->naive_rate > 0) {
        fprintf(f, ", \"naive_members_per_second\": ");
        mq_json_write_num(f, r->naive_rate);
    }
    fprintf(f, ",\n   \"test\": ");
    json_metrics(f, &r->test);
    if (r->tuning) {
        fprintf(f, ",\n   \"val\": ");
        json_metrics(f, &r->tuning->val);
        json_tuning(f, r->tuning);
    }
    if (r->rank_json[0]) fprintf(f, ",\n   %s", r->rank_json);
    fputc('}', f);
}

static void print_json(FILE *f, const eval_args *a, const mq_split *sp, int32_t n_ranked,
                       const mq_dataset *refit, const model_report *reps, int n_reps)
{
    char joined[8192] = "";
    for (int i = 0; i < (a->split_dir ? 1 : a->n_data); i++) {
        size_t l = strlen(joined);
        snprintf(joined + l, sizeof joined - l, "%s%s", i ? ", " : "",
                 a->split_dir ? a->split_dir : a->data_paths[i]);
    }
    fprintf(f, "{\"data\": ");
    mq_json_write_str(f, joined);
    fprintf(f, ", \"protocol\": ");
    mq_json_write_str(f, a->split_dir ? "split" : a->protocol);
    fprintf(f, ", \"seed\": %llu, \"split\": {\"train_members\": %d, \"titles\": %d, "
               "\"ranked_titles\": %d, \"train_positives\": %lld, \"val_members\": %d, "
               "\"test_members\": %d}, \"refit\": %s",
            (unsigned long long)a->seed, sp->train->n_members, sp->train->n_titles, n_ranked,
            (long long)sp->train->nnz, sp->val.n, sp->test.n, refit ? "true" : "false");
    if (refit)
        fprintf(f, ", \"refit_members\": %d, \"refit_positives\": %lld", refit->n_members,
                (long long)refit->nnz);
    fprintf(f, ", \"models\": [");
    for (int i = 0; i < n_reps; i++) {
        fprintf(f, "%s\n  ", i ? "," : "");
        json_model(f, &reps[i]);
    }
    fprintf(f, "\n]}\n");
}

static void cell(FILE *f, const mq_eval_result *r, const char *name)
{
    const mq_eval_metric *m = mq_eval_find(r, name);
    if (!m || !isfinite(m->mean)) {
        fprintf(f, " %15s", "-");
        return;
    }
    char b[64];
    /* "±" is two bytes in UTF-8 and one column: pad one more byte to keep columns aligned. */
    if (isfinite(m->se)) {
        snprintf(b, sizeof b, "%.4f±%.4f", m->mean, m->se);
        fprintf(f, " %16s", b);
    } else {
        snprintf(b, sizeof b, "%.4f", m->mean);
        fprintf(f, " %15s", b);
    }
}

static void print_table(FILE *f, const run_ctx *rc, const mq_split *sp, model_report *reps,
                        int n_reps)
{
    fprintf(f, "train: %d members x %d titles, %lld positives; validation %d, test %d members\n",
            sp->train->n_members, sp->train->n_titles, (long long)sp->train->nnz, sp->val.n,
            sp->test.n);
    if (rc->train_data != sp->train)
        fprintf(f, "refit: tested models trained on %d members (training + validation), %lld "
                   "positives\n",
                rc->train_data->n_members, (long long)rc->train_data->nnz);
    fputc('\n', f);
    char cols[16][32];
    int nc = 0;
    int kmin = rc->eo.ks[0], kmax = rc->eo.ks[rc->eo.n_ks - 1];
    bool std_ks = rc->eo.n_ks == 4 && kmin == 10 && kmax == 100;
    if (std_ks) {
        snprintf(cols[nc++], 32, "recall@20");
        snprintf(cols[nc++], 32, "recall@50");
        snprintf(cols[nc++], 32, "ndcg@100");
        snprintf(cols[nc++], 32, "precision@10");
        snprintf(cols[nc++], 32, "map@100");
    } else {
        for (int i = 0; i < rc->eo.n_ks && nc < 8; i++) snprintf(cols[nc++], 32, "recall@%d", rc->eo.ks[i]);
        snprintf(cols[nc++], 32, "ndcg@%d", kmax);
    }
    snprintf(cols[nc++], 32, "mrr");
    snprintf(cols[nc++], 32, "auc");
    snprintf(cols[nc++], 32, "coverage@%d", kmax);
    fprintf(f, "%-10s %9s", "model", "fit s");
    for (int c = 0; c < nc; c++) fprintf(f, " %15s", cols[c]);
    fprintf(f, " %10s  params\n", "members/s");
    for (int i = 0; i < n_reps; i++) {
        model_report *r = &reps[i];
        fprintf(f, "%-10s %9.2f", r->kind, r->fit_seconds);
        for (int c = 0; c < nc; c++) cell(f, &r->test, cols[c]);
        fprintf(f, " %10.0f  ", r->test.members_per_sec);
        if (r->canon[0]) fputs(r->canon, f);
        else
            for (int p = 0; p < r->n; p++) fprintf(f, "%s%s", p ? " " : "", r->p[p]);
        fputc('\n', f);
    }
    fprintf(f, "\n(test members: mean±standard error over %d members; fold-in titles never "
               "ranked)\n",
            n_reps ? reps[0].test.n_members : 0);
    for (int i = 0; i < n_reps; i++) {
        const mq_rank_report *k = &reps[i].rank;
        if (!reps[i].rank_json[0]) continue;
        fprintf(f, "ranker ndcg@%d %.4f; paired difference with each generator:", k->k_cmp, k->ndcg);
        for (int g = 0; g < k->n_generators; g++)
            fprintf(f, " %s %+.4f±%.4f", k->generators[g], k->delta[g], k->delta_se[g]);
        fprintf(f, "\nplay probability on the test window (%lld candidates, base rate %.4f): ECE "
                   "raw %.4f, platt %.4f, isotonic %.4f; log loss isotonic %.4f, Brier %.4f\n",
                (long long)k->n_pairs, k->base_rate, k->raw.ece, k->platt.ece, k->isotonic.ece,
                k->isotonic.log_loss, k->isotonic.brier);
    }
}

/* ---- the command -------------------------------------------------------------------------- */

int mq_cli_eval(int argc, char **argv)
{
    const char *cmd = "eval";
    eval_args a;
    int exit_code = parse_args(cmd, argc, argv, &a);
    if (exit_code >= 0) return exit_code;
    model_report *reps = calloc(MAX_MODELS, sizeof *reps);   /* large: on the heap */
    if (!reps) {
        fprintf(stderr, "marquee eval: out of memory\n");
        return MQ_EXIT_FAIL;
    }
    int n_models = 0;
    run_ctx rc;
    memset(&rc, 0, sizeof rc);
    rc.args = &a;
    mq_err err = {0, ""};
    mq_split sp;
    memset(&sp, 0, sizeof sp);
    bool have_split = false;
    mq_dataset *refit_data = NULL, *raw = NULL;
    int32_t *pop = NULL;
    uint8_t *rankable = NULL;
    exit_code = validate(cmd, &a, reps, &n_models, &rc.eo);
    if (exit_code >= 0) goto done;
    exit_code = MQ_EXIT_FAIL;

    if (load_split(&a, &sp, &raw, &err)) goto fail;
    rc.raw = raw;
    have_split = true;
    if (a.write_dir) {
        if (mq_split_write(&sp, a.write_dir, &err)) goto fail;
        mq_cli_logf(MQ_CLI_INFO, "eval: split written to %s", a.write_dir);
    }
    const mq_dataset *tr = sp.train;
    mq_cli_logf(MQ_CLI_INFO, "eval: train %d members x %d titles, %lld positives; validation %d, "
                "test %d members", tr->n_members, tr->n_titles, (long long)tr->nnz, sp.val.n, sp.test.n);
    if (sp.test.n == 0) {
        fail_with(&err, MQ_EINVAL, "the split has no test members");
        goto fail;
    }
    if (a.refit) {
        if (sp.val.n == 0) {
            fail_with(&err, MQ_EINVAL, "--refit needs validation members: use --val-frac > 0 or a "
                                       "split with val_in.csv and val_out.csv");
            goto fail;
        }
        if (mq_eval_refit_data(tr, &sp.val, &refit_data, &err)) goto fail;
        mq_cli_logf(MQ_CLI_INFO, "eval: refit on %d members (training + validation), %lld positives",
                    refit_data->n_members, (long long)refit_data->nnz);
    }
    int32_t n_ranked = ranked_titles(tr, &rc.eo, &pop, &rankable);
    if (n_ranked < 0) {
        fail_with(&err, MQ_ENOMEM, "out of memory");
        goto fail;
    }
    rc.split = &sp;
    rc.train_data = refit_data ? refit_data : tr;
    for (int i = 0; i < n_models; i++)
        if (run_model(&rc, &reps[i], &err)) goto fail;
    if (a.json) print_json(stdout, &a, &sp, n_ranked, refit_data, reps, n_models);
    else print_table(stdout, &rc, &sp, reps, n_models);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        snprintf(err.msg, sizeof err.msg, "writing the results: %s", strerror(errno));
        goto fail;
    }
    exit_code = MQ_EXIT_OK;
    goto done;
fail:
    exit_code = mq_cli_fail(cmd, &err);
done:
    for (int i = 0; i < MAX_MODELS; i++) {
        if (reps[i].tuning) mq_model_destroy(reps[i].tuning->model);
        free(reps[i].tuning);
    }
    free(reps);
    free(pop);
    free(rankable);
    if (have_split) mq_split_release(&sp);
    mq_dataset_destroy(refit_data);
    mq_dataset_destroy(raw);
    return exit_code;
}
