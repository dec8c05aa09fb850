"""``billing verify --engine spark``: the check catalogue on Apache Spark, with the local run's results.

Spark reads the tables and sends each row to the shard of its customer (a hash of the customer id); every
shard is checked by the same polars code as the local run, handed over as Arrow
(:mod:`billing_lib.spark.tasks`). What needs the whole dataset but the usage events (validating the tables,
the global checks, the cash application) runs in one Spark task; the driver receives only findings, the
verified months and row counts. :func:`~billing_lib.spark.verify.verify_on_spark` is the entry point;
pyspark is an optional dependency (``pip install billing-workbooks[spark]``).
"""
