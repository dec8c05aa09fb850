"""Stripe's price book as the contract's: prices (and legacy plans) as plans and tiers, coupons as
discounts, tax rates as the tax table.

* A price becomes the plan row of its plan id and currency (one row per currency, ``currency_options``
  included): ``recurring.usage_type`` ``metered`` is a usage plan, else recurring; ``interval`` month or
  year (``interval_count`` 1); ``billing_scheme`` ``tiered`` is ``graduated`` or ``volume`` by
  ``tiers_mode`` with one ``plan_tiers`` row per tier (``up_to: null`` the last, ``flat_amount`` its fee);
  ``transform_quantity`` ``{divide_by, round: up}`` is the package model; else per unit.
  ``unit_amount_decimal`` (minor units, possibly finer than one) is the unit price, exactly.
* The plan id is the user's own key in ``metadata.plan_id``, else the price id. Several prices with one plan
  id and currency (a negotiated price beside the list price) share the plan: the first one read is the plan's
  price, and a subscription on another one gets that price as its ``unit_price_override``.
* A coupon with ``percent_off`` is a subscription's ``discount_pct``; ``amount_off`` has no place in the
  contract (it is noted and left out).
* A tax rate with a ``country`` (else a two-letter ``jurisdiction``) is a ``tax_rates`` row. Stripe rates
  carry no validity dates, so the rate in force comes from, in this order: ``metadata.valid_from`` /
  ``valid_to``; a country's only percentage, from 1970 on; archived rates (``active: false``) each replaced
  by the next one created; else, per month, the rate most of the country's taxable invoice lines charge (a
  rate charged by mistake is a minority and is then reported). Rates of a state (US sales tax), or of a
  country none of these settles, stay out of the table; their percentage still gives the rate of the lines
  that name them.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from billing_lib.core.currency import is_currency
from billing_lib.data.importers.base import (
    RowAccount,
    country_code,
    decimal_text,
    decimal_value,
    minor_to_text,
    unix_day,
)
from billing_lib.data.importers.stripe_export import StripeExport, meta, ref

TIERED = ("graduated", "volume")


class Unmapped(Exception):
    """A Stripe object the contract cannot hold; the message is the reason counted in the import report."""


@dataclass(frozen=True)
class PlanRef:
    """What a price is in the contract: its plan row, and the price a subscription on it pays when it is not
    the plan's own (a negotiated price)."""

    plan_id: str
    currency: str
    charge_model: str
    unit_price: str | None
    override: str | None = None

    @property
    def tiered(self) -> bool:
        return self.charge_model in TIERED


def _legacy_plan_as_price(plan: dict) -> dict:
    """A legacy ``plan`` object in the shape of a ``price``."""
    return {**plan, "object": "price", "unit_amount": plan.get("amount"),
            "unit_amount_decimal": plan.get("amount_decimal"), "transform_quantity": plan.get("transform_usage"),
            "type": "recurring",
            "recurring": {"interval": plan.get("interval"), "interval_count": plan.get("interval_count", 1),
                          "usage_type": plan.get("usage_type"), "aggregate_usage": plan.get("aggregate_usage")}}


def as_price(obj: dict) -> dict:
    """A price object, or a legacy plan object read as one."""
    return _legacy_plan_as_price(obj) if obj.get("object") == "plan" else obj


def _in_currency(price: dict, currency: str) -> dict:
    """The price's figures in ``currency``: its own, or those of ``currency_options``."""
    if str(price.get("currency", "")).upper() == currency:
        return price
    option = (price.get("currency_options") or {}).get(currency.lower()) or {}
    return {**price, **option, "currency": currency.lower()}


def price_currencies(price: dict) -> list[str]:
    """Every ISO currency a price is priced in (its own first, then its ``currency_options``)."""
    codes = [str(price.get("currency", "")).upper()]
    codes += sorted(str(c).upper() for c in (price.get("currency_options") or {}) if str(c).upper() != codes[0])
    return [c for c in codes if is_currency(c)]


def _model(price: dict) -> str:
    scheme = price.get("billing_scheme") or "per_unit"
    if scheme == "tiered":
        mode = price.get("tiers_mode")
        if mode not in TIERED:
            raise Unmapped(f"tiered price with tiers_mode {mode!r} (graduated or volume expected)")
        return mode
    transform = price.get("transform_quantity")
    if isinstance(transform, dict) and transform.get("divide_by"):
        if transform.get("round") != "up":
            raise Unmapped("package price that rounds down (the contract rounds packages up)")
        return "package"
    wanted = meta(price, "charge_model")
    return "flat" if wanted == "flat" else "per_unit"


def plan_rows(price: dict, currency: str, plan_id: str, product: str | None) -> tuple[dict, list[dict]]:
    """The plan row and tier rows of a price in one currency; Unmapped when the contract cannot hold it."""
    p = _in_currency(price, currency)
    recurring = p.get("recurring") if isinstance(p.get("recurring"), dict) else {}
    interval = recurring.get("interval") if p.get("type", "recurring") != "one_time" else "month"
    count = recurring.get("interval_count") or 1
    if interval not in ("month", "year") or int(count) != 1:
        every = f"every {count} {interval}s" if int(count) != 1 else f"every {interval}"
        raise Unmapped(f"billed {every} (the contract bills a month or a year)")
    model = _model(p)
    row = {"plan_id": plan_id, "currency": currency, "product": product or p.get("nickname") or ref(p.get("product")),
           "billing": "usage" if recurring.get("usage_type") == "metered" else "recurring", "interval": interval,
           "charge_model": model, "stripe_price": p.get("id"), "stripe_type": p.get("type")}
    tiers = []
    if model in TIERED:
        listed = p.get("tiers")
        if not isinstance(listed, list) or not listed:
            raise Unmapped("tiered price without its tiers (list prices with expand[]=data.tiers)")
        for n, tier in enumerate(listed, 1):
            up_to = tier.get("up_to")
            tiers.append({"plan_id": plan_id, "currency": currency, "tier": n,
                          "up_to": None if up_to in (None, "inf") else decimal_text(decimal_value(up_to)),
                          "unit_price": minor_to_text(_amount(tier, "unit_amount") or 0, currency),
                          "flat_fee": minor_to_text(_amount(tier, "flat_amount") or 0, currency)})
        return row, tiers
    unit = _amount(p, "unit_amount")
    if unit is None:
        raise Unmapped("price without a unit amount (a customer-chosen amount)")
    row["unit_price"] = minor_to_text(unit, currency)
    if model == "package":
        row["package_size"] = decimal_text(decimal_value(p["transform_quantity"]["divide_by"]))
        free = decimal_value(meta(p, "free_units"))
        row["free_units"] = decimal_text(free) if free is not None and free >= 0 else None
    return row, tiers


def _amount(obj: dict, name: str) -> object:
    """``name_decimal`` (exact minor units) when given, else the integer ``name``."""
    exact = obj.get(f"{name}_decimal")
    return exact if exact is not None else obj.get(name)


@dataclass
class PriceBook:
    """Plans and tiers read from prices, and what each (price, currency) is in the contract."""

    products: dict[str, dict]
    plans: dict[tuple[str, str], dict] = field(default_factory=dict)
    tiers: list[dict] = field(default_factory=list)
    refs: dict[tuple[str, str], PlanRef] = field(default_factory=dict)
    unmapped: dict[str, str] = field(default_factory=dict)   # price id -> why it has no plan
    notes: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def add(self, price: dict) -> bool:
        """Read one price (or legacy plan); True when it is in the book in at least one currency."""
        price = as_price(price)
        pid = price.get("id")
        if not isinstance(pid, str) or pid in self.seen:
            return isinstance(pid, str) and pid not in self.unmapped
        self.seen.add(pid)
        currencies = price_currencies(price)
        if not currencies:
            self.unmapped[pid] = "currency missing or not ISO 4217"
            return False
        product = self.products.get(ref(price.get("product")) or "")
        if isinstance(price.get("product"), dict):
            product = price["product"]
        name = (product or {}).get("name")
        mapped = False
        for currency in currencies:
            try:
                self._add_in(price, currency, name)
                mapped = True
            except (Unmapped, ValueError, TypeError, ArithmeticError) as why:
                reason = str(why) if isinstance(why, Unmapped) else f"malformed ({type(why).__name__})"
                self.unmapped.setdefault(pid, reason)
        if mapped:
            self.unmapped.pop(pid, None)
        return mapped

    def _add_in(self, price: dict, currency: str, product: str | None) -> None:
        own_id = meta(price, "plan_id") or price["id"]
        row, tiers = plan_rows(price, currency, own_id, product)
        have = self.plans.get((own_id, currency))
        if have is None:
            self.plans[(own_id, currency)] = row
            self.tiers += tiers
            self.refs[(price["id"], currency)] = PlanRef(own_id, currency, row["charge_model"], row.get("unit_price"))
            return
        same_kind = all(have.get(k) == row.get(k) for k in ("billing", "interval", "charge_model", "package_size",
                                                            "free_units"))
        if same_kind and row["charge_model"] not in TIERED:
            override = row["unit_price"] if row["unit_price"] != have.get("unit_price") else None
            self.refs[(price["id"], currency)] = PlanRef(own_id, currency, row["charge_model"], row["unit_price"],
                                                         override)
            return
        # another kind of price under the same plan id: it keeps a plan of its own
        row, tiers = plan_rows(price, currency, price["id"], product)
        self.notes.append(f"price {price['id']}: metadata.plan_id {own_id!r} names a plan priced otherwise in "
                          f"{currency} (interval or charge model); the price is its own plan {price['id']!r}")
        self.plans[(price["id"], currency)] = row
        self.tiers += tiers
        self.refs[(price["id"], currency)] = PlanRef(price["id"], currency, row["charge_model"], row.get("unit_price"))

    def resolve(self, price: object, currency: str) -> PlanRef | None:
        """What a price (an id, or an expanded object added to the book on the way) is in ``currency``."""
        if isinstance(price, dict):
            self.add(price)
        pid = ref(price)
        return self.refs.get((pid, currency)) if pid else None


def read_prices(export: StripeExport, account: RowAccount) -> PriceBook:
    """The price book from ``prices.json`` (and ``plans.json``); products give the plans' product names."""
    products = {p["id"]: p for p in export.of("product") if isinstance(p.get("id"), str)}
    book = PriceBook(products)
    for price in [*export.of("price"), *export.of("plan")]:
        if book.add(price):
            account.map("prices", "plans")
        else:
            account.skip("prices", book.unmapped.get(str(price.get("id")), "price without an id"))
    return book


def count_products(export: StripeExport, book: PriceBook, account: RowAccount) -> None:
    """Products are mapped as the product names of the plans that price them."""
    priced = {ref(row.get("product")) for row in book.plans.values()} | {
        ref(as_price(p).get("product")) for p in [*export.of("price"), *export.of("plan")]}
    named = {row.get("stripe_price") for row in book.plans.values()}
    for product in export.of("product"):
        if product.get("id") in priced or product.get("default_price") in named:
            account.map("products", "plans (product names)")
        else:
            account.skip("products", "no price in the export")


def coupon_percent(coupon: object) -> str | None:
    """A coupon's percent off as text, or None (an amount-off coupon, or none)."""
    if not isinstance(coupon, dict):
        return None
    pct = decimal_value(coupon.get("percent_off"))
    return decimal_text(pct) if pct is not None and 0 <= pct <= 100 else None


@dataclass
class TaxBook:
    """Tax rates by id (percentage, inclusive) for the lines, the rates of each country, and (once the
    documents are read, :func:`settle_tax_rows`) the ``tax_rates`` rows."""

    rates: dict[str, dict] = field(default_factory=dict)
    by_country: dict[str, list[dict]] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def percentage(self, rate: object) -> Decimal | None:
        """The percentage of a tax rate (an id, or an expanded object)."""
        if isinstance(rate, dict) and rate.get("id"):
            self.rates.setdefault(rate["id"], rate)
        found = self.rates.get(ref(rate) or "")
        return decimal_value(found.get("percentage")) if found else None


def _day(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return unix_day(value)


def read_tax_rates(export: StripeExport, account: RowAccount) -> TaxBook:
    """The tax rates by id, and those of a country (no state) set aside for the ``tax_rates`` table."""
    book = TaxBook({r["id"]: r for r in export.of("tax_rate") if isinstance(r.get("id"), str)})
    for rate in export.of("tax_rate"):
        country = rate.get("country") or rate.get("jurisdiction")
        code = country_code(country) if isinstance(country, str) and len(country) == 2 else None
        if decimal_value(rate.get("percentage")) is None:
            account.skip("tax_rates", "no percentage (a flat amount tax)")
        elif code is None:
            account.skip("tax_rates", "no country (its percentage is the rate of the lines that name it)")
        elif rate.get("state"):
            account.skip("tax_rates", "a state's rate (tax_rates holds one rate per country; its percentage is "
                                      "the rate of the lines that name it)")
        else:
            book.by_country.setdefault(code, []).append(rate)
    return book


def settle_tax_rows(book: TaxBook, customers: list[dict], invoices: list[dict], lines: list[dict],
                    account: RowAccount) -> None:
    """The ``tax_rates`` rows of each country (see the module docstring for the order of evidence)."""
    votes = _votes(book, customers, invoices, lines)
    for country, rates in sorted(book.by_country.items()):
        rows, how = _country_rows(country, rates, votes.get(country, {}))
        if rows is None:
            account.skip("tax_rates", "one of several rates of a country that neither metadata, archiving nor the "
                                      "invoices tell apart", len(rates))
            book.notes.append(f"tax rates of {country}: {len(rates)} rates and nothing to tell which is in force "
                              "when; tax_rates leaves the country out, so its lines' rates are not judged")
            continue
        if how:
            book.notes.append(f"tax rates of {country}: {how}")
        account.map("tax_rates", "tax_rates", len(rates))
        book.rows += rows


def _votes(book: TaxBook, customers: list[dict], invoices: list[dict],
           lines: list[dict]) -> dict[str, dict[str, dict[Decimal, int]]]:
    """Per country and issue month, how many lines of taxable customers charge each of the country's rates."""
    where = {c["customer_id"]: c["country"] for c in customers if c["tax_exempt"] != "true"}
    issued = {i["invoice_id"]: i for i in invoices if i["status"] != "void"}
    offered = {country: {decimal_value(r["percentage"]) for r in rates} for country, rates in book.by_country.items()}
    votes: dict[str, dict[str, dict[Decimal, int]]] = {}
    for line in lines:
        inv = issued.get(line["invoice_id"])
        country = where.get(inv["customer_id"]) if inv else None
        rate = decimal_value(line.get("tax_rate_pct"))
        if country in offered and rate in offered[country]:
            month = votes.setdefault(country, {}).setdefault(inv["issue_date"][:7], {})  # type: ignore[index]
            month[rate] = month.get(rate, 0) + 1   # type: ignore[index]
    return votes


def _country_rows(country: str, rates: list[dict],
                  votes: dict[str, dict[Decimal, int]]) -> tuple[list[dict] | None, str | None]:
    """Rows of one country, and how they were found: from metadata dates; one rate for all time; archived
    rates replaced in the order they were created; else the rate most of the country's invoice lines charge
    in each month. None when none of these tells."""
    def row(pct: Decimal, start: str, end: str | None, ids: str) -> dict:
        return {"country": country, "valid_from": start, "valid_to": end, "rate_pct": decimal_text(pct),
                "stripe_tax_rate": ids}

    dated = sorted((r for r in rates if _day(meta(r, "valid_from"))), key=lambda r: _day(meta(r, "valid_from")))
    if dated:
        return [row(decimal_value(r["percentage"]), _day(meta(r, "valid_from")), _day(meta(r, "valid_to")), r["id"])
                for r in dated], None
    percents = {decimal_value(r["percentage"]) for r in rates}
    ids = ", ".join(sorted(str(r.get("id")) for r in rates))
    if len(percents) == 1:
        return [row(percents.pop(), "1970-01-01", None, ids)], None
    ordered = sorted(rates, key=lambda r: (int(decimal_value(r.get("created")) or 0), str(r.get("id"))))
    days = [unix_day(r.get("created")) for r in ordered]
    archived_before = all(r.get("active") is False for r in ordered[:-1]) and ordered[-1].get("active") is not False
    if archived_before and None not in days and len(set(days)) == len(days):
        out = []
        for i, rate in enumerate(ordered):
            end = None if i == len(ordered) - 1 else \
                (dt.date.fromisoformat(days[i + 1]) - dt.timedelta(days=1)).isoformat()  # type: ignore[arg-type]
            out.append(row(decimal_value(rate["percentage"]), "1970-01-01" if i == 0 else days[i], end, rate["id"]))
        return out, "archived rates replaced by the next one created"
    if not votes:
        return None, None
    winners: list[tuple[str, Decimal]] = []     # (month, rate) where the rate in force changes
    for month in sorted(votes):
        counts = votes[month]
        top = max(counts.values())
        best = sorted(r for r, n in counts.items() if n == top)
        current = winners[-1][1] if winners else None
        choice = current if current in best else best[0]
        if choice != current:
            winners.append((month, choice))
    out = []
    for i, (month, pct) in enumerate(winners):
        end = None if i == len(winners) - 1 else \
            (dt.date.fromisoformat(f"{winners[i + 1][0]}-01") - dt.timedelta(days=1)).isoformat()
        out.append(row(pct, "1970-01-01" if i == 0 else f"{month}-01", end, ids))
    return out, (f"{len(rates)} rates without validity dates; the rate in force each month is the one most of "
                 "its invoice lines charge")
