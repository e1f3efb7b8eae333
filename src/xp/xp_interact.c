/* xp_interact.c: interactions between two concurrent experiments (`marquee xp interactions`).
 *
 * Overlapping experiments (different layers) can interfere: experiment 1's effect may depend on
 * which variant of experiment 2 a unit sees. Input: one row per unit with a column per
 * experiment holding the unit's variant and the metric. Model: the OLS regression
 * M ~ C(E1) * C(E2) (treatment coding, level 0 = each experiment's reference variant). It is
 * saturated (one parameter per cell), so the fitted values are the cell means, every unit's
 * leverage is 1 / n_cell, and the HC2 covariance (MacKinnon & White 1985; statsmodels
 * cov_type="HC2") of the cell means is diagonal with
 *     var(mean_c) = sum_{i in c} e_i^2 / (1 - 1/n_c) / n_c^2 = s_c^2 / n_c,
 * s_c^2 the cell's sample variance. The interaction coefficients are the contrasts
 *     beta_ij = mean_ij - mean_i0 - mean_0j + mean_00   (i = 1..k-1, j = 1..m-1),
 * with Cov(beta_ij, beta_kl) = sum_c a_ij(c) a_kl(c) s_c^2 / n_c. For 2 x 2 the single contrast
 * gets a normal CI and p-value; for any k x m the joint Wald statistic W = beta' V^-1 beta
 * (Cholesky) is chi-square with (k-1)(m-1) df under no interaction. Normal and chi-square
 * reference distributions, as statsmodels uses for robust covariances (use_t=False).
 *
 * One pass over the file (the data module's line reader and RFC 4180 splitter), Welford moments
 * per cell: memory O(k m) whatever the number of units. Every cell needs 2 units.
 */
#include "xp.h"
/* fields and numbers: core's CSV scanner (core/core.h via xp.h) */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <math.h>

#define NL MQ_XP_MAX_VARIANTS

typedef struct ictx {
    const mq_xp_interact_opts *o;
    const char *path;
    int col[3];                          /* E1, E2, metric */
    int n_lev[2];
    char lev[2][NL][MQ_XP_NAME];
    mom cell[NL][NL];                    /* [E1 level][E2 level], in order of first appearance */
    long long rows;
} ictx;

static int level(ictx *c, int e, const mq__field *f, int64_t line, mq_err *err)
{
    for (int l = 0; l < c->n_lev[e]; l++)
        if (strlen(c->lev[e][l]) == f->n && !memcmp(c->lev[e][l], f->p, f->n)) return l;
    if (!f->n) return mq__err_set(err, MQ_EFORMAT, "%s:%lld: column '%s' is empty", c->path, (long long)line, c->o->experiments[e]);
    if (f->n >= MQ_XP_NAME) return mq__err_set(err, MQ_EFORMAT, "%s:%lld: column '%s': variant name longer than %d bytes", c->path, (long long)line, c->o->experiments[e], MQ_XP_NAME - 1);
    if (c->n_lev[e] >= NL)
        return mq__err_set(err, MQ_ERANGE, "%s:%lld: column '%s': more than %d variants ('%.*s')", c->path, (long long)line,
                           c->o->experiments[e], NL, (int)f->n, f->p);
    memcpy(c->lev[e][c->n_lev[e]], f->p, f->n);
    c->lev[e][c->n_lev[e]][f->n] = 0;
    return c->n_lev[e]++;
}

static int header(ictx *c, const char *b, const char *e, mq_err *err)
{
    mq__field f[MQ_XP_MAXCOL];
    int n = mq__csv_split(b, e, f, MQ_XP_MAXCOL);
    if (n < 0 || n > MQ_XP_MAXCOL) return mq__err_set(err, MQ_EFORMAT, "%s:1: header: unterminated quote or more than %d columns", c->path, MQ_XP_MAXCOL);
    const char *want[3] = {c->o->experiments[0], c->o->experiments[1], c->o->metric};
    for (int k = 0; k < 3; k++) {
        c->col[k] = -1;
        for (int i = 0; i < n; i++)
            if (strlen(want[k]) == f[i].n && !memcmp(want[k], f[i].p, f[i].n)) c->col[k] = i;
        if (c->col[k] < 0) return mq__err_set(err, MQ_EFORMAT, "%s:1: column '%s' not found", c->path, want[k]);
    }
    return 0;
}

static int row_in(ictx *c, const char *b, const char *e, int64_t line, mq_err *err)
{
    mq__field f[MQ_XP_MAXCOL];
    int need = MQ_MAX(MQ_MAX(c->col[0], c->col[1]), c->col[2]) + 1;
    int n = mq__csv_split(b, e, f, MQ_XP_MAXCOL);
    if (n < 0) return mq__err_set(err, MQ_EFORMAT, "%s:%lld: unterminated quote", c->path, (long long)line);
    if (n < need) return mq__err_set(err, MQ_EFORMAT, "%s:%lld: %d fields, expected at least %d", c->path, (long long)line, n, need);
    int l0 = level(c, 0, &f[c->col[0]], line, err);
    if (l0 < 0) return l0;
    int l1 = level(c, 1, &f[c->col[1]], line, err);
    if (l1 < 0) return l1;
    double y;
    const mq__field *fy = &f[c->col[2]];
    if (!mq__parse_f64(fy->p, fy->n, &y))
        return mq__err_set(err, MQ_EFORMAT, "%s:%lld: column '%s': '%.*s' is not a number", c->path, (long long)line, c->o->metric,
                           (int)MQ_MIN(fy->n, 60), fy->p);
    mom_add1(&c->cell[l0][l1], y);
    c->rows++;
    return 0;
}

static int by_name(const void *a, const void *b, void *names)
{
    const char (*nm)[MQ_XP_NAME] = names;
    return strcmp(nm[*(const int *)a], nm[*(const int *)b]);
}

/* ord[i] = the level of experiment e in position i: the reference first, then byte order. */
static int level_order(ictx *c, int e, int *ord, mq_err *err)
{
    for (int l = 0; l < c->n_lev[e]; l++) ord[l] = l;
    qsort_r(ord, (size_t)c->n_lev[e], sizeof *ord, by_name, c->lev[e]);
    const char *ref = c->o->control[e];
    if (!ref) return 0;
    for (int i = 0; i < c->n_lev[e]; i++)
        if (!strcmp(c->lev[e][ord[i]], ref)) {
            int r = ord[i];
            memmove(ord + 1, ord, (size_t)i * sizeof *ord);
            ord[0] = r;
            return 0;
        }
    return mq__err_set(err, MQ_EINVAL, "%s: reference variant '%s' of '%s' has no rows", c->path, ref, c->o->experiments[e]);
}

/* Cholesky solve: returns x' A^-1 x for the symmetric positive definite A (n x n, row-major,
 * overwritten), or NAN when A is not positive definite. */
static double quad_inv(double *A, const double *x, int n)
{
    double *y = malloc((size_t)n * sizeof *y);
    if (!y) return NAN;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j <= i; j++) {
            double s = A[i * n + j];
            for (int k = 0; k < j; k++) s -= A[i * n + k] * A[j * n + k];
            if (i == j) {
                if (!(s > 0)) { free(y); return NAN; }
                A[i * n + i] = sqrt(s);
            } else {
                A[i * n + j] = s / A[j * n + j];
            }
        }
    }
    double q = 0;
    for (int i = 0; i < n; i++) {   /* L y = x; x' A^-1 x = |y|^2 */
        double s = x[i];
        for (int k = 0; k < i; k++) s -= A[i * n + k] * y[k];
        y[i] = s / A[i * n + i];
        q += y[i] * y[i];
    }
    free(y);
    return q;
}

/* The statistics and the two documents. */
static int report(ictx *c, char **json, char **text, mq_err *err)
{
    int ord[2][NL], rc;
    if ((rc = level_order(c, 0, ord[0], err)) || (rc = level_order(c, 1, ord[1], err))) return rc;
    int k = c->n_lev[0], m = c->n_lev[1];
    if (k < 2 || m < 2)
        return mq__err_set(err, MQ_EFORMAT, "%s: column '%s' has %d variant(s): each experiment needs at least 2", c->path,
                           c->o->experiments[k < 2 ? 0 : 1], k < 2 ? k : m);
    double alpha = c->o->alpha > 0 ? c->o->alpha : 0.05;
    const char *e1 = c->o->experiments[0], *e2 = c->o->experiments[1];
    mq_buf j, t;
    mq_buf_init(&j);
    mq_buf_init(&t);
    mq_buf_puts(&j, "{\"metric\":");
    mq_buf_json_str(&j, c->o->metric, strlen(c->o->metric));
    mq_buf_printf(&j, ",\"rows\":%lld,\"se_type\":\"HC2\",\"reference\":{", c->rows);
    mq_buf_json_str(&j, e1, strlen(e1));
    mq_buf_putc(&j, ':');
    mq_buf_json_str(&j, c->lev[0][ord[0][0]], strlen(c->lev[0][ord[0][0]]));
    mq_buf_putc(&j, ',');
    mq_buf_json_str(&j, e2, strlen(e2));
    mq_buf_putc(&j, ':');
    mq_buf_json_str(&j, c->lev[1][ord[1][0]], strlen(c->lev[1][ord[1][0]]));
    mq_buf_puts(&j, "},\"cells\":[");
    mq_buf_printf(&t, "%s by %s x %s (%lld units; reference %s=%s, %s=%s)\n", c->o->metric, e1, e2, c->rows, e1,
                  c->lev[0][ord[0][0]], e2, c->lev[1][ord[1][0]]);
    const char *why = NULL;
    double mean[NL][NL], var[NL][NL];   /* var: HC2 variance of the cell mean */
    for (int a = 0; a < k; a++)
        for (int b = 0; b < m; b++) {
            const mom *s = &c->cell[ord[0][a]][ord[1][b]];
            mean[a][b] = s->my;
            var[a][b] = s->n > 1 ? mom_var(s) / s->n : NAN;
            if (s->n < 2 && !why) why = "a cell has fewer than 2 units";
            if (a || b) mq_buf_putc(&j, ',');
            mq_buf_putc(&j, '{');
            mq_buf_json_str(&j, e1, strlen(e1));
            mq_buf_putc(&j, ':');
            mq_buf_json_str(&j, c->lev[0][ord[0][a]], strlen(c->lev[0][ord[0][a]]));
            mq_buf_putc(&j, ',');
            mq_buf_json_str(&j, e2, strlen(e2));
            mq_buf_putc(&j, ':');
            mq_buf_json_str(&j, c->lev[1][ord[1][b]], strlen(c->lev[1][ord[1][b]]));
            mq_buf_printf(&j, ",\"n\":%.0f", s->n);
            mq__xp_jnum(&j, "mean", s->n > 0 ? s->my : NAN);
            mq__xp_jnum(&j, "sd", s->n > 1 ? sqrt(mom_var(s)) : NAN);
            mq_buf_putc(&j, '}');
            mq_buf_printf(&t, "  %s=%-10s %s=%-10s n=%-8.0f mean=%.6g\n", e1, c->lev[0][ord[0][a]], e2, c->lev[1][ord[1][b]], s->n, s->my);
        }
    mq_buf_putc(&j, ']');
    int d = (k - 1) * (m - 1);
    double *beta = malloc((size_t)d * sizeof *beta), *V = malloc((size_t)d * d * sizeof *V);
    if (!beta || !V) { free(beta); free(V); mq_buf_release(&j); mq_buf_release(&t); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    /* beta_(a,b) at index (a-1)(m-1) + b-1; covariance over the four cells of each contrast */
    for (int a = 1; a < k; a++)
        for (int b = 1; b < m; b++) {
            int p = (a - 1) * (m - 1) + b - 1;
            beta[p] = mean[a][b] - mean[a][0] - mean[0][b] + mean[0][0];
            for (int a2 = 1; a2 < k; a2++)
                for (int b2 = 1; b2 < m; b2++) {
                    int q = (a2 - 1) * (m - 1) + b2 - 1;
                    /* shared cells: (0,0) always; (a,0) if a == a2; (0,b) if b == b2; (a,b) if both */
                    double v = var[0][0];
                    if (a == a2) v += var[a][0];
                    if (b == b2) v += var[0][b];
                    if (a == a2 && b == b2) v += var[a][b];
                    V[p * d + q] = v;
                }
        }
    if (!why) {
        bool zero = false;
        for (int a = 0; a < k; a++) for (int b = 0; b < m; b++) zero |= !(var[a][b] > 0);
        if (zero) why = "a cell has zero variance: the HC2 covariance is singular";
    }
    double z = mq_stats_norm_ppf(1 - alpha / 2);
    if (d == 1) {
        double se = sqrt(V[0]), e = beta[0];
        mq_buf_puts(&j, ",\"interaction\":{");
        mq_buf_puts(&j, "\"effect\":");
        mq_buf_json_num(&j, why ? NAN : e);
        if (why || !(se > 0)) {
            mq_buf_puts(&j, ",\"ci_low\":null,\"ci_high\":null,\"p_value\":null,\"estimable\":false,\"reason\":");
            mq_buf_json_str(&j, why ? why : "zero variance", strlen(why ? why : "zero variance"));
            mq_buf_putc(&j, '}');
        } else {
            mq__xp_jnum(&j, "ci_low", e - z * se);
            mq__xp_jnum(&j, "ci_high", e + z * se);
            mq__xp_jnum(&j, "p_value", 2 * mq_stats_norm_sf(fabs(e) / se));
            mq__xp_jnum(&j, "se", se);
            mq_buf_puts(&j, ",\"estimable\":true}");
            mq_buf_printf(&t, "interaction (y11 - y10 - y01 + y00): %.6g, CI [%.6g, %.6g], p=%.4g (HC2)\n", e, e - z * se, e + z * se,
                          2 * mq_stats_norm_sf(fabs(e) / se));
        }
    }
    double W = why ? NAN : quad_inv(V, beta, d);
    if (!why && isnan(W)) why = "the HC2 covariance of the interaction terms is not positive definite";
    mq_buf_printf(&j, ",\"joint_test\":{\"test\":\"wald_chi2\"");
    mq__xp_jnum(&j, "statistic", W);
    mq_buf_printf(&j, ",\"df\":%d", d);
    mq__xp_jnum(&j, "p_value", why ? NAN : mq_stats_chi2_sf(W, d));
    if (why) {
        mq_buf_puts(&j, ",\"estimable\":false,\"reason\":");
        mq_buf_json_str(&j, why, strlen(why));
        mq_buf_printf(&t, "interaction not estimable: %s\n", why);
    } else {
        mq_buf_puts(&j, ",\"estimable\":true");
        mq_buf_printf(&t, "joint Wald test of the %d interaction term%s: chi2=%.6g df=%d p=%.4g%s\n", d, d > 1 ? "s" : "", W, d,
                      mq_stats_chi2_sf(W, d), mq_stats_chi2_sf(W, d) < alpha ? " - the experiments interact" : "");
    }
    mq_buf_puts(&j, "}}\n");
    free(beta);
    free(V);
    if (j.oom || t.oom) { mq_buf_release(&j); mq_buf_release(&t); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    mq_buf_cstr(&j);
    mq_buf_cstr(&t);
    *json = j.p;
    *text = t.p;
    return 0;
}

int mq_xp_interactions(const char *path, const mq_xp_interact_opts *o, char **json, char **text,
                       const mq_log *log, mq_err *err)
{
    (void)log;
    *json = *text = NULL;
    mq_xp_interact_opts ov; int orc = MQ__OPTS_GET(mq_xp_interact_opts, &ov, o, err); if (orc) return orc; if (o) o = &ov;
    if (!path || !o || !o->experiments[0] || !o->experiments[1] || !o->metric)
        return mq__err_set(err, MQ_EINVAL, "interactions: a file, two experiment columns and a metric are required");
    if (!strcmp(path, "-")) return mq__err_set(err, MQ_EINVAL, "interactions: FILE must be a file ('-', standard input, is not supported)");
    if (!(o->alpha >= 0 && o->alpha < 1)) return mq__err_set(err, MQ_EINVAL, "alpha: %g is out of range (0, 1)", o->alpha);
    ictx *c = calloc(1, sizeof *c);
    if (!c) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    c->o = o;
    c->path = path;
    /* The file mapped whole (core's mq__file_map), read line by line; "\r\n" ends a line too. */
    const void *data;
    size_t len;
    int rc = mq__file_map(path, &data, &len, err);
    if (rc) { free(c); return rc; }
    const char *p = data, *end = p ? p + len : NULL;
    int64_t line = 0;
    bool have_header = false;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *b = p, *e = nl ? nl : end;
        p = nl ? nl + 1 : end;
        line++;
        if (e > b && e[-1] == '\r') e--;
        if (b == e) continue;
        if (!have_header) {
            if (e - b >= 3 && !memcmp(b, "\xEF\xBB\xBF", 3)) b += 3;
            rc = header(c, b, e, err);
            have_header = true;
        } else {
            rc = row_in(c, b, e, line, err);
        }
        if (rc) break;
    }
    mq__file_unmap(data, len);
    if (!rc && !have_header) rc = mq__err_set(err, MQ_EFORMAT, "%s: empty file (no header)", path);
    if (!rc) rc = report(c, json, text, err);
    free(c);
    return rc;
}
