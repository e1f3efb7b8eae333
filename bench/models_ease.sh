#!/bin/bash
# models_ease.sh: EASE fit time vs the machine's spotrf+spotri on a matrix of the same size,
# measured in the same run (ml-latest-small ratings >= 4, Last.fm; MQ_EASE_BIG=1 adds
# amazon-book, ~25k titles, a 2.5 GB matrix and minutes of compute). Figures: docs/BENCHMARKS.md.
set -e
BUILD=${BUILD:-build}
DATA=${MQ_SHARED_DATA:-../shared/data}
make -s "$BUILD/bench_models_ease"
run() { if [ -f "$1" ]; then MQ_THREADS=${MQ_THREADS:-2} "$BUILD/bench_models_ease" "$@"; else echo "skipped: $1 absent"; fi; }
run "$DATA/ml-latest-small/ratings.csv" csv 4
run "$DATA/hetrec2011-lastfm-2k/user_artists.dat" lastfm 0
if [ -n "$MQ_EASE_BIG" ]; then run "$DATA/amazon-book-kgat/train.txt" lines 0; fi
