#!/usr/bin/env bash
# Benchmark `billing verify` on a large synthetic dataset: about 1,000,000 invoice lines and
# 10,000,000 usage events (12 months, 63,000 customers). Prints wall time and peak memory
# from GNU time (/usr/bin/time -v). Record the figures in benchmarks/RESULTS.md.
#
# usage: benchmarks/bench_verify.sh [DATA_DIR] [OUT_DIR]
#   CUSTOMERS, MONTHS, USAGE_EVENTS, FORMAT (csv|parquet) override the dataset's size and format.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-benchmarks/.data/large}"
out="${2:-benchmarks/.data/large-out}"
customers="${CUSTOMERS:-63000}"
months="${MONTHS:-12}"
usage_events="${USAGE_EVENTS:-16.3}"
format="${FORMAT:-csv}"
billing="${BILLING:-billing}"

if [ ! -f "$data/ground_truth.csv" ]; then
  echo "making the dataset in $data (once; takes a few minutes)..." >&2
  "$billing" synth --out "$data" --seed 42 --customers "$customers" --months "$months" \
    --usage-events "$usage_events" --format "$format" --anomaly-rate 0.01
fi
python3 - "$data" <<'PY'
import sys, polars as pl, pathlib
d = pathlib.Path(sys.argv[1])
for t in ("invoice_lines", "usage", "invoices", "subscriptions"):
    f = next(d.glob(t + ".*"))
    n = pl.scan_csv(f, infer_schema=False).select(pl.len()).collect().item() if f.suffix == ".csv" \
        else pl.scan_parquet(f).select(pl.len()).collect().item()
    print(f"{t}: {n:,} rows ({f.stat().st_size / 1e6:,.0f} MB)")
PY
/usr/bin/time -v "$billing" verify "$data" --out "$out" 2> "$out.time" || { cat "$out.time"; exit 1; }
grep -E "Elapsed \(wall clock\)|Maximum resident set size|User time|System time" "$out.time"
