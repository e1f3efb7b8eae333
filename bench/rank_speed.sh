#!/bin/bash
# rank_speed.sh: the ranker's feature building rate vs a plain pass over the same memory, and
# its boosters' training time vs python3-xgboost on the same feature file, in the same run
# (ml-100k temporal). Figures: docs/BENCHMARKS.md ("Second stage").
set -e
BUILD=${BUILD:-build}
DATA=${MQ_SHARED_DATA:-../shared/data}
make -s "$BUILD/bench_rank_speed"
[ -f "$DATA/ml-100k/u.data" ] || { echo "skipped: $DATA/ml-100k/u.data absent"; exit 0; }
F=$(mktemp /tmp/rank_features.XXXXXX.csv)
trap 'rm -f "$F"' EXIT
"$BUILD/bench_rank_speed" "$DATA/ml-100k/u.data" "$F"
/usr/bin/python3 bench/rank_train_ref.py "$F"
