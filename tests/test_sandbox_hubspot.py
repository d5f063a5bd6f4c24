"""The HubSpot sandbox's auth, errors, routing, record lists and reads, and properties API (VENDOR_FACTS 1 and 4)."""

from __future__ import annotations

import uuid

import pytest

from sandbox.hubspot import HubSpotSandbox
from sandbox.hubspot.properties import DEFAULTS
from tests.clocks import Clock
from tests.hubspot_sandbox import CONTACT_DEFAULTS, ISO, api, sandbox, walk

# -- auth, errors, routing --------------------------------------------------------------------------------------

async def test_missing_or_wrong_token_is_401_with_hubspot_body() -> None:
    hs = sandbox()
    for token in (None, "pat-na1-wrong"):
        async with api(hs, token=token, rate_limit=True) as client:
            r = await client.get("/crm/v3/objects/contacts")
        assert r.status_code == 401
        body = r.json()
        assert body["status"] == "error" and body["category"] == "INVALID_AUTHENTICATION"
        assert body["message"].startswith("Authentication credentials not found.")
        uuid.UUID(body["correlationId"])
        assert r.headers["x-hubspot-correlation-id"] == body["correlationId"]
        assert "x-hubspot-ratelimit-remaining" not in r.headers
    assert hs.requests == 2


async def test_unknown_paths_types_and_methods() -> None:
    async with api(sandbox()) as client:
        r = await client.get("/crm/v3/nothing/here")
        assert r.status_code == 404 and r.json()["status"] == "error" and r.json()["category"] == "OBJECT_NOT_FOUND"
        r = await client.get("/v1/customers")
        assert r.status_code == 404 and "correlationId" in r.json()
        r = await client.get("/crm/v3/objects/widgets")
        assert r.status_code == 400 and r.json()["message"] == "Unable to infer object type from: widgets"
        assert (await client.put("/crm/v3/objects/contacts")).status_code == 405
        r = await client.post("/crm/v3/objects/contacts/search", content=b"{nope")
        assert r.status_code == 400 and r.json()["message"].startswith("Invalid input JSON on line 1")


async def test_missing_record_is_object_not_found_with_two_spaces() -> None:
    async with api(sandbox()) as client:
        r = await client.get("/crm/v3/objects/contacts/999")
        assert r.status_code == 404
        assert r.json()["message"] == "Object not found.  objectId are usually numeric."
        assert r.json()["category"] == "OBJECT_NOT_FOUND" and r.json()["context"] == {"id": ["999"]}
        assert (await client.get("/crm/v3/objects/contacts/abc")).status_code == 404


async def test_uri_too_long_is_a_plain_414() -> None:
    hs = sandbox()
    async with api(hs, max_url=2000) as client:
        path = "/crm/v3/objects/contacts?properties="
        r = await client.get(path + "x" * (2000 - len(path)))
        assert r.status_code == 200
        r = await client.get(path + "x" * (2001 - len(path)))
        assert r.status_code == 414 and r.headers["content-type"].startswith("text/html")
        assert b"414" in r.content and not r.content.startswith(b"{")
    async with api(hs) as client:  # the default ceiling: 16 KB
        assert (await client.get("/crm/v3/objects/contacts", params={"properties": "a" * 16_400})).status_code == 414


# -- records and list -------------------------------------------------------------------------------------------

async def test_list_defaults_envelope_and_clamp() -> None:
    hs = sandbox()
    async with api(hs) as client:
        body = (await client.get("/crm/v3/objects/contacts")).json()
        assert len(body["results"]) == 10
        rec = body["results"][0]
        assert set(rec) == {"id", "properties", "createdAt", "updatedAt", "archived"}
        assert set(rec["properties"]) == CONTACT_DEFAULTS
        assert rec["properties"]["hs_object_id"] == rec["id"] and rec["id"].isdigit()
        assert rec["properties"]["lastmodifieddate"] == rec["updatedAt"] and ISO.match(rec["updatedAt"])
        assert rec["properties"]["createdate"] == rec["createdAt"] and rec["archived"] is False
        assert body["paging"]["next"]["link"].startswith("https://api.hubapi.com/crm/v3/objects/contacts?")
        assert "after=" in body["paging"]["next"]["link"]
        assert len((await client.get("/crm/v3/objects/contacts", params={"limit": 500})).json()["results"]) == 60
    async with api(sandbox(contacts=250)) as client:
        assert len((await client.get("/crm/v3/objects/0-1", params={"limit": 500})).json()["results"]) == 100
        assert (await client.get("/crm/v3/objects/contacts", params={"limit": "x"})).status_code == 400
        companies = (await client.get("/crm/v3/objects/companies")).json()["results"]
        assert set(companies[0]["properties"]) == {"name", "domain", "createdate", "hs_lastmodifieddate",
                                                   "hs_object_id"}
        deals = (await client.get("/crm/v3/objects/0-3")).json()["results"]
        assert set(deals[0]["properties"]) == {"dealname", "amount", "closedate", "pipeline", "dealstage",
                                               "createdate", "hs_lastmodifieddate", "hs_object_id"}
        assert deals[0]["properties"]["hs_lastmodifieddate"] == deals[0]["updatedAt"]


async def test_list_walk_is_ascending_and_complete_with_requested_properties() -> None:
    hs = sandbox(contacts=95)
    async with api(hs) as client:
        rows = await walk(client, "/crm/v3/objects/contacts", limit=20, properties="email,jobtitle,nonexistent")
        ids = [int(r["id"]) for r in rows]
        assert ids == sorted(ids) and len(ids) == 95
        assert all(set(r["properties"]) == {"email", "jobtitle", "createdate", "hs_object_id", "lastmodifieddate"}
                   for r in rows)
        assert any(r["properties"]["jobtitle"] is None for r in rows)  # unset but asked for: null
        r = await client.get("/crm/v3/objects/contacts?properties=phone&properties=city,zip&limit=1")
        assert {"phone", "city", "zip"} <= set(r.json()["results"][0]["properties"])
        last = await client.get("/crm/v3/objects/contacts", params={"limit": 100})
        assert "paging" not in last.json()


async def test_keyset_cursor_survives_changes() -> None:
    hs = sandbox(contacts=50)
    async with api(hs) as client:
        first = (await client.get("/crm/v3/objects/contacts", params={"limit": 20})).json()
        after = first["paging"]["next"]["after"]
        page_two = (await client.get("/crm/v3/objects/contacts", params={"limit": 20, "after": after})).json()
        ids_two = [r["id"] for r in page_two["results"]]
        # Records before the cursor are archived, one on the next page too; others change; new ones appear.
        for r in first["results"][:5]:
            hs.archive("contacts", r["id"])
        hs.archive("contacts", ids_two[3])
        hs.update("contacts", ids_two[0], {"jobtitle": "CEO"})
        created = hs.mutate("contacts", creates=3)["created"]
        # The stored cursor resumes exactly where page two began: nothing before it, nothing skipped.
        live = [r["id"] for r in hs.records("contacts")]
        expected = [i for i in live if int(i) >= int(ids_two[0])][:20]
        again = (await client.get("/crm/v3/objects/contacts", params={"limit": 20, "after": after})).json()
        assert [r["id"] for r in again["results"]] == expected
        assert expected[:19] == [i for i in ids_two if i != ids_two[3]]
        rest = await walk(client, "/crm/v3/objects/contacts", limit=20, after=after)
        assert [r["id"] for r in rest][-3:] == created
        assert ids_two[3] not in {r["id"] for r in rest}


async def test_get_one_by_id_email_and_archived() -> None:
    hs = sandbox()
    rec = hs.records("contacts")[4]
    async with api(hs) as client:
        r = await client.get(f"/crm/v3/objects/contacts/{rec['id']}", params={"properties": "phone,city"})
        assert r.status_code == 200 and r.json()["properties"]["city"] == rec["properties"]["city"]
        r = await client.get(f"/crm/v3/objects/contacts/{rec['properties']['email'].upper()}",
                             params={"idProperty": "email"})
        assert r.json()["id"] == rec["id"]
        hs.archive("contacts", rec["id"])
        assert (await client.get(f"/crm/v3/objects/contacts/{rec['id']}")).status_code == 404
        r = await client.get(f"/crm/v3/objects/contacts/{rec['id']}", params={"archived": "true"})
        assert r.json()["archived"] is True and ISO.match(r.json()["archivedAt"])


async def test_archived_list_holds_only_archived() -> None:
    hs = sandbox()
    touched = hs.mutate("contacts", archives=4)
    async with api(hs) as client:
        rows = await walk(client, "/crm/v3/objects/contacts", archived="true")
        assert sorted(r["id"] for r in rows) == sorted(touched["archived"])
        assert all(r["archived"] and r["archivedAt"] == r["updatedAt"] for r in rows)
        live = await walk(client, "/crm/v3/objects/contacts", limit=100)
        assert len(live) == 56 and not set(touched["archived"]) & {r["id"] for r in live}
    hs.restore("contacts", touched["archived"][0])
    assert len(hs.records("contacts")) == 57


async def test_values_are_strings_or_null_and_last_modified_matches() -> None:
    hs = sandbox(contacts=80)
    for object_type, lastmod in (("contacts", "lastmodifieddate"), ("companies", "hs_lastmodifieddate"),
                                 ("deals", "hs_lastmodifieddate")):
        rows = hs.records(object_type)
        assert rows
        names = {p.name for p in DEFAULTS[object_type]}
        for row in rows:
            assert all(v is None or isinstance(v, str) for v in row["properties"].values())
            assert names <= set(row["properties"])
            assert row["properties"][lastmod] == row["updatedAt"]
            assert row["properties"]["hs_object_id"] == row["id"]
    emails = [r["properties"]["email"] for r in hs.records("contacts")]
    assert len(set(emails)) == len(emails)
    deals = hs.records("deals")
    assert all(d["properties"]["hs_is_closed"] in ("true", "false") for d in deals)
    assert all(float(d["properties"]["amount"]) > 0 for d in deals)
    epoch = [p for p in hs.stores["contacts"].schema.props.values() if p.epoch]
    assert epoch and any((r["properties"][epoch[0].name] or "x").isdigit() for r in hs.records("contacts"))
    assert HubSpotSandbox(seed=7, contacts=80, now=Clock()).records("deals") == deals  # deterministic


@pytest.mark.parametrize("object_type", ["contacts", "0-2", "deal"])
def test_type_aliases(object_type: str) -> None:
    hs = sandbox(contacts=8)
    assert hs.records(object_type) == hs.records(hs.store(object_type).kind.name)


# -- properties API ---------------------------------------------------------------------------------------------

async def test_properties_api() -> None:
    hs = sandbox(extra_properties=25)
    async with api(hs) as client:
        results = (await client.get("/crm/v3/properties/contacts")).json()["results"]
        assert len(results) == len(DEFAULTS["contacts"]) + 25
        keys = {"name", "label", "type", "fieldType", "groupName", "description", "hidden", "hasUniqueValue",
                "calculated", "externalOptions", "modificationMetadata", "options"}
        assert all(keys <= set(p) for p in results)
        by_name = {p["name"]: p for p in results}
        assert by_name["hs_object_id"]["modificationMetadata"]["readOnlyValue"] is True
        assert by_name["lastmodifieddate"]["type"] == "datetime"
        assert {o["value"] for o in by_name["lifecyclestage"]["options"]} >= {"lead", "customer"}
        custom = results[len(DEFAULTS["contacts"]):]
        assert all(30 <= len(p["name"]) <= 50 for p in custom)
        assert (await client.get("/crm/v3/properties/0-2")).json()["results"][0]["name"] == "createdate"
        one = await client.get("/crm/v3/properties/deals/dealstage")
        assert one.json()["type"] == "enumeration"
        assert (await client.get("/crm/v3/properties/deals/nope")).status_code == 404
        assert (await client.get("/crm/v3/properties/contacts", params={"archived": "true"})).json() == {
            "results": []}
    rows = hs.records("contacts")
    share = sum(r["properties"][p["name"]] is not None for r in rows for p in custom) / (len(rows) * 25)
    assert share < 0.3  # most custom values are null


def test_six_hundred_properties_outgrow_a_url() -> None:
    hs = HubSpotSandbox(seed=1, contacts=5, extra_properties=600, now=Clock())
    names = hs.stores["contacts"].schema.names
    assert len(names) == len(DEFAULTS["contacts"]) + 600 and len(set(names)) == len(names)
    assert len(",".join(names)) > 16_384
