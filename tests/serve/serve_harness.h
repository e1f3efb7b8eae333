/* serve_harness.h: what the end-to-end server tests share: start build/marquee serve on a free
 * loopback port (--port 0 --port-file) in its own directory with a small iALS model trained
 * once per test file from the demo catalog, stop it with a signal, and a minimal HTTP/1.1
 * client over a blocking socket (one request per connection, raw requests too). Static
 * functions: each test file that includes it gets its own copy. */
#ifndef MQ_SERVE_HARNESS_H
#define MQ_SERVE_HARNESS_H

#include "../test.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define KEY "test-key-0123456789"

typedef struct server {
    char dir[512];
    int port;
    int pid;
} server;

typedef struct resp {
    int status;
    char *body;
    size_t len;
    char *head;             /* status line and headers */
} resp;

__attribute__((unused)) static void resp_free(resp *r)
{
    free(r->body);
    free(r->head);
    r->body = r->head = NULL;
}

/* Sends req (n bytes) on a fresh connection (stopping early if the server closes it) and reads
 * the answer until the server closes or timeout_s passes. Returns 0 or -1 (connect/IO failure,
 * or no HTTP answer). r->head holds the status line and headers. */
__attribute__((unused)) static int http_raw(int port, const char *req, size_t n, double timeout_s, resp *r)
{
    memset(r, 0, sizeof *r);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {(time_t)timeout_s, (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) break;      /* the server may answer (413, 401) before reading everything */
        off += (size_t)w;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap) buf = realloc(buf, cap *= 2);
        ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = 0;
    char *hdr_end = strstr(buf, "\r\n\r\n");
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || !hdr_end) { free(buf); return -1; }
    r->status = atoi(buf + 9);
    r->len = len - (size_t)(hdr_end + 4 - buf);
    r->body = malloc(r->len + 1);
    memcpy(r->body, hdr_end + 4, r->len);
    r->body[r->len] = 0;
    *hdr_end = 0;
    r->head = strdup(buf);
    free(buf);
    return 0;
}

/* One request on a fresh connection. Returns 0 or -1 (connect/IO failure). */
__attribute__((unused)) static int http(int port, const char *method, const char *path, const char *auth,
                const char *body, resp *r)
{
    size_t bl = body ? strlen(body) : 0;
    char *req = malloc(bl + 1024 + strlen(path));
    int n = sprintf(req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%s"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                    method, path, auth ? "Authorization: Bearer " : "", auth ? auth : "",
                    auth ? "\r\n" : "", bl);
    if (bl) memcpy(req + n, body, bl);
    int rc = http_raw(port, req, (size_t)n + bl, 20, r);
    free(req);
    return rc;
}

/* The value of header name in r (case-insensitive), or NULL; points into r->head. */
__attribute__((unused)) static const char *resp_header(const resp *r, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = r->head; p && *p; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL)
        if (!strncasecmp(p, name, nl) && p[nl] == ':') return p + nl + 1 + (p[nl + 1] == ' ');
    return NULL;
}

__attribute__((unused)) static int read_int_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int v = -1;
    if (fscanf(f, "%d", &v) != 1) v = -1;
    fclose(f);
    return v;
}

/* The models shared by all tests: trained by the first server started. */
static char shared_models[512];

/* Starts a server with its own event log and store in a fresh directory. extra: more flags.
 * Returns 0 once it answers /healthz. */
__attribute__((unused)) static int start_server(server *s, const char *dir, const char *extra)
{
    if (dir) snprintf(s->dir, sizeof s->dir, "%s", dir);
    else snprintf(s->dir, sizeof s->dir, "%s", mq_test_tmpdir());
    if (!shared_models[0]) snprintf(shared_models, sizeof shared_models, "%s", mq_test_cache_dir("serve-models"));
    mq_test_sh("printf '%%s\\n' %s > %s/key", KEY, s->dir);
    unlink(strcat(strcpy((char[600]){0}, s->dir), "/port"));
    int rc = mq_test_sh("%s serve --port 0 --port-file %s/port --models %s --model ials "
                        "--param factors=16 --param epochs=4 --events %s/events --store lmdb:%s/state "
                        "--api-key-file %s/key --threads 2 %s > %s/out.txt 2>> %s/log.txt & echo $! > %s/pid",
                        mq_test_bin(), s->dir, shared_models, s->dir, s->dir, s->dir, extra ? extra : "",
                        s->dir, s->dir, s->dir);
    if (rc) return -1;
    char pf[600], pidf[600];
    snprintf(pf, sizeof pf, "%s/port", s->dir);
    snprintf(pidf, sizeof pidf, "%s/pid", s->dir);
    for (int i = 0; i < 1200; i++) {   /* up to 120 s: the first start trains the models */
        usleep(100000);
        s->pid = read_int_file(pidf);
        if (s->pid > 0 && kill(s->pid, 0) != 0) break;   /* it exited */
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
    mq_test_sh("cat %s/log.txt >&2", s->dir);
    return -1;
}

__attribute__((unused)) static void stop_server(server *s, int sig)
{
    if (s->pid <= 0) return;
    kill(s->pid, sig);
    for (int i = 0; i < 100 && kill(s->pid, 0) == 0; i++) usleep(50000);
    if (kill(s->pid, 0) == 0) kill(s->pid, SIGKILL);
    s->pid = -1;
}

__attribute__((unused)) static cJSON *get_json(int port, const char *path, int *status)
{
    resp r;
    if (http(port, "GET", path, NULL, NULL, &r)) { *status = -1; return NULL; }
    *status = r.status;
    cJSON *j = cJSON_ParseWithLength(r.body, r.len);
    resp_free(&r);
    return j;
}

__attribute__((unused)) static const cJSON *find_row(const cJSON *page, const char *id)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(page, "rows"))
        if (!strcmp(cJSON_GetObjectItem(r, "id")->valuestring, id)) return r;
    return NULL;
}

__attribute__((unused)) static int post(int port, const char *auth, const char *body, resp *r)
{
    return http(port, "POST", "/v1/events", auth, body, r);
}

#endif
