"""`billing verify --engine spark`: Spark in local mode writes the local run's files, byte for byte.

Every dataset here is one `billing synth` did not make: the bundled sample changed by every hand-written case of
``independent_cases`` at once (a payment of an unknown customer placed on another shard's invoice, a number two
customers carry, instalments, references only in text...), as CSV, Parquet with text columns and Parquet with
the contract's types; real public data from ../shared/realdata; broken data, whose problems must name the
rows the local loader names. Spark runs in local mode in this process (one JVM for the module).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from independent_cases import CASES, sample_tables, write

from billing_lib.data.loading import load_dataset
from billing_lib.errors import DatasetError, ParameterError
from billing_lib.verification import verify, write_results

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'billing-workbooks[spark]')")
if shutil.which("java") is None:
    pytest.skip("no Java runtime: Spark needs one (Debian: openjdk-17-jre-headless)", allow_module_level=True)

from billing_lib.spark.verify import verify_on_spark  # noqa: E402

pytestmark = pytest.mark.slow
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
OUTPUTS = ("exceptions.csv", "exceptions.parquet", "summary.json")
MASTER = "local[2]"


def outputs(result, folder: Path) -> dict[str, bytes]:
    write_results(result, folder)
    return {name: (folder / name).read_bytes() for name in OUTPUTS}


def local_and_spark(data: Path, tmp_path: Path, **spark_args) -> tuple[dict, dict]:
    local = outputs(verify(load_dataset(data)), tmp_path / "local")
    spark = outputs(verify_on_spark(str(data), master=MASTER, **spark_args), tmp_path / "spark")
    return local, spark


def unique_keys(name: str, frame: pl.DataFrame) -> bool:
    from billing_lib.data.contract import TABLES
    key = list(TABLES[name].key) if name in TABLES else []
    return not key or frame.select(pl.struct(key).is_unique().all()).item()


@pytest.fixture(scope="module")
def every_case_tables() -> dict[str, pl.DataFrame]:
    """The sample with as many hand-written cases applied as fit together (in order; a case whose rows an
    earlier one changed is left out)."""
    tables, applied = sample_tables(), 0
    for case in CASES:
        changed = dict(tables)
        try:
            for edit in case.edits:
                edit(changed)
        except AssertionError:
            continue
        if not all(unique_keys(name, frame) for name, frame in changed.items()):  # a row another case inserted
            continue
        tables, applied = changed, applied + 1
    assert applied >= len(CASES) // 2
    return tables


@pytest.mark.parametrize("fmt", ["csv", "parquet-text", "parquet-typed"])
def test_hand_written_cases_give_the_local_files(every_case_tables, fmt, tmp_path):
    data = write(every_case_tables, tmp_path / "data", fmt)
    local, spark = local_and_spark(data, tmp_path, shards=3)
    assert b"orphan_reference" in local["exceptions.csv"] and b"payment_mismatch" in local["exceptions.csv"]
    assert spark == local


def test_csv_dialect_details_give_the_local_files(tmp_path):
    """A byte-order mark and CRLF line ends, amounts padded with blanks, empty and quoted-empty references,
    references with quotes and a line break inside: Spark's CSV reader and polars' must agree on every value."""
    import csv
    import io
    data = tmp_path / "data"
    write(sample_tables(), data, "csv")
    customers = data / "customers.csv"
    customers.write_bytes(b"\xef\xbb\xbf" + customers.read_bytes().replace(b"\n", b"\r\n"))
    rows = list(csv.reader(io.StringIO((data / "payments.csv").read_text(encoding="utf-8"))))
    amount, reference = rows[0].index("amount"), rows[0].index("reference")
    for i, row in enumerate(rows[1:]):
        row[amount] = f" {row[amount]} " if i % 7 == 0 else row[amount]
        row[reference] = "" if i % 11 == 0 else 'He said "paid", ok\r\nsecond line' if i % 13 == 0 else row[reference]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    (data / "payments.csv").write_text(out.getvalue().replace(",,", ',"",', 3), encoding="utf-8")
    local, spark = local_and_spark(data, tmp_path)
    assert spark == local


@pytest.mark.parametrize("engine", ["in-memory", "streaming"])
def test_both_polars_engines_on_the_workers(engine, monkeypatch, tmp_path):
    monkeypatch.setenv("BILLING_ENGINE", engine)
    local, spark = local_and_spark(SAMPLE, tmp_path)
    assert spark == local


def test_any_number_of_shards_gives_the_same_files(every_case_tables, tmp_path):
    data = write(every_case_tables, tmp_path / "data", "csv")
    runs = [outputs(verify_on_spark(str(data), master=MASTER, shards=n), tmp_path / f"s{n}") for n in (1, 2, 7)]
    assert runs[0] == runs[1] == runs[2]


def test_customers_that_carry_one_number_share_a_shard(tmp_path):
    # the combined cases leave this one out (its rows clash with another's): on its own, the two customers of
    # INV-0000160 fall in different shards of 3 and of 7 by their hash, and each shard would give its invoice
    # the lines of both
    case = next(c for c in CASES if c.name == "repeated_number_paid_by_each_customer")
    tables = sample_tables()
    for edit in case.edits:
        edit(tables)
    data = write(tables, tmp_path / "data", "csv")
    local = outputs(verify(load_dataset(data)), tmp_path / "local")
    for n in (3, 7):
        assert outputs(verify_on_spark(str(data), master=MASTER, shards=n), tmp_path / f"s{n}") == local, n


def test_one_period_and_some_checks(tmp_path):
    import datetime as dt
    month, checks = [dt.date(2024, 3, 1)], ["orphan_reference", "payment_mismatch", "price_mismatch"]
    local = outputs(verify(load_dataset(SAMPLE), month, checks), tmp_path / "local")
    spark = outputs(verify_on_spark(str(SAMPLE), month, checks, master=MASTER), tmp_path / "spark")
    assert spark == local
    assert b'"2024-03"' in spark["summary.json"]


RETAIL_20K = REALDATA / "online_retail" / "uci_online_retail_random20k_lines.csv"


@pytest.mark.skipif(not RETAIL_20K.is_file(), reason=f"real public data not at {RETAIL_20K} (see docs/realdata.md)")
def test_real_online_retail_gives_the_local_files(tmp_path):
    from billing_lib.data.importers.base import write_import
    from billing_lib.data.importers.online_retail import import_online_retail
    data = tmp_path / "retail"
    write_import(import_online_retail(RETAIL_20K), data)
    local, spark = local_and_spark(data, tmp_path)
    assert local["exceptions.csv"].count(b"\n") > 50
    assert spark == local


# --- broken data: the loader's problems, exit 2 ------------------------------------------------------------

def problems_of(data: Path, run) -> list[str]:
    with pytest.raises(DatasetError) as err:
        run(data)
    return [str(p) for p in err.value.problems]


def both_problems(data: Path) -> tuple[list[str], list[str]]:
    return (problems_of(data, load_dataset),
            problems_of(data, lambda d: verify_on_spark(str(d), master=MASTER, shards=3)))


def test_bad_values_in_tables_are_the_loaders_problems(tmp_path):
    tables = sample_tables()
    tables["invoices"] = tables["invoices"].with_columns(
        pl.when(pl.int_range(pl.len()) == 17).then(pl.lit("12,50")).otherwise(pl.col("total")).alias("total"))
    tables["customers"] = tables["customers"].with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("XX")).otherwise(pl.col("currency")).alias("currency"))
    local, spark = both_problems(write(tables, tmp_path / "data", "csv"))
    assert any("invoices.csv, row 19, column 'total'" in p for p in local)
    assert spark == local


def test_bad_usage_events_in_several_shards_are_named_by_row(tmp_path):
    tables = sample_tables()
    usage = tables["usage"]
    bad_rows = [5, usage.height // 2, usage.height - 1]
    tables["usage"] = usage.with_columns(
        pl.when(pl.int_range(pl.len()).is_in(bad_rows)).then(pl.lit("lots")).otherwise(pl.col("quantity"))
        .alias("quantity"))
    local, spark = both_problems(write(tables, tmp_path / "data", "csv"))
    assert len(local) == 3 and all("column 'quantity'" in p for p in local)
    assert spark == local


def test_a_usage_event_repeated_across_shards_is_a_duplicate_key(tmp_path):
    tables = sample_tables()
    usage = tables["usage"]
    subs = usage["subscription_id"].unique().sort()
    first = usage.filter(pl.col("subscription_id") == subs[0]).head(1)
    other = usage.filter(pl.col("subscription_id") == subs[-1]).head(1)
    tables["usage"] = pl.concat([usage, other.with_columns(event_id=first["event_id"])])
    local, spark = both_problems(write(tables, tmp_path / "data", "csv"))
    assert any("duplicate key (event_id=" in p for p in local)
    assert spark == local


def test_a_record_with_more_values_than_the_header_is_named(tmp_path):
    data = write(sample_tables(), tmp_path / "data", "csv")
    lines = (data / "invoices.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[4] = lines[4].rstrip("\n") + ",surplus\n"
    (data / "invoices.csv").write_text("".join(lines), encoding="utf-8")
    local, spark = both_problems(data)
    assert [p.split(": cannot be read")[0] for p in spark] == [p.split(": cannot be read")[0] for p in local]
    assert spark == [f"{data / 'invoices.csv'}, row 5: cannot be read: more values than the 12 columns the header names"]


def test_excel_tables_on_the_drivers_disk_give_the_local_files(tmp_path):
    import openpyxl
    data = write(sample_tables(), tmp_path / "data", "csv")
    for name in ("customers", "payments"):
        rows = pl.read_csv(data / f"{name}.csv", infer_schema=False)
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(rows.columns)
        for row in rows.iter_rows():
            sheet.append(list(row))
        book.save(data / f"{name}.xlsx")
        (data / f"{name}.csv").unlink()
    local, spark = local_and_spark(data, tmp_path)
    assert spark == local


def test_a_missing_table_and_a_table_given_twice_are_named(tmp_path):
    tables = sample_tables()
    data = write({k: v for k, v in tables.items() if k != "plans"}, tmp_path / "data", "csv")
    spark = problems_of(data, lambda d: verify_on_spark(str(d), master=MASTER))
    assert any("required table 'plans' is missing" in p for p in spark)
    (data / "plans.csv").write_text("plan_id\n", encoding="utf-8")
    (data / "plans.parquet").write_bytes(b"PAR1")
    spark = problems_of(data, lambda d: verify_on_spark(str(d), master=MASTER))
    assert any("table 'plans' is given twice (plans.csv, plans.parquet)" in p for p in spark)
    with pytest.raises(ParameterError, match="does not exist"):
        verify_on_spark(str(tmp_path / "nowhere"), master=MASTER)


# --- the command line -------------------------------------------------------------------------------------

def billing(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "billing_lib", *args], capture_output=True, text=True)


def test_command_line_writes_the_local_files(tmp_path):
    local = billing("verify", str(SAMPLE), "--out", str(tmp_path / "local"))
    spark = billing("verify", str(SAMPLE), "--out", str(tmp_path / "spark"), "--engine", "spark",
                    "--master", "local[1]")
    assert local.returncode == 0 and spark.returncode == 0, spark.stderr
    assert "per-customer checks on" in spark.stderr
    for name in OUTPUTS:
        assert (tmp_path / "spark" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()


def test_command_line_on_bad_data_exits_2_and_writes_nothing(tmp_path):
    tables = sample_tables()
    tables["usage"] = tables["usage"].with_columns(pl.lit("-1").alias("quantity"))
    data = write(tables, tmp_path / "data", "csv")
    done = billing("verify", str(data), "--out", str(tmp_path / "out"), "--engine", "spark", "--master", "local[1]")
    assert done.returncode == 2, done.stderr
    assert "usage.csv, row 2, column 'quantity'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_master_without_spark_exits_2(tmp_path):
    done = billing("verify", str(SAMPLE), "--out", str(tmp_path / "out"), "--master", "local[1]")
    assert done.returncode == 2 and "--engine spark" in done.stderr


# --- the monthly run's parameters ---------------------------------------------------------------------------

def test_verification_workbook_on_spark_finds_what_the_command_finds(tmp_path):
    import papermill as pm
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "01_invoice_verification.ipynb"
    out = tmp_path / "verification"
    pm.execute_notebook(str(notebook), str(tmp_path / "run.ipynb"), cwd=str(notebook.parent), progress_bar=False,
                        parameters={"data_dir": str(SAMPLE), "period": "2024-06", "output_dir": str(out),
                                    "engine": "spark", "spark_master": "local[1]"})
    done = billing("verify", str(SAMPLE), "--period", "2024-06", "--out", str(tmp_path / "cli"))
    assert done.returncode == 0, done.stderr
    assert (out / "exceptions.csv").read_bytes() == (tmp_path / "cli" / "exceptions.csv").read_bytes()


@pytest.mark.parametrize(("extra", "needle"), [
    ("engine: dask\n", "engine must be local"),
    ("spark_master: yarn\n", "goes with engine: spark"),
    ("engine: spark\nspark_master: 7\n", "as text"),
])
def test_wrong_engine_parameters_are_refused(tmp_path, extra, needle):
    from billing_lib.runner.params import load_params
    params = tmp_path / "p.yaml"
    params.write_text(f'period: "2024-06"\ndata_dir: {SAMPLE}\n{extra}', encoding="utf-8")
    with pytest.raises(ParameterError, match=needle):
        load_params(params)


def test_engine_parameters_reach_the_run(tmp_path):
    from billing_lib.runner.monthly import run_values
    from billing_lib.runner.params import load_params
    params = tmp_path / "p.yaml"
    params.write_text(f'period: "2024-06"\ndata_dir: {SAMPLE}\nengine: spark\nspark_master: "local[2]"\n')
    values = run_values(load_params(params))
    assert values["engine"] == "spark" and values["spark_master"] == "local[2]"
