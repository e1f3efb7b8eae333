/* xp_analyze.c: one streaming pass over a unit-level CSV, then the A/B test statistics.
 *
 * Input: a header row naming columns; one row per unit with its variant, metric values and
 * optional covariate / segment / day / pair columns. The reader is hand-written: 4 MiB read()
 * or pread() chunks, lines found with memchr, then one fused scan per line that splits the
 * fields and parses the numeric ones on the way (a Clinger fast path, exact for up to 19 digits
 * and 22 decimals, with strtod as fallback); RFC 4180 quoting inside one line is honoured.
 *
 * Sufficient statistics (memory bounded by arms x metrics x segments x days): per arm and metric
 * a bivariate accumulator (n, means, centred second moments and co-moment) of the metric with
 * its covariate (CUPED) or, for a ratio metric NUM/DEN, of numerator with denominator. Rows are
 * buffered 256 at a time per (arm, metric), reduced exactly in two passes and merged with Chan,
 * Golub & LeVeque's formulas: 1e-15-level accuracy where raw sums of squares would cancel, one
 * division per batch. Segments and days use Welford's per-row update. Optional extras: a uniform reservoir sample (Vitter's algorithm R, seeded) of at most
 * `reservoir` values per arm and metric for Mann-Whitney, the bootstrap and quantiles (exact
 * when an arm fits in the reservoir, a uniform subsample otherwise, and the output says which);
 * for a paired analysis one value per (pair, arm, metric), which grows with the pairs.
 *
 * Statistics (each with its citation in docs/xp.md):
 *  - SRM: Pearson chi^2 of the arm counts against the configured weights, k - 1 df.
 *  - Welch t (means), two-proportion z (0/1 metrics; pooled se for the test, unpooled Wald CI,
 *    as statsmodels proportions_ztest / confint_proportions_2indep), delta-method relative
 *    effect mB / mA - 1 with var = vB / (nB mA^2) + mB^2 vA / (nA mA^4).
 *  - Ratio metrics: per arm R = mean(N) / mean(D), var = (sN^2 - 2 R sND + R^2 sD^2) / (n mD^2).
 *  - CUPED as the OLS regression y ~ 1 + treat + x on the two arms (theta pooled within arms);
 *    the treatment coefficient, its t(n - 3) p-value and CI; variance reduction 1 - s_res^2/s_y^2.
 *  - Post-stratification: sum_s w_s (mB_s - mA_s), w_s the segment's share of units.
 *  - Segments: per-segment difference with a normal CI (Welch se), Cochran's Q = sum w_s (e_s - e_w)^2, w = 1/se^2, chi^2 S-1 df.
 *  - Novelty: per-day effects, weighted least squares slope over day with a z test.
 *  - Mann-Whitney U (ties averaged, continuity-corrected normal approximation, as
 *    scipy.stats.mannwhitneyu's asymptotic method); effect = P(B > A) + P(tie)/2 - 1/2 with the
 *    Hanley-McNeil (1982) standard error.
 *  - Percentile bootstrap of the mean difference and quantile differences (numpy's linear
 *    interpolation), B resamples from the reservoirs with an explicit seeded RNG.
 *  - mSPRT always-valid p-values and confidence sequences (xp_seq.c), evaluated after every
 *    look_every rows in file order (the file's order is taken as time order).
 *  - Holm and Benjamini-Hochberg over all primary (metric, variant) rows; guardrail
 *    non-inferiority z tests; the decision (ship / don't ship / keep running).
 *
 * Threads: a call shares nothing with other calls. Within a call, a large regular file without
 * order-dependent options (mSPRT, reservoir, pairs, segments, days) is read by two threads over
 * its halves, each with its own ctx copy, merged by arm name at the end (read_file).
 */
#include "core/core.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAXCOL 4096
#define MAX_SEGMENTS 1000
#define MAX_DAYS 3660

typedef struct mom { double n, my, mx, m2y, m2x, cxy; } mom;

static inline void mom_add1(mom *m, double y)
{
    m->n += 1;
    double d = y - m->my;
    m->my += d / m->n;
    m->m2y += d * (y - m->my);
}

static inline void mom_add2(mom *m, double y, double x)
{
    m->n += 1;
    double dx = x - m->mx, dy = y - m->my;
    m->mx += dx / m->n;
    m->my += dy / m->n;
    m->m2x += dx * (x - m->mx);
    m->m2y += dy * (y - m->my);
    m->cxy += dx * (y - m->my);
}

/* Rows are first buffered per (arm, metric) and folded into the accumulator BATCH at a time:
 * an exact two-pass mean and co-moments of the batch, merged by Chan, Golub & LeVeque's
 * pairwise formulas. Same accuracy as Welford's per-row update, one division per batch. */
#define BATCH 256
typedef struct batch { int n; double y[BATCH], x[BATCH]; } batch;

static void batch_flush(mom *m, batch *b)
{
    if (!b->n) return;
    double n = b->n, sy = 0, sx = 0;
    for (int i = 0; i < b->n; i++) { sy += b->y[i]; sx += b->x[i]; }
    double my = sy / n, mx = sx / n, m2y = 0, m2x = 0, cxy = 0;
    for (int i = 0; i < b->n; i++) {
        double dy = b->y[i] - my, dx = b->x[i] - mx;
        m2y += dy * dy;
        m2x += dx * dx;
        cxy += dx * dy;
    }
    double N = m->n + n, dy = my - m->my, dx = mx - m->mx, f = m->n * n / N;
    m->m2y += m2y + dy * dy * f;
    m->m2x += m2x + dx * dx * f;
    m->cxy += cxy + dx * dy * f;
    m->my += dy * n / N;
    m->mx += dx * n / N;
    m->n = N;
    b->n = 0;
}

static double mom_var(const mom *m) { return m->n > 1 ? m->m2y / (m->n - 1) : 0; }

/* ---- a small string -> index map (open addressing) ---- */
typedef struct smap { char **keys; int *vals; size_t cap, n; } smap;

static int smap_get(smap *s, const char *k, size_t len, int add_val, int *out)
{
    if (s->n * 2 + 2 > s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        char **nk = calloc(nc, sizeof *nk);
        int *nv = calloc(nc, sizeof *nv);
        if (!nk || !nv) { free(nk); free(nv); return MQ_ENOMEM; }
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->keys[i]) continue;
            size_t h = mq_xp_fnv1a32(s->keys[i], strlen(s->keys[i])) & (nc - 1);
            while (nk[h]) h = (h + 1) & (nc - 1);
            nk[h] = s->keys[i];
            nv[h] = s->vals[i];
        }
        free(s->keys); free(s->vals);
        s->keys = nk; s->vals = nv; s->cap = nc;
    }
    size_t h = mq_xp_fnv1a32(k, len) & (s->cap - 1);
    while (s->keys[h]) {
        if (strlen(s->keys[h]) == len && !memcmp(s->keys[h], k, len)) { *out = s->vals[h]; return 0; }
        h = (h + 1) & (s->cap - 1);
    }
    if (add_val < 0) { *out = -1; return 0; }
    char *c = malloc(len + 1);
    if (!c) return MQ_ENOMEM;
    memcpy(c, k, len);
    c[len] = 0;
    s->keys[h] = c;
    s->vals[h] = add_val;
    s->n++;
    *out = add_val;
    return 0;
}

static void smap_free(smap *s)
{
    for (size_t i = 0; i < s->cap; i++) free(s->keys[i]);
    free(s->keys);
    free(s->vals);
}

/* ---- analysis state ---- */
typedef struct metric {
    char name[MQ_XP_NAME];
    int col_y, col_x;           /* col_x: ratio denominator or covariate, -1 = none */
    bool ratio, binary;
    int guard;                  /* index of its guardrail or -1 */
} metric;

typedef struct reservoir { double *v; long long n, alloc; } reservoir;

typedef struct seqstate {
    double tau2, p, cs_lo, cs_hi;
    long long looks;
} seqstate;

typedef struct row {
    int metric, variant;
    const char *method;
    double n[2], mean[2];
    double effect, lo, hi, p, rel, rlo, rhi, rel_p, se, rel_se;
    bool est, rel_est, primary;
    bool has_seq, has_gs, gs_crossed;   /* for the table: mSPRT and group-sequential summaries */
    double seq_p, cs_lo, cs_hi, gs_z, gs_bound;
    char reason[200], rel_reason[200];
    double p_holm, p_bh;
    mq_buf extra;
} row;

typedef struct ctx {
    const mq_xp_analyze_opts *o;
    const char *path;
    double alpha;
    int n_arms;
    char arms[MQ_XP_MAX_VARIANTS][MQ_XP_NAME];
    size_t arm_len[MQ_XP_MAX_VARIANTS];
    double weights[MQ_XP_MAX_VARIANTS];
    bool fixed_arms;
    int control;
    int n_metrics;
    metric met[MQ_XP_MAX_METRICS + MQ_XP_MAX_GUARDRAILS];
    int n_guard;
    mq_xp_guardrail guard[MQ_XP_MAX_GUARDRAILS];
    int col_variant, col_cov, col_seg, col_day, col_pair, max_col;
    long long count[MQ_XP_MAX_VARIANTS];
    mom *acc;                   /* [arm][metric] */
    batch *pend;                /* [arm][metric]: rows not yet folded into acc */
    smap segs; int n_segs; char **seg_names; mom *seg_acc;   /* [seg][arm][metric] */
    int n_days; mom *day_acc;   /* [day][arm][metric] */
    reservoir *res;             /* [arm][metric] or NULL */
    long long res_cap;
    smap pairs; long long n_pairs, pair_cap; double *pair_val;  /* [pair][arm][metric] */
    seqstate *seq;              /* [arm][metric] */
    long long rows;
    mq_rng rng;
    row *out; int n_out, cap_out;
    char colname[MAXCOL][64];
    unsigned char isnum[MAXCOL];
    int n_cols;
} ctx;

#define ACC(c, a, m) (&(c)->acc[(size_t)(a) * (c)->n_metrics + (m)])

/* ---- fields and numbers: core's CSV scanner (mq__csv_field) and decimal parser ---- */

/* A numeric cell: core's mq__parse_f64 after trimming blanks (cells such as " 3.5"). */
static int parse_num(const char *s, size_t len, double *out)
{
    const char *p = s, *e = s + len;
    while (p < e && (*p == ' ' || *p == '\t')) p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t')) e--;
    return p < e && mq__parse_f64(p, (size_t)(e - p), out) ? 0 : -1;
}

typedef mq__field field;

/* Splits a header line into at most maxf fields (more are ignored); -1 for a malformed quote.
 * Quoted names keep a doubled quote "" as written (names with quotes are rare and compared as
 * written). */
static int split(const char *line, size_t len, field *f, int maxf)
{
    int n = mq__csv_split(line, line + len, f, maxf);
    return n > maxf ? maxf : n;
}

/* Splits a data line into fields 0..max_col in one pass, parsing the numeric columns
 * (isnum[col]) on the way into val[col] (plain decimals by core's fused fast path). Returns the
 * number of fields found (< max_col + 1 when the line is short), or -1 for a malformed quote;
 * *bad is the first numeric column that is not a number, or -1. */
static int scan_row(const ctx *c, const char *line, size_t len, field *f, double *val, int *bad)
{
    const char *p = line, *e = line + len;
    *bad = -1;
    for (int col = 0; col <= c->max_col; col++) {
        const char *q = c->isnum[col] ? mq__csv_num_fast(p, e, &val[col]) : NULL;
        if (q) {
            f[col] = (field){p, (size_t)(q - p), false};
        } else {
            q = mq__csv_field(p, e, &f[col]);
            if (!q) return -1;
            if (c->isnum[col] && parse_num(f[col].p, f[col].n, &val[col]) && *bad < 0) *bad = col;
        }
        p = q;
        if (p < e && *p == ',') p++;
        else if (col < c->max_col) return col + 1;
    }
    return c->max_col + 1;
}

static int find_col(ctx *c, const char *name, int *out, mq_err *err)
{
    for (int i = 0; i < c->n_cols; i++)
        if (!strcmp(c->colname[i], name)) { *out = i; if (i > c->max_col) c->max_col = i; return 0; }
    mq_buf b;
    mq_buf_init(&b);
    for (int i = 0; i < c->n_cols && i < 20; i++) mq_buf_printf(&b, "%s%s", i ? ", " : "", c->colname[i]);
    if (c->n_cols > 20) mq_buf_puts(&b, ", ...");
    int rc = mq__err_set(err, MQ_EFORMAT, "%s:1: column '%s' not found (header: %s)", c->path, name, mq_buf_cstr(&b));
    mq_buf_release(&b);
    return rc;
}

static int parse_header(ctx *c, const char *line, size_t len, mq_err *err)
{
    field f[MAXCOL];
    if (len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) { line += 3; len -= 3; }   /* UTF-8 BOM */
    int n = split(line, len, f, MAXCOL);
    if (n < 0)
        return mq__err_set(err, MQ_EFORMAT, "%s:1: header: a quote is not closed, or text follows a closing quote",
                           c->path);
    c->n_cols = n;
    for (int i = 0; i < n; i++) {
        size_t l = MQ_MIN(f[i].n, sizeof c->colname[0] - 1);
        memcpy(c->colname[i], f[i].p, l);
        c->colname[i][l] = 0;
    }
    int rc;
    c->max_col = 0;
    if ((rc = find_col(c, c->o->variant_col ? c->o->variant_col : "variant", &c->col_variant, err))) return rc;
    c->col_cov = c->col_seg = c->col_day = c->col_pair = -1;
    if (c->o->covariate && (rc = find_col(c, c->o->covariate, &c->col_cov, err))) return rc;
    if (c->o->segment && (rc = find_col(c, c->o->segment, &c->col_seg, err))) return rc;
    if (c->o->day && (rc = find_col(c, c->o->day, &c->col_day, err))) return rc;
    if (c->o->pair && (rc = find_col(c, c->o->pair, &c->col_pair, err))) return rc;
    for (int m = 0; m < c->n_metrics; m++) {
        metric *mt = &c->met[m];
        char *slash = strchr(mt->name, '/');
        if (slash) {
            char num[MQ_XP_NAME];
            size_t l = (size_t)(slash - mt->name);
            memcpy(num, mt->name, l);
            num[l] = 0;
            if ((rc = find_col(c, num, &mt->col_y, err))) return rc;
            if ((rc = find_col(c, slash + 1, &mt->col_x, err))) return rc;
            mt->ratio = true;
        } else {
            if ((rc = find_col(c, mt->name, &mt->col_y, err))) return rc;
            mt->col_x = c->col_cov;
        }
        mt->binary = true;
        c->isnum[mt->col_y] = 1;
        if (mt->col_x >= 0) c->isnum[mt->col_x] = 1;
    }
    if (c->col_cov >= 0) c->isnum[c->col_cov] = 1;
    if (c->col_day >= 0) c->isnum[c->col_day] = 1;
    return 0;
}

static int seg_index(ctx *c, const field *f, mq_err *err, long long line)
{
    int idx;
    int rc = smap_get(&c->segs, f->p, f->n, c->n_segs, &idx);
    if (rc) return mq__err_set(err, rc, "out of memory");
    if (idx == c->n_segs) {
        if (c->n_segs >= MAX_SEGMENTS)
            return mq__err_set(err, MQ_ERANGE, "%s:%lld: column '%s' has more than %d distinct values",
                               c->path, line, c->o->segment, MAX_SEGMENTS);
        size_t per = (size_t)c->n_arms * c->n_metrics;
        mom *na = realloc(c->seg_acc, (size_t)(c->n_segs + 1) * MQ_XP_MAX_VARIANTS * c->n_metrics * sizeof *na);
        char **nn = realloc(c->seg_names, (size_t)(c->n_segs + 1) * sizeof *nn);
        if (!na || !nn) { if (na) c->seg_acc = na; if (nn) c->seg_names = nn; return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
        c->seg_acc = na;
        c->seg_names = nn;
        (void)per;
        memset(&na[(size_t)c->n_segs * MQ_XP_MAX_VARIANTS * c->n_metrics], 0,
               (size_t)MQ_XP_MAX_VARIANTS * c->n_metrics * sizeof *na);
        nn[c->n_segs] = strndup(f->p, f->n);
        if (!nn[c->n_segs]) return mq__err_set(err, MQ_ENOMEM, "out of memory");
        c->n_segs++;
    }
    return idx;
}
#define SEGACC(c, s, a, m) (&(c)->seg_acc[((size_t)(s) * MQ_XP_MAX_VARIANTS + (a)) * (c)->n_metrics + (m)])
#define DAYACC(c, d, a, m) (&(c)->day_acc[((size_t)(d) * MQ_XP_MAX_VARIANTS + (a)) * (c)->n_metrics + (m)])
#define PAIRV(c, p, a, m) ((c)->pair_val[((size_t)(p) * MQ_XP_MAX_VARIANTS + (a)) * (c)->n_metrics + (m)])

static void seq_look(ctx *c);

static int add_arm(ctx *c, const field *f, long long line, mq_err *err)
{
    for (int a = 0; a < c->n_arms; a++)
        if (c->arm_len[a] == f->n && !memcmp(c->arms[a], f->p, f->n)) return a;
    char v[MQ_XP_NAME];
    size_t l = MQ_MIN(f->n, sizeof v - 1);
    memcpy(v, f->p, l);
    v[l] = 0;
    if (c->fixed_arms) {
        mq_buf b;
        mq_buf_init(&b);
        for (int a = 0; a < c->n_arms; a++) mq_buf_printf(&b, "%s%s", a ? ", " : "", c->arms[a]);
        int rc = mq__err_set(err, MQ_EFORMAT, "%s:%lld: column '%s': '%s' is not a variant of the experiment (%s)",
                             c->path, line, c->colname[c->col_variant], v, mq_buf_cstr(&b));
        mq_buf_release(&b);
        return rc;
    }
    if (!f->n) return mq__err_set(err, MQ_EFORMAT, "%s:%lld: column '%s' is empty", c->path, line, c->colname[c->col_variant]);
    if (c->n_arms >= MQ_XP_MAX_VARIANTS)
        return mq__err_set(err, MQ_ERANGE, "%s:%lld: more than %d variants ('%s')", c->path, line, MQ_XP_MAX_VARIANTS, v);
    strcpy(c->arms[c->n_arms], v);
    c->arm_len[c->n_arms] = strlen(v);
    return c->n_arms++;
}

static int process_row(ctx *c, const char *line, size_t len, long long lineno, mq_err *err)
{
    field f[MAXCOL];
    double val[MAXCOL];
    int bad;
    int n = scan_row(c, line, len, f, val, &bad);
    if (n < 0)
        return mq__err_set(err, MQ_EFORMAT, "%s:%lld: a quote is not closed, or text follows a closing quote",
                           c->path, lineno);
    if (n <= c->max_col)
        return mq__err_set(err, MQ_EFORMAT, "%s:%lld: %d fields, expected at least %d (column '%s')",
                           c->path, lineno, n, c->max_col + 1, c->colname[c->max_col]);
    int a = add_arm(c, &f[c->col_variant], lineno, err);
    if (a < 0) return a;
    if (bad >= 0 && bad != c->col_day)
        return mq__err_set(err, MQ_EFORMAT, "%s:%lld: column '%s': '%.*s' is not a number", c->path, lineno,
                           c->colname[bad], (int)MQ_MIN(f[bad].n, 60), f[bad].p);
    double y[MQ_XP_MAX_METRICS + MQ_XP_MAX_GUARDRAILS], x[MQ_XP_MAX_METRICS + MQ_XP_MAX_GUARDRAILS];
    double cov = c->col_cov >= 0 ? val[c->col_cov] : 0;
    for (int m = 0; m < c->n_metrics; m++) {
        metric *mt = &c->met[m];
        y[m] = val[mt->col_y];
        x[m] = mt->ratio ? val[mt->col_x] : cov;
        batch *pb = &c->pend[(size_t)a * c->n_metrics + m];
        pb->y[pb->n] = y[m];
        pb->x[pb->n] = x[m];
        if (++pb->n == BATCH) batch_flush(ACC(c, a, m), pb);
        if (mt->binary && y[m] != 0 && y[m] != 1) mt->binary = false;
        if (c->res) {
            reservoir *r = &c->res[(size_t)a * c->n_metrics + m];
            if (r->n < c->res_cap) {
                if (r->n == r->alloc) {
                    long long na = MQ_MIN(c->res_cap, r->alloc ? 2 * r->alloc : 1024);
                    double *nv = realloc(r->v, (size_t)na * sizeof *nv);
                    if (!nv) return mq__err_set(err, MQ_ENOMEM, "out of memory");
                    r->v = nv;
                    r->alloc = na;
                }
                r->v[r->n] = y[m];
            }
            else {
                uint64_t j = mq_rng_below(&c->rng, (uint64_t)r->n + 1);
                if ((long long)j < c->res_cap) r->v[j] = y[m];
            }
            r->n++;
        }
    }
    if (c->col_seg >= 0) {
        int s = seg_index(c, &f[c->col_seg], err, lineno);
        if (s < 0) return s;
        for (int m = 0; m < c->n_metrics; m++) if (!c->met[m].ratio) mom_add1(SEGACC(c, s, a, m), y[m]);
    }
    if (c->col_day >= 0) {
        double d = val[c->col_day];
        const field *fd = &f[c->col_day];
        if (bad == c->col_day || d < 0 || d >= MAX_DAYS || d != floor(d))
            return mq__err_set(err, MQ_EFORMAT, "%s:%lld: column '%s': '%.*s' is not a day number in [0, %d)",
                               c->path, lineno, c->colname[c->col_day], (int)MQ_MIN(fd->n, 60), fd->p, MAX_DAYS);
        int di = (int)d;
        if (di >= c->n_days) {
            mom *nd = realloc(c->day_acc, (size_t)(di + 1) * MQ_XP_MAX_VARIANTS * c->n_metrics * sizeof *nd);
            if (!nd) return mq__err_set(err, MQ_ENOMEM, "out of memory");
            memset(&nd[(size_t)c->n_days * MQ_XP_MAX_VARIANTS * c->n_metrics], 0,
                   (size_t)(di + 1 - c->n_days) * MQ_XP_MAX_VARIANTS * c->n_metrics * sizeof *nd);
            c->day_acc = nd;
            c->n_days = di + 1;
        }
        for (int m = 0; m < c->n_metrics; m++) if (!c->met[m].ratio) mom_add1(DAYACC(c, di, a, m), y[m]);
    }
    if (c->col_pair >= 0) {
        int pi;
        const field *fp = &f[c->col_pair];
        if (smap_get(&c->pairs, fp->p, fp->n, (int)c->n_pairs, &pi)) return mq__err_set(err, MQ_ENOMEM, "out of memory");
        if (pi == c->n_pairs) {
            if (c->n_pairs >= c->pair_cap) {
                long long nc = c->pair_cap ? c->pair_cap * 2 : 1024;
                double *nv = realloc(c->pair_val, (size_t)nc * MQ_XP_MAX_VARIANTS * c->n_metrics * sizeof *nv);
                if (!nv) return mq__err_set(err, MQ_ENOMEM, "out of memory");
                c->pair_val = nv;
                c->pair_cap = nc;
            }
            for (int k = 0; k < MQ_XP_MAX_VARIANTS * c->n_metrics; k++)
                c->pair_val[(size_t)c->n_pairs * MQ_XP_MAX_VARIANTS * c->n_metrics + k] = NAN;
            c->n_pairs++;
        }
        if (!isnan(PAIRV(c, pi, a, 0)))
            return mq__err_set(err, MQ_EFORMAT, "%s:%lld: column '%s': '%.*s' appears twice for variant '%s'",
                               c->path, lineno, c->colname[c->col_pair], (int)MQ_MIN(fp->n, 60), fp->p, c->arms[a]);
        for (int m = 0; m < c->n_metrics; m++) PAIRV(c, pi, a, m) = y[m];
    }
    c->count[a]++;
    c->rows++;
    if (c->seq && c->rows % c->o->look_every == 0) seq_look(c);
    return 0;
}

/* Reads the lines of fd from offset off up to end (end < 0: to EOF; use_pread: the file is
 * seekable and read with pread from off, else read() from the current position), calling
 * parse_header for the first non-empty line when header is false and process_row for the rest.
 * Line numbers continue from line0. */
static int read_range(ctx *c, int fd, bool use_pread, off_t off, off_t end, bool header,
                      long long line0, const mq_log *log, mq_err *err)
{
    size_t cap = 4u << 20, have = 0;
    char *buf = malloc(cap);
    if (!buf) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    long long lineno = line0;
    bool eof = false;
    int rc = 0;
    double t0 = mq_now(), next_log = t0 + 5;
    while (!eof && !rc) {
        if (have == cap) {
            if (cap >= (256u << 20)) { rc = mq__err_set(err, MQ_EFORMAT, "%s:%lld: line longer than 256 MiB", c->path, lineno + 1); break; }
            char *nb = realloc(buf, cap * 2);
            if (!nb) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); break; }
            buf = nb;
            cap *= 2;
        }
        size_t want = cap - have;
        if (end >= 0 && (off_t)want > end - off) want = (size_t)(end - off);
        ssize_t r = want == 0 ? 0 : use_pread ? pread(fd, buf + have, want, off) : read(fd, buf + have, want);
        if (r < 0) { if (errno == EINTR) continue; rc = mq__err_set(err, MQ_EIO, "%s: read: %s", c->path, strerror(errno)); break; }
        off += r;
        if (r == 0) { eof = true; if (have && buf[have - 1] != '\n') buf[have++] = '\n'; if (have == cap) { eof = false; continue; } }
        else have += (size_t)r;
        size_t pos = 0;
        for (;;) {
            char *nl = memchr(buf + pos, '\n', have - pos);
            if (!nl) break;
            size_t len = (size_t)(nl - (buf + pos));
            const char *line = buf + pos;
            pos += len + 1;
            lineno++;
            if (len && line[len - 1] == '\r') len--;
            if (!len) continue;
            if (!header) { rc = parse_header(c, line, len, err); header = true; }
            else rc = process_row(c, line, len, lineno, err);
            if (rc) break;
        }
        memmove(buf, buf + pos, have - pos);
        have -= pos;
        if (log && mq_now() > next_log) {
            mq__logf(log, "xp analyze: %lld rows (%.1f M rows/s)", c->rows, c->rows / (mq_now() - t0) / 1e6);
            next_log = mq_now() + 5;
        }
    }
    free(buf);
    if (!rc && !header) rc = mq__err_set(err, MQ_EFORMAT, "%s: empty file (no header)", c->path);
    return rc;
}

/* ---- two threads over halves of a large regular file ----
 * Only for the order-free accumulators (no --sequential, reservoir, --pair, --segment, --day):
 * each half fills its own per-(arm, metric) moments, merged afterwards by name of arm with Chan,
 * Golub & LeVeque's formulas. Results equal the one-thread pass up to rounding (~1e-15). */
typedef struct half {
    ctx *c;
    int fd;
    off_t off, end;
    long long line0;
    const mq_log *log;
    mq_err err;
    int rc;
} half;

static void *half_main(void *p)
{
    half *h = p;
    h->rc = read_range(h->c, h->fd, true, h->off, h->end, true, h->line0, h->log, &h->err);
    return NULL;
}

static void mom_merge(mom *m, const mom *o)
{
    if (o->n == 0) return;
    if (m->n == 0) { *m = *o; return; }
    double N = m->n + o->n, dy = o->my - m->my, dx = o->mx - m->mx, f = m->n * o->n / N;
    m->m2y += o->m2y + dy * dy * f;
    m->m2x += o->m2x + dx * dx * f;
    m->cxy += o->cxy + dx * dy * f;
    m->my += dy * o->n / N;
    m->mx += dx * o->n / N;
    m->n = N;
}

static ctx *clone_ctx(const ctx *c)
{
    ctx *d = malloc(sizeof *d);
    if (!d) return NULL;
    memcpy(d, c, sizeof *d);
    d->acc = calloc((size_t)MQ_XP_MAX_VARIANTS * c->n_metrics, sizeof *d->acc);
    d->pend = calloc((size_t)MQ_XP_MAX_VARIANTS * c->n_metrics, sizeof *d->pend);
    if (!d->acc || !d->pend) { free(d->acc); free(d->pend); free(d); return NULL; }
    memset(d->count, 0, sizeof d->count);
    d->rows = 0;
    return d;
}

static void free_clone(ctx *d)
{
    if (!d) return;
    free(d->acc);
    free(d->pend);
    free(d);
}

static int count_lines(int fd, off_t end, long long *out)
{
    char b[1 << 16];
    long long n = 0;
    for (off_t off = 0; off < end;) {
        ssize_t r = pread(fd, b, (size_t)MQ_MIN((off_t)sizeof b, end - off), off);
        if (r <= 0) return -1;
        for (char *p = b; (p = memchr(p, '\n', (size_t)(b + r - p))); p++) n++;
        off += r;
    }
    *out = n;
    return 0;
}

static int parallel_ok(const ctx *c)
{
    const mq_xp_analyze_opts *o = c->o;
    return !o->sequential && !c->res && !o->pair && !o->segment && !o->day && o->threads != 1;
}

static int read_file(ctx *c, const mq_log *log, mq_err *err)
{
    bool is_stdin = !strcmp(c->path, "-");
    int fd = is_stdin ? 0 : open(c->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mq__err_set(err, MQ_EIO, "%s: cannot open: %s", c->path, strerror(errno));
    struct stat st;
    off_t size = !is_stdin && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : -1;
    off_t min_split = c->o->threads >= 2 ? 2 : 64 << 20;
    if (size < min_split || !parallel_ok(c)) {
#ifdef POSIX_FADV_SEQUENTIAL
        if (!is_stdin) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
        int rc = read_range(c, fd, false, 0, -1, false, 0, log, err);
        if (!is_stdin) close(fd);
        return rc;
    }
    /* the header: the first non-empty line */
    char b[1 << 16];
    off_t hdr_end = 0;
    long long line0 = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = pread(fd, b, sizeof b - 1, hdr_end);
        if (r <= 0) { rc = mq__err_set(err, MQ_EFORMAT, "%s: empty file (no header)", c->path); goto done; }
        char *nl = memchr(b, '\n', (size_t)r);
        if (!nl) {
            if ((size_t)r == sizeof b - 1) { rc = mq__err_set(err, MQ_EFORMAT, "%s:%lld: header longer than 64 KiB", c->path, line0 + 1); goto done; }
            nl = b + r;   /* header without a newline: the file is only a header */
        }
        size_t len = (size_t)(nl - b);
        hdr_end += (off_t)len + 1;
        line0++;
        if (len && b[len - 1] == '\r') len--;
        if (!len) continue;
        if ((rc = parse_header(c, b, len, err))) goto done;
        break;
    }
    /* the split: just after the first newline at or after the middle of the rest */
    off_t split = -1;
    for (off_t pos = hdr_end + (size - hdr_end) / 2; pos < size && split < 0;) {
        ssize_t r = pread(fd, b, sizeof b, pos);
        if (r <= 0) break;
        char *nl = memchr(b, '\n', (size_t)r);
        if (nl) split = pos + (nl - b) + 1;
        pos += r;
    }
    if (split < 0 || split >= size) {
        rc = read_range(c, fd, true, hdr_end, -1, true, line0, log, err);
        goto done;
    }
    ctx *c2 = clone_ctx(c);
    if (!c2) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
    half h1 = {c, fd, hdr_end, split, line0, log, {0}, 0}, h2 = {c2, fd, split, -1, 0, NULL, {0}, 0};
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, half_main, &h2) == 0;
    half_main(&h1);
    if (threaded) pthread_join(th, NULL); else half_main(&h2);
    if (h1.rc) { rc = h1.rc; if (err) *err = h1.err; free_clone(c2); goto done; }
    if (h2.rc) {
        /* rerun the second half alone with true line numbers for the message */
        long long n1;
        free_clone(c2);
        if (count_lines(fd, split, &n1)) { rc = h2.rc; if (err) *err = h2.err; goto done; }
        ctx *c3 = clone_ctx(c);
        if (!c3) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
        rc = read_range(c3, fd, true, split, -1, true, n1, NULL, err);
        if (!rc) { rc = h2.rc; if (err) *err = h2.err; }
        free_clone(c3);
        goto done;
    }
    /* merge the second half into the first, arms matched by name */
    for (int a2 = 0; a2 < c2->n_arms; a2++) {
        int a = -1;
        for (int k = 0; k < c->n_arms; k++) if (!strcmp(c->arms[k], c2->arms[a2])) a = k;
        if (a < 0) {
            if (c->n_arms >= MQ_XP_MAX_VARIANTS) { rc = mq__err_set(err, MQ_ERANGE, "%s: more than %d variants ('%s')", c->path, MQ_XP_MAX_VARIANTS, c2->arms[a2]); break; }
            a = c->n_arms++;
            strcpy(c->arms[a], c2->arms[a2]);
            c->arm_len[a] = strlen(c->arms[a]);
        }
        c->count[a] += c2->count[a2];
        for (int m = 0; m < c->n_metrics; m++) {
            batch_flush(&c2->acc[(size_t)a2 * c->n_metrics + m], &c2->pend[(size_t)a2 * c->n_metrics + m]);
            batch_flush(&c->acc[(size_t)a * c->n_metrics + m], &c->pend[(size_t)a * c->n_metrics + m]);
            mom_merge(&c->acc[(size_t)a * c->n_metrics + m], &c2->acc[(size_t)a2 * c->n_metrics + m]);
        }
    }
    for (int m = 0; m < c->n_metrics; m++) c->met[m].binary = c->met[m].binary && c2->met[m].binary;
    c->rows += c2->rows;
    free_clone(c2);
done:
    close(fd);
    return rc;
}

/* ---- statistics ---- */

static row *new_row(ctx *c, int m, int b, const char *method)
{
    if (c->n_out == c->cap_out) {
        int nc = c->cap_out ? c->cap_out * 2 : 16;
        row *nr = realloc(c->out, (size_t)nc * sizeof *nr);
        if (!nr) return NULL;
        c->out = nr;
        c->cap_out = nc;
    }
    row *r = &c->out[c->n_out++];
    memset(r, 0, sizeof *r);
    r->metric = m;
    r->variant = b;
    r->method = method;
    r->est = r->rel_est = true;
    r->p_holm = r->p_bh = NAN;
    mq_buf_init(&r->extra);
    return r;
}

static void not_est(row *r, const char *why)
{
    r->est = false;
    r->rel_est = false;
    snprintf(r->reason, sizeof r->reason, "%s", why);
    snprintf(r->rel_reason, sizeof r->rel_reason, "%s", why);
}

/* Relative effect mB / mA - 1 by the delta method for independent means with standard errors
 * seA, seB. The CI and p-value use Student's t with df degrees of freedom (the test's own df:
 * Welch's for means, as REFERENCES.md's vector does), or the normal when df is 0. */
static void relative(ctx *c, row *r, double mA, double mB, double seA, double seB, double df)
{
    if (mA == 0) { r->rel_est = false; snprintf(r->rel_reason, sizeof r->rel_reason, "control mean is 0"); return; }
    double rel = mB / mA - 1;
    double var = seB * seB / (mA * mA) + mB * mB * seA * seA / (mA * mA * mA * mA);
    double se = sqrt(var);
    double z = df > 0 ? mq_stats_t_ppf(1 - c->alpha / 2, df) : mq_stats_norm_ppf(1 - c->alpha / 2);
    r->rel = rel;
    r->rel_se = se;
    if (!(se > 0)) { r->rel_est = false; snprintf(r->rel_reason, sizeof r->rel_reason, "zero variance"); return; }
    r->rlo = rel - z * se;
    r->rhi = rel + z * se;
    r->rel_p = 2 * (df > 0 ? mq_stats_t_sf(fabs(rel) / se, df) : mq_stats_norm_sf(fabs(rel) / se));
}

int mq_xp_welch(const mq_xp_arm *a, const mq_xp_arm *b, double alpha, mq_xp_effect *out)
{
    memset(out, 0, sizeof *out);
    if (!a || !b || !(alpha > 0 && alpha < 1)) return MQ_EINVAL;
    out->effect = b->mean - a->mean;
    if (a->n < 2 || b->n < 2) { out->reason = "an arm has fewer than 2 units"; return 0; }
    if (!(a->var >= 0) || !(b->var >= 0)) return MQ_EINVAL;
    double vA = a->var / a->n, vB = b->var / b->n, se = sqrt(vA + vB);
    if (!(se > 0)) { out->reason = "zero variance in both arms"; return 0; }
    double df = (vA + vB) * (vA + vB) / (vA * vA / (a->n - 1) + vB * vB / (b->n - 1));
    double t = out->effect / se, q = mq_stats_t_ppf(1 - alpha / 2, df);
    out->estimable = true;
    out->se = se;
    out->df = df;
    out->statistic = t;
    out->ci_low = out->effect - q * se;
    out->ci_high = out->effect + q * se;
    out->p_value = 2 * mq_stats_t_sf(fabs(t), df);
    if (a->mean == 0) { out->rel_reason = "control mean is 0"; return 0; }
    double mA = a->mean, mB = b->mean;
    double rv = vB / (mA * mA) + mB * mB * vA / (mA * mA * mA * mA), rs = sqrt(rv);
    out->rel = mB / mA - 1;
    out->rel_se = rs;
    out->rel_estimable = true;
    out->rel_ci_low = out->rel - q * rs;
    out->rel_ci_high = out->rel + q * rs;
    out->rel_p_value = 2 * mq_stats_t_sf(fabs(out->rel) / rs, df);
    return 0;
}

static void welch(ctx *c, row *r, const mom *A, const mom *B, const char *nameA, const char *nameB)
{
    r->n[0] = A->n; r->n[1] = B->n; r->mean[0] = A->my; r->mean[1] = B->my;
    r->effect = B->my - A->my;
    char why[200];
    if (A->n < 2 || B->n < 2) {
        snprintf(why, sizeof why, "arm '%s' has %.0f units (at least 2 needed)", A->n < 2 ? nameA : nameB, A->n < 2 ? A->n : B->n);
        not_est(r, why);
        if (A->n < 1 || B->n < 1) r->effect = NAN;
        return;
    }
    mq_xp_arm a = {A->n, A->my, mom_var(A)}, b = {B->n, B->my, mom_var(B)};
    mq_xp_effect e;
    mq_xp_welch(&a, &b, c->alpha, &e);
    if (!e.estimable) { not_est(r, e.reason); return; }
    r->se = e.se;
    r->lo = e.ci_low;
    r->hi = e.ci_high;
    r->p = e.p_value;
    mq_buf_printf(&r->extra, ",\"var\":[");
    mq_buf_json_num(&r->extra, a.var); mq_buf_putc(&r->extra, ',');
    mq_buf_json_num(&r->extra, b.var);
    mq_buf_printf(&r->extra, "],\"df\":");
    mq_buf_json_num(&r->extra, e.df);
    mq_buf_printf(&r->extra, ",\"statistic\":");
    mq_buf_json_num(&r->extra, e.statistic);
    if (!e.rel_estimable) { r->rel_est = false; snprintf(r->rel_reason, sizeof r->rel_reason, "%s", e.rel_reason); return; }
    r->rel = e.rel;
    r->rel_se = e.rel_se;
    r->rlo = e.rel_ci_low;
    r->rhi = e.rel_ci_high;
    r->rel_p = e.rel_p_value;
}

static void ztest(ctx *c, row *r, const mom *A, const mom *B, const char *nameA, const char *nameB)
{
    r->n[0] = A->n; r->n[1] = B->n; r->mean[0] = A->my; r->mean[1] = B->my;
    r->effect = B->my - A->my;
    if (A->n < 1 || B->n < 1) {
        char why[200];
        snprintf(why, sizeof why, "arm '%s' is empty", A->n < 1 ? nameA : nameB);
        not_est(r, why);
        r->effect = NAN;
        return;
    }
    double pA = A->my, pB = B->my, pp = (pA * A->n + pB * B->n) / (A->n + B->n);
    double se0 = sqrt(pp * (1 - pp) * (1 / A->n + 1 / B->n));
    double se = sqrt(pA * (1 - pA) / A->n + pB * (1 - pB) / B->n), z = mq_stats_norm_ppf(1 - c->alpha / 2);
    if (!(se0 > 0)) { not_est(r, pp == 0 ? "all values are 0 in both arms" : "all values are 1 in both arms"); return; }
    r->p = 2 * mq_stats_norm_sf(fabs(r->effect) / se0);
    r->se = se;
    r->lo = r->effect - z * se;
    r->hi = r->effect + z * se;
    mq_buf_printf(&r->extra, ",\"statistic\":");
    mq_buf_json_num(&r->extra, r->effect / se0);
    if (!(se > 0)) { r->est = true; snprintf(r->reason, sizeof r->reason, "CI has zero width: each arm is constant"); }
    relative(c, r, pA, pB, sqrt(mom_var(A) / A->n), sqrt(mom_var(B) / B->n), 0);
}

static void ratio_test(ctx *c, row *r, const mom *A, const mom *B, const char *nameA, const char *nameB)
{
    r->n[0] = A->n; r->n[1] = B->n;
    if (A->n < 2 || B->n < 2 || A->mx == 0 || B->mx == 0) {
        char why[200];
        if (A->n < 2 || B->n < 2) snprintf(why, sizeof why, "arm '%s' has fewer than 2 units", A->n < 2 ? nameA : nameB);
        else snprintf(why, sizeof why, "denominator mean is 0 in arm '%s'", A->mx == 0 ? nameA : nameB);
        not_est(r, why);
        r->effect = NAN;
        return;
    }
    double RA = A->my / A->mx, RB = B->my / B->mx;
    double vA = (A->m2y - 2 * RA * A->cxy + RA * RA * A->m2x) / (A->n - 1) / (A->n * A->mx * A->mx);
    double vB = (B->m2y - 2 * RB * B->cxy + RB * RB * B->m2x) / (B->n - 1) / (B->n * B->mx * B->mx);
    if (vA < 0) vA = 0;
    if (vB < 0) vB = 0;
    r->mean[0] = RA; r->mean[1] = RB;
    r->effect = RB - RA;
    double se = sqrt(vA + vB), z = mq_stats_norm_ppf(1 - c->alpha / 2);
    if (!(se > 0)) { not_est(r, "zero variance of the ratio in both arms"); return; }
    r->se = se;
    r->lo = r->effect - z * se;
    r->hi = r->effect + z * se;
    r->p = 2 * mq_stats_norm_sf(fabs(r->effect) / se);
    relative(c, r, RA, RB, sqrt(vA), sqrt(vB), 0);
}

static void cuped(ctx *c, row *r, const mom *A, const mom *B, const char *nameA, const char *nameB)
{
    r->n[0] = A->n; r->n[1] = B->n; r->mean[0] = A->my; r->mean[1] = B->my;
    double n = A->n + B->n;
    if (A->n < 2 || B->n < 2) {
        char why[200];
        snprintf(why, sizeof why, "arm '%s' has fewer than 2 units", A->n < 2 ? nameA : nameB);
        not_est(r, why);
        r->effect = A->n >= 1 && B->n >= 1 ? B->my - A->my : NAN;
        return;
    }
    double sxx = A->m2x + B->m2x, sxy = A->cxy + B->cxy, syy = A->m2y + B->m2y;
    if (!(sxx > 0) || n < 4) { welch(c, r, A, B, nameA, nameB); r->method = "welch"; snprintf(r->reason, sizeof r->reason, "covariate is constant: CUPED not applicable, Welch used"); return; }
    double theta = sxy / sxx, dx = B->mx - A->mx;
    double b = (B->my - A->my) - theta * dx;
    double rss = syy - theta * sxy;
    if (rss < 0) rss = 0;
    double s2 = rss / (n - 3), var = s2 * (1 / A->n + 1 / B->n + dx * dx / sxx), se = sqrt(var);
    r->effect = b;
    if (!(se > 0)) { not_est(r, "zero residual variance"); return; }
    double df = n - 3, q = mq_stats_t_ppf(1 - c->alpha / 2, df);
    r->se = se;
    r->lo = b - q * se;
    r->hi = b + q * se;
    r->p = 2 * mq_stats_t_sf(fabs(b / se), df);
    double vr = syy > 0 ? 1 - (rss / (n - 3)) / (syy / (n - 2)) : 0;
    mq_buf_printf(&r->extra, ",\"theta\":");
    mq_buf_json_num(&r->extra, theta);
    mq_buf_printf(&r->extra, ",\"variance_reduction\":");
    mq_buf_json_num(&r->extra, vr);
    mq_buf_printf(&r->extra, ",\"df\":");
    mq_buf_json_num(&r->extra, df);
    /* relative to the control mean; the control mean's own noise enters as in Welch's case */
    relative(c, r, A->my, A->my + b, sqrt(mom_var(A) / A->n), se, df);
}

static void paired(ctx *c, row *r, int m, int a, int b)
{
    mom d = {0}, ab = {0};
    for (long long p = 0; p < c->n_pairs; p++) {
        double ya = PAIRV(c, p, a, m), yb = PAIRV(c, p, b, m);
        if (isnan(ya) || isnan(yb)) continue;
        mom_add1(&d, yb - ya);
        mom_add2(&ab, yb, ya);
    }
    r->n[0] = r->n[1] = d.n;
    r->mean[0] = ab.mx; r->mean[1] = ab.my;
    r->effect = d.my;
    mq_buf_printf(&r->extra, ",\"pairs\":%.0f", d.n);
    if (d.n < 2) { not_est(r, "fewer than 2 complete pairs"); if (d.n < 1) r->effect = NAN; return; }
    double se = sqrt(mom_var(&d) / d.n);
    if (!(se > 0)) { not_est(r, "zero variance of the paired differences"); return; }
    double df = d.n - 1, q = mq_stats_t_ppf(1 - c->alpha / 2, df);
    r->se = se;
    r->lo = d.my - q * se;
    r->hi = d.my + q * se;
    r->p = 2 * mq_stats_t_sf(fabs(d.my / se), df);
    mq_buf_printf(&r->extra, ",\"df\":");
    mq_buf_json_num(&r->extra, df);
    double mA = ab.mx, mB = ab.my;
    if (mA == 0) { r->rel_est = false; snprintf(r->rel_reason, sizeof r->rel_reason, "control mean is 0"); return; }
    double R = mB / mA, vA = ab.m2x / (ab.n - 1), vB = ab.m2y / (ab.n - 1), cab = ab.cxy / (ab.n - 1);
    double var = (vB - 2 * R * cab + R * R * vA) / (ab.n * mA * mA), rs = sqrt(var > 0 ? var : 0);
    double z = q;   /* the paired test's t quantile (df = pairs - 1), as for Welch */
    r->rel = R - 1;
    r->rel_se = rs;
    if (!(rs > 0)) { r->rel_est = false; snprintf(r->rel_reason, sizeof r->rel_reason, "zero variance"); return; }
    r->rlo = r->rel - z * rs;
    r->rhi = r->rel + z * rs;
    r->rel_p = 2 * mq_stats_t_sf(fabs(r->rel) / rs, df);
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void mann_whitney(ctx *c, row *r, const reservoir *A, const reservoir *B, long long capA, long long capB)
{
    long long nA = MQ_MIN(A->n, capA), nB = MQ_MIN(B->n, capB), n = nA + nB;
    r->n[0] = (double)nA; r->n[1] = (double)nB;
    r->rel_est = false;
    snprintf(r->rel_reason, sizeof r->rel_reason, "not defined for a rank test");
    if (nA < 1 || nB < 1) { not_est(r, "an arm is empty"); r->effect = NAN; return; }
    typedef struct { double v; int arm; } lv;
    lv *all = malloc((size_t)n * sizeof *all);
    if (!all) { not_est(r, "out of memory"); return; }
    double sA = 0, sB = 0;
    for (long long i = 0; i < nA; i++) { all[i].v = A->v[i]; all[i].arm = 0; sA += A->v[i]; }
    for (long long i = 0; i < nB; i++) { all[nA + i].v = B->v[i]; all[nA + i].arm = 1; sB += B->v[i]; }
    r->mean[0] = sA / nA; r->mean[1] = sB / nB;
    qsort(all, (size_t)n, sizeof *all, dcmp);
    double rankB = 0, tie = 0;
    for (long long i = 0; i < n;) {
        long long j = i;
        while (j < n && all[j].v == all[i].v) j++;
        double avg = 0.5 * (double)(i + 1 + j), t = (double)(j - i);
        for (long long k = i; k < j; k++) if (all[k].arm) rankB += avg;
        tie += t * t * t - t;
        i = j;
    }
    free(all);
    double UB = rankB - (double)nB * (nB + 1) / 2, UA = (double)nA * nB - UB, mu = (double)nA * nB / 2;
    double s = sqrt((double)nA * nB / 12.0 * ((n + 1) - tie / ((double)n * (n - 1))));
    double auc = UB / ((double)nA * nB);
    r->effect = auc - 0.5;
    mq_buf_printf(&r->extra, ",\"u\":");
    mq_buf_json_num(&r->extra, UB);
    mq_buf_printf(&r->extra, ",\"sample\":\"%s\"", A->n > capA || B->n > capB ? "reservoir subsample" : "all units");
    if (!(s > 0)) { not_est(r, "all values are tied"); return; }
    double U = MQ_MAX(UA, UB), z = (U - mu - 0.5) / s;
    r->p = MQ_MIN(1.0, 2 * mq_stats_norm_sf(z));
    /* Hanley & McNeil (1982) standard error of the AUC */
    double q1 = auc / (2 - auc), q2 = 2 * auc * auc / (1 + auc);
    double var = (auc * (1 - auc) + (nB - 1) * (q1 - auc * auc) + (nA - 1) * (q2 - auc * auc)) / ((double)nA * nB);
    double se = sqrt(var > 0 ? var : 0), zq = mq_stats_norm_ppf(1 - c->alpha / 2);
    r->se = se;
    r->lo = r->effect - zq * se;
    r->hi = r->effect + zq * se;
    if (!(se > 0)) { r->lo = r->hi = r->effect; }
}

/* numpy's default (linear) quantile of sorted-or-not v[0..n): selection by sorting a copy. */
static double quantile_sorted(const double *s, long long n, double q)
{
    double h = (n - 1) * q;
    long long lo = (long long)floor(h);
    if (lo >= n - 1) return s[n - 1];
    return s[lo] + (h - lo) * (s[lo + 1] - s[lo]);
}

/* numpy's linear quantile of v[0..n) by selection (Hoare's quickselect, median of three):
 * O(n), reorders v. */
static double quantile_select(double *v, long long n, double q)
{
    double h = (n - 1) * q;
    long long k = (long long)floor(h), lo = 0, hi = n - 1;
    if (k >= n - 1) k = n - 1;
    while (hi > lo) {
        long long mid = lo + (hi - lo) / 2;
        double a = v[lo], b = v[mid], cc = v[hi];
        double piv = a < b ? (b < cc ? b : (a < cc ? cc : a)) : (a < cc ? a : (b < cc ? cc : b));
        long long i = lo, j = hi;
        while (i <= j) {
            while (v[i] < piv) i++;
            while (v[j] > piv) j--;
            if (i <= j) { double t = v[i]; v[i] = v[j]; v[j] = t; i++; j--; }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
    double x = v[k];
    if (k >= n - 1) return x;
    double y = v[k + 1];
    for (long long i = k + 2; i < n; i++) if (v[i] < y) y = v[i];   /* right side is >= v[k] */
    return x + (h - k) * (y - x);
}

static void bootstrap(ctx *c, int m, int a, int b, const reservoir *A, const reservoir *B)
{
    long long nA = MQ_MIN(A->n, c->res_cap), nB = MQ_MIN(B->n, c->res_cap);
    int nq = c->o->n_quantiles, B_ = c->o->n_boot > 0 ? c->o->n_boot : 2000;
    bool want_mean = c->o->bootstrap;
    row *rm = want_mean ? new_row(c, m, b, "bootstrap") : NULL;
    row *rq[MQ_XP_MAX_QUANTILES];
    for (int k = 0; k < nq; k++) rq[k] = new_row(c, m, b, "quantile");
    if ((want_mean && !rm)) return;
    for (int k = 0; k < nq; k++) if (!rq[k]) return;
    const char *samp = A->n > c->res_cap || B->n > c->res_cap ? "reservoir subsample" : "all units";
    row *all[1 + MQ_XP_MAX_QUANTILES];
    int na = 0;
    if (rm) all[na++] = rm;
    for (int k = 0; k < nq; k++) all[na++] = rq[k];
    for (int k = 0; k < na; k++) {
        all[k]->n[0] = (double)nA; all[k]->n[1] = (double)nB;
        mq_buf_printf(&all[k]->extra, ",\"sample\":\"%s\",\"resamples\":%d", samp, B_);
    }
    if (nA < 2 || nB < 2) { for (int k = 0; k < na; k++) { not_est(all[k], "an arm has fewer than 2 sampled units"); all[k]->effect = NAN; } return; }
    double *sa = malloc((size_t)nA * sizeof *sa), *sb = malloc((size_t)nB * sizeof *sb);
    double *stat = malloc((size_t)B_ * (1 + nq) * sizeof *stat);
    if (!sa || !sb || !stat) { free(sa); free(sb); free(stat); for (int k = 0; k < na; k++) not_est(all[k], "out of memory"); return; }
    /* point estimates */
    memcpy(sa, A->v, (size_t)nA * sizeof *sa);
    memcpy(sb, B->v, (size_t)nB * sizeof *sb);
    qsort(sa, (size_t)nA, sizeof *sa, dcmp);
    qsort(sb, (size_t)nB, sizeof *sb, dcmp);
    double mA = 0, mB = 0;
    for (long long i = 0; i < nA; i++) mA += sa[i];
    for (long long i = 0; i < nB; i++) mB += sb[i];
    mA /= nA; mB /= nB;
    if (rm) { rm->mean[0] = mA; rm->mean[1] = mB; rm->effect = mB - mA; }
    for (int k = 0; k < nq; k++) {
        double q = c->o->quantiles[k];
        rq[k]->mean[0] = quantile_sorted(sa, nA, q);
        rq[k]->mean[1] = quantile_sorted(sb, nB, q);
        rq[k]->effect = rq[k]->mean[1] - rq[k]->mean[0];
        mq_buf_printf(&rq[k]->extra, ",\"quantile\":");
        mq_buf_json_num(&rq[k]->extra, q);
    }
    mq_rng rng;
    mq_rng_seed(&rng, (c->o->seed ? c->o->seed : 1) * 0x9e3779b97f4a7c15ull + (uint64_t)(m * 131 + b));
    for (int it = 0; it < B_; it++) {
        double ma = 0, mb = 0;
        for (long long i = 0; i < nA; i++) { sa[i] = A->v[mq_rng_below(&rng, (uint64_t)nA)]; ma += sa[i]; }
        for (long long i = 0; i < nB; i++) { sb[i] = B->v[mq_rng_below(&rng, (uint64_t)nB)]; mb += sb[i]; }
        stat[(size_t)it * (1 + nq)] = mb / nB - ma / nA;
        for (int k = 0; k < nq; k++)
            stat[(size_t)it * (1 + nq) + 1 + k] = quantile_select(sb, nB, c->o->quantiles[k]) - quantile_select(sa, nA, c->o->quantiles[k]);
    }
    double *col = malloc((size_t)B_ * sizeof *col);
    for (int k = 0; k < 1 + nq; k++) {
        row *r = k == 0 ? rm : rq[k - 1];
        if (!r) continue;
        if (!col) { not_est(r, "out of memory"); continue; }
        long long le = 0, ge = 0;
        for (int it = 0; it < B_; it++) {
            col[it] = stat[(size_t)it * (1 + nq) + k];
            le += col[it] <= 0;
            ge += col[it] >= 0;
        }
        qsort(col, (size_t)B_, sizeof *col, dcmp);
        r->lo = quantile_sorted(col, B_, c->alpha / 2);
        r->hi = quantile_sorted(col, B_, 1 - c->alpha / 2);
        r->p = MQ_MIN(1.0, 2.0 * (double)MQ_MIN(le, ge) / B_);
        if (r->p == 0) r->p = 1.0 / B_;   /* resolution of the bootstrap: p < 1/B */
        r->rel_est = false;
        snprintf(r->rel_reason, sizeof r->rel_reason, "not computed for the bootstrap");
        if (r->mean[0] != 0) {
            r->rel_est = true;
            r->rel = r->effect / r->mean[0];
            r->rlo = r->lo / r->mean[0];
            r->rhi = r->hi / r->mean[0];
            if (r->mean[0] < 0) { double t = r->rlo; r->rlo = r->rhi; r->rhi = t; }
            r->rel_p = r->p;
        }
    }
    free(col);
    free(sa);
    free(sb);
    free(stat);
}

/* ---- sequential ---- */
static void flush_all(ctx *c)
{
    for (int i = 0; i < MQ_XP_MAX_VARIANTS * c->n_metrics; i++) batch_flush(&c->acc[i], &c->pend[i]);
}

static void seq_look(ctx *c)
{
    flush_all(c);
    for (int m = 0; m < c->n_metrics; m++) {
        if (c->met[m].ratio) continue;
        const mom *A = ACC(c, c->control, m);
        for (int b = 0; b < c->n_arms; b++) {
            if (b == c->control) continue;
            const mom *B = ACC(c, b, m);
            if (A->n < 2 || B->n < 2) continue;
            double v = mom_var(A) / A->n + mom_var(B) / B->n;
            if (!(v > 0)) continue;
            seqstate *s = &c->seq[(size_t)b * c->n_metrics + m];
            if (s->tau2 == 0) {
                double t = c->o->tau;
                if (!(t > 0) && c->o->experiment && c->o->experiment->mde > 0 && !c->o->experiment->mde_relative)
                    t = c->o->experiment->mde;
                if (!(t > 0)) t = 0.1 * sqrt(0.5 * (mom_var(A) + mom_var(B)));
                if (!(t > 0)) continue;
                s->tau2 = t * t;
                s->p = 1;
                s->cs_lo = -INFINITY;
                s->cs_hi = INFINITY;
            }
            double th = B->my - A->my, lam = mq_xp_msprt_lambda(th, v, s->tau2);
            double hw = mq_xp_msprt_halfwidth(v, s->tau2, c->alpha);
            if (isfinite(lam) && lam > 0) s->p = MQ_MIN(s->p, 1 / lam);
            if (isfinite(hw)) { s->cs_lo = MQ_MAX(s->cs_lo, th - hw); s->cs_hi = MQ_MIN(s->cs_hi, th + hw); }
            s->looks++;
        }
    }
}

/* ---- output ---- */
static void jnum(mq_buf *b, const char *key, double v)
{
    mq_buf_printf(b, ",\"%s\":", key);
    mq_buf_json_num(b, v);
}

static void row_json(ctx *c, mq_buf *b, const row *r)
{
    mq_buf_puts(b, "{\"metric\":");
    mq_buf_json_str(b, c->met[r->metric].name, strlen(c->met[r->metric].name));
    mq_buf_puts(b, ",\"variant\":");
    mq_buf_json_str(b, c->arms[r->variant], strlen(c->arms[r->variant]));
    mq_buf_puts(b, ",\"control\":");
    mq_buf_json_str(b, c->arms[c->control], strlen(c->arms[c->control]));
    mq_buf_printf(b, ",\"n\":[%.0f,%.0f],\"mean\":[", r->n[0], r->n[1]);
    mq_buf_json_num(b, r->mean[0]);
    mq_buf_putc(b, ',');
    mq_buf_json_num(b, r->mean[1]);
    mq_buf_putc(b, ']');
    jnum(b, "effect", r->effect);
    jnum(b, "ci_low", r->est ? r->lo : NAN);
    jnum(b, "ci_high", r->est ? r->hi : NAN);
    jnum(b, "p_value", r->est ? r->p : NAN);
    jnum(b, "relative_effect", r->rel_est ? r->rel : NAN);
    jnum(b, "relative_ci_low", r->rel_est ? r->rlo : NAN);
    jnum(b, "relative_ci_high", r->rel_est ? r->rhi : NAN);
    jnum(b, "relative_p_value", r->rel_est ? r->rel_p : NAN);
    mq_buf_puts(b, ",\"method\":");
    mq_buf_json_str(b, r->method, strlen(r->method));
    jnum(b, "se", r->est ? r->se : NAN);
    mq_buf_printf(b, ",\"estimable\":%s", r->est ? "true" : "false");
    if (r->reason[0]) { mq_buf_puts(b, ",\"reason\":"); mq_buf_json_str(b, r->reason, strlen(r->reason)); }
    if (!r->rel_est && r->rel_reason[0] && r->est) {
        mq_buf_puts(b, ",\"relative_reason\":");
        mq_buf_json_str(b, r->rel_reason, strlen(r->rel_reason));
    }
    if (r->primary) { jnum(b, "p_value_holm", r->p_holm); jnum(b, "p_value_bh", r->p_bh); }
    if (r->extra.len) mq_buf_put(b, r->extra.p, r->extra.len);
    mq_buf_putc(b, '}');
}

static void fmt(char *s, size_t n, double v)
{
    if (isfinite(v)) snprintf(s, n, "%.6g", v);
    else snprintf(s, n, "-");
}

static void row_text(ctx *c, mq_buf *t, const row *r)
{
    char e[32], lo[32], hi[32], p[32], rel[32], rlo[32], rhi[32];
    fmt(e, sizeof e, r->effect);
    mq_buf_printf(t, "%-20s %-8s %-11s n=%.0f/%.0f mean=%.6g/%.6g effect=%s", c->met[r->metric].name,
                  c->arms[r->variant], r->method, r->n[0], r->n[1], r->mean[0], r->mean[1], e);
    if (!r->est) { mq_buf_printf(t, "  not estimable: %s\n", r->reason); return; }
    fmt(lo, sizeof lo, r->lo); fmt(hi, sizeof hi, r->hi); fmt(p, sizeof p, r->p);
    mq_buf_printf(t, " CI [%s, %s] p=%s", lo, hi, p);
    if (r->rel_est) {
        fmt(rel, sizeof rel, 100 * r->rel); fmt(rlo, sizeof rlo, 100 * r->rlo); fmt(rhi, sizeof rhi, 100 * r->rhi);
        mq_buf_printf(t, " rel=%s%% [%s%%, %s%%]", rel, rlo, rhi);
    }
    if (r->primary) mq_buf_printf(t, " p_holm=%.4g p_bh=%.4g", r->p_holm, r->p_bh);
    if (r->has_seq)
        mq_buf_printf(t, "\n%-20s always-valid p=%.4g, confidence sequence [%.6g, %.6g]", "", r->seq_p, r->cs_lo, r->cs_hi);
    if (r->has_gs)
        mq_buf_printf(t, "\n%-20s group-sequential: |z|=%.4f vs bound %.4f: %s", "", fabs(r->gs_z), r->gs_bound,
                      r->gs_crossed ? "crossed, stop" : "not crossed, continue");
    mq_buf_putc(t, '\n');
}

static const row *primary_row(ctx *c, int m, int b)
{
    for (int i = 0; i < c->n_out; i++)
        if (c->out[i].primary && c->out[i].metric == m && c->out[i].variant == b) return &c->out[i];
    return NULL;
}

static void segments_json(ctx *c, mq_buf *j, mq_buf *t)
{
    mq_buf_puts(j, ",\"segments\":[");
    bool first = true;
    double z = mq_stats_norm_ppf(1 - c->alpha / 2);
    for (int m = 0; m < c->n_metrics; m++)
        for (int b = 0; b < c->n_arms; b++) {
            if (b == c->control || c->met[m].ratio) continue;
            if (!first) mq_buf_putc(j, ',');
            first = false;
            mq_buf_puts(j, "{\"metric\":");
            mq_buf_json_str(j, c->met[m].name, strlen(c->met[m].name));
            mq_buf_puts(j, ",\"variant\":");
            mq_buf_json_str(j, c->arms[b], strlen(c->arms[b]));
            mq_buf_puts(j, ",\"by_segment\":[");
            double sw = 0, swe = 0, swe2 = 0;
            int k = 0;
            for (int s = 0; s < c->n_segs; s++) {
                const mom *A = SEGACC(c, s, c->control, m), *B = SEGACC(c, s, b, m);
                if (s) mq_buf_putc(j, ',');
                mq_buf_puts(j, "{\"segment\":");
                mq_buf_json_str(j, c->seg_names[s], strlen(c->seg_names[s]));
                mq_buf_printf(j, ",\"n\":[%.0f,%.0f]", A->n, B->n);
                double e = B->my - A->my, se = A->n > 1 && B->n > 1 ? sqrt(mom_var(A) / A->n + mom_var(B) / B->n) : 0;
                jnum(j, "effect", A->n > 0 && B->n > 0 ? e : NAN);
                if (se > 0) {
                    jnum(j, "ci_low", e - z * se);
                    jnum(j, "ci_high", e + z * se);
                    jnum(j, "p_value", 2 * mq_stats_norm_sf(fabs(e) / se));
                    double w = 1 / (se * se);
                    sw += w; swe += w * e; swe2 += w * e * e;
                    k++;
                    mq_buf_printf(t, "  segment %-12s %-16s %-6s effect=%.6g CI [%.6g, %.6g]\n", c->seg_names[s],
                                  c->met[m].name, c->arms[b], e, e - z * se, e + z * se);
                } else {
                    mq_buf_puts(j, ",\"estimable\":false,\"reason\":\"fewer than 2 units or zero variance in an arm of this segment\"");
                }
                mq_buf_putc(j, '}');
            }
            mq_buf_puts(j, "],\"heterogeneity\":{\"test\":\"cochran_q\"");
            if (k >= 2) {
                double Q = swe2 - swe * swe / sw;
                if (Q < 0) Q = 0;
                jnum(j, "q", Q);
                mq_buf_printf(j, ",\"df\":%d", k - 1);
                jnum(j, "p_value", mq_stats_chi2_sf(Q, k - 1));
                mq_buf_printf(t, "  heterogeneity %s %s: Cochran Q=%.4g df=%d p=%.4g\n", c->met[m].name, c->arms[b], Q,
                              k - 1, mq_stats_chi2_sf(Q, k - 1));
            } else {
                mq_buf_puts(j, ",\"estimable\":false,\"reason\":\"fewer than 2 estimable segments\"");
            }
            mq_buf_puts(j, "}}");
        }
    mq_buf_putc(j, ']');
}

static void novelty_json(ctx *c, mq_buf *j, mq_buf *t)
{
    mq_buf_puts(j, ",\"novelty\":[");
    bool first = true;
    double z = mq_stats_norm_ppf(1 - c->alpha / 2);
    for (int m = 0; m < c->n_metrics; m++) {
        if (c->met[m].ratio) continue;
        for (int b = 0; b < c->n_arms; b++) {
            if (b == c->control) continue;
            if (!first) mq_buf_putc(j, ',');
            first = false;
            mq_buf_puts(j, "{\"metric\":");
            mq_buf_json_str(j, c->met[m].name, strlen(c->met[m].name));
            mq_buf_puts(j, ",\"variant\":");
            mq_buf_json_str(j, c->arms[b], strlen(c->arms[b]));
            mq_buf_puts(j, ",\"by_day\":[");
            double sw = 0, swd = 0, swe = 0, swdd = 0, swde = 0;
            int k = 0;
            bool f2 = true;
            for (int d = 0; d < c->n_days; d++) {
                const mom *A = DAYACC(c, d, c->control, m), *B = DAYACC(c, d, b, m);
                if (A->n + B->n == 0) continue;
                if (!f2) mq_buf_putc(j, ',');
                f2 = false;
                mq_buf_printf(j, "{\"day\":%d,\"n\":[%.0f,%.0f]", d, A->n, B->n);
                double e = B->my - A->my, se = A->n > 1 && B->n > 1 ? sqrt(mom_var(A) / A->n + mom_var(B) / B->n) : 0;
                if (se > 0) {
                    jnum(j, "effect", e);
                    jnum(j, "ci_low", e - z * se);
                    jnum(j, "ci_high", e + z * se);
                    double w = 1 / (se * se);
                    sw += w; swd += w * d; swe += w * e; swdd += w * d * d; swde += w * d * e;
                    k++;
                } else {
                    mq_buf_puts(j, ",\"estimable\":false,\"reason\":\"fewer than 2 units or zero variance in an arm that day\"");
                }
                mq_buf_putc(j, '}');
            }
            mq_buf_puts(j, "],\"trend\":{\"test\":\"wls_slope\"");
            double sxx = swdd - swd * swd / sw;
            if (k >= 3 && sxx > 0) {
                double slope = (swde - swd * swe / sw) / sxx, se = 1 / sqrt(sxx), p = 2 * mq_stats_norm_sf(fabs(slope) / se);
                jnum(j, "slope_per_day", slope);
                jnum(j, "se", se);
                jnum(j, "p_value", p);
                mq_buf_printf(t, "novelty %s %s: effect slope %.6g per day (se %.4g, p=%.4g)%s\n", c->met[m].name,
                              c->arms[b], slope, se, p, p < c->alpha ? " - the effect changes with exposure time" : "");
            } else {
                mq_buf_puts(j, ",\"estimable\":false,\"reason\":\"fewer than 3 estimable days\"");
            }
            mq_buf_puts(j, "}}");
        }
    }
    mq_buf_putc(j, ']');
}

/* Non-inferiority of variant b on guardrail g: returns the one-sided p-value and sets
 * *violated when the CI lies entirely beyond the allowed degradation. */
static double guard_test(ctx *c, const mq_xp_guardrail *g, const row *r, bool *violated, bool *ok)
{
    *violated = false;
    *ok = false;
    double sgn = g->higher_is_better ? 1 : -1;
    double e = g->relative ? r->rel : r->effect, se = g->relative ? r->rel_se : r->se;
    bool est = g->relative ? r->rel_est : r->est;
    if (!est || !(se > 0)) return NAN;
    double imp = sgn * e;               /* improvement, in the good direction */
    double z = (imp + g->max_degradation) / se, q = mq_stats_norm_ppf(1 - c->alpha / 2);
    if (imp + q * se < -g->max_degradation) *violated = true;
    double p = mq_stats_norm_sf(z);
    *ok = p < c->alpha;
    return p;
}

static void decide(ctx *c, mq_buf *j, mq_buf *t, double srm_p, bool srm_ok)
{
    const mq_xp_experiment *x = c->o->experiment;
    int pm = 0;
    if (x && x->primary_metric[0])
        for (int m = 0; m < c->n_metrics; m++) if (!strcmp(c->met[m].name, x->primary_metric)) pm = m;
    bool hib = x ? x->primary_higher_is_better : true;
    const char *action = "keep running";
    int best = -1;
    char why[1024] = "";
    mq_buf by;
    mq_buf_init(&by);
    mq_buf gj;
    mq_buf_init(&gj);
    /* Holm over the treatment arms on the primary metric */
    double praw[MQ_XP_MAX_VARIANTS], padj[MQ_XP_MAX_VARIANTS];
    int idx[MQ_XP_MAX_VARIANTS], nv = 0;
    for (int b = 0; b < c->n_arms; b++) {
        if (b == c->control) continue;
        const row *r = primary_row(c, pm, b);
        double p = r && r->est ? r->p : 1;
        if (c->seq && r) {
            const seqstate *s = &c->seq[(size_t)b * c->n_metrics + pm];
            if (s->looks) p = s->p;
        }
        praw[nv] = p;
        idx[nv++] = b;
    }
    mq_stats_holm(praw, nv, padj);
    bool any_keep = false, any_ship = false;
    double best_eff = -INFINITY;
    mq_buf_puts(&gj, "[");
    bool gfirst = true;
    for (int i = 0; i < nv; i++) {
        int b = idx[i];
        const row *r = primary_row(c, pm, b);
        const char *act;
        char rs[512];
        double imp = r ? (hib ? 1 : -1) * r->effect : NAN;
        bool sig = r && r->est && padj[i] < c->alpha;
        /* guardrails */
        bool gviol = false, gpending = false;
        char gwhy[256] = "";
        for (int g = 0; g < c->n_guard; g++) {
            int gm = -1;
            for (int m = 0; m < c->n_metrics; m++) if (!strcmp(c->met[m].name, c->guard[g].metric)) gm = m;
            const row *gr = gm >= 0 ? primary_row(c, gm, b) : NULL;
            bool v = false, ok = false;
            double gp = gr ? guard_test(c, &c->guard[g], gr, &v, &ok) : NAN;
            if (!gfirst) mq_buf_putc(&gj, ',');
            gfirst = false;
            mq_buf_puts(&gj, "{\"metric\":");
            mq_buf_json_str(&gj, c->guard[g].metric, strlen(c->guard[g].metric));
            mq_buf_puts(&gj, ",\"variant\":");
            mq_buf_json_str(&gj, c->arms[b], strlen(c->arms[b]));
            jnum(&gj, "max_degradation", c->guard[g].max_degradation);
            mq_buf_printf(&gj, ",\"relative\":%s,\"higher_is_better\":%s", c->guard[g].relative ? "true" : "false",
                          c->guard[g].higher_is_better ? "true" : "false");
            jnum(&gj, "p_value", gp);
            mq_buf_printf(&gj, ",\"non_inferior\":%s,\"violated\":%s}", ok ? "true" : "false", v ? "true" : "false");
            if (v) { gviol = true; snprintf(gwhy, sizeof gwhy, "guardrail '%s' degraded beyond %g", c->guard[g].metric, c->guard[g].max_degradation); }
            else if (!ok && !gviol) { gpending = true; snprintf(gwhy, sizeof gwhy, "guardrail '%s' not yet shown within %g", c->guard[g].metric, c->guard[g].max_degradation); }
        }
        if (!r || !r->est) {
            act = "keep running";
            snprintf(rs, sizeof rs, "primary metric not estimable: %s", r ? r->reason : "missing");
        } else if (gviol) {
            act = "don't ship";
            snprintf(rs, sizeof rs, "%s", gwhy);
        } else if (sig && imp < 0) {
            act = "don't ship";
            snprintf(rs, sizeof rs, "'%s' is significantly worse (adjusted p=%.3g)", c->met[pm].name, padj[i]);
        } else if (sig && imp > 0) {
            if (gpending) { act = "keep running"; snprintf(rs, sizeof rs, "'%s' improved (adjusted p=%.3g) but %s", c->met[pm].name, padj[i], gwhy); }
            else { act = "ship"; snprintf(rs, sizeof rs, "'%s' improved by %.4g (%.3g%%), adjusted p=%.3g%s", c->met[pm].name, r->effect, 100 * r->rel, padj[i], c->n_guard ? ", guardrails within limits" : ""); }
        } else {
            /* not significant: stop when the experiment is powered for its MDE or the CI rules it out */
            double mde = 0;
            if (x && x->mde > 0) mde = x->mde_relative ? x->mde * fabs(r->mean[0]) : x->mde;
            /* the most favourable effect still compatible with the data: the CI, or under
             * --sequential the confidence sequence, which stays valid under peeking */
            double best_case = r->has_seq ? (hib ? r->cs_hi : -r->cs_lo) : (hib ? r->hi : -r->lo);
            if (mde > 0 && best_case < mde) {
                act = "don't ship";
                snprintf(rs, sizeof rs, "no significant effect on '%s' and the CI excludes the MDE %.4g", c->met[pm].name, mde);
            } else if (mde > 0) {
                double z = mq_stats_norm_ppf(1 - c->alpha / 2) + mq_stats_norm_ppf(0.8);
                double need = z * z * r->se * r->se * r->n[0] / (mde * mde);
                act = "keep running";
                snprintf(rs, sizeof rs, "no significant effect on '%s' yet; about %.0f units per arm give 80%% power at the MDE %.4g (now %.0f)",
                         c->met[pm].name, ceil(need), mde, r->n[0]);
            } else {
                act = "keep running";
                snprintf(rs, sizeof rs, "no significant effect on '%s' yet (adjusted p=%.3g); set an MDE to know when to stop", c->met[pm].name, padj[i]);
            }
        }
        if (!strcmp(act, "ship")) { any_ship = true; if (imp > best_eff) { best_eff = imp; best = b; } }
        if (!strcmp(act, "keep running")) any_keep = true;
        if (i) mq_buf_putc(&by, ',');
        mq_buf_puts(&by, "{\"variant\":");
        mq_buf_json_str(&by, c->arms[b], strlen(c->arms[b]));
        mq_buf_puts(&by, ",\"action\":");
        mq_buf_json_str(&by, act, strlen(act));
        jnum(&by, "p_value_adjusted", padj[i]);
        mq_buf_puts(&by, ",\"reason\":");
        mq_buf_json_str(&by, rs, strlen(rs));
        mq_buf_putc(&by, '}');
        if (any_ship && best == b) snprintf(why, sizeof why, "%s: %s", c->arms[b], rs);
        else if (!any_ship && (!why[0] || !strcmp(act, "keep running"))) snprintf(why, sizeof why, "%s: %s", c->arms[b], rs);
    }
    mq_buf_putc(&gj, ']');
    if (any_ship) action = "ship";
    else if (any_keep) action = "keep running";
    else action = "don't ship";
    if (!srm_ok) {
        action = "don't ship";
        best = -1;
        snprintf(why, sizeof why, "sample ratio mismatch (p=%.3g < %g): assignment or logging is broken, the results are untrustworthy", srm_p,
                 c->o->srm_alpha > 0 ? c->o->srm_alpha : 0.001);
    }
    mq_buf_puts(j, ",\"decision\":{\"action\":");
    mq_buf_json_str(j, action, strlen(action));
    mq_buf_puts(j, ",\"variant\":");
    if (best >= 0) mq_buf_json_str(j, c->arms[best], strlen(c->arms[best])); else mq_buf_puts(j, "null");
    mq_buf_printf(j, ",\"trustworthy\":%s,\"primary_metric\":", srm_ok ? "true" : "false");
    mq_buf_json_str(j, c->met[pm].name, strlen(c->met[pm].name));
    mq_buf_printf(j, ",\"p_values\":\"%s\",\"reason\":", c->seq ? "always-valid (mSPRT), Holm over variants" : "fixed-horizon, Holm over variants");
    mq_buf_json_str(j, why, strlen(why));
    mq_buf_puts(j, ",\"by_variant\":[");
    if (by.len) mq_buf_put(j, by.p, by.len);
    mq_buf_puts(j, "],\"guardrails\":");
    if (gj.len) mq_buf_put(j, gj.p, gj.len);
    mq_buf_putc(j, '}');
    mq_buf_printf(t, "decision: %s%s%s - %s\n", action, best >= 0 ? " " : "", best >= 0 ? c->arms[best] : "", why);
    mq_buf_release(&by);
    mq_buf_release(&gj);
}

static int run(ctx *c, char **json, char **text, const mq_log *log, mq_err *err)
{
    const mq_xp_analyze_opts *o = c->o;
    int rc = read_file(c, log, err);
    if (rc) return rc;
    flush_all(c);
    if (c->seq) seq_look(c);
    /* control */
    c->control = -1;
    for (int a = 0; a < c->n_arms; a++) if (!strcmp(c->arms[a], o->control)) c->control = a;
    if (c->control < 0)
        return mq__err_set(err, MQ_EINVAL, "%s: control variant '%s' has no rows", c->path, o->control);
    if (c->n_arms < 2) return mq__err_set(err, MQ_EFORMAT, "%s: only one variant ('%s') in the data", c->path, c->arms[0]);
    /* SRM */
    double tot = 0, chi2 = 0, wsum = 0;
    for (int a = 0; a < c->n_arms; a++) { tot += (double)c->count[a]; wsum += c->weights[a]; }
    if (!c->fixed_arms) for (int a = 0; a < c->n_arms; a++) { c->weights[a] = 1.0 / c->n_arms; wsum = 1; }
    for (int a = 0; a < c->n_arms; a++) {
        double e = tot * c->weights[a] / wsum;
        if (e > 0) chi2 += (c->count[a] - e) * (c->count[a] - e) / e;
        else if (c->count[a] > 0) chi2 = INFINITY;
    }
    int k = 0;
    for (int a = 0; a < c->n_arms; a++) k += c->weights[a] > 0;
    double srm_p = k > 1 ? mq_stats_chi2_sf(chi2, k - 1) : 1;
    if (isinf(chi2)) srm_p = 0;
    double srm_alpha = o->srm_alpha > 0 ? o->srm_alpha : 0.001;
    bool srm_ok = srm_p >= srm_alpha;
    mq_buf j, t;
    mq_buf_init(&j);
    mq_buf_init(&t);
    mq_buf_puts(&j, "{\"srm\":{\"p_value\":");
    mq_buf_json_num(&j, srm_p);
    jnum(&j, "chi2", isinf(chi2) ? 1e308 : chi2);
    mq_buf_printf(&j, ",\"df\":%d,\"threshold\":", k - 1);
    mq_buf_json_num(&j, srm_alpha);
    mq_buf_printf(&j, ",\"passed\":%s,\"counts\":{", srm_ok ? "true" : "false");
    mq_buf_printf(&t, "SRM: chi2=%.4g df=%d p=%.4g %s  (", chi2, k - 1, srm_p, srm_ok ? "ok" : "FAILED: results untrustworthy");
    for (int a = 0; a < c->n_arms; a++) {
        if (a) mq_buf_putc(&j, ',');
        mq_buf_json_str(&j, c->arms[a], strlen(c->arms[a]));
        mq_buf_printf(&j, ":%lld", c->count[a]);
        mq_buf_printf(&t, "%s%s=%lld expected %.1f", a ? ", " : "", c->arms[a], c->count[a], tot * c->weights[a] / wsum);
    }
    mq_buf_puts(&j, "},\"expected_share\":{");
    for (int a = 0; a < c->n_arms; a++) {
        if (a) mq_buf_putc(&j, ',');
        mq_buf_json_str(&j, c->arms[a], strlen(c->arms[a]));
        mq_buf_putc(&j, ':');
        mq_buf_json_num(&j, c->weights[a] / wsum);
    }
    mq_buf_printf(&j, "}},\"trustworthy\":%s,\"rows\":%lld", srm_ok ? "true" : "false", c->rows);
    jnum(&j, "alpha", c->alpha);
    mq_buf_puts(&t, ")\n");
    /* results */
    for (int m = 0; m < c->n_metrics; m++)
        for (int b = 0; b < c->n_arms; b++) {
            if (b == c->control) continue;
            const mom *A = ACC(c, c->control, m), *B = ACC(c, b, m);
            const char *na = c->arms[c->control], *nb = c->arms[b];
            row *r;
            if (c->col_pair >= 0) { r = new_row(c, m, b, "paired"); if (r) paired(c, r, m, c->control, b); }
            else if (c->met[m].ratio) { r = new_row(c, m, b, "delta_ratio"); if (r) ratio_test(c, r, A, B, na, nb); }
            else if (c->col_cov >= 0) { r = new_row(c, m, b, "cuped"); if (r) cuped(c, r, A, B, na, nb); }
            else if (c->met[m].binary) { r = new_row(c, m, b, "ztest"); if (r) ztest(c, r, A, B, na, nb); }
            else { r = new_row(c, m, b, "welch"); if (r) welch(c, r, A, B, na, nb); }
            if (!r) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
            r->primary = true;
            if (c->seq && !c->met[m].ratio) {
                seqstate *s = &c->seq[(size_t)b * c->n_metrics + m];
                if (s->looks) {
                    mq_buf_printf(&r->extra, ",\"sequential\":{\"method\":\"msprt\"");
                    jnum(&r->extra, "tau", sqrt(s->tau2));
                    jnum(&r->extra, "always_valid_p_value", s->p);
                    r->has_seq = true;
                    r->seq_p = s->p;
                    r->cs_lo = s->cs_lo;
                    r->cs_hi = s->cs_hi;
                    jnum(&r->extra, "cs_low", s->cs_lo);
                    jnum(&r->extra, "cs_high", s->cs_hi);
                    mq_buf_printf(&r->extra, ",\"looks\":%lld,\"look_every\":%lld}", s->looks, o->look_every);
                } else {
                    mq_buf_puts(&r->extra, ",\"sequential\":{\"method\":\"msprt\",\"estimable\":false,\"reason\":\"no look had 2 units and nonzero variance in both arms\"}");
                }
            }
            if (o->gs_looks > 0 && r->est) {
                double bnd[50];
                if (!mq_stats_gs_bounds(o->gs_looks, c->alpha, o->gs_type ? o->gs_type : MQ_GS_OBF, bnd)) {
                    double z = r->effect / r->se, bk = bnd[o->gs_look - 1];
                    mq_buf_printf(&r->extra, ",\"group_sequential\":{\"type\":\"%s\",\"looks\":%d,\"look\":%d",
                                  o->gs_type == MQ_GS_POCOCK ? "pocock" : "obrien_fleming", o->gs_looks, o->gs_look);
                    jnum(&r->extra, "z", z);
                    jnum(&r->extra, "bound", bk);
                    mq_buf_printf(&r->extra, ",\"crossed\":%s}", fabs(z) >= bk ? "true" : "false");
                    r->has_gs = true;
                    r->gs_z = z;
                    r->gs_bound = bk;
                    r->gs_crossed = fabs(z) >= bk;
                }
            }
            if (c->col_seg >= 0 && !c->met[m].ratio && c->col_pair < 0) {
                row *ps = new_row(c, m, b, "poststrat");
                if (!ps) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
                A = ACC(c, c->control, m); B = ACC(c, b, m);
                double ntot = 0, eff = 0, var = 0;
                int dropped = 0;
                for (int s = 0; s < c->n_segs; s++) {
                    const mom *SA = SEGACC(c, s, c->control, m), *SB = SEGACC(c, s, b, m);
                    if (SA->n >= 2 && SB->n >= 2) ntot += SA->n + SB->n; else dropped++;
                }
                for (int s = 0; s < c->n_segs && ntot > 0; s++) {
                    const mom *SA = SEGACC(c, s, c->control, m), *SB = SEGACC(c, s, b, m);
                    if (SA->n < 2 || SB->n < 2) continue;
                    double w = (SA->n + SB->n) / ntot;
                    eff += w * (SB->my - SA->my);
                    var += w * w * (mom_var(SA) / SA->n + mom_var(SB) / SB->n);
                }
                ps->n[0] = A->n; ps->n[1] = B->n; ps->mean[0] = A->my; ps->mean[1] = B->my;
                ps->effect = eff;
                mq_buf_printf(&ps->extra, ",\"segments_used\":%d,\"segments_dropped\":%d", c->n_segs - dropped, dropped);
                double se = sqrt(var), z = mq_stats_norm_ppf(1 - c->alpha / 2);
                if (!(se > 0)) not_est(ps, "no segment with 2 units and nonzero variance in both arms");
                else {
                    ps->se = se; ps->lo = eff - z * se; ps->hi = eff + z * se;
                    ps->p = 2 * mq_stats_norm_sf(fabs(eff) / se);
                    relative(c, ps, A->my, A->my + eff, sqrt(mom_var(A) / A->n), se, 0);
                }
            }
            if (o->mann_whitney && c->res && !c->met[m].ratio) {
                row *mw = new_row(c, m, b, "mann_whitney");
                if (!mw) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
                mann_whitney(c, mw, &c->res[(size_t)c->control * c->n_metrics + m], &c->res[(size_t)b * c->n_metrics + m], c->res_cap, c->res_cap);
            }
            if ((o->bootstrap || o->n_quantiles) && c->res && !c->met[m].ratio)
                bootstrap(c, m, c->control, b, &c->res[(size_t)c->control * c->n_metrics + m], &c->res[(size_t)b * c->n_metrics + m]);
        }
    /* multiple testing over primary rows */
    {
        int np = 0;
        for (int i = 0; i < c->n_out; i++) np += c->out[i].primary;
        double *p = malloc((size_t)(np + 1) * sizeof *p), *h = malloc((size_t)(np + 1) * sizeof *h), *q = malloc((size_t)(np + 1) * sizeof *q);
        if (!p || !h || !q) { free(p); free(h); free(q); rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
        int k2 = 0;
        for (int i = 0; i < c->n_out; i++) if (c->out[i].primary) p[k2++] = c->out[i].est ? c->out[i].p : 1;
        mq_stats_holm(p, np, h);
        mq_stats_bh(p, np, q);
        k2 = 0;
        for (int i = 0; i < c->n_out; i++) if (c->out[i].primary) { c->out[i].p_holm = h[k2]; c->out[i].p_bh = q[k2]; k2++; }
        free(p); free(h); free(q);
    }
    mq_buf_puts(&j, ",\"results\":[");
    for (int i = 0; i < c->n_out; i++) {
        if (i) mq_buf_putc(&j, ',');
        row_json(c, &j, &c->out[i]);
        row_text(c, &t, &c->out[i]);
    }
    mq_buf_putc(&j, ']');
    if (c->col_seg >= 0) segments_json(c, &j, &t);
    if (c->col_day >= 0) novelty_json(c, &j, &t);
    decide(c, &j, &t, srm_p, srm_ok);
    mq_buf_puts(&j, "}\n");
    if (j.oom || t.oom) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
    mq_buf_cstr(&j);
    mq_buf_cstr(&t);
    *json = j.p ? j.p : strdup("{}");
    *text = t.p ? t.p : strdup("");
    return 0;
fail:
    mq_buf_release(&j);
    mq_buf_release(&t);
    return rc;
}

static int add_metric(ctx *c, const char *nm, mq_err *err)
{
    for (int q = 0; q < c->n_metrics; q++) if (!strcmp(c->met[q].name, nm)) return 0;
    size_t len = strlen(nm);
    if (c->n_metrics >= MQ_XP_MAX_METRICS + MQ_XP_MAX_GUARDRAILS || len >= MQ_XP_NAME || !len)
        return mq__err_set(err, MQ_EINVAL, "metric '%.200s': empty, too long, or too many metrics", nm);
    if (c->o->pair && strchr(nm, '/'))
        return mq__err_set(err, MQ_EUNSUP, "metric '%.200s': ratio metrics are not supported with --pair (give the per-unit ratio as its own column)", nm);
    memcpy(c->met[c->n_metrics].name, nm, len + 1);
    c->n_metrics++;
    return 0;
}

int mq_xp_analyze(const char *path, const mq_xp_analyze_opts *o, char **json, char **text,
                  const mq_log *log, mq_err *err)
{
    *json = *text = NULL;
    if (!path || !o || !o->control || !o->control[0]) return mq__err_set(err, MQ_EINVAL, "analyze: a file and the control variant are required");
    if (o->n_metrics < 1 && !(o->experiment && o->experiment->primary_metric[0]))
        return mq__err_set(err, MQ_EINVAL, "analyze: at least one --metric is required");
    double alpha = o->alpha > 0 ? o->alpha : 0.05;
    if (!(alpha < 1)) return mq__err_set(err, MQ_EINVAL, "alpha: %g is out of range (0, 1)", alpha);
    if (o->look_every <= 0 && o->sequential) return mq__err_set(err, MQ_EINVAL, "look-every must be > 0");
    if (o->gs_looks && (o->gs_looks < 1 || o->gs_looks > 50 || o->gs_look < 1 || o->gs_look > o->gs_looks))
        return mq__err_set(err, MQ_EINVAL, "group-sequential: need 1 <= look (%d) <= looks (%d) <= 50", o->gs_look, o->gs_looks);
    for (int k = 0; k < o->n_quantiles; k++)
        if (!(o->quantiles[k] >= 0 && o->quantiles[k] <= 1)) return mq__err_set(err, MQ_EINVAL, "quantile: %g is out of range [0, 1]", o->quantiles[k]);
    ctx *c = calloc(1, sizeof *c);
    if (!c) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    c->o = o;
    c->path = path;
    c->alpha = alpha;
    /* metrics: the given ones, then config's primary metric and guardrails if missing */
    const mq_xp_experiment *x = o->experiment;
    int rc = 0;
    if (x && x->primary_metric[0]) if ((rc = add_metric(c, x->primary_metric, err))) goto out;
    for (int m = 0; m < o->n_metrics; m++) if ((rc = add_metric(c, o->metrics[m], err))) goto out;
    if (x) for (int g = 0; g < x->n_guardrails; g++) c->guard[c->n_guard++] = x->guardrails[g];
    for (int g = 0; g < o->n_guardrails && c->n_guard < MQ_XP_MAX_GUARDRAILS; g++) c->guard[c->n_guard++] = o->guardrails[g];
    for (int g = 0; g < c->n_guard; g++) if ((rc = add_metric(c, c->guard[g].metric, err))) goto out;
    /* arms from --weights or the config */
    if (o->n_weights > 0) {
        for (int a = 0; a < o->n_weights; a++) { strcpy(c->arms[a], o->weight_names[a]); c->weights[a] = o->weights[a]; }
        c->n_arms = o->n_weights;
        c->fixed_arms = true;
    } else if (x) {
        for (int a = 0; a < x->n_variants; a++) { strcpy(c->arms[a], x->variants[a]); c->weights[a] = x->weights[a]; }
        c->n_arms = x->n_variants;
        c->fixed_arms = true;
    }
    for (int a = 0; a < c->n_arms; a++) c->arm_len[a] = strlen(c->arms[a]);
    if (c->fixed_arms) {
        bool found = false;
        for (int a = 0; a < c->n_arms; a++) found |= !strcmp(c->arms[a], o->control);
        if (!found) { rc = mq__err_set(err, MQ_EINVAL, "control '%s' is not one of the configured variants", o->control); goto out; }
    }
    c->acc = calloc((size_t)MQ_XP_MAX_VARIANTS * c->n_metrics, sizeof *c->acc);
    c->pend = calloc((size_t)MQ_XP_MAX_VARIANTS * c->n_metrics, sizeof *c->pend);
    if (!c->acc || !c->pend) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto out; }
    mq_rng_seed(&c->rng, o->seed ? o->seed : 1);
    if (o->mann_whitney || o->bootstrap || o->n_quantiles) {
        c->res_cap = o->reservoir > 0 ? o->reservoir : 20000;
        c->res = calloc((size_t)MQ_XP_MAX_VARIANTS * c->n_metrics, sizeof *c->res);
        if (!c->res) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto out; }
    }
    if (o->sequential) {
        c->seq = calloc((size_t)MQ_XP_MAX_VARIANTS * c->n_metrics, sizeof *c->seq);
        if (!c->seq) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto out; }
    }
    rc = run(c, json, text, log, err);
out:
    if (c->res) for (int i = 0; i < MQ_XP_MAX_VARIANTS * c->n_metrics; i++) free(c->res[i].v);
    free(c->res);
    free(c->seq);
    free(c->acc);
    free(c->pend);
    for (int s = 0; s < c->n_segs; s++) free(c->seg_names[s]);
    free(c->seg_names);
    free(c->seg_acc);
    free(c->day_acc);
    free(c->pair_val);
    smap_free(&c->segs);
    smap_free(&c->pairs);
    for (int i = 0; i < c->n_out; i++) mq_buf_release(&c->out[i].extra);
    free(c->out);
    free(c);
    return rc;
}
