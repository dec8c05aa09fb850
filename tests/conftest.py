"""What every test shares: the helper modules beside the tests, imported by name.

- ``helpers``: tiny datasets written as CSV text inside a test (``write_dataset``, ``table``, the table headers);
- ``workbook_data``: the small month with planted mistakes that the workbook and monthly-run tests share;
- ``smtp_server``: a real SMTP server on loopback, for ``billing send``, with failures to inject;
- ``send_month``: a generated month to send and the ``billing send`` calls the sending tests share;
- ``lab_client``: a real JupyterLab server and a kernel over its websocket.

A test imports them at its top, one way only: ``from helpers import write_dataset``. This file puts the tests
folder on the import path, so that works whatever pytest's import mode and wherever pytest is started.

The session fixture ``sample_runs`` runs the bundled sample's months May and June 2024 side by side, once for
every test that reads their reports (the browser and the first-screen tests).

The fixture ``each_engine`` runs a test under each polars engine of a verification (``BILLING_ENGINE``); a
module of check tests takes it for every test with ``pytestmark = pytest.mark.usefixtures("each_engine")``.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


@pytest.fixture(params=["in-memory", "streaming"])
def each_engine(request, monkeypatch) -> str:
    """The test under ``BILLING_ENGINE`` set to each polars engine in turn."""
    monkeypatch.setenv("BILLING_ENGINE", request.param)
    return request.param


def _sample_run(folder: Path, period: str) -> Path:
    root = TESTS.parent
    params = folder / f"{period}.yaml"
    params.write_text(textwrap.dedent(f"""
        period: "{period}"
        data_dir: {root / "data" / "sample"}
        output_dir: out/{period}
        base_currency: EUR
        notebooks_dir: {root / "notebooks"}
    """), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "billing_lib", "run", params.name], cwd=folder,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return folder / "out" / period


@pytest.fixture(scope="session")
def sample_runs(tmp_path_factory) -> dict[str, Path]:
    """The sample's monthly runs of May and June 2024, side by side: {period: output folder}."""
    folder = tmp_path_factory.mktemp("sample-runs")
    return {period: _sample_run(folder, period) for period in ("2024-05", "2024-06")}
