#!/usr/bin/env bash
# serve_overload.sh: marquee serve at 2,000 keep-alive connections on loopback (closed loop:
# each connection sends its next homepage request as soon as the previous answer arrives),
# without load shedding (--shed-queue-ms -1, the baseline), with the default adaptive limit
# (auto: CoDel, 5 ms once the queue stands) and with a fixed one (--shed-queue-ms 20), in the
# same run on the same models: answered p50/p99, share shed with 503 + Retry-After, RSS; with
# clients that honour Retry-After and, last, with clients that ignore it. Driver:
# bench/serve_overload.c (wrk cannot split latency by status).
#
# Usage: bash bench/serve_overload.sh; CONNS=2000 DURATION=10 THREADS=2 SHED_MS=20.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mq=$BUILD/marquee
conns=${CONNS:-2000}
dur=${DURATION:-10}
threads=${THREADS:-2}
shed_ms=${SHED_MS:-20}
out=out/bench/overload
mkdir -p "$out"
[ -x "$BUILD/bench_serve_overload" ] || make -s "$BUILD/bench_serve_overload" BUILD="$BUILD"
ulimit -n $((conns * 2 + 256))

pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT

run() { # shed_ms label [HONOR_RETRY_AFTER]
  rm -rf "$out/state" "$out/events" "$out/port"
  "$mq" serve --port 0 --port-file "$out/port" --models "$out/models" --events "$out/events" \
    --store "lmdb:$out/state" --threads "$threads" --shed-queue-ms "$1" \
    --max-connections-per-ip $((conns + 100)) 2>> "$out/serve.log" > /dev/null &
  pid=$!
  for _ in $(seq 1 1200); do [ -s "$out/port" ] && break; sleep 0.1; done
  local port
  port=$(cat "$out/port")
  "$BUILD/bench_serve_overload" "$port" 64 2 > /dev/null     # warm the similar-titles cache
  local line
  line=$(HONOR_RETRY_AFTER=${3:-1} "$BUILD/bench_serve_overload" "$port" "$conns" "$dur")
  local rss
  rss=$(awk '/VmHWM/ {print $2 / 1024}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  printf '%-28s %s; peak RSS %.0f MB\n' "$2" "$line" "$rss"
}

[ -f "$out/models/main.mqm" ] || {
  echo "training the demo models into $out/models (once)" >&2
  "$mq" serve --port 0 --port-file "$out/port0" --models "$out/models" --events "$out/ev0" \
    --store "lmdb:$out/st0" > /dev/null 2>> "$out/serve.log" &
  pid=$!
  for _ in $(seq 1 1200); do [ -s "$out/port0" ] && break; sleep 0.1; done
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}
echo "marquee serve, demo catalog, $threads threads, $conns connections, $dur s each ($(nproc) cores):"
run -1 "no shedding (baseline)"
run auto "auto (default)"
run "$shed_ms" "--shed-queue-ms $shed_ms"
run auto "auto, Retry-After ignored" 0
run "$shed_ms" "--shed-queue-ms $shed_ms, R-A ignored" 0
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg)"
