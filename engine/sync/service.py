"""Syncs inside the process that holds the store (`inlet serve`, or `inlet sync` when no server runs):
building a source's connector from its config, and one sync at a time per source."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import httpx

from engine.config import Config, HubSpotSource, PullSource, ShopifySource, StripeSource
from engine.store import StoreWriter
from engine.sync.model import Connector
from engine.sync.runner import Progress, SyncResult, record_skipped, run_sync


class SyncRefused(Exception):
    """The sync cannot start as asked (unknown source, not a pull source, disabled, unknown object)."""


def build_connector(source: PullSource, *, transport: httpx.AsyncBaseTransport | None = None) -> Connector:
    if isinstance(source, StripeSource):
        from connectors.stripe import StripeConnector

        return StripeConnector(source.id, source.api_key, base_url=source.base_url, objects=source.object_names,
                               rate_limit=source.rate_limit, transport=transport)
    if isinstance(source, HubSpotSource):
        from connectors.hubspot import HubSpotConnector

        return HubSpotConnector(source.id, source.token, base_url=source.base_url, objects=source.object_names,
                                requests_per_10s=source.requests_per_10s, search_per_second=source.search_per_second,
                                rate_limit=source.rate_limit, transport=transport)
    if isinstance(source, ShopifySource):
        from connectors.shopify import ShopifyConnector

        return ShopifyConnector(source.id, source.shop, source.access_token, base_url=source.base_url,
                                api_version=source.api_version, objects=source.object_names,
                                rate_limit=source.rate_limit, transport=transport)
    raise SyncRefused(f"source {source.id!r}: no connector for bridge {source.bridge!r}")


def pull_source(config: Config, source_id: str, object_name: str | None = None) -> PullSource:
    """The source to sync, or SyncRefused saying why not."""
    source = config.source(source_id)
    pull = [s.id for s in config.sources if isinstance(s, PullSource)]
    if source is None:
        known = f"the pull sources in the config: {', '.join(pull)}" if pull else "the config has no pull sources"
        raise SyncRefused(f"no source {source_id!r} in the config ({known})")
    if not isinstance(source, PullSource):
        raise SyncRefused(f"source {source_id!r} is a {source.bridge} source: it is pushed to, there is nothing "
                          "to pull")
    if not source.enabled:
        raise SyncRefused(f"source {source_id!r} is disabled (enabled: false in the config)")
    if object_name is not None and object_name not in source.object_names:
        raise SyncRefused(f"source {source_id!r} does not sync {object_name!r}; its objects: "
                          f"{', '.join(source.object_names)}")
    return source


class SyncService:
    def __init__(self, config: Config, writer: StoreWriter,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.writer = writer
        self.transport = transport  # tests: an in-process sandbox instead of the network
        self._running: set[str] = set()  # sources with a sync running in this process

    def running(self, source_id: str) -> bool:
        return source_id in self._running

    async def wait_idle(self) -> None:
        """Return once no sync runs in this process."""
        while self._running:
            await asyncio.sleep(0.05)

    async def sync(self, source_id: str, *, object_name: str | None = None, full_refresh: bool = False,
                   progress: Progress | None = None) -> SyncResult | None:
        """Run one sync now; None (and a `skipped` row in sync_runs) when one of the source is running."""
        source = pull_source(self.config, source_id, object_name)
        objects = [object_name] if object_name else source.object_names
        connector = build_connector(source, transport=self.transport)
        if source_id in self._running:
            types = [s.object_type for s in connector.streams() if s.name in objects]
            await connector.aclose()
            await self.writer.run(lambda con: record_skipped(con, source_id, types,
                                                             "another sync of this source was running"))
            return None
        self._running.add(source_id)
        try:
            return await run_sync(source_id, connector, self.writer.run, objects=objects, full_refresh=full_refresh,
                                  progress=progress)
        finally:
            self._running.discard(source_id)
            await connector.aclose()


def result_dict(result: SyncResult) -> dict[str, Any]:
    """JSON-ready, for the control socket and the CLI's summary."""
    streams = []
    for s in result.streams:
        item = asdict(s)
        item["counts"]["changed"] = s.counts.changed
        streams.append(item)
    return {"source_id": result.source_id, "run_id": result.run_id, "ok": result.ok, "streams": streams,
            "http": result.http}
