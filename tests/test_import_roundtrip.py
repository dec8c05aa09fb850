"""Round trips: ``billing synth`` data exported as Stripe (both API shapes) and as Xero API responses by a
test-only writer, imported back, verified: the same findings as on the original (restricted to what each
system can carry), and the planted mistakes it can express all found with no false finding."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from stripe_writer import not_carried, write_stripe_export

from billing_lib.data.importers import import_stripe, write_import
from billing_lib.data.loading import load_dataset
from billing_lib.synth.scoring import score
from billing_lib.verification import verify

KEYS = ["check", "customer_id", "invoice_id", "line_no", "subscription_id", "payment_id"]
# checks that judge a line against its subscription: not for lines Stripe carries as one-off items
CONTRACT_CHECKS = ["price_mismatch", "quantity_mismatch", "discount_mismatch", "unbilled_charge", "duplicate_charge",
                   "billed_outside_term", "orphan_reference"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "data"
    subprocess.run([sys.executable, "-m", "billing_lib", "synth", "--out", str(out), "--customers", "40",
                    "--months", "4", "--seed", "11", "--anomaly-rate", "0.05"], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def original(synth) -> pl.DataFrame:
    return verify(load_dataset(synth)).exceptions


def _not_carried(frame: pl.DataFrame, synth: Path) -> pl.Expr:
    subs, lines = not_carried(synth)
    on_line = pl.struct(pl.col("invoice_id"), pl.col("line_no").cast(pl.String)).is_in(
        [{"invoice_id": a, "line_no": b} for a, b in lines])
    return pl.col("check").is_in(CONTRACT_CHECKS) & (
        pl.col("subscription_id").is_in(list(subs)).fill_null(False) | on_line.fill_null(False))


def comparable(found: pl.DataFrame, synth: Path) -> pl.DataFrame:
    """Findings as keys, without the ledger's (Stripe keeps none) and those on what Stripe cannot carry; a
    line's subscription is implied by the line (an unknown one keeps its Stripe id)."""
    found = found.filter((pl.col("check") != "gl_mismatch") & ~_not_carried(found, synth))
    found = found.with_columns(subscription_id=pl.when(pl.col("line_no").is_not_null()).then(None)
                               .otherwise(pl.col("subscription_id")))
    return found.select([pl.col(k).cast(pl.String) for k in KEYS]).unique().sort(KEYS)


@pytest.mark.parametrize("shape", ["current", "legacy"])
def test_stripe_round_trip_finds_the_same(synth, original, tmp_path, shape):
    export = write_stripe_export(synth, tmp_path / "stripe", shape)
    result = import_stripe(export)
    assert result.accounted
    write_import(result, tmp_path / "imported")
    again = verify(load_dataset(tmp_path / "imported")).exceptions
    before, after = comparable(original, synth), comparable(again, synth)
    assert before.height > 20
    assert after.join(before, on=KEYS, how="anti", nulls_equal=True).to_dicts() == []
    assert before.join(after, on=KEYS, how="anti", nulls_equal=True).to_dicts() == []

    truth = pl.read_csv(synth / "ground_truth.csv", infer_schema=False)
    truth = truth.filter((pl.col("check") != "gl_mismatch") & ~_not_carried(truth, synth))
    measured = score(again, truth)
    assert (measured.recall, measured.precision) == (1.0, 1.0), (measured.missed, measured.unexplained)


XERO_CHECKS = ["line_arithmetic", "invoice_totals", "currency_mismatch", "date_inconsistency", "status_mismatch",
               "credit_note_excess", "payment_mismatch"]


def test_xero_round_trip_finds_the_same(synth, tmp_path):
    """Xero carries documents, not contracts: the document checks find the same on the invoices it holds."""
    from xero_writer import carried, write_xero_recording

    from billing_lib.data.importers import import_xero
    result = import_xero(write_xero_recording(synth, tmp_path / "xero"))
    assert result.accounted
    write_import(result, tmp_path / "imported")
    imported = load_dataset(tmp_path / "imported")
    _customers, invoices, _payments = carried(synth)
    before = verify(load_dataset(synth), checks=XERO_CHECKS).exceptions.filter(
        pl.col("invoice_id").is_in(list(invoices)))
    numbers = dict(zip(imported.tables["invoices"]["invoice_id"], imported.tables["invoices"]["invoice_number"],
                       strict=True))
    after = verify(imported, checks=XERO_CHECKS).exceptions.with_columns(
        invoice_id=pl.col("invoice_id").replace(numbers))
    keys = ["check", "customer_id", "invoice_id", "line_no"]
    before, after = (f.select([pl.col(k).cast(pl.String) for k in keys]).unique().sort(keys) for f in (before, after))
    assert before.height > 10
    assert after.to_dicts() == before.to_dicts()
