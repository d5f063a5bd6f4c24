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

The complete read, the changes since, and the deletion events are the phases of the kit's `PhasedStream`; every
connection is paged by the kit's one paging loop (`ConnectionCursor`), each page fetched by the cost-paced GraphQL
request. Cursors: `connectors/shopify/cursors.py`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.kit import ConnectionCursor, FatalError
from connectors.kit.ids import new_id
from connectors.kit.model import Page, RecordIn
from connectors.kit.phased import PhasedStream
from connectors.shopify.cursors import CURSORS, ShopifyDeletions, ShopifyScan, ShopifyUpdated
from connectors.shopify.graphql import CostTooHigh, ShopifyGraphQL
from connectors.shopify.objects import DELETIONS, Nested, ShopifyObject

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


class ShopifyStream(PhasedStream):
    cursors = CURSORS

    def __init__(self, gql: ShopifyGraphQL, obj: ShopifyObject, *, scopes: Callable[[], Awaitable[set[str]]],
                 now: Callable[[], float] = time.time) -> None:
        self.gql, self.obj = gql, obj
        self.name, self.object_type = obj.name, obj.object_type
        self._scopes, self._now = scopes, now
        self.page_size = obj.page_size
        self._sent = 0  # GraphQL requests of this stream's pages (each page counts those since the one before)

    def _utcnow(self) -> datetime:
        return datetime.fromtimestamp(self._now(), UTC)

    # -- the phases ------------------------------------------------------------------------------------------
    async def begin_scan(self, how: str) -> tuple[ShopifyScan, int]:
        return ShopifyScan(how=how, scan=new_id(), started=iso(self._utcnow())), 0

    async def scan(self, cursor: ShopifyScan) -> AsyncIterator[Page]:
        scope, note = await self._window(parse(cursor.started) or self._utcnow())
        async for nodes, after, requests in self._connection(None, cursor.after):
            records = [self._record(n) for n in nodes]
            if after is not None:
                cursor = cursor.model_copy(update={"after": after})
                yield Page(records, cursor, scan_id=cursor.scan, requests=requests, mode=cursor.how, note=note)
            else:
                following = ShopifyUpdated(since=cursor.started, newest=cursor.started, fresh=True,
                                           deleted_since=cursor.started)
                yield Page(records, following, scan_id=cursor.scan, scan_complete=True, scan_scope=scope,
                           requests=requests, mode=cursor.how, note=note)
            note = None

    async def changes(self, cursor: ShopifyUpdated) -> AsyncIterator[Page]:
        if cursor.fresh:
            since = (parse(cursor.newest) or self._utcnow()) - LOOKBACK
            cursor = cursor.model_copy(update={"since": iso(since), "after": None, "fresh": False})
        query = f"updated_at:>='{cursor.since}'"
        async for nodes, after, requests in self._connection(query, cursor.after):
            newest = cursor.newest
            for node in nodes:
                if isinstance(node, dict) and str(node.get("updatedAt") or "") > newest:
                    newest = node["updatedAt"]
            following: ShopifyUpdated | ShopifyDeletions = cursor.model_copy(update={"after": after, "newest": newest})
            if after is None and self.obj.deletions:
                following = ShopifyDeletions(deletions_started=iso(self._utcnow()), deleted_since=cursor.deleted_since,
                                             since=cursor.since, newest=newest)
            elif after is None:
                following = following.model_copy(update={"fresh": True})
            if isinstance(following, ShopifyUpdated):
                cursor = following
            yield Page([self._record(n) for n in nodes], following, requests=requests, mode="updated")

    async def deletions(self, cursor: ShopifyDeletions) -> AsyncIterator[Page]:
        """The object's deletion events since the last pass (less the lookback) mark records deleted."""
        assert self.obj.deletions is not None
        since = (parse(cursor.deleted_since) or self._utcnow()) - LOOKBACK
        variables = {"query": f"occurred_at:>='{iso(since)}'", "types": [self.obj.deletions], "after": cursor.after}

        async def fetch(request: dict[str, Any]) -> Any:
            data = await self.gql.execute(DELETIONS, request, object_name=self.name)
            self._connection_of(data, "deletionEvents")
            return data

        kind = self.obj.deletions.title()
        async for events, following in self.gql.client.pages_with_next(
                ConnectionCursor("deletionEvents", DELETION_PAGE), self.gql.path, variables, object_name=self.name,
                records_path="deletionEvents.nodes", fetch=fetch):
            records = []
            for event in events:
                at = parse(event.get("occurredAt"))
                records.append(RecordIn(gid(kind, event["subjectId"]), None, deleted=True,
                                        updated_at_us=None if at is None else int(at.timestamp() * 1_000_000)))
            if following is not None:
                cursor = cursor.model_copy(update={"after": following["after"]})
                yield Page(records, cursor, mode="updated")
            else:
                yield Page(records, ShopifyUpdated(since=cursor.since, newest=cursor.newest, fresh=True,
                                                   deleted_since=cursor.deletions_started), mode="updated")

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

    # -- paging ---------------------------------------------------------------------------------------------
    async def _connection(self, query: str | None,
                          after: str | None) -> AsyncIterator[tuple[list[dict], str | None, int]]:
        """(nodes with their nested connections complete, the endCursor to go on from or None, requests)."""
        counted = self._sent
        async for nodes, following in self.gql.client.pages_with_next(
                ConnectionCursor(self.obj.name, self.page_size), self.gql.path, {"query": query, "after": after},
                object_name=self.name, records_path=f"{self.obj.name}.nodes", fetch=self._page):
            requests, counted = self._sent - counted, self._sent
            yield nodes, None if following is None else following["after"], requests

    async def _page(self, variables: dict[str, Any]) -> dict[str, Any]:
        """One page of the object's connection, its nested connections complete; a page whose cost is too high
        is asked for again, smaller."""
        while True:
            try:
                data = await self.gql.execute(self.obj.query(), {**variables, "first": self.page_size},
                                              object_name=self.name)
            except CostTooHigh:
                if self.page_size == 1:
                    raise
                self.page_size = max(1, self.page_size // 2)  # ask for less at once
                continue
            self._sent += 1
            self._sent += await self._complete(self._connection_of(data, self.obj.name)["nodes"])
            return data

    async def _complete(self, nodes: list[dict]) -> int:
        """Read the rest of each node's nested connections; flatten them to lists. Returns the requests made."""
        requests = 0
        for nested in self.obj.nested:
            for node in nodes:
                inner = node.get(nested.field)
                if not isinstance(inner, dict):
                    continue
                items = list(inner.get("nodes") or [])
                info = inner.get("pageInfo") or {}
                if info.get("hasNextPage"):
                    if not info.get("endCursor"):
                        raise FatalError(self.gql.client.source_id, self.name, 200,
                                         f"{nested.field}: hasNextPage is true but endCursor is empty")
                    async for more in self.gql.client.pages(
                            ConnectionCursor((nested.root, nested.field), 100), self.gql.path,
                            {"after": info["endCursor"]}, object_name=self.name,
                            records_path=(nested.root, nested.field, "nodes"), fetch=self._follow_up(nested, node)):
                        requests += 1
                        items.extend(more)
                node[nested.field] = items
        return requests

    def _follow_up(self, nested: Nested, node: dict) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
        """The fetch of the rest of `node`'s nested connection; a node deleted meanwhile ends it (what was read is
        kept)."""
        async def fetch(request: dict[str, Any]) -> dict[str, Any]:
            data = await self.gql.execute(nested.follow_up(), {"id": node["id"], "after": request["after"]},
                                          object_name=self.name)
            if not isinstance(data.get(nested.root), dict):
                return {nested.root: {nested.field: {"nodes": [], "pageInfo": {"hasNextPage": False}}}}
            return data

        return fetch

    def _connection_of(self, data: dict, field: str) -> dict:
        connection = data.get(field)
        if not isinstance(connection, dict) or not isinstance(connection.get("nodes"), list):
            raise FatalError(self.gql.client.source_id, self.name, 200, f"no {field}.nodes in the GraphQL answer")
        return connection

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
