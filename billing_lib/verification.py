"""Run the check catalogue over a dataset and write the exceptions a run produces.

``verify(ds, months)`` runs every registered check and returns a
:class:`VerificationResult`: the exceptions as a polars frame in the
contract's columns and deterministic order, and a summary. ``write_results``
writes ``exceptions.csv``, ``exceptions.parquet`` and ``summary.json``
atomically.

Checks of scope ``customer`` only look at one customer's documents, so they
can run on shards of customers (``Dataset.only_customers``) in parallel and
be concatenated; checks of scope ``global`` (the invoice number sequence, references to
customers that do not exist, the ledger) need the whole dataset.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from billing_lib.checks.base import CATALOGUE, FINDING_SCHEMA, KEY_COLUMNS, REGISTRY, Check, catalogue
from billing_lib.checks.context import SHARED_FRAMES, CheckContext, CrossCustomerFrames, polars_engine
from billing_lib.core.currency import format_money
from billing_lib.core.memory import memory_budget
from billing_lib.core.money import money_text_where_currency
from billing_lib.core.output import atomic_outputs, neutralize_formulas
from billing_lib.data.dataset import Dataset
from billing_lib.data.footprint import dataset_bytes
from billing_lib.data.loading import load_dataset
from billing_lib.data.spill import IN_MEMORY_FILESYSTEMS, filesystem_type
from billing_lib.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

EXCEPTION_COLUMNS = ["exception_id", "check", "severity", *KEY_COLUMNS, "expected", "actual", "difference",
                     "currency", "message", "period", "at_stake"]
SORT_KEYS = ["check_order", "customer_id", "invoice_id", "line_no", "subscription_id", "payment_id", "period",
             "detail"]


@dataclass
class VerificationResult:
    """Exceptions of one run and its summary."""

    exceptions: pl.DataFrame
    summary: dict

    def to_pandas(self) -> pd.DataFrame:
        """The exceptions as a pandas frame."""
        return self.exceptions.to_pandas()


def select_checks(names: list[str] | None = None, scope: str | None = None) -> list[Check]:
    """The registered checks, in catalogue order, optionally only some names or one scope."""
    if names:
        unknown = sorted(set(names) - set(REGISTRY))
        if unknown:
            raise ParameterError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(CATALOGUE)}")
    return [c for c in catalogue() if (names is None or c.name in names) and (scope is None or c.scope == scope)]


Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


def run_checks(ctx: CheckContext, checks: list[Check], progress: Progress = _quiet,
               release: bool = False, keep: frozenset[str] = frozenset(),
               numbered: tuple[int, int] | None = None) -> pl.DataFrame:
    """Run ``checks`` on a context and return their raw findings with ``check`` and ``severity``.

    ``progress`` is called with a short line before each check (the CLI prints them). ``release``: free each
    shared frame of the context, and each releasable table of its dataset, once no check left to run reads it
    (for a context nothing reads afterwards; on the 1M-line benchmark the usage events, 0.44 GB, are let go
    after the second check, the invoice lines and the rated charges, 1.4 GB, before the ledger); ``keep``: the
    shared frames to keep all the same (what shards read from the whole dataset's context); ``numbered``: the
    checks already run and the checks of the whole run, where this call runs some of them.
    """
    done, total = numbered or (0, len(checks))
    frames = []
    for i, c in enumerate(checks, 1):
        progress(f"[{done + i}/{total}] {c.name}")
        # collected one by one: collect_all optimizes the plans together, which costs more than it saves
        frames.append(c.collect(ctx).with_columns(check=pl.lit(c.name), severity=pl.lit(c.severity)))
        if release:
            ctx.release(keep.union(*(later.reads for later in checks[i:])))
    if not frames:
        return pl.DataFrame(schema={**FINDING_SCHEMA, "check": pl.String, "severity": pl.String})
    return pl.concat(frames, how="vertical")


def exception_id(row: tuple) -> str:
    """Stable fingerprint of a finding: the check and the keys that locate it."""
    text = "\x1f".join("" if v is None else str(v) for v in row)
    return "EX-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16].upper()


def finalize(raw: pl.DataFrame) -> pl.DataFrame:
    """Give findings their ids and the contract's column order and deterministic row order."""
    order = {name: i for i, name in enumerate(CATALOGUE)}
    ident = ["check", *KEY_COLUMNS, "period", "detail"]
    frame = raw.with_columns(check_order=pl.col("check").replace_strict(order, default=len(order)))
    frame = frame.sort(SORT_KEYS, nulls_last=False, maintain_order=True)
    ids = [exception_id(r) for r in frame.select(ident).iter_rows()]
    frame = frame.with_columns(exception_id=pl.Series(ids, dtype=pl.String))
    # the same finding reported twice (e.g. by two shards) is one exception
    frame = frame.unique("exception_id", keep="first", maintain_order=True)
    return frame.select(EXCEPTION_COLUMNS)


def summary_of(exceptions: pl.DataFrame, months: list[dt.date], row_counts: dict[str, int],
               checks: list[Check]) -> dict:
    """Counts by check and severity and money at stake by currency (plain data, no clock), from the verified
    months and the rows per table."""
    by_check = {c.name: {"severity": c.severity, "count": 0} for c in checks}
    for rec in exceptions.group_by("check").len().iter_rows(named=True):
        by_check.setdefault(rec["check"], {"severity": "", "count": 0})["count"] = rec["len"]
    by_severity = {s: 0 for s in ("error", "warning", "info")}
    for rec in exceptions.group_by("severity").len().iter_rows(named=True):
        by_severity[rec["severity"]] = rec["len"]
    stake = (exceptions.filter(pl.col("currency").is_not_null() & pl.col("at_stake").is_not_null())
             .group_by("currency").agg(pl.col("at_stake").sum()).sort("currency"))
    at_stake = {r["currency"]: format_money(r["at_stake"], r["currency"]) for r in stake.iter_rows(named=True)}
    return {
        "periods": [m.strftime("%Y-%m") for m in months],
        "exceptions": exceptions.height,
        "by_severity": by_severity,
        "by_check": by_check,
        "at_stake_by_currency": at_stake,
        "rows_checked": dict(sorted(row_counts.items())),
    }


def verify(ds: Dataset, months: list[dt.date] | None = None, checks: list[str] | None = None,
           progress: Progress = _quiet) -> VerificationResult:
    """Run the check catalogue (or the named checks) over ``months`` (default: every invoiced month).

    The run frees what no check left to run reads, the usage events among them: a caller that keeps no
    reference to ``ds`` (``verify(load_dataset(folder))``) lets their memory go."""
    ctx = CheckContext(ds, months)
    rows = ds.row_counts()
    del ds  # from here the context alone holds the dataset
    chosen = select_checks(checks)
    # the checks that read tables only (the ledger's) run first: the table they alone read is let go before
    # the shared frames are made, which lowers the run's peak (the findings' order does not depend on it)
    tables_only = [c for c in chosen if not c.reads & set(SHARED_FRAMES)]
    shared = [c for c in chosen if c not in tables_only]
    later = frozenset().union(*(c.reads for c in shared))
    parts = [run_checks(ctx, tables_only, progress, release=True, keep=later, numbered=(0, len(chosen)))]
    if shared:
        progress(f"rating {len(ctx.months)} month(s) from contracts, usage and the price book")
        ctx.expected  # noqa: B018  (rated once here, so progress shows where the time goes)
        parts.append(run_checks(ctx, shared, progress, release=True, numbered=(len(tables_only), len(chosen))))
    exceptions = finalize(pl.concat(parts, how="vertical"))
    return VerificationResult(exceptions, summary_of(exceptions, ctx.months, rows, chosen))


def customer_shards(ds: Dataset, shards: int) -> list[list[str]]:
    """Split the customers into ``shards`` groups of about equal size (deterministic: by sorted id).

    Customer ids that documents name but the customers table lacks are shared out too, so their
    invoices and payments are checked in some shard. Customers that carry one invoice number are kept in one
    shard (with every customer linked to them that way): an invoice's lines are found by its number, so a
    shard that held one of them only would give it the lines of both.
    """
    named = [ds.frame(t).select("customer_id") for t in ("customers", "subscriptions", "invoices", "payments")]
    engine = polars_engine(sum(ds.row_counts().values()))
    ids = pl.concat(named).unique().drop_nulls().collect(engine=engine).to_series()
    units = (pl.DataFrame({"customer_id": ids}).join(linked_customers(ds, engine), on="customer_id", how="left")
             .with_columns(pl.col("unit").fill_null(pl.col("customer_id")))
             .group_by("unit").agg(pl.col("customer_id").sort()).sort("unit"))
    members = units["customer_id"].to_list()
    groups = [sorted(c for unit in members[i::shards] for c in unit) for i in range(shards)]
    return [g for g in groups if g]


def linked_customers(ds: Dataset, engine: str = "auto") -> pl.DataFrame:
    """Customers linked by invoice numbers they carry together, with their ``unit`` (see
    :func:`customer_units`)."""
    carried = ds.frame("invoices").select("invoice_id", "customer_id").drop_nulls().unique()
    # once unique, a number on two rows is carried by two customers
    return customer_units(carried.filter(pl.col("invoice_id").is_duplicated()).collect(engine=engine))


def customer_units(pairs: pl.DataFrame) -> pl.DataFrame:
    """From the (``invoice_id``, ``customer_id``) pairs of numbers several customers carry: each such customer
    with ``unit``, the smallest customer id of the customers linked to it by numbers (directly or through
    others), found by spreading the smallest id along the numbers until nothing changes (as many rounds as the
    longest chain of links, one or two in practice)."""
    units = pairs.select("customer_id", unit="customer_id").unique("customer_id")
    while True:
        by_number = pairs.join(units, on="customer_id").group_by("invoice_id").agg(pl.col("unit").min())
        spread = (pairs.join(by_number, on="invoice_id").group_by("customer_id").agg(pl.col("unit").min())
                  .join(units, on="customer_id", suffix="_was")
                  .with_columns(pl.min_horizontal("unit", "unit_was").alias("unit")))
        if spread.filter(pl.col("unit") != pl.col("unit_was")).is_empty():
            return units.sort("customer_id")
        units = spread.select("customer_id", "unit")


# A plain run's peak memory is about 4.5 times the bytes its tables hold as values (the 1M-line benchmark:
# 3.0 GiB for 0.68 GiB of Parquet columns, 3.1 GiB for 0.84 GiB of CSV).
PEAK_PER_DATA_BYTE = 4.5
IN_MEMORY_SHARE = 0.6  # a plain run while its peak would take at most this share of the memory at hand
SHARD_SHARE = 0.2  # else groups of customers whose plain run would take this share each


def shards_for(folder: str | Path) -> int:
    """How many groups of customers to check the dataset in ``folder`` in: 1 (a plain run, in memory) while
    its estimated peak fits the memory at hand (:func:`~billing_lib.core.memory.memory_budget`) with room to
    spare, else enough that each group's would take a fifth of it (its tables then wait on disk)."""
    need = dataset_bytes(folder) * PEAK_PER_DATA_BYTE
    budget = memory_budget()
    if budget is None or need <= IN_MEMORY_SHARE * budget:
        return 1
    return math.ceil(need / (SHARD_SHARE * budget))


def verify_sharded(ds: Dataset, shards: int, months: list[dt.date] | None = None,
                   checks: list[str] | None = None, progress: Progress = _quiet) -> VerificationResult:
    """Like :func:`verify`, but the per-customer checks run on ``shards`` groups of customers.

    Each shard is independent (it could run on another worker of a distributed
    engine) but for the cash application, computed once over the whole dataset and
    handed to every shard; the global checks run once over the whole dataset. The
    result is the same as :func:`verify`'s. On a dataset spilled to disk (``load_dataset(...,
    spill_to=...)``), one shard is in memory at a time, and the whole dataset's frames are freed once the
    global checks are done but the cash application the shards read.
    """
    whole = CheckContext(ds, months)
    chosen = select_checks(checks)
    rows = ds.row_counts()
    progress("global checks on the whole dataset")
    kept = frozenset(("applications", "unknown_payer_payments"))  # read by every shard
    parts = [run_checks(whole, [c for c in chosen if c.scope == "global"], progress, release=True, keep=kept)]
    groups = customer_shards(ds, max(1, shards))
    for i, ids in enumerate(groups, 1):
        progress(f"shard {i}/{len(groups)}: {len(ids):,} customers")
        part = ds.only_customers(ids)
        # the shard's cash application rows: of its customers' invoices and of its payments
        theirs = pl.col("customer_id").is_in(pl.Series(ids, dtype=pl.String).implode())
        paid_here = pl.col("payment_id").is_in(part.frame("payments").select("payment_id").collect().to_series()
                                               .implode())
        cross = CrossCustomerFrames(whole.applications.filter(theirs | paid_here), whole.unknown_payer_payments)
        shard = CheckContext(part, whole.months, cross=cross)
        parts.append(run_checks(shard, [c for c in chosen if c.scope == "customer"], release=True))
        del shard, part
    exceptions = finalize(pl.concat(parts, how="vertical"))
    return VerificationResult(exceptions, summary_of(exceptions, whole.months, rows, chosen))


def verify_from_disk(folder: str | Path, shards: int, months: list[dt.date] | None = None,
                     checks: list[str] | None = None, progress: Progress = _quiet,
                     work_dir: str | Path | None = None) -> VerificationResult:
    """:func:`verify_sharded` on the dataset in ``folder``, its tables kept on disk once validated (as typed
    Parquet in a temporary folder under ``work_dir``, default the system's, removed at the end) and one shard
    of customers in memory at a time: for data larger than memory (``billing verify --shards N``)."""
    with tempfile.TemporaryDirectory(prefix="billing-verify-", dir=work_dir) as spill:
        kind = filesystem_type(Path(spill))
        if kind in IN_MEMORY_FILESYSTEMS:
            progress(f"warning: {Path(spill).parent} is held in memory ({kind}), so the tables kept there take "
                     "memory: set TMPDIR to a folder on disk")
        ds = load_dataset(folder, spill_to=Path(spill))
        progress(f"loaded {sum(ds.row_counts().values()):,} rows (kept on disk, {spill})")
        return verify_sharded(ds, shards, months, checks, progress)


def write_results(result: VerificationResult, out_dir: str | Path) -> list[Path]:
    """Write exceptions.csv, exceptions.parquet and summary.json into ``out_dir`` atomically."""
    out = Path(out_dir)
    table = result.exceptions.with_columns(
        at_stake=money_text_where_currency(pl.col("at_stake")))
    with atomic_outputs(out) as stage:
        neutralize_formulas(table).write_csv(stage / "exceptions.csv", line_terminator="\n")
        table.write_parquet(stage / "exceptions.parquet", statistics=False)
        (stage / "summary.json").write_text(json.dumps(result.summary, indent=2, sort_keys=True) + "\n",
                                            encoding="utf-8")
    return [out / "exceptions.csv", out / "exceptions.parquet", out / "summary.json"]


def write_findings_excel(result: VerificationResult, out_dir: str | Path) -> Path:
    """Write ``exceptions.xlsx`` into ``out_dir``: the findings of exceptions.csv for the billing team, each
    check named by its title, money as numbers with its currency's digits, no cell able to run as a formula."""
    from billing_lib.month_end.excel import write_schedules  # openpyxl only where a spreadsheet is asked for
    titles = {name: check.title for name, check in REGISTRY.items()}
    findings = result.exceptions.select(
        "exception_id", pl.col("check").replace_strict(titles, default=pl.col("check")).alias("check"),
        pl.exclude("exception_id", "check"))
    by_check = (findings.group_by("check", "severity", maintain_order=True).len("findings"))
    return write_schedules(Path(out_dir) / "exceptions.xlsx", {"Findings": findings, "By check": by_check})
