#!/usr/bin/python3
"""xp_srm_ref.py: the SRM check under ramps (docs/xp.md, "SRM under ramps") against scipy.

The check that `xp analyze` and the live report make on a collect file with range columns:
  part 1, the split: every arm's range members (units, plus the rows of no arm whose range is
  the arm) against the configured weights: scipy.stats.chisquare(counts, N * weights);
  part 2, the ramps: per variant with sum s(1-s) > 0 over its range members (s = served_share),
  (units - sum s)^2 / sum s(1-s), one degree of freedom each;
  p = scipy.stats.chi2.sf(part 1 + part 2, k - 1 + number of ramp terms).
With one share s for every member of a range, part 2 is itself Pearson's chi-square of the
cells [units, default-only] against [n s, n (1 - s)], which `synthcheck` verifies with
scipy.stats.chisquare directly.

Modes:
  traffic PORT KEY DIR   pages for 900 members at the first ramp step (20%), an operator
                         advance to 50%, pages for 1200 more (300 of them returning), plays;
                         saves the live report to DIR/live.json
  check DIR              live report == offline analysis (DIR/off.json of DIR/units.csv), SRM
                         passes with the p-value of scipy, the old check (units against the
                         weights) would have failed; writes DIR/broken1.csv (every 4th unit of B
                         dropped: its exposures lost) and DIR/broken2.csv (every 4th unit of B
                         logged as served the default)
  broken DIR             DIR/b1.json and DIR/b2.json (analyses of the broken files) fail SRM, with
                         scipy's p-values
  synth DIR / synthcheck DIR   a constant-share file DIR/synth.csv and its analysis DIR/synth.json
Tolerance: the p-values agree to 1e-9 relative (the same sums in double precision; scipy's
chi2.sf and marquee's regularized gamma agree far below that in this range).
"""
import csv, json, sys, time, urllib.request, urllib.error
import scipy.stats as ss

WEIGHTS = {"A": 0.333, "B": 0.667}


def fail(msg):
    print("xp_srm_ref: " + msg, file=sys.stderr)
    sys.exit(1)


def http(port, method, path, body=None, key=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if key: req.add_header("Authorization", "Bearer " + key)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def traffic(port, key, d):
    now = int(time.time())
    evs = []

    def pages(members):
        served = default = 0
        for m in members:
            st, r = http(port, "GET", "/v1/members/%s/homepage?rows=3&per_row=5" % m)
            if st != 200: fail("GET homepage %s: %d %s" % (m, st, r))
            for x in r["experiments"]:
                if x["name"] != "ramped": continue
                if x.get("served") == "default": default += 1
                elif x["variant"] == "B": served += 1
            if r["rows"] and r["rows"][0]["titles"] and int(m[1:]) % 3 == 0:
                evs.append({"member": m, "title": r["rows"][0]["titles"][0]["id"], "timestamp": now + 1,
                            "value": 30 + len(evs) % 400, "page_id": r["page_id"]})
        return served, default

    s1, d1 = pages(["r%d" % i for i in range(900)])
    st, r = http(port, "POST", "/v1/experiments/ramped/variants/B/advance", {"reason": "srm test"}, key)
    if st != 200: fail("advance: %d %s" % (st, r))
    s2, d2 = pages(["r%d" % i for i in range(600, 1800)])
    # at 20% about a fifth of B's range is served; at 50% about half
    if not (0.1 < s1 / (s1 + d1) < 0.3 and 0.4 < s2 / (s2 + d2) < 0.6):
        fail("served shares %d/%d at 20%%, %d/%d at 50%%" % (s1, s1 + d1, s2, s2 + d2))
    st, r = http(port, "POST", "/v1/events", evs, key)
    if st != 200: fail("events: %d %s" % (st, r))
    st, rep = http(port, "GET", "/v1/experiments/ramped/report?metric=play_seconds")
    if st != 200: fail("report: %d %s" % (st, rep))
    json.dump(rep, open(d + "/live.json", "w"), sort_keys=True)
    print("xp_srm_ref: pages of members of B's range: %d at 20%% (%d served B), %d at 50%% (%d served B); %d plays"
          % (s1 + d1, s1, s2 + d2, s2, len(evs)))


def reference(rows):
    """(p, chi2, df) of the SRM check of a collect file's rows, with scipy."""
    n = {v: 0 for v in WEIGHTS}
    units = {v: 0 for v in WEIGHTS}
    e = {v: 0.0 for v in WEIGHTS}
    var = {v: 0.0 for v in WEIGHTS}
    for r in rows:
        rg = r["variant"] or r["range"]
        n[rg] += 1
        if r["served_share"] != "":
            s = float(r["served_share"])
            e[rg] += s
            var[rg] += s * (1 - s)
            units[rg] += r["variant"] != ""
    tot = sum(n.values())
    part1 = ss.chisquare([n[v] for v in WEIGHTS], [tot * w for w in WEIGHTS.values()])
    chi2, df = part1.statistic, len(WEIGHTS) - 1
    for v in WEIGHTS:
        if var[v] > 0:
            chi2 += (units[v] - e[v]) ** 2 / var[v]
            df += 1
    return ss.chi2.sf(chi2, df), chi2, df


def close(a, b, what):
    if abs(a - b) > 1e-9 * max(abs(b), 1e-300):
        fail("%s: %.17g, scipy %.17g" % (what, a, b))


def check(d):
    live, off = json.load(open(d + "/live.json")), json.load(open(d + "/off.json"))
    status = live.pop("status")
    for k in ("experiment", "metric", "units", "drift"): live.pop(k, None)
    if live != off:
        fail("live report != offline analysis:\n%s\n%s" % (json.dumps(live, sort_keys=True), json.dumps(off, sort_keys=True)))
    rows = list(csv.DictReader(open(d + "/units.csv")))
    outside = [r for r in rows if not r["variant"]]
    if not outside or any(r["range"] != "B" for r in outside):
        fail("rows of no arm: %d, ranges %s" % (len(outside), sorted({r["range"] for r in outside})))
    srm = off["srm"]
    p, chi2, df = reference(rows)
    close(srm["p_value"], p, "SRM p-value")
    close(srm["chi2"], chi2, "SRM chi2")
    if srm["df"] != df or df != 2: fail("SRM df %d, reference %d" % (srm["df"], df))
    if not srm["passed"] or not off["trustworthy"]: fail("a correct ramp fails SRM: %s" % srm)
    # the old check (units against the configured weights) fails this correct experiment
    units = [sum(1 for r in rows if r["variant"] == v) for v in WEIGHTS]
    naive = ss.chisquare(units, [sum(units) * w for w in WEIGHTS.values()]).pvalue
    if not naive < 1e-6: fail("the weights-only check would pass (p=%g): the test shows nothing" % naive)
    # broken splits
    head = list(rows[0].keys())
    b_units = [i for i, r in enumerate(rows) if r["variant"] == "B"]
    drop = set(b_units[::4])
    with open(d + "/broken1.csv", "w", newline="") as f:
        w = csv.DictWriter(f, head, lineterminator="\n"); w.writeheader()
        w.writerows(r for i, r in enumerate(rows) if i not in drop)
    with open(d + "/broken2.csv", "w", newline="") as f:
        w = csv.DictWriter(f, head, lineterminator="\n"); w.writeheader()
        for i, r in enumerate(rows):
            if i in drop:
                r = dict(r)
                for k in head[3:12]: r[k] = ""
                r["variant"] = ""
            w.writerow(r)
    print("xp_srm_ref: ramped experiment passes SRM (p=%.4g, scipy %.4g, df %d; weights-only p=%.3g); "
          "live report = offline analysis; %d units, %d members served only the default"
          % (srm["p_value"], p, df, naive, len(rows) - len(outside), len(outside)))


def broken(d):
    for k in (1, 2):
        off = json.load(open("%s/b%d.json" % (d, k)))
        rows = list(csv.DictReader(open("%s/broken%d.csv" % (d, k))))
        p, chi2, df = reference(rows)
        close(off["srm"]["p_value"], p, "broken%d SRM p-value" % k)
        if off["srm"]["passed"] or off["trustworthy"] or not p < 0.001:
            fail("broken split %d passes SRM: %s" % (k, off["srm"]))
        print("xp_srm_ref: broken split %d fails SRM (p=%.3g, scipy %.3g)" % (k, off["srm"]["p_value"], p))


def synth(d):
    # A: 700 units; B's range: 1400 members at share 0.25, 370 of them served (units)
    with open(d + "/synth.csv", "w") as f:
        f.write("unit,variant,first_exposure,play_seconds,range,served_share\n")
        for i in range(700): f.write("a%d,A,%d,%d,A,1\n" % (i, i, i % 17))
        for i in range(1400):
            if i < 370: f.write("b%d,B,%d,%d,B,0.25\n" % (i, i, i % 19))
            else: f.write("b%d,,%d,,B,0.25\n" % (i, i))


def synthcheck(d):
    off = json.load(open(d + "/synth.json"))
    split = ss.chisquare([700, 1400], [2100 * 0.333, 2100 * 0.667]).statistic
    ramp = ss.chisquare([370, 1030], [350, 1050]).statistic
    p = ss.chi2.sf(split + ramp, 2)
    close(off["srm"]["p_value"], p, "synthetic SRM p-value")
    close(off["srm"]["chi2"], split + ramp, "synthetic SRM chi2")
    if off["srm"]["range_members"] != {"A": 700, "B": 1400} or off["srm"]["counts"] != {"A": 700, "B": 370}:
        fail("synthetic counts: %s" % off["srm"])
    print("xp_srm_ref: constant-share SRM = scipy.stats.chisquare (p=%.6g)" % p)


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "traffic": traffic(int(a[2]), a[3], a[4])
    elif a[1] == "check": check(a[2])
    elif a[1] == "broken": broken(a[2])
    elif a[1] == "synth": synth(a[2])
    elif a[1] == "synthcheck": synthcheck(a[2])
    else: fail("unknown mode %s" % a[1])
