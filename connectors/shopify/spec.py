"""Shopify as inlet's registry sees it: its source settings, objects, connector, webhooks, what may be written and
its default mapping."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import SecretStr, field_validator

from connectors.kit.settings import CloudAppSettings
from connectors.kit.spec import VendorSpec, WebhookRequest
from connectors.kit.writable import Writable
from connectors.shopify.connector import API_VERSION, ShopifyConnector
from connectors.shopify.objects import OBJECTS
from connectors.shopify.signature import HEADER, verify_shopify
from connectors.shopify.webhook import delivery_records

_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
_VERSION = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")
METAFIELD = re.compile(r"^[A-Za-z0-9_-]{1,255}\.[A-Za-z0-9_-]{1,64}$")  # <namespace>.<key>


class ShopifySettings(CloudAppSettings):
    """Shopify: the shop's `*.myshopify.com` domain and an Admin API access token (`shpat_…`). `api_version`
    is the GraphQL Admin API version (quarterly, `YYYY-MM`)."""

    OBJECTS: ClassVar[tuple[str, ...]] = tuple(OBJECTS)
    bridge: Literal["shopify"]
    shop: str
    access_token: SecretStr
    api_version: str = API_VERSION

    @field_validator("shop")
    @classmethod
    def _shop_domain(cls, value: str) -> str:
        if not _SHOP.match(value):
            raise ValueError(f"{value!r} is not a shop's domain like acme.myshopify.com")
        return value

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError(f"{value!r} is not a Shopify API version: YYYY-01, -04, -07 or -10 (or unstable)")
        return value


def connect(source, transport) -> ShopifyConnector:
    return ShopifyConnector(source.id, source.shop, source.access_token, base_url=source.base_url,
                            api_version=source.api_version, objects=source.object_names,
                            rate_limit=source.rate_limit, transport=transport)


def verify(secret: str, request: WebhookRequest) -> None:
    verify_shopify(secret, request.body, request.headers.get(HEADER.lower()))


SPEC = VendorSpec(
    bridge="shopify", title="Shopify", settings=ShopifySettings,
    objects={name: obj.object_type for name, obj in OBJECTS.items()},
    connect=connect, verify_webhook=verify, delivery_records=delivery_records,
    default_mapping=Path(__file__).with_name("mapping.yaml"),
    writable={"customer": Writable(
        fields=("email", "firstName", "lastName", "phone", "note", "tags"), out_prefix="metafields.",
        out_key=METAFIELD, out_shown="metafields.<namespace>.<key>",
        out_only_why="inlet's Shopify pull does not read metafields (a two-way field would never see the value "
                     "in Shopify)")},
    webhook_headers={HEADER: "base64 HMAC-SHA256 of the body"},
)
