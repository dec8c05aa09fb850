"""The analyst's way of working, for real: every workbook opened through a JupyterLab server's API and run
cell by cell in a kernel over the websocket, with the default parameters, as JupyterLab's "Run All" does.

The server runs on 127.0.0.1 with a random free port and a token, in a temporary root holding a copy of the
project's notebooks folder and sample data (the workbooks' default paths, ../data/sample and ../scratch, resolve
there). Workbooks are discovered (every notebooks/*.ipynb), never listed by name, and run in name order on one
server, as the monthly run orders them, so a workbook may read what an earlier one wrote under ../scratch.
"""
from __future__ import annotations

import ast
import asyncio
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from lab_client import CellRun, KernelChannel, LabServer, notebook_path

from billing_lib.reports.headline import MIME_TYPE as HEADLINE
from billing_lib.runner.kernel import kernel_for_this_python

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PLOTLY = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A running JupyterLab server over a copy of the notebooks and the sample data."""
    root = tmp_path_factory.mktemp("lab-root")
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(ROOT / "data" / "sample", root / "data" / "sample")
    server = LabServer(root, tmp_path_factory.mktemp("lab-home"))
    with server:
        yield server
    assert server.process.returncode is not None, "the JupyterLab server is still running"
    log = server.log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log and "[E " not in log, log  # no error on the server side either


def _calls(source: str, name: str, *, always_shows: bool = False) -> bool:
    """True when the cell calls ``name``; with ``always_shows``, a call not told to stay silent (empty=None)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and name in (getattr(n.func, "id", None), getattr(n.func, "attr", None)):
            silent = any(k.arg == "empty" and isinstance(k.value, ast.Constant) and k.value.value is None
                         for k in n.keywords)
            if not (always_shows and silent):
                return True
    return False


async def _run_all(lab: LabServer, name: str) -> tuple[dict, list[CellRun]]:
    """Open ``name`` through the contents API, start a kernel session, run every code cell, save, close."""
    status, model = lab.request("GET", notebook_path(name) + "?type=notebook&content=1")
    assert status == 200 and model["type"] == "notebook"
    status, session = lab.request("POST", "/api/sessions", {
        "path": f"notebooks/{name}", "name": name, "type": "notebook", "kernel": {"name": kernel_for_this_python()}})
    assert status == 201, status
    runs = []
    try:
        async with KernelChannel(lab, session["kernel"]["id"]) as channel:
            for cell in model["content"]["cells"]:
                if cell["cell_type"] != "code":
                    continue
                run = await channel.execute("".join(cell["source"]) if isinstance(cell["source"], list)
                                            else cell["source"])
                runs.append(run)
                cell["outputs"] = run.outputs()
                cell["execution_count"] = run.reply.get("execution_count")
                cell["metadata"]["trusted"] = True  # as JupyterLab marks the cells it ran
                if run.reply.get("status") != "ok":
                    break
    finally:
        assert lab.request("DELETE", f"/api/sessions/{session['id']}")[0] == 204
    # save it back, as the analyst does, and read the saved file through the API
    status, _ = lab.request("PUT", notebook_path(name), {"type": "notebook", "format": "json",
                                                           "content": model["content"]})
    assert status == 200
    return lab.request("GET", notebook_path(name) + "?type=notebook&content=1")[1], runs


def test_the_server_lists_every_workbook_and_wants_its_token(lab):
    status, listing = lab.request("GET", "/api/contents/notebooks?content=1")
    assert status == 200
    served = sorted(item["name"] for item in listing["content"] if item["type"] == "notebook")
    assert served == [p.name for p in NOTEBOOKS] and served
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(lab.url + "/api/contents/notebooks", timeout=30)
    assert refused.value.code == 403


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_workbook_runs_clean_in_jupyterlab(lab, notebook):
    saved, runs = asyncio.run(_run_all(lab, notebook.name))
    code_cells = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    failed = [(i, r.reply.get("ename"), r.reply.get("evalue")) for i, r in enumerate(runs)
              if r.reply.get("status") != "ok"]
    assert failed == []
    assert len(runs) == len(code_cells)  # every code cell executed
    assert [r.reply["execution_count"] for r in runs] == list(range(1, len(runs) + 1))
    assert [m for r in runs for m in r.of_type("error")] == []
    stderr = [m["content"]["text"] for r in runs for m in r.of_type("stream") if m["content"]["name"] == "stderr"]
    assert stderr == []

    saved_cells = [c for c in saved["content"]["cells"] if c["cell_type"] == "code"]
    # the server signed the saved notebook: reopened, its tables and charts render without "Trust"
    assert all(c["metadata"].get("trusted") is True for c in saved_cells)
    outputs = [o for c in saved_cells for o in c["outputs"]]
    shown = [o for o in outputs if o["output_type"] in ("display_data", "execute_result")]
    assert any("text/html" in o["data"] for o in shown)  # tables and notes reached the front end
    for cell, run in zip(code_cells, runs, strict=True):
        if _calls(cell.source, "show_table", always_shows=True) or _calls(cell.source, "show_chart"):
            assert run.of_type("display_data", "execute_result"), f"no output from:\n{cell.source}"
        if _calls(cell.source, "publish"):  # the conclusions and the headline figures for the index page
            assert any(HEADLINE in m["content"]["data"] for m in run.of_type("display_data"))
    if any(_calls(c.source, "show_chart") for c in code_cells):
        charts = [o for o in shown if PLOTLY in o["data"]]
        assert charts and all(o["data"][PLOTLY]["data"] for o in charts)  # interactive figures with traces
    if any(_calls(c.source, "progress_line") for c in code_cells):
        updates = [m["content"]["data"]["text/plain"] for r in runs for m in r.of_type("update_display_data")]
        assert any("elapsed" in u for u in updates)  # live progress while the step runs
        assert any(u.endswith("steps") and ": done, " in u for u in updates)
