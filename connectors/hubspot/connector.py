"""The HubSpot connector: a private app's token as Bearer, two clients with their own limits (the search
endpoints are counted apart from the rest: 5 per second against 100 or 190 per rolling 10 s), one stream per
object."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import httpx
from pydantic import SecretStr

from connectors.hubspot import limits
from connectors.hubspot.objects import CRM_OBJECTS, OWNERS
from connectors.hubspot.owners import OwnersStream
from connectors.hubspot.statuses import signals
from connectors.hubspot.stream import HubSpotStream
from connectors.hubspot.write import HubSpotWriter
from connectors.kit import BearerToken, RateLimiter, SourceClient, WriteIn, WriteOutcome

BASE_URL = "https://api.hubapi.com"
OBJECTS = (*CRM_OBJECTS, OWNERS)


def limiters(requests_per_10s: int, search_per_second: int, rate_limit: float | None) -> tuple[RateLimiter,
                                                                                            RateLimiter]:
    """(general, search): the account's documented limits, each lowered to `rate_limit` requests per second
    when one is configured."""
    general = limits.documented(requests_per_10s)
    search = limits.search(search_per_second)
    if rate_limit is not None:
        if rate_limit < requests_per_10s / 10:
            general = RateLimiter(rate_limit, capacity=limits.remaining)
        if rate_limit < search_per_second:
            search = RateLimiter(rate_limit)
    return general, search


class HubSpotConnector:
    def __init__(self, source_id: str, token: str | SecretStr, *, base_url: str | None = None,
                 objects: Sequence[str] | None = None, requests_per_10s: int = 100, search_per_second: int = 5,
                 rate_limit: float | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.source_id = source_id
        general, search = limiters(requests_per_10s, search_per_second, rate_limit)
        url = base_url or BASE_URL
        self.client = SourceClient(source_id, url, BearerToken(token), limiter=general, transport=transport,
                                   signals=signals)
        self.search_client = SourceClient(source_id, url, BearerToken(token), limiter=search, transport=transport,
                                          signals=signals)
        self._streams: list = []
        for name in objects or OBJECTS:
            if name == OWNERS:
                self._streams.append(OwnersStream(self.client))
            else:
                self._streams.append(HubSpotStream(self.client, self.search_client, CRM_OBJECTS[name], now=now))

    def streams(self) -> list:
        return list(self._streams)

    async def write(self, items: list[WriteIn]) -> list[WriteOutcome]:
        """Write-back through the general client (batch/update; see connectors.hubspot.write)."""
        return await HubSpotWriter(self.client).write(items)

    def http_stats(self) -> dict[str, int]:
        clients = (self.client, self.search_client)
        return {"requests": sum(c.requests for c in clients), "rate_limited": sum(c.rate_limited for c in clients)}

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.search_client.aclose()
