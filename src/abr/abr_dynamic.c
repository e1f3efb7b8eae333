/* abr_dynamic.c: dash.js's DYNAMIC strategy (Spiteri, Sitaraman, Sparacio, "From Theory to
 * Practice: Improving Bitrate Adaptation in the DASH Reference Player", MMSys 2018): a
 * throughput rule while the buffer is low, BOLA once it is comfortable, with hysteresis:
 * switch to BOLA when the buffer reaches 12 s (dash.js stableBufferTime), back to throughput
 * when it falls below 6 s (half of it).  Throughput rule: highest bitrate <= 0.9 (dash.js
 * bandwidthSafetyFactor) x harmonic mean of the last 5 chunk throughputs.
 * State: which rule is active; reset at every session. */
#include "abr/abr.h"

#define ON_S 12.0
#define OFF_S 6.0
#define SAFETY 0.9
#define WINDOW 5

typedef struct dyn {
    int use_bola;
} dyn;

static void dyn_session(void *st, const mq__abr_env *env) { ((dyn *)st)->use_bola = 0; }

static int dyn_choose(void *st, const mq__abr_env *env, const mq__abr_obs *o)
{
    dyn *d = st;
    d->use_bola = o->buffer_s >= (d->use_bola ? OFF_S : ON_S);
    if (d->use_bola) {
        int L = env->video->n_levels;
        double target = 10.0 + 2.0 * L > 12.0 ? 10.0 + 2.0 * L : 12.0;
        return mq__abr_bola_choose(env, o, 10.0, target);
    }
    int n = o->chunk + 1 < WINDOW ? o->chunk + 1 : WINDOW;
    double mbps = mq__abr_harmonic(o->tput + o->chunk + 1 - n, n) * 8.0;
    return mq__abr_level_for_kbps(env->video, SAFETY * mbps * 1000.0);
}

const mq__abr_algo mq__abr_algo_dynamic = {
    "dynamic", "dash.js DYNAMIC: throughput rule below 6/12 s of buffer (hysteresis), BOLA above",
    sizeof(dyn), NULL, dyn_session, dyn_choose,
};
