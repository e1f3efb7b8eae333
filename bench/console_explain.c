/* console_explain.c: the cost of "why this" for a page of recommendations, in process: the
 * explanations (top 3 history titles) of a member's top 200 titles, title by title
 * (mq_model_explain, what the server did before) and at once (mq_model_explain_many), against
 * the recommendation itself (mq_model_recommend of 200 titles: the same-run baseline), on the
 * demo catalog with the model in out/bench/console/models-ials/main.mqm (made by
 * bench/console_explain.sh) or the path given. CPU time per member over members 1..N
 * (N = 100; --full: all). Prints the means in ms and the ratios to the baseline.
 *
 * Usage: build/bench_console_explain [MODEL.mqm] [--full] */
#include "marquee.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *path = "out/bench/console/models-ials/main.mqm";
    bool full = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--full")) full = true;
        else path = argv[i];
    }
    mq_err err;
    mq_model *m;
    mq_dataset *d;
    if (mq_model_load(path, &m, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    if (mq_data_open("data/ml-latest-small", NULL, &d, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    int nm = full ? d->n_members : 100, N = 200;
    int32_t top[200], ot[600], one_t[3], *hist = malloc((size_t)mq_model_n_titles(m) * sizeof *hist);
    float sc[200], ow[600], one_w[3];
    int on[200];
    double t_rec = 0, t_one = 0, t_many = 0;
    long long hist_total = 0;
    for (int u = 0; u < nm && u < d->n_members; u++) {
        int n = 0;
        for (int64_t j = d->m_ptr[u]; j < d->m_ptr[u + 1]; j++) {
            int32_t t = mq_model_title_index(m, mq_idmap_name(d->title_ids, d->m_idx[j]));
            if (t >= 0) hist[n++] = t;
        }
        hist_total += n;
        double t0 = cpu();
        int got = mq_model_recommend(m, hist, NULL, n, NULL, N, top, sc, &err);
        double t1 = cpu();
        if (got < 0) { fprintf(stderr, "%s\n", err.msg); return 1; }
        for (int i = 0; i < got; i++) mq_model_explain(m, hist, NULL, n, top[i], 3, one_t, one_w, NULL);
        double t2 = cpu();
        if (mq_model_explain_many(m, hist, NULL, n, top, got, 3, ot, ow, on, &err) < 0) { fprintf(stderr, "%s\n", err.msg); return 1; }
        double t3 = cpu();
        t_rec += t1 - t0;
        t_one += t2 - t1;
        t_many += t3 - t2;
    }
    printf("%s, %d members (mean history %.0f titles), %d titles each, CPU ms per member:\n", mq_model_kind(m), nm,
           (double)hist_total / nm, N);
    printf("  recommend (baseline)     %8.3f\n", 1e3 * t_rec / nm);
    printf("  explain title by title   %8.3f  (%.2f x baseline)\n", 1e3 * t_one / nm, t_one / t_rec);
    printf("  explain_many             %8.3f  (%.2f x baseline)\n", 1e3 * t_many / nm, t_many / t_rec);
    free(hist);
    mq_dataset_destroy(d);
    mq_model_destroy(m);
    return 0;
}
