"""Open HTML reports in a real headless Chromium, cut off from the network, and say what went wrong.

For each page, :func:`check_pages` records:

- every request the page made: only ``file:``, ``data:`` and ``blob:`` (memory
  of the page itself) are let through; anything else is refused and listed
  (the browser also gets a proxy on a closed loopback port, so a request that
  slipped past the interception would still go nowhere);
- console errors, uncaught script errors, and alert/confirm dialogs;
- every plotly chart: drawn when it holds plotly's ``.main-svg`` and at least
  one trace with marks (a blank ``div``, or a figure without data, is not);
- every interactive table (:mod:`billing_lib.reports.interactive_tables`): ready when
  DataTables took it over (sorting and a search box);
- a screenshot, when asked.

Chromium is Debian's package (``/usr/bin/chromium``, or ``BILLING_CHROMIUM``),
driven by the ``playwright`` package (a test extra) without its own browser
download. Run ``python -m billing_lib.reports.browser_check REPORT.html ...`` to check
pages by hand.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

LOCAL_SCHEMES = ("file:", "data:", "blob:")
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
                 # a request that got past the interception goes to a closed port on this machine
                 "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>")
VIEWPORT = {"width": 1280, "height": 900}
READY_TIMEOUT_MS = 20_000

_INSPECT = """() => {
  const charts = Array.from(document.querySelectorAll('.plotly-graph-div')).map(div => {
    const marks = Array.from(div.querySelectorAll('.main-svg .trace path, .main-svg .trace text, '
                                                 + '.main-svg .trace circle, .main-svg .trace rect'))
      .filter(el => el.tagName !== 'path' || ((el.getAttribute('d') || '').length > 3));
    return {id: div.id, svgs: div.querySelectorAll('.main-svg').length,
            traces: div.querySelectorAll('.main-svg .trace').length,
            data: Array.isArray(div.data) ? div.data.length : 0, marks: marks.length};
  });
  const tables = Array.from(document.querySelectorAll('.billing-interactive')).map(box => {
    const table = box.querySelector('table[id^="billing_table_"]');
    return {id: table ? table.id : '', ready: !!box.querySelector('table.dataTable'),
            search: !!box.querySelector('input[type="search"]'),
            rows: box.querySelectorAll('table.dataTable tbody tr').length};
  });
  return {charts, tables};
}"""

_READY = """() => {
  const tables = Array.from(document.querySelectorAll('.billing-interactive'));
  const charts = Array.from(document.querySelectorAll('.plotly-graph-div'));
  return tables.every(b => b.querySelector('table.dataTable'))
      && charts.every(d => d.querySelector('.main-svg'));
}"""


class BrowserUnavailable(RuntimeError):
    """No Chromium, or no playwright, on this machine: the message says how to get them."""


@dataclass(frozen=True)
class Chart:
    """One plotly chart as the browser drew it."""

    id: str
    svgs: int      # plotly's .main-svg layers
    traces: int    # drawn traces
    data: int      # traces in the figure's data
    marks: int     # drawn marks (bars, lines, points, labels)

    @property
    def drawn(self) -> bool:
        """True when plotly drew the chart and at least one trace with marks."""
        return self.svgs > 0 and self.traces > 0 and self.data > 0 and self.marks > 0


@dataclass(frozen=True)
class Table:
    """One interactive table as the browser shows it."""

    id: str
    ready: bool    # DataTables took it over
    search: bool   # it has a search box
    rows: int      # rows shown on its first page


@dataclass
class PageCheck:
    """What happened when a page was opened."""

    path: Path
    requests: list[str] = field(default_factory=list)       # every request, in order
    refused: list[str] = field(default_factory=list)        # requests that would have left the machine
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def problems(self) -> list[str]:
        """Everything wrong with the page, as sentences (empty: the page is fine)."""
        out = [f"request to the network: {url}" for url in self.refused]
        out += [f"console error: {text}" for text in self.console_errors]
        out += [f"script error: {text}" for text in self.page_errors]
        out += [f"dialog opened: {text}" for text in self.dialogs]
        out += [f"chart {c.id or '(no id)'} is blank: {c.svgs} svg layers, {c.traces} traces drawn of {c.data}, "
                f"{c.marks} marks" for c in self.charts if not c.drawn]
        out += [f"table {t.id or '(no id)'} is not interactive (DataTables did not take it over)"
                for t in self.tables if not (t.ready and t.search)]
        return out


def chromium_path() -> Path | None:
    """Debian's Chromium (``BILLING_CHROMIUM`` overrides), or None when it is not installed."""
    named = os.environ.get("BILLING_CHROMIUM")
    for candidate in ([named] if named else []) + ["/usr/bin/chromium", shutil.which("chromium") or ""]:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def unavailable_reason() -> str | None:
    """Why pages cannot be checked here (no Chromium, no playwright), or None when they can."""
    if chromium_path() is None:
        return ("Chromium is not installed (looked for /usr/bin/chromium): apt-get install chromium "
                "(.ci/run installs it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed: pip install -e '.[test]'"
    return None


@contextmanager
def _browser(javascript: bool = True) -> Iterator[object]:
    reason = unavailable_reason()
    if reason:
        raise BrowserUnavailable(reason)
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory(prefix="billing-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(chromium_path()), headless=True, args=list(CHROMIUM_ARGS),
            viewport=VIEWPORT, service_workers="block", accept_downloads=False, java_script_enabled=javascript)
        try:
            yield context
        finally:
            context.close()


def _watch(context, page, check: PageCheck) -> None:
    def route(r) -> None:
        url = r.request.url
        if url.startswith(LOCAL_SCHEMES):
            r.continue_()
        else:
            check.refused.append(url)
            r.abort("internetdisconnected")

    def dialog(d) -> None:
        check.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    context.route("**/*", route)
    page.on("request", lambda req: check.requests.append(req.url))
    page.on("console", lambda msg: check.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: check.page_errors.append(str(exc)))
    page.on("dialog", dialog)


def _inspect(page, check: PageCheck, ready_timeout_ms: int) -> None:
    try:
        page.wait_for_function(_READY, timeout=ready_timeout_ms)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: what is missing is reported below
        pass
    page.evaluate("() => document.fonts.ready.then(() => true)")
    found = page.evaluate(_INSPECT)
    check.charts = [Chart(**c) for c in found["charts"]]
    check.tables = [Table(**t) for t in found["tables"]]


def check_pages(paths: list[Path], screenshots: Path | None = None, *, full_page: bool = True,
                ready_timeout_ms: int = READY_TIMEOUT_MS) -> list[PageCheck]:
    """Open each page in one headless Chromium, offline, and return what happened; with ``screenshots``
    (a folder), save ``<page name>.png`` of each there. BrowserUnavailable when Chromium or playwright
    is missing."""
    results = []
    with _browser() as context:
        for path in paths:
            path = Path(path).resolve()
            check = PageCheck(path)
            page = context.new_page()
            _watch(context, page, check)
            page.goto(path.as_uri(), wait_until="load")
            _inspect(page, check, ready_timeout_ms)
            if screenshots is not None:
                screenshots.mkdir(parents=True, exist_ok=True)
                check.screenshot = screenshots / f"{path.stem}.png"
                page.screenshot(path=str(check.screenshot), full_page=full_page, animations="disabled")
            page.close()
            context.unroute("**/*")
            results.append(check)
    return results


@contextmanager
def opened(path: Path, *, ready_timeout_ms: int = READY_TIMEOUT_MS) -> Iterator[tuple[object, PageCheck]]:
    """The page (a playwright Page, to interact with) and its :class:`PageCheck`, in an offline Chromium."""
    with _browser() as context:
        check = PageCheck(Path(path).resolve())
        page = context.new_page()
        _watch(context, page, check)
        page.goto(check.path.as_uri(), wait_until="load")
        _inspect(page, check, ready_timeout_ms)
        yield page, check


def text_without_scripts(paths: list[Path]) -> dict[Path, str]:
    """What a reader sees of each page where scripts do not run (a mail preview, a locked-down browser):
    the rendered text of its body, with the stylesheet applied. BrowserUnavailable as for :func:`check_pages`."""
    texts = {}
    with _browser(javascript=False) as context:
        for path in paths:
            page = context.new_page()
            page.goto(Path(path).resolve().as_uri(), wait_until="load")
            texts[Path(path)] = page.evaluate("() => document.body.innerText")
            page.close()
    return texts


def main(argv: list[str] | None = None) -> int:
    """``python -m billing_lib.reports.browser_check PAGE.html ... [--screenshots DIR]``: 0 when every page is fine."""
    parser = argparse.ArgumentParser(prog="python -m billing_lib.reports.browser_check",
                                     description="Open HTML reports in headless Chromium, offline, and report "
                                                 "network requests, script errors and blank charts.")
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument("--screenshots", type=Path, help="folder for a full-page PNG of each page")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.pages if not p.is_file()]
    if missing:
        print(f"no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        checks = check_pages(args.pages, args.screenshots)
    except BrowserUnavailable as exc:
        print(f"cannot check pages: {exc}", file=sys.stderr)
        return 2
    for check in checks:
        status = "ok" if not check.problems else "FAILED"
        print(f"{check.path}: {status} ({len(check.charts)} charts, {len(check.tables)} tables, "
              f"{len(check.requests)} requests)" + (f", screenshot {check.screenshot}" if check.screenshot else ""))
        for problem in check.problems:
            print(f"  {problem}")
    return 0 if all(not c.problems for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
