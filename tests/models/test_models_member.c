/* test_models_member.c: mq_model_member_history and mq_model_recommend_member (src/models/
 * model_member.c): a member's history is their positives (ratings >= 4) mapped to the model's
 * titles by id, their other rated titles are excluded as seen, and the result equals
 * mq_model_recommend given that history and exclusion by hand. Counts worked out below. */
#include "../test.h"

#include <stdlib.h>

/* Members 1-4, titles 10-50 (indices by first appearance: 10->0, 20->1, 30->2, 40->3, 50->4).
 * Positives (>= 4): 1: 10 20; 2: 10 30 40; 3: 20 30 50; 4: 10 40. Popularity of positives:
 * 10: 3, 20: 2, 30: 2, 40: 2, 50: 1. Member 1 also rated 30 with 3 stars (seen, not history). */
static const char *ratings =
    "userId,movieId,rating,timestamp\n"
    "1,10,5,1\n1,20,4,2\n1,30,3,3\n2,10,5,4\n2,30,5,5\n2,40,4,6\n3,20,5,7\n3,30,4,8\n3,50,5,9\n"
    "4,10,4,10\n4,40,5,11\n4,50,2,12\n";

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

MQ_TEST(models_recommend_member_history_seen_and_filters)
{
    char path[512], path2[512];
    const char *dir = mq_test_tmpdir();
    snprintf(path, sizeof path, "%s/ratings.csv", dir);
    ASSERT_INT_EQ(write_file(path, ratings), 0);
    mq_err err = {0};
    mq_dataset *raw = NULL, *pos = NULL, *raw2 = NULL, *pos2 = NULL;
    mq_model *m = NULL;
    int32_t *hist = NULL, *seen = NULL;
    ASSERT_OK(mq_data_open(path, NULL, &raw, &err), &err);
    ASSERT_OK(mq_data_positives(raw, 0, 1, &pos, &err), &err);
    mq_train_opts o; mq_train_opts_init(&o, sizeof o);
    o.n_threads = 1; o.seed = 1;
    ASSERT_OK(mq_model_train("pop", pos, &o, &m, &err), &err);

    int n_hist = 0, n_seen = 0, unknown = -1;
    ASSERT_OK(mq_model_member_history(m, pos, raw, "1", &hist, &n_hist, &seen, &n_seen, &unknown, &err), &err);
    ASSERT_INT_EQ(n_hist, 2);
    ASSERT_INT_EQ(n_seen, 3);
    ASSERT_INT_EQ(unknown, 0);
    ASSERT_STR_EQ(mq_model_title_id(m, hist[0]), "10");
    ASSERT_STR_EQ(mq_model_title_id(m, hist[1]), "20");
    ASSERT_STR_EQ(mq_model_title_id(m, seen[2]), "30");

    /* Seen titles excluded: 40 (2), then 50 (1); equal to mq_model_recommend by hand. */
    int32_t t[5], t2[5];
    float s[5], s2[5];
    int c = mq_model_recommend_member(m, pos, raw, "1", NULL, 5, t, s, &err);
    ASSERT_INT_EQ(c, 2);
    ASSERT_STR_EQ(mq_model_title_id(m, t[0]), "40");
    ASSERT_STR_EQ(mq_model_title_id(m, t[1]), "50");
    mq_filter f; mq_filter_init(&f, sizeof f);
    f.exclude = seen; f.n_exclude = n_seen; f.genre = -1;
    int c2 = mq_model_recommend(m, hist, NULL, n_hist, &f, 5, t2, s2, &err);
    ASSERT_INT_EQ(c2, c);
    for (int i = 0; i < c; i++) {
        ASSERT_INT_EQ(t[i], t2[i]);
        ASSERT(s[i] == s2[i]);
    }
    /* include_seen: every title, by popularity, ties by index: 10 20 30 40 50. */
    mq_filter all; mq_filter_init(&all, sizeof all);
    all.include_seen = true; all.genre = -1;
    ASSERT_INT_EQ(mq_model_recommend_member(m, pos, raw, "1", &all, 5, t, s, &err), 5);
    for (int i = 0; i < 5; i++) ASSERT_INT_EQ(atoi(mq_model_title_id(m, t[i])), 10 * (i + 1));
    /* A caller's exclusion adds to the seen titles. */
    int32_t ex40 = mq_model_title_index(m, "40");
    mq_filter ex; mq_filter_init(&ex, sizeof ex);
    ex.exclude = &ex40; ex.n_exclude = 1; ex.genre = -1;
    ASSERT_INT_EQ(mq_model_recommend_member(m, pos, raw, "1", &ex, 5, t, s, &err), 1);
    ASSERT_STR_EQ(mq_model_title_id(m, t[0]), "50");
    /* Without raw nothing is seen beyond the history: 30 comes back. */
    ASSERT_INT_EQ(mq_model_recommend_member(m, pos, NULL, "1", NULL, 5, t, s, &err), 3);
    ASSERT_STR_EQ(mq_model_title_id(m, t[0]), "30");

    /* An unknown member names itself; a title the model lacks is counted, not an error. */
    ASSERT_INT_EQ(mq_model_recommend_member(m, pos, raw, "zz", NULL, 5, t, s, &err), MQ_ENOTFOUND);
    ASSERT(strstr(err.msg, "'zz'") != NULL);
    snprintf(path2, sizeof path2, "%s/ratings2.csv", dir);
    char more[1024];
    snprintf(more, sizeof more, "%s1,60,5,13\n", ratings);
    ASSERT_INT_EQ(write_file(path2, more), 0);
    ASSERT_OK(mq_data_open(path2, NULL, &raw2, &err), &err);
    ASSERT_OK(mq_data_positives(raw2, 0, 1, &pos2, &err), &err);
    free(hist);
    free(seen);
    hist = seen = NULL;
    ASSERT_OK(mq_model_member_history(m, pos2, NULL, "1", &hist, &n_hist, NULL, NULL, &unknown, &err), &err);
    ASSERT_INT_EQ(n_hist, 2);
    ASSERT_INT_EQ(unknown, 1);
    free(hist);
    mq_model_destroy(m);
    mq_dataset_destroy(pos);
    mq_dataset_destroy(raw);
    mq_dataset_destroy(pos2);
    mq_dataset_destroy(raw2);
}
