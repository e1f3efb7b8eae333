/* fuzz/fuzz_abr.c: a fuzz target for the ABR trace parser and the chunk-size loader.
 *
 * The first input byte picks the target. Even: the rest is a cooked network trace
 * (mq_abr_trace_parse); a parsed trace must hold >= 2 finite samples with increasing times.
 * Odd: the rest is split at '|' bytes into up to 6 chunk-size files video_size_0..5 in a
 * private temp directory (missing files are empty), loaded with mq_abr_video_load for a ladder
 * of 1 to 6 levels and 1 to 8 chunks; a loaded video must hold positive finite sizes. When both
 * load, one session is simulated with each algorithm. Never crash, leak or hang; every failure
 * has a message. Build and run: docs/fuzzing.md.
 */
#include "marquee.h"
#include "fuzz_io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *k_trace = "0 1.5\n1 2.0\n2 0.5\n3 3.0\n4 1.0\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    mq_err err = {0};
    uint8_t sel = data[0];
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    if (!(sel & 1)) {
        mq_abr_trace t;
        memset(&t, 0, sizeof t);
        if (mq_abr_trace_parse(&t, "fuzz.trace", body, n, &err) != 0) {
            if (!err.msg[0]) abort();
            return 0;
        }
        if (t.n < 2) abort();
        for (int i = 0; i < t.n; i++) {
            if (!isfinite(t.time_s[i]) || !isfinite(t.mbps[i]) || t.mbps[i] < 0) abort();
            if (i && !(t.time_s[i] > t.time_s[i - 1])) abort();
        }
        mq_abr_trace_release(&t);
        return 0;
    }
    char path[160];
    const char *dir = fuzz_dir("abr");
    int levels = 1 + (sel >> 1) % 6, chunks = 1 + (sel >> 4) % 8;
    size_t at = 0;
    for (int l = 0; l < 6; l++) {
        snprintf(path, sizeof path, "%s/video_size_%d", dir, l);
        FILE *f = fopen(path, "wb");
        if (!f) return 0;
        size_t e = at;
        while (e < n && body[e] != '|') e++;
        if (at < n) fwrite(body + at, 1, e - at, f);
        fclose(f);
        at = e < n ? e + 1 : n;
    }
    mq_abr_video v;
    memset(&v, 0, sizeof v);
    if (mq_abr_video_load(&v, dir, mq_abr_pensieve_ladder_kbps, levels, chunks, 4.0, &err) != 0) {
        if (!err.msg[0]) abort();
        return 0;
    }
    if (v.n_levels != levels || v.n_chunks != chunks || v.n_sizes < chunks) abort();
    for (long i = 0; i < (long)v.n_levels * v.n_sizes; i++)
        if (!isfinite(v.sizes[i]) || !(v.sizes[i] > 0)) abort();
    mq_abr_trace t;
    memset(&t, 0, sizeof t);
    if (mq_abr_trace_parse(&t, "fixed", k_trace, strlen(k_trace), &err) != 0) abort();
    mq_abr_opts o;
    mq_abr_opts_init(&o, sizeof o);
    if (o.start_level >= levels) o.start_level = 0;
    mq_abr_qoe q;
    if (mq_abr_qoe_init(&q, (mq_abr_qoe_kind)((sel >> 3) % 3), &v, &err) == 0) {
        for (int a = 0; a < mq_abr_algo_count(); a++) {
            mq_abr_session s;
            mq_abr_chunk ch[8];
            mq_err e2 = {0};
            int rc = mq_abr_run(&t, 1, &v, mq_abr_algo_name(a), &o, &q, &s, ch, &e2);
            if (rc != 0 && !e2.msg[0]) abort();
            if (rc == 0 && (!isfinite(s.qoe) || !isfinite(s.rebuf_s) || !isfinite(s.bitrate_kbps))) abort();
        }
    }
    mq_abr_video_release(&v);
    mq_abr_trace_release(&t);
    return 0;
}
