/* synth.c: synthetic implicit interactions for scale benchmarks (`marquee data synth`).
 *
 * Shape (after the real sets in ../shared/data): title popularity is Zipf-like, P(rank r) ∝
 * 1 / r^s (s = zipf_s, default 1), sampled in O(1) with Walker/Vose alias tables; the title
 * ids are a seeded permutation of the ranks, so popularity is not tied to the id. Member
 * activity is log-normal: weight w_u = exp(sigma * z_u), z_u ~ N(0, 1); member u gets
 * n_u = 1 + its share of the remaining K - N interactions by cumulative rounding (so the
 * n_u add up to exactly K when K >= N; with K < N the first K members get one each), capped at
 * half the catalog (the excess is carried to the next member). Each member's titles are
 * distinct: drawn from the popularity law by rejection against a bit set of M bits that is
 * cleared after each member. Times: each member starts at a random second of 2020 and moves
 * forward by exponential gaps with mean 365 days / n_u, so a member's events are chronological
 * and span about a year.
 *
 * Output: an events CSV "member,title,timestamp,event,value" (ids are decimal numbers from 1),
 * written through a 1 MiB buffer to a temp file and renamed (mq__atomic_*). Memory is
 * O(N + M) (weights, alias tables, the bit set), never O(K): 100M interactions stream fine.
 * Deterministic from the seed.
 */
#include "data/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct alias {
    double *prob;
    int32_t *alias;
    int64_t n;
} alias;

/* Vose's alias method over weights w[0..n). */
static int alias_init(alias *a, const double *w, int64_t n)
{
    a->n = n;
    a->prob = malloc((size_t)n * sizeof *a->prob);
    a->alias = malloc((size_t)n * sizeof *a->alias);
    int32_t *small = malloc((size_t)n * sizeof *small), *large = malloc((size_t)n * sizeof *large);
    if (!a->prob || !a->alias || !small || !large) { free(small); free(large); return MQ_ENOMEM; }
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += w[i];
    int64_t ns = 0, nl = 0;
    for (int64_t i = 0; i < n; i++) {
        a->prob[i] = w[i] * (double)n / sum;
        if (a->prob[i] < 1) small[ns++] = (int32_t)i;
        else large[nl++] = (int32_t)i;
    }
    while (ns && nl) {
        int32_t s = small[--ns], l = large[--nl];
        a->alias[s] = l;
        a->prob[l] -= 1 - a->prob[s];
        if (a->prob[l] < 1) small[ns++] = l;
        else large[nl++] = l;
    }
    while (nl) { int32_t l = large[--nl]; a->prob[l] = 1; a->alias[l] = l; }
    while (ns) { int32_t s = small[--ns]; a->prob[s] = 1; a->alias[s] = s; }
    free(small);
    free(large);
    return 0;
}

static int32_t alias_draw(const alias *a, mq_rng *r)
{
    int64_t i = (int64_t)mq_rng_below(r, (uint64_t)a->n);
    return mq_rng_uniform(r) < a->prob[i] ? (int32_t)i : a->alias[i];
}

/* Writes v in decimal at p; returns the length. */
static int put_u64(char *p, uint64_t v)
{
    char t[24];
    int n = 0;
    do { t[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (int i = 0; i < n; i++) p[i] = t[n - 1 - i];
    return n;
}

int mq_synth_write(const mq_synth_opts *o, const char *path, const mq_log *lg, mq_err *err)
{
    mq_synth_opts ov; int orc = MQ__OPTS_GET(mq_synth_opts, &ov, o, err); if (orc) return orc; o = &ov;
    int64_t N = o->n_members, M = o->n_titles, K = o->n_interactions;
    double zs = o->zipf_s > 0 ? o->zipf_s : 1.0, sigma = o->activity_sigma > 0 ? o->activity_sigma : 1.0;
    if (N < 1 || M < 2 || K < 1 || N > INT32_MAX || M > INT32_MAX)
        return mq__err_set(err, MQ_EINVAL, "members (%lld) and interactions (%lld) must be >= 1 and titles (%lld) >= 2 "
                           "(members and titles < 2^31)", (long long)N, (long long)K, (long long)M);
    if (K > N * (M / 2))
        return mq__err_set(err, MQ_EINVAL, "%lld interactions do not fit %lld members x half of %lld titles",
                           (long long)K, (long long)N, (long long)M);
    mq_rng rng;
    mq_rng_seed(&rng, o->seed);
    double *w = malloc((size_t)MQ_MAX(N, M) * sizeof *w);
    int32_t *perm = malloc((size_t)M * sizeof *perm);
    uint64_t *bits = calloc((size_t)(M + 63) / 64, sizeof *bits);
    int32_t *picked = malloc((size_t)(M / 2 + 1) * sizeof *picked);
    char *out = malloc(1 << 20);
    alias pop = {0};
    mq_atomic_file a;
    bool open = false;
    int rc = MQ_ENOMEM;
    if (!w || !perm || !bits || !picked || !out) goto fail;
    for (int64_t r = 0; r < M; r++) w[r] = pow((double)(r + 1), -zs);
    if ((rc = alias_init(&pop, w, M))) goto fail;
    for (int64_t i = 0; i < M; i++) perm[i] = (int32_t)i;
    for (int64_t i = M - 1; i > 0; i--) {
        int64_t j = (int64_t)mq_rng_below(&rng, (uint64_t)i + 1);
        int32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    double wsum = 0;
    for (int64_t u = 0; u < N; u++) wsum += (w[u] = exp(sigma * mq_rng_normal(&rng)));
    if ((rc = mq__atomic_open(&a, path, err))) goto fail;
    open = true;
    static const char header[] = "member,title,timestamp,event,value\n";
    fwrite(header, 1, sizeof header - 1, a.f);
    size_t len = 0;
    int64_t written = 0, extra = K > N ? K - N : 0, carry = 0;
    double cum = 0;
    int64_t assigned = 0;
    for (int64_t u = 0; u < N && written < K; u++) {
        /* Cumulative rounding: member u's share is round(extra * cum_after) - assigned. */
        cum += w[u];
        int64_t upto = (int64_t)llround((double)extra * (cum / wsum));
        if (u == N - 1) upto = extra;
        int64_t nu = 1 + (upto - assigned) + carry;
        assigned = upto;
        carry = 0;
        if (nu > M / 2) { carry = nu - M / 2; nu = M / 2; }
        if (nu > K - written) nu = K - written;
        if (nu < 1) continue;
        int64_t t = 1577836800 + (int64_t)mq_rng_below(&rng, 365 * 86400);
        for (int64_t k = 0; k < nu; k++) {
            int32_t r;
            do r = alias_draw(&pop, &rng);
            while (bits[r >> 6] >> (r & 63) & 1);
            bits[r >> 6] |= 1ULL << (r & 63);
            picked[k] = r;
            t += (int64_t)(-(365.0 * 86400.0 / (double)nu) * log(1.0 - mq_rng_uniform(&rng)));
            if (len + 96 > (1 << 20)) { fwrite(out, 1, len, a.f); len = 0; }
            len += (size_t)put_u64(out + len, (uint64_t)u + 1);
            out[len++] = ',';
            len += (size_t)put_u64(out + len, (uint64_t)perm[r] + 1);
            out[len++] = ',';
            len += (size_t)put_u64(out + len, (uint64_t)t);
            memcpy(out + len, ",play,1\n", 8);
            len += 8;
        }
        for (int64_t k = 0; k < nu; k++) bits[picked[k] >> 6] &= ~(1ULL << (picked[k] & 63));
        written += nu;
        if (lg && (u + 1) % 1000000 == 0) mq__logf(lg, "synth: %lld members, %lld interactions", (long long)u + 1, (long long)written);
    }
    fwrite(out, 1, len, a.f);
    if (ferror(a.f)) {
        rc = mq__err_set(err, MQ_EIO, "%s: write failed", path);
        goto fail;
    }
    open = false;
    if ((rc = mq__atomic_commit(&a, err))) goto fail;
    mq__logf(lg, "synth: wrote %lld interactions of %lld members x %lld titles to %s", (long long)written,
             (long long)N, (long long)M, path);
    free(w); free(perm); free(bits); free(picked); free(out); free(pop.prob); free(pop.alias);
    return 0;
fail:
    if (open) mq__atomic_abort(&a);
    free(w); free(perm); free(bits); free(picked); free(out); free(pop.prob); free(pop.alias);
    if (rc == MQ_ENOMEM) mq__err_set(err, MQ_ENOMEM, "out of memory for %lld members x %lld titles", (long long)N, (long long)M);
    return rc;
}
