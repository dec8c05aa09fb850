"""Choosing where mistakes are planted: which invoices, and which line on each.

Each kind of mistake is planted on about ``rate`` x the invoices that could
carry it (at least one whenever one could), every invoice at most once, never
on protected (showcase) customers or on the void / re-issued pair.
"""
from __future__ import annotations

import numpy as np
import polars as pl


def choose_victims(lines: pl.DataFrame, eligible: dict[str, pl.Expr], base: pl.Expr, rate: float,
                   rng: np.random.Generator) -> pl.DataFrame:
    """One row per planted mistake: ``check``, ``inv``, ``line_no`` and a small random integer ``r``.

    ``eligible`` maps each check (in the order they are served) to the lines it may be planted on;
    ``base`` excludes lines of invoices that must stay correct.
    """
    pool_lines = lines.filter(base).select("inv", "line_no", *[e.alias(k) for k, e in eligible.items()])
    taken = pl.DataFrame(schema={"inv": pl.Int64})
    chosen = []
    for check, _ in eligible.items():
        cand = pool_lines.filter(pl.col(check)).select("inv", "line_no")
        pool = cand["inv"].n_unique()
        if pool == 0 or rate <= 0:
            continue
        wanted = max(1, round(rate * pool))
        free = cand.join(taken, on="inv", how="anti")
        invs = free.select(pl.col("inv").unique().sort())
        if invs.height == 0:
            continue
        invs = invs.with_columns(key=pl.Series(rng.random(invs.height))).sort("key").head(wanted)
        picks = free.join(invs.select("inv"), on="inv").sort("inv", "line_no")
        picks = (picks.with_columns(key=pl.Series(rng.random(picks.height)))
                 .sort("inv", "key").group_by("inv", maintain_order=True).first()
                 .select("inv", "line_no"))
        picks = picks.with_columns(check=pl.lit(check), r=pl.Series(rng.integers(0, 8, picks.height)))
        chosen.append(picks)
        taken = pl.concat([taken, picks.select("inv")])
    if not chosen:
        return pl.DataFrame(schema={"inv": pl.Int64, "line_no": pl.Int64, "check": pl.String, "r": pl.Int64})
    return pl.concat(chosen).with_columns(pl.col("r").cast(pl.Int64)).sort("inv")
