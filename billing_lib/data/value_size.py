"""A value too long to be billing data, found in a CSV before it is parsed, in constant memory.

A CSV parser holds a whole value in memory, several times over once it is typed and checked, so a file with
one value of a gigabyte (a file cut or joined wrongly, a binary pasted into a cell) would take gigabytes.
:func:`oversized_value` reads the file in chunks of half the limit and finds such a value first: a value
longer than the limit either spans a whole chunk without a line break, or a whole chunk inside quotes, so a
chunk like that (rare in real data) sends the file through an exact scan that names the row and column. No
billing value (a name, a description, a reference) comes near :data:`MAX_VALUE_BYTES`. (A quoted value built
to look like many, with a comma and a run of quotes before a separator in every half MiB, passes the first
pass unseen; no text, JSON or binary pasted into a cell does.)
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

MAX_VALUE_BYTES = 1 << 20  # 1 MiB
_SEPARATORS = re.compile(rb'[",\n]')
_QUOTES_BEFORE_SEPARATOR = re.compile(rb'(?s)(?:^|([^"]))("+)(?=[,\r\n])')


@dataclass(frozen=True)
class OversizedValue:
    """The first value of a CSV longer than the limit: its record (header = row 1), column and size."""

    row: int
    column: str | None
    size: int
    limit: int

    @property
    def message(self) -> str:
        return (f"a value of {self.size:,} bytes, longer than the {self.limit:,} bytes a value may have: the file "
                "was not read (is it cut or joined wrongly, or not a comma-separated file with one record a line?)")


def oversized_value(path: str | Path, limit: int = MAX_VALUE_BYTES) -> OversizedValue | None:
    """The first value of the CSV at ``path`` longer than ``limit`` bytes, or None; memory stays about
    ``limit`` whatever the file holds."""
    path = Path(path)
    if path.stat().st_size <= limit or not _suspicious(path, max(limit // 2, 1)):
        return None
    return first_oversized(path, limit)


def _suspicious(path: Path, chunk_size: int) -> bool:
    """Whether some whole chunk has no line break, or may lie inside one quoted value from its start to its
    end (inside quotes at both edges, and no quote in it followed by a separator, as a closing quote is):
    what every value longer than two chunks makes happen. Quotes are counted from the start of the file; a
    chunk edge between two quotes may split a doubled quote, so it counts as inside too."""
    odd, ends_inside = False, False
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_size):
            starts_inside = ends_inside or chunk.startswith(b'"')
            odd ^= chunk.count(b'"') % 2 == 1
            ends_inside = odd or chunk.endswith(b'"')
            if len(chunk) < chunk_size:
                break
            if b"\n" not in chunk or (starts_inside and ends_inside and not _closes_a_value(chunk)):
                return True
    return False


def _closes_a_value(chunk: bytes) -> bool:
    '''Whether ``chunk`` holds a closing quote: a run of quotes before a separator, odd after another
    character (``abc",`` or ``a""",``) or even right after a separator (an empty ``"",``); an even run after a
    character is a doubled quote inside a value (``a"",``). A run at the chunk's start is unknown.'''
    for run in _QUOTES_BEFORE_SEPARATOR.finditer(chunk):
        before = run.group(1)
        if before is not None and (len(run.group(2)) % 2 == 1) != (before in b",\r\n"):
            return True
    return False


def first_oversized(path: Path, limit: int) -> OversizedValue | None:
    """The first value longer than ``limit``, by the exact (slower) scan: every quote, comma and line break
    is walked and the values between separators measured, quotes read as a CSV reader does: a quote opens
    a quoted value only at its start, and inside one a doubled quote is a quote; a quote elsewhere is a
    character. Inside quotes only the next quote matters (found at C speed)."""
    state, start, row, col, offset, quote_at = _AT_START, 0, 1, 0, 0, -1
    with path.open("rb") as fh:
        first = fh.read(limit)
        fh.seek(0)
        while chunk := fh.read(limit):
            i = 0
            while True:
                if state == _IN_QUOTES:
                    j = chunk.find(b'"', i)
                else:
                    found = _SEPARATORS.search(chunk, i)
                    j = found.start() if found else -1
                if j < 0:
                    break
                i, at, char = j + 1, offset + j, chunk[j]
                if state == _QUOTE_IN_QUOTES:  # the quote before was the closing one, unless this doubles it
                    if char == 0x22 and at == quote_at + 1:
                        state = _IN_QUOTES
                        continue
                    state = _UNQUOTED
                if char == 0x22:
                    if state == _IN_QUOTES:
                        state, quote_at = _QUOTE_IN_QUOTES, at
                    elif state == _AT_START and at == start:
                        state = _IN_QUOTES
                    continue
                if at - start > limit and (size := _size(path, start, at)) > limit:  # quotes not counted
                    return OversizedValue(row, _column(first, row, col), size, limit)
                start, state = at + 1, _AT_START
                row, col = (row + 1, 0) if char == 0x0A else (row, col + 1)
            offset += len(chunk)
    if offset - start > limit and (size := _size(path, start, offset)) > limit:
        return OversizedValue(row, _column(first, row, col), size, limit)
    return None


_AT_START, _UNQUOTED, _IN_QUOTES, _QUOTE_IN_QUOTES = range(4)


def _size(path: Path, start: int, end: int) -> int:
    """The length of a value without its surrounding quotes and line end."""
    with path.open("rb") as fh:
        fh.seek(start)
        head = fh.read(1)
        fh.seek(max(end - 2, start))
        tail = fh.read(end - max(end - 2, start))
    size = end - start - tail.endswith(b"\r")
    if head == b'"':
        size -= 2
    return size


def _column(first: bytes, row: int, col: int) -> str | None:
    """The header name of column ``col`` (None for the header row itself, or when it cannot be read)."""
    if row == 1:
        return None
    try:
        header = next(csv.reader(io.StringIO(first.decode("utf-8-sig", errors="replace"), newline="")), [])
    except csv.Error:
        return None
    return header[col].strip() if col < len(header) else None
