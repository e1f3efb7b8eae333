/* abr_bb.c: buffer-based rate adaptation (BBA-0; Huang et al., "A Buffer-Based Approach to Rate
 * Adaptation", SIGCOMM 2014) as in Pensieve's test/bb.py: reservoir r = 5 s, cushion c = 10 s,
 *   level = 0 if B < r;  L-1 if B >= r + c;  floor((L-1) (B - r) / c) otherwise,
 * with B the buffer (seconds) after the last download.  Stateless. */
#include "abr/abr.h"

#define RESERVOIR_S 5.0
#define CUSHION_S 10.0

static int bb_choose(void *st, const mq__abr_env *env, const mq__abr_obs *o)
{
    int top = env->video->n_levels - 1;
    if (o->buffer_s < RESERVOIR_S) return 0;
    if (o->buffer_s >= RESERVOIR_S + CUSHION_S) return top;
    /* Same operation order as bb.py: (A_DIM - 1) * (buffer - RESEVOIR) / float(CUSHION). */
    int l = (int)(top * (o->buffer_s - RESERVOIR_S) / CUSHION_S);
    return l < 0 ? 0 : l > top ? top : l;
}

const mq__abr_algo mq__abr_algo_bb = {
    "bb", "buffer-based (BBA): reservoir 5 s, cushion 10 s, linear map between", 0, NULL, NULL,
    bb_choose,
};
