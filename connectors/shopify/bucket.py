"""Pacing by Shopify's calculated query cost (the GraphQL Admin API's leaky bucket).

Every response reports `extensions.cost.throttleStatus`: the bucket's size, what is left in it and how fast it
refills. Before each query the connector waits until the bucket, as last reported and refilled since, holds the
query's cost plus a small margin, so a normal sync never sees THROTTLED. The figures come from Shopify on every
answer, so the plan's limits (standard, Advanced, Plus) need no configuration.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

MARGIN_SECONDS = 0.1  # wait for this much refill on top of the cost: our clock and Shopify's differ a little


class CostBucket:
    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._clock, self._sleep = clock, sleep
        self.maximum: float | None = None
        self.available = 0.0
        self.restore_rate = 0.0
        self._at = 0.0
        self.waited = 0.0  # seconds spent waiting, for the run's figures

    def observe(self, cost: Mapping[str, Any] | None) -> None:
        status = cost.get("throttleStatus") if isinstance(cost, Mapping) else None
        if not isinstance(status, Mapping):
            return
        try:
            maximum, available = float(status["maximumAvailable"]), float(status["currentlyAvailable"])
            rate = float(status["restoreRate"])
        except (KeyError, TypeError, ValueError):
            return
        self.maximum, self.available, self.restore_rate, self._at = maximum, available, rate, self._clock()

    def predicted(self) -> float:
        if self.maximum is None:
            return float("inf")
        return min(self.maximum, self.available + (self._clock() - self._at) * self.restore_rate)

    async def spend(self, cost: float) -> None:
        """Wait until `cost` points are (predicted to be) in the bucket, then count them as spent."""
        if self.maximum is None or cost <= 0:
            return
        need = min(cost, self.maximum) + self.restore_rate * MARGIN_SECONDS
        short = need - self.predicted()
        if short > 0 and self.restore_rate > 0:
            wait = short / self.restore_rate
            self.waited += wait
            await self._sleep(wait)
        self.available, self._at = self.predicted() - cost, self._clock()
