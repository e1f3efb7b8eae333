/* test_train_events.c: retraining from what `marquee serve` logged: mq_event_strength,
 * mq_dataset_merge (ids and catalog of the first dataset kept), and `marquee train --data
 * PATH --events DIR` end to end, with events written through the real event log. */
#include "../test.h"

#include <stdlib.h>

MQ_TEST(event_strength_maps_kinds)
{
    ASSERT_NEAR(mq_event_strength(MQ_EV_PLAY, 1200.0f), 1200.0, 0);
    ASSERT_NEAR(mq_event_strength(MQ_EV_RATING, 4.5f), 4.5, 0);
    ASSERT_NEAR(mq_event_strength(MQ_EV_THUMB_UP, 7.0f), 1.0, 0);
    ASSERT_NEAR(mq_event_strength(MQ_EV_THUMB_DOWN, 1.0f), -1.0, 0);
    ASSERT_NEAR(mq_event_strength(MQ_EV_IMPRESSION, 1.0f), 0.0, 0);
    ASSERT_NEAR(mq_event_strength(MQ_EV_SEARCH, 1.0f), 0.0, 0);
}

static int build(const char *const *pairs, int n, mq_dataset **out, mq_err *err)
{
    mq_idmap *mm = mq_idmap_create(), *tm = mq_idmap_create();
    mq_interaction x[16];
    for (int i = 0; i < n; i++) {
        int32_t m = mq_idmap_intern(mm, pairs[2 * i], strlen(pairs[2 * i]));
        int32_t t = mq_idmap_intern(tm, pairs[2 * i + 1], strlen(pairs[2 * i + 1]));
        x[i] = (mq_interaction){m, t, 1.0f, MQ_EV_PLAY, 100 + i};
    }
    return mq_dataset_build(x, n, mm, tm, out, err);
}

MQ_TEST(dataset_merge_keeps_first_ids_and_catalog)
{
    const char *a_pairs[] = {"u1", "t1", "u1", "t2", "u2", "t2"};
    const char *b_pairs[] = {"u3", "t9", "u1", "t2", "u2", "t1"};
    mq_dataset *a, *b, *m;
    mq_err err = {0};
    ASSERT_OK(build(a_pairs, 3, &a, &err), &err);
    ASSERT_OK(build(b_pairs, 3, &b, &err), &err);
    a->catalog.names[1] = strdup("Title Two");
    a->catalog.years[1] = 1999;
    ASSERT_OK(mq_dataset_merge(a, b, &m, &err), &err);
    ASSERT_INT_EQ(m->n_members, 3);
    ASSERT_INT_EQ(m->n_titles, 3);
    ASSERT_INT_EQ(m->nnz, 5);                      /* (u1,t2) is in both: merged */
    ASSERT_STR_EQ(mq_idmap_name(m->title_ids, 1), "t2");
    ASSERT_STR_EQ(mq_idmap_name(m->title_ids, 2), "t9");
    ASSERT_STR_EQ(m->catalog.names[1], "Title Two");
    ASSERT_INT_EQ(m->catalog.years[1], 1999);
    ASSERT(m->catalog.names[2] == NULL);
    ASSERT_INT_EQ(m->catalog.tag_ptr[3], 0);
    /* u1's row: t1 (1) and t2 (1 + 1). */
    ASSERT_INT_EQ(m->m_ptr[1] - m->m_ptr[0], 2);
    ASSERT_NEAR(m->m_val[1], 2.0, 0);
    mq_dataset_destroy(m);
    mq_dataset_destroy(a);
    mq_dataset_destroy(b);
}

MQ_TEST(train_from_data_plus_event_log)
{
    const char *data = "tests/fixtures/data/ml";
    const char *dir = mq_test_tmpdir();
    char evdir[512];
    snprintf(evdir, sizeof evdir, "%s/events", dir);
    mq_evlog_opts o; mq_evlog_opts_init(&o, sizeof o);
    mq_evlog *log;
    mq_err err = {0};
    ASSERT_OK(mq_evlog_open(evdir, &o, &log, &err), &err);
    /* Ten new members all play a title the ratings never mention: popularity must rank it
     * first once the log is included; a thumbs-down and impressions are not positives. */
    mq_event ev[13];
    memset(ev, 0, sizeof ev);
    for (int i = 0; i < 10; i++) {
        snprintf(ev[i].member, sizeof ev[i].member, "new%d", i);
        snprintf(ev[i].title, sizeof ev[i].title, "brand-new-title");
        ev[i].time = 1700000000 + i;
        ev[i].kind = MQ_EV_PLAY;
        ev[i].value = 600;
    }
    for (int i = 10; i < 13; i++) {
        snprintf(ev[i].member, sizeof ev[i].member, "x%d", i);
        snprintf(ev[i].title, sizeof ev[i].title, "disliked-title");
        ev[i].time = 1700000000;
        ev[i].kind = i == 10 ? MQ_EV_THUMB_DOWN : MQ_EV_IMPRESSION;
        ev[i].value = 1;
    }
    ASSERT_OK(mq_evlog_append(log, ev, 13, NULL, &err), &err);
    mq_evlog_close(log);
    ASSERT_INT_EQ(mq_test_sh("%s train --data %s --events %s --model pop --out %s/pop.mqm "
                             "2>/dev/null >/dev/null", mq_test_bin(), data, evdir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s recommend --model %s/pop.mqm --history 1 -n 1 2>/dev/null "
                             "| grep -q brand-new-title", mq_test_bin(), dir), 0);
    ASSERT(mq_test_sh("%s recommend --model %s/pop.mqm --history 1 -n 1000 2>/dev/null "
                      "| grep -q disliked-title", mq_test_bin(), dir) != 0);
    /* The event log alone also trains; a missing log is a clear failure (exit 1). */
    ASSERT_INT_EQ(mq_test_sh("%s train --events %s --model pop --out %s/pop2.mqm 2>/dev/null "
                             ">/dev/null", mq_test_bin(), evdir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s train --events %s/none --model pop --out %s/pop3.mqm 2>/dev/null",
                             mq_test_bin(), dir, dir), 1);
    ASSERT_INT_EQ(mq_test_sh("%s train --model pop --out %s/pop3.mqm 2>/dev/null",
                             mq_test_bin(), dir), 2);
}

/* A title the member rated below the positive threshold is not history for the model but is
 * seen: `recommend --member` never returns it (member 2 rated title 1 half a star; popularity
 * ranks title 1 first for everyone else). */
MQ_TEST(recommend_excludes_seen_non_positives)
{
    const char *dir = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("%s train --data tests/fixtures/data/ml --model pop --out %s/p.mqm "
                             ">/dev/null 2>&1", mq_test_bin(), dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s recommend --model %s/p.mqm --data tests/fixtures/data/ml --member 2 "
                             "-n 5 2>/dev/null | grep -qE '^ +[0-9]+  1 '", mq_test_bin(), dir), 1);
    ASSERT_INT_EQ(mq_test_sh("%s recommend --model %s/p.mqm --data tests/fixtures/data/ml --member 2 "
                             "-n 5 --include-seen 2>/dev/null | grep -qE '^ +[0-9]+  1 '",
                             mq_test_bin(), dir), 0);
}
