"""A generated month to send, and the `billing send` calls the sending tests share."""
from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl

from billing_lib.core.periods import parse_period
from billing_lib.data.loading import load_dataset
from billing_lib.invoicing.generate import generate_period, write_generated
from billing_lib.synth import synthesize

SENDER = "Billing Team <billing@vendor.example>"
HOSTILE_NAME = 'Evil "Corp", <b>bold</b>\r\nBcc: victim@attacker.example'


def billing_env(**env: str) -> dict[str, str]:
    """The environment of a ``billing`` subprocess: no BILLING_ variable of the caller's, the test sender."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")}
    return {**clean, "BILLING_MAIL_FROM": SENDER, **env}


def billing(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "billing_lib", *args], capture_output=True, text=True,
                          env=billing_env(**env))


def make_month(root: Path, edit: dict[str, dict[str, str]] | None = None) -> tuple[Path, Path]:
    """A synthetic dataset (customers edited per ``edit``) and its generated March 2024 invoices."""
    data = root / "data"
    synthesize(data, seed=5, customers=12, months=2, anomaly_rate=0)
    if edit:
        customers = pl.read_csv(data / "customers.csv", infer_schema=False)
        for cid, values in edit.items():
            customers = customers.with_columns(
                pl.when(pl.col("customer_id") == cid).then(pl.lit(v)).otherwise(pl.col(k)).alias(k)
                for k, v in values.items())
        customers.write_csv(data / "customers.csv")
    ds = load_dataset(data)
    write_generated(generate_period(ds, parse_period("2024-03")), ds, root / "gen")
    return data, root / "gen"


def invoices(gen: Path) -> list[dict[str, str]]:
    with (gen / "invoices.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def emails(data: Path) -> dict[str, str]:
    customers = pl.read_csv(data / "customers.csv", infer_schema=False)
    return dict(zip(customers["customer_id"], customers["email"].fill_null(""), strict=True))


def log_rows(gen: Path) -> list[dict]:
    with sqlite3.connect(gen / "delivery_log.sqlite") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM deliveries ORDER BY attempt_id")]


def send_smtp(data: Path, gen: Path, port: int, *extra: str, **env: str) -> subprocess.CompletedProcess:
    """``billing send --all`` to the loopback server, without waits between tries unless ``extra`` sets them."""
    return billing("send", str(gen), "--data", str(data), "--smtp-host", "127.0.0.1", "--smtp-port", str(port),
                   "--all", "--retry-delay", "0", *extra, **env)


def fresh(month: tuple[Path, Path], root: Path) -> tuple[Path, Path]:
    """A copy of the shared month with no delivery log yet."""
    data, gen = root / "data", root / "gen"
    shutil.copytree(month[0], data)
    shutil.copytree(month[1], gen)
    return data, gen
