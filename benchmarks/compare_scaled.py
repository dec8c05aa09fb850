"""Check that `billing verify` found on a scaled dataset (`benchmarks/scale_dataset.py`) exactly what it found
on the dataset it was made from, once per copy.

    python benchmarks/compare_scaled.py OUT_OF_SRC OUT_OF_SCALED [--copies 10]

Both arguments are `billing verify` output folders. Each finding of the scaled run belongs to the copy whose
tag its ids carry; with the tag taken out of its text, copy k's findings must be SRC's, row for row (the
exception ids differ, as they hash the tagged ids, and are left out). Exits 1 naming the first difference.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from scale_dataset import tag  # noqa: E402

ID_COLUMNS = ("customer_id", "invoice_id", "subscription_id", "payment_id")


def findings(folder: Path) -> pl.DataFrame:
    """The findings of a run, every column as text, without the exception id."""
    return pl.read_csv(folder / "exceptions.csv", infer_schema=False).drop("exception_id")


def copy_of(scaled: pl.DataFrame, k: int) -> pl.DataFrame:
    """The findings whose ids carry copy ``k``'s tag, with the tag taken out of every column."""
    mine = pl.any_horizontal(pl.col(c).str.starts_with(tag(k)).fill_null(False) for c in ID_COLUMNS)
    return (scaled.filter(mine)
            .with_columns(pl.col(c).str.replace_all(tag(k), "", literal=True) for c in scaled.columns))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src_out", type=Path)
    parser.add_argument("scaled_out", type=Path)
    parser.add_argument("--copies", type=int, default=10)
    args = parser.parse_args()
    src, scaled = findings(args.src_out), findings(args.scaled_out)
    if scaled.height != src.height * args.copies:
        print(f"{scaled.height:,} findings, not {args.copies} x {src.height:,}", file=sys.stderr)
        return 1
    order = src.columns
    expected = src.sort(order, nulls_last=True)
    for k in range(args.copies):
        got = copy_of(scaled, k).sort(order, nulls_last=True)
        if not got.equals(expected):
            diff = got.join(expected, on=order, how="anti", nulls_equal=True)
            print(f"copy {k}: {got.height:,} findings, {diff.height:,} not in SRC's, e.g. {diff.head(1).rows()}",
                  file=sys.stderr)
            return 1
    print(f"ok: {scaled.height:,} findings, SRC's {src.height:,} in each of {args.copies} copies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
