"""`GET /metrics`: what pushes, refusals, the store's intake, syncs and the connector kit's requests count, with the
names and labels the README promises. Counters belong to the process, so each test compares before and after."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx
import pytest

from connectors.kit import RateLimiter, RecordIn, RetryPolicy, SourceClient, observe
from engine import metrics
from engine.sync.runner import run_sync
from tests.conftest import InProcessServer, write_config
from tests.fake_connector import one_page
from tests.metrics_scrape import scrape
from tests.sandbox_api import SandboxAPI

BILLING_MAPPING = """
objects:
  customer:
    identities: [{kind: email, path: email}]
    fields:
      - {path: metadata.lifecycle, attribute: lifecycle_stage, direction: two-way}
"""
SOURCES = [
    {"id": "m-site", "name": "Site", "channel": "web", "bridge": "webhook"},
    {"id": "m-app", "name": "App", "channel": "mobile", "bridge": "webhook", "secret": "m-secret"},
    {"id": "m-mail", "name": "Mail", "channel": "email", "bridge": "redirect",
     "links": {"sale": {"url": "https://shop.example.test/sale"}}},
    {"id": "m-track", "name": "Tracking", "channel": "web", "bridge": "tracking", "write_key": "m-key"},
    {"id": "m-limited", "name": "Limited", "channel": "web", "bridge": "webhook",
     "rate_limit": {"events": 1, "per": "1h"}},
]
# the sandbox refuses its key: the catch-up run at start fails at once (refused credentials are not retried)
BILLING = {"id": "m-billing", "name": "Stripe", "channel": "billing", "bridge": "stripe", "api_key": "sk_test_wrong",
           "objects": ["customers"], "schedule": {"every": "1h"}, "mapping": "billing.yaml"}

# every metric the README lists: (family as the parser names it, type, label names of its samples)
LISTED = {
    "inlet_events_acknowledged": ("counter", {"source_id"}),
    "inlet_events_refused": ("counter", {"source_id", "reason"}),
    "inlet_ack_latency_seconds": ("histogram", set()),
    "inlet_spool_pending_events": ("gauge", set()),
    "inlet_spool_bytes": ("gauge", set()),
    "inlet_ingest_lag_seconds": ("gauge", set()),
    "inlet_ingest_batch_rows": ("histogram", set()),
    "inlet_sync_runs": ("counter", {"source_id", "object", "status"}),
    "inlet_sync_records": ("counter", {"source_id", "object", "change"}),
    "inlet_sync_duration_seconds": ("histogram", {"source_id", "object"}),
    "inlet_vendor_requests": ("counter", {"source_id", "status"}),
    "inlet_vendor_throttled": ("counter", {"source_id"}),
    "inlet_rate_limiter_wait_seconds": ("counter", {"source_id"}),
    "inlet_writebacks": ("gauge", {"source_id", "status"}),
    "inlet_scheduler_next_run_timestamp_seconds": ("gauge", {"source_id", "object"}),
    "inlet_quarantined_rows": ("counter", set()),
}


@pytest.fixture
def served(tmp_path):
    (tmp_path / "billing.yaml").write_text(BILLING_MAPPING)
    with SandboxAPI(customers=1) as api:
        config = write_config(tmp_path, [*SOURCES, {**BILLING, "base_url": api.url}])
        with InProcessServer(config) as server, httpx.Client(base_url=server.url, timeout=10) as client:
            yield server, client


def test_pushes_refusals_and_the_intake_are_counted(served):
    server, client = served
    before = scrape(client)
    for n in range(3):
        assert client.post(f"/collect/page/m-site/s{n}", json={"n": n}).status_code == 200
    assert client.post("/collect/page/m-app", json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/collect/page/no-such-source-m1", json={}).status_code == 401
    assert client.get("/r/m-mail/sale").status_code == 302
    auth = {"Authorization": "Basic " + base64.b64encode(b"m-key:").decode()}
    batch = {"batch": [{"type": "track", "event": "Signed Up", "anonymousId": "a1", "messageId": f"m{i}"}
                       for i in range(2)]}
    assert client.post("/v1/batch", json=batch, headers=auth).status_code == 200
    server.sql("SELECT 1")  # the store has taken in everything acknowledged
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert grew("inlet_events_acknowledged_total", source_id="m-site") == 3
    assert grew("inlet_events_acknowledged_total", source_id="m-mail") == 1
    assert grew("inlet_events_acknowledged_total", source_id="m-track") == 2
    assert grew("inlet_events_refused_total", source_id="m-app", reason="wrong_secret") == 1
    assert grew("inlet_events_refused_total", source_id="unknown", reason="unknown_source") == 1
    assert "no-such-source-m1" not in after.text  # label values never come from the URL
    assert grew("inlet_ack_latency_seconds_count") == 5  # requests: 3 collects, the click, the batch
    assert 0 < grew("inlet_ack_latency_seconds_sum") < 5
    assert after.value("inlet_ack_latency_seconds_bucket", le="+Inf") == after.value("inlet_ack_latency_seconds_count")
    assert grew("inlet_ingest_batch_rows_count") >= 1
    assert grew("inlet_ingest_batch_rows_sum") >= 6  # the six events, at least (their sessions and profiles too)
    assert after.value("inlet_spool_pending_events") == 0  # flushed: nothing waits for DuckDB
    assert after.value("inlet_ingest_lag_seconds") == 0
    assert after.value("inlet_spool_bytes") > 0
    assert after.value("inlet_quarantined_rows_total") == 0


def test_a_rate_limited_push_counts_as_refused(served):
    _, client = served
    before = scrape(client).value("inlet_events_refused_total", source_id="m-limited", reason="rate_limited")
    assert client.post("/collect/page/m-limited", json={}).status_code == 200
    assert client.post("/collect/page/m-limited", json={}).status_code == 429
    after = scrape(client).value("inlet_events_refused_total", source_id="m-limited", reason="rate_limited")
    assert after - before == 1


def test_every_listed_metric_is_exposed_with_its_labels(served):
    _, client = served
    # one refusal of its own: the refusal counter's samples must not depend on another test having run before in
    # this process (pytest-xdist spreads the module's tests over workers)
    assert client.post("/collect/page/no-such-source-m2", json={}).status_code == 401
    found = scrape(client)
    for family, (kind, labels) in LISTED.items():
        assert found.types.get(family) == kind, family
        suffix = {"counter": "_total", "histogram": "_count"}.get(kind, "")
        if family != "inlet_vendor_requests":  # maybe no request counted yet: a family without samples
            samples = found.labels(family + suffix)
            assert samples, family
            assert all(set(s) == labels for s in samples), (family, samples)
    # configured sources start at 0, so that rate() sees their first event
    assert found.has("inlet_events_acknowledged_total", source_id="m-site")
    assert found.has("inlet_sync_runs_total", source_id="m-billing", object="customers", status="succeeded")
    assert found.has("inlet_sync_records_total", source_id="m-billing", object="customers", change="deleted")
    assert found.has("inlet_vendor_throttled_total", source_id="m-billing")
    assert found.has("inlet_rate_limiter_wait_seconds_total", source_id="m-billing")
    # the outbox of a source that writes back: every status, 0 included
    for status in ("pending", "sending", "sent", "rejected", "failed", "superseded"):
        assert found.has("inlet_writebacks", source_id="m-billing", status=status)
    next_run = found.value("inlet_scheduler_next_run_timestamp_seconds", source_id="m-billing", object="customers")
    assert time.time() - 60 < next_run < time.time() + 3700
    deadline = time.monotonic() + 10
    while not found.value("inlet_sync_runs_total", source_id="m-billing", object="customers", status="failed"):
        assert time.monotonic() < deadline, "the catch-up run never ended"
        time.sleep(0.05)
        found = scrape(client)
    assert found.value("inlet_vendor_requests_total", source_id="m-billing", status="401") >= 1
    assert found.types.get("process_resident_memory_bytes") == "gauge"
    assert "_created" not in found.text


def test_a_sync_counts_runs_changes_and_duration(served):
    server, client = served

    def sync():
        writer = server.state.writer
        connector = one_page([RecordIn("t1", {"a": 1}), RecordIn("t2", {"a": 2})], {"at": 2})
        return asyncio.run_coroutine_threadsafe(run_sync("m-things", connector, writer.run), writer._loop).result(30)

    before = scrape(client)
    assert sync().ok
    assert sync().ok  # the same records again: nothing changes
    after = scrape(client)
    labels = {"source_id": "m-things", "object": "things"}
    assert after.value("inlet_sync_runs_total", **labels, status="succeeded") - before.value(
        "inlet_sync_runs_total", **labels, status="succeeded") == 2
    assert after.value("inlet_sync_records_total", **labels, change="created") == 2
    assert not after.has("inlet_sync_records_total", **labels, change="updated")
    assert after.value("inlet_sync_duration_seconds_count", **labels) == 2


async def test_the_kit_reports_requests_throttling_and_limiter_waits():
    answers = [httpx.Response(429, headers={"Retry-After": "0"}, json={"error": {"message": "slow down"}}),
               httpx.Response(200, json={"ok": True}), httpx.Response(200, json={"ok": True})]

    def vendor(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/down":
            raise httpx.ConnectError("refused")
        return answers.pop(0)

    previous = observe.install(metrics.VendorMetrics())
    source = f"m-kit-{time.time_ns()}"
    client = SourceClient(source, "http://vendor.test", limiter=RateLimiter(10), transport=httpx.MockTransport(vendor),
                          retry_policy=RetryPolicy(max_attempts=2, backoff=0.01, max_backoff=0.01, jitter=0))
    try:
        assert await client.get_json("/things", object_name="things") == {"ok": True}  # the 429 is retried
        assert await client.get_json("/things", object_name="things") == {"ok": True}  # 0.1 s after: it waits
        with pytest.raises(Exception, match="ConnectError"):
            await client.get_json("/down", object_name="things")
    finally:
        observe.install(previous)
        await client.aclose()
    found = metrics.REGISTRY.get_sample_value
    assert found("inlet_vendor_requests_total", {"source_id": source, "status": "429"}) == 1
    assert found("inlet_vendor_requests_total", {"source_id": source, "status": "200"}) == 2
    assert found("inlet_vendor_requests_total", {"source_id": source, "status": "error"}) == 2  # with its retry
    assert found("inlet_vendor_throttled_total", {"source_id": source}) == 1
    assert 0.05 < found("inlet_rate_limiter_wait_seconds_total", {"source_id": source}) < 2

