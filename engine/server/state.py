"""What the request handlers share: the loaded config and the store (writer plus a connection to read)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from engine.config import Config
from engine.store import StoreWriter


@dataclass
class InletState:
    config: Config
    con: duckdb.DuckDBPyConnection  # the server's read-write connection; readers take cursors of it
    writer: StoreWriter
