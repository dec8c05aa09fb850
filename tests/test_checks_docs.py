"""docs/checks.md is written from the check registry and kept up to date; every check is one whole unit."""
from __future__ import annotations

import pytest

from billing_lib.checks import CATALOGUE, REGISTRY, catalogue
from billing_lib.checks.base import check
from billing_lib.checks.docs import PAGE, main, markdown
from billing_lib.checks.evidence import ROOT_CAUSES, Explanation
from billing_lib.verification import select_checks


def test_the_committed_page_is_the_one_the_registry_writes():
    assert PAGE.exists(), "run python -m billing_lib.checks.docs"
    assert PAGE.read_text(encoding="utf-8") == markdown(), "docs/checks.md is stale: run python -m billing_lib.checks.docs"
    assert main(["--check"]) == 0


def test_the_page_holds_every_check_whole():
    page = markdown()
    for c in catalogue():
        assert f"`{c.name}`: {c.title}" in page
        assert c.description in page  # the whole docstring, not its first line
    # a description longer than one line is not cut mid-sentence in the table
    assert "a line of a country with no rate in force at all. |" in page


def test_the_catalogue_is_an_explicit_list_that_the_checks_follow():
    assert set(CATALOGUE) == set(REGISTRY)
    assert [c.name for c in select_checks()] == list(CATALOGUE)
    assert [c.name for c in select_checks(["gl_mismatch", "line_arithmetic"])] == \
        [n for n in CATALOGUE if n in ("gl_mismatch", "line_arithmetic")]


def test_every_check_is_one_unit():
    for c in catalogue():
        assert c.title and c.title[0].isupper() and len(c.title) <= 30
        assert c.description.endswith(".") and c.summary.endswith(".")
        assert c.severity in ("error", "warning", "info") and c.scope in ("customer", "global")
        if isinstance(c.explain, Explanation):
            assert c.explain.cause in ROOT_CAUSES
        else:
            assert c.explain.__doc__, f"{c.name}: a computed explanation says in its docstring what it decides"


def test_a_check_must_be_in_the_catalogue_and_name_a_known_cause():
    with pytest.raises(ValueError, match="not in CATALOGUE"):
        check("made_up", title="Made up", explain=Explanation("x", "numbering", "y"))
    with pytest.raises(ValueError, match="ROOT_CAUSES"):
        check("line_arithmetic", title="Again", explain=Explanation("x", "bad luck", "y"))
