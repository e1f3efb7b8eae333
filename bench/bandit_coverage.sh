#!/usr/bin/env bash
# bandit_coverage.sh: estimator accuracy and CI coverage on synthetic logs with known truth
# (bench/bandit_coverage.c: 100 seeds, K = 10, D = 5, n = 100,000; about 30 s).
set -euo pipefail
BUILD=${BUILD:-build}
"$BUILD/bench_bandit_coverage" "${MQ_COVERAGE_SEEDS:-100}" "${MQ_COVERAGE_N:-100000}"
