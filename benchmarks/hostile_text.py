"""Make a large dataset's text hostile, in three formats, for the large-data regression runs of `billing verify`.

Takes a dataset (for example `billing synth --seed 42 --customers 63000 --months 12 --usage-events 16.3`,
about 1M invoice lines) and writes it again with every free-text column made hard: customer names of a few
hundred characters over several lines, with quotes, semicolons and non-Latin scripts (Japanese, Cyrillic,
Arabic, Devanagari, Greek, Hebrew, Korean); the same in plan products, line descriptions, payment references
(the invoice numbers they name are kept, and no digit is added) and credit-note reasons. Ids, amounts, dates
and currencies (JPY with 0 minor digits, KWD with 3) are unchanged, so the findings must be exactly those
of the source dataset: `ground_truth.csv` is copied along.

    python benchmarks/hostile_text.py SRC OUT

writes OUT/csv (CSV), OUT/parquet-text (Parquet, every column as text) and OUT/parquet-typed (Parquet, the
contract's types, as `load_dataset` reads them). Big tables are streamed (`scan_csv`/`sink_parquet`).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import polars as pl

SCRIPTS = [
    "株式会社サンプル商事 経理部", "Общество с ограниченной ответственностью «Пример»", "شركة المثال للتجارة العامة",
    "उदाहरण प्राइवेट लिमिटेड", "Ελληνική Εταιρεία Παραδειγμάτων Α.Ε.", 'דוגמה בע"מ – הנהלת חשבונות',
    "주식회사 예시 회계팀", 'Müller & Söhne "Die Guten" GmbH', "O'Brien; \"Smith\", Jones & Partners",
]
FILLER = "Abteilung Rechnungswesen, z. Hd. Frau Dr. Überall-Ärger; Kostenstelle «Vertrieb Süd» "


def _pick(n: int, offset: int) -> list[str]:
    return [SCRIPTS[(i + offset) % len(SCRIPTS)] for i in range(n)]


def _hostile_names(n: int) -> pl.Series:
    """Long (about 300 characters), multi-line names with quotes and several scripts."""
    return pl.Series([f'{a} "{b}"\n{FILLER * 2}\r\n{c}; {a}' for a, b, c in zip(_pick(n, 0), _pick(n, 3), _pick(n, 5),
                                                                                 strict=True)])


def _around(column: str, offset: int) -> pl.Expr:
    """The column's text kept, with hostile text around it on further lines (no digits added), chosen by the
    text itself: two rows with the same text (a payment recorded twice) keep the same text."""
    pick = (pl.col(column).fill_null("").str.len_bytes() + offset) % len(SCRIPTS)
    before = pick.replace_strict(dict(enumerate(SCRIPTS)), return_dtype=pl.String)
    after = ((pick + 4) % len(SCRIPTS)).replace_strict({i: f'"{s}"\n{FILLER}' for i, s in enumerate(SCRIPTS)},
                                                       return_dtype=pl.String)
    return pl.concat_str([before, pl.lit(" — "), pl.col(column).fill_null(""), pl.lit("\n"), after])


def hostile_csv(src: Path, out: Path) -> None:
    """Write the dataset in ``src`` (CSV) to ``out`` (CSV) with its free text made hostile."""
    out.mkdir(parents=True, exist_ok=True)
    text = {"customers": ("name", _hostile_names), "plans": ("product", None), "invoice_lines": ("description", None),
            "payments": ("reference", None), "credit_notes": ("reason", None)}
    for path in sorted(src.glob("*.csv")):
        name = path.stem
        if name not in text:
            shutil.copyfile(path, out / path.name)  # ids, amounts and dates only (usage, ledger, ...)
            continue
        frame = pl.read_csv(path, infer_schema=False)
        column, maker = text[name]
        n = frame.height
        value = pl.lit(maker(n)) if maker else _around(column, offset=len(name))
        frame.with_columns(value.alias(column)).write_csv(out / path.name, line_terminator="\n")
        print(f"{name}: {n:,} rows, {column} made hostile", flush=True)


def text_parquet(csv_dir: Path, out: Path) -> None:
    """Every table as Parquet with every column as text (streamed)."""
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(csv_dir.glob("*.csv")):
        if path.stem == "ground_truth":
            shutil.copyfile(path, out / path.name)
            continue
        pl.scan_csv(path, infer_schema=False).sink_parquet(out / f"{path.stem}.parquet")
        print(f"{path.stem}: text Parquet", flush=True)


def typed_parquet(csv_dir: Path, out: Path) -> None:
    """Every table as Parquet with the contract's types, as the loader reads them."""
    from billing_lib.data.loading import load_dataset
    out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(csv_dir)
    for name, frame in ds.tables.items():
        frame.drop("_row").write_parquet(out / f"{name}.parquet")
        print(f"{name}: typed Parquet", flush=True)
    shutil.copyfile(csv_dir / "ground_truth.csv", out / "ground_truth.csv")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, out = Path(argv[0]), Path(argv[1])
    hostile_csv(src, out / "csv")
    text_parquet(out / "csv", out / "parquet-text")
    typed_parquet(out / "csv", out / "parquet-typed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
