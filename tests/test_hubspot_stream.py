"""HubSpotStream against a small scripted HubSpot (respx, no network): all properties without long URLs, the
list read and its hand-over to search, keyset search past the 10,000 cap and through a millisecond holding a
whole page, archived records, owners, and the daily limit stopping everything."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
import respx

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.search import SEARCH_PAGE
from connectors.hubspot.stream import LOOKBACK_MS, URL_BUDGET
from connectors.hubspot.times import iso, to_ms
from connectors.kit import DailyLimitReached
from connectors.kit.model import Page

BASE = "https://hubspot.test"
TOKEN = "pat-na1-test"
NOW_MS = 1_750_000_000_000


class FakeHubSpot:
    """Contacts in id order, answering list, batch/read, search (GTE/EQ/GT filters, one ascending sort) and the
    properties API the way HubSpot does; every request is logged."""

    def __init__(self, router: respx.MockRouter, contacts: int = 0, properties: int = 5) -> None:
        self.props = [f"custom_property_with_a_fairly_long_name_{i:04d}" for i in range(properties)]
        self.contacts: dict[int, dict] = {}
        self.archived: dict[int, dict] = {}
        self.requests: list[httpx.Request] = []
        self.search_cap = 10_000
        for i in range(1, contacts + 1):
            self.put(i, NOW_MS - 10_000_000 + i)
        router.route(url__startswith=BASE).mock(side_effect=self)

    def put(self, i: int, modified_ms: int) -> None:
        self.contacts[i] = {"id": str(i), "createdAt": iso(NOW_MS - 20_000_000), "updatedAt": iso(modified_ms),
                            "archived": False, "properties": {"hs_object_id": str(i), "email": f"c{i}@x.test",
                                                              "lastmodifieddate": iso(modified_ms)}}

    def archive(self, i: int, at_ms: int) -> None:
        record = self.contacts.pop(i)
        self.archived[i] = {**record, "archived": True, "archivedAt": iso(at_ms)}

    def render(self, record: dict, names: list[str]) -> dict:
        props = {n: record["properties"].get(n) for n in names}
        return {**record, "properties": props}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert len(str(request.url)) <= URL_BUDGET, "a URL longer than the budget"
        path, params = request.url.path, request.url.params
        if path == "/crm/v3/properties/contacts":
            names = ["email", "lastmodifieddate", *self.props]
            return httpx.Response(200, json={"results": [{"name": n, "type": "string"} for n in names]})
        if path == "/crm/v3/objects/contacts" and request.method == "GET":
            pool = self.archived if params.get("archived") == "true" else self.contacts
            after = int(params.get("after", "0"))
            ids = sorted(i for i in pool if i > after)[: int(params["limit"])]
            names = params["properties"].split(",")
            body: dict[str, Any] = {"results": [self.render(pool[i], names) for i in ids]}
            if ids and ids[-1] < max(pool):
                body["paging"] = {"next": {"after": str(ids[-1]), "link": "?after=x"}}
            return httpx.Response(200, json=body)
        payload = orjson.loads(request.content)
        if path == "/crm/v3/objects/contacts/batch/read":
            assert len(payload["inputs"]) <= 100
            found = [self.render(self.contacts[int(x["id"])], payload["properties"]) for x in payload["inputs"]
                     if int(x["id"]) in self.contacts]
            return httpx.Response(200, json={"status": "COMPLETE", "results": found})
        if path == "/crm/v3/objects/contacts/search":
            return self.search(payload)
        raise AssertionError(f"unexpected request {request.method} {request.url}")

    def search(self, payload: dict) -> httpx.Response:
        after, limit = int(payload["after"]), payload["limit"]
        if after + limit > self.search_cap:
            return httpx.Response(400, json={"status": "error", "category": "VALIDATION_ERROR",
                                             "message": "cap", "correlationId": "x"})
        (group,) = payload["filterGroups"]
        (sort,) = payload["sorts"]

        def value(record: dict, name: str) -> int:
            raw = record["properties"][name]
            return int(raw) if name == "hs_object_id" else to_ms(raw)

        ops = {"GTE": lambda a, b: a >= b, "EQ": lambda a, b: a == b, "GT": lambda a, b: a > b}
        hits = [r for r in self.contacts.values()
                if all(ops[f["operator"]](value(r, f["propertyName"]), int(f["value"])) for f in group["filters"])]
        hits.sort(key=lambda r: (value(r, sort["propertyName"]), int(r["id"])))
        page = hits[after:after + limit]
        body: dict[str, Any] = {"total": len(hits), "results": [self.render(r, payload["properties"]) for r in page]}
        if after + limit < len(hits):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return httpx.Response(200, json=body)

    def of(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


@pytest.fixture
def fake():
    with respx.mock(using="httpx", assert_all_called=False) as router:
        yield lambda **kw: FakeHubSpot(router, **kw)


def stream(objects=("contacts",), now_ms: int = NOW_MS):
    connector = HubSpotConnector("crm", TOKEN, base_url=BASE, objects=list(objects), requests_per_10s=1000,
                                 search_per_second=100, now=lambda: now_ms / 1000)
    return connector, connector.streams()[0]


async def read_all(s, cursor: Any = None, *, full_refresh: bool = False) -> list[Page]:
    return [p async for p in s.read(cursor, full_refresh=full_refresh)]


def ids(pages: list[Page]) -> list[str]:
    return [r.external_id for p in pages for r in p.records]


async def test_first_sync_lists_every_property_in_the_url_then_hands_over_to_search(fake):
    hs = fake(contacts=250)
    connector, s = stream()
    pages = await read_all(s)
    listed = [p for p in pages if p.scan_id]
    assert ids(listed) == [str(i) for i in range(1, 251)]
    assert listed[-1].scan_complete and not any(p.scan_complete for p in listed[:-1])
    request = hs.of("/crm/v3/objects/contacts")[0]
    assert request.url.params["limit"] == "100"
    assert set(request.url.params["properties"].split(",")) >= {"email", *hs.props}
    assert not hs.of("/crm/v3/objects/contacts/batch/read")
    assert listed[0].records[0].data["properties"]["email"] == "c1@x.test"
    # then changes since the list began (less the lookback) by search, then the archived list
    search = orjson.loads(hs.of("/crm/v3/objects/contacts/search")[0].content)
    assert search["filterGroups"][0]["filters"] == [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(NOW_MS - LOOKBACK_MS)}]
    assert search["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert search["after"] == "0" and search["limit"] == SEARCH_PAGE
    assert pages[-1].cursor["phase"] == "changes" and pages[-1].cursor["fresh"]
    await connector.aclose()


async def test_hundreds_of_properties_go_in_batch_read_bodies_never_in_a_long_url(fake):
    hs = fake(contacts=150, properties=400)
    connector, s = stream()
    pages = await read_all(s)
    assert ids([p for p in pages if p.scan_id]) == [str(i) for i in range(1, 151)]
    lists = hs.of("/crm/v3/objects/contacts")
    assert all(r.url.params["properties"] == "hs_object_id" for r in lists if r.url.params["archived"] == "false")
    reads = hs.of("/crm/v3/objects/contacts/batch/read")
    assert len(reads) == 2
    body = orjson.loads(reads[0].content)
    assert len(body["properties"]) == 403 and [x["id"] for x in body["inputs"]] == [str(i) for i in range(1, 101)]
    assert pages[0].records[0].data["properties"][hs.props[-1]] is None  # every property, set or not
    assert pages[0].requests == 3  # properties, list page, batch read
    await connector.aclose()


async def test_a_list_read_resumes_at_its_page_token(fake):
    hs = fake(contacts=250)
    connector, s = stream()
    first = None
    async for page in s.read(None, full_refresh=False):
        first = page
        break
    assert first.cursor["after"] == "100"
    hs.requests.clear()
    pages = await read_all(s, first.cursor)
    assert ids([p for p in pages if p.scan_id]) == [str(i) for i in range(101, 251)]
    assert pages[0].scan_id == first.scan_id
    await connector.aclose()


async def test_search_reads_12000_changes_by_keyset_never_past_the_cap(fake):
    hs = fake(contacts=0)
    for i in range(1, 12_001):
        hs.put(i, NOW_MS + i // 3)  # three changes per millisecond, and page ends falling inside them
    connector, s = stream()
    cursor = {"mode": "search", "phase": "search", "since": NOW_MS, "seen": [], "group": None, "fresh": False,
              "archived_since": NOW_MS}
    pages = await read_all(s, cursor)
    got = ids(pages)
    assert sorted(got, key=int) == [str(i) for i in range(1, 12_001)]
    assert len(got) == len(set(got)), "a record read twice in one window"
    searches = hs.of("/crm/v3/objects/contacts/search")
    assert all(orjson.loads(r.content)["after"] == "0" for r in searches)
    # 12,000 / 200, and each page after the first starts again with the ones of its first millisecond
    assert 61 <= len(searches) <= 63
    assert pages[-1].cursor["since"] == NOW_MS + 12_000 // 3
    await connector.aclose()


async def test_a_millisecond_holding_more_than_a_page_is_read_by_id(fake):
    hs = fake(contacts=0)
    for i in range(1, 451):
        hs.put(i, NOW_MS + (0 if i <= 430 else i))  # a bulk import: 430 changes in one millisecond
    connector, s = stream()
    cursor = {"mode": "search", "phase": "search", "since": NOW_MS, "seen": [], "group": None, "fresh": False,
              "archived_since": NOW_MS}
    pages = await read_all(s, cursor)
    assert sorted(set(ids(pages)), key=int) == [str(i) for i in range(1, 451)]
    filters = [orjson.loads(r.content)["filterGroups"][0]["filters"]
               for r in hs.of("/crm/v3/objects/contacts/search")]
    assert {"propertyName": "hs_object_id", "operator": "GT", "value": "200"} in filters[2]
    # then on after that millisecond
    assert filters[-1] == [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(NOW_MS + 1)}]
    assert pages[-1].cursor["since"] == NOW_MS + 450
    await connector.aclose()


async def test_a_resumed_window_skips_what_it_read_at_the_same_millisecond(fake):
    hs = fake(contacts=0)
    for i in range(1, 6):
        hs.put(i, NOW_MS + 5)
    connector, s = stream()
    cursor = {"mode": "search", "phase": "search", "since": NOW_MS + 5, "seen": ["1", "2"], "group": None,
              "fresh": False, "archived_since": NOW_MS}
    pages = await read_all(s, cursor)
    assert ids([p for p in pages if p.records and not p.records[0].deleted]) == ["3", "4", "5"]
    await connector.aclose()


async def test_the_next_window_starts_a_lookback_before_the_newest_change(fake):
    hs = fake(contacts=3)
    connector, s = stream()
    cursor = {"mode": "search", "phase": "search", "since": NOW_MS, "seen": [], "group": None, "fresh": True,
              "archived_since": NOW_MS}
    await read_all(s, cursor)
    (request,) = hs.of("/crm/v3/objects/contacts/search")
    assert orjson.loads(request.content)["filterGroups"][0]["filters"][0]["value"] == str(NOW_MS - LOOKBACK_MS)
    await connector.aclose()


async def test_records_archived_since_the_last_window_are_marked_deleted(fake):
    hs = fake(contacts=5)
    hs.archive(2, NOW_MS - 10 * LOOKBACK_MS)  # long before the window: already known
    hs.archive(4, NOW_MS + 1_000)
    connector, s = stream(now_ms=NOW_MS + 5_000)
    cursor = {"mode": "search", "phase": "search", "since": NOW_MS, "seen": [], "group": None, "fresh": False,
              "archived_since": NOW_MS}
    pages = await read_all(s, cursor)
    deleted = [r for p in pages for r in p.records if r.deleted]
    assert [(r.external_id, r.data) for r in deleted] == [("4", None)]
    assert deleted[0].updated_at_us == (NOW_MS + 1_000) * 1000
    assert pages[-1].cursor["archived_since"] == NOW_MS + 5_000
    archived_lists = [r for r in hs.of("/crm/v3/objects/contacts") if r.url.params["archived"] == "true"]
    assert archived_lists and all(r.url.params["properties"] == "hs_object_id" for r in archived_lists)
    await connector.aclose()


async def test_owners_are_a_complete_read_every_run():
    with respx.mock(using="httpx") as router:
        owners = [{"id": str(i), "email": f"o{i}@x.test", "updatedAt": iso(NOW_MS)} for i in range(1, 4)]
        router.get(f"{BASE}/crm/v3/owners").mock(return_value=httpx.Response(200, json={"results": owners}))
        connector, s = stream(objects=("owners",))
        pages = await read_all(s, {})
        assert ids(pages) == ["1", "2", "3"] and pages[-1].scan_complete and pages[-1].cursor is None
        again = await read_all(s, pages[-1].cursor)  # null between runs: the next run reads them all again
        assert ids(again) == ["1", "2", "3"] and again[-1].scan_complete and again[0].scan_id != pages[0].scan_id
        await connector.aclose()


async def test_the_daily_limit_fails_at_once_with_a_clear_message():
    with respx.mock(using="httpx") as router:
        route = router.get(f"{BASE}/crm/v3/properties/contacts").mock(return_value=httpx.Response(
            429, json={"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
                       "policyName": "DAILY", "correlationId": "x"}))
        connector, s = stream()
        with pytest.raises(DailyLimitReached, match="daily") as caught:
            await read_all(s)
        assert route.call_count == 1 and "crm" in str(caught.value) and TOKEN not in str(caught.value)
        await connector.aclose()


async def test_an_archived_pass_stored_by_the_previous_release_resumes_it(fake):
    # version 1's {"mode": "search", "phase": "archived", ...}: the pass goes on from its page token, then the
    # next window starts from the stored search position
    hs = fake(contacts=250)
    for i in (20, 180, 240):
        hs.archive(i, NOW_MS + 1_000)
    connector, s = stream(now_ms=NOW_MS + 5_000)
    first = await read_all(s, {"mode": "search", "phase": "archived", "since": NOW_MS + 77, "seen": [],
                               "group": None, "fresh": True, "archived_since": NOW_MS, "after": None,
                               "archived_started": NOW_MS + 4_000})
    assert not hs.of("/crm/v3/objects/contacts/search")  # straight to the archived list
    assert sorted(r.external_id for p in first for r in p.records if r.deleted) == ["180", "20", "240"]
    assert first[-1].cursor == {"v": 2, "phase": "changes", "since": NOW_MS + 77, "seen": [], "group": None,
                                "fresh": True, "archived_since": NOW_MS + 4_000}
    await connector.aclose()
