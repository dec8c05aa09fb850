"""Every finding in plain language, with its likely root cause.

:func:`explanations` reads each finding beside the data it names (the line,
the subscription, the payment) and says what went wrong for a reader who does
not know the check catalogue, then names the likely root cause: one of
:data:`ROOT_CAUSES` with a sentence saying why that one. The cause is a
hypothesis to confirm, chosen from what the data shows (a negotiated price
billed at list price points at the price book, a full month on a mid-month
start at proration, a tax-exempt customer taxed at the tax setup, ...).
"""
from __future__ import annotations

from decimal import Decimal

import polars as pl

from billing_lib.checks.settlement_checks import duplicate_copies
from billing_lib.investigation.subject import Investigation

ROOT_CAUSES = {
    "price book": "the price list or a negotiated price is wrong or out of date in the billing system",
    "proration": "the start or end date of the subscription was not applied to the month",
    "missed usage": "metered usage did not reach the invoice (import late, filtered, or counted twice)",
    "seat count": "a change in seats did not reach billing",
    "discount setup": "the subscription's discount is missing or different in the billing system",
    "tax setup": "the tax rate or the customer's exemption is set up wrongly",
    "billing run": "a billing run left a subscription out (new or changed subscription not picked up)",
    "duplicate run": "the same charge was produced twice (a billing run or an import repeated)",
    "manual edit": "figures were typed or changed by hand after the invoice was computed",
    "customer setup": "the customer's master data (currency, terms) differs from what the invoice used",
    "numbering": "an invoice number was skipped or reused (deleted draft, failed run, manual number)",
    "cash application": "a payment was recorded twice, overpaid, or arrived without a usable reference",
    "ledger posting": "the posting to the general ledger failed or was changed by hand",
    "status sync": "the invoice status was not updated when payments or credits arrived",
    "credit handling": "a credit note was issued on top of an earlier credit or correction",
    "master data": "a document names a customer, subscription or plan that does not exist",
}


def _d(v) -> Decimal | None:
    return None if v is None or v == "" else Decimal(str(v))


class _Context:
    def __init__(self, inv: Investigation):
        self.lines = {(r["invoice_id"], r["line_no"]): r for r in inv.ctx.lines.iter_rows(named=True)}
        self.expected = {(r["subscription_id"], r["period"]): r for r in inv.ctx.expected.iter_rows(named=True)}
        subs = inv.ds.frame("subscriptions").collect()
        self.subs = {r["subscription_id"]: r for r in subs.iter_rows(named=True)}
        plans = inv.ds.frame("plans").collect()
        self.list_price = {(r["plan_id"], r["currency"]): r["unit_price"] for r in plans.iter_rows(named=True)}
        self.copies = set(duplicate_copies(inv.ds.frame("payments")).select("payment_id").collect()
                          .to_series().to_list())
        customers = inv.ds.frame("customers").collect()
        self.exempt = {r["customer_id"]: r["tax_exempt"] for r in customers.iter_rows(named=True)}
        self.country = {r["customer_id"]: r["country"] for r in customers.iter_rows(named=True)}
        self.rates: dict[str, list[dict]] = {}
        for r in inv.ds.frame("tax_rates").sort("valid_from").collect().iter_rows(named=True):
            self.rates.setdefault(r["country"], []).append(r)


def _price(f: dict, c: _Context) -> tuple[str, str, str]:
    line = c.lines.get((f["invoice_id"], f["line_no"])) or {}
    exp = c.expected.get((f["subscription_id"], f["period"])) or {}
    sub = c.subs.get(f["subscription_id"]) or {}
    billed_price = _d(line.get("unit_price"))
    listed = _d(c.list_price.get((line.get("plan_id"), line.get("currency"))))
    if sub.get("unit_price_override") is not None and billed_price is not None and billed_price == listed:
        return ("The line is priced at the list price, but this customer has a negotiated price.",
                "price book", "the negotiated price (unit_price_override) was not used")
    if exp.get("prorated") and line.get("amount") is not None and _d(line["amount"]) == _d(exp.get("full_amount")):
        return ("The line bills the whole month although the subscription was active only part of it.",
                "proration", f"{exp['active_days']} of {exp['days_in_month']} days were due")
    if billed_price is not None and exp.get("unit_price") is not None and billed_price != _d(exp["unit_price"]):
        return (f"The unit price on the invoice ({billed_price.normalize():f}) is not the contract's "
                f"({_d(exp['unit_price']).normalize():f}).", "price book",
                "the price on the invoice appears nowhere in the contract for this plan")
    model = exp.get("charge_model")
    if model in ("graduated", "volume", "package", "percentage"):
        return (f"The line's amount is not what the plan's {model} prices give for this quantity.", "price book",
                f"the {model} prices (tiers, packages or rate) used differ from the price book")
    return ("The line's amount is not what the contract's price gives for this quantity and these days.",
            "manual edit", "the quantity and price are right but the amount was set otherwise")


def _explain(f: dict, c: _Context) -> tuple[str, str, str]:
    """(plain explanation, root cause, why that cause)."""
    check = f["check"]
    if check == "price_mismatch":
        return _price(f, c)
    if check == "quantity_mismatch":
        exp = c.expected.get((f["subscription_id"], f["period"])) or {}
        if exp.get("kind") == "usage":
            return ("The invoice bills a different number of units than the usage metered in the month.",
                    "missed usage", f"the meter shows {f['expected']} units, the invoice {f['actual']}")
        return ("The invoice bills a different number of seats than the subscription has.", "seat count",
                f"the subscription has {f['expected']} seats, the invoice {f['actual']}")
    if check == "discount_mismatch":
        return ("The subscription's agreed discount is missing or wrong on this line.", "discount setup",
                f"discount expected {f['expected']}, given {f['actual']}")
    if check == "tax_mismatch":
        if c.exempt.get(f["customer_id"]):
            return ("Tax was charged although the customer is tax exempt.", "tax setup",
                    "the customer's exemption is not recorded in the billing system")
        if f["expected"] is None:  # tax_rate_missing
            return ("No tax rate of the customer's country is in force on the issue date, so the tax due cannot "
                    "be told.", "tax setup", f"tax_rates has no rate of {c.country.get(f['customer_id'])} for "
                                             f"that day; the line charges {f['actual']}%")
        used = _d(f["actual"])
        rates = c.rates.get(c.country.get(f["customer_id"]), [])
        newer = [r for r in rates if r["valid_from"] and _d(r["rate_pct"]) == _d(f["expected"])]
        older = [r for r in rates if used is not None and _d(r["rate_pct"]) == used and newer
                 and r["valid_from"] < newer[-1]["valid_from"]]
        plain = "The tax rate on the line is not the rate in force in the customer's country on the issue date."
        if older:
            return (plain, "tax setup", f"{f['actual']}% is the rate before the change to {f['expected']}% on "
                                        f"{newer[-1]['valid_from']}: the rate change was not applied")
        return (plain, "tax setup", f"{f['actual']}% used, {f['expected']}% in force: the country's rate is set up "
                                    f"wrongly in billing")
    if check == "unbilled_charge":
        exp = c.expected.get((f["subscription_id"], f["period"])) or {}
        if exp.get("kind") == "usage":
            return ("Usage was metered for this month but never invoiced.", "missed usage",
                    f"{exp.get('event_count', 0)} usage event(s) in the month, no invoice line")
        return ("A charge the contract bills for this month is on no invoice.", "billing run",
                "the subscription was active in the month but the billing run left it out")
    if check == "duplicate_charge":
        return ("The same subscription and service days are billed a second time.", "duplicate run",
                "an earlier line already bills these days")
    if check == "billed_outside_term":
        return ("The line bills days when the subscription was not active.", "proration",
                "the start or end date of the subscription was not applied")
    if check == "line_arithmetic":
        return ("The line's own figures do not add up (tax, discount or amount).", "manual edit",
                "a computed figure was overwritten by hand")
    if check == "invoice_totals":
        return ("The invoice header does not equal the sum of its lines.", "manual edit",
                "the header was changed after the lines were computed")
    if check == "currency_mismatch":
        return ("The document is in another currency than the customer is billed in.", "customer setup",
                f"{f['actual']} used, {f['expected']} agreed")
    if check == "date_inconsistency":
        return ("The due date does not follow from the issue date and the customer's payment terms.",
                "customer setup", "the payment terms in billing differ from the customer's, or the date was edited")
    if check == "invoice_number_gap":
        return ("An invoice number is missing from, or repeated in, the sequence.", "numbering",
                "auditors expect one gapless sequence")
    if check == "orphan_reference" and f["line_no"] is not None:
        return ("The invoice bills a subscription that does not exist.", "master data",
                f"{f['actual']} is in no contract")
    if check == "orphan_reference":
        return ("A document names something that does not exist in the data.", "master data",
                f"{f['actual']} is unknown")
    if check == "unapplied_payment":
        return ("Money came in that matches no open invoice.", "cash application",
                "no invoice named, no invoice number in the reference, no open amount equal to it")
    if check == "payment_mismatch":
        if f["payment_id"] in c.copies:
            return ("The same payment is recorded twice.", "cash application",
                    "same customer, amount, day and bank reference as an earlier payment (statement imported twice)")
        return ("Payments on this invoice add up to more than it owes.", "cash application",
                "the customer paid too much, or a payment was applied to the wrong invoice")
    if check == "status_mismatch":
        return ("The invoice's status says the opposite of its balance.", "status sync",
                f"status {f['actual']} with the balance the payments and credits leave")
    if check == "credit_note_excess":
        return ("The invoice was credited beyond its own amounts.", "credit handling",
                "a credit note was issued again for a charge already credited")
    if check == "gl_mismatch":
        return ("The general ledger does not show this document as the billing records do.", "ledger posting",
                "the posting is missing, or was made with other amounts")
    return ("See the finding's message.", "manual edit", "no specific pattern recognised")


def explanations(inv: Investigation, findings: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per finding: what it says, what it means, the likely root cause and why."""
    c = _Context(inv)
    frame = inv.findings if findings is None else findings
    rows = []
    for f in frame.iter_rows(named=True):
        plain, cause, why = _explain(f, c)
        rows.append({"exception_id": f["exception_id"], "check": f["check"], "invoice_id": f["invoice_id"],
                     "line_no": f["line_no"], "period": f["period"], "finding": f["message"], "in_plain_words": plain,
                     "likely_root_cause": cause, "because": why, "cause_means": ROOT_CAUSES[cause]})
    schema = {"exception_id": pl.String, "check": pl.String, "invoice_id": pl.String, "line_no": pl.Int64,
              "period": pl.String, "finding": pl.String, "in_plain_words": pl.String,
              "likely_root_cause": pl.String, "because": pl.String, "cause_means": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def root_cause_counts(table: pl.DataFrame) -> pl.DataFrame:
    """Findings per likely root cause, most frequent first."""
    return (table.group_by("likely_root_cause").agg(pl.len().alias("findings"))
            .sort(["findings", "likely_root_cause"], descending=[True, False]))
