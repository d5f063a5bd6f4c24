"""Stripe write-back: form-encoded customer updates, an Idempotency-Key stable across retries and new for a new
body, a replayed 500 answered with a fresh key, 400/404 rejected with Stripe's message, 429/5xx retried then
"retry"; then against the sandbox on loopback: writes land, validation is Stripe's, injected failures (a 500 the
idempotency layer saves, a 503 it does not) give "retry" and the next call sends."""

from __future__ import annotations

import random
from collections.abc import Iterator
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from connectors.kit import CredentialsRefused, RetryPolicy, WriteIn
from connectors.kit.testing import FakeClock
from connectors.stripe.connector import StripeConnector
from connectors.stripe.write import form, idempotency_key
from tests.sandbox_api import SandboxAPI

BASE = "https://api.stripe.test"
KEY = "sk_test_51Hxyz0123456789abcdefSECRET"
CUSTOMER = "/v1/customers/cus_1"


def error(status: int, message: str, code: str | None = None, type_: str = "invalid_request_error",
          **headers: str) -> httpx.Response:
    body = {"error": {"message": message, "type": type_, **({"code": code} if code else {})}}
    return httpx.Response(status, json=body, headers=headers)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as router:
        yield router


def connector(clock: FakeClock, base_url: str = BASE, key: str = KEY, attempts: int = 3) -> StripeConnector:
    conn = StripeConnector("billing", key, base_url=base_url)
    conn.client.limiter = None
    conn.client.retry_policy = RetryPolicy(max_attempts=attempts, sleep=clock.sleep, rng=random.Random(1))
    return conn


def fields(call) -> dict[str, str]:
    return dict(parse_qsl(call.request.content.decode(), keep_blank_values=True))


def keys(route: respx.Route) -> list[str]:
    return [c.request.headers["idempotency-key"] for c in route.calls]


def test_changes_become_sorted_form_fields():
    data, problem = form({"metadata.plan": "gold", "email": "a@b.co", "name": None, "metadata.vip": True,
                          "address.city": "Oslo", "phone": 4155550100})
    assert problem is None
    assert list(data.items()) == [("address[city]", "Oslo"), ("email", "a@b.co"), ("metadata[plan]", "gold"),
                                  ("metadata[vip]", "true"), ("name", ""), ("phone", "4155550100")]
    for changes in ({"balance": 5}, {"metadata.a[b]": "x"}, {"address.planet": "Mars"}, {"metadata.x": {"a": 1}}, {}):
        assert form(changes)[1], changes


def test_the_key_follows_the_writeback_and_its_body():
    a, _ = form({"email": "a@b.co", "metadata.plan": "gold"})
    b, _ = form({"metadata.plan": "gold", "email": "a@b.co"})
    c, _ = form({"email": "a@b.co", "metadata.plan": "silver"})
    assert idempotency_key("wb-1", a) == idempotency_key("wb-1", b)
    assert idempotency_key("wb-1", a) != idempotency_key("wb-1", c) != idempotency_key("wb-2", c)
    assert len(idempotency_key("w" * 400, a)) <= 247


async def test_a_form_encoded_update_with_an_idempotency_key(api, clock):
    route = api.post(CUSTOMER).respond(200, json={"id": "cus_1", "object": "customer"})
    conn = connector(clock)
    [outcome] = await conn.write([WriteIn("wb-1", "customer", "cus_1", {"email": "a@b.co", "metadata.plan": "gold",
                                                                        "metadata.old": None})])
    await conn.aclose()
    assert (outcome.status, outcome.http_status, outcome.error) == ("sent", 200, None)
    request = route.calls.last.request
    assert request.content == b"email=a%40b.co&metadata%5Bold%5D=&metadata%5Bplan%5D=gold"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["idempotency-key"].startswith("inlet-wb-1-")
    assert request.headers["authorization"] == f"Bearer {KEY}"


async def test_the_key_is_the_same_across_retries_and_calls_and_new_for_new_changes(api, clock):
    route = api.post(CUSTOMER)
    route.side_effect = [error(503, "An unknown error occurred", type_="api_error"),
                         httpx.Response(200, json={"id": "cus_1"}), httpx.Response(200, json={"id": "cus_1"}),
                         httpx.Response(200, json={"id": "cus_1"})]
    conn = connector(clock)
    item = WriteIn("wb-1", "customer", "cus_1", {"email": "a@b.co"})
    assert [o.status for o in await conn.write([item])] == ["sent"]
    assert [o.status for o in await conn.write([item])] == ["sent"]
    item.changes["metadata.plan"] = "gold"  # merged into the pending write-back meanwhile
    assert [o.status for o in await conn.write([item])] == ["sent"]
    await conn.aclose()
    first, retried, again, changed = keys(route)
    assert first == retried == again != changed and changed.startswith("inlet-wb-1-")


async def test_a_replayed_500_is_asked_again_under_a_new_key(api, clock):
    route = api.post(CUSTOMER)
    replayed = error(500, "An unknown error occurred", type_="api_error")
    replayed.headers["Idempotent-Replayed"] = "true"
    route.side_effect = [replayed, httpx.Response(200, json={"id": "cus_1"})]
    conn = connector(clock)
    [outcome] = await conn.write([WriteIn("wb-1", "customer", "cus_1", {"email": "a@b.co"})])
    await conn.aclose()
    assert outcome.status == "sent"
    first, second = keys(route)
    assert second == f"{first}-r1"


async def test_400_and_404_are_rejected_with_stripes_message(api, clock):
    api.post(CUSTOMER).mock(return_value=error(400, "Invalid email address: nope", "email_invalid"))
    api.post("/v1/customers/cus_gone").mock(return_value=error(404, "No such customer: 'cus_gone'",
                                                               "resource_missing"))
    api.post("/v1/customers/cus_busy").mock(return_value=error(
        409, "There is currently another in-progress request using this Idempotent Key.", type_="idempotency_error"))
    conn = connector(clock)
    outcomes = await conn.write([WriteIn("a", "customer", "cus_1", {"email": "nope"}),
                                 WriteIn("b", "customer", "cus_gone", {"email": "a@b.co"}),
                                 WriteIn("c", "customer", "cus_busy", {"email": "a@b.co"})])
    await conn.aclose()
    assert [(o.status, o.http_status, o.error) for o in outcomes] == [
        ("rejected", 400, "Invalid email address: nope"), ("rejected", 404, "No such customer: 'cus_gone'"),
        ("retry", 409, "There is currently another in-progress request using this Idempotent Key.")]


async def test_429_then_success_and_5xx_past_the_retries(api, clock):
    route = api.post(CUSTOMER)
    route.side_effect = [error(429, "Request rate limit exceeded.", "rate_limit"),
                         error(429, "This object cannot be accessed right now", "lock_timeout"),
                         httpx.Response(200, json={"id": "cus_1"})]
    conn = connector(clock)
    [outcome] = await conn.write([WriteIn("a", "customer", "cus_1", {"email": "a@b.co"})])
    assert outcome.status == "sent" and route.call_count == 3 and len(set(keys(route))) == 1

    route.side_effect = None
    route.return_value = error(502, "Bad gateway", type_="api_error")
    others = [api.post(f"/v1/customers/cus_{n}").mock(return_value=error(502, "Bad gateway", type_="api_error"))
              for n in range(2, 9)]
    items = [WriteIn(str(n), "customer", f"cus_{n}", {"email": "a@b.co"}) for n in range(1, 9)]
    outcomes = await conn.write(items)
    await conn.aclose()
    assert {(o.status, o.http_status) for o in outcomes} == {("retry", 502)}
    assert sum(r.call_count for r in others) + route.call_count - 3 <= 3 * 4  # nothing started after the first gave up
    assert any(o.error.startswith("not sent") for o in outcomes)


async def test_unsupported_items_and_refused_credentials(api, clock):
    conn = connector(clock)
    outcomes = await conn.write([WriteIn("a", "charge", "ch_1", {"description": "x"}),
                                 WriteIn("b", "customer", "cus_1", {"balance": 5}),
                                 WriteIn("c", "customer", "42", {"email": "a@b.co"})])
    assert [o.status for o in outcomes] == ["rejected"] * 3 and not api.calls
    api.post(CUSTOMER).mock(return_value=error(401, f"Invalid API Key provided: {KEY[:8]}****CRET"))
    with pytest.raises(CredentialsRefused) as raised:
        await conn.write([WriteIn("d", "customer", "cus_1", {"email": "a@b.co"})])
    await conn.aclose()
    assert KEY not in str(raised.value)


# -- against the sandbox on loopback ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxAPI]:
    with SandboxAPI(vendors=("stripe",), customers=10, rate_limit=False, seed_events=False) as api:
        yield api


def live(sandbox: SandboxAPI, clock: FakeClock, attempts: int = 3) -> StripeConnector:
    from sandbox.server import STRIPE_KEY
    return connector(clock, sandbox.url, STRIPE_KEY, attempts)


def customer_ids(sandbox: SandboxAPI) -> list[str]:
    return sorted(sandbox.stripe.collections["customers"].by_id)


async def test_sandbox_write_lands(sandbox, clock):
    target = customer_ids(sandbox)[0]
    conn = live(sandbox, clock)
    [outcome] = await conn.write([WriteIn("w1", "customer", target, {
        "email": "zoe@example.com", "metadata.plan": "gold", "metadata.crm_id": 42, "description": None})])
    await conn.aclose()
    assert outcome.status == "sent", outcome
    stored = sandbox.stripe.retrieve("customers", target)
    assert stored["email"] == "zoe@example.com" and stored["description"] is None
    assert stored["metadata"]["plan"] == "gold" and stored["metadata"]["crm_id"] == "42"
    conn = live(sandbox, clock)
    [outcome] = await conn.write([WriteIn("w2", "customer", target, {"metadata.plan": None})])
    await conn.aclose()
    assert outcome.status == "sent" and "plan" not in sandbox.stripe.retrieve("customers", target)["metadata"]


async def test_sandbox_validation_is_rejected_with_stripes_message(sandbox, clock):
    first, second = customer_ids(sandbox)[1:3]
    conn = live(sandbox, clock)
    outcomes = await conn.write([WriteIn("v1", "customer", first, {"email": "not-an-email"}),
                                 WriteIn("v2", "customer", second, {f"metadata.{'k' * 41}": "x"}),
                                 WriteIn("v3", "customer", "cus_missing", {"name": "x"})])
    await conn.aclose()
    assert [(o.status, o.http_status) for o in outcomes] == [("rejected", 400), ("rejected", 400), ("rejected", 404)]
    assert outcomes[0].error == "Invalid email address: not-an-email"
    assert "at most 40 characters" in outcomes[1].error
    assert outcomes[2].error == "No such customer: 'cus_missing'"


async def test_sandbox_injected_failures_give_retry_then_the_next_call_sends(sandbox, clock):
    stripe = sandbox.stripe
    target = customer_ids(sandbox)[4]
    item = WriteIn("f1", "customer", target, {"metadata.tier": "silver"})
    conn = live(sandbox, clock, attempts=2)
    before = stripe.writes_received
    stripe.fail_writes(1, 500)  # saved under the key, as Stripe saves its 500s: the retry meets the replay
    [first] = await conn.write([item])
    assert (first.status, first.http_status) == ("retry", 500)
    assert "tier" not in stripe.retrieve("customers", target)["metadata"]
    [second] = await conn.write([item])  # the replayed 500 again, then a fresh key runs the update
    assert second.status == "sent" and stripe.retrieve("customers", target)["metadata"]["tier"] == "silver"
    log = stripe.write_log[-4:]
    assert stripe.writes_received - before == 4
    assert log[0].idempotency_key == log[1].idempotency_key == log[2].idempotency_key
    assert log[3].idempotency_key == f"{log[0].idempotency_key}-r1"

    stripe.fail_writes(2, 503)  # from the front: not saved, so the same key runs once Stripe is back
    item = WriteIn("f2", "customer", target, {"metadata.tier": "gold"})
    [third] = await conn.write([item])
    [fourth] = await conn.write([item])
    await conn.aclose()
    assert (third.status, third.http_status, fourth.status) == ("retry", 503, "sent")
    assert len({w.idempotency_key for w in stripe.write_log[-3:]}) == 1
    assert stripe.retrieve("customers", target)["metadata"]["tier"] == "gold"
