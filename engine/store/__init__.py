"""The DuckDB store: schema and migrations, opening, the one batching writer, and read-only queries."""

from engine.store.database import (
    LATEST_VERSION,
    StoreError,
    StoreLockedError,
    StoreMissingError,
    StoreVersionError,
    open_store,
)
from engine.store.writer import EventIn, RejectionIn, Stored, StoreWriter

__all__ = [
    "LATEST_VERSION",
    "EventIn",
    "RejectionIn",
    "StoreError",
    "StoreLockedError",
    "StoreMissingError",
    "StoreVersionError",
    "StoreWriter",
    "Stored",
    "open_store",
]
