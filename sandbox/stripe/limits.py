"""Stripe's request limiter and idempotency layer, both on the sandbox's injectable clock.

Order, as at Stripe (VENDOR_FACTS 3.5): authentication, then the rate limiter, then idempotency; so a 429 is
never stored for replay.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

TEST_RATE = 25  # read and write operations per second each, test mode (VENDOR_FACTS 3.4)
LIVE_RATE = 100  # live mode
IDEMPOTENCY_TTL = 24 * 3600  # "Keys are pruned after >= 24 h"
MAX_IDEMPOTENCY_KEY = 255


class RateLimiter:
    """A sliding one-second window per (mode, read|write) bucket: at most `rate` requests in any 1 s span.

    Sliding rather than fixed so a client cannot burst 2x across a window edge; a log of timestamps per bucket
    keeps it exact and O(1) amortised. `rate` None uses Stripe's 25 (test) / 100 (live)."""

    def __init__(self, now: Callable[[], float], rate: int | None = None) -> None:
        self.now = now
        self.rate = rate
        self.windows: dict[tuple[bool, bool], deque[float]] = {}

    def allow(self, live: bool, write: bool) -> bool:
        limit = self.rate if self.rate is not None else LIVE_RATE if live else TEST_RATE
        window = self.windows.setdefault((live, write), deque())
        now = self.now()
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True


@dataclass(frozen=True, slots=True)
class Saved:
    """A stored first result: replayed byte for byte, with the request id of the original."""

    fingerprint: tuple
    status: int
    body: bytes
    request_id: str
    at: float


class IdempotencyStore:
    """Idempotency keys per mode (an account's test and live data are separate), pruned after 24 h."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.saved: OrderedDict[tuple[bool, str], Saved] = OrderedDict()

    def get(self, live: bool, key: str) -> Saved | None:
        self._prune()
        return self.saved.get((live, key))

    def put(self, live: bool, key: str, saved: Saved) -> None:
        self.saved[(live, key)] = saved

    def _prune(self) -> None:
        oldest = self.now() - IDEMPOTENCY_TTL
        while self.saved:
            first = next(iter(self.saved.values()))
            if first.at > oldest:
                break
            self.saved.popitem(last=False)
