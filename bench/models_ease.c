/* models_ease.c: EASE fit time against the machine's own float Cholesky + inverse rate,
 * measured in the same run on a random SPD matrix of the same size (bench/models_ease.sh).
 *   build/bench_models_ease PATH FMT THRESHOLD      (FMT as in models_util.h)
 * Flops counted: Gram Σ_u |x_u|² (pair updates, upper triangle), spotrf n³/3, spotri 2n³/3
 * (n = titles with at least one positive). Env MQ_THREADS (2). */
#include "models_util.h"
#include <cblas.h>
#include <lapacke.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s PATH FMT THRESHOLD\n", argv[0]);
        return 2;
    }
    int threads = getenv("MQ_THREADS") ? atoi(getenv("MQ_THREADS")) : 2;
    openblas_set_num_threads(threads);
    mq_dataset *d = bu_load(argv[1], argv[2], (float)atof(argv[3]));
    if (!d) return 1;
    int32_t na = 0;
    for (int32_t t = 0; t < d->n_titles; t++) na += d->t_ptr[t + 1] > d->t_ptr[t];
    double pairs = 0;
    for (int32_t u = 0; u < d->n_members; u++) {
        double l = (double)(d->m_ptr[u + 1] - d->m_ptr[u]);
        pairs += l * (l + 1) / 2;
    }
    /* The floor: spotrf + spotri of an SPD matrix of the same size (diagonally dominant). */
    float *A = malloc((size_t)na * na * sizeof *A);
    mq_rng r;
    mq_rng_seed(&r, 1);
    for (size_t i = 0; i < (size_t)na * na; i++) A[i] = (float)mq_rng_uniform(&r) * 0.01f;
    for (int32_t i = 0; i < na; i++) A[(size_t)i * na + i] = (float)na;
    double t0 = mq_now();
    int info = LAPACKE_spotrf(LAPACK_COL_MAJOR, 'L', na, A, na);
    if (!info) info = LAPACKE_spotri(LAPACK_COL_MAJOR, 'L', na, A, na);
    double floor_s = mq_now() - t0;
    free(A);
    if (info) { fprintf(stderr, "floor: LAPACK info %d\n", info); return 1; }
    const char *params[] = {"lambda=200"};
    mq_train_opts o; mq_train_opts_init(&o, sizeof o);
    o.params = params; o.n_params = 1; o.n_threads = threads; o.seed = 1;
    mq_model *m;
    mq_err err;
    t0 = mq_now();
    if (mq_model_train("ease", d, &o, &m, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double fit = mq_now() - t0;
    double n3 = (double)na * na * na;
    printf("ease %s: %d members, %d active of %d titles, %lld positives, %d threads\n"
           "  floor spotrf+spotri(n=%d): %.2f s = %.1f GFLOP/s (n^3 flops)\n"
           "  ease fit: %.2f s (%.3g Gram pair updates + n^3 flops) = %.2fx the floor\n",
           argv[1], d->n_members, na, d->n_titles, (long long)d->nnz, threads, na, floor_s,
           n3 / floor_s / 1e9, fit, pairs, fit / floor_s);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
    return 0;
}
