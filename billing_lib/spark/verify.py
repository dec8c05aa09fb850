"""``verify_on_spark``: the verification of :func:`billing_lib.verification.verify`, run on Apache Spark.

1. The driver lists the table files (it reads none) and Spark reads them, numbering every record.
2. One task gets every table but the usage events of known subscriptions: it validates them, runs the global
   checks and the cash application (:func:`~billing_lib.spark.tasks.whole_task`).
3. Each row goes to the shard of its customer (``pmod(xxhash64(customer_id), shards)``; customers that carry
   one invoice number go to the shard of the smallest of them): invoice lines and credit notes follow their
   invoice, usage events their subscription, cash application rows both the invoice's and the payer's
   customer; configuration tables go to every shard. Each shard runs the
   per-customer checks (:func:`~billing_lib.spark.tasks.shard_task`).
4. The driver puts the findings together as the local run does (:func:`~billing_lib.verification.finalize`).
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from functools import partial, reduce
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from billing_lib.checks.context import engine_setting
from billing_lib.data.dataset import ROW
from billing_lib.data.source_rows import merged_problems
from billing_lib.errors import DatasetError, ParameterError, Problem
from billing_lib.spark.session import spark_session
from billing_lib.spark.tables import SparkTable, find_spark_tables, read_spark_tables
from billing_lib.spark.tasks import (
    APP_COLUMNS,
    APP_NO,
    APPLICATIONS_TABLE,
    OUTPUT_SCHEMA,
    PACKED_SCHEMA,
    PAYLOAD,
    SHARD,
    TABLE,
    WHOLE_OUTPUT_SCHEMA,
    TableLayout,
    from_ipc,
    pack_batches,
    problems_from_json,
    shard_task,
    whole_task,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from billing_lib.verification import VerificationResult

CUSTOMER_TABLES = ("customers", "subscriptions", "invoices", "payments")
BY_INVOICE = ("invoice_lines", "credit_notes")
WHOLE_ONLY = ("gl_entries",)  # read by global checks only: no shard gets a copy


def default_shards(spark: SparkSession) -> int:
    """Shards when none are asked for: two per core Spark has, so a slow shard does not hold up the run."""
    return max(2, 2 * spark.sparkContext.defaultParallelism)


def verify_on_spark(data: str, months: list[dt.date] | None = None, checks: list[str] | None = None,
                    master: str | None = None, shards: int | None = None,
                    progress: Callable[[str], None] = lambda _m: None) -> VerificationResult:
    """Verify the dataset at ``data`` (a folder, ``hdfs://`` or ``s3a://`` path) on Spark; the result is the
    same as :func:`~billing_lib.verification.verify`'s on the same data."""
    from billing_lib.verification import VerificationResult, finalize, select_checks, summary_of
    chosen = select_checks(checks)
    if shards is not None and shards < 1:
        raise ParameterError(f"--shards must be 1 or more, not {shards}")
    spark = spark_session(master)
    shards = shards or default_shards(spark)
    progress(f"spark {spark.version} on {spark.sparkContext.master}: reading the tables of {data}")
    found = find_spark_tables(spark, data)
    tables = read_spark_tables(spark, found)
    layouts = [t.layout for t in tables.values()]
    _require_columns(data, tables)
    units = _units(tables)
    keyed = _shard_keys(tables, shards, units)

    progress("validating the tables, global checks and cash application (one task)")
    whole = _whole_stage(tables, keyed, layouts, months, checks).localCheckpoint(eager=True)
    small = {r["kind"]: r["payload"] for r in whole.filter("kind != 'application'").collect()}
    if "problems" in small:
        raise DatasetError(data, problems_from_json(small["problems"]))
    verified = [dt.date.fromisoformat(m) for m in json.loads(bytes(small["months"]))]

    progress(f"per-customer checks on {shards} shards")
    task = partial(shard_task, layouts=layouts, months=verified, check_names=checks,
                   unknown_payers=bytes(small["unknown_payers"]), engine=engine_setting())
    parts = (_shard_rows(tables, keyed, whole, shards, units).groupBy(SHARD)
             .applyInArrow(lambda rows: task(rows), _spark(OUTPUT_SCHEMA)).collect())
    problems = [p for r in parts if r["kind"] == "problems" for p in problems_from_json(r["payload"])]
    if problems:
        raise DatasetError(data, merged_problems(problems) + _duplicate_events(tables, keyed))
    duplicates = _duplicate_events(tables, keyed)
    if duplicates:
        raise DatasetError(data, duplicates)
    findings = [from_ipc(small["findings"])] + [from_ipc(r["payload"]) for r in parts if r["kind"] == "findings"]
    exceptions = finalize(pl.concat(findings, how="vertical"))
    progress(f"{exceptions.height:,} exceptions")
    counts = {name: t.rows for name, t in tables.items()}
    return VerificationResult(exceptions, summary_of(exceptions, verified, counts, chosen))


def _require_columns(data: str, tables: dict[str, SparkTable]) -> None:
    """The key columns routing needs; a table without them is reported by the loader's own words."""
    needed = {**{t: "customer_id" for t in CUSTOMER_TABLES}, **{t: "invoice_id" for t in BY_INVOICE},
              "usage": "subscription_id", "subscriptions": "subscription_id", "invoices": "invoice_id"}
    problems = [Problem(t.file, None, needed[t.name], "required column is missing (columns found: "
                        f"{', '.join(t.columns) or 'none'})")
                for t in tables.values() if t.name in needed and not t.has_column(needed[t.name])]
    if problems:
        raise DatasetError(data, problems)


def _id(frame_col: Column) -> Column:
    """An id column as the loader types it: text, an empty value is no id."""
    from pyspark.sql import functions as F
    text = frame_col.cast("string")
    return F.when(text == "", None).otherwise(text)


def _shard_of(key: Column, shards: int) -> Column:
    from pyspark.sql import functions as F
    return F.pmod(F.xxhash64(key), F.lit(shards))


def _units(tables: dict[str, SparkTable]) -> DataFrame | None:
    """The customers that carry an invoice number with others, with the customer whose shard they go to
    (:func:`~billing_lib.verification.customer_units`: the pairs are few, the driver links them), or None."""
    if "invoices" not in tables:
        return None
    from pyspark.sql import functions as F

    from billing_lib.verification import customer_units
    t = tables["invoices"]
    carried = (t.frame.select(_id(F.col(t.column("invoice_id"))).alias("invoice_id"),
                              _id(F.col(t.column("customer_id"))).alias("customer_id")).dropna().distinct())
    shared = carried.groupBy("invoice_id").count().filter("count > 1").select("invoice_id")
    pairs = carried.join(shared, on="invoice_id").toArrow()
    if pairs.num_rows == 0:
        return None
    units = customer_units(pl.from_arrow(pairs))
    return t.frame.sparkSession.createDataFrame(units.rename({"customer_id": "_owner", "unit": "_unit"}).to_pandas())


def _shard_of_customer(frame: DataFrame, customer: Column, units: DataFrame | None, shards: int) -> DataFrame:
    """``frame`` with ``_shard``: the shard of its ``customer`` (of the customer's unit where it carries an
    invoice number with others; none where it names no customer)."""
    from pyspark.sql import functions as F
    if units is None:
        return frame.withColumn(SHARD, F.when(customer.isNotNull(), _shard_of(customer, shards)))
    keyed = frame.withColumn("_owner", customer).join(F.broadcast(units), on="_owner", how="left")
    unit = F.coalesce(F.col("_unit"), F.col("_owner"))
    return keyed.withColumn(SHARD, F.when(unit.isNotNull(), _shard_of(unit, shards))).drop("_owner", "_unit")


def _shard_keys(tables: dict[str, SparkTable], shards: int, units: DataFrame | None) -> dict[str, DataFrame]:
    """The rows of the tables that belong to customers with their ``_shard`` (a row of a number several
    customers carry goes to each of their shards: one row per shard; a row no customer owns has none)."""
    from pyspark.sql import functions as F
    out = {}
    for name, t in tables.items():
        if name in CUSTOMER_TABLES:
            out[name] = _shard_of_customer(t.frame, _id(F.col(t.column("customer_id"))), units, shards)
    if "invoices" in tables:
        owners = (out["invoices"].filter(F.col(SHARD).isNotNull())
                  .select(_id(F.col(tables["invoices"].column("invoice_id"))).alias("_key"), SHARD).distinct())
        for name in BY_INVOICE:
            if name in tables:
                out[name] = _joined(tables[name].frame, _id(F.col(tables[name].column("invoice_id"))), owners)
    if "usage" in tables:
        owners = (out["subscriptions"].filter(F.col(SHARD).isNotNull())
                  .select(_id(F.col(tables["subscriptions"].column("subscription_id"))).alias("_key"), SHARD)
                  .distinct())
        out["usage"] = _joined(tables["usage"].frame, _id(F.col(tables["usage"].column("subscription_id"))), owners)
    return out


def _joined(frame: DataFrame, key: Column, owners: DataFrame) -> DataFrame:
    """``frame`` with the ``_shard`` of every owner of its key (one row per owner; none where no one owns it)."""
    return frame.withColumn("_key", key).join(owners, on="_key", how="left").drop("_key")


def _spark(schema: pa.Schema):
    """The Spark schema of what a task returns (declared once, as Arrow, beside the task)."""
    from pyspark.sql.pandas.types import from_arrow_schema
    return from_arrow_schema(schema)


def _packed(frame: DataFrame, table: int) -> DataFrame:
    """``frame``'s rows (with ``_shard``) packed by shard: rows of ``PACKED_SCHEMA``, made where Spark holds
    them (see :func:`~billing_lib.spark.tasks.pack_batches`)."""
    return frame.mapInArrow(partial(pack_batches, table=table), _spark(PACKED_SCHEMA))


def _union(frames: list[DataFrame]) -> DataFrame:
    return reduce(lambda a, b: a.unionByName(b), frames)


def _whole_stage(tables: dict[str, SparkTable], keyed: dict[str, DataFrame], layouts: list[TableLayout],
                 months: list[dt.date] | None, checks: list[str] | None) -> DataFrame:
    """The task over every table but the usage events that some shard checks (each row once)."""
    from pyspark.sql import functions as F
    one = F.lit(0).cast("long")
    parts = [_packed(t.frame.withColumn(SHARD, one), t.index) for n, t in tables.items() if n != "usage"]
    if "usage" in keyed:
        unowned = keyed["usage"].filter(F.col(SHARD).isNull()).withColumn(SHARD, one)
        parts.append(_packed(unowned, tables["usage"].index))
    task = partial(whole_task, layouts=layouts, months=months, check_names=checks, engine=engine_setting())
    return _union(parts).groupBy(SHARD).applyInArrow(lambda rows: task(rows), _spark(WHOLE_OUTPUT_SCHEMA))


def _shard_rows(tables: dict[str, SparkTable], keyed: dict[str, DataFrame], whole: DataFrame,
                shards: int, units: DataFrame | None) -> DataFrame:
    """Every shard's packed rows: its customers' documents and usage events, every configuration table, and
    the cash application rows of its invoices and payments."""
    from pyspark.sql import functions as F
    every = whole.sparkSession.range(shards).select(F.col("id").alias(SHARD))
    routed = [_packed(keyed[n].filter(F.col(SHARD).isNotNull()), tables[n].index) for n in keyed]
    shared = [_packed(t.frame.withColumn(SHARD, F.lit(0).cast("long")), t.index).drop(SHARD).crossJoin(every)
              .select(SHARD, TABLE, PAYLOAD) for n, t in tables.items()
              if n not in (*CUSTOMER_TABLES, *BY_INVOICE, *WHOLE_ONLY, "usage")]
    apps = whole.filter("kind = 'application'").select(APP_NO, *APP_COLUMNS)
    by_owner = [_shard_of_customer(apps, F.col(who), units, shards).filter(F.col(who).isNotNull())
                for who in ("customer_id", "payer")]
    apps = _union(by_owner).dropDuplicates([APP_NO, SHARD])
    return _union([*routed, *shared, _packed(apps, APPLICATIONS_TABLE)])


def _duplicate_events(tables: dict[str, SparkTable], keyed: dict[str, DataFrame]) -> list[Problem]:
    """Usage events whose ``event_id`` is on several rows, across all shards (found by Spark; only the
    duplicates reach the driver), in the loader's words."""
    if "usage" not in tables or not tables["usage"].has_column("event_id"):
        return []
    from pyspark.sql import functions as F

    from billing_lib.data.loading import duplicate_key_problems
    t = tables["usage"]
    events = t.frame.select(_id(F.col(t.column("event_id"))).alias("event_id"), ROW)
    repeated = events.groupBy("event_id").count().filter("count > 1").drop("count")
    dups = events.join(repeated, on=events["event_id"].eqNullSafe(repeated["event_id"]), how="left_semi")
    dups = dups.groupBy("event_id").agg(F.sort_array(F.collect_list(ROW)).alias("rows")).collect()
    if not dups:
        return []
    frame = pl.DataFrame([{"event_id": r["event_id"], "rows": list(r["rows"])} for r in dups],
                         schema={"event_id": pl.String, "rows": pl.List(pl.Int64)})
    return duplicate_key_problems(frame, ["event_id"], t.file, t.offset)
