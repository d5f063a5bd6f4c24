"""People who are customers of all three apps: `inlet sandbox` gives a share of the Stripe customers a HubSpot
contact and a Shopify customer with the same email and name, as a business that bills, sells and ships to the same
people has. Each vendor's seed makes its own people; this step, run after seeding, makes some of them one person."""

from __future__ import annotations

import datetime as dt

from sandbox.hubspot.data import HubSpotSandbox
from sandbox.shopify.data import ShopifySandbox
from sandbox.stripe.data import StripeSandbox


def share_people(stripe: StripeSandbox, hubspot: HubSpotSandbox, shopify: ShopifySandbox, share: float) -> list[str]:
    """Give the first `share` of Stripe's customers with an email (oldest first) the same email and name in HubSpot
    and Shopify, on a contact and a customer each; returns those emails.
    Their modification times stay as seeded: this is how the accounts start, not a change made later."""
    customers = sorted((c for c in stripe.collections["customers"].by_id.values() if c.get("email")),
                       key=lambda c: (c["created"], c["id"]))
    contacts = hubspot.store("contact")
    shop = shopify.objects("customers")  # in id order, with their seeded updatedAt
    count = min(int(len(customers) * share), len(contacts.live), len(shop))
    shared = []
    for customer, contact_id, buyer in zip(customers[:count], contacts.live[:count], shop[:count], strict=True):
        email = customer["email"].lower()
        first, _, last = (customer.get("name") or "").partition(" ")
        rec = contacts.by_id[contact_id]
        hubspot.apply(contacts, rec, {"email": email, "firstname": first or None, "lastname": last or None},
                      stamp=(rec.updated_ms, rec.props[contacts.kind.lastmod]))
        seeded = int(dt.datetime.fromisoformat(buyer["updatedAt"].replace("Z", "+00:00")).timestamp())
        shopify.update("customers", buyer["id"], at=seeded, email=email, firstName=first or None,
                       lastName=last or None)
        shared.append(email)
    return shared
