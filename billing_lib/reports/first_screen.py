"""What a reader sees first on a report or the index page, as plain text: the page's title, its bar and heading,
and the one-screen summary (verdict, what was checked, what was found, money at stake, what needs a decision).

Tests keep this text as golden files and search it for what must never reach a reader (Python's ``None``,
``nan``, identifiers in snake_case); ``python -m billing_lib.reports.first_screen PAGE.html`` prints it.
"""
from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

SHOWN = {"title", "nav", "h1", "h2"}  # elements read as a whole, wherever they are (before the summary)
BLOCKS = {"p", "div", "li", "h1", "h2", "h3", "tr", "section", "nav", "title", "dt", "dd"}
SUMMARY_CLASSES = ("billing-summary", "billing-index-entry")
IDENTIFIER = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
PYTHON_WORDS = re.compile(r"\b(?:None|nan|NaN|NaT|True|False)\b")


class _FirstScreen(HTMLParser):
    def __init__(self, entries: int) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.depth = 0          # > 0 inside a summary block (or an index entry)
        self.whole: list[str] = []  # open SHOWN elements outside a summary
        self.skip = 0           # inside <script> or <style>
        self.blocks_left = entries
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
            return
        classes = (dict(attrs).get("class") or "").split()
        if self.depth:
            self.depth += 1 if tag not in ("br", "img", "meta", "link", "input", "hr") else 0
        elif not self.done and any(c in classes for c in SUMMARY_CLASSES):
            self.depth = 1
        elif tag in SHOWN and not self.done:
            self.whole.append(tag)
        if tag in BLOCKS or tag in ("br", "td", "th"):
            self.parts.append("\n" if tag not in ("td", "th") else " ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
            return
        if self.depth:
            self.depth -= 1
            if self.depth == 0:
                self.blocks_left -= 1
                self.done = self.blocks_left <= 0
        elif self.whole and self.whole[-1] == tag:
            self.whole.pop()
        if tag in BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip and (self.depth or self.whole):
            self.parts.append(data.replace("\u00b6", ""))  # the pilcrow of heading anchors


def first_screen(page_html: str, entries: int = 3) -> str:
    """The first screen of a page as text, one line per block: the title, bar and headings before the summary,
    then the summary (on the index page: the first ``entries`` entries)."""
    parser = _FirstScreen(entries if 'class="billing-index-entry"' in page_html else 1)
    parser.feed(page_html)
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line) + "\n"


def unreadable(text: str) -> list[str]:
    """What must not reach a reader in ``text``: Python's None, nan, True or False, and snake_case identifiers."""
    return sorted(set(PYTHON_WORDS.findall(text)) | set(IDENTIFIER.findall(text)))


def main(argv: list[str] | None = None) -> int:
    """Print the first screen of each page given."""
    for name in argv if argv is not None else sys.argv[1:]:
        print(f"== {name}\n{first_screen(Path(name).read_text(encoding='utf-8'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
