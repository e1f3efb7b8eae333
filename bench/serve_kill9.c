/* serve_kill9.c: kill -9 rounds against `marquee serve`: each round starts the server on the
 * same event log and store, streams events from 4 client threads (one POST per event, each
 * value unique), kills the server with SIGKILL mid-stream, restarts it (recovery: torn tail
 * cut, replay into the store) and stops it, then reads the whole log back and counts the
 * acknowledged events that are missing, and checks that the store's applied sequence is the
 * log's last record (every logged event applied once).
 *
 *   build/bench_serve_kill9 MARQUEE MODELS_DIR WORK_DIR [ROUNDS=5] [SECONDS=1.5]
 *
 * Loopback only; the models directory must hold trained models (bench/serve_overload.sh
 * trains the demo's into out/bench/overload/models). */
#include "marquee.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 4
#define MAX_ACKS 200000    /* events per thread per round (values stay < 2^24) */

static int port;
static atomic_int stop;

typedef struct client {
    int id, round;
    int n_acked;
    int *acked;     /* values */
} client;

static int post_event(const char *member, int value)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    char body[128], req[512];
    int bl = snprintf(body, sizeof body, "{\"member\":\"%s\",\"title\":\"2\",\"value\":%d}", member, value);
    int n = snprintf(req, sizeof req, "POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                      "Content-Length: %d\r\n\r\n%s", bl, body);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) { close(fd); return -1; }
    char buf[1024];
    size_t len = 0;
    for (;;) {
        ssize_t got = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (got <= 0) break;
        len += (size_t)got;
        if (len == sizeof buf - 1) break;
    }
    close(fd);
    buf[len] = 0;
    return len > 12 && !strncmp(buf, "HTTP/1.1 200", 12) ? 0 : -1;
}

static void *client_main(void *arg)
{
    client *c = arg;
    char member[32];
    snprintf(member, sizeof member, "k9-%d", c->id);
    for (int i = 0; !atomic_load(&stop) && i < MAX_ACKS; i++) {
        int v = c->round * 200000 + i + 1;      /* < 2^24: exact as a float */
        if (post_event(member, v) == 0) c->acked[c->n_acked++] = v;
    }
    return NULL;
}

static pid_t start_server(const char *mq, const char *models, const char *work)
{
    char portf[1100];
    snprintf(portf, sizeof portf, "%s/port", work);
    unlink(portf);
    fflush(stdout);     /* not written twice by the child */
    pid_t pid = fork();
    if (pid == 0) {
        char ev[1100], st[1100], logf[1100];
        snprintf(ev, sizeof ev, "%s/events", work);
        snprintf(st, sizeof st, "lmdb:%s/state", work);
        snprintf(logf, sizeof logf, "%s/serve.log", work);
        if (!freopen(logf, "a", stderr) || !freopen("/dev/null", "w", stdout)) _exit(127);
        execl(mq, mq, "serve", "--port", "0", "--port-file", portf, "--models", models, "--events", ev,
              "--store", st, "--threads", "2", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) {
        usleep(100000);
        FILE *f = fopen(portf, "r");
        if (f) {
            int p = 0;
            if (fscanf(f, "%d", &p) == 1 && p > 0) port = p;
            fclose(f);
            if (port > 0) return pid;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) return -1;
    }
    kill(pid, SIGKILL);
    return -1;
}

typedef struct found {
    unsigned char *have;    /* [THREADS][rounds * 200000] */
    int64_t per, records;
} found;

static int found_fn(void *user, const mq_event *ev, int n, uint64_t first_seq)
{
    found *f = user;
    for (int i = 0; i < n; i++) {
        f->records++;
        int k;
        if (sscanf(ev[i].member, "k9-%d", &k) != 1 || k < 0 || k >= THREADS) continue;
        int64_t v = (int64_t)ev[i].value;
        if (v > 0 && v <= f->per) f->have[(int64_t)k * f->per + v - 1] = 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s MARQUEE MODELS_DIR WORK_DIR [ROUNDS] [SECONDS]\n", argv[0]);
        return 2;
    }
    const char *mq = argv[1], *models = argv[2], *work = argv[3];
    int rounds = argc > 4 ? atoi(argv[4]) : 5;
    double secs = argc > 5 ? atof(argv[5]) : 1.5;
    char cmd[2300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", work, work);
    if (system(cmd) != 0) return 1;
    client cl[THREADS];
    for (int t = 0; t < THREADS; t++) {
        cl[t].n_acked = 0;
        cl[t].acked = malloc((size_t)rounds * MAX_ACKS * sizeof(int));
    }
    long total_acked = 0, total_lost = 0;
    for (int r = 0; r < rounds; r++) {
        pid_t pid = start_server(mq, models, work);
        if (pid < 0) { fprintf(stderr, "round %d: the server did not start (see %s/serve.log)\n", r + 1, work); return 1; }
        atomic_store(&stop, 0);
        pthread_t th[THREADS];
        int before[THREADS];
        for (int t = 0; t < THREADS; t++) {
            before[t] = cl[t].n_acked;
            cl[t].id = t;
            cl[t].round = r;
            pthread_create(&th[t], NULL, client_main, &cl[t]);
        }
        usleep((useconds_t)(secs * 1e6));
        kill(pid, SIGKILL);                         /* mid-stream */
        waitpid(pid, NULL, 0);
        atomic_store(&stop, 1);
        long acked = 0;
        for (int t = 0; t < THREADS; t++) {
            pthread_join(th[t], NULL);
            acked += cl[t].n_acked - before[t];
        }
        /* restart (recovery), then stop cleanly */
        pid = start_server(mq, models, work);
        if (pid < 0) { fprintf(stderr, "round %d: the server did not restart (see %s/serve.log)\n", r + 1, work); return 1; }
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        found f = {calloc((size_t)THREADS * (size_t)rounds * 200000, 1), (int64_t)rounds * 200000, 0};
        mq_err err;
        char evdir[1100];
        snprintf(evdir, sizeof evdir, "%s/events", work);
        if (mq_evlog_scan(evdir, found_fn, &f, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        long lost = 0;
        for (int t = 0; t < THREADS; t++)
            for (int k = 0; k < cl[t].n_acked; k++)
                lost += !f.have[(int64_t)t * f.per + cl[t].acked[k] - 1];
        /* the store: applied sequence == the log's records */
        char spec[1100], log_id[16];
        snprintf(spec, sizeof spec, "lmdb:%s/state", work);
        mq_evlog_id(evdir, log_id);
        mq_store_opts so; mq_store_opts_init(&so, sizeof so);
        so.log_id = log_id;
        mq_store *st;
        uint64_t applied = 0;
        if (mq_store_open(spec, &so, &st, &err) == 0) {
            mq_store_applied_seq(st, &applied, &err);
            mq_store_close(st);
        }
        total_acked += acked;
        total_lost = lost;
        printf("round %d: %ld events acknowledged before kill -9; log %lld records; acknowledged "
               "and missing (all rounds): %ld; store applied %llu of %lld\n",
               r + 1, acked, (long long)f.records, lost, (unsigned long long)applied, (long long)f.records);
        free(f.have);
    }
    printf("%d rounds: %ld acknowledged, %ld lost\n", rounds, total_acked, total_lost);
    return total_lost ? 1 : 0;
}
