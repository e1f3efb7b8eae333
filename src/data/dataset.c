/* dataset.c: building the interaction matrix from a list of interactions.
 *
 * mq_dataset_build sorts interactions by (member, title, time) with a two-pass counting sort
 * (first by title, then stably by member: O(nnz + members + titles)), merges duplicate
 * (member, title) pairs (ratings: the latest value wins; everything else: values add up; time:
 * the latest), and derives the CSC copy by one more counting pass. Memory: the input plus
 * 2 x 24 bytes per interaction for CSR + CSC.
 */
#include "data/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static const char *event_names[MQ_EV_COUNT] = {"play", "rating", "thumb_up", "thumb_down",
                                               "impression", "search"};

const char *mq_event_name(int kind)
{
    return kind >= 0 && kind < MQ_EV_COUNT ? event_names[kind] : NULL;
}

int mq_event_parse(const char *s, size_t len)
{
    for (int k = 0; k < MQ_EV_COUNT; k++)
        if (strlen(event_names[k]) == len && memcmp(event_names[k], s, len) == 0) return k;
    return -1;
}

const char *mq_event_value_check(int kind, double value)
{
    if (!isfinite(value)) return "is not a finite number";
    if (kind == MQ_EV_RATING && (value < 0 || value > 10)) return "is out of range [0, 10] for a rating";
    if (kind == MQ_EV_PLAY && (value < 0 || value > 1e9)) return "is out of range [0, 1e9] seconds for a play";
    return NULL;
}

float mq_event_strength(int kind, float value)
{
    switch (kind) {
    case MQ_EV_THUMB_DOWN: return -1.0f;
    case MQ_EV_IMPRESSION:
    case MQ_EV_SEARCH: return 0.0f;
    case MQ_EV_THUMB_UP: return 1.0f;
    default: return value;
    }
}

static void catalog_release(mq_catalog *c)
{
    if (c->names)
        for (int32_t i = 0; i < c->n_titles; i++) free(c->names[i]);
    free(c->names);
    free(c->years);
    free(c->genres);
    for (int g = 0; g < c->n_genres; g++) free(c->genre_names[g]);
    free(c->tag_ptr);
    free(c->tag_ids);
    free(c->tag_counts);
    if (c->tag_names)
        for (int32_t i = 0; i < c->n_tags; i++) free(c->tag_names[i]);
    free(c->tag_names);
    mq__catalog_artwork_release(c);
    memset(c, 0, sizeof *c);
}

void mq_dataset_destroy(mq_dataset *d)
{
    if (!d) return;
    mq_idmap_destroy(d->member_ids);
    mq_idmap_destroy(d->title_ids);
    mq__dataset_full *full = (mq__dataset_full *)d;
    if (full->mapping) {
        /* Arrays point into the snapshot mapping; the catalog strings are heap copies. */
        munmap(full->mapping, full->mapping_len);
    } else {
        free(d->m_ptr); free(d->m_idx); free(d->m_val); free(d->m_time);
        free(d->t_ptr); free(d->t_idx); free(d->t_val); free(d->t_time);
    }
    catalog_release(&d->catalog);
    free(d);
}

int mq_catalog_init(mq_catalog *c, int32_t n)
{
    memset(c, 0, sizeof *c);
    c->n_titles = n;
    c->names = calloc((size_t)n + 1, sizeof *c->names);
    c->years = calloc((size_t)n + 1, sizeof *c->years);
    c->genres = calloc((size_t)n + 1, sizeof *c->genres);
    c->tag_ptr = calloc((size_t)n + 1, sizeof *c->tag_ptr);
    if (!c->names || !c->years || !c->genres || !c->tag_ptr) {
        catalog_release(c);
        return MQ_ENOMEM;
    }
    return 0;
}

void mq_catalog_release(mq_catalog *c) { catalog_release(c); }

/* Fills the CSC arrays of d from its CSR arrays (members ascending within each column). */
static int build_csc(mq_dataset *d)
{
    int64_t nnz = d->nnz;
    d->t_ptr = calloc((size_t)d->n_titles + 1, sizeof *d->t_ptr);
    d->t_idx = malloc((size_t)MQ_MAX(nnz, 1) * sizeof *d->t_idx);
    d->t_val = malloc((size_t)MQ_MAX(nnz, 1) * sizeof *d->t_val);
    d->t_time = malloc((size_t)MQ_MAX(nnz, 1) * sizeof *d->t_time);
    if (!d->t_ptr || !d->t_idx || !d->t_val || !d->t_time) return MQ_ENOMEM;
    for (int64_t e = 0; e < nnz; e++) d->t_ptr[d->m_idx[e] + 1]++;
    for (int32_t t = 0; t < d->n_titles; t++) d->t_ptr[t + 1] += d->t_ptr[t];
    int64_t *fill = malloc(((size_t)d->n_titles + 1) * sizeof *fill);
    if (!fill) return MQ_ENOMEM;
    memcpy(fill, d->t_ptr, ((size_t)d->n_titles + 1) * sizeof *fill);
    for (int32_t u = 0; u < d->n_members; u++)
        for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) {
            int64_t p = fill[d->m_idx[e]]++;
            d->t_idx[p] = u;
            d->t_val[p] = d->m_val[e];
            d->t_time[p] = d->m_time[e];
        }
    free(fill);
    return 0;
}

int mq_dataset_build(const mq_interaction *x, int64_t n, mq_idmap *member_ids,
                     mq_idmap *title_ids, mq_dataset **out, mq_err *err)
{
    *out = NULL;
    mq_dataset *d = calloc(1, sizeof(mq__dataset_full));   /* see data.h */
    int64_t *by_title = NULL, *order = NULL, *cnt = NULL;
    int rc = MQ_ENOMEM;
    if (!d) goto fail;
    d->member_ids = member_ids;
    d->title_ids = title_ids;
    member_ids = title_ids = NULL;
    d->n_members = mq_idmap_size(d->member_ids);
    d->n_titles = mq_idmap_size(d->title_ids);
    for (int64_t i = 0; i < n; i++)
        if (x[i].member < 0 || x[i].member >= d->n_members || x[i].title < 0 ||
            x[i].title >= d->n_titles) {
            rc = mq__err_set(err, MQ_EINVAL, "interaction %lld: index (%d, %d) outside the id maps",
                             (long long)i, x[i].member, x[i].title);
            goto fail;
        }

    /* Counting sort by title, then stable by member: order[] is sorted by (member, title),
     * and input order (assumed chronological within a pair when times tie) is kept. */
    size_t nb = (size_t)MQ_MAX(n, 1);
    by_title = malloc(nb * sizeof *by_title);
    order = malloc(nb * sizeof *order);
    size_t ncnt = (size_t)MQ_MAX(d->n_members, d->n_titles) + 1;
    cnt = calloc(ncnt, sizeof *cnt);
    if (!by_title || !order || !cnt) goto fail;
    for (int64_t i = 0; i < n; i++) cnt[x[i].title + 1]++;
    for (int32_t t = 0; t < d->n_titles; t++) cnt[t + 1] += cnt[t];
    for (int64_t i = 0; i < n; i++) by_title[cnt[x[i].title]++] = i;
    memset(cnt, 0, ncnt * sizeof *cnt);
    for (int64_t i = 0; i < n; i++) cnt[x[i].member + 1]++;
    for (int32_t u = 0; u < d->n_members; u++) cnt[u + 1] += cnt[u];
    for (int64_t j = 0; j < n; j++) {
        int64_t i = by_title[j];
        order[cnt[x[i].member]++] = i;
    }

    d->m_ptr = calloc((size_t)d->n_members + 1, sizeof *d->m_ptr);
    d->m_idx = malloc(nb * sizeof *d->m_idx);
    d->m_val = malloc(nb * sizeof *d->m_val);
    d->m_time = malloc(nb * sizeof *d->m_time);
    if (!d->m_ptr || !d->m_idx || !d->m_val || !d->m_time) goto fail;
    int64_t nnz = 0;
    for (int64_t j = 0; j < n; j++) {
        const mq_interaction *a = &x[order[j]];
        if (nnz > 0 && j > 0 && x[order[j - 1]].member == a->member && d->m_idx[nnz - 1] == a->title) {
            int64_t e = nnz - 1;
            bool later = a->time >= d->m_time[e];
            if (a->event == MQ_EV_RATING) { if (later) d->m_val[e] = a->value; }
            else d->m_val[e] += a->value;
            if (later) d->m_time[e] = a->time;
            continue;
        }
        d->m_idx[nnz] = a->title;
        d->m_val[nnz] = a->value;
        d->m_time[nnz] = a->time;
        d->m_ptr[a->member + 1]++;
        nnz++;
    }
    for (int32_t u = 0; u < d->n_members; u++) d->m_ptr[u + 1] += d->m_ptr[u];
    d->nnz = nnz;
    if ((rc = build_csc(d)) != 0) goto fail;
    if ((rc = mq_catalog_init(&d->catalog, d->n_titles)) != 0) goto fail;
    free(by_title); free(order); free(cnt);
    *out = d;
    return 0;
fail:
    free(by_title); free(order); free(cnt);
    mq_idmap_destroy(member_ids);
    mq_idmap_destroy(title_ids);
    mq_dataset_destroy(d);
    if (rc == MQ_ENOMEM) mq__err_set(err, MQ_ENOMEM, "out of memory building a %lld-interaction matrix", (long long)n);
    return rc;
}

int mq_catalog_copy(mq_catalog *dst, const mq_catalog *src)
{
    int rc = mq_catalog_init(dst, src->n_titles);
    if (rc) return rc;
    for (int32_t t = 0; t < src->n_titles; t++) {
        if (src->names && src->names[t] && !(dst->names[t] = strdup(src->names[t]))) goto oom;
        if (src->years) dst->years[t] = src->years[t];
        if (src->genres) dst->genres[t] = src->genres[t];
    }
    dst->n_genres = src->n_genres;
    for (int g = 0; g < src->n_genres; g++)
        if (!(dst->genre_names[g] = strdup(src->genre_names[g]))) goto oom;
    int64_t ne = src->tag_ptr ? src->tag_ptr[src->n_titles] : 0;
    if (src->tag_ptr) memcpy(dst->tag_ptr, src->tag_ptr, ((size_t)src->n_titles + 1) * sizeof *dst->tag_ptr);
    dst->tag_ids = malloc((size_t)MQ_MAX(ne, 1) * sizeof *dst->tag_ids);
    dst->tag_counts = malloc((size_t)MQ_MAX(ne, 1) * sizeof *dst->tag_counts);
    dst->tag_names = calloc((size_t)src->n_tags + 1, sizeof *dst->tag_names);
    if (!dst->tag_ids || !dst->tag_counts || !dst->tag_names) goto oom;
    if (ne) {
        memcpy(dst->tag_ids, src->tag_ids, (size_t)ne * sizeof *dst->tag_ids);
        memcpy(dst->tag_counts, src->tag_counts, (size_t)ne * sizeof *dst->tag_counts);
    }
    dst->n_tags = src->n_tags;
    for (int32_t i = 0; i < src->n_tags; i++)
        if (!(dst->tag_names[i] = strdup(src->tag_names[i]))) goto oom;
    if (mq__catalog_artwork_copy(dst, src)) goto oom;
    return 0;
oom:
    catalog_release(dst);
    return MQ_ENOMEM;
}

int mq_dataset_select(const mq_dataset *d, const uint8_t *keep, bool as_positives,
                       mq_dataset **out, mq_err *err)
{
    *out = NULL;
    mq_idmap *members = mq_idmap_create(), *titles = mq_idmap_create();
    mq_interaction *x = malloc((size_t)MQ_MAX(d->nnz, 1) * sizeof *x);
    if (!members || !titles || !x) goto oom;
    for (int32_t t = 0; t < d->n_titles; t++) {
        const char *id = mq_idmap_name(d->title_ids, t);
        if (mq_idmap_intern(titles, id, strlen(id)) < 0) goto oom;
    }
    int64_t n = 0;
    int32_t kind = as_positives ? MQ_EV_PLAY : d->ratings ? MQ_EV_RATING : MQ_EV_PLAY;
    for (int32_t u = 0; u < d->n_members; u++) {
        int32_t nu = -1;
        for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) {
            if (!keep[e]) continue;
            if (nu < 0) {
                const char *id = mq_idmap_name(d->member_ids, u);
                if ((nu = mq_idmap_intern(members, id, strlen(id))) < 0) goto oom;
            }
            x[n++] = (mq_interaction){nu, d->m_idx[e], as_positives ? 1.0f : d->m_val[e], kind,
                                      d->m_time[e]};
        }
    }
    mq_dataset *s;
    int rc = mq_dataset_build(x, n, members, titles, &s, err);
    free(x);
    if (rc) return rc;
    s->ratings = as_positives ? false : d->ratings;
    mq_catalog_release(&s->catalog);
    if ((rc = mq_catalog_copy(&s->catalog, &d->catalog)) != 0) {
        mq_dataset_destroy(s);
        return mq__err_set(err, rc, "out of memory copying the catalog");
    }
    *out = s;
    return 0;
oom:
    mq_idmap_destroy(members);
    mq_idmap_destroy(titles);
    free(x);
    return mq__err_set(err, MQ_ENOMEM, "out of memory selecting from %lld interactions",
                       (long long)d->nnz);
}

int mq_dataset_binarize(const mq_dataset *d, float threshold, int min_per_member,
                        mq_dataset **out, mq_err *err)
{
    *out = NULL;
    uint8_t *keep = malloc((size_t)MQ_MAX(d->nnz, 1));
    if (!keep) return mq__err_set(err, MQ_ENOMEM, "out of memory binarizing %lld interactions", (long long)d->nnz);
    for (int32_t u = 0; u < d->n_members; u++) {
        int64_t kept = 0;
        for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) kept += keep[e] = d->m_val[e] >= threshold;
        if (kept < min_per_member)
            memset(keep + d->m_ptr[u], 0, (size_t)(d->m_ptr[u + 1] - d->m_ptr[u]));
    }
    int rc = mq_dataset_select(d, keep, true, out, err);
    free(keep);
    return rc;
}

/* Appends every interaction of d to x[*n], mapping d's ids through the merged maps. */
static int merge_add(const mq_dataset *d, mq_idmap *members, mq_idmap *titles, mq_interaction *x,
                     int64_t *n)
{
    for (int32_t u = 0; u < d->n_members; u++) {
        const char *mid = mq_idmap_name(d->member_ids, u);
        int32_t mu = mq_idmap_intern(members, mid, strlen(mid));
        if (mu < 0) return MQ_ENOMEM;
        for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) {
            const char *tid = mq_idmap_name(d->title_ids, d->m_idx[e]);
            int32_t t = mq_idmap_intern(titles, tid, strlen(tid));
            if (t < 0) return MQ_ENOMEM;
            x[(*n)++] = (mq_interaction){mu, t, d->m_val[e], MQ_EV_PLAY, d->m_time[e]};
        }
    }
    return 0;
}

int mq_dataset_merge(const mq_dataset *a, const mq_dataset *b, mq_dataset **out, mq_err *err)
{
    *out = NULL;
    mq_idmap *members = mq_idmap_create(), *titles = mq_idmap_create();
    mq_interaction *x = malloc((size_t)MQ_MAX(a->nnz + b->nnz, 1) * sizeof *x);
    int64_t n = 0;
    if (!members || !titles || !x) goto oom;
    /* a's titles first and in order, so a's catalog indices stay valid in the result. */
    for (int32_t t = 0; t < a->n_titles; t++) {
        const char *id = mq_idmap_name(a->title_ids, t);
        if (mq_idmap_intern(titles, id, strlen(id)) != t) goto oom;
    }
    if (merge_add(a, members, titles, x, &n) || merge_add(b, members, titles, x, &n)) goto oom;
    mq_dataset *m;
    int rc = mq_dataset_build(x, n, members, titles, &m, err);
    free(x);
    if (rc) return rc;
    /* m->catalog is empty for all of m's titles; fill a's part from a's catalog. */
    mq_catalog c;
    if ((rc = mq_catalog_copy(&c, &a->catalog)) != 0) {
        mq_dataset_destroy(m);
        return mq__err_set(err, rc, "out of memory copying the catalog");
    }
    for (int32_t t = 0; t < a->n_titles; t++) {
        m->catalog.names[t] = c.names[t];
        c.names[t] = NULL;
        m->catalog.years[t] = c.years[t];
        m->catalog.genres[t] = c.genres[t];
    }
    m->catalog.n_genres = c.n_genres;
    for (int g = 0; g < c.n_genres; g++) { m->catalog.genre_names[g] = c.genre_names[g]; c.genre_names[g] = NULL; }
    c.n_genres = 0;
    /* Tags: a's CSR, then empty rows for b's new titles. */
    free(m->catalog.tag_ptr);
    m->catalog.tag_ptr = calloc((size_t)m->n_titles + 1, sizeof *m->catalog.tag_ptr);
    if (!m->catalog.tag_ptr) { mq_catalog_release(&c); mq_dataset_destroy(m); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    for (int32_t t = 0; t <= m->n_titles; t++)
        m->catalog.tag_ptr[t] = c.tag_ptr[MQ_MIN(t, a->n_titles)];
    m->catalog.tag_ids = c.tag_ids; c.tag_ids = NULL;
    m->catalog.tag_counts = c.tag_counts; c.tag_counts = NULL;
    m->catalog.tag_names = c.tag_names; c.tag_names = NULL;
    m->catalog.n_tags = c.n_tags; c.n_tags = 0;
    mq_catalog_release(&c);
    m->ratings = false;
    *out = m;
    return 0;
oom:
    mq_idmap_destroy(members);
    mq_idmap_destroy(titles);
    free(x);
    return mq__err_set(err, MQ_ENOMEM, "out of memory merging %lld + %lld interactions",
                       (long long)a->nnz, (long long)b->nnz);
}
