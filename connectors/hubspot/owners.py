"""HubSpot owners (the users records are assigned to): few, with no search, so every run reads them all as a
complete read, which also finds the owners that left (HubSpot archives them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from connectors.hubspot.times import to_ms
from connectors.kit import AfterCursor, FatalError, SourceClient
from connectors.kit.ids import new_id
from connectors.kit.model import Page, RecordIn

PAGE = 100
PATH = "/crm/v3/owners"


class OwnersStream:
    name = "owners"
    object_type = "owner"

    def __init__(self, client: SourceClient) -> None:
        self.client = client

    async def read(self, cursor: Any, *, full_refresh: bool) -> AsyncIterator[Page]:
        """Cursor: {"scan": ..., "after": <next page token>} while a read is under way, {} between runs."""
        if full_refresh or not isinstance(cursor, dict) or not cursor.get("scan"):
            cursor = {"scan": new_id(), "after": None}
        params = {"archived": "false"} | ({"after": cursor["after"]} if cursor.get("after") else {})
        async for results, following in self.client.pages_with_next(AfterCursor(PAGE), PATH, params,
                                                                    object_name=self.name, records_path="results"):
            records = [self._record(r) for r in results]
            if following is not None:
                cursor = {**cursor, "after": following["after"]}
                yield Page(records, cursor, scan_id=cursor["scan"], mode="list")
            else:
                yield Page(records, {}, scan_id=cursor["scan"], scan_complete=True, mode="list")

    def _record(self, owner: Any) -> RecordIn:
        if not isinstance(owner, dict) or owner.get("id") in (None, ""):
            raise FatalError(self.client.source_id, self.name, None, f"an owner without an id: {str(owner)[:200]}")
        updated = to_ms(owner.get("updatedAt"))
        return RecordIn(str(owner["id"]), owner, updated_at_us=None if updated is None else updated * 1000)
