#!/usr/bin/python3
"""Reference for `marquee data stats --json` on a MovieLens ratings.csv, computed with numpy
from the raw file (independent of the C loader): counts, density, top-1% title share and the
member activity quantiles (numpy's default linear interpolation). Exits 1 on a mismatch."""
import json, math, sys
import numpy as np

ratings, stats = sys.argv[1], sys.argv[2]
u, t = np.loadtxt(ratings, delimiter=",", skiprows=1, usecols=(0, 1), dtype=np.int64, unpack=True)
pairs = np.unique(np.stack([u, t], 1), axis=0)
members, mcount = np.unique(pairs[:, 0], return_counts=True)
titles, tcount = np.unique(pairs[:, 1], return_counts=True)
nnz = len(pairs)
k = math.ceil(0.01 * len(titles))
ref = {
    "members": len(members), "titles": len(titles), "interactions": nnz,
    "density": nnz / (len(members) * len(titles)),
    "top1pct_share": np.sort(tcount)[::-1][:k].sum() / nnz,
    "q": list(np.quantile(mcount, [0, 0.25, 0.5, 0.75, 1.0])),
}
got = json.load(open(stats))
a = got["activity"]
gq = [a["min"], a["q25"], a["median"], a["q75"], a["max"]]
ok = (got["members"] == ref["members"] and got["titles"] == ref["titles"] and got["interactions"] == ref["interactions"]
      # numbers are printed in shortest round-trip form: only the summation order differs from
      # numpy, a few ulps (1e-12 relative).
      and abs(got["density"] - ref["density"]) <= 1e-12 * ref["density"]
      and abs(got["top1pct_share"] - ref["top1pct_share"]) <= 1e-12
      and all(abs(x - y) <= 1e-12 * max(1, abs(y)) for x, y in zip(gq, ref["q"])))
if not ok:
    print("marquee:", got)
    print("numpy:  ", ref)
    sys.exit(1)
