#!/usr/bin/python3
"""sim_rerandomize.py OUT [OUT...]: where the A/B estimate's error comes from, from `marquee sim
--counterfactual` outputs (docs/sim.md, "Does the estimate tell the truth?").

Each OUT holds units-EXP.csv (the A/B run) and cf-EXP-A.csv / cf-EXP-B.csv (every exposed member
under A alone and under B alone, common random numbers). With no interference between arms
(test sim_no_interference_between_arms) a unit's A/B outcome is its outcome under its own
variant, so the A/B difference in means is a function of the split alone: this script checks
that identity, then re-randomizes the split (Bernoulli 1/2, 4000 draws) over the same units
to give the difference in means' randomization distribution. Its mean must be the truth (the
estimator is unbiased by design); the actual split's error in units of that distribution's sd
says how unusual this seed's split was. Prints one line per OUT and metric (plays,
play_seconds) and, over all OUTs, the mean error of the difference in means with its SE."""
import csv, glob, os, sys
import numpy as np

def read(path):
    with open(path) as f:
        return {r["unit"]: r for r in csv.DictReader(f)}

rng = np.random.default_rng(1)
errs = {"plays": [], "play_seconds": []}
for out in sys.argv[1:]:
    units = glob.glob(os.path.join(out, "units-*.csv"))[0]
    exp = os.path.basename(units)[6:-4]
    ab, ca, cb = read(units), read(os.path.join(out, f"cf-{exp}-A.csv")), read(os.path.join(out, f"cf-{exp}-B.csv"))
    ids = sorted(ca)
    assert sorted(ab) == ids == sorted(cb), "the A/B run and the counterfactual runs expose different members"
    for m in ["plays", "play_seconds"]:
        ya = np.array([float(ca[u][m]) for u in ids]); yb = np.array([float(cb[u][m]) for u in ids])
        inb = np.array([ab[u]["variant"] == "B" for u in ids])
        yab = np.array([float(ab[u][m]) for u in ids])
        same = np.array_equal(np.where(inb, yb, ya), yab)   # SUTVA: A/B outcome = own-variant outcome
        truth = (yb - ya).mean()
        dim = yab[inb].mean() - yab[~inb].mean()
        z = rng.random((4000, len(ids))) < 0.5
        sims = (np.where(z, yb, 0).sum(1) / z.sum(1)) - (np.where(~z, ya, 0).sum(1) / (~z).sum(1))
        errs[m].append(dim - truth)
        print(f"{out}: {m}: A/B outcomes = own-variant counterfactual outcomes: {same}; truth {truth:.4g}; "
              f"difference in means {dim:.4g} (error {dim - truth:+.4g}); re-randomized: mean error "
              f"{sims.mean() - truth:+.3g} (sd {sims.std():.4g}); this split at {(dim - truth) / sims.std():+.2f} sd")
for m, e in errs.items():
    e = np.array(e)
    if len(e) > 1:
        print(f"over {len(e)} runs: {m}: mean error of the difference in means {e.mean():+.4g}, SE {e.std(ddof=1) / np.sqrt(len(e)):.4g}")
