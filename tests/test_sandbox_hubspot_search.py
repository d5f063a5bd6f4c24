"""The HubSpot sandbox's CRM search: paging, operators, dates, groups, sorts, index lag and the time index."""

from __future__ import annotations

import random
import re
from datetime import datetime

import pytest

import sandbox.hubspot.search as search_module
from tests.clocks import Clock
from tests.hubspot_sandbox import CONTACT_DEFAULTS, api, sandbox, search


def ms(t: float) -> int:
    return int(t * 1000)


def flt(name: str, op: str, value=None, **extra) -> dict:
    spec = {"propertyName": name, "operator": op, **extra}
    if value is not None:
        spec["value"] = value
    return spec


def groups(*filters: dict) -> list[dict]:
    return [{"filters": list(filters)}]


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
