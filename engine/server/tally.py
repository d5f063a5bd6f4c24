"""Counting something that can happen in floods (refusals the store could not record, connections turned away)
and logging it at most every `every` seconds, the first time at once, without flooding the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("inlet.server")


class Tally:
    """`message` is formatted with how many happened since the line before, the details given to the `add` that
    logs, and how many happened since start."""

    def __init__(self, message: str, *, level: int = logging.WARNING, every: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.message, self.level, self.every, self._clock = message, level, every, clock
        self.count = 0
        self._unlogged = 0
        self._logged_at: float | None = None

    def add(self, *details: object) -> None:
        self.count += 1
        self._unlogged += 1
        now = self._clock()
        if self._logged_at is not None and now - self._logged_at < self.every:
            return
        log.log(self.level, self.message, self._unlogged, *details, self.count)
        self._unlogged, self._logged_at = 0, now


def lost_rejections(clock: Callable[[], float] = time.monotonic) -> Tally:
    """Refusals whose `rejections` row the store could not take; `add(exc, status, reason)`."""
    return Tally("%d refused request(s) could not be recorded in `rejections` (the store is unavailable: %s), "
                 "the latest a %d %s; %d lost since start", level=logging.ERROR, clock=clock)
