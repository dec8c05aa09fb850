"""The data contract and the datasets that follow it: table specs, loading and validation, the text form of
tables, and importers from other billing systems."""
