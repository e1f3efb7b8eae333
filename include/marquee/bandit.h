/* marquee/bandit.h: contextual bandits with logged propensities, and off-policy evaluation.
 *
 * - Logs (mq_bandit_log): one row per logged decision (action, position, reward, the logging
 *   policy's propensity of that action, optional numeric context). Read from Marquee's bandit
 *   log CSV or the Open Bandit Dataset's CSVs (docs/bandit.md gives both formats).
 * - Evaluation policies (mq_bandit_dist): pi(action | position) for a context-free policy, or
 *   pi(action | row) for every logged row. From a CSV, or from OBD's Bernoulli Thompson sampling
 *   posterior (prior_bts.yaml) by a seeded Monte Carlo over rankings.
 * - Off-policy estimators (mq_bandit_ope): DM, IPS, SNIPS, DR, Switch-DR, SNDR, each with a 95%
 *   normal confidence interval from its influence function (delta method for the ratios).
 * - Policies (mq_bandit_policy): epsilon-greedy, Bernoulli Thompson sampling, LinUCB, linear
 *   Thompson sampling; every decision returns the exact probability of every action.
 * - Synthetic logs with known truth (mq_bandit_synth) and Li et al. (2011) replay.
 *
 * Objects are immutable after loading except policies, which change with mq_bandit_policy_update
 * (one policy per thread, or a lock around it). Whoever creates destroys (NULL is accepted).
 */
#ifndef MARQUEE_BANDIT_H
#define MARQUEE_BANDIT_H

#include "core.h"
#include "data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmarquee.so (the library builds with -fvisibility=hidden). */
#pragma GCC visibility push(default)

/* ---- logs ----------------------------------------------------------------------------------- */

typedef enum mq_bandit_format {
    MQ_BANDIT_FMT_MARQUEE = 0,   /* action,reward,propensity[,position][,round][,x0,x1,...] */
    MQ_BANDIT_FMT_OBD = 1,       /* Open Bandit Dataset {policy}/{campaign}.csv */
} mq_bandit_format;

/* Logged rounds, struct of arrays, [n] each; x is [n * dim] row-major (NULL when dim is 0). */
typedef struct mq_bandit_log {
    int64_t n;
    int32_t n_actions;       /* K: actions are 0..K-1 */
    int32_t n_positions;     /* L: positions are 0..L-1 (files number them 1..L) */
    int32_t dim;             /* context features per row */
    int32_t *action;
    int32_t *position;
    double *reward;
    double *propensity;      /* the logging policy's probability of the logged action, (0, 1] */
    double *x;
} mq_bandit_log;

/* Loads a log. format: mq_bandit_format. n_actions: the size of the action set, or 0 to take it
 * from the file (OBD: the number of user-item_affinity_k columns; Marquee: the largest action +
 * 1). A missing column, a propensity outside (0, 1], a reward that is not a finite number, an
 * action outside 0..K-1 or a position < 1 is MQ_EFORMAT naming file:line (the header is line 1),
 * the column and the value. The caller owns *out (mq_bandit_log_destroy). */
int mq_bandit_log_load(const char *path, int format, int32_t n_actions, mq_bandit_log **out,
                       mq_err *err);
void mq_bandit_log_destroy(mq_bandit_log *l);

/* ---- evaluation policies ---------------------------------------------------------------------- */

/* pi(action | position) ([n_positions * n_actions], row-major by position) when n_rows is 0,
 * else pi(action | logged row) ([n_rows * n_actions]) for a log of n_rows rows. */
typedef struct mq_bandit_dist {
    int32_t n_actions, n_positions;
    int64_t n_rows;
    double *p;
} mq_bandit_dist;

/* Reads an action distribution CSV with a header: `item,position,probability` (or `action`
 * for `item`; position optional = 1) for a context-free policy, or `row,action,probability`
 * (row = 0-based data row of the log) for a per-row policy. Pairs not listed have probability 0.
 * Each position's (each row's) probabilities must sum to 1 within 1e-6. n_actions > 0 bounds
 * the actions (an action >= n_actions is an error naming file:line); 0 takes the largest + 1.
 * Caller owns *out (mq_bandit_dist_destroy). */
int mq_bandit_dist_load(const char *path, int32_t n_actions, mq_bandit_dist **out, mq_err *err);
void mq_bandit_dist_destroy(mq_bandit_dist *d);
/* Writes d as CSV (the format mq_bandit_dist_load reads), atomically, numbers in %.17g. */
int mq_bandit_dist_save(const mq_bandit_dist *d, const char *path, mq_err *err);

/* The Bernoulli TS policy of the Open Bandit Dataset: Beta(alpha_k, beta_k) per item from
 * prior_bts.yaml's `campaign` section ("all", "men", "women"); each of `draws` Monte Carlo draws
 * samples every item's CTR and ranks the items by it; pi(k | position j) = share of draws with
 * k at rank j, for j < n_positions (OBP's compute_batch_action_dist). Deterministic in seed.
 * The Monte Carlo error of an entry is at most 0.5 / sqrt(draws). */
int mq_bandit_bts_dist(const char *yaml_path, const char *campaign, int32_t n_positions,
                       int64_t draws, uint64_t seed, mq_bandit_dist **out, mq_err *err);

/* ---- off-policy evaluation ------------------------------------------------------------------- */

typedef enum mq_ope_estimator {
    MQ_OPE_DM = 0, MQ_OPE_IPS, MQ_OPE_SNIPS, MQ_OPE_DR, MQ_OPE_SWITCH_DR, MQ_OPE_SNDR,
    MQ_OPE_COUNT
} mq_ope_estimator;

/* "dm", "ips", "snips", "dr", "switch-dr", "sndr"; parse returns -1 for an unknown name. */
const char *mq_ope_name(int estimator);
int mq_ope_parse(const char *s, size_t len);

typedef enum mq_reward_model {
    MQ_RM_AUTO = 0,          /* logistic when the log has context features, else ctr */
    MQ_RM_CTR,               /* q(a, p) = mean reward of the rows with action a at position p */
    MQ_RM_LOGISTIC,          /* per (a, p): L2-penalized logistic regression on (1, x) */
} mq_reward_model;

typedef struct mq_ope_opts {
    uint32_t struct_size;       /* sizeof, set by mq_ope_opts_init (marquee/core.h) */
    int reward_model;        /* mq_reward_model */
    double switch_tau;       /* Switch-DR: importance weights above tau use DM only (default 10) */
    double ridge;            /* logistic model: L2 penalty on the non-intercept weights (1) */
    double level;            /* confidence level (0.95) */
    int folds;               /* cross-fitting: row i's reward model is fitted on the rows of the
                              * other folds (fold = i mod folds); 0 or 1 = one model on all rows */
} mq_ope_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: auto reward model, switch_tau 10, ridge 1, level 0.95, no cross-fitting. */
void mq_ope_opts_init(mq_ope_opts *o, size_t size);

typedef struct mq_ope_estimate {
    double value, se, ci_low, ci_high;   /* NaN when undefined (unsupported support) */
} mq_ope_estimate;

typedef struct mq_ope_result {
    int64_t n;
    int reward_model;                    /* the model used (never AUTO) */
    mq_ope_estimate est[MQ_OPE_COUNT];
    double mean_weight;                  /* mean importance weight (1 in expectation) */
    double max_weight;
    double ess;                          /* effective sample size (sum w)^2 / sum w^2 */
    double unsupported_mass;             /* mean pi mass on (action, position) pairs absent from
                                          * the log; > 0 makes the weighted estimators NaN */
    int64_t unsupported_pairs;
} mq_ope_result;

/* Estimates the value of pi from log (the mean over logged rows of the reward pi would get):
 * w_i = pi(a_i | i) / propensity_i, q the reward model fitted on the whole log (or cross-fitted),
 *   DM = mean_i sum_a pi(a|i) q(i,a)       IPS = mean_i w_i r_i      SNIPS = sum w r / sum w
 *   DR = DM + mean_i w_i (r_i - q(i,a_i))  Switch-DR: the DR correction only where w_i <= tau
 *   SNDR = DM + sum_i w_i (r_i - q(i,a_i)) / sum_i w_i.
 * CIs: value -/+ z se, se from the sample variance (n - 1) of each estimator's influence terms.
 * Formulas, references and numbers: docs/bandit.md. o may be NULL (defaults). pi must match the
 * log (n_actions; n_positions >= the log's; n_rows = log->n when per row) or MQ_EINVAL. */
int mq_bandit_ope(const mq_bandit_log *log, const mq_bandit_dist *pi, const mq_ope_opts *o,
                  mq_ope_result *out, mq_err *err);

/* The evaluation policy of mq_bandit_ope_file, asked for once the log's action count K and
 * position count L are known (as mq_bandit_dist_load(path, K, ...) would be after loading the
 * log). Sets *pi, which the caller of mq_bandit_ope_file owns; returns 0 or an MQ_E* code. */
typedef int (*mq_bandit_policy_fn)(void *ctx, int32_t n_actions, int32_t n_positions, mq_bandit_dist **pi,
                                   mq_err *err);

/* mq_bandit_ope on the log file at path (as mq_bandit_log_load(path, format, n_actions) reads
 * it: the same checks and file:line messages), without storing rows when it can: with the ctr
 * reward model (asked for, or the default for a log without context columns) and a
 * context-free policy, one pass keeps per-(action, fold, position) sums and centred moments and
 * every estimate comes from them (equal to mq_bandit_ope's up to rounding, ~1e-13 relative).
 * Otherwise (logistic model, a per-row policy, or importance weights on both sides of
 * switch_tau within one (action, position) cell) the log is read into arrays and
 * mq_bandit_ope runs. policy is called once. */
int mq_bandit_ope_file(const char *path, int format, int32_t n_actions, mq_bandit_policy_fn policy, void *ctx,
                       const mq_ope_opts *o, mq_ope_result *out, mq_err *err);

/* The result as JSON (NUL-terminated, caller frees): {"n": n, "estimates": [{"estimator": "ips",
 * "value": x, "se": x, "ci_low": x, "ci_high": x}, ...], "on_policy": x|null, "on_policy_se": x|null,
 * "reward_model", "mean_weight", "max_weight", "ess", "unsupported_mass", "unsupported_pairs"};
 * estimators lists which to include, in that order; undefined numbers are null. on_policy: the
 * on-policy value (NaN for none). Returns 0 or MQ_ENOMEM. */
int mq_bandit_ope_json(const mq_ope_result *r, const int *estimators, int n_estimators,
                       double on_policy, double on_policy_se, char **out);

/* ---- synthetic logs with known truth ---------------------------------------------------------- */

typedef struct mq_bandit_synth_opts {
    uint32_t struct_size;       /* sizeof, set by mq_bandit_synth_opts_init (marquee/core.h) */
    int32_t n_actions;       /* K */
    int32_t dim;             /* D */
    int64_t n;
    uint64_t seed;
    double logging_tau;      /* 0: uniform logging; > 0: softmax over true rewards / tau */
    double policy_tau;       /* evaluation policy: softmax over true rewards / tau (0.1) */
} mq_bandit_synth_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: the taus above; the sizes must be set. */
void mq_bandit_synth_opts_init(mq_bandit_synth_opts *o, size_t size);

/* Draws n contexts x ~ N(0, I_D), rewards r ~ Bernoulli(sigmoid(c_a + x' M f_a)) for the logged
 * action (M [D x D] and f_a [D] ~ N(0, 1/D), c_a ~ N(-1, 0.5^2): docs/bandit.md) into a log with
 * dim D and the evaluation policy's probabilities for every row (*pi, n_rows = n).
 * *true_value = (1/n) sum_i sum_a pi(a|x_i) mu(x_i, a), the policy's exact expected reward on
 * these contexts. Deterministic in the seed. The caller owns *log and *pi. */
int mq_bandit_synth_make(const mq_bandit_synth_opts *o, mq_bandit_log **log, mq_bandit_dist **pi,
                         double *true_value, mq_err *err);
/* mq_bandit_synth_make, then writes the log (Marquee format, x0..x{D-1}) to path and the
 * probabilities to "<path>.pi.csv" (row,action,probability), atomically, numbers in %.17g. */
int mq_bandit_synth(const mq_bandit_synth_opts *o, const char *path, double *true_value,
                    mq_err *err);

/* ---- policies ------------------------------------------------------------------------------- */

typedef enum mq_policy_kind {
    MQ_POLICY_UNIFORM = 0,
    MQ_POLICY_EGREEDY,       /* empirical mean reward per action; param = epsilon (0.1) */
    MQ_POLICY_BTS,           /* Bernoulli TS, Beta(1 + clicks, 1 + misses) */
    MQ_POLICY_LINUCB,        /* Li et al. 2010 over per-action features; param = alpha (1) */
    MQ_POLICY_LINTS,         /* Agrawal & Goyal 2013; param = v, the posterior scale (0.5) */
} mq_policy_kind;

typedef struct mq_policy_opts {
    uint32_t struct_size;       /* sizeof, set by mq_policy_opts_init (marquee/core.h) */
    int kind;                /* mq_policy_kind */
    int32_t n_actions;       /* K */
    int32_t dim;             /* d: features per action for LinUCB / linear TS (0 otherwise) */
    double param;            /* epsilon, alpha or v; 0 = the default above */
    double floor;            /* every action gets probability >= floor: the policy's distribution
                              * is mixed with uniform, weight floor * K (default 0.05 / K) */
    double lambda;           /* ridge prior of the linear models (1) */
    int32_t mc_draws;        /* Thompson: Monte Carlo draws per decision (default 1000) */
    uint64_t seed;
} mq_policy_opts;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: uniform, the defaults above; n_actions must be set. */
void mq_policy_opts_init(mq_policy_opts *o, size_t size);

typedef struct mq_bandit_policy mq_bandit_policy;

/* Parses "uniform", "egreedy[:EPS]", "ts", "linucb[:ALPHA]", "lints[:V]" into o->kind and
 * o->param; other fields are left as they are. MQ_EINVAL names the spec. */
int mq_policy_parse(const char *spec, mq_policy_opts *o, mq_err *err);
const char *mq_policy_name(int kind);

int mq_bandit_policy_create(const mq_policy_opts *o, mq_bandit_policy **out, mq_err *err);
void mq_bandit_policy_destroy(mq_bandit_policy *p);

/* Chooses an action. x: [K * d] per-action features (linear policies, which choose uniformly
 * when x is NULL; NULL for the others). probs
 * ([K], may be NULL) receives the exact probability of each action under which the returned
 * action was drawn; it sums to 1 and every entry is >= floor. For Thompson sampling the
 * distribution is the share of mc_draws posterior draws that pick each action (then mixed with
 * uniform) and the action is drawn from it, so the recorded propensity is exact for the action
 * played; with probs NULL a single posterior draw decides (the limit of many draws). */
int32_t mq_bandit_policy_decide(mq_bandit_policy *p, const double *x, double *probs);
/* Learns from reward r of action a taken with features x ([K * d], or NULL). */
void mq_bandit_policy_update(mq_bandit_policy *p, const double *x, int32_t a, double r);
/* LinUCB / linear TS: the ridge estimate theta ([d]) and the upper-confidence score of each
 * action ([K], LinUCB's theta'x_a + alpha sqrt(x_a' A^-1 x_a)); for tests and explanations. */
void mq_bandit_policy_scores(const mq_bandit_policy *p, const double *x, double *theta,
                             double *scores);

/* ---- artwork on pages: member x artwork features, one shared learner, page decisions --------
 * The server's artwork bandit (docs/bandit.md, "Artwork in the server"). A title's arms are its
 * artwork variants (mq_catalog.art_ptr). Features of showing artwork a to a member: the crossing
 * x = f_a (x) m of the artwork's tags f_a (0/1 over the catalog's tag vocabulary, df tags) with
 * the member context m (dm values: 1, device tv / mobile, hour morning / afternoon / evening,
 * and the member's affinity to the catalog's MQ_ART_GENRES most common genres). Context values
 * are multiples of 1/16 (stored as bytes 0..16), so every sum the learner keeps is exact in
 * double precision and does not depend on the order of the updates: a state rebuilt from logs
 * equals the live one bit for bit. */

#define MQ_ART_GENRES 10
#define MQ_ART_DM_MAX (6 + MQ_ART_GENRES)

/* A catalog's artwork features (immutable, thread-safe). Titles are the catalog's indices. */
typedef struct mq_art_space mq_art_space;
/* Builds the tag vocabulary (the tags of c->art_features in first-seen order, at most 256) and
 * the context layout from c's genres. MQ_EINVAL when c has no artwork. Caller destroys. */
int mq_art_space_create(const mq_catalog *c, mq_art_space **out, mq_err *err);
void mq_art_space_destroy(mq_art_space *s);
int32_t mq_art_space_dm(const mq_art_space *s);       /* context values */
int32_t mq_art_space_df(const mq_art_space *s);       /* tags */
/* A fingerprint of the features (tags of every artwork, ids, layout): state files carry it. */
uint32_t mq_art_space_digest(const mq_art_space *s);

/* The member context as bytes (value = byte / 16) into ctx[dm]: bias 1; device (0 web, 1 tv,
 * 2 mobile); hour 0..23 (-1 unknown) as morning 6-11, afternoon 12-17, evening 18-23; genre
 * affinity g = the share of the member's liked history (genres[i], weight[i] > 0) that has
 * genre g, rounded to sixteenths. */
void mq_art_context(const mq_art_space *s, const uint64_t *genres, const float *weight, int n_hist,
                    int device, int hour, uint8_t *ctx);

/* The learner's sufficient statistics (not thread-safe; the server holds a lock):
 *   A = lambda I + sum over impressions x x',  b = sum over impressions r x   ([d x d], [d],
 *   d = df dm), and per artwork the impressions and the reward sum (egreedy, Bernoulli TS). */
typedef struct mq_art_stats mq_art_stats;
int mq_art_stats_create(const mq_art_space *s, double lambda, mq_art_stats **out, mq_err *err);
void mq_art_stats_destroy(mq_art_stats *st);
/* n impressions shown with context ctx: artworks art[0..n) (global indices; < 0 skipped). Costs
 * (tag pairs on the page) x dm^2, however many titles. */
void mq_art_stats_add_page(mq_art_stats *st, const uint8_t *ctx, const int64_t *art, int n);
/* Reward r for an impression of artwork art in context ctx (the impression itself is counted by
 * add_page). */
void mq_art_stats_add_reward(mq_art_stats *st, const uint8_t *ctx, int64_t art, double r);
/* Copies src's statistics into dst (both of the same space): what a publisher does under its
 * lock before building a snapshot outside it. */
void mq_art_stats_copy(mq_art_stats *dst, const mq_art_stats *src);
/* Impressions and reward sum so far (all artworks). */
void mq_art_stats_totals(const mq_art_stats *st, double *impressions, double *rewards);
/* CRC-32C of the whole state (A, b, counts): equal digests = equal states, for tests and logs. */
uint32_t mq_art_stats_digest(const mq_art_stats *st);
/* Saves the state with the caller's marks (e.g. the log positions it covers) atomically, with a
 * CRC-32C; load refuses a file of another space (digest), a bad CRC or a short file (MQ_ECORRUPT
 * naming the file). */
int mq_art_stats_save(const mq_art_stats *st, const uint64_t marks[4], const char *path, mq_err *err);
int mq_art_stats_load(const mq_art_space *s, const char *path, mq_art_stats **out, uint64_t marks[4],
                      mq_err *err);

/* A published policy state: A^-1 (Cholesky; stored by tag blocks), theta = A^-1 b, the
 * per-artwork counts, and every title's Bernoulli TS distribution (ts_draws Monte Carlo draws
 * per title, default 200: each entry within 0.5 / sqrt(200) = 0.035 of the limit; seeded by
 * (version, title); copied from prev, which may be NULL, for titles whose counts did not
 * change), so that pages only look them up. Immutable and thread-safe. */
typedef struct mq_art_snap mq_art_snap;
int mq_art_snap_create(const mq_art_stats *st, uint64_t version, const mq_art_snap *prev, int32_t ts_draws,
                       mq_art_snap **out, mq_err *err);
void mq_art_snap_destroy(mq_art_snap *sn);
uint64_t mq_art_snap_version(const mq_art_snap *sn);

#define MQ_POLICY_FIXED 5    /* artwork only: always the title's first (default) artwork */

typedef struct mq_art_policy {
    uint32_t struct_size;       /* sizeof, set by mq_art_policy_init (marquee/core.h) */
    int kind;                /* mq_policy_kind or MQ_POLICY_FIXED */
    double param;            /* epsilon (0.1), LinUCB alpha (1), linear TS v (0.5); 0 = default */
    double gamma;            /* uniform mixing weight: every artwork of a K-artwork title has
                              * probability >= gamma / K (default 0.05; fixed ignores it) */
    int32_t mc_draws;        /* linear TS: Monte Carlo posterior draws per page (default 100;
                              * Bernoulli TS's are the snapshot's, mq_art_snap_create) */
} mq_art_policy;
/* Sets o (size = sizeof *o as the caller was compiled) to the defaults: fixed, the defaults above. */
void mq_art_policy_init(mq_art_policy *o, size_t size);

/* Parses "fixed" or a policy spec of mq_policy_parse ("uniform", "egreedy[:EPS]", "ts",
 * "linucb[:ALPHA]", "lints[:V]") into p (other fields kept). MQ_EINVAL names the spec. */
int mq_art_policy_parse(const char *spec, mq_art_policy *p, mq_err *err);
/* "fixed" or mq_policy_name(kind). */
const char *mq_art_policy_name(int kind);

/* Chooses the artwork of each of n titles (catalog indices) shown to a member with context ctx
 * and writes choice[i] (a global artwork index, -1 for a title without artwork) and prop[i], its
 * exact probability: the policy's distribution q over the title's K artworks, mixed
 * p = (1 - gamma) q + gamma / K, then drawn from with rng (one artwork: probability 1; fixed:
 * the first, probability 1). LinUCB: q uniform over the best theta'x + alpha sqrt(x'A^-1x);
 * linear TS: q = the share of mc_draws posterior draws theta ~ N(theta, v^2 A^-1), shared by the
 * page's titles, in which each artwork scores best; egreedy over the artworks' mean rewards;
 * Bernoulli TS over Beta(1 + rewards, 1 + impressions - rewards). The member's part of the
 * linear model is computed once per call (docs/bandit.md). Thread-safe for distinct rngs. */
int mq_art_decide(const mq_art_snap *sn, const mq_art_policy *p, const uint8_t *ctx,
                  const int32_t *titles, int n, mq_rng *rng, int64_t *choice, double *prop,
                  mq_err *err);
/* The distribution mq_art_decide draws from, for every artwork of the n titles instead of a
 * draw: probs[o_i + a] = p(artwork a of title i), o_i the sum of K over the titles before i
 * (titles without artwork add nothing; one artwork or fixed: 1 for the first). rng serves
 * linear TS's Monte Carlo draws only. What an off-policy evaluation of a policy on logged
 * pages needs (docs/bandit.md). */
int mq_art_probs(const mq_art_snap *sn, const mq_art_policy *p, const uint8_t *ctx,
                 const int32_t *titles, int n, mq_rng *rng, double *probs, mq_err *err);

/* ---- replay ---------------------------------------------------------------------------------- */

typedef struct mq_replay_result {
    int64_t n_rounds, n_matched;
    double ctr, se, ci_low, ci_high;     /* mean reward over matched rounds; 95% CI: Wilson's
                                          * score interval for 0/1 rewards, else normal */
} mq_replay_result;

/* {"rounds": n, "matched": m, "ctr": x, "se": x, "ci_low": x, "ci_high": x, "policy": name} as a
 * NUL-terminated string the caller frees; 0 or MQ_ENOMEM. */
int mq_bandit_replay_json(const mq_replay_result *r, const char *policy, char **out);

/* Li, Chu, Langford & Wang (2011): runs the policy over the log in row order; on a round where
 * its choice equals the logged action, the reward counts and the policy learns; other rounds are
 * skipped. Unbiased for uniform-random logs (a log whose propensities vary within a position is
 * MQ_EINVAL). Features of action a at a row: e_a (x) (1, x_row) (disjoint linear models), so
 * o->dim is set by the call. */
int mq_bandit_replay(const mq_bandit_log *log, const mq_policy_opts *o, mq_replay_result *out,
                     mq_err *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
