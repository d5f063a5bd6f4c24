"""The rest bridge as inlet's registry sees it: its settings, the objects each source declares, its connector. It
receives no webhooks, writes nothing back and ships no default mapping (its objects are whatever a source declares)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.kit.model import RecordIn
from connectors.kit.signatures import SignatureRejected
from connectors.kit.spec import VendorSpec, WebhookRequest
from connectors.rest.connector import RestConnector
from connectors.rest.settings import RestSettings


def connect(source, transport) -> RestConnector:
    return RestConnector(source.id, source, transport=transport)


def verify(secret: str, request: WebhookRequest) -> None:
    raise SignatureRejected("no_webhooks", "the rest bridge receives no webhooks")


async def delivery_records(connector: Any, headers: Mapping[str, str], body: bytes) -> dict[str, list[RecordIn]]:
    raise SignatureRejected("no_webhooks", "the rest bridge receives no webhooks")


def source_objects(source: RestSettings) -> dict[str, str]:
    return source.object_types()


SPEC = VendorSpec(
    bridge="rest", title="REST API", settings=RestSettings, objects={}, connect=connect, verify_webhook=verify,
    delivery_records=delivery_records, default_mapping=None, source_objects=source_objects,
)
