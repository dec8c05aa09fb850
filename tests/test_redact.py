"""Sharing without personal data: a redacted dataset, and a redacted monthly run scanned for every name.

The run is real (papermill executes every workbook of the sample month, nbconvert writes the reports, Excel
schedules are written); every file it publishes is read back, with HTML entities, JSON escapes and the
XML inside Excel files undone, and searched for each customer name and e-mail address of the sample.
"""
from __future__ import annotations

import html
import io
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import polars as pl
import pytest

from billing_lib.core.periods import parse_period
from billing_lib.data.dataset import Dataset
from billing_lib.data.loading import load_dataset
from billing_lib.data.redact import MASKED_EMAIL, redact
from billing_lib.verification import verify, write_results

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def _dataset(customers: dict, payments: dict | None = None) -> Dataset:
    tables = {"customers": pl.DataFrame(customers)}
    if payments:
        tables["payments"] = pl.DataFrame(payments)
    return Dataset(folder=Path("."), tables=tables)


def test_names_emails_and_addresses_are_masked_and_ids_and_money_kept():
    ds = _dataset(
        {"customer_id": ["C-1", "C-2", "C-3"], "name": ["Müller & Söhne GmbH", "Al", None],
         "email": ["ap@mueller.example", None, "x@y.example"], "country": ["DE", "GB", "FR"],
         "address": ["Hauptstraße 1, Berlin", "1 Lane", None], "payment_terms_days": [30, 14, 7]},
        {"payment_id": ["P-1", "P-2", "P-3"], "customer_id": ["C-1", "C-2", "C-1"],
         "amount": ["10.00", "20.00", "30.00"],
         "reference": ["MÜLLER & SÖHNE GMBH INV-1", "Al paid INV-2 via ap@mueller.example",
                       "müller & söhne gmbh"]})
    out = redact(ds)
    customers = out.tables["customers"]
    assert customers["name"].to_list() == ["Customer C-1", "Customer C-2", "Customer C-3"]
    assert customers["email"].to_list() == [None, None, None]
    assert customers["address"].to_list() == [None, None, None]  # beyond the contract: emptied
    assert customers.select("customer_id", "country", "payment_terms_days").equals(
        ds.tables["customers"].select("customer_id", "country", "payment_terms_days"))
    payments = out.tables["payments"]
    # ASCII case is ignored, non-ASCII letters are matched as written (the all-capital variant stays); a name
    # shorter than three characters stays inside free text
    assert payments["reference"].to_list() == [
        "MÜLLER & SÖHNE GMBH INV-1", f"Al paid INV-2 via {MASKED_EMAIL}", "Customer C-1"]
    assert payments.drop("reference").equals(ds.tables["payments"].drop("reference"))
    # the input is not changed
    assert ds.tables["customers"]["name"].to_list()[0] == "Müller & Söhne GmbH"


def test_a_name_inside_free_text_is_masked_whatever_its_ascii_case():
    ds = _dataset({"customer_id": ["C-7"], "name": ["Acme Widgets Ltd"], "email": ["billing@acme.example"]},
                  {"payment_id": ["P-1"], "customer_id": ["C-7"], "reference": ["ACME widgets LTD / INV-0000007"]})
    assert redact(ds).tables["payments"]["reference"].to_list() == ["Customer C-7 / INV-0000007"]


def test_loading_with_redact_masks_every_sample_customer_and_finds_the_same_findings():
    plain = load_dataset(SAMPLE)
    masked = load_dataset(SAMPLE, redact=True)
    customers = masked.tables["customers"]
    assert (customers["name"] == "Customer " + customers["customer_id"]).all()
    assert customers["email"].null_count() == customers.height
    assert verify(masked).exceptions.equals(verify(plain).exceptions)


def _variants(text: str) -> list[str]:
    """The text as written, with JSON \\u escapes undone, and each with HTML entities undone."""
    unescaped = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    return [text, unescaped, html.unescape(text), html.unescape(unescaped)]


def _published_text(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
    return data.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def redacted_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("redacted")
    params = folder / "run.yaml"
    params.write_text(textwrap.dedent(f"""
        period: "2024-06"
        data_dir: {SAMPLE}
        output_dir: out
        notebooks_dir: {ROOT / "notebooks"}
        investigations: 2
    """), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "billing_lib", "run", str(params), "--redact"], cwd=folder,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder / "out"


def test_a_redacted_run_publishes_no_customer_name_or_email(redacted_run):
    customers = load_dataset(SAMPLE).tables["customers"]
    secrets = [s for s in customers["name"].drop_nulls().to_list() + customers["email"].drop_nulls().to_list()
               if len(s) >= 3]
    assert len(secrets) >= 2 * customers.height - 2
    published = sorted(p for p in redacted_run.rglob("*") if p.is_file())
    assert any(p.suffix == ".html" for p in published) and any(p.suffix == ".xlsx" for p in published)
    leaks = []
    for path in published:
        texts = _variants(_published_text(path))
        leaks += [(path.relative_to(redacted_run).as_posix(), s) for s in secrets if any(s in t for t in texts)]
    assert leaks == []


def test_a_redacted_run_keeps_ids_and_money(redacted_run, tmp_path):
    report = (redacted_run / "reports" / "03_month_end_close.html").read_text(encoding="utf-8")
    assert "Customer C-000" in html.unescape(report)  # customers shown by their masked name, with the id
    # the findings are the same as an unredacted verification of the month, byte for byte
    plain = write_results(verify(load_dataset(SAMPLE), [parse_period("2024-06")]), tmp_path)
    by_name = {p.name: p for p in plain}
    published = redacted_run / "verification" / "exceptions.csv"
    assert published.read_bytes() == by_name["exceptions.csv"].read_bytes()
