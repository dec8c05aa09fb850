"""The analysts' facade (``import billing_lib as bl``): what notebooks call, documented in docs/analyst-api.md, and
light enough that the ``billing`` command does not pay for it."""
from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

import billing_lib as bl

ROOT = Path(__file__).resolve().parents[1]
API_PAGE = ROOT / "docs" / "analyst-api.md"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NAMES = [n for n in bl.__all__ if n != "__version__"]
HEAVY = ("polars", "pandas", "pyarrow", "plotly", "papermill", "nbformat", "nbconvert", "IPython")


def _documented() -> dict[str, str]:
    """name -> home module, from the rows of the API page's tables."""
    rows = re.findall(r"^\| \*?`(\w+)`\*? \| `([\w.]+)` \|", API_PAGE.read_text(), flags=re.M)
    return dict(rows)


def _home(value: object) -> str:
    return value.__name__ if isinstance(value, types.ModuleType) else value.__module__


def _loaded_after(code: str) -> set[str]:
    """Top-level packages loaded by a fresh interpreter after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(json.loads(proc.stdout.splitlines()[-1]))


def test_the_api_page_lists_exactly_the_facade_with_each_home():
    documented = _documented()
    assert sorted(documented) == sorted(NAMES)
    wrong = {n: (home, _home(getattr(bl, n))) for n, home in documented.items() if home != _home(getattr(bl, n))}
    assert wrong == {}, "name: (home on the page, real home)"


@pytest.mark.parametrize("name", NAMES)
def test_every_name_has_a_docstring(name):
    assert (inspect.getdoc(getattr(bl, name)) or "").strip()


def test_dir_lists_the_names_and_an_unknown_name_says_where_to_look():
    assert set(NAMES) <= set(dir(bl))
    with pytest.raises(AttributeError, match="docs/analyst-api.md"):
        bl.no_such_name  # noqa: B018


def test_importing_the_facade_loads_no_heavy_library():
    assert _loaded_after("import billing_lib") & set(HEAVY) == set()


def test_the_command_starts_without_the_notebook_libraries():
    loaded = _loaded_after("from billing_lib.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass")
    assert loaded & {"pandas", "plotly", "papermill", "nbconvert", "IPython"} == set()


def test_verify_stays_the_function_after_its_module_is_imported():
    """``billing_lib.verify`` is also a module; importing it (as the library does) must not hide ``bl.verify``."""
    code = ("import billing_lib as bl\nimport billing_lib.verify\nfrom billing_lib.workbook import analysis\n"
            "from billing_lib.verify import verify\nprint(bl.verify is verify, callable(bl.write_results))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert proc.stdout.split() == ["True", "True"]
    assert callable(bl.verify) and bl.verify.__module__ == "billing_lib.verify"


def _code_cells(notebook: Path) -> list[ast.Module]:
    nb = nbformat.read(notebook, as_version=4)
    return [ast.parse(c.source) for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_import_only_the_facade_and_call_only_its_names(notebook):
    imports, used = [], set()
    for tree in _code_cells(notebook):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imports += [(a.name, a.asname) for a in node.names if a.name.split(".")[0] == "billing_lib"]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "billing_lib":
                imports.append((node.module, "from"))
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "bl":
                used.add(node.attr)
    assert imports == [("billing_lib", "bl")]
    assert used and used - set(NAMES) == set()
