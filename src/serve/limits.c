/* limits.c: defences of the HTTP server that are not routes: connection deadlines (slow
 * clients), the queue time of a request (load shedding), strict checks of request JSON beyond
 * what cJSON enforces, and the window of recently seen client event ids (retry-safe events).
 *
 * Connection deadlines. libmicrohttpd's connection timeout is an idle timeout: a client sending
 * a byte every few seconds keeps a connection, and a thread's share of the server, forever. So
 * every connection is registered (the library's connection notifications) in a list under one
 * mutex with its phase and the time the phase began; a watchdog thread wakes every 100 ms and
 * calls shutdown(2) on the socket of every connection past its deadline. shutdown, not close:
 * the library still owns the descriptor, sees the connection end and closes it itself. The
 * descriptor cannot be reused under us: the library reports the close (mq__guard_close, which
 * takes the same mutex) before it closes the socket.
 *
 * Queue time. With a thread per event loop, requests wait in the kernel's socket buffers, not
 * in any queue the server holds. TCP_INFO's last_data_recv says how long ago the last segment
 * arrived on a socket; read as the request is handled, it is the time the request waited.
 *
 * Adaptive shedding (mq__codel_*): the queue times above feed CoDel's rule (serve.h says which).
 *
 * Event ids. A hash table (chained, power-of-two buckets) over a ring of at most max_ids
 * entries in insertion order, so forgetting the oldest is O(1) and memory is bounded.
 */
#include "serve/serve.h"

#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* ---- connection deadlines ---- */

struct mq__conn {
    mq__conn *prev, *next;
    int fd;
    atomic_int phase;
    atomic_llong since_ns;          /* CLOCK_MONOTONIC */
};

struct mq__guard {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    mq__conn head;                  /* circular list sentinel */
    int n_open;
    int64_t header_ns, body_ns;
    atomic_ullong timeouts;
    bool stop;
    pthread_t thread;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *watchdog(void *arg)
{
    mq__guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        int64_t now = mono_ns();
        for (mq__conn *c = g->head.next; c != &g->head; c = c->next) {
            int ph = atomic_load_explicit(&c->phase, memory_order_relaxed);
            int64_t age = now - atomic_load_explicit(&c->since_ns, memory_order_relaxed);
            if ((ph == MQ__CONN_HEADERS && age > g->header_ns) || (ph == MQ__CONN_BODY && age > g->body_ns)) {
                atomic_store(&c->phase, MQ__CONN_CLOSING);
                shutdown(c->fd, SHUT_RDWR);
                atomic_fetch_add(&g->timeouts, 1);
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000;
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

mq__guard *mq__guard_create(double header_s, double body_s)
{
    mq__guard *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->head.next = g->head.prev = &g->head;
    g->header_ns = (int64_t)(header_s * 1e9);
    g->body_ns = (int64_t)(body_s * 1e9);
    if (pthread_create(&g->thread, NULL, watchdog, g) != 0) {
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->cv);
        free(g);
        return NULL;
    }
    return g;
}

void mq__guard_destroy(mq__guard *g)
{
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    for (mq__conn *c = g->head.next, *nx; c != &g->head; c = nx) {
        nx = c->next;
        free(c);
    }
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

mq__conn *mq__guard_open(mq__guard *g, int fd)
{
    mq__conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = fd;
    atomic_init(&c->phase, MQ__CONN_HEADERS);
    atomic_init(&c->since_ns, mono_ns());
    pthread_mutex_lock(&g->mu);
    c->next = g->head.next;
    c->prev = &g->head;
    g->head.next->prev = c;
    g->head.next = c;
    g->n_open++;
    pthread_mutex_unlock(&g->mu);
    return c;
}

void mq__guard_close(mq__guard *g, mq__conn *c)
{
    if (!c) return;
    pthread_mutex_lock(&g->mu);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    g->n_open--;
    pthread_mutex_unlock(&g->mu);
    free(c);
}

void mq__guard_phase(mq__conn *c, int phase)
{
    if (!c || atomic_load(&c->phase) == MQ__CONN_CLOSING) return;
    atomic_store(&c->since_ns, mono_ns());
    atomic_store(&c->phase, phase);
}

uint64_t mq__guard_timeouts(const mq__guard *g) { return atomic_load(&g->timeouts); }

int mq__guard_open_count(const mq__guard *g)
{
    mq__guard *m = (mq__guard *)g;
    pthread_mutex_lock(&m->mu);
    int n = m->n_open;
    pthread_mutex_unlock(&m->mu);
    return n;
}

int mq__socket_wait_ms(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return -1;
    return (int)ti.tcpi_last_data_recv;
}

/* ---- adaptive shedding (CoDel) ---- */

void mq__codel_init(mq__codel *q, double target_ms, double interval_ms, double lenient_ms,
                    int min_samples)
{
    q->lenient_ms = lenient_ms;
    q->target_ms = target_ms;
    q->interval_ms = interval_ms;
    q->min_samples = min_samples;
    atomic_init(&q->samples, 0);
    atomic_init(&q->interval_end_us, 0);
    atomic_init(&q->over, 0);
    atomic_init(&q->standing, false);
}

double mq__codel_limit(mq__codel *q, int waited_ms, long long now_us)
{
    long long end = atomic_load_explicit(&q->interval_end_us, memory_order_acquire);
    if (end == 0 || now_us >= end) {
        /* the interval is over: judge it, start the next (one thread wins the exchange) */
        long long next = now_us + (long long)(q->interval_ms * 1000);
        if (atomic_compare_exchange_strong(&q->interval_end_us, &end, next)) {
            int over = atomic_exchange(&q->over, 0);
            int seen = atomic_exchange(&q->samples, 0);
            /* entering takes min_samples requests, most over target; leaving, an interval
             * where most were not, or 20 intervals without a request. An empty interval is no
             * evidence either way: after a mass of 503s the clients are away for their
             * Retry-After and come back together, and must find the limit still strict. */
            bool was = atomic_load(&q->standing), st;
            if (end == 0 || now_us - end > 20 * (long long)(q->interval_ms * 1000)) st = false;
            else if (seen == 0) st = was;
            else if (2 * over > seen) st = was || seen >= q->min_samples;
            else st = false;
            atomic_store(&q->standing, st);
        }
    }
    atomic_fetch_add_explicit(&q->samples, 1, memory_order_relaxed);
    if (waited_ms > q->target_ms) atomic_fetch_add_explicit(&q->over, 1, memory_order_relaxed);
    return atomic_load_explicit(&q->standing, memory_order_relaxed) ? q->target_ms : q->lenient_ms;
}

/* ---- strict request JSON ---- */

long mq__json_strict(const char *body, size_t n, const char **why)
{
    const unsigned char *p = (const unsigned char *)body;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        unsigned c = p[i];
        if (in_str) {
            if (c == '"') {
                in_str = false;
            } else if (c == '\\') {
                if (i + 5 < n && p[i + 1] == 'u' && !memcmp(p + i + 2, "0000", 4)) {
                    *why = "\\u0000 (NUL) inside a string";
                    return (long)i;
                }
                i++;    /* the escaped character */
            } else if (c < 0x20) {
                *why = c ? "a raw control byte inside a string (JSON needs it escaped)"
                         : "a NUL byte inside a string";
                return (long)i;
            }
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == 0) {
            *why = "a NUL byte";
            return (long)i;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i + (c == '-');
            if (j + 1 < n && p[j] == '0' && p[j + 1] >= '0' && p[j + 1] <= '9') {
                *why = "a number with a leading zero";
                return (long)i;
            }
            while (i + 1 < n && ((p[i + 1] >= '0' && p[i + 1] <= '9') || p[i + 1] == '.' ||
                                 p[i + 1] == 'e' || p[i + 1] == 'E' || p[i + 1] == '+' || p[i + 1] == '-'))
                i++;
        }
    }
    return -1;
}

/* ---- event ids seen recently ---- */

typedef struct dd_ent {
    char *id;                       /* NULL: a released slot */
    uint32_t hash;
    int32_t next;                   /* chain */
    int state;                      /* MQ__DEDUP_DONE or MQ__DEDUP_PENDING */
    uint64_t seq;
    double t;
} dd_ent;

struct mq__dedup {
    pthread_mutex_t mu;
    dd_ent *e;                      /* [max] ring, oldest at head */
    int max, head, count, live;
    int32_t *bucket;                /* [nb] */
    uint32_t nb;
    double window;
};

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

mq__dedup *mq__dedup_create(int max_ids, double window_s)
{
    mq__dedup *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->max = max_ids > 0 ? max_ids : 1;
    d->window = window_s;
    d->nb = 16;
    while (d->nb < 2u * (uint32_t)d->max) d->nb <<= 1;
    d->e = calloc((size_t)d->max, sizeof *d->e);
    d->bucket = malloc(d->nb * sizeof *d->bucket);
    if (!d->e || !d->bucket) { free(d->e); free(d->bucket); free(d); return NULL; }
    for (uint32_t b = 0; b < d->nb; b++) d->bucket[b] = -1;
    pthread_mutex_init(&d->mu, NULL);
    return d;
}

void mq__dedup_destroy(mq__dedup *d)
{
    if (!d) return;
    for (int i = 0; i < d->max; i++) free(d->e[i].id);
    free(d->e);
    free(d->bucket);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static int32_t dd_find(mq__dedup *d, const char *id, uint32_t h)
{
    for (int32_t k = d->bucket[h & (d->nb - 1)]; k >= 0; k = d->e[k].next)
        if (d->e[k].hash == h && !strcmp(d->e[k].id, id)) return k;
    return -1;
}

static void dd_unlink(mq__dedup *d, int32_t k)
{
    int32_t *pp = &d->bucket[d->e[k].hash & (d->nb - 1)];
    while (*pp != k) pp = &d->e[*pp].next;
    *pp = d->e[k].next;
    free(d->e[k].id);
    d->e[k].id = NULL;
    d->live--;
}

/* Drops the oldest slot (released slots just advance the ring). */
static void dd_pop(mq__dedup *d)
{
    if (d->e[d->head].id) dd_unlink(d, d->head);
    d->head = (d->head + 1) % d->max;
    d->count--;
}

int mq__dedup_claim(mq__dedup *d, const char *id, double now, uint64_t *seq)
{
    uint32_t h = fnv1a(id);
    pthread_mutex_lock(&d->mu);
    while (d->count && (!d->e[d->head].id || now - d->e[d->head].t > d->window)) dd_pop(d);
    int32_t k = dd_find(d, id, h);
    int rc;
    if (k >= 0) {
        rc = d->e[k].state;
        *seq = d->e[k].seq;
    } else {
        if (d->count == d->max) dd_pop(d);
        int32_t at = (d->head + d->count) % d->max;
        char *copy = strdup(id);
        if (!copy) {
            rc = MQ_ENOMEM;
        } else {
            d->e[at] = (dd_ent){copy, h, d->bucket[h & (d->nb - 1)], MQ__DEDUP_PENDING, 0, now};
            d->bucket[h & (d->nb - 1)] = at;
            d->count++;
            d->live++;
            rc = MQ__DEDUP_NEW;
        }
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

void mq__dedup_set(mq__dedup *d, const char *id, uint64_t seq)
{
    pthread_mutex_lock(&d->mu);
    int32_t k = dd_find(d, id, fnv1a(id));
    if (k >= 0) {
        d->e[k].state = MQ__DEDUP_DONE;
        d->e[k].seq = seq;
    }
    pthread_mutex_unlock(&d->mu);
}

void mq__dedup_release(mq__dedup *d, const char *id)
{
    pthread_mutex_lock(&d->mu);
    int32_t k = dd_find(d, id, fnv1a(id));
    if (k >= 0) dd_unlink(d, k);
    pthread_mutex_unlock(&d->mu);
}

int mq__dedup_count(mq__dedup *d)
{
    pthread_mutex_lock(&d->mu);
    int n = d->live;
    pthread_mutex_unlock(&d->mu);
    return n;
}
