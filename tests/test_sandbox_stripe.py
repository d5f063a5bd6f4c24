"""The Stripe sandbox behaves as VENDOR_FACTS sections 3 and 4 describe Stripe, over real HTTP requests."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson
import pytest
import uvicorn

from sandbox.stripe import StripeSandbox, create_app
from sandbox.stripe.errors import MISSING_KEY, RATE_LIMITED
from sandbox.stripe.forms import parse_form
from tests.clocks import T0, Clock

KEY = "sk_test_sandbox"
DAY = 86_400


@asynccontextmanager
async def api(sb: StripeSandbox, key: str | None = KEY, **app_args) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    transport = httpx.ASGITransport(app=create_app(sb, **app_args))
    async with httpx.AsyncClient(transport=transport, base_url="http://stripe.test", headers=headers) as client:
        yield client


async def walk(client: httpx.AsyncClient, path: str, **params) -> list[dict]:
    """Every object of a list endpoint, following `starting_after` the way a connector does."""
    objects: list[dict] = []
    while True:
        r = await client.get(path, params=params)
        assert r.status_code == 200, r.text
        body = orjson.loads(r.content)  # the stdlib decoder would dominate the 100k-customer walk
        objects += body["data"]
        if not body["has_more"]:
            return objects
        params["starting_after"] = body["data"][-1]["id"]


def order_key(sb: StripeSandbox, collection: str, obj: dict) -> tuple:
    return sb.collections[collection].key_of[obj["id"]]


def error(r: httpx.Response) -> dict:
    return r.json()["error"]


# -- lists and pagination ------------------------------------------------------------------------------------------

async def test_pagination_walks_every_customer_once_newest_first_and_back():
    sb = StripeSandbox(seed=3, customers=250, now=Clock())
    async with api(sb, rate_limit=False) as client:
        forward = await walk(client, "/v1/customers", limit=100)
        ids = [c["id"] for c in forward]
        assert len(ids) == 250 == len(set(ids))
        assert [c["created"] for c in forward] == sorted((c["created"] for c in forward), reverse=True)
        assert [order_key(sb, "customers", c) for c in forward] == sorted(order_key(sb, "customers", c)
                                                                          for c in forward)
        backward: list[str] = []
        cursor = ids[-1]
        while True:
            body = (await client.get("/v1/customers", params={"ending_before": cursor, "limit": 30})).json()
            backward = [c["id"] for c in body["data"]] + backward
            if not body["has_more"]:
                break
            cursor = body["data"][0]["id"]
        assert backward == ids[:-1]
        first = (await client.get("/v1/customers")).json()
        assert first["object"] == "list" and first["url"] == "/v1/customers" and first["has_more"] is True
        assert [c["id"] for c in first["data"]] == ids[:10]


async def test_list_envelopes_and_objects_look_like_stripe():
    sb = StripeSandbox(seed=1, customers=40, now=Clock())
    async with api(sb, rate_limit=False) as client:
        for name, prefix in (("customers", "cus_"), ("charges", "ch_"), ("invoices", "in_"),
                             ("subscriptions", "sub_"), ("products", "prod_"), ("prices", "price_")):
            r = await client.get(f"/v1/{name}", params={"limit": 3})
            assert r.status_code == 200 and r.headers["content-type"] == "application/json"
            assert r.headers["request-id"].startswith("req_")
            body = r.json()
            assert body["url"] == f"/v1/{name}" and body["data"]
            for obj in body["data"]:
                assert obj["id"].startswith(prefix) and obj["livemode"] is False
                assert isinstance(obj["created"], int) and obj["created"] <= T0
                one = await client.get(f"/v1/{name}/{obj['id']}")
                assert one.json() == obj
        charge = (await client.get("/v1/charges", params={"limit": 1})).json()["data"][0]
        assert isinstance(charge["amount"], int) and charge["customer"] in sb.collections["customers"].by_id
        sub = (await client.get("/v1/subscriptions", params={"limit": 1})).json()["data"][0]
        assert sub["items"]["data"][0]["price"]["id"].startswith("price_")
        assert sub["current_period_start"] <= T0 < sub["current_period_end"]


async def test_created_filters_bound_the_list():
    sb = StripeSandbox(seed=5, customers=120, now=Clock())
    everyone = list(sb.collections["customers"].index.items)
    t = everyone[60]["created"]
    async with api(sb, rate_limit=False) as client:
        for params, keep in (({"created[gte]": t}, lambda c: c >= t), ({"created[gt]": t}, lambda c: c > t),
                             ({"created[lt]": t}, lambda c: c < t), ({"created[lte]": t}, lambda c: c <= t),
                             ({"created": t}, lambda c: c == t),
                             ({"created[gt]": t - 5 * DAY, "created[lte]": t}, lambda c: t - 5 * DAY < c <= t)):
            got = await walk(client, "/v1/customers", limit=100, **params)
            assert [c["id"] for c in got] == [c["id"] for c in everyone if keep(c["created"])], params
        r = await client.get("/v1/customers", params={"created[after]": t})
        assert r.status_code == 400 and error(r)["param"] == "created[after]"


@pytest.mark.parametrize("limit", ["0", "101", "-3", "ten"])
async def test_limit_out_of_range_is_a_400_naming_limit(limit):
    async with api(StripeSandbox(customers=5, now=Clock())) as client:
        r = await client.get("/v1/customers", params={"limit": limit})
    assert r.status_code == 400
    assert error(r)["type"] == "invalid_request_error" and error(r)["param"] == "limit"


async def test_unknown_list_parameter_and_unknown_cursor():
    async with api(StripeSandbox(customers=5, now=Clock())) as client:
        r = await client.get("/v1/customers", params={"updated[gte]": 1})
        assert r.status_code == 400
        assert error(r) | {"request_log_url": None} == {
            "code": "parameter_unknown", "doc_url": "https://stripe.com/docs/error-codes/parameter-unknown",
            "message": "Received unknown parameter: updated", "param": "updated", "type": "invalid_request_error",
            "request_log_url": None}
        r = await client.get("/v1/customers", params={"starting_after": "cus_gone"})
        assert r.status_code == 404
        assert error(r)["code"] == "resource_missing" and error(r)["param"] == "starting_after"
        assert error(r)["message"] == "No such customer: 'cus_gone'"
        r = await client.get("/v1/customers", params={"starting_after": "cus_a", "ending_before": "cus_b"})
        assert r.status_code == 400


async def test_customer_filter_on_charges_invoices_and_subscriptions():
    sb = StripeSandbox(seed=2, customers=30, subscriptions=40, charges=40, now=Clock())
    customer = sb.collections["subscriptions"].index.items[0]["customer"]
    async with api(sb, rate_limit=False) as client:
        for name in ("charges", "invoices", "subscriptions"):
            got = await walk(client, f"/v1/{name}", customer=customer, status="all", limit=2) \
                if name == "subscriptions" else await walk(client, f"/v1/{name}", customer=customer, limit=2)
            expected = [o["id"] for o in sb.collections[name].index.items if o["customer"] == customer]
            assert [o["id"] for o in got] == expected and expected
        paid = await walk(client, "/v1/invoices", status="paid", limit=100)
        assert paid and all(i["status"] == "paid" for i in paid)
        product = sb.collections["products"].index.items[0]["id"]
        prices = await walk(client, "/v1/prices", product=product, type="recurring", active="true")
        assert [p["product"] for p in prices] == [product] and prices[0]["recurring"]["interval"] == "month"
        r = await client.get("/v1/prices", params={"active": "maybe"})
        assert r.status_code == 400 and error(r)["param"] == "active"


async def test_subscriptions_hide_canceled_unless_asked():
    sb = StripeSandbox(seed=4, customers=60, subscriptions=80, now=Clock())
    statuses = {s["status"] for s in sb.collections["subscriptions"].index.items}
    assert "canceled" in statuses
    async with api(sb, rate_limit=False) as client:
        default = await walk(client, "/v1/subscriptions", limit=7)
        every = await walk(client, "/v1/subscriptions", status="all", limit=100)
        canceled = await walk(client, "/v1/subscriptions", status="canceled", limit=100)
    assert len(every) == 80
    assert all(s["status"] != "canceled" for s in default)
    assert {s["id"] for s in default} | {s["id"] for s in canceled} == {s["id"] for s in every}
    assert canceled and all(s["status"] == "canceled" and s["canceled_at"] for s in canceled)


# -- auth, errors, headers -----------------------------------------------------------------------------------------

async def test_missing_and_invalid_keys_are_401_with_stripe_bodies():
    sb = StripeSandbox(customers=3, now=Clock())
    async with api(sb, key=None) as client:
        r = await client.get("/v1/customers")
        assert r.status_code == 401 and r.headers["request-id"].startswith("req_")
        assert r.json() == {"error": {"message": MISSING_KEY, "type": "invalid_request_error"}}
        r = await client.get("/v1/customers", headers={"Authorization": "Bearer sk_test_abcdefghij1234"})
        assert r.status_code == 401
        assert r.json() == {"error": {"message": "Invalid API Key provided: sk_test_**********1234",
                                      "type": "invalid_request_error"}}
        basic = base64.b64encode(f"{KEY}:".encode()).decode()
        r = await client.get("/v1/customers", headers={"Authorization": f"Basic {basic}"})
        assert r.status_code == 200
        r = await client.get("/v1/nothing-here", headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 404 and "Unrecognized request URL (GET: /v1/nothing-here)" in error(r)["message"]


async def test_retrieve_unknown_is_404_resource_missing():
    async with api(StripeSandbox(customers=3, now=Clock())) as client:
        r = await client.get("/v1/customers/cus_X")
        assert r.status_code == 404
        assert error(r)["message"] == "No such customer: 'cus_X'" and error(r)["code"] == "resource_missing"
        r = await client.get("/v1/charges/ch_X")
        assert r.status_code == 404 and error(r)["message"] == "No such charge: 'ch_X'"
        r = await client.get("/v1/customers/cus_X", params={"foo": "1"})
        assert r.status_code == 400 and error(r)["code"] == "parameter_unknown"


# -- events --------------------------------------------------------------------------------------------------------

async def test_events_filter_by_type_wildcard_and_types():
    sb = StripeSandbox(seed=6, customers=80, now=Clock())
    async with api(sb, rate_limit=False) as client:
        every = await walk(client, "/v1/events", limit=100)
        assert every and len({e["id"] for e in every}) == len(every)
        assert [e["created"] for e in every] == sorted((e["created"] for e in every), reverse=True)
        event = every[0]
        assert event["object"] == "event" and event["id"].startswith("evt_") and event["livemode"] is False
        assert {"api_version", "pending_webhooks", "request", "data", "type"} <= event.keys()
        created = await walk(client, "/v1/events", type="customer.created", limit=100)
        assert created == [e for e in every if e["type"] == "customer.created"]
        wildcard = await walk(client, "/v1/events", type="customer.*", limit=100)
        assert wildcard == [e for e in every if e["type"].startswith("customer.")]
        assert any(e["type"].startswith("customer.subscription.") for e in wildcard)
        both = await walk(client, "/v1/events", **{"types[]": ["charge.succeeded", "invoice.paid"]}, limit=100)
        assert both == [e for e in every if e["type"] in ("charge.succeeded", "invoice.paid")]
        r = await client.get("/v1/events", params={"type": "customer.created", "types[]": ["invoice.paid"]})
        assert r.status_code == 400 and error(r)["type"] == "invalid_request_error"
        r = await client.get("/v1/events", params={"types[]": [f"t.{i}" for i in range(21)]})
        assert r.status_code == 400 and error(r)["param"] == "types"
        one = await client.get(f"/v1/events/{event['id']}")
        assert one.json() == event


async def test_events_go_back_30_days_only():
    clock = Clock()
    sb = StripeSandbox(seed=7, customers=50, now=clock)
    async with api(sb, rate_limit=False) as client:
        before = await walk(client, "/v1/events", limit=100)
        assert min(e["created"] for e in before) >= T0 - 30 * DAY
        clock.advance(10 * DAY)
        after = await walk(client, "/v1/events", limit=100)
        assert after == [e for e in before if e["created"] >= clock.t - 30 * DAY]
        assert len(after) < len(before)
        old = before[-1]
        assert (await client.get(f"/v1/events/{old['id']}")).status_code == 404
        clock.advance(31 * DAY)
        assert (await client.get("/v1/events")).json()["data"] == []


# -- mutate --------------------------------------------------------------------------------------------------------

async def test_mutate_writes_the_matching_events_and_lists_follow():
    clock = Clock()
    sb = StripeSandbox(seed=8, customers=200, subscriptions=150, charges=50, now=clock)
    clock.advance(3600)
    since = int(clock.t)
    events = sb.mutate(updates=40, deletes=5, creates=6)
    types = {e.type for e in events}
    assert {"customer.updated", "customer.deleted", "customer.created", "customer.subscription.deleted"} <= types
    async with api(sb, rate_limit=False) as client:
        listed = await walk(client, "/v1/events", **{"created[gte]": since}, limit=100)
        assert [e["id"] for e in listed] == [e.id for e in reversed(events)]
        customers = {c["id"]: c for c in await walk(client, "/v1/customers", limit=100)}
        assert len(customers) == 200 - 5 + 6
        for event in listed:
            obj = event["data"]["object"]
            assert event["request"] == {"id": None, "idempotency_key": None}
            if event["type"] == "customer.updated":
                assert event["data"]["previous_attributes"]
                assert all(obj[k] != v for k, v in event["data"]["previous_attributes"].items())
            if event["type"] == "customer.deleted":
                assert "deleted" not in obj and obj["email"] and obj["id"] not in customers
                gone = (await client.get(f"/v1/customers/{obj['id']}")).json()
                assert gone == {"id": obj["id"], "object": "customer", "deleted": True}
            if event["type"] == "customer.created":
                assert obj["id"] in customers and obj["created"] == since
            if event["type"] == "customer.subscription.deleted":
                assert obj["status"] == "canceled" and "previous_attributes" not in event["data"]
                again = (await client.get(f"/v1/subscriptions/{obj['id']}")).json()
                assert again["status"] == "canceled"
        latest = {e["data"]["object"]["id"]: e["data"]["object"] for e in reversed(listed)
                  if e["type"] == "customer.updated"}
        for customer_id, obj in latest.items():
            if customer_id in customers:
                assert customers[customer_id] == obj


def test_same_seed_gives_the_same_account_and_mutations():
    def build(seed: int) -> bytes:
        sb = StripeSandbox(seed=seed, customers=60, now=Clock())
        sb.mutate(updates=10, deletes=2, creates=3)
        sb.mutate(product_creates=2, price_creates=2, price_deletes=1, product_deletes=1, invoice_deletes=2)
        state = {name: c.index.items for name, c in sb.collections.items()}
        return orjson.dumps([state, [e.as_dict() for e in sb.events.items]])

    assert build(11) == build(11)
    assert build(11) != build(12)


# -- writes --------------------------------------------------------------------------------------------------------

async def test_rate_limit_is_429_past_25_per_second_in_test_mode_and_recovers():
    clock = Clock()
    sb = StripeSandbox(seed=13, customers=3, now=clock, api_keys=(KEY, "sk_live_sandbox"))
    async with api(sb) as client:
        for _ in range(25):
            assert (await client.get("/v1/customers")).status_code == 200
        r = await client.get("/v1/customers")
        assert r.status_code == 429 and r.headers["request-id"].startswith("req_")
        assert r.json() == {"error": {"message": RATE_LIMITED, "type": "invalid_request_error", "code": "rate_limit",
                                      "doc_url": "https://stripe.com/docs/error-codes/rate-limit"}}
        assert "stripe-should-retry" not in r.headers
        assert (await client.post("/v1/customers", data={"name": "w"})).status_code == 200  # writes: own bucket
        for _ in range(24):
            await client.post("/v1/customers", data={"name": "w"})
        limited = await client.post("/v1/customers", data={"name": "a"}, headers={"Idempotency-Key": "rl"})
        assert limited.status_code == 429
        clock.advance(1.0)
        assert (await client.get("/v1/customers")).status_code == 200
        ok = await client.post("/v1/customers", data={"name": "b"}, headers={"Idempotency-Key": "rl"})
        assert ok.status_code == 200  # the 429 was not stored for the key
        live = {"Authorization": "Bearer sk_live_sandbox"}
        codes = [(await client.get("/v1/products", headers=live)).status_code for _ in range(101)]
        assert codes.count(200) == 100 and codes[-1] == 429
    async with api(sb, rate_limit=3) as client:
        assert [(await client.get("/v1/prices")).status_code for _ in range(4)] == [200, 200, 200, 429]



# -- plumbing ------------------------------------------------------------------------------------------------------

def test_form_parser_handles_stripe_nesting():
    assert parse_form("a[b]=c&a[d][e]=f&x[]=1&x[]=2&expand[]=customer&m=") == {
        "a": {"b": "c", "d": {"e": "f"}}, "x": ["1", "2"], "expand": ["customer"], "m": ""}
    assert parse_form("items[0][price]=p&items[0][quantity]=2&items[1][price]=q") == {
        "items": [{"price": "p", "quantity": "2"}, {"price": "q"}]}
    assert parse_form("created%5Bgte%5D=5") == {"created": {"gte": "5"}}


async def test_serves_over_a_real_socket():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(StripeSandbox(customers=12, now=Clock())), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", auth=(KEY, "")) as client:
            got = await walk(client, "/v1/customers", limit=5)
        assert len(got) == 12
    finally:
        server.should_exit = True
        await task


async def test_paging_100k_customers():
    sb = StripeSandbox(seed=14, customers=100_000, subscriptions=0, charges=0, seed_events=False, now=Clock())
    async with api(sb, rate_limit=False) as client:
        got = await walk(client, "/v1/customers", limit=100)
    assert len(got) == 100_000 == len({c["id"] for c in got})
