#!/usr/bin/env bash
# Benchmark `billing generate` for a month of about 10,500 invoices with their HTML and PDF documents:
# once with the default workers (one per usable core) and once with --workers 1, then checks that the two
# output folders hold the same bytes. Prints wall time, CPU time and peak memory from GNU time
# (/usr/bin/time -v). Record the figures in benchmarks/RESULTS.md.
#
# usage: benchmarks/bench_generate.sh [DATA_DIR] [OUT_DIR]
#   CUSTOMERS (default 12400) sets the dataset's size; SERIAL=0 skips the one-worker run.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-benchmarks/.data/generate}"
out="${2:-benchmarks/.data/generate-out}"
customers="${CUSTOMERS:-12400}"
billing="${BILLING:-billing}"

if [ ! -f "$data/ground_truth.csv" ]; then
  echo "making the dataset in $data (once; a few seconds)..." >&2
  "$billing" synth --out "$data" --seed 7 --customers "$customers" --months 2 --anomaly-rate 0 >&2
fi
run() {  # run NAME [ARGS...]: generate 2024-02 into $out-NAME and print GNU time's figures
  local name="$1"; shift
  rm -rf "$out-$name"
  /usr/bin/time -v "$billing" generate "$data" --period 2024-02 --out "$out-$name" "$@" \
    > "$out-$name.stdout" 2> "$out-$name.time" || { cat "$out-$name.time"; exit 1; }
  echo "== $name: $(cat "$out-$name.stdout")"
  grep -E "Elapsed \(wall clock\)|Maximum resident set size|User time|System time" "$out-$name.time"
}
run pool
if [ "${SERIAL:-1}" != 0 ]; then
  run serial --workers 1
  diff -r -q "$out-pool" "$out-serial" && echo "the pool's files and the one-worker files are the same bytes"
fi
