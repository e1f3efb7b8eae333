/* core.h: internal helpers shared by every module (not part of the public API).
 *
 * - mq__err_set: fill an optional mq_err and return its code, so error paths read
 *   `return mq__err_set(err, MQ_EFORMAT, "%s:%ld: field 'rating': '%s' ...", ...)`.
 * - mq_buf: a growable byte buffer with printf, JSON string escaping and number formatting,
 *   used for JSON responses and CSV output (responses are written directly, never via cJSON).
 * - mq__file_map / mq__atomic_*: read-only mmap of a whole file; atomic replace of a file by
 *   temp file + fsync + rename (+ fsync of the directory).
 */
#ifndef MQ_CORE_H
#define MQ_CORE_H

#include "marquee.h"
#include <stdarg.h>

#define MQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MQ_MAX(a, b) ((a) > (b) ? (a) : (b))

int mq__err_set(mq_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends a printf-formatted line to log (no-op when log or log->fn is NULL). */
void mq__logf(const mq_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- growable buffer ---- */
typedef struct mq_buf {
    char *p;
    size_t len, cap;
    bool oom;             /* set once an allocation failed; later appends are ignored */
} mq_buf;

void mq_buf_init(mq_buf *b);
void mq_buf_release(mq_buf *b);
void mq_buf_reset(mq_buf *b);                    /* len = 0, keeps memory */
void mq_buf_put(mq_buf *b, const void *s, size_t n);
void mq_buf_puts(mq_buf *b, const char *s);
void mq_buf_putc(mq_buf *b, char c);
void mq_buf_printf(mq_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included, escaping control characters, '"', '\\'.
 * Invalid UTF-8 bytes are replaced by U+FFFD so the output is always valid JSON. */
void mq_buf_json_str(mq_buf *b, const char *s, size_t n);
/* Appends a JSON number: shortest round-trip form ("%.17g" trimmed); NaN/inf become null. */
void mq_buf_json_num(mq_buf *b, double x);
/* NUL-terminates (without counting it in len) and returns p; "" if empty. */
const char *mq_buf_cstr(mq_buf *b);

/* ---- files ---- */
/* Maps path read-only. *data is NULL and *len 0 for an empty file. */
int mq__file_map(const char *path, const void **data, size_t *len, mq_err *err);
/* Like mq__file_map, but a private copy read into anonymous pages: nothing done to the file
 * afterwards (overwritten in place, truncated) can change the data or fault (SIGBUS). Freed
 * with mq__file_unmap. */
int mq__file_read(const char *path, const void **data, size_t *len, mq_err *err);
void mq__file_unmap(const void *data, size_t len);

/* Atomic replace: open a temp file beside path, write, then commit (fsync, rename, fsync dir)
 * or abort (unlink). */
typedef struct mq_atomic_file {
    FILE *f;
    char path[4096];
    char tmp[4096];
} mq_atomic_file;
int mq__atomic_open(mq_atomic_file *a, const char *path, mq_err *err);
int mq__atomic_commit(mq_atomic_file *a, mq_err *err);
void mq__atomic_abort(mq_atomic_file *a);
/* Writes a whole buffer atomically. */
int mq__write_file_atomic(const char *path, const void *data, size_t len, mq_err *err);

/* Is s[0..n) valid UTF-8? */
bool mq__utf8_valid(const char *s, size_t n);
/* s[0..n) for an error message: printable ASCII and whole valid UTF-8 sequences as they are,
 * every other byte (control characters such as ESC, NUL, invalid UTF-8) as \xNN; cut with
 * "..." to fit cap (>= 4) bytes including the NUL. */
void mq__printable(const char *s, size_t n, char *out, size_t cap);



/* ---- catalog helpers (dataset.c) ---- */
int mq__catalog_init(mq_catalog *c, int32_t n);        /* empty metadata for n titles */
int mq__catalog_copy(mq_catalog *dst, const mq_catalog *src);
void mq__catalog_release(mq_catalog *c);
/* The entries of d with keep[e] set ([nnz] flags), members with at least one kept entry (in
 * index order), the whole title space and a copy of the catalog. as_positives sets every kept
 * value to 1 (and ratings false); otherwise values and the ratings flag are kept. */
int mq__dataset_select(const mq_dataset *d, const uint8_t *keep, bool as_positives,
                       mq_dataset **out, mq_err *err);
#endif
