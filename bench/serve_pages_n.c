/* serve_pages_n.c: a fixed number of homepages from `marquee serve`, and what they cost the
 * server: C keep-alive connections on loopback, each sending the next request as soon as the
 * previous answer arrives (a closed loop, like wrk), until N pages (200s) are answered; members
 * rotate over 1..MEMBERS in a scrambled order (bench/serve_homepage.lua's). Exactly N requests
 * are sent. Reads the server's utime + stime from /proc/PID/stat just before the first request
 * and just after the N-th answer, so the CPU time is that of exactly those pages (wrk can
 * only run for a duration).
 *
 *   build/bench_serve_pages_n PORT SERVER_PID N [CONNECTIONS [MEMBERS [ROWS PER_ROW]]]
 *
 * Prints one line: "pages seconds pages_per_s server_cpu_ms_per_page non_200 errors".
 * One thread, epoll; a connection the server closes is reopened. Only 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    bool sent;
    char *buf;
    size_t len, cap;
} conn;

static int port, members = 610, rows = 20, per_row = 40;
static long next_req, limit;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* utime + stime of pid in seconds */
static double proc_cpu(int pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');   /* the command name may hold spaces */
    if (!p) return -1;
    unsigned long long ut = 0, st = 0;
    /* fields after ')': 3 state ... 14 utime 15 stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Sends the next request on c, unless all N are sent (then c idles). */
static bool send_req(conn *c)
{
    if (next_req >= limit) { c->sent = true; return true; }
    char req[256];
    long i = ++next_req;
    long m = (i * 7919) % members + 1;
    int n = snprintf(req, sizeof req, "GET /v1/members/%ld/homepage?rows=%d&per_row=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                     m, rows, per_row);
    c->sent = send(c->fd, req, (size_t)n, MSG_NOSIGNAL) == n;
    return c->sent;
}

static void open_conn(int ep, conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    c->sent = false;
    c->len = 0;
    if (c->fd < 0) return;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return;
    }
    struct epoll_event ev = {EPOLLIN | EPOLLOUT | EPOLLRDHUP, {.ptr = c}};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s PORT SERVER_PID N [CONNECTIONS [MEMBERS [ROWS PER_ROW]]]\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]);
    int pid = atoi(argv[2]);
    long want = atol(argv[3]);
    limit = want;
    int n = argc > 4 ? atoi(argv[4]) : 64;
    if (argc > 5) members = atoi(argv[5]);
    if (argc > 7) { rows = atoi(argv[6]); per_row = atoi(argv[7]); }
    if (want < 1 || n < 1 || members < 1) return 2;
    int ep = epoll_create1(0);
    conn *cs = calloc((size_t)n, sizeof *cs);
    double cpu0 = proc_cpu(pid), t0 = now();
    if (cpu0 < 0) { fprintf(stderr, "no process %d\n", pid); return 1; }
    for (int i = 0; i < n; i++) {
        cs[i].cap = 1 << 20;
        cs[i].buf = malloc(cs[i].cap);
        open_conn(ep, &cs[i]);
    }
    long ok = 0, other = 0, errors = 0;
    struct epoll_event evs[512];
    while (ok + other < want && now() - t0 < 600) {
        int k = epoll_wait(ep, evs, 512, 100);
        for (int e = 0; e < k; e++) {
            conn *c = evs[e].data.ptr;
            if (c->fd < 0) continue;
            if ((evs[e].events & EPOLLOUT) && !c->sent) {
                if (!send_req(c)) goto broken;
                struct epoll_event ev = {EPOLLIN | EPOLLRDHUP, {.ptr = c}};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            if (!(evs[e].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) continue;
            bool eof = false;
            for (;;) {
                if (c->len + 65536 > c->cap) c->buf = realloc(c->buf, c->cap *= 2);
                ssize_t got = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
                if (got > 0) { c->len += (size_t)got; continue; }
                if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                eof = true;
                break;
            }
            c->buf[c->len] = 0;
            char *he = strstr(c->buf, "\r\n\r\n");
            if (!he) { if (eof) goto broken; continue; }
            char *cl = strcasestr(c->buf, "\r\nContent-Length:");
            size_t body = cl && cl < he ? (size_t)atol(cl + 17) : 0;
            size_t need = (size_t)(he + 4 - c->buf) + body;
            if (c->len < need) { if (eof) goto broken; continue; }
            if (atoi(c->buf + 9) == 200) ok++;
            else other++;
            bool close_it = eof || strcasestr(c->buf, "\r\nConnection: close") != NULL;
            memmove(c->buf, c->buf + need, c->len - need);
            c->len -= need;
            if (close_it) goto broken_quiet;
            if (!send_req(c)) goto broken;
            continue;
        broken:
            errors++;
        broken_quiet:
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            open_conn(ep, c);
        }
    }
    double el = now() - t0, cpu1 = proc_cpu(pid);
    printf("%ld %.3f %.1f %.4f %ld %ld\n", ok, el, (double)ok / el, (cpu1 - cpu0) * 1e3 / (double)(ok ? ok : 1),
           other, errors);
    return ok == want ? 0 : 1;
}
