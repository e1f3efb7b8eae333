#!/usr/bin/env bash
# sim_http.sh: the simulator's HTTP mode (`marquee sim --server`) rate as a share of the
# in-process rate, same members, seed and scenario, measured seconds apart on the same box:
# pages per second of the A/B run (the simulator's own progress line), in-process (which also
# writes the event and exposure logs, fsync none) against a local `marquee serve --clock event
# --trending-refresh off --fsync none --exposure-log full`, for THREADS 1 and 2 (simulator
# threads = connections in flight; the server runs 2 HTTP threads). REPS (3) alternating pairs
# per thread count; the median ratio is the figure (wall-clock rates on a shared box swing by
# 2-3x from one run to the next). Also the CPU seconds per 1,000 pages: the in-process run's,
# and the HTTP run's simulator and server (the server's counted from when it listens, so its
# start-up is not in it): where the HTTP mode's time goes. Sizes: MEMBERS (400), DAYS (7),
# SCENARIO (aa), on ml-100k. About a minute at the defaults.
set -euo pipefail
BUILD=${BUILD:-build}
DATA=${MQ_SHARED_DATA:-../shared/data}/ml-100k
[ -d "$DATA" ] || { echo "sim_http: $DATA not found, skipped"; exit 0; }
M=${MEMBERS:-400}
D=${DAYS:-7}
S=${SCENARIO:-aa}
REPS=${REPS:-3}
T=$(mktemp -d)
SPID=
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$T"' EXIT
TCK=$(getconf CLK_TCK)
rate() { sed -n 's/.*A\/B run: \([0-9]*\) pages, .* events in \([0-9.]*\) s (\([0-9]*\) pages\/s).*/\1 \2/p' "$1"; }
cpu_of() { awk -v t="$TCK" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }
"$BUILD/marquee" sim --data "$DATA" --models "$T/m" --scenario "$S" --out "$T/warm" --members 2 --days 1 --json > /dev/null 2>&1
for th in 1 2; do
    : > "$T/ratios"
    for rep in $(seq "$REPS"); do
        /usr/bin/time -f "%U %S" -o "$T/in.cpu" "$BUILD/marquee" sim --data "$DATA" --models "$T/m" --scenario "$S" \
            --out "$T/in" --members "$M" --days "$D" --threads "$th" --json > "$T/in.json" 2> "$T/in.err"
        rm -rf "$T/srv" "$T/port"
        "$BUILD/marquee" serve --data "$DATA" --models "$T/m" --experiments "$T/in/experiments.json" --clock event \
            --trending-refresh off --fsync none --exposure-log full --events "$T/srv/events" --exposures "$T/srv/exposures" \
            --store "lmdb:$T/srv/state" --threads 2 --port 0 --port-file "$T/port" 2> "$T/serve.err" &
        SPID=$!
        for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
        c0=$(cpu_of "$SPID")
        /usr/bin/time -f "%U %S" -o "$T/http.cpu" "$BUILD/marquee" sim --data "$DATA" --models "$T/m" --scenario "$S" \
            --out "$T/http" --members "$M" --days "$D" --threads "$th" --json --server "http://127.0.0.1:$(cat "$T/port")" \
            > "$T/http.json" 2> "$T/http.err"
        c1=$(cpu_of "$SPID")
        kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=
        read -r pi si < <(rate "$T/in.err")
        read -r ph sh < <(rate "$T/http.err")
        same=$(cmp -s "$T/in.json" "$T/http.json" && echo "identical summaries" || echo "summaries differ")
        read -r iu is < "$T/in.cpu"
        read -r hu hs < "$T/http.cpu"
        awk -v th="$th" -v pi="$pi" -v si="$si" -v ph="$ph" -v sh="$sh" -v same="$same" -v c="$(echo "$c1 - $c0" | bc -l)" \
            -v ic="$(echo "$iu + $is" | bc -l)" -v hc="$(echo "$hu + $hs" | bc -l)" 'BEGIN {
            printf "  %d thread(s): in-process %.0f pages/s, HTTP %.0f pages/s: %.1f%%; CPU s per 1,000 pages: in-process %.2f (whole run), HTTP simulator %.2f (whole run) + server %.2f (%s)\n",
                   th, pi / si, ph / sh, 100 * (ph / sh) / (pi / si), 1000 * ic / pi, 1000 * hc / ph, 1000 * c / ph, same }'
        awk -v pi="$pi" -v si="$si" -v ph="$ph" -v sh="$sh" 'BEGIN { print 100 * (ph / sh) / (pi / si) }' >> "$T/ratios"
    done
    sort -g "$T/ratios" | awk -v th="$th" -v s="$S" -v m="$M" -v d="$D" '{ r[NR] = $1 } END {
        printf "sim %s %d members x %d days, %d thread(s): HTTP = %.1f%% of in-process (median of %d pairs; min %.1f%%, max %.1f%%)\n",
               s, m, d, th, r[int((NR + 1) / 2)], NR, r[1], r[NR] }'
done
