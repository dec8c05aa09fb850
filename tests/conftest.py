"""What every test shares: the helper modules beside the tests, imported by name.

- ``helpers``: tiny datasets written as CSV text inside a test (``write_dataset``, ``table``, the table headers);
- ``workbook_data``: the small month with planted mistakes that the workbook and monthly-run tests share;
- ``smtp_server``: a real SMTP server on loopback, for ``billing send``;
- ``lab_client``: a real JupyterLab server and a kernel over its websocket.

A test imports them at its top, one way only: ``from helpers import write_dataset``. This file puts the tests
folder on the import path, so that works whatever pytest's import mode and wherever pytest is started.
"""
from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
