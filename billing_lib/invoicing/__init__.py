"""Making and sending invoices: generate a month, its documents (HTML, PDF), the pre-billing review and
delivery."""
