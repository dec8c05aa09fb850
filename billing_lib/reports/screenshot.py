"""A screenshot of a report, as a reader sees it: ``python -m billing_lib.reports.screenshot REPORT.html OUT.png``.

The page is opened by :mod:`billing_lib.reports.browser_check` (headless Chromium,
offline) and photographed only when it is sound: a page with a blank chart, a
script error or a request to the network is refused (exit 1) with the
problems listed. The pictures in docs/reports.md are made this
way (``scripts/readme-screenshot.sh``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from billing_lib.reports.browser_check import BrowserUnavailable, opened


def screenshot(page_path: Path, png: Path, *, width: int = 1280, height: int = 900,
               full_page: bool = False) -> list[str]:
    """Save a PNG of ``page_path`` (the first screen, or the whole page) to ``png``; return the page's
    problems instead, writing nothing, when it has any."""
    with opened(page_path) as (page, check):
        if check.problems:
            return check.problems
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(200)  # let charts follow the new width (plotly is responsive)
        png.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(png), full_page=full_page, animations="disabled")
    return []


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; 0 when the screenshot was written."""
    parser = argparse.ArgumentParser(prog="python -m billing_lib.reports.screenshot",
                                     description="Screenshot an HTML report in headless Chromium, offline.")
    parser.add_argument("page", type=Path, help="the HTML report (or index page)")
    parser.add_argument("png", type=Path, help="where to write the PNG")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--full-page", action="store_true", help="the whole page, not only the first screen")
    args = parser.parse_args(argv)
    if not args.page.is_file():
        print(f"no such file: {args.page}", file=sys.stderr)
        return 2
    try:
        problems = screenshot(args.page, args.png, width=args.width, height=args.height, full_page=args.full_page)
    except BrowserUnavailable as exc:
        print(f"cannot take a screenshot: {exc}", file=sys.stderr)
        return 2
    if problems:
        print(f"{args.page}: not photographed, the page has problems:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
