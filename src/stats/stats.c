/* stats.c: the distributions behind marquee's experimentation statistics.
 *
 * Written once and checked against scipy.stats (tests/stats/test_stats.c, tests/ref/xp_stats.py).
 * Everything is pure and thread-safe; no state, no allocation except in the multiple-testing
 * helpers (a sort permutation).
 *
 * - Normal: Phi(x) = erfc(-x / sqrt 2) / 2 from libm (glibc's erfc is accurate to ~1 ulp, and
 *   the erfc form keeps the far tails relative-accurate); the quantile is Wichura's algorithm
 *   AS 241 (PPND16, Applied Statistics 37, 1988), relative accuracy about 1e-16.
 * - Incomplete beta I_x(a, b): the continued fraction of Numerical Recipes 3rd ed. sec. 6.4
 *   (modified Lentz), evaluated on the side where it converges quickly and reflected with
 *   I_x(a, b) = 1 - I_{1-x}(b, a). The prefactor x^a (1-x)^b / (a B(a, b)) uses a log-beta
 *   computed with Stirling's series differences when an argument is large, so the t
 *   distribution stays accurate for the large, fractional df of Welch's test.
 *   Student t: P(T > t) = I_{df/(df+t^2)}(df/2, 1/2) / 2 for t > 0, with x and 1 - x
 *   formed separately (df/(df+t^2), t^2/(df+t^2)) so neither loses digits.
 * - Incomplete gamma P(a, x), Q(a, x): series for x < a + 1, continued fraction otherwise
 *   (Numerical Recipes sec. 6.2); chi-square with k df is P(k/2, x/2).
 * - Quantiles of t: Newton's method on the cdf in the tail that keeps precision, bracketed by
 *   bisection, started from the normal quantile.
 * - Group-sequential crossing probabilities: recursive numerical integration of the random
 *   walk's sub-density over the continuation region (Armitage, McPherson & Rowe, JRSS A 132,
 *   1969), Simpson's rule on 401 points per look; bounds by bisection on the constant.
 *   Reproduces Pocock's 2.4132 and O'Brien-Fleming's 2.040 * sqrt(5/k) for K = 5 (Jennison &
 *   Turnbull, Group Sequential Methods, 2000, tables 2.1 and 2.3).
 */
#include "core/core.h"
#include <math.h>
#include <stdlib.h>

#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

double mq_stats_norm_pdf(double x) { return INV_SQRT_2PI * exp(-0.5 * x * x); }
double mq_stats_norm_cdf(double x) { return 0.5 * erfc(-x * SQRT1_2); }
double mq_stats_norm_sf(double x) { return 0.5 * erfc(x * SQRT1_2); }

double mq_stats_norm_ppf(double p)
{
    if (isnan(p) || p < 0 || p > 1) return NAN;
    if (p == 0) return -INFINITY;
    if (p == 1) return INFINITY;
    double q = p - 0.5, r, val;
    if (fabs(q) <= 0.425) {
        r = 0.180625 - q * q;
        val = q * (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r +
                        67265.770927008700853) * r + 45921.953931549871457) * r +
                      13731.693765509461125) * r + 1971.5909503065514427) * r +
                    133.14166789178437745) * r + 3.387132872796366608) /
              (((((((r * 5226.495278852545925 + 28729.085735721942674) * r +
                    39307.89580009271061) * r + 21213.794301586595867) * r +
                  5394.1960214247511077) * r + 687.1870074920579083) * r +
                42.313330701600911252) * r + 1.);
        return val;
    }
    r = q < 0 ? p : 1 - p;
    r = sqrt(-log(r));
    if (r <= 5) {
        r -= 1.6;
        val = (((((((r * 7.7454501427834140764e-4 + .0227238449892691845833) * r +
                    .24178072517745061177) * r + 1.27045825245236838258) * r +
                  3.64784832476320460504) * r + 5.7694972214606914055) * r +
                4.6303378461565452959) * r + 1.42343711074968357734) /
              (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r +
                    .0151986665636164571966) * r + .14810397642748007459) * r +
                  .68976733498510000455) * r + 1.6763848301838038494) * r +
                2.05319162663775882187) * r + 1.);
    } else {
        r -= 5;
        val = (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r +
                    .0012426609473880784386) * r + .026532189526576123093) * r +
                  .29656057182850489123) * r + 1.7848265399172913358) * r +
                5.4637849111641143699) * r + 6.6579046435011037772) /
              (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r +
                    1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r +
                  .0148753612908506148525) * r + .13692988092273580531) * r +
                .59983220655588793769) * r + 1.);
    }
    return q < 0 ? -val : val;
}

/* Stirling's series remainder: lgamma(x) - [(x - 1/2) log x - x + log(2 pi)/2], x >= 10. */
static double stirlerr(double x)
{
    double x2 = 1.0 / (x * x);
    return (1.0 / 12 - x2 * (1.0 / 360 - x2 * (1.0 / 1260 - x2 * (1.0 / 1680 - x2 / 1188)))) / x;
}

/* log B(a, b) without the cancellation of lgamma(a) + lgamma(b) - lgamma(a + b) when a or b
 * is large. */
static double lbeta(double a, double b)
{
    if (a > b) { double t = a; a = b; b = t; }   /* a <= b */
    if (b < 10) return lgamma(a) + lgamma(b) - lgamma(a + b);
    /* lgamma(b) - lgamma(a + b) by Stirling differences:
     * (b - 1/2) log b - (a + b - 1/2) log(a + b) + a + stirlerr(b) - stirlerr(a + b)
     * = -(b - 1/2) log1p(a / b) - a log(a + b) + a + ... */
    double d = -(b - 0.5) * log1p(a / b) - a * log(a + b) + a + stirlerr(b) - stirlerr(a + b);
    if (a < 10) return lgamma(a) + d;
    /* both large: lgamma(a) by Stirling as well */
    double la = (a - 0.5) * log(a) - a + 0.91893853320467274178 + stirlerr(a);
    return la + d;
}

/* Continued fraction for I_x(a, b) (NR 6.4.5), modified Lentz; y = 1 - x. */
static double betacf(double a, double b, double x)
{
    const double tiny = 1e-300, eps = 1e-16;
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 200000; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d; if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c; if (fabs(c) < tiny) c = tiny;
        d = 1 / d; h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d; if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c; if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < eps) break;
    }
    return h;
}

/* I_x(a, b) given x, y = 1 - x and their logarithms, all computed separately by the caller
 * so that a * log(x) keeps its digits when a is large and x is near 1. */
static double ibeta_full(double a, double b, double x, double y, double lx, double ly)
{
    if (x <= 0) return 0;
    if (y <= 0) return 1;
    double lfront = a * lx + b * ly - lbeta(a, b);
    if (x < (a + 1) / (a + b + 2)) return exp(lfront) * betacf(a, b, x) / a;
    return 1 - exp(lfront) * betacf(b, a, y) / b;
}

static double ibeta_xy(double a, double b, double x, double y)
{
    return ibeta_full(a, b, x, y, x < 0.5 ? log(x) : log1p(-y), y < 0.5 ? log(y) : log1p(-x));
}

double mq_stats_ibeta(double a, double b, double x)
{
    if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1)) return NAN;
    return ibeta_xy(a, b, x, 1 - x);
}

double mq_stats_t_sf(double t, double df)
{
    if (isnan(t) || !(df > 0)) return NAN;
    if (isinf(t)) return t > 0 ? 0 : 1;
    double t2 = t * t, x = df / (df + t2), y = t2 / (df + t2);
    double lx = -log1p(t2 / df), ly = log(y);
    if (t > 0) return 0.5 * ibeta_full(0.5 * df, 0.5, x, y, lx, ly);   /* P(T > t) = I_x/2 */
    /* P(T > t) for t <= 0 is 1 - I_x/2 = 1/2 + I_y(1/2, df/2)/2, the accurate side */
    return 0.5 + 0.5 * ibeta_full(0.5, 0.5 * df, y, x, ly, lx);
}

double mq_stats_t_cdf(double t, double df) { return mq_stats_t_sf(-t, df); }

static double t_pdf(double t, double df)
{
    return exp(-0.5 * (df + 1) * log1p(t * t / df) - 0.5 * log(df) - lbeta(0.5 * df, 0.5));
}

double mq_stats_t_ppf(double p, double df)
{
    if (isnan(p) || p < 0 || p > 1 || !(df > 0)) return NAN;
    if (p == 0) return -INFINITY;
    if (p == 1) return INFINITY;
    if (p == 0.5) return 0;
    /* solve sf(t) = q for t > 0 with q = min(p, 1 - p) in the upper tail, then reflect */
    double q = p < 0.5 ? p : 1 - p;
    double t = -mq_stats_norm_ppf(q);                  /* start: the normal quantile */
    if (df < 3) t = tan(M_PI * (0.5 - q));             /* heavy tails: Cauchy-like start */
    double lo = 0, hi = INFINITY;
    for (int it = 0; it < 200; it++) {
        double f = mq_stats_t_sf(t, df) - q;           /* decreasing in t */
        if (f > 0) lo = t; else hi = t;
        if (f == 0) break;
        double step = f / t_pdf(t, df), tn = t + step;
        if (!(tn > lo && tn < hi) || !isfinite(tn))
            tn = isinf(hi) ? 2 * t + 1 : 0.5 * (lo + hi);
        if (fabs(tn - t) <= 1e-15 * fabs(t)) { t = tn; break; }
        t = tn;
    }
    return p < 0.5 ? -t : t;
}

/* P(a, x) by its series, x < a + 1. */
static double gser(double a, double x)
{
    double sum = 1 / a, del = sum, ap = a;
    for (int n = 0; n < 100000; n++) {
        ap += 1; del *= x / ap; sum += del;
        if (fabs(del) < fabs(sum) * 1e-17) break;
    }
    return sum * exp(-x + a * log(x) - lgamma(a));
}

/* Q(a, x) by its continued fraction, x >= a + 1. */
static double gcf(double a, double x)
{
    const double tiny = 1e-300;
    double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
    for (int i = 1; i < 100000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b; if (fabs(d) < tiny) d = tiny;
        c = b + an / c; if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-16) break;
    }
    return exp(-x + a * log(x) - lgamma(a)) * h;
}

double mq_stats_igamma_p(double a, double x)
{
    if (!(a > 0) || !(x >= 0)) return NAN;
    if (x == 0) return 0;
    if (isinf(x)) return 1;
    return x < a + 1 ? gser(a, x) : 1 - gcf(a, x);
}

double mq_stats_igamma_q(double a, double x)
{
    if (!(a > 0) || !(x >= 0)) return NAN;
    if (x == 0) return 1;
    if (isinf(x)) return 0;
    return x < a + 1 ? 1 - gser(a, x) : gcf(a, x);
}

double mq_stats_chi2_cdf(double x, double k)
{
    if (x < 0) return 0;
    return mq_stats_igamma_p(0.5 * k, 0.5 * x);
}

double mq_stats_chi2_sf(double x, double k)
{
    if (x < 0) return 1;
    return mq_stats_igamma_q(0.5 * k, 0.5 * x);
}

/* ---- multiple testing ---- */

typedef struct { double p; int i; } pidx;
static int pidx_cmp(const void *a, const void *b)
{
    const pidx *x = a, *y = b;
    if (x->p < y->p) return -1;
    if (x->p > y->p) return 1;
    return x->i - y->i;
}

static pidx *sorted(const double *p, int n)
{
    pidx *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    if (!s) return NULL;
    for (int i = 0; i < n; i++) { s[i].p = p[i]; s[i].i = i; }
    qsort(s, (size_t)n, sizeof *s, pidx_cmp);
    return s;
}

int mq_stats_holm(const double *p, int n, double *adj)
{
    pidx *s = sorted(p, n);
    if (!s) return MQ_ENOMEM;
    double run = 0;
    for (int j = 0; j < n; j++) {
        double v = MQ_MIN(1.0, (n - j) * s[j].p);
        run = MQ_MAX(run, v);
        adj[s[j].i] = run;
    }
    free(s);
    return 0;
}

int mq_stats_bh(const double *p, int n, double *adj)
{
    pidx *s = sorted(p, n);
    if (!s) return MQ_ENOMEM;
    double run = 1;
    for (int j = n - 1; j >= 0; j--) {
        double v = MQ_MIN(1.0, s[j].p * n / (j + 1));
        run = MQ_MIN(run, v);
        adj[s[j].i] = run;
    }
    free(s);
    return 0;
}

/* ---- group sequential ---- */

#define GS_N 401   /* Simpson points per look (odd) */

double mq_stats_gs_crossing(int K, const double *bounds)
{
    if (K < 1 || K > 50) return NAN;
    /* f[i]: sub-density of S_k (not yet stopped) at grid point s[i] over [-B_k, B_k] */
    double s0[GS_N], f0[GS_N], s1[GS_N], f1[GS_N], w[GS_N];
    for (int i = 0; i < GS_N; i++) w[i] = (i == 0 || i == GS_N - 1) ? 1 : (i % 2 ? 4 : 2);
    double B = bounds[0], h = 2 * B / (GS_N - 1);
    for (int i = 0; i < GS_N; i++) { s0[i] = -B + i * h; f0[i] = mq_stats_norm_pdf(s0[i]); }
    double h0 = h;
    for (int k = 1; k < K; k++) {
        double Bk = bounds[k] * sqrt((double)k + 1), hk = 2 * Bk / (GS_N - 1);
        for (int i = 0; i < GS_N; i++) {
            s1[i] = -Bk + i * hk;
            double acc = 0;
            for (int j = 0; j < GS_N; j++) acc += w[j] * f0[j] * mq_stats_norm_pdf(s1[i] - s0[j]);
            f1[i] = acc * h0 / 3;
        }
        for (int i = 0; i < GS_N; i++) { s0[i] = s1[i]; f0[i] = f1[i]; }
        h0 = hk;
    }
    double cont = 0;
    for (int j = 0; j < GS_N; j++) cont += w[j] * f0[j];
    cont *= h0 / 3;
    return 1 - cont;
}

int mq_stats_gs_bounds(int K, double alpha, int type, double *bounds)
{
    if (K < 1 || K > 50 || !(alpha > 0 && alpha < 1) || (type != MQ_GS_POCOCK && type != MQ_GS_OBF))
        return MQ_EINVAL;
    double lo = mq_stats_norm_ppf(1 - alpha / 2) * 0.5, hi = 12;
    for (int it = 0; it < 60 && hi - lo > 1e-10; it++) {
        double c = 0.5 * (lo + hi);
        for (int k = 0; k < K; k++) bounds[k] = type == MQ_GS_POCOCK ? c : c * sqrt((double)K / (k + 1));
        if (mq_stats_gs_crossing(K, bounds) > alpha) lo = c; else hi = c;
    }
    double c = 0.5 * (lo + hi);
    for (int k = 0; k < K; k++) bounds[k] = type == MQ_GS_POCOCK ? c : c * sqrt((double)K / (k + 1));
    return 0;
}

/* ---- Kendall's tau-b ---- */

double mq_stats_kendall_tau(const double *x, const double *y, int n)
{
    if (n < 2) return NAN;
    double c = 0, d = 0, tx = 0, ty = 0, n0 = 0.5 * n * (n - 1.0);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            double a = x[i] - x[j], b = y[i] - y[j];
            if (a == 0) tx++;
            if (b == 0) ty++;
            if (a != 0 && b != 0) {
                if ((a > 0) == (b > 0)) c++;
                else d++;
            }
        }
    double den = sqrt((n0 - tx) * (n0 - ty));
    return den > 0 ? (c - d) / den : NAN;
}
