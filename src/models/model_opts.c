/* model_opts.c: the versioned option structs of the models module (mq_train_opts, mq_filter):
 * their init functions (defaults) and the getters entry points read callers' structs through
 * (src/core/opts.c explains the struct_size rule). */
#include "models/model.h"

void mq_train_opts_init(mq_train_opts *o, size_t size)
{
    mq_train_opts d;
    memset(&d, 0, sizeof d);
    mq__opts_fill(o, size, &d, sizeof d);
}

void mq_filter_init(mq_filter *f, size_t size)
{
    mq_filter d;
    memset(&d, 0, sizeof d);
    d.genre = -1;
    mq__opts_fill(f, size, &d, sizeof d);
}
