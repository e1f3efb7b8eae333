#!/usr/bin/env bash
# bandit_page.sh: the server's artwork decisions for the 800 titles of a page (bench/bandit_page.c,
# mq_art_decide per policy) against the page build in the same run (bench/serve_page.c);
# target: decisions <= 10% of mq_page_build. Both benches report wall and thread-CPU time per
# page; the ratio is taken on CPU time (on the shared machine wall time mostly measures the other
# processes holding the core), over 3 alternating rounds. --full: more pages.
set -euo pipefail
BUILD=${BUILD:-build}
n_sp=500 n_bp=200
[ "${1:-}" = --full ] && { n_sp=2000; n_bp=1000; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for round in 1 2 3; do
    "$BUILD/bench_serve_page" $n_sp > "$tmp/sp"
    "$BUILD/bench_bandit_page" $n_bp > "$tmp/bp"
    [ $round = 1 ] && cat "$tmp/sp" "$tmp/bp"
    build=$(awk '/page build, thread CPU/ { print $5 }' "$tmp/sp")
    wbuild=$(awk '/ mq_page_build / { print $2 }' "$tmp/sp")
    awk -v b="$build" -v w="$wbuild" -v r=$round '/ms\/page/ { c = $5; printf "round %d: artwork %-8s CPU %.4f ms = %5.1f%% of mq_page_build (CPU %.4f ms) | wall %.3f ms = %5.1f%% (%.3f ms)\n", r, $1, c, 100 * c / b, b, $2, 100 * $2 / w, w }' "$tmp/bp"
done
