"""Large script libraries embedded gzip-compressed, so a self-contained report stays light.

A report carries plotly.js (1.3 MB) and the DataTables bundle of ITables (0.8 MB) inline, so it works
offline and on its own. Both compress to about a third. Each library is embedded once as gzip in
base64 text, and a few lines of script unpack it with the browser's own ``DecompressionStream``
(Chromium 80, Firefox 113, Safari 16.4 and later) before running it. Code that calls the library
before then is served by a stand-in: ``Plotly.newPlot`` calls are queued and replayed once plotly.js
runs, and ITables already waits for its bundle as a promise (``window._itables_…``).

Without scripts (mail previews, locked-down browsers) nothing runs. A chart then shows a line that says so
(:func:`needs_scripts_note`), and a table shows its static copy
(:mod:`billing_lib.reports.interactive_tables`).
"""
from __future__ import annotations

import base64
import gzip
import html
import re

SCRIPTS_CLASS = "billing-scripts"  # set on <html> by the first packed script: CSS hides the notes then
NOTE_CLASS = "billing-needs-scripts"

INFLATE_JS = """window.billingInflate = window.billingInflate || (async (packed) => {
  const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
});
document.documentElement.classList.add("SCRIPTS_CLASS");""".replace("SCRIPTS_CLASS", SCRIPTS_CLASS)

PLOTLY_LOADER_JS = """(() => {
  if (window.Plotly) { return; }  // loaded already (a workbook's setup cell run twice)
  const queue = [];
  window.Plotly = {billingQueue: queue,
                   newPlot: (...args) => new Promise((resolve, reject) => queue.push([args, resolve, reject]))};
  window.billingInflate(document.getElementById("PACKED_ID").textContent).then((code) => {
    const script = document.createElement("script");
    script.textContent = code;  // plotly.js sets window.Plotly when it runs
    document.head.appendChild(script);
    for (const [args, resolve, reject] of queue) { window.Plotly.newPlot(...args).then(resolve, reject); }
  }).catch((error) => console.error("plotly.js could not be unpacked: " + error));
})();"""

PLOTLY_PACKED_ID = "billing-plotly-packed"
_ITABLES_MODULE = re.compile(r'injectModule\("([A-Za-z0-9+/=]+)"\)')
_ITABLES_CSS = re.compile(r'injectCSS\("([A-Za-z0-9+/=]+)"\)')


def packed(text: str) -> str:
    """``text`` as UTF-8, gzip-compressed (no timestamp, so the same text gives the same bytes), in base64."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


def unpacked(packed_text: str) -> str:
    """The inverse of :func:`packed` (for tests and for reading a report's libraries back)."""
    return gzip.decompress(base64.b64decode(packed_text)).decode("utf-8")


def packed_plotly_html(plotly_js: str) -> str:
    """Script elements that embed ``plotly_js`` compressed and run it; ``Plotly.newPlot`` works at once."""
    loader = PLOTLY_LOADER_JS.replace("PACKED_ID", PLOTLY_PACKED_ID)
    return (f'<script type="application/gzip+base64" id="{PLOTLY_PACKED_ID}">{packed(plotly_js)}</script>'
            f"<script>{INFLATE_JS}\n{loader}</script>")


def pack_itables_bundle(init_html: str) -> str:
    """ITables' offline init output with its DataTables module and stylesheet embedded compressed.

    ITables embeds both as base64 text and loads the module from a blob URL; here each is gzip first, and
    unpacked in the browser before ITables' own loader gets it (its promise resolves a little later).
    """
    def repacked(call: str):
        def replace(match: re.Match) -> str:
            text = packed(base64.b64decode(match.group(1)).decode("utf-8"))
            # back to base64 of UTF-8 bytes, as ITables' own injectModule and injectCSS expect
            return f'window.billingInflate("{text}").then((t) => {call}(btoa(unescape(encodeURIComponent(t)))))'
        return replace

    module, css = repacked("injectModule"), repacked("injectCSS")

    body = _ITABLES_CSS.sub(css, _ITABLES_MODULE.sub(module, init_html))
    return f"<script>{INFLATE_JS}</script>\n{body}"


def needs_scripts_note(what: str) -> str:
    """A line shown in place of ``what`` (a chart) where scripts do not run, hidden where they do."""
    return (f'<p class="{NOTE_CLASS}">{html.escape(what)}: this chart needs JavaScript, which this viewer does not '
            "run. Open the report in a web browser to see it; the tables of this report give its figures.</p>")
