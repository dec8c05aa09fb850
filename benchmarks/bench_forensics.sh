#!/usr/bin/env bash
# Benchmark `billing forensics` (every forensic test and its files) on a large dataset. Prints wall time,
# CPU and peak memory from GNU time (/usr/bin/time -v). Record the figures in benchmarks/RESULTS.md.
#
# usage: benchmarks/bench_forensics.sh [DATA_DIR] [OUT_DIR]
#   DATA_DIR defaults to the dataset of bench_verify.sh (benchmarks/.data/large; make it with that script).
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-benchmarks/.data/large}"
out="${2:-benchmarks/.data/forensics-out}"
billing="${BILLING:-billing}"
[ -d "$data" ] || { echo "no dataset at $data: run benchmarks/bench_verify.sh first, or name a dataset folder" >&2; exit 2; }
/usr/bin/time -v "$billing" forensics "$data" --out "$out" 2> "$out.time" || { cat "$out.time"; exit 1; }
grep -E "Elapsed \(wall clock\)|Maximum resident set size|User time|System time" "$out.time"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['rows']); print(*d['findings'], sep='\n')" \
  "$out/forensics.json"
