"""The first screen of every report and of the index page, on the bundled sample's monthly run of June 2024
(May's run beside it, so the index compares), kept as golden files under ``tests/golden/first_screen/``.

What a manager reads first is the verdict, what was checked and found, the money at stake and what needs a
decision: a change to any of those words or figures shows here as a diff to review. After an intended change,
``BILLING_UPDATE_GOLDEN=1 python -m pytest tests/test_first_screens.py`` rewrites the files (review the diff).
Each first screen is also searched for what must never reach a reader: Python's None or nan, and identifiers
in snake_case.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from billing_lib.reports.first_screen import first_screen, unreadable

GOLDEN = Path(__file__).resolve().parent / "golden" / "first_screen"
UPDATE = os.environ.get("BILLING_UPDATE_GOLDEN") == "1"
pytestmark = pytest.mark.slow


def _pages(out: Path) -> list[Path]:
    return [out / "index.html", *sorted((out / "reports").glob("*.html"))]


def test_every_first_screen_matches_its_golden_file(sample_runs):
    out = sample_runs["2024-06"]
    pages = _pages(out)
    assert len(pages) >= 8  # the index, five monthly workbooks and the investigations
    for page in pages:
        text = first_screen(page.read_text(encoding="utf-8"))
        golden = GOLDEN / f"{page.stem}.txt"
        if UPDATE:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text, encoding="utf-8")
        assert golden.is_file(), f"no golden file for {page.name}: run with BILLING_UPDATE_GOLDEN=1"
        assert text == golden.read_text(encoding="utf-8"), page.name
    assert {p.stem for p in pages} == {g.stem for g in GOLDEN.glob("*.txt")}  # no golden file left over


def test_no_first_screen_shows_none_nan_or_an_identifier(sample_runs):
    for period, out in sample_runs.items():
        for page in _pages(out):
            text = first_screen(page.read_text(encoding="utf-8"))
            assert "Money at stake" in text or page.name == "index.html", page.name
            assert unreadable(text) == [], (period, page.name, unreadable(text))


def test_first_screens_name_their_period(sample_runs):
    out = sample_runs["2024-06"]
    for page in _pages(out):
        assert "2024-06" in first_screen(page.read_text(encoding="utf-8")).splitlines()[0], page.name


def test_the_check_catches_what_it_must():
    page = ("<title>X · 2024-06</title><nav>bar</nav><h1>Report</h1><div class='billing-summary'><p>Total None "
            "for gl_mismatch</p><div><p>nan days</p></div></div><h2>Later</h2><p>not read</p>")
    text = first_screen(page)
    assert text == "X · 2024-06\nbar\nReport\nTotal None for gl_mismatch\nnan days\n"
    assert unreadable(text) == ["None", "gl_mismatch", "nan"]
