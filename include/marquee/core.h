/* marquee/core.h: what every module of libmarquee shares: error codes and reports, the log
 * callback, the explicit RNG, CRC-32C, a clock and JSON text escaping. Included by every other
 * public header; users normally include <marquee.h>, which includes them all. Each public
 * header compiles on its own (tests/core/test_headers.c checks it).
 *
 * How public structs grow (the shared library keeps its ABI within one SONAME):
 *  - Objects the library allocates and frees are opaque handles (mq_model, mq_idmap,
 *    mq_evlog, mq_store, mq_trend, mq_page_ctx, mq_server ...): they grow freely.
 *  - mq_dataset and result structs filled by a create/load call are allocated by the library
 *    (callers only hold pointers) and grow by appending fields.
 *  - Options structs a caller fills and passes in (mq_*_opts, mq_filter, mq_page_req,
 *    mq_rank_live, mq_art_policy, mq_xp_design_in) start with `uint32_t struct_size` and are
 *    set up by their init function, which also writes the documented defaults:
 *        mq_train_opts o;
 *        mq_train_opts_init(&o, sizeof o);    (sizeof as the caller was compiled)
 *        o.seed = 7;
 *    Every function taking one refuses struct_size 0 (`= {0}`, calloc: never initialised) and
 *    sizes it does not know (a program built against a newer libmarquee) with MQ_EINVAL
 *    naming the struct and its init function; a smaller known size (a program built against
 *    an older release) is read as far as it goes and the fields appended since take their
 *    defaults. Fields are only appended. A NULL options pointer means all defaults wherever
 *    options are optional. Bindings call the init function with their own struct's size.
 *  - Records passed in arrays (mq_event, mq_interaction, mq_page_hist, mq_abr_result ...) and
 *    result structs in caller storage (mq_*_result, mq_*_stats, mq_split ...) have no size
 *    field: appending a field to one of them bumps the SONAME (binary compatibility is per
 *    SONAME).
 */
#ifndef MARQUEE_CORE_H
#define MARQUEE_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmarquee.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* The library's version, "MAJOR.MINOR.PATCH" (MQ_VERSION when the library was built; compare
 * with the MQ_VERSION a program was compiled with to detect a mismatched shared library). */
const char *mq_version(void);

#define MQ_VERSION "0.1.0"

/* Error codes: always negative. mq_strerror() names each one. */
#define MQ_OK        0
#define MQ_EINVAL   -1   /* bad argument or option value */
#define MQ_ENOMEM   -2   /* allocation failed */
#define MQ_EIO      -3   /* read/write/open failed (errno in the message) */
#define MQ_EFORMAT  -4   /* malformed input file or request */
#define MQ_ECORRUPT -5   /* checksum or structure mismatch in a stored file */
#define MQ_ENOTFOUND -6  /* unknown id, missing file or key */
#define MQ_ERANGE   -7   /* value out of its allowed range */
#define MQ_EUNSUP   -8   /* valid request that this build or version does not support */
#define MQ_EBUSY    -9   /* overloaded: try again later */
#define MQ_ENOSPC   -10  /* no space left on the device (a write may succeed once space returns) */

/* An error report: a code and a message such as
 * "ratings.csv:17: field 'rating': '7.5' is out of range [0.5, 5]". */
typedef struct mq_err {
    int code;
    char msg[512];
} mq_err;

/* Returns a static, human name for an MQ_E* code ("invalid argument", ...). */
const char *mq_strerror(int code);

/* Logging: a callback that receives progress lines (no trailing newline). NULL = silent.
 * Long-running calls take an optional mq_log; the CLI passes one that writes to stderr. */
typedef void (*mq_log_fn)(void *user, const char *line);
typedef struct mq_log {
    mq_log_fn fn;
    void *user;
} mq_log;

/* Explicit RNG (xoshiro256**, seeded by splitmix64). Not thread-safe: one per thread. */
typedef struct mq_rng {
    uint64_t s[4];
} mq_rng;
void mq_rng_seed(mq_rng *r, uint64_t seed);
uint64_t mq_rng_next(mq_rng *r);
/* Uniform double in [0, 1). */
double mq_rng_uniform(mq_rng *r);
/* Uniform integer in [0, n). n > 0. */
uint64_t mq_rng_below(mq_rng *r, uint64_t n);
/* Standard normal deviate (Box-Muller, no caching: each call uses two uniforms). */
double mq_rng_normal(mq_rng *r);

/* CRC-32C (Castagnoli) of a buffer, continuing from crc (start with 0). */
uint32_t mq_crc32c(uint32_t crc, const void *buf, size_t len);

/* Unix seconds (UTC) of "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS[Z]" (a space may stand for the
 * T). Returns 0, or MQ_EINVAL when s is anything else (trailing text included). */
int mq_time_parse(const char *s, int64_t *out);

/* Wall-clock seconds from a monotonic clock, for timing. */
double mq_now(void);

/* JSON text: writes the NUL-terminated s (NULL: "") to f as a JSON string literal (quotes
 * included), escaping '"',
 * '\\' and control characters; invalid UTF-8 bytes become U+FFFD, so the output is always valid
 * JSON. The one escaper of the library (the server's responses use the same code). Returns 0,
 * or MQ_EIO when the write fails / MQ_ENOMEM. */
int mq_json_write_str(FILE *f, const char *s);
/* Writes x as a JSON number in its shortest round-trip form; NaN and infinities as null. */
int mq_json_write_num(FILE *f, double x);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
