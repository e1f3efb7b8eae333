/* bandit_log.c: reading bandit logs and evaluation-policy distributions; OBD's BTS policy.
 *
 * Logs are CSV files with a header, read in 4 MiB read() chunks (scanned while in cache). The
 * whole lines of a chunk go to fast_rows: each needed field is scanned and converted in one step
 * by core's csv scanner (mq__csv_uint_scan, mq__csv_num_scan: the float parser's exact fast
 * path), other fields are skipped by a byte loop and the rest of an OBD line (44-56 columns of
 * hashed features) by one memchr. A row fast_rows does not take exactly (a blank line, "\r\n",
 * a number written another way, a bad value, a wrong field count) goes to row(), which splits
 * it with the data layer's helpers (mq__ld_split, whole-field number parsers) and accepts it or
 * names it with mq__ld_bad's file:line message: values and messages are row()'s. No whole-file
 * UTF-8 pass: only numeric fields are interpreted. The propensity field repeats verbatim across
 * rows of a uniform log, so the last field's bytes, value and reciprocal are remembered and an
 * identical field is not parsed again.
 *
 * Rows go to the column arrays (mq_bandit_log_load; grown on 2 MiB huge pages, grow()) or, for
 * mq_bandit_ope_file, to per-cell sums (mq__bandit_log_scan, mq__ope_acc in bandit.h): no rows
 * kept.
 *
 * Two formats (docs/bandit.md):
 *  - Marquee: columns action, reward, propensity (required), position (1-based, default 1),
 *    round (ignored), x0, x1, ... (numeric context, in header order); other columns ignored.
 *  - OBD: the unnamed index, timestamp, item_id, position (1..3), click, propensity_score,
 *    user_feature_*, user-item_affinity_<k>; K = the number of affinity columns.
 *
 * Distributions: `item|action[,position],probability` (context-free) or `row,action,probability`
 * (per logged row). The BTS distribution follows OBP's BernoulliTS.compute_batch_action_dist.
 */
#include "bandit/bandit.h"
#include "core/core.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAXCOL 4096

double mq__bandit_sigmoid(double z)
{
    if (z >= 0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

double mq__bandit_gamma(mq_rng *r, double shape)
{
    if (shape < 1.0) {
        double u = mq_rng_uniform(r);
        return mq__bandit_gamma(r, shape + 1.0) * pow(u > 0 ? u : 1e-300, 1.0 / shape);
    }
    /* Marsaglia & Tsang (2000), "A simple method for generating gamma variables". */
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double z, v;
        do {
            z = mq_rng_normal(r);
            v = 1.0 + c * z;
        } while (v <= 0);
        v = v * v * v;
        double u = mq_rng_uniform(r);
        if (u < 1.0 - 0.0331 * z * z * z * z) return d * v;
        if (u > 0 && log(u) < 0.5 * z * z + d * (1.0 - v + log(v))) return d * v;
    }
}

double mq__bandit_beta(mq_rng *r, double a, double b)
{
    double x = mq__bandit_gamma(r, a), y = mq__bandit_gamma(r, b);
    return x / (x + y);
}

/* ---- logs ------------------------------------------------------------------------------------ */

/* A new block of new_bytes holding the first used_bytes of old (freed on success; kept on
 * failure). Blocks of 4 MiB or more are 2 MiB aligned and advised as transparent huge pages:
 * one page fault per 2 MiB instead of per 4 KiB, which on a virtual machine is most of the
 * system time of loading a large log (7,300 faults for a million rows). */
static void *grow(void *old, size_t used_bytes, size_t new_bytes)
{
    void *p;
    const size_t huge = (size_t)2 << 20;
    if (new_bytes >= 2 * huge) {
        size_t sz = (new_bytes + huge - 1) & ~(huge - 1);
        p = aligned_alloc(huge, sz);
        if (p) madvise(p, sz, MADV_HUGEPAGE);   /* advice only: failure changes nothing */
    } else {
        p = malloc(new_bytes ? new_bytes : 1);
    }
    if (!p) return NULL;
    if (used_bytes) memcpy(p, old, used_bytes);
    free(old);
    return p;
}

int mq__bandit_log_reserve(mq_bandit_log *l, int64_t cap)
{
    if (cap < 16) cap = 16;
    size_t n = (size_t)l->n, c = (size_t)cap, d = (size_t)l->dim;
    void *a = grow(l->action, n * 4, c * 4);
    if (!a) return MQ_ENOMEM;
    l->action = a;
    void *p = grow(l->position, n * 4, c * 4);
    if (!p) return MQ_ENOMEM;
    l->position = p;
    void *r = grow(l->reward, n * 8, c * 8);
    if (!r) return MQ_ENOMEM;
    l->reward = r;
    void *q = grow(l->propensity, n * 8, c * 8);
    if (!q) return MQ_ENOMEM;
    l->propensity = q;
    if (d > 0) {
        void *x = grow(l->x, n * d * 8, c * d * 8);
        if (!x) return MQ_ENOMEM;
        l->x = x;
    }
    return 0;
}

void mq_bandit_log_destroy(mq_bandit_log *l)
{
    if (!l) return;
    free(l->action);
    free(l->position);
    free(l->reward);
    free(l->propensity);
    free(l->x);
    free(l);
}

static bool field_is(const mq__field *f, const char *name)
{
    size_t n = strlen(name);
    return f->n == n && memcmp(f->p, name, n) == 0;
}

/* A non-negative integer field that may be written as "3" or "3.0". */
static bool int_field(const mq__field *f, int64_t *v)
{
    if (mq__ld_i64(f->p, f->n, v)) return true;
    double d;
    if (!mq__parse_f64(f->p, f->n, &d) || d != floor(d) || fabs(d) > 1e15) return false;
    *v = (int64_t)d;
    return true;
}

/* The log reader's state: the columns found in the header and the rows so far. */
typedef struct reader {
    mq__src s;               /* path, line and err for mq__ld_bad (no mapping: read() chunks) */
    mq_bandit_log *l;
    mq__field *f;
    int *xcol;
    bool obd, k_fixed;
    const char *want[4];
    int col[4], nh, need;
    int32_t K, max_pos, max_act;
    int64_t cap;
    size_t file_size;
    char prev[64];           /* last propensity field's bytes and value */
    size_t prev_n;
    double prev_v, prev_h;   /* ... and 1 / value */
    uint8_t *role;           /* [need]: what column j is (ROLE_*), for fast_rows */
    bool fast;               /* fast_rows may take rows */
    mq__ope_acc *acc;        /* scan mode (mq__bandit_log_scan): rows go here, not to arrays */
    bool allow_context;
    double *xrow;            /* scan mode: a row's context values (checked, then dropped) */
} reader;

enum { ROLE_SKIP, ROLE_ACT, ROLE_REW, ROLE_PROP, ROLE_POS, ROLE_X };   /* ROLE_X + k: x_k */

static int header(reader *R, const char *b, const char *e, size_t file_size)
{
    mq_err *err = R->s.err;
    const char *path = R->s.path;
    mq__field *f = R->f;
    int nh = mq__csv_split(b, e, f, MAXCOL);
    if (nh < 0 || nh > MAXCOL)
        return mq__err_set(err, MQ_EFORMAT, "%s:1: header: %s", path,
                           nh < 0 ? "unterminated quote" : "more than 4096 columns");
    const bool obd = R->obd;
    int n_aff = 0, dim = 0;
    for (int j = 0; j < nh; j++) {
        for (int k = 0; k < 4; k++)
            if (field_is(&f[j], R->want[k])) R->col[k] = j;
        if (obd && f[j].n > 19 && memcmp(f[j].p, "user-item_affinity_", 19) == 0) n_aff++;
        if (!obd && f[j].n >= 2 && f[j].p[0] == 'x') {
            uint64_t v;
            if (mq__ld_u64(f[j].p + 1, f[j].n - 1, &v)) R->xcol[dim++] = j;
        }
    }
    for (int k = 0; k < (obd ? 4 : 3); k++)
        if (R->col[k] < 0) return mq__err_set(err, MQ_EFORMAT, "%s:1: header: missing column '%s'", path, R->want[k]);
    int last = R->col[0];
    for (int k = 1; k < 4; k++) last = MQ_MAX(last, R->col[k]);
    for (int j = 0; j < dim; j++) last = MQ_MAX(last, R->xcol[j]);
    R->nh = nh;
    R->need = obd ? last + 1 : nh;   /* Marquee rows must have every column */
    if (!R->k_fixed && obd && n_aff > 0) { R->K = n_aff; R->k_fixed = true; }
    if (R->acc && dim > 0 && !R->allow_context) return MQ_EUNSUP;
    R->l->dim = dim;
    R->file_size = file_size;
    if (R->acc && dim > 0 && !(R->xrow = malloc((size_t)dim * sizeof *R->xrow)))
        return mq__err_set(err, MQ_ENOMEM, "out of memory");
    R->role = calloc((size_t)R->need, 1);
    if (!R->role) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    R->fast = dim <= 250;   /* roles fit a byte: wider logs take row() only */
    if (R->fast) {
        for (int k = 0; k < 4; k++)
            if (R->col[k] >= 0) R->role[R->col[k]] = (uint8_t)(k == 3 ? ROLE_POS : ROLE_ACT + k);
        for (int j = 0; j < dim; j++) R->role[R->xcol[j]] = (uint8_t)(ROLE_X + j);
    }
    return 0;
}

static int row(reader *R, const char *b, const char *e)
{
    mq__src *s = &R->s;
    mq_bandit_log *l = R->l;
    mq__field *f = R->f;
    if (b == e) return 0;   /* a blank line */
    int nf = mq__ld_split(b, e, ',', f, R->need);
    if (nf < R->need || (!R->obd && nf != R->nh))
        return mq__ld_bad(s, NULL, b, (size_t)(e - b), "expected %d fields, found %d", R->nh,
                          nf > R->need ? R->need + 1 : nf);
    if (!R->acc && l->n == R->cap) {
        /* First row: room for the file's size over this row's length (+10%), then doubling. */
        R->cap = R->cap ? 2 * R->cap : (int64_t)(R->file_size / (size_t)(e - b + 1) * 11 / 10) + 1024;
        if (mq__bandit_log_reserve(l, R->cap)) return mq__err_set(s->err, MQ_ENOMEM, "out of memory");
    }
    int64_t a, pos = 1;
    const mq__field *fa = &f[R->col[0]], *fr = &f[R->col[1]], *fp = &f[R->col[2]];
    if (!int_field(fa, &a) || a < 0 || (R->k_fixed && a >= R->K) || a > INT32_MAX - 1)
        return R->k_fixed ? mq__ld_bad(s, R->want[0], fa->p, fa->n, "is not an action of the catalog (0..%d)", R->K - 1)
                          : mq__ld_bad(s, R->want[0], fa->p, fa->n, "is not a non-negative integer");
    if (R->col[3] >= 0) {
        const mq__field *fq = &f[R->col[3]];
        if (!int_field(fq, &pos) || pos < 1 || pos > 1000)
            return mq__ld_bad(s, "position", fq->p, fq->n, "is not a position in 1..1000");
    }
    double r, q;
    if (!mq__parse_f64(fr->p, fr->n, &r)) return mq__ld_bad(s, R->want[1], fr->p, fr->n, "is not a finite number");
    if (R->prev_n > 0 && fp->n == R->prev_n && memcmp(fp->p, R->prev, R->prev_n) == 0) q = R->prev_v;
    else {
        if (!mq__parse_f64(fp->p, fp->n, &q) || !(q > 0 && q <= 1))
            return mq__ld_bad(s, R->want[2], fp->p, fp->n, "is not a probability in (0, 1]");
        if (fp->n < sizeof R->prev) {
            memcpy(R->prev, fp->p, fp->n);
            R->prev_n = fp->n;
            R->prev_v = q;
        }
    }
    int64_t i = l->n;
    const int dim = l->dim;
    double *x = R->acc ? R->xrow : l->x + i * dim;
    for (int j = 0; j < dim; j++) {
        const mq__field *fx = &f[R->xcol[j]];
        if (!mq__parse_f64(fx->p, fx->n, &x[j]))
            return mq__ld_bad(s, "context", fx->p, fx->n, "is not a finite number (column %d)", R->xcol[j] + 1);
    }
    if (R->acc) {
        if (mq__ope_acc_room(R->acc, (int32_t)a, (int32_t)pos - 1)) return mq__err_set(s->err, MQ_ENOMEM, "out of memory");
        mq__ope_acc_add(R->acc, (int32_t)a, (int32_t)pos - 1, r, q, 1.0 / q);
    } else {
        l->action[i] = (int32_t)a;
        l->position[i] = (int32_t)pos - 1;
        l->reward[i] = r;
        l->propensity[i] = q;
    }
    if (pos > R->max_pos) R->max_pos = (int32_t)pos;
    if (a > R->max_act) R->max_act = (int32_t)a;
    l->n++;
    return 0;
}

/* Are the k bytes at p those at s? Short keys (a propensity field) by overlapping 8-byte
 * words: a memcmp call costs more than the compare. */
static inline bool same_bytes(const char *p, const char *s, size_t k)
{
    if (k < 8 || k > 32) return memcmp(p, s, k) == 0;
    uint64_t x, y, acc = 0;
    for (size_t i = 0; i + 8 < k; i += 8) {
        memcpy(&x, p + i, 8);
        memcpy(&y, s + i, 8);
        acc |= x ^ y;
    }
    memcpy(&x, p + k - 8, 8);
    memcpy(&y, s + k - 8, 8);
    return (acc | (x ^ y)) == 0;
}

/* The rows of [p, end) (whole lines: end[-1] is '\n') without splitting them: each needed field
 * is scanned and converted in one step (core's mq__csv_uint_scan / mq__csv_num_scan, the
 * float parser's fast path), skipped fields by a byte loop, the rest of an OBD line by memchr.
 * Any row this does not take exactly as row() would (a blank line, "\r\n", quotes, a number
 * the fast path refuses, a value out of range, the wrong number of fields, a full array) is
 * handed to row(), which parses it again and accepts it or names its file:line: the values
 * and the messages are row()'s. Returns 0 or row()'s error. */
static int fast_rows(reader *R, const char *p, const char *end)
{
    mq_bandit_log *l = R->l;
    const uint8_t *role = R->role;
    const int need = R->need, dim = l->dim;
    const bool obd = R->obd;
    const uint32_t amax = R->k_fixed ? (uint32_t)R->K - 1 : (uint32_t)INT32_MAX - 1;
    int32_t max_pos = R->max_pos, max_act = R->max_act;
    int64_t n = l->n;
    while (p < end) {
        const char *b = p;
        uint32_t a = 0, pos = 1;
        double r = 0, q = 0, h = 0;
        mq__ope_acc *A = R->acc;
        double *x = A ? R->xrow : dim ? l->x + n * dim : NULL;
        bool ok = (A || n < R->cap) && R->fast;
        for (int j = 0; ok && j < need; j++) {
            const char *t;
            switch (role[j]) {
            case ROLE_SKIP:
                t = p;
                while (*t != ',' && *t != '\n') t++;
                break;
            case ROLE_ACT:
                t = mq__csv_uint_scan(p, end, &a);
                ok = t && a <= amax;
                break;
            case ROLE_POS:
                t = mq__csv_uint_scan(p, end, &pos);
                ok = t && pos >= 1 && pos <= 1000;
                break;
            case ROLE_REW:
                t = mq__csv_num_scan(p, end, &r);
                ok = t != NULL;
                break;
            case ROLE_PROP: {
                const size_t k = R->prev_n;
                if (k && (size_t)(end - p) > k && same_bytes(p, R->prev, k) && (p[k] == ',' || p[k] == '\n')) {
                    q = R->prev_v;
                    h = R->prev_h;
                    t = p + k;
                } else {
                    t = mq__csv_num_scan(p, end, &q);
                    ok = t && q > 0 && q <= 1;
                    h = 1.0 / q;
                    if (ok && (size_t)(t - p) < sizeof R->prev) {
                        memcpy(R->prev, p, (size_t)(t - p));
                        R->prev_n = (size_t)(t - p);
                        R->prev_v = q;
                        R->prev_h = h;
                    }
                }
                break;
            }
            default:
                t = mq__csv_num_scan(p, end, &x[role[j] - ROLE_X]);
                ok = t != NULL;
                break;
            }
            if (!ok) break;
            /* Fields 0..need-2 end at ','; the last at the line's end (Marquee: every column is
             * needed), or at ',' / the line's end (OBD: the rest is skipped). */
            if (j < need - 1) ok = *t == ',';
            else if (obd) ok = *t == ',' || *t == '\n';
            else ok = *t == '\n';
            p = t + 1;
        }
        if (ok && b[0] != '\n') {
            if (obd && p[-1] != '\n') p = (const char *)memchr(p, '\n', (size_t)(end - p)) + 1;
            if (A) {
                if (((int32_t)a >= A->Kcap || (int32_t)pos > A->Lcap) && mq__ope_acc_room(A, (int32_t)a, (int32_t)pos - 1))
                    return mq__err_set(R->s.err, MQ_ENOMEM, "out of memory");
                mq__ope_acc_add(A, (int32_t)a, (int32_t)pos - 1, r, q, h);
            } else {
                l->action[n] = (int32_t)a;
                l->position[n] = (int32_t)pos - 1;
                l->reward[n] = r;
                l->propensity[n] = q;
            }
            if ((int32_t)pos > max_pos) max_pos = (int32_t)pos;
            if ((int32_t)a > max_act) max_act = (int32_t)a;
            n++;
            R->s.line++;
            continue;
        }
        /* The slow path for this line. */
        l->n = n;
        R->max_pos = max_pos;
        R->max_act = max_act;
        const char *nl = memchr(b, '\n', (size_t)(end - b));
        const char *le = nl > b && nl[-1] == '\r' ? nl - 1 : nl;
        R->s.line++;
        int rc = row(R, b, le);
        if (rc) return rc;
        n = l->n;
        max_pos = R->max_pos;
        max_act = R->max_act;
        p = nl + 1;
    }
    l->n = n;
    R->max_pos = max_pos;
    R->max_act = max_act;
    return 0;
}

/* Lines of the file in 4 MiB read() chunks: a page-cached chunk is scanned while it is in the
 * CPU cache (mapping the whole file instead costs a page fault per 64 KiB and cache misses in
 * the line search: 2-3x slower on OBD's 330-byte rows). */
static int load(const char *path, int format, int32_t n_actions, mq__ope_acc *acc, bool allow_context,
                mq_bandit_log **out, mq_err *err)
{
    *out = NULL;
    if (format != MQ_BANDIT_FMT_MARQUEE && format != MQ_BANDIT_FMT_OBD)
        return mq__err_set(err, MQ_EINVAL, "unknown bandit log format %d", format);
    reader R;
    memset(&R, 0, sizeof R);
    R.s.path = path;
    R.s.err = err;
    R.obd = format == MQ_BANDIT_FMT_OBD;
    R.want[0] = R.obd ? "item_id" : "action";
    R.want[1] = R.obd ? "click" : "reward";
    R.want[2] = R.obd ? "propensity_score" : "propensity";
    R.want[3] = "position";
    for (int k = 0; k < 4; k++) R.col[k] = -1;
    R.K = n_actions;
    R.k_fixed = n_actions > 0;
    R.acc = acc;
    R.allow_context = allow_context;
    R.max_act = -1;
    size_t bcap = (size_t)4 << 20, have = 0;
    char *buf = NULL;
    int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mq__err_set(err, errno == ENOENT ? MQ_ENOTFOUND : MQ_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) st.st_size = 0;
    R.l = calloc(1, sizeof *R.l);
    R.f = malloc(MAXCOL * sizeof *R.f);
    R.xcol = malloc(MAXCOL * sizeof *R.xcol);
    buf = grow(NULL, 0, bcap);
    if (!R.l || !R.f || !R.xcol || !buf) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
    bool eof = false, first = true;
    while (!eof) {
        ssize_t k = read(fd, buf + have, bcap - have);
        if (k < 0) {
            if (errno == EINTR) continue;
            rc = mq__err_set(err, MQ_EIO, "%s: read: %s", path, strerror(errno));
            goto done;
        }
        eof = k == 0;
        have += (size_t)k;
        char *p = buf, *end = buf + have;
        if (first && have >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
        if (first) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            if (nl) {
                const char *le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
                R.s.line++;
                if ((rc = header(&R, p, le, (size_t)st.st_size))) goto done;
                first = false;
                p = nl + 1;
            }
        }
        if (!first) {
            char *last = memrchr(p, '\n', (size_t)(end - p));
            if (last) {
                if ((rc = fast_rows(&R, p, last + 1))) goto done;
                p = last + 1;
            }
        }
        size_t rest = (size_t)(end - p);
        if (eof) {
            if (rest) {
                R.s.line++;
                rc = mq__ld_bad(&R.s, NULL, p, rest, "truncated last line (no newline at the end of the file)");
                goto done;
            }
            break;
        }
        if (rest == bcap) {   /* a line longer than the buffer */
            char *nb = grow(buf, bcap, bcap * 2);
            if (!nb) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
            buf = nb;
            bcap *= 2;
        } else if (p != buf) {
            memmove(buf, p, rest);
        }
        have = rest;
    }
    if (first) { rc = mq__err_set(err, MQ_EFORMAT, "%s: the file is empty", path); goto done; }
    if (R.l->n == 0) { rc = mq__err_set(err, MQ_EFORMAT, "%s: no logged rows", path); goto done; }
    R.l->n_actions = R.k_fixed ? R.K : R.max_act + 1;
    R.l->n_positions = R.max_pos;
done:
    close(fd);
    free(buf);
    free(R.f);
    free(R.xcol);
    free(R.role);
    free(R.xrow);
    if (rc) mq_bandit_log_destroy(R.l);
    else *out = R.l;
    return rc;
}

int mq_bandit_log_load(const char *path, int format, int32_t n_actions, mq_bandit_log **out,
                       mq_err *err)
{
    return load(path, format, n_actions, NULL, false, out, err);
}

int mq__bandit_log_scan(const char *path, int format, int32_t n_actions, bool allow_context,
                        mq__ope_acc *A, int64_t *n, int32_t *K, int32_t *L, mq_err *err)
{
    mq_bandit_log *l;
    int rc = load(path, format, n_actions, A, allow_context, &l, err);
    if (rc) return rc;
    *n = l->n;
    *K = l->n_actions;
    *L = l->n_positions;
    mq_bandit_log_destroy(l);
    return 0;
}

int mq__ope_acc_room(mq__ope_acc *A, int32_t a, int32_t p)
{
    if (!A->Sf && !(A->Sf = calloc((size_t)A->F, sizeof *A->Sf))) return MQ_ENOMEM;
    int32_t K2 = A->Kcap, L2 = A->Lcap ? A->Lcap : 4;
    while (a >= K2) K2 = K2 ? 2 * K2 : 64;
    while (p >= L2) L2 *= 2;
    if (K2 == A->Kcap && L2 == A->Lcap) return 0;
    const size_t F = (size_t)A->F;
    mq__ope_cell *c = calloc((size_t)K2 * F * (size_t)L2, sizeof *c);
    if (!c) return MQ_ENOMEM;
    for (size_t k = 0; k < (size_t)A->Kcap; k++)   /* [K][F][L] keeps its cells at the new strides */
        for (size_t f = 0; f < F; f++)
            memcpy(c + (k * F + f) * (size_t)L2, A->c + (k * F + f) * (size_t)A->Lcap, (size_t)A->Lcap * sizeof *c);
    free(A->c);
    A->c = c;
    A->Kcap = K2;
    A->Lcap = L2;
    return 0;
}

void mq__ope_acc_free(mq__ope_acc *A)
{
    free(A->c);
    free(A->Sf);
    memset(A, 0, sizeof *A);
}


/* ---- distributions ------------------------------------------------------------------------- */

void mq_bandit_dist_destroy(mq_bandit_dist *d)
{
    if (!d) return;
    free(d->p);
    free(d);
}

typedef struct dentry { int64_t row; int32_t a, pos; double p; int64_t line; } dentry;

int mq_bandit_dist_load(const char *path, int32_t n_actions, mq_bandit_dist **out, mq_err *err)
{
    *out = NULL;
    mq__src s;
    int rc = mq__ld_open(&s, path, NULL, err);
    if (rc) return rc;
    mq__field f[64];
    dentry *v = NULL;
    size_t nv = 0, cv = 0;
    mq_bandit_dist *d = calloc(1, sizeof *d);
    uint8_t *seen = NULL;
    if (!d) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
    const char *b, *e;
    rc = mq__ld_next(&s, &b, &e);
    if (rc != 1) {
        if (rc == 0) rc = mq__err_set(err, MQ_EFORMAT, "%s: no header line", path);
        goto fail;
    }
    int nh = mq__csv_split(b, e, f, 64);
    int c_row = -1, c_act = -1, c_pos = -1, c_p = -1;
    for (int j = 0; j < nh && j < 64; j++) {
        if (field_is(&f[j], "row")) c_row = j;
        else if (field_is(&f[j], "item") || field_is(&f[j], "action") || field_is(&f[j], "item_id")) c_act = j;
        else if (field_is(&f[j], "position")) c_pos = j;
        else if (field_is(&f[j], "probability")) c_p = j;
    }
    if (nh < 0 || nh > 64 || c_act < 0 || c_p < 0) {
        rc = mq__err_set(err, MQ_EFORMAT, "%s:1: header: need columns item (or action) and "
                         "probability, with position or row", path);
        goto fail;
    }
    if (c_row >= 0 && c_pos >= 0) {
        rc = mq__err_set(err, MQ_EFORMAT, "%s:1: header: a per-row distribution has no position "
                         "column (the row's logged position is used)", path);
        goto fail;
    }
    int64_t max_row = -1;
    int32_t max_a = -1, max_pos = 1;
    while ((rc = mq__ld_next(&s, &b, &e)) != 0) {
        if (rc < 0) goto fail;
        if (rc == 2 || b == e) continue;
        int nf = mq__ld_split(b, e, ',', f, 64);
        if (nf != nh) {
            rc = mq__ld_bad(&s, NULL, b, (size_t)(e - b), "expected %d fields, found %d", nh, nf);
            goto fail;
        }
        dentry x = {0, 0, 1, 0, s.line};
        int64_t t;
        if (!int_field(&f[c_act], &t) || t < 0 || (n_actions > 0 && t >= n_actions) || t > 1 << 30) {
            rc = n_actions > 0 ? mq__ld_bad(&s, "item", f[c_act].p, f[c_act].n,
                                            "is not an action of the catalog (0..%d)", n_actions - 1)
                               : mq__ld_bad(&s, "item", f[c_act].p, f[c_act].n, "is not a non-negative integer");
            goto fail;
        }
        x.a = (int32_t)t;
        if (c_pos >= 0) {
            if (!int_field(&f[c_pos], &t) || t < 1 || t > 1000) {
                rc = mq__ld_bad(&s, "position", f[c_pos].p, f[c_pos].n, "is not a position in 1..1000");
                goto fail;
            }
            x.pos = (int32_t)t;
        }
        if (c_row >= 0) {
            if (!int_field(&f[c_row], &t) || t < 0 || t > ((int64_t)1 << 40)) {
                rc = mq__ld_bad(&s, "row", f[c_row].p, f[c_row].n, "is not a row number (0-based)");
                goto fail;
            }
            x.row = t;
        }
        if (!mq__parse_f64(f[c_p].p, f[c_p].n, &x.p) || x.p < 0 || x.p > 1) {
            rc = mq__ld_bad(&s, "probability", f[c_p].p, f[c_p].n, "is not a probability in [0, 1]");
            goto fail;
        }
        if (nv == cv) {
            cv = cv ? 2 * cv : 1024;
            dentry *nvp = realloc(v, cv * sizeof *v);
            if (!nvp) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
            v = nvp;
        }
        v[nv++] = x;
        if (x.row > max_row) max_row = x.row;
        if (x.a > max_a) max_a = x.a;
        if (x.pos > max_pos) max_pos = x.pos;
    }
    if (nv == 0) { rc = mq__err_set(err, MQ_EFORMAT, "%s: no probabilities", path); goto fail; }
    d->n_actions = n_actions > 0 ? n_actions : max_a + 1;
    d->n_positions = c_row >= 0 ? 1 : max_pos;
    d->n_rows = c_row >= 0 ? max_row + 1 : 0;
    int64_t groups = c_row >= 0 ? d->n_rows : d->n_positions;
    size_t cells = (size_t)groups * (size_t)d->n_actions;
    d->p = calloc(cells, sizeof *d->p);
    seen = calloc(cells, 1);
    if (!d->p || !seen) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
    for (size_t i = 0; i < nv; i++) {
        int64_t g = c_row >= 0 ? v[i].row : v[i].pos - 1;
        size_t cell = (size_t)g * (size_t)d->n_actions + (size_t)v[i].a;
        if (seen[cell]) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s:%lld: duplicate probability for action %d %s %lld",
                             path, (long long)v[i].line, v[i].a, c_row >= 0 ? "at row" : "at position",
                             (long long)(c_row >= 0 ? v[i].row : v[i].pos));
            goto fail;
        }
        seen[cell] = 1;
        d->p[cell] = v[i].p;
    }
    for (int64_t g = 0; g < groups; g++) {
        double sum = 0;
        for (int32_t a = 0; a < d->n_actions; a++) sum += d->p[(size_t)g * (size_t)d->n_actions + (size_t)a];
        if (fabs(sum - 1) > 1e-6) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s: the probabilities of %s %lld sum to %.9g, not 1",
                             path, c_row >= 0 ? "row" : "position", (long long)(c_row >= 0 ? g : g + 1), sum);
            goto fail;
        }
    }
    free(v);
    free(seen);
    mq__ld_close(&s);
    *out = d;
    return 0;
fail:
    free(v);
    free(seen);
    mq__ld_close(&s);
    mq_bandit_dist_destroy(d);
    return rc;
}

int mq_bandit_dist_save(const mq_bandit_dist *d, const char *path, mq_err *err)
{
    mq_buf b;
    mq_buf_init(&b);
    if (d->n_rows > 0) {
        mq_buf_puts(&b, "row,action,probability\n");
        for (int64_t i = 0; i < d->n_rows; i++)
            for (int32_t a = 0; a < d->n_actions; a++)
                mq_buf_printf(&b, "%lld,%d,%.17g\n", (long long)i, a, d->p[i * d->n_actions + a]);
    } else {
        mq_buf_puts(&b, "item,position,probability\n");
        for (int32_t j = 0; j < d->n_positions; j++)
            for (int32_t a = 0; a < d->n_actions; a++)
                mq_buf_printf(&b, "%d,%d,%.17g\n", a, j + 1, d->p[(size_t)j * d->n_actions + a]);
    }
    int rc = b.oom ? mq__err_set(err, MQ_ENOMEM, "out of memory")
                   : mq__write_file_atomic(path, b.p, b.len, err);
    mq_buf_release(&b);
    return rc;
}

/* ---- OBD's Bernoulli TS ------------------------------------------------------------------------ */

/* Reads the alpha and beta lists of one campaign from prior_bts.yaml: top-level "name:" keys,
 * then "  alpha:" / "  beta:" and "    - number" items (the file's whole YAML subset). */
static int read_prior(const char *path, const char *campaign, double **alpha, double **beta,
                      int32_t *k, mq_err *err)
{
    mq__src s;
    int rc = mq__ld_open(&s, path, NULL, err);
    if (rc) return rc;
    double *lists[2] = {NULL, NULL};
    int32_t counts[2] = {0, 0}, caps[2] = {0, 0};
    bool in_campaign = false, found = false;
    int which = -1;
    const char *b, *e;
    while ((rc = mq__ld_next(&s, &b, &e)) != 0) {
        if (rc < 0) goto fail;
        if (rc == 2) continue;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
        if (b == e || *b == '#') continue;
        if (*b != ' ' && *b != '-') {
            size_t n = (size_t)(e - b);
            in_campaign = n == strlen(campaign) + 1 && memcmp(b, campaign, n - 1) == 0 && b[n - 1] == ':';
            found |= in_campaign;
            which = -1;
            continue;
        }
        if (!in_campaign) continue;
        const char *p = b;
        while (p < e && *p == ' ') p++;
        if ((size_t)(e - p) == 6 && memcmp(p, "alpha:", 6) == 0) { which = 0; continue; }
        if ((size_t)(e - p) == 5 && memcmp(p, "beta:", 5) == 0) { which = 1; continue; }
        if (p < e && *p == '-' && which >= 0) {
            p++;
            while (p < e && *p == ' ') p++;
            double x;
            if (!mq__parse_f64(p, (size_t)(e - p), &x) || !(x > 0)) {
                rc = mq__ld_bad(&s, which ? "beta" : "alpha", p, (size_t)(e - p), "is not a positive number");
                goto fail;
            }
            if (counts[which] == caps[which]) {
                caps[which] = caps[which] ? 2 * caps[which] : 64;
                double *n2 = realloc(lists[which], (size_t)caps[which] * sizeof *n2);
                if (!n2) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
                lists[which] = n2;
            }
            lists[which][counts[which]++] = x;
            continue;
        }
        rc = mq__ld_bad(&s, NULL, b, (size_t)(e - b), "unexpected line in campaign '%s'", campaign);
        goto fail;
    }
    if (!found || counts[0] == 0 || counts[0] != counts[1]) {
        rc = !found ? mq__err_set(err, MQ_ENOTFOUND, "%s: no campaign '%s'", path, campaign)
                    : mq__err_set(err, MQ_EFORMAT, "%s: campaign '%s' has %d alpha and %d beta values",
                                  path, campaign, counts[0], counts[1]);
        goto fail;
    }
    mq__ld_close(&s);
    *alpha = lists[0];
    *beta = lists[1];
    *k = counts[0];
    return 0;
fail:
    mq__ld_close(&s);
    free(lists[0]);
    free(lists[1]);
    return rc;
}

int mq_bandit_bts_dist(const char *yaml_path, const char *campaign, int32_t n_positions,
                       int64_t draws, uint64_t seed, mq_bandit_dist **out, mq_err *err)
{
    *out = NULL;
    if (draws < 1 || n_positions < 1)
        return mq__err_set(err, MQ_EINVAL, "BTS Monte Carlo: need draws >= 1 and positions >= 1");
    double *alpha = NULL, *beta = NULL;
    int32_t k = 0;
    int rc = read_prior(yaml_path, campaign, &alpha, &beta, &k, err);
    if (rc) return rc;
    if (n_positions > k) n_positions = k;
    mq_bandit_dist *d = calloc(1, sizeof *d);
    double *theta = malloc((size_t)k * sizeof *theta);
    int64_t *count = calloc((size_t)k * (size_t)n_positions, sizeof *count);
    if (!d || !theta || !count) {
        rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
        goto done;
    }
    d->n_actions = k;
    d->n_positions = n_positions;
    d->p = malloc((size_t)k * (size_t)n_positions * sizeof *d->p);
    if (!d->p) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
    mq_rng rng;
    mq_rng_seed(&rng, seed);
    for (int64_t t = 0; t < draws; t++) {
        for (int32_t a = 0; a < k; a++) theta[a] = mq__bandit_beta(&rng, alpha[a], beta[a]);
        /* The top n_positions items by sampled CTR, in order (n_positions passes of argmax). */
        for (int32_t j = 0; j < n_positions; j++) {
            int32_t best = 0;
            for (int32_t a = 1; a < k; a++)
                if (theta[a] > theta[best]) best = a;
            count[(size_t)j * k + best]++;
            theta[best] = -1;
        }
    }
    for (size_t i = 0; i < (size_t)k * (size_t)n_positions; i++) d->p[i] = (double)count[i] / (double)draws;
done:
    free(alpha);
    free(beta);
    free(theta);
    free(count);
    if (rc) mq_bandit_dist_destroy(d);
    else *out = d;
    return rc;
}
