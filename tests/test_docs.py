"""The README stays short and the manual in docs/ stays true: pages, links, the data contract, the catalogue,
docstrings that name what exists, no issue numbers."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from billing_lib.checks import REGISTRY
from billing_lib.data.contract import TABLES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
MARKDOWN = [ROOT / "README.md", *PAGES]
README_LIMIT = 8 * 1024
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


def _anchors(page: Path) -> set[str]:
    """The heading anchors GitHub makes: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    out = set()
    in_code = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        out.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return out


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def test_the_readme_is_short():
    assert (ROOT / "README.md").stat().st_size <= README_LIMIT


def test_the_manual_has_its_pages_and_an_index_of_them():
    assert len([p for p in PAGES if p.name != "README.md"]) >= 5
    index = {t.split("#")[0] for t in _links(DOCS / "README.md")}
    assert {p.name for p in DOCS.glob("*.md")} - {"README.md"} <= index, "docs/README.md lists every page"


@pytest.mark.parametrize("page", MARKDOWN, ids=_ids(MARKDOWN))
def test_every_relative_link_resolves(page):
    broken = []
    for target in _links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(target)
    assert broken == []


def test_the_anchor_maker_follows_github():
    page = DOCS / "verification.md"
    assert {"what-billing-verify-writes", "how-the-checks-work"} <= _anchors(page)


def test_the_data_contract_page_names_every_table_and_column():
    text = (DOCS / "data-contract.md").read_text()
    missing = [f"{spec.name}.{column}" for spec in TABLES.values() for column in [spec.name, *spec.names]
               if f"`{column}`" not in text]
    assert missing == []


def test_the_check_catalogue_page_names_every_check():
    text = (DOCS / "checks.md").read_text()
    assert [name for name in REGISTRY if f"`{name}`" not in text] == []


def _modules() -> dict[str, Path]:
    out = {}
    for path in (ROOT / "billing_lib").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _resolves(dotted: str) -> bool:
    """Whether ``billing_lib.x.y.name`` is a module, or an attribute of the longest module prefix."""
    bits = dotted.split(".")
    for i in range(len(bits), 0, -1):
        try:
            obj = importlib.import_module(".".join(bits[:i]))
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("billing_lib"):
                pytest.skip(f"{exc.name} is not installed")
            continue
        for name in bits[i:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


def test_docstring_references_name_what_exists():
    """``:mod:`.writer``` in a docstring must name a module that exists (the package moved, the docs follow)."""
    broken = []
    for name, path in sorted(_modules().items()):
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for role, target in re.findall(r":(mod|func|class|meth|attr|data|exc):`~?([\w.]+)`", path.read_text()):
            dotted = package + target if target.startswith(".") else target if "." in target else f"{name}.{target}"
            if dotted.startswith("billing_lib") and not _resolves(dotted):
                broken.append(f"{path.relative_to(ROOT)}: :{role}:`{target}`")
    assert broken == []


def test_no_issue_numbers_in_code_or_docs():
    places = [ROOT / "README.md", *PAGES, *(ROOT / "billing_lib").rglob("*.py"), *(ROOT / "tests").glob("*.py"),
              *(ROOT / "notebooks").glob("*.ipynb"), *(ROOT / "scripts").glob("*"), *(ROOT / "benchmarks").glob("*")]
    pattern = re.compile(r"\b" + "issue" + r"s? #?\d+\b", re.I)  # spelled apart so this file does not match
    found = [f"{p.relative_to(ROOT)}: {m.group()}" for p in places if p.is_file()
             for m in pattern.finditer(p.read_text(errors="replace"))]
    assert found == []
