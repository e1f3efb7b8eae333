/* sim_scenario.c: the simulator's scenario files (scenarios/NAME.json, docs/sim.md).
 *
 * A scenario is one JSON object with the keys name, description, sim (behaviour parameters,
 * each optional, overriding mq_sim_params_default), models ({NAME: {"kind", "params"}}: the
 * models the experiments need, trained into --models when missing), experiments (the server's
 * experiments-file format, kept as text and parsed by the server's own loader) and
 * sim_treatments ({EXP: {VARIANT: {"clickbait", "novelty"}}}: simulator-side treatment keys).
 * Parsing is strict: an unknown key anywhere, a value of the wrong type or a probability out of
 * [0, 1] is refused naming the field, so a typo never silently runs the defaults.
 */
#include "marquee.h"
#include "sim/sim.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void mq_sim_params_default(mq_sim_params *p)
{
    *p = (mq_sim_params){
        .truth_factors = 32, .truth_epochs = 8, .member_noise = 0.3, .affinity_scale = 2.0,
        .quality_weight = 0.5, .affinity_noise = 0.5, .affinity_bias = 2.0,
        .visits_median = 0.6, .visits_sigma = 0.8, .title_patience = 0.8, .row_patience = 0.6,
        .click_scale = 0.35, .finish_power = 1.0, .runtime_seconds = 5400,
        .continue_after_play = 0.3, .continue_after_abandon = 0.7, .rate_prob = 0.3, .thumb_prob = 0.1,
        .satisfaction_gain = 0.25, .abandon_loss = 0.3, .browse_loss = 0.1,
        .satisfaction_decay = 0.8, .hazard_median = 0.002, .churn_after_days = 14,
        .novelty_boost = 0.15, .novelty_days = 3, .retained_days = 7, .pre_days = 0,
        .artwork_weight = 0.5, .artwork_common = 0,
    };
}

/* One table drives parsing and range checks: name, offset, is-int, low, high, probability. */
typedef struct pdef {
    const char *name;
    size_t off;
    bool is_int, prob;
    double lo, hi;
} pdef;

#define D(f, lo, hi) {#f, offsetof(mq_sim_params, f), false, false, lo, hi}
#define P(f) {#f, offsetof(mq_sim_params, f), false, true, 0, 1}
#define I(f, lo, hi) {#f, offsetof(mq_sim_params, f), true, false, lo, hi}
static const pdef defs[] = {
    I(truth_factors, 2, 256), I(truth_epochs, 1, 100), D(member_noise, 0, 10),
    D(affinity_scale, 0, 100), D(quality_weight, -100, 100), D(affinity_noise, 0, 100),
    D(affinity_bias, -100, 100), D(visits_median, 1e-4, 100), D(visits_sigma, 0, 5),
    P(title_patience), P(row_patience), P(click_scale), D(finish_power, 0, 100),
    D(runtime_seconds, 1, 1e6), P(continue_after_play), P(continue_after_abandon), P(rate_prob), P(thumb_prob),
    D(satisfaction_gain, 0, 100), D(abandon_loss, 0, 100), D(browse_loss, 0, 100),
    P(satisfaction_decay), P(hazard_median), I(churn_after_days, 1, 10000),
    D(novelty_boost, 0, 100), D(novelty_days, 1e-3, 1e4), I(retained_days, 1, 10000), I(pre_days, 0, 365),
    D(artwork_weight, 0, 5), D(artwork_common, 0, 5),
};
#undef D
#undef P
#undef I
#define N_DEFS (sizeof defs / sizeof defs[0])

static double get(const mq_sim_params *p, const pdef *d)
{
    const char *b = (const char *)p + d->off;
    return d->is_int ? *(const int *)b : *(const double *)b;
}

int mq__sim_params_check(const mq_sim_params *p, const char *where, mq_err *err)
{
    for (size_t i = 0; i < N_DEFS; i++) {
        double v = get(p, &defs[i]);
        if (!(v >= defs[i].lo && v <= defs[i].hi))
            return mq__err_set(err, MQ_EFORMAT, "%s: field 'sim.%s': %g is not %s [%g, %g]", where,
                               defs[i].name, v, defs[i].prob ? "a probability in" : "in", defs[i].lo, defs[i].hi);
    }
    return 0;
}

static int parse_params(const cJSON *o, const char *where, mq_sim_params *p, mq_err *err)
{
    if (!cJSON_IsObject(o)) return mq__err_set(err, MQ_EFORMAT, "%s: field 'sim' must be an object", where);
    for (const cJSON *c = o->child; c; c = c->next) {
        const pdef *d = NULL;
        for (size_t i = 0; i < N_DEFS && !d; i++)
            if (!strcmp(c->string, defs[i].name)) d = &defs[i];
        if (!d) return mq__err_set(err, MQ_EFORMAT, "%s: field 'sim.%s' is unknown (docs/sim.md lists the parameters)", where, c->string);
        if (!cJSON_IsNumber(c)) return mq__err_set(err, MQ_EFORMAT, "%s: field 'sim.%s' must be a number", where, c->string);
        double v = c->valuedouble;
        if (!(v >= d->lo && v <= d->hi) || (d->is_int && v != floor(v)))
            return mq__err_set(err, MQ_EFORMAT, "%s: field 'sim.%s': %g is not %s [%g, %g]", where, d->name, v,
                               d->prob ? "a probability in" : d->is_int ? "an integer in" : "in", d->lo, d->hi);
        char *b = (char *)p + d->off;
        if (d->is_int) *(int *)b = (int)v;
        else *(double *)b = v;
    }
    return 0;
}

static int copy_name(char *dst, size_t cap, const char *s, const char *where, const char *field, mq_err *err)
{
    if (!*s || strlen(s) >= cap)
        return mq__err_set(err, MQ_EFORMAT, "%s: field '%s': '%.80s' must be 1 to %zu characters", where, field, s, cap - 1);
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

static int parse_models(const cJSON *o, const char *where, mq_sim_scenario *sc, mq_err *err)
{
    if (!cJSON_IsObject(o)) return mq__err_set(err, MQ_EFORMAT, "%s: field 'models' must be an object", where);
    for (const cJSON *m = o->child; m; m = m->next) {
        if (sc->n_models == MQ_SIM_MAX_MODELS) return mq__err_set(err, MQ_EFORMAT, "%s: field 'models': more than %d models", where, MQ_SIM_MAX_MODELS);
        int k = sc->n_models;
        char f[160];
        snprintf(f, sizeof f, "models.%.60s", m->string);
        if (copy_name(sc->model_name[k], sizeof sc->model_name[k], m->string, where, "models", err)) return MQ_EFORMAT;
        if (!cJSON_IsObject(m)) return mq__err_set(err, MQ_EFORMAT, "%s: field '%s' must be an object", where, f);
        for (const cJSON *c = m->child; c; c = c->next) {
            if (!strcmp(c->string, "kind")) {
                if (!cJSON_IsString(c) || !mq_model_kind_valid(c->valuestring))
                    return mq__err_set(err, MQ_EFORMAT, "%s: field '%s.kind' must be one of %s", where, f, mq_model_kinds_text());
                snprintf(sc->model_kind[k], sizeof sc->model_kind[k], "%s", c->valuestring);
            } else if (!strcmp(c->string, "params")) {
                if (!cJSON_IsArray(c)) return mq__err_set(err, MQ_EFORMAT, "%s: field '%s.params' must be an array of \"NAME=VALUE\"", where, f);
                for (const cJSON *s = c->child; s; s = s->next) {
                    int j = sc->model_n_params[k];
                    if (!cJSON_IsString(s) || !strchr(s->valuestring, '=') || j == 16 ||
                        strlen(s->valuestring) >= sizeof sc->model_params[k][j])
                        return mq__err_set(err, MQ_EFORMAT, "%s: field '%s.params' must hold at most 16 strings \"NAME=VALUE\"", where, f);
                    snprintf(sc->model_params[k][j], sizeof sc->model_params[k][j], "%s", s->valuestring);
                    sc->model_n_params[k]++;
                }
            } else return mq__err_set(err, MQ_EFORMAT, "%s: field '%s.%s' is unknown (known: kind, params)", where, f, c->string);
        }
        if (!sc->model_kind[k][0]) return mq__err_set(err, MQ_EFORMAT, "%s: field '%s.kind' is missing", where, f);
        /* the parameters' names and values now, before the data is loaded */
        const char *pp[16];
        for (int j = 0; j < sc->model_n_params[k]; j++) pp[j] = sc->model_params[k][j];
        mq_train_opts to; mq_train_opts_init(&to, sizeof to);
        to.params = pp, to.n_params = sc->model_n_params[k];
        mq_err e2 = {0, ""};
        if (mq_model_check_params(sc->model_kind[k], &to, &e2))
            return mq__err_set(err, MQ_EFORMAT, "%s: field '%s.params': %s", where, f, e2.msg);
        sc->n_models++;
    }
    return 0;
}

static int parse_treatments(const cJSON *o, const char *where, mq_sim_scenario *sc, mq_err *err)
{
    if (!cJSON_IsObject(o)) return mq__err_set(err, MQ_EFORMAT, "%s: field 'sim_treatments' must be an object", where);
    for (const cJSON *e = o->child; e; e = e->next) {
        if (!cJSON_IsObject(e)) return mq__err_set(err, MQ_EFORMAT, "%s: field 'sim_treatments.%.60s' must be an object of variants", where, e->string);
        for (const cJSON *v = e->child; v; v = v->next) {
            char f[200];
            snprintf(f, sizeof f, "sim_treatments.%.60s.%.60s", e->string, v->string);
            if (sc->n_treat == MQ_SIM_MAX_EXPS * MQ_SIM_MAX_VARIANTS) return mq__err_set(err, MQ_EFORMAT, "%s: field '%s': too many treatments", where, f);
            int k = sc->n_treat;
            if (copy_name(sc->treat_exp[k], sizeof sc->treat_exp[k], e->string, where, f, err) ||
                copy_name(sc->treat_variant[k], sizeof sc->treat_variant[k], v->string, where, f, err))
                return MQ_EFORMAT;
            if (!cJSON_IsObject(v)) return mq__err_set(err, MQ_EFORMAT, "%s: field '%s' must be an object", where, f);
            sc->treat[k] = (mq_sim_treat){0, -1};
            for (const cJSON *c = v->child; c; c = c->next) {
                double *dst = !strcmp(c->string, "clickbait") ? &sc->treat[k].clickbait
                            : !strcmp(c->string, "novelty") ? &sc->treat[k].novelty : NULL;
                if (!dst) return mq__err_set(err, MQ_EFORMAT, "%s: field '%s.%s' is unknown (known: clickbait, novelty)", where, f, c->string);
                bool prob = dst == &sc->treat[k].clickbait;
                if (!cJSON_IsNumber(c) || !(c->valuedouble >= 0 && c->valuedouble <= (prob ? 1 : 100)))
                    return mq__err_set(err, MQ_EFORMAT, "%s: field '%s.%s' must be %s", where, f, c->string,
                                       prob ? "a probability in [0, 1]" : "a number in [0, 100]");
                *dst = c->valuedouble;
            }
            sc->n_treat++;
        }
    }
    return 0;
}

int mq_sim_scenario_parse(const char *json, size_t len, const char *where, mq_sim_scenario *sc,
                          mq_err *err)
{
    memset(sc, 0, sizeof *sc);
    mq_sim_params_default(&sc->params);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return mq__err_set(err, MQ_EFORMAT, "%s: not valid JSON (near byte %ld)", where,
                                  cJSON_GetErrorPtr() ? (long)(cJSON_GetErrorPtr() - json) : 0L);
    int rc = 0;
    if (!cJSON_IsObject(root)) { rc = mq__err_set(err, MQ_EFORMAT, "%s: a scenario is a JSON object", where); goto out; }
    for (const cJSON *c = root->child; c && !rc; c = c->next) {
        if (!strcmp(c->string, "name")) {
            if (!cJSON_IsString(c)) rc = mq__err_set(err, MQ_EFORMAT, "%s: field 'name' must be a string", where);
            else rc = copy_name(sc->name, sizeof sc->name, c->valuestring, where, "name", err);
        } else if (!strcmp(c->string, "description")) {
            if (!cJSON_IsString(c)) rc = mq__err_set(err, MQ_EFORMAT, "%s: field 'description' must be a string", where);
        } else if (!strcmp(c->string, "sim")) {
            rc = parse_params(c, where, &sc->params, err);
        } else if (!strcmp(c->string, "models")) {
            rc = parse_models(c, where, sc, err);
        } else if (!strcmp(c->string, "sim_treatments")) {
            rc = parse_treatments(c, where, sc, err);
        } else if (!strcmp(c->string, "experiments")) {
            if (!cJSON_IsArray(c)) { rc = mq__err_set(err, MQ_EFORMAT, "%s: field 'experiments' must be an array (docs/xp.md)", where); break; }
            cJSON *w = cJSON_CreateObject();
            cJSON *dup = cJSON_Duplicate(c, 1);
            char *txt = NULL;
            if (w && dup && cJSON_AddItemToObject(w, "experiments", dup)) { dup = NULL; txt = cJSON_PrintUnformatted(w); }
            cJSON_Delete(dup);
            cJSON_Delete(w);
            if (!txt) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
            sc->experiments_json = txt;
        } else {
            rc = mq__err_set(err, MQ_EFORMAT, "%s: field '%s' is unknown (known: name, description, sim, models, "
                             "experiments, sim_treatments)", where, c->string);
        }
    }
out:
    cJSON_Delete(root);
    if (rc) mq_sim_scenario_release(sc);
    return rc;
}

int mq_sim_scenario_load(const char *path, mq_sim_scenario *sc, mq_err *err)
{
    const void *data;
    size_t len;
    int rc = mq__file_map(path, &data, &len, err);
    if (rc) return rc;
    rc = mq_sim_scenario_parse(data ? data : "", len, path, sc, err);
    mq__file_unmap(data, len);
    return rc;
}

void mq_sim_scenario_release(mq_sim_scenario *sc)
{
    if (!sc) return;
    free(sc->experiments_json);
    sc->experiments_json = NULL;
}
