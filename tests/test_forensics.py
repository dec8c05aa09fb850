"""Forensic analytics (billing_lib/forensics, `billing forensics`): every test on small cases computed by hand,
the digit tests against benford_py, the sample sizes against the AICPA's published table, and the command's
files, errors and determinism."""
from __future__ import annotations

import csv
import importlib.util
import math
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from billing_lib.core.money import DECIMAL
from billing_lib.data.loading import load_dataset
from billing_lib.forensics import digits as dg
from billing_lib.forensics import duplicates, outliers, sampling, stratification
from billing_lib.forensics.command import analyse, write_results
from billing_lib.forensics.population import load_population, months_ending

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
REALDATA = ROOT.parent.parent / "shared" / "realdata"
if not REALDATA.is_dir():
    REALDATA = ROOT.parent / "shared" / "realdata"
RETAIL = REALDATA / "online_retail" / "uci_online_retail_random20k_lines.csv"
CONTRACT_FILES = {"benford.csv": ["test", "digits", "count", "found", "expected", "z_score"],
                  "benford_summary.csv": ["test", "n", "mad", "conformity", "chi_square"]}


def _amounts(values: list[str], currency: str = "EUR", customers: list[str] | None = None) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame({"record": [f"R{i:04d}" for i in range(n)],
                         "customer_id": customers or ["C1"] * n, "currency": [currency] * n,
                         "date": [None] * n, "amount": values},
                        schema={"record": pl.String, "customer_id": pl.String, "currency": pl.String,
                                "date": pl.Date, "amount": pl.String}).with_columns(pl.col("amount").cast(DECIMAL))


def _billing(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "billing_lib", *args], capture_output=True, text=True, cwd=cwd,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


# -- digits, exactly from the decimal value -------------------------------------------------------------

def test_digits_come_from_the_exact_decimal_value():
    frame = pl.DataFrame({"amount": ["12.34", "0.05", "-999999999.9999", "1000", "2.125", "17479", "41.004",
                                     "0.29", "1.15", "10.15", "99999999999999999.99", "0"],
                          "currency": ["EUR", "EUR", "EUR", "EUR", "GBP", "JPY", "KWD", "EUR", "EUR", "EUR",
                                       "EUR", "EUR"]}).with_columns(pl.col("amount").cast(DECIMAL))
    got = dg.digit_columns(frame).select("first", "second", "first_two", "last_two").rows()
    assert got == [(1, 2, 12, 34), (5, 0, 50, None), (9, 9, 99, 99), (1, 0, 10, 0), (2, 1, 21, 25),
                   (1, 7, 17, 79), (4, 1, 41, 4),
                   # 0.29 x 100 is 28.999... and 10.15 x 100 is 1014.999... in binary floating point
                   (2, 9, 29, None), (1, 1, 11, None), (1, 0, 10, 15),
                   (9, 9, 99, 99), (None, None, None, None)]


def test_last_two_digits_of_an_amount_without_currency_are_its_own():
    frame = pl.DataFrame({"amount": ["1234", "1234.5", "12.345"], "currency": [None, None, None]},
                         schema={"amount": pl.String, "currency": pl.String}).with_columns(pl.col("amount").cast(DECIMAL))
    assert dg.digit_columns(frame)["last_two"].to_list() == [34, 45, 45]


def test_expected_shares_are_benfords():
    first = dg.expected_shares("first")
    assert first[1] == pytest.approx(0.30103, abs=1e-5) and first[9] == pytest.approx(0.04576, abs=1e-5)
    assert sum(first.values()) == pytest.approx(1)
    second = dg.expected_shares("second")
    assert second[0] == pytest.approx(0.11968, abs=1e-5) and second[9] == pytest.approx(0.08500, abs=1e-5)
    assert sum(dg.expected_shares("first_two").values()) == pytest.approx(1)
    assert set(dg.expected_shares("last_two").values()) == {0.01}


def test_a_digit_test_computed_by_hand():
    # first digits 1, 1, 2, 9: found 1/2, 1/4, 0 x 6, 1/4
    table = dg.digit_test(pl.Series([1, 1, 2, 9]), "first")
    assert table["count"].to_list() == [2, 1, 0, 0, 0, 0, 0, 0, 1]
    expected = [math.log10(1 + 1 / d) for d in range(1, 10)]
    found = [0.5, 0.25, 0, 0, 0, 0, 0, 0, 0.25]
    mad = sum(abs(f - e) for f, e in zip(found, expected, strict=True)) / 9
    chi = sum((4 * f - 4 * e) ** 2 / (4 * e) for f, e in zip(found, expected, strict=True))
    s = dg.summarize(table)
    assert s["n"] == 4 and s["mad"] == pytest.approx(mad, abs=1e-12) and s["chi_square"] == pytest.approx(chi)
    # Z with the 1/2N continuity correction: digit 1, |0.5 - 0.30103| = 0.19897 > 1/8
    z1 = (abs(0.5 - expected[0]) - 1 / 8) / math.sqrt(expected[0] * (1 - expected[0]) / 4)
    assert table["z_score"][0] == pytest.approx(z1)


def test_the_continuity_correction_is_left_out_when_larger_than_the_difference():
    e = math.log10(2)
    assert dg.z_score(e + 0.001, e, 100) == pytest.approx(0.001 / math.sqrt(e * (1 - e) / 100))  # 1/200 > 0.001
    assert dg.z_score(e + 0.1, e, 100) == pytest.approx((0.1 - 0.005) / math.sqrt(e * (1 - e) / 100))


@pytest.mark.parametrize(("test", "mad", "label"), [
    ("first", 0.006, "close"), ("first", 0.0061, "acceptable"), ("first", 0.012, "acceptable"),
    ("first", 0.0121, "marginal"), ("first", 0.015, "marginal"), ("first", 0.0151, "nonconformity"),
    ("second", 0.008, "close"), ("second", 0.0095, "acceptable"), ("second", 0.011, "marginal"),
    ("second", 0.0121, "nonconformity"), ("first_two", 0.0012, "close"), ("first_two", 0.0015, "acceptable"),
    ("first_two", 0.0020, "marginal"), ("first_two", 0.0023, "nonconformity")])
def test_nigrinis_conformity_ranges(test, mad, label):
    assert dg.conformity(test, mad) == label


def test_spikes_and_summation_by_hand():
    tested = _amounts(["49.99"] * 6 + ["10.00", "12.00", "150.00", "99.99"])
    table, summary = dg.benford(tested)
    assert dg.spikes(table, "first_two")["digits"].to_list()[0] == 49
    sums = dg.summation(tested)
    row = sums.filter(pl.col("digits") == 49).row(0, named=True)
    assert row["count"] == 6 and row["amount"] == Decimal("299.94")
    assert row["share"] == pytest.approx(299.94 / (299.94 + 10 + 12 + 150 + 99.99))
    assert sums.height == 90 and summary["n"].to_list() == [10, 10, 10, 10]


# -- benford_py, the peer -------------------------------------------------------------------------------

def _benford_py():
    if importlib.util.find_spec("benford") is None:
        pytest.skip("benford_py (test extra) is not installed")
    import benford
    return benford


def _cross_check(tested: pl.DataFrame) -> None:
    """Our counts and MAD against benford_py on the same amounts, given as whole minor units (exact)."""
    bf = _benford_py()
    import numpy as np

    from billing_lib.core.currency import minor_digits
    units = np.array([int(abs(a) * 10 ** minor_digits(c)) for a, c in tested.select("amount", "currency").rows()],
                     dtype="int64")
    peer = bf.Benford(units, decimals=0, verbose=False)
    table, summary = dg.benford(tested)
    mads = dict(summary.select("test", "mad").rows())
    for test, name in (("first", "F1D"), ("second", "SD"), ("first_two", "F2D")):
        ours = table.filter(pl.col("test") == test)
        theirs = getattr(peer, name)
        assert ours["count"].to_list() == [int(theirs.Counts.get(d, 0)) for d in ours["digits"].to_list()], test
        assert mads[test] == pytest.approx(float(theirs.MAD), abs=1e-9), test
    ours = table.filter(pl.col("test") == "last_two")
    assert ours["count"].to_list() == [int(peer.L2D.Counts.get(d, 0)) for d in range(100)]
    # benford_py expects 1/99 per pair (the 100 shares then add up to more than 1); the MAD with 1/100 is ours
    found = [float(f) for f in peer.L2D.Found.reindex(range(100), fill_value=0)]
    assert mads["last_two"] == pytest.approx(sum(abs(f - 0.01) for f in found) / 100, abs=1e-12)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore:The inplace keyword:Warning")  # benford_py on pandas 3
def test_benford_py_gives_the_same_counts_and_mad_on_the_sample():
    population = load_population(load_dataset(SAMPLE))
    _cross_check(population.tested(Decimal(10)))


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore:The inplace keyword:Warning")  # benford_py on pandas 3
def test_benford_py_gives_the_same_counts_and_mad_on_online_retail(tmp_path):
    if not RETAIL.is_file():
        pytest.skip(f"real data not found at {RETAIL} (shared/realdata is not part of the repository)")
    data = tmp_path / "retail"
    proc = _billing("import", "online-retail", str(RETAIL), "--out", str(data))
    assert proc.returncode == 0, proc.stderr
    population = load_population(load_dataset(data), "invoice_lines.unit_price")
    _cross_check(population.tested(Decimal(10)))
    totals = load_population(load_dataset(data))
    _cross_check(totals.tested(Decimal(10)))


# -- duplicates ----------------------------------------------------------------------------------------------

def test_number_duplication_by_hand():
    tested = _amounts(["15.00", "15.00", "15.00", "20.00", "20.00", "31.00"], customers=["A", "B", "A", "A", "A", "B"])
    overall = duplicates.number_duplication(tested)
    assert overall.select("amount", "count", "customers").rows() == [(Decimal("15"), 3, 2), (Decimal("20"), 2, 1)]
    assert overall["share"].to_list() == [0.5, pytest.approx(1 / 3)]
    by_customer = duplicates.number_duplication_by_customer(tested)
    assert by_customer.select("customer_id", "amount", "count").rows() == [("A", Decimal("15"), 2),
                                                                           ("A", Decimal("20"), 2)]


@pytest.mark.parametrize(("a", "b"), [("Müller & Söhne GmbH", "MULLER AND SOHNE"), ("Acme Ltd.", "ACME Limited"),
                                      ("Société Générale S.A.", "societe generale"), ("Acme, Inc.", "acme inc")])
def test_names_are_normalised_for_case_accents_and_legal_suffixes(a, b):
    assert duplicates.normalize_name(a) == duplicates.normalize_name(b)


def _dataset_copy(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    return data


def test_duplicate_customers_found_with_score_and_why(tmp_path):
    data = _dataset_copy(tmp_path)
    with (data / "customers.csv").open("a", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["C-90001", "MULLER AND SOHNE", "someone@example.org", "DE", "EUR", "30", "false"])
        w.writerow(["C-90002", "Zebra Unrelated Trading", "billing+c-00002@example.com", "JP", "JPY", "14", "false"])
        w.writerow(["C-90005", "Kestrel Store 12 Ltd", "", "GB", "GBP", "30", "false"])
        w.writerow(["C-90006", "Kestrel Store 21 Ltd", "", "GB", "GBP", "30", "false"])
        w.writerow(["C-90007", "KESTREL STORE 12 LIMITED", "", "GB", "GBP", "30", "false"])
    pairs = duplicates.duplicate_customers(load_dataset(data))
    by_pair = {(r["customer_a"], r["customer_b"]): r for r in pairs.iter_rows(named=True)}
    hit = by_pair[("C-00001", "C-90001")]
    assert hit["name_score"] == 100 and hit["email_score"] == 0 and hit["score"] == 100
    assert "Müller & Söhne GmbH" in hit["why"] and "different e-mail" in hit["why"]
    same_mail = by_pair[("C-00002", "C-90002")]
    assert same_mail["email_score"] == 100 and "the same e-mail address" in same_mail["why"]
    assert same_mail["score"] == round((same_mail["name_score"] + 100) / 2)
    assert all(r["name_score"] >= 80 or r["email_score"] == 100 for r in pairs.iter_rows(named=True))
    # names holding other numbers are other customers ("Store 12" and "Store 21"), whatever their similarity
    assert by_pair[("C-90005", "C-90007")]["score"] == 100
    assert ("C-90005", "C-90006") not in by_pair and ("C-90006", "C-90007") not in by_pair


def test_near_duplicate_invoices_found_with_score_and_why(tmp_path):
    data = _dataset_copy(tmp_path)
    invoices = pl.read_csv(data / "invoices.csv", infer_schema=False)
    lines = pl.read_csv(data / "invoice_lines.csv", infer_schema=False)
    first = invoices.row(0, named=True)  # INV-0000001, EUR 31.49, issued 2024-02-01
    copy = {**first, "invoice_id": "INV-0009999", "issue_date": "2024-02-03", "due_date": "2024-03-04"}
    pl.concat([invoices, pl.DataFrame([copy])]).write_csv(data / "invoices.csv")
    pl.concat([lines, lines.filter(pl.col("invoice_id") == first["invoice_id"])
               .with_columns(invoice_id=pl.lit("INV-0009999"))]).write_csv(data / "invoice_lines.csv")
    pairs = duplicates.near_duplicate_invoices(load_dataset(data), days=7)
    row = pairs.filter(pl.col("invoice_b") == "INV-0009999").row(0, named=True)
    assert row["invoice_a"] == "INV-0000001" and row["days_apart"] == 2 and row["same_lines"] == row["lines_a"]
    assert row["score"] == round(50 * ((1 - 2 / 8) + 1))  # closeness 0.75, every line identical: 87.5 -> 88
    assert "twice 2 days apart" in row["why"] and "INV-0000001 and INV-0009999" in row["why"]
    assert duplicates.near_duplicate_invoices(load_dataset(data), days=1).filter(
        pl.col("invoice_b") == "INV-0009999").is_empty()


# -- outliers, relative size factor, value bands -------------------------------------------------------

def test_robust_outlier_by_hand():
    frame = _amounts(["100", "100", "101", "99", "100", "1000", "100.50"])
    found = outliers.robust_outliers(frame)
    assert found["record"].to_list() == ["R0005"]
    # median 100, deviations 0 0 1 1 0 900 0.5 -> MAD 0.5; z = 0.6745 x 900 / 0.5
    assert found["robust_z"][0] == pytest.approx(round(0.6745 * 900 / 0.5, 2))
    # fewer than five amounts: no history to compare with
    assert outliers.robust_outliers(frame.head(3).vstack(frame[5])).is_empty()


def test_relative_size_factor_by_hand():
    frame = _amounts(["10.00", "25.00", "250.00"], customers=["A", "A", "A"]).vstack(
        _amounts(["40.00", "30.00"], customers=["B", "B"]))
    rsf = outliers.relative_size_factor(frame)
    assert rsf.select("customer_id", "largest", "second", "rsf", "flagged").rows() == [
        ("A", Decimal("250"), Decimal("25"), Decimal("10"), True),
        ("B", Decimal("40"), Decimal("30"), Decimal("1.33"), False)]


def test_value_bands_by_hand():
    frame = _amounts(["-5.00", "3.00", "50.00", "60.00", "500.00", "0.00"])
    strata = stratification.stratify(frame, stratification.parse_bounds("0,10,100"))
    rows = strata.select("label", "count", "amount", "count_share", "amount_share").rows()
    # money 5 + 3 + 110 + 500 = 618 (absolute), 6 amounts
    assert rows == [("below 0", 1, Decimal("-5"), 16.67, 0.81), ("0 to under 10", 2, Decimal("3"), 33.33, 0.49),
                    ("10 to under 100", 2, Decimal("110"), 33.33, 17.8), ("100 and over", 1, Decimal("500"), 16.67,
                                                                          80.91)]


# -- sampling --------------------------------------------------------------------------------------------

# AICPA Audit Guide *Audit Sampling* (2008; statistical tables unchanged in the 2012 and 2014 editions), the
# monetary unit sample size determination table, as reproduced in Messier, Glover and Prawitt, *Auditing &
# Assurance Services*, Exhibit 8.7 "Monetary Unit Sample Size Determination Table" (source: AICPA). Rows: risk
# of incorrect acceptance and ratio of expected to tolerable misstatement; columns: tolerable misstatement as
# a share of the population.
TOLERABLE = (0.50, 0.30, 0.10, 0.08, 0.06, 0.05, 0.04, 0.03, 0.02, 0.01, 0.005)
AICPA_SAMPLE_SIZES = {
    (0.05, 0.0): (6, 10, 30, 38, 50, 60, 75, 100, 150, 300, 600),
    (0.05, 0.1): (8, 13, 37, 46, 62, 74, 92, 123, 184, 368, 736),
    (0.05, 0.2): (10, 16, 47, 58, 78, 93, 116, 155, 232, 463, 925),
    (0.05, 0.3): (12, 20, 60, 75, 100, 120, 150, 200, 300, 600, 1199),
    (0.05, 0.4): (17, 27, 81, 102, 135, 162, 203, 270, 405, 809, 1618),
    (0.05, 0.5): (24, 39, 116, 145, 193, 231, 289, 385, 577, 1154, 2308),
    (0.10, 0.0): (5, 8, 24, 29, 39, 47, 58, 77, 116, 231, 461),
    (0.10, 0.2): (7, 12, 35, 43, 57, 69, 86, 114, 171, 341, 682),
    (0.10, 0.3): (9, 15, 44, 55, 73, 87, 109, 145, 217, 433, 866),
    (0.10, 0.4): (12, 20, 58, 72, 96, 115, 143, 191, 286, 572, 1144),
    (0.10, 0.5): (16, 27, 80, 100, 134, 160, 200, 267, 400, 799, 1597),
    (0.15, 0.0): (4, 7, 19, 24, 32, 38, 48, 64, 95, 190, 380),
    (0.15, 0.2): (6, 10, 28, 35, 46, 55, 69, 91, 137, 273, 545),
    (0.15, 0.3): (7, 12, 35, 43, 57, 69, 86, 114, 171, 341, 681),
    (0.15, 0.4): (9, 15, 45, 56, 74, 89, 111, 148, 221, 442, 883),
    (0.15, 0.5): (13, 21, 61, 76, 101, 121, 151, 202, 302, 604, 1208),
    (0.20, 0.0): (4, 6, 17, 21, 27, 33, 41, 54, 81, 161, 322),
}


@pytest.mark.parametrize(("risk", "ratio"), list(AICPA_SAMPLE_SIZES))
def test_monetary_unit_sample_sizes_reproduce_the_aicpa_table(risk, ratio):
    got = tuple(sampling.mus_sample_size(t, ratio * t, 1 - risk) for t in TOLERABLE)
    assert got == AICPA_SAMPLE_SIZES[(risk, ratio)]


def test_gamma_quantile_gives_the_poisson_confidence_factors():
    # the factors of zero and one misstatement at 5% and 10% risk (AICPA, 3.00 / 4.75 / 2.31 / 3.89)
    assert [round(sampling.gamma_quantile(p, a), 2) for p, a in ((0.95, 1), (0.95, 2), (0.90, 1), (0.90, 2))] == \
        [3.00, 4.74, 2.30, 3.89]


def test_a_plan_that_cannot_be_met_is_refused():
    from billing_lib.errors import ParameterError
    with pytest.raises(ParameterError, match="expected misstatement"):
        sampling.mus_sample_size(0.05, 0.06, 0.95)
    with pytest.raises(ParameterError, match="confidence"):
        sampling.mus_sample_size(0.05, 0.01, 1.0)


def test_monetary_unit_selection_by_hand():
    # 10 + 20 + 70 = 100; n = 4 at 95% and 75% tolerable: interval 25, every item of 25 or more is hit
    frame = _amounts(["10.00", "20.00", "70.00", "-5.00", "0.00"])
    plans, sample = sampling.monetary_unit_sample(frame, tolerable_pct=Decimal(75), expected_pct=Decimal(0))
    [plan] = plans
    assert plan.size == 4 and plan.book_value == Decimal("100") and plan.interval == Decimal("25")
    assert Decimal(0) <= plan.start < plan.interval
    assert sample["hits"].sum() == 4
    assert sample.filter(pl.col("record") == "R0002")["hits"][0] == 3 and sample["key_item"].to_list()[-1]
    assert not set(sample["record"]) & {"R0003", "R0004"}  # a credit or a zero cannot be hit


def test_same_seed_same_sample_whatever_the_row_order():
    frame = _amounts([f"{i * 7 % 101 + 1}.{i % 100:02d}" for i in range(400)])
    a = sampling.monetary_unit_sample(frame, seed=11)[1]
    b = sampling.monetary_unit_sample(frame.reverse(), seed=11)[1]
    c = sampling.monetary_unit_sample(frame, seed=12)[1]
    assert a.equals(b) and not a.equals(c)
    r1, r2 = sampling.random_sample(frame, 25, seed=11), sampling.random_sample(frame.reverse(), 25, seed=11)
    assert r1.equals(r2) and r1.height == 25 and r1["record"].n_unique() == 25
    assert not r1.equals(sampling.random_sample(frame, 25, seed=12))


# -- the command -----------------------------------------------------------------------------------------

def test_the_command_writes_the_contract_files(tmp_path):
    out = tmp_path / "out"
    proc = _billing("forensics", str(SAMPLE), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for name, columns in CONTRACT_FILES.items():
        with (out / name).open(encoding="utf-8") as fh:
            assert next(csv.reader(fh)) == columns
    rows = list(csv.DictReader((out / "benford.csv").open(encoding="utf-8")))
    assert {r["test"] for r in rows} == {"first", "second", "first_two", "last_two"}
    assert len(rows) == 9 + 10 + 90 + 100
    summary = {r["test"]: r for r in csv.DictReader((out / "benford_summary.csv").open(encoding="utf-8"))}
    assert {r["conformity"] for r in summary.values()} <= set(dg.LABELS)
    # the sample's non-void invoice totals of at least 10, counted independently of the library
    invoices = list(csv.DictReader((SAMPLE / "invoices.csv").open(encoding="utf-8")))
    totals = [Decimal(r["total"]) for r in invoices if r["status"] != "void" and abs(Decimal(r["total"])) >= 10]
    assert int(summary["first"]["n"]) == len(totals)
    firsts = [str(abs(t)).lstrip("0.")[0] for t in totals]
    assert [int(r["count"]) for r in rows if r["test"] == "first"] == [firsts.count(str(d)) for d in range(1, 10)]
    book = openpyxl.load_workbook(out / "forensic_samples.xlsx")
    sheet = book["MUS sample"]
    header = [c.value for c in sheet[1]]
    assert header[-6:] == list(sampling.AUDITOR_COLUMNS)
    assert all(cell.value is None for row in sheet.iter_rows(min_row=2) for cell in row[-6:])
    assert "forensics of invoices.total for every month" in proc.stdout


def test_the_command_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _billing("forensics", str(SAMPLE), "--out", str(a), "--period", "2024-06", "--months", "6").returncode == 0
    assert _billing("forensics", str(SAMPLE), "--out", str(b), "--period", "2024-06", "--months", "6").returncode == 0
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        if name.endswith(".xlsx"):  # the cells; openpyxl stamps the file's creation time
            rows = [[list(s.values) for s in openpyxl.load_workbook(d / name).worksheets] for d in (a, b)]
            assert rows[0] == rows[1]
        else:
            assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_period_and_months_choose_the_invoices():
    ds = load_dataset(SAMPLE)
    june = load_population(ds, months=months_ending("2024-06", 1))
    assert june.span == "2024-06" and june.frame["date"].dt.month().unique().to_list() == [6]
    half = load_population(ds, months=months_ending("2024-06", 3))
    assert half.span == "2024-04 to 2024-06"
    a = half.accounted
    assert a["rows"] == a["kept"] + a["void"] + a["outside_months"] + a["empty_amount"]


@pytest.mark.parametrize(("args", "message"), [
    (["--amounts", "invoices.status"], "--amounts 'invoices.status' is not a decimal column"),
    (["--period", "2024-13"], "period '2024-13' is not a month"),
    (["--months", "3"], "--months needs --period"),
    (["--tolerable", "1", "--expected", "2"], "expected misstatement (2%) must be 0 or more and below"),
    (["--bands", "10,5"], "--bands '10,5'"),
    (["--min-amount", "ten"], "--min-amount 'ten' is not a number"),
])
def test_a_wrong_call_stops_with_one_message_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    proc = _billing("forensics", str(SAMPLE), "--out", str(out), *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_a_broken_dataset_stops_with_file_row_and_column(tmp_path):
    data = _dataset_copy(tmp_path)
    text = (data / "invoices.csv").read_text(encoding="utf-8").splitlines()
    fields = text[2].split(",")
    fields[10] = "abc"  # total
    text[2] = ",".join(fields)
    (data / "invoices.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "benford.csv").write_text("earlier run\n", encoding="utf-8")
    proc = _billing("forensics", str(data), "--out", str(out))
    assert proc.returncode == 2 and "invoices.csv, row 3, column 'total'" in proc.stderr, proc.stderr
    assert (out / "benford.csv").read_text(encoding="utf-8") == "earlier run\n"  # nothing half-written


def test_outputs_cannot_run_as_formulas(tmp_path):
    data = _dataset_copy(tmp_path)
    with (data / "customers.csv").open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerow(["C-90003", "=HYPERLINK(\"http://x\") GmbH", "", "DE", "EUR", "30", "false"])
        csv.writer(fh).writerow(["C-90004", "=HYPERLINK(\"http://x\") AG", "", "DE", "EUR", "30", "false"])
    result = analyse(load_dataset(data))
    out = tmp_path / "out"
    write_results(result, out)
    text = (out / "customer_duplicates.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
