"""`billing generate`: invoices rated by the same engine the checks use, so verifying them finds nothing."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from billing_lib.loading import load_dataset
from billing_lib.periods import parse_period
from billing_lib.synth import synthesize
from billing_lib.verify import verify

REFERENCE = ["customers", "plans", "plan_tiers", "subscriptions", "usage", "tax_rates", "fx_rates"]


def billing(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "billing_lib", *args], capture_output=True, text=True)


def _without_last_month(src: Path, dst: Path, last: str) -> Path:
    """The clean dataset's configuration and its invoices before ``last`` (payments and ledger left out)."""
    dst.mkdir()
    for name in REFERENCE:
        shutil.copy(src / f"{name}.csv", dst / f"{name}.csv")
    invoices = pl.read_csv(src / "invoices.csv", infer_schema=False)
    keep = invoices.filter(~pl.col("period_start").str.starts_with(last))
    keep.write_csv(dst / "invoices.csv")
    lines = pl.read_csv(src / "invoice_lines.csv", infer_schema=False)
    lines.filter(pl.col("invoice_id").is_in(keep["invoice_id"].implode())).write_csv(dst / "invoice_lines.csv")
    return dst


@pytest.mark.parametrize("seed", [2, 9])
def test_generated_month_verifies_clean(tmp_path, seed):
    clean = tmp_path / "clean"
    synthesize(clean, seed=seed, customers=40, months=4, anomaly_rate=0)
    data = _without_last_month(clean, tmp_path / "data", "2024-04")
    out = tmp_path / "generated"
    done = billing("generate", str(data), "--period", "2024-04", "--out", str(out))
    assert done.returncode == 0, done.stderr
    merged = tmp_path / "merged"
    shutil.copytree(data, merged)
    for name in ("invoices", "invoice_lines"):
        both = pl.concat([pl.read_csv(data / f"{name}.csv", infer_schema=False),
                          pl.read_csv(out / f"{name}.csv", infer_schema=False)], how="diagonal")
        both.write_csv(merged / f"{name}.csv")
    result = verify(load_dataset(merged))
    assert result.summary["periods"][-1] == "2024-04"
    assert result.exceptions.height == 0, result.exceptions.select("check", "message").to_dicts()
    generated = pl.read_csv(out / "invoices.csv", infer_schema=False)
    assert generated.height > 0 and set(generated["period_start"]) == {"2024-04-01"}


def test_generate_is_deterministic_and_continues_the_sequence(tmp_path):
    data = Path(__file__).resolve().parents[1] / "data" / "sample"
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        assert billing("generate", str(data), "--period", "2024-07", "--out", str(out)).returncode == 0
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(files) > 3
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    existing = pl.read_csv(data / "invoices.csv", infer_schema=False)["invoice_id"]
    new = pl.read_csv(first / "invoices.csv", infer_schema=False)["invoice_id"].sort()
    last = max(int(i.removeprefix("INV-")) for i in existing)
    assert [int(i.removeprefix("INV-")) for i in new] == list(range(last + 1, last + 1 + new.len()))


def test_invoice_documents_escape_hostile_names(tmp_path):
    data = Path(__file__).resolve().parents[1] / "data" / "sample"
    out = tmp_path / "g"
    assert billing("generate", str(data), "--period", "2024-07", "--out", str(out)).returncode == 0
    docs = "\n".join(p.read_text(encoding="utf-8") for p in (out / "documents").glob("*.html"))
    assert "<script>alert" not in docs
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in docs
    assert "Müller" in docs or "株式会社" in docs


def test_generate_bad_period_exits_2(tmp_path):
    data = Path(__file__).resolve().parents[1] / "data" / "sample"
    done = billing("generate", str(data), "--period", "July", "--out", str(tmp_path / "x"))
    assert done.returncode == 2 and "YYYY-MM" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x").exists()


def test_invoice_numbers_cannot_lead_documents_out_of_the_output_folder(tmp_path):
    from helpers import write_dataset
    data = write_dataset(tmp_path / "data", invoices="""
        invoice_id,customer_id,currency,issue_date,due_date,period_start,period_end,subtotal,discount,tax,total,status
        ../../escape-7,C1,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,30.00,0.00,5.70,35.70,open
    """, invoice_lines="""
        invoice_id,line_no,subscription_id,plan_id,description,period_start,period_end,quantity,unit_price,amount,discount,tax_rate_pct,tax_amount
        ../../escape-7,1,S1,SEAT,Seats,2024-01-01,2024-01-31,3,10.00,30.00,0.00,19,5.70
    """)
    out = tmp_path / "deep" / "out"
    done = billing("generate", str(data), "--period", "2024-02", "--out", str(out))
    assert done.returncode == 2 and "cannot name a document file" in done.stderr
    assert not list(tmp_path.rglob("escape-*.html"))
