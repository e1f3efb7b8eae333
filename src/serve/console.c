/* console.c: the web console served by `marquee serve` itself (docs/console.md).
 *
 * The console is a single-page app in web/ (plain HTML, CSS and JavaScript, no framework, no
 * CDN). scripts/embed_web.sh turns every file of web/ into a byte array of the generated
 * build/web_assets.c at build time, so the binary carries the console and serves it with no
 * file system access and no network. Routes answered here (http.c's router hands them over):
 *
 *   GET /, /ui, /ui/...   index.html (the app routes on location.pathname in the browser)
 *   GET /assets/NAME      web/NAME with its Content-Type
 *   GET /v1/reports       the JSON reports put in the models directory (`marquee eval --json`,
 *                         `marquee abr --json`, `marquee xp analyze --json`), classified by shape,
 *                         and the CSVs of `marquee abr --per-chunk` and of the ranker's
 *                         `marquee eval --reliability` (listed by header, not inlined)
 *   GET /v1/reports/NAME  one of those files as it is (a per-chunk CSV can be megabytes)
 * and, for http.c's GET /v1/models, the JSON of one loaded model (mq__console_model_json).
 *
 * Caching: every static answer carries an ETag (CRC-32C of the bytes) and
 * `Cache-Control: no-cache`, so a browser revalidates (304, no body) and a new binary's console
 * is never masked by a stale copy. Reports are `no-store`: they change when files are added.
 *
 * Threads: stateless; the assets are constant data, each request reads the directory afresh.
 */
#include "serve/serve.h"

#include "core/core.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_REPORT_BYTES (8u << 20)     /* larger files are listed with an error, not read */
#define MAX_REPORTS 256

bool mq__console_owns(const char *url)
{
    return !strcmp(url, "/") || !strcmp(url, "/ui") || !strncmp(url, "/ui/", 4) ||
           !strncmp(url, "/assets/", 8) || !strcmp(url, "/v1/reports") || !strncmp(url, "/v1/reports/", 12);
}

static const mq__web_asset *find_asset(const char *path)
{
    for (int i = 0; i < mq__web_n_assets; i++)
        if (!strcmp(mq__web_assets[i].path, path)) return &mq__web_assets[i];
    return NULL;
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, const void *data, size_t len,
                             enum MHD_ResponseMemoryMode mode, const char *ctype, const char *cache,
                             const char *etag)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, mode);
    if (!r) return MHD_NO;
    if (ctype) MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", cache);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (etag) MHD_add_response_header(r, "ETag", etag);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result json_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_printf(&b, "{\"error\":{\"code\":%u,\"message\":", status);
    mq_buf_json_str(&b, msg, strlen(msg));
    mq_buf_puts(&b, "}}\n");
    if (b.oom) { mq_buf_release(&b); return MHD_NO; }
    enum MHD_Result ret = queue(c, status, b.p, b.len, MHD_RESPMEM_MUST_COPY,
                                "application/json", "no-store", NULL);
    mq_buf_release(&b);
    return ret;
}

static enum MHD_Result send_asset(struct MHD_Connection *c, const mq__web_asset *a)
{
    char etag[16];
    snprintf(etag, sizeof etag, "\"%08x\"", mq_crc32c(0, a->data, a->len));
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    if (inm && strstr(inm, etag))
        return queue(c, 304, "", 0, MHD_RESPMEM_PERSISTENT, NULL, "no-cache", etag);
    return queue(c, 200, a->data, a->len, MHD_RESPMEM_PERSISTENT, a->ctype, "no-cache", etag);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What a report is, from its top-level members (the field names are the commands' promises). */
static const char *report_kind(const cJSON *j)
{
    if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "algorithms"))) return "abr";
    if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "models"))) return "eval";
    if (cJSON_GetObjectItemCaseSensitive(j, "srm") || cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "results")))
        return "xp";
    return "unknown";
}

/* Appends one report: {"file", "kind", "report"} or {"file", "error"}. */
static void one_report(mq_buf *b, const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    mq_buf_puts(b, "{\"file\":");
    mq_buf_json_str(b, name, strlen(name));
    const void *data = NULL;
    size_t len = 0;
    mq_err err = {0, ""};
    char why[600] = "";
    if (mq__file_map(path, &data, &len, &err)) {
        snprintf(why, sizeof why, "%s", err.msg);
    } else if (len > MAX_REPORT_BYTES) {
        snprintf(why, sizeof why, "%.400s: %zu bytes, over the %u-byte limit", path, len, MAX_REPORT_BYTES);
    } else {
        const char *end = NULL;
        cJSON *j = cJSON_ParseWithLengthOpts(data, len, &end, 0);
        if (!j) {
            snprintf(why, sizeof why, "%.400s: not JSON (byte %td)", path,
                     end ? end - (const char *)data : (ptrdiff_t)0);
        } else {
            const char *kind = report_kind(j);
            cJSON_Delete(j);
            mq_buf_puts(b, ",\"kind\":");
            mq_buf_json_str(b, kind, strlen(kind));
            mq_buf_puts(b, ",\"report\":");
            size_t n = len;
            while (n && strchr(" \t\r\n", ((const char *)data)[n - 1])) n--;
            mq_buf_put(b, data, n);
        }
    }
    if (data) mq__file_unmap(data, len);
    if (why[0]) {
        mq_buf_puts(b, ",\"error\":");
        mq_buf_json_str(b, why, strlen(why));
    }
    mq_buf_putc(b, '}');
}

static bool has_ext(const char *name, const char *ext)
{
    size_t l = strlen(name), e = strlen(ext);
    return l > e && !strcasecmp(name + l - e, ext);
}

/* The CSVs the console draws, by their header line: `marquee abr --per-chunk` (docs/abr.md)
 * and the ranker's `marquee eval --reliability` (docs/eval.md). */
static const struct { const char *header, *kind; } CSV_KINDS[] = {
    {"trace,algo,chunk,", "abr_chunks"},
    {"method,bin,count,mean_predicted,observed_rate\n", "reliability"},
};

/* Appends {"file","kind","bytes"} when name is one of CSV_KINDS; else nothing. Returns whether
 * it appended. */
static bool csv_entry(mq_buf *b, const char *dir, const char *name, bool comma)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    const void *data = NULL;
    size_t len = 0;
    mq_err err = {0, ""};
    if (mq__file_map(path, &data, &len, &err)) return false;
    const char *kind = NULL;
    for (size_t k = 0; k < sizeof CSV_KINDS / sizeof *CSV_KINDS && !kind; k++) {
        size_t hl = strlen(CSV_KINDS[k].header);
        if (len > hl && !memcmp(data, CSV_KINDS[k].header, hl)) kind = CSV_KINDS[k].kind;
    }
    mq__file_unmap(data, len);
    if (!kind) return false;
    if (comma) mq_buf_putc(b, ',');
    mq_buf_puts(b, "{\"file\":");
    mq_buf_json_str(b, name, strlen(name));
    mq_buf_printf(b, ",\"kind\":\"%s\",\"bytes\":%zu}", kind, len);
    return true;
}

/* GET /v1/reports/NAME: a .json or .csv file of the models directory, as it is. */
static enum MHD_Result send_report_file(struct MHD_Connection *c, const char *models, const char *name)
{
    char msg[400];
    bool json = has_ext(name, ".json"), csv = has_ext(name, ".csv");
    if (!models || !name[0] || name[0] == '.' || strchr(name, '/') || !(json || csv)) {
        snprintf(msg, sizeof msg, "no report '%.200s' (a .json or .csv file name of the models directory)", name);
        return json_error(c, 404, msg);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", models, name);
    const void *data = NULL;
    size_t len = 0;
    mq_err err = {0, ""};
    if (mq__file_map(path, &data, &len, &err)) {
        snprintf(msg, sizeof msg, "no report '%.200s' in the models directory", name);
        return json_error(c, 404, msg);
    }
    enum MHD_Result ret = queue(c, 200, len ? data : "", len, MHD_RESPMEM_MUST_COPY,
                                json ? "application/json" : "text/csv; charset=utf-8", "no-store", NULL);
    if (data) mq__file_unmap(data, len);
    return ret;
}

static enum MHD_Result send_reports(struct MHD_Connection *c, const char *models)
{
    DIR *d = models ? opendir(models) : NULL;
    char *names[MAX_REPORTS];
    int n = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && n < MAX_REPORTS) {
            size_t l = strlen(e->d_name);
            if (e->d_name[0] == '.' || l < 5 || !(has_ext(e->d_name, ".json") || has_ext(e->d_name, ".csv"))) continue;
            if (!(names[n] = strdup(e->d_name))) break;
            n++;
        }
        closedir(d);
    }
    qsort(names, (size_t)n, sizeof *names, name_cmp);
    mq_buf b;
    mq_buf_init(&b);
    mq_buf_puts(&b, "{\"reports\":[");
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (has_ext(names[i], ".csv")) {
            k += csv_entry(&b, models, names[i], k > 0);
        } else {
            if (k++) mq_buf_putc(&b, ',');
            one_report(&b, models, names[i]);
        }
        free(names[i]);
    }
    mq_buf_puts(&b, "]}\n");
    if (b.oom) { mq_buf_release(&b); return json_error(c, 500, "out of memory"); }
    enum MHD_Result ret = queue(c, 200, b.p, b.len, MHD_RESPMEM_MUST_COPY, "application/json",
                                "no-store", NULL);
    mq_buf_release(&b);
    return ret;
}

enum MHD_Result mq__console_answer(struct MHD_Connection *c, const char *url, const char *models,
                                   bool may_read)
{
    if (!strcmp(url, "/v1/reports")) {
        if (!may_read) return json_error(c, 401, "missing or wrong API key (Authorization: Bearer <key>)");
        return send_reports(c, models);
    }
    if (!strncmp(url, "/v1/reports/", 12)) {
        if (!may_read) return json_error(c, 401, "missing or wrong API key (Authorization: Bearer <key>)");
        return send_report_file(c, models, url + 12);
    }
    if (!strncmp(url, "/assets/", 8)) {
        const mq__web_asset *a = find_asset(url + 7);
        if (!a || !strcmp(url + 7, "/index.html")) {
            char msg[300];
            snprintf(msg, sizeof msg, "no console asset %.200s", url);
            return json_error(c, 404, msg);
        }
        return send_asset(c, a);
    }
    const mq__web_asset *index = find_asset("/index.html");
    if (!index) return json_error(c, 500, "the console was built without web/index.html");
    return send_asset(c, index);
}

void mq__console_model_json(mq_buf *b, const char *role, const char *version, const mq_model *m, double psi)
{
    mq_buf_puts(b, "{\"role\":");
    mq_buf_json_str(b, role, strlen(role));
    mq_buf_puts(b, ",\"version\":");
    mq_buf_json_str(b, version, strlen(version));
    mq_buf_puts(b, ",\"kind\":");
    mq_buf_json_str(b, mq_model_kind(m), strlen(mq_model_kind(m)));
    mq_buf_puts(b, ",\"params\":");
    mq_buf_json_str(b, mq_model_params(m), strlen(mq_model_params(m)));
    mq_buf_printf(b, ",\"titles\":%d", (int)mq_model_n_titles(m));
    mq_model_train_info ti;
    if (!mq_model_train_info_get(m, &ti)) {
        mq_buf_printf(b, ",\"train\":{\"members\":%lld,\"titles\":%lld,\"interactions\":%lld,\"trained_at\":%lld,\"seconds\":",
                      (long long)ti.n_members, (long long)ti.n_titles, (long long)ti.n_interactions, (long long)ti.trained_at);
        mq_buf_json_num(b, ti.train_seconds);
        mq_buf_putc(b, '}');
    } else {
        mq_buf_puts(b, ",\"train\":\"unknown\"");
    }
    mq_buf_puts(b, ",\"psi\":");
    if (isfinite(psi)) mq_buf_json_num(b, psi);
    else mq_buf_puts(b, "\"unknown\"");
    mq_buf_putc(b, '}');
}
