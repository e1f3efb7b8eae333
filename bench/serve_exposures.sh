#!/usr/bin/env bash
# serve_exposures.sh: the cost of the exposure log: homepages/s of `marquee serve` on the demo
# catalog (data/ml-latest-small, EASE, trained once into out/bench/demo-models) with
# --exposure-log off, full and summary, in the same run, alternating (off, full, summary,
# repeated ROUNDS times), wrk -t2 -c64 DURATION seconds each after a 2 s warm-up, 20 x 40
# pages, members rotating (bench/serve_homepage.lua). Prints pages/s and the server's CPU time
# per page (user + system from /proc/PID/stat over the measured run: steadier than pages/s on
# a shared machine) and the ratios to off.
#
# Usage: bash bench/serve_exposures.sh   (DURATION=6, ROUNDS=1: about 40 s)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mq=$BUILD/marquee
dur=${DURATION:-6}
rounds=${ROUNDS:-1}
out=out/bench
models=$out/demo-models
mkdir -p "$out"
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT

run() { # mode -> pages/s
  local mode=$1 dir=$out/xp-expo-$1
  rm -rf "$dir"; mkdir -p "$dir"
  $mq serve --data data/ml-latest-small --models "$models" --events "$dir/events" --store "lmdb:$dir/state" \
      --exposures "$dir/exposures" --exposure-log "$mode" --port 0 --port-file "$dir/port" \
      > /dev/null 2> "$dir/log.txt" &
  pid=$!
  for _ in $(seq 1200); do [ -s "$dir/port" ] && break; sleep 0.5; done
  local base=http://127.0.0.1:$(cat "$dir/port")
  for _ in $(seq 600); do   # steady state: every similar-titles list computed
    curl -s "$base/metrics" | awk '/^marquee_model_info/ {match($0, /titles="[0-9]+"/); n = substr($0, RSTART + 8, RLENGTH - 9)}
                                   /^marquee_similar_lists_cached/ {c = $2} END {exit !(n > 0 && c == n)}' && break
    sleep 0.5
  done
  wrk -t2 -c64 -d2s -s bench/serve_homepage.lua "$base" > /dev/null
  local rps reqs t0 t1
  t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  read -r rps reqs < <(wrk -t2 -c64 -d"${dur}s" -s bench/serve_homepage.lua "$base" |
                       awk '/Requests\/sec/ {r = $2} / requests in / {n = $1} END {print r, n}')
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  local cpu_ms
  cpu_ms=$(awk -v a="$t0" -v b="$t1" -v n="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.3f", (b - a) / hz * 1000 / n}')
  local recs
  recs=$(curl -s "$base/metrics" | awk '/^marquee_exposure_log_records/ {print $2}')
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  echo "$rps $cpu_ms ${recs:-0} $(du -sk "$dir/exposures" 2>/dev/null | cut -f1)"
}

declare -A sum cpu
for m in off full summary; do sum[$m]=0; cpu[$m]=0; done
for r in $(seq "$rounds"); do
  for m in off full summary; do
    read -r rps cms recs kb < <(run "$m")
    echo "round $r: --exposure-log $m: $rps pages/s, $cms ms server CPU per page ($recs records, ${kb:-0} KiB on disk)"
    sum[$m]=$(awk -v a="${sum[$m]}" -v b="$rps" 'BEGIN {print a + b}')
    cpu[$m]=$(awk -v a="${cpu[$m]}" -v b="$cms" 'BEGIN {print a + b}')
  done
done
for m in full summary; do
  awk -v a="${sum[$m]}" -v o="${sum[off]}" -v ca="${cpu[$m]}" -v co="${cpu[off]}" -v n="$rounds" -v m="$m" \
    'BEGIN {printf "%s / off: pages/s %.3f (%.0f vs %.0f); CPU per page %.3f (%.3f vs %.3f ms)\n", m, a / o, a / n, o / n, ca / co, ca / n, co / n}'
done
