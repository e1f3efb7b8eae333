/* test_console.c: the web console in a real browser. Starts build/marquee serve on the demo
 * catalog (data/ml-latest-small, a small iALS model trained once) with an online experiment and
 * a models directory holding one report of each kind the console reads (`marquee eval --json`,
 * `marquee abr --json` and `--per-chunk` on synthetic traces, `marquee xp analyze --json` on a synthetic CSV),
 * checks the console's own routes over a socket (Content-Type, caching, 304, 404), then runs
 * tests/console/console.test.mjs, which drives Debian's chromium through playwright-core
 * (pinned in package-lock.json, installed by scripts/test.sh with `npm ci`) and writes the
 * screenshots to out/console/. Without node, chromium or node_modules the test is skipped with
 * the command that provides them: it installs nothing itself (scripts/deps.sh does). */
#include "../test.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY "console-key-0123456789"

static int read_int(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int v = -1;
    if (fscanf(f, "%d", &v) != 1) v = -1;
    fclose(f);
    return v;
}

/* Writes the three reports into models (skipping those already there: the cache is shared). */
static int write_reports(const char *models, const char *tmp)
{
    const char *bin = mq_test_bin();
    if (mq_test_sh("test -s %s/eval_demo.json || %s eval --data data/ml-latest-small --models pop,ials "
                   "--param ials.factors=16 --param ials.epochs=4 --json > %s/eval_demo.json.tmp 2>/dev/null && "
                   "mv %s/eval_demo.json.tmp %s/eval_demo.json", models, bin, models, models, models))
        return -1;
    /* 6 traces of 200 one-second samples (1..5 Mbit/s, a seeded LCG) and a 6-level video. */
    if (mq_test_sh("test -s %s/abr_demo.json || { mkdir -p %s/tr %s/video && "
                   "for i in 1 2 3 4 5 6; do awk -v s=$i 'BEGIN{x=s*7919; for(t=0;t<200;t++){x=(x*1103515245+12345)%%2147483648; "
                   "printf \"%%d %%.3f\\n\", t, 1+4*x/2147483648}}' > %s/tr/trace$i; done && "
                   "l=0; for k in 300 750 1200 1850 2850 4300; do awk -v k=$k 'BEGIN{for(c=0;c<48;c++) printf \"%%d\\n\", k*500*(0.9+0.2*((c*37)%%10)/10)}' "
                   "> %s/video/video_size_$l; l=$((l+1)); done && "
                   "%s abr --traces %s/tr --video %s/video --per-chunk %s/abr_chunks.csv --json > %s/abr_demo.json; }",
                   models, tmp, tmp, tmp, tmp, bin, tmp, tmp, models, models))
        return -1;
    /* 4000 units, A/B, a watch-time metric with a small lift and a click rate. */
    if (mq_test_sh("test -s %s/xp_demo.json || { awk 'BEGIN{x=17; print \"unit,variant,watch,clicks\"; "
                   "for(i=0;i<4000;i++){v=(i%%2)?\"B\":\"A\"; x=(x*1103515245+12345)%%2147483648; u=x/2147483648; "
                   "x=(x*1103515245+12345)%%2147483648; c=(x/2147483648<0.3+(v==\"B\")*0.02); "
                   "printf \"u%%d,%%s,%%.3f,%%d\\n\", i, v, 30*u+(v==\"B\")*1.0, c}}' > %s/xp.csv && "
                   "%s xp analyze %s/xp.csv --metric watch --metric clicks --control A --json > %s/xp_demo.json; }",
                   models, tmp, bin, tmp, models))
        return -1;
    /* A reliability diagram in the format of `marquee eval --reliability` (method,bin,count,
     * mean_predicted,observed_rate; an empty bin is nan): the console draws what the file says. */
    if (mq_test_sh("test -s %s/ranker_reliability.csv || awk 'BEGIN{print \"method,bin,count,mean_predicted,observed_rate\"; "
                   "split(\"raw platt isotonic\", m, \" \"); for(k=1;k<=3;k++) for(i=0;i<15;i++){ "
                   "if(k==1 && i==14){print m[k] \",\" i \",0,nan,nan\"; continue} p=(i+0.5)/30; "
                   "printf \"%%s,%%d,%%d,%%.6f,%%.6f\\n\", m[k], i, 100+i, p, p*(k==1?1.4:1)+0.002*k}}' > %s/ranker_reliability.csv",
                   models, models))
        return -1;
    return 0;
}

/* Headers and status of one request (curl), into tmp/h.txt; returns curl's status. */
static int head(const char *tmp, int port, const char *path, const char *extra)
{
    return mq_test_sh("curl -s -o /dev/null -D %s/h.txt %s http://127.0.0.1:%d%s", tmp, extra, port, path);
}

MQ_TEST(console_browser_views_play_screenshots)
{
    if (mq_test_sh("command -v node > /dev/null") || access("/usr/bin/chromium", X_OK) != 0)
        MQ_SKIP("node or /usr/bin/chromium missing: run scripts/deps.sh as root (installs nodejs, npm, chromium)");
    if (access("node_modules/playwright-core/package.json", R_OK) != 0)
        MQ_SKIP("node_modules/playwright-core missing: run `npm ci` (scripts/test.sh does)");
    const char *tmp = mq_test_tmpdir();
    char models[600];
    snprintf(models, sizeof models, "%s", mq_test_cache_dir("console-models"));
    ASSERT_INT_EQ(write_reports(models, tmp), 0);
    mq_test_sh("printf '%%s\\n' %s > %s/key", KEY, tmp);
    FILE *f = fopen(strcat(strcpy((char[700]){0}, tmp), "/xp.json"), "w");
    ASSERT(f != NULL);
    fputs("{\"experiments\": [{\"name\": \"rows_test\", \"variants\": [{\"name\": \"A\"}, "
          "{\"name\": \"B\", \"treatment\": {\"mmr\": 0.5}, "
          "\"ramp\": [50, 100], \"ramp_every\": \"1d\"}]}]}\n", f);
    fclose(f);
    ASSERT_INT_EQ(mq_test_sh("%s serve --port 0 --port-file %s/port --models %s --model ials "
                             "--param factors=16 --param epochs=4 --events %s/events --exposures %s/exposures "
                             "--store lmdb:%s/state --experiments %s/xp.json --api-key-file %s/key --threads 2 "
                             "> /dev/null 2>> %s/log.txt & echo $! > %s/pid",
                             mq_test_bin(), tmp, models, tmp, tmp, tmp, tmp, tmp, tmp, tmp), 0);
    char pf[700], pidf[700];
    snprintf(pf, sizeof pf, "%s/port", tmp);
    snprintf(pidf, sizeof pidf, "%s/pid", tmp);
    int port = -1, pid = -1;
    for (int i = 0; i < 1200 && port <= 0; i++) {     /* up to 120 s: the first start trains */
        usleep(100000);
        pid = read_int(pidf);
        if (pid > 0 && kill(pid, 0) != 0) break;
        port = read_int(pf);
    }
    if (port <= 0) {
        mq_test_sh("cat %s/log.txt >&2", tmp);
        if (pid > 0) kill(pid, SIGKILL);
        ASSERT(port > 0);
    }
    int ok = 0;
    /* The console's routes: the app for / and every /ui path, assets typed, revalidated. */
    ok |= head(tmp, port, "/", "");
    ok |= mq_test_sh("grep -q '^HTTP/1.1 200' %s/h.txt && grep -qi '^Content-Type: text/html; charset=utf-8' %s/h.txt "
                     "&& grep -qi '^Cache-Control: no-cache' %s/h.txt && grep -qi '^ETag: \"' %s/h.txt", tmp, tmp, tmp, tmp);
    ok |= head(tmp, port, "/ui/experiments/anything/at/all", "");
    ok |= mq_test_sh("grep -q '^HTTP/1.1 200' %s/h.txt && grep -qi '^Content-Type: text/html' %s/h.txt", tmp, tmp);
    ok |= head(tmp, port, "/assets/app.js", "");
    ok |= mq_test_sh("grep -qi '^Content-Type: text/javascript' %s/h.txt && grep -qi '^ETag' %s/h.txt", tmp, tmp);
    ok |= mq_test_sh("etag=$(grep -i '^ETag' %s/h.txt | cut -d' ' -f2 | tr -d '\\r'); "
                     "curl -s -o /dev/null -w '%%{http_code}' -H \"If-None-Match: $etag\" http://127.0.0.1:%d/assets/app.js | grep -q 304",
                     tmp, port);
    ok |= head(tmp, port, "/assets/app.css", "");
    ok |= mq_test_sh("grep -qi '^Content-Type: text/css' %s/h.txt", tmp);
    ok |= head(tmp, port, "/v1/reports/abr_chunks.csv", "");
    ok |= mq_test_sh("grep -q '^HTTP/1.1 200' %s/h.txt && grep -qi '^Content-Type: text/csv' %s/h.txt", tmp, tmp);
    ok |= head(tmp, port, "/v1/reports/..%%2Fkey", "");
    ok |= mq_test_sh("grep -q '^HTTP/1.1 404' %s/h.txt", tmp);
    ok |= head(tmp, port, "/assets/nope.js", "");
    ok |= mq_test_sh("grep -q '^HTTP/1.1 404' %s/h.txt", tmp);
    ok |= mq_test_sh("curl -s http://127.0.0.1:%d/v1/reports | python3 -c \"import json,sys; d=json.load(sys.stdin); "
                     "k=sorted(r['kind'] for r in d['reports']); sys.exit(0 if k==['abr','abr_chunks','eval','reliability','xp'] else 1)\"", port);
    /* the operator's actions need the key (401), name a real variant (404), never the control (400) */
    ok |= mq_test_sh("curl -s -o /dev/null -w '%%{http_code}' -X POST http://127.0.0.1:%d/v1/experiments/rows_test/variants/B/stop "
                     "| grep -q 401", port);
    ok |= mq_test_sh("curl -s -o /dev/null -w '%%{http_code}' -X POST -H 'Authorization: Bearer %s' "
                     "http://127.0.0.1:%d/v1/experiments/rows_test/variants/Z/stop | grep -q 404", KEY, port);
    ok |= mq_test_sh("curl -s -o /dev/null -w '%%{http_code}' -X POST -H 'Authorization: Bearer %s' "
                     "http://127.0.0.1:%d/v1/experiments/rows_test/variants/A/stop | grep -q 400", KEY, port);
    ok |= mq_test_sh("curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/v1/experiments/rows_test/variants/B/stop "
                     "| grep -q 405", port);
    ok |= mq_test_sh("curl -s http://127.0.0.1:%d/v1/experiments/rows_test/timeline | python3 -c \"import json,sys; d=json.load(sys.stdin); "
                     "sys.exit(0 if d['control']=='A' and [v['name'] for v in d['variants']]==['A','B'] else 1)\"", port);
    ASSERT_INT_EQ(ok, 0);
    int rc = mq_test_sh("node tests/console/console.test.mjs %d %s out/console >&2", port, KEY);
    kill(pid, SIGTERM);
    for (int i = 0; i < 100 && kill(pid, 0) == 0; i++) usleep(50000);
    if (kill(pid, 0) == 0) kill(pid, SIGKILL);
    ASSERT_INT_EQ(rc, 0);
}
