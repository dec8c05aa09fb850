"""A small month of billing with planted mistakes, a hostile customer name and three currencies,
for the workbook and monthly-run tests (written as CSV text, see helpers.write_dataset)."""
from __future__ import annotations

from pathlib import Path

from helpers import write_dataset

HOSTILE_NAME = '<script>alert("pwned")</script> & Sons'

TABLES = {
    "customers": f"""
        customer_id,name,email,country,currency,payment_terms_days,tax_exempt
        C1,Acme GmbH,a@acme.example,DE,EUR,30,false
        C2,"{HOSTILE_NAME.replace('"', '""')}",b@evil.example,US,USD,30,false
        C3,Tokyo KK,c@tokyo.example,JP,JPY,14,false
    """,
    "plans": """
        plan_id,currency,product,billing,interval,charge_model,unit_price,package_size,free_units,rate_pct,fixed_fee
        SEAT,EUR,Seats,recurring,month,per_unit,10.00,,,,
        SEAT,USD,Seats,recurring,month,per_unit,12.00,,,,
        SEAT,JPY,Seats,recurring,month,per_unit,1500,,,,
    """,
    "subscriptions": """
        subscription_id,customer_id,plan_id,quantity,start_date,end_date,discount_pct,unit_price_override
        S1,C1,SEAT,3,2024-01-01,,,
        S2,C2,SEAT,100,2024-01-01,,,
        S3,C3,SEAT,2,2024-01-01,,,
    """,
    "tax_rates": """
        country,valid_from,valid_to,rate_pct
        DE,2000-01-01,,19
        US,2000-01-01,,0
        JP,2000-01-01,,10
    """,
    "fx_rates": """
        date,currency,rate_to_base
        2024-01-01,USD,0.90
        2024-06-01,USD,0.92
        2024-01-01,EUR,1
    """,
    # May is correct. June: C2 billed 100 seats at 15.00 instead of 12.00 (price_mismatch, 300.00 USD),
    # C3 billed 3 seats instead of 2 (quantity_mismatch, JPY has no exchange rate).
    "invoices": """
        invoice_id,customer_id,currency,issue_date,due_date,period_start,period_end,subtotal,discount,tax,total,status
        INV-0000001,C1,EUR,2024-06-01,2024-07-01,2024-05-01,2024-05-31,30.00,0.00,5.70,35.70,paid
        INV-0000002,C2,USD,2024-06-01,2024-07-01,2024-05-01,2024-05-31,1200.00,0.00,0.00,1200.00,paid
        INV-0000003,C3,JPY,2024-06-01,2024-06-15,2024-05-01,2024-05-31,3000,0,300,3300,paid
        INV-0000004,C1,EUR,2024-07-01,2024-07-31,2024-06-01,2024-06-30,30.00,0.00,5.70,35.70,open
        INV-0000005,C2,USD,2024-07-01,2024-07-31,2024-06-01,2024-06-30,1500.00,0.00,0.00,1500.00,open
        INV-0000006,C3,JPY,2024-07-01,2024-07-15,2024-06-01,2024-06-30,4500,0,450,4950,open
    """,
    "invoice_lines": """
        invoice_id,line_no,subscription_id,plan_id,description,period_start,period_end,quantity,unit_price,amount,discount,tax_rate_pct,tax_amount
        INV-0000001,1,S1,SEAT,Seats,2024-05-01,2024-05-31,3,10.00,30.00,0.00,19,5.70
        INV-0000002,1,S2,SEAT,Seats,2024-05-01,2024-05-31,100,12.00,1200.00,0.00,0,0.00
        INV-0000003,1,S3,SEAT,Seats,2024-05-01,2024-05-31,2,1500,3000,0,10,300
        INV-0000004,1,S1,SEAT,Seats,2024-06-01,2024-06-30,3,10.00,30.00,0.00,19,5.70
        INV-0000005,1,S2,SEAT,Seats,2024-06-01,2024-06-30,100,15.00,1500.00,0.00,0,0.00
        INV-0000006,1,S3,SEAT,Seats,2024-06-01,2024-06-30,3,1500,4500,0,10,450
    """,
}


def write_workbook_dataset(folder: Path) -> Path:
    """Write the dataset into ``folder`` and return it."""
    return write_dataset(folder, **TABLES)
