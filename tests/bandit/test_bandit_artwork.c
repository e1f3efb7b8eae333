/* test_bandit_artwork.c: the artwork learner and page decisions (bandit_artwork.c).
 *
 * - LinUCB decisions equal the generic policy (mq_bandit_policy, Sherman-Morrison) fed the same
 *   crossed rows x = f (x) m: the factored page path changes the cost, not the choice.
 * - Linear TS propensities against the closed form of a two-artwork title:
 *   P(a1 beats a2) = Phi((f1 - f2)'v / (nu sqrt((f1 - f2)' G (f1 - f2)))).
 * - Bernoulli TS against the integral P(X1 > X2) for Beta posteriors (scipy-free: a fine
 *   quadrature of the closed-form densities in the test itself).
 * - Exactness: statistics fed in two orders have equal digests; save/load round trips;
 *   a state file for another catalog is refused.
 */
#include "../test.h"
#include <math.h>
#include <stdlib.h>

/* A small catalog: n titles, 1 + t % 4 artworks each, tags from a vocabulary of 6, 3 genres. */
static void small_catalog(mq_catalog *c, int n)
{
    static const char *tags[] = {"closeup", "dark", "bright", "group", "neon", "smile"};
    mq_catalog_init(c, n);
    c->n_genres = 3;
    c->genre_names[0] = strdup("Drama");
    c->genre_names[1] = strdup("Comedy");
    c->genre_names[2] = strdup("Horror");
    for (int t = 0; t < n; t++) c->genres[t] = 1u << (t % 3) | (t % 5 == 0 ? 2u : 0u);
    c->art_ptr = calloc((size_t)n + 1, sizeof *c->art_ptr);
    for (int t = 0; t < n; t++) c->art_ptr[t + 1] = c->art_ptr[t] + 1 + t % 4;
    c->n_artworks = c->art_ptr[n];
    c->art_ids = calloc((size_t)c->n_artworks, sizeof *c->art_ids);
    c->art_features = calloc((size_t)c->n_artworks, sizeof *c->art_features);
    for (int64_t a = 0; a < c->n_artworks; a++) {
        char id[32], f[64];
        snprintf(id, sizeof id, "a%lld", (long long)a);
        snprintf(f, sizeof f, "%s;%s", tags[a % 6], tags[(a * 7 + 3) % 6]);
        if (a % 6 == (a * 7 + 3) % 6) snprintf(f, sizeof f, "%s", tags[a % 6]);
        c->art_ids[a] = strdup(id);
        c->art_features[a] = strdup(f);
    }
}

static void random_ctx(mq_rng *r, int dm, uint8_t *ctx)
{
    ctx[0] = 16;
    for (int k = 1; k < dm; k++) ctx[k] = (uint8_t)(mq_rng_uniform(r) < 0.4 ? 0 : mq_rng_below(r, 17));
}

MQ_TEST(bandit_artwork_linucb_matches_generic_policy)
{
    mq_catalog c;
    small_catalog(&c, 40);
    mq_art_space *s;
    mq_art_stats *st;
    mq_err err = {0};
    ASSERT_OK(mq_art_space_create(&c, &s, &err), &err);
    const int dm = mq_art_space_dm(s), df = mq_art_space_df(s), d = dm * df;
    ASSERT_INT_EQ(df, 6);
    ASSERT_INT_EQ(dm, 6 + 3);
    ASSERT_OK(mq_art_stats_create(s, 1.0, &st, &err), &err);
    mq_policy_opts po; mq_policy_opts_init(&po, sizeof po);
    po.kind = MQ_POLICY_LINUCB; po.n_actions = 1; po.dim = d; po.param = 0.7; po.floor = 0;
    po.lambda = 1.0; po.mc_draws = 0; po.seed = 1;
    mq_bandit_policy *gp;
    ASSERT_OK(mq_bandit_policy_create(&po, &gp, &err), &err);
    /* the space numbers tags in first-seen order over the artworks */
    static const char *tags[] = {"closeup", "dark", "bright", "group", "neon", "smile"};
    int order[6], nt = 0;
    for (int64_t a = 0; a < c.n_artworks; a++)
        for (const char *f = c.art_features[a]; *f;) {
            const char *e = strchr(f, ';');
            size_t len = e ? (size_t)(e - f) : strlen(f);
            int j = -1;
            for (int k = 0; k < 6; k++) if (strlen(tags[k]) == len && !memcmp(tags[k], f, len)) j = k;
            bool seen = false;
            for (int q = 0; q < nt; q++) seen |= order[q] == j;
            if (!seen) order[nt++] = j;
            f += len + (e ? 1 : 0);
        }
    ASSERT_INT_EQ(nt, 6);
    int tagno[6];
    for (int q = 0; q < 6; q++) tagno[order[q]] = q;
    mq_rng r;
    mq_rng_seed(&r, 5);
    double *x = calloc((size_t)d, sizeof *x);
    uint8_t ctx[MQ_ART_DM_MAX];
    /* 200 pages of 5 impressions, a click on about one in four: the same rows into both */
    for (int p = 0; p < 200; p++) {
        random_ctx(&r, dm, ctx);
        int64_t art[5];
        for (int i = 0; i < 5; i++) art[i] = (int64_t)mq_rng_below(&r, (uint64_t)c.n_artworks);
        mq_art_stats_add_page(st, ctx, art, 5);
        for (int i = 0; i < 5; i++) {
            memset(x, 0, (size_t)d * sizeof *x);
            for (const char *f = c.art_features[art[i]]; *f;) {
                const char *e = strchr(f, ';');
                size_t len = e ? (size_t)(e - f) : strlen(f);
                int j = -1;
                for (int k = 0; k < 6; k++) if (strlen(tags[k]) == len && !memcmp(tags[k], f, len)) j = k;
                for (int k = 0; k < dm; k++) x[tagno[j] * dm + k] = ctx[k] / 16.0;
                f += len + (e ? 1 : 0);
            }
            double rew = mq_rng_uniform(&r) < 0.25;
            mq_bandit_policy_update(gp, x, 0, rew);
            if (rew) mq_art_stats_add_reward(st, ctx, art[i], rew);
        }
    }
    mq_art_snap *sn;
    ASSERT_OK(mq_art_snap_create(st, 1, NULL, 0, &sn, &err), &err);
    mq_art_policy ap; mq_art_policy_init(&ap, sizeof ap);
    ap.kind = MQ_POLICY_LINUCB; ap.param = 0.7; ap.gamma = 1e-12; ap.mc_draws = 0;
    int32_t titles[40];
    for (int t = 0; t < 40; t++) titles[t] = t;
    int64_t choice[40];
    double prop[40];
    double *X = calloc((size_t)4 * d, sizeof *X), sc[4];
    int checked = 0;
    for (int p = 0; p < 20; p++) {
        random_ctx(&r, dm, ctx);
        ASSERT_OK(mq_art_decide(sn, &ap, ctx, titles, 40, &r, choice, prop, &err), &err);
        for (int t = 0; t < 40; t++) {
            int K = (int)(c.art_ptr[t + 1] - c.art_ptr[t]);
            if (K == 1) { ASSERT_INT_EQ(choice[t], c.art_ptr[t]); ASSERT(prop[t] == 1); continue; }
            memset(X, 0, (size_t)4 * d * sizeof *X);
            for (int a = 0; a < K; a++)
                for (const char *f = c.art_features[c.art_ptr[t] + a]; *f;) {
                    const char *e = strchr(f, ';');
                    size_t len = e ? (size_t)(e - f) : strlen(f);
                    int j = -1;
                    for (int k = 0; k < 6; k++) if (strlen(tags[k]) == len && !memcmp(tags[k], f, len)) j = k;
                    for (int k = 0; k < dm; k++) X[a * d + tagno[j] * dm + k] = ctx[k] / 16.0;
                    f += len + (e ? 1 : 0);
                }
            /* the generic policy scores one action's rows at a time (its K is 1) */
            for (int a = 0; a < K; a++) mq_bandit_policy_scores(gp, X + (size_t)a * d, NULL, &sc[a]);
            int best = 0, ties = 1;
            for (int a = 1; a < K; a++) {
                if (sc[a] > sc[best] + 1e-9) { best = a; ties = 1; }
                else if (fabs(sc[a] - sc[best]) <= 1e-9) ties++;
            }
            if (ties > 1) continue;   /* equal tags: a fair tie either way */
            /* gamma 1e-12: the draw lands on the argmax except with probability ~1e-12 */
            ASSERT_INT_EQ(choice[t], c.art_ptr[t] + best);
            ASSERT_NEAR(prop[t], 1 - 1e-12 + 1e-12 / K, 1e-15);
            checked++;
        }
    }
    ASSERT(checked > 300);
    free(x);
    free(X);
    mq_art_snap_destroy(sn);
    mq_art_stats_destroy(st);
    mq_bandit_policy_destroy(gp);
    mq_art_space_destroy(s);
    mq_catalog_release(&c);
}

/* Phi, the standard normal CDF. */
static double Phi(double z) { return 0.5 * erfc(-z / sqrt(2)); }

MQ_TEST(bandit_artwork_lints_and_ts_propensities)
{
    /* one title, two artworks with disjoint tags: P(a0 wins) in closed form */
    mq_catalog c;
    mq_catalog_init(&c, 1);
    c.art_ptr = calloc(2, sizeof *c.art_ptr);
    c.art_ptr[1] = 2;
    c.n_artworks = 2;
    c.art_ids = calloc(2, sizeof(char *));
    c.art_features = calloc(2, sizeof(char *));
    c.art_ids[0] = strdup("x");
    c.art_ids[1] = strdup("y");
    c.art_features[0] = strdup("dark");
    c.art_features[1] = strdup("bright");
    mq_art_space *s;
    mq_art_stats *st;
    mq_err err = {0};
    ASSERT_OK(mq_art_space_create(&c, &s, &err), &err);
    ASSERT_INT_EQ(mq_art_space_dm(s), 6);   /* no genres */
    ASSERT_OK(mq_art_stats_create(s, 1.0, &st, &err), &err);
    uint8_t ctx[MQ_ART_DM_MAX] = {16, 0, 0, 0, 16, 0};
    int64_t a0 = 0, a1 = 1;
    for (int i = 0; i < 30; i++) mq_art_stats_add_page(st, ctx, &a0, 1);
    for (int i = 0; i < 25; i++) mq_art_stats_add_page(st, ctx, &a1, 1);
    for (int i = 0; i < 6; i++) mq_art_stats_add_reward(st, ctx, a0, 1);
    for (int i = 0; i < 3; i++) mq_art_stats_add_reward(st, ctx, a1, 1);
    mq_art_snap *sn;
    ASSERT_OK(mq_art_snap_create(st, 7, NULL, 400000, &sn, &err), &err);
    /* Closed form with m = (1, 0, 0, 0, 1, 0): A restricted to one tag's block is
     * lambda I + n m m', so m' A^-1 m = |m|^2 / (lambda + n |m|^2) and theta'x = s |m|^2 /
     * (lambda + n |m|^2) (Sherman-Morrison); the two tags' blocks are independent. */
    double m2 = 2, mu0 = 6 * m2 / (1 + 30 * m2), mu1 = 3 * m2 / (1 + 25 * m2);
    double g0 = m2 / (1 + 30 * m2), g1 = m2 / (1 + 25 * m2), nu = 0.5;
    double p0 = Phi((mu0 - mu1) / (nu * sqrt(g0 + g1)));
    const double gamma = 0.05;
    mq_art_policy lp; mq_art_policy_init(&lp, sizeof lp);
    lp.kind = MQ_POLICY_LINTS; lp.param = nu; lp.gamma = gamma; lp.mc_draws = 400000;
    mq_rng r;
    mq_rng_seed(&r, 11);
    int32_t t0 = 0;
    int64_t ch;
    double pr;
    ASSERT_OK(mq_art_decide(sn, &lp, ctx, &t0, 1, &r, &ch, &pr, &err), &err);
    double want = ch == 0 ? (1 - gamma) * p0 + gamma / 2 : (1 - gamma) * (1 - p0) + gamma / 2;
    /* 400,000 draws: the Monte Carlo share's sd is sqrt(p (1-p) / 4e5) <= 8e-4; 4e-3 = 5 sd */
    fprintf(stderr, "  lints: closed form P(a0) = %.5f, propensity of a%lld %.5f (want %.5f)\n", p0, (long long)ch, pr, want);
    ASSERT_NEAR(pr, want, 4e-3);
    /* Bernoulli TS: P(Beta(7, 25) > Beta(4, 23)) by quadrature of the densities. */
    /* P = int f0(x) F1(x) dx, midpoint rule with F1 as a running sum (error ~1e-9) */
    double P = 0;
    const int N = 200000;
    {
        double F1 = 0, h = 1.0 / N;
        double lb0 = lgamma(7) + lgamma(25) - lgamma(32), lb1 = lgamma(4) + lgamma(23) - lgamma(27);
        for (int i = 0; i < N; i++) {
            double x = (i + 0.5) * h;
            double f1 = exp(3 * log(x) + 22 * log1p(-x) - lb1);
            double f0 = exp(6 * log(x) + 24 * log1p(-x) - lb0);
            F1 += f1 * h / 2;
            P += f0 * F1 * h;
            F1 += f1 * h / 2;
        }
    }
    mq_art_policy tp; mq_art_policy_init(&tp, sizeof tp);
    tp.kind = MQ_POLICY_BTS; tp.param = 0; tp.gamma = gamma; tp.mc_draws = 400000;
    ASSERT_OK(mq_art_decide(sn, &tp, ctx, &t0, 1, &r, &ch, &pr, &err), &err);
    want = ch == 0 ? (1 - gamma) * P + gamma / 2 : (1 - gamma) * (1 - P) + gamma / 2;
    fprintf(stderr, "  ts: quadrature P(a0) = %.5f, propensity of a%lld %.5f (want %.5f)\n", P, (long long)ch, pr, want);
    ASSERT_NEAR(pr, want, 4e-3);
    /* egreedy: means 0.2 vs 0.12, eps 0.1: the greedy arm gets 0.95 (0.9 + 0.05) mixed */
    mq_art_policy ep; mq_art_policy_init(&ep, sizeof ep);
    ep.kind = MQ_POLICY_EGREEDY; ep.param = 0.1; ep.gamma = gamma; ep.mc_draws = 0;
    ASSERT_OK(mq_art_decide(sn, &ep, ctx, &t0, 1, &r, &ch, &pr, &err), &err);
    ASSERT_NEAR(pr, ch == 0 ? 0.95 * 0.95 + 0.025 : 0.95 * 0.05 + 0.025, 1e-15);
    mq_art_policy fp; mq_art_policy_init(&fp, sizeof fp);
    fp.kind = MQ_POLICY_FIXED; fp.param = 0; fp.gamma = gamma; fp.mc_draws = 0;
    ASSERT_OK(mq_art_decide(sn, &fp, ctx, &t0, 1, &r, &ch, &pr, &err), &err);
    ASSERT(ch == 0 && pr == 1);
    /* the empirical frequency of each choice matches its propensity (linucb, 4000 pages) */
    mq_art_policy up; mq_art_policy_init(&up, sizeof up);
    up.kind = MQ_POLICY_LINUCB; up.param = 1; up.gamma = 0.3; up.mc_draws = 0;
    int n0 = 0;
    double p_a0 = -1;
    for (int i = 0; i < 4000; i++) {
        ASSERT_OK(mq_art_decide(sn, &up, ctx, &t0, 1, &r, &ch, &pr, &err), &err);
        n0 += ch == 0;
        if (ch == 0) p_a0 = pr;
    }
    ASSERT(p_a0 > 0);
    ASSERT(fabs(n0 / 4000.0 - p_a0) < 5 * sqrt(p_a0 * (1 - p_a0) / 4000));
    mq_art_snap_destroy(sn);
    mq_art_stats_destroy(st);
    mq_art_space_destroy(s);
    mq_catalog_release(&c);
}

MQ_TEST(bandit_artwork_state_exact_and_saved)
{
    mq_catalog c;
    small_catalog(&c, 30);
    mq_art_space *s;
    mq_art_stats *x, *y, *z;
    mq_err err = {0};
    ASSERT_OK(mq_art_space_create(&c, &s, &err), &err);
    ASSERT_OK(mq_art_stats_create(s, 1.0, &x, &err), &err);
    ASSERT_OK(mq_art_stats_create(s, 1.0, &y, &err), &err);
    enum { P = 300 };
    uint8_t ctx[P][MQ_ART_DM_MAX];
    int64_t art[P][4];
    mq_rng r;
    mq_rng_seed(&r, 9);
    int dm = mq_art_space_dm(s);
    for (int p = 0; p < P; p++) {
        random_ctx(&r, dm, ctx[p]);
        for (int i = 0; i < 4; i++) art[p][i] = (int64_t)mq_rng_below(&r, (uint64_t)c.n_artworks);
    }
    for (int p = 0; p < P; p++) {
        mq_art_stats_add_page(x, ctx[p], art[p], 4);
        if (p % 3 == 0) mq_art_stats_add_reward(x, ctx[p], art[p][1], 1);
    }
    for (int p = P - 1; p >= 0; p--) {   /* the other order: rewards first */
        if (p % 3 == 0) mq_art_stats_add_reward(y, ctx[p], art[p][1], 1);
        mq_art_stats_add_page(y, ctx[p], art[p], 4);
    }
    ASSERT(mq_art_stats_digest(x) == mq_art_stats_digest(y));
    char path[512];
    snprintf(path, sizeof path, "%s/art.state", mq_test_tmpdir());
    uint64_t marks[4] = {1, 2, 3, 4}, got[4];
    ASSERT_OK(mq_art_stats_save(x, marks, path, &err), &err);
    ASSERT_OK(mq_art_stats_load(s, path, &z, got, &err), &err);
    ASSERT(mq_art_stats_digest(z) == mq_art_stats_digest(x));
    ASSERT(got[0] == 1 && got[3] == 4);
    double imp, rew;
    mq_art_stats_totals(z, &imp, &rew);
    ASSERT(imp == 4 * P && rew == 100);
    /* another catalog's space refuses the file; a flipped byte is a CRC error */
    mq_catalog c2;
    small_catalog(&c2, 31);
    mq_art_space *s2;
    mq_art_stats *w;
    ASSERT_OK(mq_art_space_create(&c2, &s2, &err), &err);
    ASSERT(mq_art_stats_load(s2, path, &w, NULL, &err) == MQ_ECORRUPT);
    ASSERT(strstr(err.msg, "another artwork catalog"));
    FILE *f = fopen(path, "r+b");
    fseek(f, 200, SEEK_SET);
    fputc(0x55, f);
    fclose(f);
    ASSERT(mq_art_stats_load(s, path, &w, NULL, &err) == MQ_ECORRUPT);
    ASSERT(strstr(err.msg, "CRC"));
    mq_art_stats_destroy(x);
    mq_art_stats_destroy(y);
    mq_art_stats_destroy(z);
    mq_art_space_destroy(s);
    mq_art_space_destroy(s2);
    mq_catalog_release(&c);
    mq_catalog_release(&c2);
}

/* A catalog of n titles with 3 artworks each, 3 tags per artwork from a vocabulary of 30: most
 * artworks have a tag set ("shape") of their own. */
static void many_shapes_catalog(mq_catalog *c, int n)
{
    mq_catalog_init(c, n);
    c->n_genres = 2;
    c->genre_names[0] = strdup("Drama");
    c->genre_names[1] = strdup("Comedy");
    for (int t = 0; t < n; t++) c->genres[t] = 1u << (t % 2);
    c->art_ptr = calloc((size_t)n + 1, sizeof *c->art_ptr);
    for (int t = 0; t < n; t++) c->art_ptr[t + 1] = c->art_ptr[t] + 3;
    c->n_artworks = c->art_ptr[n];
    c->art_ids = calloc((size_t)c->n_artworks, sizeof *c->art_ids);
    c->art_features = calloc((size_t)c->n_artworks, sizeof *c->art_features);
    for (int64_t a = 0; a < c->n_artworks; a++) {
        char id[32], f[64];
        snprintf(id, sizeof id, "a%lld", (long long)a);
        uint32_t x = (uint32_t)a * 2654435761u;   /* Knuth's multiplicative hash: about 440 shapes */
        snprintf(f, sizeof f, "t%u;t%u;t%u", x % 30, (x >> 8) % 30, (x >> 16) % 30);
        c->art_ids[a] = strdup(id);
        c->art_features[a] = strdup(f);
    }
}

/* LinUCB's three ways to score a page (every shape first when shapes are fewer than titles; a
 * shape on first use; artwork by artwork when the catalog has many shapes for the page) give
 * the same choices and propensities for the same draws; and the draw follows the propensities:
 * p = (1 - gamma) / ties for the best + gamma / K. */
MQ_TEST(bandit_artwork_linucb_paths_agree)
{
    for (int cat = 0; cat < 2; cat++) {
        mq_catalog c;
        const int n = cat ? 150 : 40;
        if (cat) many_shapes_catalog(&c, n);
        else small_catalog(&c, n);
        mq_art_space *s;
        mq_art_stats *st;
        mq_art_snap *sn;
        mq_err err = {0};
        ASSERT_OK(mq_art_space_create(&c, &s, &err), &err);
        ASSERT_OK(mq_art_stats_create(s, 1.0, &st, &err), &err);
        mq_rng r;
        mq_rng_seed(&r, 11);
        uint8_t ctx[MQ_ART_DM_MAX];
        const int dm = mq_art_space_dm(s);
        for (int p = 0; p < 300; p++) {
            random_ctx(&r, dm, ctx);
            int64_t art[6];
            for (int i = 0; i < 6; i++) art[i] = (int64_t)mq_rng_below(&r, (uint64_t)c.n_artworks);
            mq_art_stats_add_page(st, ctx, art, 6);
            if (mq_rng_uniform(&r) < 0.5) mq_art_stats_add_reward(st, ctx, art[p % 6], 1);
        }
        ASSERT_OK(mq_art_snap_create(st, 1, NULL, 0, &sn, &err), &err);
        mq_art_policy ap; mq_art_policy_init(&ap, sizeof ap);
        ap.kind = MQ_POLICY_LINUCB; ap.param = 0.5; ap.gamma = 0.2; ap.mc_draws = 0;
        int32_t titles[150];
        int64_t ch1[150], ch2[150];
        double pr1[150], pr2[150];
        for (int t = 0; t < n; t++) titles[t] = t;
        for (int p = 0; p < 10; p++) {
            random_ctx(&r, dm, ctx);
            mq_rng r1, r2;
            mq_rng_seed(&r1, 100 + (uint64_t)p);
            mq_rng_seed(&r2, 100 + (uint64_t)p);
            ASSERT_OK(mq_art_decide(sn, &ap, ctx, titles, n, &r1, ch1, pr1, &err), &err);
            for (int t = 0; t < n; t++) ASSERT_OK(mq_art_decide(sn, &ap, ctx, titles + t, 1, &r2, ch2 + t, pr2 + t, &err), &err);
            for (int t = 0; t < n; t++) {
                ASSERT_INT_EQ(ch1[t], ch2[t]);
                ASSERT(pr1[t] == pr2[t]);
            }
        }
        /* the draw against the propensities: one 3-artwork title, one context, 20,000 pages */
        const int32_t t0 = cat ? 5 : 2;   /* K = 3 (small catalog: 1 + t % 4) */
        const int64_t a0 = c.art_ptr[t0];
        ASSERT_INT_EQ(c.art_ptr[t0 + 1] - a0, 3);
        int hits[3] = {0};
        double pa[3] = {0};
        enum { N = 20000 };
        for (int i = 0; i < N; i++) {
            int64_t chx;
            double px;
            ASSERT_OK(mq_art_decide(sn, &ap, ctx, &t0, 1, &r, &chx, &px, &err), &err);
            hits[chx - a0]++;
            pa[chx - a0] = px;
        }
        double tot = 0;
        for (int a = 0; a < 3; a++) {
            ASSERT(pa[a] > 0);   /* every artwork drawn at least once (each has p >= 0.2 / 3) */
            tot += pa[a];
            /* binomial: 4.5 standard deviations (a false alarm about 1 in 150,000 per check) */
            ASSERT(fabs(hits[a] - N * pa[a]) <= 4.5 * sqrt(N * pa[a] * (1 - pa[a])));
        }
        ASSERT_NEAR(tot, 1.0, 1e-12);
        mq_art_snap_destroy(sn);
        mq_art_stats_destroy(st);
        mq_art_space_destroy(s);
        mq_catalog_release(&c);
    }
}
