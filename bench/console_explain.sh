#!/usr/bin/env bash
# console_explain.sh: the console's JSON calls on the demo catalog, timed in one run against
# the same server's plain recommendations call (the same-run baseline):
#   GET /v1/members/{m}/recommendations?n=200             (baseline)
#   GET /v1/members/{m}/recommendations?explain=1&n=200   ("why this": explanations of 200 titles)
#   GET /v1/members/{m}/homepage, /v1/experiments/{x}/timeline, /v1/experiments/{x}/report,
#   /v1/models, /v1/reports
# for members 1..N (N=60, --full: all 610), one request at a time on a keep-alive connection,
# models: iALS (16 factors, as the console test) and EASE (lambda 200, as scripts/demo.sh), each
# trained once into out/bench/console/. Prints per call the median and p90 in ms and the ratio of
# medians to the baseline, and the server's CPU time per call (utime + stime of the process over
# a block of calls of one kind, 10 ms ticks) with its ratio, once the similar-lists warmer is done. Wall-clock on a shared
# machine: read the ratios; bench/console_explain.c gives the CPU time of the explanations alone.
#
# Usage: bash bench/console_explain.sh [--full]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mq=$BUILD/marquee
n=60
[ "${1:-}" = --full ] && n=610
out=out/bench/console
mkdir -p "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

for kind in ials ease; do
  models=$out/models-$kind
  mkdir -p "$models"
  if [ ! -s "$models/main.mqm" ]; then
    if [ $kind = ials ]; then
      $mq train --data data/ml-latest-small --model ials --param factors=16 --param epochs=4 --out "$models/main.mqm" 2>/dev/null
    else
      $mq train --data data/ml-latest-small --model ease --param lambda=200 --out "$models/main.mqm" 2>/dev/null
    fi
  fi
  printf '%s\n' '{"experiments": [{"name": "rows_test", "variants": [{"name": "A"}, {"name": "B", "treatment": {"mmr": 0.5}}]}]}' > "$out/xp.json"
  dir=$out/run-$kind
  rm -rf "$dir"; mkdir -p "$dir"
  $mq serve --data data/ml-latest-small --models "$models" --events "$dir/events" --exposures "$dir/exposures" \
      --store "lmdb:$dir/state" --experiments "$out/xp.json" --threads 2 --port 0 --port-file "$dir/port" \
      > /dev/null 2> "$dir/log.txt" &
  pids+=($!)
  for _ in $(seq 600); do [ -s "$dir/port" ] && break; sleep 0.2; done
  port=$(cat "$dir/port")
  # steady state: the similar-lists warmer has finished (it competes for the CPU until then)
  for _ in $(seq 600); do
    curl -s "http://127.0.0.1:$port/metrics" | awk '/^marquee_model_info/ {match($0, /titles="[0-9]+"/); n = substr($0, RSTART + 8, RLENGTH - 9)}
      /^marquee_similar_lists_cached/ {c = $2} END {exit !(n > 0 && c >= n)}' && break
    sleep 0.5
  done
  echo "== $kind ($n members)"
  /usr/bin/python3 - "$port" "$n" "${pids[-1]}" <<'EOF'
import http.client, os, statistics, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
tick = os.sysconf("SC_CLK_TCK")
def server_cpu():  # utime + stime of the server, seconds
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
c = http.client.HTTPConnection("127.0.0.1", port)
def get(path):
    t = time.perf_counter()
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"{path}: {r.status}")
    return (time.perf_counter() - t) * 1000
calls = {
    "recommendations?n=200 (baseline)": lambda m: f"/v1/members/{m}/recommendations?n=200",
    "recommendations?explain=1&n=200": lambda m: f"/v1/members/{m}/recommendations?explain=1&n=200",
    "homepage": lambda m: f"/v1/members/{m}/homepage",
    "experiments/rows_test/timeline": lambda m: "/v1/experiments/rows_test/timeline",
    "experiments/rows_test/report": lambda m: "/v1/experiments/rows_test/report",
    "models": lambda m: "/v1/models",
    "reports": lambda m: "/v1/reports",
}
for m in range(1, 11):     # warm the page contexts and the similar lists
    for f in calls.values():
        get(f(m))
times = {k: [] for k in calls}
cpu = {k: 0.0 for k in calls}
for rep in range(3):       # blocks of one call, three rounds: server CPU per call, wall times
    for k, f in calls.items():
        c0 = server_cpu()
        for m in range(1, n + 1):
            times[k].append(get(f(m)))
        cpu[k] += server_cpu() - c0
base = statistics.median(times["recommendations?n=200 (baseline)"])
cbase = cpu["recommendations?n=200 (baseline)"]
print(f"{'call':40s} {'median ms':>10s} {'p90 ms':>8s} {'max ms':>8s} {'x base':>7s} {'CPU ms':>7s} {'x base':>7s}")
for k, v in times.items():
    v.sort()
    med = statistics.median(v)
    c = 1000 * cpu[k] / len(v)
    print(f"{k:40s} {med:10.2f} {v[int(0.9 * (len(v) - 1))]:8.2f} {v[-1]:8.2f} {med / base:7.2f} {c:7.2f} {cpu[k] / cbase if cbase else float('nan'):7.2f}")
EOF
  kill "${pids[-1]}" 2>/dev/null || true
done
