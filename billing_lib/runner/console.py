"""What the monthly run tells the person watching: a line per step on stderr, with how long it took."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def say(text: str, end: str = "\n") -> None:
    """Write ``text`` to stderr at once."""
    print(text, end=end, file=sys.stderr, flush=True)


def step(prefix: str, what: str, action: Callable[[], T]) -> tuple[T, float]:
    """Run ``action`` showing ``prefix: what... done in Xs``; return its result and the seconds it took."""
    say(f"{prefix}: {what}...", end=" ")
    start = time.perf_counter()
    try:
        result = action()
    except BaseException:
        say("FAILED")
        raise
    seconds = time.perf_counter() - start
    say(f"done in {seconds:.1f}s")
    return result, seconds
