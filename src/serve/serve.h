/* serve.h (internal): what the serving files share (page.c, http.c, log.c, seglog.c, store.c,
 * trend.c, limits.c, xp_live.c, exposure.c, xp_report.c, xp_guard.c, xp_collect.c, xp_ops.c, console.c,
 * titles.c, rank_serve.c, artwork.c, explore.c).
 * Not part of the public API; tests/serve and bench/serve_* may include it.
 *
 * - The homepage JSON writers: the page builder writes responses straight into core's mq_buf
 *   (the server reuses one buffer per connection), every string through mq_buf_json_str, the
 *   one escaper of the library; per-title JSON is prepared once per catalog and copied.
 */
#ifndef MQ_SERVE_INTERNAL_H
#define MQ_SERVE_INTERNAL_H

#include "core/core.h"

#include <microhttpd.h>
#include <stdatomic.h>

/* Appends title t's JSON members ("id", "name", "year", "genres", without braces). */
void mq__page_title_json(const mq_page_catalog *pc, int32_t t, mq_buf *b);

/* Appends the page's "rows" array ([{"id","name","reason","titles":[...]}]) as JSON. */
void mq__page_json(const mq_page *p, const mq_page_catalog *pc, mq_buf *b);


/* ==== seglog.c ==== */
/* Segment files (seglog.c), shared by the
 * event log (log.c) and the exposure log (exposure.c). Not part of the public API. */


#define MQ__SEG_HDR 16          /* magic[8] | u64 first sequence */
#define MQ__SEG_REC_HDR 8       /* u32 len | u32 crc */
#define MQ__SEG_BAD (-100000)   /* a record callback's answer: fields inconsistent (*why) */

void mq__put_u32(unsigned char *p, uint32_t v);
void mq__put_u64(unsigned char *p, uint64_t v);
uint32_t mq__get_u32(const unsigned char *p);
uint64_t mq__get_u64(const unsigned char *p);

/* What kind of log a directory holds. */
typedef struct mq__seg_fmt {
    const char *magic;          /* 8 bytes */
    const char *what;           /* "event log", for messages */
    uint32_t min_len, max_len;  /* payload length bounds */
} mq__seg_fmt;

/* Called for each record whose frame and CRC are good, in sequence order: 0 to go on,
 * MQ__SEG_BAD (with *why) when the payload's fields are inconsistent (then torn-tail rules
 * apply), any other value stops the scan and is returned. */
typedef int (*mq__seg_rec_fn)(void *user, const unsigned char *payload, uint32_t len,
                              uint64_t seq, const char **why);

typedef struct mq__seg_scan_out {
    uint64_t next_seq;          /* sequence after the last good record */
    uint64_t last_first;        /* first sequence of the last segment (0: none) */
    int64_t last_len;           /* its good length */
    uint64_t segments;
    int64_t bytes;              /* good bytes in all segments */
    uint64_t truncated_bytes;   /* cut by repair */
} mq__seg_scan_out;

/* Frames the payload already at rec + MQ__SEG_REC_HDR (len bytes): writes len and the
 * CRC-32C in front; returns the record's size. */
size_t mq__seg_frame(unsigned char *rec, uint32_t len);
/* Writes a 16-byte segment header. */
void mq__seg_header(unsigned char *h, const char *magic, uint64_t first);
void mq__seg_path(char *out, size_t cap, const char *dir, uint64_t first);
/* The first sequences of dir's segments, ascending (*first malloc'd, caller frees). */
int mq__seg_list(const char *dir, const char *what, uint64_t **first, int *n, mq_err *err);
/* Reads every segment of dir in order (recovery rules atop seglog.c); with repair a torn tail
 * is truncated (and reported through log). */
int mq__seg_scan(const char *dir, const mq__seg_fmt *f, mq__seg_rec_fn fn, void *user,
                 bool repair, const mq_log *log, mq__seg_scan_out *out, mq_err *err);
int mq__mkdir_p(const char *dir, mq_err *err);
int mq__fsync_dir(const char *dir, mq_err *err);


/* ==== titles.c ==== */
/* Titles added, changed and withdrawn at run time (PUT / DELETE /v1/titles/{id}): the catalog
 * log (seglog.c segments, magic "MQCATLG1") and the immutable catalog views pages use. The
 * writer side (mq__titles) is not thread-safe: the server calls it under its reload lock. A
 * view is immutable and shared by request threads. */

typedef struct mq__titles mq__titles;
/* Opens (creating) the catalog log in dir and replays it (a torn tail is cut). */
int mq__titles_open(const char *dir, const mq_log *log, mq__titles **out, mq_err *err);
void mq__titles_close(mq__titles *c);                  /* NULL is fine */
/* Titles the log defines (withdrawn ones included); *records: records in the log. */
int mq__titles_count(const mq__titles *c, uint64_t *records);
/* Validates body (the title JSON: docs/API.md) for id strictly, appends it to the log and
 * fdatasyncs before returning, then applies it. MQ_EINVAL with the field and value named;
 * MQ_EIO / MQ_ENOSPC when the log cannot be written (nothing was). base: the model's catalog
 * (the genre count limit); now: the server's time, kept as the title's first put. */
int mq__titles_put(mq__titles *c, const char *id, const char *body, size_t len, const mq_catalog *base,
                   int64_t now, mq_err *err);
/* Appends a withdrawal of id (durable before returning) and applies it. */
int mq__titles_delete(mq__titles *c, const char *id, mq_err *err);

typedef struct mq__tview mq__tview;
/* The catalog as pages see it: the model's n_model titles (ids, popularity and trending seed
 * [n_model]; its catalog) with the log applied, then the log's added titles. Borrows main's
 * catalog strings and ids (keep the model alive while the view lives); copies the log's. */
int mq__tview_build(const mq__titles *c, const mq_model *main, const char *const *ids, int32_t n_model,
                    const float *pop, const float *trend_seed, mq__tview **out, mq_err *err);
void mq__tview_destroy(mq__tview *v);                   /* NULL is fine */
int32_t mq__tview_n(const mq__tview *v);
const char *const *mq__tview_ids(const mq__tview *v);  /* [n] */
const mq_page_catalog *mq__tview_pc(const mq__tview *v);
const float *mq__tview_trend_seed(const mq__tview *v); /* [n] */
bool mq__tview_content(const mq__tview *v);            /* cold start through the content model */
/* An added title's index (n_model..n-1), -1 if id is not one. */
int32_t mq__tview_find(const mq__tview *v, const char *id);
bool mq__tview_withdrawn(const mq__tview *v, int32_t t);
/* Whether t may be shown at time now (not withdrawn, inside its availability window). */
bool mq__tview_shown(const mq__tview *v, int32_t t, int64_t now);
/* Titles not shown at now, written to out (room for mq__tview_n_hidable); returns the count. */
int mq__tview_n_hidable(const mq__tview *v);
int mq__tview_hidden(const mq__tview *v, int64_t now, int32_t *out);
/* t's availability window (INT64_MIN / INT64_MAX: open). */
void mq__tview_window(const mq__tview *v, int32_t t, int64_t *from, int64_t *until);
/* Cold-start scores of the added titles into scores[n_model .. n): relevance c in [0, 1] (the
 * content model's cosine against hidx [n_pos] when the view has one, else the genre affinity
 * of hist) placed on the member's model scale as lo + c (hi - lo) (titles.c). */
int mq__tview_cold(const mq__tview *v, const int32_t *hidx, int n_pos, const mq_page_hist *hist, int n_hist,
                   float lo, float hi, float *scores, mq_err *err);
/* Titles similar to t by genre overlap (Jaccard, then popularity): for added titles, which no
 * model has a similarity for. Returns the count (<= n). Thread-safe. */
int mq__tview_similar(const mq__tview *v, int32_t t, int n, int32_t *out, float *score);

/* Grows trending counters to n_titles (new titles start at 0); the caller serializes (tmu). */
int mq__trend_grow(mq_trend *tr, int32_t n_titles);


/* ==== limits.c ==== */
/* The server's defences against slow, hostile or too many clients (limits.c), kept
 * apart from the routes in http.c. Internal to src/serve. */


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

/* Adaptive shedding (CoDel as Facebook applies it to server queues, "Fail at Scale", ACM Queue
 * 13(8), 2015; after Nichols & Jacobson, "Controlling Queue Delay", 2012): while the queue
 * drains, a request may wait up to lenient_ms (Facebook uses the interval; we keep the fixed
 * limit of earlier releases, 250 ms, so that a busy host's CPU waits are not shed); once most
 * requests of a whole interval waited over target, the queue is standing and the limit drops
 * to target until an interval where most did not (an empty interval changes nothing; 2 s
 * without a request ends it). CoDel's test is the interval's minimum
 * wait, right for a FIFO; the server's event loops take ready sockets in no arrival order, so
 * under overload a few requests are always read at once and the minimum stays low: the median
 * is the robust statistic here (measured: with the minimum, 2,000 connections still saw
 * answered p99 264 ms; with the median and no memory across empty intervals, 640 ms, as the
 * clients shed together came back together to a lenient limit). As
 * CoDel leaves a queue of one packet alone, an interval with fewer than min_samples requests
 * never counts as standing: a few requests that each waited for a CPU the machine lacks (a
 * busy host) are not a queue of requests. Normal load, whose queue drains, sheds nothing;
 * overload keeps the answered requests' wait near target. Lock-free: any thread may call it;
 * a race at an interval's edge costs one sample. */
typedef struct mq__codel {
    double target_ms, interval_ms, lenient_ms;
    atomic_llong interval_end_us;   /* CLOCK_MONOTONIC microseconds; 0: not started */
    int min_samples;
    atomic_int over;                /* requests of the current interval that waited > target */
    atomic_int samples;             /* requests seen in it */
    atomic_bool standing;           /* most of the last whole interval waited over target */
} mq__codel;

void mq__codel_init(mq__codel *q, double target_ms, double interval_ms, double lenient_ms,
                    int min_samples);
/* The wait limit for a request that waited waited_ms, seen at now_us (monotonic microseconds):
 * shed it when waited_ms > the result. Also folds waited_ms into the state. */
double mq__codel_limit(mq__codel *q, int waited_ms, long long now_us);

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


/* ==== xpserve.c ==== */
/* The server's online experiments (xp_live.c: experiment
 * definitions with treatments, per-request assignment, forcing, page ids; exposure.c: the
 * exposure log). Not part of the public API; used by http.c and `marquee xp collect`. */


/* ---- treatments (xp_live.c) ---- */

/* The keys a variant's "treatment" object may set, one bit each. New keys (ranker,
 * artwork_policy) are a row of xp_live.c's table plus a field here. */
enum { MQ__XT_MODEL, MQ__XT_MMR, MQ__XT_ROWS, MQ__XT_PER_ROW, MQ__XT_ROW_PRIORS, MQ__XT_RANKER,
       MQ__XT_ARTWORK_POLICY, MQ__XT_N };
extern const char *const mq__xt_names[MQ__XT_N];

typedef struct mq__xps_treat {
    unsigned set;                       /* 1 << MQ__XT_* for each key given */
    char model[MQ_XP_NAME];             /* NAME of NAME.mqm in the models directory */
    int model_slot;                     /* the server's index of that model (0 = main.mqm) */
    double mmr;
    int rows, per_row;
    double row_prior[MQ_PAGE_ROW_KINDS];   /* multipliers, 1 where not given */
    char ranker[MQ_XP_NAME];            /* NAME of NAME.mqm (a ranker), or "none" */
    int ranker_slot;                    /* the server's: 0 ranker.mqm, k > 0 a treatment's, -1 none */
    int art_kind;                       /* "artwork_policy": mq_policy_kind or MQ_POLICY_FIXED */
    double art_param;                   /* its parameter (0 = the policy's default) */
} mq__xps_treat;

/* Experiments as the server runs them: the assignment definitions (mq_xp_config) plus each
 * variant's treatment. Immutable once loaded; shared by request threads. */
#define MQ__XPS_MAX_RAMP 16

/* A variant's canary ramp: percents of its hash range served the variant, step by step. */
typedef struct mq__xps_ramp {
    int n;                              /* steps; 0 = no ramp (always 100%) */
    double pct[MQ__XPS_MAX_RAMP];       /* strictly increasing, in (0, 100] */
    long long every_s;                  /* a step per this many seconds, or */
    long long every_units;              /* a step per this many exposed units of the variant */
} mq__xps_ramp;

/* Per experiment: how often guardrails and ramps are checked, and when. */
typedef struct mq__xps_live {
    long long check_every_s;            /* "check_every" (default 60) */
    long long min_units;                /* "min_units" per arm before guardrails apply (100) */
    double max_error_rate;              /* "max_error_rate": failed page builds / pages; < 0 none */
    double max_p99_ms;                  /* "max_p99_ms": p99 page build time; < 0 none */
} mq__xps_live;

typedef struct mq__xps {
    mq_xp_config xp;
    mq__xps_treat *treat;               /* [xp.n][MQ_XP_MAX_VARIANTS] */
    mq__xps_ramp *ramp;                 /* [xp.n][MQ_XP_MAX_VARIANTS] */
    mq__xps_live *live;                 /* [xp.n] */
    int n_models;
    char (*models)[MQ_XP_NAME];         /* [n_models] distinct treatment models, file order */
    char path[4096];
} mq__xps;

/* Loads the experiments file (docs/xp.md): every experiment field of mq_xp_config_parse plus
 * per-variant "treatment" objects. Refuses unknown keys and bad values naming file, experiment
 * and field, and two experiments that can share a member (not one layer) setting the same
 * treatment key. Model files are checked by the server, which knows the models directory. */
int mq__xps_load(const char *path, mq__xps *out, mq_err *err);
void mq__xps_release(mq__xps *x);

#define MQ__XPS_MAX 64   /* experiments a member can be in at once (response, record) */

typedef struct mq__xps_pick {
    int exp, variant;
    bool forced;
    bool served_default;                /* in the variant's range, outside its ramp or stopped */
    double share;                       /* the share of the variant's hash buckets served it when
                                         * the member was assigned (ramps, stops; 1 unramped): the
                                         * chance a range member is served, for the SRM check */
} mq__xps_pick;

typedef struct mq__xps_result {
    int n;
    mq__xps_pick p[MQ__XPS_MAX];        /* the experiments the member is in, file order */
    mq__xps_treat t;                    /* the merged treatment (keys never clash) */
    bool forced;                        /* some variant was forced with ?xp= */
} mq__xps_result;

/* Assigns member to every experiment with mq_xp_assign at time now, then applies force
 * ("NAME:VARIANT[,NAME:VARIANT]", NULL = none). served ([xp.n][MQ_XP_MAX_VARIANTS] permille of
 * each variant's hash range served the variant: ramps and stops; NULL = all) marks the members
 * outside it served_default (they get no treatment and are units of neither arm): the member's
 * position in the variant's bucket range must be below it, so a larger share keeps everyone a
 * smaller one had. Returns 0, or MQ_EINVAL with why naming the unknown experiment or variant. */
int mq__xps_assign(const mq__xps *x, const char *member, long long now, const char *force,
                   const _Atomic int *served, mq__xps_result *out, char *why, size_t cap);
/* The permille of a variant's range served at ramp step (-1: stopped = 0; no ramp: 1000). */
int mq__xps_ramp_permille(const mq__xps_ramp *r, int step);
/* Parses "90s", "5m", "1h", "2d" (or a bare number of seconds); -1 if malformed. */
long long mq__xps_duration(const char *s);

/* The server's clock for experiment windows (unix seconds). One function, so that a server
 * clock option (wall, event, offset) changes assignment windows everywhere at once. */
long long mq__xps_now(void);

/* A page id unique across restarts: 16 hex digits of a random boot id, '-', 16 hex digits of
 * a counter (33 bytes + NUL). */
void mq__xps_page_id(uint64_t boot, uint64_t n, char out[MQ_PAGE_ID_MAX + 1]);
uint64_t mq__xps_boot_id(void);

/* Appends ',"page_id":..,"experiments":[{"name","variant"[,"forced":true]}]' (and
 * ',"forced":true' when any variant was forced) to a response object. */
void mq__xps_json(mq_buf *out, const mq__xps *x, const mq__xps_result *r, const char *page_id);

/* ---- guardrails and ramps (xp_guard.c) ---- */

struct mq__exlog;
struct mq__xpc;

/* A variant's serving health since the experiments were loaded: pages built under it, failed
 * builds, and a latency histogram (MQ__XPV_BUCKETS buckets growing by 10%% from 50 us). Updated
 * by request threads with relaxed atomics. */
#define MQ__XPV_BUCKETS 128
typedef struct mq__xpv {
    _Atomic unsigned long long pages, errors;
    _Atomic unsigned long long b[MQ__XPV_BUCKETS];
} mq__xpv;
void mq__xpv_add(mq__xpv *v, double seconds, bool error);
/* The p99 build time in ms (upper edge of its bucket), 0 without pages. */
double mq__xpv_p99_ms(const mq__xpv *v);

/* The live guardrail test of one check: treatment B must not be worse than control A by more
 * than max_deg (a fraction of A's mean when relative, else in the metric's units). mSPRT on
 * d = mB - mA + delta (delta = max_deg x mA or max_deg; signs flipped when lower is better) with
 * v = sA^2/nA + sB^2/nB (+ the variance of delta through mA when relative): Lambda =
 * mq_xp_msprt_lambda(d, v, tau2), counted only when d < 0 (one-sided). *tau2 is fixed at the
 * first check (0 on entry: set to (max(delta, 0.1 sd))^2); *p is the running minimum of 1 /
 * Lambda (start at 1). Returns true when *p < alpha (stop). */
bool mq__xpg_test(const mq_xp_arm *a, const mq_xp_arm *b, double max_deg, bool relative,
                  bool higher_is_better, double alpha, double *tau2, double *p, double *d_out);

typedef struct mq__xpg mq__xpg;
/* The persisted runtime state of ramps and stops (<dir>/xp_state.json). */
int mq__xpg_open(const char *dir, const mq_log *log, mq__xpg **out, mq_err *err);
void mq__xpg_close(mq__xpg *g);
/* Fills served ([x->xp.n][MQ_XP_MAX_VARIANTS] permille) from the state for config x. */
void mq__xpg_served(mq__xpg *g, const mq__xps *x, long long now, _Atomic int *served);
/* One round of checks at time now: for each experiment due, takes its units from the live
 * units (mq__xpc_open_live; or any mq__xpc),
 * tests the guardrails of each running variant against the first variant, and its serving
 * health (vstats [xp.n][MQ_XP_MAX_VARIANTS], may be NULL) against max_error_rate and
 * max_p99_ms once it has min_units pages, stops a breaching
 * variant (persisted, logged, counted; a record in the exposure log when exlog is set) and
 * advances ramps. Updates served. */
int mq__xpg_check(mq__xpg *g, const mq__xps *x, struct mq__xpc *units, long long now,
                  _Atomic int *served, const mq__xpv *vstats, struct mq__exlog *exlog, mq_err *err);
/* Appends the state of variant v of experiment e: ',"ramp_percent":..,"stopped":..,"reason":..'. */
void mq__xpg_variant_json(mq__xpg *g, const mq__xps *x, int e, int v, long long now, mq_buf *out);
/* "running", "ramping" (some ramp below its last step), "stopped" (every variant but the first
 * stopped) with a reason; NULL when the state has nothing to say (then the time decides). */
const char *mq__xpg_state(mq__xpg *g, const mq__xps *x, int e, const char **reason, char *buf, size_t cap);
/* Prometheus lines for marquee_xp_rollbacks_total{experiment,variant}. */
void mq__xpg_metrics(mq__xpg *g, mq_buf *out);
/* Operator actions (POST /v1/experiments/{name}/variants/{v}/stop and /advance): stop variant
 * v (> 0) of experiment e as a guardrail would (persisted, logged, counted, a rollback record
 * in exlog when set), or move its ramp one step on (units: the variant's exposed units now,
 * where a {"units": N} ramp counts the next step from). Both record reason (may be NULL) in
 * the history and update served. MQ_EINVAL (why in err) for the control, a stopped variant,
 * no ramp or the last step. */
int mq__xpg_stop(mq__xpg *g, const mq__xps *x, int e, int v, const char *reason, long long now,
                 _Atomic int *served, struct mq__exlog *exlog, mq_err *err);
int mq__xpg_advance(mq__xpg *g, const mq__xps *x, int e, int v, long long units, const char *reason,
                    long long now, _Atomic int *served, mq_err *err);
/* Appends '"variants":[{name, ramp, step, served_percent, stopped[, reason, stopped_at]}],
 * "history":[{variant, time, event: ramp|stop, by: checker|operator, percent, reason}]' (time order). */
void mq__xpg_timeline_json(mq__xpg *g, const mq__xps *x, int e, long long now, mq_buf *out);

/* ---- drift counts across reloads and restarts (xp_drift.c) ---- */

/* The live score histograms of the models' drift monitors, one entry per (model name,
 * reference edges), persisted in <dir>/drift_state.json. */
typedef struct mq__drifts mq__drifts;
/* Reads the state file in dir if there is one (an unreadable one is logged and ignored). */
int mq__drifts_open(const char *dir, const mq_log *log, mq__drifts **out, mq_err *err);
void mq__drifts_close(mq__drifts *d);
/* The counts [MQ_MODEL_SCORE_BINS] of model with reference edges [MQ_MODEL_SCORE_BINS - 1]:
 * the saved ones when both match, else a new entry at zero. Valid until close; add with
 * relaxed atomics. NULL when d is NULL or out of memory. */
_Atomic unsigned long long *mq__drifts_counts(mq__drifts *d, const char *model, const float *edges);
/* Writes the state file atomically when some count changed since the last write. */
int mq__drifts_save(mq__drifts *d, mq_err *err);

/* ---- the exposure log (exposure.c) ---- */

enum { MQ__EXPO_OFF = 0, MQ__EXPO_FULL, MQ__EXPO_SUMMARY };
/* "full", "summary", "off"; -1 if unknown. */
int mq__expo_mode_parse(const char *s);

enum { MQ__EXPO_ROUTE_HOMEPAGE = 0, MQ__EXPO_ROUTE_RECS = 1, MQ__EXPO_ROUTE_SIMILAR = 2,
       MQ__EXPO_ROUTE_ROLLBACK = 3 };   /* a guardrail stop: member = experiment, model_version = reason */

/* One served list as the request handler describes it (borrowed strings). */
typedef struct mq__expo {
    int64_t time;
    int route;
    bool forced;
    const char *member, *page_id, *model_version;
    int n_exp;
    const char *exp_name[MQ__XPS_MAX], *variant[MQ__XPS_MAX];
    bool served_default[MQ__XPS_MAX];
    bool has_share;                     /* served_share is set (flag 8 of the record) */
    double served_share[MQ__XPS_MAX];   /* mq__xps_pick.share of each experiment */
    int n_rows;
    const char *const *row_id;          /* [n_rows] */
    const int *row_n;                   /* [n_rows] titles per row */
    const char *const *titles;          /* [sum row_n] title ids, row after row */
    /* artwork decisions (NULL art_variant: none; the record is then version 1): the policy
     * (mq_policy_kind or MQ_POLICY_FIXED), the member context (art_dm bytes, mq_art_context),
     * and per title the variant shown (its index among the title's artworks; 255 = none) and
     * its exact propensity. Summary records carry none. */
    int art_policy, art_dm;
    const uint8_t *art_ctx;
    int64_t art_time;                   /* the page's time on the server's event clock */
    const uint8_t *art_variant;         /* [sum row_n] */
    const double *art_prop;             /* [sum row_n] */
    /* exploration slots (NULL: none): [sum row_n] each title's slot propensity, 0 = not an
     * exploration slot (explore.c); flag 4 of the record */
    const double *explore_prop;
} mq__expo;

/* Fills e's experiments from an assignment result. */
void mq__xps_expo(const mq__xps *x, const mq__xps_result *r, mq__expo *e);

/* Encodes e into b as a framed record (8 header bytes, then the payload; exposure.c gives the
 * layout). summary leaves the title list out. */
int mq__expo_encode(const mq__expo *e, bool summary, mq_buf *b, mq_err *err);

/* Sets the time of a record framed by mq__expo_encode (and its CRC). */
void mq__expo_retime(mq_buf *rec, int64_t time);

/* A decoded record: strings point into the payload and are not NUL-terminated. */
typedef struct mq__expo_str { const char *p; int n; } mq__expo_str;
typedef struct mq__expo_rec {
    int64_t time;
    int route;
    bool forced, summary;
    mq__expo_str member, page_id, model_version;
    int n_exp;
    mq__expo_str exp_name[MQ__XPS_MAX], variant[MQ__XPS_MAX];
    bool served_default[MQ__XPS_MAX];
    double served_share[MQ__XPS_MAX];   /* NaN: the record has none (written before flag 8) */
    uint32_t n_titles;                  /* all titles shown (also in summary records) */
    int n_rows;                         /* 0 in summary records */
    const unsigned char *rows;          /* the raw row list; walk with mq__expo_rows_next */
    const unsigned char *end;
    /* version 2 records: artwork decisions (art NULL in version 1 and summary records) */
    int art_policy, art_dm;
    const uint8_t *art_ctx;             /* [art_dm] */
    int64_t art_time;                   /* the page's time on the server's event clock */
    const unsigned char *art;           /* [n_titles] x 9 bytes: u8 variant | f64 propensity */
    const unsigned char *explore;       /* [n_titles] x f64 slot propensities (flag 4), or NULL */
} mq__expo_rec;
/* Title i's exploration slot propensity (0: not explored, or a record without the block). */
double mq__expo_explore(const mq__expo_rec *r, uint32_t i);
/* Title i's (record order) artwork variant (255: none) and propensity in a version 2 record. */
void mq__expo_art(const mq__expo_rec *r, uint32_t i, int *variant, double *prop);
int mq__expo_decode(const unsigned char *payload, uint32_t len, mq__expo_rec *r);
/* Walks the rows of r: *at starts at r->rows; fills the row id and its titles (up to cap,
 * *n_titles the row's count). Returns false at the end. */
bool mq__expo_rows_next(const mq__expo_rec *r, const unsigned char **at, mq__expo_str *row_id,
                        mq__expo_str *titles, int cap, int *n_titles);

typedef struct mq__exlog mq__exlog;
/* Opens (creating) the exposure log in dir: scans and repairs it like the event log, then opens
 * the last segment for appending. */
int mq__exlog_open(const char *dir, int64_t segment_bytes, const mq_log *log, mq__exlog **out,
                   mq_err *err);
void mq__exlog_close(mq__exlog *l);
/* Appends one framed record (from mq__expo_encode): written (pwrite) to the segment before
 * returning, so it survives a crash of the process; a background thread fdatasyncs once a
 * second (a machine crash loses at most that). Thread-safe. */
int mq__exlog_append(mq__exlog *l, const mq_buf *rec, mq_err *err);
typedef struct mq__exlog_stats { uint64_t records; int64_t bytes; uint64_t syncs, failures; } mq__exlog_stats;
void mq__exlog_get_stats(mq__exlog *l, mq__exlog_stats *st);
/* Reads every record of the exposure log in dir (read-only; a torn tail ends it). */
int mq__exlog_scan(const char *dir, int (*fn)(void *user, const mq__expo_rec *r, uint64_t seq),
                   void *user, mq_err *err);

/* ---- unit metrics (xp_collect.c) ---- */

/* Units of every experiment (or o->experiment's), sorted by first exposure then unit: what
 * `xp collect` writes and the live reports and guardrails analyse. Thread-safe (one mutex). */
typedef struct mq__xpc mq__xpc;
/* Offline: reads both logs (`xp collect`). */
int mq__xpc_build(const mq_xp_collect_opts *o, mq__xpc **out, mq_err *err);
/* Live (the server): the units of the exposure log in o->exposures (every experiment, no
 * window), to be kept current with mq__xpc_events (every event-log record from the first, in
 * order: the log's replay at open, then each commit) and mq__xpc_expose (every exposure).
 * Equal at every moment to mq__xpc_build on the logs as they stand (xp_collect.c says why). */
int mq__xpc_open_live(const mq_xp_collect_opts *o, long long now, mq__xpc **out, mq_err *err);
/* Appends the framed record rec of e to the exposure log l and counts it, as one step under
 * the units' mutex (so units see exposures in log order); a time below the log's latest is
 * raised to it first (rec re-framed): exposure times never go down in log order. Fails as
 * mq__exlog_append. */
int mq__xpc_expose(mq__xpc *x, struct mq__exlog *l, const mq__expo *e, mq_buf *rec, mq_err *err);
/* For servers whose exposure times are the requests' own (--clock event: pages for different
 * times arrive in any order): times are written as they are, and an exposure older than the
 * log's latest marks the units stale; the next read rebuilds them from both logs (exact, at the
 * cost of a log read). Without this call such times are raised to the latest (wall clock). */
void mq__xpc_keep_times(mq__xpc *x);
/* Counts events first_seq.. of the event log; records already counted are skipped. */
int mq__xpc_events(mq__xpc *x, const mq_event *ev, int n, uint64_t first_seq, long long now);
/* n, mean and variance over the units of (experiment, variant) of a unit metric: a column of
 * the CSV or "plays_per_page" (plays / pages per unit). MQ_EINVAL for an unknown metric. */
int mq__xpc_arm(mq__xpc *x, const char *experiment, const char *variant, const char *metric,
                mq_xp_arm *out);
void mq__xpc_destroy(mq__xpc *x);
/* Appends the CSV of one experiment (NULL: the only one) to b. */
int mq__xpc_csv(mq__xpc *x, const char *experiment, mq_buf *b, int64_t *n_units, mq_err *err);
/* Units of experiment in variant (NULL: all variants). */
int64_t mq__xpc_units(mq__xpc *x, const char *experiment, const char *variant);

/* ---- live reports (xp_report.c) ---- */

typedef struct mq__xpg mq__xpg;

/* GET /v1/experiments: every experiment with state, variants, shares and exposed units. */
int mq__xpr_list(const mq__xps *x, mq__xpg *g, mq__xpc *units, long long now, mq_buf *out, mq_err *err);
/* GET /v1/experiments/{name}/report: `xp analyze --sequential` of the live units (units: the
 * server's mq__xpc_open_live state, equal to `xp collect` of the logs now),
 * plus "status" and, when drift is non-empty, '"drift": [drift]' (the caller's JSON objects
 * per variant: model and PSI). MQ_ENOTFOUND for an unknown experiment, MQ_EINVAL for a bad metric. */
int mq__xpr_report(const mq__xps *x, mq__xpg *g, mq__xpc *units, const char *name, const char *metric,
                   const char *drift, long long now, mq_buf *out, mq_err *err);

/* ---- an experiment over time and operator actions (xp_ops.c) ---- */

/* GET /v1/experiments/{name}/timeline: units per day per variant, the cumulative effect of each
 * variant against the control per day (Welch CI, always-valid p and confidence sequence as the
 * live report would give at the end of that day) for metric (NULL: play_seconds), the variants'
 * ramps and the history of ramp steps and stops (g may be NULL). MQ_ENOTFOUND for an unknown
 * experiment, MQ_EINVAL for a metric that is not a unit column. */
int mq__xpo_timeline(const mq__xps *x, mq__xpg *g, mq__xpc *units, const char *name,
                     const char *metric, long long now, mq_buf *out, mq_err *err);
/* POST /v1/experiments/{path}: path is "{name}/variants/{variant}/stop" or ".../advance";
 * reason (NULL or at most 200 bytes of UTF-8) goes into the history. Answers the experiment's
 * variants and history. MQ_ENOTFOUND for an unknown route, experiment or variant, MQ_EINVAL for
 * what mq__xpg_stop / mq__xpg_advance refuse. */
int mq__xpo_action(const mq__xps *x, mq__xpg *g, mq__xpc *units, const char *path,
                   const char *reason, long long now, _Atomic int *served, struct mq__exlog *exlog,
                   mq_buf *out, mq_err *err);


/* ==== artwork.c ==== */
/* The server's artwork bandit: decisions per served list, rewards from play events, the
 * learner rebuilt from the logs at start-up (artwork.c gives the rules). Thread-safe. */

typedef struct mq__art mq__art;
typedef struct mq__art_opts {
    mq_art_policy policy;       /* the default policy (--artwork-policy; kind, param, gamma, draws) */
    double window_s;            /* reward window in event seconds (1800) */
    int pending;                /* pages kept waiting for rewards (65536) */
    double refresh_s;           /* seconds between published states (1) */
    uint64_t seed;              /* decisions: RNG of a page = f(seed, member, page sequence) */
} mq__art_opts;

/* Builds the feature space from d's catalog (MQ_EINVAL without artwork), rebuilds the learner
 * from the exposure and event logs (either may be NULL or absent), publishes the first state and
 * starts the publisher thread. The state file is <exposures>/artwork_state.bin. */
int mq__art_open(const mq_dataset *d, const mq__art_opts *o, const char *exposures, const char *events,
                 const mq_log *log, mq__art **out, mq_err *err);
/* Publishes, saves the state file and frees. NULL is fine. */
void mq__art_close(mq__art *a);
int32_t mq__art_dm(const mq__art *a);
/* The member context (mq_art_context) from history titles (dataset indices, -1 skipped) with
 * weights (> 0 liked; NULL = all liked). */
void mq__art_context(const mq__art *a, const int32_t *ds_titles, const float *weight, int n, int device,
                     int hour, uint8_t *ctx);

/* One served list's decisions. The caller fills the inputs and owns every array. */
typedef struct mq__art_page {
    const char *member, *page_id;
    uint64_t page_seq;          /* pages since start-up: seeds the page's RNG */
    int64_t time;               /* the page's time on the server's event clock (rewards' window) */
    int kind;                   /* -1: the server's policy; else a treatment's kind and param */
    double param;
    const uint8_t *ctx;         /* [dm] */
    const int32_t *titles;      /* [n] dataset title indices (-1: no artwork) */
    int n;
    int64_t *choice;            /* out [n]: global artwork or -1 */
    double *prop;               /* out [n]: exact propensity (0 without artwork) */
    uint8_t *variant;           /* out [n]: index among the title's artworks, 255 none */
    const char **json;          /* out [n]: the artwork id as a JSON string, NULL none */
    int policy;                 /* out: the policy kind used */
} mq__art_page;
int mq__art_decide(mq__art *a, mq__art_page *p, mq_err *err);
/* The list was answered (its exposure logged): its impressions wait for rewards. */
int mq__art_record(mq__art *a, const mq__art_page *p, mq_err *err);
/* Committed events (the event log's apply callback): plays that name a pending page reward it. */
void mq__art_events(mq__art *a, const mq_event *ev, int n);
/* Publishes a new state now (tests, the simulator); the publisher thread does it every refresh. */
int mq__art_publish(mq__art *a, mq_err *err);
/* The learner state's digest (mq_art_stats_digest) with every recorded impression folded in. */
uint32_t mq__art_digest(mq__art *a);
/* Prometheus lines: impressions, rewards, pending pages, dropped pages, state version. */
void mq__art_metrics(mq__art *a, mq_buf *out);


/* ==== explore.c ==== */
/* Exploration slots on the homepage (explore.c gives the rule and the propensity). */

typedef struct mq__explore_in {
    const mq_page *page;        /* as built */
    int32_t n_titles;           /* the model's titles */
    const mq_catalog *catalog;  /* genres (for genre), may be NULL */
    int genre;                  /* -1 any */
    const int32_t *hist;        /* [n_hist] history titles (never drawn) */
    int n_hist;
    const int32_t *exclude;     /* [n_exclude] */
    int n_exclude;
    _Atomic uint32_t *impressions;  /* [n_titles] slots that showed each title */
    double epsilon;             /* per slot */
    mq_rng *rng;
    uint8_t *ban;               /* [n_titles] scratch, all 0 (left all 0) */
    int32_t *titles;            /* [page total] scratch: the new page's arrays */
    const char **evidence;
    float *scores;
} mq__explore_in;
/* Fills *out: the page with exploration slots (its arrays in in's scratch), slot_prop [page
 * total] each slot's exploration propensity (0: the built title kept), *n_explored. */
int mq__explore_page(const mq__explore_in *in, mq_page *out, double *slot_prop, int *n_explored, mq_err *err);
/* Counts one impression for each of n titles below n_counted (the impressions array's size:
 * titles put at run time are not counted). */
void mq__explore_count(_Atomic uint32_t *impressions, int32_t n_counted, const int32_t *titles, int n);


/* ==== console.c ==== */
/* The web console that `marquee serve` answers at / and /ui/... (console.c).
 * http.c calls these two from its router; the assets themselves are compiled in from web/ by
 * scripts/embed_web.sh (the generated build/web_assets.c). */


/* One embedded file: its URL path ("/app.js"), bytes, length and Content-Type. */
typedef struct mq__web_asset {
    const char *path;
    const unsigned char *data;
    size_t len;
    const char *ctype;
} mq__web_asset;

extern const mq__web_asset mq__web_assets[];   /* generated: build/web_assets.c */
extern const int mq__web_n_assets;

/* True for the URLs the console answers: "/", "/ui" and "/ui/...", "/assets/...", "/v1/reports". */
bool mq__console_owns(const char *url);

/* Queues the answer for a console URL on c (GET or HEAD). models: the models directory (read for
 * /v1/reports); may_read: false when reads need the API key and the request lacks it (then
 * /v1/reports answers 401; the static app does not need it). Returns libmicrohttpd's result. */
enum MHD_Result mq__console_answer(struct MHD_Connection *c, const char *url, const char *models,
                                   bool may_read);
/* Appends the JSON object of one loaded model for GET /v1/models: role ("main", "pop",
 * "trending" or a treatment's model name), version, kind, params, titles, "train" (members,
 * titles, interactions, trained_at, seconds; "unknown" for an artifact without them) and the
 * score drift psi ("unknown" when NaN). */
void mq__console_model_json(mq_buf *b, const char *role, const char *version, const mq_model *m, double psi);


/* ==== rank_serve.c ==== */
/* The second-stage ranker in the server (rank_serve.c; docs/models.md "Serving a ranker"). */

#define MQ__RSV_MAX 8           /* distinct treatment rankers */
#define MQ__RSV_MAX_GEN 8

/* A ranker as the server runs it: NAME.mqm and its generators loaded from the models
 * directory. Immutable once loaded. */
typedef struct mq__rsv {
    char name[MQ_XP_NAME];
    char version[160];          /* "NAME@<file mtime>" */
    mq_model *ranker;
    int n_gen;
    mq_model *gen[MQ__RSV_MAX_GEN];
    bool platt_ok;              /* Platt's slope > 0: the page relevance is Platt's probability */
} mq__rsv;

/* ranker.mqm (def, NULL when absent) and the rankers treatments name (alt). */
typedef struct mq__rsv_set {
    mq__rsv *def;
    int n;
    mq__rsv *alt[MQ__RSV_MAX];
} mq__rsv_set;

/* Loads models/ranker.mqm when present and every ranker xps's treatments name (xps may be
 * NULL), setting their ranker_slot. Fails naming the file and what is wrong: not a ranker,
 * another catalog than main's, generators missing from the directory or not matching. */
int mq__rsv_set_load(mq__rsv_set *set, const char *models, mq__xps *xps, const mq_model *main,
                     const mq_log *log, mq_err *err);
void mq__rsv_set_release(mq__rsv_set *set);
/* The ranker for a merged treatment t (NULL: no treatment): the treatment's, else ranker.mqm;
 * NULL for none. *slot (may be NULL) gets 0 (ranker.mqm) or the treatment slot. */
const mq__rsv *mq__rsv_pick(const mq__rsv_set *set, const mq__xps_treat *t, int *slot);

/* The live inputs of one page. */
typedef struct mq__rsv_in {
    const mq_dataset *data;         /* the served dataset (member histories), NULL: none */
    const mq_member_state *st;      /* the member's recent events from the store */
    int64_t now;                    /* the server's clock */
    int hour;                       /* -1 unknown */
    const float *trending;          /* [n_titles] live trending scores, NULL: the ranker's own */
} mq__rsv_in;

/* Per-thread working memory (re-made when key, the bundle generation and slot, changes). */
typedef struct mq__rsv_work mq__rsv_work;
void mq__rsv_work_free(mq__rsv_work *w);   /* NULL is fine */

/* The member's relevance by ranker r: scores [n_titles] NaN except the candidates, which get
 * their Platt-calibrated play probability (rank_serve.c says why not the isotonic one). ds2m maps dataset
 * titles to the model's. Returns the number of candidates (0: no live positives; scores then
 * untouched) or a negative MQ_E* code. */
int mq__rsv_score(const mq__rsv *r, mq__rsv_work **w, uint64_t key, const char *member,
                  const int32_t *ds2m, const mq__rsv_in *in, float *scores, mq_err *err);
/* After mq__rsv_score: the SHAP contributions of titles [n] (those that are candidates), then
 * per title the JSON member ',"ranker":{"play_probability" (isotonic),"platt_probability",
 * "raw_probability","margin","bias","contributions":[{"feature","value","contribution"} x k,
 * largest magnitude first],"other"}' (other: the remaining features' sum). */
int mq__rsv_explain_prepare(const mq__rsv *r, mq__rsv_work *w, const int32_t *titles, int n,
                            mq_err *err);
void mq__rsv_explain_json(const mq__rsv *r, const mq__rsv_work *w, int32_t title, int k, mq_buf *b);

#endif
