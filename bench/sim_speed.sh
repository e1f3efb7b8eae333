#!/usr/bin/env bash
# sim_speed.sh: the member simulator's in-process rate as a share of the raw page-build rate of
# the same requests in the same run (bench/sim_speed.c), on ml-latest-small with the aa and
# ease-vs-pop scenarios. Models are trained on first use into a temporary folder.
set -euo pipefail
BUILD=${BUILD:-build}
DATA=data/ml-latest-small
[ -d "$DATA" ] || { echo "sim_speed: $DATA not found, skipped"; exit 0; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
for s in aa ease-vs-pop; do
    "$BUILD/bench_sim_speed" "$DATA" "scenarios/$s.json" "$T/models-$s" "$T/out-$s" "${MEMBERS:-2000}" "${DAYS:-14}"
done
