"""The process's own metrics, counted where things happen and exposed by `GET /metrics` (engine/server/metrics.py).

Two kinds of counting, for two kinds of path:

- **The push path** (every collect, click and tracking request) counts in plain dicts and a plain histogram,
  updated on the event loop only: ~0.4 µs a request, where a `prometheus_client` counter child plus histogram
  cost ~4 µs (labels looked up, locks taken), a few percent of what a collect request costs in all. They are read
  at scrape time by a collector. Call them through the module (`metrics.acknowledged(...)`): `disable()` swaps
  them for no-ops, which is how bench/collect.py measures the server without them.
- **Everything else** (sync runs, vendor requests, ingest transactions) happens at most thousands of times a
  second, and uses `prometheus_client`'s thread-safe counters and histograms in `REGISTRY`.

Gauges (spool, ingest lag, write-backs, the scheduler's next runs) are not kept here: they are read from the
server's state when scraped. Like every Prometheus counter, these start at 0 with the process.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from connectors.kit import observe

disable_created_metrics()  # no `_created` series beside every counter and histogram: nothing here charts them
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

UNKNOWN = "unknown"  # the source label of a refusal whose source is not configured (or not known yet)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LATENCY_US = tuple(round(b * 1e6) for b in LATENCY_BUCKETS)  # the same bounds in whole microseconds
SYNC_STATUSES = ("succeeded", "failed", "skipped")
CHANGES = ("created", "updated", "deleted")


class _PushCounts:
    """The push path's counters: plain ints, changed on the event loop only, copied when scraped."""

    def __init__(self) -> None:
        self.acknowledged: dict[str, int] = {}
        self.refused: dict[tuple[str, str], int] = {}
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one: above every bound (+Inf)
        self.latency_us = 0  # the sum, in microseconds

    def collect(self) -> Iterator[Metric]:
        acknowledged = CounterMetricFamily("inlet_events_acknowledged", "Events answered 2xx: durable in the spool "
                                           "or the store (collect, redirect links, the pixel, tracking).",
                                           labels=["source_id"])
        for source_id, n in self.acknowledged.copy().items():
            acknowledged.add_metric([source_id], n)
        yield acknowledged
        refused = CounterMetricFamily("inlet_events_refused", "Requests refused with a 4xx or 503 and a row in "
                                      "`rejections`, by reason; an unconfigured source counts as \"unknown\".",
                                      labels=["source_id", "reason"])
        for (source_id, reason), n in self.refused.copy().items():
            refused.add_metric([source_id, reason], n)
        yield refused
        counts, total = list(self.buckets), self.latency_us / 1e6
        cumulative, buckets = 0, []
        for bound, n in zip((*LATENCY_BUCKETS, float("inf")), counts, strict=True):
            cumulative += n
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        yield HistogramMetricFamily("inlet_ack_latency_seconds", "From a push request's arrival to its 2xx answer "
                                    "(the event durable), per acknowledged request.", buckets=buckets, sum_value=total)


PUSH = _PushCounts()
REGISTRY.register(PUSH)


def acknowledged(source_id: str, received_us: int, events: int = 1, *, _now=time.time_ns, _bisect=bisect_left,
                 _bounds=_LATENCY_US, _push=PUSH) -> None:
    """A push request of `source_id` is answered 2xx with `events` events durable; it arrived at `received_us`
    (time.time_ns() // 1000). On the event loop only. (Integer microseconds and names bound as defaults: ~0.35 µs a
    call.)"""
    counts = _push.acknowledged
    counts[source_id] = counts.get(source_id, 0) + events
    waited = max(_now() // 1000 - received_us, 0)
    _push.buckets[_bisect(_bounds, waited)] += 1
    _push.latency_us += waited


def refused(source_label: str, reason: str) -> None:
    """A refused request (see `source_label` for the first argument). On the event loop only."""
    key = (source_label, reason)
    PUSH.refused[key] = PUSH.refused.get(key, 0) + 1


def source_label(config, source_id: str | None) -> str:
    """`source_id` when `config` (an engine.config.Config) has such a source, else "unknown": label values must not
    come from whatever a caller puts in a URL."""
    return source_id if source_id and config.source(source_id) is not None else UNKNOWN


# -- the slower paths -------------------------------------------------------------------------------------------------
SYNC_RUNS = Counter("inlet_sync_runs", "Sync runs of an object, by outcome (skipped: the source was already syncing).",
                    ["source_id", "object", "status"], registry=REGISTRY)
SYNC_RECORDS = Counter("inlet_sync_records", "Records a sync stored as created, updated or deleted.",
                       ["source_id", "object", "change"], registry=REGISTRY)
SYNC_DURATION = Histogram("inlet_sync_duration_seconds", "How long a sync of an object took, to its last commit.",
                          ["source_id", "object"], registry=REGISTRY,
                          buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200))
VENDOR_REQUESTS = Counter("inlet_vendor_requests", "HTTP requests to a cloud app (syncs, read-backs, write-backs), by "
                          "the answer's status (\"error\": no answer, a network error).", ["source_id", "status"],
                          registry=REGISTRY)
VENDOR_THROTTLED = Counter("inlet_vendor_throttled", "Answers telling inlet to slow down: 429s, and Shopify's "
                           "THROTTLED.", ["source_id"], registry=REGISTRY)
LIMITER_WAIT = Counter("inlet_rate_limiter_wait_seconds", "Time requests waited for the source's own rate limiter "
                       "(or Shopify's cost bucket) before going out.", ["source_id"], registry=REGISTRY)
INGEST_BATCH_ROWS = Histogram("inlet_ingest_batch_rows", "Rows (events, sessions, profiles, keys, rejections) per "
                              "transaction moving the spool into DuckDB.", registry=REGISTRY,
                              buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 20000))


class VendorMetrics(observe.Observer):
    """What the connector kit reports, counted (installed by the server with `connectors.kit.observe.install`)."""

    def request(self, source_id: str, status: int | None) -> None:
        VENDOR_REQUESTS.labels(source_id, str(status) if status is not None else "error").inc()

    def throttled(self, source_id: str) -> None:
        VENDOR_THROTTLED.labels(source_id).inc()

    def waited(self, source_id: str, seconds: float) -> None:
        LIMITER_WAIT.labels(source_id).inc(seconds)


def sync_finished(source_id: str, object_name: str, status: str, created: int, updated: int, deleted: int,
                  seconds: float) -> None:
    """One object's sync ended (`object_name`: the plural name, as in `objects:`)."""
    SYNC_RUNS.labels(source_id, object_name, status).inc()
    for change, n in zip(CHANGES, (created, updated, deleted), strict=True):
        if n:
            SYNC_RECORDS.labels(source_id, object_name, change).inc(n)
    SYNC_DURATION.labels(source_id, object_name).observe(seconds)


def sync_skipped(source_id: str, object_names: Iterable[str]) -> None:
    for name in object_names:
        SYNC_RUNS.labels(source_id, name, "skipped").inc()


def ingest_batch(rows: int) -> None:
    """A transaction took `rows` rows from the spool into DuckDB (the store writer's ingest thread)."""
    INGEST_BATCH_ROWS.observe(rows)


def prepare(push_sources: Iterable[str], pull_sources: dict[str, list[str]]) -> None:
    """Start the configured sources' series at 0, so that `rate()` and `increase()` see their first events, and
    a dashboard shows a quiet source as 0 rather than nothing. `pull_sources`: source id -> its object names."""
    for source_id in push_sources:
        PUSH.acknowledged.setdefault(source_id, 0)
    for source_id, objects in pull_sources.items():
        VENDOR_THROTTLED.labels(source_id)
        LIMITER_WAIT.labels(source_id)
        for name in objects:
            SYNC_DURATION.labels(source_id, name)
            for status in SYNC_STATUSES:
                SYNC_RUNS.labels(source_id, name, status)
            for change in CHANGES:
                SYNC_RECORDS.labels(source_id, name, change)


def _nothing(*args, **kwargs) -> None:
    return None


def disable() -> None:
    """Count nothing from now on in this process (bench/collect.py's server without metrics)."""
    global acknowledged, refused, ingest_batch
    acknowledged = refused = ingest_batch = _nothing
