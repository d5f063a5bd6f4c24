"""HubSpot owners (the users records are assigned to): few, with no search, so every run reads them all as a
complete read, which also finds the owners that left (HubSpot archives them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from connectors.hubspot.cursors import OWNER_CURSORS, OwnersScan
from connectors.hubspot.times import to_ms
from connectors.kit import AfterCursor, FatalError, SourceClient
from connectors.kit.ids import new_id
from connectors.kit.model import Page, RecordIn
from connectors.kit.phased import PhasedStream

PAGE = 100
PATH = "/crm/v3/owners"


class OwnersStream(PhasedStream):
    """A complete read every run: its cursor is an `OwnersScan` while one is under way, null between runs."""

    name = "owners"
    object_type = "owner"
    cursors = OWNER_CURSORS

    def __init__(self, client: SourceClient) -> None:
        self.client = client

    async def begin_scan(self, how: str) -> tuple[OwnersScan, int]:
        return OwnersScan(scan=new_id()), 0

    async def scan(self, cursor: OwnersScan) -> AsyncIterator[Page]:
        params = {"archived": "false"} | ({"after": cursor.after} if cursor.after else {})
        async for results, following in self.client.pages_with_next(AfterCursor(PAGE), PATH, params,
                                                                    object_name=self.name, records_path="results"):
            records = [self._record(r) for r in results]
            if following is not None:
                cursor = cursor.model_copy(update={"after": following["after"]})
                yield Page(records, cursor, scan_id=cursor.scan, mode="list")
            else:
                yield Page(records, None, scan_id=cursor.scan, scan_complete=True, mode="list")

    def _record(self, owner: Any) -> RecordIn:
        if not isinstance(owner, dict) or owner.get("id") in (None, ""):
            raise FatalError(self.client.source_id, self.name, None, f"an owner without an id: {str(owner)[:200]}")
        updated = to_ms(owner.get("updatedAt"))
        return RecordIn(str(owner["id"]), owner, updated_at_us=None if updated is None else updated * 1000)
