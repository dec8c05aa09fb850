"""Fuzzed inputs: the loader and every importer fed random bytes, random CSV dialects, huge fields and deep
JSON always end in a valid load or one clear error (a BillingInputError: exit 2), never a traceback or a
hang. Hypothesis draws the examples, derandomized so every run tries the same ones; the counts are kept
modest so the suite stays fast. (Memory on a 1 GB field is measured by benchmarks/huge_field.sh.)"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from helpers import BASE_TABLES, CUST_H, write_dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_lib.data.importers import IMPORTERS
from billing_lib.data.loading import load_dataset
from billing_lib.errors import BillingInputError

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "30")), derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HANG_SECONDS = 60
ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def no_hang(seconds: int = HANG_SECONDS) -> Iterator[None]:
    """Fail (instead of waiting forever) when the block runs longer than ``seconds``."""
    def stop(_signum, _frame):
        raise TimeoutError(f"no answer within {seconds} s: a hang")
    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def load_or_clear_error(folder: Path) -> object:
    """The dataset, or the clear error it raised; anything else (a traceback) fails the test."""
    with no_hang():
        try:
            return load_dataset(folder)
        except BillingInputError as exc:
            assert str(exc).strip(), "an error without a message"
            return exc


def import_or_clear_error(kind: str, src: Path) -> object:
    with no_hang():
        try:
            return IMPORTERS[kind](src)
        except BillingInputError as exc:
            assert str(exc).strip()
            return exc


# --- the loader -------------------------------------------------------------------------------------------

TABLE_FILES = sorted(BASE_TABLES)
SUFFIXES = [".csv", ".parquet", ".xlsx"]


def valid_table_bytes(table: str, suffix: str) -> bytes:
    """A valid table of the base dataset in the given format, as bytes (a starting point for mutations)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_dataset(Path(tmp) / "d")
        frame = pl.read_csv(folder / f"{table}.csv", infer_schema=False)
        out = Path(tmp) / f"t{suffix}"
        if suffix == ".xlsx":
            book = openpyxl.Workbook()
            for row in [frame.columns, *frame.rows()]:
                book.active.append(list(row))
            book.save(out)
        else:
            {".csv": frame.write_csv, ".parquet": frame.write_parquet}[suffix](out)
        return out.read_bytes()


VALID = {(t, s): valid_table_bytes(t, s) for t in TABLE_FILES for s in SUFFIXES}


@FUZZ
@given(table=st.sampled_from(TABLE_FILES), suffix=st.sampled_from(SUFFIXES), content=st.binary(max_size=3000))
def test_a_table_file_of_random_bytes_is_a_clear_error(table, suffix, content):
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_dataset(Path(tmp) / "d", **{table: None})
        (folder / f"{table}{suffix}").write_bytes(content)
        load_or_clear_error(folder)


@FUZZ
@given(table=st.sampled_from(TABLE_FILES), suffix=st.sampled_from(SUFFIXES), data=st.data())
def test_a_damaged_table_file_is_a_clear_error_or_a_valid_load(table, suffix, data):
    """A valid file with bytes changed, cut off or inserted: the parsers see something almost right."""
    raw = bytearray(VALID[(table, suffix)])
    for _ in range(data.draw(st.integers(1, 8), label="edits")):
        at = data.draw(st.integers(0, len(raw)), label="at")
        how = data.draw(st.sampled_from(["flip", "cut", "insert"]), label="how")
        if how == "flip" and at < len(raw):
            raw[at] = data.draw(st.integers(0, 255), label="byte")
        elif how == "cut":
            del raw[at:]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=64), label="inserted")
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_dataset(Path(tmp) / "d", **{table: None})
        (folder / f"{table}{suffix}").write_bytes(bytes(raw))
        load_or_clear_error(folder)


CELL = st.one_of(st.text(max_size=20), st.sampled_from(["", " ", "C1", "DE", "EUR", "30", "true", "1e999",
                                                        "=cmd|' /C calc'!A0", "\x00", "\ufeff", '"', "\r\n"]))
DIALECT = st.fixed_dictionaries({
    "delimiter": st.sampled_from([",", ";", "\t", "|"]),
    "quotechar": st.sampled_from(['"', "'"]),
    "quoting": st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC, csv.QUOTE_NONE]),
    "lineterminator": st.sampled_from(["\n", "\r\n", "\r"]),
})


def render(rows: list[list[str]], dialect: dict, bom: bool, encoding: str) -> bytes:
    out = io.StringIO(newline="")
    escape = {"escapechar": "\\"} if dialect.get("quoting") == csv.QUOTE_NONE else {}  # QUOTE_NONE needs one
    writer = csv.writer(out, **escape, **dialect)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode(encoding, errors="replace")


@FUZZ
@given(rows=st.lists(st.lists(CELL, min_size=7, max_size=7), max_size=6), dialect=DIALECT, bom=st.booleans(),
       encoding=st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"]))
def test_customers_in_any_csv_dialect_load_or_give_a_clear_error(rows, dialect, bom, encoding):
    body = render([CUST_H.split(","), ["C1", "Acme GmbH", "a@acme.example", "DE", "EUR", "30", "false"], *rows],
                  dialect, bom, encoding)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_dataset(Path(tmp) / "d", customers=None)
        (folder / "customers.csv").write_bytes(body)
        load_or_clear_error(folder)


NAME = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@FUZZ
@given(names=st.lists(NAME, min_size=1, max_size=5), crlf=st.booleans(), quote_all=st.booleans(), bom=st.booleans())
def test_names_of_any_characters_survive_the_contract_csv_dialect(names, crlf, quote_all, bom):
    """The contract's dialect (comma, double quotes, a BOM or not, LF or CRLF): the names come back as written."""
    if not crlf:  # Python's writer leaves a carriage return unquoted unless it is part of the line end
        names = [n.replace("\r", "") for n in names]
    rows = [[f"C{i}", name, "", "DE", "EUR", "30", "false"] for i, name in enumerate(names, start=1)]
    dialect = {"delimiter": ",", "quotechar": '"', "lineterminator": "\r\n" if crlf else "\n",
               "quoting": csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL}
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_dataset(Path(tmp) / "d", customers=None)
        (folder / "customers.csv").write_bytes(render([CUST_H.split(","), *rows], dialect, bom, "utf-8"))
        result = load_or_clear_error(folder)
    assert not isinstance(result, BillingInputError), result
    got = result.tables["customers"].sort("customer_id")["name"].to_list()
    want = [n for _i, n in sorted((f"C{i}", n) for i, n in enumerate(names, start=1))]
    assert [g or "" for g in got] == want, "an empty name may come back empty or missing, nothing else"


# values that do not end with a carriage return (before a line break it is part of the line end)
GUARD_VALUE = st.text(alphabet='ab,"\n\r é', max_size=50).map(lambda v: v.replace("\r", "\r "))


def guard_case(rows: list[list[str]], limit: int, crlf: bool) -> tuple[Path, tuple[int, int] | None]:
    """The rows as a CSV in a temporary file, and the first value over ``limit`` bytes (row, size) by the
    csv module's quoting, or None."""
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    sizes = [(r, len(v.replace('"', '""').encode())) for r, row in enumerate(rows, start=1) for v in row]
    path = Path(tempfile.mkdtemp()) / "t.csv"
    path.write_bytes(out.getvalue().encode())
    return path, next(((r, n) for r, n in sizes if n > limit), None)


@FUZZ
@given(rows=st.lists(st.lists(GUARD_VALUE, min_size=1, max_size=4), min_size=1, max_size=8),
       limit=st.integers(4, 40), crlf=st.booleans())
def test_the_exact_value_scan_finds_the_first_value_over_the_limit(rows, limit, crlf):
    from billing_lib.data.value_size import first_oversized
    path, expected = guard_case(rows, limit, crlf)
    found = first_oversized(path, limit)
    shutil.rmtree(path.parent)
    assert ((found.row, found.size) == expected) if expected else found is None, (found, expected)


@FUZZ
@given(rows=st.lists(st.lists(GUARD_VALUE.map(lambda v: v.replace('"', '"b')), min_size=1, max_size=4), min_size=1,
                     max_size=8),
       limit=st.integers(4, 40), crlf=st.booleans())
def test_the_value_size_guard_finds_the_first_value_over_the_limit(rows, limit, crlf):
    """The fast first pass and the exact scan together (small limits put values across every chunk edge);
    quotes as text holds them (not in runs before a separator, which can be built to pass unseen)."""
    from billing_lib.data.value_size import oversized_value
    path, expected = guard_case(rows, limit, crlf)
    found = oversized_value(path, limit)
    shutil.rmtree(path.parent)
    assert ((found.row, found.size) == expected) if expected else found is None, (found, expected)


def test_a_huge_field_is_refused_naming_file_row_and_column(tmp_path):
    folder = write_dataset(tmp_path / "d", customers=None)
    name = "A" * (5 * 1024 * 1024)  # beyond the limit of a value; benchmarks/huge_field.sh measures 1 GB
    (folder / "customers.csv").write_text(f"{CUST_H}\nC1,Acme,,DE,EUR,30,false\nC2,{name},,DE,EUR,30,false\n",
                                          encoding="utf-8")
    err = load_or_clear_error(folder)
    assert isinstance(err, BillingInputError)
    assert f"{folder / 'customers.csv'}, row 3, column 'name': a value of 5,242,880 bytes" in str(err)
    quoted = f'{CUST_H}\nC1,"{name[:-2]}\n\n",,DE,EUR,30,false\n'  # lines short, the quoted value long
    (folder / "customers.csv").write_text(quoted, encoding="utf-8")
    assert "row 2, column 'name': a value of 5,242,880 bytes" in str(load_or_clear_error(folder))


# --- the importers ------------------------------------------------------------------------------------------

ONLINE_RETAIL_HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
                        "CustomerID", "Country"]
IBM_HEADER = ["countryCode", "customerID", "PaperlessDate", "invoiceNumber", "InvoiceDate", "DueDate",
              "InvoiceAmount", "Disputed", "SettledDate", "PaperlessBill", "DaysToSettle", "DaysLate"]
RETAIL_CELL = st.one_of(CELL, st.sampled_from(["536365", "C536379", "85123A", "6", "2.55", "-3", "17850",
                                               "United Kingdom", "2010-12-01 08:26", "12/1/2010 8:26",
                                               "01-12-10 08:26", "0"]))
IBM_CELL = st.one_of(CELL, st.sampled_from(["391", "0379-NEVHP", "1/2/2013", "2/31/2013", "55.94", "No", "Yes",
                                            "Paper", "13", "-1", "0000611365"]))


@FUZZ
@given(kind=st.sampled_from(["online-retail", "ibm-receivables", "lago"]), content=st.binary(max_size=3000))
def test_every_importer_given_random_bytes_gives_a_clear_error(kind, content):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / ("src.json" if kind == "lago" else "src.csv")
        src.write_bytes(content)
        import_or_clear_error(kind, src)


@FUZZ
@given(kind=st.sampled_from(["online-retail", "ibm-receivables"]), data=st.data(), dialect=DIALECT,
       bom=st.booleans())
def test_the_csv_importers_in_any_dialect_map_or_give_a_clear_error(kind, data, dialect, bom):
    header, cell = (ONLINE_RETAIL_HEADER, RETAIL_CELL) if kind == "online-retail" else (IBM_HEADER, IBM_CELL)
    rows = data.draw(st.lists(st.lists(cell, min_size=len(header), max_size=len(header)), max_size=8), label="rows")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src.csv"
        src.write_bytes(render([header, *rows], dialect, bom, "utf-8"))
        result = import_or_clear_error(kind, src)
        if not isinstance(result, BillingInputError):
            assert result.accounted, "every source row mapped or counted as skipped"
            from billing_lib.data.importers import write_import
            with no_hang():
                try:
                    write_import(result, Path(tmp) / "out")
                except BillingInputError:
                    pass


JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
                        st.sampled_from(["EUR", "2024-02-01", "2025-02-00", "finalized", "succeeded", "-1"]))
JSON_VALUE = st.recursive(JSON_SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(["lago_id", "number", "currency", "total_amount_cents", "fees", "customer",
                                     "issuing_date", "amount_cents", "invoice", "external_id", "taxes_rate",
                                     "item", "code", "units"]) | st.text(max_size=6), inner, max_size=6)),
    max_leaves=30)
LAGO_DOC = st.dictionaries(st.sampled_from(["invoice", "invoices", "fees", "credit_note", "credit_notes",
                                            "payment", "payments", "meta"]), JSON_VALUE, max_size=4)


@FUZZ
@given(docs=st.lists(LAGO_DOC, min_size=1, max_size=3))
def test_lago_json_of_any_shape_maps_or_gives_a_clear_error(docs):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "lago"
        folder.mkdir()
        for i, doc in enumerate(docs):
            (folder / f"{i}.json").write_text(json.dumps(doc), encoding="utf-8")
        result = import_or_clear_error("lago", folder)
        if not isinstance(result, BillingInputError):
            assert result.accounted


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_a_clear_error(tmp_path, depth):
    src = tmp_path / "deep.json"
    src.write_text('{"invoice": ' + "[" * depth + "]" * depth + "}", encoding="utf-8")
    result = import_or_clear_error("lago", src)
    assert isinstance(result, BillingInputError) and str(src) in str(result)


def test_the_command_line_turns_deep_json_and_a_huge_field_into_exit_2(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"invoice": ' + "[" * 200_000 + "]" * 200_000 + "}", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "billing_lib", "import", "lago", str(deep), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "Traceback" not in done.stderr and str(deep) in done.stderr
    folder = write_dataset(tmp_path / "d", customers=None)
    (folder / "customers.csv").write_text(f"{CUST_H}\nC1,{'x' * (3 << 20)},,DE,EUR,30,false\n", encoding="utf-8")
    checked = subprocess.run([sys.executable, "-m", "billing_lib", "validate", str(folder)], capture_output=True,
                             text=True, cwd=ROOT)
    assert checked.returncode == 2 and "Traceback" not in checked.stderr and "column 'name'" in checked.stderr
    assert not (tmp_path / "out").exists()
