/* marquee/xp.h: experimentation: deterministic assignment, A/B test analysis and design
 * (included by marquee.h only). Users: docs/xp.md.
 *
 * Thread safety: an mq_xp_config is immutable once loaded and may be shared by any number of
 * threads calling mq_xp_assign (the server does this). Analysis and design calls share nothing.
 */
#ifndef MARQUEE_XP_H
#define MARQUEE_XP_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmarquee.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

#define MQ_XP_MAX_VARIANTS 16
#define MQ_XP_MAX_GUARDRAILS 16
#define MQ_XP_NAME 128

/* A guardrail's direction: which way is good. It has no default: mq_xp_analyze refuses a
 * guardrail whose direction is 0 (a rise in rebuffering read as an improvement ships harm). */
#define MQ_XP_HIGHER_IS_BETTER 1
#define MQ_XP_LOWER_IS_BETTER (-1)

/* A guardrail metric: the treatment must not degrade it by more than max_degradation
 * (a fraction of the control mean when relative, else in the metric's units), tested as a
 * one-sided non-inferiority test. */
typedef struct mq_xp_guardrail {
    char metric[MQ_XP_NAME];
    double max_degradation;
    bool relative;              /* default true */
    int direction;              /* MQ_XP_HIGHER_IS_BETTER or MQ_XP_LOWER_IS_BETTER (required) */
} mq_xp_guardrail;

/* One experiment definition (one object of the JSON config; docs/xp.md gives the format). */
typedef struct mq_xp_experiment {
    char name[MQ_XP_NAME];
    char salt[MQ_XP_NAME];      /* hash seed; defaults to name */
    char layer[MQ_XP_NAME];     /* "" = no layer */
    double layer_lo, layer_hi;  /* this experiment's share [lo, hi) of its layer's hash space */
    double coverage;            /* fraction of eligible members in the experiment, (0, 1] */
    int n_variants;
    char variants[MQ_XP_MAX_VARIANTS][MQ_XP_NAME];
    double weights[MQ_XP_MAX_VARIANTS];   /* sum to 1 */
    long long start, end;       /* unix seconds; 0 = unbounded */
    char primary_metric[MQ_XP_NAME];      /* "" = none */
    bool primary_higher_is_better;
    int n_guardrails;
    mq_xp_guardrail guardrails[MQ_XP_MAX_GUARDRAILS];
    double mde;                 /* minimum detectable effect; 0 = unset */
    bool mde_relative;
} mq_xp_experiment;

/* A set of experiments (a config file holds one experiment object, or {"experiments": [...]}).
 * Experiments of one layer have disjoint layer ranges (checked at load), so a member is in at
 * most one experiment per layer. */
typedef struct mq_xp_config {
    int n;
    mq_xp_experiment *exps;     /* [n], owned */
} mq_xp_config;

/* Parses a JSON config from memory (where names the source in error messages) or a file.
 * Errors name the experiment and field: "xp.json: experiment 'rows': field 'weights': sum is
 * 0.9, must be 1". On success the caller releases cfg with mq_xp_config_release. */
int mq_xp_config_parse(const char *json, size_t len, const char *where, mq_xp_config *cfg,
                       mq_err *err);
int mq_xp_config_load(const char *path, mq_xp_config *cfg, mq_err *err);
void mq_xp_config_release(mq_xp_config *cfg);
/* The experiment named name, or NULL. */
const mq_xp_experiment *mq_xp_config_find(const mq_xp_config *cfg, const char *name);

/* FNV-1a 32-bit hash of n bytes (offset basis 0x811c9dc5, prime 0x01000193). */
uint32_t mq_xp_fnv1a32(const void *s, size_t n);
/* GrowthBook's v1 bucket: (fnv1a32(value + seed) % 1000) / 1000, in {0, 0.001, ..., 0.999}. */
double mq_xp_hash_v1(const char *seed, const char *value);

/* The result of assigning a member. */
typedef struct mq_xp_assignment {
    bool in_experiment;
    int variant;                /* index into variants, or -1 */
    const char *variant_name;   /* points into the experiment, or NULL */
    const char *reason;         /* static text: "assigned", "outside layer range", ... */
    double bucket;              /* the member's v1 bucket for this experiment */
} mq_xp_assignment;

/* Deterministic assignment of member to a variant of x: the member must fall in x's range of
 * its layer (bucket of hash_v1(layer, member)), then within coverage (bucket of
 * hash_v1(salt, member) < coverage), and the variant is the weight range of that bucket scaled
 * by coverage, as in GrowthBook's SDK. now (unix seconds) is checked against start/end unless
 * it is 0. Pure, thread-safe; returns 0 or MQ_EINVAL for a NULL argument. */
int mq_xp_assign(const mq_xp_experiment *x, const char *member, long long now,
                 mq_xp_assignment *out);

/* ---- design ---- */

/* Inputs of a sample-size calculation. Either sd (metric standard deviation) or
 * baseline_rate (a conversion rate in (0, 1)) describes the metric. mde is absolute unless
 * relative (then a fraction of baseline_mean or baseline_rate). With n > 0 the calculation
 * goes the other way: the MDE detectable with n units per arm. alpha is two-sided and is split
 * over the arms - 1 comparisons with control (Bonferroni). variance_reduction in [0, 1) is
 * CUPED's expected reduction (rho^2 of the pre-period covariate). daily_traffic > 0 (units per
 * day entering the experiment, all arms) gives the duration. */
typedef struct mq_xp_design_in {
    uint32_t struct_size;       /* sizeof, set by mq_xp_design_in_init (marquee/core.h) */
    double sd, baseline_rate, baseline_mean;
    double mde;
    bool relative;
    double alpha, power;
    int arms;
    double n;
    double daily_traffic;
    double variance_reduction;
} mq_xp_design_in;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: alpha 0.05, power 0.8, 2 arms. */
void mq_xp_design_in_init(mq_xp_design_in *o, size_t size);

typedef struct mq_xp_design_out {
    double n_exact;             /* per arm, before rounding up */
    long long n_per_arm, n_total;
    double mde_abs, mde_rel;    /* mde_rel is 0 when no baseline is known */
    double alpha_per_comparison;
    double days;                /* 0 when daily_traffic is unset */
    double variance_reduction;
    double n_without_cuped;     /* per arm, exact, for comparison */
} mq_xp_design_out;

/* Two-sample normal approximation: n = (z_{1-a/2} + z_{power})^2 (s_A^2 + s_B^2) / delta^2,
 * with s^2 = p (1 - p) per arm for rates (unpooled). Returns 0 or MQ_EINVAL naming the bad
 * field. */
int mq_xp_design(const mq_xp_design_in *in, mq_xp_design_out *out, mq_err *err);

/* ---- analysis ---- */

#define MQ_XP_MAX_METRICS 32
#define MQ_XP_MAX_QUANTILES 8
#define MQ_XP_SE_HC2 0              /* heteroskedasticity-robust HC2 (MacKinnon & White 1985) */
#define MQ_XP_SE_OLS 1              /* classical OLS (equal residual variances) */

/* Options of mq_xp_analyze. Set up with mq_xp_analyze_opts_init, then set what you need; NULL/0 fields take the
 * defaults in brackets. Metric names are CSV columns, or "NUM/DEN" for a ratio metric. */
typedef struct mq_xp_analyze_opts {
    uint32_t struct_size;       /* sizeof, set by mq_xp_analyze_opts_init (marquee/core.h) */
    const char *metrics[MQ_XP_MAX_METRICS];
    int n_metrics;
    const char *control;            /* control variant name (required) */
    const char *variant_col;        /* ["variant"] */
    const char *covariate;          /* pre-period column: CUPED of the primary metric only */
    int n_covariates;               /* per-metric covariates (--covariate METRIC=COLUMN) */
    const char *covariate_metric[MQ_XP_MAX_METRICS], *covariate_col[MQ_XP_MAX_METRICS];
    int cuped_se;                   /* [MQ_XP_SE_HC2] or MQ_XP_SE_OLS: CUPED's standard error */
    bool bayes;                     /* Bayesian read-out per primary row (docs/xp.md) */
    const char *segment;            /* post-stratification + per-segment effects */
    const char *day;                /* day since exposure (integer): novelty trend */
    const char *pair;               /* paired analysis: units matched on this column */
    double alpha;                   /* [0.05] two-sided */
    int n_weights;                  /* expected traffic split for SRM [config or equal] */
    char weight_names[MQ_XP_MAX_VARIANTS][MQ_XP_NAME];
    double weights[MQ_XP_MAX_VARIANTS];
    double srm_alpha;               /* [0.001] SRM failure threshold */
    bool sequential;                /* mSPRT always-valid p-values, confidence sequences */
    double tau;                     /* mSPRT mixing sd [from MDE, else 0.1 * pooled sd] */
    long long look_every;           /* mSPRT: look k uses the first k * look_every units of
                                     * each arm (each arm's file order) [100] */
    int gs_looks, gs_look, gs_type; /* group-sequential: K planned looks, this look k */
    bool mann_whitney, bootstrap;
    int n_quantiles;
    double quantiles[MQ_XP_MAX_QUANTILES];
    int n_boot;                     /* [2000] */
    long long reservoir;            /* per arm and metric [20000] */
    unsigned long long seed;        /* [1] */
    int n_guardrails;
    mq_xp_guardrail guardrails[MQ_XP_MAX_GUARDRAILS];
    const mq_xp_experiment *experiment;   /* optional: weights, primary metric, guardrails, MDE */
    int threads;                    /* 1: one thread; >= 2: two threads over halves of the file
                                     * (any size); 0 [auto]: two when the file is a regular file
                                     * of >= 64 MiB. Only without --sequential, reservoir, pair,
                                     * segment and day, which need one ordered pass. */
} mq_xp_analyze_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: look_every 100, every other field 0 /
 * NULL (the defaults in brackets). */
void mq_xp_analyze_opts_init(mq_xp_analyze_opts *o, size_t size);

/* Analyses a unit-level CSV (header row; "-" = stdin) in one streaming pass (a second one over
 * a regular file for HC2 CUPED standard errors). Memory is bounded by the number of arms,
 * metrics, segments and days, plus the reservoirs (only when Mann-Whitney, bootstrap or
 * quantiles are asked for), for a paired analysis one value per (pair, arm, metric), for HC2
 * CUPED from stdin two values per unit and CUPED metric, and for --sequential one moment
 * snapshot per arm every look_every units. Every result is the same whatever the order in which
 * the arms' rows are interleaved in the file (each arm's own row order is its time order). On
 * success *json (the stable --json document, docs/xp.md) and *text (a table for people) are
 * malloc'd strings the caller frees. Errors name file:line, column and value; a guardrail
 * without a direction is MQ_EINVAL. Estimates that cannot be formed (empty arm, zero variance)
 * appear as null with an "estimable": false and a reason, never as NaN. */
int mq_xp_analyze(const char *path, const mq_xp_analyze_opts *opts, char **json, char **text,
                  const mq_log *log, mq_err *err);

/* mq_xp_analyze with its options as "name=value" strings (for bindings: no struct layout to
 * mirror): the names are `marquee xp analyze`'s long options without the dashes (metric and
 * quantile repeat; sequential, mann-whitney and bootstrap take true/false; config=PATH with an
 * optional experiment=NAME reads a config), e.g. {"metric=watch_minutes", "control=A"}.
 * Unknown names and bad values are MQ_EINVAL naming them. Outputs as mq_xp_analyze. */
int mq_xp_analyze_params(const char *path, const char *const *params, int n_params, char **json,
                         char **text, const mq_log *log, mq_err *err);

/* One arm's summary: units, mean and sample variance (n - 1 denominator). */
typedef struct mq_xp_arm {
    double n, mean, var;
} mq_xp_arm;

/* A two-sample comparison B - A. When !estimable, reason (static text) says why and only
 * effect is meaningful; likewise rel_reason for the relative effect. */
typedef struct mq_xp_effect {
    bool estimable, rel_estimable;
    const char *reason, *rel_reason;
    double effect, se, df, statistic, ci_low, ci_high, p_value;
    double rel, rel_se, rel_ci_low, rel_ci_high, rel_p_value;
} mq_xp_effect;

/* Welch's t-test of mean(B) - mean(A) with the Welch-Satterthwaite df, the (1 - alpha) CI, and
 * the relative effect mean(B)/mean(A) - 1 by the delta method with the same t quantile. This is
 * exactly what `analyze` reports for a mean metric (and what the simulations in tests/ and
 * bench/ call). Pure, thread-safe; returns 0, or MQ_EINVAL for bad alpha or variances. */
int mq_xp_welch(const mq_xp_arm *a, const mq_xp_arm *b, double alpha, mq_xp_effect *out);

/* mSPRT (Johari, Pekelis & Walsh, "Always Valid Inference", 2017) with a normal mixture
 * N(0, tau2) over the effect: the likelihood ratio for an estimate theta_hat with variance v,
 * Lambda = sqrt(v / (v + tau2)) exp(tau2 theta_hat^2 / (2 v (v + tau2))); with v = 2 sigma^2/n
 * this is the paper's formula. The always-valid p-value is the running min of 1 / Lambda. */
double mq_xp_msprt_lambda(double theta_hat, double v, double tau2);
/* Half-width of the (1 - alpha) confidence sequence at the current look:
 * sqrt(v (v + tau2) / tau2 * (log((v + tau2) / v) + 2 log(1 / alpha))). */
double mq_xp_msprt_halfwidth(double v, double tau2, double alpha);

/* ---- interactions between concurrent experiments ---- */

/* Options of mq_xp_interactions: a unit-level CSV with one column per experiment holding the
 * unit's variant in it, and a metric column. Reference levels: control[i] when given, else the
 * first variant of experiment i in byte order. */
typedef struct mq_xp_interact_opts {
    uint32_t struct_size;       /* sizeof, set by mq_xp_interact_opts_init (marquee/core.h) */
    const char *experiments[2];     /* the two experiment (variant) columns (required) */
    const char *metric;             /* (required) */
    const char *control[2];         /* reference variant of each experiment [first sorted] */
    double alpha;                   /* [0.05] */
} mq_xp_interact_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: alpha 0.05. */
void mq_xp_interact_opts_init(mq_xp_interact_opts *o, size_t size);

/* Tests whether one experiment's effect depends on the other's variant: the OLS model
 * metric ~ C(E1) * C(E2) with HC2 standard errors (as statsmodels cov_type="HC2"): for 2 x 2
 * designs the interaction contrast y11 - y10 - y01 + y00 of the cell means with its normal CI
 * and p-value, and for any k x m design the joint Wald chi-square test of the (k-1)(m-1)
 * interaction terms. One streaming pass; memory O(k m). On success *json and *text are
 * malloc'd strings the caller frees; errors name file:line, column and value. */
int mq_xp_interactions(const char *path, const mq_xp_interact_opts *opts, char **json,
                       char **text, const mq_log *log, mq_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
