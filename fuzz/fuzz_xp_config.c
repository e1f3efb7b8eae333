/* fuzz/fuzz_xp_config.c: a fuzz target for the xp experiment-config JSON parser
 * (mq_xp_config_parse). The input is the JSON text. A parse either succeeds (then every
 * experiment is checked against the invariants mq_xp_assign relies on, and a few members are
 * assigned) or fails with a message; never crash, leak or hang. Build and run: docs/fuzzing.md.
 */
#include "marquee.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mq_xp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    mq_err err = {0};
    int rc = mq_xp_config_parse((const char *)data, size, "fuzz.json", &cfg, &err);
    if (rc != 0) {
        if (!err.msg[0]) abort();
        return 0;
    }
    for (int i = 0; i < cfg.n; i++) {
        const mq_xp_experiment *x = &cfg.exps[i];
        if (x->n_variants < 2 || x->n_variants > MQ_XP_MAX_VARIANTS) abort();
        if (!(x->coverage > 0 && x->coverage <= 1)) abort();
        if (memchr(x->name, 0, sizeof x->name) == NULL) abort();
        double s = 0;
        for (int v = 0; v < x->n_variants; v++) {
            if (!isfinite(x->weights[v]) || x->weights[v] < 0) abort();
            s += x->weights[v];
        }
        if (fabs(s - 1) > 1e-6) abort();
        if (mq_xp_config_find(&cfg, x->name) == NULL) abort();
        static const char *members[] = {"m1", "member-42", ""};
        for (int m = 0; m < 3; m++) {
            mq_xp_assignment a;
            if (mq_xp_assign(x, members[m], 0, &a) != 0) abort();
            if (a.in_experiment && (a.variant < 0 || a.variant >= x->n_variants)) abort();
        }
    }
    mq_xp_config_release(&cfg);
    return 0;
}
