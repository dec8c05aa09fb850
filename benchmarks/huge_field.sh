#!/usr/bin/env bash
# Memory on a single huge value: a 1 GiB field in a dataset's CSV (unquoted, and quoted with line breaks
# inside), in an importer's source CSV, and a 1 GiB Lago JSON file. Each must stop with exit 2 and one
# message naming file, row and column, in bounded memory (the value is never parsed). Prints exit code,
# the message's first line, wall time and peak memory from GNU time (/usr/bin/time -v); record them in
# benchmarks/RESULTS.md.
#
# usage: benchmarks/huge_field.sh [WORK_DIR]    (default /work/bench-data/safety; SIZE_MIB=1024)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-/work/bench-data/safety}"
size_mib="${SIZE_MIB:-1024}"
billing="${BILLING:-billing}"
mkdir -p "$work"

python3 - "$work" "$size_mib" <<'PY'
import shutil, sys
from pathlib import Path

work, size = Path(sys.argv[1]), int(sys.argv[2]) << 20
block = 1 << 20


def fill(fh, total: int, pattern: bytes) -> None:
    """Write ``total`` bytes of ``pattern`` repeated, a MiB at a time (never the whole value in memory)."""
    chunk = (pattern * (block // len(pattern) + 1))[:block]
    for _ in range(total // block):
        fh.write(chunk)
    fh.write(chunk[: total % block])


def dataset(name: str, before: bytes, pattern: bytes, after: bytes) -> None:
    folder = work / name
    if (folder / ".complete").exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree("data/sample", folder)
    lines = (folder / "customers.csv").read_bytes().splitlines(keepends=True)
    with (folder / "customers.csv").open("wb") as fh:
        fh.write(lines[0] + lines[1] + before)
        fill(fh, size, pattern)
        fh.write(after + b"".join(lines[2:]))
    (folder / ".complete").touch()


dataset("field-plain", b"C-99999,", b"A", b",,DE,EUR,30,false\n")
dataset("field-quoted", b'C-99999,"', b"x" * 79 + b"\n", b'",,DE,EUR,30,false\n')
retail = work / "online-retail-field.csv"
if not retail.exists():
    with retail.open("wb") as fh:
        fh.write(b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
                 b"536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26,2.55,17850,United Kingdom\n536366,22633,")
        fill(fh, size, b"B")
        fh.write(b",6,2010-12-01 08:28,1.85,17850,United Kingdom\n")
lago = work / "lago-field.json"
if not lago.exists():
    with lago.open("wb") as fh:
        fh.write(b'{"invoice": {"lago_id": "')
        fill(fh, size, b"C")
        fh.write(b'"}}')
PY

run() {  # label, command...
  local label="$1"; shift
  local log="$work/$label.time"
  set +e
  /usr/bin/time -v "$@" > /dev/null 2> "$log"
  local code=$?
  set -e
  local said
  said="$(grep -m1 -E '^  - ' "$log" || grep -m1 -E '^billing' "$log" || true)"
  printf '%-22s exit %s  %s\n' "$label" "$code" "$(echo "$said" | sed 's/^ *- //' | cut -c1-160)"
  grep -E "Elapsed \(wall clock\)|Maximum resident set size" "$log" | sed 's/^\s*/    /'
}

run baseline-sample "$billing" validate data/sample
run field-plain "$billing" validate "$work/field-plain"
run field-quoted "$billing" validate "$work/field-quoted"
run import-online-retail "$billing" import online-retail "$work/online-retail-field.csv" --out "$work/out-retail"
run import-lago "$billing" import lago "$work/lago-field.json" --out "$work/out-lago"
