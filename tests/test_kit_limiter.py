"""The client-side limiter under a fake clock: exact spacing, windows never overfilled, slowing on headers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from connectors.hubspot import limits as hubspot
from connectors.kit import RateLimiter, SourceClient
from connectors.kit.testing import FakeClock
from connectors.stripe import limits as stripe
from tests.loopback import EchoServer


async def times(limiter: RateLimiter, clock: FakeClock, n: int) -> list[float]:
    stamps = []
    for _ in range(n):
        await limiter.acquire()
        stamps.append(clock())
    return stamps


def most_in_any_window(stamps: list[float], window: float) -> int:
    """The largest number of requests inside any half-open window [t, t + window)."""
    best, start = 0, 0
    for end, t in enumerate(stamps):
        while t - stamps[start] >= window - 1e-9:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_stripe_test_mode_uses_whole_windows_of_25() -> None:
    clock = FakeClock()
    limiter = stripe.documented(live=False, clock=clock, sleep=clock.sleep)
    stamps = await times(limiter, clock, 100)
    assert stamps[24] == stamps[0]  # a window's 25 go at once
    assert stamps[25] - stamps[0] == pytest.approx(1.03)  # then as each leaves the (3 % wider) window
    assert stamps[-1] - stamps[0] == pytest.approx(3 * 1.03, abs=1e-6)
    assert most_in_any_window(stamps, 1.0) == 25
    assert most_in_any_window(stamps, 1.03) == 25


async def test_stripe_live_mode_is_100_per_second() -> None:
    clock = FakeClock()
    stamps = await times(stripe.documented(live=True, clock=clock, sleep=clock.sleep), clock, 300)
    assert most_in_any_window(stamps, 1.0) == 100
    assert stamps[-1] - stamps[0] == pytest.approx(2 * 1.03, abs=1e-6)


async def test_window_limiter_pause_holds_everyone_and_spends_nothing_extra() -> None:
    clock = FakeClock()
    limiter = stripe.documented(live=False, clock=clock, sleep=clock.sleep)
    start = (await times(limiter, clock, 5))[0]
    limiter.pause(2.0)
    stamps = await times(limiter, clock, 25)
    assert stamps[0] - start == pytest.approx(2.0)
    assert most_in_any_window(stamps, 1.0) <= 25


async def test_rolling_window_with_burst_never_passes_the_limit() -> None:
    clock = FakeClock()
    limiter = RateLimiter.rolling(100, 10.0, burst=10, clock=clock, sleep=clock.sleep)
    stamps = await times(limiter, clock, 400)
    assert stamps[9] == stamps[0]  # the burst goes at once
    assert stamps[10] > stamps[0]
    assert most_in_any_window(stamps, 10.0) == 100


async def test_hubspot_spends_whole_windows_and_never_passes_the_limit() -> None:
    clock = FakeClock()
    limiter = hubspot.documented(100, clock=clock, sleep=clock.sleep)
    stamps = await times(limiter, clock, 250)
    assert stamps[99] == stamps[0] and stamps[100] - stamps[0] == pytest.approx(10.3)
    assert most_in_any_window(stamps, 10.0) == 100


async def test_hubspot_remaining_explained_by_our_own_requests_holds_nothing() -> None:
    clock = FakeClock()
    limiter = hubspot.documented(100, clock=clock, sleep=clock.sleep)
    await times(limiter, clock, 95)
    limiter.observe_headers({"X-HubSpot-RateLimit-Remaining": "5", "X-HubSpot-RateLimit-Max": "100"})
    start = clock()
    await limiter.acquire()
    assert clock() == start
    # another app took 30 of the window: slow down
    limiter.observe_headers({"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Max": "100"})
    await limiter.acquire()
    assert clock() - start >= 1.0


async def test_hubspot_search_is_five_per_second() -> None:
    clock = FakeClock()
    stamps = await times(hubspot.search(clock=clock, sleep=clock.sleep), clock, 50)
    assert most_in_any_window(stamps, 1.0) == 5


async def test_a_leaky_bucket_drains_40_then_two_per_second() -> None:
    clock = FakeClock()
    stamps = await times(RateLimiter(2, 1.0, burst=40, clock=clock, sleep=clock.sleep), clock, 60)
    assert stamps[39] == stamps[0]
    assert stamps[40] - stamps[0] == pytest.approx(0.5)
    assert stamps[59] - stamps[0] == pytest.approx(10.0)


async def test_idle_time_refills_the_burst_but_no_more() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 1.0, burst=4, clock=clock, sleep=clock.sleep)
    await times(limiter, clock, 4)
    await clock.sleep(100)  # long idle: the bucket is full again, not 200 deep
    start = clock()
    stamps = await times(limiter, clock, 6)
    assert stamps[3] == start and stamps[4] == pytest.approx(start + 0.5)


async def test_concurrent_tasks_share_the_limit_in_arrival_order() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    order: list[int] = []

    async def one(i: int) -> None:
        await limiter.acquire()
        order.append(i)

    start = clock()
    await asyncio.gather(*(one(i) for i in range(20)))
    assert order == list(range(20))
    assert clock() - start == pytest.approx(1.9)  # 20 requests at 10/s, the first one at once


async def test_low_remaining_capacity_slows_down() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 1.0, burst=40, clock=clock, sleep=clock.sleep)  # burst 40, 2/s
    await limiter.acquire()
    limiter.observe(1, 40)  # another app filled the bucket
    start = clock()
    await limiter.acquire()
    # 1 left, a reserve of 4: wait for 4 requests to leak out at 2/s before going on.
    assert clock() - start == pytest.approx(2.0)


async def test_plenty_of_remaining_capacity_changes_nothing() -> None:
    clock = FakeClock()
    limiter = hubspot.documented(100, clock=clock, sleep=clock.sleep)
    limiter.observe_headers({"X-HubSpot-RateLimit-Remaining": "80", "X-HubSpot-RateLimit-Max": "100"})
    stamps = await times(limiter, clock, 10)
    assert stamps[-1] == stamps[0]


async def test_hubspot_remaining_zero_holds_requests() -> None:
    clock = FakeClock()
    limiter = hubspot.documented(100, clock=clock, sleep=clock.sleep)
    limiter.observe_headers({"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Max": "100"})
    start = clock()
    await limiter.acquire()
    assert clock() - start >= 1.0


async def test_pause_holds_everyone() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, 1.0, burst=100, clock=clock, sleep=clock.sleep)
    limiter.pause(3.0)
    start = clock()
    await limiter.acquire()
    assert clock() - start == pytest.approx(3.0)


async def test_hubspot_capacity_headers_are_read_by_hubspots_limiter_only() -> None:
    assert hubspot.remaining(httpx.Headers({"x-hubspot-ratelimit-remaining": "7", "x-hubspot-ratelimit-max": "190"})) \
        == (7, 190)
    assert hubspot.remaining(httpx.Headers({})) is None
    clock = FakeClock()
    told = {"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Max": "100"}
    for limiter, slowed in ((hubspot.documented(100, clock=clock, sleep=clock.sleep), True),
                            (stripe.documented(live=True, clock=clock, sleep=clock.sleep), False)):
        limiter.observe_headers(told)
        start = clock()
        await limiter.acquire()
        assert (clock() > start) is slowed
    garbled = hubspot.documented(100, clock=clock, sleep=clock.sleep)
    garbled.observe_headers({"X-HubSpot-RateLimit-Remaining": "lots", "X-HubSpot-RateLimit-Max": "100"})  # ignored
    start = clock()
    await garbled.acquire()
    assert clock() == start


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)
    with pytest.raises(ValueError):
        RateLimiter.rolling(10, 1.0, burst=11)


async def test_a_window_counts_a_request_from_when_it_really_went_out() -> None:
    # the first request of a window left late (a new connection's handshakes): the window's last slot waits for it
    clock = FakeClock()
    limiter = stripe.documented(live=False, clock=clock, sleep=clock.sleep)
    start = clock()
    first = await limiter.acquire()
    await clock.sleep(0.2)
    limiter.went_out(first)
    stamps = await times(limiter, clock, 25)  # 24 more fill the window, then one more
    assert stamps[-1] - start == pytest.approx(0.2 + 1.03)  # a window after the first request left, not its booking


async def test_the_client_tells_the_limiter_when_each_request_is_written() -> None:
    class Recording(RateLimiter):
        def __init__(self) -> None:
            super().__init__(1000)
            self.went: list[object] = []

        async def acquire(self) -> object:
            await super().acquire()
            return object()

        def went_out(self, slot: object) -> None:
            self.went.append(slot)

    server = EchoServer()
    try:
        limiter = Recording()
        async with SourceClient("src", server.url, limiter=limiter) as client:
            await client.get_json("/a", object_name="things")
            await client.get_json("/b", object_name="things")
        assert len(limiter.went) == 2 and limiter.went[0] is not limiter.went[1]
    finally:
        server.close()
