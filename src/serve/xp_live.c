/* xp_live.c: experiments as the server runs them: the experiments file with per-variant
 * treatments, per-request assignment, ?xp= forcing, page ids and the experiments clock.
 *
 * The file is the one `marquee xp` reads (docs/xp.md) with one addition: a variant given as
 * an object may carry "treatment": {"model": "NAME", "ranker": "NAME", "mmr": 0.5, "rows": 10,
 * "per_row": 15, "row_priors": {"trending": 1.2}, "artwork_policy": "linucb"}. Loading takes the treatments out of the JSON tree, checks
 * them against a table of keys (one row per key: name, parser), and hands the rest to
 * mq_xp_config_parse, so assignment is exactly `marquee xp assign`'s. A variant without a
 * treatment is the server's default. Two experiments that can hold the same member (not in
 * one layer, whose ranges are disjoint) may not set the same key: the merged treatment of a
 * member is then the union of their keys, whatever the order.
 *
 * Per request: mq_xp_assign for each experiment at mq__xps_now(), in file order; a forced
 * variant (?xp=NAME:VARIANT, the server checks the API key) replaces or adds the experiment's
 * pick and marks the page as forced (left out of analysis). Assignment is a pure function of
 * (definition, member, time), so a reload that leaves an experiment's definition unchanged
 * leaves every member's variant unchanged.
 *
 * Thread safety: a loaded mq__xps is immutable; mq__xps_assign shares nothing.
 */
#include "serve/serve.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <time.h>

const char *const mq__xt_names[MQ__XT_N] = {"model", "mmr", "rows", "per_row", "row_priors", "ranker",
                                            "artwork_policy"};

/* ---- the treatment table ---- */

typedef int (*treat_fn)(const cJSON *v, mq__xps_treat *t, char *why, size_t cap);

static int t_model(const cJSON *v, mq__xps_treat *t, char *why, size_t cap)
{
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) >= sizeof t->model - 8) {
        snprintf(why, cap, "must be a model name (the file NAME.mqm in the models directory)");
        return -1;
    }
    for (const char *p = v->valuestring; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.') || (p == v->valuestring && *p == '.')) {
            snprintf(why, cap, "'%.60s' is not a model name (letters, digits, '_', '-', '.')", v->valuestring);
            return -1;
        }
    strcpy(t->model, v->valuestring);
    return 0;
}

/* "ranker": NAME of a ranker NAME.mqm in the models directory, or "none" (no ranker) */
static int t_ranker(const cJSON *v, mq__xps_treat *t, char *why, size_t cap)
{
    mq__xps_treat tmp;
    if (t_model(v, &tmp, why, cap)) {
        snprintf(why, cap, "must be a ranker's name (the file NAME.mqm in the models directory) or \"none\"");
        return -1;
    }
    strcpy(t->ranker, tmp.model);
    return 0;
}

static int num_in(const cJSON *v, double lo, double hi, double *out, char *why, size_t cap)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        snprintf(why, cap, "must be a number in [%g, %g]", lo, hi);
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

static int int_in(const cJSON *v, int lo, int hi, int *out, char *why, size_t cap)
{
    double d;
    if (num_in(v, lo, hi, &d, why, cap) || d != floor(d)) {
        snprintf(why, cap, "must be an integer in [%d, %d]", lo, hi);
        return -1;
    }
    *out = (int)d;
    return 0;
}

static int t_mmr(const cJSON *v, mq__xps_treat *t, char *why, size_t cap) { return num_in(v, 0, 1, &t->mmr, why, cap); }
static int t_rows(const cJSON *v, mq__xps_treat *t, char *why, size_t cap) { return int_in(v, 1, 50, &t->rows, why, cap); }
static int t_per_row(const cJSON *v, mq__xps_treat *t, char *why, size_t cap) { return int_in(v, 1, 100, &t->per_row, why, cap); }

static int t_row_priors(const cJSON *v, mq__xps_treat *t, char *why, size_t cap)
{
    if (!cJSON_IsObject(v) || !v->child) {
        snprintf(why, cap, "must be a non-empty object {\"row kind\": multiplier}");
        return -1;
    }
    for (const cJSON *f = v->child; f; f = f->next) {
        int k = 0;
        while (k < MQ_PAGE_ROW_KINDS && strcmp(mq_page_row_kind_names[k], f->string)) k++;
        if (k == MQ_PAGE_ROW_KINDS) {
            snprintf(why, cap, "unknown row kind '%.60s' (known: continue_watching, top_picks, "
                               "because_you_watched, trending, new_releases, genre, popular)", f->string);
            return -1;
        }
        char sub[200];
        if (num_in(f, 0, 100, &t->row_prior[k], sub, sizeof sub)) {
            snprintf(why, cap, "'%s' %s", f->string, sub);
            return -1;
        }
    }
    return 0;
}

/* "fixed", "uniform", "egreedy[:EPS]", "ts", "linucb[:ALPHA]", "lints[:V]" (mq_art_policy_parse). */
static int t_artwork_policy(const cJSON *v, mq__xps_treat *t, char *why, size_t cap)
{
    mq_art_policy p; mq_art_policy_init(&p, sizeof p);
    mq_err e = {0, ""};
    if (!cJSON_IsString(v) || mq_art_policy_parse(v->valuestring, &p, &e)) {
        snprintf(why, cap, "must be an artwork policy: fixed, uniform, egreedy[:EPS], ts, linucb[:ALPHA] or lints[:V]");
        return -1;
    }
    t->art_kind = p.kind;
    t->art_param = p.param;
    return 0;
}

static const struct { const char *key; treat_fn fn; } TREAT[MQ__XT_N] = {
    [MQ__XT_MODEL] = {"model", t_model},
    [MQ__XT_MMR] = {"mmr", t_mmr},
    [MQ__XT_ROWS] = {"rows", t_rows},
    [MQ__XT_PER_ROW] = {"per_row", t_per_row},
    [MQ__XT_ROW_PRIORS] = {"row_priors", t_row_priors},
    [MQ__XT_RANKER] = {"ranker", t_ranker},
    [MQ__XT_ARTWORK_POLICY] = {"artwork_policy", t_artwork_policy},
};

static void treat_init(mq__xps_treat *t)
{
    memset(t, 0, sizeof *t);
    for (int k = 0; k < MQ_PAGE_ROW_KINDS; k++) t->row_prior[k] = 1;
}

static int parse_treatment(const cJSON *o, mq__xps_treat *t, const char *path, const char *exp,
                           int vi, mq_err *err)
{
    if (!cJSON_IsObject(o))
        return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'variants[%d].treatment' must be an object",
                           path, exp, vi);
    for (const cJSON *f = o->child; f; f = f->next) {
        int k = 0;
        while (k < MQ__XT_N && strcmp(TREAT[k].key, f->string)) k++;
        if (k == MQ__XT_N)
            return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'variants[%d].treatment.%s': unknown key "
                               "(known: model, mmr, rows, per_row, row_priors, ranker, artwork_policy)", path, exp, vi, f->string);
        char why[400];
        if (TREAT[k].fn(f, t, why, sizeof why))
            return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'variants[%d].treatment.%s' %s",
                               path, exp, vi, f->string, why);
        t->set |= 1u << k;
    }
    return 0;
}

void mq__xps_release(mq__xps *x)
{
    if (!x) return;
    mq_xp_config_release(&x->xp);
    free(x->treat);
    free(x->ramp);
    free(x->live);
    free(x->models);
    memset(x, 0, sizeof *x);
}

long long mq__xps_duration(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0) || v > 1e9) return -1;
    double mult = !*end ? 1 : !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600
                : !strcmp(end, "d") ? 86400 : -1;
    if (mult < 0) return -1;
    return (long long)ceil(v * mult);
}

/* "ramp": [1, 5, 20, 50] and "ramp_every": "1h" | {"units": N} of variant vi. */
static int parse_ramp(const cJSON *ramp, const cJSON *every, mq__xps_ramp *r, const char *path,
                      const char *exp, int vi, mq_err *err)
{
    if (!cJSON_IsArray(ramp) || cJSON_GetArraySize(ramp) < 1 || cJSON_GetArraySize(ramp) > MQ__XPS_MAX_RAMP)
        return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'variants[%d].ramp' must be an array of 1 to %d percents",
                           path, exp, vi, MQ__XPS_MAX_RAMP);
    for (const cJSON *p = ramp->child; p; p = p->next) {
        if (!cJSON_IsNumber(p) || !(p->valuedouble > 0 && p->valuedouble <= 100))
            return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'variants[%d].ramp[%d]' must be a percent in (0, 100]",
                               path, exp, vi, r->n);
        if (r->n && !(p->valuedouble > r->pct[r->n - 1]))
            return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'variants[%d].ramp': %g after %g: a ramp only goes up",
                               path, exp, vi, p->valuedouble, r->pct[r->n - 1]);
        r->pct[r->n++] = p->valuedouble;
    }
    if (!every)
        return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'variants[%d].ramp_every' is missing (\"1h\" or {\"units\": 1000})",
                           path, exp, vi);
    if (cJSON_IsString(every)) r->every_s = mq__xps_duration(every->valuestring);
    else if (cJSON_IsObject(every) && cJSON_GetArraySize(every) == 1 && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(every, "units"))) {
        double u = cJSON_GetObjectItemCaseSensitive(every, "units")->valuedouble;
        r->every_units = u >= 1 && u <= 1e12 && u == floor(u) ? (long long)u : -1;
    } else r->every_s = -1;
    if (r->every_s < 0 || r->every_units < 0)
        return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'variants[%d].ramp_every' must be a duration (\"90s\", \"5m\", "
                           "\"1h\", \"2d\") or {\"units\": N}", path, exp, vi);
    return 0;
}

int mq__xps_load(const char *path, mq__xps *out, mq_err *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", path);
    const void *data;
    size_t len;
    int rc = mq__file_map(path, &data, &len, err);
    if (rc) return rc;
    if (!len) return mq__err_set(err, MQ_EFORMAT, "%s: empty file", path);
    cJSON *root = cJSON_ParseWithLength(data, len);
    mq__file_unmap(data, len);
    if (!root) return mq__err_set(err, MQ_EFORMAT, "%s: invalid JSON", path);
    char *clean = NULL;
    cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "experiments");
    int n = list && cJSON_IsArray(list) ? cJSON_GetArraySize(list) : 1;
    mq__xps_treat *tr = calloc((size_t)MQ_MAX(n, 1) * MQ_XP_MAX_VARIANTS, sizeof *tr);
    mq__xps_ramp *ramps = calloc((size_t)MQ_MAX(n, 1) * MQ_XP_MAX_VARIANTS, sizeof *ramps);
    mq__xps_live *live = calloc((size_t)MQ_MAX(n, 1), sizeof *live);
    if (!tr || !ramps || !live) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
    for (int i = 0; i < n * MQ_XP_MAX_VARIANTS; i++) treat_init(&tr[i]);
    int ei = 0;
    for (cJSON *e = list && cJSON_IsArray(list) ? list->child : root; e && ei < n; e = e->next, ei++) {
        if (!cJSON_IsObject(e)) continue;             /* mq_xp_config_parse names it */
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        const char *exp = cJSON_IsString(nm) ? nm->valuestring : "?";
        /* the server's own experiment fields */
        live[ei].check_every_s = 60;
        live[ei].min_units = 100;
        live[ei].max_error_rate = live[ei].max_p99_ms = -1;
        static const char *const lim[2] = {"max_error_rate", "max_p99_ms"};
        for (int k = 0; k < 2; k++) {
            cJSON *f = cJSON_DetachItemFromObjectCaseSensitive(e, lim[k]);
            if (!f) continue;
            double v = cJSON_IsNumber(f) ? f->valuedouble : -1;
            cJSON_Delete(f);
            if (!(v >= 0 && v <= (k ? 1e6 : 1))) {
                rc = mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field '%s' must be %s", path, exp, lim[k],
                                 k ? "a number of milliseconds >= 0" : "a fraction in [0, 1]");
                goto done;
            }
            if (k) live[ei].max_p99_ms = v; else live[ei].max_error_rate = v;
        }
        cJSON *ce = cJSON_DetachItemFromObjectCaseSensitive(e, "check_every");
        if (ce) {
            live[ei].check_every_s = cJSON_IsString(ce) ? mq__xps_duration(ce->valuestring) : -1;
            cJSON_Delete(ce);
            if (live[ei].check_every_s < 1) {
                rc = mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'check_every' must be a duration of at least 1 s (\"60s\", \"5m\")", path, exp);
                goto done;
            }
        }
        cJSON *mu = cJSON_DetachItemFromObjectCaseSensitive(e, "min_units");
        if (mu) {
            double v = cJSON_IsNumber(mu) ? mu->valuedouble : -1;
            cJSON_Delete(mu);
            if (!(v >= 2 && v <= 1e12 && v == floor(v))) {
                rc = mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'min_units' must be an integer >= 2", path, exp);
                goto done;
            }
            live[ei].min_units = (long long)v;
        }
        cJSON *vs = cJSON_GetObjectItemCaseSensitive(e, "variants");
        if (!cJSON_IsArray(vs)) continue;
        int vi = 0;
        for (cJSON *v = vs->child; v && vi < MQ_XP_MAX_VARIANTS; v = v->next, vi++) {
            if (!cJSON_IsObject(v)) continue;
            for (const cJSON *f = v->child; f; f = f->next)
                if (strcmp(f->string, "name") && strcmp(f->string, "weight") && strcmp(f->string, "treatment") &&
                    strcmp(f->string, "ramp") && strcmp(f->string, "ramp_every")) {
                    rc = mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'variants[%d].%s': unknown "
                                     "(known: name, weight, treatment, ramp, ramp_every)", path, exp, vi, f->string);
                    goto done;
                }
            cJSON *ramp = cJSON_DetachItemFromObjectCaseSensitive(v, "ramp");
            cJSON *every = cJSON_DetachItemFromObjectCaseSensitive(v, "ramp_every");
            if (ramp) rc = parse_ramp(ramp, every, &ramps[ei * MQ_XP_MAX_VARIANTS + vi], path, exp, vi, err);
            else if (every) rc = mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'variants[%d].ramp_every' without 'ramp'", path, exp, vi);
            cJSON_Delete(ramp);
            cJSON_Delete(every);
            if (rc) goto done;
            cJSON *t = cJSON_DetachItemFromObjectCaseSensitive(v, "treatment");
            if (t) {
                rc = parse_treatment(t, &tr[ei * MQ_XP_MAX_VARIANTS + vi], path, exp, vi, err);
                cJSON_Delete(t);
                if (rc) goto done;
            }
        }
    }
    clean = cJSON_PrintUnformatted(root);
    if (!clean) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
    rc = mq_xp_config_parse(clean, strlen(clean), path, &out->xp, err);
    if (rc) goto done;
    out->treat = tr;
    tr = NULL;
    out->ramp = ramps;
    ramps = NULL;
    out->live = live;
    live = NULL;
    for (int i = 0; i < out->xp.n && !rc; i++)
        if (out->ramp[i * MQ_XP_MAX_VARIANTS].n)
            rc = mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'variants[0].ramp': the first variant is the "
                             "control and is never ramped", path, out->xp.exps[i].name);
    /* experiments that can share a member may not set the same key */
    const mq_xp_config *c = &out->xp;
    for (int i = 0; i < c->n && !rc; i++)
        for (int j = i + 1; j < c->n && !rc; j++) {
            if (c->exps[i].layer[0] && !strcmp(c->exps[i].layer, c->exps[j].layer)) continue;
            unsigned si = 0, sj = 0;
            for (int v = 0; v < c->exps[i].n_variants; v++) si |= out->treat[i * MQ_XP_MAX_VARIANTS + v].set;
            for (int v = 0; v < c->exps[j].n_variants; v++) sj |= out->treat[j * MQ_XP_MAX_VARIANTS + v].set;
            for (int k = 0; k < MQ__XT_N; k++)
                if (si & sj & (1u << k)) {
                    rc = mq__err_set(err, MQ_EFORMAT, "%s: experiments '%s' and '%s' can hold the same member "
                                     "(not one layer) and both set treatment key '%s'", path,
                                     c->exps[i].name, c->exps[j].name, TREAT[k].key);
                    break;
                }
        }
    /* the distinct models, in file order */
    if (!rc) {
        out->models = calloc((size_t)c->n * MQ_XP_MAX_VARIANTS + 1, sizeof *out->models);
        if (!out->models) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
        for (int i = 0; !rc && i < c->n * MQ_XP_MAX_VARIANTS; i++) {
            const mq__xps_treat *t = &out->treat[i];
            if (!(t->set & (1u << MQ__XT_MODEL))) continue;
            int k = 0;
            while (k < out->n_models && strcmp(out->models[k], t->model)) k++;
            if (k == out->n_models) strcpy(out->models[out->n_models++], t->model);
        }
    }
done:
    free(tr);
    free(ramps);
    free(live);
    cJSON_free(clean);
    cJSON_Delete(root);
    if (rc) mq__xps_release(out);
    return rc;
}

/* ---- per request ---- */

static void merge(mq__xps_treat *dst, const mq__xps_treat *t)
{
    if (t->set & (1u << MQ__XT_MODEL)) { strcpy(dst->model, t->model); dst->model_slot = t->model_slot; }
    if (t->set & (1u << MQ__XT_RANKER)) { strcpy(dst->ranker, t->ranker); dst->ranker_slot = t->ranker_slot; }
    if (t->set & (1u << MQ__XT_MMR)) dst->mmr = t->mmr;
    if (t->set & (1u << MQ__XT_ROWS)) dst->rows = t->rows;
    if (t->set & (1u << MQ__XT_PER_ROW)) dst->per_row = t->per_row;
    if (t->set & (1u << MQ__XT_ROW_PRIORS))
        for (int k = 0; k < MQ_PAGE_ROW_KINDS; k++) dst->row_prior[k] = t->row_prior[k];
    if (t->set & (1u << MQ__XT_ARTWORK_POLICY)) { dst->art_kind = t->art_kind; dst->art_param = t->art_param; }
    dst->set |= t->set;
}

int mq__xps_ramp_permille(const mq__xps_ramp *r, int step)
{
    if (step < 0) return 0;
    if (!r->n) return 1000;
    return (int)floor(r->pct[MQ_MIN(step, r->n - 1)] * 10 + 0.5);
}

/* A member's place in variant v's bucket range [lo, hi), in permille (bucket: mq_xp_assign's). */
static double range_pos(const mq_xp_experiment *xe, int v, double bucket)
{
    double lo = 0;
    for (int k = 0; k < v; k++) lo += xe->weights[k];
    lo *= xe->coverage;
    double w = xe->coverage * xe->weights[v];
    return w > 0 ? (bucket - lo) / w * 1000 : 1000;
}

/* The share of variant v's hash buckets whose members are served it at permille pm: the
 * buckets of its range (mq_xp_assign's bounds) whose range_pos is below pm, over all of them.
 * Exact for the 1000-bucket hash (pm / 1000 is not: 200 permille of a 333-bucket range is 67
 * buckets, 0.2012), so the SRM check's expected counts are exact too. O(buckets of the range). */
static double served_share(const mq_xp_experiment *xe, int v, int pm)
{
    if (pm <= 0) return 0;
    double c = xe->coverage, cum = 0;
    for (int k = 0; k < v; k++) cum += xe->weights[k];
    double lo = c * cum, hi = v == xe->n_variants - 1 ? c : c * (cum + xe->weights[v]);
    int in = 0, on = 0;
    for (int b = MQ_MAX(0, (int)(lo * 1000) - 1); b < 1000 && b <= (int)(hi * 1000) + 1; b++) {
        double n = b / 1000.0;
        if (n < lo || n >= hi) continue;
        in++;
        on += range_pos(xe, v, n) + 1e-9 < pm;
    }
    return in ? (double)on / in : 1;
}

int mq__xps_assign(const mq__xps *x, const char *member, long long now, const char *force,
                   const _Atomic int *served, mq__xps_result *out, char *why, size_t cap)
{
    out->n = 0;
    out->forced = false;
    treat_init(&out->t);
    if (!x) {
        if (force && *force) { snprintf(why, cap, "query 'xp': the server runs no experiments"); return MQ_EINVAL; }
        return 0;
    }
    int forced_v[MQ__XPS_MAX];
    for (int i = 0; i < x->xp.n && i < MQ__XPS_MAX; i++) forced_v[i] = -1;
    for (const char *p = force; p && *p;) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (!colon) {
            snprintf(why, cap, "query 'xp': '%.*s' is not NAME:VARIANT", (int)MQ_MIN(end - p, 100), p);
            return MQ_EINVAL;
        }
        int e = -1, v = -1;
        for (int i = 0; i < x->xp.n && i < MQ__XPS_MAX && e < 0; i++)
            if ((size_t)(colon - p) == strlen(x->xp.exps[i].name) && !memcmp(p, x->xp.exps[i].name, (size_t)(colon - p))) e = i;
        if (e < 0) {
            snprintf(why, cap, "query 'xp': no experiment '%.*s'", (int)MQ_MIN(colon - p, 100), p);
            return MQ_EINVAL;
        }
        const mq_xp_experiment *xe = &x->xp.exps[e];
        for (int k = 0; k < xe->n_variants && v < 0; k++)
            if ((size_t)(end - colon - 1) == strlen(xe->variants[k]) && !memcmp(colon + 1, xe->variants[k], (size_t)(end - colon - 1))) v = k;
        if (v < 0) {
            snprintf(why, cap, "query 'xp': experiment '%s' has no variant '%.*s'", xe->name,
                     (int)MQ_MIN(end - colon - 1, 100), colon + 1);
            return MQ_EINVAL;
        }
        forced_v[e] = v;
        p = comma ? comma + 1 : end;
    }
    for (int i = 0; i < x->xp.n && i < MQ__XPS_MAX; i++) {
        int v = forced_v[i];
        bool forced = v >= 0, dflt = false;
        double share = 1;
        if (!forced) {
            mq_xp_assignment a;
            const mq_xp_experiment *xe = &x->xp.exps[i];
            mq_xp_assign(xe, member, now, &a);
            if (!a.in_experiment) continue;
            v = a.variant;
            int pm = served ? atomic_load_explicit(&served[i * MQ_XP_MAX_VARIANTS + v], memory_order_relaxed) : 1000;
            if (pm < 1000) {
                dflt = !(range_pos(xe, v, a.bucket) + 1e-9 < pm);
                share = served_share(xe, v, pm);
            }
        }
        out->p[out->n++] = (mq__xps_pick){i, v, forced, dflt, share};
        out->forced |= forced;
        if (!dflt) merge(&out->t, &x->treat[i * MQ_XP_MAX_VARIANTS + v]);
    }
    return 0;
}

long long mq__xps_now(void)
{
    return (long long)time(NULL);
}

uint64_t mq__xps_boot_id(void)
{
    uint64_t b = 0;
    if (getrandom(&b, sizeof b, 0) != (ssize_t)sizeof b) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        b = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32;
    }
    return b;
}

void mq__xps_page_id(uint64_t boot, uint64_t n, char out[MQ_PAGE_ID_MAX + 1])
{
    snprintf(out, MQ_PAGE_ID_MAX + 1, "%016llx-%016llx", (unsigned long long)boot, (unsigned long long)n);
}

void mq__xps_json(mq_buf *out, const mq__xps *x, const mq__xps_result *r, const char *page_id)
{
    mq_buf_puts(out, ",\"page_id\":");
    mq_buf_json_str(out, page_id, strlen(page_id));
    mq_buf_puts(out, ",\"experiments\":[");
    for (int i = 0; i < r->n; i++) {
        const mq_xp_experiment *e = &x->xp.exps[r->p[i].exp];
        const char *v = e->variants[r->p[i].variant];
        mq_buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
        mq_buf_json_str(out, e->name, strlen(e->name));
        mq_buf_puts(out, ",\"variant\":");
        mq_buf_json_str(out, v, strlen(v));
        if (r->p[i].forced) mq_buf_puts(out, ",\"forced\":true");
        if (r->p[i].served_default) mq_buf_puts(out, ",\"served\":\"default\"");
        mq_buf_putc(out, '}');
    }
    mq_buf_putc(out, ']');
    if (r->forced) mq_buf_puts(out, ",\"forced\":true");
}

void mq__xps_expo(const mq__xps *x, const mq__xps_result *r, mq__expo *e)
{
    e->n_exp = r->n;
    e->forced = r->forced;
    for (int i = 0; i < r->n; i++) {
        const mq_xp_experiment *xe = &x->xp.exps[r->p[i].exp];
        e->exp_name[i] = xe->name;
        e->variant[i] = xe->variants[r->p[i].variant];
        e->served_default[i] = r->p[i].served_default;
        e->served_share[i] = r->p[i].forced ? 1 : r->p[i].share;
    }
    e->has_share = r->n > 0;
}
