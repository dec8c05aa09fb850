"""Never a panic, whatever the engine and the shape of the data.

Root cause (polars 2.1.0, reproduced below): ``pl.format`` over a text column that holds an *empty chunk*
panics with ``assertion failed: i < self.len()`` (polars-arrow ``array/binview/mod.rs:413``), in either
engine. The streaming engine leaves such chunks behind a filter over a table held in several chunks (as a
large dataset is, and as a frame the streaming engine collected is), so large runs and some small ones
(the statement of account of an investigation) crashed. Other text functions (``concat_str``,
``str.extract``, ``str.replace``, ``when/then`` over text) do not. Upstream: pola-rs/polars#25339
("pl.format panics", the same assertion, open); the reproduction below is what to add there.

The design that makes it impossible here: checks return typed finding rows, and all of a finding's text
is written by :meth:`Finding.render` on the small collected frame, rechunked first.
"""
from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from helpers import ENGINES, in_chunks

from billing_lib.checks import catalogue
from billing_lib.checks.base import Finding, finding
from billing_lib.checks.context import IN_MEMORY_UP_TO_ROWS, CheckContext, polars_engine
from billing_lib.checks.figures import text
from billing_lib.cli import main as billing
from billing_lib.data.loading import load_dataset
from billing_lib.investigation.story import statement
from billing_lib.investigation.subject import Investigation, Subject, investigate
from billing_lib.verification import verify

SAMPLE = str(Path(__file__).resolve().parents[1] / "data" / "sample")


def _with_an_empty_chunk() -> pl.DataFrame:
    """The minimal reproduction: rows 0 and 2 of a table held in chunks of 1, 1 and 3 rows, collected by the
    streaming engine, come back in chunks of 1, 0 and 1 rows."""
    table = pl.concat([pl.DataFrame({"s": ["a"]}), pl.DataFrame({"s": ["b"]}), pl.DataFrame({"s": ["c", "d", "e"]})],
                      rechunk=False).with_row_index("i")
    return table.lazy().filter(pl.col("i").is_in([0, 2])).collect(engine="streaming")


def test_the_upstream_panic_reproduces_on_this_polars():
    picked = _with_an_empty_chunk()
    if [len(c) for c in picked["s"].get_chunks()] != [1, 0, 1]:
        pytest.skip(f"polars {pl.__version__} leaves no empty chunk here")
    try:
        picked.select(pl.format("{}", pl.col("s")))
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        assert "i < self.len()" in str(exc)
        assert picked.rechunk().select(pl.format("{}", pl.col("s"))).to_series().to_list() == ["a", "c"]
        return
    pytest.skip(f"polars {pl.__version__} no longer panics in pl.format on an empty chunk")


def test_a_finding_is_written_on_rechunked_rows():
    # typed finding rows whose message values sit in chunks of 1, 0 and 1 rows, as a streaming collect leaves them
    parts = [pl.DataFrame({"s": v}).select(pl.struct(pl.col("s").alias("0")).alias("message"))
             for v in (["a"], ["b"], ["c", "d", "e"])]
    table = pl.concat(parts, rechunk=False).with_row_index("i")
    typed = table.lazy().filter(pl.col("i").is_in([0, 2])).collect(engine="streaming")
    kind = finding(table.lazy(), detail=pl.col("i"), message=text("value {s}", s=pl.col("s")))
    written = kind.render(typed.rename({"i": "detail"}))
    assert written["message"].to_list() == ["value a", "value c"]
    assert written["detail"].to_list() == ["0", "2"]


TEXT_FUNCTIONS = re.compile(r"\.str\.\w+|\.dt\.strftime|concat_str|format\(")


def test_no_check_builds_text_inside_its_plan():
    ctx = CheckContext(load_dataset(SAMPLE))
    for check in catalogue():
        for kind in check.kinds(ctx):
            assert isinstance(kind, Finding)
            found = TEXT_FUNCTIONS.findall(kind.typed().explain(optimized=False))
            assert not found, f"{check.name} builds text inside its plan: {found}"


@pytest.mark.parametrize("rows_per_chunk", [1, 3])
def test_the_catalogue_gives_the_same_findings_under_both_engines_on_tables_in_chunks(monkeypatch, rows_per_chunk):
    ds = load_dataset(SAMPLE)
    found = {}
    for engine in ENGINES:
        monkeypatch.setenv("BILLING_ENGINE", engine)
        found[engine] = verify(in_chunks(ds, rows_per_chunk)).exceptions
    assert found["streaming"].height > 0
    assert found["streaming"].equals(found["in-memory"])
    assert found["in-memory"].equals(verify(ds).exceptions)


def test_every_customers_statement_on_tables_in_chunks():
    # on one-row chunks the statement of 33 of the sample's 40 customers panicked before (pl.format on the
    # customer's invoices collected by the streaming engine)
    ds = in_chunks(load_dataset(SAMPLE))
    customers = ds.frame("customers").select("customer_id").collect().to_series().to_list()
    first = investigate(ds, customer_id=customers[0])
    for customer in customers:
        inv = Investigation(ds, Subject("customer", customer, customer), first.ctx, first.all_findings)
        rows = statement(inv)
        assert rows["note"].null_count() == 0, customer


def test_the_engine_is_a_setting(monkeypatch):
    monkeypatch.delenv("BILLING_ENGINE", raising=False)
    assert polars_engine(10) == "in-memory" and polars_engine(IN_MEMORY_UP_TO_ROWS + 1) == "auto"
    for setting in ENGINES:
        monkeypatch.setenv("BILLING_ENGINE", setting.upper())
        assert polars_engine(10) == polars_engine(IN_MEMORY_UP_TO_ROWS + 1) == setting


def test_an_unknown_engine_is_refused_with_the_settings_name(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BILLING_ENGINE", "gpu")
    assert billing(["verify", SAMPLE, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "BILLING_ENGINE='gpu'" in err and "streaming, in-memory" in err
    assert not (tmp_path / "out").exists()
