"""The cost bucket: a leaky bucket of query-cost points per app (token) and shop, on the sandbox's clock.

A query runs only if its requested cost is available; it is charged that much, and after execution the difference
between requested and actual cost is refunded. Points restore continuously at `restore_rate` per second up to
`maximum`.

Figures for the standard plan: shopify.dev's "GraphQL Admin API rate limits" (2025/2026) gives a restore rate of
100 points/second for Standard (200 Advanced, 1000 Plus, 2000 Enterprise) and no bucket size; real responses from
standard shops report `"throttleStatus":{"maximumAvailable":2000.0,…,"restoreRate":100.0}` (many independent
captures). Older docs and VENDOR_FACTS quote 1000 / 50, the figures before Shopify doubled them.
"""

from __future__ import annotations

from collections.abc import Callable

STANDARD = (2000.0, 100.0)  # (maximumAvailable, restoreRate)
# The other plans' documented restore rates (points per second), with a bucket of 20 seconds' restore like the
# standard plan's (the docs give the rates; the bucket sizes are as captured for standard shops).
PLANS = {"standard": STANDARD, "advanced": (4000.0, 200.0), "plus": (20000.0, 1000.0)}


class Bucket:
    def __init__(self, maximum: float, restore_rate: float, now: Callable[[], float]) -> None:
        self.maximum = float(maximum)
        self.rate = float(restore_rate)
        self.now = now
        self.available = self.maximum
        self.at = now()

    def _restore(self) -> None:
        t = self.now()
        if t > self.at:
            self.available = min(self.maximum, self.available + (t - self.at) * self.rate)
        self.at = t

    def take(self, cost: int) -> bool:
        """Charge `cost` if that much is available now."""
        self._restore()
        if cost > self.available:
            return False
        self.available -= cost
        return True

    def refund(self, points: float) -> None:
        self._restore()
        self.available = min(self.maximum, max(0.0, self.available + points))

    def status(self) -> dict:
        self._restore()
        return {"maximumAvailable": self.maximum, "currentlyAvailable": int(self.available),
                "restoreRate": self.rate}


class Unlimited:
    """Throttling off: costs are still reported, against a bucket that is always full."""

    def __init__(self, maximum: float = STANDARD[0], restore_rate: float = STANDARD[1]) -> None:
        self.maximum, self.rate = float(maximum), float(restore_rate)

    def take(self, cost: int) -> bool:
        return True

    def refund(self, points: float) -> None:
        pass

    def status(self) -> dict:
        return {"maximumAvailable": self.maximum, "currentlyAvailable": int(self.maximum), "restoreRate": self.rate}
