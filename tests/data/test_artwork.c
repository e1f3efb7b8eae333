/* test_artwork.c: artwork.csv (title,artwork,features) in the catalog: loading beside the
 * interaction files, the demo catalog's synthetic variants (scripts/gen_artwork.py), snapshot
 * round trip, and bad rows named by file:line. */
#include "../test.h"
#include <stdlib.h>

static const char *write_file(const char *dir, const char *name, const char *text)
{
    static char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
    return path;
}

static int32_t title_index(const mq_dataset *d, const char *id)
{
    return mq_idmap_find(d->title_ids, id, strlen(id));
}

MQ_TEST(data_artwork_demo_catalog_and_snapshot)
{
    const char *paths[] = {"data/ml-latest-small"};
    mq_dataset *d = NULL, *s = NULL;
    mq_err err = {0};
    ASSERT_OK(mq_data_load(paths, 1, NULL, &d, &err), &err);
    const mq_catalog *c = &d->catalog;
    ASSERT(c->art_ptr != NULL);
    ASSERT_INT_EQ(c->art_ptr[d->n_titles], c->n_artworks);
    int64_t lo = 1 << 30, hi = 0;
    for (int32_t t = 0; t < d->n_titles; t++) {
        int64_t k = c->art_ptr[t + 1] - c->art_ptr[t];
        lo = k < lo ? k : lo;
        hi = k > hi ? k : hi;
    }
    ASSERT_INT_EQ(lo, 3);   /* the generator's 3..6 variants per title */
    ASSERT_INT_EQ(hi, 6);
    int32_t t1 = title_index(d, "1");
    ASSERT(t1 >= 0);
    ASSERT_STR_EQ(c->art_ids[c->art_ptr[t1]], "1-a1");
    ASSERT_STR_EQ(c->art_features[c->art_ptr[t1]], "text-heavy;bright;vista");
    const char *snap = write_file(mq_test_tmpdir(), "c.mqd", "");
    ASSERT_OK(mq_snapshot_save(d, snap, &err), &err);
    ASSERT_OK(mq_snapshot_load(snap, &s, &err), &err);
    ASSERT_INT_EQ(s->catalog.n_artworks, c->n_artworks);
    ASSERT(memcmp(s->catalog.art_ptr, c->art_ptr, ((size_t)d->n_titles + 1) * sizeof *c->art_ptr) == 0);
    for (int64_t i = 0; i < c->n_artworks; i++) {
        ASSERT_STR_EQ(s->catalog.art_ids[i], c->art_ids[i]);
        ASSERT_STR_EQ(s->catalog.art_features[i], c->art_features[i]);
    }
    mq_dataset_destroy(s);
    mq_dataset_destroy(d);
}

/* The shipped demo artwork is exactly what the documented generator writes. */
MQ_TEST(data_artwork_demo_file_is_generated)
{
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 scripts/gen_artwork.py data/ml-latest-small/movies.csv | "
                             "cmp -s - data/ml-latest-small/artwork.csv"), 0);
}

MQ_TEST(data_artwork_order_and_bad_rows)
{
    const char *dir = mq_test_tmpdir();
    write_file(dir, "events.csv", "member,title,timestamp\nu1,t1,100\nu2,t2,200\nu2,t3,300\n");
    char ev[400];
    snprintf(ev, sizeof ev, "%s/events.csv", dir);
    const char *paths[] = {ev};
    mq_dataset *d = NULL;
    mq_err err = {0};
    /* Titles in any order, a title unknown to the interactions ignored, empty features allowed. */
    write_file(dir, "artwork.csv", "title,artwork,features\nt2,b,dark\nt1,x,closeup;warm\nt9,z,dark\nt2,a,\n");
    ASSERT_OK(mq_data_load(paths, 1, NULL, &d, &err), &err);
    int32_t t1 = title_index(d, "t1"), t2 = title_index(d, "t2"), t3 = title_index(d, "t3");
    const mq_catalog *c = &d->catalog;
    ASSERT_INT_EQ(c->n_artworks, 3);
    ASSERT_INT_EQ(c->art_ptr[t1 + 1] - c->art_ptr[t1], 1);
    ASSERT_INT_EQ(c->art_ptr[t3 + 1] - c->art_ptr[t3], 0);
    ASSERT_STR_EQ(c->art_ids[c->art_ptr[t2]], "b");   /* file order within a title */
    ASSERT_STR_EQ(c->art_features[c->art_ptr[t2] + 1], "");
    mq_dataset_destroy(d);
    struct { const char *text, *msg; } bad[] = {
        {"title,art,features\nt1,a,dark\n", "artwork.csv:1: the header must be 'title,artwork,features'"},
        {"title,artwork,features\nt1,a,Dark\n", "artwork.csv:2: field 'features': 'Dark' is not ';'-separated tags"},
        {"title,artwork,features\nt1,a,dark;;warm\n", "artwork.csv:2: field 'features'"},
        {"title,artwork,features\nt1,a\n", "artwork.csv:2: expected 3 fields"},
        {"title,artwork,features\nt1,,dark\n", "artwork.csv:2: field 'artwork': '' is empty"},
        {"title,artwork,features\nt1,a,dark\nt2,a,dark\nt1,a,warm\n", "artwork.csv:4: field 'artwork': 'a' repeats line 2's"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_file(dir, "artwork.csv", bad[i].text);
        memset(&err, 0, sizeof err);
        ASSERT_INT_EQ(mq_data_load(paths, 1, NULL, &d, &err), MQ_EFORMAT);
        if (!strstr(err.msg, bad[i].msg)) MQ_FAIL_("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].msg);
    }
    /* Without artwork.csv the catalog has none, and a snapshot keeps it that way. */
    snprintf(ev, sizeof ev, "%s/artwork.csv", dir);
    remove(ev);
    snprintf(ev, sizeof ev, "%s/events.csv", dir);
    ASSERT_OK(mq_data_load(paths, 1, NULL, &d, &err), &err);
    ASSERT(d->catalog.art_ptr == NULL);
    char snap[400];
    snprintf(snap, sizeof snap, "%s/c.mqd", dir);
    mq_dataset *s = NULL;
    ASSERT_OK(mq_snapshot_save(d, snap, &err), &err);
    ASSERT_OK(mq_snapshot_load(snap, &s, &err), &err);
    ASSERT(s->catalog.art_ptr == NULL && s->catalog.n_artworks == 0);
    mq_dataset_destroy(s);
    mq_dataset_destroy(d);
}
