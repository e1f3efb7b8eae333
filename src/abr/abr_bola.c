/* abr_bola.c: BOLA-BASIC (Spiteri, Urgaonkar, Sitaraman, "BOLA: Near-Optimal Bitrate Adaptation
 * for Online Videos", INFOCOM 2016, Algorithm 1).  For the next chunk pick
 *     m* = argmax_m (V (v_m + gp) - Q) / S_m,     v_m = ln(R_m / R_0),
 * Q = buffer level (s), S_m = the next chunk's size at level m (bytes).  Parameters follow
 * dash.js's BolaRule: the lowest level is chosen while Q <= Q_low (V gp = Q_low) and the highest
 * level's score turns negative at Q_target (V (v_M + gp) = Q_target); with dash.js's defaults
 * Q_low = 10 s and Q_target = max(12 s, 10 s + 2 s per level) = 22 s for six levels.
 * (BOLA would idle when every score is negative; the simulator's 60 s cap plays that role, and
 * the argmax then falls on the largest chunk.)  Stateless. */
#include "abr/abr.h"

#include <math.h>

int mq__abr_bola_choose(const mq__abr_env *env, const mq__abr_obs *o, double q_low_s,
                        double q_target_s)
{
    const mq_abr_video *v = env->video;
    int L = v->n_levels, idx = o->next < v->n_sizes ? o->next : v->n_sizes - 1;
    if (L == 1) return 0;
    double vM = log(v->bitrate_kbps[L - 1] / v->bitrate_kbps[0]);
    double gp = vM * q_low_s / (q_target_s - q_low_s);
    double V = q_low_s / gp;
    int best = 0;
    double best_s = -INFINITY;
    for (int m = 0; m < L; m++) {
        double um = log(v->bitrate_kbps[m] / v->bitrate_kbps[0]);
        double s = (V * (um + gp) - o->buffer_s) / mq__abr_size(v, m, idx);
        if (s > best_s) { best_s = s; best = m; }
    }
    return best;
}

static int bola_choose(void *st, const mq__abr_env *env, const mq__abr_obs *o)
{
    int L = env->video->n_levels;
    double target = 10.0 + 2.0 * L > 12.0 ? 10.0 + 2.0 * L : 12.0;
    return mq__abr_bola_choose(env, o, 10.0, target);
}

const mq__abr_algo mq__abr_algo_bola = {
    "bola", "BOLA-BASIC (Lyapunov buffer control), utilities ln(R/R_min), dash.js parameters", 0,
    NULL, NULL, bola_choose,
};
