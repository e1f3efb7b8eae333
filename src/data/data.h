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

/* A source file being parsed. */
typedef struct mq__src {
    const char *path;        /* as given, used in messages */
    const char *data;        /* mapping (NULL for an empty file) */
    size_t len;
    const char *p;           /* next unread byte */
    int64_t line;            /* number of the line last returned (1-based) */
    bool utf8_per_line;      /* the file has invalid UTF-8: check each line */
    mq_load_opts *opts;      /* skip_bad_rows and the bad-row report; may be NULL (strict) */
    const char *const *cols; /* column names for messages about a whole line (may be NULL) */
    int n_cols;
    mq_err *err;
} mq__src;

/* A field of a row: bytes [p, p+n); esc: a quoted CSV field holding "" escapes. */
typedef struct mq__field {
    const char *p;
    size_t n;
    bool esc;
} mq__field;

/* Maps path into s. An empty file is MQ_EFORMAT "path: the file is empty". */
int mq__ld_open(mq__src *s, const char *path, mq_load_opts *opts, mq_err *err);
void mq__ld_close(mq__src *s);
/* Next line into [*b, *e) without its "\n" or "\r\n". Returns 1 for a line, 0 at the end, or
 * a negative MQ_E* when the line is bad and strict mode fails (a truncated last line, invalid
 * UTF-8); 2 when the line is bad and was skipped (call again). */
int mq__ld_next(mq__src *s, const char **b, const char **e);
/* Reports a bad row of s: field may be NULL; text/n is the offending text. Returns 0 when the
 * row is skipped (skip_bad_rows), else MQ_EFORMAT with the message in s->err. */
int mq__ld_bad(mq__src *s, const char *field, const char *text, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Splits [b, e) on delim (no quoting) into at most max fields; returns the count, or max + 1
 * when there are more. */
int mq__ld_split(const char *b, const char *e, char delim, mq__field *f, int max);
/* Splits a CSV line with RFC 4180 quotes; returns the count, max + 1 when there are more, or
 * -1 for an unterminated quote. */
/* mq_snapshot_load, mapped or read into private memory (mq_load_opts.private_copy). */
int mq__snapshot_load(const char *path, bool private_copy, mq_dataset **out, mq_err *err);
int mq__ld_split_csv(const char *b, const char *e, mq__field *f, int max);
/* Splits on the two-character separator "::". */
int mq__ld_split2(const char *b, const char *e, mq__field *f, int max);
/* Copies a field's text into a NUL-terminated heap string, undoing "" escapes and converting
 * from Latin-1 when latin1_ok and the bytes are not valid UTF-8. NULL on ENOMEM. */
char *mq__ld_strdup(const mq__field *f, bool latin1_ok);

/* Whole-string number parsers: true when [p, p+n) is entirely a number in range. */
bool mq__ld_u64(const char *p, size_t n, uint64_t *v);
bool mq__ld_i64(const char *p, size_t n, int64_t *v);
bool mq__ld_f64(const char *p, size_t n, double *v);   /* finite decimal, optional exponent */

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

/* CRC-32C using the SSE4.2 instruction when the CPU has it (same values as mq_crc32c). */
uint32_t mq__crc32c_fast(uint32_t crc, const void *buf, size_t len);

#endif
