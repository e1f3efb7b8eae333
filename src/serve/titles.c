/* titles.c: titles added, changed and withdrawn while the server runs (PUT and DELETE
 * /v1/titles/{id}), the catalog log that makes them durable, and the immutable catalog views
 * that pages are built from.
 *
 * The catalog log. A directory (default <models>/catalog) of seglog.c segments with magic
 * "MQCATLG1": the same naming, framing (u32 len | u32 CRC-32C | payload), torn-tail rules and
 * scan as the event and exposure logs. A payload is one byte, 'P' (a title put) or 'D' (a
 * withdrawal), then for 'P' the title as canonical JSON (every field normalized, and "at": the
 * server time of the title's first put) and for 'D' the title id. A put is acknowledged only
 * after its record is written and fdatasync'ed, so an answered PUT survives kill -9; a crash
 * mid-write leaves a torn record at the end, which the scan at start-up cuts (that PUT was
 * never answered). Records are replayed in order at start-up: the last put of an id wins, a
 * withdrawal hides the title until the next put. The log is written by one thread at a time
 * (the server's reload lock) and never rolls to a new segment (a catalog changes rarely).
 *
 * Titles and indices. A title the model was trained on keeps its model index; a put on it
 * overrides its metadata (name, year, genres, tags, artwork, availability window). Every other
 * id the log names is an added title with index n_model + k, k its rank by first put among the
 * log's titles the model does not know: stable while the model stays, so the live trending
 * counters (which grow with the title space, never shrink) keep their meaning; after a reload
 * onto a model trained with a title it becomes one of the model's.
 *
 * Views (RCU). A view is the catalog as pages see it at one moment: ids, an mq_catalog with the
 * log applied (the model's strings borrowed, the log's copied), the page catalog built from it,
 * availability windows, the withdrawn set, and the cold-start data of the added titles. It is
 * built aside by the writer and never changed; the server wraps it in a model bundle (http.c)
 * that it publishes by pointer swap, requests hold a reference for their whole life, and the
 * last one out frees it: pages never wait on a put and never see half of one.
 *
 * Cold start for titles (docs/API.md "New titles"). An added title has no column in any model,
 * so each request appends a score for it after the model's: c in [0, 1] is, with a content (or
 * hybrid) main model, the content model's own cosine between the title's TF-IDF vector and the
 * member's profile (mq_model_cold_score), else a genre affinity: the cosine between the
 * member's genre mix (each liked title spreads its weight over its genres) and the title's
 * genre set. It is placed on the model's scale for this member as lo + c (hi - lo), with hi the
 * member's best unseen model score and lo the page's cut (the K-th best): a perfect match ranks
 * with the member's best titles, a mismatch at the bottom of what a page considers. New
 * Releases leads with the added titles (page catalog "fresh"), ordered by that relevance.
 */
#include "serve/serve.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CAT_MAGIC "MQCATLG1"
#define CAT_MAX_REC (1u << 20)

static const mq__seg_fmt cat_fmt = {CAT_MAGIC, "catalog log", 2, CAT_MAX_REC};

#define NAME_MAX_BYTES 300
#define LABEL_MAX 64          /* a genre or tag */
#define MAX_LIST 64           /* genres, tags, artworks, artwork features */
#define YEAR_MIN 1870
#define YEAR_MAX 2200

typedef struct art { char *id, *features; } art;    /* features ';'-joined */

typedef struct entry {
    char *id, *name;
    int32_t year;                   /* 0 = unknown */
    int n_genres, n_tags, n_art;
    char **genres, **tags;
    art *arts;
    int64_t from, until;            /* INT64_MIN / INT64_MAX: open */
    int64_t at;                     /* server time of the first put */
    bool withdrawn;
} entry;

struct mq__titles {
    char dir[4096];
    const mq_log *log;
    int fd;
    int64_t off;
    uint64_t next_seq, records;
    int n, cap;
    entry *e;                       /* in order of first put */
};

/* ---- entries ---- */

static void entry_free(entry *e)
{
    free(e->id);
    free(e->name);
    for (int i = 0; i < e->n_genres; i++) free(e->genres[i]);
    for (int i = 0; i < e->n_tags; i++) free(e->tags[i]);
    for (int i = 0; i < e->n_art; i++) { free(e->arts[i].id); free(e->arts[i].features); }
    free(e->genres);
    free(e->tags);
    free(e->arts);
    memset(e, 0, sizeof *e);
}

static int find_entry(const mq__titles *c, const char *id)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].id, id)) return i;
    return -1;
}

/* ---- parsing a title (a PUT body, or a replayed record) ---- */

static void shown(const char *s, char *out, size_t cap)
{
    mq__printable(s, MQ_MIN(strlen(s), (size_t)80), out, cap);
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
    return false;
}

/* A string of 1..max bytes of UTF-8 without control bytes; NULL when v is not one. */
static const char *good_str(const cJSON *v, size_t max)
{
    if (!cJSON_IsString(v)) return NULL;
    size_t n = strlen(v->valuestring);
    if (n == 0 || n > max || !mq__utf8_valid(v->valuestring, n) || has_ctl(v->valuestring)) return NULL;
    return v->valuestring;
}

static bool tag_chars(const char *s, bool lower_only)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (lower_only && !((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

/* A time field: ISO-8601 text (mq_time_parse) or integer unix seconds. */
static int parse_time(const cJSON *v, const char *field, int64_t *out, char *why, size_t cap)
{
    if (cJSON_IsString(v) && mq_time_parse(v->valuestring, out) == 0) return 0;
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e11 &&
        v->valuedouble == (double)(int64_t)v->valuedouble) {
        *out = (int64_t)v->valuedouble;
        return 0;
    }
    char s[100] = "";
    if (cJSON_IsString(v)) shown(v->valuestring, s, sizeof s);
    else if (cJSON_IsNumber(v)) snprintf(s, sizeof s, "%.17g", v->valuedouble);
    else snprintf(s, sizeof s, "(a JSON %s)", cJSON_IsArray(v) ? "array" : cJSON_IsObject(v) ? "object" : "literal");
    snprintf(why, cap, "field '%s': '%s' is not a time: expected \"YYYY-MM-DD\", \"YYYY-MM-DDTHH:MM:SSZ\" "
             "or integer unix seconds", field, s);
    return -1;
}

/* A list of labels: an array of at most MAX_LIST distinct strings (case-insensitive) of
 * 1..LABEL_MAX bytes; mode 0 genres (no '|'), 1 tags (lower-cased), 2 artwork features (only
 * [a-z0-9_-], as artwork.csv). */
static int parse_labels(const cJSON *v, const char *field, int mode, char ***out, int *n_out,
                        char *why, size_t cap)
{
    *out = NULL;
    *n_out = 0;
    if (!cJSON_IsArray(v)) { snprintf(why, cap, "field '%s' must be an array of strings", field); return -1; }
    int n = cJSON_GetArraySize(v);
    if (n > MAX_LIST) { snprintf(why, cap, "field '%s': %d entries (at most %d)", field, n, MAX_LIST); return -1; }
    char **l = calloc((size_t)MQ_MAX(n, 1), sizeof *l);
    if (!l) { snprintf(why, cap, "out of memory"); return -1; }
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, v) {
        const char *s = good_str(x, LABEL_MAX);
        char sh[100] = "";
        if (cJSON_IsString(x)) shown(x->valuestring, sh, sizeof sh);
        if (!s || (mode == 0 && strchr(s, '|'))) {
            snprintf(why, cap, "field '%s[%d]': '%s' must be a string of 1 to %d bytes of UTF-8 without "
                     "control characters%s", field, i, sh, LABEL_MAX, mode == 0 ? " or '|'" : "");
            goto fail;
        }
        l[i] = strdup(s);
        if (!l[i]) { snprintf(why, cap, "out of memory"); goto fail; }
        if (mode == 1)
            for (char *p = l[i]; *p; p++) if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        if (mode == 2 && !tag_chars(l[i], true)) {
            snprintf(why, cap, "field '%s[%d]': '%s' is not a feature tag (lower-case letters, digits, '-', '_')",
                     field, i, sh);
            i++;
            goto fail;
        }
        for (int k = 0; k < i; k++)
            if (!strcasecmp(l[k], l[i])) {
                snprintf(why, cap, "field '%s[%d]': '%s' is listed twice", field, i, sh);
                i++;
                goto fail;
            }
        i++;
    }
    *out = l;
    *n_out = n;
    return 0;
fail:
    for (int k = 0; k < i; k++) free(l[k]);
    free(l);
    return -1;
}

static int parse_artwork(const cJSON *v, entry *e, char *why, size_t cap)
{
    if (!cJSON_IsArray(v)) { snprintf(why, cap, "field 'artwork' must be an array of {\"id\", \"features\"} objects"); return -1; }
    int n = cJSON_GetArraySize(v);
    if (n > MAX_LIST) { snprintf(why, cap, "field 'artwork': %d artworks (at most %d)", n, MAX_LIST); return -1; }
    e->arts = calloc((size_t)MQ_MAX(n, 1), sizeof *e->arts);
    if (!e->arts) { snprintf(why, cap, "out of memory"); return -1; }
    int i = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, v) {
        char f[64];
        snprintf(f, sizeof f, "artwork[%d]", i);
        if (!cJSON_IsObject(a)) { snprintf(why, cap, "field '%s' must be an object {\"id\", \"features\"}", f); return -1; }
        const cJSON *k;
        cJSON_ArrayForEach(k, a)
            if (strcmp(k->string, "id") && strcmp(k->string, "features")) {
                char sh[100];
                shown(k->string, sh, sizeof sh);
                snprintf(why, cap, "field '%s.%s' is not one of id, features", f, sh);
                return -1;
            }
        const char *id = good_str(cJSON_GetObjectItemCaseSensitive(a, "id"), MQ_ID_MAX);
        if (!id) { snprintf(why, cap, "field '%s.id' must be a string of 1 to %d bytes of UTF-8", f, MQ_ID_MAX); return -1; }
        for (int k2 = 0; k2 < i; k2++)
            if (!strcmp(e->arts[k2].id, id)) {
                char sh[100];
                shown(id, sh, sizeof sh);
                snprintf(why, cap, "field '%s.id': '%s' is listed twice", f, sh);
                return -1;
            }
        char **feat = NULL;
        int nf = 0;
        const cJSON *fv = cJSON_GetObjectItemCaseSensitive(a, "features");
        char ff[80];
        snprintf(ff, sizeof ff, "%s.features", f);
        if (fv && parse_labels(fv, ff, 2, &feat, &nf, why, cap)) return -1;
        size_t len = 1;
        for (int q = 0; q < nf; q++) len += strlen(feat[q]) + 1;
        char *joined = malloc(len);
        e->arts[i].id = strdup(id);
        e->n_art = i + 1;
        if (joined) {
            joined[0] = 0;
            for (int q = 0; q < nf; q++) { if (q) strcat(joined, ";"); strcat(joined, feat[q]); }
        }
        for (int q = 0; q < nf; q++) free(feat[q]);
        free(feat);
        e->arts[i].features = joined;
        if (!joined || !e->arts[i].id) { snprintf(why, cap, "out of memory"); return -1; }
        i++;
    }
    return 0;
}

/* Parses a title object into e (id given). record: a replayed record (its "at" is read). */
static int parse_title(const cJSON *o, const char *id, bool record, entry *e, char *why, size_t cap)
{
    static const char *const fields[] = {"name", "year", "genres", "tags", "artwork", "available_from",
                                         "available_until"};
    memset(e, 0, sizeof *e);
    e->from = INT64_MIN;
    e->until = INT64_MAX;
    if (!cJSON_IsObject(o)) { snprintf(why, cap, "the body must be a JSON object (the title)"); return -1; }
    const cJSON *k;
    cJSON_ArrayForEach(k, o) {
        bool ok = record && (!strcmp(k->string, "id") || !strcmp(k->string, "at"));
        for (size_t i = 0; !ok && i < sizeof fields / sizeof *fields; i++) ok = !strcmp(k->string, fields[i]);
        if (!ok) {
            char sh[100];
            shown(k->string, sh, sizeof sh);
            snprintf(why, cap, "field '%s' is not one of name, year, genres, tags, artwork, available_from, "
                     "available_until", sh);
            return -1;
        }
    }
    e->id = strdup(id);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "name");
    const char *name = good_str(v, NAME_MAX_BYTES);
    if (!name) {
        if (!v) snprintf(why, cap, "field 'name' is missing");
        else snprintf(why, cap, "field 'name' must be a string of 1 to %d bytes of UTF-8 without control characters",
                      NAME_MAX_BYTES);
        return -1;
    }
    e->name = strdup(name);
    if (!e->id || !e->name) { snprintf(why, cap, "out of memory"); return -1; }
    v = cJSON_GetObjectItemCaseSensitive(o, "year");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int32_t)v->valuedouble ||
            v->valuedouble < YEAR_MIN || v->valuedouble > YEAR_MAX) {
            char sh[100] = "(not a number)";
            if (cJSON_IsNumber(v)) snprintf(sh, sizeof sh, "%.17g", v->valuedouble);
            else if (cJSON_IsString(v)) shown(v->valuestring, sh, sizeof sh);
            snprintf(why, cap, "field 'year': '%s' is not an integer year in [%d, %d] (or null)", sh, YEAR_MIN, YEAR_MAX);
            return -1;
        }
        e->year = (int32_t)v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "genres")) && parse_labels(v, "genres", 0, &e->genres, &e->n_genres, why, cap))
        return -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "tags")) && parse_labels(v, "tags", 1, &e->tags, &e->n_tags, why, cap))
        return -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "artwork")) && parse_artwork(v, e, why, cap)) return -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "available_from")) && !cJSON_IsNull(v) &&
        parse_time(v, "available_from", &e->from, why, cap))
        return -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "available_until")) && !cJSON_IsNull(v) &&
        parse_time(v, "available_until", &e->until, why, cap))
        return -1;
    if (e->from != INT64_MIN && e->until != INT64_MAX && e->until <= e->from) {
        snprintf(why, cap, "field 'available_until': %lld is not after available_from (%lld)",
                 (long long)e->until, (long long)e->from);
        return -1;
    }
    if (record && (v = cJSON_GetObjectItemCaseSensitive(o, "at")) && cJSON_IsNumber(v)) e->at = (int64_t)v->valuedouble;
    return 0;
}

/* The canonical JSON of e (the record's payload after its op byte, and GET's fields). */
static void entry_json(const entry *e, bool with_at, mq_buf *b)
{
    mq_buf_puts(b, "{\"id\":");
    mq_buf_json_str(b, e->id, strlen(e->id));
    mq_buf_puts(b, ",\"name\":");
    mq_buf_json_str(b, e->name, strlen(e->name));
    if (e->year) mq_buf_printf(b, ",\"year\":%d", e->year);
    mq_buf_puts(b, ",\"genres\":[");
    for (int i = 0; i < e->n_genres; i++) {
        if (i) mq_buf_putc(b, ',');
        mq_buf_json_str(b, e->genres[i], strlen(e->genres[i]));
    }
    mq_buf_puts(b, "],\"tags\":[");
    for (int i = 0; i < e->n_tags; i++) {
        if (i) mq_buf_putc(b, ',');
        mq_buf_json_str(b, e->tags[i], strlen(e->tags[i]));
    }
    mq_buf_puts(b, "],\"artwork\":[");
    for (int i = 0; i < e->n_art; i++) {
        mq_buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
        mq_buf_json_str(b, e->arts[i].id, strlen(e->arts[i].id));
        mq_buf_puts(b, ",\"features\":[");
        const char *p = e->arts[i].features;
        for (int k = 0; p && *p; k++) {
            const char *q = strchr(p, ';');
            size_t n = q ? (size_t)(q - p) : strlen(p);
            if (k) mq_buf_putc(b, ',');
            mq_buf_json_str(b, p, n);
            p = q ? q + 1 : p + n;
        }
        mq_buf_puts(b, "]}");
    }
    mq_buf_putc(b, ']');
    if (e->from != INT64_MIN) mq_buf_printf(b, ",\"available_from\":%lld", (long long)e->from);
    if (e->until != INT64_MAX) mq_buf_printf(b, ",\"available_until\":%lld", (long long)e->until);
    if (with_at) mq_buf_printf(b, ",\"at\":%lld", (long long)e->at);
    mq_buf_putc(b, '}');
}

/* Applies a put (taking e's contents) or a withdrawal to the state. */
static int apply_put(mq__titles *c, entry *e)
{
    int i = find_entry(c, e->id);
    if (i >= 0) {
        e->at = c->e[i].at ? c->e[i].at : e->at;
        entry_free(&c->e[i]);
        c->e[i] = *e;
        return 0;
    }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        entry *ne = realloc(c->e, (size_t)cap * sizeof *ne);
        if (!ne) return MQ_ENOMEM;
        c->e = ne;
        c->cap = cap;
    }
    c->e[c->n++] = *e;
    return 0;
}

/* A withdrawal: the id's entry is marked (a model title withdrawn without a put gets a bare
 * entry that keeps the model's metadata: name NULL). */
static int apply_delete(mq__titles *c, const char *id)
{
    int i = find_entry(c, id);
    if (i >= 0) { c->e[i].withdrawn = true; return 0; }
    entry e = {0};
    e.id = strdup(id);
    e.from = INT64_MIN;
    e.until = INT64_MAX;
    e.withdrawn = true;
    if (!e.id || apply_put(c, &e)) { free(e.id); return MQ_ENOMEM; }
    return 0;
}

/* ---- the log ---- */

typedef struct replay { mq__titles *c; int rc; } replay;

static int replay_rec(void *user, const unsigned char *p, uint32_t len, uint64_t seq, const char **why)
{
    replay *r = user;
    static char msg[400];
    if (p[0] == 'D') {
        if (len - 1 > MQ_ID_MAX) { *why = "withdrawal: id too long"; return MQ__SEG_BAD; }
        char id[MQ_ID_MAX + 1];
        memcpy(id, p + 1, len - 1);
        id[len - 1] = 0;
        if (!mq__utf8_valid(id, len - 1) || !id[0]) { *why = "withdrawal: bad id"; return MQ__SEG_BAD; }
        return apply_delete(r->c, id) ? MQ_ENOMEM : 0;
    }
    if (p[0] != 'P') { *why = "unknown record kind"; return MQ__SEG_BAD; }
    cJSON *j = cJSON_ParseWithLength((const char *)p + 1, len - 1);
    const cJSON *idv = j ? cJSON_GetObjectItemCaseSensitive(j, "id") : NULL;
    if (!j || !cJSON_IsString(idv) || !idv->valuestring[0] || strlen(idv->valuestring) > MQ_ID_MAX) {
        cJSON_Delete(j);
        *why = "put: not a title object";
        return MQ__SEG_BAD;
    }
    entry e;
    int rc = parse_title(j, idv->valuestring, true, &e, msg, sizeof msg);
    cJSON_Delete(j);
    if (rc) { entry_free(&e); *why = msg; return MQ__SEG_BAD; }
    (void)seq;
    if (apply_put(r->c, &e)) { entry_free(&e); return MQ_ENOMEM; }
    return 0;
}

int mq__titles_open(const char *dir, const mq_log *log, mq__titles **out, mq_err *err)
{
    *out = NULL;
    if (strlen(dir) >= 4000) return mq__err_set(err, MQ_EINVAL, "catalog log path too long");
    int rc = mq__mkdir_p(dir, err);
    if (rc) return rc;
    mq__titles *c = calloc(1, sizeof *c);
    if (!c) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    c->log = log;
    c->fd = -1;
    replay r = {c, 0};
    mq__seg_scan_out so;
    rc = mq__seg_scan(dir, &cat_fmt, replay_rec, &r, true, log, &so, err);
    if (rc) goto fail;
    c->next_seq = so.next_seq;
    c->records = so.next_seq - 1;
    uint64_t first = so.last_first ? so.last_first : so.next_seq;
    char path[4200];
    mq__seg_path(path, sizeof path, dir, first);
    c->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (c->fd < 0) { rc = mq__err_set(err, MQ_EIO, "%s: %s", path, strerror(errno)); goto fail; }
    c->off = so.last_first ? so.last_len : 0;
    if (c->off < MQ__SEG_HDR) {
        unsigned char h[MQ__SEG_HDR];
        mq__seg_header(h, CAT_MAGIC, first);
        if (ftruncate(c->fd, 0) != 0 || pwrite(c->fd, h, MQ__SEG_HDR, 0) != MQ__SEG_HDR || fdatasync(c->fd) != 0) {
            rc = mq__err_set(err, MQ_EIO, "%s: writing the header: %s", path, strerror(errno));
            goto fail;
        }
        c->off = MQ__SEG_HDR;
        if ((rc = mq__fsync_dir(dir, err))) goto fail;
    }
    *out = c;
    return 0;
fail:
    mq__titles_close(c);
    return rc;
}

void mq__titles_close(mq__titles *c)
{
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    for (int i = 0; i < c->n; i++) entry_free(&c->e[i]);
    free(c->e);
    free(c);
}

int mq__titles_count(const mq__titles *c, uint64_t *records)
{
    if (records) *records = c->records;
    return c->n;
}

/* Appends one record (op, payload) and syncs it; on failure the file is cut back so it ends on
 * a whole record. */
static int append(mq__titles *c, char op, const char *p, size_t n, mq_err *err)
{
    if (c->fd < 0) return mq__err_set(err, MQ_EIO, "catalog log '%s' failed earlier", c->dir);
    if (n + 1 > CAT_MAX_REC) return mq__err_set(err, MQ_EINVAL, "the title is over %u bytes", CAT_MAX_REC);
    unsigned char *rec = malloc(MQ__SEG_REC_HDR + n + 1);
    if (!rec) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    rec[MQ__SEG_REC_HDR] = (unsigned char)op;
    memcpy(rec + MQ__SEG_REC_HDR + 1, p, n);
    size_t len = mq__seg_frame(rec, (uint32_t)(n + 1)), done = 0;
    int rc = 0;
    while (done < len) {
        ssize_t w = pwrite(c->fd, rec + done, len - done, c->off + (off_t)done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { rc = errno == ENOSPC ? MQ_ENOSPC : MQ_EIO; break; }
        done += (size_t)w;
    }
    if (!rc && fdatasync(c->fd) != 0) rc = errno == ENOSPC ? MQ_ENOSPC : MQ_EIO;
    free(rec);
    if (rc) {
        int e = errno;
        if (ftruncate(c->fd, (off_t)c->off) != 0) { close(c->fd); c->fd = -1; }
        return mq__err_set(err, rc, "catalog log '%s': %s (nothing was written)", c->dir, strerror(e));
    }
    c->off += (int64_t)len;
    c->next_seq++;
    c->records++;
    return 0;
}

/* The genre count check: every distinct genre name (case-insensitive) of the base catalog and
 * the log, with e's replacing its id's, must fit MQ_MAX_GENRES. */
static int genre_room(const mq__titles *c, const mq_catalog *base, const entry *e, char *why, size_t cap)
{
    const char *names[MQ_MAX_GENRES];
    int n = 0;
    for (int g = 0; base && g < base->n_genres && n < MQ_MAX_GENRES; g++)
        if (base->genre_names[g]) names[n++] = base->genre_names[g];
    for (int i = 0; i <= c->n; i++) {
        const entry *x = i < c->n ? &c->e[i] : e;
        if (i < c->n && !strcmp(x->id, e->id)) continue;
        for (int k = 0; k < x->n_genres; k++) {
            bool have = false;
            for (int q = 0; q < n && !have; q++) have = !strcasecmp(names[q], x->genres[k]);
            if (have) continue;
            if (n == MQ_MAX_GENRES) {
                char sh[100];
                shown(x->genres[k], sh, sizeof sh);
                snprintf(why, cap, "field 'genres': '%s' would be genre %d of the catalog (at most %d)", sh,
                         MQ_MAX_GENRES + 1, MQ_MAX_GENRES);
                return -1;
            }
            names[n++] = x->genres[k];
        }
    }
    return 0;
}

int mq__titles_put(mq__titles *c, const char *id, const char *body, size_t len, const mq_catalog *base,
                   int64_t now, mq_err *err)
{
    char why[500];
    const char *ws;
    long bad = mq__json_strict(body, len, &ws);
    if (!len) return mq__err_set(err, MQ_EINVAL, "empty body: expected a title object");
    if (bad >= 0) return mq__err_set(err, MQ_EINVAL, "malformed JSON at byte %ld: %s", bad, ws);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= body && at <= body + len ? (long)(at - body) : -1;
        return mq__err_set(err, MQ_EINVAL, "malformed JSON near byte %ld", off);
    }
    size_t tail = end && end >= body ? (size_t)(end - body) : len;
    while (tail < len && strchr(" \t\r\n", body[tail])) tail++;
    if (tail < len) {
        cJSON_Delete(j);
        return mq__err_set(err, MQ_EINVAL, "malformed JSON at byte %zu: text after the JSON value", tail);
    }
    entry e;
    int rc = parse_title(j, id, false, &e, why, sizeof why);
    cJSON_Delete(j);
    if (!rc) rc = genre_room(c, base, &e, why, sizeof why);
    if (rc) { entry_free(&e); return mq__err_set(err, MQ_EINVAL, "%s", why); }
    int i = find_entry(c, id);
    e.at = i >= 0 && c->e[i].at ? c->e[i].at : now;
    mq_buf b;
    mq_buf_init(&b);
    entry_json(&e, true, &b);
    rc = b.oom ? mq__err_set(err, MQ_ENOMEM, "out of memory") : append(c, 'P', b.p, b.len, err);
    mq_buf_release(&b);
    if (!rc && apply_put(c, &e)) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
    if (rc) entry_free(&e);
    return rc;
}

int mq__titles_delete(mq__titles *c, const char *id, mq_err *err)
{
    int rc = append(c, 'D', id, strlen(id), err);
    if (!rc && apply_delete(c, id)) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
    return rc;
}

/* ---- views ---- */

struct mq__tview {
    int32_t n_model, n;
    const char **ids;                /* [n] */
    mq_catalog cat;                  /* [n]: arrays owned, strings borrowed or in strs */
    mq_page_catalog pc;
    float *pop, *trend_seed;         /* [n] */
    float *fresh;                    /* [n] 1 for added titles */
    int32_t *new_order;
    int64_t *from, *until;           /* [n] */
    uint8_t *hide;                   /* [n] 1 withdrawn, 2 has a window */
    int32_t *hidable;                /* titles with hide != 0 */
    int n_hidable;
    int32_t *hash;                   /* open addressing over the added titles: index or -1 */
    uint32_t hmask;
    char **strs;                     /* strings the view owns */
    int n_strs, cap_strs;
    mq_model_cold *cold;             /* content cold start, or NULL: the genre fallback */
};

static char *own(mq__tview *v, const char *s)
{
    if (!s) return NULL;
    if (v->n_strs == v->cap_strs) {
        int cap = v->cap_strs ? 2 * v->cap_strs : 64;
        char **p = realloc(v->strs, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        v->strs = p;
        v->cap_strs = cap;
    }
    char *d = strdup(s);
    if (d) v->strs[v->n_strs++] = d;
    return d;
}

static uint32_t fnv(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

void mq__tview_destroy(mq__tview *v)
{
    if (!v) return;
    mq_page_catalog_release(&v->pc);
    mq_model_cold_destroy(v->cold);
    free(v->ids);
    free(v->cat.names); free(v->cat.years); free(v->cat.genres);
    free(v->cat.tag_ptr); free(v->cat.tag_ids); free(v->cat.tag_counts); free(v->cat.tag_names);
    free(v->cat.art_ptr); free(v->cat.art_ids); free(v->cat.art_features);
    free(v->pop); free(v->trend_seed); free(v->fresh); free(v->new_order);
    free(v->from); free(v->until); free(v->hide); free(v->hidable); free(v->hash);
    for (int i = 0; i < v->n_strs; i++) free(v->strs[i]);
    free(v->strs);
    free(v);
}

/* The index of tag name in the view's tag names, added when new; th: an open-addressing table
 * (mask + 1 slots, -1 empty) over them, sized for every name the build can meet. */
static int32_t tag_index(mq__tview *v, int32_t *th, uint32_t mask, const char *name, int32_t *cap)
{
    uint32_t h = fnv(name) & mask;
    for (; th[h] >= 0; h = (h + 1) & mask)
        if (!strcmp(v->cat.tag_names[th[h]], name)) return th[h];
    if (v->cat.n_tags == *cap) {
        int32_t nc = *cap ? 2 * *cap : 64;
        char **p = realloc(v->cat.tag_names, (size_t)nc * sizeof *p);
        if (!p) return -1;
        v->cat.tag_names = p;
        *cap = nc;
    }
    char *s = own(v, name);
    if (!s) return -1;
    v->cat.tag_names[v->cat.n_tags] = s;
    th[h] = v->cat.n_tags;
    return v->cat.n_tags++;
}

typedef struct new_key { int64_t at; int32_t t; } new_key;
static int by_at_desc(const void *a, const void *b)
{
    const new_key *x = a, *y = b;
    if (x->at != y->at) return x->at < y->at ? 1 : -1;
    return x->t - y->t;
}

int mq__tview_build(const mq__titles *c, const mq_model *main, const char *const *ids, int32_t n_model,
                    const float *pop, const float *trend_seed, mq__tview **out, mq_err *err)
{
    *out = NULL;
    const mq_catalog *bc = mq_model_catalog(main);
    mq__tview *v = calloc(1, sizeof *v);
    const entry **over = NULL;      /* [n] each title's entry of the log, or NULL */
    int32_t *th = NULL;             /* tag name table (tag_index) */
    int32_t *slot = malloc((size_t)MQ_MAX(c->n, 1) * sizeof *slot);      /* entry -> title */
    if (!v || !slot) goto oom;
    int32_t n_added = 0;
    for (int i = 0; i < c->n; i++) {
        int32_t t = mq_model_title_index(main, c->e[i].id);
        slot[i] = t >= 0 && t < n_model ? t : n_model + n_added++;
    }
    int32_t n = n_model + n_added;
    over = calloc((size_t)MQ_MAX(n, 1), sizeof *over);
    if (!over) goto oom;
    for (int i = 0; i < c->n; i++) over[slot[i]] = &c->e[i];
    v->n_model = n_model;
    v->n = n;
    size_t N = (size_t)MQ_MAX(n, 1);
    v->ids = malloc(N * sizeof *v->ids);
    v->cat.names = calloc(N, sizeof *v->cat.names);
    v->cat.years = calloc(N, sizeof *v->cat.years);
    v->cat.genres = calloc(N, sizeof *v->cat.genres);
    v->cat.tag_ptr = calloc(N + 1, sizeof *v->cat.tag_ptr);
    v->pop = calloc(N, sizeof *v->pop);
    v->trend_seed = calloc(N, sizeof *v->trend_seed);
    v->fresh = calloc(N, sizeof *v->fresh);
    v->from = malloc(N * sizeof *v->from);
    v->until = malloc(N * sizeof *v->until);
    v->hide = calloc(N, 1);
    v->hidable = malloc((size_t)MQ_MAX(c->n, 1) * sizeof *v->hidable);
    if (!v->ids || !v->cat.names || !v->cat.years || !v->cat.genres || !v->cat.tag_ptr || !v->pop ||
        !v->trend_seed || !v->fresh || !v->from || !v->until || !v->hide || !v->hidable)
        goto oom;
    v->cat.n_titles = n;
    /* genres: the model's names, then the log's new ones (matched case-insensitively) */
    v->cat.n_genres = bc ? bc->n_genres : 0;
    for (int g = 0; g < v->cat.n_genres; g++) v->cat.genre_names[g] = bc->genre_names[g];
    for (int32_t t = 0; t < n_model; t++) {
        v->ids[t] = ids[t];
        v->cat.names[t] = bc && bc->names ? bc->names[t] : NULL;
        v->cat.years[t] = bc && bc->years ? bc->years[t] : 0;
        v->cat.genres[t] = bc && bc->genres ? bc->genres[t] : 0;
        v->pop[t] = pop ? pop[t] : 0;
        v->trend_seed[t] = trend_seed ? trend_seed[t] : 0;
        v->from[t] = INT64_MIN;
        v->until[t] = INT64_MAX;
    }
    for (int i = 0; i < c->n; i++) {
        const entry *e = &c->e[i];
        int32_t t = slot[i];
        if (t >= n_model) {
            if (!(v->ids[t] = own(v, e->id))) goto oom;
            v->from[t] = INT64_MIN;
            v->until[t] = INT64_MAX;
            v->fresh[t] = e->withdrawn ? 0 : 1;
        }
        if (e->name) {         /* a put (a bare withdrawal keeps the model's metadata) */
            if (!(v->cat.names[t] = own(v, e->name))) goto oom;
            v->cat.years[t] = e->year;
            uint64_t gs = 0;
            for (int k = 0; k < e->n_genres; k++) {
                int g = 0;
                while (g < v->cat.n_genres && strcasecmp(v->cat.genre_names[g], e->genres[k])) g++;
                if (g == v->cat.n_genres) {
                    if (g == MQ_MAX_GENRES) continue;     /* a reload onto a fuller catalog: dropped */
                    if (!(v->cat.genre_names[g] = own(v, e->genres[k]))) goto oom;
                    v->cat.n_genres++;
                }
                gs |= (uint64_t)1 << g;
            }
            v->cat.genres[t] = gs;
            v->from[t] = e->from;
            v->until[t] = e->until;
        }
        v->hide[t] = e->withdrawn ? 1 : (v->from[t] != INT64_MIN || v->until[t] != INT64_MAX) ? 2 : 0;
        if (v->hide[t]) v->hidable[v->n_hidable++] = t;
    }
    /* tags: CSR over all titles, the model's names then the log's */
    int32_t tag_cap = 0;
    int64_t n_tag_e = 0;
    for (int32_t t = 0; t < n; t++) {
        const entry *e = over[t];
        if (e && e->name) n_tag_e += e->n_tags;
        else if (t < n_model && bc && bc->tag_ptr) n_tag_e += bc->tag_ptr[t + 1] - bc->tag_ptr[t];
    }
    if (bc && bc->n_tags) {
        tag_cap = bc->n_tags + 64;
        v->cat.tag_names = malloc((size_t)tag_cap * sizeof *v->cat.tag_names);
        if (!v->cat.tag_names) goto oom;
        memcpy(v->cat.tag_names, bc->tag_names, (size_t)bc->n_tags * sizeof *v->cat.tag_names);
        v->cat.n_tags = bc->n_tags;
    }
    uint32_t tmask = 15;
    while (tmask + 1 < 2u * (uint32_t)(v->cat.n_tags + n_tag_e)) tmask = tmask * 2 + 1;
    th = malloc(((size_t)tmask + 1) * sizeof *th);
    if (!th) goto oom;
    memset(th, 0xff, ((size_t)tmask + 1) * sizeof *th);
    for (int32_t k = 0; k < v->cat.n_tags; k++) {
        uint32_t h = fnv(v->cat.tag_names[k]) & tmask;
        while (th[h] >= 0) h = (h + 1) & tmask;
        th[h] = k;
    }
    v->cat.tag_ids = malloc((size_t)MQ_MAX(n_tag_e, 1) * sizeof *v->cat.tag_ids);
    v->cat.tag_counts = malloc((size_t)MQ_MAX(n_tag_e, 1) * sizeof *v->cat.tag_counts);
    if (!v->cat.tag_ids || !v->cat.tag_counts) goto oom;
    /* artwork: when the model's catalog has it or an entry brings some */
    bool art = bc && bc->art_ptr;
    int64_t n_art = art ? bc->n_artworks : 0;
    for (int i = 0; i < c->n; i++) { art |= c->e[i].n_art > 0; n_art += c->e[i].n_art; }
    if (art) {
        v->cat.art_ptr = calloc(N + 1, sizeof *v->cat.art_ptr);
        v->cat.art_ids = malloc((size_t)MQ_MAX(n_art, 1) * sizeof *v->cat.art_ids);
        v->cat.art_features = malloc((size_t)MQ_MAX(n_art, 1) * sizeof *v->cat.art_features);
        if (!v->cat.art_ptr || !v->cat.art_ids || !v->cat.art_features) goto oom;
    }
    int64_t q = 0, a = 0;
    for (int32_t t = 0; t < n; t++) {
        const entry *e = over[t];
        if (e && e->name) {
            for (int k = 0; k < e->n_tags; k++) {
                int32_t id = tag_index(v, th, tmask, e->tags[k], &tag_cap);
                if (id < 0) goto oom;
                v->cat.tag_ids[q] = id;
                v->cat.tag_counts[q++] = 1.0f;
            }
            for (int k = 0; art && k < e->n_art; k++) {
                if (!(v->cat.art_ids[a] = own(v, e->arts[k].id)) || !(v->cat.art_features[a] = own(v, e->arts[k].features)))
                    goto oom;
                a++;
            }
        } else if (t < n_model) {
            for (int64_t r = bc && bc->tag_ptr ? bc->tag_ptr[t] : 0; bc && bc->tag_ptr && r < bc->tag_ptr[t + 1]; r++) {
                v->cat.tag_ids[q] = bc->tag_ids[r];
                v->cat.tag_counts[q++] = bc->tag_counts ? bc->tag_counts[r] : 1.0f;
            }
            for (int64_t r = bc && bc->art_ptr ? bc->art_ptr[t] : 0; bc && bc->art_ptr && r < bc->art_ptr[t + 1]; r++) {
                v->cat.art_ids[a] = bc->art_ids[r];
                v->cat.art_features[a++] = bc->art_features[r];
            }
        }
        v->cat.tag_ptr[t + 1] = q;
        if (art) v->cat.art_ptr[t + 1] = a;
    }
    v->cat.n_artworks = a;
    /* the page catalog, then New Releases led by the added titles, newest put first */
    int rc = mq_page_catalog_init(&v->pc, n, &v->cat, v->ids, v->pop, v->trend_seed, err);
    if (rc) { mq__tview_destroy(v); free(over); free(slot); free(th); return rc; }
    v->new_order = malloc((size_t)(v->pc.n_new + n_added + 1) * sizeof *v->new_order);
    new_key *nk = malloc((size_t)MQ_MAX(n_added, 1) * sizeof *nk);
    if (!v->new_order || !nk) { free(nk); goto oom; }
    int m = 0;
    for (int i = 0; i < c->n; i++)
        if (slot[i] >= n_model && !c->e[i].withdrawn) nk[m++] = (new_key){c->e[i].at, slot[i]};
    qsort(nk, (size_t)m, sizeof *nk, by_at_desc);
    for (int k = 0; k < m; k++) v->new_order[k] = nk[k].t;
    free(nk);
    for (int k = 0; k < v->pc.n_new; k++)
        if (v->pc.new_order[k] < n_model) v->new_order[m++] = v->pc.new_order[k];
    v->pc.new_order = v->new_order;
    v->pc.n_new = m;
    v->pc.fresh = n_added ? v->fresh : NULL;
    /* the id -> index table of the added titles */
    uint32_t hs = 16;
    while (hs < 2u * (uint32_t)n_added) hs <<= 1;
    v->hash = malloc(hs * sizeof *v->hash);
    if (!v->hash) goto oom;
    memset(v->hash, 0xff, hs * sizeof *v->hash);
    v->hmask = hs - 1;
    for (int32_t t = n_model; t < n; t++) {
        uint32_t h = fnv(v->ids[t]) & v->hmask;
        while (v->hash[h] >= 0) h = (h + 1) & v->hmask;
        v->hash[h] = t;
    }
    /* cold start through the content model when main has one */
    if (n_added) {
        mq_err cerr;
        if (mq_model_cold_create(main, &v->cat, n_model, n_added, &v->cold, &cerr) == MQ_ENOMEM) goto oom;
    }
    free(over);
    free(slot);
    free(th);
    *out = v;
    return 0;
oom:
    mq__tview_destroy(v);
    free(over);
    free(slot);
    free(th);
    return mq__err_set(err, MQ_ENOMEM, "out of memory building the catalog view");
}

int32_t mq__tview_n(const mq__tview *v) { return v->n; }
const char *const *mq__tview_ids(const mq__tview *v) { return v->ids; }
const mq_page_catalog *mq__tview_pc(const mq__tview *v) { return &v->pc; }
const float *mq__tview_trend_seed(const mq__tview *v) { return v->trend_seed; }
bool mq__tview_content(const mq__tview *v) { return v->cold != NULL; }

int32_t mq__tview_find(const mq__tview *v, const char *id)
{
    for (uint32_t h = fnv(id) & v->hmask;; h = (h + 1) & v->hmask) {
        int32_t t = v->hash[h];
        if (t < 0) return -1;
        if (!strcmp(v->ids[t], id)) return t;
    }
}

bool mq__tview_withdrawn(const mq__tview *v, int32_t t)
{
    return t >= 0 && t < v->n && v->hide[t] == 1;
}

bool mq__tview_shown(const mq__tview *v, int32_t t, int64_t now)
{
    if (t < 0 || t >= v->n) return false;
    if (!v->hide[t]) return true;
    return v->hide[t] == 2 && now >= v->from[t] && now < v->until[t];
}

int mq__tview_n_hidable(const mq__tview *v) { return v->n_hidable; }

int mq__tview_hidden(const mq__tview *v, int64_t now, int32_t *out)
{
    int m = 0;
    for (int i = 0; i < v->n_hidable; i++)
        if (!mq__tview_shown(v, v->hidable[i], now)) out[m++] = v->hidable[i];
    return m;
}

void mq__tview_window(const mq__tview *v, int32_t t, int64_t *from, int64_t *until)
{
    *from = v->from[t];
    *until = v->until[t];
}

int mq__tview_cold(const mq__tview *v, const int32_t *hidx, int n_pos, const mq_page_hist *hist, int n_hist,
                   float lo, float hi, float *scores, mq_err *err)
{
    int32_t na = v->n - v->n_model;
    if (na <= 0) return 0;
    float *c = scores + v->n_model;
    if (v->cold) {
        int rc = mq_model_cold_score(v->cold, hidx, NULL, n_pos, c, err);
        if (rc) return rc;
    } else {
        /* genre affinity: cos(member's genre mix, the title's genre set) */
        double mix[MQ_MAX_GENRES] = {0}, nrm = 0;
        for (int i = 0; i < n_hist; i++) {
            if (hist[i].weight <= 0 || hist[i].title < 0 || hist[i].title >= v->n) continue;
            uint64_t g = v->cat.genres[hist[i].title];
            int k = __builtin_popcountll(g);
            for (; g; g &= g - 1) mix[__builtin_ctzll(g)] += hist[i].weight / k;
        }
        for (int g = 0; g < MQ_MAX_GENRES; g++) nrm += mix[g] * mix[g];
        nrm = sqrt(nrm);
        for (int32_t i = 0; i < na; i++) {
            uint64_t g = v->cat.genres[v->n_model + i];
            int k = __builtin_popcountll(g);
            double s = 0;
            for (; g; g &= g - 1) s += mix[__builtin_ctzll(g)];
            c[i] = nrm > 0 && k ? (float)(s / (nrm * sqrt((double)k))) : 0.0f;
        }
    }
    if (!(hi > lo)) hi = lo + 1;
    for (int32_t i = 0; i < na; i++) {
        float x = c[i] == c[i] ? MQ_MAX(0.0f, MQ_MIN(1.0f, c[i])) : 0.0f;
        c[i] = lo + x * (hi - lo);
    }
    return 0;
}

int mq__tview_similar(const mq__tview *v, int32_t t, int n, int32_t *out, float *score)
{
    if (t < 0 || t >= v->n || n <= 0) return 0;
    uint64_t g = v->cat.genres[t];
    if (!g) return 0;
    float *s = malloc((size_t)v->n * sizeof *s);
    if (!s) return 0;
    int gn = __builtin_popcountll(g);
    for (int32_t j = 0; j < v->n; j++) {
        uint64_t h = v->cat.genres[j];
        int in = __builtin_popcountll(g & h), un = gn + __builtin_popcountll(h) - in;
        /* Jaccard of the genre sets, popularity breaking ties */
        s[j] = j == t || v->hide[j] == 1 || !in ? -1.0f : (float)in / (float)un + 1e-3f * v->pc.popularity[j];
    }
    int got = mq__topk(s, v->n, MQ_MIN(n, v->n), out, score);
    int m = 0;
    for (int k = 0; k < got; k++)
        if (score[k] > 0) { out[m] = out[k]; score[m++] = score[k]; }
    free(s);
    return m;
}
