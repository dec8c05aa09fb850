"""A hand-written SQL audit in DuckDB: the peer `billing verify` is measured against (benchmarks/RESULTS.md).

    pip install duckdb        # a benchmark tool, not a dependency of the project
    python benchmarks/duckdb_audit.py DATA OUT

Reads the tables of DATA (CSV or Parquet, one file per table, as the data contract lays them out) with their
types and runs five representative parts of the check catalogue, the way an analyst would write them in SQL:
- the usage events aggregated per subscription and month (the heavy half of rating);
- invoice totals against their lines;
- line tax arithmetic;
- payments recorded twice;
- each document's ledger postings against its figures.

Money is read as DuckDB detects it (double) and compared to half a cent. It writes one CSV of findings per
part into OUT and prints the counts. It does not validate the data row by row, explain anything or rate
prices: it is a floor for the work `billing verify` does, not the same work.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb

TABLES = ("customers", "subscriptions", "plans", "usage", "invoices", "invoice_lines", "payments", "gl_entries")

AUDIT = {
    "usage_per_subscription_month": """
        SELECT u.subscription_id, date_trunc('month', u.event_time) AS month, count(*) AS events,
               sum(u.quantity) AS units, any_value(s.customer_id) AS customer_id
        FROM usage u JOIN subscriptions s USING (subscription_id)
        GROUP BY ALL""",
    "invoice_totals": """
        WITH l AS (SELECT invoice_id, sum(amount) AS amount, sum(discount) AS discount, sum(tax_amount) AS tax
                   FROM invoice_lines GROUP BY invoice_id)
        SELECT i.invoice_id, i.customer_id, i.subtotal, l.amount, i.discount, l.discount AS line_discount,
               i.tax, l.tax AS line_tax, i.total
        FROM invoices i JOIN l USING (invoice_id)
        WHERE i.status <> 'void'
          AND (abs(i.subtotal - l.amount) > 0.005 OR abs(i.discount - l.discount) > 0.005
               OR abs(i.tax - l.tax) > 0.005 OR abs(i.total - (i.subtotal - i.discount + i.tax)) > 0.005)""",
    "line_tax": """
        SELECT invoice_id, line_no, amount, discount, tax_rate_pct, tax_amount
        FROM invoice_lines
        WHERE abs(round((amount - coalesce(discount, 0)) * tax_rate_pct / 100, 2) - tax_amount) > 0.01""",
    "duplicate_payments": """
        SELECT customer_id, currency, amount, received_date, reference, count(*) AS copies,
               min(payment_id) AS original
        FROM payments GROUP BY ALL HAVING count(*) > 1""",
    "ledger_per_document": """
        WITH want AS (
            SELECT 'invoice' AS source_type, invoice_id AS source_id, '1100' AS account, total AS amount
            FROM invoices WHERE status <> 'void'
            UNION ALL SELECT 'invoice', invoice_id, '2200', -tax FROM invoices WHERE status <> 'void'
            UNION ALL SELECT 'invoice', invoice_id, '4000', -(subtotal - discount)
            FROM invoices WHERE status <> 'void'
            UNION ALL SELECT 'payment', payment_id, '1000', amount FROM payments
            UNION ALL SELECT 'payment', payment_id, '1100', -amount FROM payments),
        got AS (
            SELECT source_type, source_id, CAST(account AS VARCHAR) AS account,
                   sum(coalesce(debit, 0) - coalesce(credit, 0)) AS amount
            FROM gl_entries WHERE source_type IN ('invoice', 'payment') GROUP BY ALL),
        w AS (SELECT source_type, source_id, account, sum(amount) AS amount FROM want GROUP BY ALL)
        SELECT coalesce(w.source_type, g.source_type) AS source_type, coalesce(w.source_id, g.source_id) AS source_id,
               coalesce(w.account, g.account) AS account, w.amount AS want, g.amount AS got
        FROM w FULL JOIN got g ON w.source_type = g.source_type AND w.source_id = g.source_id
                               AND w.account = g.account
        WHERE abs(coalesce(w.amount, 0) - coalesce(g.amount, 0)) > 0.005""",
}


def _source(folder: Path, table: str) -> str:
    csv, parquet = folder / f"{table}.csv", folder / f"{table}.parquet"
    if parquet.exists():
        return f"read_parquet('{parquet}')"
    return f"read_csv('{csv}', header = true, nullstr = '')"


def main(data: Path, out: Path) -> int:
    start = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    for table in TABLES:
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM {_source(data, table)}")
    loaded = time.monotonic()
    for name, sql in AUDIT.items():
        con.execute(f"COPY ({sql} ORDER BY ALL) TO '{out / (name + '.csv')}' (HEADER)")
        count = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
        print(f"{name}: {count:,} rows", file=sys.stderr)
    print(f"duckdb_audit: loaded in {loaded - start:.1f} s, audited in {time.monotonic() - loaded:.1f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
