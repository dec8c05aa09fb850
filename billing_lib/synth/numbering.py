"""Invoice numbers: ``INV-0000001``.. in order of issue, with planted gaps in the sequence."""
from __future__ import annotations

import numpy as np
import polars as pl

from billing_lib.core.numbering import number_text as invoice_number_text

PREFIX = "INV-"


def number_text(number: pl.Expr, width: int) -> pl.Expr:
    """``INV-`` and the zero-padded number."""
    return invoice_number_text(PREFIX, number, width)


def plant_gaps(headers: pl.DataFrame, rate: float, rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Give every header its ``number``, skipping about ``rate`` x invoices numbers (at least one).

    Returns the headers and one ground-truth row per skipped number (``missing`` and the ``period`` of the
    invoice that follows the gap). A gap is never placed before the first invoice.
    """
    n = headers.height
    seq = headers["inv"].to_numpy()
    if n < 2 or rate <= 0:
        return headers.with_columns(number=pl.col("inv")), pl.DataFrame(
            schema={"missing": pl.Int64, "period": pl.Date})
    count = min(n - 1, max(1, round(rate * n)))
    gaps = np.sort(rng.choice(np.arange(2, n + 1), size=count, replace=False))
    shift = np.searchsorted(gaps, seq, side="right")
    numbered = headers.with_columns(number=pl.Series(seq + shift, dtype=pl.Int64))
    missing = gaps + np.arange(count)
    after = pl.DataFrame({"inv": gaps.astype(np.int64), "missing": missing.astype(np.int64)})
    truth = after.join(headers.select("inv", "period"), on="inv").select("missing", "period").sort("missing")
    return numbered, truth
