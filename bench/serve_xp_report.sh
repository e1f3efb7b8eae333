#!/usr/bin/env bash
# serve_xp_report.sh: live experiment report latency with the server's in-memory units vs the
# previous path (units rebuilt from both logs on every report), same run, same logs:
# bench/serve_xp_report.c on 100,000 units (about 200k exposure records and 400k events),
# 5 reports per path, alternating. --full: 1,000,000 units.
#
# Usage: bash bench/serve_xp_report.sh [--full]   (about 15 s; --full about 2-3 min)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s "$BUILD/bench_serve_xp_report" >/dev/null
units=100000
[ "${1:-}" = "--full" ] && units=1000000
"$BUILD/bench_serve_xp_report" "$units" 5
rm -rf "out/bench/xp-report-$units"
