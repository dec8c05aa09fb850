"""Tiny datasets written as CSV text inside the tests, so the fixture sits beside the assertion."""
from __future__ import annotations

import textwrap
from pathlib import Path

BASE_TABLES = {
    "customers": """
        customer_id,name,email,country,currency,payment_terms_days,tax_exempt
        C1,Acme GmbH,billing@acme.example,DE,EUR,30,false
    """,
    "plans": """
        plan_id,currency,product,billing,interval,charge_model,unit_price,package_size,free_units,rate_pct,fixed_fee
        SEAT,EUR,Seats,recurring,month,per_unit,10.00,,,,
    """,
    "subscriptions": """
        subscription_id,customer_id,plan_id,quantity,start_date,end_date,discount_pct,unit_price_override
        S1,C1,SEAT,3,2024-01-01,,,
    """,
    "tax_rates": """
        country,valid_from,valid_to,rate_pct
        DE,2000-01-01,,19
    """,
}


def write_dataset(folder: Path, **tables: str) -> Path:
    """Write BASE_TABLES overridden by ``tables`` (CSV text; None drops a table) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    merged = {**BASE_TABLES, **tables}
    for name, text in merged.items():
        if text is None:
            continue
        body = textwrap.dedent(text).strip("\n") + "\n"
        (folder / f"{name}.csv").write_text(body, encoding="utf-8")
    return folder


def header(table_name: str) -> str:
    """The contract's header row of a table, e.g. header("customers")."""
    from billing_lib.data.contract import TABLES
    return ",".join(TABLES[table_name].names)


CUST_H = header("customers")
PLANS_H = header("plans")
TIERS_H = header("plan_tiers")
SUBS_H = header("subscriptions")
USAGE_H = header("usage")
TAX_H = header("tax_rates")
INV_H = header("invoices")


def table(head: str, *rows: str) -> str:
    """CSV text from a header row and data rows."""
    return "\n".join([head, *rows]) + "\n"


def in_chunks(ds, rows_per_chunk: int = 1):
    """The dataset with every table split into chunks of ``rows_per_chunk`` rows, as a large dataset read in
    parts is held: the shape on which polars' streaming engine leaves empty chunks behind a filter."""
    import polars as pl

    from billing_lib.data.dataset import Dataset

    def split(frame: pl.DataFrame) -> pl.DataFrame:
        parts = [frame.slice(i, rows_per_chunk) for i in range(0, frame.height, rows_per_chunk)]
        return pl.concat(parts, rechunk=False) if len(parts) > 1 else frame
    return Dataset(folder=ds.folder, tables={name: split(t) for name, t in ds.tables.items()}, files=ds.files)


ENGINES = ["in-memory", "streaming"]


def engine_dataset(ds):
    """``ds`` as the engine of the test sees it: under ``BILLING_ENGINE=streaming`` split into one-row chunks
    (see :func:`in_chunks`), else as loaded."""
    import os
    return in_chunks(ds) if os.environ.get("BILLING_ENGINE") == "streaming" else ds


def edited(tables: dict[str, str], replace=(), add: dict[str, str] | None = None) -> dict[str, str]:
    """``tables`` (CSV text) with ``replace`` applied, each ``(table, old, new)`` once, and ``add``'s rows
    appended to their tables (a table not in ``tables`` is ``add``'s text, its header included)."""
    out = {name: textwrap.dedent(text) for name, text in tables.items()}
    for name, old, new in replace:
        assert old in out[name], f"{old!r} not in {name}"
        out[name] = out[name].replace(old, new, 1)
    for name, rows in (add or {}).items():
        body = textwrap.dedent(rows).strip("\n") + "\n"
        out[name] = out[name].rstrip("\n") + "\n" + body if name in out else body
    return out
