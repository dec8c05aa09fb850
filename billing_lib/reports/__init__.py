"""Everything a reader of a report sees: charts, summaries and headlines, the stylesheet, HTML export,
the index and history pages, and the browser checks of them."""
