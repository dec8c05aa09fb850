"""The ``billing forensics`` verb's arguments (light: the command line builds them without loading the tests)."""
from __future__ import annotations

from billing_lib.forensics.defaults import DEFAULT_DAYS, DEFAULT_RANDOM_SIZE, DEFAULT_SEED, DEFAULT_SIMILARITY


def add_parser(sub) -> None:
    """The ``billing forensics`` verb and its options."""
    f = sub.add_parser("forensics", help="forensic analytics: digit tests, duplicates, outliers, strata, samples",
                       description="Benford digit tests (first, second, first-two, last-two digits, summation), "
                                   "number duplication, near-duplicate invoices, probable duplicate customers, "
                                   "outliers against each customer's history, relative size factor, value bands, "
                                   "and monetary-unit and random samples (see docs/forensics.md).")
    f.add_argument("data", help="dataset folder")
    f.add_argument("--out", required=True, help="output folder (created when missing; replaced only on success)")
    f.add_argument("--period", metavar="YYYY-MM", help="the month to examine (default: every month)")
    f.add_argument("--months", type=int, default=1, metavar="N",
                   help="with --period: the N months ending with it (default 1)")
    f.add_argument("--amounts", default="invoices.total", metavar="TABLE.COLUMN",
                   help="the amounts to test (default invoices.total: non-void invoices in their own currency)")
    f.add_argument("--min-amount", default="10", dest="min_amount", metavar="X",
                   help="digit tests take amounts whose absolute value is at least X (default 10)")
    f.add_argument("--days", type=int, default=DEFAULT_DAYS,
                   help="near-duplicate invoices: at most this many days apart (default 7)")
    f.add_argument("--similarity", type=int, default=DEFAULT_SIMILARITY,
                   help="duplicate customers: name similarity in %% at least (default 80)")
    f.add_argument("--bands", metavar="B1,B2,...", help="lower bounds of the value bands (default "
                                                         "0,10,100,1000,10000,100000)")
    f.add_argument("--confidence", default="95", help="monetary-unit sample: confidence in %% (default 95)")
    f.add_argument("--tolerable", default="5", metavar="PCT",
                   help="tolerable misstatement in %% of the population (default 5)")
    f.add_argument("--expected", default="1", metavar="PCT",
                   help="expected misstatement in %% of the population (default 1)")
    f.add_argument("--random-size", type=int, default=DEFAULT_RANDOM_SIZE, dest="random_size",
                   metavar="N", help="simple random sample size (default 25)")
    f.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"seed of both samples (default {DEFAULT_SEED}); the same seed gives the same "
                        "sample")
