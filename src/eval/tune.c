/* tune.c: hyperparameter search on validation members, with edge extension; and the refit
 * data (training plus validation members) for testing a chosen point trained on more data.
 *
 * The search (mq_eval_tune, contract in marquee/eval.h) first walks the Cartesian product of
 * the axes in a fixed order (the first axis varies fastest), training each point on the
 * training matrix and scoring the validation members with mq_eval_heldout_batch; the best
 * validation metric wins, ties keep the earlier point. A grid says nothing about what lies
 * beyond its edges, and on an unseen dataset the best point often sits on one (iALS at a
 * corner, DLAE at its largest dropout). So, while the best point's value on a numeric axis is
 * that axis's lowest or highest value, the axis is extended one geometric step past that edge,
 * v_new = v_edge^2 / v_neighbour (the ratio of the two outermost values, kept constant), and
 * the new value is trained with the other axes at the best point (a line search, not a new
 * product, so each step costs one training). The loop re-reads the best point after every
 * step and ends when no best value sits on an extendable edge: the optimum has become
 * interior, or an edge hit its budget (max_extend steps per side, default 3) or a bound (a
 * step that would reach a value <= 0, an integer step that rounds back to the edge, or a value
 * the model rejects with MQ_EINVAL or MQ_ERANGE, such as dropout > 0.99). At most 8 axes x 2 sides x
 * max_extend extra trainings.
 *
 * Memory: the result holds every point tried (MQ_TUNE_MAX_POINTS) and owns the best model
 * until the caller takes it. Deterministic: training uses the given seed, and the order of
 * points depends only on the metric values. */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The built-in grids (docs/eval.md): each kind's axes are searched jointly. */
static const struct {
    const char *kind, *name, *values;
} default_grids[] = {
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

enum { MAX_GRID = 64, DEFAULT_EXTEND = 3 };

static bool parse_num(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool is_integer_text(const char *s)
{
    if (*s == '-' || *s == '+') s++;
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* Fills axis from "v1,v2,..." (1 to 16 values, each at most 31 characters). */
static int axis_from_spec(mq_tune_axis *ax, const char *kind, const char *name, const char *spec,
                          mq_err *err)
{
    memset(ax, 0, sizeof *ax);
    if (strlen(name) >= sizeof ax->name)
        return mq__err_set(err, MQ_EINVAL, "--grid %s.%s: name too long", kind, name);
    snprintf(ax->name, sizeof ax->name, "%s", name);
    ax->numeric = true;
    for (const char *p = spec; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == 0 || l >= sizeof ax->values[0] || ax->n == 16)
            return mq__err_set(err, MQ_EINVAL, "--grid %s.%s=%s: 1 to 16 values of at most 31 "
                               "characters expected", kind, name, spec);
        memcpy(ax->values[ax->n], p, l);
        ax->values[ax->n][l] = 0;
        double v;
        ax->numeric &= parse_num(ax->values[ax->n], &v);
        ax->n++;
        p = c ? c + 1 : p + l;
        if (c && !c[1])
            return mq__err_set(err, MQ_EINVAL, "--grid %s.%s=%s: empty value", kind, name, spec);
    }
    if (ax->n == 0) return mq__err_set(err, MQ_EINVAL, "--grid %s.%s: no values", kind, name);
    ax->n_grid = ax->n;
    return 0;
}

int mq_eval_tune_axes(const char *kind, const char *const *grid_specs, int n_specs,
                      const char *const *fixed, int n_fixed, mq_tune_axis *axes, int *n_axes,
                      mq_err *err)
{
    char names[MQ_TUNE_MAX_AXES][48];
    const char *specs[MQ_TUNE_MAX_AXES];
    int n = 0;
    *n_axes = 0;
    for (size_t i = 0; i < sizeof default_grids / sizeof *default_grids; i++) {
        if (strcmp(default_grids[i].kind, kind) != 0) continue;
        snprintf(names[n], sizeof names[n], "%s", default_grids[i].name);
        specs[n++] = default_grids[i].values;
    }
    for (int i = 0; i < n_specs; i++) {
        const char *eq = strchr(grid_specs[i], '=');
        size_t l = eq ? (size_t)(eq - grid_specs[i]) : 0;
        if (!eq || l == 0 || l >= sizeof names[0] || !eq[1])
            return mq__err_set(err, MQ_EINVAL, "--grid %s.%s: expected NAME=V1,V2,...", kind,
                               grid_specs[i]);
        int j = 0;
        while (j < n && !(strlen(names[j]) == l && strncmp(names[j], grid_specs[i], l) == 0)) j++;
        if (j == n) {
            if (n == MQ_TUNE_MAX_AXES)
                return mq__err_set(err, MQ_EINVAL, "--grid: more than %d axes for %s",
                                   MQ_TUNE_MAX_AXES, kind);
            snprintf(names[n++], sizeof names[0], "%.*s", (int)l, grid_specs[i]);
        }
        specs[j] = eq + 1;
    }
    for (int j = 0; j < n; j++) {
        size_t l = strlen(names[j]);
        bool is_fixed = false;
        for (int i = 0; i < n_fixed; i++)
            is_fixed |= strncmp(fixed[i], names[j], l) == 0 && fixed[i][l] == '=';
        if (is_fixed) continue;
        int rc = axis_from_spec(&axes[*n_axes], kind, names[j], specs[j], err);
        if (rc) return rc;
        (*n_axes)++;
    }
    return 0;
}

/* ---- the search ------------------------------------------------------------------------- */

typedef struct search {
    const mq_tune_opts *o;
    const mq_dataset *train;
    const mq_heldout *val;
    mq_tune_result *res;
    int idx[MQ_TUNE_MAX_POINTS][MQ_TUNE_MAX_AXES];   /* each point's value index per axis */
} search;

static int score_batch(void *user, int n, const int64_t *ptr, const int32_t *idx, float *scores,
                       mq_err *err)
{
    return mq_model_score_batch(user, n, ptr, idx, scores, 1, err);
}

/* Trains and scores the point with value indices at[], appending it to res->points. On
 * success the model is kept as res->model when the point is the new best. */
static int try_point(search *s, const int *at, bool extension, mq_err *err)
{
    mq_tune_result *r = s->res;
    const mq_tune_opts *o = s->o;
    if (r->n_points == MQ_TUNE_MAX_POINTS)
        return mq__err_set(err, MQ_EINVAL, "tune: more than %d points", MQ_TUNE_MAX_POINTS);
    const char *params[64 + MQ_TUNE_MAX_AXES];
    char nv[MQ_TUNE_MAX_AXES][96];
    int np = 0;
    for (int i = 0; i < o->n_fixed && np < 64; i++) params[np++] = o->fixed[i];
    mq_tune_point *pt = &r->points[r->n_points];
    memset(pt, 0, sizeof *pt);
    for (int a = 0; a < r->n_axes; a++) {
        snprintf(nv[a], sizeof nv[a], "%s=%s", r->axes[a].name, r->axes[a].values[at[a]]);
        params[np++] = nv[a];
        size_t l = strlen(pt->params);
        snprintf(pt->params + l, sizeof pt->params - l, "%s%s", l ? " " : "", nv[a]);
    }
    mq_train_opts to;
    mq_train_opts_init(&to, sizeof to);
    to.params = params;
    to.n_params = np;
    to.n_threads = o->n_threads;
    to.seed = o->seed;
    to.log = o->log;
    mq_model *m = NULL;
    double t0 = mq_now();
    int rc = mq_model_train(o->kind, s->train, &to, &m, err);
    double fit = mq_now() - t0;
    if (rc) return rc;
    if (mq_model_n_titles(m) != s->train->n_titles) {
        int32_t got = mq_model_n_titles(m);
        mq_model_destroy(m);
        return mq__err_set(err, MQ_ECORRUPT, "model %s has %d titles, the training data %d",
                           o->kind, got, s->train->n_titles);
    }
    mq_eval_result vr;
    rc = mq_eval_heldout_batch(score_batch, m, s->train->n_titles, s->val, o->eval, &vr, err);
    if (rc) {
        mq_model_destroy(m);
        return rc;
    }
    const mq_eval_metric *met = mq_eval_find(&vr, o->metric);
    if (!met) {
        mq_model_destroy(m);
        return mq__err_set(err, MQ_EINVAL, "tune: metric '%s' is not computed (see --k)", o->metric);
    }
    pt->value = met->mean;
    pt->fit_seconds = fit;
    pt->extension = extension;
    memcpy(s->idx[r->n_points], at, sizeof s->idx[0]);
    mq__logf(o->log, "eval: tune %s %s: validation %s %.5f (fit %.2f s)%s", o->kind, pt->params,
             o->metric, pt->value, fit, extension ? " [edge extension]" : "");
    if (r->n_points == 0 || pt->value > r->points[r->best].value) {
        r->best = r->n_points;
        r->val = vr;
        r->fit_seconds = fit;
        mq_model_destroy(r->model);
        r->model = m;
    } else {
        mq_model_destroy(m);
    }
    r->n_points++;
    return 0;
}

/* Value indices of axis ax's lowest and highest values (numeric axes). */
static void axis_range(const mq_tune_axis *ax, int *lo, int *hi)
{
    *lo = *hi = 0;
    double vlo = INFINITY, vhi = -INFINITY, v;
    for (int i = 0; i < ax->n; i++) {
        if (!parse_num(ax->values[i], &v)) continue;
        if (v < vlo) vlo = v, *lo = i;
        if (v > vhi) vhi = v, *hi = i;
    }
}

/* The value one geometric step past the edge value index e of ax (side -1 low, +1 high), as
 * text in out; false when there is none (a bound). */
static bool next_value(const mq_tune_axis *ax, int e, int side, char *out, size_t cap)
{
    double ve, vn = side > 0 ? -INFINITY : INFINITY, v;
    if (!parse_num(ax->values[e], &ve)) return false;
    for (int i = 0; i < ax->n; i++) {   /* the neighbour: the nearest value inward */
        if (i == e || !parse_num(ax->values[i], &v)) continue;
        if (side > 0 ? (v < ve && v > vn) : (v > ve && v < vn)) vn = v;
    }
    if (!isfinite(vn) || ve <= 0 || vn <= 0) return false;
    double nx = ve * ve / vn;
    bool integer = true;
    for (int i = 0; i < ax->n_grid; i++) integer &= is_integer_text(ax->values[i]);
    if (integer) {
        nx = side > 0 ? ceil(nx) : floor(nx);
        if (nx == ve || nx <= 0 || nx > 1e15) return false;
        snprintf(out, cap, "%lld", (long long)nx);
    } else {
        if (!(nx > 0) || !isfinite(nx)) return false;
        snprintf(out, cap, "%.6g", nx);
    }
    for (int i = 0; i < ax->n; i++)
        if (strcmp(ax->values[i], out) == 0) return false;
    return true;
}

/* Extends edges while the best point sits on one (see the top of the file). */
static int extend_edges(search *s, int max_extend, bool *bound, mq_err *err)
{
    mq_tune_result *r = s->res;
    for (;;) {
        bool stepped = false;
        for (int a = 0; a < r->n_axes && !stepped; a++) {
            mq_tune_axis *ax = &r->axes[a];
            if (!ax->numeric || ax->n_grid < 2) continue;
            int lo, hi, at = s->idx[r->best][a];
            axis_range(ax, &lo, &hi);
            int side = at == hi ? 1 : at == lo ? -1 : 0;
            if (side == 0 || bound[2 * a + (side > 0)]) continue;
            int *steps = side > 0 ? &ax->extended_high : &ax->extended_low;
            if (*steps >= max_extend || ax->n == MQ_TUNE_MAX_VALUES ||
                r->n_points == MQ_TUNE_MAX_POINTS)
                continue;
            if (!next_value(ax, at, side, ax->values[ax->n], sizeof ax->values[0])) {
                bound[2 * a + (side > 0)] = true;
                continue;
            }
            int pt[MQ_TUNE_MAX_AXES];
            memcpy(pt, s->idx[r->best], sizeof pt);
            pt[a] = ax->n++;
            mq_err e2 = {0, ""};
            int rc = try_point(s, pt, true, &e2);
            if (rc == MQ_EINVAL || rc == MQ_ERANGE) {   /* the model rejects the value: its bound */
                mq__logf(s->o->log, "eval: tune %s: %s=%s is rejected (%s): the optimum sits on "
                         "the parameter's bound", s->o->kind, ax->name, ax->values[ax->n - 1],
                         e2.msg);
                ax->n--;
                bound[2 * a + (side > 0)] = true;
                continue;
            }
            if (rc) {
                if (err) *err = e2;
                return rc;
            }
            (*steps)++;
            stepped = true;
        }
        if (!stepped) return 0;
    }
}

void mq_tune_opts_init(mq_tune_opts *o, size_t size)
{
    mq_tune_opts d;
    memset(&d, 0, sizeof d);
    d.max_extend = -1;
    mq__opts_fill(o, size, &d, sizeof d);   /* struct_size: src/core/opts.c */
}

int mq_eval_tune(const mq_tune_opts *o, const mq_dataset *train, const mq_heldout *val,
                 const mq_tune_axis *axes, int n_axes, mq_tune_result *res, mq_err *err)
{
    memset(res, 0, sizeof *res);
    mq_tune_opts ov;
    int orc = MQ__OPTS_GET(mq_tune_opts, &ov, o, err);
    if (orc) return orc;
    if (o) o = &ov;
    if (!o || !o->kind || !o->metric || !o->eval || !train || !val || n_axes < 0 ||
        n_axes > MQ_TUNE_MAX_AXES)
        return mq__err_set(err, MQ_EINVAL, "mq_eval_tune: bad arguments");
    if (val->n == 0)
        return mq__err_set(err, MQ_EINVAL, "--tune needs validation members: use --val-frac > 0 "
                           "or a split with val_in.csv and val_out.csv");
    int total = 1;
    for (int a = 0; a < n_axes; a++) {
        if (axes[a].n < 1 || axes[a].n > MQ_TUNE_MAX_VALUES)
            return mq__err_set(err, MQ_EINVAL, "mq_eval_tune: axis %d has %d values", a, axes[a].n);
        total *= axes[a].n;
        if (total > MAX_GRID)
            return mq__err_set(err, MQ_EINVAL, "the tuning grid of %s has more than %d points",
                               o->kind, MAX_GRID);
    }
    search *s = calloc(1, sizeof *s);
    if (!s) return mq__err_set(err, MQ_ENOMEM, "tune: out of memory");
    s->o = o;
    s->train = train;
    s->val = val;
    s->res = res;
    memcpy(res->axes, axes, (size_t)n_axes * sizeof *axes);
    res->n_axes = n_axes;
    for (int a = 0; a < n_axes; a++) {
        res->axes[a].n_grid = res->axes[a].n;
        res->axes[a].extended_low = res->axes[a].extended_high = 0;
    }
    int rc = 0;
    for (int g = 0; g < total && !rc; g++) {
        int at[MQ_TUNE_MAX_AXES] = {0};
        for (int a = 0, rest = g; a < n_axes; a++) {
            at[a] = rest % res->axes[a].n;
            rest /= res->axes[a].n;
        }
        rc = try_point(s, at, false, err);
    }
    bool bound[2 * MQ_TUNE_MAX_AXES] = {false};
    int max_extend = o->max_extend < 0 ? DEFAULT_EXTEND : o->max_extend;
    if (!rc) rc = extend_edges(s, max_extend, bound, err);
    if (rc) {
        mq_model_destroy(res->model);
        res->model = NULL;
        free(s);
        return rc;
    }
    res->interior = true;
    for (int a = 0; a < n_axes; a++) {
        mq_tune_axis *ax = &res->axes[a];
        ax->best = s->idx[res->best][a];
        char nv[sizeof res->best_params[a]];   /* name (< 48) '=' value (< 32): always fits */
        snprintf(nv, sizeof nv, "%s=%s", ax->name, ax->values[ax->best]);
        memcpy(res->best_params[a], nv, sizeof nv);
        ax->edge = 0;
        ax->stop = NULL;
        if (!ax->numeric || ax->n < 2) continue;
        int lo, hi;
        axis_range(ax, &lo, &hi);
        ax->edge = ax->best == hi ? 1 : ax->best == lo ? -1 : 0;
        if (ax->edge) {
            res->interior = false;
            ax->stop = bound[2 * a + (ax->edge > 0)] ? "bound" : "max_extend";
        }
    }
    free(s);
    return 0;
}

/* ---- refit data ------------------------------------------------------------------------- */

int mq_eval_refit_data(const mq_dataset *tr, const mq_heldout *v, mq_dataset **out, mq_err *err)
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
            rc = mq__err_set(err, MQ_EINVAL, "--refit: validation member '%s' is also a "
                             "training member", v->member_ids[i]);
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
    mq_catalog_release(&d->catalog);
    if (mq_catalog_copy(&d->catalog, &tr->catalog)) {
        mq_dataset_destroy(d);
        return mq__err_set(err, MQ_ENOMEM, "out of memory");
    }
    *out = d;
    return 0;
fail:
    rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
fail_quiet:
    mq_idmap_destroy(mids);
    mq_idmap_destroy(tids);
    free(x);
    return rc;
}
