"""Exploring a dataset of one's own: the library side of ``notebooks/explore_your_data.ipynb``.

Small steps an analyst takes with new data, each returning a polars frame
(``.to_pandas()`` for pandas): every contract problem as a table instead of
an error, an import from a foreign source, what the data holds, and
everything about one customer (details, subscriptions, invoices, payments,
findings).
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from billing_lib.core.money import number_text
from billing_lib.data.dataset import ROW, Dataset
from billing_lib.data.loading import load_dataset
from billing_lib.errors import DatasetError, ParameterError

PROBLEM_SCHEMA = {"file": pl.String, "row": pl.Int64, "column": pl.String, "problem": pl.String}


def contract_problems(folder: str | Path) -> pl.DataFrame:
    """Every way the dataset in ``folder`` breaks the data contract, one row each (empty: it follows it)."""
    try:
        load_dataset(folder)
    except DatasetError as exc:
        rows = [{"file": Path(p.file).name, "row": p.row, "column": p.column, "problem": p.message}
                for p in exc.problems]
        return pl.DataFrame(rows, schema=PROBLEM_SCHEMA)
    return pl.DataFrame(schema=PROBLEM_SCHEMA)


def import_source(kind: str, source: str | Path, out_dir: str | Path) -> tuple[Path, str]:
    """Import a foreign source (as ``billing import KIND SOURCE --out OUT_DIR``); (dataset folder, summary)."""
    from billing_lib.data.importers import IMPORTERS, write_import
    if kind not in IMPORTERS:
        raise ParameterError(f"import_kind {kind!r} is not one of {', '.join(sorted(IMPORTERS))}")
    result = IMPORTERS[kind](source)
    write_import(result, out_dir)
    return Path(out_dir), result.summary()


def customers_overview(ds: Dataset) -> pl.DataFrame:
    """Customers per country and invoicing currency, with their active subscriptions and invoices."""
    customers = ds.frame("customers").select("customer_id", "country", "currency")
    subs = ds.frame("subscriptions").group_by("customer_id").agg(subscriptions=pl.len().cast(pl.Int64))
    invoices = ds.frame("invoices").group_by("customer_id").agg(invoices=pl.len().cast(pl.Int64))
    joined = (customers.join(subs, on="customer_id", how="left").join(invoices, on="customer_id", how="left")
              .with_columns(pl.col("subscriptions").fill_null(0), pl.col("invoices").fill_null(0)))
    return (joined.group_by("country", "currency")
            .agg(customers=pl.len().cast(pl.Int64), subscriptions=pl.col("subscriptions").sum(),
                 invoices=pl.col("invoices").sum())
            .sort(["customers", "country", "currency"], descending=[True, False, False]).collect())


def pick_customer(ds: Dataset, findings: pl.DataFrame, customer_id: str | None = None) -> str:
    """``customer_id`` when the dataset has it; None: the customer with the most money at stake (else the first)."""
    ids = ds.frame("customers").select("customer_id").collect()["customer_id"]
    if customer_id is not None:
        if customer_id not in ids:
            sample = ", ".join(repr(i) for i in ids.sort().head(5).to_list())
            raise ParameterError(f"customer_id {customer_id!r} is not in the customers table "
                                 f"(identifiers are compared exactly; some there: {sample})")
        return customer_id
    ranked = (findings.filter(pl.col("customer_id").is_not_null())
              .group_by("customer_id").agg(pl.col("at_stake_base").sum(), pl.len().alias("n"))
              .sort(["at_stake_base", "n", "customer_id"], descending=[True, True, False], nulls_last=True))
    if ranked.height:
        return ranked["customer_id"][0]
    if ids.len() == 0:
        raise ParameterError("the customers table is empty: there is no customer to look at")
    return ids.sort()[0]


def customer_profile(ds: Dataset, customer_id: str, findings: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Everything about one customer: details, subscriptions (with the plan), invoices, payments, findings."""
    mine = pl.col("customer_id") == customer_id
    plans = ds.frame("plans").select("plan_id", "currency", "product", "charge_model", "interval").unique(
        ["plan_id", "currency"])
    customer = ds.frame("customers").filter(mine).drop(ROW).collect()
    currency = customer["currency"][0] if customer.height else None
    subscriptions = (ds.frame("subscriptions").filter(mine)
                     .join(plans.filter(pl.col("currency") == currency).drop("currency"), on="plan_id", how="left")
                     .sort("start_date", "subscription_id")
                     .select("subscription_id", "plan_id", "product", "charge_model", "interval",
                             number_text(pl.col("quantity")).alias("quantity"), "start_date", "end_date",
                             number_text(pl.col("discount_pct")).alias("discount_pct"),
                             number_text(pl.col("unit_price_override")).alias("unit_price_override"))
                     .collect())
    invoices = (ds.frame("invoices").filter(mine)
                .select("invoice_id", "issue_date", "due_date", "period_start", "currency", "total", "status")
                .sort("issue_date", "invoice_id").collect())
    payments = (ds.frame("payments").filter(mine)
                .select("payment_id", "received_date", "currency", "amount", "invoice_id", "reference")
                .sort("received_date", "payment_id").collect())
    found = (findings.filter(mine)
             .select("check", "severity", "invoice_id", "line_no", "period", "currency", "at_stake", "message")
             .sort("period", "check", "invoice_id", "line_no", nulls_last=True))
    return {"customer": customer, "subscriptions": subscriptions, "invoices": invoices, "payments": payments,
            "findings": found}
