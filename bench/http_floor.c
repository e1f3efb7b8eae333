/* http_floor.c: the HTTP floor of this machine for a response of a given size.
 *
 * A libmicrohttpd server configured exactly as `marquee serve` configures its own (internal
 * epoll threads, a pool of THREADS, keep-alive) that does no work per request beyond copying a
 * prepared body into a fresh buffer handed to libmicrohttpd with a free callback, which is what
 * the homepage route does with its JSON. GET /healthz answers a 16-byte body; any other path
 * answers BYTES bytes. Serving the same BYTES as a full homepage page under wrk tells how fast
 * pages could go if building them cost nothing: the ceiling that the page rate is measured
 * against (bench/serve_floor.sh).
 *
 * Usage: build/bench_http_floor PORT BYTES [THREADS]   (runs until killed)
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *body;
static size_t body_len;

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_len, void **state)
{
    (void)cls; (void)method; (void)version; (void)upload; (void)upload_len;
    if (!*state) { *state = (void *)1; return MHD_YES; }    /* as the server: answer on the 2nd call */
    struct MHD_Response *r;
    if (!strcmp(url, "/healthz")) {
        r = MHD_create_response_from_buffer(16, (void *)"{\"status\":\"ok\"}\n", MHD_RESPMEM_PERSISTENT);
    } else {
        char *copy = malloc(body_len);
        if (!copy) return MHD_NO;
        memcpy(copy, body, body_len);
        r = MHD_create_response_from_buffer_with_free_callback(body_len, copy, free);
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: %s PORT BYTES [THREADS]\n", argv[0]); return 2; }
    int port = atoi(argv[1]);
    body_len = (size_t)atol(argv[2]);
    unsigned threads = argc > 3 ? (unsigned)atoi(argv[3]) : 2;
    body = malloc(body_len + 1);
    for (size_t i = 0; i < body_len; i++) body[i] = "{\"id\":\"1234\",\"name\":\"x\"},"[i % 25];
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, (uint16_t)port,
        NULL, NULL, handler, NULL, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!d) { fprintf(stderr, "http_floor: cannot listen on port %d\n", port); return 1; }
    fprintf(stderr, "http_floor: port %d, %zu-byte bodies, %u threads\n", port, body_len, threads);
    for (;;) pause();
}
