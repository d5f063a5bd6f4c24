"""What the request handlers share: the loaded config and the store (writer plus a connection to read)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from engine.config import Config
from engine.store import StoreWriter
from engine.store.snapshot import write_snapshot
from engine.sync.service import SyncService


@dataclass
class InletState:
    config: Config
    con: duckdb.DuckDBPyConnection  # the server's read-write connection; readers take cursors of it
    writer: StoreWriter
    syncs: SyncService = field(init=False)

    def __post_init__(self) -> None:
        self.syncs = SyncService(self.config, self.writer)

    async def snapshot(self, target: Path) -> Path:
        """A consistent copy holding everything acknowledged so far, made while ingestion goes on."""
        await self.writer.flush()
        return await asyncio.to_thread(write_snapshot, self.con, self.config.store.path, target)
