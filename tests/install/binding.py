#!/usr/bin/python3
"""binding.py: checks the Python binding (python/marquee/) against the `marquee` command and
against independent numpy references. Run by tests/install/test_python.c as
    PYTHONPATH=python MARQUEE_LIB=build/libmarquee.so.0 binding.py BIN TMPDIR U_DATA
(U_DATA: MovieLens 100K's u.data). Exits 1 printing both sides on the first mismatch.

What is compared, and how exactly:
  - version(), and the dataset's counts, with `marquee --version` / `marquee data stats --json`
    and with numpy's own count of u.data's distinct ids: equal.
  - recommend(): equal to `marquee recommend --json` for the same model file, title for title
    and score for score as float32 (the command prints %.9g, which round-trips a float32);
    for a model trained in Python and one trained by `marquee train`, and after save/load.
  - the EASE scores against numpy's closed form B = I - P diag(1/diag(P)), P = (X'X + lambda I)^-1
    on the rating >= 4 positives: relative 2e-3 of the member's best score (float32 Cholesky +
    inverse, as tests/ref/models_ref.py argues), and the top-10 titles are numpy's top 10 of the
    unseen titles up to such near-ties.
  - xp_analyze(): the dict equals `marquee xp analyze --json` parsed; arm means equal numpy's
    to 1e-12 relative (two summation orders of 1,000 doubles); the CUPED theta and effect
    equal the coefficients of numpy's least squares y ~ 1 + treat + x to 1e-9 (a 3-column,
    well-conditioned problem solved two ways: moments vs an SVD).
  - errors: a missing file raises marquee.Error naming the file, with code MQ_EIO/ENOTFOUND.
  - option structs: set up by the library's init with the ctypes layout's size; one never set
    up is refused (MQ_EINVAL) with a message naming its init function.
"""
import json
import os
import subprocess
import sys

import numpy as np

import marquee

BIN, TMP, UDATA = sys.argv[1], sys.argv[2], sys.argv[3]


def fail(msg):
    print("MISMATCH:", msg)
    sys.exit(1)


def run(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"marquee {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r.stdout


def same_recs(what, py, cli_json):
    cli = [(it["title"], it["score"]) for it in json.loads(cli_json)["items"]]
    if len(py) != len(cli):
        fail(f"{what}: {len(py)} titles from Python, {len(cli)} from the command")
    for i, ((pt, ps), (ct, cs)) in enumerate(zip(py, cli)):
        if pt != ct or np.float32(ps) != np.float32(cs):
            fail(f"{what}: rank {i + 1}: Python ({pt}, {ps!r}) vs command ({ct}, {cs!r})")


# version and counts
if marquee.version() != run("--version").split()[-1]:
    fail(f"version {marquee.version()} vs {run('--version')}")
ds = marquee.load(UDATA)
stats = json.loads(run("data", "stats", UDATA, "--json"))
raw = np.loadtxt(UDATA, dtype=np.int64)
want = (len(np.unique(raw[:, 0])), len(np.unique(raw[:, 1])), len(raw))
got = (ds.n_members, ds.n_titles, ds.n_interactions)
if got != want or got != (stats["members"], stats["titles"], stats["interactions"]):
    fail(f"counts {got} vs numpy {want} vs command {stats}")

# train in Python, recommend in Python and with the command from the same file
m = marquee.train(ds, "ease", {"lambda": 200})
if m.kind != "ease" or "lambda=200" not in m.params:
    fail(f"model {m.kind} {m.params}")
py_path = os.path.join(TMP, "py.mqm")
m.save(py_path)
for member in ("1", "42", "943"):
    recs = m.recommend(ds, member=member, n=10)
    cli = run("recommend", "--model", py_path, "--member", member, "--data", UDATA, "-n", "10", "--json")
    same_recs(f"member {member}, model trained in Python", recs, cli)
    same_recs(f"member {member}, reloaded", marquee.load_model(py_path).recommend(ds, member=member, n=10), cli)
recs = m.recommend(history=["50", "181", "172"], n=5)
same_recs("fold-in history", recs, run("recommend", "--model", py_path, "--history", "50,181,172", "-n", "5", "--json"))

# a model trained by the command, recommended from Python
cli_path = os.path.join(TMP, "cli.mqm")
run("train", "--data", UDATA, "--model", "ease", "--param", "lambda=200", "--out", cli_path)
mc = marquee.load_model(cli_path)
same_recs("model trained by the command", mc.recommend(ds, member="7", n=10),
          run("recommend", "--model", cli_path, "--member", "7", "--data", UDATA, "-n", "10", "--json"))

# EASE against numpy's closed form, member "1"
members, titles = np.unique(raw[:, 0]), np.unique(raw[:, 1])
pos = raw[raw[:, 2] >= 4]
X = np.zeros((len(members), len(titles)))
X[np.searchsorted(members, pos[:, 0]), np.searchsorted(titles, pos[:, 1])] = 1.0
P = np.linalg.inv(X.T @ X + 200.0 * np.eye(len(titles)))
B = -P / np.diag(P)[None, :]
np.fill_diagonal(B, 0.0)
u = int(np.searchsorted(members, 1))
ref = X[u] @ B
seen = np.isin(titles, raw[raw[:, 0] == 1][:, 1])
ref[seen] = -np.inf
recs = m.recommend(ds, member="1", n=10)
scale = np.max(ref[np.isfinite(ref)])
tenth = np.sort(ref)[::-1][9]
for t, s in recs:
    j = int(np.searchsorted(titles, int(t)))
    if not abs(s - ref[j]) <= 2e-3 * scale:
        fail(f"EASE member 1 title {t}: Python {s!r} vs numpy {ref[j]!r}")
    if not ref[j] >= tenth - 2e-3 * scale:
        fail(f"EASE member 1: title {t} (numpy {ref[j]!r}) is not in numpy's top 10 (10th {tenth!r})")

# xp_analyze against the command and numpy
rng = np.random.default_rng(7)
n = 2000
var = rng.choice(["A", "B"], n)
pre = rng.gamma(2.0, 30.0, n)
y = 0.5 * pre + rng.normal(0.0, 10.0, n) + 2.0 * (var == "B")
csv = os.path.join(TMP, "units.csv")
with open(csv, "w") as f:
    f.write("unit,variant,watch_minutes,pre_minutes\n")
    for i in range(n):
        f.write(f"u{i},{var[i]},{y[i]:.6f},{pre[i]:.6f}\n")
y = np.loadtxt(csv, delimiter=",", skiprows=1, usecols=2)
pre = np.loadtxt(csv, delimiter=",", skiprows=1, usecols=3)
doc = marquee.xp_analyze(csv, metric="watch_minutes", control="A", covariate="pre_minutes")
cli = json.loads(run("xp", "analyze", csv, "--metric", "watch_minutes", "--control", "A",
                     "--covariate", "pre_minutes", "--json"))
if doc != cli:
    fail(f"xp_analyze dict differs from the command's JSON:\n{doc}\n{cli}")
r = doc["results"][0]
for k, arm in enumerate(("A", "B")):
    mu = y[var == arm].mean()
    if not abs(r["mean"][k] - mu) <= 1e-12 * abs(mu):
        fail(f"mean of {arm}: {r['mean'][k]!r} vs numpy {mu!r}")
# CUPED is the OLS regression y ~ 1 + treat + x (docs/xp.md): numpy's least squares.
coef = np.linalg.lstsq(np.column_stack([np.ones(n), var == "B", pre]), y, rcond=None)[0]
if not abs(r["theta"] - coef[2]) <= 1e-9 * abs(coef[2]) or not abs(r["effect"] - coef[1]) <= 1e-9 * abs(coef[1]):
    fail(f"CUPED theta, effect {r['theta']!r}, {r['effect']!r} vs numpy OLS {coef[2]!r}, {coef[1]!r}")
two = marquee.xp_analyze(csv, metric=["watch_minutes", "pre_minutes"], control="A", alpha=0.01)
if [x["metric"] for x in two["results"]] != ["watch_minutes", "pre_minutes"] or two["alpha"] != 0.01:
    fail(f"xp_analyze with two metrics and alpha: {two}")

# errors carry the library's message
for call, needle in ((lambda: marquee.load(os.path.join(TMP, "absent.csv")), "absent.csv"),
                     (lambda: marquee.train(ds, "eas"), "eas"),
                     (lambda: m.recommend(ds, member="no-such-member"), "no-such-member"),
                     (lambda: marquee.xp_analyze(csv, metric="nope", control="A"), "nope"),
                     (lambda: marquee.xp_analyze(csv, metric="watch_minutes", control="A", alpha=2), "alpha")):
    try:
        call()
        fail(f"no exception for {needle}")
    except marquee.Error as e:
        if needle not in str(e) or e.code >= 0:
            fail(f"error for {needle}: code {e.code}, message {e}")

# option structs: the library's init gives the ctypes layout its own size and the defaults; a
# struct it never set up (struct_size 0) is refused with a message naming the init function
import ctypes  # noqa: E402
f = marquee._new_opts(marquee._Filter, marquee._lib.mq_filter_init)
if f.struct_size != ctypes.sizeof(marquee._Filter) or f.genre != -1 or f.include_seen:
    fail(f"mq_filter_init: struct_size {f.struct_size}, genre {f.genre}")
raw, err, out = marquee._TrainOpts(), marquee._Err(), ctypes.c_void_p()
rc = marquee._lib.mq_model_train(b"pop", ds._positives(), ctypes.byref(raw), ctypes.byref(out),
                                 ctypes.byref(err))
if rc != -1 or b"mq_train_opts_init" not in err.msg:
    fail(f"an uninitialised mq_train_opts: rc {rc}, message {err.msg!r}")
print("ok: Python binding agrees with the command and numpy")
