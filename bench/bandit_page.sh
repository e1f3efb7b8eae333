#!/usr/bin/env bash
# bandit_page.sh: artwork decisions for an 800-title page (bench/bandit_page.c) against the page
# build in the same run (bench/serve_page.c); target: decisions <= 10% of the page build.
set -euo pipefail
BUILD=${BUILD:-build}
"$BUILD/bench_serve_page" 500 | tee /tmp/bandit_page_sp.$$
"$BUILD/bench_bandit_page" 300 | tee /tmp/bandit_page_bp.$$
build=$(awk '/mq_page_build/ { print $2 }' /tmp/bandit_page_sp.$$)
dec=$(awk '/factored/ { print $3 }' /tmp/bandit_page_bp.$$)
rm -f /tmp/bandit_page_sp.$$ /tmp/bandit_page_bp.$$
awk -v b="$build" -v d="$dec" 'BEGIN { printf "artwork decisions %.3f ms = %.1f%% of mq_page_build (%.3f ms)\n", d, 100 * d / b, b }'
