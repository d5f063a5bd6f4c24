"""The sandboxes send signed webhooks as Stripe, Shopify and HubSpot do (VENDOR_FACTS 1.6, 2.6, 3.6): deliveries for
changes made through `mutate`/helpers and through the API, signatures that verify with the vendors' recipes
(re-implemented here, independently of `sandbox.webhooks`), retries that keep ids and payloads, and redelivery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.hubspot import HUBSPOT_TOKEN, HubSpotSandbox
from sandbox.hubspot import create_app as hubspot_app
from sandbox.shopify import SHOPIFY_TOKEN, ShopifySandbox
from sandbox.shopify import create_app as shopify_app
from sandbox.stripe import StripeSandbox
from sandbox.stripe import create_app as stripe_app
from sandbox.webhooks import WebhookSender
from tests.conftest import free_port

SECRET = "whsec_test_0123456789"


def client(app) -> httpx.AsyncClient:
    """The sandbox's API in process: its writes run on this thread, and the sender is told of them there."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test")


@dataclass
class Received:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int


class Receiver:
    """A webhook endpoint on a loopback port: records every request; `fail[path] = n` answers the next n with 500."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.fail: dict[str, int] = {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = Starlette(routes=[Route("/{path:path}", self.endpoint, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        status = 500 if self.fail.get(path, 0) > 0 else 200
        if status == 500:
            self.fail[path] -= 1
        self.requests.append(Received(request.method, str(request.url), dict(request.headers), body, status))
        return Response(b"", status)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.url == self.url + path]


@pytest.fixture(scope="module")
def receiver():
    rec = Receiver()
    rec.thread.start()
    deadline = time.monotonic() + 10
    while not rec.server.started:
        assert time.monotonic() < deadline, "the receiver did not start"
        time.sleep(0.01)
    yield rec
    rec.server.should_exit = True
    rec.thread.join(10)


# -- the vendors' recipes, written out again ---------------------------------------------------------------------

def stripe_valid(header: str, body: bytes, secret: str = SECRET, tolerance: int = 300) -> bool:
    pairs = [item.split("=", 1) for item in header.split(",")]
    stamps = [v for k, v in pairs if k == "t"]
    if len(stamps) != 1 or abs(time.time() - int(stamps[0])) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{stamps[0]}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in pairs if k == "v1")


def shopify_valid(header: str, body: bytes, secret: str = SECRET) -> bool:
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, header)


def hubspot_valid(req: Received, secret: str = SECRET) -> bool:
    h = req.headers
    stamp = h["x-hubspot-request-timestamp"]
    if abs(time.time() * 1000 - int(stamp)) > 300_000:
        return False
    source = f"{req.method}{req.url}{req.body.decode()}{stamp}".encode()
    v3 = base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()
    v1 = hashlib.sha256(secret.encode() + req.body).hexdigest()
    return (hmac.compare_digest(v3, h["x-hubspot-signature-v3"]) and h["x-hubspot-signature-version"] == "v1"
            and hmac.compare_digest(v1, h["x-hubspot-signature"]))


# -- Stripe ------------------------------------------------------------------------------------------------------

STRIPE_AUTH = {"Authorization": "Bearer sk_test_sandbox"}


async def test_stripe_sends_every_event_signed(receiver: Receiver) -> None:
    sb = StripeSandbox(seed=3, customers=20)
    path = "/stripe/all"
    before = len(sb.event_by_id)
    with WebhookSender("stripe", SECRET, now=sb.now) as sender:
        sender.register(receiver.url + path)
        sender.attach(sb)
        sb.mutate(updates=3, deletes=1, creates=2)
        async with client(stripe_app(sb, rate_limit=False)) as api:
            created = await api.post("/v1/customers", data={"email": "hook@example.com", "name": "Hook"},
                                     headers=STRIPE_AUTH)
            customer_id = created.json()["id"]
            updated = await api.post(f"/v1/customers/{customer_id}", data={"name": "Hooked"}, headers=STRIPE_AUTH)
            assert updated.is_success
            assert (await api.delete(f"/v1/customers/{customer_id}", headers=STRIPE_AUTH)).is_success
        assert sender.flush(10)
    events = list(sb.event_by_id.values())[before:]
    got = receiver.at(path)
    assert [json.loads(r.body)["id"] for r in got] == [e.id for e in events]  # one thread: in the order written
    for req, event in zip(got, events, strict=True):
        assert req.headers["content-type"] == "application/json; charset=utf-8"
        assert req.headers["user-agent"] == "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
        assert stripe_valid(req.headers["stripe-signature"], req.body)
        assert json.loads(req.body) == orjson.loads(orjson.dumps(sb.retrieve_event(event.id).as_dict()))
    api_events = [json.loads(r.body) for r in got if json.loads(r.body)["request"]["id"]]
    assert [(e["type"], e["data"]["object"]["id"]) for e in api_events] == [
        ("customer.created", customer_id), ("customer.updated", customer_id), ("customer.deleted", customer_id)]
    assert api_events[1]["data"]["previous_attributes"] == {"name": "Hook"}
    assert not stripe_valid(got[0].headers["stripe-signature"], got[0].body + b" ")


def test_stripe_retries_keep_the_event_and_redeliver_sends_the_same_bytes(receiver: Receiver) -> None:
    sb = StripeSandbox(seed=4, customers=5)
    path = "/stripe/retry"
    receiver.fail[path] = 2
    with WebhookSender("stripe", SECRET, now=sb.now) as sender:
        sender.register(receiver.url + path)
        sender.attach(sb)
        customer = sb.create_customer({"email": "retry@example.com"})
        assert sender.flush(10)
        [delivery] = sender.deliveries
        assert (delivery.attempts, delivery.statuses, delivery.done) == (3, [500, 500, 200], True)
        again = sender.redeliver(delivery)
        assert sender.flush(10)
    got = receiver.at(path)
    assert [r.status for r in got] == [500, 500, 200, 200]
    assert len({r.body for r in got}) == 1  # the original payload on every attempt, and on redelivery
    event = json.loads(got[0].body)
    assert event["type"] == "customer.created" and event["data"]["object"]["id"] == customer["id"]
    assert again.id == delivery.id == event["id"] and again.body == delivery.body
    assert all(stripe_valid(r.headers["stripe-signature"], r.body) for r in got)


def test_retries_are_bounded(receiver: Receiver) -> None:
    sb = StripeSandbox(seed=5, customers=5)
    path = "/stripe/down"
    receiver.fail[path] = 100
    with WebhookSender("stripe", SECRET, now=sb.now, backoff=(0.01, 0.02, 0.05)) as sender:
        sender.register(receiver.url + path)
        sender.register(f"http://127.0.0.1:{free_port()}/nobody")  # refused: no answer at all
        sender.attach(sb)
        sb.create_customer({"email": "down@example.com"})
        assert sender.flush(10)
        down, nobody = sender.deliveries
    assert (down.attempts, down.status, down.done, down.ok) == (4, 500, True, False)
    assert (nobody.attempts, nobody.status, nobody.done) == (4, None, True) and "ConnectError" in nobody.error
    assert len(receiver.at(path)) == 4
    receiver.fail[path] = 0


# -- Shopify -----------------------------------------------------------------------------------------------------

CUSTOMER_UPDATE = """mutation($input: CustomerInput!) { customerUpdate(input: $input) {
  customer { id } userErrors { field message } } }"""
TAGS_ADD = """mutation($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) { userErrors { message } } }"""


def _num(gid: str) -> int:
    return int(gid.rsplit("/", 1)[1])


async def test_shopify_sends_rest_payloads_per_topic(receiver: Receiver) -> None:
    sb = ShopifySandbox(seed=2, customers=20)
    path = "/shopify/all"
    expected: Counter = Counter()
    with WebhookSender("shopify", SECRET, now=sb.now) as sender:
        sender.register(receiver.url + path)
        sender.attach(sb)
        customers = sb.mutate("customers", updates=2, deletes=1, creates=1)
        expected.update({"customers/update": 2, "customers/delete": 1, "customers/create": 1})
        orders = sb.mutate("orders", updates=2, creates=1)
        expected.update({"orders/updated": 2, "orders/create": 1, "customers/update": 1})  # the buyer changes too
        products = sb.mutate("products", updates=1, deletes=1, creates=1)
        expected.update({"products/update": 1, "products/delete": 1, "products/create": 1})
        target, product = customers["updated"][0], products["created"][0]
        auth = {"X-Shopify-Access-Token": SHOPIFY_TOKEN}
        async with client(shopify_app(sb, throttle=False)) as api:
            answer = await api.post("/admin/api/2025-07/graphql.json", headers=auth, json={
                "query": CUSTOMER_UPDATE, "variables": {"input": {"id": target, "firstName": "Webhooked"}}})
            assert answer.json()["data"]["customerUpdate"]["userErrors"] == []
            answer = await api.post("/admin/api/2025-07/graphql.json", headers=auth, json={
                "query": TAGS_ADD, "variables": {"id": product, "tags": ["hooked"]}})
            assert answer.json()["data"]["tagsAdd"]["userErrors"] == []
        expected.update({"customers/update": 1, "products/update": 1})
        assert sender.flush(10)
    got = receiver.at(path)
    assert Counter(r.headers["x-shopify-topic"] for r in got) == expected
    assert len({r.headers["x-shopify-webhook-id"] for r in got}) == len(got)
    assert len({r.headers["x-shopify-event-id"] for r in got}) == len(got)
    for req in got:
        h = req.headers
        assert shopify_valid(h["x-shopify-hmac-sha256"], req.body)
        assert h["x-shopify-shop-domain"] == sb.shop and h["x-shopify-api-version"]
        assert h["content-type"] == "application/json"
        assert datetime.fromisoformat(h["x-shopify-triggered-at"].replace("Z", "+00:00"))
        body = json.loads(req.body)
        assert isinstance(body["id"], int)
    by_topic = {r.headers["x-shopify-topic"]: json.loads(r.body) for r in got}
    deleted = customers["deleted"][0]
    assert by_topic["customers/delete"] == {"id": _num(deleted), "phone": None, "addresses": [],
                                            "tax_exemptions": [], "email_marketing_consent": None,
                                            "sms_marketing_consent": None, "admin_graphql_api_id": deleted}
    assert by_topic["products/delete"] == {"id": _num(products["deleted"][0])}
    created = by_topic["customers/create"]
    [stored] = [c for c in sb.objects("customers") if c["id"] == customers["created"][0]]
    assert created["admin_graphql_api_id"] == stored["id"] and created["id"] == _num(stored["id"])
    assert (created["email"], created["first_name"], created["last_name"]) == (
        stored["email"], stored["firstName"], stored["lastName"])
    assert datetime.fromisoformat(created["created_at"]) == datetime.fromisoformat(
        stored["createdAt"].replace("Z", "+00:00"))
    order = by_topic["orders/create"]
    assert order["admin_graphql_api_id"] == orders["created"][0] and order["line_items"]
    assert order["total_price"].count(".") == 1 and order["order_number"] >= 1001
    api_update = [json.loads(r.body) for r in got if r.headers["x-shopify-topic"] == "customers/update"][-1]
    assert (api_update["admin_graphql_api_id"], api_update["first_name"]) == (target, "Webhooked")
    tagged = [json.loads(r.body) for r in got if r.headers["x-shopify-topic"] == "products/update"][-1]
    assert tagged["admin_graphql_api_id"] == product and "hooked" in tagged["tags"].split(", ")


def test_shopify_retries_keep_webhook_id_and_payload(receiver: Receiver) -> None:
    sb = ShopifySandbox(seed=3, customers=10)
    path = "/shopify/retry"
    receiver.fail[path] = 2
    with WebhookSender("shopify", SECRET, now=sb.now) as sender:
        sender.register(receiver.url + path)
        sender.attach(sb)
        gid = sb.gids("customers")[0]
        sb.update("customers", gid, note="call back")
        assert sender.flush(10)
        [delivery] = sender.deliveries
        assert delivery.statuses == [500, 500, 200]
        again = sender.redeliver(delivery)
        assert sender.flush(10)
    got = receiver.at(path)
    assert [r.status for r in got] == [500, 500, 200, 200]
    assert len({r.body for r in got}) == 1 and json.loads(got[0].body)["note"] == "call back"
    assert {r.headers["x-shopify-webhook-id"] for r in got} == {delivery.id} == {again.id}
    assert len({r.headers["x-shopify-event-id"] for r in got}) == 1
    assert all(shopify_valid(r.headers["x-shopify-hmac-sha256"], r.body) for r in got)


# -- HubSpot -----------------------------------------------------------------------------------------------------

HUBSPOT_AUTH = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}


def _events(req: Received) -> list[dict]:
    return json.loads(req.body)


async def test_hubspot_batches_signed_events_per_write(receiver: Receiver) -> None:
    hs = HubSpotSandbox(seed=2, contacts=40)
    path = "/hubspot/all"
    with WebhookSender("hubspot", SECRET, now=hs.now) as sender:
        sender.register(receiver.url + path)
        sender.attach(hs)
        changed = hs.mutate("contacts", updates=3, archives=1, creates=2)
        ids = hs.records("contacts")[:3]
        async with client(hubspot_app(hs, rate_limit=False)) as api:
            api.headers.update(HUBSPOT_AUTH)
            new = (await api.post("/crm/v3/objects/contacts",
                                  json={"properties": {"email": "hook@example.com", "firstname": "Hook"}})).json()
            patched = await api.patch(f"/crm/v3/objects/contacts/{new['id']}",
                                      json={"properties": {"firstname": "Hooked"}})
            assert patched.is_success
            assert (await api.delete(f"/crm/v3/objects/contacts/{new['id']}")).status_code == 204
            batch = await api.post("/crm/v3/objects/contacts/batch/update", json={"inputs": [
                {"id": r["id"], "properties": {"jobtitle": f"Tester {i}"}} for i, r in enumerate(ids)]})
            assert batch.status_code == 200
            company = (await api.post("/crm/v3/objects/companies", json={
                "properties": {"name": "Hook Labs", "domain": "hooklabs.example.com"}})).json()
        assert sender.flush(10)
    got = receiver.at(path)
    assert len(got) == 6  # one request per write call: mutate, create, patch, delete, batch, company
    for req in got:
        assert hubspot_valid(req)
        for event in _events(req):
            assert event["attemptNumber"] == 0 and event["portalId"] and event["appId"]
            assert isinstance(event["objectId"], int) and isinstance(event["eventId"], int)
            assert abs(event["occurredAt"] - time.time() * 1000) < 60_000  # epoch ms
    mutated = _events(got[0])
    assert {e["changeSource"] for e in mutated} == {"CRM_UI"}
    kinds = Counter(e["subscriptionType"] for e in mutated)
    assert (kinds["contact.creation"], kinds["contact.deletion"]) == (2, 1) and kinds["contact.propertyChange"] >= 3
    assert {e["objectId"] for e in mutated if e["subscriptionType"] == "contact.creation"} == {
        int(i) for i in changed["created"]}
    assert {e["objectId"] for e in mutated if e["subscriptionType"] == "contact.propertyChange"} == {
        int(i) for i in changed["updated"]}
    for event in mutated:
        if event["subscriptionType"] == "contact.propertyChange":
            assert event["propertyName"] not in ("lastmodifieddate", "hs_lastmodifieddate")
            assert event["propertyValue"] == (hs.record("contacts", event["objectId"])["properties"]
                                              [event["propertyName"]] or "")
    created, patched, deleted, batched, company_created = (_events(r) for r in got[1:])
    contact_id = int(new["id"])
    assert [(e["subscriptionType"], e["objectId"], e["changeSource"]) for e in created] == [
        ("contact.creation", contact_id, "API")]
    assert [(e["subscriptionType"], e["propertyName"], e["propertyValue"]) for e in patched] == [
        ("contact.propertyChange", "firstname", "Hooked")]
    assert [(e["subscriptionType"], e["objectId"]) for e in deleted] == [("contact.deletion", contact_id)]
    assert sorted((e["objectId"], e["propertyName"], e["propertyValue"]) for e in batched) == sorted(
        (int(r["id"]), "jobtitle", f"Tester {i}") for i, r in enumerate(ids))
    assert [(e["subscriptionType"], e["objectId"]) for e in company_created] == [
        ("company.creation", int(company["id"]))]
    all_ids = [e["eventId"] for r in got for e in _events(r)]
    assert len(set(all_ids)) == len(all_ids)


def test_hubspot_batches_hold_at_most_100_events(receiver: Receiver) -> None:
    hs = HubSpotSandbox(seed=3, contacts=10)
    path = "/hubspot/big"
    with WebhookSender("hubspot", SECRET, now=hs.now) as sender:
        sender.register(receiver.url + path)
        sender.attach(hs)
        hs.mutate("contacts", creates=150)
        assert sender.flush(10)
    assert [len(_events(r)) for r in receiver.at(path)] == [100, 50]


def test_hubspot_retries_count_attempts_and_keep_events(receiver: Receiver) -> None:
    hs = HubSpotSandbox(seed=4, contacts=10)
    path = "/hubspot/retry"
    receiver.fail[path] = 2
    with WebhookSender("hubspot", SECRET, now=hs.now) as sender:
        sender.register(receiver.url + path)
        sender.attach(hs)
        contact = hs.records("contacts")[0]
        hs.update("contacts", contact["id"], {"firstname": "Zed"})
        assert sender.flush(10)
        [delivery] = sender.deliveries
        again = sender.redeliver(delivery)
        assert sender.flush(10)
    got = receiver.at(path)
    assert [r.status for r in got] == [500, 500, 200, 200]
    bodies = [_events(r) for r in got]
    assert [[e.pop("attemptNumber") for e in events] for events in bodies] == [[0], [1], [2], [2]]
    assert all(events == bodies[0] for events in bodies)  # otherwise the same events, same ids
    assert got[3].body == got[2].body == again.body == delivery.body  # redelivery: the same bytes
    assert all(hubspot_valid(r) for r in got)
    [event] = _events(got[0])
    assert (event["objectId"], event["propertyName"], event["propertyValue"]) == (int(contact["id"]), "firstname",
                                                                                  "Zed")


def test_a_sender_attaches_only_to_its_vendor() -> None:
    with WebhookSender("hubspot", SECRET) as sender, pytest.raises(TypeError):
        sender.attach(StripeSandbox(seed=1, customers=1))
    with pytest.raises(ValueError):
        WebhookSender("zendesk", SECRET)
