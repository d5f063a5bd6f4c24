"""SourceClient with respx: bounded retries, vendor waits honoured, fatal errors fast, secrets never quoted."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator

import httpx
import pytest
import respx

from connectors.hubspot.statuses import signals as hubspot
from connectors.kit import (
    AfterCursor,
    BearerToken,
    ConnectionCursor,
    CredentialsRefused,
    DailyLimitReached,
    FatalError,
    PaginationLoop,
    RateLimited,
    RateLimiter,
    RequestRejected,
    RetryPolicy,
    SourceClient,
    StartingAfter,
    TransientError,
)
from connectors.kit.testing import FakeClock
from connectors.stripe.statuses import signals as stripe

BASE = "https://api.vendor.test"
KEY = "sk_test_51Hxyz0123456789abcdefSECRET"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=True) as router:
        yield router


def make_client(clock: FakeClock, *, attempts: int = 4, limiter: RateLimiter | None = None,
                **kwargs: object) -> SourceClient:
    policy = RetryPolicy(max_attempts=attempts, max_total_wait=60, sleep=clock.sleep, rng=random.Random(7))
    return SourceClient("billing", BASE, BearerToken(KEY), limiter=limiter, retry_policy=policy, **kwargs)


async def test_get_json_sends_auth_and_user_agent(api: respx.MockRouter, clock: FakeClock) -> None:
    route = api.get("/v1/customers", params={"limit": "3"}).respond(200, json={"data": []})
    async with make_client(clock, user_agent="inlet-test/1") as client:
        assert await client.get_json("/v1/customers", {"limit": 3}, object_name="customers") == {"data": []}
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"] == "inlet-test/1"


async def test_a_500_storm_gives_up_after_max_attempts(api: respx.MockRouter, clock: FakeClock) -> None:
    route = api.get("/v1/customers").respond(500, json={"error": {"message": "boom", "type": "api_error"}})
    async with make_client(clock, attempts=4) as client:
        with pytest.raises(TransientError) as caught:
            await client.get_json("/v1/customers", object_name="customers")
    assert route.call_count == 4
    assert len(clock.sleeps) == 3
    assert all(0 < s <= 30 for s in clock.sleeps) and clock.sleeps[2] > clock.sleeps[0]  # backing off
    text = str(caught.value)
    assert "'billing'" in text and "'customers'" in text and "HTTP 500" in text and "boom" in text
    assert "after 4 attempts" in text


async def test_total_wait_budget_stops_before_attempts_run_out(api: respx.MockRouter, clock: FakeClock) -> None:
    route = api.get("/x").respond(503, headers={"Retry-After": "25"})
    async with make_client(clock, attempts=10) as client:  # budget 60 s: 25 + 25, a third 25 would pass it
        with pytest.raises(TransientError):
            await client.get_json("/x", object_name="things")
    assert route.call_count == 3 and clock.sleeps == [25.0, 25.0]


async def test_429_with_retry_after_waits_that_long(api: respx.MockRouter, clock: FakeClock) -> None:
    api.get("/admin/api/2024-01/customers.json").mock(side_effect=[
        httpx.Response(429, json={"errors": "Exceeded 2 calls per second"}, headers={"Retry-After": "2.0"}),
        httpx.Response(200, json={"customers": [{"id": 1}]}),
    ])
    async with make_client(clock) as client:
        body = await client.get_json("/admin/api/2024-01/customers.json", object_name="customers")
    assert body == {"customers": [{"id": 1}]}
    assert clock.sleeps == [2.0]


async def test_429_wait_also_pauses_the_limiter(api: respx.MockRouter, clock: FakeClock) -> None:
    hubspot_429 = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                   "policyName": "TEN_SECONDLY_ROLLING"}
    api.get("/crm/v3/objects/contacts").mock(side_effect=[httpx.Response(429, json=hubspot_429),
                                                          httpx.Response(200, json={"results": []})])
    limiter = RateLimiter(100, 10.0, burst=10, clock=clock, sleep=clock.sleep)
    start = clock()
    async with make_client(clock, limiter=limiter, signals=hubspot) as client:
        await client.get_json("/crm/v3/objects/contacts", object_name="contacts")
    assert clock.sleeps[0] == 10.0  # the retry policy's wait; the limiter adds nothing after it
    assert clock() - start == pytest.approx(10.0)


async def test_rate_limits_that_never_clear_raise_rate_limited(api: respx.MockRouter, clock: FakeClock) -> None:
    api.get("/v1/customers").respond(429, json={"error": {"code": "rate_limit", "message": "Request rate limit"}})
    async with make_client(clock, attempts=3) as client:
        with pytest.raises(RateLimited) as caught:
            await client.get_json("/v1/customers", object_name="customers")
    assert caught.value.status == 429 and caught.value.attempts == 3


async def test_401_fails_fast_naming_the_source_without_the_key(api: respx.MockRouter, clock: FakeClock) -> None:
    echoed = f"Invalid API Key provided: sk_test_{'*' * 20}CRET; you sent Bearer {KEY}"
    route = api.get("/v1/customers").respond(401, json={"error": {"message": echoed}})
    async with make_client(clock) as client:
        with pytest.raises(CredentialsRefused) as caught:
            await client.get_json("/v1/customers", object_name="customers")
    assert route.call_count == 1 and clock.sleeps == []
    text = str(caught.value)
    assert "credentials of source 'billing' were refused" in text and "HTTP 401" in text
    assert KEY not in text and "SECRET" not in text and "CRET" not in text
    assert KEY not in repr(caught.value)


async def test_403_is_a_config_error_too(api: respx.MockRouter, clock: FakeClock) -> None:
    api.get("/v1/customers").respond(403, json={"error": {"message": "This key lacks permission"}})
    async with make_client(clock) as client:
        with pytest.raises(CredentialsRefused, match="lacks permission"):
            await client.get_json("/v1/customers", object_name="customers")


async def test_a_hubspot_scope_missing_fails_only_that_object(api: respx.MockRouter, clock: FakeClock) -> None:
    api.get("/crm/v3/objects/deals").respond(403, json={"message": "missing scopes", "category": "MISSING_SCOPES"})
    async with make_client(clock, signals=hubspot) as client:
        with pytest.raises(RequestRejected, match=r"lacks a scope.*missing scopes") as caught:
            await client.get_json("/crm/v3/objects/deals", object_name="deals")
        assert not isinstance(caught.value, CredentialsRefused)


async def test_hubspot_daily_limit_stops_at_once(api: respx.MockRouter, clock: FakeClock) -> None:
    route = api.get("/crm/v3/objects/contacts").respond(
        429, json={"status": "error", "message": "You have reached your daily limit.", "policyName": "DAILY"})
    async with make_client(clock, signals=hubspot) as client:
        with pytest.raises(DailyLimitReached, match="daily"):
            await client.get_json("/crm/v3/objects/contacts", object_name="contacts")
    assert route.call_count == 1 and clock.sleeps == []


async def test_stripe_should_retry_false_is_not_retried(api: respx.MockRouter, clock: FakeClock) -> None:
    route = api.get("/v1/charges").respond(500, json={"error": {"message": "no"}},
                                           headers={"Stripe-Should-Retry": "false"})
    async with make_client(clock, signals=stripe) as client:
        with pytest.raises(RequestRejected, match="Stripe-Should-Retry: false"):
            await client.get_json("/v1/charges", object_name="charges")
    assert route.call_count == 1


async def test_stripe_should_retry_true_retries_a_409(api: respx.MockRouter, clock: FakeClock) -> None:
    route = api.post("/v1/customers/cus_1").mock(side_effect=[
        httpx.Response(409, json={"error": {"message": "busy"}}, headers={"Stripe-Should-Retry": "true"}),
        httpx.Response(200, json={"id": "cus_1"}),
    ])
    async with make_client(clock, idempotency_header="Idempotency-Key", signals=stripe) as client:
        assert await client.post_form("/v1/customers/cus_1", {"name": "Jane"}, object_name="customers") == {
            "id": "cus_1"}
    first, second = (call.request for call in route.calls)
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]  # one key per logical write
    assert first.content == b"name=Jane"


async def test_a_post_without_idempotency_is_not_repeated_after_a_500(api: respx.MockRouter, clock: FakeClock) -> None:
    route = api.post("/crm/v3/objects/contacts").respond(502)
    async with make_client(clock) as client:
        with pytest.raises(TransientError):
            await client.post_json("/crm/v3/objects/contacts", {"properties": {}}, object_name="contacts")
    assert route.call_count == 1


async def test_a_read_only_post_is_retried(api: respx.MockRouter, clock: FakeClock) -> None:
    route = api.post("/crm/v3/objects/contacts/search").mock(side_effect=[
        httpx.Response(502), httpx.Response(200, json={"results": []})])
    async with make_client(clock) as client:
        await client.post_json("/crm/v3/objects/contacts/search", {"limit": 100}, object_name="contacts",
                               idempotent=True)
    assert route.call_count == 2


async def test_connection_errors_are_transient_and_bounded(api: respx.MockRouter, clock: FakeClock) -> None:
    route = api.get("/v1/customers").mock(side_effect=httpx.ConnectError("refused"))
    async with make_client(clock, attempts=3) as client:
        with pytest.raises(TransientError, match="ConnectError") as caught:
            await client.get_json("/v1/customers", object_name="customers")
    assert route.call_count == 3 and caught.value.status is None
    assert "no HTTP status" in str(caught.value)


async def test_a_secret_in_a_quoted_url_is_masked(api: respx.MockRouter, clock: FakeClock) -> None:
    api.get("/oops").respond(400, json={"error": {"message": f"bad request to /x?api_key={KEY}&a=1"}})
    async with make_client(clock) as client:
        with pytest.raises(RequestRejected) as caught:
            await client.get_json("/oops", object_name="things")
    assert KEY not in str(caught.value) and "api_key=[redacted]" in str(caught.value)


async def test_pages_follows_stripe_lists_and_yields_records(api: respx.MockRouter, clock: FakeClock) -> None:
    route = api.get("/v1/customers").mock(side_effect=[
        httpx.Response(200, json={"data": [{"id": "c3"}, {"id": "c2"}], "has_more": True}),
        httpx.Response(200, json={"data": [{"id": "c1"}], "has_more": False}),
    ])
    async with make_client(clock) as client:
        pages = [page async for page in client.pages(StartingAfter(limit=2), "/v1/customers", {"email": "a@b"},
                                                     object_name="customers", records_path="data")]
    assert pages == [[{"id": "c3"}, {"id": "c2"}], [{"id": "c1"}]]
    assert dict(route.calls[1].request.url.params) == {"email": "a@b", "limit": "2", "starting_after": "c2"}


async def test_pages_names_source_and_object_on_a_loop(api: respx.MockRouter, clock: FakeClock) -> None:
    api.get("/crm/v3/objects/contacts").respond(200, json={"results": [{"id": "1"}],
                                                           "paging": {"next": {"after": "same"}}})
    async with make_client(clock) as client:
        with pytest.raises(PaginationLoop) as caught:
            async for _ in client.pages(AfterCursor(), "/crm/v3/objects/contacts", object_name="contacts",
                                        records_path="results"):
                pass
    assert "'billing'" in str(caught.value) and "'contacts'" in str(caught.value)


def test_client_repr_has_no_secret() -> None:
    client = SourceClient("billing", BASE, BearerToken(KEY))
    assert KEY not in repr(client) and KEY not in repr(client._http.auth)


async def test_pages_refuses_a_wrong_records_path(api: respx.MockRouter, clock: FakeClock) -> None:
    api.get("/v1/customers").respond(200, json={"data": [{"id": "c1"}], "has_more": False})
    async with make_client(clock) as client:
        with pytest.raises(FatalError, match="no list of records at 'results'"):
            async for _ in client.pages(StartingAfter(), "/v1/customers", object_name="customers",
                                        records_path="results"):
                pass


async def test_pages_fetched_the_vendors_way_follow_graphql_cursor_variables(api: respx.MockRouter,
                                                                             clock: FakeClock) -> None:
    def connection(has_next: bool, cursor: str) -> dict:
        return {"data": {"customers": {"edges": [{"node": {"id": cursor}}],
                                       "pageInfo": {"hasNextPage": has_next, "endCursor": cursor}}}}

    route = api.post("/admin/api/2024-01/graphql.json").mock(side_effect=[
        httpx.Response(200, json=connection(True, "A")), httpx.Response(200, json=connection(False, "B"))])
    async with make_client(clock) as client:
        async def fetch(variables: dict) -> dict:
            return await client.post_json("/admin/api/2024-01/graphql.json",
                                          {"query": "query($first:Int,$after:String){...}", "variables": variables},
                                          object_name="customers", idempotent=True)

        pages = [p async for p in client.pages(ConnectionCursor("data.customers", 2), "/admin/api/2024-01/graphql.json",
                                               object_name="customers", records_path="data.customers.edges",
                                               fetch=fetch)]
    assert [edge["node"]["id"] for page in pages for edge in page] == ["A", "B"]
    assert json.loads(route.calls[1].request.content)["variables"] == {"first": 2, "after": "A"}


async def test_pages_carry_the_token_in_a_post_body_and_retry_it_like_a_read(api: respx.MockRouter,
                                                                            clock: FakeClock) -> None:
    # a search API: the query and the page token travel in the JSON body; a 502 on a page is retried (it only reads)
    route = api.post("/crm/v3/objects/contacts/search").mock(side_effect=[
        httpx.Response(200, json={"results": [{"id": "1"}], "paging": {"next": {"after": "1"}}}),
        httpx.Response(502, json={"message": "bad gateway"}),
        httpx.Response(200, json={"results": [{"id": "2"}]}),
    ])
    query = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}]}
    async with make_client(clock) as client:
        pages = [p async for p in client.pages(AfterCursor(1), "/crm/v3/objects/contacts/search", query,
                                               object_name="contacts", records_path="results", method="POST")]
    assert [r["id"] for page in pages for r in page] == ["1", "2"]
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert bodies[0] == {**query, "limit": 1}
    assert bodies[1] == bodies[2] == {**query, "limit": 1, "after": "1"}
    assert all(call.request.url.query == b"" for call in route.calls)


async def test_pages_are_read_by_get_or_post_only(clock: FakeClock) -> None:
    async with make_client(clock) as client:
        with pytest.raises(ValueError, match="not DELETE"):
            async for _ in client.pages(AfterCursor(), "/x", object_name="x", records_path="results",
                                        method="DELETE"):
                pass


async def test_pages_reads_one_page_ahead(api: respx.MockRouter, clock: FakeClock) -> None:
    # the request for page 2 is out before page 1 is handed over; stopping after page 2 cancels page 3's, so it is
    # never asked for again and nothing is left running
    route = api.get("/v1/customers").mock(side_effect=[
        httpx.Response(200, json={"data": [{"id": "c3"}], "has_more": True}),
        httpx.Response(200, json={"data": [{"id": "c2"}], "has_more": True}),
        httpx.Response(200, json={"data": [{"id": "c1"}], "has_more": False}),
    ])
    seen: list[int] = []
    async with make_client(clock) as client:
        pages = client.pages(StartingAfter(limit=1), "/v1/customers", object_name="customers", records_path="data")
        async for records in pages:
            await asyncio.sleep(0.05)  # the next page's request runs meanwhile
            seen.append(route.call_count)
            if records[0]["id"] == "c2":
                break
        await pages.aclose()
    assert seen[0] == 2  # page 2 was fetched while page 1 was still being handled
    assert route.call_count <= 3 and not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


async def test_a_failed_read_ahead_is_raised_at_the_page_it_was_for(api: respx.MockRouter, clock: FakeClock) -> None:
    api.get("/v1/customers").mock(side_effect=[
        httpx.Response(200, json={"data": [{"id": "c3"}], "has_more": True}),
        httpx.Response(404, json={"error": {"message": "No such customer: 'c3'", "type": "invalid_request_error"}}),
    ])
    got = []
    async with make_client(clock) as client:
        with pytest.raises(RequestRejected) as caught:
            async for records in client.pages(StartingAfter(limit=1), "/v1/customers", object_name="customers",
                                              records_path="data"):
                got.append(records)
    assert got == [[{"id": "c3"}]] and caught.value.status == 404  # the first page is handed over whole first


@pytest.mark.parametrize("base", [BASE, f"{BASE}/prefix/"])
async def test_a_get_goes_out_as_httpxs_client_would_send_it(base: str, clock: FakeClock) -> None:
    # a GET goes out as httpx's client builds it: the URL, query string, headers and auth, and a response that knows
    # its request
    params = {"limit": 100, "starting_after": "cus_1", "types[]": ["customer.created", "customer.updated"],
              "expand": True, "created[gte]": 0, "q": "a b&c=d/é"}
    with respx.mock(using="httpx", assert_all_called=True) as router:
        route = router.get(url__startswith=base.rstrip("/")).respond(200, json={"ok": True})
        policy = RetryPolicy(max_attempts=1, sleep=clock.sleep)
        async with SourceClient("billing", base, BearerToken(KEY), retry_policy=policy, user_agent="inlet-test/1",
                                headers={"Stripe-Version": "2024-06-20"}) as client:
            assert await client.get_json("/v1/customers", params, object_name="customers") == {"ok": True}
            expected = client._http.build_request("GET", "/v1/customers", params=params)
    sent = route.calls.last.request
    assert str(sent.url) == str(expected.url) and sent.url.path.endswith("/v1/customers")
    assert ("/prefix/v1/" in sent.url.path) == ("prefix" in base)
    assert sent.headers["authorization"] == f"Bearer {KEY}" and sent.headers["user-agent"] == "inlet-test/1"
    assert sent.headers["stripe-version"] == "2024-06-20" and sent.headers["accept"] == "application/json"
    assert route.calls.last.response.request is sent


async def test_other_auth_and_other_methods_go_through_the_client(api: respx.MockRouter, clock: FakeClock) -> None:
    route = api.get("/v1/customers").respond(200, json={"data": []})
    posted = api.post("/v1/customers").respond(200, json={"id": "cus_1"})
    policy = RetryPolicy(max_attempts=1, sleep=clock.sleep)
    async with SourceClient("billing", BASE, httpx.BasicAuth(KEY, ""), retry_policy=policy) as client:
        await client.get_json("/v1/customers", object_name="customers")
        await client.post_form("/v1/customers", {"email": "a@b"}, object_name="customers", idempotent=True)
    assert route.calls.last.request.headers["authorization"].startswith("Basic ")
    assert posted.calls.last.request.content == b"email=a%40b"
