#!/usr/bin/python3
"""xp_live_ref.py: an independent check of the server's online experiments from the outside.

  xp_live_ref.py traffic PORT KEY OUTDIR   drive a running `marquee serve --experiments`:
      pre-period events, homepages / recommendations / similar lists for 200 members, events
      attributed to the pages, forced pages; saves every answered list to OUTDIR/pages.json
  xp_live_ref.py load PORT PID OUTDIR      4 threads of homepage requests, kill -9 PID while
      they run; saves the answered pages to OUTDIR/pages.json
  xp_live_ref.py check LOGDIR OUTDIR       every saved page is in LOGDIR/exposures with the same
      member, experiments, rows, titles and positions (parsed here from the raw bytes)
  xp_live_ref.py collect LOGDIR CSV EXP    the CSV of `marquee xp collect` equals this
      reconstruction from the raw event and exposure logs
  xp_live_ref.py canary PORT KEY OUTDIR 1|2   a harmful ramped canary is stopped by the server;
      after a restart it stays stopped
  xp_live_ref.py report PORT EXP OUT.json  saves GET /v1/experiments/EXP/report and the list
  xp_live_ref.py same A.json B.json        the two saved reports are identical
  xp_live_ref.py offline REPORT.json ANALYZE.json CSV   the live report equals `xp analyze
      --sequential --json` of the collect CSV; the list's unit counts equal the CSV's

Exits 1 with a message on the first difference. Only the standard library (and the file
format of docs/xp.md) is used, none of marquee's code.
"""
import csv, json, os, signal, struct, sys, threading, time, urllib.request, urllib.error

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

def fail(msg):
    print("xp_live_ref: " + msg, file=sys.stderr)
    sys.exit(1)

def page_rows(route, d, path):
    if route == 0: return [(r["id"], [t["id"] for t in r["titles"]]) for r in d["rows"]]
    if route == 1: return [("recommendations", [t["id"] for t in d["titles"]])]
    return [("similar:" + path.split("/")[3], [t["id"] for t in d["titles"]])]

# titles of the demo catalog (data/ml-latest-small)
TITLES = [1, 2, 3, 5, 6, 10, 32, 47, 50, 110, 150, 260, 296, 318, 356, 480, 527, 589, 593, 858]

def traffic(port, key, out):
    now = int(time.time())
    pages = []
    # pre-period plays (2 days before, inside --pre-days 14) and one outside it (20 days)
    evs = []
    for i in range(200):
        m = "u%d" % i
        evs.append({"member": m, "title": TITLES[i % 20], "timestamp": now - 2 * 86400, "value": 60 * (i % 7)})
        if i % 3 == 0: evs.append({"member": m, "title": 2, "timestamp": now - 20 * 86400, "value": 999})
    st, d = http(port, "POST", "/v1/events", evs, key)
    if st != 200: fail("pre-period events: %d %s" % (st, d))
    for i in range(200):
        m = "u%d" % i
        for route, path in ((0, "/v1/members/%s/homepage?rows=4&per_row=6" % m),
                            (1, "/v1/members/%s/recommendations?n=5" % m),
                            (2, "/v1/titles/%d/similar?n=4&member=%s" % (TITLES[i % 20], m))):
            if route and i % 4: continue
            st, d = http(port, "GET", path)
            if st != 200: fail("GET %s: %d %s" % (path, st, d))
            pages.append({"route": route, "member": m, "page_id": d["page_id"], "forced": d.get("forced", False),
                          "experiments": d["experiments"], "rows": page_rows(route, d, path)})
    # plays attributed to the first title of each homepage's first row; some finishing
    evs = []
    for k, p in enumerate(pages):
        if p["route"] != 0 or not p["rows"] or not p["rows"][0][1]: continue
        evs.append({"member": p["member"], "title": p["rows"][0][1][0], "timestamp": now + 5,
                    "value": 6000 if k % 5 == 0 else 30 + k % 11, "page_id": p["page_id"],
                    "row": p["rows"][0][0], "position": 0, "event_id": "ev-%d" % k})
        if k % 3 == 0:
            evs.append({"member": p["member"], "title": 3, "timestamp": now + 86400 + 5, "value": 100})
        if k % 7 == 0:
            evs.append({"member": p["member"], "title": 3, "event": "thumb_up", "timestamp": now + 2 * 86400})
    evs.append({"member": "u1", "title": 1, "value": 5, "page_id": "never-served-0000", "row": "top_picks", "position": 3})
    st, d = http(port, "POST", "/v1/events", evs, key)
    if st != 200: fail("events: %d %s" % (st, d))
    for bad in ({"member": "u1", "title": 1, "position": -1}, {"member": "u1", "title": 1, "position": 1.5},
                {"member": "u1", "title": 1, "page_id": 7}, {"member": "u1", "title": 1, "row": ""},
                {"member": "u1", "title": 1, "event_id": "x" * 65}):
        st, d = http(port, "POST", "/v1/events", bad, key)
        if st != 400: fail("bad event %s answered %d" % (bad, st))
    # forcing: needs the key, marks the page
    st, d = http(port, "GET", "/v1/members/u0/homepage?xp=size:small")
    if st != 401: fail("?xp= without the key answered %d" % st)
    for m in ("u0", "u1", "u2"):
        st, d = http(port, "GET", "/v1/members/%s/homepage?xp=size:small" % m, key=key)
        if st != 200 or not d.get("forced") or {"name": "size", "variant": "small", "forced": True} not in d["experiments"]:
            fail("forced page: %d %s" % (st, d))
        if len(d["rows"]) > 3 or any(len(r["titles"]) > 5 for r in d["rows"]):
            fail("the forced variant's treatment (rows 3, per_row 5) was not applied")
        pages.append({"route": 0, "member": m, "page_id": d["page_id"], "forced": True,
                      "experiments": d["experiments"], "rows": page_rows(0, d, "")})
    st, d = http(port, "GET", "/v1/members/u0/homepage?xp=size:nope", key=key)
    if st != 400: fail("unknown forced variant answered %d" % st)
    json.dump(pages, open(os.path.join(out, "pages.json"), "w"))

def load(port, pid, out):
    pages, lock, stop = [], threading.Lock(), [False]
    def worker(w):
        i = 0
        while not stop[0]:
            m = "L%d_%d" % (w, i)
            i += 1
            try:
                st, d = http(port, "GET", "/v1/members/%s/homepage?rows=3&per_row=4" % m)
            except Exception:
                return
            if st == 200:
                with lock:
                    pages.append({"route": 0, "member": m, "page_id": d["page_id"], "forced": False,
                                  "experiments": d["experiments"], "rows": page_rows(0, d, "")})
    ts = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in ts: t.start()
    time.sleep(2.0)
    os.kill(pid, signal.SIGKILL)
    stop[0] = True
    for t in ts: t.join()
    if len(pages) < 20: fail("only %d pages answered under load" % len(pages))
    json.dump(pages, open(os.path.join(out, "pages.json"), "w"))
    print("xp_live_ref: %d pages answered before kill -9" % len(pages))

# ---- the raw logs ----

def segments(d, magic):
    names = sorted(n for n in os.listdir(d) if n.endswith(".log") and len(n) == 24)
    for n in names:
        b = open(os.path.join(d, n), "rb").read()
        if len(b) < 16: continue
        if b[:8] != magic: fail("%s: bad magic" % n)
        off = 16
        while off + 8 <= len(b):
            ln = struct.unpack_from("<I", b, off)[0]
            if ln == 0: break                      # the zero tail (preallocation, torn)
            if off + 8 + ln > len(b): break
            yield b[off + 8: off + 8 + ln]
            off += 8 + ln

def exposures(d):
    out = []
    for p in segments(d, b"MQEXPLG1"):
        if p[2] == 3: continue                     # a guardrail stop, not a page
        ver, flags, route, t = struct.unpack_from("<BBBq", p, 0)
        o = 11
        def s8():
            nonlocal o
            n = p[o]; v = p[o + 1:o + 1 + n].decode(); o += 1 + n; return v
        member, page_id, version = s8(), s8(), s8()
        ne = p[o]; o += 1
        exps = []
        for _ in range(ne):
            name, var = s8(), s8(); served = p[o]; o += 1
            share = None
            if flags & 8:                          # the served share of the variant's range
                share = struct.unpack_from("<d", p, o)[0]; o += 8
            exps.append((name, var, served, share))
        ntot, nrows = struct.unpack_from("<IH", p, o); o += 6
        rows = []
        for _ in range(nrows):
            rl = struct.unpack_from("<H", p, o)[0]; o += 2
            rid = p[o:o + rl].decode(); o += rl
            nt = struct.unpack_from("<H", p, o)[0]; o += 2
            rows.append((rid, [s8() for _ in range(nt)]))
        art = None
        if ver == 2:                               # artwork decisions (exposure.c, version 2)
            policy, dm = p[o], p[o + 1]; o += 2
            ctx = list(p[o:o + dm]); o += dm
            art_time = struct.unpack_from("<q", p, o)[0]; o += 8
            art = {"policy": policy, "ctx": ctx, "time": art_time,
                   "titles": [struct.unpack_from("<Bd", p, o + 9 * i) for i in range(ntot)]}
            o += 9 * ntot
        elif ver != 1: fail("exposure record version %d" % ver)
        explore = None
        if flags & 4:                              # exploration slots (explore.c)
            explore = list(struct.unpack_from("<%dd" % ntot, p, o)); o += 8 * ntot
        if o != len(p): fail("exposure record of %d bytes parsed to %d" % (len(p), o))
        out.append({"time": t, "forced": bool(flags & 1), "route": route, "member": member,
                    "page_id": page_id, "exps": exps, "rows": rows, "artwork": art,
                    "explore": explore})
    return out

def events(d):
    out = []
    for p in segments(d, b"MQEVLOG1"):
        t, v, kind, ml, tl = struct.unpack_from("<qfBBB", p, 0)
        o = 15
        member = p[o:o + ml].decode(); title = p[o + ml:o + ml + tl].decode(); o += ml + tl
        page_id = ""
        if o < len(p):
            flags = p[o]; o += 1
            if flags & 1:
                n = p[o]; page_id = p[o + 1:o + 1 + n].decode(); o += 1 + n
            if flags & 2:
                n = struct.unpack_from("<H", p, o)[0]; o += 2 + n
            if flags & 4: o += 4
            if flags & 8:
                n = p[o]; o += 1 + n
        if o != len(p): fail("event record of %d bytes parsed to %d" % (len(p), o))
        out.append({"time": t, "value": v, "kind": kind, "member": member, "title": title, "page_id": page_id})
    return out

def check(logdir, out):
    pages = json.load(open(os.path.join(out, "pages.json")))
    ex = {e["page_id"]: e for e in exposures(os.path.join(logdir, "exposures"))}
    for p in pages:
        e = ex.get(p["page_id"])
        if e is None: fail("page %s (member %s) is not in the exposure log" % (p["page_id"], p["member"]))
        if e["member"] != p["member"] or e["route"] != p["route"] or e["forced"] != p["forced"]:
            fail("page %s: member/route/forced differ: %s vs %s" % (p["page_id"], e, p))
        if [(n, v) for n, v, _, _ in e["exps"]] != [(x["name"], x["variant"]) for x in p["experiments"]]:
            fail("page %s: experiments differ: %s vs %s" % (p["page_id"], e["exps"], p["experiments"]))
        if [list(r) for r in e["rows"]] != [list(r) for r in p["rows"]]:
            fail("page %s: rows, titles or positions differ" % p["page_id"])
    print("xp_live_ref: all %d answered pages are in the exposure log (%d records)" % (len(pages), len(ex)))

def collect(logdir, csvpath, exp, pre_days=14, finish=5400.0):
    units, served, ranges = {}, set(), {}
    for e in exposures(os.path.join(logdir, "exposures")):
        served.add(e["page_id"])
        if e["forced"]: continue
        for name, var, served_default, share in e["exps"]:
            if name != exp: continue
            # every member of the variant's range, served or not (docs/xp.md, SRM under ramps)
            r = ranges.setdefault(e["member"], {"variant": var, "first": e["time"], "share": 0.0,
                                                "known": True, "unit": False})
            r["first"] = min(r["first"], e["time"])
            if share is None: r["known"] = False
            else: r["share"] = max(r["share"], share)
            if served_default: continue
            r["unit"] = True
            u = units.setdefault(e["member"], {"variant": var, "first": e["time"], "pages": 0, "days": set()})
            u["first"] = min(u["first"], e["time"])
            u["pages"] += 1
            u["days"].add(e["time"] // 86400)
    for u in units.values():
        u.update(plays=0, secs=0.0, titles={}, pfp=0, pre=0, pre_secs=0.0)
    for ev in events(os.path.join(logdir, "events")):
        u = units.get(ev["member"])
        if not u: continue
        play = ev["kind"] == 0
        if ev["time"] >= u["first"]:
            u["days"].add(ev["time"] // 86400)
            if play:
                u["plays"] += 1; u["secs"] += ev["value"]
                u["titles"][ev["title"]] = u["titles"].get(ev["title"], 0.0) + ev["value"]
                if ev["page_id"] in served: u["pfp"] += 1
        elif play and ev["time"] >= u["first"] - pre_days * 86400:
            u["pre"] += 1; u["pre_secs"] += ev["value"]
    want = sorted(units.items(), key=lambda kv: (kv[1]["first"], kv[0].encode()))
    # then the range members served only the default: no variant, no metrics
    outside = sorted(((m, r) for m, r in ranges.items() if not r["unit"]), key=lambda kv: (kv[1]["first"], kv[0].encode()))
    rows = list(csv.DictReader(open(csvpath)))
    if len(rows) != len(want) + len(outside):
        fail("collect: %d rows, reference %d units + %d served the default" % (len(rows), len(want), len(outside)))
    cols = ["unit", "variant", "first_exposure", "pages", "plays", "play_seconds", "finishes",
            "distinct_titles", "active_days", "plays_from_pages", "pre_plays", "pre_play_seconds",
            "range", "served_share"]
    if list(rows[0].keys()) != cols: fail("collect: columns %s" % list(rows[0].keys()))
    def share(r): return r["share"] if r["known"] else ""
    refs = [[m, u["variant"], u["first"], u["pages"], u["plays"], u["secs"],
             sum(1 for s in u["titles"].values() if s >= finish), len(u["titles"]), len(u["days"]),
             u["pfp"], u["pre"], u["pre_secs"], u["variant"], share(ranges[m])] for m, u in want]
    refs += [[m, "", r["first"]] + [""] * 9 + [r["variant"], share(r)] for m, r in outside]
    for r, ref in zip(rows, refs):
        for c, v in zip(cols, ref):
            got = r[c]
            ok = got == v if isinstance(v, str) else abs(float(got) - v) <= 1e-9 * max(1.0, abs(v))
            if not ok: fail("collect: unit %s column %s: %s, reference %s" % (ref[0], c, got, v))
    print("xp_live_ref: xp collect equals the reference on %d units and %d members served the default"
          % (len(want), len(outside)))

def canary(port, key, out, phase):
    """A harmful canary: members served variant B of experiment 'canary' watch a tenth as
    long. phase 1: the server must ramp B from 50% to 100%, then stop it by itself; phase 2
    (after a restart): B stays stopped."""
    def status():
        st, l = http(port, "GET", "/v1/experiments")
        if st != 200: fail("list: %d %s" % (st, l))
        return [e for e in l["experiments"] if e["name"] == "canary"][0]
    if phase == "2":
        e = status()
        if e["state"] != "stopped" or not e["variants"][1]["stopped"]: fail("after the restart: %s" % e)
        st, r = http(port, "GET", "/v1/experiments/canary/report")
        if st != 200 or r["status"]["state"] != "stopped" or "play_seconds" not in r["status"]["reason"]:
            fail("report after the restart: %s" % r.get("status"))
        print("xp_live_ref: still stopped after the restart: " + r["status"]["reason"])
        return
    e = status()
    if e["state"] != "ramping" or e["variants"][1]["served_percent"] != 50: fail("at start: %s" % e)
    t0, now, i, ramped, served_default = time.time(), int(time.time()), 0, False, 0
    while time.time() - t0 < 60:
        evs = []
        for _ in range(20):
            m = "c%d" % i
            i += 1
            st, d = http(port, "GET", "/v1/members/%s/homepage?rows=2&per_row=3" % m)
            if st != 200: fail("homepage: %d" % st)
            x = [x for x in d["experiments"] if x["name"] == "canary"][0]
            if x.get("served") == "default": served_default += 1
            harmful = x["variant"] == "B" and x.get("served") != "default"
            t = d["rows"][0]["titles"][0]["id"]
            evs.append({"member": m, "title": t, "timestamp": int(time.time()), "page_id": d["page_id"],
                        "value": (10 if harmful else 100) + (i % 7)})
        st, r = http(port, "POST", "/v1/events", evs, key)
        if st != 200: fail("events: %d %s" % (st, r))
        e = status()
        if e["variants"][1]["served_percent"] == 100: ramped = True
        if e["state"] == "stopped": break
        time.sleep(0.2)
    if e["state"] != "stopped": fail("the harmful variant was not stopped in 60 s: %s" % e)
    if not served_default: fail("no member was served the default during the 50% ramp step")
    b = e["variants"][1]
    if not b["stopped"] or "play_seconds" not in b["reason"] or b["served_percent"] != 0: fail("stopped variant: %s" % b)
    # members of B now get the default, marked
    for k in range(200):
        st, d = http(port, "GET", "/v1/members/c%d/homepage" % k)
        x = [x for x in d["experiments"] if x["name"] == "canary"][0]
        if x["variant"] == "B" and x.get("served") != "default": fail("a B member still served B: %s" % x)
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port) as r:
        m = r.read().decode()
    if 'marquee_xp_rollbacks_total{experiment="canary",variant="B"} 1' not in m: fail("no rollback in /metrics")
    print("xp_live_ref: ramped %s, stopped after %d members (%.1f s): %s" % (ramped, i, time.time() - t0, b["reason"]))

RATINGS = "data/ml-latest-small/ratings.csv"

def positives():
    """Each title's positives (ratings >= 4) in the demo data, and the titles in order of first
    appearance (the models' title order)."""
    pos, order = {}, []
    for r in csv.DictReader(open(RATINGS)):
        m = r["movieId"]
        if m not in pos: pos[m] = 0; order.append(m)
        if float(r["rating"]) >= 4: pos[m] += 1
    return pos, order

def leastpop(out):
    """Training data for a deliberately harmful model: `pop` on it ranks the least popular titles
    first (3 synthetic members like every title without a positive, 2 those with 1-2, 1 all
    others), with the demo data's titles in the demo data's order (as treatment models need)."""
    pos, order = positives()
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "ratings.csv"), "w") as f:
        f.write("userId,movieId,rating,timestamp\n")
        for j in range(3):
            for m in order:
                k = 3 if pos[m] == 0 else 2 if pos[m] <= 2 else 1
                if j < k: f.write("%d,%s,5.0,1000000000\n" % (900001 + j, m))

def harmful(port, key, check_every):
    """Members watch the first title of their recommendations for 10 s per positive it has in
    the demo data (people like popular titles): variant B, whose model ranks the least popular
    titles first, costs watch time through what it shows. The server must stop B by itself
    within a few guardrail checks of both arms reaching min_units."""
    pos, _ = positives()
    def status():
        st, l = http(port, "GET", "/v1/experiments")
        if st != 200: fail("list: %d %s" % (st, l))
        return [e for e in l["experiments"] if e["name"] == "harm"][0]
    t0, i, t_min, secs = time.time(), 0, None, {"A": [], "B": []}
    while time.time() - t0 < 90:
        evs = []
        for _ in range(20):
            m = str(1 + i % 610)                  # the demo data's members (new ones get cold-start lists)
            i += 1
            st, d = http(port, "GET", "/v1/members/%s/recommendations?n=5" % m)
            if st != 200: fail("recommendations: %d" % st)
            x = [x for x in d["experiments"] if x["name"] == "harm"][0]
            v = 10.0 * pos.get(d["titles"][0]["id"], 0)
            secs[x["variant"]].append(v)
            evs.append({"member": m, "title": d["titles"][0]["id"], "timestamp": int(time.time()),
                        "page_id": d["page_id"], "value": v})
        st, r = http(port, "POST", "/v1/events", evs, key)
        if st != 200: fail("events: %d %s" % (st, r))
        e = status()
        if t_min is None and all(v["units"] >= 30 for v in e["variants"]): t_min = time.time()
        if e["state"] == "stopped": break
        time.sleep(0.1)
    if e["state"] != "stopped":
        fail("the harmful model was not stopped in 90 s (mean watch A %.0f s, B %.0f s): %s"
             % (sum(secs["A"]) / max(len(secs["A"]), 1), sum(secs["B"]) / max(len(secs["B"]), 1), e))
    b = e["variants"][1]
    if not b["stopped"] or "play_seconds" not in b["reason"]: fail("stopped variant: %s" % b)
    waited = time.time() - (t_min or t0)
    checks = waited / float(check_every)
    if checks > 6: fail("stopped %.1f s (%.1f checks) after both arms had min_units" % (waited, checks))
    mean = {k: sum(v) / max(len(v), 1) for k, v in secs.items()}
    print("xp_live_ref: least-popular-first model: mean watch %.0f s (A) vs %.0f s (B); stopped %.1f s "
          "(about %.0f checks) after both arms had 30 units, %d pages: %s"
          % (mean["A"], mean["B"], waited, checks, i, b["reason"]))

def report(port, exp, out):
    st, r = http(port, "GET", "/v1/experiments/%s/report?metric=play_seconds" % exp)
    if st != 200: fail("report: %d %s" % (st, r))
    st, l = http(port, "GET", "/v1/experiments")
    if st != 200: fail("list: %d %s" % (st, l))
    json.dump({"report": r, "list": l}, open(out, "w"), sort_keys=True)

def reload(port, key):
    st, d = http(port, "POST", "/v1/admin/reload", None, key)
    if st != 200: fail("reload: %d %s" % (st, d))

def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=20) as r:
        return r.read().decode()

def warm(port, model, seconds):
    # the warmer computes every title's similar list of a treatment model too
    t0 = time.time()
    while time.time() - t0 < float(seconds):
        m = metrics(port)
        titles = int(m.split('titles="')[1].split('"')[0])
        key = 'marquee_treatment_similar_lists_cached{model="%s"} ' % model
        if key in m and int(m.split(key)[1].split()[0]) == titles:
            print("xp_live_ref: all %d similar lists of treatment model %s computed in %.1f s" % (titles, model, time.time() - t0))
            return
        time.sleep(0.2)
    fail("treatment model %s not warmed in %s s:\n%s" % (model, seconds, [l for l in metrics(port).splitlines() if "similar" in l]))

def psi(port, out):
    # the drift gauges of every loaded model; they must be numbers (sampled pages were seen)
    lines = sorted(l for l in metrics(port).splitlines() if l.startswith("marquee_model_score_psi{"))
    if len(lines) < 2 or any(l.split()[-1].lower() in ("nan", "inf") for l in lines): fail("psi: %s" % lines)
    open(out, "w").write("\n".join(lines) + "\n")
    print("xp_live_ref: " + "; ".join(lines))

def pages(port, n, prefix):
    for i in range(int(n)):
        st, d = http(port, "GET", "/v1/members/u%d/homepage?rows=4&per_row=6" % (i % 200))
        if st != 200: fail("page: %d %s" % (st, d))

def same(a, b):
    # the drift monitor counts sampled pages of this process: not part of the logs
    ra, rb = json.load(open(a)), json.load(open(b))
    ra["report"].pop("drift"); rb["report"].pop("drift")
    if ra != rb: fail("reports differ: %s %s" % (a, b))
    print("xp_live_ref: reports identical")

def offline(rep, ana, csvpath):
    saved = json.load(open(rep))
    r, off = saved["report"], json.load(open(ana))
    status = r.pop("status")
    if status["state"] != "running": fail("state %s" % status)
    exp = r.pop("experiment"); r.pop("metric"); n = r.pop("units")
    drift = r.pop("drift")
    if [(d["variant"], d["model"]) for d in drift] != [("A", "main"), ("B", "alt")] or \
       not all(isinstance(d["psi"], float) and d["psi"] >= 0 for d in drift):
        fail("drift: %s" % drift)
    if r != off: fail("live report != offline analysis:\n%s\n%s" % (json.dumps(r, sort_keys=True), json.dumps(off, sort_keys=True)))
    rows = [x for x in csv.DictReader(open(csvpath)) if x["variant"]]   # units (not: served only the default)
    if n != len(rows) or off["rows"] != len(rows): fail("units %d vs %d rows" % (n, len(rows)))
    for e in saved["list"]["experiments"]:
        if e["name"] != exp: continue
        for v in e["variants"]:
            k = sum(1 for x in rows if x["variant"] == v["name"])
            if v["units"] != k: fail("list: variant %s has %d units, the CSV %d" % (v["name"], v["units"], k))
    print("xp_live_ref: live report = offline analysis (%d units)" % n)

if __name__ == "__main__":
    a = sys.argv
    if a[1] == "traffic": traffic(int(a[2]), a[3], a[4])
    elif a[1] == "load": load(int(a[2]), int(a[3]), a[4])
    elif a[1] == "check": check(a[2], a[3])
    elif a[1] == "collect": collect(a[2], a[3], a[4])
    elif a[1] == "report": report(int(a[2]), a[3], a[4])
    elif a[1] == "canary": canary(int(a[2]), a[3], a[4], a[5])
    elif a[1] == "leastpop": leastpop(a[2])
    elif a[1] == "harmful": harmful(int(a[2]), a[3], a[4])
    elif a[1] == "same": same(a[2], a[3])
    elif a[1] == "reload": reload(int(a[2]), a[3])
    elif a[1] == "warm": warm(int(a[2]), a[3], a[4])
    elif a[1] == "psi": psi(int(a[2]), a[3])
    elif a[1] == "pages": pages(int(a[2]), a[3], "u")
    elif a[1] == "offline": offline(a[2], a[3], a[4])
    else: fail("unknown mode " + a[1])
