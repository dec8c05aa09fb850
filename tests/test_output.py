"""The one atomic writer (core/output.py): whole files only, the umask's mode, pinned workbook timestamps, and a
folder replaced in one step."""
from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from billing_lib.core.output import (
    PINNED_TIME,
    atomic_outputs,
    clean_leftovers,
    publish_folder,
    replacing,
    staging_folder,
    workbook_bytes,
    write_text_atomic,
    write_workbook_atomic,
)


@pytest.fixture
def umask():
    """Set the process umask for the test (returns the setter), restoring it afterwards."""
    before = os.umask(0o022)
    os.umask(before)
    yield os.umask
    os.umask(before)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)])
def test_a_written_file_gets_the_mode_of_a_new_file_under_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    written = [write_text_atomic(tmp_path / "page.html", "<p>hi</p>\n"),
               write_workbook_atomic(tmp_path / "book.xlsx", Workbook())]
    with atomic_outputs(tmp_path / "results") as stage:
        write_text_atomic(stage / "a.csv", "x\n")
    written.append(tmp_path / "results" / "a.csv")
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in written} == {p.name: mode for p in written}


def test_readers_of_a_file_under_umask_022_include_everyone(tmp_path, umask):
    umask(0o022)
    page = write_text_atomic(tmp_path / "index.html", "x")
    assert page.stat().st_mode & stat.S_IROTH and not page.stat().st_mode & stat.S_IWOTH


def test_a_failed_write_leaves_the_previous_file_and_no_temporary_file(tmp_path):
    target = write_text_atomic(tmp_path / "summary.json", "previous\n")
    with pytest.raises(RuntimeError), replacing(target) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_file_is_replaced_not_written_through_a_symlink(tmp_path):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep me")
    (tmp_path / "report.txt").symlink_to(elsewhere)
    write_text_atomic(tmp_path / "report.txt", "new")
    assert not (tmp_path / "report.txt").is_symlink() and (tmp_path / "report.txt").read_text() == "new"
    assert elsewhere.read_text() == "keep me"


def test_a_workbook_has_its_timestamps_pinned_so_the_same_content_gives_the_same_bytes(tmp_path):
    def book() -> Workbook:
        wb = Workbook()
        wb.active["A1"] = "total"
        wb.active["B1"] = 12.5
        return wb
    data = workbook_bytes(book())
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {i.date_time for i in archive.infolist()} == {PINNED_TIME.timetuple()[:6]}
        core = archive.read("docProps/core.xml").decode()
    assert core.count("2000-01-01T00:00:00Z") == 2  # created and modified
    assert write_workbook_atomic(tmp_path / "a.xlsx", book()).read_bytes() == data


def test_a_staging_folder_has_the_usual_mode_and_goes_away_unless_published(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "2024-06"
    with pytest.raises(RuntimeError), staging_folder(target) as stage:
        assert stage.parent == tmp_path and stage.name.startswith(".2024-06.staging-")
        assert stat.S_IMODE(stage.stat().st_mode) == 0o755
        raise RuntimeError("a workbook failed")
    assert list(tmp_path.iterdir()) == []


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_publishing_a_folder_swaps_it_whole_and_hands_back_the_previous_content(tmp_path):
    target = tmp_path / "2024-06"
    with staging_folder(target) as stage:
        (stage / "reports").mkdir()
        (stage / "reports" / "a.html").write_text("first")
        assert publish_folder(stage, target) is None  # nothing there before: a plain rename
    assert _tree(target) == {"reports/a.html": "first"}
    with staging_folder(target) as stage:
        (stage / "index.html").write_text("second")
        previous = publish_folder(stage, target)
        assert previous is not None and _tree(previous) == {"reports/a.html": "first"}
    assert _tree(target) == {"index.html": "second"}
    assert [p.name for p in tmp_path.iterdir()] == ["2024-06"]  # the staging folder (the old content) is gone


def test_what_a_killed_writer_left_is_cleaned_and_a_folder_set_aside_is_put_back(tmp_path):
    target = tmp_path / "2024-06"
    (tmp_path / ".2024-06.staging-abc").mkdir()
    (tmp_path / ".2024-06.staging-abc" / "half.html").write_text("<html")
    (tmp_path / ".2024-06.previous").mkdir()  # killed between "set the old one aside" and "move the new one in"
    (tmp_path / ".2024-06.previous" / "index.html").write_text("published")
    (tmp_path / ".2024-07.staging-def").mkdir()  # another month's: not ours
    clean_leftovers(target)
    assert _tree(target) == {"index.html": "published"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".2024-07.staging-def", "2024-06"]
