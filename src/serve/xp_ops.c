/* xp_ops.c: an online experiment over time, and the operator's actions on it:
 *
 *   GET  /v1/experiments/{name}/timeline[?metric=M]   units per day, cumulative effect with its
 *                                                     CI and the always-valid p-value per day,
 *                                                     the variants' ramps and the history
 *   POST /v1/experiments/{name}/variants/{v}/stop     stop a variant (as a guardrail would)
 *   POST /v1/experiments/{name}/variants/{v}/advance  move its ramp one step on
 *
 * The timeline is computed from the same units as the live report (xp_report.c): the CSV of
 * mq__xpc_csv for the experiment, in its order (first exposure, then unit), so each arm's rows
 * are in the order `xp analyze --sequential` reads them. A point of the timeline is the end of
 * a UTC day D (of bucket_days days when the experiment spans more than MAX_POINTS days): the
 * units whose first exposure is before it, with their metric as it is now (the report's
 * definition of a unit's value). At each point:
 *   - units per day: the units whose first exposure falls in that day, per variant;
 *   - the effect mean(B) - mean(A) with Welch's 95% CI and p (mq_xp_welch, as the report);
 *   - the always-valid p-value and the confidence sequence the live report would have given
 *     had it been asked at that point: mSPRT looks at k x 100 units of each arm (k = 1 while
 *     both arms have them) then one with every unit, tau fixed at the first look from the
 *     experiment's absolute MDE or 0.1 x the pooled sd (xp_seq.c's rule), p = running min of
 *     1/Lambda (mq_xp_msprt_lambda), the sequence the intersection of the half-widths
 *     (mq_xp_msprt_halfwidth). So the last point is the report's always-valid p-value now.
 * Prefix moments per arm (Welford, one pass) make each look O(1): O(units + points x looks).
 *
 * The actions validate the path, then call xp_guard.c (mq__xpg_stop, mq__xpg_advance), which
 * persists the state and the history the timeline shows. They answer the variants' state and
 * the history. Thread safety: stateless; the guard state has its own mutex.
 */
#include "serve/serve.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_POINTS 400          /* days drawn; longer experiments get wider buckets */
#define LOOK_EVERY 100          /* the live report's look_every (xp_report.c) */

typedef struct pm { double n, mean, m2; } pm;      /* moments of an arm's first n units */

typedef struct arm {
    int64_t n, cap;
    int64_t *first;             /* [n] first exposure, non-decreasing */
    double *y;                  /* [n] the metric */
    pm *pre;                    /* [n + 1] prefix moments */
} arm;

static int arm_push(arm *a, int64_t first, double y)
{
    if (a->n == a->cap) {
        int64_t cap = a->cap ? 2 * a->cap : 256;
        int64_t *f = realloc(a->first, (size_t)cap * sizeof *f);
        if (!f) return MQ_ENOMEM;
        a->first = f;
        double *p = realloc(a->y, (size_t)cap * sizeof *p);
        if (!p) return MQ_ENOMEM;
        a->y = p;
        a->cap = cap;
    }
    a->first[a->n] = first;
    a->y[a->n++] = y;
    return 0;
}

static double pm_var(const pm *m) { return m->n > 1 ? m->m2 / (m->n - 1) : 0; }

/* The state of the mSPRT over looks (xp_seq.c's seqstate). */
typedef struct seq { double tau2, p, lo, hi; int looks; } seq;

static void look(seq *s, const pm *A, const pm *B, double mde)
{
    if (A->n < 2 || B->n < 2) return;
    double v = pm_var(A) / A->n + pm_var(B) / B->n;
    if (!(v > 0)) return;
    if (s->tau2 == 0) {
        double t = mde > 0 ? mde : 0.1 * sqrt(0.5 * (pm_var(A) + pm_var(B)));
        if (!(t > 0)) return;
        s->tau2 = t * t;
        s->p = 1;
        s->lo = -INFINITY;
        s->hi = INFINITY;
    }
    double th = B->mean - A->mean, lam = mq_xp_msprt_lambda(th, v, s->tau2);
    double hw = mq_xp_msprt_halfwidth(v, s->tau2, 0.05);
    if (isfinite(lam) && lam > 0) s->p = MQ_MIN(s->p, 1 / lam);
    if (isfinite(hw)) { s->lo = MQ_MAX(s->lo, th - hw); s->hi = MQ_MIN(s->hi, th + hw); }
    s->looks++;
}

static void num_or_null(mq_buf *b, double v, bool ok)
{
    if (ok && isfinite(v)) mq_buf_json_num(b, v);
    else mq_buf_puts(b, "null");
}

/* Reads the collect CSV into per-variant arms (variants in config order; other names skipped). */
static int read_units(const mq_buf *csv, const mq_xp_experiment *xe, const char *metric, arm *arms, mq_err *err)
{
    const char *p = csv->p, *end = csv->p + csv->len;
    mq__field f[32];
    int iv = -1, ifirst = -1, im = -1, line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
        line++;
        int nf = mq__csv_split(p, le, f, 32);
        if (nf < 0 || nf > 32) return mq__err_set(err, MQ_EFORMAT, "timeline: units line %d: malformed", line);
        if (line == 1) {
            for (int k = 0; k < nf; k++) {
                if (f[k].n == 7 && !memcmp(f[k].p, "variant", 7)) iv = k;
                if (f[k].n == 14 && !memcmp(f[k].p, "first_exposure", 14)) ifirst = k;
                if (f[k].n == strlen(metric) && !memcmp(f[k].p, metric, f[k].n) && k > 2) im = k;
            }
            if (im < 0)
                return mq__err_set(err, MQ_EINVAL, "query 'metric': '%.100s' is not a unit metric (pages, plays, play_seconds, "
                                   "finishes, distinct_titles, active_days, plays_from_pages, pre_plays, pre_play_seconds)", metric);
            if (iv < 0 || ifirst < 0) return mq__err_set(err, MQ_EFORMAT, "timeline: units without variant or first_exposure");
        } else if (le > p) {
            int v = -1;
            for (int k = 0; k < xe->n_variants && v < 0 && !f[iv].esc; k++)
                if (strlen(xe->variants[k]) == f[iv].n && !memcmp(xe->variants[k], f[iv].p, f[iv].n)) v = k;
            double t, y;
            if (v < 0) { p = nl ? nl + 1 : end; continue; }   /* another arm, or served only the default */
            if (MQ_MAX(MQ_MAX(iv, ifirst), im) >= nf || !mq__parse_f64(f[ifirst].p, f[ifirst].n, &t) ||
                !mq__parse_f64(f[im].p, f[im].n, &y))
                return mq__err_set(err, MQ_EFORMAT, "timeline: units line %d: bad number", line);
            if (arm_push(&arms[v], (int64_t)t, y)) return mq__err_set(err, MQ_ENOMEM, "out of memory");
        }
        p = nl ? nl + 1 : end;
    }
    for (int v = 0; v < xe->n_variants; v++) {
        arm *a = &arms[v];
        a->pre = malloc((size_t)(a->n + 1) * sizeof *a->pre);
        if (!a->pre) return mq__err_set(err, MQ_ENOMEM, "out of memory");
        pm m = {0, 0, 0};
        a->pre[0] = m;
        for (int64_t i = 0; i < a->n; i++) {
            m.n += 1;
            double d = a->y[i] - m.mean;
            m.mean += d / m.n;
            m.m2 += d * (a->y[i] - m.mean);
            a->pre[i + 1] = m;
        }
    }
    return 0;
}

static int64_t floor_day(int64_t t) { return t >= 0 ? t / 86400 : -((-t + 86399) / 86400); }

int mq__xpo_timeline(const mq__xps *x, mq__xpg *g, mq__xpc *units, const char *name,
                     const char *metric, long long now, mq_buf *out, mq_err *err)
{
    const mq_xp_experiment *xe = x ? mq_xp_config_find(&x->xp, name) : NULL;
    if (!xe) return mq__err_set(err, MQ_ENOTFOUND, "no experiment '%.200s'", name);
    if (!metric) metric = "play_seconds";
    arm arms[MQ_XP_MAX_VARIANTS];
    memset(arms, 0, sizeof arms);
    mq_buf csv;
    mq_buf_init(&csv);
    int64_t n_units = 0;
    int rc = mq__xpc_csv(units, name, &csv, &n_units, err);
    if (!rc) rc = read_units(&csv, xe, metric, arms, err);
    if (rc) goto out;
    /* the days: from the first exposure's to the last one's */
    int64_t d0 = INT64_MAX, d1 = INT64_MIN;
    for (int v = 0; v < xe->n_variants; v++)
        if (arms[v].n) {
            d0 = MQ_MIN(d0, floor_day(arms[v].first[0]));
            d1 = MQ_MAX(d1, floor_day(arms[v].first[arms[v].n - 1]));
        }
    int64_t nd = d0 <= d1 ? d1 - d0 + 1 : 0, w = (nd + MAX_POINTS - 1) / MAX_POINTS;
    int np = w ? (int)((nd + w - 1) / w) : 0;
    size_t cells = (np > 0 ? (size_t)np : 1) * (size_t)MQ_MAX(xe->n_variants, 1);
    int64_t *cnt = calloc(cells, sizeof *cnt);   /* [v][point] units by its end */
    if (!cnt) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto out; }
    for (int v = 0; v < xe->n_variants; v++) {
        int64_t i = 0;
        for (int j = 0; j < np; j++) {
            int64_t endt = (d0 + (j + 1) * w) * 86400;
            while (i < arms[v].n && arms[v].first[i] < endt) i++;
            cnt[(size_t)v * np + j] = i;
        }
    }
    mq_buf_puts(out, "{\"experiment\":");
    mq_buf_json_str(out, xe->name, strlen(xe->name));
    mq_buf_puts(out, ",\"metric\":");
    mq_buf_json_str(out, metric, strlen(metric));
    mq_buf_puts(out, ",\"control\":");
    mq_buf_json_str(out, xe->variants[0], strlen(xe->variants[0]));
    mq_buf_printf(out, ",\"units\":%lld,\"start\":%lld,\"end\":%lld,\"now\":%lld,\"bucket_days\":%lld,\"days\":[",
                  (long long)n_units, xe->start, xe->end, now, (long long)MQ_MAX(w, 1));
    for (int j = 0; j < np; j++) {
        time_t t = (time_t)((d0 + j * w) * 86400);
        struct tm tm;
        char day[32];
        gmtime_r(&t, &tm);
        strftime(day, sizeof day, "%Y-%m-%d", &tm);
        mq_buf_printf(out, "%s\"%s\"", j ? "," : "", day);
    }
    mq_buf_puts(out, "],\"units_per_day\":[");
    for (int v = 0; v < xe->n_variants; v++) {
        mq_buf_puts(out, v ? ",{\"variant\":" : "{\"variant\":");
        mq_buf_json_str(out, xe->variants[v], strlen(xe->variants[v]));
        mq_buf_puts(out, ",\"units\":[");
        for (int j = 0; j < np; j++)
            mq_buf_printf(out, "%s%lld", j ? "," : "", (long long)(cnt[(size_t)v * np + j] - (j ? cnt[(size_t)v * np + j - 1] : 0)));
        mq_buf_puts(out, "]}");
    }
    mq_buf_puts(out, "],\"cumulative\":[");
    double mde = xe->mde > 0 && !xe->mde_relative ? xe->mde : 0;
    static const char *const cols[] = {"units_control", "units_variant", "effect", "ci_low", "ci_high", "p_value",
                                       "always_valid_p", "cs_low", "cs_high"};
    enum { NCOL = 9 };
    for (int v = 1; v < xe->n_variants; v++) {
        mq_buf_puts(out, v > 1 ? ",{\"variant\":" : "{\"variant\":");
        mq_buf_json_str(out, xe->variants[v], strlen(xe->variants[v]));
        for (int col = 0; col < NCOL; col++) {
            mq_buf_printf(out, ",\"%s\":[", cols[col]);
            for (int j = 0; j < np; j++) {
                if (j) mq_buf_putc(out, ',');
                int64_t na = cnt[j], nb = cnt[(size_t)v * np + j];
                if (col < 2) { mq_buf_printf(out, "%lld", (long long)(col ? nb : na)); continue; }
                const pm *A = &arms[0].pre[na], *B = &arms[v].pre[nb];
                if (col < 6) {
                    mq_xp_arm a = {A->n, A->mean, pm_var(A)}, b = {B->n, B->mean, pm_var(B)};
                    mq_xp_effect ef;
                    bool ok = na >= 2 && nb >= 2 && !mq_xp_welch(&a, &b, 0.05, &ef) && ef.estimable;
                    double val = col == 2 ? B->mean - A->mean : col == 3 ? ef.ci_low : col == 4 ? ef.ci_high : ef.p_value;
                    num_or_null(out, val, col == 2 ? na > 0 && nb > 0 : ok);
                    continue;
                }
                seq s = {0, 1, -INFINITY, INFINITY, 0};
                int64_t K = MQ_MIN(na, nb) / LOOK_EVERY;
                for (int64_t k = 1; k <= K; k++) look(&s, &arms[0].pre[k * LOOK_EVERY], &arms[v].pre[k * LOOK_EVERY], mde);
                if (na != K * LOOK_EVERY || nb != K * LOOK_EVERY) look(&s, A, B, mde);
                num_or_null(out, col == 6 ? s.p : col == 7 ? s.lo : s.hi, s.looks > 0);
            }
            mq_buf_putc(out, ']');
        }
        mq_buf_putc(out, '}');
    }
    free(cnt);
    mq_buf_puts(out, "],");
    if (g) mq__xpg_timeline_json(g, x, (int)(xe - x->xp.exps), now, out);
    else mq_buf_puts(out, "\"variants\":[],\"history\":[]");
    mq_buf_puts(out, "}\n");
    if (out->oom) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
out:
    for (int v = 0; v < MQ_XP_MAX_VARIANTS; v++) { free(arms[v].first); free(arms[v].y); free(arms[v].pre); }
    mq_buf_release(&csv);
    return rc;
}

int mq__xpo_action(const mq__xps *x, mq__xpg *g, mq__xpc *units, const char *path,
                   const char *reason, long long now, _Atomic int *served, struct mq__exlog *exlog,
                   mq_buf *out, mq_err *err)
{
    /* path: "{name}/variants/{v}/stop" or ".../advance" */
    size_t pl = strlen(path);
    bool stop = pl > 5 && !strcmp(path + pl - 5, "/stop"), adv = pl > 8 && !strcmp(path + pl - 8, "/advance");
    const char *mid = strstr(path, "/variants/");
    if ((!stop && !adv) || !mid || mid == path)
        return mq__err_set(err, MQ_ENOTFOUND, "no route: POST /v1/experiments/{name}/variants/{variant}/stop or /advance");
    char name[MQ_XP_NAME], var[MQ_XP_NAME];
    size_t nl = (size_t)(mid - path), vl = pl - (stop ? 5 : 8) - nl - 10;
    if (nl >= sizeof name || vl >= sizeof var || !vl)
        return mq__err_set(err, MQ_EINVAL, "experiment or variant name too long or empty");
    memcpy(name, path, nl);
    name[nl] = 0;
    memcpy(var, mid + 10, vl);
    var[vl] = 0;
    if (reason && (strlen(reason) > 200 || !mq__utf8_valid(reason, strlen(reason))))
        return mq__err_set(err, MQ_EINVAL, "query 'reason': at most 200 bytes of UTF-8");
    const mq_xp_experiment *xe = x ? mq_xp_config_find(&x->xp, name) : NULL;
    if (!xe) return mq__err_set(err, MQ_ENOTFOUND, "no experiment '%.200s'", name);
    int e = (int)(xe - x->xp.exps), v = 0;
    while (v < xe->n_variants && strcmp(xe->variants[v], var)) v++;
    if (v == xe->n_variants) return mq__err_set(err, MQ_ENOTFOUND, "experiment '%s' has no variant '%.200s'", xe->name, var);
    int rc;
    if (stop) {
        rc = mq__xpg_stop(g, x, e, v, reason, now, served, exlog, err);
    } else {
        /* a {"units": N} ramp counts its next step from the variant's units now */
        rc = mq__xpg_advance(g, x, e, v, (long long)mq__xpc_units(units, xe->name, xe->variants[v]), reason,
                             now, served, err);
    }
    if (rc) return rc;
    mq_buf_puts(out, "{\"experiment\":");
    mq_buf_json_str(out, xe->name, strlen(xe->name));
    mq_buf_puts(out, ",\"variant\":");
    mq_buf_json_str(out, var, strlen(var));
    mq_buf_printf(out, ",\"action\":\"%s\",", stop ? "stop" : "advance");
    mq__xpg_timeline_json(g, x, e, now, out);
    mq_buf_puts(out, "}\n");
    return out->oom ? mq__err_set(err, MQ_ENOMEM, "out of memory") : 0;
}
