"""The Stripe objects inlet syncs: their list endpoints, the events that change them, and which are really
deleted. Event types are listed one by one because `types[]` takes exact names (wildcards work only in
`type`, and `customer.*` would also match `customer.subscription.*` and `customer.source.*`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class StripeObject:
    name: str  # plural, the list path and `objects:` name
    object_type: str  # singular: records.object_type and the object's own `object` field
    event_types: tuple[str, ...]
    deleted_by: frozenset[str] = frozenset()  # events after which the object no longer exists
    list_params: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/v1/{self.name}"


OBJECTS: dict[str, StripeObject] = {o.name: o for o in (
    StripeObject("customers", "customer", ("customer.created", "customer.updated", "customer.deleted"),
                 deleted_by=frozenset({"customer.deleted"})),
    StripeObject("charges", "charge", (
        "charge.captured", "charge.expired", "charge.failed", "charge.pending", "charge.refunded",
        "charge.succeeded", "charge.updated")),
    StripeObject("invoices", "invoice", (
        "invoice.created", "invoice.deleted", "invoice.finalization_failed", "invoice.finalized",
        "invoice.marked_uncollectible", "invoice.overdue", "invoice.paid", "invoice.payment_action_required",
        "invoice.payment_failed", "invoice.payment_succeeded", "invoice.sent", "invoice.updated",
        "invoice.voided", "invoice.will_be_due"),
        deleted_by=frozenset({"invoice.deleted"})),  # only drafts can be deleted
    # A canceled subscription still exists (`status: canceled`): its `.deleted` event is an update here.
    StripeObject("subscriptions", "subscription", (
        "customer.subscription.created", "customer.subscription.deleted", "customer.subscription.paused",
        "customer.subscription.pending_update_applied", "customer.subscription.pending_update_expired",
        "customer.subscription.resumed", "customer.subscription.trial_will_end", "customer.subscription.updated"),
        list_params={"status": "all"}),  # the list hides canceled subscriptions unless asked
    StripeObject("products", "product", ("product.created", "product.updated", "product.deleted"),
                 deleted_by=frozenset({"product.deleted"})),
    StripeObject("prices", "price", ("price.created", "price.updated", "price.deleted"),
                 deleted_by=frozenset({"price.deleted"})),
)}
