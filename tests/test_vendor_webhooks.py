"""End to end: the vendors' signed webhooks into a running `inlet serve`, with each delivery built and signed
here from the vendor's recipe (independently of inlet's own checks), against the sandboxes as the vendors.

For each vendor: a verified delivery updates `records` and appends the change event as a pull would, in the
pull's shape; redelivering it, or delivering an older one late, changes nothing; a later pull of the same
state changes nothing; deletions mark records deleted. Missing, wrong or stale signatures, and sources without
`webhook_secret`, are refused with 401 and a `rejections` row, and nothing of the body is applied.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections import Counter

import httpx
import orjson
import pytest

from tests.conftest import inlet, write_config
from tests.sandbox_api import SandboxAPI
from tests.stores import served

SECRET = "whsec_inlet_test"


def store(config, query: str) -> list[tuple]:
    """Rows through the running server (it holds the file), as `inlet sql` reads them."""
    return served(config, query)


def events(config) -> Counter:
    return Counter(dict(store(config, "SELECT event_type, count(*) FROM events GROUP BY 1")))


@pytest.fixture
def api():
    with SandboxAPI(customers=40, rate_limit=False, vendors=("stripe", "hubspot", "shopify")) as server:
        yield server


def stripe_signed(body: bytes, t: int | None = None, secret: str = SECRET) -> dict:
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={mac}", "Content-Type": "application/json"}


def shopify_signed(body: bytes, topic: str) -> dict:
    mac = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return {"X-Shopify-Hmac-Sha256": mac, "X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Shop-Domain": "inlet-sandbox.myshopify.com", "Content-Type": "application/json"}


def hubspot_signed(body: bytes, uri: str) -> dict:
    ts = str(int(time.time() * 1000))
    mac = base64.b64encode(hmac.new(SECRET.encode(), b"POST" + uri.encode() + body + ts.encode(),
                                    hashlib.sha256).digest()).decode()
    return {"X-HubSpot-Signature-v3": mac, "X-HubSpot-Request-Timestamp": ts, "Content-Type": "application/json"}


def record(config, object_type: str, external_id: str) -> tuple[bool, dict]:
    deleted, data = store(config, f"SELECT deleted, data::VARCHAR FROM records WHERE object_type = '{object_type}' "
                                  f"AND external_id = '{external_id}'")[0]
    return deleted, orjson.loads(data) if isinstance(data, str) else data


def test_stripe_events_apply_once_in_order_and_agree_with_the_pull(tmp_path, api, serve_process):
    config = write_config(tmp_path, [api.stripe_source(webhook_secret=SECRET, objects=["customers"])])
    server = serve_process(config)
    assert inlet("sync", "billing", config=config).returncode == 0
    customer = next(iter(api.stripe.collections["customers"].by_id.values()))
    time.sleep(1.1)  # Stripe's event times are whole seconds: keep the two changes and the sync apart
    old = api.stripe.update("customers", customer, {"name": "First Name"}, event="customer.updated")
    first = api.stripe.retrieve_event(_last_event_id(api))
    time.sleep(1.1)
    api.stripe.update("customers", old, {"name": "Second Name"}, event="customer.updated")
    second = api.stripe.retrieve_event(_last_event_id(api))
    url = f"{server.url}/webhooks/billing"
    before = events(config)
    body = orjson.dumps(second.as_dict())
    answer = httpx.post(url, content=body, headers=stripe_signed(body))
    assert answer.status_code == 200 and answer.json()["changed"] == 1, answer.text
    assert httpx.post(url, content=body, headers=stripe_signed(body)).json()["changed"] == 0  # redelivered
    late = orjson.dumps(first.as_dict())
    assert httpx.post(url, content=late, headers=stripe_signed(late)).json()["changed"] == 0  # older: ignored
    assert events(config) - before == {"customer.updated": 1}
    assert record(config, "customer", customer["id"])[1]["name"] == "Second Name"
    (vendor_event,) = store(config, "SELECT context->>'vendor_event_id' FROM events WHERE event_type = "
                                    "'customer.updated'")[0]
    assert vendor_event == second.id
    again = inlet("sync", "billing", config=config)
    assert again.returncode == 0 and events(config) - before == {"customer.updated": 1}  # the pull agrees
    deleted = api.stripe.delete_customer(customer["id"])
    gone = orjson.dumps(api.stripe.retrieve_event(_last_event_id(api)).as_dict())
    assert deleted["deleted"] and httpx.post(url, content=gone, headers=stripe_signed(gone)).status_code == 200
    assert record(config, "customer", customer["id"])[0] is True


def _last_event_id(api: SandboxAPI) -> str:
    return api.stripe.events.items[0].id  # newest first


def test_refused_deliveries_change_nothing_and_are_recorded(tmp_path, api, serve_process):
    config = write_config(tmp_path, [api.stripe_source(webhook_secret=SECRET, objects=["customers"]),
                                     api.hubspot_source(), {"id": "web", "name": "Web", "channel": "web",
                                                            "bridge": "webhook"}])
    server = serve_process(config)
    body = orjson.dumps({"id": "evt_x", "type": "customer.updated", "created": int(time.time()),
                         "data": {"object": {"id": "cus_x", "object": "customer", "name": "Mallory"}}})
    cases = [
        ("billing", {"Content-Type": "application/json"}, "missing_signature"),
        ("billing", stripe_signed(body, secret="whsec_other"), "bad_signature"),
        ("billing", stripe_signed(body, t=int(time.time()) - 400), "stale_signature"),
        ("crm", hubspot_signed(body, "x"), "webhooks_not_enabled"),
        ("web", stripe_signed(body), "not_a_cloud_app"),
        ("nobody", stripe_signed(body), "unknown_source"),
    ]
    for source_id, headers, reason in cases:
        answer = httpx.post(f"{server.url}/webhooks/{source_id}", content=body, headers=headers)
        assert (answer.status_code, answer.json()["error"]) == (401, reason), (source_id, answer.text)
    assert store(config, "SELECT count(*) FROM records") == [(0,)]
    assert [r for (r,) in store(config, "SELECT reason FROM rejections ORDER BY received_at")] == \
        [reason for _, _, reason in cases]
    broken = b"{not json"
    answer = httpx.post(f"{server.url}/webhooks/billing", content=broken, headers=stripe_signed(broken))
    assert answer.status_code == 400 and answer.json()["error"] == "malformed_delivery"


def test_shopify_deliveries_are_read_back_in_the_pulls_shape(tmp_path, api, serve_process):
    config = write_config(tmp_path, [api.shopify_source(webhook_secret=SECRET, objects=["customers"])])
    server = serve_process(config)
    assert inlet("sync", "shop", config=config).returncode == 0
    customer = next(c for c in api.shopify.objects("customers") if c["numberOfOrders"] in (0, "0"))
    number = int(customer["id"].rsplit("/", 1)[1])
    api.shopify.update("customers", customer["id"], note="Changed in the shop admin")
    rest = orjson.dumps({"id": number, "email": customer["email"], "note": "Changed in the shop admin",
                         "updated_at": "2026-01-01T00:00:00-05:00"})  # REST-shaped, numeric id
    url = f"{server.url}/webhooks/shop"
    before = events(config)
    assert httpx.post(url, content=rest, headers=shopify_signed(rest, "customers/update")).json()["changed"] == 1
    deleted, data = record(config, "customer", customer["id"])
    assert not deleted and data["note"] == "Changed in the shop admin" and "firstName" in data  # GraphQL shape
    assert inlet("sync", "shop", config=config).returncode == 0
    assert events(config) - before == {"customer.updated": 1}
    api.shopify.delete("customers", customer["id"])
    gone = orjson.dumps({"id": number, "phone": None, "addresses": [], "admin_graphql_api_id": customer["id"]})
    assert httpx.post(url, content=gone, headers=shopify_signed(gone, "customers/delete")).status_code == 200
    assert record(config, "customer", customer["id"])[0] is True


def test_hubspot_deliveries_fetch_the_whole_record_never_a_fragment(tmp_path, api, serve_process):
    config = write_config(tmp_path, [api.hubspot_source(webhook_secret=SECRET, objects=["contacts"],
                                                        requests_per_10s=1000, search_per_second=100)],
                          server={"public_url": "https://inlet.example.com"})
    server = serve_process(config)
    assert inlet("sync", "crm", config=config).returncode == 0
    contact = api.hubspot.records("contacts")[0]
    api.hubspot.update("contacts", contact["id"], {"lifecyclestage": "customer"})
    deliveries = [{"eventId": 1, "subscriptionId": 7, "portalId": 123, "occurredAt": int(time.time() * 1000),
                   "subscriptionType": "contact.propertyChange", "attemptNumber": 0, "objectId": int(contact["id"]),
                   "propertyName": "lifecyclestage", "propertyValue": "customer", "changeSource": "CRM_UI"}]
    body = json.dumps(deliveries).encode()
    uri = "https://inlet.example.com/webhooks/crm"  # what HubSpot called and signed, not this test's address
    before = events(config)
    answer = httpx.post(f"{server.url}/webhooks/crm", content=body, headers=hubspot_signed(body, uri))
    assert answer.status_code == 200 and answer.json()["changed"] == 1, answer.text
    data = record(config, "contact", contact["id"])[1]
    assert data == api.hubspot.record("contacts", contact["id"])  # every property, not just the changed one
    wrong_uri = httpx.post(f"{server.url}/webhooks/crm", content=body,
                           headers=hubspot_signed(body, f"{server.url}/webhooks/crm"))
    assert wrong_uri.status_code == 401
    assert inlet("sync", "crm", config=config).returncode == 0
    assert events(config) - before == {"contact.updated": 1}
    api.hubspot.archive("contacts", contact["id"])
    gone = json.dumps([{**deliveries[0], "eventId": 2, "subscriptionType": "contact.deletion"}]).encode()
    assert httpx.post(f"{server.url}/webhooks/crm", content=gone, headers=hubspot_signed(gone, uri)).status_code \
        == 200
    assert record(config, "contact", contact["id"])[0] is True


def test_the_sandboxes_own_signed_deliveries_keep_the_store_in_step(tmp_path, api, serve_process):
    from sandbox.webhooks import WebhookSender
    from tests.conftest import free_port

    port = free_port()  # HubSpot signs the URL it calls: inlet's public_url is where the sandbox sends
    config = write_config(tmp_path, [
        api.stripe_source(webhook_secret=SECRET, objects=["customers"]),
        api.hubspot_source(webhook_secret=SECRET, objects=["contacts"], requests_per_10s=1000, search_per_second=100),
        api.shopify_source(webhook_secret=SECRET, objects=["customers", "products"])],
        server={"port": port, "public_url": f"http://127.0.0.1:{port}"})
    server = serve_process(config)
    for source_id in ("billing", "crm", "shop"):
        assert inlet("sync", source_id, config=config).returncode == 0
    senders = []
    for vendor, sandbox, source_id in (("stripe", api.stripe, "billing"), ("hubspot", api.hubspot, "crm"),
                                       ("shopify", api.shopify, "shop")):
        sender = WebhookSender(vendor, SECRET)
        sender.register(f"{server.url}/webhooks/{source_id}")
        sender.attach(sandbox)
        senders.append(sender)
    time.sleep(1.1)  # Stripe's event times are whole seconds: after the sync's read
    before = events(config)
    api.stripe.mutate(updates=3, deletes=1, creates=2)
    api.shopify.mutate("customers", updates=3, creates=1)
    api.shopify.mutate("products", updates=1, deletes=1)
    api.hubspot.mutate("contacts", updates=3, archives=1, creates=1)
    try:
        for sender in senders:
            assert sender.flush(timeout=30)
        refused = [(d.url, d.status, d.body[:200]) for s in senders for d in s.deliveries if not d.ok]
    finally:
        for sender in senders:
            sender.close()
    assert refused == []
    changed = events(config) - before
    assert changed["product.deleted"] == 1 and changed["contact.deleted"] == 1, changed
    assert changed["contact.created"] == 1 and changed["contact.updated"] == 3, changed
    # a pull now finds the same state: nothing more to change
    for source_id in ("billing", "crm", "shop"):
        assert inlet("sync", source_id, config=config).returncode == 0
    assert events(config) - before == changed
