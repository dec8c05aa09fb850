"""Acceptance: for every kind of planted mistake the proposed correction equals the ground-truth difference.

The difference is computed independently of the library's correction logic: the same seed synthesized
with no mistakes (``anomaly_rate=0``) gives the clean invoices (matched by customer and month), and the
planted settlement mistakes are measured on the files themselves (a copied payment's amount, an
overpayment against the clean invoice's total, the ledger lines of a payment against its amount).
"""
from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from billing_lib.data.loading import load_dataset
from billing_lib.investigation.resolution import by_invoice, corrections, ledger_effect
from billing_lib.investigation.subject import investigate
from billing_lib.synth import synthesize

ZERO = Decimal(0)
INVOICE_SIDE = {"wrong_unit_price", "wrong_rated_amount", "wrong_quantity", "discount_left_off",
                "tax_on_exempt_customer", "old_tax_rate_after_change", "wrong_tax_rate", "tax_amount_miscomputed",
                "line_left_off", "line_billed_twice", "full_month_billed_outside_term",
                "line_for_unknown_subscription", "header_total_altered", "invoice_in_wrong_currency",
                "due_date_shifted", "paid_invoice_left_open", "open_invoice_marked_paid"}
SETTLEMENT = {"payment_recorded_twice", "invoice_overpaid", "payment_matching_no_invoice",
              "credit_note_exceeds_invoice", "payment_posted_with_other_amount", "invoice_not_posted",
              "invoice_number_skipped"}


def _read(folder, name) -> pl.DataFrame:
    return pl.read_csv(folder / f"{name}.csv", infer_schema_length=0)


def _dec(v) -> Decimal:
    return ZERO if v in (None, "") else Decimal(v)


@pytest.fixture(scope="module", params=[(7, 40), (23, 70)], ids=["seed7", "seed23"])
def pair(request, tmp_path_factory):
    seed, customers = request.param
    root = tmp_path_factory.mktemp(f"pair{seed}")
    synthesize(root / "dirty", seed=seed, customers=customers, months=6, anomaly_rate=0.05)
    synthesize(root / "clean", seed=seed, customers=customers, months=6, anomaly_rate=0.0)
    ds = load_dataset(root / "dirty")
    inv = investigate(ds, customer_id=_read(root / "dirty", "customers")["customer_id"][0])
    table = corrections(inv, inv.all_findings)
    ledger = ledger_effect(table)
    return root / "dirty", root / "clean", inv, table, ledger


def _live(folder) -> dict[tuple[str, str], dict]:
    inv = _read(folder, "invoices").filter(pl.col("status") != "void")
    return {(r["customer_id"], r["period_start"]): r for r in inv.iter_rows(named=True)}


def _findings_of(truth: dict, exc: pl.DataFrame) -> pl.DataFrame:
    same = exc.filter(pl.col("check") == truth["check"])
    if truth["invoice_id"]:
        same = same.filter(pl.col("invoice_id") == truth["invoice_id"])
        if truth["line_no"]:
            same = same.filter(pl.col("line_no") == int(truth["line_no"]))
        if truth["payment_id"]:
            same = same.filter(pl.col("payment_id") == truth["payment_id"])
    elif truth["subscription_id"]:
        same = same.filter((pl.col("subscription_id") == truth["subscription_id"])
                           & (pl.col("period") == truth["period"]))
    else:
        same = same.filter(pl.col("payment_id") == truth["payment_id"])
    return same


def _money(rows: pl.DataFrame) -> dict[str, tuple[Decimal, Decimal]]:
    """currency -> (total, tax), zero currencies left out."""
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for r in rows.iter_rows(named=True):
        if r["currency"] is None:
            continue
        t, x = out.get(r["currency"], (ZERO, ZERO))
        out[r["currency"]] = (t + r["total"], x + r["tax"])
    return {c: v for c, v in out.items() if v != (ZERO, ZERO)}


def _invoice_difference(dirty: dict, clean: dict) -> dict[str, tuple[Decimal, Decimal]]:
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for head, sign in ((clean, 1), (dirty, -1)):
        t, x = out.get(head["currency"], (ZERO, ZERO))
        out[head["currency"]] = (t + sign * _dec(head["total"]), x + sign * _dec(head["tax"]))
    return {c: v for c, v in out.items() if v != (ZERO, ZERO)}


def _truth_money(truth: dict, dirty_dir, clean_dir, dirty_inv, clean_inv) -> dict[str, tuple[Decimal, Decimal]]:
    """The ground-truth difference of one planted mistake, per currency: (total, tax) the customer owes more."""
    kind = truth["anomaly"]
    key = (truth["customer_id"], f"{truth['period']}-01")
    if kind in INVOICE_SIDE:
        return _invoice_difference(dirty_inv[key], clean_inv[key])
    pays = {r["payment_id"]: r for r in _read(dirty_dir, "payments").iter_rows(named=True)}
    if kind in ("payment_recorded_twice", "payment_matching_no_invoice"):
        p = pays[truth["payment_id"]]
        return {p["currency"]: (_dec(p["amount"]), ZERO)}
    if kind == "invoice_overpaid":
        p = pays[truth["payment_id"]]
        return {p["currency"]: (_dec(p["amount"]) - _dec(clean_inv[key]["total"]), ZERO)}
    if kind == "credit_note_exceeds_invoice":
        def credited(folder, invoice_id):
            notes = _read(folder, "credit_notes").filter(pl.col("invoice_id") == invoice_id)
            return (sum((_dec(a) + _dec(t) for a, t in zip(notes["amount"], notes["tax"], strict=True)), ZERO),
                    sum((_dec(t) for t in notes["tax"]), ZERO))
        d, c = credited(dirty_dir, dirty_inv[key]["invoice_id"]), credited(clean_dir, clean_inv[key]["invoice_id"])
        return {dirty_inv[key]["currency"]: (d[0] - c[0], d[1] - c[1])}
    assert kind in ("payment_posted_with_other_amount", "invoice_not_posted", "invoice_number_skipped"), kind
    return {}  # ledger and numbering mistakes change nothing the customer owes


def test_every_kind_of_planted_mistake_is_corrected_to_the_cent(pair):
    dirty_dir, clean_dir, inv, table, _ = pair
    truth = _read(dirty_dir, "ground_truth")
    assert set(truth["anomaly"]) <= INVOICE_SIDE | SETTLEMENT
    dirty_inv, clean_inv = _live(dirty_dir), _live(clean_dir)
    # an invoice can carry two planted mistakes (a dropped line and a flipped status): its difference
    # from the clean invoice is the sum of both corrections
    groups: dict[tuple, list[dict]] = {}
    for t in truth.iter_rows(named=True):
        key = ("invoice", t["customer_id"], t["period"]) if t["anomaly"] in INVOICE_SIDE else ("row", len(groups))
        groups.setdefault(key, []).append(t)
    kinds_checked = set()
    for rows in groups.values():
        ids: list[str] = []
        for t in rows:
            found = _findings_of(t, inv.all_findings)
            assert found.height >= 1, t
            ids += found["exception_id"].to_list()
            kinds_checked.add(t["anomaly"])
        proposed = _money(table.filter(pl.col("exception_id").is_in(ids)))
        expected = _truth_money(rows[0], dirty_dir, clean_dir, dirty_inv, clean_inv)
        assert proposed == expected, (rows, proposed, expected)
    # money-moving kinds are really exercised (not all zero)
    assert {"wrong_unit_price", "line_left_off", "line_billed_twice", "invoice_in_wrong_currency",
            "credit_note_exceeds_invoice", "invoice_overpaid", "payment_recorded_twice"} <= kinds_checked


def test_ledger_corrections_match_the_ledger_difference(pair):
    dirty_dir, clean_dir, inv, table, ledger = pair
    truth = _read(dirty_dir, "ground_truth").filter(pl.col("check") == "gl_mismatch")
    assert truth.height >= 1
    gl_dirty, gl_clean = _read(dirty_dir, "gl_entries"), _read(clean_dir, "gl_entries")
    pays = {r["payment_id"]: r for r in _read(dirty_dir, "payments").iter_rows(named=True)}
    dirty_inv, clean_inv = _live(dirty_dir), _live(clean_dir)

    def signed(gl: pl.DataFrame, source_type: str, source_id: str) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for r in gl.filter((pl.col("source_type") == source_type) & (pl.col("source_id") == source_id)).iter_rows(
                named=True):
            out[r["account"]] = out.get(r["account"], ZERO) + _dec(r["debit"]) - _dec(r["credit"])
        return out

    for t in truth.iter_rows(named=True):
        found = _findings_of(t, inv.all_findings)
        rows = ledger.filter(pl.col("exception_id").is_in(found["exception_id"].implode()))
        proposed = {r["account"]: (r["debit"] or ZERO) - (r["credit"] or ZERO) for r in rows.iter_rows(named=True)}
        if t["anomaly"] == "payment_posted_with_other_amount":
            amount = _dec(pays[t["payment_id"]]["amount"])
            posted = signed(gl_dirty, "payment", t["payment_id"])
            expected = {"1000": amount - posted["1000"], "1100": -amount - posted["1100"]}
        else:
            key = (t["customer_id"], f"{t['period']}-01")
            assert signed(gl_dirty, "invoice", dirty_inv[key]["invoice_id"]) == {}
            expected = signed(gl_clean, "invoice", clean_inv[key]["invoice_id"])
        assert proposed == {a: v for a, v in expected.items() if v != 0}, t


def test_every_correction_posts_a_balanced_entry_and_invoices_add_up(pair):
    _, _, _, table, ledger = pair
    sums = ledger.group_by("exception_id", "document", "currency").agg(
        pl.col("debit").fill_null(0).sum().alias("dr"), pl.col("credit").fill_null(0).sum().alias("cr"))
    assert sums.height > 0
    assert sums.filter(pl.col("dr") != pl.col("cr")).height == 0
    per_invoice = by_invoice(table)
    money = table.filter(pl.col("document").is_in(["credit note", "additional invoice"]))
    assert per_invoice["total"].sum() == money["total"].sum()
    assert (per_invoice["net"] + per_invoice["tax"] == per_invoice["total"]).all()
    assert set(per_invoice["document"]) <= {"credit note", "additional invoice", "none"}
    assert per_invoice.filter(pl.col("document") == "credit note")["total"].max() < 0


# the likely root cause each kind of planted mistake should be explained with
ROOT_CAUSE = {
    "wrong_unit_price": "price book", "wrong_rated_amount": ("price book", "manual edit"), "wrong_quantity": ("seat count", "missed usage"),
    "discount_left_off": "discount setup", "tax_on_exempt_customer": "tax setup",
    "old_tax_rate_after_change": "tax setup", "wrong_tax_rate": "tax setup", "tax_amount_miscomputed": "manual edit",
    "line_left_off": ("missed usage", "billing run"), "line_billed_twice": "duplicate run",
    "full_month_billed_outside_term": "proration", "line_for_unknown_subscription": "master data",
    "header_total_altered": "manual edit", "invoice_in_wrong_currency": "customer setup",
    "due_date_shifted": "customer setup", "paid_invoice_left_open": "status sync",
    "open_invoice_marked_paid": "status sync", "payment_recorded_twice": "cash application",
    "invoice_overpaid": "cash application", "payment_matching_no_invoice": "cash application",
    "credit_note_exceeds_invoice": "credit handling", "payment_posted_with_other_amount": "ledger posting",
    "invoice_not_posted": "ledger posting", "invoice_number_skipped": "numbering",
}


def test_each_kind_of_mistake_gets_its_likely_root_cause(pair):
    from billing_lib.investigation.explain import explanations
    dirty_dir, _, inv, _, _ = pair
    why = explanations(inv, inv.all_findings)
    truth = _read(dirty_dir, "ground_truth")
    for t in truth.iter_rows(named=True):
        ids = _findings_of(t, inv.all_findings)["exception_id"].to_list()
        causes = set(why.filter(pl.col("exception_id").is_in(ids))["likely_root_cause"])
        wanted = ROOT_CAUSE[t["anomaly"]]
        assert causes and causes <= set(wanted if isinstance(wanted, tuple) else (wanted,)), (t, causes)
        if t["anomaly"] == "old_tax_rate_after_change":
            assert "the rate change was not applied" in why.filter(pl.col("exception_id").is_in(ids))["because"][0]
