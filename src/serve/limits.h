/* limits.h: the server's defences against slow, hostile or too many clients (limits.c), kept
 * apart from the routes in http.c. Internal to src/serve. */
#ifndef MQ_SERVE_LIMITS_H
#define MQ_SERVE_LIMITS_H

#include "core/core.h"

/* ---- connection deadlines ----
 * Every open connection is registered with the phase it is in and since when: waiting for a
 * request's headers (from the accept, or the end of the previous response on a keep-alive
 * connection), receiving its body, or being answered. A watchdog thread shuts down (shutdown(2)
 * on the socket, which the HTTP library then closes) every connection that spent longer than
 * header_s in the first phase or body_s in the second, however slowly it trickles bytes in. */
enum { MQ__CONN_HEADERS, MQ__CONN_BODY, MQ__CONN_ANSWER, MQ__CONN_CLOSING };

typedef struct mq__guard mq__guard;
typedef struct mq__conn mq__conn;

/* header_s, body_s: deadlines in seconds (> 0). NULL when out of memory. */
mq__guard *mq__guard_create(double header_s, double body_s);
void mq__guard_destroy(mq__guard *g);   /* every connection must be closed first; NULL fine */
/* A new connection on socket fd (phase: headers). NULL when out of memory (not guarded). */
mq__conn *mq__guard_open(mq__guard *g, int fd);
/* The connection is closing (its socket is still open): forget it. NULL is fine. */
void mq__guard_close(mq__guard *g, mq__conn *c);
/* The connection enters a phase now (thread of the connection). NULL is fine. */
void mq__guard_phase(mq__conn *c, int phase);
/* Connections closed for missing a deadline, and connections open now. */
uint64_t mq__guard_timeouts(const mq__guard *g);
int mq__guard_open_count(const mq__guard *g);

/* How long, in milliseconds, the last bytes received on socket fd have waited in the kernel
 * (TCP_INFO last_data_recv: the queue time of a request read just now), -1 if unknown. */
int mq__socket_wait_ms(int fd);

/* ---- strict request JSON ----
 * What cJSON accepts but an id must never silently become: a \u0000 escape or a raw control
 * byte inside a string (cJSON ends the string there: "nulA\u0000evil" became "nulA"), a NUL
 * outside strings, numbers with a leading zero (007). Returns -1 when body[0..n) has none,
 * else the byte offset of the first, with *why saying which. */
long mq__json_strict(const char *body, size_t n, const char **why);

/* ---- retry-safe events: client event ids seen recently ----
 * A bounded table of event_id -> log sequence: an id is claimed before its event is appended,
 * given its sequence once the event is in the log, released when the append failed (the event
 * is in neither the log nor the store, so a retry must go through). Entries older than
 * window_s, or beyond max_ids (oldest first), are forgotten. Thread-safe (one mutex). */
typedef struct mq__dedup mq__dedup;
mq__dedup *mq__dedup_create(int max_ids, double window_s);
void mq__dedup_destroy(mq__dedup *d);   /* NULL is fine */
enum { MQ__DEDUP_NEW, MQ__DEDUP_DONE, MQ__DEDUP_PENDING };
/* Claims id (1..MQ_ID_MAX bytes) at time now: MQ__DEDUP_NEW (claimed: call set or release),
 * MQ__DEDUP_DONE (*seq: the event's sequence in the log) or MQ__DEDUP_PENDING (another request
 * with the same id is being written). MQ_ENOMEM when out of memory. */
int mq__dedup_claim(mq__dedup *d, const char *id, double now, uint64_t *seq);
void mq__dedup_set(mq__dedup *d, const char *id, uint64_t seq);
void mq__dedup_release(mq__dedup *d, const char *id);
int mq__dedup_count(mq__dedup *d);

#endif
