"""A client-side rate limiter per source, so a normal sync stays under the vendor's limit and never sees a 429.

It is a GCRA (generic cell rate algorithm, the arithmetic form of a token bucket): one "theoretical arrival
time" per source, no timestamp log, exact in integer nanoseconds so float drift can never let one request
too many through. `rate` requests per `per` seconds, `burst` of them back to back. Two shapes cover the vendors:

- a leaky bucket is the same thing: a bucket 40 deep leaking 2 a second is `RateLimiter(2, per=1, burst=40)`;
- a rolling window of N per P ("100 per 10 s") admits at most burst + rate - 1 per window here, so
  `RateLimiter.rolling(N, P, burst)` picks rate = N - burst + 1 to never pass N in any window.

Each request reserves its slot before awaiting, so concurrent tasks are served in arrival order without a
lock. `observe()` slows down when the vendor reports little remaining capacity (another client may share the
quota; `capacity` reads it from the vendor's headers); `pause()` holds everyone after a 429. The vendors' presets
live in their packages (`connectors/<vendor>/limits.py`). This code shares nothing with the sandbox's limiter on
purpose: the sandbox is the referee that proves this one right.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

__all__ = ["Capacity", "RateLimiter", "WindowLimiter"]

NS = 1_000_000_000
OWN_USE_SLACK = 2  # requests the vendor may count that our window does not (one in flight, clock skew)
Clock = Callable[[], float]
# (remaining, capacity) read from an answer's headers by the vendor that sends them (None: they say nothing)
Capacity = Callable[[httpx.Headers], "tuple[int, int] | None"]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """`reserve` is the share of the vendor's capacity we try to keep free: when a response reports fewer
    remaining requests than `reserve * capacity`, the limiter waits for that many to be restored."""

    def __init__(self, rate: float, per: float = 1.0, *, burst: int = 1, reserve: float = 0.1,
                 capacity: Capacity | None = None, clock: Clock = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        if rate <= 0 or per <= 0 or burst < 1:
            raise ValueError("rate and per must be positive and burst at least 1")
        self.rate, self.per, self.burst, self.reserve = rate, per, burst, reserve
        self._capacity = capacity  # the vendor's reading of its limit headers (connectors/<vendor>/limits.py)
        self._clock, self._sleep = clock, sleep
        self._interval = round(per * NS / rate)  # nanoseconds between requests at the steady rate
        self._tolerance = (burst - 1) * self._interval
        self._tat = 0  # theoretical arrival time of the next request, ns

    @classmethod
    def rolling(cls, limit: int, period: float, burst: int = 1, **kwargs: Any) -> RateLimiter:
        """At most `limit` requests in any `period`-second window (HubSpot's "100 per 10 s rolling")."""
        if not 1 <= burst <= limit:
            raise ValueError("burst must be between 1 and limit")
        return cls(limit - burst + 1, period, burst=burst, **kwargs)

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate}, per={self.per}, burst={self.burst})"

    def _now(self) -> int:
        return round(self._clock() * NS)

    async def acquire(self) -> None:
        """Wait until this request may go. The slot is reserved before sleeping, so callers queue fairly."""
        now = self._now()
        tat = max(self._tat, now)
        allowed_at = tat - self._tolerance
        self._tat = tat + self._interval
        if allowed_at > now:
            await self._sleep((allowed_at - now) / NS)

    def went_out(self, slot: object) -> None:
        """The request `acquire` let go is being written now (a window limiter counts it from then)."""

    def pause(self, seconds: float) -> None:
        """Hold every later request for `seconds` (after a 429 with a known wait), and spend the burst."""
        self._hold(round(seconds * NS))

    def observe(self, remaining: int, capacity: int) -> None:
        """The vendor says `remaining` of `capacity` requests are left. Below the reserve, wait for the
        missing requests to be restored at our own rate (Shopify: the bucket leaks 2/s; HubSpot: the window
        rolls), so a sync sharing its quota with other apps slows down instead of running into 429s."""
        floor = self.reserve * capacity
        if capacity <= 0 or remaining > floor:
            return
        self._hold(round((floor - remaining + 1) * self._interval))

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        if self._capacity is None:
            return
        if not isinstance(headers, httpx.Headers):
            headers = httpx.Headers(headers)  # header names are case-insensitive; a plain dict is not
        try:
            reported = self._capacity(headers)
        except ValueError:  # a header the vendor garbled says nothing
            return
        if reported is not None:
            self.observe(*reported)

    def _hold(self, wait_ns: int) -> None:
        # The next request is allowed at tat - tolerance, so tat = now + wait + tolerance blocks it exactly
        # `wait_ns` and leaves no burst credit behind.
        self._tat = max(self._tat, self._now() + wait_ns + self._tolerance)


class WindowLimiter(RateLimiter):
    """At most `limit` requests in any `period` seconds, kept as the send times of the last `limit` requests:
    a whole window may go at once, then one request for each that leaves the window. This is the most a
    per-second window allows (Stripe's "25 per second" is 25 at once, not one every 40 ms), where the GCRA
    above would spread them. `margin` widens our window slightly, so requests delayed unevenly on the way can
    not land `limit + 1` in the vendor's window."""

    def __init__(self, limit: int, period: float = 1.0, *, margin: float = 0.03, reserve: float = 0.1,
                 capacity: Capacity | None = None, clock: Clock = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        if limit < 1 or period <= 0 or margin < 0:
            raise ValueError("limit must be at least 1, period positive and margin not negative")
        super().__init__(limit, period, burst=limit, reserve=reserve, capacity=capacity, clock=clock, sleep=sleep)
        self.limit = limit
        self._window = round(period * (1 + margin) * NS)
        self._sent: deque[list[int]] = deque(maxlen=limit)  # send times (one-item lists), booked then as sent
        self._hold_until = 0

    def __repr__(self) -> str:
        return f"WindowLimiter(limit={self.limit}, period={self.per})"

    async def acquire(self) -> list[int]:
        """Wait for a slot; returns it, for `went_out` to move to when the request really left."""
        now = self._now()
        at = max(now, self._hold_until)
        if len(self._sent) == self.limit:
            at = max(at, self._sent[0][0] + self._window)
        slot = [at]
        self._sent.append(slot)  # reserved before sleeping: concurrent callers queue in order
        if at > now:
            await self._sleep((at - now) / NS)
        return slot

    def went_out(self, slot: list[int] | None) -> None:
        """The request of `slot` is being written now: a connection opened first (a TLS handshake, the first
        request of a process) can put that well after its booked time, and the vendor counts it when it arrives."""
        if slot is not None:
            slot[0] = max(slot[0], self._now())

    def _hold(self, wait_ns: int) -> None:
        self._hold_until = max(self._hold_until, self._now() + wait_ns)

    def observe(self, remaining: int, capacity: int) -> None:
        """A window spent by our own requests is expected at the end of every burst: slow down only when the
        vendor reports less left than our own sends explain (another app shares the quota)."""
        if capacity <= 0:
            return
        since = self._now() - self._window
        ours = sum(1 for sent in self._sent if sent[0] > since)
        if remaining >= capacity - ours - OWN_USE_SLACK:
            return
        super().observe(remaining, capacity)
