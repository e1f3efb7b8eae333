#!/usr/bin/env bash
# serve_http.sh: marquee serve under wrk on loopback, 64 connections, against /healthz served
# by the same process in the same run (the HTTP floor of this machine):
#   1. GET /healthz
#   2. GET /v1/members/{m}/homepage?rows=20&per_row=40, members rotating (bench/serve_homepage.lua),
#      at 64 connections, then at 4 and 8 (latency below saturation)
#   3. POST /v1/events, one play per request, acknowledged only once fsynced (group commit)
#   4. time from an acknowledged play to the homepage showing it (bench/serve_event_to_page.py)
#   5. the size-matched floor: build/bench_http_floor, libmicrohttpd configured as the server,
#      answering every request with a body of the pages' mean size and doing nothing else, so
#      "homepage / floor" is the share of the rate that building the pages costs
# on two catalogs: the demo (data/ml-latest-small, EASE) and a synthetic one (20,000 titles,
# 1,000,000 members, 10M interactions, iALS with 64 factors; generated with `marquee data synth`
# into out/bench/ on first use). Models are trained once and kept in out/bench/.
#
# Usage: bash bench/serve_http.sh [demo|synth|all] (default all); DURATION=10 seconds per run.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mq=$BUILD/marquee
dur=${DURATION:-10}
which=${1:-all}
out=out/bench
mkdir -p "$out"
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
[ -x "$BUILD/bench_http_floor" ] || make -s "$BUILD/bench_http_floor" BUILD="$BUILD"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

metric() { # wrk output -> "req/s p50 p99"
  awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print r, p50, p99}'
}
to_ms() { # 1.23ms / 456.00us / 1.02s -> ms
  awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 } else { sub(/s$/, "", v); print v * 1000 } }'
}

run_catalog() {
  local name=$1 data=$2 models=$3 members=$4 titles=$5; shift 5
  local dir=$out/$name-run
  rm -rf "$dir"; mkdir -p "$dir"
  $mq serve --data "$data" --models "$models" --events "$dir/events" --store "lmdb:$dir/state" \
      --port 0 --port-file "$dir/port" "$@" > "$dir/out.txt" 2> "$dir/log.txt" &
  pids+=($!)
  for _ in $(seq 1200); do [ -s "$dir/port" ] && break; sleep 0.5; done
  local port; port=$(cat "$dir/port")
  local base=http://127.0.0.1:$port
  # wait for the server's warmer to compute every title's similar list (steady state), then
  # warm the page contexts
  for _ in $(seq 600); do
    curl -s "$base/metrics" | awk '/^marquee_model_info/ {match($0, /titles="[0-9]+"/); n = substr($0, RSTART + 8, RLENGTH - 9)}
                                   /^marquee_similar_lists_cached/ {c = $2} END {exit !(n > 0 && c == n)}' && break
    sleep 0.5
  done
  MQ_MEMBERS=$members wrk -t2 -c64 -d3s -s bench/serve_homepage.lua "$base" > /dev/null
  read -r hz_rps hz_p50 hz_p99 < <(wrk -t2 -c64 -d"${dur}s" --latency "$base/healthz" | metric)
  read -r hp_rps hp_p50 hp_p99 < <(MQ_MEMBERS=$members wrk -t2 -c64 -d"${dur}s" --latency -s bench/serve_homepage.lua "$base" | metric)
  # the same pages at lower concurrency: latency when the server is not saturated
  local sweep=""
  for cn in 4 8; do
    read -r sw_rps sw_p50 sw_p99 < <(MQ_MEMBERS=$members wrk -t2 -c$cn -d"${dur}s" --latency -s bench/serve_homepage.lua "$base" | metric)
    sweep="$sweep$(printf "  homepage 20x40, %d connections: %7.0f req/s  p50 %7.2f ms  p99 %7.2f ms" "$cn" "$sw_rps" "$(to_ms "$sw_p50")" "$(to_ms "$sw_p99")")"$'\n'
  done
  read -r ev_rps ev_p50 ev_p99 < <(MQ_TITLES=$titles wrk -t2 -c64 -d"${dur}s" --latency -s bench/serve_events.lua "$base" | metric)
  local e2p; e2p=$(/usr/bin/python3 bench/serve_event_to_page.py "$port" "$titles" 200)
  local bytes; bytes=$(for m in $(seq 1 97 $((members < 9700 ? members : 9700))); do
      curl -s "$base/v1/members/$m/homepage?rows=20&per_row=40" | wc -c; done | awk '{s += $1; n++} END {printf "%d", s / n}')
  local build; build=$(curl -s "$base/metrics" | awk '/^marquee_page_build_seconds_sum/ {s=$2} /^marquee_page_build_seconds_count/ {c=$2} END {printf "%.3f", 1000 * s / c}')
  local commits; commits=$(curl -s "$base/metrics" | awk '/^marquee_event_log_commits_total/ {print $2}')
  local accepted; accepted=$(curl -s "$base/metrics" | awk '/^marquee_events_accepted_total/ {print $2}')
  echo "== $name: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), ${dur}s per run, 64 connections"
  printf "  /healthz            %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms\n" "$hz_rps" "$(to_ms "$hz_p50")" "$(to_ms "$hz_p99")"
  printf "  homepage 20x40      %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms   = %.1f%% of /healthz req/s\n" \
         "$hp_rps" "$(to_ms "$hp_p50")" "$(to_ms "$hp_p99")" "$(awk -v a="$hp_rps" -v b="$hz_rps" 'BEGIN {print 100 * a / b}')"
  printf "%s" "$sweep"
  printf "  POST /v1/events     %9.0f ev/s   p50 %7.2f ms  p99 %7.2f ms   (durable: %s events in %s fsync rounds)\n" \
         "$ev_rps" "$(to_ms "$ev_p50")" "$(to_ms "$ev_p99")" "$accepted" "$commits"
  echo "  mean page build (history + scoring + rows + JSON, server-side): $build ms"
  echo "  $e2p"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
  # the floor for a body of that size, same machine, right after
  local fport=$((port + 1))
  $BUILD/bench_http_floor "$fport" "$bytes" 2 2> /dev/null &
  pids+=($!)
  sleep 0.5
  read -r fl_rps fl_p50 fl_p99 < <(wrk -t2 -c64 -d"${dur}s" --latency "http://127.0.0.1:$fport/page" | metric)
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
  printf "  floor: %d-byte body, no work  %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms   = %.1f%% of /healthz; homepage = %.1f%% of it\n" \
         "$bytes" "$fl_rps" "$(to_ms "$fl_p50")" "$(to_ms "$fl_p99")" "$(awk -v a="$fl_rps" -v b="$hz_rps" 'BEGIN {print 100 * a / b}')" \
         "$(awk -v a="$hp_rps" -v b="$fl_rps" 'BEGIN {print 100 * a / b}')"
}

if [ "$which" = demo ] || [ "$which" = all ]; then
  run_catalog demo data/ml-latest-small "$out/demo-models" 610 "1,2,3,5,6,10,32,47,50,110"
fi
if [ "$which" = synth ] || [ "$which" = all ]; then
  if [ ! -s "$out/synth.mqd" ] || [ ! -s "$out/synth-movies/movies.csv" ]; then
    $mq data synth --members 1000000 --titles 20000 --interactions 10000000 --seed 7 --out "$out/synth.csv"
    # a MovieLens-style catalog for it, so pages carry names, years and genres (and MMR has
    # genre sets to diversify on): "Synthetic Title N (year)", 1-3 of 20 genres, deterministic
    mkdir -p "$out/synth-movies"
    awk 'BEGIN {
      split("Action Adventure Animation Children Comedy Crime Documentary Drama Fantasy Film-Noir Horror IMAX Musical Mystery Romance Sci-Fi Thriller War Western Biography", G, " ")
      s = 12345; print "movieId,title,genres"
      for (i = 1; i <= 20000; i++) {
        s = (s * 1103515245 + 12345) % 2147483648; year = 1950 + s % 75
        s = (s * 1103515245 + 12345) % 2147483648; k = 1 + s % 3; g = ""
        for (j = 0; j < k; j++) { s = (s * 1103515245 + 12345) % 2147483648; x = G[1 + s % 20]; if (index("|" g "|", "|" x "|") == 0) g = g (g == "" ? "" : "|") x }
        printf "%d,Synthetic Title %d (%d),%s\n", i, i, year, g
      } }' > "$out/synth-movies/movies.csv"
    $mq data import "$out/synth.csv" "$out/synth-movies/movies.csv" --out "$out/synth.mqd"
    rm -f "$out/synth.csv"
    rm -rf "$out/synth-models"
  fi
  titles=$(seq -s, 1 50)
  run_catalog synth "$out/synth.mqd" "$out/synth-models" 1000000 "$titles" \
      --model ials --param factors=64 --param epochs=2
fi
