#!/usr/bin/env bash
# abr_speed.sh: ABR simulator and robustMPC search speed on Pensieve's 142 test traces.
# Runs build/bench_abr_speed (bench/abr_speed.c) and times the command end to end.
set -euo pipefail
BUILD=${BUILD:-build}
DATA=${MQ_SHARED_DATA:-../shared/data}/abr-traces
if [ ! -d "$DATA/test_cooked_traces" ]; then
    echo "abr_speed: $DATA not found, skipped"; exit 0
fi
"$BUILD/bench_abr_speed" "$DATA/test_cooked_traces" "$DATA/video_sizes" 5
s=$(date +%s.%N)
"$BUILD/marquee" abr --traces "$DATA/test_cooked_traces" --video "$DATA/video_sizes" --algo all > /dev/null
e=$(date +%s.%N)
echo "marquee abr --algo all (8 algorithms, 142 traces, incl. loading): $(awk "BEGIN{printf \"%.3f\", $e - $s}") s"
