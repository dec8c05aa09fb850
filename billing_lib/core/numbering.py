"""Invoice numbers: a prefix and a zero-padded number (``INV-0000123``), one sequence per prefix."""
from __future__ import annotations

import polars as pl

NUMBER_RE = r"^(.*?)(\d+)$"


def number_parts(invoice_id: pl.Expr) -> dict[str, pl.Expr]:
    """Expressions for ``prefix``, ``digits`` (text) and ``number`` (integer) of invoice ids; null when an id
    does not end in digits."""
    digits = invoice_id.str.extract(NUMBER_RE, 2)
    return {"prefix": invoice_id.str.extract(NUMBER_RE, 1), "digits": digits,
            "number": digits.cast(pl.Int64, strict=False)}


def number_text(prefix: str | pl.Expr, number: pl.Expr, width: int | pl.Expr) -> pl.Expr:
    """The invoice id of ``number`` in a sequence: prefix and the number padded to ``width`` digits."""
    prefix = pl.lit(prefix) if isinstance(prefix, str) else prefix
    if isinstance(width, int):
        return pl.concat_str([prefix, number.cast(pl.String).str.zfill(width)])
    # a per-row width without per-row lengths in string functions (see money.to_text): 10^width + number
    # printed without its leading 1; numbers as wide as 10^width or wider (or widths past Int64) print as is
    width = width.cast(pl.Int64)
    bound = pl.when(width <= 18).then(pl.lit(10, dtype=pl.Int64).pow(width))
    padded = pl.when(bound.is_not_null() & (number < bound)) \
        .then((bound + number).cast(pl.String).str.slice(1)).otherwise(number.cast(pl.String))
    return pl.concat_str([prefix, padded])
