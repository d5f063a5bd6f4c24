"""kill -9 in the middle of `inlet sync`, then a plain re-run: the tables end as after an uninterrupted run,
with no change lost and none doubled."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import inlet, write_config
from tests.sandbox_api import SandboxAPI
from tests.stores import sync_killed_at as killed_at
from tests.test_sync_stripe import assert_mirrors, store


def sync_killed_at(config: Path, query: str, at_least: int, hold: tuple[SandboxAPI, str, int]) -> None:
    api, path, after = hold
    killed_at(config, "billing", query, at_least, timeout=60, hold=(api.faults, path, after))


@pytest.fixture(scope="module")
def api():
    # slow enough (40 requests/s) that a sync of ~9,000 objects takes a few seconds to kill into
    with SandboxAPI(customers=3000, rate_limit=40) as server:
        yield server


def snapshot(config: Path) -> tuple[dict, Counter, Counter]:
    """records (key -> deleted, data), events per type, and changes per (type, object, vendor event)."""
    rows = store(config, "SELECT object_type, external_id, deleted, data::VARCHAR FROM records")
    recs = {(t, i): (d, data) for t, i, d, data in rows}
    per_type = Counter(dict(store(config, "SELECT event_type, count(*) FROM events GROUP BY 1")))
    changes = Counter(dict(store(config, """
        SELECT event_type || ' ' || (context->>'external_id') || ' ' || coalesce(context->>'vendor_event_id', ''),
               count(*) FROM events GROUP BY 1""")))
    return recs, per_type, changes


def test_kill_9_during_first_sync_and_during_events_sync(tmp_path, api):
    whole = write_config(tmp_path / "whole" if (tmp_path / "whole").mkdir() is None else None, [api.stripe_source()])
    killed = write_config(tmp_path / "killed" if (tmp_path / "killed").mkdir() is None else None,
                          [api.stripe_source()])

    # first sync (lists): uninterrupted, and killed three times (inside customers, charges, invoices) then re-run
    assert inlet("sync", "billing", config=whole, timeout=120).returncode == 0
    # (each kill is inside its object however busy the machine: the sandbox holds that object's later pages)
    sync_killed_at(killed, "SELECT count(*) FROM records", 1000, (api, "/v1/customers", 20))
    sync_killed_at(killed, "SELECT count(*) FROM records WHERE object_type = 'charge'", 800, (api, "/v1/charges", 20))
    sync_killed_at(killed, "SELECT count(*) FROM records WHERE object_type = 'invoice'", 300,
                   (api, "/v1/invoices", 10))
    interrupted = store(killed, "SELECT count(*) FROM sync_runs WHERE status = 'running'")[0][0]
    rerun = inlet("sync", "billing", config=killed, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert interrupted == 1  # the last killed run; earlier ones were closed by the next start
    assert store(killed, "SELECT count(*) FROM sync_runs WHERE status = 'running'")[0][0] == 0
    assert store(killed, "SELECT count(*) FROM sync_runs WHERE error LIKE 'interrupted%'")[0][0] >= 3
    a, b = snapshot(whole), snapshot(killed)
    assert a[0] == b[0] and a[1] == b[1]
    assert max(b[2].values()) == 1  # no change recorded twice
    assert_mirrors(killed, api)

    # later syncs (events): mutate, then the same again
    api.stripe.mutate(updates=900, deletes=20, creates=40)
    assert inlet("sync", "billing", config=whole, timeout=120).returncode == 0
    # (the customers' events take 6 pages of /v1/events, then the other objects' follow)
    sync_killed_at(killed, "SELECT count(*) FROM events WHERE event_type LIKE 'customer.%' "
                           "AND context->>'vendor_event_id' IS NOT NULL", 150, (api, "/v1/events", 3))
    sync_killed_at(killed, "SELECT count(*) FROM events WHERE event_type = 'customer.updated'", 450,
                   (api, "/v1/events", 4))
    rerun = inlet("sync", "billing", config=killed, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    a, b = snapshot(whole), snapshot(killed)
    assert a[0] == b[0] and a[1] == b[1]
    assert max(b[2].values()) == 1
