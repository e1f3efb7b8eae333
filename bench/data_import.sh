#!/usr/bin/env bash
# bench/data_import.sh: data-layer import throughput and memory (docs/BENCHMARKS.md, "Data layer").
#
# For a synthetic 10M-row events CSV (marquee data synth) and for data/ml-latest-small's
# ratings.csv, in the same run and with the file in the page cache:
#   - wc -l of the file (the baseline the issue asks for: the cost of reading every byte once),
#   - mq_data_load alone (parse + validate + CSR/CSC build), one core,
#   - `marquee data import` end to end (load + snapshot write, fsync included),
#   - mq_snapshot_load of the written snapshot (mmap + CRC-32C of every section + id maps),
#   - the floor: malloc + memset of fresh memory the size of the output (32 bytes per
#     interaction) and of the import's peak RSS (first-touch page zeroing by the kernel, slow on
#     this VM, is what bounds an import; wc -l touches no fresh memory),
# each the best of 3, and the peak RSS (/usr/bin/time -v) of import and of a snapshot load
# that touches every array, per interaction. N=... changes the synthetic size.
set -euo pipefail
BUILD=${BUILD:-build}
M=$BUILD/marquee
B=$BUILD/bench_data_import
N=${N:-10000000}
[ -x "$M" ] && [ -x "$B" ] || { echo "build first: make $M $B" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

best3() {   # best wall seconds of 3 runs of "$@" (output discarded)
    local best=999999999999 t0 t1 t
    for _ in 1 2 3; do
        t0=$(date +%s%N); "$@" > /dev/null 2>&1; t1=$(date +%s%N)
        t=$(( (t1 - t0) / 1000 ))
        [ "$t" -lt "$best" ] && best=$t
    done
    awk -v u="$best" 'BEGIN { printf "%.4f", u / 1e6 }'
}
peak_kb() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk '/Maximum resident/ { print $6 }'; }

run() {   # name file
    local name=$1 f=$2
    cat "$f" > /dev/null
    local bytes; bytes=$(stat -c %s "$f")
    local wc_s; wc_s=$(best3 wc -l "$f")
    local load; load=$($B load "$f" 3)
    local load_s=${load% *} nnz=${load#* }
    local imp_s; imp_s=$(best3 "$M" data import "$f" --out "$TMP/s.mqd")
    local snap; snap=$($B snap "$TMP/s.mqd" 3)
    local snap_s=${snap% *}
    local imp_kb; imp_kb=$(peak_kb "$M" data import "$f" --out "$TMP/s.mqd")
    local snap_kb; snap_kb=$(peak_kb "$B" touch "$TMP/s.mqd" 1)
    local snap_bytes; snap_bytes=$(stat -c %s "$TMP/s.mqd")
    local fresh_out; fresh_out=$($B fresh $((nnz * 32)) 3)
    local fresh_peak; fresh_peak=$($B fresh $((imp_kb * 1024)) 3)
    awk -v n="$name" -v b="$bytes" -v z="$nnz" -v w="$wc_s" -v l="$load_s" -v i="$imp_s" -v s="$snap_s" \
        -v ik="$imp_kb" -v sk="$snap_kb" -v sb="$snap_bytes" -v fo="${fresh_out% *}" -v fp="${fresh_peak% *}" 'BEGIN {
        printf "%s: %d rows, %.1f MB\n", n, z, b / 1e6
        printf "  wc -l                 %8.4f s  (%.0f MB/s)\n", w, b / 1e6 / w
        printf "  mq_data_load          %8.4f s  (%.0f MB/s, %.2f M rows/s) = %.1f x wc -l\n", l, b / 1e6 / l, z / 1e6 / l, l / w
        printf "  marquee data import   %8.4f s  = %.1f x wc -l (load + snapshot write + fsync)\n", i, i / w
        printf "  mq_snapshot_load      %8.4f s  (%.1f MB snapshot)\n", s, sb / 1e6
        printf "  floor: first touch of the 32 B/interaction output (CSR+CSC) %.4f s = %.1f x wc -l\n", fo, fo / w
        printf "  floor: first touch of the import peak RSS               %.4f s = %.1f x wc -l\n", fp, fp / w
        printf "  peak RSS import       %8.1f MB = %.0f bytes/interaction\n", ik / 1024, ik * 1024 / z
        printf "  peak RSS snapshot     %8.1f MB = %.0f bytes/interaction (load + touch every array)\n", sk / 1024, sk * 1024 / z
    }'
}

"$M" data synth --members $((N / 50)) --titles 50000 --interactions "$N" --seed 1 --out "$TMP/events.csv" 2> /dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
run "synthetic events CSV (data synth --members $((N / 50)) --titles 50000 --interactions $N --seed 1)" "$TMP/events.csv"
run "ml-latest-small ratings.csv" data/ml-latest-small/ratings.csv
