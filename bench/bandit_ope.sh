#!/usr/bin/env bash
# bandit_ope.sh: `marquee bandit ope` over many logged rounds against one read of the same file.
#
# Data: N rows (default 2,000,000; MQ_OPE_ROWS=10000000 for the 10M) in the Open Bandit
# Dataset's own layout (44 columns, ~330 bytes a row), made by cycling the data rows of the real
# random/men.csv; and the same rounds in Marquee's narrow format (action,reward,propensity,
# position; ~30 bytes a row). Evaluation policy: OBD's BTS posterior (its action distribution is
# computed once and passed with --action-dist, so the figure is the estimators' pass alone).
# Baseline, same run: `cat FILE > /dev/null` (one read of the page-cached file). Times are CPU
# seconds (user + system, /usr/bin/time), best of 3: the machine is shared.
# MQ_OPE_BEFORE=path/to/an/older/marquee times that binary too, in the same run (before/after);
# MQ_OPE_FORMATS=narrow (or obd) times one layout only.
set -euo pipefail
BUILD=${BUILD:-build}
N=${MQ_OPE_ROWS:-2000000}
OBD=${MQ_SHARED_DATA:-../shared/data}/open-bandit-dataset
if [ ! -f "$OBD/random/men/men.csv" ]; then echo "bandit_ope: $OBD not found, skipped"; exit 0; fi
T=$(mktemp -d /tmp/bandit_ope.XXXXXX)
trap 'rm -rf "$T"' EXIT
head -1 "$OBD/random/men/men.csv" > "$T/obd.csv"
tail -n +2 "$OBD/random/men/men.csv" | awk -v n="$N" '{ r[NR] = $0 } END { for (i = 0; i < n; i++) print r[i % NR + 1] }' >> "$T/obd.csv"
awk -F, 'NR == 1 { print "action,reward,propensity,position"; next } { print $3 "," $5 "," $6 "," $4 }' "$T/obd.csv" > "$T/narrow.csv"
"$BUILD/marquee" bandit ope --log "$OBD/random/men/men.csv" --format obd --policy "bts:$OBD/prior_bts.yaml:men" \
    --save-action-dist "$T/pi.csv" > /dev/null
cpu() {  # best CPU seconds of 3 runs of "$@"
    local best=1e9
    for _ in 1 2 3; do
        local t
        /usr/bin/time -o "$T/time" -f "%U %S" "$@" > /dev/null 2> /dev/null
        t=$(awk '{ print $1 + $2 }' "$T/time")
        best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (b < a ? b : a) }')
    done
    echo "$best"
}
for f in ${MQ_OPE_FORMATS:-obd narrow}; do
    fmt=$([ $f = obd ] && echo obd || echo marquee)
    size=$(stat -c %s "$T/$f.csv")
    cat "$T/$f.csv" > /dev/null
    read_s=$(cpu cat "$T/$f.csv")
    ope_s=$(cpu "$BUILD/marquee" bandit ope --log "$T/$f.csv" --format $fmt --actions 34 --action-dist "$T/pi.csv" --json)
    if [ -n "${MQ_OPE_BEFORE:-}" ]; then
        old_s=$(cpu "$MQ_OPE_BEFORE" bandit ope --log "$T/$f.csv" --format $fmt --actions 34 --action-dist "$T/pi.csv" --json)
        awk -v f=$f -v r="$read_s" -v o="$old_s" 'BEGIN { printf "%-6s before (%s): ope %.3f s CPU: %.2f x one read\n", f, "'"$MQ_OPE_BEFORE"'", o, (r > 0 ? r : 1e-3) / o }'
    fi
    awk -v f=$f -v n="$N" -v sz="$size" -v r="$read_s" -v o="$ope_s" 'BEGIN {
        printf "%-6s %d rows, %.0f MB: read %.3f s CPU (%.2f GB/s), ope %.3f s CPU (%.1f M rows/s, %.2f GB/s): ope speed = %.2f x one read\n",
               f, n, sz / 1e6, r, sz / 1e9 / (r > 0 ? r : 1e-3), o, n / 1e6 / o, sz / 1e9 / o, (r > 0 ? r : 1e-3) / o }'
done
