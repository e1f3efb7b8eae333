#!/usr/bin/env bash
# sim_scenarios.sh [--full]: the mmr and novelty scenarios at the issue's sizes, beside their
# small-size tests (sim_mmr_small_effect, sim_novelty_early_effect_fades): the counterfactual
# truth of B against A (relative to A's mean) and the A/B estimate with its 95% CI and p-value.
#   mmr      expected: a small effect (|relative effect on play_seconds| < 10%)
#   novelty  expected: plays up early (3 days), the effect under half of that over 14 days
# Default 1,000 members (a minute or two); --full 5,000 members (several minutes of CPU).
# ml-100k from ../shared/data. Not run by `make bench`; run it by hand.
set -euo pipefail
BUILD=${BUILD:-build}
DATA=${MQ_SHARED_DATA:-../shared/data}/ml-100k
M=${MEMBERS:-1000}
[ "${1:-}" = "--full" ] && M=${MEMBERS:-5000}
SEED=${SEED:-1}
TH=${THREADS:-2}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
run() {   # scenario days metric -> "truth_rel estimate_rel ci_low_rel ci_high_rel p"
    "$BUILD/marquee" sim --data "$DATA" --models "$T/m-$1" --scenario "$1" --out "$T/$1-$2" --members "$M" \
        --days "$2" --seed "$SEED" --threads "$TH" --counterfactual --json 2>/dev/null |
    python3 -c "import json,sys; d=json.load(sys.stdin); e=sys.argv[1]; m=sys.argv[2]
t=d['truth'][e][m]['B']; a=t['mean']-t['effect']; s=d['estimate'][e][m]['B']
print('%+.4f %+.4f %+.4f %+.4f %.3g' % (t['effect']/a, s['effect']/a, s['ci_low']/a, s['ci_high']/a, s['p_value']))" "$1" "$3"
}
echo "sim_scenarios: $M members, seed $SEED, $TH thread(s), ml-100k"
read -r t e lo hi p <<< "$(run mmr 14 play_seconds)"
echo "mmr (14 days), play_seconds relative to A: truth $t, estimate $e [$lo, $hi], p = $p"
python3 -c "import sys; t=float(sys.argv[1]); print('  expected |truth| < 10%:', 'yes' if abs(t) < 0.10 else 'NO')" "$t"
read -r t3 e3 lo3 hi3 p3 <<< "$(run novelty 3 plays)"
echo "novelty (3 days), plays relative to A: truth $t3, estimate $e3 [$lo3, $hi3], p = $p3"
read -r t14 e14 lo14 hi14 p14 <<< "$(run novelty 14 plays)"
echo "novelty (14 days), plays relative to A: truth $t14, estimate $e14 [$lo14, $hi14], p = $p14"
python3 -c "import sys; a=float(sys.argv[1]); b=float(sys.argv[2]); print('  expected early > 0 and 14-day < half of it:', 'yes' if a > 0 and b < a / 2 else 'NO')" "$t3" "$t14"
