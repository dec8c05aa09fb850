"""`billing run PARAMS.yaml` for real: papermill executes the workbooks, nbconvert writes the reports.

One run on a small dataset (planted mistakes, a hostile customer name, three currencies) is shared by the
output tests; wrong parameters and a failing workbook are checked on their own.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import nbformat
import pytest
from workbook_data import HOSTILE_NAME, write_workbook_dataset

from billing_lib.cli import main
from billing_lib.reports.packed_scripts import PLOTLY_PACKED_ID, unpacked
from billing_lib.reports.style import money_label
from billing_lib.runner.manifest import sha256

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CDN_HOSTS = ("cdn.plot.ly", "cdn.jsdelivr", "unpkg", "cdnjs", "googleapis")


def _params(folder: Path, text: str) -> Path:
    path = folder / "run.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _billing(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "billing_lib", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A successful monthly run of every workbook: (folder, output folder, completed process)."""
    folder = tmp_path_factory.mktemp("monthly")
    write_workbook_dataset(folder / "data")
    params = _params(folder, f"""
        period: "2024-06"
        data_dir: data
        output_dir: out/2024-06
        base_currency: EUR
        notebooks_dir: {NOTEBOOKS}
    """)
    proc = _billing("run", params.name, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return folder, folder / "out" / "2024-06", proc


def _all_workbooks() -> list[str]:
    return sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _workbooks() -> list[str]:
    """The workbooks run once a month (a per-case workbook runs per case: tests/test_monthly_investigations.py)."""
    from billing_lib.runner.jobs import is_per_case
    return [n for n in _all_workbooks() if not is_per_case(NOTEBOOKS / f"{n}.ipynb")]


@pytest.mark.slow
def test_progress_is_shown_per_step(run):
    _, out, proc = run
    for i, name in enumerate(_workbooks(), 1):
        # one workbook at a time: "executing... done in"; several at a time: "done in" as each ends
        assert re.search(rf"\[{i}/\d+\] {name}: (executing\.\.\. )?done in \d+\.\ds", proc.stderr), proc.stderr
    assert "WARNING" not in proc.stderr
    assert proc.stdout.strip() == str(out / "index.html")


@pytest.mark.slow
def test_executed_notebooks_have_no_errors(run):
    _, out, _ = run
    for name in _workbooks():
        nb = nbformat.read(out / "notebooks" / f"{name}.ipynb", as_version=4)
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert errors == []
        assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)


@pytest.mark.slow
def test_workbook_results_are_written(run):
    _, out, _ = run
    summary = json.loads((out / "verification" / "summary.json").read_text())
    assert summary["periods"] == ["2024-06"]
    csv = (out / "verification" / "exceptions.csv").read_text()
    assert "price_mismatch" in csv and "INV-0000005" in csv


def _report(out: Path) -> str:
    return (out / "reports" / "01_invoice_verification.html").read_text(encoding="utf-8")


def _without_scripts(html: str) -> str:
    return re.sub(r"<script\b.*?</script>", "", re.sub(r"<style\b.*?</style>", "", html, flags=re.S), flags=re.S)


@pytest.mark.slow
def test_reports_embed_plotlys_partial_bundle_compressed_and_stay_light(run):
    """plotly.js's "finance" bundle (bar, scatter, waterfall: what the workbooks draw) instead of the full one,
    and both libraries gzip-compressed: every report at most 1.5 MB (6.1 MB with the full bundle inline)."""
    _, out, _ = run
    for page in sorted((out / "reports").glob("*.html")):
        html = page.read_text(encoding="utf-8")
        [packed_js] = re.findall(rf'<script\b[^>]*\bid="{PLOTLY_PACKED_ID}"[^>]*>(.*?)</script>', html)
        assert unpacked(packed_js).startswith("/**\n* plotly.js (finance - minified)"), page.name
        assert page.stat().st_size <= 1_500_000, (page.name, page.stat().st_size)


@pytest.mark.slow
def test_no_page_shows_a_python_none_or_nan(run):
    _, out, _ = run
    for page in [out / "index.html", *sorted((out / "reports").glob("*.html"))]:
        text = re.sub(r"<[^>]+>", " ", _without_scripts(page.read_text(encoding="utf-8")))
        found = re.findall(r".{0,60}\b(?:None|nan|NaN)\b.{0,30}", text)
        assert found == [], (page.name, found)


@pytest.mark.slow
def test_every_report_names_its_period_in_its_title(run):
    _, out, _ = run
    for name in _workbooks():
        page = (out / "reports" / f"{name}.html").read_text(encoding="utf-8")
        title = re.search(r"<title>(.*?)</title>", page, re.S)
        assert title is not None and "2024-06" in title.group(1), (name, title and title.group(1))


def test_reports_show_no_code(run):
    _, out, _ = run
    for name in _workbooks():
        html = _without_scripts((out / "reports" / f"{name}.html").read_text(encoding="utf-8"))
        assert "jp-InputPrompt" not in html and "In [" not in html and "In&nbsp;[" not in html
        assert "jp-CodeMirrorEditor" not in html and "highlight-ipynb" not in html
        # no code cell's source made it into the page
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                first = next(line for line in cell.source.splitlines() if line.strip())
                assert first not in html, first


@pytest.mark.slow
def test_reports_are_offline(run):
    _, out, _ = run
    for page in [*sorted((out / "reports").glob("*.html")), out / "index.html"]:
        html = page.read_text(encoding="utf-8")
        srcs = re.findall(r"<script\b[^>]*\bsrc\s*=\s*[\"']?([^\"' >]+)", html, flags=re.I)
        assert [s for s in srcs if re.match(r"(https?:)?//", s)] == [], page
        for host in CDN_HOSTS:
            assert host not in html, (page.name, host)
        assert "<link" not in html or not re.search(r"<link[^>]+href=[\"']https?://", html)


@pytest.mark.slow
def test_report_embeds_plotly_once_and_figures_with_data(run):
    _, out, _ = run
    html = _report(out)
    assert html.count(f'id="{PLOTLY_PACKED_ID}"') == 1  # plotly.js inline, once
    assert html.index(PLOTLY_PACKED_ID) < html.index("Plotly.newPlot(")  # its stand-in is there before the first figure
    assert len(re.findall(r"<script\b[^>]*>(.{1000000,}?)</script>", html, flags=re.S)) == 0  # nothing left uncompressed
    calls = re.findall(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*\{", html, flags=re.S)
    assert len(calls) >= 3  # invoices by month, findings by check, top customers (and currencies)
    for traces in calls:
        data = json.loads(traces)
        assert data and all(len(t.get("x", [])) > 0 for t in data), traces[:200]
    assert "price_mismatch" in "".join(calls)


@pytest.mark.slow
def test_hostile_names_are_escaped(run):
    _, out, _ = run
    html = _report(out)
    assert HOSTILE_NAME not in html
    assert "<script>alert(" not in html
    assert '>&lt;script&gt;alert("pwned")&lt;/script&gt; &amp; Sons</td>' in html  # tables (their static copy)
    assert '&lt;script&gt;alert(\\"pwned\\")&lt;\\u002fscript&gt; &amp; Sons' in html  # chart labels (JSON)


@pytest.mark.slow
def test_index_links_reports_with_headline_figures(run):
    _, out, _ = run
    index = (out / "index.html").read_text(encoding="utf-8")
    for name in _workbooks():
        assert f'href="reports/{name}.html"' in index
        assert (out / "reports" / f"{name}.html").is_file()
    assert money_label(Decimal("276.00"), "EUR") in index  # 300.00 USD at the June rate 0.92; the JPY finding has no rate
    assert re.search(r"<th>findings</th><td>2</td>", index)


@pytest.mark.slow
def test_manifest_records_inputs_parameters_versions_timings(run):
    folder, out, _ = run
    manifest = json.loads((out / "manifest.json").read_text())
    data = folder / "data"
    hashed = {f["path"]: f["sha256"] for f in manifest["inputs"]["data"]}
    assert set(hashed) == {p.name for p in data.iterdir()}
    assert all(hashed[p.name] == sha256(p) for p in data.iterdir())
    assert manifest["inputs"]["parameters_file"]["sha256"] == sha256(folder / "run.yaml")
    assert {w["path"] for w in manifest["inputs"]["workbooks"]} == {f"{n}.ipynb" for n in _all_workbooks()}
    assert manifest["parameters"]["period"] == "2024-06"
    assert manifest["parameters"]["base_currency"] == "EUR"
    for package in ("polars", "pandas", "plotly", "papermill", "nbconvert", "billing_lib"):
        assert manifest["versions"][package] not in ("", "not installed")
    assert [w["workbook"] for w in manifest["workbooks"] if "exception_id" not in w["parameters"]] == _workbooks()
    assert all(w["execute_seconds"] > 0 for w in manifest["workbooks"])
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder, no lock


# ---- wrong parameters: exit 2, one clear message, nothing run ------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("period: [2024-06\n", "not valid YAML"),
    ('period: "2024-06"\ndata_dir: data\ncolour: blue\n', "unknown key(s) colour"),
    ('period: "2024-13"\ndata_dir: data\n', "'2024-13' is not a month as YYYY-MM"),
    ("period: 2024-06-01\ndata_dir: data\n", "must be a month as text"),
    ('period: "2024-06"\n', "missing key(s) data_dir"),
    ('period: "2024-06"\ndata_dir: nowhere\n', "data_dir 'nowhere' is not a folder"),
    ('period: "2024-06"\ndata_dir: data\nbase_currency: EURO\n', "'EURO' is not an ISO 4217 currency"),
    ('period: "2024-06"\ndata_dir: data\nworkbooks: [99_nothing]\n', "workbook '99_nothing' not found"),
    ("- just\n- a list\n", "expected a mapping"),
    ('period: "2024-06"\ndata_dir: data\ninvestigations: -1\n', "investigations must be a whole number 0 or more"),
    ('period: "2024-06"\ndata_dir: data\ninvestigations: three\n', "investigations must be a whole number"),
    ('period: "2024-06"\ndata_dir: data\ncase_log: no/cases.sqlite\n', "case_log 'no/cases.sqlite' is not a file"),
])
def test_bad_parameters_file_exits_2(tmp_path, monkeypatch, capsys, text, message):
    write_workbook_dataset(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(f"notebooks_dir: {NOTEBOOKS}\n" + text if text.startswith("period")
                                       else text, encoding="utf-8")
    assert main(["run", "bad.yaml"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and message in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_parameters_file_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "parameters/none.yaml"]) == 2
    assert "parameters file 'parameters/none.yaml' does not exist" in capsys.readouterr().err


def test_invalid_dataset_exits_2_before_any_workbook(tmp_path, monkeypatch, capsys):
    write_workbook_dataset(tmp_path / "data")
    (tmp_path / "data" / "invoices.csv").write_text(
        "invoice_id,customer_id,currency,issue_date,due_date,period_start,period_end,subtotal,discount,tax,total,"
        "status\nINV-1,C1,EUR,2024-07-01,2024-07-31,2024-06-01,2024-06-30,abc,0,0,0,open\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    _params(tmp_path, f'period: "2024-06"\ndata_dir: data\nnotebooks_dir: {NOTEBOOKS}\n')
    assert main(["run", "run.yaml"]) == 2
    err = capsys.readouterr().err
    assert "invoices.csv, row 2, column 'subtotal'" in err
    assert "executing" not in err


# ---- a failing workbook: exit 1, named, nothing published -------------------------------------------------

def _one_cell_workbooks(folder: Path, bodies: dict[str, str]) -> None:
    """A run's data and workbooks in ``folder``: each workbook (name -> the code of its one cell after the
    parameters cell) in ``books/``, and run.yaml running them on the data for June 2024 into ``out/``."""
    write_workbook_dataset(folder / "data")
    books = folder / "books"
    books.mkdir()
    for name, body in bodies.items():
        nb = nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_code_cell('data_dir = "x"', metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell(body)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, books / f"{name}.ipynb")
    _params(folder, f'period: "2024-06"\ndata_dir: data\noutput_dir: out\nnotebooks_dir: {books}\n')


@pytest.mark.slow
def test_failing_workbook_exits_1_and_publishes_nothing(tmp_path):
    _one_cell_workbooks(tmp_path, {"01_boom": 'raise RuntimeError("the ledger is on fire")'})
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("previous run", encoding="utf-8")
    proc = _billing("run", "run.yaml", cwd=tmp_path)
    assert proc.returncode == 1
    assert "workbook 01_boom failed in cell" in proc.stderr
    assert "RuntimeError: the ledger is on fire" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (out / "index.html").read_text() == "previous run"
    assert not (out / "manifest.json").exists() and not (out / "reports").exists()
    failed = nbformat.read(out / "failed" / "01_boom.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in failed.cells for o in c.get("outputs", []))


@pytest.mark.slow
def test_a_workbook_failing_beside_others_exits_1_names_it_and_publishes_nothing(tmp_path):
    """Two workbooks at a time: the one that fails is named, the run publishes nothing; the other ran whole."""
    _one_cell_workbooks(tmp_path, {"01_fine": 'print("fine")', "02_boom": 'raise ValueError("no such ledger")',
                                   "03_fine": 'print("fine too")'})
    proc = _billing("run", "run.yaml", "--workers", "2", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "executing 3 workbooks, 2 at a time" in proc.stderr
    assert "[2/3] 02_boom: FAILED" in proc.stderr
    assert "workbook 02_boom failed in cell" in proc.stderr and "ValueError: no such ledger" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "index.html").exists() and not (tmp_path / "out" / "manifest.json").exists()
    failed = nbformat.read(tmp_path / "out" / "failed" / "02_boom.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in failed.cells for o in c.get("outputs", []))


@pytest.mark.slow
def test_a_worker_that_dies_is_its_workbook_failing(tmp_path):
    """A workbook whose process dies (here its kernel kills it, as the OOM killer would) fails the run with
    exit 1 naming it, not with a traceback; nothing is published."""
    _one_cell_workbooks(tmp_path, {"01_killer": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
                                   "02_fine": 'print("fine")'})
    proc = _billing("run", "run.yaml", "--workers", "2", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "workbook 01_killer could not be executed: BrokenProcessPool" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "index.html").exists()


def test_workers_below_one_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "run.yaml", "--workers", "0"]) == 2
    assert "--workers must be 1 or more, not 0" in capsys.readouterr().err


@pytest.mark.slow
def test_published_notebooks_leave_the_libraries_to_the_reports(run):
    """plotly.js and DataTables (1 MB) live in each HTML report; the executed notebook keeps its figures' data."""
    _, out, _ = run
    for name in _workbooks():
        notebook = out / "notebooks" / f"{name}.ipynb"
        text = notebook.read_text(encoding="utf-8")
        assert PLOTLY_PACKED_ID not in text and "injectModule(" not in text, name
        assert notebook.stat().st_size < 600_000, (name, notebook.stat().st_size)
        assert PLOTLY_PACKED_ID in (out / "reports" / f"{name}.html").read_text(encoding="utf-8"), name
    figures = [o for c in nbformat.read(out / "notebooks" / "01_invoice_verification.ipynb", as_version=4).cells
               for o in c.get("outputs", []) if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) >= 3
