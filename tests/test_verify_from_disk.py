"""Verification with the tables kept on disk (``billing verify --shards N``): the tables are spilled to typed
Parquet once validated, read back as scans, and the per-customer checks run on one shard of customers at a
time. Whatever the data, the result must be the in-memory run's, and nothing may be left behind."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from independent_cases import CASES, sample_tables, write

from billing_lib.data.loading import load_dataset
from billing_lib.errors import DatasetError
from billing_lib.synth import synthesize
from billing_lib.verification import verify, verify_from_disk

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
# hand-written cases whose documents cross customers: unknown payers, another customer's invoice, a number two
# customers carry, a retyped customer id, a payment recorded twice, and the ledger
CROSSING = ["payment_from_an_unknown_customer_naming_its_invoice", "payment_naming_another_customers_invoice",
            "repeated_number_paid_by_each_customer", "payment_from_a_retyped_customer_id", "payment_recorded_twice",
            "payment_from_an_unknown_customer_after_the_verified_months", "payment_naming_an_invoice_that_does_not_exist",
            "invoice_posted_with_other_amounts", "payment_not_posted", "credit_note_above_the_invoice_total"]


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_a_spilled_table_reads_as_the_loaded_one(tmp_path):
    before = _digest(SAMPLE)
    loaded = load_dataset(SAMPLE)
    spilled = load_dataset(SAMPLE, spill_to=tmp_path)
    assert spilled.row_counts() == loaded.row_counts()
    for name in loaded.tables:
        assert isinstance(spilled.tables[name], pl.LazyFrame), name
        assert spilled.frame(name).collect().equals(loaded.frame(name).collect()), name
        assert spilled.has(name) == loaded.has(name)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.parquet" for n in loaded.tables)
    assert _digest(SAMPLE) == before  # the input is read, never written


@pytest.mark.usefixtures("each_engine")
def test_a_run_from_disk_equals_the_run_in_memory_on_synthetic_data(tmp_path):
    synthesize(tmp_path / "data", seed=4, customers=50, months=4, anomaly_rate=0.05, fmt="parquet")
    whole = verify(load_dataset(tmp_path / "data"))
    (tmp_path / "work").mkdir()
    from_disk = verify_from_disk(tmp_path / "data", 3, work_dir=tmp_path / "work")
    assert whole.exceptions.height > 0
    assert from_disk.exceptions.equals(whole.exceptions)
    assert from_disk.summary == whole.summary
    assert list((tmp_path / "work").iterdir()) == []  # the spilled tables are removed


@pytest.mark.usefixtures("each_engine")
@pytest.mark.parametrize("case_name", CROSSING)
def test_a_run_from_disk_equals_the_run_in_memory_on_hand_written_cases(case_name, tmp_path):
    case = next(c for c in CASES if c.name == case_name)
    tables = sample_tables()
    for edit in case.edits:
        edit(tables)
    fmt = "csv" if CROSSING.index(case_name) % 2 else "parquet-typed"
    folder = write(tables, tmp_path / "data", fmt)
    whole = verify(load_dataset(folder))
    for shards in (2, 7):
        from_disk = verify_from_disk(folder, shards)
        assert from_disk.exceptions.equals(whole.exceptions), shards
        assert from_disk.summary == whole.summary


def test_bad_data_stops_the_run_from_disk_naming_the_row_and_leaves_nothing(tmp_path):
    tables = sample_tables()
    folder = write(tables, tmp_path / "data", "csv")
    lines = (folder / "payments.csv").read_text(encoding="utf-8").splitlines()
    cells = lines[3].split(",")
    cells[lines[0].split(",").index("amount")] = "12,5x"
    (folder / "payments.csv").write_text("\n".join([*lines[:3], ",".join(cells), *lines[4:]]) + "\n",
                                         encoding="utf-8")
    (tmp_path / "work").mkdir()
    with pytest.raises(DatasetError) as err:
        verify_from_disk(folder, 3, work_dir=tmp_path / "work")
    assert "payments.csv, row 4" in str(err.value)
    assert list((tmp_path / "work").iterdir()) == []


def _billing(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "billing_lib", *args], capture_output=True, text=True, env=env)


def test_the_command_line_in_shards_writes_the_same_bytes_and_cleans_up(tmp_path):
    import os
    synthesize(tmp_path / "data", seed=9, customers=30, months=3, anomaly_rate=0.05)
    work = tmp_path / "tmp"
    work.mkdir()
    env = {**os.environ, "TMPDIR": str(work)}
    plain = _billing("verify", str(tmp_path / "data"), "--out", str(tmp_path / "plain"), env=env)
    sharded = _billing("verify", str(tmp_path / "data"), "--out", str(tmp_path / "sharded"), "--shards", "4", env=env)
    assert plain.returncode == 0, plain.stderr
    assert sharded.returncode == 0, sharded.stderr
    assert "kept on disk" in sharded.stderr and "shard 4/4" in sharded.stderr
    assert _digest(tmp_path / "sharded") == _digest(tmp_path / "plain")
    assert list(work.iterdir()) == []


def test_customers_that_carry_one_number_share_a_shard(tmp_path):
    from billing_lib.data.dataset import Dataset
    from billing_lib.verification import customer_shards, linked_customers
    invoices = pl.DataFrame({"invoice_id": ["N1", "N1", "N2", "N2", "N3", "N4", "N4"],
                             "customer_id": ["C-3", "C-5", "C-5", "C-9", "C-2", "C-1", "C-8"]})
    customers = pl.DataFrame({"customer_id": [f"C-{i}" for i in range(1, 10)]})
    empty = pl.DataFrame(schema={"customer_id": pl.String})
    ds = Dataset(folder=tmp_path, tables={"customers": customers, "invoices": invoices, "subscriptions": empty,
                                          "payments": empty})
    # C-3 and C-9 never share a number, but C-5 links them: one unit, named by its smallest id
    assert linked_customers(ds).rows() == [("C-1", "C-1"), ("C-3", "C-3"), ("C-5", "C-3"), ("C-8", "C-1"),
                                           ("C-9", "C-3")]
    groups = customer_shards(ds, 3)
    assert sorted(c for g in groups for c in g) == sorted(customers["customer_id"])
    shard_of = {c: i for i, g in enumerate(groups) for c in g}
    assert shard_of["C-3"] == shard_of["C-5"] == shard_of["C-9"]
    assert shard_of["C-1"] == shard_of["C-8"]
    assert len(groups) == 3


def test_available_memory_is_capped_by_the_control_group(tmp_path):
    from billing_lib.core.memory import available_memory
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683784 kB\nMemAvailable:   20000000 kB\n")
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    assert available_memory(meminfo, cgroup) == 20000000 * 1024  # no control group files: the machine's
    (cgroup / "memory.max").write_text("max\n")
    (cgroup / "memory.current").write_text("1000\n")
    assert available_memory(meminfo, cgroup) == 20000000 * 1024
    (cgroup / "memory.max").write_text(f"{8 << 30}\n")
    assert available_memory(meminfo, cgroup) == (8 << 30) - 1000
    assert available_memory(tmp_path / "absent", cgroup) is None


@pytest.mark.parametrize("setting,budget", [("16G", 16 << 30), ("512MiB", 512 << 20), ("1.5g", 3 << 29),
                                            ("123456", 123456)])
def test_the_memory_setting_reads_as_people_write_it(setting, budget, monkeypatch):
    from billing_lib.core.memory import memory_budget
    monkeypatch.setenv("BILLING_MEMORY", setting)
    assert memory_budget() == budget


@pytest.mark.parametrize("setting", ["lots", "-2G", "0", "G"])
def test_a_memory_setting_that_is_no_amount_is_refused(setting, monkeypatch):
    from billing_lib.core.memory import memory_budget
    from billing_lib.errors import ParameterError
    monkeypatch.setenv("BILLING_MEMORY", setting)
    with pytest.raises(ParameterError, match="BILLING_MEMORY"):
        memory_budget()


def test_the_size_of_a_dataset_is_read_from_file_sizes_and_parquet_footers(tmp_path, monkeypatch):
    from billing_lib.data.footprint import dataset_bytes
    from billing_lib.verification import shards_for
    csv_bytes = sum(p.stat().st_size for p in SAMPLE.glob("*.csv") if p.stem != "ground_truth")
    assert dataset_bytes(SAMPLE) == csv_bytes
    folder = write(sample_tables(), tmp_path / "parquet", "parquet-typed")
    assert 0 < dataset_bytes(folder)
    (tmp_path / "parquet" / "notes.csv").write_text("not a table\n")
    assert dataset_bytes(folder) == dataset_bytes(tmp_path / "parquet")  # files that are no table are left out
    monkeypatch.setenv("BILLING_MEMORY", "64G")
    assert shards_for(SAMPLE) == 1
    monkeypatch.setenv("BILLING_MEMORY", str(csv_bytes))  # four and a half times the data: far too little
    assert shards_for(SAMPLE) == 23


def test_the_command_line_keeps_data_too_large_for_memory_on_disk_by_itself(tmp_path):
    import os
    synthesize(tmp_path / "data", seed=9, customers=30, months=3, anomaly_rate=0.05)
    plain = _billing("verify", str(tmp_path / "data"), "--out", str(tmp_path / "plain"))
    small = _billing("verify", str(tmp_path / "data"), "--out", str(tmp_path / "small"),
                     env={**os.environ, "BILLING_MEMORY": "100K"})
    assert plain.returncode == 0 and small.returncode == 0, small.stderr
    assert "kept on disk" not in plain.stderr
    assert "needs more memory than a run here may take" in small.stderr and "kept on disk" in small.stderr
    assert _digest(tmp_path / "small") == _digest(tmp_path / "plain")


def test_a_temporary_folder_held_in_memory_is_told(tmp_path):
    from billing_lib.data.spill import filesystem_type
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/vda / ext4 rw 0 0\ntmpfs /tmp tmpfs rw,nosuid 0 0\n"
                      "/dev/vdb /tmp/big\\040disk xfs rw 0 0\nproc /proc proc rw 0 0\n")
    assert filesystem_type(Path("/tmp/billing-verify-1"), mounts) == "tmpfs"
    assert filesystem_type(Path("/tmp/big disk/x"), mounts) == "xfs"
    assert filesystem_type(Path("/tmpx/y"), mounts) == "ext4"  # /tmp is no folder above /tmpx
    assert filesystem_type(Path("/work"), tmp_path / "absent") is None


def test_a_run_from_disk_in_a_folder_held_in_memory_says_so():
    if filesystem_type_of_shm() != "tmpfs":
        pytest.skip("this machine has no /dev/shm held in memory")
    lines: list[str] = []
    verify_from_disk(SAMPLE, 2, work_dir="/dev/shm", progress=lines.append)
    assert any("/dev/shm is held in memory (tmpfs)" in line and "TMPDIR" in line for line in lines)


def filesystem_type_of_shm() -> str | None:
    from billing_lib.data.spill import filesystem_type
    return filesystem_type(Path("/dev/shm")) if Path("/dev/shm").is_dir() else None


@pytest.fixture
def small_parts(monkeypatch):
    """Every CSV table read in parts of seven records when kept on disk (large tables are, in real runs)."""
    import billing_lib.data.loading as loading
    monkeypatch.setattr(loading, "PART_BYTES", 0)
    monkeypatch.setattr(loading, "PART_ROWS", 7)


def _problems(folder: Path, **kwargs) -> list:
    with pytest.raises(DatasetError) as err:
        load_dataset(folder, **kwargs)
    return err.value.problems


@pytest.mark.usefixtures("small_parts")
def test_a_table_read_in_parts_is_the_table_read_whole(tmp_path):
    loaded = load_dataset(SAMPLE)
    spilled = load_dataset(SAMPLE, spill_to=tmp_path)
    assert spilled.row_counts() == loaded.row_counts()
    for name in loaded.tables:
        assert spilled.frame(name).collect().equals(loaded.frame(name).collect()), name
    assert len(list(tmp_path.glob("usage.part*.parquet"))) > 100
    assert verify_from_disk(SAMPLE, 3).exceptions.equals(verify(loaded).exceptions)


@pytest.mark.usefixtures("small_parts")
def test_problems_in_many_parts_are_named_as_a_whole_read_names_them(tmp_path):
    tables = sample_tables()
    payments = tables["payments"]
    bad = pl.Series([f"{i}x" if i % 3 == 0 else None for i in range(payments.height)], dtype=pl.String)
    tables["payments"] = payments.with_columns(amount=pl.coalesce(bad, pl.col("amount").cast(pl.String)))
    usage = tables["usage"]
    tables["usage"] = usage.with_columns(  # the first event's id again, far down the file
        event_id=pl.when(pl.int_range(pl.len()) == usage.height - 5).then(pl.lit(usage["event_id"][0]))
        .otherwise(pl.col("event_id")))
    folder = write(tables, tmp_path / "data", "csv")
    whole = _problems(folder)
    in_parts = _problems(folder, spill_to=tmp_path)
    assert any(p.message.endswith("more rows like these") for p in whole)
    assert any("duplicate key" in p.message for p in whole)
    assert in_parts == whole


def test_validating_data_too_large_for_memory_says_the_same(tmp_path):
    import os
    small = {**os.environ, "BILLING_MEMORY": "100K"}
    assert _billing("validate", str(SAMPLE)).stdout == _billing("validate", str(SAMPLE), env=small).stdout != ""
    tables = sample_tables()
    tables["payments"] = tables["payments"].with_columns(amount=pl.lit("12,5x"))
    folder = write(tables, tmp_path / "data", "csv")
    plain, on_disk = _billing("validate", str(folder)), _billing("validate", str(folder), env=small)
    assert plain.returncode == on_disk.returncode == 2
    assert "payments.csv, row 2, column 'amount'" in on_disk.stderr
    assert on_disk.stderr == plain.stderr
