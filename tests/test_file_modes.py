"""The store's files are the owner's alone, whatever the umask: store, WAL, spill directory, spool, quarantine,
damaged segments and snapshots."""

from __future__ import annotations

import asyncio
import os
import stat
import time

import orjson

from connectors.kit.ids import new_id
from engine.store import EventIn, StoreWriter, open_store, spool_dir
from engine.store.snapshot import write_snapshot


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_store_wal_spool_quarantine_and_snapshots_are_private_under_a_permissive_umask(tmp_path):
    old = os.umask(0o002)
    try:
        path = tmp_path / "data" / "inlet.duckdb"
        con = open_store(path, memory_limit="16MB")
        writer = StoreWriter(con, spool_dir(path))
        writer.start()
        now = time.time_ns() // 1000
        huge = orjson.dumps({"h": "x" * 8_000_000}).decode()  # refused by DuckDB at this limit: quarantined
        for context in ("{}", huge):
            await writer.write(EventIn(new_id(), "web", "hit", now, now, None, "{}", context))
        await writer.flush()
        assert writer.set_aside == 1
        assert path.with_name("inlet.duckdb.wal").exists()
        snapshot = write_snapshot(con, path, tmp_path / "snaps" / "copy.duckdb")
        files = [path, path.with_name("inlet.duckdb.wal"), spool_dir(path) / "quarantine.jsonl", snapshot,
                 *spool_dir(path).glob("*.seg")]
        dirs = [path.parent, spool_dir(path), snapshot.parent]
        assert {str(f): _mode(f) for f in files} == {str(f): 0o600 for f in files}
        assert {str(d): _mode(d) for d in dirs} == {str(d): 0o700 for d in dirs}
        await asyncio.to_thread(writer.stop)
        con.close()
    finally:
        os.umask(old)


def test_files_of_an_older_inlet_are_made_private_when_the_store_opens(tmp_path):
    path = tmp_path / "inlet.duckdb"
    open_store(path).close()
    os.chmod(path, 0o644)
    spool_dir(path).mkdir(mode=0o755, exist_ok=True)
    os.chmod(spool_dir(path), 0o755)
    con = open_store(path)
    StoreWriter(con, spool_dir(path)).stop()
    con.close()
    assert (_mode(path), _mode(spool_dir(path))) == (0o600, 0o700)
