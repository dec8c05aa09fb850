"""What every importer returns, and how an import is written as a dataset folder.

An importer reads one foreign source (an API's JSON, a public CSV) and returns
an :class:`ImportResult`: the contract tables as text frames (money as decimal
text, dates as ``YYYY-MM-DD``) and an account of the source rows, each either
mapped to a table or counted as skipped with its reason. ``write_import``
writes the tables atomically, checks that the folder loads under the data
contract, and leaves a ``import_report.json`` beside the tables.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import polars as pl
import pycountry

from billing_lib.core.currency import minor_digits
from billing_lib.core.output import atomic_outputs
from billing_lib.data.contract import FILE_SUFFIXES, TABLES, UNKNOWN_COUNTRY
from billing_lib.data.value_size import oversized_value
from billing_lib.errors import BillingInputError

REPORT_FILE = "import_report.json"
PLACEHOLDER_PLAN = "IMPORTED-NOT-RATED"
PLACEHOLDER_SUBSCRIPTION = "IMPORTED-NOT-RATED"
PLACEHOLDER_COUNTRY = UNKNOWN_COUNTRY  # ISO 3166 user-assigned code, used for "country unknown"


class ImportSourceError(BillingInputError):
    """The source cannot be read or is not in the format the importer expects."""


@dataclass
class ImportResult:
    """Contract tables built from a source, and where every source row went."""

    source: str
    tables: dict[str, pl.DataFrame]
    rows_read: int
    mapped: dict[str, int] = field(default_factory=dict)    # source rows per destination table
    skipped: dict[str, int] = field(default_factory=dict)   # source rows per reason they were left out
    notes: list[str] = field(default_factory=list)          # what the importer assumed or noticed
    # per kind of source row (e.g. "invoices", "invoice lines"): read, mapped per table, skipped per reason
    by_source: dict[str, dict] = field(default_factory=dict)

    @property
    def accounted(self) -> bool:
        """True when every source row is either mapped or counted as skipped, in total and per kind of row."""
        kinds_add_up = all(k["read"] == sum(k["mapped"].values()) + sum(k["skipped"].values())
                           for k in self.by_source.values())
        return kinds_add_up and sum(self.mapped.values()) + sum(self.skipped.values()) == self.rows_read

    def report(self) -> dict:
        """The row accounting as plain data (what ``import_report.json`` holds)."""
        out = {"source": self.source, "rows_read": self.rows_read, "mapped": dict(sorted(self.mapped.items())),
               "skipped": dict(sorted(self.skipped.items())), "accounted": self.accounted,
               "tables": {name: frame.height for name, frame in sorted(self.tables.items())},
               "notes": self.notes}
        if self.by_source:
            out["by_source"] = {kind: {"read": k["read"], "mapped": dict(sorted(k["mapped"].items())),
                                       "skipped": dict(sorted(k["skipped"].items()))}
                                for kind, k in sorted(self.by_source.items())}
        return out

    def summary(self) -> str:
        """One paragraph for the command line."""
        tables = ", ".join(f"{n} {t}" for t, n in self.report()["tables"].items())
        skipped = sum(self.skipped.values())
        why = "; ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return (f"{self.rows_read} source rows: {self.rows_read - skipped} mapped, {skipped} skipped"
                + (f" ({why})" if why else "") + f". Tables: {tables}.")


class RowAccount:
    """Where every source row went, kept while an importer reads: per kind of row (``"invoices"``,
    ``"invoice lines"``...) the rows read, the rows mapped per destination table and the rows skipped per reason.

    Every row is counted once as read and once as mapped or skipped, so the report adds up per kind.
    """

    def __init__(self) -> None:
        self.kinds: dict[str, dict] = {}

    def _kind(self, kind: str) -> dict:
        return self.kinds.setdefault(kind, {"read": 0, "mapped": {}, "skipped": {}})

    def read(self, kind: str, n: int = 1) -> None:
        """``n`` more rows of ``kind`` were read."""
        if n:
            self._kind(kind)["read"] += n

    def map(self, kind: str, table: str, n: int = 1) -> None:
        """``n`` rows of ``kind`` went into ``table``."""
        bucket = self._kind(kind)["mapped"]
        bucket[table] = bucket.get(table, 0) + n

    def skip(self, kind: str, reason: str, n: int = 1) -> None:
        """``n`` rows of ``kind`` were left out, for ``reason``."""
        bucket = self._kind(kind)["skipped"]
        bucket[reason] = bucket.get(reason, 0) + n

    def result(self, source: str, tables: dict[str, pl.DataFrame], notes: list[str]) -> ImportResult:
        """The import's result: totals over every kind (skip reasons prefixed with their kind) and the kinds."""
        mapped: dict[str, int] = {}
        skipped: dict[str, int] = {}
        for kind, k in self.kinds.items():
            for table, n in k["mapped"].items():
                mapped[table] = mapped.get(table, 0) + n
            for reason, n in k["skipped"].items():
                skipped[f"{kind}: {reason}"] = n
        rows = sum(k["read"] for k in self.kinds.values())
        return ImportResult(source, tables, rows, mapped, skipped, notes, by_source=self.kinds)


def read_json(path: Path, what: str) -> object:
    """One JSON file with numbers as ``Decimal`` (never binary floats); ImportSourceError when unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"), parse_float=Decimal)
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportSourceError(f"{path}: cannot be read as {what}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ImportSourceError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None


def source_files(src: str | Path, what: str, suffixes: tuple[str, ...] = (".json",)) -> list[Path]:
    """The files of a source: the file itself, or the files of a folder with these suffixes, in name order."""
    src = Path(src)
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            raise ImportSourceError(f"{what} source folder {str(src)!r} holds no {' or '.join(suffixes)} file")
        return files
    if src.is_file():
        return [src]
    raise ImportSourceError(f"{what} source {str(src)!r} does not exist (give a file or a folder of them)")


def decimal_value(value: object) -> Decimal | None:
    """A JSON number or numeric text as an exact Decimal; None when empty or not a finite number."""
    if value is None or isinstance(value, bool) or isinstance(value, float):
        return None
    try:
        out = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() else None


def decimal_text(value: Decimal) -> str:
    """A quantity, rate or price as plain text without an exponent or trailing zeros ("2.5", "19", "0.005")."""
    return f"{value.normalize():f}" if value != 0 else "0"


def money_text(value: Decimal, currency: str) -> str:
    """An amount as decimal text with the currency's digits ("12.50"); digits beyond them are kept where they are
    not zeros (a unit price of 0.005 EUR), never rounded."""
    digits = minor_digits(currency)
    value = value.normalize() if value != 0 else Decimal(0)
    if -value.as_tuple().exponent < digits:  # type: ignore[operator]
        value = value.quantize(Decimal(1).scaleb(-digits))
    return f"{value:f}"


def minor_to_text(value: object, currency: str) -> str:
    """Minor units, whole or finer (Stripe's ``unit_amount_decimal`` "0.5"), as major units, exactly ("0.005")."""
    amount = decimal_value(value)
    if amount is None:
        raise ValueError(f"{value!r} is not a number of minor units")
    return money_text(amount.scaleb(-minor_digits(currency)), currency)


def unix_day(seconds: object) -> str | None:
    """The UTC date of a Unix timestamp (seconds), or None when it is not one."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, Decimal, str)):
        return None
    try:
        return dt.datetime.fromtimestamp(int(Decimal(str(seconds))), dt.UTC).date().isoformat()
    except (InvalidOperation, ValueError, OverflowError, OSError):
        return None


def unix_last_day(end: object, start: object = None) -> str | None:
    """The last day of a span whose end instant is exclusive (Stripe's ``period.end``, ``ended_at``).

    Stripe anchors a period's end at the time of day its start has (1 June 02:46 to 1 July 02:46 serves
    1-30 June): an end at or before the start's time of day closes on the day before; an end later in its
    day (23:59:59) closes on its own day. An empty span is its start day.
    """
    try:
        stop = int(Decimal(str(end)))
        begin = int(Decimal(str(start))) if start is not None and not isinstance(start, bool) else None
    except (InvalidOperation, ValueError):
        return None
    if isinstance(end, bool) or unix_day(stop) is None:
        return None
    if begin is not None and stop <= begin:
        return unix_day(begin)
    start_time = begin % 86400 if begin is not None else 0
    day = dt.date.fromisoformat(unix_day(stop))  # type: ignore[arg-type]
    if stop % 86400 <= start_time:
        day -= dt.timedelta(days=1)
    return day.isoformat()


def most_common(values: list, default: object = None) -> object:
    """The most frequent value (ties: the smallest), or ``default`` for no values."""
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return default
    top = max(counts.values())
    return min(v for v, n in counts.items() if n == top)


def implied_rate(pairs: list[tuple[Decimal, Decimal, bool]], currency: str) -> Decimal | None:
    """The simplest tax percentage (fewest decimals, at most 4) under which every (base, tax, inclusive) gives
    its tax when rounded to the currency: base is the net amount, or the gross one when ``inclusive``.

    For sources that show a line's tax but not its rate (a Xero tax type without its TaxRates, a Stripe tax
    rate not in the export). None when no base is non-zero or no such rate exists.
    """
    half = Decimal(1).scaleb(-minor_digits(currency)) / 2
    lo, hi = Decimal(0), Decimal(100)
    for base, tax, inclusive in pairs:
        if base == 0:
            continue
        if base < 0:
            base, tax = -base, -tax
        if inclusive:
            low = 100 * (tax - half) / (base - tax + half) if base - tax + half > 0 else Decimal(0)
            high = 100 * (tax + half) / (base - tax - half) if base - tax - half > 0 else Decimal(100)
        else:
            low, high = 100 * (tax - half) / base, 100 * (tax + half) / base
        lo, hi = max(lo, low), min(hi, high)
    if lo > hi or all(b == 0 for b, _t, _i in pairs):
        return None
    for places in range(5):
        step = Decimal(1).scaleb(-places)
        candidate = max((lo / step).to_integral_value(rounding=ROUND_CEILING) * step, Decimal(0))
        while candidate <= hi and candidate - lo <= 2 * step:
            if all(_tax_of(b, candidate, i, currency) == t for b, t, i in pairs):
                return candidate.normalize() if candidate else Decimal(0)
            candidate += step
    return None


def _tax_of(base: Decimal, rate: Decimal, inclusive: bool, currency: str) -> Decimal:
    exact = base * rate / (100 + rate) if inclusive else base * rate / 100
    return exact.quantize(Decimal(1).scaleb(-minor_digits(currency)), rounding=ROUND_HALF_UP)


COUNTRY_ALIASES = {"UK": "GB", "GREAT BRITAIN": "GB", "ENGLAND": "GB", "SCOTLAND": "GB", "WALES": "GB",
                   "EIRE": "IE", "RUSSIA": "RU", "SOUTH KOREA": "KR", "KOREA": "KR", "VIETNAM": "VN",
                   "TAIWAN": "TW", "RSA": "ZA", "UAE": "AE", "HOLLAND": "NL", "CZECHIA": "CZ"}


def country_code(text: object) -> str | None:
    """An ISO 3166-1 alpha-2 code for a country code or name ("DE", "USA", "New Zealand", "UK"), else None."""
    if not isinstance(text, str) or not text.strip():
        return None
    name = text.strip()
    if name.upper() in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[name.upper()]
    try:
        return pycountry.countries.lookup(name).alpha_2
    except LookupError:
        return None


def read_source_csv(path: str | Path, what: str) -> pl.DataFrame:
    """A source CSV as text columns with clean header names; ImportSourceError naming ``what`` when unusable."""
    path = Path(path)
    if not path.is_file():
        raise ImportSourceError(f"{what} source {str(path)!r} is not a file (give the CSV file)")
    huge = oversized_value(path)
    if huge is not None:
        raise ImportSourceError(f"{path}, row {huge.row}" + (f", column {huge.column!r}" if huge.column else "")
                                + f": {huge.message}")
    try:
        raw = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy", raise_if_empty=True)
    except (Exception, pl.exceptions.PanicException) as exc:  # polars raises several kinds for an unreadable CSV
        reason = str(exc).strip().splitlines()
        raise ImportSourceError(f"{path}: cannot be read as CSV: {reason[0] if reason else type(exc).__name__}") \
            from None
    names = [c.strip().lstrip("\ufeff").strip() for c in raw.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ImportSourceError(f"{path}, row 1: the header names {', '.join(repr(n) for n in twice)} more than "
                                "once (after blanks are trimmed): each column needs its own name")
    return raw.rename(dict(zip(raw.columns, names, strict=True)))


def cents_to_text(cents: object, currency: str) -> str:
    """Integer minor units (Lago's ``*_amount_cents``) as exact decimal text in ``currency`` (100 EUR -> "1.00")."""
    if isinstance(cents, bool) or not isinstance(cents, (int, str, Decimal)):
        raise ValueError(f"{cents!r} is not a whole number of minor units")
    try:
        value = Decimal(str(cents).strip())
    except ArithmeticError:
        raise ValueError(f"{cents!r} is not a whole number of minor units") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"{cents!r} is not a whole number of minor units")
    return f"{value.quantize(Decimal(1)).scaleb(-minor_digits(currency)):f}"


def text_frame(rows: list[dict], table: str, extra: tuple[str, ...] = ()) -> pl.DataFrame:
    """Rows as an all-text frame with the contract's columns of ``table`` (in order) and ``extra`` columns."""
    names = [*TABLES[table].names, *extra]
    data = {n: [None if r.get(n) is None else str(r[n]) for r in rows] for n in names}
    return pl.DataFrame(data, schema={n: pl.String for n in names})


def as_text(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """``frame`` with the contract columns of ``table`` first (missing ones empty), every column as text."""
    names = TABLES[table].names
    extra = [c for c in frame.columns if c not in names]
    frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(n) for n in names if n not in frame.columns)
    return frame.select([pl.col(c).cast(pl.String) for c in [*names, *extra]])


def placeholder_config(customers: pl.DataFrame, start_date: str, currency: str, tax_note: str,
                       rates: dict[str, str] | None = None) -> dict[str, pl.DataFrame]:
    """Minimal plans, subscriptions and tax_rates so an imported folder loads.

    Sources without subscriptions get one plan (priced in ``currency`` and in
    every customer currency) and one subscription that cost nothing (a flat
    plan at 0, one day long): the rating engine expects no charge from them,
    so they add no findings. ``tax_rates`` holds the ``rates`` the source
    states (country -> percent) and rate 0 for the unknown country ZZ; a
    source that states no rates at all (``rates`` None: it shows no tax) gets
    rate 0 for every customer's country, with ``tax_note`` saying so. A country
    left without a row has no known rate: ``tax_mismatch`` reports its lines
    (``tax_rate_missing``) instead of taking 0 %.
    """
    shown_none = {} if rates is not None else {c: "0" for c in customers["country"].drop_nulls().to_list()}
    known = {PLACEHOLDER_COUNTRY: "0", **shown_none, **(rates or {})}
    taxes = text_frame([{"country": c, "valid_from": "1970-01-01", "rate_pct": r,
                         "note": tax_note if c != PLACEHOLDER_COUNTRY else "unknown country: no tax"}
                        for c, r in sorted(known.items())], "tax_rates", extra=("note",))
    return {**placeholder_contract(customers, start_date, currency), "tax_rates": taxes}


def placeholder_contract(customers: pl.DataFrame, start_date: str, currency: str) -> dict[str, pl.DataFrame]:
    """The placeholder plan (in ``currency`` and every customer currency) and a one-day subscription at 0."""
    first_customer = customers["customer_id"].sort()[0]
    currencies = sorted(set(customers["currency"].to_list()) | {currency})
    plans = text_frame([{"plan_id": PLACEHOLDER_PLAN, "currency": cur, "billing": "recurring",
                         "interval": "month", "charge_model": "flat", "unit_price": "0",
                         "product": "placeholder: imported documents are not rated from a contract"}
                        for cur in currencies], "plans")
    subs = text_frame([{"subscription_id": PLACEHOLDER_SUBSCRIPTION, "customer_id": first_customer,
                        "plan_id": PLACEHOLDER_PLAN, "quantity": "1", "start_date": start_date,
                        "end_date": start_date}], "subscriptions")
    return {"plans": plans, "subscriptions": subs}


def no_rate_in_force(note: str) -> pl.DataFrame:
    """A ``tax_rates`` table for a source that states no rate per country: one row for the unknown country
    that is in force on 1 January 1970 only, so no invoice has a known rate and the tax check judges none."""
    return text_frame([{"country": PLACEHOLDER_COUNTRY, "valid_from": "1970-01-01", "valid_to": "1970-01-01",
                        "rate_pct": "0", "note": note}], "tax_rates", extra=("note",))


def write_import(result: ImportResult, out_dir: str | Path) -> list[Path]:
    """Write the tables as CSV and ``import_report.json`` into ``out_dir`` atomically.

    The staged folder is loaded with :func:`billing_lib.data.loading.load_dataset`
    before anything is replaced, so a folder that would not load is never
    written. Contract tables of an earlier run that this import does not hold
    (or holds in another format) are removed afterwards, so the folder is
    exactly the imported dataset.
    """
    from billing_lib.data.loading import load_dataset
    out = Path(out_dir)
    names = []
    with atomic_outputs(out) as stage:
        for name, frame in sorted(result.tables.items()):
            frame.write_csv(stage / f"{name}.csv", line_terminator="\n")
            names.append(f"{name}.csv")
        (stage / REPORT_FILE).write_text(json.dumps(result.report(), indent=2) + "\n", encoding="utf-8")
        load_dataset(stage)
    for name in TABLES:
        for suffix in FILE_SUFFIXES:
            path = out / f"{name}{suffix}"
            if path.name not in names and path.is_file():
                path.unlink()
    return [out / n for n in [*names, REPORT_FILE]]
