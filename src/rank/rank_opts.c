/* rank_opts.c: the init functions (defaults) of the rank module's versioned structs,
 * mq_rank_eval_opts and mq_rank_live; entry points read callers' structs with MQ__OPTS_GET
 * (src/core/opts.c explains the struct_size rule). */
#include "rank/rank.h"

void mq_rank_eval_opts_init(mq_rank_eval_opts *o, size_t size)
{
    mq_rank_eval_opts d;
    memset(&d, 0, sizeof d);
    mq__opts_fill(o, size, &d, sizeof d);
}

void mq_rank_live_init(mq_rank_live *o, size_t size)
{
    mq_rank_live d;
    memset(&d, 0, sizeof d);
    d.hour = -1;
    mq__opts_fill(o, size, &d, sizeof d);
}
