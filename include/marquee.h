/* marquee.h: the public interface of libmarquee, a personalization engine in C.
 *
 * This is the one header users include. It holds what every module shares (errors, logging,
 * the RNG) and then includes one section per module, in the order data flows through the
 * system: data -> models -> eval -> store/log -> page -> http; stats -> xp; abr.
 *
 * Conventions (see docs/ARCHITECTURE.md):
 *  - Public names are mq_<module>_<verb>; types are mq_<thing>; constants MQ_*.
 *  - Functions that can fail return 0 or a negative MQ_E* code and take an optional mq_err*
 *    that receives a human message naming the file, line, field and value at fault.
 *  - The library never exits and never prints; progress goes through an optional log callback.
 *  - Whoever allocates frees: X_create and X_destroy allocate and free, X_init and X_release work on the
 *    caller's storage. Destroy functions accept NULL.
 *  - No mutable globals: results depend only on inputs, the explicit seed and thread count.
 */
#ifndef MARQUEE_H
#define MARQUEE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

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

/* Wall-clock seconds from a monotonic clock, for timing. */
double mq_now(void);

#include "marquee/data.h"
#include "marquee/models.h"
#include "marquee/eval.h"
#include "marquee/serve.h"
#include "marquee/stats.h"
#include "marquee/xp.h"
#include "marquee/abr.h"

#ifdef __cplusplus
}
#endif
#endif
