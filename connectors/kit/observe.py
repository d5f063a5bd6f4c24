"""What the kit tells whoever watches it: each request's outcome, each throttling answer, each wait for a limiter.

Vendor-neutral and optional: the kit calls the `Observer` installed with `install` (by default one that ignores
everything), so a program embedding the kit (inlet's server counts these for `GET /metrics`) sees every
source's traffic without any connector knowing about it. Observers are called on the event loop, per request:
keep them cheap and never let them raise.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["Observer", "current", "install", "timed_wait"]


class Observer:
    """The default observer: ignores everything. Subclass it and override what you count."""

    def request(self, source_id: str, status: int | None) -> None:
        """A request of the source was answered with HTTP `status` (None: no answer, a network error)."""

    def throttled(self, source_id: str) -> None:
        """The vendor said slow down: a 429, or an in-band answer such as Shopify's THROTTLED."""

    def waited(self, source_id: str, seconds: float) -> None:
        """A request of the source waited `seconds` for its rate limiter (or cost bucket) before going out."""


_current = Observer()


def install(observer: Observer | None) -> Observer:
    """Make `observer` the one the kit reports to (None: the ignoring default); returns the one it replaces."""
    global _current
    previous, _current = _current, observer or Observer()
    return previous


def current() -> Observer:
    return _current


async def timed_wait(source_id: str, wait: Awaitable[T]) -> T:
    """Await a limiter's `acquire()` (or a cost bucket's `spend()`) and report the time it took, when it took any;
    returns what it returned."""
    started = time.monotonic()
    result = await wait
    waited = time.monotonic() - started
    if waited > 0.0005:  # a limiter with room answers at once: only a real wait is worth reporting
        _current.waited(source_id, waited)
    return result
