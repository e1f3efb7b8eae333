/* test_xp_ops.c: an experiment over time (GET /v1/experiments/{name}/timeline) and the
 * operator's actions (stop a variant, advance a ramp), in process on logs written here.
 *
 * The timeline is checked against tests/ref/xp_ops_ref.py, an independent recomputation
 * (numpy/scipy) from the `xp collect` CSV of the same logs: units per UTC day, Welch effect,
 * CI and p at the end of each day, and the mSPRT looks the live report would make at that
 * moment; and its last point against the live report itself (mq__xpr_report). The actions
 * are checked for their refusals, the served permille, persistence of the state and history
 * across a reopen, and the history's order. */
#include "../test.h"

#include "serve/serve.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define D0 20000LL          /* 2024-10-04, a UTC day number */

static uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 33;
}

/* 900 units over 5 days (A/B/C), 1-3 pages each, plays after (and a few before) exposure. */
static void write_logs(const char *dir, mq_err *err, int *ok)
{
    char p[600];
    snprintf(p, sizeof p, "%s/exposures", dir);
    mq__exlog *xl = NULL;
    *ok = 0;
    if (mq__exlog_open(p, 0, NULL, &xl, err)) return;
    snprintf(p, sizeof p, "%s/events", dir);
    mq_evlog *el = NULL;
    mq_evlog_opts eo; mq_evlog_opts_init(&eo, sizeof eo);
    eo.fsync = MQ_FSYNC_NONE;
    if (mq_evlog_open(p, &eo, &el, err)) { mq__exlog_close(xl); return; }
    static const char *const V[3] = {"A", "B", "C"};
    uint64_t s = 7;
    for (int i = 0; i < 900; i++) {
        char member[32], page[40];
        snprintf(member, sizeof member, "m%d", i);
        int64_t t0 = D0 * 86400 + (int64_t)i * 5 * 86400 / 900 + (int64_t)(lcg(&s) % 600);
        int pages = 1 + (int)(lcg(&s) % 3);
        for (int k = 0; k < pages; k++) {
            mq__expo r = {0};
            r.time = t0 + k * 3600;
            r.route = MQ__EXPO_ROUTE_HOMEPAGE;
            r.member = member;
            snprintf(page, sizeof page, "p%d-%d", i, k);
            r.page_id = page;
            r.model_version = "test";
            r.n_exp = 1;
            r.exp_name[0] = "t";
            r.variant[0] = V[i % 3];
            mq_buf b;
            mq_buf_init(&b);
            if (mq__expo_encode(&r, true, &b, err) || mq__exlog_append(xl, &b, err)) { mq_buf_release(&b); goto done; }
            mq_buf_release(&b);
        }
        int plays = (int)(lcg(&s) % 4);
        for (int k = 0; k < plays; k++) {
            mq_event e;
            memset(&e, 0, sizeof e);
            snprintf(e.member, sizeof e.member, "%s", member);
            snprintf(e.title, sizeof e.title, "%d", 1 + (int)(lcg(&s) % 50));
            e.kind = MQ_EV_PLAY;
            e.time = t0 + (k == 0 && i % 7 == 0 ? -3600 : 60 + (int64_t)(lcg(&s) % 20000));
            e.value = (float)(60 + lcg(&s) % 3000 + (i % 3 == 1 ? 300 : 0));
            if (mq_evlog_append(el, &e, 1, NULL, err)) goto done;
        }
    }
    *ok = 1;
done:
    mq_evlog_close(el);
    mq__exlog_close(xl);
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

MQ_TEST(xp_ops_timeline_matches_reference_and_report)
{
    char dir[400], p[600];
    snprintf(dir, sizeof dir, "%s", mq_test_tmpdir());
    mq_err err = {0, ""};
    int ok;
    write_logs(dir, &err, &ok);
    ASSERT(ok);
    snprintf(p, sizeof p, "%s/xp.json", dir);
    ASSERT_INT_EQ(write_file(p, "{\"experiments\": [{\"name\": \"t\", \"variants\": [\"A\", \"B\", \"C\"]}]}\n"), 0);
    mq__xps x;
    ASSERT_OK(mq__xps_load(p, &x, &err), &err);
    char ev[600], ex[600];
    snprintf(ev, sizeof ev, "%s/events", dir);
    snprintf(ex, sizeof ex, "%s/exposures", dir);
    mq_xp_collect_opts co; mq_xp_collect_opts_init(&co, sizeof co);
    co.events = ev; co.exposures = ex; co.pre_days = 14; co.finish_seconds = 1200;
    long long now = (D0 + 6) * 86400;
    mq_buf tl, rep;
    mq_buf_init(&tl);
    mq_buf_init(&rep);
    mq__xpc *units = NULL;      /* the units as the server keeps them: here built from the logs */
    ASSERT_OK(mq__xpc_build(&co, &units, &err), &err);
    ASSERT_OK(mq__xpo_timeline(&x, NULL, units, "t", "play_seconds", now, &tl, &err), &err);
    ASSERT_OK(mq__xpr_report(&x, NULL, units, "t", "play_seconds", NULL, now, &rep, &err), &err);
    snprintf(p, sizeof p, "%s/timeline.json", dir);
    ASSERT_INT_EQ(write_file(p, mq_buf_cstr(&tl)), 0);
    snprintf(p, sizeof p, "%s/report.json", dir);
    ASSERT_INT_EQ(write_file(p, mq_buf_cstr(&rep)), 0);
    co.experiment = "t";
    snprintf(p, sizeof p, "%s/units.csv", dir);
    ASSERT_OK(mq_xp_collect(&co, p, NULL, &err), &err);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_ops_ref.py %s/timeline.json %s/units.csv %s/report.json",
                             dir, dir, dir), 0);
    /* a metric that is not a unit column, an unknown experiment */
    mq_buf_reset(&tl);
    ASSERT_INT_EQ(mq__xpo_timeline(&x, NULL, units, "t", "watch", now, &tl, &err), MQ_EINVAL);
    ASSERT(strstr(err.msg, "'watch'") != NULL);
    ASSERT_INT_EQ(mq__xpo_timeline(&x, NULL, units, "nope", NULL, now, &tl, &err), MQ_ENOTFOUND);
    mq__xpc_destroy(units);
    mq_buf_release(&tl);
    mq_buf_release(&rep);
    mq__xps_release(&x);
}

MQ_TEST(xp_ops_stop_advance_persisted_with_history)
{
    char dir[400], p[600];
    snprintf(dir, sizeof dir, "%s", mq_test_tmpdir());
    snprintf(p, sizeof p, "%s/xp.json", dir);
    ASSERT_INT_EQ(write_file(p, "{\"experiments\": [{\"name\": \"r\", \"variants\": [\"A\", "
                                "{\"name\": \"B\", \"ramp\": [10, 50, 100], \"ramp_every\": \"1h\"}, \"C\"]}]}\n"), 0);
    mq_err err = {0, ""};
    mq__xps x;
    ASSERT_OK(mq__xps_load(p, &x, &err), &err);
    mq__xpg *g;
    ASSERT_OK(mq__xpg_open(dir, NULL, &g, &err), &err);
    _Atomic int served[MQ_XP_MAX_VARIANTS];
    mq__xpg_served(g, &x, 1000, served);
    ASSERT_INT_EQ(served[1], 100);
    ASSERT_INT_EQ(served[2], 1000);
    /* refusals: the control, a variant without a ramp */
    ASSERT_INT_EQ(mq__xpg_stop(g, &x, 0, 0, NULL, 1000, served, NULL, &err), MQ_EINVAL);
    ASSERT(strstr(err.msg, "control") != NULL);
    ASSERT_INT_EQ(mq__xpg_advance(g, &x, 0, 2, 0, NULL, 1000, served, &err), MQ_EINVAL);
    ASSERT(strstr(err.msg, "no ramp") != NULL);
    ASSERT_OK(mq__xpg_advance(g, &x, 0, 1, 40, "looks fine", 1100, served, &err), &err);
    ASSERT_INT_EQ(served[1], 500);
    ASSERT_OK(mq__xpg_advance(g, &x, 0, 1, 90, NULL, 1200, served, &err), &err);
    ASSERT_INT_EQ(served[1], 1000);
    ASSERT_INT_EQ(mq__xpg_advance(g, &x, 0, 1, 90, NULL, 1300, served, &err), MQ_EINVAL);
    ASSERT(strstr(err.msg, "last ramp step") != NULL);
    ASSERT_OK(mq__xpg_stop(g, &x, 0, 1, "support tickets", 1400, served, NULL, &err), &err);
    ASSERT_INT_EQ(served[1], 0);
    ASSERT_INT_EQ(mq__xpg_stop(g, &x, 0, 1, NULL, 1500, served, NULL, &err), MQ_EINVAL);
    ASSERT(strstr(err.msg, "already stopped") != NULL);
    ASSERT_INT_EQ(served[2], 1000);
    mq__xpg_close(g);
    /* reopen: the stop and the history are in xp_state.json */
    ASSERT_OK(mq__xpg_open(dir, NULL, &g, &err), &err);
    mq__xpg_served(g, &x, 2000, served);
    ASSERT_INT_EQ(served[1], 0);
    ASSERT_INT_EQ(served[2], 1000);
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_putc(&b, '{');
    mq__xpg_timeline_json(g, &x, 0, 2000, &b);
    mq_buf_putc(&b, '}');
    cJSON *j = cJSON_Parse(mq_buf_cstr(&b));
    ASSERT(j != NULL);
    cJSON *h = cJSON_GetObjectItem(j, "history"), *vs = cJSON_GetObjectItem(j, "variants");
    ASSERT_INT_EQ(cJSON_GetArraySize(h), 3);
    static const char *const ev[3] = {"ramp", "ramp", "stop"};
    static const double pct[3] = {50, 100, 0};
    static const long long tm[3] = {1100, 1200, 1400};
    for (int i = 0; i < 3; i++) {
        cJSON *e = cJSON_GetArrayItem(h, i);
        ASSERT_STR_EQ(cJSON_GetObjectItem(e, "event")->valuestring, ev[i]);
        ASSERT_STR_EQ(cJSON_GetObjectItem(e, "by")->valuestring, "operator");
        ASSERT_STR_EQ(cJSON_GetObjectItem(e, "variant")->valuestring, "B");
        ASSERT_NEAR(cJSON_GetObjectItem(e, "percent")->valuedouble, pct[i], 0);
        ASSERT_INT_EQ((long long)cJSON_GetObjectItem(e, "time")->valuedouble, tm[i]);
    }
    ASSERT(strstr(cJSON_GetObjectItem(cJSON_GetArrayItem(h, 0), "reason")->valuestring, "looks fine") != NULL);
    ASSERT(strstr(cJSON_GetObjectItem(cJSON_GetArrayItem(h, 2), "reason")->valuestring, "support tickets") != NULL);
    cJSON *vb = cJSON_GetArrayItem(vs, 1);
    ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(vb, "stopped")));
    ASSERT_INT_EQ(cJSON_GetObjectItem(vb, "step")->valueint, 2);
    ASSERT_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(vb, "ramp")), 3);
    ASSERT_INT_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(vs, 2), "step")->valueint, -1);
    cJSON_Delete(j);
    mq_buf_release(&b);
    mq__xpg_close(g);
    mq__xps_release(&x);
}
