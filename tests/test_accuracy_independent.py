"""A second opinion: the check catalogue on hand-written mutations of the sample, as CSV, as
Parquet with text columns and as Parquet with typed columns (cases in ``independent_cases.py``).

Each case is judged per family (payments, ledger, invoices): the findings it adds must be exactly the
expected ones, and no finding of the unchanged sample may disappear. A case may mark a family it is known
to get wrong with ``Case.xfail`` (the test is then ``xfail(strict=True)`` with the reason, so it turns red the
day the check is fixed); none is marked today.
"""
from __future__ import annotations

import polars as pl
import pytest
from independent_cases import CASES, FAMILIES, FORMATS, INVOICES, family, findings, outcome

_RUNS: dict[tuple[str, str], pl.DataFrame] = {}


def _run(case_name: str | None, fmt: str, tmp_path_factory) -> pl.DataFrame:
    """Findings of one case (None: the unchanged sample) in one format, computed once per session."""
    key = (case_name or "", fmt)
    if key not in _RUNS:
        case = next(c for c in CASES if c.name == case_name) if case_name else None
        folder = tmp_path_factory.mktemp(f"{case_name or 'sample'}-{fmt}") / "data"
        _RUNS[key] = findings(case, folder, fmt)
    return _RUNS[key]


def _params():
    for case in CASES:
        for part in FAMILIES:
            marks = [pytest.mark.xfail(strict=True, reason=case.xfail[part])] if part in case.xfail else []
            for fmt in FORMATS:
                yield pytest.param(case.name, part, fmt, marks=marks, id=f"{case.name}-{part.split()[0]}-{fmt}")


@pytest.mark.parametrize("case_name,part,fmt", list(_params()))
def test_case_raises_exactly_its_findings(case_name, part, fmt, tmp_path_factory):
    case = next(c for c in CASES if c.name == case_name)
    got = outcome(case, _run(None, fmt, tmp_path_factory), _run(case_name, fmt, tmp_path_factory), part)
    assert got.missed == [], f"expected findings not raised: {got.missed}"
    assert got.unexpected == [], "false alarms: " + "; ".join(f"{r['check']}: {r['message']}" for r in got.unexpected)
    assert got.gone == [], f"findings of the unchanged sample disappeared: {got.gone}"


def test_unchanged_sample_finds_its_planted_mistakes_in_every_format(tmp_path_factory):
    from independent_cases import SAMPLE

    from billing_lib.synth.scoring import score
    truth = pl.read_csv(SAMPLE / "ground_truth.csv", infer_schema=False)
    ids = None
    for fmt in FORMATS:
        found = _run(None, fmt, tmp_path_factory)
        s = score(found, truth)
        assert (s.recall, s.precision) == (1.0, 1.0), (fmt, s.missed.to_dicts(), s.unexplained.to_dicts())
        ids = ids if ids is not None else found["exception_id"].to_list()
        assert found["exception_id"].to_list() == ids, f"{fmt} finds other exceptions than csv"


def test_every_payment_and_ledger_check_is_planted_and_every_hard_case_is_there():
    planted = {check for case in CASES for check, _ in case.expected if family(check) != INVOICES}
    assert planted == {"unapplied_payment", "payment_mismatch", "status_mismatch", "orphan_reference",
                       "credit_note_excess", "gl_mismatch"}
    names = " ".join(c.name for c in CASES)
    for hard in ("instalments", "references_only_in_text", "one_payment_for_two_invoices", "zero_total",
                 "repeated_number", "partial_payment"):
        assert hard in names


def scores(runs: dict[tuple[str, str], pl.DataFrame], fmt: str = "csv") -> pl.DataFrame:
    """Recall and precision per check over the cases (all of them, any xfail ones too): planted findings
    found, and new findings that were expected."""
    rows = []
    base = runs[("", fmt)]
    for case in CASES:
        for part in FAMILIES:
            got = outcome(case, base, runs[(case.name, fmt)], part)
            for check, _ in case.expected:
                if family(check) == part:
                    hit = not any(m[0] == check and m[1] == _ for m in got.missed)
                    rows.append({"check": check, "planted": 1, "found": int(hit), "raised": int(hit)})
            for r in got.unexpected:
                rows.append({"check": r["check"], "planted": 0, "found": 0, "raised": 1})
    frame = pl.DataFrame(rows, schema={"check": pl.String, "planted": pl.Int64, "found": pl.Int64,
                                       "raised": pl.Int64})
    return (frame.group_by("check").agg(pl.col("planted", "found", "raised").sum())
            .with_columns(recall=pl.col("found") / pl.col("planted"),
                          precision=pl.col("found") / pl.col("raised")).sort("check"))


def test_scores_per_check_are_reported(tmp_path_factory, capsys):
    for case in CASES:
        _run(case.name, "csv", tmp_path_factory)
    _run(None, "csv", tmp_path_factory)
    table = scores(_RUNS)
    with capsys.disabled(), pl.Config(tbl_rows=40):
        print("\nsecond opinion, csv, all cases (any xfail ones included):\n", table)
    payments = table.filter(pl.col("check").is_in(["unapplied_payment", "payment_mismatch", "orphan_reference",
                                                    "credit_note_excess", "gl_mismatch", "status_mismatch"]))
    assert payments["planted"].sum() >= 10
    # every planted finding found, and nothing raised that was not planted
    assert table.filter((pl.col("recall") < 1) | (pl.col("precision") < 1)).is_empty(), table


def test_sharded_run_equals_whole_run_with_a_payment_from_an_unknown_customer(tmp_path):
    from independent_cases import sample_tables, write

    from billing_lib.data.loading import load_dataset
    from billing_lib.verification import verify, verify_sharded
    case = next(c for c in CASES if c.name == "payment_from_an_unknown_customer_naming_its_invoice")
    tables = sample_tables()
    for edit in case.edits:
        edit(tables)
    ds = load_dataset(write(tables, tmp_path / "data", "csv"))
    assert verify_sharded(ds, 3).exceptions.equals(verify(ds).exceptions)
