#!/usr/bin/env python3
"""rank_contrib_ref.py: the ranker's SHAP contributions against python3-xgboost (Debian 1.7.4).

usage: rank_contrib_ref.py BOOSTER.ubj ROWS.csv N_FEATURES

ROWS.csv (written by tests/rank/test_rank_live.c): per row the N features (nan = missing),
then the N + 1 contributions the C side computed (features, then the bias), then its margin.
Loads the same booster bytes, predicts pred_contribs=True and output_margin=True on the same
float32 rows and checks both to 1e-5 (the same library computes both; the columns are printed
with 9 significant digits, and TreeSHAP's float sums differ by the order of ~1e-7). Also checks
that each row's contributions sum to the margin. Exit 1 on a mismatch.
"""
import sys
import numpy as np
import xgboost as xgb

booster_path, rows_path, nf = sys.argv[1], sys.argv[2], int(sys.argv[3])
R = np.loadtxt(rows_path, delimiter=",", dtype=np.float64, ndmin=2)
X = R[:, :nf].astype(np.float32)
C = R[:, nf:2 * nf + 1]
M = R[:, 2 * nf + 1]
b = xgb.Booster(model_file=booster_path)
d = xgb.DMatrix(X, missing=np.nan)
pc = b.predict(d, pred_contribs=True)
pm = b.predict(d, output_margin=True)
bad = 0
err_c = np.max(np.abs(pc - C))
err_m = np.max(np.abs(pm - M))
err_s = np.max(np.abs(pc.sum(axis=1) - pm))
print(f"rows {len(X)}: max |contrib diff| {err_c:.3g}, max |margin diff| {err_m:.3g}, "
      f"max |sum - margin| (python) {err_s:.3g}")
if not (err_c <= 1e-5 and err_m <= 1e-5 and err_s <= 1e-5):
    sys.exit(1)
