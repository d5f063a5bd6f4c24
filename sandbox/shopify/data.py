"""The sandbox's shop: customers, orders, products, product deletion events, app tokens and their scopes.

One `ShopifySandbox` is one shop with the apps that may call it. It is plain in-memory Python, deterministic from
`seed` (same seed, clock and calls: same shop), and it reads time only from the injectable `now` clock, so tests
can move time for the 60-day order window and the cost bucket's refill.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from sandbox.faults import FaultyWrites
from sandbox.shopify import kinds
from sandbox.shopify import objects as o
from sandbox.shopify.formats import iso, parse_gid
from sandbox.shopify.store import Collection

SHOPIFY_TOKEN = "shpat_sandbox"
SHOPIFY_TOKEN_RECENT_ORDERS = "shpat_sandbox_recent"
SCOPES = {  # handle -> description, as `AccessScope` reports them
    "read_customers": "Read customer details and customer groups",
    "write_customers": "Modify customer details and customer groups",
    "read_orders": "Read orders, transactions and fulfillments",
    "write_orders": "Modify orders, transactions and fulfillments",
    "read_all_orders": "Read all orders rather than the default window of 60 days worth of orders",
    "read_products": "Read products, variants and collections",
    "write_products": "Modify products, variants and collections",
}
ORDER_WINDOW = 60 * 86_400  # without read_all_orders "only the last 60 days' worth of orders" (Order reference)
KINDS = {"customers": "Customer", "orders": "Order", "products": "Product"}
TYPES = {type_name: kind for kind, type_name in KINDS.items()}
APP_NAMESPACE = "app--7001234"  # what the reserved `$app` metafield namespace resolves to for the sandbox app

# where each kind's id counter starts: 13-digit customer ids, as Shopify's are today
_ID_BASES = {"Customer": 6_200_000_000_000, "Order": 5_400_000_000_000, "Product": 7_900_000_000_000,
             "ProductVariant": 44_000_000_000_000, "LineItem": 14_500_000_000_000, "Metafield": 25_000_000_000_000,
             "MailingAddress": 8_100_000_000_000}
_FIELDS = {  # fields `update()` may set directly, per kind
    "customers": {"firstName", "lastName", "email", "phone", "note", "tags", "state", "verifiedEmail", "taxExempt"},
    "orders": {"email", "note", "tags", "test", "displayFinancialStatus", "displayFulfillmentStatus"},
    "products": {"title", "handle", "status", "vendor", "productType", "tags", "descriptionHtml"},
}


class Change(NamedTuple):
    """One object created, changed or deleted, as `ShopifySandbox.listeners` are told of it. `obj` is the stored
    dict, which later changes edit in place: a listener must read what it needs at once."""

    kind: str  # customers, orders, products
    action: str  # create, update, delete
    obj: dict


class ShopifySandbox(FaultyWrites):
    """An emulated shop with `customers` customers, `orders` orders (default customers × 2) and `products` products
    (default max(10, customers // 5)) created over the last two years.

    `tokens` maps each access token to its scopes: `SHOPIFY_TOKEN` has them all, `SHOPIFY_TOKEN_RECENT_ORDERS`
    all but `read_all_orders`. `requests` counts GraphQL requests served and `throttled` the THROTTLED answers."""

    def __init__(self, seed: int = 1, customers: int = 200, orders: int | None = None, products: int | None = None,
                 now: Callable[[], float] = time.time, shop: str = "inlet-sandbox.myshopify.com") -> None:
        from sandbox.shopify.seed import seed_shop

        self.seed = seed
        self.now = now
        self.shop = shop
        self.tokens: dict[str, set[str]] = {SHOPIFY_TOKEN: set(SCOPES),
                                            SHOPIFY_TOKEN_RECENT_ORDERS: set(SCOPES) - {"read_all_orders"}}
        self.requests = 0
        self.throttled = 0
        self.customers = Collection(kinds.CUSTOMER_SORTS)
        self.orders = Collection(kinds.ORDER_SORTS)
        self.products = Collection(kinds.PRODUCT_SORTS)
        self.deletion_events = Collection(kinds.EVENT_SORTS)
        self.collections = {"customers": self.customers, "orders": self.orders, "products": self.products}
        self.emails: dict[str, int] = {}  # lower-cased email -> customer id, for "has already been taken"
        self.phones: dict[str, int] = {}
        self.next_order_number = 1001
        self.mutations = 0
        self.listeners: list[Callable[[Change], None]] = []  # told of every change after seeding
        self._last_id = dict(_ID_BASES)
        self._ids = random.Random(f"{seed}:ids")
        collecting = gc.isenabled()
        gc.disable()  # seeding builds many small acyclic dicts: collection passes would only cost time
        try:
            seed_shop(self, random.Random(seed), customers, customers * 2 if orders is None else orders,
                      max(10, customers // 5) if products is None else products)
        finally:
            if collecting:
                gc.enable()
        if collecting:
            # One full collection now, while seeding, rather than during the first requests: the seeded objects
            # then sit in the oldest generation, which is rescanned only after it grows by a quarter.
            gc.collect()

    # -- basics ------------------------------------------------------------------------------------------------

    def clock(self) -> int:
        """Now, in whole seconds: Shopify's DateTime has second precision."""
        return int(self.now())

    def new_id(self, type_name: str) -> int:
        """A fresh id, larger than every earlier one of its type (Shopify's ids grow with time)."""
        self._last_id[type_name] += 40_000 + int(self._ids.random() * 860_000)
        return self._last_id[type_name]

    def order_visible(self, order: dict, scopes: set[str]) -> bool:
        return "read_all_orders" in scopes or order["_created"] >= self.clock() - ORDER_WINDOW

    def find(self, global_id: str) -> tuple[str, dict] | None:
        """(kind, object) of a customer, order or product GID."""
        parsed = parse_gid(global_id)
        if parsed is None or parsed[0] not in TYPES:
            return None
        kind = TYPES[parsed[0]]
        obj = self.collections[kind].by_id.get(parsed[1])
        return None if obj is None else (kind, obj)

    def _get(self, kind: str, global_id: str) -> dict:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(KINDS)}")
        found = self.find(global_id)
        if found is None or found[0] != kind:
            raise KeyError(f"no {KINDS[kind]} {global_id}")
        return found[1]

    def touch(self, kind: str, obj: dict, t: int | None = None) -> None:
        """Mark an object changed now: `updatedAt` bumps, sort orders are rebuilt at the next read."""
        t = self.clock() if t is None else t
        obj["_updated"] = t
        obj["updatedAt"] = iso(t)
        self.collections[kind].changed()
        self.notify(kind, "update", obj)

    def notify(self, kind: str, action: str, obj: dict) -> None:
        """Tell the listeners: every update goes through `touch`, deletes through `delete`, and whatever creates
        an object calls this with "create"."""
        for listener in self.listeners:
            listener(Change(kind, action, obj))

    def record_deletion(self, subject_type: str, subject_id: str, t: int | None = None) -> None:
        t = self.clock() if t is None else t
        num = len(self.deletion_events.by_id) + 1
        self.deletion_events.put({"_num": num, "_at": t, "occurredAt": iso(t), "subjectId": subject_id,
                                  "subjectType": subject_type})

    # -- changes -----------------------------------------------------------------------------------------------

    def set_email(self, customer: dict, email: str | None) -> None:
        old = customer["email"]
        if old and self.emails.get(old.lower()) == customer["_num"]:
            del self.emails[old.lower()]
        if email:
            self.emails[email.lower()] = customer["_num"]
        customer["email"] = email

    def set_phone(self, customer: dict, phone: str | None) -> None:
        old = customer["phone"]
        if old and self.phones.get(old) == customer["_num"]:
            del self.phones[old]
        if phone:
            self.phones[phone] = customer["_num"]
        customer["phone"] = phone

    def update(self, kind: str, global_id: str, *, at: int | None = None, **fields: Any) -> dict:
        """Change an object as an admin would, bumping `updatedAt` (to `at`, in seconds, when given: a change made
        at seeding keeps its seeded time). Fields use the schema's names (`firstName`, `tags`, …). Orders also take
        `closed=True/False` and `cancelReason="CUSTOMER"` (cancels the order). Returns the object as `objects()`
        shows it."""
        obj = self._get(kind, global_id)
        for name, value in fields.items():
            if kind == "orders" and name == "closed":
                obj["_closed"] = self.clock() if value else None
            elif kind == "orders" and name == "cancelReason":
                self.cancel_order(obj, value)
            elif name not in _FIELDS[kind]:
                raise ValueError(f"{KINDS[kind]}.{name} cannot be set; settable: {sorted(_FIELDS[kind])}")
            elif kind == "customers" and name == "email":
                self.set_email(obj, value)
            elif kind == "customers" and name == "phone":
                self.set_phone(obj, value)
            else:
                obj[name] = list(value) if name == "tags" else value
        self.refresh(kind, obj)
        self.touch(kind, obj, at)
        return self.public(kind, obj)

    def refresh(self, kind: str, obj: dict) -> None:
        if kind == "customers":
            o.refresh_customer(obj)
        elif kind == "orders":
            o.refresh_order(obj)
        else:
            if obj["status"] == "ACTIVE" and obj["_published"] is None:
                obj["_published"] = self.clock()
                obj["publishedAt"] = iso(obj["_published"])
            o.refresh_product(obj)

    def cancel_order(self, order: dict, reason: str = "CUSTOMER") -> None:
        t = self.clock()
        order["_cancelled"] = t
        order["cancelReason"] = reason
        if order["_closed"] is None:
            order["_closed"] = t
        order["displayFinancialStatus"] = "REFUNDED" if order["displayFinancialStatus"] == "PAID" else "VOIDED"

    def delete(self, kind: str, global_id: str) -> None:
        """Delete an object. A product's deletion is recorded as a `DeletionEvent` (Shopify records them for
        products and collections only)."""
        obj = self._get(kind, global_id)
        if kind == "customers" and obj["_orders"]:
            raise ValueError(f"{global_id} has orders: Shopify does not delete a customer who has orders")
        self.collections[kind].remove(obj["_num"])
        if kind == "customers":
            self.set_email(obj, None)
            self.set_phone(obj, None)
        elif kind == "products":
            self.record_deletion("PRODUCT", obj["id"])
        self.notify(kind, "delete", obj)

    def mutate(self, kind: str = "customers", updates: int = 0, deletes: int = 0, creates: int = 0
               ) -> dict[str, list[str]]:
        """Simulate shop activity now: `updates` objects of `kind` changed (for orders: also cancels and closes),
        `deletes` deleted, `creates` created. Deterministic for a seed and call sequence. New orders also bump
        their customer's order count, amount spent and `updatedAt`, as placing an order does."""
        from sandbox.shopify.mutate import run

        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(KINDS)}")
        self.mutations += 1
        rng = random.Random(f"{self.seed}:mutate:{kind}:{self.mutations}")
        return run(self, rng, kind, updates, deletes, creates)

    # -- reading -----------------------------------------------------------------------------------------------

    def public(self, kind: str, obj: dict) -> dict:
        out = o.public(obj)
        if kind == "orders" and obj["_customer"] not in self.customers.by_id:
            out["customer"] = None
        return out

    def objects(self, kind: str) -> list[dict]:
        """Every current object of a kind (`customers`, `orders`, `products`, or `deletionEvents`) as plain
        dicts with all the fields the schema exposes, in id order."""
        if kind == "deletionEvents":
            _, items = self.deletion_events.ordered("ID")
            return [{k: v for k, v in e.items() if k[0] != "_"} for e in items]
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(KINDS)} or 'deletionEvents'")
        _, items = self.collections[kind].ordered("ID")
        return [self.public(kind, obj) for obj in items]

    def gids(self, kind: str) -> list[str]:
        _, items = self.collections[kind].ordered("ID")
        return [obj["id"] for obj in items]
