"""End to end: the real `inlet sync` CLI against the Stripe sandbox on loopback."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import orjson
import pytest

from tests.conftest import inlet, write_config
from tests.sandbox_api import SandboxAPI

OBJECT_TYPES = {"customers": "customer", "charges": "charge", "invoices": "invoice",
                "subscriptions": "subscription", "products": "product", "prices": "price"}


@pytest.fixture
def api():
    with SandboxAPI(customers=250, rate_limit=False) as server:
        yield server


def sync(config: Path, *args: str):
    return inlet("sync", "billing", *args, config=config, timeout=120)


def store(config: Path, query: str, params=None) -> list[tuple]:
    with duckdb.connect(str(config.parent / "inlet.duckdb"), read_only=True) as con:
        return con.execute(query, params or []).fetchall()


def records(config: Path) -> dict[tuple[str, str], tuple[bool, dict]]:
    rows = store(config, "SELECT object_type, external_id, deleted, data::VARCHAR FROM records")
    return {(t, i): (d, orjson.loads(data)) for t, i, d, data in rows}


def remote(api: SandboxAPI) -> dict[tuple[str, str], dict]:
    return {(OBJECT_TYPES[name], oid): obj for name, coll in api.stripe.collections.items()
            for oid, obj in coll.by_id.items()}


# Stripe counts a customer's invoices in `next_invoice_sequence` without a `customer.updated` event, so a sync
# that reads events sees the new number only with the customer's next event or a full refresh.
UNANNOUNCED = {"customer": ("next_invoice_sequence",)}


def assert_mirrors(config: Path, api: SandboxAPI, *, events_only: bool = False) -> None:
    """Live records are exactly the sandbox's objects, field for field; every other record is deleted."""
    stored = records(config)
    live = {key: data for key, (deleted, data) in stored.items() if not deleted}
    expected = remote(api)
    assert live.keys() == expected.keys()
    for key, obj in expected.items():
        if events_only:
            obj = {k: v for k, v in obj.items() if k not in UNANNOUNCED.get(key[0], ())}
            live[key] = {k: v for k, v in live[key].items() if k not in UNANNOUNCED.get(key[0], ())}
        assert live[key] == obj, key


def _announced(obj: dict, object_type: str) -> dict:
    return {k: v for k, v in obj.items() if k not in UNANNOUNCED.get(object_type, ())}


def event_counts(config: Path) -> Counter:
    return Counter(dict(store(config, "SELECT event_type, count(*) FROM events GROUP BY 1")))


def test_first_sync_pulls_everything_and_a_second_writes_nothing(tmp_path, api):
    config = write_config(tmp_path, [api.stripe_source()])
    first = sync(config)
    assert first.returncode == 0, first.stderr
    assert "sync of billing" in first.stdout and "done" in first.stdout
    assert_mirrors(config, api)
    counts = event_counts(config)
    for name, object_type in OBJECT_TYPES.items():
        assert counts[f"{object_type}.created"] == len(api.stripe.collections[name].by_id), name
    assert sum(counts.values()) == len(remote(api))
    # every change is an event of the source, carrying the object and where it came from
    source, props, context = store(config, "SELECT source_id, properties::VARCHAR, context::VARCHAR FROM events "
                                           "WHERE event_type = 'customer.created' LIMIT 1")[0]
    assert source == "billing"
    assert orjson.loads(props)["object"] == "customer"
    assert orjson.loads(context)["external_id"] == orjson.loads(props)["id"]
    runs = store(config, "SELECT object_type, status, records_read, records_changed, mode FROM sync_runs")
    assert {r[0] for r in runs} == set(OBJECT_TYPES.values())
    assert all(r[1] == "succeeded" and r[2] == r[3] and r[4] == "list" for r in runs)
    cursors = dict(store(config, "SELECT object_type, cursor->>'phase' FROM sync_state"))
    assert cursors == dict.fromkeys(OBJECT_TYPES.values(), "changes")  # the next run reads events

    before = records(config)
    second = sync(config)
    assert second.returncode == 0, second.stderr
    assert event_counts(config) == counts
    assert records(config) == before
    synced_at = store(config, "SELECT max(synced_at) FROM records")[0][0]
    assert store(config, "SELECT count(*) FROM records WHERE synced_at > ?", [synced_at])[0][0] == 0
    last = store(config, "SELECT sum(records_read), sum(records_changed), min(mode) FROM sync_runs "
                         "WHERE started_at > (SELECT max(finished_at) FROM sync_runs WHERE mode = 'list')")
    assert last == [(0, 0, "events")]


def test_third_sync_brings_exactly_the_remote_changes(tmp_path, api):
    config = write_config(tmp_path, [api.stripe_source()])
    assert sync(config).returncode == 0
    before = records(config)
    events_before = event_counts(config)
    happened = api.stripe.mutate(updates=60, deletes=6, creates=12, product_creates=1, price_creates=2,
                                 invoice_creates=2, price_deletes=1, product_deletes=1, invoice_deletes=2)
    after_remote = remote(api)
    expected_changes = Counter()
    for key, obj in after_remote.items():
        if key not in before:
            expected_changes[f"{key[0]}.created"] += 1
        elif _announced(before[key][1], key[0]) != _announced(obj, key[0]):
            expected_changes[f"{key[0]}.updated"] += 1
    for key, (deleted, _) in before.items():
        if not deleted and key not in after_remote:
            expected_changes[f"{key[0]}.deleted"] += 1
    assert expected_changes["customer.deleted"] == 6 and expected_changes["product.deleted"] == 1
    # objects created and deleted between two syncs are recorded as deleted (their events may also bring the
    # creation when it lands in another page)
    transient = Counter(OBJECT_TYPES[name] for name, coll in api.stripe.collections.items()
                        for oid in coll.deleted if (OBJECT_TYPES[name], oid) not in before)
    assert transient == Counter({"invoice": 2})
    for object_type, n in transient.items():
        expected_changes[f"{object_type}.deleted"] += n

    third = sync(config)
    assert third.returncode == 0, third.stderr
    assert_mirrors(config, api, events_only=True)
    got = event_counts(config) - events_before
    assert set(got) == set(expected_changes)
    # one inlet event per Stripe event that changed the object, each naming it; nothing twice
    new = store(config, "SELECT event_type, context->>'external_id', context->>'vendor_event_id' FROM events "
                        "WHERE received_at > (SELECT max(received_at) FROM events WHERE context->>'vendor_event_id' "
                        "IS NULL)")
    stripe_events = {e.id: e for e in happened}
    assert len({v for _, _, v in new}) == len(new) == got.total()
    for event_type, external_id, vendor_event_id in new:
        source = stripe_events[vendor_event_id]
        assert source.object["id"] == external_id
        assert event_type.split(".")[0] == source.object["object"]
    # the run read each Stripe event once (of the types it asks for: all that `mutate` writes)
    read = store(config, "SELECT sum(records_read) FROM sync_runs WHERE mode = 'events' AND records_read > 0")
    assert read == [(len(happened),)]
    changed_objects = {(t.split(".")[0], i) for t, i, _ in new}
    expected_objects = {key for key, obj in after_remote.items()
                        if key not in before or _announced(before[key][1], key[0]) != _announced(obj, key[0])}
    expected_objects |= {key for key, (deleted, _) in before.items() if not deleted and key not in after_remote}
    expected_objects |= {(OBJECT_TYPES[name], oid) for name, coll in api.stripe.collections.items()
                         for oid in coll.deleted if (OBJECT_TYPES[name], oid) not in before}
    assert changed_objects == expected_objects
    deleted = dict(store(config, "SELECT object_type, count(*) FROM records WHERE deleted GROUP BY 1"))
    assert deleted.get("customer") == 6 and deleted.get("product") == 1 and deleted.get("price") == 1
    # a canceled subscription is an update with its status, never a deletion
    assert "subscription" not in deleted
    canceled = store(config, "SELECT count(*) FROM records WHERE object_type = 'subscription' "
                             "AND data->>'status' = 'canceled'")[0][0]
    assert canceled == sum(1 for s in api.stripe.collections["subscriptions"].by_id.values()
                           if s["status"] == "canceled")
    assert "events" in third.stdout or third.returncode == 0
    runs = store(config, "SELECT DISTINCT mode FROM sync_runs WHERE started_at > "
                         "(SELECT max(finished_at) FROM sync_runs WHERE mode = 'list')")
    assert runs == [("events",)]

    fourth = sync(config)
    assert fourth.returncode == 0
    assert event_counts(config) - events_before == got

    # a full refresh reads every object again: it finds what no event announced, and nothing else
    pre_full, events_pre_full = records(config), event_counts(config)
    full = sync(config, "--full-refresh")
    assert full.returncode == 0, full.stderr
    assert_mirrors(config, api)
    refreshed = {key for key, (_, data) in records(config).items() if pre_full[key][1] != data}
    assert refreshed and {key[0] for key in refreshed} == {"customer"}
    assert all(_announced(pre_full[key][1], "customer") == _announced(records(config)[key][1], "customer")
               for key in refreshed)
    assert event_counts(config) - events_pre_full == Counter({"customer.updated": len(refreshed)})
    assert store(config, "SELECT DISTINCT mode FROM sync_runs ORDER BY started_at DESC LIMIT 1") == [("full refresh",)]
