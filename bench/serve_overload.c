/* serve_overload.c: an overload driver for `marquee serve` on loopback: C keep-alive
 * connections, each sending the next homepage request as soon as the previous answer arrives
 * (a closed loop, like wrk), for a fixed time. Unlike wrk it keeps every answer's latency by
 * status, so it can report what the issue asks: the p50/p99 of the answered (200) pages, the
 * share shed with 503, whether each 503 carried Retry-After, and the errors.
 *
 *   build/bench_serve_overload PORT CONNECTIONS SECONDS [PATH]
 *
 * A 503's Retry-After is honoured (that connection waits as told before its next request) as
 * a well-behaved client does; HONOR_RETRY_AFTER=0 makes every connection send again at once.
 *
 * One thread, epoll; a connection the server closes is reopened. Latency is from the request's
 * send to the end of its answer (Content-Length framed). Only 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    double sent;
    double resume;          /* > 0: send the next request at this time (Retry-After) */
    char *buf;
    size_t len, cap;
} conn;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int port;
static const char *path = "/v1/members/1/homepage?rows=5&per_row=10";
static char req[512];
static size_t req_len;

static int open_conn(int ep, conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {EPOLLIN | EPOLLOUT | EPOLLRDHUP, {.ptr = c}};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->sent = 0;
    c->len = 0;
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s PORT CONNECTIONS SECONDS [PATH]\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]);
    int n = atoi(argv[2]);
    double secs = atof(argv[3]);
    if (argc > 4) path = argv[4];
    struct rlimit rl = {(rlim_t)n + 64, (rlim_t)n + 64};
    setrlimit(RLIMIT_NOFILE, &rl);
    req_len = (size_t)snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    int ep = epoll_create1(0);
    conn *cs = calloc((size_t)n, sizeof *cs);
    for (int i = 0; i < n; i++) {
        cs[i].cap = 65536;
        cs[i].buf = malloc(cs[i].cap);
        open_conn(ep, &cs[i]);
    }
    size_t lat_cap = 1 << 20, n_ok = 0;
    double *lat = malloc(lat_cap * sizeof *lat);
    long n503 = 0, n503_retry = 0, other = 0, errors = 0;
    double t0 = now(), end = t0 + secs;
    const char *hv = getenv("HONOR_RETRY_AFTER");
    bool honor = !hv || strcmp(hv, "0") != 0;
    struct epoll_event evs[512];
    double last_scan = t0;
    while (now() < end) {
        int k = epoll_wait(ep, evs, 512, 5);
        double t = now();
        if (t - last_scan > 0.005) {
            last_scan = t;
            for (int i = 0; i < n; i++)
                if (cs[i].resume > 0 && cs[i].resume <= t && cs[i].fd >= 0) {
                    cs[i].resume = 0;
                    if (send(cs[i].fd, req, req_len, MSG_NOSIGNAL) == (ssize_t)req_len) cs[i].sent = now();
                }
        }
        for (int e = 0; e < k; e++) {
            conn *c = evs[e].data.ptr;
            if (c->fd < 0) continue;
            if ((evs[e].events & EPOLLOUT) && c->sent == 0) {
                if (send(c->fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) goto broken;
                c->sent = now();
                struct epoll_event ev = {EPOLLIN | EPOLLRDHUP, {.ptr = c}};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            if (!(evs[e].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) continue;
            bool eof = false;
            for (;;) {
                if (c->len + 4096 > c->cap) c->buf = realloc(c->buf, c->cap *= 2);
                ssize_t got = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
                if (got > 0) { c->len += (size_t)got; continue; }
                if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                eof = true;     /* closed or reset: an answer may still be in the buffer */
                break;
            }
            c->buf[c->len] = 0;
            char *he = strstr(c->buf, "\r\n\r\n");
            if (!he) { if (eof) goto broken; continue; }
            char *cl = strcasestr(c->buf, "\r\nContent-Length:");
            size_t body = cl && cl < he ? (size_t)atol(cl + 17) : 0;
            size_t need = (size_t)(he + 4 - c->buf) + body;
            if (c->len < need) { if (eof) goto broken; continue; }
            double l = now() - c->sent;
            int status = atoi(c->buf + 9);
            if (status == 200) {
                if (n_ok == lat_cap) lat = realloc(lat, (lat_cap *= 2) * sizeof *lat);
                lat[n_ok++] = l;
            } else if (status == 503) {
                n503++;
                char *ra = strcasestr(c->buf, "\r\nRetry-After:");
                n503_retry += ra && ra < he;
                if (honor && ra && ra < he) c->resume = now() + atof(ra + 14);
            } else {
                other++;
            }
            bool close_it = eof || strcasestr(c->buf, "\r\nConnection: close") != NULL;
            memmove(c->buf, c->buf + need, c->len - need);
            c->len -= need;
            if (close_it) goto broken_quiet;
            if (c->resume > 0) continue;
            if (send(c->fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) goto broken;
            c->sent = now();
            continue;
        broken:
            errors++;
        broken_quiet:
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
            open_conn(ep, c);
        }
    }
    double el = now() - t0;
    qsort(lat, n_ok, sizeof *lat, cmp_d);
    double p50 = n_ok ? lat[n_ok / 2] : 0, p99 = n_ok ? lat[(size_t)(0.99 * (double)(n_ok - 1))] : 0;
    long total = (long)n_ok + n503 + other;
    printf("%s connections %d, %.1f s: %ld answers (%.0f/s): 200 %zu (p50 %.1f ms, p99 %.1f ms), "
           "503 %ld (%.1f%%, %ld with Retry-After), other %ld, connection errors %ld\n",
           honor ? "Retry-After honoured," : "Retry-After ignored,", n, el, total, (double)total / el, n_ok, p50 * 1e3, p99 * 1e3, n503,
           total ? 100.0 * (double)n503 / (double)total : 0, n503_retry, other, errors);
    return 0;
}
