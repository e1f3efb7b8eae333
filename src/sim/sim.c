/* sim.c: the member simulator (docs/sim.md gives the behaviour model with its equations).
 *
 * World: the dataset, the models (NAME.mqm in --models; trained from the scenario when
 * missing), the server's experiments loader (mq__xps_load: the same treatments and hash
 * assignment the server uses), one page catalog built as the server builds it without pop.mqm
 * (popularity = positives per title; trending = popularity, held fixed), and the truth: an
 * iALS fit (keep_members=1) whose member factors W and title factors H define tastes.
 *
 * Members: member i copies the factors of a random training member plus Gaussian noise; the
 * true affinity of i for title t is a = logistic(beta z + gamma q_t + sigma eps_it - bias)
 * with z the dot product standardized over the population and eps_it a normal deviate hashed
 * from (member seed, t): fixed per pair, so every run and every variant sees the same tastes.
 *
 * A run simulates every member for D days, members in parallel (mq__parallel_for; each worker
 * has its own page context and scratch), each member on random streams seeded by (seed,
 * member, day, visit): the counterfactual runs (every eligible member forced into one variant)
 * share these common random numbers with the A/B run, so the differences between them are the
 * treatments' and not the dice's. A visit is: assignment (mq__xps_assign at the simulated
 * time), history from the member's state, scores by mq_model_score_top of the treatment's
 * model, mq_page_build, then the cascade over rows and titles; each event is folded into the
 * member's state by mq_member_state_apply (what the store does for the server), carrying the
 * page id, row and position.
 */
#include "marquee.h"
#include "sim/sim.h"
#include "models/model.h"   /* the truth model's factors (documented exception: docs/ARCHITECTURE.md) */
#include "serve/serve.h"  /* the server's own assignment and exposure log, in-process */

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sched.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DAY 86400LL
#define SIM_EPOCH 1767225600LL   /* 2026-01-01T00:00:00Z: day 0 of every simulation */

/* ---- pure pieces ---- */

double mq__sim_affinity(const mq_sim_params *p, double z, double quality, double eps)
{
    double x = p->affinity_scale * z + p->quality_weight * quality + p->affinity_noise * eps - p->affinity_bias;
    return 1.0 / (1.0 + exp(-x));
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

double mq__sim_pair_noise(uint64_t seed, int32_t t)
{
    uint64_t h = mix(seed ^ mix((uint64_t)(uint32_t)t + 0x51ULL));
    double u1 = ((double)(h >> 11) + 0.5) * 0x1.0p-53;
    double u2 = ((double)(mix(h) >> 11) + 0.5) * 0x1.0p-53;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static double logistic(double x) { return 1.0 / (1.0 + exp(-x)); }

double mq__sim_artwork_factor(const mq_sim_params *p, uint64_t member_seed, const char *features)
{
    if (!features || !*features || (p->artwork_weight == 0 && p->artwork_common == 0)) return 1.0;
    double sum = 0;
    int n = 0;
    for (const char *s = features; *s;) {
        size_t len = strcspn(s, ";");
        if (len > 0) {
            uint32_t h = mq_crc32c(0, s, len);
            sum += p->artwork_weight * mq__sim_pair_noise(member_seed ^ 0x61727477ULL, (int32_t)h);
            /* the tag's population-wide effect: the same deviate for every member and run */
            if (p->artwork_common != 0) sum += p->artwork_common * mq__sim_pair_noise(0x636f6d6d6f6eULL, (int32_t)h);
            n++;
        }
        s += len + (s[len] == ';');
    }
    return n ? exp(sum / n) : 1.0;
}

const char *mq__sim_artwork_features(const mq_catalog *c, int32_t j, const char *id)
{
    if (!c->art_ptr || j < 0 || j >= c->n_titles) return NULL;
    for (int64_t k = c->art_ptr[j]; k < c->art_ptr[j + 1]; k++)
        if (!strcmp(c->art_ids[k], id)) return c->art_features[k];
    return NULL;
}

static void stream(mq_rng *r, uint64_t seed, uint64_t member, uint64_t day, uint64_t visit)
{
    mq_rng_seed(r, mix(seed ^ mix(member ^ mix(day * 1000003ULL + visit))));
}

static int poisson(mq_rng *r, double lambda)
{
    double L = exp(-lambda), p = 1;
    int k = 0;
    do { k++; p *= mq_rng_uniform(r); } while (p > L && k < 1000);
    return k - 1;
}

/* ---- world ---- */

/* A title's similar list, as the server keeps it (http.c: the model's best SIM_N with their
 * scores), so a page built here is the page the server builds. */
#define SIM_N 200
typedef struct simlist { int n; int32_t t[SIM_N]; float s[SIM_N]; } simlist;

typedef struct simcache {
    const mq_model *m;
    _Atomic(simlist *) *list;   /* [n_titles], each computed on first use */
    int32_t n_titles;
} simcache;

typedef struct member {
    uint64_t seed;
    int32_t src;                /* the training member whose factors and history it starts from */
    double lambda, title_pat, row_pat, hazard;
    int device, hour;
    bool eligible[MQ_SIM_MAX_EXPS];
    char id[24];
} member;

typedef struct unit {
    bool exposed;
    int variant;
    long long first;
    int pages, plays, finishes, active_days, retained, pre_plays;
    double seconds, pre_seconds;
} unit;

typedef struct world {
    const mq_sim_opts *o;
    const mq_sim_params *P;
    mq_dataset *d;
    int n_models;
    mq_model *models[MQ_SIM_MAX_MODELS];
    char model_names[MQ_SIM_MAX_MODELS][64];
    simcache sims[MQ_SIM_MAX_MODELS];
    int32_t n_titles;
    const char **ids;
    mq_page_catalog pc;
    bool has_pc;
    mq__xps xps;
    bool has_xps;
    mq_sim_treat vtreat[MQ_SIM_MAX_EXPS][MQ_SIM_MAX_VARIANTS];
    bool vchanged[MQ_SIM_MAX_EXPS][MQ_SIM_MAX_VARIANTS];
    int kp;
    float *H;                   /* [n_titles x kp] truth title factors in main's title order */
    float *U;                   /* [members x kp] members' true factors */
    float *quality;             /* [n_titles] */
    int32_t *ds2m;              /* [dataset titles] -> main's title index, -1 if absent */
    int32_t *m2ds;              /* [n_titles] main's title -> dataset title, -1 if absent */
    double mu, sd;
    member *m;                  /* [members] */
    int n_exps;
    /* in-process artwork (a variant with "artwork_policy"; sim_artwork section below) */
    mq_art_space *asp;
    double art_linucb;          /* the LinUCB arm's alpha (0: default), for the OPE file */
    double art_acc[MQ_POLICY_FIXED + 1][4];   /* the last run, per policy: impressions, examined,
                                               * clicks, expected clicks */
    double art_ope[3];          /* the last run's egreedy pages: rows, LinUCB's and fixed's true value */
    double *art_mem;            /* [members x 2] the last run, per member: impressions, expected
                                 * clicks (a member is simulated by one thread at a time) */
} world;

static int sim_cb(void *user, int32_t t, int n, int32_t *out, float *score)
{
    simcache *c = user;
    if (t < 0 || t >= c->n_titles) return 0;
    simlist *l = atomic_load_explicit(&c->list[t], memory_order_acquire);
    if (!l) {
        simlist *nl = malloc(sizeof *nl);
        if (!nl) return 0;
        int got = mq_model_similar(c->m, t, SIM_N, nl->t, nl->s, NULL);
        nl->n = got > 0 ? got : 0;
        simlist *expect = NULL;
        if (atomic_compare_exchange_strong(&c->list[t], &expect, nl)) l = nl;
        else { free(nl); l = expect; }
    }
    int k = MQ_MIN(n, l->n);
    memcpy(out, l->t, (size_t)k * sizeof *out);
    memcpy(score, l->s, (size_t)k * sizeof *score);
    return k;
}

/* mkdir -p (errors show up when the first file is written there) */
static void mkdirs(const char *dir)
{
    char p[4200];
    snprintf(p, sizeof p, "%s", dir);
    for (char *q = p + 1; *q; q++)
        if (*q == '/') { *q = 0; mkdir(p, 0777); *q = '/'; }
    mkdir(p, 0777);
}

static int model_slot(const world *w, const char *name)
{
    for (int i = 0; i < w->n_models; i++)
        if (!strcmp(w->model_names[i], name)) return i;
    return -1;
}

/* Loads NAME.mqm from the models directory, or trains it from the scenario and saves it. */
static int get_model(world *w, const char *name, mq_err *err)
{
    if (model_slot(w, name) >= 0) return 0;
    if (w->n_models == MQ_SIM_MAX_MODELS) return mq__err_set(err, MQ_EINVAL, "sim: more than %d models", MQ_SIM_MAX_MODELS);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.mqm", w->o->models, name);
    mq_model *m = NULL;
    struct stat st;
    int rc;
    if (stat(path, &st) == 0) {
        rc = mq_model_load(path, &m, err);
    } else {
        const mq_sim_scenario *sc = w->o->scenario;
        int k = -1;
        for (int i = 0; sc && i < sc->n_models && k < 0; i++)
            if (!strcmp(sc->model_name[i], name)) k = i;
        if (k < 0) return mq__err_set(err, MQ_EINVAL, "sim: model '%s' is not in %s and the scenario does not define it", name, w->o->models);
        const char *pp[16];
        for (int j = 0; j < sc->model_n_params[k]; j++) pp[j] = sc->model_params[k][j];
        mq_train_opts to; mq_train_opts_init(&to, sizeof to);
        to.params = pp, to.n_params = sc->model_n_params[k], to.n_threads = w->o->threads, to.seed = w->o->seed;
        mq__logf(w->o->log, "sim: training model '%s' (%s) into %s", name, sc->model_kind[k], path);
        rc = mq_model_train(sc->model_kind[k], w->d, &to, &m, err);
        if (!rc) {
            mkdirs(w->o->models);
            rc = mq_model_save(m, path, err);
        }
    }
    if (rc) { mq_model_destroy(m); return rc; }
    if (w->n_models > 0 && mq_model_n_titles(m) != w->n_titles) {
        mq_model_destroy(m);
        return mq__err_set(err, MQ_EINVAL, "sim: model '%s' has %d titles, main has %d: train them on the same data",
                           name, (int)mq_model_n_titles(m), (int)w->n_titles);
    }
    int s = w->n_models++;
    w->models[s] = m;
    snprintf(w->model_names[s], sizeof w->model_names[s], "%s", name);
    if (s == 0) w->n_titles = mq_model_n_titles(m);
    w->sims[s].m = m;
    w->sims[s].n_titles = w->n_titles;
    w->sims[s].list = calloc((size_t)MQ_MAX(w->n_titles, 1), sizeof *w->sims[s].list);
    if (!w->sims[s].list) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    return 0;
}

/* Removes the plain files of dir (a previous run's log segments). */
static void clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[4400];
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
    closedir(d);
}

static void world_release(world *w)
{
    for (int i = 0; i < w->n_models; i++) {
        for (int32_t t = 0; w->sims[i].list && t < w->n_titles; t++) free(w->sims[i].list[t]);
        free(w->sims[i].list);
        mq_model_destroy(w->models[i]);
    }
    if (w->has_pc) mq_page_catalog_release(&w->pc);
    if (w->has_xps) mq__xps_release(&w->xps);
    mq_dataset_destroy(w->d);
    free(w->ids);
    free(w->H);
    free(w->U);
    free(w->quality);
    free(w->ds2m);
    free(w->m2ds);
    free(w->m);
    mq_art_space_destroy(w->asp);
    free(w->art_mem);
}

/* The truth: iALS with keep_members=1; members = a random training member's factors + noise. */
static int build_truth(world *w, mq_err *err)
{
    const mq_sim_params *P = w->P;
    char f[32], e[32];
    snprintf(f, sizeof f, "factors=%d", P->truth_factors);
    snprintf(e, sizeof e, "epochs=%d", P->truth_epochs);
    const char *pp[] = {f, e, "keep_members=1"};
    mq_train_opts to; mq_train_opts_init(&to, sizeof to);
    to.params = pp, to.n_params = 3, to.n_threads = w->o->threads, to.seed = w->o->seed ^ 0x7275746855ULL;
    mq_model *tm = NULL;
    int rc = mq_model_train("ials", w->d, &to, &tm, err);
    if (rc) return rc;
    int64_t nh, nw;
    const float *H = mq__model_get(tm, "H", MQ__A_F32, &nh, err);
    const float *W = mq__model_get(tm, "W", MQ__A_F32, &nw, err);
    int32_t tn = mq_model_n_titles(tm);
    if (!H || !W || tn <= 0) { mq_model_destroy(tm); return MQ_ECORRUPT; }
    int kp = (int)(nh / tn);
    int64_t n_train = nw / kp;
    w->kp = kp;
    int N = w->o->members;
    w->H = calloc((size_t)w->n_titles * kp, sizeof *w->H);
    w->U = calloc((size_t)N * kp, sizeof *w->U);
    w->quality = calloc((size_t)w->n_titles, sizeof *w->quality);
    w->m = calloc((size_t)N, sizeof *w->m);
    if (!w->H || !w->U || !w->quality || !w->m) { mq_model_destroy(tm); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    for (int32_t t = 0; t < w->n_titles; t++) {
        int32_t j = mq_model_title_index(tm, w->ids[t]);
        if (j >= 0) memcpy(w->H + (size_t)t * kp, H + (size_t)j * kp, (size_t)kp * sizeof *H);
    }
    /* quality: standardized log(1 + positives) of the title in the data */
    double s1 = 0, s2 = 0;
    for (int32_t j = 0; j < w->d->n_titles; j++) {
        int32_t t = mq_model_title_index(w->models[0], mq_idmap_name(w->d->title_ids, j));
        if (t >= 0) w->quality[t] = (float)log1p((double)(w->d->t_ptr[j + 1] - w->d->t_ptr[j]));
    }
    for (int32_t t = 0; t < w->n_titles; t++) { s1 += w->quality[t]; s2 += (double)w->quality[t] * w->quality[t]; }
    double qm = s1 / w->n_titles, qs = sqrt(MQ_MAX(s2 / w->n_titles - qm * qm, 1e-12));
    for (int32_t t = 0; t < w->n_titles; t++) w->quality[t] = (float)((w->quality[t] - qm) / qs);
    double rms = 0;
    for (int64_t i = 0; i < nw; i++) rms += (double)W[i] * W[i];
    rms = sqrt(rms / (double)MQ_MAX(n_train * MQ_MIN(kp, P->truth_factors), 1));
    mq_rng r;
    mq_rng_seed(&r, w->o->seed);
    static const char *const dev_names[] = {"web", "tv", "mobile"};
    (void)dev_names;
    for (int i = 0; i < N; i++) {
        member *m = &w->m[i];
        int64_t src = (int64_t)mq_rng_below(&r, (uint64_t)n_train);
        m->src = (int32_t)src;
        for (int k = 0; k < kp; k++) {
            float base = W[(size_t)src * kp + k];
            w->U[(size_t)i * kp + k] = k < P->truth_factors ? base + (float)(P->member_noise * rms * mq_rng_normal(&r)) : 0;
        }
        m->seed = mq_rng_next(&r);
        m->lambda = P->visits_median * exp(P->visits_sigma * mq_rng_normal(&r));
        m->title_pat = logistic(log(P->title_patience / (1 - P->title_patience + 1e-9) + 1e-12) + 0.5 * mq_rng_normal(&r));
        m->row_pat = logistic(log(P->row_patience / (1 - P->row_patience + 1e-9) + 1e-12) + 0.5 * mq_rng_normal(&r));
        m->hazard = MQ_MIN(1.0, P->hazard_median * exp(0.5 * mq_rng_normal(&r)));
        double u = mq_rng_uniform(&r);
        m->device = u < 0.5 ? 0 : u < 0.8 ? 1 : 2;
        m->hour = (int)((18 + (int)(mq_rng_normal(&r) * 3) + 48) % 24);
        snprintf(m->id, sizeof m->id, "sim%d", i);
        for (int e2 = 0; e2 < w->n_exps; e2++) {
            mq_xp_assignment a;
            mq_xp_assign(&w->xps.xp.exps[e2], m->id, MQ_MAX(w->xps.xp.exps[e2].start, 0), &a);
            m->eligible[e2] = a.in_experiment;
        }
    }
    /* z standardization over a sample of (member, title) pairs */
    double a1 = 0, a2 = 0;
    int ns = 4000;
    for (int s = 0; s < ns; s++) {
        int i = (int)mq_rng_below(&r, (uint64_t)N);
        int32_t t = (int32_t)mq_rng_below(&r, (uint64_t)w->n_titles);
        double x = mq__dot(w->U + (size_t)i * kp, w->H + (size_t)t * kp, kp);
        a1 += x;
        a2 += x * x;
    }
    w->mu = a1 / ns;
    w->sd = sqrt(MQ_MAX(a2 / ns - w->mu * w->mu, 1e-12));
    mq_model_destroy(tm);
    return 0;
}

/* ---- a run ---- */

typedef struct scratch {
    mq_page_ctx *ctx;
    float *scores;
    int32_t *hidx;
    mq_page_hist *hist;
    uint8_t *mark;              /* [n_titles] history de-duplication, all 0 between visits */
    mq_member_state st;
    mq_event ev[64];            /* a visit's events waiting for one log append or POST */
    int n_ev;
    mq_buf rec;                 /* an exposure record */
    const char *titles[50 * 100];
    mq_err err;
    long long pages, events, retries;
    double page_seconds;
    /* the page being examined (built here, or read from the server's answer) */
    int n_rows;
    const char *row_id[50];
    int row_first[50], row_n[50];
    int32_t vt[50 * 100];
    const char *vart[50 * 100];  /* the features of the artwork shown for each title, or NULL */
    /* in-process artwork decisions of the page (art_kind -1: none) */
    int art_kind, art_member;
    uint8_t art_ctx[MQ_ART_DM_MAX];
    int32_t art_title[50 * 100];    /* dataset titles */
    int64_t art_choice[50 * 100];
    double art_prop[50 * 100];
    uint8_t art_var[50 * 100];
    int64_t art_off[50 * 100];      /* egreedy pages: each slot's artworks in art_pi */
    double *art_pi;                 /* LinUCB's probabilities of the page's artworks */
    size_t art_pi_cap;
    char page_id[MQ_PAGE_ID_MAX + 1];
    /* --server: this thread's connection, a request body and an answer */
    mq__sim_http http;
    bool has_http;
    mq_buf body, resp;
    char row_buf[50][MQ_ROW_ID_MAX + 1];
} scratch;

typedef struct run {
    world *w;
    int force_exp, force_variant;   /* -1: the A/B run */
    unit *units;                    /* [members x n_exps] */
    scratch *sc;                    /* [threads] */
    _Atomic int failed;
    atomic_int done;                /* members simulated in full (--server: arrivals posted) */
    mq_err err;
    mq_evlog *evlog;                /* the A/B run's logs (NULL in counterfactual runs) */
    mq__exlog *exlog;
    bool http;                      /* the A/B run through --server */
    /* in-process artwork: one learner for the run; decisions read the state published at the
     * end of the previous simulated day */
    pthread_mutex_t art_mu;
    mq_art_stats *art_st;
    mq_art_snap *art_sn;
    FILE *art_pi;                   /* A/B run: LinUCB's probabilities for the egreedy rows */
    int64_t art_rows;
} run;

static double affinity(const world *w, int i, int32_t t)
{
    double z = (mq__dot(w->U + (size_t)i * w->kp, w->H + (size_t)t * w->kp, w->kp) - w->mu) / w->sd;
    return mq__sim_affinity(w->P, z, w->quality[t], mq__sim_pair_noise(w->m[i].seed, t));
}

/* The member's history as the page builder sees it: the server's gather_history for a member
 * with no training data (titles de-duplicated, a thumb down weighs -1, a rating under 2.5
 * weighs 0.1). Returns n_hist; *n_pos titles fed to the model. */
static int history(const world *w, scratch *s, int *n_pos)
{
    int m = 0, p = 0;
    for (int i = 0; i < s->st.n; i++) {
        const mq_recent *e = &s->st.recent[i];
        int32_t t = mq_model_title_index(w->models[0], e->title);
        if (t < 0 || s->mark[t]) continue;
        s->mark[t] = 1;
        float wt = e->thumb == 2 ? -1.0f : e->rating > 0 && e->rating < 2.5f ? 0.1f : 1.0f;
        s->hist[m++] = (mq_page_hist){t, e->time, e->seconds, wt, e->finished != 0, e->seconds > 0 && !e->finished};
    }
    for (int i = 0; i < m; i++) s->mark[s->hist[i].title] = 0;
    for (int i = 0; i < m; i++)
        if (s->hist[i].weight > 0) s->hidx[p++] = s->hist[i].title;
    *n_pos = p;
    return m;
}

typedef struct daystat { int finished, abandoned, browse; } daystat;

/* One request to the server; a 503 "overloaded" (the server shed it before handling it:
 * nothing was applied, docs/API.md) is sent again after a back-off (1 ms doubling to 100 ms,
 * for at most a minute in all), so a server busier than its shedding limit slows the run
 * instead of ending it. Other answers go back to the caller. */
static int ask(scratch *s, const char *method, const char *path, const char *body, size_t blen, int *status)
{
    double waited = 0;
    for (int k = 0;; k++) {
        int rc = mq__sim_http_request(&s->http, method, path, body, blen, status, &s->resp, &s->err);
        if (rc || *status != 503 || !strstr(s->resp.p, "\"overloaded:") || waited > 60) return rc;
        double d = MQ_MIN(0.001 * (double)(1 << MQ_MIN(k, 7)), 0.1);
        struct timespec ts = {0, (long)(d * 1e9)};
        nanosleep(&ts, NULL);
        waited += d;
        s->retries++;
    }
}

/* POSTs the queued events to the server as one /v1/events request. */
static int post_events(run *R, scratch *s)
{
    mq_buf *b = &s->body;
    mq_buf_reset(b);
    mq_buf_putc(b, '[');
    for (int k = 0; k < s->n_ev; k++) {
        const mq_event *e = &s->ev[k];
        mq_buf_puts(b, k ? ",{\"member\":" : "{\"member\":");
        mq_buf_json_str(b, e->member, strlen(e->member));
        mq_buf_puts(b, ",\"title\":");
        mq_buf_json_str(b, e->title, strlen(e->title));
        /* %.9g: the float value reads back bit for bit */
        mq_buf_printf(b, ",\"event\":\"%s\",\"value\":%.9g,\"timestamp\":%lld", mq_event_name(e->kind), (double)e->value,
                      (long long)e->time);
        if (e->page_id[0]) {
            mq_buf_puts(b, ",\"page_id\":");
            mq_buf_json_str(b, e->page_id, strlen(e->page_id));
            mq_buf_puts(b, ",\"row\":");
            mq_buf_json_str(b, e->row, strlen(e->row));
        }
        if (e->has_position) mq_buf_printf(b, ",\"position\":%d", (int)e->position);
        mq_buf_putc(b, '}');
    }
    mq_buf_putc(b, ']');
    if (b->oom) return mq__err_set(&s->err, MQ_ENOMEM, "out of memory");
    int status;
    int rc = ask(s, "POST", "/v1/events", b->p, b->len, &status);
    if (rc) return rc;
    if (status / 100 != 2)
        return mq__err_set(&s->err, MQ_EIO, "sim: the server answered POST /v1/events with %d: %.300s", status, s->resp.p);
    return 0;
}

/* Appends the queued events to the event log, or POSTs them (one request per visit). */
static int flush_events(run *R, scratch *s)
{
    int rc = 0;
    if (s->n_ev > 0) {
        if (R->http) rc = post_events(R, s);
        else if (R->evlog) rc = mq_evlog_append(R->evlog, s->ev, s->n_ev, NULL, &s->err);
    }
    s->n_ev = 0;
    return rc;
}

static int queue_event(run *R, scratch *s, const mq_event *ev)
{
    if (!R->evlog && !R->http) return 0;
    s->ev[s->n_ev++] = *ev;
    return s->n_ev == (int)(sizeof s->ev / sizeof s->ev[0]) ? flush_events(R, s) : 0;
}

/* Folds one event into the member's state and queues it for the log. */
static int emit(run *R, scratch *s, const member *mb, int32_t t, long long now, int kind, float value, int row, int pos)
{
    mq_event ev;
    memset(&ev, 0, sizeof ev);
    snprintf(ev.member, sizeof ev.member, "%s", mb->id);
    snprintf(ev.title, sizeof ev.title, "%s", R->w->ids[t]);
    ev.time = now;
    ev.kind = kind;
    ev.value = value;
    snprintf(ev.page_id, sizeof ev.page_id, "%s", s->page_id);
    snprintf(ev.row, sizeof ev.row, "%s", s->row_id[row]);
    ev.has_position = true;
    ev.position = pos;
    mq_member_state_apply(&s->st, &ev, R->w->P->runtime_seconds);
    s->events++;
    return queue_event(R, s, &ev);
}

/* Writes the page's exposure record, as the server's homepage handler does. */
static int log_exposure(run *R, scratch *s, const mq__xps_result *xr, const mq_page *page, const char *member,
                        const char *page_id, const char *model, long long now)
{
    const world *w = R->w;
    const char *rid[50];
    int rn[50], total = 0, nr = MQ_MIN(page->n_rows, 50);
    for (int i = 0; i < nr; i++) {
        rid[i] = page->rows[i].id;
        rn[i] = MQ_MIN(page->rows[i].n, 100);
        for (int j = 0; j < rn[i]; j++) s->titles[total++] = w->ids[page->titles[page->rows[i].first + j]];
    }
    mq__expo e;
    memset(&e, 0, sizeof e);
    e.time = now;
    e.route = MQ__EXPO_ROUTE_HOMEPAGE;
    e.forced = xr->forced;
    e.member = member;
    e.page_id = page_id;
    e.model_version = model;
    mq__xps_expo(&w->xps, xr, &e);
    e.n_rows = nr;
    e.row_id = rid;
    e.row_n = rn;
    e.titles = s->titles;
    if (s->art_kind >= 0) {   /* version 2: the page's artwork decisions, as the server logs them */
        e.art_policy = s->art_kind;
        e.art_dm = mq_art_space_dm(w->asp);
        e.art_ctx = s->art_ctx;
        e.art_time = now;
        e.art_variant = s->art_var;
        e.art_prop = s->art_prop;
    }
    mq_buf_reset(&s->rec);
    int rc = mq__expo_encode(&e, false, &s->rec, &s->err);
    if (!rc) rc = mq__exlog_append(R->exlog, &s->rec, &s->err);
    return rc;
}

static const char *const device_names[] = {"web", "tv", "mobile"};

/* --server: GETs the member's homepage at the simulated time and reads its page id, rows and
 * titles into s; the server's assignment must be the simulator's (the same experiments file). */
static int fetch_page(run *R, scratch *s, int i, long long now, const mq__xps_result *xr)
{
    world *w = R->w;
    const member *mb = &w->m[i];
    char path[512];
    snprintf(path, sizeof path, "/v1/members/%s/homepage?device=%s&hour=%d&time=%lld", mb->id, device_names[mb->device],
             mb->hour, now);
    int status;
    int rc = ask(s, "GET", path, NULL, 0, &status);
    if (rc) return rc;
    if (status != 200) return mq__err_set(&s->err, MQ_EIO, "sim: the server answered GET %s with %d: %.300s", path, status, s->resp.p);
    cJSON *doc = cJSON_ParseWithLength(s->resp.p, s->resp.len);
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(doc, "page_id"), *rows = cJSON_GetObjectItemCaseSensitive(doc, "rows"),
                *xps = cJSON_GetObjectItemCaseSensitive(doc, "experiments");
    if (!cJSON_IsString(pid) || !cJSON_IsArray(rows) || strlen(pid->valuestring) > MQ_PAGE_ID_MAX) {
        cJSON_Delete(doc);
        return mq__err_set(&s->err, MQ_EIO, "sim: GET %s: the answer is not a homepage (no page_id or rows)", path);
    }
    snprintf(s->page_id, sizeof s->page_id, "%s", pid->valuestring);
    /* the server's variants against the simulator's own assignment */
    int k = 0;
    for (const cJSON *x = xps ? xps->child : NULL; x && !rc; x = x->next, k++) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(x, "name"), *v = cJSON_GetObjectItemCaseSensitive(x, "variant");
        const mq_xp_experiment *xe = k < xr->n ? &w->xps.xp.exps[xr->p[k].exp] : NULL;
        if (!xe || !cJSON_IsString(nm) || !cJSON_IsString(v) || strcmp(nm->valuestring, xe->name) ||
            strcmp(v->valuestring, xe->variants[xr->p[k].variant]) ||
            (cJSON_GetObjectItemCaseSensitive(x, "served") != NULL) != xr->p[k].served_default)
            rc = mq__err_set(&s->err, MQ_EINVAL, "sim: the server's experiments are not the simulator's (member %s at %lld: "
                             "the server says %s=%s): start it with --experiments %s/experiments.json --clock event",
                             mb->id, now, cJSON_IsString(nm) ? nm->valuestring : "?", cJSON_IsString(v) ? v->valuestring : "?",
                             w->o->out);
    }
    if (!rc && k != xr->n)
        rc = mq__err_set(&s->err, MQ_EINVAL, "sim: the server assigned %s to %d experiments, the simulator to %d: start it "
                         "with --experiments %s/experiments.json --clock event", mb->id, k, xr->n, w->o->out);
    s->n_rows = 0;
    int nt = 0;
    for (const cJSON *r = rows->child; r && !rc && s->n_rows < 50; r = r->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id"), *ts = cJSON_GetObjectItemCaseSensitive(r, "titles");
        if (!cJSON_IsString(id) || !cJSON_IsArray(ts) || strlen(id->valuestring) > MQ_ROW_ID_MAX) {
            rc = mq__err_set(&s->err, MQ_EIO, "sim: GET %s: row %d has no id or titles", path, s->n_rows);
            break;
        }
        int ro = s->n_rows++;
        snprintf(s->row_buf[ro], sizeof s->row_buf[ro], "%s", id->valuestring);
        s->row_id[ro] = s->row_buf[ro];
        s->row_first[ro] = nt;
        s->row_n[ro] = 0;
        for (const cJSON *t = ts->child; t && s->row_n[ro] < 100; t = t->next) {
            const cJSON *tid = cJSON_GetObjectItemCaseSensitive(t, "id");
            int32_t ti = cJSON_IsString(tid) ? mq_model_title_index(w->models[0], tid->valuestring) : -1;
            if (ti < 0) {
                rc = mq__err_set(&s->err, MQ_EINVAL, "sim: GET %s: title '%.100s' is not in the simulator's models: serve "
                                 "the same --models", path, cJSON_IsString(tid) ? tid->valuestring : "?");
                break;
            }
            /* the artwork the page shows for the title ("artwork": its id), when pages carry it */
            const cJSON *art = cJSON_GetObjectItemCaseSensitive(t, "artwork");
            s->vart[nt] = NULL;
            if (cJSON_IsString(art)) {
                s->vart[nt] = mq__sim_artwork_features(&w->d->catalog, w->m2ds[ti], art->valuestring);
                if (!s->vart[nt]) {
                    rc = mq__err_set(&s->err, MQ_EINVAL, "sim: GET %s: artwork '%.100s' of title '%.100s' is not in the "
                                     "simulator's catalog (--data with the server's artwork.csv)", path, art->valuestring,
                                     tid->valuestring);
                    break;
                }
            }
            s->vt[nt++] = ti;
            s->row_n[ro]++;
        }
    }
    cJSON_Delete(doc);
    return rc;
}

/* ---- sim_artwork: artwork on in-process pages, learned online ----
 * A page whose variant sets "artwork_policy" (the server's treatment key) gets one artwork per
 * title with artwork, chosen by mq_art_decide (the server's decision path) from the run's
 * learner: the state published at the end of the previous simulated day (the run goes day by
 * day, art_run), so decisions do not depend on the order members are simulated in; every
 * decided title is an impression and a click on it (a play from that page and position) its
 * reward, folded into the learner as they happen (exact sums: order-free). The click term of
 * each title uses the artwork shown (mq__sim_artwork_factor). Per policy the run counts
 * impressions, examined titles, clicks and expected clicks (the true click probability summed
 * over examined titles): the true click rate. On egreedy pages the run also computes LinUCB's
 * distribution over each title's artworks from the same state (mq_art_probs) and its true
 * value, sum_a pi(a) mu(a) with mu(a) the click probability of artwork a if the title was
 * examined and 0 if not: the quantity an off-policy estimate from the egreedy logs targets. */

/* The page's artwork decisions into s (s->art_kind -1: none). nt titles in s->vt. */
static int art_page(run *R, scratch *s, int i, int day, int v_no, const mq__xps_result *xr, int nt, int n_hist)
{
    world *w = R->w;
    s->art_kind = -1;
    if (!R->art_st || !(xr->t.set & (1u << MQ__XT_ARTWORK_POLICY))) return 0;
    const member *mb = &w->m[i];
    const mq_catalog *c = &w->d->catalog;
    uint64_t g[256];
    float wt[256];
    int m = 0;
    for (int k = 0; k < n_hist && m < 256; k++) {
        int32_t j = w->m2ds[s->hist[k].title];
        if (j < 0 || !c->genres) continue;
        g[m] = c->genres[j];
        wt[m++] = s->hist[k].weight;
    }
    mq_art_context(w->asp, g, wt, m, mb->device, mb->hour, s->art_ctx);
    for (int k = 0; k < nt; k++) s->art_title[k] = w->m2ds[s->vt[k]];
    mq_art_policy pol; mq_art_policy_init(&pol, sizeof pol);
    pol.kind = xr->t.art_kind; pol.param = xr->t.art_param; pol.gamma = 0; pol.mc_draws = 0;
    mq_rng r;
    stream(&r, w->o->seed ^ 0x617274ULL, (uint64_t)i, (uint64_t)day, (uint64_t)v_no + 1);
    int rc = mq_art_decide(R->art_sn, &pol, s->art_ctx, s->art_title, nt, &r, s->art_choice, s->art_prop, &s->err);
    if (rc) return rc;
    int decided = 0;
    for (int k = 0; k < nt; k++) {
        int64_t a = s->art_choice[k];
        s->vart[k] = a >= 0 ? c->art_features[a] : NULL;
        s->art_var[k] = a >= 0 ? (uint8_t)(a - c->art_ptr[s->art_title[k]]) : 255;
        decided += a >= 0;
    }
    s->art_kind = pol.kind;
    s->art_member = i;
    w->art_mem[2 * i] += decided;
    if (pol.kind == MQ_POLICY_EGREEDY) {   /* LinUCB's distribution on this page, same state */
        int64_t tot = 0;
        for (int k = 0; k < nt; k++) {
            int32_t j = s->art_title[k];
            s->art_off[k] = j >= 0 && s->art_choice[k] >= 0 ? tot : -1;
            if (j >= 0) tot += c->art_ptr[j + 1] - c->art_ptr[j];
        }
        if ((size_t)tot > s->art_pi_cap) {
            double *q = realloc(s->art_pi, (size_t)tot * sizeof *q);
            if (!q) return mq__err_set(&s->err, MQ_ENOMEM, "out of memory");
            s->art_pi = q;
            s->art_pi_cap = (size_t)tot;
        }
        mq_art_policy lin; mq_art_policy_init(&lin, sizeof lin);
        lin.kind = MQ_POLICY_LINUCB; lin.param = w->art_linucb; lin.gamma = 0; lin.mc_draws = 0;
        if ((rc = mq_art_probs(R->art_sn, &lin, s->art_ctx, s->art_title, nt, &r, s->art_pi, &s->err))) return rc;
    }
    pthread_mutex_lock(&R->art_mu);
    mq_art_stats_add_page(R->art_st, s->art_ctx, s->art_choice, nt);
    w->art_acc[pol.kind][0] += decided;
    if (pol.kind == MQ_POLICY_EGREEDY) w->art_ope[0] += decided;
    pthread_mutex_unlock(&R->art_mu);
    return 0;
}

/* Slot k of an artwork page was examined: its true click probability pc (a: affinity; the
 * click term's other factors), and on egreedy pages every artwork's, for LinUCB's value. */
static void art_examined(run *R, scratch *s, const member *mb, int k, double a, double scale, double clickbait,
                         double pc)
{
    world *w = R->w;
    if (s->art_choice[k] < 0) return;
    double vl = 0, vf = 0;
    if (s->art_kind == MQ_POLICY_EGREEDY && s->art_off[k] >= 0) {
        const mq_catalog *c = &w->d->catalog;
        const int64_t a0 = c->art_ptr[s->art_title[k]];
        const int32_t K = (int32_t)(c->art_ptr[s->art_title[k] + 1] - a0);
        for (int32_t b = 0; b < K; b++) {
            double art = mq__sim_artwork_factor(w->P, mb->seed, c->art_features[a0 + b]);
            double mu = MQ_MIN(1.0, scale * a * art + clickbait * (1 - a));
            vl += s->art_pi[s->art_off[k] + b] * mu;
            if (b == 0) vf = mu;
        }
    }
    w->art_mem[2 * s->art_member + 1] += pc;
    pthread_mutex_lock(&R->art_mu);
    w->art_acc[s->art_kind][1] += 1;
    w->art_acc[s->art_kind][3] += pc;
    w->art_ope[1] += vl;
    w->art_ope[2] += vf;
    pthread_mutex_unlock(&R->art_mu);
}

static void art_clicked(run *R, scratch *s, int k)
{
    if (s->art_choice[k] < 0) return;
    pthread_mutex_lock(&R->art_mu);
    mq_art_stats_add_reward(R->art_st, s->art_ctx, s->art_choice[k], 1);
    R->w->art_acc[s->art_kind][2] += 1;
    pthread_mutex_unlock(&R->art_mu);
}

/* The egreedy page's rows for the OPE file, in the exposure log's order (art_mu held). */
static int art_pi_rows(run *R, scratch *s, int nt)
{
    const mq_catalog *c = &R->w->d->catalog;
    for (int k = 0; k < nt; k++) {
        if (s->art_choice[k] < 0) continue;
        int32_t j = s->art_title[k];
        int64_t K = c->art_ptr[j + 1] - c->art_ptr[j];
        for (int64_t b = 0; b < K; b++)
            if (fprintf(R->art_pi, "%lld,%lld,%.17g\n", (long long)R->art_rows, (long long)b, s->art_pi[s->art_off[k] + b]) < 0)
                return mq__err_set(&s->err, MQ_EIO, "sim: writing the LinUCB probabilities failed");
        R->art_rows++;
    }
    return 0;
}

/* Builds the page in-process (the server's steps: history, scores, mq_page_build) into s. */
static int build_page(run *R, scratch *s, int i, int day, int v_no, long long now, const mq__xps_result *xr)
{
    world *w = R->w;
    const member *mb = &w->m[i];
    static const int drows[] = {12, 10, 8}, dper[] = {20, 15, 10};
    int rows = drows[mb->device], per = dper[mb->device];
    double mmr = 0.7;
    if (xr->t.set & (1u << MQ__XT_ROWS)) rows = xr->t.rows;
    if (xr->t.set & (1u << MQ__XT_PER_ROW)) per = xr->t.per_row;
    if (xr->t.set & (1u << MQ__XT_MMR)) mmr = xr->t.mmr;
    int slot = 0;
    if (xr->t.set & (1u << MQ__XT_MODEL)) {
        slot = strcmp(xr->t.model, "main") ? model_slot(w, xr->t.model) : 0;
        if (slot < 0) return mq__err_set(&s->err, MQ_EINVAL, "sim: treatment model '%s' not loaded", xr->t.model);
    }
    int n_pos, n_hist = history(w, s, &n_pos);
    mq_page_req req; mq_page_req_init(&req, sizeof req);
    req.rows = rows; req.per_row = per; req.mmr_lambda = mmr; req.genre = -1; req.exclude = NULL;
    req.n_exclude = 0; req.hour = mb->hour; req.device = mb->device; req.score_cut = NULL;
    req.row_prior = xr->t.set & (1u << MQ__XT_ROW_PRIORS) ? xr->t.row_prior : NULL;
    double t0 = mq_now();
    const float *scores = NULL;
    float cut;
    int rc = 0;
    if (n_pos > 0) {
        int top = mq_page_scored_titles(&req, w->n_titles) + n_hist;
        rc = mq_model_score_top(w->models[slot], s->hidx, NULL, n_pos, top, s->scores, &cut, &s->err);
        scores = s->scores;
        req.score_cut = &cut;
    }
    mq_page_catalog pc = w->pc;
    pc.similar = sim_cb;
    pc.similar_user = &w->sims[slot];
    const mq_page *page = NULL;
    if (!rc) rc = mq_page_build(s->ctx, &pc, scores, s->hist, n_hist, &req, &page, &s->err);
    if (rc) return rc;
    s->page_seconds += mq_now() - t0;
    snprintf(s->page_id, sizeof s->page_id, "sim-%08x-%04x-%02x", (unsigned)i, (unsigned)day, (unsigned)v_no);
    s->n_rows = MQ_MIN(page->n_rows, 50);
    int nt = 0;
    for (int r = 0; r < s->n_rows; r++) {
        s->row_id[r] = page->rows[r].id;
        s->row_first[r] = nt;
        s->row_n[r] = MQ_MIN(page->rows[r].n, 100);
        for (int j = 0; j < s->row_n[r]; j++) {
            s->vart[nt] = NULL;   /* no artwork unless the variant sets "artwork_policy" */
            s->vt[nt++] = page->titles[page->rows[r].first + j];
        }
    }
    if ((rc = art_page(R, s, i, day, v_no, xr, nt, n_hist))) return rc;
    if (R->exlog) {
        if (s->art_kind >= 0) pthread_mutex_lock(&R->art_mu);   /* the OPE file follows the log's order */
        rc = log_exposure(R, s, xr, page, mb->id, s->page_id, w->model_names[slot], now);
        if (!rc && s->art_kind == MQ_POLICY_EGREEDY && R->art_pi) rc = art_pi_rows(R, s, nt);
        if (s->art_kind >= 0) pthread_mutex_unlock(&R->art_mu);
    }
    return rc;
}

/* One visit: returns 0 or an error code (the run stops). */
static int visit(run *R, scratch *s, int i, long long now, int day, int v_no, daystat *ds, unit *u)
{
    world *w = R->w;
    const mq_sim_params *P = w->P;
    const member *mb = &w->m[i];
    char force[200] = "", why[300];
    if (R->force_exp >= 0 && mb->eligible[R->force_exp])
        snprintf(force, sizeof force, "%s:%s", w->xps.xp.exps[R->force_exp].name,
                 w->xps.xp.exps[R->force_exp].variants[R->force_variant]);
    mq__xps_result xr;
    /* before the experiments start (their "start", after the pre-period): the default page */
    bool pre = day < P->pre_days;
    if (mq__xps_assign(w->has_xps ? &w->xps : NULL, mb->id, now, pre ? NULL : force, NULL, &xr, why, sizeof why))
        return mq__err_set(&s->err, MQ_EINVAL, "sim: %s", why);
    double clickbait = 0, novelty = 0;
    for (int k = 0; k < xr.n; k++) {
        int e = xr.p[k].exp, v = xr.p[k].variant;
        if (e >= MQ_SIM_MAX_EXPS || v >= MQ_SIM_MAX_VARIANTS || xr.p[k].served_default) continue;
        unit *un = &u[e];
        if (!un->exposed) { un->exposed = true; un->variant = v; un->first = now; }
        un->pages++;
        clickbait += w->vtreat[e][v].clickbait;
        if (w->vchanged[e][v]) {
            double boost = w->vtreat[e][v].novelty >= 0 ? w->vtreat[e][v].novelty : P->novelty_boost;
            double age = (double)(now - un->first) / DAY;
            novelty += boost * exp(-age / P->novelty_days);
        }
    }
    int rc = R->http ? fetch_page(R, s, i, now, &xr) : build_page(R, s, i, day, v_no, now, &xr);
    if (rc) return rc;
    s->pages++;
    mq_rng r;
    stream(&r, w->o->seed, (uint64_t)i, (uint64_t)day, (uint64_t)v_no + 1);
    bool played = false, leave = false;
    long long tnow = now;
    for (int ro = 0; ro < s->n_rows && !leave; ro++) {
        if (ro > 0 && mq_rng_uniform(&r) >= mb->row_pat) break;
        for (int j = 0; j < s->row_n[ro] && !leave; j++) {
            if (j > 0 && mq_rng_uniform(&r) >= mb->title_pat) break;
            int32_t t = s->vt[s->row_first[ro] + j];
            double a = affinity(w, i, t);
            double art = mq__sim_artwork_factor(P, mb->seed, s->vart[s->row_first[ro] + j]);
            double pc_ = MQ_MIN(1.0, P->click_scale * a * art * (1 + novelty) + clickbait * (1 - a));
            if (s->art_kind >= 0) art_examined(R, s, mb, s->row_first[ro] + j, a, P->click_scale * (1 + novelty), clickbait, pc_);
            double uc = mq_rng_uniform(&r), uf = mq_rng_uniform(&r), us = mq_rng_uniform(&r);
            double ux = mq_rng_uniform(&r), uk = mq_rng_uniform(&r);
            if (uc >= pc_) continue;
            if (s->art_kind >= 0) art_clicked(R, s, s->row_first[ro] + j);
            played = true;
            bool fin = uf < pow(a, P->finish_power);
            double secs = (float)(fin ? P->runtime_seconds : P->runtime_seconds * 0.5 * us);   /* as logged */
            tnow += 60;
            if ((rc = emit(R, s, mb, t, tnow, MQ_EV_PLAY, (float)secs, ro, j))) return rc;
            for (int e = 0; e < w->n_exps; e++)
                if (u[e].exposed) { u[e].plays++; u[e].seconds += secs; u[e].finishes += fin; }
                else if (pre) { u[e].pre_plays++; u[e].pre_seconds += secs; }
            if (fin) {
                ds->finished++;
                if (ux < P->rate_prob && (rc = emit(R, s, mb, t, tnow + 1, MQ_EV_RATING, (float)(round(2 * (1 + 4 * a)) / 2), ro, j))) return rc;
                if (uk < P->thumb_prob && (rc = emit(R, s, mb, t, tnow + 2, MQ_EV_THUMB_UP, 1, ro, j))) return rc;
            } else {
                ds->abandoned++;
                if (uk < P->thumb_prob && (rc = emit(R, s, mb, t, tnow + 2, MQ_EV_THUMB_DOWN, 1, ro, j))) return rc;
            }
            tnow += (long long)secs;
            if (mq_rng_uniform(&r) >= (fin ? P->continue_after_play : P->continue_after_abandon)) leave = true;
        }
    }
    if (!played) ds->browse++;
    return flush_events(R, s);
}

/* A member's day-to-day state: satisfaction, days away, the last visiting day, churn. */
typedef struct mtrack { double sat; int away, last; bool churned; } mtrack;

/* The day's draws of member i (its day stream): churn, then whether it visits and how often.
 * Returns -1 churned, 0 away (satisfaction decays), 1 visiting: *nv visits from *start seconds
 * into the day, 90 minutes apart. */
static int day_plan(const run *R, int i, int day, mtrack *t, int *nv, long long *start)
{
    const world *w = R->w;
    const mq_sim_params *P = w->P;
    const member *mb = &w->m[i];
    double pbase = 1 - exp(-mb->lambda);
    mq_rng r;
    stream(&r, w->o->seed, (uint64_t)i, (uint64_t)day, 0);
    double uh = mq_rng_uniform(&r), uv = mq_rng_uniform(&r);
    int extra = poisson(&r, 0.5 * mb->lambda);
    if (uh < mb->hazard * exp(-MQ_MIN(t->sat, 0.0))) { t->churned = true; return -1; }
    double pv = logistic(log(pbase / (1 - pbase + 1e-12) + 1e-12) + t->sat);
    if (uv >= pv) {
        t->sat *= P->satisfaction_decay;
        if (++t->away >= P->churn_after_days && t->last >= 0) t->churned = true;
        return 0;
    }
    t->away = 0;
    t->last = day;
    /* visits 90 minutes apart from the preferred hour, all within the UTC day */
    extra = MQ_MIN(extra, 15);
    *nv = extra + 1;
    *start = MQ_MIN(mb->hour * 3600LL, DAY - 3600 - extra * 5400LL);
    return 1;
}

/* The end of a visiting day: active days, satisfaction from the day's plays. */
static void day_end(const run *R, mtrack *t, const daystat *ds, unit *u)
{
    const mq_sim_params *P = R->w->P;
    for (int e = 0; e < R->w->n_exps; e++) u[e].active_days += u[e].exposed;
    t->sat = P->satisfaction_decay * t->sat + P->satisfaction_gain * ds->finished - P->abandon_loss * ds->abandoned
           - P->browse_loss * ds->browse;
}

static void retained(const run *R, const mtrack *t, unit *u)
{
    for (int e = 0; e < R->w->n_exps; e++)
        u[e].retained = t->last >= 0 && t->last >= R->w->o->days - R->w->P->retained_days;
}

/* The source member's history from the data, as finished plays before day 0 (the member
 * arrives with them: not counted as events of the simulation; the A/B run logs them, or POSTs
 * them, so that the server's store holds the same history). */
static int arrival(run *R, scratch *s, int i)
{
    world *w = R->w;
    const mq_sim_params *P = w->P;
    const member *mb = &w->m[i];
    memset(&s->st, 0, sizeof s->st);
    const mq_dataset *d = w->d;
    if (mb->src >= d->n_members) return 0;
    mq_event ev;
    memset(&ev, 0, sizeof ev);
    snprintf(ev.member, sizeof ev.member, "%s", mb->id);
    for (int64_t k = d->m_ptr[mb->src]; k < d->m_ptr[mb->src + 1]; k++) {
        int32_t t = w->ds2m[d->m_idx[k]];
        if (t < 0) continue;
        snprintf(ev.title, sizeof ev.title, "%s", w->ids[t]);
        ev.time = MQ_MIN(d->m_time ? d->m_time[k] : 0, SIM_EPOCH - DAY);
        ev.kind = MQ_EV_PLAY;
        ev.value = (float)P->runtime_seconds;
        mq_member_state_apply(&s->st, &ev, P->runtime_seconds);
        int rc = queue_event(R, s, &ev);
        if (rc) return rc;
    }
    return flush_events(R, s);
}

static int member_run(run *R, scratch *s, int i)
{
    world *w = R->w;
    unit *u = &R->units[(size_t)i * MQ_MAX(w->n_exps, 1)];
    int rc = arrival(R, s, i);
    if (rc) return rc;
    mtrack t = {0, 0, -1, false};
    for (int day = 0; day < w->o->days && !t.churned; day++) {
        int nv;
        long long start;
        if (day_plan(R, i, day, &t, &nv, &start) != 1) continue;
        daystat ds = {0, 0, 0};
        for (int v = 0; v < nv; v++) {
            long long now = SIM_EPOCH + (long long)day * DAY + start + v * 5400LL;
            if ((rc = visit(R, s, i, now, day, v, &ds, u))) return rc;
        }
        day_end(R, &t, &ds, u);
    }
    retained(R, &t, u);
    return 0;
}

static int run_range(void *ctx, int64_t b, int64_t e, int tid)
{
    run *R = ctx;
    scratch *s = &R->sc[tid];
    for (int64_t i = b; i < e; i++) {
        if (atomic_load(&R->failed)) return 0;
        int rc = member_run(R, s, (int)i);
        if (rc) {
            int z = 0;
            if (atomic_compare_exchange_strong(&R->failed, &z, rc)) R->err = s->err;
            return 0;
        }
        atomic_fetch_add(&R->done, 1);
    }
    return 0;
}

/* --server: the A/B run goes day by day, every visit of the day in time order across members
 * (the server stamps exposures in time order: its live experiment units need the exposure log's
 * times never to go down), each member's visits in its own order (a visit waits for the
 * member's previous one). Members are independent, so each member's visits, pages and events
 * are the ones the in-process run (member after member) gives. */
typedef struct vitem { long long time; int32_t m, v; } vitem;

static int vitem_cmp(const void *a, const void *b)
{
    const vitem *x = a, *y = b;
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    return x->m != y->m ? (x->m < y->m ? -1 : 1) : (x->v > y->v) - (x->v < y->v);
}

typedef struct hdays {
    run *R;
    vitem *items;
    daystat *ds;                /* [members] the day's plays */
    atomic_int *next_v;         /* [members] the member's next visit of the day */
    int day;
} hdays;

static void fail_run(run *R, scratch *s, int rc)
{
    int z = 0;
    if (atomic_compare_exchange_strong(&R->failed, &z, rc)) R->err = s->err;
}

static int http_arrivals(void *ctx, int64_t b, int64_t e, int tid)
{
    run *R = ctx;
    for (int64_t i = b; i < e && !atomic_load(&R->failed); i++) {
        int rc = arrival(R, &R->sc[tid], (int)i);
        if (rc) { fail_run(R, &R->sc[tid], rc); return 0; }
        atomic_fetch_add(&R->done, 1);
    }
    return 0;
}

static int http_visits(void *ctx, int64_t b, int64_t e, int tid)
{
    hdays *H = ctx;
    run *R = H->R;
    scratch *s = &R->sc[tid];
    for (int64_t k = b; k < e; k++) {
        const vitem *it = &H->items[k];
        while (atomic_load(&H->next_v[it->m]) != it->v) {
            if (atomic_load(&R->failed)) return 0;
            sched_yield();
        }
        if (atomic_load(&R->failed)) return 0;
        unit *u = &R->units[(size_t)it->m * MQ_MAX(R->w->n_exps, 1)];
        int rc = visit(R, s, it->m, it->time, H->day, it->v, &H->ds[it->m], u);
        if (rc) { fail_run(R, s, rc); atomic_store(&H->next_v[it->m], -1); return 0; }
        atomic_store(&H->next_v[it->m], it->v + 1);
    }
    return 0;
}

static int http_run(run *R, int nth, int *day_reached)
{
    world *w = R->w;
    int N = w->o->members;
    *day_reached = -1;
    mtrack *t = calloc((size_t)N, sizeof *t);
    daystat *ds = calloc((size_t)N, sizeof *ds);
    atomic_int *next_v = calloc((size_t)N, sizeof *next_v);
    vitem *items = malloc((size_t)N * 16 * sizeof *items);
    int rc = 0;
    if (!t || !ds || !next_v || !items) { rc = mq__err_set(&R->err, MQ_ENOMEM, "out of memory"); goto out; }
    for (int i = 0; i < N; i++) t[i] = (mtrack){0, 0, -1, false};
    if ((rc = mq__parallel_for(nth, N, 16, http_arrivals, R)) || (rc = atomic_load(&R->failed))) goto out;
    for (int day = 0; day < w->o->days; day++) {
        *day_reached = day;
        int64_t n = 0;
        for (int i = 0; i < N; i++) {
            int nv;
            long long start;
            atomic_store(&next_v[i], 0);
            ds[i] = (daystat){0, 0, 0};
            if (t[i].churned || day_plan(R, i, day, &t[i], &nv, &start) != 1) { atomic_store(&next_v[i], -2); continue; }
            for (int v = 0; v < nv; v++) items[n++] = (vitem){SIM_EPOCH + (long long)day * DAY + start + v * 5400LL, i, v};
        }
        qsort(items, (size_t)n, sizeof *items, vitem_cmp);
        hdays H = {R, items, ds, next_v, day};
        if ((rc = mq__parallel_for(nth, n, 1, http_visits, &H)) || (rc = atomic_load(&R->failed))) goto out;
        for (int i = 0; i < N; i++)
            if (atomic_load(&next_v[i]) > 0) day_end(R, &t[i], &ds[i], &R->units[(size_t)i * MQ_MAX(w->n_exps, 1)]);
    }
    *day_reached = w->o->days;
    for (int i = 0; i < N; i++) retained(R, &t[i], &R->units[(size_t)i * MQ_MAX(w->n_exps, 1)]);
out:
    free(t);
    free(ds);
    free(next_v);
    free(items);
    return rc;
}

/* In-process with artwork learning: day by day (as --server), every member's day in parallel
 * from the state published at the end of the day before, then the next state. Each member's
 * state (history, days away, satisfaction) is kept between days; a member's days are those of
 * the member-after-member run except for the artwork. */
typedef struct adays {
    run *R;
    mtrack *t;
    mq_member_state *st;        /* [members] */
    int day;
} adays;

static int art_arrivals(void *ctx, int64_t b, int64_t e, int tid)
{
    adays *A = ctx;
    run *R = A->R;
    scratch *s = &R->sc[tid];
    for (int64_t i = b; i < e && !atomic_load(&R->failed); i++) {
        int rc = arrival(R, s, (int)i);
        if (rc) { fail_run(R, s, rc); return 0; }
        A->st[i] = s->st;
    }
    return 0;
}

static int art_day(void *ctx, int64_t b, int64_t e, int tid)
{
    adays *A = ctx;
    run *R = A->R;
    world *w = R->w;
    scratch *s = &R->sc[tid];
    for (int64_t i = b; i < e && !atomic_load(&R->failed); i++) {
        mtrack *t = &A->t[i];
        int nv;
        long long start;
        if (t->churned || day_plan(R, (int)i, A->day, t, &nv, &start) != 1) continue;
        unit *u = &R->units[(size_t)i * MQ_MAX(w->n_exps, 1)];
        s->st = A->st[i];
        daystat ds = {0, 0, 0};
        for (int v = 0; v < nv; v++) {
            long long now = SIM_EPOCH + (long long)A->day * DAY + start + v * 5400LL;
            int rc = visit(R, s, (int)i, now, A->day, v, &ds, u);
            if (rc) { fail_run(R, s, rc); return 0; }
        }
        day_end(R, t, &ds, u);
        A->st[i] = s->st;
    }
    return 0;
}

static int art_run(run *R, int nth)
{
    world *w = R->w;
    int N = w->o->members, rc = 0;
    adays A = {R, calloc((size_t)N, sizeof *A.t), calloc((size_t)N, sizeof *A.st), 0};
    if (!A.t || !A.st) { rc = mq__err_set(&R->err, MQ_ENOMEM, "out of memory"); goto out; }
    for (int i = 0; i < N; i++) A.t[i] = (mtrack){0, 0, -1, false};
    if ((rc = mq__parallel_for(nth, N, 16, art_arrivals, &A)) || (rc = atomic_load(&R->failed))) goto out;
    for (int day = 0; day < w->o->days; day++) {
        A.day = day;
        if ((rc = mq__parallel_for(nth, N, 16, art_day, &A)) || (rc = atomic_load(&R->failed))) goto out;
        mq_art_snap *next = NULL;   /* the day's learning, for tomorrow's pages */
        if ((rc = mq_art_snap_create(R->art_st, (uint64_t)day + 2, R->art_sn, 0, &next, &R->err))) goto out;
        mq_art_snap_destroy(R->art_sn);
        R->art_sn = next;
    }
    for (int i = 0; i < N; i++) retained(R, &A.t[i], &R->units[(size_t)i * MQ_MAX(w->n_exps, 1)]);
out:
    free(A.t);
    free(A.st);
    return rc;
}

static int run_all(world *w, int force_exp, int force_variant, mq_evlog *evlog, mq__exlog *exlog, bool http,
                   unit **out_units, long long *pages, long long *events, double *seconds, double *page_seconds, mq_err *err)
{
    int nth = mq__threads(w->o->threads);
    run R = {.w = w, .force_exp = force_exp, .force_variant = force_variant, .evlog = evlog, .exlog = exlog, .http = http};
    R.units = calloc((size_t)w->o->members * MQ_MAX(w->n_exps, 1), sizeof *R.units);
    R.sc = calloc((size_t)nth, sizeof *R.sc);
    int rc = 0;
    if (!R.units || !R.sc) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto out; }
    for (int t = 0; t < nth; t++) {
        scratch *s = &R.sc[t];
        s->ctx = mq_page_ctx_create();
        mq_buf_init(&s->rec);
        mq_buf_init(&s->body);
        mq_buf_init(&s->resp);
        s->scores = malloc((size_t)w->n_titles * sizeof(float));
        s->mark = calloc((size_t)MQ_MAX(w->n_titles, 1), 1);
        s->hidx = malloc(MQ_STORE_RECENT * sizeof(int32_t));
        s->hist = malloc(MQ_STORE_RECENT * sizeof(mq_page_hist));
        s->art_kind = -1;
        if (!s->ctx || !s->scores || !s->mark || !s->hidx || !s->hist) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto out; }
        if (http) {
            if ((rc = mq__sim_http_init(&s->http, w->o->server, err))) goto out;
            s->has_http = true;
        }
    }
    memset(w->art_acc, 0, sizeof w->art_acc);
    memset(w->art_ope, 0, sizeof w->art_ope);
    if (w->asp && !w->art_mem && !(w->art_mem = malloc((size_t)w->o->members * 2 * sizeof *w->art_mem))) {
        rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
        goto out;
    }
    if (w->art_mem) memset(w->art_mem, 0, (size_t)w->o->members * 2 * sizeof *w->art_mem);
    pthread_mutex_init(&R.art_mu, NULL);
    if (w->asp && !http) {   /* a fresh learner for every run (A/B and each counterfactual) */
        if ((rc = mq_art_stats_create(w->asp, 1.0, &R.art_st, err)) ||
            (rc = mq_art_snap_create(R.art_st, 1, NULL, 0, &R.art_sn, err)))
            goto out;
        if (exlog) {
            char pp[4200];
            snprintf(pp, sizeof pp, "%s/artwork-pi-linucb.csv", w->o->out);
            if (!(R.art_pi = fopen(pp, "w")) || fputs("row,action,probability\n", R.art_pi) < 0) {
                rc = mq__err_set(err, MQ_EIO, "%s: cannot write: %s", pp, strerror(errno));
                goto out;
            }
        }
    }
    double t0 = mq_now();
    int day_reached = -1;
    rc = http ? http_run(&R, nth, &day_reached) : R.art_st ? art_run(&R, nth)
                                                          : mq__parallel_for(nth, w->o->members, 16, run_range, &R);
    if (R.failed) {
        rc = R.failed;
        *err = R.err;
        long long visits = 0;
        for (int t = 0; t < nth; t++) visits += R.sc[t].pages;
        if (http && day_reached < 0)
            mq__err_set(err, rc, "sim: the run stopped while posting the members' arrival histories (%d of %d members "
                        "posted, before day 0), then: %s", atomic_load(&R.done), w->o->members,
                        strncmp(R.err.msg, "sim: ", 5) ? R.err.msg : R.err.msg + 5);
        else if (http)
            mq__err_set(err, rc, "sim: the run stopped on simulated day %d of %d: %d members simulated through day %d "
                        "(%lld visits in all), then: %s (the server's logs hold the events of those visits)", day_reached,
                        w->o->days, w->o->members, day_reached - 1, visits,
                        strncmp(R.err.msg, "sim: ", 5) ? R.err.msg : R.err.msg + 5);
    }
    else if (rc) mq__err_set(err, rc, "sim: %s", R.err.msg[0] ? R.err.msg : "could not start threads");
    *seconds = mq_now() - t0;
    *pages = *events = 0;
    *page_seconds = 0;
    long long retries = 0;
    for (int t = 0; t < nth; t++) {
        *pages += R.sc[t].pages;
        *events += R.sc[t].events;
        *page_seconds += R.sc[t].page_seconds;
        retries += R.sc[t].retries;
    }
    if (retries) mq__logf(w->o->log, "sim: %lld requests the server shed (503 overloaded) were sent again", retries);
out:
    for (int t = 0; R.sc && t < nth; t++) {
        scratch *s = &R.sc[t];
        mq_page_ctx_destroy(s->ctx);
        mq_buf_release(&s->rec);
        mq_buf_release(&s->body);
        mq_buf_release(&s->resp);
        if (s->has_http) mq__sim_http_release(&s->http);
        free(s->scores);
        free(s->mark);
        free(s->hidx);
        free(s->hist);
        free(s->art_pi);
    }
    free(R.sc);
    if (R.art_pi && fclose(R.art_pi) && !rc) rc = mq__err_set(err, MQ_EIO, "sim: writing the LinUCB probabilities failed");
    mq_art_snap_destroy(R.art_sn);
    mq_art_stats_destroy(R.art_st);
    pthread_mutex_destroy(&R.art_mu);
    if (rc) { free(R.units); R.units = NULL; }
    *out_units = R.units;
    return rc;
}

/* ---- setup ---- */

/* The pre-period as the server sees it: every experiment of the file without a "start" gets
 * start = the first day after the pre-period, so the server (and the in-process assignment)
 * serve the default page before it. */
static int start_after_pre(const char *path, long long start, mq_err *err)
{
    const void *data;
    size_t len;
    int rc = mq__file_map(path, &data, &len, err);
    if (rc) return rc;
    cJSON *root = cJSON_ParseWithLength(data, len);
    mq__file_unmap(data, len);
    const cJSON *xs = cJSON_GetObjectItemCaseSensitive(root, "experiments");
    if (!cJSON_IsArray(xs)) {
        cJSON_Delete(root);
        return mq__err_set(err, MQ_EFORMAT, "%s: expected {\"experiments\": [...]}", path);
    }
    bool changed = false;
    for (cJSON *x = xs->child; x; x = x->next)
        if (cJSON_IsObject(x) && !cJSON_GetObjectItemCaseSensitive(x, "start")) {
            cJSON_AddNumberToObject(x, "start", (double)start);
            changed = true;
        }
    char *text = changed ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!changed) return 0;
    if (!text) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    rc = mq__write_file_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

static int world_init(world *w, const mq_sim_opts *o, mq_err *err)
{
    memset(w, 0, sizeof *w);
    w->o = o;
    w->P = &o->scenario->params;
    int rc = mq__sim_params_check(w->P, "scenario", err);
    if (rc) return rc;
    if (o->members < 1 || o->days < 1) return mq__err_set(err, MQ_EINVAL, "sim: members and days must be positive");
    mkdirs(o->out);
    mq_load_opts lo; mq_load_opts_init(&lo, sizeof lo);
    if ((rc = mq_data_open(o->data, &lo, &w->d, err))) return rc;
    if ((rc = get_model(w, "main", err))) return rc;
    /* experiments: --experiments, else the scenario's, written beside the results */
    char xpath[4200];
    snprintf(xpath, sizeof xpath, "%s/experiments.json", o->out);
    if (o->experiments) {
        const void *data;
        size_t len;
        if ((rc = mq__file_map(o->experiments, &data, &len, err))) return rc;
        rc = mq__write_file_atomic(xpath, data, len, err);
        mq__file_unmap(data, len);
        if (rc) return rc;
    } else if (o->scenario->experiments_json) {
        if ((rc = mq__write_file_atomic(xpath, o->scenario->experiments_json, strlen(o->scenario->experiments_json), err))) return rc;
    }
    if (o->experiments || o->scenario->experiments_json) {
        if (w->P->pre_days > 0 && (rc = start_after_pre(xpath, SIM_EPOCH + w->P->pre_days * DAY, err))) return rc;
        if ((rc = mq__xps_load(xpath, &w->xps, err))) return rc;
        w->has_xps = true;
        w->n_exps = w->xps.xp.n;
        if (w->n_exps > MQ_SIM_MAX_EXPS) return mq__err_set(err, MQ_EINVAL, "sim: at most %d experiments", MQ_SIM_MAX_EXPS);
        for (int i = 0; i < w->xps.n_models; i++)
            if (strcmp(w->xps.models[i], "main") && (rc = get_model(w, w->xps.models[i], err))) return rc;
        for (int e = 0; e < w->n_exps; e++)
            for (int v = 0; v < w->xps.xp.exps[e].n_variants && v < MQ_SIM_MAX_VARIANTS; v++) {
                w->vtreat[e][v] = (mq_sim_treat){0, -1};
                w->vchanged[e][v] = v > 0 && w->xps.treat[e * MQ_XP_MAX_VARIANTS + v].set != 0;
            }
        const mq_sim_scenario *sc = o->scenario;
        for (int k = 0; k < sc->n_treat; k++) {
            int e = -1, v = -1;
            for (int i = 0; i < w->n_exps; i++)
                if (!strcmp(w->xps.xp.exps[i].name, sc->treat_exp[k])) e = i;
            if (e < 0) return mq__err_set(err, MQ_EFORMAT, "scenario: field 'sim_treatments.%s': no such experiment", sc->treat_exp[k]);
            for (int i = 0; i < w->xps.xp.exps[e].n_variants; i++)
                if (!strcmp(w->xps.xp.exps[e].variants[i], sc->treat_variant[k])) v = i;
            if (v < 0 || v >= MQ_SIM_MAX_VARIANTS)
                return mq__err_set(err, MQ_EFORMAT, "scenario: field 'sim_treatments.%s.%s': no such variant", sc->treat_exp[k], sc->treat_variant[k]);
            w->vtreat[e][v] = sc->treat[k];
            if (v > 0 && (sc->treat[k].clickbait > 0 || sc->treat[k].novelty >= 0)) w->vchanged[e][v] = true;
        }
    }
    /* the page catalog, as the server builds it without pop.mqm / trending.mqm */
    w->ids = malloc((size_t)w->n_titles * sizeof *w->ids);
    float *pop = calloc((size_t)w->n_titles, sizeof *pop);
    if (!w->ids || !pop) { free(pop); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    for (int32_t t = 0; t < w->n_titles; t++) w->ids[t] = mq_model_title_id(w->models[0], t);
    w->ds2m = malloc((size_t)MQ_MAX(w->d->n_titles, 1) * sizeof *w->ds2m);
    if (!w->ds2m) { free(pop); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    for (int32_t j = 0; j < w->d->n_titles; j++) w->ds2m[j] = mq_model_title_index(w->models[0], mq_idmap_name(w->d->title_ids, j));
    w->m2ds = malloc((size_t)MQ_MAX(w->n_titles, 1) * sizeof *w->m2ds);
    if (!w->m2ds) { free(pop); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
    for (int32_t t = 0; t < w->n_titles; t++) w->m2ds[t] = -1;
    for (int32_t j = 0; j < w->d->n_titles; j++)
        if (w->ds2m[j] >= 0) w->m2ds[w->ds2m[j]] = j;
    for (int32_t j = 0; j < w->d->n_titles; j++) {
        int32_t t = mq_model_title_index(w->models[0], mq_idmap_name(w->d->title_ids, j));
        if (t >= 0) pop[t] += (float)(w->d->t_ptr[j + 1] - w->d->t_ptr[j]);
    }
    rc = mq_page_catalog_init(&w->pc, w->n_titles, mq_model_catalog(w->models[0]), (const char *const *)w->ids, pop, pop, err);
    free(pop);
    if (rc) return rc;
    w->has_pc = true;
    /* artwork in-process: when a variant sets "artwork_policy" (then --data must have artwork) */
    for (int e = 0; e < w->n_exps; e++)
        for (int v = 0; v < w->xps.xp.exps[e].n_variants && v < MQ_XP_MAX_VARIANTS; v++) {
            const mq__xps_treat *t = &w->xps.treat[e * MQ_XP_MAX_VARIANTS + v];
            if (!(t->set & (1u << MQ__XT_ARTWORK_POLICY))) continue;
            if (!w->d->catalog.art_ptr || w->d->catalog.n_artworks < 1)
                return mq__err_set(err, MQ_EINVAL, "sim: experiment '%s' variant '%s' sets \"artwork_policy\" but %s has no "
                                   "artwork (artwork.csv, docs/data.md)", w->xps.xp.exps[e].name, w->xps.xp.exps[e].variants[v], o->data);
            if (t->art_kind == MQ_POLICY_LINUCB && w->art_linucb == 0) w->art_linucb = t->art_param;
            if (!w->asp && (rc = mq_art_space_create(&w->d->catalog, &w->asp, err))) return rc;
        }
    return build_truth(w, err);
}

/* ---- results ---- */

static const char *const metric_names[] = {"plays", "play_seconds", "active_days", "retained"};
#define N_METRICS 4

static double metric(const unit *u, int k)
{
    switch (k) {
    case 0: return u->plays;
    case 1: return u->seconds;
    case 2: return u->active_days;
    default: return u->retained;
    }
}

typedef struct order { long long first; const char *id; } order;
/* xp collect's order: first exposure, then unit id */
static int order_cmp(const void *a, const void *b)
{
    const order *x = a, *y = b;
    return x->first != y->first ? (x->first < y->first ? -1 : 1) : strcmp(x->id, y->id);
}

static int write_units(world *w, const unit *U, int e, const char *path, mq_err *err)
{
    int N = w->o->members, ne = w->n_exps;
    order *ord = malloc((size_t)N * sizeof *ord);
    if (!ord) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    int n = 0;
    for (int i = 0; i < N; i++)
        if (U[(size_t)i * ne + e].exposed) ord[n++] = (order){U[(size_t)i * ne + e].first, w->m[i].id};
    qsort(ord, (size_t)n, sizeof *ord, order_cmp);
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_puts(&b, "unit,variant,first_exposure,pages,plays,play_seconds,finishes,active_days,pre_plays,pre_play_seconds,retained\n");
    const mq_xp_experiment *xe = &w->xps.xp.exps[e];
    for (int k = 0; k < n; k++) {
        int i = atoi(ord[k].id + 3);   /* "sim<i>" */
        const unit *u = &U[(size_t)i * ne + e];
        mq_buf_printf(&b, "%s,%s,%lld,%d,%d,", ord[k].id, xe->variants[u->variant], u->first, u->pages, u->plays);
        mq_buf_json_num(&b, u->seconds);
        mq_buf_printf(&b, ",%d,%d,%d,", u->finishes, u->active_days, u->pre_plays);
        mq_buf_json_num(&b, u->pre_seconds);
        mq_buf_printf(&b, ",%d\n", u->retained);
    }
    free(ord);
    int rc = b.oom ? mq__err_set(err, MQ_ENOMEM, "out of memory") : mq__write_file_atomic(path, b.p, b.len, err);
    mq_buf_release(&b);
    return rc;
}

/* Reads mq_xp_analyze's results[] into the estimate section. */
static int estimate_json(world *w, int e, const char *units_path, mq_buf *out, mq_err *err)
{
    const mq_xp_experiment *xe = &w->xps.xp.exps[e];
    mq_xp_analyze_opts ao;
    mq_xp_analyze_opts_init(&ao, sizeof ao);
    for (int k = 0; k < N_METRICS; k++) ao.metrics[k] = metric_names[k];
    ao.n_metrics = N_METRICS;
    ao.control = xe->variants[0];
    if (w->P->pre_days > 0) {
        /* CUPED on the pre-period of the same metric */
        ao.n_covariates = 2;
        ao.covariate_metric[0] = "plays";
        ao.covariate_col[0] = "pre_plays";
        ao.covariate_metric[1] = "play_seconds";
        ao.covariate_col[1] = "pre_play_seconds";
    }
    ao.experiment = xe;
    ao.threads = 1;
    char *json = NULL, *text = NULL;
    int rc = mq_xp_analyze(units_path, &ao, &json, &text, NULL, err);
    if (rc) return rc;
    char apath[4200];
    snprintf(apath, sizeof apath, "%s/analyze-%s.json", w->o->out, xe->name);
    rc = mq__write_file_atomic(apath, json, strlen(json), err);
    cJSON *root = rc ? NULL : cJSON_Parse(json);
    free(json);
    free(text);
    if (rc) return rc;
    if (!root) return mq__err_set(err, MQ_EFORMAT, "sim: unreadable analysis of %s", units_path);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "results");
    mq_buf_json_str(out, xe->name, strlen(xe->name));
    mq_buf_putc(out, ':');
    mq_buf_putc(out, '{');
    for (int k = 0; k < N_METRICS; k++) {
        if (k) mq_buf_putc(out, ',');
        mq_buf_json_str(out, metric_names[k], strlen(metric_names[k]));
        mq_buf_puts(out, ":{");
        bool first = true;
        for (const cJSON *r = res ? res->child : NULL; r; r = r->next) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "metric"), *v = cJSON_GetObjectItemCaseSensitive(r, "variant");
            if (!cJSON_IsString(m) || !cJSON_IsString(v) || strcmp(m->valuestring, metric_names[k])) continue;
            if (!first) mq_buf_putc(out, ',');
            first = false;
            mq_buf_json_str(out, v->valuestring, strlen(v->valuestring));
            mq_buf_putc(out, ':');
            static const char *const f[] = {"effect", "ci_low", "ci_high", "p_value"};
            for (int j = 0; j < 4; j++) {
                const cJSON *x = cJSON_GetObjectItemCaseSensitive(r, f[j]);
                mq_buf_printf(out, "%s\"%s\":", j ? "," : "{", f[j]);
                mq_buf_json_num(out, cJSON_IsNumber(x) ? x->valuedouble : NAN);
            }
            mq_buf_putc(out, '}');
        }
        mq_buf_putc(out, '}');
    }
    mq_buf_putc(out, '}');
    cJSON_Delete(root);
    return 0;
}

/* {"impressions","examined","clicks","expected_clicks","ctr","true_ctr"}: true_ctr = the
 * expected clicks (true click probabilities of the examined titles) per impression. */
static void art_json(mq_buf *b, const double *acc)
{
    mq_buf_printf(b, "{\"impressions\":%.0f,\"examined\":%.0f,\"clicks\":%.0f,\"expected_clicks\":", acc[0], acc[1], acc[2]);
    mq_buf_json_num(b, acc[3]);
    mq_buf_puts(b, ",\"ctr\":");
    mq_buf_json_num(b, acc[0] > 0 ? acc[2] / acc[0] : NAN);
    mq_buf_puts(b, ",\"true_ctr\":");
    mq_buf_json_num(b, acc[0] > 0 ? acc[3] / acc[0] : NAN);
    mq_buf_putc(b, '}');
}

/* The true click rate (expected clicks per impression: a ratio of sums over the experiment's
 * eligible members) of run b minus run a, paired by member (the runs share common random
 * numbers), and its standard error by the delta method: z_i = (E_bi - R_b I_bi) / mean(I_b) -
 * (E_ai - R_a I_ai) / mean(I_a), se = sd(z) / sqrt(n). mem: [members x 2] (I, E) per run. */
static void art_diff(const world *w, int e, const double *a, const double *b, double *diff, double *se)
{
    double Ia = 0, Ea = 0, Ib = 0, Eb = 0;
    int n = 0;
    for (int i = 0; i < w->o->members; i++) {
        if (!w->m[i].eligible[e]) continue;
        n++;
        Ia += a[2 * i];
        Ea += a[2 * i + 1];
        Ib += b[2 * i];
        Eb += b[2 * i + 1];
    }
    *diff = *se = NAN;
    if (n < 2 || !(Ia > 0) || !(Ib > 0)) return;
    const double Ra = Ea / Ia, Rb = Eb / Ib, ma = Ia / n, mb = Ib / n;
    double ss = 0;
    for (int i = 0; i < w->o->members; i++) {
        if (!w->m[i].eligible[e]) continue;
        double z = (b[2 * i + 1] - Rb * b[2 * i]) / mb - (a[2 * i + 1] - Ra * a[2 * i]) / ma;
        ss += z * z;
    }
    *diff = Rb - Ra;
    *se = sqrt(ss / (n - 1) / n);
}

int mq_sim_run(const mq_sim_opts *o, char **json, mq_err *err)
{
    *json = NULL;
    mq_sim_opts ov; int orc = MQ__OPTS_GET(mq_sim_opts, &ov, o, err); if (orc) return orc; o = &ov;
    world w;
    int rc = world_init(&w, o, err);
    unit *ab = NULL;
    mq_buf out, truth, art;
    double *art_first = NULL;   /* per member (I, E) of the experiment's first artwork variant */
    mq_buf_init(&out);
    mq_buf_init(&truth);
    mq_buf_init(&art);
    if (rc) goto done;
    long long pages, events, tp = 0, te = 0;
    double secs, psecs;
    mq__logf(o->log, "sim: A/B run: %d members, %d days%s%s", o->members, o->days, o->server ? ", server " : "",
             o->server ? o->server : "");
    char evdir[4200], exdir[4200];
    snprintf(evdir, sizeof evdir, "%s/log/events", o->out);
    snprintf(exdir, sizeof exdir, "%s/log/exposures", o->out);
    clear_dir(evdir);
    clear_dir(exdir);
    if (o->server) {
        /* the logs are the server's (`marquee xp collect` reads them there): none here, and no
         * earlier run's collected units beside these */
        for (int e = 0; e < w.n_exps; e++) {
            char cpath[4200];
            snprintf(cpath, sizeof cpath, "%s/collect-%s.csv", o->out, w.xps.xp.exps[e].name);
            unlink(cpath);
        }
        if ((rc = run_all(&w, -1, -1, NULL, NULL, true, &ab, &pages, &events, &secs, &psecs, err))) goto done;
    } else {
        /* the A/B run writes the server's logs: DIR/log/events and DIR/log/exposures */
        mkdirs(evdir);
        mkdirs(exdir);
        mq_evlog_opts eo; mq_evlog_opts_init(&eo, sizeof eo);
        eo.fsync = MQ_FSYNC_NONE;
        mq_evlog *evlog = NULL;
        mq__exlog *exlog = NULL;
        if ((rc = mq_evlog_open(evdir, &eo, &evlog, err))) goto done;
        if (w.has_xps && (rc = mq__exlog_open(exdir, 0, NULL, &exlog, err))) { mq_evlog_close(evlog); goto done; }
        rc = run_all(&w, -1, -1, evlog, exlog, false, &ab, &pages, &events, &secs, &psecs, err);
        mq_evlog_close(evlog);
        mq__exlog_close(exlog);
        if (rc) goto done;
        /* the same units from the logs, by `xp collect` */
        for (int e = 0; e < w.n_exps; e++) {
            char cpath[4200];
            snprintf(cpath, sizeof cpath, "%s/collect-%s.csv", o->out, w.xps.xp.exps[e].name);
            mq_xp_collect_opts co; mq_xp_collect_opts_init(&co, sizeof co);
            co.events = evdir; co.exposures = exdir; co.experiment = w.xps.xp.exps[e].name;
            co.from = 0; co.to = 0; co.pre_days = MQ_MAX(w.P->pre_days, 1);
            co.finish_seconds = w.P->runtime_seconds;
            if ((rc = mq_xp_collect(&co, cpath, NULL, err))) goto done;
        }
    }
    mq__logf(o->log, "sim: A/B run: %lld pages, %lld events in %.2f s (%.0f pages/s)", pages, events, secs, pages / MQ_MAX(secs, 1e-9));
    /* artwork: the A/B run's counts per policy, then each counterfactual run's */
    if (w.asp) {
        mq_buf_puts(&art, "{\"ab\":{");
        for (int k = 0, first = 1; k <= MQ_POLICY_FIXED; k++) {
            if (w.art_acc[k][0] == 0) continue;
            mq_buf_printf(&art, "%s\"%s\":", first ? "" : ",", mq_art_policy_name(k));
            art_json(&art, w.art_acc[k]);
            first = 0;
        }
        mq_buf_printf(&art, "},\"ope\":{\"rows\":%.0f,\"linucb_true_value\":", w.art_ope[0]);
        mq_buf_json_num(&art, w.art_ope[0] > 0 ? w.art_ope[1] / w.art_ope[0] : NAN);
        mq_buf_puts(&art, ",\"fixed_true_value\":");
        mq_buf_json_num(&art, w.art_ope[0] > 0 ? w.art_ope[2] / w.art_ope[0] : NAN);
        mq_buf_puts(&art, "},\"truth\":{");
    }
    tp += pages;
    te += events;
    /* truth: every variant of every experiment alone, common random numbers */
    mq_buf_putc(&truth, '{');
    for (int e = 0; o->counterfactual && e < w.n_exps; e++) {
        const mq_xp_experiment *xe = &w.xps.xp.exps[e];
        int nv = MQ_MIN(xe->n_variants, MQ_SIM_MAX_VARIANTS);
        double mean[MQ_SIM_MAX_VARIANTS][N_METRICS] = {{0}};
        free(art_first);
        art_first = NULL;
        for (int v = 0; v < nv; v++) {
            unit *cu = NULL;
            if ((rc = run_all(&w, e, v, NULL, NULL, false, &cu, &pages, &events, &secs, &psecs, err))) goto done;
            mq__logf(o->log, "sim: counterfactual %s=%s: %lld pages in %.2f s", xe->name, xe->variants[v], pages, secs);
            const mq__xps_treat *xt = &w.xps.treat[e * MQ_XP_MAX_VARIANTS + v];
            if (w.asp && (xt->set & (1u << MQ__XT_ARTWORK_POLICY))) {
                if (art.len > 0 && art.p[art.len - 1] != '{') mq_buf_putc(&art, ',');
                char key[2 * MQ_XP_NAME + 2];   /* "EXP.VARIANT": one key per counterfactual run */
                snprintf(key, sizeof key, "%s.%s", xe->name, xe->variants[v]);
                mq_buf_json_str(&art, key, strlen(key));
                mq_buf_putc(&art, ':');
                art_json(&art, w.art_acc[xt->art_kind]);
                if (art_first) {   /* against the experiment's first variant with artwork */
                    double d, se;
                    art_diff(&w, e, art_first, w.art_mem, &d, &se);
                    art.len--;
                    mq_buf_puts(&art, ",\"true_ctr_effect\":");
                    mq_buf_json_num(&art, d);
                    mq_buf_puts(&art, ",\"se\":");
                    mq_buf_json_num(&art, se);
                    mq_buf_puts(&art, ",\"ci_low\":");
                    mq_buf_json_num(&art, d - 1.959963984540054 * se);
                    mq_buf_puts(&art, ",\"ci_high\":");
                    mq_buf_json_num(&art, d + 1.959963984540054 * se);
                    mq_buf_putc(&art, '}');
                } else if (!(art_first = malloc((size_t)o->members * 2 * sizeof *art_first))) {
                    free(cu);
                    rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
                    goto done;
                } else memcpy(art_first, w.art_mem, (size_t)o->members * 2 * sizeof *art_first);
            }
            /* each unit under this variant alone: beside the A/B run's units, a unit's row here
             * for its own variant is its A/B row unless the arms interfere (docs/sim.md) */
            char cpath[4200];
            snprintf(cpath, sizeof cpath, "%s/cf-%s-%s.csv", o->out, xe->name, xe->variants[v]);
            if ((rc = write_units(&w, cu, e, cpath, err))) { free(cu); goto done; }
            long long n = 0;
            for (int i = 0; i < o->members; i++) {
                const unit *u = &cu[(size_t)i * w.n_exps + e];
                if (!w.m[i].eligible[e] || !u->exposed) continue;
                n++;
                for (int k = 0; k < N_METRICS; k++) mean[v][k] += metric(u, k);
            }
            for (int k = 0; k < N_METRICS; k++) mean[v][k] = n ? mean[v][k] / (double)n : NAN;
            free(cu);
        }
        if (e) mq_buf_putc(&truth, ',');
        mq_buf_json_str(&truth, xe->name, strlen(xe->name));
        mq_buf_puts(&truth, ":{");
        for (int k = 0; k < N_METRICS; k++) {
            mq_buf_printf(&truth, "%s\"%s\":{", k ? "," : "", metric_names[k]);
            for (int v = 1; v < nv; v++) {
                if (v > 1) mq_buf_putc(&truth, ',');
                mq_buf_json_str(&truth, xe->variants[v], strlen(xe->variants[v]));
                mq_buf_puts(&truth, ":{\"effect\":");
                mq_buf_json_num(&truth, mean[v][k] - mean[0][k]);
                mq_buf_puts(&truth, ",\"mean\":");
                mq_buf_json_num(&truth, mean[v][k]);
                mq_buf_putc(&truth, '}');
            }
            mq_buf_putc(&truth, '}');
        }
        mq_buf_putc(&truth, '}');
    }
    mq_buf_putc(&truth, '}');
    char tpath[4200];
    snprintf(tpath, sizeof tpath, "%s/truth.json", o->out);
    if (!o->counterfactual) unlink(tpath);   /* never leave an earlier run's truth beside these units */
    if (o->counterfactual) {
        snprintf(tpath, sizeof tpath, "%s/truth.json", o->out);
        mq_buf_putc(&truth, '\n');
        if ((rc = mq__write_file_atomic(tpath, truth.p, truth.len, err))) goto done;
        truth.len--;
    }
    mq_buf_printf(&out, "{\"members\":%d,\"days\":%d,\"pages\":%lld,\"events\":%lld,\"truth\":", o->members, o->days, tp, te);
    mq_buf_put(&out, truth.p, truth.len);
    mq_buf_puts(&out, ",\"estimate\":{");
    for (int e = 0; e < w.n_exps; e++) {
        char upath[4200];
        snprintf(upath, sizeof upath, "%s/units-%s.csv", o->out, w.xps.xp.exps[e].name);
        if ((rc = write_units(&w, ab, e, upath, err))) goto done;
        if (e) mq_buf_putc(&out, ',');
        if ((rc = estimate_json(&w, e, upath, &out, err))) goto done;
    }
    mq_buf_putc(&out, '}');
    if (w.asp) {
        mq_buf_puts(&art, "}}");
        mq_buf_puts(&out, ",\"artwork\":");
        mq_buf_put(&out, art.p, art.len);
    }
    mq_buf_puts(&out, "}\n");
    if (out.oom || truth.oom || art.oom) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
    *json = strdup(mq_buf_cstr(&out));
    if (!*json) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
done:
    free(ab);
    mq_buf_release(&out);
    mq_buf_release(&truth);
    mq_buf_release(&art);
    free(art_first);
    world_release(&w);
    return rc;
}

int mq_sim_bench(const mq_sim_opts *o, double *page_rate, double *sim_rate, mq_err *err)
{
    /* One run: the time inside scoring + mq_page_build (the raw page-build rate of these very
     * requests) against the run's whole time (the simulator's rate). */
    mq_sim_opts ov; int orc = MQ__OPTS_GET(mq_sim_opts, &ov, o, err); if (orc) return orc; o = &ov;
    world w;
    int rc = world_init(&w, o, err);
    unit *u = NULL;
    long long pages = 0, events;
    double secs = 0, psecs = 0;
    if (!rc) rc = run_all(&w, -1, -1, NULL, NULL, false, &u, &pages, &events, &secs, &psecs, err);
    free(u);
    if (!rc) {
        int nth = mq__threads(o->threads);
        *sim_rate = pages / MQ_MAX(secs, 1e-9);
        *page_rate = pages / MQ_MAX(psecs / nth, 1e-9);
    }
    world_release(&w);
    return rc;
}

/* ---- offline against online (--offline-check) ---- */

typedef struct play_rec { int32_t m, t; int64_t time; } play_rec;
typedef struct play_log { const world *w; play_rec *p; int64_t n, cap; int failed; } play_log;

static int collect_plays(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    (void)first_seq;
    play_log *L = user;
    for (int i = 0; i < n; i++) {
        if (ev[i].kind != MQ_EV_PLAY || strncmp(ev[i].member, "sim", 3)) continue;
        int32_t t = mq_model_title_index(L->w->models[0], ev[i].title);
        if (t < 0) continue;
        if (L->n == L->cap) {
            L->cap = L->cap ? 2 * L->cap : 65536;
            play_rec *q = realloc(L->p, (size_t)L->cap * sizeof *q);
            if (!q) return MQ_ENOMEM;
            L->p = q;
        }
        L->p[L->n++] = (play_rec){(int32_t)atoi(ev[i].member + 3), t, ev[i].time};
    }
    return 0;
}

static int play_cmp(const void *a, const void *b)
{
    const play_rec *x = a, *y = b;
    if (x->m != y->m) return x->m < y->m ? -1 : 1;
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    return (x->t > y->t) - (x->t < y->t);
}

static int i32_cmp(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int offline_score(void *user, const int32_t *hist, int n_hist, float *scores, mq_err *err)
{
    return mq_model_score(user, hist, NULL, n_hist, scores, err);
}

/* The held-out set of the first model's run: per member, the titles played before cut_time
 * (the arrival history included) are the fold-in, those first played at or after it the
 * targets. */
static int build_heldout(const world *w, play_log *L, long long cut_time, mq_heldout *h, mq_err *err)
{
    int N = w->o->members;
    qsort(L->p, (size_t)L->n, sizeof *L->p, play_cmp);
    memset(h, 0, sizeof *h);
    h->n = N;
    h->member_ids = malloc((size_t)N * sizeof *h->member_ids);
    h->in_ptr = calloc((size_t)N + 1, sizeof *h->in_ptr);
    h->out_ptr = calloc((size_t)N + 1, sizeof *h->out_ptr);
    h->in_idx = malloc((size_t)MQ_MAX(L->n, 1) * sizeof *h->in_idx);
    h->out_idx = malloc((size_t)MQ_MAX(L->n, 1) * sizeof *h->out_idx);
    int32_t *mark = calloc((size_t)MQ_MAX(w->n_titles, 1), sizeof *mark);
    if (!h->member_ids || !h->in_ptr || !h->out_ptr || !h->in_idx || !h->out_idx || !mark) {
        free(mark);
        return mq__err_set(err, MQ_ENOMEM, "out of memory");
    }
    int64_t k = 0, ni = 0, no = 0;
    for (int i = 0; i < N; i++) {
        h->member_ids[i] = w->m[i].id;
        while (k < L->n && L->p[k].m < i) k++;
        int64_t a = k;
        while (k < L->n && L->p[k].m == i) k++;
        /* mark[t] = 2i+1: in the fold-in; 2i+2: a target already */
        int64_t i0 = ni, o0 = no;
        for (int64_t j = a; j < k; j++) {
            int32_t t = L->p[j].t;
            if (L->p[j].time < cut_time) {
                if (mark[t] != 2 * i + 1) { mark[t] = 2 * i + 1; h->in_idx[ni++] = t; }
            } else if (mark[t] != 2 * i + 1 && mark[t] != 2 * i + 2) {
                mark[t] = 2 * i + 2;
                h->out_idx[no++] = t;
            }
        }
        qsort(h->in_idx + i0, (size_t)(ni - i0), sizeof *h->in_idx, i32_cmp);
        qsort(h->out_idx + o0, (size_t)(no - o0), sizeof *h->out_idx, i32_cmp);
        h->in_ptr[i + 1] = ni;
        h->out_ptr[i + 1] = no;
    }
    free(mark);
    return 0;
}

static void heldout_release(mq_heldout *h)
{
    free(h->member_ids);
    free(h->in_ptr);
    free(h->out_ptr);
    free(h->in_idx);
    free(h->out_idx);
}

int mq_sim_offline_check(const mq_sim_opts *o, const char *const *models, int n, const char *offline_metric, char **json,
                         mq_err *err)
{
    *json = NULL;
    mq_sim_opts ov; int orc = MQ__OPTS_GET(mq_sim_opts, &ov, o, err); if (orc) return orc; o = &ov;
    if (n < 2 || n > MQ_SIM_MAX_VARIANTS)
        return mq__err_set(err, MQ_EINVAL, "sim: --offline-check takes 2 to %d models (got %d)", MQ_SIM_MAX_VARIANTS, n);
    const char *om = offline_metric ? offline_metric : "ndcg@20";
    /* the models: NAME (NAME.mqm in --models, or the scenario's) or NAME=KIND[:k=v,k=v...] */
    mq_sim_scenario sc;
    memset(&sc, 0, sizeof sc);
    sc.params = o->scenario->params;
    snprintf(sc.name, sizeof sc.name, "offline-check");
    char names[MQ_SIM_MAX_VARIANTS][64];
    for (int v = 0; v < n; v++) {
        const char *eq = strchr(models[v], '=');
        size_t nl = eq ? (size_t)(eq - models[v]) : strlen(models[v]);
        if (nl == 0 || nl >= sizeof names[v] || strspn(models[v], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") < nl)
            return mq__err_set(err, MQ_EINVAL, "sim: --offline-check: '%s' is not NAME or NAME=KIND[:k=v,...] (NAME: letters, digits, _ -)", models[v]);
        memcpy(names[v], models[v], nl);
        names[v][nl] = 0;
        for (int u = 0; u < v; u++)
            if (!strcmp(names[u], names[v])) return mq__err_set(err, MQ_EINVAL, "sim: --offline-check: model '%s' named twice", names[v]);
        if (!eq) continue;
        if (sc.n_models == MQ_SIM_MAX_MODELS) return mq__err_set(err, MQ_EINVAL, "sim: more than %d models", MQ_SIM_MAX_MODELS);
        int m = sc.n_models++;
        memcpy(sc.model_name[m], names[v], sizeof sc.model_name[m]);
        const char *colon = strchr(eq + 1, ':');
        size_t kl = colon ? (size_t)(colon - eq - 1) : strlen(eq + 1);
        if (kl == 0 || kl >= sizeof sc.model_kind[m]) return mq__err_set(err, MQ_EINVAL, "sim: --offline-check: '%s' has no model kind", models[v]);
        memcpy(sc.model_kind[m], eq + 1, kl);
        sc.model_kind[m][kl] = 0;
        for (const char *p = colon ? colon + 1 : NULL; p && *p;) {
            const char *c = strchr(p, ',');
            size_t pl = c ? (size_t)(c - p) : strlen(p);
            if (sc.model_n_params[m] == 16 || pl == 0 || pl >= 64)
                return mq__err_set(err, MQ_EINVAL, "sim: --offline-check: '%s': bad parameter list", models[v]);
            memcpy(sc.model_params[m][sc.model_n_params[m]], p, pl);
            sc.model_params[m][sc.model_n_params[m]++][pl] = 0;
            p = c ? c + 1 : p + pl;
        }
    }
    const mq_sim_scenario *os = o->scenario;
    for (int m = 0; m < os->n_models && sc.n_models < MQ_SIM_MAX_MODELS; m++) {
        int k = sc.n_models++;
        memcpy(sc.model_name[k], os->model_name[m], sizeof sc.model_name[k]);
        memcpy(sc.model_kind[k], os->model_kind[m], sizeof sc.model_kind[k]);
        sc.model_n_params[k] = os->model_n_params[m];
        memcpy(sc.model_params[k], os->model_params[m], sizeof sc.model_params[k]);
    }
    /* one experiment, a variant per model, each served alone to everyone (counterfactual) */
    mq_buf xb;
    mq_buf_init(&xb);
    mq_buf_puts(&xb, "{\"experiments\":[{\"name\":\"offline_check\",\"variants\":[");
    for (int v = 0; v < n; v++)
        mq_buf_printf(&xb, "%s{\"name\":\"%s\",\"treatment\":{\"model\":\"%s\"}}", v ? "," : "", names[v], names[v]);
    mq_buf_puts(&xb, "]}]}");
    sc.experiments_json = (char *)mq_buf_cstr(&xb);
    mq_sim_opts o2 = *o;
    o2.scenario = &sc;
    o2.experiments = NULL;
    o2.server = NULL;
    world w;
    int rc = world_init(&w, &o2, err);
    mq_buf out;
    mq_buf_init(&out);
    play_log L = {.w = &w};
    mq_heldout h;
    memset(&h, 0, sizeof h);
    double online[MQ_SIM_MAX_VARIANTS][N_METRICS] = {{0}};
    mq_eval_result *res = calloc((size_t)n, sizeof *res);
    if (!rc && !res) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
    if (rc) goto done;
    char ldir[4200];
    snprintf(ldir, sizeof ldir, "%s/offline-log", o->out);
    clear_dir(ldir);
    mkdirs(ldir);
    for (int v = 0; v < n; v++) {
        mq_evlog *evlog = NULL;
        mq_evlog_opts eo; mq_evlog_opts_init(&eo, sizeof eo);
        eo.fsync = MQ_FSYNC_NONE;
        /* the first model's run is the logged data the offline metrics see */
        if (v == 0 && (rc = mq_evlog_open(ldir, &eo, &evlog, err))) goto done;
        unit *cu = NULL;
        long long pages, events;
        double secs, psecs;
        rc = run_all(&w, 0, v, evlog, NULL, false, &cu, &pages, &events, &secs, &psecs, err);
        mq_evlog_close(evlog);
        if (rc) goto done;
        mq__logf(o->log, "sim: offline-check: %s served alone: %lld pages in %.2f s", names[v], pages, secs);
        long long cnt = 0;
        for (int i = 0; i < o->members; i++) {
            const unit *u = &cu[i];
            if (!u->exposed) continue;
            cnt++;
            for (int k = 0; k < N_METRICS; k++) online[v][k] += metric(u, k);
        }
        for (int k = 0; k < N_METRICS; k++) online[v][k] = cnt ? online[v][k] / (double)cnt : NAN;
        free(cu);
    }
    if ((rc = mq_evlog_scan(ldir, collect_plays, &L, err))) goto done;
    int cut_day = o->days - o->days / 2;
    if ((rc = build_heldout(&w, &L, SIM_EPOCH + cut_day * DAY, &h, err))) goto done;
    mq_eval_opts eo;
    mq_eval_opts_init(&eo, sizeof eo);
    eo.n_threads = o->threads;
    double off[MQ_SIM_MAX_VARIANTS], eff[MQ_SIM_MAX_VARIANTS];
    for (int v = 0; v < n; v++) {
        int slot = model_slot(&w, names[v]);
        if ((rc = mq_eval_heldout(offline_score, (void *)w.models[slot], w.n_titles, &h, &eo, &res[v], err))) goto done;
        off[v] = NAN;
        for (int k = 0; k < res[v].n_metrics; k++)
            if (!strcmp(res[v].metrics[k].name, om)) off[v] = res[v].metrics[k].mean;
        if (isnan(off[v])) { rc = mq__err_set(err, MQ_EINVAL, "sim: --offline-metric: '%s' is not a metric of marquee eval (e.g. ndcg@20, recall@10, mrr, auc)", om); goto done; }
        eff[v] = online[v][1] - online[0][1];
        mq__logf(o->log, "sim: offline-check: %s: %s %.5f, play_seconds %+.1f against %s", names[v], om, off[v], eff[v], names[0]);
    }
    double tau = mq_stats_kendall_tau(off, eff, n);
    mq_buf_printf(&out, "{\"members\":%d,\"days\":%d,\"cut_day\":%d,\"heldout_members\":%d,\"metric\":", o->members, o->days,
                  cut_day, (int)res[0].n_members);
    mq_buf_json_str(&out, om, strlen(om));
    mq_buf_puts(&out, ",\"models\":[");
    for (int v = 0; v < n; v++) {
        mq_buf_puts(&out, v ? ",{\"name\":" : "{\"name\":");
        mq_buf_json_str(&out, names[v], strlen(names[v]));
        mq_buf_printf(&out, ",\"kind\":\"%s\",\"offline\":{", mq_model_kind(w.models[model_slot(&w, names[v])]));
        for (int k = 0; k < res[v].n_metrics; k++) {
            const mq_eval_metric *em = &res[v].metrics[k];
            mq_buf_printf(&out, "%s\"%s\":{\"mean\":", k ? "," : "", em->name);
            mq_buf_json_num(&out, em->mean);
            mq_buf_puts(&out, ",\"se\":");
            mq_buf_json_num(&out, em->se);
            mq_buf_putc(&out, '}');
        }
        mq_buf_puts(&out, "},\"online\":{");
        for (int k = 0; k < N_METRICS; k++) {
            mq_buf_printf(&out, "%s\"%s\":{\"mean\":", k ? "," : "", metric_names[k]);
            mq_buf_json_num(&out, online[v][k]);
            mq_buf_puts(&out, ",\"effect\":");
            mq_buf_json_num(&out, online[v][k] - online[0][k]);
            mq_buf_putc(&out, '}');
        }
        mq_buf_puts(&out, "}}");
    }
    mq_buf_puts(&out, "],\"kendall_tau\":");
    mq_buf_json_num(&out, tau);
    mq_buf_puts(&out, "}\n");
    if (out.oom) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
    *json = strdup(mq_buf_cstr(&out));
    if (!*json) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
done:
    free(res);
    free(L.p);
    heldout_release(&h);
    mq_buf_release(&out);
    world_release(&w);
    mq_buf_release(&xb);
    return rc;
}
