"""HubSpot as inlet's registry sees it: its source settings, objects, connector, webhooks, what may be written and
its default mapping."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, SecretStr

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.objects import CRM_OBJECTS, OWNERS
from connectors.hubspot.signature import HEADER, TIMESTAMP_HEADER, verify_hubspot
from connectors.hubspot.webhook import delivery_records
from connectors.kit.settings import CloudAppSettings
from connectors.kit.spec import VendorSpec, WebhookRequest
from connectors.kit.writable import Writable

# Properties that HubSpot sets itself (a write is refused or ignored). A small, known list, not every read-only
# property a portal may have: for the others, HubSpot's answer to the write decides.
READ_ONLY: frozenset[str] = frozenset({
    "hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate", "hs_createdate",
    "hs_email_domain",  # calculated from the email
    "hs_email_optout",  # set through the subscriptions API, not as a property
    "notes_last_updated", "num_associated_contacts",  # calculated from activities and associations
})
READ_ONLY_PREFIXES: tuple[str, ...] = ("hs_analytics_",)  # HubSpot's own tracking figures
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class HubSpotSettings(CloudAppSettings):
    """HubSpot CRM: a private app's access token. `requests_per_10s` is the account's rolling limit (100 on
    Free/Starter, 190 on Professional/Enterprise, 250 with the limit-increase pack); `search_per_second` the
    search endpoints' own (5 per account, as documented)."""

    OBJECTS: ClassVar[tuple[str, ...]] = (*CRM_OBJECTS, OWNERS)
    bridge: Literal["hubspot"]
    token: SecretStr
    requests_per_10s: Annotated[int, Field(ge=1, le=1000)] = 100
    search_per_second: Annotated[int, Field(ge=1, le=100)] = 5  # the search endpoints' own limit


def connect(source, transport) -> HubSpotConnector:
    return HubSpotConnector(source.id, source.token, base_url=source.base_url, objects=source.object_names,
                            requests_per_10s=source.requests_per_10s, search_per_second=source.search_per_second,
                            rate_limit=source.rate_limit, transport=transport)


def verify(secret: str, request: WebhookRequest) -> None:
    verify_hubspot(secret, request.method, request.uri, request.body, request.headers.get(HEADER.lower()),
                   request.headers.get(TIMESTAMP_HEADER.lower()), now=time.time)


_PROPERTIES = Writable(prefix="properties.", key=PROPERTY_NAME, shown="properties.<name>", read_only=READ_ONLY,
                       read_only_prefixes=READ_ONLY_PREFIXES)

SPEC = VendorSpec(
    bridge="hubspot", title="HubSpot", settings=HubSpotSettings,
    objects={**{name: obj.object_type for name, obj in CRM_OBJECTS.items()}, OWNERS: "owner"},
    connect=connect, verify_webhook=verify, delivery_records=delivery_records,
    default_mapping=Path(__file__).with_name("mapping.yaml"),
    writable={"contact": _PROPERTIES, "company": _PROPERTIES},  # deals and owners are read only in inlet
    webhook_headers={HEADER: "v3: base64 HMAC-SHA256 of method, URI, body and timestamp",
                     TIMESTAMP_HEADER: "the signing time (ms)"},
)
