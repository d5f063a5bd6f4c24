"""The one store writer of a process: an async front and two threads.

    request handlers --write()--> spool thread --record--> ingest thread --> DuckDB
                      <--answer-- (resolve, spool, fdatasync)   (big transactions, cursor of the spool)

The spool thread takes everything queued, resolves sessions to profiles and idempotency keys to earlier
answers, writes the batch to the spool with one `write` and one `fdatasync`, and only then answers every
request of the batch at once: acknowledged means durable. The ingest thread moves spooled records into
DuckDB, merging all that is waiting into one transaction that also records the highest sequence number it
holds; at start-up the spool is replayed above that number. DuckDB's cost per transaction is nearly fixed,
so this keeps it off the acknowledgement path and spreads it over many events.

Other writes run as jobs on the ingest thread: `await writer.run(fn)` calls `fn(con)` in a transaction of
its own, after every record acknowledged before it. `await writer.flush()` waits for that point, which is
how readers see everything already acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from engine import metrics
from engine.store.database import StoreError, store_cursor
from engine.store.identity import Identity
from engine.store.ingest import (
    RECORD_TABLES,
    Batch,
    committed_seq,
    ingest,
    lookup_keys,
    lookup_sessions,
    lookup_users,
)
from engine.store.items import EventIn, RejectionIn, StoreBehind, Stored, StoreUnavailable
from engine.store.resolution import resolve_batch
from engine.store.spool import QUARANTINE, Spool, SpoolError
from engine.store.spool import health as spool_health

log = logging.getLogger("inlet.store")

REPLAY_ROWS = 20_000  # rows per transaction when replaying the spool at start-up
INGEST_WINDOW = 0.05  # seconds the ingest thread lets records gather: at most ~20 DuckDB commits a second


class _Job:
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]):
        self.fn = fn


_STOP = object()


class StoreWriter:
    def __init__(self, con: duckdb.DuckDBPyConnection, spool_directory: Path, *, max_batch: int = 4096):
        self._con = con
        self._read = store_cursor(con)  # the spool thread's own connection, for identity lookups
        self._spool = Spool(spool_directory)
        self._max_batch = max_batch
        self._front: queue.SimpleQueue = queue.SimpleQueue()
        self._ingest_queue: queue.SimpleQueue = queue.SimpleQueue()
        self._identity = Identity(lambda ids: lookup_sessions(self._read, ids),
                                  lambda keys: lookup_keys(self._read, keys),
                                  lambda ids: lookup_users(self._read, ids))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._recovered = False
        self._stopping = False
        self._held = False  # a batch was left in the spool at shutdown: nothing after it is committed
        self._seq = 0  # last sequence number spooled
        self.ingested_seq = 0  # last sequence number committed to DuckDB
        self.spool_writes = 0  # batches made durable, for tests and benchmarks
        self.transactions = 0  # DuckDB commits
        self.last_error: str | None = None
        self.set_aside = 0  # records the store refused, kept in quarantine.jsonl
        self.flush_timeout = 10.0  # seconds a reader waits for the store to catch up before it is told
        # called in each ingest transaction with the event rows it stores (the profile mappings of push sources)
        self.on_events: Callable[[duckdb.DuckDBPyConnection, list[list]], object] | None = None
        self.mapping_failures = 0  # ingest transactions whose events were stored without their mapping
        # spooled batches not yet in DuckDB, oldest first: (seq, events, time.monotonic() when spooled); appended by
        # the spool thread, taken off by the ingest thread (deque's append and popleft are thread-safe)
        self._unstored: deque[tuple[int, int, float]] = deque()
        self.events_spooled = 0  # since start, by the spool thread
        self.events_stored = 0  # of those, committed to DuckDB (or quarantined), by the ingest thread

    # -- the async front ------------------------------------------------------------------------------
    def recover(self) -> int:
        """Take in what the spool holds beyond the store's last committed record. Returns events replayed."""
        try:
            return self._recover()
        except duckdb.Error as exc:
            raise StoreError(f"could not take in the acknowledged events waiting in {self._spool.dir}: {exc} "
                             "(they stay there; fix the cause and start again)") from None

    def _recover(self) -> int:
        committed = committed_seq(self._con)
        self.ingested_seq = committed
        batch, replayed, top = Batch(), 0, committed
        for seq, payload in self._spool.replay(committed):
            top = max(top, seq)
            if seq <= committed:
                continue
            batch.add(seq, orjson.loads(payload))
            if len(batch) >= REPLAY_ROWS:
                replayed += len(batch.rows["events"])
                self._ingest_or_set_aside(batch)
                batch = Batch()
        if len(batch):
            replayed += len(batch.rows["events"])
            self._ingest_or_set_aside(batch)
        self._seq = self.ingested_seq = top
        self._spool.release(top)
        self._recovered = True
        if replayed:
            log.info("took in %d acknowledged events from the spool", replayed)
        return replayed

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if not self._recovered:
            self.recover()
        self._loop = loop or asyncio.get_running_loop()
        self._threads = [threading.Thread(target=self._spool_loop, name="inlet-spool", daemon=True),
                         threading.Thread(target=self._ingest_loop, name="inlet-ingest", daemon=True)]
        for thread in self._threads:
            thread.start()

    async def write(self, item: EventIn | RejectionIn) -> Stored | None:
        fut = self._loop.create_future()
        self._front.put((item, fut))
        return await fut

    async def write_many(self, items: list[EventIn | RejectionIn]) -> list[Stored | None]:
        """`write` for several items, queued in order at once (a tracking batch): one answer each."""
        futs = [self._loop.create_future() for _ in items]
        for pair in zip(items, futs, strict=True):
            self._front.put(pair)
        answers = await asyncio.gather(*futs, return_exceptions=True)  # every outcome read: none left unretrieved
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        return answers

    async def run(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        """Run `fn(con)` on the ingest thread in its own transaction, after everything acknowledged."""
        fut = self._loop.create_future()
        self._ingest_queue.put((_Job(fn), fut))
        return await fut

    async def flush(self) -> None:
        """Return once everything acknowledged before this call is in the store."""
        try:
            await asyncio.wait_for(self.run(lambda con: None), self.flush_timeout)
        except TimeoutError:
            behind = self._seq - self.ingested_seq
            raise StoreBehind(f"the store has not yet taken in {behind} acknowledged batches "
                              f"(they are safe in the spool); last error: {self.last_error}") from None

    def health(self) -> dict:
        """What `/status` and `inlet status` show of the store's intake: acknowledged batches not yet in DuckDB,
        the last ingest error, damage found in the spool at start and what waits in quarantine for a person."""
        return {
            "spool_pending_batches": self._seq - self.ingested_seq,
            "last_error": self.last_error,
            "spool_damage": [f.describe() for f in self._spool.found if not f.harmless],
            **spool_health(self._spool.dir),
        }

    def pending_events(self) -> int:
        """Events acknowledged (durable in the spool) and not yet in DuckDB."""
        return self.events_spooled - self.events_stored

    def ingest_lag(self) -> float:
        """Seconds the oldest acknowledged batch not yet in DuckDB has waited; 0 when the store has them all."""
        try:
            return time.monotonic() - self._unstored[0][2]
        except IndexError:
            return 0.0

    def spool_bytes(self) -> int:
        """Bytes of the spool's segment files on disk (what the store has taken in stays until its segment ends)."""
        return self._spool.disk_bytes()

    def stop(self) -> None:
        """Answer and ingest what is queued, then end both threads. Safe to call twice."""
        if any(t.is_alive() for t in self._threads):
            self._stopping = True
            self._front.put((_STOP, None))
            for thread in self._threads:
                thread.join()
        self._spool.close(self.ingested_seq)

    # -- the spool thread -----------------------------------------------------------------------------
    def _spool_loop(self) -> None:
        while True:
            batch = [self._front.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._front.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item, _ in batch)
            items = [(item, fut) for item, fut in batch if item is not _STOP]
            if items:
                self._spool_batch(items)
            if stop:
                self._ingest_queue.put((_STOP, None))
                return

    def _spool_batch(self, items: list) -> None:
        seq = self._seq + 1
        try:
            self._identity.committed(self.ingested_seq)
            record, answers, sessions, users, keys = resolve_batch(self._identity, [i for i, _ in items])
            self._spool.append(seq, orjson.dumps(record))
        except (SpoolError, duckdb.Error) as exc:
            log.error("could not store a batch of %d: %s", len(items), exc)
            self._answer([(fut, None, StoreUnavailable(str(exc))) for _, fut in items])
            return
        except Exception as exc:  # a bug must not stop the thread every request waits on
            log.exception("could not store a batch of %d", len(items))
            self._answer([(fut, None, StoreUnavailable(str(exc))) for _, fut in items])
            return
        self._seq = seq
        self.spool_writes += 1
        events = len(record["ev"])
        self.events_spooled += events
        self._unstored.append((seq, events, time.monotonic()))
        self._identity.sessions.add(seq, sessions)
        self._identity.users.add(seq, users)
        self._identity.keys.add(seq, keys)
        self._ingest_queue.put((seq, record))
        self._answer([(fut, answer, None) for (_, fut), answer in zip(items, answers, strict=True)])

    # -- the ingest thread ----------------------------------------------------------------------------
    def _ingest_loop(self) -> None:
        while True:
            waiting = [self._ingest_queue.get()]
            if isinstance(waiting[0][0], int) and not self._stopping:
                time.sleep(INGEST_WINDOW)  # a job (a reader waiting on flush) does not wait for the window
            while True:
                try:
                    waiting.append(self._ingest_queue.get_nowait())
                except queue.Empty:
                    break
            batch = Batch()
            for item, payload in waiting:
                if isinstance(item, int):
                    batch.add(item, payload)
                    continue
                if len(batch):  # records before a job or the stop are committed first
                    self._commit_retrying(batch)
                    batch = Batch()
                if item is _STOP:
                    continue
                self._run_job(item, payload)
            if len(batch):
                self._commit_retrying(batch)
            if any(item is _STOP for item, _ in waiting):
                return

    def _commit_retrying(self, batch: Batch) -> None:
        """Ingest until it works: these events are acknowledged, so giving up is not an option, except at
        shutdown, where they stay in the spool for the next start. The store's sequence number only ever moves
        over records that are committed or in quarantine: once a batch is left in the spool, no later one is
        committed (it would move the number past the records left behind, and release their segment)."""
        if self._held:
            return
        delay = 0.05
        for attempt in range(1, 10**9):
            try:
                self._ingest_or_set_aside(batch)
                self.last_error = None
                return
            except Exception as exc:
                self.last_error = str(exc)
                log.error("ingesting spool records up to %d failed (attempt %d): %s", batch.seq, attempt, exc)
                if self._stopping and attempt >= 3:
                    log.error("leaving spool records %d-%d (and any after them) in the spool; the next start "
                              "takes them in", self.ingested_seq + 1, batch.seq)
                    self._held = True
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _ingest_or_set_aside(self, batch: Batch) -> None:
        """Commit the batch's records the store does not hold yet (a retry after a passing fault may find some
        committed). If DuckDB refuses their data or runs out of memory on them (not a passing fault), commit
        them record by record, and within a refused record set aside only the rows refused, so one bad row
        never holds up the rest."""
        if batch.seq <= self.ingested_seq:
            return
        if batch.records and batch.records[0][0] <= self.ingested_seq:
            batch = Batch.from_records([(seq, r) for seq, r in batch.records if seq > self.ingested_seq])
        try:
            self._commit(batch)
            return
        except Exception as exc:
            if not _refuses_data(exc):
                raise
            if len(batch.records) == 1:
                self._set_aside_refused_rows(*batch.records[0], exc)
                return
        for seq, record in batch.records:
            self._ingest_or_set_aside(Batch.of(seq, record))

    def _set_aside_refused_rows(self, seq: int, record: dict, exc: Exception) -> None:
        """Try each row alone in a transaction that is rolled back; keep the refused ones in
        `quarantine.jsonl` beside the spool (fsynced), then commit the rest with the record's sequence number.
        Nothing acknowledged is dropped: a refused row waits there for a person."""
        kept: dict[str, list] = {key: [] for key in record}
        refused: list[dict] = []
        for key, rows in record.items():
            for row in rows:
                try:
                    self._con.execute("BEGIN")
                    ingest(self._con, Batch.of(seq, {key: [row]}))
                    kept[key].append(row)
                except Exception as row_exc:
                    if not _refuses_data(row_exc):
                        raise  # a passing fault: the whole record is tried again later
                    refused.append({"table": RECORD_TABLES.get(key, key), "row": row, "error": str(row_exc)})
                finally:
                    _rollback(self._con)
        if refused:
            try:
                self._commit(Batch.of(seq, kept), quarantine=refused)
                return
            except Exception as kept_exc:
                if not _refuses_data(kept_exc):
                    raise
        # the rows only fail together: keep the whole record aside
        self._commit(Batch.of(seq, {}), quarantine=[{"record": record, "error": str(exc)}])

    def _quarantine(self, seq: int, refused: list[dict]) -> None:
        """Append refused rows to `quarantine.jsonl` (owner-only, fsynced) before the sequence number moves."""
        path = self._spool.dir / QUARANTINE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with open(fd, "ab") as out:
            for item in refused:
                out.write(orjson.dumps({"seq": seq, **item}, default=str) + b"\n")
            out.flush()
            os.fsync(out.fileno())
        log.error("the store refused %d row(s) of spool record %d (%s); they are kept in %s",
                  len(refused), seq, refused[0]["error"], path)
        self.set_aside += len(refused)

    def _commit(self, batch: Batch, *, mapped: bool = True, quarantine: list[dict] | None = None) -> None:
        """Commit the batch with its sequence number; `quarantine`: rows of it the store refused, written to the
        quarantine file before the commit that moves the number past them."""
        con = self._con
        con.execute("BEGIN")
        try:
            ingest(con, batch)
            if quarantine:
                self._quarantine(batch.seq, quarantine)
            if mapped and self.on_events is not None and batch.rows["events"]:
                try:
                    self.on_events(con, batch.rows["events"])
                except Exception as exc:  # the events are acknowledged: store them, say what was not mapped
                    _rollback(con)
                    self.mapping_failures += 1
                    log.exception("mapping %d events failed; they are stored without it", len(batch.rows["events"]))
                    self._commit(batch, mapped=False)  # the quarantine file has the refused rows already
                    self._note_unmapped(batch, exc)
                    return
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)
            raise
        self.transactions += 1
        self.ingested_seq = batch.seq
        self._spool.release(batch.seq)
        metrics.ingest_batch(len(batch))
        unstored = self._unstored
        while unstored and unstored[0][0] <= batch.seq:
            self.events_stored += unstored.popleft()[1]

    def _note_unmapped(self, batch: Batch, exc: Exception) -> None:
        try:
            self._con.executemany(
                "INSERT INTO mapping_errors VALUES (now(), ?, ?, NULL, NULL, ?)",
                [[row[1], row[2], f"event {row[0]} stored without its mapping: {type(exc).__name__}: {exc}"]
                 for row in batch.rows["events"][:100]])
        except duckdb.Error:
            log.exception("could not record the mapping failure")

    def _run_job(self, job: _Job, fut) -> None:
        con = self._con
        try:
            con.execute("BEGIN")
            result = job.fn(con)
            con.execute("COMMIT")
            self.transactions += 1
        except BaseException as exc:
            _rollback(con)
            self._answer([(fut, None, exc)])
            return
        self._answer([(fut, result, None)])

    def _answer(self, outcomes: list) -> None:
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


def _refuses_data(exc: Exception) -> bool:
    """DuckDB or Arrow refusing what a record holds, as opposed to a fault that may pass (I/O, a lock)."""
    return isinstance(exc, duckdb.ConversionException | duckdb.InvalidInputException | duckdb.ConstraintException
                      | duckdb.OutOfMemoryException | pa.ArrowInvalid | pa.ArrowTypeError | pa.ArrowMemoryError
                      | MemoryError | TypeError | ValueError | KeyError)


def _rollback(con) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass
