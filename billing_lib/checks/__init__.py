"""The check catalogue. Importing this package registers every check in catalogue order."""
from . import invoice_checks  # noqa: F401  (registration order is the catalogue's order)
from .base import REGISTRY, Check, check, findings

__all__ = ["REGISTRY", "Check", "check", "findings"]
