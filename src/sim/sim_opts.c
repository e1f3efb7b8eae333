/* sim_opts.c: the init function (defaults) of mq_sim_opts; the simulator's entry points read
 * callers' structs with MQ__OPTS_GET (src/core/opts.c explains the struct_size rule). */
#include "sim/sim.h"

void mq_sim_opts_init(mq_sim_opts *o, size_t size)
{
    mq_sim_opts d;
    memset(&d, 0, sizeof d);
    mq__opts_fill(o, size, &d, sizeof d);
}
