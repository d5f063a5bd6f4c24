"""`GET /metrics`: the Prometheus text exposition of the process's counters (engine/metrics.py) and of gauges read
from the server's state when scraped, so that nothing on the request path keeps them up to date:

- `inlet_spool_pending_events`, `inlet_spool_bytes`, `inlet_ingest_lag_seconds`, `inlet_quarantined_rows_total`:
  the store writer's intake (engine/store/writer.py);
- `inlet_writebacks{source_id,status}`: the two-way outbox's rows by status, counted in the store (every status
  of every writing source, 0 included);
- `inlet_scheduler_next_run_timestamp_seconds{source_id,object}`: the scheduler's next run of each object.

The dashboard in engine/server/dashboards/inlet.json charts them (tests/test_dashboard.py runs its queries
against a real Prometheus scraping a real server).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime

import duckdb
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.kit import observe
from engine import metrics
from engine.config import Config, PullSource
from engine.console.access import allowed
from engine.profiles.outbox import STATUSES as WRITEBACK_STATUSES
from engine.server.refusals import error_response
from engine.server.state import InletState
from engine.store import store_cursor

# the classic text format, which every Prometheus reads (metric names here need none of 1.0.0's escaping)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WRITEBACKS = "SELECT source_id, status, count(*) FROM writebacks GROUP BY ALL"


def add_metrics(app, state: InletState) -> None:
    """Serve `GET /metrics` on `app`, count the connector kit's requests, and start every configured source's
    series at 0."""
    app.router.routes.append(Route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False))
    observe.install(metrics.VendorMetrics())
    prepare(state.config)


def prepare(config: Config) -> None:
    """The configured sources' series, at 0 until something happens (again at every scrape: a reload may add some)."""
    metrics.prepare([s.id for s in config.sources if not isinstance(s, PullSource)],
                    {s.id: list(s.object_names) for s in config.sources if isinstance(s, PullSource)})


async def metrics_endpoint(request: Request) -> Response:
    state: InletState = request.app.state.inlet
    if not admin_allowed(request, state.config):
        return error_response(401, "admin_token_required", "this endpoint needs the server's admin token as "
                              "'Authorization: Bearer <token>' when called from another machine",
                              {"WWW-Authenticate": "Bearer"})
    prepare(state.config)
    writebacks = await asyncio.to_thread(writeback_counts, state.con)
    lake = await state.lake.status() if state.lake is not None else None
    body = generate_latest(_Scrape(state, writebacks, writing=state.writing_sources(), lake=lake))
    return Response(body, media_type=CONTENT_TYPE)


def admin_allowed(request: Request, config: Config) -> bool:
    """`server.admin_token`, asked for as the console asks for it (engine/console/access.py): Bearer (Prometheus:
    `authorization: {credentials: ...}` in the scrape config) or the console's sign-in cookie."""
    return allowed(request, config.server.admin_token)


def writeback_counts(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], int]:
    """(source id, status) -> write-backs, read in a cursor of the server's connection (run it in a thread)."""
    cur = store_cursor(con)
    try:
        return {(source_id, status): n for source_id, status, n in cur.execute(WRITEBACKS).fetchall()}
    finally:
        cur.close()


class _Scrape:
    """One scrape: the process's metrics, then the server's gauges (a registry as generate_latest sees one)."""

    def __init__(self, state: InletState, writebacks: dict[tuple[str, str], int], writing: list[str],
                 lake: dict | None = None) -> None:
        self.state, self.writebacks, self.writing, self.lake = state, writebacks, writing, lake

    def collect(self) -> Iterator[Metric]:
        yield from metrics.REGISTRY.collect()
        yield from server_gauges(self.state, self.writebacks, self.writing)
        if self.lake is not None:
            yield from lake_gauges(self.lake)


def lake_gauges(lake: dict) -> Iterator[Metric]:
    """The lake's lag (engine/lake/service.py), with `lake:` configured; absent until the first export ends."""
    if lake["events_behind"] is not None:
        yield GaugeMetricFamily("inlet_lake_events_behind", "Events the store holds and the lake does not yet.",
                                value=lake["events_behind"])
        yield GaugeMetricFamily("inlet_lake_lag_seconds", "How long the oldest event not yet in the lake has waited "
                                "(0: the lake has them all).", value=lake["lag_seconds"])
    if lake.get("last_export_at"):
        yield GaugeMetricFamily("inlet_lake_last_export_timestamp_seconds", "When the last lake export that "
                                "succeeded ended (Unix time).",
                                value=datetime.fromisoformat(lake["last_export_at"]).timestamp())


def server_gauges(state: InletState, writebacks: dict[tuple[str, str], int], writing: list[str]) -> Iterator[Metric]:
    writer = state.writer
    yield GaugeMetricFamily("inlet_spool_pending_events", "Events acknowledged (durable in the spool) and not yet "
                            "in DuckDB.", value=writer.pending_events())
    yield GaugeMetricFamily("inlet_spool_bytes", "Size of the spool's segment files on disk.",
                            value=writer.spool_bytes())
    yield GaugeMetricFamily("inlet_ingest_lag_seconds", "How long the oldest acknowledged batch not yet in DuckDB "
                            "has waited (0: the store holds everything acknowledged).", value=writer.ingest_lag())
    yield CounterMetricFamily("inlet_quarantined_rows", "Rows DuckDB refused, kept in the spool's quarantine.jsonl "
                              "for a person.", value=writer.set_aside)
    family = CounterMetricFamily("inlet_schema_violations", "Events of a push source that broke their schema: "
                                 "refused (enforce mode) or stored with their violations (warn mode).",
                                 labels=["source_id", "outcome"])
    for (source_id, what), n in sorted(state.policy.counts.copy().items()):
        if what in ("refused", "warned"):
            family.add_metric([source_id, what], n)
    yield family
    family = GaugeMetricFamily("inlet_writebacks", "Write-backs (the two-way outbox) by status.",
                               labels=["source_id", "status"])
    counts = {(source_id, status): 0 for source_id in writing for status in WRITEBACK_STATUSES}
    counts.update(writebacks)
    for (source_id, status), n in sorted(counts.items()):
        family.add_metric([source_id, status], n)
    yield family
    family = GaugeMetricFamily("inlet_scheduler_next_run_timestamp_seconds", "When the scheduler runs the object "
                               "next (Unix time; retries included).", labels=["source_id", "object"])
    scheduler = state.scheduler
    if scheduler is not None:
        for (source_id, name), when in sorted(scheduler.next_runs_by_object().items()):
            family.add_metric([source_id, name], when.timestamp())
    yield family

