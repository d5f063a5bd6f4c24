"""HubSpot's documented limits (VENDOR_FACTS 1.4) and what its headers say of them."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.kit.limiter import WindowLimiter


def remaining(headers: httpx.Headers) -> tuple[int, int] | None:
    """(remaining, capacity) of the rolling 10 s window: `X-HubSpot-RateLimit-Remaining` / `-Max`."""
    left, most = headers.get("x-hubspot-ratelimit-remaining"), headers.get("x-hubspot-ratelimit-max")
    return (int(left), int(most)) if left is not None and most is not None else None


def documented(per_ten_seconds: int = 100, **kwargs: Any) -> WindowLimiter:
    """Private apps: 100 per rolling 10 s (190 on Professional/Enterprise), as a window: a whole window may go
    at once, which is what the limit allows (a spreading limiter would lose a tenth of it to its burst)."""
    return WindowLimiter(per_ten_seconds, 10.0, capacity=remaining, **kwargs)


def search(per_second: int = 5, **kwargs: Any) -> WindowLimiter:
    """The CRM search endpoints: 5 requests per second per account, counted apart from the others."""
    return WindowLimiter(per_second, 1.0, **kwargs)
