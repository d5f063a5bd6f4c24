"""The sync runner: one pull of one source, stream after stream, through the store writer.

Fetching and committing overlap: a stream's pages go into a bounded queue (so memory stays flat however
many records there are), and the runner commits everything waiting in one store-writer job — rows, events
and the cursor of the last page together. The queue's bound is also the backpressure: a slow store slows the
fetching, never the other way round.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import duckdb
import httpx
from orjson import OPT_SORT_KEYS, dumps

from connectors.kit import ConnectorError, CredentialsRefused, DailyLimitReached, TransientError
from connectors.kit.ids import new_id
from connectors.kit.model import Connector, Page, Stream
from engine import logs, metrics
from engine.profiles import Registry
from engine.sync.apply import Counts, Target, apply_pages, load_cursor, now_us

log = logging.getLogger("inlet.sync")

QUEUE_PAGES = 64  # pages fetched ahead of the store at most (JSON text: ~70 KB a page of 100)
COMMIT_PAGES = 64  # pages in one transaction at most
COMMIT_BYTES = 8 << 20  # and at most this much record JSON: big records (HubSpot's) keep transactions small
COMMIT_WINDOW = 0.2  # seconds pages may gather before a transaction takes them
GATHER_POLL = 0.005
INTERRUPTED = "interrupted: the process running this sync ended before it finished"
STOPPED = "stopped: the server was shutting down; the next run resumes from the last committed page"


class Stopped(Exception):
    """The process is stopping: the pages fetched so far are committed, the rest waits for the next run."""

RunJob = Callable[[Callable[[duckdb.DuckDBPyConnection], Any]], Awaitable[Any]]
Progress = Callable[[str, Counts, bool], None]


@dataclass
class StreamResult:
    name: str
    object_type: str
    status: str = "running"
    counts: Counts = field(default_factory=Counts)
    seconds: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    refused: bool = False  # the credentials were refused: the other streams are not tried
    rate_limited: int = 0  # answers that said slow down (429, THROTTLED) while this object was read
    transient: bool = False  # failed for a passing reason (network, 5xx, 429 after the request's retries)


@dataclass
class SyncResult:
    source_id: str
    run_id: str
    streams: list[StreamResult] = field(default_factory=list)
    http: dict[str, int] = field(default_factory=dict)  # requests sent, 429s received
    writebacks: dict[str, int] | None = None  # the source's write-backs sent after the pull, by outcome

    @property
    def ok(self) -> bool:
        return all(s.status == "succeeded" for s in self.streams)


_END = object()


async def run_sync(source_id: str, connector: Connector, run_job: RunJob, *, objects: list[str] | None = None,
                   full_refresh: bool = False, progress: Progress | None = None,
                   stop: asyncio.Event | None = None, profiles: Registry | None = None) -> SyncResult:
    """Pull `objects` (plural names; default all the connector's streams) of one source. `run_job(fn)` runs
    `fn(con)` in a store transaction (the store writer's `run`). Never raises for a stream's failure: it is in
    the result and in `sync_runs`; stops early when the credentials are refused, the daily quota is spent, or
    `stop` is set (after committing the pages already fetched)."""
    result = SyncResult(source_id, new_id())
    streams = [s for s in connector.streams() if objects is None or s.name in objects]
    for stream in streams:
        if stop is not None and stop.is_set():
            break
        outcome = StreamResult(stream.name, stream.object_type)
        result.streams.append(outcome)
        with logs.bound(source_id=source_id, run_id=result.run_id, object=stream.name):
            await _run_stream(source_id, result.run_id, stream, run_job, outcome, full_refresh, progress, stop,
                              profiles, connector)
        c = outcome.counts
        metrics.sync_finished(source_id, stream.name, outcome.status, c.created, c.updated, c.deleted, outcome.seconds)
        if outcome.refused:
            break
    result.http = connector.http_stats()
    return result


def _slowed(connector: Connector) -> int:
    """The connector's answers so far that said slow down: 429s, and in-band ones such as Shopify's THROTTLED."""
    stats = connector.http_stats()
    return stats.get("rate_limited", 0) + stats.get("throttled", 0)


async def _run_stream(source_id: str, run_id: str, stream: Stream, run_job: RunJob, outcome: StreamResult,
                      full_refresh: bool, progress: Progress | None, stop: asyncio.Event | None,
                      profiles: Registry | None, connector: Connector) -> None:
    """The object's 429s are the connector's slow-down answers counted over its run (the objects of one source
    are read one after another)."""
    target = Target(source_id, stream.object_type, run_id, profiles)
    started = time.monotonic()
    slowed_before = _slowed(connector)
    cursor = await run_job(lambda con: _begin(con, target))
    try:
        await _pump(stream, cursor, full_refresh, target, run_job, outcome, progress, stop)
        outcome.status = "succeeded"
    except Stopped:
        outcome.status, outcome.error = "failed", STOPPED
    except (CredentialsRefused, DailyLimitReached) as exc:  # every later request would be refused too
        outcome.status, outcome.error, outcome.refused = "failed", str(exc), True
    except ConnectorError as exc:  # already names the source, the object and the HTTP status
        outcome.status, outcome.error = "failed", str(exc)
        outcome.transient = isinstance(exc, TransientError)
    except httpx.TransportError as exc:
        outcome.status, outcome.transient = "failed", True
        outcome.error = f"source {source_id!r}, object {stream.name!r}: {type(exc).__name__}: {exc}"
    except Exception as exc:  # a page the connector could not read, or the store refusing: say where
        outcome.status = "failed"
        outcome.error = f"source {source_id!r}, object {stream.name!r}: {type(exc).__name__}: {exc}"
        log.warning("sync of %s/%s failed", source_id, stream.name, exc_info=True)
    except BaseException:  # cancelled or interrupted: say so if the store is still there, then go on ending
        outcome.status, outcome.error = "failed", INTERRUPTED
        outcome.rate_limited = _slowed(connector) - slowed_before
        try:
            await asyncio.shield(run_job(lambda con: _finish(con, target, outcome)))
        except BaseException:
            pass
        raise
    outcome.seconds = time.monotonic() - started
    outcome.rate_limited = _slowed(connector) - slowed_before
    await run_job(lambda con: _finish(con, target, outcome))
    if progress:
        progress(stream.name, outcome.counts, True)


async def _pump(stream: Stream, cursor: Any, full_refresh: bool, target: Target, run_job: RunJob,
                outcome: StreamResult, progress: Progress | None, stop: asyncio.Event | None = None) -> None:
    queue: asyncio.Queue = asyncio.Queue(QUEUE_PAGES)

    async def fetch() -> None:
        try:
            async for page in stream.read(cursor, full_refresh=full_refresh):
                page.size = _serialize(page)
                await queue.put(page)
        finally:
            await queue.put(_END)

    fetcher = asyncio.create_task(fetch(), name=f"fetch {target.source_id}/{stream.name}")
    try:
        ended = False
        while not ended:
            batch: list[Page] = []
            item = await queue.get()
            # Let pages gather for a moment (a commit costs about the same for 1 page as for 50): until the
            # queue is full, the fetching ended or the window closed. Polled, not `wait_for(queue.get())`,
            # which in Python 3.11 can drop the item it was cancelled for.
            deadline = time.monotonic() + COMMIT_WINDOW
            while queue.qsize() < QUEUE_PAGES and not fetcher.done() and time.monotonic() < deadline:
                await asyncio.sleep(GATHER_POLL)
            size = 0
            while True:
                if item is _END:
                    ended = True
                    break
                batch.append(item)
                size += item.size
                if len(batch) >= COMMIT_PAGES or size >= COMMIT_BYTES or queue.empty():
                    break
                item = queue.get_nowait()
            if batch:
                counts = await run_job(partial(apply_pages, target=target, pages=batch))
                outcome.counts.add(counts)
                outcome.notes += [p.note for p in batch if p.note]
                if progress:
                    progress(stream.name, outcome.counts, False)
            if stop is not None and stop.is_set() and not ended:
                raise Stopped()  # what was fetched is committed with its cursor; the rest waits
        await fetcher  # raises what the fetching raised, after every page fetched before it is stored
    finally:
        if not fetcher.done():
            fetcher.cancel()
            try:
                await fetcher
            except BaseException:
                pass


def _serialize(page: Page) -> int:
    """Turn the page's objects into compact JSON text with sorted keys (waiting pages hold that, not the parsed
    objects); returns its size in bytes."""
    size = 0
    for record in page.records:
        if isinstance(record.data, dict):
            record.data = dumps(record.data, option=OPT_SORT_KEYS).decode()
        size += len(record.data) if record.data is not None else 0
    return size


def _begin(con: duckdb.DuckDBPyConnection, target: Target) -> Any:
    """Close what a killed run left `running`, log this one as running, and return the stream's cursor."""
    now = now_us()
    con.execute("""UPDATE sync_runs SET status = 'failed', finished_at = make_timestamp($now)::TIMESTAMPTZ,
                       error = $error
                   WHERE source_id = $source AND object_type = $type AND status = 'running'""",
                {"now": now, "error": INTERRUPTED, "source": target.source_id, "type": target.object_type})
    con.execute("""INSERT INTO sync_runs (run_id, source_id, object_type, started_at, status, records_read,
                       records_changed)
                   VALUES ($run::UUID, $source, $type, make_timestamp($now)::TIMESTAMPTZ, 'running', 0, 0)""",
                {"run": target.run_id, "source": target.source_id, "type": target.object_type, "now": now})
    return load_cursor(con, target.source_id, target.object_type)


def _finish(con: duckdb.DuckDBPyConnection, target: Target, outcome: StreamResult) -> None:
    con.execute("""UPDATE sync_runs SET status = $status, finished_at = make_timestamp($now)::TIMESTAMPTZ,
                       error = $error, rate_limited = $rate_limited
                   WHERE run_id = $run::UUID AND object_type = $type""",
                {"status": outcome.status, "now": now_us(), "error": outcome.error, "run": target.run_id,
                 "type": target.object_type, "rate_limited": outcome.rate_limited})


def record_skipped(con: duckdb.DuckDBPyConnection, source_id: str, object_types: list[str], reason: str) -> None:
    """Log a run that did not start (another sync of the source was running) as `skipped`."""
    run_id, now = new_id(), now_us()
    for object_type in object_types:
        con.execute("""INSERT INTO sync_runs (run_id, source_id, object_type, started_at, finished_at, status,
                           records_read, records_changed, error)
                       VALUES ($run::UUID, $source, $type, make_timestamp($now)::TIMESTAMPTZ,
                               make_timestamp($now)::TIMESTAMPTZ, 'skipped', 0, 0, $reason)""",
                    {"run": run_id, "source": source_id, "type": object_type, "now": now, "reason": reason})
