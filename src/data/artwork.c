/* artwork.c: the catalog's artwork variants, read from artwork.csv.
 *
 * Format: a CSV with the header `title,artwork,features`; one row per artwork variant of a
 * title: the title id (as in the interaction files), the artwork id (any non-empty text, unique
 * within the title) and its descriptive tags separated by ';' (e.g. `closeup;dark;action`;
 * lower-case letters, digits, '-' and '_'; may be empty). The file is found beside the
 * interaction files (like movies.csv and tags.csv) or named among the inputs. Rows of titles
 * that have no interactions are ignored, as for the other catalog files. A title's variants keep
 * the file's order (the first is its default artwork).
 *
 * Result: the catalog's art_ptr [n_titles + 1] (CSR by title) with art_ids and art_features
 * [n_artworks] (heap strings). Each bad row is an MQ_EFORMAT "artwork.csv:LINE: field 'x': ..."
 * (or skipped with skip_bad_rows), through the loaders' scanner (data.h).
 */
#include "data/data.h"

#include <stdlib.h>
#include <string.h>

typedef struct art_row { int32_t title; int64_t line; char *id, *features; } art_row;

static bool tags_ok(const mq__field *f)
{
    for (size_t i = 0; i < f->n; i++) {
        unsigned char c = (unsigned char)f->p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == ';';
        if (!ok) return false;
        if (c == ';' && (i == 0 || i + 1 == f->n || f->p[i + 1] == ';')) return false;   /* empty tag */
    }
    return true;
}

static int cmp_row(const void *a, const void *b)
{
    const art_row *x = a, *y = b;
    if (x->title != y->title) return x->title < y->title ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

int mq__catalog_artwork(mq_catalog *c, const mq__idspace *titles, const char *path,
                        mq_load_opts *o, mq_err *err)
{
    mq__src s;
    int rc = mq__ld_open(&s, path, o, err);
    if (rc) return rc;
    static const char *cols[] = {"title", "artwork", "features"};
    s.cols = cols;
    s.n_cols = 3;
    art_row *v = NULL;
    int64_t nv = 0, cv = 0;
    const char *b, *e;
    mq__field f[4];
    for (;;) {
        int r_ = mq__ld_next(&s, &b, &e);
        if (r_ == 0) break;
        if (r_ < 0) { rc = r_; goto fail; }
        if (r_ == 2) continue;
        int nf = mq__csv_split(b, e, f, 3);
        if (s.line == 1) {
            if (nf != 3 || f[0].n != 5 || memcmp(f[0].p, "title", 5) || f[1].n != 7 || memcmp(f[1].p, "artwork", 7) ||
                f[2].n != 8 || memcmp(f[2].p, "features", 8)) {
                rc = mq__err_set(err, MQ_EFORMAT, "%s:1: the header must be 'title,artwork,features'", path);
                goto fail;
            }
            continue;
        }
        if (nf != 3) {
            if ((rc = mq__ld_bad(&s, NULL, b, (size_t)(e - b), "expected 3 fields (title,artwork,features), found %d",
                                 nf < 0 ? 0 : MQ_MIN(nf, 4)))) goto fail;
            continue;
        }
        if (f[1].n == 0) {
            if ((rc = mq__ld_bad(&s, "artwork", f[1].p, 0, "is empty"))) goto fail;
            continue;
        }
        if (!tags_ok(&f[2])) {
            if ((rc = mq__ld_bad(&s, "features", f[2].p, f[2].n,
                                 "is not ';'-separated tags of a-z, 0-9, '-', '_'"))) goto fail;
            continue;
        }
        int32_t t = mq__ids_find(titles, f[0].p, f[0].n, false);
        if (t < 0) t = mq__ids_find(titles, f[0].p, f[0].n, true);   /* "007" for a numeric 7 */
        if (t < 0) continue;   /* a title without interactions */
        if (nv == cv) {
            cv = cv ? 2 * cv : 1024;
            art_row *nvp = realloc(v, (size_t)cv * sizeof *v);
            if (!nvp) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
            v = nvp;
        }
        art_row *r = &v[nv];
        r->title = t;
        r->line = s.line;
        r->id = mq__ld_strdup(&f[1], false);
        r->features = mq__ld_strdup(&f[2], false);
        if (!r->id || !r->features) {
            free(r->id);
            free(r->features);
            rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
            goto fail;
        }
        nv++;
    }
    qsort(v, (size_t)nv, sizeof *v, cmp_row);
    for (int64_t i = 1; i < nv; i++)
        if (v[i].title == v[i - 1].title && strcmp(v[i].id, v[i - 1].id) == 0) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s:%lld: field 'artwork': '%s' repeats line %lld's artwork of the same title",
                             path, (long long)v[i].line, v[i].id, (long long)v[i - 1].line);
            goto fail;
        }
    int64_t *ptr = calloc((size_t)c->n_titles + 1, sizeof *ptr);
    char **ids = malloc((size_t)MQ_MAX(nv, 1) * sizeof *ids), **feats = malloc((size_t)MQ_MAX(nv, 1) * sizeof *feats);
    if (!ptr || !ids || !feats) {
        free(ptr);
        free(ids);
        free(feats);
        rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < nv; i++) {
        ptr[v[i].title + 1]++;
        ids[i] = v[i].id;
        feats[i] = v[i].features;
    }
    for (int32_t t = 0; t < c->n_titles; t++) ptr[t + 1] += ptr[t];
    mq__catalog_artwork_release(c);
    c->art_ptr = ptr;
    c->art_ids = ids;
    c->art_features = feats;
    c->n_artworks = nv;
    free(v);
    mq__ld_close(&s);
    return 0;
fail:
    for (int64_t i = 0; i < nv; i++) {
        free(v[i].id);
        free(v[i].features);
    }
    free(v);
    mq__ld_close(&s);
    return rc;
}

void mq__catalog_artwork_release(mq_catalog *c)
{
    for (int64_t i = 0; i < c->n_artworks; i++) {
        if (c->art_ids) free(c->art_ids[i]);
        if (c->art_features) free(c->art_features[i]);
    }
    free(c->art_ptr);
    free(c->art_ids);
    free(c->art_features);
    c->art_ptr = NULL;
    c->art_ids = c->art_features = NULL;
    c->n_artworks = 0;
}

int mq__catalog_artwork_copy(mq_catalog *dst, const mq_catalog *src)
{
    if (!src->art_ptr) return 0;
    int64_t n = src->n_artworks;
    dst->art_ptr = malloc(((size_t)src->n_titles + 1) * sizeof *dst->art_ptr);
    dst->art_ids = calloc((size_t)MQ_MAX(n, 1), sizeof *dst->art_ids);
    dst->art_features = calloc((size_t)MQ_MAX(n, 1), sizeof *dst->art_features);
    dst->n_artworks = n;
    if (!dst->art_ptr || !dst->art_ids || !dst->art_features) return MQ_ENOMEM;
    memcpy(dst->art_ptr, src->art_ptr, ((size_t)src->n_titles + 1) * sizeof *dst->art_ptr);
    for (int64_t i = 0; i < n; i++)
        if (!(dst->art_ids[i] = strdup(src->art_ids[i])) || !(dst->art_features[i] = strdup(src->art_features[i])))
            return MQ_ENOMEM;
    return 0;
}
