"""What every test shares: the helper modules beside the tests, imported by name.

- ``helpers``: tiny datasets written as CSV text inside a test (``write_dataset``, ``table``, the table headers);
- ``workbook_data``: the small month with planted mistakes that the workbook and monthly-run tests share;
- ``smtp_server``: a real SMTP server on loopback, for ``billing send``, with failures to inject;
- ``send_month``: a generated month to send and the ``billing send`` calls the sending tests share;
- ``lab_client``: a real JupyterLab server and a kernel over its websocket.

A test imports them at its top, one way only: ``from helpers import write_dataset``. This file puts the tests
folder on the import path, so that works whatever pytest's import mode and wherever pytest is started.

The fixture ``each_engine`` runs a test under each polars engine of a verification (``BILLING_ENGINE``); a
module of check tests takes it for every test with ``pytestmark = pytest.mark.usefixtures("each_engine")``.
"""
from __future__ import annotations

import sys
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
