/* topk.c: the one top-k selection of the library (models' recommend lists, itemknn/EASE
 * neighbour pruning, eval's ranked lists) and the quickselect used for score cut-offs.
 *
 * Rank order, everywhere: (s_a, i_a) before (s_b, i_b) when s_a > s_b, or s_a == s_b and
 * i_a < i_b (the lower index wins ties), so every ranking is a strict total order and the
 * result does not depend on the scan order. Callers decide what NaN means (models skip NaN
 * scores, eval ranks them as -inf) before offering a pair.
 *
 * Data structure: a size-k min-heap held in two parallel arrays (scores, indices) owned by the
 * caller, whose root is the worst kept pair; a pair enters a full heap only when it ranks
 * before the root (O(n log k) in the worst case, ~n compares when few enter). mq__heap_sort
 * then sorts the heap in place, best first, so the arrays are directly the output list.
 */
#include "core/core.h"

#include <math.h>

void mq__heap_sift_down(float *hs, int32_t *hi, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && mq__rank_before(hs[w], hi[w], hs[l], hi[l])) w = l;
        if (r < n && mq__rank_before(hs[w], hi[w], hs[r], hi[r])) w = r;
        if (w == i) return;
        float ts = hs[i]; hs[i] = hs[w]; hs[w] = ts;
        int32_t ti = hi[i]; hi[i] = hi[w]; hi[w] = ti;
        i = w;
    }
}

void mq__heap_sift_up(float *hs, int32_t *hi, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!mq__rank_before(hs[p], hi[p], hs[i], hi[i])) return;
        float ts = hs[i]; hs[i] = hs[p]; hs[p] = ts;
        int32_t ti = hi[i]; hi[i] = hi[p]; hi[p] = ti;
        i = p;
    }
}

void mq__heap_sort(float *hs, int32_t *hi, int n)
{
    /* Repeatedly move the worst (the root) to the end of the shrinking heap. */
    for (int e = n - 1; e > 0; e--) {
        float ts = hs[0]; hs[0] = hs[e]; hs[e] = ts;
        int32_t ti = hi[0]; hi[0] = hi[e]; hi[e] = ti;
        mq__heap_sift_down(hs, hi, e, 0);
    }
}

int mq__topk(const float *scores, int32_t n, int k, int32_t *out_idx, float *out_val)
{
    if (k <= 0) return 0;
    int c = 0;
    /* Large n, small k: a threshold from an evenly spaced sample of 512 scores, at about twice
     * the k-th best's rank, skips most scores without a heap compare. Exact: when at least k
     * scores reach the threshold, every pair of the top k does (the k-th best reaches it), and
     * the rank order does not depend on which other pairs are offered. Otherwise all are. */
    if (n >= 4096 && (int64_t)k * 16 <= n) {
        float sample[512];
        int m = 0;
        int32_t step = n / 512;
        for (int i = 0; i < 512; i++) {
            float v = scores[(int64_t)i * step];
            if (!isnan(v)) sample[m++] = v;
        }
        int at = (int)MQ_MIN((int64_t)m - 1, 2LL * 512 * k / n + 8);
        if (m >= 64 && at >= 0) {
            float thr = mq__kth_largest(sample, m, at + 1);
            int32_t above = 0;
            for (int32_t t = 0; t < n; t++) above += scores[t] >= thr;
            if (above >= k) {
                for (int32_t t = 0; t < n; t++)
                    if (scores[t] >= thr) mq__heap_offer(out_val, out_idx, &c, k, scores[t], t);
                mq__heap_sort(out_val, out_idx, c);
                return c;
            }
        }
    }
    for (int32_t t = 0; t < n; t++)
        if (!isnan(scores[t])) mq__heap_offer(out_val, out_idx, &c, k, scores[t], t);
    mq__heap_sort(out_val, out_idx, c);
    return c;
}

/* Hoare-partition quickselect (expected O(n)); the value, not its position, is the result. */
float mq__kth_largest(float *v, int n, int k)
{
    int lo = 0, hi = n - 1, want = k - 1;
    while (lo < hi) {
        float p = v[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] > p) i++;
            while (v[j] < p) j--;
            if (i <= j) { float t = v[i]; v[i] = v[j]; v[j] = t; i++; j--; }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else break;
    }
    return v[want];
}

