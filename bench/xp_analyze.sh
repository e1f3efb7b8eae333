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
tw0=$(date +%s.%N); wc -l "$F" > /dev/null; tw1=$(date +%s.%N)
WC=$(echo "$tw1 - $tw0" | bc)
# Wall time on a shared 2-core machine is noisy, so the CPU time (user + sys) is printed too.
run() {
    local label=$1; shift
    local dt cpu
    /usr/bin/time -f "%e %U %S" -o /tmp/xp_bench_time "$BUILD/marquee" xp analyze "$F" "$@" --json > /tmp/xp_bench_out.json
    read -r dt u s < /tmp/xp_bench_time
    cpu=$(echo "$u + $s" | bc)
    printf '%-46s wall %6.2f s (%5.1f M rows/s, %5.2f x cat)  cpu %6.2f s (%5.1f M rows/s)\n' "$label" "$dt" \
        "$(echo "$ROWS / $dt / 1000000" | bc -l)" "$(echo "$dt / $CAT" | bc -l)" "$cpu" "$(echo "$ROWS / $cpu / 1000000" | bc -l)"
}
printf '%-46s wall %6.2f s  %6.0f MB/s\n' "cat FILE > /dev/null (page cache)" "$CAT" "$(echo "$BYTES / $CAT / 1000000" | bc -l)"
printf '%-46s wall %6.2f s  %6.0f MB/s\n' "wc -l FILE (a second baseline)" "$WC" "$(echo "$BYTES / $WC / 1000000" | bc -l)"
run "analyze --metric watch --metric conv" --metric watch --metric conv --control A
run "analyze ... --covariate pre (CUPED, HC2 se)" --metric watch --metric conv --control A --covariate pre
run "analyze ... --covariate pre --cuped-se ols" --metric watch --metric conv --control A --covariate pre --cuped-se ols
run "analyze ... --sequential (look every 100/arm)" --metric watch --control A --sequential
run "analyze ... --mann-whitney --quantile 0.9" --metric watch --control A --mann-whitney --quantile 0.9 --boot 200
grep -o '"p_value":[^,]*' /tmp/xp_bench_out.json | head -2
rm -f /tmp/xp_bench_out.json /tmp/xp_bench_time
echo "== simulations (bench/xp_sim.c)"
[ "${SKIP_SIM:-0}" = 1 ] || "$BUILD/bench_xp_sim"
