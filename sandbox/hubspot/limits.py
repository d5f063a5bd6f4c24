"""HubSpot's request limits (VENDOR_FACTS 1.4), on the sandbox's injectable clock. The sandbox referees the
client's limiter, so the windows are exact: a log of request times per window, not a token bucket.

- Burst: at most `burst` requests (non-search) in any rolling 10 s (policy TEN_SECONDLY_ROLLING).
- Search: at most `search` search requests in any rolling 1 s (the "secondly limit"); search requests count
  separately from the burst window.
- Daily: at most `daily` requests per UTC day (policy DAILY), search included. HubSpot resets at midnight in
  the account's time zone; the sandbox's account is on UTC.

A refused request (429) is not counted against any window or the day: a client that waits out a window then
gets a full one. (HubSpot does not document this; counting refusals would let a client that retries too eagerly
lock itself out forever, which is not what HubSpot is observed to do.)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.hubspot.errors import DAILY, SECONDLY, TEN_SECONDLY

BURST = 100  # requests per 10 s for a private app on Free/Starter
SEARCH = 5  # search requests per second
DAILY_LIMIT = 250_000
INTERVAL_MS = 10_000


@dataclass(frozen=True, slots=True)
class Refusal:
    message: str
    policy: str


class Window:
    """At most `limit` events in any span of `seconds`."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self.times: deque[float] = deque()

    def used(self, now: float) -> int:
        times, start = self.times, now - self.seconds
        while times and times[0] <= start:
            times.popleft()
        return len(times)

    def full(self, now: float) -> bool:
        return self.used(now) >= self.limit


class Limits:
    def __init__(self, now: Callable[[], float], burst: int | None, search: int | None, daily: int | None) -> None:
        self.now = now
        self.burst = Window(burst, 10.0) if burst is not None else None
        self.search = Window(search, 1.0) if search is not None else None
        self.daily = daily
        self.day = -1
        self.today = 0

    def check(self, is_search: bool) -> Refusal | None:
        """Count one request, or say which limit refuses it (and count nothing)."""
        now = self.now()
        day = int(now // 86_400)
        if day != self.day:
            self.day, self.today = day, 0
        if self.daily is not None and self.today >= self.daily:
            return Refusal(DAILY, "DAILY")
        window = self.search if is_search else self.burst
        if window is not None:
            if window.full(now):
                return Refusal(SECONDLY, "SECONDLY") if is_search else Refusal(TEN_SECONDLY, "TEN_SECONDLY_ROLLING")
            window.times.append(now)
        self.today += 1
        return None

    def headers(self) -> dict[str, str]:
        """The `X-HubSpot-RateLimit-*` headers of a non-search response, after counting it. Search responses carry
        none (VENDOR_FACTS 1.3, observed)."""
        out: dict[str, str] = {}
        if self.daily is not None:
            out["X-HubSpot-RateLimit-Daily"] = str(self.daily)
            out["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, self.daily - self.today))
        if self.burst is not None:
            out["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(INTERVAL_MS)
            out["X-HubSpot-RateLimit-Max"] = str(self.burst.limit)
            out["X-HubSpot-RateLimit-Remaining"] = str(max(0, self.burst.limit - self.burst.used(self.now())))
        return out
