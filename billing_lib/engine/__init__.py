"""The billing engine: rating contracts into expected charges, and applying cash to invoices."""
