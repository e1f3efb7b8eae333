/* cmd_train.c: `marquee train`: fit a candidate model on interaction data and write its
 * artifact. Loads PATH with mq_data_open (data files, a folder or a snapshot), binarizes it
 * (explicit ratings >= 4 are positives, implicit data keeps every pair; --min-rating
 * overrides), trains with mq_model_train and saves with mq_model_save (atomic). Progress goes
 * to stderr, a one-line summary to stdout. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *usage_text =
    "usage: marquee train --data PATH --model NAME --out FILE [options]\n"
    "\n"
    "Trains a candidate model on the positives of PATH and writes a model artifact.\n"
    "\n"
    "  --data PATH          interactions: data files or a folder (any format `marquee data`\n"
    "                       reads) or a snapshot\n"
    "  --model NAME         pop | trending | itemknn | ease | ials | content | hybrid\n"
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
    "prune; ials: factors, reg, alpha0, nu, epochs, solver (cg|exact), cg_steps; content:\n"
    "genre_weight, tag_weight; hybrid: base (ease|ials|itemknn), weight, + the base's.\n";

/* Explicit ratings: every value in [0.5, 5] and not all of them 1 (MovieLens stars). */
static bool looks_explicit(const mq_dataset *d)
{
    bool not_one = false;
    for (int64_t i = 0; i < d->nnz; i++) {
        float v = d->m_val[i];
        if (!(v >= 0.5f && v <= 5.0f)) return false;
        if (v != 1.0f) not_one = true;
    }
    return not_one;
}

/* Shared with cmd_recommend.c: loads and binarizes PATH. */
int mq__cli_load_positives(const char *cmd, const char *path, const char *format,
                           const char *min_rating, long long min_pos, mq_dataset **out);

int mq__cli_load_positives(const char *cmd, const char *path, const char *format,
                           const char *min_rating, long long min_pos, mq_dataset **out)
{
    mq_load_opts lo = {0};
    lo.log = &mq_cli_log;
    if (format) {
        lo.format = mq_format_parse(format);
        if (lo.format < 0) return mq_cli_usage_error(cmd, "--format: unknown format '%s'", format);
    }
    mq_dataset *raw = NULL;
    mq_err err = {0};
    if (mq_data_open(path, &lo, &raw, &err)) return mq_cli_fail(cmd, &err);
    float thr;
    if (!min_rating) thr = looks_explicit(raw) ? 4.0f : -INFINITY;
    else if (strcmp(min_rating, "none") == 0) thr = -INFINITY;
    else {
        double v;
        if (mq_cli_parse_double(min_rating, &v) || !isfinite(v)) {
            mq_dataset_destroy(raw);
            return mq_cli_usage_error(cmd, "--min-rating: '%s' is not a number or 'none'", min_rating);
        }
        thr = (float)v;
    }
    int rc = mq_dataset_binarize(raw, thr, (int)min_pos, out, &err);
    mq_dataset_destroy(raw);
    if (rc) return mq_cli_fail(cmd, &err);
    return 0;
}

int mq_cli_train(int argc, char **argv)
{
    const char *cmd = "train";
    const char *data = NULL, *model = NULL, *out = NULL, *format = NULL, *min_rating = NULL;
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
        bool takes = strcmp(a, "--data") == 0 || strcmp(a, "--model") == 0 ||
                     strcmp(a, "--out") == 0 || strcmp(a, "--param") == 0 ||
                     strcmp(a, "--min-rating") == 0 || strcmp(a, "--min-positives") == 0 ||
                     strcmp(a, "--format") == 0 || strcmp(a, "--threads") == 0 ||
                     strcmp(a, "--seed") == 0;
        if (!takes) return mq_cli_usage_error(cmd, "unknown argument '%s'", a);
        if (!v) return mq_cli_usage_error(cmd, "%s needs a value", a);
        i++;
        if (strcmp(a, "--data") == 0) data = v;
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
    if (!data) return mq_cli_usage_error(cmd, "--data PATH is required");
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
    int rc = mq__cli_load_positives(cmd, data, format, min_rating, min_pos, &d);
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
