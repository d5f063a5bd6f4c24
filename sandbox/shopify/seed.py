"""Seeding: two years of a shop's history, deterministic for a seed.

Customers and orders are spread over the last two years (so part of the orders fall outside the 60-day window a
token without `read_all_orders` sees); ids grow with creation time, as Shopify's do. A few orders have more than
50 line items and a few products more than 100 variants, so clients must page nested connections. Customers' order
counts and amounts spent agree with their orders.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from sandbox.shopify import objects as o
from sandbox.shopify.formats import gid

if TYPE_CHECKING:
    from sandbox.shopify.data import ShopifySandbox

DAY = 86_400
HISTORY = 730 * DAY
BIG_ORDER_EVERY = 50  # orders i with i % 50 == 7 get 51-75 line items
BIG_PRODUCTS = 3  # products with 101-130 variants


class _Draw:
    """Random draws made from `random()` alone: a few times faster than `choice`/`randrange`/`choices`, which
    matters when seeding 100,000 customers and their orders."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.random = rng.random

    def pick(self, seq: tuple | list) -> Any:
        return seq[int(self.random() * len(seq))]

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def between(self, low: int, high: int) -> int:
        """low..high inclusive."""
        return low + int(self.random() * (high - low + 1))

    def weighted(self, table: tuple[tuple, list[float]]) -> Any:
        values, cumulative = table
        return values[bisect_right(cumulative, self.random() * cumulative[-1])]

    def some(self, seq: tuple, k: int) -> list:
        return self.rng.sample(seq, k) if k else []


def _table(values: tuple, weights: tuple) -> tuple[tuple, list[float]]:
    return values, list(accumulate(weights))


_MARKETING = _table(("SUBSCRIBED", "NOT_SUBSCRIBED", "UNSUBSCRIBED", "PENDING"), (40, 45, 12, 3))
_STATES = _table(("DISABLED", "ENABLED", "INVITED", "DECLINED"), (60, 30, 7, 3))
_LINES = _table((1, 2, 3, 4, 5), (40, 25, 15, 12, 8))
_FINANCIAL = _table(("PAID", "PENDING", "AUTHORIZED", "PARTIALLY_REFUNDED", "REFUNDED"), (82, 5, 4, 5, 4))
_NOTES = (None, None, None, "Prefers email", "Met at the Ottawa pop-up", "Gift buyer")
_ORDER_NOTES = (None, None, None, "Leave at the door", "Gift wrap please")
_REASONS = ("CUSTOMER", "FRAUD", "INVENTORY", "DECLINED", "OTHER")


def seed_shop(sb: ShopifySandbox, rng: random.Random, customers: int, orders: int, products: int) -> None:
    now = sb.clock()
    product_list = _products(sb, rng, now, products)
    people = _customers(sb, rng, now, customers)
    _orders(sb, rng, now, orders, people, product_list)
    _deletions(sb, rng, now, products)


def _products(sb: ShopifySandbox, rng: random.Random, now: int, count: int) -> list[dict]:
    made: list[dict] = []
    handles: set[str] = set()
    created_times = sorted(now - rng.randrange(30 * DAY, HISTORY + 120 * DAY) for _ in range(count))
    big = set(rng.sample(range(count), min(BIG_PRODUCTS, count)))
    for i, created in enumerate(created_times):
        num = sb.new_id("Product")
        title = f"{rng.choice(o.ADJECTIVES)} {rng.choice(o.NOUNS)}"
        handle = title.lower().replace(" ", "-")
        if handle in handles:
            title = f"{title} {i + 1}"
            handle = f"{handle}-{i + 1}"
        handles.add(handle)
        updated = created if rng.random() < 0.3 else rng.randrange(created, now + 1)
        if i in big:
            titles = [f"{c} / {s}" for c in o.COLORS for s in o.SIZES]
            titles = titles[:rng.randint(101, 120)] + [f"Custom {n}" for n in range(rng.randint(0, 10))]
        else:
            size_count = rng.randint(1, 6)
            titles = ["Default Title"] if size_count == 1 else list(o.SIZES[:size_count])
        base = rng.choice((1500, 2500, 3900, 4999, 8900, 12900))
        variants = []
        for n, vtitle in enumerate(titles):
            sku = f"{handle[:12].upper().rstrip('-')}-{n + 1:03d}"
            variants.append(o.variant(sb.new_id("ProductVariant"), created, vtitle, sku,
                                      base + (n % 3) * 200, rng.randint(0, 80)))
        status = rng.choices(("ACTIVE", "DRAFT", "ARCHIVED"), (80, 10, 10))[0]
        published = created + rng.randrange(0, 3 * DAY) if status == "ACTIVE" else None
        product = o.product(num, created, updated, title=title, handle=handle, status=status,
                            vendor=rng.choice(o.VENDORS), product_type=rng.choice(o.PRODUCT_TYPES),
                            tags=rng.sample(o.PRODUCT_TAGS, rng.randint(0, 2)), published=published,
                            variants=variants)
        if rng.random() < 0.2:
            product["_metafields"].append(o.metafield(sb.new_id("Metafield"), created, "custom", "care_guide",
                                                      "multi_line_text_field", "Wash cold.\nDry flat."))
        made.append(product)
        sb.products.by_id[num] = product
    sb.products.changed()
    return made


def _customers(sb: ShopifySandbox, rng: random.Random, now: int, count: int) -> list[dict]:
    draw = _Draw(rng)
    rand = draw.random
    created_times = sorted(now - draw.between(3600, HISTORY - 1) for _ in range(count))
    made: list[dict] = []
    for i, created in enumerate(created_times):
        num = sb.new_id("Customer")
        first, last = draw.pick(o.FIRST_NAMES), draw.pick(o.LAST_NAMES)
        has_email = rand() < 0.96
        email = f"{first}.{last.replace(chr(39), '')}{i + 1}@example.com".lower() if has_email else None
        phone = f"+1613{5550000 + i:07d}" if rand() < 0.45 or not has_email else None
        updated = created + draw.below(90) if rand() < 0.55 else draw.between(created, now)
        has_address = rand() < 0.85
        customer = o.customer(
            num, created, updated, first=first, last=last, email=email, phone=phone,
            marketing=draw.weighted(_MARKETING), tags=sorted(draw.some(o.CUSTOMER_TAGS, draw.pick((0, 0, 1, 1, 2, 3)))),
            note=draw.pick(_NOTES), state=draw.weighted(_STATES), verified=has_email and rand() < 0.9,
            tax_exempt=rand() < 0.04, place=draw.pick(o.PLACES) if has_address else None,
            street=f"{draw.between(1, 999)} {draw.pick(o.STREETS)}" if has_address else None,
            address_num=sb.new_id("MailingAddress") if has_address else None)
        if i % 250 == 3:  # a few customers with more metafields than one page
            for n in range(60):
                customer["_metafields"].append(o.metafield(sb.new_id("Metafield"), created, "history",
                                                           f"visit_{n + 1:02d}", "single_line_text_field",
                                                           f"visit {n + 1}"))
        elif rand() < 0.3:
            for namespace, key, type_, values in draw.some(o.METAFIELD_KEYS, draw.between(1, 3)):
                customer["_metafields"].append(o.metafield(sb.new_id("Metafield"), created, namespace, key, type_,
                                                           draw.pick(values)))
        made.append(customer)
        sb.customers.by_id[num] = customer
        if email:
            sb.emails[email] = num
        if phone:
            sb.phones[phone] = num
    sb.customers.changed()
    return made


def _orders(sb: ShopifySandbox, rng: random.Random, now: int, count: int, people: list[dict],
            product_list: list[dict]) -> None:
    draw = _Draw(rng)
    rand = draw.random
    created_times = sorted(now - draw.between(60, HISTORY - 1) for _ in range(count))
    people_created = [c["_created"] for c in people]
    # per variant, what a line item copies from it
    lines_from = [(p["title"], v["title"], v["sku"], p["vendor"], v["_price"])
                  for p in product_list for v in p["_variants"]] or [("Gift card", "Default", None, "", 2500)]
    quantities = (1, 1, 1, 2, 3)
    for i, created in enumerate(created_times):
        num = sb.new_id("Order")
        known = bisect_right(people_created, created)
        customer = people[draw.below(known)] if known and rand() < 0.95 else None
        lines = draw.between(51, 75) if i % BIG_ORDER_EVERY == 7 else draw.weighted(_LINES)
        items = []
        for _ in range(lines):
            title, variant_title, sku, vendor, price = draw.pick(lines_from)
            items.append(o.line_item(sb.new_id("LineItem"), title, variant_title, sku, vendor, draw.pick(quantities),
                                     price))
        age = now - created
        cancelled = min(now, created + draw.between(60, 3 * DAY)) if rand() < 0.04 else None
        if cancelled is not None:
            financial = draw.pick(("VOIDED", "REFUNDED"))
            fulfillment = "UNFULFILLED"
        else:
            financial = draw.weighted(_FINANCIAL)
            fulfillment = "FULFILLED" if age > 14 * DAY else draw.pick(("UNFULFILLED", "PARTIALLY_FULFILLED",
                                                                           "FULFILLED"))
        closed = None
        if cancelled is not None:
            closed = cancelled
        elif age > 30 * DAY and fulfillment == "FULFILLED" and financial == "PAID" and rand() < 0.7:
            closed = created + draw.between(DAY, 10 * DAY)
        last_change = max(created, cancelled or 0, closed or 0)
        updated = min(now, last_change + draw.below(2 * DAY)) if rand() < 0.5 else draw.between(last_change, now)
        order = o.order(num, 1001 + i, created, updated, customer=customer, line_items=items, financial=financial,
                        fulfillment=fulfillment, closed_at=closed, cancelled_at=cancelled,
                        cancel_reason=draw.pick(_REASONS) if cancelled is not None else None,
                        test=rand() < 0.01, tags=sorted(draw.some(o.ORDER_TAGS, draw.pick((0, 0, 1, 2)))),
                        note=draw.pick(_ORDER_NOTES))
        sb.orders.by_id[num] = order
        if customer is not None:
            customer["_orders"] += 1
            if o.counts_toward_spent(order):
                customer["_spent"] += order["_total"]
    sb.next_order_number = 1001 + count
    for customer in people:
        o.refresh_customer(customer)
    sb.orders.changed()


def _deletions(sb: ShopifySandbox, rng: random.Random, now: int, products: int) -> None:
    """Products deleted before the sandbox started, as `DeletionEvent`s over the last 120 days."""
    times = sorted(now - rng.randrange(DAY, 120 * DAY) for _ in range(max(3, products // 20)))
    for t in times:
        sb.record_deletion("PRODUCT", gid("Product", sb.new_id("Product")), t)
