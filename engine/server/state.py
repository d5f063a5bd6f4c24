"""What the request handlers share: the loaded config, the store (writer plus a connection to read), the
syncs running in this process and the scheduler; and the two things done to all of them at once: a status
report and a config reload."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from engine.config import Config, PullSource, load_config
from engine.output import jsonable_rows
from engine.policy.policies import Policies
from engine.policy.rollup import RefusalRollup
from engine.profiles import Registry
from engine.profiles.push import map_events
from engine.server.tally import Tally, lost_rejections
from engine.status import status_rows
from engine.store import StoreWriter, store_cursor
from engine.store.reader import run_query
from engine.store.snapshot import write_snapshot
from engine.store.sources import mirror_sources
from engine.sync.apply import now_us
from engine.sync.service import SyncService, build_connector

log = logging.getLogger("inlet.server")


@dataclass
class InletState:
    config: Config
    con: duckdb.DuckDBPyConnection  # the server's read-write connection; readers take cursors of it
    writer: StoreWriter
    config_path: Path | None = None  # where `reload` reads the config again
    syncs: SyncService = field(init=False)
    scheduler: object | None = field(default=None, init=False)  # engine.scheduler.Scheduler, once started
    lake: object | None = field(default=None, init=False)  # engine.lake.service.LakeService, with `lake:`
    connectors: dict = field(default_factory=dict, init=False)  # source id -> (its config, connector)
    rejections_lost: Tally = field(default_factory=lost_rejections, init=False)  # rows the store refused
    policy: Policies = field(init=False)  # the push sources' schemas and rate limits (engine/policy/)

    def __post_init__(self) -> None:
        self.syncs = SyncService(self.config, self.writer)
        self._map_events_with(self.config)
        rollup = RefusalRollup(self.writer.write_many, lambda exc, row: self.rejections_lost.add(exc, row.status,
                                                                                                 row.reason))
        self.policy = Policies(self.config, rollup)

    def _map_events_with(self, config: Config) -> None:
        """Pushed events map through the mappings of `config` (None when no push source has one)."""
        registry = Registry.of(config)
        if any(m.events for m in registry.mappings.values()):
            self.writer.on_events = lambda con, rows: map_events(registry, con, rows, now_us())
        else:
            self.writer.on_events = None

    async def connector(self, source: PullSource):
        """One long-lived connector per source for webhook read-backs and write-backs (syncs build their own):
        its limiter paces a burst of requests, and HubSpot's property list is read once (then every few
        minutes), not per delivery. A source whose settings changed gets a new one."""
        cached = self.connectors.get(source.id)
        if cached is not None and cached[0] == source:
            return cached[1]
        connector = build_connector(source, transport=self.syncs.transport)
        self.connectors[source.id] = (source, connector)
        if cached is not None:
            await cached[1].aclose()
        return connector

    def writing_sources(self) -> list[str]:
        """Enabled cloud-app sources whose mapping writes attributes back."""
        return [s for s in Registry.of(self.config).writing_sources()
                if isinstance(self.config.source(s), PullSource) and self.config.source(s).enabled]

    async def writable_connector(self, source_id: str):
        source = self.config.source(source_id)
        if not isinstance(source, PullSource) or not source.enabled:
            return None
        return await self.connector(source)

    async def close_connectors(self) -> None:
        """At shutdown: end the long-lived connectors' clients."""
        for _, connector in self.connectors.values():
            await connector.aclose()
        self.connectors.clear()

    async def snapshot(self, target: Path) -> Path:
        """A consistent copy holding everything acknowledged so far, made while ingestion goes on."""
        await self.writer.flush()
        return await asyncio.to_thread(write_snapshot, self.con, self.config.store.path, target)

    def query(self, sql: str) -> list[list]:
        """JSON-ready rows of a read-only statement, in a cursor of the server's connection."""
        cur = store_cursor(self.con)
        try:
            q = run_query(cur, sql, in_transaction=True)
            return [row for rows in q.chunks for row in jsonable_rows(rows, q.types)]
        finally:
            cur.close()

    async def status(self) -> list[dict]:
        """`inlet status`, `GET /status` and the page at `/`: every source, with its schedule and next run."""
        await self.writer.flush()
        scheduler = self.scheduler
        schedules = scheduler.schedules() if scheduler is not None else None
        next_runs = {k: _iso(v) for k, v in scheduler.next_runs().items()} if scheduler is not None else None
        return await asyncio.to_thread(status_rows, self.config, self.query, schedules=schedules,
                                       next_runs=next_runs)

    def counters(self) -> dict:
        """The server's own counters, for `GET /status` next to the sources."""
        return {"rejections_lost": self.rejections_lost.count}

    async def store_health(self) -> dict:
        """`GET /status`'s `store` and what `inlet status` warns of: the intake's backlog, last error, spool damage
        and quarantine (engine/store/writer.py), and refusals the store could not record."""
        return {**await asyncio.to_thread(self.writer.health), **self.counters()}

    async def reload(self) -> dict:
        """Read the config file again and apply it: sources added, removed or changed, and their schedules.
        Requests in flight finish with the config they started with. `store` and `server` changes need a
        restart, and the answer says so. A config with problems changes nothing (ConfigError)."""
        if self.config_path is None:
            raise RuntimeError("this server was not started from a config file; there is nothing to reload")
        new = await asyncio.to_thread(load_config, self.config_path)
        restart = [section for section in ("store", "server", "logging", "lake")
                   if getattr(new, section) != getattr(self.config, section)]
        before = {s.id for s in self.config.sources}
        after = {s.id for s in new.sources}
        changed = sorted(s.id for s in new.sources if s.id in before and s != self.config.source(s.id))
        self.config = new
        self.syncs.config = new
        self.syncs.sender.settings = new.writebacks
        self._map_events_with(new)
        self.policy.apply(new)
        await self.writer.run(lambda con: mirror_sources(con, new, own_transaction=False))
        jobs = await self.scheduler.apply(new) if self.scheduler is not None else {}
        summary = {"ok": True, "sources": len(new.sources), "added": sorted(after - before),
                   "removed": sorted(before - after), "changed": changed, "jobs": jobs, "restart_needed": restart}
        log.info("config reloaded from %s: %s", self.config_path, summary)
        return summary


def _iso(moment: datetime) -> str:
    return moment.isoformat()
