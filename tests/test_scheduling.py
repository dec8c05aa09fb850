"""Running the monthly suite automatically: `billing schedule` through scripts/monthly-cron.sh on a copy of the
project (a fixed "today", never the wall clock), the run history page, and the CI workflow example."""
from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml
from workbook_data import write_workbook_dataset

from billing_lib.cli import build_parser
from billing_lib.errors import ParameterError
from billing_lib.reports.history import MARKER, collect, update_history
from billing_lib.runner.schedule import parameters_file, previous_month

ROOT = Path(__file__).resolve().parents[1]
CRON = ROOT / "scripts" / "monthly-cron.sh"
WORKFLOW = ROOT / "docs" / "scheduling" / "monthly-run.github-workflow.yml"


def _cron(home: Path, *args: str, today: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "BILLING_HOME": str(home)}
    env.pop("BILLING_TODAY", None)
    if today:
        env["BILLING_TODAY"] = today
    return subprocess.run([str(CRON), *args], env=env, capture_output=True, text=True, timeout=900)


def _project_copy(folder: Path) -> Path:
    """The project's notebooks, parameters template and sample data, copied (the run writes only there)."""
    shutil.copytree(ROOT / "notebooks", folder / "notebooks")
    shutil.copytree(ROOT / "data" / "sample", folder / "data" / "sample")
    (folder / "parameters").mkdir()
    _template_on(folder / "parameters" / "template.yaml", "data/sample")
    return folder


def _template_on(path: Path, data_dir: str) -> None:
    """The project's template with its data_dir placeholder filled in, as a user must."""
    text = (ROOT / "parameters" / "template.yaml").read_text(encoding="utf-8")
    placeholder = re.search(r"^data_dir: (\S+)", text, re.M).group(1)
    assert "REPLACE-ME" in placeholder  # the project ships no default dataset for scheduled runs
    path.write_text(text.replace(f"data_dir: {placeholder}", f"data_dir: {data_dir}"), encoding="utf-8")


# ---- the month and its parameters ------------------------------------------------------------------------------

@pytest.mark.parametrize("today, month", [("2024-07-03", "2024-06"), ("2024-01-31", "2023-12"),
                                          ("2024-03-01", "2024-02")])
def test_previous_month(today, month):
    assert previous_month(dt.date.fromisoformat(today)) == month


def test_parameters_are_created_from_the_template_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_workbook_dataset(tmp_path / "data" / "sample")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_x.ipynb").write_text("{}")
    (tmp_path / "parameters").mkdir()
    _template_on(tmp_path / "parameters" / "template.yaml", "data/sample")
    path, template = parameters_file("2024-05", Path("parameters"))
    assert path == Path("parameters/2024-05.yaml") and template == Path("parameters/template.yaml")
    created = yaml.safe_load(path.read_text())
    assert created["period"] == "2024-05" and created["output_dir"] == "out/2024-05"
    assert "every {period} outside comments" in path.read_text()  # comments are left as written
    path.write_text(path.read_text() + "# edited by hand\n")
    assert parameters_file("2024-05", Path("parameters")) == (path, None)  # an existing month is kept
    assert path.read_text().endswith("# edited by hand\n")


def test_missing_template_and_bad_template_are_clear(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "parameters").mkdir()
    with pytest.raises(ParameterError, match=r"no parameters file parameters/2024-05.yaml for 2024-05, and no "
                                             r"template parameters/template.yaml"):
        parameters_file("2024-05", Path("parameters"))
    (tmp_path / "parameters" / "template.yaml").write_text('period: "{period}"\ndata_dir: nowhere\n')
    with pytest.raises(ParameterError, match=r"parameters/2024-05.yaml \(from parameters/template.yaml\): "
                                             r"data_dir 'nowhere' is not a folder"):
        parameters_file("2024-05", Path("parameters"))
    assert sorted(p.name for p in (tmp_path / "parameters").iterdir()) == ["template.yaml"]  # nothing left


# ---- the cron script, for real ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_cron_script_runs_the_previous_month_and_keeps_months_side_by_side(tmp_path):
    home = _project_copy(tmp_path / "project")
    june = _cron(home, today="2024-07-03")
    assert june.returncode == 0, june.stdout + june.stderr
    assert "monthly billing run for 2024-06: done (exit 0)" in june.stdout
    assert "parameters: parameters/2024-06.yaml (created from parameters/template.yaml)" in june.stdout
    assert (home / "parameters" / "2024-06.yaml").is_file()
    assert (home / "out" / "2024-06" / "index.html").is_file()

    may = _cron(home, "--today", "2024-06-02", "--summary", str(tmp_path / "summary.md"))
    assert may.returncode == 0, may.stdout + may.stderr
    assert (home / "out" / "2024-05" / "index.html").is_file()
    assert (tmp_path / "summary.md").read_text().startswith("## monthly billing run for 2024-05: done (exit 0)")

    history = (home / "out" / "index.html").read_text(encoding="utf-8")
    months = re.findall(r'<a href="(\d{4}-\d{2})/index.html">', history)
    assert months == ["2024-06", "2024-05"]  # both kept, newest first
    for month in months:
        for report in re.findall(rf'href="({month}/reports/[^"]+\.html)"', history) or ["missing"]:
            assert (home / "out" / report).is_file()
    assert history.count(">Invoice verification</a>") == 2  # the workbooks' titles link their reports
    assert "money at stake: " in history
    assert f"every month: {home / 'out' / 'index.html'}" in may.stdout
    before = history
    update_history(home / "out" / "2024-06", "2024-06")
    assert (home / "out" / "index.html").read_text(encoding="utf-8") == before  # same runs, same page


@pytest.mark.slow
def test_a_failing_run_exits_non_zero_with_a_summary(tmp_path):
    home = tmp_path / "project"
    write_workbook_dataset(home / "data" / "sample")
    (home / "parameters").mkdir(parents=True)
    _template_on(home / "parameters" / "template.yaml", "data/sample")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("raise ValueError('the <ledger> export is empty')")]
    (home / "notebooks").mkdir()
    nbformat.write(nb, home / "notebooks" / "01_boom.ipynb")
    proc = _cron(home, "--summary", str(tmp_path / "summary.md"), today="2024-07-10")
    assert proc.returncode == 1
    assert "monthly billing run for 2024-06: FAILED (a workbook failed) (exit 1)" in proc.stdout
    kept = home / "out" / "2024-06" / "failed" / "01_boom.ipynb"
    assert (f"failed workbook 01_boom: ValueError: the <ledger> export is empty (kept in {kept})"
            in proc.stdout)
    assert "no reports published for this month" in proc.stdout
    assert "FAILED" in (tmp_path / "summary.md").read_text()
    history = (home / "out" / "index.html").read_text(encoding="utf-8")
    assert "latest run failed" in history and 'href="2024-06/failed/01_boom.ipynb"' in history
    assert "the &lt;ledger&gt; export is empty" in history


@pytest.mark.slow
def test_no_parameters_and_no_template_exits_2(tmp_path):
    (tmp_path / "parameters").mkdir()
    proc = _cron(tmp_path, "--period", "2024-06")
    assert proc.returncode == 2
    assert "monthly billing run for 2024-06: FAILED (wrong parameters or data) (exit 2)" in proc.stdout
    assert "month: 2024-06 (as asked)" in proc.stdout
    assert "no template parameters/template.yaml" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


# ---- the history page ------------------------------------------------------------------------------------------

def test_history_is_only_written_for_month_folders_and_never_over_a_foreign_page(tmp_path):
    (tmp_path / "2024-06").mkdir()
    assert update_history(tmp_path / "custom-name", "2024-06") is None
    assert not (tmp_path / "index.html").exists()
    assert update_history(tmp_path / "2024-06", "2024-06") == tmp_path / "index.html"
    assert MARKER in (tmp_path / "index.html").read_text() and "No monthly run yet" in \
        (tmp_path / "index.html").read_text()
    (tmp_path / "index.html").write_text("<html>someone else's page</html>")
    assert update_history(tmp_path / "2024-06", "2024-06") is None
    assert (tmp_path / "index.html").read_text() == "<html>someone else's page</html>"
    assert collect(tmp_path) == []  # a folder without a manifest or a failed run is not a run


# ---- the CI example --------------------------------------------------------------------------------------------

def test_workflow_example_parses_and_calls_commands_that_exist():
    assert not WORKFLOW.is_relative_to(ROOT / ".github")  # an example, not active here
    flow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = flow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"][0]["cron"] == "30 6 2 * *"
    assert "workflow_dispatch" in triggers
    steps = [s for job in flow["jobs"].values() for s in job["steps"]]
    assert all("name" in s and ("run" in s or "uses" in s) for s in steps)
    assert all(re.fullmatch(r"[\w-]+/[\w-]+@v\d+", s["uses"]) for s in steps if "uses" in s)
    scripts = []
    for step in steps:
        for line in step.get("run", "").splitlines():
            words = shlex.split(line.replace("\\", ""), comments=True) if line.strip() else []
            if words and words[0].startswith("scripts/"):
                scripts.append(words)
    assert scripts, "the workflow runs no project script"
    for words in scripts:
        script = ROOT / words[0]
        assert script.is_file() and os.access(script, os.X_OK)
        if script == CRON:  # its options go to `billing schedule`
            build_parser().parse_args(["schedule", *words[1:]])
    assert "billing schedule \"$@\"" in CRON.read_text()
    assert "--summary" in " ".join(w for words in scripts for w in words)


def test_the_shipped_template_names_no_dataset_so_a_scheduled_run_stops_until_it_is_set(tmp_path):
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    (tmp_path / "parameters").mkdir()
    shutil.copyfile(ROOT / "parameters" / "template.yaml", tmp_path / "parameters" / "template.yaml")
    proc = _cron(tmp_path, "--period", "2024-06")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "REPLACE-ME/exports/2024-06" in proc.stdout and "is not a folder" in proc.stdout
    assert not (tmp_path / "out" / "2024-06" / "index.html").exists()


def test_a_month_the_data_does_not_cover_is_refused_and_nothing_is_published(tmp_path):
    home = _project_copy(tmp_path / "project")
    proc = _cron(home, today="2026-12-04")  # the sample's data ends in 2024
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "FAILED (wrong parameters or data) (exit 2)" in proc.stdout
    assert "nothing run for 2026-11: the data has no usage event, invoice, payment or credit note in 2026-11" \
        in proc.stdout
    assert "Go" not in proc.stdout.replace("Going", "")
    assert not (home / "out" / "2026-11" / "index.html").exists()


def test_exchange_rates_older_than_allowed_are_refused(tmp_path, capsys):
    from billing_lib.cli import main
    home = _project_copy(tmp_path / "project")
    fx = home / "data" / "sample" / "fx_rates.csv"
    lines = fx.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].split(",")
    day = header.index("date")
    fx.write_text(lines[0] + "".join(r for r in lines[1:] if r.split(",")[day] <= "2024-04-30"), encoding="utf-8")
    params = home / "run.yaml"
    params.write_text(f'period: "2024-06"\ndata_dir: {home / "data" / "sample"}\noutput_dir: {home / "out"}\n'
                      f'notebooks_dir: {home / "notebooks"}\nfx_max_age_days: 31\n', encoding="utf-8")
    assert main(["run", str(params)]) == 2
    err = capsys.readouterr().err
    assert "the newest exchange rate in fx_rates is of 2024-04-30, 61 days before the end of 2024-06" in err
    assert "fx_max_age_days" in err and not (home / "out" / "index.html").exists()
