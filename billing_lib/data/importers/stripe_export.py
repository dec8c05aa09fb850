"""Reading a Stripe export: a folder of Stripe API responses, every object routed by its ``object`` type.

A folder holds list responses named by resource (``customers.json``, ``invoices.json`` with ``lines``
expanded, a resource split over pages as ``invoices-1.json``, ``invoices-2.json``...), each
``{"object": "list", "data": [...]}``. A file may also hold a single object (``GET /v1/invoices/in_...``)
or a JSON array. Objects are routed by their ``object`` field, else by the file's resource name; an object
already read (same type and id, e.g. on two overlapping pages) is counted once and skipped after.

JSON numbers are read as ``Decimal``; Stripe's money is integer minor units, ``*_decimal`` fields are decimal
text in minor units, timestamps are Unix seconds (UTC), currencies are lowercase ISO 4217 codes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from billing_lib.data.importers.base import ImportSourceError, RowAccount, read_json, source_files

# resource file name (without page number) -> the object type its items are
RESOURCES = {
    "customers": "customer", "products": "product", "prices": "price", "plans": "plan", "coupons": "coupon",
    "tax_rates": "tax_rate", "subscriptions": "subscription", "subscription_items": "subscription_item",
    "invoices": "invoice", "invoiceitems": "invoiceitem", "invoice_items": "invoiceitem",
    "credit_notes": "credit_note", "payment_intents": "payment_intent", "invoice_payments": "invoice_payment",
    "charges": "charge", "usage_record_summaries": "usage_record_summary", "discounts": "discount",
    "refunds": "refund", "balance_transactions": "balance_transaction", "promotion_codes": "promotion_code",
    "line_items": "line_item", "customer_balance_transactions": "customer_balance_transaction",
}
# object type -> the kind of source row it is counted as in the import report
KINDS = {"customer": "customers", "product": "products", "price": "prices", "plan": "prices",
         "coupon": "coupons", "tax_rate": "tax_rates", "subscription": "subscriptions",
         "invoice": "invoices", "credit_note": "credit_notes", "payment_intent": "payment_intents",
         "invoice_payment": "invoice_payments", "charge": "charges",
         "usage_record_summary": "usage_record_summaries"}
# object types the export may hold that are not mapped, and why
NOT_USED = {
    "line_item": "an invoice line outside its invoice (lines are read from invoices.json with lines expanded)",
    "subscription_item": "a subscription item outside its subscription (items are read from subscriptions.json)",
    "invoiceitem": "a pending invoice item (billed items are read from their invoice's lines)",
    "discount": "a discount object (discounts are read from subscriptions and customers)",
    "refund": "a refund (money paid back; the contract has no refunds)",
    "balance_transaction": "a balance transaction (fees and payouts, not billing)",
    "promotion_code": "a promotion code (its coupon is what discounts)",
    "customer_balance_transaction": "a customer balance transaction (credit balance, not a billing document)",
    "credit_note_line_item": "a credit note line outside its credit note",
}
_PAGE = re.compile(r"^(?P<stem>.+?)(?:[-_.]\d+)?$")


@dataclass
class StripeExport:
    """The objects of an export by type, in file-name order then list order, and the row account."""

    objects: dict[str, list[dict]] = field(default_factory=dict)
    account: RowAccount = field(default_factory=RowAccount)
    files: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[dict]:
        """The objects of one type (``"invoice"``), possibly none."""
        return self.objects.get(kind, [])


def ref(value: object) -> str | None:
    """The id a reference field holds: the string itself, or the ``id`` of an expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def meta(obj: dict, key: str) -> str | None:
    """The user's own value under ``key`` in an object's ``metadata`` (Stripe metadata values are text)."""
    data = obj.get("metadata")
    value = data.get(key) if isinstance(data, dict) else None
    return str(value).strip() if value is not None and str(value).strip() else None


def _resource_type(path: Path) -> str | None:
    stem = _PAGE.match(path.stem).group("stem").lower()  # type: ignore[union-attr]
    if stem in RESOURCES:
        return RESOURCES[stem]
    return stem if stem in RESOURCES.values() else None


def _items(doc: object, path: Path) -> list:
    if isinstance(doc, dict) and doc.get("object") == "list" or (isinstance(doc, dict) and "data" in doc
                                                                 and isinstance(doc["data"], list)):
        return doc["data"]
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        return [doc]
    raise ImportSourceError(f"{path}: not a Stripe API response (expected a list object {{\"object\": \"list\", "
                            "\"data\": [...]}, an object or an array)")


def read_stripe_export(src: str | Path) -> StripeExport:
    """Every object of a Stripe export folder (or one file), deduplicated, with the rows read counted.

    Raises ImportSourceError for a missing source, a file that is not JSON, or an export that holds no
    customer, invoice or subscription.
    """
    export = StripeExport()
    seen: set[tuple[str, str]] = set()
    for path in source_files(src, "Stripe"):
        export.files.append(path.name)
        default_type = _resource_type(path)
        for item in _items(read_json(path, "Stripe JSON"), path):
            kind = item.get("object") if isinstance(item, dict) else None
            kind = kind if isinstance(kind, str) else default_type
            row_kind = KINDS.get(kind or "", "other objects")
            export.account.read(row_kind)
            if not isinstance(item, dict) or kind is None:
                export.account.skip(row_kind, f"not a Stripe object (in {path.name})")
                continue
            if kind not in KINDS:
                export.account.skip(row_kind, NOT_USED.get(kind, f"a {kind} object (not used for billing data)"))
                continue
            key = (kind, str(item.get("id")))
            if item.get("id") and key in seen:
                export.account.skip(row_kind, "read before (same id on another page or file)")
                continue
            if item.get("deleted") is True:
                export.account.skip(row_kind, "deleted")
                continue
            seen.add(key)
            export.objects.setdefault(kind, []).append(item)
    if not any(export.of(k) for k in ("customer", "invoice", "subscription")):
        raise ImportSourceError(f"Stripe source {str(src)!r} holds no customer, subscription or invoice (expected "
                                "API list responses such as customers.json and invoices.json; see docs/realdata.md)")
    return export
