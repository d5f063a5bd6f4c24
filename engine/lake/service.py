"""The lake in the process that holds the store: `inlet serve` exports every `lake.every` and keeps the lake tidy
every `lake.compact_every`; `inlet lake export` (through a running server's control socket, or here) exports once;
`inlet status` and `GET /status` show how far behind the lake is.

Everything blocking (pyiceberg, reading the store) runs in a worker thread on a read cursor of the store; the one
write, the digests of rows the lake took (engine/lake/changes.py), is a job of the store writer. The lake being
unreachable or refusing a commit never touches acknowledgements: the events stay in the store, `last_error` says
why, and the next export takes up from the lake's own watermark.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime
from typing import TypeVar

import duckdb
import sqlalchemy.exc

from engine.config.lake import LakeConfig
from engine.lake import changes
from engine.lake.catalog import LakeError, open_lake, read_watermark, reason, redact
from engine.lake.export import Exporter
from engine.lake.housekeeping import due, housekeep
from engine.store import StoreWriter, store_cursor

log = logging.getLogger("inlet.lake")
T = TypeVar("T")
REMEMBER_TIMEOUT = 120.0  # seconds the export waits for the store writer to keep the digests of what it sent


class LakeService:
    def __init__(self, config: LakeConfig, con: duckdb.DuckDBPyConnection, writer: StoreWriter):
        self.config = config
        self._con = con
        self._writer = writer
        self._lock = asyncio.Lock()  # one export or housekeeping at a time
        self._exporter: Exporter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_export_at: datetime | None = None
        self.last_result: dict | None = None
        self.last_error: str | None = None
        self.last_housekeeping: dict | None = None
        self.mark: int | None = None  # the node's watermark after the last export that succeeded here
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start the export loop on the running event loop (`inlet serve`)."""
        self._task = asyncio.get_running_loop().create_task(self.run_forever())

    async def stop(self, timeout: float) -> None:
        """End the loop after the export in progress, if any, has committed and been remembered (cutting it short
        would leave files behind, and its worker thread waiting on a store writer that is gone), for at most
        `timeout` seconds; before the store writer stops."""
        deadline = time.monotonic() + timeout
        if self._task is not None:
            self._stopping.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
        try:  # an export a control request started
            await asyncio.wait_for(self._lock.acquire(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            log.warning("a lake export still runs after %s s; it ends with the process (the next one takes over)",
                        timeout)
            return
        if self._exporter is not None:
            self._exporter.lake.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    async def export_now(self) -> dict:
        """One export, after whatever export runs now; returns what it sent. Raises LakeError."""
        async with self._lock:
            self._loop = asyncio.get_running_loop()
            try:
                exporter = self._exporter or await self._in_lake_thread(self._open)
                self._exporter = exporter
                result = (await self._in_lake_thread(_guarded, exporter.export)).as_dict()
            except LakeError as exc:
                self.last_error = str(exc)
                if self._exporter is not None:  # opened again next time: a catalog back, a table made anew
                    self._exporter.lake.close()
                    self._exporter = None
                raise
            self.last_error = None
            self.mark = exporter.mark
            self.last_export_at = datetime.now(UTC)
            self.last_result = result
            return result

    async def housekeep_now(self) -> dict:
        async with self._lock:
            if self._exporter is None:
                raise LakeError("lake: housekeeping waits for the first export to open the lake")
            result = await self._in_lake_thread(_guarded, housekeep, self._exporter.lake, await self._own_sources())
            self.last_housekeeping = {"at": datetime.now(UTC).isoformat(), **result}
            return result

    async def run_forever(self) -> None:
        """`inlet serve`'s loop: export, then wait `every`; housekeeping when `compact_every` has passed."""
        every = self.config.every.total_seconds()
        next_housekeeping = time.monotonic() + self.config.compact_every.total_seconds()
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                result = await self.export_now()
                if result["events"] or result["upserted"] or result["deleted"]:
                    log.info("lake export: %s", result)
                if time.monotonic() >= next_housekeeping or due(self._exporter.lake):
                    next_housekeeping = time.monotonic() + self.config.compact_every.total_seconds()
                    log.info("lake housekeeping: %s", await self.housekeep_now())
            except LakeError as exc:
                log.error("lake export failed (the events stay in the store and go at the next one): %s", exc)
            except Exception as exc:  # a bug must not end the exports; it is logged whole, and said in /status
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("lake export failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), max(0.0, every - (time.monotonic() - started)))
            except TimeoutError:
                continue

    async def status(self) -> dict:
        """What `/status` and `inlet status` show of the lake."""
        more = {"last_export_at": self.last_export_at, "last_error": self.last_error, "last_result": self.last_result,
                "last_housekeeping": self.last_housekeeping}
        if self.mark is None:  # no export has ended here yet: how far the lake is is not known
            return {**describe(self.config, None, 0, None, **more), "events_behind": None}
        count, oldest = await asyncio.to_thread(self._read, changes.behind, self.mark)
        return describe(self.config, self.mark, count, oldest, **more)

    async def _in_lake_thread(self, fn, *args):
        """Run `fn(*args)` on the lake's own thread, whose CPU priority is below the request handlers' (nice +10):
        when the process is busy with requests, the export gets a smaller share of the core and the lake falls a
        little behind, instead of acknowledgements slowing down; when it is not, the export runs as fast as ever."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inlet-lake",
                                                initializer=_lower_priority)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _own_sources(self) -> set[str]:
        rows = await asyncio.to_thread(self._read, lambda cur: cur.execute("SELECT DISTINCT source_id FROM records")
                                       .fetchall())
        return {r[0] for r in rows}

    def _read(self, fn: Callable[..., T], *args) -> T:
        """`fn(cur, *args)` on a fresh read cursor of the store (for a worker thread), closed after."""
        with closing(store_cursor(self._con)) as cur:
            return fn(cur, *args)

    def _open(self) -> Exporter:
        return Exporter(open_lake(self.config), lambda: store_cursor(self._con), self._remember)

    def _remember(self, fn: Callable[[duckdb.DuckDBPyConnection], object]) -> object:
        """Run `fn` as a store writer job from the export's worker thread, and wait for its commit."""
        return asyncio.run_coroutine_threadsafe(self._writer.run(fn), self._loop).result(REMEMBER_TIMEOUT)


def _lower_priority() -> None:
    """Nice the calling thread (on Linux a thread has a priority of its own); where that is refused, run as is."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10))
    except (OSError, AttributeError):
        pass


def _guarded(fn, *args):
    """Errors of the catalog's database or of the warehouse's storage, as LakeErrors naming the key."""
    try:
        return fn(*args)
    except LakeError:
        raise
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise LakeError(f"lake.catalog: {reason(exc)}") from None
    except OSError as exc:
        raise LakeError(f"lake.warehouse: {reason(exc)}") from None


def describe(config: LakeConfig, mark: int | None, behind: int, oldest, **more) -> dict:
    """The lake's lag: events the store holds that the lake does not (`events_behind`), and how long the oldest of
    them has waited (`lag_seconds`; 0 when none waits)."""
    lag = 0.0
    if behind and oldest is not None:
        oldest_at = oldest if isinstance(oldest, datetime) else datetime.fromisoformat(str(oldest))
        lag = max(0.0, (datetime.now(UTC) - oldest_at).total_seconds())
    out = {"node": config.node, "catalog": redact(config.catalog), "warehouse": config.warehouse,
           "namespace": config.namespace, "watermark": mark, "events_behind": int(behind),
           "lag_seconds": round(lag, 3)}
    for key, value in more.items():
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


def file_status(config: LakeConfig, query: Callable[[str], list[list]]) -> dict:
    """The lake's lag without a server: the watermark read from the lake, the events behind from the store file."""
    try:
        mark = _guarded(read_watermark, config)
    except LakeError as exc:
        return {**describe(config, None, 0, None), "events_behind": None, "last_error": str(exc)}
    seq = mark.seq if mark else 0
    rows = query(f"SELECT count(*), min(received_at) FROM events WHERE ingest_seq > {seq}")
    return describe(config, seq, rows[0][0], rows[0][1])
