#!/usr/bin/env bash
# serve_kill9.sh: kill -9 rounds against marquee serve on the demo models (bench/serve_kill9.c):
# acknowledged events vs events missing from the log after recovery, and the store's applied
# sequence vs the log. Usage: bash bench/serve_kill9.sh [ROUNDS=5] [SECONDS=1.5].
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
models=out/bench/overload/models
[ -x "$BUILD/bench_serve_kill9" ] || make -s "$BUILD/bench_serve_kill9" BUILD="$BUILD"
[ -f "$models/main.mqm" ] || { echo "no models in $models: run bench/serve_overload.sh first" >&2; exit 1; }
"$BUILD/bench_serve_kill9" "$BUILD/marquee" "$models" out/bench/kill9 "${1:-5}" "${2:-1.5}"
