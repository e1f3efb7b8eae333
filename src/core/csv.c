/* csv.c: the one CSV field scanner and decimal parser of the library, shared by the data
 * loaders (src/data), the experiment analysis (src/xp) and the trace reader (src/abr).
 *
 * Fields follow RFC 4180: a field may be quoted, a doubled quote inside quotes stands for one
 * quote (the field keeps its bytes as written and is flagged esc, so the caller decides whether
 * to undo the escapes), a quote that is not closed or text after a closing quote is malformed.
 * mq__csv_field (core.h, inline: it runs once per field of every row) scans one field;
 * mq__csv_split splits a whole line.
 *
 * Numbers: mq__parse_f64 reads a whole field as a finite decimal with an optional exponent. Up
 * to 19 significant digits with a decimal exponent of at most 22 are converted exactly with one
 * rounding (Clinger 1990: the mantissa and 10^|e| are both representable, so m * 10^e or
 * m / 10^e is correctly rounded); anything longer goes to strtod. mq__csv_num_fast (core.h,
 * inline) is the same fast path fused with the field scan for plain decimals ending at ','.
 */
#include "core/core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const double mq__pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                              1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int mq__csv_split(const char *b, const char *e, mq__field *f, int max)
{
    int k = 0;
    const char *p = b;
    for (;;) {
        if (k == max) return max + 1;
        const char *q = mq__csv_field(p, e, &f[k]);
        if (!q) return -1;
        k++;
        if (q == e) return k;
        p = q + 1;   /* past the ','; a ',' at the end is followed by one empty field */
    }
}

bool mq__parse_f64(const char *p, size_t n, double *v)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (p[i] == '-' || p[i] == '+')) { neg = p[i] == '-'; i++; }
    uint64_t m = 0;
    int digits = 0, frac = 0;
    bool any = false;
    while (i < n && (unsigned)(p[i] - '0') <= 9) {
        if (digits < 19) { m = m * 10 + (uint64_t)(p[i] - '0'); if (m) digits++; }
        else frac--;   /* dropped integer digit: scale up */
        any = true;
        i++;
    }
    if (i < n && p[i] == '.') {
        i++;
        while (i < n && (unsigned)(p[i] - '0') <= 9) {
            if (digits < 19) { m = m * 10 + (uint64_t)(p[i] - '0'); if (m) digits++; frac++; }
            any = true;
            i++;
        }
    }
    if (!any) return false;
    int ex = 0;
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (p[i] == '-' || p[i] == '+')) { eneg = p[i] == '-'; i++; }
        if (i >= n) return false;
        while (i < n && (unsigned)(p[i] - '0') <= 9) {
            if (ex < 10000) ex = ex * 10 + (p[i] - '0');
            i++;
        }
        if (eneg) ex = -ex;
    }
    if (i != n) return false;
    int e10 = ex - frac;
    double x;
    if (m < (1ULL << 53) && e10 >= -22 && e10 <= 22) {
        /* Exact: both m and 10^|e10| are representable, so one rounding (Clinger's fast path). */
        x = e10 >= 0 ? (double)m * mq__pow10[e10] : (double)m / mq__pow10[-e10];
    } else {
        char buf[96];
        if (n >= sizeof buf) return false;
        memcpy(buf, p, n);
        buf[n] = 0;
        char *end;
        errno = 0;
        x = strtod(buf, &end);
        if (*end || errno == ERANGE) return false;
        neg = false;
    }
    if (!isfinite(x)) return false;
    *v = neg ? -x : x;
    return true;
}
