/* test_common.c: the shared helpers: CRC-32C check value, RNG determinism and moments, JSON
 * string escaping, id maps, and building a matrix with duplicate merging. */
#include "../test.h"
#include "core/core.h"

#include <stdlib.h>

MQ_TEST(crc32c_check_value)
{
    /* The standard CRC-32C check value of "123456789" (RFC 3720 B.4). */
    ASSERT_INT_EQ(mq_crc32c(0, "123456789", 9), 0xE3069283u);
    uint32_t c = mq_crc32c(0, "1234", 4);
    ASSERT_INT_EQ(mq_crc32c(c, "56789", 5), 0xE3069283u);
    /* The hardware path (8 bytes at a time, any alignment) against a bitwise reference. */
    unsigned char buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (unsigned char)(i * 131 + 7);
    for (int off = 0; off < 9; off++) {
        uint32_t ref = 0xffffffffu;
        for (int i = off; i < 1000; i++) {
            ref ^= buf[i];
            for (int k = 0; k < 8; k++) ref = (ref & 1) ? (ref >> 1) ^ 0x82F63B78u : ref >> 1;
        }
        ASSERT_INT_EQ(mq_crc32c(0, buf + off, (size_t)(1000 - off)), ~ref);
    }
}

MQ_TEST(rng_deterministic_and_uniform)
{
    mq_rng a, b;
    mq_rng_seed(&a, 42);
    mq_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) ASSERT(mq_rng_next(&a) == mq_rng_next(&b));
    double s = 0, s2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) { double u = mq_rng_uniform(&a); s += u; s2 += u * u; }
    /* mean 1/2, variance 1/12; 6 standard errors of the mean is 6*sqrt(1/12/n) = 0.0039. */
    ASSERT_NEAR(s / n, 0.5, 0.004);
    ASSERT_NEAR(s2 / n - (s / n) * (s / n), 1.0 / 12, 0.002);
    for (int i = 0; i < 1000; i++) ASSERT(mq_rng_below(&a, 7) < 7);
}

MQ_TEST(json_string_escaping)
{
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_json_str(&b, "a\"b\\c\n\x01\xff" "é", 10);
    ASSERT_STR_EQ(mq_buf_cstr(&b), "\"a\\\"b\\\\c\\n\\u0001\xef\xbf\xbd" "é\"");
    mq_buf_reset(&b);
    mq_buf_json_num(&b, 0.1);
    mq_buf_putc(&b, ' ');
    mq_buf_json_num(&b, 3);
    mq_buf_putc(&b, ' ');
    mq_buf_json_num(&b, NAN);
    ASSERT_STR_EQ(mq_buf_cstr(&b), "0.1 3 null");
    mq_buf_release(&b);
}

MQ_TEST(idmap_intern_find)
{
    mq_idmap *m = mq_idmap_create();
    ASSERT(m);
    char id[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "m%d", i * 7);
        ASSERT_INT_EQ(mq_idmap_intern(m, id, strlen(id)), i);
    }
    ASSERT_INT_EQ(mq_idmap_size(m), 5000);
    ASSERT_INT_EQ(mq_idmap_find(m, "m70", 3), 10);
    ASSERT_INT_EQ(mq_idmap_intern(m, "m70", 3), 10);
    ASSERT_INT_EQ(mq_idmap_find(m, "m71", 3), -1);
    ASSERT_STR_EQ(mq_idmap_name(m, 4999), "m34993");
    mq_idmap_destroy(m);
}

MQ_TEST(dataset_build_merges_duplicates)
{
    mq_idmap *mm = mq_idmap_create(), *tm = mq_idmap_create();
    const char *members[] = {"u1", "u2", "u3"}, *titles[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 3; i++) mq_idmap_intern(mm, members[i], 2);
    for (int i = 0; i < 4; i++) mq_idmap_intern(tm, titles[i], 1);
    mq_interaction x[] = {
        {1, 3, 4.0f, MQ_EV_RATING, 10}, {0, 2, 3.0f, MQ_EV_RATING, 5}, {1, 0, 2.0f, MQ_EV_RATING, 7},
        {1, 3, 5.0f, MQ_EV_RATING, 20}, {2, 1, 30.0f, MQ_EV_PLAY, 1}, {2, 1, 12.0f, MQ_EV_PLAY, 3},
    };
    mq_dataset *d;
    mq_err err = {0};
    ASSERT_OK(mq_dataset_build(x, 6, mm, tm, &d, &err), &err);
    ASSERT_INT_EQ(d->nnz, 4);
    ASSERT_INT_EQ(d->m_ptr[1], 1);
    ASSERT_INT_EQ(d->m_ptr[2], 3);
    ASSERT_INT_EQ(d->m_idx[1], 0);           /* u2's titles ascending: a, d */
    ASSERT_INT_EQ(d->m_idx[2], 3);
    ASSERT_NEAR(d->m_val[2], 5.0, 0);        /* later rating wins */
    ASSERT_INT_EQ(d->m_time[2], 20);
    ASSERT_NEAR(d->m_val[3], 42.0, 0);       /* plays add up */
    ASSERT_INT_EQ(d->t_ptr[4] - d->t_ptr[3], 1);  /* CSC: d has one member (u2) */
    ASSERT_INT_EQ(d->t_idx[d->t_ptr[3]], 1);
    mq_dataset *b;
    ASSERT_OK(mq_dataset_binarize(d, 4.0f, 1, &b, &err), &err);
    ASSERT_INT_EQ(b->n_members, 2);          /* u1 (3.0) drops out; u2 keeps d; u3 keeps b */
    ASSERT_INT_EQ(b->nnz, 2);
    ASSERT_INT_EQ(b->n_titles, 4);
    mq_dataset_destroy(b);
    mq_dataset_destroy(d);
}
