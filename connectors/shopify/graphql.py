"""One GraphQL request to Shopify, paced by the cost bucket, with Shopify's in-band errors turned into the kit's
error tree. THROTTLED arrives as HTTP 200 with a cost report: wait for the bucket and ask again (bounded)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.kit import FatalError, RateLimited, RequestRejected, SourceClient, observe
from connectors.shopify.bucket import CostBucket

MAX_THROTTLED = 8  # THROTTLED answers in a row before the run gives up on the object
FIRST_ESTIMATE = 1000.0  # a query's cost before Shopify has priced it once: the most a query may cost


class CostTooHigh(FatalError):
    """MAX_COST_EXCEEDED: the query asks for too much at once; ask for a smaller page."""


class ShopifyGraphQL:
    def __init__(self, client: SourceClient, path: str, bucket: CostBucket) -> None:
        self.client, self.path, self.bucket = client, path, bucket
        self.throttled = 0  # THROTTLED answers received
        self._costs: dict[str, float] = {}  # query text -> its last requestedQueryCost

    async def execute(self, query: str, variables: Mapping[str, Any] | None = None, *, object_name: str,
                      mutation: bool = False) -> dict[str, Any]:
        """The response's `data`; raises for GraphQL errors (naming Shopify's code and message)."""
        for _ in range(MAX_THROTTLED + 1):
            await self.pace(self._costs.get(query, FIRST_ESTIMATE))
            body = await self.client.post_json(self.path, {"query": query, "variables": dict(variables or {})},
                                                object_name=object_name, idempotent=not mutation)
            if not isinstance(body, dict):
                raise FatalError(self.client.source_id, object_name, 200, "the GraphQL answer is not an object")
            cost = (body.get("extensions") or {}).get("cost")
            self.bucket.observe(cost)
            if isinstance(cost, dict) and isinstance(cost.get("requestedQueryCost"), int | float):
                self._costs[query] = float(cost["requestedQueryCost"])
            errors = body.get("errors") or []
            codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
            if "THROTTLED" in codes:
                self.note_throttled()
                continue
            if errors:
                text = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)[:300]
                kind = CostTooHigh if "MAX_COST_EXCEEDED" in codes else RequestRejected
                scope = " (the access token lacks a scope this needs)" if "ACCESS_DENIED" in codes else ""
                code = ", ".join(sorted(c for c in codes if c)) or "GraphQL error"
                raise kind(self.client.source_id, object_name, 200, f"{code}{scope}: {text}")
            data = body.get("data")
            if not isinstance(data, dict):
                raise FatalError(self.client.source_id, object_name, 200, "the GraphQL answer has no `data`")
            return data
        raise RateLimited(self.client.source_id, object_name, 200,
                          f"THROTTLED {MAX_THROTTLED + 1} times in a row: another app may be using this shop's quota")

    async def pace(self, cost: float) -> None:
        """Wait until the cost bucket holds `cost` (the kit's observer hears of the wait, as of a limiter's)."""
        await observe.timed_wait(self.client.source_id, self.bucket.spend(cost))

    def note_throttled(self) -> None:
        """A THROTTLED answer: counted for the run's figures and told to the kit's observer."""
        self.throttled += 1
        observe.current().throttled(self.client.source_id)
