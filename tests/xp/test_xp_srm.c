/* test_xp_srm.c: the SRM check under ramps of `xp analyze` on a collect file's range columns
 * (docs/xp.md, "SRM under ramps"): with one served share for every member of a ramped range
 * the check is Pearson's chi-square of the split plus that of [units, served only the
 * default] against [n s, n (1 - s)], compared with scipy.stats.chisquare by
 * tests/ref/xp_srm_ref.py; bad range columns are refused naming file:line, column and value.
 * The end-to-end test (a server ramping 20% -> 50%, a broken split) is in
 * tests/serve/test_xp_serve.c. */
#include "../test.h"

#include <stdio.h>

MQ_TEST(xp_srm_ranges_match_scipy)
{
    const char *d = mq_test_tmpdir();
    char dir[600];
    snprintf(dir, sizeof dir, "%s", d);   /* the helper's buffer is reused */
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_srm_ref.py synth %s", dir), 0);
    ASSERT_INT_EQ(mq_test_sh("%s xp analyze %s/synth.csv --metric play_seconds --control A --weights A=0.333,B=0.667 "
                             "--json > %s/synth.json", mq_test_bin(), dir, dir), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/xp_srm_ref.py synthcheck %s", dir), 0);
    /* the text report says what was compared */
    ASSERT_INT_EQ(mq_test_sh("%s xp analyze %s/synth.csv --metric play_seconds --control A --weights A=0.333,B=0.667 "
                             "| grep -q 'range members A=700 expected 699.3, B=1400 expected 1400.7; B served 370 of "
                             "1400 range members, expected 350.0'", mq_test_bin(), dir), 0);
    /* a unit served after its variant stopped (share 0) is impossible: p = 0 */
    mq_test_sh("printf 'unit,variant,first_exposure,play_seconds,range,served_share\\n"
               "a1,A,1,3,A,1\\na2,A,1,4,A,1\\nb1,B,1,5,B,0\\nb2,B,1,6,B,1\\n' > %s/stop.csv", dir);
    ASSERT_INT_EQ(mq_test_sh("%s xp analyze %s/stop.csv --metric play_seconds --control A --json "
                             "| grep -q '\"p_value\":0,\"chi2\":1e+308'", mq_test_bin(), dir), 0);
}

MQ_TEST(xp_srm_bad_range_columns)
{
    const char *d = mq_test_tmpdir();
    char dir[600];
    snprintf(dir, sizeof dir, "%s", d);
    static const struct { const char *rows, *msg; } bad[] = {
        {"u1,A,1,3,A,1\\nu2,B,1,3,B,1.5\\n", "bad.csv:3: column 'served_share': '1.5' is not a share in [0, 1]"},
        {"u1,A,1,3,A,1\\nu2,B,1,3,A,1\\n", "bad.csv:3: column 'range': 'A' is not the unit's variant 'B'"},
        {"u1,A,1,3,A,1\\nu2,,1,,,0.5\\n", "bad.csv:3: columns 'variant' and 'range' are both empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mq_test_sh("printf 'unit,variant,first_exposure,play_seconds,range,served_share\\n%s' > %s/bad.csv", bad[i].rows, dir);
        ASSERT_INT_EQ(mq_test_sh("%s xp analyze %s/bad.csv --metric play_seconds --control A 2> %s/err.txt",
                                 mq_test_bin(), dir, dir), 1);
        ASSERT_INT_EQ(mq_test_sh("grep -qF \"%s\" %s/err.txt || { cat %s/err.txt >&2; exit 1; }", bad[i].msg, dir, dir), 0);
    }
    /* with the config's variants fixed, a range that is not one of them */
    mq_test_sh("printf '%%s' '{\"name\": \"e\", \"variants\": [\"A\", \"B\"]}' > %s/xp.json", dir);
    mq_test_sh("printf 'unit,variant,first_exposure,play_seconds,range,served_share\\nu1,A,1,3,A,1\\nu2,,1,,C,0.5\\n' > %s/bad.csv", dir);
    ASSERT_INT_EQ(mq_test_sh("%s xp analyze %s/bad.csv --metric play_seconds --control A --config %s/xp.json "
                             "--experiment e 2> %s/err.txt", mq_test_bin(), dir, dir, dir), 1);
    ASSERT_INT_EQ(mq_test_sh("grep -qF \"bad.csv:3: column 'range': 'C' is not a variant of the experiment\" %s/err.txt", dir), 0);
}
