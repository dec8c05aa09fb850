"""Forensic analytics an auditor asks for: digit tests, duplicates, outliers, value bands and samples.

:mod:`.population` picks the amounts (by default the totals of non-void invoices); :mod:`.digits` runs
Benford's law tests (first, second, first-two, last-two digits, summation); :mod:`.duplicates` finds
repeated amounts, near-duplicate invoices and probable duplicate customers; :mod:`.outliers` the amounts
out of line with their customer's history and the relative size factor; :mod:`.stratification` the value
bands; :mod:`.sampling` the monetary-unit and random samples. :mod:`.command` runs them all and writes
the files (``billing forensics``); :mod:`.findings` says what they found in plain words and
:mod:`.charts` draws them for the workbook ``04_forensic_analytics``.
"""
