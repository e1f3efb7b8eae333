/* xp_report.c: the server's live experiment reports: GET /v1/experiments and
 * GET /v1/experiments/{name}/report.
 *
 * A report is, by construction, `marquee xp collect` + `marquee xp analyze --sequential` on
 * the server's own logs at the moment of the request: the units are the server's live units
 * (xp_collect.c: built from the logs at start-up, kept current as exposures are written and
 * events committed, equal at every moment to what `xp collect` reads from the logs), written
 * as the collect CSV into an anonymous in-memory file (memfd) and analysed by mq_xp_analyze
 * with the options the command line would give (--metric M --control <first variant>
 * --sequential --config <experiments file> --experiment NAME, look every 100 units, the
 * documented tau). So the live report and the offline analysis agree exactly, and a restart
 * after kill -9 (the exposure log holds every answered page) gives the same report. The CSV's
 * range columns give the analysis the members served the default by a ramp or a stop, so its
 * SRM check holds under ramps (docs/xp.md, "SRM under ramps"). A report
 * costs O(units of the experiment) and reads no log (docs/BENCHMARKS.md: report latency).
 *
 * The report adds "experiment", "metric", "units" and "status": {"state", "reason"}, where
 * state is "scheduled" (before start), "running", "ramping" (a variant below its last ramp
 * step), "stopped" (every variant but the control stopped by a guardrail, xp_guard.c) or
 * "ended" (at or after end).
 */
#include "serve/serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *const COLUMNS[] = {"pages", "plays", "play_seconds", "finishes", "distinct_titles",
                                      "active_days", "plays_from_pages", "pre_plays", "pre_play_seconds"};

static const char *state_of(const mq__xps *x, mq__xpg *g, int i, long long now, const char **reason,
                            char *buf, size_t cap)
{
    const mq_xp_experiment *e = &x->xp.exps[i];
    if (e->start && now < e->start) { *reason = "before the experiment's start"; return "scheduled"; }
    if (e->end && now >= e->end) { *reason = "past the experiment's end: no member is assigned"; return "ended"; }
    const char *st = g ? mq__xpg_state(g, x, i, reason, buf, cap) : NULL;
    if (st) return st;
    *reason = "assigning members";
    return "running";
}

int mq__xpr_list(const mq__xps *x, mq__xpg *g, mq__xpc *c, long long now, mq_buf *out, mq_err *err)
{
    mq_buf_puts(out, "{\"experiments\":[");
    for (int i = 0; x && i < x->xp.n; i++) {
        const mq_xp_experiment *e = &x->xp.exps[i];
        char buf[700];
        const char *reason, *st = state_of(x, g, i, now, &reason, buf, sizeof buf);
        mq_buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
        mq_buf_json_str(out, e->name, strlen(e->name));
        mq_buf_printf(out, ",\"state\":\"%s\",\"reason\":", st);
        mq_buf_json_str(out, reason, strlen(reason));
        if (e->layer[0]) {
            mq_buf_puts(out, ",\"layer\":");
            mq_buf_json_str(out, e->layer, strlen(e->layer));
        }
        mq_buf_puts(out, ",\"layer_range\":[");
        mq_buf_json_num(out, e->layer_lo);
        mq_buf_putc(out, ',');
        mq_buf_json_num(out, e->layer_hi);
        mq_buf_puts(out, "],\"coverage\":");
        mq_buf_json_num(out, e->coverage);
        mq_buf_printf(out, ",\"start\":%lld,\"end\":%lld,\"units\":%lld,\"variants\":[", e->start, e->end,
                      (long long)mq__xpc_units(c, e->name, NULL));
        for (int v = 0; v < e->n_variants; v++) {
            mq_buf_puts(out, v ? ",{\"name\":" : "{\"name\":");
            mq_buf_json_str(out, e->variants[v], strlen(e->variants[v]));
            /* the share of the layer's members served this variant */
            mq_buf_puts(out, ",\"share\":");
            mq_buf_json_num(out, e->weights[v] * e->coverage * (e->layer_hi - e->layer_lo));
            mq_buf_printf(out, ",\"units\":%lld", (long long)mq__xpc_units(c, e->name, e->variants[v]));
            if (g) mq__xpg_variant_json(g, x, i, v, now, out);
            mq_buf_putc(out, '}');
        }
        mq_buf_puts(out, "]}");
    }
    mq_buf_puts(out, "]}\n");
    return out->oom ? mq__err_set(err, MQ_ENOMEM, "out of memory") : 0;
}

/* An anonymous in-memory file holding data, and a path that opens it (/proc/self/fd/N); a
 * temporary file in /tmp where memfd is not available. Returns the descriptor or -1. */
static int mem_file(const mq_buf *data, char *path, size_t cap, bool *unlink_it)
{
    *unlink_it = false;
    int fd = memfd_create("marquee-report", MFD_CLOEXEC);
    if (fd >= 0) snprintf(path, cap, "/proc/self/fd/%d", fd);
    if (fd >= 0 && access(path, R_OK) != 0) { close(fd); fd = -1; }
    if (fd < 0) {
        snprintf(path, cap, "/tmp/marquee-report-XXXXXX");
        fd = mkstemp(path);
        *unlink_it = fd >= 0;
    }
    size_t done = 0;
    while (fd >= 0 && done < data->len) {
        ssize_t w = write(fd, data->p + done, data->len - done);
        if (w <= 0) {
            close(fd);
            if (*unlink_it) unlink(path);
            return -1;
        }
        done += (size_t)w;
    }
    return fd;
}

int mq__xpr_report(const mq__xps *x, mq__xpg *g, mq__xpc *c, const char *name, const char *metric,
                   const char *drift, long long now, mq_buf *out, mq_err *err)
{
    const mq_xp_experiment *e = x ? mq_xp_config_find(&x->xp, name) : NULL;
    if (!e) return mq__err_set(err, MQ_ENOTFOUND, "no experiment '%.200s'", name);
    if (!metric) metric = "play_seconds";
    bool known = false;
    for (size_t k = 0; k < sizeof COLUMNS / sizeof *COLUMNS; k++) known |= !strcmp(COLUMNS[k], metric);
    if (!known)
        return mq__err_set(err, MQ_EINVAL, "query 'metric': '%.100s' is not a unit metric (pages, plays, play_seconds, "
                           "finishes, distinct_titles, active_days, plays_from_pages)", metric);
    mq_buf csv;
    mq_buf_init(&csv);
    int64_t n = 0;
    char path[64];
    bool unlink_it = false;
    int fd = -1;
    char *js = NULL, *txt = NULL;
    int rc = mq__xpc_csv(c, name, &csv, &n, err);
    if (rc) goto out;
    char buf[700];
    const char *reason, *st = state_of(x, g, (int)(e - x->xp.exps), now, &reason, buf, sizeof buf);
    if (n > 0) {
        fd = mem_file(&csv, path, sizeof path, &unlink_it);
        if (fd < 0) {
            rc = mq__err_set(err, MQ_EIO, "report: cannot write the units to a memory file or /tmp");
            goto out;
        }
        mq_xp_analyze_opts ao;
        mq_xp_analyze_opts_init(&ao, sizeof ao);
        ao.metrics[0] = metric;
        ao.n_metrics = 1;
        ao.control = e->variants[0];
        ao.sequential = true;
        ao.look_every = 100;
        ao.experiment = e;
        rc = mq_xp_analyze(path, &ao, &js, &txt, NULL, err);
        if (rc) goto out;
        size_t jl = strlen(js);
        while (jl && (js[jl - 1] == '\n' || js[jl - 1] == ' ')) jl--;
        if (!jl || js[jl - 1] != '}') { rc = mq__err_set(err, MQ_EFORMAT, "report: unexpected analysis output"); goto out; }
        mq_buf_put(out, js, jl - 1);
        mq_buf_putc(out, ',');
    } else {
        mq_buf_puts(out, "{\"rows\":0,\"results\":[],");
    }
    mq_buf_puts(out, "\"experiment\":");
    mq_buf_json_str(out, e->name, strlen(e->name));
    mq_buf_puts(out, ",\"metric\":");
    mq_buf_json_str(out, metric, strlen(metric));
    if (drift && *drift) {
        mq_buf_puts(out, ",\"drift\":[");
        mq_buf_puts(out, drift);
        mq_buf_putc(out, ']');
    }
    mq_buf_printf(out, ",\"units\":%lld,\"status\":{\"state\":\"%s\",\"reason\":", (long long)n, st);
    mq_buf_json_str(out, reason, strlen(reason));
    mq_buf_puts(out, "}}\n");
    if (out->oom) rc = mq__err_set(err, MQ_ENOMEM, "out of memory");
out:
    if (fd >= 0) close(fd);
    if (unlink_it) unlink(path);
    free(js);
    free(txt);
    mq_buf_release(&csv);
    return rc;
}
