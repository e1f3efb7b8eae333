#!/usr/bin/env bash
# bandit_page.sh: the server's artwork decisions for the 800 titles of a page (bench/bandit_page.c,
# mq_art_decide per policy) against the page build in the same run (bench/serve_page.c);
# target: decisions <= 10% of mq_page_build. --full: more pages.
set -euo pipefail
BUILD=${BUILD:-build}
n_sp=500 n_bp=200
[ "${1:-}" = --full ] && { n_sp=2000; n_bp=1000; }
"$BUILD/bench_serve_page" $n_sp | tee /tmp/bandit_page_sp.$$
"$BUILD/bench_bandit_page" $n_bp | tee /tmp/bandit_page_bp.$$
build=$(awk '/mq_page_build/ { print $2 }' /tmp/bandit_page_sp.$$)
awk -v b="$build" '/ms\/page$/ { printf "artwork %-8s %.3f ms = %5.1f%% of mq_page_build (%.3f ms)\n", $1, $2, 100 * $2 / b, b }' /tmp/bandit_page_bp.$$
rm -f /tmp/bandit_page_sp.$$ /tmp/bandit_page_bp.$$
