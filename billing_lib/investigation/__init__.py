"""Investigating and resolving discrepancies: one customer's story, the findings explained, their corrections.

:mod:`.subject` resolves the id asked about (customer, invoice or finding) and verifies the months;
:mod:`.story` tells the customer's story in tables; :mod:`.explain` says what each finding means and its
likely root cause; :mod:`.resolution` proposes the corrections in money and in the ledger;
:mod:`.messages` drafts the client message; :mod:`.charts` and :mod:`.report` serve the workbook
``02_discrepancy_investigation``.
"""
