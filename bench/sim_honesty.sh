#!/usr/bin/env bash
# sim_honesty.sh: does the A/B estimate tell the truth? Over SEEDS seeds: aa (rejections at
# p < 0.05 on play_seconds, SRM failures) and ease-vs-pop (how often the 95% CI of plays and
# play_seconds covers the counterfactual truth). Sizes: MEMBERS (1000), DAYS (aa 7, ease-vs-pop
# 14 incl. its 7 pre-period days). Not run by `make bench` (a few minutes); run it by hand.
set -euo pipefail
BUILD=${BUILD:-build}
DATA=${MQ_SHARED_DATA:-../shared/data}/ml-100k
SEEDS=${SEEDS:-20}
M=${MEMBERS:-1000}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
for s in $(seq 1 "$SEEDS"); do
    "$BUILD/marquee" sim --data "$DATA" --models "$T/m-aa" --scenario aa --out "$T/aa" --members "$M" --days 7 \
        --seed "$s" --json 2>/dev/null |
    python3 -c "import json,sys; d=json.load(sys.stdin); a=json.load(open('$T/aa/analyze-aa.json'))
print('aa', d['estimate']['aa']['play_seconds']['B']['p_value'] < 0.05, a['srm']['passed'])"
done | awk '{ r += ($2 == "True"); f += ($3 != "True") } END { print "aa: rejections at p < 0.05 (play_seconds):", r, "/", NR, "; SRM failures:", f }'
for s in $(seq 1 "$SEEDS"); do
    "$BUILD/marquee" sim --data "$DATA" --models "$T/m-evp" --scenario ease-vs-pop --out "$T/evp" --members "$M" \
        --days 14 --seed "$s" --counterfactual --json 2>/dev/null |
    python3 -c "import json,sys; d=json.load(sys.stdin)
for m in ['plays', 'play_seconds']:
    t = d['truth']['ease_vs_pop'][m]['B']['effect']; e = d['estimate']['ease_vs_pop'][m]['B']
    print(m, e['ci_low'] <= t <= e['ci_high'], e['effect'] - t)"
done | awk '{ c[$1] += ($2 == "True"); n[$1]++; b[$1] += $3 } END { for (m in c) print "ease-vs-pop", m, ": CI covers the truth", c[m], "/", n[m], "; mean estimate - truth", b[m] / n[m] }'
