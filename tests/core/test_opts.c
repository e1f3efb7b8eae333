/* test_opts.c: versioned option structs (include/marquee/core.h, "How public structs grow";
 * src/core/opts.c). Every public entry point taking an options struct refuses one that was
 * never initialised (struct_size 0) or that comes from a newer header, naming the struct and its
 * init function; a caller built against an older, shorter layout is read only as far as its
 * struct_size goes and gets the defaults for the rest (checked with the mechanism on a two-
 * release pair of test structs, and with real structs placed in buffers of exactly the oldest
 * size, so that an over-read or over-write is an ASan error under `make asan`). */
#include "../test.h"
#include "core/core.h"

#include <stdlib.h>

/* malloc of exactly n bytes, out of the compiler's sight (it would warn about a struct pointer
 * into a shorter block; ASan still knows the block's size). */
__attribute__((noinline)) static void *exact(size_t n)
{
    return malloc(n);
}

/* ---- the mechanism on a struct that grew: release 1 ended at b, release 2 appended c ---- */

typedef struct rel1 { uint32_t struct_size; int a; double b; } rel1;
typedef struct rel2 { uint32_t struct_size; int a; double b; int c; } rel2;

static void rel2_init(rel2 *o, size_t size)
{
    rel2 d;
    memset(&d, 0, sizeof d);
    d.a = 1, d.b = 2, d.c = 3;
    mq__opts_fill(o, size, &d, sizeof d);
}

static int rel2_get(rel2 *o, const void *in, mq_err *err)
{
    rel2_init(o, sizeof *o);
    return mq__opts_read(o, sizeof *o, in, MQ__OPTS_END(rel2, b), "rel2", err);
}

MQ_TEST(opts_old_caller_gets_defaults_for_the_missing_tail)
{
    mq_err err = {0};
    rel1 *old = exact(sizeof *old);           /* exactly the old size: ASan sees any over-read */
    ASSERT(old);
    memset(old, 0xab, sizeof *old);
    rel2_init((rel2 *)old, sizeof *old);       /* the new library's init, the old caller's size */
    ASSERT_INT_EQ(old->struct_size, sizeof(rel1));
    ASSERT_INT_EQ(old->a, 1);
    ASSERT(old->b == 2);
    old->a = 10, old->b = 20;
    rel2 o;
    ASSERT_OK(rel2_get(&o, old, &err), &err);
    ASSERT_INT_EQ(o.struct_size, sizeof(rel2));
    ASSERT_INT_EQ(o.a, 10);                     /* the caller's fields */
    ASSERT(o.b == 20);
    ASSERT_INT_EQ(o.c, 3);                      /* appended since: the default */
    free(old);
    /* the current layout is read in full; NULL is all defaults */
    rel2 cur;
    rel2_init(&cur, sizeof cur);
    cur.c = 30;
    ASSERT_OK(rel2_get(&o, &cur, &err), &err);
    ASSERT_INT_EQ(o.c, 30);
    ASSERT_OK(rel2_get(&o, NULL, &err), &err);
    ASSERT_INT_EQ(o.a, 1);
    ASSERT_INT_EQ(o.c, 3);
    /* sizes outside [end of release 1's last field, sizeof rel2] are refused */
    uint32_t bad[] = {0, (uint32_t)offsetof(rel2, b), (uint32_t)sizeof(rel2) + 8};
    const char *why[] = {"not initialised", "outside the sizes", "newer libmarquee"};
    for (int i = 0; i < 3; i++) {
        unsigned char buf[64] = {0};
        memcpy(buf, &bad[i], sizeof bad[i]);
        ASSERT_INT_EQ(rel2_get(&o, buf, &err), MQ_EINVAL);
        ASSERT(strstr(err.msg, why[i]) && strstr(err.msg, "rel2_init(&opts, sizeof opts)"));
    }
}

MQ_TEST(opts_init_never_writes_past_the_callers_size)
{
    /* A caller built against a newer header has a bigger struct: init fills what this library
     * knows, zeroes the rest, and the struct is then refused (it needs the newer library). */
    size_t big = sizeof(mq_train_opts) + 24;
    unsigned char *p = malloc(big);
    ASSERT(p);
    memset(p, 0xab, big);
    mq_train_opts_init((mq_train_opts *)p, big);
    uint32_t s;
    memcpy(&s, p, sizeof s);
    ASSERT_INT_EQ(s, big);
    for (size_t i = sizeof(mq_train_opts); i < big; i++) ASSERT_INT_EQ(p[i], 0);
    mq_err err = {0};
    ASSERT_INT_EQ(mq_model_check_params("pop", (mq_train_opts *)p, &err), MQ_EINVAL);
    ASSERT(strstr(err.msg, "newer libmarquee") && strstr(err.msg, "mq_train_opts"));
    free(p);
    /* a size below the struct_size field itself writes nothing */
    unsigned char two[2] = {7, 7};
    mq_train_opts_init((mq_train_opts *)(void *)two, sizeof two);
    ASSERT_INT_EQ(two[0], 7);
}

/* ---- real structs at their oldest size ---- */

static const char *write_file(const char *name, const char *text)
{
    static char path[3][4096];
    static int k;
    char *p = path[k++ % 3];
    snprintf(p, 4096, "%s/%s", mq_test_tmpdir(), name);
    FILE *f = fopen(p, "w");
    if (!f) return NULL;
    fputs(text, f);
    fclose(f);
    return p;
}

MQ_TEST(opts_real_structs_read_at_their_oldest_size)
{
    /* mq_load_opts has outputs: written back only as far as the caller's struct goes. Its first
     * layout ends at private_copy (before the trailing padding): a buffer of exactly that size. */
    const char *csv = write_file("o.csv", "member,title,timestamp,event,value\n"
                                          "1,a,100,play,1\n1,b,101,play,1\nx,a\n2,b,102,play,1\n");
    ASSERT(csv);
    size_t n = MQ__V1_mq_load_opts;
    ASSERT(n <= sizeof(mq_load_opts));
    mq_load_opts *lo = exact(n);
    ASSERT(lo);
    mq_load_opts_init(lo, n);
    ASSERT_INT_EQ(lo->struct_size, n);
    lo->skip_bad_rows = true;
    mq_dataset *d = NULL;
    mq_err err = {0};
    ASSERT_OK(mq_data_load(&csv, 1, lo, &d, &err), &err);
    ASSERT_INT_EQ(lo->n_bad_rows, 1);
    ASSERT(strstr(lo->first_bad[0], "o.csv:4"));
    ASSERT_INT_EQ(lo->struct_size, n);
    ASSERT_INT_EQ(d->nnz, 3);
    mq_dataset_destroy(d);
    free(lo);
    /* mq_filter: genre -1 (any) by default, include_seen false */
    mq_filter *f = exact(MQ__V1_mq_filter);
    ASSERT(f);
    mq_filter_init(f, MQ__V1_mq_filter);
    ASSERT_INT_EQ(f->genre, -1);
    ASSERT(!f->include_seen);
    free(f);
    /* mq_xp_design_in: a caller that knows every field of the first layout */
    mq_xp_design_in *in = exact(MQ__V1_mq_xp_design_in);
    ASSERT(in);
    mq_xp_design_in_init(in, MQ__V1_mq_xp_design_in);
    in->sd = 1, in->mde = 0.02;
    mq_xp_design_out out;
    ASSERT_OK(mq_xp_design(in, &out, &err), &err);
    ASSERT_INT_EQ(out.n_per_arm, 39245);       /* alpha 0.05, power 0.8, 2 arms: the defaults */
    free(in);
}

/* ---- every entry point refuses an uninitialised struct ---- */

static int no_score(void *user, const int32_t *hist, int n_hist, float *scores, mq_err *err)
{
    return 0;
}

static int no_batch(void *user, int n, const int64_t *ptr, const int32_t *idx, float *scores,
                    mq_err *err)
{
    return 0;
}

/* rc must be MQ_EINVAL and the message name T and T_init. */
#define REFUSES(T, call)                                                                        \
    do {                                                                                        \
        memset(&err, 0, sizeof err);                                                            \
        int rc_ = (call);                                                                       \
        if (rc_ != MQ_EINVAL || !strstr(err.msg, #T " is not initialised") ||                   \
            !strstr(err.msg, #T "_init(")) {                                                    \
            fprintf(stderr, "%s:%d: %s: rc %d, '%s'\n", __FILE__, __LINE__, #call, rc_, err.msg); \
            ASSERT(0);                                                                          \
        }                                                                                       \
        n_checked++;                                                                            \
    } while (0)

MQ_TEST(opts_every_entry_point_refuses_an_uninitialised_struct)
{
    mq_err err = {0};
    int n_checked = 0;
    const char *csv = write_file("u.csv", "member,title,timestamp,event,value\n1,a,100,play,1\n"
                                          "1,b,101,play,1\n2,b,102,play,1\n2,c,103,play,1\n");
    ASSERT(csv);
    const char *tmp = mq_test_tmpdir();
    char dir[4096], out[4096];
    snprintf(dir, sizeof dir, "%s/u-log", tmp);
    snprintf(out, sizeof out, "%s/u-out", tmp);
    mq_dataset *d = NULL;
    ASSERT_OK(mq_data_load(&csv, 1, NULL, &d, &err), &err);     /* NULL: the defaults */
    mq_model *m = NULL;
    ASSERT_OK(mq_model_train("pop", d, NULL, &m, &err), &err);

    /* models, data, eval, rank */
    mq_train_opts to = {0};
    REFUSES(mq_train_opts, mq_model_check_params("pop", &to, &err));
    mq_model *m2 = NULL;
    REFUSES(mq_train_opts, mq_model_train("pop", d, &to, &m2, &err));
    REFUSES(mq_train_opts, mq_rank_train(d, NULL, &to, &m2, &err));
    ASSERT(m2 == NULL);
    mq_filter f = {0};
    int32_t hist[1] = {0}, titles[4];
    float scores[4];
    int64_t ptr[2] = {0, 1};
    int32_t counts[1];
    REFUSES(mq_filter, mq_model_recommend(m, hist, NULL, 1, &f, 2, titles, scores, &err));
    REFUSES(mq_filter, mq_model_recommend_member(m, d, d, "1", &f, 2, titles, scores, &err));
    REFUSES(mq_filter, mq_model_recommend_batch(m, 1, ptr, hist, &f, 2, titles, scores, counts, 1,
                                                &err));
    mq_load_opts lo = {0};
    mq_dataset *d2 = NULL;
    REFUSES(mq_load_opts, mq_data_load(&csv, 1, &lo, &d2, &err));
    REFUSES(mq_load_opts, mq_data_open(csv, &lo, &d2, &err));
    ASSERT(d2 == NULL);
    mq_split_opts so = {0};
    mq_split sp;
    REFUSES(mq_split_opts, mq_split_make(d, &so, &sp, &err));
    mq_synth_opts sy = {0};
    REFUSES(mq_synth_opts, mq_synth_write(&sy, out, NULL, &err));
    mq_eval_opts eo = {0};
    mq_heldout h;
    memset(&h, 0, sizeof h);
    mq_eval_result *res = calloc(1, sizeof *res);
    mq_tune_result *tres = calloc(1, sizeof *tres);
    ASSERT(res && tres);
    REFUSES(mq_eval_opts, mq_eval_heldout(no_score, NULL, d->n_titles, &h, &eo, res, &err));
    REFUSES(mq_eval_opts, mq_eval_heldout_batch(no_batch, NULL, d->n_titles, &h, &eo, res, &err));
    REFUSES(mq_eval_opts, mq_rank_evaluate(m, d, &h, &eo, NULL, res, NULL, &err));
    mq_rank_eval_opts ro = {0};
    REFUSES(mq_rank_eval_opts, mq_rank_evaluate(m, d, &h, NULL, &ro, res, NULL, &err));
    mq_tune_opts tu = {0};
    REFUSES(mq_tune_opts, mq_eval_tune(&tu, d, &h, NULL, 0, tres, &err));
    mq_rank_live rl = {0};
    float x[4];
    REFUSES(mq_rank_live, mq_rank_live_features(m, &rl, hist, NULL, 1, NULL, titles, x, &err));

    /* serve */
    mq_evlog_opts ev = {0};
    mq_evlog *l = NULL;
    REFUSES(mq_evlog_opts, mq_evlog_open(dir, &ev, &l, &err));
    mq_store_opts st = {0};
    mq_store *store = NULL;
    char spec[4200];
    snprintf(spec, sizeof spec, "lmdb:%s/u-store", tmp);
    REFUSES(mq_store_opts, mq_store_open(spec, &st, &store, &err));
    mq_server_opts sv = {0};
    mq_server *srv = NULL;
    REFUSES(mq_server_opts, mq_server_start(&sv, &srv, &err));
    mq_xp_collect_opts xc = {0};
    REFUSES(mq_xp_collect_opts, mq_xp_collect(&xc, out, NULL, &err));
    mq_artwork_export_opts ae = {0};
    REFUSES(mq_artwork_export_opts, mq_artwork_export(&ae, out, NULL, &err));
    mq_page_req pr = {0};
    mq_page_ctx *ctx = mq_page_ctx_create();
    const mq_page *page = NULL;
    mq_page_catalog pc;
    memset(&pc, 0, sizeof pc);
    REFUSES(mq_page_req, mq_page_build(ctx, &pc, NULL, NULL, 0, &pr, &page, &err));
    mq_page_ctx_destroy(ctx);
    ASSERT_INT_EQ(mq_page_scored_titles(&pr, 100), MQ_EINVAL);

    /* bandit */
    mq_ope_opts oo = {0};
    mq_ope_result ores;
    REFUSES(mq_ope_opts, mq_bandit_ope(NULL, NULL, &oo, &ores, &err));
    mq_bandit_synth_opts bs = {0};
    mq_bandit_log *blog = NULL;
    mq_bandit_dist *bpi = NULL;
    double tv;
    REFUSES(mq_bandit_synth_opts, mq_bandit_synth_make(&bs, &blog, &bpi, &tv, &err));
    REFUSES(mq_bandit_synth_opts, mq_bandit_synth(&bs, out, &tv, &err));
    mq_policy_opts po = {0};
    mq_bandit_policy *bp = NULL;
    mq_replay_result rr;
    REFUSES(mq_policy_opts, mq_policy_parse("uniform", &po, &err));
    REFUSES(mq_policy_opts, mq_bandit_policy_create(&po, &bp, &err));
    REFUSES(mq_policy_opts, mq_bandit_replay(NULL, &po, &rr, &err));
    mq_art_policy ap = {0};
    int64_t choice[1];
    double prop[1];
    mq_rng rng;
    mq_rng_seed(&rng, 1);
    REFUSES(mq_art_policy, mq_art_policy_parse("fixed", &ap, &err));
    REFUSES(mq_art_policy, mq_art_decide(NULL, &ap, NULL, hist, 1, &rng, choice, prop, &err));

    /* sim */
    mq_sim_opts sm = {0};
    char *json = NULL;
    double r1, r2;
    const char *models[2] = {"pop", "pop"};
    REFUSES(mq_sim_opts, mq_sim_run(&sm, &json, &err));
    REFUSES(mq_sim_opts, mq_sim_offline_check(&sm, models, 2, NULL, &json, &err));
    REFUSES(mq_sim_opts, mq_sim_bench(&sm, &r1, &r2, &err));

    /* xp */
    mq_xp_design_in di = {0};
    mq_xp_design_out dout;
    REFUSES(mq_xp_design_in, mq_xp_design(&di, &dout, &err));
    mq_xp_analyze_opts xa = {0};
    char *text = NULL;
    REFUSES(mq_xp_analyze_opts, mq_xp_analyze(csv, &xa, &json, &text, NULL, &err));
    mq_xp_interact_opts xi = {0};
    REFUSES(mq_xp_interact_opts, mq_xp_interactions(csv, &xi, &json, &text, NULL, &err));

    /* abr */
    mq_abr_opts ab = {0};
    REFUSES(mq_abr_opts, mq_abr_opts_check(&ab, &err));
    REFUSES(mq_abr_opts, mq_abr_run(NULL, 0, NULL, "bb", &ab, NULL, NULL, NULL, &err));

    ASSERT_INT_EQ(n_checked, 38);   /* every REFUSES above ran */
    free(res);
    free(tres);
    mq_model_destroy(m);
    mq_dataset_destroy(d);
}
