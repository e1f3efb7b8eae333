/* test_serve_artwork.c: artwork on served lists (src/serve/artwork.c), end to end.
 *
 * - Every title of the homepage, recommendations and similar lists carries "artwork", one of
 *   its catalog variants; the exposure log records the same variant with its exact propensity
 *   (egreedy on an untrained learner: every mean is 0, so all artworks tie and the propensity
 *   of each is exactly 1/K).
 * - A play that names the page and a position rewards that impression once; a play outside the
 *   reward window does not.
 * - Restart: the learner rebuilt from the logs has the digest the server had before stopping,
 *   and two servers started on copies of the same logs make the same decisions (fixed seed).
 * - Exposure records: version 1 still reads; version 2 round trips; the "artwork_policy"
 *   treatment is parsed and refused when unknown; the "fixed" treatment shows each title's
 *   first artwork with propensity 1.
 */
#include "serve_harness.h"
#include "serve/serve.h"

static const mq_dataset *demo(void)
{
    static mq_dataset *d;
    if (!d) {
        const char *paths[] = {"data/ml-latest-small"};
        mq_err err = {0};
        if (mq_data_load(paths, 1, NULL, &d, &err)) return NULL;
    }
    return d;
}

/* K and the variant index of artwork id "<title>-a<k>" of title id. */
static int variant_of(const mq_dataset *d, const char *title, const char *art, int *K)
{
    int32_t t = mq_idmap_find(d->title_ids, title, strlen(title));
    if (t < 0) return -1;
    const mq_catalog *c = &d->catalog;
    *K = (int)(c->art_ptr[t + 1] - c->art_ptr[t]);
    for (int64_t a = c->art_ptr[t]; a < c->art_ptr[t + 1]; a++)
        if (!strcmp(c->art_ids[a], art)) return (int)(a - c->art_ptr[t]);
    return -1;
}

typedef struct shown { char title[32], art[48]; } shown;

typedef struct expo_seen {
    int n;
    char page_id[64];
    int route, policy;
    int variant[400];
    double prop[400];
    char title[400][32];
} expo_seen;

static int last_record(void *user, const mq__expo_rec *r, uint64_t seq)
{
    expo_seen *e = user;
    snprintf(e->page_id, sizeof e->page_id, "%.*s", r->page_id.n, r->page_id.p);
    e->route = r->route;
    e->policy = r->art_policy;
    e->n = 0;
    const unsigned char *at = r->rows;
    mq__expo_str row, ts[100];
    int nt;
    while (mq__expo_rows_next(r, &at, &row, ts, 100, &nt))
        for (int j = 0; j < nt && e->n < 400; j++, e->n++) {
            snprintf(e->title[e->n], 32, "%.*s", ts[j].n, ts[j].p);
            mq__expo_art(r, (uint32_t)e->n, &e->variant[e->n], &e->prop[e->n]);
        }
    return 0;
}

static double metric(int port, const char *name)
{
    resp r;
    if (http(port, "GET", "/metrics", NULL, NULL, &r)) return NAN;
    char key[200];
    snprintf(key, sizeof key, "\n%s ", name);   /* the sample line, not its # TYPE line */
    const char *p = strstr(r.body, key);
    double v = p ? strtod(p + strlen(key), NULL) : NAN;
    resp_free(&r);
    return v;
}

/* The titles and artworks of a homepage (all rows). */
static int page_art(const cJSON *page, shown *out, int cap)
{
    int n = 0;
    const cJSON *row, *t;
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(page, "rows"))
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(row, "titles")) {
            const cJSON *a = cJSON_GetObjectItem(t, "artwork");
            if (n < cap) {
                snprintf(out[n].title, 32, "%s", cJSON_GetObjectItem(t, "id")->valuestring);
                snprintf(out[n].art, 48, "%s", cJSON_IsString(a) ? a->valuestring : "");
            }
            n++;
        }
    return n;
}

MQ_TEST(serve_artwork_on_lists_logged_and_rewarded)
{
    const mq_dataset *d = demo();
    ASSERT(d && d->catalog.art_ptr);
    server s;
    char extra[1400], ex[600];
    snprintf(ex, sizeof ex, "%s/ex", mq_test_tmpdir());
    snprintf(extra, sizeof extra, "--exposures %s --clock offset --artwork-policy egreedy", ex);
    ASSERT_INT_EQ(start_server(&s, NULL, extra), 0);
    int st;
    cJSON *page = get_json(s.port, "/v1/members/1/homepage?rows=3&per_row=5", &st);
    ASSERT_INT_EQ(st, 200);
    shown sh[15];
    int n = page_art(page, sh, 15);
    ASSERT_INT_EQ(n, 15);
    expo_seen e = {0};
    mq_err err = {0};
    ASSERT_OK(mq__exlog_scan(ex, last_record, &e, &err), &err);
    ASSERT_STR_EQ(e.page_id, cJSON_GetObjectItem(page, "page_id")->valuestring);
    ASSERT_INT_EQ(e.n, 15);
    ASSERT_INT_EQ(e.policy, MQ_POLICY_EGREEDY);
    for (int i = 0; i < n; i++) {
        int K, v = variant_of(d, sh[i].title, sh[i].art, &K);
        ASSERT(v >= 0);                                   /* one of the title's own variants */
        ASSERT_STR_EQ(e.title[i], sh[i].title);
        ASSERT_INT_EQ(e.variant[i], v);                   /* the log says what was shown */
        ASSERT_NEAR(e.prop[i], 1.0 / K, 1e-15);           /* all tie: (1-g)/K + g/K */
    }
    /* recommendations and similar carry artwork too */
    cJSON *recs = get_json(s.port, "/v1/members/1/recommendations?n=4", &st);
    ASSERT_INT_EQ(st, 200);
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(recs, "titles")) {
        int K;
        ASSERT(variant_of(d, cJSON_GetObjectItem(t, "id")->valuestring, cJSON_GetObjectItem(t, "artwork")->valuestring, &K) >= 0);
    }
    cJSON *sim = get_json(s.port, "/v1/titles/1/similar?n=3&member=1", &st);
    ASSERT_INT_EQ(st, 200);
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(sim, "titles")) {
        int K;
        ASSERT(variant_of(d, cJSON_GetObjectItem(t, "id")->valuestring, cJSON_GetObjectItem(t, "artwork")->valuestring, &K) >= 0);
    }
    ASSERT_OK(mq__exlog_scan(ex, last_record, &e, &err), &err);
    ASSERT_INT_EQ(e.route, MQ__EXPO_ROUTE_SIMILAR);
    ASSERT_INT_EQ(e.n, 3);
    /* a play from the homepage within the window rewards it once; a second play of the same
     * title and a play 2 hours later do not */
    double r0 = metric(s.port, "marquee_artwork_rewards_total");
    ASSERT(r0 == 0);
    const cJSON *row0 = cJSON_GetArrayItem(cJSON_GetObjectItem(page, "rows"), 0);
    char body[1200];
    const char *pid = cJSON_GetObjectItem(page, "page_id")->valuestring;
    const char *rid = cJSON_GetObjectItem(row0, "id")->valuestring;
    snprintf(body, sizeof body,
             "[{\"member\":\"1\",\"title\":\"%s\",\"event\":\"play\",\"value\":900,\"page_id\":\"%s\",\"row\":\"%s\",\"position\":0},"
             "{\"member\":\"1\",\"title\":\"%s\",\"event\":\"play\",\"value\":900,\"page_id\":\"%s\",\"row\":\"%s\",\"position\":0}]",
             sh[0].title, pid, rid, sh[0].title, pid, rid);
    resp r;
    ASSERT_INT_EQ(post(s.port, KEY, body, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    /* the late play: its timestamp is the page's + 2 h (the offset clock's now is the data's end) */
    cJSON *h2 = get_json(s.port, "/v1/members/2/homepage?rows=1&per_row=3", &st);
    shown sh2[3];
    page_art(h2, sh2, 3);
    const cJSON *rowb = cJSON_GetArrayItem(cJSON_GetObjectItem(h2, "rows"), 0);
    int64_t data_end = 0;
    for (int64_t k = 0; k < d->nnz; k++) data_end = d->m_time[k] > data_end ? d->m_time[k] : data_end;
    snprintf(body, sizeof body,
             "{\"member\":\"2\",\"title\":\"%s\",\"event\":\"play\",\"value\":900,\"page_id\":\"%s\",\"row\":\"%s\",\"position\":0,"
             "\"timestamp\":%lld}", sh2[0].title, cJSON_GetObjectItem(h2, "page_id")->valuestring,
             cJSON_GetObjectItem(rowb, "id")->valuestring, (long long)data_end + 7200 + 600);
    ASSERT_INT_EQ(post(s.port, KEY, body, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    usleep(300000);
    ASSERT(metric(s.port, "marquee_artwork_rewards_total") == 1);
    stop_server(&s, SIGTERM);
    cJSON_Delete(page);
    cJSON_Delete(recs);
    cJSON_Delete(sim);
    cJSON_Delete(h2);
}

/* Under --clock event a page requested with ?time=T (a simulator's visit) opens its reward
 * window at T, not at the member's last event nor the server's event clock: a play a minute
 * after T naming the page rewards it (with the window opened at the member's last event, days
 * earlier, it did not: marquee sim --server earned no artwork rewards). */
MQ_TEST(serve_artwork_event_clock_window_from_request_time)
{
    const mq_dataset *d = demo();
    ASSERT(d && d->catalog.art_ptr);
    int64_t data_end = 0;
    for (int64_t k = 0; k < d->nnz; k++) data_end = d->m_time[k] > data_end ? d->m_time[k] : data_end;
    const long long T = (long long)data_end + 3 * 86400;
    server s;
    char extra[1400];
    snprintf(extra, sizeof extra, "--exposures %s/ex --clock event --artwork-policy egreedy", mq_test_tmpdir());
    ASSERT_INT_EQ(start_server(&s, NULL, extra), 0);
    char path[200];
    snprintf(path, sizeof path, "/v1/members/1/homepage?rows=1&per_row=3&time=%lld", T);
    int st;
    cJSON *page = get_json(s.port, path, &st);
    ASSERT_INT_EQ(st, 200);
    shown sh[3];
    ASSERT_INT_EQ(page_art(page, sh, 3), 3);
    const cJSON *row0 = cJSON_GetArrayItem(cJSON_GetObjectItem(page, "rows"), 0);
    char body[1200];
    snprintf(body, sizeof body,
             "{\"member\":\"1\",\"title\":\"%s\",\"event\":\"play\",\"value\":900,\"page_id\":\"%s\",\"row\":\"%s\","
             "\"position\":0,\"timestamp\":%lld}", sh[0].title, cJSON_GetObjectItem(page, "page_id")->valuestring,
             cJSON_GetObjectItem(row0, "id")->valuestring, T + 60);
    resp r;
    ASSERT_INT_EQ(post(s.port, KEY, body, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    double got = 0;
    for (int i = 0; i < 50 && got == 0; i++) {   /* rewards are folded in as events commit */
        usleep(100000);
        got = metric(s.port, "marquee_artwork_rewards_total");
    }
    stop_server(&s, SIGTERM);
    cJSON_Delete(page);
    ASSERT(got == 1);
}

MQ_TEST(serve_artwork_restart_rebuilds_the_same_state)
{
    server s;
    const char *base = mq_test_tmpdir();
    char d1[600], d2[600], extra1[800], extra2[800];
    snprintf(d1, sizeof d1, "%s/one", base);
    snprintf(d2, sizeof d2, "%s/two", base);
    mq_test_sh("mkdir -p %s %s", d1, d2);
    snprintf(extra1, sizeof extra1, "--exposures %s/ex --clock offset --artwork-policy linucb:0.5 --artwork-seed 7", d1);
    snprintf(extra2, sizeof extra2, "--exposures %s/ex --clock offset --artwork-policy linucb:0.5 --artwork-seed 7", d2);
    ASSERT_INT_EQ(start_server(&s, d1, extra1), 0);
    /* pages for six members, a play on the first title of each of the first three */
    int st;
    for (int m = 1; m <= 6; m++) {
        char path[100];
        snprintf(path, sizeof path, "/v1/members/%d/homepage?rows=2&per_row=6", m);
        cJSON *pg = get_json(s.port, path, &st);
        ASSERT_INT_EQ(st, 200);
        if (m <= 3) {
            shown sh[12];
            page_art(pg, sh, 12);
            const cJSON *row0 = cJSON_GetArrayItem(cJSON_GetObjectItem(pg, "rows"), 0);
            char body[600];
            snprintf(body, sizeof body, "{\"member\":\"%d\",\"title\":\"%s\",\"event\":\"play\",\"value\":900,"
                     "\"page_id\":\"%s\",\"row\":\"%s\",\"position\":0}", m, sh[0].title,
                     cJSON_GetObjectItem(pg, "page_id")->valuestring, cJSON_GetObjectItem(row0, "id")->valuestring);
            resp r;
            ASSERT_INT_EQ(post(s.port, KEY, body, &r), 0);
            ASSERT_INT_EQ(r.status, 200);
            resp_free(&r);
        }
        cJSON_Delete(pg);
    }
    usleep(200000);
    ASSERT(metric(s.port, "marquee_artwork_rewards_total") == 3);
    double dg = metric(s.port, "marquee_artwork_state_digest");
    stop_server(&s, SIGTERM);
    /* a copy of the logs (the store is derived; each copy rebuilds its own) */
    ASSERT_INT_EQ(mq_test_sh("cp -r %s/ex %s/events %s/", d1, d1, d2), 0);
    char state[700];
    snprintf(state, sizeof state, "%s/ex/artwork_state.bin", d1);
    ASSERT(access(state, F_OK) == 0);
    shown a[12], b[12];
    for (int k = 0; k < 2; k++) {
        ASSERT_INT_EQ(start_server(&s, k ? d2 : d1, k ? extra2 : extra1), 0);
        ASSERT(metric(s.port, "marquee_artwork_state_digest") == dg);
        ASSERT(metric(s.port, "marquee_artwork_rewards_total") == 3);
        ASSERT(metric(s.port, "marquee_artwork_impressions_total") == 72);
        cJSON *pg = get_json(s.port, "/v1/members/9/homepage?rows=2&per_row=6", &st);
        ASSERT_INT_EQ(st, 200);
        ASSERT_INT_EQ(page_art(pg, k ? b : a, 12), 12);
        cJSON_Delete(pg);
        stop_server(&s, SIGTERM);
    }
    for (int i = 0; i < 12; i++) {
        ASSERT_STR_EQ(a[i].title, b[i].title);
        ASSERT_STR_EQ(a[i].art, b[i].art);
    }
    /* the state file alone: with the exposure log gone, the learner resumes from it */
    ASSERT_INT_EQ(mq_test_sh("rm -rf %s/ex/0*.log", d2), 0);
    ASSERT_INT_EQ(start_server(&s, d2, extra2), 0);
    ASSERT(metric(s.port, "marquee_artwork_impressions_total") >= 72);
    stop_server(&s, SIGTERM);
}

MQ_TEST(serve_artwork_exposure_records_both_versions)
{
    const char *rows[] = {"top_picks", "trending"};
    const int rn[] = {2, 1};
    const char *titles[] = {"1", "2", "3"};
    mq__expo e = {0};
    e.time = 1700000000;
    e.member = "m7";
    e.page_id = "p1";
    e.model_version = "ease@x";
    e.n_rows = 2;
    e.row_id = rows;
    e.row_n = rn;
    e.titles = titles;
    mq_buf b;
    mq_buf_init(&b);
    mq_err err = {0};
    mq__expo_rec r;
    /* version 1: no artwork */
    ASSERT_OK(mq__expo_encode(&e, false, &b, &err), &err);
    ASSERT_INT_EQ((unsigned char)b.p[MQ__SEG_REC_HDR], 1);
    ASSERT_INT_EQ(mq__expo_decode((const unsigned char *)b.p + MQ__SEG_REC_HDR, (uint32_t)(b.len - MQ__SEG_REC_HDR), &r), 0);
    ASSERT(r.art == NULL && r.art_policy == -1 && r.n_titles == 3);
    /* version 2 */
    const uint8_t ctx[6] = {16, 0, 16, 0, 0, 8}, var[3] = {2, 255, 0};
    const double prop[3] = {0.9125, 0, 0.0125};
    e.art_policy = MQ_POLICY_LINTS;
    e.art_dm = 6;
    e.art_ctx = ctx;
    e.art_time = 1500000000;
    e.art_variant = var;
    e.art_prop = prop;
    ASSERT_OK(mq__expo_encode(&e, false, &b, &err), &err);
    ASSERT_INT_EQ((unsigned char)b.p[MQ__SEG_REC_HDR], 2);
    ASSERT_INT_EQ(mq__expo_decode((const unsigned char *)b.p + MQ__SEG_REC_HDR, (uint32_t)(b.len - MQ__SEG_REC_HDR), &r), 0);
    ASSERT_INT_EQ(r.art_policy, MQ_POLICY_LINTS);
    ASSERT_INT_EQ(r.art_dm, 6);
    ASSERT(r.art_time == 1500000000 && r.art_ctx[5] == 8 && r.n_rows == 2);
    const unsigned char *at = r.rows;
    mq__expo_str row, ts[4];
    int nt, seen = 0;
    while (mq__expo_rows_next(&r, &at, &row, ts, 4, &nt)) seen += nt;
    ASSERT_INT_EQ(seen, 3);   /* the row walk ends before the artwork block */
    for (uint32_t i = 0; i < 3; i++) {
        int v;
        double p;
        mq__expo_art(&r, i, &v, &p);
        ASSERT_INT_EQ(v, var[i]);
        ASSERT(p == prop[i]);
    }
    /* one byte short of the artwork block is a bad record */
    ASSERT(mq__expo_decode((const unsigned char *)b.p + MQ__SEG_REC_HDR, (uint32_t)(b.len - MQ__SEG_REC_HDR - 1), &r) == MQ__SEG_BAD);
    /* exploration slots (flag 4) after the artwork block, and without one */
    const double xp[3] = {0, 0.3 / 9000, 0};
    e.explore_prop = xp;
    for (int v = 2; v >= 1; v--) {
        if (v == 1) e.art_variant = NULL;
        ASSERT_OK(mq__expo_encode(&e, false, &b, &err), &err);
        ASSERT_INT_EQ((unsigned char)b.p[MQ__SEG_REC_HDR], v);
        ASSERT_INT_EQ(mq__expo_decode((const unsigned char *)b.p + MQ__SEG_REC_HDR, (uint32_t)(b.len - MQ__SEG_REC_HDR), &r), 0);
        ASSERT((r.art != NULL) == (v == 2));
        for (uint32_t i = 0; i < 3; i++) ASSERT(mq__expo_explore(&r, i) == xp[i]);
        at = r.rows;
        seen = 0;
        while (mq__expo_rows_next(&r, &at, &row, ts, 4, &nt)) seen += nt;
        ASSERT_INT_EQ(seen, 3);
        if (v == 2) {
            int vv;
            double pp;
            mq__expo_art(&r, 0, &vv, &pp);
            ASSERT(vv == 2 && pp == 0.9125);
        }
    }
    /* summary records never carry artwork */
    ASSERT_OK(mq__expo_encode(&e, true, &b, &err), &err);
    ASSERT_INT_EQ((unsigned char)b.p[MQ__SEG_REC_HDR], 1);
    mq_buf_release(&b);
}

MQ_TEST(serve_artwork_policy_treatment)
{
    char path[600];
    snprintf(path, sizeof path, "%s/xp.json", mq_test_tmpdir());
    FILE *f = fopen(path, "w");
    fputs("{\"name\": \"art\", \"variants\": [{\"name\": \"A\", \"treatment\": {\"artwork_policy\": \"fixed\"}},"
          " {\"name\": \"B\", \"treatment\": {\"artwork_policy\": \"lints:0.3\"}}]}", f);
    fclose(f);
    mq__xps x;
    mq_err err = {0};
    ASSERT_OK(mq__xps_load(path, &x, &err), &err);
    ASSERT(x.treat[0].set & (1u << MQ__XT_ARTWORK_POLICY));
    ASSERT_INT_EQ(x.treat[0].art_kind, MQ_POLICY_FIXED);
    ASSERT_INT_EQ(x.treat[1].art_kind, MQ_POLICY_LINTS);
    ASSERT_NEAR(x.treat[1].art_param, 0.3, 0);
    mq__xps_release(&x);
    f = fopen(path, "w");
    fputs("{\"name\": \"art\", \"variants\": [\"A\", {\"name\": \"B\", \"treatment\": {\"artwork_policy\": \"best\"}}]}", f);
    fclose(f);
    ASSERT(mq__xps_load(path, &x, &err) == MQ_EFORMAT);
    ASSERT(strstr(err.msg, "variants[1].treatment.artwork_policy"));
    ASSERT(strstr(err.msg, "linucb"));
    /* served: variant A (forced) shows every title's first artwork, logged with propensity 1 */
    f = fopen(path, "w");
    fputs("{\"name\": \"art\", \"variants\": [{\"name\": \"A\", \"treatment\": {\"artwork_policy\": \"fixed\"}},"
          " {\"name\": \"B\", \"treatment\": {\"artwork_policy\": \"lints\"}}]}", f);
    fclose(f);
    server s;
    char extra[1400], ex[600];
    snprintf(ex, sizeof ex, "%s/ex", mq_test_tmpdir());
    snprintf(extra, sizeof extra, "--exposures %s --experiments %s", ex, path);
    ASSERT_INT_EQ(start_server(&s, NULL, extra), 0);
    resp r;
    ASSERT_INT_EQ(http(s.port, "GET", "/v1/members/5/homepage?rows=2&per_row=4&xp=art:A", KEY, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    cJSON *pg = cJSON_ParseWithLength(r.body, r.len);
    resp_free(&r);
    shown sh[8];
    int n = page_art(pg, sh, 8);
    for (int i = 0; i < n; i++) {
        char want[700];
        snprintf(want, sizeof want, "%s-a1", sh[i].title);
        ASSERT_STR_EQ(sh[i].art, want);
    }
    expo_seen e = {0};
    ASSERT_OK(mq__exlog_scan(ex, last_record, &e, &err), &err);
    ASSERT_INT_EQ(e.policy, MQ_POLICY_FIXED);
    for (int i = 0; i < e.n; i++) ASSERT(e.variant[i] == 0 && e.prop[i] == 1);
    cJSON_Delete(pg);
    stop_server(&s, SIGTERM);
}

MQ_TEST(serve_artwork_export_then_ope)
{
    server s;
    const char *dir = mq_test_tmpdir();
    char extra[1400];
    snprintf(extra, sizeof extra, "--exposures %s/ex --clock offset --artwork-policy egreedy:0.5", dir);
    ASSERT_INT_EQ(start_server(&s, dir, extra), 0);
    int st, plays = 0;
    for (int m = 1; m <= 5; m++) {
        char path[100];
        snprintf(path, sizeof path, "/v1/members/%d/homepage?rows=2&per_row=4", m);
        cJSON *pg = get_json(s.port, path, &st);
        ASSERT_INT_EQ(st, 200);
        if (m % 2) {   /* a play on the second title of the first row */
            shown sh[8];
            page_art(pg, sh, 8);
            const cJSON *row0 = cJSON_GetArrayItem(cJSON_GetObjectItem(pg, "rows"), 0);
            char body[600];
            snprintf(body, sizeof body, "{\"member\":\"%d\",\"title\":\"%s\",\"event\":\"play\",\"value\":900,"
                     "\"page_id\":\"%s\",\"row\":\"%s\",\"position\":1}", m, sh[1].title,
                     cJSON_GetObjectItem(pg, "page_id")->valuestring, cJSON_GetObjectItem(row0, "id")->valuestring);
            resp r;
            ASSERT_INT_EQ(post(s.port, KEY, body, &r), 0);
            ASSERT_INT_EQ(r.status, 200);
            resp_free(&r);
            plays++;
        }
        cJSON_Delete(pg);
    }
    stop_server(&s, SIGTERM);
    ASSERT_INT_EQ(mq_test_sh("%s bandit export --exposures %s/ex --events %s/events --out %s/log.csv 2>/dev/null",
                             mq_test_bin(), dir, dir, dir), 0);
    /* the export: 40 decisions, the plays as rewards; IPS of "always the first artwork" by hand */
    char path[700];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    FILE *f = fopen(path, "r");
    ASSERT(f != NULL);
    char line[1024];
    ASSERT(fgets(line, sizeof line, f) != NULL);
    ASSERT(!strncmp(line, "action,reward,propensity,policy,x0,", 35));
    int rows = 0;
    double rewards = 0, ips = 0;
    while (fgets(line, sizeof line, f)) {
        int a, pol;
        double r, p;
        ASSERT_INT_EQ(sscanf(line, "%d,%lf,%lf,%d", &a, &r, &p, &pol), 4);
        ASSERT(p > 0 && p <= 1 && pol == MQ_POLICY_EGREEDY);
        rows++;
        rewards += r;
        ips += (a == 0) * r / p;
    }
    fclose(f);
    ASSERT_INT_EQ(rows, 40);
    ASSERT(rewards == plays);
    ips /= rows;
    ASSERT_INT_EQ(mq_test_sh("printf 'item,probability\\n0,1\\n' > %s/fixed.csv && %s bandit ope --log %s/log.csv "
                             "--action-dist %s/fixed.csv --actions 6 --estimators ips,snips --json > %s/ope.json 2>/dev/null",
                             dir, mq_test_bin(), dir, dir, dir), 0);
    snprintf(path, sizeof path, "%s/ope.json", dir);
    f = fopen(path, "r");
    ASSERT(f != NULL);
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    cJSON *j = cJSON_Parse(line);
    ASSERT(j != NULL);
    ASSERT_INT_EQ((int)cJSON_GetObjectItem(j, "n")->valuedouble, 40);
    const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "estimates"), 0);
    ASSERT_STR_EQ(cJSON_GetObjectItem(e0, "estimator")->valuestring, "ips");
    ASSERT_NEAR(cJSON_GetObjectItem(e0, "value")->valuedouble, ips, 1e-12 * (1 + ips));
    cJSON_Delete(j);
    /* a missing exposure log is an error naming it */
    ASSERT_INT_EQ(mq_test_sh("%s bandit export --exposures %s/none --out %s/x.csv 2> %s/err.txt; test $? = 1 && "
                             "grep -q 'none: no exposure log' %s/err.txt", mq_test_bin(), dir, dir, dir, dir), 0);
}

typedef struct xseen { int n; char title[400][32]; double p[400]; char row[400][64]; } xseen;

static int explore_record(void *user, const mq__expo_rec *r, uint64_t seq)
{
    xseen *x = user;
    if (r->route != MQ__EXPO_ROUTE_HOMEPAGE) return 0;
    x->n = 0;
    const unsigned char *at = r->rows;
    mq__expo_str row, ts[100];
    int nt;
    while (mq__expo_rows_next(r, &at, &row, ts, 100, &nt))
        for (int j = 0; j < nt && x->n < 400; j++, x->n++) {
            snprintf(x->title[x->n], 32, "%.*s", ts[j].n, ts[j].p);
            snprintf(x->row[x->n], 64, "%.*s", row.n, row.p);
            x->p[x->n] = mq__expo_explore(r, (uint32_t)x->n);
        }
    return 0;
}

/* Exploration slots: with --explore-epsilon E a fresh server (no impressions yet: every weight
 * 1) gives each explored slot probability E / (pool left), so E / p over a page's explored
 * slots are consecutive integers counting down from the pool size. */
MQ_TEST(serve_explore_slots_logged_with_propensity)
{
    server s;
    const char *dir = mq_test_tmpdir();
    char extra[1400];
    snprintf(extra, sizeof extra, "--exposures %s/ex --artwork-policy fixed --explore-epsilon 0.3", dir);
    ASSERT_INT_EQ(start_server(&s, dir, extra), 0);
    int st;
    cJSON *pg = get_json(s.port, "/v1/members/1/homepage?rows=4&per_row=10", &st);
    ASSERT_INT_EQ(st, 200);
    xseen x = {0};
    char ex[700];
    snprintf(ex, sizeof ex, "%s/ex", dir);
    mq_err err = {0};
    ASSERT_OK(mq__exlog_scan(ex, explore_record, &x, &err), &err);
    ASSERT_INT_EQ(x.n, 40);
    int explored = 0;
    double prev = 0;
    for (int i = 0; i < x.n; i++) {
        if (x.p[i] == 0) continue;
        ASSERT(strcmp(x.row[i], "continue_watching"));
        double left = 0.3 / x.p[i];
        ASSERT_NEAR(left, round(left), 1e-6 * left);   /* E / (an integer pool size) */
        if (explored) ASSERT_NEAR(left, prev - 1, 1e-6 * left);
        ASSERT(left > 9000 && left < 9724);            /* the demo's titles minus page and history */
        prev = left;
        explored++;
        for (int j = 0; j < x.n; j++) ASSERT(j == i || strcmp(x.title[j], x.title[i]));   /* not twice */
    }
    /* 40 slots at 0.3: P(explored outside 2..22) < 1e-3 */
    fprintf(stderr, "  %d of 40 slots explored\n", explored);
    ASSERT(explored >= 2 && explored <= 22);
    /* the response shows them with their evidence */
    int with_ev = 0;
    const cJSON *row, *t;
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(pg, "rows"))
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(row, "titles"))
            with_ev += !strcmp(cJSON_GetObjectItem(t, "evidence")->valuestring, "Something new to try");
    ASSERT_INT_EQ(with_ev, explored);
    cJSON_Delete(pg);
    stop_server(&s, SIGTERM);
}
