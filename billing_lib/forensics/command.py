"""``billing forensics DATA --out DIR``: every forensic test over one dataset, and its files.

:func:`analyse` runs the tests (the workbook ``04_forensic_analytics`` calls it too); :func:`write_results`
writes them into the output folder all at once or not at all:

* ``benford.csv`` (``test, digits, count, found, expected, z_score``) and ``benford_summary.csv``
  (``test, n, mad, conformity, chi_square``), as shared/contract/CLI.md fixes them;
* ``summation.csv``, ``number_duplication.csv``, ``number_duplication_by_customer.csv``,
  ``invoice_duplicates.csv``, ``customer_duplicates.csv``, ``outliers.csv``, ``relative_size_factor.csv``,
  ``strata.csv``, ``mus_plan.csv``, ``mus_sample.csv``, ``random_sample.csv``;
* ``forensic_samples.xlsx``: the plan and both samples, with empty columns for the auditor's conclusion;
* ``forensics.json``: the options, the accounting of every row of the amount column, and the findings.

Rows are sorted and nothing depends on the clock: the same data and options give the same files. Money is
written with its currency's digits; text cells that a spreadsheet would run as formulas are neutralised.
"""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

import polars as pl

from billing_lib.core.money import DECIMAL, number_text, to_text
from billing_lib.core.output import atomic_outputs, neutralize_formulas
from billing_lib.data.dataset import Dataset
from billing_lib.errors import ParameterError
from billing_lib.forensics import digits, duplicates, findings, outliers, sampling, stratification
from billing_lib.forensics.defaults import DEFAULT_BOUNDS
from billing_lib.forensics.population import load_population, months_ending, parse_amounts
from billing_lib.forensics.results import ForensicsResult, Options

SAMPLES_FILE = "forensic_samples.xlsx"


def analyse(ds: Dataset, options: Options | None = None, months: tuple = ()) -> ForensicsResult:
    """Every forensic test over ``ds`` for ``months`` (first days; every month when empty), with ``options``
    (default: :class:`Options` as it is)."""
    options = options or Options()
    population = load_population(ds, options.amounts, months)
    frame = population.frame
    tested = population.tested(options.min_amount)
    benford, benford_summary = digits.benford(tested)
    plans, mus = sampling.monetary_unit_sample(frame, confidence=options.confidence,
                                               tolerable_pct=options.tolerable_pct,
                                               expected_pct=options.expected_pct, seed=options.seed)
    result = ForensicsResult(
        options=options, population=population, tested=tested, benford=benford, benford_summary=benford_summary,
        summation=digits.summation(tested), duplication=duplicates.number_duplication(tested),
        duplication_by_customer=duplicates.number_duplication_by_customer(tested),
        invoice_duplicates=duplicates.near_duplicate_invoices(ds, months, options.days),
        customer_duplicates=duplicates.duplicate_customers(ds, options.similarity),
        outliers=outliers.robust_outliers(frame), rsf=outliers.relative_size_factor(frame),
        strata=stratification.stratify(frame, options.bounds), mus_plans=plans, mus_sample=mus,
        random_sample=sampling.random_sample(frame, options.random_size, options.seed))
    return ForensicsResult(**{**result.__dict__, "findings": findings.findings(result)})


def _money_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Decimal columns as text: money with its currency's digits where the row has a currency and the value
    is whole at that precision, otherwise the exact value without trailing zeros."""
    exprs = []
    has_currency = "currency" in frame.columns
    for name, dtype in frame.schema.items():
        if not isinstance(dtype, pl.Decimal):
            continue
        exact = number_text(pl.col(name))
        if has_currency and name not in ("confidence_pct", "tolerable_pct", "expected_pct", "rsf",
                                         "count_share", "amount_share", "lower", "upper"):
            money = to_text(pl.col(name), pl.col("currency"))
            fits = money.cast(DECIMAL) == pl.col(name).cast(DECIMAL)
            exprs.append(pl.when(pl.col("currency").is_not_null() & fits).then(money).otherwise(exact).alias(name))
        else:
            exprs.append(exact.alias(name))
    return frame.with_columns(exprs) if exprs else frame


def _csv(frame: pl.DataFrame, path: Path) -> None:
    neutralize_formulas(_money_text(frame)).write_csv(path, date_format="%Y-%m-%d", float_precision=None)


def tables(result: ForensicsResult) -> dict[str, pl.DataFrame]:
    """Every CSV of a run by file name (frames as written, before text conversion)."""
    r = result
    return {"benford.csv": r.benford, "benford_summary.csv": r.benford_summary, "summation.csv": r.summation,
            "number_duplication.csv": r.duplication,
            "number_duplication_by_customer.csv": r.duplication_by_customer,
            "invoice_duplicates.csv": r.invoice_duplicates, "customer_duplicates.csv": r.customer_duplicates,
            "outliers.csv": r.outliers, "relative_size_factor.csv": r.rsf, "strata.csv": r.strata,
            "mus_plan.csv": plan_table(r), "mus_sample.csv": r.mus_sample, "random_sample.csv": r.random_sample}


def plan_table(result: ForensicsResult) -> pl.DataFrame:
    """The monetary-unit sample plan, one row per currency."""
    schema = {"currency": pl.String, "book_value": DECIMAL, "items": pl.Int64, "confidence_pct": DECIMAL,
              "tolerable_pct": DECIMAL, "expected_pct": DECIMAL, "sample_size": pl.Int64, "interval": DECIMAL,
              "random_start": DECIMAL, "seed": pl.Int64}
    return pl.DataFrame([p.as_row() for p in result.mus_plans], schema=schema, orient="row")


def summary_json(result: ForensicsResult) -> dict:
    """forensics.json: options, source, months, accounting of the rows, findings."""
    return {"source": result.population.source, "months": result.population.span,
            "options": result.options.as_dict(), "rows": result.population.accounted,
            "tested_amounts": result.tested.height, "findings": result.findings}


def write_results(result: ForensicsResult, out_dir: str | Path) -> list[Path]:
    """Write every file of the run into ``out_dir`` (created when missing), all of them or none."""
    from billing_lib.month_end.excel import write_schedules
    out = Path(out_dir)
    with atomic_outputs(out) as stage:
        names = []
        for name, frame in tables(result).items():
            _csv(frame, stage / name)
            names.append(name)
        write_schedules(stage / SAMPLES_FILE, {
            "MUS plan": plan_table(result),
            "MUS sample": sampling.with_auditor_columns(result.mus_sample),
            "Random sample": sampling.with_auditor_columns(result.random_sample)})
        (stage / "forensics.json").write_text(json.dumps(summary_json(result), indent=2, sort_keys=True) + "\n",
                                              encoding="utf-8")
        names += [SAMPLES_FILE, "forensics.json"]
    return [out / n for n in sorted(names)]


def _decimal(text: str, option: str) -> Decimal:
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise ParameterError(f"{option} {text!r} is not a number") from None
    if not value.is_finite():
        raise ParameterError(f"{option} {text!r} is not a number")
    return value


def options_from_args(args) -> Options:
    """The command's options, checked (ParameterError naming the option)."""
    min_amount = _decimal(args.min_amount, "--min-amount")
    if min_amount < 0:
        raise ParameterError(f"--min-amount {args.min_amount!r} must be 0 or more")
    if args.days < 0:
        raise ParameterError(f"--days {args.days} must be 0 or more")
    if not 0 <= args.similarity <= 100:
        raise ParameterError(f"--similarity {args.similarity} must lie between 0 and 100")
    parse_amounts(args.amounts)
    options = Options(amounts=args.amounts, min_amount=min_amount, days=args.days, similarity=args.similarity,
                      bounds=stratification.parse_bounds(args.bands) if args.bands else DEFAULT_BOUNDS,
                      confidence=_decimal(args.confidence, "--confidence"),
                      tolerable_pct=_decimal(args.tolerable, "--tolerable"),
                      expected_pct=_decimal(args.expected, "--expected"), random_size=args.random_size,
                      seed=args.seed)
    if options.random_size < 0:
        raise ParameterError(f"--random-size {options.random_size} must be 0 or more")
    sampling.mus_sample_size(float(options.tolerable_pct) / 100, float(options.expected_pct) / 100,
                             float(options.confidence) / 100)  # a plan that cannot be met stops here
    return options


def run(args) -> int:
    """The ``billing forensics`` command; returns the exit code."""
    from billing_lib.data.loading import load_dataset
    options = options_from_args(args)
    months = months_ending(args.period, args.months) if args.period else ()
    if not args.period and args.months != 1:
        raise ParameterError("--months needs --period (the last month of the span)")
    ds = load_dataset(args.data)
    result = analyse(ds, options, months)
    write_results(result, args.out)
    s = result.benford_summary.filter(pl.col("test").is_in(["first", "first_two"]))
    labels = ", ".join(f"{t} {c or 'n/a'}" for t, c in s.select("test", "conformity").rows())
    print(f"forensics of {result.population.source} for {result.population.span}: "
          f"{result.tested.height:,} amounts tested ({labels}) -> {args.out}")
    return 0
