"""The check catalogue. Importing this package registers every check; :func:`catalogue` lists them in the
catalogue's order (``CATALOGUE``)."""
from billing_lib.checks import (  # noqa: F401  (imported to register their checks)
    document_checks,
    invoice_checks,
    ledger_checks,
    sequence_checks,
    settlement_checks,
)
from billing_lib.checks.base import CATALOGUE, REGISTRY, Check, Finding, catalogue, check, finding

__all__ = ["CATALOGUE", "REGISTRY", "Check", "Finding", "catalogue", "check", "finding"]
