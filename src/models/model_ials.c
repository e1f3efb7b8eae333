/* model_ials.c: implicit alternating least squares, following Rendle, Krichene, Zhang and
 * Koren 2022 ("Revisiting the Performance of iALS on Item Recommendation Benchmarks").
 *
 * Loss over member factors W [n_members x k] and title factors H [n_titles x k]:
 *
 *   L = Σ_{(u,i) observed} (w_u·h_i − 1)²  +  α0 Σ_{all u,i} (w_u·h_i)²
 *       + λ Σ_u (n_u + α0·n_titles)^ν ‖w_u‖²  +  λ Σ_i (n_i + α0·n_members)^ν ‖h_i‖²
 *
 * (the frequency-scaled regularization of the paper's code; ν = 0 gives a plain ridge λ).
 * Setting the gradient in w_u to zero gives the normal equations
 *
 *   (α0·HᵀH + Σ_{i ∈ I_u} h_i h_iᵀ + reg_u·I) w_u = Σ_{i ∈ I_u} h_i,
 *
 * the "Gram trick": α0·HᵀH (k x k) is computed once per half-epoch with cblas_ssyrk, and each
 * member only adds its own titles. Solvers: "cg" runs cg_steps of conjugate gradient warm-
 * started from the current w_u (as in Takács et al. 2011 and the implicit library); "exact"
 * builds the k x k system and solves it by Cholesky (double precision accumulation).
 * An epoch updates H given W, then W given H, so after training every member's w_u is (up to
 * the CG tolerance) the exact solution for the final H: a member who was not in training is
 * folded in by the same closed-form solve, and the fold-in of a training member's history
 * reproduces its training-time scores.
 *
 * Init: every entry N(0, (0.1/√k)²) from the seeded RNG. Threads: each half-epoch is a
 * parallel-for over rows (members or titles); rows are independent so the result does not
 * depend on the schedule. Inner loops are AVX2+FMA where the CPU has them (runtime check),
 * else portable C. Rows are stored with a stride kp = k rounded up to 8, padding zero.
 *
 * Explanations follow Hu, Koren and Volinsky 2008 (§5): with A_u the member's system matrix,
 * score(u, t) = Σ_{j ∈ history} h_tᵀ A_u⁻¹ h_j, so title j contributes h_tᵀ A_u⁻¹ h_j.
 *
 * Parameters: factors (64), reg (λ, 0.005), alpha0 (auto = clamp(500 / titles with
 * positives, 0.01, 1), resolved at training and stored as a number), nu (1), epochs (16),
 * solver (cg|exact, cg), cg_steps (3), keep_members (0; 1 also stores W, the training members'
 * factors, as array "W" [n_members x kp], e.g. to compare fold-in with training).
 * Arrays: "H" f32 [n_titles x kp], "G" f32 [kp x kp] = α0·HᵀH of the final H.
 * (W is not stored: any member is scored from their history by fold-in.)
 */
#include "models/model.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define QP_MAX 256          /* mq_model_score_top's int8 scan: up to 256 factors */

typedef struct ials_cfg {
    int k, kp;
    double reg, alpha0, nu;
    int epochs, cg_steps;
    bool exact;
    bool keep_members;
} ials_cfg;


/* ---- vector kernels ------------------------------------------------------------------------ */

__attribute__((target("avx2,fma"))) static float dot_avx(const float *a, const float *b, int kp)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= kp; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i < kp; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

/* out[i] = dot_avx(H + i kp, x, kp) for i < n, four rows at a time so the loads of x, the
 * call and the FMA latency are shared; each row gets exactly dot_avx's operations, so the
 * values are bit-identical to it. */
__attribute__((target("avx2,fma"))) static void dots_avx(const float *H, const float *x, int64_t n,
                                                         int kp, float *out)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float *h = H + (size_t)i * kp;
        __m256 a0[4], a1[4];
        for (int r = 0; r < 4; r++) a0[r] = a1[r] = _mm256_setzero_ps();
        int c = 0;
        for (; c + 16 <= kp; c += 16) {
            __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);
            for (int r = 0; r < 4; r++) {
                a0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(h + (size_t)r * kp + c), x0, a0[r]);
                a1[r] = _mm256_fmadd_ps(_mm256_loadu_ps(h + (size_t)r * kp + c + 8), x1, a1[r]);
            }
        }
        for (; c < kp; c += 8) {
            __m256 x0 = _mm256_loadu_ps(x + c);
            for (int r = 0; r < 4; r++)
                a0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(h + (size_t)r * kp + c), x0, a0[r]);
        }
        for (int r = 0; r < 4; r++) {
            __m256 s0 = _mm256_add_ps(a0[r], a1[r]);
            __m128 q = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
            q = _mm_add_ps(q, _mm_movehl_ps(q, q));
            q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
            out[i + r] = _mm_cvtss_f32(q);
        }
    }
    for (; i < n; i++) out[i] = dot_avx(H + (size_t)i * kp, x, kp);
}

/* The int8 scan of mq_model_score_top, for panels of 8 titles (t = 8p + j):
 *     approx_t = qscale_t sw (Σ_c u_c q_tc - 128 Σ_c q_tc),   bound_t = c1 qscale_t + c2 qsl1_t
 *     lo[t] = approx_t - bound_t,   width[t] = 2 bound_t
 * with u unsigned bytes and q signed (the Σ in exact int32; qsum128 = 128 Σ_c q_tc). Q is stored
 * by panel, then by groups of 4 components, then by title: 32 bytes (8 titles x 4 components)
 * per group, which one VNNI instruction (vpdpbusd) consumes: 32 multiply-adds with no
 * horizontal sums, the bounds computed while the panel's sums are still in registers. */
typedef struct qscan_args {
    const int8_t *Q;
    const uint8_t *u;
    int64_t n_panels;
    int qp;
    const int32_t *qsum128;
    const float *qscale, *qsl1;
    float sw, c1, c2;
    float *lo, *width;
} qscan_args;

__attribute__((target("avx2,fma,avx512f,avx512vl,avx512vnni"))) static void qscan_vnni(const qscan_args *a)
{
    int G = a->qp / 4;
    __m256i ub[QP_MAX / 4];
    for (int g = 0; g < G; g++) {
        int32_t quad;
        memcpy(&quad, a->u + 4 * g, 4);
        ub[g] = _mm256_set1_epi32(quad);
    }
    __m256 sw = _mm256_set1_ps(a->sw), c1 = _mm256_set1_ps(a->c1), c2 = _mm256_set1_ps(a->c2);
    for (int64_t p = 0; p < a->n_panels; p++) {
        const int8_t *q = a->Q + (size_t)p * a->qp * 8;
        __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
        int g = 0;
        for (; g + 2 <= G; g += 2) {
            a0 = _mm256_dpbusd_epi32(a0, ub[g], _mm256_loadu_si256((const __m256i *)(q + 32 * g)));
            a1 = _mm256_dpbusd_epi32(a1, ub[g + 1], _mm256_loadu_si256((const __m256i *)(q + 32 * g + 32)));
        }
        if (g < G) a0 = _mm256_dpbusd_epi32(a0, ub[g], _mm256_loadu_si256((const __m256i *)(q + 32 * g)));
        __m256i dot = _mm256_sub_epi32(_mm256_add_epi32(a0, a1),
                                       _mm256_loadu_si256((const __m256i *)(a->qsum128 + 8 * p)));
        __m256 sc = _mm256_loadu_ps(a->qscale + 8 * p);
        __m256 bound = _mm256_fmadd_ps(c1, sc, _mm256_mul_ps(c2, _mm256_loadu_ps(a->qsl1 + 8 * p)));
        __m256 approx = _mm256_mul_ps(_mm256_mul_ps(sc, sw), _mm256_cvtepi32_ps(dot));
        _mm256_storeu_ps(a->lo + 8 * p, _mm256_sub_ps(approx, bound));
        _mm256_storeu_ps(a->width + 8 * p, _mm256_add_ps(bound, bound));
    }
}

/* Counts v[0 .. n) >= L (n a multiple of 8). */
__attribute__((target("avx2"))) static int64_t count_ge_avx(const float *v, int64_t n, float L)
{
    __m256 l = _mm256_set1_ps(L);
    int64_t c = 0;
    for (int64_t i = 0; i < n; i += 8)
        c += __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v + i), l, _CMP_GE_OQ)));
    return c;
}

/* Titles with lo + width >= L, as a bit mask per 8 (n a multiple of 8). */
__attribute__((target("avx2"))) static void reach_mask_avx(const float *lo, const float *width, int64_t n,
                                                           float L, uint8_t *mask)
{
    __m256 l = _mm256_set1_ps(L);
    for (int64_t i = 0; i < n; i += 8)
        mask[i / 8] = (uint8_t)_mm256_movemask_ps(
            _mm256_cmp_ps(_mm256_add_ps(_mm256_loadu_ps(lo + i), _mm256_loadu_ps(width + i)), l, _CMP_GE_OQ));
}

__attribute__((target("avx2,fma"))) static void axpy_avx(float a, const float *x, float *y, int kp)
{
    __m256 va = _mm256_set1_ps(a);
    for (int i = 0; i < kp; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
}

/* y = G x + reg x for a symmetric kp x kp G, as y = Σ_b x_b·G[b, :]: 64 outputs at a time
 * stay in 8 registers while the rows of G stream through (no horizontal sums). */
__attribute__((target("avx2,fma"))) static void gemv_avx(const float *G, const float *x, float reg,
                                                         float *y, int kp, int k)
{
    for (int c0 = 0; c0 < kp; c0 += 64) {
        int w = kp - c0 < 64 ? (kp - c0) / 8 : 8;
        __m256 acc[8];
        for (int j = 0; j < w; j++) acc[j] = _mm256_mul_ps(_mm256_set1_ps(reg), _mm256_loadu_ps(x + c0 + 8 * j));
        for (int b = 0; b < k; b++) {
            __m256 xb = _mm256_set1_ps(x[b]);
            const float *g = G + (size_t)b * kp + c0;
            for (int j = 0; j < w; j++) acc[j] = _mm256_fmadd_ps(xb, _mm256_loadu_ps(g + 8 * j), acc[j]);
        }
        for (int j = 0; j < w; j++) _mm256_storeu_ps(y + c0 + 8 * j, acc[j]);
    }
}

/* Double-precision kernels for the exact solver (any length n). */
__attribute__((target("avx2,fma"))) static void daxpy_avx(double a, const double *x, double *y, int n)
{
    __m256d va = _mm256_set1_pd(a);
    int i = 0;
    for (; i + 4 <= n; i += 4)
        _mm256_storeu_pd(y + i, _mm256_fmadd_pd(va, _mm256_loadu_pd(x + i), _mm256_loadu_pd(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

__attribute__((target("avx2,fma"))) static double ddot_avx(const double *a, const double *b, int n)
{
    __m256d s = _mm256_setzero_pd();
    int i = 0;
    for (; i + 4 <= n; i += 4) s = _mm256_fmadd_pd(_mm256_loadu_pd(a + i), _mm256_loadu_pd(b + i), s);
    double t[4];
    _mm256_storeu_pd(t, s);
    double r = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

static void daxpy_c(double a, const double *x, double *y, int n)
{
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static double ddot_c(const double *a, const double *b, int n)
{
    double r = 0;
    for (int i = 0; i < n; i++) r += a[i] * b[i];
    return r;
}

static float dot_c(const float *a, const float *b, int kp)
{
    float s = 0;
    for (int i = 0; i < kp; i++) s += a[i] * b[i];
    return s;
}

static void dots_c(const float *H, const float *x, int64_t n, int kp, float *out)
{
    for (int64_t i = 0; i < n; i++) out[i] = dot_c(H + (size_t)i * kp, x, kp);
}

static void axpy_c(float a, const float *x, float *y, int kp)
{
    for (int i = 0; i < kp; i++) y[i] += a * x[i];
}

static void gemv_c(const float *G, const float *x, float reg, float *y, int kp, int k)
{
    for (int a = 0; a < k; a++) y[a] = dot_c(G + (size_t)a * kp, x, kp) + reg * x[a];
    for (int a = k; a < kp; a++) y[a] = 0;
}

typedef struct kern {
    float (*dot)(const float *, const float *, int);
    void (*dots)(const float *, const float *, int64_t, int, float *);
    /* NULL where the CPU has no AVX-512 VNNI: mq_model_score_top then scores exactly */
    void (*qscan)(const qscan_args *);
    void (*axpy)(float, const float *, float *, int);
    void (*gemv)(const float *, const float *, float, float *, int, int);
    void (*daxpy)(double, const double *, double *, int);
    double (*ddot)(const double *, const double *, int);
} kern;

static kern kernels(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        bool vnni = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
        return (kern){dot_avx, dots_avx, vnni ? qscan_vnni : NULL, axpy_avx, gemv_avx, daxpy_avx,
                      ddot_avx};
    }
    return (kern){dot_c, dots_c, NULL, axpy_c, gemv_c, daxpy_c, ddot_c};
}

typedef struct ials_state {
    ials_cfg c;
    kern K;
    const float *H;
    const float *G;
    double *norm;           /* [n_titles] |H_t|, for similar titles */
    /* H in int8 for mq_model_score_top, in qscan's panel layout (titles padded to a multiple
     * of 8 with zeros): H_t ~ qscale[t] q_t, |error| <= qscale[t] / 2 a component;
     * qsl1[t] = qscale[t] Σ|q_t|, qsum128[t] = 128 Σ q_t. Q is NULL without VNNI or when
     * kp > QP_MAX. */
    int qp;                 /* components per title in Q: kp (a multiple of 8) */
    int8_t *Q;
    float *qscale, *qsl1;
    int32_t *qsum128;
} ials_state;



/* ---- solvers --------------------------------------------------------------------------------- */

/* Conjugate gradient on A x = b with A = G + reg I + Σ_j y_j y_jᵀ, b = Σ_j y_j, from x.
 * The y_j are rows ids[j] of Y, or (ids == NULL) the first n rows of Y.
 * scratch: 3 kp floats. */
static void solve_cg(const kern *K, const float *G, const float *Y, const int32_t *ids, int64_t n,
                     float reg, int steps, int kp, int k, float *x, float *scratch)
{
    float *r = scratch, *p = scratch + kp, *Ap = scratch + 2 * kp;
    /* r = b − A x */
    K->gemv(G, x, reg, r, kp, k);
    for (int a = 0; a < kp; a++) r[a] = -r[a];
    for (int64_t j = 0; j < n; j++) {
        const float *y = Y + (size_t)(ids ? ids[j] : j) * kp;
        K->axpy(1.0f - K->dot(y, x, kp), y, r, kp);
    }
    memcpy(p, r, (size_t)kp * sizeof *p);
    float rs = K->dot(r, r, kp);
    for (int s = 0; s < steps && rs > 1e-20f; s++) {
        K->gemv(G, p, reg, Ap, kp, k);
        for (int64_t j = 0; j < n; j++) {
            const float *y = Y + (size_t)(ids ? ids[j] : j) * kp;
            K->axpy(K->dot(y, p, kp), y, Ap, kp);
        }
        float pAp = K->dot(p, Ap, kp);
        if (!(pAp > 0)) break;
        float alpha = rs / pAp;
        K->axpy(alpha, p, x, kp);
        K->axpy(-alpha, Ap, r, kp);
        float rsn = K->dot(r, r, kp);
        float beta = rsn / rs;
        for (int a = 0; a < kp; a++) p[a] = r[a] + beta * p[a];
        rs = rsn;
    }
}

/* Builds A = G + reg I + Σ_j y_j y_jᵀ (k x k, double, upper triangle, row-major) and factors
 * it in place as A = UᵀU (Cholesky; U upper, rows contiguous so every inner loop is a
 * vectorized axpy or dot). A holds k*k + k doubles (the last k are scratch). Returns 0, or -1
 * if A is not positive definite. */
static int build_factor(const kern *K, const float *G, const float *Y, const int32_t *ids,
                        int64_t n, double reg, int kp, int k, double *A)
{
    double *y = A + (size_t)k * k;
    for (int a = 0; a < k; a++) {
        for (int b = a; b < k; b++) A[a * k + b] = G[(size_t)a * kp + b];
        A[a * k + a] += reg;
    }
    for (int64_t j = 0; j < n; j++) {
        const float *yf = Y + (size_t)ids[j] * kp;
        for (int a = 0; a < k; a++) y[a] = yf[a];
        for (int a = 0; a < k; a++) K->daxpy(y[a], y + a, A + a * k + a, k - a);
    }
    for (int j = 0; j < k; j++) {
        double d = A[j * k + j];
        if (!(d > 0)) return -1;
        d = sqrt(d);
        A[j * k + j] = d;
        double *uj = A + j * k;
        for (int i = j + 1; i < k; i++) uj[i] /= d;
        /* Trailing update: A[i][i..] −= U[j][i]·U[j][i..] for i > j. */
        for (int i = j + 1; i < k; i++) K->daxpy(-uj[i], uj + i, A + i * k + i, k - i);
    }
    return 0;
}

/* Solves UᵀU z = rhs in place (rhs: k doubles). */
static void chol_solve(const kern *K, const double *U, int k, double *z)
{
    for (int i = 0; i < k; i++) {        /* Uᵀ v = z, column by column */
        z[i] /= U[i * k + i];
        K->daxpy(-z[i], U + i * k + i + 1, z + i + 1, k - i - 1);
    }
    for (int i = k - 1; i >= 0; i--)     /* U x = v */
        z[i] = (z[i] - K->ddot(U + i * k + i + 1, z + i + 1, k - i - 1)) / U[i * k + i];
}

/* Exact solve of the normal equations into x (kp floats). scratch: k*k + 2k doubles. */
static int solve_exact(const kern *K, const float *G, const float *Y, const int32_t *ids,
                       int64_t n, double reg, int kp, int k, float *x, double *scratch)
{
    double *A = scratch, *z = scratch + (size_t)k * k + k;
    if (build_factor(K, G, Y, ids, n, reg, kp, k, A)) return -1;
    for (int a = 0; a < k; a++) z[a] = 0;
    for (int64_t j = 0; j < n; j++) {
        const float *y = Y + (size_t)ids[j] * kp;
        for (int a = 0; a < k; a++) z[a] += y[a];
    }
    chol_solve(K, A, k, z);
    for (int a = 0; a < k; a++) x[a] = (float)z[a];
    for (int a = k; a < kp; a++) x[a] = 0;
    return 0;
}

static double reg_of(const ials_cfg *c, int64_t n_obs, int64_t n_other)
{
    return c->reg * pow((double)n_obs + c->alpha0 * (double)n_other, c->nu);
}

/* ---- training -------------------------------------------------------------------------------- */

typedef struct half_ctx {
    const ials_cfg *c;
    kern K;
    const int64_t *ptr;
    const int32_t *idx;
    const float *Y;     /* fixed side */
    float *X;           /* side being solved */
    const float *G;     /* α0 YᵀY, kp x kp */
    int64_t n_other;
    int bad;            /* rows whose exact system was not positive definite */
} half_ctx;

static int half_rows(void *vctx, int64_t b, int64_t e, int tid)
{
    half_ctx *h = vctx;
    const ials_cfg *c = h->c;
    size_t need = c->exact ? ((size_t)c->k * c->k + 2 * (size_t)c->k) * sizeof(double) : 3 * (size_t)c->kp * sizeof(float);
    void *scratch = malloc(need);
    /* CG reads each row's y_j 4+ times: gathering them once into a contiguous block (rows of
     * up to GATHER_MAX entries) turns the later passes into cache-resident streams. */
    enum { GATHER_MAX = 1024 };
    float *gath = c->exact ? NULL : malloc((size_t)GATHER_MAX * c->kp * sizeof *gath);
    if (!scratch || (!c->exact && !gath)) {
        free(scratch);
        free(gath);
        return MQ_ENOMEM;
    }
    for (int64_t r = b; r < e; r++) {
        int64_t n = h->ptr[r + 1] - h->ptr[r];
        const int32_t *ids = h->idx + h->ptr[r];
        float *x = h->X + (size_t)r * c->kp;
        double reg = reg_of(c, n, h->n_other);
        if (c->exact) {
            if (solve_exact(&h->K, h->G, h->Y, ids, n, reg, c->kp, c->k, x, scratch))
                __atomic_add_fetch(&h->bad, 1, __ATOMIC_RELAXED);
        } else {
            if (n <= GATHER_MAX) {
                for (int64_t j = 0; j < n; j++)
                    memcpy(gath + (size_t)j * c->kp, h->Y + (size_t)ids[j] * c->kp,
                           (size_t)c->kp * sizeof *gath);
                solve_cg(&h->K, h->G, gath, NULL, n, (float)reg, c->cg_steps, c->kp, c->k, x, scratch);
            } else {
                solve_cg(&h->K, h->G, h->Y, ids, n, (float)reg, c->cg_steps, c->kp, c->k, x, scratch);
            }
        }
    }
    free(scratch);
    free(gath);
    return 0;
}

/* G = α0 YᵀY (full symmetric, kp x kp, padding zero). */
static void gram(const float *Y, int64_t n, const ials_cfg *c, float *G)
{
    memset(G, 0, (size_t)c->kp * c->kp * sizeof *G);
    if (n > 0)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, c->k, (int)n, (float)c->alpha0, Y,
                    c->kp, 0.0f, G, c->kp);
    for (int a = 0; a < c->k; a++)
        for (int b = 0; b < a; b++) G[(size_t)a * c->kp + b] = G[(size_t)b * c->kp + a];
}

typedef struct loss_ctx {
    const ials_cfg *c;
    kern K;
    const mq_dataset *d;
    const float *W, *H;
    double *part;       /* per member */
} loss_ctx;

static int loss_rows(void *vctx, int64_t b, int64_t e, int tid)
{
    loss_ctx *l = vctx;
    const ials_cfg *c = l->c;
    for (int64_t u = b; u < e; u++) {
        const float *w = l->W + (size_t)u * c->kp;
        double s = 0;
        for (int64_t q = l->d->m_ptr[u]; q < l->d->m_ptr[u + 1]; q++) {
            double y = l->K.dot(w, l->H + (size_t)l->d->m_idx[q] * c->kp, c->kp);
            s += (y - 1) * (y - 1);
        }
        double ww = l->K.dot(w, w, c->kp);
        s += reg_of(c, l->d->m_ptr[u + 1] - l->d->m_ptr[u], l->d->n_titles) * ww;
        l->part[u] = s;
    }
    return 0;
}

/* The full loss L (see the top of the file), in double. */
static double ials_loss(const ials_cfg *c, const kern *K, const mq_dataset *d, const float *W,
                        const float *H, const float *GW, const float *GH, double *part, int nth)
{
    loss_ctx l = {c, *K, d, W, H, part};
    mq__parallel_for(nth, d->n_members, 256, loss_rows, &l);
    double L = 0;
    for (int32_t u = 0; u < d->n_members; u++) L += part[u];
    /* α0 Σ_all ŷ² = α0 tr(WᵀW HᵀH) = Σ_ab GW_ab GH_ab / α0 (both Grams carry a factor α0). */
    if (c->alpha0 > 0) {
        double t = 0;
        for (int a = 0; a < c->k; a++)
            for (int b = 0; b < c->k; b++)
                t += (double)GW[(size_t)a * c->kp + b] * GH[(size_t)a * c->kp + b];
        L += t / c->alpha0;
    }
    for (int32_t i = 0; i < d->n_titles; i++) {
        const float *h = H + (size_t)i * c->kp;
        L += reg_of(c, d->t_ptr[i + 1] - d->t_ptr[i], d->n_members) * K->dot(h, h, c->kp);
    }
    return L;
}

static int parse_cfg(mq__params *p, ials_cfg *c, mq_err *err)
{
    long k, epochs, steps;
    const char *solver;
    int rc = mq__param_int(p, "ials", "factors", 64, 1, 4096, &k, err);
    if (!rc) rc = mq__param_double(p, "ials", "reg", 0.005, 0, 1e9, &c->reg, err);
    /* alpha0 "auto" (the default) is resolved by the trainer from the data; -1 marks it. */
    const char *a0 = mq__param_str(p, "alpha0", "auto");
    if (strcmp(a0, "auto") == 0) c->alpha0 = -1;
    else if (!rc) {
        /* Re-read as a number (mq__param_str marked it used; look it up again for checks). */
        char *end;
        c->alpha0 = strtod(a0, &end);
        if (end == a0 || *end || !(c->alpha0 >= 0) || c->alpha0 > 1e9)
            rc = mq__err_set(err, MQ_EINVAL, "ials: parameter 'alpha0': '%s' is not 'auto' or a "
                             "number in [0, 1e9]", a0);
    }
    if (!rc) rc = mq__param_double(p, "ials", "nu", 1, 0, 10, &c->nu, err);
    if (!rc) rc = mq__param_int(p, "ials", "epochs", 16, 0, 100000, &epochs, err);
    if (!rc) rc = mq__param_int(p, "ials", "cg_steps", 3, 1, 1000, &steps, err);
    long keep;
    if (!rc) rc = mq__param_int(p, "ials", "keep_members", 0, 0, 1, &keep, err);
    if (rc) return rc;
    c->keep_members = keep != 0;
    solver = mq__param_str(p, "solver", "cg");
    if (strcmp(solver, "cg") != 0 && strcmp(solver, "exact") != 0)
        return mq__err_set(err, MQ_EINVAL, "ials: parameter 'solver': '%s' (valid: cg, exact)",
                           solver);
    c->k = (int)k;
    c->kp = (int)((k + 7) / 8 * 8);
    c->epochs = (int)epochs;
    c->cg_steps = (int)steps;
    c->exact = strcmp(solver, "exact") == 0;
    return mq__params_done(p, "ials", "factors, reg, alpha0, nu, epochs, solver, cg_steps, keep_members", err);
}

static void write_cfg(mq_model *m, const ials_cfg *c)
{
    mq__model_param_set(m, "factors", "%d", c->k);
    mq__model_param_num(m, "reg", c->reg);
    mq__model_param_num(m, "alpha0", c->alpha0);
    mq__model_param_num(m, "nu", c->nu);
    mq__model_param_set(m, "epochs", "%d", c->epochs);
    mq__model_param_set(m, "solver", "%s", c->exact ? "exact" : "cg");
    mq__model_param_set(m, "cg_steps", "%d", c->cg_steps);
    mq__model_param_set(m, "keep_members", "%d", c->keep_members);
}

/* Exposed for tests: the loss after each epoch is logged as "ials: epoch E/N loss L (S s)". */
static int ials_train(mq_model *m, const mq_dataset *d, const mq_train_opts *o, mq_err *err)
{
    mq__params p;
    ials_cfg c;
    int rc = mq__params_parse(&p, o->params, o->n_params, err);
    if (!rc) rc = parse_cfg(&p, &c, err);
    if (rc) return rc;
    if (c.alpha0 < 0) {
        /* Heuristic default: α0·n_active ≈ 500, i.e. the unobserved titles weigh about as much
         * as 500 observed ones in every member's system. Chosen on ml-100k, ml-latest-small,
         * Last.fm and amazon-book (strong generalization), where the best α0 ran from 0.01
         * (25k titles) to 0.5 (1.4k titles); tune it for a new catalog. */
        int32_t na = 0;
        for (int32_t t = 0; t < d->n_titles; t++) na += d->t_ptr[t + 1] > d->t_ptr[t];
        c.alpha0 = fmin(1.0, fmax(0.01, 500.0 / fmax(1.0, na)));
    }
    if (c.reg == 0 && c.alpha0 == 0)
        return mq__err_set(err, MQ_EINVAL, "ials: reg and alpha0 cannot both be 0 (the systems "
                           "would be singular)");
    write_cfg(m, &c);
    int nth = mq__threads(o->n_threads);
    size_t kp = (size_t)c.kp;
    float *W = mq__alloc((size_t)MQ_MAX(d->n_members, 1) * kp, sizeof *W);
    float *H = mq__alloc((size_t)d->n_titles * kp, sizeof *H);
    float *GW = mq__alloc(kp * kp, sizeof *GW);
    float *GH = mq__alloc(kp * kp, sizeof *GH);
    double *part = malloc((size_t)MQ_MAX(d->n_members, 1) * sizeof *part);
    if (!W || !H || !GW || !GH || !part) {
        rc = mq__err_set(err, MQ_ENOMEM, "ials: out of memory");
        goto fail;
    }
    mq_rng rng;
    mq_rng_seed(&rng, o->seed);
    double sd = 0.1 / sqrt((double)c.k);
    for (int32_t u = 0; u < d->n_members; u++)
        for (int a = 0; a < c.k; a++) W[(size_t)u * kp + a] = (float)(sd * mq_rng_normal(&rng));
    for (int32_t i = 0; i < d->n_titles; i++)
        for (int a = 0; a < c.k; a++) H[(size_t)i * kp + a] = (float)(sd * mq_rng_normal(&rng));
    kern K = kernels();
    gram(H, d->n_titles, &c, GH);
    double t_all = mq_now();
    for (int ep = 0; ep < c.epochs; ep++) {
        double t0 = mq_now();
        gram(W, d->n_members, &c, GW);
        half_ctx hh = {&c, K, d->t_ptr, d->t_idx, W, H, GW, d->n_members, 0};
        rc = mq__parallel_for(nth, d->n_titles, 64, half_rows, &hh);
        if (rc) break;
        gram(H, d->n_titles, &c, GH);
        half_ctx hw = {&c, K, d->m_ptr, d->m_idx, H, W, GH, d->n_titles, 0};
        rc = mq__parallel_for(nth, d->n_members, 64, half_rows, &hw);
        if (rc) break;
        if (hh.bad || hw.bad) {
            rc = mq__err_set(err, MQ_ERANGE, "ials: %d systems not positive definite in epoch "
                             "%d; raise reg", hh.bad + hw.bad, ep + 1);
            goto fail;
        }
        double t1 = mq_now();
        if (o->log && o->log->fn) {
            gram(W, d->n_members, &c, GW);
            double L = ials_loss(&c, &K, d, W, H, GW, GH, part, nth);
            mq__logf(o->log, "ials: epoch %d/%d loss %.6e (%.3f s)", ep + 1, c.epochs, L, t1 - t0);
        }
    }
    if (rc) {
        rc = mq__err_set(err, rc, "ials: out of memory");
        goto fail;
    }
    mq__logf(o->log, "ials: %d epochs, k=%d, %.2f s", c.epochs, c.k, mq_now() - t_all);
    free(GW);
    free(part);
    rc = mq__model_add(m, "H", MQ__A_F32, (int64_t)d->n_titles * c.kp, H, err);
    if (!rc) rc = mq__model_add(m, "G", MQ__A_F32, (int64_t)kp * kp, GH, err);
    else free(GH);
    if (!rc && c.keep_members)
        return mq__model_add(m, "W", MQ__A_F32, (int64_t)d->n_members * c.kp, W, err);
    free(W);
    return rc;
fail:
    free(W); free(H); free(GW); free(GH); free(part);
    return rc;
}

/* Builds the int8 copy of H for mq_model_score_top; leaves Q NULL (everything scored exactly)
 * without VNNI, when kp is too large or when memory is short. */
static void quantize_titles(ials_state *st, int32_t n)
{
    int kp = st->c.kp, qp = kp;
    if (!st->K.qscan || qp > QP_MAX || qp % 8 || n < 1) return;
    for (int64_t i = 0; i < (int64_t)n * kp; i++)
        if (!isfinite(st->H[i])) return;    /* no bound holds for such a title: score exactly */
    int64_t n_pad = ((int64_t)n + 7) / 8 * 8;
    st->qp = qp;
    st->Q = mq__alloc((size_t)n_pad * qp, 1);
    st->qscale = calloc((size_t)n_pad, sizeof *st->qscale);
    st->qsl1 = calloc((size_t)n_pad, sizeof *st->qsl1);
    st->qsum128 = calloc((size_t)n_pad, sizeof *st->qsum128);
    if (!st->Q || !st->qscale || !st->qsl1 || !st->qsum128) {
        free(st->Q); free(st->qscale); free(st->qsl1); free(st->qsum128);
        st->Q = NULL; st->qscale = st->qsl1 = NULL; st->qsum128 = NULL;
        return;
    }
    for (int32_t t = 0; t < n; t++) {
        const float *h = st->H + (size_t)t * kp;
        float mx = 0;
        for (int a = 0; a < kp; a++) mx = fmaxf(mx, fabsf(h[a]));
        float sc = mx > 0 ? mx / 127.0f : 1.0f;
        int32_t l1 = 0, sum = 0;
        int8_t *panel = st->Q + (size_t)(t / 8) * qp * 8;
        for (int a = 0; a < kp; a++) {
            int q = (int)lrintf(h[a] / sc);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            panel[(a / 4) * 32 + (t % 8) * 4 + a % 4] = (int8_t)q;
            l1 += abs(q);
            sum += q;
        }
        st->qscale[t] = sc;
        st->qsl1[t] = sc * (float)l1;
        st->qsum128[t] = 128 * sum;
    }
}

static int ials_bind(mq_model *m, mq_err *err)
{
    ials_state *st = calloc(1, sizeof *st);
    if (!st) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    mq__params p;
    int rc = mq__params_parse_text(&p, m->params, err);
    if (!rc) rc = parse_cfg(&p, &st->c, err);
    st->K = kernels();
    int64_t nh = 0, ng = 0;
    if (!rc) {
        st->H = mq__model_get(m, "H", MQ__A_F32, &nh, err);
        st->G = st->H ? mq__model_get(m, "G", MQ__A_F32, &ng, err) : NULL;
        if (!st->G) rc = MQ_ECORRUPT;
        else if (nh != (int64_t)m->n_titles * st->c.kp || ng != (int64_t)st->c.kp * st->c.kp)
            rc = mq__err_set(err, MQ_ECORRUPT, "ials: factor arrays have the wrong size");
    }
    if (!rc && !(st->norm = malloc((size_t)MQ_MAX(m->n_titles, 1) * sizeof *st->norm)))
        rc = mq__err_set(err, MQ_ENOMEM, "ials: out of memory");
    if (rc) {
        free(st);
        return rc;
    }
    for (int32_t t = 0; t < m->n_titles; t++) {
        const float *h = st->H + (size_t)t * st->c.kp;
        st->norm[t] = sqrt(st->K.dot(h, h, st->c.kp));
    }
    quantize_titles(st, m->n_titles);
    m->state = st;
    return 0;
}

static void ials_unbind(mq_model *m)
{
    ials_state *st = m->state;
    if (st) {
        free(st->norm);
        free(st->Q);
        free(st->qscale);
        free(st->qsl1);
        free(st->qsum128);
    }
    free(m->state);
    m->state = NULL;
}

/* w (kp floats) = the exact least-squares factors of a history. */
static int fold_in(const ials_state *st, int32_t n_titles, const int32_t *hist, int n_hist,
                   float *w, double *scratch, mq_err *err)
{
    double reg = reg_of(&st->c, n_hist, n_titles);
    if (solve_exact(&st->K, st->G, st->H, hist, n_hist, reg, st->c.kp, st->c.k, w, scratch))
        return mq__err_set(err, MQ_ERANGE, "ials: fold-in system is not positive definite");
    return 0;
}

static int ials_score(const mq_model *m, const int32_t *hist, const float *hv, int n_hist,
                      float *scores, mq_err *err)
{
    const ials_state *st = m->state;
    int k = st->c.k, kp = st->c.kp;
    double *scratch = malloc(((size_t)k * k + 2 * (size_t)k) * sizeof *scratch);
    float *w = mq__alloc((size_t)kp, sizeof *w);
    int rc = 0;
    if (!scratch || !w) rc = mq__err_set(err, MQ_ENOMEM, "ials: out of memory");
    if (!rc) rc = fold_in(st, m->n_titles, hist, n_hist, w, scratch, err);
    if (!rc) {
        st->K.dots(st->H, w, m->n_titles, kp, scores);
    }
    free(scratch);
    free(w);
    return rc;
}

/* A value L with at least k of v[0 .. n) >= L (k in [1, n]), close to the k-th largest: the
 * threshold from an evenly spaced sample, set at about 1.25 times the k-th's rank and checked
 * by counting; the rank doubled until the count holds (at worst the minimum). v is padded
 * with -inf to n8, a multiple of 8. */
static float lower_kth(const float *v, int32_t n, int64_t n8, int32_t k)
{
    enum { S = 512 };
    float sample[S];
    int m = n < S ? (int)n : S;
    for (int64_t r = (int64_t)(1.25 * k * m / n) + 2; r < m; r = r * 2 + 1) {
        for (int i = 0; i < m; i++) sample[i] = v[(int64_t)i * n / m];
        float L = mq__kth_largest(sample, m, (int)r + 1);
        if (count_ge_avx(v, n8, L) >= k) return L;
    }
    float mn = v[0];
    for (int32_t t = 1; t < n; t++) mn = fminf(mn, v[t]);
    return mn;
}

/* Two stages. (1) Integer scores q_t·r ≈ H_t·w from the int8 titles and w rounded to int8
 * (r = round(w / sw), sw = max|w| / 127, fed to qscan as r + 128), with a bound B_t on the
 * error: H's rounding (qscale/2 a component, times |w|_1), w's (sw/2 a component, times
 * qscale |q_t|_1) and a float slack far above the exact path's rounding. lo_t = approx - B_t
 * is a lower bound of the exact float score. (2) L <= the top-th largest lo: at least `top`
 * titles score >= L exactly, so a title whose upper bound approx + B_t is below L cannot reach
 * the best `top`; it keeps lo_t (< L). Every other title is scored exactly with dot, the same
 * operations as ials_score's dots (bit-identical). L is the caller's cut. */
static int ials_score_top(const mq_model *m, const int32_t *hist, const float *hv, int n_hist,
                          int top, float *scores, float *cut, mq_err *err)
{
    const ials_state *st = m->state;
    if (!st->Q) return ials_score(m, hist, hv, n_hist, scores, err);
    int k = st->c.k, kp = st->c.kp, qp = st->qp;
    int32_t n = m->n_titles;
    int64_t n_panels = ((int64_t)n + 7) / 8, n8 = n_panels * 8;
    double *scratch = malloc(((size_t)k * k + 2 * (size_t)k) * sizeof *scratch);
    float *w = mq__alloc((size_t)kp, sizeof *w);
    uint8_t *u = mq__alloc((size_t)qp, 1);
    float *lo = malloc((size_t)n8 * 2 * sizeof *lo), *width = lo + n8;
    uint8_t *reach = malloc((size_t)n_panels);
    int rc = 0;
    if (!scratch || !w || !u || !lo || !reach) rc = mq__err_set(err, MQ_ENOMEM, "ials: out of memory");
    if (!rc) rc = fold_in(st, n, hist, n_hist, w, scratch, err);
    if (!rc) {
        float wmax = 0, w1 = 0;
        for (int a = 0; a < kp; a++) { wmax = fmaxf(wmax, fabsf(w[a])); w1 += fabsf(w[a]); }
        float sw = wmax > 0 ? wmax / 127.0f : 1.0f;
        for (int a = 0; a < kp; a++) u[a] = (uint8_t)(128 + lrintf(fminf(fmaxf(w[a] / sw, -127), 127)));
        float slack = 127.0f * (w1 + (float)kp * sw) * (float)(kp + 16) * 1.2e-7f;
        qscan_args qa = {st->Q, u, n_panels, qp, st->qsum128, st->qscale, st->qsl1, sw,
                         0.5f * w1 + slack, 0.5f * sw, lo, width};
        st->K.qscan(&qa);
        for (int64_t t = n; t < n8; t++) { lo[t] = -INFINITY; width[t] = 0; }
        float L = lower_kth(lo, n, n8, top);
        *cut = L;       /* >= top titles score >= L exactly; the rest lie below it */
        reach_mask_avx(lo, width, n8, L, reach);
        memcpy(scores, lo, (size_t)n * sizeof *scores);
        for (int64_t p = 0; p < n_panels; p++)
            for (unsigned bits = reach[p]; bits; bits &= bits - 1) {
                int64_t t = 8 * p + __builtin_ctz(bits);
                scores[t] = st->K.dot(st->H + (size_t)t * kp, w, kp);
            }
    }
    free(scratch);
    free(w);
    free(u);
    free(lo);
    free(reach);
    return rc;
}

typedef struct fold_ctx {
    const mq_model *m;
    const int64_t *ptr;
    const int32_t *idx;
    float *Wb;
    mq_err errs[64];
} fold_ctx;

static int fold_rows(void *vctx, int64_t b, int64_t e, int tid)
{
    fold_ctx *f = vctx;
    const ials_state *st = f->m->state;
    double *scratch = malloc(((size_t)st->c.k * st->c.k + 2 * (size_t)st->c.k) * sizeof *scratch);
    if (!scratch) return mq__err_set(&f->errs[tid & 63], MQ_ENOMEM, "ials: out of memory");
    int rc = 0;
    for (int64_t r = b; r < e && !rc; r++)
        rc = fold_in(st, f->m->n_titles, f->idx + f->ptr[r], (int)(f->ptr[r + 1] - f->ptr[r]),
                     f->Wb + (size_t)r * st->c.kp, scratch, &f->errs[tid & 63]);
    free(scratch);
    return rc;
}

/* Batched: fold every history in (threaded), then one sgemm Wb Hᵀ for all scores. */
static int ials_score_batch(const mq_model *m, int32_t n_batch, const int64_t *ptr,
                            const int32_t *idx, float *scores, int n_threads, mq_err *err)
{
    const ials_state *st = m->state;
    if (n_batch == 0) return 0;
    fold_ctx *f = calloc(1, sizeof *f);
    float *Wb = mq__alloc((size_t)n_batch * st->c.kp, sizeof *Wb);
    if (!f || !Wb) {
        free(f);
        free(Wb);
        return mq__err_set(err, MQ_ENOMEM, "ials: out of memory");
    }
    f->m = m;
    f->ptr = ptr;
    f->idx = idx;
    f->Wb = Wb;
    int rc = mq__parallel_for(n_threads, n_batch, 16, fold_rows, f);
    if (rc) {
        for (int i = 0; i < 64; i++)
            if (f->errs[i].code) {
                if (err) *err = f->errs[i];
                break;
            }
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_batch, m->n_titles, st->c.kp,
                    1.0f, Wb, st->c.kp, st->H, st->c.kp, 0.0f, scores, m->n_titles);
    }
    free(f);
    free(Wb);
    return rc;
}

static int ials_contrib(const mq_model *m, const int32_t *hist, const float *hv, int n_hist,
                        int32_t t, float *w, mq_err *err)
{
    const ials_state *st = m->state;
    int k = st->c.k, kp = st->c.kp;
    double *A = malloc(((size_t)k * k + 2 * (size_t)k) * sizeof *A);
    if (!A) return mq__err_set(err, MQ_ENOMEM, "ials: out of memory");
    double *z = A + (size_t)k * k + k;
    double reg = reg_of(&st->c, n_hist, m->n_titles);
    if (build_factor(&st->K, st->G, st->H, hist, n_hist, reg, kp, k, A)) {
        free(A);
        return mq__err_set(err, MQ_ERANGE, "ials: system is not positive definite");
    }
    const float *ht = st->H + (size_t)t * kp;
    for (int a = 0; a < k; a++) z[a] = ht[a];
    chol_solve(&st->K, A, k, z);               /* z = A_u⁻¹ h_t */
    for (int h = 0; h < n_hist; h++) {
        const float *hj = st->H + (size_t)hist[h] * kp;
        double s = 0;
        for (int a = 0; a < k; a++) s += z[a] * hj[a];
        w[h] = (float)s;
    }
    free(A);
    return 0;
}

/* contrib for many titles: one factorisation of A_u, then z_j = A_u⁻¹ h_j per history title
 * (A_u is symmetric, so h_tᵀ A_u⁻¹ h_j = z_jᵀ h_t): n_hist solves instead of n_t
 * factorisations, and n_t x n_hist dot products. */
static int ials_contrib_many(const mq_model *m, const int32_t *hist, const float *hv, int n_hist,
                             const int32_t *ts, int n_t, float *w, mq_err *err)
{
    const ials_state *st = m->state;
    int k = st->c.k, kp = st->c.kp;
    double *A = malloc(((size_t)k * k + 2 * (size_t)k + (size_t)n_hist * k) * sizeof *A);
    if (!A) return mq__err_set(err, MQ_ENOMEM, "ials: out of memory");
    double *Z = A + (size_t)k * k + 2 * (size_t)k;   /* [n_hist x k] */
    double reg = reg_of(&st->c, n_hist, m->n_titles);
    if (build_factor(&st->K, st->G, st->H, hist, n_hist, reg, kp, k, A)) {
        free(A);
        return mq__err_set(err, MQ_ERANGE, "ials: system is not positive definite");
    }
    for (int h = 0; h < n_hist; h++) {
        const float *hj = st->H + (size_t)hist[h] * kp;
        double *z = Z + (size_t)h * k;
        for (int a = 0; a < k; a++) z[a] = hj[a];
        chol_solve(&st->K, A, k, z);           /* z_j = A_u⁻¹ h_j */
    }
    for (int i = 0; i < n_t; i++) {
        const float *ht = st->H + (size_t)ts[i] * kp;
        for (int h = 0; h < n_hist; h++) {
            const double *z = Z + (size_t)h * k;
            double s = 0;
            for (int a = 0; a < k; a++) s += z[a] * ht[a];
            w[(size_t)i * n_hist + h] = (float)s;
        }
    }
    free(A);
    return 0;
}

static int ials_similar(const mq_model *m, int32_t t, float *sim, mq_err *err)
{
    const ials_state *st = m->state;
    int kp = st->c.kp;
    st->K.dots(st->H, st->H + (size_t)t * kp, m->n_titles, kp, sim);
    double nt = st->norm[t];
    for (int32_t j = 0; j < m->n_titles; j++) {
        double nj = st->norm[j];
        sim[j] = nt > 0 && nj > 0 ? (float)(sim[j] / (nt * nj)) : 0.0f;
    }
    return 0;
}

const mq__model_ops mq__model_ials = {
    .kind = "ials", .train = ials_train, .bind = ials_bind, .unbind = ials_unbind,
    .score = ials_score, .score_top = ials_score_top, .score_batch = ials_score_batch, .contrib = ials_contrib, .contrib_many = ials_contrib_many,
    .similar = ials_similar,
};
