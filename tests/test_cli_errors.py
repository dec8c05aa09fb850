"""Wrong calls a user would make, through the real ``billing`` entry point: each gives one clear message naming
what to fix and exit code 2, never a traceback or exit 1, and nothing is half-written."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from billing_lib.cli import main
from billing_lib.errors import ParameterError
from billing_lib.runner.schedule import parameters_file

from helpers import write_dataset

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
    shutil.copyfile(ROOT / "parameters" / "template.yaml", tmp_path / "parameters" / "template.yaml")
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
