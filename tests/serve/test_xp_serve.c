/* test_xp_serve.c: online experiments end to end over real sockets, checked from the outside
 * by tests/ref/xp_live_ref.py (standard-library Python that parses the logs' raw bytes):
 * every page a client received is in the exposure log with identical titles and positions;
 * ?xp= forcing needs the key and is marked; attribution fields are stored and bad ones are
 * 400s; `marquee xp collect` equals an independent reconstruction from the raw logs and feeds
 * `xp analyze`; kill -9 under load loses no exposure of an answered page and the restart
 * repairs the log; a bad experiments file is refused at start-up and at reload (the old
 * configuration keeps serving).
 *
 * The server runs with a small iALS main model and a popularity model "alt" (a treatment),
 * trained once into a shared models directory; each test has its own logs. */
#include "../test.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define XKEY "xp-test-key-0123"

static char models[512];

static int read_int(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int v = -1;
    if (fscanf(f, "%d", &v) != 1) v = -1;
    fclose(f);
    return v;
}

static const char *XP_JSON =
    "{\"experiments\": [\n"
    " {\"name\": \"rows_test\", \"layer\": \"home\", \"variants\": [{\"name\": \"A\"},\n"
    "   {\"name\": \"B\", \"treatment\": {\"model\": \"alt\", \"row_priors\": {\"trending\": 2}}}]},\n"
    " {\"name\": \"size\", \"coverage\": 0.5, \"variants\": [{\"name\": \"small\", \"treatment\": {\"rows\": 3, \"per_row\": 5}},\n"
    "   {\"name\": \"big\"}]}\n"
    "]}\n";

/* Starts marquee serve with the experiments file in dir (logs under dir). Returns the pid
 * (port in *port) or -1; extra: more flags. */
static int start(const char *dir, int *port, const char *extra)
{
    if (!models[0]) {
        snprintf(models, sizeof models, "%s/models", mq_test_tmpdir());
        mkdir(models, 0755);
        if (mq_test_sh("%s train --data data/ml-latest-small --model pop --out %s/alt.mqm 2>/dev/null", mq_test_bin(), models))
            return -1;
    }
    mq_test_sh("printf '%%s\\n' %s > %s/key", XKEY, dir);
    FILE *f = fopen(strcat(strcpy((char[600]){0}, dir), "/xp.json"), "r");
    if (!f) {
        f = fopen(strcat(strcpy((char[600]){0}, dir), "/xp.json"), "w");
        fputs(XP_JSON, f);
    }
    fclose(f);
    unlink(strcat(strcpy((char[600]){0}, dir), "/port"));
    if (mq_test_sh("%s serve --port 0 --port-file %s/port --models %s --model ials --param factors=16 "
                   "--param epochs=4 --events %s/events --exposures %s/exposures --store lmdb:%s/state "
                   "--experiments %s/xp.json --api-key-file %s/key --threads 2 %s > /dev/null 2>> %s/log.txt & echo $! > %s/pid",
                   mq_test_bin(), dir, models, dir, dir, dir, dir, dir, extra ? extra : "", dir, dir))
        return -1;
    char pf[600], pidf[600];
    snprintf(pf, sizeof pf, "%s/port", dir);
    snprintf(pidf, sizeof pidf, "%s/pid", dir);
    for (int i = 0; i < 1200; i++) {
        usleep(100000);
        int pid = read_int(pidf);
        if (pid > 0 && kill(pid, 0) != 0) break;
        *port = read_int(pf);
        if (pid > 0 && *port > 0 &&
            mq_test_sh("/usr/bin/python3 -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:%d/healthz', timeout=5)\" 2>/dev/null", *port) == 0)
            return pid;
    }
    mq_test_sh("cat %s/log.txt >&2", dir);
    return -1;
}

static void stop(int pid, int sig)
{
    if (pid <= 0) return;
    kill(pid, sig);
    for (int i = 0; i < 100 && kill(pid, 0) == 0; i++) usleep(50000);
    if (kill(pid, 0) == 0) kill(pid, SIGKILL);
    usleep(100000);
}

MQ_TEST(xp_serve_pages_exposures_collect_reports)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s", mq_test_tmpdir());   /* the helper's buffer is reused */
    int port, pid = start(dir, &port, NULL);
    ASSERT(pid > 0);
    int rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py traffic %d %s %s", port, XKEY, dir);
    if (!rc) rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py report %d rows_test %s/r1.json", port, dir);
    stop(pid, SIGKILL);
    ASSERT_INT_EQ(rc, 0);
    /* the logs live in dir: events/, exposures/ (as in a models directory) */
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py check %s %s", dir, dir), 0);
    /* restart after kill -9: the same report */
    pid = start(dir, &port, NULL);
    ASSERT(pid > 0);
    rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py report %d rows_test %s/r2.json", port, dir);
    /* a reload keeps the live units (they follow the logs, not the configuration) */
    if (!rc) rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py reload %d %s", port, XKEY);
    if (!rc) rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py report %d rows_test %s/r3.json", port, dir);
    stop(pid, SIGTERM);
    ASSERT_INT_EQ(rc, 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py same %s/r1.json %s/r2.json", dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py same %s/r1.json %s/r3.json", dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s xp collect --log %s --experiment size --out %s/size.csv", mq_test_bin(), dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py collect %s %s/size.csv size", dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s xp collect --events %s/events --exposures %s/exposures --experiment rows_test --out %s/rows.csv",
                             mq_test_bin(), dir, dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py collect %s %s/rows.csv rows_test", dir, dir), 0);
    /* straight into the analysis; the live report is the sequential analysis of that file */
    ASSERT_INT_EQ(mq_test_sh("%s xp analyze %s/rows.csv --metric play_seconds --covariate pre_play_seconds "
                             "--control A --json > %s/an.json", mq_test_bin(), dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s xp analyze %s/rows.csv --metric play_seconds --control A --sequential "
                             "--config %s/xp.json --experiment rows_test --json > %s/seq.json", mq_test_bin(), dir, dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py offline %s/r1.json %s/seq.json %s/rows.csv", dir, dir, dir), 0);
    /* two experiments in the logs: one must be named; bad options are usage errors */
    ASSERT_INT_EQ(mq_test_sh("%s xp collect --log %s --out %s/x.csv 2>/dev/null", mq_test_bin(), dir, dir), 1);
    ASSERT_INT_EQ(mq_test_sh("%s xp collect --log %s 2>/dev/null", mq_test_bin(), dir), 2);
    ASSERT_INT_EQ(mq_test_sh("%s xp collect --log %s --from yesterday --out - 2>/dev/null", mq_test_bin(), dir), 2);
}

MQ_TEST(xp_serve_kill9_under_load_loses_no_exposure)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s", mq_test_tmpdir());   /* the helper's buffer is reused */
    int port, pid = start(dir, &port, NULL);
    ASSERT(pid > 0);
    int rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py load %d %d %s", port, pid, dir);
    stop(pid, SIGKILL);
    ASSERT_INT_EQ(rc, 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py check %s %s", dir, dir), 0);
    /* the restart cuts the preallocated tail and goes on appending */
    pid = start(dir, &port, NULL);
    ASSERT(pid > 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:%d/v1/members/z1/homepage', timeout=10)\"", port), 0);
    stop(pid, SIGTERM);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py check %s %s", dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 -c \"import sys; sys.path.insert(0, 'tests/ref'); import xp_live_ref as r; "
                             "e = r.exposures('%s/exposures'); sys.exit(0 if e[-1]['member'] == 'z1' else 1)\"", dir), 0);
}

MQ_TEST(xp_serve_bad_experiments_refused)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s", mq_test_tmpdir());   /* the helper's buffer is reused */
    /* at start-up: unknown model, named with file, experiment and field */
    mq_test_sh("printf '%%s' '{\"name\": \"e\", \"variants\": [\"A\", {\"name\": \"B\", \"treatment\": {\"model\": \"nosuch\"}}]}' > %s/xp.json", dir);
    int port;
    ASSERT(start(dir, &port, NULL) < 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q \"xp.json: treatment model 'nosuch'\" %s/log.txt", dir), 0);
    /* a good file, then a bad reload: 500 with the reason, the old experiments keep serving */
    mq_test_sh("rm %s/xp.json", dir);
    int pid = start(dir, &port, NULL);
    ASSERT(pid > 0);
    mq_test_sh("printf '%%s' '{\"name\": \"e\", \"variants\": [\"A\", \"B\"], \"weights\": [0.5, 0.4]}' > %s/xp.json", dir);
    int rc1 = mq_test_sh("/usr/bin/python3 -c \"import urllib.request as u, urllib.error as e, sys\n"
                         "r = u.Request('http://127.0.0.1:%d/v1/admin/reload', method='POST', data=b'', headers={'Authorization': 'Bearer %s'})\n"
                         "try:\n  u.urlopen(r); sys.exit(1)\nexcept e.HTTPError as x:\n"
                         "  b = x.read().decode(); print(b); sys.exit(0 if x.code == 500 and 'sum is 0.9' in b else 1)\"", port, XKEY);
    int rc2 = mq_test_sh("/usr/bin/python3 -c \"import urllib.request as u, json, sys\n"
                         "d = json.load(u.urlopen('http://127.0.0.1:%d/v1/members/u7/homepage'))\n"
                         "sys.exit(0 if d['experiments'][0]['name'] == 'rows_test' else 1)\"", port);
    stop(pid, SIGTERM);
    ASSERT_INT_EQ(rc1, 0);
    ASSERT_INT_EQ(rc2, 0);
}

MQ_TEST(xp_serve_harmful_canary_rolled_back)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s", mq_test_tmpdir());   /* the helper's buffer is reused */
    mq_test_sh("printf '%%s' '{\"name\": \"canary\", \"check_every\": \"1s\", \"min_units\": 30,"
               " \"guardrails\": [{\"metric\": \"play_seconds\", \"max_degradation\": 0.05, \"higher_is_better\": true}],"
               " \"variants\": [\"A\", {\"name\": \"B\", \"treatment\": {\"model\": \"alt\"},"
               " \"ramp\": [50, 100], \"ramp_every\": {\"units\": 100}}]}' > %s/xp.json", dir);
    int port, pid = start(dir, &port, NULL);
    ASSERT(pid > 0);
    int rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py canary %d %s %s 1", port, XKEY, dir);
    stop(pid, SIGKILL);
    ASSERT_INT_EQ(rc, 0);
    /* the stop is in the server log and, as a record, in the exposure log */
    ASSERT_INT_EQ(mq_test_sh("grep -q \"experiment 'canary': variant 'B' stopped: guardrail 'play_seconds'\" %s/log.txt", dir), 0);
    ASSERT_INT_EQ(mq_test_sh("grep -c 'guardrail .play_seconds. breached' %s/exposures/*.log > /dev/null", dir), 0);
    pid = start(dir, &port, NULL);
    ASSERT(pid > 0);
    rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py canary %d %s %s 2", port, XKEY, dir);
    stop(pid, SIGTERM);
    ASSERT_INT_EQ(rc, 0);
}

/* The harmful variant: a model that ranks the least popular titles first (pop trained
 * on data where the least liked titles have the most positives), with members who watch the
 * titles they like (seconds by the title's positives in the demo data): the guardrail stops
 * it by itself within a few checks of both arms having min_units. */
MQ_TEST(xp_serve_least_popular_model_stopped)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s", mq_test_tmpdir());   /* the helper's buffer is reused */
    int port, pid = start(dir, &port, NULL);   /* trains the shared models first */
    ASSERT(pid > 0);
    stop(pid, SIGTERM);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py leastpop %s/leastpop", dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s train --data %s/leastpop --model pop --out %s/leastpop.mqm 2>/dev/null",
                             mq_test_bin(), dir, models), 0);
    mq_test_sh("printf '%%s' '{\"name\": \"harm\", \"check_every\": \"1s\", \"min_units\": 30,"
               " \"guardrails\": [{\"metric\": \"play_seconds\", \"max_degradation\": 0.05, \"higher_is_better\": true}],"
               " \"variants\": [\"A\", {\"name\": \"B\", \"treatment\": {\"model\": \"leastpop\"}}]}' > %s/xp.json", dir);
    pid = start(dir, &port, NULL);
    ASSERT(pid > 0);
    int rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py harmful %d %s 1", port, XKEY);
    stop(pid, SIGTERM);
    ASSERT_INT_EQ(rc, 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q \"experiment 'harm': variant 'B' stopped: guardrail 'play_seconds'\" %s/log.txt", dir), 0);
}

/* SRM under ramps (docs/xp.md): B ramped 20% -> 50% of its range (weights 0.333 / 0.667, so
 * the served shares are exact bucket counts, not 0.2 / 0.5) passes SRM in the live report and
 * offline, with scipy's p-value, where the old check (units against the weights) fails; a
 * broken split (a quarter of B's units lost, or logged as served the default) fails. */
MQ_TEST(xp_serve_srm_under_ramps)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s", mq_test_tmpdir());   /* the helper's buffer is reused */
    mq_test_sh("printf '%%s' '{\"name\": \"ramped\", \"variants\": [{\"name\": \"A\", \"weight\": 0.333},"
               " {\"name\": \"B\", \"weight\": 0.667, \"treatment\": {\"model\": \"alt\"},"
               " \"ramp\": [20, 50], \"ramp_every\": \"1d\"}]}' > %s/xp.json", dir);
    int port, pid = start(dir, &port, NULL);
    ASSERT(pid > 0);
    int rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_srm_ref.py traffic %d %s %s", port, XKEY, dir);
    stop(pid, SIGKILL);
    ASSERT_INT_EQ(rc, 0);
    ASSERT_INT_EQ(mq_test_sh("%s xp collect --log %s --out %s/units.csv", mq_test_bin(), dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py collect %s %s/units.csv ramped", dir, dir), 0);
    static const char *const an = "%s xp analyze %s/%s --metric play_seconds --control A --sequential --config %s/xp.json "
                                  "--experiment ramped --json > %s/%s";
    ASSERT_INT_EQ(mq_test_sh(an, mq_test_bin(), dir, "units.csv", dir, dir, "off.json"), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_srm_ref.py check %s", dir), 0);
    ASSERT_INT_EQ(mq_test_sh(an, mq_test_bin(), dir, "broken1.csv", dir, dir, "b1.json"), 0);
    ASSERT_INT_EQ(mq_test_sh(an, mq_test_bin(), dir, "broken2.csv", dir, dir, "b2.json"), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_srm_ref.py broken %s", dir), 0);
}

MQ_TEST(xp_serve_treatment_models_similar_warmed)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s", mq_test_tmpdir());   /* the helper's buffer is reused */
    int port, pid = start(dir, &port, NULL);   /* trains the shared models (main, alt) first */
    ASSERT(pid > 0);
    stop(pid, SIGTERM);
    mq_test_sh("printf '%%s' '{\"name\": \"sim\", \"variants\": [\"A\", {\"name\": \"B\", \"treatment\": {\"model\": \"knn\"}}]}' > %s/xp.json", dir);
    ASSERT_INT_EQ(mq_test_sh("%s train --data data/ml-latest-small --model itemknn --out %s/knn.mqm 2>/dev/null",
                             mq_test_bin(), models), 0);
    pid = start(dir, &port, NULL);
    ASSERT(pid > 0);
    /* after start-up, and again for the new bundle of a reload */
    int rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py warm %d knn 90", port);
    if (!rc) rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py reload %d %s", port, XKEY);
    if (!rc) rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py warm %d knn 90", port);
    stop(pid, SIGTERM);
    ASSERT_INT_EQ(rc, 0);
    ASSERT_INT_EQ(mq_test_sh("test $(grep -c \"similar titles of treatment model 'knn'\" %s/log.txt) -ge 2", dir), 0);
}

MQ_TEST(xp_serve_drift_counts_survive_restarts)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s", mq_test_tmpdir());   /* the helper's buffer is reused */
    int port, pid = start(dir, &port, NULL);
    ASSERT(pid > 0);
    int rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py traffic %d %s %s", port, XKEY, dir);
    if (!rc) rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py psi %d %s/p1", port, dir);
    stop(pid, SIGTERM);
    ASSERT_INT_EQ(rc, 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q '\"model\": \"main\"' %s/exposures/drift_state.json", dir), 0);
    /* a clean stop writes the counts: the same PSI after the restart, and after a reload */
    pid = start(dir, &port, NULL);
    ASSERT(pid > 0);
    rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py psi %d %s/p2", port, dir);
    if (!rc) rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py reload %d %s", port, XKEY);
    if (!rc) rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py psi %d %s/p3", port, dir);
    /* more pages move it; written within seconds, so kill -9 after that keeps them too */
    if (!rc) rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py pages %d 200", port);
    if (!rc) rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py psi %d %s/p4", port, dir);
    if (!rc) sleep(7);
    stop(pid, SIGKILL);
    ASSERT_INT_EQ(rc, 0);
    ASSERT_INT_EQ(mq_test_sh("cmp %s/p1 %s/p2 && cmp %s/p1 %s/p3", dir, dir, dir, dir), 0);
    ASSERT(mq_test_sh("cmp -s %s/p3 %s/p4", dir, dir) != 0);
    pid = start(dir, &port, NULL);
    ASSERT(pid > 0);
    rc = mq_test_sh("/usr/bin/python3 tests/ref/xp_live_ref.py psi %d %s/p5", port, dir);
    stop(pid, SIGTERM);
    ASSERT_INT_EQ(rc, 0);
    ASSERT_INT_EQ(mq_test_sh("cmp %s/p4 %s/p5", dir, dir), 0);
}
