"""Time the cash application on a large dataset, with its references as the dataset has them or rewritten the
way banks pass them on. Run it under GNU time for the peak memory; record the figures in RESULTS.md.

usage: /usr/bin/time -v python benchmarks/bench_cash_application.py DATA [--bank-variants]

``--bank-variants`` rewrites every reference that names an invoice (deterministically, by payment number) into
one of: lower case, no zero padding (``INV-4611``), ``Inv. 4611``, ``Invoice no 0004611``, the number with the
customer id beside (``INV-0004611/C-00048``), and blanks the ``invoice_id`` column, so every payment that names
its invoice is placed by reading the text. It prints how many payments each method placed and the wall and CPU
seconds the cash application took (loading excluded; CPU time is the steadier figure on a shared machine).
"""
from __future__ import annotations

import argparse
import time

import polars as pl

from billing_lib.data.loading import load_dataset
from billing_lib.engine.cash_application import apply_payments


def bank_variants(payments: pl.DataFrame) -> pl.DataFrame:
    """References rewritten the ways banks write them; the invoice_id column left empty."""
    number = pl.col("reference").str.extract(r"INV-(\d+)", 1)
    bare = number.str.strip_chars_start("0")
    pick = pl.col("payment_id").str.extract(r"(\d+)$", 1).cast(pl.Int64) % 5
    text = (pl.when(pick == 0).then(pl.col("reference").str.to_lowercase())
            .when(pick == 1).then(pl.concat_str([pl.lit("Payment INV-"), bare, pl.lit(" thanks")]))
            .when(pick == 2).then(pl.concat_str([pl.lit("Inv. "), bare]))
            .when(pick == 3).then(pl.concat_str([pl.lit("Invoice no "), number]))
            .otherwise(pl.concat_str([pl.lit("INV-"), number, pl.lit("/"), pl.col("customer_id")])))
    return payments.with_columns(reference=pl.when(number.is_not_null()).then(text).otherwise(pl.col("reference")),
                                 invoice_id=pl.lit(None, pl.String))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--bank-variants", action="store_true")
    args = parser.parse_args()
    ds = load_dataset(args.data)
    payments = ds.tables["payments"]
    if args.bank_variants:
        payments = bank_variants(payments)
    start, cpu = time.perf_counter(), time.process_time()
    apps = apply_payments(ds.tables["invoices"], payments, ds.frame("credit_notes"), ds.tables["customers"])
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    placed = apps.group_by("method").agg(pl.col("payment_id").n_unique().alias("payments")).sort("method")
    print(f"invoices {ds.tables['invoices'].height:,}, payments {payments.height:,}, "
          f"applications {apps.height:,}, unapplied {payments.height - apps['payment_id'].n_unique():,}")
    for method, count in placed.iter_rows():
        print(f"  {method}: {count:,} payments")
    print(f"cash application: {seconds:.2f} s wall, {cpu_seconds:.2f} s CPU (all threads)")


if __name__ == "__main__":
    main()
