"""The check catalogue. Importing this package registers every check, in the catalogue's order."""
from . import invoice_checks, sequence_checks, document_checks  # noqa: F401  (order = catalogue order)
from . import settlement_checks, ledger_checks  # noqa: F401,E402  (after them, in catalogue order)
from .base import REGISTRY, Check, check, findings

__all__ = ["REGISTRY", "Check", "check", "findings"]
