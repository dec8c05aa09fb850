"""Foundations every other part stands on: money, currencies, exchange rates, periods, invoice numbers,
safe output."""
