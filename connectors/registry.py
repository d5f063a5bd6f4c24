"""Every cloud app inlet pulls from, by bridge: the one place that imports the vendor packages. The engine and the
mappings find a vendor's settings, objects, connector, webhooks, writable fields and default mapping here."""

from __future__ import annotations

from connectors.hubspot.spec import SPEC as HUBSPOT
from connectors.kit.spec import VendorSpec
from connectors.rest.spec import SPEC as REST
from connectors.shopify.spec import SPEC as SHOPIFY
from connectors.stripe.spec import SPEC as STRIPE

VENDORS: dict[str, VendorSpec] = {spec.bridge: spec for spec in (STRIPE, HUBSPOT, SHOPIFY, REST)}


def vendor(bridge: str) -> VendorSpec | None:
    return VENDORS.get(bridge)
