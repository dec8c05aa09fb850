"""Invoice-side checks: lines and totals against their own figures and against the contract."""
from __future__ import annotations
