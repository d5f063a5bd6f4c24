"""`StripeSandbox.mutate`: account activity between two syncs, with the events Stripe would write for it.

Changes are "automatic" (as if made in the Dashboard or by billing), so their events carry `request.id: null`.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from sandbox.stripe import objects

if TYPE_CHECKING:
    from sandbox.stripe.data import StripeSandbox

# What one "update" changes, with weights: mostly customers, as a CRM-facing sync cares most about those.
_UPDATE_KINDS = (("customer", 60), ("cancel_subscription", 15), ("subscription", 10), ("charge", 10),
                 ("invoice", 5))


def run(sb: StripeSandbox, rng: random.Random, updates: int, deletes: int, creates: int) -> None:
    kinds, weights = zip(*_UPDATE_KINDS, strict=True)
    for _ in range(updates):
        kind = rng.choices(kinds, weights=weights)[0]
        if kind == "cancel_subscription":
            sub = _pick(sb, rng, "subscriptions", lambda s: s["status"] != "canceled")
            if sub is not None:
                sb.cancel_subscription(sub)
                continue
        elif kind in ("subscription", "charge", "invoice"):
            obj = _pick(sb, rng, f"{kind}s", lambda o: o.get("status") != "canceled")
            if obj is not None:
                sb.update(f"{kind}s", obj, {"metadata": {"sync_note": f"edited-{rng.randrange(10**6)}"}},
                          event="customer.subscription.updated" if kind == "subscription" else None)
                continue
        customer = _pick(sb, rng, "customers", lambda c: True)
        if customer is not None:
            sb.update("customers", customer, _customer_change(rng, customer))
    for _ in range(deletes):
        customer = _pick(sb, rng, "customers", lambda c: True)
        if customer is not None:
            sb.delete_customer(customer["id"])
    for n in range(creates):
        customer = sb.create_customer(objects.random_customer_fields(rng, 10**7 + sb.mutations * 10**5 + n))
        if rng.random() < 0.5 and sb.collections["prices"].index.items:
            _subscribe(sb, rng, customer)


def _pick(sb: StripeSandbox, rng: random.Random, collection: str, ok) -> dict | None:
    """A random listed object passing `ok`; a few tries, so a mostly-canceled set still terminates quickly."""
    items = sb.collections[collection].index.items
    for _ in range(20):
        if not items:
            return None
        obj = items[rng.randrange(len(items))]
        if ok(obj):
            return obj
    return None


def _customer_change(rng: random.Random, customer: dict) -> dict:
    """Always a real change (a new email, name, phone or metadata), so every update yields customer.updated."""
    roll = rng.random()
    if roll < 0.35:
        user, _, domain = (customer["email"] or "someone@example.com").partition("@")
        return {"email": f"{user}+{rng.randrange(10**6)}@{domain}"}
    if roll < 0.55:
        return {"name": f"{rng.choice(objects.FIRST)} {rng.choice(objects.LAST)}-{rng.randrange(1000)}"}
    if roll < 0.7:
        return {"phone": f"+1555{rng.randrange(10**7):07d}"}
    if roll < 0.85 and customer["metadata"]:
        return {"metadata": {sorted(customer["metadata"])[0]: ""}}  # unset a key
    return {"metadata": {"crm_id": str(rng.randrange(10**6, 10**7)), "tier": rng.choice(("gold", "silver"))}}


def _subscribe(sb: StripeSandbox, rng: random.Random, customer: dict) -> None:
    """A new paid monthly subscription: subscription, first invoice and its charge, with their events."""
    now = sb.clock()
    prices = [p for p in sb.collections["prices"].index.items if p["type"] == "recurring"]
    if not prices:
        return
    sub = objects.subscription(sb.ids, objects.new_id(sb.ids, "sub", 24), now, customer["id"], rng.choice(prices),
                               1, "active", now)
    number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
    sb.collections["customers"].replace({**customer, "next_invoice_sequence": customer["next_invoice_sequence"] + 1})
    inv = objects.invoice(sb.ids, objects.new_id(sb.ids, "in", 24), now, sub, number, paid=True)
    ch = objects.charge(sb.ids, objects.new_id(sb.ids, "ch", 24), now, customer, inv["amount_due"], succeeded=True,
                        invoice_id=inv["id"], description="Subscription creation")
    inv["charge"] = ch["id"]
    sub["latest_invoice"] = inv["id"]
    sb.add("subscriptions", sub)
    sb.emit("customer.subscription.created", sub)
    sb.add("invoices", inv)
    sb.emit("invoice.created", objects.as_draft(inv))
    sb.add("charges", ch)
    sb.emit("charge.succeeded", ch)
    sb.emit("invoice.paid", inv)
