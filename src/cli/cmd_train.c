/* cmd_train.c: `marquee train`: fit a candidate model on interaction data and write its
 * artifact. Loads PATH with mq_data_open (data files, a folder or a snapshot), binarizes it
 * (explicit ratings >= 4 are positives, implicit data keeps every pair; --min-rating
 * overrides), trains with mq_model_train and saves with mq_model_save (atomic). Progress goes
 * to stderr, a one-line summary to stdout. --events DIR adds the events that `marquee serve`
 * logged (mq_evlog_to_dataset), so a model can be retrained on what members did since. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *usage_text =
    "usage: marquee train (--data PATH | --events DIR | both) --model NAME --out FILE [options]\n"
    "\n"
    "Trains a candidate model on the positives of PATH and writes a model artifact.\n"
    "\n"
    "  --data PATH          interactions: data files or a folder (any format `marquee data`\n"
    "                       reads) or a snapshot\n"
    "  --events DIR         the event log of `marquee serve` (its --events directory): its\n"
    "                       plays, ratings and thumbs are added to --data's history\n"
    "  --model NAME         pop | trending | itemknn | ease | dlae | ials | content |\n"
    "                       hybrid | ranker (needs timestamps; docs/models.md)\n"
    "  --out FILE           the model file to write (atomically)\n"
    "  --param NAME=VALUE   a hyperparameter, repeatable; MODEL.NAME=VALUE also works, e.g.\n"
    "                       --param ease.lambda=200 (see docs/models.md for each model's)\n"
    "  --min-rating R|none  positives are values >= R (default 4 for explicit ratings, every\n"
    "                       interaction for implicit data)\n"
    "  --min-positives N    keep members with at least N positives (default 1)\n"
    "  --format NAME        input format (auto, movielens, ml100k, mldat, lastfm, lines,\n"
    "                       events; default auto)\n"
    "  --threads N          worker threads (default 0 = all cores)\n"
    "  --seed S             random seed (default 1)\n"
    "  --log-format FMT     progress lines on stderr as text (default) or json\n"
    "\n"
    "Parameters: pop: none; trending: half_life (days); itemknn: k, shrink; ease: lambda,\n"
    "prune; dlae: lambda, dropout, prune; ials: factors, reg, alpha0, nu, epochs, solver (cg|exact), cg_steps; content:\n"
    "genre_weight, tag_weight; hybrid: base (ease|ials|itemknn), weight, + the base's.\n";

/* Positives of raw: --min-rating none keeps every interaction; otherwise the REFERENCES.md
 * binarization (mq_data_positives: explicit ratings >= R, default 4; implicit data every
 * interaction with a positive strength). */
static int binarize(const char *cmd, const mq_dataset *raw, const char *min_rating,
                    long long min_pos, mq_dataset **out)
{
    mq_err err = {0};
    int rc;
    if (min_rating && strcmp(min_rating, "none") == 0)
        rc = mq_dataset_binarize(raw, -INFINITY, (int)min_pos, out, &err);
    else {
        double v = 0;
        if (min_rating && (mq_cli_parse_double(min_rating, &v) || !isfinite(v) || v <= 0))
            return mq_cli_usage_error(cmd, "--min-rating: '%s' is not a positive number or 'none'",
                                      min_rating);
        rc = mq_data_positives(raw, (float)v, (int)min_pos, out, &err);
    }
    return rc ? mq_cli_fail(cmd, &err) : 0;
}

int mq__cli_load_positives(const char *cmd, const char *path, const char *events_dir,
                           const char *format, const char *min_rating, long long min_pos,
                           mq_dataset **out, mq_dataset **raw_out)
{
    *out = NULL;
    if (raw_out) *raw_out = NULL;
    mq_load_opts lo; mq_load_opts_init(&lo, sizeof lo);
    lo.log = &mq_cli_log;
    if (format) {
        lo.format = mq_format_parse(format);
        if (lo.format < 0) return mq_cli_usage_error(cmd, "--format: unknown format '%s'", format);
    }
    mq_dataset *raw = NULL, *pos = NULL, *ev_raw = NULL, *ev_pos = NULL, *merged = NULL;
    mq_err err = {0};
    int rc = 0;
    if (path) {
        if (mq_data_open(path, &lo, &raw, &err)) return mq_cli_fail(cmd, &err);
        if ((rc = binarize(cmd, raw, min_rating, events_dir ? 0 : min_pos, &pos))) goto done;
    }
    if (events_dir) {
        if (mq_evlog_to_dataset(events_dir, &ev_raw, &err)) { rc = mq_cli_fail(cmd, &err); goto done; }
        mq_cli_logf(MQ_CLI_INFO, "event log %s: %lld interactions of %d members", events_dir,
                (long long)ev_raw->nnz, ev_raw->n_members);
        if ((rc = binarize(cmd, ev_raw, min_rating, pos ? 0 : min_pos, &ev_pos))) goto done;
        if (pos) {
            /* History and logged events together; a pair in both counts once. */
            if (mq_dataset_merge(pos, ev_pos, &merged, &err) ||
                mq_dataset_binarize(merged, 0.5f, (int)min_pos, out, &err)) {
                rc = mq_cli_fail(cmd, &err);
                goto done;
            }
        } else {
            *out = ev_pos;
            ev_pos = NULL;
        }
    } else {
        *out = pos;
        pos = NULL;
    }
done:
    if (raw_out && rc == 0) *raw_out = raw;
    else mq_dataset_destroy(raw);
    mq_dataset_destroy(pos);
    mq_dataset_destroy(ev_raw);
    mq_dataset_destroy(ev_pos);
    mq_dataset_destroy(merged);
    return rc;
}

enum {
    O_DATA = MQ_CLI_OPT, O_EVENTS, O_MODEL, O_OUT, O_PARAM, O_MIN_RATING, O_MIN_POS, O_FORMAT,
    O_THREADS, O_SEED, O_LOG_FORMAT,
};
static const struct option train_opts[] = {
    {"data", required_argument, 0, O_DATA},
    {"events", required_argument, 0, O_EVENTS},
    {"model", required_argument, 0, O_MODEL},
    {"out", required_argument, 0, O_OUT},
    {"param", required_argument, 0, O_PARAM},
    {"min-rating", required_argument, 0, O_MIN_RATING},
    {"min-positives", required_argument, 0, O_MIN_POS},
    {"format", required_argument, 0, O_FORMAT},
    {"threads", required_argument, 0, O_THREADS},
    {"seed", required_argument, 0, O_SEED},
    {"log-format", required_argument, 0, O_LOG_FORMAT},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

int mq_cli_train(int argc, char **argv)
{
    const char *cmd = "train";
    const char *data = NULL, *events = NULL, *model = NULL, *out = NULL, *format = NULL, *min_rating = NULL;
    const char *params[64];
    int n_params = 0;
    long long threads = 0, seed = 1, min_pos = 1;
    int c;
    while ((c = mq_cli_getopt(argc, argv, train_opts)) != -1) {
        const char *v = optarg;
        long long x;
        switch (c) {
        case 'h': fputs(usage_text, stdout); return MQ_EXIT_OK;
        case O_DATA: data = v; break;
        case O_EVENTS: events = v; break;
        case O_MODEL: model = v; break;
        case O_OUT: out = v; break;
        case O_FORMAT: format = v; break;
        case O_MIN_RATING: min_rating = v; break;
        case O_LOG_FORMAT:
            if (mq_cli_log_format(cmd, v)) return MQ_EXIT_USAGE;
            break;
        case O_PARAM:
            if (n_params >= 64) return mq_cli_usage_error(cmd, "too many --param options");
            if (!strchr(v, '=')) return mq_cli_usage_error(cmd, "--param '%s': expected NAME=VALUE", v);
            params[n_params++] = v;
            break;
        case O_THREADS:
        case O_SEED:
        case O_MIN_POS:
            if (mq_cli_parse_i64(v, &x) || x < 0 || (c == O_THREADS && x > 1024))
                return mq_cli_usage_error(cmd, "--%s: '%s' is not a valid non-negative integer",
                                          c == O_THREADS ? "threads" : c == O_SEED ? "seed" : "min-positives", v);
            *(c == O_THREADS ? &threads : c == O_SEED ? &seed : &min_pos) = x;
            break;
        default: return mq_cli_bad_option(cmd, argv, train_opts);
        }
    }
    if (optind < argc) return mq_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!data && !events) return mq_cli_usage_error(cmd, "--data PATH or --events DIR is required");
    if (!model) return mq_cli_usage_error(cmd, "--model NAME is required");
    if (mq_cli_check_model(cmd, "--model", model)) return MQ_EXIT_USAGE;
    if (!out) return mq_cli_usage_error(cmd, "--out FILE is required");
    if (format && mq_format_parse(format) < 0)
        return mq_cli_usage_error(cmd, "--format: unknown format '%s'", format);
    if (min_rating && strcmp(min_rating, "none") != 0) {
        double r;
        if (mq_cli_parse_double(min_rating, &r) || !isfinite(r) || r <= 0)
            return mq_cli_usage_error(cmd, "--min-rating: '%s' is not a positive number or 'none'", min_rating);
    }
    /* "ease.lambda=200" -> "lambda=200" for this model; another model's prefix is an error. */
    size_t ml = strlen(model);
    for (int i = 0; i < n_params; i++) {
        const char *dot = strchr(params[i], '.'), *eq = strchr(params[i], '=');
        if (dot && dot < eq) {
            if ((size_t)(dot - params[i]) != ml || strncmp(params[i], model, ml) != 0)
                return mq_cli_usage_error(cmd, "--param '%s' is for another model than '%s'",
                                          params[i], model);
            params[i] = dot + 1;
        }
    }
    /* the parameters' names and values, before any data is read */
    mq_train_opts o; mq_train_opts_init(&o, sizeof o);
    o.params = params; o.n_params = n_params; o.n_threads = (int)threads; o.seed = (uint64_t)seed;
    o.log = &mq_cli_log;
    mq_err err = {0};
    if (mq_model_check_params(model, &o, &err)) return mq_cli_usage_error(cmd, "--param: %s", err.msg);
    mq_dataset *d = NULL, *raw = NULL;
    /* The ranker's graded labels (label=rating|play_seconds) read --data's values. */
    int rc = mq__cli_load_positives(cmd, data, events, format, min_rating, min_pos, &d,
                                    strcmp(model, "ranker") == 0 ? &raw : NULL);
    if (rc) return rc;
    mq_model *m = NULL;
    mq_cli_logf(MQ_CLI_INFO, "training %s on %d members x %d titles, %lld positives", model,
            d->n_members, d->n_titles, (long long)d->nnz);
    double t0 = mq_now();
    rc = raw ? mq_rank_train(d, raw, &o, &m, &err) : mq_model_train(model, d, &o, &m, &err);
    mq_dataset_destroy(raw);
    if (rc) {
        mq_dataset_destroy(d);
        return mq_cli_fail(cmd, &err);
    }
    double fit = mq_now() - t0;
    rc = mq_model_save(m, out, &err);
    if (rc) {
        mq_model_destroy(m);
        mq_dataset_destroy(d);
        return mq_cli_fail(cmd, &err);
    }
    printf("%s: %s [%s] %d members x %d titles, %lld positives, fit %.2f s\n", out, model,
           mq_model_params(m), d->n_members, d->n_titles, (long long)d->nnz, fit);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
    return MQ_EXIT_OK;
}
