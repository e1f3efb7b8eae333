/* xp_assign.c: experiment definitions (JSON via cJSON) and deterministic assignment.
 *
 * Hashing follows GrowthBook's SDK specification, hash version 1: FNV-1a 32-bit of
 * value + seed, bucket = (h % 1000) / 1000. The reference vectors of REFERENCES.md
 * ("", "a") -> 0.22 etc. are reproduced in tests/xp/test_xp.c. A member is assigned by three
 * independent buckets' worth of logic on two hashes:
 *   1. layer: bucket_L = hash_v1(layer, member) must lie in the experiment's [lo, hi) share of
 *      the layer. Experiments of one layer own disjoint shares, so they never share a member.
 *   2. coverage and variant: n = hash_v1(salt, member); the member is in the experiment iff
 *      n < coverage, and gets variant i iff n lies in [c * W_i, c * (W_i + w_i)) where W_i is
 *      the cumulative weight before i and c the coverage (GrowthBook's getBucketRanges).
 * The v1 hash has 1000 buckets, so weights and coverage act in steps of 0.001.
 *
 * Data structures: mq_xp_config owns an array of fixed-size mq_xp_experiment records (no
 * pointers inside), so a loaded config is immutable and shareable across threads.
 */
#include "core/core.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint32_t mq_xp_fnv1a32(const void *s, size_t n)
{
    const unsigned char *p = s;
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x01000193u;
    }
    return h;
}

double mq_xp_hash_v1(const char *seed, const char *value)
{
    /* fnv1a(value + seed) without building the concatenation */
    uint32_t h = 0x811c9dc5u;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) { h ^= *p; h *= 0x01000193u; }
    for (const unsigned char *p = (const unsigned char *)seed; *p; p++) { h ^= *p; h *= 0x01000193u; }
    return (double)(h % 1000u) / 1000.0;
}

int mq_xp_assign(const mq_xp_experiment *x, const char *member, long long now,
                 mq_xp_assignment *out)
{
    if (!x || !member || !out) return MQ_EINVAL;
    memset(out, 0, sizeof *out);
    out->variant = -1;
    out->bucket = mq_xp_hash_v1(x->salt, member);
    if (now && ((x->start && now < x->start) || (x->end && now >= x->end))) {
        out->reason = "experiment not running at this time";
        return 0;
    }
    if (x->layer[0]) {
        double bl = mq_xp_hash_v1(x->layer, member);
        if (bl < x->layer_lo || bl >= x->layer_hi) {
            out->reason = "outside this experiment's share of its layer";
            return 0;
        }
    }
    double n = out->bucket, c = x->coverage, cum = 0;
    if (n >= c) {
        out->reason = "outside coverage";
        return 0;
    }
    for (int i = 0; i < x->n_variants; i++) {
        double lo = c * cum, hi = c * (cum + x->weights[i]);
        cum += x->weights[i];
        if (i == x->n_variants - 1) hi = c;   /* weights sum to 1: the last range ends at c */
        if (n >= lo && n < hi) {
            out->in_experiment = true;
            out->variant = i;
            out->variant_name = x->variants[i];
            out->reason = "assigned";
            return 0;
        }
    }
    out->reason = "outside coverage";
    return 0;
}

/* ---- config parsing ---- */

static int copy_name(char *dst, const cJSON *v, const char *where, const char *exp,
                     const char *field, mq_err *err)
{
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field '%s' must be a non-empty string",
                           where, exp, field);
    if (strlen(v->valuestring) >= MQ_XP_NAME)
        return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field '%s' is longer than %d bytes",
                           where, exp, field, MQ_XP_NAME - 1);
    strcpy(dst, v->valuestring);
    return 0;
}

/* Unix seconds from a number or "YYYY-MM-DD[THH:MM:SS[Z]]" (UTC). */
static int parse_time(const cJSON *v, long long *out)
{
    if (cJSON_IsNumber(v)) {
        /* Years 0 to 9999 in unix seconds; the range check also keeps the cast defined. */
        if (!(v->valuedouble >= -62167219200.0 && v->valuedouble <= 253402300799.0)) return -1;
        *out = (long long)v->valuedouble;
        return 0;
    }
    if (!cJSON_IsString(v)) return -1;
    int64_t t;
    if (mq_time_parse(v->valuestring, &t)) return -1;
    *out = (long long)t;
    return 0;
}

static int parse_bool(const cJSON *v, bool *out)
{
    if (!cJSON_IsBool(v)) return -1;
    *out = cJSON_IsTrue(v);
    return 0;
}

static int parse_guardrail(const cJSON *g, mq_xp_guardrail *gr, const char *where, const char *exp,
                           int idx, mq_err *err)
{
    memset(gr, 0, sizeof *gr);
    gr->relative = true;
    gr->max_degradation = -1;
    if (!cJSON_IsObject(g))
        return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': guardrails[%d] must be an object",
                           where, exp, idx);
    for (const cJSON *f = g->child; f; f = f->next) {
        const char *k = f->string;
        if (!strcmp(k, "metric")) {
            char field[64];
            snprintf(field, sizeof field, "guardrails[%d].metric", idx);
            int rc = copy_name(gr->metric, f, where, exp, field, err);
            if (rc) return rc;
        } else if (!strcmp(k, "max_degradation")) {
            if (!cJSON_IsNumber(f) || !(f->valuedouble >= 0) || !isfinite(f->valuedouble))
                return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'guardrails[%d].max_degradation' must be a number >= 0",
                                   where, exp, idx);
            gr->max_degradation = f->valuedouble;
        } else if (!strcmp(k, "relative")) {
            if (parse_bool(f, &gr->relative))
                return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'guardrails[%d].relative' must be true or false", where, exp, idx);
        } else if (!strcmp(k, "higher_is_better")) {
            bool hib;
            if (parse_bool(f, &hib))
                return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'guardrails[%d].higher_is_better' must be true or false", where, exp, idx);
            gr->direction = hib ? MQ_XP_HIGHER_IS_BETTER : MQ_XP_LOWER_IS_BETTER;
        } else {
            return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': guardrails[%d]: unknown field '%s' (known: metric, max_degradation, relative, higher_is_better)",
                               where, exp, idx, k);
        }
    }
    if (!gr->metric[0])
        return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': guardrails[%d]: field 'metric' is missing", where, exp, idx);
    if (gr->max_degradation < 0)
        return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': guardrails[%d]: field 'max_degradation' is missing", where, exp, idx);
    /* no default direction: a rise in rebuffering must not read as an improvement */
    if (!gr->direction)
        return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': guardrails[%d] ('%s'): field 'higher_is_better' is missing: state whether higher (true) or lower (false) values are better",
                           where, exp, idx, gr->metric);
    return 0;
}

static int parse_experiment(const cJSON *o, mq_xp_experiment *x, bool *has_range, const char *where,
                            int idx, mq_err *err)
{
    memset(x, 0, sizeof *x);
    x->coverage = 1;
    x->primary_higher_is_better = true;
    *has_range = false;
    if (!cJSON_IsObject(o))
        return mq__err_set(err, MQ_EFORMAT, "%s: experiments[%d] must be an object", where, idx);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    char exp[64];
    snprintf(exp, sizeof exp, "#%d", idx);
    int rc = copy_name(x->name, name, where, exp, "name", err);
    if (rc) return rc;
    snprintf(exp, sizeof exp, "%.60s", x->name);
    strcpy(x->salt, x->name);
    const cJSON *weights = NULL, *variants = NULL;
    for (const cJSON *f = o->child; f; f = f->next) {
        const char *k = f->string;
        if (!strcmp(k, "name")) continue;
        if (!strcmp(k, "salt")) { if ((rc = copy_name(x->salt, f, where, exp, k, err))) return rc; }
        else if (!strcmp(k, "layer")) { if ((rc = copy_name(x->layer, f, where, exp, k, err))) return rc; }
        else if (!strcmp(k, "layer_range")) {
            if (!cJSON_IsArray(f) || cJSON_GetArraySize(f) != 2 || !cJSON_IsNumber(f->child) ||
                !cJSON_IsNumber(f->child->next) || !(f->child->valuedouble >= 0) ||
                !(f->child->valuedouble < f->child->next->valuedouble) || !(f->child->next->valuedouble <= 1))
                return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'layer_range' must be [lo, hi] with 0 <= lo < hi <= 1", where, exp);
            x->layer_lo = f->child->valuedouble;
            x->layer_hi = f->child->next->valuedouble;
            *has_range = true;
        } else if (!strcmp(k, "coverage")) {
            if (!cJSON_IsNumber(f) || !(f->valuedouble > 0 && f->valuedouble <= 1))
                return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'coverage' must be a number in (0, 1]", where, exp);
            x->coverage = f->valuedouble;
        } else if (!strcmp(k, "variants")) variants = f;
        else if (!strcmp(k, "weights")) weights = f;
        else if (!strcmp(k, "start") || !strcmp(k, "end")) {
            if (parse_time(f, !strcmp(k, "start") ? &x->start : &x->end))
                return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field '%s' must be unix seconds or \"YYYY-MM-DD[THH:MM:SSZ]\"", where, exp, k);
        } else if (!strcmp(k, "primary_metric")) { if ((rc = copy_name(x->primary_metric, f, where, exp, k, err))) return rc; }
        else if (!strcmp(k, "higher_is_better")) {
            if (parse_bool(f, &x->primary_higher_is_better))
                return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'higher_is_better' must be true or false", where, exp);
        } else if (!strcmp(k, "mde")) {
            if (!cJSON_IsNumber(f) || !(f->valuedouble > 0) || !isfinite(f->valuedouble))
                return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'mde' must be a number > 0", where, exp);
            x->mde = f->valuedouble;
        } else if (!strcmp(k, "mde_relative")) {
            if (parse_bool(f, &x->mde_relative))
                return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'mde_relative' must be true or false", where, exp);
        } else if (!strcmp(k, "guardrails")) {
            if (!cJSON_IsArray(f) || cJSON_GetArraySize(f) > MQ_XP_MAX_GUARDRAILS)
                return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'guardrails' must be an array of at most %d objects", where, exp, MQ_XP_MAX_GUARDRAILS);
            int gi = 0;
            for (const cJSON *g = f->child; g; g = g->next, gi++)
                if ((rc = parse_guardrail(g, &x->guardrails[gi], where, exp, gi, err))) return rc;
            x->n_guardrails = gi;
        } else {
            return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': unknown field '%s' (known: name, salt, layer, layer_range, coverage, variants, weights, start, end, primary_metric, higher_is_better, mde, mde_relative, guardrails)",
                               where, exp, k);
        }
    }
    if (!cJSON_IsArray(variants) || cJSON_GetArraySize(variants) < 2 ||
        cJSON_GetArraySize(variants) > MQ_XP_MAX_VARIANTS)
        return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'variants' must be an array of 2 to %d names", where, exp, MQ_XP_MAX_VARIANTS);
    int nv = 0;
    bool obj_weights = false;
    for (const cJSON *v = variants->child; v; v = v->next, nv++) {
        char field[64];
        snprintf(field, sizeof field, "variants[%d]", nv);
        if (cJSON_IsObject(v)) {
            snprintf(field, sizeof field, "variants[%d].name", nv);
            if ((rc = copy_name(x->variants[nv], cJSON_GetObjectItemCaseSensitive(v, "name"), where, exp, field, err))) return rc;
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(v, "weight");
            if (w) {
                if (!cJSON_IsNumber(w) || !(w->valuedouble >= 0) || !isfinite(w->valuedouble))
                    return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'variants[%d].weight' must be a number >= 0", where, exp, nv);
                x->weights[nv] = w->valuedouble;
                obj_weights = true;
            }
        } else if ((rc = copy_name(x->variants[nv], v, where, exp, field, err))) return rc;
        for (int j = 0; j < nv; j++)
            if (!strcmp(x->variants[j], x->variants[nv]))
                return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'variants': '%s' appears twice", where, exp, x->variants[nv]);
    }
    x->n_variants = nv;
    if (weights) {
        if (obj_weights)
            return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': give weights either in 'weights' or per variant, not both", where, exp);
        if (!cJSON_IsArray(weights) || cJSON_GetArraySize(weights) != nv)
            return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'weights' must be an array of %d numbers (one per variant)", where, exp, nv);
        int i = 0;
        for (const cJSON *w = weights->child; w; w = w->next, i++) {
            if (!cJSON_IsNumber(w) || !(w->valuedouble >= 0) || !isfinite(w->valuedouble))
                return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'weights[%d]' must be a number >= 0", where, exp, i);
            x->weights[i] = w->valuedouble;
        }
    } else if (!obj_weights) {
        for (int i = 0; i < nv; i++) x->weights[i] = 1.0 / nv;
    }
    double sum = 0;
    for (int i = 0; i < nv; i++) sum += x->weights[i];
    if (fabs(sum - 1) > 1e-6)
        return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'weights': sum is %.6g, must be 1", where, exp, sum);
    if (x->start && x->end && x->end <= x->start)
        return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'end' is not after 'start'", where, exp);
    if (*has_range && !x->layer[0])
        return mq__err_set(err, MQ_EFORMAT, "%s: experiment '%s': field 'layer_range' needs a 'layer'", where, exp);
    if (!x->layer[0]) { x->layer_lo = 0; x->layer_hi = 1; }
    return 0;
}

void mq_xp_config_release(mq_xp_config *cfg)
{
    if (!cfg) return;
    free(cfg->exps);
    cfg->exps = NULL;
    cfg->n = 0;
}

int mq_xp_config_parse(const char *json, size_t len, const char *where, mq_xp_config *cfg,
                       mq_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    if (!where) where = "config";
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= json && at <= json + len ? (long)(at - json) : -1;
        return mq__err_set(err, MQ_EFORMAT, "%s: invalid JSON near byte %ld", where, off);
    }
    int rc = 0;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "experiments");
    int n = 1;
    if (list) {
        if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) < 1) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s: field 'experiments' must be a non-empty array", where);
            goto done;
        }
        if (cJSON_GetArraySize(root) != 1) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s: a file with 'experiments' has no other top-level field", where);
            goto done;
        }
        n = cJSON_GetArraySize(list);
    } else if (!cJSON_IsObject(root)) {
        rc = mq__err_set(err, MQ_EFORMAT, "%s: the top level must be an experiment object or {\"experiments\": [...]}", where);
        goto done;
    }
    cfg->exps = calloc((size_t)n, sizeof *cfg->exps);
    bool *has_range = calloc((size_t)n, sizeof *has_range);
    if (!cfg->exps || !has_range) { free(has_range); rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
    cfg->n = n;
    int i = 0;
    for (const cJSON *o = list ? list->child : root; o && i < n; o = o->next, i++)
        if ((rc = parse_experiment(o, &cfg->exps[i], &has_range[i], where, i, err))) break;
    /* names unique; layers: all explicit ranges (disjoint) or none (split equally in order) */
    for (i = 0; !rc && i < n; i++) {
        mq_xp_experiment *x = &cfg->exps[i];
        for (int j = 0; j < i && !rc; j++)
            if (!strcmp(cfg->exps[j].name, x->name))
                rc = mq__err_set(err, MQ_EFORMAT, "%s: experiment name '%s' appears twice", where, x->name);
        if (rc || !x->layer[0]) continue;
        int in_layer = 0, pos = 0, explicit_ = 0;
        for (int j = 0; j < n; j++)
            if (!strcmp(cfg->exps[j].layer, x->layer)) {
                if (j < i) pos++;
                in_layer++;
                explicit_ += has_range[j];
            }
        if (explicit_ && explicit_ != in_layer) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s: layer '%s': give 'layer_range' to all of its experiments or to none", where, x->layer);
            break;
        }
        if (!explicit_) {
            x->layer_lo = (double)pos / in_layer;
            x->layer_hi = (double)(pos + 1) / in_layer;
        }
        for (int j = 0; j < i; j++) {
            const mq_xp_experiment *y = &cfg->exps[j];
            if (strcmp(y->layer, x->layer)) continue;
            if (x->layer_lo < y->layer_hi && y->layer_lo < x->layer_hi) {
                rc = mq__err_set(err, MQ_EFORMAT, "%s: layer '%s': experiments '%s' and '%s' have overlapping 'layer_range'", where, x->layer, y->name, x->name);
                break;
            }
        }
    }
    free(has_range);
done:
    cJSON_Delete(root);
    if (rc) mq_xp_config_release(cfg);
    return rc;
}

int mq_xp_config_load(const char *path, mq_xp_config *cfg, mq_err *err)
{
    const void *data;
    size_t len;
    memset(cfg, 0, sizeof *cfg);
    int rc = mq__file_map(path, &data, &len, err);
    if (rc) return rc;
    if (!len) return mq__err_set(err, MQ_EFORMAT, "%s: empty file", path);
    rc = mq_xp_config_parse(data, len, path, cfg, err);
    mq__file_unmap(data, len);
    return rc;
}

const mq_xp_experiment *mq_xp_config_find(const mq_xp_config *cfg, const char *name)
{
    for (int i = 0; cfg && name && i < cfg->n; i++)
        if (!strcmp(cfg->exps[i].name, name)) return &cfg->exps[i];
    return NULL;
}
