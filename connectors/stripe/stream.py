"""One Stripe object, read as a stream of pages for the sync runner.

The first run (and a full refresh) reads the list endpoint, newest first, as a complete read: the runner then
knows which stored objects were not met. Before it starts it notes the newest event of the object's types,
so that the next runs read `/v1/events` from there, oldest first (`ending_before`), and apply each event's copy
of the object. Stripe keeps events for 30 days: a cursor older than that falls back to a new complete read,
and the run log says so.

Cursors (`StripeScan`, `StripeEvents`; version 2, typed; the untyped dicts of version 1 are upgraded):
    scan:    {"phase": "scan", "how": ..., "scan": ..., "after": <last id read>, "created": <its created>,
              "next": <the events cursor it hands over to>}
    changes: {"phase": "changes", "after": <last event id applied or null>, "at": <its created, or when we looked>}
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from connectors.kit import EndingBefore, RequestRejected, SourceClient, StartingAfter
from connectors.kit.ids import new_id
from connectors.kit.model import Page, RecordIn
from connectors.kit.phased import Cursor, CursorCodec, PhasedStream, Rescan
from connectors.stripe.objects import StripeObject

RETENTION = 30 * 86400  # seconds of events Stripe keeps
RETENTION_MARGIN = 3600  # fall back a little early: an event expiring mid-run would break the chain
CLOCK_MARGIN = 300  # when no event marks the start, look back this far (our clock vs Stripe's)
PAGE_SIZE = 100  # Stripe's maximum


class StripeEvents(Cursor):
    phase: Literal["changes"] = "changes"
    after: str | None  # the last event applied; None: none yet, start from the oldest one since `at`
    at: int  # that event's `created`, or when we looked (unix seconds)


class StripeScan(Cursor):
    phase: Literal["scan"] = "scan"
    how: str
    scan: str
    after: str | None = None  # the last object read (the list is newest first)
    created: int | None = None  # its `created`: where to go on from if it is deleted meanwhile
    next: StripeEvents  # the events cursor the complete read hands over to, noted before it began


def upgrade(raw: dict[str, Any], version: int) -> dict[str, Any]:
    """Version 1 (untyped): {"mode": "list", ...} and {"mode": "events", ...} with the same keys."""
    mode = raw.pop("mode")
    if mode == "events":
        return {"phase": "changes", **raw}
    if mode == "list":
        return {"phase": "scan", **{"how": "list", **raw}, "next": upgrade(dict(raw["next"]), version)}
    raise ValueError(f"unknown mode {mode!r}")


CURSORS = CursorCodec(StripeScan, StripeEvents, version=2, upgrade=upgrade)


class StripeStream(PhasedStream):
    cursors = CURSORS
    scan_then_changes = False  # the events since the read began are read by the next run

    def __init__(self, client: SourceClient, obj: StripeObject, *, now: Callable[[], float] = time.time) -> None:
        self.client = client
        self.obj = obj
        self.name = obj.name
        self.object_type = obj.object_type
        self._now = now

    # -- complete read of the list endpoint -------------------------------------------------------------------
    async def begin_scan(self, how: str) -> tuple[StripeScan, int]:
        """Note the newest event of the object's types first: the events after it are read once the list is."""
        body = await self.client.get_json("/v1/events", {"types[]": list(self.obj.event_types), "limit": 1},
                                          object_name=self.name)
        data = body.get("data") or []
        handover = StripeEvents(after=data[0]["id"], at=data[0]["created"]) if data else \
            StripeEvents(after=None, at=int(self._now()) - CLOCK_MARGIN)
        return StripeScan(how=how, scan=new_id(), next=handover), 1

    async def scan(self, cursor: StripeScan) -> AsyncIterator[Page]:
        requests = 0
        params: dict[str, Any] = dict(self.obj.list_params)
        if cursor.after is not None:
            params["starting_after"] = cursor.after
        while True:
            try:
                async for records in self.client.pages(StartingAfter(PAGE_SIZE), self.obj.path, params,
                                                       object_name=self.name, records_path="data"):
                    requests += 1
                    if records:
                        cursor = cursor.model_copy(update={"after": records[-1]["id"],
                                                           "created": records[-1].get("created")})
                    yield Page([RecordIn(r["id"], r) for r in records], cursor, scan_id=cursor.scan,
                               requests=requests, mode=cursor.how)
                    requests = 0
                break
            except RequestRejected as exc:
                # The object to start after was deleted meanwhile (Stripe: 404): go on from its `created`
                # second instead; the objects met twice are unchanged and cost nothing.
                if exc.status != 404 or cursor.created is None or "created[lte]" in params:
                    raise
                requests += 1
                params = dict(self.obj.list_params)
                params["created[lte]"] = cursor.created
        yield Page([], cursor.next, scan_id=cursor.scan, scan_complete=True, requests=requests, mode=cursor.how)

    # -- events since the cursor ------------------------------------------------------------------------------
    async def changes(self, cursor: StripeEvents) -> AsyncIterator[Page]:
        now = int(self._now())
        if cursor.at < now - RETENTION + RETENTION_MARGIN:
            raise Rescan("the cursor is older than the 30 days of events Stripe keeps: read every object again "
                         "(a complete read, which also finds deletions)", how="list (events expired)")
        requests = 0
        after = cursor.after
        if after is None:
            first, requests = await self._oldest_event_since(cursor.at)
            if first is None:  # nothing happened: move the mark forward so it never ages out
                yield Page([], StripeEvents(after=None, at=now - CLOCK_MARGIN), requests=requests, mode="events")
                return
            records, cursor = await self.records_from_events([first], cursor)
            yield Page(records, cursor, requests=requests, mode="events")
            requests, after = 0, first["id"]
        params = {"types[]": list(self.obj.event_types), "ending_before": after}
        try:
            async for events in self.client.pages(EndingBefore(PAGE_SIZE), "/v1/events", params,
                                                  object_name=self.name, records_path="data"):
                requests += 1
                # newest first on the wire, applied oldest first; not reversed in place: the paginator reads the
                # page after this loop body, and takes its newest id from the front
                records, cursor = await self.records_from_events(events[::-1], cursor)
                yield Page(records, cursor, requests=requests, mode="events")
                requests = 0
        except RequestRejected as exc:
            if exc.status != 404:
                raise
            raise Rescan(f"the event the cursor points at ({after}) is gone from Stripe: read every object again",
                         how="list (events expired)") from None

    async def _oldest_event_since(self, at: int) -> tuple[dict | None, int]:
        """Walk the events created at or after `at` (newest first) to the oldest one; keeps one page in memory."""
        oldest, requests = None, 0
        params = {"types[]": list(self.obj.event_types), "created[gte]": at}
        async for events in self.client.pages(StartingAfter(PAGE_SIZE), "/v1/events", params,
                                              object_name=self.name, records_path="data"):
            requests += 1
            if events:
                oldest = events[-1]
        return oldest, requests

    async def records_from_events(self, events: list[dict],
                                  cursor: StripeEvents | None) -> tuple[list[RecordIn], StripeEvents | None]:
        """The object versions `events` carry (re-fetched when thin), and the events cursor after them; the
        signed webhook deliveries go through here too."""
        records = []
        for event in events:
            cursor = StripeEvents(after=event["id"], at=event["created"])
            obj = (event.get("data") or {}).get("object")
            if event.get("type") not in self.obj.event_types:
                continue
            if not isinstance(obj, dict) or obj.get("object") != self.object_type or "id" not in obj:
                obj = await self._refetch(event)
                if obj is None:
                    continue
            deleted = event["type"] in self.obj.deleted_by or obj.get("deleted") is True
            records.append(RecordIn(obj["id"], None if obj.get("deleted") is True else obj, deleted=deleted,
                                    updated_at_us=int(event["created"]) * 1_000_000, vendor_event_id=event["id"]))
        return records, cursor

    async def _refetch(self, event: dict) -> dict | None:
        """The object itself, when the event's copy is missing or not the object (thin events); a 404 is a
        deletion."""
        obj = (event.get("data") or {}).get("object") or {}
        object_id = obj.get("id") if isinstance(obj, dict) and obj.get("object") in (None, self.object_type) else None
        object_id = object_id or (event.get("related_object") or {}).get("id")
        if not object_id:
            return None
        try:
            return await self.client.get_json(f"{self.obj.path}/{object_id}", object_name=self.name)
        except RequestRejected as exc:
            if exc.status == 404:
                return {"id": object_id, "object": self.object_type, "deleted": True}
            raise
