/* test_csv_topk.c: core's one CSV field scanner, decimal parser and top-k heap, which the data
 * loaders, the experiment analysis, the trace reader, the models and eval all share.
 * References: glibc's strtod (correctly rounded) for the decimals, compared bit for bit; a
 * full qsort for the top-k, whose order (score desc, index asc) is a strict total order, so
 * the selection must equal the sorted prefix exactly. */
#include "../test.h"
#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int split(const char *line, mq__field *f, int max)
{
    return mq__csv_split(line, line + strlen(line), f, max);
}

MQ_TEST(core_csv_split_rfc4180)
{
    mq__field f[8];
    ASSERT_INT_EQ(split("a,\"b,c\",,\"d\"\"e\"", f, 8), 4);
    ASSERT(f[0].n == 1 && !memcmp(f[0].p, "a", 1) && !f[0].esc);
    ASSERT(f[1].n == 3 && !memcmp(f[1].p, "b,c", 3) && !f[1].esc);
    ASSERT(f[2].n == 0);
    ASSERT(f[3].n == 4 && !memcmp(f[3].p, "d\"\"e", 4) && f[3].esc);   /* escapes kept as written */
    ASSERT_INT_EQ(split("x,", f, 8), 2);                                 /* trailing empty field */
    ASSERT(f[1].n == 0);
    ASSERT_INT_EQ(split("\"x\",", f, 8), 2);
    ASSERT_INT_EQ(split("", f, 8), 1);
    ASSERT_INT_EQ(split("a,b,c", f, 2), 3);                              /* more than max */
    ASSERT_INT_EQ(split("\"open", f, 8), -1);                            /* quote not closed */
    ASSERT_INT_EQ(split("\"a\"b,c", f, 8), -1);                          /* text after the quote */
}

MQ_TEST(core_parse_f64_matches_strtod_bit_for_bit)
{
    const char *ok[] = {"0", "-0", "1", "+2.5", "3.", ".5", "1e3", "1E-3", "-12.75e+2", "0.1",
                        "123456789012345678901234567890", "0.30000000000000004", "1e-300",
                        "4.9406564584124654e-300", "9007199254740993", "00012.500"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        double v = NAN;
        if (!mq__parse_f64(ok[i], strlen(ok[i]), &v)) MQ_FAIL_("'%s' rejected", ok[i]);
        double r = strtod(ok[i], NULL);
        if (memcmp(&v, &r, sizeof v)) MQ_FAIL_("'%s': %.17g vs strtod %.17g", ok[i], v, r);
    }
    const char *bad[] = {"", "-", ".", "e5", "1e", "1e+", "1.2.3", "abc", "1,5", " 1", "1 ", "inf",
                         "nan", "1e999", "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        double v;
        if (mq__parse_f64(bad[i], strlen(bad[i]), &v)) MQ_FAIL_("'%s' accepted as %.17g", bad[i], v);
    }
    /* random decimals of up to 17 significant digits and exponents within +-30 (both paths) */
    mq_rng r;
    mq_rng_seed(&r, 7);
    for (int i = 0; i < 20000; i++) {
        char s[64];
        int digits = 1 + (int)mq_rng_below(&r, 17), point = (int)mq_rng_below(&r, (uint64_t)digits + 1);
        int n = 0;
        if (mq_rng_below(&r, 2)) s[n++] = '-';
        for (int d = 0; d < digits; d++) {
            if (d == point && d > 0) s[n++] = '.';
            s[n++] = (char)('0' + mq_rng_below(&r, 10));
        }
        if (mq_rng_below(&r, 3) == 0) n += snprintf(s + n, sizeof s - (size_t)n, "e%d", (int)mq_rng_below(&r, 61) - 30);
        s[n] = 0;
        double v, ref = strtod(s, NULL);
        if (!mq__parse_f64(s, (size_t)n, &v)) MQ_FAIL_("'%s' rejected", s);
        if (memcmp(&v, &ref, sizeof v)) MQ_FAIL_("'%s': %.17g vs strtod %.17g", s, v, ref);
        /* the fused fast path, when it takes a number, gives the same bits */
        double w;
        const char *e = mq__csv_num_fast(s, s + n, &w);
        if (e && (e != s + n || memcmp(&w, &ref, sizeof w))) MQ_FAIL_("fast path on '%s': %.17g", s, w);
    }
    /* 17-19 significant digits (the extended-precision path), and decimals within a few units
     * of the 19th digit of a point halfway between two doubles (where rounding twice would go
     * wrong: the parser must notice and defer to strtod). */
    int wide = 0;
    for (int i = 0; i < 200000; i++) {
        char s[64];
        int n;
        if (i % 2) {
            double d = ldexp(1.0 + (double)mq_rng_below(&r, 1ull << 52) / 4503599627370496.0,
                             (int)mq_rng_below(&r, 120) - 90);
            double mid = d + (nextafter(d, INFINITY) - d) / 2;   /* exact: one bit below d's ulp */
            n = snprintf(s, sizeof s, "%.18e", mid);
            /* nudge the last digit by -2..2 (carries ignored: still a valid decimal) */
            int k = (int)mq_rng_below(&r, 5) - 2, at = (int)(strchr(s, 'e') - s) - 1;
            int dgt = s[at] - '0' + k;
            if (dgt >= 0 && dgt <= 9) s[at] = (char)('0' + dgt);
        } else {
            int digits = 17 + (int)mq_rng_below(&r, 3), point = (int)mq_rng_below(&r, (uint64_t)digits + 1);
            n = 0;
            if (mq_rng_below(&r, 2)) s[n++] = '-';
            for (int d = 0; d < digits; d++) {
                if (d == point && d > 0) s[n++] = '.';
                s[n++] = (char)('0' + (d == 0 ? 1 + mq_rng_below(&r, 9) : mq_rng_below(&r, 10)));
            }
            if (mq_rng_below(&r, 2)) n += snprintf(s + n, sizeof s - (size_t)n, "e%d", (int)mq_rng_below(&r, 41) - 20);
            s[n] = 0;
        }
        double v, ref = strtod(s, NULL);
        if (!mq__parse_f64(s, (size_t)n, &v)) MQ_FAIL_("'%s' rejected", s);
        if (memcmp(&v, &ref, sizeof v)) MQ_FAIL_("'%s': %.17g vs strtod %.17g", s, v, ref);
        double w;
        const char *e = mq__csv_num_fast(s, s + n, &w);
        if (e) {
            wide++;
            if (e != s + n || memcmp(&w, &ref, sizeof w)) MQ_FAIL_("fast path on '%s': %.17g", s, w);
        }
    }
    ASSERT(wide > 10000);   /* the fused path took the plain decimals */
    /* The halfway cases themselves: 2^53 + 1 and a 19-digit exact midpoint. */
    const char *half[] = {"9007199254740993", "9007199254740995", "0.1000000000000000055511151231257827"};
    for (size_t i = 0; i < sizeof half / sizeof *half; i++) {
        double v, ref = strtod(half[i], NULL);
        ASSERT(mq__parse_f64(half[i], strlen(half[i]), &v) && memcmp(&v, &ref, sizeof v) == 0);
    }
}

typedef struct { float s; int32_t t; } pair;

static int cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (mq__rank_before(x->s, x->t, y->s, y->t)) return -1;
    if (mq__rank_before(y->s, y->t, x->s, x->t)) return 1;
    return 0;
}

MQ_TEST(core_topk_equals_sorted_prefix)
{
    enum { N = 3000 };
    static float sc[N];
    static pair all[N];
    static int32_t idx[N];
    static float val[N];
    mq_rng r;
    mq_rng_seed(&r, 3);
    for (int round = 0; round < 20; round++) {
        int n = 0;
        for (int32_t t = 0; t < N; t++) {
            /* few distinct values: many ties, which the index must break; some NaN (skipped) */
            sc[t] = mq_rng_below(&r, 50) == 0 ? NAN : (float)mq_rng_below(&r, 40) - 20.0f;
            if (!isnan(sc[t])) all[n++] = (pair){sc[t], t};
        }
        qsort(all, (size_t)n, sizeof *all, cmp_pair);
        int k = round == 0 ? 1 : round == 1 ? N : 1 + (int)mq_rng_below(&r, 400);
        int got = mq__topk(sc, N, k, idx, val);
        ASSERT_INT_EQ(got, k < n ? k : n);
        for (int i = 0; i < got; i++)
            if (idx[i] != all[i].t || val[i] != all[i].s)
                MQ_FAIL_("k=%d position %d: (%g, %d) vs sorted (%g, %d)", k, i, val[i], idx[i], all[i].s, all[i].t);
    }
    ASSERT_INT_EQ(mq__topk(sc, N, 0, idx, val), 0);
}

/* Large n and small k take the sampled-threshold path: it must give the same list as a full
 * sort, for ties, increasing scores (every pair would enter a plain heap), mostly NaN (the
 * sample is too thin: the plain path) and a threshold that too few scores reach. */
MQ_TEST(core_topk_sampled_threshold_equals_sorted_prefix)
{
    enum { N = 20000 };
    static float sc[N];
    static pair all[N];
    static int32_t idx[N];
    static float val[N];
    mq_rng r;
    mq_rng_seed(&r, 4);
    for (int round = 0; round < 24; round++) {
        int n = 0, kind = round % 4;
        for (int32_t t = 0; t < N; t++) {
            float v = kind == 0 ? (float)mq_rng_below(&r, 30)                  /* ties */
                    : kind == 1 ? (float)t * 0.5f                             /* increasing */
                    : kind == 2 ? (mq_rng_below(&r, 20) ? NAN : (float)mq_rng_uniform(&r))
                                : (t % 1000 == 0 ? 5.0f : 1.0f);              /* few high */
            if (kind != 2 && mq_rng_below(&r, 40) == 0) v = NAN;
            sc[t] = v;
            if (!isnan(v)) all[n++] = (pair){v, t};
        }
        qsort(all, (size_t)n, sizeof *all, cmp_pair);
        int k = 1 + (int)mq_rng_below(&r, 1200);
        int got = mq__topk(sc, N, k, idx, val);
        ASSERT_INT_EQ(got, k < n ? k : n);
        for (int i = 0; i < got; i++)
            if (idx[i] != all[i].t || val[i] != all[i].s)
                MQ_FAIL_("kind %d k=%d position %d: (%g, %d) vs sorted (%g, %d)", kind, k, i, val[i], idx[i],
                         all[i].s, all[i].t);
    }
}

/* The experiment reader goes through the same scanner: a malformed quote is an error naming
 * file:line (it used to take the rest of the line as the field). */
MQ_TEST(core_csv_malformed_quote_in_xp_input_names_the_line)
{
    const char *t = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("printf 'unit,variant,m\\n1,A,2\\n2,\"B,3\\n' > '%s/q.csv' && "
                             "%s xp analyze '%s/q.csv' --metric m --control A 2>'%s/err' >/dev/null; "
                             "test $? -eq 1 && grep -q 'q.csv:3: a quote is not closed' '%s/err'",
                             t, mq_test_bin(), t, t, t), 0);
}

/* The public JSON writers (what the CLI uses) write exactly what core's mq_buf writers
 * append: one escaper, one number format. */
MQ_TEST(core_json_write_matches_the_buffer_writer)
{
    const char *s = "id \"q\" \\ \t\x01 \xc3\xa9 \xff\xfe \xed\xa0\x80 end";   /* é, bad bytes, a surrogate */
    double nums[] = {0, -0.0, 0.1, 1e300, -2.5e-7, 123456789012345678.0, NAN, INFINITY, 1.0f / 3.0f};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ASSERT(f != NULL);
    mq_buf b;
    mq_buf_init(&b);
    ASSERT_INT_EQ(mq_json_write_str(f, s), 0);
    mq_buf_json_str(&b, s, strlen(s));
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        fputc(' ', f);
        mq_buf_putc(&b, ' ');
        ASSERT_INT_EQ(mq_json_write_num(f, nums[i]), 0);
        mq_buf_json_num(&b, nums[i]);
    }
    fclose(f);
    ASSERT_STR_EQ(text, mq_buf_cstr(&b));
    ASSERT(mq__utf8_valid(text, len));
    ASSERT(strstr(text, "\\u0001") && strstr(text, "\xef\xbf\xbd\xef\xbf\xbd") && strstr(text, " null null "));
    free(text);
    mq_buf_release(&b);
}
