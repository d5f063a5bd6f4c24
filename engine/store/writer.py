"""The one store writer of a process: an async front and a thread that commits in groups.

Request handlers `await writer.write(item)`; the thread takes everything queued since its last commit,
stores it in one transaction and then resolves every waiting future at once. So a thousand concurrent
requests cost a handful of commits, and a 200 is only ever sent for an event that is committed.

Other writes (config mirroring, later the sync pages) run as jobs: `await writer.run(fn)` calls
`fn(con)` on the writer thread in its own transaction, in queue order with the events.

The thread keeps two caches that only it updates, after a commit: session id → profile id, and recent
idempotency keys. Misses fall back to the store, so a restart loses nothing but warmth.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from engine.ids import new_id

log = logging.getLogger("inlet.store")

_TS = pa.timestamp("us", tz="UTC")
_CACHE_SIZE = 200_000


@dataclass(slots=True)
class EventIn:
    """An event ready to store: built and validated by the caller, profile resolved here."""

    event_id: str
    source_id: str
    event_type: str
    occurred_us: int
    received_us: int
    session_id: str | None
    properties: str  # JSON text
    context: str  # JSON text
    idempotency_key: str | None = None


@dataclass(slots=True, frozen=True)
class Stored:
    event_id: str
    source_id: str
    event_type: str
    profile_id: str | None
    session_id: str | None
    replayed: bool = False  # True when an idempotency key matched an event stored before


@dataclass(slots=True)
class RejectionIn:
    source_id: str | None
    received_us: int
    method: str
    path: str
    status: int
    reason: str
    size: int
    excerpt: str
    context: str  # JSON text


class _Job:
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]):
        self.fn = fn


_STOP = object()


class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


class StoreWriter:
    def __init__(self, con: duckdb.DuckDBPyConnection, *, max_batch: int = 4096):
        self._con = con
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sessions: _LRU = _LRU(_CACHE_SIZE)  # session_id -> profile_id
        self._keys: _LRU = _LRU(_CACHE_SIZE)  # (source_id, key) -> Stored
        self.transactions = 0  # commits made, for tests and benchmarks
        self.items = 0

    # -- the async front ------------------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="inlet-store-writer", daemon=True)
        self._thread.start()

    async def write(self, item: EventIn | RejectionIn) -> Stored | None:
        fut = self._loop.create_future()
        self._queue.put((item, fut))
        return await fut

    async def run(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        """Run `fn(con)` on the writer thread in its own transaction; its result is returned."""
        fut = self._loop.create_future()
        self._queue.put((_Job(fn), fut))
        return await fut

    async def barrier(self) -> None:
        """Return once everything queued before this call is committed."""
        await self.run(lambda con: None)

    def stop(self) -> None:
        """Commit what is queued, then end the thread. Safe to call twice."""
        if self._thread and self._thread.is_alive():
            self._queue.put((_STOP, None))
            self._thread.join()

    # -- the thread -----------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item, _ in batch)
            batch = [(item, fut) for item, fut in batch if item is not _STOP]
            self._process(batch)
            if stop:
                return

    def _process(self, batch: list) -> None:
        group: list = []
        for item, fut in batch:
            if isinstance(item, _Job):
                if group:
                    self._commit_group(group)
                    group = []
                self._commit_job(item, fut)
            else:
                group.append((item, fut))
        if group:
            self._commit_group(group)

    def _commit_job(self, job: _Job, fut) -> None:
        con = self._con
        try:
            con.execute("BEGIN")
            result = job.fn(con)
            con.execute("COMMIT")
            self.transactions += 1
        except BaseException as exc:
            _rollback(con)
            self._resolve([(fut, None, exc)])
            return
        self._resolve([(fut, result, None)])

    def _commit_group(self, group: list) -> None:
        events = [(item, fut) for item, fut in group if isinstance(item, EventIn)]
        rejections = [item for item, _ in group if isinstance(item, RejectionIn)]
        con = self._con
        try:
            con.execute("BEGIN")
            results, new_sessions, new_keys = self._store_events(con, [e for e, _ in events])
            if rejections:
                _insert_rejections(con, rejections)
            con.execute("COMMIT")
        except Exception as exc:
            _rollback(con)
            if len(group) > 1:  # one bad item must not sink the others: store them one by one
                for one in group:
                    self._commit_group([one])
                return
            log.error("store write failed: %s", exc)
            self._resolve([(fut, None, StoreUnavailable(str(exc))) for _, fut in group])
            return
        self.transactions += 1
        self.items += len(group)
        for sid, pid in new_sessions:
            self._sessions.put(sid, pid)
        for key, stored in new_keys:
            self._keys.put(key, stored)
        by_event = iter(results)
        self._resolve([(fut, next(by_event) if isinstance(item, EventIn) else None, None) for item, fut in group])

    def _store_events(self, con, events: list[EventIn]):
        """Dedupe by idempotency key, resolve sessions to profiles, insert. Returns one Stored per event,
        plus the cache entries to remember once the transaction has committed."""
        results: list[Stored | None] = [None] * len(events)
        fresh: list[int] = []  # indexes of events to insert
        remember_keys: list[tuple[tuple[str, str], Stored]] = []
        waiting: dict[tuple[str, str], list[int]] = {}  # keys not in the cache -> indexes carrying them
        for i, ev in enumerate(events):
            if ev.idempotency_key is None:
                fresh.append(i)
            elif (key := (ev.source_id, ev.idempotency_key)) in self._keys:
                results[i] = _replay(self._keys[key])
            else:
                waiting.setdefault(key, []).append(i)
        known = _lookup_keys(con, list(waiting)) if waiting else {}
        new_keys: dict[tuple[str, str], list[int]] = {}
        for key, idxs in waiting.items():
            if key in known:
                remember_keys.append((key, known[key]))
                for i in idxs:
                    results[i] = _replay(known[key])
            else:
                new_keys[key] = idxs
                fresh.append(idxs[0])  # the first carrier of a new key is stored; the others replay it
        fresh.sort()

        sessions = {events[i].session_id for i in fresh if events[i].session_id is not None}
        profile_of = {s: self._sessions[s] for s in sessions if s in self._sessions}
        missing = [s for s in sessions if s not in profile_of]
        if missing:
            profile_of.update(_lookup_sessions(con, missing))
        created: list[tuple[str, str, str, int]] = []  # session, profile, source, time
        for i in fresh:
            ev = events[i]
            if ev.session_id is not None and ev.session_id not in profile_of:
                profile_of[ev.session_id] = new_id()
                created.append((ev.session_id, profile_of[ev.session_id], ev.source_id, ev.received_us))

        for i in fresh:
            ev = events[i]
            pid = profile_of[ev.session_id] if ev.session_id is not None else None
            results[i] = Stored(ev.event_id, ev.source_id, ev.event_type, pid, ev.session_id)
        inserted_keys = []
        for key, idxs in new_keys.items():
            first = results[idxs[0]]
            inserted_keys.append((key, first, events[idxs[0]].received_us))
            for i in idxs[1:]:
                results[i] = _replay(first)

        if created:
            _insert_sessions(con, created)
        if fresh:
            _insert_events(con, [events[i] for i in fresh], [results[i].profile_id for i in fresh])
        if inserted_keys:
            _insert_keys(con, inserted_keys)
        remember_keys += [(key, stored) for key, stored, _ in inserted_keys]
        return results, list(profile_of.items()), remember_keys

    def _resolve(self, outcomes: list) -> None:
        def apply() -> None:
            for fut, result, exc in outcomes:
                if fut is None or fut.done():
                    continue
                if exc is not None:
                    fut.set_exception(exc)
                else:
                    fut.set_result(result)

        try:
            self._loop.call_soon_threadsafe(apply)
        except RuntimeError:  # the loop is gone: nobody is waiting any more
            pass


class StoreUnavailable(Exception):
    """The store refused a write (disk full, I/O error): the request gets a 503, nothing is acknowledged."""


def _replay(stored: Stored) -> Stored:
    return Stored(stored.event_id, stored.source_id, stored.event_type, stored.profile_id, stored.session_id, True)


def _rollback(con) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


def _with_table(con, name: str, table: pa.Table, sql: str):
    con.register(name, table)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.unregister(name)


def _lookup_keys(con, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Stored]:
    table = pa.table({"source_id": [k[0] for k in keys], "key": [k[1] for k in keys]})
    rows = _with_table(
        con,
        "_keys",
        table,
        """SELECT k.source_id, k.key, e.event_id::VARCHAR, e.event_type, e.profile_id::VARCHAR, e.session_id
           FROM idempotency_keys k JOIN _keys q USING (source_id, key) JOIN events e USING (event_id)""",
    )
    return {(r[0], r[1]): Stored(r[2], r[0], r[3], r[4], r[5]) for r in rows}


def _lookup_sessions(con, session_ids: list[str]) -> dict[str, str]:
    rows = _with_table(
        con,
        "_sessions",
        pa.table({"session_id": session_ids}),
        "SELECT s.session_id, s.profile_id::VARCHAR FROM sessions s JOIN _sessions q USING (session_id)",
    )
    return dict(rows)


def _insert_sessions(con, created: list[tuple[str, str, str, int]]) -> None:
    sessions, profiles, sources, times = (list(c) for c in zip(*created, strict=True))
    table = pa.table(
        {
            "session_id": sessions,
            "profile_id": profiles,
            "source_id": sources,
            "created_at": pa.array(times, _TS),
        }
    )
    con.register("_new_sessions", table)
    try:
        con.execute(
            """INSERT INTO profiles SELECT profile_id::UUID, '{}', created_at, created_at FROM _new_sessions"""
        )
        con.execute(
            "INSERT INTO sessions SELECT session_id, profile_id::UUID, source_id, created_at FROM _new_sessions"
        )
    finally:
        con.unregister("_new_sessions")


def _insert_events(con, events: list[EventIn], profile_ids: list[str | None]) -> None:
    table = pa.table(
        {
            "event_id": [e.event_id for e in events],
            "source_id": [e.source_id for e in events],
            "event_type": [e.event_type for e in events],
            "occurred_at": pa.array([e.occurred_us for e in events], _TS),
            "received_at": pa.array([e.received_us for e in events], _TS),
            "profile_id": pa.array(profile_ids, pa.string()),
            "session_id": pa.array([e.session_id for e in events], pa.string()),
            "properties": [e.properties for e in events],
            "context": [e.context for e in events],
        }
    )
    con.register("_events", table)
    try:
        con.execute(
            """INSERT INTO events SELECT event_id::UUID, source_id, event_type, occurred_at, received_at,
                      profile_id::UUID, session_id, properties::JSON, context::JSON FROM _events"""
        )
    finally:
        con.unregister("_events")


def _insert_keys(con, keys: list[tuple[tuple[str, str], Stored, int]]) -> None:
    table = pa.table(
        {
            "source_id": [k[0] for k, _, _ in keys],
            "key": [k[1] for k, _, _ in keys],
            "event_id": [s.event_id for _, s, _ in keys],
            "created_at": pa.array([t for _, _, t in keys], _TS),
        }
    )
    con.register("_new_keys", table)
    try:
        con.execute("INSERT INTO idempotency_keys SELECT source_id, key, event_id::UUID, created_at FROM _new_keys")
    finally:
        con.unregister("_new_keys")


def _insert_rejections(con, rejections: list[RejectionIn]) -> None:
    table = pa.table(
        {
            "rejection_id": [new_id() for _ in rejections],
            "source_id": pa.array([r.source_id for r in rejections], pa.string()),
            "received_at": pa.array([r.received_us for r in rejections], _TS),
            "method": [r.method for r in rejections],
            "path": [r.path for r in rejections],
            "status": pa.array([r.status for r in rejections], pa.int32()),
            "reason": [r.reason for r in rejections],
            "size": pa.array([r.size for r in rejections], pa.int64()),
            "excerpt": [r.excerpt for r in rejections],
            "context": [r.context for r in rejections],
        }
    )
    con.register("_rejections", table)
    try:
        con.execute(
            """INSERT INTO rejections SELECT rejection_id::UUID, source_id, received_at, method, path, status,
                      reason, size, excerpt, context::JSON FROM _rejections"""
        )
    finally:
        con.unregister("_rejections")
