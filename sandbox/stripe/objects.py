"""Builders for Stripe objects with the fields of VENDOR_FACTS 3.2, so a connector meets realistic payloads.

Shapes follow API version `API_VERSION` (2024-06-20): charges carry no `refunds` list (dropped in 2022-11-15) and
subscriptions still carry `current_period_start|end` at the top (moved onto items in 2025-03-31). Nested values
are never changed in place after an object is built (updates assign new ones), so builders may share constants.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

API_VERSION = "2024-06-20"
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
FIRST = ("Ada", "Ben", "Chloe", "Dev", "Emma", "Farah", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena", "Mateo",
         "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vera", "Wen", "Yusuf", "Zoe")
LAST = ("Abara", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hughes", "Ito", "Jensen", "Kim",
        "Lopez", "Moreau", "Novak", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Varga", "Weber", "Young")
DOMAINS = ("example.com", "example.org", "mail.example.net", "corp.example.io")
CITIES = (("Berlin", "DE", "10115"), ("Lyon", "FR", "69001"), ("Austin", "US", "73301"), ("Leeds", "GB", "LS1 1UR"),
          ("Osaka", "JP", "530-0001"), ("Porto", "PT", "4000-001"))
PRODUCTS = (("Starter", 900), ("Team", 2900), ("Business", 9900), ("Analytics add-on", 1500), ("Support plus", 4900),
            ("Storage pack", 500), ("Enterprise", 49900), ("Seat", 1200))
UNPRICED = ("Beta add-on", "Legacy bundle", "Partner kit", "Workshop")  # catalogue entries never given a price
NULL_ADDRESS = {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}
INVOICE_SETTINGS = {"custom_fields": None, "default_payment_method": None, "footer": None, "rendering_options": None}
DAY = 86_400


_ID_CHARS = bytes(ord(B62[i % 62]) for i in range(256))  # byte → base-62 character (slight bias is harmless)


def new_id(rng: random.Random, prefix: str, length: int) -> str:
    """`cus_` + random base-62 characters, as Stripe ids look; one `randbytes` call keeps 100k ids cheap."""
    return f"{prefix}_{rng.randbytes(length).translate(_ID_CHARS).decode()}"


def derived_id(prefix: str, parent_id: str, shift: int = 0) -> str:
    """An id for a part of an object (its item, line, payment intent…) made from the parent's random part:
    unique because the parent's is, random-looking, and free of rng calls (seeding makes hundreds of thousands)."""
    body = parent_id.partition("_")[2][::-1]
    return f"{prefix}_{body[shift:]}{body[:shift]}"


def add_months(ts: int, months: int) -> int:
    """Calendar-month billing periods, clamping the day (Jan 31 + 1 month → Feb 28/29), as Stripe bills."""
    d = datetime.fromtimestamp(ts, UTC)
    total = d.month - 1 + months
    year, month = d.year + total // 12, total % 12 + 1
    for day in (d.day, 30, 29, 28):
        try:
            return int(d.replace(year=year, month=month, day=day).timestamp())
        except ValueError:
            continue
    raise AssertionError("unreachable")


def customer(object_id: str, created: int, **fields: Any) -> dict:
    obj = {
        "id": object_id, "object": "customer", "address": NULL_ADDRESS, "balance": 0, "created": created,
        "currency": None, "default_source": None, "delinquent": False, "description": None, "discount": None,
        "email": None, "invoice_prefix": object_id[4:11].upper(), "invoice_settings": INVOICE_SETTINGS,
        "livemode": False, "metadata": {}, "name": None, "next_invoice_sequence": 1, "phone": None,
        "preferred_locales": [], "shipping": None, "tax_exempt": "none", "test_clock": None,
    }
    obj.update(fields)
    return obj


def random_customer_fields(rng: random.Random, n: int) -> dict[str, Any]:
    """Plausible, mostly complete contact data; `n` keeps emails unique across the whole data set. All choices
    come from one 128-bit draw, sliced, because per-field `rng.choice` calls dominated seeding 100k customers."""
    r = rng.getrandbits(128)
    r, first = divmod(r, len(FIRST))
    r, last = divmod(r, len(LAST))
    r, domain = divmod(r, len(DOMAINS))
    r, roll = divmod(r, 1000)
    r, digits = divmod(r, 10**7)
    r, place = divmod(r, len(CITIES) * 200)
    r, crm = divmod(r, 10**6)
    name = f"{FIRST[first]} {LAST[last]}"
    fields: dict[str, Any] = {"name": name, "email": f"{FIRST[first]}.{LAST[last]}.{n}@{DOMAINS[domain]}".lower()}
    if roll % 10 < 6:
        fields["phone"] = f"+1555{digits:07d}"
    if roll // 10 % 10 < 5:
        city, country, postal = CITIES[place % len(CITIES)]
        fields["address"] = {"city": city, "country": country, "line1": f"{place // len(CITIES) + 1} Main Street",
                             "line2": None, "postal_code": postal, "state": None}
    if roll // 100 < 4:
        fields["metadata"] = {"crm_id": str(crm), "segment": ("smb", "mid", "ent")[r % 3]}
    if roll % 7 == 0:
        fields["description"] = "Imported from the old billing system"
    return fields


def product(object_id: str, created: int, name: str, default_price: str | None) -> dict:
    return {
        "id": object_id, "object": "product", "active": True, "created": created, "default_price": default_price,
        "description": None, "images": [], "livemode": False, "marketing_features": [], "metadata": {}, "name": name,
        "package_dimensions": None, "shippable": None, "statement_descriptor": None, "tax_code": None,
        "type": "service", "unit_label": None, "updated": created, "url": None,
    }


def price(object_id: str, created: int, product_id: str, amount: int, interval: str | None) -> dict:
    recurring = None if interval is None else {
        "aggregate_usage": None, "interval": interval, "interval_count": 1, "meter": None,
        "trial_period_days": None, "usage_type": "licensed"}
    return {
        "id": object_id, "object": "price", "active": True, "billing_scheme": "per_unit", "created": created,
        "currency": "usd", "custom_unit_amount": None, "livemode": False, "lookup_key": None, "metadata": {},
        "nickname": None, "product": product_id, "recurring": recurring, "tax_behavior": "unspecified",
        "tiers_mode": None, "transform_quantity": None, "type": "one_time" if interval is None else "recurring",
        "unit_amount": amount, "unit_amount_decimal": str(amount),
    }


def subscription(rng: random.Random, object_id: str, created: int, customer_id: str, item_price: dict,
                 quantity: int, status: str, now: int, canceled_at: int | None = None) -> dict:
    """A monthly subscription whose current period contains `now`, or `canceled_at` if it was canceled."""
    until = now if canceled_at is None else canceled_at
    months = 0
    while add_months(created, months + 1) <= until:
        months += 1
    period_start, period_end = add_months(created, months), add_months(created, months + 1)
    trial = status == "trialing"
    ended = canceled_at
    return {
        "id": object_id, "object": "subscription", "application": None,
        "automatic_tax": {"enabled": False, "liability": None}, "billing_cycle_anchor": created,
        "cancel_at": None, "cancel_at_period_end": False, "canceled_at": ended,
        "cancellation_details": {"comment": None, "feedback": None,
                                 "reason": "cancellation_requested" if ended else None},
        "collection_method": "charge_automatically", "created": created, "currency": "usd",
        "current_period_end": period_end, "current_period_start": period_start, "customer": customer_id,
        "days_until_due": None, "default_payment_method": None, "description": None, "discount": None,
        "ended_at": ended,
        "items": {"object": "list", "data": [{
            "id": derived_id("si", object_id)[:17], "object": "subscription_item", "created": created, "metadata": {},
            "price": item_price, "quantity": quantity, "subscription": object_id}],
            "has_more": False, "total_count": 1, "url": f"/v1/subscription_items?subscription={object_id}"},
        "latest_invoice": None, "livemode": False, "metadata": {}, "start_date": created, "status": status,
        "trial_end": created + 14 * DAY if trial else None, "trial_start": created if trial else None,
    }


def invoice(rng: random.Random, object_id: str, created: int, sub: dict, number: str, paid: bool) -> dict:
    item = sub["items"]["data"][0]
    unit = item["price"]["unit_amount"]
    amount = 0 if sub["status"] == "trialing" else unit * item["quantity"]
    period = {"start": sub["start_date"], "end": add_months(sub["start_date"], 1)}
    host = f"https://invoice.stripe.com/i/acct_sandbox/test_{object_id[3:]}"
    return {
        "id": object_id, "object": "invoice", "account_country": "US", "amount_due": amount,
        "amount_paid": amount if paid else 0, "amount_remaining": 0 if paid else amount, "attempt_count": 1,
        "attempted": True, "billing_reason": "subscription_create", "charge": None,
        "collection_method": "charge_automatically", "created": created, "currency": "usd", "customer": sub["customer"],
        "description": None, "due_date": None, "hosted_invoice_url": host, "invoice_pdf": f"{host}/pdf",
        "lines": {"object": "list", "data": [{
            "id": derived_id("il", object_id), "object": "line_item", "amount": amount, "currency": "usd",
            "description": f"{item['quantity']} × plan", "discountable": True, "livemode": False, "metadata": {},
            "period": period, "price": item["price"], "proration": False, "quantity": item["quantity"],
            "subscription": sub["id"], "type": "subscription"}],
            "has_more": False, "total_count": 1, "url": f"/v1/invoices/{object_id}/lines"},
        "livemode": False, "metadata": {}, "number": number, "paid": paid, "period_end": period["start"],
        "period_start": period["start"], "status": "paid" if paid else "open",
        "status_transitions": {"finalized_at": created, "marked_uncollectible_at": None,
                               "paid_at": created if paid else None, "voided_at": None},
        "subscription": sub["id"], "subtotal": amount, "total": amount, "webhooks_delivered_at": created,
    }


def draft_invoice(object_id: str, created: int, customer_id: str, item_price: dict | None) -> dict:
    """A one-off draft (`POST /v1/invoices` after one invoice item, or none): no number, no hosted URLs, nothing
    finalized, attempted or paid yet, no subscription. Such a draft is the one kind of invoice Stripe deletes."""
    amount = item_price["unit_amount"] if item_price else 0
    lines = [] if item_price is None else [{
        "id": derived_id("il", object_id), "object": "line_item", "amount": amount, "currency": "usd",
        "description": "One-off item", "discountable": True, "livemode": False, "metadata": {},
        "period": {"start": created, "end": created}, "price": item_price, "proration": False, "quantity": 1,
        "subscription": None, "type": "invoiceitem"}]
    return {
        "id": object_id, "object": "invoice", "account_country": "US", "amount_due": amount, "amount_paid": 0,
        "amount_remaining": amount, "attempt_count": 0, "attempted": False, "billing_reason": "manual",
        "charge": None, "collection_method": "charge_automatically", "created": created, "currency": "usd",
        "customer": customer_id, "description": None, "due_date": None, "hosted_invoice_url": None,
        "invoice_pdf": None,
        "lines": {"object": "list", "data": lines, "has_more": False, "total_count": len(lines),
                  "url": f"/v1/invoices/{object_id}/lines"},
        "livemode": False, "metadata": {}, "number": None, "paid": False, "period_end": created,
        "period_start": created, "status": "draft",
        "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None,
                               "voided_at": None},
        "subscription": None, "subtotal": amount, "total": amount, "webhooks_delivered_at": None,
    }


def charge(rng: random.Random, object_id: str, created: int, customer: dict, amount: int, *,
           succeeded: bool, invoice_id: str | None = None, description: str | None = None) -> dict:
    brand, last4 = rng.choice((("visa", "4242"), ("mastercard", "4444"), ("amex", "8431"), ("visa", "1881")))
    outcome = ({"network_status": "approved_by_network", "reason": None, "risk_level": "normal",
                "risk_score": rng.randrange(5, 60), "seller_message": "Payment complete.", "type": "authorized"}
               if succeeded else
               {"network_status": "declined_by_network", "reason": "generic_decline", "risk_level": "normal",
                "risk_score": rng.randrange(5, 60),
                "seller_message": "The bank did not return any further details with this decline.",
                "type": "issuer_declined"})
    return {
        "id": object_id, "object": "charge", "amount": amount, "amount_captured": amount if succeeded else 0,
        "amount_refunded": 0, "balance_transaction": derived_id("txn", object_id, 7) if succeeded else None,
        "billing_details": {"address": customer["address"], "email": customer["email"], "name": customer["name"],
                            "phone": customer["phone"]},
        "calculated_statement_descriptor": "INLET SANDBOX", "captured": succeeded, "created": created,
        "currency": "usd", "customer": customer["id"], "description": description, "disputed": False,
        "failure_code": None if succeeded else "card_declined",
        "failure_message": None if succeeded else "Your card was declined.", "invoice": invoice_id,
        "livemode": False, "metadata": {}, "outcome": outcome, "paid": succeeded,
        "payment_intent": derived_id("pi", object_id), "payment_method": derived_id("pm", object_id, 3),
        "payment_method_details": {"card": {"brand": brand, "country": "US", "exp_month": rng.randrange(1, 13),
                                            "exp_year": 2027 + rng.randrange(5), "funding": "credit",
                                            "last4": last4, "network": brand}, "type": "card"},
        "receipt_email": customer["email"], "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{object_id[3:]}" if succeeded else None,
        "refunded": False, "statement_descriptor": None, "status": "succeeded" if succeeded else "failed",
    }


def as_active(sub: dict) -> dict:
    """The subscription as it looked when created, for the `customer.subscription.created` snapshot."""
    return {**sub, "status": "trialing" if sub["trial_start"] else "active", "canceled_at": None, "ended_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None}}


def as_draft(inv: dict) -> dict:
    """The invoice as it looked when created, for the `invoice.created` snapshot."""
    return {**inv, "status": "draft", "paid": False, "amount_paid": 0, "amount_remaining": inv["amount_due"],
            "number": None, "charge": None, "attempted": False, "attempt_count": 0,
            "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None,
                                   "voided_at": None}}
