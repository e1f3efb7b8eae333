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
    "  --trending-refresh S  seconds between Trending Now rebuilds from events (default 1); off:\n"
    "                      never, the row keeps its seed (the trending model, else popularity)\n"
    "  --port-file F       write the port number to F once listening\n"
    "  --pid-file F        write the process id to F (atomically) once listening; removed at a\n"
    "                      clean exit. Reload with: kill -HUP \"$(cat F)\"\n"
    "  --log-format FMT    text (default) or json: one JSON object per log line on stderr, with\n"
    "                      ts, level and msg\n"
    "  --experiments F     online experiments with treatments (docs/xp.md); re-read on reload\n"
    "  --exposures DIR     exposure log directory (default DIR/exposures of --models)\n"
    "  --exposure-log M    full (default: every served title), summary (no title list), off\n"
    "  --catalog DIR       catalog log of titles put and withdrawn at run time (PUT / DELETE\n"
    "                      /v1/titles/{id}; default DIR/catalog of --models)\n"
    "  --artwork-policy P  artwork per title when the catalog has artwork.csv: linucb[:ALPHA]\n"
    "                      (default), lints[:V], egreedy[:EPS], ts, uniform, fixed (the first\n"
    "                      variant) or off; experiments may set \"artwork_policy\" (docs/bandit.md)\n"
    "  --artwork-window S  reward window: a play within S seconds of event time (default 1800)\n"
    "  --artwork-seed N    seed of the artwork decisions (default 1)\n"
    "  --explore-epsilon E each homepage position shows, with probability E, a title from\n"
    "                      outside the page, favouring titles with few impressions (default 0)\n"
    "\n"
    "Slow clients and overload (docs/API.md, Limits):\n"
    "  --header-timeout S  seconds a connection may take to send a request's headers, counted\n"
    "                      from the accept or the previous answer (default 10)\n"
    "  --body-timeout S    seconds to send a request's body after its headers (default 30)\n"
    "  --max-connections-per-ip N\n"
    "                      open connections from one client address (default 256)\n"
    "  --shed-queue-ms MS  answer 503 + Retry-After to a page, recommendations, similar or events\n"
    "                      request that waited longer than MS for a thread; auto (the default):\n"
    "                      250 ms while the queue drains, 5 ms while it stands (CoDel); -1 never\n"
    "  --event-id-window S seconds a client event_id is remembered to drop retries (default 86400)\n"
    "  --clock MODE        what 'now' is: wall (default), event (the latest event time seen) or\n"
    "                      offset (the data's last event is now at start-up, then time runs on;\n"
    "                      for data that ends in the past, as the demo's does); under event,\n"
    "                      experiments follow it and list routes take ?time= (marquee sim)\n"
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
    mq_load_opts lo; mq_load_opts_init(&lo, sizeof lo);
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
        mq_train_opts to; mq_train_opts_init(&to, sizeof to);
        to.params = jobs[j].params; to.n_params = jobs[j].n; to.seed = 42; to.log = &mq_cli_log;
        double t0 = mq_now();
        mq_cli_logf(MQ_CLI_INFO, "serve: training %s on %d members x %d titles (%lld positives)", jobs[j].kind,
                pos->n_members, pos->n_titles, (long long)pos->nnz);
        rc = mq_model_train(jobs[j].kind, j == 2 ? pos : d, &to, &m, err);
        if (rc) goto out;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, jobs[j].file);
        rc = mq_model_save(m, path, err);
        mq_model_destroy(m);
        m = NULL;
        if (rc) goto out;
        mq_cli_logf(MQ_CLI_INFO, "serve: saved %s (%.1f s)", path, mq_now() - t0);
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
        if (!strcmp(v, "auto")) dv = 0;
        else if (mq_cli_parse_double(v, &dv) || !(dv == -1 || (dv >= 1 && dv <= 600000)))
            return mq_cli_usage_error("serve", "%s: '%s' is not auto, -1 or a number of milliseconds in [1, 600000]", a, v), -1;
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

/* The option table: one row per option, in --help order; add a row and a case to extend. */
enum {
    O_PORT = MQ_CLI_OPT, O_BIND, O_DATA, O_MODELS, O_MODEL, O_PARAM, O_STORE, O_EVENTS, O_FSYNC,
    O_KEY_FILE, O_KEYED_READS, O_THREADS, O_MAX_BODY, O_FINISH, O_HALF_LIFE, O_REFRESH,
    O_PORT_FILE, O_PID_FILE, O_LOG_FORMAT, O_EXPERIMENTS, O_EXPOSURES, O_EXPOSURE_LOG,
    O_HEADER_TIMEOUT, O_BODY_TIMEOUT, O_MAX_CONN_PER_IP, O_SHED_QUEUE_MS, O_CLOCK, O_EVENT_ID_WINDOW,
    O_CATALOG, O_ART_POLICY, O_ART_WINDOW, O_ART_SEED, O_EXPLORE,
};
static const struct option serve_opts[] = {
    {"port", required_argument, 0, O_PORT},
    {"bind", required_argument, 0, O_BIND},
    {"data", required_argument, 0, O_DATA},
    {"models", required_argument, 0, O_MODELS},
    {"model", required_argument, 0, O_MODEL},
    {"param", required_argument, 0, O_PARAM},
    {"store", required_argument, 0, O_STORE},
    {"events", required_argument, 0, O_EVENTS},
    {"fsync", required_argument, 0, O_FSYNC},
    {"api-key-file", required_argument, 0, O_KEY_FILE},
    {"keyed-reads", no_argument, 0, O_KEYED_READS},
    {"threads", required_argument, 0, O_THREADS},
    {"max-body", required_argument, 0, O_MAX_BODY},
    {"finish-seconds", required_argument, 0, O_FINISH},
    {"trending-half-life", required_argument, 0, O_HALF_LIFE},
    {"trending-refresh", required_argument, 0, O_REFRESH},
    {"port-file", required_argument, 0, O_PORT_FILE},
    {"pid-file", required_argument, 0, O_PID_FILE},
    {"log-format", required_argument, 0, O_LOG_FORMAT},
    {"experiments", required_argument, 0, O_EXPERIMENTS},
    {"exposures", required_argument, 0, O_EXPOSURES},
    {"exposure-log", required_argument, 0, O_EXPOSURE_LOG},
    {"catalog", required_argument, 0, O_CATALOG},
    {"header-timeout", required_argument, 0, O_HEADER_TIMEOUT},
    {"body-timeout", required_argument, 0, O_BODY_TIMEOUT},
    {"max-connections-per-ip", required_argument, 0, O_MAX_CONN_PER_IP},
    {"shed-queue-ms", required_argument, 0, O_SHED_QUEUE_MS},
    {"clock", required_argument, 0, O_CLOCK},
    {"event-id-window", required_argument, 0, O_EVENT_ID_WINDOW},
    {"artwork-policy", required_argument, 0, O_ART_POLICY},
    {"artwork-window", required_argument, 0, O_ART_WINDOW},
    {"artwork-seed", required_argument, 0, O_ART_SEED},
    {"explore-epsilon", required_argument, 0, O_EXPLORE},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

/* Writes "<n>\n" to path atomically (temp file + rename): a reader sees the whole number or
 * no file. */
static int write_number_file(const char *path, long long n)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    bool ok = fprintf(f, "%lld\n", n) > 0;
    ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

int mq_cli_serve(int argc, char **argv)
{
    const char *cmd = "serve";
    mq_server_opts o; mq_server_opts_init(&o, sizeof o);
    o.port = 8080;
    o.artwork_seed = 1;
    o.exposure_log = 1;
    const char *data = NULL, *models = "out/models", *kind = NULL, *key_file = NULL, *port_file = NULL;
    const char *pid_file = NULL;
    const char *params[32];
    int n_params = 0;
    int c;
    while ((c = mq_cli_getopt(argc, argv, serve_opts)) != -1) {
        const char *v = optarg;
        long long x;
        double dv;
        switch (c) {
        case 'h': fputs(usage_text, stdout); return MQ_EXIT_OK;
        case O_PORT:
            if (mq_cli_parse_i64(v, &x) || x < 0 || x > 65535) return mq_cli_usage_error(cmd, "--port: '%s' is not a port number", v);
            o.port = (int)x;
            break;
        case O_BIND: o.bind = v; break;
        case O_DATA: data = v; break;
        case O_MODELS: models = v; break;
        case O_MODEL:
            if (mq_cli_check_model(cmd, "--model", v)) return MQ_EXIT_USAGE;
            kind = v;
            break;
        case O_PARAM:
            if (n_params == 32) return mq_cli_usage_error(cmd, "too many --param (at most 32)");
            if (!strchr(v, '=')) return mq_cli_usage_error(cmd, "--param '%s': expected NAME=VALUE", v);
            params[n_params++] = v;
            break;
        case O_STORE: o.store = v; break;
        case O_EVENTS: o.events = v; break;
        case O_FSYNC:
            o.fsync = mq_fsync_parse(v);
            if (o.fsync < 0) return mq_cli_usage_error(cmd, "--fsync: '%s' is not group, batch or none", v);
            break;
        case O_KEY_FILE: key_file = v; break;
        case O_KEYED_READS: o.keyed_reads = true; break;
        case O_THREADS:
            if (mq_cli_parse_i64(v, &x) || x < 1 || x > 256) return mq_cli_usage_error(cmd, "--threads: '%s' is not in [1, 256]", v);
            o.threads = (int)x;
            break;
        case O_MAX_BODY:
            if (mq_cli_parse_i64(v, &x) || x < 1024 || x > (1LL << 30)) return mq_cli_usage_error(cmd, "--max-body: '%s' is not in [1024, 2^30]", v);
            o.max_body = (size_t)x;
            break;
        case O_FINISH:
            if (mq_cli_parse_double(v, &dv) || !(dv > 0)) return mq_cli_usage_error(cmd, "--finish-seconds: '%s' is not a positive number", v);
            o.finish_seconds = dv;
            break;
        case O_HALF_LIFE:
            if (mq_cli_parse_double(v, &dv) || !(dv >= 1e-6 && dv <= 1e6)) return mq_cli_usage_error(cmd, "--trending-half-life: '%s' is not a number of days in [1e-6, 1e6]", v);
            o.trending_half_life = dv;
            break;
        case O_REFRESH:
            if (!strcmp(v, "off")) { o.trending_refresh = -1; break; }
            if (mq_cli_parse_double(v, &dv) || !(dv >= 0.01 && dv <= 3600)) return mq_cli_usage_error(cmd, "--trending-refresh: '%s' is not off or a number of seconds in [0.01, 3600]", v);
            o.trending_refresh = dv;
            break;
        case O_PORT_FILE: port_file = v; break;
        case O_PID_FILE: pid_file = v; break;
        case O_LOG_FORMAT:
            if (mq_cli_log_format(cmd, v)) return MQ_EXIT_USAGE;
            break;
        case O_EXPERIMENTS: o.experiments = v; break;
        case O_EXPOSURES: o.exposures = v; break;
        case O_CATALOG: o.catalog = v; break;
        case O_EXPOSURE_LOG:
            if (!strcmp(v, "full")) o.exposure_log = 1;
            else if (!strcmp(v, "summary")) o.exposure_log = 2;
            else if (!strcmp(v, "off")) o.exposure_log = 0;
            else return mq_cli_usage_error(cmd, "--exposure-log: '%s' is not full, summary or off", v);
            break;
        case O_ART_POLICY: {
            mq_art_policy ap; mq_art_policy_init(&ap, sizeof ap);
            mq_err pe = {0, ""};
            if (strcmp(v, "off") && mq_art_policy_parse(v, &ap, &pe))
                return mq_cli_usage_error(cmd, "--artwork-policy: '%s' is not fixed, uniform, egreedy[:EPS], ts, "
                                          "linucb[:ALPHA], lints[:V] or off", v);
            o.artwork_policy = v;
            break;
        }
        case O_ART_WINDOW:
            if (mq_cli_parse_double(v, &dv) || !(dv >= 1 && dv <= 86400 * 30)) return mq_cli_usage_error(cmd, "--artwork-window: '%s' is not a number of seconds in [1, 2592000]", v);
            o.artwork_window = dv;
            break;
        case O_EXPLORE:
            if (mq_cli_parse_double(v, &dv) || !(dv >= 0 && dv <= 1)) return mq_cli_usage_error(cmd, "--explore-epsilon: '%s' is not a probability in [0, 1]", v);
            o.explore_epsilon = dv;
            break;
        case O_ART_SEED:
            if (mq_cli_parse_i64(v, &x) || x < 0) return mq_cli_usage_error(cmd, "--artwork-seed: '%s' is not a non-negative integer", v);
            o.artwork_seed = (uint64_t)x;
            break;
        case O_HEADER_TIMEOUT: case O_BODY_TIMEOUT: case O_MAX_CONN_PER_IP: case O_SHED_QUEUE_MS:
        case O_CLOCK: case O_EVENT_ID_WINDOW: {
            const char *name = "";
            for (const struct option *q = serve_opts; q->name; q++)
                if (q->val == c) { name = q->name; break; }
            char a[64];
            snprintf(a, sizeof a, "--%s", name);
            if (limits_option(a, v, &o) < 0) return MQ_EXIT_USAGE;
            break;
        }
        default: return mq_cli_bad_option(cmd, argv, serve_opts);
        }
    }
    if (optind < argc) return mq_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!data) {
        if (access("data/ml-latest-small", F_OK) != 0)
            return mq_cli_usage_error(cmd, "no --data given and the demo catalog data/ml-latest-small is not here "
                                               "(run from the repository root)");
        data = "data/ml-latest-small";
    }
    mq_err err = {0, ""};
    /* --param names and values for --model, before any data is read (without --model the
     * kind depends on the data's size) */
    mq_train_opts pto; mq_train_opts_init(&pto, sizeof pto);
    pto.params = params; pto.n_params = n_params;
    if (kind && mq_model_check_params(kind, &pto, &err)) return mq_cli_usage_error(cmd, "--param: %s", err.msg);
    char key[512];
    if (key_file) {
        if (read_key(key_file, key, sizeof key, &err)) return mq_cli_fail("serve", &err);
        o.api_key = key;
    }
    char main_path[4200];
    snprintf(main_path, sizeof main_path, "%s/main.mqm", models);
    if (access(main_path, F_OK) != 0) {
        mq_cli_logf(MQ_CLI_INFO, "serve: no models in %s: training them from %s", models, data);
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
    /* The pid file first: whoever waits for the port file then finds the pid file too. */
    if (pid_file && write_number_file(pid_file, (long long)getpid()) != 0) {
        /* Scripts signal the pid in this file: without it, stop rather than run unreachable. */
        snprintf(err.msg, sizeof err.msg, "cannot write --pid-file '%s': %s", pid_file, strerror(errno));
        mq_server_stop(s);
        return mq_cli_fail(cmd, &err);
    }
    if (port_file && write_number_file(port_file, port) != 0)
        mq_cli_logf(MQ_CLI_ERROR, "serve: cannot write --port-file '%s': %s", port_file, strerror(errno));
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            mq_cli_logf(MQ_CLI_INFO, "serve: SIGHUP: reloading models from %s", models);
            if (mq_server_reload(s, &err))
                mq_cli_logf(MQ_CLI_ERROR, "serve: reload failed, the previous model keeps serving: %s", err.msg);
            continue;
        }
        mq_cli_logf(MQ_CLI_INFO, "serve: %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
        break;
    }
    mq_server_stop(s);
    if (pid_file && unlink(pid_file) != 0)
        mq_cli_logf(MQ_CLI_WARN, "serve: cannot remove --pid-file '%s': %s", pid_file, strerror(errno));
    return MQ_EXIT_OK;
}
