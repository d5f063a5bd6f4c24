"""One declared resource, read as a phased stream (connectors/kit/phased.py).

- scan: the whole list, a complete read (what it does not meet is deleted). Without `incremental` every run is one
  (only the records that changed write events); with it, the first run and `--full-refresh` are, and the scan hands
  over to `changes` from the newest value of the incremental field it saw.
- changes: the list asked for what changed since that value less `overlap` (in `param`, or where `{{ cursor }}`
  stands); not a complete read, so only a soft-delete flag (`deleted`) says what went.

Each page's cursor holds where the read goes on (the next page's path and request), so a run killed at any point
resumes at the page after the last one committed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict

from connectors.kit.client import SourceClient
from connectors.kit.errors import FatalError, RequestRejected
from connectors.kit.ids import new_id
from connectors.kit.model import Page, RecordIn
from connectors.kit.pagination import dig
from connectors.kit.phased import Cursor, CursorCodec, PhasedStream
from connectors.rest import values
from connectors.rest.paging import paginator_for, records_path
from connectors.rest.settings import Resource
from connectors.rest.templates import render

Position = str | int | float | None  # a value of the incremental field


class PageAt(BaseModel):
    """The next page to read: its path and its request (query parameters, or a POST's body)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str
    request: dict[str, Any]


class ScanAt(Cursor):
    phase: Literal["scan"] = "scan"
    scan: str  # the complete read's id
    how: str = "list"  # list, full refresh
    page: PageAt | None = None  # None: the first page
    newest: Position = None  # the newest incremental value met so far


class ChangesAt(Cursor):
    phase: Literal["changes"] = "changes"
    since: Position = None  # asked for: changed since this (less the overlap)
    page: PageAt | None = None
    newest: Position = None


CURSORS = CursorCodec(ScanAt, ChangesAt, version=1)


class RestStream(PhasedStream):
    cursors = CURSORS
    scan_then_changes = False  # a complete read sees everything: the changes start from it next time

    def __init__(self, client: SourceClient, name: str, resource: Resource, base_url: str, *,
                 secret_params: frozenset[str] = frozenset()) -> None:
        self.client, self.name, self.resource = client, name, resource
        # query parameters the auth sets (an api_key in the query): a next-page URL echoing one would otherwise put
        # the secret in the stored cursor; the auth sets it again on every request
        self._secret_params = secret_params
        self.object_type = resource.type_for(name)
        self._base_url = base_url
        self._records = records_path(resource.records)

    async def begin_scan(self, how: str) -> tuple[Cursor, int]:
        return ScanAt(scan=new_id(), how=how), 0

    async def scan(self, cursor: ScanAt) -> AsyncIterator[Page]:
        newest = cursor.newest
        incremental = self.resource.incremental
        async for records, seen, next_page, note in self._read(cursor.page, None):
            newest = values.newest(newest, seen)
            if next_page is not None:
                yield Page(records, cursor.model_copy(update={"page": next_page, "newest": newest}),
                           scan_id=cursor.scan, mode=cursor.how, note=note)
                continue
            handover = None if incremental is None else ChangesAt(since=newest)
            yield Page(records, handover, scan_id=cursor.scan, scan_complete=True, mode=cursor.how, note=note)

    async def changes(self, cursor: ChangesAt) -> AsyncIterator[Page]:
        newest = cursor.newest
        async for records, seen, next_page, note in self._read(cursor.page, cursor.since):
            newest = values.newest(newest, seen)
            if next_page is not None:
                yield Page(records, cursor.model_copy(update={"page": next_page, "newest": newest}),
                           mode="incremental", note=note)
                continue
            yield Page(records, ChangesAt(since=values.newest(cursor.since, newest)), mode="incremental", note=note)

    # -- requests and records ------------------------------------------------------------------------------------
    def first_page(self, since: Position) -> PageAt:
        """The list's first request: `params` (a POST's `json` body), `{{ cursor }}` and the incremental `param`
        filled in. A POST's `params` go in its query string."""
        resource, incremental = self.resource, self.resource.incremental
        position = None if incremental is None else values.less(since, incremental.overlap)
        shown = position if position is not None else (None if incremental is None else incremental.start)
        params = render(dict(resource.params), shown)
        path = resource.path
        if resource.method == "POST":
            request = render(dict(resource.body or {}), shown)
            if params:
                path = f"{path}?{urlencode(params, doseq=True)}"
        else:
            request = params
        if incremental is not None and incremental.param and position is not None:
            request[incremental.param] = position
        return PageAt(path=path, request=request)

    async def _read(self, at: PageAt | None, since: Position) -> AsyncIterator[
            tuple[list[RecordIn], Position, PageAt | None, str | None]]:
        """Each page's records, the newest incremental value among them, where the next page is (None: last) and a
        note for the run log. A stored next page the API refuses (a 4xx: an expired page token, a deleted record to
        start after) starts the list again at its first page: the records met twice are unchanged and write nothing,
        and a complete read still sees every record."""
        started = False
        try:
            async for records, seen, next_page in self._pages(at or self.first_page(since)):
                started = True
                yield records, seen, next_page, None
        except RequestRejected as exc:
            if started or at is None:
                raise
            note: str | None = (f"the stored next page was refused (HTTP {exc.status}): the list is read again from "
                                "its first page")
            async for records, seen, next_page in self._pages(self.first_page(since)):
                yield records, seen, next_page, note
                note = None

    async def _pages(self, at: PageAt) -> AsyncIterator[tuple[list[RecordIn], Position, PageAt | None]]:
        paginator = paginator_for(self.resource.paginator, self._records, self.resource.primary_key, self._base_url)
        async for raw, request in self.client.pages_with_next(paginator, at.path, at.request, object_name=self.name,
                                                              records_path=self._records, method=self.resource.method):
            records = [self.record(item, i) for i, item in enumerate(raw)]
            seen: Position = None
            if self.resource.incremental is not None:
                for item in raw:
                    seen = values.newest(seen, dig(item, self.resource.incremental.field))
            next_page = None if request is None else PageAt(
                path=paginator.next_path or at.path,
                request={k: v for k, v in request.items() if k not in self._secret_params})
            yield records, seen, next_page

    def record(self, item: Any, index: int) -> RecordIn:
        """One record of a page as an object version; a record that is not an object or lacks its primary key fails
        the run (storing it under a made-up id would duplicate it, skipping it would lose it)."""
        resource = self.resource
        if not isinstance(item, dict):
            raise self._error(f"{self._where(index)} is {_kind(item)}, not an object; check `records`")
        key = dig(item, resource.primary_key)
        if key is None or key == "" or isinstance(key, (dict, list, bool)):
            raise self._error(f"{self._where(index)} has no usable primary key at {resource.primary_key!r} "
                              f"({'missing' if key is None else _kind(key)}); check `primary_key`")
        deleted = False
        if resource.deleted is not None:
            flag, equals = dig(item, resource.deleted.field), resource.deleted.equals
            deleted = flag == equals and isinstance(flag, bool) == isinstance(equals, bool)
        updated = None if resource.updated_at is None else values.to_us(dig(item, resource.updated_at))
        return RecordIn(str(key), item, deleted=deleted, updated_at_us=updated)

    def _where(self, index: int) -> str:
        """Which record of the page failed, for its error (written only then: `record` runs for every record)."""
        resource = self.resource
        at = repr(resource.records) if resource.records else "the answer"
        return f"{resource.method} {resource.path}: record {index} of the page (at {at})"

    def _error(self, message: str) -> FatalError:
        return FatalError(self.client.source_id, self.name, None, message)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")
