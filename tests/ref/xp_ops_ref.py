#!/usr/bin/python3
"""xp_ops_ref.py TIMELINE.json UNITS.csv REPORT.json: an independent check of the experiment
timeline (GET /v1/experiments/{name}/timeline, src/serve/xp_ops.c).

From the `xp collect` CSV of the same logs (rows in first-exposure order) it recomputes, for
the end of each UTC day from the first exposure's to the last one's:
  - the units whose first exposure falls in the day, per variant;
  - per treatment variant against the control (the first variant), over the units that entered
    by then: the difference in means, Welch's 95% CI and p (scipy.stats), and the mSPRT
    always-valid p-value and confidence sequence of Johari, Pekelis & Walsh (2017) with the
    looks the live report makes: the first k*100 units of each arm for k = 1 while both arms
    have them, then all units; tau = 0.1 x sqrt((var_A + var_B) / 2) at the first look
    (numpy, two-pass variances);
and checks that the timeline's last point equals the live report's effect, CI and
always-valid p-value. Tolerances: 1e-9 relative (+1e-12 absolute) - both sides are double
precision, the C side uses running (Welford) moments and numpy two-pass sums, whose results
differ by a few ulps amplified at most ~1e3 by the t quantile and exp() of the mSPRT.
Exit 0 when all agree; each disagreement is printed.
"""
import csv
import json
import math
import sys

import numpy as np
from scipy import stats

tl = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
report = json.load(open(sys.argv[3]))
bad = 0


def close(a, b, what):
    global bad
    if a is None or b is None:
        if a is not b:
            print(f"{what}: {a} vs {b}")
            bad += 1
        return
    if not (abs(a - b) <= 1e-9 * max(abs(a), abs(b)) + 1e-12):
        print(f"{what}: timeline {a!r} vs reference {b!r}")
        bad += 1


control = tl["control"]
variants = [u["variant"] for u in tl["units_per_day"]]
metric = tl["metric"]
arms = {v: [] for v in variants}
for r in rows:
    if r["variant"] in arms:
        arms[r["variant"]].append((int(r["first_exposure"]), float(r[metric])))
firsts = [t for v in variants for t, _ in arms[v]]
d0 = min(firsts) // 86400
d1 = max(firsts) // 86400
days = list(range(d0, d1 + 1))
if len(tl["days"]) != len(days) or tl["bucket_days"] != 1:
    print(f"days: {len(tl['days'])} vs {len(days)}")
    sys.exit(1)
if len(days) < 3:
    print(f"the test data should span several days, not {len(days)}")
    sys.exit(1)

for u in tl["units_per_day"]:
    want = [sum(1 for t, _ in arms[u["variant"]] if t // 86400 == d) for d in days]
    if u["units"] != want:
        print(f"units per day of {u['variant']}: {u['units']} vs {want}")
        bad += 1


def msprt(a, b):
    """p and confidence sequence the report would give on arms a and b (lists in file order)."""
    looks = []
    K = min(len(a), len(b)) // 100
    looks = [(a[:k * 100], b[:k * 100]) for k in range(1, K + 1)]
    if len(a) != K * 100 or len(b) != K * 100:
        looks.append((a, b))
    tau2, p, lo, hi, n = 0.0, 1.0, -math.inf, math.inf, 0
    for x, y in looks:
        if len(x) < 2 or len(y) < 2:
            continue
        va, vb = np.var(x, ddof=1), np.var(y, ddof=1)
        v = va / len(x) + vb / len(y)
        if not v > 0:
            continue
        if tau2 == 0:
            t = 0.1 * math.sqrt(0.5 * (va + vb))
            if not t > 0:
                continue
            tau2 = t * t
        th = np.mean(y) - np.mean(x)
        lam = math.sqrt(v / (v + tau2)) * math.exp(tau2 * th * th / (2 * v * (v + tau2)))
        hw = math.sqrt(v * (v + tau2) / tau2 * (math.log((v + tau2) / v) - 2 * math.log(0.05)))
        p = min(p, 1 / lam)
        lo, hi = max(lo, th - hw), min(hi, th + hw)
        n += 1
    return (p, lo, hi) if n else (None, None, None)


for c in tl["cumulative"]:
    v = c["variant"]
    for j, d in enumerate(days):
        end = (d + 1) * 86400
        a = [y for t, y in arms[control] if t < end]
        b = [y for t, y in arms[v] if t < end]
        w = f"{v} day {tl['days'][j]}"
        if c["units_control"][j] != len(a) or c["units_variant"][j] != len(b):
            print(f"{w}: units {c['units_control'][j]}/{c['units_variant'][j]} vs {len(a)}/{len(b)}")
            bad += 1
            continue
        if len(a) >= 2 and len(b) >= 2:
            va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
            se = math.sqrt(va + vb)
            df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
            eff = np.mean(b) - np.mean(a)
            q = stats.t.ppf(0.975, df)
            close(c["effect"][j], eff, w + " effect")
            close(c["ci_low"][j], eff - q * se, w + " ci_low")
            close(c["ci_high"][j], eff + q * se, w + " ci_high")
            close(c["p_value"][j], stats.ttest_ind(b, a, equal_var=False).pvalue, w + " p")
        p, lo, hi = msprt(a, b)
        close(c["always_valid_p"][j], p, w + " always-valid p")
        close(c["cs_low"][j], lo, w + " cs_low")
        close(c["cs_high"][j], hi, w + " cs_high")
    # the last point is the live report now
    res = [r for r in report["results"] if r.get("variant") == v and r.get("metric") == metric and not r.get("method", "").startswith(("poststrat", "mann", "boot", "quant"))]
    if len(res) != 1:
        print(f"report: {len(res)} rows for {v}")
        bad += 1
        continue
    r = res[0]
    close(c["effect"][-1], r["effect"], f"{v}: last point vs report effect")
    close(c["ci_low"][-1], r["ci_low"], f"{v}: last point vs report ci_low")
    close(c["ci_high"][-1], r["ci_high"], f"{v}: last point vs report ci_high")
    close(c["always_valid_p"][-1], r["sequential"]["always_valid_p_value"], f"{v}: last point vs report always-valid p")

n = sum(len(u["units"]) for u in tl["units_per_day"])
print(f"timeline: {len(days)} days, {len(tl['cumulative'])} comparisons; {'all agree' if not bad else str(bad) + ' disagreements'}")
sys.exit(1 if bad else 0)
