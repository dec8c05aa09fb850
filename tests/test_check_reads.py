"""Each check declares the shared frames it reads (``@check(reads=...)``), and a verification run frees a
frame once no check left to run reads it. The declarations are held here to what each check really reads on
the bundled sample; freeing changes no finding."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import polars as pl
import pytest

from billing_lib.checks.base import catalogue
from billing_lib.checks.context import RELEASABLE_TABLES, SHARED_FRAMES, CheckContext
from billing_lib.data.dataset import Dataset
from billing_lib.data.loading import load_dataset
from billing_lib.verification import finalize, run_checks, select_checks, verify

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


class _WatchedDataset(Dataset):
    """A dataset that notes the releasable tables read from it."""

    asked: set[str]

    def frame(self, name: str):
        if name in RELEASABLE_TABLES:
            self.asked.add(name)
        return super().frame(name)


class _Watched(CheckContext):
    """A context that notes every shared frame asked of it, and every releasable table read from its dataset
    once the charges are rated (as a run rates them first)."""

    def __init__(self, ds: Dataset):
        super().__init__(_WatchedDataset(ds.folder, ds.tables, ds.files))
        self.asked: set[str] = set()
        self.ds.asked = self.asked
        self.expected  # noqa: B018
        self.asked.clear()

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
    assert ctx.asked - {"expected"} == set(check.reads) - {"expected"}, \
        f"declare reads={tuple(sorted(ctx.asked))} on {check.name}"
    assert ("expected" in check.reads) == ("expected" in ctx.asked or "matched" in ctx.asked)


def test_the_usage_events_are_let_go_after_their_last_reader_and_the_rating():
    frame = pl.DataFrame({"x": [1]})
    tables = {"usage": frame, "customers": frame}
    ctx = CheckContext(Dataset(SAMPLE, tables))
    ctx.release(frozenset({"usage"}))
    assert "usage" in ctx.ds.tables  # a check left reads it
    ctx.release(frozenset({"expected"}))
    assert "usage" in ctx.ds.tables  # the charges are not rated yet: rating reads it
    ctx.__dict__["expected"] = frame  # rated
    ctx.release(frozenset({"expected"}))
    assert set(ctx.ds.tables) == {"customers"}
    assert ctx.ds.frame("customers").collect().equals(frame)


def test_freeing_frames_changes_no_finding_and_frees_them_all(sample):
    kept = CheckContext(sample)
    freed = CheckContext(sample)
    checks = select_checks()
    assert finalize(run_checks(freed, checks, release=True)).equals(finalize(run_checks(kept, checks)))
    assert not set(SHARED_FRAMES) & set(vars(freed)), "a frame no check reads any more is still held"
    assert "usage" not in freed.ds.tables and "usage" in kept.ds.tables
    assert set(SHARED_FRAMES) <= set(vars(kept)) | {"unknown_payer_payments"}
    assert verify(sample).exceptions.equals(finalize(run_checks(CheckContext(sample), checks)))
