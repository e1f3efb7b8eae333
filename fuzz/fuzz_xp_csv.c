/* fuzz/fuzz_xp_csv.c: a fuzz target for the xp analyze CSV reader (mq_xp_analyze).
 *
 * The first input byte picks the analysis (plain, ratio metric, CUPED covariate, segments,
 * days, paired, sequential, Mann-Whitney + quantiles + bootstrap, two threads); the rest is the
 * CSV file, in a memory file (fuzz_io.h). Columns the options name: variant, y, x, s, d, p.
 * Every call must either analyse (then the JSON and text must be NaN/inf-free strings) or fail
 * with a message; never crash, leak or hang. Build and run: docs/fuzzing.md.
 */
#include "marquee.h"
#include "fuzz_io.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *path = fuzz_memfile(data + 1, size - 1);
    if (!path) return 0;
    int sel = data[0] % 10;
    mq_xp_analyze_opts o;
    mq_xp_analyze_opts_init(&o, sizeof o);
    o.control = "A";
    o.metrics[o.n_metrics++] = "y";
    o.threads = 1;
    o.n_boot = 50;
    o.reservoir = 64;
    switch (sel) {
    case 1: o.metrics[o.n_metrics++] = "y/x"; break;
    case 2: o.covariate = "x"; break;
    case 3: o.segment = "s"; break;
    case 4: o.day = "d"; break;
    case 5: o.pair = "p"; break;
    case 6: o.sequential = true; o.look_every = 3; break;
    case 7: o.mann_whitney = true; o.bootstrap = true; o.n_quantiles = 2;
            o.quantiles[0] = 0.5; o.quantiles[1] = 0.9; break;
    case 8: o.threads = 2; o.metrics[o.n_metrics++] = "x"; break;
    /* one look: the group-sequential bounds do not depend on the input (tests/stats checks
     * them) and three looks cost ~1 s per input under ASan; the decision path is the same */
    case 9: o.gs_looks = 1; o.gs_look = 1; o.n_guardrails = 1;
            strcpy(o.guardrails[0].metric, "x"); o.guardrails[0].max_degradation = 0.05;
            o.guardrails[0].relative = true; o.guardrails[0].direction = MQ_XP_HIGHER_IS_BETTER; break;
    default: break;
    }
    char *json = NULL, *text = NULL;
    mq_err err = {0};
    int rc = mq_xp_analyze(path, &o, &json, &text, NULL, &err);
    if (rc == 0) {
        /* Names of arms and segments come from the input, so only the JSON numbers are
         * checked: a bare nan/inf token after ':' or ',' or '['. */
        for (const char *p = json; p && *p; p++)
            if ((*p == ':' || *p == ',' || *p == '[') &&
                (!strncmp(p + 1, "nan", 3) || !strncmp(p + 1, "-nan", 4) || !strncmp(p + 1, "inf", 3) ||
                 !strncmp(p + 1, "-inf", 4) || !strncmp(p + 1, " nan", 4) || !strncmp(p + 1, " inf", 4) ||
                 !strncmp(p + 1, " -nan", 5) || !strncmp(p + 1, " -inf", 5)))
                abort();
        free(json);
        free(text);
    } else if (!err.msg[0]) {
        abort();   /* every failure explains itself */
    }
    return 0;
}
