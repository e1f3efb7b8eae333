/* cmd_eval.c: `marquee eval`: train candidate models and evaluate them offline.
 *
 * Flow: load the data (mq_data_open), binarize it (explicit ratings >= 4 are positives,
 * implicit data keeps every pair; members with >= 5 positives), split it (mq_split_make with
 * the chosen protocol, or read an explicit split with --split DIR), optionally write the split
 * (--write-split DIR, so other tools can be compared on the identical split), then for each
 * model: optionally tune its hyperparameters on the validation members (a small grid per model,
 * chosen by NDCG@100), train on the training matrix, and evaluate the test members
 * (mq_eval_heldout: fold-in from the member's history alone, fold-in titles never ranked,
 * titles no training member has are neither ranked nor counted as targets).
 *
 * --refit (off by default; Liang et al. 2018 and Steck 2019 test the model trained on the
 * training members alone): after the choice, train the chosen point once more on the training
 * members plus every validation member (fold-in and targets), and test that model. The ranked
 * title set, novelty popularity and the test members are unchanged.
 *
 * Output: a readable table on stdout, or with --json one object {"models": [...]} whose field
 * names are a promise to scripts (docs/eval.md). Progress goes to stderr.
 *
 * Threading: models train and the loop scores with --threads threads (0 = all cores); the
 * model is immutable while being scored, so the scorer below is called from all of them.
 */
#include "cli.h"
#include "core/core.h"   /* mq__catalog_copy / mq__catalog_release for the --refit data */

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_MODELS 16
#define MAX_PARAMS 64
#define MAX_GRID 64

static const char *usage_text =
    "usage: marquee eval --data PATH --models pop,ease,ials,... [options]\n"
    "       marquee eval --split DIR --models ... [options]\n"
    "\n"
    "Trains each model on the training members and evaluates it on held-out members: Recall,\n"
    "NDCG, Precision, MAP at k = 10, 20, 50, 100, MRR, AUC, catalog coverage, novelty and\n"
    "genre diversity, each with its standard error over members.\n"
    "\n"
    "options:\n"
    "  --data PATH            interactions (any format `marquee data` reads, or a snapshot);\n"
    "                         repeat it to load several files as one data set (e.g. amazon-book\n"
    "                         train.txt and test.txt)\n"
    "  --format FMT           input format (auto, movielens, ml100k, mldat, lastfm, lines, events)\n"
    "  --protocol P           strong (default): held-out members, 80% of each one's positives\n"
    "                         folded in, 20% targets; temporal: a global time cutoff; loo: the\n"
    "                         latest positive of each member is the target\n"
    "  --models LIST          comma-separated: pop, trending, itemknn, ease, dlae, ials, content,\n"
    "                         hybrid, ranker (the second stage over its generators; temporal\n"
    "                         data; docs/models.md)\n"
    "  --seed S               split and training seed (default 1)\n"
    "  --param MODEL.NAME=V   a hyperparameter, e.g. ease.lambda=200 ials.factors=128 (repeatable)\n"
    "  --tune                 choose hyperparameters on the validation members (NDCG@100) from a\n"
    "                         small grid per model, then report test figures with the choice\n"
    "  --grid MODEL.NAME=V1,V2,...  replace the tuning grid of one hyperparameter (repeatable)\n"
    "  --refit                after choosing, train again on the training plus the validation\n"
    "                         members (all their positives) and test that model (default: test\n"
    "                         the model trained on the training members, as Liang et al. 2018)\n"
    "  --test-frac F          share of members held out for test (strong; default 0.1)\n"
    "  --val-frac F           share held out for validation (strong; default 0.1)\n"
    "  --threshold X|none     positives are values >= X (default: ratings >= 4 for explicit\n"
    "                         ratings, every pair with a positive value for implicit data)\n"
    "  --min-positives N      keep members with at least N positives (default 5)\n"
    "  --split DIR            evaluate on an explicit split: DIR/train.csv, test_in.csv,\n"
    "                         test_out.csv (member,title with a header), optional val_in.csv,\n"
    "                         val_out.csv\n"
    "  --write-split DIR      write the split used (same layout) before evaluating\n"
    "  --k LIST               cut-offs (default 10,20,50,100)\n"
    "  --threads N            threads for training and scoring (default: all cores)\n"
    "  --json                 one JSON object on stdout instead of the table\n"
    "  --write-features FILE  ranker: write its training and test feature rows (CSV with labels,\n"
    "                         groups and the catalog fingerprint) for other tools\n"
    "  --reliability FILE     ranker: write the test window's reliability diagram (CSV)\n"
    "  --naive-topk           benchmark: also evaluate the test members with a full sort per\n"
    "                         member instead of the size-k heap, and report its rate\n"
    "                         (naive_members_per_second; the figures must be identical)\n"
    "\n"
    "JSON: {\"models\": [{\"model\": \"ease\", \"params\": {...}, \"fit_seconds\": x,\n"
    "        \"eval_seconds\": x, \"members_per_second\": x, \"test\": {\"recall@20\": x,\n"
    "        \"recall@20_se\": x, ..., \"members\": n}, \"val\": {...}, \"tuning\": [...]}], ...}\n";

/* ---- models, parameters, scoring ------------------------------------------------------- */

typedef struct model_params {
    const char *kind;
    const char *p[MAX_PARAMS];   /* "name=value" */
    int n;
} model_params;

/* One tuned hyperparameter: its values as ready "name=value" strings. */
typedef struct grid_axis {
    char name[64];
    char nv[16][160];
    int n;
} grid_axis;

/* Default tuning grids: each axis is searched jointly (Cartesian product). */
typedef struct grid_default {
    const char *kind, *name, *values;
} grid_default;

static const grid_default default_grids[] = {
    {"ease", "lambda", "50,100,200,500,1000"},
    {"dlae", "lambda", "50,100,200,500"},
    {"dlae", "dropout", "0.25,0.33,0.5,0.67"},
    {"itemknn", "k", "50,100,200"},
    {"itemknn", "shrink", "0,10,100"},
    {"ials", "factors", "64,128,256"},         /* 256: +0.002-0.01 on ml-100k / Last.fm */
    {"ials", "reg", "0.003,0.01"},
    {"ials", "alpha0", "0.01,0.03,0.1,0.3"},   /* sparse data (amazon-book) wants 0.01 */
    {"trending", "half_life", "7,30,90,365"},
};

typedef struct scorer {
    const mq_model *m;
} scorer;

/* A block of members in one call: the model uses blocked matrix products where it can (iALS:
 * one sgemm); one thread inside, since the evaluation loop already runs one block per thread. */
static int model_score_batch(void *user, int n, const int64_t *ptr, const int32_t *idx,
                             float *scores, mq_err *err)
{
    const scorer *s = user;
    return mq_model_score_batch(s->m, n, ptr, idx, scores, 1, err);
}

/* ---- small output helpers (the CLI uses the public header only) -------------------------- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double x)
{
    if (!isfinite(x)) fputs("null", f);
    else fprintf(f, "%.10g", x);
}

/* "name=value" pairs as a JSON object; numeric values as numbers. */
static void json_params(FILE *f, const char *const *p, int n)
{
    fputc('{', f);
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(p[i], '=');
        char name[128];
        size_t l = eq ? (size_t)(eq - p[i]) : strlen(p[i]);
        if (l >= sizeof name) l = sizeof name - 1;
        memcpy(name, p[i], l);
        name[l] = 0;
        fprintf(f, "%s", i ? ", " : "");
        json_str(f, name);
        fputs(": ", f);
        double v;
        if (eq && mq_cli_parse_double(eq + 1, &v) == 0 && isfinite(v)) json_num(f, v);
        else json_str(f, eq ? eq + 1 : "");
    }
    fputc('}', f);
}

static void json_metrics(FILE *f, const mq_eval_result *r)
{
    fputc('{', f);
    for (int i = 0; i < r->n_metrics; i++) {
        const mq_eval_metric *m = &r->metrics[i];
        fprintf(f, "%s", i ? ", " : "");
        json_str(f, m->name);
        fputs(": ", f);
        json_num(f, m->mean);
        if (isfinite(m->se)) {
            fprintf(f, ", \"%s_se\": ", m->name);
            json_num(f, m->se);
        }
    }
    fprintf(f, "%s\"members\": %d}", r->n_metrics ? ", " : "", r->n_members);
}

/* ---- argument helpers --------------------------------------------------------------------- */

static int split_list(char *s, char **out, int max)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max) return -1;
        out[n++] = tok;
    }
    return n;
}

static const char *known_models[] = {"pop", "trending", "itemknn", "ease", "dlae", "ials",
                                     "content", "hybrid", "ranker"};

static bool known_model(const char *k)
{
    for (size_t i = 0; i < sizeof known_models / sizeof *known_models; i++)
        if (strcmp(k, known_models[i]) == 0) return true;
    return false;
}

/* Replaces or adds "name=value" in mp (strings must outlive mp). */
static int set_param(model_params *mp, const char *nv)
{
    const char *eq = strchr(nv, '=');
    size_t l = eq ? (size_t)(eq - nv) : strlen(nv);
    for (int i = 0; i < mp->n; i++)
        if (strncmp(mp->p[i], nv, l) == 0 && mp->p[i][l] == '=') {
            mp->p[i] = nv;
            return 0;
        }
    if (mp->n == MAX_PARAMS) return -1;
    mp->p[mp->n++] = nv;
    return 0;
}


static int cli_err(mq_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cli_err(mq_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

static void logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logline(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (mq_cli_log.fn) mq_cli_log.fn(mq_cli_log.user, line);
}

typedef struct run_ctx {
    const mq_split *split;
    const mq_dataset *train_data;   /* what train() fits on: split->train, or the refit data */
    int32_t n_titles;
    mq_eval_opts eo;
    int threads;
    uint64_t seed;
} run_ctx;

/* Trains mp on the training matrix; fit seconds in *fit. */
static int train(const run_ctx *rc, const model_params *mp, mq_model **out, double *fit,
                 mq_err *err)
{
    mq_train_opts to;
    memset(&to, 0, sizeof to);
    to.params = mp->p;
    to.n_params = mp->n;
    to.n_threads = rc->threads;
    to.seed = rc->seed;
    to.log = &mq_cli_log;
    double t0 = mq_now();
    int r = mq_model_train(mp->kind, rc->train_data, &to, out, err);
    *fit = mq_now() - t0;
    if (r == 0 && mq_model_n_titles(*out) != rc->n_titles) {
        int32_t got = mq_model_n_titles(*out);
        mq_model_destroy(*out);
        *out = NULL;
        return cli_err(err, MQ_EINVAL, "model %s has %d titles, the split %d", mp->kind, got,
                       rc->n_titles);
    }
    return r;
}

static int evaluate(const run_ctx *rc, const mq_model *m, const mq_heldout *h,
                    mq_eval_result *res, mq_err *err)
{
    scorer s = {m};
    return mq_eval_heldout_batch(model_score_batch, &s, rc->n_titles, h, &rc->eo, res, err);
}

static double metric(const mq_eval_result *r, const char *name)
{
    const mq_eval_metric *m = mq_eval_find(r, name);
    return m ? m->mean : NAN;
}

/* One model's report. The parameter strings point into argv or into axes. */
typedef struct model_report {
    model_params mp;
    grid_axis axes[8];
    int n_axes;
    double fit_seconds;
    mq_eval_result test, val;
    double naive_rate;           /* members/s of the full-sort baseline; 0 when not run */
    char canon[1024];            /* the trained model's full parameter text ("" if unknown) */
    bool has_val;
    int n_tried;
    char tried[MAX_GRID][256];
    double tried_ndcg[MAX_GRID];
    double tried_fit[MAX_GRID];
    char rank_json[4096];        /* ranker: calibration and generator comparison (JSON members) */
    mq_rank_report rank;
} model_report;

/* Grid search on the validation members by NDCG@100 (the largest cut-off's NDCG when 100 is
 * not among them); ties keep the earlier grid point. */
/* On success *best_model is the model trained with the chosen point (kept, so the test
 * evaluation does not train it again) and rep->fit_seconds its fit time. */
static int tune(const run_ctx *rc, model_report *rep, mq_model **best_model, mq_err *err)
{
    *best_model = NULL;
    if (rc->split->val.n == 0)
        return cli_err(err, MQ_EINVAL,
                       "--tune needs validation members: use --val-frac > 0 or a split with "
                       "val_in.csv and val_out.csv");
    int total = 1;
    for (int a = 0; a < rep->n_axes; a++) total *= rep->axes[a].n;
    if (total > MAX_GRID)
        return cli_err(err, MQ_EINVAL, "the tuning grid of %s has %d points (at most %d)",
                       rep->mp.kind, total, MAX_GRID);
    char key[32];
    snprintf(key, sizeof key, "ndcg@%d", rc->eo.ks[rc->eo.n_ks - 1]);
    if (rc->eo.n_ks == 4 && rc->eo.ks[3] == 100) snprintf(key, sizeof key, "ndcg@100");
    double best = -INFINITY;
    model_params best_mp = rep->mp;
    for (int g = 0; g < total; g++) {
        model_params mp = rep->mp;
        int rest = g;
        char label[256] = "";
        for (int a = 0; a < rep->n_axes; a++) {
            int vi = rest % rep->axes[a].n;
            rest /= rep->axes[a].n;
            if (set_param(&mp, rep->axes[a].nv[vi]))
                return cli_err(err, MQ_EINVAL, "too many parameters for %s", mp.kind);
            size_t ll = strlen(label);
            snprintf(label + ll, sizeof label - ll, "%s%s", ll ? " " : "", rep->axes[a].nv[vi]);
        }
        mq_model *m = NULL;
        double fit;
        int r = train(rc, &mp, &m, &fit, err);
        if (r) return r;
        mq_eval_result vr;
        r = evaluate(rc, m, &rc->split->val, &vr, err);
        if (r) {
            mq_model_destroy(m);
            mq_model_destroy(*best_model);
            *best_model = NULL;
            return r;
        }
        double nd = metric(&vr, key);
        snprintf(rep->tried[g], sizeof rep->tried[g], "%s", label);
        rep->tried_ndcg[g] = nd;
        rep->tried_fit[g] = fit;
        rep->n_tried = g + 1;
        logline("eval: tune %s %s: validation %s %.5f (fit %.2f s)", mp.kind, label, key, nd,
                fit);
        if (nd > best) {
            best = nd;
            best_mp = mp;
            rep->val = vr;
            rep->has_val = true;
            rep->fit_seconds = fit;
            mq_model_destroy(*best_model);
            *best_model = m;
        } else {
            mq_model_destroy(m);
        }
    }
    rep->mp = best_mp;
    return 0;
}

/* Builds the tuning axes of rep->mp.kind: the defaults, replaced by --grid entries, minus
 * parameters fixed with --param. */
static int build_axes(model_report *rep, char **grids, int n_grids, mq_err *err)
{
    const char *kind = rep->mp.kind;
    rep->n_axes = 0;
    char spec[8][512];
    char names[8][64];
    int n = 0;
    for (size_t i = 0; i < sizeof default_grids / sizeof *default_grids; i++) {
        if (strcmp(default_grids[i].kind, kind) != 0 || n == 8) continue;
        snprintf(names[n], sizeof names[n], "%s", default_grids[i].name);
        snprintf(spec[n], sizeof spec[n], "%s", default_grids[i].values);
        n++;
    }
    size_t kl = strlen(kind);
    for (int i = 0; i < n_grids; i++) {
        const char *g = grids[i];
        if (strncmp(g, kind, kl) != 0 || g[kl] != '.') continue;
        const char *eq = strchr(g, '=');
        char nm[64];
        snprintf(nm, sizeof nm, "%.*s", (int)(eq - g - (int)kl - 1), g + kl + 1);
        int j = 0;
        while (j < n && strcmp(names[j], nm) != 0) j++;
        if (j == n) {
            if (n == 8) return cli_err(err, MQ_EINVAL, "--grid: too many axes for %s", kind);
            snprintf(names[n], sizeof names[n], "%s", nm);
            n++;
        }
        snprintf(spec[j], sizeof spec[j], "%s", eq + 1);
    }
    for (int j = 0; j < n; j++) {
        bool fixed = false;
        size_t l = strlen(names[j]);
        for (int i = 0; i < rep->mp.n; i++)
            if (strncmp(rep->mp.p[i], names[j], l) == 0 && rep->mp.p[i][l] == '=') fixed = true;
        if (fixed) continue;
        grid_axis *ax = &rep->axes[rep->n_axes++];
        snprintf(ax->name, sizeof ax->name, "%s", names[j]);
        ax->n = 0;
        char *vals[16];
        int nv = split_list(spec[j], vals, 16);
        if (nv <= 0)
            return cli_err(err, MQ_EINVAL, "--grid %s.%s: 1 to 16 values expected", kind,
                           names[j]);
        for (int v = 0; v < nv; v++)
            snprintf(ax->nv[ax->n++], sizeof ax->nv[0], "%s=%s", names[j], vals[v]);
    }
    return 0;
}

/* ---- output ------------------------------------------------------------------------------- */

/* data: the --data paths (or the --split folder), joined by ", " when several. */
static void print_json(FILE *f, const char *const *data, int n_data, const char *protocol,
                       uint64_t seed, const mq_split *sp, int32_t n_ranked,
                       const mq_dataset *refit, model_report *reps, int n_reps)
{
    char joined[8192] = "";
    for (int i = 0; i < n_data; i++) {
        size_t l = strlen(joined);
        snprintf(joined + l, sizeof joined - l, "%s%s", i ? ", " : "", data[i]);
    }
    fprintf(f, "{\"data\": ");
    json_str(f, joined);
    fprintf(f, ", \"protocol\": ");
    json_str(f, protocol);
    fprintf(f, ", \"seed\": %llu, \"split\": {\"train_members\": %d, \"titles\": %d, "
               "\"ranked_titles\": %d, \"train_positives\": %lld, \"val_members\": %d, "
               "\"test_members\": %d}, \"refit\": %s",
            (unsigned long long)seed, sp->train->n_members, sp->train->n_titles, n_ranked,
            (long long)sp->train->nnz, sp->val.n, sp->test.n, refit ? "true" : "false");
    if (refit)
        fprintf(f, ", \"refit_members\": %d, \"refit_positives\": %lld", refit->n_members,
                (long long)refit->nnz);
    fprintf(f, ", \"models\": [");
    for (int i = 0; i < n_reps; i++) {
        model_report *r = &reps[i];
        fprintf(f, "%s\n  {\"model\": ", i ? "," : "");
        json_str(f, r->mp.kind);
        fprintf(f, ", \"params\": ");
        if (r->canon[0]) {
            /* Every parameter with its value, as the model reports them ("a=1 b=2"). */
            char buf[1024], *toks[MAX_PARAMS];
            int nt = 0;
            snprintf(buf, sizeof buf, "%s", r->canon);
            for (char *t = strtok(buf, " "); t && nt < MAX_PARAMS; t = strtok(NULL, " "))
                toks[nt++] = t;
            json_params(f, (const char *const *)toks, nt);
        } else {
            json_params(f, r->mp.p, r->mp.n);
        }
        fprintf(f, ", \"fit_seconds\": ");
        json_num(f, r->fit_seconds);
        fprintf(f, ", \"eval_seconds\": ");
        json_num(f, r->test.seconds);
        fprintf(f, ", \"members_per_second\": ");
        json_num(f, r->test.members_per_sec);
        if (r->naive_rate > 0) {
            fprintf(f, ", \"naive_members_per_second\": ");
            json_num(f, r->naive_rate);
        }
        fprintf(f, ",\n   \"test\": ");
        json_metrics(f, &r->test);
        if (r->has_val) {
            fprintf(f, ",\n   \"val\": ");
            json_metrics(f, &r->val);
        }
        if (r->n_tried > 0) {
            fprintf(f, ",\n   \"tuning\": [");
            for (int g = 0; g < r->n_tried; g++) {
                fprintf(f, "%s{\"params\": ", g ? ", " : "");
                json_str(f, r->tried[g]);
                fprintf(f, ", \"val_ndcg\": ");
                json_num(f, r->tried_ndcg[g]);
                fprintf(f, ", \"fit_seconds\": ");
                json_num(f, r->tried_fit[g]);
                fputc('}', f);
            }
            fputc(']', f);
        }
        if (r->rank_json[0]) fprintf(f, ",\n   %s", r->rank_json);
        fputc('}', f);
    }
    fprintf(f, "\n]}\n");
}

static void cell(FILE *f, const mq_eval_result *r, const char *name)
{
    const mq_eval_metric *m = mq_eval_find(r, name);
    if (!m || !isfinite(m->mean)) {
        fprintf(f, " %15s", "-");
        return;
    }
    char b[64];
    /* "±" is two bytes in UTF-8 and one column: pad one more byte to keep columns aligned. */
    if (isfinite(m->se)) {
        snprintf(b, sizeof b, "%.4f±%.4f", m->mean, m->se);
        fprintf(f, " %16s", b);
    } else {
        snprintf(b, sizeof b, "%.4f", m->mean);
        fprintf(f, " %15s", b);
    }
}

static void print_table(FILE *f, const run_ctx *rc, const mq_split *sp, model_report *reps,
                        int n_reps)
{
    fprintf(f, "train: %d members x %d titles, %lld positives; validation %d, test %d members\n",
            sp->train->n_members, sp->train->n_titles, (long long)sp->train->nnz, sp->val.n,
            sp->test.n);
    if (rc->train_data != sp->train)
        fprintf(f, "refit: tested models trained on %d members (training + validation), %lld "
                   "positives\n",
                rc->train_data->n_members, (long long)rc->train_data->nnz);
    fputc('\n', f);
    char cols[16][32];
    int nc = 0;
    int kmin = rc->eo.ks[0], kmax = rc->eo.ks[rc->eo.n_ks - 1];
    bool std_ks = rc->eo.n_ks == 4 && kmin == 10 && kmax == 100;
    if (std_ks) {
        snprintf(cols[nc++], 32, "recall@20");
        snprintf(cols[nc++], 32, "recall@50");
        snprintf(cols[nc++], 32, "ndcg@100");
        snprintf(cols[nc++], 32, "precision@10");
        snprintf(cols[nc++], 32, "map@100");
    } else {
        for (int i = 0; i < rc->eo.n_ks && nc < 8; i++) snprintf(cols[nc++], 32, "recall@%d", rc->eo.ks[i]);
        snprintf(cols[nc++], 32, "ndcg@%d", kmax);
    }
    snprintf(cols[nc++], 32, "mrr");
    snprintf(cols[nc++], 32, "auc");
    snprintf(cols[nc++], 32, "coverage@%d", kmax);
    fprintf(f, "%-10s %9s", "model", "fit s");
    for (int c = 0; c < nc; c++) fprintf(f, " %15s", cols[c]);
    fprintf(f, " %10s  params\n", "members/s");
    for (int i = 0; i < n_reps; i++) {
        model_report *r = &reps[i];
        fprintf(f, "%-10s %9.2f", r->mp.kind, r->fit_seconds);
        for (int c = 0; c < nc; c++) cell(f, &r->test, cols[c]);
        fprintf(f, " %10.0f  ", r->test.members_per_sec);
        if (r->canon[0]) fputs(r->canon, f);
        else
            for (int p = 0; p < r->mp.n; p++) fprintf(f, "%s%s", p ? " " : "", r->mp.p[p]);
        fputc('\n', f);
    }
    fprintf(f, "\n(test members: mean±standard error over %d members; fold-in titles never "
               "ranked)\n",
            n_reps ? reps[0].test.n_members : 0);
    for (int i = 0; i < n_reps; i++) {
        const mq_rank_report *k = &reps[i].rank;
        if (!reps[i].rank_json[0]) continue;
        fprintf(f, "ranker ndcg@%d %.4f; paired difference with each generator:", k->k_cmp, k->ndcg);
        for (int g = 0; g < k->n_generators; g++)
            fprintf(f, " %s %+.4f±%.4f", k->generators[g], k->delta[g], k->delta_se[g]);
        fprintf(f, "\nplay probability on the test window (%lld candidates, base rate %.4f): ECE "
                   "raw %.4f, platt %.4f, isotonic %.4f; log loss isotonic %.4f, Brier %.4f\n",
                (long long)k->n_pairs, k->base_rate, k->raw.ece, k->platt.ece, k->isotonic.ece,
                k->isotonic.log_loss, k->isotonic.brier);
    }
}

/* ---- refit data ---------------------------------------------------------------------------- */

/* Builds the training matrix plus every validation member (fold-in and targets, value 1, time
 * 0) for --refit. Title indices are those of tr (the title map is rebuilt in tr's order; the
 * catalog is copied), so models trained on it score the same title space. A validation member
 * whose id is also a training member's is an error (a split read from elsewhere could have
 * one): merging would double-count its positives. */
static int build_refit(const mq_dataset *tr, const mq_heldout *v, mq_dataset **out, mq_err *err)
{
    *out = NULL;
    int64_t nv = v->n ? v->in_ptr[v->n] + v->out_ptr[v->n] : 0, n = tr->nnz + nv;
    mq_idmap *mids = mq_idmap_create(), *tids = mq_idmap_create();
    mq_interaction *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    int rc = MQ_ENOMEM;
    if (!mids || !tids || !x) goto fail;
    for (int32_t t = 0; t < tr->n_titles; t++) {
        const char *name = mq_idmap_name(tr->title_ids, t);
        if (mq_idmap_intern(tids, name, strlen(name)) != t) goto fail;
    }
    int64_t k = 0;
    for (int32_t m = 0; m < tr->n_members; m++) {
        const char *name = mq_idmap_name(tr->member_ids, m);
        if (mq_idmap_intern(mids, name, strlen(name)) != m) goto fail;
        for (int64_t e = tr->m_ptr[m]; e < tr->m_ptr[m + 1]; e++)
            x[k++] = (mq_interaction){m, tr->m_idx[e], tr->m_val[e], 0, tr->m_time[e]};
    }
    for (int32_t i = 0; i < v->n; i++) {
        int32_t m = mq_idmap_intern(mids, v->member_ids[i], strlen(v->member_ids[i]));
        if (m < 0) goto fail;
        if (m < tr->n_members) {
            rc = cli_err(err, MQ_EINVAL, "--refit: validation member '%s' is also a training "
                                         "member", v->member_ids[i]);
            goto fail_quiet;
        }
        for (int64_t e = v->in_ptr[i]; e < v->in_ptr[i + 1]; e++)
            x[k++] = (mq_interaction){m, v->in_idx[e], 1.0f, 0, 0};
        for (int64_t e = v->out_ptr[i]; e < v->out_ptr[i + 1]; e++)
            x[k++] = (mq_interaction){m, v->out_idx[e], 1.0f, 0, 0};
    }
    mq_dataset *d = NULL;
    rc = mq_dataset_build(x, k, mids, tids, &d, err);   /* takes the maps, also on failure */
    mids = tids = NULL;
    free(x);
    x = NULL;
    if (rc) return rc;
    d->ratings = false;
    mq__catalog_release(&d->catalog);
    if (mq__catalog_copy(&d->catalog, &tr->catalog)) {
        mq_dataset_destroy(d);
        return cli_err(err, MQ_ENOMEM, "out of memory");
    }
    *out = d;
    return 0;
fail:
    rc = cli_err(err, MQ_ENOMEM, "out of memory");
fail_quiet:
    mq_idmap_destroy(mids);
    mq_idmap_destroy(tids);
    free(x);
    return rc;
}

/* ---- the command -------------------------------------------------------------------------- */

int mq_cli_eval(int argc, char **argv)
{
    const char *cmd = "eval";
    const char *data_paths[8];
    int n_data = 0;
    const char *data = NULL, *protocol = "strong", *split_dir = NULL, *write_dir = NULL;
    const char *format = "auto", *threshold_s = NULL;
    mq_rank_eval_opts reo = {NULL, NULL};
    char *models_arg = NULL, *ks_arg = NULL;
    char *params[MAX_PARAMS * 4], *grids[32];
    int n_params = 0, n_grids = 0;
    bool do_tune = false, json = false, naive = false, refit = false;
    long long seed = 1, threads = 0, min_pos = 5;
    double test_frac = 0.1, val_frac = 0.1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mq_cli_is_help(a)) {
            fputs(usage_text, stdout);
            return MQ_EXIT_OK;
        }
        bool has_val = i + 1 < argc;
        const char *v = has_val ? argv[i + 1] : NULL;
#define NEEDS_VALUE()                                                                  \
    do {                                                                               \
        if (!has_val) return mq_cli_usage_error(cmd, "option %s needs a value", a);    \
        i++;                                                                           \
    } while (0)
        if (strcmp(a, "--data") == 0) {
            NEEDS_VALUE();
            if (n_data == 8) return mq_cli_usage_error(cmd, "--data: at most 8 files");
            data_paths[n_data++] = v;
            data = v;
        }
        else if (strcmp(a, "--format") == 0) { NEEDS_VALUE(); format = v; }
        else if (strcmp(a, "--protocol") == 0) { NEEDS_VALUE(); protocol = v; }
        else if (strcmp(a, "--models") == 0) { NEEDS_VALUE(); models_arg = argv[i]; }
        else if (strcmp(a, "--split") == 0) { NEEDS_VALUE(); split_dir = v; }
        else if (strcmp(a, "--write-split") == 0) { NEEDS_VALUE(); write_dir = v; }
        else if (strcmp(a, "--write-features") == 0) { NEEDS_VALUE(); reo.features_csv = v; }
        else if (strcmp(a, "--reliability") == 0) { NEEDS_VALUE(); reo.reliability_csv = v; }
        else if (strcmp(a, "--threshold") == 0) { NEEDS_VALUE(); threshold_s = v; }
        else if (strcmp(a, "--k") == 0) { NEEDS_VALUE(); ks_arg = argv[i]; }
        else if (strcmp(a, "--tune") == 0) do_tune = true;
        else if (strcmp(a, "--refit") == 0) refit = true;
        else if (strcmp(a, "--json") == 0) json = true;
        else if (strcmp(a, "--naive-topk") == 0) naive = true;
        else if (strcmp(a, "--seed") == 0) {
            NEEDS_VALUE();
            if (mq_cli_parse_i64(v, &seed) || seed < 0)
                return mq_cli_usage_error(cmd, "--seed: '%s' is not a non-negative integer", v);
        } else if (strcmp(a, "--threads") == 0) {
            NEEDS_VALUE();
            if (mq_cli_parse_i64(v, &threads) || threads < 0 || threads > 256)
                return mq_cli_usage_error(cmd, "--threads: '%s' is not in [0, 256]", v);
        } else if (strcmp(a, "--min-positives") == 0) {
            NEEDS_VALUE();
            if (mq_cli_parse_i64(v, &min_pos) || min_pos < 1 || min_pos > 1000000)
                return mq_cli_usage_error(cmd, "--min-positives: '%s' is not in [1, 1e6]", v);
        } else if (strcmp(a, "--test-frac") == 0 || strcmp(a, "--val-frac") == 0) {
            NEEDS_VALUE();
            double x;
            if (mq_cli_parse_double(v, &x) || !(x >= 0 && x < 1))
                return mq_cli_usage_error(cmd, "%s: '%s' is not in [0, 1)", a, v);
            if (a[2] == 't') test_frac = x;
            else val_frac = x;
        } else if (strcmp(a, "--param") == 0 || strcmp(a, "--grid") == 0) {
            NEEDS_VALUE();
            const char *dot = strchr(v, '.'), *eq = strchr(v, '=');
            if (!dot || !eq || dot > eq || dot == v || eq == dot + 1 || !eq[1])
                return mq_cli_usage_error(cmd, "%s: '%s' is not MODEL.NAME=VALUE", a, v);
            if (a[2] == 'p') {
                if (n_params == (int)(sizeof params / sizeof *params))
                    return mq_cli_usage_error(cmd, "too many --param options");
                params[n_params++] = argv[i];
            } else {
                if (n_grids == (int)(sizeof grids / sizeof *grids))
                    return mq_cli_usage_error(cmd, "too many --grid options");
                grids[n_grids++] = argv[i];
            }
        } else {
            return mq_cli_usage_error(cmd, "unknown option '%s'", a);
        }
#undef NEEDS_VALUE
    }
    if (!models_arg) return mq_cli_usage_error(cmd, "--models is required");

    if (!data && !split_dir) return mq_cli_usage_error(cmd, "--data or --split is required");
    if (data && split_dir) return mq_cli_usage_error(cmd, "--data and --split exclude each other");
    int proto;
    if (strcmp(protocol, "strong") == 0) proto = MQ_SPLIT_STRONG;
    else if (strcmp(protocol, "temporal") == 0) proto = MQ_SPLIT_TEMPORAL;
    else if (strcmp(protocol, "loo") == 0) proto = MQ_SPLIT_LOO;
    else return mq_cli_usage_error(cmd, "--protocol: '%s' is not strong, temporal or loo", protocol);
    if (proto == MQ_SPLIT_STRONG && test_frac <= 0)
        return mq_cli_usage_error(cmd, "--test-frac must be > 0 for the strong protocol");
    if (test_frac + val_frac >= 1)
        return mq_cli_usage_error(cmd, "--test-frac + --val-frac must be < 1");

    /* Models and their parameters (reports are large: on the heap). */
    mq_err err = {0};
    mq_dataset *raw = NULL, *bin = NULL, *refit_data = NULL;
    mq_split sp;
    memset(&sp, 0, sizeof sp);
    bool have_split = false;
    int32_t *pop = NULL;
    uint8_t *rankable = NULL;
    int exit_code = MQ_EXIT_FAIL;
    model_report *reps = calloc(MAX_MODELS, sizeof *reps);
    if (!reps) {
        fprintf(stderr, "marquee eval: out of memory\n");
        return MQ_EXIT_FAIL;
    }
    int n_models = 0;
    char *mnames[MAX_MODELS];
    int nm = split_list(models_arg, mnames, MAX_MODELS);
    if (nm <= 0) {
        exit_code = mq_cli_usage_error(cmd, "--models: 1 to %d models expected", MAX_MODELS);
        goto done;
    }
    for (int i = 0; i < nm; i++) {
        if (!known_model(mnames[i])) {
            exit_code = mq_cli_usage_error(cmd, "--models: unknown model '%s' (pop, trending, "
                                                "itemknn, ease, dlae, ials, content, hybrid, "
                                                "ranker)",
                                           mnames[i]);
            goto done;
        }
        reps[n_models].mp.kind = mnames[i];
        n_models++;
    }
    if (reo.features_csv || reo.reliability_csv) {
        bool has_ranker = false;
        for (int i = 0; i < n_models; i++) has_ranker |= strcmp(reps[i].mp.kind, "ranker") == 0;
        if (!has_ranker) {
            exit_code = mq_cli_usage_error(cmd, "%s needs the ranker in --models",
                                           reo.features_csv ? "--write-features" : "--reliability");
            goto done;
        }
    }
    for (int i = 0; i < n_params + n_grids; i++) {
        const char *opt = i < n_params ? params[i] : grids[i - n_params];
        const char *dot = strchr(opt, '.');
        size_t l = (size_t)(dot - opt);
        bool used = false;
        for (int m = 0; m < n_models; m++)
            if (strlen(reps[m].mp.kind) == l && strncmp(reps[m].mp.kind, opt, l) == 0) {
                if (i < n_params && set_param(&reps[m].mp, dot + 1)) {
                    exit_code = mq_cli_usage_error(cmd, "too many parameters for %s",
                                                   reps[m].mp.kind);
                    goto done;
                }
                used = true;
            }
        if (!used) {
            exit_code = mq_cli_usage_error(cmd, "%s %s: model '%.*s' is not in --models",
                                           i < n_params ? "--param" : "--grid", opt, (int)l,
                                           opt);
            goto done;
        }
    }

    mq_eval_opts eo;
    mq_eval_opts_init(&eo);
    if (ks_arg) {
        char *kv[MQ_EVAL_MAX_K];
        int nk = split_list(ks_arg, kv, MQ_EVAL_MAX_K);
        if (nk <= 0) {
            exit_code = mq_cli_usage_error(cmd, "--k: 1 to %d cut-offs expected", MQ_EVAL_MAX_K);
            goto done;
        }
        for (int i = 0; i < nk; i++) {
            long long k;
            if (mq_cli_parse_i64(kv[i], &k) || k < 1 || k > 100000 || (i && k <= eo.ks[i - 1])) {
                exit_code = mq_cli_usage_error(cmd, "--k: '%s' is not an ascending cut-off in "
                                                    "[1, 100000]",
                                               kv[i]);
                goto done;
            }
            eo.ks[i] = (int)k;
        }
        eo.n_ks = nk;
    }
    eo.n_threads = (int)threads;
    eo.log = &mq_cli_log;

    if (split_dir) {
        if (mq_split_read(split_dir, &sp, &err)) goto fail;
        have_split = true;
    } else {
        mq_load_opts lo;
        memset(&lo, 0, sizeof lo);
        lo.format = mq_format_parse(format);
        if (lo.format < 0) {
            exit_code = mq_cli_usage_error(cmd, "--format: unknown format '%s'", format);
            goto done;
        }
        lo.log = &mq_cli_log;
        double t0 = mq_now();
        int lrc = n_data == 1 ? mq_data_open(data, &lo, &raw, &err)
                              : mq_data_load(data_paths, n_data, &lo, &raw, &err);
        if (lrc) goto fail;
        /* REFERENCES.md: explicit ratings >= 4 are positives, implicit data every pair with a
         * positive value (mq_data_positives knows which the loader read); --threshold X applies
         * value >= X to any data, --threshold none keeps every pair. */
        const char *rule;
        if (threshold_s) {
            double x;
            float thr;
            if (strcmp(threshold_s, "none") == 0) thr = -INFINITY;
            else if (mq_cli_parse_double(threshold_s, &x) == 0 && isfinite(x)) thr = (float)x;
            else {
                exit_code = mq_cli_usage_error(cmd, "--threshold: '%s' is not a number or none",
                                               threshold_s);
                goto done;
            }
            if (mq_dataset_binarize(raw, thr, (int)min_pos, &bin, &err)) goto fail;
            rule = isfinite(thr) ? "values >= --threshold" : "every pair";
        } else {
            if (mq_data_positives(raw, 4.0f, (int)min_pos, &bin, &err)) goto fail;
            rule = raw->ratings ? "ratings >= 4" : "every pair with a positive value";
        }
        logline("eval: %s: %d members x %d titles, %lld interactions -> %lld positives (%s), "
                "%d members with >= %lld; %.2f s",
                data, raw->n_members, raw->n_titles, (long long)raw->nnz, (long long)bin->nnz,
                rule, bin->n_members, min_pos, mq_now() - t0);
        mq_dataset_destroy(raw);
        raw = NULL;
        mq_split_opts so;
        memset(&so, 0, sizeof so);
        so.protocol = proto;
        so.seed = (uint64_t)seed;
        so.test_frac = test_frac;
        so.val_frac = val_frac;
        so.in_frac = 0.8;
        if (mq_split_make(bin, &so, &sp, &err)) goto fail;
        have_split = true;
    }
    if (write_dir) {
        if (mq_split_write(&sp, write_dir, &err)) goto fail;
        logline("eval: split written to %s", write_dir);
    }
    const mq_dataset *tr = sp.train;
    logline("eval: train %d members x %d titles, %lld positives; validation %d, test %d members",
            tr->n_members, tr->n_titles, (long long)tr->nnz, sp.val.n, sp.test.n);
    if (sp.test.n == 0) {
        cli_err(&err, MQ_EINVAL, "the split has no test members");
        goto fail;
    }
    if (refit) {
        if (sp.val.n == 0) {
            cli_err(&err, MQ_EINVAL, "--refit needs validation members: use --val-frac > 0 or a "
                                     "split with val_in.csv and val_out.csv");
            goto fail;
        }
        if (build_refit(tr, &sp.val, &refit_data, &err)) goto fail;
        logline("eval: refit on %d members (training + validation), %lld positives",
                refit_data->n_members, (long long)refit_data->nnz);
    }

    /* Title popularity among training members (novelty) and the ranked title set: the titles
     * some training member has (REFERENCES.md: the title set is the training members'). */
    pop = calloc((size_t)tr->n_titles + 1, sizeof *pop);
    rankable = calloc((size_t)tr->n_titles + 1, 1);
    if (!pop || !rankable) {
        cli_err(&err, MQ_ENOMEM, "out of memory");
        goto fail;
    }
    int32_t pop_members = 0;
    for (int32_t m = 0; m < tr->n_members; m++) pop_members += tr->m_ptr[m + 1] > tr->m_ptr[m];
    int32_t n_ranked = 0;
    for (int32_t t = 0; t < tr->n_titles; t++) {
        pop[t] = (int32_t)(tr->t_ptr[t + 1] - tr->t_ptr[t]);
        rankable[t] = pop[t] > 0;
        n_ranked += rankable[t];
    }
    eo.title_pop = pop;
    eo.n_pop_members = pop_members > 0 ? pop_members : 1;
    eo.rankable = rankable;
    if (tr->catalog.n_genres > 0 && tr->catalog.genres) eo.genres = tr->catalog.genres;

    run_ctx rc;
    memset(&rc, 0, sizeof rc);
    rc.split = &sp;
    rc.train_data = tr;
    rc.n_titles = tr->n_titles;
    rc.eo = eo;
    rc.threads = (int)threads;
    rc.seed = (uint64_t)seed;
    for (int i = 0; i < n_models; i++) {
        model_report *r = &reps[i];
        mq_model *m = NULL;
        if (do_tune) {
            if (build_axes(r, grids, n_grids, &err)) goto fail;
            if (r->n_axes > 0 && tune(&rc, r, &m, &err)) goto fail;
        }
        if (!m && !refit && train(&rc, &r->mp, &m, &r->fit_seconds, &err)) goto fail;
        if (refit) {
            /* The chosen point (or the given parameters) once more on train + validation. */
            mq_model_destroy(m);
            m = NULL;
            run_ctx frc = rc;
            frc.train_data = refit_data;
            if (train(&frc, &r->mp, &m, &r->fit_seconds, &err)) goto fail;
        }
        snprintf(r->canon, sizeof r->canon, "%s", mq_model_params(m));
        int e;
        if (mq_rank_is_ranker(m)) {
            /* The ranker reads the histories' timestamps and adds calibration figures. */
            e = mq_rank_evaluate(m, rc.train_data, &sp.test, &rc.eo, &reo, &r->test, &r->rank,
                                 &err);
            if (e == 0 && mq_rank_report_json(&r->rank, r->rank_json, sizeof r->rank_json) < 0)
                r->rank_json[0] = 0;
        } else {
            e = evaluate(&rc, m, &sp.test, &r->test, &err);
        }
        if (e == 0 && naive) {
            /* Same scorer, same members: only the top-k selection differs. */
            run_ctx nrc = rc;
            nrc.eo.naive_topk = true;
            mq_eval_result nr;
            e = evaluate(&nrc, m, &sp.test, &nr, &err);
            if (e == 0) {
                r->naive_rate = nr.members_per_sec;
                const mq_eval_metric *a = mq_eval_find(&r->test, "ndcg@100"),
                                     *b2 = mq_eval_find(&nr, "ndcg@100");
                if (a && b2 && a->mean != b2->mean)
                    e = cli_err(&err, MQ_EINVAL, "naive and heap top-k disagree (%.17g vs %.17g)",
                                a->mean, b2->mean);
            }
        }
        mq_model_destroy(m);
        if (e) goto fail;
        logline("eval: %s: fit %.2f s; test recall@20 %.4f recall@50 %.4f ndcg@100 %.4f; "
                "%.0f members/s",
                r->mp.kind, r->fit_seconds, metric(&r->test, "recall@20"),
                metric(&r->test, "recall@50"), metric(&r->test, "ndcg@100"),
                r->test.members_per_sec);
    }
    if (refit_data) rc.train_data = refit_data;   /* the table names what was tested */
    if (json) print_json(stdout, split_dir ? &split_dir : data_paths, split_dir ? 1 : n_data,
                         split_dir ? "split" : protocol,
                         (uint64_t)seed, &sp, n_ranked, refit_data, reps, n_models);
    else print_table(stdout, &rc, &sp, reps, n_models);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_err(&err, MQ_EIO, "writing the results: %s", strerror(errno));
        goto fail;
    }
    exit_code = MQ_EXIT_OK;
    goto done;
fail:
    exit_code = mq_cli_fail(cmd, &err);
done:
    free(reps);
    free(pop);
    free(rankable);
    if (have_split) mq_split_release(&sp);
    mq_dataset_destroy(refit_data);
    mq_dataset_destroy(bin);
    mq_dataset_destroy(raw);
    return exit_code;
}
