/* marquee/sim.h: the member simulator (`marquee sim`, docs/sim.md; included by marquee.h only).
 *
 * Simulated members with known tastes visit homepages built by the library's page builder
 * (the code the server runs), examine rows and titles in a cascade, play, finish or abandon,
 * and come back or churn. An experiment runs twice over: as an A/B test (members split by the
 * experiments file's hash assignment, units analysed by mq_xp_analyze) and, with
 * counterfactual, once per variant with every member forced into it under common random
 * numbers, which gives the true effect the A/B estimate should cover.
 *
 * Thread safety: mq_sim_run is reentrant; it runs its own worker threads. Same seed, inputs
 * and scenario give the same output whatever the thread count (every member has its own
 * random stream).
 */
#ifndef MARQUEE_SIM_H
#define MARQUEE_SIM_H

#include "core.h"
#include "data.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* Behaviour parameters (docs/sim.md gives each equation). mq_sim_params_default fills the
 * documented defaults; a scenario's "sim" object overrides any of them by name. */
typedef struct mq_sim_params {
    int truth_factors, truth_epochs;  /* the iALS fit that gives true tastes (32, 8) */
    double member_noise;        /* sd of the noise added to a member's factors, relative (0.3) */
    double affinity_scale;      /* beta: weight of the standardized dot product (2.0) */
    double quality_weight;      /* gamma: weight of the title's quality (0.5) */
    double affinity_noise;      /* sd of the per (member, title) noise (0.5) */
    double affinity_bias;       /* subtracted inside the logistic (2.0) */
    double visits_median;       /* visits per day, log-normal median (0.6) */
    double visits_sigma;        /* its log sd (0.8) */
    double title_patience;      /* P(examine the next title of a row), mean (0.8) */
    double row_patience;        /* P(move on to the next row), mean (0.6) */
    double click_scale;         /* P(click | examined) = click_scale * affinity (0.35) */
    double finish_power;        /* P(finish | play) = affinity ^ finish_power (1.0) */
    double runtime_seconds;     /* a finished play's seconds (5400) */
    double continue_after_play; /* P(keep browsing after a finished play) (0.3) */
    double continue_after_abandon; /* P(keep browsing after an abandoned play) (0.7) */
    double rate_prob;           /* P(rate a finished title) (0.3) */
    double thumb_prob;          /* P(thumb a play: up when finished, down when abandoned) (0.1) */
    double satisfaction_gain;   /* logit added per finished play (0.25) */
    double abandon_loss;        /* logit removed per clicked-then-abandoned play (0.3) */
    double browse_loss;         /* logit removed per visit without a play (0.1) */
    double satisfaction_decay;  /* satisfaction kept from one day to the next (0.8) */
    double hazard_median;       /* daily churn hazard, log-normal median (0.002) */
    int churn_after_days;       /* days away that make a member churn (14) */
    double novelty_boost;       /* click multiplier 1 + boost*exp(-days/novelty_days) on a
                                   changed page (0.15) */
    double novelty_days;        /* its decay time in days (3) */
    int retained_days;          /* `retained`: a visit in the last this many days (7) */
    int pre_days;               /* days before the experiments start, everyone served the
                                   default page: pre_plays / pre_play_seconds for CUPED (0) */
    double artwork_weight;      /* sd of a member's per-tag artwork affinity: the click term is
                                   multiplied by exp(artwork_weight * mean tag affinity) of the
                                   artwork a page shows for the title (0.5; no artwork: 1) */
    double artwork_common;      /* sd of a population-wide per-tag effect c_g shared by every
                                   member: the term becomes exp(mean over tags of
                                   (artwork_weight z + artwork_common c_g)) (0: artworks are
                                   equally good on average, docs/sim.md) */
} mq_sim_params;

void mq_sim_params_default(mq_sim_params *p);

/* A simulator-side treatment of one variant (keys the server does not know). */
typedef struct mq_sim_treat {
    double clickbait;           /* extra P(click) = clickbait * (1 - affinity), in [0, 1] */
    double novelty;             /* overrides novelty_boost for this variant (< 0: not set) */
} mq_sim_treat;

#define MQ_SIM_MAX_MODELS 16
#define MQ_SIM_MAX_EXPS 8
#define MQ_SIM_MAX_VARIANTS 8

/* A scenario (scenarios/NAME.json, docs/sim.md): simulator settings, the models it needs, the
 * experiments (the server's experiments-file format, kept as JSON text) and simulator-side
 * treatments. */
typedef struct mq_sim_scenario {
    char name[64];
    mq_sim_params params;
    int n_models;
    char model_name[MQ_SIM_MAX_MODELS][64];
    char model_kind[MQ_SIM_MAX_MODELS][32];
    int model_n_params[MQ_SIM_MAX_MODELS];
    char model_params[MQ_SIM_MAX_MODELS][16][64];
    char *experiments_json;     /* owned: {"experiments": [...]} or NULL */
    int n_treat;
    char treat_exp[MQ_SIM_MAX_EXPS * MQ_SIM_MAX_VARIANTS][64];
    char treat_variant[MQ_SIM_MAX_EXPS * MQ_SIM_MAX_VARIANTS][64];
    mq_sim_treat treat[MQ_SIM_MAX_EXPS * MQ_SIM_MAX_VARIANTS];
} mq_sim_scenario;

/* Parses a scenario. Unknown fields and out-of-range values are MQ_EFORMAT naming where and
 * the field ("aa.json: field 'sim.click_scale': 1.5 is not a probability in [0, 1]"). The
 * caller releases sc. */
int mq_sim_scenario_parse(const char *json, size_t len, const char *where, mq_sim_scenario *sc,
                          mq_err *err);
int mq_sim_scenario_load(const char *path, mq_sim_scenario *sc, mq_err *err);
void mq_sim_scenario_release(mq_sim_scenario *sc);

typedef struct mq_sim_opts {
    uint32_t struct_size;       /* sizeof, set by mq_sim_opts_init (marquee/core.h) */
    const char *data;           /* dataset path (mq_data_open) */
    const char *models;         /* models directory: NAME.mqm; missing ones are trained */
    const char *experiments;    /* experiments file overriding the scenario's, or NULL */
    const char *out;            /* output directory (created) */
    const mq_sim_scenario *scenario;
    int members, days;          /* population and simulated days */
    uint64_t seed;
    bool counterfactual;        /* also run every variant alone (the truth) */
    int threads;                /* 0 = cores; with server, also the connections in flight */
    const mq_log *log;          /* progress */
    const char *server;         /* "http://HOST:PORT": the A/B run drives this `marquee serve`
                                   (--clock event, --trending-refresh off, the experiments
                                   file under out) over HTTP; NULL: in-process */
} mq_sim_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: everything 0 / NULL; data, models,
 * out, scenario, members and days must be set. */
void mq_sim_opts_init(mq_sim_opts *o, size_t size);

/* Runs the simulation. With o->server, the A/B run's pages come from that server and its
 * events are POSTed to it (the logs are the server's; the counterfactual runs stay
 * in-process); a server that goes away ends the run with MQ_EIO naming the count of members
 * simulated in full. Otherwise it writes under o->out experiments.json, units-<experiment>.csv (the A/B
 * run's units), analyze-<experiment>.json, log/events and log/exposures (the A/B run's logs in
 * the server's formats), collect-<experiment>.csv (mq_xp_collect on them) and, with
 * counterfactual, truth.json (removed without it); *json (malloc'd, the caller frees) gets
 * the summary document of docs/sim.md ({"members","days","pages","events","truth",
 * "estimate"}). */
int mq_sim_run(const mq_sim_opts *o, char **json, mq_err *err);

/* Offline against online (`marquee sim --offline-check`, docs/sim.md). models [n] (2..8):
 * "NAME" (NAME.mqm in o->models, or a model of the scenario) or "NAME=KIND[:k=v,k=v...]"
 * (trained into o->models when missing). Each model serves every member alone under common
 * random numbers (online: per-member means of plays, play_seconds, active_days, retained;
 * effect = against models[0]); the first model's run is the logged data: per member, the plays
 * before day days - days/2 (arrival history included) are the fold-in and the titles first
 * played from then on the targets of mq_eval_heldout for every model (offline: every metric of
 * `marquee eval`). *json (malloc'd) gets {"members","days","cut_day","heldout_members",
 * "metric","models":[{"name","kind","offline":{M:{"mean","se"}},"online":{M:{"mean",
 * "effect"}}}],"kendall_tau"}: Kendall's tau-b between the offline metric (metric, default
 * "ndcg@20") and the online play_seconds effect over the models. Writes o->out/offline-log
 * (the first model's event log) and experiments.json. */
int mq_sim_offline_check(const mq_sim_opts *o, const char *const *models, int n, const char *metric, char **json,
                         mq_err *err);

/* The speed benchmark's two rates, measured in one run over the same members and catalog:
 * pages per second of the page builder alone (scoring + mq_page_build for the members'
 * requests) and of the whole simulated visit. */
int mq_sim_bench(const mq_sim_opts *o, double *page_rate, double *sim_rate, mq_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
