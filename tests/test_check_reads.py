"""Each check declares the shared frames it reads (``@check(reads=...)``), and a verification run frees a
frame once no check left to run reads it. The declarations are held here to what each check really reads on
the bundled sample; freeing changes no finding."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pytest

from billing_lib.checks.base import catalogue
from billing_lib.checks.context import SHARED_FRAMES, CheckContext
from billing_lib.data.loading import load_dataset
from billing_lib.verification import finalize, run_checks, select_checks, verify

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


class _Watched(CheckContext):
    """A context that notes every shared frame asked of it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: set[str] = set()

    def __getattribute__(self, name: str):
        if name in SHARED_FRAMES:
            object.__getattribute__(self, "asked").add(name)
        return super().__getattribute__(name)


@pytest.fixture(scope="module")
def sample():
    return load_dataset(SAMPLE)


def test_shared_frames_are_the_cached_frames_of_the_context():
    cached = {n for n, v in vars(CheckContext).items() if isinstance(v, cached_property)}
    assert set(SHARED_FRAMES) == cached - {"engine", "large_engine", "months", "period_names"}


@pytest.mark.parametrize("check", catalogue(), ids=lambda c: c.name)
def test_a_check_reads_the_frames_it_declares(sample, check):
    ctx = _Watched(sample)
    check.collect(ctx)
    assert ctx.asked == set(check.reads), f"declare reads={tuple(sorted(ctx.asked))} on {check.name}"


def test_freeing_frames_changes_no_finding_and_frees_them_all(sample):
    kept = CheckContext(sample)
    freed = CheckContext(sample)
    checks = select_checks()
    assert finalize(run_checks(freed, checks, release=True)).equals(finalize(run_checks(kept, checks)))
    assert not set(SHARED_FRAMES) & set(vars(freed)), "a frame no check reads any more is still held"
    assert set(SHARED_FRAMES) <= set(vars(kept)) | {"unknown_payer_payments"}
    assert verify(sample).exceptions.equals(finalize(run_checks(CheckContext(sample), checks)))
