#!/usr/bin/python3
"""bandit_ref.py: an independent numpy implementation of Marquee's off-policy estimators.

Reads the log with the csv module (not Marquee's scanner), the evaluation policy's probabilities,
fits the same reward model (per-(action, position) CTR, or per-(action, position) L2-penalized
logistic regression on (1, x) by Newton's method with numpy.linalg.solve) and computes DM, IPS,
SNIPS, DR, Switch-DR and SNDR with their standard errors, vectorized over rows (OBP's
definitions: obp.ope.estimators, value = mean over logged rows; Saito et al. 2021).

usage: bandit_ref.py LOG marquee|obd DIST OUT.json [ctr|logistic] [switch_tau] [folds]
folds > 1: cross-fitting, row i's reward model fitted on the rows j with j % folds != i % folds.
Writes {"ips": {"value": v, "se": s}, ...} to OUT.json.
"""
import csv
import json
import sys

import numpy as np


def read_log(path, fmt):
    with open(path, newline="") as f:
        rd = csv.reader(f)
        head = next(rd)
        rows = list(rd)
    col = {name: j for j, name in enumerate(head)}
    if fmt == "obd":
        a_c, r_c, p_c, pos_c = col["item_id"], col["click"], col["propensity_score"], col["position"]
        K = sum(1 for h in head if h.startswith("user-item_affinity_"))
        xcols = []
    else:
        a_c, r_c, p_c = col["action"], col["reward"], col["propensity"]
        pos_c = col.get("position")
        K = None
        xcols = [j for j, h in enumerate(head) if len(h) > 1 and h[0] == "x" and h[1:].isdigit()]
    a = np.array([int(float(r[a_c])) for r in rows])
    r = np.array([float(row[r_c]) for row in rows])
    p0 = np.array([float(row[p_c]) for row in rows])
    pos = np.array([int(float(row[pos_c])) - 1 for row in rows]) if pos_c is not None else np.zeros(len(rows), int)
    x = np.array([[float(row[j]) for j in xcols] for row in rows]) if xcols else None
    if K is None:
        K = int(a.max()) + 1
    return a, r, p0, pos, x, K


def read_dist(path, n, K, pos):
    with open(path, newline="") as f:
        rd = csv.DictReader(f)
        recs = list(rd)
    if "row" in recs[0]:
        pi = np.zeros((n, K))
        for t in recs:
            pi[int(t["row"]), int(t["action"])] = float(t["probability"])
        return pi
    item = "item" if "item" in recs[0] else "action"
    L = max(int(t.get("position", 1)) for t in recs)
    P = np.zeros((L, K))
    for t in recs:
        P[int(t.get("position", 1)) - 1, int(t[item])] = float(t["probability"])
    return P[pos]          # [n, K]: pi(. | position of row i)


def fit_logistic(X, y, ridge):
    w = np.zeros(X.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-(X @ w)))
        g = X.T @ (p - y) + ridge * w
        H = (X * (p * (1 - p))[:, None]).T @ X + ridge * np.eye(X.shape[1])
        step = np.linalg.solve(H, g)
        w -= step
        if np.max(np.abs(step)) < 1e-12:
            break
    return w


def fit_predict(model, a, r, pos, x, K, L, cell, train, rows, ridge):
    """q(i, b) for the rows `rows` and every action b, fitted on the rows `train`."""
    mean = r[train].mean()
    if model == "ctr":
        cnt = np.bincount(cell[train], minlength=L * K)
        sums = np.bincount(cell[train], weights=r[train], minlength=L * K)
        q = np.where(cnt > 0, sums / np.maximum(cnt, 1), mean).reshape(L, K)
        return q[pos[rows]]
    X1 = np.hstack([np.ones((len(a), 1)), x])
    W = np.zeros((L * K, X1.shape[1]))
    for c in range(L * K):
        m = (cell == c) & train
        if m.any():
            W[c] = fit_logistic(X1[m], r[m], ridge)
        else:
            W[c, 0] = np.log((mean + 1e-12) / (1 - mean + 1e-12))
    Wr = W.reshape(L, K, -1)[pos[rows]]             # [rows, K, D+1]
    return 1 / (1 + np.exp(-np.einsum("nkd,nd->nk", Wr, X1[rows])))


def main():
    log, fmt, dist, out = sys.argv[1:5]
    model = sys.argv[5] if len(sys.argv) > 5 else "ctr"
    tau = float(sys.argv[6]) if len(sys.argv) > 6 else 10.0
    F = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    ridge = 1.0
    a, r, p0, pos, x, K = read_log(log, fmt)
    n = len(a)
    L = int(pos.max()) + 1
    pi = read_dist(dist, n, K, pos)
    idx = np.arange(n)
    cell = pos * K + a
    fold = idx % F if F > 1 else np.zeros(n, int)
    Q = np.zeros((n, K))
    for f in range(F):
        train = fold != f if F > 1 else np.ones(n, bool)
        rows = fold == f
        Q[rows] = fit_predict(model, a, r, pos, x, K, L, cell, train, rows, ridge)
    d = (pi * Q).sum(axis=1)
    w = pi[idx, a] / p0
    e = r - Q[idx, a]
    wbar = w.mean()
    res = {}

    def put(name, value, psi):
        res[name] = {"value": float(value), "se": float(np.sqrt(np.var(psi, ddof=1) / n))}

    put("dm", d.mean(), d)
    put("ips", (w * r).mean(), w * r)
    sn = (w * r).sum() / w.sum()
    put("snips", sn, (w * r - sn * w) / wbar)
    put("dr", (d + w * e).mean(), d + w * e)
    sw = np.where(w <= tau, w * e, 0.0)
    put("switch-dr", (d + sw).mean(), d + sw)
    B = (w * e).sum() / w.sum()
    put("sndr", d.mean() + B, d + (w * e - B * w) / wbar)
    with open(out, "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main()
