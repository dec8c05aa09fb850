"""run_position and run_last against the windows they stand for, on sorted frames with nulls, both engines."""
import numpy as np
import polars as pl
import pytest

from billing_lib.core.runs import run_last, run_position


def _frame(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    text = [None if rng.random() < 0.2 else f"S-{rng.integers(0, 4)}" for _ in range(rows)]
    month = [None if rng.random() < 0.2 else int(rng.integers(0, 3)) for _ in range(rows)]
    return pl.DataFrame({"sub": text, "month": month}, schema={"sub": pl.String, "month": pl.Int64}).sort(
        "sub", "month")


@pytest.mark.parametrize("engine", ["in-memory", "streaming"])
@pytest.mark.parametrize("rows", [0, 1, 2, 7, 500])
def test_runs_give_the_windows_positions(rows: int, engine: str) -> None:
    frame = _frame(rows, seed=rows)
    got = frame.lazy().with_columns(position=run_position("sub", "month"), last=run_last("sub", "month"))
    want = frame.with_columns(position=pl.int_range(pl.len(), dtype=pl.UInt32).over("sub", "month"),
                              last=pl.int_range(pl.len()).over("sub", "month") == pl.len().over("sub", "month") - 1)
    assert got.collect(engine=engine).equals(want)


def test_hand_written_runs() -> None:
    frame = pl.DataFrame({"k": ["a", "a", "b", None, None, "c"]})
    out = frame.select(position=run_position("k"), last=run_last("k"))
    assert out["position"].to_list() == [0, 1, 0, 0, 1, 0]
    assert out["last"].to_list() == [False, True, True, False, True, True]
