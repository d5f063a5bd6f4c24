"""The Stripe connector: one client per source (Bearer key, Stripe's limiter, `Idempotency-Key` on writes)
and one stream per object."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import httpx
from pydantic import SecretStr

from connectors.kit import BearerToken, RateLimiter, SourceClient, WriteIn, WriteOutcome
from connectors.stripe import limits
from connectors.stripe.objects import OBJECTS
from connectors.stripe.statuses import signals
from connectors.stripe.stream import StripeStream
from connectors.stripe.write import StripeWriter

BASE_URL = "https://api.stripe.com"


def is_live(api_key: str | SecretStr) -> bool:
    key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    return key.startswith(("sk_live_", "rk_live_"))


def limiter_for(api_key: str | SecretStr, rate_limit: float | None) -> RateLimiter:
    """Stripe's documented read limit for the key's mode (100/s live, 25/s test), or the configured requests
    per second, evenly spaced."""
    if rate_limit is not None:
        return RateLimiter(rate_limit)
    return limits.documented(is_live(api_key))


class StripeConnector:
    def __init__(self, source_id: str, api_key: str | SecretStr, *, base_url: str | None = None,
                 objects: Sequence[str] | None = None, rate_limit: float | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, now: Callable[[], float] = time.time) -> None:
        self.source_id = source_id
        self.client = SourceClient(source_id, base_url or BASE_URL, BearerToken(api_key),
                                   limiter=limiter_for(api_key, rate_limit), idempotency_header="Idempotency-Key",
                                   transport=transport, signals=signals)
        self._streams = [StripeStream(self.client, OBJECTS[name], now=now) for name in (objects or OBJECTS)]

    def streams(self) -> list[StripeStream]:
        return list(self._streams)

    async def write(self, items: list[WriteIn]) -> list[WriteOutcome]:
        """Write-back: POST /v1/customers/{id} with an Idempotency-Key per write (see connectors.stripe.write)."""
        return await StripeWriter(self.client).write(items)

    def http_stats(self) -> dict[str, int]:
        return {"requests": self.client.requests, "rate_limited": self.client.rate_limited}

    async def aclose(self) -> None:
        await self.client.aclose()
