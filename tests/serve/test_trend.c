/* test_trend.c: the live trending counters (src/serve/trend.c) against hand-computed closed forms,
 * and the snapshot publication under concurrent readers.
 *
 * Tolerances: the counters are doubles; the expected values are a handful of powers of two
 * computed with pow(), so agreement to 1e-12 relative is what double rounding allows. */
#include "../test.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define H 100.0      /* half-life, seconds */
#define REL(x) (1e-12 * fabs(x) + 1e-300)

MQ_TEST(trend_decay_closed_form)
{
    mq_err err;
    mq_trend *tr;
    float seed[4] = {0, 0, 3, 0};
    ASSERT_OK(mq_trend_create(4, H, seed, 500, &tr, &err), &err);
    int64_t now = 1000000;
    /* two events half a half-life apart: 1 + 2^-1/2 at the second */
    ASSERT(mq_trend_add(tr, 0, 1000, 1, now));
    ASSERT(mq_trend_add(tr, 0, 1050, 1, now));
    double want = 1 + pow(0.5, 0.5);
    ASSERT_NEAR(mq_trend_value(tr, 0, 1050), want, REL(want));
    /* one half-life later: half of it; before the second event's time the formula holds too */
    ASSERT_NEAR(mq_trend_value(tr, 0, 1150), want / 2, REL(want));
    ASSERT_NEAR(mq_trend_value(tr, 0, 1000), 1 + pow(0.5, -0.5), REL(want));
    /* the seed holds at as_of = 500 and decays from there */
    ASSERT_NEAR(mq_trend_value(tr, 2, 500), 3, REL(3.0));
    ASSERT_NEAR(mq_trend_value(tr, 2, 750), 3 * pow(0.5, 2.5), REL(3.0));
    /* events at or before as_of are in the seed already; zero weight and bad titles do nothing */
    ASSERT(!mq_trend_add(tr, 1, 500, 1, now));
    ASSERT(!mq_trend_add(tr, 1, 400, 1, now));
    ASSERT(!mq_trend_add(tr, 1, 900, 0, now));
    ASSERT(!mq_trend_add(tr, 4, 900, 1, now));
    ASSERT(!mq_trend_add(tr, -1, 900, 1, now));
    ASSERT_NEAR(mq_trend_value(tr, 1, 900), 0, 0);
    /* an event from the future counts as now */
    ASSERT(mq_trend_add(tr, 3, 5000, 2, 2000));
    ASSERT_NEAR(mq_trend_value(tr, 3, 2000), 2, REL(2.0));
    ASSERT_INT_EQ((int)mq_trend_counted(tr), 3);
    mq_trend_destroy(tr);
}

MQ_TEST(trend_rescale_keeps_values_and_order)
{
    /* An event 100 half-lives after the reference moves it (rescaling every counter): values
     * keep the closed form; 1500 half-lives later the old ones are below 2^-1074 and read 0,
     * while those within range keep their order. */
    mq_err err;
    mq_trend *tr;
    ASSERT_OK(mq_trend_create(3, H, NULL, 0, &tr, &err), &err);
    int64_t now = INT64_C(1) << 40;
    ASSERT(mq_trend_add(tr, 0, 10, 5, now));
    ASSERT(mq_trend_add(tr, 1, 20, 1, now));
    int64_t t2 = 10 + (int64_t)(100 * H);
    ASSERT(mq_trend_add(tr, 2, t2, 1, now));
    double w0 = 5 * pow(0.5, 100.0), w1 = pow(0.5, (t2 - 20) / H);
    ASSERT_NEAR(mq_trend_value(tr, 0, t2), w0, REL(w0));
    ASSERT_NEAR(mq_trend_value(tr, 1, t2), w1, REL(w1));
    ASSERT_NEAR(mq_trend_value(tr, 2, t2), 1, REL(1.0));
    double c[3];
    float sc[3];
    int32_t ord[3];
    mq_trend_copy(tr, c);
    mq_trend_rank(c, 3, sc, ord);
    ASSERT(ord[0] == 2 && ord[1] == 0 && ord[2] == 1);
    ASSERT_NEAR(sc[2], 1, 0);
    ASSERT_NEAR(sc[0], (float)(w0 / 1), 1e-6 * w0);
    int64_t t3 = t2 + (int64_t)(1500 * H);
    ASSERT(mq_trend_add(tr, 1, t3, 1, now));
    ASSERT_NEAR(mq_trend_value(tr, 0, t3), 0, 0);
    ASSERT_NEAR(mq_trend_value(tr, 1, t3), 1, REL(1.0));
    mq_trend_copy(tr, c);
    mq_trend_rank(c, 3, sc, ord);
    ASSERT(ord[0] == 1 && ord[1] == 0 && ord[2] == 2);   /* 0 and 2 both 0: by title */
    mq_trend_destroy(tr);
}

MQ_TEST(trend_event_weight_is_the_models)
{
    ASSERT_NEAR(mq_trend_event_weight(MQ_EV_PLAY, 1200), 1, 0);
    ASSERT_NEAR(mq_trend_event_weight(MQ_EV_PLAY, 0), 0, 0);
    ASSERT_NEAR(mq_trend_event_weight(MQ_EV_RATING, 4.5f), 1, 0);
    ASSERT_NEAR(mq_trend_event_weight(MQ_EV_THUMB_UP, 0), 1, 0);
    ASSERT_NEAR(mq_trend_event_weight(MQ_EV_THUMB_DOWN, 0), 0, 0);
    ASSERT_NEAR(mq_trend_event_weight(MQ_EV_IMPRESSION, 1), 0, 0);
    ASSERT_NEAR(mq_trend_event_weight(MQ_EV_SEARCH, 1), 0, 0);
}

typedef struct reader_arg {
    mq_trend_pub *pub;
    atomic_int *stop;
    long reads, bad;
} reader_arg;

static void *reader_main(void *p)
{
    reader_arg *a = p;
    uint64_t last = 0;
    while (!atomic_load(a->stop)) {
        const mq_trend_snap *s = mq_trend_acquire(a->pub);
        if (s) {
            /* a snapshot is immutable and every one is consistent: order[k] = n-1-k, score of
             * order[0] = 1, tags never go backwards */
            int32_t n = s->n_titles;
            if (s->order[0] != n - 1 || s->score[s->order[0]] != 1.0f || s->tag < last) a->bad++;
            last = s->tag;
            a->reads++;
        }
        mq_trend_release(a->pub, s);
    }
    return NULL;
}

MQ_TEST(trend_publish_under_readers)
{
    /* Readers acquire and release while snapshots are replaced 2000 times; ASan (make asan)
     * turns a use after free or a leak into a failure. */
    mq_trend_pub *pub = mq_trend_pub_create();
    ASSERT(pub);
    ASSERT(mq_trend_acquire(pub) == NULL);
    atomic_int stop;
    atomic_init(&stop, 0);
    reader_arg a[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (reader_arg){pub, &stop, 0, 0};
        pthread_create(&th[i], NULL, reader_main, &a[i]);
    }
    mq_err err;
    const mq_trend_snap *held = NULL;
    for (int g = 1; g <= 2000; g++) {
        int32_t n = 50 + g % 7;
        mq_trend_snap *s = mq_trend_snap_create(n);
        ASSERT(s);
        double *c = malloc((size_t)n * sizeof *c);
        for (int32_t t = 0; t < n; t++) c[t] = t + 1;
        mq_trend_rank(c, n, s->score, s->order);
        free(c);
        s->tag = (uint64_t)g;
        ASSERT_OK(mq_trend_publish(pub, s, &err), &err);
        if (g == 10) held = mq_trend_acquire(pub);   /* held across many replacements */
        if (g % 50 == 0) usleep(500);                 /* let the readers run in between */
    }
    atomic_store(&stop, 1);
    long reads = 0, bad = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        reads += a[i].reads;
        bad += a[i].bad;
    }
    ASSERT(held && held->tag == 10 && held->n_titles == 53);
    mq_trend_release(pub, held);
    const mq_trend_snap *s = mq_trend_acquire(pub);
    ASSERT(s && s->tag == 2000);
    mq_trend_release(pub, s);
    ASSERT_INT_EQ((int)bad, 0);
    ASSERT(reads > 0);
    mq_trend_pub_destroy(pub);
}
