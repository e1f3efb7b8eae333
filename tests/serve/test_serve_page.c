/* test_serve_page.c: the homepage rules on a small hand-built catalog with a scoring callback
 * (no trained model needed): no duplicates, seen/finished/excluded titles absent, Continue
 * Watching first, Because You Watched seeded by distinct titles, genre filter, cold start,
 * MMR diversity, and the JSON shape. */
#include "../test.h"
#include "serve/serve.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

enum { NT = 300, NG = 6 };

typedef struct fixture {
    mq_catalog cat;
    char *ids[NT];
    float pop[NT], trend[NT], scores[NT];
    mq_page_catalog pc;
} fixture;

static int sim_cb(void *user, int32_t t, int n, int32_t *out, float *score)
{
    (void)user;
    int m = 0;
    for (int d = 1; m < n && d < NT; d++) {
        if (t + d < NT) { out[m] = t + d; score[m++] = 1.0f / (float)(1 + d); }
        if (m < n && t - d >= 0) { out[m] = t - d; score[m++] = 1.0f / (float)(1 + d); }
    }
    return m;
}

static const char *gnames[NG] = {"Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi"};

static int fixture_init(fixture *f, mq_err *err)
{
    memset(f, 0, sizeof *f);
    int rc = mq_catalog_init(&f->cat, NT);
    if (rc) return rc;
    f->cat.n_genres = NG;
    for (int g = 0; g < NG; g++) f->cat.genre_names[g] = strdup(gnames[g]);
    mq_rng r;
    mq_rng_seed(&r, 7);
    for (int t = 0; t < NT; t++) {
        char b[32];
        snprintf(b, sizeof b, "Title %d", t);
        f->cat.names[t] = strdup(b);
        f->cat.years[t] = 1990 + t % 31;
        f->cat.genres[t] = (1ull << (t % NG)) | (t % 7 == 0 ? 1ull << ((t / 7) % NG) : 0);
        snprintf(b, sizeof b, "t%d", t);
        f->ids[t] = strdup(b);
        f->pop[t] = (float)(1.0 / (1 + t));                   /* t0 most popular */
        f->trend[t] = (float)mq_rng_uniform(&r);
        f->scores[t] = (float)mq_rng_normal(&r);
    }
    rc = mq_page_catalog_init(&f->pc, NT, &f->cat, (const char *const *)f->ids, f->pop, f->trend, err);
    f->pc.similar = sim_cb;
    return rc;
}

static void fixture_release(fixture *f)
{
    mq_page_catalog_release(&f->pc);
    for (int t = 0; t < NT; t++) free(f->ids[t]);
    mq_catalog_release(&f->cat);
}

static int row_index(const mq_page *p, const char *id)
{
    for (int r = 0; r < p->n_rows; r++)
        if (!strcmp(p->rows[r].id, id)) return r;
    return -1;
}

MQ_TEST(serve_page_rules)
{
    fixture *f = malloc(sizeof *f);
    mq_err err;
    ASSERT_OK(fixture_init(f, &err), &err);
    /* history: 10, 50 finished; 120 in progress (most recent); 200 disliked; 30 liked earlier */
    mq_page_hist h[] = {
        {10, 1000, 0, 1, true, false},   {50, 2000, 0, 1, true, false},
        {120, 3000, 600, 1, false, true}, {200, 2500, 0, -1, true, false},
        {30, 500, 0, 1, true, false},
    };
    int32_t excl[] = {11, 49, 0};
    mq_page_req req; mq_page_req_init(&req, sizeof req);
    req.rows = 12; req.per_row = 10; req.mmr_lambda = 1; req.genre = -1; req.exclude = excl;
    req.n_exclude = 3; req.hour = -1;
    mq_page_ctx *c = mq_page_ctx_create();
    const mq_page *p;
    ASSERT_OK(mq_page_build(c, &f->pc, f->scores, h, 5, &req, &p, &err), &err);
    ASSERT(p->n_rows >= 8);
    ASSERT(p->n_rows <= 12);
    ASSERT_STR_EQ(p->rows[0].id, "continue_watching");
    ASSERT_INT_EQ(p->rows[0].n, 1);
    ASSERT_INT_EQ(p->titles[0], 120);
    ASSERT_STR_EQ(p->evidence[0], "Resume: 10 min watched");
    ASSERT(row_index(p, "top_picks") >= 0);
    /* seeds: the liked titles, most recent first; the disliked one never seeds */
    ASSERT(row_index(p, "because_you_watched:t50") >= 0);
    ASSERT(row_index(p, "because_you_watched:t200") < 0);
    int byw = row_index(p, "because_you_watched:t50");
    ASSERT_STR_EQ(p->rows[byw].name, "Because You Watched Title 50");
    ASSERT_STR_EQ(p->evidence[p->rows[byw].first], "Because you watched Title 50");
    int seen[NT] = {0}, total = 0;
    for (int r = 0; r < p->n_rows; r++) {
        ASSERT(p->rows[r].n <= 10);
        ASSERT(p->rows[r].n >= 1);
        for (int r2 = 0; r2 < r; r2++) ASSERT(strcmp(p->rows[r].id, p->rows[r2].id) != 0);
        for (int k = p->rows[r].first; k < p->rows[r].first + p->rows[r].n; k++) {
            int32_t t = p->titles[k];
            ASSERT(t >= 0 && t < NT);
            ASSERT_INT_EQ(seen[t], 0);              /* no title twice on the page */
            seen[t] = 1;
            total++;
            ASSERT(p->scores[k] >= 0 && p->scores[k] <= 1);
            ASSERT(p->evidence[k] && p->evidence[k][0]);
            if (r > 0) ASSERT(t != 120);            /* in progress: only in CW */
        }
    }
    ASSERT(!seen[10] && !seen[50] && !seen[200] && !seen[30]);
    ASSERT(!seen[11] && !seen[49] && !seen[0]);
    ASSERT(total >= 8 * 10 - 9);

    /* greedy: rows come in decreasing utility after CW, and the same kind is penalized, so
     * not all Because You Watched rows can be on top */
    int first_byw = -1;
    for (int r = 1; r < p->n_rows; r++)
        if (!strncmp(p->rows[r].id, "because_you_watched:", 20)) { first_byw = r; break; }
    ASSERT(first_byw > 0);

    /* genre filter */
    req.genre = 1;
    req.n_exclude = 0;
    ASSERT_OK(mq_page_build(c, &f->pc, f->scores, h, 5, &req, &p, &err), &err);
    ASSERT(p->n_rows >= 2);
    for (int r = 0; r < p->n_rows; r++) {
        if (!strncmp(p->rows[r].id, "genre:", 6)) ASSERT_STR_EQ(p->rows[r].id, "genre:Comedy");
        for (int k = p->rows[r].first; k < p->rows[r].first + p->rows[r].n; k++)
            ASSERT(f->cat.genres[p->titles[k]] & 2);
    }

    /* MMR: lower lambda gives a more varied top row (mean pairwise genre overlap) */
    double overlap[2];
    float *gs = malloc(NT * sizeof *gs);     /* the member loves Action: relevance follows genre */
    for (int t = 0; t < NT; t++) gs[t] = (t % NG == 0 ? 1.0f : 0.6f) + 0.001f * (float)(t % 17);
    for (int v = 0; v < 2; v++) {
        mq_page_req q; mq_page_req_init(&q, sizeof q);
        q.rows = 2; q.per_row = 20; q.mmr_lambda = v ? 0.3 : 1.0; q.genre = -1; q.hour = -1;
        ASSERT_OK(mq_page_build(c, &f->pc, gs, NULL, 0, &q, &p, &err), &err);
        int r = row_index(p, "top_picks");
        ASSERT(r >= 0);
        double s = 0;
        int m = 0;
        for (int i = p->rows[r].first; i < p->rows[r].first + p->rows[r].n; i++)
            for (int j = i + 1; j < p->rows[r].first + p->rows[r].n; j++, m++) {
                uint64_t a = f->cat.genres[p->titles[i]], b = f->cat.genres[p->titles[j]];
                s += (double)__builtin_popcountll(a & b) / __builtin_popcountll(a | b);
            }
        overlap[v] = s / m;
    }
    fprintf(stderr, "  top-row genre overlap: lambda 1: %.3f, lambda 0.3: %.3f\n", overlap[0], overlap[1]);
    free(gs);
    ASSERT(overlap[0] > 0.8);                 /* all Action at lambda 1 */
    ASSERT(overlap[1] < 0.7);                 /* mixed genres at lambda 0.3 */

    /* bad requests */
    req.rows = 0;
    ASSERT_INT_EQ(mq_page_build(c, &f->pc, f->scores, h, 5, &req, &p, &err), MQ_ERANGE);
    req.rows = 5;
    req.mmr_lambda = 1.5;
    ASSERT_INT_EQ(mq_page_build(c, &f->pc, f->scores, h, 5, &req, &p, &err), MQ_ERANGE);
    mq_page_ctx_destroy(c);
    fixture_release(f);
    free(f);
}

MQ_TEST(serve_page_cold_start_and_json)
{
    fixture *f = malloc(sizeof *f);
    mq_err err;
    ASSERT_OK(fixture_init(f, &err), &err);
    mq_page_ctx *c = mq_page_ctx_create();
    mq_page_req req; mq_page_req_init(&req, sizeof req);
    req.rows = 8; req.per_row = 12; req.mmr_lambda = 0.7; req.genre = -1; req.hour = 20;
    const mq_page *p;
    ASSERT_OK(mq_page_build(c, &f->pc, NULL, NULL, 0, &req, &p, &err), &err);
    ASSERT(p->cold);
    ASSERT(p->n_rows >= 5);
    ASSERT(row_index(p, "top_picks") < 0);
    ASSERT(row_index(p, "continue_watching") < 0);
    ASSERT(row_index(p, "popular") >= 0 || row_index(p, "trending") >= 0);
    int n_genre = 0;
    for (int r = 0; r < p->n_rows; r++)
        if (!strncmp(p->rows[r].id, "genre:", 6)) {
            n_genre++;
            char want[400];
            snprintf(want, sizeof want, "Popular in %s", p->rows[r].name);
            ASSERT_STR_EQ(p->evidence[p->rows[r].first], want);
        }
    ASSERT(n_genre >= 2);                        /* diverse genres on a cold page */
    int pop = row_index(p, "popular");
    if (pop >= 0) ASSERT_STR_EQ(p->evidence[p->rows[pop].first], "Popular on Marquee");

    mq_buf b;
    mq_buf_init(&b);
    mq_buf_putc(&b, '{');
    mq__page_json(p, &f->pc, &b);
    mq_buf_putc(&b, '}');
    cJSON *j = cJSON_ParseWithLength(b.p, b.len);
    ASSERT(j != NULL);
    cJSON *rows = cJSON_GetObjectItem(j, "rows");
    ASSERT(cJSON_IsArray(rows));
    ASSERT_INT_EQ(cJSON_GetArraySize(rows), p->n_rows);
    cJSON *r0 = cJSON_GetArrayItem(rows, 0);
    ASSERT(cJSON_IsString(cJSON_GetObjectItem(r0, "id")));
    ASSERT(cJSON_IsString(cJSON_GetObjectItem(r0, "name")));
    ASSERT(cJSON_IsString(cJSON_GetObjectItem(r0, "reason")));
    cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r0, "titles"), 0);
    ASSERT(cJSON_IsString(cJSON_GetObjectItem(t0, "id")));
    ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(t0, "year")));
    ASSERT(cJSON_IsArray(cJSON_GetObjectItem(t0, "genres")));
    ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(t0, "score")));
    ASSERT(cJSON_IsString(cJSON_GetObjectItem(t0, "evidence")));
    const char *tid = cJSON_GetObjectItem(t0, "id")->valuestring;
    ASSERT_STR_EQ(tid, f->ids[p->titles[p->rows[0].first]]);
    cJSON_Delete(j);
    mq_buf_release(&b);
    mq_page_ctx_destroy(c);
    fixture_release(f);
    free(f);
}
