"""environment.yml (conda users) and pyproject.toml (pip users) must name the same dependencies."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*(.*)$")


def _normal(spec: str) -> tuple[str, str]:
    name, version = _REQ.match(spec).groups()
    return re.sub(r"[-_.]+", "-", name.lower()), version.replace(" ", "")


def _pyproject() -> set[tuple[str, str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    return {_normal(s) for s in specs}


def _environment() -> set[tuple[str, str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    specs: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            specs += [p for p in dep.get("pip", []) if not p.startswith("-e")]
        else:
            specs.append(dep)
    return {_normal(s) for s in specs if _normal(s)[0] not in ("python", "pip")}


def test_environment_yml_matches_pyproject():
    pip_side, conda_side = _pyproject(), _environment()
    assert pip_side - conda_side == set(), "in pyproject.toml only"
    assert conda_side - pip_side == set(), "in environment.yml only"


def test_environment_installs_the_project_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert any("-e ." in entries for entries in pip_lists)
