"""Importers: a billing system's export as a dataset that follows the data contract.

One module per source (Stripe in four: export, price book, contracts, documents); each returns an
:class:`ImportResult` (contract tables as text, and where every source row went). ``billing import SOURCE SRC
--out DIR`` runs one and writes the folder with :func:`write_import`: Stripe API lists, QuickBooks Online and
Xero API JSON, any CSV through a mapping (:mod:`.csv_mapping`), Lago API JSON, and two public CSVs.
"""
from __future__ import annotations

from collections.abc import Callable

from billing_lib.data.importers.base import ImportResult, ImportSourceError, write_import
from billing_lib.data.importers.csv_mapping import import_csv
from billing_lib.data.importers.ibm_receivables import import_ibm_receivables
from billing_lib.data.importers.lago import import_lago
from billing_lib.data.importers.online_retail import import_online_retail
from billing_lib.data.importers.quickbooks import import_quickbooks
from billing_lib.data.importers.stripe import import_stripe
from billing_lib.data.importers.xero import import_xero

IMPORTERS: dict[str, Callable[..., ImportResult]] = {
    "lago": import_lago,
    "online-retail": import_online_retail,
    "ibm-receivables": import_ibm_receivables,
    "stripe": import_stripe,
    "quickbooks": import_quickbooks,
    "xero": import_xero,
}
# ``billing import csv SRC --map MAP.yaml`` (import_csv) takes a mapping beside its source, so it is not among
# the one-argument importers above

__all__ = ["IMPORTERS", "ImportResult", "ImportSourceError", "import_csv", "import_ibm_receivables", "import_lago",
           "import_online_retail", "import_quickbooks", "import_stripe", "import_xero", "write_import"]
