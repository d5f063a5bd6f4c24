"""Syncs inside the process that holds the store (`inlet serve`, or `inlet sync` when no server runs):
building a source's connector from its config, and one sync at a time per source."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import httpx

from connectors.kit.model import Connector
from connectors.registry import vendor
from engine import metrics
from engine.config import Config, PullSource
from engine.profiles import Registry
from engine.profiles.sender import WritebackSender
from engine.store import StoreWriter
from engine.sync.runner import Progress, SyncResult, record_skipped, run_sync


async def _ready(value):
    return value


class SyncRefused(Exception):
    """The sync cannot start as asked (unknown source, not a pull source, disabled, unknown object)."""


def build_connector(source: PullSource, *, transport: httpx.AsyncBaseTransport | None = None) -> Connector:
    spec = vendor(source.bridge)
    if spec is None:
        raise SyncRefused(f"source {source.id!r}: no connector for bridge {source.bridge!r}")
    return spec.connect(source, transport)


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
        self.config = config  # replaced on reload; a sync keeps the source settings it started with
        self.writer = writer
        self.transport = transport  # tests: an in-process sandbox instead of the network
        self._running: set[str] = set()  # sources with a sync running in this process
        self.sender = WritebackSender(writer.run, config.writebacks)
        self._stop = asyncio.Event()

    def running(self, source_id: str) -> bool:
        return source_id in self._running

    async def wait_idle(self) -> None:
        """Return once no sync runs in this process."""
        while self._running:
            await asyncio.sleep(0.05)

    async def stop(self, timeout: float) -> bool:
        """Start no more syncs; running ones commit what they fetched and end. True if all ended in time."""
        self._stop.set()
        deadline = asyncio.get_running_loop().time() + timeout
        while self._running and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        return not self._running

    async def sync(self, source_id: str, *, object_name: str | None = None, objects: list[str] | None = None,
                   full_refresh: bool = False, progress: Progress | None = None) -> SyncResult | None:
        """Run one sync now (of `object_name`, or `objects`, or all the source's objects); None, with a
        `skipped` row in sync_runs, when a sync of the source is already running or the process is stopping."""
        source = pull_source(self.config, source_id, object_name)
        names = [object_name] if object_name else [o for o in source.object_names if objects is None or o in objects]
        if source_id in self._running or self._stop.is_set():
            reason = "the process is stopping" if self._stop.is_set() else "another sync of this source was running"
            await self.record_skip(source, names, reason)
            return None
        connector = build_connector(source, transport=self.transport)
        self._running.add(source_id)
        try:
            registry = Registry.of(self.config)
            result = await run_sync(source_id, connector, self.writer.run, objects=names, full_refresh=full_refresh,
                                    progress=progress, stop=self._stop, profiles=registry)
            if source_id in registry.writing_sources() and not self._stop.is_set():
                result.writebacks = await self.sender.send_due([source_id], lambda _: _ready(connector))
            return result
        finally:
            self._running.discard(source_id)
            await connector.aclose()

    async def record_skip(self, source: PullSource, names: list[str], reason: str) -> None:
        types = object_types(source, names)
        await self.writer.run(lambda con: record_skipped(con, source.id, types, reason))
        metrics.sync_skipped(source.id, names)


def object_types(source: PullSource, names: list[str]) -> list[str]:
    """`records.object_type` of each of the source's object names (plural)."""
    spec = vendor(source.bridge)
    if spec is None:
        raise SyncRefused(f"source {source.id!r}: no connector for bridge {source.bridge!r}")
    objects = spec.objects_of(source)
    return [objects[n] for n in names]


def result_dict(result: SyncResult) -> dict[str, Any]:
    """JSON-ready, for the control socket and the CLI's summary."""
    streams = []
    for s in result.streams:
        item = asdict(s)
        item["counts"]["changed"] = s.counts.changed
        streams.append(item)
    return {"source_id": result.source_id, "run_id": result.run_id, "ok": result.ok, "streams": streams,
            "http": result.http, "writebacks": result.writebacks}
