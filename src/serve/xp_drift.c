/* xp_drift.c: the live score histograms behind marquee_model_score_psi{model}, kept across
 * reloads and restarts.
 *
 * A model's drift monitor (http.c) compares the deciles of its training-time best-100 scores
 * (the artifact's reference edges) with the live counts per decile from sampled pages. The
 * counts live here, not in the model's bundle: one entry per (model name, reference edges),
 * found or created when a bundle loads the model, so
 *  - a reload that loads the same artifact (same name, same edges) keeps counting into the
 *    same entry: PSI goes on where it was;
 *  - a new artifact (retrained: other edges) starts an entry of its own at zero, since its
 *    live scores are compared with its own reference;
 *  - a restart reads the entries back from <exposures>/drift_state.json, which the server
 *    writes atomically (write, fsync, rename) every few seconds while counts change and when
 *    it stops. A kill -9 loses the samples since the last write (at most DRIFT_SAVE_EVERY
 *    seconds of them; the PSI of a long-running model barely moves with them).
 * The file: {"models": [{"model": NAME, "edges": [9 numbers], "counts": [10 integers]}]}.
 * Edges are written as the float values they are (17 significant digits: exact on reading).
 * A state file that cannot be read is reported in the server log and set aside: drift
 * monitoring starts afresh rather than keeping the server from starting.
 *
 * Thread safety: entries never move or go away while the store lives, so request threads add
 * to their counts with relaxed atomics through a pointer taken at bundle load; a mutex guards
 * the list (lookups at load, the periodic save).
 */
#include "serve/serve.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dent {
    struct dent *next;
    char model[MQ_XP_NAME];
    float edges[MQ_MODEL_SCORE_BINS - 1];
    _Atomic unsigned long long counts[MQ_MODEL_SCORE_BINS];
} dent;

struct mq__drifts {
    pthread_mutex_t mu;
    char path[4200];
    const mq_log *log;
    dent *head;
    unsigned long long saved_total;     /* sum of all counts at the last save */
};

static dent *add(mq__drifts *d, const char *model, const float *edges)
{
    dent *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    snprintf(e->model, sizeof e->model, "%s", model);
    memcpy(e->edges, edges, sizeof e->edges);
    dent **tail = &d->head;
    while (*tail) tail = &(*tail)->next;
    *tail = e;
    return e;
}

int mq__drifts_open(const char *dir, const mq_log *log, mq__drifts **out, mq_err *err)
{
    *out = NULL;
    mq__drifts *d = calloc(1, sizeof *d);
    if (!d) return mq__err_set(err, MQ_ENOMEM, "out of memory");
    pthread_mutex_init(&d->mu, NULL);
    d->log = log;
    snprintf(d->path, sizeof d->path, "%s/drift_state.json", dir);
    const void *data;
    size_t len;
    if (mq__file_map(d->path, &data, &len, NULL) == 0) {
        cJSON *root = len ? cJSON_ParseWithLength(data, len) : NULL;
        mq__file_unmap(data, len);
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "models");
        bool ok = cJSON_IsArray(list);
        for (const cJSON *o = ok ? list->child : NULL; o && ok; o = o->next) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
            const cJSON *ed = cJSON_GetObjectItemCaseSensitive(o, "edges");
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "counts");
            ok = cJSON_IsString(m) && cJSON_IsArray(ed) && cJSON_GetArraySize(ed) == MQ_MODEL_SCORE_BINS - 1 &&
                 cJSON_IsArray(c) && cJSON_GetArraySize(c) == MQ_MODEL_SCORE_BINS;
            float edges[MQ_MODEL_SCORE_BINS - 1];
            unsigned long long counts[MQ_MODEL_SCORE_BINS];
            int k = 0;
            for (const cJSON *x = ok ? ed->child : NULL; x && ok; x = x->next, k++) {
                ok = cJSON_IsNumber(x);
                edges[k] = (float)x->valuedouble;
            }
            k = 0;
            for (const cJSON *x = ok ? c->child : NULL; x && ok; x = x->next, k++) {
                ok = cJSON_IsNumber(x) && x->valuedouble >= 0 && x->valuedouble < 9e15;
                counts[k] = (unsigned long long)x->valuedouble;
            }
            dent *e = ok ? add(d, m->valuestring, edges) : NULL;
            if (ok && !e) { cJSON_Delete(root); mq__drifts_close(d); return mq__err_set(err, MQ_ENOMEM, "out of memory"); }
            for (k = 0; e && k < MQ_MODEL_SCORE_BINS; k++) {
                atomic_store(&e->counts[k], counts[k]);
                d->saved_total += counts[k];
            }
        }
        cJSON_Delete(root);
        if (!ok) {
            mq__logf(log, "serve: %s is not a drift state file: ignored, drift counts start afresh", d->path);
            for (dent *e = d->head, *nx; e; e = nx) { nx = e->next; free(e); }
            d->head = NULL;
            d->saved_total = 0;
        }
    }
    *out = d;
    return 0;
}

void mq__drifts_close(mq__drifts *d)
{
    if (!d) return;
    for (dent *e = d->head, *nx; e; e = nx) { nx = e->next; free(e); }
    pthread_mutex_destroy(&d->mu);
    free(d);
}

_Atomic unsigned long long *mq__drifts_counts(mq__drifts *d, const char *model, const float *edges)
{
    if (!d) return NULL;
    pthread_mutex_lock(&d->mu);
    dent *e = d->head;
    while (e && (strcmp(e->model, model) || memcmp(e->edges, edges, sizeof e->edges))) e = e->next;
    if (!e) e = add(d, model, edges);
    pthread_mutex_unlock(&d->mu);
    return e ? e->counts : NULL;
}

int mq__drifts_save(mq__drifts *d, mq_err *err)
{
    if (!d) return 0;
    pthread_mutex_lock(&d->mu);
    unsigned long long total = 0;
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_puts(&b, "{\"models\": [");
    for (dent *e = d->head; e; e = e->next) {
        mq_buf_puts(&b, e == d->head ? "\n {\"model\": " : ",\n {\"model\": ");
        mq_buf_json_str(&b, e->model, strlen(e->model));
        mq_buf_puts(&b, ", \"edges\": [");
        for (int k = 0; k < MQ_MODEL_SCORE_BINS - 1; k++) {
            if (k) mq_buf_putc(&b, ',');
            mq_buf_printf(&b, "%.17g", (double)e->edges[k]);
        }
        mq_buf_puts(&b, "], \"counts\": [");
        for (int k = 0; k < MQ_MODEL_SCORE_BINS; k++) {
            unsigned long long c = atomic_load_explicit(&e->counts[k], memory_order_relaxed);
            total += c;
            mq_buf_printf(&b, k ? ",%llu" : "%llu", c);
        }
        mq_buf_puts(&b, "]}");
    }
    mq_buf_puts(&b, "\n]}\n");
    int rc = 0;
    if (total != d->saved_total) {
        rc = b.oom ? mq__err_set(err, MQ_ENOMEM, "out of memory") : mq__write_file_atomic(d->path, b.p, b.len, err);
        if (!rc) d->saved_total = total;
    }
    pthread_mutex_unlock(&d->mu);
    mq_buf_release(&b);
    return rc;
}
