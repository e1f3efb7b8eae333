"""abr_ref.py: an independent Python/numpy re-implementation of the Pensieve test simulator and
of the buffer-based and robustMPC controllers, written from the semantics in
../shared/REFERENCES.md and docs/abr.md, used to check `marquee abr` trace by trace.

usage: abr_ref.py TRACES_DIR VIDEO_DIR SESSIONS_CSV [MAX_TRACES]
SESSIONS_CSV is `marquee abr --algo bb,robustmpc --sessions-csv` output (unit,variant,qoe,...).
Exits 1, printing both sides, on any per-trace QoE or rebuffer mismatch beyond a relative 1e-9:
both sides do the same IEEE operations in the same order, so they agree to the last bit, and the
CSV carries 12 significant digits."""
import csv
import itertools
import os
import sys

import numpy as np

LADDER = [300, 750, 1200, 1850, 2850, 4300]
N_CHUNKS = 48
CAP_MS = 60000.0


def load_trace(path):
    t, b = [], []
    with open(path) as f:
        for line in f:
            p = line.split()
            if p:
                t.append(float(p[0]))
                b.append(float(p[1]))
    return t, b


class Net:
    def __init__(self, t, b):
        self.t, self.b = t, b
        self.ptr = 1
        self.last = t[0]
        self.buf = 0.0

    def advance(self):
        self.last = self.t[self.ptr]
        self.ptr += 1
        if self.ptr >= len(self.b):
            self.ptr, self.last = 1, 0

    def chunk(self, size):
        delay, sent = 0.0, 0.0
        while True:
            thr = self.b[self.ptr] * 1000000.0 / 8.0
            dur = self.t[self.ptr] - self.last
            pay = thr * dur * 0.95
            if sent + pay > size:
                frac = (size - sent) / thr / 0.95
                delay += frac
                self.last += frac
                break
            sent += pay
            delay += dur
            self.advance()
        delay = delay * 1000.0 + 80
        rebuf = max(delay - self.buf, 0.0)
        self.buf = max(self.buf - delay, 0.0) + 4000.0
        if self.buf > CAP_MS:
            sleep = np.ceil((self.buf - CAP_MS) / 500.0) * 500.0
            self.buf -= sleep
            while True:
                dur = self.t[self.ptr] - self.last
                if dur > sleep / 1000.0:
                    self.last += sleep / 1000.0
                    break
                sleep -= dur * 1000.0
                self.advance()
        return delay, rebuf / 1000.0, self.buf / 1000.0


def reward(b, prev, rebuf):
    return LADDER[b] / 1000.0 - 4.3 * rebuf - abs(LADDER[b] - LADDER[prev]) / 1000.0


COMBOS = np.array(list(itertools.product(range(6), repeat=5)))
RATES = np.array(LADDER, dtype=np.int64)


def mpc_pick(sizes, buf0, last, bw, first_idx, h):
    combos = COMBOS[:, :h]
    n = combos.shape[0]
    cur = np.full(n, buf0)
    reb = np.zeros(n)
    bsum = np.zeros(n, dtype=np.int64)
    ssum = np.zeros(n, dtype=np.int64)
    lq = np.full(n, last)
    for k in range(h):
        q = combos[:, k]
        idx = first_idx + k
        sz = np.array([sizes[l][idx] if idx < len(sizes[l]) else 0 for l in range(6)], dtype=float)
        d = (sz[q] / 1000000.) / bw
        short = cur < d
        reb = np.where(short, reb + (d - cur), reb)
        cur = np.where(short, 0.0, cur - d) + 4
        bsum += RATES[q]
        ssum += np.abs(RATES[q] - RATES[lq])
        lq = q
    r = bsum / 1000. - 4.3 * reb - ssum / 1000.
    # the last maximum in itertools.product order wins (Pensieve's `>=`)
    return int(combos[n - 1 - int(np.argmax(r[::-1])), 0])


def play(t, b, sizes, algo, hist):
    net = Net(t, b)
    level, prev = 1, 1
    total, rebuf_total = 0.0, 0.0
    tput = []
    for c in range(N_CHUNKS):
        size = sizes[level][c]
        delay, rebuf, buf = net.chunk(size)
        r = reward(level, prev, rebuf)
        if c >= 1:
            total += r
            rebuf_total += rebuf
        tput.append(float(size) / float(delay) / 1000.0)
        if algo == "bb":
            nxt = 0 if buf < 5 else 5 if buf >= 15 else int(5 * (buf - 5) / 10.0)
        else:
            cur = tput[-1]
            hist["errs"].append(abs(hist["est"] - cur) / cur if hist["est"] is not None else 0)
            past = tput[-5:]
            hm = 1.0 / (sum(1 / x for x in past) / len(past))
            bw = hm / (1 + max(hist["errs"][-5:]))
            hist["est"] = hm
            nxt_idx = c + 1
            h = min(5, N_CHUNKS - nxt_idx)
            nxt = mpc_pick(sizes, buf, level, bw, nxt_idx + 1, h) if h > 0 else 0
        prev, level = level, nxt
    return total, rebuf_total


def main():
    tdir, vdir, csv_path = sys.argv[1:4]
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
    sizes = []
    for l in range(6):
        with open(os.path.join(vdir, "video_size_%d" % l)) as f:
            sizes.append([int(x.split()[0]) for x in f if x.strip()])
    got = {}
    with open(csv_path) as f:
        for row in csv.DictReader(f):
            got[(row["variant"], row["unit"])] = (float(row["qoe"]), float(row["rebuffer_s"]))
    names = sorted(os.listdir(tdir))
    bad = 0
    for algo in ("bb", "robustmpc"):
        hist = {"errs": [], "est": None}
        means = []
        for i, name in enumerate(names):
            if limit is not None and i >= limit:
                break
            t, b = load_trace(os.path.join(tdir, name))
            q, rb = play(t, b, sizes, algo, hist)
            means.append(q)
            gq, grb = got[(algo, name)]
            if abs(gq - q) > 1e-9 * max(1, abs(q)) or abs(grb - rb) > 1e-9 * max(1, rb):
                print("MISMATCH %s %s: reference qoe %.12g rebuf %.12g, marquee %.12g %.12g"
                      % (algo, name, q, rb, gq, grb))
                bad += 1
        print("%s: %d traces, reference mean QoE_lin %.4f" % (algo, len(means), sum(means) / len(means)))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
