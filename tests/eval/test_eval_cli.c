/* test_eval_cli.c: `marquee eval` end to end.
 *
 * - Usage errors exit 2 with a message naming the option.
 * - On ml-100k (ratings >= 4, members with >= 5 positives, strong generalization, seed 98765):
 *   write the split, evaluate pop and EASE on it with `--split`, and have the independent numpy
 *   implementation (tests/ref/eval_ref.py split) recompute every ranking metric from the split
 *   files: popularity must agree exactly (ties by the lower title index), EASE within 1e-4
 *   (float32 Cholesky in C vs float64 inverse in numpy; at λ = 200 the scores differ by ~1e-6
 *   relative, which can swap near-ties only rarely: 1e-4 in any metric is the bound).
 */
#include "../test.h"

#include <stdlib.h>

MQ_TEST(eval_cli_usage)
{
    const char *b = mq_test_bin();
    ASSERT_INT_EQ(mq_test_sh("%s eval --help | grep -q -- '--write-split'", b), 0);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x >/dev/null 2>&1", b), 2);   /* no --models */
    ASSERT_INT_EQ(mq_test_sh("%s eval --models pop >/dev/null 2>&1", b), 2);   /* no data */
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --models nosuch 2>&1 | grep -q \"unknown model 'nosuch'\"", b), 0);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --models pop --protocol weird >/dev/null 2>&1", b), 2);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --models pop --param lambda=3 2>&1 | grep -q 'MODEL.NAME=VALUE'", b), 0);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --models pop --param ease.lambda=3 2>&1 | grep -q \"'ease' is not in --models\"", b), 0);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --models pop --test-frac 1.5 >/dev/null 2>&1", b), 2);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --models pop --k 20,10 >/dev/null 2>&1", b), 2);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --split y --models pop >/dev/null 2>&1", b), 2);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data x --models pop --bogus >/dev/null 2>&1", b), 2);
}

MQ_TEST(eval_cli_ml100k_vs_numpy)
{
    const char *data = mq_test_shared("ml-100k/u.data");
    if (!data) MQ_SKIP("../shared/data/ml-100k is absent");
    const char *b = mq_test_bin(), *tmp = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("%s eval --data %s --protocol strong --seed 98765 --models pop "
                             "--write-split %s/split --threads 2 > %s/direct.txt",
                             b, data, tmp, tmp),
                  0);
    ASSERT_INT_EQ(mq_test_sh("%s eval --split %s/split --models pop,ease --param ease.lambda=200 "
                             "--json --threads 2 > %s/c.json",
                             b, tmp, tmp),
                  0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/eval_ref.py split %s/split %s/c.json "
                             "--lambda 200 --models pop,ease --tol-ease 1e-4",
                             tmp, tmp),
                  0);
    /* DLAE (Steck 2020) on the same split: its numpy reference solves the defining expression
     * in float64; every metric within 1e-4, and a wrong dropout in the reference must fail. */
    ASSERT_INT_EQ(mq_test_sh("%s eval --split %s/split --models dlae --param dlae.lambda=100 "
                             "--param dlae.dropout=0.33 --json --threads 2 > %s/d.json 2>/dev/null",
                             b, tmp, tmp),
                  0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/eval_ref.py split %s/split %s/d.json "
                             "--lambda 100 --dropout 0.33 --models dlae --tol-ease 1e-4",
                             tmp, tmp),
                  0);
    ASSERT(mq_test_sh("/usr/bin/python3 tests/ref/eval_ref.py split %s/split %s/d.json "
                      "--lambda 100 --dropout 0.5 --models dlae --tol-ease 1e-4 > /dev/null",
                      tmp, tmp) != 0);
    /* The split on disk is what the direct run used: same test members. */
    ASSERT_INT_EQ(mq_test_sh("test $(tail -n +2 %s/split/test_out.csv | cut -d, -f1 | sort -u | "
                             "wc -l) -gt 50",
                             tmp),
                  0);
}

/* --refit trains on the training plus the validation members (fold-in and targets): numpy's
 * popularity and EASE trained on train.csv + val_in.csv + val_out.csv must agree (exactly /
 * 1e-4), and the figures must differ from the train-only reference (the option does something). */
MQ_TEST(eval_cli_refit_vs_numpy)
{
    const char *data = mq_test_shared("ml-100k/u.data");
    if (!data) MQ_SKIP("../shared/data/ml-100k is absent");
    const char *b = mq_test_bin(), *tmp = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("%s eval --data %s --seed 7 --models pop --write-split %s/split "
                             "--threads 2 > /dev/null 2>&1",
                             b, data, tmp),
                  0);
    ASSERT_INT_EQ(mq_test_sh("%s eval --split %s/split --models pop,ease --param ease.lambda=200 "
                             "--refit --json --threads 2 > %s/c.json 2>/dev/null",
                             b, tmp, tmp),
                  0);
    ASSERT_INT_EQ(mq_test_sh("grep -q '\"refit\": true, \"refit_members\": 844' %s/c.json", tmp), 0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/eval_ref.py split %s/split %s/c.json "
                             "--lambda 200 --models pop,ease --tol-ease 1e-4 --refit",
                             tmp, tmp),
                  0);
    ASSERT(mq_test_sh("/usr/bin/python3 tests/ref/eval_ref.py split %s/split %s/c.json "
                      "--lambda 200 --models ease --tol-ease 1e-4 > /dev/null",
                      tmp, tmp) != 0);
    /* Without validation members there is nothing to refit on: exit 1 with a message. */
    ASSERT_INT_EQ(mq_test_sh("%s eval --data %s --val-frac 0 --models pop --refit --threads 2 "
                             "2>&1 >/dev/null | grep -q 'refit needs validation members'",
                             b, data),
                  0);
}

/* The published Last.fm row was computed on the split Liang et al.'s preprocessing makes
 * with numpy seed 98765 (tests/ref/eval_liang_split.py: 15,385 titles in the training members,
 * as the issue says). Popularity has no parameters, so on that split Marquee must reproduce the
 * published popularity figures 0.096 / 0.186 / 0.149 to their 3 printed decimals (|d| <= 5e-4). */
MQ_TEST(eval_cli_lastfm_published_pop)
{
    const char *data = mq_test_shared("hetrec2011-lastfm-2k/user_artists.dat");
    if (!data) MQ_SKIP("../shared/data/hetrec2011-lastfm-2k is absent");
    const char *b = mq_test_bin(), *tmp = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 tests/ref/eval_liang_split.py lastfm %s %s/liang "
                             "| grep -q '15385 titles'",
                             data, tmp),
                  0);
    ASSERT_INT_EQ(mq_test_sh("%s eval --split %s/liang --models pop --json --threads 2 "
                             "> %s/pop.json 2>/dev/null",
                             b, tmp, tmp),
                  0);
    ASSERT_INT_EQ(mq_test_sh("/usr/bin/python3 -c \"import json,sys; t=json.load(open('%s/pop.json'))"
                             "['models'][0]['test']; got=(t['recall@20'],t['recall@50'],t['ndcg@100']); "
                             "pub=(0.096,0.186,0.149); print('lastfm pop', got, 'published', pub); "
                             "sys.exit(0 if all(abs(g-p)<=5e-4 for g,p in zip(got,pub)) else 1)\"",
                             tmp),
                  0);
}

MQ_TEST(eval_cli_bad_split)
{
    const char *b = mq_test_bin(), *tmp = mq_test_tmpdir();
    ASSERT_INT_EQ(mq_test_sh("mkdir -p %s/bad && cd %s/bad && printf 'member,title\\n1,2\\n1,3\\n2,2\\n' "
                             "> train.csv && printf 'member,title\\n5,2\\n' > test_in.csv && "
                             "printf 'member;title\\n5,3\\n' > test_out.csv",
                             tmp, tmp),
                  0);
    /* A malformed file is exit 1 with a message naming the file and line. */
    ASSERT_INT_EQ(mq_test_sh("%s eval --split %s/bad --models pop 2>&1 | grep -q 'test_out.csv:1'",
                             b, tmp),
                  0);
    ASSERT_INT_EQ(mq_test_sh("%s eval --split %s/bad --models pop >/dev/null 2>&1", b, tmp), 1);
    ASSERT_INT_EQ(mq_test_sh("%s eval --split %s/nonexistent --models pop >/dev/null 2>&1", b, tmp),
                  1);
    /* --tune without validation members is an error, not a silent default. */
    ASSERT_INT_EQ(mq_test_sh("printf 'member,title\\n5,3\\n' > %s/bad/test_out.csv && "
                             "%s eval --split %s/bad --models ease --tune 2>&1 | "
                             "grep -q 'needs validation members'",
                             tmp, b, tmp),
                  0);
}

MQ_TEST(eval_cli_tune_json)
{
    const char *data = mq_test_shared("ml-100k/u.data");
    if (!data) MQ_SKIP("../shared/data/ml-100k is absent");
    const char *b = mq_test_bin(), *tmp = mq_test_tmpdir();
    /* Tuning picks the grid point with the best validation NDCG@100, reports it in params, and
     * the whole output is deterministic across thread counts. */
    ASSERT_INT_EQ(mq_test_sh("%s eval --data %s --seed 98765 --models pop,ease --tune "
                             "--grid ease.lambda=20,200 --json --threads 1 > %s/t1.json",
                             b, data, tmp),
                  0);
    ASSERT_INT_EQ(mq_test_sh("%s eval --data %s --seed 98765 --models pop,ease --tune "
                             "--grid ease.lambda=20,200 --json --threads 3 > %s/t3.json",
                             b, data, tmp),
                  0);
    ASSERT_INT_EQ(mq_test_sh(
                      "/usr/bin/python3 - %s/t1.json %s/t3.json <<'PY'\n"
                      "import json, sys\n"
                      "a, b = (json.load(open(p)) for p in sys.argv[1:3])\n"
                      "e = [m for m in a['models'] if m['model'] == 'ease'][0]\n"
                      "t = e['tuning']\n"
                      "assert [x['params'] for x in t] == ['lambda=20', 'lambda=200', 'lambda=2000'], t\n"
                      "assert [x['extension'] for x in t] == [False, False, True], t\n"
                      "ax = e['tuning_axes'][0]\n"
                      "assert ax['name'] == 'lambda' and ax['extended_high'] == 1 and ax['extended_low'] == 0, ax\n"
                      "assert ax['best'] == 200 and ax['edge'] is None and e['optimum_interior'] is True, ax\n"
                      "best = max(t, key=lambda x: x['val_ndcg'])['params']\n"
                      "assert 'lambda=%%g' %% e['params']['lambda'] == best, (e['params'], best)\n"
                      "assert abs(e['val']['ndcg@100'] - max(x['val_ndcg'] for x in t)) < 1e-12\n"
                      "for k in ('recall@20', 'recall@50', 'ndcg@100', 'recall@20_se', 'mrr', 'auc',\n"
                      "          'coverage@100', 'novelty@100', 'diversity@100', 'members'):\n"
                      "    assert k in e['test'], k\n"
                      "for x, y in zip(a['models'], b['models']):\n"
                      "    assert x['test'] == y['test'], (x['model'], 'differs across threads')\n"
                      "assert 0 < e['test']['ndcg@100'] <= 1 and e['fit_seconds'] >= 0\n"
                      "PY",
                      tmp, tmp),
                  0);
}

MQ_TEST(eval_cli_tune_extends_edge)
{
    /* Grids deliberately placed so the best validation value sits on an edge (ml-100k's EASE
     * optimum is near lambda 200-500): the search extends the axis geometrically (ratio of
     * the two outermost values, here 10) until the optimum is interior, and reports it. With
     * --tune-extend 0 it stays on the edge and says so. */
    const char *data = mq_test_shared("ml-100k/u.data");
    if (!data) MQ_SKIP("../shared/data/ml-100k is absent");
    const char *b = mq_test_bin(), *tmp = mq_test_tmpdir();
    const char *run = "%s eval --data %s --seed 98765 --models ease --tune --grid ease.lambda=%s "
                      "%s --json --threads 2 > %s/%s.json 2> %s/%s.err";
    ASSERT_INT_EQ(mq_test_sh(run, b, data, "2,20", "", tmp, "up", tmp, "up"), 0);
    ASSERT_INT_EQ(mq_test_sh(run, b, data, "20000,200000", "", tmp, "down", tmp, "down"), 0);
    ASSERT_INT_EQ(mq_test_sh(run, b, data, "2,20", "--tune-extend 0", tmp, "none", tmp, "none"), 0);
    /* a bound: EASE's prune 0 (no pruning) beats prune 100, and 0 cannot be extended past */
    ASSERT_INT_EQ(mq_test_sh(run, b, data, "200", "--grid ease.prune=0,100", tmp, "bound", tmp, "bound"), 0);
    ASSERT_INT_EQ(mq_test_sh("grep -q 'edge extension' %s/up.err", tmp), 0);
    ASSERT_INT_EQ(mq_test_sh(
                      "/usr/bin/python3 - %s <<'PY'\n"
                      "import json, sys\n"
                      "d = sys.argv[1]\n"
                      "def model(n): return json.load(open(f'{d}/{n}.json'))['models'][0]\n"
                      "def check(n, grid, ext_low, ext_high):\n"
                      "    e = model(n); t = e['tuning']; ax = e['tuning_axes'][0]\n"
                      "    vals = [float(p['params'].split('=')[1]) for p in t]\n"
                      "    assert vals[:2] == grid and [p['extension'] for p in t[:2]] == [False, False], t\n"
                      "    assert all(p['extension'] for p in t[2:]), t\n"
                      "    assert (ax['extended_low'], ax['extended_high']) == (ext_low, ext_high), ax\n"
                      "    assert ax['extended'] is True and ax['grid_values'] == 2\n"
                      "    # each extension step multiplies by the grid's ratio (10)\n"
                      "    for v in vals[2:]: assert any(abs(v / g - 10.0 ** k) < 1e-9 for g in grid for k in range(-4, 5)), vals\n"
                      "    best = max(t, key=lambda p: p['val_ndcg'])\n"
                      "    assert float(best['params'].split('=')[1]) == ax['best'] == e['params']['lambda'], (best, ax)\n"
                      "    assert best['extension'] and best['val_ndcg'] > max(p['val_ndcg'] for p in t[:2]), t\n"
                      "    lo, hi = min(ax['values']), max(ax['values'])\n"
                      "    assert lo < ax['best'] < hi and ax['edge'] is None and ax['stop'] is None, ax\n"
                      "    assert e['optimum_interior'] is True\n"
                      "    assert abs(e['val']['ndcg@100'] - best['val_ndcg']) < 1e-12\n"
                      "check('up', [2.0, 20.0], 0, 2)\n"
                      "check('down', [20000.0, 200000.0], 3, 0)\n"
                      "e = model('none'); ax = e['tuning_axes'][0]\n"
                      "assert len(e['tuning']) == 2 and ax['extended'] is False, e['tuning']\n"
                      "assert ax['best'] == 20 and ax['edge'] == 'high' and ax['stop'] == 'max_extend', ax\n"
                      "assert e['optimum_interior'] is False\n"
                      "e = model('bound'); ax = [a for a in e['tuning_axes'] if a['name'] == 'prune'][0]\n"
                      "assert ax['values'] == [0, 100] and ax['extended'] is False, ax\n"
                      "assert ax['best'] == 0 and ax['edge'] == 'low' and ax['stop'] == 'bound', ax\n"
                      "assert e['optimum_interior'] is False\n"
                      "PY",
                      tmp),
                  0);
}
