"""``billing synth``: a realistic synthetic billing dataset with known, planted mistakes.

The package is a pipeline of small steps, one module each:

* :mod:`.config` - the arguments and the fixed catalogues (countries, price book);
* :mod:`.customers`, :mod:`.pricebook`, :mod:`.rates`, :mod:`.usage` - reference tables
  (:mod:`.reference` bundles them);
* :mod:`.rate` - the project's rating engine prices them (the correct invoices);
* :mod:`.invoicing` - invoices and lines, the void / re-issued pair, numbering;
* :mod:`.victims`, :mod:`.anomalies`, :mod:`.numbering` - planted mistakes and the ground truth;
* :mod:`.settlement`, :mod:`.ledger` - credit notes, payments, status and the journal;
* :mod:`.writer` - text columns and files; :mod:`.pipeline` - :func:`synthesize`.
"""
from billing_lib.synth.pipeline import synthesize

__all__ = ["synthesize"]
