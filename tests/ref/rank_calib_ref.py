#!/usr/bin/env python3
"""rank_calib_ref.py: independent references for src/rank/calib.c.

usage: rank_calib_ref.py SAMPLES.csv EXPECTED.txt
SAMPLES.csv holds z,y; EXPECTED.txt the C results: "platt a b", "figures logloss brier ece",
"iso n" and n lines "x y". Checks:
  - Platt a, b = statsmodels Logit(y, [z, 1]) maximum likelihood (tolerance 1e-6: both are
    Newton iterations converged far below it);
  - isotonic blocks = a naive pool-adjacent-violators written differently (repeated scans
    merging the first violating pair, ties pooled first), tolerance 1e-12;
  - log loss, Brier, ECE over 15 equal-mass bins of p = sigmoid(z) with numpy, 1e-12.
Exit 1 on any mismatch.
"""
import sys
import numpy as np
import statsmodels.api as sm

data = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)
z, y = data[:, 0], data[:, 1]
lines = open(sys.argv[2]).read().split("\n")
pa, pb = map(float, lines[0].split()[1:3])
ll_c, br_c, ece_c = map(float, lines[1].split()[1:4])
niso = int(lines[2].split()[1])
iso_c = np.array([list(map(float, l.split())) for l in lines[3:3 + niso]])

ok = True
def check(name, got, want, tol):
    global ok
    if not abs(got - want) <= tol:
        print(f"{name}: C {got!r} reference {want!r}")
        ok = False

res = sm.Logit(y, np.column_stack([z, np.ones_like(z)])).fit(disp=0, tol=1e-14, maxiter=200)
check("platt a", pa, res.params[0], 1e-6)
check("platt b", pb, res.params[1], 1e-6)

p = 1 / (1 + np.exp(-z))
# Naive PAV: blocks of equal p first, then merge the first violating neighbours until none.
order = np.lexsort((np.arange(len(p)), p))
ux = []
for i in order:
    if ux and ux[-1][0] == p[i]:
        ux[-1][1] += y[i]; ux[-1][2] += 1
    else:
        ux.append([p[i], y[i], 1.0])
changed = True
while changed:
    changed = False
    for k in range(len(ux) - 1):
        if ux[k][1] / ux[k][2] >= ux[k + 1][1] / ux[k + 1][2]:
            ux[k] = [ux[k][0], ux[k][1] + ux[k + 1][1], ux[k][2] + ux[k + 1][2]]
            del ux[k + 1]
            changed = True
            break
if len(ux) != niso:
    print(f"isotonic: C {niso} blocks, reference {len(ux)}")
    ok = False
else:
    for k, (x0, s, w) in enumerate(ux):
        check(f"iso x[{k}]", iso_c[k, 0], x0, 1e-12)
        check(f"iso y[{k}]", iso_c[k, 1], s / w, 1e-12)

q = np.clip(p, 1e-15, 1 - 1e-15)
check("log loss", ll_c, -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)), 1e-12)
check("brier", br_c, np.mean((p - y) ** 2), 1e-12)
n = len(p)
ps, ys = p[order], y[order]
ece = 0.0
for b in range(15):
    lo, hi = b * n // 15, (b + 1) * n // 15
    if hi > lo:
        ece += abs(ps[lo:hi].sum() - ys[lo:hi].sum()) / n
check("ece", ece_c, ece, 1e-12)
sys.exit(0 if ok else 1)
