#!/bin/bash
# bench/eval_speed.sh: how many held-out members `marquee eval` scores per second.
#
# For each data set (ml-latest-small ratings >= 4; amazon-book, all of train.txt + test.txt) and
# each model, one `marquee eval --protocol strong --seed 98765 --naive-topk --json` run trains
# the model once and evaluates the test members twice with the same scorer:
#   members_per_second        the real loop: size-k heap selection (k = 100), fold-in masked,
#                             full-ranking pass for MRR/AUC, all metrics, 2 threads;
#   naive_members_per_second  the baseline: the same loop with a full sort of every member's
#                             candidate list (qsort of n_titles items) instead of the heap.
# The two must report identical figures (the command fails otherwise). Prints a table and
# leaves the JSON in $OUT (default /tmp/mq_eval_speed).
#
#   BUILD=build MODELS=pop,itemknn,ease,ials bash bench/eval_speed.sh
set -euo pipefail
BUILD=${BUILD:-build}
BIN=${BIN:-$BUILD/marquee}
DATA=${MQ_SHARED_DATA:-../shared/data}
MODELS=${MODELS:-pop,itemknn,ease,ials}
THREADS=${THREADS:-2}
OUT=${OUT:-/tmp/mq_eval_speed}
mkdir -p "$OUT"

run() {
    local name=$1
    shift
    echo "== $name ($MODELS)" >&2
    "$BIN" eval "$@" --protocol strong --seed 98765 \
        --models "$MODELS" --naive-topk --json --threads "$THREADS" > "$OUT/$name.json"
}

if [ ! -d "$DATA" ]; then
    echo "eval_speed: $DATA is absent (set MQ_SHARED_DATA)" >&2
    exit 1
fi
# ml-latest-small has only 603 members: hold out half of them (301) so the timing covers more
# than a few milliseconds; amazon-book holds out the usual 10% (7,060 members).
run ml-latest-small --data "$DATA/ml-latest-small/ratings.csv" --test-frac 0.5 --val-frac 0
run amazon-book --data "$DATA/amazon-book-kgat/train.txt" --data "$DATA/amazon-book-kgat/test.txt" \
    --test-frac 0.1 --val-frac 0.1

/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
print("%-16s %-9s %9s %8s %8s %14s %14s %7s" % ("data", "model", "titles", "members", "fit s",
      "members/s", "naive/s", "ratio"))
for name in ("ml-latest-small", "amazon-book"):
    j = json.load(open("%s/%s.json" % (out, name)))
    for m in j["models"]:
        r, n = m["members_per_second"], m.get("naive_members_per_second") or float("nan")
        print("%-16s %-9s %9d %8d %8.2f %14.0f %14.0f %6.1fx" % (
            name, m["model"], j["split"]["titles"], m["test"]["members"], m["fit_seconds"], r,
            n, r / n))
PY
