"""A signed Stripe webhook delivery (one event) as object versions, through the same code as the events pull."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from connectors.kit.model import RecordIn
from connectors.stripe.connector import StripeConnector


async def delivery_records(connector: StripeConnector, headers: Mapping[str, str],
                           body: bytes) -> dict[str, list[RecordIn]]:
    """{stream name: versions}; an event of a type inlet does not sync gives nothing."""
    event = orjson.loads(body)
    if not isinstance(event, dict) or not isinstance(event.get("type"), str) or "id" not in event:
        raise ValueError("a Stripe event needs `id` and `type`")
    for stream in connector.streams():
        if event["type"] in stream.obj.event_types:
            records, _ = await stream.records_from_events([event], None)
            return {stream.name: records}
    return {}
