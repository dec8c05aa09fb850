"""``billing generate``: the month's invoices rated from contracts, usage and the price book.

The invoices come from the same rating engine the checks compare against, so
generating a period and verifying it gives no findings. Numbers continue the
dataset's invoice sequence without gaps; each invoice also gets an HTML
document rendered from a template with every value from the data escaped, and
a PDF of it (:mod:`billing_lib.invoicing.documents`, :mod:`billing_lib.invoicing.pdf`), drawn on every
core (:mod:`billing_lib.invoicing.rendering`).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from billing_lib.core.money import to_text
from billing_lib.core.numbering import number_parts, number_text
from billing_lib.core.output import atomic_outputs
from billing_lib.core.periods import period_name
from billing_lib.data.dataset import Dataset
from billing_lib.data.table_text import invoices_text, lines_text
from billing_lib.engine.rating import expected_charges
from billing_lib.errors import DatasetError, ParameterError, Problem
from billing_lib.invoicing.assemble import build_invoices, header_sums
from billing_lib.invoicing.documents import InvoiceDocument, render_html
from billing_lib.invoicing.documents import invoice_documents as documents_of
from billing_lib.invoicing.rendering import draw_pdfs

DEFAULT_PREFIX, DEFAULT_WIDTH = "INV-", 7
_SAFE_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Numbering:
    """Where the dataset's invoice sequence stands: its prefix, digit count and last number."""

    prefix: str
    width: int
    last: int

    def text(self, number: pl.Expr) -> pl.Expr:
        return number_text(self.prefix, number, self.width)


@dataclass(frozen=True)
class GeneratedInvoices:
    """Typed invoice headers and lines of one generated period."""

    period: dt.date
    headers: pl.DataFrame
    lines: pl.DataFrame


def current_numbering(ds: Dataset) -> Numbering:
    """The sequence to continue: the most used prefix among existing invoices and its highest number."""
    ids = ds.frame("invoices").select(**number_parts(pl.col("invoice_id"))).drop_nulls().collect()
    if ids.is_empty():
        return Numbering(DEFAULT_PREFIX, DEFAULT_WIDTH, 0)
    prefix = ids.group_by("prefix").len().sort(["len", "prefix"], descending=[True, False])["prefix"][0]
    mine = ids.filter(pl.col("prefix") == prefix)
    return Numbering(prefix, int(mine["digits"].str.len_chars().max()), int(mine["number"].max()))


def generate_period(ds: Dataset, period: dt.date) -> GeneratedInvoices:
    """Rate ``period`` and turn every non-zero charge into invoice lines, one invoice per customer.

    A charge of a customer whose country has no tax rate in force on the issue date is not rated at 0 %:
    DatasetError naming each such customer and country, nothing generated."""
    charges = expected_charges(ds, [period]).filter(pl.col("amount") != 0).collect()
    refuse_unknown_tax(ds, charges)
    invoices = build_invoices(charges, None)
    numbering = current_numbering(ds)
    headers = header_sums(invoices.lines, invoices.headers).with_columns(
        number=pl.col("inv") + numbering.last).with_columns(
        invoice_id=numbering.text(pl.col("number")),
        status=pl.when(pl.col("total") <= 0).then(pl.lit("paid")).otherwise(pl.lit("open")))
    lines = invoices.lines.join(
        headers.select("inv", "number", "invoice_id", pl.col("currency").alias("invoice_currency")), on="inv")
    return GeneratedInvoices(period, headers, lines)


def refuse_unknown_tax(ds: Dataset, charges: pl.DataFrame) -> None:
    """DatasetError when a charge's customer (not tax exempt) has no rate of its country in force on the
    issue date: one problem per customer and country, pointing at the tax_rates file."""
    unknown = charges.filter(~pl.col("tax_rate_known"))
    if unknown.is_empty():
        return
    customers = ds.frame("customers").select("customer_id", "country", "name").collect()
    unknown = (unknown.join(customers, on="customer_id", how="left")
               .group_by("customer_id", "name", "country", "issue_date").len()
               .sort("customer_id", "country", "issue_date"))
    where = str(ds.files.get("tax_rates", ds.folder / "tax_rates.csv"))
    raise DatasetError(str(ds.folder), [
        Problem(where, None, "country",
                f"no tax rate of {r['country']} is in force on {r['issue_date']:%Y-%m-%d}, so the "
                f"{r['len']} charge(s) of customer {r['customer_id']} ({r['name'] or 'no name'}) "
                f"cannot be rated: add the rate of {r['country']} (rate_pct 0 where no tax is due), or mark the "
                "customer tax_exempt; nothing was generated")
        for r in unknown.iter_rows(named=True)])


def invoice_documents(gen: GeneratedInvoices, ds: Dataset) -> dict[str, InvoiceDocument]:
    """The document of each generated invoice, keyed by invoice_id (see :mod:`billing_lib.invoicing.documents`)."""
    return documents_of(gen.headers, gen.lines, ds)


def document_name(invoice_id: str, suffix: str = ".html") -> str:
    """The file name of an invoice's document; ParameterError for an id that is no safe file name
    (the numbering prefix comes from the data: ``../`` must not lead out of the output folder)."""
    if not _SAFE_FILE_NAME.match(invoice_id):
        raise ParameterError(f"invoice number {invoice_id!r} cannot name a document file; the dataset's "
                             "invoice numbers should be letters, digits, '.', '_' or '-' (e.g. INV-0000123)")
    return f"{invoice_id}{suffix}"


DocumentsDone = Callable[[int, int], None]


def documents_told(say: Callable[[str], None]) -> DocumentsDone:
    """A :data:`DocumentsDone` callback passing ``say`` a line every hundred documents and at the end."""
    def told(done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            say(f"{done}/{total} invoice documents written")
    return told


def write_generated(gen: GeneratedInvoices, ds: Dataset, out: str | Path, progress: DocumentsDone | None = None,
                    workers: int | None = None) -> list[Path]:
    """Write invoices.csv, invoice_lines.csv and documents/<invoice_id>.html and .pdf atomically into ``out``.

    The PDFs are drawn by ``workers`` processes (default: one per usable core; the bytes do not depend on
    it). ``progress`` (optional) is told how many documents are done, of how many, after each one.
    """
    out = Path(out)
    docs = invoice_documents(gen, ds)
    names = {invoice_id: document_name(invoice_id) for invoice_id in docs}  # refuses unsafe ids first
    written = [out / "invoices.csv", out / "invoice_lines.csv"]
    ordered = sorted(docs)
    with atomic_outputs(out) as stage:
        invoices_text(gen.headers).write_csv(stage / "invoices.csv", line_terminator="\n")
        lines_text(gen.lines).write_csv(stage / "invoice_lines.csv", line_terminator="\n")
        (stage / "documents").mkdir()
        pdfs = draw_pdfs([docs[invoice_id] for invoice_id in ordered], workers)
        for done, (invoice_id, pdf) in enumerate(zip(ordered, pdfs, strict=True), 1):
            html_name, pdf_name = names[invoice_id], document_name(invoice_id, ".pdf")
            (stage / "documents" / html_name).write_text(render_html(docs[invoice_id]), encoding="utf-8")
            (stage / "documents" / pdf_name).write_bytes(pdf)
            written += [out / "documents" / html_name, out / "documents" / pdf_name]
            if progress is not None:
                progress(done, len(ordered))
    _remove_stale_documents(out / "documents", set(written))
    return written


def _remove_stale_documents(folder: Path, keep: set[Path]) -> None:
    """Documents of an earlier run into the same folder that this run did not write (another period,
    fewer invoices) would be taken for this run's: remove them."""
    for path in sorted(folder.glob("*")):
        if path.suffix in (".html", ".pdf") and path.is_file() and path not in keep:
            path.unlink()


def summary(gen: GeneratedInvoices) -> str:
    """One line for the command line: how many invoices, lines, the number range and totals per currency."""
    if gen.headers.is_empty():
        return f"{period_name(gen.period)}: nothing to invoice"
    totals = (gen.headers.group_by("currency").agg(pl.col("total").sum()).sort("currency")
              .select(pl.format("{} {}", to_text(pl.col("total"), pl.col("currency")), pl.col("currency"))))
    ids = gen.headers.sort("number")["invoice_id"]
    return (f"{period_name(gen.period)}: {gen.headers.height} invoices ({ids[0]} to {ids[-1]}) with "
            f"{gen.lines.height} lines; totals {', '.join(totals.to_series().to_list())}")

