"""The connector of one declared source: one client (its auth, headers and window limiter) and one stream per
resource it syncs."""

from __future__ import annotations

import httpx

from connectors.kit.client import SourceClient
from connectors.kit.limiter import WindowLimiter
from connectors.rest.credentials import ApiKeyAuth, auth_for
from connectors.rest.settings import DEFAULT_RATE, RestSettings
from connectors.rest.stream import RestStream


def limiter_for(settings: RestSettings) -> WindowLimiter:
    """At most `rate_limit.requests` in any `rate_limit.per` window; 10 a second when the source says nothing."""
    if settings.rate_limit is None:
        return WindowLimiter(*DEFAULT_RATE)
    return WindowLimiter(settings.rate_limit.requests, settings.rate_limit.per.total_seconds())


class RestConnector:
    def __init__(self, source_id: str, settings: RestSettings, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.source_id = source_id
        self.client = SourceClient(source_id, settings.base_url, auth_for(settings.auth), limiter=limiter_for(settings),
                                   headers=settings.headers, transport=transport)
        hidden = frozenset({settings.auth.name} if isinstance(settings.auth, ApiKeyAuth) and
                           settings.auth.where == "query" else ())
        self._streams = [RestStream(self.client, name, settings.resources[name], settings.base_url,
                                    secret_params=hidden) for name in settings.object_names]

    def streams(self) -> list[RestStream]:
        return list(self._streams)

    def http_stats(self) -> dict[str, int]:
        return {"requests": self.client.requests, "rate_limited": self.client.rate_limited}

    async def aclose(self) -> None:
        await self.client.aclose()
