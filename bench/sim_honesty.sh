#!/usr/bin/env bash
# sim_honesty.sh [--full]: does the A/B estimate tell the truth? Over SEEDS seeds: aa
# (rejections at p < 0.05 on play_seconds, SRM failures) and ease-vs-pop (how often the 95% CI
# of plays and play_seconds covers the counterfactual truth, and the mean of estimate - truth
# with its standard error over the seeds). Sizes: MEMBERS (1000), AA_DAYS (7), ease-vs-pop 14
# days incl. its 7 pre-period days. --full: the sizes, 5,000 members, aa over 14 days,
# and clickbait at 20,000 members x 28 days (truth, estimate, the guardrail decision). Not run
# by `make bench` (minutes; --full about half an hour on one core); run it by hand.
set -euo pipefail
BUILD=${BUILD:-build}
DATA=${MQ_SHARED_DATA:-../shared/data}/ml-100k
SEEDS=${SEEDS:-20}
FIRST=${FIRST_SEED:-1}   # seeds FIRST..SEEDS
KEEP=${KEEP:-}           # a folder: each ease-vs-pop seed's units and counterfactual files are kept there (sim_rerandomize.py)
M=${MEMBERS:-1000}
AD=${AA_DAYS:-7}
FULL=0
[ "${1:-}" = "--full" ] && { FULL=1; M=${MEMBERS:-5000}; AD=${AA_DAYS:-14}; }
TH=${THREADS:-1}
RAW=${RAW:-/dev/null}   # per-seed lines are appended here as they come (long runs)
ORDER=${ORDER:-aa evp}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
echo "sim_honesty: $M members, seeds $FIRST-$SEEDS, aa $AD days, ease-vs-pop 14 days (7 pre-period), $TH thread(s)"
run_aa() {
for s in $(seq "$FIRST" "$SEEDS"); do
    "$BUILD/marquee" sim --data "$DATA" --models "$T/m-aa" --scenario aa --out "$T/aa" --members "$M" --days "$AD" \
        --seed "$s" --threads "$TH" --json 2>/dev/null |
    python3 -c "import json,sys; d=json.load(sys.stdin); a=json.load(open('$T/aa/analyze-aa.json'))
print('aa', d['estimate']['aa']['play_seconds']['B']['p_value'] < 0.05, a['srm']['passed'])"
done | tee -a "$RAW" | awk '{ r += ($2 == "True"); f += ($3 != "True") } END { print "aa: rejections at p < 0.05 (play_seconds):", r, "/", NR, "; SRM failures:", f }'
}
run_evp() {
for s in $(seq "$FIRST" "$SEEDS"); do
    K=/dev/null
    if [ -n "$KEEP" ]; then mkdir -p "$KEEP/seed-$s"; K="$KEEP/seed-$s/summary.json"; fi
    "$BUILD/marquee" sim --data "$DATA" --models "$T/m-evp" --scenario ease-vs-pop --out "$T/evp" --members "$M" \
        --days 14 --seed "$s" --threads "$TH" --counterfactual --json 2>/dev/null |
    tee "$K" |
    python3 -c "import json,sys; d=json.load(sys.stdin)
for m in ['plays', 'play_seconds']:
    t = d['truth']['ease_vs_pop'][m]['B']['effect']; e = d['estimate']['ease_vs_pop'][m]['B']
    print(m, e['ci_low'] <= t <= e['ci_high'], e['effect'] - t, (e['ci_high'] - e['ci_low']) / 3.92)"
    if [ -n "$KEEP" ]; then cp "$T"/evp/units-*.csv "$T"/evp/cf-*.csv "$KEEP/seed-$s/"; fi
done | tee -a "$RAW" | awk '{ c[$1] += ($2 == "True"); n[$1]++; b[$1] += $3; b2[$1] += $3 * $3; se[$1] += $4 }
  END { for (m in c) { mu = b[m] / n[m]; sd = sqrt((b2[m] - n[m] * mu * mu) / (n[m] - 1));
        printf "ease-vs-pop %s: CI covers the truth %d / %d; estimate - truth: mean %.4g, SE of the mean %.4g (z %.2f); mean CI half-width / 1.96 %.4g\n",
               m, c[m], n[m], mu, sd / sqrt(n[m]), mu / (sd / sqrt(n[m])), se[m] / n[m] } }'
}
for x in $ORDER; do "run_$x"; done
if [ "$FULL" = 1 ]; then
    "$BUILD/marquee" sim --data "$DATA" --models "$T/m-cb" --scenario clickbait --out "$T/cb" --members "${CB_MEMBERS:-20000}" \
        --days 28 --seed 1 --threads "$TH" --counterfactual --json 2>/dev/null |
    python3 -c "import json,sys; d=json.load(sys.stdin); a=json.load(open('$T/cb/analyze-clickbait.json'))
for m in ['plays', 'play_seconds', 'active_days', 'retained']:
    t = d['truth']['clickbait'][m]['B']['effect']; e = d['estimate']['clickbait'][m]['B']
    print('clickbait %s: truth %+.4g, estimate %+.4g [%.4g, %.4g], p = %.3g' % (m, t, e['effect'], e['ci_low'], e['ci_high'], e['p_value']))
print('clickbait decision:', json.dumps(a.get('decision')))"
fi
