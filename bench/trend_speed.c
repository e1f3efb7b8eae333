/* trend_speed.c: the live Trending Now pieces in process, on the 20,000-title synthetic
 * catalog: the cost per event of the counter update (title id -> index lookup as the server
 * does it, the weight, the decayed add; batches of 64 under a mutex as a group commit takes
 * it), the snapshot rebuild (copy of the counters + rank: the work done every refresh), and a
 * reader's acquire + release of the published snapshot (alone, and with 2 threads at once).
 *
 * Usage: build/bench_trend_speed [events (default 5000000)] */
#include "marquee.h"
#include "core/core.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { NT = 20000, BATCH = 64 };

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct rd { mq_trend_pub *pub; long n; double secs; } rd;

static void *reader(void *p)
{
    rd *a = p;
    double t0 = mq_now();
    long sink = 0;
    for (long i = 0; i < a->n; i++) {
        const mq_trend_snap *s = mq_trend_acquire(a->pub);
        sink += s->order[0];
        mq_trend_release(a->pub, s);
    }
    a->secs = mq_now() - t0;
    return (void *)(intptr_t)(sink & 1);
}

int main(int argc, char **argv)
{
    long n_ev = argc > 1 ? atol(argv[1]) : 5000000;
    mq_rng r;
    mq_rng_seed(&r, 7);
    mq_idmap *ids = mq_idmap_create();
    float *seed = malloc(NT * sizeof *seed);
    for (int t = 0; t < NT; t++) {
        char b[32];
        snprintf(b, sizeof b, "%d", 100000 + t);
        mq_idmap_intern(ids, b, strlen(b));
        seed[t] = (float)(1000.0 / (1 + t));
    }
    /* events: titles with a Zipf-like skew (t = NT^u - 1), one second apart, plays */
    enum { POOL = 1 << 16 };
    mq_event *ev = calloc(POOL, sizeof *ev);
    for (int i = 0; i < POOL; i++) {
        int t = (int)(pow(NT, mq_rng_uniform(&r)) - 1);
        snprintf(ev[i].title, sizeof ev[i].title, "%d", 100000 + t);
        snprintf(ev[i].member, sizeof ev[i].member, "m%d", i);
        ev[i].kind = MQ_EV_PLAY;
        ev[i].value = 1200;
    }
    mq_err err;
    mq_trend *tr;
    int64_t t_start = 1700000000;
    if (mq_trend_create(NT, 7 * 86400.0, seed, t_start, &tr, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    int64_t now = t_start + n_ev + 10;
    double t0 = mq_now();
    for (long i = 0; i < n_ev; i += BATCH) {
        pthread_mutex_lock(&mu);
        for (long j = i; j < i + BATCH && j < n_ev; j++) {
            const mq_event *e = &ev[j & (POOL - 1)];
            float w = mq_trend_event_weight(e->kind, e->value);
            int32_t t = mq_idmap_find(ids, e->title, strlen(e->title));
            mq_trend_add(tr, t, t_start + 1 + j, w, now);
        }
        pthread_mutex_unlock(&mu);
    }
    double per_event = (mq_now() - t0) / (double)n_ev;
    /* rebuilds */
    enum { REB = 200 };
    double *c = malloc(NT * sizeof *c), times[REB];
    mq_trend_pub *pub = mq_trend_pub_create();
    for (int k = 0; k < REB; k++) {
        double a = mq_now();
        pthread_mutex_lock(&mu);
        mq_trend_copy(tr, c);
        pthread_mutex_unlock(&mu);
        mq_trend_snap *s = mq_trend_snap_create(NT);
        mq_trend_rank(c, NT, s->score, s->order);
        if (mq_trend_publish(pub, s, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        times[k] = mq_now() - a;
        /* move a few counters so each rank sees fresh data */
        for (int j = 0; j < 1000; j++) mq_trend_add(tr, (int32_t)mq_rng_below(&r, NT), now - 5, 1, now);
    }
    qsort(times, REB, sizeof *times, cmp_d);
    /* readers */
    rd one = {pub, 20000000, 0};
    reader(&one);
    rd two[2] = {{pub, 20000000, 0}, {pub, 20000000, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, reader, &two[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    printf("trend_speed: %d titles, %ld events in batches of %d\n", NT, n_ev, BATCH);
    printf("  counter update:        %.1f ns/event (id lookup + weight + decayed add + lock/batch)\n",
           per_event * 1e9);
    printf("  snapshot rebuild:      median %.2f ms, p90 %.2f ms, max %.2f ms (copy + rank %d titles)\n",
           times[REB / 2] * 1e3, times[REB * 9 / 10] * 1e3, times[REB - 1] * 1e3, NT);
    printf("  snapshot acquire+release: %.1f ns alone, %.1f ns with 2 threads at once\n",
           one.secs / (double)one.n * 1e9, (two[0].secs + two[1].secs) / 2 / (double)two[0].n * 1e9);
    mq_trend_pub_destroy(pub);
    mq_trend_destroy(tr);
    mq_idmap_destroy(ids);
    free(c); free(seed); free(ev);
    return 0;
}
