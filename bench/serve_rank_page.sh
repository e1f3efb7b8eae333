#!/bin/bash
# serve_rank_page.sh: the server's CPU per homepage with the second-stage ranker against
# without it, in the same server and the same run, on the demo catalog (MovieLens
# latest-small: 9,724 titles, 610 members). Figures: docs/BENCHMARKS.md ("Second stage").
#
# One `marquee serve` (1 request thread, --clock event) with main.mqm = EASE (lambda 200, the
# demo's model), ranker.mqm (candidates=ease,itemknn,pop,trending, top 200) and its generators,
# and an experiment whose variant "off" has the treatment {"ranker": "none"}: every page is
# forced (?xp=rank:off or rank:on) so the same members' pages are built both ways. Batches
# alternate off/on over the same 50 members; the server's CPU time (the sum over its threads
# of /proc/PID/task/*/schedstat, nanoseconds on a CPU) over each batch divided by its pages is
# the CPU per page, measured after the similar-titles warmer is done. The client (one curl,
# keep-alive) is not counted.
#
# The models are trained once into $MQ_BENCH_RANK_MODELS (default build/bench-rank-models;
# about 4 minutes on 2 cores the first time), then reused: the default run is 4 rounds of 50
# members (~20 s); --full runs 24 rounds (every member twice).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
rounds=4
[ "${1:-}" = --full ] && rounds=24
M=${MQ_BENCH_RANK_MODELS:-$BUILD/bench-rank-models}
make -s "$BUILD/marquee"
mq=$BUILD/marquee
if [ ! -f "$M/ranker.mqm" ]; then
  echo "training the demo models into $M (once)" >&2
  mkdir -p "$M"
  $mq data import data/ml-latest-small --out "$M/catalog.mqd" 2>/dev/null
  $mq train --data "$M/catalog.mqd" --model ease --param lambda=200 --out "$M/main.mqm" 2>/dev/null
  for k in ease itemknn pop trending; do
    $mq train --data "$M/catalog.mqd" --model "$k" --out "$M/$k.mqm" 2>/dev/null
  done
  $mq train --data "$M/catalog.mqd" --model ranker --param candidates=ease,itemknn,pop,trending \
    --param windows=3 --param rounds=100 --out "$M/ranker.tmp.mqm" 2>/dev/null
  mv "$M/ranker.tmp.mqm" "$M/ranker.mqm"
fi
W=$(mktemp -d /tmp/serve_rank_page.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$W"' EXIT
mkdir -p "$W/models"
for f in "$M"/*.mqm; do ln -s "$(readlink -f "$f")" "$W/models/"; done
echo bench-key-0123456789 > "$W/key"
cat > "$W/xp.json" <<'EOF'
{"experiments": [{"name": "rank", "variants": [{"name": "off", "treatment": {"ranker": "none"}},
                                               {"name": "on"}]}]}
EOF
$mq serve --port 0 --port-file "$W/port" --models "$W/models" --data "$M/catalog.mqd" \
  --events "$W/events" --store "lmdb:$W/state" --exposures "$W/expo" --exposure-log off \
  --api-key-file "$W/key" --experiments "$W/xp.json" --threads 1 --clock event 2> "$W/log" &
pid=$!
for _ in $(seq 600); do [ -s "$W/port" ] && curl -sf "http://127.0.0.1:$(cat "$W/port")/healthz" > /dev/null && break; sleep 0.1; done
port=$(cat "$W/port")
# the similar-titles warmer runs in the server's process after a load: let it finish first
for _ in $(seq 1200); do grep -q "similar titles of all" "$W/log" && break; sleep 0.1; done
# CPU time of every thread of the server in ns (schedstat's first field: time on a CPU)
cpu() { cat /proc/"$pid"/task/*/schedstat | awk '{s += $1} END {printf "%.0f", s}'; }
batch() {   # variant, first member, pages: prints the server CPU ms per page
  local urls=() c0 c1
  for i in $(seq "$2" $(($2 + $3 - 1))); do urls+=("http://127.0.0.1:$port/v1/members/$((1 + (i - 1) % 610))/homepage?xp=rank:$1"); done
  c0=$(cpu)
  curl -sf -H "Authorization: Bearer bench-key-0123456789" "${urls[@]}" > /dev/null
  c1=$(cpu)
  awk -v a="$c0" -v b="$c1" -v n="$3" 'BEGIN {printf "%.4f", (b - a) / 1e6 / n}'
}
curl -sf -H "Authorization: Bearer bench-key-0123456789" "http://127.0.0.1:$port/v1/members/1/homepage?xp=rank:on" | grep -q '"ranker":"ranker@' || { echo "the ranker is not serving" >&2; exit 1; }
batch off 1 30 > /dev/null; batch on 1 30 > /dev/null      # warm-up: page caches, similar lists
# rounds of 50 members, each built without then with the ranker (the same members): the
# machine's load drifts less within a round than across the run
out=""
for r in $(seq 1 "$rounds"); do
  first=$(( (r - 1) * 50 + 1 ))
  out="$out $(batch off "$first" 50) $(batch on "$first" 50)"
done
echo "$out" | /usr/bin/python3 -c '
import statistics, sys
v = [float(x) for x in sys.stdin.read().split()]
off, on = v[0::2], v[1::2]
q = [b / a for a, b in zip(off, on)]
R = len(off)
print(f"homepage CPU per page, {R} rounds x 50 members, 1 server thread (same server, same run):")
print(f"  without ranker  {sum(off) / R:.3f} ms")
print(f"  with ranker     {sum(on) / R:.3f} ms")
print(f"  ratio           {sum(on) / sum(off):.2f}x of the sums (median of the rounds {statistics.median(q):.2f}x, "
      f"range {min(q):.2f}-{max(q):.2f})")'
