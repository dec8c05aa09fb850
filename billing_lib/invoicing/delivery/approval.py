"""The approval a pre-billing review hands to ``billing send``, and the checks that it still fits the drafts.

``approved_invoices.csv`` lists each approved draft with the period it bills and the content hash of its
figures (:func:`content_hash` of its row in ``invoices.csv`` and its rows in ``invoice_lines.csv``, exactly
what ``billing send`` reads). An approval whose period or hash no longer matches the drafts it lies beside
(the drafts were made again, for another month or from other data) approves nothing: send refuses it.
``review.json`` beside it holds the review's decision; a no-go review's drafts are sent only from an
approved list given explicitly. From the moment a review starts making drafts until it has written its
decision, ``review_in_progress.json`` beside the drafts says so: such drafts were never reviewed, and
``billing send`` refuses them unless an approved list is named explicitly (``--all`` included).
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from billing_lib.core.output import write_text_atomic
from billing_lib.errors import ParameterError

APPROVED_FILE = "approved_invoices.csv"
REVIEW_FILE = "review.json"  # written by the pre-billing review next to its drafts folder
FINDINGS_FILE = "draft_findings.csv"
PENDING_FILE = "review_in_progress.json"  # a review that started and has not written its decision yet
DRAFTS_FOLDER = "drafts"
REVIEW_OUTPUTS = (APPROVED_FILE, REVIEW_FILE, FINDINGS_FILE)
APPROVAL_COLUMNS = ("invoice_id", "period", "content_hash")


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


def generated_hashes(invoices: list[dict[str, str]], lines: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    """The content hash of every invoice of a generated folder's rows, by invoice_id."""
    return {row["invoice_id"]: content_hash(row, lines.get(row["invoice_id"], [])) for row in invoices}


def folder_hashes(generated: str | Path) -> dict[str, str]:
    """The content hash of every invoice written to ``generated`` (invoices.csv, invoice_lines.csv)."""
    folder = Path(generated)
    lines: dict[str, list[dict[str, str]]] = {}
    for row in read_csv_rows(folder / "invoice_lines.csv", ("invoice_id",)):
        lines.setdefault(row["invoice_id"], []).append(row)
    return generated_hashes(read_csv_rows(folder / "invoices.csv", ("invoice_id",)), lines)


def clear_review(review_dir: str | Path) -> None:
    """Start a review: mark it in progress (``review_in_progress.json``), then remove an earlier review's
    approved list, review.json and findings, so that drafts made again never sit beside an approval of other
    drafts and are known to be unreviewed until :func:`finish_review` (call before writing new drafts)."""
    folder = Path(review_dir)
    write_text_atomic(folder / PENDING_FILE, json.dumps(
        {"drafts_folder": DRAFTS_FOLDER, "note": "the pre-billing review of these drafts has not written its "
                                                 "decision: they were never reviewed"}, indent=2) + "\n")
    for name in REVIEW_OUTPUTS:
        (folder / name).unlink(missing_ok=True)


def finish_review(review_dir: str | Path) -> None:
    """End a review whose decision is written: the drafts are no longer unreviewed."""
    (Path(review_dir) / PENDING_FILE).unlink(missing_ok=True)


def unfinished_review(generated: Path) -> Path | None:
    """The in-progress marker of the review whose drafts folder ``generated`` is, when that review started
    and never wrote its decision (it stopped, or is still running); else None."""
    path = generated.parent / PENDING_FILE
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return path  # a marker that cannot be read still says the review did not finish
    return path if not isinstance(meta, dict) or meta.get("drafts_folder") in (None, generated.name) else None


@dataclass(frozen=True)
class Review:
    """The decision of the pre-billing review whose drafts folder is being sent."""

    path: Path
    approved_file: Path
    decision: str
    period: str
    approved: int | None
    reasons: tuple[str, ...]

    @property
    def go(self) -> bool:
        return self.decision == "go"

    def describe(self) -> str:
        """One line for ``billing send``: the decision, the period and what it approved."""
        approved = "" if self.approved is None else f", {self.approved} draft(s) approved"
        return f"pre-billing review ({self.path}): {self.decision.upper()} for {self.period}{approved}"


def review_of(generated: Path) -> Review | None:
    """The review whose drafts folder ``generated`` is (``review.json`` one level up naming it), or None.
    A review.json that cannot be read is a ParameterError: its decision is unknown."""
    path = generated.parent / REVIEW_FILE
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{path} cannot be read ({exc}): run the pre-billing review again") from None
    if not isinstance(meta, dict) or meta.get("drafts_folder") != generated.name:
        return None
    counts = meta.get("counts") if isinstance(meta.get("counts"), dict) else {}
    approved = counts.get("approved")
    return Review(path, path.parent / str(meta.get("approved_file") or APPROVED_FILE),
                  str(meta.get("decision") or "unknown"), str(meta.get("period") or "unknown"),
                  approved if isinstance(approved, int) else None,
                  tuple(str(r) for r in meta.get("reasons") or ()))


def approval_problems(path: Path, rows: list[dict[str, str]], invoices: dict[str, dict[str, str]],
                      hashes: dict[str, str], review: Review | None, require_hashes: bool) -> list[str]:
    """What keeps the approval rows of ``path`` from approving the generated invoices: a period or content
    hash that does not match the invoice (made again since it was approved), a review of another period,
    or (``require_hashes``, a review's own list) no period and content_hash columns at all."""
    problems = []
    if require_hashes and rows and any(c not in rows[0] for c in ("period", "content_hash")):
        problems.append(f"{path}: a pre-billing review's approved list needs the columns period and content_hash "
                        "(it was written before approvals carried them): run the review again")
    billed_periods = set()
    for row_no, row in enumerate(rows, start=2):
        invoice = invoices.get(row.get("invoice_id", ""))
        if invoice is None:
            continue  # reported by the id check
        where, billed = f"{path}, row {row_no}", invoice["period_start"][:7]
        billed_periods.add(billed)
        if "period" in row and row["period"] != billed:
            problems.append(f"{where}, column 'period': {row['invoice_id']} was approved for "
                            f"{row['period'] or '(empty)'} but the draft bills {billed}: the drafts were made "
                            "again; review them before sending")
        elif "content_hash" in row and row["content_hash"] != hashes[row["invoice_id"]]:
            problems.append(f"{where}, column 'content_hash': the figures of {row['invoice_id']} changed since it "
                            "was approved: review the drafts again before sending")
    other = sorted(billed_periods - {review.period}) if review is not None else []
    if other:
        problems.append(f"{review.path}: the review is of {review.period}, but the approved drafts bill "
                        f"{', '.join(other)}: review the drafts again before sending")
    return problems
