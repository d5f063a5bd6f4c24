"""Simulated shop activity for `ShopifySandbox.mutate`: edits, deletions and new objects, all stamped now.

Fast for thousands of changes: each change is a few dict writes, and the sorted orders are rebuilt once at the
next read rather than kept sorted through every write.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from sandbox.shopify import objects as o
from sandbox.shopify.formats import iso

if TYPE_CHECKING:
    from sandbox.shopify.data import ShopifySandbox


def run(sb: ShopifySandbox, rng: random.Random, kind: str, updates: int, deletes: int, creates: int
        ) -> dict[str, list[str]]:
    coll = sb.collections[kind]
    now = sb.clock()
    ids = sorted(coll.by_id)
    touched = rng.sample(ids, min(updates, len(ids)))
    updated = []
    for num in touched:
        obj = coll.by_id[num]
        {"customers": _edit_customer, "orders": _edit_order, "products": _edit_product}[kind](sb, rng, obj)
        sb.refresh(kind, obj)
        sb.touch(kind, obj, now)
        updated.append(obj["id"])
    chosen = set(touched)
    rest = [num for num in ids if num not in chosen]
    if kind == "customers":  # Shopify refuses to delete a customer who has orders
        rest = [num for num in rest if not coll.by_id[num]["_orders"]]
    doomed = rng.sample(rest, min(deletes, len(rest)))
    deleted = []
    for num in doomed:
        global_id = coll.by_id[num]["id"]
        sb.delete(kind, global_id)
        deleted.append(global_id)
    created = [{"customers": _new_customer, "orders": _new_order, "products": _new_product}[kind](sb, rng, now)
               for _ in range(creates)]
    coll.changed()
    return {"updated": updated, "deleted": deleted, "created": created}


# -- edits -----------------------------------------------------------------------------------------------------

def _edit_customer(sb: ShopifySandbox, rng: random.Random, obj: dict) -> None:
    change = rng.randrange(5)
    if change == 0:
        obj["lastName"] = rng.choice(o.LAST_NAMES)
    elif change == 1:
        obj["tags"] = sorted(set(obj["tags"]) ^ {rng.choice(o.CUSTOMER_TAGS)})
    elif change == 2:
        obj["note"] = rng.choice(("Called about a return", "Prefers SMS", "Asked for a catalogue", None))
    elif change == 3:
        obj["_marketing"] = rng.choice(("SUBSCRIBED", "UNSUBSCRIBED", "NOT_SUBSCRIBED"))
    else:
        obj["firstName"] = rng.choice(o.FIRST_NAMES)


def _edit_order(sb: ShopifySandbox, rng: random.Random, obj: dict) -> None:
    change = rng.randrange(4)
    if change == 0 and obj["_cancelled"] is None:
        sb.cancel_order(obj, rng.choice(("CUSTOMER", "INVENTORY", "FRAUD", "OTHER")))
    elif change == 1 and obj["_closed"] is None:
        obj["_closed"] = sb.clock()
        obj["displayFulfillmentStatus"] = "FULFILLED"
    elif change == 2:
        obj["tags"] = sorted(set(obj["tags"]) ^ {rng.choice(o.ORDER_TAGS)})
    else:
        obj["note"] = rng.choice(("Customer called", "Address corrected", "Upgraded shipping"))
        if obj["displayFinancialStatus"] in ("PENDING", "AUTHORIZED"):
            obj["displayFinancialStatus"] = "PAID"


def _edit_product(sb: ShopifySandbox, rng: random.Random, obj: dict) -> None:
    change = rng.randrange(4)
    if change == 0:
        obj["status"] = rng.choice(("ACTIVE", "DRAFT", "ARCHIVED"))
    elif change == 1:
        obj["tags"] = sorted(set(obj["tags"]) ^ {rng.choice(o.PRODUCT_TAGS)})
    elif change == 2:
        obj["title"] = f"{rng.choice(o.ADJECTIVES)} {obj['title'].split(' ', 1)[-1]}"
    else:  # inventory moves on one variant: a change to the product
        variant = rng.choice(obj["_variants"])
        variant["inventoryQuantity"] = rng.randint(0, 80)
        variant["updatedAt"] = iso(sb.clock())


# -- new objects -----------------------------------------------------------------------------------------------

def _new_customer(sb: ShopifySandbox, rng: random.Random, now: int) -> str:
    num = sb.new_id("Customer")
    first, last = rng.choice(o.FIRST_NAMES), rng.choice(o.LAST_NAMES)
    email = f"{first}.{last.replace(chr(39), '')}.{num}@example.com".lower()
    customer = o.customer(num, now, now, first=first, last=last, email=email, phone=None,
                          marketing=rng.choice(("SUBSCRIBED", "NOT_SUBSCRIBED")), tags=[], note=None,
                          state="DISABLED", verified=True, tax_exempt=False, place=rng.choice(o.PLACES),
                          street=f"{rng.randint(1, 999)} {rng.choice(o.STREETS)}",
                          address_num=sb.new_id("MailingAddress"))
    sb.customers.put(customer)
    sb.emails[email] = num
    sb.notify("customers", "create", customer)
    return customer["id"]


def _new_order(sb: ShopifySandbox, rng: random.Random, now: int) -> str:
    customers = sb.customers.by_id
    customer = customers[rng.choice(sorted(customers))] if customers else None
    products = [p for p in sb.products.by_id.values() if p["_variants"]]
    items = []
    for _ in range(rng.randint(1, 4)):
        product = rng.choice(products) if products else None
        variant = rng.choice(product["_variants"]) if product else None
        items.append(o.line_item(sb.new_id("LineItem"), product["title"] if product else "Gift card",
                                 variant["title"] if variant else "Default", variant["sku"] if variant else None,
                                 product["vendor"] if product else "", rng.choice((1, 1, 2)),
                                 variant["_price"] if variant else 2500))
    number = sb.next_order_number
    sb.next_order_number += 1
    order = o.order(sb.new_id("Order"), number, now, now, customer=customer, line_items=items,
                    financial=rng.choice(("PAID", "PAID", "PENDING")), fulfillment="UNFULFILLED", closed_at=None,
                    cancelled_at=None, cancel_reason=None, test=False, tags=[], note=None)
    sb.orders.put(order)
    sb.notify("orders", "create", order)
    if customer is not None:  # placing an order changes the customer
        customer["_orders"] += 1
        if o.counts_toward_spent(order):
            customer["_spent"] += order["_total"]
        o.refresh_customer(customer)
        sb.touch("customers", customer, now)
    return order["id"]


def _new_product(sb: ShopifySandbox, rng: random.Random, now: int) -> str:
    num = sb.new_id("Product")
    title = f"{rng.choice(o.ADJECTIVES)} {rng.choice(o.NOUNS)} {num % 10_000}"
    handle = title.lower().replace(" ", "-")
    variants = [o.variant(sb.new_id("ProductVariant"), now, size, f"NEW-{num % 100_000}-{n + 1}", 2900, 10)
                for n, size in enumerate(o.SIZES[:rng.randint(1, 4)])]
    product = o.product(num, now, now, title=title, handle=handle, status="ACTIVE", vendor=rng.choice(o.VENDORS),
                        product_type=rng.choice(o.PRODUCT_TYPES), tags=["new"], published=now, variants=variants)
    sb.products.put(product)
    sb.notify("products", "create", product)
    return product["id"]
