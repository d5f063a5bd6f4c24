"""`StripeSandbox.mutate`: account activity between two syncs, with the events Stripe would write for it.

Changes are "automatic" (as if made in the Dashboard or by billing), so their events carry `request.id: null`.
The catalogue and draft-invoice steps run after the customer ones, on the same random stream, so a call without
them changes exactly what it changed before they existed.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, NamedTuple

from sandbox.stripe import objects
from sandbox.stripe.deletes import prices_in_use

if TYPE_CHECKING:
    from sandbox.stripe.data import StripeSandbox

# What one "update" changes, with weights: mostly customers, as a CRM-facing sync cares most about those.
_UPDATE_KINDS = (("customer", 60), ("cancel_subscription", 15), ("subscription", 10), ("charge", 10),
                 ("invoice", 5))


class Catalog(NamedTuple):
    """How many of each catalogue and draft-invoice change one `mutate` call makes (see `StripeSandbox.mutate`)."""

    product_creates: int = 0
    price_creates: int = 0
    invoice_creates: int = 0
    price_deletes: int = 0
    product_deletes: int = 0
    invoice_deletes: int = 0


def run(sb: StripeSandbox, rng: random.Random, updates: int, deletes: int, creates: int,
        catalog: Catalog | None = None) -> None:
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
    if catalog is not None:
        _change_catalog(sb, rng, catalog)


def _change_catalog(sb: StripeSandbox, rng: random.Random, catalog: Catalog) -> None:
    now = sb.clock()
    for n in range(catalog.product_creates):
        name = f"{rng.choice(objects.PRODUCTS)[0]} {sb.mutations}.{n + 1}"
        product = objects.product(objects.new_id(sb.ids, "prod", 14), now, name, None)
        sb.add("products", product)
        sb.emit("product.created", product)
    for _ in range(catalog.price_creates):
        product = _pick(sb, rng, "products", lambda p: p["active"])
        if product is not None:
            amount = rng.choice(objects.PRODUCTS)[1]
            price = objects.price(objects.new_id(sb.ids, "price", 24), now, product["id"], amount,
                                  rng.choice(("month", None)))
            sb.add("prices", price)
            sb.emit("price.created", price)
    # Seeding makes no drafts, so deleting drafts first creates the ones missing (a scan: only when asked).
    drafts = [i for i in sb.collections["invoices"].index.items if i["status"] == "draft" and not i["subscription"]] \
        if catalog.invoice_creates or catalog.invoice_deletes else []
    for _ in range(max(catalog.invoice_creates, catalog.invoice_deletes - len(drafts))):
        draft = _draft(sb, rng, now)
        if draft is not None:
            drafts.append(draft)
    if catalog.price_deletes:
        used = prices_in_use(sb)  # the Dashboard deletes only prices never used
        unused = [p for p in sb.collections["prices"].index.items if p["id"] not in used]
        for price in _sample(rng, unused, catalog.price_deletes):
            sb.delete_price(price["id"])
    if catalog.product_deletes:
        priced = {p["product"] for p in sb.collections["prices"].by_id.values()}
        bare = [p for p in sb.collections["products"].index.items if p["id"] not in priced]
        for product in _sample(rng, bare, catalog.product_deletes):
            sb.delete_product(product["id"])
    for invoice in _sample(rng, drafts, catalog.invoice_deletes):
        sb.delete_invoice(invoice["id"])


def _draft(sb: StripeSandbox, rng: random.Random, now: int) -> dict | None:
    """A one-off draft for a random customer with one active one-time price on it (none if there is none)."""
    customer = _pick(sb, rng, "customers", lambda c: True)
    if customer is None:
        return None
    price = _pick(sb, rng, "prices", lambda p: p["active"] and p["type"] == "one_time")
    invoice = objects.draft_invoice(objects.new_id(sb.ids, "in", 24), now, customer["id"], price)
    sb.add("invoices", invoice)
    sb.emit("invoice.created", invoice)
    return invoice


def _sample(rng: random.Random, items: list[dict], n: int) -> list[dict]:
    return rng.sample(items, min(n, len(items))) if n > 0 else []


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
    prices = [p for p in sb.collections["prices"].index.items if p["type"] == "recurring" and p["active"]]
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
