"""One HubSpot CRM object (contacts, companies, deals) as a stream of pages for the sync runner.

First run and full refresh: the list endpoint (`limit=100`, `after`), as a complete read. Every property is
asked for, by the names the properties API lists. When they fit in the URL they go in `properties=`; when they
do not, the list pages carry ids only and each page is read again by `batch/read` with the names in the body,
so a portal with hundreds of properties never meets a 414.

Later runs: the search API, paged by keyset (`connectors/hubspot/search.py`) from where the last window ended, less
a lookback. Each window then reads the archived list (`archived=true`) and marks deleted what was archived since the
last window. The three are the phases of the kit's `PhasedStream`; the cursors are in `connectors/hubspot/cursors.py`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

from connectors.hubspot.cursors import CURSORS, HubSpotArchived, HubSpotScan, HubSpotSearch
from connectors.hubspot.objects import CrmObject
from connectors.hubspot.search import SearchKeyset
from connectors.hubspot.times import to_ms
from connectors.kit import AfterCursor, FatalError, SourceClient
from connectors.kit.ids import new_id
from connectors.kit.model import Page, RecordIn
from connectors.kit.phased import PhasedStream

LIST_PAGE = 100  # the list endpoints' maximum
URL_BUDGET = 8_000  # bytes of URL a list request may take; above it the properties go in batch/read bodies
NAMES_FOR = 600.0  # seconds a property list is trusted (a sync outlives it rarely; the webhooks' stream often)
LOOKBACK_MS = 60_000  # search is eventually consistent: each window starts this far before the last one ended
_LIST_EXTRA = len("?limit=100&archived=false&properties=&after=") + 64  # the rest of a list URL, generously


class HubSpotStream(PhasedStream):
    cursors = CURSORS

    def __init__(self, client: SourceClient, search_client: SourceClient, obj: CrmObject, *,
                 now: Callable[[], float] = time.time) -> None:
        self.client, self.search_client, self.obj = client, search_client, obj
        self.name, self.object_type = obj.name, obj.object_type
        self._now = now
        self._names: list[str] | None = None
        self._names_read = 0.0  # monotonic time the names were read: a long-lived stream reads them again

    def _now_ms(self) -> int:
        return int(self._now() * 1000)

    async def begin_scan(self, how: str) -> tuple[HubSpotScan, int]:
        return HubSpotScan(how=how, scan=new_id(), since=self._now_ms() - LOOKBACK_MS), 0

    # -- all properties --------------------------------------------------------------------------------------
    async def _property_names(self) -> tuple[list[str], int]:
        """The object's property names, and the requests it took (0 once known)."""
        if self._names is not None and time.monotonic() - self._names_read < NAMES_FOR:
            return self._names, 0
        body = await self.client.get_json(f"/crm/v3/properties/{self.name}", object_name=self.name)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise FatalError(self.client.source_id, self.name, None, "the properties API answered without `results`")
        names = [p["name"] for p in results if isinstance(p, dict) and isinstance(p.get("name"), str)]
        self._names = list(dict.fromkeys(["hs_object_id", self.obj.modified, *names]))
        self._names_read = time.monotonic()
        return self._names, 1

    def _fits_in_url(self, names: list[str]) -> bool:
        return len(self.obj.path) + _LIST_EXTRA + len(quote(",".join(names), safe="")) <= URL_BUDGET

    # -- complete read of the list endpoint -------------------------------------------------------------------
    async def scan(self, cursor: HubSpotScan) -> AsyncIterator[Page]:
        names, requests = await self._property_names()
        in_url = self._fits_in_url(names)
        params: dict[str, Any] = {"archived": "false", "properties": ",".join(names) if in_url else "hs_object_id"}
        if cursor.after is not None:
            params["after"] = cursor.after
        pages = self.client.pages_with_next(AfterCursor(LIST_PAGE), self.obj.path, params, object_name=self.name,
                                            records_path="results")
        async for results, following in pages:
            requests += 1
            if not in_url and results:
                results = await self._batch_read([r["id"] for r in results], names)
                requests += 1
            records = [self._record(r) for r in results]
            if following is not None:
                cursor = cursor.model_copy(update={"after": following["after"]})
                yield Page(records, cursor, scan_id=cursor.scan, requests=requests, mode=cursor.how)
            else:  # the read is complete: what it did not meet is gone; changes since it began come by search
                after = HubSpotSearch(since=cursor.since, archived_since=cursor.since)
                yield Page(records, after, scan_id=cursor.scan, scan_complete=True, requests=requests,
                           mode=cursor.how)
            requests = 0

    async def _batch_read(self, ids: list[str], names: list[str]) -> list[dict]:
        """The records `ids` with every property, names in the body. Ids archived since the list page are left
        out (HubSpot answers 207 with an error for them); the archived pass marks them deleted."""
        body = await self.client.request_json(
            "POST", f"{self.obj.path}/batch/read", self.name, params={"archived": "false"},
            json_body={"inputs": [{"id": i} for i in ids], "properties": names, "propertiesWithHistory": []},
            idempotent=True)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise FatalError(self.client.source_id, self.name, None, "batch/read answered without `results`")
        by_id = {r.get("id"): r for r in results if isinstance(r, dict)}
        return [by_id[i] for i in ids if i in by_id]

    async def fetch(self, ids: list[str]) -> list[RecordIn]:
        """The current version of each record with every property (webhook deliveries carry an id and at most
        one property: never a whole record); records archived meanwhile are left out."""
        names, _ = await self._property_names()
        found: list[dict] = []
        for start in range(0, len(ids), LIST_PAGE):
            found += await self._batch_read(ids[start:start + LIST_PAGE], names)
        return [self._record(r) for r in found]

    # -- changes by search ------------------------------------------------------------------------------------
    async def changes(self, cursor: HubSpotSearch) -> AsyncIterator[Page]:
        names, requests = await self._property_names()
        if cursor.fresh:
            cursor = cursor.model_copy(update={"since": cursor.since - LOOKBACK_MS, "seen": [], "group": None,
                                               "fresh": False})
        keyset = SearchKeyset(self.obj.modified, self._modified, since=cursor.since, seen=cursor.seen,
                              group=cursor.group)
        pages = self.search_client.pages_with_next(keyset, f"{self.obj.path}/search", {"properties": names},
                                                   object_name=self.name, records_path="results", method="POST")
        async for _, following in pages:
            requests += 1
            records = [self._record(r) for r in keyset.new]
            if following is not None:
                cursor = cursor.model_copy(update={"since": keyset.since, "seen": tuple(keyset.seen),
                                                   "group": keyset.group})
                yield Page(records, cursor, requests=requests, mode="search")
            else:  # the window is read: deletions next, then the next window starts from its newest change
                yield Page(records, HubSpotArchived(since=keyset.since, archived_since=cursor.archived_since,
                                                    archived_started=self._now_ms()),
                           requests=requests, mode="search")
            requests = 0

    # -- deletes: the archived list ---------------------------------------------------------------------------
    async def deletions(self, cursor: HubSpotArchived) -> AsyncIterator[Page]:
        """Records archived since the last window are marked deleted (their stored data is kept). HubSpot
        cannot filter the archived list by time, so the whole list is read, ids only."""
        since = cursor.archived_since - LOOKBACK_MS
        params: dict[str, Any] = {"archived": "true", "properties": "hs_object_id"}
        if cursor.after:
            params["after"] = cursor.after
        pages = self.client.pages_with_next(AfterCursor(LIST_PAGE), self.obj.path, params, object_name=self.name,
                                            records_path="results")
        async for results, following in pages:
            records = []
            for r in results:
                at = to_ms(r.get("archivedAt") or r.get("updatedAt"))
                if at is None or at >= since:
                    records.append(RecordIn(str(r["id"]), None, deleted=True,
                                            updated_at_us=None if at is None else at * 1000))
            if following is not None:
                cursor = cursor.model_copy(update={"after": following["after"]})
                yield Page(records, cursor, mode="search")
            else:
                yield Page(records, HubSpotSearch(since=cursor.since, fresh=True,
                                                  archived_since=cursor.archived_started), mode="search")

    # -- records ---------------------------------------------------------------------------------------------
    def _modified(self, record: dict) -> int:
        props = record.get("properties") or {}
        ms = to_ms(props.get(self.obj.modified)) or to_ms(record.get("updatedAt"))
        if ms is None:
            raise FatalError(self.client.source_id, self.name, None,
                             f"record {record.get('id')!r} has no {self.obj.modified} and no updatedAt")
        return ms

    def _record(self, record: dict) -> RecordIn:
        if not isinstance(record, dict) or record.get("id") in (None, ""):
            raise FatalError(self.client.source_id, self.name, None, f"a record without an id: {str(record)[:200]}")
        updated = to_ms(record.get("updatedAt"))
        return RecordIn(str(record["id"]), record, updated_at_us=None if updated is None else updated * 1000)
