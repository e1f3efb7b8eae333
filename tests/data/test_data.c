/* test_data.c: the data layer: loaders (counts against ../shared/data, every malformed-input
 * case on small fixtures), snapshots (round trip, corruption), splits (disjoint, deterministic,
 * 80/20, write/read), synthetic data, and the `marquee data` command. */
#include "../test.h"
#include "data/data.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Writes text to dir/name and returns the path (static buffer, one per call site use). */
__attribute__((unused)) static const char *write_fixture(const char *name, const char *text)
{
    static char path[8][4096];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 4096, "%s/%s", mq_test_tmpdir(), name);
    FILE *f = fopen(p, "wb");
    if (!f) return NULL;
    fwrite(text, 1, strlen(text), f);
    fclose(f);
    return p;
}

static int load1(const char *path, int fmt, bool skip, mq_load_opts *o, mq_dataset **d, mq_err *err)
{
    mq_load_opts_init(o, sizeof *o);
    o->format = fmt;
    o->skip_bad_rows = skip;
    const char *paths[1] = {path};
    return mq_data_load(paths, 1, o, d, err);
}

/* ---- real data counts ---- */

MQ_TEST(data_load_ml_latest_small)
{
    const char *dir = mq_test_shared("ml-latest-small");
    if (!dir) MQ_SKIP("../shared/data/ml-latest-small is absent");
    mq_load_opts o;
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(load1(dir, MQ_FMT_AUTO, false, &o, &d, &err), &err);
    ASSERT_INT_EQ(d->nnz, 100836);
    ASSERT_INT_EQ(d->n_members, 610);
    ASSERT_INT_EQ(d->n_titles, 9724);
    ASSERT(d->ratings);
    /* Toy Story: movieId 1, "Toy Story (1995)", Adventure|Animation|Children|Comedy|Fantasy. */
    int32_t t = mq_idmap_find(d->title_ids, "1", 1);
    ASSERT(t >= 0);
    ASSERT_STR_EQ(d->catalog.names[t], "Toy Story");
    ASSERT_INT_EQ(d->catalog.years[t], 1995);
    ASSERT_INT_EQ(__builtin_popcountll(d->catalog.genres[t]), 5);
    /* Movie 11 has a quoted title with a comma. */
    t = mq_idmap_find(d->title_ids, "11", 2);
    ASSERT(t >= 0);
    ASSERT_STR_EQ(d->catalog.names[t], "American President, The");
    ASSERT(d->catalog.n_tags > 1000);
    /* Member 1 rated movie 1 with 4.0 at 964982703 (first row of ratings.csv). */
    int32_t u = mq_idmap_find(d->member_ids, "1", 1);
    t = mq_idmap_find(d->title_ids, "1", 1);
    bool found = false;
    for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++)
        if (d->m_idx[e] == t) { found = true; ASSERT_NEAR(d->m_val[e], 4.0, 0); ASSERT_INT_EQ(d->m_time[e], 964982703); }
    ASSERT(found);
    /* CSC agrees with CSR. */
    ASSERT_INT_EQ(d->t_ptr[d->n_titles], d->nnz);
    mq_dataset_destroy(d);
}

MQ_TEST(data_load_ml_100k)
{
    const char *dir = mq_test_shared("ml-100k");
    if (!dir) MQ_SKIP("../shared/data/ml-100k is absent");
    mq_load_opts o;
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(load1(dir, MQ_FMT_AUTO, false, &o, &d, &err), &err);
    ASSERT_INT_EQ(d->nnz, 100000);
    ASSERT_INT_EQ(d->n_members, 943);
    ASSERT_INT_EQ(d->n_titles, 1682);
    ASSERT_INT_EQ(d->catalog.n_genres, 19);
    int32_t t = mq_idmap_find(d->title_ids, "1", 1);
    ASSERT_STR_EQ(d->catalog.names[t], "Toy Story");
    ASSERT_INT_EQ(d->catalog.years[t], 1995);
    /* Latin-1 in u.item becomes UTF-8: every name is valid UTF-8. */
    for (int32_t i = 0; i < d->n_titles; i++)
        if (d->catalog.names[i]) ASSERT(mq__utf8_valid(d->catalog.names[i], strlen(d->catalog.names[i])));
    mq_dataset_destroy(d);
}

MQ_TEST(data_load_lastfm)
{
    const char *dir = mq_test_shared("hetrec2011-lastfm-2k");
    if (!dir) MQ_SKIP("../shared/data/hetrec2011-lastfm-2k is absent");
    mq_load_opts o;
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(load1(dir, MQ_FMT_AUTO, false, &o, &d, &err), &err);
    ASSERT_INT_EQ(d->nnz, 92834);
    ASSERT_INT_EQ(d->n_members, 1892);
    ASSERT_INT_EQ(d->n_titles, 17632);
    ASSERT(!d->ratings);
    int32_t t = mq_idmap_find(d->title_ids, "51", 2);   /* user 2 played artist 51 13883 times */
    ASSERT(t >= 0);
    ASSERT(d->catalog.names[t] != NULL);
    ASSERT(d->catalog.n_tags > 1000);
    mq_dataset_destroy(d);
}

MQ_TEST(data_load_amazon_lines)
{
    const char *f = mq_test_shared("amazon-book-kgat/train.txt");
    if (!f) MQ_SKIP("../shared/data/amazon-book-kgat is absent");
    mq_load_opts o;
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(load1(f, MQ_FMT_AUTO, false, &o, &d, &err), &err);
    ASSERT_INT_EQ(d->nnz, 652514);
    ASSERT_INT_EQ(d->n_members, 70679);
    ASSERT_INT_EQ(d->n_titles, 24915);
    mq_dataset_destroy(d);
}

/* ---- fixtures: one per format ---- */

#define FIX "tests/fixtures/data/"

MQ_TEST(data_fixture_movielens_csv)
{
    mq_load_opts o;
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(load1(FIX "ml", MQ_FMT_AUTO, false, &o, &d, &err), &err);
    ASSERT_INT_EQ(d->nnz, 6);
    ASSERT_INT_EQ(d->n_members, 3);
    ASSERT_INT_EQ(d->n_titles, 4);   /* movie 99 is in movies.csv but unrated: not a title */
    const mq_catalog *c = &d->catalog;
    int32_t t = mq_idmap_find(d->title_ids, "11", 2);
    ASSERT_STR_EQ(c->names[t], "American President, The");
    ASSERT_INT_EQ(c->years[t], 1995);
    ASSERT_INT_EQ(__builtin_popcountll(c->genres[t]), 3);
    t = mq_idmap_find(d->title_ids, "29", 2);
    ASSERT_STR_EQ(c->names[t], "City of Lost Children, The (Cité des enfants perdus, La)");
    ASSERT_INT_EQ(c->genres[t], 0);   /* (no genres listed) */
    /* Tags: "Pixar" and "pixar" are one lower-cased tag applied twice to movie 1. */
    t = mq_idmap_find(d->title_ids, "1", 1);
    ASSERT_INT_EQ(c->tag_ptr[t + 1] - c->tag_ptr[t], 1);
    ASSERT_STR_EQ(c->tag_names[c->tag_ids[c->tag_ptr[t]]], "pixar");
    ASSERT_NEAR(c->tag_counts[c->tag_ptr[t]], 2, 0);
    t = mq_idmap_find(d->title_ids, "11", 2);
    ASSERT_STR_EQ(c->tag_names[c->tag_ids[c->tag_ptr[t]]], "politics, us");
    mq_dataset_destroy(d);
}

MQ_TEST(data_fixture_ml100k_latin1)
{
    mq_load_opts o;
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(load1(FIX "ml100k", MQ_FMT_AUTO, false, &o, &d, &err), &err);
    ASSERT_INT_EQ(d->nnz, 4);
    ASSERT_INT_EQ(d->n_members, 3);
    ASSERT_INT_EQ(d->n_titles, 2);
    int32_t t = mq_idmap_find(d->title_ids, "302", 3);
    ASSERT_STR_EQ(d->catalog.names[t], "L.A. Confidential");
    ASSERT_INT_EQ(d->catalog.years[t], 1997);
    ASSERT_INT_EQ(__builtin_popcountll(d->catalog.genres[t]), 4);
    mq_dataset_destroy(d);
    /* u.item line 4 is Latin-1 ("Caf\xe9"): loaded as UTF-8 when the title is rated. */
    const char *dir = mq_test_tmpdir();
    ASSERT(mq_test_sh("mkdir -p %s/k && cp " FIX "ml100k/u.item %s/k/ && printf '1\\t304\\t4\\t881250949\\n' > %s/k/u.data",
                      dir, dir, dir) == 0);
    char p[4096];
    snprintf(p, sizeof p, "%s/k", dir);
    ASSERT_OK(load1(p, MQ_FMT_AUTO, false, &o, &d, &err), &err);
    ASSERT_STR_EQ(d->catalog.names[0], "Caf\xc3\xa9 au lait");
    ASSERT_INT_EQ(d->catalog.years[0], 1994);   /* from the release date */
    mq_dataset_destroy(d);
}

MQ_TEST(data_fixture_mldat_lastfm_lines_events)
{
    mq_load_opts o;
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(load1(FIX "mldat", MQ_FMT_AUTO, false, &o, &d, &err), &err);
    ASSERT_INT_EQ(d->nnz, 3);
    int32_t t = mq_idmap_find(d->title_ids, "1193", 4);
    ASSERT_STR_EQ(d->catalog.names[t], "One Flew Over the Cuckoo's Nest");
    ASSERT_INT_EQ(d->catalog.years[t], 1975);
    /* ML-10M tags.dat: "classic" twice (case folded). */
    ASSERT_INT_EQ(d->catalog.tag_ptr[t + 1] - d->catalog.tag_ptr[t], 1);
    ASSERT_STR_EQ(d->catalog.tag_names[d->catalog.tag_ids[d->catalog.tag_ptr[t]]], "classic");
    ASSERT_NEAR(d->catalog.tag_counts[d->catalog.tag_ptr[t]], 2, 0);
    mq_dataset_destroy(d);

    ASSERT_OK(load1(FIX "lastfm", MQ_FMT_AUTO, false, &o, &d, &err), &err);
    ASSERT_INT_EQ(d->nnz, 3);
    t = mq_idmap_find(d->title_ids, "51", 2);
    ASSERT_STR_EQ(d->catalog.names[t], "Duran Duran");
    ASSERT_STR_EQ(d->catalog.tag_names[d->catalog.tag_ids[d->catalog.tag_ptr[t]]], "new wave");
    ASSERT_NEAR(d->catalog.tag_counts[d->catalog.tag_ptr[t]], 2, 0);
    int32_t u = mq_idmap_find(d->member_ids, "2", 1);
    ASSERT_NEAR(d->m_val[d->m_ptr[u]], 13883, 0);
    mq_dataset_destroy(d);

    ASSERT_OK(load1(FIX "lines/train.txt", MQ_FMT_AUTO, false, &o, &d, &err), &err);
    ASSERT_INT_EQ(d->nnz, 7);
    ASSERT_INT_EQ(d->n_members, 3);
    ASSERT_INT_EQ(d->n_titles, 6);
    mq_dataset_destroy(d);

    ASSERT_OK(load1(FIX "events.csv", MQ_FMT_AUTO, false, &o, &d, &err), &err);
    ASSERT_INT_EQ(d->nnz, 5);
    ASSERT(!d->ratings);
    u = mq_idmap_find(d->member_ids, "u1", 2);
    t = mq_idmap_find(d->title_ids, "m2", 2);
    ASSERT(u >= 0 && t >= 0);
    bool found = false;
    for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++)
        if (d->m_idx[e] == t) {
            found = true;
            ASSERT_NEAR(d->m_val[e], 4.5, 0);
            ASSERT_INT_EQ(d->m_time[e], 1700000001);   /* 2023-11-14T22:13:21Z */
        }
    ASSERT(found);
    ASSERT(mq_idmap_find(d->title_ids, "m,4", 3) >= 0);   /* quoted id with a comma */
    /* Impressions load with value 0: not a positive. */
    mq_dataset *p;
    ASSERT_OK(mq_data_positives(d, 0, 1, &p, &err), &err);
    ASSERT_INT_EQ(p->nnz, 4);
    mq_dataset_destroy(p);
    mq_dataset_destroy(d);
}

/* ---- malformed input: exact messages ---- */

/* Loads text written to name (format auto) and checks the error message. */
static int expect_error(const char *name, const char *text, int fmt, const char *want, char *got, size_t cap)
{
    const char *path = write_fixture(name, text);
    mq_load_opts o;
    mq_dataset *d = NULL;
    mq_err err = {0};
    int rc = load1(path, fmt, false, &o, &d, &err);
    mq_dataset_destroy(d);
    /* Messages start with the full path; compare from the file name on. */
    const char *m = strstr(err.msg, name);
    snprintf(got, cap, "%s", m ? m : err.msg);
    return rc == MQ_EFORMAT && m && strcmp(m, want) == 0;
}

#define EXPECT_ERROR(name, text, fmt, want)                                              \
    do {                                                                                 \
        char got_[600];                                                                  \
        if (!expect_error(name, text, fmt, want, got_, sizeof got_))                     \
            MQ_FAIL_("error for %s:\n    got  %s\n    want %s", name, got_, want);       \
    } while (0)

MQ_TEST(data_malformed_rows)
{
    EXPECT_ERROR("ratings.csv", "userId,movieId,rating,timestamp\n1,2,4.0,5\n1,2,4.0\n", MQ_FMT_AUTO,
                 "ratings.csv:3: missing field: 3 of 4 fields: '1,2,4.0'");
    EXPECT_ERROR("ratings.csv", "userId,movieId,rating,timestamp\n1,2,4.0,5,6\n", MQ_FMT_AUTO,
                 "ratings.csv:2: too many fields (expected 4): '1,2,4.0,5,6'");
    EXPECT_ERROR("ratings.csv", "userId,movieId,rating,timestamp\n1,2,4.0,5\nx1,2,4.0,5\n", MQ_FMT_AUTO,
                 "ratings.csv:3: field 'userId': 'x1' is not a non-negative integer id");
    EXPECT_ERROR("ratings.csv", "1,-2,4.0,5\n", MQ_FMT_ML_CSV,
                 "ratings.csv:1: field 'movieId': '-2' is not a non-negative integer id");
    {
        /* Quoted numbers (some exporters quote every field) are fine. */
        const char *p = write_fixture("ratings.csv", "\"userId\",\"movieId\",\"rating\",\"timestamp\"\n\"1\",\"2\",\"4.0\",\"5\"\n");
        mq_load_opts o;
        mq_dataset *d = NULL;
        mq_err err = {0};
        ASSERT_OK(load1(p, MQ_FMT_AUTO, false, &o, &d, &err), &err);   /* detected by name */
        ASSERT_INT_EQ(d->nnz, 1);
        mq_dataset_destroy(d);
    }
    EXPECT_ERROR("ratings.csv", "userId,movieId,rating,timestamp\n1,2,7.5,5\n", MQ_FMT_AUTO,
                 "ratings.csv:2: field 'rating': '7.5' is out of range [0.5, 5]");
    EXPECT_ERROR("ratings.csv", "userId,movieId,rating,timestamp\n1,2,four,5\n", MQ_FMT_AUTO,
                 "ratings.csv:2: field 'rating': 'four' is not a number");
    EXPECT_ERROR("ratings.csv", "userId,movieId,rating,timestamp\n1,2,nan,5\n", MQ_FMT_AUTO,
                 "ratings.csv:2: field 'rating': 'nan' is not a number");
    EXPECT_ERROR("ratings.csv", "userId,movieId,rating,timestamp\n1,2,4,yesterday\n", MQ_FMT_AUTO,
                 "ratings.csv:2: field 'timestamp': 'yesterday' is not a unix time in seconds");
    EXPECT_ERROR("u.data", "1\t2\t3\t4\n1\t2\t3.5\t4\n", MQ_FMT_AUTO,
                 "u.data:2: field 'rating': '3.5' is out of range [1, 5] (whole stars)");
    EXPECT_ERROR("events.csv", "member,title,timestamp,event\nu1,t1,5,play\nu\xff,t1,5,play\n", MQ_FMT_AUTO,
                 "events.csv:3: field 'member': 'u\\xff' is not valid UTF-8 (byte 2 of the line)");
    EXPECT_ERROR("events.csv", "member,title,timestamp,event\nu1,t1,5,watch\n", MQ_FMT_AUTO,
                 "events.csv:2: field 'event': 'watch' is not an event (play, rating, thumb_up, thumb_down, impression, search)");
    EXPECT_ERROR("events.csv", "member,title,timestamp,event,value\nu1,t1,5,rating,11\n", MQ_FMT_AUTO,
                 "events.csv:2: field 'value': '11' is out of range [0, 10] for a rating");
    EXPECT_ERROR("events.csv", "member,title,timestamp,event,value\nu1,t1,5,rating,\n", MQ_FMT_AUTO,
                 "events.csv:2: field 'value': '' is missing: a rating event needs a value");
    EXPECT_ERROR("events.csv", "member,title,timestamp\n,t1,5\n", MQ_FMT_AUTO,
                 "events.csv:2: field 'member': '' is empty");
    EXPECT_ERROR("events.csv", "member,title,timestamp\nu1,\"t1,5\n", MQ_FMT_AUTO,
                 "events.csv:2: unterminated quote in row: 'u1,\"t1,5'");
    EXPECT_ERROR("events.csv", "member,title,when\nu1,t1,5\n", MQ_FMT_EVENTS,
                 "events.csv:1: header: column 'when' is unknown (expected member,title,timestamp[,event][,value])");
    EXPECT_ERROR("events.csv", "", MQ_FMT_AUTO, "events.csv: the file is empty");
    EXPECT_ERROR("ratings.csv", "userId,movieId,rating,timestamp\n1,2,4.0,5\n1,3,4.", MQ_FMT_AUTO,
                 "ratings.csv:3: truncated last line (no newline at the end of the file): '1,3,4.'");
    EXPECT_ERROR("ratings.csv", "userId,movieId,rating,timestamp\n", MQ_FMT_AUTO, "ratings.csv: no interactions");
    EXPECT_ERROR("user_artists.dat", "userID\tartistID\tweight\n2\t51\t-3\n", MQ_FMT_AUTO,
                 "user_artists.dat:2: field 'weight': '-3' is not a non-negative play count");
    EXPECT_ERROR("train.txt", "0 1 2\n\n1 2\n", MQ_FMT_LINES,
                 "train.txt:2: empty line (expected 'member title title ...')");
    EXPECT_ERROR("mystery.txt", "hello world, what is this\n", MQ_FMT_AUTO,
                 "mystery.txt: cannot tell the format from the name or first line; name it with --format (movielens, ml100k, mldat, lastfm, lines, events)");
}

MQ_TEST(data_malformed_catalog)
{
    const char *dir = mq_test_tmpdir();
    ASSERT(mq_test_sh("mkdir -p %s/mc && printf 'userId,movieId,rating,timestamp\\n1,1,4,5\\n' > %s/mc/ratings.csv && "
                      "printf 'movieId,title,genres\\n1,Toy Story (1995),Comedy\\nabc,X (1990),Drama\\n' > %s/mc/movies.csv",
                      dir, dir, dir) == 0);
    char p[4096], want[4200];
    snprintf(p, sizeof p, "%s/mc", dir);
    mq_load_opts o;
    mq_dataset *d = NULL;
    mq_err err = {0};
    ASSERT_INT_EQ(load1(p, MQ_FMT_AUTO, false, &o, &d, &err), MQ_EFORMAT);
    snprintf(want, sizeof want, "%s/mc/movies.csv:3: field 'movieId': 'abc' is not a non-negative integer id", dir);
    ASSERT_STR_EQ(err.msg, want);
    /* Skipping bad rows covers catalog files too. */
    ASSERT_OK(load1(p, MQ_FMT_AUTO, true, &o, &d, &err), &err);
    ASSERT_INT_EQ(o.n_bad_rows, 1);
    ASSERT_STR_EQ(d->catalog.names[0], "Toy Story");
    mq_dataset_destroy(d);
}

MQ_TEST(data_skip_bad_rows)
{
    const char *path = write_fixture("ratings.csv",
                                     "userId,movieId,rating,timestamp\n1,1,4.0,5\nx,1,4.0,5\n1,2,9,5\n2,1,3.0,6\n"
                                     "2,2\n3,3,1.0,7\n4,4,1,8\n5,5,1,9\n6,6,1,10\n7,7,1,1x\n8,8,1,11\n");
    mq_load_opts o;
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(load1(path, MQ_FMT_AUTO, true, &o, &d, &err), &err);
    ASSERT_INT_EQ(o.n_bad_rows, 4);
    ASSERT_INT_EQ(d->nnz, 7);
    ASSERT(strstr(o.first_bad[0], "ratings.csv:3: field 'userId': 'x' is not a non-negative integer id"));
    ASSERT(strstr(o.first_bad[1], "ratings.csv:4: field 'rating': '9' is out of range [0.5, 5]"));
    ASSERT(strstr(o.first_bad[2], "ratings.csv:6: missing field: 2 of 4 fields: '2,2'"));
    ASSERT(strstr(o.first_bad[3], "ratings.csv:11: field 'timestamp': '1x' is not a unix time in seconds"));
    ASSERT_INT_EQ(o.first_bad[4][0], 0);
    mq_dataset_destroy(d);
    /* Every row bad: still an error (no interactions). */
    path = write_fixture("ratings.csv", "userId,movieId,rating,timestamp\nx,1,4.0,5\n");
    ASSERT_INT_EQ(load1(path, MQ_FMT_AUTO, true, &o, &d, &err), MQ_EFORMAT);
    ASSERT(strstr(err.msg, "no interactions (every row was skipped as bad)"));
}

/* ---- snapshots ---- */

static void same_dataset(mq_test_ctx *t_, const mq_dataset *a, const mq_dataset *b)
{
    ASSERT_INT_EQ(a->n_members, b->n_members);
    ASSERT_INT_EQ(a->n_titles, b->n_titles);
    ASSERT_INT_EQ(a->nnz, b->nnz);
    ASSERT_INT_EQ(a->ratings, b->ratings);
    ASSERT(memcmp(a->m_ptr, b->m_ptr, ((size_t)a->n_members + 1) * 8) == 0);
    ASSERT(memcmp(a->m_idx, b->m_idx, (size_t)a->nnz * 4) == 0);
    ASSERT(memcmp(a->m_val, b->m_val, (size_t)a->nnz * 4) == 0);
    ASSERT(memcmp(a->m_time, b->m_time, (size_t)a->nnz * 8) == 0);
    ASSERT(memcmp(a->t_ptr, b->t_ptr, ((size_t)a->n_titles + 1) * 8) == 0);
    ASSERT(memcmp(a->t_idx, b->t_idx, (size_t)a->nnz * 4) == 0);
    for (int32_t u = 0; u < a->n_members; u++) ASSERT_STR_EQ(mq_idmap_name(a->member_ids, u), mq_idmap_name(b->member_ids, u));
    for (int32_t t = 0; t < a->n_titles; t++) {
        ASSERT_STR_EQ(mq_idmap_name(a->title_ids, t), mq_idmap_name(b->title_ids, t));
        ASSERT((a->catalog.names[t] == NULL) == (b->catalog.names[t] == NULL));
        if (a->catalog.names[t]) ASSERT_STR_EQ(a->catalog.names[t], b->catalog.names[t]);
        ASSERT_INT_EQ(a->catalog.years[t], b->catalog.years[t]);
        ASSERT_INT_EQ(a->catalog.genres[t], b->catalog.genres[t]);
        ASSERT_INT_EQ(a->catalog.tag_ptr[t + 1], b->catalog.tag_ptr[t + 1]);
    }
    ASSERT_INT_EQ(a->catalog.n_genres, b->catalog.n_genres);
    for (int g = 0; g < a->catalog.n_genres; g++) ASSERT_STR_EQ(a->catalog.genre_names[g], b->catalog.genre_names[g]);
    ASSERT_INT_EQ(a->catalog.n_tags, b->catalog.n_tags);
    for (int32_t i = 0; i < a->catalog.n_tags; i++) ASSERT_STR_EQ(a->catalog.tag_names[i], b->catalog.tag_names[i]);
    int64_t ne = a->catalog.tag_ptr[a->n_titles];
    if (ne) {
        ASSERT(memcmp(a->catalog.tag_ids, b->catalog.tag_ids, (size_t)ne * 4) == 0);
        ASSERT(memcmp(a->catalog.tag_counts, b->catalog.tag_counts, (size_t)ne * 4) == 0);
    }
}

MQ_TEST(data_snapshot_round_trip)
{
    const char *dirs[] = {FIX "ml", FIX "lastfm", FIX "events.csv", "data/ml-latest-small"};
    for (int i = 0; i < 4; i++) {
        mq_load_opts o;
        mq_dataset *d, *s;
        mq_err err = {0};
        ASSERT_OK(load1(dirs[i], MQ_FMT_AUTO, false, &o, &d, &err), &err);
        char path[4096];
        snprintf(path, sizeof path, "%s/snap%d.mqd", mq_test_tmpdir(), i);
        ASSERT_OK(mq_snapshot_save(d, path, &err), &err);
        ASSERT_OK(mq_data_open(path, NULL, &s, &err), &err);   /* detected by magic */
        ASSERT(mq__dataset_mapped(s));
        same_dataset(t_, d, s);
        if (t_->failed) return;
        mq_dataset_destroy(s);
        mq_dataset_destroy(d);
    }
}

MQ_TEST(data_snapshot_corruption)
{
    mq_load_opts o;
    mq_dataset *d, *s = NULL;
    mq_err err = {0};
    ASSERT_OK(load1(FIX "ml", MQ_FMT_AUTO, false, &o, &d, &err), &err);
    const char *dir = mq_test_tmpdir();
    char path[4096], bad[4200];
    snprintf(path, sizeof path, "%s/c.mqd", dir);
    snprintf(bad, sizeof bad, "%s/bad.mqd", dir);
    ASSERT_OK(mq_snapshot_save(d, path, &err), &err);
    mq_dataset_destroy(d);
    FILE *f = fopen(path, "rb");
    ASSERT(f);
    static unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ASSERT(n > 1000 && n < sizeof buf);
    /* Section 2 (m_idx) starts at the offset recorded in table entry 1. */
    uint64_t off;
    memcpy(&off, buf + 64 + 32 + 8, 8);
    struct { size_t at; size_t len; const char *want; } cases[] = {
        {off, n, "checksum mismatch in section 'm_idx'"},
        {20, n, "header checksum mismatch"},
        {70, n, "section table checksum mismatch"},
        {(size_t)-1, n - 1, "truncated snapshot: the header says"},
        {(size_t)-1, 40, "truncated snapshot: 40 bytes"},
        {n - 1, n, "checksum mismatch in section 'tag names'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (cases[i].at != (size_t)-1) buf[cases[i].at] ^= 0x10;
        f = fopen(bad, "wb");
        fwrite(buf, 1, cases[i].len, f);
        fclose(f);
        if (cases[i].at != (size_t)-1) buf[cases[i].at] ^= 0x10;
        ASSERT_INT_EQ(mq_snapshot_load(bad, &s, &err), MQ_ECORRUPT);
        if (!strstr(err.msg, cases[i].want)) MQ_FAIL_("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
        ASSERT(s == NULL);
    }
    /* Every single-byte flip of the file is caught (no crash, no silent load). */
    for (size_t at = 0; at < n; at++) {
        buf[at] ^= 0x01;
        f = fopen(bad, "wb");
        fwrite(buf, 1, n, f);
        fclose(f);
        buf[at] ^= 0x01;
        int rc = mq_snapshot_load(bad, &s, &err);
        /* Every byte is covered: header and table checksums, section checksums, zero padding. */
        if (rc == 0) {
            mq_dataset_destroy(s);
            MQ_FAIL_("flipping byte %zu went unnoticed", at);
        }
        ASSERT(rc == MQ_ECORRUPT || rc == MQ_EUNSUP);
    }
}

/* ---- splits ---- */

/* A synthetic implicit dataset (written by mq_synth_write, then loaded). */
static int synth_dataset(const char *name, int64_t members, int64_t titles, int64_t k, uint64_t seed, mq_dataset **d, mq_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", mq_test_tmpdir(), name);
    mq_synth_opts so; mq_synth_opts_init(&so, sizeof so);
    so.n_members = members; so.n_titles = titles; so.n_interactions = k; so.seed = seed;
    int rc = mq_synth_write(&so, path, NULL, err);
    if (rc) return rc;
    mq_load_opts o;
    return load1(path, MQ_FMT_AUTO, false, &o, d, err);
}

static int32_t find_member(const mq_dataset *d, const char *id) { return mq_idmap_find(d->member_ids, id, strlen(id)); }

MQ_TEST(data_split_strong_properties)
{
    mq_dataset *d, *b;
    mq_err err = {0};
    ASSERT_OK(synth_dataset("s.csv", 2000, 800, 60000, 7, &d, &err), &err);
    ASSERT_OK(mq_data_positives(d, 0, 5, &b, &err), &err);
    mq_split_opts so; mq_split_opts_init(&so, sizeof so);
    so.protocol = MQ_SPLIT_STRONG; so.seed = 42; so.test_frac = 0.1; so.val_frac = 0.1;
    so.in_frac = 0.8;
    mq_split s, s2, s3;
    ASSERT_OK(mq_split_make(b, &so, &s, &err), &err);
    ASSERT_OK(mq_split_make(b, &so, &s2, &err), &err);
    so.seed = 43;
    ASSERT_OK(mq_split_make(b, &so, &s3, &err), &err);
    int32_t n = b->n_members;
    ASSERT_INT_EQ(s.test.n, (int32_t)llround(0.1 * n));
    ASSERT_INT_EQ(s.val.n, (int32_t)llround(0.1 * n));
    ASSERT_INT_EQ(s.train->n_members + s.val.n + s.test.n, n);
    ASSERT_INT_EQ(s.train->n_titles, b->n_titles);
    /* Disjoint members; held-out titles were seen in training; 80/20 per member. */
    bool *seen = calloc((size_t)b->n_titles, 1);
    for (int64_t e = 0; e < s.train->nnz; e++) seen[s.train->m_idx[e]] = true;
    const mq_heldout *hs[2] = {&s.val, &s.test};
    int64_t heldout_total = 0;
    for (int k = 0; k < 2; k++) {
        const mq_heldout *h = hs[k];
        for (int32_t i = 0; i < h->n; i++) {
            ASSERT(find_member(s.train, h->member_ids[i]) < 0);
            for (int32_t j = 0; j < s.test.n && k == 0; j++) ASSERT(strcmp(h->member_ids[i], s.test.member_ids[j]) != 0);
            int64_t ni = h->in_ptr[i + 1] - h->in_ptr[i], no = h->out_ptr[i + 1] - h->out_ptr[i];
            int64_t kk = ni + no;
            ASSERT_INT_EQ(no, kk >= 5 ? (int64_t)floor(0.2 * (double)kk + 1e-9) : 0);
            /* In the input, the member has exactly these titles (restricted to seen ones). */
            int32_t u = find_member(b, h->member_ids[i]);
            int64_t seen_cnt = 0;
            for (int64_t e = b->m_ptr[u]; e < b->m_ptr[u + 1]; e++) seen_cnt += seen[b->m_idx[e]];
            ASSERT_INT_EQ(kk, seen_cnt);
            for (int64_t e = h->out_ptr[i]; e < h->out_ptr[i + 1]; e++) {
                ASSERT(seen[h->out_idx[e]]);
                if (e > h->out_ptr[i]) ASSERT(h->out_idx[e] > h->out_idx[e - 1]);
                for (int64_t f = h->in_ptr[i]; f < h->in_ptr[i + 1]; f++) ASSERT(h->in_idx[f] != h->out_idx[e]);
            }
            heldout_total += kk;
        }
    }
    free(seen);
    /* Deterministic from the seed; another seed holds out other members. */
    ASSERT_INT_EQ(s.test.n, s2.test.n);
    bool differ = false;
    for (int32_t i = 0; i < s.test.n; i++) {
        ASSERT_STR_EQ(s.test.member_ids[i], s2.test.member_ids[i]);
        differ = differ || strcmp(s.test.member_ids[i], s3.test.member_ids[i]) != 0;
    }
    ASSERT(memcmp(s.test.out_idx, s2.test.out_idx, (size_t)s.test.out_ptr[s.test.n] * 4) == 0);
    ASSERT(differ);
    ASSERT(heldout_total > 0);

    /* Write, read back: same members and the same title sets by external id. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/split", mq_test_tmpdir());
    ASSERT_OK(mq_split_write(&s, dir, &err), &err);
    mq_split r;
    ASSERT_OK(mq_split_read(dir, &r, &err), &err);
    ASSERT_INT_EQ(r.train->n_members, s.train->n_members);
    ASSERT_INT_EQ(r.train->nnz, s.train->nnz);
    ASSERT_INT_EQ(r.test.n, s.test.n);
    ASSERT_INT_EQ(r.val.n, s.val.n);
    for (int32_t i = 0; i < s.test.n; i++) {
        ASSERT_STR_EQ(r.test.member_ids[i], s.test.member_ids[i]);
        ASSERT_INT_EQ(r.test.out_ptr[i + 1] - r.test.out_ptr[i], s.test.out_ptr[i + 1] - s.test.out_ptr[i]);
        ASSERT_INT_EQ(r.test.in_ptr[i + 1] - r.test.in_ptr[i], s.test.in_ptr[i + 1] - s.test.in_ptr[i]);
        for (int64_t e = r.test.out_ptr[i]; e < r.test.out_ptr[i + 1]; e++) {
            const char *tid = mq_idmap_name(r.train->title_ids, r.test.out_idx[e]);
            int32_t t0 = mq_idmap_find(s.train->title_ids, tid, strlen(tid));
            bool hit = false;
            for (int64_t f = s.test.out_ptr[i]; f < s.test.out_ptr[i + 1]; f++) hit = hit || s.test.out_idx[f] == t0;
            ASSERT(hit);
        }
    }
    for (int32_t u = 0; u < s.train->n_members; u++) {
        int32_t v = find_member(r.train, mq_idmap_name(s.train->member_ids, u));
        ASSERT(v >= 0);
        ASSERT_INT_EQ(r.train->m_ptr[v + 1] - r.train->m_ptr[v], s.train->m_ptr[u + 1] - s.train->m_ptr[u]);
    }
    /* The same seed writes byte-identical files. */
    char dir2[4200];
    snprintf(dir2, sizeof dir2, "%s/split2", mq_test_tmpdir());
    ASSERT_OK(mq_split_write(&s2, dir2, &err), &err);
    ASSERT_INT_EQ(mq_test_sh("cmp -s %s/test_out.csv %s/test_out.csv && cmp -s %s/train.csv %s/train.csv", dir, dir2, dir, dir2), 0);
    mq_split_release(&r);
    mq_split_release(&s);
    mq_split_release(&s2);
    mq_split_release(&s3);
    mq_dataset_destroy(b);
    mq_dataset_destroy(d);
}

MQ_TEST(data_split_temporal_loo)
{
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(synth_dataset("t.csv", 500, 300, 12000, 9, &d, &err), &err);
    mq_split s;
    /* Global cutoff: every target is at/after it, every train entry before it. */
    mq_split_opts so; mq_split_opts_init(&so, sizeof so);
    so.protocol = MQ_SPLIT_TEMPORAL; so.seed = 1; so.cutoff = 1590000000;
    ASSERT_OK(mq_split_make(d, &so, &s, &err), &err);
    for (int64_t e = 0; e < s.train->nnz; e++) ASSERT(s.train->m_time[e] < so.cutoff);
    ASSERT(s.test.n > 0);
    ASSERT_INT_EQ(s.val.n, 0);
    for (int32_t i = 0; i < s.test.n; i++) {
        int32_t u = find_member(d, s.test.member_ids[i]);
        for (int64_t e = s.test.out_ptr[i]; e < s.test.out_ptr[i + 1]; e++)
            for (int64_t f = d->m_ptr[u]; f < d->m_ptr[u + 1]; f++)
                if (d->m_idx[f] == s.test.out_idx[e]) ASSERT(d->m_time[f] >= so.cutoff);
    }
    mq_split_release(&s);
    /* Leave-one-out: one target per member with >= 2 entries, and it is the latest. */
    mq_split_opts_init(&so, sizeof so);
    so.protocol = MQ_SPLIT_LOO; so.seed = 1;
    ASSERT_OK(mq_split_make(d, &so, &s, &err), &err);
    ASSERT_INT_EQ(s.train->nnz + s.test.n, d->nnz - (d->nnz - s.train->nnz - s.test.n));
    for (int32_t i = 0; i < s.test.n; i++) {
        ASSERT_INT_EQ(s.test.out_ptr[i + 1] - s.test.out_ptr[i], 1);
        int32_t u = find_member(d, s.test.member_ids[i]);
        int64_t tmax = 0, tt = -1;
        for (int64_t f = d->m_ptr[u]; f < d->m_ptr[u + 1]; f++) {
            tmax = d->m_time[f] > tmax ? d->m_time[f] : tmax;
            if (d->m_idx[f] == s.test.out_idx[s.test.out_ptr[i]]) tt = d->m_time[f];
        }
        ASSERT_INT_EQ(tt, tmax);
        ASSERT_INT_EQ(s.test.in_ptr[i + 1] - s.test.in_ptr[i], d->m_ptr[u + 1] - d->m_ptr[u] - 1);
    }
    mq_split_release(&s);
    /* Last-N per member. */
    mq_split_opts_init(&so, sizeof so);
    so.protocol = MQ_SPLIT_TEMPORAL; so.seed = 1; so.last_n = 3;
    ASSERT_OK(mq_split_make(d, &so, &s, &err), &err);
    for (int32_t i = 0; i < s.test.n; i++) ASSERT(s.test.out_ptr[i + 1] - s.test.out_ptr[i] <= 3);
    mq_split_release(&s);
    mq_dataset_destroy(d);
}

MQ_TEST(data_split_read_errors)
{
    const char *dir = mq_test_tmpdir();
    ASSERT(mq_test_sh("mkdir -p %s/rs && printf 'member,title\\n1,2\\n' > %s/rs/train.csv && "
                      "printf 'member,title\\n5,2\\n' > %s/rs/test_in.csv && printf 'member,item\\n5,3\\n' > %s/rs/test_out.csv",
                      dir, dir, dir, dir) == 0);
    char p[4096], want[4200];
    snprintf(p, sizeof p, "%s/rs", dir);
    mq_split s;
    mq_err err = {0};
    ASSERT_INT_EQ(mq_split_read(p, &s, &err), MQ_EFORMAT);
    snprintf(want, sizeof want, "%s/rs/test_out.csv:1: header must be 'member,title': 'member,item'", dir);
    ASSERT_STR_EQ(err.msg, want);
    /* Fixed: a held-out title absent from train gets its own index (empty column). */
    ASSERT(mq_test_sh("printf 'member,title\\n5,3\\n' > %s/rs/test_out.csv", dir) == 0);
    ASSERT_OK(mq_split_read(p, &s, &err), &err);
    ASSERT_INT_EQ(s.train->n_titles, 2);
    ASSERT_INT_EQ(s.test.n, 1);
    ASSERT_INT_EQ(s.val.n, 0);
    ASSERT_STR_EQ(mq_idmap_name(s.train->title_ids, s.test.out_idx[0]), "3");
    mq_split_release(&s);
}

/* ---- synthetic data ---- */

MQ_TEST(data_synth_shape)
{
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(synth_dataset("y.csv", 3000, 2000, 90000, 5, &d, &err), &err);
    ASSERT_INT_EQ(d->nnz, 90000);   /* titles are distinct per member: nothing merges */
    ASSERT_INT_EQ(d->n_members, 3000);
    mq_data_stats st;
    mq_data_stats_compute(d, &st);
    /* Zipf(1) over 2000 titles: the top 20 carry H(20)/H(2000) ~ 0.44 of draws before the
     * distinct-per-member rejection flattens it; uniform popularity would give 0.01. */
    ASSERT(st.top1pct_share > 0.2);
    /* Log-normal activity (sigma 1): mean/median = exp(sigma^2/2) ~ 1.65 before the +1 floor. */
    ASSERT(st.activity_mean / st.activity_q[2] > 1.3);
    ASSERT(st.activity_q[0] >= 1);
    mq_dataset_destroy(d);
    /* Same seed, same bytes. */
    mq_synth_opts so; mq_synth_opts_init(&so, sizeof so);
    so.n_members = 300; so.n_titles = 100; so.n_interactions = 2000; so.seed = 11;
    char a[4096], b[4200];
    snprintf(a, sizeof a, "%s/a.csv", mq_test_tmpdir());
    snprintf(b, sizeof b, "%s/b.csv", mq_test_tmpdir());
    ASSERT_OK(mq_synth_write(&so, a, NULL, &err), &err);
    ASSERT_OK(mq_synth_write(&so, b, NULL, &err), &err);
    ASSERT_INT_EQ(mq_test_sh("cmp -s %s %s", a, b), 0);
    so.n_titles = 1;
    ASSERT_INT_EQ(mq_synth_write(&so, a, NULL, &err), MQ_EINVAL);
}

/* ---- stats against numpy ---- */

MQ_TEST(data_stats_values)
{
    mq_load_opts o;
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(load1(FIX "ml", MQ_FMT_AUTO, false, &o, &d, &err), &err);
    mq_data_stats s;
    mq_data_stats_compute(d, &s);
    /* Members 1, 2, 3 have 2 ratings each; titles 1 (2), 3 (2), 11 (1), 29 (1). */
    ASSERT_NEAR(s.density, 6.0 / 12.0, 1e-15);
    ASSERT_NEAR(s.top1pct_share, 2.0 / 6.0, 1e-15);   /* ceil(1% of 4) = 1 title */
    ASSERT_NEAR(s.activity_q[2], 2, 0);
    ASSERT_INT_EQ(s.time_min, 964981247);
    ASSERT_INT_EQ(s.time_max, 1445714996);
    mq_dataset_destroy(d);
    /* ml-latest-small through the CLI's JSON against numpy's quantiles of the raw file. */
    if (!mq_test_shared("ml-latest-small")) MQ_SKIP("../shared/data/ml-latest-small is absent");
    ASSERT_INT_EQ(mq_test_sh("%s data stats data/ml-latest-small --json > %s/st.json && /usr/bin/python3 tests/ref/data_stats.py "
                             "data/ml-latest-small/ratings.csv %s/st.json", mq_test_bin(), mq_test_tmpdir(), mq_test_tmpdir()), 0);
}

/* ---- the command ---- */

MQ_TEST(data_cli)
{
    const char *bin = mq_test_bin(), *dir = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("%s data --help > /dev/null", bin), 0);
    const char *subs[] = {"import", "stats", "split", "synth"};
    for (int i = 0; i < 4; i++) ASSERT_INT_EQ(mq_test_sh("%s data %s --help | grep -q Usage", bin, subs[i]), 0);
    ASSERT_INT_EQ(mq_test_sh("%s data frobnicate 2> /dev/null", bin), 2);
    ASSERT_INT_EQ(mq_test_sh("%s data import " FIX "ml 2> /dev/null", bin), 2);               /* no --out */
    ASSERT_INT_EQ(mq_test_sh("%s data stats " FIX "ml --format nope 2> /dev/null", bin), 2);
    ASSERT_INT_EQ(mq_test_sh("%s data split " FIX "ml --protocol strong --write-split %s/x --seed -1 2> /dev/null", bin, dir), 2);
    ASSERT_INT_EQ(mq_test_sh("%s data import " FIX "ml --out %s/c.mqd 2> /dev/null", bin, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s data stats %s/c.mqd --json | grep -q '\"interactions\":6,'", bin, dir), 0);
    /* A bad row: exit 1 with file:line on stderr; --skip-bad-rows reports it and succeeds. */
    ASSERT(mq_test_sh("printf 'userId,movieId,rating,timestamp\\n1,1,4,5\\n1,2,6,5\\n' > %s/ratings.csv", dir) == 0);
    ASSERT_INT_EQ(mq_test_sh("%s data import %s/ratings.csv --out %s/b.mqd 2> %s/err.txt", bin, dir, dir, dir), 1);
    ASSERT_INT_EQ(mq_test_sh("grep -q \"ratings.csv:3: field 'rating': '6' is out of range\" %s/err.txt", dir), 0);
    ASSERT_INT_EQ(mq_test_sh("test ! -e %s/b.mqd", dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s data import %s/ratings.csv --skip-bad-rows --out %s/b.mqd 2> %s/err.txt", bin, dir, dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q 'skipped 1 bad row' %s/err.txt && grep -q 'ratings.csv:3' %s/err.txt", dir, dir), 0);
    /* split + synth end to end. */
    ASSERT_INT_EQ(mq_test_sh("%s data synth --members 200 --titles 100 --interactions 3000 --seed 2 --out %s/s.csv 2> /dev/null", bin, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("test $(wc -l < %s/s.csv) -eq 3001", dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s data split %s/s.csv --protocol strong --seed 3 --write-split %s/sp > /dev/null", bin, dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("for f in train val_in val_out test_in test_out; do head -1 %s/sp/$f.csv | grep -qx member,title || exit 1; done", dir), 0);
}

MQ_TEST(data_ids_fast_path_consistent)
{
    /* Id 100000 is first interned through the hash (the direct array is still small), then
     * again after the array has grown past it: both must be the same title. */
    char *text = malloc(20000);
    size_t n = (size_t)sprintf(text, "m 100000");
    for (int i = 1; i <= 2000; i++) n += (size_t)sprintf(text + n, " %d", i);
    n += (size_t)sprintf(text + n, " 100000 0100000\n");
    const char *path = write_fixture("train.txt", text);
    free(text);
    mq_load_opts o;
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(load1(path, MQ_FMT_LINES, false, &o, &d, &err), &err);
    ASSERT_INT_EQ(d->n_titles, 2002);   /* "0100000" is its own id in the generic formats */
    ASSERT_INT_EQ(d->nnz, 2002);
    int32_t t = mq_idmap_find(d->title_ids, "100000", 6);
    ASSERT(t >= 0);
    bool found = false;
    for (int64_t e = 0; e < d->nnz; e++)
        if (d->m_idx[e] == t) { found = true; ASSERT_NEAR(d->m_val[e], 2, 0); }
    ASSERT(found);
    mq_dataset_destroy(d);
}

MQ_TEST(data_events_bom_crlf_column_order)
{
    /* A spreadsheet export: byte-order mark, CRLF line ends, columns in another order. */
    const char *path = write_fixture("export.csv", "\xEF\xBB\xBFtitle,member,value,timestamp,event\r\n"
                                                   "t1,u1,30,1700000000,play\r\nt2,u1,4,1700000001,rating\r\n");
    mq_load_opts o;
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(load1(path, MQ_FMT_AUTO, false, &o, &d, &err), &err);
    ASSERT_INT_EQ(d->nnz, 2);
    ASSERT_INT_EQ(d->n_members, 1);
    ASSERT_STR_EQ(mq_idmap_name(d->title_ids, 0), "t1");
    ASSERT_NEAR(d->m_val[0], 30, 0);
    ASSERT_NEAR(d->m_val[1], 4, 0);
    mq_dataset_destroy(d);
}

MQ_TEST(data_messages_show_utf8_and_catalog_with_format)
{
    /* The offending text keeps valid UTF-8 as is. */
    char got[600];
    int ok = expect_error("events.csv", "member,title,timestamp,event\nu1,t1,5,écouter\n", MQ_FMT_AUTO,
                          "events.csv:2: field 'event': 'écouter' is not an event (play, rating, thumb_up, thumb_down, impression, search)",
                          got, sizeof got);
    if (!ok) MQ_FAIL_("got %s", got);
    /* Catalog files named next to a forced format are read as catalogs. */
    const char *paths[2] = {FIX "ml/ratings.csv", FIX "ml/movies.csv"};
    mq_load_opts o; mq_load_opts_init(&o, sizeof o);
    o.format = MQ_FMT_ML_CSV;
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(mq_data_load(paths, 2, &o, &d, &err), &err);
    ASSERT_STR_EQ(d->catalog.names[mq_idmap_find(d->title_ids, "1", 1)], "Toy Story");
    mq_dataset_destroy(d);
    /* A cutoff before every event leaves nothing to train on: a clear error. */
    ASSERT_OK(load1(FIX "ml", MQ_FMT_AUTO, false, &o, &d, &err), &err);
    mq_split s;
    mq_split_opts so; mq_split_opts_init(&so, sizeof so);
    so.protocol = MQ_SPLIT_TEMPORAL; so.cutoff = 1;
    ASSERT_INT_EQ(mq_split_make(d, &so, &s, &err), MQ_EINVAL);
    ASSERT(strstr(err.msg, "no training interactions"));
    mq_dataset_destroy(d);
}

/* The number parsers under the loaders (internal, src/data/data.h). */

MQ_TEST(data_number_parsers)
{
    uint64_t u;
    int64_t i;
    double x;
    ASSERT(mq__ld_u64("18446744073709551615", 20, &u) && u == UINT64_MAX);
    ASSERT(!mq__ld_u64("18446744073709551616", 20, &u));
    ASSERT(!mq__ld_u64("184467440737095516150", 21, &u));
    ASSERT(!mq__ld_u64("", 0, &u) && !mq__ld_u64("1a", 2, &u) && !mq__ld_u64("-1", 2, &u));
    ASSERT(mq__ld_i64("-9223372036854775807", 20, &i) && i == -INT64_MAX);
    ASSERT(!mq__ld_i64("9223372036854775808", 19, &i));
    /* Decimal parsing agrees with strtod (correctly rounded) on these. */
    const char *cases[] = {"4.0", "3.5", "0.5", "-2.25", "1e3", "1E-2", "123456789.123456789", "0.1",
                           "2.2250738585072014e-308", "1.7976931348623157e308", "12345678901234567890123"};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        ASSERT(mq__parse_f64(cases[k], strlen(cases[k]), &x));
        ASSERT(x == strtod(cases[k], NULL));
    }
    const char *bad[] = {"", ".", "-", "1e", "nan", "inf", "1.2.3", "1e999", "0x10", " 1", "1 "};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        if (mq__parse_f64(bad[k], strlen(bad[k]), &x)) MQ_FAIL_("'%s' parsed as %g", bad[k], x);
}

/* ---- fuzz regressions (fuzz/fuzz_snapshot.c; inputs in tests/fixtures/fuzz) ---- */

/* Recomputes a (mutated) snapshot's checksums as a writer would, so the structural checks
 * behind them are reached (the same repair as fuzz/fuzz_snapshot.c). */
static void snap_repair(unsigned char *p, size_t n)
{
    if (n < 64) return;
    uint64_t fsize = n;
    memcpy(p + 40, &fsize, 8);
    uint32_t ns;
    memcpy(&ns, p + 32, 4);
    if (ns <= 64 && 64 + (size_t)ns * 32 <= n) {
        for (uint32_t i = 0; i < ns; i++) {
            unsigned char *e = p + 64 + (size_t)i * 32;
            uint64_t off, len;
            memcpy(&off, e + 8, 8);
            memcpy(&len, e + 16, 8);
            if (off <= n && len <= n - off) {
                uint32_t c = len ? mq_crc32c(0, p + off, (size_t)len) : 0;
                memcpy(e + 4, &c, 4);
            }
        }
        uint32_t t = mq_crc32c(0, p + 64, (size_t)ns * 32);
        memcpy(p + 48, &t, 4);
    }
    uint32_t h = mq_crc32c(0, p, 60);
    memcpy(p + 60, &h, 4);
}

/* Mutations with valid checksums: the loader must still refuse them with a reason (the fuzzer's
 * input snapshot_version, a checksummed header of version 65537, is "unsupported"), and every
 * single-byte change of every section or table byte, checksums repaired, must load consistently
 * or fail as corrupt: never crash or read out of bounds (this test runs under make asan). */
MQ_TEST(data_fuzz_snapshot_checksummed_mutations)
{
    static unsigned char buf[1 << 16];
    FILE *f = fopen("tests/fixtures/fuzz/snapshot_version", "rb");
    ASSERT(f);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ASSERT(n > 64 && (buf[0] & 1));
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/bad.mqd", mq_test_tmpdir());
    snap_repair(buf + 1, n - 1);
    f = fopen(bad, "wb");
    fwrite(buf + 1, 1, n - 1, f);
    fclose(f);
    mq_dataset *s = NULL;
    mq_err err = {0};
    ASSERT_INT_EQ(mq_snapshot_load(bad, &s, &err), MQ_EUNSUP);
    ASSERT(strstr(err.msg, "snapshot version 65537, this build reads version 1") != NULL);

    mq_load_opts o;
    mq_dataset *d;
    ASSERT_OK(load1(FIX "ml", MQ_FMT_AUTO, false, &o, &d, &err), &err);
    char path[4200];
    snprintf(path, sizeof path, "%s/c.mqd", mq_test_tmpdir());
    ASSERT_OK(mq_snapshot_save(d, path, &err), &err);
    mq_dataset_destroy(d);
    f = fopen(path, "rb");
    ASSERT(f);
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    static unsigned char m[1 << 16];
    int loaded = 0, refused = 0;
    for (size_t at = 16; at < n; at++) {
        if (at >= 40 && at < 64) continue;   /* file size and checksums: the repair rewrites them */
        for (int k = 0; k < 2; k++) {
            memcpy(m, buf, n);
            m[at] = k ? 0xff : (unsigned char)(m[at] + 1);
            snap_repair(m, n);
            f = fopen(bad, "wb");
            fwrite(m, 1, n, f);
            fclose(f);
            int rc = mq_snapshot_load(bad, &s, &err);
            if (rc == 0) {
                loaded++;
                ASSERT(s->m_ptr[s->n_members] == s->nnz && s->t_ptr[s->n_titles] == s->nnz);
                for (int64_t e = 0; e < s->nnz; e++)
                    ASSERT(s->m_idx[e] >= 0 && s->m_idx[e] < s->n_titles);
                mq_dataset_destroy(s);
            } else {
                refused++;
                if (rc != MQ_ECORRUPT && rc != MQ_EUNSUP) MQ_FAIL_("byte %zu: rc %d (%s)", at, rc, err.msg);
                ASSERT(err.msg[0] != 0);
            }
        }
    }
    ASSERT(refused > 0);
}

/* A snapshot written before artwork existed has 18 sections; the absent artwork sections were
 * checked as strings at (NULL, 0), forming NULL + 0 (UB, found by fuzz_snapshot under clang's
 * UBSan on this seed, which is such a snapshot behind the fuzzer's selector byte). It loads,
 * with no artwork. */
MQ_TEST(data_fuzz_snapshot_without_artwork_sections)
{
    static unsigned char buf[1 << 16];
    FILE *f = fopen("tests/fixtures/fuzz/snapshot_no_artwork", "rb");
    ASSERT(f);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    uint32_t ns;
    memcpy(&ns, buf + 1 + 32, 4);
    ASSERT_INT_EQ(ns, 18);
    char path[4200];
    snprintf(path, sizeof path, "%s/old.mqd", mq_test_tmpdir());
    f = fopen(path, "wb");
    ASSERT(f && fwrite(buf + 1, 1, n - 1, f) == n - 1);
    fclose(f);
    mq_dataset *d = NULL;
    mq_err err = {0};
    ASSERT_OK(mq_snapshot_load(path, &d, &err), &err);
    ASSERT(d->n_members > 0 && d->n_titles > 0);
    ASSERT_INT_EQ(d->catalog.n_artworks, 0);
    mq_dataset_destroy(d);
}
