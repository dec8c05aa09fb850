"""``synthesize``: the whole generator, from reference data to ground truth, written atomically."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from billing_lib.core.output import atomic_outputs
from billing_lib.core.periods import parse_period, period_name
from billing_lib.data.contract import FILE_SUFFIXES, TABLES
from billing_lib.data.table_text import (
    credit_notes_text,
    gl_text,
    invoices_text,
    lines_text,
    payments_text,
    write_tables,
)
from billing_lib.errors import ParameterError
from billing_lib.invoicing.assemble import build_invoices
from billing_lib.synth.anomalies import TRUTH_COLUMNS, TaxChange, plant_mistakes
from billing_lib.synth.config import FORMATS, RATE_CHANGE, SynthConfig
from billing_lib.synth.ledger import gl_entries
from billing_lib.synth.numbering import number_text, plant_gaps
from billing_lib.synth.rate import rated_charges, typed_dataset
from billing_lib.synth.rates import rate_change_date
from billing_lib.synth.reference import reference_tables
from billing_lib.synth.settlement import credit_notes, doubtful_debts, payments, with_status
from billing_lib.synth.settlement_mistakes import (
    Planter,
    excess_notes,
    ledger_mistakes,
    payment_mistakes,
    status_mistakes,
)


def make_config(seed: int, customers: int, months: int, anomaly_rate: float, fmt: str, start: str,
                usage_events: float) -> SynthConfig:
    """Check the arguments and bundle them; ParameterError names the first wrong one."""
    if customers < 1:
        raise ParameterError(f"--customers must be at least 1 (got {customers})")
    if not 1 <= months <= 120:
        raise ParameterError(f"--months must be between 1 and 120 (got {months})")
    if not 0 <= anomaly_rate <= 1:
        raise ParameterError(f"--anomaly-rate must be between 0 and 1 (got {anomaly_rate})")
    if fmt not in FORMATS:
        raise ParameterError(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    if usage_events < 0:
        raise ParameterError(f"--usage-events must be 0 or more (got {usage_events})")
    parse_period(start)
    return SynthConfig(seed=seed, customers=customers, months=months, anomaly_rate=anomaly_rate, fmt=fmt,
                       start=start, usage_events=usage_events)


def _void_key(charges: pl.DataFrame, customer_id: str | None, cfg: SynthConfig) -> tuple[str, dt.date] | None:
    if customer_id is None:
        return None
    period = cfg.month_starts[min(1, cfg.months - 1)]
    has = charges.filter((pl.col("customer_id") == customer_id) & (pl.col("period") == period)).height
    return (customer_id, period) if has else None


def _truth_text(truth: pl.DataFrame, gaps: pl.DataFrame, numbers: pl.DataFrame, width: int,
                extra: pl.DataFrame) -> pl.DataFrame:
    rows = (truth.join(numbers, on="inv", how="left")
            .select("anomaly", "check", "customer_id", number_text(pl.col("number"), width).alias("invoice_id"),
                    "line_no", "subscription_id", pl.lit(None, pl.String).alias("payment_id"), "period"))
    gap_rows = gaps.select(pl.lit("invoice_number_skipped").alias("anomaly"),
                           pl.lit("invoice_number_gap").alias("check"), pl.lit(None, pl.String).alias("customer_id"),
                           number_text(pl.col("missing"), width).alias("invoice_id"),
                           pl.lit(None, pl.Int64).alias("line_no"), pl.lit(None, pl.String).alias("subscription_id"),
                           pl.lit(None, pl.String).alias("payment_id"), "period")
    return (pl.concat([rows, gap_rows, extra.select(rows.columns)], how="vertical_relaxed")
            .with_columns(period=pl.col("period").dt.strftime("%Y-%m"))
            .sort("check", "customer_id", "invoice_id", "line_no", "subscription_id", "period", "anomaly",
                  "payment_id", nulls_last=False)
            .select(TRUTH_COLUMNS))


def synthesize(out: str | Path, *, seed: int = 7, customers: int = 60, months: int = 6,
               anomaly_rate: float = 0.03, fmt: str = "csv", start: str = "2024-01",
               usage_events: float = 8.0) -> str:
    """Write a synthetic billing dataset with planted mistakes and its ``ground_truth.csv`` into ``out``.

    Same arguments give byte-identical files. ``usage_events`` is the average number of usage
    events per usage subscription and month. Returns a one-paragraph summary.
    """
    cfg = make_config(seed, customers, months, anomaly_rate, fmt, start, usage_events)
    ref = reference_tables(cfg)
    ds = typed_dataset(ref.tables, Path(out))
    charges = rated_charges(ds, cfg.month_starts)
    invoices = build_invoices(charges, _void_key(charges, ref.people.roles.get("void_pair"), cfg))
    change = TaxChange(RATE_CHANGE[0], RATE_CHANGE[1], rate_change_date(cfg))
    planted = plant_mistakes(invoices.lines, invoices.headers, ds.tables["customers"],
                             sorted(ref.people.roles.values()), cfg.anomaly_rate, change, cfg.rng(31))
    headers, gaps = plant_gaps(planted.headers, cfg.anomaly_rate, cfg.rng(41))
    width = max(7, len(str(int(headers["number"].max()))))
    headers = headers.with_columns(invoice_id=number_text(pl.col("number"), width))
    numbers = headers.select("inv", "number", "invoice_id", pl.col("currency").alias("invoice_currency"))
    lines = planted.lines.join(numbers, on="inv")
    notes = credit_notes(headers, lines, cfg.rng(51))
    planter = Planter(headers, lines, sorted(ref.people.roles.values()), cfg.anomaly_rate, cfg.rng(71))
    notes, truth_notes = excess_notes(planter, notes)
    pays, truth_pays = payment_mistakes(planter, payments(headers, notes, cfg.rng(61)), cfg.last_day)
    headers, truth_status = status_mistakes(planter, with_status(headers, notes, pays))
    gl_plants, truth_gl = ledger_mistakes(planter, pays, cfg.last_day)
    unpaid = headers.join(pays.select("inv").drop_nulls(), on="inv", how="anti").join(notes.select("inv"), on="inv",
                                                                                       how="anti")
    doubtful, write_offs = doubtful_debts(unpaid, planter.pick, cfg.last_day)
    headers = headers.with_columns(status=pl.when(pl.col("inv").is_in(doubtful["inv"].implode()))
                                   .then(pl.lit("uncollectible")).otherwise(pl.col("status")))
    void_dates = (headers.filter(pl.col("variant") == "void").select("inv", "customer_id", "period")
                  .join(headers.filter(pl.col("variant") == "reissue").select("customer_id", "period",
                                                                              pl.col("issue_date").alias("date")),
                        on=["customer_id", "period"]).select("inv", "date"))
    gl = gl_entries(headers, lines, notes, pays, cfg.month_starts, void_dates, gl_plants, write_offs)
    truth = _truth_text(planted.truth, gaps, numbers, width,
                        pl.concat([truth_notes, truth_pays, truth_status, truth_gl]))

    tables = {**ref.tables, "invoices": invoices_text(headers), "invoice_lines": lines_text(lines),
              "credit_notes": credit_notes_text(notes), "payments": payments_text(pays), "gl_entries": gl_text(gl),
              "ground_truth": truth}
    with atomic_outputs(out) as stage:
        written = write_tables(stage, tables, cfg.fmt)
    _remove_stale(Path(out), {p.name for p in written})
    return _summary(out, cfg, tables)


def _remove_stale(out: Path, keep: set[str]) -> None:
    """Drop tables of an earlier run in another format, so each table is in the folder once."""
    for name in TABLES:
        for suffix in FILE_SUFFIXES:
            path = out / f"{name}{suffix}"
            if path.name not in keep and path.is_file():
                path.unlink()


def _summary(out: str | Path, cfg: SynthConfig, t: dict[str, pl.DataFrame]) -> str:
    cust = t["customers"]
    checks = t["ground_truth"]["check"].n_unique()
    first, last = period_name(cfg.month_starts[0]), period_name(cfg.month_starts[-1])
    return (f"Wrote a synthetic billing dataset to {out} ({cfg.fmt}, seed {cfg.seed}, periods {first}..{last}): "
            f"{cust.height} customers in {cust['country'].n_unique()} countries and "
            f"{cust['currency'].n_unique()} currencies, {t['subscriptions'].height} subscriptions, "
            f"{t['usage'].height} usage events, {t['invoices'].height} invoices with "
            f"{t['invoice_lines'].height} lines, {t['payments'].height} payments, "
            f"{t['credit_notes'].height} credit note(s) and {t['gl_entries'].height} ledger lines; "
            f"{t['ground_truth'].height} planted mistakes of {checks} kinds (anomaly rate {cfg.anomaly_rate:g}) "
            f"are listed in ground_truth.csv.")
