/* sim.h (internal): what the simulator's files share (sim.c: population, visits, runs;
 * sim_scenario.c: the strict scenario parser). Not part of the public API; tests/sim may
 * include it.
 *
 * The behaviour model's pure pieces are exposed here so the tests can check them against
 * their closed forms: the true affinity (a logistic of the standardized factor dot product,
 * the title's quality and a per-pair noise drawn from a hash, so every run and every variant
 * sees the same noise for the same member and title).
 */
#ifndef MQ_SIM_INTERNAL_H
#define MQ_SIM_INTERNAL_H

#include "core/core.h"

/* a = 1 / (1 + exp(-(beta z + gamma q + sigma eps - bias))) */
double mq__sim_affinity(const mq_sim_params *p, double z, double quality, double eps);

/* A standard normal deviate determined by (seed, t): the per (member, title) noise. */
double mq__sim_pair_noise(uint64_t seed, int32_t t);

/* One keep-alive HTTP/1.1 connection to a `marquee serve` (sim_http.c; --server mode). Not
 * thread-safe: one per simulator thread. */
typedef struct mq__sim_http {
    char host[256], port[8];
    int fd;                     /* -1: not connected (the next request dials) */
    mq_buf in;                  /* the bytes of the current answer */
} mq__sim_http;

/* Parses "http://HOST[:PORT][/]" (MQ_EINVAL naming the URL); connects on the first request. */
int mq__sim_http_init(mq__sim_http *h, const char *url, mq_err *err);
void mq__sim_http_release(mq__sim_http *h);
/* Sends METHOD path (with a JSON body when body != NULL) and reads the answer: *status and the
 * body in out (NUL-terminated). MQ_EIO "the server at ... went away (...)" when the connection
 * fails at any point; the request is not retried. */
int mq__sim_http_request(mq__sim_http *h, const char *method, const char *path, const char *body, size_t blen,
                         int *status, mq_buf *out, mq_err *err);

/* The artwork term of the click probability: exp(mean over the artwork's ';'-separated tags g
 * of (artwork_weight z(member_seed, g) + artwork_common c_g)), z a standard normal deviate
 * hashed from the member's seed and the tag's CRC-32C (a member's true, fixed taste for each
 * tag), c_g one hashed from the tag alone (its effect on everyone). 1 for NULL or empty
 * features (a title shown without artwork). */
double mq__sim_artwork_factor(const mq_sim_params *p, uint64_t member_seed, const char *features);

/* The features of artwork `id` among catalog title j's artworks (artwork.csv), or NULL. */
const char *mq__sim_artwork_features(const mq_catalog *c, int32_t j, const char *id);

/* Checks every parameter's range; MQ_EFORMAT naming "where: field 'sim.NAME'". */
int mq__sim_params_check(const mq_sim_params *p, const char *where, mq_err *err);

#endif
