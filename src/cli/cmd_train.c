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
    mq_load_opts lo = {0};
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
        fprintf(stderr, "marquee: event log %s: %lld interactions of %d members\n", events_dir,
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

int mq_cli_train(int argc, char **argv)
{
    const char *cmd = "train";
    const char *data = NULL, *events = NULL, *model = NULL, *out = NULL, *format = NULL, *min_rating = NULL;
    const char *params[64];
    int n_params = 0;
    long long threads = 0, seed = 1, min_pos = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mq_cli_is_help(a)) {
            fputs(usage_text, stdout);
            return MQ_EXIT_OK;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strcmp(a, "--data") == 0 || strcmp(a, "--events") == 0 || strcmp(a, "--model") == 0 ||
                     strcmp(a, "--out") == 0 || strcmp(a, "--param") == 0 ||
                     strcmp(a, "--min-rating") == 0 || strcmp(a, "--min-positives") == 0 ||
                     strcmp(a, "--format") == 0 || strcmp(a, "--threads") == 0 ||
                     strcmp(a, "--seed") == 0;
        if (!takes) return mq_cli_usage_error(cmd, "unknown argument '%s'", a);
        if (!v) return mq_cli_usage_error(cmd, "%s needs a value", a);
        i++;
        if (strcmp(a, "--data") == 0) data = v;
        else if (strcmp(a, "--events") == 0) events = v;
        else if (strcmp(a, "--model") == 0) model = v;
        else if (strcmp(a, "--out") == 0) out = v;
        else if (strcmp(a, "--format") == 0) format = v;
        else if (strcmp(a, "--min-rating") == 0) min_rating = v;
        else if (strcmp(a, "--param") == 0) {
            if (n_params >= 64) return mq_cli_usage_error(cmd, "too many --param options");
            if (!strchr(v, '='))
                return mq_cli_usage_error(cmd, "--param '%s': expected NAME=VALUE", v);
            params[n_params++] = v;
        } else {
            long long x;
            if (mq_cli_parse_i64(v, &x) || x < 0 || (strcmp(a, "--threads") == 0 && x > 1024))
                return mq_cli_usage_error(cmd, "%s: '%s' is not a valid non-negative integer", a, v);
            if (strcmp(a, "--threads") == 0) threads = x;
            else if (strcmp(a, "--seed") == 0) seed = x;
            else min_pos = x;
        }
    }
    if (!data && !events) return mq_cli_usage_error(cmd, "--data PATH or --events DIR is required");
    if (!model) return mq_cli_usage_error(cmd, "--model NAME is required");
    if (!out) return mq_cli_usage_error(cmd, "--out FILE is required");
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
    mq_dataset *d = NULL;
    int rc = mq__cli_load_positives(cmd, data, events, format, min_rating, min_pos, &d, NULL);
    if (rc) return rc;
    mq_train_opts o = {params, n_params, (int)threads, (uint64_t)seed, &mq_cli_log};
    mq_model *m = NULL;
    mq_err err = {0};
    fprintf(stderr, "marquee: training %s on %d members x %d titles, %lld positives\n", model,
            d->n_members, d->n_titles, (long long)d->nnz);
    double t0 = mq_now();
    if (mq_model_train(model, d, &o, &m, &err)) {
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
