/* xp_decide.c: guardrails and the ship / don't ship / keep running decision of `xp analyze`.
 *
 * Per treatment, on the primary metric (the config's primary_metric, else the first --metric),
 * with Holm-adjusted p-values across treatments: the always-valid mSPRT p-value of a row when
 * --sequential gave one, else its fixed-horizon p-value (and the decision says which it used
 * for which treatment). Guardrails are one-sided non-inferiority z tests of the (relative unless
 * `abs`) effect against the allowed degradation D, in the guardrail's stated direction (a
 * guardrail without a direction is refused in xp_analyze.c): non-inferior when p < alpha;
 * violated when the (1 - alpha) CI lies entirely beyond -D, or entirely on the harmful side of
 * 0 (a significant deterioration, as Spotify's deterioration tests) while not shown
 * non-inferior. Rules, in order: primary metric not
 * estimable -> keep running; a guardrail violated -> don't ship; significantly worse -> don't
 * ship; significantly better -> ship if every guardrail is shown non-inferior, else keep
 * running; not significant -> don't ship when the CI (the confidence sequence under
 * --sequential) excludes the MDE, else keep running. Overall: ship the best shippable
 * treatment, else keep running if any treatment says so, else don't ship; a failed SRM
 * overrides everything.
 */
#include "xp.h"
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <math.h>

int mq__xp_direction(const ctx *c, int m)
{
    const mq_xp_experiment *x = c->o->experiment;
    if (m == c->primary && x) return x->primary_higher_is_better ? 1 : -1;
    for (int g = 0; g < c->n_guard; g++)
        if (!strcmp(c->guard[g].metric, c->met[m].name)) return c->guard[g].direction < 0 ? -1 : 1;
    return 1;
}

/* Non-inferiority of a treatment on guardrail g from its primary row r: returns the one-sided
 * p-value, sets *ok when it is below alpha (shown within the allowed degradation), *beyond
 * when the (1 - alpha) CI lies entirely beyond the allowed degradation, and *worse when it lies
 * entirely on the harmful side of 0 (a significant deterioration). */
static double guard_test(const ctx *c, const mq_xp_guardrail *g, const row *r, bool *beyond, bool *worse, bool *ok)
{
    *beyond = *worse = *ok = false;
    double sgn = g->direction < 0 ? -1 : 1;
    double e = g->relative ? r->rel : r->effect, se = g->relative ? r->rel_se : r->se;
    bool est = g->relative ? r->rel_est : r->est;
    if (!est || !(se > 0)) return NAN;
    double imp = sgn * e;               /* improvement, in the good direction */
    double z = (imp + g->max_degradation) / se, q = mq_stats_norm_ppf(1 - c->alpha / 2);
    if (imp + q * se < -g->max_degradation) *beyond = true;
    if (imp + q * se < 0) *worse = true;
    double p = mq_stats_norm_sf(z);
    *ok = p < c->alpha;
    return p;
}

/* Every guardrail of treatment b: appends their JSON objects to gj (comma-separated after the
 * first when *first is false) and says whether one is violated or not yet shown within its
 * limit, with the reason in why. */
static void guardrails(const ctx *c, int b, mq_buf *gj, bool *first, bool *viol, bool *pending, char *why, size_t nwhy)
{
    *viol = *pending = false;
    for (int g = 0; g < c->n_guard; g++) {
        const mq_xp_guardrail *gr = &c->guard[g];
        int gm = -1;
        for (int m = 0; m < c->n_metrics; m++) if (!strcmp(c->met[m].name, gr->metric)) gm = m;
        const row *r = gm >= 0 ? mq__xp_primary_row(c, gm, b) : NULL;
        bool beyond = false, worse = false, ok = false;
        double p = r ? guard_test(c, gr, r, &beyond, &worse, &ok) : NAN;
        /* violated: beyond the allowed degradation, or significantly worse and not shown
         * within it (a deterioration test, as well as the non-inferiority test) */
        bool v = beyond || (worse && !ok);
        if (!*first) mq_buf_putc(gj, ',');
        *first = false;
        mq_buf_puts(gj, "{\"metric\":");
        mq_buf_json_str(gj, gr->metric, strlen(gr->metric));
        mq_buf_puts(gj, ",\"variant\":");
        mq_buf_json_str(gj, c->arms[b], strlen(c->arms[b]));
        mq__xp_jnum(gj, "max_degradation", gr->max_degradation);
        mq_buf_printf(gj, ",\"relative\":%s,\"higher_is_better\":%s", gr->relative ? "true" : "false",
                      gr->direction > 0 ? "true" : "false");
        mq__xp_jnum(gj, "p_value", p);
        mq_buf_printf(gj, ",\"non_inferior\":%s,\"significantly_worse\":%s,\"violated\":%s}", ok ? "true" : "false",
                      worse ? "true" : "false", v ? "true" : "false");
        const char *dir = gr->direction > 0 ? "a fall" : "a rise";
        if (v && !*viol) {
            *viol = true;
            double e = gr->relative ? r->rel : r->effect;
            if (beyond)
                snprintf(why, nwhy, "guardrail '%s' degraded beyond %g (%s is a degradation)", gr->metric, gr->max_degradation, dir);
            else
                snprintf(why, nwhy, "guardrail '%s' significantly worse (%s %.3g%s, %s is a degradation) and not shown within %g",
                         gr->metric, gr->relative ? "relative effect" : "effect", gr->relative ? 100 * e : e,
                         gr->relative ? "%" : "", dir, gr->max_degradation);
        } else if (!ok && !*viol) {
            *pending = true;
            snprintf(why, nwhy, "guardrail '%s' not yet shown within %g (%s is a degradation)", gr->metric, gr->max_degradation, dir);
        }
    }
}

/* The action for one treatment with primary row r (may be NULL) and Holm-adjusted p. */
static const char *variant_action(const ctx *c, const row *r, double padj, bool gviol, bool gpending,
                                  const char *gwhy, char *rs, size_t nrs)
{
    const mq_xp_experiment *x = c->o->experiment;
    const char *pm = c->met[c->primary].name;
    bool hib = mq__xp_direction(c, c->primary) > 0;
    if (!r || !r->est) {
        snprintf(rs, nrs, "primary metric not estimable: %s", r ? r->reason : "missing");
        return "keep running";
    }
    double imp = (hib ? 1 : -1) * r->effect;
    bool sig = padj < c->alpha;
    if (gviol) { snprintf(rs, nrs, "%s", gwhy); return "don't ship"; }
    if (sig && imp < 0) { snprintf(rs, nrs, "'%s' is significantly worse (adjusted p=%.3g)", pm, padj); return "don't ship"; }
    if (sig && imp > 0) {
        if (gpending) { snprintf(rs, nrs, "'%s' improved (adjusted p=%.3g) but %s", pm, padj, gwhy); return "keep running"; }
        snprintf(rs, nrs, "'%s' improved by %.4g (%.3g%%), adjusted p=%.3g%s", pm, r->effect, 100 * r->rel, padj,
                 c->n_guard ? ", guardrails within limits" : "");
        return "ship";
    }
    /* not significant: stop when the CI rules out the MDE; the most favourable effect still
     * compatible with the data is the CI's end, or under --sequential the confidence
     * sequence's, which stays valid under peeking */
    double mde = 0;
    if (x && x->mde > 0) mde = x->mde_relative ? x->mde * fabs(r->mean[0]) : x->mde;
    double best_case = r->has_seq ? (hib ? r->cs_hi : -r->cs_lo) : (hib ? r->hi : -r->lo);
    if (mde > 0 && best_case < mde) {
        snprintf(rs, nrs, "no significant effect on '%s' and the CI excludes the MDE %.4g", pm, mde);
        return "don't ship";
    }
    if (mde > 0) {
        double z = mq_stats_norm_ppf(1 - c->alpha / 2) + mq_stats_norm_ppf(0.8);
        double need = z * z * r->se * r->se * r->n[0] / (mde * mde);
        snprintf(rs, nrs, "no significant effect on '%s' yet; about %.0f units per arm give 80%% power at the MDE %.4g (now %.0f)",
                 pm, ceil(need), mde, r->n[0]);
        return "keep running";
    }
    snprintf(rs, nrs, "no significant effect on '%s' yet (adjusted p=%.3g); set an MDE to know when to stop", pm, padj);
    return "keep running";
}

void mq__xp_decide(ctx *c, mq_buf *j, mq_buf *t, double srm_p, bool srm_ok)
{
    int pm = c->primary, best = -1, nv = 0, n_seq = 0, n_fixed = 0;
    bool hib = mq__xp_direction(c, pm) > 0;
    char why[1024] = "", fixed_for[512] = "";
    /* Holm over the treatment arms on the primary metric, each with the p-value it has */
    double praw[MQ_XP_MAX_VARIANTS] = {0}, padj[MQ_XP_MAX_VARIANTS] = {0};
    int idx[MQ_XP_MAX_VARIANTS];
    bool used_seq[MQ_XP_MAX_VARIANTS];
    for (int b = 0; b < c->n_arms; b++) {
        if (b == c->control) continue;
        const row *r = mq__xp_primary_row(c, pm, b);
        used_seq[nv] = c->seq && r && r->has_seq;
        praw[nv] = used_seq[nv] ? r->seq_p : r && r->est ? r->p : 1;
        if (used_seq[nv]) n_seq++;
        else if (c->seq) {
            n_fixed++;
            size_t l = strlen(fixed_for);
            snprintf(fixed_for + l, sizeof fixed_for - l, "%s%s", l ? ", " : "", c->arms[b]);
        }
        idx[nv++] = b;
    }
    mq_stats_holm(praw, nv, padj);
    mq_buf by, gj;
    mq_buf_init(&by);
    mq_buf_init(&gj);
    mq_buf_putc(&gj, '[');
    bool gfirst = true, any_keep = false, any_ship = false;
    double best_eff = -INFINITY;
    for (int i = 0; i < nv; i++) {
        int b = idx[i];
        const row *r = mq__xp_primary_row(c, pm, b);
        char rs[512], gwhy[256] = "";
        bool gviol, gpending;
        guardrails(c, b, &gj, &gfirst, &gviol, &gpending, gwhy, sizeof gwhy);
        const char *act = variant_action(c, r, padj[i], gviol, gpending, gwhy, rs, sizeof rs);
        double imp = r ? (hib ? 1 : -1) * r->effect : NAN;
        if (!strcmp(act, "ship")) { any_ship = true; if (imp > best_eff) { best_eff = imp; best = b; } }
        if (!strcmp(act, "keep running")) any_keep = true;
        if (i) mq_buf_putc(&by, ',');
        mq_buf_puts(&by, "{\"variant\":");
        mq_buf_json_str(&by, c->arms[b], strlen(c->arms[b]));
        mq_buf_puts(&by, ",\"action\":");
        mq_buf_json_str(&by, act, strlen(act));
        mq__xp_jnum(&by, "p_value_adjusted", padj[i]);
        mq_buf_printf(&by, ",\"p_value_type\":\"%s\",\"reason\":", used_seq[i] ? "always-valid" : "fixed-horizon");
        mq_buf_json_str(&by, rs, strlen(rs));
        mq_buf_putc(&by, '}');
        if (any_ship && best == b) snprintf(why, sizeof why, "%s: %s", c->arms[b], rs);
        else if (!any_ship && (!why[0] || !strcmp(act, "keep running"))) snprintf(why, sizeof why, "%s: %s", c->arms[b], rs);
    }
    mq_buf_putc(&gj, ']');
    const char *action = any_ship ? "ship" : any_keep ? "keep running" : "don't ship";
    if (!srm_ok) {
        action = "don't ship";
        best = -1;
        snprintf(why, sizeof why, "sample ratio mismatch (p=%.3g < %g): assignment or logging is broken, the results are untrustworthy", srm_p,
                 c->o->srm_alpha > 0 ? c->o->srm_alpha : 0.001);
    }
    char pv[700];
    if (!c->seq) snprintf(pv, sizeof pv, "fixed-horizon, Holm over variants");
    else if (!n_fixed) snprintf(pv, sizeof pv, "always-valid (mSPRT), Holm over variants");
    else snprintf(pv, sizeof pv, "%sfixed-horizon for %s (mSPRT not estimable), Holm over variants", n_seq ? "always-valid (mSPRT) except " : "", fixed_for);
    mq_buf_puts(j, ",\"decision\":{\"action\":");
    mq_buf_json_str(j, action, strlen(action));
    mq_buf_puts(j, ",\"variant\":");
    if (best >= 0) mq_buf_json_str(j, c->arms[best], strlen(c->arms[best])); else mq_buf_puts(j, "null");
    mq_buf_printf(j, ",\"trustworthy\":%s,\"primary_metric\":", srm_ok ? "true" : "false");
    mq_buf_json_str(j, c->met[pm].name, strlen(c->met[pm].name));
    mq_buf_puts(j, ",\"p_values\":");
    mq_buf_json_str(j, pv, strlen(pv));
    mq_buf_puts(j, ",\"reason\":");
    mq_buf_json_str(j, why, strlen(why));
    mq_buf_puts(j, ",\"by_variant\":[");
    if (by.len) mq_buf_put(j, by.p, by.len);
    mq_buf_puts(j, "],\"guardrails\":");
    if (gj.len) mq_buf_put(j, gj.p, gj.len);
    mq_buf_putc(j, '}');
    if (c->seq && n_fixed) mq_buf_printf(t, "p-values: %s\n", pv);
    mq_buf_printf(t, "decision: %s%s%s - %s\n", action, best >= 0 ? " " : "", best >= 0 ? c->arms[best] : "", why);
    mq_buf_release(&by);
    mq_buf_release(&gj);
}
