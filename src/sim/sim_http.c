/* sim_http.c: the simulator's HTTP/1.1 client for `marquee sim --server URL` (docs/sim.md).
 *
 * One keep-alive connection per simulator thread (mq__sim_http), blocking sockets, one request
 * at a time: a visit is a GET of the member's homepage then a POST of its events, and the next
 * visit of the member needs the answer of the previous one, so there is nothing to pipeline.
 * Many members are in flight through the threads, each with its own connection.
 *
 * Responses are read by Content-Length or chunked transfer coding; a response that says
 * "Connection: close" closes the socket and the next request reconnects. Failures (connect
 * refused, a reset, the server closing mid-answer, a receive timeout) are MQ_EIO with a
 * message naming the server and the request: the server went away, the run stops. Requests
 * are never retried here (sim.c sends again only what the server shed with 503 "overloaded",
 * which it did not apply), so no event is posted twice.
 *
 * Only plain http:// URLs (host[:port], no path prefix beyond "/"): the simulator talks to a
 * `marquee serve` it was pointed at, usually on the same machine.
 */
#include "marquee.h"
#include "sim/sim.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int mq__sim_http_init(mq__sim_http *h, const char *url, mq_err *err)
{
    memset(h, 0, sizeof *h);
    h->fd = -1;
    mq_buf_init(&h->in);
    const char *p = url;
    if (strncmp(p, "http://", 7)) return mq__err_set(err, MQ_EINVAL, "--server: '%s' is not an http:// URL", url);
    p += 7;
    size_t n = strcspn(p, ":/");
    if (n == 0 || n >= sizeof h->host) return mq__err_set(err, MQ_EINVAL, "--server: '%s' has no host", url);
    memcpy(h->host, p, n);
    h->host[n] = 0;
    p += n;
    snprintf(h->port, sizeof h->port, "80");
    if (*p == ':') {
        p++;
        size_t k = strspn(p, "0123456789");
        long port = k > 0 && k < 6 ? strtol(p, NULL, 10) : 0;
        if (port < 1 || port > 65535) return mq__err_set(err, MQ_EINVAL, "--server: '%s' has no valid port", url);
        snprintf(h->port, sizeof h->port, "%ld", port);
        p += k;
    }
    if (*p && strcmp(p, "/")) return mq__err_set(err, MQ_EINVAL, "--server: '%s': give the server's root URL (http://HOST:PORT)", url);
    return 0;
}

void mq__sim_http_release(mq__sim_http *h)
{
    if (h->fd >= 0) close(h->fd);
    h->fd = -1;
    mq_buf_release(&h->in);
}

static int gone(mq__sim_http *h, const char *what, const char *path, mq_err *err)
{
    int e = errno;
    if (h->fd >= 0) close(h->fd);
    h->fd = -1;
    return mq__err_set(err, MQ_EIO, "the server at http://%s:%s went away (%s%s%s, %s)", h->host, h->port, what,
                       e ? ": " : "", e ? strerror(e) : "", path);
}

static int dial(mq__sim_http *h, const char *path, mq_err *err)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(h->host, h->port, &hints, &ai);
    if (g) return mq__err_set(err, MQ_EIO, "--server: cannot resolve '%s': %s", h->host, gai_strerror(g));
    int fd = -1;
    errno = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) { close(fd); fd = -1; }
    }
    freeaddrinfo(ai);
    if (fd < 0) return gone(h, "cannot connect", path, err);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {120, 0};   /* a server that stops answering is gone too */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    h->fd = fd;
    return 0;
}

/* Reads more bytes into h->in (kept NUL-terminated); 0, or MQ_EIO when the connection ended. */
static int fill(mq__sim_http *h, const char *path, mq_err *err)
{
    if (h->in.cap - h->in.len < 65536) {
        size_t cap = MQ_MAX(2 * h->in.cap, h->in.len + 65536);
        char *p = realloc(h->in.p, cap);
        if (!p) return mq__err_set(err, MQ_ENOMEM, "out of memory");
        h->in.p = p;
        h->in.cap = cap;
    }
    for (;;) {
        errno = 0;
        ssize_t got = recv(h->fd, h->in.p + h->in.len, h->in.cap - h->in.len - 1, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return gone(h, got == 0 ? "it closed the connection" : "receive failed", path, err);
        h->in.len += (size_t)got;
        h->in.p[h->in.len] = 0;
        return 0;
    }
}

/* The value of header name in head (the status line and headers, NUL-terminated), or NULL. */
static const char *header(const char *head, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l; l = strstr(l, "\r\n")) {
        l += 2;
        if (!strncasecmp(l, name, n) && l[n] == ':') {
            l += n + 1;
            while (*l == ' ' || *l == '\t') l++;
            return l;
        }
    }
    return NULL;
}

int mq__sim_http_request(mq__sim_http *h, const char *method, const char *path, const char *body, size_t blen,
                         int *status, mq_buf *out, mq_err *err)
{
    mq_buf_reset(out);
    *status = 0;
    if (h->fd < 0 && dial(h, path, err)) return MQ_EIO;
    char head[1024];
    int hn = body ? snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                                                "Content-Length: %zu\r\n\r\n", method, path, h->host, h->port, blen)
                  : snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: %s:%s\r\n\r\n", method, path, h->host, h->port);
    if (hn < 0 || hn >= (int)sizeof head) return mq__err_set(err, MQ_EINVAL, "sim: request path too long: %.80s", path);
    struct iovec iov[2] = {{head, (size_t)hn}, {(void *)body, body ? blen : 0}};
    size_t total = (size_t)hn + (body ? blen : 0), sent = 0;
    while (sent < total) {
        struct msghdr mh = {0};
        struct iovec v[2];
        int nv = 0;
        size_t skip = sent;
        for (int k = 0; k < 2; k++) {
            if (skip >= iov[k].iov_len) { skip -= iov[k].iov_len; continue; }
            v[nv].iov_base = (char *)iov[k].iov_base + skip;
            v[nv].iov_len = iov[k].iov_len - skip;
            skip = 0;
            nv++;
        }
        mh.msg_iov = v;
        mh.msg_iovlen = (size_t)nv;
        errno = 0;
        ssize_t w = sendmsg(h->fd, &mh, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return gone(h, "send failed", path, err);
        sent += (size_t)w;
    }
    /* the status line and headers */
    h->in.len = 0;
    if (fill(h, path, err)) return MQ_EIO;
    char *end;
    while (!(end = strstr(h->in.p, "\r\n\r\n")))
        if (fill(h, path, err)) return MQ_EIO;
    *end = 0;
    size_t off = (size_t)(end + 4 - h->in.p);
    if (strncmp(h->in.p, "HTTP/1.", 7) || h->in.len < 12) {
        close(h->fd);
        h->fd = -1;
        return mq__err_set(err, MQ_EIO, "the server at http://%s:%s answered %s without an HTTP status line", h->host, h->port, path);
    }
    *status = atoi(h->in.p + 9);
    const char *cl = header(h->in.p, "Content-Length"), *te = header(h->in.p, "Transfer-Encoding"),
               *cn = header(h->in.p, "Connection");
    bool close_after = cn && !strncasecmp(cn, "close", 5);
    bool chunked = te && !strncasecmp(te, "chunked", 7);
    if (chunked) {
        for (;;) {
            char *nl;
            while (!(nl = strstr(h->in.p + off, "\r\n")))
                if (fill(h, path, err)) return MQ_EIO;
            size_t n = strtoul(h->in.p + off, NULL, 16);
            off = (size_t)(nl + 2 - h->in.p);
            while (h->in.len < off + n + 2)
                if (fill(h, path, err)) return MQ_EIO;
            if (n == 0) break;
            mq_buf_put(out, h->in.p + off, n);
            off += n + 2;
        }
    } else if (cl) {
        size_t n = strtoul(cl, NULL, 10);
        while (h->in.len < off + n)
            if (fill(h, path, err)) return MQ_EIO;
        mq_buf_put(out, h->in.p + off, n);
    } else {
        /* no length: the body runs to the close */
        for (;;) {
            size_t had = h->in.len;
            if (fill(h, path, err)) { *err = (mq_err){0, ""}; break; }
            if (h->in.len == had) break;
        }
        mq_buf_put(out, h->in.p + off, h->in.len - off);
        close_after = true;
    }
    if (close_after && h->fd >= 0) { close(h->fd); h->fd = -1; }
    mq_buf_cstr(out);
    return out->oom ? mq__err_set(err, MQ_ENOMEM, "out of memory") : 0;
}
