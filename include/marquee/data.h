/* marquee/data.h: the data layer: id maps, the interaction matrix (CSR by member, CSC by
 * title), the catalog, loaders with strict validation, binary snapshots, splits, synthetic data.
 *
 * Every later module reads interactions through mq_dataset. A dataset is immutable once built
 * and safe to share between threads for reading.
 */
#ifndef MARQUEE_DATA_H
#define MARQUEE_DATA_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmarquee.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* ---- id maps: external string id <-> dense index 0..n-1 ------------------------------- */

/* A hash map from external ids (bytes, not necessarily NUL-free) to dense indices, in order of
 * first appearance. Not thread-safe for writing; concurrent lookups are safe. */
typedef struct mq_idmap mq_idmap;

mq_idmap *mq_idmap_create(void);                    /* NULL on ENOMEM */
void mq_idmap_destroy(mq_idmap *m);
/* Index of id, adding it if absent. Returns -1 on ENOMEM. */
int32_t mq_idmap_intern(mq_idmap *m, const char *id, size_t len);
/* Index of id, or -1 if absent. */
int32_t mq_idmap_find(const mq_idmap *m, const char *id, size_t len);
/* The id of index i as a NUL-terminated string owned by the map. i must be < size. */
const char *mq_idmap_name(const mq_idmap *m, int32_t i);
int32_t mq_idmap_size(const mq_idmap *m);

/* ---- events --------------------------------------------------------------------------- */

typedef enum mq_event_kind {
    MQ_EV_PLAY = 0,       /* value = seconds watched (or a play count) */
    MQ_EV_RATING = 1,     /* value = the rating */
    MQ_EV_THUMB_UP = 2,
    MQ_EV_THUMB_DOWN = 3,
    MQ_EV_IMPRESSION = 4,
    MQ_EV_SEARCH = 5,
    MQ_EV_COUNT
} mq_event_kind;

/* "play", "rating", ... ; NULL for an out-of-range kind. */
const char *mq_event_name(int kind);
/* Parses an event name; returns the kind or -1. */
int mq_event_parse(const char *s, size_t len);

/* One interaction in dense indices (while loading, before the matrix is built). */
typedef struct mq_interaction {
    int32_t member;
    int32_t title;
    float value;      /* rating, seconds watched, play count; 1 for plain implicit data */
    int32_t event;    /* mq_event_kind */
    int64_t time;     /* unix seconds; 0 when unknown */
} mq_interaction;

/* ---- catalog ---------------------------------------------------------------------------- */

#define MQ_MAX_GENRES 64

/* Title metadata, indexed by the dataset's title index. Arrays have n_titles entries; a title
 * with no metadata has name NULL, year 0, genres 0 and no tags. */
typedef struct mq_catalog {
    int32_t n_titles;
    char **names;            /* [n_titles] UTF-8 display names (without the "(1995)" suffix) */
    int32_t *years;          /* [n_titles] release year, 0 if unknown */
    uint64_t *genres;        /* [n_titles] bit g set = genre_names[g] */
    int32_t n_genres;
    char *genre_names[MQ_MAX_GENRES];
    int64_t *tag_ptr;        /* [n_titles+1] CSR into tag_ids/tag_counts */
    int32_t *tag_ids;        /* [n_tag_entries] index into tag_names */
    float *tag_counts;       /* [n_tag_entries] how often the tag was applied */
    int32_t n_tags;
    char **tag_names;        /* [n_tags] lower-cased tag text */
    int64_t *art_ptr;        /* [n_titles+1] CSR into art_ids/art_features (artwork.csv); NULL
                              * when no artwork was loaded. A title's first artwork is its default */
    char **art_ids;          /* [n_artworks] artwork ids */
    char **art_features;     /* [n_artworks] ';'-separated tags, e.g. "closeup;dark" */
    int64_t n_artworks;
} mq_catalog;

/* Fills c (caller storage) with empty metadata for n_titles titles (names NULL, years 0, genres
 * 0, no tags). MQ_ENOMEM leaves c empty. Release with mq_catalog_release. */
int mq_catalog_init(mq_catalog *c, int32_t n_titles);
/* Deep copy of src into dst (caller storage, same title indexing); MQ_ENOMEM leaves dst empty. */
int mq_catalog_copy(mq_catalog *dst, const mq_catalog *src);
/* Frees what c holds and zeroes it; a zeroed catalog is fine. */
void mq_catalog_release(mq_catalog *c);

/* ---- the dataset ------------------------------------------------------------------------ */

/* Interactions as a sparse matrix, in both orientations, with the external ids. Within a
 * member's row, titles are ascending; within a title's column, members are ascending.
 * Duplicate (member, title) pairs are merged when the matrix is built: value = the latest
 * event's value for ratings, the sum for plays; time = the latest. */
typedef struct mq_dataset {
    int32_t n_members, n_titles;
    int64_t nnz;
    mq_idmap *member_ids;    /* external member ids */
    mq_idmap *title_ids;     /* external title ids */
    int64_t *m_ptr;          /* [n_members+1] CSR row pointers */
    int32_t *m_idx;          /* [nnz] title index */
    float   *m_val;          /* [nnz] value */
    int64_t *m_time;         /* [nnz] unix seconds */
    int64_t *t_ptr;          /* [n_titles+1] CSC column pointers */
    int32_t *t_idx;          /* [nnz] member index */
    float   *t_val;          /* [nnz] */
    int64_t *t_time;         /* [nnz] */
    mq_catalog catalog;      /* n_titles entries (empty metadata when none was loaded) */
    bool ratings;            /* values are explicit ratings (the MovieLens formats): positives are
                              * value >= 4 by the REFERENCES.md protocol; else value > 0 */
} mq_dataset;   /* always allocated by the library (build, load, split, merge): grows by appending */

/* Builds a dataset from interactions whose indices refer to the given id maps. Takes
 * ownership of both maps (also on failure). The catalog starts empty with
 * n_titles = mq_idmap_size(titles). */
int mq_dataset_build(const mq_interaction *x, int64_t n, mq_idmap *member_ids,
                     mq_idmap *title_ids, mq_dataset **out, mq_err *err);
void mq_dataset_destroy(mq_dataset *d);

/* Keeps interactions with value >= threshold (all when threshold <= -inf) and members with at
 * least min_per_member of them, setting every kept value to 1 (implicit positives). Title
 * indices and ids are kept as they are (titles may end with no interactions). */
int mq_dataset_binarize(const mq_dataset *d, float threshold, int min_per_member,
                        mq_dataset **out, mq_err *err);

/* The REFERENCES.md binarization: positives are value >= min_rating when d->ratings (explicit
 * ratings), else value > 0 (plays, purchases, thumbs up; thumbs down, impressions and searches
 * load with values <= 0); then members with fewer than min_positives positives are dropped.
 * min_rating <= 0 means 4. The result has values 1 and d->ratings false. */
int mq_data_positives(const mq_dataset *d, float min_rating, int min_positives, mq_dataset **out,
                      mq_err *err);

/* The strength an event carries toward being a positive, given its raw value: thumb_down -1,
 * impression and search 0, thumb_up 1, play and rating their value (seconds, stars). Every
 * source of events (files, the event log) maps them the same way. */
float mq_event_strength(int kind, float value);

/* The one range check of an event's value, for every way events come in (files, POST
 * /v1/events): a rating in [0, 10], a play's seconds in [0, 1e9], any other kind's value
 * finite (it is not used). NULL when value is fine, else why not ("is out of range [0, 10] for
 * a rating"), to follow the value in a message. */
const char *mq_event_value_check(int kind, double value);

/* The union of two datasets' interactions: a's members and titles keep their indices, b's new
 * ones follow; duplicate (member, title) pairs add their values (time: the latest). The
 * catalog is a's, with empty metadata for titles only b has. Meant for positives (values 1),
 * e.g. a catalog's history plus the events logged since; ratings is false in the result. */
int mq_dataset_merge(const mq_dataset *a, const mq_dataset *b, mq_dataset **out, mq_err *err);

/* ---- loading ---------------------------------------------------------------------------- */

typedef enum mq_format {
    MQ_FMT_AUTO = 0,
    MQ_FMT_ML_CSV,        /* MovieLens latest/20M/25M ratings.csv (+ movies.csv, tags.csv) */
    MQ_FMT_ML_100K,       /* u.data (+ u.item, Latin-1, '|' fields) */
    MQ_FMT_ML_DAT,        /* MovieLens 1M/10M ratings.dat with '::' (+ movies.dat) */
    MQ_FMT_LASTFM,        /* HetRec user_artists.dat (+ artists.dat, tags) */
    MQ_FMT_LINES,         /* "member title title ..." per line (amazon-book) */
    MQ_FMT_EVENTS,        /* member,title,timestamp[,event][,value] with a header */
} mq_format;

/* Parses "auto", "movielens", "ml100k", "mldat", "lastfm", "lines", "events"; -1 if unknown. */
int mq_format_parse(const char *s);
const char *mq_format_name(int fmt);

typedef struct mq_load_opts {
    uint32_t struct_size;       /* sizeof, set by mq_load_opts_init (marquee/core.h) */
    int format;              /* mq_format; MQ_FMT_AUTO detects from names and content */
    bool skip_bad_rows;      /* skip malformed rows instead of failing */
    int64_t n_bad_rows;      /* out: rows skipped */
    char first_bad[5][256];  /* out: the first reasons, "file:line: field 'x': ..." */
    const mq_log *log;
    bool private_copy;       /* mq_data_open of a snapshot: read it into private memory instead
                                of mapping it (a server: a file copied over it later must not
                                change the data or crash the process) */
} mq_load_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: auto-detected format, strict. */
void mq_load_opts_init(mq_load_opts *o, size_t size);

/* Loads interaction files (and any catalog files found beside them or named in paths) into a
 * dataset. A path may be a file or a dataset directory; catalog files (movies.csv, tags.csv,
 * u.item, u.genre, movies.dat, artists.dat) named in paths are read as catalogs. Every
 * malformed row is an MQ_EFORMAT error naming file:line, the field and the offending text,
 * unless opts->skip_bad_rows (then opts->n_bad_rows / first_bad report them). An empty file or
 * no interactions at all is MQ_EFORMAT too. opts may be NULL (strict, auto-detected). The
 * caller owns *out (mq_dataset_destroy). Formats and messages: docs/data.md. */
int mq_data_load(const char *const *paths, int n_paths, mq_load_opts *opts,
                 mq_dataset **out, mq_err *err);

/* ---- snapshots -------------------------------------------------------------------------- */

/* Writes a binary snapshot (magic "MQDSNAP1", version, sizes, CRC-32C per section) atomically
 * (temp file + fsync + rename). */
int mq_snapshot_save(const mq_dataset *d, const char *path, mq_err *err);
/* Maps a snapshot; arrays point into the mapping. Truncation or a checksum mismatch is
 * MQ_ECORRUPT with a message naming the section. */
int mq_snapshot_load(const char *path, mq_dataset **out, mq_err *err);

/* Loads PATH whether it is a snapshot (by magic) or data files (as mq_data_load). */
int mq_data_open(const char *path, mq_load_opts *opts, mq_dataset **out, mq_err *err);

/* ---- statistics ------------------------------------------------------------------------- */

typedef struct mq_data_stats {
    int32_t n_members, n_titles, n_titles_with_events;
    int64_t nnz;
    double density;             /* nnz / (members * titles) */
    double top1pct_share;       /* share of interactions on the top 1% most-popular titles */
    double activity_q[5];       /* member interaction counts at quantiles 0, .25, .5, .75, 1 */
    double activity_mean;
    int64_t time_min, time_max;
} mq_data_stats;

void mq_data_stats_compute(const mq_dataset *d, mq_data_stats *s);

/* ---- splits ----------------------------------------------------------------------------- */

/* Held-out members: each has a fold-in history (in) and targets (out), as CSR over the
 * held-out members, title indices in the training dataset's title space. */
typedef struct mq_heldout {
    int32_t n;                  /* held-out members */
    char **member_ids;          /* [n] external ids */
    int64_t *in_ptr;            /* [n+1] */
    int32_t *in_idx;            /* fold-in titles, ascending per member */
    int64_t *out_ptr;           /* [n+1] */
    int32_t *out_idx;           /* target titles, ascending per member */
} mq_heldout;

typedef enum mq_protocol {
    MQ_SPLIT_STRONG = 0,   /* held-out members, 80/20 fold-in/targets (Liang et al. 2018) */
    MQ_SPLIT_TEMPORAL,     /* global time cutoff, or the last N per member */
    MQ_SPLIT_LOO,          /* leave the latest interaction of each member out */
} mq_protocol;

typedef struct mq_split_opts {
    uint32_t struct_size;       /* sizeof, set by mq_split_opts_init (marquee/core.h) */
    int protocol;              /* mq_protocol */
    uint64_t seed;
    double test_frac;          /* strong: share of members held out for test (default 0.1) */
    double val_frac;           /* strong: share held out for validation (default 0.1) */
    double in_frac;            /* strong: fold-in share of each held-out member (0.8) */
    int64_t cutoff;            /* temporal: unix-time cutoff; 0 = the 90% time quantile */
    int last_n;                /* temporal: if > 0, the last N per member instead of a cutoff */
} mq_split_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: strong generalization, the fractions above, seed 0. */
void mq_split_opts_init(mq_split_opts *o, size_t size);

/* train: the training matrix (for strong: training members only; temporal / leave-one-out: every
 * member's earlier interactions). Its title index space is the input's (ids, indices and catalog
 * agree; titles without train interactions have empty columns). Held-out fold-in and target
 * lists hold only titles that have train interactions (REFERENCES.md: the title set is the
 * titles seen in training). val is empty (n = 0) for temporal and leave-one-out.
 * docs/data.md describes each protocol exactly. */
typedef struct mq_split {
    mq_dataset *train;
    mq_heldout val, test;
} mq_split;

/* Splits d (binarize it first: mq_data_positives) by o->protocol, deterministically from
 * o->seed. Zero test_frac and val_frac mean 0.1 each, zero in_frac 0.8. On success the caller
 * owns *out (mq_split_release). MQ_EINVAL for bad options or a split with no training data. */
int mq_split_make(const mq_dataset *d, const mq_split_opts *o, mq_split *out, mq_err *err);
/* Writes train.csv, val_in.csv, val_out.csv, test_in.csv, test_out.csv (member,title with a
 * header, external ids) into dir, creating it. */
int mq_split_write(const mq_split *s, const char *dir, mq_err *err);
/* Reads a split written by mq_split_write or by another tool (val files optional; each file
 * needs the header "member,title"). Train values are 1 and times 0. Titles that appear only in
 * held-out files are appended to the title space after the train titles (empty columns). A bad
 * row is MQ_EFORMAT naming file:line. */
int mq_split_read(const char *dir, mq_split *out, mq_err *err);
void mq_split_release(mq_split *s);

/* ---- synthetic data --------------------------------------------------------------------- */

typedef struct mq_synth_opts {
    uint32_t struct_size;       /* sizeof, set by mq_synth_opts_init (marquee/core.h) */
    int64_t n_members, n_titles, n_interactions;
    uint64_t seed;
    double zipf_s;             /* title popularity exponent (default 1.0) */
    double activity_sigma;     /* log-normal sigma of member activity (default 1.0) */
} mq_synth_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: the exponents above; the sizes must be set. */
void mq_synth_opts_init(mq_synth_opts *o, size_t size);

/* Streams synthetic implicit interactions as an events CSV (member,title,timestamp,event,value;
 * decimal ids from 1, event "play", value 1) to path in O(n_members + n_titles) memory,
 * atomically; deterministic from the seed. Needs n_titles >= 2 and n_interactions <=
 * n_members * n_titles / 2 (titles are distinct per member, at most half the catalog each). */
int mq_synth_write(const mq_synth_opts *o, const char *path, const mq_log *log, mq_err *err);

/* The entries of d with keep[e] set ([nnz] flags), members with at least one kept entry (in
 * index order), the whole title space and a copy of the catalog. as_positives sets every kept
 * value to 1 (and ratings false); otherwise values and the ratings flag are kept. */
int mq_dataset_select(const mq_dataset *d, const uint8_t *keep, bool as_positives,
                       mq_dataset **out, mq_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
