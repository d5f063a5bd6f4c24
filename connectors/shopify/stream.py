"""One Shopify object (customers, orders, products) as a stream of pages for the sync runner.

Every read pages the object's connection sorted by `UPDATED_AT` (keyset cursors: an object updated while the
run pages moves to the end and is met again, never skipped). The first run and a full refresh read everything,
as a complete read; later runs filter on `updated_at:>=` the newest change read before, less a small lookback
(the objects met again are unchanged and write nothing). Nested connections (an order's line items) come with
the page and are completed node by node when one holds more.

Products are marked deleted from Shopify's deletion events. Customers and orders have none in the GraphQL API:
their deletes come from the delete webhooks, and from a full refresh, which marks deleted what it did not meet.
Orders created more than 60 days ago are visible only with `read_all_orders`: without it they are outside
the read, and a full refresh leaves them alone.

Cursors (JSON, committed with each page):
    {"mode": "scan", "how": ..., "scan": ..., "after": <endCursor>, "started": <ISO>}
    {"mode": "updated", "phase": "read", "since": <ISO>, "after": <endCursor>, "newest": <ISO>, "fresh": bool,
     "deleted_since": <ISO>}
    {"mode": "updated", "phase": "deletions", "del_after": <endCursor>, "deletions_started": <ISO>, ...}
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.kit import FatalError, PaginationLoop
from connectors.kit.ids import new_id
from connectors.kit.model import Page, RecordIn
from connectors.shopify.graphql import CostTooHigh, ShopifyGraphQL
from connectors.shopify.objects import DELETIONS, ShopifyObject

LOOKBACK = timedelta(minutes=2)  # each incremental read starts this far before the newest change read
WINDOW_MARGIN = timedelta(days=1)  # orders near the edge of the 60-day window are not judged missing
DELETION_PAGE = 250
FETCH_BATCH = 20  # objects per `nodes(ids:)` query: an order page's cost allows about this many


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def gid(kind: str, value: Any) -> str:
    """Shopify's global id; deletion events and webhooks may carry the bare number."""
    text = str(value)
    return text if text.startswith("gid://") else f"gid://shopify/{kind}/{text}"


class ShopifyStream:
    def __init__(self, gql: ShopifyGraphQL, obj: ShopifyObject, *, scopes: Callable[[], Awaitable[set[str]]],
                 now: Callable[[], float] = time.time) -> None:
        self.gql, self.obj = gql, obj
        self.name, self.object_type = obj.name, obj.object_type
        self._scopes, self._now = scopes, now
        self.page_size = obj.page_size

    def _utcnow(self) -> datetime:
        return datetime.fromtimestamp(self._now(), UTC)

    # -- entry -----------------------------------------------------------------------------------------------
    async def read(self, cursor: Any, *, full_refresh: bool) -> AsyncIterator[Page]:
        if full_refresh or not isinstance(cursor, dict) or cursor.get("mode") not in ("scan", "updated"):
            how = "full refresh" if full_refresh and cursor else "list"
            cursor = {"mode": "scan", "how": how, "scan": new_id(), "after": None, "started": iso(self._utcnow())}
        if cursor["mode"] == "scan":
            async for page in self._scan(cursor):
                yield page
                cursor = page.cursor
        if cursor.get("phase") != "deletions":
            async for page in self._updated(cursor):
                yield page
                cursor = page.cursor
        if self.obj.deletions:
            async for page in self._deletions(cursor):
                yield page

    # -- reads -----------------------------------------------------------------------------------------------
    async def _scan(self, cursor: dict) -> AsyncIterator[Page]:
        scope, note = await self._window(parse(cursor["started"]) or self._utcnow())
        async for nodes, after, requests in self._connection(None, cursor["after"]):
            records = [self._record(n) for n in nodes]
            if after is not None:
                cursor = {**cursor, "after": after}
                yield Page(records, cursor, scan_id=cursor["scan"], requests=requests, mode=cursor["how"], note=note)
            else:
                following = {"mode": "updated", "phase": "read", "since": cursor["started"], "after": None,
                             "newest": cursor["started"], "fresh": True, "deleted_since": cursor["started"]}
                yield Page(records, following, scan_id=cursor["scan"], scan_complete=True, scan_scope=scope,
                           requests=requests, mode=cursor["how"], note=note)
            note = None

    async def _updated(self, cursor: dict) -> AsyncIterator[Page]:
        c = dict(cursor)
        if c.get("fresh"):
            since = (parse(c["newest"]) or self._utcnow()) - LOOKBACK
            c.update(since=iso(since), after=None, fresh=False)
        query = f"updated_at:>='{c['since']}'"
        async for nodes, after, requests in self._connection(query, c["after"]):
            for node in nodes:
                if isinstance(node, dict) and str(node.get("updatedAt") or "") > c["newest"]:
                    c["newest"] = node["updatedAt"]
            c = {**c, "after": after}
            if after is None and self.obj.deletions:
                c.update(fresh=True, phase="deletions", del_after=None, deletions_started=iso(self._utcnow()))
            elif after is None:
                c.update(fresh=True)
            yield Page([self._record(n) for n in nodes], c, requests=requests, mode="updated")

    async def _deletions(self, cursor: dict) -> AsyncIterator[Page]:
        """The object's deletion events since the last pass (less the lookback) mark records deleted."""
        c = dict(cursor)
        since = (parse(c["deleted_since"]) or self._utcnow()) - LOOKBACK
        variables = {"first": DELETION_PAGE, "query": f"occurred_at:>='{iso(since)}'", "types": [self.obj.deletions]}
        after, seen = c.get("del_after"), set()
        while True:
            data = await self.gql.execute(DELETIONS, {**variables, "after": after}, object_name=self.name)
            connection = self._connection_of(data, "deletionEvents")
            records = []
            for event in connection["nodes"]:
                at = parse(event.get("occurredAt"))
                records.append(RecordIn(gid(self.obj.deletions.title(), event["subjectId"]), None, deleted=True,
                                        updated_at_us=None if at is None else int(at.timestamp() * 1_000_000)))
            after = self._next(connection, seen)
            if after is not None:
                c = {**c, "del_after": after}
            else:
                c = {**c, "phase": "read", "del_after": None, "deleted_since": c["deletions_started"]}
            yield Page(records, c, mode="updated")
            if after is None:
                return

    # -- single objects (webhook deliveries) -----------------------------------------------------------------
    async def fetch(self, gids: list[str]) -> list[RecordIn]:
        """The current version of each object, read as the pull reads it (same selection, nested connections
        complete); an object gone meanwhile is left out."""
        typename = self.obj.object_type.title()
        query = (f"query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on {typename} {{ "
                 f"{' '.join([self.obj.fields, *(n.in_page() for n in self.obj.nested)])} }} }} }}")
        nodes: list[dict] = []
        for start in range(0, len(gids), FETCH_BATCH):
            data = await self.gql.execute(query, {"ids": gids[start:start + FETCH_BATCH]}, object_name=self.name)
            nodes += [n for n in data.get("nodes") or [] if isinstance(n, dict) and n.get("id")]
        await self._complete(nodes)
        return [self._record(n) for n in nodes]

    # -- paging ----------------------------------------------------------------------------------------------
    async def _connection(self, query: str | None,
                          after: str | None) -> AsyncIterator[tuple[list[dict], str | None, int]]:
        """(nodes with their nested connections complete, the endCursor to go on from or None, requests)."""
        seen: set[str] = set()
        while True:
            try:
                data = await self.gql.execute(self.obj.query(), {"first": self.page_size, "after": after,
                                                                 "query": query}, object_name=self.name)
            except CostTooHigh:
                if self.page_size == 1:
                    raise
                self.page_size = max(1, self.page_size // 2)  # ask for less at once
                continue
            connection = self._connection_of(data, self.obj.name)
            nodes = connection["nodes"]
            requests = 1 + await self._complete(nodes)
            after = self._next(connection, seen)
            yield nodes, after, requests
            if after is None:
                return

    async def _complete(self, nodes: list[dict]) -> int:
        """Read the rest of each node's nested connections; flatten them to lists. Returns the requests made."""
        requests = 0
        for nested in self.obj.nested:
            for node in nodes:
                inner = node.get(nested.field)
                if not isinstance(inner, dict):
                    continue
                items = list(inner.get("nodes") or [])
                info, seen = inner.get("pageInfo") or {}, set()
                while info.get("hasNextPage"):
                    after = self._token(info.get("endCursor"), seen)
                    data = await self.gql.execute(nested.follow_up(), {"id": node["id"], "after": after},
                                                  object_name=self.name)
                    requests += 1
                    owner = data.get(nested.root)
                    if not isinstance(owner, dict):  # deleted meanwhile: what was read is kept
                        break
                    inner = owner.get(nested.field) or {}
                    items.extend(inner.get("nodes") or [])
                    info = inner.get("pageInfo") or {}
                node[nested.field] = items
        return requests

    def _connection_of(self, data: dict, field: str) -> dict:
        connection = data.get(field)
        if not isinstance(connection, dict) or not isinstance(connection.get("nodes"), list):
            raise FatalError(self.gql.client.source_id, self.name, 200, f"no {field}.nodes in the GraphQL answer")
        return connection

    def _next(self, connection: dict, seen: set[str]) -> str | None:
        info = connection.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return None
        return self._token(info.get("endCursor"), seen)

    def _token(self, cursor: Any, seen: set[str]) -> str:
        if not cursor:
            raise FatalError(self.gql.client.source_id, self.name, 200, "hasNextPage is true but endCursor is empty")
        if cursor in seen:
            raise PaginationLoop(self.gql.client.source_id, self.name, 200, f"cursor {cursor!r} came back")
        seen.add(cursor)
        return cursor

    async def _window(self, started: datetime) -> tuple[tuple[str, str] | None, str | None]:
        """The scan's scope: everything, or for orders without `read_all_orders` the recent window only."""
        if not self.obj.all_records_scope or self.obj.all_records_scope in await self._scopes():
            return None, None
        edge = started - timedelta(days=self.obj.window_days) + WINDOW_MARGIN
        return ("createdAt", iso(edge)), (f"the access token lacks {self.obj.all_records_scope}: {self.name} created "
                                          f"more than {self.obj.window_days} days ago are outside the read")

    def _record(self, node: Any) -> RecordIn:
        if not isinstance(node, dict) or not node.get("id"):
            raise FatalError(self.gql.client.source_id, self.name, 200, f"a node without an id: {str(node)[:200]}")
        updated = parse(node.get("updatedAt"))
        return RecordIn(str(node["id"]), node,
                        updated_at_us=None if updated is None else int(updated.timestamp() * 1_000_000))
