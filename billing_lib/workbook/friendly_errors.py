"""Friendly errors inside a workbook: a wrong input shows one clear message, not a traceback.

:func:`install` registers an IPython custom exception handler for
:class:`~billing_lib.errors.BillingInputError` (a wrong parameter, a dataset
that does not follow the contract...). When a cell raises one, the cell's
error output holds only the message, which says what to fix; the cell still
fails, so "Run all" stops there and papermill (``billing run``) stops the
monthly run with that message. Any other exception keeps IPython's usual
traceback: it is a fault to report, not a wrong input.
"""
from __future__ import annotations

from billing_lib.errors import BillingInputError


def message_lines(error: BillingInputError) -> list[str]:
    """The lines shown for ``error``: ``Kind: message`` (the message says what to fix), without a traceback.

    An error class that renders itself for IPython (``_render_traceback_``) keeps its own lines.
    """
    render = getattr(error, "_render_traceback_", None)
    if callable(render):
        return list(render())
    return [f"{type(error).__name__}: {str(error).strip()}"]


def _handler(shell, etype, value, tb, tb_offset=None):  # noqa: ARG001  (IPython's handler signature)
    stb = message_lines(value)
    # publishes an error output (ename, evalue, these lines as the "traceback") and marks the cell failed
    shell._showtraceback(etype, value, stb)
    return stb


def install() -> bool:
    """Show BillingInputError in this IPython session as a message; False when not running in IPython."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((BillingInputError,), _handler)
    return True
