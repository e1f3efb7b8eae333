#!/usr/bin/env bash
# serve_exposures.sh: the cost of the exposure log, measured so that a shared, loaded machine
# does not decide the answer. Two `marquee serve` processes on the demo catalog
# (data/ml-latest-small, EASE; models trained on first use into out/bench/demo-models), one
# with --exposure-log off and one with --exposure-log full (MODES to change), both started and
# warmed up (every similar-titles list computed, 2 s of pages) before measuring; then ROUNDS
# rounds, each sending a fixed count of REQUESTS full homepages (20 x 40, members rotating) to
# each server in turn (the order alternates between rounds) with bench/serve_pages_n.c (64
# keep-alive connections, closed loop; shedding off so every request is a page). Per run: the
# server's CPU time per page (utime + stime of that process from /proc/PID/stat over exactly
# those pages; the idle server's time is not counted) and pages/s. Per round: the ratios full / off; at the end the median ratio and its
# range over the rounds. CPU per page is the steady figure (it does not move with other jobs'
# load); pages/s follows the machine's load within each run.
#
# Usage: bash bench/serve_exposures.sh [--full]   (ROUNDS=4 REQUESTS=1500: about 1 min;
#        --full: ROUNDS=10 REQUESTS=4000)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mq=$BUILD/marquee
rounds=${ROUNDS:-4}
reqs=${REQUESTS:-1500}
if [ "${1:-}" = "--full" ]; then rounds=${ROUNDS:-10}; reqs=${REQUESTS:-4000}; fi
modes=(${MODES:-off full})
out=out/bench
models=$out/demo-models
mkdir -p "$out" "$models"
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
make -s "$BUILD/bench_serve_pages_n" >/dev/null
declare -A pid base
cleanup() { for m in "${!pid[@]}"; do kill "${pid[$m]}" 2>/dev/null || true; done; }
trap cleanup EXIT

start() { # mode: starts the server, waits until it is warm
  local mode=$1 dir=$out/xp-expo-$1
  rm -rf "$dir"; mkdir -p "$dir"
  $mq serve --data data/ml-latest-small --models "$models" --events "$dir/events" --store "lmdb:$dir/state" \
      --exposures "$dir/exposures" --exposure-log "$mode" --threads 2 --shed-queue-ms -1 --port 0 --port-file "$dir/port" \
      > /dev/null 2> "$dir/log.txt" &
  pid[$mode]=$!
  for _ in $(seq 1200); do [ -s "$dir/port" ] && break; sleep 0.5; done
  base[$mode]=http://127.0.0.1:$(cat "$dir/port")
  for _ in $(seq 600); do   # steady state: every similar-titles list computed
    curl -s "${base[$mode]}/metrics" | awk '/^marquee_model_info/ {match($0, /titles="[0-9]+"/); n = substr($0, RSTART + 8, RLENGTH - 9)}
                                   /^marquee_similar_lists_cached/ {c = $2} END {exit !(n > 0 && c == n)}' && break
    sleep 0.5
  done
  wrk -t2 -c64 -d2s -s bench/serve_homepage.lua "${base[$mode]}" > /dev/null
}

measure() { # mode -> "pages/s ms_cpu_per_page pages"
  local mode=$1 n secs rps cms bad errs
  read -r n secs rps cms bad errs < <("$BUILD/bench_serve_pages_n" "${base[$mode]##*:}" "${pid[$mode]}" "$reqs" 64)
  [ "$bad" = 0 ] && [ "$errs" = 0 ] || echo "warning: $mode: $bad answers other than 200, $errs connection errors" >&2
  echo "$rps $cms $n"
}

for m in "${modes[@]}"; do start "$m"; done
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $rounds rounds of $reqs pages per server"
ref=${modes[0]}
declare -A rr cr
for r in $(seq "$rounds"); do
  order=("${modes[@]}")
  if [ $((r % 2)) -eq 0 ]; then order=(); for ((i = ${#modes[@]} - 1; i >= 0; i--)); do order+=("${modes[$i]}"); done; fi
  declare -A rps cms
  line="round $r:"
  for m in "${order[@]}"; do
    read -r rps[$m] cms[$m] n < <(measure "$m")
    line="$line  $m ${rps[$m]} pages/s ${cms[$m]} ms CPU/page ($n pages);"
  done
  for m in "${modes[@]}"; do
    [ "$m" = "$ref" ] && continue
    rr[$m]="${rr[$m]:-} $(awk -v a="${rps[$m]}" -v b="${rps[$ref]}" 'BEGIN {printf "%.4f", a / b}')"
    cr[$m]="${cr[$m]:-} $(awk -v a="${cms[$m]}" -v b="${cms[$ref]}" 'BEGIN {printf "%.4f", a / b}')"
  done
  echo "$line"
done
stats() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "median %.3f (range %.3f-%.3f over %d rounds)", m, v[1], v[NR], NR}'; }
for m in "${modes[@]}"; do
  [ "$m" = "$ref" ] && continue
  echo "$m / $ref: CPU per page $(echo "${cr[$m]}" | stats); pages/s $(echo "${rr[$m]}" | stats)"
done
for m in "${modes[@]}"; do
  recs=$(curl -s "${base[$m]}/metrics" | awk '/^marquee_exposure_log_records/ {print $2}')
  echo "$m: ${recs:-0} exposure records, $(du -sk "$out/xp-expo-$m/exposures" 2>/dev/null | cut -f1) KiB"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
