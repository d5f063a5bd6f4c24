"""RetryPolicy on its own: always bounded, vendor waits preferred, fatal errors never repeated."""

from __future__ import annotations

import random

import httpx
import pytest

from connectors.kit import CredentialsRefused, RateLimited, RetryPolicy, TransientError
from connectors.kit.testing import FakeClock


def policy(clock: FakeClock, max_total_wait: float = 120.0) -> RetryPolicy:
    return RetryPolicy(max_total_wait=max_total_wait, sleep=clock.sleep, rng=random.Random(1))


def failing(errors: list[BaseException], result: str = "ok"):
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return attempt, calls


async def test_backoff_grows_with_jitter_and_a_cap() -> None:
    rp = RetryPolicy(backoff=1.0, max_backoff=8.0, jitter=0.5, rng=random.Random(3))
    waits = [rp.wait_for(n, None) for n in range(1, 8)]
    for n, wait in enumerate(waits, start=1):
        base = min(8.0, 2 ** (n - 1))
        assert base * 0.5 <= wait <= base
    assert RetryPolicy(jitter=0).wait_for(3, None) == 2.0


async def test_vendor_wait_replaces_backoff() -> None:
    clock = FakeClock()
    attempt, calls = failing([RateLimited("s", "o", 429, "slow", retry_after=7.5)])
    assert await policy(clock).call(attempt) == "ok"
    assert clock.sleeps == [7.5] and len(calls) == 2


async def test_raw_transport_errors_are_transient() -> None:
    clock = FakeClock()
    attempt, calls = failing([httpx.ReadTimeout("slow"), httpx.ConnectError("refused")])
    assert await policy(clock).call(attempt) == "ok"
    assert len(calls) == 3


async def test_fatal_errors_are_not_retried() -> None:
    clock = FakeClock()
    attempt, calls = failing([CredentialsRefused("s", "o", 401, "no")])
    with pytest.raises(CredentialsRefused):
        await policy(clock).call(attempt)
    assert len(calls) == 1 and clock.sleeps == []


async def test_a_wait_longer_than_the_budget_gives_up_at_once() -> None:
    clock = FakeClock()
    attempt, calls = failing([RateLimited("s", "o", 429, "come back in an hour", retry_after=3600)])
    with pytest.raises(RateLimited):
        await policy(clock, max_total_wait=120).call(attempt)
    assert len(calls) == 1 and clock.sleeps == []


async def test_only_rate_limits_mode_skips_other_transient_errors() -> None:
    clock = FakeClock()
    attempt, calls = failing([TransientError("s", "o", 502, "bad gateway")])
    with pytest.raises(TransientError):
        await policy(clock).call(attempt, only_rate_limits=True)
    assert len(calls) == 1
    attempt, calls = failing([RateLimited("s", "o", 429, "slow", retry_after=1)])
    assert await policy(clock).call(attempt, only_rate_limits=True) == "ok"
    assert len(calls) == 2


def test_unbounded_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2)
