#!/usr/bin/env bash
# test.sh: the whole test suite on a fresh Debian 12 machine: dependencies, build, then the one
# runner (C unit tests, numpy/scipy/statsmodels reference checks, end-to-end CLI and server
# tests; docs/openapi.yaml through the pinned npm validator, /metrics through promtool). The
# last line is "N passed, N failed, N skipped"; the exit status is non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# The node tools the suite uses, exactly as pinned in package-lock.json: the OpenAPI validator
# and playwright-core for the console's browser test (node_modules/ is git-ignored).
npm ci --no-audit --no-fund --loglevel=error >&2
make -j"$(nproc)" build/marquee build/test_marquee >&2
exec make -s test
