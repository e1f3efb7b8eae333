/* models_ials.c: iALS seconds per epoch (bench/models_ials.sh).
 *   build/bench_models_ials synth [members titles positives]   ML-20M-shaped synthetic data
 *   build/bench_models_ials lines PATH                          amazon-book train.txt
 * Env: MQ_THREADS (2), MQ_EPOCHS (synth 3, lines 15), MQ_KS ("64,128"), MQ_SOLVER (cg).
 * Prints, per k: the median epoch time, the fit time, the flops of an epoch (CG: per row
 * (cg_steps+1)·(2k² + 4·n_row·k) plus the two Gram matrices k²·(members+titles)) and the rate,
 * next to the machine's sgemm rate on the same threads measured in the same run. */
#include "models_util.h"
#include <cblas.h>
#include <sys/resource.h>

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

typedef struct times {
    double v[256];
    int n;
} times;

static void logline(void *u, const char *line)
{
    times *t = u;
    const char *p = strrchr(line, '(');
    if (p && strstr(line, "epoch") && t->n < 256) t->v[t->n++] = atof(p + 1);
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Power-law synthetic implicit data: title popularity ~ rank^-1, member activity log-normal
 * (sigma 1), scaled to n positives (duplicates merge, so nnz is a little lower). */
static mq_dataset *synth(int64_t nm, int64_t nt, int64_t n, uint64_t seed)
{
    mq_rng r;
    mq_rng_seed(&r, seed);
    double *act = malloc((size_t)nm * sizeof *act), sum = 0;
    for (int64_t u = 0; u < nm; u++) sum += act[u] = exp(mq_rng_normal(&r));
    double *cdf = malloc((size_t)nt * sizeof *cdf), c = 0;
    for (int64_t t = 0; t < nt; t++) cdf[t] = c += 1.0 / (t + 1.0);
    mq_interaction *x = malloc((size_t)n * sizeof *x);
    int64_t k = 0;
    for (int64_t u = 0; u < nm && k < n; u++) {
        int64_t cnt = (int64_t)llround(act[u] / sum * (double)n);
        if (cnt < 1) cnt = 1;
        for (int64_t i = 0; i < cnt && k < n; i++) {
            double z = mq_rng_uniform(&r) * c;
            int64_t lo = 0, hi = nt - 1;
            while (lo < hi) {
                int64_t mid = (lo + hi) / 2;
                if (cdf[mid] < z) lo = mid + 1;
                else hi = mid;
            }
            x[k++] = (mq_interaction){(int32_t)u, (int32_t)lo, 1, MQ_EV_PLAY, 0};
        }
    }
    mq_idmap *mi = mq_idmap_create(), *ti = mq_idmap_create();
    char id[32];
    for (int64_t u = 0; u < nm; u++) mq_idmap_intern(mi, id, (size_t)snprintf(id, sizeof id, "%lld", (long long)u));
    for (int64_t t = 0; t < nt; t++) mq_idmap_intern(ti, id, (size_t)snprintf(id, sizeof id, "%lld", (long long)t));
    mq_dataset *d = NULL;
    mq_err err;
    if (mq_dataset_build(x, k, mi, ti, &d, &err)) fprintf(stderr, "%s\n", err.msg);
    free(x);
    free(act);
    free(cdf);
    return d;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s synth [members titles positives] | lines PATH\n", argv[0]);
        return 2;
    }
    int threads = getenv("MQ_THREADS") ? atoi(getenv("MQ_THREADS")) : 2;
    bool is_synth = strcmp(argv[1], "synth") == 0;
    int epochs = getenv("MQ_EPOCHS") ? atoi(getenv("MQ_EPOCHS")) : is_synth ? 3 : 15;
    const char *solver = getenv("MQ_SOLVER") ? getenv("MQ_SOLVER") : "cg";
    const char *ks = getenv("MQ_KS") ? getenv("MQ_KS") : "64,128";
    double t0 = mq_now();
    mq_dataset *d = NULL;
    if (is_synth) {
        /* Repeated draws of popular titles merge, so draw more until ~the asked positives. */
        int64_t nm = argc > 4 ? atoll(argv[2]) : 136000, nt = argc > 4 ? atoll(argv[3]) : 20000;
        int64_t want = argc > 4 ? atoll(argv[4]) : 10000000, draw = want;
        for (int it = 0; it < 4; it++) {
            mq_dataset_destroy(d);
            d = synth(nm, nt, draw, 42);
            if (!d || d->nnz >= want * 0.98) break;
            draw = (int64_t)((double)draw * want / (double)d->nnz * 1.01);
        }
    } else {
        d = bu_load(argv[2], "lines", 0);
    }
    if (!d) return 1;
    printf("data: %s, %d members x %d titles, %lld positives (built in %.1f s), %d threads\n",
           is_synth ? "synthetic" : argv[2], d->n_members, d->n_titles, (long long)d->nnz,
           mq_now() - t0, threads);

    /* The machine's sgemm rate on these threads (1024³, best of 3). */
    openblas_set_num_threads(threads);
    int n = 1024;
    float *A = malloc((size_t)n * n * 4), *B = malloc((size_t)n * n * 4), *C = malloc((size_t)n * n * 4);
    for (size_t i = 0; i < (size_t)n * n; i++) A[i] = B[i] = (float)(i % 7) * 0.1f;
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double s = mq_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, A, n, B, n, 0, C, n);
        best = fmin(best, mq_now() - s);
    }
    double sgemm_gf = 2.0 * n * n * n / best / 1e9;
    free(A); free(B); free(C);
    printf("sgemm 1024^3 on %d threads: %.1f GFLOP/s\n", threads, sgemm_gf);

    char *kcopy = strdup(ks);
    for (char *save = NULL, *tok = strtok_r(kcopy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int k = atoi(tok);
        char pf[32], pe[32], ps[32];
        snprintf(pf, sizeof pf, "factors=%d", k);
        snprintf(pe, sizeof pe, "epochs=%d", epochs);
        snprintf(ps, sizeof ps, "solver=%s", solver);
        const char *params[] = {pf, pe, ps};
        times tm = {0};
        mq_log lg = {logline, &tm};
        mq_train_opts o; mq_train_opts_init(&o, sizeof o);
        o.params = params; o.n_params = 3; o.n_threads = threads; o.seed = 1; o.log = &lg;
        mq_model *m;
        mq_err err;
        double s = mq_now(), cs = cpu_seconds();
        if (mq_model_train("ials", d, &o, &m, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        double fit = mq_now() - s, cpu = cpu_seconds() - cs;
        qsort(tm.v, (size_t)tm.n, sizeof tm.v[0], cmpd);
        double med = tm.n ? tm.v[tm.n / 2] : NAN;
        double kk = k, rows = (double)d->n_members + d->n_titles;
        double flops = 4.0 * (2 * kk * kk * rows + 4.0 * kk * 2 * (double)d->nnz) + kk * kk * rows;
        printf("ials k=%d %s: %.3f s/epoch (median of %d; min %.3f, max %.3f), fit %d epochs "
               "%.2f s wall, %.2f CPU s (incl. loss reporting), %.1f GFLOP/epoch = %.1f GFLOP/s = %.0f%% of sgemm\n",
               k, solver, med, tm.n, tm.v[0], tm.v[tm.n - 1], epochs, fit, cpu, flops / 1e9,
               flops / med / 1e9, 100 * flops / med / 1e9 / sgemm_gf);
        fflush(stdout);
        mq_model_destroy(m);
    }
    free(kcopy);
    mq_dataset_destroy(d);
    return 0;
}
