/* xp_params.c: mq_xp_analyze driven by "name=value" strings, for bindings (python/marquee/)
 * that should not depend on the layout of mq_xp_analyze_opts, which grows with new options.
 * The names are `marquee xp analyze`'s long options without the dashes (docs/xp.md), checked
 * with the same ranges; the strings stay the caller's and only live for the call. The result
 * is mq_xp_analyze's own JSON and text: nothing here formats output.
 */
#include "core/core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int num(const char *name, const char *v, double lo, double hi, bool open, double *out,
               mq_err *err)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    bool ok = end != v && !*end && errno != ERANGE && isfinite(x) &&
              (open ? x > lo && x < hi : x >= lo && x <= hi);
    if (!ok)
        return mq__err_set(err, MQ_EINVAL, "xp analyze: parameter '%s': '%s' is not a number in "
                           "%c%g, %g%c", name, v, open ? '(' : '[', lo, hi, open ? ')' : ']');
    *out = x;
    return 0;
}

static int flag(const char *name, const char *v, bool *out, mq_err *err)
{
    if (!strcmp(v, "1") || !strcmp(v, "true")) *out = true;
    else if (!strcmp(v, "0") || !strcmp(v, "false")) *out = false;
    else return mq__err_set(err, MQ_EINVAL, "xp analyze: parameter '%s': '%s' is not true or false",
                            name, v);
    return 0;
}

/* Applies one "name=value" to o; config/experiment are returned for the caller to load. */
static int apply(mq_xp_analyze_opts *o, const char *p, const char **config, const char **exp,
                 mq_err *err)
{
    const char *eq = strchr(p, '=');
    if (!eq) return mq__err_set(err, MQ_EINVAL, "xp analyze: parameter '%s' is not name=value", p);
    char name[32];
    size_t nl = (size_t)(eq - p);
    if (nl >= sizeof name) nl = sizeof name - 1;
    memcpy(name, p, nl);
    name[nl] = 0;
    const char *v = eq + 1;
    if (!*v) return mq__err_set(err, MQ_EINVAL, "xp analyze: parameter '%s' has an empty value", name);
    double x = 0;
    int rc = 0;
    if (!strcmp(name, "metric")) {
        if (o->n_metrics >= MQ_XP_MAX_METRICS)
            return mq__err_set(err, MQ_EINVAL, "xp analyze: at most %d metrics", MQ_XP_MAX_METRICS);
        o->metrics[o->n_metrics++] = v;
    } else if (!strcmp(name, "control")) o->control = v;
    else if (!strcmp(name, "variant-col")) o->variant_col = v;
    else if (!strcmp(name, "covariate")) o->covariate = v;
    else if (!strcmp(name, "segment")) o->segment = v;
    else if (!strcmp(name, "day")) o->day = v;
    else if (!strcmp(name, "pair")) o->pair = v;
    else if (!strcmp(name, "config")) *config = v;
    else if (!strcmp(name, "experiment")) *exp = v;
    else if (!strcmp(name, "alpha")) rc = num(name, v, 0, 1, true, &o->alpha, err);
    else if (!strcmp(name, "srm-alpha")) rc = num(name, v, 0, 1, true, &o->srm_alpha, err);
    else if (!strcmp(name, "tau")) rc = num(name, v, 0, INFINITY, true, &o->tau, err);
    else if (!strcmp(name, "sequential")) rc = flag(name, v, &o->sequential, err);
    else if (!strcmp(name, "mann-whitney")) rc = flag(name, v, &o->mann_whitney, err);
    else if (!strcmp(name, "bootstrap")) rc = flag(name, v, &o->bootstrap, err);
    else if (!strcmp(name, "quantile")) {
        if (o->n_quantiles >= MQ_XP_MAX_QUANTILES)
            return mq__err_set(err, MQ_EINVAL, "xp analyze: at most %d quantiles", MQ_XP_MAX_QUANTILES);
        rc = num(name, v, 0, 1, true, &o->quantiles[o->n_quantiles], err);
        if (!rc) o->n_quantiles++;
    } else if (!strcmp(name, "look-every")) {
        if (!(rc = num(name, v, 1, 1e15, false, &x, err))) o->look_every = (long long)x;
    } else if (!strcmp(name, "boot")) {
        if (!(rc = num(name, v, 10, 1e6, false, &x, err))) o->n_boot = (int)x;
    } else if (!strcmp(name, "reservoir")) {
        if (!(rc = num(name, v, 2, 1e15, false, &x, err))) o->reservoir = (long long)x;
    } else if (!strcmp(name, "seed")) {
        if (!(rc = num(name, v, 0, 1.8e19, false, &x, err))) o->seed = (unsigned long long)x;
    } else if (!strcmp(name, "threads")) {
        if (!(rc = num(name, v, 1, 2, false, &x, err))) o->threads = (int)x;
    } else if (!strcmp(name, "gs-looks")) {
        if (!(rc = num(name, v, 1, 50, false, &x, err))) o->gs_looks = (int)x;
    } else if (!strcmp(name, "gs-look")) {
        if (!(rc = num(name, v, 1, 50, false, &x, err))) o->gs_look = (int)x;
    } else if (!strcmp(name, "gs-type")) {
        if (!strcmp(v, "obf")) o->gs_type = MQ_GS_OBF;
        else if (!strcmp(v, "pocock")) o->gs_type = MQ_GS_POCOCK;
        else rc = mq__err_set(err, MQ_EINVAL, "xp analyze: parameter 'gs-type': '%s' is not obf or "
                              "pocock", v);
    } else {
        return mq__err_set(err, MQ_EINVAL, "xp analyze: unknown parameter '%s' (known: metric, "
                           "control, variant-col, covariate, segment, day, pair, config, experiment, "
                           "alpha, srm-alpha, sequential, tau, look-every, mann-whitney, bootstrap, "
                           "quantile, boot, reservoir, seed, threads, gs-looks, gs-look, gs-type)",
                           name);
    }
    return rc;
}

int mq_xp_analyze_params(const char *path, const char *const *params, int n_params, char **json,
                         char **text, const mq_log *log, mq_err *err)
{
    mq_xp_analyze_opts o;
    mq_xp_analyze_opts_init(&o, sizeof o);
    const char *config = NULL, *exp = NULL;
    for (int i = 0; i < n_params; i++) {
        int rc = apply(&o, params[i], &config, &exp, err);
        if (rc) return rc;
    }
    if (!o.control) return mq__err_set(err, MQ_EINVAL, "xp analyze: parameter 'control' is required");
    if (o.gs_looks && !o.gs_look)
        return mq__err_set(err, MQ_EINVAL, "xp analyze: 'gs-looks' needs 'gs-look'");
    if (exp && !config)
        return mq__err_set(err, MQ_EINVAL, "xp analyze: 'experiment' needs 'config'");
    mq_xp_config cfg = {0};
    if (config) {
        int rc = mq_xp_config_load(config, &cfg, err);
        if (rc) return rc;
        o.experiment = exp ? mq_xp_config_find(&cfg, exp) : &cfg.exps[0];
        if (!o.experiment) {
            mq_xp_config_release(&cfg);
            return mq__err_set(err, MQ_ENOTFOUND, "xp analyze: experiment '%s' is not in %s", exp,
                               config);
        }
    }
    int rc = 0;
    if (!o.n_metrics && !(o.experiment && o.experiment->primary_metric[0]))
        rc = mq__err_set(err, MQ_EINVAL, "xp analyze: parameter 'metric' is required");
    else
        rc = mq_xp_analyze(path, &o, json, text, log, err);
    mq_xp_config_release(&cfg);
    return rc;
}
