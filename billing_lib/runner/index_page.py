"""The index page of a monthly run: one entry per workbook, linking its report, with its headline figures."""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

LABELS = {"periods": "periods", "findings": "findings", "errors": "errors", "warnings": "warnings",
          "customers_affected": "customers affected", "at_stake_base": "money at stake",
          "unconverted_findings": "findings without exchange rate", "checks_with_findings": "checks with findings",
          "at_stake_by_currency": "money at stake by currency"}


@dataclass(frozen=True)
class Entry:
    """One workbook on the index page."""

    name: str
    title: str
    report: str          # relative link to the HTML report
    notebook: str        # relative link to the executed notebook
    headline: dict | None
    seconds: float
    files: tuple[str, ...] = ()  # relative links to result files for download (e.g. Excel schedules)


def _value(key: str, value, headline: dict) -> str:
    if key == "at_stake_base":
        return f"{value} {headline.get('base_currency', '')}".strip()
    if isinstance(value, dict):
        return ", ".join(f"{v} {k}" for k, v in sorted(value.items())) or "none"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def _ordered(headline: dict) -> list[tuple[str, object]]:
    """Known figures in LABELS order, then any others by name (notebook JSON does not keep key order)."""
    known = [(k, headline[k]) for k in LABELS if k in headline]
    return known + sorted((k, v) for k, v in headline.items() if k not in LABELS)


def _figures(headline: dict | None) -> str:
    if not headline:
        return "<p>No headline figures published.</p>"
    rows = "".join(f"<tr><th>{html.escape(LABELS.get(k, k.replace('_', ' ')))}</th>"
                   f"<td>{html.escape(_value(k, v, headline))}</td></tr>"
                   for k, v in _ordered(headline) if k != "base_currency")
    return f"<table>{rows}</table>"


def render(title: str, subtitle: str, entries: list[Entry]) -> str:
    """The index page as a self-contained HTML document (no script, nothing fetched)."""
    items = "".join(
        f"<section><h2><a href=\"{html.escape(e.report)}\">{html.escape(e.title)}</a></h2>"
        f"<p class=\"meta\">{html.escape(e.name)} · <a href=\"{html.escape(e.notebook)}\">executed notebook</a>"
        f" · ran in {e.seconds:.1f}s"
        + "".join(f" · <a href=\"{html.escape(f)}\">{html.escape(f.rsplit('/', 1)[-1])}</a>" for f in e.files)
        + f"</p>{_figures(e.headline)}</section>"
        for e in entries)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }}
section {{ border-top: 1px solid #ddd; padding: 0.5em 0; }}
table {{ border-collapse: collapse; }} th, td {{ text-align: left; padding: 2px 12px 2px 0; }}
th {{ font-weight: normal; color: #555; }} .meta {{ color: #666; font-size: 90%; }}
</style></head>
<body><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>
{items}
</body></html>
"""


def write_index(path: Path, title: str, subtitle: str, entries: list[Entry]) -> None:
    """Write the index page to ``path`` (the caller stages it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(title, subtitle, entries), encoding="utf-8")
