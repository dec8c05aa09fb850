"""``billing synth``: a realistic synthetic billing dataset with known, planted mistakes.

The package is a pipeline of small steps, one module each:

* :mod:`.config` - the arguments and the fixed catalogues (countries, price book);
* :mod:`.customers`, :mod:`.pricebook`, :mod:`.rates`, :mod:`.usage` - reference tables
  (:mod:`.reference` bundles them);
* :mod:`.rate` - the project's rating engine prices them (the correct charges), and
  :mod:`billing_lib.invoicing.assemble` makes the invoices and lines (with the void / re-issued pair);
* :mod:`.victims`, :mod:`.anomalies`, :mod:`.numbering` - planted invoice-side mistakes, number gaps and the
  ground truth;
* :mod:`.settlement`, :mod:`.ledger` - credit notes, payments, status and the journal, and
  :mod:`.settlement_mistakes` the settlement and ledger mistakes planted in them;
* :mod:`.names`, :mod:`.money_ops` - customer names, exact-decimal helpers;
* :mod:`.scoring` - recall and precision of the checks against the ground truth;
* :mod:`.pipeline` - :func:`synthesize`, which writes the tables with :mod:`billing_lib.data.table_text`.
"""
from billing_lib.synth.pipeline import synthesize

__all__ = ["synthesize"]
