/* data_opts.c: the versioned option structs of the data module (mq_load_opts, mq_split_opts,
 * mq_synth_opts): their init functions (defaults) and the getters entry points read callers'
 * structs through (src/core/opts.c explains the struct_size rule). Zero is each field's
 * default, resolved where the options are used (split.c, synth.c). */
#include "data/data.h"

void mq_load_opts_init(mq_load_opts *o, size_t size)
{
    mq_load_opts d;
    memset(&d, 0, sizeof d);
    mq__opts_fill(o, size, &d, sizeof d);
}

void mq_split_opts_init(mq_split_opts *o, size_t size)
{
    mq_split_opts d;
    memset(&d, 0, sizeof d);
    mq__opts_fill(o, size, &d, sizeof d);
}

void mq_synth_opts_init(mq_synth_opts *o, size_t size)
{
    mq_synth_opts d;
    memset(&d, 0, sizeof d);
    mq__opts_fill(o, size, &d, sizeof d);
}
