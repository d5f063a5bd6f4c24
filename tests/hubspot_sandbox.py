"""Helpers shared by the HubSpot sandbox tests: a fake clock, an ASGI client, a seeded sandbox, list and search."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson

from sandbox.hubspot import HUBSPOT_TOKEN, HubSpotSandbox, create_app
from tests.clocks import Clock

CONTACT_DEFAULTS = {"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@asynccontextmanager
async def api(hs: HubSpotSandbox, token: str | None = HUBSPOT_TOKEN, **app_args) -> AsyncIterator[httpx.AsyncClient]:
    app_args.setdefault("rate_limit", False)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=create_app(hs, **app_args))
    async with httpx.AsyncClient(transport=transport, base_url="https://api.hubapi.com", headers=headers) as client:
        yield client


def sandbox(contacts: int = 60, **kwargs) -> HubSpotSandbox:
    kwargs.setdefault("now", Clock())
    return HubSpotSandbox(seed=7, contacts=contacts, **kwargs)


async def walk(client: httpx.AsyncClient, path: str, **params) -> list[dict]:
    out: list[dict] = []
    while True:
        r = await client.get(path, params=params)
        assert r.status_code == 200, r.text
        body = orjson.loads(r.content)
        out += body["results"]
        if "paging" not in body:
            return out
        params["after"] = body["paging"]["next"]["after"]


async def search(client: httpx.AsyncClient, object_type: str = "contacts", **body) -> httpx.Response:
    return await client.post(f"/crm/v3/objects/{object_type}/search", json=body)
