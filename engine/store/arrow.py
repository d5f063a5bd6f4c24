"""Arrow tables as SQL tables for the length of a block: how large sets of rows reach a query or an insert in the
store's transaction (binding long Python lists as parameters costs several times more)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pyarrow as pa


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """`table` visible to SQL as `name` for the block. DuckDB refuses the registration while the connection holds
    a result its caller left unfinished: callers finish what they read (`fetchall`). Unregistering fails once
    DuckDB has aborted the transaction; that must not hide the error that aborted it."""
    con.register(name, table)
    try:
        yield
    finally:
        try:
            con.unregister(name)
        except duckdb.Error:
            pass
