"""``billing cases init|list|show|update|verify-log``: the case log from the command line."""
from __future__ import annotations

import argparse

import polars as pl

from billing_lib.cases.store import ENV_VAR, STATUSES, create_case_log, default_author, open_case_log

LIST_COLUMNS = ["exception_id", "status", "check_name", "customer_id", "invoice_id", "period", "currency",
                "at_stake", "amount", "author", "updated_at"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``billing cases`` and its verbs to the command's sub-parsers."""
    c = sub.add_parser("cases", help="the case log: list, show and update the status of findings",
                       description="Every finding of `billing verify ... --cases LOG` is a case in the log, by its "
                                   "stable exception_id, with a status (open, investigating, resolved, accepted), "
                                   "a resolution, an amount, a note and an append-only history. The log is an "
                                   f"SQLite file: --cases PATH, else ${ENV_VAR}, else cases.sqlite in your user "
                                   "data folder.")
    verbs = c.add_subparsers(dest="verb", required=True, metavar="VERB")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cases", metavar="PATH", help=f"the case log file (default: ${ENV_VAR}, else "
                                                        "cases.sqlite in your user data folder)")
    verbs.add_parser("init", parents=[common], help="create the case log file (an existing log is kept)")
    ls = verbs.add_parser("list", parents=[common], help="list the cases")
    ls.add_argument("--status", choices=STATUSES, help="only cases of this status")
    ls.add_argument("--customer", help="only cases of this customer")
    sh = verbs.add_parser("show", parents=[common], help="one case and its history")
    sh.add_argument("exception_id")
    up = verbs.add_parser("update", parents=[common], help="change a case's status, resolution, amount or note")
    up.add_argument("exception_id")
    up.add_argument("--status", choices=STATUSES)
    up.add_argument("--resolution", help="what was done (e.g. 'credit note CN-0042 issued')")
    up.add_argument("--amount", help="money of the resolution in the case's currency, a plain decimal with at most "
                                     "its minor-unit digits (e.g. -12.50 EUR, 1200 JPY)")
    up.add_argument("--note", help="free text for the next analyst")
    up.add_argument("--author", default=None, help="who makes the change (default: your login name)")
    up.add_argument("--expect-status", choices=STATUSES, dest="expect_status",
                    help="change nothing (exit 2) unless the case still has this status, e.g. the one you saw "
                         "with `billing cases show`: another analyst's change is not overwritten")
    vl = verbs.add_parser("verify-log", parents=[common], help="check that the history was not edited",
                          description="Check the hash chain of the case history: every history row carries the "
                                      "hash of the row before it, so a row edited, deleted, inserted or reordered "
                                      "by hand is found and named (exit 2). Prints the chain's head: note it down "
                                      "and pass it with --head later to detect a rewrite of the whole chain.")
    vl.add_argument("--head", metavar="HASH", help="a head printed by an earlier verify-log; it must still be "
                                                   "a row of the chain")


def run(args: argparse.Namespace) -> int:
    """Carry out ``billing cases VERB``; errors are CaseLogError (exit 2)."""
    if args.verb == "init":
        log, created = create_case_log(args.cases)
        print(f"{'created' if created else 'kept the existing'} case log {log.path}")
        return 0
    log = open_case_log(args.cases)
    if args.verb == "verify-log":
        found = log.verify_log(args.head)
        print(f"case log {log.path}: {found.rows} history rows, hash chain intact"
              + (f", the head {args.head.strip()} is in it" if args.head else ""))
        for event in log.log_events():
            print(f"  {event['at']} {event['event']} by {event['author']}: {event['detail']}")
        print(f"head: {found.head}")
        return 0
    if args.verb == "list":
        cases = log.cases(args.status, args.customer)
        if cases.is_empty():
            print(f"no cases in {log.path}" + (" with these filters" if args.status or args.customer else ""))
            return 0
        _print_table(cases.select(LIST_COLUMNS))
        counts = dict(cases.group_by("status").len().iter_rows())
        print(f"{cases.height} case(s): " + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES))
        return 0
    if args.verb == "show":
        case = log.get(args.exception_id)
        width = max(len(k) for k in case)
        for key, value in case.items():
            print(f"{key:<{width}}  {'' if value is None else value}")
        print("\nhistory:")
        _print_table(log.history(args.exception_id).drop("exception_id"))
        return 0
    case = log.update(args.exception_id, status=args.status, resolution=args.resolution, amount=args.amount,
                      note=args.note, author=args.author or default_author(), expect_status=args.expect_status)
    print(f"{case['exception_id']}: {case['status']}"
          + (f", resolution {case['resolution']!r}" if case["resolution"] else "")
          + (f", amount {case['amount']}" if case["amount"] else "") + f" (by {case['author']}, {case['updated_at']})")
    return 0


def _print_table(frame: pl.DataFrame) -> None:
    """Plain aligned columns (no truncation) for a terminal."""
    cells = [[("" if v is None else str(v)).replace("\n", " ") for v in row] for row in frame.iter_rows()]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(frame.columns)]
    print("  ".join(c.ljust(w) for c, w in zip(frame.columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
