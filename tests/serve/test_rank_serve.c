/* test_rank_serve.c: the second-stage ranker in `marquee serve` (src/serve/rank_serve.c),
 * end to end over HTTP: Top Picks in the offline ranker's order for the member's live history
 * (data + events posted now, with the live trending counters), explain contributions that sum
 * to the margin, the "ranker" treatment of an experiment, generators missing or of another
 * catalog refused at start and at reload (the old ranker keeps serving), a bad ranker file, and
 * a reload that picks up a new ranker.mqm.
 *
 * Models (trained once per run into the run's cache by the marquee command): synthetic events
 * (mq_synth_write: 300 members, 200 titles), main.mqm = EASE, the generators
 * ease/itemknn/pop/trending.mqm and ranker.mqm over them. */
#include "serve_harness.h"

#include <math.h>

#define RK_PARAMS "--param candidates=pop,trending,itemknn,ease --param top=40 --param rounds=30 " \
                  "--param early_stop=10 --param label_frac=0.15 --param windows=3"

/* The cached models directory (and events file), trained by the first test that needs it. */
static const char *rank_models(void)
{
    static char dir[600];
    snprintf(dir, sizeof dir, "%s/models", mq_test_cache_dir("rank-serve"));
    char probe[700];
    snprintf(probe, sizeof probe, "%s/ranker.mqm", dir);
    if (access(probe, R_OK) == 0) return dir;
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.%d", dir, (int)getpid());
    mq_test_sh("mkdir -p %s", tmp);
    char ev[800];
    snprintf(ev, sizeof ev, "%s/events.csv", tmp);
    mq_synth_opts so; mq_synth_opts_init(&so, sizeof so);
    so.n_members = 300; so.n_titles = 200; so.n_interactions = 9000; so.seed = 7;
    mq_err err = {0};
    if (mq_synth_write(&so, ev, NULL, &err)) return NULL;
    const char *bin = mq_test_bin();
    if (mq_test_sh("%s train --data %s --model ease --out %s/main.mqm --threads 1 2>/dev/null >/dev/null", bin, ev, tmp) ||
        mq_test_sh("for k in ease itemknn pop trending; do %s train --data %s --model $k --out %s/$k.mqm "
                   "--threads 1 2>/dev/null >/dev/null || exit 1; done", bin, ev, tmp) ||
        mq_test_sh("%s train --data %s --model ranker " RK_PARAMS " --threads 1 --out %s/ranker.mqm "
                   "2>/dev/null >/dev/null", bin, ev, tmp))
        return NULL;
    /* another catalog's pop model, for the refusal test */
    snprintf(ev, sizeof ev, "%s/other.csv", tmp);
    so.n_titles = 150;
    so.seed = 8;
    if (mq_synth_write(&so, ev, NULL, &err) ||
        mq_test_sh("%s train --data %s --model pop --out %s/other_pop.mqm 2>/dev/null >/dev/null", bin, ev, tmp))
        return NULL;
    if (rename(tmp, dir) != 0) mq_test_sh("rm -rf %s", tmp);   /* another test won the race */
    return dir;
}

/* A test directory (dir, NULL: a fresh one) with models/ holding links to the cached models
 * (all but skip, a space-separated list of file names), then a server on it. extra: more
 * flags. */
static int start_rank_server(server *s, const char *dir, const char *skip, const char *extra)
{
    const char *m = rank_models();
    if (!m) return -1;
    snprintf(s->dir, sizeof s->dir, "%s", dir ? dir : mq_test_tmpdir());
    mq_test_sh("mkdir -p %s/models && for f in %s/*.mqm; do case \" %s \" in *\" $(basename $f) \"*) ;; "
               "*) ln -s $f %s/models/;; esac; done", s->dir, m, skip ? skip : "", s->dir);
    mq_test_sh("printf '%%s\\n' %s > %s/key", KEY, s->dir);
    unlink(strcat(strcpy((char[600]){0}, s->dir), "/port"));
    if (mq_test_sh("%s serve --port 0 --port-file %s/port --models %s/models --data %s/events.csv "
                   "--events %s/events --store lmdb:%s/state --exposures %s/expo --api-key-file %s/key "
                   "--threads 2 --clock event --trending-refresh 0.05 %s > %s/out.txt 2>> %s/log.txt & "
                   "echo $! > %s/pid", mq_test_bin(), s->dir, s->dir, m, s->dir, s->dir, s->dir,
                   s->dir, extra ? extra : "", s->dir, s->dir, s->dir))
        return -1;
    char pf[600], pidf[600];
    snprintf(pf, sizeof pf, "%s/port", s->dir);
    snprintf(pidf, sizeof pidf, "%s/pid", s->dir);
    for (int i = 0; i < 600; i++) {
        usleep(100000);
        s->pid = read_int_file(pidf);
        if (s->pid > 0 && kill(s->pid, 0) != 0) break;
        s->port = read_int_file(pf);
        if (s->port > 0) {
            resp r;
            if (http(s->port, "GET", "/healthz", NULL, NULL, &r) == 0 && r.status == 200) {
                resp_free(&r);
                return 0;
            }
            resp_free(&r);
        }
    }
    mq_test_sh("tail -3 %s/log.txt >&2", s->dir);
    return -1;
}

static mq_model *load(const char *dir, const char *name)
{
    char p[800];
    snprintf(p, sizeof p, "%s/%s.mqm", dir, name);
    mq_model *m = NULL;
    mq_err err = {0};
    return mq_model_load(p, &m, &err) ? NULL : m;
}

/* What the offline ranker predicts for a member: candidates ordered by the Platt-calibrated
 * play probability (ties: the lower title), as title ids. */
typedef struct offline {
    int n;
    int32_t cand[1024];
    float raw[1024], platt[1024];
} offline;

static int by_platt(const void *a, const void *b, void *ctx)
{
    const offline *o = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    if (o->platt[i] != o->platt[j]) return o->platt[i] > o->platt[j] ? -1 : 1;
    return (o->cand[i] > o->cand[j]) - (o->cand[i] < o->cand[j]);
}

/* The member's live history: their events in the data plus the posted plays (titles pt [np],
 * times ptime), all positives; trending from counters replayed as the server does; now the
 * latest posted time. Fills o with the candidates in predicted order. */
static int offline_order(const char *dir, const char *member, const char *const *pt, const int64_t *ptime,
                         int np, offline *o)
{
    mq_err err = {0};
    char p[800];
    snprintf(p, sizeof p, "%s/events.csv", dir);
    mq_dataset *d = NULL;
    if (mq_data_open(p, NULL, &d, &err)) return -1;
    mq_model *r = load(dir, "ranker"), *tr = load(dir, "trending");
    const char *gn[4] = {"pop", "trending", "itemknn", "ease"};
    mq_model *g[4];
    for (int k = 0; k < 4; k++) g[k] = load(dir, gn[k]);
    int32_t n = mq_model_n_titles(r);
    int32_t hist[1200];
    int64_t htime[1200];
    int nh = 0;
    int32_t u = mq_idmap_find(d->member_ids, member, strlen(member));
    for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) {
        hist[nh] = mq_model_title_index(r, mq_idmap_name(d->title_ids, d->m_idx[e]));
        htime[nh++] = d->m_time[e];
    }
    /* trending: the trending model's scores as of its as_of, then the posted plays */
    float *seed = malloc((size_t)n * sizeof *seed), *score = malloc((size_t)n * sizeof *score);
    double *c = malloc((size_t)n * sizeof *c), as_of, hl;
    int32_t *order = malloc((size_t)n * sizeof *order);
    mq_model_score(tr, NULL, NULL, 0, seed, &err);
    mq_model_param_double(tr, "as_of", &as_of);
    mq_model_param_double(tr, "half_life", &hl);
    mq_trend *tc = NULL;
    mq_trend_create(n, hl * 86400, seed, (int64_t)as_of, &tc, &err);
    for (int i = 0; i < np; i++) {
        int32_t t = mq_model_title_index(r, pt[i]);
        mq_trend_add(tc, t, ptime[i], mq_trend_event_weight(MQ_EV_PLAY, 600), ptime[i]);
        hist[nh] = t;
        htime[nh++] = ptime[i];
    }
    mq_trend_copy(tc, c);
    mq_trend_rank(c, n, score, order);
    const mq_model *const gens[4] = {g[0], g[1], g[2], g[3]};
    mq_rank_live lv; mq_rank_live_init(&lv, sizeof lv);
    lv.now = np ? ptime[np - 1] : 0; lv.hour = -1; lv.generators = gens;
    lv.trending = np ? score : NULL;
    mq_rank_work *w = NULL;
    int rc = mq_rank_work_create(r, &w, &err);
    int nf = mq_rank_n_features(r);
    float *x = malloc((size_t)mq_rank_max_candidates(r) * nf * sizeof *x);
    o->n = rc ? -1 : mq_rank_live_features(r, &lv, hist, htime, nh, w, o->cand, x, &err);
    if (o->n > 0 && o->n <= 1024) rc = mq_rank_play_probability(r, x, o->n, o->raw, o->platt, NULL, &err);
    else rc = -1;
    /* sort candidate indices, then store titles in that order */
    int idx[1024];
    for (int i = 0; i < o->n && !rc; i++) idx[i] = i;
    if (!rc) qsort_r(idx, (size_t)o->n, sizeof *idx, by_platt, o);
    offline tmp = *o;
    for (int i = 0; i < o->n && !rc; i++) {
        o->cand[i] = tmp.cand[idx[i]];
        o->platt[i] = tmp.platt[idx[i]];
        o->raw[i] = tmp.raw[idx[i]];
    }
    free(x);
    mq_rank_work_destroy(w);
    mq_trend_destroy(tc);
    free(seed);
    free(score);
    free(c);
    free(order);
    for (int k = 0; k < 4; k++) mq_model_destroy(g[k]);
    mq_model_destroy(tr);
    mq_model_destroy(r);
    mq_dataset_destroy(d);
    return rc;
}

/* Posts plays of 600 s for member on titles [n] at times [n]. */
static int post_plays(int port, const char *member, const char *const *titles, const int64_t *times, int n)
{
    for (int i = 0; i < n; i++) {
        char ev[400];
        snprintf(ev, sizeof ev, "{\"member\":\"%s\",\"title\":\"%s\",\"timestamp\":%lld,\"event\":\"play\","
                 "\"value\":600}", member, titles[i], (long long)times[i]);
        resp r;
        if (post(port, KEY, ev, &r) != 0 || r.status != 200) { resp_free(&r); return -1; }
        resp_free(&r);
    }
    return 0;
}

/* The data's latest event time and two titles the member has not played. */
static int64_t setup_member(const char *dir, const char *member, char t1[32], char t2[32])
{
    char p[800];
    snprintf(p, sizeof p, "%s/events.csv", dir);
    mq_dataset *d = NULL;
    mq_err err = {0};
    if (mq_data_open(p, NULL, &d, &err)) return -1;
    int64_t last = 0;
    for (int64_t e = 0; e < d->nnz; e++) if (d->m_time[e] > last) last = d->m_time[e];
    int32_t u = mq_idmap_find(d->member_ids, member, strlen(member));
    int got = 0;
    for (int32_t t = 0; t < d->n_titles && got < 2; t++) {
        bool seen = false;
        for (int64_t e = d->m_ptr[u]; e < d->m_ptr[u + 1]; e++) seen |= d->m_idx[e] == t;
        if (!seen) snprintf(got++ ? t2 : t1, 32, "%s", mq_idmap_name(d->title_ids, t));
    }
    mq_dataset_destroy(d);
    return last;
}

MQ_TEST(serve_ranker_top_picks_follow_the_offline_ranker)
{
    server s;
    ASSERT_INT_EQ(start_rank_server(&s, NULL, NULL, NULL), 0);
    const char *dir = rank_models();
    const char *member = "5";
    char t1[32], t2[32];
    int64_t last = setup_member(dir, member, t1, t2);
    ASSERT(last > 0);
    const char *pt[2] = {t1, t2};
    int64_t ptime[2] = {last + 1000, last + 2000};
    ASSERT_INT_EQ(post_plays(s.port, member, pt, ptime, 2), 0);
    usleep(400000);                          /* the trending snapshot refreshes every 50 ms */
    int st;
    char path[200];
    snprintf(path, sizeof path, "/v1/members/%s/homepage?rows=6&per_row=10&mmr=1", member);
    cJSON *p = get_json(s.port, path, &st);
    ASSERT_INT_EQ(st, 200);
    const cJSON *rv = cJSON_GetObjectItem(p, "ranker");
    ASSERT(cJSON_IsString(rv) && !strncmp(rv->valuestring, "ranker@", 7));
    offline o;
    ASSERT_INT_EQ(offline_order(dir, member, pt, ptime, 2, &o), 0);
    ASSERT(o.n > 20);
    /* the expected order without the titles other rows hold (rows chosen before Top Picks take
     * theirs first; a title on a later row cannot be among Top Picks' expected first ones) */
    const cJSON *tp = find_row(p, "top_picks");
    ASSERT(tp);
    const cJSON *row, *t;
    char other[4096] = " ";
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(p, "rows")) {
        if (row == tp) continue;
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(row, "titles")) {
            strcat(other, cJSON_GetObjectItem(t, "id")->valuestring);
            strcat(other, " ");
        }
    }
    mq_model *r = load(dir, "ranker");
    int k = 0, shown = 0;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(tp, "titles")) {
        const char *id = cJSON_GetObjectItem(t, "id")->valuestring;
        /* the posted plays are history: never recommended */
        ASSERT(strcmp(id, t1) && strcmp(id, t2));
        const char *want = NULL;
        while (k < o.n) {
            const char *c = mq_model_title_id(r, o.cand[k++]);
            char key[48];
            snprintf(key, sizeof key, " %s ", c);
            if (!strstr(other, key)) { want = c; break; }
        }
        ASSERT(want != NULL);
        ASSERT_STR_EQ(id, want);
        shown++;
    }
    ASSERT_INT_EQ(shown, 10);
    mq_model_destroy(r);
    cJSON_Delete(p);

    /* recommendations?explain=1: the ranker's best candidates, contributions summing to the
     * margin (bias + shown + other; JSON numbers round-trip the float32 values, summed in
     * double: 1e-5 covers the float32 rounding of XGBoost's own sum) */
    snprintf(path, sizeof path, "/v1/members/%s/recommendations?n=8&explain=1", member);
    p = get_json(s.port, path, &st);
    ASSERT_INT_EQ(st, 200);
    int i = 0;
    r = load(dir, "ranker");
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(p, "titles")) {
        ASSERT_STR_EQ(cJSON_GetObjectItem(t, "id")->valuestring, mq_model_title_id(r, o.cand[i]));
        const cJSON *rk = cJSON_GetObjectItem(t, "ranker");
        ASSERT(rk);
        ASSERT_NEAR(cJSON_GetObjectItem(rk, "platt_probability")->valuedouble, o.platt[i], 1e-7);
        ASSERT_NEAR(cJSON_GetObjectItem(t, "score")->valuedouble, o.platt[i], 1e-7);
        double sum = cJSON_GetObjectItem(rk, "bias")->valuedouble + cJSON_GetObjectItem(rk, "other")->valuedouble;
        const cJSON *c;
        int nc = 0;
        double prev = INFINITY;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(rk, "contributions")) {
            double v = cJSON_GetObjectItem(c, "contribution")->valuedouble;
            ASSERT(fabs(v) <= prev);
            prev = fabs(v);
            sum += v;
            const char *f = cJSON_GetObjectItem(c, "feature")->valuestring;
            bool known = false;
            for (int q = 0; q < mq_rank_n_features(r); q++) known |= !strcmp(f, mq_rank_feature_name(r, q));
            ASSERT(known);
            nc++;
        }
        ASSERT_INT_EQ(nc, 5);
        double margin = cJSON_GetObjectItem(rk, "margin")->valuedouble;
        ASSERT_NEAR(sum, margin, 1e-5);
        ASSERT_NEAR(cJSON_GetObjectItem(rk, "raw_probability")->valuedouble, 1 / (1 + exp(-margin)), 1e-6);
        i++;
    }
    ASSERT_INT_EQ(i, 8);
    mq_model_destroy(r);
    cJSON_Delete(p);
    stop_server(&s, SIGTERM);
}

MQ_TEST(serve_ranker_treatment_in_an_experiment)
{
    const char *m = rank_models();
    ASSERT(m);
    const char *dir = mq_test_tmpdir();
    char xp[700];
    snprintf(xp, sizeof xp, "%s/xp.json", dir);
    FILE *f = fopen(xp, "w");
    ASSERT(f);
    fputs("{\"experiments\": [{\"name\": \"rank\", \"variants\": [{\"name\": \"off\", \"treatment\": "
          "{\"ranker\": \"none\"}}, {\"name\": \"alt\", \"treatment\": {\"ranker\": \"ranker2\"}}, "
          "{\"name\": \"default\"}]}]}\n", f);
    fclose(f);
    /* ranker2.mqm: the same ranker under another name */
    mq_test_sh("mkdir -p %s/extra && cp %s/ranker.mqm %s/extra/ranker2.mqm && touch -d '2030-01-02 03:04:05' "
               "%s/extra/ranker2.mqm", dir, m, dir, dir);
    server s;
    char extra[1600];
    snprintf(extra, sizeof extra, "--experiments %s", xp);
    mq_test_sh("mkdir -p %s/models && ln -s %s/extra/ranker2.mqm %s/models/", dir, dir, dir);
    ASSERT_INT_EQ(start_rank_server(&s, dir, NULL, extra), 0);
    const char *v[3] = {"off", "alt", "default"};
    const char *want[3] = {NULL, "ranker2@20300102T030405Z", "ranker@"};
    for (int k = 0; k < 3; k++) {
        char path[200];
        snprintf(path, sizeof path, "/v1/members/7/homepage?xp=rank:%s", v[k]);
        resp r;
        ASSERT_INT_EQ(http(s.port, "GET", path, KEY, NULL, &r), 0);
        ASSERT_INT_EQ(r.status, 200);
        cJSON *p = cJSON_ParseWithLength(r.body, r.len);
        resp_free(&r);
        const cJSON *rv = cJSON_GetObjectItem(p, "ranker");
        if (!want[k]) ASSERT(rv == NULL);
        else ASSERT(cJSON_IsString(rv) && !strncmp(rv->valuestring, want[k], strlen(want[k])));
        ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(p, "rows")) > 0);
        cJSON_Delete(p);
    }
    stop_server(&s, SIGTERM);
    /* a treatment naming a ranker the models directory lacks: the start fails naming it */
    f = fopen(xp, "w");
    fputs("{\"experiments\": [{\"name\": \"rank\", \"variants\": [{\"name\": \"a\"}, {\"name\": \"b\", "
          "\"treatment\": {\"ranker\": \"nosuch\"}}]}]}\n", f);
    fclose(f);
    server s2;
    ASSERT(start_rank_server(&s2, dir, NULL, extra) != 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q \"treatment ranker 'nosuch'\" %s/log.txt", s2.dir), 0);
    stop_server(&s2, SIGKILL);
}

MQ_TEST(serve_ranker_missing_generator_bad_file_and_reload)
{
    /* itemknn.mqm absent: the start fails naming it */
    server s;
    ASSERT(start_rank_server(&s, NULL, "itemknn.mqm", NULL) != 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q 'generators itemknn.mqm are missing from the models directory' %s/log.txt",
                             s.dir), 0);
    stop_server(&s, SIGKILL);
    const char *m = rank_models();
    ASSERT(m);
    /* a running server: reloads that would break the ranker are refused, it keeps serving */
    ASSERT_INT_EQ(start_rank_server(&s, NULL, NULL, NULL), 0);
    int st;
    cJSON *p = get_json(s.port, "/v1/members/9/homepage", &st);
    ASSERT_INT_EQ(st, 200);
    char v0[200];
    snprintf(v0, sizeof v0, "%s", cJSON_GetObjectItem(p, "ranker")->valuestring);
    cJSON_Delete(p);
    struct { const char *setup, *msg; } bad[] = {
        {"rm %s/models/ease.mqm", "generators ease.mqm are missing"},
        {"rm %s/models/pop.mqm && ln -s %s/other_pop.mqm %s/models/pop.mqm", "are not the ranker's"},
        {"rm %s/models/ranker.mqm && head -c 5000 %s/ranker.mqm > %s/models/ranker.mqm", "ranker.mqm"},
        {"rm %s/models/ranker.mqm && ln -s %s/pop.mqm %s/models/ranker.mqm", "a 'pop' model, not a ranker"},
        {"rm %s/models/main.mqm && ln -s %s/other_pop.mqm %s/models/main.mqm", "is not main.mqm's"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        mq_test_sh("rm -rf %s/models && mkdir -p %s/models && ln -s %s/*.mqm %s/models/", s.dir, s.dir, m, s.dir);
        mq_test_sh(bad[k].setup, s.dir, m, s.dir);
        resp r;
        ASSERT_INT_EQ(http(s.port, "POST", "/v1/admin/reload", KEY, NULL, &r), 0);
        ASSERT(r.status >= 400);
        if (!strstr(r.body, bad[k].msg)) fprintf(stderr, "  reload %zu answered: %s\n", k, r.body);
        ASSERT(strstr(r.body, bad[k].msg) != NULL);
        resp_free(&r);
        p = get_json(s.port, "/v1/members/9/homepage", &st);
        ASSERT_INT_EQ(st, 200);
        ASSERT_STR_EQ(cJSON_GetObjectItem(p, "ranker")->valuestring, v0);
        cJSON_Delete(p);
    }
    /* a new ranker.mqm (here a copy with another time) is picked up */
    mq_test_sh("rm -rf %s/models && mkdir -p %s/models && ln -s %s/*.mqm %s/models/ && rm %s/models/ranker.mqm && "
               "cp %s/ranker.mqm %s/models/ && touch -d '2031-05-06 07:08:09' %s/models/ranker.mqm",
               s.dir, s.dir, m, s.dir, s.dir, m, s.dir, s.dir);
    resp r;
    ASSERT_INT_EQ(http(s.port, "POST", "/v1/admin/reload", KEY, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    p = get_json(s.port, "/v1/members/9/homepage", &st);
    ASSERT_INT_EQ(st, 200);
    ASSERT_STR_EQ(cJSON_GetObjectItem(p, "ranker")->valuestring, "ranker@20310506T070809Z");
    cJSON_Delete(p);
    /* without ranker.mqm the pages are the main model's again */
    mq_test_sh("rm %s/models/ranker.mqm", s.dir);
    ASSERT_INT_EQ(http(s.port, "POST", "/v1/admin/reload", KEY, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    p = get_json(s.port, "/v1/members/9/homepage", &st);
    ASSERT_INT_EQ(st, 200);
    ASSERT(cJSON_GetObjectItem(p, "ranker") == NULL);
    cJSON_Delete(p);
    stop_server(&s, SIGTERM);
}
