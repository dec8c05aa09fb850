"""What runs in Spark's Python workers: Arrow rows in, the local run's polars code, findings out.

Spark hands a task its tables as packed rows: ``_shard`` (the group), ``_table`` (which table) and
``payload``, Arrow IPC bytes of a batch of that table's rows in the table's own columns and types
(:func:`pack_batches`, run by ``mapInArrow`` where Spark read the rows). Tables of different shapes thus
travel together without widening each other, and Spark shuffles a few large values instead of millions of
wide rows. The task unpacks them (:func:`unpack`), turns them back into the tables the local loader would
read, validates and types them with the loader's own code and runs the checks of the catalogue on them.
What it returns is small and typed: findings and frames as Arrow IPC bytes, problems and months as JSON.

* :func:`whole_task`: every table but the usage events whose customer is known. It validates the tables
  (problems are the local loader's, row for row), finds the verified months, runs the global checks and the
  cash application of the whole dataset, whose rows go on to the shards of the invoice's and the payer's
  customer.
* :func:`shard_task`: the rows of one shard of customers (and every configuration table); it runs the
  per-customer checks with the cash application handed over.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from billing_lib.checks.context import ENGINE_VARIABLE, CheckContext, CrossCustomerFrames
from billing_lib.core.money import SCALE
from billing_lib.data.contract import TABLES
from billing_lib.data.dataset import ROW, Dataset
from billing_lib.data.loading import already_typed, as_text_frame, header_name, validate_table
from billing_lib.data.semantics import reference_problems
from billing_lib.engine.cash_application import APPLICATION_SCHEMA
from billing_lib.errors import Problem

TABLE = "_table"
SHARD = "_shard"
PAYLOAD = "payload"
APPLICATIONS_TABLE = -1  # rows of the cash application travel beside the tables under this number
APP_NO = "app_no"  # a cash application row's place in the whole application, kept through the shuffle
APP_COLUMNS = [*APPLICATION_SCHEMA, "payer"]
# what the functions run by Spark return (the driver hands Spark the same schemas)
PACKED_SCHEMA = pa.schema([(SHARD, pa.int64()), (TABLE, pa.int32()), (PAYLOAD, pa.binary())])
OUTPUT_SCHEMA = pa.schema([("kind", pa.string()), (PAYLOAD, pa.binary())])
WHOLE_OUTPUT_SCHEMA = pa.schema([*OUTPUT_SCHEMA, (APP_NO, pa.int64()), ("payment_id", pa.string()),
                                 ("customer_id", pa.string()), ("invoice_id", pa.string()),
                                 ("applied", pa.decimal128(38, SCALE)), ("method", pa.string()),
                                 ("payer", pa.string())])


def neutral_name(table_index: int, column_index: int) -> str:
    """The name a table's column travels under beside other tables' columns."""
    return f"t{table_index}_c{column_index}"


def extra_name(table_index: int) -> str:
    """The column that catches a CSV record's values beyond its header."""
    return f"t{table_index}_extra"


@dataclass(frozen=True)
class TableLayout:
    """How a table travels: its number in the contract, file, first row number and header as written."""

    name: str
    index: int
    file: str
    offset: int
    columns: tuple[str, ...]

    def neutral(self, i: int) -> str:
        return neutral_name(self.index, i)

    @property
    def extra(self) -> str:
        return extra_name(self.index)

    def column(self, name: str) -> str:
        """The neutral name of a contract column of this table (its first occurrence in the header)."""
        return self.neutral([header_name(c) for c in self.columns].index(name))

    def has_column(self, name: str) -> bool:
        return name in [header_name(c) for c in self.columns]


def to_ipc(frame: pl.DataFrame) -> bytes:
    """A polars frame as Arrow IPC bytes (its types kept exactly)."""
    sink = io.BytesIO()
    frame.write_ipc(sink)
    return sink.getvalue()


def from_ipc(payload: bytes) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(bytes(payload)))


def pack_batches(batches: Iterator[pa.RecordBatch], table: int) -> Iterator[pa.RecordBatch]:
    """``mapInArrow``: each batch's rows split by ``_shard``, each part as one row of ``PACKED_SCHEMA`` (rows
    of no shard are left out: the caller sends those elsewhere)."""
    for batch in batches:
        if not batch.num_rows:
            continue
        rows = pa.Table.from_batches([batch])
        shards = rows.column(SHARD)
        values = rows.drop_columns([SHARD])
        out = []
        for shard in sorted(s for s in pc.unique(shards).to_pylist() if s is not None):
            part = values.filter(pc.equal(shards, shard))
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, part.schema) as writer:
                writer.write_table(part)
            out.append((shard, sink.getvalue().to_pybytes()))
        if out:
            yield pa.RecordBatch.from_arrays([pa.array([s for s, _ in out], pa.int64()),
                                              pa.array([table] * len(out), pa.int32()),
                                              pa.array([p for _, p in out], pa.binary())], schema=PACKED_SCHEMA)


def unpack(packed: pa.Table) -> dict[int, pl.DataFrame]:
    """The packed rows of a task as one polars frame per table number."""
    parts: dict[int, list[pa.Table]] = {}
    for table, payload in zip(packed.column(TABLE).to_pylist(), packed.column(PAYLOAD).to_pylist(), strict=True):
        parts.setdefault(table, []).append(pa.ipc.open_stream(payload).read_all())
    return {table: pl.from_arrow(pa.concat_tables(tables)) for table, tables in parts.items()}


def problems_to_json(problems: list[Problem]) -> bytes:
    return json.dumps([dataclasses.astuple(p) for p in problems]).encode("utf-8")


def problems_from_json(payload: bytes) -> list[Problem]:
    return [Problem(*p) for p in json.loads(bytes(payload))]


def raw_table(rows: pl.DataFrame | None, layout: TableLayout) -> pl.DataFrame:
    """The rows of one table as the local loader reads its file: the header as written, every value as text,
    in the order of the file, with the record numbers as ``_row``."""
    if rows is None:  # none of its rows came to this task
        return pl.DataFrame(schema={ROW: pl.UInt32, **{header_name(c): pl.String for c in layout.columns}})
    mine = rows.select(pl.col(ROW), *(pl.col(layout.neutral(i)).alias(name) for i, name in enumerate(layout.columns)))
    # as the local loader does: a Parquet column that already has its contract type is not turned to text
    typed = already_typed(mine, TABLES[layout.name]) if layout.file.endswith(".parquet") else ()
    return as_text_frame(mine.sort(ROW), keep=(ROW, *typed))


def _not_utf8(raw: pl.DataFrame, layout: TableLayout) -> list[Problem]:
    """A CSV that is not UTF-8 reaches Spark with U+FFFD where its bytes were not text: name the first row."""
    if not layout.file.endswith(".csv"):
        return []
    names = [c for c in raw.columns if c != ROW]
    if any("\ufffd" in c for c in names):
        return [Problem(layout.file, 1, None, "the header is not UTF-8 text: save it as UTF-8 (in Excel: Save As, "
                                              "'CSV UTF-8')")]
    if not names:
        return []
    bad = raw.filter(pl.any_horizontal(pl.col(names).str.contains("\ufffd", literal=True)))
    if not bad.height:
        return []
    first = bad.row(0, named=True)
    column = next(c for c in names if first[c] is not None and "\ufffd" in first[c])
    return [Problem(layout.file, first[ROW] + layout.offset, column,
                    "not UTF-8 text: save it as UTF-8 (in Excel: Save As, 'CSV UTF-8')")]


def _ragged(rows: pl.DataFrame | None, layout: TableLayout) -> list[Problem]:
    """The first CSV record with more values than its header names columns (the local loader's problem)."""
    if rows is None or layout.extra not in rows.columns:
        return []
    bad = rows.filter(pl.col(layout.extra).is_not_null()).select(pl.col(ROW).min()).item()
    if bad is None:
        return []
    return [Problem(layout.file, bad + layout.offset, None, f"cannot be read: more values than the "
                                                            f"{len(layout.columns)} columns the header names")]


def typed_tables(rows: dict[int, pl.DataFrame], layouts: list[TableLayout],
                 shard: bool = False) -> tuple[dict[str, pl.DataFrame], list[Problem]]:
    """Validate and type the tables of a task with the loader's code; return them and every problem.
    ``shard``: the task holds a part of the tables (a shard's part may be empty where the table is not, and
    duplicate usage events are found by Spark across all shards)."""
    tables, problems = {}, []
    for layout in layouts:
        ragged = _ragged(rows.get(layout.index), layout)
        if ragged:
            problems += ragged
            continue
        raw = raw_table(rows.get(layout.index), layout)
        spec = TABLES[layout.name]
        if shard and raw.height == 0:
            spec = dataclasses.replace(spec, required=False)
        encoding = _not_utf8(raw, layout)
        if encoding:
            problems += encoding
            continue
        typed, found = validate_table(spec, raw, layout.file, layout.offset,
                                      check_keys=not shard or layout.name != "usage")
        tables[layout.name] = typed
        problems += found
    return tables, problems


def _dataset(tables: dict[str, pl.DataFrame], layouts: list[TableLayout]) -> Dataset:
    files = {layout.name: Path(layout.file) for layout in layouts}
    return Dataset(folder=Path(layouts[0].file).parent if layouts else Path("."), tables=tables, files=files)


def _out(kind: str, payload: bytes) -> dict:
    return {"kind": kind, "payload": payload}


def _use_engine(setting: str) -> None:
    """The driver's ``BILLING_ENGINE`` in this worker too (a worker's environment is the cluster's)."""
    os.environ[ENGINE_VARIABLE] = setting


def whole_task(packed: pa.Table, layouts: list[TableLayout], months: list[dt.date] | None,
               check_names: list[str] | None, engine: str) -> pa.Table:
    """Validate the whole dataset (but the usage events of known customers), then run the global checks and the
    cash application. Returns rows of ``WHOLE_OUTPUT_SCHEMA``: ``problems`` (and nothing else) when the data is
    wrong; else ``months``, ``findings``, ``unknown_payers`` and one ``application`` row per cash application
    row, with its payer."""
    from billing_lib.verification import run_checks, select_checks
    _use_engine(engine)
    tables, problems = typed_tables(unpack(packed), layouts)
    dataset = _dataset(tables, layouts)
    if not problems:
        problems = reference_problems(dataset)
    if problems:
        return _whole_output([_out("problems", problems_to_json(problems))])
    ctx = CheckContext(dataset, months)
    findings = run_checks(ctx, select_checks(check_names, scope="global"))
    payers = ctx.ds.frame("payments").select("payment_id", payer=pl.col("customer_id")).unique("payment_id")
    apps = (ctx.applications.lazy().with_row_index(APP_NO).join(payers, on="payment_id", how="left")
            .sort(APP_NO).collect())
    out = [_out("months", json.dumps([m.isoformat() for m in ctx.months]).encode()),
           _out("findings", to_ipc(findings)), _out("unknown_payers", to_ipc(ctx.unknown_payer_payments))]
    return _whole_output(out, apps)


def _whole_output(payloads: list[dict], apps: pl.DataFrame | None = None) -> pa.Table:
    head = pa.Table.from_pylist([{**p, APP_NO: None} for p in payloads], schema=WHOLE_OUTPUT_SCHEMA)
    if apps is None or not apps.height:
        return head
    body = apps.select(kind=pl.lit("application"), payload=pl.lit(None, pl.Binary),
                       **{APP_NO: pl.col(APP_NO).cast(pl.Int64)}, **{c: pl.col(c) for c in APP_COLUMNS})
    return pa.concat_tables([head, body.to_arrow().cast(WHOLE_OUTPUT_SCHEMA)])


def shard_task(packed: pa.Table, layouts: list[TableLayout], months: list[dt.date],
               check_names: list[str] | None, unknown_payers: bytes, engine: str) -> pa.Table:
    """Run the per-customer checks on one shard of customers: ``packed`` holds its rows of every table, every
    configuration table and the cash application rows it needs. Returns the
    problems of its usage events (when there are any) or its findings, as rows of ``OUTPUT_SCHEMA``."""
    from billing_lib.verification import run_checks, select_checks
    _use_engine(engine)
    rows = unpack(packed)
    tables, problems = typed_tables(rows, layouts, shard=True)
    usage_problems = [p for p in problems if any(p.file == lt.file for lt in layouts if lt.name == "usage")]
    if usage_problems:
        return pa.Table.from_pylist([_out("problems", problems_to_json(usage_problems))], schema=OUTPUT_SCHEMA)
    apps = rows.get(APPLICATIONS_TABLE, pl.DataFrame(schema={APP_NO: pl.Int64, **APPLICATION_SCHEMA}))
    apps = (apps.sort(APP_NO).unique(APP_NO, maintain_order=True)
            .select(pl.col(c).cast(dtype) for c, dtype in APPLICATION_SCHEMA.items()))
    cross = CrossCustomerFrames(apps, from_ipc(unknown_payers))
    ctx = CheckContext(_dataset(tables, layouts), months, cross=cross)
    findings = run_checks(ctx, select_checks(check_names, scope="customer"))
    return pa.Table.from_pylist([_out("findings", to_ipc(findings))], schema=OUTPUT_SCHEMA)
