"""The Shopify connector: the GraphQL Admin API at `/admin/api/{version}/graphql.json` of the shop (or of
`base_url`), the token in `X-Shopify-Access-Token`, one cost bucket shared by the source's streams."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import httpx
from pydantic import SecretStr

from connectors.kit import HeaderToken, RateLimiter, SourceClient, WriteIn, WriteOutcome
from connectors.shopify.bucket import CostBucket
from connectors.shopify.graphql import ShopifyGraphQL
from connectors.shopify.objects import OBJECTS, SCOPES
from connectors.shopify.stream import ShopifyStream
from connectors.shopify.write import ShopifyWriter

API_VERSION = "2026-10"


class ShopifyConnector:
    def __init__(self, source_id: str, shop: str, access_token: str | SecretStr, *, base_url: str | None = None,
                 api_version: str = API_VERSION, objects: Sequence[str] | None = None,
                 rate_limit: float | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 bucket: CostBucket | None = None, now: Callable[[], float] = time.time) -> None:
        self.source_id = source_id
        self.client = SourceClient(source_id, base_url or f"https://{shop}",
                                   HeaderToken("X-Shopify-Access-Token", access_token),
                                   limiter=RateLimiter(rate_limit) if rate_limit else None, transport=transport)
        self.bucket = bucket or CostBucket()
        self.gql = ShopifyGraphQL(self.client, f"/admin/api/{api_version}/graphql.json", self.bucket)
        self._scopes: set[str] | None = None
        self._streams = [ShopifyStream(self.gql, OBJECTS[name], scopes=self.scopes, now=now)
                         for name in (objects or OBJECTS)]
        self._writer = ShopifyWriter(self.gql)

    async def scopes(self) -> set[str]:
        """The access scopes granted to the token (asked once)."""
        if self._scopes is None:
            data = await self.gql.execute(SCOPES, object_name="shop")
            scopes = ((data.get("currentAppInstallation") or {}).get("accessScopes")) or []
            self._scopes = {s.get("handle") for s in scopes if isinstance(s, dict)}
        return self._scopes

    def streams(self) -> list[ShopifyStream]:
        return list(self._streams)

    async def write(self, items: list[WriteIn]) -> list[WriteOutcome]:
        """Write-back: one customerUpdate per customer, paced by the cost bucket (see connectors.shopify.write)."""
        return await self._writer.write(items)

    def http_stats(self) -> dict[str, int]:
        return {"requests": self.client.requests, "rate_limited": self.client.rate_limited,
                "throttled": self.gql.throttled}

    async def aclose(self) -> None:
        await self.client.aclose()
