/* serve_opts.c: the init functions (defaults) of the serve module's versioned structs:
 * mq_evlog_opts, mq_store_opts, mq_server_opts, mq_xp_collect_opts, mq_artwork_export_opts and
 * mq_page_req. Entry points read callers' structs with MQ__OPTS_GET (src/core/opts.c explains
 * the struct_size rule). Where a field's comment says "0 = default", zero stays the default
 * and is resolved where the options are used. */
#include "serve/serve.h"

void mq_evlog_opts_init(mq_evlog_opts *o, size_t size)
{
    mq_evlog_opts d;
    memset(&d, 0, sizeof d);
    d.fsync = MQ_FSYNC_GROUP;
    mq__opts_fill(o, size, &d, sizeof d);
}

void mq_store_opts_init(mq_store_opts *o, size_t size)
{
    mq_store_opts d;
    memset(&d, 0, sizeof d);
    mq__opts_fill(o, size, &d, sizeof d);
}

void mq_server_opts_init(mq_server_opts *o, size_t size)
{
    mq_server_opts d;
    memset(&d, 0, sizeof d);
    d.fsync = MQ_FSYNC_GROUP;
    d.clock = MQ_CLOCK_WALL;
    mq__opts_fill(o, size, &d, sizeof d);
}

void mq_xp_collect_opts_init(mq_xp_collect_opts *o, size_t size)
{
    mq_xp_collect_opts d;
    memset(&d, 0, sizeof d);
    d.pre_days = 14;
    d.finish_seconds = 5400;
    mq__opts_fill(o, size, &d, sizeof d);
}

void mq_artwork_export_opts_init(mq_artwork_export_opts *o, size_t size)
{
    mq_artwork_export_opts d;
    memset(&d, 0, sizeof d);
    d.window_s = 1800;
    mq__opts_fill(o, size, &d, sizeof d);
}

void mq_page_req_init(mq_page_req *r, size_t size)
{
    mq_page_req d;
    memset(&d, 0, sizeof d);
    d.rows = 12;            /* the server's web defaults (GET .../homepage without parameters) */
    d.per_row = 20;
    d.mmr_lambda = 0.7;
    d.genre = -1;
    d.hour = -1;
    mq__opts_fill(r, size, &d, sizeof d);
}
