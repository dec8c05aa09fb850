"""Libraries embedded gzip-compressed in reports: the same text back, the same bytes every time."""
from __future__ import annotations

import base64
import gzip
import re

from billing_lib.reports.packed_scripts import (
    INFLATE_JS,
    PLOTLY_PACKED_ID,
    needs_scripts_note,
    pack_itables_bundle,
    packed,
    packed_plotly_html,
    unpacked,
)
from billing_lib.workbook.environment import offline_plotlyjs


def test_packed_text_comes_back_whole_and_packs_the_same_every_time():
    text = "var x = '© ünïcode ☃';\n" * 1000
    assert unpacked(packed(text)) == text
    assert packed(text) == packed(text)  # no timestamp in the gzip header
    assert len(packed(text)) < len(text) / 10


def test_plotly_is_embedded_compressed_to_under_half():
    js = offline_plotlyjs()
    element = packed_plotly_html(js)
    [body] = re.findall(rf'id="{PLOTLY_PACKED_ID}">([A-Za-z0-9+/=]+)</script>', element)
    assert unpacked(body) == js
    assert len(element) < len(js) / 2
    assert "Plotly.newPlot" not in element.split("</script>", 1)[0]  # the data element holds data only
    assert "billingQueue" in element  # calls made before plotly.js runs are queued, not lost


def test_itables_bundle_is_packed_and_unpacks_to_the_same_module():
    module_js = "export const x = '©';\n" * 500
    css = "table.dataTable { color: red }\n" * 100
    b64 = base64.b64encode(module_js.encode("utf-8")).decode("ascii")
    b64_css = base64.b64encode(css.encode("utf-8")).decode("ascii")
    init = (f'<script>function injectCSS(c) {{}}\nif (!window._itables_2_9_1) {{\ninjectCSS("{b64_css}");\n'
            f'window._itables_2_9_1 = injectModule("{b64}");\n}}</script>')
    packed_init = pack_itables_bundle(init)
    assert b64 not in packed_init and b64_css not in packed_init
    [css_packed, module_packed] = re.findall(r'billingInflate\("([A-Za-z0-9+/=]+)"\)', packed_init)
    assert unpacked(module_packed) == module_js and unpacked(css_packed) == css
    assert packed_init.index(INFLATE_JS) < packed_init.index("billingInflate(\"")
    assert gzip.decompress(base64.b64decode(module_packed)).decode("utf-8") == module_js


def test_the_no_script_note_names_the_chart_escaped():
    note = needs_scripts_note('<b>Top "customers"</b>')
    assert "&lt;b&gt;Top &quot;customers&quot;&lt;/b&gt;" in note and "<b>" not in note
