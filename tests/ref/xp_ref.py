#!/usr/bin/python3
"""xp_ref.py: `marquee xp analyze --json` against scipy / statsmodels on randomized inputs.

Usage: xp_ref.py MARQUEE_BIN TMPDIR [N_DATASETS]
Each dataset is random (seeded): arm sizes, means, variances, heavy tails, ties, 0/1 metrics,
a covariate and a pairing column. For each, the references are computed independently:
  Welch      scipy.stats.ttest_ind(equal_var=False); CI = diff +- t.ppf(1-a/2, df) se
  z-test     statsmodels proportions_ztest (pooled) and confint_proportions_2indep(wald)
  Mann-Whitney scipy.stats.mannwhitneyu(B, A, use_continuity=True, method='asymptotic')
  CUPED      statsmodels OLS y ~ 1 + treat + x: coefficient; standard error cov_type="HC2"
             (default) or nonrobust (--cuped-se ols); CI and p-value from t(n - 3)
  paired     scipy.stats.ttest_rel
  SRM        scipy.stats.chisquare
  Holm / BH  statsmodels.stats.multitest.multipletests on the primary p-values
  ratio      the delta-method formula written out in numpy
  segments   per-segment effects; Cochran's Q by statsmodels combine_effects().test_homogeneity();
             the post-stratified effect sum_s w_s (mB_s - mA_s) in numpy
  novelty    the per-day effects' weighted least squares slope by statsmodels WLS
  quantiles  point estimates = numpy.quantile (linear); bootstrap CI width within 15% of Welch's
Tolerance: 1e-9 relative (abs floor 1e-14 for p-values near 0). scipy 1.10's t.ppf is only good
to ~1e-9 itself, so the t quantile is polished by Newton steps on scipy's t.cdf.
Exits 1 on any mismatch, printing both sides.
"""
import json, subprocess, sys
import numpy as np
from scipy import stats
import statsmodels.api as sm
from statsmodels.stats.proportion import proportions_ztest, confint_proportions_2indep
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.meta_analysis import combine_effects

BIN, TMP = sys.argv[1], sys.argv[2]
NSETS = int(sys.argv[3]) if len(sys.argv) > 3 else 12
fails = 0


def tppf(p, df):
    q = stats.t.ppf(p, df)
    for _ in range(3):
        q -= (stats.t.cdf(q, df) - p) / stats.t.pdf(q, df)
    return q


def check(what, ours, ref, rel=1e-9, floor=1e-14):
    global fails
    if ours is None or not np.isfinite(ref) or abs(ours - ref) > rel * abs(ref) + floor:
        fails += 1
        print(f"MISMATCH {what}: marquee {ours!r} vs reference {ref!r}")


def run(path, *args):
    out = subprocess.run([BIN, "xp", "analyze", path, *args, "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        print("marquee failed:", out.stderr)
        sys.exit(1)
    return json.loads(out.stdout)


def find(doc, metric, method, variant="B"):
    for r in doc["results"]:
        if r["metric"] == metric and r["method"] == method and r["variant"] == variant:
            return r
    raise KeyError((metric, method, variant))


alpha = 0.05
for s in range(NSETS):
    rng = np.random.default_rng(1000 + s)
    nA, nB = int(rng.integers(20, 3000)), int(rng.integers(20, 3000))
    if s % 4 == 0:
        nA, nB = int(rng.integers(5, 12)), int(rng.integers(5, 12))
    n = nA + nB
    v = np.array(["A"] * nA + ["B"] * nB)
    rng.shuffle(v)
    isB = v == "B"
    x = rng.normal(rng.uniform(-5, 5), rng.uniform(0.1, 3), n)
    y = rng.uniform(0.2, 1.5) * x + rng.normal(0, rng.uniform(0.5, 4), n) * np.where(isB, rng.uniform(0.5, 2), 1) + isB * rng.normal(0, 0.3)
    heavy = np.round(rng.lognormal(0, 1.2, n) * (1 + 0.2 * isB), 1)   # ties
    conv = (rng.random(n) < rng.uniform(0.05, 0.5) + isB * rng.uniform(-0.03, 0.05)).astype(int)
    num = rng.poisson(3, n) + isB
    den = 1 + rng.poisson(2, n)
    path = f"{TMP}/ref{s}.csv"
    with open(path, "w") as f:
        f.write("unit,variant,y,heavy,conv,num,den,x\n")
        for i in range(n):
            f.write(f"u{i},{v[i]},{y[i]!r},{heavy[i]!r},{conv[i]},{num[i]},{den[i]},{x[i]!r}\n")
    doc = run(path, "--metric", "y", "--metric", "heavy", "--metric", "conv", "--metric", "num/den",
              "--control", "A", "--mann-whitney", "--reservoir", "100000")
    A, B = ~isB, isB
    # SRM
    check(f"set{s} srm", doc["srm"]["p_value"], stats.chisquare([nA, nB]).pvalue)
    # Welch on y and heavy
    for m, arr in (("y", y), ("heavy", heavy)):
        r = find(doc, m, "welch")
        t = stats.ttest_ind(arr[B], arr[A], equal_var=False)
        va, vb = arr[A].var(ddof=1) / nA, arr[B].var(ddof=1) / nB
        se = np.sqrt(va + vb)
        df = (va + vb) ** 2 / (va ** 2 / (nA - 1) + vb ** 2 / (nB - 1))
        d = arr[B].mean() - arr[A].mean()
        q = tppf(1 - alpha / 2, df)
        check(f"set{s} {m} welch p", r["p_value"], t.pvalue)
        check(f"set{s} {m} welch effect", r["effect"], d)
        check(f"set{s} {m} welch ci_low", r["ci_low"], d - q * se)
        check(f"set{s} {m} welch ci_high", r["ci_high"], d + q * se)
        # Mann-Whitney
        mw = stats.mannwhitneyu(arr[B], arr[A], alternative="two-sided", use_continuity=True, method="asymptotic")
        rm = find(doc, m, "mann_whitney")
        check(f"set{s} {m} mann-whitney p", rm["p_value"], mw.pvalue)
        check(f"set{s} {m} mann-whitney U", rm["u"], mw.statistic)
    # two-proportion z
    r = find(doc, "conv", "ztest")
    cnt = np.array([conv[B].sum(), conv[A].sum()])
    nobs = np.array([nB, nA])
    if 0 < cnt.sum() < n:
        z, p = proportions_ztest(cnt, nobs)
        lo, hi = confint_proportions_2indep(cnt[0], nB, cnt[1], nA, method="wald", compare="diff", alpha=alpha)
        check(f"set{s} ztest p", r["p_value"], p)
        check(f"set{s} ztest ci_low", r["ci_low"], lo)
        check(f"set{s} ztest ci_high", r["ci_high"], hi)
    # ratio by the delta method, written out
    r = find(doc, "num/den", "delta_ratio")
    def rv(mask):
        N, D = num[mask].astype(float), den[mask].astype(float)
        R = N.mean() / D.mean()
        c = np.cov(N, D, ddof=1)
        return R, (c[0, 0] - 2 * R * c[0, 1] + R * R * c[1, 1]) / (mask.sum() * D.mean() ** 2)
    (RA, vA), (RB, vB) = rv(A), rv(B)
    se = np.sqrt(vA + vB)
    check(f"set{s} ratio effect", r["effect"], RB - RA)
    check(f"set{s} ratio p", r["p_value"], 2 * stats.norm.sf(abs(RB - RA) / se))
    check(f"set{s} ratio ci_low", r["ci_low"], RB - RA - stats.norm.ppf(1 - alpha / 2) * se)
    # quantile point estimates (all units fit in the reservoir) = numpy's linear quantiles;
    # the bootstrap CI of the mean difference is close to Welch's CI (percentile bootstrap,
    # 2000 resamples: within 15% in width for these n >= 20)
    docq = run(path, "--metric", "y", "--control", "A", "--quantile", "0.9", "--quantile", "0.25", "--bootstrap")
    for r in docq["results"]:
        if r["method"] == "quantile":
            check(f"set{s} quantile {r['quantile']} A", r["mean"][0], np.quantile(y[A], r["quantile"]))
            check(f"set{s} quantile {r['quantile']} B", r["mean"][1], np.quantile(y[B], r["quantile"]))
    rb, rw = find(docq, "y", "bootstrap"), find(docq, "y", "welch")
    check(f"set{s} bootstrap effect", rb["effect"], rw["effect"])
    if min(nA, nB) >= 20:
        wb, ww = rb["ci_high"] - rb["ci_low"], rw["ci_high"] - rw["ci_low"]
        check(f"set{s} bootstrap CI width vs Welch", wb, ww, rel=0.15)
    # two threads over halves of the file give the same numbers up to rounding
    doc2t = run(path, "--metric", "y", "--metric", "heavy", "--metric", "conv", "--metric", "num/den",
                "--control", "A", "--threads", "2")
    for r2 in doc2t["results"]:
        r1 = find(doc, r2["metric"], r2["method"])
        for k in ("effect", "ci_low", "ci_high", "p_value", "relative_effect"):
            if r1[k] is not None or r2[k] is not None:
                check(f"set{s} threads=2 {r2['metric']} {k}", r2[k], r1[k], rel=1e-11, floor=1e-15)
        if r1["n"] != r2["n"]:
            check(f"set{s} threads=2 n", None, 0.0)
    # Holm and BH over the primary rows
    prim = [r for r in doc["results"] if "p_value_holm" in r]
    ps = np.array([1.0 if r["p_value"] is None else r["p_value"] for r in prim])  # not estimable counts as p = 1
    for method, key in (("holm", "p_value_holm"), ("fdr_bh", "p_value_bh")):
        adj = multipletests(ps, method=method)[1]
        for r, a in zip(prim, adj):
            check(f"set{s} {method} {r['metric']}", r[key], a)
    # CUPED = OLS y ~ 1 + treat + x: HC2 standard error by default, classical with --cuped-se ols;
    # CI and p-value from t(n - 3) with that standard error
    X = sm.add_constant(np.column_stack([isB.astype(float), x]))
    for se_opt, cov in (([], "HC2"), (["--cuped-se", "ols"], "nonrobust")):
        doc2 = run(path, "--metric", "y", "--control", "A", "--covariate", "x", *se_opt)
        r = find(doc2, "y", "cuped")
        ols = sm.OLS(y, X).fit(cov_type=cov)
        b, se = ols.params[1], ols.bse[1]
        q = tppf(1 - alpha / 2, n - 3)
        check(f"set{s} cuped {cov} se_type", 1.0 if r["se_type"] == ("HC2" if cov == "HC2" else "OLS") else 0.0, 1.0)
        check(f"set{s} cuped {cov} effect", r["effect"], b)
        check(f"set{s} cuped {cov} se", r["se"], se)
        check(f"set{s} cuped {cov} p", r["p_value"], 2 * stats.t.sf(abs(b / se), n - 3))
        check(f"set{s} cuped {cov} ci_low", r["ci_low"], b - q * se)
        check(f"set{s} cuped {cov} ci_high", r["ci_high"], b + q * se)
        if cov == "nonrobust":
            check(f"set{s} cuped ols p = statsmodels", r["p_value"], ols.pvalues[1])
    # paired: each unit id appears once per arm
    m = min(nA, nB)
    pp = f"{TMP}/pair{s}.csv"
    ya, yb = y[A][:m], y[A][:m] * 0.7 + rng.normal(0.1, 1, m)
    with open(pp, "w") as f:
        f.write("trace,variant,qoe\n")
        order = rng.permutation(2 * m)
        rows = [(f"t{i}", "A", ya[i]) for i in range(m)] + [(f"t{i}", "B", yb[i]) for i in range(m)]
        for k in order:
            f.write("%s,%s,%r\n" % rows[k])
    doc3 = run(pp, "--metric", "qoe", "--control", "A", "--pair", "trace")
    r = find(doc3, "qoe", "paired")
    tr = stats.ttest_rel(yb, ya)
    check(f"set{s} paired p", r["p_value"], tr.pvalue)
    d = yb - ya
    q = tppf(1 - alpha / 2, m - 1)
    check(f"set{s} paired ci_low", r["ci_low"], d.mean() - q * d.std(ddof=1) / np.sqrt(m))

# segments, post-stratification and novelty on one larger dataset
rng = np.random.default_rng(77)
n = 6000
v = np.where(rng.random(n) < 0.5, "A", "B")
isB = v == "B"
seg = rng.choice(["new", "tenured", "tv", "kids"], n, p=[0.4, 0.3, 0.2, 0.1])
day = rng.integers(0, 9, n)
eff = np.select([seg == "new", seg == "tenured", seg == "tv"], [0.3, 0.0, -0.1], 0.2) + 0.03 * day
y = rng.normal(5, 2, n) + isB * eff
path = f"{TMP}/seg.csv"
with open(path, "w") as f:
    f.write("unit,variant,y,seg,day\n")
    for i in range(n):
        f.write(f"u{i},{v[i]},{y[i]!r},{seg[i]},{day[i]}\n")
doc = run(path, "--metric", "y", "--control", "A", "--segment", "seg", "--day", "day")
sg = doc["segments"][0]
effs, vars_, ws, d_ps = [], [], [], 0.0
for b in sg["by_segment"]:
    m = seg == b["segment"]
    a_, b_ = y[m & ~isB], y[m & isB]
    e = b_.mean() - a_.mean()
    var = a_.var(ddof=1) / len(a_) + b_.var(ddof=1) / len(b_)
    check(f"segment {b['segment']} effect", b["effect"], e)
    check(f"segment {b['segment']} ci_low", b["ci_low"], e - stats.norm.ppf(0.975) * np.sqrt(var))
    effs.append(e); vars_.append(var); ws.append(m.sum())
het = combine_effects(np.array(effs), np.array(vars_)).test_homogeneity()
check("cochran q", sg["heterogeneity"]["q"], het.statistic)
check("cochran p", sg["heterogeneity"]["p_value"], het.pvalue)
w = np.array(ws) / sum(ws)
ps_eff = float(np.sum(w * np.array(effs)))
ps_se = float(np.sqrt(np.sum(w * w * np.array(vars_))))
r = find(doc, "y", "poststrat")
check("poststrat effect", r["effect"], ps_eff)
check("poststrat p", r["p_value"], 2 * stats.norm.sf(abs(ps_eff) / ps_se))
nv = doc["novelty"][0]
days = np.array([d["day"] for d in nv["by_day"]])
de, dv = [], []
for d in days:
    m = day == d
    a_, b_ = y[m & ~isB], y[m & isB]
    de.append(b_.mean() - a_.mean())
    dv.append(a_.var(ddof=1) / len(a_) + b_.var(ddof=1) / len(b_))
wls = sm.WLS(np.array(de), sm.add_constant(days.astype(float)), weights=1 / np.array(dv)).fit()
# marquee's slope se is the known-variance one (weights are 1/se^2), i.e. WLS with scale 1
check("novelty slope", nv["trend"]["slope_per_day"], wls.params[1])
check("novelty se", nv["trend"]["se"], float(np.sqrt(wls.cov_params(scale=1.0)[1, 1])))

print(f"xp_ref: {NSETS} random datasets, {'FAILED ' + str(fails) + ' checks' if fails else 'all checks agree (deterministic ones to 1e-9)'} (plus segments / post-stratification / novelty)")
sys.exit(1 if fails else 0)
