"""Where a verification runs: ``local`` (this process, polars) or ``spark`` (Apache Spark, the same checks).

Both give the same result, byte for byte once written; the choice is about where the data lives and how
large it is (see docs/spark.md).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from billing_lib.data.dataset import Dataset
from billing_lib.errors import ParameterError
from billing_lib.verification import Progress, VerificationResult, verify

ENGINES = ("local", "spark")


def verify_on_engine(engine: str, ds: Dataset, data_dir: str | Path, months: list[dt.date] | None = None,
                     master: str | None = None, progress: Progress | None = None) -> VerificationResult:
    """:func:`~billing_lib.verification.verify` on ``engine``: ``local`` (this process, on ``ds``) or ``spark``
    (Apache Spark reads ``data_dir`` itself; ``master`` names the cluster). The result is the same either way."""
    if engine not in ENGINES:
        raise ParameterError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    if engine == "spark":
        from billing_lib.spark.verify import verify_on_spark
        return verify_on_spark(str(data_dir), months, master=master, progress=progress or (lambda _m: None))
    return verify(ds, months, progress=progress) if progress else verify(ds, months)
