"""End to end: `inlet sync` against the HubSpot sandbox on loopback, for what is HubSpot's own: every property
of a portal with hundreds of them and never a 414, an incremental window of 12,000 changes past the search
API's 10,000-result cap, archived records, the full refresh, the documented limits kept, the daily limit."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import orjson

from sandbox.hubspot.search import RESULT_CAP
from tests.conftest import inlet, write_config
from tests.sandbox_api import SandboxAPI
from tests.stores import events, store

FAST = {"requests_per_10s": 1000, "search_per_second": 100}  # the sandbox's limits are off in these tests


def sync(config: Path, *args: str):
    return inlet("sync", "crm", *args, config=config, timeout=240)


def contacts(config: Path) -> dict[str, tuple[bool, dict]]:
    rows = store(config, "SELECT external_id, deleted, data::VARCHAR FROM records WHERE object_type = 'contact'")
    return {i: (d, orjson.loads(data)) for i, d, data in rows}


def test_every_property_of_a_portal_with_hundreds_never_meets_a_414(tmp_path):
    with SandboxAPI(vendors=("hubspot",), customers=250, rate_limit=False,
                    hubspot={"extra_properties": 600}) as api:
        names = api.hubspot.store("contacts").schema.names
        assert len(",".join(names)) > 16_384  # more than the sandbox (and HubSpot's front) takes in a URL
        config = write_config(tmp_path, [api.hubspot_source(objects=["contacts"], **FAST)])
        result = sync(config)
        assert result.returncode == 0, result.stdout + result.stderr
        stored = contacts(config)
        assert {i: data for i, (_, data) in stored.items()} == {r["id"]: r for r in api.hubspot.records("contacts")}
        assert all(set(data["properties"]) == set(names) for _, data in stored.values())


def test_12000_changes_in_one_window_are_all_read_despite_the_search_cap(tmp_path):
    # More changes than the cap (an offset pager fails at result 10,000), a few contacts left unchanged; Stripe,
    # which these tests do not read, is not seeded with the contacts' count.
    with SandboxAPI(vendors=("hubspot",), customers=0, contacts=13_000, rate_limit=False) as api:
        config = write_config(tmp_path, [api.hubspot_source(objects=["contacts"], **FAST)])
        assert sync(config).returncode == 0
        before = events(config)
        changed = api.hubspot.mutate("contacts", updates=12_000)["updated"]
        assert len(changed) == 12_000 > RESULT_CAP
        result = sync(config)
        assert result.returncode == 0, result.stdout + result.stderr
        assert events(config) - before == Counter({"contact.updated": 12_000})
        updated = store(config, """SELECT DISTINCT context->>'external_id' FROM events
                                   WHERE event_type = 'contact.updated'""")
        assert {u for (u,) in updated} == set(changed)
        stored = contacts(config)
        assert all(stored[r["id"]][1] == r for r in api.hubspot.records("contacts"))
        mode = store(config, "SELECT mode FROM sync_runs ORDER BY started_at DESC LIMIT 1")[0][0]
        assert mode == "search"


def test_archived_records_are_marked_deleted_and_a_full_refresh_finds_the_rest(tmp_path):
    with SandboxAPI(vendors=("hubspot",), customers=120, rate_limit=False) as api:
        config = write_config(tmp_path, [api.hubspot_source(**FAST)])
        assert sync(config).returncode == 0
        archived = api.hubspot.mutate("contacts", archives=3)["archived"]
        api.hubspot.mutate("deals", archives=1)
        before = events(config)
        assert sync(config).returncode == 0
        assert events(config) - before == Counter({"contact.deleted": 3, "deal.deleted": 1})
        stored = contacts(config)
        for i in archived:
            deleted, data = stored[i]
            assert deleted and data["properties"]["email"]  # the last state is kept
        # a full refresh reads only live records: what it does not meet is deleted
        gone = api.hubspot.records("contacts")[0]["id"]
        api.hubspot.archive("contacts", gone)
        refresh = sync(config, "--full-refresh")
        assert refresh.returncode == 0, refresh.stdout
        assert contacts(config)[gone][0] is True
        live = {i for i, (deleted, _) in contacts(config).items() if not deleted}
        assert live == {r["id"] for r in api.hubspot.records("contacts")}


def test_the_documented_limits_are_kept_without_a_429(tmp_path):
    # The sandbox enforces a rolling 20 per 10 s (a small portal's 100, scaled down to keep the test short); the
    # source says 20 and keeps the search default, the documented 5 searches per second. Those are refereed here
    # from the searches' arrival times, allowing 0.1 s for the way: the sandbox's own exact 1 s window refuses a
    # search that left in time but waited for a CPU on a busy machine (the client keeps a 30 ms margin), which
    # made this test fail now and then under load.
    with SandboxAPI(vendors=("hubspot",), customers=0, contacts=2_000, rate_limit=True,
                    hubspot_app_options={"rate_limit": 20, "search_rate": 1_000}) as api:
        config = write_config(tmp_path, [api.hubspot_source(objects=["contacts", "owners"], requests_per_10s=20)])
        first = sync(config)
        assert first.returncode == 0, first.stdout + first.stderr
        api.hubspot.mutate("contacts", updates=1_500)
        second_began = time.monotonic()
        second = sync(config)
        assert second.returncode == 0, second.stdout + second.stderr
        for result in (first, second):
            assert "0 answered 429" in result.stdout
        assert api.hubspot.rate_limited == 0
        assert float(first.stdout.rsplit("done in ", 1)[1].split()[0]) >= 10  # 24 requests: a second window
        # each process keeps its own limiter: the first sync's last search is not counted with the second's
        searches = [t for t, path in api.faults.arrivals if path.endswith("/search") and t > second_began]
        assert len(searches) >= 8  # 1,500 changes, 200 a page
        fastest = min(later - earlier for earlier, later in zip(searches, searches[5:], strict=False))
        assert fastest >= 0.9, f"6 searches arrived within {fastest:.2f} s"


def test_the_daily_limit_stops_the_run_with_a_clear_message(tmp_path):
    with SandboxAPI(vendors=("hubspot",), customers=300, rate_limit=False,
                    hubspot_app_options={"daily_limit": 3}) as api:
        config = write_config(tmp_path, [api.hubspot_source(**FAST)])
        result = sync(config)
        assert result.returncode == 1
        assert "daily request limit" in result.stdout
        runs = store(config, "SELECT object_type, status FROM sync_runs ORDER BY started_at")
        assert runs == [("contact", "failed")]  # the other objects are not tried
        assert api.hubspot.requests == 4  # three answered, one refused, then nothing
