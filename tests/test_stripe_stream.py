"""StripeStream against a scripted Stripe (respx, no network): the complete list read and its hand-over to
events, resuming either, reading events forward in time, thin events, and the fall-backs to a new complete read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from connectors.kit import CredentialsRefused, FatalError, RequestRejected
from connectors.kit.model import Page, RecordIn
from connectors.stripe.connector import StripeConnector
from connectors.stripe.objects import OBJECTS
from engine.sync.apply import scan_started_us

BASE = "https://stripe.test"
KEY = "sk_test_x"
NOW = 1_750_000_000  # the stream's clock
DAY = 86400
CUSTOMER_EVENTS = ["customer.created", "customer.updated", "customer.deleted"]
SUBSCRIPTION_EVENTS = list(OBJECTS["subscriptions"].event_types)
NOT_FOUND = {"error": {"type": "invalid_request_error", "code": "resource_missing",
                       "message": "No such customer: 'cus_x'", "param": "starting_after"}}


class FakeStripe:
    """Scripted answers, each for one path and query (parameter order aside); every request is logged, and a
    request nobody scripted fails the test."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.answers: dict[tuple[str, tuple], tuple[int, Any]] = {}
        self.used: set[tuple[str, tuple]] = set()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        router.get(url__startswith=f"{BASE}/v1/").mock(side_effect=self)

    @staticmethod
    def _key(path: str, params: httpx.QueryParams) -> tuple[str, tuple]:
        return path, tuple(sorted(params.multi_items()))

    def on(self, path: str, params: dict[str, Any], body: Any, *, status: int = 200) -> None:
        self.answers[self._key(path, httpx.QueryParams(params))] = (status, body)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        self.requests.append((request.url.path, {k: (v if len(v := params.get_list(k)) > 1 else v[0])
                                                 for k in params}))
        assert request.headers["authorization"] == f"Bearer {KEY}"
        key = self._key(request.url.path, params)
        if key not in self.answers:
            raise AssertionError(f"unexpected request: GET {request.url}")
        self.used.add(key)
        status, body = self.answers[key]
        return httpx.Response(status, json=body)


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    with respx.mock(using="httpx", assert_all_called=False) as router:
        fake = FakeStripe(router)
        yield fake
    assert set(fake.answers) == fake.used, "some scripted answers were never asked for"


def nested(cursor: dict) -> dict:
    """A cursor as it sits inside another (the hand-over a list cursor carries): without the version."""
    return {key: value for key, value in cursor.items() if key != "v"}


def connector(*objects: str) -> StripeConnector:
    return StripeConnector("billing", KEY, base_url=BASE, objects=list(objects) or None, rate_limit=1000,
                           now=lambda: NOW)


async def read(cursor: Any, *, obj: str = "customers", full_refresh: bool = False) -> list[Page]:
    source = connector(obj)
    try:
        return [page async for page in source.streams()[0].read(cursor, full_refresh=full_refresh)]
    finally:
        await source.aclose()


def listing(*objects: dict, has_more: bool = False, url: str = "/v1/customers") -> dict:
    return {"object": "list", "url": url, "has_more": has_more, "data": list(objects)}


def customer(n: int, **fields: Any) -> dict:
    return {"id": f"cus_{n}", "object": "customer", "created": NOW - 10_000 + n, "name": f"Customer {n}",
            **fields}


def event(event_id: str, event_type: str, obj: dict | None, created: int, **fields: Any) -> dict:
    body = {"id": event_id, "object": "event", "type": event_type, "created": created, **fields}
    if obj is not None:
        body["data"] = {"object": obj}
    return body


def probe(types: list[str] = CUSTOMER_EVENTS) -> dict:
    return {"types[]": types, "limit": 1}


def events_after(event_id: str, types: list[str] = CUSTOMER_EVENTS) -> dict:
    return {"types[]": types, "ending_before": event_id, "limit": 100}


def ids(page: Page) -> list[str]:
    return [r.external_id for r in page.records]


# -- the complete read ------------------------------------------------------------------------------------------

async def test_a_first_read_probes_events_then_lists_everything(stripe: FakeStripe) -> None:
    newest = event("evt_9", "customer.updated", customer(3), NOW - 50)
    stripe.on("/v1/events", probe(), listing(newest, has_more=True, url="/v1/events"))
    stripe.on("/v1/customers", {"limit": 100}, listing(customer(3), customer(2), has_more=True))
    stripe.on("/v1/customers", {"limit": 100, "starting_after": "cus_2"}, listing(customer(1)))
    pages = await read(None)

    assert stripe.requests == [
        ("/v1/events", {"types[]": CUSTOMER_EVENTS, "limit": "1"}),
        ("/v1/customers", {"limit": "100"}),
        ("/v1/customers", {"limit": "100", "starting_after": "cus_2"}),
    ]
    handover = {"v": 2, "phase": "changes", "after": "evt_9", "at": NOW - 50}
    scan = pages[0].scan_id
    assert scan is not None and abs(scan_started_us(scan) / 1e6 - time.time()) < 60  # a UUIDv7
    assert [ids(p) for p in pages] == [["cus_3", "cus_2"], ["cus_1"], []]
    assert pages[0].records[0] == RecordIn("cus_3", customer(3))  # as listed, read "now", no event
    assert pages[0].cursor == {"v": 2, "phase": "scan", "how": "list", "scan": scan, "after": "cus_2",
                               "created": customer(2)["created"], "next": nested(handover)}
    assert pages[1].cursor == {**pages[0].cursor, "after": "cus_1", "created": customer(1)["created"]}
    assert [p.scan_id for p in pages] == [scan] * 3
    assert [p.scan_complete for p in pages] == [False, False, True]
    assert pages[2].cursor == handover
    assert [p.requests for p in pages] == [2, 1, 0]  # the probe counts with the first page
    assert [p.mode for p in pages] == ["list"] * 3 and all(p.note is None for p in pages)


async def test_subscriptions_list_with_status_all_and_hand_over_without_events(stripe: FakeStripe) -> None:
    sub = {"id": "sub_1", "object": "subscription", "created": NOW - 100, "status": "canceled"}
    stripe.on("/v1/events", probe(SUBSCRIPTION_EVENTS), listing(url="/v1/events"))
    stripe.on("/v1/subscriptions", {"status": "all", "limit": 100}, listing(sub, url="/v1/subscriptions"))
    pages = await read(None, obj="subscriptions")

    assert stripe.requests[1] == ("/v1/subscriptions", {"status": "all", "limit": "100"})
    assert [ids(p) for p in pages] == [["sub_1"], []]
    assert pages[0].cursor["next"] == nested(pages[1].cursor)
    assert pages[1].cursor == {"v": 2, "phase": "changes", "after": None, "at": NOW - 300}
    assert pages[1].scan_complete


async def test_a_full_refresh_reads_the_list_whatever_the_cursor(stripe: FakeStripe) -> None:
    stripe.on("/v1/events", probe(), listing(url="/v1/events"))
    stripe.on("/v1/customers", {"limit": 100}, listing(customer(1)))
    pages = await read({"v": 2, "phase": "changes", "after": "evt_1", "at": NOW - 100}, full_refresh=True)
    assert [ids(p) for p in pages] == [["cus_1"], []]
    assert [p.mode for p in pages] == ["full refresh"] * 2
    assert pages[-1].scan_complete and pages[0].cursor["how"] == "full refresh"


async def test_a_list_cursor_resumes_after_its_last_id(stripe: FakeStripe) -> None:
    handover = {"v": 2, "phase": "changes", "after": "evt_1", "at": NOW - 100}
    cursor = {"v": 2, "phase": "scan", "how": "full refresh", "scan": "0190a0c0-0000-7000-8000-000000000000",
              "after": "cus_5", "created": NOW - 9_995, "next": nested(handover)}
    stripe.on("/v1/customers", {"limit": 100, "starting_after": "cus_5"}, listing(customer(4), customer(3)))
    pages = await read(cursor)

    assert [path for path, _ in stripe.requests] == ["/v1/customers"]  # no second probe: the hand-over is kept
    assert [ids(p) for p in pages] == [["cus_4", "cus_3"], []]
    assert pages[0].cursor == {**cursor, "after": "cus_3", "created": customer(3)["created"]}
    assert [p.scan_id for p in pages] == [cursor["scan"]] * 2
    assert pages[1].cursor == handover and pages[1].scan_complete
    assert [p.mode for p in pages] == ["full refresh"] * 2


async def test_a_deleted_resume_point_continues_from_its_created_second(stripe: FakeStripe) -> None:
    cursor = {"v": 2, "phase": "scan", "how": "list", "scan": "0190a0c0-0000-7000-8000-000000000000", "after": "cus_x",
              "created": 1_700_000_000, "next": {"phase": "changes", "after": None, "at": NOW - 300}}
    stripe.on("/v1/customers", {"limit": 100, "starting_after": "cus_x"}, NOT_FOUND, status=404)
    stripe.on("/v1/customers", {"limit": 100, "created[lte]": 1_700_000_000},
              listing(customer(2), customer(1), has_more=True))
    stripe.on("/v1/customers", {"limit": 100, "created[lte]": 1_700_000_000, "starting_after": "cus_1"},
              listing(customer(0)))
    pages = await read(cursor)

    assert [q for _, q in stripe.requests] == [
        {"limit": "100", "starting_after": "cus_x"},
        {"limit": "100", "created[lte]": "1700000000"},
        {"limit": "100", "created[lte]": "1700000000", "starting_after": "cus_1"},
    ]
    assert [ids(p) for p in pages] == [["cus_2", "cus_1"], ["cus_0"], []]
    assert pages[1].cursor["after"] == "cus_0" and pages[-1].scan_complete


async def test_an_object_deleted_during_a_fresh_read_does_not_end_it(stripe: FakeStripe) -> None:
    """The paginator's own `starting_after` (the last object of the page before) can vanish mid-read too."""
    cursor = {"v": 2, "phase": "scan", "how": "list", "scan": "0190a0c0-0000-7000-8000-000000000000", "after": None,
              "created": None, "next": {"phase": "changes", "after": None, "at": NOW - 300}}
    stripe.on("/v1/customers", {"limit": 100}, listing(customer(3), customer(2), has_more=True))
    stripe.on("/v1/customers", {"limit": 100, "starting_after": "cus_2"}, NOT_FOUND, status=404)
    stripe.on("/v1/customers", {"limit": 100, "created[lte]": customer(2)["created"]},
              listing(customer(1), customer(0)))
    pages = await read(cursor)

    assert [ids(p) for p in pages] == [["cus_3", "cus_2"], ["cus_1", "cus_0"], []]
    assert pages[-1].scan_complete and sum(p.requests for p in pages) == 3


async def test_a_deleted_resume_point_without_its_created_second_fails(stripe: FakeStripe) -> None:
    cursor = {"v": 2, "phase": "scan", "how": "list", "scan": "0190a0c0-0000-7000-8000-000000000000", "after": "cus_x",
              "created": None, "next": {"phase": "changes", "after": None, "at": NOW - 300}}
    stripe.on("/v1/customers", {"limit": 100, "starting_after": "cus_x"}, NOT_FOUND, status=404)
    with pytest.raises(RequestRejected) as caught:
        await read(cursor)
    assert caught.value.status == 404 and "No such customer" in str(caught.value)


# -- events -----------------------------------------------------------------------------------------------------

async def test_events_are_read_forward_and_applied_oldest_first(stripe: FakeStripe) -> None:
    created, updated, deleted = customer(1), customer(1, name="Ada"), customer(2)
    page_1 = [event("evt_13", "customer.deleted", deleted, NOW - 700),  # newest first, as Stripe sends them
              event("evt_12", "customer.updated", updated, NOW - 800),
              event("evt_11", "customer.created", created, NOW - 900)]
    stripe.on("/v1/events", events_after("evt_10"), listing(*page_1, has_more=True, url="/v1/events"))
    later = customer(3)
    stripe.on("/v1/events", events_after("evt_13"),  # the newest id of the page before
              listing(event("evt_14", "customer.created", later, NOW - 600), url="/v1/events"))
    pages = await read({"v": 2, "phase": "changes", "after": "evt_10", "at": NOW - 1000})

    assert [q["ending_before"] for _, q in stripe.requests] == ["evt_10", "evt_13"]
    assert all(q["types[]"] == CUSTOMER_EVENTS and q["limit"] == "100" for _, q in stripe.requests)
    assert len(pages) == 2
    assert pages[0].records == [
        RecordIn("cus_1", created, updated_at_us=(NOW - 900) * 1_000_000, vendor_event_id="evt_11"),
        RecordIn("cus_1", updated, updated_at_us=(NOW - 800) * 1_000_000, vendor_event_id="evt_12"),
        RecordIn("cus_2", deleted, deleted=True, updated_at_us=(NOW - 700) * 1_000_000, vendor_event_id="evt_13"),
    ]
    assert pages[0].cursor == {"v": 2, "phase": "changes", "after": "evt_13", "at": NOW - 700}
    assert pages[1].records == [RecordIn("cus_3", later, updated_at_us=(NOW - 600) * 1_000_000,
                                         vendor_event_id="evt_14")]
    assert pages[1].cursor == {"v": 2, "phase": "changes", "after": "evt_14", "at": NOW - 600}
    assert [(p.mode, p.requests, p.scan_id, p.scan_complete) for p in pages] == [("events", 1, None, False)] * 2
    assert page_1[0]["id"] == "evt_13"  # the answer itself was not reordered


async def test_a_canceled_subscription_is_an_update_not_a_delete(stripe: FakeStripe) -> None:
    canceled = {"id": "sub_1", "object": "subscription", "status": "canceled", "created": NOW - 5000}
    stripe.on("/v1/events", events_after("evt_1", SUBSCRIPTION_EVENTS),
              listing(event("evt_2", "customer.subscription.deleted", canceled, NOW - 100), url="/v1/events"))
    pages = await read({"v": 2, "phase": "changes", "after": "evt_1", "at": NOW - 1000}, obj="subscriptions")
    assert pages[0].records == [RecordIn("sub_1", canceled, deleted=False, updated_at_us=(NOW - 100) * 1_000_000,
                                         vendor_event_id="evt_2")]


async def test_events_without_the_object_are_fetched_or_skipped(stripe: FakeStripe) -> None:
    full = customer(7, email="c7@x.test")
    wire = [  # newest first
        event("evt_6", "customer.updated", None, NOW - 100, related_object={"id": "cus_9", "type": "customer"}),
        event("evt_5", "customer.updated", None, NOW - 200, related_object={"id": "cus_8", "type": "customer"}),
        event("evt_4", "customer.updated", {"object": "discount"}, NOW - 300),  # no id to fetch: skipped
        event("evt_3", "customer.updated", {"id": "cus_7"}, NOW - 400),  # a partial copy: fetched whole
        event("evt_2", "customer.discount.created", {"id": "di_1", "object": "discount"}, NOW - 500),  # not ours
    ]
    stripe.on("/v1/events", events_after("evt_1"), listing(*wire, url="/v1/events"))
    stripe.on("/v1/customers/cus_7", {}, full)
    stripe.on("/v1/customers/cus_8", {}, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                                    "message": "No such customer: 'cus_8'"}}, status=404)
    stripe.on("/v1/customers/cus_9", {}, {"id": "cus_9", "object": "customer", "deleted": True})
    pages = await read({"v": 2, "phase": "changes", "after": "evt_1", "at": NOW - 1000})

    assert [path for path, _ in stripe.requests] == [
        "/v1/events", "/v1/customers/cus_7", "/v1/customers/cus_8", "/v1/customers/cus_9"]
    assert pages[0].records == [
        RecordIn("cus_7", full, updated_at_us=(NOW - 400) * 1_000_000, vendor_event_id="evt_3"),
        RecordIn("cus_8", None, deleted=True, updated_at_us=(NOW - 200) * 1_000_000, vendor_event_id="evt_5"),
        RecordIn("cus_9", None, deleted=True, updated_at_us=(NOW - 100) * 1_000_000, vendor_event_id="evt_6"),
    ]
    assert pages[0].cursor == {"v": 2, "phase": "changes", "after": "evt_6", "at": NOW - 100}
    assert len(pages) == 1


async def test_an_events_cursor_older_than_30_days_reads_everything_again(stripe: FakeStripe) -> None:
    stripe.on("/v1/events", probe(), listing(event("evt_99", "customer.created", customer(2), NOW - 5),
                                             url="/v1/events"))
    stripe.on("/v1/customers", {"limit": 100}, listing(customer(2), customer(1)))
    pages = await read({"v": 2, "phase": "changes", "after": "evt_1", "at": NOW - 31 * DAY})

    assert [path for path, _ in stripe.requests] == ["/v1/events", "/v1/customers"]  # no ending_before=evt_1
    assert [ids(p) for p in pages] == [["cus_2", "cus_1"], []]
    assert "30 days" in pages[0].note and pages[1].note is None
    assert [p.mode for p in pages] == ["list (events expired)"] * 2
    assert pages[0].cursor["how"] == "list (events expired)"  # a resumed read says so too
    assert pages[1].scan_complete and pages[1].cursor == {"v": 2, "phase": "changes", "after": "evt_99", "at": NOW - 5}


async def test_an_events_cursor_within_the_30_days_reads_events(stripe: FakeStripe) -> None:
    stripe.on("/v1/events", events_after("evt_1"), listing(url="/v1/events"))
    pages = await read({"v": 2, "phase": "changes", "after": "evt_1", "at": NOW - 29 * DAY})
    assert [(p.records, p.cursor, p.mode) for p in pages] == [
        ([], {"v": 2, "phase": "changes", "after": "evt_1", "at": NOW - 29 * DAY}, "events")]


async def test_a_vanished_ending_before_event_reads_everything_again(stripe: FakeStripe) -> None:
    stripe.on("/v1/events", events_after("evt_gone"),
              {"error": {"type": "invalid_request_error", "code": "resource_missing",
                         "message": "No such event: 'evt_gone'", "param": "ending_before"}}, status=404)
    stripe.on("/v1/events", probe(), listing(url="/v1/events"))
    stripe.on("/v1/customers", {"limit": 100}, listing(customer(1)))
    pages = await read({"v": 2, "phase": "changes", "after": "evt_gone", "at": NOW - 1000})

    assert [q.get("ending_before", q["limit"]) for _, q in stripe.requests] == ["evt_gone", "1", "100"]
    assert [ids(p) for p in pages] == [["cus_1"], []]
    assert "evt_gone" in pages[0].note and [p.mode for p in pages] == ["list (events expired)"] * 2
    assert pages[1].scan_complete and pages[1].cursor == {"v": 2, "phase": "changes", "after": None, "at": NOW - 300}


async def test_a_cursor_without_an_event_starts_from_the_oldest_event_since(stripe: FakeStripe) -> None:
    e = {n: event(f"evt_{n}", "customer.updated", customer(n), NOW - 5000 + n) for n in range(1, 6)}
    since = {"types[]": CUSTOMER_EVENTS, "created[gte]": NOW - 5000, "limit": 100}
    stripe.on("/v1/events", since, listing(e[5], e[4], e[3], has_more=True, url="/v1/events"))
    stripe.on("/v1/events", {**since, "starting_after": "evt_3"}, listing(e[2], e[1], url="/v1/events"))
    stripe.on("/v1/events", events_after("evt_1"), listing(e[5], e[4], e[3], e[2], url="/v1/events"))
    pages = await read({"v": 2, "phase": "changes", "after": None, "at": NOW - 5000})

    assert len(stripe.requests) == 3
    assert [ids(p) for p in pages] == [["cus_1"], ["cus_2", "cus_3", "cus_4", "cus_5"]]
    assert [r.vendor_event_id for p in pages for r in p.records] == [f"evt_{n}" for n in range(1, 6)]
    assert pages[0].cursor == {"v": 2, "phase": "changes", "after": "evt_1", "at": NOW - 4999}
    assert pages[1].cursor == {"v": 2, "phase": "changes", "after": "evt_5", "at": NOW - 4995}
    assert [p.requests for p in pages] == [2, 1] and [p.mode for p in pages] == ["events"] * 2


async def test_no_event_since_the_mark_moves_it_forward(stripe: FakeStripe) -> None:
    stripe.on("/v1/events", {"types[]": CUSTOMER_EVENTS, "created[gte]": NOW - 20 * DAY, "limit": 100},
              listing(url="/v1/events"))
    pages = await read({"v": 2, "phase": "changes", "after": None, "at": NOW - 20 * DAY})
    assert len(pages) == 1
    assert pages[0].records == [] and pages[0].cursor == {"v": 2, "phase": "changes", "after": None, "at": NOW - 300}
    assert (pages[0].requests, pages[0].mode, pages[0].scan_id) == (1, "events", None)


# -- errors -----------------------------------------------------------------------------------------------------

async def test_a_refused_key_names_the_source_and_not_the_key(stripe: FakeStripe) -> None:
    stripe.on("/v1/events", probe(), {"error": {"type": "invalid_request_error",
                                                "message": f"Invalid API Key provided: {KEY}"}}, status=401)
    with pytest.raises(CredentialsRefused) as caught:
        await read(None)
    text = str(caught.value)
    assert "'billing'" in text and KEY not in text and caught.value.status == 401
    assert len(stripe.requests) == 1  # never retried


@pytest.mark.parametrize("cursor", [None, {"v": 2, "phase": "changes", "after": "evt_1", "at": NOW - 100}])
async def test_a_page_without_a_data_list_fails_naming_the_object(stripe: FakeStripe, cursor: Any) -> None:
    if cursor is None:
        stripe.on("/v1/events", probe(), listing(url="/v1/events"))
        stripe.on("/v1/customers", {"limit": 100}, {"object": "list", "has_more": False})
    else:
        stripe.on("/v1/events", events_after("evt_1"), {"object": "list", "has_more": False, "data": None})
    with pytest.raises(FatalError) as caught:
        await read(cursor)
    assert "'customers'" in str(caught.value) and "no list of records" in str(caught.value)


async def test_the_connector_has_one_stream_per_object_and_counts_requests(stripe: FakeStripe) -> None:
    every = connector()
    assert [(s.name, s.object_type) for s in every.streams()] == [(o.name, o.object_type) for o in OBJECTS.values()]
    await every.aclose()
    stripe.on("/v1/events", events_after("evt_1"), listing(url="/v1/events"))
    source = connector("customers")
    try:
        [page] = [p async for p in source.streams()[0].read({"v": 2, "phase": "changes", "after": "evt_1", "at": NOW},
                                                            full_refresh=False)]
    finally:
        await source.aclose()
    assert page.records == [] and source.http_stats() == {"requests": 1, "rate_limited": 0}


async def test_cursors_stored_by_the_previous_release_still_load(stripe: FakeStripe) -> None:
    # version 1: the untyped dicts ({"mode": "list"|"events", ...}); a list read resumes where it was, with its
    # hand-over, and an events cursor reads the events after it
    legacy_list = {"mode": "list", "how": "full refresh", "scan": "0190a0c0-0000-7000-8000-000000000000",
                   "after": "cus_5", "created": NOW - 9_995, "next": {"mode": "events", "after": "evt_1",
                                                                       "at": NOW - 100}}
    stripe.on("/v1/customers", {"limit": 100, "starting_after": "cus_5"}, listing(customer(4)))
    pages = await read(legacy_list)
    assert [ids(p) for p in pages] == [["cus_4"], []] and [p.mode for p in pages] == ["full refresh"] * 2
    assert pages[0].cursor == {"v": 2, "phase": "scan", "how": "full refresh", "scan": legacy_list["scan"],
                               "after": "cus_4", "created": customer(4)["created"],
                               "next": {"phase": "changes", "after": "evt_1", "at": NOW - 100}}
    assert pages[1].cursor == {"v": 2, "phase": "changes", "after": "evt_1", "at": NOW - 100}

    e2 = event("evt_2", "customer.updated", customer(2), NOW - 50)
    stripe.on("/v1/events", events_after("evt_1"), listing(e2, url="/v1/events"))
    pages = await read({"mode": "events", "after": "evt_1", "at": NOW - 100})
    assert [ids(p) for p in pages] == [["cus_2"]]
    assert pages[0].cursor == {"v": 2, "phase": "changes", "after": "evt_2", "at": NOW - 50}


@pytest.mark.parametrize(("cursor", "why"), [
    ({"v": 3, "phase": "changes", "after": "evt_1", "at": NOW}, "newer inlet"),
    ({"v": 2, "phase": "changes", "after": "evt_1"}, "at: Field required"),
    ({"v": 2, "phase": "sideways"}, "phase"),
    ({"mode": "teleport"}, "cannot be upgraded"),
    (["evt_1"], "a list, not an object"),
])
async def test_a_cursor_it_cannot_follow_starts_a_complete_read_and_says_why(stripe: FakeStripe, cursor: Any,
                                                                               why: str) -> None:
    stripe.on("/v1/events", probe(), listing(url="/v1/events"))
    stripe.on("/v1/customers", {"limit": 100}, listing(customer(1)))
    pages = await read(cursor)
    assert [ids(p) for p in pages] == [["cus_1"], []] and pages[-1].scan_complete
    assert why in pages[0].note and "a complete read starts" in pages[0].note and pages[1].note is None
