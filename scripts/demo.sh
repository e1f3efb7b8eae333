#!/usr/bin/env bash
# demo.sh: the main job on the built-in demo catalog (MovieLens latest-small, data/): installs
# dependencies, builds, imports the catalog into a snapshot, trains a model, prints
# recommendations with their evidence for a sample member, then serves homepages over HTTP
# (Ctrl-C stops it). Set MQ_DEMO_NO_SERVE=1 to stop after the recommendations.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
make -j"$(nproc)" build/marquee >&2
mq=build/marquee
out=${MQ_DEMO_DIR:-out/demo}
mkdir -p "$out/models"
member=${MQ_DEMO_MEMBER:-1}

echo "== import the demo catalog" >&2
$mq data import data/ml-latest-small --out "$out/catalog.mqd"
$mq data stats "$out/catalog.mqd"

echo "== train (EASE on ratings >= 4)" >&2
$mq train --data "$out/catalog.mqd" --model ease --param lambda=200 --out "$out/models/main.mqm"

echo "== recommendations for member $member, with the titles that explain them" >&2
$mq recommend --model "$out/models/main.mqm" --data "$out/catalog.mqd" --member "$member" -n 10 --explain

if [ "${MQ_DEMO_NO_SERVE:-0}" != 1 ]; then
  port=${MQ_DEMO_PORT:-8080}
  echo "== serving: JSON at http://127.0.0.1:$port/v1/members/$member/homepage (Ctrl-C to stop)" >&2
  $mq serve --data "$out/catalog.mqd" --models "$out/models" --port "$port" --clock offset &
  pid=$!
  trap 'kill "$pid" 2>/dev/null' INT TERM
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
  echo "== the web console (docs/console.md):"
  echo "http://127.0.0.1:$port/ui/members/$member"
  wait "$pid"
fi
