/* models_quality.c: trains a model on a strong-generalization split of a shared dataset and
 * prints Recall@20 / Recall@50 / NDCG@100 and fit seconds (used to choose defaults; the
 * project's evaluation harness is `marquee eval`).
 *   build/bench_models_quality PATH FMT THRESHOLD MODEL [name=value ...]
 * FMT: u.data | csv | lastfm | lines. Env MQ_SEED (98765), MQ_THREADS (0), MQ_TEST_FRAC (0.1). */
#include "models_util.h"

static void logline(void *u, const char *line) { fprintf(stderr, "%s\n", line); }

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s PATH FMT THRESHOLD MODEL [name=value ...]\n", argv[0]);
        return 2;
    }
    uint64_t seed = getenv("MQ_SEED") ? strtoull(getenv("MQ_SEED"), NULL, 10) : 98765;
    int threads = getenv("MQ_THREADS") ? atoi(getenv("MQ_THREADS")) : 0;
    double tf = getenv("MQ_TEST_FRAC") ? atof(getenv("MQ_TEST_FRAC")) : 0.1;
    mq_dataset *d = bu_load(argv[1], argv[2], (float)atof(argv[3]));
    if (!d) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    bu_split s;
    bu_split_make(d, tf, seed, &s);
    mq_log lg = {logline, NULL};
    mq_train_opts o; mq_train_opts_init(&o, sizeof o);
    o.params = (const char *const *)argv + 5; o.n_params = argc - 5; o.n_threads = threads;
    o.seed = seed; o.log = getenv("MQ_QUIET") ? NULL : &lg;
    mq_model *m;
    mq_err err;
    double t0 = mq_now();
    if (mq_model_train(argv[4], s.train, &o, &m, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double fit = mq_now() - t0;
    double r[3];
    t0 = mq_now();
    bu_eval(m, &s, threads, r);
    printf("%s %s [%s] members=%d titles=%d nnz=%lld test=%d  R@20 %.4f  R@50 %.4f  NDCG@100 %.4f  fit %.2fs  eval %.2fs\n",
           argv[1], argv[4], mq_model_params(m), d->n_members, d->n_titles, (long long)d->nnz,
           s.n_test, r[0], r[1], r[2], fit, mq_now() - t0);
    mq_model_destroy(m);
    return 0;
}
