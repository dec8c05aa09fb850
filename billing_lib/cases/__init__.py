"""The case log: every finding by its stable exception_id, with status, resolution and append-only history.

:mod:`.store` keeps the log in a SQLite file in the user's workspace;
:mod:`.marking` tells a verification run which findings are new, still open,
already resolved or accepted, and which came back after a fix (regressions);
:mod:`.commands` is ``billing cases``.
"""
from billing_lib.cases.store import STATUSES, CaseLog, CaseLogError, default_case_log_path, open_case_log

__all__ = ["STATUSES", "CaseLog", "CaseLogError", "default_case_log_path", "open_case_log"]
