"""Helpers shared by the Shopify sandbox tests: a fake clock, a GraphQL client over ASGI, a shared read-only shop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest

from sandbox.shopify import SHOPIFY_TOKEN, ShopifySandbox, create_app
from tests.clocks import Clock


class Api:
    def __init__(self, client: httpx.AsyncClient, token: str, version: str) -> None:
        self.client, self.token, self.version = client, token, version

    async def post(self, query: str, variables: dict | None = None, *, token: str | None = None,
                   version: str | None = None) -> httpx.Response:
        return await self.client.post(f"/admin/api/{version or self.version}/graphql.json",
                                      json={"query": query, "variables": variables or {}},
                                      headers={"X-Shopify-Access-Token": self.token if token is None else token})

    async def gql(self, query: str, variables: dict | None = None, **kwargs: Any) -> dict:
        response = await self.post(query, variables, **kwargs)
        assert response.status_code == 200, response.text
        return orjson.loads(response.content)

    async def data(self, query: str, variables: dict | None = None, **kwargs: Any) -> dict:
        body = await self.gql(query, variables, **kwargs)
        assert "errors" not in body, body["errors"]
        return body["data"]


@asynccontextmanager
async def api(sb: ShopifySandbox, token: str = SHOPIFY_TOKEN, version: str = "2025-07",
              **app_args: Any) -> AsyncIterator[Api]:
    app_args.setdefault("throttle", False)
    transport = httpx.ASGITransport(app=create_app(sb, **app_args))
    async with httpx.AsyncClient(transport=transport, base_url="https://inlet-sandbox.myshopify.com") as client:
        yield Api(client, token, version)


@pytest.fixture(scope="module", name="shop_sb")
def shop_sb_fixture() -> ShopifySandbox:
    """A read-only shop shared by the tests that do not change it."""
    return ShopifySandbox(seed=7, customers=150, now=Clock())
