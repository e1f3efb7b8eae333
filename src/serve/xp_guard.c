/* xp_guard.c: canary ramps and guardrails with automatic rollback, for the server.
 *
 * State (persisted in <exposures dir>/xp_state.json, rewritten atomically on every change):
 * per (experiment, variant) the current ramp step and since when (time and the variant's
 * exposed units then), whether the variant is stopped, why and when, the rollbacks counted,
 * and per guardrail the mSPRT mixing variance fixed at its first check and the running
 * minimum always-valid p-value, and the variant's history: every ramp step and stop with its
 * time, percent served after it, who made it (the checker or an operator through
 * POST /v1/experiments/{name}/variants/{v}/stop or /advance) and why. So a stopped variant
 * stays stopped across restarts and reloads, a ramp resumes at its step, and the console draws
 * the ramp and rollback timeline from the history.
 *
 * What assignment sees: a permille per (experiment, variant) of the variant's hash range
 * that is served the variant (mq__xps_assign): ramp[step] x 10, 0 when stopped, 1000
 * otherwise. Members beyond it get the server's default and are units of neither arm.
 *
 * Checks (the server's checker thread calls mq__xpg_check every second; each experiment is
 * checked every "check_every"): the experiment's units are the server's live units in memory
 * (xp_collect.c, at every moment the units `xp collect` reads from the logs; no log reads); for every variant after the first (the control) that is
 * not stopped and each guardrail whose metric is a unit metric (a column of `xp collect`, or
 * plays_per_page = plays / pages per unit), once both arms have "min_units" units, the
 * one-sided mSPRT of mq__xpg_test; a p below 0.05 stops the variant. Ramps then advance one
 * step per "ramp_every" (a duration, or {"units": N} new exposed units of the variant).
 *
 * The test. For a guardrail "B may not be worse than A by more than D" (relative: D x mean A),
 * higher is better: d = mB - (1 - D) mA with v = sB^2/nB + (1 - D)^2 sA^2/nA (lower is better:
 * d = (1 + D) mA - mB); H0 (no breach) is d >= 0. mSPRT (Johari, Pekelis & Walsh 2017) with a
 * N(0, tau^2) mixture, Lambda = sqrt(v/(v+tau^2)) exp(tau^2 d^2 / (2 v (v+tau^2))) counted only
 * when d < 0; p = running min of 1/Lambda is always valid at the boundary d = 0, so looking
 * at every check keeps the false stop rate under alpha (tests: A/A simulation over many checks;
 * a 20% worse variant stopped within a few checks). tau = D x mA (relative) or D, fixed at the
 * first check (0.1 x pooled sd when that is 0).
 *
 * Thread safety: one mutex around the state; mq__xpg_check runs on one thread.
 */
#include "serve/serve.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

bool mq__xpg_test(const mq_xp_arm *a, const mq_xp_arm *b, double max_deg, bool relative,
                  bool higher_is_better, double alpha, double *tau2, double *p, double *d_out)
{
    if (a->n < 2 || b->n < 2) return false;
    double k = relative ? (higher_is_better ? 1 - max_deg : 1 + max_deg) : 1;
    double shift = relative ? 0 : max_deg;
    double d = higher_is_better ? b->mean - k * a->mean + shift : k * a->mean + shift - b->mean;
    double v = b->var / b->n + k * k * a->var / a->n;
    if (d_out) *d_out = d;
    if (!(v > 0)) return false;
    if (!(*tau2 > 0)) {
        double t = relative ? max_deg * fabs(a->mean) : max_deg;
        if (!(t > 0)) t = 0.1 * sqrt(0.5 * (a->var + b->var));
        if (!(t > 0)) return false;
        *tau2 = t * t;
    }
    if (d < 0) {
        double lam = mq_xp_msprt_lambda(d, v, *tau2);
        if (isfinite(lam) && lam > 0) *p = MQ_MIN(*p, 1 / lam);
        else if (isinf(lam)) *p = 0;
    }
    return *p < alpha;
}

/* bucket k holds times in (50 us x 1.1^(k-1), 50 us x 1.1^k]; the last everything above */
static double xpv_edge(int k) { return 50e-6 * pow(1.1, k); }

void mq__xpv_add(mq__xpv *v, double seconds, bool error)
{
    int k = seconds <= 50e-6 ? 0 : (int)ceil(log(seconds / 50e-6) / log(1.1));
    if (k >= MQ__XPV_BUCKETS) k = MQ__XPV_BUCKETS - 1;
    while (k > 0 && seconds <= xpv_edge(k - 1)) k--;   /* rounding at an edge */
    atomic_fetch_add_explicit(&v->b[k], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&v->pages, 1, memory_order_relaxed);
    if (error) atomic_fetch_add_explicit(&v->errors, 1, memory_order_relaxed);
}

double mq__xpv_p99_ms(const mq__xpv *v)
{
    unsigned long long n = 0, c[MQ__XPV_BUCKETS];
    for (int k = 0; k < MQ__XPV_BUCKETS; k++) n += c[k] = atomic_load_explicit(&v->b[k], memory_order_relaxed);
    if (!n) return 0;
    unsigned long long want = n - n / 100, cum = 0;   /* the ceil(0.99 n)-th time */
    for (int k = 0; k < MQ__XPV_BUCKETS; k++)
        if ((cum += c[k]) >= want) return xpv_edge(k) * 1000;
    return xpv_edge(MQ__XPV_BUCKETS - 1) * 1000;
}

/* One entry of a variant's history: a ramp step or a stop. */
#define HIST_MAX (MQ__XPS_MAX_RAMP + 4)   /* every step of the longest ramp, a stop, to spare */
typedef struct hent {
    long long t;
    bool stop, operator;
    double percent;                 /* served after it */
    char reason[240];
} hent;

typedef struct gent {
    char exp[MQ_XP_NAME], var[MQ_XP_NAME];
    hent hist[HIST_MAX];
    int n_hist;
    int step;
    long long since, step_units, last_check;
    bool stopped;
    char reason[512];
    long long stopped_at;
    unsigned long long rollbacks;
    double tau2[MQ_XP_MAX_GUARDRAILS], p[MQ_XP_MAX_GUARDRAILS];
} gent;

struct mq__xpg {
    pthread_mutex_t mu;
    char path[4200];
    const mq_log *log;
    gent *e;
    int n, cap;
};

static gent *find(mq__xpg *g, const char *exp, const char *var, long long now, bool create)
{
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->e[i].exp, exp) && !strcmp(g->e[i].var, var)) return &g->e[i];
    if (!create) return NULL;
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 16;
        gent *p = realloc(g->e, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        g->e = p;
        g->cap = cap;
    }
    gent *e = &g->e[g->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->exp, sizeof e->exp, "%s", exp);
    snprintf(e->var, sizeof e->var, "%s", var);
    e->since = now;
    for (int k = 0; k < MQ_XP_MAX_GUARDRAILS; k++) e->p[k] = 1;
    return e;
}

static int save(mq__xpg *g, mq_err *err)
{
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_puts(&b, "{\"variants\": [\n");
    for (int i = 0; i < g->n; i++) {
        const gent *e = &g->e[i];
        mq_buf_puts(&b, i ? ",\n {\"experiment\": " : " {\"experiment\": ");
        mq_buf_json_str(&b, e->exp, strlen(e->exp));
        mq_buf_puts(&b, ", \"variant\": ");
        mq_buf_json_str(&b, e->var, strlen(e->var));
        mq_buf_printf(&b, ", \"step\": %d, \"since\": %lld, \"step_units\": %lld, \"stopped\": %s, \"stopped_at\": %lld, "
                          "\"rollbacks\": %llu, \"reason\": ", e->step, e->since, e->step_units,
                      e->stopped ? "true" : "false", e->stopped_at, e->rollbacks);
        mq_buf_json_str(&b, e->reason, strlen(e->reason));
        mq_buf_puts(&b, ", \"tau2\": [");
        for (int k = 0; k < MQ_XP_MAX_GUARDRAILS; k++) { if (k) mq_buf_putc(&b, ','); mq_buf_json_num(&b, e->tau2[k]); }
        mq_buf_puts(&b, "], \"p\": [");
        for (int k = 0; k < MQ_XP_MAX_GUARDRAILS; k++) { if (k) mq_buf_putc(&b, ','); mq_buf_json_num(&b, e->p[k]); }
        mq_buf_puts(&b, "], \"history\": [");
        for (int k = 0; k < e->n_hist; k++) {
            const hent *h = &e->hist[k];
            mq_buf_printf(&b, "%s{\"time\": %lld, \"event\": \"%s\", \"by\": \"%s\", \"percent\": ", k ? ", " : "",
                          h->t, h->stop ? "stop" : "ramp", h->operator ? "operator" : "checker");
            mq_buf_json_num(&b, h->percent);
            mq_buf_puts(&b, ", \"reason\": ");
            mq_buf_json_str(&b, h->reason, strlen(h->reason));
            mq_buf_putc(&b, '}');
        }
        mq_buf_puts(&b, "]}");
    }
    mq_buf_puts(&b, "\n]}\n");
    int rc = b.oom ? mq__err_set(err, MQ_ENOMEM, "out of memory") : mq__write_file_atomic(g->path, b.p, b.len, err);
    mq_buf_release(&b);
    return rc;
}

int mq__xpg_open(const char *dir, const mq_log *log, mq__xpg **out, mq_err *err)
{
    *out = NULL;
    mq__xpg *g = calloc(1, sizeof *g);
    if (!g) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    pthread_mutex_init(&g->mu, NULL);
    g->log = log;
    snprintf(g->path, sizeof g->path, "%s/xp_state.json", dir);
    const void *data;
    size_t len;
    int rc = mq__file_map(g->path, &data, &len, NULL);
    if (rc) { *out = g; return 0; }     /* no state yet */
    cJSON *root = len ? cJSON_ParseWithLength(data, len) : NULL;
    mq__file_unmap(data, len);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "variants");
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(root);
        mq__xpg_close(g);
        return mq__err_set(err, MQ_EFORMAT, "%s: not an experiments state file (move it away to start afresh)", g->path);
    }
    for (const cJSON *o = list->child; o; o = o->next) {
        const cJSON *ex = cJSON_GetObjectItemCaseSensitive(o, "experiment"), *va = cJSON_GetObjectItemCaseSensitive(o, "variant");
        if (!cJSON_IsString(ex) || !cJSON_IsString(va)) continue;
        gent *e = find(g, ex->valuestring, va->valuestring, 0, true);
        if (!e) break;
        const cJSON *f;
#define NUM(name, dst) if (cJSON_IsNumber(f = cJSON_GetObjectItemCaseSensitive(o, name))) dst = f->valuedouble
        NUM("step", e->step);
        NUM("since", e->since);
        NUM("step_units", e->step_units);
        NUM("stopped_at", e->stopped_at);
        NUM("rollbacks", e->rollbacks);
#undef NUM
        e->stopped = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "stopped"));
        if (cJSON_IsString(f = cJSON_GetObjectItemCaseSensitive(o, "reason")))
            snprintf(e->reason, sizeof e->reason, "%s", f->valuestring);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tau2"), *p = cJSON_GetObjectItemCaseSensitive(o, "p");
        int k = 0;
        for (const cJSON *x = cJSON_IsArray(t) ? t->child : NULL; x && k < MQ_XP_MAX_GUARDRAILS; x = x->next, k++)
            if (cJSON_IsNumber(x)) e->tau2[k] = x->valuedouble;
        k = 0;
        for (const cJSON *x = cJSON_IsArray(p) ? p->child : NULL; x && k < MQ_XP_MAX_GUARDRAILS; x = x->next, k++)
            if (cJSON_IsNumber(x)) e->p[k] = x->valuedouble;
        const cJSON *hl = cJSON_GetObjectItemCaseSensitive(o, "history");   /* absent in older files */
        for (const cJSON *x = cJSON_IsArray(hl) ? hl->child : NULL; x && e->n_hist < HIST_MAX; x = x->next) {
            hent *h = &e->hist[e->n_hist++];
            if (cJSON_IsNumber(f = cJSON_GetObjectItemCaseSensitive(x, "time"))) h->t = (long long)f->valuedouble;
            if (cJSON_IsNumber(f = cJSON_GetObjectItemCaseSensitive(x, "percent"))) h->percent = f->valuedouble;
            h->stop = cJSON_IsString(f = cJSON_GetObjectItemCaseSensitive(x, "event")) && !strcmp(f->valuestring, "stop");
            h->operator = cJSON_IsString(f = cJSON_GetObjectItemCaseSensitive(x, "by")) && !strcmp(f->valuestring, "operator");
            if (cJSON_IsString(f = cJSON_GetObjectItemCaseSensitive(x, "reason")))
                snprintf(h->reason, sizeof h->reason, "%s", f->valuestring);
        }
    }
    cJSON_Delete(root);
    *out = g;
    return 0;
}

void mq__xpg_close(mq__xpg *g)
{
    if (!g) return;
    pthread_mutex_destroy(&g->mu);
    free(g->e);
    free(g);
}

static int permille(const mq__xps *x, int e, int v, const gent *s)
{
    const mq__xps_ramp *r = &x->ramp[e * MQ_XP_MAX_VARIANTS + v];
    if (s && s->stopped) return 0;
    return mq__xps_ramp_permille(r, s ? s->step : 0);
}

void mq__xpg_served(mq__xpg *g, const mq__xps *x, long long now, _Atomic int *served)
{
    pthread_mutex_lock(&g->mu);
    for (int e = 0; e < x->xp.n; e++)
        for (int v = 0; v < x->xp.exps[e].n_variants; v++) {
            const gent *s = find(g, x->xp.exps[e].name, x->xp.exps[e].variants[v], now, false);
            atomic_store(&served[e * MQ_XP_MAX_VARIANTS + v], permille(x, e, v, s));
        }
    pthread_mutex_unlock(&g->mu);
}

static bool unit_metric(const char *m)
{
    static const char *const ok[] = {"pages", "plays", "play_seconds", "finishes", "distinct_titles",
                                     "active_days", "plays_from_pages", "plays_per_page"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) if (!strcmp(ok[i], m)) return true;
    return false;
}

static void log_rollback(struct mq__exlog *exlog, const char *exp, const char *var, const char *reason, long long now)
{
    if (!exlog) return;
    mq__expo r = {0};
    r.time = now;
    r.route = MQ__EXPO_ROUTE_ROLLBACK;
    r.member = exp;
    r.page_id = "";
    r.model_version = reason;
    r.n_exp = 1;
    r.exp_name[0] = exp;
    r.variant[0] = var;
    r.served_default[0] = true;
    mq_buf b;
    mq_buf_init(&b);
    if (!mq__expo_encode(&r, true, &b, NULL)) mq__exlog_append(exlog, &b, NULL);
    mq_buf_release(&b);
}

/* Appends to s's history (the oldest ramp step makes room when it is full: stops are kept). */
static void hist_add(gent *s, long long now, bool stop, bool operator, double percent, const char *reason)
{
    if (s->n_hist == HIST_MAX) {
        int k = 0;
        while (k < HIST_MAX - 1 && s->hist[k].stop) k++;
        memmove(&s->hist[k], &s->hist[k + 1], (size_t)(HIST_MAX - 1 - k) * sizeof *s->hist);
        s->n_hist--;
    }
    hent *h = &s->hist[s->n_hist++];
    h->t = now;
    h->stop = stop;
    h->operator = operator;
    h->percent = percent;
    snprintf(h->reason, sizeof h->reason, "%s", reason);
}

static void stop_variant(mq__xpg *g, gent *s, const char *exp, const char *var, long long now,
                         struct mq__exlog *exlog, bool operator)
{
    s->stopped = true;
    s->stopped_at = now;
    s->rollbacks++;
    hist_add(s, now, true, operator, 0, s->reason);
    mq__logf(g->log, "serve: experiment '%s': variant '%s' stopped: %s", exp, var, s->reason);
    log_rollback(exlog, exp, var, s->reason, now);
}

int mq__xpg_check(mq__xpg *g, const mq__xps *x, struct mq__xpc *c, long long now,
                  _Atomic int *served, const mq__xpv *vstats, struct mq__exlog *exlog, mq_err *err)
{
    int rc = 0;
    bool changed = false;
    for (int e = 0; e < x->xp.n && !rc; e++) {
        const mq_xp_experiment *xe = &x->xp.exps[e];
        bool ramps = false, guards = false;
        for (int v = 1; v < xe->n_variants; v++) ramps |= x->ramp[e * MQ_XP_MAX_VARIANTS + v].n > 0;
        for (int k = 0; k < xe->n_guardrails; k++) guards |= unit_metric(xe->guardrails[k].metric);
        guards |= x->live[e].max_error_rate >= 0 || x->live[e].max_p99_ms >= 0;
        if (!ramps && !guards) continue;
        pthread_mutex_lock(&g->mu);
        gent *c0 = find(g, xe->name, xe->variants[0], now, true);
        bool due = c0 && now - c0->last_check >= x->live[e].check_every_s;
        if (due) c0->last_check = now;
        pthread_mutex_unlock(&g->mu);
        if (!due) continue;
        pthread_mutex_lock(&g->mu);
        for (int v = 1; v < xe->n_variants; v++) {
            gent *s = find(g, xe->name, xe->variants[v], now, true);
            if (!s || s->stopped) continue;
            for (int k = 0; k < xe->n_guardrails && !s->stopped; k++) {
                const mq_xp_guardrail *gr = &xe->guardrails[k];
                if (!unit_metric(gr->metric)) continue;
                mq_xp_arm a, b;
                mq__xpc_arm(c, xe->name, xe->variants[0], gr->metric, &a);
                mq__xpc_arm(c, xe->name, xe->variants[v], gr->metric, &b);
                if (a.n < x->live[e].min_units || b.n < x->live[e].min_units) continue;
                double d, p0 = s->p[k];
                bool stop = mq__xpg_test(&a, &b, gr->max_degradation, gr->relative, (gr->direction == MQ_XP_HIGHER_IS_BETTER),
                                         0.05, &s->tau2[k], &s->p[k], &d);
                changed |= s->p[k] != p0;
                if (!stop) continue;
                snprintf(s->reason, sizeof s->reason,
                         "guardrail '%.60s' breached: %s than '%.60s' by more than %g%s (always-valid p = %.3g < 0.05; "
                         "means %.6g vs %.6g, units %lld vs %lld)", gr->metric, (gr->direction == MQ_XP_HIGHER_IS_BETTER) ? "lower" : "higher",
                         xe->variants[0], gr->relative ? gr->max_degradation * 100 : gr->max_degradation,
                         gr->relative ? "%" : "", s->p[k], b.mean, a.mean, (long long)b.n, (long long)a.n);
                stop_variant(g, s, xe->name, xe->variants[v], now, exlog, false);
                changed = true;
            }
            /* serving health against absolute limits */
            const mq__xpv *h = vstats ? &vstats[e * MQ_XP_MAX_VARIANTS + v] : NULL;
            unsigned long long pages = h ? atomic_load(&h->pages) : 0;
            if (!s->stopped && h && pages >= (unsigned long long)x->live[e].min_units) {
                double rate = (double)atomic_load(&h->errors) / (double)pages, p99 = mq__xpv_p99_ms(h);
                if (x->live[e].max_error_rate >= 0 && rate > x->live[e].max_error_rate)
                    snprintf(s->reason, sizeof s->reason, "page build error rate %.4g over the limit %.4g (%llu pages)",
                             rate, x->live[e].max_error_rate, pages);
                else if (x->live[e].max_p99_ms >= 0 && p99 > x->live[e].max_p99_ms)
                    snprintf(s->reason, sizeof s->reason, "page build p99 %.3g ms over the limit %.4g ms (%llu pages)",
                             p99, x->live[e].max_p99_ms, pages);
                else pages = 0;
                if (pages) {
                    stop_variant(g, s, xe->name, xe->variants[v], now, exlog, false);
                    changed = true;
                }
            }
            const mq__xps_ramp *r = &x->ramp[e * MQ_XP_MAX_VARIANTS + v];
            if (!s->stopped && r->n && s->step < r->n - 1) {
                long long units = mq__xpc_units(c, xe->name, xe->variants[v]);
                bool next = r->every_s ? now - s->since >= r->every_s : units - s->step_units >= r->every_units;
                if (next) {
                    s->step++;
                    s->since = now;
                    s->step_units = units;
                    changed = true;
                    char why[200];
                    if (r->every_s) snprintf(why, sizeof why, "ramp_every: %lld s at %g%%", r->every_s, r->pct[s->step - 1]);
                    else snprintf(why, sizeof why, "ramp_every: %lld new units at %g%%", r->every_units, r->pct[s->step - 1]);
                    hist_add(s, now, false, false, r->pct[s->step], why);
                    mq__logf(g->log, "serve: experiment '%s': variant '%s' ramped to %g%%", xe->name, xe->variants[v],
                             r->pct[s->step]);
                }
            }
            atomic_store(&served[e * MQ_XP_MAX_VARIANTS + v], permille(x, e, v, s));
        }
        pthread_mutex_unlock(&g->mu);
    }
    if (changed) {
        pthread_mutex_lock(&g->mu);
        int src = save(g, err);
        pthread_mutex_unlock(&g->mu);
        if (!rc) rc = src;
    }
    return rc;
}

void mq__xpg_variant_json(mq__xpg *g, const mq__xps *x, int e, int v, long long now, mq_buf *out)
{
    pthread_mutex_lock(&g->mu);
    const gent *s = find(g, x->xp.exps[e].name, x->xp.exps[e].variants[v], now, false);
    mq_buf_puts(out, ",\"served_percent\":");
    mq_buf_json_num(out, permille(x, e, v, s) / 10.0);
    mq_buf_printf(out, ",\"stopped\":%s", s && s->stopped ? "true" : "false");
    if (s && s->stopped) {
        mq_buf_puts(out, ",\"reason\":");
        mq_buf_json_str(out, s->reason, strlen(s->reason));
        mq_buf_printf(out, ",\"stopped_at\":%lld", s->stopped_at);
    }
    pthread_mutex_unlock(&g->mu);
}

const char *mq__xpg_state(mq__xpg *g, const mq__xps *x, int e, const char **reason, char *buf, size_t cap)
{
    const mq_xp_experiment *xe = &x->xp.exps[e];
    int stopped = 0, ramping = 0;
    const char *last = NULL;
    pthread_mutex_lock(&g->mu);
    for (int v = 1; v < xe->n_variants; v++) {
        const gent *s = find(g, xe->name, xe->variants[v], 0, false);
        const mq__xps_ramp *r = &x->ramp[e * MQ_XP_MAX_VARIANTS + v];
        if (s && s->stopped) { stopped++; last = s->reason; snprintf(buf, cap, "variant '%s' stopped: %s", xe->variants[v], s->reason); }
        else if (r->n && (!s || s->step < r->n - 1)) ramping++;
    }
    pthread_mutex_unlock(&g->mu);
    if (stopped && stopped == xe->n_variants - 1) { *reason = buf; return "stopped"; }
    if (ramping) {
        if (!last) snprintf(buf, cap, "ramping: a variant is below its last ramp step");
        *reason = buf;
        return "ramping";
    }
    if (last) { *reason = buf; return "running"; }
    return NULL;
}

void mq__xpg_metrics(mq__xpg *g, mq_buf *out)
{
    mq_buf_puts(out, "# HELP marquee_xp_rollbacks_total Variants stopped by a guardrail (persisted across restarts).\n"
                     "# TYPE marquee_xp_rollbacks_total counter\n");
    pthread_mutex_lock(&g->mu);
    for (int i = 0; i < g->n; i++) {
        if (!g->e[i].rollbacks) continue;
        mq_buf_puts(out, "marquee_xp_rollbacks_total{experiment=");
        mq_buf_json_str(out, g->e[i].exp, strlen(g->e[i].exp));
        mq_buf_puts(out, ",variant=");
        mq_buf_json_str(out, g->e[i].var, strlen(g->e[i].var));
        mq_buf_printf(out, "} %llu\n", g->e[i].rollbacks);
    }
    pthread_mutex_unlock(&g->mu);
}

/* ---- operator actions and the history (POST .../stop, .../advance; the timeline) ---- */

int mq__xpg_stop(mq__xpg *g, const mq__xps *x, int e, int v, const char *reason, long long now,
                 _Atomic int *served, struct mq__exlog *exlog, mq_err *err)
{
    const mq_xp_experiment *xe = &x->xp.exps[e];
    if (v == 0)
        return mq__err_set(err, MQ_EINVAL, "experiment '%s': variant '%s' is the control and cannot be stopped "
                           "(end the experiment in the experiments file)", xe->name, xe->variants[0]);
    pthread_mutex_lock(&g->mu);
    gent *s = find(g, xe->name, xe->variants[v], now, true);
    int rc = 0;
    if (!s) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
    else if (s->stopped)
        rc = mq__err_set(err, MQ_EINVAL, "experiment '%s': variant '%s' is already stopped (at %lld: %.300s)",
                         xe->name, xe->variants[v], s->stopped_at, s->reason);
    if (!rc) {
        snprintf(s->reason, sizeof s->reason, "stopped by an operator%s%.400s", reason && *reason ? ": " : "",
                 reason ? reason : "");
        stop_variant(g, s, xe->name, xe->variants[v], now, exlog, true);
        if (served) atomic_store(&served[e * MQ_XP_MAX_VARIANTS + v], permille(x, e, v, s));
        rc = save(g, err);
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

int mq__xpg_advance(mq__xpg *g, const mq__xps *x, int e, int v, long long units, const char *reason,
                    long long now, _Atomic int *served, mq_err *err)
{
    const mq_xp_experiment *xe = &x->xp.exps[e];
    const mq__xps_ramp *r = &x->ramp[e * MQ_XP_MAX_VARIANTS + v];
    if (!r->n)
        return mq__err_set(err, MQ_EINVAL, "experiment '%s': variant '%s' has no ramp", xe->name, xe->variants[v]);
    pthread_mutex_lock(&g->mu);
    gent *s = find(g, xe->name, xe->variants[v], now, true);
    int rc = 0;
    if (!s) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
    else if (s->stopped)
        rc = mq__err_set(err, MQ_EINVAL, "experiment '%s': variant '%s' is stopped (%.300s)", xe->name, xe->variants[v], s->reason);
    else if (s->step >= r->n - 1)
        rc = mq__err_set(err, MQ_EINVAL, "experiment '%s': variant '%s' is already at its last ramp step (%g%%)",
                         xe->name, xe->variants[v], r->pct[r->n - 1]);
    if (!rc) {
        s->step++;
        s->since = now;
        s->step_units = units;
        char why[240];
        snprintf(why, sizeof why, "advanced by an operator from %g%%%s%.150s", r->pct[s->step - 1],
                 reason && *reason ? ": " : "", reason ? reason : "");
        hist_add(s, now, false, true, r->pct[s->step], why);
        mq__logf(g->log, "serve: experiment '%s': variant '%s' ramped to %g%% by an operator", xe->name,
                 xe->variants[v], r->pct[s->step]);
        if (served) atomic_store(&served[e * MQ_XP_MAX_VARIANTS + v], permille(x, e, v, s));
        rc = save(g, err);
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

typedef struct hrow { long long t; int v, k; } hrow;

static int cmp_hrow(const void *a, const void *b)
{
    const hrow *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    if (x->v != y->v) return x->v - y->v;
    return x->k - y->k;
}

void mq__xpg_timeline_json(mq__xpg *g, const mq__xps *x, int e, long long now, mq_buf *out)
{
    const mq_xp_experiment *xe = &x->xp.exps[e];
    hrow rows[MQ_XP_MAX_VARIANTS * HIST_MAX];
    int n = 0;
    pthread_mutex_lock(&g->mu);
    mq_buf_puts(out, "\"variants\":[");
    for (int v = 0; v < xe->n_variants; v++) {
        const gent *s = find(g, xe->name, xe->variants[v], now, false);
        const mq__xps_ramp *r = &x->ramp[e * MQ_XP_MAX_VARIANTS + v];
        mq_buf_puts(out, v ? ",{\"name\":" : "{\"name\":");
        mq_buf_json_str(out, xe->variants[v], strlen(xe->variants[v]));
        mq_buf_puts(out, ",\"ramp\":[");
        for (int k = 0; k < r->n; k++) { if (k) mq_buf_putc(out, ','); mq_buf_json_num(out, r->pct[k]); }
        mq_buf_printf(out, "],\"step\":%d,\"served_percent\":", r->n ? (s ? s->step : 0) : -1);
        mq_buf_json_num(out, permille(x, e, v, s) / 10.0);
        mq_buf_printf(out, ",\"stopped\":%s", s && s->stopped ? "true" : "false");
        if (s && s->stopped) {
            mq_buf_puts(out, ",\"reason\":");
            mq_buf_json_str(out, s->reason, strlen(s->reason));
            mq_buf_printf(out, ",\"stopped_at\":%lld", s->stopped_at);
        }
        mq_buf_putc(out, '}');
        for (int k = 0; s && k < s->n_hist; k++) rows[n++] = (hrow){s->hist[k].t, v, k};
    }
    qsort(rows, (size_t)n, sizeof *rows, cmp_hrow);
    mq_buf_puts(out, "],\"history\":[");
    for (int i = 0; i < n; i++) {
        const gent *s = find(g, xe->name, xe->variants[rows[i].v], now, false);
        const hent *h = &s->hist[rows[i].k];
        mq_buf_puts(out, i ? ",{\"variant\":" : "{\"variant\":");
        mq_buf_json_str(out, s->var, strlen(s->var));
        mq_buf_printf(out, ",\"time\":%lld,\"event\":\"%s\",\"by\":\"%s\",\"percent\":", h->t, h->stop ? "stop" : "ramp",
                      h->operator ? "operator" : "checker");
        mq_buf_json_num(out, h->percent);
        mq_buf_puts(out, ",\"reason\":");
        mq_buf_json_str(out, h->reason, strlen(h->reason));
        mq_buf_putc(out, '}');
    }
    mq_buf_putc(out, ']');
    pthread_mutex_unlock(&g->mu);
}
