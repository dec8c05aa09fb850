#!/usr/bin/env bash
# `billing verify` at ten times the 1M-line benchmark: 10M invoice lines and 100M usage events, Parquet.
# Makes the 1M dataset once (billing synth, Parquet), writes it ten times over with tagged ids
# (benchmarks/scale_dataset.py: billing synth itself needs more than 24 GiB at that size), verifies both,
# prints wall time and peak memory from GNU time, and checks that every copy's findings are the 1M run's
# (benchmarks/compare_scaled.py). Record the figures in benchmarks/RESULTS.md.
#
# usage: benchmarks/bench_scale.sh [WORK_DIR]      (about 4 GB of disk; SHARDS=N to name the groups)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-benchmarks/.data/scale}"
copies="${COPIES:-10}"
billing="${BILLING:-billing}"
shards=()
[ -n "${SHARDS:-}" ] && shards=(--shards "$SHARDS")
mkdir -p "$work"

if [ ! -f "$work/1x/ground_truth.csv" ]; then
  echo "making the 1M-line dataset in $work/1x (once)..." >&2
  "$billing" synth --out "$work/1x" --seed 42 --customers 63000 --months 12 --usage-events 16.3 \
    --anomaly-rate 0.01 --format parquet
fi
if [ ! -f "$work/${copies}x/usage.parquet" ]; then
  echo "writing it $copies times over in $work/${copies}x (once)..." >&2
  python3 benchmarks/scale_dataset.py "$work/1x" "$work/${copies}x" --copies "$copies"
fi
for size in 1x "${copies}x"; do
  /usr/bin/time -v "$billing" verify "$work/$size" --out "$work/out-$size" "${shards[@]}" 2> "$work/out-$size.time" \
    || { cat "$work/out-$size.time"; exit 1; }
  echo "$size:"
  grep -E "groups|Elapsed \(wall clock\)|Maximum resident set size" "$work/out-$size.time"
done
python3 benchmarks/compare_scaled.py "$work/out-1x" "$work/out-${copies}x" --copies "$copies"
