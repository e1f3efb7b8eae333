#!/bin/bash
# models_ials.sh: iALS seconds per epoch at k = 64 and 128 on ML-20M-shaped synthetic data
# (136k members x 20k titles, 10M positives) and on amazon-book (k = 64, 15 epochs, the fit
# time to compare with implicit's ~9 s on this machine). Figures: docs/BENCHMARKS.md.
set -e
BUILD=${BUILD:-build}
DATA=${MQ_SHARED_DATA:-../shared/data}
make -s "$BUILD/bench_models_ials"
MQ_THREADS=${MQ_THREADS:-2} "$BUILD/bench_models_ials" synth
if [ -f "$DATA/amazon-book-kgat/train.txt" ]; then
    MQ_THREADS=${MQ_THREADS:-2} MQ_KS=64 MQ_EPOCHS=15 "$BUILD/bench_models_ials" lines "$DATA/amazon-book-kgat/train.txt"
else
    echo "skipped amazon-book: $DATA/amazon-book-kgat/train.txt is absent"
fi
