"""Stripe as inlet's registry sees it: its source settings, objects, connector, webhooks, what may be written and its
default mapping."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import SecretStr

from connectors.kit.settings import CloudAppSettings
from connectors.kit.spec import VendorSpec, WebhookRequest
from connectors.kit.writable import Writable
from connectors.stripe.connector import StripeConnector
from connectors.stripe.objects import OBJECTS
from connectors.stripe.signature import HEADER, verify_stripe
from connectors.stripe.webhook import delivery_records

METADATA_KEY_MAX = 40


class StripeSettings(CloudAppSettings):
    """Stripe: a secret or restricted key (`sk_test_…`, `sk_live_…`, `rk_…`); the key decides test or live mode."""

    OBJECTS: ClassVar[tuple[str, ...]] = tuple(OBJECTS)
    bridge: Literal["stripe"]
    api_key: SecretStr


def connect(source, transport) -> StripeConnector:
    return StripeConnector(source.id, source.api_key, base_url=source.base_url, objects=source.object_names,
                           rate_limit=source.rate_limit, transport=transport)


def verify(secret: str, request: WebhookRequest) -> None:
    verify_stripe(secret, request.body, request.headers.get(HEADER.lower()), now=time.time)


SPEC = VendorSpec(
    bridge="stripe", title="Stripe", settings=StripeSettings,
    objects={name: obj.object_type for name, obj in OBJECTS.items()},
    connect=connect, verify_webhook=verify, delivery_records=delivery_records,
    default_mapping=Path(__file__).with_name("mapping.yaml"),
    writable={"customer": Writable(
        fields=("email", "name", "phone", "description"), prefix="metadata.",
        key=re.compile(rf"^[^\[\]]{{1,{METADATA_KEY_MAX}}}$"),
        shown=f"metadata.<key> (a key of at most {METADATA_KEY_MAX} characters, no '[' or ']')")},
    webhook_headers={HEADER: "the signature: t=<unix time>,v1=<hex HMAC-SHA256>"},
)
