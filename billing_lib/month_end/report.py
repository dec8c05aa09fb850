"""The month-end close workbook's tables, shaped for display and for the finance schedules.

Each function takes the schedules of :mod:`.receivables`, :mod:`.revenue` and
:mod:`.close_checklist` (or the dataset) and returns a polars DataFrame with
money still Decimal (the workbook formats it with :func:`billing_lib.workbook.display.show_table`,
the Excel file writes it as numbers). Nothing here computes a figure the
schedules do not already compute, except converting to the base currency.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from billing_lib.core.fx import RATE, rates, round_base, with_base_amount
from billing_lib.core.money import DECIMAL, ZERO, to_text
from billing_lib.core.periods import month_before
from billing_lib.data.dataset import Dataset
from billing_lib.month_end.close_checklist import control_title
from billing_lib.month_end.receivables import BUCKETS, CREDIT_BALANCE, DOUBTFUL
from billing_lib.month_end.revenue import BRIDGE_PARTS, billed_revenue
from billing_lib.reports.style import money_label
from billing_lib.reports.summary import Amount, Summary

AGED = (*BUCKETS, DOUBTFUL)  # what customers owe, by age, and doubtful apart: the chart's bars
AGING_MONEY = (*AGED, "total", CREDIT_BALANCE, "unapplied_cash", "net")
BRIDGE_MONEY = ("previous", *BRIDGE_PARTS, "current")
BRIDGE_BASE_MONEY = ("previous", *BRIDGE_PARTS, "exchange", "current")  # the converted bridge
BRIDGE_LABELS = {"previous": "previous month", "new": "new", "churned": "churned", "price": "price",
                 "volume": "volume", "proration": "proration", "exchange": "exchange rates",
                 "current": "this month"}


def customer_names(ds: Dataset) -> pl.DataFrame:
    """customer_id, customer_name of every customer."""
    return ds.frame("customers").select("customer_id", pl.col("name").alias("customer_name")).collect()


def _named(frame: pl.DataFrame, ds: Dataset) -> pl.DataFrame:
    """``frame`` with ``customer_name`` right after its ``customer_id`` column."""
    cols = list(frame.columns)
    at = cols.index("customer_id") + 1
    return (frame.join(customer_names(ds), on="customer_id", how="left", maintain_order="left")
            .select(*cols[:at], "customer_name", *cols[at:]))


def with_customer_name(frame: pl.DataFrame, ds: Dataset) -> pl.DataFrame:
    """``frame`` (with a customer_id column) with each customer's name beside the id, rows kept in order."""
    return _named(frame, ds)


def billed_revenue_by(billed: pl.DataFrame, dimension: str, ds: Dataset | None = None) -> pl.DataFrame:
    """Billed revenue per ``dimension`` and currency, largest in the base currency first.

    ``billed`` is :func:`billing_lib.month_end.revenue.billed_revenue` of every
    dimension; customers get their name when ``ds`` is given. The base-currency
    figure of a group is null when a line of it has no exchange rate.
    """
    out = (billed.group_by(dimension, "currency").agg(
        pl.col("lines").sum(), pl.col("net").sum().cast(DECIMAL),
        pl.when(pl.col("net_base").is_null().any()).then(None).otherwise(pl.col("net_base").sum())
        .first().cast(DECIMAL).alias("net_base"),
        pl.col("unconverted").sum())
        .sort(["net_base", dimension, "currency"], descending=[True, False, False], nulls_last=True))
    return _named(out, ds) if ds is not None and dimension == "customer_id" else out


def billed_total(billed: pl.DataFrame, base_currency: str) -> pl.DataFrame:
    """One row: lines, billed revenue in the base currency (rounded sums), lines without a rate."""
    return billed.select(
        pl.lit(base_currency).alias("currency"), pl.col("lines").sum().cast(pl.Int64),
        round_base(pl.col("net_base").fill_null(ZERO).sum(), base_currency).cast(DECIMAL).alias("net_base"),
        pl.col("unconverted").sum().cast(pl.Int64))


def aging_by_customer(aging: pl.DataFrame, ds: Dataset) -> pl.DataFrame:
    """The aging per customer with the customer's name, largest total first."""
    return _named(aging, ds).sort(["total", "customer_id", "currency"], descending=[True, False, False])


def aging_totals(aging: pl.DataFrame) -> pl.DataFrame:
    """The aging buckets summed per currency (the totals row of each currency)."""
    return (aging.group_by("currency").agg(pl.len().alias("customers"),
                                          *[pl.col(c).sum().cast(DECIMAL) for c in AGING_MONEY])
            .select("currency", "customers", *AGING_MONEY).sort("currency"))


def aging_in_base(totals: pl.DataFrame, ds: Dataset, base_currency: str, as_of: dt.date) -> pl.DataFrame:
    """Aging totals per bucket and doubtful, summed over the currencies with a rate at ``as_of`` (for the
    chart)."""
    conv = to_base(totals, ds, base_currency, as_of, AGED).filter(pl.col(RATE).is_not_null())
    return conv.select(pl.lit(base_currency).alias("currency"),
                       *[round_base(pl.col(f"{b}_base").sum(), base_currency).cast(DECIMAL).alias(b)
                         for b in AGED])


def to_base(frame: pl.DataFrame, ds: Dataset, base_currency: str, as_of: dt.date,
            columns: tuple[str, ...] | list[str]) -> pl.DataFrame:
    """Add ``<column>_base`` for each money column: converted with the rate in force at ``as_of`` (full
    precision; null when the currency has no rate) and ``rate_to_base``."""
    dated = frame.with_columns(pl.lit(as_of).alias("__as_of"))
    conv = with_base_amount(dated, rates(ds), base_currency, amount=columns[0], currency="currency",
                            on="__as_of", out="__first")
    return conv.with_columns((pl.col(c) * pl.col(RATE)).cast(DECIMAL).alias(f"{c}_base")
                             for c in columns).drop("__as_of", "__first")


def unconverted_currencies(frame: pl.DataFrame, ds: Dataset, base_currency: str, as_of: dt.date) -> list[str]:
    """Currencies of ``frame`` that have no exchange rate at ``as_of``."""
    if frame.is_empty():
        return []
    one = frame.select("currency").unique().with_columns(__one=pl.lit(1).cast(DECIMAL))
    conv = to_base(one, ds, base_currency, as_of, ["__one"])
    return sorted(conv.filter(pl.col(RATE).is_null())["currency"].to_list())


def bridge_in_base(bridge: pl.DataFrame, ds: Dataset, base_currency: str, as_of: dt.date) -> pl.DataFrame:
    """The revenue bridge of every currency in the base currency, from last month's billed revenue to this
    month's, both as the rest of the close shows them (:func:`billed_total`: each line at the rate of its
    invoice's day).

    The steps (new, churned, price, volume, proration) convert both months at the rate in force at ``as_of``
    (constant currency), so a change of exchange rate is not mistaken for a change of revenue; what the
    rates changed is the ``exchange`` step, so the bridge closes exactly on the billed figures. One row
    (currency = base) with ``currencies`` converted; empty when no currency converts.
    """
    if bridge.is_empty():
        return pl.DataFrame(schema={"currency": pl.String, **{c: DECIMAL for c in BRIDGE_BASE_MONEY},
                                    "currencies": pl.String})
    conv = to_base(bridge, ds, base_currency, as_of, BRIDGE_PARTS).filter(pl.col(RATE).is_not_null())
    if conv.is_empty():
        return bridge_in_base(bridge.clear(), ds, base_currency, as_of)
    steps = conv.select(*[round_base(pl.col(f"{c}_base").sum(), base_currency).cast(DECIMAL).alias(c)
                          for c in BRIDGE_PARTS],
                        pl.col("currency").sort().str.join(", ").alias("currencies"))
    start = as_of.replace(day=1)
    billed = {month: billed_total(billed_revenue(ds, month, base_currency), base_currency)["net_base"].item()
              for month in (month_before(start), start)}
    previous, current = (billed[m] if billed[m] is not None else ZERO for m in (month_before(start), start))
    return steps.select(pl.lit(base_currency).alias("currency"), pl.lit(previous, dtype=DECIMAL).alias("previous"),
                        *BRIDGE_PARTS,
                        (pl.lit(current, dtype=DECIMAL) - pl.lit(previous, dtype=DECIMAL)
                         - pl.sum_horizontal(BRIDGE_PARTS)).cast(DECIMAL).alias("exchange"),
                        pl.lit(current, dtype=DECIMAL).alias("current"), "currencies")


def bridge_steps(bridge_base: pl.DataFrame) -> pl.DataFrame:
    """The converted bridge as rows (step, amount) in waterfall order, for the chart and the table."""
    if bridge_base.is_empty():
        return pl.DataFrame(schema={"step": pl.String, "amount": DECIMAL, "currency": pl.String})
    row = bridge_base.row(0, named=True)
    return pl.DataFrame({"step": [BRIDGE_LABELS[c] for c in BRIDGE_BASE_MONEY],
                         "amount": [row[c] for c in BRIDGE_BASE_MONEY],
                         "currency": [row["currency"]] * len(BRIDGE_BASE_MONEY)},
                        schema={"step": pl.String, "amount": DECIMAL, "currency": pl.String})


def ledger_tie_out(roll_forward: pl.DataFrame, deferred: pl.DataFrame) -> pl.DataFrame:
    """The schedules against the ledger per currency: receivables (1100, closing less unapplied cash) and
    deferred revenue (2100). Columns: account, currency, schedule, ledger, difference (ledger - schedule),
    ties. Empty when the dataset has no ledger."""
    ar = roll_forward.filter(pl.col("ledger_ar").is_not_null()).select(
        pl.lit("1100 receivables").alias("account"), "currency",
        (pl.col("closing") - pl.col("unapplied_cash")).cast(DECIMAL).alias("schedule"),
        pl.col("ledger_ar").alias("ledger"), pl.col("ledger_difference").alias("difference"))
    dr = deferred.filter(pl.col("ledger_deferred").is_not_null()).select(
        pl.lit("2100 deferred revenue").alias("account"), "currency", pl.col("closing").alias("schedule"),
        pl.col("ledger_deferred").alias("ledger"), pl.col("ledger_difference").alias("difference"))
    return pl.concat([ar, dr]).with_columns(ties=pl.col("difference") == 0).sort("account", "currency")


def reconciling_items(receivables_items: pl.DataFrame, deferred_items: pl.DataFrame) -> pl.DataFrame:
    """The documents behind the ledger differences, receivables (1100) then deferred revenue (2100):
    account, source_type, source_id, currency, schedule, ledger, difference (ledger - schedule)."""
    return pl.concat([receivables_items.select(pl.lit("1100 receivables").alias("account"), pl.all()),
                      deferred_items.select(pl.lit("2100 deferred revenue").alias("account"), pl.all())])


def checklist_table(checklist: pl.DataFrame) -> pl.DataFrame:
    """The close checklist as shown: control (its title), result (PASS / FAIL / n/a), evidence."""
    titles = {c: control_title(c) for c in checklist["control"].unique().to_list()}
    result = pl.col("status").replace_strict({"pass": "PASS", "fail": "FAIL"}, default=pl.col("status"))
    return checklist.select(pl.col("control").replace_strict(titles, return_dtype=pl.String), result.alias("result"),
                            "evidence")


def _money_by_currency(frame: pl.DataFrame, column: str) -> dict[str, str]:
    rows = frame.select("currency", to_text(pl.col(column), pl.col("currency")).alias("t")).rows()
    return {cur: text for cur, text in rows}


def headline(period: str, base_currency: str, billed: pl.DataFrame, roll_forward: pl.DataFrame,
             dso: pl.DataFrame, aging_totals_: pl.DataFrame, checklist: pl.DataFrame,
             bridge_base: pl.DataFrame, unbilled: pl.DataFrame, aging_base: pl.DataFrame | None = None) -> dict:
    """The headline figures of the close (JSON-ready: money as text), for the index page. ``aging_base``
    (:func:`aging_in_base`) adds the receivables over 90 days and the doubtful ones in the base currency."""
    total = billed_total(billed, base_currency).row(0, named=True)
    failed = [control_title(c) for c in checklist.filter(pl.col("status") == "fail")["control"].to_list()]
    applicable = checklist.filter(pl.col("status") != "n/a").height
    figures = {
        "period": period, "base_currency": base_currency,
        "billed_revenue_base": to_text_value(total["net_base"], base_currency),
        "billed_lines_without_rate": total["unconverted"],
        "receivables_closing": _money_by_currency(roll_forward, "closing"),
        "receivables_over_90_days": _money_by_currency(aging_totals_, "over_90"),
        "receivables_doubtful": _money_by_currency(aging_totals_, DOUBTFUL),
        "dso_days": {cur: None if d is None else str(d.quantize(Decimal("0.01")))
                     for cur, d in dso.select("currency", "dso").rows()},
        "unbilled_charges": unbilled.height,
        "controls_passed": f"{applicable - len(failed)} of {applicable}",
        "controls_failed": failed,
    }
    if aging_base is not None and not aging_base.is_empty():
        late = aging_base.row(0, named=True)
        figures["receivables_over_90_days_base"] = to_text_value(late["over_90"], base_currency)
        figures["receivables_doubtful_base"] = to_text_value(late[DOUBTFUL], base_currency)
    if not bridge_base.is_empty():
        row = bridge_base.row(0, named=True)
        figures["revenue_change_base"] = to_text_value(row["current"] - row["previous"], base_currency)
        if row["previous"]:
            figures["revenue_change_pct"] = f"{(row['current'] - row['previous']) / row['previous'] * 100:+.0f} %"
    return figures


def revenue_change(figures: dict) -> str:
    """The change of billed revenue on the previous month in words ("up €9,219.61 (+167 %) on 2024-05"), or ""
    when there is no previous month to compare with."""
    change = figures.get("revenue_change_base")
    if change is None:
        return ""
    amount = Decimal(change)
    before = month_before(dt.date.fromisoformat(figures["period"] + "-01")).strftime("%Y-%m")
    if amount == 0:
        return f"unchanged on {before}"
    pct = f" ({figures['revenue_change_pct']})" if figures.get("revenue_change_pct") else ""
    return f"{'up' if amount > 0 else 'down'} {money_label(abs(amount), figures['base_currency'])}{pct} on {before}"


def to_text_value(amount, currency: str) -> str | None:
    """One Decimal amount as text with the currency's digits (None stays None)."""
    if amount is None:
        return None
    return pl.select(to_text(pl.lit(amount, dtype=DECIMAL), pl.lit(currency))).item()


def conclusions(figures: dict) -> list[str]:
    """The close in a few sentences, from :func:`headline`."""
    base = figures["base_currency"]
    lines = [f"Billed revenue for {figures['period']}: {figures['billed_revenue_base']} {base}"
             + (f" ({figures['billed_lines_without_rate']} lines without an exchange rate are left out)."
                if figures["billed_lines_without_rate"] else ".")]
    if revenue_change(figures):
        lines.append(f"Billed revenue is {revenue_change(figures)}.")
    ar = ", ".join(f"{v} {k}" for k, v in sorted(figures["receivables_closing"].items())) or "none"
    lines.append(f"Receivables at month end: {ar}.")
    late = {k: v for k, v in figures["receivables_over_90_days"].items() if v.strip("0.-") != ""}
    lines.append("Over 90 days past due: " + (", ".join(f"{v} {k}" for k, v in sorted(late.items())) or "nothing")
                 + ".")
    doubtful = {k: v for k, v in figures.get("receivables_doubtful", {}).items() if v.strip("0.-") != ""}
    if doubtful:
        lines.append("Doubtful (uncollectible, not yet written off): "
                     + ", ".join(f"{v} {k}" for k, v in sorted(doubtful.items())) + ".")
    if figures["unbilled_charges"]:
        lines.append(f"{figures['unbilled_charges']} expected charges are not invoiced: bill them before closing.")
    if figures["controls_failed"]:
        lines.append(f"Close controls passed: {figures['controls_passed']}. To resolve before signing off: "
                     + ", ".join(figures["controls_failed"]) + ".")
    else:
        lines.append(f"Close controls passed: {figures['controls_passed']}. The month can be closed.")
    return lines


def schedules(*, aging: pl.DataFrame, aging_totals_: pl.DataFrame, roll_forward: pl.DataFrame,
              write_offs: pl.DataFrame, dso: pl.DataFrame, billed: dict[str, pl.DataFrame],
              unbilled: pl.DataFrame, deferred: pl.DataFrame, waterfall: pl.DataFrame, accrued: pl.DataFrame,
              accrued_detail: pl.DataFrame, recognised: pl.DataFrame, bridge: pl.DataFrame,
              bridge_detail: pl.DataFrame, reconciling: pl.DataFrame,
              checklist: pl.DataFrame, bridge_base: pl.DataFrame | None = None) -> dict[str, pl.DataFrame]:
    """The finance schedules, one per sheet of the Excel file, in reading order; with ``bridge_base``
    (:func:`bridge_in_base`), the bridge in the base currency as the report draws it, beside each currency's."""
    out = {"Checklist": checklist, "AR aging": aging, "AR aging totals": aging_totals_,
           "AR roll-forward": roll_forward, "Write-offs": write_offs, "DSO": dso}
    out |= {f"Billed by {name}": frame for name, frame in billed.items()}
    out |= {"Uninvoiced charges": unbilled, "Deferred revenue": deferred, "Deferred waterfall": waterfall,
            "Unbilled revenue": accrued, "Unbilled revenue detail": accrued_detail,
            "Revenue recognised": recognised, "Revenue bridge": bridge,
            **({f"Revenue bridge in {bridge_base['currency'][0]}": bridge_steps(bridge_base)}
               if bridge_base is not None and not bridge_base.is_empty() else {}),
            "Bridge by subscription": bridge_detail,
            "Ledger tie-out": ledger_tie_out(roll_forward, deferred), "Ledger differences": reconciling}
    return out


def summary(figures: dict, unbilled: pl.DataFrame) -> Summary:
    """The close report's one-screen summary from :func:`headline` and the unbilled charges
    (:func:`billing_lib.month_end.revenue.unbilled_revenue`)."""
    base, period = figures["base_currency"], figures["period"]
    passed, _, applicable = figures["controls_passed"].partition(" of ")
    checked = [f"The billing ledger for {period}: billed revenue, receivables and their aging, deferred revenue, "
               "revenue recognised",
               f"The schedules against the general ledger, and {applicable} close controls"]
    change = revenue_change(figures)
    found = [f"Billed revenue {money_label(figures['billed_revenue_base'], base)}" + (f", {change}" if change else "")]
    ar = ", ".join(money_label(v, k) for k, v in sorted(figures["receivables_closing"].items()))
    found.append(f"Receivables at month end: {ar or 'none'}")
    found.append(f"Close controls passed: {passed} of {applicable}")
    if figures["unbilled_charges"]:
        found.append(f"{figures['unbilled_charges']} expected charges not invoiced")
    late = {k: Decimal(v) for k, v in figures["receivables_over_90_days"].items() if v and Decimal(v) != 0}
    doubtful = {k: Decimal(v) for k, v in figures.get("receivables_doubtful", {}).items() if v and Decimal(v) != 0}
    stake = []
    if figures.get("receivables_over_90_days_base") is not None and (late or doubtful):
        in_base = Decimal(figures["receivables_over_90_days_base"]) + Decimal(figures["receivables_doubtful_base"])
        stake.append(Amount(f"receivables over 90 days past due or doubtful, in {base}", in_base, base))
    stake += [Amount("receivables over 90 days past due", amount, cur) for cur, amount in sorted(late.items())]
    stake += [Amount("doubtful receivables (uncollectible, not written off)", amount, cur)
              for cur, amount in sorted(doubtful.items())]
    if not unbilled.is_empty():
        sums = unbilled.group_by("currency").agg(pl.col("net").sum()).sort("currency")
        stake += [Amount("revenue not yet billed", Decimal(to_text_value(net, cur)), cur)
                  for cur, net in sums.rows()]
    decisions = ["Resolve the failed controls before signing off: " + ", ".join(figures["controls_failed"]) + "."] \
        if figures["controls_failed"] else []
    if figures["unbilled_charges"]:
        decisions.append(f"Bill or explain the {figures['unbilled_charges']} unbilled charges before closing.")
    if late:
        decisions.append("Follow up the receivables over 90 days past due, or provide for them.")
    if doubtful:
        decisions.append("Write off the doubtful receivables in the ledger, or keep them provided for.")
    failed = len(figures["controls_failed"])
    verdict = (f"Not ready to close: {failed} of {applicable} controls failed." if failed
               else "Ready to close: every close control passed.")
    return Summary(verdict=verdict, checked=checked, found=found, at_stake=stake, decisions=decisions,
                   note="The schedules are in one Excel workbook beside this report, linked from the run's index.")
