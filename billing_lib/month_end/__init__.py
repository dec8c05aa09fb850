"""Month-end close schedules: receivables, revenue and the close checklist.

Every function takes a loaded :class:`~billing_lib.data.dataset.Dataset` and plain
parameters (a cut-off date or a ``YYYY-MM`` period) and returns a polars
DataFrame in a deterministic order, money as polars Decimal in the currency of
its row (or in the base currency where a column says ``_base``).
"""
