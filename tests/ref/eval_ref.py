#!/usr/bin/python3
"""eval_ref.py: an independent numpy/scipy implementation of Marquee's offline evaluation.

Written from the formulas (docs/eval.md, REFERENCES.md), not from src/eval/eval.c, so that the C
test suite can check the C code against it. Two modes; each exits 1 on a mismatch, printing
both sides, and 0 when everything agrees.

  eval_ref.py loop CASE
      CASE (written by tests/eval/test_eval.c): the scores of every held-out member, their fold-in
      titles and targets, title popularity and genres, followed by the C results ("R name mean
      se" lines). Recomputes every metric with numpy and compares (tolerance 1e-9: both sides
      compute in double from the same float scores; only summation order differs).

  eval_ref.py split DIR C_JSON [--lambda L] [--dropout P] [--models pop,ease,dlae]
              [--tol-ease 1e-4] [--refit]
      DIR: a split written by `marquee eval --write-split DIR` (train.csv, test_in.csv,
      test_out.csv: member,title with a header). Trains popularity and EASE (Steck 2019, float64
      closed form) on train.csv, scores the test members from their fold-in history, ranks all
      non-fold-in titles of train.csv (ties: lower title index, titles indexed in order of first
      appearance in train.csv; fold-in titles and targets not in train.csv are dropped) and
      compares recall@20, recall@50,
      ndcg@100 and the rest with the figures in C_JSON (the output of `marquee eval --split DIR
      --json`). Popularity must agree exactly (1e-9, formatting only); EASE within --tol-ease in
      every metric (float32 in C vs float64 here); dlae (Steck 2020, B = (XᵀX + Λ)⁻¹XᵀX,
      Λ = P/(1−P)·diag(XᵀX) + λI, --lambda and --dropout) within the same --tol-ease.
      --refit: the models are trained on train.csv plus val_in.csv and val_out.csv (the C run
      used `--refit`); the title set stays train.csv's.

Metrics (binary relevance, ranked list r without fold-in titles, targets T):
  recall@k = |top-k ∩ T| / min(k, |T|); precision@k = |top-k ∩ T| / k;
  ndcg@k = Σ_{i<=k, r_i∈T} 1/log2(i+1) / Σ_{i<=min(k,|T|)} 1/log2(i+1);
  map@k = Σ_{i<=k, r_i∈T} precision@i / min(k,|T|); mrr = 1/rank of the first target;
  auc = share of (target, non-target) pairs ordered correctly in the full ranking;
  coverage@k = distinct titles in all top-k lists / n_titles;
  novelty@k = mean −log2(max(pop,1)/n_members) over the top-k;
  diversity@k = mean over pairs of 1 − Jaccard(genre sets) (0 for two empty sets).
Standard errors: sample sd (ddof=1) / sqrt(n).
"""
import csv
import json
import math
import sys

import numpy as np

KS = [10, 20, 50, 100]


def rank_order(scores, excluded, unranked=()):
    """Titles without the excluded (and unranked) ones, best first: score descending, then
    index ascending."""
    n = len(scores)
    keep = np.ones(n, dtype=bool)
    keep[list(excluded)] = False
    keep[list(unranked)] = False
    idx = np.nonzero(keep)[0]
    s = scores[idx].astype(np.float64)
    s[np.isnan(s)] = -np.inf
    order = np.lexsort((idx, -s))
    return idx[order]


def member_metrics(scores, fold_in, targets, ks, pop=None, n_pop=None, genres=None,
                   unranked=()):
    tset = set(targets) - set(fold_in) - set(unranked)
    if not tset:
        return None
    ranking = rank_order(scores, fold_in, unranked)
    hit = np.array([t in tset for t in ranking], dtype=np.float64)
    nt = len(tset)
    out = {}
    for k in ks:
        h = hit[:k]
        nh = h.sum()
        denom = min(k, nt)
        disc = 1.0 / np.log2(np.arange(2, len(h) + 2))
        idcg = (1.0 / np.log2(np.arange(2, denom + 2))).sum()
        out["recall@%d" % k] = nh / denom
        out["precision@%d" % k] = nh / k
        out["ndcg@%d" % k] = (h * disc).sum() / idcg
        prec_i = np.cumsum(h) / np.arange(1, len(h) + 1)
        out["map@%d" % k] = (prec_i * h).sum() / denom
        top = ranking[:k]
        if pop is not None:
            p = np.maximum(pop[top], 1).astype(np.float64)
            out["novelty@%d" % k] = float(np.mean(-np.log2(p / n_pop))) if len(top) else 0.0
        if genres is not None:
            d, npair = 0.0, 0
            for j in range(len(top)):
                for i in range(j):
                    a, b = int(genres[top[i]]), int(genres[top[j]])
                    u = bin(a | b).count("1")
                    d += 0.0 if u == 0 else 1.0 - bin(a & b).count("1") / u
                    npair += 1
            out["diversity@%d" % k] = d / npair if npair else 0.0
    pos = np.nonzero(hit)[0]
    out["mrr"] = 1.0 / (pos[0] + 1)
    # AUC by brute force over positions: pairs (target, non-target) with the target first.
    n_neg = len(ranking) - nt
    if n_neg > 0:
        # For a target at position p, the non-targets after it: (L - 1 - p) - (targets after p).
        L = len(ranking)
        targets_after = nt - 1 - np.arange(nt)
        correct = ((L - 1 - pos) - targets_after).sum()
        out["auc"] = correct / (nt * n_neg)
    else:
        out["auc"] = float("nan")
    return out, [ranking[:k] for k in ks]


def aggregate(per_member, tops, n_titles, ks):
    res = {}
    names = sorted({k for m in per_member for k in m})
    for name in names:
        x = np.array([m[name] for m in per_member if name in m and not math.isnan(m[name])])
        if len(x) == 0:
            continue
        res[name] = (x.mean(), x.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else float("nan"))
    for ci, k in enumerate(ks):
        seen = set()
        for t in tops:
            seen.update(int(v) for v in t[ci])
        res["coverage@%d" % k] = (len(seen) / n_titles, float("nan"))
    return res


def compare(ref, got, tol, label):
    bad = 0
    for name, (mean, se) in sorted(ref.items()):
        if name not in got:
            print("%s: %s missing from the C results" % (label, name))
            bad += 1
            continue
        gm, gse = got[name]
        ok = abs(mean - gm) <= tol
        if not (math.isnan(se) and (gse is None or math.isnan(gse))):
            ok = ok and gse is not None and abs(se - gse) <= max(tol, 1e-9)
        if not ok:
            print("%s: %s: numpy %.12g (se %.6g) vs C %.12g (se %s)" % (label, name, mean, se,
                                                                           gm, gse))
            bad += 1
    return bad


def mode_loop(path):
    n_titles = n_pop = 0
    pop = genres = None
    members, got, unranked = [], {}, []
    cur = None
    with open(path) as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            tag = p[0]
            if tag == "T":
                n_titles, n_pop = int(p[1]), int(p[2])
            elif tag == "K":
                ks = [int(v) for v in p[1:]]
            elif tag == "P":
                pop = np.array([int(v) for v in p[1:]])
            elif tag == "X":
                unranked = [int(v) for v in p[1:]]
            elif tag == "G":
                genres = [int(v) for v in p[1:]]
            elif tag == "M":
                cur = {"in": [int(v) for v in p[1:]]}
                members.append(cur)
            elif tag == "O":
                cur["out"] = [int(v) for v in p[1:]]
            elif tag == "S":
                cur["s"] = np.array([float(v) for v in p[1:]], dtype=np.float32)
            elif tag == "R":
                got[p[1]] = (float(p[2]), float(p[3]))
    per, tops = [], []
    for m in members:
        r = member_metrics(m["s"], m["in"], m["out"], ks, pop, n_pop, genres, unranked)
        if r is None:
            continue
        per.append(r[0])
        tops.append(r[1])
    ref = aggregate(per, tops, n_titles - len(unranked), ks)
    # Tolerance: identical float32 scores and double arithmetic on both sides; only the order
    # of summation differs, so agreement to 1e-9 is expected.
    bad = compare(ref, got, 1e-9, "loop")
    print("eval_ref loop: %d members, %d metrics, %d mismatches" % (len(per), len(ref), bad))
    return 1 if bad else 0


def read_pairs(path):
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        if [h.strip() for h in header[:2]] != ["member", "title"]:
            raise SystemExit("%s: header %r, expected member,title" % (path, header))
        return [(row[0], row[1]) for row in r if row]


def mode_split(d, c_json, lam, models, tol_ease, refit=False, dropout=0.5):
    train = read_pairs(d + "/train.csv")
    t_in = read_pairs(d + "/test_in.csv")
    t_out = read_pairs(d + "/test_out.csv")
    # The title set is the titles of train.csv (REFERENCES.md: the titles seen by training
    # members), indexed in order of first appearance; fold-in titles and targets outside it
    # are dropped (they can be neither scored nor ranked).
    tid = {}
    for _, t in train:
        if t not in tid:
            tid[t] = len(tid)
    n = len(tid)
    mid = {}
    for m, _ in train:
        mid.setdefault(m, len(mid))
    mid_val = set()
    rows = list(train)
    if refit:
        # --refit: the models are trained on train.csv plus every validation member (val_in.csv
        # and val_out.csv together); the title set stays train.csv's.
        for m, t in read_pairs(d + "/val_in.csv") + read_pairs(d + "/val_out.csv"):
            if m in mid and m not in mid_val:
                raise SystemExit("refit: validation member %s is also a training member" % m)
            mid_val.add(m)
            mid.setdefault(m, len(mid))
            if t in tid:
                rows.append((m, t))
    X = np.zeros((len(mid), n), dtype=np.float64)
    for m, t in rows:
        X[mid[m], tid[t]] = 1.0
    hist, targ = {}, {}
    order = []
    for m, t in t_in:
        if m not in hist:
            order.append(m)
        hist.setdefault(m, set())
        if t in tid:
            hist[m].add(tid[t])
    for m, t in t_out:
        if m not in hist and m not in targ:
            order.append(m)
        targ.setdefault(m, set())
        if t in tid:
            targ[m].add(tid[t])
    with open(c_json) as f:
        cj = json.load(f)
    bad = 0
    for kind in models:
        if kind == "pop":
            pop = X.sum(axis=0)

            def score(h, pop=pop):
                return pop.astype(np.float32)
            tol = 1e-9
        elif kind == "ease":
            G = X.T @ X
            G[np.diag_indices(n)] += lam
            P = np.linalg.inv(G)
            B = P / (-np.diag(P))
            B[np.diag_indices(n)] = 0.0

            def score(h, B=B):
                x = np.zeros(n)
                x[list(h)] = 1.0
                return x @ B
            tol = tol_ease
        elif kind == "dlae":
            # DLAE (Steck 2020), float64, from its defining expression: B = (XᵀX + Λ)⁻¹XᵀX,
            # Λ = p/(1−p)·diag(XᵀX) + λI; the diagonal (seen titles only) set to 0 as in C.
            G = X.T @ X
            B = np.linalg.solve(G + np.diag(dropout / (1 - dropout) * np.diag(G) + lam), G)
            B[np.diag_indices(n)] = 0.0

            def score(h, B=B):
                x = np.zeros(n)
                x[list(h)] = 1.0
                return x @ B
            tol = tol_ease
        else:
            raise SystemExit("unknown model %s" % kind)
        per, tops = [], []
        for m in order:
            h = sorted(hist.get(m, set()))
            tg = sorted(targ.get(m, set()))
            r = member_metrics(score(h), h, tg, KS)
            if r is None:
                continue
            per.append(r[0])
            tops.append(r[1])
        ref = aggregate(per, tops, n, KS)
        entry = [e for e in cj["models"] if e["model"] == kind]
        if not entry:
            print("split: model %s missing from %s" % (kind, c_json))
            bad += 1
            continue
        test = entry[0]["test"]
        got = {}
        for name in ref:
            if name in test:
                got[name] = (test[name], test.get(name + "_se"))
        b = compare(ref, got, tol, "split/" + kind)
        print("eval_ref split %s: %d members, recall@20 %.6f recall@50 %.6f ndcg@100 %.6f "
              "(C: %.6f %.6f %.6f), %d mismatches" % (
                  kind, len(per), ref["recall@20"][0], ref["recall@50"][0],
                  ref["ndcg@100"][0], test.get("recall@20", float("nan")),
                  test.get("recall@50", float("nan")), test.get("ndcg@100", float("nan")), b))
        bad += b
    return 1 if bad else 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "loop":
        return mode_loop(argv[2])
    if len(argv) >= 4 and argv[1] == "split":
        lam, models, tol_ease, refit, dropout = 200.0, ["pop", "ease"], 1e-4, False, 0.5
        i = 4
        while i < len(argv):
            if argv[i] == "--refit":
                refit = True
                i += 1
                continue
            if argv[i] == "--lambda":
                lam = float(argv[i + 1])
            elif argv[i] == "--models":
                models = argv[i + 1].split(",")
            elif argv[i] == "--dropout":
                dropout = float(argv[i + 1])
            elif argv[i] == "--tol-ease":
                tol_ease = float(argv[i + 1])
            else:
                raise SystemExit("unknown option %s" % argv[i])
            i += 2
        return mode_split(argv[2], argv[3], lam, models, tol_ease, refit, dropout)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
