/* csv.c: the one CSV field scanner and decimal parser of the library, shared by the data
 * loaders (src/data), the experiment analysis (src/xp) and the trace reader (src/abr).
 *
 * Fields follow RFC 4180: a field may be quoted, a doubled quote inside quotes stands for one
 * quote (the field keeps its bytes as written and is flagged esc, so the caller decides whether
 * to undo the escapes), a quote that is not closed or text after a closing quote is malformed.
 * mq__csv_field (core.h, inline: it runs once per field of every row) scans one field;
 * mq__csv_split splits a whole line.
 *
 * Numbers: mq__parse_f64 reads a whole field as a finite decimal with an optional exponent.
 * A mantissa m below 2^53 with a decimal exponent of at most 22 is converted exactly with one
 * rounding (Clinger 1990: m and 10^|e| are both doubles, so m * 10^e or m / 10^e is correctly
 * rounded). Up to 19 significant digits (m < 2^64) and |e| <= 27 go through x87 extended
 * precision (mq__dec_wide): m and 10^|e| (5^27 < 2^64) are exact there, so x = m * 10^e or
 * m / 10^e is the true value t rounded once to 64 bits; rounding x to 53 bits then gives t's
 * correctly rounded double unless x lies exactly halfway between two doubles (its low 11 bits
 * are 10000000000): every such midpoint is a 64-bit number, so t and x lie on the same side of
 * each of them. That one case, longer mantissas and larger exponents go to strtod. This is
 * what a 17-significant-digit propensity ("%.17g", or 0.029411764705882353) needs: strtod
 * costs ~100 ns, this ~5 ns. mq__csv_num_scan (core.h, inline) is the fast path fused with the
 * field scan (eight digits at a time), mq__csv_num_fast the same for a field ending at ','.
 */
#include "core/core.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const double mq__pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                              1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#if defined(__x86_64__) && LDBL_MANT_DIG == 64
static const long double POW10L[28] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,  1e10L, 1e11L, 1e12L, 1e13L,
    1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
#endif

bool mq__dec_wide(uint64_t m, int e10, double *v)
{
#if defined(__x86_64__) && LDBL_MANT_DIG == 64
    if (e10 < -27 || e10 > 27) return false;
    if (m == 0) { *v = 0; return true; }
    long double x = e10 >= 0 ? (long double)m * POW10L[e10] : (long double)m / POW10L[-e10];
    uint64_t sig;   /* x87 extended: the 64-bit significand (explicit leading 1) comes first */
    memcpy(&sig, &x, sizeof sig);
    if ((sig & 0x7FF) == 0x400) return false;   /* exactly halfway between two doubles */
    *v = (double)x;   /* 1e-27 <= x < 1e47: normal as a double, no double-rounding at subnormals */
    return true;
#else
    (void)m;
    (void)e10;
    (void)v;
    return false;
#endif
}

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
    bool any = false, cut = false;
    while (i < n && (unsigned)(p[i] - '0') <= 9) {
        if (digits < 19) { m = m * 10 + (uint64_t)(p[i] - '0'); if (m) digits++; }
        else { frac--; cut = true; }   /* dropped integer digit: scale up */
        any = true;
        i++;
    }
    if (i < n && p[i] == '.') {
        i++;
        while (i < n && (unsigned)(p[i] - '0') <= 9) {
            if (digits < 19) { m = m * 10 + (uint64_t)(p[i] - '0'); if (m) digits++; frac++; }
            else cut = true;
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
    if (!cut && mq__dec_to_f64(m, e10, &x)) {
        /* m exact: Clinger's path or extended precision (above). */
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
