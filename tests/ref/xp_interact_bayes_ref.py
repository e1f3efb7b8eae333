#!/usr/bin/python3
"""xp_interact_bayes_ref.py: `marquee xp interactions` and `xp analyze --bayes` against statsmodels
and scipy on random inputs.

Usage: xp_interact_bayes_ref.py MARQUEE_BIN TMPDIR
Interactions (k x m designs with unequal cells and variances, 2 x 2 to 4 x 3, with and without
--control): statsmodels OLS of `y ~ C(e1, Treatment(ref)) * C(e2, Treatment(ref))` with
cov_type="HC2" (its default normal reference): the 2 x 2 interaction coefficient, its standard
error, conf_int and p-value; for every design the joint Wald test of all interaction terms by
`wald_test(R, use_f=False)` (chi-square statistic, df, p-value). Tolerance 1e-9 relative.

Bayes (--bayes, Welch, z-test and CUPED rows): the posterior under the documented prior
delta ~ N(0, (0.3 |control mean|)^2) with likelihood N(effect | delta, se^2), computed
 (a) in closed form (normal-normal conjugacy; scipy.stats.norm), and
 (b) numerically: chance to win and expected loss by scipy.integrate.quad of the unnormalised
     posterior prior(delta) * likelihood(delta), normalised by its own integral,
each compared with marquee's output to 1e-6 relative (absolute floor 1e-12); the credible
interval against norm.ppf of the closed-form posterior. Exits 1 on any mismatch.
"""
import json, subprocess, sys
import numpy as np
import pandas as pd
from scipy import stats, integrate
import statsmodels.formula.api as smf

BIN, TMP = sys.argv[1], sys.argv[2]
fails = checks = 0


def check(what, ours, ref, rel=1e-9, floor=1e-14):
    global fails, checks
    checks += 1
    if ours is None or not np.isfinite(ref) or abs(ours - ref) > rel * abs(ref) + floor:
        fails += 1
        print(f"MISMATCH {what}: marquee {ours!r} vs reference {ref!r}")


def marquee(*args):
    out = subprocess.run([BIN, "xp", *args, "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        print("marquee failed:", " ".join(args), out.stderr)
        sys.exit(1)
    return json.loads(out.stdout)


# ---- interactions ----
designs = [(2, 2, None), (2, 2, ("b", "y")), (3, 2, None), (3, 4, ("c", "x")), (4, 3, None), (2, 3, None)]
for s, (k, m, ref) in enumerate(designs):
    rng = np.random.default_rng(500 + s)
    l1 = ["a", "b", "c", "d"][:k]
    l2 = ["x", "y", "z"][:m] if m <= 3 else ["w", "x", "y", "z"][:m]
    n = int(rng.integers(400, 3000))
    e1 = rng.choice(l1, n, p=rng.dirichlet(np.ones(k) * 5))
    e2 = rng.choice(l2, n, p=rng.dirichlet(np.ones(m) * 5))
    i1 = np.array([l1.index(v) for v in e1])
    i2 = np.array([l2.index(v) for v in e2])
    inter = rng.normal(0, 0.3, (k, m)) * (s % 2)           # odd designs interact
    sd = rng.uniform(0.5, 3, (k, m))                        # unequal variances per cell
    y = 3 + 0.2 * i1 - 0.1 * i2 + inter[i1, i2] + rng.normal(0, 1, n) * sd[i1, i2]
    path = f"{TMP}/inter{s}.csv"
    pd.DataFrame({"unit": np.arange(n), "rows_exp": e1, "art_exp": e2, "watch": y}).to_csv(path, index=False, float_format="%r")
    args = ["interactions", path, "--experiments", "rows_exp,art_exp", "--metric", "watch"]
    r1, r2 = (sorted(l1)[0], sorted(l2)[0]) if ref is None else ref
    if ref is not None:
        args += ["--control", f"rows_exp={r1},art_exp={r2}"]
    doc = marquee(*args)
    df = pd.DataFrame({"y": y, "e1": e1, "e2": e2})
    fit = smf.ols(f"y ~ C(e1, Treatment('{r1}')) * C(e2, Treatment('{r2}'))", df).fit(cov_type="HC2")
    names = [p for p in fit.params.index if ":" in p]
    R = np.zeros((len(names), len(fit.params)))
    for i, p in enumerate(names):
        R[i, list(fit.params.index).index(p)] = 1
    w = fit.wald_test(R, use_f=False, scalar=True)
    jt = doc["joint_test"]
    check(f"inter{s} {k}x{m} joint statistic", jt["statistic"], float(w.statistic))
    check(f"inter{s} {k}x{m} joint p", jt["p_value"], float(w.pvalue), floor=1e-15)
    check(f"inter{s} {k}x{m} joint df", jt["df"], float(len(names)))
    for c in doc["cells"]:
        mask = (e1 == c["rows_exp"]) & (e2 == c["art_exp"])
        check(f"inter{s} cell mean", c["mean"], y[mask].mean())
        check(f"inter{s} cell n", c["n"], float(mask.sum()))
    if k == 2 and m == 2:
        it = doc["interaction"]
        ci = fit.conf_int(0.05).loc[names[0]]
        check(f"inter{s} 2x2 effect", it["effect"], fit.params[names[0]])
        check(f"inter{s} 2x2 se", it["se"], fit.bse[names[0]])
        check(f"inter{s} 2x2 p", it["p_value"], fit.pvalues[names[0]], floor=1e-15)
        check(f"inter{s} 2x2 ci_low", it["ci_low"], ci.iloc[0])
        check(f"inter{s} 2x2 ci_high", it["ci_high"], ci.iloc[1])
        # the contrast of the cell means, written out
        mu = {(a, b): y[(e1 == a) & (e2 == b)].mean() for a in l1 for b in l2}
        o1 = [r1] + [v for v in l1 if v != r1]
        o2 = [r2] + [v for v in l2 if v != r2]
        check(f"inter{s} 2x2 contrast", it["effect"], mu[o1[1], o2[1]] - mu[o1[1], o2[0]] - mu[o1[0], o2[1]] + mu[o1[0], o2[0]])
    elif "interaction" in doc:
        check(f"inter{s} {k}x{m}: no 'interaction' object beyond 2x2", None, 0.0)


# ---- Bayesian read-out ----
def bayes_ref(effect, se, mean_a, direction, alpha=0.05):
    tau = 0.3 * abs(mean_a)
    prec = 1 / tau ** 2 + 1 / se ** 2
    s = 1 / np.sqrt(prec)
    mu = effect / se ** 2 / prec
    win = stats.norm.sf(0, loc=direction * mu, scale=s)
    dm = direction * mu
    loss = s * stats.norm.pdf(dm / s) - dm * stats.norm.sf(dm / s)
    # numerically: posterior by quadrature of prior x likelihood over delta
    post = lambda d: stats.norm.pdf(d, 0, tau) * stats.norm.pdf(effect, d, se)
    lo, hi = mu - 40 * s, mu + 40 * s
    Z = integrate.quad(post, lo, hi, points=[mu], epsabs=0, epsrel=1e-12, limit=200)[0]
    win_q = integrate.quad(lambda d: post(d) * (direction * d > 0), lo, hi, points=[0.0, mu], epsabs=0, epsrel=1e-12, limit=200)[0] / Z
    loss_q = integrate.quad(lambda d: post(d) * max(0.0, -direction * d), lo, hi, points=[0.0, mu], epsabs=0, epsrel=1e-12, limit=200)[0] / Z
    z = stats.norm.ppf(1 - alpha / 2)
    return dict(win=win, loss=loss, win_q=win_q, loss_q=loss_q, lo=mu - z * s, hi=mu + z * s, tau=tau)


for s in range(6):
    rng = np.random.default_rng(900 + s)
    nA, nB = int(rng.integers(30, 3000)), int(rng.integers(30, 3000))
    n = nA + nB
    v = np.array(["A"] * nA + ["B"] * nB)
    rng.shuffle(v)
    isB = v == "B"
    x = rng.normal(10, 2, n)
    y = 0.5 * x + rng.normal(5, rng.uniform(1, 4), n) + isB * rng.normal(0, 0.4)
    conv = (rng.random(n) < 0.2 + isB * rng.uniform(-0.03, 0.03)).astype(int)
    path = f"{TMP}/bayes{s}.csv"
    pd.DataFrame({"unit": np.arange(n), "variant": v, "y": y, "conv": conv, "x": x}).to_csv(path, index=False, float_format="%r")
    docs = [marquee("analyze", path, "--metric", "y", "--metric", "conv", "--control", "A", "--bayes"),
            marquee("analyze", path, "--metric", "y", "--control", "A", "--covariate", "x", "--bayes")]
    for doc in docs:
        for r in doc["results"]:
            if "bayes" not in r:
                continue
            b = r["bayes"]
            ref = bayes_ref(r["effect"], r["se"], r["mean"][0], 1)
            tag = f"bayes{s} {r['metric']} {r['method']}"
            check(f"{tag} chance_to_win", b["chance_to_win"], ref["win"], rel=1e-6, floor=1e-12)
            check(f"{tag} chance_to_win (quadrature)", b["chance_to_win"], ref["win_q"], rel=1e-6, floor=1e-12)
            check(f"{tag} expected_loss", b["expected_loss"], ref["loss"], rel=1e-6, floor=1e-12)
            check(f"{tag} expected_loss (quadrature)", b["expected_loss"], ref["loss_q"], rel=1e-6, floor=1e-12)
            check(f"{tag} ci_low", b["ci_low"], ref["lo"], rel=1e-6, floor=1e-12)
            check(f"{tag} ci_high", b["ci_high"], ref["hi"], rel=1e-6, floor=1e-12)
            check(f"{tag} prior_sd", b["prior_sd"], ref["tau"])

print(f"xp_interact_bayes_ref: {len(designs)} interaction designs, 6 Bayesian datasets, {checks} checks: "
      f"{'FAILED ' + str(fails) + ' checks' if fails else 'all checks agree'}")
sys.exit(1 if fails else 0)
