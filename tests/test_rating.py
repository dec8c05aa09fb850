"""Hand-computed tests of the rating engine (``billing_lib.engine.rating.expected_charges``).

Every expected figure below was worked out by hand from the data contract and
is written as a literal, with the arithmetic in a comment beside it. The
fixtures are tiny CSV datasets written with ``helpers.write_dataset``.

Base dataset (tests/helpers.py): customer C1 in DE, EUR, 30 days terms, not
exempt; plan SEAT (EUR, recurring, month, per_unit 10.00); subscription S1 of
C1 on SEAT, 3 seats from 2024-01-01; DE tax 19 % since 2000-01-01.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from helpers import CUST_H, PLANS_H, SUBS_H, TAX_H, TIERS_H, USAGE_H, table, write_dataset

from billing_lib.core.currency import currency_digits_table, digits_by_membership, digits_expr, minor_digits
from billing_lib.core.money import DECIMAL, round_money, to_text
from billing_lib.data.loading import load_dataset
from billing_lib.engine.rating import expected_charges

JAN, FEB, MAR = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)


def D(text: str) -> Decimal:
    return Decimal(text)


def rate(tmp_path: Path, months: list[dt.date], **tables: str) -> list[dict]:
    """Write the dataset, load it, rate ``months``; the charges as dicts (Decimal money)."""
    folder = write_dataset(tmp_path / "data", **tables)
    ds = load_dataset(folder)
    return expected_charges(ds, months).collect().to_dicts()


def only(charges: list[dict], **match) -> dict:
    """The single charge matching every ``column=value`` given."""
    hits = [c for c in charges if all(c[k] == v for k, v in match.items())]
    assert len(hits) == 1, f"expected one charge matching {match}, got {len(hits)}: {charges}"
    return hits[0]


def assert_money(charge: dict, *, amount: str, discount: str = "0", tax_amount: str, total: str,
                 tax_rate_pct: str | None = None) -> None:
    got = {k: charge[k] for k in ("amount", "discount", "tax_amount", "total")}
    want = {"amount": D(amount), "discount": D(discount), "tax_amount": D(tax_amount), "total": D(total)}
    assert got == want, f"{got} != {want}"
    if tax_rate_pct is not None:
        assert charge["tax_rate_pct"] == D(tax_rate_pct)


def one_plan(plan_row: str, sub_row: str, *, tiers: list[str] | None = None,
             usage: list[str] | None = None) -> dict[str, str]:
    out = {"plans": table(PLANS_H, plan_row), "subscriptions": table(SUBS_H, sub_row)}
    if tiers is not None:
        out["plan_tiers"] = table(TIERS_H, *tiers)
    if usage is not None:
        out["usage"] = table(USAGE_H, *usage)
    return out


def usage_events(sub: str, *quantities: str, day: str = "2024-01-15") -> list[str]:
    return [f"E{i},{sub},{day}T12:00:00Z,{q}" for i, q in enumerate(quantities, 1)]


# ---------------------------------------------------------------------------------------------
# flat and per_unit, recurring and usage

def test_per_unit_recurring_full_month_base_dataset(tmp_path):
    c = only(rate(tmp_path, [JAN]), subscription_id="S1")
    # 3 seats x 10.00 = 30.00; tax 30.00 x 19% = 5.70; total 35.70
    assert_money(c, amount="30.00", tax_amount="5.70", total="35.70", tax_rate_pct="19")
    assert c["quantity"] == D("3") and c["unit_price"] == D("10.00")
    assert c["kind"] == "recurring" and c["charge_model"] == "per_unit"
    assert (c["service_start"], c["service_end"]) == (dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert c["prorated"] is False
    assert c["issue_date"] == dt.date(2024, 2, 1)
    assert c["due_date"] == dt.date(2024, 3, 2)  # 2024-02-01 + 30 days (February 2024 has 29)
    assert c["currency"] == "EUR" and c["customer_id"] == "C1"


def test_flat_recurring_ignores_seats(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "FLAT,EUR,Base,recurring,month,flat,49.90,,,,",
        "S1,C1,FLAT,5,2024-01-01,,,"))
    c = only(charges, subscription_id="S1")
    # flat: 49.90 whatever the 5 seats; tax 49.90 x 0.19 = 9.481 -> 9.48; total 59.38
    assert_money(c, amount="49.90", tax_amount="9.48", total="59.38")
    assert c["quantity"] == D("1") and c["unit_price"] == D("49.90")


def test_per_unit_recurring_zero_seats_costs_nothing(tmp_path):
    charges = rate(tmp_path, [JAN], subscriptions=table(SUBS_H, "S1,C1,SEAT,0,2024-01-01,,,"))
    c = only(charges, subscription_id="S1")
    # 0 x 10.00 = 0
    assert_money(c, amount="0", tax_amount="0", total="0")
    assert c["quantity"] == D("0")


def test_per_unit_usage_fractional_quantities(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "API,EUR,API calls,usage,month,per_unit,0.015,,,,",
        "S1,C1,API,,2024-01-01,,,",
        usage=usage_events("S1", "100.5", "200")))
    c = only(charges, subscription_id="S1")
    # (100.5 + 200) = 300.5 units x 0.015 = 4.5075 -> 4.51; tax 4.51 x 0.19 = 0.8569 -> 0.86; total 5.37
    assert_money(c, amount="4.51", tax_amount="0.86", total="5.37")
    assert c["quantity"] == D("300.5") and c["unit_price"] == D("0.015")
    assert c["kind"] == "usage" and c["event_count"] == 2


def test_per_unit_usage_without_events_is_zero(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "API,EUR,API calls,usage,month,per_unit,0.015,,,,",
        "S1,C1,API,,2024-01-01,,,",
        usage=[]))
    c = only(charges, subscription_id="S1")
    assert_money(c, amount="0", tax_amount="0", total="0")
    assert c["quantity"] == D("0") and c["event_count"] == 0


def test_flat_usage_plan_charges_the_fee_without_usage_and_is_not_prorated(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "PLAT,EUR,Platform,usage,month,flat,15.00,,,,",
        "S1,C1,PLAT,,2024-01-20,,,"))
    c = only(charges, subscription_id="S1")
    # flat 15.00 whatever q (q = 0 here); usage is never prorated even if it starts on the 20th
    # tax 15.00 x 0.19 = 2.85; total 17.85
    assert_money(c, amount="15.00", tax_amount="2.85", total="17.85")
    assert c["quantity"] == D("1") and c["prorated"] is False


# ---------------------------------------------------------------------------------------------
# graduated and volume tiers
#   tier 1: up to 100 at 1.00, flat fee 5
#   tier 2: 100 < q <= 500 at 0.50, flat fee 10
#   tier 3: above 500 at 0.25, flat fee 20

TIERS = ["{p},EUR,1,100,1.00,5", "{p},EUR,2,500,0.50,10", "{p},EUR,3,,0.25,20"]

GRADUATED = [
    ("0", "0"),            # nothing used: no units, no tier fee
    ("0.5", "5.50"),       # 0.5 x 1.00 + fee 5
    ("100", "105.00"),     # 100 x 1.00 + 5 (tier 2 receives no unit: no fee)
    ("100.5", "115.25"),   # 100 + 5 + 0.5 x 0.50 + 10
    ("101", "115.50"),     # 100 + 5 + 1 x 0.50 + 10
    ("500", "315.00"),     # 100 + 5 + 400 x 0.50 + 10
    ("501", "335.25"),     # 315 + 1 x 0.25 + 20
    ("1000", "460.00"),    # 315 + 500 x 0.25 + 20
]
VOLUME = [
    ("0", "0"),            # q = 0 costs nothing
    ("0.5", "5.50"),       # 0.5 x 1.00 + 5
    ("100", "105.00"),     # q exactly at up_to stays in tier 1: 100 x 1.00 + 5
    ("100.5", "60.25"),    # tier 2 holds 100.5: 100.5 x 0.50 + 10
    ("101", "60.50"),      # 101 x 0.50 + 10
    ("500", "260.00"),     # 500 x 0.50 + 10
    ("501", "145.25"),     # tier 3: 501 x 0.25 + 20
    ("1000", "270.00"),    # 1000 x 0.25 + 20
]


@pytest.mark.parametrize("model,q,amount", [("graduated", q, a) for q, a in GRADUATED]
                         + [("volume", q, a) for q, a in VOLUME])
def test_tiered_usage(tmp_path, model, q, amount):
    charges = rate(tmp_path, [JAN], **one_plan(
        f"TIER,EUR,Tiered,usage,month,{model},,,,,",
        "S1,C1,TIER,,2024-01-01,,,",
        tiers=[t.format(p="TIER") for t in TIERS],
        usage=usage_events("S1", q) if q != "0" else []))
    c = only(charges, subscription_id="S1")
    assert c["amount"] == D(amount)
    assert c["quantity"] == D(q)
    assert c["unit_price"] is None  # tiered lines show no unit price


@pytest.mark.parametrize("model,q,amount", [("graduated", q, a) for q, a in GRADUATED]
                         + [("volume", q, a) for q, a in VOLUME])
def test_tiered_recurring_on_seats(tmp_path, model, q, amount):
    charges = rate(tmp_path, [JAN], **one_plan(
        f"TIER,EUR,Tiered,recurring,month,{model},,,,,",
        f"S1,C1,TIER,{q},2024-01-01,,,",
        tiers=[t.format(p="TIER") for t in TIERS]))
    c = only(charges, subscription_id="S1")
    assert c["amount"] == D(amount)
    assert c["quantity"] == D(q) and c["unit_price"] is None


def test_graduated_usage_summed_over_events_full_figures(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "TIER,EUR,Tiered,usage,month,graduated,,,,,",
        "S1,C1,TIER,,2024-01-01,,10,",
        tiers=[t.format(p="TIER") for t in TIERS],
        usage=usage_events("S1", "60", "60.25")))
    c = only(charges, subscription_id="S1")
    # q = 60 + 60.25 = 120.25: 100 x 1.00 + 5 + 20.25 x 0.50 + 10 = 125.125 -> 125.13
    # discount 10% of 125.13 = 12.513 -> 12.51; tax (125.13 - 12.51) x 0.19 = 21.3978 -> 21.40
    # total 125.13 - 12.51 + 21.40 = 134.02
    assert_money(c, amount="125.13", discount="12.51", tax_amount="21.40", total="134.02")
    assert c["quantity"] == D("120.25")


def test_tiers_without_flat_fee_column(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "TIER,EUR,Tiered,recurring,month,graduated,,,,,",
        "S1,C1,TIER,15,2024-01-01,,,",
        tiers=["TIER,EUR,1,10,2.00", "TIER,EUR,2,,1.00"]) | {
        "plan_tiers": "plan_id,currency,tier,up_to,unit_price\nTIER,EUR,1,10,2.00\nTIER,EUR,2,,1.00\n"})
    # 10 x 2.00 + 5 x 1.00 = 25.00 (flat_fee absent means 0)
    assert only(charges, subscription_id="S1")["amount"] == D("25.00")


# ---------------------------------------------------------------------------------------------
# package

@pytest.mark.parametrize("q,packages,amount", [
    ("0", 0, "0"),         # nothing used
    ("500", 0, "0"),       # all within the 500 free units
    ("500.5", 1, "25.00"),  # ceil(0.5 / 1000) = 1 package x 25.00
    ("1500", 1, "25.00"),  # ceil(1000 / 1000) = 1
    ("1501", 2, "50.00"),  # ceil(1001 / 1000) = 2
    ("3499.9", 3, "75.00"),  # ceil(2999.9 / 1000) = 3
])
def test_package_usage_with_free_units(tmp_path, q, packages, amount):
    charges = rate(tmp_path, [JAN], **one_plan(
        "PKG,EUR,SMS,usage,month,package,25.00,1000,500,,",
        "S1,C1,PKG,,2024-01-01,,,",
        usage=usage_events("S1", q) if q != "0" else []))
    c = only(charges, subscription_id="S1")
    assert c["amount"] == D(amount)
    # a package line shows quantity = units and unit_price = the price of one package
    assert c["quantity"] == D(q) and c["unit_price"] == D("25.00")


def test_package_recurring_without_free_units(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "PKG,EUR,Seat packs,recurring,month,package,25.00,10,,,",
        "S1,C1,PKG,25,2024-01-01,,,"))
    c = only(charges, subscription_id="S1")
    # ceil(25 / 10) = 3 packages x 25.00 = 75.00; tax 75 x 0.19 = 14.25; total 89.25
    assert_money(c, amount="75.00", tax_amount="14.25", total="89.25")
    assert c["quantity"] == D("25")


def test_package_override_price_per_package(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "PKG,EUR,SMS,usage,month,package,25.00,100,,,",
        "S1,C1,PKG,,2024-01-01,,,19.99",
        usage=usage_events("S1", "100", "1")))
    c = only(charges, subscription_id="S1")
    # ceil(101 / 100) = 2 packages x 19.99 (override) = 39.98
    assert c["amount"] == D("39.98") and c["unit_price"] == D("19.99")


# ---------------------------------------------------------------------------------------------
# percentage

def test_percentage_rate_and_fixed_fee_per_event(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "PAY,EUR,Payments,usage,month,percentage,,,,2.9,0.30",
        "S1,C1,PAY,,2024-01-01,,,",
        usage=usage_events("S1", "100.00", "250.50", "49.50")))
    c = only(charges, subscription_id="S1")
    # sum 400.00 x 2.9% = 11.60; 3 events x 0.30 = 0.90; amount 12.50
    # tax 12.50 x 0.19 = 2.375 -> 2.38 (half away from zero); total 14.88
    assert_money(c, amount="12.50", tax_amount="2.38", total="14.88")
    assert c["quantity"] == D("400.00")  # the summed transaction amounts
    assert c["unit_price"] is None and c["event_count"] == 3


def test_percentage_rounds_once(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "PAY,EUR,Payments,usage,month,percentage,,,,2.9,0.30",
        "S1,C1,PAY,,2024-01-01,,,",
        usage=usage_events("S1", "33.33", "10.01")))
    # (33.33 + 10.01) = 43.34 x 2.9% = 1.25686; + 2 x 0.30 = 1.85686 -> 1.86
    # (rounding per event would give 0.97 + 0.29 + 0.60 = 1.86 too; per-event fee is not rounded away)
    assert only(charges, subscription_id="S1")["amount"] == D("1.86")


def test_percentage_without_fixed_fee_and_no_events(tmp_path):
    plan = "PAY,EUR,Payments,usage,month,percentage,,,,1.5,"
    c = only(rate(tmp_path / "a", [JAN], **one_plan(plan, "S1,C1,PAY,,2024-01-01,,,",
                                                     usage=usage_events("S1", "1000"))), subscription_id="S1")
    assert c["amount"] == D("15.00")  # 1000 x 1.5% = 15.00; empty fixed_fee = 0
    c = only(rate(tmp_path / "b", [JAN], **one_plan(plan, "S1,C1,PAY,,2024-01-01,,,", usage=[])),
             subscription_id="S1")
    assert c["amount"] == D("0") and c["event_count"] == 0


# ---------------------------------------------------------------------------------------------
# override and discount

def test_unit_price_override_replaces_plan_price(tmp_path):
    charges = rate(tmp_path, [JAN], subscriptions=table(SUBS_H, "S1,C1,SEAT,3,2024-01-01,,,8.50"))
    c = only(charges, subscription_id="S1")
    # 3 x 8.50 = 25.50; tax 25.50 x 0.19 = 4.845 -> 4.85; total 30.35
    assert_money(c, amount="25.50", tax_amount="4.85", total="30.35")
    assert c["unit_price"] == D("8.50")


def test_unit_price_override_of_zero_is_set_not_empty(tmp_path):
    charges = rate(tmp_path, [JAN], subscriptions=table(SUBS_H, "S1,C1,SEAT,3,2024-01-01,,,0"))
    c = only(charges, subscription_id="S1")
    # override 0 (set, unlike an empty cell): 3 x 0 = 0
    assert_money(c, amount="0", tax_amount="0", total="0")
    assert c["unit_price"] == D("0")


def test_flat_override(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "FLAT,EUR,Base,recurring,month,flat,49.90,,,,",
        "S1,C1,FLAT,1,2024-01-01,,,39.00"))
    c = only(charges, subscription_id="S1")
    # 39.00; tax 7.41; total 46.41
    assert_money(c, amount="39.00", tax_amount="7.41", total="46.41")


def test_discount_pct(tmp_path):
    charges = rate(tmp_path, [JAN], subscriptions=table(SUBS_H, "S1,C1,SEAT,3,2024-01-01,,15,"))
    c = only(charges, subscription_id="S1")
    # 30.00; discount 15% = 4.50; tax (30.00 - 4.50) x 0.19 = 4.845 -> 4.85; total 25.50 + 4.85 = 30.35
    assert_money(c, amount="30.00", discount="4.50", tax_amount="4.85", total="30.35")
    assert c["discount_pct"] == D("15")


def test_full_discount(tmp_path):
    charges = rate(tmp_path, [JAN], subscriptions=table(SUBS_H, "S1,C1,SEAT,3,2024-01-01,,100,"))
    c = only(charges, subscription_id="S1")
    # 100% off: the line keeps its amount and an equal discount; nothing taxed
    assert_money(c, amount="30.00", discount="30.00", tax_amount="0", total="0")


def test_discount_on_rounded_amount_and_tax_on_rounded_net(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "ODD,EUR,Odd,recurring,month,per_unit,3.335,,,,",
        "S1,C1,ODD,11,2024-01-01,,50,"))
    c = only(charges, subscription_id="S1")
    # amount 11 x 3.335 = 36.685 -> 36.69
    # discount 50% of the ROUNDED 36.69 = 18.345 -> 18.35 (of the unrounded 36.685 it would be 18.34)
    # tax (36.69 - 18.35) = 18.34 x 0.19 = 3.4846 -> 3.48 (unrounded chain: 18.3425 x 0.19 = 3.485 -> 3.49)
    # total 36.69 - 18.35 + 3.48 = 21.82
    assert_money(c, amount="36.69", discount="18.35", tax_amount="3.48", total="21.82")


# ---------------------------------------------------------------------------------------------
# proration

@pytest.mark.parametrize("start,end,month,days,dim,service,amount", [
    # start mid-January (31 days): 10th..31st = 22 days; 30.00 x 22 / 31 = 21.290.. -> 21.29
    # (rounding the daily rate first would give 0.97 x 22 = 21.34)
    ("2024-01-10", "", JAN, 22, 31, ("2024-01-10", "2024-01-31"), "21.29"),
    # end mid-January: 1st..20th = 20 days; 30 x 20 / 31 = 19.354.. -> 19.35
    ("2023-06-01", "2024-01-20", JAN, 20, 31, ("2024-01-01", "2024-01-20"), "19.35"),
    # both in January: 10th..20th = 11 days; 30 x 11 / 31 = 10.645.. -> 10.65
    ("2024-01-10", "2024-01-20", JAN, 11, 31, ("2024-01-10", "2024-01-20"), "10.65"),
    # one single day: 30 / 31 = 0.9677.. -> 0.97
    ("2024-01-31", "", JAN, 1, 31, ("2024-01-31", "2024-01-31"), "0.97"),
    # leap February 2024 (29 days): 15th..29th = 15 days; 30 x 15 / 29 = 15.517.. -> 15.52
    ("2024-02-15", "", FEB, 15, 29, ("2024-02-15", "2024-02-29"), "15.52"),
    # February 2023 (28 days): 15th..28th = 14 days; 30 x 14 / 28 = 15.00
    ("2023-02-15", "", dt.date(2023, 2, 1), 14, 28, ("2023-02-15", "2023-02-28"), "15.00"),
    # ends on the last day of leap February: 1st..28th = 28 days of 29; 30 x 28 / 29 = 28.965.. -> 28.97
    ("2023-12-01", "2024-02-28", FEB, 28, 29, ("2024-02-01", "2024-02-28"), "28.97"),
])
def test_proration_by_active_days(tmp_path, start, end, month, days, dim, service, amount):
    charges = rate(tmp_path, [month], subscriptions=table(SUBS_H, f"S1,C1,SEAT,3,{start},{end},,"))
    c = only(charges, subscription_id="S1")
    assert c["amount"] == D(amount)
    assert c["prorated"] is True
    assert (c["active_days"], c["days_in_month"]) == (days, dim)
    assert (c["service_start"], c["service_end"]) == tuple(dt.date.fromisoformat(s) for s in service)
    # a prorated line shows the unprorated quantity and unit_price
    assert c["quantity"] == D("3") and c["unit_price"] == D("10.00")
    assert c["full_amount"] == D("30.00")


def test_proration_full_month_edges_are_not_prorated(tmp_path):
    # active exactly 2024-03-01..2024-03-31 (a 31-day month): the whole month, no proration
    charges = rate(tmp_path, [FEB, MAR, dt.date(2024, 4, 1)],
                   subscriptions=table(SUBS_H, "S1,C1,SEAT,3,2024-03-01,2024-03-31,,"))
    assert [c["period"] for c in charges] == [MAR]  # nothing before the start or after the end
    c = charges[0]
    assert c["amount"] == D("30.00") and c["prorated"] is False and c["active_days"] == 31


def test_tiered_recurring_is_prorated_on_its_full_charge(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "TIER,EUR,Tiered,recurring,month,graduated,,,,,",
        "S1,C1,TIER,101,2024-01-10,,,",
        tiers=[t.format(p="TIER") for t in TIERS]))
    c = only(charges, subscription_id="S1")
    # full month: 100 x 1.00 + 5 + 1 x 0.50 + 10 = 115.50; 10th..31st = 22 days
    # 115.50 x 22 / 31 = 81.967.. -> 81.97
    assert c["amount"] == D("81.97") and c["full_amount"] == D("115.50") and c["prorated"] is True


def test_usage_events_of_a_recurring_plan_do_not_change_its_quantity(tmp_path):
    charges = rate(tmp_path, [JAN], usage=table(USAGE_H, "E1,S1,2024-01-15T00:00:00Z,99"))
    c = only(charges, subscription_id="S1")
    assert c["quantity"] == D("3") and c["amount"] == D("30.00")  # seats, not usage


def test_proration_then_discount_then_tax(tmp_path):
    charges = rate(tmp_path, [dt.date(2024, 4, 1)], **one_plan(
        "FLAT,EUR,Base,recurring,month,flat,49.90,,,,",
        "S1,C1,FLAT,1,2024-04-16,,20,"))
    c = only(charges, subscription_id="S1")
    # April has 30 days; 16th..30th = 15 days: 49.90 x 15 / 30 = 24.95
    # discount 20% of 24.95 = 4.99; tax (24.95 - 4.99) = 19.96 x 0.19 = 3.7924 -> 3.79; total 23.75
    assert_money(c, amount="24.95", discount="4.99", tax_amount="3.79", total="23.75")
    assert c["quantity"] == D("1") and c["unit_price"] == D("49.90")


def test_several_months_each_prorated_on_its_own(tmp_path):
    charges = rate(tmp_path, [JAN, FEB, MAR],
                   subscriptions=table(SUBS_H, "S1,C1,SEAT,3,2024-01-17,2024-03-05,,"))
    by_month = {c["period"]: c for c in charges}
    assert sorted(by_month) == [JAN, FEB, MAR]
    assert by_month[JAN]["amount"] == D("14.52")  # 17th..31st = 15 days: 30 x 15 / 31 = 14.516.. -> 14.52
    assert by_month[FEB]["amount"] == D("30.00")  # whole leap February
    assert by_month[MAR]["amount"] == D("4.84")   # 1st..5th = 5 days: 30 x 5 / 31 = 4.838.. -> 4.84


# ---------------------------------------------------------------------------------------------
# year terms

ANNUAL = "ANN,EUR,Annual,recurring,year,per_unit,120.00,,,,"


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    out, cur = [], first
    while cur <= last:
        out.append(cur)
        cur = dt.date(cur.year + cur.month // 12, cur.month % 12 + 1, 1)
    return out


def test_year_term_billed_whole_in_start_month_and_on_anniversary(tmp_path):
    charges = rate(tmp_path, months_between(dt.date(2024, 1, 1), dt.date(2025, 6, 1)),
                   **one_plan(ANNUAL, "S1,C1,ANN,2,2024-03-15,,,"))
    # billed only in March 2024 (the start) and March 2025 (the first anniversary)
    assert [c["period"] for c in charges] == [MAR, dt.date(2025, 3, 1)]
    first, renewal = charges
    for c in charges:
        # 2 x 120.00 = 240.00, never prorated; tax 240 x 0.19 = 45.60; total 285.60
        assert_money(c, amount="240.00", tax_amount="45.60", total="285.60")
        assert c["kind"] == "year_term" and c["prorated"] is False
        assert c["quantity"] == D("2") and c["unit_price"] == D("120.00")
    assert (first["service_start"], first["service_end"]) == (dt.date(2024, 3, 15), dt.date(2025, 3, 14))
    assert (renewal["service_start"], renewal["service_end"]) == (dt.date(2025, 3, 15), dt.date(2026, 3, 14))
    assert first["issue_date"] == dt.date(2024, 4, 1)


def test_year_term_starting_on_leap_day(tmp_path):
    charges = rate(tmp_path, months_between(dt.date(2024, 1, 1), dt.date(2028, 3, 1)),
                   **one_plan(ANNUAL, "S1,C1,ANN,1,2024-02-29,,,"))
    # the anniversary of 2024-02-29 in a common year is 28 February; in 2028 it is 29 February again
    assert [c["period"] for c in charges] == [dt.date(y, 2, 1) for y in (2024, 2025, 2026, 2027, 2028)]
    spans = [(c["service_start"], c["service_end"]) for c in charges]
    assert spans == [
        (dt.date(2024, 2, 29), dt.date(2025, 2, 27)),
        (dt.date(2025, 2, 28), dt.date(2026, 2, 27)),
        (dt.date(2026, 2, 28), dt.date(2027, 2, 27)),
        (dt.date(2027, 2, 28), dt.date(2028, 2, 28)),
        (dt.date(2028, 2, 29), dt.date(2029, 2, 27)),
    ]
    assert all(c["amount"] == D("120.00") for c in charges)  # 1 x 120.00 each term


@pytest.mark.parametrize("end", ["2025-03-10", "2025-03-14"])
def test_year_term_ending_before_the_anniversary_does_not_renew(tmp_path, end):
    charges = rate(tmp_path, months_between(dt.date(2024, 1, 1), dt.date(2025, 12, 1)),
                   **one_plan(ANNUAL, f"S1,C1,ANN,2,2024-03-15,{end},,"))
    assert [c["period"] for c in charges] == [MAR]
    assert charges[0]["amount"] == D("240.00")  # the first term is still billed whole


def test_year_term_active_on_the_anniversary_renews(tmp_path):
    charges = rate(tmp_path, months_between(dt.date(2025, 1, 1), dt.date(2025, 12, 1)),
                   **one_plan(ANNUAL, "S1,C1,ANN,2,2024-03-15,2025-06-30,,"))
    # active on 2025-03-15: a new term starts and is billed whole, in advance
    assert [c["period"] for c in charges] == [dt.date(2025, 3, 1)]
    assert charges[0]["amount"] == D("240.00")


def test_year_term_flat_with_discount_in_jpy(tmp_path):
    charges = rate(tmp_path, [dt.date(2024, 5, 1)],
                   customers=table(CUST_H, "C1,Tanaka KK,,JP,JPY,30,false"),
                   plans=table(PLANS_H, "ANNF,JPY,Annual,recurring,year,flat,120000,,,,"),
                   subscriptions=table(SUBS_H, "S1,C1,ANNF,,2024-05-31,,12.5,"),
                   tax_rates=table(TAX_H, "JP,2019-10-01,,10"))
    c = only(charges, subscription_id="S1")
    # 120000 JPY; discount 12.5% = 15000; tax (105000) x 10% = 10500; total 115500
    assert_money(c, amount="120000", discount="15000", tax_amount="10500", total="115500")
    assert (c["service_start"], c["service_end"]) == (dt.date(2024, 5, 31), dt.date(2025, 5, 30))


# ---------------------------------------------------------------------------------------------
# usage: active days and UTC months

def test_usage_outside_active_days_is_not_billable(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "API,EUR,API calls,usage,month,per_unit,1.00,,,,",
        "S1,C1,API,,2024-01-10,2024-01-20,,",
        usage=["E1,S1,2024-01-09T23:59:59Z,1",    # the day before the start: out
               "E2,S1,2024-01-10T00:00:00Z,2",    # first active day: in
               "E3,S1,2024-01-20T23:59:59Z,4",    # last active day: in
               "E4,S1,2024-01-21T00:00:00Z,8"]))  # the day after the end: out
    c = only(charges, subscription_id="S1")
    # 2 + 4 = 6 units x 1.00 = 6.00 (never prorated); tax 1.14; total 7.14
    assert_money(c, amount="6.00", tax_amount="1.14", total="7.14")
    assert c["quantity"] == D("6") and c["event_count"] == 2
    assert (c["service_start"], c["service_end"]) == (dt.date(2024, 1, 10), dt.date(2024, 1, 20))


def test_usage_before_the_start_month_is_never_billed(tmp_path):
    charges = rate(tmp_path, [JAN, FEB], **one_plan(
        "API,EUR,API calls,usage,month,per_unit,1.00,,,,",
        "S1,C1,API,,2024-02-01,,,",
        usage=["E1,S1,2024-01-15T10:00:00Z,5", "E2,S1,2024-02-15T10:00:00Z,7"]))
    assert [c["period"] for c in charges] == [FEB]
    assert charges[0]["amount"] == D("7.00")


def test_usage_months_are_utc_months(tmp_path):
    charges = rate(tmp_path, [JAN, FEB], **one_plan(
        "API,EUR,API calls,usage,month,per_unit,0.01,,,,",
        "S1,C1,API,,2024-01-01,,,",
        usage=["E1,S1,2024-01-31T23:30:00-02:00,1",      # = 2024-02-01 01:30 UTC: February
               "E2,S1,2024-02-01T00:30:00+01:00,10",     # = 2024-01-31 23:30 UTC: January
               "E3,S1,2024-01-15T10:00:00Z,100",         # UTC
               "E4,S1,2024-01-20 08:15:00,1000",         # no offset: UTC
               "E5,S1,2024-02-29T23:59:59+00:00,10000"]))  # leap day, February
    by_month = {c["period"]: c for c in charges}
    # January: 10 + 100 + 1000 = 1110 units x 0.01 = 11.10
    assert by_month[JAN]["quantity"] == D("1110") and by_month[JAN]["amount"] == D("11.10")
    # February: 1 + 10000 = 10001 units x 0.01 = 100.01
    assert by_month[FEB]["quantity"] == D("10001") and by_month[FEB]["amount"] == D("100.01")


def test_usage_active_day_is_the_utc_day(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "API,EUR,API calls,usage,month,per_unit,1.00,,,,",
        "S1,C1,API,,2024-01-10,2024-01-20,,",
        usage=["E1,S1,2024-01-21T00:30:00+01:00,1",     # = 2024-01-20 23:30 UTC: last active day, in
               "E2,S1,2024-01-09T23:30:00-01:00,2"]))  # = 2024-01-10 00:30 UTC: first active day, in
    assert only(charges, subscription_id="S1")["quantity"] == D("3")


# ---------------------------------------------------------------------------------------------
# tax

def test_tax_rate_in_force_on_the_issue_date(tmp_path):
    taxes = table(TAX_H, "DE,2000-01-01,2024-06-30,19", "DE,2024-07-01,,16")
    charges = rate(tmp_path, [dt.date(2024, 5, 1), dt.date(2024, 6, 1), dt.date(2024, 7, 1)], tax_rates=taxes)
    by_month = {c["period"]: c for c in charges}
    # May is issued 2024-06-01: 19% of 30.00 = 5.70
    assert_money(by_month[dt.date(2024, 5, 1)], amount="30.00", tax_amount="5.70", total="35.70",
                 tax_rate_pct="19")
    # June is issued 2024-07-01, when 16% is in force (though the service was in June): 4.80
    assert_money(by_month[dt.date(2024, 6, 1)], amount="30.00", tax_amount="4.80", total="34.80",
                 tax_rate_pct="16")
    assert_money(by_month[dt.date(2024, 7, 1)], amount="30.00", tax_amount="4.80", total="34.80",
                 tax_rate_pct="16")


def test_tax_valid_to_is_inclusive(tmp_path):
    taxes = table(TAX_H, "DE,2000-01-01,2024-07-01,19", "DE,2024-07-02,,16")
    charges = rate(tmp_path, [dt.date(2024, 6, 1), dt.date(2024, 7, 1)], tax_rates=taxes)
    by_month = {c["period"]: c["tax_rate_pct"] for c in charges}
    # June is issued on 2024-07-01, the last day of the 19% rate; July on 2024-08-01
    assert by_month == {dt.date(2024, 6, 1): D("19"), dt.date(2024, 7, 1): D("16")}


def test_tax_by_country(tmp_path):
    charges = rate(tmp_path, [JAN],
                   customers=table(CUST_H, "C1,Acme,,DE,EUR,30,false", "C2,Dupont,,FR,EUR,0,false"),
                   subscriptions=table(SUBS_H, "S1,C1,SEAT,3,2024-01-01,,,", "S2,C2,SEAT,3,2024-01-01,,,"),
                   tax_rates=table(TAX_H, "DE,2000-01-01,,19", "FR,2000-01-01,,20"))
    assert_money(only(charges, subscription_id="S1"), amount="30.00", tax_amount="5.70", total="35.70")
    # FR 20% of 30.00 = 6.00
    c2 = only(charges, subscription_id="S2")
    assert_money(c2, amount="30.00", tax_amount="6.00", total="36.00", tax_rate_pct="20")
    assert c2["due_date"] == dt.date(2024, 2, 1)  # 0 days terms: due on the issue date


def test_tax_exempt_customer_has_rate_zero(tmp_path):
    charges = rate(tmp_path, [JAN], customers=table(CUST_H, "C1,Acme,,DE,EUR,30,true"))
    c = only(charges, subscription_id="S1")
    assert_money(c, amount="30.00", tax_amount="0", total="30.00", tax_rate_pct="0")


def test_country_without_tax_row(tmp_path):
    charges = rate(tmp_path, [JAN],
                   customers=table(CUST_H, "C1,Acme,,DE,EUR,30,false", "C2,Globex,,US,EUR,30,false"),
                   subscriptions=table(SUBS_H, "S1,C1,SEAT,3,2024-01-01,,,", "S2,C2,SEAT,3,2024-01-01,,,"))
    c = only(charges, subscription_id="S2")
    # no US rate at all: no tax is charged (and the engine flags the rate as unknown)
    assert_money(c, amount="30.00", tax_amount="0", total="30.00", tax_rate_pct="0")
    assert c["tax_rate_known"] is False
    assert only(charges, subscription_id="S1")["tax_rate_known"] is True


def test_tax_rate_not_yet_valid_is_not_applied(tmp_path):
    charges = rate(tmp_path, [JAN], tax_rates=table(TAX_H, "DE,2024-02-02,,19"))
    # January is issued 2024-02-01, one day before the only DE rate takes effect
    assert only(charges, subscription_id="S1")["tax_rate_pct"] == D("0")


# ---------------------------------------------------------------------------------------------
# rounding and currencies

def test_kill_bill_tax_case_rounds_half_away_from_zero(tmp_path):
    charges = rate(tmp_path, [JAN],
                   customers=table(CUST_H, "C1,Acme,,US,USD,30,false"),
                   plans=table(PLANS_H, "SEAT,USD,Seats,recurring,month,per_unit,5.00,,,,"),
                   subscriptions=table(SUBS_H, "S1,C1,SEAT,11,2024-01-01,,,"),
                   tax_rates=table(TAX_H, "US,2000-01-01,,6.7"))
    c = only(charges, subscription_id="S1")
    # 11 x 5.00 = 55.00; tax 55.00 x 6.7% = 3.685 -> 3.69 (banker's rounding would give 3.68)
    assert_money(c, amount="55.00", tax_amount="3.69", total="58.69")


def test_amount_rounds_half_away_from_zero(tmp_path):
    charges = rate(tmp_path, [JAN], **one_plan(
        "KB,EUR,KB,recurring,month,per_unit,0.067,,,,", "S1,C1,KB,55,2024-01-01,,,"))
    c = only(charges, subscription_id="S1")
    # 55 x 0.067 = 3.685 -> 3.69; tax 3.69 x 0.19 = 0.7011 -> 0.70; total 4.39
    assert_money(c, amount="3.69", tax_amount="0.70", total="4.39")


def test_jpy_has_no_minor_unit(tmp_path):
    charges = rate(tmp_path, [JAN],
                   customers=table(CUST_H, "C1,Tanaka KK,,JP,JPY,30,false"),
                   plans=table(PLANS_H, "HALF,JPY,Half,recurring,month,per_unit,0.5,,,,",
                               "BIG,JPY,Big,recurring,month,per_unit,1234.5,,,,"),
                   subscriptions=table(SUBS_H, "S1,C1,HALF,5,2024-01-01,,,", "S2,C1,BIG,1,2024-01-01,,10,"),
                   tax_rates=table(TAX_H, "JP,2019-10-01,,10"))
    # 5 x 0.5 = 2.5 -> 3 JPY; tax 3 x 10% = 0.3 -> 0; total 3
    assert_money(only(charges, subscription_id="S1"), amount="3", tax_amount="0", total="3")
    # 1234.5 -> 1235; discount 10% of 1235 = 123.5 -> 124; tax (1235 - 124) = 1111 x 10% = 111.1 -> 111
    # total 1235 - 124 + 111 = 1222
    assert_money(only(charges, subscription_id="S2"), amount="1235", discount="124", tax_amount="111",
                 total="1222")


def test_jpy_proration_rounds_to_whole_yen(tmp_path):
    charges = rate(tmp_path, [JAN],
                   customers=table(CUST_H, "C1,Tanaka KK,,JP,JPY,30,false"),
                   plans=table(PLANS_H, "SEAT,JPY,Seats,recurring,month,per_unit,1000,,,,"),
                   subscriptions=table(SUBS_H, "S1,C1,SEAT,1,2024-01-10,,,"),
                   tax_rates=table(TAX_H, "JP,2019-10-01,,10"))
    # 1000 x 22 / 31 = 709.677.. -> 710; tax 71.0 -> 71; total 781
    assert_money(only(charges, subscription_id="S1"), amount="710", tax_amount="71", total="781")


def test_kwd_has_three_digits(tmp_path):
    charges = rate(tmp_path, [JAN],
                   customers=table(CUST_H, "C1,Al Kuwaiti,,KW,KWD,30,false"),
                   plans=table(PLANS_H, "SEAT,KWD,Seats,recurring,month,per_unit,1.2345,,,,"),
                   subscriptions=table(SUBS_H, "S1,C1,SEAT,1,2024-01-01,,,"),
                   tax_rates=table(TAX_H, "KW,2000-01-01,,5"))
    # 1.2345 -> 1.235 (three digits, half away from zero); tax 1.235 x 5% = 0.06175 -> 0.062
    # total 1.235 + 0.062 = 1.297
    assert_money(only(charges, subscription_id="S1"), amount="1.235", tax_amount="0.062", total="1.297")


def test_each_customer_rated_in_its_own_currency(tmp_path):
    charges = rate(tmp_path, [JAN],
                   customers=table(CUST_H, "C1,Acme,,DE,EUR,30,false", "C2,Tanaka,,JP,JPY,30,false"),
                   plans=table(PLANS_H, "SEAT,EUR,Seats,recurring,month,per_unit,10.00,,,,",
                               "SEAT,JPY,Seats,recurring,month,per_unit,1500,,,,"),
                   subscriptions=table(SUBS_H, "S1,C1,SEAT,3,2024-01-01,,,", "S2,C2,SEAT,3,2024-01-01,,,"),
                   tax_rates=table(TAX_H, "DE,2000-01-01,,19", "JP,2019-10-01,,10"))
    assert only(charges, subscription_id="S1")["amount"] == D("30.00")
    c2 = only(charges, subscription_id="S2")
    # 3 x 1500 JPY = 4500; tax 450; total 4950
    assert_money(c2, amount="4500", tax_amount="450", total="4950")
    assert c2["currency"] == "JPY"


# ---------------------------------------------------------------------------------------------
# money and currency helpers

def test_minor_digits_come_from_iso_4217():
    assert minor_digits("USD") == 2
    assert minor_digits("EUR") == 2
    assert minor_digits("JPY") == 0
    assert minor_digits("KWD") == 3
    assert minor_digits("CLF") == 4
    with pytest.raises(ValueError, match="'XYZ' is not an ISO 4217 currency code"):
        minor_digits("XYZ")


ROUNDING = [
    ("3.685", "USD", "3.69", "3.69"),       # 0.067 x 55: half away from zero, not to even
    ("3.675", "USD", "3.68", "3.68"),
    ("-3.685", "USD", "-3.69", "-3.69"),    # away from zero on the negative side as well
    ("0.125", "EUR", "0.13", "0.13"),
    ("0.1249999", "EUR", "0.12", "0.12"),
    ("12.5", "USD", "12.50", "12.50"),
    ("0", "USD", "0", "0.00"),
    ("2.5", "JPY", "3", "3"),
    ("1.5", "JPY", "2", "2"),
    ("-2.5", "JPY", "-3", "-3"),
    ("1200", "JPY", "1200", "1200"),
    ("1.0005", "KWD", "1.001", "1.001"),
    ("1.125", "KWD", "1.125", "1.125"),
    ("1.00005", "CLF", "1.0001", "1.0001"),
    ("1.5", "CLF", "1.5", "1.5000"),
]


def test_round_money_and_to_text():
    frame = pl.DataFrame({"amount": [a for a, *_ in ROUNDING], "currency": [c for _, c, *_ in ROUNDING]}) \
        .with_columns(pl.col("amount").cast(DECIMAL))
    out = frame.select(rounded=round_money(pl.col("amount"), pl.col("currency")),
                       text=to_text(pl.col("amount"), pl.col("currency")))
    assert out.schema["rounded"] == DECIMAL
    for (amount, cur, rounded, text), got_rounded, got_text in zip(ROUNDING, out["rounded"], out["text"], strict=True):
        assert got_rounded == D(rounded), (amount, cur, got_rounded)
        assert got_text == text, (amount, cur, got_text)


def test_to_text_keeps_nulls():
    frame = pl.DataFrame({"amount": [None, "1"], "currency": ["USD", "USD"]}) \
        .with_columns(pl.col("amount").cast(DECIMAL))
    out = frame.select(text=to_text(pl.col("amount"), pl.col("currency")))
    assert out["text"].to_list() == [None, "1.00"]


def test_digits_by_membership_is_digits_expr_for_every_code():
    codes = [*currency_digits_table(), "ZZZ", "usd", "", None]
    frame = pl.DataFrame({"currency": codes}, schema={"currency": pl.String})
    out = frame.select(table=digits_expr(pl.col("currency")), chain=digits_by_membership(pl.col("currency")))
    assert out["chain"].to_list() == out["table"].to_list()
    assert out["chain"].to_list()[-4:] == [None, None, None, None]
    assert out.filter(pl.col("table").is_not_null()).height == len(currency_digits_table())
