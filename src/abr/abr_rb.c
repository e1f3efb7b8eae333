/* abr_rb.c: rate-based adaptation: predict the next chunk's throughput as the harmonic mean of
 * the last 5 measured chunk throughputs of this session (Jiang et al., FESTIVE, CoNEXT 2012;
 * the predictor Pensieve's MPC baselines use) and pick the highest bitrate not above it.
 * Stateless (the history is the session's throughput record). */
#include "abr/abr.h"

#define WINDOW 5

static int rb_choose(void *st, const mq__abr_env *env, const mq__abr_obs *o)
{
    int n = o->chunk + 1 < WINDOW ? o->chunk + 1 : WINDOW;
    double mbps = mq__abr_harmonic(o->tput + o->chunk + 1 - n, n) * 8.0; /* MB/s -> Mbit/s */
    return mq__abr_level_for_kbps(env->video, mbps * 1000.0);
}

const mq__abr_algo mq__abr_algo_rb = {
    "rb", "rate-based: highest bitrate <= harmonic mean of the last 5 chunk throughputs", 0,
    NULL, NULL, rb_choose,
};
