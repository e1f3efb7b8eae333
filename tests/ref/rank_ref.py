#!/usr/bin/env python3
"""rank_ref.py: the ranker's boosters against python3-xgboost (Debian 1.7.4).

usage: rank_ref.py FEATURES.csv|FEATURES.libsvm   (written by `marquee eval --write-features` /
mq_rank_evaluate; the LibSVM rows are read by XGBoost's own LibSVM parser)

Reads the feature file (first line: catalog fingerprint and the training parameters), trains
  - LambdaMART (the recorded objective, rank:pairwise or rank:ndcg) on the rows of sets 0 and 1 (the ranker refits its order head on
    every window), query groups from the group column, rank_rounds rounds;
  - the play probability (binary:logistic) on set 0 rows, label = (grade > 0), prob_rounds;
the features listed in `exclude=` set missing in the training rows (as the C side trains),
the recorded monotone constraints, tree_method hist, the same depth, eta, min_child_weight, lambda, seed and one thread,
then predicts every row and compares with the pred_rank / pred_prob columns the C side wrote.
With a watch-time head (watch_rounds= and watch_base= on the first line; the CSV's secs and
pred_secs columns, the LibSVM comment's secs= and pred_secs=): reg:squarederror on the set 0
rows that carry secs (the plays with a duration), label = secs, base_score = watch_base,
prob_depth, prob_eta, no monotone constraints, watch_rounds rounds; pred_secs compared to a
relative 1e-6 (seconds are in the thousands; 9 significant digits are printed).
Tolerance 1e-6 (both sides run the same library on the same float32 inputs; the columns are
printed with 9 significant digits). Exit 1 on a mismatch.
"""
import csv
import os
import sys
import tempfile
import numpy as np
import xgboost as xgb

path = sys.argv[1]
with open(path) as f:
    head = f.readline().split()
meta = dict(kv.split("=", 1) for kv in head[3:])
nf = int(meta["features"])

if meta.get("format") == "libsvm":
    # LibSVM: XGBoost's own parser reads the rows (labels, qid groups, values; an absent
    # feature is missing). It does not skip whole-line comments, so the two header lines are
    # left out of the copy it reads; set and the C side's predictions are in each row's
    # trailing comment.
    with open(path) as f:
        lines = f.read().splitlines()
    assert lines[1].startswith("# features:"), "no '# features:' line"
    names = [kv.split(":", 1)[1] for kv in lines[1][len("# features:"):].split()]
    body = [ln for ln in lines if not ln.startswith("#")]
    with tempfile.NamedTemporaryFile("w", suffix=".libsvm", delete=False) as t:
        t.write("\n".join(body) + "\n")
        tmp = t.name
    try:
        d = xgb.DMatrix(tmp + "?format=libsvm")
    finally:
        os.unlink(tmp)
    assert d.num_row() == len(body) and d.num_col() == nf, (d.num_row(), d.num_col())
    csr = d.get_data()
    X = np.full((len(body), nf), np.nan, dtype=np.float32)
    for i in range(len(body)):
        a, b = csr.indptr[i], csr.indptr[i + 1]
        X[i, csr.indices[a:b]] = csr.data[a:b]
    L = d.get_label().astype(np.float32)
    gp = d.get_uint_info("group_ptr")
    G = np.repeat(np.arange(len(gp) - 1), np.diff(gp))
    com = [dict(kv.split("=", 1) for kv in ln.split("#", 1)[1].split()) for ln in body]
    S = np.array([int(c["set"]) for c in com])
    PR = np.array([float(c["pred_rank"]) for c in com])
    PP = np.array([float(c["pred_prob"]) for c in com])
    if "watch_rounds" in meta:
        SE = np.array([float(c.get("secs", "nan")) for c in com])
        PS = np.array([float(c["pred_secs"]) for c in com])
else:
    with open(path) as f:
        f.readline()
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    assert len(header) == 5 + nf + (4 if "watch_rounds" in meta else 2), "unexpected header"
    names = header[5:5 + nf]
    S = np.array([int(r[0]) for r in rows])
    G = np.array([int(r[1]) for r in rows])
    L = np.array([float(r[4]) for r in rows], dtype=np.float32)
    X = np.array([[float(v) for v in r[5:5 + nf]] for r in rows], dtype=np.float32)
    PR = np.array([float(r[5 + nf]) for r in rows])
    PP = np.array([float(r[6 + nf]) for r in rows])
    if "watch_rounds" in meta:
        SE = np.array([float(r[7 + nf]) for r in rows])
        PS = np.array([float(r[8 + nf]) for r in rows])

def params(obj, metric, depth, eta):
    p = {"objective": obj, "eval_metric": metric, "max_depth": int(depth), "eta": float(eta),
         "min_child_weight": float(meta["min_child_weight"]), "lambda": float(meta["lambda"]),
         "tree_method": "hist", "nthread": 1, "seed": int(meta["seed"]) & 0x7fffffff,
         "verbosity": 0}
    if meta.get("monotone", "none") != "none":
        p["monotone_constraints"] = meta["monotone"]
    return p

# The features the boosters ignore are missing in every training row (the C side does the same).
excl = [] if meta.get("exclude", "none") == "none" else meta["exclude"].split(",")
Xt = X.copy()
for name in excl:
    Xt[:, names.index(name)] = np.nan

def groups(mask):
    g = G[mask]
    sizes = []
    for i, v in enumerate(g):
        if i == 0 or v != g[i - 1]:
            sizes.append(0)
        sizes[-1] += 1
    return sizes

tr = S <= 1
dr = xgb.DMatrix(Xt[tr], label=L[tr], missing=np.nan)
dr.set_group(groups(tr))
br = xgb.train(params(meta.get("objective", "rank:ndcg"), "ndcg@20", meta["depth"], meta["eta"]), dr,
               num_boost_round=int(meta["rank_rounds"]))
tp = S == 0
dp = xgb.DMatrix(Xt[tp], label=(L[tp] > 0).astype(np.float32), missing=np.nan)
bp = xgb.train(params("binary:logistic", "logloss", meta["prob_depth"], meta["prob_eta"]), dp,
               num_boost_round=int(meta["prob_rounds"]))
dall = xgb.DMatrix(X, missing=np.nan)
er = np.max(np.abs(br.predict(dall) - PR))
ep = np.max(np.abs(bp.predict(dall) - PP))
ew = 0.0
if "watch_rounds" in meta:
    tw = (S == 0) & ~np.isnan(SE)
    assert tw.sum() > 0, "no plays with a duration in set 0"
    pw = params("reg:squarederror", "rmse", meta["prob_depth"], meta["prob_eta"])
    pw.pop("monotone_constraints", None)
    pw["base_score"] = float(meta["watch_base"])
    bw = xgb.train(pw, xgb.DMatrix(Xt[tw], label=SE[tw].astype(np.float32), missing=np.nan),
                   num_boost_round=int(meta["watch_rounds"]))
    ew = np.max(np.abs(bw.predict(dall) - PS) / np.maximum(1.0, np.abs(PS)))
    print(f"rank_ref: watch-time head on {tw.sum()} plays, {meta['watch_rounds']} rounds; "
          f"max relative |diff| {ew:.3g}")
print(f"rank_ref: {len(S)} rows, {nf} features; max |diff| rank {er:.3g}, prob {ep:.3g}")
sys.exit(0 if er <= 1e-6 and ep <= 1e-6 and ew <= 1e-6 else 1)
