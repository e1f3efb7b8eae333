#!/usr/bin/env bash
# sim_artwork.sh: the issue-16 simulator target. scenarios/artwork.json (arms: fixed / linucb /
# egreedy artwork, learning online from the run's clicks) on the demo catalog's synthetic
# artwork (data/ml-latest-small); the counterfactual runs give each policy's true click rate
# (expected clicks per impression; LinUCB against fixed with a paired 95% CI); then the egreedy
# arm's logs go through `marquee bandit export` and `marquee bandit ope` with LinUCB's
# probabilities on those rows (written by the simulator), against LinUCB's true value there.
# Default: 300 members x 14 days (about 30 s of CPU); --full: 1,000 members (about 2 minutes of CPU).
# usage: bash bench/sim_artwork.sh [--full] [seed]
set -euo pipefail
BIN=${BIN:-build/marquee}
members=300
[ "${1:-}" = --full ] && { members=1000; shift; }
seed=${1:-1}
out=${OUT:-/tmp/sim_artwork.$$}
mkdir -p "$out"
"$BIN" sim --data data/ml-latest-small --models "$out/models" --scenario artwork --members $members --days 14 \
    --seed "$seed" --threads 2 --out "$out/sim" --counterfactual --json > "$out/sim.json"
"$BIN" bandit export --exposures "$out/sim/log/exposures" --events "$out/sim/log/events" --window 86400 \
    --policy egreedy --out "$out/egreedy.csv"
"$BIN" bandit ope --log "$out/egreedy.csv" --action-dist "$out/sim/artwork-pi-linucb.csv" --actions 6 \
    --estimators ips,snips,dr --json > "$out/ope.json"
python3 - "$out/sim.json" "$out/ope.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["artwork"]
o = json.load(open(sys.argv[2]))
t = s["truth"]
print("true click rate (expected clicks per impression), counterfactual runs, %d members x 14 days:" % json.load(open(sys.argv[1]))["members"])
for k in ("artwork.fixed", "artwork.linucb", "artwork.egreedy"):
    v = t[k]
    extra = ""
    if "true_ctr_effect" in v:
        extra = "  vs fixed %+.6f [%.6f, %.6f] (%+.1f%%)" % (v["true_ctr_effect"], v["ci_low"], v["ci_high"], 100 * v["true_ctr_effect"] / t["artwork.fixed"]["true_ctr"])
    print("  %-16s %.6f  (clicks per examined title %.4f)%s" % (k, v["true_ctr"], v["expected_clicks"] / max(v["examined"], 1), extra))
truth = s["ope"]["linucb_true_value"]
print("OPE of LinUCB from the egreedy arm's %d logged rows (true value there %.6f; fixed's %.6f):" % (o["n"], truth, s["ope"]["fixed_true_value"]))
for e in o["estimates"]:
    inside = e["ci_low"] <= truth <= e["ci_high"]
    print("  %-6s %.6f [%.6f, %.6f]  %s" % (e["estimator"], e["value"], e["ci_low"], e["ci_high"], "covers the truth" if inside else "MISSES the truth"))
print("  mean weight %.4f, ESS %.0f" % (o["mean_weight"], o["ess"]))
PY
[ -z "${OUT:-}" ] && rm -rf "$out"
exit 0
