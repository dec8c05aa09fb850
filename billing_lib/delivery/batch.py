"""The invoices to send: a ``billing generate`` folder, the approved list and the customers' addresses."""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..currency import customer_locale
from ..errors import ParameterError
from ..generate import document_name
from ..loading import load_dataset

APPROVED_FILE = "approved_invoices.csv"
REVIEW_FILE = "review.json"  # written by the pre-billing review next to its drafts folder
INVOICE_COLUMNS = ("invoice_id", "customer_id", "currency", "issue_date", "due_date", "period_start",
                   "period_end", "subtotal", "discount", "tax", "total", "status")
LINE_COLUMNS = ("invoice_id", "line_no", "description", "period_start", "period_end", "quantity", "unit_price",
                "amount", "discount", "tax_rate_pct", "tax_amount")
_PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class InvoiceToSend:
    """One approved invoice with everything its email needs."""

    invoice: dict[str, str]
    lines: tuple[dict[str, str], ...]
    customer_name: str
    customer_email: str
    locale: str
    pdf: Path
    content_hash: str

    @property
    def invoice_id(self) -> str:
        return self.invoice["invoice_id"]


def read_csv_rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Every row of a CSV as text; ParameterError naming the file when it is missing or lacks a column."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, strict=True)
            header = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in required if c not in header]
            if missing:
                raise ParameterError(f"{path}: no column {', '.join(map(repr, missing))} in the header row "
                                     f"(found {', '.join(header) or 'nothing'})")
            reader.fieldnames = header
            return [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except FileNotFoundError:
        raise ParameterError(f"{path} does not exist") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ParameterError(f"{path} cannot be read as UTF-8 CSV: {exc}") from None


def content_hash(invoice: dict[str, str], lines: list[dict[str, str]]) -> str:
    """SHA-256 of the invoice's figures (its row and its lines): the same invoice always has the same hash."""
    canonical = json.dumps({"invoice": invoice, "lines": lines}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def approved_ids(path: Path, known: dict[str, dict[str, str]]) -> list[str]:
    """The invoice ids listed in ``path`` (column invoice_id), each checked against the generated invoices."""
    problems, ids = [], []
    for row_no, row in enumerate(read_csv_rows(path, ("invoice_id",)), start=2):
        invoice_id = row["invoice_id"]
        if not invoice_id:
            problems.append(f"{path}, row {row_no}, column 'invoice_id': empty")
        elif invoice_id not in known:
            problems.append(f"{path}, row {row_no}, column 'invoice_id': {invoice_id!r} is not among the "
                            "generated invoices")
        elif known[invoice_id]["status"] == "void":
            problems.append(f"{path}, row {row_no}, column 'invoice_id': {invoice_id} is void and cannot be sent")
        elif invoice_id not in ids:
            ids.append(invoice_id)
    _raise_if(problems, f"the approved invoices in {path} do not match the generated folder")
    return ids


def _raise_if(problems: list[str], headline: str) -> None:
    if problems:
        shown = [f"  - {p}" for p in problems[:_PROBLEMS_SHOWN]]
        if len(problems) > _PROBLEMS_SHOWN:
            shown.append(f"  ... and {len(problems) - _PROBLEMS_SHOWN} more")
        raise ParameterError("\n".join([f"{headline} ({len(problems)} problem{'s' * (len(problems) != 1)}):",
                                        *shown]))


def default_approved_file(generated: Path) -> Path:
    """``GENERATED/approved_invoices.csv``; for the drafts folder of a pre-billing review (whose
    ``review.json`` one level up names it), the review's ``approved_invoices.csv`` beside it."""
    review = generated.parent / REVIEW_FILE
    if not (generated / APPROVED_FILE).is_file() and review.is_file():
        try:
            meta = json.loads(review.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = None
        if isinstance(meta, dict) and meta.get("drafts_folder") == generated.name:
            return generated.parent / str(meta.get("approved_file") or APPROVED_FILE)
    return generated / APPROVED_FILE


def _approved_source(generated: Path, approved: Path | None, send_all: bool) -> Path | None:
    if send_all:
        return None
    source = approved or default_approved_file(generated)
    if not source.is_file():
        raise ParameterError(f"no list of approved invoices: {source} does not exist. Review the drafts "
                             "(notebooks/00_invoice_run.ipynb writes approved_invoices.csv), then pass "
                             "--approved FILE (a CSV with an invoice_id column), or --all to send every "
                             "generated invoice")
    return source


def load_batch(generated: str | Path, data: str | Path, approved: str | Path | None = None,
               send_all: bool = False) -> list[InvoiceToSend]:
    """The approved invoices of a ``billing generate`` folder, in number order, with their customers' addresses.

    Approved ids come from ``approved`` (default: :func:`default_approved_file`); ``send_all`` takes
    every generated invoice. Anything that does not fit together (an unknown id, a customer missing from
    the dataset, a missing PDF) is a ParameterError listing every problem, before anything is sent.
    """
    generated = Path(generated)
    if not ((generated / "invoices.csv").is_file() and (generated / "documents").is_dir()):
        raise ParameterError(f"{generated} is not a folder written by billing generate (it needs invoices.csv, "
                             "invoice_lines.csv and documents/)")
    invoices = read_csv_rows(generated / "invoices.csv", INVOICE_COLUMNS)
    by_id = {row["invoice_id"]: row for row in invoices}
    lines: dict[str, list[dict[str, str]]] = {}
    for row in read_csv_rows(generated / "invoice_lines.csv", LINE_COLUMNS):
        lines.setdefault(row["invoice_id"], []).append(row)
    source = _approved_source(generated, Path(approved) if approved else None, send_all)
    ids = [row["invoice_id"] for row in invoices if row["status"] != "void"] if source is None \
        else approved_ids(source, by_id)
    frame = load_dataset(data).frame("customers")
    preferred = pl.col("locale").cast(pl.String) if "locale" in frame.collect_schema().names() else pl.lit(None)
    customers = (frame.select("customer_id", "name", "email", "country", preferred.alias("locale")).collect()
                 .rows_by_key("customer_id", named=True, unique=True))
    problems, batch = [], []
    for invoice_id in ids:
        invoice = by_id[invoice_id]
        pdf = generated / "documents" / document_name(invoice_id, ".pdf")
        customer = customers.get(invoice["customer_id"])
        if customer is None:
            problems.append(f"{generated / 'invoices.csv'}: invoice {invoice_id} names customer "
                            f"{invoice['customer_id']!r}, who is not in {data}'s customers table")
        elif not pdf.is_file():
            problems.append(f"{pdf} is missing: run billing generate for this period again (it writes the PDF "
                            "of every invoice)")
        elif not lines.get(invoice_id):
            problems.append(f"{generated / 'invoice_lines.csv'}: invoice {invoice_id} has no lines")
        else:
            batch.append(InvoiceToSend(invoice, tuple(lines[invoice_id]), customer["name"] or invoice["customer_id"],
                                       customer["email"] or "", customer_locale(customer["country"], customer["locale"]),
                                       pdf, content_hash(invoice, lines[invoice_id])))
    _raise_if(problems, f"cannot send the invoices of {generated}")
    return batch
