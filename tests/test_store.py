"""The store file: schema versions, locking, and the writer's behaviour on its own."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import duckdb
import pytest

from connectors.kit.ids import new_id
from engine import tuning
from engine.store import (
    LATEST_VERSION,
    EventIn,
    StoreBehind,
    StoreLockedError,
    StoreMissingError,
    StoreUnavailable,
    StoreVersionError,
    StoreWriter,
    open_store,
    spool_dir,
    store_cursor,
)
from engine.store.database import ROW_GROUP_SIZE, tune_for_sync_only
from engine.store.schema import MIGRATIONS
from engine.store.spool import Spool, read_records

TABLES = {"schema_version", "sources", "events", "profiles", "sessions", "idempotency_keys", "rejections",
          "ingest_state"}


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


def test_version_6_compresses_pulled_json_with_zstd_and_keeps_what_a_version_5_store_held(tmp_path, caplog):
    path = tmp_path / "inlet.duckdb"
    con = open_store(path, migrations=MIGRATIONS[:5])
    con.execute("""INSERT INTO records SELECT 'billing', 'customer', 'cus_' || i, now(), i % 7 = 0,
                          json_object('id', 'cus_' || i, 'note', repeat('x', 300)), now() FROM range(3000) t(i)""")
    con.execute("""INSERT INTO events SELECT uuidv7(), 'billing', 'customer.created', now(), now(), NULL, NULL,
                          json_object('n', i, 'note', repeat('y', 300)), '{}' FROM range(3000) t(i)""")
    before = {t: con.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in ("records", "events")}
    con.close()
    con = open_store(path)
    assert f"upgrading the store {path} from schema version 5 to {LATEST_VERSION}" in caplog.text
    after = {t: con.execute("SELECT * EXCLUDE (ingest_seq) FROM events ORDER BY rowid"
                            if t == "events" else f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in before}
    assert after == before
    # version 9 numbered the events it found in their stored order (the lake's export watermark)
    assert con.execute("SELECT list(ingest_seq ORDER BY rowid) FROM events").fetchone()[0] == list(range(1, 3001))
    con.execute("CHECKPOINT")
    storage = """SELECT DISTINCT compression FROM pragma_storage_info('{}')
                 WHERE column_name = '{}' AND segment_type <> 'VALIDITY'"""
    compression = {f"{table}.{column}": [r[0] for r in con.execute(storage.format(table, column)).fetchall()]
                   for table, column in (("records", "data"), ("events", "properties"))}
    assert compression == {"records.data": ["ZSTD"], "events.properties": ["ZSTD"]}
    with pytest.raises(duckdb.ConstraintException):  # the rebuilt table keeps its key
        con.execute("INSERT INTO records SELECT * FROM records LIMIT 1")
    assert con.execute("SELECT count(*) FROM profile_events").fetchall() == [(0,)]  # the view sees the new table
    con.close()


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


def _writer(tmp_path, con=None) -> tuple[StoreWriter, object]:
    con = con or open_store(tmp_path / "inlet.duckdb")
    return StoreWriter(con, spool_dir(tmp_path / "inlet.duckdb")), con


async def test_a_failed_spool_write_refuses_only_its_batch(tmp_path):
    writer, con = _writer(tmp_path)
    writer.start()
    try:
        def disk_full(fd, data):
            raise OSError(28, "No space left on device")

        writer._spool._write = disk_full
        with pytest.raises(StoreUnavailable, match="No space left"):
            await writer.write(_event(session="s"))
        writer._spool._write = os.write
        answer = await writer.write(_event(session="s"))
        await writer.flush()
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 1
        assert con.execute("SELECT profile_id::VARCHAR FROM sessions").fetchall() == [(answer.profile_id,)]
    finally:
        writer.stop()
        con.close()


async def test_acknowledged_events_wait_in_the_spool_while_the_store_fails_then_land_once(tmp_path):
    writer, con = _writer(tmp_path)
    writer.flush_timeout = 0.5
    writer.start()
    try:
        store_cursor(con).execute("ALTER TABLE ingest_state RENAME TO moved")
        answers = await asyncio.gather(*(writer.write(_event(session=f"s{i % 3}", key=f"k{i}")) for i in range(30)))
        assert len({a.event_id for a in answers}) == 30  # acknowledged: durable in the spool
        with pytest.raises(StoreBehind, match=r"has not yet taken in .* safe in the spool"):
            await writer.flush()
        assert writer.last_error
        store_cursor(con).execute("ALTER TABLE moved RENAME TO ingest_state")
        writer.flush_timeout = 15
        await writer.flush()
        assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == (30, 30)
        again = await writer.write(_event(key="k7"))
        assert again.replayed and again.event_id == answers[7].event_id
    finally:
        writer.stop()
        con.close()


async def test_the_spool_is_replayed_at_start_exactly_once(tmp_path):
    writer, con = _writer(tmp_path)
    writer.start()
    store_cursor(con).execute("ALTER TABLE ingest_state RENAME TO moved")
    answers = await asyncio.gather(*(writer.write(_event(session="s1", key=f"k{i}")) for i in range(50)))
    await asyncio.to_thread(writer.stop)  # cannot ingest: gives up and leaves the records in the spool
    con.execute("ALTER TABLE moved RENAME TO ingest_state")
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    con.close()

    for _ in range(2):  # start twice: the second start finds nothing left to take in
        writer, con = _writer(tmp_path)
        writer.recover()
        ids = {r[0] for r in con.execute("SELECT event_id::VARCHAR FROM events").fetchall()}
        assert ids == {a.event_id for a in answers}
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 50
        assert con.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM idempotency_keys").fetchone()[0] == 50
        writer.stop()
        con.close()
    assert not list(read_records(spool_dir(tmp_path / "inlet.duckdb")))


def test_replay_ignores_a_torn_last_frame(tmp_path):
    spool = Spool(tmp_path / "spool")
    for seq in (1, 2, 3):
        spool.append(seq, b'{"n": %d}' % seq)
    spool.close(0)
    [segment] = list((tmp_path / "spool").glob("*.seg"))
    segment.write_bytes(segment.read_bytes()[:-3])  # the crash cut the last write short
    spool = Spool(tmp_path / "spool")
    assert [seq for seq, _ in spool.replay()] == [1, 2]
    [found] = spool.found
    assert found.damage.torn and found.before == 2 and found.lost is None


async def test_stop_answers_and_ingests_what_is_queued(tmp_path):
    writer, con = _writer(tmp_path)
    writer.start()
    pending = [asyncio.ensure_future(writer.write(_event())) for _ in range(500)]
    await asyncio.sleep(0)
    await asyncio.to_thread(writer.stop)
    await asyncio.gather(*pending)
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 500
    assert not list(read_records(spool_dir(tmp_path / "inlet.duckdb")))
    con.close()


async def test_jobs_run_after_what_was_acknowledged_and_return_their_result(tmp_path):
    writer, con = _writer(tmp_path)
    writer.start()
    try:
        await writer.write(_event())
        count = await writer.run(lambda c: c.execute("SELECT count(*) FROM events").fetchone()[0])
        assert count == 1
        with pytest.raises(Exception, match="nosuch"):
            await writer.run(lambda c: c.execute("SELECT * FROM nosuch"))
        assert (await writer.write(_event())).event_id  # the writer goes on after a failed job
    finally:
        writer.stop()
        con.close()


async def test_a_record_the_store_refuses_is_set_aside_and_does_not_hold_up_the_rest(tmp_path):
    writer, con = _writer(tmp_path)
    writer.start()
    try:
        good = [_event(f'{{"n": {i}}}', session="s") for i in range(10)]
        poison = _event('{"not": json')  # cannot come from the HTTP path; stands for any record DuckDB refuses
        answers = await asyncio.gather(*(writer.write(e) for e in [*good[:5], poison, *good[5:]]))
        assert all(a.event_id for a in answers)  # all acknowledged: all durable in the spool
        await writer.flush()
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 10
        assert writer.set_aside == 1
        assert (await writer.write(_event())).event_id  # ingestion goes on
        await writer.flush()
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 11
    finally:
        writer.stop()
        con.close()
    [line] = (spool_dir(tmp_path / "inlet.duckdb") / "quarantine.jsonl").read_text().splitlines()
    kept = json.loads(line)
    assert kept["table"] == "events" and kept["row"][0] == poison.event_id and "JSON" in kept["error"]
    writer, con = _writer(tmp_path)  # a restart does not try the set-aside record again
    assert writer.recover() == 0
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 11
    writer.stop()
    con.close()


def test_a_writer_that_never_read_the_spool_never_deletes_it(tmp_path):
    spool = Spool(spool_dir(tmp_path / "inlet.duckdb"))
    spool.append(7, b'{"ev": []}')
    spool.close(0)
    writer, con = _writer(tmp_path)  # constructed and stopped without recover(): e.g. a failed start
    writer.stop()
    con.close()
    assert [seq for _, seq, _ in read_records(spool_dir(tmp_path / "inlet.duckdb"))] == [7]


def test_a_process_that_only_syncs_runs_duckdb_on_one_thread_with_smaller_checkpoints(tmp_path):
    con = open_store(tmp_path / "inlet.duckdb")
    default_threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    tune_for_sync_only(con)
    assert con.execute("SELECT current_setting('threads'), current_setting('checkpoint_threshold')").fetchall() == \
        [(1, "7.6 MiB")]
    con.close()
    con = open_store(tmp_path / "inlet.duckdb")  # `inlet serve` keeps DuckDB's threads and the larger threshold
    assert con.execute("SELECT current_setting('threads'), current_setting('checkpoint_threshold')").fetchall() == \
        [(default_threads, "30.5 MiB")]
    con.close()


def test_a_process_that_syncs_hands_the_gil_over_sooner():
    # the store writer's thread waits out a busy thread's switch interval each time DuckDB takes the GIL back
    before = sys.getswitchinterval()
    try:
        tuning.for_sync()
        assert sys.getswitchinterval() == pytest.approx(tuning.SWITCH_INTERVAL) and before > tuning.SWITCH_INTERVAL
    finally:
        sys.setswitchinterval(before)


def test_the_store_is_written_in_small_row_groups_and_its_cursors_use_it(tmp_path):
    # whole row groups of a transaction go to the file as they fill instead of through the WAL (ROW_GROUP_SIZE)
    con = open_store(tmp_path / "inlet.duckdb")
    con.execute("BEGIN")
    con.execute("""INSERT INTO records SELECT 'billing', 'customer', 'cus_' || i, now(), false, '{}', now()
                   FROM range(10000) r(i)""")
    con.execute("COMMIT")
    assert con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == f"{tmp_path / 'inlet.duckdb'}.tmp"
    cur = store_cursor(con)  # another thread's connection, in the store's catalog too
    groups = cur.execute("""SELECT row_group_id, max(count) FROM pragma_storage_info('records')
                            WHERE column_name = 'external_id' GROUP BY ALL""").fetchall()
    assert len(groups) >= 3 and max(rows for _, rows in groups) <= ROW_GROUP_SIZE
    assert cur.execute("SELECT count(*), current_database() FROM records").fetchone() == (10000, "inlet")
    cur.close()
    con.close()
    reader = open_store(tmp_path / "inlet.duckdb", read_only=True)
    assert store_cursor(reader).execute("SELECT count(*) FROM records").fetchone()[0] == 10000
    reader.close()


def test_a_store_file_named_like_a_duckdb_catalog_opens(tmp_path):
    con = open_store(tmp_path / "memory.duckdb")
    store_cursor(con).execute("INSERT INTO sync_state VALUES ('s', 't', NULL, now())")
    assert con.execute("SELECT count(*) FROM sync_state").fetchone()[0] == 1
    con.close()
    assert open_store(tmp_path / "memory.duckdb", read_only=True).execute("SELECT count(*) FROM sync_state"
                                                                           ).fetchone()[0] == 1
