/* cmd_serve.c: `marquee serve`: train the demo models if none are saved, then serve homepages,
 * recommendations, similar titles and events over HTTP until SIGINT/SIGTERM; SIGHUP reloads
 * the models atomically.
 *
 * Signals are blocked before the server starts (so its threads inherit the mask) and taken
 * synchronously with sigwait in the main thread, which is the only thread that reloads or
 * stops. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *usage_text =
    "Usage: marquee serve [options]\n"
    "\n"
    "Serves personalized homepages over HTTP/1.1 (JSON). With no options: the built-in demo\n"
    "catalog (data/ml-latest-small) on http://127.0.0.1:8080, training and saving its models\n"
    "into out/models first if none are there.\n"
    "\n"
    "Options:\n"
    "  --port N            TCP port (default 8080; 0 = any free port, printed on stdout)\n"
    "  --bind ADDR         IPv4 address to listen on (default 127.0.0.1; 0.0.0.0 for all)\n"
    "  --data PATH         dataset (snapshot or data files): member histories and catalog\n"
    "                      (default data/ml-latest-small)\n"
    "  --models DIR        model directory: main.mqm, pop.mqm, trending.mqm (default out/models);\n"
    "                      trained from --data when main.mqm is absent\n"
    "  --model KIND        model to train when none is saved: ease, ials, itemknn, ... (default\n"
    "                      ease up to 15000 titles, else ials)\n"
    "  --param NAME=VALUE  training parameter for --model (repeatable)\n"
    "  --store SPEC        member state: lmdb:PATH (default lmdb:DIR/state) or\n"
    "                      redis://HOST:PORT[/DB] or redis+unix:///path/to/socket\n"
    "  --events DIR        event log directory (default DIR/events of --models)\n"
    "  --fsync MODE        group (default: concurrent events share one fsync), batch (one\n"
    "                      fsync per request), none (no fsync: survives a crash of marquee,\n"
    "                      not of the machine)\n"
    "  --api-key-file F    require 'Authorization: Bearer <key>' (the file's first line) for\n"
    "                      POST /v1/events and POST /v1/admin/reload\n"
    "  --keyed-reads       require the key for every route but /healthz too\n"
    "  --threads N         HTTP threads (default: the number of cores)\n"
    "  --max-body BYTES    request body limit (default 1048576; larger: 413)\n"
    "  --finish-seconds S  seconds of play that finish a title (default 5400)\n"
    "  --trending-half-life DAYS\n"
    "                      half-life of the live Trending Now counters (default: the trending\n"
    "                      model's, 90 for the demo models; 7 without a trending model)\n"
    "  --trending-refresh S  seconds between Trending Now rebuilds from events (default 1)\n"
    "  --port-file F       write the port number to F once listening\n"
    "\n"
    "Slow clients and overload (docs/API.md, Limits):\n"
    "  --header-timeout S  seconds a connection may take to send a request's headers, counted\n"
    "                      from the accept or the previous answer (default 10)\n"
    "  --body-timeout S    seconds to send a request's body after its headers (default 30)\n"
    "  --max-connections-per-ip N\n"
    "                      open connections from one client address (default 256)\n"
    "  --shed-queue-ms MS  answer 503 + Retry-After to a page, recommendations, similar or events\n"
    "                      request that waited longer than MS for a thread (default 250; -1 never)\n"
    "  --event-id-window S seconds a client event_id is remembered to drop retries (default 86400)\n"
    "  --clock MODE        what 'now' is: wall (default), event (the latest event time seen) or\n"
    "                      offset (the data's last event is now at start-up, then time runs on;\n"
    "                      for data that ends in the past, as the demo's does)\n"
    "\n"
    "Routes: GET /v1/members/{id}/homepage?rows=&per_row=&device=&hour=&exclude=&genre=&mmr=,\n"
    "GET /v1/members/{id}/recommendations?n=&explain=1, GET /v1/titles/{id}/similar?n=,\n"
    "POST /v1/events, GET /healthz, GET /metrics, POST /v1/admin/reload (docs/API.md).\n"
    "SIGHUP reloads the models; SIGINT/SIGTERM stop.\n";

static int mkdir_p(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Trains main (kind), pop and trending from data into dir. */
static int train_models(const char *data, const char *dir, const char *kind,
                        const char *const *params, int n_params, mq_err *err)
{
    mq_dataset *d = NULL, *pos = NULL;
    mq_model *m = NULL;
    mq_load_opts lo = {0};
    lo.log = &mq_cli_log;
    int rc = mq_data_open(data, &lo, &d, err);
    if (rc) return rc;
    /* ratings (every value within [0.5, 5], not all 1) count as positives from 4 up; other
     * data (plays, implicit 1s) as is */
    bool ratings = d->nnz > 0, above1 = false;
    for (int64_t k = 0; k < d->nnz && ratings; k++) {
        ratings = d->m_val[k] >= 0.5f && d->m_val[k] <= 5.0f;
        above1 |= d->m_val[k] > 1.0f;
    }
    ratings &= above1;
    rc = mq_dataset_binarize(d, ratings ? 4.0f : -INFINITY, 1, &pos, err);
    if (rc) goto out;
    if (!kind) kind = pos->n_titles <= 15000 ? "ease" : "ials";
    if (mkdir_p(dir) != 0) {
        rc = MQ_EIO;
        snprintf(err->msg, sizeof err->msg, "cannot create '%s': %s", dir, strerror(errno));
        goto out;
    }
    struct { const char *kind, *file; const char *const *params; int n; } jobs[3] = {
        {"pop", "pop.mqm", NULL, 0},
        {"trending", "trending.mqm", (const char *const[]){"half_life=90"}, 1},
        {kind, "main.mqm", params, n_params},
    };
    for (int j = 0; j < 3; j++) {
        mq_train_opts to = {jobs[j].params, jobs[j].n, 0, 42, &mq_cli_log};
        double t0 = mq_now();
        fprintf(stderr, "marquee: training %s on %d members x %d titles (%lld positives)\n", jobs[j].kind,
                pos->n_members, pos->n_titles, (long long)pos->nnz);
        rc = mq_model_train(jobs[j].kind, j == 2 ? pos : d, &to, &m, err);
        if (rc) goto out;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, jobs[j].file);
        rc = mq_model_save(m, path, err);
        mq_model_destroy(m);
        m = NULL;
        if (rc) goto out;
        fprintf(stderr, "marquee: saved %s (%.1f s)\n", path, mq_now() - t0);
    }
out:
    mq_model_destroy(m);
    mq_dataset_destroy(pos);
    mq_dataset_destroy(d);
    return rc;
}

/* The reliability options (slow clients, overload, retry window, clock): 1 taken, 0 not one
 * of them, -1 a usage error (printed). */
static int limits_option(const char *a, const char *v, mq_server_opts *o)
{
    double dv;
    long long x;
    if (!strcmp(a, "--header-timeout") || !strcmp(a, "--body-timeout")) {
        if (mq_cli_parse_double(v, &dv) || !(dv >= 0.05 && dv <= 86400))
            return mq_cli_usage_error("serve", "%s: '%s' is not a number of seconds in [0.05, 86400]", a, v), -1;
        *(a[2] == 'h' ? &o->header_timeout : &o->body_timeout) = dv;
    } else if (!strcmp(a, "--max-connections-per-ip")) {
        if (mq_cli_parse_i64(v, &x) || x < 1 || x > 1000000)
            return mq_cli_usage_error("serve", "%s: '%s' is not in [1, 1000000]", a, v), -1;
        o->max_connections_per_ip = (int)x;
    } else if (!strcmp(a, "--shed-queue-ms")) {
        if (mq_cli_parse_double(v, &dv) || !(dv == -1 || (dv >= 1 && dv <= 600000)))
            return mq_cli_usage_error("serve", "%s: '%s' is not -1 or a number of milliseconds in [1, 600000]", a, v), -1;
        o->shed_queue_ms = dv;
    } else if (!strcmp(a, "--clock")) {
        o->clock = mq_clock_parse(v);
        if (o->clock < 0) return mq_cli_usage_error("serve", "--clock: '%s' is not wall, event or offset", v), -1;
    } else if (!strcmp(a, "--event-id-window")) {
        if (mq_cli_parse_double(v, &dv) || !(dv >= 1 && dv <= 30 * 86400))
            return mq_cli_usage_error("serve", "%s: '%s' is not a number of seconds in [1, 2592000]", a, v), -1;
        o->dedup_window = dv;
    } else {
        return 0;
    }
    return 1;
}

static int read_key(const char *path, char *key, size_t cap, mq_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        err->code = MQ_EIO;
        snprintf(err->msg, sizeof err->msg, "--api-key-file '%s': %s", path, strerror(errno));
        return MQ_EIO;
    }
    if (!fgets(key, (int)cap, f)) key[0] = 0;
    fclose(f);
    size_t n = strlen(key);
    while (n && (key[n - 1] == '\n' || key[n - 1] == '\r' || key[n - 1] == ' ')) key[--n] = 0;
    if (n < 8) {
        err->code = MQ_EINVAL;
        snprintf(err->msg, sizeof err->msg, "--api-key-file '%s': the key must be at least 8 characters", path);
        return MQ_EINVAL;
    }
    return 0;
}

int mq_cli_serve(int argc, char **argv)
{
    mq_server_opts o = {0};
    o.port = 8080;
    const char *data = NULL, *models = "out/models", *kind = NULL, *key_file = NULL, *port_file = NULL;
    const char *params[32];
    int n_params = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mq_cli_is_help(a)) { fputs(usage_text, stdout); return MQ_EXIT_OK; }
        if (!strcmp(a, "--keyed-reads")) { o.keyed_reads = true; continue; }
        if (i + 1 >= argc) return mq_cli_usage_error("serve", "'%s' needs a value (or is unknown)", a);
        const char *v = argv[++i];
        long long x;
        double dv;
        if (!strcmp(a, "--port")) {
            if (mq_cli_parse_i64(v, &x) || x < 0 || x > 65535) return mq_cli_usage_error("serve", "--port: '%s' is not a port number", v);
            o.port = (int)x;
        } else if (!strcmp(a, "--bind")) o.bind = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--models")) models = v;
        else if (!strcmp(a, "--model")) kind = v;
        else if (!strcmp(a, "--param")) {
            if (n_params == 32) return mq_cli_usage_error("serve", "too many --param (at most 32)");
            params[n_params++] = v;
        } else if (!strcmp(a, "--store")) o.store = v;
        else if (!strcmp(a, "--events")) o.events = v;
        else if (!strcmp(a, "--fsync")) {
            o.fsync = mq_fsync_parse(v);
            if (o.fsync < 0) return mq_cli_usage_error("serve", "--fsync: '%s' is not group, batch or none", v);
        } else if (!strcmp(a, "--api-key-file")) key_file = v;
        else if (!strcmp(a, "--threads")) {
            if (mq_cli_parse_i64(v, &x) || x < 1 || x > 256) return mq_cli_usage_error("serve", "--threads: '%s' is not in [1, 256]", v);
            o.threads = (int)x;
        } else if (!strcmp(a, "--max-body")) {
            if (mq_cli_parse_i64(v, &x) || x < 1024 || x > (1LL << 30)) return mq_cli_usage_error("serve", "--max-body: '%s' is not in [1024, 2^30]", v);
            o.max_body = (size_t)x;
        } else if (!strcmp(a, "--finish-seconds")) {
            if (mq_cli_parse_double(v, &dv) || !(dv > 0)) return mq_cli_usage_error("serve", "--finish-seconds: '%s' is not a positive number", v);
            o.finish_seconds = dv;
        } else if (!strcmp(a, "--trending-half-life")) {
            if (mq_cli_parse_double(v, &dv) || !(dv >= 1e-6 && dv <= 1e6)) return mq_cli_usage_error("serve", "--trending-half-life: '%s' is not a number of days in [1e-6, 1e6]", v);
            o.trending_half_life = dv;
        } else if (!strcmp(a, "--trending-refresh")) {
            if (mq_cli_parse_double(v, &dv) || !(dv >= 0.01 && dv <= 3600)) return mq_cli_usage_error("serve", "--trending-refresh: '%s' is not a number of seconds in [0.01, 3600]", v);
            o.trending_refresh = dv;
        } else if (!strcmp(a, "--port-file")) port_file = v;
        else if ((x = limits_option(a, v, &o)) != 0) { if (x < 0) return MQ_EXIT_USAGE; }
        else return mq_cli_usage_error("serve", "unknown option '%s'", a);
    }
    if (!data) {
        if (access("data/ml-latest-small", F_OK) != 0)
            return mq_cli_usage_error("serve", "no --data given and the demo catalog data/ml-latest-small is not here "
                                               "(run from the repository root)");
        data = "data/ml-latest-small";
    }
    mq_err err = {0, ""};
    char key[512];
    if (key_file) {
        if (read_key(key_file, key, sizeof key, &err)) return mq_cli_fail("serve", &err);
        o.api_key = key;
    }
    char main_path[4200];
    snprintf(main_path, sizeof main_path, "%s/main.mqm", models);
    if (access(main_path, F_OK) != 0) {
        fprintf(stderr, "marquee: no models in %s: training them from %s\n", models, data);
        if (train_models(data, models, kind, params, n_params, &err)) return mq_cli_fail("serve", &err);
    }
    o.data = data;
    o.models = models;
    o.log = &mq_cli_log;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    mq_server *s;
    if (mq_server_start(&o, &s, &err)) return mq_cli_fail("serve", &err);
    int port = mq_server_port(s);
    const char *host = o.bind && strcmp(o.bind, "0.0.0.0") ? o.bind : "127.0.0.1";
    printf("serving http://%s:%d (try http://%s:%d/v1/members/1/homepage)\n", host, port, host, port);
    fflush(stdout);
    if (port_file) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0)
            fprintf(stderr, "marquee serve: cannot write --port-file '%s': %s\n", port_file, strerror(errno));
    }
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            fprintf(stderr, "marquee: SIGHUP: reloading models from %s\n", models);
            if (mq_server_reload(s, &err))
                fprintf(stderr, "marquee serve: reload failed, the previous model keeps serving: %s\n", err.msg);
            continue;
        }
        fprintf(stderr, "marquee: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        break;
    }
    mq_server_stop(s);
    return MQ_EXIT_OK;
}
