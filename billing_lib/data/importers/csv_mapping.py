"""Any CSV export through a mapping: ``billing import csv SRC --map MAP.yaml``.

A mapping (YAML, documented in docs/import-mapping.md) says how to read the files (delimiter, encoding,
decimal and thousands separators, date formats), which values to compute from each source row (``fields``),
which rows to leave out and why (``skip``), and which contract table each file feeds: a source column,
constant, template or field per contract column, rows filtered with ``where``, and header tables made by
grouping line rows (``group_by`` with ``sum``/``first``/``min``/``max``/``count``). Sign conventions (a credit
note as a negative invoice) are a ``where`` on the sign and a ``negate``. Every step is a polars expression
over whole columns; money stays decimal.

Three mappings ship with the project (``--map NAME``): ``stripe-payments`` (the Stripe Dashboard payments
export), ``xero-sales-invoices`` (Xero's sales-invoice CSV template) and ``online-retail-invoices`` (the UCI
Online Retail lines as invoices, cancellations as credit notes).
"""
from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import yaml

from billing_lib.core.currency import currency_digits_table
from billing_lib.core.money import DECIMAL, number_text, round_money, to_text
from billing_lib.data.contract import TABLES
from billing_lib.data.importers.base import (
    PLACEHOLDER_COUNTRY,
    ImportResult,
    ImportSourceError,
    RowAccount,
    country_code,
    no_rate_in_force,
    placeholder_contract,
    text_frame,
)

MAPPINGS = Path(__file__).with_name("mappings")
FORMAT = "billing-import-mapping/1"
AGGREGATES = ("first", "sum", "min", "max", "count")
# decimal contract columns that are not money (kept with all their digits, never padded to a currency's)
NOT_MONEY = {"quantity", "tax_rate_pct", "rate_pct", "discount_pct", "up_to", "package_size", "free_units",
             "rate_to_base", "unit_price_override"}
ROW = "__row"


class MappingError(ImportSourceError):
    """The mapping file is missing, not YAML, or names something it cannot do."""


def shipped_mappings() -> dict[str, Path]:
    """The mappings that come with the project, by name."""
    return {p.stem: p for p in sorted(MAPPINGS.glob("*.yaml"))}


def load_mapping(spec: str | Path) -> tuple[dict, Path]:
    """A mapping by path, or by the name of a shipped one; MappingError naming the problem."""
    path = Path(spec)
    if not path.is_file():
        path = shipped_mappings().get(str(spec), path)
    if not path.is_file():
        names = ", ".join(shipped_mappings())
        raise MappingError(f"mapping {str(spec)!r} is neither a file nor a shipped mapping ({names})")
    try:
        mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: not a readable YAML mapping ({str(exc).splitlines()[0]})") from None
    if not isinstance(mapping, dict) or mapping.get("format") != FORMAT:
        raise MappingError(f"{path}: not a mapping (the file must start with 'format: {FORMAT}')")
    tables = mapping.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise MappingError(f"{path}: 'tables' must name at least one contract table")
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise MappingError(f"{path}: {', '.join(unknown)} is not a table of the data contract "
                           f"({', '.join(TABLES)})")
    return mapping, path


def _read(path: Path, options: dict) -> pl.DataFrame:
    if not path.is_file():
        raise ImportSourceError(f"CSV source {str(path)!r} is not a file")
    encoding = str(options.get("encoding", "utf-8")).lower().replace("_", "-")
    try:
        raw = path.read_bytes().decode("utf-8-sig" if encoding in ("utf-8", "utf8") else encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise ImportSourceError(f"{path}: cannot be read as {encoding} ({exc}); set read.encoding in the "
                                "mapping") from None
    try:
        frame = pl.read_csv(raw.encode("utf-8"), separator=str(options.get("delimiter", ",")), infer_schema=False,
                            raise_if_empty=True, truncate_ragged_lines=False)
    except Exception as exc:  # polars raises several kinds for an unreadable CSV
        raise ImportSourceError(f"{path}: cannot be read as CSV: {str(exc).strip().splitlines()[0]}") from None
    frame = frame.rename({c: c.strip() for c in frame.columns})
    return frame.with_row_index(ROW, offset=2)


class _Compiler:
    """Turns the mapping's value and condition specs into polars expressions over one source frame."""

    def __init__(self, frame: pl.DataFrame, options: dict, where: str):
        self.columns = set(frame.columns)
        self.options = options
        self.where = where
        self.fields: dict[str, pl.Expr] = {}

    def _source(self, name: str, optional: bool = False) -> pl.Expr:
        if name in self.fields:
            return self.fields[name]
        if name not in self.columns and optional:
            return pl.lit(None, dtype=pl.String)
        if name not in self.columns:
            raise MappingError(f"{self.where}: no column or field {name!r} (columns: "
                               f"{', '.join(sorted(self.columns - {ROW}))})")
        return pl.col(name).str.strip_chars().replace("", None)

    def value(self, spec: object, what: str) -> pl.Expr:
        """A value spec: a column name (text), or a dict with one source and optional steps."""
        if isinstance(spec, str):
            return self._source(spec)
        if not isinstance(spec, dict):
            return pl.lit(None if spec is None else str(spec)).cast(pl.String) if not isinstance(spec, bool) \
                else pl.lit(spec)
        if "column" in spec:
            expr = self._source(str(spec["column"]), bool(spec.get("optional")))
        elif "field" in spec:
            expr = self._source(str(spec["field"]))
        elif "value" in spec:
            expr = pl.lit(None if spec["value"] is None else str(spec["value"]), dtype=pl.String)
        elif "template" in spec:
            parts = re.split(r"(\{[^}]+\})", str(spec["template"]))
            expr = pl.concat_str([self._source(p[1:-1]).cast(pl.String) if p.startswith("{") else pl.lit(p)
                                  for p in parts if p])
        elif "first_of" in spec:
            expr = pl.coalesce([self.value(s, what) for s in spec["first_of"]])
        elif any(op in spec for op in ("multiply", "add", "subtract")):
            op = next(o for o in ("multiply", "add", "subtract") if o in spec)
            operands = [self.value(s, what).cast(DECIMAL) for s in spec[op]]
            expr = operands[0]
            for other in operands[1:]:
                expr = expr * other if op == "multiply" else expr + other if op == "add" else expr - other
        elif "when" in spec:
            return self.condition(spec["when"], what)
        elif "days_between" in spec:
            start, end = (self.value(s, what).cast(pl.Date) for s in spec["days_between"])
            return (end - start).dt.total_days()
        else:
            raise MappingError(f"{what}: give one of column, field, value, template, first_of, multiply, add, "
                               "subtract, days_between, when")
        return self._steps(expr, spec, what)

    def _steps(self, expr: pl.Expr, spec: dict, what: str) -> pl.Expr:
        if spec.get("extract"):
            expr = expr.cast(pl.String).str.extract(str(spec["extract"]), 1)
        if spec.get("upper"):
            expr = expr.str.to_uppercase()
        if spec.get("lower"):
            expr = expr.str.to_lowercase()
        if isinstance(spec.get("map"), dict):
            table = {str(k): None if v is None else str(v) for k, v in spec["map"].items()}
            expr = expr.cast(pl.String).replace(table)
        kind = spec.get("type")
        if kind == "decimal":
            expr = self._decimal(expr.cast(pl.String), spec)
        elif kind in ("date", "timestamp"):
            expr = self._date(expr.cast(pl.String), spec, what, kind)
        elif kind == "country":
            expr = expr.cast(pl.String).map_elements(lambda v: country_code(v) or PLACEHOLDER_COUNTRY,
                                                     return_dtype=pl.String, skip_nulls=True) \
                .fill_null(PLACEHOLDER_COUNTRY)
        elif kind not in (None, "text"):
            raise MappingError(f"{what}: type {kind!r} is not text, decimal, date, timestamp or country")
        if spec.get("month_start"):
            expr = expr.dt.month_start()
        if spec.get("month_end"):
            expr = expr.dt.month_end()
        if spec.get("scale"):
            expr = expr.cast(DECIMAL) * pl.lit(10, dtype=pl.Float64).pow(int(spec["scale"])).cast(DECIMAL)
        if spec.get("negate"):
            expr = -expr.cast(DECIMAL)
        if spec.get("percent_of") is not None:
            expr = expr.cast(DECIMAL) * self.value(spec["percent_of"], what).cast(DECIMAL) / 100
        if spec.get("round_to_currency") is not None:
            currency = self.value(spec["round_to_currency"], what)
            expr = round_money(expr.cast(DECIMAL), currency)
        if "default" in spec:
            default = pl.lit(str(spec["default"]))
            expr = expr.fill_null(default.cast(DECIMAL) if kind == "decimal" else default)
        return expr

    def _decimal(self, text: pl.Expr, spec: dict) -> pl.Expr:
        decimal = str(spec.get("decimal", self.options.get("decimal", ".")))
        thousands = str(spec.get("thousands", self.options.get("thousands", "")))
        if thousands:
            text = text.str.replace_all(re.escape(thousands), "")
        if decimal != ".":
            text = text.str.replace_all(re.escape(decimal), ".")
        text = text.str.replace_all(r"[^0-9.+\-]", "")
        ok = text.str.contains(r"^[+-]?(\d+\.?\d*|\.\d+)$")
        return pl.when(ok).then(text).cast(DECIMAL, strict=False)

    def _date(self, text: pl.Expr, spec: dict, what: str, kind: str) -> pl.Expr:
        formats = spec.get("formats") or self.options.get("date_formats") or ["%Y-%m-%d"]
        if isinstance(formats, str):
            formats = [formats]
        parsed = [text.str.to_datetime(str(f), strict=False) if any(t in str(f) for t in ("%H", "%M", "%S"))
                  else text.str.to_date(str(f), strict=False).cast(pl.Datetime) for f in formats]
        value = pl.coalesce(parsed)
        return value.dt.date() if kind == "date" else value

    def condition(self, spec: object, what: str) -> pl.Expr:
        """A condition: {column|field: X, is|in|matches|below|above|not_in: ...}; a list means all of them."""
        if isinstance(spec, list):
            out = pl.lit(True)
            for part in spec:
                out = out & self.condition(part, what)
            return out
        if not isinstance(spec, dict):
            raise MappingError(f"{what}: a condition is a mapping such as {{column: Status, is: Paid}}")
        if "not" in spec:
            return ~self.condition(spec["not"], what)
        if "any" in spec:
            out = pl.lit(False)
            for part in spec["any"]:
                out = out | self.condition(part, what)
            return out
        subject = self.value({k: v for k, v in spec.items() if k in ("column", "field", "type", "formats")}, what)
        if "is" in spec:
            wanted = spec["is"]
            if wanted is None:
                return subject.is_null()
            if isinstance(wanted, bool):
                return (subject.cast(pl.String).str.to_lowercase() == str(wanted).lower()).fill_null(False)
            return (subject.cast(pl.String) == str(wanted)).fill_null(False)
        if "in" in spec:
            return subject.cast(pl.String).is_in([str(v) for v in spec["in"]]).fill_null(False)
        if "matches" in spec:
            return subject.cast(pl.String).str.contains(str(spec["matches"])).fill_null(False)
        if "below" in spec:
            return (subject.cast(DECIMAL) < pl.lit(str(spec["below"])).cast(DECIMAL)).fill_null(False)
        if "above" in spec:
            return (subject.cast(DECIMAL) > pl.lit(str(spec["above"])).cast(DECIMAL)).fill_null(False)
        raise MappingError(f"{what}: a condition needs is, in, matches, below, above, not or any")


def _money_text(expr: pl.Expr, currency: pl.Expr) -> pl.Expr:
    """Decimal text with the currency's digits when that loses nothing, else every digit it has."""
    value = expr.cast(DECIMAL)
    known = currency.is_in(list(currency_digits_table()))
    return pl.when(known & (round_money(value, currency) == value)).then(to_text(value, currency)) \
        .otherwise(number_text(value))


def _table(frame: pl.DataFrame, comp: _Compiler, name: str, spec: dict, where: str) -> pl.DataFrame:
    """One contract table from the (kept) source rows: its columns, grouped when ``group_by`` says so."""
    columns = spec.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise MappingError(f"{where}: 'columns' must map contract columns to source values")
    contract = TABLES[name]
    exprs, aggregates, numbered = {}, {}, {}
    for column, value in columns.items():
        what = f"{where}, column {column}"
        if isinstance(value, dict) and "number_within" in value:
            numbered[column] = value["number_within"]
            continue
        exprs[column] = comp.value(value, what)
        agg = value.get("aggregate", "first") if isinstance(value, dict) else "first"
        if agg not in AGGREGATES:
            raise MappingError(f"{what}: aggregate {agg!r} is not one of {', '.join(AGGREGATES)}")
        aggregates[column] = agg
    rows = frame.select(ROW, **exprs)
    for column, within in numbered.items():
        rows = rows.with_columns(pl.int_range(1, pl.len() + 1).over(within).alias(column))
    group = spec.get("group_by")
    if group:
        keys = [group] if isinstance(group, str) else list(group)
        missing = [k for k in keys if k not in rows.columns]
        if missing:
            raise MappingError(f"{where}: group_by {', '.join(missing)} is not one of its columns")
        agg = {"sum": lambda c: pl.col(c).cast(DECIMAL).sum(), "first": lambda c: pl.col(c).drop_nulls().first(),
               "min": lambda c: pl.col(c).min(), "max": lambda c: pl.col(c).max(), "count": lambda c: pl.len()}
        rows = (rows.sort(ROW).group_by(keys, maintain_order=True)
                .agg([agg[aggregates[c]](c).alias(c) for c in rows.columns if c not in keys and c != ROW]))
    kinds = {c.name: c.kind for c in contract.columns}
    currency = pl.col("currency") if "currency" in rows.columns else None
    out = []
    for column in rows.columns:
        if column == ROW:
            continue
        col = pl.col(column)
        dtype = rows.schema[column]
        if kinds.get(column) == "decimal" and column not in NOT_MONEY and currency is not None \
                and dtype != pl.String:
            out.append(_money_text(col, currency).alias(column))
        elif dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime):
            fmt = "%Y-%m-%dT%H:%M:%SZ" if kinds.get(column) == "timestamp" else "%Y-%m-%d"
            out.append(col.dt.strftime(fmt).alias(column))
        elif dtype == pl.Boolean:
            out.append(col.cast(pl.String).str.to_lowercase().alias(column))
        elif isinstance(dtype, pl.Decimal) or dtype.is_numeric():
            out.append(number_text(col.cast(DECIMAL)).alias(column))
        else:
            out.append(col.cast(pl.String).alias(column))
    text = rows.select(out)
    names = contract.names
    text = text.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in names if c not in text.columns)
    return text.select([*names, *[c for c in text.columns if c not in names]])


def import_csv(src: str | Path, mapping: str | Path) -> ImportResult:
    """Map CSV files (one file, or a folder) to contract tables through a mapping (see the module docstring)."""
    spec, map_path = load_mapping(mapping)
    src = Path(src)
    account = RowAccount()
    notes = [f"mapping {map_path.name}: {' '.join(str(spec.get('description', '')).split())}".rstrip(": ")]
    by_file: dict[str, list[str]] = {}
    for name, table in spec["tables"].items():
        by_file.setdefault(str((table or {}).get("file", "")), []).append(name)
    tables: dict[str, pl.DataFrame] = {}
    for file_name, names in by_file.items():
        if src.is_dir() and not file_name:
            raise MappingError(f"{map_path}: SRC is a folder, so tables {', '.join(names)} need a 'file'")
        path = src / file_name if src.is_dir() else src
        for name, built in _map_file(path, names, spec, map_path.name, account).items():
            tables[name] = pl.concat([tables[name], built], how="diagonal") if name in tables else built
    return account.result(str(src), _complete(tables, notes), notes)


def _map_file(path: Path, names: list[str], spec: dict, map_name: str, account: RowAccount) -> dict:
    """The tables one source file feeds, with each of its rows counted as mapped or skipped."""
    options = spec.get("read") or {}
    frame = _read(path, options)
    account.read(path.name, frame.height)
    comp = _Compiler(frame, options, map_name)
    for field, value in (spec.get("fields") or {}).items():
        comp.fields[field] = comp.value(value, f"{map_name}, field {field}")
    reason = pl.lit(None, dtype=pl.String)
    for rule in reversed(spec.get("skip") or []):
        reason = pl.when(comp.condition(rule.get("when"), f"{map_name}, skip")).then(
            pl.lit(str(rule.get("reason", "left out by the mapping")))).otherwise(reason)
    grouped = {n for n in names if spec["tables"][n].get("group_by")}
    ordered = [n for n in names if n not in grouped] + [n for n in names if n in grouped]
    takes = {n: comp.condition(spec["tables"][n]["where"], f"{map_name}, {n}.where")
             if spec["tables"][n].get("where") else pl.lit(True) for n in ordered}
    destination = pl.lit(None, dtype=pl.String)
    for name in reversed(ordered):
        destination = pl.when(takes[name]).then(pl.lit(name)).otherwise(destination)
    frame = frame.with_columns([t.alias(f"__takes_{n}") for n, t in takes.items()]).with_columns(
        __skip=pl.coalesce(reason, pl.when(destination.is_null()).then(pl.lit("no table of the mapping takes it"))),
        __dest=destination)
    for name in ordered:   # a row whose own table would miss a required value is left out, with the column
        if name in grouped:
            continue
        kept = frame.filter(pl.col("__skip").is_null() & (pl.col("__dest") == name))
        built = _table(kept, comp, name, spec["tables"][name], f"{map_name}, table {name}")
        for column in (c.name for c in TABLES[name].columns if c.filled):
            bad = kept.filter(built[column].is_null()) if column in built.columns else kept.head(0)
            if bad.height:
                frame = frame.with_columns(__skip=pl.when(pl.col(ROW).is_in(bad[ROW].implode()) & pl.col("__skip")
                                                          .is_null()).then(pl.lit(f"{name}.{column} empty or not "
                                                                                  "readable"))
                                           .otherwise(pl.col("__skip")))
    kept = frame.filter(pl.col("__skip").is_null())
    out = {name: _table(kept.filter(pl.col(f"__takes_{name}")), comp, name, spec["tables"][name],
                        f"{map_name}, table {name}") for name in ordered}
    for row in frame.group_by("__skip", "__dest").len().iter_rows(named=True):
        if row["__skip"] is not None:
            account.skip(path.name, row["__skip"], row["len"])
        else:
            account.map(path.name, row["__dest"], row["len"])
    return out


def _complete(tables: dict[str, pl.DataFrame], notes: list[str]) -> dict[str, pl.DataFrame]:
    """Add what the contract requires and the mapping did not give: customers named by the documents,
    a placeholder plan and subscription, and a tax table with no rate in force."""
    docs = [t for t in ("invoices", "payments") if t in tables]
    if "customers" not in tables:
        named = pl.concat([tables[t].select("customer_id", "currency") for t in docs]) if docs else None
        if named is None or named.height == 0:
            raise ImportSourceError("the mapping gives no customers, invoices or payments, so the dataset would "
                                    "have no customer")
        first = named.drop_nulls().group_by("customer_id", maintain_order=True).first()
        tables["customers"] = text_frame([{"customer_id": r["customer_id"], "country": PLACEHOLDER_COUNTRY,
                                           "currency": r["currency"], "payment_terms_days": "0",
                                           "tax_exempt": "false"} for r in first.iter_rows(named=True)], "customers")
        notes.append("customers come from the documents (the mapping gives no customers table): country ZZ, "
                     "terms 0")
    dates = [d for t, c in (("invoices", "issue_date"), ("payments", "received_date")) if t in tables
             for d in tables[t][c].drop_nulls().to_list()]
    customers = tables["customers"]
    if "subscriptions" not in tables:
        placeholder = placeholder_contract(customers, min(dates) if dates else "1970-01-01",
                                           customers["currency"].drop_nulls()[0])
        tables["subscriptions"] = placeholder["subscriptions"]
        tables["plans"] = pl.concat([tables["plans"], placeholder["plans"]], how="diagonal") \
            if "plans" in tables else placeholder["plans"]
    if "tax_rates" not in tables:
        tables["tax_rates"] = no_rate_in_force("the mapping gives no tax rates: no rate is in force, so tax rates "
                                               "are not judged")
    return tables
