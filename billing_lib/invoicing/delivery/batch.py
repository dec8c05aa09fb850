"""The invoices to send: a ``billing generate`` folder, the approved list and the customers' addresses."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from billing_lib.core.currency import customer_locale
from billing_lib.data.loading import load_dataset
from billing_lib.errors import ParameterError
from billing_lib.invoicing.delivery.approval import (
    APPROVED_FILE,
    Review,
    approval_problems,
    content_hash,
    generated_hashes,
    read_csv_rows,
    review_of,
    unfinished_review,
)
from billing_lib.invoicing.generate import document_name

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


def approved_ids(path: Path, known: dict[str, dict[str, str]], hashes: dict[str, str] | None = None,
                 review: Review | None = None, require_hashes: bool = False) -> list[str]:
    """The invoice ids listed in ``path`` (column invoice_id), each checked against the generated invoices;
    with ``hashes``, its period and content_hash columns (when present, required by ``require_hashes``) must
    match the invoices and ``review``'s period (see :func:`approval.approval_problems`)."""
    problems, ids = [], []
    rows = read_csv_rows(path, ("invoice_id",))
    for row_no, row in enumerate(rows, start=2):
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
    if hashes is not None:
        problems += approval_problems(path, rows, known, hashes, review, require_hashes)
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
    review = review_of(generated)
    if not (generated / APPROVED_FILE).is_file() and review is not None:
        return review.approved_file
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


def refuse_unfinished(generated: Path, approved: Path | None) -> None:
    """Drafts whose pre-billing review started and never wrote its decision were never reviewed: they are
    sent only from an approved list given explicitly, not by default and not with ``--all``."""
    pending = unfinished_review(generated)
    if pending is not None and approved is None:
        raise ParameterError(f"the pre-billing review of {generated} never finished ({pending} is still there: "
                             "it made these drafts and stopped, or is still running, before writing its decision); "
                             "nothing was sent. Run the review to its end (notebooks/00_invoice_run.ipynb) and "
                             "send what it approves, or name a list explicitly with --approved FILE")


def refuse_no_go(review: Review | None, approved: Path | None) -> None:
    """A no-go review's drafts are sent only from an approved list given explicitly (``--approved FILE``)."""
    if review is not None and not review.go and approved is None:
        why = "".join(f"\n  - {reason}" for reason in review.reasons)
        raise ParameterError(f"{review.describe()}; nothing was sent.{why}\nCorrect the data and run the review "
                             "again, or, to send some of these drafts anyway, name the list explicitly: "
                             f"--approved {review.approved_file} (the drafts without error findings)")


def load_batch(generated: str | Path, data: str | Path, approved: str | Path | None = None,
               send_all: bool = False) -> list[InvoiceToSend]:
    """The approved invoices of a ``billing generate`` folder, in number order, with their customers' addresses.

    Approved ids come from ``approved`` (default: :func:`default_approved_file`); ``send_all`` takes
    every generated invoice. Anything that does not fit together (an unknown id, an approval whose period or
    content hash is not the draft's, a customer missing from the dataset, a missing PDF) is a ParameterError
    listing every problem, before anything is sent; so is, without ``approved``, a no-go review's folder or
    the drafts of a review that never finished (with ``send_all`` too).
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
    refuse_unfinished(generated, Path(approved) if approved else None)
    review = review_of(generated)
    refuse_no_go(review, Path(approved) if approved else None)
    source = _approved_source(generated, Path(approved) if approved else None, send_all)
    own_list = review is not None and source is not None and source.resolve() == review.approved_file.resolve()
    ids = [row["invoice_id"] for row in invoices if row["status"] != "void"] if source is None \
        else approved_ids(source, by_id, generated_hashes(invoices, lines), review, require_hashes=own_list)
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
                                       customer["email"] or "",
                                       customer_locale(customer["country"], customer["locale"]),
                                       pdf, content_hash(invoice, lines[invoice_id])))
    _raise_if(problems, f"cannot send the invoices of {generated}")
    return batch
