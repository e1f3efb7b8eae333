#!/usr/bin/env python3
"""rank_ref.py: the ranker's boosters against python3-xgboost (Debian 1.7.4).

usage: rank_ref.py FEATURES.csv   (written by `marquee eval --write-features` / mq_rank_evaluate)

Reads the feature file (first line: catalog fingerprint and the training parameters), trains
  - LambdaMART (rank:ndcg) on the rows of sets 0 and 1 (the ranker refits its order head on
    every window), query groups from the group column, rank_rounds rounds;
  - the play probability (binary:logistic) on set 0 rows, label = (grade > 0), prob_rounds;
with tree_method hist, the same depth, eta, min_child_weight, lambda, seed and one thread,
then predicts every row and compares with the pred_rank / pred_prob columns the C side wrote.
Tolerance 1e-6 (both sides run the same library on the same float32 inputs; the columns are
printed with 9 significant digits). Exit 1 on a mismatch.
"""
import csv
import sys
import numpy as np
import xgboost as xgb

path = sys.argv[1]
with open(path) as f:
    head = f.readline().split()
    meta = dict(kv.split("=") for kv in head[3:])
    rows = list(csv.reader(f))
header, rows = rows[0], rows[1:]
nf = int(meta["features"])
assert len(header) == 5 + nf + 2, "unexpected header"
S = np.array([int(r[0]) for r in rows])
G = np.array([int(r[1]) for r in rows])
L = np.array([float(r[4]) for r in rows], dtype=np.float32)
X = np.array([[float(v) for v in r[5:5 + nf]] for r in rows], dtype=np.float32)
PR = np.array([float(r[5 + nf]) for r in rows])
PP = np.array([float(r[6 + nf]) for r in rows])

def params(obj, metric, depth, eta):
    return {"objective": obj, "eval_metric": metric, "max_depth": int(depth), "eta": float(eta),
            "min_child_weight": float(meta["min_child_weight"]), "lambda": float(meta["lambda"]),
            "tree_method": "hist", "nthread": 1, "seed": int(meta["seed"]) & 0x7fffffff,
            "verbosity": 0}

def groups(mask):
    g = G[mask]
    sizes = []
    for i, v in enumerate(g):
        if i == 0 or v != g[i - 1]:
            sizes.append(0)
        sizes[-1] += 1
    return sizes

tr = S <= 1
dr = xgb.DMatrix(X[tr], label=L[tr], missing=np.nan)
dr.set_group(groups(tr))
br = xgb.train(params("rank:ndcg", "ndcg@20", meta["depth"], meta["eta"]), dr,
               num_boost_round=int(meta["rank_rounds"]))
tp = S == 0
dp = xgb.DMatrix(X[tp], label=(L[tp] > 0).astype(np.float32), missing=np.nan)
bp = xgb.train(params("binary:logistic", "logloss", meta["prob_depth"], meta["prob_eta"]), dp,
               num_boost_round=int(meta["prob_rounds"]))
dall = xgb.DMatrix(X, missing=np.nan)
er = np.max(np.abs(br.predict(dall) - PR))
ep = np.max(np.abs(bp.predict(dall) - PP))
print(f"rank_ref: {len(rows)} rows, {nf} features; max |diff| rank {er:.3g}, prob {ep:.3g}")
sys.exit(0 if er <= 1e-6 and ep <= 1e-6 else 1)
