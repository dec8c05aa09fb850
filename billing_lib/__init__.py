"""billing_lib: load, rate, verify and report on billing data (see README.md)."""
from billing_lib.data.dataset import Dataset
from billing_lib.data.loading import load_dataset
from billing_lib.errors import BillingInputError, DatasetError, ParameterError, Problem

__version__ = "0.1.0"
__all__ = ["Dataset", "BillingInputError", "DatasetError", "ParameterError", "Problem", "load_dataset",
           "__version__"]
