"""What the forensic tests found, in plain words: the findings at the top of the report, its one-screen
summary and the headline figures for the index page.

Sentences are plain text (the report escapes them); money is formatted for its currency.
"""
from __future__ import annotations

from decimal import Decimal

import polars as pl

from billing_lib.core.currency import format_money, is_currency, minor_digits
from billing_lib.forensics import digits as dg
from billing_lib.forensics.results import ForensicsResult
from billing_lib.reports.summary import Amount, Summary

FEW_AMOUNTS = 1000  # below this many amounts the digit tests are indicative only (Nigrini)


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def _money(amount: Decimal | None, currency: str | None) -> str:
    if amount is None:
        return "unknown"
    if currency and is_currency(currency):
        return f"{format_money(amount, currency)} {currency}"
    return f"{amount.normalize():f}"


def _pct(value: float) -> str:
    return f"{value:.2f}"


def _joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def digit_findings(benford: pl.DataFrame, summary: pl.DataFrame, currencies: list[str]) -> list[str]:
    """One sentence per digit test: its conformity, MAD and the significant spikes ("first-two digits:
    marginal conformity (MAD 0.0019 over 4,210 amounts); spikes at 49 and 99")."""
    cents = bool(currencies) and all(is_currency(c) and minor_digits(c) == 2 for c in currencies)
    out = []
    for row in summary.iter_rows(named=True):
        test, name = row["test"], dg.TEST_NAMES[row["test"]]
        if not row["n"]:
            out.append(f"{name}: no amount to test")
            continue
        label = row["conformity"] if row["conformity"] == "nonconformity" else f"{row['conformity']} conformity"
        text = f"{name}: {label} (MAD {row['mad']:.4f} over {_count(row['n'], 'amount')})"
        peaks = [dg.digits_label(test, d) for d in dg.spikes(benford, test, 3)["digits"].to_list()]
        if peaks:
            text += f"; spikes at {_joined(peaks)}"
            if test == "last_two" and cents:
                text += " (amounts ending in " + _joined([f".{p}" for p in peaks]) + ")"
        out.append(text)
    return out


def findings(result: ForensicsResult) -> list[str]:
    """Every finding of a run, most telling first, as short plain sentences."""
    r = result
    lines = []
    tested = int(r.benford_summary.filter(pl.col("test") == "first")["n"][0] or 0)
    currencies = sorted(c for c in r.tested["currency"].unique().to_list() if c)
    lines += digit_findings(r.benford, r.benford_summary, currencies)
    if 0 < tested < FEW_AMOUNTS:
        lines.append(f"only {_count(tested, 'amount')} tested: the digit tests are indicative (Nigrini asks for "
                     f"at least {FEW_AMOUNTS:,})")
    if not r.duplication.is_empty():
        top = r.duplication.row(0, named=True)
        lines.append(f"most repeated amount: {_money(top['amount'], top['currency'])}, {top['count']:,} times "
                     f"({top['share'] * 100:.1f}% of the tested amounts, {_count(top['customers'], 'customer')})")
    if not r.summation.is_empty():
        big = r.summation.sort(["share", "currency", "digits"], descending=[True, False, False]).row(0, named=True)
        if big["share"] > 2 * big["expected"]:
            lines.append(f"summation: amounts starting with {big['digits']} hold {big['share'] * 100:.1f}% of the "
                         f"{big['currency']} money (Benford expects {big['expected'] * 100:.1f}%)")
    n_inv = r.invoice_duplicates.height
    lines.append(f"{_count(n_inv, 'pair')} of near-duplicate invoices (same customer and total within "
                 f"{r.options.days} days)" if n_inv else
                 f"no near-duplicate invoices (same customer and total within {r.options.days} days)")
    n_cust = r.customer_duplicates.height
    lines.append(f"{_count(n_cust, 'pair')} of customers that are probably the same" if n_cust else
                 "no two customers look like the same one")
    lines.append(f"{_count(r.outliers.height, 'amount')} out of line with their customer's history (robust z of "
                 "3.5 or more)" if r.outliers.height else "no amount out of line with its customer's history")
    flagged = r.rsf.filter(pl.col("flagged")).height
    if flagged:
        lines.append(f"{_count(flagged, 'customer')} whose largest amount is ten times their second or more")
    for cur in currencies:
        band = (r.strata.filter(pl.col("currency") == cur)
                .sort(["amount_share", "band"], descending=[True, False]).row(0, named=True))
        lines.append(f"{cur}: {_pct(band['amount_share'])}% of the money in the band {band['label']} "
                     f"({_pct(band['count_share'])}% of the amounts)")
    size = sum(p.size for p in r.mus_plans)
    if r.mus_plans:
        plan = r.mus_plans[0]
        lines.append(f"monetary-unit sample: {_count(r.mus_sample.height, 'item')} ({size} units) for "
                     f"{plan.confidence}% confidence, tolerable misstatement {plan.tolerable_pct}% and expected "
                     f"{plan.expected_pct}%; random sample: {_count(r.random_sample.height, 'record')}")
    return lines


def at_stake(result: ForensicsResult) -> list[Amount]:
    """The money on the later invoice of each near-duplicate pair, per currency."""
    pairs = result.invoice_duplicates
    if pairs.is_empty():
        return []
    sums = pairs.group_by("currency").agg(pl.col("total").sum()).sort("currency")
    return [Amount(f"on near-duplicate invoices in {cur}", total, cur) for cur, total in sums.rows()]


def _label(conformity: str | None) -> str:
    if not conformity:
        return "not tested"
    return conformity if conformity == "nonconformity" else f"{conformity} conformity"


def summary(result: ForensicsResult) -> Summary:
    """The report's one-screen summary."""
    r = result
    s = r.benford_summary.filter(pl.col("test").is_in(["first", "first_two"]))
    labels = {t: c for t, c in s.select("test", "conformity").rows()}
    accounted = r.population.accounted
    source = "invoice totals" if r.population.source == "invoices.total" else r.population.source
    checked = [f"{_count(accounted['kept'], 'amount')} of {source} for {r.population.span}"
               + (f" ({accounted['void']:,} void left out)" if accounted["void"] else ""),
               f"digit tests on the {_count(int(s['n'][0] or 0), 'amount')} of at least {r.options.min_amount} "
               "(first, second, first-two, last-two digits, summation)",
               "number duplication, near-duplicate invoices, probable duplicate customers, outliers, relative "
               "size factor, value bands, monetary-unit and random samples"]
    look = r.invoice_duplicates.height + r.customer_duplicates.height + r.outliers.height
    bad = [dg.TEST_NAMES[t] for t, c in labels.items() if c in ("marginal", "nonconformity")]
    decisions = []
    if bad:
        decisions.append(f"Explain the {_joined(bad)} spikes: which amounts make them, and why.")
    if r.invoice_duplicates.height:
        decisions.append(f"Confirm or credit the {_count(r.invoice_duplicates.height, 'near-duplicate invoice pair')}.")
    if r.customer_duplicates.height:
        decisions.append(f"Merge or explain the {_count(r.customer_duplicates.height, 'probable duplicate customer')}.")
    if r.outliers.height:
        decisions.append(f"Look at the {_count(r.outliers.height, 'outlier')} against their customer's history.")
    if not r.mus_sample.is_empty() or not r.random_sample.is_empty():
        decisions.append("Test the sampled items and fill in the conclusion columns of the samples workbook (Excel).")
    first = labels.get("first")
    verdict = (f"Digits: first digit {_label(first)}, first-two digits {_label(labels.get('first_two'))}; "
               f"{_count(look, 'item')} to look at.")
    return Summary(verdict=verdict, checked=checked, found=findings(r)[:8], at_stake=at_stake(r),
                   decisions=decisions,
                   note="Every table is in the output folder as CSV; the samples to test are in one Excel workbook.")


def headline(result: ForensicsResult) -> dict:
    """Headline figures for the index page (JSON-ready)."""
    r = result
    labels = {t: c for t, c in r.benford_summary.select("test", "conformity").rows()}
    return {"amounts_tested": int(r.benford_summary["n"][0] or 0),
            "first_digit": labels.get("first"), "first_two_digits": labels.get("first_two"),
            "near_duplicate_invoices": r.invoice_duplicates.height,
            "duplicate_customers": r.customer_duplicates.height, "outliers": r.outliers.height,
            "sample_items": r.mus_sample.height + r.random_sample.height}


def shown(frame: pl.DataFrame, digits: int = 4) -> pl.DataFrame:
    """A table as the report shows it: floats (shares, Z, MAD) rounded to ``digits`` decimals."""
    return frame.with_columns(pl.col(c).round(digits) for c, t in frame.schema.items() if t == pl.Float64)


def accounting(result: ForensicsResult) -> pl.DataFrame:
    """Every row of the amount column accounted for: rows read, kept, and left out per reason."""
    a = result.population.accounted
    rows = [("rows in the table", a["rows"]), ("kept", a["kept"]), ("void (left out)", a["void"]),
            ("outside the months (left out)", a["outside_months"]), ("empty amount (left out)", a["empty_amount"]),
            (f"kept, of at least {result.options.min_amount}: digit tests", result.tested.height)]
    return pl.DataFrame(rows, schema={"rows": pl.String, "count": pl.Int64}, orient="row")


def largest_sums(summation: pl.DataFrame, top: int = 15) -> pl.DataFrame:
    """The first-two digit groups holding the largest share of their currency's money."""
    return summation.sort(["share", "currency", "digits"], descending=[True, False, False]).head(top)


def flagged_rsf(result: ForensicsResult) -> pl.DataFrame:
    """The customers whose relative size factor reaches the limit."""
    return result.rsf.filter(pl.col("flagged"))
