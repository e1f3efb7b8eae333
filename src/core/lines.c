/* lines.c: the line reader and field helpers every file parser shares (data loaders, bandit
 * logs): a source file mapped read-only and walked line by line with memchr ("\n" or "\r\n"
 * ends a line), UTF-8 checked once per file with a fast ASCII scan (line by line only when the
 * file fails it), bad rows reported as "file:line: field 'x': 'text' problem" with
 * non-printable bytes escaped, or skipped and counted under mq_load_opts.skip_bad_rows; field
 * splitters on one delimiter or "::", and whole-string integer parsers.
 *
 * Not thread-safe per source; separate sources are independent.
 */
#include "core/core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- source files and rows ---------------------------------------------------------------- */

/* Offset of the first byte that is not valid UTF-8, or n. Fast path: 8 ASCII bytes at a time. */
static size_t utf8_bad_offset(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        while (i + 8 <= n) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            if (v & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= n) break;
        if (p[i] < 0x80) { i++; continue; }
        /* Find the length of the multi-byte run and validate it with the shared checker. */
        size_t k = p[i] >= 0xF0 ? 4 : p[i] >= 0xE0 ? 3 : 2;
        if (i + k > n || !mq__utf8_valid((const char *)p + i, k) || p[i] < 0xC2 || p[i] > 0xF4) return i;
        i += k;
    }
    return n;
}

int mq__ld_open(mq__src *s, const char *path, mq_load_opts *opts, mq_err *err)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->opts = opts;
    s->err = err;
    const void *data;
    size_t len;
    int rc = mq__file_map(path, &data, &len, err);
    if (rc) return rc;
    if (len == 0) return mq__err_set(err, MQ_EFORMAT, "%s: the file is empty", path);
    s->data = data;
    s->len = len;
    s->p = data;
    /* A UTF-8 byte-order mark (spreadsheet exports) is not part of the first field. */
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) s->p += 3;
    s->utf8_per_line = utf8_bad_offset(data, len) != len;
    return 0;
}

void mq__ld_close(mq__src *s)
{
    if (s->data) mq__file_unmap(s->data, s->len);
    s->data = NULL;
}

/* Writes a printable rendering of text (at most ~60 bytes; other bytes as \xNN) into out. */
void mq__render_text(char *out, size_t cap, const char *text, size_t n)
{
    /* core's mq__printable (the one byte escaper), on at most the first 60 bytes */
    bool cut = n > 60;
    mq__printable(text, cut ? 60 : n, out, cap);
    size_t o = strlen(out);
    if (cut && o + 4 <= cap) memcpy(out + o, "...", 4);
}

int mq__ld_bad(mq__src *s, const char *field, const char *text, size_t n, const char *fmt, ...)
{
    char what[200], shown[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    mq_buf b;   /* the whole message; cut to fit where it is stored (mq_err, first_bad) */
    mq_buf_init(&b);
    if (field) {
        mq__render_text(shown, sizeof shown, text, n);
        mq_buf_printf(&b, "%s:%lld: field '%s': '%s' %s", s->path, (long long)s->line, field, shown,
                      what);
    } else if (text) {
        mq__render_text(shown, sizeof shown, text, n);
        mq_buf_printf(&b, "%s:%lld: %s: '%s'", s->path, (long long)s->line, what, shown);
    } else {
        mq_buf_printf(&b, "%s:%lld: %s", s->path, (long long)s->line, what);
    }
    const char *msg = b.oom ? what : mq_buf_cstr(&b);
    int rc = 0;
    if (s->opts && s->opts->skip_bad_rows) {
        int64_t k = s->opts->n_bad_rows++;
        if (k < 5) {
            size_t m = MQ_MIN(strlen(msg), sizeof s->opts->first_bad[k] - 1);
            memcpy(s->opts->first_bad[k], msg, m);
            s->opts->first_bad[k][m] = 0;
        }
    } else {
        rc = mq__err_set(s->err, MQ_EFORMAT, "%s", msg);
    }
    mq_buf_release(&b);
    return rc;
}

int mq__ld_next(mq__src *s, const char **b, const char **e)
{
    const char *end = s->data + s->len;
    if (!s->data || s->p >= end) return 0;
    const char *ls = s->p;
    const char *nl = memchr(ls, '\n', (size_t)(end - ls));
    s->line++;
    bool truncated = nl == NULL;
    const char *le = nl ? nl : end;
    s->p = nl ? nl + 1 : end;
    if (le > ls && le[-1] == '\r') le--;
    *b = ls;
    *e = le;
    if (truncated) {
        int rc = mq__ld_bad(s, NULL, ls, (size_t)(le - ls),
                            "truncated last line (no newline at the end of the file)");
        return rc ? rc : 2;
    }
    if (s->utf8_per_line) {
        size_t off = utf8_bad_offset(ls, (size_t)(le - ls));
        if (off != (size_t)(le - ls)) {
            /* Name the field holding the bad byte: count separators before it. */
            int col = 0;
            for (const char *q = ls; q < ls + off; q++) col += *q == ',' || *q == '\t' || *q == '|';
            char fname[64];
            if (s->cols && col < s->n_cols) snprintf(fname, sizeof fname, "%s", s->cols[col]);
            else snprintf(fname, sizeof fname, "#%d", col + 1);
            const char *fs = ls + off;
            while (fs > ls && fs[-1] != ',' && fs[-1] != '\t' && fs[-1] != '|') fs--;
            const char *fe = ls + off;
            while (fe < le && *fe != ',' && *fe != '\t' && *fe != '|') fe++;
            int rc = mq__ld_bad(s, fname, fs, (size_t)(fe - fs), "is not valid UTF-8 (byte %zu of the line)", off + 1);
            return rc ? rc : 2;
        }
    }
    return 1;
}

int mq__ld_split(const char *b, const char *e, char delim, mq__field *f, int max)
{
    int k = 0;
    const char *p = b;
    for (;;) {
        /* Fields are short: a byte loop beats a memchr call per field. */
        const char *q = p;
        while (q < e && *q != delim) q++;
        if (k == max) return max + 1;
        f[k].p = p;
        f[k].esc = false;
        f[k].n = (size_t)(q - p);
        k++;
        if (q == e) return k;
        p = q + 1;
    }
}

int mq__ld_split2(const char *b, const char *e, mq__field *f, int max)
{
    int k = 0;
    const char *p = b;
    for (;;) {
        const char *q = p;
        while (q + 1 < e && !(q[0] == ':' && q[1] == ':')) q++;
        bool found = q + 1 < e;
        if (k == max) return max + 1;
        f[k].p = p;
        f[k].esc = false;
        f[k].n = (size_t)((found ? q : e) - p);
        k++;
        if (!found) return k;
        p = q + 2;
    }
}

char *mq__ld_strdup(const mq__field *f, bool latin1_ok)
{
    bool utf8 = mq__utf8_valid(f->p, f->n);
    size_t cap = (utf8 || !latin1_ok) ? f->n + 1 : 2 * f->n + 1;
    char *s = malloc(cap), *o = s;
    if (!s) return NULL;
    for (size_t i = 0; i < f->n; i++) {
        unsigned char c = (unsigned char)f->p[i];
        if (f->esc && c == '"' && i + 1 < f->n && f->p[i + 1] == '"') i++;
        if (!utf8 && latin1_ok && c >= 0x80) {
            *o++ = (char)(0xC0 | (c >> 6));
            *o++ = (char)(0x80 | (c & 0x3F));
        } else {
            *o++ = (char)c;
        }
    }
    *o = 0;
    return s;
}

/* ---- numbers ------------------------------------------------------------------------------ */

bool mq__ld_u64(const char *p, size_t n, uint64_t *v)
{
    if (n == 0 || n > 20) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)p[i] - '0';
        if (d > 9) return false;
        /* Up to 19 digits cannot overflow; only the 20th needs the check. */
        if (i == 19 && x > (UINT64_MAX - d) / 10) return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

bool mq__ld_i64(const char *p, size_t n, int64_t *v)
{
    bool neg = n > 0 && p[0] == '-';
    uint64_t u;
    if (!mq__ld_u64(p + neg, n - neg, &u) || u > (uint64_t)INT64_MAX) return false;
    *v = neg ? -(int64_t)u : (int64_t)u;
    return true;
}
