"""Duplicates an auditor looks for: amounts that repeat too often (Nigrini's number duplication test),
near-duplicate invoices, and customers that are probably the same.

* **Number duplication**: how often each exact amount occurs, over all tested amounts and per customer.
* **Near-duplicate invoices**: two invoices of the same customer, in the same currency and for the same
  total, issued within a few days of each other under different numbers. Each pair gets a score from 0 to
  100: half for how close the dates are (same day 100%, the last day of the window near 0%), half for how
  many of their lines are identical (description, quantity, unit price, amount; two invoices without
  lines count as identical).
* **Probable duplicate customers**: names compared with rapidfuzz's token-sort ratio after normalising
  case, accents, punctuation and legal suffixes (cleanco: GmbH, Ltd, S.A., Inc...), only between names
  holding the same numbers ("Store 12" and "Store 21" are two customers), e-mail addresses
  compared exactly (case and spaces aside) and, where the customers table has an ``address`` column,
  addresses compared like names. A pair is listed when its names reach the similarity threshold
  (IDEA's default is 80%) or it shares an e-mail address; its score is the mean of the name and
  address similarities the two customers have, with a shared e-mail address counting as 100 (a different
  address is no evidence against: contacts change).
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import polars as pl
from cleanco import basename
from rapidfuzz import fuzz, process

from billing_lib.data.dataset import Dataset
from billing_lib.forensics.defaults import DEFAULT_DAYS, DEFAULT_SIMILARITY

_CHUNK = 1000  # rows of the similarity matrix computed at once (memory: chunk x customers bytes)
_PUNCT = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")


def number_duplication(tested: pl.DataFrame) -> pl.DataFrame:
    """Each amount found more than once (per currency): count, customers, share of the tested amounts;
    most frequent first."""
    n = max(tested.height, 1)
    return (tested.group_by("currency", "amount")
            .agg(pl.len().alias("count"), pl.col("customer_id").n_unique().alias("customers"))
            .filter(pl.col("count") > 1)
            .with_columns(share=pl.col("count") / n)
            .sort(["count", "currency", "amount"], descending=[True, False, False], nulls_last=True))


def number_duplication_by_customer(tested: pl.DataFrame) -> pl.DataFrame:
    """Each amount a customer has more than once: customer_id, currency, amount, count; most frequent first."""
    return (tested.filter(pl.col("customer_id").is_not_null())
            .group_by("customer_id", "currency", "amount").agg(pl.len().alias("count"))
            .filter(pl.col("count") > 1)
            .sort(["count", "customer_id", "currency", "amount"], descending=[True, False, False, False],
                  nulls_last=True))


def _invoices(ds: Dataset, months: tuple) -> pl.DataFrame:
    inv = ds.frame("invoices").filter(pl.col("status") != "void").select(
        "invoice_id", "customer_id", "currency", "issue_date", "period_start", "total").collect()
    if months:
        inv = inv.filter(pl.col("period_start").dt.month_start().is_in(pl.Series(list(months)).implode()))
    return inv.filter(pl.col("total") != 0).drop("period_start")


def _line_overlap(ds: Dataset, pairs: pl.DataFrame) -> pl.DataFrame:
    """Per pair: lines of each invoice and how many are identical (as a multiset)."""
    lines = ds.frame("invoice_lines").collect()
    if "description" not in lines.columns:
        lines = lines.with_columns(description=pl.lit(None, pl.String))
    wanted = pl.concat([pairs["invoice_a"], pairs["invoice_b"]]).unique().implode()
    sig = (lines.filter(pl.col("invoice_id").is_in(wanted))
           .group_by("invoice_id", "description", "quantity", "unit_price", "amount").agg(pl.len().alias("n")))
    sizes = sig.group_by("invoice_id").agg(pl.col("n").sum().alias("lines"))
    keys = ["description", "quantity", "unit_price", "amount"]
    common = (pairs.select("invoice_a", "invoice_b")
              .join(sig.rename({"invoice_id": "invoice_a", "n": "n_a"}), on="invoice_a")
              .join(sig.rename({"invoice_id": "invoice_b", "n": "n_b"}), on=["invoice_b", *keys], nulls_equal=True)
              .group_by("invoice_a", "invoice_b").agg(pl.min_horizontal("n_a", "n_b").sum().alias("same_lines")))
    return (pairs.join(sizes.rename({"invoice_id": "invoice_a", "lines": "lines_a"}), on="invoice_a", how="left")
            .join(sizes.rename({"invoice_id": "invoice_b", "lines": "lines_b"}), on="invoice_b", how="left")
            .join(common, on=["invoice_a", "invoice_b"], how="left")
            .with_columns(pl.col("lines_a", "lines_b", "same_lines").fill_null(0).cast(pl.Int64)))


def near_duplicate_invoices(ds: Dataset, months: tuple = (), days: int = DEFAULT_DAYS) -> pl.DataFrame:
    """Pairs of invoices of one customer, same currency and total, issued at most ``days`` apart, with
    score and why; highest score first."""
    inv = _invoices(ds, months)
    right = inv.rename({c: f"{c}_b" for c in ("invoice_id", "issue_date")})
    pairs = (inv.rename({"invoice_id": "invoice_a", "issue_date": "issue_date_a"})
             .join(right.rename({"invoice_id_b": "invoice_b"}), on=["customer_id", "currency", "total"])
             .filter(pl.col("invoice_a") < pl.col("invoice_b"))
             .with_columns(days_apart=(pl.col("issue_date_b") - pl.col("issue_date_a")).dt.total_days().abs())
             .filter(pl.col("days_apart") <= days))
    if pairs.is_empty():
        return pairs.select("invoice_a", "invoice_b", "customer_id", "currency", "total", "issue_date_a",
                            "issue_date_b", "days_apart").with_columns(
            lines_a=pl.lit(0, pl.Int64), lines_b=pl.lit(0, pl.Int64), same_lines=pl.lit(0, pl.Int64),
            score=pl.lit(0, pl.Int64), why=pl.lit("", pl.String))
    pairs = _line_overlap(ds, pairs)
    union = pl.col("lines_a") + pl.col("lines_b") - pl.col("same_lines")
    overlap = pl.when(union > 0).then(pl.col("same_lines") / union).otherwise(1.0)
    closeness = 1 - pl.col("days_apart") / (days + 1)
    scored = pairs.with_columns(score=((closeness + overlap) * 50).round(0, mode="half_away_from_zero")
                                 .cast(pl.Int64))
    rows = scored.sort(["score", "customer_id", "invoice_a", "invoice_b"], descending=[True, False, False, False])
    rows = rows.select("invoice_a", "invoice_b", "customer_id", "currency", "total", "issue_date_a", "issue_date_b",
                       "days_apart", "lines_a", "lines_b", "same_lines", "score")
    return rows.with_columns(why=pl.Series([_invoice_why(r) for r in rows.iter_rows(named=True)], dtype=pl.String))


def _invoice_why(r: dict) -> str:
    from billing_lib.core.currency import format_money, is_currency
    total = format_money(r["total"], r["currency"]) if is_currency(r["currency"] or "") else str(r["total"])
    when = "on the same day" if r["days_apart"] == 0 else f"{r['days_apart']} day{'s' * (r['days_apart'] != 1)} apart"
    lines = (f"{r['same_lines']} of {max(r['lines_a'], r['lines_b'])} lines identical" if r["lines_a"] or r["lines_b"]
             else "neither has lines")
    return (f"customer {r['customer_id']} billed {total} {r['currency']} twice {when} ({r['issue_date_a']} and "
            f"{r['issue_date_b']}) under numbers {r['invoice_a']} and {r['invoice_b']}; {lines}")


def normalize_name(text: str | None) -> str:
    """A name for comparison: accents, case, punctuation and a legal suffix (GmbH, Ltd, S.A., Inc.) removed."""
    if not text:
        return ""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    plain = plain.replace("&", " and ")
    stripped = basename(plain) or plain
    return _SPACES.sub(" ", _PUNCT.sub(" ", stripped.casefold())).strip()


def normalize_email(text: str | None) -> str:
    """An e-mail address for comparison: trimmed and lower case."""
    return (text or "").strip().casefold()


def _numbers(name: str) -> tuple[str, ...]:
    """The numbers in a normalised name ("store 12 north" -> ("12",)): names with different numbers are
    different customers ("Store 12", "Store 21"), so only names with the same numbers are compared."""
    return tuple(sorted(re.findall(r"\d+", name)))


def _similar_pairs(values: list[str], threshold: int) -> dict[tuple[int, int], int]:
    """(i, j) -> token-sort ratio for every i < j whose (non-empty) values share their numbers and reach
    ``threshold``."""
    blocks: dict[tuple[str, ...], list[int]] = {}
    for i, v in enumerate(values):
        if v:
            blocks.setdefault(_numbers(v), []).append(i)
    found: dict[tuple[int, int], int] = {}
    for idx in blocks.values():
        texts = [values[i] for i in idx]
        for start in range(0, len(texts), _CHUNK):
            block = process.cdist(texts[start:start + _CHUNK], texts, scorer=fuzz.token_sort_ratio,
                                  score_cutoff=threshold, dtype=np.uint8, workers=1)
            for a, b in zip(*np.nonzero(block), strict=True):
                i, j = idx[start + int(a)], idx[int(b)]
                if i < j:
                    found[(i, j)] = int(block[a, b])
    return found


def duplicate_customers(ds: Dataset, threshold: int = DEFAULT_SIMILARITY) -> pl.DataFrame:
    """Pairs of customers that are probably the same, with field scores, score and why; highest score first."""
    cust = ds.frame("customers").collect().sort("customer_id")
    ids = cust["customer_id"].to_list()
    names = cust["name"].to_list()
    emails = [normalize_email(e) for e in (cust["email"].to_list() if "email" in cust.columns else [None] * len(ids))]
    addresses = cust["address"].cast(pl.String).to_list() if "address" in cust.columns else [None] * len(ids)
    norm_names = [normalize_name(n) for n in names]
    pairs = _similar_pairs(norm_names, threshold)
    by_email: dict[str, list[int]] = {}
    for i, e in enumerate(emails):
        if e:
            by_email.setdefault(e, []).append(i)
    for group in by_email.values():
        for a in range(len(group)):
            for b in range(a + 1, len(group)):
                pairs.setdefault((group[a], group[b]), fuzz.token_sort_ratio(norm_names[group[a]],
                                                                             norm_names[group[b]]))
    rows = []
    for (i, j), _ in sorted(pairs.items()):
        name_score = round(fuzz.token_sort_ratio(norm_names[i], norm_names[j])) if norm_names[i] and norm_names[j] \
            else None
        email_score = (100 if emails[i] == emails[j] else 0) if emails[i] and emails[j] else None
        na, nb = normalize_name(addresses[i]), normalize_name(addresses[j])
        address_score = round(fuzz.token_sort_ratio(na, nb)) if na and nb else None
        # a shared e-mail address is evidence; different addresses are not evidence against (contacts change)
        scores = [s for s in (name_score, 100 if email_score == 100 else None, address_score) if s is not None]
        rows.append((ids[i], ids[j], names[i], names[j], name_score, email_score, address_score,
                     round(sum(scores) / len(scores)), _customer_why(names[i], names[j], name_score, email_score,
                                                                      address_score)))
    schema = {"customer_a": pl.String, "customer_b": pl.String, "name_a": pl.String, "name_b": pl.String,
              "name_score": pl.Int64, "email_score": pl.Int64, "address_score": pl.Int64, "score": pl.Int64,
              "why": pl.String}
    out = pl.DataFrame(rows, schema=schema, orient="row")
    return out.sort(["score", "customer_a", "customer_b"], descending=[True, False, False])


def _customer_why(name_a, name_b, name_score, email_score, address_score) -> str:
    parts = []
    if name_score is not None:
        parts.append(f"names {name_a!r} and {name_b!r} {name_score}% alike once case, accents and legal "
                     "suffixes are set aside")
    if email_score is not None:
        parts.append("the same e-mail address" if email_score == 100 else "different e-mail addresses")
    if address_score is not None:
        parts.append(f"addresses {address_score}% alike")
    return "; ".join(parts)
