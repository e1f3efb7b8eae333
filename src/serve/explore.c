/* explore.c: exploration slots on the homepage (marquee serve --explore-epsilon E).
 *
 * A recommender that only exploits never learns about what it does not show. After the page is
 * built, each position of each row (Continue Watching excepted: it holds the member's own titles)
 * is, independently with probability E, given to a title from outside the page: the pool is
 * every title of the catalog not already on the page, not in the member's history, not excluded
 * by the request and of the requested genre when one is given. The pool title is drawn with
 * weight w_t = 1 / (1 + impressions of t) (impressions: homepage slots that showed t since the
 * model was loaded), so titles few members have seen, new ones first, get seen. Picks are
 * without replacement within a page, so the probability that slot k shows title t is
 *     E x w_t / W_k,      W_k = the sum of w over the pool left when slot k is drawn,
 * exact given the page's earlier slots; that slot propensity goes to the exposure log beside the
 * title (0 for slots that were not explored), so off-policy estimates can weight exploration
 * slots like any other logged decision. Cost: one pass over the catalog per page for W, and one
 * per explored slot for the draw (E x slots passes), only when E > 0.
 *
 * Thread safety: the impression counters are relaxed atomics; everything else is the request's.
 */
#include "serve/serve.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char EVIDENCE[] = "Something new to try";

int mq__explore_page(const mq__explore_in *in, mq_page *out, double *slot_prop, int *n_explored, mq_err *err)
{
    const mq_page *p = in->page;
    *out = *p;
    *n_explored = 0;
    int total = 0;
    for (int i = 0; i < p->n_rows; i++) total = MQ_MAX(total, p->rows[i].first + p->rows[i].n);
    for (int k = 0; k < total; k++) slot_prop[k] = 0;
    if (!(in->epsilon > 0) || total == 0) return 0;
    memcpy(in->titles, p->titles, (size_t)total * sizeof *in->titles);
    memcpy(in->evidence, p->evidence, (size_t)total * sizeof *in->evidence);
    memcpy(in->scores, p->scores, (size_t)total * sizeof *in->scores);
    out->titles = in->titles;
    out->evidence = in->evidence;
    out->scores = in->scores;
    /* the pool: banned = on the page, in the history, excluded (in->ban, cleared on return) */
    uint8_t *ban = in->ban;
    for (int k = 0; k < total; k++) ban[p->titles[k]] = 1;
    for (int i = 0; i < in->n_hist; i++) ban[in->hist[i]] = 1;
    for (int i = 0; i < in->n_exclude; i++) ban[in->exclude[i]] = 1;
    const mq_catalog *c = in->catalog;
    double W = 0;
    for (int32_t t = 0; t < in->n_titles; t++) {
        if (ban[t] || (in->genre >= 0 && !(c && c->genres && (c->genres[t] >> in->genre & 1)))) continue;
        W += 1.0 / (1.0 + (double)atomic_load_explicit(&in->impressions[t], memory_order_relaxed));
    }
    int rc = 0;
    for (int r = 0; r < p->n_rows && W > 0; r++) {
        if (!strcmp(p->rows[r].id, "continue_watching")) continue;
        for (int k = p->rows[r].first; k < p->rows[r].first + p->rows[r].n && W > 0; k++) {
            if (mq_rng_uniform(in->rng) >= in->epsilon) continue;
            double u = mq_rng_uniform(in->rng) * W, cum = 0, w = 0;
            int32_t pick = -1;
            for (int32_t t = 0; t < in->n_titles; t++) {
                if (ban[t] || (in->genre >= 0 && !(c && c->genres && (c->genres[t] >> in->genre & 1)))) continue;
                w = 1.0 / (1.0 + (double)atomic_load_explicit(&in->impressions[t], memory_order_relaxed));
                cum += w;
                pick = t;
                if (u < cum) break;
            }
            if (pick < 0) break;
            w = 1.0 / (1.0 + (double)atomic_load_explicit(&in->impressions[pick], memory_order_relaxed));
            slot_prop[k] = in->epsilon * w / W;
            in->titles[k] = pick;
            in->evidence[k] = EVIDENCE;
            in->scores[k] = 0;
            ban[pick] = 1;
            W -= w;
            ++*n_explored;
        }
    }
    /* clear the marks (the caller's scratch is all zero between requests) */
    for (int k = 0; k < total; k++) ban[p->titles[k]] = 0;
    for (int k = 0; k < total; k++) ban[in->titles[k]] = 0;
    for (int i = 0; i < in->n_hist; i++) ban[in->hist[i]] = 0;
    for (int i = 0; i < in->n_exclude; i++) ban[in->exclude[i]] = 0;
    (void)err;
    return rc;
}

void mq__explore_count(_Atomic uint32_t *impressions, int32_t n_counted, const int32_t *titles, int n)
{
    for (int i = 0; i < n; i++)
        if (titles[i] < n_counted) atomic_fetch_add_explicit(&impressions[titles[i]], 1, memory_order_relaxed);
}
