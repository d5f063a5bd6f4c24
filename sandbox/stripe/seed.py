"""Seeding: a deterministic account history over the last ~90 days, built in bulk so 100,000 customers take
about a second (one sort per type instead of one insertion per object)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from sandbox.stripe import objects
from sandbox.stripe.data import RETENTION
from sandbox.stripe.objects import DAY
from sandbox.stripe.store import Index

if TYPE_CHECKING:
    from sandbox.stripe.data import StripeSandbox

_STATUSES = (("active", 70), ("trialing", 8), ("past_due", 7), ("canceled", 15))


def seed_account(sb: StripeSandbox, rng: random.Random, *, customers: int, products: int, unpriced_products: int,
                 subscriptions: int, charges: int, events: bool) -> None:
    now = sb.clock()
    history: list[tuple[int, str, dict]] = []  # (created, event type, snapshot) of seeded happenings

    product_rows, price_rows, monthly = [], [], []
    for i in range(products):
        name, amount = objects.PRODUCTS[i % len(objects.PRODUCTS)]
        name = name if i < len(objects.PRODUCTS) else f"{name} {i // len(objects.PRODUCTS) + 1}"
        created = now - 120 * DAY + rng.randrange(25 * DAY)
        product_id = objects.new_id(rng, "prod", 14)
        month = objects.price(objects.new_id(rng, "price", 24), created + 1, product_id, amount, "month")
        once = objects.price(objects.new_id(rng, "price", 24), created + 2, product_id, amount * 10, None)
        product_rows.append((sb.next_key(created), objects.product(product_id, created, name, month["id"])))
        price_rows += [(sb.next_key(month["created"]), month), (sb.next_key(once["created"]), once)]
        monthly.append(month)
    # Products never given a price (the only ones Stripe lets you delete). They draw from their own random stream
    # so the rest of the account stays what it was for a seed, and predate the priced ones, so the newest
    # product still has prices.
    extra = random.Random(f"{sb.seed}:unpriced")
    for i in range(unpriced_products):
        created = now - 150 * DAY + extra.randrange(25 * DAY)
        name = objects.UNPRICED[i % len(objects.UNPRICED)]
        name = name if i < len(objects.UNPRICED) else f"{name} {i // len(objects.UNPRICED) + 1}"
        product_rows.append((sb.next_key(created), objects.product(objects.new_id(extra, "prod", 14), created,
                                                                   name, None)))
    history += [(p["created"], "product.created", p) for _, p in product_rows]
    history += [(p["created"], "price.created", p) for _, p in price_rows]
    sb.collections["products"].load(product_rows)
    sb.collections["prices"].load(price_rows)

    people: list[dict] = []
    seen: set[str] = set()
    for n in range(customers):
        customer_id = objects.new_id(rng, "cus", 14)
        while customer_id in seen:
            customer_id = objects.new_id(rng, "cus", 14)
        seen.add(customer_id)
        created = now - rng.randrange(90 * DAY)
        people.append(objects.customer(customer_id, created, **objects.random_customer_fields(rng, n)))
    people.sort(key=lambda c: c["created"])  # seq follows creation time, so same-second ties stay in order
    sb.collections["customers"].load([(sb.next_key(c["created"]), c) for c in people])
    history += [(c["created"], "customer.created", c) for c in people]

    sub_rows, invoice_rows, charge_rows = [], [], []
    invoice_numbers: dict[str, int] = {}
    if people and monthly:
        for _ in range(subscriptions):
            sub, inv, ch = _subscription(sb, rng, rng.choice(people), rng.choice(monthly), now, history,
                                         invoice_numbers)
            sub_rows.append((sb.next_key(sub["created"]), sub))
            invoice_rows.append((sb.next_key(inv["created"]), inv))
            if ch is not None:
                charge_rows.append((sb.next_key(ch["created"]), ch))
    if people:
        for _ in range(charges):
            person = rng.choice(people)
            created = person["created"] + rng.randrange(max(1, now - person["created"]))
            ch = objects.charge(rng, objects.new_id(rng, "ch", 24), created, person, rng.randrange(500, 50_000),
                                succeeded=rng.random() < 0.92, description="One-off purchase")
            charge_rows.append((sb.next_key(created), ch))
            history.append((created, "charge.succeeded" if ch["paid"] else "charge.failed", ch))
    customers = sb.collections["customers"]
    for customer_id, number in invoice_numbers.items():  # a copy: customer.created keeps the value at creation
        customers.replace({**customers.by_id[customer_id], "next_invoice_sequence": number})
    sb.collections["subscriptions"].load(sub_rows)
    sb.collections["invoices"].load(invoice_rows)
    sb.collections["charges"].load(charge_rows)

    if events:
        history.sort(key=lambda h: h[0])  # stable: same-second happenings keep their causal order
        sb.events = Index([sb.make_event(type, snapshot, created=created)
                           for created, type, snapshot in history if created >= now - RETENTION])


def _subscription(sb: StripeSandbox, rng: random.Random, person: dict, price: dict, now: int,
                  history: list[tuple[int, str, Any]], invoice_numbers: dict[str, int],
                  ) -> tuple[dict, dict, dict | None]:
    """A subscription with its first invoice (and that invoice's charge), plus their events' snapshots."""
    status = rng.choices([s for s, _ in _STATUSES], weights=[w for _, w in _STATUSES])[0]
    created = person["created"] + rng.randrange(max(1, now - person["created"]))
    canceled_at = created + rng.randrange(max(1, now - created)) if status == "canceled" else None
    quantity = rng.choice((1, 1, 1, 2, 3))
    sub = objects.subscription(rng, objects.new_id(rng, "sub", 24), created, person["id"], price, quantity, status,
                               now, canceled_at)
    paid = status != "past_due"
    number = f"{person['invoice_prefix']}-{invoice_numbers.get(person['id'], 1):04d}"
    invoice_numbers[person["id"]] = invoice_numbers.get(person["id"], 1) + 1
    inv = objects.invoice(rng, objects.new_id(rng, "in", 24), created, sub, number, paid)
    sub["latest_invoice"] = inv["id"]
    ch = None
    if inv["amount_due"] > 0:
        paid_at = min(now, created + rng.randrange(1, 30))
        ch = objects.charge(rng, objects.new_id(rng, "ch", 24), paid_at, person, inv["amount_due"], succeeded=paid,
                            invoice_id=inv["id"], description="Subscription creation")
        if paid:
            inv["charge"] = ch["id"]
    history.append((created, "customer.subscription.created", objects.as_active(sub)))
    history.append((created, "invoice.created", objects.as_draft(inv)))
    if ch is not None:
        history.append((ch["created"], "charge.succeeded" if paid else "charge.failed", ch))
    history.append((ch["created"] if ch else created, "invoice.paid" if paid else "invoice.payment_failed", inv))
    if canceled_at is not None:
        history.append((canceled_at, "customer.subscription.deleted", sub))
    return sub, inv, ch
