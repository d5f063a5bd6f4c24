"""The HubSpot sandbox's batch and single writes, rate limits, owners, and `mutate` and listing speed."""

from __future__ import annotations

import time

import orjson

from sandbox.hubspot import HubSpotSandbox
from tests.clocks import Clock
from tests.hubspot_sandbox import ISO, api, sandbox, search, walk

RATE_HEADERS = ("x-hubspot-ratelimit-daily", "x-hubspot-ratelimit-daily-remaining",
                "x-hubspot-ratelimit-interval-milliseconds", "x-hubspot-ratelimit-max", "x-hubspot-ratelimit-remaining")


# -- batch ------------------------------------------------------------------------------------------------------

async def test_batch_read() -> None:
    hs = sandbox()
    rows = hs.records("contacts")
    async with api(hs) as client:
        inputs = [{"id": rows[0]["id"]}, {"id": rows[1]["id"]}]
        r = await client.post("/crm/v3/objects/contacts/batch/read", json={"inputs": inputs, "properties": ["city"]})
        body = r.json()
        assert r.status_code == 200 and body["status"] == "COMPLETE" and ISO.match(body["completedAt"])
        assert [x["id"] for x in body["results"]] == [rows[0]["id"], rows[1]["id"]]
        assert "city" in body["results"][0]["properties"] and "startedAt" in body
        r = await client.post("/crm/v3/objects/contacts/batch/read", json={"inputs": [*inputs, {"id": "42"}]})
        assert r.status_code == 207 and r.json()["numErrors"] == 1
        assert r.json()["errors"][0]["context"] == {"ids": ["42"]} and len(r.json()["results"]) == 2
        emails = [{"id": rows[3]["properties"]["email"]}]
        r = await client.post("/crm/v3/objects/0-1/batch/read", json={"inputs": emails, "idProperty": "email"})
        assert r.json()["results"][0]["id"] == rows[3]["id"]
        r = await client.post("/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": "1"}] * 101})
        assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
        hs.archive("contacts", rows[0]["id"])
        r = await client.post("/crm/v3/objects/contacts/batch/read?archived=true", json={"inputs": inputs})
        assert r.status_code == 207 and r.json()["results"][0]["archived"] is True


async def test_batch_update_create_upsert_archive() -> None:
    clock = Clock()
    hs = sandbox(now=clock)
    rows = hs.records("contacts")
    async with api(hs) as client:
        clock.advance(30)
        inputs = [{"id": rows[0]["id"], "properties": {"jobtitle": "CFO"}},
                  {"id": rows[1]["properties"]["email"], "idProperty": "email", "properties": {"city": "Oslo"}}]
        r = await client.post("/crm/v3/objects/contacts/batch/update", json={"inputs": inputs})
        assert r.status_code == 200 and len(r.json()["results"]) == 2
        assert {x["updatedAt"] for x in r.json()["results"]} == {hs.record("contacts", rows[0]["id"])["updatedAt"]}
        assert hs.record("contacts", rows[1]["id"])["properties"]["city"] == "Oslo"
        missing = [*inputs[:1], {"id": "5", "properties": {"city": "x"}}]
        r = await client.post("/crm/v3/objects/contacts/batch/update", json={"inputs": missing})
        assert r.status_code == 207 and r.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
        bad = [{"id": rows[0]["id"], "properties": {"nope": "x"}}]
        r = await client.post("/crm/v3/objects/contacts/batch/update", json={"inputs": bad})
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
        r = await client.post("/crm/v3/objects/contacts/batch/update", json={"inputs": [inputs[0], inputs[0]]})
        assert r.status_code == 400 and "Duplicate" in r.json()["message"]

        new = [{"properties": {"email": "New.Person@example.com", "firstname": "New"}}]
        r = await client.post("/crm/v3/objects/contacts/batch/create", json={"inputs": new})
        assert r.status_code == 201 and r.json()["results"][0]["properties"]["email"] == "new.person@example.com"
        new_id = r.json()["results"][0]["id"]
        assert int(new_id) > max(int(x["id"]) for x in rows)
        r = await client.post("/crm/v3/objects/contacts/batch/create", json={"inputs": new})
        assert r.status_code == 409 and r.json()["message"] == f"Contact already exists. Existing ID: {new_id}"

        upserts = [{"id": "new.person@example.com", "idProperty": "email", "properties": {"lastname": "Upd"}},
                   {"id": "fresh@example.com", "idProperty": "email", "properties": {"firstname": "Fresh"}}]
        r = await client.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": upserts})
        assert r.status_code == 200
        assert [(x["id"] == new_id, x["new"]) for x in r.json()["results"]] == [(True, False), (False, True)]
        assert hs.record("contacts", new_id)["properties"]["lastname"] == "Upd"
        r = await client.post("/crm/v3/objects/companies/batch/upsert", json={"inputs": [
            {"id": "x", "idProperty": "name", "properties": {}}]})
        assert r.status_code == 400

        r = await client.post("/crm/v3/objects/contacts/batch/archive",
                              json={"inputs": [{"id": new_id}, {"id": "77"}]})
        assert r.status_code == 204 and r.content == b""
        assert hs.record("contacts", new_id)["archived"] is True


# -- single writes ----------------------------------------------------------------------------------------------

async def test_create_update_delete() -> None:
    clock = Clock()
    hs = sandbox(now=clock)
    rows = hs.records("contacts")
    async with api(hs) as client:
        clock.advance(10)
        r = await client.post("/crm/v3/objects/contacts", json={"properties": {"email": "a@b.io", "firstname": "A"}})
        assert r.status_code == 201
        made = r.json()
        assert made["properties"]["lastmodifieddate"] == made["updatedAt"] == made["createdAt"]
        assert made["updatedAt"] == "2026-09-21T14:13:30.000Z" and made["properties"]["hs_email_domain"] == "b.io"
        r = await client.post("/crm/v3/objects/contacts", json={"properties": {"email": "A@b.io"}})
        assert r.status_code == 409 and r.json() | {"correlationId": "x"} == {
            "status": "error", "message": f"Contact already exists. Existing ID: {made['id']}",
            "correlationId": "x", "category": "CONFLICT"}

        clock.advance(5.5)
        r = await client.patch(f"/crm/v3/objects/contacts/{rows[2]['id']}",
                               json={"properties": {"lifecyclestage": "customer", "jobtitle": ""}})
        assert r.status_code == 200
        assert r.json()["updatedAt"] == "2026-09-21T14:13:35.500Z"
        after = hs.record("contacts", rows[2]["id"])
        assert after["properties"]["lastmodifieddate"] == after["updatedAt"] == r.json()["updatedAt"]
        assert after["properties"]["lifecyclestage"] == "customer" and after["properties"]["jobtitle"] is None
        r = await client.patch(f"/crm/v3/objects/contacts/{rows[2]['id']}", json={"properties": {}})
        assert r.status_code == 400
        assert r.json()["message"] == "No properties found to update, please provide at least one."
        r = await client.patch(f"/crm/v3/objects/contacts/{rows[2]['id']}",
                               json={"properties": {"description": "x"}})
        body = r.json()
        assert r.status_code == 400 and body["category"] == "VALIDATION_ERROR"
        assert body["message"].startswith("Property values were not valid: [{")
        assert body["errors"] == [{"message": 'Property "description" does not exist', "code": "PROPERTY_DOESNT_EXIST",
                                   "context": {"propertyName": ["description"]}}]
        for read_only in ("hs_object_id", "lastmodifieddate"):
            r = await client.patch(f"/crm/v3/objects/contacts/{rows[2]['id']}",
                                   json={"properties": {read_only: "1"}})
            assert r.status_code == 400 and r.json()["errors"][0]["code"] == "READ_ONLY_VALUE"
        r = await client.patch(f"/crm/v3/objects/contacts/{rows[2]['id']}",
                               json={"properties": {"lifecyclestage": "royalty"}})
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "INVALID_OPTION"
        r = await client.patch("/crm/v3/objects/deals/1", json={"properties": {"amount": "5"}})
        assert r.status_code == 404
        r = await client.patch(f"/crm/v3/objects/contacts/{rows[2]['properties']['email']}?idProperty=email",
                               json={"properties": {"city": "Rome"}})
        assert r.status_code == 200 and r.json()["properties"]["city"] == "Rome"

        r = await client.delete(f"/crm/v3/objects/contacts/{made['id']}")
        assert r.status_code == 204
        assert (await client.get(f"/crm/v3/objects/contacts/{made['id']}")).status_code == 404
        r = await client.post("/crm/v3/objects/contacts", json={"properties": {"email": "a@b.io"}})
        assert r.status_code == 201  # an archived contact's email is free again


async def test_deal_writes_recompute_calculated_properties() -> None:
    hs = sandbox()
    deal = hs.records("deals")[0]
    async with api(hs) as client:
        r = await client.patch(f"/crm/v3/objects/0-3/{deal['id']}",
                               json={"properties": {"dealstage": "closedwon", "amount": 1250.5}})
        props = r.json()["properties"]
        assert props["hs_is_closed_won"] == "true" and props["amount"] == "1250.5"
        assert props["hs_lastmodifieddate"] == r.json()["updatedAt"]


# -- rate limits ------------------------------------------------------------------------------------------------

async def test_ten_secondly_rolling_window_and_headers() -> None:
    clock = Clock()
    hs = sandbox(now=clock)
    async with api(hs, rate_limit=True) as client:
        for _ in range(50):
            r = await client.get("/crm/v3/objects/contacts", params={"limit": 1})
            assert r.status_code == 200
        assert r.headers["x-hubspot-ratelimit-remaining"] == "50"
        assert r.headers["x-hubspot-ratelimit-max"] == "100"
        assert r.headers["x-hubspot-ratelimit-interval-milliseconds"] == "10000"
        assert r.headers["x-hubspot-ratelimit-daily"] == "250000"
        assert r.headers["x-hubspot-ratelimit-daily-remaining"] == "249950"
        clock.advance(5)
        for _ in range(50):
            assert (await client.get("/crm/v3/owners")).status_code == 200
        r = await client.get("/crm/v3/objects/contacts")
        assert r.status_code == 429
        body = r.json()
        assert body | {"correlationId": "c", "requestId": "r"} == {
            "status": "error", "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT", "correlationId": "c", "policyName": "TEN_SECONDLY_ROLLING", "requestId": "r"}
        assert all(h in r.headers for h in RATE_HEADERS) and r.headers["x-hubspot-ratelimit-remaining"] == "0"
        assert r.headers["x-hubspot-correlation-id"] == body["correlationId"]
        clock.advance(4.999)  # the first fifty are still inside the rolling 10 s
        assert (await client.get("/crm/v3/objects/contacts")).status_code == 429
        clock.advance(0.001)  # exactly 10 s after them: they leave the window; refusals never counted
        for i in range(50):
            assert (await client.get("/crm/v3/objects/contacts")).status_code == 200, i
        assert (await client.get("/crm/v3/objects/contacts")).status_code == 429
    assert hs.rate_limited == 3 and hs.requests == 153


async def test_custom_burst_and_unlimited() -> None:
    hs = sandbox()
    async with api(hs, rate_limit=5) as client:
        statuses = [(await client.get("/crm/v3/objects/deals")).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        r = await client.get("/crm/v3/objects/deals")
        assert r.headers["x-hubspot-ratelimit-max"] == "5"
    async with api(hs, rate_limit=False) as client:
        for _ in range(150):
            r = await client.get("/crm/v3/objects/deals", params={"limit": 1})
            assert r.status_code == 200
        assert not any(h in r.headers for h in RATE_HEADERS)


async def test_search_secondly_limit_is_separate_and_headerless() -> None:
    clock = Clock()
    hs = sandbox(now=clock)
    async with api(hs, rate_limit=True) as client:
        for _ in range(5):
            r = await search(client)
            assert r.status_code == 200
            assert not any(h in r.headers for h in RATE_HEADERS)
        r = await search(client)
        assert r.status_code == 429 and not any(h in r.headers for h in RATE_HEADERS)
        body = r.json()
        assert body["message"] == "You have reached your secondly limit."
        assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "SECONDLY" and body["correlationId"]
        r = await client.get("/crm/v3/objects/contacts")  # searches did not use the ten-second window
        assert r.status_code == 200 and r.headers["x-hubspot-ratelimit-remaining"] == "99"
        assert r.headers["x-hubspot-ratelimit-daily-remaining"] == str(250_000 - 6)  # searches count daily
        clock.advance(1)
        assert (await search(client, "companies")).status_code == 200
    async with api(hs, rate_limit=False, search_rate=2) as client:
        assert [(await search(client)).status_code for _ in range(3)] == [200, 200, 429]
    async with api(hs, rate_limit=50) as client:
        assert [(await search(client)).status_code for _ in range(6)][-1] == 429  # search stays 5/s


async def test_daily_limit_resets_at_utc_midnight() -> None:
    clock = Clock(86_400 * 20_000 - 10)  # ten seconds before a UTC midnight
    hs = sandbox(now=clock)
    async with api(hs, rate_limit=True, daily_limit=3) as client:
        assert [(await client.get("/crm/v3/owners")).status_code for _ in range(3)] == [200] * 3
        r = await client.get("/crm/v3/owners")
        assert r.status_code == 429 and r.json()["policyName"] == "DAILY"
        assert r.json()["message"] == "You have reached your daily limit." and r.json()["errorType"] == "RATE_LIMIT"
        assert r.headers["x-hubspot-ratelimit-daily"] == "3"
        assert r.headers["x-hubspot-ratelimit-daily-remaining"] == "0"
        assert (await search(client)).json()["policyName"] == "DAILY"
        clock.advance(10)
        r = await client.get("/crm/v3/owners")
        assert r.status_code == 200 and r.headers["x-hubspot-ratelimit-daily-remaining"] == "2"
    assert hs.rate_limited == 2


# -- owners -----------------------------------------------------------------------------------------------------

async def test_owners() -> None:
    hs = sandbox(owners=25)
    async with api(hs) as client:
        body = (await client.get("/crm/v3/owners")).json()
        assert len(body["results"]) == 25 and "paging" not in body
        owner = body["results"][0]
        assert {"id", "email", "firstName", "lastName", "userId", "createdAt", "updatedAt", "archived",
                "teams"} <= set(owner)
        assert owner["archived"] is False and isinstance(owner["userId"], int) and owner["teams"][0]["name"]
        rows = await walk(client, "/crm/v3/owners", limit=7)
        assert [o["id"] for o in rows] == [o["id"] for o in body["results"]]
        archived = (await client.get("/crm/v3/owners", params={"archived": "true"})).json()["results"]
        assert archived and all(o["archived"] for o in archived)
        assert (await client.get(f"/crm/v3/owners/{owner['id']}")).json() == owner
        r = await client.get("/crm/v3/owners", params={"email": owner["email"]})
        assert r.json()["results"] == [owner]
        owner_ids = {o["id"] for o in body["results"]}
        assert all(r["properties"]["hubspot_owner_id"] in owner_ids | {None}
                   for r in hs.records("contacts"))
    hs = sandbox(owners=600)
    async with api(hs) as client:
        assert len((await client.get("/crm/v3/owners", params={"limit": 1000})).json()["results"]) == 500
        assert len((await client.get("/crm/v3/owners")).json()["results"]) == 100


# -- mutate and speed -------------------------------------------------------------------------------------------

def test_mutate_updates_archives_creates() -> None:
    clock = Clock()
    hs = sandbox(contacts=100, now=clock)
    before = {r["id"]: r for r in hs.records("contacts")}
    clock.advance(1.2345)
    touched = hs.mutate("contacts", updates=20, archives=5, creates=3)
    assert [len(touched[k]) for k in ("updated", "archived", "created")] == [20, 5, 3]
    assert not set(touched["updated"]) & set(touched["archived"])
    stamp = "2026-09-21T14:13:21.234Z"
    for object_id in touched["updated"] + touched["created"]:
        rec = hs.record("contacts", object_id)
        assert rec["updatedAt"] == rec["properties"]["lastmodifieddate"] == stamp
    for object_id in touched["updated"]:
        assert hs.record("contacts", object_id)["properties"] != before[object_id]["properties"]
    assert len(hs.records("contacts")) == 98
    assert all(hs.record("contacts", i)["archivedAt"] == stamp for i in touched["archived"])
    clock.advance(-100)  # a clock stepping back never makes last-modified go back
    hs.update("contacts", touched["updated"][0], {"firstname": "Later"})
    assert hs.record("contacts", touched["updated"][0])["updatedAt"] == stamp
    companies = hs.mutate("companies", updates=3, creates=2)
    assert all(hs.record("companies", i)["properties"]["hs_lastmodifieddate"] == stamp
               for i in companies["updated"] + companies["created"])
    assert len(hs.mutate("deals", updates=10_000)["updated"]) == len(hs.records("deals"))


def test_mutate_is_fast_on_thirty_thousand_contacts() -> None:
    hs = HubSpotSandbox(seed=3, contacts=30_000, companies=100, deals=10, now=Clock())
    started = time.perf_counter()
    touched = hs.mutate("contacts", updates=25_000, archives=50, creates=100)
    assert time.perf_counter() - started < 1.5
    assert len(touched["updated"]) == 25_000 and len(hs.records("contacts")) == 30_050


async def test_listing_and_searching_ten_thousand_contacts_is_quick() -> None:
    hs = HubSpotSandbox(seed=2, contacts=10_000, companies=10, deals=10, now=Clock())
    names = ",".join(hs.stores["contacts"].schema.names)
    async with api(hs) as client:
        started = time.process_time()
        rows = await walk(client, "/crm/v3/objects/contacts", limit=100, properties=names)
        listed = time.process_time() - started
        assert len(rows) == 10_000 and len(rows[0]["properties"]) == len(hs.stores["contacts"].schema.names)
        started = time.process_time()
        after, total = "0", 0
        while True:
            body = orjson.loads((await search(client, limit=200, after=after, properties=names.split(","),
                                              sorts=[{"propertyName": "lastmodifieddate",
                                                      "direction": "ASCENDING"}])).content)
            total += len(body["results"])
            if "paging" not in body:
                break
            after = body["paging"]["next"]["after"]
        searched = time.process_time() - started
    assert total == 10_000
    assert listed < 3.0 and searched < 3.0  # client and sandbox together; the sandbox's share is well under
