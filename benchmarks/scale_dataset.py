"""Write a dataset N times over, each copy with its own customers, documents and ids, for `billing verify` at
ten times the benchmark's size.

`billing synth` keeps a dataset in memory while it makes it, and at ten times the 1M-line benchmark (630,000
customers, 100M usage events) it needs more than this machine's 24 GiB. This script streams instead: each
table is read once per copy (`scan_parquet`/`scan_csv`) and written with `sink_parquet`, so its memory
stays small whatever N is.

Copy k (0 <= k < N, at most 10) puts the tag `Z<k>` in front of every id a customer owns (customer,
subscription, usage event, invoice, credit note, payment, journal entry and the document a journal line
names) and in front of the invoice numbers a payment's reference names. The price book, tax rates and
exchange rates are shared, given once. The copies cannot see each other, so a verification of the result
must find exactly what it finds on SRC, once per copy, with the tag in front of its ids:
`benchmarks/compare_scaled.py` checks that.

    python benchmarks/scale_dataset.py SRC OUT [--copies 10] [--format parquet|csv]

SRC is a dataset folder of CSV or Parquet tables (as `load_dataset` reads them); OUT gets Parquet tables
(default) or CSV ones (from a CSV SRC, every value as SRC writes it).
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import polars as pl

# the id columns a copy tags, per table; tables not named here (the price book, tax and exchange rates) are
# shared by every copy and written once
TAGGED = {
    "customers": ("customer_id",),
    "subscriptions": ("subscription_id", "customer_id"),
    "usage": ("event_id", "subscription_id"),
    "invoices": ("invoice_id", "customer_id"),
    "invoice_lines": ("invoice_id", "subscription_id"),
    "credit_notes": ("credit_note_id", "invoice_id"),
    "payments": ("payment_id", "customer_id", "invoice_id"),
    "gl_entries": ("entry_id", "source_id"),
}
# invoice numbers in the free text of payment references carry the tag too (synth writes them as INV-...)
REFERENCE_NUMBER = r"(INV-\d)"


def tag(k: int) -> str:
    """The tag of copy ``k``: one letter and one digit, so that no tag is part of another."""
    return f"Z{k}"


def _scan(path: Path) -> pl.LazyFrame:
    if path.suffix == ".csv":
        return pl.scan_csv(path, infer_schema=False)
    return pl.scan_parquet(path)


def tagged_copy(frame: pl.LazyFrame, table: str, k: int) -> pl.LazyFrame:
    """Copy ``k`` of a table: its ids (and the invoice numbers its references name) with the copy's tag."""
    names = frame.collect_schema().names()
    columns = [c for c in TAGGED[table] if c in names]
    out = frame.with_columns((pl.lit(tag(k)) + pl.col(c)).alias(c) for c in columns)
    if table == "payments" and "reference" in names:
        out = out.with_columns(pl.col("reference").str.replace_all(REFERENCE_NUMBER, f"{tag(k)}$1"))
    return out


def scale(src: Path, out: Path, copies: int, fmt: str = "parquet") -> None:
    """Write ``copies`` tagged copies of the dataset in ``src`` to ``out`` as Parquet (or CSV) tables."""
    if not 1 <= copies <= 10:
        raise SystemExit(f"--copies must be 1 to 10, not {copies}")
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(p for p in src.iterdir() if p.suffix in (".csv", ".parquet")):
        table = path.stem
        if table == "ground_truth":
            continue
        frame = _scan(path)
        target = out / f"{table}.{fmt}"
        whole = pl.concat([tagged_copy(frame, table, k) for k in range(copies)]) if table in TAGGED else frame
        if table not in TAGGED and path.suffix == f".{fmt}":
            shutil.copyfile(path, target)
        elif fmt == "csv":
            whole.sink_csv(target)
        else:
            whole.sink_parquet(target)
        rows = _scan(target).select(pl.len()).collect().item()
        print(f"{table}: {rows:,} rows", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    args = parser.parse_args()
    scale(args.src, args.out, args.copies, args.format)


if __name__ == "__main__":
    main()
