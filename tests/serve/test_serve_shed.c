/* test_serve_shed.c: the adaptive shedding rule (mq__codel, src/serve/limits.c) on scripted
 * queue times: a draining queue keeps the lenient limit however long it runs; a queue where
 * most requests of a whole interval waited over target gets the strict one, and keeps it while
 * only a few are read at once; an interval where most did not, or an idle gap, brings the
 * lenient limit back; a few requests an interval never stand. */
#include "../test.h"

#include "serve/serve.h"

#define MS 1000LL   /* microseconds */

MQ_TEST(serve_shed_codel_rule)
{
    mq__codel q;
    mq__codel_init(&q, 5, 100, 250, 16);
    long long t = 1000000 * MS;
    /* normal load: 10 s of requests every 2 ms, most waiting 0-4 ms, some up to 80 ms */
    for (int i = 0; i < 5000; i++, t += 2 * MS) {
        int w = i % 50 == 0 ? 80 : i % 5;
        ASSERT_NEAR(mq__codel_limit(&q, w, t), 250, 0);
    }
    /* overload: every request waits 6-40 ms; the interval under way ends lenient, the first
     * whole standing interval makes it strict */
    int strict_at = -1;
    for (int i = 0; i < 200; i++, t += 2 * MS) {
        double lim = mq__codel_limit(&q, 6 + i % 35, t);
        if (lim == 5 && strict_at < 0) strict_at = i;
        if (strict_at >= 0) ASSERT_NEAR(lim, 5, 0);
    }
    ASSERT(strict_at > 0 && strict_at <= 100);   /* within two intervals (requests 2 ms apart) */
    /* a few requests under target (an event loop reads some sockets at once) keep it strict */
    for (int i = 0; i < 200; i++, t += 2 * MS) ASSERT_NEAR(mq__codel_limit(&q, i % 10 == 0 ? 1 : 30, t), 5, 0);
    /* most under target: the interval under way still sheds, the next is lenient */
    double lim = 5;
    int k = 0;
    for (; k < 120 && lim == 5; k++, t += 2 * MS) lim = mq__codel_limit(&q, k % 10 == 0 ? 30 : 1, t);
    ASSERT_NEAR(lim, 250, 0);
    ASSERT(k > 1);
    /* stand again; a second without requests (the shed clients' Retry-After) changes nothing;
     * three seconds do: the first request after that gap is lenient */
    for (int i = 0; i < 200; i++, t += 2 * MS) mq__codel_limit(&q, 30, t);
    ASSERT_NEAR(mq__codel_limit(&q, 30, t), 5, 0);
    t += 1000 * MS;
    ASSERT_NEAR(mq__codel_limit(&q, 30, t), 5, 0);
    t += 3000 * MS;
    ASSERT_NEAR(mq__codel_limit(&q, 30, t), 250, 0);
    /* a light load on a busy host: 8 requests an interval, each waiting 12 ms for a CPU, is
     * not a standing queue of requests */
    t += 1000 * MS;
    for (int i = 0; i < 100; i++, t += 12 * MS) ASSERT_NEAR(mq__codel_limit(&q, 12, t), 250, 0);
}
