#!/usr/bin/env bash
# xp_analyze.sh: throughput of `marquee xp analyze` on a large synthetic file, as a ratio to
# reading the file once (`cat FILE > /dev/null`) in the same run; then the simulation checks at
# larger size (build/bench_xp_sim).
# usage: bash bench/xp_analyze.sh [ROWS]   (default 100,000,000; the file, ~3.6 GB, goes to
# /tmp and is deleted at the end)
set -euo pipefail
BUILD=${BUILD:-build}
ROWS=${1:-100000000}
make -s "$BUILD/marquee" "$BUILD/bench_xp_gen" "$BUILD/bench_xp_sim" >/dev/null
F=$(mktemp /tmp/xp_bench.XXXXXX.csv)
trap 'rm -f "$F"' EXIT
t0=$(date +%s.%N)
"$BUILD/bench_xp_gen" "$ROWS" 1 > "$F"
t1=$(date +%s.%N)
BYTES=$(stat -c %s "$F")
echo "generated $ROWS rows, $BYTES bytes in $(echo "$t1 - $t0" | bc) s"
cat "$F" > /dev/null   # warm the page cache so both timings read from memory where it fits
tc0=$(date +%s.%N); cat "$F" > /dev/null; tc1=$(date +%s.%N)
CAT=$(echo "$tc1 - $tc0" | bc)
run() {
    local label=$1; shift
    local s0 s1 dt
    s0=$(date +%s.%N)
    "$BUILD/marquee" xp analyze "$F" "$@" --json > /tmp/xp_bench_out.json
    s1=$(date +%s.%N)
    dt=$(echo "$s1 - $s0" | bc)
    printf '%-48s %8.2f s  %6.1f M rows/s  %5.2f x cat time\n' "$label" "$dt" \
        "$(echo "$ROWS / $dt / 1000000" | bc -l)" "$(echo "$dt / $CAT" | bc -l)"
}
printf '%-48s %8.2f s  %6.0f MB/s\n' "cat FILE > /dev/null" "$CAT" "$(echo "$BYTES / $CAT / 1000000" | bc -l)"
run "analyze --metric watch --metric conv" --metric watch --metric conv --control A
run "analyze ... --covariate pre (CUPED)" --metric watch --metric conv --control A --covariate pre
run "analyze ... --sequential (look every 100)" --metric watch --control A --sequential
run "analyze ... --mann-whitney --quantile 0.9" --metric watch --control A --mann-whitney --quantile 0.9 --boot 200
grep -o '"p_value":[^,]*' /tmp/xp_bench_out.json | head -2
rm -f /tmp/xp_bench_out.json
echo "== simulations (bench/xp_sim.c)"
"$BUILD/bench_xp_sim"
