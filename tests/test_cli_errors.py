"""Wrong calls a user would make, through the real ``billing`` entry point: each gives one clear message naming
what to fix and exit code 2, never a traceback or exit 1, and nothing is half-written."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import header, write_dataset

from billing_lib.cli import main
from billing_lib.errors import ParameterError
from billing_lib.runner.schedule import parameters_file

ROOT = Path(__file__).resolve().parents[1]


def _billing(capsys, *argv: str) -> tuple[int, str]:
    """Run ``billing argv``; (exit code, everything it printed)."""
    code = main([str(a) for a in argv])
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def _assert_clear(code: int, err: str, *expected: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and "unexpected error" not in err, err
    for text in expected:
        assert text in err, err


# ---- billing schedule ------------------------------------------------------------------------------------------

@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder (the current directory) with the parameters template and a valid dataset."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BILLING_TODAY", raising=False)
    write_dataset(tmp_path / "data" / "sample")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_x.ipynb").write_text("{}")
    (tmp_path / "parameters").mkdir()
    template = (ROOT / "parameters" / "template.yaml").read_text(encoding="utf-8")
    # the shipped template names no dataset (data_dir: REPLACE-ME/...): filled in as a user must
    filled = re.sub(r"^data_dir: \S+", "data_dir: data/sample", template, flags=re.M)
    assert filled != template
    (tmp_path / "parameters" / "template.yaml").write_text(filled, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("summary, problem", [("missing/dir/s.md", "its folder missing/dir does not exist"),
                                              ("parameters", "is a folder, not a file"),
                                              ("parameters/template.yaml/s.md", "parameters/template.yaml is a file, not a folder")])
def test_schedule_checks_the_summary_file_before_running(project, capsys, summary, problem):
    code, err = _billing(capsys, "schedule", "--period", "2024-06", "--summary", summary)
    _assert_clear(code, err, f"--summary {summary}: {problem}", "nothing was run")
    assert not (project / "parameters" / "2024-06.yaml").exists()  # stopped before the month's parameters
    assert not (project / "out").exists()


def test_schedule_template_that_is_not_utf8_names_the_file(project):
    (project / "parameters" / "template.yaml").write_bytes('period: "{period}"\n# Zürich\n'.encode("latin-1"))
    with pytest.raises(ParameterError, match=r"template parameters/template.yaml is not UTF-8 text"):
        parameters_file("2024-06", Path("parameters"))
    assert sorted(p.name for p in (project / "parameters").iterdir()) == ["template.yaml"]


def test_schedule_template_that_is_a_folder_or_unreadable_names_the_file(project):
    (project / "tpl").mkdir()
    with pytest.raises(ParameterError, match=r"no template tpl to create it from"):
        parameters_file("2024-06", Path("parameters"), Path("tpl"))


@pytest.mark.parametrize("make", ["missing", "file"])
def test_schedule_parameters_folder_that_cannot_be_written_names_it(project, capsys, make):
    folder = project / "params-here"
    if make == "file":
        folder.write_text("not a folder\n")
    code, err = _billing(capsys, "schedule", "--period", "2024-06", "--parameters-dir", "params-here",
                         "--template", "parameters/template.yaml")
    _assert_clear(code, err, "cannot create params-here/2024-06.yaml from parameters/template.yaml",
                  "the parameters folder params-here cannot be written")


def test_schedule_writes_the_new_parameters_file_atomically(project):
    (project / "parameters" / "2024-06.yaml").symlink_to(project / "elsewhere.yaml")  # dangling: not a file yet
    path, template = parameters_file("2024-06", Path("parameters"))
    assert template == Path("parameters/template.yaml")
    assert yaml.safe_load(path.read_text())["period"] == "2024-06"
    assert not path.is_symlink()  # replaced as a whole (os.replace), not written through into another file
    assert not (project / "elsewhere.yaml").exists()
    assert sorted(p.name for p in (project / "parameters").iterdir()) == ["2024-06.yaml", "template.yaml"]


# ---- every verb: wrong calls a user would make -----------------------------------------------------------------

NAME_ROW = "C1,Zürich Consulting GmbH,billing@acme.example,DE,EUR,30,false"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A folder (the current directory) holding a valid dataset and the wrong things a user might point at."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BILLING_MAIL_FROM", "Billing <billing@example.com>")
    customers = f"{header('customers')}\n{NAME_ROW}\n"
    write_dataset(tmp_path / "ds", customers=customers)
    write_dataset(tmp_path / "latin1", customers=customers)
    (tmp_path / "latin1" / "customers.csv").write_bytes(customers.encode("latin-1"))
    write_dataset(tmp_path / "utf16", customers=customers)
    (tmp_path / "utf16" / "customers.csv").write_text(customers, encoding="utf-16")
    write_dataset(tmp_path / "folder_table")
    (tmp_path / "folder_table" / "usage.csv").mkdir()
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("not a folder\n")
    (tmp_path / "list.yaml").write_text("- period: 2024-06\n- data_dir: ds\n")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_x.ipynb").write_text("{}")
    (tmp_path / "damaged_log.yaml").write_text('period: "2024-06"\ndata_dir: ds\ncase_log: afile\n')
    return tmp_path


WRONG_CALLS = {
    # the dataset folder
    "validate: missing folder": (["validate", "nowhere"], "data folder 'nowhere' does not exist"),
    "validate: a file, not a folder": (["validate", "afile"], "data folder 'afile' does not exist or is not a folder"),
    "validate: empty folder": (["validate", "empty"], "required table 'customers' is missing"),
    "validate: Latin-1 CSV": (["validate", "latin1"], "latin1/customers.csv, row 2, column 'name': not UTF-8 text "
                                                      "(byte 0xFC is not UTF-8): save it as UTF-8"),
    "validate: UTF-16 CSV": (["validate", "utf16"], "utf16/customers.csv: is UTF-16 text, not UTF-8"),
    "validate: a folder named like a table": (["validate", "folder_table"],
                                              "folder_table/usage.csv: is a folder, not a file"),
    "verify: missing folder": (["verify", "nowhere", "--out", "o"], "data folder 'nowhere' does not exist"),
    "verify: --out is a file": (["verify", "ds", "--out", "afile"], "output folder 'afile' cannot be created"),
    "verify: --out under a file": (["verify", "ds", "--out", "afile/o"], "output folder 'afile/o' cannot be created"),
    "verify: bad period text": (["verify", "ds", "--period", "June", "--out", "o"], "period 'June' is not a month"),
    "verify: period year out of range": (["verify", "ds", "--period", "9999-12", "--out", "o"],
                                         "period '9999-12' is outside the years 1900 to 2999"),
    "verify: empty folder": (["verify", "empty", "--out", "o"], "required table 'customers' is missing"),
    "verify: Latin-1 CSV": (["verify", "latin1", "--out", "o"], "not UTF-8 text"),
    "verify: case log that is not one": (["verify", "ds", "--out", "o", "--cases", "afile"],
                                         "case log 'afile' cannot be read as a billing case log"),
    "synth: --out is a file": (["synth", "--out", "afile"], "output folder 'afile' cannot be created"),
    "synth: bad --start": (["synth", "--out", "o", "--start", "2024/01"], "period '2024/01' is not a month"),
    "synth: --start year out of range": (["synth", "--out", "o", "--start", "9999-12"],
                                         "period '9999-12' is outside the years 1900 to 2999"),
    "generate: missing folder": (["generate", "nowhere", "--period", "2024-01", "--out", "o"],
                                 "data folder 'nowhere' does not exist"),
    "generate: no workers": (["generate", "ds", "--period", "2024-01", "--out", "o", "--workers", "0"],
                             "--workers must be 1 or more, not 0"),
    "generate: bad period text": (["generate", "ds", "--period", "2024-1", "--out", "o"],
                                  "period '2024-1' is not a month"),
    "generate: period year out of range": (["generate", "ds", "--period", "0001-01", "--out", "o"],
                                           "period '0001-01' is outside the years 1900 to 2999"),
    "generate: --out is a file": (["generate", "ds", "--period", "2024-01", "--out", "afile"],
                                  "output folder 'afile' cannot be created"),
    "run: missing parameters file": (["run", "nowhere.yaml"], "parameters file 'nowhere.yaml' does not exist"),
    "run: parameters YAML that is a list": (["run", "list.yaml"], "list.yaml: expected a mapping of keys"),
    "run: a folder, not a parameters file": (["run", "empty"], "parameters file 'empty' does not exist"),
    "run: case log that is not one": (["run", "damaged_log.yaml"],
                                      "damaged_log.yaml: case_log: case log"),
    "import: missing source": (["import", "lago", "nowhere", "--out", "o"], "Lago source 'nowhere' does not exist"),
    "import: a folder, not a CSV": (["import", "online-retail", "empty", "--out", "o"], "is not a file"),
    "import: not an Online Retail CSV": (["import", "online-retail", "ds/customers.csv", "--out", "o"],
                                         "not an Online Retail file"),
    "send: missing generated folder": (["send", "nowhere", "--data", "ds", "--outbox", "ob"],
                                       "nowhere is not a folder written by billing generate"),
    "cases: log that is not one": (["cases", "list", "--cases", "afile"],
                                   "case log 'afile' cannot be read as a billing case log"),
    "cases: missing log": (["cases", "list", "--cases", "nowhere.sqlite"], "case log 'nowhere.sqlite' does not exist"),
    "forensics: missing folder": (["forensics", "nowhere", "--out", "o"], "data folder 'nowhere' does not exist"),
    "forensics: --out is a file": (["forensics", "ds", "--out", "afile"], "output folder 'afile' cannot be created"),
    "forensics: bad period": (["forensics", "ds", "--out", "o", "--period", "2024-6"], "period '2024-6' is not a month"),
    "forensics: not an amount column": (["forensics", "ds", "--out", "o", "--amounts", "customers.name"],
                                        "--amounts 'customers.name' is not a decimal column"),
    "schedule: bad --today": (["schedule", "--today", "03/07/2024"], "--today '03/07/2024' is not a date"),
    "schedule: bad --period": (["schedule", "--period", "June"], "period 'June' is not a month"),
}


@pytest.mark.parametrize("argv, expected", WRONG_CALLS.values(), ids=WRONG_CALLS.keys())
def test_a_wrong_call_gives_one_clear_message_and_exit_2(workspace, capsys, argv, expected):
    before = sorted(p.relative_to(workspace) for p in workspace.rglob("*"))
    code, printed = _billing(capsys, *argv)
    _assert_clear(code, printed, expected)
    assert sorted(p.relative_to(workspace) for p in workspace.rglob("*")) == before  # nothing half-written


def test_a_csv_with_a_byte_order_mark_is_read_as_utf8(workspace, capsys):
    path = workspace / "ds" / "customers.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    code, printed = _billing(capsys, "validate", "ds")
    assert code == 0, printed
    assert "follows the billing data contract (1 customers" in printed


def test_a_true_replacement_character_in_utf8_is_kept(workspace, capsys):
    path = workspace / "ds" / "customers.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("Zürich", "Z\ufffdrich"), encoding="utf-8")
    code, printed = _billing(capsys, "validate", "ds")
    assert code == 0, printed  # valid UTF-8: the loader's lossy read raised no false alarm


def test_a_reader_that_goes_away_stops_the_command_quietly():
    """``billing validate data | head -0``: the pipe is closed before anything is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes
    try:
        proc = subprocess.run([sys.executable, "-m", "billing_lib", "validate", str(ROOT / "data" / "sample")],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == 141, proc.stderr  # 128 + SIGPIPE, as a shell reports for other tools
    assert proc.stderr == ""
