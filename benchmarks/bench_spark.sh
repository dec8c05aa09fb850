#!/usr/bin/env bash
# Benchmark `billing verify --engine spark` against the local engine on the same dataset: wall time and
# peak resident memory of the driver, the JVM and the Python workers (benchmarks/sample_memory.py), and
# whether the two runs wrote the same files byte for byte. Record the figures in benchmarks/RESULTS.md.
#
# usage: benchmarks/bench_spark.sh [DATA_DIR] [OUT_DIR]
#   DATA_DIR defaults to the dataset of bench_verify.sh (benchmarks/.data/large; made when missing);
#   MASTER (default local[2]) and SHARDS (default: two per core) set the Spark side; SPARK_DRIVER_MEMORY
#   (default 2g) the JVM's heap in local mode.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-benchmarks/.data/large}"
out="${2:-benchmarks/.data/spark-out}"
master="${MASTER:-local[2]}"
billing="${BILLING:-billing}"
[ -d "$data" ] || benchmarks/bench_verify.sh "$data" "$out-make"
shards=()
[ -n "${SHARDS:-}" ] && shards=(--shards "$SHARDS")

echo "local engine:" >&2
python3 benchmarks/sample_memory.py -- "$billing" verify "$data" --out "$out/local" 2>&1 | tail -1
echo "spark $master:" >&2
python3 benchmarks/sample_memory.py -- "$billing" verify "$data" --out "$out/spark" --engine spark \
  --master "$master" "${shards[@]}" 2>&1 | grep -E "^\[|sample_memory"
for f in exceptions.csv exceptions.parquet summary.json; do
  cmp "$out/local/$f" "$out/spark/$f" && echo "$f: the same bytes"
done
