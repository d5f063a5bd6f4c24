"""A signed Shopify webhook delivery as object versions.

Shopify sends the REST representation (numeric ids, snake_case fields), while the pull stores the GraphQL
one: so a create or update delivery is only a signal, and the object is read again by its global id with the
pull's own selection. A delete delivery marks the record deleted. The topic says which object it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import orjson

from connectors.kit.model import RecordIn
from connectors.shopify.connector import ShopifyConnector
from connectors.shopify.stream import gid, parse

TOPICS = {"customers": "Customer", "orders": "Order", "products": "Product"}


async def delivery_records(connector: ShopifyConnector, headers: Mapping[str, str],
                           body: bytes) -> dict[str, list[RecordIn]]:
    topic = headers.get("x-shopify-topic", "")
    name, _, action = topic.partition("/")
    payload = orjson.loads(body)
    if not isinstance(payload, dict) or "id" not in payload:
        raise ValueError("a Shopify delivery needs the object's `id`")
    streams = {s.name: s for s in connector.streams()}
    if name not in TOPICS or name not in streams:
        return {}
    object_id = payload.get("admin_graphql_api_id") or gid(TOPICS[name], payload["id"])
    if action == "delete":
        when = parse(headers.get("x-shopify-triggered-at")) or datetime.now().astimezone()
        return {name: [RecordIn(object_id, None, deleted=True, updated_at_us=int(when.timestamp() * 1_000_000),
                                vendor_event_id=headers.get("x-shopify-webhook-id"))]}
    return {name: await streams[name].fetch([object_id])}
