"""Consistent copies of the store for analysts' own DuckDB clients, made without stopping ingestion.

One `COPY FROM DATABASE` statement reads a single transaction's view of every table, so the copy is
consistent even while the writer keeps committing. It is written beside the target and renamed over it,
so a reader never opens a half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from connectors.kit.ids import new_id
from engine.store.database import store_cursor
from engine.store.files import private_dir, private_file


def write_snapshot(con: duckdb.DuckDBPyConnection, store_path: Path, target: Path) -> Path:
    """Copy the store `con` is open on to `target`, on a cursor of its own (safe beside the writer)."""
    target = Path(target).absolute()
    if target.resolve() == Path(store_path).resolve():
        raise ValueError("the snapshot path is the store itself; give another path")
    if not target.parent.is_dir():
        private_dir(target.parent)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    for leftover in (tmp, Path(f"{tmp}.wal")):
        leftover.unlink(missing_ok=True)
    cur = store_cursor(con)
    try:
        source = cur.execute("SELECT current_database()").fetchone()[0]
        alias = f"snapshot_{new_id().replace('-', '')[-12:]}"
        quoted = str(tmp).replace("'", "''")
        cur.execute(f"ATTACH '{quoted}' AS {alias} (READ_WRITE)")
        try:
            cur.execute(f'COPY FROM DATABASE "{source}" TO {alias}')
        finally:
            cur.execute(f"DETACH {alias}")
    finally:
        cur.close()
    private_file(tmp)  # analysts' copy of everything: the owner's only, as the store is
    os.replace(tmp, target)
    return target
