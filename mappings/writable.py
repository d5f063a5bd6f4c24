"""Which objects each bridge has, and what inlet can write back to each vendor: the rules a mapping's `two-way`
and `out` fields are checked against, and that the connectors' writers can rely on.

- HubSpot contact and company: `properties.<name>`, except the read-only properties below (HubSpot sets them).
- Shopify customer: `email`, `firstName`, `lastName`, `phone`, `note`, `tags`, and `metafields.<namespace>.<key>`
  as `out` only (inlet's pull does not read metafields, so a two-way field could never see the remote value).
- Stripe customer: `email`, `name`, `phone`, `description`, `metadata.<key>` (a key of at most 40 characters,
  without `[` or `]`).

Nothing else is written: HubSpot deals and owners, Shopify orders and products, and every Stripe object but the
customer are read only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OBJECTS: dict[str, tuple[str, ...]] = {  # the singular object types of each cloud-app bridge (records.object_type)
    "hubspot": ("contact", "company", "deal", "owner"),
    "shopify": ("customer", "order", "product"),
    "stripe": ("customer", "charge", "invoice", "subscription", "product", "price"),
}
EVENT_BRIDGES: frozenset[str] = frozenset({"webhook", "tracking", "redirect"})  # push bridges: `events:` only

# HubSpot properties that HubSpot sets itself (a write is refused or ignored). A small, known list, not every
# read-only property a portal may have: for the others, HubSpot's answer to the write decides.
HUBSPOT_READ_ONLY: frozenset[str] = frozenset({
    "hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate", "hs_createdate",
    "hs_email_domain",  # calculated from the email
    "hs_email_optout",  # set through the subscriptions API, not as a property
    "notes_last_updated", "num_associated_contacts",  # calculated from activities and associations
})
HUBSPOT_READ_ONLY_PREFIXES: tuple[str, ...] = ("hs_analytics_",)  # HubSpot's own tracking figures
HUBSPOT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

SHOPIFY_CUSTOMER_FIELDS: tuple[str, ...] = ("email", "firstName", "lastName", "phone", "note", "tags")
SHOPIFY_METAFIELD = re.compile(r"^[A-Za-z0-9_-]{1,255}\.[A-Za-z0-9_-]{1,64}$")  # <namespace>.<key>

STRIPE_CUSTOMER_FIELDS: tuple[str, ...] = ("email", "name", "phone", "description")
STRIPE_METADATA_KEY_MAX = 40


@dataclass(frozen=True)
class Writable:
    """What inlet writes to one vendor object: exact `fields`; keys under `prefix` (each matching `key`, unless
    read-only), shown as `shown`; and keys under `out_prefix`, shown as `out_shown`, that only `out` fields write."""

    fields: tuple[str, ...] = ()
    prefix: str | None = None
    key: re.Pattern | None = None
    shown: str = ""
    read_only: frozenset[str] = frozenset()
    read_only_prefixes: tuple[str, ...] = ()
    out_prefix: str | None = None
    out_key: re.Pattern | None = None
    out_shown: str = ""
    out_only_why: str = ""

    def summary(self) -> str:
        parts = list(self.fields)
        if self.prefix:
            excluded = sorted(self.read_only) + [p + "*" for p in self.read_only_prefixes]
            parts.append(self.shown + (f" except {', '.join(excluded)}" if excluded else ""))
        if self.out_prefix:
            parts.append(f"{self.out_shown} (out only)")
        return ", ".join(parts)

    def problem(self, path: str, direction: str) -> str | None:
        """Why `path` cannot be written with `direction` (two-way or out), or None when it can."""
        if path in self.fields:
            return None
        if self.prefix and path.startswith(self.prefix):
            key = path[len(self.prefix):]
            if key in self.read_only or key.startswith(self.read_only_prefixes):
                return f"{path} is read-only (the vendor sets it); writable: {self.summary()}"
            if self.key is not None and not self.key.match(key):
                return f"{path} is not a valid {self.shown}"
            return None
        if self.out_prefix and path.startswith(self.out_prefix):
            key = path[len(self.out_prefix):]
            if self.out_key is not None and not self.out_key.match(key):
                return f"{path} is not a valid {self.out_shown}; writable: {self.summary()}"
            if direction != "out":
                return f"{path} can only be written with direction: out, because {self.out_only_why}"
            return None
        return f"{path} cannot be written; writable: {self.summary()}"


_HUBSPOT = Writable(prefix="properties.", key=HUBSPOT_NAME, shown="properties.<name>", read_only=HUBSPOT_READ_ONLY,
                    read_only_prefixes=HUBSPOT_READ_ONLY_PREFIXES)

WRITABLE: dict[tuple[str, str], Writable] = {
    ("hubspot", "contact"): _HUBSPOT,
    ("hubspot", "company"): _HUBSPOT,
    ("shopify", "customer"): Writable(
        fields=SHOPIFY_CUSTOMER_FIELDS, out_prefix="metafields.", out_key=SHOPIFY_METAFIELD,
        out_shown="metafields.<namespace>.<key>",
        out_only_why="inlet's Shopify pull does not read metafields (a two-way field would never see the value "
                     "in Shopify)"),
    ("stripe", "customer"): Writable(
        fields=STRIPE_CUSTOMER_FIELDS, prefix="metadata.",
        key=re.compile(rf"^[^\[\]]{{1,{STRIPE_METADATA_KEY_MAX}}}$"),
        shown=f"metadata.<key> (a key of at most {STRIPE_METADATA_KEY_MAX} characters, no '[' or ']')"),
}


def write_problem(bridge: str, object_type: str, path: str, direction: str = "two-way") -> str | None:
    """Why a `direction` field (two-way or out) on `path` of a `bridge` `object_type` cannot be, or None."""
    rules = WRITABLE.get((bridge, object_type))
    if rules is None:
        groups: dict[str, list[str]] = {}
        for (b, o), w in WRITABLE.items():
            if b == bridge:
                groups.setdefault(w.summary(), []).append(o)
        writable = "; ".join(f"{bridge} {' and '.join(objs)}: {summary}" for summary, objs in groups.items())
        return (f"inlet does not write {bridge} {object_type} objects"
                + (f"; writable: {writable}" if writable else f"; nothing is written to {bridge}"))
    return rules.problem(path, direction)


def can_write(bridge: str, object_type: str, path: str, direction: str = "two-way") -> bool:
    return write_problem(bridge, object_type, path, direction) is None
