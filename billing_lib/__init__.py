"""billing_lib: load, rate, verify and report on billing data (see README.md)."""
from .dataset import Dataset
from .errors import BillingInputError, DatasetError, ParameterError, Problem
from .loading import load_dataset

__version__ = "0.1.0"
__all__ = ["Dataset", "BillingInputError", "DatasetError", "ParameterError", "Problem", "load_dataset",
           "__version__"]
