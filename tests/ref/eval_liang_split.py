#!/usr/bin/python3
"""eval_liang_split.py: the strong-generalization split as Liang et al.'s public preprocessing
(the vae_cf notebook, 2018) makes it, with numpy's legacy RNG, written for `marquee eval --split`.

Usage:
  eval_liang_split.py FORMAT PATH OUTDIR [--seed 98765] [--heldout-frac 0.1]
      FORMAT: ml100k (u.data: member<TAB>title<TAB>rating<TAB>time), mlcsv (ratings.csv with a
      header userId,movieId,rating,timestamp), lastfm (user_artists.dat with a header,
      userID<TAB>artistID<TAB>weight: every pair is a positive).

The recipe, step by step as in the notebook (it is independent of Marquee's own splitter,
src/data/split.c, which uses its own RNG and so draws a different split for the same seed):
  1. positives: rating > 3.5 (explicit data) or every pair (implicit); members with >= 5
     positives are kept (min_uc = 5, no title minimum);
  2. np.random.seed(seed); the sorted member ids are permuted by np.random.permutation;
     n_heldout = round(heldout_frac * members); the first n - 2 n_heldout are training
     members, the next n_heldout validation members, the last n_heldout test members;
  3. the title set is the titles of the training members; held-out members' positives on
     other titles are dropped *before* their 80/20 split;
  4. per held-out member (in ascending id order, the RNG re-seeded with seed for the validation
     and again for the test members; rows in file order): with >= 5 positives, int(0.2 * n)
     targets drawn by np.random.choice(n, size, replace=False), the rest fold-in; with fewer,
     all fold-in.
Writes OUTDIR/train.csv, val_in.csv, val_out.csv, test_in.csv, test_out.csv (member,title).
Prints the split's sizes. docs/eval.md uses it to compare with the issue's published row, which
was computed by numpy/implicit on "their own split, seed 98765".
"""
import os
import sys

import numpy as np


def load(fmt, path):
    if fmt == "ml100k":
        d = np.loadtxt(path, dtype=np.float64)
        return d[d[:, 2] > 3.5][:, :2].astype(np.int64)
    if fmt == "mlcsv":
        d = np.loadtxt(path, dtype=np.float64, delimiter=",", skiprows=1, usecols=(0, 1, 2))
        return d[d[:, 2] > 3.5][:, :2].astype(np.int64)
    if fmt == "lastfm":
        d = np.loadtxt(path, dtype=np.int64, skiprows=1, usecols=(0, 1, 2))
        return d[d[:, 2] > 0][:, :2]
    raise SystemExit("unknown format %s (ml100k, mlcsv, lastfm)" % fmt)


def prop_split(rows, seed):
    np.random.seed(seed)
    tr, te = [], []
    order = np.argsort(rows[:, 0], kind="stable")       # groupby: ascending id, file order
    rows = rows[order]
    bounds = np.flatnonzero(np.diff(rows[:, 0])) + 1
    for g in np.split(rows, bounds):
        k = len(g)
        if k >= 5:
            idx = np.zeros(k, dtype=bool)
            idx[np.random.choice(k, size=int(0.2 * k), replace=False).astype("int64")] = True
            tr.append(g[~idx])
            te.append(g[idx])
        else:
            tr.append(g)
    empty = np.zeros((0, 2), dtype=np.int64)
    return (np.concatenate(tr) if tr else empty), (np.concatenate(te) if te else empty)


def write(path, rows):
    with open(path, "w") as f:
        f.write("member,title\n")
        for m, t in rows:
            f.write("%d,%d\n" % (m, t))


def main(argv):
    if len(argv) < 4:
        print(__doc__)
        return 2
    fmt, path, out = argv[1], argv[2], argv[3]
    seed, frac = 98765, 0.1
    i = 4
    while i + 1 < len(argv) + 1 and i < len(argv):
        if argv[i] == "--seed":
            seed = int(argv[i + 1])
        elif argv[i] == "--heldout-frac":
            frac = float(argv[i + 1])
        else:
            raise SystemExit("unknown option %s" % argv[i])
        i += 2
    pos = load(fmt, path)
    # Deduplicate (member, title) pairs keeping the first row (file order).
    _, first = np.unique(pos[:, 0] * (pos[:, 1].max() + 1) + pos[:, 1], return_index=True)
    pos = pos[np.sort(first)]
    users, counts = np.unique(pos[:, 0], return_counts=True)
    keep = users[counts >= 5]
    pos = pos[np.isin(pos[:, 0], keep)]
    np.random.seed(seed)
    uid = keep[np.random.permutation(keep.size)]
    n = uid.size
    nh = int(round(frac * n))
    tr_u, vd_u, te_u = uid[:n - 2 * nh], uid[n - 2 * nh:n - nh], uid[n - nh:]
    train = pos[np.isin(pos[:, 0], tr_u)]
    titles = np.unique(train[:, 1])
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "train.csv"), train)
    sizes = []
    for name, us in (("val", vd_u), ("test", te_u)):
        rows = pos[np.isin(pos[:, 0], us)]
        rows = rows[np.isin(rows[:, 1], titles)]
        a, b = prop_split(rows, seed)
        write(os.path.join(out, name + "_in.csv"), a)
        write(os.path.join(out, name + "_out.csv"), b)
        sizes.append((len(us), len(a), len(b)))
    print("eval_liang_split: %d members (%d train, %d validation, %d test), %d titles in the "
          "training members, %d train positives; validation %d fold-in / %d targets, test %d / %d"
          % (n, len(tr_u), len(vd_u), len(te_u), titles.size, len(train), sizes[0][1],
             sizes[0][2], sizes[1][1], sizes[1][2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
