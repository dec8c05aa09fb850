"""The check catalogue. Importing this package registers every check, in the catalogue's order."""
from billing_lib.checks import (  # noqa: F401  (imported to register their checks)
    document_checks,
    invoice_checks,
    ledger_checks,
    sequence_checks,
    settlement_checks,
)
from billing_lib.checks.base import REGISTRY, Check, check, findings

__all__ = ["REGISTRY", "Check", "check", "findings"]
