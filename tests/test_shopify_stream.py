"""ShopifyStream and its cost pacing against a scripted GraphQL endpoint (respx, no network): the complete read
and its hand-over to `updated_at` windows, nested connections completed, THROTTLED waited out, pacing from
throttleStatus, a query too costly for one page, missing scopes, the 60-day order window, product deletions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
import respx

from connectors.kit import RateLimited, RequestRejected
from connectors.kit.testing import FakeClock
from connectors.shopify.bucket import MARGIN_SECONDS, CostBucket
from connectors.shopify.connector import ShopifyConnector
from connectors.shopify.stream import LOOKBACK, iso

BASE = "https://shop.test"
TOKEN = "shpat_test"
PATH = "/admin/api/2026-10/graphql.json"
NOW = 1_750_000_000.0


def cost(available: float = 1900.0, requested: int = 100, maximum: float = 2000.0, rate: float = 100.0) -> dict:
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": requested,
                     "throttleStatus": {"maximumAvailable": maximum, "currentlyAvailable": available,
                                        "restoreRate": rate}}}


def connection(nodes: list[dict], end: str | None) -> dict:
    return {"pageInfo": {"hasNextPage": end is not None, "endCursor": end}, "nodes": nodes}


class FakeShopify:
    """`answer(query, variables) -> body` decides each response; requests are logged as (query, variables)."""

    def __init__(self, router: respx.MockRouter, answer: Callable[[str, dict], dict]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict]] = []
        router.post(f"{BASE}{PATH}").mock(side_effect=self)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["x-shopify-access-token"] == TOKEN
        payload = orjson.loads(request.content)
        self.calls.append((payload["query"], payload["variables"]))
        return httpx.Response(200, json=self.answer(payload["query"], payload["variables"]))

    def of(self, root: str) -> list[dict]:
        return [v for q, v in self.calls if f"{{ {root}(" in q]


@pytest.fixture
def clock():
    return FakeClock(start=1_000.0)


@pytest.fixture
def router():
    with respx.mock(using="httpx", assert_all_called=False) as r:
        yield r


def connector_for(objects: list[str], clock: FakeClock) -> ShopifyConnector:
    return ShopifyConnector("shop", "acme.myshopify.com", TOKEN, base_url=BASE, objects=objects,
                            bucket=CostBucket(clock=clock, sleep=clock.sleep), now=lambda: NOW)


async def read_all(stream, cursor: Any = None, full_refresh: bool = False):
    return [p async for p in stream.read(cursor, full_refresh=full_refresh)]


def customer(i: int, updated: str = "2025-06-01T00:00:00Z") -> dict:
    return {"id": f"gid://shopify/Customer/{i}", "email": f"c{i}@x.test", "updatedAt": updated}


async def test_the_first_read_is_complete_then_reads_changes_since_it_began(router, clock):
    def answer(query: str, v: dict) -> dict:
        if v.get("query") is None:
            pages = {None: ([customer(1), customer(2)], "c2"), "c2": ([customer(3)], None)}
            nodes, end = pages[v["after"]]
            return {"data": {"customers": connection(nodes, end)}, "extensions": cost()}
        return {"data": {"customers": connection([customer(3, "2025-06-16T00:00:00Z")], None)},
                "extensions": cost()}

    shop = FakeShopify(router, answer)
    c = connector_for(["customers"], clock)
    pages = await read_all(c.streams()[0])
    scan = [p for p in pages if p.scan_id]
    assert [r.external_id for p in scan for r in p.records] == [f"gid://shopify/Customer/{i}" for i in (1, 2, 3)]
    assert scan[-1].scan_complete and scan[0].cursor["after"] == "c2" and scan[-1].scan_scope is None
    query, variables = shop.calls[-1]
    assert "sortKey: UPDATED_AT" in query and variables["first"] == 200
    assert variables["query"] == f"updated_at:>='{iso_at(NOW - LOOKBACK.total_seconds())}'"
    assert pages[-1].cursor["newest"] == "2025-06-16T00:00:00Z" and pages[-1].cursor["fresh"]
    assert pages[-1].records[0].updated_at_us == 1_750_032_000_000_000
    await c.aclose()


def iso_at(ts: float) -> str:
    from datetime import UTC, datetime

    return iso(datetime.fromtimestamp(ts, UTC))


async def test_nested_connections_are_completed_and_flattened(router, clock):
    def answer(query: str, v: dict) -> dict:
        if "order(id:" in query:
            assert v == {"id": "gid://shopify/Order/1", "after": "li10"}
            items = [{"id": f"li{i}"} for i in range(11, 13)]
            return {"data": {"order": {"lineItems": connection(items, None)}}, "extensions": cost()}
        if "currentAppInstallation" in query:
            return {"data": {"currentAppInstallation": {"accessScopes": [{"handle": "read_all_orders"}]}},
                    "extensions": cost()}
        order = {"id": "gid://shopify/Order/1", "updatedAt": "2025-06-01T00:00:00Z",
                 "lineItems": connection([{"id": f"li{i}"} for i in range(1, 11)], "li10")}
        return {"data": {"orders": connection([order], None)}, "extensions": cost()}

    FakeShopify(router, answer)
    c = connector_for(["orders"], clock)
    pages = await read_all(c.streams()[0], None)
    (record,) = pages[0].records
    assert [i["id"] for i in record.data["lineItems"]] == [f"li{i}" for i in range(1, 13)]
    assert pages[0].requests == 2
    await c.aclose()


async def test_throttled_answers_wait_for_the_bucket_then_succeed(router, clock):
    answers = [
        {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
         "extensions": cost(available=20, requested=600)},
        {"data": {"customers": connection([customer(1)], None)}, "extensions": cost(available=1400, requested=600)},
    ]
    FakeShopify(router, lambda q, v: answers.pop(0) if answers else
                {"data": {"customers": connection([], None)}, "extensions": cost()})
    c = connector_for(["customers"], clock)
    pages = await read_all(c.streams()[0])
    assert pages[0].records[0].external_id == "gid://shopify/Customer/1"
    assert c.gql.throttled == 1 and c.http_stats()["throttled"] == 1
    # waited for 600 - 20 points at 100/s, plus the margin
    assert clock.sleeps[0] == pytest.approx((600 - 20) / 100 + MARGIN_SECONDS)
    await c.aclose()


async def test_a_bucket_running_low_is_waited_for_before_asking(clock):
    bucket = CostBucket(clock=clock, sleep=clock.sleep)
    await bucket.spend(500)  # nothing known yet: go
    assert clock.sleeps == []
    bucket.observe(cost(available=300, requested=500)["cost"])
    await bucket.spend(500)
    assert clock.sleeps == [pytest.approx(2.0 + MARGIN_SECONDS)]
    clock.now += 100  # refilled long since: no wait, and never above the bucket's size
    await bucket.spend(500)
    assert len(clock.sleeps) == 1 and bucket.available == pytest.approx(1500)


async def test_throttled_without_end_gives_up_bounded(router, clock):
    FakeShopify(router, lambda q, v: {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                                      "extensions": cost(available=0)})
    c = connector_for(["customers"], clock)
    with pytest.raises(RateLimited, match="THROTTLED 9 times"):
        await read_all(c.streams()[0])
    await c.aclose()


async def test_a_page_too_costly_is_asked_again_smaller(router, clock):
    def answer(query: str, v: dict) -> dict:
        if v["first"] > 50:
            return {"errors": [{"message": "Query cost is 1202, which exceeds the single query max cost limit (1000).",
                                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": 1202, "maxCost": 1000}}]}
        return {"data": {"customers": connection([customer(1)], None)}, "extensions": cost()}

    shop = FakeShopify(router, answer)
    c = connector_for(["customers"], clock)
    pages = await read_all(c.streams()[0])
    assert pages[0].records and [v["first"] for _, v in shop.calls][:3] == [200, 100, 50]
    await c.aclose()


async def test_a_missing_scope_fails_the_object_and_says_so(router, clock):
    FakeShopify(router, lambda q, v: {"errors": [{"message": "Access denied for customers field.",
                                                  "extensions": {"code": "ACCESS_DENIED"}}], "data": None})
    c = connector_for(["customers"], clock)
    with pytest.raises(RequestRejected, match=r"ACCESS_DENIED .*lacks a scope.*Access denied") as caught:
        await read_all(c.streams()[0])
    assert "'shop'" in str(caught.value) and TOKEN not in str(caught.value)
    await c.aclose()


async def test_without_read_all_orders_the_full_read_judges_only_the_recent_window(router, clock):
    def answer(query: str, v: dict) -> dict:
        if "currentAppInstallation" in query:
            return {"data": {"currentAppInstallation": {"accessScopes": [{"handle": "read_orders"}]}}}
        return {"data": {"orders": connection([], None)}, "extensions": cost()}

    FakeShopify(router, answer)
    c = connector_for(["orders"], clock)
    pages = await read_all(c.streams()[0])
    scan_end = next(p for p in pages if p.scan_complete)
    assert scan_end.scan_scope == ("createdAt", iso_at(NOW - 59 * 86400))
    assert "read_all_orders" in pages[0].note
    await c.aclose()


async def test_product_deletion_events_mark_products_deleted(router, clock):
    def answer(query: str, v: dict) -> dict:
        if "deletionEvents" in query:
            assert v["types"] == ["PRODUCT"] and v["query"] == "occurred_at:>='2025-05-31T23:58:00Z'"
            events = [{"occurredAt": "2025-06-01T10:00:00Z", "subjectId": "42", "subjectType": "PRODUCT"},
                      {"occurredAt": "2025-06-01T11:00:00Z", "subjectId": "gid://shopify/Product/43",
                       "subjectType": "PRODUCT"}]
            return {"data": {"deletionEvents": connection(events, None)}, "extensions": cost()}
        return {"data": {"products": connection([], None)}, "extensions": cost()}

    FakeShopify(router, answer)
    c = connector_for(["products"], clock)
    cursor = {"mode": "updated", "phase": "read", "since": "2025-06-01T00:00:00Z", "after": None,
              "newest": "2025-06-01T00:00:00Z", "fresh": True, "deleted_since": "2025-06-01T00:00:00Z"}
    pages = await read_all(c.streams()[0], cursor)
    deleted = [r for p in pages for r in p.records]
    assert [(r.external_id, r.deleted, r.data) for r in deleted] == [
        ("gid://shopify/Product/42", True, None), ("gid://shopify/Product/43", True, None)]
    assert pages[-1].cursor["phase"] == "changes" and pages[-1].cursor["deleted_since"] == iso_at(NOW)
    await c.aclose()


async def test_a_deletions_pass_stored_by_the_previous_release_resumes_at_its_page(router, clock):
    # version 1 kept the deletion events' page token in `del_after`; the pass goes on from it, and hands back to
    # the changes window it interrupted
    def answer(query: str, v: dict) -> dict:
        assert "deletionEvents" in query and v["after"] == "d7"
        events = [{"occurredAt": "2025-06-01T10:00:00Z", "subjectId": "44", "subjectType": "PRODUCT"}]
        return {"data": {"deletionEvents": connection(events, None)}, "extensions": cost()}

    shop = FakeShopify(router, answer)
    c = connector_for(["products"], clock)
    legacy = {"mode": "updated", "phase": "deletions", "since": "2025-06-01T00:00:00Z", "after": None,
              "newest": "2025-06-02T00:00:00Z", "fresh": True, "deleted_since": "2025-06-01T00:00:00Z",
              "del_after": "d7", "deletions_started": "2025-06-03T00:00:00Z"}
    pages = await read_all(c.streams()[0], legacy)
    assert len(shop.calls) == 1 and [r.external_id for p in pages for r in p.records] == ["gid://shopify/Product/44"]
    assert pages[-1].cursor == {"v": 2, "phase": "changes", "since": "2025-06-01T00:00:00Z", "after": None,
                                "newest": "2025-06-02T00:00:00Z", "fresh": True,
                                "deleted_since": "2025-06-03T00:00:00Z"}
    await c.aclose()


async def test_a_scan_resumes_at_its_end_cursor_and_an_order_deleted_meanwhile_keeps_what_was_read(router, clock):
    def answer(query: str, v: dict) -> dict:
        if "order(id:" in query:
            return {"data": {"order": None}, "extensions": cost()}  # deleted between the page and its follow-up
        if "currentAppInstallation" in query:
            return {"data": {"currentAppInstallation": {"accessScopes": [{"handle": "read_all_orders"}]}},
                    "extensions": cost()}
        if v.get("query"):  # the changes since the read began, after it
            return {"data": {"orders": connection([], None)}, "extensions": cost()}
        assert v["after"] == "o5"
        order = {"id": "gid://shopify/Order/6", "updatedAt": "2025-06-01T00:00:00Z",
                 "lineItems": connection([{"id": "li1"}], "li1")}
        return {"data": {"orders": connection([order], None)}, "extensions": cost()}

    FakeShopify(router, answer)
    c = connector_for(["orders"], clock)
    cursor = {"v": 2, "phase": "scan", "how": "list", "scan": "0190a0c0-0000-7000-8000-000000000000",
              "after": "o5", "started": "2025-06-10T00:00:00Z"}
    pages = await read_all(c.streams()[0], cursor)
    scan = [p for p in pages if p.scan_id]
    assert [r.external_id for p in scan for r in p.records] == ["gid://shopify/Order/6"]
    assert scan[0].records[0].data["lineItems"] == [{"id": "li1"}] and scan[-1].scan_complete
    assert scan[0].scan_id == cursor["scan"] and scan[0].requests == 2
    await c.aclose()
