"""Wrong calls a user would make, through the real ``billing`` entry point: each gives one clear message naming
what to fix and exit code 2, never a traceback or exit 1, and nothing is half-written."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from billing_lib.cli import main

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
