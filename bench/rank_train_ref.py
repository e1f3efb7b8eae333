#!/usr/bin/env python3
"""rank_train_ref.py: python3-xgboost training time on a marquee feature file (the same rows,
parameters and rounds as bench_rank_speed times through the C API; one thread, best of 3,
DMatrix construction included on both sides, file parsing excluded; process CPU time)."""
import csv, sys, time
import numpy as np
import xgboost as xgb

with open(sys.argv[1]) as f:
    meta = dict(kv.split("=", 1) for kv in f.readline().split()[3:])
    rows = list(csv.reader(f))[1:]
nf = int(meta["features"])
S = np.array([int(r[0]) for r in rows]); G = np.array([int(r[1]) for r in rows])
L = np.array([float(r[4]) for r in rows], dtype=np.float32)
X = np.array([[float(v) for v in r[5:5 + nf]] for r in rows], dtype=np.float32)
def P(obj, metric, d, e):
    return {"objective": obj, "eval_metric": metric, "max_depth": int(d), "eta": float(e),
            "min_child_weight": float(meta["min_child_weight"]), "lambda": float(meta["lambda"]),
            "tree_method": "hist", "nthread": 1, "seed": int(meta["seed"]) & 0x7fffffff,
            "verbosity": 0,
            **({"monotone_constraints": meta["monotone"]}
               if meta.get("monotone", "none") != "none" else {})}
OBJ = meta.get("objective", "rank:ndcg")
m01, m0 = S <= 1, S == 0
g = G[m01]; sizes = np.diff(np.flatnonzero(np.r_[True, g[1:] != g[:-1], True]))
best_r = best_p = 1e9
for _ in range(3):
    t = time.process_time()
    d = xgb.DMatrix(X[m01], label=L[m01], missing=np.nan); d.set_group(sizes)
    xgb.train(P(OBJ, "ndcg@20", meta["depth"], meta["eta"]), d, int(meta["rank_rounds"]))
    best_r = min(best_r, time.process_time() - t)
    t = time.process_time()
    d = xgb.DMatrix(X[m0], label=(L[m0] > 0).astype(np.float32), missing=np.nan)
    xgb.train(P("binary:logistic", "logloss", meta["prob_depth"], meta["prob_eta"]), d,
              int(meta["prob_rounds"]))
    best_p = min(best_p, time.process_time() - t)
print(f"python3-xgboost training (1 thread, best of 3): {OBJ} {meta['rank_rounds']} rounds "
      f"on {m01.sum()} rows {best_r:.3f} s; binary:logistic {meta['prob_rounds']} rounds on "
      f"{m0.sum()} rows {best_p:.3f} s")
