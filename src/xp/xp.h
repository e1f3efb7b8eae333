/* xp.h: the xp module's internal header (not part of the public API).
 *
 * `mq_xp_analyze` is three files around one analysis context (ctx):
 *   xp_read.c     the CSV reader: header, one fused split-and-parse scan per row, the
 *                 per-(arm, metric) accumulators, the optional per-unit stores (reservoirs,
 *                 pairs, HC2 values, sequential snapshots), the two-thread pass, and the
 *                 canonical ordering of arms, segments and pairs that makes every result
 *                 independent of how the arms' rows are interleaved in the file;
 *   xp_analyze.c  the statistics: one row per (metric, treatment, method), the JSON and text
 *                 writers, the entry point;
 *   xp_decide.c   guardrails, the multiple-testing adjustment over treatments and the decision.
 * xp_seq.c holds mSPRT (the formulas and the looks), xp_interact.c the interactions command.
 *
 * Memory: one ctx per call, owned by mq_xp_analyze; nothing is shared between calls.
 */
#ifndef MQ_XP_INTERNAL_H
#define MQ_XP_INTERNAL_H

#include "core/core.h"
#include <stdlib.h>
#include <string.h>

#define MQ_XP_MAXCOL 4096
#define MQ_XP_MAX_SEGMENTS 1000
#define MQ_XP_MAX_DAYS 3660
#define MQ_XP_ALL_METRICS (MQ_XP_MAX_METRICS + MQ_XP_MAX_GUARDRAILS)

/* Bivariate moments: n, means, centred second moments and the co-moment of y with x (the
 * covariate, or a ratio's denominator). */
typedef struct mom { double n, my, mx, m2y, m2x, cxy; } mom;

static inline void mom_add1(mom *m, double y)
{
    m->n += 1;
    double d = y - m->my;
    m->my += d / m->n;
    m->m2y += d * (y - m->my);
}

static inline void mom_add2(mom *m, double y, double x)
{
    m->n += 1;
    double dx = x - m->mx, dy = y - m->my;
    m->mx += dx / m->n;
    m->my += dy / m->n;
    m->m2x += dx * (x - m->mx);
    m->m2y += dy * (y - m->my);
    m->cxy += dx * (y - m->my);
}

static inline double mom_var(const mom *m) { return m->n > 1 ? m->m2y / (m->n - 1) : 0; }

/* Rows are buffered per (arm, metric) and folded into the moments BATCH at a time (exact
 * two-pass moments of the batch, merged by Chan, Golub & LeVeque). */
#define MQ_XP_BATCH 256
typedef struct batch { int n; double y[MQ_XP_BATCH], x[MQ_XP_BATCH]; } batch;

/* A small string -> index map (open addressing, FNV-1a). */
typedef struct smap { char **keys; int *vals; size_t cap, n; } smap;

typedef struct metric {
    char name[MQ_XP_NAME];
    int col_y, col_x;           /* col_x: ratio denominator or covariate, -1 = none */
    const char *cov;            /* the covariate's column name, NULL = none */
    bool ratio, binary;
} metric;

typedef struct reservoir { double *v; long long n, alloc; } reservoir;

/* Per-unit (y, x) of one arm and CUPED metric, for the HC2 standard error. */
typedef struct yxvals { double *y, *x; long long n, cap; } yxvals;

typedef struct seqstate {
    double tau2, p, cs_lo, cs_hi;
    long long looks;
} seqstate;

typedef struct row {
    int metric, variant;
    const char *method;
    double n[2], mean[2];
    double effect, lo, hi, p, rel, rlo, rhi, rel_p, se, rel_se;
    bool est, rel_est, primary;
    bool has_seq, seq_missing, has_gs, gs_crossed;   /* mSPRT and group-sequential summaries */
    double seq_p, cs_lo, cs_hi, gs_z, gs_bound;
    bool has_bayes;                     /* --bayes: chance to win, expected loss, interval */
    const char *bayes_missing;          /* --bayes asked for but not estimable: why */
    double b_win, b_loss, b_lo, b_hi;
    char reason[200], rel_reason[200];
    double p_holm, p_bh;
    mq_buf extra;
} row;

/* SRM under ramps (docs/xp.md): the members of one variant's hash range, from a collect file's
 * "range" and "served_share" columns; units (rows with a variant) and rows of no arm alike. */
typedef struct rngacc {
    char name[MQ_XP_NAME];
    long long members;          /* rows of the range: units and members served only the default */
    long long units_known;      /* units with a served_share */
    double e, v;                /* sum of served_share, of share x (1 - share), over the range */
} rngacc;

typedef struct ctx {
    const mq_xp_analyze_opts *o;
    const char *path;
    double alpha;
    int n_arms;
    char arms[MQ_XP_MAX_VARIANTS][MQ_XP_NAME];
    size_t arm_len[MQ_XP_MAX_VARIANTS];
    double weights[MQ_XP_MAX_VARIANTS];
    bool fixed_arms;
    int control;                /* index of the control arm, known once reading is done */
    int primary;                /* index of the primary metric in met[] */
    int n_metrics;
    metric met[MQ_XP_ALL_METRICS];
    int n_guard;
    mq_xp_guardrail guard[MQ_XP_MAX_GUARDRAILS];
    int col_variant, col_seg, col_day, col_pair, max_col;
    int col_range, col_share;   /* -1 unless the file has "range" ("served_share") columns */
    int n_rng;
    rngacc rng[MQ_XP_MAX_VARIANTS];
    long long count[MQ_XP_MAX_VARIANTS];
    mom *acc;                   /* [arm][metric] */
    batch *pend;                /* [arm][metric]: rows not yet folded into acc */
    smap segs; int n_segs; char **seg_names; mom *seg_acc;   /* [seg][arm][metric] */
    int n_days; mom *day_acc;   /* [day][arm][metric] */
    reservoir *res;             /* [arm][metric] or NULL */
    long long res_cap;
    mq_rng arm_rng[MQ_XP_MAX_VARIANTS];   /* reservoir draws: one stream per arm */
    smap pairs; long long n_pairs, pair_cap; double *pair_val;  /* [pair][arm][metric] */
    yxvals *hc2;                /* [arm][metric] or NULL: per-unit values of CUPED metrics
                                 * (HC2 when the file cannot be read twice: stdin, a pipe) */
    double *hc2_part;           /* [arm][treatment][metric] or NULL: HC2 sums of a second pass */
    int pass;                   /* 1, or 2 during the HC2 pass */
    long long rows2;            /* rows seen by the second pass */
    seqstate *seq;              /* [arm][metric] or NULL */
    mom *snap[MQ_XP_MAX_VARIANTS];        /* [look][metric]: moments after each look_every units */
    long long n_snap[MQ_XP_MAX_VARIANTS], cap_snap[MQ_XP_MAX_VARIANTS];
    long long rows;
    row *out; int n_out, cap_out;
    char (*colname)[64];        /* [n_cols], from the header (heap: the context stays small) */
    unsigned char isnum[MQ_XP_MAXCOL];
    int n_cols;
} ctx;

#define ACC(c, a, m) (&(c)->acc[(size_t)(a) * (c)->n_metrics + (m)])
#define SEGACC(c, s, a, m) (&(c)->seg_acc[((size_t)(s) * MQ_XP_MAX_VARIANTS + (a)) * (c)->n_metrics + (m)])
#define DAYACC(c, d, a, m) (&(c)->day_acc[((size_t)(d) * MQ_XP_MAX_VARIANTS + (a)) * (c)->n_metrics + (m)])
#define PAIRV(c, p, a, m) ((c)->pair_val[((size_t)(p) * MQ_XP_MAX_VARIANTS + (a)) * (c)->n_metrics + (m)])

/* One unit's term of the HC2 variance of the CUPED coefficient (formula atop xp_analyze.c):
 * e^2 / (1 - h) u^2 for a unit of arm M (control: sgn = +1, treatment: sgn = -1) with
 * regression slope theta, pooled within-arm Sxx and dx = xbar_B - xbar_A. Sets *bad when the
 * leverage reaches 1 with a nonzero residual (HC2 undefined). */
static inline double mq__xp_hc2_term(double y, double x, const mom *M, double theta, double sxx, double dx,
                                     double sgn, bool *bad)
{
    double inv_n = 1 / M->n, xc = x - M->mx, e = (y - M->my) - theta * xc;
    double h = inv_n + xc * xc / sxx, u = inv_n + sgn * dx * xc / sxx;
    if (!(1 - h > 0)) { if (e != 0) *bad = true; return 0; }
    return e * e / (1 - h) * u * u;
}
#define HC2PART(c, a, b, m) ((c)->hc2_part[((size_t)(a) * MQ_XP_MAX_VARIANTS + (b)) * (c)->n_metrics + (m)])

/* ---- xp_read.c ---- */
int mq__xp_smap_get(smap *s, const char *k, size_t len, int add_val, int *out);
void mq__xp_smap_free(smap *s);
void mq__xp_batch_flush(mom *m, batch *b);
void mq__xp_flush_all(ctx *c);
/* Reads the whole file into c's accumulators (one or two threads), then puts arms (unless
 * fixed by the config or --weights), segments and pairs in byte order of their names. */
int mq__xp_read(ctx *c, const mq_log *log, mq_err *err);
/* The second pass over a regular file for the HC2 standard errors of CUPED (c->hc2_part set):
 * once the moments and the control are known, every unit's term is summed per (arm,
 * comparison, metric), each arm's units in their own order. Fails when the file changed. */
int mq__xp_hc2_pass(ctx *c, const mq_log *log, mq_err *err);

/* ---- xp_seq.c ---- */
/* Evaluates the mSPRT looks of every (treatment, metric) against the control from the
 * snapshots: look k compares the first k * look_every units of each arm; a last look uses all
 * units. Fills c->seq. */
void mq__xp_seq_run(ctx *c);

/* ---- xp_analyze.c ---- */
row *mq__xp_new_row(ctx *c, int m, int b, const char *method);
const row *mq__xp_primary_row(const ctx *c, int m, int b);
void mq__xp_jnum(mq_buf *b, const char *key, double v);

/* ---- xp_decide.c ---- */
/* Appends the "decision" object to j and its line to t. */
void mq__xp_decide(ctx *c, mq_buf *j, mq_buf *t, double srm_p, bool srm_ok);
/* The direction of metric m: +1 higher is better, -1 lower (the config's primary metric
 * direction or a guardrail's), +1 otherwise. */
int mq__xp_direction(const ctx *c, int m);

#endif
