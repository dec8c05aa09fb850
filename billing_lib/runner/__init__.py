"""The monthly run (``billing run``), one module per stage.

:mod:`~billing_lib.runner.monthly` is the pipeline and reads top to bottom; the stages live in
:mod:`~billing_lib.runner.params` (the parameters file), :mod:`~billing_lib.runner.lock` (one run per
output folder), :mod:`~billing_lib.runner.jobs` (what to execute, with which parameters),
:mod:`~billing_lib.runner.execute` (papermill, and the executed notebook as published),
:mod:`~billing_lib.runner.cases` (per-case workbooks), :mod:`~billing_lib.runner.manifest`,
:mod:`~billing_lib.runner.previous_run` (the run the index compares with) and
:mod:`~billing_lib.runner.publish` (the staging folder swapped in whole). :mod:`~billing_lib.runner.schedule`
runs the previous month for cron and CI.
"""
