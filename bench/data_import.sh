#!/usr/bin/env bash
# bench/data_import.sh: data-layer import throughput and memory (docs/BENCHMARKS.md, "Data layer").
#
# For a synthetic 10M-row events CSV (marquee data synth) and for data/ml-latest-small's
# ratings.csv, in the same run and with the file in the page cache, the CPU time (perf stat
# task-clock, user + system, best of 3; CPU time rather than wall time because the machine is
# shared) of:
#   - wc -l of the file: the baseline the issue names (one read of every byte),
#   - mq_data_load alone (parse + validate + CSR/CSC build + catalog), one thread,
#   - `marquee data import` end to end (load + snapshot write + fsync),
#   - mq_snapshot_load of the written snapshot (mmap + CRC-32C of every section + id maps),
#   - the floor: malloc + memset of fresh memory the size of the output (32 bytes per
#     interaction: CSR + CSC) and of the import's peak RSS: the kernel zeroes every fresh page,
#     which wc -l never pays,
# and the peak RSS (/usr/bin/time -v) of import and of a snapshot load that touches every array.
# The wall time of mq_data_load is printed too. N=... changes the synthetic size.
set -euo pipefail
BUILD=${BUILD:-build}
M=$BUILD/marquee
B=$BUILD/bench_data_import
N=${N:-10000000}
[ -x "$M" ] && [ -x "$B" ] || { echo "build first: make $M $B" >&2; exit 1; }
command -v perf > /dev/null || { echo "needs perf (linux-perf) for CPU times" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

cpu3() {   # best task-clock seconds of 3 runs of "$@"
    local best=999999999 t
    for _ in 1 2 3; do
        t=$(perf stat -x, -e task-clock -- "$@" 2>&1 >/dev/null | awk -F, '/task-clock/ { print $1 }')
        best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (b < a ? b : a) }')
    done
    awk -v ms="$best" 'BEGIN { printf "%.4f", ms / 1000 }'
}
peak_kb() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk '/Maximum resident/ { print $6 }'; }

run() {   # name file
    local name=$1 f=$2
    cat "$f" > /dev/null
    local bytes; bytes=$(stat -c %s "$f")
    local nnz; nnz=$($B load "$f" 1 | awk '{ print $2 }')
    local wall; wall=$($B load "$f" 3 | awk '{ print $1 }')
    local wc_s; wc_s=$(cpu3 wc -l "$f")
    local load_s; load_s=$(cpu3 "$B" load "$f" 1)
    local imp_s; imp_s=$(cpu3 "$M" data import "$f" --out "$TMP/s.mqd")
    local snap_s; snap_s=$(cpu3 "$B" snap "$TMP/s.mqd" 1)
    local imp_kb; imp_kb=$(peak_kb "$M" data import "$f" --out "$TMP/s.mqd")
    local snap_kb; snap_kb=$(peak_kb "$B" touch "$TMP/s.mqd" 1)
    local snap_bytes; snap_bytes=$(stat -c %s "$TMP/s.mqd")
    local fo; fo=$(cpu3 "$B" fresh $((nnz * 32)) 1)
    local fp; fp=$(cpu3 "$B" fresh $((imp_kb * 1024)) 1)
    awk -v n="$name" -v b="$bytes" -v z="$nnz" -v w="$wc_s" -v l="$load_s" -v lw="$wall" -v i="$imp_s" \
        -v s="$snap_s" -v ik="$imp_kb" -v sk="$snap_kb" -v sb="$snap_bytes" -v fo="$fo" -v fp="$fp" 'BEGIN {
        printf "%s: %d rows, %.1f MB (CPU seconds, best of 3)\n", n, z, b / 1e6
        printf "  wc -l                        %8.4f s  (%.0f MB/s)\n", w, b / 1e6 / w
        printf "  mq_data_load (process)       %8.4f s  (%.0f MB/s, %.2f M rows/s) = %.1f x wc -l; wall %.4f s\n", l, b / 1e6 / l, z / 1e6 / l, l / w, lw
        printf "  marquee data import          %8.4f s  = %.1f x wc -l (load + snapshot write + fsync)\n", i, i / w
        printf "  mq_snapshot_load (process)   %8.4f s  (%.1f MB snapshot)\n", s, sb / 1e6
        printf "  floor: fresh 32 B/interaction output    %8.4f s = %.1f x wc -l\n", fo, fo / w
        printf "  floor: fresh memory of the import peak  %8.4f s = %.1f x wc -l\n", fp, fp / w
        printf "  peak RSS import              %8.1f MB = %.0f bytes/interaction\n", ik / 1024, ik * 1024 / z
        printf "  peak RSS snapshot load       %8.1f MB = %.0f bytes/interaction (touching every array)\n", sk / 1024, sk * 1024 / z
    }'
}

"$M" data synth --members $((N / 50)) --titles 50000 --interactions "$N" --seed 1 --out "$TMP/events.csv" 2> /dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
run "synthetic events CSV (data synth --members $((N / 50)) --titles 50000 --interactions $N --seed 1)" "$TMP/events.csv"
run "ml-latest-small ratings.csv" data/ml-latest-small/ratings.csv
