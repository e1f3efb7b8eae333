/* trend.c: live Trending Now: per-title exponentially decayed counters fed by the event stream,
 * and immutable ranked snapshots of them published for lock-free readers.
 *
 * The counter. A title's trending score at time T is the trending model's (src/models/model_pop.c)
 *     score(t, T) = sum over its counted events e of w_e * 0.5^((T - time_e) / half_life),
 * w_e = 1 for an event with a positive strength (mq_event_strength > 0: a play, a good
 * rating, a thumb up), else 0 (the model counts each positive pair once, whatever its value).
 * Every title decays by the same factor between two times, so the ranking does not depend on
 * T; only relative values matter. The counters therefore hold values at a reference time R:
 *     c[t] = score(t, R) = sum w_e * 2^((time_e - R) / h),
 * an event adds w * 2^((time - R) / h), and when an event lies more than RESCALE_HALF_LIVES
 * half-lives after R, R moves to that event's time and every counter is multiplied by
 * 2^(-(time - R_old) / h) (O(n_titles), once per RESCALE_HALF_LIVES half-lives of event time).
 * So increments never exceed 2^64 times a counter unit (no overflow) and nothing underflows
 * that is within ~1000 half-lives of the newest event (doubles reach 2^-1074): the seed's order
 * survives below fresh events even years later. Events stamped after the wall clock count as
 * happening now (a client clock running ahead must not pin a title on top for days).
 *
 * Seeding. The counters start from the scores the model bundle holds (the trending model's,
 * as of its latest training event, "as_of"); events at or before as_of are taken to be in
 * those scores already (the model is retrained from the log) and are not counted again.
 *
 * Snapshots. mq_trend_rank turns a copy of the counters into scores in [0, 1] (divided by the
 * largest) and an order (score descending, title ascending, as mq_page_catalog_init orders).
 * A mq_trend_pub publishes one snapshot at a time to any number of reader threads without a
 * lock, by split reference counting: the published word holds the snapshot's slot and a count
 * of acquisitions (one atomic fetch-add per reader); a reader's release decrements the
 * snapshot's own count; the publisher, when it replaces a snapshot, adds the acquisitions it
 * took out of the word to that count, and whoever brings it to zero frees it. Readers never
 * wait and never see a freed snapshot; the count bits (56) cannot wrap.
 *
 * Threads: an mq_trend is not thread-safe (the server guards it with a mutex taken once per
 * group commit); mq_trend_acquire/release are safe from any thread; mq_trend_publish must be
 * called by one thread at a time.
 */
#include "serve/serve.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define RESCALE_HALF_LIVES 64.0

struct mq_trend {
    int32_t n_titles;
    double half_life;           /* seconds */
    int64_t as_of;              /* seed time: events at or before it are in the seed */
    int64_t ref;                /* R: counters are values at this time */
    int64_t newest;             /* latest counted event time (after clamping), or as_of */
    uint64_t counted;           /* events that added weight */
    double *c;                  /* [n_titles] */
};

float mq_trend_event_weight(int kind, float value)
{
    return mq_event_strength(kind, value) > 0 ? 1.0f : 0.0f;
}

int mq_trend_create(int32_t n_titles, double half_life_s, const float *seed, int64_t as_of,
                    mq_trend **out, mq_err *err)
{
    *out = NULL;
    if (n_titles < 0) return mq__err_set(err, MQ_EINVAL, "trending: %d titles", n_titles);
    if (!(half_life_s > 0) || !isfinite(half_life_s))
        return mq__err_set(err, MQ_EINVAL, "trending: half-life %g s is not a positive number", half_life_s);
    mq_trend *tr = calloc(1, sizeof *tr);
    if (!tr) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    tr->c = calloc((size_t)MQ_MAX(n_titles, 1), sizeof *tr->c);
    if (!tr->c) { free(tr); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    tr->n_titles = n_titles;
    tr->half_life = half_life_s;
    tr->as_of = tr->ref = tr->newest = as_of;
    if (seed)
        for (int32_t t = 0; t < n_titles; t++) tr->c[t] = seed[t] > 0 && isfinite(seed[t]) ? seed[t] : 0;
    *out = tr;
    return 0;
}

void mq_trend_destroy(mq_trend *tr)
{
    if (!tr) return;
    free(tr->c);
    free(tr);
}

/* Titles put into the catalog at run time (titles.c) get counters of their own, from 0. */
int mq__trend_grow(mq_trend *tr, int32_t n_titles)
{
    if (n_titles <= tr->n_titles) return 0;
    double *c = realloc(tr->c, (size_t)n_titles * sizeof *c);
    if (!c) return MQ_ENOMEM;
    memset(c + tr->n_titles, 0, (size_t)(n_titles - tr->n_titles) * sizeof *c);
    tr->c = c;
    tr->n_titles = n_titles;
    return 0;
}

int32_t mq_trend_n_titles(const mq_trend *tr) { return tr->n_titles; }
uint64_t mq_trend_counted(const mq_trend *tr) { return tr->counted; }

bool mq_trend_add(mq_trend *tr, int32_t title, int64_t time, float weight, int64_t now)
{
    if (title < 0 || title >= tr->n_titles || !(weight > 0) || !isfinite(weight)) return false;
    if (time > now) time = now;
    if (time <= tr->as_of) return false;
    double x = (double)(time - tr->ref) / tr->half_life;
    if (x > RESCALE_HALF_LIVES) {
        double f = exp2(-x);
        for (int32_t t = 0; t < tr->n_titles; t++) tr->c[t] *= f;
        tr->ref = time;
        x = 0;
    }
    tr->c[title] += (double)weight * exp2(x);
    if (time > tr->newest) tr->newest = time;
    tr->counted++;
    return true;
}

double mq_trend_value(const mq_trend *tr, int32_t title, int64_t at)
{
    if (title < 0 || title >= tr->n_titles) return 0;
    return tr->c[title] * exp2(-(double)(at - tr->ref) / tr->half_life);
}

void mq_trend_copy(const mq_trend *tr, double *dst)
{
    memcpy(dst, tr->c, (size_t)tr->n_titles * sizeof *dst);
}

static int by_count_desc(const void *a, const void *b, void *ctx)
{
    const double *c = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (c[x] != c[y]) return c[x] < c[y] ? 1 : -1;
    return (x > y) - (x < y);
}

void mq_trend_rank(const double *c, int32_t n, float *score, int32_t *order)
{
    double mx = 0;
    for (int32_t t = 0; t < n; t++) if (c[t] > mx) mx = c[t];
    for (int32_t t = 0; t < n; t++) {
        score[t] = mx > 0 && c[t] > 0 ? (float)(c[t] / mx) : 0.0f;
        order[t] = t;
    }
    qsort_r(order, (size_t)n, sizeof *order, by_count_desc, (void *)c);
}

/* ---- snapshots ---- */

#define PUB_SLOTS 64
#define COUNT_BITS 56
#define COUNT_MASK ((UINT64_C(1) << COUNT_BITS) - 1)

typedef struct snap_owned {
    mq_trend_snap pub;
    atomic_llong refs;          /* releases (negative) plus acquisitions handed over at retirement */
    int slot;
} snap_owned;

struct mq_trend_pub {
    _Atomic uint64_t word;                  /* (slot + 1) << 56 | acquisitions; 0: none */
    _Atomic(snap_owned *) slot[PUB_SLOTS];
};

mq_trend_snap *mq_trend_snap_create(int32_t n_titles)
{
    snap_owned *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->pub.n_titles = n_titles;
    s->pub.score = malloc((size_t)MQ_MAX(n_titles, 1) * sizeof *s->pub.score);
    s->pub.order = malloc((size_t)MQ_MAX(n_titles, 1) * sizeof *s->pub.order);
    if (!s->pub.score || !s->pub.order) { mq_trend_snap_destroy(&s->pub); return NULL; }
    atomic_init(&s->refs, 0);
    s->slot = -1;
    return &s->pub;
}

void mq_trend_snap_destroy(mq_trend_snap *snap)
{
    if (!snap) return;
    free(snap->score);
    free(snap->order);
    free(snap);     /* pub is the first member of snap_owned */
}

mq_trend_pub *mq_trend_pub_create(void)
{
    mq_trend_pub *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    atomic_init(&p->word, 0);
    for (int i = 0; i < PUB_SLOTS; i++) atomic_init(&p->slot[i], NULL);
    return p;
}

static void snap_free(mq_trend_pub *p, snap_owned *s)
{
    atomic_store(&p->slot[s->slot], NULL);
    mq_trend_snap_destroy(&s->pub);
}

/* Hands a replaced snapshot's acquisitions to its own count; frees it if all were released. */
static void retire(mq_trend_pub *p, uint64_t word)
{
    if (!(word >> COUNT_BITS)) return;
    snap_owned *s = atomic_load(&p->slot[(word >> COUNT_BITS) - 1]);
    long long taken = (long long)(word & COUNT_MASK);
    if (atomic_fetch_add(&s->refs, taken) + taken == 0) snap_free(p, s);
}

void mq_trend_pub_destroy(mq_trend_pub *p)
{
    if (!p) return;
    retire(p, atomic_exchange(&p->word, 0));
    for (int i = 0; i < PUB_SLOTS; i++) {      /* snapshots still held: the readers are gone */
        snap_owned *s = atomic_load(&p->slot[i]);
        if (s) snap_free(p, s);
    }
    free(p);
}

int mq_trend_publish(mq_trend_pub *p, mq_trend_snap *snap, mq_err *err)
{
    snap_owned *s = (snap_owned *)snap;
    int i = 0;
    while (i < PUB_SLOTS && atomic_load(&p->slot[i])) i++;
    if (i == PUB_SLOTS) {
        mq_trend_snap_destroy(snap);
        return mq__err_set(err, MQ_EBUSY, "trending: %d snapshots still held by readers", PUB_SLOTS);
    }
    s->slot = i;
    atomic_store(&s->refs, 0);
    atomic_store(&p->slot[i], s);
    retire(p, atomic_exchange(&p->word, (uint64_t)(i + 1) << COUNT_BITS));
    return 0;
}

const mq_trend_snap *mq_trend_acquire(mq_trend_pub *p)
{
    uint64_t w = atomic_fetch_add(&p->word, 1);
    /* nothing published yet: the count landed on the empty word, which the first publish
     * overwrites, so it needs no undoing */
    if (!(w >> COUNT_BITS)) return NULL;
    return &atomic_load(&p->slot[(w >> COUNT_BITS) - 1])->pub;
}

void mq_trend_release(mq_trend_pub *p, const mq_trend_snap *snap)
{
    if (!snap) return;
    snap_owned *s = (snap_owned *)snap;
    if (atomic_fetch_sub(&s->refs, 1) - 1 == 0) snap_free(p, s);
}
