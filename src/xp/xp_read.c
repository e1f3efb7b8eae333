/* xp_read.c: the one streaming pass of `xp analyze` over a unit-level CSV.
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
 * division per batch. Segments and days use Welford's per-row update. Optional per-unit stores:
 * a uniform reservoir sample (Vitter's algorithm R) of at most `reservoir` values per arm and
 * metric, drawn from one seeded random stream per arm (seeded by the arm's name); one value per
 * (pair, arm, metric) for a paired analysis; (y, x) per unit of each CUPED metric for the HC2
 * standard error when the input cannot be read twice (stdin; a regular file gets a second pass,
 * mq__xp_hc2_pass, that sums each unit's HC2 term instead); a snapshot of the moments after every look_every units of each arm for mSPRT.
 *
 * Row order: every accumulator and store of an arm sees only that arm's rows, in file order,
 * so nothing depends on how the arms' rows are interleaved. After the pass, arms (unless the
 * config or --weights fix them), segments and pairs are put in byte order of their names
 * (canonical_order), so the output and its floating-point sums do not depend on which arm,
 * segment or pair came first either.
 *
 * Threads: a large regular file without order-dependent options (mSPRT, reservoir, pairs,
 * segments, days, stored HC2 values) is read by two threads over its halves, each with its own ctx
 * copy, merged by arm name at the end (read_file).
 */
#include "xp.h"
/* Messages are truncated on purpose when names are very long. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAXCOL MQ_XP_MAXCOL
#define MAX_SEGMENTS MQ_XP_MAX_SEGMENTS
#define MAX_DAYS MQ_XP_MAX_DAYS
#define BATCH MQ_XP_BATCH

void mq__xp_batch_flush(mom *m, batch *b)
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


/* ---- a small string -> index map (open addressing) ---- */

int mq__xp_smap_get(smap *s, const char *k, size_t len, int add_val, int *out)
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

void mq__xp_smap_free(smap *s)
{
    for (size_t i = 0; i < s->cap; i++) free(s->keys[i]);
    free(s->keys);
    free(s->vals);
}

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
    if (c->pass == 2) return 0;   /* the columns are known from the first pass */
    field f[MAXCOL];
    if (len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) { line += 3; len -= 3; }   /* UTF-8 BOM */
    int n = split(line, len, f, MAXCOL);
    if (n < 0)
        return mq__err_set(err, MQ_EFORMAT, "%s:1: header: a quote is not closed, or text follows a closing quote",
                           c->path);
    c->n_cols = n;
    free(c->colname);
    if (!(c->colname = calloc((size_t)MQ_MAX(n, 1), sizeof *c->colname)))
        return mq__err_set(err, MQ_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        size_t l = MQ_MIN(f[i].n, sizeof c->colname[0] - 1);
        memcpy(c->colname[i], f[i].p, l);
        c->colname[i][l] = 0;
    }
    int rc;
    c->max_col = 0;
    if ((rc = find_col(c, c->o->variant_col ? c->o->variant_col : "variant", &c->col_variant, err))) return rc;
    c->col_seg = c->col_day = c->col_pair = -1;
    /* a collect file's SRM columns (docs/xp.md, "SRM under ramps"), used when present */
    c->col_range = c->col_share = -1;
    for (int i = 0; i < n; i++) {
        if (!strcmp(c->colname[i], "range")) c->col_range = i;
        if (!strcmp(c->colname[i], "served_share")) c->col_share = i;
    }
    if (c->col_range < 0) c->col_share = -1;
    c->max_col = MQ_MAX(c->max_col, MQ_MAX(c->col_range, c->col_share));
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
            mt->col_x = -1;
            if (mt->cov && (rc = find_col(c, mt->cov, &mt->col_x, err))) return rc;
        }
        mt->binary = true;
        c->isnum[mt->col_y] = 1;
        if (mt->col_x >= 0) c->isnum[mt->col_x] = 1;
    }
    if (c->col_day >= 0) c->isnum[c->col_day] = 1;
    return 0;
}

static int seg_index(ctx *c, const field *f, mq_err *err, long long line)
{
    int idx;
    int rc = mq__xp_smap_get(&c->segs, f->p, f->n, c->n_segs, &idx);
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

/* The reservoir stream of an arm: seeded by --seed and the arm's name, so an arm's draws do
 * not depend on the other arms' rows or on the order in which arms first appear. */
static void seed_arm(ctx *c, int a)
{
    uint64_t seed = c->o->seed ? c->o->seed : 1;
    mq_rng_seed(&c->arm_rng[a], seed * 0x9e3779b97f4a7c15ull ^ mq_xp_fnv1a32(c->arms[a], c->arm_len[a]));
}

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
    seed_arm(c, c->n_arms);
    return c->n_arms++;
}

/* Records arm a's moments of every metric after its count[a]-th unit (a multiple of
 * look_every): the mSPRT looks are taken from these once the whole file is read. */
static int snapshot(ctx *c, int a, mq_err *err)
{
    if (c->n_snap[a] == c->cap_snap[a]) {
        long long nc = c->cap_snap[a] ? 2 * c->cap_snap[a] : 64;
        mom *ns = realloc(c->snap[a], (size_t)nc * c->n_metrics * sizeof *ns);
        if (!ns) return mq__err_set(err, MQ_ENOMEM, "out of memory");
        c->snap[a] = ns;
        c->cap_snap[a] = nc;
    }
    mom *dst = &c->snap[a][(size_t)c->n_snap[a]++ * c->n_metrics];
    for (int m = 0; m < c->n_metrics; m++) {
        mq__xp_batch_flush(ACC(c, a, m), &c->pend[(size_t)a * c->n_metrics + m]);
        dst[m] = *ACC(c, a, m);
    }
    return 0;
}

static int process_row2(ctx *c, const char *line, size_t len, long long lineno, mq_err *err);

/* The range accumulator of name (added when new), or -1 with err set. */
static int rng_index(ctx *c, const char *p, size_t n, long long line, mq_err *err)
{
    for (int k = 0; k < c->n_rng; k++)
        if (strlen(c->rng[k].name) == n && !memcmp(c->rng[k].name, p, n)) return k;
    if (c->fixed_arms) {
        bool arm = false;
        for (int a = 0; a < c->n_arms; a++) arm |= c->arm_len[a] == n && !memcmp(c->arms[a], p, n);
        if (!arm)
            return mq__err_set(err, MQ_EFORMAT, "%s:%lld: column '%s': '%.*s' is not a variant of the experiment",
                               c->path, line, c->colname[c->col_range], (int)MQ_MIN(n, 60), p);
    }
    if (c->n_rng >= MQ_XP_MAX_VARIANTS)
        return mq__err_set(err, MQ_ERANGE, "%s:%lld: more than %d variant ranges ('%.*s')", c->path, line,
                           MQ_XP_MAX_VARIANTS, (int)MQ_MIN(n, 60), p);
    if (n >= MQ_XP_NAME)
        return mq__err_set(err, MQ_EFORMAT, "%s:%lld: column '%s': a name of %zu bytes", c->path, line,
                           c->colname[c->col_range], n);
    rngacc *r = &c->rng[c->n_rng];
    memset(r, 0, sizeof *r);
    memcpy(r->name, p, n);
    return c->n_rng++;
}

/* A row's range and served share (files with a "range" column): counts it for the SRM check.
 * Returns 1 for a row of no arm (empty variant: a range member served only the default), 0
 * for a unit, < 0 on bad input. */
static int range_row(ctx *c, const field *f, long long line, mq_err *err)
{
    const field *fv = &f[c->col_variant], *fr = &f[c->col_range];
    if (!fv->n && !fr->n)
        return mq__err_set(err, MQ_EFORMAT, "%s:%lld: columns '%s' and '%s' are both empty", c->path, line,
                           c->colname[c->col_variant], c->colname[c->col_range]);
    if (fv->n && fr->n && (fv->n != fr->n || memcmp(fv->p, fr->p, fv->n)))
        return mq__err_set(err, MQ_EFORMAT, "%s:%lld: column '%s': '%.*s' is not the unit's variant '%.*s'", c->path,
                           line, c->colname[c->col_range], (int)MQ_MIN(fr->n, 60), fr->p, (int)MQ_MIN(fv->n, 60), fv->p);
    const field *nm = fv->n ? fv : fr;
    int k = rng_index(c, nm->p, nm->n, line, err);
    if (k < 0) return k;
    double s = NAN;
    if (c->col_share >= 0 && f[c->col_share].n) {
        const field *fs = &f[c->col_share];
        char t[64];
        size_t l = MQ_MIN(fs->n, sizeof t - 1);
        memcpy(t, fs->p, l);
        t[l] = 0;
        char *e;
        s = strtod(t, &e);
        if (e == t || *e || !(s >= 0 && s <= 1))
            return mq__err_set(err, MQ_EFORMAT, "%s:%lld: column '%s': '%.*s' is not a share in [0, 1]", c->path, line,
                               c->colname[c->col_share], (int)MQ_MIN(fs->n, 60), fs->p);
    }
    rngacc *r = &c->rng[k];
    r->members++;
    if (!isnan(s)) {
        r->e += s;
        r->v += s * (1 - s);
        r->units_known += fv->n > 0;
    }
    return fv->n ? 0 : 1;
}

static int process_row(ctx *c, const char *line, size_t len, long long lineno, mq_err *err)
{
    if (c->pass == 2) return process_row2(c, line, len, lineno, err);
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
    if (c->col_range >= 0) {
        int rr = range_row(c, f, lineno, err);
        if (rr) return rr < 0 ? rr : 0;   /* a row of no arm: counted for the SRM check only */
    }
    int a = add_arm(c, &f[c->col_variant], lineno, err);
    if (a < 0) return a;
    if (bad >= 0 && bad != c->col_day)
        return mq__err_set(err, MQ_EFORMAT, "%s:%lld: column '%s': '%.*s' is not a number", c->path, lineno,
                           c->colname[bad], (int)MQ_MIN(f[bad].n, 60), f[bad].p);
    double y[MQ_XP_MAX_METRICS + MQ_XP_MAX_GUARDRAILS], x[MQ_XP_MAX_METRICS + MQ_XP_MAX_GUARDRAILS];
    for (int m = 0; m < c->n_metrics; m++) {
        metric *mt = &c->met[m];
        y[m] = val[mt->col_y];
        x[m] = mt->col_x >= 0 ? val[mt->col_x] : 0;
        batch *pb = &c->pend[(size_t)a * c->n_metrics + m];
        pb->y[pb->n] = y[m];
        pb->x[pb->n] = x[m];
        if (++pb->n == BATCH) mq__xp_batch_flush(ACC(c, a, m), pb);
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
                uint64_t j = mq_rng_below(&c->arm_rng[a], (uint64_t)r->n + 1);
                if ((long long)j < c->res_cap) r->v[j] = y[m];
            }
            r->n++;
        }
        if (c->hc2 && mt->cov) {
            yxvals *h = &c->hc2[(size_t)a * c->n_metrics + m];
            if (h->n == h->cap) {
                long long nc = h->cap ? 2 * h->cap : 1024;
                double *ny = realloc(h->y, (size_t)nc * sizeof *ny);
                if (ny) h->y = ny;
                double *nx = ny ? realloc(h->x, (size_t)nc * sizeof *nx) : NULL;
                if (!nx) return mq__err_set(err, MQ_ENOMEM, "out of memory");
                h->x = nx;
                h->cap = nc;
            }
            h->y[h->n] = y[m];
            h->x[h->n++] = x[m];
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
        if (mq__xp_smap_get(&c->pairs, fp->p, fp->n, (int)c->n_pairs, &pi)) return mq__err_set(err, MQ_ENOMEM, "out of memory");
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
    if (c->seq && c->count[a] % c->o->look_every == 0) return snapshot(c, a, err);
    return 0;
}

/* Reads the lines of fd from offset off up to end (end < 0: to EOF; use_pread: the file is
 * seekable and read with pread from off, else read() from the current position), calling
 * parse_header for the first non-empty line when header is false and process_row for the rest.
 * Line numbers continue from line0. */
static int read_range(ctx *c, int fd, bool use_pread, off_t off, off_t end, bool header,
                      long long line0, const mq_log *log, mq_err *err)
{
    /* 4 MiB, or the bytes to read when fewer (a small file need not pay for the big buffer;
     * the buffer grows below if a line needs it) */
    size_t cap = 4u << 20, have = 0;
    struct stat sb;
    off_t left = end >= 0 ? end - off : fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_size - off : -1;
    if (left >= 0 && (uint64_t)left + 2 < cap) cap = MQ_MAX((size_t)left + 2, (size_t)4096);
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
    d->n_rng = 0;
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
    return !o->sequential && !c->res && !c->hc2 && !o->pair && !o->segment && !o->day && o->threads != 1;
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
            mq__xp_batch_flush(&c2->acc[(size_t)a2 * c->n_metrics + m], &c2->pend[(size_t)a2 * c->n_metrics + m]);
            mq__xp_batch_flush(&c->acc[(size_t)a * c->n_metrics + m], &c->pend[(size_t)a * c->n_metrics + m]);
            mom_merge(&c->acc[(size_t)a * c->n_metrics + m], &c2->acc[(size_t)a2 * c->n_metrics + m]);
        }
    }
    for (int m = 0; m < c->n_metrics; m++) c->met[m].binary = c->met[m].binary && c2->met[m].binary;
    c->rows += c2->rows;
    for (int k2 = 0; k2 < c2->n_rng && !rc; k2++) {
        const rngacc *q = &c2->rng[k2];
        int k = rng_index(c, q->name, strlen(q->name), 0, err);
        if (k < 0) { rc = k; break; }
        c->rng[k].members += q->members;
        c->rng[k].units_known += q->units_known;
        c->rng[k].e += q->e;
        c->rng[k].v += q->v;
    }
    free_clone(c2);
done:
    close(fd);
    return rc;
}


void mq__xp_flush_all(ctx *c)
{
    for (int i = 0; i < MQ_XP_MAX_VARIANTS * c->n_metrics; i++) mq__xp_batch_flush(&c->acc[i], &c->pend[i]);
}

/* ---- canonical order ---- */

/* Reorders n consecutive blocks of bsz bytes at base so that new block i = old block perm[i],
 * through tmp (n * bsz bytes). */
static void permute_in(void *base, size_t n, size_t bsz, const int *perm, char *tmp)
{
    char *b = base;
    for (size_t i = 0; i < n; i++) memcpy(tmp + i * bsz, b + (size_t)perm[i] * bsz, bsz);
    memcpy(b, tmp, n * bsz);
}

static int permute(void *base, size_t n, size_t bsz, const int *perm)
{
    if (n < 2 || !base) return 0;
    char *tmp = malloc(n * bsz);
    if (!tmp) return MQ_ENOMEM;
    permute_in(base, n, bsz, perm, tmp);
    free(tmp);
    return 0;
}

/* Applies perm to the arm index of an array laid out [outer][MQ_XP_MAX_VARIANTS][inner]. */
static int permute_arms(ctx *c, void *base, size_t outer, size_t inner_bytes, const int *perm)
{
    if (c->n_arms < 2 || !base || !outer) return 0;
    char *tmp = malloc((size_t)c->n_arms * inner_bytes);
    if (!tmp) return MQ_ENOMEM;
    for (size_t o = 0; o < outer; o++)
        permute_in((char *)base + o * MQ_XP_MAX_VARIANTS * inner_bytes, (size_t)c->n_arms, inner_bytes, perm, tmp);
    free(tmp);
    return 0;
}

static int by_name(const void *a, const void *b, void *names)
{
    const char *const *nm = names;
    return strcmp(nm[*(const int *)a], nm[*(const int *)b]);
}

/* perm[i] = index of the i-th name in byte order (qsort_r: no shared state). */
static void name_order(const char *const *names, int n, int *perm)
{
    for (int i = 0; i < n; i++) perm[i] = i;
    qsort_r(perm, (size_t)n, sizeof *perm, by_name, (void *)names);
}

static int canonical_order(ctx *c, mq_err *err)
{
    int rc = 0, nm = c->n_metrics;
    mq__xp_flush_all(c);
    if (!c->fixed_arms && c->n_arms > 1) {
        const char *names[MQ_XP_MAX_VARIANTS];
        int perm[MQ_XP_MAX_VARIANTS];
        for (int a = 0; a < c->n_arms; a++) names[a] = c->arms[a];
        name_order(names, c->n_arms, perm);
        if ((rc = permute_arms(c, c->arms, 1, sizeof c->arms[0], perm)) ||
            (rc = permute_arms(c, c->arm_len, 1, sizeof c->arm_len[0], perm)) ||
            (rc = permute_arms(c, c->count, 1, sizeof c->count[0], perm)) ||
            (rc = permute_arms(c, c->snap, 1, sizeof c->snap[0], perm)) ||
            (rc = permute_arms(c, c->n_snap, 1, sizeof c->n_snap[0], perm)) ||
            (rc = permute_arms(c, c->cap_snap, 1, sizeof c->cap_snap[0], perm)) ||
            (rc = permute_arms(c, c->acc, 1, (size_t)nm * sizeof *c->acc, perm)) ||
            (c->res && (rc = permute_arms(c, c->res, 1, (size_t)nm * sizeof *c->res, perm))) ||
            (c->hc2 && (rc = permute_arms(c, c->hc2, 1, (size_t)nm * sizeof *c->hc2, perm))) ||
            (c->seg_acc && (rc = permute_arms(c, c->seg_acc, (size_t)c->n_segs, (size_t)nm * sizeof *c->seg_acc, perm))) ||
            (c->day_acc && (rc = permute_arms(c, c->day_acc, (size_t)c->n_days, (size_t)nm * sizeof *c->day_acc, perm))) ||
            (c->pair_val && (rc = permute_arms(c, c->pair_val, (size_t)c->n_pairs, (size_t)nm * sizeof *c->pair_val, perm))))
            goto fail;
    }
    if (c->n_segs > 1) {
        int *perm = malloc((size_t)c->n_segs * sizeof *perm);
        if (!perm) { rc = MQ_ENOMEM; goto fail; }
        name_order((const char *const *)c->seg_names, c->n_segs, perm);
        rc = permute(c->seg_names, (size_t)c->n_segs, sizeof *c->seg_names, perm);
        if (!rc) rc = permute(c->seg_acc, (size_t)c->n_segs, (size_t)MQ_XP_MAX_VARIANTS * nm * sizeof *c->seg_acc, perm);
        free(perm);
        if (rc) goto fail;
    }
    if (c->n_pairs > 1) {
        const char **names = malloc((size_t)c->n_pairs * sizeof *names);
        int *perm = malloc((size_t)c->n_pairs * sizeof *perm);
        if (!names || !perm) { free(names); free(perm); rc = MQ_ENOMEM; goto fail; }
        for (size_t h = 0; h < c->pairs.cap; h++) if (c->pairs.keys[h]) names[c->pairs.vals[h]] = c->pairs.keys[h];
        name_order(names, (int)c->n_pairs, perm);
        rc = permute(c->pair_val, (size_t)c->n_pairs, (size_t)MQ_XP_MAX_VARIANTS * nm * sizeof *c->pair_val, perm);
        free(names);
        free(perm);
        if (rc) goto fail;
    }
    return 0;
fail:
    return mq__err_set(err, rc, "out of memory");
}

int mq__xp_read(ctx *c, const mq_log *log, mq_err *err)
{
    if (c->fixed_arms) for (int a = 0; a < c->n_arms; a++) seed_arm(c, a);
    int rc = read_file(c, log, err);
    if (rc) return rc;
    return canonical_order(c, err);
}

/* ---- the HC2 pass ---- */

/* Adds one row's HC2 terms: a control unit to every comparison, a treatment unit to its own. */
static int process_row2(ctx *c, const char *line, size_t len, long long lineno, mq_err *err)
{
    field f[MAXCOL];
    double val[MAXCOL];
    int bad;
    int n = scan_row(c, line, len, f, val, &bad);
    if (n <= c->max_col || (bad >= 0 && bad != c->col_day))
        return mq__err_set(err, MQ_EIO, "%s:%lld: the file changed between the two passes (HC2 standard errors need a second read; use --cuped-se ols or a file that does not change)",
                           c->path, lineno);
    if (c->col_range >= 0 && !f[c->col_variant].n) return 0;   /* a row of no arm */
    int n0 = c->n_arms, a = add_arm(c, &f[c->col_variant], lineno, err);   /* known arms: their canonical index */
    if (a >= n0) c->n_arms = n0;
    if (a < 0 || a >= n0) return mq__err_set(err, MQ_EIO, "%s:%lld: the file changed between the two passes", c->path, lineno);
    for (int m = 0; m < c->n_metrics; m++) {
        const metric *mt = &c->met[m];
        if (!mt->cov) continue;
        double y = val[mt->col_y], x = val[mt->col_x];
        for (int b = 0; b < c->n_arms; b++) {
            if (b == c->control || (a != c->control && b != a)) continue;
            const mom *A = ACC(c, c->control, m), *B = ACC(c, b, m), *M = a == c->control ? A : B;
            double sxx = A->m2x + B->m2x;
            if (!(sxx > 0) || A->n < 2 || B->n < 2) continue;
            bool lev1 = false;
            double t = mq__xp_hc2_term(y, x, M, (A->cxy + B->cxy) / sxx, sxx, B->mx - A->mx, a == c->control ? 1 : -1, &lev1);
            HC2PART(c, a, b, m) += lev1 ? NAN : t;
        }
    }
    c->rows2++;
    return 0;
}

int mq__xp_hc2_pass(ctx *c, const mq_log *log, mq_err *err)
{
    int fd = open(c->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mq__err_set(err, MQ_EIO, "%s: cannot open for the HC2 pass: %s", c->path, strerror(errno));
#ifdef POSIX_FADV_SEQUENTIAL
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    c->pass = 2;
    c->rows2 = 0;
    int rc = read_range(c, fd, false, 0, -1, false, 0, log, err);
    close(fd);
    c->pass = 1;
    if (!rc && c->rows2 != c->rows)
        rc = mq__err_set(err, MQ_EIO, "%s: the file changed between the two passes (%lld rows, then %lld)", c->path, c->rows, c->rows2);
    return rc;
}
