/* marquee/serve.h: serving: the durable event log, the member state store, the homepage
 * builder and the HTTP server (included by marquee.h only).
 *
 * The flow of a request: POST /v1/events -> mq_evlog_append (group-committed, fsynced, then
 * applied in log order to the mq_store by the committing thread) -> the next
 * GET /v1/members/{id}/homepage reads the member's state from the store, scores titles with
 * the current model set and lays out rows with mq_page_build.
 *
 * Thread safety: an mq_evlog, an mq_store and an mq_server are safe to use from many threads
 * at once; an mq_page_ctx belongs to one request (one thread) at a time.
 */
#ifndef MARQUEE_SERVE_H
#define MARQUEE_SERVE_H

#include "core.h"
#include "data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmarquee.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* ---- events as they travel through serving ------------------------------------------- */

#define MQ_ID_MAX 255     /* longest member or title id accepted, in bytes */
#define MQ_PAGE_ID_MAX 40 /* longest page id (the server's are 33 bytes) */
#define MQ_ROW_ID_MAX (MQ_ID_MAX + 32)   /* longest row id ("because_you_watched:<id>") */
#define MQ_EVENT_ID_MAX 64               /* longest client event id */

/* One event with external ids (NUL-terminated, at most MQ_ID_MAX bytes, valid UTF-8). */
typedef struct mq_event {
    char member[MQ_ID_MAX + 1];
    char title[MQ_ID_MAX + 1];
    int64_t time;           /* unix seconds */
    int32_t kind;           /* mq_event_kind */
    float value;            /* seconds watched for a play, the rating for a rating, else 1 */
    /* Attribution (optional; "" and has_position false when absent): the page the event came
     * from (a page_id the server answered), the row id on it and the 0-based position within
     * that row, and the client's own id for the event (retry de-duplication). */
    char page_id[MQ_PAGE_ID_MAX + 1];
    char row[MQ_ROW_ID_MAX + 1];
    bool has_position;
    int32_t position;
    char event_id[MQ_EVENT_ID_MAX + 1];
} mq_event;

/* ---- the event log: append-only segments, CRC-32C per record, group commit -------------- */

typedef struct mq_evlog mq_evlog;

typedef enum mq_fsync_mode {
    MQ_FSYNC_GROUP = 0,     /* concurrent appends share one write + fsync (default) */
    MQ_FSYNC_BATCH,         /* every append call gets its own write + fsync, one at a time */
    MQ_FSYNC_NONE,          /* write() only: survives a process crash, not a power cut */
} mq_fsync_mode;

/* Parses "group", "batch", "none"; -1 if unknown. */
int mq_fsync_parse(const char *s);

/* Called after each commit, in log order, by the one thread committing (never two at once):
 * the n events just made durable, whose sequence numbers are first_seq .. first_seq+n-1
 * (the first record ever written is sequence 1). Also called at open for records already in
 * the log with sequence > opts.applied_seq (replay). A non-zero return fails the appends of
 * that commit with that code (the events stay in the log). */
typedef int (*mq_evlog_apply_fn)(void *user, const mq_event *ev, int n, uint64_t first_seq);

typedef struct mq_evlog_opts {
    uint32_t struct_size;       /* sizeof, set by mq_evlog_opts_init (marquee/core.h) */
    int fsync;                  /* mq_fsync_mode */
    int64_t segment_bytes;      /* roll over to a new segment past this size (default 64 MiB) */
    int64_t max_pending_bytes;  /* appends beyond this many uncommitted bytes fail MQ_EBUSY
                                   (default 64 MiB) */
    mq_evlog_apply_fn apply;    /* optional */
    void *apply_user;
    uint64_t applied_seq;       /* replay to apply only records after this sequence */
    const mq_log *log;
} mq_evlog_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: group fsync, 64 MiB segments and pending bytes, no apply. */
void mq_evlog_opts_init(mq_evlog_opts *o, size_t size);

/* Opens (creating if needed) the log directory dir. Scans every segment, checking each
 * record's length and CRC; a torn final record in the last segment (crash during a write) is
 * cut off with ftruncate and reported through opts->log; any other damage is MQ_ECORRUPT
 * naming the segment and byte offset. Then replays records after opts->applied_seq through
 * opts->apply. opts may be NULL (defaults). */
int mq_evlog_open(const char *dir, const mq_evlog_opts *opts, mq_evlog **out, mq_err *err);
/* Closes the log (pending appends must have returned). NULL is fine. */
void mq_evlog_close(mq_evlog *l);

/* Appends n events and returns once they are durable under the log's fsync mode and have
 * been passed to the apply callback. *first_seq (optional) receives the first sequence
 * number, or 0 when the events are not in the log (any failure but the apply callback's). Thread-safe; concurrent callers are batched into one write and one fsync (group
 * mode). Fails with MQ_EBUSY when too many bytes wait to be committed (or the apply callback
 * is over a million events behind), MQ_EINVAL for an event with an empty or over-long id,
 * MQ_ENOSPC / MQ_EIO when the write or fsync failed: the file is then cut back to the last
 * commit, so none of these events (nor those queued behind them) is in the log, and later
 * appends are tried again (a full disk that gets space back resumes by itself). When the
 * events are durable but the apply callback failed, the callback's code: they stay queued and
 * are applied, in order, before any later batch. */
int mq_evlog_append(mq_evlog *l, const mq_event *ev, int n, uint64_t *first_seq, mq_err *err);

/* Called once per asynchronous append, from the log's committer thread, when its events are
 * durable and applied (rc 0) or failed. first_seq: the first event's sequence when the events
 * are in the log (rc 0, or rc the apply callback's code: durable, applied later in order); 0
 * when they are not (the write or fsync failed, or the log refused them). */
typedef void (*mq_evlog_done_fn)(void *user, int rc, uint64_t first_seq);

/* Queues n events and returns at once; done(user, rc, first_seq) follows exactly once from the
 * log's committer thread (started on first use) after the group commit that includes them. An
 * immediate failure (MQ_EBUSY, MQ_EINVAL, a failed log) returns the code and done is never
 * called. Lets a server with few threads keep many requests in one fsync. */
int mq_evlog_append_async(mq_evlog *l, const mq_event *ev, int n, mq_evlog_done_fn done,
                          void *user, mq_err *err);

typedef struct mq_evlog_stats {
    uint64_t records;           /* records in the log (next sequence - 1) */
    uint64_t commits;           /* write+fsync rounds since open */
    uint64_t segments;          /* segment files */
    int64_t bytes;              /* bytes in all segments */
    uint64_t truncated_bytes;   /* torn tail cut at open */
} mq_evlog_stats;
void mq_evlog_get_stats(mq_evlog *l, mq_evlog_stats *s);

/* What the log can do now (for a readiness check). */
typedef struct mq_evlog_health {
    bool failed;                /* a failure left the log's file state unknown: appends are
                                   refused until a restart (rare: a failed write that could
                                   not be cut back) */
    int code;                   /* the last write failure (MQ_ENOSPC, MQ_EIO), 0 if the last
                                   write succeeded */
    char msg[512];              /* its message, naming the directory and the system's reason */
    uint64_t behind;            /* events durable in the log that the apply callback has not
                                   taken yet (it failed; retried before every later commit) */
    char store_msg[512];        /* why, when behind > 0 */
    int64_t free_bytes;         /* free space on the log's file system, -1 if unknown */
    uint64_t write_failures, apply_failures;   /* since open */
} mq_evlog_health;
void mq_evlog_get_health(mq_evlog *l, mq_evlog_health *h);

/* Retries applying the events the apply callback failed on (if no commit is running): 0
 * once none wait, else MQ_EBUSY with the apply callback's failure. */
int mq_evlog_catch_up(mq_evlog *l, mq_err *err);

/* Reads every record of the log in dir, in order, without modifying it, calling fn with
 * batches of events (first_seq as above). A torn tail ends the scan silently; other damage is
 * MQ_ECORRUPT. A non-zero return from fn stops the scan and is returned. */
int mq_evlog_scan(const char *dir, mq_evlog_apply_fn fn, void *user, mq_err *err);

/* The log's stable name (8 hex digits) written to out (>= 9 bytes): kept in the file LOG_ID
 * inside dir, so it moves with the directory and does not depend on the host name; created
 * with dir when absent (random for a new log; for a log written before LOG_ID existed, the
 * CRC-32C of "host:absolute path" that earlier releases used, so its store keeps its applied
 * sequence). Used as mq_store_opts.log_id. */
void mq_evlog_id(const char *dir, char *out);

/* Builds a dataset from every event in the log directory dir (for `marquee train --events
 * DIR`): ids interned in order of first appearance, duplicates merged by mq_dataset_build.
 * The catalog is empty. The caller destroys *out. */
int mq_evlog_to_dataset(const char *dir, mq_dataset **out, mq_err *err);

/* ---- member state: recent history and counters (LMDB or Redis) ------------------------- */

typedef struct mq_store mq_store;

#define MQ_STORE_RECENT 200   /* titles kept per member, most recent first */

/* One title in a member's recent history. */
typedef struct mq_recent {
    char title[MQ_ID_MAX + 1];
    int64_t time;           /* latest event on this title, unix seconds */
    float seconds;          /* seconds watched in total (plays) */
    float rating;           /* latest rating, 0 if none */
    uint8_t finished;       /* rated, thumbed, or watched >= finish_seconds */
    uint8_t thumb;          /* 0 none, 1 up, 2 down */
} mq_recent;

typedef struct mq_member_state {
    int n;                          /* entries in recent, most recent first */
    mq_recent recent[MQ_STORE_RECENT];
    uint64_t n_events, n_plays;
    double seconds_watched;
    int64_t first_time, last_time;
} mq_member_state;

typedef struct mq_store_opts {
    uint32_t struct_size;       /* sizeof, set by mq_store_opts_init (marquee/core.h) */
    double finish_seconds;   /* a play totalling this many seconds finishes a title (5400) */
    int pool;                /* Redis connections (default 8) */
    int64_t map_bytes;       /* LMDB map size (default 4 GiB) */
    const char *log_id;      /* names the event log feeding this store, so replicas sharing
                                one Redis each keep their own applied sequence (NULL: none) */
} mq_store_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: the defaults above. */
void mq_store_opts_init(mq_store_opts *o, size_t size);

/* Opens a store from a spec: "lmdb:PATH" (a directory, created if absent) or
 * "redis://HOST:PORT[/DB]" or "redis+unix:///path/to/socket". opts may be NULL. */
int mq_store_open(const char *spec, const mq_store_opts *opts, mq_store **out, mq_err *err);
void mq_store_close(mq_store *s);
/* "lmdb" or "redis". */
const char *mq_store_kind(const mq_store *s);

/* Reads member's state; an unknown member gives an empty state (n = 0) and returns 0. */
int mq_store_get(mq_store *s, const char *member, mq_member_state *st, mq_err *err);
/* Applies n events in order (one LMDB write transaction; Redis: pipelined per member) and
 * records last_seq as the last applied log sequence, atomically with the events for LMDB. */
int mq_store_apply(mq_store *s, const mq_event *ev, int n, uint64_t last_seq, mq_err *err);
/* The last log sequence applied (0 for a new store). */
int mq_store_applied_seq(mq_store *s, uint64_t *seq, mq_err *err);
/* Empties the store (every member and the applied sequence), durably, so it can be derived
 * again from the event log. LMDB only: a Redis store is shared by replicas (MQ_EUNSUP). */
int mq_store_reset(mq_store *s, mq_err *err);

/* Folds one event into a state in memory (what mq_store_apply does per event). */
void mq_member_state_apply(mq_member_state *st, const mq_event *ev, double finish_seconds);
/* Binary form stored under each member's key. */
int mq_member_state_encode(const mq_member_state *st, void *buf, size_t cap, size_t *len);
int mq_member_state_decode(const void *buf, size_t len, mq_member_state *st, mq_err *err);

/* ---- the page builder ------------------------------------------------------------------ */

/* What the page builder needs about titles, shared by every request (read-only). Built once
 * per model set by the server, or by hand in tests. */
typedef struct mq_page_catalog {
    int32_t n_titles;
    const mq_catalog *catalog;      /* names, years, genres (indexed by title) */
    const char *const *title_ids;   /* [n_titles] external ids */
    const float *popularity;        /* [n_titles] in [0, 1] */
    const float *trending;          /* [n_titles] in [0, 1], time-decayed */
    const int32_t *pop_order;       /* [n_titles] titles by popularity, descending */
    const int32_t *trend_order;     /* [n_titles] titles by trending, descending */
    const int32_t *new_order;       /* [n_new] recent releases, newest then most popular */
    int32_t n_new;
    const int32_t *genre_ptr;       /* [n_genres+1] CSR of titles per genre by popularity */
    const int32_t *genre_idx;
    /* Titles similar to t, best first: writes up to n into out/score, returns the count (or
     * a negative code). Must be thread-safe. */
    int (*similar)(void *user, int32_t t, int n, int32_t *out, float *score);
    void *similar_user;
    /* Optional: each title's JSON members `"id":..,"name":..,"year":..,"genres":[..]`
     * prepared once (by mq_page_catalog_init), so pages are written with memcpy. */
    const char *const *title_json;
    const int32_t *title_json_len;
    void *owned;                    /* opaque handle: what mq_page_catalog_init allocated
                                       (freed by mq_page_catalog_release); NULL by hand */
    /* Optional (NULL = none): [n_titles] in [0, 1], titles new to the catalog (the server's
     * PUT /v1/titles): New Releases ranks them first and scores them at least this high. */
    const float *fresh;
} mq_page_catalog;

/* Fills pc for n titles from raw popularity and trending scores (any non-negative scale; both
 * [n_titles], copied and divided by their maximum): orders, recent releases (the newest years
 * holding at least 50 titles, newest first), per-genre popularity lists and the title JSON.
 * catalog and title_ids are borrowed and must outlive pc; similar may be set afterwards. */
int mq_page_catalog_init(mq_page_catalog *pc, int32_t n_titles, const mq_catalog *catalog,
                         const char *const *title_ids, const float *popularity,
                         const float *trending, mq_err *err);
void mq_page_catalog_release(mq_page_catalog *pc);

/* ---- live Trending Now (src/serve/trend.c) ---------------------------------------------------- */

/* Per-title exponentially decayed event counters (the trending model's score, kept current
 * by the event stream). Not thread-safe: one owner, or a mutex around every call. */
typedef struct mq_trend mq_trend;

/* The weight an event adds to its title's counter: 1 for a positive strength
 * (mq_event_strength > 0: plays, ratings above 0, thumbs up), 0 otherwise, as the trending
 * model counts a positive (member, title) pair once whatever its value. */
float mq_trend_event_weight(int kind, float value);

/* Counters for n_titles titles with the given half-life (seconds, > 0), starting from seed
 * ([n_titles] scores as of unix time as_of, NULL for zeros; negative or NaN entries count as
 * 0). Events at or before as_of are taken to be in the seed and are not counted. */
int mq_trend_create(int32_t n_titles, double half_life_s, const float *seed, int64_t as_of,
                    mq_trend **out, mq_err *err);
void mq_trend_destroy(mq_trend *tr);    /* NULL is fine */
int32_t mq_trend_n_titles(const mq_trend *tr);
/* Events that added weight since creation. */
uint64_t mq_trend_counted(const mq_trend *tr);
/* Adds weight at unix time `time` (clamped to now, the caller's wall clock) to title's
 * counter. Returns whether it counted (false: title out of range, weight <= 0, or at or
 * before as_of). O(1), plus O(n_titles) once per 64 half-lives of event time (rescaling). */
bool mq_trend_add(mq_trend *tr, int32_t title, int64_t time, float weight, int64_t now);
/* The title's score at unix time at: the sum of its weights times 0.5^((at - time) / h). */
double mq_trend_value(const mq_trend *tr, int32_t title, int64_t at);
/* Copies the counters ([n_titles], values at an internal reference time: only their ratios
 * are meaningful) into dst. */
void mq_trend_copy(const mq_trend *tr, double *dst);
/* From counters c [n]: score[t] = c[t] / max c in [0, 1] and order = titles by c descending,
 * ties by the lower title. */
void mq_trend_rank(const double *c, int32_t n, float *score, int32_t *order);

/* One ranked, immutable view of the counters, shared by readers. */
typedef struct mq_trend_snap {
    int32_t n_titles;
    float *score;               /* [n_titles] in [0, 1] */
    int32_t *order;             /* [n_titles] by score descending */
    uint64_t tag;               /* the creator's: which title space the indices refer to */
    double built;               /* mq_now() when built */
    double build_seconds;       /* copy + rank time */
} mq_trend_snap;

/* Allocates a snapshot's arrays (the caller fills them). NULL when out of memory. */
mq_trend_snap *mq_trend_snap_create(int32_t n_titles);
/* Frees a snapshot that was never published. NULL is fine. */
void mq_trend_snap_destroy(mq_trend_snap *snap);

/* The published snapshot: lock-free acquire/release for readers (split reference counting,
 * see src/serve/trend.c); one publisher at a time. */
typedef struct mq_trend_pub mq_trend_pub;
mq_trend_pub *mq_trend_pub_create(void);
/* Frees the published snapshot; no reader may still hold one. NULL is fine. */
void mq_trend_pub_destroy(mq_trend_pub *p);
/* Publishes snap (taking ownership); the one it replaces is freed when its last reader
 * releases it. MQ_EBUSY (snap freed, the old one stays) when 64 replaced snapshots are all
 * still held. */
int mq_trend_publish(mq_trend_pub *p, mq_trend_snap *snap, mq_err *err);
/* The current snapshot (NULL if none yet), valid until mq_trend_release. Never blocks. */
const mq_trend_snap *mq_trend_acquire(mq_trend_pub *p);
void mq_trend_release(mq_trend_pub *p, const mq_trend_snap *snap);   /* NULL is fine */

/* One title of the member's history as the page builder sees it. */
typedef struct mq_page_hist {
    int32_t title;
    int64_t time;
    float seconds;          /* watched so far (0 if not a play) */
    float weight;           /* preference strength: >0 liked, <0 disliked */
    bool finished;
    bool in_progress;       /* started and not finished: a Continue Watching candidate */
} mq_page_hist;

typedef struct mq_page_req {
    uint32_t struct_size;       /* sizeof, set by mq_page_req_init (marquee/core.h) */
    int rows;               /* rows wanted (1..50) */
    int per_row;            /* titles per row (1..100) */
    double mmr_lambda;      /* 1 = pure relevance; lower = more diverse within a row */
    int genre;              /* only titles of this genre bit; -1 = any */
    const int32_t *exclude; /* titles never shown */
    int n_exclude;
    int hour;               /* local hour 0..23, -1 unknown: nudges row priors */
    int device;             /* 0 web, 1 tv, 2 mobile */
    /* optional (NULL = none): titles scored below *score_cut are known not to be among the
     * member's best mq_page_scored_titles(req) + (banned titles), as mq_model_score_top's cut
     * promises for that many; the builder skips them without changing the page */
    const float *score_cut;
    /* optional (NULL = all 1): [MQ_PAGE_ROW_KINDS] multipliers of the row-kind priors, in the
     * order of mq_page_row_kind_names (an experiment's "row_priors" treatment) */
    const double *row_prior;
} mq_page_req;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: 12 rows of 20 titles, mmr_lambda 0.7
 * (the server's web defaults), any genre (-1), no exclusions, hour -1, web. */
void mq_page_req_init(mq_page_req *o, size_t size);

#define MQ_PAGE_ROW_KINDS 7
/* "continue_watching", "top_picks", "because_you_watched", "trending", "new_releases",
 * "genre", "popular": the row kinds, indexed as mq_page_req.row_prior. */
extern const char *const mq_page_row_kind_names[MQ_PAGE_ROW_KINDS];

/* A built row: titles index into the page's arrays. */
typedef struct mq_page_row {
    char id[MQ_ID_MAX + 32];        /* "top_picks", "because_you_watched:<id>", ... */
    char name[320];
    char reason[320];
    int first, n;                   /* titles[first .. first+n) */
} mq_page_row;

typedef struct mq_page {
    int n_rows;
    mq_page_row *rows;
    int32_t *titles;                /* [total] */
    float *scores;                  /* [total] */
    const char **evidence;          /* [total] owned by the page context */
    bool cold;                      /* built as a cold-start page */
    /* optional, set after the build (NULL = none): [total] each title's artwork id as a JSON
     * string ("\"1-a3\""), NULL for a title without; written as "artwork" in the title */
    const char *const *artwork;
} mq_page;

/* A reusable per-request working area (an arena plus scratch arrays sized to the catalog).
 * Create one per thread or keep a pool; not thread-safe. */
typedef struct mq_page_ctx mq_page_ctx;
mq_page_ctx *mq_page_ctx_create(void);
void mq_page_ctx_destroy(mq_page_ctx *c);

/* How many of the member's best titles a page build ranks: only the order and the values of
 * the best mq_page_scored_titles(req, n_titles) unbanned titles matter to it (every other title
 * has relevance 0), which is what lets the server score with mq_model_score_top. MQ_EINVAL
 * (negative) for a req that mq_page_req_init did not set up. */
int mq_page_scored_titles(const mq_page_req *req, int32_t n_titles);

/* Builds a page. scores: [n_titles] the member's personalized scores (any scale) or NULL for
 * a cold-start page; hist: the member's history (n_hist may be 0). The result lives in ctx
 * until its next build. Rules: no title twice; finished, disliked and excluded titles never
 * recommended; in-progress titles only in Continue Watching; rows chosen greedily, each given
 * the titles already on the page; MMR within rows on genre similarity. */
int mq_page_build(mq_page_ctx *ctx, const mq_page_catalog *pc, const float *scores,
                  const mq_page_hist *hist, int n_hist, const mq_page_req *req,
                  const mq_page **out, mq_err *err);

/* ---- the HTTP server ------------------------------------------------------------------- */

/* What "now" is for a server (--clock): it stamps events posted without a timestamp and is
 * the present of the Trending Now counters. */
typedef enum mq_clock_mode {
    MQ_CLOCK_WALL = 0,      /* the wall clock */
    MQ_CLOCK_EVENT,         /* the latest event time seen: the data's last event, then the log's */
    MQ_CLOCK_OFFSET,        /* the wall clock, shifted so the data's last event is now at start */
} mq_clock_mode;
/* Parses "wall", "event", "offset"; -1 if unknown. */
int mq_clock_parse(const char *s);

typedef struct mq_server mq_server;

typedef struct mq_server_opts {
    uint32_t struct_size;       /* sizeof, set by mq_server_opts_init (marquee/core.h) */
    int port;                   /* 0 = a free port (see mq_server_port) */
    const char *bind;           /* address, default "127.0.0.1"; "0.0.0.0" for all */
    const char *data;           /* dataset (snapshot or files): member histories, catalog */
    const char *models;         /* directory with main.mqm, pop.mqm, trending.mqm */
    const char *store;          /* store spec (default "lmdb:<models>/state") */
    const char *events;         /* event log directory (default "<models>/events") */
    const char *api_key;        /* NULL = no key; else required for writes */
    bool keyed_reads;           /* require the key for reads too */
    int threads;                /* 0 = cores */
    int fsync;                  /* mq_fsync_mode */
    size_t max_body;            /* bytes, default 1 MiB */
    int max_inflight;           /* requests being processed before 503 (default 1024) */
    int max_connections;        /* default 4096 */
    double finish_seconds;      /* default 5400 */
    double trending_half_life;  /* days; 0 = the trending model's (7 without one) */
    double trending_refresh;    /* seconds between trending snapshot rebuilds (0: 1); < 0 off:
                                   Trending Now stays the seed (a simulator's fixed catalog) */
    const char *experiments;    /* experiments file with treatments (docs/xp.md); NULL = none */
    const char *exposures;      /* exposure log directory (default "<models>/exposures") */
    int exposure_log;           /* 0 off, 1 full (what --exposure-log full sets), 2 summary */
    const mq_log *log;
    /* slow and hostile clients, overload (src/serve/limits.c) */
    double header_timeout;      /* seconds a connection may take to send a request's headers,
                                   counted from the accept or the previous answer (default 10) */
    double body_timeout;        /* seconds to send a request's body after its headers (30) */
    int max_connections_per_ip; /* open connections from one client address (default 256) */
    double shed_queue_ms;       /* a page, recommendations, similar or events request that
                                   waited longer than this for a thread is answered 503 with
                                   Retry-After; 0 (the default): adaptive, CoDel-style: 250 ms
                                   while the queue drains, 5 ms once every request of a 100 ms
                                   interval (16 or more) waited over 5 ms; < 0 never */
    int clock;                  /* mq_clock_mode: the server's "now" (default wall) */
    int dedup_ids;              /* client event ids remembered (default 1,000,000) */
    double dedup_window;        /* seconds they are remembered (default 86400) */
    const char *catalog;        /* catalog log directory: titles put and withdrawn at run time
                                   (PUT / DELETE /v1/titles/{id}); default "<models>/catalog" */
    /* artwork on pages (docs/bandit.md), when the dataset's catalog has artwork */
    const char *artwork_policy; /* "fixed", "uniform", "egreedy[:EPS]", "ts", "linucb[:ALPHA]",
                                   "lints[:V]" or "off" (NULL = "linucb") */
    double artwork_window;      /* reward window in seconds of event time (0 = 1800) */
    uint64_t artwork_seed;      /* decisions' RNG seed (with member and page sequence) */
    double explore_epsilon;     /* homepage exploration slots: each position shows, with this
                                   probability, a title from outside the page favouring few
                                   impressions (0 = off; docs/bandit.md) */
} mq_server_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: every field 0 / NULL (the defaults above);
 * models must be set. */
void mq_server_opts_init(mq_server_opts *o, size_t size);

/* Loads the dataset and models, opens the store and the log (replaying it into the store),
 * and starts listening. */
int mq_server_start(const mq_server_opts *o, mq_server **out, mq_err *err);
int mq_server_port(const mq_server *s);
/* Loads the model set again from the models directory and swaps it in atomically; requests in
 * flight finish on the old set, which is freed when the last one releases it. */
int mq_server_reload(mq_server *s, mq_err *err);
/* Stops listening, waits for requests in flight, closes everything. NULL is fine. */
void mq_server_stop(mq_server *s);

/* ---- online experiments: unit metrics from the server's logs (`marquee xp collect`) ------ */

typedef struct mq_xp_collect_opts {
    uint32_t struct_size;       /* sizeof, set by mq_xp_collect_opts_init (marquee/core.h) */
    const char *events;         /* event log directory */
    const char *exposures;      /* exposure log directory */
    const char *experiment;     /* NULL: the logs' only experiment */
    long long from, to;         /* exposures in [from, to) count; events before to; 0 = open */
    int pre_days;               /* covariate window before the first exposure (14) */
    double finish_seconds;      /* seconds of play that finish a title (5400) */
} mq_xp_collect_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: the defaults above; events and exposures must be set. */
void mq_xp_collect_opts_init(mq_xp_collect_opts *o, size_t size);

/* Writes one CSV row per (member, experiment) exposed at least once (forced pages and members
 * served the default by a ramp do not count), sorted by first exposure then unit, with the
 * columns of docs/xp.md ("xp collect"), to out_path ("-" = stdout; files atomically).
 * *n_units (optional) gets the row count. Reads both logs without modifying them. */
int mq_xp_collect(const mq_xp_collect_opts *o, const char *out_path, int64_t *n_units, mq_err *err);

/* ---- artwork decisions as a bandit log (`marquee bandit export`) -------------------------- */

typedef struct mq_artwork_export_opts {
    uint32_t struct_size;       /* sizeof, set by mq_artwork_export_opts_init (marquee/core.h) */
    const char *events;         /* event log directory (NULL: no rewards) */
    const char *exposures;      /* exposure log directory */
    double window_s;            /* reward window in seconds of event time (1800) */
    const char *policy;         /* only the decisions of this logging policy ("egreedy"); NULL all */
} mq_artwork_export_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: the defaults above; exposures must be set. */
void mq_artwork_export_opts_init(mq_artwork_export_opts *o, size_t size);

/* Writes the server's artwork decisions (version 2 exposure records of answered, unforced lists)
 * as a Marquee bandit log (docs/bandit.md): one row per decided title, in log order, with
 * action = the artwork's index among the title's variants, reward = 1 when a play named the
 * page (and a position) on that title within the window (the server's own rule), propensity,
 * policy (mq_policy_kind; 5 = fixed) and x0..x{dm-1} the member context. out_path "-" is stdout,
 * else written atomically. *n_rows (optional): the rows written. */
int mq_artwork_export(const mq_artwork_export_opts *o, const char *out_path, int64_t *n_rows, mq_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
