/* marquee.h: the public interface of libmarquee, a personalization engine in C.
 *
 * This is the one header users include. It includes marquee/core.h (what every module shares:
 * errors, logging, the RNG, CRC-32C, JSON escaping) and then one section per module, in the
 * order data flows through the system: data -> models -> eval -> store/log -> page -> http;
 * stats -> xp; abr. Each section also compiles on its own (it includes what it needs).
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

#include "marquee/core.h"

#include "marquee/data.h"
#include "marquee/models.h"
#include "marquee/eval.h"
#include "marquee/serve.h"
#include "marquee/stats.h"
#include "marquee/xp.h"
#include "marquee/abr.h"
#include "marquee/bandit.h"
#include "marquee/rank.h"
#include "marquee/sim.h"

#endif
