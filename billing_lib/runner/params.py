"""The parameters file of a monthly run (one YAML file per month, in ``parameters/``).

Keys (unknown keys are refused)::

    period: "2024-06"            # required: the month, YYYY-MM (null: every invoiced month)
    data_dir: data/sample        # required: the dataset folder
    output_dir: out/2024-06      # default: out/<period> (out/all without a period)
    base_currency: EUR           # default: EUR
    workbooks: [01_invoice_verification]   # default: every notebooks/NN_*.ipynb, in order
    notebooks_dir: notebooks     # default: notebooks
    investigations: 3            # default 3: investigation reports for the largest open cases by money at stake
    case_log: ~/cases.sqlite     # default: none (every finding counts as open); see `billing cases`
    redact: false                # default false: true masks customers' names, e-mail addresses and addresses
    fx_max_age_days: 45          # default 45: a run refuses a month whose newest exchange rate is older than this
    engine: local                # default local: spark runs the checks of the verification workbook on Spark
    spark_master: null           # with engine spark: the Spark master (default local[*]; spark://..., yarn)

Relative paths are taken from the current working directory (the project
folder when run through ``./run-monthly``); error messages show the resolved
absolute path.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from billing_lib.core.fx import check_base_currency
from billing_lib.core.periods import parse_period
from billing_lib.data.coverage import DEFAULT_FX_MAX_AGE_DAYS
from billing_lib.errors import ParameterError

KNOWN_KEYS = ("period", "data_dir", "output_dir", "base_currency", "workbooks", "notebooks_dir", "investigations",
              "case_log", "redact", "fx_max_age_days", "engine", "spark_master")
DEFAULT_INVESTIGATIONS = 3
REQUIRED_KEYS = ("period", "data_dir")
WORKBOOK_RE = re.compile(r"^\d{2}_[A-Za-z0-9_]+\.ipynb$")


@dataclass(frozen=True)
class RunParams:
    """A monthly run's parameters, checked, with absolute paths."""

    source: Path
    period: str | None
    data_dir: Path
    output_dir: Path
    base_currency: str
    notebooks_dir: Path
    workbooks: tuple[Path, ...]
    investigations: int = DEFAULT_INVESTIGATIONS  # per-case workbooks run for this many of the largest open cases
    case_log: Path | None = None                  # the case log that says which findings are decided
    redact: bool = False                          # reports without customers' names, e-mails and addresses
    fx_max_age_days: int = DEFAULT_FX_MAX_AGE_DAYS  # the newest exchange rate at most this old at the month's end
    engine: str = "local"                         # where the verification workbook's checks run: local or spark
    spark_master: str | None = None               # with engine spark: the Spark master

    def as_dict(self) -> dict:
        """JSON-ready view (paths as text) for the manifest."""
        return {"parameters_file": str(self.source), "period": self.period, "data_dir": str(self.data_dir),
                "output_dir": str(self.output_dir), "base_currency": self.base_currency,
                "notebooks_dir": str(self.notebooks_dir), "workbooks": [p.stem for p in self.workbooks],
                "investigations": self.investigations,
                "case_log": str(self.case_log) if self.case_log else None, "redact": self.redact,
                "fx_max_age_days": self.fx_max_age_days, "engine": self.engine, "spark_master": self.spark_master}


def load_params(path: Path) -> RunParams:
    """Read and check a parameters file; ParameterError naming the file and the key when it is wrong."""
    where = str(path)
    if not path.is_file():
        raise ParameterError(f"parameters file {where!r} does not exist (resolved to {path.resolve()})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ParameterError(f"{where}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise ParameterError(f"{where}: expected a mapping of keys ({', '.join(KNOWN_KEYS)}), "
                             f"found {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in KNOWN_KEYS)
    if unknown:
        raise ParameterError(f"{where}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(KNOWN_KEYS)}")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise ParameterError(f"{where}: missing key(s) {', '.join(missing)}")

    period = raw["period"]
    if period is not None:
        if not isinstance(period, str):
            raise ParameterError(f"{where}: period {period!r} must be a month as text \"YYYY-MM\" (quote it)")
        try:
            parse_period(period)
        except ParameterError as exc:
            raise ParameterError(f"{where}: {exc}") from None
    data_dir = _path(raw, "data_dir", where)
    if not data_dir.is_dir():
        raise ParameterError(f"{where}: data_dir {raw['data_dir']!r} is not a folder (resolved to {data_dir})")
    output_dir = _path(raw, "output_dir", where) if raw.get("output_dir") is not None \
        else Path("out", period or "all").resolve()
    try:
        base = check_base_currency(raw.get("base_currency", "EUR"))
    except ParameterError as exc:
        raise ParameterError(f"{where}: {exc}") from None
    notebooks_dir = _path(raw, "notebooks_dir", where) if raw.get("notebooks_dir") is not None \
        else Path("notebooks").resolve()
    if not notebooks_dir.is_dir():
        raise ParameterError(f"{where}: notebooks_dir {str(notebooks_dir)!r} is not a folder")
    workbooks = _workbooks(raw.get("workbooks"), notebooks_dir, where)
    investigations = raw.get("investigations", DEFAULT_INVESTIGATIONS)
    if isinstance(investigations, bool) or not isinstance(investigations, int) or investigations < 0:
        raise ParameterError(f"{where}: investigations must be a whole number 0 or more (how many of the largest "
                             f"open cases get an investigation report), found {investigations!r}")
    case_log = _path(raw, "case_log", where) if raw.get("case_log") is not None else None
    if case_log is not None and not case_log.is_file():
        raise ParameterError(f"{where}: case_log {raw['case_log']!r} is not a file (resolved to {case_log}); "
                             f"create it with `billing cases init --cases {raw['case_log']}`")
    if case_log is not None:  # a damaged log stops the run here, not inside a workbook
        from billing_lib.cases import CaseLogError, open_case_log
        try:
            open_case_log(case_log)
        except CaseLogError as exc:
            raise ParameterError(f"{where}: case_log: {exc}") from None
    redact = raw.get("redact", False)
    if not isinstance(redact, bool):
        raise ParameterError(f"{where}: redact must be true or false (mask customers' names, e-mail addresses and "
                             f"addresses in the reports), found {redact!r}")
    fx_max_age = raw.get("fx_max_age_days", DEFAULT_FX_MAX_AGE_DAYS)
    if isinstance(fx_max_age, bool) or not isinstance(fx_max_age, int) or fx_max_age < 0:
        raise ParameterError(f"{where}: fx_max_age_days must be a whole number of days 0 or more (how old the "
                             f"newest exchange rate may be at the month's end), found {fx_max_age!r}")
    engine, master = raw.get("engine", "local"), raw.get("spark_master")
    if engine not in ("local", "spark"):
        raise ParameterError(f"{where}: engine must be local (this machine) or spark (Apache Spark), found {engine!r}")
    if master is not None and (engine != "spark" or not isinstance(master, str)):
        raise ParameterError(f"{where}: spark_master names a Spark master as text (local[*], spark://host:7077, "
                             f"yarn) and goes with engine: spark, found {master!r} with engine {engine}")
    return RunParams(path.resolve(), period, data_dir, output_dir, base, notebooks_dir, workbooks, investigations,
                     case_log, redact, fx_max_age, engine, master)


def _path(raw: dict, key: str, where: str) -> Path:
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise ParameterError(f"{where}: {key} must be a path as text, found {value!r}")
    return Path(value).expanduser().resolve()


def _workbooks(names, notebooks_dir: Path, where: str) -> tuple[Path, ...]:
    """The workbooks to run: the ones named, else every NN_*.ipynb in ``notebooks_dir``, in name order."""
    if names is None:
        found = tuple(sorted(p for p in notebooks_dir.glob("*.ipynb") if WORKBOOK_RE.match(p.name)))
        if not found:
            raise ParameterError(f"{where}: no workbooks (NN_name.ipynb) in {notebooks_dir}")
        return found
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ParameterError(f"{where}: workbooks must be a non-empty list of notebook names, found {names!r}")
    out = []
    for name in names:
        path = notebooks_dir / (name if name.endswith(".ipynb") else f"{name}.ipynb")
        if not path.is_file():
            raise ParameterError(f"{where}: workbook {name!r} not found (looked for {path})")
        out.append(path)
    return tuple(out)
