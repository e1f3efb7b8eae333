/* calib.c: probability calibration and its figures.
 *
 * Platt scaling (Platt 1999, "Probabilistic outputs for support vector machines"): fit
 * p = σ(a z + b) to 0/1 labels by maximum likelihood. The log-likelihood is concave; Newton's
 * method with step halving converges from a = 0, b = logit(base rate) (the constant model).
 * Without Platt's target smoothing, so the result is exactly the logistic regression MLE that
 * statsmodels' Logit computes (tests/ref/rank_calib_ref.py).
 *
 * Isotonic regression (Barlow et al. 1972; Zadrozny & Elkan 2002 for calibration): sort by p,
 * pool equal p values, then pool adjacent violators with a stack of blocks (sum of y, weight,
 * lowest p): each new block is merged with the previous one while the previous mean is not
 * below it. O(n log n) for the sort, O(n) for the pooling.
 *
 * Figures: log loss, Brier score, expected calibration error over equal-mass bins (Naeini et
 * al. 2015 use equal-width; equal-mass bins keep every bin populated when predictions pile up
 * near 0, as play probabilities do). Definitions in include/marquee/rank.h.
 */
#include "rank/rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double sigmoid(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

double mq_calib_platt_apply(double a, double b, double z) { return sigmoid(a * z + b); }

static double platt_ll(const double *z, const uint8_t *y, int64_t n, double a, double b)
{
    double ll = 0;
    for (int64_t i = 0; i < n; i++) {
        double u = a * z[i] + b;
        /* log σ(u) = −log(1 + e^−u), log(1 − σ(u)) = −log(1 + e^u), computed stably. */
        ll -= y[i] ? log1p(exp(-fabs(u))) + MQ_MAX(-u, 0) : log1p(exp(-fabs(u))) + MQ_MAX(u, 0);
    }
    return ll;
}

int mq_calib_platt_fit(const double *z, const uint8_t *y, int64_t n, double *a, double *b,
                       mq_err *err)
{
    if (n <= 0) return mq__err_set(err, MQ_EINVAL, "platt: no samples");
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(z[i])) return mq__err_set(err, MQ_EINVAL, "platt: score %lld is not finite", (long long)i);
        pos += y[i] != 0;
    }
    if (pos == 0 || pos == n)
        return mq__err_set(err, MQ_EINVAL, "platt: the labels are all %d (no finite fit)", pos ? 1 : 0);
    double A = 0, B = log((double)pos / (double)(n - pos));
    double ll = platt_ll(z, y, n, A, B);
    for (int it = 0; it < 200; it++) {
        double ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
        for (int64_t i = 0; i < n; i++) {
            double p = sigmoid(A * z[i] + B), r = (y[i] ? 1.0 : 0.0) - p, w = p * (1 - p);
            ga += r * z[i];
            gb += r;
            haa += w * z[i] * z[i];
            hab += w * z[i];
            hbb += w;
        }
        double det = haa * hbb - hab * hab;
        if (!(det > 0)) break;
        double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
        double step = 1;
        double nll;
        for (;;) {
            nll = platt_ll(z, y, n, A + step * da, B + step * db);
            if (nll >= ll - 1e-12 * fabs(ll) || step < 1e-10) break;
            step /= 2;
        }
        A += step * da;
        B += step * db;
        double gain = nll - ll;
        ll = nll;
        if (fabs(step * da) <= 1e-12 * (1 + fabs(A)) && fabs(step * db) <= 1e-12 * (1 + fabs(B)))
            break;
        if (gain >= 0 && gain < 1e-15 * fabs(ll) && it > 3) break;
    }
    *a = A;
    *b = B;
    return 0;
}

typedef struct pv {
    double p;
    int64_t i;
} pv;

static int cmp_pv(const void *x, const void *y)
{
    const pv *a = x, *b = y;
    if (a->p != b->p) return a->p < b->p ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* Indices of p sorted ascending (ties by index). */
static pv *sorted(const double *p, int64_t n)
{
    pv *s = malloc((size_t)MQ_MAX(n, 1) * sizeof *s);
    if (!s) return NULL;
    for (int64_t i = 0; i < n; i++) s[i] = (pv){p[i], i};
    qsort(s, (size_t)n, sizeof *s, cmp_pv);
    return s;
}

int mq_isotonic_fit(const double *p, const uint8_t *y, int64_t n, mq_isotonic *out, mq_err *err)
{
    memset(out, 0, sizeof *out);
    if (n <= 0) return mq__err_set(err, MQ_EINVAL, "isotonic: no samples");
    if (n > INT32_MAX) return mq__err_set(err, MQ_ERANGE, "isotonic: too many samples");
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(p[i])) return mq__err_set(err, MQ_EINVAL, "isotonic: score %lld is not finite", (long long)i);
    pv *s = sorted(p, n);
    double *sy = malloc((size_t)n * sizeof *sy), *sw = malloc((size_t)n * sizeof *sw);
    double *sx = malloc((size_t)n * sizeof *sx);
    if (!s || !sy || !sw || !sx) {
        free(s); free(sy); free(sw); free(sx);
        return mq__err_set(err, MQ_ENOMEM, "isotonic: out of memory");
    }
    int64_t k = 0;
    for (int64_t i = 0; i < n;) {
        /* Equal p values first form one block. */
        double ys = 0, w = 0;
        int64_t j = i;
        for (; j < n && s[j].p == s[i].p; j++) {
            ys += y[s[j].i] ? 1.0 : 0.0;
            w += 1;
        }
        sy[k] = ys;
        sw[k] = w;
        sx[k] = s[i].p;
        k++;
        /* Pool while the previous block's mean is not below this one's. */
        while (k > 1 && sy[k - 2] / sw[k - 2] >= sy[k - 1] / sw[k - 1]) {
            sy[k - 2] += sy[k - 1];
            sw[k - 2] += sw[k - 1];
            k--;
        }
        i = j;
    }
    free(s);
    out->n = (int32_t)k;
    out->x = sx;
    out->y = sy;
    for (int64_t b = 0; b < k; b++) sy[b] /= sw[b];
    free(sw);
    return 0;
}

double mq_isotonic_apply(const mq_isotonic *iso, double p)
{
    if (iso->n <= 0) return NAN;
    int lo = 0, hi = iso->n;   /* the last block with x <= p */
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (iso->x[mid] <= p) lo = mid;
        else hi = mid;
    }
    return iso->y[lo];
}

void mq_isotonic_release(mq_isotonic *iso)
{
    free(iso->x);
    free(iso->y);
    memset(iso, 0, sizeof *iso);
}

int mq_calib_figures_compute(const double *p, const uint8_t *y, int64_t n, int n_bins,
                             mq_calib_figures *out, mq_calib_bin *bins, mq_err *err)
{
    memset(out, 0, sizeof *out);
    if (n <= 0 || n_bins < 1) return mq__err_set(err, MQ_EINVAL, "calibration: no samples or bins");
    double ll = 0, br = 0;
    for (int64_t i = 0; i < n; i++) {
        double q = MQ_MIN(MQ_MAX(p[i], 1e-15), 1 - 1e-15), t = y[i] ? 1.0 : 0.0;
        ll -= t * log(q) + (1 - t) * log(1 - q);
        br += (p[i] - t) * (p[i] - t);
    }
    out->log_loss = ll / n;
    out->brier = br / n;
    pv *s = sorted(p, n);
    if (!s) return mq__err_set(err, MQ_ENOMEM, "calibration: out of memory");
    double ece = 0;
    for (int b = 0; b < n_bins; b++) {
        /* Bin b holds sorted positions [floor(b n / B), floor((b + 1) n / B)). */
        int64_t lo = (int64_t)(((__int128)b * n) / n_bins);
        int64_t hi = (int64_t)(((__int128)(b + 1) * n) / n_bins);
        double sp = 0, sy = 0;
        for (int64_t i = lo; i < hi; i++) {
            sp += s[i].p;
            sy += y[s[i].i] ? 1.0 : 0.0;
        }
        int64_t c = hi - lo;
        if (c > 0) ece += fabs(sp - sy) / n;
        if (bins) bins[b] = (mq_calib_bin){c, c ? sp / c : NAN, c ? sy / c : NAN};
    }
    out->ece = ece;
    free(s);
    return 0;
}
