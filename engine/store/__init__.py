"""The DuckDB store: schema and migrations, opening, the one batching writer, and read-only queries."""

from engine.store.database import (
    LATEST_VERSION,
    StoreError,
    StoreLockedError,
    StoreMissingError,
    StoreVersionError,
    open_store,
    store_cursor,
)
from engine.store.items import EventIn, RejectionIn, StoreBehind, Stored, StoreUnavailable
from engine.store.spool import spool_dir
from engine.store.writer import StoreWriter

__all__ = [
    "LATEST_VERSION",
    "EventIn",
    "RejectionIn",
    "StoreBehind",
    "StoreError",
    "StoreLockedError",
    "StoreMissingError",
    "StoreUnavailable",
    "StoreVersionError",
    "StoreWriter",
    "Stored",
    "open_store",
    "spool_dir",
    "store_cursor",
]
