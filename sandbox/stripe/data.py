"""The sandbox's account: objects, the events log, and the changes that write events.

One `StripeSandbox` is one Stripe test account. It is plain in-memory Python, deterministic from `seed` (two
sandboxes with the same seed, clock and calls hold identical objects and events), and it reads time only from
the injectable `now` clock so tests can move time (event retention, idempotency expiry, rate-limit windows).
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sandbox.faults import FaultyWrites
from sandbox.stripe import deletes, objects
from sandbox.stripe.errors import no_such
from sandbox.stripe.store import Collection, Index, Key, make_key

RETENTION = 30 * objects.DAY  # "List events, going back up to 30 days" (VENDOR_FACTS 3.3)
KINDS = {"customers": "customer", "charges": "charge", "invoices": "invoice", "subscriptions": "subscription",
         "products": "product", "prices": "price"}
Request = dict[str, Any]  # an event's `request`: {"id": "req_…", "idempotency_key": …}
AUTOMATIC: Request = {"id": None, "idempotency_key": None}  # "request.id is null for automatic changes"


@dataclass(frozen=True, slots=True)
class Event:
    """A stored event. `object` is the object as it was when the event happened: stored objects are never
    changed in place (a change stores a new dict), so keeping a reference is a true snapshot and costs nothing."""

    id: str
    type: str
    created: int
    object: dict
    previous: dict | None
    request: Request

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"object": self.object}
        if self.previous is not None:
            data["previous_attributes"] = self.previous
        return {"id": self.id, "object": "event", "api_version": objects.API_VERSION, "created": self.created,
                "data": data, "livemode": False, "pending_webhooks": 0, "request": self.request, "type": self.type}


class StripeSandbox(FaultyWrites):
    """An emulated Stripe account: `customers` customers, `products` products (a monthly and a one-time price
    each) plus `unpriced_products` older ones without prices (the kind Stripe lets you delete), `subscriptions`
    subscriptions (default customers // 2, each with its first invoice and, when paid, a charge) and `charges`
    one-off charges (default customers // 2), created over the last ~90 days.

    `seed_events` also writes the `*.created` (and cancellation, payment) events of seeded objects that fall in
    the 30-day event window, as a real account that has been in use would have them."""

    def __init__(self, seed: int = 0, customers: int = 100, *, products: int = 5, subscriptions: int | None = None,
                 charges: int | None = None, unpriced_products: int = 2, api_keys: Iterable[str] = ("sk_test_sandbox",),
                 now: Callable[[], float] = time.time, seed_events: bool = True) -> None:
        from sandbox.stripe.seed import seed_account

        self.seed = seed
        self.now = now
        self.api_keys = frozenset(api_keys)
        self.collections = {name: Collection(kind, f"/v1/{name}") for name, kind in KINDS.items()}
        self.events = Index()
        self.event_by_id: dict[str, Event] = {}
        self.event_keys: dict[str, Key] = {}
        self.ids = random.Random(f"{seed}:ids")  # event ids, and ids of everything made after seeding
        self.mutations = 0
        self._seq = 0
        # Called with every event `emit` writes (every change after seeding), e.g. by a webhook sender.
        self.listeners: list[Callable[[Event], None]] = []
        collecting = gc.isenabled()
        gc.disable()  # seeding builds ~10 dicts per customer and nothing cyclic: collection passes only cost
        try:
            seed_account(self, random.Random(seed), customers=customers, products=products,
                         unpriced_products=unpriced_products,
                         subscriptions=customers // 2 if subscriptions is None else subscriptions,
                         charges=customers // 2 if charges is None else charges, events=seed_events)
        finally:
            if collecting:
                gc.enable()

    # -- reading -----------------------------------------------------------------------------------------------

    def clock(self) -> int:
        return int(self.now())

    def next_key(self, created: int) -> Key:
        self._seq += 1
        return make_key(created, self._seq)

    def retrieve(self, collection: str, object_id: str) -> dict:
        """The object, or Stripe's deleted stub for a deleted customer; unknown ids raise 404 resource_missing.
        Only customers keep a stub (the spec answers `anyOf [customer, deleted_customer]`); a deleted product,
        invoice or price is simply gone: 404, like an id that never existed."""
        coll = self.collections[collection]
        obj = coll.by_id.get(object_id)
        if obj is not None:
            return obj
        if object_id in coll.deleted and collection == "customers":
            return {"id": object_id, "object": coll.kind, "deleted": True}
        raise no_such(coll.kind, object_id)

    def live(self, collection: str, object_id: str) -> dict:
        """An object that may be changed: deleted ones are 404, as Stripe answers for a deleted customer."""
        obj = self.collections[collection].by_id.get(object_id)
        if obj is None:
            raise no_such(self.collections[collection].kind, object_id)
        return obj

    def retrieve_event(self, event_id: str) -> Event:
        event = self.event_by_id.get(event_id)
        if event is None or event.created < self.clock() - RETENTION:
            raise no_such("event", event_id)
        return event

    # -- events ------------------------------------------------------------------------------------------------

    def emit(self, type: str, obj: dict, *, created: int | None = None, previous: dict | None = None,
             request: Request = AUTOMATIC) -> Event:
        """Append an event whose `data.object` is `obj` as it is now."""
        key, event = self.make_event(type, obj, created=created, previous=previous, request=request)
        self.events.add(key, event)
        for listener in self.listeners:
            listener(event)
        return event

    def make_event(self, type: str, obj: dict, *, created: int | None = None, previous: dict | None = None,
                   request: Request = AUTOMATIC) -> tuple[Key, Event]:
        """Render and register an event; the caller puts it in the log (seeding loads many at once)."""
        created = self.clock() if created is None else created
        event = Event(objects.new_id(self.ids, "evt", 24), type, created, obj, previous, request)
        event_id = event.id
        key = self.next_key(created)
        self.event_by_id[event_id] = event
        self.event_keys[event_id] = key
        return key, event

    # -- changes -----------------------------------------------------------------------------------------------

    def add(self, collection: str, obj: dict) -> None:
        self.collections[collection].add(self.next_key(obj["created"]), obj)

    def update(self, collection: str, obj: dict, changes: dict[str, Any], *, event: str | None = None,
               request: Request = AUTOMATIC) -> dict:
        """Apply `changes` (metadata: a patch where "" or None unsets a key, or None to clear all) and, when
        something changed, emit `<kind>.updated` with `previous_attributes`. Stripe sends no event for a no-op."""
        previous: dict[str, Any] = {}
        new_obj = dict(obj)
        for name, value in changes.items():
            if name == "metadata":
                old = obj["metadata"]
                new = {} if value is None else dict(old)
                for key, item in (value or {}).items():
                    if item in ("", None):
                        new.pop(key, None)
                    else:
                        new[key] = item
                diff = {key: old.get(key) for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)}
                if diff:
                    previous["metadata"] = diff  # added keys show as null, as before-values
                    new_obj["metadata"] = new
            elif obj.get(name) != value:
                previous[name] = obj.get(name)
                new_obj[name] = value
        if not previous:
            return obj
        self.collections[collection].replace(new_obj)
        self.emit(event or f"{self.collections[collection].kind}.updated", new_obj, previous=previous, request=request)
        return new_obj

    def cancel_subscription(self, sub: dict, *, request: Request = AUTOMATIC,
                            reason: str = "cancellation_requested") -> dict:
        """Cancel now: status canceled, `customer.subscription.deleted`; the subscription stays retrievable."""
        now = self.clock()
        sub = {**sub, "status": "canceled", "canceled_at": now, "ended_at": now,
               "cancellation_details": {"comment": None, "feedback": None, "reason": reason}}
        self.collections["subscriptions"].replace(sub)
        self.emit("customer.subscription.deleted", sub, request=request)
        return sub

    def remove(self, collection: str, object_id: str, *, request: Request = AUTOMATIC) -> dict:
        """Delete without checks: `<kind>.deleted` carries the full last state without a `deleted` field
        (VENDOR_FACTS 3.7), the object leaves its lists, and the API's `deleted` stub is returned."""
        obj = self.live(collection, object_id)
        kind = self.collections[collection].kind
        self.emit(f"{kind}.deleted", obj, request=request)
        self.collections[collection].delete(object_id)
        return {"id": object_id, "object": kind, "deleted": True}

    def delete_customer(self, customer_id: str, *, request: Request = AUTOMATIC) -> dict:
        """Delete a customer: its open subscriptions are canceled first ("also immediately cancels any active
        subscriptions"), then `customer.deleted` carries the full pre-delete object without a `deleted` field."""
        self.live("customers", customer_id)
        subs = self.collections["subscriptions"].by_customer.get(customer_id)
        for sub in list(subs.items) if subs else []:
            if sub["status"] not in ("canceled", "incomplete_expired"):
                self.cancel_subscription(sub, request=request)
        return self.remove("customers", customer_id, request=request)

    def delete_product(self, product_id: str, *, request: Request = AUTOMATIC) -> dict:
        """`DELETE /v1/products/{id}`: only a product without prices; `product.deleted`."""
        return deletes.delete_product(self, product_id, request)

    def delete_invoice(self, invoice_id: str, *, request: Request = AUTOMATIC) -> dict:
        """`DELETE /v1/invoices/{id}`: only a one-off draft; `invoice.deleted`."""
        return deletes.delete_invoice(self, invoice_id, request)

    def delete_price(self, price_id: str, *, request: Request = AUTOMATIC) -> dict:
        """A price deleted in the Dashboard (the API cannot): only one never used and not its product's default
        price; `price.deleted`, and the price is gone (404)."""
        return deletes.delete_price(self, price_id, request)

    def archive_price(self, price_id: str, *, request: Request = AUTOMATIC) -> dict:
        """`active=false`, as `POST /v1/prices/{id}` or the Dashboard does: `price.updated` with
        `previous_attributes: {"active": true}` (no event if already archived). A default price is refused."""
        return deletes.archive_price(self, price_id, request)

    def create_customer(self, fields: dict[str, Any], *, request: Request = AUTOMATIC) -> dict:
        created = self.clock()
        coll = self.collections["customers"]
        customer_id = objects.new_id(self.ids, "cus", 14)
        while customer_id in coll.key_of:
            customer_id = objects.new_id(self.ids, "cus", 14)
        if "metadata" in fields:  # on create, the metadata patch is simply the initial metadata
            fields = {**fields, "metadata": {k: v for k, v in (fields["metadata"] or {}).items() if v}}
        customer = objects.customer(customer_id, created, **fields)
        self.add("customers", customer)
        self.emit("customer.created", customer, request=request)
        return customer

    def mutate(self, updates: int = 0, deletes: int = 0, creates: int = 0, *, product_creates: int = 0,
               price_creates: int = 0, invoice_creates: int = 0, price_deletes: int = 0, product_deletes: int = 0,
               invoice_deletes: int = 0) -> list[Event]:
        """Simulate account activity now: `updates` changed objects (mostly customers; also subscriptions
        canceled or edited, charges and invoices edited), `deletes` deleted customers, `creates` new customers
        (half with a paid subscription). Then, in this order: `product_creates` products without prices,
        `price_creates` prices on random products, `invoice_creates` one-off draft invoices, and up to
        `price_deletes` unused prices, `product_deletes` products without prices and `invoice_deletes` drafts
        deleted. Seeding makes no drafts, so `invoice_deletes` first creates the drafts it lacks (with their
        `invoice.created` events). Deterministic for a seed and call sequence; returns the new events."""
        from sandbox.stripe.mutate import Catalog, run

        self.mutations += 1
        before = len(self.event_by_id)
        catalog = Catalog(product_creates, price_creates, invoice_creates, price_deletes, product_deletes,
                          invoice_deletes)
        run(self, random.Random(f"{self.seed}:mutate:{self.mutations}"), updates, deletes, creates, catalog)
        return list(self.event_by_id.values())[before:]
