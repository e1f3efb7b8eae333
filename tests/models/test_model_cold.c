/* test_model_cold.c: cold start for titles the model was not trained on (mq_model_cold_*,
 * src/models/model_content.c). The reference is the content model's own scoring, which
 * models_content_equals_numpy checks against numpy: a title appended to the catalog with the
 * metadata of a trained title must get exactly that title's content score for any history
 * (same TF-IDF vector, same profile), for a content model and for a hybrid's content part. */
#include "../test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* cat = the model's catalog plus n_copy titles whose genres and tags (by name, through a
 * shuffled tag-name table) copy titles src[0..n_copy), plus one title with only unknown
 * metadata. Returns the first appended index. */
static int32_t extend(const mq_catalog *mc, const int32_t *src, int n_copy, mq_catalog *cat)
{
    int32_t n0 = mc->n_titles, n = n0 + n_copy + 1;
    memset(cat, 0, sizeof *cat);
    cat->n_titles = n;
    cat->genres = calloc((size_t)n, sizeof *cat->genres);
    cat->n_genres = mc->n_genres + 1;
    /* the genre names in reverse order (bits differ from the model's, names match) */
    for (int g = 0; g < mc->n_genres; g++) cat->genre_names[g] = mc->genre_names[mc->n_genres - 1 - g];
    cat->genre_names[mc->n_genres] = "Never Seen Genre";
    /* the tag names reversed, plus one unknown */
    cat->n_tags = mc->n_tags + 1;
    cat->tag_names = malloc((size_t)cat->n_tags * sizeof *cat->tag_names);
    for (int32_t k = 0; k < mc->n_tags; k++) cat->tag_names[k] = mc->tag_names[mc->n_tags - 1 - k];
    cat->tag_names[mc->n_tags] = "never-seen-tag";
    int64_t cap = 16;
    for (int i = 0; i < n_copy; i++) cap += mc->tag_ptr[src[i] + 1] - mc->tag_ptr[src[i]];
    cat->tag_ptr = calloc((size_t)n + 1, sizeof *cat->tag_ptr);
    cat->tag_ids = malloc((size_t)cap * sizeof *cat->tag_ids);
    cat->tag_counts = malloc((size_t)cap * sizeof *cat->tag_counts);
    int64_t q = 0;
    for (int32_t t = n0; t < n; t++) {
        int i = t - n0;
        if (i < n_copy) {
            for (int g = 0; g < mc->n_genres; g++)
                if (mc->genres[src[i]] >> g & 1) cat->genres[t] |= (uint64_t)1 << (mc->n_genres - 1 - g);
            /* tags in reverse order: the vector must not depend on their order */
            for (int64_t e = mc->tag_ptr[src[i] + 1] - 1; e >= mc->tag_ptr[src[i]]; e--) {
                cat->tag_ids[q] = mc->n_tags - 1 - mc->tag_ids[e];
                cat->tag_counts[q++] = mc->tag_counts ? mc->tag_counts[e] : 1.0f;
            }
        } else {
            cat->genres[t] = (uint64_t)1 << mc->n_genres;
            cat->tag_ids[q] = mc->n_tags;
            cat->tag_counts[q++] = 1;
        }
        cat->tag_ptr[t + 1] = q;
    }
    for (int32_t t = 0; t <= n0; t++) cat->tag_ptr[t] = 0;
    return n0;
}

static void release(mq_catalog *cat)
{
    free(cat->genres);
    free(cat->tag_names);
    free(cat->tag_ptr);
    free(cat->tag_ids);
    free(cat->tag_counts);
}

MQ_TEST(models_cold_titles_score_like_their_twins)
{
    const char *path = mq_test_shared("ml-latest-small/ratings.csv");
    if (!path) MQ_SKIP("../shared/data/ml-latest-small is absent");
    char dirpath[1024];
    snprintf(dirpath, sizeof dirpath, "%s", path);
    *strrchr(dirpath, '/') = 0;
    mq_load_opts lo; mq_load_opts_init(&lo, sizeof lo);
    mq_dataset *raw = NULL, *d = NULL;
    mq_err err;
    ASSERT_OK(mq_data_open(dirpath, &lo, &raw, &err), &err);
    ASSERT_OK(mq_dataset_binarize(raw, 4, 1, &d, &err), &err);
    mq_dataset_destroy(raw);
    const char *kinds[] = {"content", "hybrid"};
    for (int k = 0; k < 2; k++) {
        const char *params[] = {"genre_weight=1.5", "tag_weight=0.5"}, *hparams[] = {"base=itemknn"};
        mq_train_opts o; mq_train_opts_init(&o, sizeof o);
        o.params = k == 0 ? params : hparams; o.n_params = k == 0 ? 2 : 1; o.n_threads = 1;
        o.seed = 1;
        mq_model *m = NULL;
        ASSERT_OK(mq_model_train(kinds[k], d, &o, &m, &err), &err);
        /* content's own scores: the hybrid's content part is a content model with defaults */
        mq_model *ref = m;
        if (k == 1) {
            mq_train_opts oc; mq_train_opts_init(&oc, sizeof oc);
            oc.n_threads = 1; oc.seed = 1;
            ASSERT_OK(mq_model_train("content", d, &oc, &ref, &err), &err);
        }
        const mq_catalog *mc = mq_model_catalog(m);
        /* twins of titles with many tags, with genres only, and with nothing */
        int32_t src[4] = {-1, -1, -1, -1};
        for (int32_t t = 0; t < d->n_titles; t++) {
            int64_t nt = mc->tag_ptr[t + 1] - mc->tag_ptr[t];
            if (src[0] < 0 && nt >= 5) src[0] = t;
            else if (src[1] < 0 && nt >= 2 && t > 100) src[1] = t;
            else if (src[2] < 0 && nt == 0 && mc->genres[t]) src[2] = t;
            else if (src[3] < 0 && nt == 0 && !mc->genres[t]) src[3] = t;
        }
        ASSERT(src[0] >= 0 && src[1] >= 0 && src[2] >= 0);
        int n_copy = src[3] >= 0 ? 4 : 3;
        mq_catalog cat;
        int32_t first = extend(mc, src, n_copy, &cat);
        mq_model_cold *cold = NULL;
        ASSERT_OK(mq_model_cold_create(m, &cat, first, n_copy + 1, &cold, &err), &err);
        float *s = malloc((size_t)d->n_titles * sizeof *s), cs[8];
        for (int32_t u = 0; u < 40; u++) {
            const int32_t *hist = d->m_idx + d->m_ptr[u];
            int nh = (int)(d->m_ptr[u + 1] - d->m_ptr[u]);
            ASSERT_OK(mq_model_score(ref, hist, NULL, nh, s, &err), &err);
            ASSERT_OK(mq_model_cold_score(cold, hist, NULL, nh, cs, &err), &err);
            /* the same float operations on the same vectors; 1e-6 covers float32 rounding of
             * a cosine in [0, 1] should the summation order of the tags differ */
            for (int i = 0; i < n_copy; i++) ASSERT_NEAR(cs[i], s[src[i]], 1e-6);
            ASSERT_NEAR(cs[n_copy], 0.0, 0.0);          /* only unknown metadata: no features */
        }
        ASSERT_OK(mq_model_cold_score(cold, NULL, NULL, 0, cs, &err), &err);
        ASSERT_NEAR(cs[0], 0.0, 0.0);                   /* an empty history scores 0 */
        mq_model_cold_destroy(cold);
        release(&cat);
        free(s);
        if (ref != m) mq_model_destroy(ref);
        mq_model_destroy(m);
    }
    /* a model without a content part refuses */
    mq_train_opts op; mq_train_opts_init(&op, sizeof op);
    op.n_threads = 1; op.seed = 1;
    mq_model *pop = NULL;
    ASSERT_OK(mq_model_train("pop", d, &op, &pop, &err), &err);
    mq_model_cold *c = NULL;
    ASSERT_INT_EQ(mq_model_cold_create(pop, mq_model_catalog(pop), 0, 1, &c, &err), MQ_EUNSUP);
    ASSERT(c == NULL);
    mq_model_destroy(pop);
    mq_dataset_destroy(d);
}
