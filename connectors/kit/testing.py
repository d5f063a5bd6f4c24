"""A fake clock for connector tests: time moves only when code sleeps, so rate limits and retry waits of
minutes are checked in microseconds, deterministically."""

from __future__ import annotations

__all__ = ["FakeClock"]


class FakeClock:
    """`clock()` reads the time; `await clock.sleep(s)` advances it and records `s`. Times are rounded to the
    nanosecond so sums of float waits compare exactly (0.04 * 25 is 1.0 here, as it is to the limiter)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now = round(self.now + max(seconds, 0.0), 9)

    @property
    def slept(self) -> float:
        return sum(self.sleeps)
