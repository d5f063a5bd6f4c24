"""Sending the outbox: due write-backs claimed in one store job, written through each source's connector
(`connector.write`, sharing the source's client and rate limits with its pulls), outcomes recorded in another.

`inlet serve` runs `run_forever` for every source that writes; `inlet sync` sends its source's due write-backs
when its pull ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from connectors.kit import WriteIn
from engine import logs
from engine.config import WritebackConfig
from engine.profiles import outbox

log = logging.getLogger("inlet.writebacks")

RunJob = Callable[[Callable], Awaitable[Any]]
ConnectorFor = Callable[[str], Awaitable[Any]]  # source id -> its connector (None: not a writable source now)


class _Failed:
    __slots__ = ("error", "http_status", "status")

    def __init__(self, error: str):
        self.status, self.http_status, self.error = "retry", None, error


class WritebackSender:
    def __init__(self, run_job: RunJob, settings: WritebackConfig):
        self.run_job = run_job
        self.settings = settings
        self.totals = {"sent": 0, "rejected": 0, "pending": 0, "failed": 0, "superseded": 0}

    async def release_unsent(self) -> int:
        """At start: write-backs a dead process was sending go back to pending."""
        released = await self.run_job(outbox.release_unsent)
        if released:
            log.info("%d write-back(s) were being sent when inlet last stopped; they will be sent again", released)
        return released

    async def send_due(self, source_ids: list[str], connector_for: ConnectorFor) -> dict[str, int]:
        """Send every due write-back of `source_ids` (in rounds of at most 500), and return counts by outcome."""
        counts = {"sent": 0, "rejected": 0, "pending": 0, "failed": 0, "superseded": 0}
        while True:
            claimed = await self.run_job(partial(outbox.claim, source_ids=source_ids, now_us=_now_us()))
            if not claimed:
                return counts
            by_source: dict[str, list] = {}
            for item in claimed:
                by_source.setdefault(item.source_id, []).append(item)
            for source_id, items in by_source.items():
                with logs.bound(source_id=source_id):
                    done = await self._send(source_id, items, connector_for)
                for key, n in done.items():
                    counts[key] += n
                    self.totals[key] += n

    async def _send(self, source_id: str, items: list, connector_for: ConnectorFor) -> dict[str, int]:
        outcomes = await self._write(source_id, items, connector_for)
        done = await self.run_job(partial(
            outbox.finish, claimed=items, outcomes=outcomes, now_us=_now_us(),
            max_attempts=self.settings.max_attempts, backoff=self.settings.backoff,
            max_backoff=self.settings.max_backoff))
        if done["rejected"] or done["failed"]:
            log.warning("write-backs to %s: %s", source_id, done)
        return done

    async def _write(self, source_id: str, items: list, connector_for: ConnectorFor) -> list:
        writes = [WriteIn(i.writeback_id, i.object_type, i.external_id, i.changes) for i in items]
        try:
            connector = await connector_for(source_id)
            if connector is None:
                return [_Failed(f"source {source_id!r} is not an enabled cloud-app source in the config now")
                        for _ in items]
            outcomes = await connector.write(writes)
        except Exception as exc:  # credentials refused, the network: every item waits for another attempt
            log.warning("write-backs to %s failed: %s", source_id, exc)
            return [_Failed(str(exc)) for _ in items]
        by_id = {o.writeback_id: o for o in outcomes}
        return [by_id.get(i.writeback_id) or _Failed("the connector gave no outcome for this write-back")
                for i in items]

    async def run_forever(self, sources: Callable[[], list[str]], connector_for: ConnectorFor,
                          wake: asyncio.Event | None = None) -> None:
        """Every `interval` (or when `wake` is set), send what is due for `sources()`. Ends when cancelled."""
        wake = wake or asyncio.Event()
        while True:
            try:
                ids = sources()
                if ids:
                    await self.send_due(ids, connector_for)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the write-back sender failed; it tries again")
            try:
                await asyncio.wait_for(wake.wait(), self.settings.interval.total_seconds())
            except TimeoutError:
                pass
            wake.clear()


def _now_us() -> int:
    return time.time_ns() // 1000
