"""A signed HubSpot webhook delivery (an array of events) as object versions.

An event carries an object id and at most one property: never a whole record. Creations and property changes
therefore read the records again with every property (batch read); deletions mark them deleted.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from connectors.hubspot.connector import HubSpotConnector
from connectors.kit.model import RecordIn

KINDS = {"contact": "contacts", "company": "companies", "deal": "deals"}


async def delivery_records(connector: HubSpotConnector, headers: Mapping[str, str],
                           body: bytes) -> dict[str, list[RecordIn]]:
    events = orjson.loads(body)
    if not isinstance(events, list):
        raise ValueError("a HubSpot delivery is an array of events")
    streams = {s.name: s for s in connector.streams()}
    fetch: dict[str, list[str]] = {}
    gone: dict[str, dict[str, RecordIn]] = {}
    for event in events:
        kind = event.get("subscriptionType") or event.get("eventType") if isinstance(event, dict) else None
        if not isinstance(kind, str) or "objectId" not in event:
            raise ValueError("each HubSpot event needs `subscriptionType` and `objectId`")
        object_type, _, action = kind.partition(".")
        name = KINDS.get(object_type)
        if name not in streams:
            continue
        object_id = str(event["objectId"])
        if action == "deletion":
            at = event.get("occurredAt")
            gone.setdefault(name, {})[object_id] = RecordIn(
                object_id, None, deleted=True, updated_at_us=int(at) * 1000 if isinstance(at, int) else None,
                vendor_event_id=str(event.get("eventId")))
        elif object_id not in fetch.setdefault(name, []):
            fetch[name].append(object_id)
    out: dict[str, list[RecordIn]] = {}
    for name, ids in fetch.items():
        ids = [i for i in ids if i not in gone.get(name, {})]
        out[name] = await streams[name].fetch(ids) if ids else []
    for name, records in gone.items():
        out.setdefault(name, []).extend(records.values())
    return out
