/* bandit_opts.c: the init functions (defaults) of the bandit module's versioned structs:
 * mq_ope_opts, mq_bandit_synth_opts, mq_policy_opts and mq_art_policy. Entry points read
 * callers' structs with MQ__OPTS_GET (src/core/opts.c explains the struct_size rule). Where a
 * field's comment says "0 = default", zero stays the default, resolved where it is used. */
#include "bandit/bandit.h"

void mq_ope_opts_init(mq_ope_opts *o, size_t size)
{
    mq_ope_opts d;
    memset(&d, 0, sizeof d);
    d.reward_model = MQ_RM_AUTO;
    d.switch_tau = 10;
    d.ridge = 1;
    d.level = 0.95;
    d.folds = 1;
    mq__opts_fill(o, size, &d, sizeof d);
}

void mq_bandit_synth_opts_init(mq_bandit_synth_opts *o, size_t size)
{
    mq_bandit_synth_opts d;
    memset(&d, 0, sizeof d);
    mq__opts_fill(o, size, &d, sizeof d);
}

void mq_policy_opts_init(mq_policy_opts *o, size_t size)
{
    mq_policy_opts d;
    memset(&d, 0, sizeof d);
    d.kind = MQ_POLICY_UNIFORM;
    mq__opts_fill(o, size, &d, sizeof d);
}

void mq_art_policy_init(mq_art_policy *p, size_t size)
{
    mq_art_policy d;
    memset(&d, 0, sizeof d);
    d.kind = MQ_POLICY_FIXED;
    mq__opts_fill(p, size, &d, sizeof d);
}
