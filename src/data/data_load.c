/* data_load.c: loading interaction files into a dataset, with strict validation.
 *
 * Every loader maps its file read-only (mq__file_map) and walks it with hand-written scanning:
 * memchr for line ends, a field splitter per delimiter (',', '\t', '|', "::", spaces, RFC 4180
 * quotes for CSV), and whole-string number parsers (no sscanf/strtok, no copies on the hot
 * path). Ids go through an mq__idspace: canonical decimal ids ("42") hit a direct array from
 * value to dense index; other ids are hashed by mq_idmap. Rows become mq_interaction records
 * (24 bytes each) that mq_dataset_build turns into CSR + CSC.
 *
 * Validation is strict: a row with a missing or extra field, a non-numeric id, a rating out of
 * range, invalid UTF-8, an unknown event, or a last line cut off without its newline is a
 * MQ_EFORMAT error "file:line: field 'x': 'text' problem"; with opts->skip_bad_rows the row is
 * skipped, counted and the first five reasons kept. An empty file and a file with no
 * interactions are errors as well. UTF-8 is checked once per file with a fast ASCII scan;
 * only a file that fails it is re-checked line by line to find (and possibly skip) the rows.
 *
 * Formats (mq_format): MovieLens latest CSV, ML-100K u.data, ML-1M/10M '::' .dat, Last.fm
 * HetRec user_artists.dat, line-per-member files, and a generic events CSV with a header.
 * Catalog files beside the interactions (movies.csv + tags.csv, u.item + u.genre, movies.dat +
 * tags.dat, artists.dat + user_taggedartists.dat + tags.dat) are read by catalog.c.
 *
 * Not thread-safe per call (one context per call); separate calls are independent.
 */
#include "data/data.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* ---- id spaces ---------------------------------------------------------------------------- */

#define IDS_CACHE_MAX ((size_t)1 << 24)   /* direct-array fast path for ids below 16.7M */

int mq__ids_init(mq__idspace *s)
{
    memset(s, 0, sizeof *s);
    s->map = mq_idmap_create();
    return s->map ? 0 : MQ_ENOMEM;
}

void mq__ids_release(mq__idspace *s)
{
    free(s->cache);
    mq_idmap_destroy(s->map);
    memset(s, 0, sizeof *s);
}

/* Canonical decimal value of [p, p+n) when it is short digits; strips leading zeros (p, n)
 * when numeric. Returns true with *v when the id can use the cache. */
static bool decimal_key(const char **p, size_t *n, bool numeric, uint64_t *v)
{
    const char *s = *p;
    size_t len = *n;
    if (len == 0 || len > 18) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9) return false;
        x = x * 10 + d;
    }
    if (s[0] == '0' && len > 1) {
        if (!numeric) return false;          /* "007" stays its own id in generic formats */
        while (len > 1 && s[0] == '0') { s++; len--; }
        *p = s;
        *n = len;
    }
    *v = x;
    return true;
}

static bool all_digits(const char *p, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned)(unsigned char)p[i] - '0' > 9) return false;
    return true;
}

int32_t mq__ids_intern(mq__idspace *s, const char *p, size_t n, bool numeric)
{
    if (numeric && !all_digits(p, n)) return -2;
    uint64_t v;
    bool dec = decimal_key(&p, &n, numeric, &v);
    /* The direct array grows only while it stays proportional to the ids seen, so one huge id
     * in a small file does not allocate megabytes. */
    if (dec && v < IDS_CACHE_MAX && (v < s->cache_n || v <= 64 * ((uint64_t)mq_idmap_size(s->map) + 1024))) {
        if (v < s->cache_n && s->cache[v] >= 0) return s->cache[v];
        if (v >= s->cache_n) {
            size_t nn = MQ_MAX(s->cache_n * 2, (size_t)4096);
            while (nn <= v) nn *= 2;
            if (nn > IDS_CACHE_MAX) nn = IDS_CACHE_MAX;
            int32_t *c = realloc(s->cache, nn * sizeof *c);
            if (!c) return -1;
            memset(c + s->cache_n, 0xff, (nn - s->cache_n) * sizeof *c);
            s->cache = c;
            s->cache_n = nn;
        }
        int32_t i = mq_idmap_intern(s->map, p, n);
        if (i >= 0) s->cache[v] = i;
        return i;
    }
    if (numeric && n > 1) while (n > 1 && p[0] == '0') { p++; n--; }
    return mq_idmap_intern(s->map, p, n);
}

int32_t mq__ids_find(const mq__idspace *s, const char *p, size_t n, bool numeric)
{
    if (numeric && !all_digits(p, n)) return -1;
    uint64_t v;
    bool dec = decimal_key(&p, &n, numeric, &v);
    if (dec && v < s->cache_n && s->cache[v] >= 0) return s->cache[v];
    /* Not cached: it may have been interned through the hash before the array covered it. */
    if (numeric) while (n > 1 && p[0] == '0') { p++; n--; }
    return mq_idmap_find(s->map, p, n);
}

/* ---- formats ------------------------------------------------------------------------------ */

static const char *format_names[] = {"auto", "movielens", "ml100k", "mldat", "lastfm", "lines", "events"};

int mq_format_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof format_names / sizeof *format_names); i++)
        if (strcmp(s, format_names[i]) == 0) return i;
    return -1;
}

const char *mq_format_name(int fmt)
{
    return fmt >= 0 && fmt < (int)(sizeof format_names / sizeof *format_names) ? format_names[fmt] : NULL;
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Guesses a file's format from its name, then its first line. */
static int detect(const char *path, const char *data, size_t len)
{
    const char *b = base_name(path);
    if (strcmp(b, "ratings.csv") == 0) return MQ_FMT_ML_CSV;
    if (strcmp(b, "u.data") == 0) return MQ_FMT_ML_100K;
    if (b[0] == 'u' && (strstr(b, ".base") || strstr(b, ".test"))) return MQ_FMT_ML_100K;
    if (strcmp(b, "ratings.dat") == 0) return MQ_FMT_ML_DAT;
    if (strcmp(b, "user_artists.dat") == 0) return MQ_FMT_LASTFM;
    size_t n = 0;
    while (n < len && data[n] != '\n') n++;
    const char *l = data;
    if (n >= 3 && memcmp(l, "\xEF\xBB\xBF", 3) == 0) { l += 3; n -= 3; }
    if (n >= 13 && memcmp(l, "userId,movieId", 14 <= n ? 14 : n) == 0) return MQ_FMT_ML_CSV;
    if (n >= 16 && memcmp(l, "userID\tartistID", 15) == 0) return MQ_FMT_LASTFM;
    if (memmem(l, n, "::", 2)) return MQ_FMT_ML_DAT;
    if (n >= 13 && memcmp(l, "member,title,", 13) == 0) return MQ_FMT_EVENTS;
    if (memmem(l, n, "member", 6) && memmem(l, n, "title", 5) && memmem(l, n, "timestamp", 9)) return MQ_FMT_EVENTS;
    /* Tab-separated numbers (u.data style) vs space-separated tokens (lines). */
    int tabs = 0, spaces = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        char c = l[i];
        if (c == '\t') tabs++;
        else if (c == ' ') spaces++;
        else if (!(c >= '0' && c <= '9') && c != '\r') other++;
    }
    if (other == 0 && tabs == 3 && spaces == 0) return MQ_FMT_ML_100K;
    if (other == 0 && tabs == 0 && spaces >= 1) return MQ_FMT_LINES;
    return -1;
}

/* ---- the loader --------------------------------------------------------------------------- */

typedef struct loader {
    mq_load_opts *o;
    mq_err *err;
    mq__idspace members, titles;
    mq_interaction *x;
    int64_t n, cap;
} loader;

static int push(loader *L, int32_t m, int32_t t, float v, int ev, int64_t time)
{
    if (L->n == L->cap) {
        int64_t nc = L->cap ? L->cap * 2 : 1 << 16;
        mq_interaction *x = realloc(L->x, (size_t)nc * sizeof *x);
        if (!x) return mq__err_set(L->err, MQ_ENOMEM, "out of memory at %lld interactions", (long long)L->n);
        L->x = x;
        L->cap = nc;
    }
    L->x[L->n++] = (mq_interaction){m, t, v, ev, time};
    return 0;
}

static int reserve_for(loader *L, size_t bytes, size_t bytes_per_row)
{
    int64_t want = L->n + (int64_t)(bytes / bytes_per_row) + 16;
    if (want <= L->cap) return 0;
    mq_interaction *x = realloc(L->x, (size_t)want * sizeof *x);
    if (!x) return 0;   /* not fatal: push() grows as needed */
    L->x = x;
    L->cap = want;
    return 0;
}

/* Interns member and title ids of a row, reporting non-numeric ids. Returns 1 ok, 0 skipped,
 * negative on failure. */
/* One id length limit everywhere: what the serving API and the event log take (MQ_ID_MAX
 * bytes), so every id loaded can be served and logged. 1 fine, else as mq__ld_bad. */
static int id_length_ok(mq__src *s, const char *name, const char *p, size_t n)
{
    if (n <= MQ_ID_MAX) return 1;
    char what[96];
    snprintf(what, sizeof what, "is %zu bytes long (ids are at most %d bytes)", n, MQ_ID_MAX);
    return mq__ld_bad(s, name, p, n, "%s", what);
}

static int row_ids(loader *L, mq__src *s, const mq__field *fm, const char *mname,
                   const mq__field *ft, const char *tname, bool numeric, int32_t *m, int32_t *t)
{
    int len_rc;
    if ((len_rc = id_length_ok(s, mname, fm->p, fm->n)) != 1 || (len_rc = id_length_ok(s, tname, ft->p, ft->n)) != 1)
        return len_rc;
    if (fm->n == 0) { int rc = mq__ld_bad(s, mname, "", 0, "is empty"); return rc ? rc : 0; }
    if (ft->n == 0) { int rc = mq__ld_bad(s, tname, "", 0, "is empty"); return rc ? rc : 0; }
    if (numeric && !all_digits(fm->p, fm->n)) {
        int rc = mq__ld_bad(s, mname, fm->p, fm->n, "is not a non-negative integer id");
        return rc ? rc : 0;
    }
    if (numeric && !all_digits(ft->p, ft->n)) {
        int rc = mq__ld_bad(s, tname, ft->p, ft->n, "is not a non-negative integer id");
        return rc ? rc : 0;
    }
    *m = mq__ids_intern(&L->members, fm->p, fm->n, numeric);
    *t = mq__ids_intern(&L->titles, ft->p, ft->n, numeric);
    if (*m < 0 || *t < 0) return mq__err_set(L->err, MQ_ENOMEM, "out of memory interning ids");
    return 1;
}

static int field_count_bad(mq__src *s, const char *b, const char *e, int got, int want)
{
    int rc;
    if (got < 0) rc = mq__ld_bad(s, NULL, b, (size_t)(e - b), "unterminated quote in row");
    else if (got > want) rc = mq__ld_bad(s, NULL, b, (size_t)(e - b), "too many fields (expected %d)", want);
    else rc = mq__ld_bad(s, NULL, b, (size_t)(e - b), "missing field: %d of %d fields", got, want);
    return rc;
}

#define NEXT_OR_SKIP(s, b, e)                                  \
    int r_ = mq__ld_next(s, &b, &e);                           \
    if (r_ == 0) break;                                        \
    if (r_ < 0) { rc = r_; goto done; }                        \
    if (r_ == 2) continue;

/* Parses a rating field; 1 ok, 0 skipped, negative failure. */
static int rating_field(mq__src *s, const mq__field *f, double lo, double hi, bool integer, float *out)
{
    double v;
    if (!mq__parse_f64(f->p, f->n, &v)) {
        int rc = mq__ld_bad(s, "rating", f->p, f->n, "is not a number");
        return rc ? rc : 0;
    }
    if (v < lo || v > hi || (integer && v != floor(v))) {
        int rc = mq__ld_bad(s, "rating", f->p, f->n, "is out of range [%g, %g]%s", lo, hi,
                            integer ? " (whole stars)" : "");
        return rc ? rc : 0;
    }
    *out = (float)v;
    return 1;
}

static int time_field(mq__src *s, const mq__field *f, int64_t *out)
{
    int64_t v;
    if (!mq__ld_i64(f->p, f->n, &v) || v < 0 || v > ((int64_t)1 << 40)) {
        int rc = mq__ld_bad(s, "timestamp", f->p, f->n, "is not a unix time in seconds");
        return rc ? rc : 0;
    }
    *out = v;
    return 1;
}

/* MovieLens rating files: CSV (userId,movieId,rating,timestamp), u.data (tabs), .dat ("::"). */
static int load_ml(loader *L, const char *path, int fmt)
{
    mq__src s;
    int rc = mq__ld_open(&s, path, L->o, L->err);
    if (rc) return rc;
    reserve_for(L, s.len, fmt == MQ_FMT_ML_100K ? 20 : 24);
    static const char *const cols[4] = {"userId", "movieId", "rating", "timestamp"};
    s.cols = cols;
    s.n_cols = fmt == MQ_FMT_ML_DAT ? 0 : 4;   /* "::" rows: the column count is not known by byte */
    mq__field f[5];
    const char *b, *e;
    double lo = fmt == MQ_FMT_ML_100K ? 1 : 0.5, hi = 5;
    for (;;) {
        NEXT_OR_SKIP(&s, b, e);
        int nf = fmt == MQ_FMT_ML_CSV ? mq__csv_split(b, e, f, 4)   /* exporters may quote numbers */
               : fmt == MQ_FMT_ML_100K ? mq__ld_split(b, e, '\t', f, 4)
                                       : mq__ld_split2(b, e, f, 4);
        if (s.line == 1 && fmt == MQ_FMT_ML_CSV && nf >= 1 && f[0].n == 6 && memcmp(f[0].p, "userId", 6) == 0) continue;
        if (nf != 4) { if ((rc = field_count_bad(&s, b, e, nf, 4))) goto done; continue; }
        int32_t m, t;
        int k = row_ids(L, &s, &f[0], "userId", &f[1], "movieId", true, &m, &t);
        if (k < 0) { rc = k; goto done; }
        if (k == 0) continue;
        float r = 0;
        if ((k = rating_field(&s, &f[2], lo, hi, fmt == MQ_FMT_ML_100K, &r)) < 0) { rc = k; goto done; }
        if (k == 0) continue;
        int64_t ts = 0;
        if ((k = time_field(&s, &f[3], &ts)) < 0) { rc = k; goto done; }
        if (k == 0) continue;
        if ((rc = push(L, m, t, r, MQ_EV_RATING, ts))) goto done;
    }
done:
    mq__ld_close(&s);
    return rc;
}

static int load_lastfm(loader *L, const char *path)
{
    mq__src s;
    int rc = mq__ld_open(&s, path, L->o, L->err);
    if (rc) return rc;
    reserve_for(L, s.len, 14);
    static const char *const cols[3] = {"userID", "artistID", "weight"};
    s.cols = cols;
    s.n_cols = 3;
    mq__field f[4];
    const char *b, *e;
    for (;;) {
        NEXT_OR_SKIP(&s, b, e);
        if (s.line == 1 && (size_t)(e - b) >= 6 && memcmp(b, "userID", 6) == 0) continue;
        int nf = mq__ld_split(b, e, '\t', f, 3);
        if (nf != 3) { if ((rc = field_count_bad(&s, b, e, nf, 3))) goto done; continue; }
        int32_t m, t;
        int k = row_ids(L, &s, &f[0], "userID", &f[1], "artistID", true, &m, &t);
        if (k < 0) { rc = k; goto done; }
        if (k == 0) continue;
        uint64_t w;
        if (!mq__ld_u64(f[2].p, f[2].n, &w) || w > (1ULL << 40)) {
            if ((rc = mq__ld_bad(&s, "weight", f[2].p, f[2].n, "is not a non-negative play count"))) goto done;
            continue;
        }
        if ((rc = push(L, m, t, (float)w, MQ_EV_PLAY, 0))) goto done;
    }
done:
    mq__ld_close(&s);
    return rc;
}

/* "member title title ..." separated by spaces or tabs; every pair is an implicit positive. */
static int load_lines(loader *L, const char *path)
{
    mq__src s;
    int rc = mq__ld_open(&s, path, L->o, L->err);
    if (rc) return rc;
    reserve_for(L, s.len, 6);
    const char *b, *e;
    for (;;) {
        NEXT_OR_SKIP(&s, b, e);
        const char *p = b;
        while (p < e && (*p == ' ' || *p == '\t')) p++;
        if (p == e) {
            if ((rc = mq__ld_bad(&s, NULL, NULL, 0, "empty line (expected 'member title title ...')"))) goto done;
            continue;
        }
        const char *q = p;
        while (q < e && *q != ' ' && *q != '\t') q++;
        int len_rc = id_length_ok(&s, "member", p, (size_t)(q - p));
        if (len_rc != 1) { if ((rc = len_rc)) goto done; continue; }
        int32_t m = mq__ids_intern(&L->members, p, (size_t)(q - p), false);
        if (m < 0) { rc = mq__err_set(L->err, MQ_ENOMEM, "out of memory interning ids"); goto done; }
        for (p = q;;) {
            while (p < e && (*p == ' ' || *p == '\t')) p++;
            if (p == e) break;
            q = p;
            while (q < e && *q != ' ' && *q != '\t') q++;
            if ((len_rc = id_length_ok(&s, "title", p, (size_t)(q - p))) != 1) {
                if ((rc = len_rc)) goto done;
                p = q;
                continue;
            }
            int32_t t = mq__ids_intern(&L->titles, p, (size_t)(q - p), false);
            if (t < 0) { rc = mq__err_set(L->err, MQ_ENOMEM, "out of memory interning ids"); goto done; }
            if ((rc = push(L, m, t, 1.0f, MQ_EV_PLAY, 0))) goto done;
            p = q;
        }
    }
done:
    mq__ld_close(&s);
    return rc;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool two(const char *p, unsigned *v)
{
    if ((unsigned)(p[0] - '0') > 9 || (unsigned)(p[1] - '0') > 9) return false;
    *v = (unsigned)(p[0] - '0') * 10 + (unsigned)(p[1] - '0');
    return true;
}

/* Unix seconds, or ISO 8601 "YYYY-MM-DD[THH:MM:SS[.fff][Z or +HH:MM or -HH:MM]]" (UTC when no zone). */
static bool parse_time(const char *p, size_t n, int64_t *out)
{
    int64_t v;
    if (mq__ld_i64(p, n, &v)) { if (v < 0 || v > ((int64_t)1 << 40)) return false; *out = v; return true; }
    unsigned y1, y2, mo, d, h = 0, mi = 0, sec = 0;
    if (n < 10 || !two(p, &y1) || !two(p + 2, &y2) || p[4] != '-' || !two(p + 5, &mo) || p[7] != '-' ||
        !two(p + 8, &d))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return false;
    size_t i = 10;
    int64_t off = 0;
    if (i < n) {
        if ((p[i] != 'T' && p[i] != ' ') || n < i + 9 || !two(p + i + 1, &h) || p[i + 3] != ':' ||
            !two(p + i + 4, &mi) || p[i + 6] != ':' || !two(p + i + 7, &sec))
            return false;
        if (h > 23 || mi > 59 || sec > 60) return false;
        i += 9;
        if (i < n && p[i] == '.') { i++; while (i < n && (unsigned)(p[i] - '0') <= 9) i++; }
        if (i < n && p[i] == 'Z') i++;
        else if (i < n && (p[i] == '+' || p[i] == '-')) {
            unsigned oh, om;
            if (n < i + 6 || !two(p + i + 1, &oh) || p[i + 3] != ':' || !two(p + i + 4, &om)) return false;
            off = (p[i] == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
            i += 6;
        }
        if (i != n) return false;
    }
    int64_t t = days_from_civil((int64_t)(y1 * 100 + y2), mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    if (t < 0) return false;
    *out = t;
    return true;
}

enum { COL_MEMBER, COL_TITLE, COL_TIME, COL_EVENT, COL_VALUE, COL_N };
static const char *col_names[COL_N] = {"member", "title", "timestamp", "event", "value"};

/* Generic events CSV: a header naming member,title,timestamp[,event][,value]. */
static int load_events(loader *L, const char *path)
{
    mq__src s;
    int rc = mq__ld_open(&s, path, L->o, L->err);
    if (rc) return rc;
    reserve_for(L, s.len, 28);
    mq__field f[COL_N + 1];
    int col[COL_N] = {-1, -1, -1, -1, -1};
    const char *b, *e;
    int nf_header = 0;
    /* Header: strict; a bad header fails even with skip_bad_rows (no row could be read). */
    int r = mq__ld_next(&s, &b, &e);
    if (r != 1) {
        rc = r < 0 ? r : mq__err_set(L->err, MQ_EFORMAT, "%s:1: bad header line", path);
        goto done;
    }
    nf_header = mq__csv_split(b, e, f, COL_N);
    if (nf_header < 3 || nf_header > COL_N) {
        rc = mq__err_set(L->err, MQ_EFORMAT, "%s:1: header must be member,title,timestamp[,event][,value]", path);
        goto done;
    }
    for (int i = 0; i < nf_header; i++) {
        int c = -1;
        for (int k = 0; k < COL_N; k++)
            if (strlen(col_names[k]) == f[i].n && memcmp(col_names[k], f[i].p, f[i].n) == 0) c = k;
        if (c < 0 || col[c] >= 0) {
            char shown[128];
            mq__render_text(shown, sizeof shown, f[i].p, f[i].n);
            rc = mq__err_set(L->err, MQ_EFORMAT, "%s:1: header: column '%s' is %s (expected member,title,timestamp[,event][,value])",
                             path, shown, c < 0 ? "unknown" : "repeated");
            goto done;
        }
        col[c] = i;
    }
    const char *names_by_pos[COL_N];
    for (int c = 0; c < COL_N; c++)
        if (col[c] >= 0) names_by_pos[col[c]] = col_names[c];
    s.cols = names_by_pos;
    s.n_cols = nf_header;
    if (col[COL_MEMBER] < 0 || col[COL_TITLE] < 0 || col[COL_TIME] < 0) {
        rc = mq__err_set(L->err, MQ_EFORMAT, "%s:1: header must name member, title and timestamp", path);
        goto done;
    }
    for (;;) {
        NEXT_OR_SKIP(&s, b, e);
        int nf = mq__csv_split(b, e, f, nf_header);
        if (nf != nf_header) { if ((rc = field_count_bad(&s, b, e, nf, nf_header))) goto done; continue; }
        const mq__field *fm = &f[col[COL_MEMBER]], *ft = &f[col[COL_TITLE]];
        if (fm->esc || ft->esc) {
            if ((rc = mq__ld_bad(&s, fm->esc ? "member" : "title", fm->esc ? fm->p : ft->p,
                                 fm->esc ? fm->n : ft->n, "contains a quote character")))
                goto done;
            continue;
        }
        int32_t m, t;
        int k = row_ids(L, &s, fm, "member", ft, "title", false, &m, &t);
        if (k < 0) { rc = k; goto done; }
        if (k == 0) continue;
        const mq__field *fts = &f[col[COL_TIME]];
        int64_t ts;
        if (!parse_time(fts->p, fts->n, &ts)) {
            if ((rc = mq__ld_bad(&s, "timestamp", fts->p, fts->n, "is not unix seconds or an ISO 8601 UTC time"))) goto done;
            continue;
        }
        int ev = MQ_EV_PLAY;
        if (col[COL_EVENT] >= 0) {
            const mq__field *fe = &f[col[COL_EVENT]];
            ev = mq_event_parse(fe->p, fe->n);
            if (ev < 0) {
                if ((rc = mq__ld_bad(&s, "event", fe->p, fe->n,
                                     "is not an event (play, rating, thumb_up, thumb_down, impression, search)")))
                    goto done;
                continue;
            }
        }
        /* Fixed values for events without a magnitude; play and rating read the value column. */
        float v = mq_event_strength(ev, 1.0f);
        const mq__field *fv = col[COL_VALUE] >= 0 ? &f[col[COL_VALUE]] : NULL;
        if (ev == MQ_EV_PLAY || ev == MQ_EV_RATING) {
            if (fv && fv->n > 0) {
                double d;
                if (!mq__parse_f64(fv->p, fv->n, &d)) {
                    if ((rc = mq__ld_bad(&s, "value", fv->p, fv->n, "is not a number"))) goto done;
                    continue;
                }
                const char *bad_value = mq_event_value_check(ev, d);
                if (bad_value) {
                    if ((rc = mq__ld_bad(&s, "value", fv->p, fv->n, "%s", bad_value))) goto done;
                    continue;
                }
                v = (float)d;
            } else if (ev == MQ_EV_RATING) {
                if ((rc = mq__ld_bad(&s, "value", "", 0, "is missing: a rating event needs a value"))) goto done;
                continue;
            }
        }
        if ((rc = push(L, m, t, v, ev, ts))) goto done;
    }
done:
    mq__ld_close(&s);
    return rc;
}

/* ---- catalog files, paths ----------------------------------------------------------------- */

typedef struct catfiles {
    char movies[4096], tags[4096], tag_names[4096], u_item[4096], u_genre[4096], artists[4096];
    char artwork[4096];      /* artwork.csv (artwork.c), beside any format's files */
    bool movies_dat;
    int tags_fmt;            /* MQ_FMT_ML_CSV, MQ_FMT_ML_DAT or MQ_FMT_LASTFM */
} catfiles;

static void join(char *out, size_t cap, const char *dir, const char *name)
{
    int k = snprintf(out, cap, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= cap) out[0] = 0;   /* too long: treated as absent */
}

/* Notes the catalog files that exist beside an interaction file of format fmt in dir. */
static void find_catalog(catfiles *c, const char *dir, int fmt)
{
    char p[4096];
    join(p, sizeof p, dir, "artwork.csv");
    if (!c->artwork[0] && is_file(p)) strcpy(c->artwork, p);
    switch (fmt) {
    case MQ_FMT_ML_CSV:
        join(p, sizeof p, dir, "movies.csv");
        if (!c->movies[0] && is_file(p)) { strcpy(c->movies, p); c->movies_dat = false; }
        join(p, sizeof p, dir, "tags.csv");
        if (!c->tags[0] && is_file(p)) { strcpy(c->tags, p); c->tags_fmt = MQ_FMT_ML_CSV; }
        break;
    case MQ_FMT_ML_DAT:
        join(p, sizeof p, dir, "movies.dat");
        if (!c->movies[0] && is_file(p)) { strcpy(c->movies, p); c->movies_dat = true; }
        join(p, sizeof p, dir, "tags.dat");
        if (!c->tags[0] && is_file(p)) { strcpy(c->tags, p); c->tags_fmt = MQ_FMT_ML_DAT; }
        break;
    case MQ_FMT_ML_100K:
        join(p, sizeof p, dir, "u.item");
        if (!c->u_item[0] && is_file(p)) strcpy(c->u_item, p);
        join(p, sizeof p, dir, "u.genre");
        if (!c->u_genre[0] && is_file(p)) strcpy(c->u_genre, p);
        break;
    case MQ_FMT_LASTFM:
        join(p, sizeof p, dir, "artists.dat");
        if (!c->artists[0] && is_file(p)) strcpy(c->artists, p);
        join(p, sizeof p, dir, "user_taggedartists.dat");
        char q[4096];
        join(q, sizeof q, dir, "tags.dat");
        if (!c->tags[0] && is_file(p) && is_file(q)) {
            strcpy(c->tags, p);
            strcpy(c->tag_names, q);
            c->tags_fmt = MQ_FMT_LASTFM;
        }
        break;
    default:
        break;
    }
}

/* Is the file a catalog file named on the command line? Records it and returns true. */
static bool take_catalog_path(catfiles *c, const char *path)
{
    const char *b = base_name(path);
    if (strcmp(b, "movies.csv") == 0) { snprintf(c->movies, sizeof c->movies, "%s", path); c->movies_dat = false; return true; }
    if (strcmp(b, "movies.dat") == 0) { snprintf(c->movies, sizeof c->movies, "%s", path); c->movies_dat = true; return true; }
    if (strcmp(b, "tags.csv") == 0) { snprintf(c->tags, sizeof c->tags, "%s", path); c->tags_fmt = MQ_FMT_ML_CSV; return true; }
    if (strcmp(b, "u.item") == 0) { snprintf(c->u_item, sizeof c->u_item, "%s", path); return true; }
    if (strcmp(b, "u.genre") == 0) { snprintf(c->u_genre, sizeof c->u_genre, "%s", path); return true; }
    if (strcmp(b, "artists.dat") == 0) { snprintf(c->artists, sizeof c->artists, "%s", path); return true; }
    if (strcmp(b, "artwork.csv") == 0) { snprintf(c->artwork, sizeof c->artwork, "%s", path); return true; }
    if (strcmp(b, "links.csv") == 0 || strcmp(b, "README.txt") == 0) return true;   /* not used */
    return false;
}

/* The interaction file inside a directory. */
static int dir_main_file(const char *dir, int fmt, char *out, size_t cap, mq_err *err)
{
    static const struct { const char *name; int fmt; } cands[] = {
        {"ratings.csv", MQ_FMT_ML_CSV}, {"u.data", MQ_FMT_ML_100K}, {"ratings.dat", MQ_FMT_ML_DAT},
        {"user_artists.dat", MQ_FMT_LASTFM}, {"train.txt", MQ_FMT_LINES}, {"events.csv", MQ_FMT_EVENTS},
    };
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        if (fmt != MQ_FMT_AUTO && fmt != cands[i].fmt) continue;
        join(out, cap, dir, cands[i].name);
        if (is_file(out)) return 0;
    }
    return mq__err_set(err, MQ_ENOTFOUND,
                       "%s: no interaction file found in the directory (looked for ratings.csv, u.data, "
                       "ratings.dat, user_artists.dat, train.txt, events.csv)", dir);
}

static void dir_of(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    if (!b) snprintf(out, cap, ".");
    else if (b == path) snprintf(out, cap, "/");
    else snprintf(out, cap, "%.*s", (int)(b - path), path);
}

/* mq_data_load on options read into the current layout (opts is never NULL here). */
static int load_all(const char *const *paths, int n_paths, mq_load_opts *opts, mq_dataset **out,
                    mq_err *err)
{
    opts->n_bad_rows = 0;
    memset(opts->first_bad, 0, sizeof opts->first_bad);
    if (n_paths <= 0) return mq__err_set(err, MQ_EINVAL, "no input files given");
    loader L = {.o = opts, .err = err};
    catfiles *cat = calloc(1, sizeof *cat);
    int rc = MQ_ENOMEM;
    if (!cat || mq__ids_init(&L.members) || mq__ids_init(&L.titles)) {
        rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
        goto fail;
    }
    int first_fmt = -1, n_main = 0;
    double t0 = mq_now();
    for (int i = 0; i < n_paths; i++) {
        char file[4096], dir[4096];
        const char *path = paths[i];
        if (is_dir(path)) {
            if ((rc = dir_main_file(path, opts->format, file, sizeof file, err))) goto fail;
            snprintf(dir, sizeof dir, "%s", path);
        } else {
            if (take_catalog_path(cat, path)) continue;   /* catalog names are never interactions */
            snprintf(file, sizeof file, "%s", path);
            dir_of(path, dir, sizeof dir);
        }
        int fmt = opts->format;
        if (fmt == MQ_FMT_AUTO) {
            const void *data;
            size_t len;
            if ((rc = mq__file_map(file, &data, &len, err))) goto fail;
            if (len == 0) {
                rc = mq__err_set(err, MQ_EFORMAT, "%s: the file is empty", file);
                goto fail;
            }
            fmt = detect(file, data, MQ_MIN(len, (size_t)4096));
            mq__file_unmap(data, len);
            if (fmt < 0) {
                rc = mq__err_set(err, MQ_EFORMAT,
                                 "%s: cannot tell the format from the name or first line; name it with "
                                 "--format (movielens, ml100k, mldat, lastfm, lines, events)", file);
                goto fail;
            }
        }
        switch (fmt) {
        case MQ_FMT_ML_CSV: case MQ_FMT_ML_100K: case MQ_FMT_ML_DAT: rc = load_ml(&L, file, fmt); break;
        case MQ_FMT_LASTFM: rc = load_lastfm(&L, file); break;
        case MQ_FMT_LINES: rc = load_lines(&L, file); break;
        case MQ_FMT_EVENTS: rc = load_events(&L, file); break;
        default: rc = mq__err_set(err, MQ_EINVAL, "unknown format %d", fmt);
        }
        if (rc) goto fail;
        if (first_fmt < 0) first_fmt = fmt;
        n_main++;
        find_catalog(cat, dir, fmt);
        mq__logf(opts->log, "%s: %lld interactions so far (%s format)", file, (long long)L.n, mq_format_name(fmt));
    }
    if (n_main == 0) {
        rc = mq__err_set(err, MQ_EINVAL, "only catalog files were given; name an interaction file too");
        goto fail;
    }
    if (L.n == 0) {
        rc = mq__err_set(err, MQ_EFORMAT, "%s: no interactions%s", paths[0],
                         opts->n_bad_rows ? " (every row was skipped as bad)" : "");
        goto fail;
    }
    double t_parse = mq_now();
    mq__logf(opts->log, "parsed %lld rows in %.2f s", (long long)L.n, t_parse - t0);
    mq_dataset *d;
    mq_idmap *mm = L.members.map, *tm = L.titles.map;
    L.members.map = NULL;
    /* Keep the title id space alive for the catalog readers: build on a copy of the map. */
    mq_idmap *tcopy = mq_idmap_create();
    if (!tcopy) { mq_idmap_destroy(mm); rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
    for (int32_t t = 0; t < mq_idmap_size(tm); t++) {
        const char *id = mq_idmap_name(tm, t);
        if (mq_idmap_intern(tcopy, id, strlen(id)) < 0) {
            mq_idmap_destroy(mm);
            mq_idmap_destroy(tcopy);
            rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
            goto fail;
        }
    }
    if ((rc = mq_dataset_build(L.x, L.n, mm, tcopy, &d, err))) goto fail;
    free(L.x);
    L.x = NULL;
    d->ratings = first_fmt == MQ_FMT_ML_CSV || first_fmt == MQ_FMT_ML_100K || first_fmt == MQ_FMT_ML_DAT;
    mq_catalog *c = &d->catalog;
    if (!rc && cat->movies[0]) rc = mq__catalog_ml_movies(c, &L.titles, cat->movies, cat->movies_dat, opts, err);
    if (!rc && cat->u_item[0]) rc = mq__catalog_u_item(c, &L.titles, cat->u_item, cat->u_genre[0] ? cat->u_genre : NULL, opts, err);
    if (!rc && cat->artists[0]) rc = mq__catalog_artists(c, &L.titles, cat->artists, opts, err);
    if (!rc && cat->tags[0]) rc = mq__catalog_tags(c, &L.titles, cat->tags, cat->tags_fmt, cat->tag_names[0] ? cat->tag_names : NULL, opts, err);
    if (!rc && cat->artwork[0]) rc = mq__catalog_artwork(c, &L.titles, cat->artwork, opts, err);
    if (rc) { mq_dataset_destroy(d); goto fail; }
    mq__logf(opts->log, "loaded %d members x %d titles, %lld interactions in %.2f s%s", d->n_members,
             d->n_titles, (long long)d->nnz, mq_now() - t0, opts->n_bad_rows ? " (bad rows skipped)" : "");
    mq__ids_release(&L.members);
    mq__ids_release(&L.titles);
    free(cat);
    *out = d;
    return 0;
fail:
    free(L.x);
    mq__ids_release(&L.members);
    mq__ids_release(&L.titles);
    free(cat);
    return rc;
}

int mq_data_load(const char *const *paths, int n_paths, mq_load_opts *opts, mq_dataset **out,
                 mq_err *err)
{
    *out = NULL;
    mq_load_opts o;
    int rc = MQ__OPTS_GET(mq_load_opts, &o, opts, err);
    if (rc) return rc;
    rc = load_all(paths, n_paths, &o, out, err);
    mq__opts_write_back(opts, &o);   /* n_bad_rows, first_bad, as far as the caller's struct goes */
    return rc;
}

/* ---- snapshot or files -------------------------------------------------------------------- */

int mq_data_open(const char *path, mq_load_opts *opts, mq_dataset **out, mq_err *err)
{
    *out = NULL;
    mq_load_opts o;
    int orc = MQ__OPTS_GET(mq_load_opts, &o, opts, err);
    if (orc) return orc;
    if (!is_dir(path)) {
        FILE *f = fopen(path, "rb");
        if (!f) return mq__err_set(err, errno == ENOENT ? MQ_ENOTFOUND : MQ_EIO, "%s: %s", path, strerror(errno));
        char magic[8] = {0};
        size_t got = fread(magic, 1, 8, f);
        fclose(f);
        if (got == 8 && memcmp(magic, "MQDSNAP1", 8) == 0)
            return mq__snapshot_load(path, o.private_copy, out, err);
    }
    const char *paths[1] = {path};
    return mq_data_load(paths, 1, opts, out, err);
}
