"""Shopify write-back: one customerUpdate per customer with the changed fields, tags and metafields; userErrors and
ACCESS_DENIED rejected, THROTTLED waited out on the cost bucket, INTERNAL_SERVER_ERROR and 5xx retried then
"retry"; then against the sandbox on loopback: writes land, an invalid email is Shopify's userError, injected
failures give "retry" and the next call sends."""

from __future__ import annotations

import random
from collections.abc import Iterator

import httpx
import orjson
import pytest
import respx

from connectors.kit import CredentialsRefused, RetryPolicy, WriteIn
from connectors.kit.testing import FakeClock
from connectors.shopify.bucket import CostBucket
from connectors.shopify.connector import ShopifyConnector
from connectors.shopify.write import customer_input
from tests.sandbox_api import SandboxAPI

BASE = "https://shop.test"
TOKEN = "shpat_0123456789abcdef0123456789abcdef"
PATH = "/admin/api/2026-10/graphql.json"
GID = "gid://shopify/Customer/"


def cost(available: float = 1990.0, requested: int = 10) -> dict:
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": requested,
                     "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available,
                                        "restoreRate": 100.0}}}


def updated(customer_id: str) -> dict:
    return {"data": {"customerUpdate": {"customer": {"id": customer_id}, "userErrors": []}}, "extensions": cost()}


THROTTLED = {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
             "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": None,
                                     "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 4,
                                                        "restoreRate": 100.0}}}}
INTERNAL = {"errors": [{"message": "Internal error. Looks like something went wrong on our end.",
                        "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as router:
        yield router


def connector(clock: FakeClock, base_url: str = BASE, token: str = TOKEN, attempts: int = 3) -> ShopifyConnector:
    conn = ShopifyConnector("shop", "acme.myshopify.com", token, base_url=base_url,
                            bucket=CostBucket(clock=clock, sleep=clock.sleep))
    conn.client.retry_policy = RetryPolicy(max_attempts=attempts, sleep=clock.sleep, rng=random.Random(1))
    return conn


def sent_inputs(route: respx.Route) -> list[dict]:
    return [orjson.loads(c.request.content)["variables"]["input"] for c in route.calls]


def test_changes_become_a_customer_input():
    item = WriteIn("w", "customer", "7", {"email": "a@b.co", "firstName": "Zoë", "note": None, "phone": 4155550100,
                                          "tags": "vip, newsletter ,", "metafields.custom.plan": "gold",
                                          "metafields.loyalty.points": 120})
    data, problem = customer_input(item)
    assert problem is None
    assert data == {"id": f"{GID}7", "email": "a@b.co", "firstName": "Zoë", "note": None, "phone": "4155550100",
                    "tags": ["vip", "newsletter"],
                    "metafields": [{"namespace": "custom", "key": "plan", "type": "single_line_text_field",
                                    "value": "gold"},
                                   {"namespace": "loyalty", "key": "points", "type": "single_line_text_field",
                                    "value": "120"}]}
    assert customer_input(WriteIn("w", "customer", f"{GID}7", {"tags": ["a", "b"]}))[0]["tags"] == ["a", "b"]
    assert customer_input(WriteIn("w", "customer", f"{GID}7", {"tags": None}))[0]["tags"] == []
    for changes in ({"addresses": []}, {"metafields.plan": "x"}, {"metafields.custom.plan": None}, {}):
        assert customer_input(WriteIn("w", "customer", f"{GID}7", changes))[1], changes
    assert customer_input(WriteIn("w", "customer", "gid://shopify/Order/7", {"note": "x"}))[1]


async def test_one_mutation_per_customer_with_only_the_changed_fields(api, clock):
    route = api.post(PATH).mock(side_effect=lambda r: httpx.Response(
        200, json=updated(orjson.loads(r.content)["variables"]["input"]["id"])))
    conn = connector(clock)
    outcomes = await conn.write([WriteIn("a", "customer", f"{GID}1", {"email": "a@b.co"}),
                                 WriteIn("b", "customer", f"{GID}2", {"tags": ["x"], "lastName": "Lee"})])
    await conn.aclose()
    assert [(o.writeback_id, o.status, o.http_status) for o in outcomes] == [("a", "sent", 200), ("b", "sent", 200)]
    assert sorted(sent_inputs(route), key=lambda i: i["id"]) == [
        {"id": f"{GID}1", "email": "a@b.co"}, {"id": f"{GID}2", "tags": ["x"], "lastName": "Lee"}]
    request = route.calls[0].request
    assert request.headers["x-shopify-access-token"] == TOKEN
    assert "customerUpdate(input: $input)" in orjson.loads(request.content)["query"]
    assert "userErrors { field message }" in orjson.loads(request.content)["query"]


async def test_user_errors_and_access_denied_are_rejected_with_shopifys_words(api, clock):
    def answer(request: httpx.Request) -> httpx.Response:
        customer = orjson.loads(request.content)["variables"]["input"]["id"]
        if customer.endswith("/1"):
            return httpx.Response(200, json={"data": {"customerUpdate": {"customer": None, "userErrors": [
                {"field": ["email"], "message": "Email is invalid"}]}}, "extensions": cost()})
        return httpx.Response(200, json={"data": {"customerUpdate": None}, "errors": [{
            "message": "Access denied for customerUpdate field. Required access: `write_customers` access scope.",
            "extensions": {"code": "ACCESS_DENIED"}}], "extensions": cost()})

    api.post(PATH).mock(side_effect=answer)
    conn = connector(clock)
    outcomes = await conn.write([WriteIn("a", "customer", f"{GID}1", {"email": "nope"}),
                                 WriteIn("b", "customer", f"{GID}2", {"note": "x"})])
    await conn.aclose()
    assert [o.status for o in outcomes] == ["rejected", "rejected"]
    assert outcomes[0].error == "email: Email is invalid"
    assert outcomes[1].error.startswith("ACCESS_DENIED: Access denied for customerUpdate field")


async def test_throttled_waits_for_the_bucket_and_asks_again(api, clock):
    route = api.post(PATH)
    route.side_effect = [httpx.Response(200, json=THROTTLED), httpx.Response(200, json=updated(f"{GID}1"))]
    conn = connector(clock)
    [outcome] = await conn.write([WriteIn("a", "customer", f"{GID}1", {"note": "x"})])
    await conn.aclose()
    assert outcome.status == "sent" and route.call_count == 2
    assert conn.http_stats()["throttled"] == 1
    assert clock.slept == pytest.approx((10 - 4) / 100 + 0.1)  # refill of the mutation's cost, plus the margin


async def test_internal_errors_and_5xx_are_retried_then_retry(api, clock):
    route = api.post(PATH)
    route.side_effect = [httpx.Response(200, json=INTERNAL), httpx.Response(200, json=updated(f"{GID}1"))]
    conn = connector(clock)
    [outcome] = await conn.write([WriteIn("a", "customer", f"{GID}1", {"note": "x"})])
    assert outcome.status == "sent" and route.call_count == 2

    route.side_effect = None
    route.return_value = httpx.Response(200, json=INTERNAL)
    [outcome] = await conn.write([WriteIn("a", "customer", f"{GID}1", {"note": "x"})])
    assert (outcome.status, outcome.http_status) == ("retry", 200)
    assert "INTERNAL_SERVER_ERROR" in outcome.error

    route.return_value = httpx.Response(503, json={"errors": "Service Unavailable"})
    before = route.call_count
    outcomes = await conn.write([WriteIn(str(n), "customer", f"{GID}{n}", {"note": "x"}) for n in range(1, 21)])
    await conn.aclose()
    assert {(o.status, o.http_status) for o in outcomes} == {("retry", 503)}
    assert route.call_count - before <= 3 * 4  # the calls already under way when the first gave up, no more
    assert sum(o.error.startswith("not sent") for o in outcomes) >= 16


async def test_unsupported_items_and_refused_credentials(api, clock):
    conn = connector(clock)
    outcomes = await conn.write([WriteIn("a", "order", f"{GID}1", {"note": "x"}),
                                 WriteIn("b", "customer", f"{GID}1", {"addresses": []})])
    assert [o.status for o in outcomes] == ["rejected", "rejected"] and not api.calls
    api.post(PATH).respond(401, json={"errors": "[API] Invalid API key or access token (unrecognized login or "
                                                "wrong password)"})
    with pytest.raises(CredentialsRefused) as raised:
        await conn.write([WriteIn("c", "customer", f"{GID}1", {"note": "x"})])
    await conn.aclose()
    assert TOKEN not in str(raised.value)


# -- against the sandbox on loopback ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxAPI]:
    with SandboxAPI(vendors=("shopify",), customers=10, rate_limit=False) as api:
        yield api


def live(sandbox: SandboxAPI, clock: FakeClock, attempts: int = 3) -> ShopifyConnector:
    from sandbox.shopify import SHOPIFY_TOKEN
    return connector(clock, sandbox.url, SHOPIFY_TOKEN, attempts)


def customers(sandbox: SandboxAPI) -> list[dict]:
    return [sandbox.shopify.customers.by_id[n] for n in sorted(sandbox.shopify.customers.by_id)]


async def test_sandbox_write_lands(sandbox, clock):
    target = customers(sandbox)[0]
    conn = live(sandbox, clock)
    [outcome] = await conn.write([WriteIn("w1", "customer", target["id"], {
        "email": "zoe.written@example.com", "firstName": "Zoë", "note": None, "tags": "gold, vip",
        "metafields.custom.plan": "gold"})])
    await conn.aclose()
    assert outcome.status == "sent", outcome
    assert (target["email"], target["firstName"], target["note"]) == ("zoe.written@example.com", "Zoë", None)
    assert target["tags"] == ["gold", "vip"]
    assert {(m["namespace"], m["key"]): m["value"] for m in target["_metafields"]}[("custom", "plan")] == "gold"


async def test_sandbox_invalid_email_is_rejected_with_shopifys_user_error(sandbox, clock):
    first, second = customers(sandbox)[1:3]
    email = second["email"]
    conn = live(sandbox, clock)
    outcomes = await conn.write([WriteIn("v1", "customer", first["id"], {"note": "fine"}),
                                 WriteIn("v2", "customer", second["id"], {"email": "not an email"}),
                                 WriteIn("v3", "customer", f"{GID}424242", {"note": "x"})])
    await conn.aclose()
    assert [o.status for o in outcomes] == ["sent", "rejected", "rejected"]
    assert outcomes[1].error == "email: Email is invalid" and second["email"] == email
    assert "Customer does not exist" in outcomes[2].error
    assert first["note"] == "fine"


async def test_sandbox_injected_failures_give_retry_then_the_next_call_sends(sandbox, clock):
    shop = sandbox.shopify
    target = customers(sandbox)[4]
    item = WriteIn("f1", "customer", target["id"], {"lastName": "Retried"})
    conn = live(sandbox, clock, attempts=2)
    before = shop.writes_received
    shop.fail_writes(2, 503)
    [first] = await conn.write([item])
    assert (first.status, first.http_status) == ("retry", 503) and target["lastName"] != "Retried"
    shop.fail_writes(1, code="INTERNAL_SERVER_ERROR")  # in band, retried within the call
    [second] = await conn.write([item])
    await conn.aclose()
    assert second.status == "sent" and target["lastName"] == "Retried"
    assert shop.writes_received - before == 4
    assert orjson.loads(shop.write_log[-1].body)["variables"]["input"] == {"id": target["id"], "lastName": "Retried"}
