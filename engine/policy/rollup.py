"""Refusals that come in floods (a source over its rate limit), counted rather than written one by one: one
`rejections` row per source, reason and second, with `count` the requests it stands for, written once its
second is over (and at shutdown). A flood of refused requests so costs the store one row a second per source.

Unlike other refusals, these rows are written after the answers they count: a crash may lose the last second's
counts, never an event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from engine.store import RejectionIn, StoreUnavailable

Key = tuple[str | None, str, int]  # source id, reason, second (Unix time)
SETTLE = 0.02  # seconds after a second is over before its rows are written (requests of it still finishing)


class RefusalRollup:
    """`write(rows)` stores rejection rows (the store writer's `write_many`); `lost(exc, row)` is told of rows
    the store could not take. `clock` gives Unix time (tests move it by hand)."""

    def __init__(self, write: Callable[[list[RejectionIn]], Awaitable[Any]],
                 lost: Callable[[Exception, RejectionIn], None], clock: Callable[[], float] = time.time):
        self._write, self._lost, self.clock = write, lost, clock
        self._open: dict[Key, RejectionIn] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()

    def add(self, source_id: str | None, status: int, reason: str, method: str, path: str, size: int,
            context: str) -> None:
        """Count one refused request; the first of its second gives the row its method, path and context."""
        second = int(self.clock())
        key = (source_id, reason, second)
        row = self._open.get(key)
        if row is None:
            self._open[key] = RejectionIn(source_id, second * 1_000_000, method, path[:2048], status, reason, size,
                                          "", context, count=1)
            self._schedule()
        else:
            row.count += 1
            row.size += size

    def pending(self) -> int:
        """Refused requests counted but not yet handed to the store."""
        return sum(row.count for row in self._open.values())

    async def flush(self, everything: bool = False) -> None:
        """Write the rows of the seconds that are over (`everything`: all of them, at shutdown)."""
        now = int(self.clock())
        due = [key for key in self._open if everything or key[2] < now]
        rows = [self._open.pop(key) for key in due]
        if self._open and not everything:
            self._schedule()
        if not rows:
            return
        try:
            await self._write(rows)
        except StoreUnavailable as exc:
            for row in rows:
                self._lost(exc, row)

    async def close(self) -> None:
        """At shutdown, before the store writer stops: everything counted goes to the store."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush(everything=True)

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        now = self.clock()
        self._timer = asyncio.get_running_loop().call_later(int(now) + 1 - now + SETTLE, self._due)

    def _due(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
