/* catalog.c: title metadata (name, year, genres, tags) from the files that ship with each
 * dataset: MovieLens movies.csv/movies.dat + tags.csv/tags.dat, ML-100K u.item (+ u.genre),
 * Last.fm artists.dat + user_taggedartists.dat + tags.dat.
 *
 * The catalog is indexed by the dataset's title index; rows for titles that have no
 * interactions are ignored (the dataset's title set is the titles that were interacted with).
 * Names are stored without MovieLens's " (1995)" suffix and the year is parsed from it (u.item
 * falls back on its release date). Latin-1 text (u.item, ML-1M movies.dat, Last.fm tags.dat) is
 * converted to UTF-8 field by field: a field that is not valid UTF-8 is read as Latin-1.
 * Genres are a bit set over at most MQ_MAX_GENRES names in order of first appearance;
 * "(no genres listed)" means none. Tags are lower-cased and counted per (title, tag), stored as
 * CSR (tag_ptr / tag_ids / tag_counts) sorted by tag index within a title.
 * Rows are validated like interaction rows (mq__ld_bad): a bad id or missing field is
 * file:line: field 'x' ... unless skip_bad_rows.
 */
#include "data/data.h"

#include <stdlib.h>
#include <string.h>

/* Splits "Title, The (1995)" into name "Title, The" and year 1995. The year group must be
 * "(dddd)" or "(dddd-...)" at the end, after trailing spaces. Returns a heap name. */
static char *split_year(const char *s, int32_t *year)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    *year = 0;
    if (n >= 6 && s[n - 1] == ')') {
        const char *open = NULL;
        for (size_t i = n - 1; i-- > 0;)
            if (s[i] == '(') { open = s + i; break; }
        if (open && open + 5 < s + n) {
            bool digits = true;
            for (int k = 1; k <= 4; k++) digits = digits && open[k] >= '0' && open[k] <= '9';
            if (digits && (open[5] == ')' || open[5] == '-' || (unsigned char)open[5] == 0xE2)) {
                *year = (open[1] - '0') * 1000 + (open[2] - '0') * 100 + (open[3] - '0') * 10 + (open[4] - '0');
                n = (size_t)(open - s);
                while (n > 0 && s[n - 1] == ' ') n--;
            }
        }
    }
    char *out = malloc(n + 1);
    if (!out) return NULL;
    memcpy(out, s, n);
    out[n] = 0;
    return out;
}

/* Index of genre name [p, p+n) in c, adding it; -1 when all MQ_MAX_GENRES are taken, -2 ENOMEM. */
static int genre_index(mq_catalog *c, const char *p, size_t n)
{
    for (int g = 0; g < c->n_genres; g++)
        if (strlen(c->genre_names[g]) == n && memcmp(c->genre_names[g], p, n) == 0) return g;
    if (c->n_genres == MQ_MAX_GENRES) return -1;
    char *s = malloc(n + 1);
    if (!s) return -2;
    memcpy(s, p, n);
    s[n] = 0;
    c->genre_names[c->n_genres] = s;
    return c->n_genres++;
}

static int set_name(mq_catalog *c, int32_t t, const mq__field *f, bool latin1, bool strip_year)
{
    char *raw = mq__ld_strdup(f, latin1);
    if (!raw) return MQ_ENOMEM;
    if (!strip_year) { free(c->names[t]); c->names[t] = raw; return 0; }
    int32_t y;
    char *name = split_year(raw, &y);
    free(raw);
    if (!name) return MQ_ENOMEM;
    free(c->names[t]);
    c->names[t] = name;
    c->years[t] = y;
    return 0;
}

#define NEXT_OR_SKIP(s, b, e)                                  \
    int r_ = mq__ld_next(s, &b, &e);                           \
    if (r_ == 0) break;                                        \
    if (r_ < 0) { rc = r_; goto done; }                        \
    if (r_ == 2) continue;

static int bad_count(mq__src *s, const char *b, const char *e, int got, int want)
{
    if (got < 0) return mq__ld_bad(s, NULL, b, (size_t)(e - b), "unterminated quote in row");
    if (got > want) return mq__ld_bad(s, NULL, b, (size_t)(e - b), "too many fields (expected %d)", want);
    return mq__ld_bad(s, NULL, b, (size_t)(e - b), "missing field: %d of %d fields", got, want);
}

int mq__catalog_ml_movies(mq_catalog *c, const mq__idspace *titles, const char *path, bool dat,
                          mq_load_opts *o, mq_err *err)
{
    mq__src s;
    int rc = mq__ld_open(&s, path, o, err);
    if (rc) return rc;
    if (dat) s.utf8_per_line = false;   /* ML-1M movies.dat is Latin-1: converted per field */
    mq__field f[4];
    const char *b, *e;
    for (;;) {
        NEXT_OR_SKIP(&s, b, e);
        if (s.line == 1 && !dat && (size_t)(e - b) >= 7 && memcmp(b, "movieId", 7) == 0) continue;
        int nf = dat ? mq__ld_split2(b, e, f, 3) : mq__csv_split(b, e, f, 3);
        if (nf != 3) { if ((rc = bad_count(&s, b, e, nf, 3))) goto done; continue; }
        uint64_t id;
        if (!mq__ld_u64(f[0].p, f[0].n, &id)) {
            if ((rc = mq__ld_bad(&s, "movieId", f[0].p, f[0].n, "is not a non-negative integer id"))) goto done;
            continue;
        }
        if (f[1].n == 0) {
            if ((rc = mq__ld_bad(&s, "title", "", 0, "is empty"))) goto done;
            continue;
        }
        int32_t t = mq__ids_find(titles, f[0].p, f[0].n, true);
        if (t < 0) continue;   /* a title nobody interacted with */
        if ((rc = set_name(c, t, &f[1], dat, true))) goto oom;
        uint64_t gs = 0;
        bool none = f[2].n == 18 && memcmp(f[2].p, "(no genres listed)", 18) == 0;
        const char *p = f[2].p, *end = f[2].p + f[2].n;
        while (!none && p < end) {
            const char *q = memchr(p, '|', (size_t)(end - p));
            if (!q) q = end;
            if (q > p) {
                int g = genre_index(c, p, (size_t)(q - p));
                if (g == -2) goto oom;
                if (g == -1) {
                    if ((rc = mq__ld_bad(&s, "genres", p, (size_t)(q - p), "is one genre too many (at most %d)", MQ_MAX_GENRES))) goto done;
                } else {
                    gs |= 1ULL << g;
                }
            }
            p = q + 1;
        }
        c->genres[t] = gs;
    }
done:
    mq__ld_close(&s);
    return rc;
oom:
    mq__ld_close(&s);
    return mq__err_set(err, MQ_ENOMEM, "out of memory reading %s", path);
}

static const char *ml100k_genres[19] = {"unknown", "Action", "Adventure", "Animation", "Children's",
                                        "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
                                        "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
                                        "Sci-Fi", "Thriller", "War", "Western"};

int mq__catalog_u_item(mq_catalog *c, const mq__idspace *titles, const char *path,
                       const char *genre_path, mq_load_opts *o, mq_err *err)
{
    /* Genre names: u.genre ("name|index" lines) when present, else the documented list. */
    char *gnames[19] = {0};
    int rc = 0;
    mq__src s;
    const char *b, *e;
    mq__field f[25];
    if (genre_path) {
        if ((rc = mq__ld_open(&s, genre_path, o, err))) return rc;
        for (;;) {
            NEXT_OR_SKIP(&s, b, e);
            if (b == e) continue;
            uint64_t gi;
            int nf = mq__ld_split(b, e, '|', f, 2);
            if (nf != 2 || !mq__ld_u64(f[1].p, f[1].n, &gi) || gi >= 19) {
                if ((rc = mq__ld_bad(&s, "index", b, (size_t)(e - b), "is not 'name|index' with index 0..18"))) goto done;
                continue;
            }
            free(gnames[gi]);
            if (!(gnames[gi] = mq__ld_strdup(&f[0], true))) { mq__ld_close(&s); rc = MQ_ENOMEM; goto gdone; }
        }
    done:
        mq__ld_close(&s);
        if (rc) goto gdone;
    }
    int gmap[19];
    for (int g = 0; g < 19; g++) {
        const char *nm = gnames[g] ? gnames[g] : ml100k_genres[g];
        gmap[g] = genre_index(c, nm, strlen(nm));
        if (gmap[g] == -2) { rc = MQ_ENOMEM; goto gdone; }
    }
    if ((rc = mq__ld_open(&s, path, o, err))) goto gdone;
    s.utf8_per_line = false;   /* Latin-1: converted per field */
    for (;;) {
        int r_ = mq__ld_next(&s, &b, &e);
        if (r_ == 0) break;
        if (r_ < 0) { rc = r_; break; }
        if (r_ == 2) continue;
        int nf = mq__ld_split(b, e, '|', f, 24);
        if (nf != 24) { if ((rc = bad_count(&s, b, e, nf, 24))) break; continue; }
        uint64_t id;
        if (!mq__ld_u64(f[0].p, f[0].n, &id)) {
            if ((rc = mq__ld_bad(&s, "movie id", f[0].p, f[0].n, "is not a non-negative integer id"))) break;
            continue;
        }
        uint64_t gs = 0;
        bool ok = true;
        for (int g = 0; g < 19; g++) {
            const mq__field *fg = &f[5 + g];
            if (fg->n != 1 || (fg->p[0] != '0' && fg->p[0] != '1')) {
                rc = mq__ld_bad(&s, "genre flag", fg->p, fg->n, "is not 0 or 1");
                ok = false;
                break;
            }
            if (fg->p[0] == '1' && gmap[g] >= 0) gs |= 1ULL << gmap[g];
        }
        if (rc) break;
        if (!ok) continue;
        int32_t t = mq__ids_find(titles, f[0].p, f[0].n, true);
        if (t < 0) continue;
        if ((rc = set_name(c, t, &f[1], true, true))) { rc = MQ_ENOMEM; break; }
        /* Release date "01-Jan-1995": the year when the title carries none. */
        if (c->years[t] == 0 && f[2].n == 11) {
            uint64_t y;
            if (mq__ld_u64(f[2].p + 7, 4, &y)) c->years[t] = (int32_t)y;
        }
        c->genres[t] = gs;
    }
    mq__ld_close(&s);
gdone:
    for (int g = 0; g < 19; g++) free(gnames[g]);
    if (rc == MQ_ENOMEM) return mq__err_set(err, MQ_ENOMEM, "out of memory reading %s", path);
    return rc;
}

int mq__catalog_artists(mq_catalog *c, const mq__idspace *titles, const char *path,
                        mq_load_opts *o, mq_err *err)
{
    mq__src s;
    int rc = mq__ld_open(&s, path, o, err);
    if (rc) return rc;
    s.utf8_per_line = false;   /* names that are not UTF-8 are read as Latin-1 */
    mq__field f[5];
    const char *b, *e;
    for (;;) {
        NEXT_OR_SKIP(&s, b, e);
        if (s.line == 1 && (size_t)(e - b) >= 3 && memcmp(b, "id\t", 3) == 0) continue;
        int nf = mq__ld_split(b, e, '\t', f, 4);
        if (nf < 2) { if ((rc = bad_count(&s, b, e, nf, 4))) goto done; continue; }
        uint64_t id;
        if (!mq__ld_u64(f[0].p, f[0].n, &id)) {
            if ((rc = mq__ld_bad(&s, "id", f[0].p, f[0].n, "is not a non-negative integer id"))) goto done;
            continue;
        }
        int32_t t = mq__ids_find(titles, f[0].p, f[0].n, true);
        if (t < 0) continue;
        if ((rc = set_name(c, t, &f[1], true, false))) {
            mq__ld_close(&s);
            return mq__err_set(err, MQ_ENOMEM, "out of memory reading %s", path);
        }
    }
done:
    mq__ld_close(&s);
    return rc;
}

typedef struct tag_pair {
    int32_t title, tag;
} tag_pair;

static int cmp_pair(const void *a, const void *b)
{
    const tag_pair *x = a, *y = b;
    if (x->title != y->title) return x->title < y->title ? -1 : 1;
    return (x->tag > y->tag) - (x->tag < y->tag);
}

/* Lower-cases ASCII letters of a UTF-8 string in place. */
static void lower_ascii(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z') *s = (char)(*s - 'A' + 'a');
}

int mq__catalog_tags(mq_catalog *c, const mq__idspace *titles, const char *path, int fmt,
                     const char *tag_names_path, mq_load_opts *o, mq_err *err)
{
    mq_idmap *tags = mq_idmap_create();
    tag_pair *pairs = NULL;
    int64_t np = 0, cap = 0;
    char **lastfm_names = NULL;   /* Last.fm: tag text by tagID */
    int64_t n_lastfm = 0;
    int rc = 0;
    mq__src s;
    const char *b, *e;
    mq__field f[7];
    if (!tags) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    if (fmt == MQ_FMT_LASTFM) {
        if ((rc = mq__ld_open(&s, tag_names_path, o, err))) goto out;
        s.utf8_per_line = false;   /* Latin-1 */
        for (;;) {
            NEXT_OR_SKIP(&s, b, e);
            if (s.line == 1 && (size_t)(e - b) >= 5 && memcmp(b, "tagID", 5) == 0) continue;
            uint64_t id;
            int nf = mq__ld_split(b, e, '\t', f, 2);
            if (nf != 2) { if ((rc = bad_count(&s, b, e, nf, 2))) goto done; continue; }
            if (!mq__ld_u64(f[0].p, f[0].n, &id) || id > 100000000) {
                if ((rc = mq__ld_bad(&s, "tagID", f[0].p, f[0].n, "is not a non-negative integer id"))) goto done;
                continue;
            }
            if ((int64_t)id >= n_lastfm) {
                int64_t nn = MQ_MAX((int64_t)id + 1, 2 * n_lastfm);
                char **q = realloc(lastfm_names, (size_t)nn * sizeof *q);
                if (!q) { rc = MQ_ENOMEM; goto done; }
                memset(q + n_lastfm, 0, (size_t)(nn - n_lastfm) * sizeof *q);
                lastfm_names = q;
                n_lastfm = nn;
            }
            free(lastfm_names[id]);
            if (!(lastfm_names[id] = mq__ld_strdup(&f[1], true))) { rc = MQ_ENOMEM; goto done; }
            lower_ascii(lastfm_names[id]);
        }
    done:
        mq__ld_close(&s);
        if (rc) goto out;
    }
    if ((rc = mq__ld_open(&s, path, o, err))) goto out;
    for (;;) {
        int r_ = mq__ld_next(&s, &b, &e);
        if (r_ == 0) break;
        if (r_ < 0) { rc = r_; break; }
        if (r_ == 2) continue;
        int nf;
        const mq__field *ft, *ftag;
        if (fmt == MQ_FMT_LASTFM) {
            if (s.line == 1 && (size_t)(e - b) >= 6 && memcmp(b, "userID", 6) == 0) continue;
            nf = mq__ld_split(b, e, '\t', f, 6);
            if (nf != 6) { if ((rc = bad_count(&s, b, e, nf, 6))) break; continue; }
        } else if (fmt == MQ_FMT_ML_DAT) {
            nf = mq__ld_split2(b, e, f, 4);
            if (nf != 4) { if ((rc = bad_count(&s, b, e, nf, 4))) break; continue; }
        } else {
            if (s.line == 1 && (size_t)(e - b) >= 6 && memcmp(b, "userId", 6) == 0) continue;
            nf = mq__csv_split(b, e, f, 4);
            if (nf != 4) { if ((rc = bad_count(&s, b, e, nf, 4))) break; continue; }
        }
        ft = &f[1];
        ftag = &f[2];
        uint64_t id;
        if (!mq__ld_u64(ft->p, ft->n, &id)) {
            if ((rc = mq__ld_bad(&s, fmt == MQ_FMT_LASTFM ? "artistID" : "movieId", ft->p, ft->n, "is not a non-negative integer id"))) break;
            continue;
        }
        int32_t t = mq__ids_find(titles, ft->p, ft->n, true);
        int32_t tag;
        if (fmt == MQ_FMT_LASTFM) {
            uint64_t tid;
            if (!mq__ld_u64(ftag->p, ftag->n, &tid) || (int64_t)tid >= n_lastfm || !lastfm_names[tid]) {
                if ((rc = mq__ld_bad(&s, "tagID", ftag->p, ftag->n, "is not a tag id listed in %s", tag_names_path))) break;
                continue;
            }
            if (t < 0) continue;
            tag = mq_idmap_intern(tags, lastfm_names[tid], strlen(lastfm_names[tid]));
        } else {
            if (t < 0) continue;
            char *txt = mq__ld_strdup(ftag, fmt == MQ_FMT_ML_DAT);
            if (!txt) { rc = MQ_ENOMEM; break; }
            lower_ascii(txt);
            tag = txt[0] ? mq_idmap_intern(tags, txt, strlen(txt)) : -3;
            free(txt);
            if (tag == -3) continue;   /* empty tag text: nothing to record */
        }
        if (tag < 0) { rc = MQ_ENOMEM; break; }
        if (np == cap) {
            int64_t nc = cap ? 2 * cap : 4096;
            tag_pair *q = realloc(pairs, (size_t)nc * sizeof *q);
            if (!q) { rc = MQ_ENOMEM; break; }
            pairs = q;
            cap = nc;
        }
        pairs[np++] = (tag_pair){t, tag};
    }
    mq__ld_close(&s);
    if (rc) goto out;
    /* Aggregate into CSR: tag_ptr over titles, counts per distinct (title, tag). */
    qsort(pairs, (size_t)np, sizeof *pairs, cmp_pair);
    int64_t nd = 0;
    for (int64_t i = 0; i < np; i++) nd += i == 0 || cmp_pair(&pairs[i], &pairs[i - 1]) != 0;
    free(c->tag_ids);
    free(c->tag_counts);
    if (c->tag_names) for (int32_t i = 0; i < c->n_tags; i++) free(c->tag_names[i]);
    free(c->tag_names);
    c->tag_ids = malloc((size_t)MQ_MAX(nd, 1) * sizeof *c->tag_ids);
    c->tag_counts = malloc((size_t)MQ_MAX(nd, 1) * sizeof *c->tag_counts);
    c->n_tags = mq_idmap_size(tags);
    c->tag_names = calloc((size_t)c->n_tags + 1, sizeof *c->tag_names);
    if (!c->tag_ids || !c->tag_counts || !c->tag_names) { c->n_tags = 0; rc = MQ_ENOMEM; goto out; }
    for (int32_t i = 0; i < c->n_tags; i++)
        if (!(c->tag_names[i] = strdup(mq_idmap_name(tags, i)))) { rc = MQ_ENOMEM; goto out; }
    memset(c->tag_ptr, 0, ((size_t)c->n_titles + 1) * sizeof *c->tag_ptr);
    int64_t k = -1;
    for (int64_t i = 0; i < np; i++) {
        if (i == 0 || cmp_pair(&pairs[i], &pairs[i - 1]) != 0) {
            k++;
            c->tag_ids[k] = pairs[i].tag;
            c->tag_counts[k] = 0;
            c->tag_ptr[pairs[i].title + 1]++;
        }
        c->tag_counts[k] += 1;
    }
    for (int32_t t = 0; t < c->n_titles; t++) c->tag_ptr[t + 1] += c->tag_ptr[t];
out:
    if (lastfm_names) for (int64_t i = 0; i < n_lastfm; i++) free(lastfm_names[i]);
    free(lastfm_names);
    free(pairs);
    mq_idmap_destroy(tags);
    if (rc == MQ_ENOMEM) return mq__err_set(err, MQ_ENOMEM, "out of memory reading %s", path);
    return rc;
}
