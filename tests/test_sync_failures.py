"""`inlet sync` when things go wrong: refused credentials, server errors, 429 storms, malformed answers, expired
event cursors, objects gone without an event, bad requests from the user."""

from __future__ import annotations

import time

import orjson
import pytest

from tests.conftest import inlet, write_config
from tests.sandbox_api import SandboxAPI
from tests.test_sync_stripe import event_counts, records, store, sync

STRIPE_500 = orjson.dumps({"error": {"type": "api_error", "message": "An unknown error occurred"}})
STRIPE_400 = orjson.dumps({"error": {"type": "invalid_request_error", "message": "Invalid request (injected)"}})


@pytest.fixture
def api():
    with SandboxAPI(customers=250, rate_limit=False) as server:
        yield server


def test_refused_credentials_fail_fast_and_name_the_source(tmp_path, api):
    key = "sk_test_not_the_right_one_4242"
    config = write_config(tmp_path, [api.stripe_source(api_key=key)])
    result = sync(config)
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert "credentials of source 'billing' were refused" in out and "Invalid API Key" in out
    assert key not in out and "4242" not in out
    assert api.faults.requests == 1  # one refused request, then nothing else is tried
    runs = store(config, "SELECT object_type, status, error FROM sync_runs")
    assert len(runs) == 1 and runs[0][:2] == ("customer", "failed") and key not in runs[0][2]
    assert store(config, "SELECT count(*) FROM sync_state")[0][0] == 0


def test_server_errors_are_retried_then_a_failure_keeps_the_cursor_and_the_rerun_completes(tmp_path, api):
    config = write_config(tmp_path, [api.stripe_source(objects=["customers"])])
    api.faults.faults = {2: (500, STRIPE_500), 3: (503, b"upstream down")}  # the first list page, twice
    first = sync(config)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "HTTP: 6 requests" in first.stdout  # the probe, 2 failures, 3 pages
    assert "retrying" in first.stderr
    assert_mirrors_customers(config, api)

    # a refusal that is not retried, at the second page of a fresh store: the first page stays committed
    other = write_config(tmp_path / "b" if (tmp_path / "b").mkdir() is None else None,
                         [api.stripe_source(objects=["customers"])])
    api.faults.requests, api.faults.faults = 0, {3: (400, STRIPE_400)}
    failed = sync(other)
    assert failed.returncode == 1
    assert "HTTP 400" in failed.stdout and "Invalid request (injected)" in failed.stdout
    assert store(other, "SELECT count(*) FROM records")[0][0] == 100
    assert store(other, "SELECT status FROM sync_runs") == [("failed",)]
    cursor = store(other, "SELECT cursor->>'after' FROM sync_state")[0][0]
    assert cursor == records_ids(other)[-1]
    rerun = sync(other)
    assert rerun.returncode == 0, rerun.stdout
    assert store(other, "SELECT status FROM sync_runs ORDER BY started_at") == [("failed",), ("succeeded",)]
    assert sorted(records(other)) == sorted(records(config))
    assert event_counts(other) == event_counts(config)


def records_ids(config) -> list[str]:
    return [r[0] for r in store(config, "SELECT external_id FROM records ORDER BY data->>'created' DESC, "
                                        "external_id DESC")]


def assert_mirrors_customers(config, api) -> None:
    stored = {k[1]: v[1] for k, v in records(config).items() if k[0] == "customer"}
    assert stored == api.stripe.collections["customers"].by_id


def test_malformed_answers_fail_the_run_without_losing_what_came_before(tmp_path, api):
    config = write_config(tmp_path, [api.stripe_source(objects=["customers"])])
    api.faults.faults = {3: (200, b'{"object": "list", "has_more": true, "url": "/v1/customers"}')}
    result = sync(config)
    assert result.returncode == 1
    assert "no list of records at 'data'" in result.stdout and "customers" in result.stdout
    assert store(config, "SELECT count(*) FROM records")[0][0] == 100
    assert sync(config).returncode == 0
    assert_mirrors_customers(config, api)

    # objects without an id: the run fails saying where and what, and nothing of that page is kept
    other = write_config(tmp_path / "b" if (tmp_path / "b").mkdir() is None else None,
                         [api.stripe_source(objects=["customers"])])
    api.faults.requests = 0
    api.faults.faults = {3: (200, b'{"object": "list", "has_more": false, "url": "/v1/customers", '
                                  b'"data": [{"object": "customer", "email": "x@example.com"}]}')}
    broken = sync(other)
    assert broken.returncode == 1
    assert "source 'billing', object 'customers': KeyError: 'id'" in broken.stdout
    assert store(other, "SELECT count(*) FROM records")[0][0] == 100
    assert sync(other).returncode == 0
    assert sorted(records(other)) == sorted(records(config))


def test_a_429_storm_slows_the_sync_down_but_loses_nothing(tmp_path):
    # the sandbox allows 4 reads a second; the source is told 50, so the client learns from the 429s
    with SandboxAPI(customers=250, rate_limit=4) as api:
        config = write_config(tmp_path, [api.stripe_source(objects=["customers", "products"], rate_limit=50)])
        result = sync(config)
        assert result.returncode == 0, result.stdout + result.stderr
        limited = int(result.stdout.split(" answered 429")[0].rsplit(", ", 1)[1])
        assert limited > 0
        assert_mirrors_customers(config, api)


def test_an_events_cursor_older_than_30_days_falls_back_to_a_complete_read(tmp_path):
    forty_days = 40 * 86400
    clock = {"offset": forty_days}
    with SandboxAPI(customers=120, rate_limit=False, now=lambda: time.time() - clock["offset"]) as api:
        config = write_config(tmp_path, [api.stripe_source(objects=["customers"])])
        assert sync(config).returncode == 0
        gone = next(iter(api.stripe.collections["customers"].by_id))
        api.stripe.collections["customers"].delete(gone)  # deleted while nobody kept its event
        clock["offset"] = 0  # forty days later
        events = event_counts(config)
        later = sync(config)
        assert later.returncode == 0, later.stdout
        assert "30 days" in later.stdout
        mode, notes = store(config, "SELECT mode, notes FROM sync_runs ORDER BY started_at DESC LIMIT 1")[0]
        assert mode == "list (events expired)" and "30 days" in notes
        assert event_counts(config) - events == {"customer.deleted": 1}
        assert records(config)[("customer", gone)][0] is True


def test_full_refresh_finds_objects_deleted_without_an_event(tmp_path, api):
    config = write_config(tmp_path, [api.stripe_source(objects=["customers", "products"])])
    assert sync(config).returncode == 0
    gone = list(api.stripe.collections["customers"].by_id)[:3]
    for customer_id in gone:
        api.stripe.collections["customers"].delete(customer_id)  # no event: invisible to an incremental sync
    assert sync(config).returncode == 0
    assert not any(records(config)[("customer", c)][0] for c in gone)
    events = event_counts(config)
    full = sync(config, "--full-refresh")
    assert full.returncode == 0, full.stdout
    assert event_counts(config) - events == {"customer.deleted": 3}
    assert all(records(config)[("customer", c)][0] for c in gone)
    assert store(config, "SELECT count(*) FROM sync_seen")[0][0] == 0
    # the refresh hands over to events: the next run reads events again and changes nothing
    assert sync(config).returncode == 0
    assert event_counts(config) - events == {"customer.deleted": 3}
    assert store(config, "SELECT mode FROM sync_runs ORDER BY started_at DESC LIMIT 1") == [("events",)]


@pytest.mark.parametrize(("args", "message"), [
    (["nope"], "no source 'nope' in the config (the pull sources in the config: billing, off)"),
    (["web"], "source 'web' is a webhook source: it is pushed to, there is nothing to pull"),
    (["off"], "source 'off' is disabled"),
    (["billing", "--object", "payouts"], "source 'billing' does not sync 'payouts'; its objects: customers"),
])
def test_sync_requests_that_cannot_run_say_why(tmp_path, args, message):
    stripe = {"id": "billing", "name": "Stripe", "channel": "billing", "bridge": "stripe",
              "api_key": "sk_test_x", "base_url": "http://127.0.0.1:9", "objects": ["customers"]}
    config = write_config(tmp_path, [stripe, {"id": "web", "name": "Web", "channel": "web", "bridge": "webhook"},
                                     {**stripe, "id": "off", "enabled": False}])
    result = inlet("sync", *args, config=config)
    assert result.returncode == 1
    assert message in result.stderr
