"""The shared connector suite: every connector passes the same end-to-end checks, driven through the real
`inlet sync` CLI against its sandbox on loopback.

- a full sync mirrors the seeded sandbox, a re-sync with no remote change writes nothing, and changes and
  deletes made in the sandbox then are picked up exactly;
- kill -9 in the middle of a (deliberately slowed) sync, then a plain re-run, ends equal to an uninterrupted
  run, with no change recorded twice;
- 429 storms and 5xx bursts are survived within bounded retries;
- refused credentials fail at once, naming the source and never the secret.

A `Vendor` says how to point a source at its sandbox, what the sandbox holds, and how to break it.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from sandbox.server import STRIPE_KEY
from tests.conftest import inlet, write_config
from tests.sandbox_api import SandboxAPI
from tests.stores import events, store, sync_killed_at

Key = tuple[str, str]  # (object_type, external_id)


@dataclass
class Vendor:
    name: str
    source_id: str
    sandbox: dict[str, Any]  # SandboxAPI options
    source: Callable[..., dict]  # (api, **extra) -> the source's config
    remote: Callable[[SandboxAPI], dict[Key, Any]]  # what the sandbox holds, as compared
    view: Callable[[str, dict], Any]  # (object_type, stored data) -> the same comparable form
    mutate: Callable[[SandboxAPI], dict[Key, str]]  # changes the sandbox; returns what changed, and how
    bad_credentials: dict[str, str]
    storm: dict[int, tuple[int, bytes]]  # request number -> (status, body): 429s and 5xx at several points
    slow: dict[str, Any] = field(default_factory=dict)  # source settings that make a sync slow enough to kill
    kill_at: int = 300  # records stored when the first sync is killed
    # (path, n): the sandbox holds the requests to path after the first n until the kill, so that a kill seen
    # late on a busy machine still lands mid-sync: in the first sync, and in the one after the changes
    hold_first: tuple[str, int] = ("", 10**9)
    hold_changes: tuple[str, int] = ("", 10**9)
    wrong_secret: str = ""  # the secret of `bad_credentials`, when it sits deeper than its top level (rest: auth)


# -- Stripe ----------------------------------------------------------------------------------------------------
STRIPE_TYPES = {"customers": "customer", "charges": "charge", "invoices": "invoice", "subscriptions": "subscription",
                "products": "product", "prices": "price"}
# Stripe bumps a customer's invoice counter without an event (see test_sync_stripe): not compared here.
STRIPE_UNANNOUNCED = ("next_invoice_sequence",)


def _stripe_view(object_type: str, data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in STRIPE_UNANNOUNCED}


def _stripe_remote(api: SandboxAPI) -> dict[Key, Any]:
    return {(STRIPE_TYPES[name], oid): _stripe_view(STRIPE_TYPES[name], obj)
            for name, coll in api.stripe.collections.items() for oid, obj in coll.by_id.items()}


def _stripe_mutate(api: SandboxAPI) -> dict[Key, str]:
    before = _stripe_remote(api)
    api.stripe.mutate(updates=6, deletes=3, creates=3)
    after = _stripe_remote(api)
    return _expected(before, after)


STRIPE_429 = orjson.dumps({"error": {"type": "invalid_request_error", "code": "rate_limit",
                                     "message": "Too many requests"}})
STRIPE_500 = orjson.dumps({"error": {"type": "api_error", "message": "An unknown error occurred"}})

STRIPE = Vendor(
    "stripe", "billing", {"customers": 120, "rate_limit": False},
    lambda api, **extra: api.stripe_source(**extra), _stripe_remote, _stripe_view, _stripe_mutate,
    {"api_key": "sk_test_wrong_key_4242"},
    {2: (429, STRIPE_429), 3: (429, STRIPE_429), 5: (500, STRIPE_500), 6: (503, b"upstream down"),
     9: (429, STRIPE_429)},
    slow={"rate_limit": 5}, kill_at=100, hold_first=("/v1/charges", 1), hold_changes=("/v1/events", 1))

# -- HubSpot ---------------------------------------------------------------------------------------------------
HUBSPOT_TYPES = {"contacts": "contact", "companies": "company", "deals": "deal"}


def _hubspot_remote(api: SandboxAPI) -> dict[Key, Any]:
    remote: dict[Key, Any] = {(HUBSPOT_TYPES[name], r["id"]): r for name in HUBSPOT_TYPES
                              for r in api.hubspot.records(name)}
    remote.update({("owner", o["id"]): o for o in api.hubspot.owners if not o["archived"]})
    return remote


def _hubspot_mutate(api: SandboxAPI) -> dict[Key, str]:
    before = _hubspot_remote(api)
    api.hubspot.mutate(object_type="contacts", updates=5, archives=2, creates=3)
    api.hubspot.mutate(object_type="companies", updates=2, creates=1)
    api.hubspot.mutate(object_type="deals", updates=1, archives=1)
    return _expected(before, _hubspot_remote(api))


def _hubspot_429(policy: str, message: str) -> bytes:
    return orjson.dumps({"status": "error", "message": message, "errorType": "RATE_LIMIT", "policyName": policy,
                         "correlationId": "00000000-0000-4000-8000-000000000000"})


# The rolling window says how long it is; a short one keeps the storm quick (HubSpot's is 10 s).
SHORT_WINDOW = {"X-HubSpot-RateLimit-Interval-Milliseconds": "300"}
HUBSPOT_ROLLING = _hubspot_429("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")

HUBSPOT = Vendor(
    "hubspot", "crm", {"customers": 300, "rate_limit": False},
    lambda api, **extra: api.hubspot_source(**{"requests_per_10s": 1000, "search_per_second": 100, **extra}),
    _hubspot_remote, lambda t, data: data, _hubspot_mutate,
    {"token": "pat-na1-not-the-right-one-4242"},
    {2: (429, HUBSPOT_ROLLING, SHORT_WINDOW), 3: (429, HUBSPOT_ROLLING, SHORT_WINDOW),
     5: (502, b"<html>Bad Gateway</html>"), 6: (500, orjson.dumps({"status": "error", "message": "internal",
                                                                   "category": "INTERNAL_ERROR"})),
     # the first search: the search endpoints' own per-second limit
     8: (429, orjson.dumps({"status": "error", "message": "You have reached your secondly limit.",
                            "errorType": "RATE_LIMIT", "correlationId": "x"}))},
    slow={"requests_per_10s": 30, "search_per_second": 3}, kill_at=150,
    hold_first=("/crm/v3/objects/contacts", 2), hold_changes=("/crm/v3/objects/companies", 0))

# -- Shopify ---------------------------------------------------------------------------------------------------
SHOPIFY_TYPES = {"customers": "customer", "orders": "order", "products": "product"}
# A few fields of each object and its nested connection's ids: what the connector selects, compared both ways.
SHOPIFY_FIELDS = {"customer": ("id", "email", "firstName", "lastName", "tags", "note", "updatedAt"),
                  "order": ("id", "name", "closed", "closedAt", "cancelledAt", "displayFinancialStatus", "updatedAt"),
                  "product": ("id", "title", "status", "tags", "updatedAt")}
SHOPIFY_NESTED = {"order": "lineItems", "product": "variants"}


def _shopify_view(object_type: str, data: dict) -> dict:
    view = {k: data.get(k) for k in SHOPIFY_FIELDS[object_type]}
    if nested := SHOPIFY_NESTED.get(object_type):
        view[nested] = [item["id"] for item in data.get(nested) or []]
    return view


def _shopify_remote(api: SandboxAPI) -> dict[Key, Any]:
    return {(SHOPIFY_TYPES[kind], o["id"]): _shopify_view(SHOPIFY_TYPES[kind], o)
            for kind in SHOPIFY_TYPES for o in api.shopify.objects(kind)}


def _shopify_mutate(api: SandboxAPI) -> dict[Key, str]:
    # Customers and orders have no deletion events in the GraphQL API (a full refresh finds those): only
    # products are deleted here.
    before = _shopify_remote(api)
    api.shopify.mutate("customers", updates=4, creates=2)
    api.shopify.mutate("orders", updates=3, creates=2)
    api.shopify.mutate("products", updates=2, deletes=2, creates=1)
    return _expected(before, _shopify_remote(api))


def _throttled(available: int) -> bytes:
    return orjson.dumps({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                         "extensions": {"cost": {"requestedQueryCost": 802, "actualQueryCost": None, "throttleStatus": {
                             "maximumAvailable": 2000.0, "currentlyAvailable": available, "restoreRate": 2000.0}}}})


SHOPIFY = Vendor(
    "shopify", "shop", {"customers": 150, "rate_limit": False},
    lambda api, **extra: api.shopify_source(**extra), _shopify_remote, _shopify_view, _shopify_mutate,
    {"access_token": "shpat_not_the_right_one_4242"},
    {2: (200, _throttled(10)), 3: (200, _throttled(50)), 5: (503, b"Service Unavailable"),
     6: (500, orjson.dumps({"errors": "Internal Server Error"})),
     8: (429, orjson.dumps({"errors": "Exceeded 2 calls per second for api client."}), {"Retry-After": "0.5"})},
    slow={"rate_limit": 4}, kill_at=250, hold_first=("/admin/api/", 16), hold_changes=("/admin/api/", 2))

# -- a declared REST source (bridge: rest), reading the Stripe sandbox's customers ---------------------------------
def _rest_source(api: SandboxAPI, **extra) -> dict:
    return {"id": "declared", "name": "Declared", "channel": "billing", "bridge": "rest", "base_url": api.url,
            "auth": {"type": "bearer", "token": STRIPE_KEY}, "rate_limit": {"requests": 1000, "per": "1s"},
            "resources": {"customers": {"path": "/v1/customers", "params": {"limit": 50}, "records": "data",
                                        "paginator": {"type": "starting_after"}}}, **extra}


def _rest_remote(api: SandboxAPI) -> dict[Key, Any]:
    return {("customer", oid): obj for oid, obj in api.stripe.collections["customers"].by_id.items()}


def _rest_mutate(api: SandboxAPI) -> dict[Key, str]:
    before = _rest_remote(api)
    api.stripe.mutate(updates=12, deletes=3, creates=3)
    return _expected(before, _rest_remote(api))


REST = Vendor(
    "stripe", "declared", {"customers": 300, "rate_limit": False}, _rest_source, _rest_remote, lambda t, data: data,
    _rest_mutate, {"auth": {"type": "bearer", "token": "sk_test_wrong_key_4242"}},
    {2: (429, STRIPE_429, {"Retry-After": "0.2"}), 3: (500, STRIPE_500), 5: (503, b"upstream down")},
    slow={"rate_limit": {"requests": 2, "per": "1s"}}, kill_at=100, hold_first=("/v1/customers", 2),
    hold_changes=("/v1/customers", 1), wrong_secret="sk_test_wrong_key_4242")

VENDORS = [STRIPE, HUBSPOT, SHOPIFY, REST]


def _expected(before: dict[Key, Any], after: dict[Key, Any]) -> dict[Key, str]:
    """The objects a sync must record a change of to go from `before` to `after`, and how they changed."""
    expected = {key: "created" for key in after.keys() - before.keys()}
    expected.update({key: "deleted" for key in before.keys() - after.keys()})
    expected.update({key: "updated" for key in after.keys() & before.keys() if after[key] != before[key]})
    return expected


# -- the checks --------------------------------------------------------------------------------------------------
def stored(config: Path, vendor: Vendor) -> dict[Key, Any]:
    rows = store(config, "SELECT object_type, external_id, data::VARCHAR FROM records WHERE NOT deleted")
    return {(t, i): vendor.view(t, orjson.loads(d)) for t, i, d in rows}


def sync(config: Path, vendor: Vendor, *args: str) -> subprocess.CompletedProcess:
    return inlet("sync", vendor.source_id, *args, config=config, timeout=180)


def fresh_config(tmp_path: Path, name: str, source: dict) -> Path:
    directory = tmp_path / name
    directory.mkdir()
    return write_config(directory, [source])


def assert_mirrors(config: Path, api: SandboxAPI, vendor: Vendor) -> None:
    mine, theirs = stored(config, vendor), vendor.remote(api)
    assert mine.keys() == theirs.keys(), (sorted(mine.keys() - theirs.keys())[:5],
                                          sorted(theirs.keys() - mine.keys())[:5])
    for key, value in theirs.items():
        assert mine[key] == value, key


@pytest.fixture(params=VENDORS, ids=lambda v: v.source_id if v.source_id == "declared" else v.name)
def vendor(request) -> Vendor:
    return request.param


@pytest.fixture
def api(vendor: Vendor):
    with SandboxAPI(vendors=(vendor.name,), **vendor.sandbox) as server:
        yield server


def test_full_sync_mirrors_the_sandbox_a_resync_writes_nothing_and_changes_are_picked_up_exactly(tmp_path, vendor,
                                                                                                  api):
    # One test, not two: the changes need a first full sync, which is the one checked here.
    config = fresh_config(tmp_path, "a", vendor.source(api))
    first = sync(config, vendor)
    assert first.returncode == 0, first.stdout + first.stderr
    assert_mirrors(config, api, vendor)
    after_first = events(config)
    assert sum(after_first.values()) == len(vendor.remote(api))
    assert all(kind.endswith(".created") for kind in after_first)
    again = sync(config, vendor)
    assert again.returncode == 0, again.stdout + again.stderr
    assert events(config) == after_first
    assert store(config, "SELECT sum(records_changed) FROM sync_runs WHERE started_at = "
                         "(SELECT max(started_at) FROM sync_runs)")[0][0] == 0

    last = store(config, "SELECT max(event_id)::VARCHAR FROM events")[0][0]
    expected = vendor.mutate(api)
    assert expected, "the mutation changed nothing"
    assert set(expected.values()) == {"created", "updated", "deleted"}
    result = sync(config, vendor)
    assert result.returncode == 0, result.stdout + result.stderr
    changes: dict[Key, list[str]] = {}
    for object_type, external_id, kind in store(config, f"""
            SELECT context->>'object_type', context->>'external_id', split_part(event_type, '.', 2) FROM events
            WHERE event_id > '{last}'::UUID ORDER BY event_id"""):
        changes.setdefault((object_type, external_id), []).append(kind)
    # every object that changed has its changes recorded, and nothing else does (an event-based connector may
    # record several versions of one object; a state-based one records the last)
    assert changes.keys() == expected.keys(), (sorted(changes.keys() - expected.keys())[:5],
                                                sorted(expected.keys() - changes.keys())[:5])
    for key, how in expected.items():
        kinds = changes[key]
        if how == "created":
            assert kinds[0] == "created" and "deleted" not in kinds, (key, kinds)
        elif how == "deleted":
            assert kinds[-1] == "deleted" and "created" not in kinds, (key, kinds)
        else:
            assert set(kinds) == {"updated"}, (key, kinds)
    assert_mirrors(config, api, vendor)


def test_refused_credentials_fail_fast_and_name_the_source(tmp_path, vendor, api):
    secret = vendor.wrong_secret or next(iter(vendor.bad_credentials.values()))
    config = fresh_config(tmp_path, "a", vendor.source(api, **vendor.bad_credentials))
    result = sync(config, vendor)
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert f"credentials of source {vendor.source_id!r} were refused" in out
    assert secret not in out and secret[-4:] not in out
    assert api.faults.requests <= 2  # refused at once, nothing else tried
    assert store(config, "SELECT count(*) FROM sync_state")[0][0] == 0


def test_429_storms_and_5xx_bursts_are_survived(tmp_path, vendor, api):
    config = fresh_config(tmp_path, "a", vendor.source(api))
    api.faults.faults = dict(vendor.storm)
    result = sync(config, vendor)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "retrying" in result.stderr
    assert_mirrors(config, api, vendor)
    # each object's run keeps the slow-down answers it met (the console's sync history shows them)
    answered_429 = int(re.findall(r"([\d,]+) answered 429", result.stdout + result.stderr)[-1].replace(",", ""))
    kept = store(config, "SELECT sum(rate_limited)::BIGINT FROM sync_runs")[0][0]
    assert answered_429 >= 1 and kept >= answered_429


def snapshot(config: Path) -> tuple[dict, Counter, Counter]:
    rows = store(config, "SELECT object_type, external_id, deleted, data::VARCHAR FROM records")
    changes = Counter(dict(store(config, """
        SELECT event_type || ' ' || (context->>'external_id') || ' ' || md5(properties::VARCHAR), count(*)
        FROM events GROUP BY 1""")))
    return {(t, i): (d, data) for t, i, d, data in rows}, events(config), changes


def paced(config: Path, source: dict) -> Path:
    """The same source and store, with other settings: the killed runs go slowly, the re-runs need not."""
    data = yaml.safe_load(config.read_text())
    data["sources"] = [source]
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def test_kill_9_mid_sync_then_resume_equals_an_uninterrupted_run(tmp_path, vendor, api):
    slow, fast = vendor.source(api, **vendor.slow), vendor.source(api)
    whole = fresh_config(tmp_path, "whole", fast)
    killed = fresh_config(tmp_path, "killed", slow)
    assert sync(whole, vendor).returncode == 0
    sync_killed_at(killed, vendor.source_id, "SELECT count(*) FROM records", vendor.kill_at,
                   hold=(api.faults, *vendor.hold_first))
    rerun = sync(paced(killed, fast), vendor)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    a, b = snapshot(whole), snapshot(killed)
    assert a[0] == b[0] and a[1] == b[1]
    assert max(b[2].values()) == 1  # no change recorded twice

    vendor.mutate(api)
    assert sync(whole, vendor).returncode == 0
    changed = events(killed).total()
    sync_killed_at(paced(killed, slow), vendor.source_id, f"SELECT count(*) - {changed} FROM events", 1,
                   hold=(api.faults, *vendor.hold_changes))
    rerun = sync(paced(killed, fast), vendor)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    a, b = snapshot(whole), snapshot(killed)
    assert a[0] == b[0] and a[1] == b[1]
    assert max(b[2].values()) == 1
