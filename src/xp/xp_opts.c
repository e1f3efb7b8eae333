/* xp_opts.c: the init functions (defaults) of the xp module's versioned structs:
 * mq_xp_design_in, mq_xp_analyze_opts and mq_xp_interact_opts. Entry points read callers'
 * structs with MQ__OPTS_GET (src/core/opts.c explains the struct_size rule). Fields whose
 * comment gives a default in brackets keep 0 as that default, resolved where it is used. */
#include "xp/xp.h"

void mq_xp_design_in_init(mq_xp_design_in *in, size_t size)
{
    mq_xp_design_in d;
    memset(&d, 0, sizeof d);
    d.alpha = 0.05;
    d.power = 0.8;
    d.arms = 2;
    mq__opts_fill(in, size, &d, sizeof d);
}

void mq_xp_analyze_opts_init(mq_xp_analyze_opts *o, size_t size)
{
    mq_xp_analyze_opts d;
    memset(&d, 0, sizeof d);
    d.look_every = 100;
    mq__opts_fill(o, size, &d, sizeof d);
}

void mq_xp_interact_opts_init(mq_xp_interact_opts *o, size_t size)
{
    mq_xp_interact_opts d;
    memset(&d, 0, sizeof d);
    d.alpha = 0.05;
    mq__opts_fill(o, size, &d, sizeof d);
}
