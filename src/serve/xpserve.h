/* xpserve.h: internal header of the server's online experiments (xp_live.c: experiment
 * definitions with treatments, per-request assignment, forcing, page ids; exposure.c: the
 * exposure log). Not part of the public API; used by http.c and `marquee xp collect`. */
#ifndef MQ_SERVE_XPSERVE_H
#define MQ_SERVE_XPSERVE_H

#include "core/core.h"

/* ---- treatments (xp_live.c) ---- */

/* The keys a variant's "treatment" object may set, one bit each. New keys (ranker,
 * artwork_policy) are a row of xp_live.c's table plus a field here. */
enum { MQ__XT_MODEL, MQ__XT_MMR, MQ__XT_ROWS, MQ__XT_PER_ROW, MQ__XT_ROW_PRIORS, MQ__XT_N };
extern const char *const mq__xt_names[MQ__XT_N];

typedef struct mq__xps_treat {
    unsigned set;                       /* 1 << MQ__XT_* for each key given */
    char model[MQ_XP_NAME];             /* NAME of NAME.mqm in the models directory */
    int model_slot;                     /* the server's index of that model (0 = main.mqm) */
    double mmr;
    int rows, per_row;
    double row_prior[MQ_PAGE_ROW_KINDS];   /* multipliers, 1 where not given */
} mq__xps_treat;

/* Experiments as the server runs them: the assignment definitions (mq_xp_config) plus each
 * variant's treatment. Immutable once loaded; shared by request threads. */
typedef struct mq__xps {
    mq_xp_config xp;
    mq__xps_treat *treat;               /* [xp.n][MQ_XP_MAX_VARIANTS] */
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
} mq__xps_pick;

typedef struct mq__xps_result {
    int n;
    mq__xps_pick p[MQ__XPS_MAX];        /* the experiments the member is in, file order */
    mq__xps_treat t;                    /* the merged treatment (keys never clash) */
    bool forced;                        /* some variant was forced with ?xp= */
} mq__xps_result;

/* Assigns member to every experiment with mq_xp_assign at time now, then applies force
 * ("NAME:VARIANT[,NAME:VARIANT]", NULL = none). Returns 0, or MQ_EINVAL with why naming the
 * unknown experiment or variant. */
int mq__xps_assign(const mq__xps *x, const char *member, long long now, const char *force,
                   mq__xps_result *out, char *why, size_t cap);

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

/* ---- the exposure log (exposure.c) ---- */

enum { MQ__EXPO_OFF = 0, MQ__EXPO_FULL, MQ__EXPO_SUMMARY };
/* "full", "summary", "off"; -1 if unknown. */
int mq__expo_mode_parse(const char *s);

enum { MQ__EXPO_ROUTE_HOMEPAGE = 0, MQ__EXPO_ROUTE_RECS = 1, MQ__EXPO_ROUTE_SIMILAR = 2 };

/* One served list as the request handler describes it (borrowed strings). */
typedef struct mq__expo {
    int64_t time;
    int route;
    bool forced;
    const char *member, *page_id, *model_version;
    int n_exp;
    const char *exp_name[MQ__XPS_MAX], *variant[MQ__XPS_MAX];
    bool served_default[MQ__XPS_MAX];
    int n_rows;
    const char *const *row_id;          /* [n_rows] */
    const int *row_n;                   /* [n_rows] titles per row */
    const char *const *titles;          /* [sum row_n] title ids, row after row */
} mq__expo;

/* Fills e's experiments from an assignment result. */
void mq__xps_expo(const mq__xps *x, const mq__xps_result *r, mq__expo *e);

/* Encodes e into b as a framed record (8 header bytes, then the payload; exposure.c gives the
 * layout). summary leaves the title list out. */
int mq__expo_encode(const mq__expo *e, bool summary, mq_buf *b, mq_err *err);

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
    uint32_t n_titles;                  /* all titles shown (also in summary records) */
    int n_rows;                         /* 0 in summary records */
    const unsigned char *rows;          /* the raw row list; walk with mq__expo_rows_next */
    const unsigned char *end;
} mq__expo_rec;
int mq__expo_decode(const unsigned char *payload, uint32_t len, mq__expo_rec *r);
/* Walks the rows of r: *at starts at r->rows; fills the row id and its titles (up to cap,
 * *n_titles the row's count). Returns false at the end. */
bool mq__expo_rows_next(const mq__expo_rec *r, const unsigned char **at, mq__expo_str *row_id,
                        mq__expo_str *titles, int cap, int *n_titles);

typedef struct mq__exlog mq__exlog;
/* Opens (creating) the exposure log in dir: scans and repairs it like the event log, then maps
 * the last segment for appending. */
int mq__exlog_open(const char *dir, int64_t segment_bytes, const mq_log *log, mq__exlog **out,
                   mq_err *err);
void mq__exlog_close(mq__exlog *l);
/* Appends one framed record (from mq__expo_encode): copied into the shared mapping of the
 * segment before returning, so it survives a crash of the process; a background thread
 * fdatasyncs once a second (a machine crash loses at most that). Thread-safe. */
int mq__exlog_append(mq__exlog *l, const mq_buf *rec, mq_err *err);
typedef struct mq__exlog_stats { uint64_t records; int64_t bytes; uint64_t syncs, failures; } mq__exlog_stats;
void mq__exlog_get_stats(mq__exlog *l, mq__exlog_stats *st);
/* Reads every record of the exposure log in dir (read-only; a torn tail ends it). */
int mq__exlog_scan(const char *dir, int (*fn)(void *user, const mq__expo_rec *r, uint64_t seq),
                   void *user, mq_err *err);

/* ---- unit metrics (xp_collect.c) ---- */

/* Units of every experiment (or o->experiment's) read from the logs, sorted by first
 * exposure then unit: what `xp collect` writes and the live reports analyse. */
typedef struct mq__xpc mq__xpc;
int mq__xpc_build(const mq_xp_collect_opts *o, mq__xpc **out, mq_err *err);
void mq__xpc_destroy(mq__xpc *x);
/* Appends the CSV of one experiment (NULL: the only one) to b. */
int mq__xpc_csv(const mq__xpc *x, const char *experiment, mq_buf *b, int64_t *n_units, mq_err *err);
/* Units of experiment in variant (NULL: all variants). */
int64_t mq__xpc_units(const mq__xpc *x, const char *experiment, const char *variant);

/* ---- live reports (xp_report.c) ---- */

/* GET /v1/experiments: every experiment with state, variants, shares and exposed units. */
int mq__xpr_list(const mq__xps *x, const mq_xp_collect_opts *o, long long now, mq_buf *out, mq_err *err);
/* GET /v1/experiments/{name}/report: `xp collect` + `xp analyze --sequential` of the logs now,
 * plus "status". MQ_ENOTFOUND for an unknown experiment, MQ_EINVAL for a bad metric. */
int mq__xpr_report(const mq__xps *x, const mq_xp_collect_opts *o, const char *name, const char *metric,
                   long long now, mq_buf *out, mq_err *err);

#endif
