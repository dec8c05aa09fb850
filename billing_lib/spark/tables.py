"""The dataset's tables as Spark frames: found by name, read by Spark, each row numbered as in its file.

Columns travel under neutral names (``t<table>_c<column>``) so that the tables can share one Spark frame
without clashes of names or types; each :class:`SparkTable` keeps the header as written, and the workers put
it back. ``_row`` is the record number in the file (0 for the first record after a CSV header), the same
number the local loader gives, so problems name the same rows and the rows keep their order.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING

from billing_lib.data.contract import TABLES
from billing_lib.data.dataset import ROW
from billing_lib.errors import DatasetError, ParameterError, Problem
from billing_lib.spark.tasks import TableLayout, extra_name, neutral_name

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SPARK_SUFFIXES = (".csv", ".parquet", ".xlsx")
# Spark has no Excel reader: a workbook on the driver's own disk is read there (a sheet holds at most
# 1,048,576 rows) and handed to Spark; one anywhere else is refused
EXCEL = ".xlsx"
# a record's number within its Spark partition is the low 33 bits of monotonically_increasing_id
_PARTITION_SHIFT = 33


@dataclass(frozen=True)
class SparkTable(TableLayout):
    """One table of the dataset as Spark reads it: its layout (``offset``: the row number of record 0, 2 for a
    CSV or Excel sheet whose header is row 1, 1 for Parquet), its row count and its Spark frame (``_row`` and
    the columns under neutral names)."""

    rows: int
    frame: DataFrame

    @property
    def layout(self) -> TableLayout:
        """The layout alone, as the workers get it (no Spark frame in what is shipped to them)."""
        return TableLayout(self.name, self.index, self.file, self.offset, self.columns)


def _hadoop_path(spark: SparkSession, path: str):
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path, hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def find_spark_tables(spark: SparkSession, data: str) -> dict[str, tuple[str, str]]:
    """``{table: (path, suffix)}`` for the tables present in ``data`` (any path Spark reads: a folder,
    ``hdfs://``, ``s3a://``). Only names are listed here: the driver reads no table."""
    root, fs = _hadoop_path(spark, data)
    if not fs.exists(root) or not fs.getFileStatus(root).isDirectory():
        raise ParameterError(f"data folder {data!r} does not exist or is not a folder")
    base = data.rstrip("/")
    found: dict[str, tuple[str, str]] = {}
    problems = []
    for spec in TABLES.values():
        present = [s for s in SPARK_SUFFIXES if fs.exists(_hadoop_path(spark, f"{base}/{spec.name}{s}")[0])]
        if EXCEL in present and not _local_file(f"{base}/{spec.name}{EXCEL}"):
            problems.append(Problem(f"{base}/{spec.name}{EXCEL}", None, None, "an Excel table is read on Spark only "
                                    "from the driver's own disk: save the table as CSV or Parquet"))
        elif len(present) > 1:
            problems.append(Problem(base, None, None, f"table {spec.name!r} is given twice "
                                    f"({', '.join(spec.name + s for s in present)}); keep one file"))
        elif present:
            found[spec.name] = (f"{base}/{spec.name}{present[0]}", present[0])
        elif spec.required:
            problems.append(Problem(base, None, None, f"required table {spec.name!r} is missing (looked for "
                                    + ", ".join(f"{spec.name}{s}" for s in SPARK_SUFFIXES) + ")"))
    if problems:
        raise DatasetError(data, problems)
    return found


def read_spark_tables(spark: SparkSession, found: dict[str, tuple[str, str]]) -> dict[str, SparkTable]:
    """Read the tables with Spark (CSV as text, Parquet with its types) and number their records.

    One small job counts the rows of every partition of every table; each record's number is then its
    partition's offset plus its place in the partition (the low bits of ``monotonically_increasing_id``),
    with no shuffle and nothing of a table on the driver. A CSV read is kept (memory, else local disk) by
    that job, so the file is parsed once; Parquet is read again where it is needed, in the same partitions.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    read = {name: _read(spark, name, path, suffix) for name, (path, suffix) in found.items()}
    tagged, counts = {}, []
    for i, (name, (frame, _columns, suffix)) in enumerate(read.items()):
        frame = frame.withColumn("_mid", F.monotonically_increasing_id())
        if suffix == ".csv":
            frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        tagged[name] = frame
        counts.append(frame.groupBy(_partition().alias("p")).agg(F.count(F.lit(1)).alias("n"))
                      .withColumn("t", F.lit(i)))
    per_partition = reduce(lambda a, b: a.unionByName(b), counts).collect() if counts else []
    out = {}
    for i, (name, (_frame, columns, suffix)) in enumerate(read.items()):
        mine = sorted((r["p"], r["n"]) for r in per_partition if r["t"] == i)
        frame, rows = _numbered(tagged[name], mine)
        out[name] = SparkTable(name, list(TABLES).index(name), found[name][0], 1 if suffix == ".parquet" else 2,
                               columns, rows, frame)
    return out


def _read(spark: SparkSession, name: str, path: str, suffix: str) -> tuple[DataFrame, tuple[str, ...], str]:
    """One table as Spark reads it, its columns under neutral names, and its header as written."""
    from pyspark.sql.types import StringType, StructField, StructType
    index = list(TABLES).index(name)
    if suffix == ".csv":
        options = {"header": "true", "multiLine": "true", "escape": '"', "encoding": "UTF-8", "mode": "PERMISSIVE"}
        columns = _csv_header(spark, path)
        # one column more than the header names: a record with more values than that fills it (Spark would
        # drop them silently), and the task reports the record as the local loader does
        schema = StructType([*(StructField(neutral_name(index, i), StringType()) for i in range(len(columns))),
                             StructField(extra_name(index), StringType())])
        return spark.read.options(**options, enforceSchema="true").schema(schema).csv(path), columns, suffix
    if suffix == EXCEL:  # read as the local loader reads it, every column as text
        from billing_lib.data.loading import read_raw
        text = read_raw(_local_file(path))
        columns = tuple(text.columns)
        text = text.rename({c: neutral_name(index, i) for i, c in enumerate(columns)})
        return spark.createDataFrame(text.to_arrow()) if text.width else spark.range(0).drop("id"), columns, suffix
    frame = spark.read.parquet(path)
    columns = tuple(frame.columns)
    return frame.toDF(*(neutral_name(index, i) for i in range(len(columns)))), columns, suffix


def _local_file(path: str) -> Path | None:
    """``path`` as a file of this machine (a plain path or ``file:``), else None."""
    plain = path.removeprefix("file://").removeprefix("file:")
    return Path(plain) if "://" not in plain and Path(plain).is_file() else None


def _csv_header(spark: SparkSession, path: str) -> tuple[str, ...]:
    """The header of a CSV file: its first record, read through Spark's file system (a few bytes; the
    driver reads nothing more of a table)."""
    import csv
    jvm = spark.sparkContext._jvm
    hadoop_path, fs = _hadoop_path(spark, path)
    stream = fs.open(hadoop_path)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        lines = []
        while True:  # a quoted name may hold a line break: read on until the record is whole
            line = reader.readLine()
            if line is None:
                break
            lines.append(line)
            if "\n".join(lines).count('"') % 2 == 0:
                break
    finally:
        stream.close()
    return tuple(next(csv.reader(["\n".join(lines)]), []))


def _partition():
    from pyspark.sql import functions as F
    return F.shiftright(F.col("_mid"), _PARTITION_SHIFT)


def _numbered(tagged: DataFrame, counts: list[tuple[int, int]]) -> tuple[DataFrame, int]:
    """``tagged`` (with ``_mid``) with ``_row``, the record number in scan order (consecutive from 0), from
    the row count of each partition; and the table's row count."""
    from pyspark.sql import functions as F
    offsets, total = {}, 0
    for partition, n in counts:
        offsets[partition] = total
        total += n
    if not offsets:
        return tagged.withColumn(ROW, F.lit(0).cast("long")).drop("_mid").limit(0), 0
    starts = F.create_map(*[x for p, start in offsets.items() for x in (F.lit(p), F.lit(start))])
    row = starts[_partition()] + F.col("_mid").bitwiseAND(F.lit((1 << _PARTITION_SHIFT) - 1))
    return tagged.withColumn(ROW, row.cast("long")).drop("_mid"), total
