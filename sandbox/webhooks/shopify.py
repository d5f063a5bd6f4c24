"""Shopify's webhooks (VENDOR_FACTS 2.6): one POST per topic per change, the REST resource as the body.

Topics: `customers/create|update|delete`, `orders/create|updated|delete` (orders spell it "updated"),
`products/create|update|delete`. Create and update bodies are the REST representation without an envelope
(numeric `id`, snake_case fields, `admin_graphql_api_id`), a realistic subset built from the sandbox's stored
object at the moment of the change; delete bodies are the minimal ones of the facts file. The body is rendered
once: retries and redeliveries send the same bytes with the same `X-Shopify-Webhook-Id` ("the original payload").

Headers: `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256 of the raw body keyed with the app secret (no timestamp
scheme), `X-Shopify-Topic`, `-Shop-Domain`, `-API-Version`, `-Webhook-Id` (one per delivery), `-Event-Id` (one
per change, shared by the deliveries to several endpoints), `-Triggered-At` (when the change happened).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from sandbox.shopify.formats import money
from sandbox.webhooks.sender import Delivery, Message

if TYPE_CHECKING:
    from sandbox.shopify.data import Change, ShopifySandbox
    from sandbox.webhooks.sender import WebhookSender

TOPICS = {("customers", "create"): "customers/create", ("customers", "update"): "customers/update",
          ("customers", "delete"): "customers/delete", ("orders", "create"): "orders/create",
          ("orders", "update"): "orders/updated", ("orders", "delete"): "orders/delete",
          ("products", "create"): "products/create", ("products", "update"): "products/update",
          ("products", "delete"): "products/delete"}
USER_AGENT = "Shopify-Captain-Hook"  # what Shopify's deliveries say they are [recalled, UNCONFIRMED]
# REST renders times in the shop's time zone; the sandbox shop keeps a fixed UTC-5 (the docs' examples show
# -05:00), so a receiver meets a real offset rather than Z. GraphQL still reads the same instants in UTC.
UTC_OFFSET = -5 * 3600
_FULFILLMENT = {"UNFULFILLED": None, "PARTIALLY_FULFILLED": "partial", "FULFILLED": "fulfilled"}


class Payload(NamedTuple):
    body: bytes
    shop: str
    event_id: str
    triggered_at: str


def hmac_header(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class ShopifyFormat:
    def __init__(self, sender: WebhookSender, *, shop_domain: str | None = None, api_version: str | None = None
                 ) -> None:
        from sandbox.shopify.app import API_VERSIONS

        self.sender = sender
        self.shop_domain = shop_domain
        self.api_version = api_version or API_VERSIONS[-1]

    def attach(self, sandbox: ShopifySandbox) -> Callable[[], None]:
        from sandbox.shopify.data import ShopifySandbox

        shop = self.shop_domain or sandbox.shop

        def on_change(change: Change) -> None:
            topic = TOPICS[(change.kind, change.action)]
            body = orjson.dumps(rest_body(sandbox, change.kind, change.action, change.obj))
            now = self.sender.now()
            triggered = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
            event_id = str(uuid.uuid4())
            self.sender.submit(Message(event_id, topic, Payload(body, shop, event_id, triggered)))

        return self.sender.listener(sandbox, ShopifySandbox, on_change)

    def prepare(self, delivery: Delivery, message: Message) -> None:
        delivery.id = str(uuid.uuid4())  # "a unique composite key per delivery", kept on retries

    def request(self, delivery: Delivery, attempt: int) -> tuple[bytes, dict[str, str]]:
        p: Payload = delivery.payload
        return p.body, {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Shopify-Topic": delivery.topic,
                        "X-Shopify-Hmac-Sha256": hmac_header(self.sender.secret, p.body),
                        "X-Shopify-Shop-Domain": p.shop, "X-Shopify-API-Version": self.api_version,
                        "X-Shopify-Webhook-Id": delivery.id, "X-Shopify-Event-Id": p.event_id,
                        "X-Shopify-Triggered-At": p.triggered_at}

    def batches(self, messages: list[Message]) -> list[Message]:
        return messages


# -- REST bodies -----------------------------------------------------------------------------------------------

def rest_time(t: int | None) -> str | None:
    if t is None:
        return None
    sign = "-" if UTC_OFFSET < 0 else "+"
    hours, minutes = divmod(abs(UTC_OFFSET) // 60, 60)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + UTC_OFFSET)) + f"{sign}{hours:02d}:{minutes:02d}"


def _seconds(text: str | None) -> int | None:
    """A stored GraphQL DateTime (`2024-01-01T00:00:00Z`) as epoch seconds."""
    return None if text is None else int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _num(global_id: str) -> int:
    return int(global_id.rsplit("/", 1)[1].split("?", 1)[0])


def rest_body(sb: ShopifySandbox, kind: str, action: str, obj: dict) -> dict:
    if action == "delete":
        if kind == "customers":  # the minimal delete bodies of VENDOR_FACTS 2.6 [UNCONFIRMED there]
            return {"id": obj["_num"], "phone": None, "addresses": [], "tax_exemptions": [],
                    "email_marketing_consent": None, "sms_marketing_consent": None,
                    "admin_graphql_api_id": obj["id"]}
        return {"id": obj["_num"]}
    if kind == "customers":
        return customer(obj)
    if kind == "orders":
        return order(sb, obj)
    return product(obj)


def _address(obj: dict) -> dict | None:
    address = obj.get("defaultAddress")
    if address is None:
        return None
    return {"id": _num(address["id"]), "customer_id": obj["_num"], "first_name": address["firstName"],
            "last_name": address["lastName"], "company": address["company"], "address1": address["address1"],
            "address2": address["address2"], "city": address["city"], "province": address["province"],
            "country": address["country"], "zip": address["zip"], "phone": address["phone"],
            "name": address["name"], "province_code": address["provinceCode"],
            "country_code": address["countryCodeV2"], "country_name": address["country"], "default": True}


def customer(obj: dict) -> dict:
    address = _address(obj)
    marketing = obj["_marketing"].lower()
    consent = None if obj["email"] is None else {
        "state": marketing, "opt_in_level": "single_opt_in" if marketing == "subscribed" else None,
        "consent_updated_at": None}
    sms = None if obj["phone"] is None else {"state": "not_subscribed", "opt_in_level": "single_opt_in",
                                             "consent_updated_at": None, "consent_collected_from": "OTHER"}
    return {"id": obj["_num"], "email": obj["email"], "created_at": rest_time(obj["_created"]),
            "updated_at": rest_time(obj["_updated"]), "first_name": obj["firstName"], "last_name": obj["lastName"],
            "orders_count": obj["_orders"], "state": obj["state"].lower(), "total_spent": money(obj["_spent"]),
            "note": obj["note"], "verified_email": obj["verifiedEmail"], "multipass_identifier": None,
            "tax_exempt": obj["taxExempt"], "tags": ", ".join(obj["tags"]), "currency": "USD", "phone": obj["phone"],
            "addresses": [address] if address else [], "tax_exemptions": [], "email_marketing_consent": consent,
            "sms_marketing_consent": sms, "admin_graphql_api_id": obj["id"], "default_address": address}


def order(sb: ShopifySandbox, obj: dict) -> dict:
    buyer = sb.customers.by_id.get(obj["_customer"]) if obj["_customer"] is not None else None
    items = [{"id": li["_num"], "admin_graphql_api_id": li["id"], "title": li["title"], "name": li["name"],
              "variant_title": li["name"].split(" - ", 1)[-1], "quantity": li["quantity"], "sku": li["sku"],
              "vendor": li["vendor"], "price": money(li["_unit"])} for li in obj["_lineItems"]]
    out: dict[str, Any] = {
        "id": obj["_num"], "admin_graphql_api_id": obj["id"], "name": obj["name"], "number": obj["_number"] - 1000,
        "order_number": obj["_number"], "email": obj["email"], "contact_email": obj["email"],
        "created_at": rest_time(obj["_created"]), "updated_at": rest_time(obj["_updated"]),
        "processed_at": rest_time(obj["_processed"]), "closed_at": rest_time(obj["_closed"]),
        "cancelled_at": rest_time(obj["_cancelled"]),
        "cancel_reason": obj["cancelReason"].lower() if obj["cancelReason"] else None,
        "financial_status": obj["displayFinancialStatus"].lower(),
        "fulfillment_status": _FULFILLMENT.get(obj["displayFulfillmentStatus"]), "currency": obj["currencyCode"],
        "subtotal_price": money(_cents(obj["subtotalPriceSet"])), "total_tax": money(_cents(obj["totalTaxSet"])),
        "total_price": money(obj["_total"]), "tags": ", ".join(obj["tags"]), "note": obj["note"],
        "test": obj["test"], "confirmed": True, "line_items": items,
        "customer": None if buyer is None else {
            "id": buyer["_num"], "email": buyer["email"], "first_name": buyer["firstName"],
            "last_name": buyer["lastName"], "state": buyer["state"].lower(), "phone": buyer["phone"],
            "admin_graphql_api_id": buyer["id"]},
    }
    return out


def _cents(bag: dict) -> int:
    return round(float(bag["shopMoney"]["amount"]) * 100)


def product(obj: dict) -> dict:
    variants = [{"id": v["_num"], "product_id": obj["_num"], "title": v["title"], "price": v["price"], "sku": v["sku"],
                 "position": i + 1, "inventory_policy": "deny", "compare_at_price": None, "option1": v["title"],
                 "created_at": rest_time(_seconds(v["createdAt"])), "updated_at": rest_time(_seconds(v["updatedAt"])),
                 "taxable": True, "barcode": None, "inventory_quantity": v["inventoryQuantity"],
                 "admin_graphql_api_id": v["id"]} for i, v in enumerate(obj["_variants"])]
    return {"id": obj["_num"], "title": obj["title"], "body_html": obj["descriptionHtml"], "vendor": obj["vendor"],
            "product_type": obj["productType"], "created_at": rest_time(obj["_created"]), "handle": obj["handle"],
            "updated_at": rest_time(obj["_updated"]), "published_at": rest_time(obj["_published"]),
            "template_suffix": None, "published_scope": "global", "tags": ", ".join(obj["tags"]),
            "status": obj["status"].lower(), "admin_graphql_api_id": obj["id"], "variants": variants,
            "images": [], "image": None}
