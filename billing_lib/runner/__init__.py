"""The pieces of the monthly run (``billing run``): parameters, kernel, execution, export, index, manifest.

:mod:`billing_lib.runner.monthly` puts them together; each module here has one job.
"""
