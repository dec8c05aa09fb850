"""`billing generate`: invoices rated by the same engine the checks use, so verifying them finds nothing."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from helpers import write_dataset

from billing_lib.core.periods import parse_period
from billing_lib.data.loading import load_dataset
from billing_lib.synth import synthesize
from billing_lib.verification import verify

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


@pytest.mark.parametrize("seed", [2, 9, 23])
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


# ---------------------------------------------------------------------------------------------
# Hand-computed invoices: every charge model, proration edge days, a year term, 0- and 3-digit currencies

MODELS = {
    "customers": """
        customer_id,name,email,country,currency,payment_terms_days,tax_exempt
        C1,Acme GmbH,billing@acme.example,DE,EUR,30,false
        CB,Manama Trading W.L.L.,ap@manama.example,BH,BHD,30,false
        CJ,株式会社テスト,keiri@test.example,JP,JPY,15,false
        CK,Al-Mutawa Trading,ap@mutawa.example,KW,KWD,45,false
        CX,"<script>alert(1)</script> ""Quoted"" & Co",ap@x.example,US,USD,30,true
    """,
    "plans": """
        plan_id,currency,product,billing,interval,charge_model,unit_price,package_size,free_units,rate_pct,fixed_fee
        SEAT,EUR,Seats,recurring,month,per_unit,10.00,,,,
        BASE,EUR,Platform fee,recurring,month,flat,49.00,,,,
        TIER,EUR,API calls,usage,month,graduated,,,,,
        VOL,EUR,Team seats,recurring,month,volume,,,,,
        PKG,EUR,SMS bundles,usage,month,package,20.00,100,50,,
        PAY,EUR,Payments,usage,month,percentage,,,,2.9,0.30
        YEAR,EUR,Annual seats,recurring,year,per_unit,100.00,,,,
        SEAT,JPY,Seats,recurring,month,per_unit,1944,,,,
        SEAT,KWD,Seats,recurring,month,per_unit,4.125,,,,
        BASE,BHD,Platform fee,recurring,month,flat,12.345,,,,
        SEAT,USD,Seats,recurring,month,per_unit,12.00,,,,
    """,
    "plan_tiers": """
        plan_id,currency,tier,up_to,unit_price,flat_fee
        TIER,EUR,1,1000,0.05,
        TIER,EUR,2,,0.04,
        VOL,EUR,1,10,8.00,
        VOL,EUR,2,,6.00,5.00
    """,
    "subscriptions": """
        subscription_id,customer_id,plan_id,quantity,start_date,end_date,discount_pct,unit_price_override
        S1,C1,SEAT,3,2024-01-01,,,
        S2,C1,BASE,,2024-06-13,,,
        S3,C1,TIER,,2024-01-01,,,
        S4,C1,VOL,12,2024-01-01,,10,
        S5,C1,PKG,,2024-01-01,,,
        S6,C1,PAY,,2024-01-01,,,
        S7,C1,YEAR,2,2023-06-15,,,
        S8,C1,SEAT,2,2024-05-20,2024-06-01,,
        S9,CJ,SEAT,7,2024-06-30,,,
        S10,CK,SEAT,3,2024-01-01,,,
        S11,CB,BASE,,2024-06-01,2024-06-30,,
        S12,CX,SEAT,1,2024-06-01,,,9.50
    """,
    "usage": """
        event_id,subscription_id,event_time,quantity
        E1,S3,2024-06-10T10:00:00Z,1500
        E2,S5,2024-06-11T10:00:00Z,250
        E3,S6,2024-06-12T10:00:00Z,1000.00
        E4,S6,2024-06-20T23:59:59Z,234.00
        E5,S3,2024-07-01T00:00:00Z,999
    """,
    "tax_rates": """
        country,valid_from,valid_to,rate_pct
        DE,2000-01-01,,19
        JP,2000-01-01,,10
        KW,2000-01-01,,0
        BH,2000-01-01,,10
    """,
}

# Each figure worked out by hand from the contract (issue date 2024-07-01, June has 30 days, tax 19% in DE):
EXPECTED_INVOICES = """\
invoice_id,customer_id,currency,issue_date,due_date,period_start,period_end,subtotal,discount,tax,total,status
INV-0000001,C1,EUR,2024-07-01,2024-07-31,2024-06-01,2024-06-30,483.46,7.70,90.40,566.16,open
INV-0000002,CB,BHD,2024-07-01,2024-07-31,2024-06-01,2024-06-30,12.345,0.000,1.235,13.580,open
INV-0000003,CJ,JPY,2024-07-01,2024-07-16,2024-06-01,2024-06-30,454,0,45,499,open
INV-0000004,CK,KWD,2024-07-01,2024-08-15,2024-06-01,2024-06-30,12.375,0.000,0.000,12.375,open
INV-0000005,CX,USD,2024-07-01,2024-07-31,2024-06-01,2024-06-30,9.50,0.00,0.00,9.50,open
"""
# invoice_id, line_no, subscription_id, period_start, period_end, quantity, unit_price, amount, discount,
# tax_rate_pct, tax_amount
EXPECTED_LINES = [
    # per_unit: 3 x 10.00 = 30.00; tax 5.70
    "INV-0000001,1,S1,2024-06-01,2024-06-30,3,10,30.00,0.00,19,5.70",
    # flat from the 13th: 49.00 x 18/30 = 29.40; tax 5.586 -> 5.59
    "INV-0000001,2,S2,2024-06-13,2024-06-30,1,49,29.40,0.00,19,5.59",
    # graduated: 1000 x 0.05 + 500 x 0.04 = 70.00 (the event of 1 July belongs to July); tax 13.30
    "INV-0000001,3,S3,2024-06-01,2024-06-30,1500,,70.00,0.00,19,13.30",
    # volume: 12 seats all in tier 2: 12 x 6.00 + 5.00 = 77.00; discount 10% = 7.70; tax 69.30 x 19% = 13.167 -> 13.17
    "INV-0000001,4,S4,2024-06-01,2024-06-30,12,,77.00,7.70,19,13.17",
    # package: ceil((250 - 50 free) / 100) = 2 x 20.00 = 40.00; tax 7.60
    "INV-0000001,5,S5,2024-06-01,2024-06-30,250,20,40.00,0.00,19,7.60",
    # percentage: 1234.00 x 2.9% = 35.786 + 2 events x 0.30 = 36.386 -> 36.39; tax 6.9141 -> 6.91
    "INV-0000001,6,S6,2024-06-01,2024-06-30,1234,,36.39,0.00,19,6.91",
    # year term renewing on its anniversary 15 June: 2 x 100.00 = 200.00 for 2024-06-15..2025-06-14; tax 38.00
    "INV-0000001,7,S7,2024-06-15,2025-06-14,2,100,200.00,0.00,19,38.00",
    # ends on 1 June: 20.00 x 1/30 = 0.666.. -> 0.67; tax 0.1273 -> 0.13
    "INV-0000001,8,S8,2024-06-01,2024-06-01,2,10,0.67,0.00,19,0.13",
    # BHD, 3 digits, whole month from the 1st to the 30th (not prorated): 12.345; tax 10% = 1.2345 -> 1.235
    "INV-0000002,1,S11,2024-06-01,2024-06-30,1,12.345,12.345,0.000,10,1.235",
    # JPY, no minor unit, starts on the 30th: 7 x 1944 = 13608 x 1/30 = 453.6 -> 454; tax 45.4 -> 45
    "INV-0000003,1,S9,2024-06-30,2024-06-30,7,1944,454,0,10,45",
    # KWD, 3 digits: 3 x 4.125 = 12.375; Kuwait 0%
    "INV-0000004,1,S10,2024-06-01,2024-06-30,3,4.125,12.375,0.000,0,0.000",
    # tax-exempt customer with a negotiated price: the override 9.50 replaces the plan's 12.00; rate 0
    "INV-0000005,1,S12,2024-06-01,2024-06-30,1,9.5,9.50,0.00,0,0.00",
]
LINE_COLUMNS = ["invoice_id", "line_no", "subscription_id", "period_start", "period_end", "quantity", "unit_price",
                "amount", "discount", "tax_rate_pct", "tax_amount"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The hand-computed dataset generated for June 2024 with the command: (data folder, output folder)."""
    root = tmp_path_factory.mktemp("models")
    data = write_dataset(root / "data", **MODELS)
    out = root / "generated"
    done = billing("generate", str(data), "--period", "2024-06", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return data, out


def test_hand_computed_invoices_for_every_charge_model(models):
    _, out = models
    assert (out / "invoices.csv").read_text(encoding="utf-8") == EXPECTED_INVOICES
    lines = pl.read_csv(out / "invoice_lines.csv", infer_schema=False).select(LINE_COLUMNS)
    got = [",".join("" if v is None else v for v in row) for row in lines.iter_rows()]
    assert got == EXPECTED_LINES


def test_every_charge_model_generated_then_verified_gives_no_findings(models):
    from billing_lib.invoicing.generate import generate_period
    from billing_lib.invoicing.prebilling import with_drafts
    data, _ = models
    ds = load_dataset(data)
    june = parse_period("2024-06")
    gen = generate_period(ds, june)
    assert set(gen.lines["charge_model"]) == {"flat", "per_unit", "graduated", "volume", "package", "percentage"}
    assert gen.lines.filter(pl.col("prorated")).height == 3 and gen.lines.filter(pl.col("kind") == "year_term").height == 1
    result = verify(with_drafts(ds, gen), [june])
    assert result.exceptions.height == 0, result.exceptions.select("check", "message").to_dicts()
    # the written files verify the same way when loaded back as a dataset
    merged = data.parent / "merged"
    shutil.copytree(data, merged)
    for name in ("invoices", "invoice_lines"):
        shutil.copy(models[1] / f"{name}.csv", merged / f"{name}.csv")
    assert verify(load_dataset(merged), [june]).exceptions.height == 0


def test_documents_explain_the_arithmetic_in_the_customers_locale(models):
    _, out = models
    docs = out / "documents"
    eur = (docs / "INV-0000001.html").read_text(encoding="utf-8")
    nbsp = "\u00a0"
    for text in (
        f"graduated: 1.000 units × 0,05{nbsp}€ + 500 units × 0,04{nbsp}€",  # de_DE: 1.000 and 0,05 €
        f"volume: all 12 units in the tier over 10, 12 × 6,00{nbsp}€ + tier fee 5,00{nbsp}€",
        f"discount 10% of 77,00{nbsp}€ = 7,70{nbsp}€",
        f"2 packages of 100 (250 units, first 50 free) × 20,00{nbsp}€",
        f"2,9% of 1.234,00{nbsp}€ + 2 × 0,30{nbsp}€ per transaction",
        f"flat fee 49,00{nbsp}€; full month 49,00{nbsp}€ × 18 of 30 days = 29,40{nbsp}€",
        f"full month 20,00{nbsp}€ × 1 of 30 days = 0,67{nbsp}€",
        f"2 units × 100,00{nbsp}€; annual term billed in advance",
        f"<td class=\"num\">566,16{nbsp}€</td>",
    ):
        assert text in eur, text
    assert "￥499" in (docs / "INV-0000003.html").read_text(encoding="utf-8")  # ja_JP, no minor unit
    assert f"BHD{nbsp}13.580" in (docs / "INV-0000002.html").read_text(encoding="utf-8")  # 3 digits
    assert f"KWD{nbsp}12.375" in (docs / "INV-0000004.html").read_text(encoding="utf-8")
    assert "1 unit × $9.50" in (docs / "INV-0000005.html").read_text(encoding="utf-8")  # en_US, override


def test_html_documents_escape_hostile_names(models):
    from html.parser import HTMLParser
    _, out = models
    page = (out / "documents" / "INV-0000005.html").read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &#34;Quoted&#34; &amp; Co" in page

    class Tags(HTMLParser):
        seen: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.seen.append(tag)

    parser = Tags()
    parser.feed(page)
    assert "script" not in parser.seen
    assert "株式会社テスト" in (out / "documents" / "INV-0000003.html").read_text(encoding="utf-8")


def test_pdfs_open_and_hold_the_invoice_number_name_and_total(models):
    from pypdf import PdfReader
    _, out = models
    expected_totals = {"INV-0000001": "566,16\u00a0€", "INV-0000002": "BHD\u00a013.580", "INV-0000003": "￥499",
                       "INV-0000004": "KWD\u00a012.375", "INV-0000005": "$9.50"}
    for invoice_id, total in expected_totals.items():
        reader = PdfReader(out / "documents" / f"{invoice_id}.pdf")
        text = "\n".join(page.extract_text() for page in reader.pages)
        assert invoice_id in text
        assert f"Total due {total}".replace("\u00a0", " ") in text.replace("\u00a0", " "), text
    names = {"INV-0000003": "株式会社テスト", "INV-0000005": '<script>alert(1)</script> "Quoted" & Co',
             "INV-0000002": "Manama Trading W.L.L."}
    for invoice_id, name in names.items():
        text = PdfReader(out / "documents" / f"{invoice_id}.pdf").pages[0].extract_text()
        assert name in text, text


def test_generate_writes_a_pdf_for_every_invoice_and_removes_stale_documents(models, tmp_path):
    data, out = models
    ids = pl.read_csv(out / "invoices.csv", infer_schema=False)["invoice_id"].to_list()
    assert sorted(p.name for p in (out / "documents").iterdir()) == sorted(
        [f"{i}.html" for i in ids] + [f"{i}.pdf" for i in ids])
    again = tmp_path / "again"
    shutil.copytree(out, again)
    (again / "documents" / "INV-9999999.pdf").write_bytes(b"%PDF-1.4 stale")
    assert billing("generate", str(data), "--period", "2024-06", "--out", str(again)).returncode == 0
    assert not (again / "documents" / "INV-9999999.pdf").exists()
    for path in sorted(out.rglob("*")):  # same input, same bytes (PDFs included)
        if path.is_file():
            assert (again / path.relative_to(out)).read_bytes() == path.read_bytes(), path.name


def test_generating_a_month_already_invoiced_says_so(tmp_path):
    data = Path(__file__).resolve().parents[1] / "data" / "sample"
    done = billing("generate", str(data), "--period", "2024-06", "--out", str(tmp_path / "g"))
    assert done.returncode == 0, done.stderr
    assert "already holds 32 invoice(s) for 2024-06 (INV-0000160 to INV-0000192)" in done.stderr
    assert "invoice documents written" in done.stderr  # progress


def test_generate_draws_a_progress_bar_on_a_terminal(tmp_path):
    import fcntl
    import os
    import pty
    import struct
    import termios
    data = Path(__file__).resolve().parents[1] / "data" / "sample"
    terminal, its_end = pty.openpty()
    fcntl.ioctl(its_end, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    done = subprocess.run([sys.executable, "-m", "billing_lib", "generate", str(data), "--period", "2024-06",
                           "--out", str(tmp_path / "g")], stdout=subprocess.PIPE, stderr=its_end, text=True)
    os.close(its_end)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:  # the other end is closed and everything was read
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    assert done.returncode == 0
    screen = shown.decode()
    assert "invoice documents: 100%" in screen and "32/32" in screen, screen
    assert "\r" in screen  # one line redrawn, not a line per step


def test_a_month_drawn_by_a_pool_of_processes_is_the_same_bytes_as_by_one(tmp_path):
    data = tmp_path / "data"
    synthesize(data, seed=11, customers=220, months=1, anomaly_rate=0.0)
    for workers in ("2", "1"):
        done = billing("generate", str(data), "--period", "2024-01", "--out", str(tmp_path / workers),
                       "--workers", workers)
        assert done.returncode == 0, done.stderr
    pdfs = sorted((tmp_path / "2" / "documents").glob("*.pdf"))
    assert len(pdfs) >= 128  # enough documents for the pool to be used
    for path in sorted((tmp_path / "2").rglob("*")):
        if path.is_file():
            assert (tmp_path / "1" / path.relative_to(tmp_path / "2")).read_bytes() == path.read_bytes(), path.name
