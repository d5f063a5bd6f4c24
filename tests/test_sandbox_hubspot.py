"""The HubSpot sandbox behaves as VENDOR_FACTS sections 1 and 4 describe HubSpot, driven through its ASGI app."""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import orjson
import pytest

import sandbox.hubspot.search as search_module
from sandbox.hubspot import HUBSPOT_TOKEN, HubSpotSandbox, create_app
from sandbox.hubspot.properties import DEFAULTS

T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z
CONTACT_DEFAULTS = {"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"}
RATE_HEADERS = ("x-hubspot-ratelimit-daily", "x-hubspot-ratelimit-daily-remaining",
                "x-hubspot-ratelimit-interval-milliseconds", "x-hubspot-ratelimit-max", "x-hubspot-ratelimit-remaining")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@asynccontextmanager
async def api(hs: HubSpotSandbox, token: str | None = HUBSPOT_TOKEN, **app_args) -> AsyncIterator[httpx.AsyncClient]:
    app_args.setdefault("rate_limit", False)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=create_app(hs, **app_args))
    async with httpx.AsyncClient(transport=transport, base_url="https://api.hubapi.com", headers=headers) as client:
        yield client


def sandbox(contacts: int = 60, **kwargs) -> HubSpotSandbox:
    kwargs.setdefault("now", Clock())
    return HubSpotSandbox(seed=7, contacts=contacts, **kwargs)


def ms(t: float) -> int:
    return int(t * 1000)


async def walk(client: httpx.AsyncClient, path: str, **params) -> list[dict]:
    out: list[dict] = []
    while True:
        r = await client.get(path, params=params)
        assert r.status_code == 200, r.text
        body = orjson.loads(r.content)
        out += body["results"]
        if "paging" not in body:
            return out
        params["after"] = body["paging"]["next"]["after"]


async def search(client: httpx.AsyncClient, object_type: str = "contacts", **body) -> httpx.Response:
    return await client.post(f"/crm/v3/objects/{object_type}/search", json=body)


def flt(name: str, op: str, value=None, **extra) -> dict:
    spec = {"propertyName": name, "operator": op, **extra}
    if value is not None:
        spec["value"] = value
    return spec


def groups(*filters: dict) -> list[dict]:
    return [{"filters": list(filters)}]


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


# -- search -----------------------------------------------------------------------------------------------------

async def test_search_default_shape_and_paging() -> None:
    hs = sandbox(contacts=45)
    async with api(hs) as client:
        r = await search(client)
        body = r.json()
        assert body["total"] == 45 and len(body["results"]) == 10
        assert set(body["results"][0]["properties"]) == CONTACT_DEFAULTS
        assert body["paging"]["next"]["after"] == "10"
        seen = []
        after = "0"
        while True:
            body = (await search(client, limit=20, after=after, properties=["city"])).json()
            seen += [int(x["id"]) for x in body["results"]]
            if "paging" not in body:
                break
            after = body["paging"]["next"]["after"]
        assert seen == sorted(seen) and len(seen) == 45 and after == "40"
        assert "city" in body["results"][0]["properties"]
        assert (await search(client, limit=200)).status_code == 200
        r = await search(client, limit=201)
        assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"


async def test_search_ten_thousand_cap() -> None:
    async with api(sandbox(contacts=30)) as client:
        assert (await search(client, after="9800", limit=200)).status_code == 200
        for after, limit in (("9900", 200), ("10000", 1), ("9995", 10)):
            r = await search(client, after=after, limit=limit)
            assert r.status_code == 400, (after, limit)
            assert r.json()["category"] == "VALIDATION_ERROR" and "10000" in r.json()["message"]


async def test_search_operators() -> None:
    hs = sandbox(contacts=60)
    rows = hs.records("contacts")
    target = rows[7]
    ids = [int(r["id"]) for r in rows]
    async with api(hs) as client:
        async def found(*filters: dict, object_type: str = "contacts") -> list[int]:
            r = await search(client, object_type, filterGroups=groups(*filters), limit=200)
            assert r.status_code == 200, r.text
            return [int(x["id"]) for x in r.json()["results"]]

        assert await found(flt("email", "EQ", target["properties"]["email"].upper())) == [int(target["id"])]
        assert len(await found(flt("email", "NEQ", target["properties"]["email"]))) == 59
        mid = ids[30]
        assert await found(flt("hs_object_id", "LT", str(mid))) == ids[:30]
        assert await found(flt("hs_object_id", "LTE", mid)) == ids[:31]
        assert await found(flt("hs_object_id", "GT", str(mid))) == ids[31:]
        assert await found(flt("hs_object_id", "GTE", str(mid))) == ids[30:]
        assert await found(flt("hs_object_id", "GT", "99999")) == ids  # numeric, not "100..." < "99999"
        assert await found(flt("hs_object_id", "BETWEEN", str(ids[2]), highValue=str(ids[5]))) == ids[2:6]
        assert await found(flt("hs_object_id", "IN", values=[str(ids[1]), str(ids[9])])) == [ids[1], ids[9]]
        assert len(await found(flt("hs_object_id", "NOT_IN", values=[str(ids[1])]))) == 59
        with_title = [int(r["id"]) for r in rows if r["properties"]["jobtitle"] is not None]
        assert await found(flt("jobtitle", "HAS_PROPERTY")) == with_title
        assert len(await found(flt("jobtitle", "NOT_HAS_PROPERTY"))) == 60 - len(with_title)
        assert await found(flt("nonexistent_property", "EQ", "x")) == []
        first = target["properties"]["firstname"]
        assert int(target["id"]) in await found(flt("firstname", "CONTAINS_TOKEN", first[:2] + "*"))
        r = await search(client, filterGroups=groups(flt("hs_object_id", "BETWEEN", "1")))
        assert r.status_code == 400 and "highValue" in r.json()["message"]
        assert (await search(client, filterGroups=groups(flt("email", "LIKE", "x")))).status_code == 400
        r = await search(client, query=target["properties"]["email"], limit=200)
        assert int(target["id"]) in [int(x["id"]) for x in r.json()["results"]] and r.json()["total"] < 5
        word = first[:3].lower()  # free text: a prefix of a word in the name, email, phone or company

        def words(row: dict) -> list[str]:
            fields = ("firstname", "lastname", "email", "phone", "company")
            return re.split(r"[\W_]+", " ".join(row["properties"][f] or "" for f in fields).lower())

        r = await search(client, query=word, limit=200)
        assert {x["id"] for x in r.json()["results"]} == {
            x["id"] for x in rows if any(w.startswith(word) for w in words(x))}


async def test_search_dates_compare_as_instants() -> None:
    clock = Clock()
    hs = sandbox(contacts=40, now=clock)
    rows = hs.records("contacts")
    pivot = sorted(r["updatedAt"] for r in rows)[20]
    pivot_ms = ms(datetime.fromisoformat(pivot).timestamp())
    async with api(hs) as client:
        results = []
        for value in (pivot, str(pivot_ms), pivot_ms):
            r = await search(client, filterGroups=groups(flt("lastmodifieddate", "GTE", value)), limit=100)
            results.append({x["id"] for x in r.json()["results"]})
        assert results[0] == results[1] == results[2] and len(results[0]) == 20
        deals = hs.records("deals")
        closing = [d for d in deals if d["properties"]["closedate"]]
        cut = sorted(d["properties"]["closedate"] for d in closing)[len(closing) // 2]
        r = await search(client, "deals", filterGroups=groups(flt("closedate", "LT", cut)), limit=100)
        assert r.json()["total"] == sum(d["properties"]["closedate"] < cut for d in closing)
        r = await search(client, "deals", filterGroups=groups(flt("amount", "GT", "50000")), limit=100)
        assert r.json()["total"] == sum(float(d["properties"]["amount"]) > 50000 for d in deals)


async def test_search_groups_or_filters_and_caps() -> None:
    hs = sandbox(contacts=30)
    ids = [r["id"] for r in hs.records("contacts")]
    async with api(hs) as client:
        two = [{"filters": [flt("hs_object_id", "EQ", ids[0])]}, {"filters": [flt("hs_object_id", "EQ", ids[5])]}]
        assert [x["id"] for x in (await search(client, filterGroups=two)).json()["results"]] == [ids[0], ids[5]]
        both = groups(flt("hs_object_id", "GTE", ids[3]), flt("hs_object_id", "LTE", ids[4]))
        assert (await search(client, filterGroups=both)).json()["total"] == 2
        ok = [{"filters": [flt("hs_object_id", "HAS_PROPERTY")] * 6}] * 3
        assert (await search(client, filterGroups=ok)).status_code == 200
        too_many_groups = [{"filters": [flt("hs_object_id", "HAS_PROPERTY")]}] * 6
        too_many_in_group = [{"filters": [flt("hs_object_id", "HAS_PROPERTY")] * 7}]
        too_many_total = [{"filters": [flt("hs_object_id", "HAS_PROPERTY")] * 5}] * 4
        for bad in (too_many_groups, too_many_in_group, too_many_total):
            r = await search(client, filterGroups=bad)
            assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"


async def test_search_sort_and_stable_ties() -> None:
    clock = Clock()
    hs = sandbox(contacts=30, now=clock)
    clock.advance(60)
    bulk = hs.mutate("contacts", updates=12)["updated"]  # one millisecond for all twelve
    async with api(hs) as client:
        for direction in ("ASCENDING", "DESCENDING"):
            r = await search(client, sorts=[{"propertyName": "lastmodifieddate", "direction": direction}],
                             limit=100)
            got = r.json()["results"]
            stamps = [x["updatedAt"] for x in got]
            assert stamps == sorted(stamps, reverse=direction == "DESCENDING")
            tied = [x["id"] for x in got if x["id"] in bulk]
            assert tied == sorted(bulk, key=int)  # ties by id ascending in either direction
        r = await search(client, sorts=["-createdate"], limit=100)
        created = [x["createdAt"] for x in r.json()["results"]]
        assert created == sorted(created, reverse=True)
        for direction in ("ASCENDING", "DESCENDING"):
            r = await search(client, sorts=[{"propertyName": "jobtitle", "direction": direction}], limit=100,
                             properties=["jobtitle"])
            titles = [x["properties"]["jobtitle"] for x in r.json()["results"]]
            named = [t for t in titles if t is not None]
            assert titles == named + [None] * (30 - len(named))  # records without the property come last
            assert [t.lower() for t in named] == sorted((t.lower() for t in named),
                                                        reverse=direction == "DESCENDING")


async def test_search_never_shows_archived_and_honours_lag() -> None:
    clock = Clock()
    hs = sandbox(contacts=20, now=clock, search_lag=5.0)
    rows = hs.records("contacts")
    async with api(hs) as client:
        assert (await search(client, limit=100)).json()["total"] == 20
        clock.advance(1)
        created = hs.mutate("contacts", creates=1)["created"][0]
        hs.update("contacts", rows[0]["id"], {"jobtitle": "Chief Lag Officer"})
        hs.archive("contacts", rows[1]["id"])
        body = (await search(client, limit=100, properties=["jobtitle"])).json()
        by_id = {x["id"]: x for x in body["results"]}
        assert created not in by_id and body["total"] == 20  # not indexed yet
        assert by_id[rows[0]["id"]]["properties"]["jobtitle"] == rows[0]["properties"]["jobtitle"]  # stale
        assert by_id[rows[0]["id"]]["updatedAt"] == rows[0]["updatedAt"]
        assert rows[1]["id"] in by_id  # the archive is not visible yet either
        clock.advance(5)
        body = (await search(client, limit=100, properties=["jobtitle"])).json()
        by_id = {x["id"]: x for x in body["results"]}
        assert created in by_id and rows[1]["id"] not in by_id and body["total"] == 20
        assert by_id[rows[0]["id"]]["properties"]["jobtitle"] == "Chief Lag Officer"


async def test_bulk_millisecond_pages_by_id_and_index_matches_a_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    hs = sandbox(contacts=3000, now=clock)
    clock.advance(2)
    bulk = hs.mutate("contacts", updates=2500)["updated"]
    stamp = str(ms(clock()))
    async with api(hs) as client:
        got, last = [], None
        while True:  # a bulk millisecond read in id order: EQ the time, hs_object_id GT the last id read
            filters = [flt("lastmodifieddate", "EQ", stamp)] + ([flt("hs_object_id", "GT", last)] if last else [])
            body = (await search(client, filterGroups=groups(*filters), limit=200,
                                 sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}])).json()
            got += [x["id"] for x in body["results"]]
            if "paging" not in body:
                break
            last = body["results"][-1]["id"]
        assert got == sorted(bulk, key=int)

        # Queries bounded on last-modified read a slice of a time index; they must equal a full scan.
        rng = random.Random(3)
        stamps = sorted({r["updatedAt"] for r in hs.records("contacts")})
        ids = [r["id"] for r in hs.records("contacts")]
        sorts = [[], [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}],
                 [{"propertyName": "lastmodifieddate"}], ["hs_object_id"], ["-email"]]
        combos = [(op, sort, extra) for op in ("GTE", "GT", "LT", "LTE", "EQ", "BETWEEN") for sort in sorts
                  for extra in ("", "id", "other")]
        for op, sort, extra in combos:
            a, b = sorted(rng.sample(stamps, 2))
            filters = [flt("lastmodifieddate", op, rng.choice([a, stamp]), **({"highValue": b} if op == "BETWEEN"
                                                                               else {}))]
            if extra == "id":
                filters.append(flt("hs_object_id", rng.choice(["GT", "GTE"]), rng.choice(ids)))
            if extra == "other":
                filters.append(flt("lifecyclestage", "NEQ", "lead"))
            request = {"filterGroups": groups(*filters), "limit": 200, "after": rng.choice([0, 200]), "sorts": sort}
            indexed = (await search(client, **request)).json()
            with monkeypatch.context() as patch:
                patch.setattr(search_module, "_span", lambda *args: None)
                hs.store("contacts").search_cache.clear()  # not the indexed answer again
                scanned = (await search(client, **request)).json()
            assert indexed == scanned, request
            if rng.random() < 0.1:
                clock.advance(0.5)
                hs.mutate("contacts", updates=40, archives=2, creates=2)


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


@pytest.mark.parametrize("object_type", ["contacts", "0-2", "deal"])
def test_type_aliases(object_type: str) -> None:
    hs = sandbox(contacts=8)
    assert hs.records(object_type) == hs.records(hs.store(object_type).kind.name)
