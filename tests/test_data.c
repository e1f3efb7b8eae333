/* test_data.c: the data layer: loaders (counts against ../shared/data, every malformed-input
 * case on small fixtures), snapshots (round trip, corruption), splits (disjoint, deterministic,
 * 80/20, write/read), synthetic data, and the `marquee data` command. */
#include "test.h"
#include "common.h"

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
    memset(o, 0, sizeof *o);
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
