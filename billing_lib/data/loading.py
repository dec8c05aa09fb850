"""Read a billing dataset folder into typed polars frames, reporting every contract problem.

``load_dataset(folder)`` finds each table as CSV, Parquet or Excel, reads it as
text, checks every value against :mod:`billing_lib.data.contract`, and returns a
:class:`~billing_lib.data.dataset.Dataset` of typed frames. When anything is wrong it
raises one :class:`~billing_lib.errors.DatasetError` listing all problems with
file, row and column.
"""
from __future__ import annotations

import codecs
import csv
from collections.abc import Callable
from pathlib import Path

import polars as pl

from billing_lib.core.currency import currency_digits_table
from billing_lib.core.money import DECIMAL
from billing_lib.data.contract import (
    BOOLEAN_TEXT,
    FILE_SUFFIXES,
    TABLES,
    ZERO_WHEN_EMPTY,
    Column,
    TableSpec,
    country_codes,
)
from billing_lib.data.dataset import ROW, Dataset
from billing_lib.data.redact import redact as redact_dataset
from billing_lib.data.semantics import reference_problems
from billing_lib.data.source_rows import MAX_PROBLEMS_PER_COLUMN, first_row_number, merged_problems
from billing_lib.data.spill import spill_table
from billing_lib.data.value_size import oversized_value
from billing_lib.errors import DatasetError, ParameterError, Problem

# a CSV table larger than this is read and validated in parts of PART_ROWS records when the tables are kept on
# disk (load_dataset(..., spill_to=...)): read whole, 100M usage events as text took 18 GiB
PART_BYTES = 512 << 20
PART_ROWS = 5_000_000

_DECIMAL_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_INT_RE = r"^[+-]?\d+(\.0*)?$"


def find_table_file(folder: Path, table: str) -> Path | None:
    """The file holding ``table`` in ``folder`` (CSV, Parquet or Excel), or None."""
    not_files = [folder / f"{table}{suffix}" for suffix in FILE_SUFFIXES
                 if (folder / f"{table}{suffix}").exists() and not (folder / f"{table}{suffix}").is_file()]
    if not_files:
        raise DatasetError(str(folder), [Problem(str(p), None, None, f"is a folder, not a file: table {table!r} "
                                                                     f"must be one file") for p in not_files])
    found = [folder / f"{table}{suffix}" for suffix in FILE_SUFFIXES if (folder / f"{table}{suffix}").is_file()]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise DatasetError(str(folder), [Problem(str(folder), None, None,
                                                 f"table {table!r} is given twice ({names}); keep one file")])
    return found[0] if found else None


def read_raw(path: Path, spec: TableSpec | None = None) -> pl.DataFrame:
    """Read a table file with every column as text (typed Parquet/Excel columns are turned to text).

    With ``spec``, a Parquet column that already has its contract type (a date, a UTC timestamp, a decimal of
    the contract's scale, ...) stays typed: turning it to text to parse it back would give the same values,
    ten million timestamps later."""
    if path.suffix == ".csv":
        # strict UTF-8: a file that is not fails here, and load_dataset names the row where it stops being UTF-8
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8",
                            raise_if_empty=False, truncate_ragged_lines=False)
    elif path.suffix == ".parquet":
        frame = pl.read_parquet(path)
    else:
        frame = pl.read_excel(path, engine="calamine")
    typed = already_typed(frame, spec) if spec is not None and path.suffix == ".parquet" else ()
    return as_text_frame(frame, keep=typed)


def already_typed(frame: pl.DataFrame, spec: TableSpec) -> tuple[str, ...]:
    """The columns of ``frame`` (not text in the contract) whose type is already the contract's."""
    contract = {c.name: c for c in spec.columns}
    return tuple(name for name, dtype in frame.schema.items()
                 if name in contract and dtype != pl.String and dtype == contract[name].dtype)

def header_name(name: str) -> str:
    """A column name as written in a file's header, without surrounding blanks or a byte-order mark."""
    return name.strip().lstrip("\ufeff")


def as_text_frame(frame: pl.DataFrame, keep: tuple[str, ...] = ()) -> pl.DataFrame:
    """A table as read from its file turned to text: header names as :func:`header_name` gives them, every
    column (but ``keep``) as text, dates and timestamps in ISO 8601 (timestamps in UTC)."""
    frame = frame.rename({c: header_name(c) for c in frame.columns if c not in keep})
    return frame.with_columns(_as_text(frame, c) for c in frame.columns if c not in keep)


def _as_text(frame: pl.DataFrame, name: str) -> pl.Expr:
    dtype = frame.schema[name]
    col = pl.col(name)
    if dtype == pl.Date:
        return col.dt.strftime("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            col = col.dt.convert_time_zone("UTC")
        return col.dt.strftime("%Y-%m-%dT%H:%M:%S%.f")
    if dtype == pl.Boolean:
        return col.cast(pl.String).str.to_lowercase()
    return col.cast(pl.String)


def _value_problems(frame: pl.DataFrame, bad: pl.Expr, column: str, file: str, offset: int, count: int,
                    describe) -> list[Problem]:
    """Problems for the ``count`` rows where ``bad`` holds, one per row up to a limit, then a count."""
    rows = frame.filter(bad).select(ROW, _as_text(frame, column).alias("value")).head(MAX_PROBLEMS_PER_COLUMN)
    out = [Problem(file, r[ROW] + offset, column, describe(r["value"])) for r in rows.iter_rows(named=True)]
    if count > MAX_PROBLEMS_PER_COLUMN:
        out.append(Problem(file, None, column, f"{count - MAX_PROBLEMS_PER_COLUMN} more rows like these"))
    return out


def _rules(col: Column) -> list[tuple[pl.Expr, Callable[[str], str]]]:
    """(mask of bad rows, description of a bad value) for one column; the typed value is ``__t_<name>``."""
    src, val = pl.col(col.name), pl.col(f"__t_{col.name}")
    rules = []
    if col.filled:
        rules.append((src.is_null(), lambda _v: "value is required but empty"))
    rules.append((src.is_not_null() & val.is_null(), _describe_bad(col)))
    if col.non_negative:
        rules.append((val < 0, lambda v: f"{v!r} is negative; it must be 0 or more"))
    if col.percent:
        rules.append(((val < 0) | (val > 100), lambda v: f"{v!r} is not a percentage between 0 and 100"))
    return rules


def _typed(col: Column) -> pl.Expr:
    """Expression turning the (stripped) text column into its contract type; null where invalid."""
    c = pl.col(col.name)
    if col.kind == "date":
        # a typed Parquet/Excel date often arrives as a timestamp at midnight: take its day
        return c.str.replace(r"[T ]00:00(:00(\.0*)?)?$", "").str.to_date("%Y-%m-%d", strict=False)
    if col.kind == "timestamp":
        return parse_timestamp(c)
    if col.kind == "decimal":
        return pl.when(c.str.contains(_DECIMAL_RE)).then(c).cast(DECIMAL, strict=False)
    if col.kind == "int":
        return pl.when(c.str.contains(_INT_RE)).then(c.str.replace(r"\.0*$", "")).cast(pl.Int64, strict=False)
    if col.kind == "bool":
        return c.str.to_lowercase().replace_strict(BOOLEAN_TEXT, default=None, return_dtype=pl.Boolean)
    if col.kind == "currency":
        return pl.when(c.is_in(list(currency_digits_table()))).then(c)
    if col.kind == "country":
        return pl.when(c.is_in(sorted(country_codes()))).then(c)
    if col.kind == "enum":
        return pl.when(c.is_in(list(col.choices))).then(c)
    return c


def _timestamp_readers(text: pl.Expr) -> list[pl.Expr]:
    """The ISO 8601 shapes a timestamp may take, in the order they are tried on the text: first the shapes
    exports write most, picked by their length (``2024-01-04T05:12:41`` naive or with ``Z``, then with an
    offset ``+09:00``): a value of another shape costs polars' parser a slow failure, a length test nothing.
    Then as they stand, with any offset (``+0900``, ``+09``), and naive; then on the text normalized (see
    :func:`_normalized`): with an offset, with an offset and no seconds, naive (UTC), naive without seconds,
    a day alone (midnight UTC)."""
    norm = _normalized(text)
    size = text.str.len_bytes()
    utc_or_naive = pl.when((size == 20) & text.str.ends_with("Z")).then(text.str.slice(0, 19)) \
        .when(size == 19).then(text)
    return [utc_or_naive.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us")
            .dt.replace_time_zone("UTC"),
            pl.when(size == 25).then(text)
            .str.to_datetime("%Y-%m-%dT%H:%M:%S%#z", strict=False, time_zone="UTC", time_unit="us"),
            text.str.to_datetime("%Y-%m-%dT%H:%M:%S%#z", strict=False, time_zone="UTC", time_unit="us"),
            text.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us").dt.replace_time_zone("UTC"),
            norm.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", strict=False, time_zone="UTC", time_unit="us"),
            norm.str.to_datetime("%Y-%m-%d %H:%M%z", strict=False, time_zone="UTC", time_unit="us"),
            norm.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us").dt.replace_time_zone("UTC"),
            norm.str.to_datetime("%Y-%m-%d %H:%M", strict=False, time_unit="us").dt.replace_time_zone("UTC"),
            norm.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")]


def _normalized(text: pl.Expr) -> pl.Expr:
    return text.str.replace("T", " ", literal=True).str.replace(r"[zZ]$", "+00:00")


def parse_timestamp(text: pl.Expr) -> pl.Expr:
    """ISO 8601 text to a UTC datetime; a value without an offset is taken as UTC."""
    return pl.coalesce(_timestamp_readers(text))


def parse_timestamps(text: pl.Series) -> pl.Series:
    """:func:`parse_timestamp` of a whole column, each shape tried only on the values the shapes before it
    could not read (a column of one shape is parsed once, not seven times)."""
    out = pl.Series(text.name, [None] * len(text), dtype=pl.Datetime("us", "UTC"))
    todo = text.is_not_null()
    for reader in _timestamp_readers(pl.col("v")):
        if not todo.any():
            break
        rows = todo.arg_true()
        read = text.filter(todo).to_frame("v").select(reader).to_series()  # (a gather parses twice as slowly)
        done = read.is_not_null()
        out.scatter(rows.filter(done), read.filter(done))
        todo.scatter(rows.filter(done), False)
    return out


_EXPECTED = {
    "date": "a date as YYYY-MM-DD",
    "timestamp": "an ISO 8601 timestamp",
    "decimal": "a decimal number such as 1234.50",
    "int": "a whole number",
    "bool": "true or false",
    "currency": "an ISO 4217 currency code such as EUR",
    "country": "an ISO 3166-1 alpha-2 country code such as DE (ZZ: unknown)",
}


def _describe_bad(col: Column):
    def describe(value: str) -> str:
        if col.kind == "currency":
            return f"{value!r} is not an ISO 4217 currency code (expected e.g. EUR, USD, JPY)"
        if col.kind == "enum":
            return f"{value!r} is not one of {', '.join(col.choices)}"
        return f"{value!r} is not {_EXPECTED.get(col.kind, 'valid')}"
    return describe


def validate_table(spec: TableSpec, raw: pl.DataFrame, file: str, offset: int,
                   check_keys: bool = True) -> tuple[pl.DataFrame, list[Problem]]:
    """Type one raw text table per its spec; return the typed frame and every problem found.

    ``raw`` may carry the record numbers of its rows in the file as ``_row`` (a part of a table, as a
    distributed engine hands it over); else its rows are the file's, in order. ``check_keys=False`` leaves
    duplicate keys to the caller (a part of a table cannot see the duplicates in other parts)."""
    problems: list[Problem] = []
    missing = [c.name for c in spec.columns if c.required and c.name not in raw.columns]
    if missing:
        found = ", ".join(raw.columns) or "none"
        for name in missing:
            problems.append(Problem(file, None, name, f"required column is missing (columns found: {found})"))
        return raw, problems
    if raw.height == 0 and spec.required:
        return raw, [Problem(file, None, None, f"required table {spec.name!r} has no rows")]

    raw = raw.with_columns(pl.col(ROW).cast(pl.UInt32)) if ROW in raw.columns else raw.with_row_index(ROW)
    present = [c for c in spec.columns if c.name in raw.columns]
    typed_in = set(already_typed(raw, spec))  # typed Parquet columns of the contract's type, kept by read_raw
    text = [c for c in present if c.name not in typed_in]
    # text columns keep their characters; everything else is compared without surrounding blanks
    stripped = raw.with_columns(
        pl.col(c.name).str.strip_chars().replace("", None) for c in text if c.kind not in ("text", "id"))
    stripped = stripped.with_columns(pl.col(c.name).replace("", None) for c in text if c.kind == "id")
    both = stripped.with_columns(
        *(pl.col(c.name).alias(f"__t_{c.name}") for c in present if c.name in typed_in),
        *(_typed(c).alias(f"__t_{c.name}") for c in text if c.kind != "timestamp"))
    both = both.with_columns(parse_timestamps(stripped[c.name]).alias(f"__t_{c.name}")
                             for c in text if c.kind == "timestamp")
    rules = [(col, mask, describe) for col in present for mask, describe in _rules(col)]
    # one pass counts every rule's bad rows; only rules that fail go back for their rows
    counts = both.select(mask.sum().alias(str(i)) for i, (_, mask, _) in enumerate(rules)).row(0)
    for (col, mask, describe), count in zip(rules, counts, strict=True):
        if count:
            problems += _value_problems(both, mask, col.name, file, offset, count, describe)
    typed = both.drop([c.name for c in present]).rename({f"__t_{c.name}": c.name for c in present})
    if spec.reference and spec.key and check_keys:
        problems += _duplicate_keys(typed, spec, file, offset)

    # optional columns that are absent become empty columns of their type
    absent = [c for c in spec.columns if c.name not in typed.columns]
    typed = typed.with_columns(pl.lit(None).cast(c.dtype).alias(c.name) for c in absent)
    zero = [c for c in ZERO_WHEN_EMPTY.get(spec.name, ()) if c in typed.columns]
    typed = typed.with_columns(pl.col(c).fill_null(pl.lit(0).cast(DECIMAL)) for c in zero)
    if "tax_exempt" in spec.names:
        typed = typed.with_columns(pl.col("tax_exempt").fill_null(False))
    extra = [c for c in typed.columns if c not in spec.names and c != ROW]
    typed = typed.select([ROW, *spec.names, *extra])
    return typed, problems


def _duplicate_keys(typed: pl.DataFrame, spec: TableSpec, file: str, offset: int) -> list[Problem]:
    keys = list(spec.key)
    # as many distinct hashes as rows proves the keys distinct (equal keys hash alike), at half the cost of
    # comparing the keys (10M usage events: 0.4 s against 0.9 s); the keys are compared only where hashes repeat
    if typed.select(pl.struct(keys).hash().n_unique()).item() == typed.height:
        return []
    if typed.select(pl.struct(keys).is_unique().all()).item():
        return []
    dups = (typed.group_by(keys).agg(pl.col(ROW).sort().alias("rows"), pl.len().alias("n"))
            .filter(pl.col("n") > 1))
    return duplicate_key_problems(dups, keys, file, offset)


def duplicate_key_problems(dups: pl.DataFrame, keys: list[str], file: str, offset: int) -> list[Problem]:
    """Problems for keys found on several rows: ``dups`` has the key columns and ``rows``, the sorted record
    numbers of each key's rows (the first is the original, the second the row reported)."""
    dups = dups.sort(pl.col("rows").list.first())
    out = []
    for rec in dups.head(MAX_PROBLEMS_PER_COLUMN).iter_rows(named=True):
        rows = [r + offset for r in rec["rows"]]
        key_text = ", ".join(f"{k}={rec[k]!s}" for k in keys)
        out.append(Problem(file, rows[1], ", ".join(keys),
                           f"duplicate key ({key_text}) also on row {rows[0]}; keys must be unique"))
    if dups.height > MAX_PROBLEMS_PER_COLUMN:
        out.append(Problem(file, None, ", ".join(keys), f"{dups.height - MAX_PROBLEMS_PER_COLUMN} more duplicate keys"))
    return out


def load_dataset(folder: str | Path, *, check_references: bool = True, redact: bool = False,
                 spill_to: Path | None = None) -> Dataset:
    """Load and validate the billing dataset in ``folder``; raise DatasetError listing every problem.

    ``redact`` masks the customers' names, e-mail addresses and addresses (see :mod:`billing_lib.data.redact`)
    once the data is validated, for reports shared beyond finance. ``spill_to``: a folder where each table,
    once validated, is written as typed Parquet and held as a scan, not in memory (data larger than memory;
    see :mod:`billing_lib.data.spill`)."""
    folder = Path(folder)
    if redact and spill_to is not None:
        raise ParameterError("a redacted dataset is held in memory: load it without spill_to")
    if not folder.is_dir():
        raise ParameterError(f"data folder {str(folder)!r} does not exist or is not a folder")
    problems: list[Problem] = []
    tables: dict[str, pl.DataFrame | pl.LazyFrame] = {}
    files: dict[str, Path] = {}
    counts: dict[str, int] = {}
    for spec in TABLES.values():
        path = find_table_file(folder, spec.name)
        if path is None:
            if spec.required:
                problems.append(Problem(str(folder), None, None,
                                        f"required table {spec.name!r} is missing (looked for "
                                        + ", ".join(f"{spec.name}{s}" for s in FILE_SUFFIXES) + ")"))
            continue
        huge = oversized_value(path) if path.suffix == ".csv" else None
        if huge is not None:  # read no further: parsing it would take many times its size in memory
            problems.append(Problem(str(path), huge.row, huge.column, huge.message))
            continue
        if spill_to is not None and path.suffix == ".csv" and path.stat().st_size > PART_BYTES:
            scan, rows, found = _validated_in_parts(spec, path, spill_to, write=not problems)
            problems += found
            if scan is not None and not problems:
                tables[spec.name], counts[spec.name], files[spec.name] = scan, rows, path
            continue
        try:
            raw = read_raw(path, spec)
        except (Exception, pl.exceptions.PanicException) as exc:  # a file polars cannot parse at all (a damaged
            problems.append(not_utf8_problem(path) or _unreadable(path, exc))  # Parquet file can make it panic)
            continue
        typed, found = validate_table(spec, raw, str(path), first_row_number(path))
        del raw
        problems += found
        if spill_to is not None and not problems:
            counts[spec.name] = typed.height
            typed = spill_table(typed, spill_to, spec.name)
        tables[spec.name] = typed
        files[spec.name] = path
    if problems:
        raise DatasetError(str(folder), problems)
    dataset = Dataset(folder=folder, tables=tables, files=files, counts=counts)
    if check_references:
        problems = reference_problems(dataset)
        if problems:
            raise DatasetError(str(folder), problems)
    return redact_dataset(dataset) if redact else dataset


def _validated_in_parts(spec: TableSpec, path: Path, spill_to: Path,
                        write: bool = True) -> tuple[pl.LazyFrame | None, int, list[Problem]]:
    """A large CSV table read and validated ``PART_ROWS`` records at a time, each part written to ``spill_to``
    (unless ``write`` is false: an earlier table failed): (a scan of the parts, the rows, the problems, as
    a read of the whole file gives them). Keys repeated across parts are found on the written parts."""
    offset, file = first_row_number(path), str(path)
    reader = pl.scan_csv(path, infer_schema=False, encoding="utf8", raise_if_empty=False,
                         truncate_ragged_lines=False)
    problems: list[Problem] = []
    parts: list[pl.LazyFrame] = []
    done = 0
    try:
        for raw in reader.collect_batches(chunk_size=PART_ROWS):
            raw = as_text_frame(raw).with_columns(pl.int_range(done, done + raw.height, dtype=pl.UInt32).alias(ROW))
            typed, found = validate_table(spec, raw, file, offset, check_keys=False)
            problems += found
            done += raw.height
            if write and not problems:
                parts.append(spill_table(typed, spill_to, f"{spec.name}.part{len(parts):05d}"))
    except (Exception, pl.exceptions.PanicException) as exc:
        return None, 0, [not_utf8_problem(path) or _unreadable(path, exc)]
    problems = merged_problems(problems)
    if problems or not parts:
        return None, done, problems
    scan = pl.concat(parts)
    if spec.reference and spec.key:
        problems = _duplicate_keys(scan.select(ROW, *spec.key).collect(), spec, file, offset)
    return scan, done, problems


def not_utf8_problem(path: Path, chunk_size: int = 1 << 20) -> Problem | None:
    """A Problem naming the row (and column) where a CSV stops being UTF-8 text, or None when it is UTF-8."""
    if path.suffix != ".csv":
        return None
    save_as = "save it as UTF-8 (in Excel: Save As, 'CSV UTF-8')"
    with path.open("rb") as fh:
        if fh.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return Problem(str(path), None, None, f"is UTF-16 text, not UTF-8: {save_as}")
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        lines_before = 0
        while True:
            chunk = fh.read(chunk_size)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                row = lines_before + exc.object[:exc.start].count(b"\n") + 1
                message = f"not UTF-8 text (byte 0x{exc.object[exc.start]:02X} is not UTF-8): {save_as}"
                return Problem(str(path), row, _column_at(path, row), message)
            if not chunk:
                return None
            lines_before += chunk.count(b"\n")


def _column_at(path: Path, row: int) -> str | None:
    """The header name of the first value on line ``row`` that is not UTF-8, when the line can be split."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        header = next(csv.reader(fh), [])
        if row == 1:
            return None
        for number, line in enumerate(fh, start=2):
            if number == row:
                values = next(csv.reader([line]), [])
                bad = [i for i, value in enumerate(values) if "\ufffd" in value]
                return header[bad[0]] if bad and bad[0] < len(header) else None
    return None


def _unreadable(path: Path, exc: Exception) -> Problem:
    """Why a file cannot be read; for a CSV, the row at fault when it can be found."""
    message = f"cannot be read: {_first_line(exc)}"
    if path.suffix != ".csv":
        return Problem(str(path), None, None, message)
    row = 0  # the last row read whole (header = row 1)
    try:
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
            reader = csv.reader(fh, strict=True)
            header, row = next(reader, []), 1
            for row, record in enumerate(reader, start=2):
                if len(record) > len(header):
                    return Problem(str(path), row, None, f"cannot be read: {len(record)} values but the header "
                                                         f"names {len(header)} columns")
    except csv.Error as err:  # e.g. a quote that is never closed: the record starting after the last good one
        why = "a quoted value opened here is never closed" if "end of data" in str(err) else str(err)
        return Problem(str(path), row + 1, None, f"cannot be read: {why}")
    return Problem(str(path), None, None, message)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
