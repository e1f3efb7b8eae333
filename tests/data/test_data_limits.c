/* test_data_limits.c: the loaders take what the serving API takes (issue 12, item 12): CRLF
 * line ends in every format, ids up to MQ_ID_MAX (255) bytes and a clear error past it, and
 * input bytes shown escaped (never raw control characters) in error messages. */
#include "../test.h"

#include <stdlib.h>

static int write_file(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(text, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

MQ_TEST(data_ids_longer_than_the_api_limit_are_refused)
{
    const char *tmp = mq_test_tmpdir();
    char path[600], text[2048];
    mq_err err;
    mq_dataset *d = NULL;
    mq_load_opts lo; mq_load_opts_init(&lo, sizeof lo);
    /* 255 bytes: fine; 256: refused, naming the field and the limit */
    for (int len = 255; len <= 256; len++) {
        int n = snprintf(text, sizeof text, "member,title,timestamp,event,value\r\n%0*d,2,100,play,60\r\n", len, 7);
        snprintf(path, sizeof path, "%s/ev%d.csv", tmp, len);
        ASSERT_INT_EQ(write_file(path, text, (size_t)n), 0);
        lo.format = MQ_FMT_EVENTS;
        const char *paths[1] = {path};
        int rc = mq_data_load(paths, 1, &lo, &d, &err);
        if (len == 255) {
            ASSERT_OK(rc, &err);
            ASSERT_INT_EQ(d->n_members, 1);
            mq_dataset_destroy(d);
            d = NULL;
        } else {
            ASSERT_INT_EQ(rc, MQ_EFORMAT);
            ASSERT(strstr(err.msg, ":2: field 'member'") != NULL);
            ASSERT(strstr(err.msg, "is 256 bytes long (ids are at most 255 bytes)") != NULL);
        }
    }
    /* the same in line-per-member files */
    memset(text, 'x', 300);
    memcpy(text + 300, " a b\n", 6);
    snprintf(path, sizeof path, "%s/lines.txt", tmp);
    ASSERT_INT_EQ(write_file(path, text, 305), 0);
    lo.format = MQ_FMT_LINES;
    const char *lp[1] = {path};
    ASSERT_INT_EQ(mq_data_load(lp, 1, &lo, &d, &err), MQ_EFORMAT);
    ASSERT(strstr(err.msg, "300 bytes long") != NULL);
}

MQ_TEST(data_crlf_and_escaped_messages)
{
    const char *tmp = mq_test_tmpdir();
    char path[600];
    mq_err err;
    mq_dataset *d = NULL;
    mq_load_opts lo; mq_load_opts_init(&lo, sizeof lo);
    /* CRLF MovieLens ratings load like LF ones */
    const char *crlf = "userId,movieId,rating,timestamp\r\n1,2,4.0,964982703\r\n1,3,3.5,964982704\r\n";
    snprintf(path, sizeof path, "%s/ratings.csv", tmp);
    ASSERT_INT_EQ(write_file(path, crlf, strlen(crlf)), 0);
    const char *rp[1] = {path};
    ASSERT_OK(mq_data_load(rp, 1, &lo, &d, &err), &err);
    ASSERT_INT_EQ(d->nnz, 2);
    mq_dataset_destroy(d);
    /* an ESC sequence in a bad field is shown as \x1b, not sent to the terminal */
    const char *esc = "member,title,timestamp,event,value\n1,2,100,\x1b[31mplay,60\n";
    snprintf(path, sizeof path, "%s/esc.csv", tmp);
    ASSERT_INT_EQ(write_file(path, esc, strlen(esc)), 0);
    lo.format = MQ_FMT_EVENTS;
    const char *ep[1] = {path};
    ASSERT_INT_EQ(mq_data_load(ep, 1, &lo, &d, &err), MQ_EFORMAT);
    ASSERT(strchr(err.msg, 0x1b) == NULL);
    ASSERT(strstr(err.msg, "\\x1b[31mplay") != NULL);
}
