"""Progress of a long step shown in a workbook as one text line, updated in place.

``with progress_line("Checking the invoices") as progress: verify(ds, progress=progress)``
shows the step the library reports (``[3/18] price_mismatch``) with the seconds
elapsed while it runs. When the step ends the line keeps a record without
timings (``Checking the invoices: done, 20 steps``), so executed notebooks and
reports stay the same from run to run. Outside a notebook front end the lines
go to the display's text form as usual.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from IPython.display import display


class ProgressLine:
    """A callable progress reporter bound to one updatable display line."""

    def __init__(self, title: str):
        self.title = title
        self.steps = 0
        self.last = "starting"
        self._start = time.monotonic()
        self._handle = display(self._bundle(f"{title}: starting..."), raw=True, display_id=True)

    @staticmethod
    def _bundle(text: str) -> dict:
        return {"text/plain": text}

    def _show(self, text: str) -> None:
        if self._handle is not None:
            self._handle.update(self._bundle(text), raw=True)

    def __call__(self, message: str) -> None:
        """Report the step now running (the library's progress callback)."""
        self.steps += 1
        self.last = message
        self._show(f"{self.title}: {message} ({time.monotonic() - self._start:.0f}s elapsed)")

    def finish(self, failed: bool = False) -> None:
        """Replace the live line with its record: done (and how many steps) or where it stopped."""
        if failed:
            self._show(f"{self.title}: stopped during {self.last}")
        else:
            self._show(f"{self.title}: done, {self.steps} step{'s' if self.steps != 1 else ''}")


@contextmanager
def progress_line(title: str) -> Iterator[ProgressLine]:
    """A :class:`ProgressLine` for the ``with`` block, finished when the block ends (or fails)."""
    line = ProgressLine(title)
    try:
        yield line
    except BaseException:
        line.finish(failed=True)
        raise
    line.finish()
