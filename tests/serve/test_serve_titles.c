/* test_serve_titles.c: titles put and withdrawn while the server runs (issue 12 item 13,
 * src/serve/titles.c): PUT /v1/titles/{id} shows the title on the next page (New Releases for a
 * cold member, the personalized rows of a member whose taste matches), events naming it are
 * accepted and reach the member store and trending; DELETE withdraws it; availability windows
 * hide titles everywhere (pages, recommendations, similar lists) by the server's clock; bad
 * bodies are 400 naming the field, writes need the key; the catalog log survives a restart,
 * kill -9 after an answered PUT, a reload, and a torn tail. */
#include "serve_harness.h"

#include <math.h>
#include <sys/stat.h>
#include <time.h>

#define NEW_TOON "{\"name\":\"Brand New Toon\",\"year\":2026,\"genres\":[\"Animation\",\"Children\",\"Comedy\"]," \
                 "\"tags\":[\"pixar\",\"cute\"],\"artwork\":[{\"id\":\"a1\",\"features\":[\"closeup\",\"bright\"]}]}"

static char extra_flags[800];

static const char *catalog_flags(const char *dir)
{
    snprintf(extra_flags, sizeof extra_flags, "--catalog %s/catalog", dir);
    return extra_flags;
}

static int start_titles(server *s, const char *dir)
{
    char d[512];
    snprintf(d, sizeof d, "%s", dir ? dir : mq_test_tmpdir());
    return start_server(s, d, catalog_flags(d));
}

static int put_title(int port, const char *id, const char *body, const char *auth, resp *r)
{
    char path[400];
    snprintf(path, sizeof path, "/v1/titles/%s", id);
    return http(port, "PUT", path, auth, body, r);
}

/* The id of the row of member's homepage that shows title, "" when none (-1: request failed). */
static int page_row(int port, const char *member, const char *title, char *row, size_t cap)
{
    char path[400];
    snprintf(path, sizeof path, "/v1/members/%s/homepage?rows=20&per_row=20", member);
    int st;
    cJSON *p = get_json(port, path, &st);
    row[0] = 0;
    if (!p || st != 200) { cJSON_Delete(p); return -1; }
    const cJSON *rw, *t;
    cJSON_ArrayForEach(rw, cJSON_GetObjectItem(p, "rows"))
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(rw, "titles"))
            if (!strcmp(cJSON_GetObjectItem(t, "id")->valuestring, title) && !row[0])
                snprintf(row, cap, "%s", cJSON_GetObjectItem(rw, "id")->valuestring);
    cJSON_Delete(p);
    return 0;
}

/* Whether a JSON list answer (recommendations or similar) names title. */
static int list_has(int port, const char *path, const char *title)
{
    int st;
    cJSON *p = get_json(port, path, &st);
    if (!p || st != 200) { cJSON_Delete(p); return -1; }
    int found = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(p, "titles"))
        found |= !strcmp(cJSON_GetObjectItem(t, "id")->valuestring, title);
    cJSON_Delete(p);
    return found;
}

static long long metric(int port, const char *name)
{
    resp r;
    if (http(port, "GET", "/metrics", NULL, NULL, &r)) return -1;
    long long v = -1;
    char *at = r.body;
    size_t nl = strlen(name);
    while ((at = strstr(at, name))) {
        if ((at == r.body || at[-1] == '\n') && at[nl] == ' ') { v = atoll(at + nl + 1); break; }
        at += nl;
    }
    resp_free(&r);
    return v;
}

/* A member whose history is animated family films (Toy Story, Monsters Inc., Shrek, Finding
 * Nemo, Up, A Bug's Life), watched to the end. */
static void animation_fan(int port, const char *member)
{
    static const char *const films[] = {"1", "4886", "4306", "6377", "68954", "2355"};
    char body[2000];
    int n = snprintf(body, sizeof body, "[");
    for (int i = 0; i < 6; i++)
        n += snprintf(body + n, sizeof body - (size_t)n, "%s{\"member\":\"%s\",\"title\":\"%s\",\"value\":6000}",
                      i ? "," : "", member, films[i]);
    snprintf(body + n, sizeof body - (size_t)n, "]");
    resp r;
    if (post(port, KEY, body, &r) == 0) resp_free(&r);
}

MQ_TEST(serve_titles_put_shows_on_the_next_page)
{
    if (access("data/ml-latest-small/ratings.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small not here");
    server s;
    ASSERT_INT_EQ(start_titles(&s, NULL), 0);
    resp r;
    char row[300];
    /* before: an unknown title in an event is 404, and no page has it */
    ASSERT_INT_EQ(post(s.port, KEY, "{\"member\":\"early\",\"title\":\"toon-1\",\"value\":60}", &r), 0);
    ASSERT_INT_EQ(r.status, 404);
    resp_free(&r);
    ASSERT_INT_EQ(put_title(s.port, "toon-1", NEW_TOON, KEY, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT(strstr(r.body, "\"created\":true") && strstr(r.body, "\"added\":true"));
    resp_free(&r);
    /* a cold member: New Releases leads with it */
    ASSERT_INT_EQ(page_row(s.port, "cold-member", "toon-1", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "new_releases");
    /* a member whose taste matches: a personalized row (cold-start score from its genres) */
    animation_fan(s.port, "fan");
    ASSERT_INT_EQ(page_row(s.port, "fan", "toon-1", row, sizeof row), 0);
    ASSERT(!strcmp(row, "top_picks") || !strncmp(row, "genre:", 6));
    ASSERT_INT_EQ(list_has(s.port, "/v1/members/fan/recommendations?n=20&explain=1", "toon-1"), 1);
    /* a member of another taste does not get it among their top 20 recommendations */
    static const char *const dark[] = {"2959", "296", "858", "1221", "111", "50"};
    for (int i = 0; i < 6; i++) {
        char b[200];
        snprintf(b, sizeof b, "{\"member\":\"noir\",\"title\":\"%s\",\"value\":6000}", dark[i]);
        ASSERT_INT_EQ(post(s.port, KEY, b, &r), 0);
        resp_free(&r);
    }
    ASSERT_INT_EQ(list_has(s.port, "/v1/members/noir/recommendations?n=20", "toon-1"), 0);
    /* events naming it are accepted and reach the store (Continue Watching) and trending */
    long long before = metric(s.port, "marquee_trending_events_total");
    ASSERT_INT_EQ(post(s.port, KEY, "[{\"member\":\"w1\",\"title\":\"toon-1\",\"value\":600},"
                                    "{\"member\":\"w2\",\"title\":\"toon-1\",\"value\":600}]", &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    ASSERT_INT_EQ(metric(s.port, "marquee_trending_events_total"), before + 2);
    ASSERT_INT_EQ(metric(s.port, "marquee_catalog_added_titles"), 1);
    ASSERT_INT_EQ(page_row(s.port, "w1", "toon-1", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "continue_watching");
    /* its similar list (by genres) and GET */
    ASSERT_INT_EQ(list_has(s.port, "/v1/titles/toon-1/similar?n=50", "3751"), 1);   /* Chicken Run */
    ASSERT_INT_EQ(http(s.port, "GET", "/v1/titles/toon-1", NULL, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT(strstr(r.body, "\"features\":[\"closeup\",\"bright\"]") && strstr(r.body, "\"available\":true"));
    resp_free(&r);
    /* a put on a model title replaces its metadata */
    ASSERT_INT_EQ(put_title(s.port, "1", "{\"name\":\"Toy Story (Remastered)\",\"year\":1995,\"genres\":[\"Animation\"]}", KEY, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT(strstr(r.body, "\"created\":false") && strstr(r.body, "\"added\":false"));
    resp_free(&r);
    ASSERT_INT_EQ(http(s.port, "GET", "/v1/titles/1/similar?n=1", NULL, NULL, &r), 0);
    ASSERT(strstr(r.body, "Toy Story (Remastered)") != NULL);
    resp_free(&r);
    stop_server(&s, SIGTERM);
}

MQ_TEST(serve_titles_delete_and_availability_windows)
{
    if (access("data/ml-latest-small/ratings.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small not here");
    server s;
    ASSERT_INT_EQ(start_titles(&s, NULL), 0);
    resp r;
    char row[300], body[600];
    long long now = (long long)time(NULL);
    /* not yet available (from in an hour): on no page, similar 404, GET says so */
    snprintf(body, sizeof body, "{\"name\":\"Coming Soon\",\"genres\":[\"Animation\",\"Children\"],"
                                "\"available_from\":%lld}", now + 3600);
    ASSERT_INT_EQ(put_title(s.port, "soon", body, KEY, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT(strstr(r.body, "\"available\":false") != NULL);
    resp_free(&r);
    ASSERT_INT_EQ(page_row(s.port, "cold-a", "soon", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "");
    animation_fan(s.port, "fan-a");
    ASSERT_INT_EQ(page_row(s.port, "fan-a", "soon", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "");
    ASSERT_INT_EQ(list_has(s.port, "/v1/members/fan-a/recommendations?n=50", "soon"), 0);
    ASSERT_INT_EQ(http(s.port, "GET", "/v1/titles/soon/similar", NULL, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 404);
    resp_free(&r);
    /* the window now open (ISO-8601 times): shown */
    ASSERT_INT_EQ(put_title(s.port, "soon", "{\"name\":\"Coming Soon\",\"genres\":[\"Animation\",\"Children\"],"
                                            "\"available_from\":\"2020-01-01\",\"available_until\":\"2100-01-01T00:00:00Z\"}",
                            KEY, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    ASSERT_INT_EQ(page_row(s.port, "cold-a", "soon", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "new_releases");
    /* a model title whose window has closed: on no page, in no recommendations or similar list */
    ASSERT_INT_EQ(list_has(s.port, "/v1/titles/3114/similar?n=200", "1"), 1);   /* Toy Story 2 ~ Toy Story */
    ASSERT_INT_EQ(post(s.port, KEY, "{\"member\":\"fan-c\",\"title\":\"1\",\"value\":6000}", &r), 0);
    resp_free(&r);
    int st;
    cJSON *pg = get_json(s.port, "/v1/members/fan-c/homepage?rows=20", &st);
    ASSERT(pg && find_row(pg, "because_you_watched:1"));
    cJSON_Delete(pg);
    snprintf(body, sizeof body, "{\"name\":\"Toy Story\",\"year\":1995,\"genres\":[\"Adventure\",\"Animation\","
                                "\"Children\",\"Comedy\",\"Fantasy\"],\"available_until\":%lld}", now - 60);
    ASSERT_INT_EQ(put_title(s.port, "1", body, KEY, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    ASSERT_INT_EQ(list_has(s.port, "/v1/titles/3114/similar?n=200", "1"), 0);
    ASSERT_INT_EQ(page_row(s.port, "cold-b", "1", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "");
    ASSERT_INT_EQ(post(s.port, KEY, "{\"member\":\"fan-b\",\"title\":\"3114\",\"value\":6000}", &r), 0);
    resp_free(&r);
    ASSERT_INT_EQ(page_row(s.port, "fan-b", "1", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "");
    ASSERT_INT_EQ(list_has(s.port, "/v1/members/fan-b/recommendations?n=200", "1"), 0);
    pg = get_json(s.port, "/v1/members/fan-c/homepage?rows=20", &st);    /* no row names it either */
    ASSERT(pg && st == 200 && !find_row(pg, "because_you_watched:1"));
    cJSON_Delete(pg);
    /* DELETE withdraws: gone from pages; events naming it 404; a second DELETE 404 */
    ASSERT_INT_EQ(http(s.port, "DELETE", "/v1/titles/soon", KEY, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT(strstr(r.body, "\"withdrawn\":true") != NULL);
    resp_free(&r);
    ASSERT_INT_EQ(page_row(s.port, "cold-a", "soon", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "");
    ASSERT_INT_EQ(post(s.port, KEY, "{\"member\":\"x\",\"title\":\"soon\",\"value\":60}", &r), 0);
    ASSERT_INT_EQ(r.status, 404);
    ASSERT(strstr(r.body, "withdrawn") != NULL);
    resp_free(&r);
    ASSERT_INT_EQ(http(s.port, "DELETE", "/v1/titles/soon", KEY, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 404);
    resp_free(&r);
    ASSERT_INT_EQ(http(s.port, "DELETE", "/v1/titles/no-such-title", KEY, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 404);
    resp_free(&r);
    /* a put brings it back */
    ASSERT_INT_EQ(put_title(s.port, "soon", "{\"name\":\"Back Again\",\"genres\":[\"Animation\"]}", KEY, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT(strstr(r.body, "\"created\":true") != NULL);
    resp_free(&r);
    ASSERT_INT_EQ(page_row(s.port, "cold-a", "soon", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "new_releases");
    stop_server(&s, SIGTERM);
}

MQ_TEST(serve_titles_bad_bodies_and_auth)
{
    if (access("data/ml-latest-small/ratings.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small not here");
    server s;
    ASSERT_INT_EQ(start_titles(&s, NULL), 0);
    static const struct { const char *body, *says; } bad[] = {
        {"", "empty body"},
        {"{\"name\":\"A\"} x", "text after the JSON"},
        {"[\"A\"]", "JSON object"},
        {"{\"year\":2000}", "field 'name' is missing"},
        {"{\"name\":\"\"}", "field 'name'"},
        {"{\"name\":7}", "field 'name'"},
        {"{\"name\":\"A\",\"colour\":\"red\"}", "field 'colour'"},
        {"{\"name\":\"A\",\"year\":\"1999\"}", "field 'year': '1999'"},
        {"{\"name\":\"A\",\"year\":1999.5}", "field 'year': '1999.5'"},
        {"{\"name\":\"A\",\"year\":99999}", "field 'year': '99999'"},
        {"{\"name\":\"A\",\"genres\":\"Drama\"}", "field 'genres'"},
        {"{\"name\":\"A\",\"genres\":[\"Drama\",\"drama\"]}", "field 'genres[1]': 'drama' is listed twice"},
        {"{\"name\":\"A\",\"genres\":[\"Dra|ma\"]}", "field 'genres[0]': 'Dra|ma'"},
        {"{\"name\":\"A\",\"tags\":[3]}", "field 'tags[0]'"},
        {"{\"name\":\"A\",\"artwork\":[{\"id\":\"x\",\"features\":[\"Dark\"]}]}", "field 'artwork[0].features[0]': 'Dark'"},
        {"{\"name\":\"A\",\"artwork\":[{\"id\":\"x\",\"size\":3}]}", "field 'artwork[0].size'"},
        {"{\"name\":\"A\",\"available_from\":\"tomorrow\"}", "field 'available_from': 'tomorrow'"},
        {"{\"name\":\"A\",\"available_until\":-5}", "field 'available_until': '-5'"},
        {"{\"name\":\"A\",\"available_from\":\"2030-01-01\",\"available_until\":\"2020-01-01\"}", "field 'available_until'"},
        {"{\"name\":\"A\\u0000B\"}", "malformed JSON"},
    };
    resp r;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ASSERT_INT_EQ(put_title(s.port, "bad-1", bad[i].body, KEY, &r), 0);
        if (r.status != 400 || !strstr(r.body, bad[i].says))
            fprintf(stderr, "body %s -> %d %s\n", bad[i].body, r.status, r.body);
        ASSERT_INT_EQ(r.status, 400);
        ASSERT(strstr(r.body, bad[i].says) != NULL);
        resp_free(&r);
    }
    /* nothing of them was logged: the title does not exist */
    ASSERT_INT_EQ(http(s.port, "GET", "/v1/titles/bad-1", NULL, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 404);
    resp_free(&r);
    /* writes need the key (decided on the headers); other methods are 405 */
    ASSERT_INT_EQ(put_title(s.port, "t-401", "{\"name\":\"A\"}", NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 401);
    resp_free(&r);
    ASSERT_INT_EQ(put_title(s.port, "t-401", "{\"name\":\"A\"}", "wrong-key-000", &r), 0);
    ASSERT_INT_EQ(r.status, 401);
    resp_free(&r);
    ASSERT_INT_EQ(http(s.port, "DELETE", "/v1/titles/1", NULL, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 401);
    resp_free(&r);
    ASSERT_INT_EQ(http(s.port, "POST", "/v1/titles/1", KEY, "{}", &r), 0);
    ASSERT_INT_EQ(r.status, 405);
    resp_free(&r);
    char big[400];
    memset(big, 'x', 300);
    big[300] = 0;
    char path[500];
    snprintf(path, sizeof path, "/v1/titles/%s", big);
    ASSERT_INT_EQ(http(s.port, "PUT", path, KEY, "{\"name\":\"A\"}", &r), 0);
    ASSERT_INT_EQ(r.status, 400);
    resp_free(&r);
    stop_server(&s, SIGTERM);
}

MQ_TEST(serve_titles_survive_kill9_restart_and_reload)
{
    if (access("data/ml-latest-small/ratings.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small not here");
    server s;
    ASSERT_INT_EQ(start_titles(&s, NULL), 0);
    char dir[512], row[300];
    snprintf(dir, sizeof dir, "%s", s.dir);
    resp r;
    ASSERT_INT_EQ(put_title(s.port, "keep-1", NEW_TOON, KEY, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    ASSERT_INT_EQ(put_title(s.port, "keep-2", "{\"name\":\"Second\",\"genres\":[\"Drama\"]}", KEY, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    ASSERT_INT_EQ(http(s.port, "DELETE", "/v1/titles/keep-2", KEY, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    ASSERT_INT_EQ(post(s.port, KEY, "{\"member\":\"k9\",\"title\":\"keep-1\",\"value\":900}", &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    /* kill -9 right after the answers: everything acknowledged is back */
    stop_server(&s, SIGKILL);
    ASSERT_INT_EQ(start_titles(&s, dir), 0);
    ASSERT_INT_EQ(http(s.port, "GET", "/v1/titles/keep-1", NULL, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT(strstr(r.body, "Brand New Toon") != NULL);
    resp_free(&r);
    ASSERT_INT_EQ(http(s.port, "GET", "/v1/titles/keep-2", NULL, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT(strstr(r.body, "\"withdrawn\":true") != NULL);
    resp_free(&r);
    ASSERT_INT_EQ(page_row(s.port, "cold-k", "keep-1", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "new_releases");
    ASSERT_INT_EQ(page_row(s.port, "k9", "keep-1", row, sizeof row), 0);   /* the store replayed its event */
    ASSERT_STR_EQ(row, "continue_watching");
    /* a reload keeps the added titles */
    ASSERT_INT_EQ(http(s.port, "POST", "/v1/admin/reload", KEY, "", &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    ASSERT_INT_EQ(page_row(s.port, "cold-k", "keep-1", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "new_releases");
    ASSERT_INT_EQ(post(s.port, KEY, "{\"member\":\"k10\",\"title\":\"keep-1\",\"value\":60}", &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    stop_server(&s, SIGTERM);
}

static long fsize(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

MQ_TEST(serve_titles_torn_catalog_tail)
{
    if (access("data/ml-latest-small/ratings.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small not here");
    server s;
    ASSERT_INT_EQ(start_titles(&s, NULL), 0);
    char dir[512], seg[700];
    snprintf(dir, sizeof dir, "%s", s.dir);
    snprintf(seg, sizeof seg, "%s/catalog/%020d.log", dir, 1);
    resp r;
    ASSERT_INT_EQ(put_title(s.port, "torn-1", "{\"name\":\"First\",\"genres\":[\"Drama\"]}", KEY, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    long one = fsize(seg);
    ASSERT_INT_EQ(put_title(s.port, "torn-2", "{\"name\":\"Second\",\"genres\":[\"Drama\"]}", KEY, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    long two = fsize(seg);
    ASSERT(one > 16 && two > one);
    stop_server(&s, SIGKILL);
    /* the second record cut in the middle (a crash mid-write): start-up cuts it */
    ASSERT_INT_EQ(truncate(seg, one + (two - one) / 2), 0);
    ASSERT_INT_EQ(start_titles(&s, dir), 0);
    ASSERT_INT_EQ(http(s.port, "GET", "/v1/titles/torn-1", NULL, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    ASSERT_INT_EQ(http(s.port, "GET", "/v1/titles/torn-2", NULL, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 404);
    resp_free(&r);
    ASSERT_INT_EQ(fsize(seg), one);
    /* the log goes on after the cut */
    ASSERT_INT_EQ(put_title(s.port, "torn-3", "{\"name\":\"Third\"}", KEY, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    stop_server(&s, SIGTERM);
    /* zeros from inside the last record to the end (a file extended before its data landed) */
    long three = fsize(seg);
    ASSERT_INT_EQ(mq_test_sh("dd if=/dev/zero of=%s bs=1 seek=%ld count=%ld conv=notrunc 2>/dev/null", seg,
                             one + 5, three - one - 5 + 300), 0);
    ASSERT_INT_EQ(start_titles(&s, dir), 0);
    ASSERT_INT_EQ(http(s.port, "GET", "/v1/titles/torn-1", NULL, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 200);
    resp_free(&r);
    ASSERT_INT_EQ(http(s.port, "GET", "/v1/titles/torn-3", NULL, NULL, &r), 0);
    ASSERT_INT_EQ(r.status, 404);
    resp_free(&r);
    stop_server(&s, SIGTERM);
    /* a damaged record followed by a good one is not a torn tail: start-up refuses, naming it */
    ASSERT_INT_EQ(start_titles(&s, dir), 0);
    ASSERT_INT_EQ(put_title(s.port, "torn-4", "{\"name\":\"Fourth\"}", KEY, &r), 0);
    resp_free(&r);
    stop_server(&s, SIGTERM);
    ASSERT_INT_EQ(mq_test_sh("printf 'X' | dd of=%s bs=1 seek=30 conv=notrunc 2>/dev/null", seg), 0);
    ASSERT(start_titles(&s, dir) != 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q 'CRC-32C mismatch' %s/log.txt", dir), 0);
}

MQ_TEST(serve_titles_windows_follow_the_server_clock)
{
    if (access("data/ml-latest-small/ratings.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small not here");
    /* --clock offset: "now" is the demo data's last event (September 2018) */
    server s;
    char d[512], flags[1200], row[300];
    snprintf(d, sizeof d, "%s", mq_test_tmpdir());
    snprintf(flags, sizeof flags, "%s --clock offset", catalog_flags(d));
    ASSERT_INT_EQ(start_server(&s, d, flags), 0);
    resp r;
    const char *later = "{\"name\":\"From 2020\",\"genres\":[\"Comedy\"],\"available_from\":\"2020-01-01\"}";
    const char *earlier = "{\"name\":\"Until 2019\",\"genres\":[\"Comedy\"],\"available_until\":\"2019-01-01\"}";
    ASSERT_INT_EQ(put_title(s.port, "from-2020", later, KEY, &r), 0);
    ASSERT(r.status == 200 && strstr(r.body, "\"available\":false"));
    resp_free(&r);
    ASSERT_INT_EQ(put_title(s.port, "until-2019", earlier, KEY, &r), 0);
    ASSERT(r.status == 200 && strstr(r.body, "\"available\":true"));
    resp_free(&r);
    ASSERT_INT_EQ(page_row(s.port, "clock-m", "from-2020", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "");
    ASSERT_INT_EQ(page_row(s.port, "clock-m", "until-2019", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "new_releases");
    stop_server(&s, SIGTERM);
    /* the wall clock (2026): the other way round */
    ASSERT_INT_EQ(start_titles(&s, d), 0);
    ASSERT_INT_EQ(page_row(s.port, "clock-m", "from-2020", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "new_releases");
    ASSERT_INT_EQ(page_row(s.port, "clock-m", "until-2019", row, sizeof row), 0);
    ASSERT_STR_EQ(row, "");
    stop_server(&s, SIGTERM);
}

/* ---- the catalog view itself (titles.c), without a server ---- */

#include "serve/serve.h"

/* A PUT body copying title src's name, genres and tags from catalog c. */
static void twin_body(const mq_catalog *c, int32_t src, mq_buf *b)
{
    mq_buf_puts(b, "{\"name\":\"Twin\",\"genres\":[");
    int k = 0;
    for (int g = 0; g < c->n_genres; g++)
        if (c->genres[src] >> g & 1) {
            if (k++) mq_buf_putc(b, ',');
            mq_buf_json_str(b, c->genre_names[g], strlen(c->genre_names[g]));
        }
    mq_buf_puts(b, "],\"tags\":[");
    for (int64_t q = c->tag_ptr[src]; q < c->tag_ptr[src + 1]; q++) {
        if (q > c->tag_ptr[src]) mq_buf_putc(b, ',');
        const char *t = c->tag_names[c->tag_ids[q]];
        mq_buf_json_str(b, t, strlen(t));
    }
    mq_buf_puts(b, "]}");
}

MQ_TEST(serve_titles_view_cold_scores_and_windows)
{
    if (access("data/ml-latest-small/ratings.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small not here");
    mq_load_opts lo; mq_load_opts_init(&lo, sizeof lo);
    mq_dataset *raw = NULL, *d = NULL;
    mq_err err;
    ASSERT_OK(mq_data_open("data/ml-latest-small", &lo, &raw, &err), &err);
    ASSERT_OK(mq_dataset_binarize(raw, 4, 1, &d, &err), &err);
    mq_dataset_destroy(raw);
    mq_train_opts o; mq_train_opts_init(&o, sizeof o);
    o.n_threads = 1; o.seed = 1;
    mq_model *content = NULL, *pop = NULL;
    ASSERT_OK(mq_model_train("content", d, &o, &content, &err), &err);
    ASSERT_OK(mq_model_train("pop", d, &o, &pop, &err), &err);
    int32_t n = mq_model_n_titles(content);
    const char **ids = malloc((size_t)n * sizeof *ids);
    for (int32_t t = 0; t < n; t++) ids[t] = mq_model_title_id(content, t);
    const mq_catalog *mc = mq_model_catalog(content);
    /* a title with a few short tags to copy */
    int32_t src = -1;
    for (int32_t t = 0; t < n && src < 0; t++) {
        bool ok = mc->tag_ptr[t + 1] - mc->tag_ptr[t] >= 3 && mc->genres[t];
        for (int64_t q = mc->tag_ptr[t]; ok && q < mc->tag_ptr[t + 1]; q++)
            ok = strlen(mc->tag_names[mc->tag_ids[q]]) <= 64;
        if (ok) src = t;
    }
    ASSERT(src >= 0);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/catalog", mq_test_tmpdir());
    mq__titles *c = NULL;
    ASSERT_OK(mq__titles_open(dir, NULL, &c, &err), &err);
    mq_buf b;
    mq_buf_init(&b);
    twin_body(mc, src, &b);
    ASSERT_OK(mq__titles_put(c, "twin", b.p, b.len, mc, 100, &err), &err);
    mq_buf_release(&b);
    const char *win = "{\"name\":\"Window\",\"genres\":[\"Horror\",\"New Genre\"],\"available_from\":1000,\"available_until\":2000}";
    ASSERT_OK(mq__titles_put(c, "win", win, strlen(win), mc, 200, &err), &err);
    ASSERT_OK(mq__titles_delete(c, ids[5], &err), &err);
    /* the content path: the twin scores exactly like src (on a [0, 1] scale: lo 0, hi 1) */
    mq__tview *v = NULL;
    ASSERT_OK(mq__tview_build(c, content, ids, n, NULL, NULL, &v, &err), &err);
    ASSERT(mq__tview_content(v));
    ASSERT_INT_EQ(mq__tview_n(v), n + 2);
    int32_t tw = mq__tview_find(v, "twin"), tn = mq__tview_find(v, "win");
    ASSERT_INT_EQ(tw, n);
    ASSERT_INT_EQ(tn, n + 1);
    ASSERT_INT_EQ(mq__tview_find(v, ids[0]), -1);         /* model titles are the model's */
    float *s = malloc((size_t)(n + 2) * sizeof *s), *ref = malloc((size_t)n * sizeof *ref);
    for (int32_t u = 0; u < 20; u++) {
        const int32_t *h = d->m_idx + d->m_ptr[u];
        int nh = (int)(d->m_ptr[u + 1] - d->m_ptr[u]);
        ASSERT_OK(mq_model_score(content, h, NULL, nh, ref, &err), &err);
        ASSERT_OK(mq__tview_cold(v, h, nh, NULL, 0, 0.0f, 1.0f, s, &err), &err);
        ASSERT_NEAR(s[tw], ref[src], 1e-6);     /* float32 rounding of a cosine in [0, 1] */
    }
    /* the placement on the member's scale: lo + c (hi - lo) */
    const int32_t *h0 = d->m_idx + d->m_ptr[0];
    int nh0 = (int)(d->m_ptr[1] - d->m_ptr[0]);
    ASSERT_OK(mq_model_score(content, h0, NULL, nh0, ref, &err), &err);
    ASSERT_OK(mq__tview_cold(v, h0, nh0, NULL, 0, 2.0f, 6.0f, s, &err), &err);
    ASSERT_NEAR(s[tw], 2.0 + 4.0 * ref[src], 4e-6);
    /* windows [1000, 2000) and the withdrawn model title */
    ASSERT(!mq__tview_shown(v, tn, 999) && mq__tview_shown(v, tn, 1000) && mq__tview_shown(v, tn, 1999) &&
           !mq__tview_shown(v, tn, 2000));
    ASSERT(mq__tview_withdrawn(v, 5) && !mq__tview_shown(v, 5, 1500) && mq__tview_shown(v, tw, 0));
    int32_t hid[8];
    ASSERT_INT_EQ(mq__tview_hidden(v, 1500, hid), 1);
    ASSERT_INT_EQ(hid[0], 5);
    ASSERT_INT_EQ(mq__tview_hidden(v, 2500, hid), 2);
    /* New Releases leads with the added titles, newest put first */
    const mq_page_catalog *pc = mq__tview_pc(v);
    ASSERT(pc->n_new >= 2 && pc->new_order[0] == tn && pc->new_order[1] == tw && pc->fresh && pc->fresh[tw] == 1);
    mq__tview_destroy(v);
    /* the genre fallback (pop has no content part): cos(member's genre mix, the title's genres) */
    ASSERT_OK(mq__tview_build(c, pop, ids, n, NULL, NULL, &v, &err), &err);
    ASSERT(!mq__tview_content(v));
    mq_page_hist hist[2] = {{.title = src, .weight = 1.0f}, {.title = tn, .weight = 0.5f}};
    ASSERT_OK(mq__tview_cold(v, NULL, 0, hist, 2, 0.0f, 1.0f, s, &err), &err);
    double mix[64] = {0}, nrm = 0, dot = 0;
    int k = __builtin_popcountll(mc->genres[src]);
    for (int g = 0; g < 64; g++) if (mc->genres[src] >> g & 1) mix[g] += 1.0 / k;
    /* "win" has Horror (a model genre) and a genre the model never saw (a new bit) */
    const mq_page_catalog *pc2 = mq__tview_pc(v);
    uint64_t wg = pc2->catalog->genres[tn];
    ASSERT_INT_EQ(__builtin_popcountll(wg), 2);
    for (int g = 0; g < 64; g++) if (wg >> g & 1) mix[g] += 0.5 / 2;
    for (int g = 0; g < 64; g++) nrm += mix[g] * mix[g];
    for (int g = 0; g < 64; g++) if (wg >> g & 1) dot += mix[g];
    ASSERT_NEAR(s[tn], dot / (sqrt(nrm) * sqrt(2.0)), 1e-6);
    uint64_t twg = pc2->catalog->genres[tw];
    dot = 0;
    for (int g = 0; g < 64; g++) if (twg >> g & 1) dot += mix[g];
    ASSERT_NEAR(s[tw], dot / (sqrt(nrm) * sqrt((double)__builtin_popcountll(twg))), 1e-6);
    mq__tview_destroy(v);
    /* the log replays to the same state */
    mq__titles_close(c);
    ASSERT_OK(mq__titles_open(dir, NULL, &c, &err), &err);
    uint64_t recs;
    ASSERT_INT_EQ(mq__titles_count(c, &recs), 3);
    ASSERT_INT_EQ((int)recs, 3);
    ASSERT_OK(mq__tview_build(c, pop, ids, n, NULL, NULL, &v, &err), &err);
    ASSERT_INT_EQ(mq__tview_find(v, "win"), n + 1);
    ASSERT(mq__tview_withdrawn(v, 5));
    mq__tview_destroy(v);
    mq__titles_close(c);
    free(s);
    free(ref);
    free(ids);
    mq_model_destroy(content);
    mq_model_destroy(pop);
    mq_dataset_destroy(d);
}

/* ---- pages never wait on or fail from catalog writes ---- */

#include <pthread.h>
#include <stdatomic.h>

typedef struct hammer { int port; atomic_bool stop; int pages, failed; } hammer;

static void *hammer_main(void *arg)
{
    hammer *h = arg;
    while (!atomic_load(&h->stop)) {
        resp r;
        char path[100];
        snprintf(path, sizeof path, "/v1/members/%d/homepage", 1 + h->pages % 50);
        int rc = http(h->port, "GET", path, NULL, NULL, &r);
        h->pages++;
        if (rc || r.status != 200) {
            h->failed++;
            fprintf(stderr, "page %s: %d %.200s\n", path, rc ? -1 : r.status, rc ? "" : r.body);
        }
        resp_free(&r);
    }
    return NULL;
}

MQ_TEST(serve_titles_writes_under_page_load)
{
    if (access("data/ml-latest-small/ratings.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small not here");
    server s;
    char d[512], flags[1200];
    snprintf(d, sizeof d, "%s", mq_test_tmpdir());
    /* no shedding: on a loaded machine (or under ASan) a page may wait over 250 ms for a
     * thread, which is overload, not what this test is about */
    snprintf(flags, sizeof flags, "%s --shed-queue-ms -1", catalog_flags(d));
    ASSERT_INT_EQ(start_server(&s, d, flags), 0);
    hammer h = {.port = s.port};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) ASSERT_INT_EQ(pthread_create(&th[i], NULL, hammer_main, &h), 0);
    resp r;
    int bad = 0;
    for (int i = 0; i < 30; i++) {
        char id[40], body[200];
        snprintf(id, sizeof id, "load-%d", i % 10);
        snprintf(body, sizeof body, "{\"name\":\"Load %d\",\"genres\":[\"Drama\",\"Genre %d\"]}", i, i % 3);
        if (put_title(s.port, id, body, KEY, &r) || r.status != 200) bad++;
        resp_free(&r);
        if (i % 4 == 3) {
            char path[80];
            snprintf(path, sizeof path, "/v1/titles/%s", id);
            if (http(s.port, "DELETE", path, KEY, NULL, &r) || r.status != 200) bad++;
            resp_free(&r);
        }
    }
    atomic_store(&h.stop, true);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    fprintf(stderr, "titles under load: %d pages, %d failed; %d failed writes\n", h.pages, h.failed, bad);
    ASSERT_INT_EQ(bad, 0);
    ASSERT_INT_EQ(h.failed, 0);
    ASSERT(h.pages > 10);
    stop_server(&s, SIGTERM);
}

/* The artwork a page serves is the artwork GET /v1/titles/{id} and the batch GET /v1/titles
 * list (the console's per-card tags): the dataset's variants with their features, not the
 * model's catalog (which has none); the batch names unknown ids and refuses bad parameters. */
MQ_TEST(serve_titles_batch_and_served_artwork)
{
    if (access("data/ml-latest-small/artwork.csv", R_OK) != 0) MQ_SKIP("data/ml-latest-small/artwork.csv not here");
    server s;
    ASSERT_INT_EQ(start_titles(&s, NULL), 0);
    int st;
    cJSON *p = get_json(s.port, "/v1/members/1/homepage", &st);
    ASSERT(p && st == 200);
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "rows"), 0), "titles"), 0);
    ASSERT(t && cJSON_IsString(cJSON_GetObjectItem(t, "artwork")));
    char id[300], art[300], path[700];
    snprintf(id, sizeof id, "%s", cJSON_GetObjectItem(t, "id")->valuestring);
    snprintf(art, sizeof art, "%s", cJSON_GetObjectItem(t, "artwork")->valuestring);
    cJSON_Delete(p);
    /* the single title: its variants include the one served, with features */
    snprintf(path, sizeof path, "/v1/titles/%s", id);
    p = get_json(s.port, path, &st);
    ASSERT(p && st == 200);
    int found = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(p, "artwork"))
        found += !strcmp(cJSON_GetObjectItem(a, "id")->valuestring, art) && cJSON_GetArraySize(cJSON_GetObjectItem(a, "features")) > 0;
    cJSON_Delete(p);
    if (found != 1) MQ_FAIL_("GET %s does not list the served artwork %s with features", path, art);
    /* the batch, artwork only */
    snprintf(path, sizeof path, "/v1/titles?fields=artwork&ids=%s,no-such-title", id);
    p = get_json(s.port, path, &st);
    ASSERT(p && st == 200);
    const cJSON *ts = cJSON_GetObjectItem(p, "titles"), *miss = cJSON_GetObjectItem(p, "missing");
    ASSERT_INT_EQ(cJSON_GetArraySize(ts), 1);
    ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(ts, 0), "id")->valuestring, id);
    ASSERT(!cJSON_GetObjectItem(cJSON_GetArrayItem(ts, 0), "name"));
    found = 0;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(cJSON_GetArrayItem(ts, 0), "artwork"))
        found += !strcmp(cJSON_GetObjectItem(a, "id")->valuestring, art);
    ASSERT_INT_EQ(found, 1);
    ASSERT(cJSON_GetArraySize(miss) == 1 && !strcmp(cJSON_GetArrayItem(miss, 0)->valuestring, "no-such-title"));
    cJSON_Delete(p);
    /* whole titles without fields= */
    snprintf(path, sizeof path, "/v1/titles?ids=%s", id);
    p = get_json(s.port, path, &st);
    ASSERT(p && st == 200 && cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "titles"), 0), "name"));
    cJSON_Delete(p);
    /* bad parameters: 400 naming them */
    resp r;
    ASSERT_INT_EQ(http(s.port, "GET", "/v1/titles", NULL, NULL, &r), 0);
    ASSERT(r.status == 400 && strstr(r.body, "'ids'"));
    resp_free(&r);
    ASSERT_INT_EQ(http(s.port, "GET", "/v1/titles?ids=1&fields=poster", NULL, NULL, &r), 0);
    ASSERT(r.status == 400 && strstr(r.body, "'fields': 'poster'"));
    resp_free(&r);
    ASSERT_INT_EQ(http(s.port, "GET", "/v1/titles?ids=1,,2", NULL, NULL, &r), 0);
    ASSERT(r.status == 400 && strstr(r.body, "id 2"));
    resp_free(&r);
    mq_buf many;
    mq_buf_init(&many);
    mq_buf_puts(&many, "/v1/titles?ids=1");
    for (int i = 0; i < 1000; i++) mq_buf_puts(&many, ",1");
    ASSERT_INT_EQ(http(s.port, "GET", mq_buf_cstr(&many), NULL, NULL, &r), 0);
    ASSERT(r.status == 400 && strstr(r.body, "more than 1000 ids"));
    resp_free(&r);
    mq_buf_release(&many);
    ASSERT_INT_EQ(http(s.port, "POST", "/v1/titles?ids=1", KEY, "{}", &r), 0);
    ASSERT_INT_EQ(r.status, 405);
    resp_free(&r);
    stop_server(&s, SIGTERM);
}
