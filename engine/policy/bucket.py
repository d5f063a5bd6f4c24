"""A token bucket counted in events: it holds at most `burst` tokens and gains `rate` a second.

A request costing `cost` events passes when the bucket holds `min(cost, burst)` tokens, and takes `cost` of them:
a tracking batch bigger than the burst passes on a full bucket and leaves it in debt, so the long-run rate holds
and a big batch is never refused forever. Used from the event loop only (no lock)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self._at = clock()

    def take(self, cost: int = 1) -> float:
        """0.0 when `cost` events may pass now (their tokens are taken); else the seconds until they may."""
        wait = self.wait(cost)
        if wait == 0.0:
            self.tokens -= cost
        return wait

    def wait(self, cost: int = 1) -> float:
        """The seconds until `cost` events may pass (0.0: now), taking nothing."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self._at) * self.rate)
        self._at = now
        need = min(cost, self.burst)
        return 0.0 if self.tokens >= need else (need - self.tokens) / self.rate


def retry_after(wait: float) -> int:
    """Whole seconds for a Retry-After header: at least 1, never less than the wait."""
    return max(1, math.ceil(wait))
