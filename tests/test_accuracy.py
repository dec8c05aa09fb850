"""Recall and precision of the check catalogue on synthetic datasets with planted mistakes.

Acceptance: every planted mistake is found by its check (recall >= 0.98) and at least 98% of the errors
and warnings point at a planted mistake (precision), over several seeds; the legitimate hard cases of the
generator (JPY and KWD, tax-exempt customers, 100% discounts, negotiated prices, leap-year February,
voided and re-issued invoices, hostile names) produce no findings.
"""
from __future__ import annotations

import polars as pl
import pytest

from billing_lib.data.loading import load_dataset
from billing_lib.synth import synthesize
from billing_lib.synth.scoring import score
from billing_lib.verification import verify

SEEDS = [1, 2, 3, 11]


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{s}" for s in SEEDS])
def test_every_planted_mistake_is_found_and_findings_point_at_them(tmp_path, seed):
    # one plain test per seed: a module-scoped parametrized fixture tripped an internal assertion of
    # pytest 9 (`assert not self._finalizers`) in some full-suite orders
    synthesize(tmp_path, seed=seed, customers=80, months=6, anomaly_rate=0.04)
    result = verify(load_dataset(tmp_path))
    truth = pl.read_csv(tmp_path / "ground_truth.csv", infer_schema=False)
    s = score(result.exceptions, truth)
    assert truth["check"].n_unique() == 18, "every check of the catalogue is planted"
    assert s.recall >= 0.98, s.missed.to_dicts()
    assert (s.per_check["recall"] >= 0.98).all(), s.per_check.to_dicts()
    assert s.precision >= 0.98, s.unexplained.select("check", "invoice_id", "message").to_dicts()


def test_scoring_counts_a_miss_and_a_false_alarm():
    truth = pl.DataFrame({"anomaly": ["x", "y"], "check": ["price_mismatch", "unbilled_charge"],
                          "invoice_id": ["INV-1", ""], "line_no": ["2", ""], "subscription_id": ["S1", "S9"],
                          "payment_id": ["", ""], "period": ["2024-01", "2024-02"]})
    exc = pl.DataFrame({"check": ["price_mismatch", "tax_mismatch"], "severity": ["error", "error"],
                        "invoice_id": ["INV-1", "INV-7"], "line_no": [2, 1], "subscription_id": ["S1", "S3"],
                        "payment_id": [None, None], "period": ["2024-01", "2024-01"]})
    s = score(exc, truth)
    assert s.recall == 0.5 and s.missed["check"].to_list() == ["unbilled_charge"]
    assert s.precision == 0.5 and s.unexplained["invoice_id"].to_list() == ["INV-7"]


def test_sharded_run_equals_whole_run(tmp_path):
    from billing_lib.verification import customer_shards, verify_sharded
    synthesize(tmp_path, seed=4, customers=50, months=4, anomaly_rate=0.05)
    ds = load_dataset(tmp_path)
    whole = verify(ds).exceptions
    assert len(customer_shards(ds, 3)) == 3
    sharded = verify_sharded(ds, 3).exceptions
    assert whole.height > 0
    assert sharded.equals(whole)
