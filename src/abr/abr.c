/* abr.c: the ABR simulator, trace and chunk-size loaders, QoE, the algorithm registry and the
 * across-trace summaries.
 *
 * Simulator (Pensieve's test simulator, fixed_env.py, reproduced operation for operation so
 * that floating-point results agree bit for bit; Mao et al., SIGCOMM 2017):
 *   - the network is the trace: sample i delivers mbps[i] * 1e6 / 8 bytes/s during
 *     (time[i-1], time[i]]; a pointer `ptr` and the time already consumed `last_t` walk it.
 *     The pointer starts at sample 1 with last_t = time[0]; past the last sample it wraps to
 *     ptr = 1, last_t = 0.
 *   - downloading S bytes: whole samples are consumed while sent + thr * dur * 0.95 <= S, then
 *     the fraction (S - sent) / thr / 0.95 of the next one; delay = that time * 1000 (ms),
 *     optionally * U(noise_lo, noise_hi), + RTT (80 ms).
 *   - rebuffer = max(delay - buffer, 0); buffer = max(buffer - delay, 0) + chunk (4000 ms).
 *   - when buffer > cap (60 s): sleep = ceil((buffer - cap) / 500) * 500 ms, buffer -= sleep,
 *     and the trace pointer advances by the sleep (no bytes are delivered).
 *   - chunk 0 is fetched at the start level (1 = 750 kbit/s) with an empty buffer; the
 *     algorithm picks chunk n+1 after seeing chunk n.
 *   Options beyond Pensieve: a startup threshold (no playback, hence no draining or stalls,
 *   until the buffer holds that much video; the time until then is the startup delay), random
 *   trace start (ptr uniform in [1, n)), multiplicative noise on download time, any ladder.
 * QoE (Pensieve / Yin et al., SIGCOMM 2015): sum over chunks of q(R_n) - mu T_n - |q(R_n) -
 * q(R_{n-1})|; the reported per-trace figure is the total over chunks 1..N-1.
 * Confidence intervals: mean +- t_{0.975, n-1} s / sqrt(n).
 *
 * Data: traces and videos are plain arrays (see marquee/abr.h).  Nothing here is global or
 * mutable; mq_abr_run allocates its own algorithm state, so concurrent runs are safe. */
#include "abr/abr.h"
#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const double mq_abr_pensieve_ladder_kbps[6] = {300, 750, 1200, 1850, 2850, 4300};

/* ---- registry: one line per algorithm ---- */
extern const mq__abr_algo mq__abr_algo_bb;
extern const mq__abr_algo mq__abr_algo_rb;
extern const mq__abr_algo mq__abr_algo_bola;
extern const mq__abr_algo mq__abr_algo_dynamic;
extern const mq__abr_algo mq__abr_algo_mpc;
extern const mq__abr_algo mq__abr_algo_robustmpc;
extern const mq__abr_algo mq__abr_algo_robustmpc_fixed;
extern const mq__abr_algo mq__abr_algo_reservempc;

static const mq__abr_algo *const algos[] = {
    &mq__abr_algo_bb,  &mq__abr_algo_rb,        &mq__abr_algo_bola,
    &mq__abr_algo_dynamic, &mq__abr_algo_mpc,   &mq__abr_algo_robustmpc,
    &mq__abr_algo_robustmpc_fixed, &mq__abr_algo_reservempc,
};
#define N_ALGOS ((int)(sizeof algos / sizeof algos[0]))

int mq_abr_algo_count(void) { return N_ALGOS; }
const char *mq_abr_algo_name(int i) { return i >= 0 && i < N_ALGOS ? algos[i]->name : NULL; }
const char *mq_abr_algo_summary(int i) { return i >= 0 && i < N_ALGOS ? algos[i]->summary : NULL; }
int mq_abr_algo_find(const char *name)
{
    for (int i = 0; i < N_ALGOS; i++)
        if (strcmp(algos[i]->name, name) == 0) return i;
    return -1;
}

/* ---- small shared helpers ---- */

double mq__abr_harmonic(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += 1 / x[i];
    return 1.0 / (s / n);
}

int mq__abr_level_for_kbps(const mq_abr_video *v, double kbps)
{
    int l = 0;
    for (int i = 0; i < v->n_levels; i++)
        if (v->bitrate_kbps[i] <= kbps) l = i;
    return l;
}

double mq__abr_size(const mq_abr_video *v, int level, int index)
{
    if (index < 0 || index >= v->n_sizes) return 0;
    return v->sizes[(size_t)level * (size_t)v->n_sizes + (size_t)index];
}

/* ---- line reading over a mapped file ---- */

typedef struct lines {
    const char *p, *end;
    long lineno;
    char buf[1024];
} lines;

/* Next line into l->buf (without the newline); 1 = got one, 0 = end, -1 = too long. */
static int next_line(lines *l)
{
    if (l->p >= l->end) return 0;
    const char *nl = memchr(l->p, '\n', (size_t)(l->end - l->p));
    const char *e = nl ? nl : l->end;
    size_t n = (size_t)(e - l->p);
    l->lineno++;
    if (n >= sizeof l->buf) return -1;
    memcpy(l->buf, l->p, n);
    if (n && l->buf[n - 1] == '\r') n--;
    l->buf[n] = 0;
    l->p = nl ? nl + 1 : l->end;
    return 1;
}

static int blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
}

/* Parses the next whitespace-separated token of *s as a finite double. 1 ok, 0 missing,
 * -1 not a number (tok receives the token). */
static int next_num(char **s, double *x, char *tok, size_t toksz)
{
    char *p = *s;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) return 0;
    char *q = p;
    while (*q && *q != ' ' && *q != '\t') q++;
    size_t n = (size_t)(q - p);
    snprintf(tok, toksz, "%.*s", (int)(n < 60 ? n : 60), p);
    *s = q;
    return mq__parse_f64(p, n, x) ? 1 : -1;   /* core's decimal parser: finite only */
}

/* ---- traces ---- */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int mq_abr_trace_parse(mq_abr_trace *t, const char *where, const char *text, size_t len,
                       mq_err *err)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", base_name(where));
    lines L = {text, len ? text + len : text, 0, {0}};   /* an empty file maps to NULL */
    int cap = 0, r;
    char tok[64];
    while ((r = next_line(&L)) != 0) {
        if (r < 0) {
            mq_abr_trace_release(t);
            return mq__err_set(err, MQ_EFORMAT, "%s:%ld: line longer than %zu bytes", where,
                               L.lineno, sizeof L.buf - 1);
        }
        if (blank(L.buf)) continue;
        char *s = L.buf;
        double v[2];
        for (int c = 0; c < 2; c++) {
            int k = next_num(&s, &v[c], tok, sizeof tok);
            const char *col = c == 0 ? "time" : "throughput";
            if (k == 0) {
                mq_abr_trace_release(t);
                return mq__err_set(err, MQ_EFORMAT,
                                   "%s:%ld: missing %s column (expected 'time_s throughput_mbps')",
                                   where, L.lineno, col);
            }
            if (k < 0) {
                mq_abr_trace_release(t);
                return mq__err_set(err, MQ_EFORMAT, "%s:%ld: %s '%s' is not a finite number",
                                   where, L.lineno, col, tok);
            }
        }
        if (v[0] < 0 || v[1] < 0) {
            mq_abr_trace_release(t);
            return mq__err_set(err, MQ_EFORMAT, "%s:%ld: negative %s %g", where, L.lineno,
                               v[0] < 0 ? "time" : "throughput", v[0] < 0 ? v[0] : v[1]);
        }
        if (t->n > 0 && !(v[0] > t->time_s[t->n - 1])) {
            double prev = t->time_s[t->n - 1];
            mq_abr_trace_release(t);
            return mq__err_set(err, MQ_EFORMAT,
                               "%s:%ld: time %.17g does not increase (previous sample %.17g)",
                               where, L.lineno, v[0], prev);
        }
        if (t->n == cap) {
            int nc = cap ? cap * 2 : 256;
            double *a = realloc(t->time_s, (size_t)nc * sizeof *a);
            if (!a) { mq_abr_trace_release(t); return mq__err_set(err, MQ_ENOMEM, "%s: out of memory", where); }
            t->time_s = a;
            double *b = realloc(t->mbps, (size_t)nc * sizeof *b);
            if (!b) { mq_abr_trace_release(t); return mq__err_set(err, MQ_ENOMEM, "%s: out of memory", where); }
            t->mbps = b;
            cap = nc;
        }
        t->time_s[t->n] = v[0];
        t->mbps[t->n] = v[1];
        t->n++;
    }
    if (t->n == 0) {
        mq_abr_trace_release(t);
        return mq__err_set(err, MQ_EFORMAT, "%s: empty trace (no samples)", where);
    }
    if (t->n < 2) {
        mq_abr_trace_release(t);
        return mq__err_set(err, MQ_EFORMAT, "%s: a trace needs at least 2 samples, found 1", where);
    }
    int pos = 0;
    for (int i = 1; i < t->n; i++) pos |= t->mbps[i] > 0;
    if (!pos) {
        mq_abr_trace_release(t);
        return mq__err_set(err, MQ_EFORMAT,
                           "%s: every throughput after the first sample is 0: nothing could "
                           "ever be downloaded", where);
    }
    return 0;
}

int mq_abr_trace_load(mq_abr_trace *t, const char *path, mq_err *err)
{
    const void *data;
    size_t len;
    memset(t, 0, sizeof *t);
    int rc = mq__file_map(path, &data, &len, err);
    if (rc) return rc;
    rc = mq_abr_trace_parse(t, path, data, len, err);
    if (data) mq__file_unmap(data, len);
    return rc;
}

void mq_abr_trace_release(mq_abr_trace *t)
{
    if (!t) return;
    free(t->time_s);
    free(t->mbps);
    t->time_s = t->mbps = NULL;
    t->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int mq_abr_traces_load_dir(const char *dir, mq_abr_trace **traces, int *n, mq_err *err)
{
    *traces = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return mq__err_set(err, errno == ENOENT ? MQ_ENOTFOUND : MQ_EIO, "%s: %s", dir,
                           strerror(errno));
    char **names = NULL;
    int nn = 0, cap = 0, rc = 0;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (nn == cap) {
            cap = cap ? cap * 2 : 64;
            char **nb = realloc(names, (size_t)cap * sizeof *nb);
            if (!nb) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
            names = nb;
        }
        if (!(names[nn] = strdup(e->d_name))) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
        nn++;
    }
    if (nn == 0) {
        rc = mq__err_set(err, MQ_ENOTFOUND, "%s: no trace files in directory", dir);
        goto fail;
    }
    qsort(names, (size_t)nn, sizeof *names, cmp_str);
    mq_abr_trace *t = calloc((size_t)nn, sizeof *t);
    if (!t) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
    for (int i = 0; i < nn; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        rc = mq_abr_trace_load(&t[i], path, err);
        if (rc) { mq_abr_traces_free(t, i); goto fail; }
    }
    *traces = t;
    *n = nn;
fail:
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

void mq_abr_traces_free(mq_abr_trace *traces, int n)
{
    if (!traces) return;
    for (int i = 0; i < n; i++) mq_abr_trace_release(&traces[i]);
    free(traces);
}

/* ---- video ---- */

static int check_ladder(const double *ladder, int n_levels, mq_err *err)
{
    if (n_levels < 1 || n_levels > MQ_ABR_MAX_LEVELS)
        return mq__err_set(err, MQ_EINVAL, "ladder: %d levels, expected 1..%d", n_levels,
                           MQ_ABR_MAX_LEVELS);
    for (int i = 0; i < n_levels; i++) {
        if (!(ladder[i] > 0) || !isfinite(ladder[i]))
            return mq__err_set(err, MQ_EINVAL, "ladder: level %d bitrate %g kbit/s is not positive", i, ladder[i]);
        if (i && !(ladder[i] > ladder[i - 1]))
            return mq__err_set(err, MQ_EINVAL, "ladder: bitrates must increase (level %d: %g after %g)",
                               i, ladder[i], ladder[i - 1]);
    }
    return 0;
}

int mq_abr_video_init(mq_abr_video *v, const double *ladder, int n_levels, int n_chunks,
                      int n_sizes, double chunk_s, const double *sizes, mq_err *err)
{
    memset(v, 0, sizeof *v);
    int rc = check_ladder(ladder, n_levels, err);
    if (rc) return rc;
    if (n_chunks < 1 || n_sizes < n_chunks)
        return mq__err_set(err, MQ_EINVAL, "video: %d chunks to play but %d sizes per level",
                           n_chunks, n_sizes);
    if (!(chunk_s > 0 && chunk_s <= MQ_ABR_MAX_CHUNK_S))
        return mq__err_set(err, MQ_EINVAL, "video: chunk length %g s is not in (0, %g]", chunk_s,
                           (double)MQ_ABR_MAX_CHUNK_S);
    for (size_t i = 0; i < (size_t)n_levels * (size_t)n_sizes; i++)
        if (!(sizes[i] > 0) || !isfinite(sizes[i]))
            return mq__err_set(err, MQ_EINVAL, "video: level %zu chunk %zu size %g is not positive",
                               i / (size_t)n_sizes, i % (size_t)n_sizes, sizes[i]);
    v->sizes = malloc((size_t)n_levels * (size_t)n_sizes * sizeof *v->sizes);
    if (!v->sizes) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    memcpy(v->sizes, sizes, (size_t)n_levels * (size_t)n_sizes * sizeof *v->sizes);
    memcpy(v->bitrate_kbps, ladder, (size_t)n_levels * sizeof *ladder);
    v->n_levels = n_levels;
    v->n_chunks = n_chunks;
    v->n_sizes = n_sizes;
    v->chunk_s = chunk_s;
    return 0;
}

/* Reads one size file into a growable array. */
static int read_sizes(const char *path, double **out, int *n, mq_err *err)
{
    const void *data;
    size_t len;
    *out = NULL;
    *n = 0;
    int rc = mq__file_map(path, &data, &len, err);
    if (rc) return rc;
    lines L = {data, len ? (const char *)data + len : data, 0, {0}};   /* empty: NULL, 0 */
    int cap = 0, r;
    char tok[64];
    while ((r = next_line(&L)) != 0) {
        if (r < 0) { rc = mq__err_set(err, MQ_EFORMAT, "%s:%ld: line too long", path, L.lineno); goto fail; }
        if (blank(L.buf)) continue;
        char *s = L.buf;
        double x;
        int k = next_num(&s, &x, tok, sizeof tok);
        if (k < 0 || (k > 0 && (x != floor(x)))) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s:%ld: chunk size '%s' is not an integer byte count",
                             path, L.lineno, tok);
            goto fail;
        }
        if (!(x > 0)) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s:%ld: chunk size %s must be positive", path,
                             L.lineno, tok);
            goto fail;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            double *nb = realloc(*out, (size_t)cap * sizeof *nb);
            if (!nb) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto fail; }
            *out = nb;
        }
        (*out)[(*n)++] = x;
    }
    if (*n == 0) { rc = mq__err_set(err, MQ_EFORMAT, "%s: empty chunk-size file", path); goto fail; }
    if (data) mq__file_unmap(data, len);
    return 0;
fail:
    if (data) mq__file_unmap(data, len);
    free(*out);
    *out = NULL;
    *n = 0;
    return rc;
}

int mq_abr_video_load(mq_abr_video *v, const char *dir, const double *ladder, int n_levels,
                      int n_chunks, double chunk_s, mq_err *err)
{
    memset(v, 0, sizeof *v);
    if (!ladder) { ladder = mq_abr_pensieve_ladder_kbps; n_levels = 6; }
    if (n_chunks <= 0) n_chunks = 48;
    if (chunk_s <= 0) chunk_s = 4.0;
    int rc = check_ladder(ladder, n_levels, err);
    if (rc) return rc;
    double *all = NULL, *one[MQ_ABR_MAX_LEVELS] = {0};
    int cnt[MQ_ABR_MAX_LEVELS] = {0};
    char path[4096];
    for (int l = 0; l < n_levels; l++) {
        snprintf(path, sizeof path, "%s/video_size_%d", dir, l);
        rc = read_sizes(path, &one[l], &cnt[l], err);
        if (rc) goto done;
        if (cnt[l] < n_chunks) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s: %d chunk sizes, but %d chunks are played",
                             path, cnt[l], n_chunks);
            goto done;
        }
        if (cnt[l] != cnt[0]) {
            rc = mq__err_set(err, MQ_EFORMAT, "%s: %d chunk sizes, but video_size_0 has %d",
                             path, cnt[l], cnt[0]);
            goto done;
        }
    }
    all = malloc((size_t)n_levels * (size_t)cnt[0] * sizeof *all);
    if (!all) { rc = mq__err_set(err, MQ_ENOMEM, "out of memory"); goto done; }
    for (int l = 0; l < n_levels; l++)
        memcpy(all + (size_t)l * (size_t)cnt[0], one[l], (size_t)cnt[0] * sizeof *all);
    rc = mq_abr_video_init(v, ladder, n_levels, n_chunks, cnt[0], chunk_s, all, err);
done:
    for (int l = 0; l < n_levels; l++) free(one[l]);
    free(all);
    return rc;
}

void mq_abr_video_release(mq_abr_video *v)
{
    if (!v) return;
    free(v->sizes);
    v->sizes = NULL;
}

/* ---- QoE ---- */

int mq_abr_qoe_parse(const char *s, mq_abr_qoe_kind *kind, mq_err *err)
{
    if (!strcmp(s, "lin")) *kind = MQ_ABR_QOE_LIN;
    else if (!strcmp(s, "log")) *kind = MQ_ABR_QOE_LOG;
    else if (!strcmp(s, "hd")) *kind = MQ_ABR_QOE_HD;
    else return mq__err_set(err, MQ_EINVAL, "qoe: '%s' is not lin, log or hd", s);
    return 0;
}

const char *mq_abr_qoe_name(mq_abr_qoe_kind kind)
{
    return kind == MQ_ABR_QOE_LOG ? "log" : kind == MQ_ABR_QOE_HD ? "hd" : "lin";
}

int mq_abr_qoe_init(mq_abr_qoe *q, mq_abr_qoe_kind kind, const mq_abr_video *v, mq_err *err)
{
    static const double hd[6] = {1, 2, 3, 12, 15, 20};
    memset(q, 0, sizeof *q);
    q->kind = kind;
    switch (kind) {
    case MQ_ABR_QOE_LIN:
        q->mu = 4.3;
        q->scale = 1000;
        for (int i = 0; i < v->n_levels; i++) q->units[i] = v->bitrate_kbps[i];
        return 0;
    case MQ_ABR_QOE_LOG:
        q->mu = 2.66;
        q->scale = 1;
        for (int i = 0; i < v->n_levels; i++)
            q->units[i] = log(v->bitrate_kbps[i] / v->bitrate_kbps[0]);
        return 0;
    case MQ_ABR_QOE_HD:
        if (v->n_levels != 6)
            return mq__err_set(err, MQ_EINVAL, "qoe hd: defined for the 6-level Pensieve ladder, video has %d levels",
                               v->n_levels);
        for (int i = 0; i < 6; i++)
            if (v->bitrate_kbps[i] != mq_abr_pensieve_ladder_kbps[i])
                return mq__err_set(err, MQ_EINVAL, "qoe hd: defined for the Pensieve ladder 300..4300 kbit/s, level %d is %g",
                                   i, v->bitrate_kbps[i]);
        q->mu = 8;
        q->scale = 1;
        for (int i = 0; i < 6; i++) q->units[i] = hd[i];
        return 0;
    }
    return mq__err_set(err, MQ_EINVAL, "qoe: unknown kind %d", (int)kind);
}

double mq_abr_qoe_q(const mq_abr_qoe *q, int level) { return q->units[level] / q->scale; }

double mq_abr_qoe_chunk(const mq_abr_qoe *q, int level, int prev, double rebuf_s)
{
    /* Pensieve: R/1000 - 4.3 * rebuf - 1 * |R - R_prev| / 1000, in this order. */
    return q->units[level] / q->scale - q->mu * rebuf_s -
           fabs(q->units[level] - q->units[prev]) / q->scale;
}

/* ---- simulator ---- */

void mq_abr_opts_init(mq_abr_opts *o, size_t size)
{
    mq_abr_opts d;
    memset(&d, 0, sizeof d);
    d.payload_factor = 0.95;
    d.rtt_ms = 80;
    d.buffer_cap_s = 60;
    d.sleep_step_ms = 500;
    d.start_level = 1;
    d.startup_threshold_s = 0;
    d.random_start = 0;
    d.noise_lo = d.noise_hi = 1;
    d.seed = 42;
    mq__opts_fill(o, size, &d, sizeof d);   /* struct_size: src/core/opts.c */
}

int mq_abr_opts_check(const mq_abr_opts *o, mq_err *err)
{
    mq_abr_opts ov; int orc = MQ__OPTS_GET(mq_abr_opts, &ov, o, err); if (orc) return orc; o = &ov;
    if (!(o->payload_factor > 0 && o->payload_factor <= 1))
        return mq__err_set(err, MQ_EINVAL, "payload_factor %g: expected (0, 1]", o->payload_factor);
    /* Upper bounds of a day keep every sum over a session finite (no inf/NaN in reports). */
    if (!(o->rtt_ms >= 0 && o->rtt_ms <= 86400e3))
        return mq__err_set(err, MQ_EINVAL, "rtt_ms %g: expected in [0, 86400000]", o->rtt_ms);
    if (!(o->buffer_cap_s > 0 && o->buffer_cap_s <= 86400))
        return mq__err_set(err, MQ_EINVAL, "buffer_cap_s %g: expected in (0, 86400]", o->buffer_cap_s);
    if (!(o->sleep_step_ms > 0 && o->sleep_step_ms <= 86400e3))
        return mq__err_set(err, MQ_EINVAL, "sleep_step_ms %g: expected > 0", o->sleep_step_ms);
    if (!(o->startup_threshold_s >= 0 && o->startup_threshold_s <= o->buffer_cap_s))
        return mq__err_set(err, MQ_EINVAL, "startup_threshold_s %g: expected in [0, buffer cap %g]",
                           o->startup_threshold_s, o->buffer_cap_s);
    if (!(o->noise_lo > 0 && o->noise_hi >= o->noise_lo && isfinite(o->noise_hi)))
        return mq__err_set(err, MQ_EINVAL, "noise %g,%g: expected 0 < lo <= hi", o->noise_lo, o->noise_hi);
    return 0;
}

typedef struct net {
    const mq_abr_trace *t;
    int ptr;
    double last_t;
} net;

/* A chunk that would take longer than this is refused instead of looping (almost) forever on a
 * trace whose throughput is nearly all zero. */
#define MAX_DOWNLOAD_S 86400.0
/* Trace samples one download or one sleep may walk through before the session is refused: a
 * valid trace whose samples are nanoseconds apart would otherwise loop for hours. A day of 1 ms
 * samples is 8.64e7 steps. */
#define MAX_STEPS 100000000L

/* Seconds to deliver `size` bytes (fixed_env.py get_video_chunk's first loop); -1 beyond
 * MAX_DOWNLOAD_S, -2 beyond MAX_STEPS trace samples. */
static double download(net *n, double size, double pf)
{
    const double *tm = n->t->time_s, *bw = n->t->mbps;
    double delay = 0.0, sent = 0.0;
    for (long step = 0;; step++) {
        if (delay > MAX_DOWNLOAD_S) return -1;
        if (step > MAX_STEPS) return -2;
        double thr = bw[n->ptr] * 1000000.0 / 8.0;
        double dur = tm[n->ptr] - n->last_t;
        double payload = thr * dur * pf;
        if (sent + payload > size) {
            double frac = (size - sent) / thr / pf;
            delay += frac;
            n->last_t += frac;
            return delay;
        }
        sent += payload;
        delay += dur;
        n->last_t = tm[n->ptr];
        if (++n->ptr >= n->t->n) {
            n->ptr = 1;
            n->last_t = 0;
        }
    }
}

/* Advances the trace by sleep_ms without delivering bytes (fixed_env.py's second loop);
 * -1 beyond MAX_STEPS trace samples, else 0. */
static int skip(net *n, double sleep_ms)
{
    const double *tm = n->t->time_s;
    for (long step = 0;; step++) {
        if (step > MAX_STEPS) return -1;
        double dur = tm[n->ptr] - n->last_t;
        if (dur > sleep_ms / 1000.0) {
            n->last_t += sleep_ms / 1000.0;
            return 0;
        }
        sleep_ms -= dur * 1000.0;
        n->last_t = tm[n->ptr];
        if (++n->ptr >= n->t->n) {
            n->ptr = 1;
            n->last_t = 0;
        }
    }
}

static uint64_t trace_seed(uint64_t seed, int i)
{
    return seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(i + 1));
}

/* Plays one session; fills ch[v->n_chunks] and s. */
static int play(const mq_abr_trace *t, int ti, const mq_abr_video *v, const mq__abr_algo *a,
                void *st, const mq__abr_env *env, double *tput, mq_abr_chunk *ch,
                mq_abr_session *s, mq_err *err)
{
    const mq_abr_opts *o = env->opts;
    const mq_abr_qoe *q = env->qoe;
    mq_rng rng;
    mq_rng_seed(&rng, trace_seed(o->seed, ti));
    net n = {t, 1, 0};
    if (o->random_start) n.ptr = 1 + (int)mq_rng_below(&rng, (uint64_t)(t->n - 1));
    n.last_t = t->time_s[n.ptr - 1];
    const double chunk_ms = v->chunk_s * 1000.0, cap_ms = o->buffer_cap_s * 1000.0;
    const int noisy = o->noise_lo != 1 || o->noise_hi != 1;
    double buffer = 0;               /* ms */
    int playing = o->startup_threshold_s <= 0;
    double startup_ms = 0;
    int level = o->start_level, prev = o->start_level;
    if (a->session_start) a->session_start(st, env);
    for (int c = 0; c < v->n_chunks; c++) {
        double size = v->sizes[(size_t)level * (size_t)v->n_sizes + (size_t)c];
        double delay = download(&n, size, o->payload_factor);
        if (delay == -2)
            return mq__err_set(err, MQ_ERANGE,
                               "trace %s: chunk %d walks more than %ld trace samples (the trace "
                               "spans %g s over %d samples: too fine to simulate)", t->name, c,
                               MAX_STEPS, t->time_s[t->n - 1] - t->time_s[0], t->n);
        if (delay < 0)
            return mq__err_set(err, MQ_ERANGE,
                               "trace %s: chunk %d (%.0f bytes) would take more than %.0f s to "
                               "download: throughput too low", t->name, c, size, MAX_DOWNLOAD_S);
        delay *= 1000.0;
        if (noisy) delay *= o->noise_lo + (o->noise_hi - o->noise_lo) * mq_rng_uniform(&rng);
        delay += o->rtt_ms;
        double rebuf;
        if (playing) {
            rebuf = delay - buffer > 0.0 ? delay - buffer : 0.0;
            buffer = buffer - delay > 0.0 ? buffer - delay : 0.0;
            if (c == 0) startup_ms = rebuf;
        } else {
            rebuf = 0;
            startup_ms += delay;
        }
        buffer += chunk_ms;
        if (!playing && buffer >= o->startup_threshold_s * 1000.0) playing = 1;
        double sleep = 0;
        if (buffer > cap_ms) {
            double drain = buffer - cap_ms;
            sleep = ceil(drain / o->sleep_step_ms) * o->sleep_step_ms;
            buffer -= sleep;
            if (skip(&n, sleep))
                return mq__err_set(err, MQ_ERANGE,
                                   "trace %s: sleeping %.0f ms after chunk %d walks more than %ld "
                                   "trace samples (the trace spans %g s: too fine to simulate)",
                                   t->name, sleep, c, MAX_STEPS, t->time_s[t->n - 1] - t->time_s[0]);
        }
        mq_abr_chunk *k = &ch[c];
        k->level = level;
        k->bitrate_kbps = v->bitrate_kbps[level];
        k->bytes = size;
        k->delay_ms = delay;
        k->sleep_ms = sleep;
        k->rebuf_s = rebuf / 1000.0;
        k->buffer_s = buffer / 1000.0;
        k->qoe = mq_abr_qoe_chunk(q, level, prev, k->rebuf_s);
        tput[c] = size / delay / 1000.0;
        mq__abr_obs ob = {c, c + 1, level, k->buffer_s, k->rebuf_s, delay, tput};
        int next = a->choose(st, env, &ob);
        if (next < 0 || next >= v->n_levels)
            return mq__err_set(err, MQ_EINVAL, "algorithm %s chose level %d (video has %d)",
                               a->name, next, v->n_levels);
        prev = level;
        level = next;
    }
    memset(s, 0, sizeof *s);
    double br = 0, rb = 0, sw = 0;
    int nplay = v->n_chunks - 1;
    for (int c = 1; c < v->n_chunks; c++) {
        s->qoe += ch[c].qoe;
        br += ch[c].bitrate_kbps;
        rb += ch[c].rebuf_s;
        if (ch[c].level != ch[c - 1].level) {
            s->switches++;
            sw += fabs(ch[c].bitrate_kbps - ch[c - 1].bitrate_kbps);
        }
    }
    s->bitrate_kbps = nplay > 0 ? br / nplay : 0;
    s->rebuf_s = rb;
    s->rebuf_ratio = rb + nplay * v->chunk_s > 0 ? rb / (rb + nplay * v->chunk_s) : 0;
    s->startup_s = startup_ms / 1000.0;
    s->switch_kbps = s->switches ? sw / s->switches : 0;
    return 0;
}

int mq_abr_run(const mq_abr_trace *traces, int n_traces, const mq_abr_video *v, const char *algo,
               const mq_abr_opts *o, const mq_abr_qoe *q, mq_abr_session *sessions,
               mq_abr_chunk *chunks, mq_err *err)
{
    int ai = mq_abr_algo_find(algo);
    if (ai < 0) return mq__err_set(err, MQ_ENOTFOUND, "unknown ABR algorithm '%s'", algo);
    mq_abr_opts ov; int orc = MQ__OPTS_GET(mq_abr_opts, &ov, o, err); if (orc) return orc;
    return mq__abr_run_algo(traces, n_traces, v, algos[ai], NULL, &ov, q, sessions, chunks, err);
}

int mq__abr_run_algo(const mq_abr_trace *traces, int n_traces, const mq_abr_video *v,
                     const mq__abr_algo *a, const void *params, const mq_abr_opts *o,
                     const mq_abr_qoe *q, mq_abr_session *sessions, mq_abr_chunk *chunks,
                     mq_err *err)
{
    int rc = mq_abr_opts_check(o, err);
    if (rc) return rc;
    if (o->start_level < 0 || o->start_level >= v->n_levels)
        return mq__err_set(err, MQ_EINVAL, "start_level %d: video has %d levels", o->start_level, v->n_levels);
    void *st = calloc(1, a->state_size ? a->state_size : 1);
    double *tput = malloc((size_t)v->n_chunks * sizeof *tput);
    mq_abr_chunk *own = chunks ? NULL : malloc((size_t)v->n_chunks * sizeof *own);
    if (!st || !tput || (!chunks && !own)) {
        rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
        goto done;
    }
    mq__abr_env env = {v, q, o, params};
    if (a->run_start) a->run_start(st, &env);
    for (int i = 0; i < n_traces; i++) {
        mq_abr_chunk *ch = chunks ? chunks + (size_t)i * (size_t)v->n_chunks : own;
        rc = play(&traces[i], i, v, a, st, &env, tput, ch, &sessions[i], err);
        if (rc) goto done;
    }
done:
    free(st);
    free(tput);
    free(own);
    return rc;
}

/* ---- summaries ---- */

double mq_abr_t975(int df)
{
    /* Exact quantiles for df <= 30 (scipy.stats.t.ppf(0.975, df)); beyond, the Cornish-Fisher
     * expansion in 1/df to fourth order (Abramowitz & Stegun 26.7.5), error < 1e-6 there. */
    static const double tab[31] = {
        0,          12.70620474, 4.30265273, 3.18244631, 2.77644511, 2.57058184, 2.44691185,
        2.36462425, 2.30600414,  2.26215716, 2.22813885, 2.20098516, 2.17881283, 2.16036866,
        2.14478669, 2.13144955,  2.11990530, 2.10981558, 2.10092204, 2.09302405, 2.08596345,
        2.07961384, 2.07387307,  2.06865761, 2.06389856, 2.05953855, 2.05552944, 2.05183052,
        2.04840714, 2.04522964,  2.04227246};
    if (df < 1) return NAN;
    if (df <= 30) return tab[df];
    double z = 1.959963984540054, n = df;
    double z2 = z * z, z3 = z2 * z, z5 = z3 * z2, z7 = z5 * z2, z9 = z7 * z2;
    return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n) +
           (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n) +
           (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * n * n * n * n);
}

mq_abr_stat mq_abr_stat_of(const double *x, int n)
{
    mq_abr_stat r = {0, 0, 0};
    if (n < 1) return r;
    double m = 0;
    for (int i = 0; i < n; i++) m += x[i];
    m /= n;
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    double h = n > 1 ? mq_abr_t975(n - 1) * sqrt(ss / (n - 1) / n) : 0;
    r.mean = m;
    r.lo = m - h;
    r.hi = m + h;
    return r;
}

void mq_abr_summarize(const mq_abr_session *s, int n, mq_abr_summary *out)
{
    memset(out, 0, sizeof *out);
    out->n_traces = n;
    double *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    if (!x || n < 1) { free(x); return; }
#define SUM_FIELD(f, expr)                         \
    for (int i = 0; i < n; i++) x[i] = (expr);     \
    out->f = mq_abr_stat_of(x, n);
    SUM_FIELD(qoe, s[i].qoe)
    SUM_FIELD(bitrate_kbps, s[i].bitrate_kbps)
    SUM_FIELD(rebuf_s, s[i].rebuf_s)
    SUM_FIELD(rebuf_ratio, s[i].rebuf_ratio)
    SUM_FIELD(startup_s, s[i].startup_s)
    SUM_FIELD(switches, (double)s[i].switches)
    SUM_FIELD(switch_kbps, s[i].switch_kbps)
#undef SUM_FIELD
    free(x);
}

/* ---- reports ---- */

static void json_stat(mq_buf *b, const char *mean_key, const char *ci_key, mq_abr_stat s)
{
    mq_buf_printf(b, ", \"%s\": ", mean_key);
    mq_buf_json_num(b, s.mean);
    mq_buf_printf(b, ", \"%s\": [", ci_key);
    mq_buf_json_num(b, s.lo);
    mq_buf_puts(b, ", ");
    mq_buf_json_num(b, s.hi);
    mq_buf_putc(b, ']');
}

char *mq_abr_report_json(const mq_abr_qoe *q, const mq_abr_trace *traces, int n_traces,
                         const mq_abr_result *res, int n_res)
{
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_printf(&b, "{\"qoe\": \"%s\", \"n_traces\": %d, \"algorithms\": [", mq_abr_qoe_name(q->kind),
                  n_traces);
    for (int a = 0; a < n_res; a++) {
        const mq_abr_session *s = res[a].sessions;
        mq_abr_summary su;
        mq_abr_summarize(s, n_traces, &su);
        mq_buf_puts(&b, a ? ", {\"algo\": " : "{\"algo\": ");
        mq_buf_json_str(&b, res[a].algo, strlen(res[a].algo));
        json_stat(&b, "mean_qoe", "qoe_ci95", su.qoe);
        json_stat(&b, "mean_bitrate_kbps", "bitrate_kbps_ci95", su.bitrate_kbps);
        json_stat(&b, "mean_rebuffer_s", "rebuffer_s_ci95", su.rebuf_s);
        json_stat(&b, "rebuffer_ratio", "rebuffer_ratio_ci95", su.rebuf_ratio);
        json_stat(&b, "mean_startup_s", "startup_s_ci95", su.startup_s);
        json_stat(&b, "mean_switches", "switches_ci95", su.switches);
        json_stat(&b, "mean_switch_kbps", "switch_kbps_ci95", su.switch_kbps);
        mq_buf_puts(&b, ", \"traces\": [");
        for (int i = 0; i < n_traces; i++) {
            mq_buf_puts(&b, i ? ", {\"trace\": " : "{\"trace\": ");
            mq_buf_json_str(&b, traces[i].name, strlen(traces[i].name));
            mq_buf_puts(&b, ", \"qoe\": ");
            mq_buf_json_num(&b, s[i].qoe);
            mq_buf_puts(&b, ", \"bitrate_kbps\": ");
            mq_buf_json_num(&b, s[i].bitrate_kbps);
            mq_buf_puts(&b, ", \"rebuffer_s\": ");
            mq_buf_json_num(&b, s[i].rebuf_s);
            mq_buf_puts(&b, ", \"rebuffer_ratio\": ");
            mq_buf_json_num(&b, s[i].rebuf_ratio);
            mq_buf_puts(&b, ", \"startup_s\": ");
            mq_buf_json_num(&b, s[i].startup_s);
            mq_buf_printf(&b, ", \"switches\": %d, \"switch_kbps\": ", s[i].switches);
            mq_buf_json_num(&b, s[i].switch_kbps);
            mq_buf_putc(&b, '}');
        }
        mq_buf_puts(&b, "]}");
    }
    mq_buf_puts(&b, "]}\n");
    mq_buf_cstr(&b);
    char *out = b.oom || !b.len ? NULL : strdup(b.p);
    mq_buf_release(&b);
    return out;
}

/* A CSV field, quoted (RFC 4180) when it holds a comma, quote or line break. */
static void csv_field(mq_buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) { mq_buf_puts(b, s); return; }
    mq_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"') mq_buf_putc(b, '"');
        mq_buf_putc(b, *s);
    }
    mq_buf_putc(b, '"');
}

static void csv_num(mq_buf *b, double x)
{
    mq_buf_putc(b, ',');
    mq_buf_printf(b, "%.12g", x);
}

int mq_abr_write_sessions_csv(const char *path, const mq_abr_trace *traces, int n_traces,
                              const mq_abr_result *res, int n_res, const char *unit_col,
                              const char *variant_col, mq_err *err)
{
    mq_buf b;
    mq_buf_init(&b);
    csv_field(&b, unit_col ? unit_col : "unit");
    mq_buf_putc(&b, ',');
    csv_field(&b, variant_col ? variant_col : "variant");
    mq_buf_puts(&b, ",qoe,bitrate_kbps,rebuffer_s,rebuffer_ratio,startup_s,switches,switch_kbps\n");
    for (int a = 0; a < n_res; a++)
        for (int i = 0; i < n_traces; i++) {
            const mq_abr_session *s = &res[a].sessions[i];
            csv_field(&b, traces[i].name);
            mq_buf_putc(&b, ',');
            csv_field(&b, res[a].algo);
            csv_num(&b, s->qoe);
            csv_num(&b, s->bitrate_kbps);
            csv_num(&b, s->rebuf_s);
            csv_num(&b, s->rebuf_ratio);
            csv_num(&b, s->startup_s);
            mq_buf_printf(&b, ",%d", s->switches);
            csv_num(&b, s->switch_kbps);
            mq_buf_putc(&b, '\n');
        }
    int rc = b.oom ? mq__err_set(err, MQ_ENOMEM, "%s: out of memory building the CSV", path)
                   : mq__write_file_atomic(path, b.p, b.len, err);
    mq_buf_release(&b);
    return rc;
}

int mq_abr_write_chunks_csv(const char *path, const mq_abr_trace *traces, int n_traces,
                            int n_chunks, const mq_abr_result *res, int n_res, mq_err *err)
{
    for (int a = 0; a < n_res; a++)
        if (!res[a].chunks)
            return mq__err_set(err, MQ_EINVAL, "per-chunk report: no chunk records for %s", res[a].algo);
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_puts(&b, "trace,algo,chunk,level,bitrate_kbps,bytes,delay_ms,sleep_ms,rebuffer_s,buffer_s,qoe\n");
    for (int a = 0; a < n_res; a++)
        for (int i = 0; i < n_traces; i++)
            for (int c = 0; c < n_chunks; c++) {
                const mq_abr_chunk *k = &res[a].chunks[(size_t)i * (size_t)n_chunks + (size_t)c];
                csv_field(&b, traces[i].name);
                mq_buf_putc(&b, ',');
                csv_field(&b, res[a].algo);
                mq_buf_printf(&b, ",%d,%d", c, k->level);
                csv_num(&b, k->bitrate_kbps);
                csv_num(&b, k->bytes);
                csv_num(&b, k->delay_ms);
                csv_num(&b, k->sleep_ms);
                csv_num(&b, k->rebuf_s);
                csv_num(&b, k->buffer_s);
                csv_num(&b, k->qoe);
                mq_buf_putc(&b, '\n');
            }
    int rc = b.oom ? mq__err_set(err, MQ_ENOMEM, "%s: out of memory building the CSV", path)
                   : mq__write_file_atomic(path, b.p, b.len, err);
    mq_buf_release(&b);
    return rc;
}
