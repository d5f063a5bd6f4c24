"""A bounded retry policy that drives tenacity.

tenacity without a `stop` retries forever, and a bare exponential wait ignores what the vendor told us; this
object fixes both: it always stops (after `max_attempts`, or before the summed waits would pass
`max_total_wait`), and a `TransientError.retry_after` (from Retry-After or a vendor's documented window)
replaces the computed backoff. Sleep and randomness are injectable so tests run in microseconds.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from connectors.kit.errors import ConnectorError, RateLimited, TransientError

__all__ = ["RetryPolicy"]

log = logging.getLogger("inlet.connectors.retry")
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """`max_attempts` counts the first try. Backoff is `backoff * 2**(n-1)` capped at `max_backoff`, scaled by
    a random factor in [1 - jitter, 1] so many sources retrying at once do not hit the vendor in lockstep."""

    max_attempts: int = 5
    max_total_wait: float = 120.0
    backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 0.5
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.max_total_wait < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("max_attempts >= 1, max_total_wait >= 0 and 0 <= jitter <= 1 are required")

    def wait_for(self, attempt: int, error: BaseException | None) -> float:
        """The pause before attempt `attempt + 1`: the vendor's wait when given, else jittered backoff."""
        if isinstance(error, TransientError) and error.retry_after is not None:
            return error.retry_after
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return base * (1 - self.jitter * self.rng.random())

    async def call(self, attempt: Callable[[], Awaitable[T]], *, only_rate_limits: bool = False) -> T:
        """Run `attempt` until it returns or a non-retriable error escapes. `only_rate_limits` is for requests
        that are unsafe to repeat (a POST without an idempotency key): a 429 means it never ran, a 5xx may have."""
        kinds: tuple[type[BaseException], ...] = (
            (RateLimited,) if only_rate_limits else (TransientError, httpx.TransportError))
        # The first try runs outside tenacity: nearly every request succeeds at once, and setting up a retry
        # loop per request cost about a fifth of a sync's fetching time. A retriable failure is handed to the
        # loop as its first attempt, so the waits and bounds are the same as if the loop had made it.
        try:
            return await attempt()
        except kinds as exc:
            first: BaseException | None = exc
        except ConnectorError as exc:
            exc.attempts = 1
            raise

        async def replay_then_retry() -> T:
            nonlocal first
            if first is not None:
                error, first = first, None
                raise error
            return await attempt()

        retrying = AsyncRetrying(
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_exception_type(kinds),
            sleep=self.sleep,
            before_sleep=self._log,
            reraise=True,
        )
        try:
            return await retrying(replay_then_retry)
        except ConnectorError as exc:
            exc.attempts = retrying.statistics.get("attempt_number", 1)
            raise

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return self.wait_for(state.attempt_number, error)

    def _stop(self, state: RetryCallState) -> bool:
        return (state.attempt_number >= self.max_attempts
                or state.idle_for + state.upcoming_sleep > self.max_total_wait)

    @staticmethod
    def _log(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        # Errors from the client are already redacted; a raw transport error's str carries only the URL host.
        log.warning("attempt %d failed (%s); retrying in %.2f s", state.attempt_number, error, state.upcoming_sleep)
