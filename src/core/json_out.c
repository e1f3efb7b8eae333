/* json_out.c: the public face of core's JSON writer (mq_buf_json_str / mq_buf_json_num) for
 * programs that only see marquee.h, such as the CLI: the same escaping and number form, written
 * to a FILE. */
#include "core/core.h"

#include <string.h>

static int flush(FILE *f, mq_buf *b)
{
    int rc = b->oom ? MQ_ENOMEM : 0;
    if (!rc && b->len && fwrite(b->p, 1, b->len, f) != b->len) rc = MQ_EIO;
    mq_buf_release(b);
    return rc;
}

int mq_json_write_str(FILE *f, const char *s)
{
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_json_str(&b, s ? s : "", s ? strlen(s) : 0);
    return flush(f, &b);
}

int mq_json_write_num(FILE *f, double x)
{
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_json_num(&b, x);
    return flush(f, &b);
}
