#!/usr/bin/env bash
# sim_http.sh: the simulator's HTTP mode (`marquee sim --server`) rate as a share of the
# in-process rate, same members, seed and scenario, measured minutes apart on the same box:
# pages per second of the A/B run (the simulator's own progress line), in-process (which also
# writes the event and exposure logs, fsync none) against a local `marquee serve --clock event
# --trending-refresh off --fsync none --exposure-log full`, for THREADS 1 and 2 (simulator
# threads = connections in flight; the server runs 2 HTTP threads). Sizes: MEMBERS (400), DAYS
# (7), SCENARIO (aa), on ml-100k. Under a minute at the defaults.
set -euo pipefail
BUILD=${BUILD:-build}
DATA=${MQ_SHARED_DATA:-../shared/data}/ml-100k
[ -d "$DATA" ] || { echo "sim_http: $DATA not found, skipped"; exit 0; }
M=${MEMBERS:-400}
D=${DAYS:-7}
S=${SCENARIO:-aa}
T=$(mktemp -d)
SPID=
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$T"' EXIT
rate() { sed -n 's/.*A\/B run: \([0-9]*\) pages, .* events in \([0-9.]*\) s (\([0-9]*\) pages\/s).*/\1 \2 \3/p' "$1"; }
for th in 1 2; do
    "$BUILD/marquee" sim --data "$DATA" --models "$T/m" --scenario "$S" --out "$T/in$th" --members "$M" --days "$D" \
        --threads "$th" --json > "$T/in$th.json" 2> "$T/in$th.err"
    rm -rf "$T/srv"
    "$BUILD/marquee" serve --data "$DATA" --models "$T/m" --experiments "$T/in$th/experiments.json" --clock event \
        --trending-refresh off --fsync none --exposure-log full --events "$T/srv/events" --exposures "$T/srv/exposures" \
        --store "lmdb:$T/srv/state" --threads 2 --port 0 --port-file "$T/port" 2> "$T/serve.err" &
    SPID=$!
    for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
    "$BUILD/marquee" sim --data "$DATA" --models "$T/m" --scenario "$S" --out "$T/http$th" --members "$M" --days "$D" \
        --threads "$th" --json --server "http://127.0.0.1:$(cat "$T/port")" > "$T/http$th.json" 2> "$T/http$th.err"
    kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=; rm -f "$T/port"
    read -r pi si ri < <(rate "$T/in$th.err")
    read -r ph sh rh < <(rate "$T/http$th.err")
    same=$(cmp -s "$T/in$th.json" "$T/http$th.json" && echo "identical summaries" || echo "summaries differ")
    awk -v th="$th" -v pi="$pi" -v si="$si" -v ph="$ph" -v sh="$sh" -v same="$same" -v s="$S" -v m="$M" -v d="$D" 'BEGIN {
        printf "sim %s %d members x %d days, %d thread(s): in-process %d pages in %.2f s = %.0f pages/s; HTTP %d pages in %.2f s = %.0f pages/s: HTTP = %.1f%% of in-process (%s)\n",
               s, m, d, th, pi, si, pi / si, ph, sh, ph / sh, 100 * (ph / sh) / (pi / si), same }'
done
