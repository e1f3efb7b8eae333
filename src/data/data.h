/* data.h (internal): what the data-layer files share (data_load.c, catalog.c, snapshot.c,
 * split.c, synth.c). Not part of the public API.
 *
 * - mq__ld_*: the line/field scanner and strict row validation used by every loader: a source
 *   file mapped read-only, walked line by line; a malformed row is reported through
 *   mq__ld_bad (which either fails with "file:line: field 'x': 'text' problem" or, with
 *   skip_bad_rows, counts it and records the first reasons).
 * - mq__idspace: an id map with a fast path for canonical decimal ids (a direct array from the
 *   numeric value to the index), so numeric ids skip hashing.
 * Single-threaded: one loader context per call.
 */
#ifndef MQ_DATA_INTERNAL_H
#define MQ_DATA_INTERNAL_H

#include "core/core.h"

/* The line reader (mq__src, mq__ld_*) and field helpers live in core (core/lines.c). */
/* mq_snapshot_load, mapped or read into private memory (mq_load_opts.private_copy). */
int mq__snapshot_load(const char *path, bool private_copy, mq_dataset **out, mq_err *err);

/* Id space: map + numeric fast path. */
typedef struct mq__idspace {
    mq_idmap *map;
    int32_t *cache;          /* [cache_n] index of decimal id v, or -1 */
    size_t cache_n;
} mq__idspace;
int mq__ids_init(mq__idspace *s);
void mq__ids_release(mq__idspace *s);        /* frees the cache and the map (if still owned) */
/* Index of id (interned when absent; -1 on ENOMEM). numeric: the id must be decimal digits
 * (leading zeros are dropped so "007" and "7" are one id); -2 when it is not. */
int32_t mq__ids_intern(mq__idspace *s, const char *p, size_t n, bool numeric);
/* Index of id or -1, with the same canonicalization. */
int32_t mq__ids_find(const mq__idspace *s, const char *p, size_t n, bool numeric);

/* The catalog loaders (catalog.c): fill d->catalog from metadata files beside or named in the
 * inputs. fmt is the catalog file's format; titles absent from d->title_ids are ignored. */
int mq__catalog_ml_movies(mq_catalog *c, const mq__idspace *titles, const char *path,
                          bool dat, mq_load_opts *o, mq_err *err);
int mq__catalog_tags(mq_catalog *c, const mq__idspace *titles, const char *path, int fmt,
                     const char *tag_names_path, mq_load_opts *o, mq_err *err);
int mq__catalog_u_item(mq_catalog *c, const mq__idspace *titles, const char *path,
                       const char *genre_path, mq_load_opts *o, mq_err *err);
int mq__catalog_artists(mq_catalog *c, const mq__idspace *titles, const char *path,
                        mq_load_opts *o, mq_err *err);

/* A dataset as the data module allocates it: the public struct first (callers only hold
 * mq_dataset pointers, so it can grow), then how its arrays are owned. Every mq_dataset the
 * library hands out is one of these (dataset.c and snapshot.c allocate them). */
typedef struct mq__dataset_full {
    mq_dataset pub;
    void *mapping;           /* snapshot mapping when loaded by mmap (arrays point into it), else NULL */
    size_t mapping_len;
} mq__dataset_full;

/* Whether d's arrays point into a snapshot mapping. */
static inline bool mq__dataset_mapped(const mq_dataset *d)
{
    return ((const mq__dataset_full *)d)->mapping != NULL;
}

/* artwork.c: artwork.csv (title,artwork,features) into c->art_*; release and deep copy. */
int mq__catalog_artwork(mq_catalog *c, const mq__idspace *titles, const char *path,
                        mq_load_opts *o, mq_err *err);
void mq__catalog_artwork_release(mq_catalog *c);
int mq__catalog_artwork_copy(mq_catalog *dst, const mq_catalog *src);

#endif
