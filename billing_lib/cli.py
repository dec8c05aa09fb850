"""The ``billing`` command: validate, verify, synth, run, import, cases (see docs/command-line.md).

Exit codes: 0 done (findings are results, not failures); 2 the input or the
call is wrong, with one clear message and no traceback; 1 an unexpected fault;
and for ``billing send`` only, 3: some approved invoices were not delivered.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from billing_lib.errors import BillingInputError, ParameterError

if TYPE_CHECKING:  # the command line loads the data libraries only for the commands that need them
    from billing_lib.data.dataset import Dataset

IMPORT_SOURCES = ("stripe", "quickbooks", "xero", "csv", "lago", "online-retail", "ibm-receivables")


def _version() -> str:
    from importlib.metadata import version
    return version("billing-workbooks")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="billing", description="Billing analytics and audit workbooks.")
    p.add_argument("-V", "--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    v = sub.add_parser("validate", help="check that a dataset follows the data contract")
    v.add_argument("data", help="dataset folder")

    ve = sub.add_parser("verify", help="run every check and write the exceptions")
    ve.add_argument("data", help="dataset folder")
    ve.add_argument("--period", help="month to verify, YYYY-MM (default: every month from the first to the last "
                         "invoiced month)")
    ve.add_argument("--out", required=True, help="output folder (created when missing)")
    ve.add_argument("--check", action="append", dest="checks", metavar="NAME",
                    help="run only this check (repeatable)")
    ve.add_argument("--shards", type=int, default=None, metavar="N",
                    help="run the per-customer checks on N groups of customers (local engine: one after "
                         "another, the tables kept on disk between them, as typed Parquet in the temporary "
                         "folder (TMPDIR), for data larger than memory; default: 1, or as many as the memory "
                         "at hand needs (BILLING_MEMORY sets it); spark: N tasks, default two per core); "
                         "same result")
    ve.add_argument("--engine", choices=("local", "spark"), default="local",
                    help="where the checks run: this process (default) or Apache Spark (needs the spark extra "
                         "and Java; DATA may then be any path Spark reads); the same files either way")
    ve.add_argument("--master", metavar="URL", help="with --engine spark: the Spark master (default local[*]; "
                    "spark://host:7077, yarn, k8s://...)")
    ve.add_argument("--cases", metavar="LOG", help="also record the findings in this case log and write "
                    "case_status.csv (new, open, resolved, accepted, regression); exceptions.csv is unchanged")

    s = sub.add_parser("synth", help="make a realistic dataset with planted mistakes",
                       description="Write a synthetic billing dataset that follows the data contract, with "
                                   "known mistakes planted in its invoices and listed in ground_truth.csv. "
                                   "The same arguments always give byte-identical files.")
    s.add_argument("--out", required=True, help="output folder (created when missing; replaced only on success)")
    s.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    s.add_argument("--customers", type=int, default=60, help="number of customers (default 60)")
    s.add_argument("--months", type=int, default=6, help="number of billed months (default 6)")
    s.add_argument("--start", default="2024-01", metavar="YYYY-MM", help="first billed month (default 2024-01)")
    s.add_argument("--anomaly-rate", type=float, default=0.03, dest="anomaly_rate",
                   help="share of the eligible invoices that get each kind of mistake (default 0.03; "
                        "at least one of each kind whenever possible)")
    s.add_argument("--usage-events", type=float, default=8.0, dest="usage_events", metavar="N",
                   help="average usage events per usage subscription per month (default 8); "
                        "raise it for large benchmark datasets")
    s.add_argument("--format", choices=("csv", "parquet"), default="csv", dest="fmt",
                   help="file format of the tables (default csv; ground_truth.csv is always CSV)")

    g = sub.add_parser("generate", help="rate a month and write its invoices, lines and invoice documents")
    g.add_argument("data", help="dataset folder")
    g.add_argument("--period", required=True, help="month to invoice, YYYY-MM")
    g.add_argument("--out", required=True, help="output folder (created when missing)")
    g.add_argument("--workers", type=int, metavar="N",
                   help="processes drawing the PDFs (default: one per usable core; the files are the same "
                        "whatever the number)")

    r = sub.add_parser("run", help="the monthly suite: every workbook, then the HTML reports")
    r.add_argument("params", help="parameters YAML file, e.g. parameters/2024-06.yaml")
    r.add_argument("--redact", action="store_true",
                   help="mask customers' names, e-mail addresses and addresses in every report and Excel file "
                        "(ids, money and dates stay), for reports shared beyond finance; as redact: true")
    r.add_argument("--workers", type=int, metavar="N",
                   help="workbooks executed at a time (default: one per usable core; the files are the same "
                        "whatever the number)")

    sc = sub.add_parser("schedule", help="run the previous month's suite (for cron and CI), with a summary",
                        description="Run the monthly suite for the month before today: parameters/YYYY-MM.yaml, "
                                    "created from parameters/template.yaml when missing, then billing run. Prints "
                                    "a summary; the exit code is the run's (see docs/monthly-run.md, 'Running every "
                                    "month automatically').")
    sc.add_argument("--today", metavar="YYYY-MM-DD", help="the day taken as today (default: $BILLING_TODAY, "
                                                          "else the current UTC date)")
    sc.add_argument("--period", metavar="YYYY-MM", help="run this month instead of the previous one")
    sc.add_argument("--parameters-dir", default="parameters", dest="parameters_dir", metavar="DIR",
                    help="folder of the monthly parameters files (default parameters)")
    sc.add_argument("--template", metavar="FILE", help="template for a missing month (default "
                                                       "DIR/template.yaml; {period} is replaced by the month)")
    sc.add_argument("--summary", metavar="FILE", help="also append the summary as Markdown to FILE "
                                                      "(e.g. $GITHUB_STEP_SUMMARY)")

    im = sub.add_parser("import", help="turn a billing system's export (Stripe, QuickBooks, Xero, any CSV...) "
                                       "into a dataset",
                        description="Map a billing system's export to a dataset folder that follows the data "
                                    "contract, with import_report.json accounting for every source row "
                                    "(see docs/realdata.md).")
    im.add_argument("source", choices=IMPORT_SOURCES,
                    help="stripe: a folder of Stripe API list responses; quickbooks: QuickBooks Online API JSON "
                         "(file or folder); xero: a folder of Xero Accounting API responses; csv: any CSV export "
                         "through --map; lago: a Lago API JSON file or folder; online-retail: one UCI Online "
                         "Retail CSV; ibm-receivables: the IBM accounts-receivable sample CSV")
    im.add_argument("src", help="source file or folder")
    im.add_argument("--out", required=True, help="dataset folder to write (created when missing; replaced only "
                                                 "on success)")
    im.add_argument("--map", dest="mapping", metavar="MAP.yaml",
                    help="csv only: the mapping (a YAML file, or a shipped one: stripe-payments, "
                         "xero-sales-invoices, online-retail-invoices; see docs/import-mapping.md)")
    sd = sub.add_parser("send", help="email the approved invoices of a generated folder (outbox or SMTP)",
                        description="Send each approved invoice of a billing generate folder to its customer: an "
                                    "email with HTML and plain-text bodies and the PDF attached, written to an "
                                    "outbox folder as .eml files or delivered over SMTP. The sender comes from "
                                    "BILLING_MAIL_FROM, an SMTP login from BILLING_SMTP_USER and "
                                    "BILLING_SMTP_PASSWORD. A delivery log keeps every invoice from being sent "
                                    "twice. A temporary failure (4xx reply, lost connection, server unreachable) "
                                    "is tried again in the run after a doubling wait, then by the next run; a "
                                    "permanent one (5xx reply) is not tried again until the address changes or "
                                    "--retry-refused; an invoice a stopped run may have delivered is held until "
                                    "--unconfirmed says what happened.",
                        epilog="exit codes: 0 every approved invoice is delivered (in this run or an earlier one); "
                               "3 some approved invoices were NOT delivered (each listed; the same command "
                               "again retries them); 2 wrong call or input, nothing sent; 1 an unexpected "
                               "fault.")
    sd.add_argument("generated", help="folder written by billing generate")
    sd.add_argument("--data", required=True, help="dataset folder (the customers' names and email addresses)")
    sd_to = sd.add_mutually_exclusive_group(required=True)
    sd_to.add_argument("--outbox", metavar="DIR", help="write each email as DIR/<invoice_id>.eml")
    sd_to.add_argument("--smtp-host", metavar="HOST", help="deliver over SMTP to HOST")
    sd.add_argument("--smtp-port", type=int, metavar="N", help="SMTP port (default 587 with --starttls, else 25)")
    sd.add_argument("--starttls", action="store_true", help="encrypt the SMTP session with STARTTLS")
    sd_which = sd.add_mutually_exclusive_group()
    sd_which.add_argument("--approved", metavar="FILE",
                          help="CSV with an invoice_id column (default GENERATED/approved_invoices.csv, or the one "
                               "a pre-billing review wrote beside its drafts folder)")
    sd_which.add_argument("--all", action="store_true", dest="send_all",
                          help="send every generated invoice (refused for the drafts of a pre-billing review that "
                               "was no-go or never finished: name its list with --approved instead)")
    sd.add_argument("--log", metavar="FILE", help="delivery log, SQLite (default GENERATED/delivery_log.sqlite)")
    sd.add_argument("--attempts", type=int, default=3, metavar="N",
                    help="tries of a message in this run when it fails for now (default 3; 1: no retry in the run)")
    sd.add_argument("--retry-delay", type=float, default=2.0, dest="retry_delay", metavar="SECONDS",
                    help="wait before the second try, doubled for each further one, in this run and across runs "
                         "(default 2; 0: no waits, a deferred invoice is tried again at once)")
    sd.add_argument("--retry-refused", action="store_true", dest="retry_refused",
                    help="try again invoices the server refused for good (5xx) though their address is unchanged")
    sd.add_argument("--unconfirmed", choices=("hold", "resend", "sent"), default="hold",
                    help="invoices a stopped run may have delivered: hold them (default), resend them (same "
                         "Message-ID), or record them as sent (you checked the server's log)")
    # -- billing cases --
    from billing_lib.cases.commands import add_parser as _add_cases_parser
    _add_cases_parser(sub)
    from billing_lib.forensics.arguments import add_parser as _add_forensics_parser
    _add_forensics_parser(sub)
    return p


def _validate(args) -> int:
    import tempfile

    from billing_lib.data.loading import load_dataset
    from billing_lib.verification import shards_for
    if shards_for(args.data) > 1:  # larger than memory: each table is let go (to disk) once it is checked
        with tempfile.TemporaryDirectory(prefix="billing-validate-") as spill:
            counts = load_dataset(args.data, spill_to=Path(spill)).row_counts()
    else:
        counts = load_dataset(args.data).row_counts()
    print(f"{args.data}: follows the billing data contract "
          f"({', '.join(f'{n} {t}' for t, n in counts.items())}).")
    return 0


def _progress_printer():
    """A progress callback printing each step with the seconds since the command started (stderr)."""
    start = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - start:6.1f}s] {message}", file=sys.stderr, flush=True)
    return progress


class _ProgressBar:
    """A done/total callback drawing a progress bar on the terminal (stderr), made when the total is known."""

    def __init__(self, title: str):
        self.title, self.bar = title, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=self.title, unit="doc", file=sys.stderr, dynamic_ncols=True)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _loaded(folder: str, progress: Callable[[str], None]) -> Dataset:
    """The dataset of ``folder``, loaded and validated, said in a progress line."""
    from billing_lib.data.loading import load_dataset
    ds = load_dataset(folder)
    progress(f"loaded {sum(ds.row_counts().values()):,} rows")
    return ds


def _verify(args) -> int:
    from billing_lib.core.periods import parse_period
    from billing_lib.verification import select_checks, shards_for, verify, verify_from_disk, write_results
    if args.shards is not None and args.shards < 1:
        raise ParameterError(f"--shards must be 1 or more, not {args.shards}")
    if args.master and args.engine != "spark":
        raise ParameterError("--master names a Spark master: use it with --engine spark")
    months = [parse_period(args.period)] if args.period else None
    select_checks(args.checks)  # an unknown --check stops here, before any data is read
    progress = _progress_printer()
    from billing_lib.cases import open_case_log
    case_log = open_case_log(args.cases) if args.cases else None  # a missing or damaged log stops here
    if args.engine == "spark":
        from billing_lib.spark.verify import verify_on_spark
        result = verify_on_spark(args.data, months, args.checks, args.master, args.shards, progress)
    else:
        shards = args.shards or shards_for(args.data)
        if args.shards is None and shards > 1:
            progress(f"{args.data} needs more memory than a run here may take: its tables are kept on disk and "
                     f"its customers checked in {shards} groups (as with --shards {shards}; --shards 1 keeps it "
                     "in memory)")
        progress(f"loading and validating {args.data}")
        if shards == 1:  # no reference kept here: verify lets go of what no check left reads
            result = verify(_loaded(args.data, progress), months, args.checks, progress)
        else:
            result = verify_from_disk(args.data, shards, months, args.checks, progress)
    progress(f"writing {args.out}")
    write_results(result, args.out)
    if case_log is not None:  # -- case log: a separate file; the contract's exceptions keep their shape
        from billing_lib.cases.marking import record_findings, standing_counts, write_case_status
        marked = record_findings(case_log, result.exceptions, result.summary["periods"],
                                 checks=result.summary["by_check"], all_periods=args.period is None)
        path = write_case_status(marked, args.out)
        counts = standing_counts(marked)
        progress(f"case log {args.cases}: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f" -> {path.name}")
    s = result.summary
    print(f"verified {', '.join(s['periods']) or 'no invoiced period'}: {s['exceptions']} exceptions "
          f"({s['by_severity']['error']} errors, {s['by_severity']['warning']} warnings) -> {args.out}")
    return 0


def _generate(args) -> int:
    from billing_lib.core.periods import parse_period
    from billing_lib.data.loading import load_dataset
    from billing_lib.invoicing.generate import documents_told, generate_period, summary, write_generated
    from billing_lib.invoicing.prebilling import issued_invoices
    if args.workers is not None and args.workers < 1:
        raise ParameterError(f"--workers must be 1 or more, not {args.workers}")
    month = parse_period(args.period)
    ds = load_dataset(args.data)
    issued = issued_invoices(ds, month)
    if issued.height:
        print(f"billing generate: note: {args.data} already holds {issued.height} invoice(s) for {args.period} "
              f"({issued['invoice_id'].min()} to {issued['invoice_id'].max()}); the generated ones would bill "
              "the month again", file=sys.stderr)
    generated = generate_period(ds, month)
    bar = _ProgressBar("invoice documents") if sys.stderr.isatty() else None
    progress = bar or documents_told(lambda text: print(text, file=sys.stderr, flush=True))
    try:
        write_generated(generated, ds, args.out, progress=progress, workers=args.workers)
    finally:
        if bar is not None:
            bar.close()
    print(f"{summary(generated)} -> {args.out}")
    return 0


def _send(args) -> int:
    from billing_lib.invoicing.delivery.command import run_send
    return run_send(args)


def _synth(args) -> int:
    from billing_lib.synth import synthesize
    info = synthesize(args.out, seed=args.seed, customers=args.customers, months=args.months,
                      anomaly_rate=args.anomaly_rate, fmt=args.fmt, start=args.start,
                      usage_events=args.usage_events)
    print(info)
    return 0


def _run(args) -> int:
    from billing_lib.runner.monthly import run_monthly
    if args.workers is not None and args.workers < 1:
        raise ParameterError(f"--workers must be 1 or more, not {args.workers}")
    return run_monthly(Path(args.params), redact=args.redact, workers=args.workers)


def _cases(args) -> int:
    from billing_lib.cases.commands import run
    return run(args)


def _forensics(args) -> int:
    from billing_lib.forensics.command import run
    return run(args)


def _schedule(args) -> int:
    from billing_lib.runner.schedule import parse_day, run_scheduled, today_utc
    today = parse_day(args.today) if args.today else today_utc()
    return run_scheduled(today, Path(args.parameters_dir), Path(args.template) if args.template else None,
                         args.period, Path(args.summary) if args.summary else None)


def _import(args) -> int:
    from billing_lib.data.importers import IMPORTERS, import_csv, write_import
    if (args.source == "csv") != (args.mapping is not None):
        raise ParameterError("--map MAP.yaml is required with csv, and only with csv" if args.source == "csv"
                             else f"--map is for csv imports; a {args.source} export has a fixed layout")
    result = import_csv(args.src, args.mapping) if args.source == "csv" else IMPORTERS[args.source](args.src)
    write_import(result, args.out)
    print(f"imported {args.src} -> {args.out}: {result.summary()}")
    return 0


COMMANDS = {"validate": _validate, "verify": _verify, "generate": _generate, "synth": _synth, "run": _run,
            "import": _import}
COMMANDS["send"] = _send
COMMANDS["cases"] = _cases
COMMANDS["schedule"] = _schedule
COMMANDS["forensics"] = _forensics


SIGPIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for a tool stopped by a closed pipe


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that Python's own flush at exit does not fail on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``billing`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BillingInputError as exc:
        print(f"billing {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("billing: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`billing cases list | head`): stop quietly, as Unix tools do
        _silence_stdout()
        return SIGPIPE_EXIT
    except Exception:  # an unexpected fault: say so, with the details for a bug report
        traceback.print_exc()
        print(f"billing {args.command}: unexpected error (exit 1); please report it with the traceback above",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
