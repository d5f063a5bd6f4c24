"""The store file: schema versions, locking, and the writer's behaviour on its own."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from engine.ids import new_id
from engine.store import (
    LATEST_VERSION,
    EventIn,
    StoreLockedError,
    StoreMissingError,
    StoreVersionError,
    StoreWriter,
    open_store,
)
from engine.store.schema import MIGRATIONS
from engine.store.writer import StoreUnavailable

TABLES = {"schema_version", "sources", "events", "profiles", "sessions", "idempotency_keys", "rejections"}


def tables(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def test_a_new_store_gets_the_whole_schema_and_records_its_version(tmp_path):
    con = open_store(tmp_path / "sub" / "inlet.duckdb")
    assert tables(con) >= TABLES
    assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == LATEST_VERSION
    con.close()


def test_an_older_store_is_upgraded_and_keeps_its_data(tmp_path):
    path = tmp_path / "inlet.duckdb"
    con = open_store(path)
    con.execute("INSERT INTO profiles VALUES (uuid(), '{}', now(), now())")
    con.close()
    newer = (*MIGRATIONS, "CREATE TABLE extra (x INTEGER); ALTER TABLE profiles ADD COLUMN note VARCHAR;")
    con = open_store(path, migrations=newer)
    assert "extra" in tables(con)
    assert con.execute("SELECT count(*), count(note) FROM profiles").fetchone() == (1, 0)
    assert [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()] == \
        list(range(1, LATEST_VERSION + 2))
    con.close()
    # and this inlet, which knows one version less, refuses the upgraded file instead of misreading it
    with pytest.raises(StoreVersionError, match=f"schema version {LATEST_VERSION + 1}, newer than this inlet"):
        open_store(path)
    with pytest.raises(StoreVersionError, match="newer than this inlet"):
        open_store(path, read_only=True)


def test_a_failed_migration_leaves_the_store_as_it_was(tmp_path):
    path = tmp_path / "inlet.duckdb"
    open_store(path).close()
    with pytest.raises(Exception, match="nosuchtable"):
        open_store(path, migrations=(*MIGRATIONS, "CREATE TABLE ok (x INT); ALTER TABLE nosuchtable ADD y INT;"))
    con = open_store(path)
    assert "ok" not in tables(con)
    con.close()


def test_read_only_open_needs_an_existing_current_store(tmp_path):
    with pytest.raises(StoreMissingError, match="inlet serve"):
        open_store(tmp_path / "none.duckdb", read_only=True)
    path = tmp_path / "old.duckdb"
    con = open_store(path, migrations=MIGRATIONS)
    con.close()
    with pytest.raises(StoreVersionError, match="start `inlet serve` once to upgrade"):
        open_store(path, read_only=True, migrations=(*MIGRATIONS, "CREATE TABLE extra (x INT)"))


def test_a_store_held_by_another_process_is_a_clear_error(tmp_path):
    path = tmp_path / "inlet.duckdb"
    open_store(path).close()
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb,time;c=duckdb.connect({str(path)!r});"
                               "print('held',flush=True);time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreLockedError, match="open in another process"):
            open_store(path, read_only=True)
    finally:
        holder.kill()
        holder.wait()


def _event(props: str = "{}", session: str | None = None, key: str | None = None) -> EventIn:
    now = time.time_ns() // 1000
    return EventIn(new_id(), "web", "hit", now, now, session, props, "{}", key)


async def test_one_bad_item_in_a_batch_does_not_sink_the_others(tmp_path):
    con = open_store(tmp_path / "inlet.duckdb")
    writer = StoreWriter(con)
    writer.start()
    try:
        good = [_event(f'{{"n": {i}}}', session="s") for i in range(20)]
        bad = _event("{this is not json")
        results = await asyncio.gather(*(writer.write(e) for e in [*good[:10], bad, *good[10:]]),
                                       return_exceptions=True)
        assert isinstance(results[10], StoreUnavailable)
        assert all(r.profile_id == results[0].profile_id for r in results[:10] + results[11:])
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 20
        assert con.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1
    finally:
        writer.stop()
        con.close()


async def test_stop_commits_what_is_queued(tmp_path):
    con = open_store(tmp_path / "inlet.duckdb")
    writer = StoreWriter(con)
    writer.start()
    pending = [asyncio.ensure_future(writer.write(_event())) for _ in range(500)]
    await asyncio.sleep(0)
    await asyncio.to_thread(writer.stop)
    await asyncio.gather(*pending)
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 500
    con.close()


async def test_jobs_run_in_order_with_events_and_return_their_result(tmp_path):
    con = open_store(tmp_path / "inlet.duckdb")
    writer = StoreWriter(con)
    writer.start()
    try:
        first = asyncio.ensure_future(writer.write(_event()))
        await asyncio.sleep(0)  # let it reach the queue
        count = await writer.run(lambda c: c.execute("SELECT count(*) FROM events").fetchone()[0])
        await first
        assert count == 1
        with pytest.raises(Exception, match="nosuch"):
            await writer.run(lambda c: c.execute("SELECT * FROM nosuch"))
        assert (await writer.write(_event())).event_id  # the writer goes on after a failed job
    finally:
        writer.stop()
        con.close()
