"""HubSpot write-back: batch/update in hundreds, 207 and whole-batch 400 mapped to items, values as HubSpot stores
them, bounded retries; then against the sandbox on loopback: writes land, validation is HubSpot's, injected
failures give "retry" and the next call sends."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import httpx
import pytest
import respx

from connectors.hubspot import limits as hubspot_limits
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.write import encode
from connectors.kit import CredentialsRefused, RetryPolicy, WriteIn
from connectors.kit.testing import FakeClock
from tests.sandbox_api import SandboxAPI

BASE = "https://api.hubapi.test"
TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
UPDATE = "/crm/v3/objects/contacts/batch/update"
NOT_FOUND = {"status": "error", "message": "Object not found.  objectId are usually numeric.",
             "correlationId": "c", "context": {"id": ["404"]}, "category": "OBJECT_NOT_FOUND"}


def invalid(name: str, message: str, code: str) -> dict:
    return {"status": "error", "message": f"Property values were not valid: [{message}]", "correlationId": "c",
            "errors": [{"message": message, "code": code, "context": {"propertyName": [name]}}],
            "category": "VALIDATION_ERROR"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as router:
        yield router


def connector(clock: FakeClock, base_url: str = BASE, token: str = TOKEN, attempts: int = 3) -> HubSpotConnector:
    conn = HubSpotConnector("crm", token, base_url=base_url)
    conn.client.limiter = hubspot_limits.documented(100, clock=clock, sleep=clock.sleep)
    conn.client.retry_policy = RetryPolicy(max_attempts=attempts, sleep=clock.sleep, rng=random.Random(1))
    return conn


def contact(n: int | str, **changes) -> WriteIn:
    return WriteIn(f"wb-{n}", "contact", str(n), {f"properties.{k}": v for k, v in changes.items()})


def inputs(call) -> list[dict]:
    return json.loads(call.request.content)["inputs"]


def test_values_are_encoded_as_hubspot_stores_them():
    assert encode(True) == "true" and encode(False) == "false"
    assert encode(["a", "b", 3]) == "a;b;3" and encode(None) == "" and encode(5) == "5"
    assert encode(2.0) == "2" and encode(2.5) == "2.5" and encode("Zoë") == "Zoë"
    with pytest.raises(ValueError):
        encode({"a": 1})


async def test_batches_of_100_per_object_type_in_order(api, clock):
    route = api.post(UPDATE).respond(200, json={"status": "COMPLETE", "results": []})
    companies = api.post("/crm/v3/objects/companies/batch/update").respond(200, json={"status": "COMPLETE"})
    items = [contact(n, firstname=f"n{n}", vip=n % 2 == 0, tags=["a", "b"], phone=None) for n in range(1, 231)]
    items.insert(50, WriteIn("wb-co", "company", "77", {"properties.lifecyclestage": "customer"}))
    conn = connector(clock)
    outcomes = await conn.write(items)
    await conn.aclose()
    assert [o.writeback_id for o in outcomes] == [i.writeback_id for i in items]
    assert {(o.status, o.http_status) for o in outcomes} == {("sent", 200)}
    assert [len(inputs(c)) for c in route.calls] == [100, 100, 30]
    assert inputs(route.calls[0])[0] == {"id": "1", "properties": {"firstname": "n1", "vip": "false",
                                                                  "tags": "a;b", "phone": ""}}
    assert [i["id"] for c in route.calls for i in inputs(c)] == [str(n) for n in range(1, 231)]
    assert inputs(companies.calls.last) == [{"id": "77", "properties": {"lifecyclestage": "customer"}}]
    assert route.calls[0].request.headers["authorization"] == f"Bearer {TOKEN}"


async def test_a_record_twice_goes_in_two_batches_in_order(api, clock):
    route = api.post(UPDATE).respond(200, json={"status": "COMPLETE"})
    conn = connector(clock)
    outcomes = await conn.write([contact(1, firstname="a"), contact(2, firstname="b"),
                                 WriteIn("wb-1b", "contact", "1", {"properties.firstname": "c"})])
    await conn.aclose()
    assert [o.status for o in outcomes] == ["sent"] * 3
    assert [inputs(c) for c in route.calls] == [
        [{"id": "1", "properties": {"firstname": "a"}}, {"id": "2", "properties": {"firstname": "b"}}],
        [{"id": "1", "properties": {"firstname": "c"}}]]


async def test_207_rejects_the_ids_its_errors_name(api, clock):
    api.post(UPDATE).respond(207, json={
        "status": "COMPLETE", "results": [{"id": "1"}, {"id": "3"}], "numErrors": 1,
        "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND", "context": {"ids": ["2"]},
                    "message": "Could not get some CONTACT objects, they may be deleted or not exist."}]})
    conn = connector(clock)
    outcomes = await conn.write([contact(1, firstname="a"), contact(2, firstname="b"), contact(3, firstname="c")])
    await conn.aclose()
    assert [(o.status, o.http_status) for o in outcomes] == [("sent", 207), ("rejected", 404), ("sent", 207)]
    assert outcomes[1].error.startswith("Could not get some CONTACT objects")


async def test_a_whole_batch_400_is_sent_again_one_by_one(api, clock):
    batch = api.post(UPDATE).respond(400, json=invalid("lifecyclestage", '"bogus" was not one of the allowed '
                                                     "options: [lead, customer]", "INVALID_OPTION"))
    good = api.patch("/crm/v3/objects/contacts/1").respond(200, json={"id": "1", "properties": {}})
    bad = api.patch("/crm/v3/objects/contacts/2").respond(400, json=invalid(
        "lifecyclestage", '"bogus" was not one of the allowed options: [lead, customer]', "INVALID_OPTION"))
    api.patch("/crm/v3/objects/contacts/404").respond(404, json=NOT_FOUND)
    conn = connector(clock)
    outcomes = await conn.write([contact(1, lifecyclestage="lead"), contact(2, lifecyclestage="bogus"),
                                 contact(404, firstname="x")])
    await conn.aclose()
    assert batch.call_count == 1
    assert [(o.status, o.http_status) for o in outcomes] == [("sent", 200), ("rejected", 400), ("rejected", 404)]
    assert outcomes[1].error == '"bogus" was not one of the allowed options: [lead, customer]'
    assert outcomes[2].error == "Object not found.  objectId are usually numeric."
    assert json.loads(good.calls.last.request.content) == {"properties": {"lifecyclestage": "lead"}}
    assert bad.call_count == 1


async def test_a_single_input_refused_is_rejected_without_a_second_request(api, clock):
    route = api.post(UPDATE).respond(400, json=invalid("nope", 'Property "nope" does not exist',
                                                       "PROPERTY_DOESNT_EXIST"))
    conn = connector(clock)
    [outcome] = await conn.write([contact(1, nope="x")])
    await conn.aclose()
    assert (outcome.status, outcome.http_status, outcome.error) == ("rejected", 400, 'Property "nope" does not exist')
    assert route.call_count == 1


async def test_429_waits_the_window_then_sends(api, clock):
    limited = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
               "errorType": "RATE_LIMIT", "correlationId": "c", "policyName": "TEN_SECONDLY_ROLLING"}
    route = api.post(UPDATE)
    route.side_effect = [respx.MockResponse(429, json=limited), respx.MockResponse(200, json={"status": "COMPLETE"})]
    conn = connector(clock)
    [outcome] = await conn.write([contact(1, firstname="a")])
    await conn.aclose()
    assert outcome.status == "sent" and route.call_count == 2
    assert clock.slept >= 10


async def test_5xx_past_the_retries_is_retry_and_the_rest_waits(api, clock):
    route = api.post(UPDATE).respond(503, json={"status": "error", "message": "Service Unavailable",
                                                "correlationId": "c", "category": "INTERNAL_ERROR"})
    conn = connector(clock, attempts=3)
    outcomes = await conn.write([contact(n, firstname="a") for n in range(1, 151)])
    await conn.aclose()
    assert route.call_count == 3  # one batch, its bounded retries; the second batch is not sent
    assert {(o.status, o.http_status) for o in outcomes} == {("retry", 503)}
    assert "Service Unavailable" in outcomes[0].error and outcomes[0].error in outcomes[-1].error
    assert outcomes[-1].error.startswith("not sent after an earlier request failed")


async def test_unsupported_types_and_paths_are_rejected_without_a_request(api, clock):
    conn = connector(clock)
    outcomes = await conn.write([WriteIn("a", "ticket", "1", {"properties.x": "y"}),
                                 WriteIn("b", "contact", "1", {"email": "x@y.z"}),
                                 WriteIn("c", "contact", "1", {"properties.a.b": "y"}),
                                 WriteIn("d", "contact", "1", {"properties.x": {"nested": 1}}),
                                 WriteIn("e", "contact", "1", {})])
    await conn.aclose()
    assert [o.status for o in outcomes] == ["rejected"] * 5
    assert "not 'ticket'" in outcomes[0].error and "properties.<name>" in outcomes[1].error
    assert not api.calls


async def test_refused_credentials_raise_as_for_a_read(api, clock):
    api.post(UPDATE).respond(401, json={"status": "error", "message": "Authentication credentials not found.",
                                        "correlationId": "c", "category": "INVALID_AUTHENTICATION"})
    conn = connector(clock)
    with pytest.raises(CredentialsRefused) as raised:
        await conn.write([contact(1, firstname="a")])
    await conn.aclose()
    assert TOKEN not in str(raised.value)


# -- against the sandbox on loopback ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxAPI]:
    with SandboxAPI(vendors=("hubspot",), customers=20, rate_limit=False) as api:
        yield api


def live(sandbox: SandboxAPI, clock: FakeClock, attempts: int = 3) -> HubSpotConnector:
    from sandbox.hubspot import HUBSPOT_TOKEN
    return connector(clock, sandbox.url, HUBSPOT_TOKEN, attempts)


async def test_sandbox_write_lands(sandbox, clock):
    hs = sandbox.hubspot
    first, second = (r["id"] for r in hs.records("contacts")[:2])
    company = hs.records("companies")[0]["id"]
    conn = live(sandbox, clock)
    outcomes = await conn.write([
        WriteIn("w1", "contact", first, {"properties.lifecyclestage": "customer", "properties.firstname": "Zoë"}),
        WriteIn("w2", "contact", second, {"properties.jobtitle": None}),
        WriteIn("w3", "company", company, {"properties.name": "Acme Rockets"})])
    await conn.aclose()
    assert [o.status for o in outcomes] == ["sent"] * 3
    assert hs.record("contacts", first)["properties"]["lifecyclestage"] == "customer"
    assert hs.record("contacts", first)["properties"]["firstname"] == "Zoë"
    assert hs.record("contacts", second)["properties"].get("jobtitle") in (None, "")
    assert hs.record("companies", company)["properties"]["name"] == "Acme Rockets"


async def test_sandbox_validation_rejects_only_the_invalid_with_hubspots_message(sandbox, clock):
    hs = sandbox.hubspot
    ids = [r["id"] for r in hs.records("contacts")[2:5]]
    before = hs.writes_received
    conn = live(sandbox, clock)
    outcomes = await conn.write([
        WriteIn("v1", "contact", ids[0], {"properties.lifecyclestage": "lead"}),
        WriteIn("v2", "contact", ids[1], {"properties.lifecyclestage": "not-a-stage"}),
        WriteIn("v3", "contact", ids[2], {"properties.hs_object_id": "1"}),
        WriteIn("v4", "contact", "99999999", {"properties.firstname": "x"})])
    await conn.aclose()
    assert [o.status for o in outcomes] == ["sent", "rejected", "rejected", "rejected"]
    assert "was not one of the allowed options" in outcomes[1].error and outcomes[1].http_status == 400
    assert "read only" in outcomes[2].error
    assert outcomes[3].http_status == 404
    assert hs.writes_received - before == 5  # the batch, then each input alone
    assert hs.record("contacts", ids[0])["properties"]["lifecyclestage"] == "lead"


async def test_sandbox_injected_failure_is_retry_then_the_next_call_sends(sandbox, clock):
    hs = sandbox.hubspot
    target = hs.records("contacts")[6]["id"]
    item = WriteIn("f1", "contact", target, {"properties.firstname": "Retried"})
    conn = live(sandbox, clock, attempts=2)
    hs.fail_writes(2, 503)
    [first] = await conn.write([item])
    assert (first.status, first.http_status) == ("retry", 503) and "Service Unavailable" in first.error
    assert hs.record("contacts", target)["properties"]["firstname"] != "Retried"
    [second] = await conn.write([item])
    await conn.aclose()
    assert second.status == "sent"
    assert hs.record("contacts", target)["properties"]["firstname"] == "Retried"
    assert json.loads(hs.write_log[-1].body)["inputs"][0]["properties"] == {"firstname": "Retried"}


async def test_sandbox_email_conflict_refuses_the_batch_whole_then_only_its_input(sandbox, clock):
    hs = sandbox.hubspot
    one, two, three = hs.records("contacts")[8:11]
    taken = three["properties"]["email"]
    conn = live(sandbox, clock)
    outcomes = await conn.write([WriteIn("c1", "contact", one["id"], {"properties.firstname": "Kept"}),
                                 WriteIn("c2", "contact", two["id"], {"properties.email": taken})])
    await conn.aclose()
    assert [(o.status, o.http_status) for o in outcomes] == [("sent", 200), ("rejected", 409)]
    assert outcomes[1].error == f"Contact already exists. Existing ID: {three['id']}"
    assert hs.record("contacts", one["id"])["properties"]["firstname"] == "Kept"
    assert hs.record("contacts", two["id"])["properties"]["email"] == two["properties"]["email"]


def test_sandbox_batch_with_a_taken_email_writes_nothing(sandbox):
    from sandbox.hubspot import HUBSPOT_TOKEN
    hs = sandbox.hubspot
    one, two, three = hs.records("contacts")[11:14]
    body = {"inputs": [{"id": one["id"], "properties": {"firstname": "Partial"}},
                       {"id": two["id"], "properties": {"email": three["properties"]["email"]}}]}
    response = httpx.post(f"{sandbox.url}{UPDATE}", json=body, headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"})
    assert response.status_code == 409 and response.json()["category"] == "CONFLICT"
    assert hs.record("contacts", one["id"]) == one  # refused whole, as an invalid value is
