"""Acknowledged events are never lost, and damage is never silent: the spool's framing read back past damage,
damaged segments kept, and the store's sequence number moving only over records committed or quarantined."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import struct
import time
import zlib

import duckdb
import orjson
import pytest

from connectors.kit.ids import new_id
from engine.store import EventIn, StoreWriter, open_store, spool_dir
from engine.store import writer as writer_module
from engine.store.frames import HEAD_BYTES
from engine.store.spool import DAMAGED, QUARANTINE, Spool, health, read_records


def _record(n: int, size: int = 0) -> bytes:
    now = time.time_ns() // 1000
    return orjson.dumps({"ev": [[new_id(), "web", "hit", now, now, None, None, orjson.dumps({"n": n}).decode(),
                                 orjson.dumps({"pad": "x" * size}).decode()]]})


def _spool_of(tmp_path, count: int) -> tuple[Spool, list]:
    spool = Spool(spool_dir(tmp_path / "inlet.duckdb"))
    for seq in range(1, count + 1):
        spool.append(seq, _record(seq))
    spool.close(0)
    return spool, sorted(spool.dir.glob("*.seg"))


def _stored(con) -> list[int]:
    return [r[0] for r in con.execute("SELECT (properties->>'n')::INT FROM events ORDER BY 1").fetchall()]


def _recovered(tmp_path, memory_limit: str = "256MB") -> tuple[StoreWriter, duckdb.DuckDBPyConnection]:
    con = open_store(tmp_path / "inlet.duckdb", memory_limit=memory_limit)
    writer = StoreWriter(con, spool_dir(tmp_path / "inlet.duckdb"))
    writer.recover()
    return writer, con


def test_a_flipped_byte_loses_only_its_record_is_logged_with_segment_and_offset_and_the_segment_is_kept(
        tmp_path, caplog):
    _, [segment] = _spool_of(tmp_path, 500)
    data = bytearray(segment.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0x40
    segment.write_bytes(bytes(data))

    with caplog.at_level(logging.WARNING, logger="inlet.store"):
        writer, con = _recovered(tmp_path)
    stored = _stored(con)
    assert len(stored) == 499, "every record after the damaged one is read"
    [lost] = sorted(set(range(1, 501)) - set(stored))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"spool segment {int(segment.stem)}" in m and "offset" in m and f"record(s) {lost}-{lost}" in m
               for m in errors), errors
    writer.stop()
    con.close()
    assert not segment.exists()
    [kept] = (segment.parent / DAMAGED).glob("*.seg")
    assert kept.read_bytes() == bytes(data), "the damaged bytes are kept as they were"
    notes = json.loads(kept.with_suffix(".json").read_text())
    assert notes[0]["offset"] <= middle < notes[0]["offset"] + notes[0]["length"]
    assert health(segment.parent)["damaged_segments"] == [kept.name]


def test_halving_a_segment_keeps_what_is_left_and_says_so(tmp_path, caplog):
    _, [segment] = _spool_of(tmp_path, 500)
    data = segment.read_bytes()
    segment.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.ERROR, logger="inlet.store"):
        writer, con = _recovered(tmp_path)
    stored = _stored(con)
    assert stored == list(range(1, len(stored) + 1)) and 200 < len(stored) < 260
    assert any(r.levelno == logging.ERROR and "segment" in r.getMessage() for r in caplog.records)
    writer.stop()
    con.close()
    assert len(list((segment.parent / DAMAGED).glob("*.seg"))) == 1, "never deleted"


def test_damage_between_segments_is_told_apart_from_a_write_cut_short(tmp_path, caplog):
    spool = Spool(spool_dir(tmp_path / "inlet.duckdb"))
    spool.append(1, _record(1))

    def half(fd, frame):  # the disk fills mid-frame: record 2 is not acknowledged
        os.write(fd, frame[: len(frame) // 2])
        raise OSError(28, "No space left on device")

    spool._write = half
    with pytest.raises(OSError):
        spool.append(2, _record(2))
    spool._write = os.write
    spool.append(2, _record(2))  # the retry goes to a new segment with the same sequence number
    spool.append(3, _record(3))
    spool.close(0)
    with caplog.at_level(logging.WARNING, logger="inlet.store"):
        writer, con = _recovered(tmp_path)
    assert _stored(con) == [1, 2, 3]
    [found] = writer._spool.found
    assert found.harmless and found.damage.torn
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and "record(s)" in r.getMessage()]
    writer.stop()
    con.close()


def test_a_segment_written_before_the_magic_is_still_read(tmp_path):
    directory = spool_dir(tmp_path / "inlet.duckdb")
    directory.mkdir()
    frames = b""
    for seq in (1, 2, 3):
        payload = _record(seq)
        tail = struct.pack("<Q", seq) + payload
        frames += struct.pack("<II", len(payload), zlib.crc32(tail)) + tail
    (directory / "000000000001.log").write_bytes(frames)
    writer, con = _recovered(tmp_path)
    assert _stored(con) == [1, 2, 3]
    writer.stop()
    con.close()
    assert not list(directory.glob("*.log"))


def test_a_frame_header_is_what_the_framing_module_says(tmp_path):
    spool, [segment] = _spool_of(tmp_path, 1)
    assert len(segment.read_bytes()) == HEAD_BYTES + len(next(read_records(spool.dir))[2])


# -- the store's sequence number --------------------------------------------------------------------------------

def _event(n: int, context: str = "{}") -> EventIn:
    now = time.time_ns() // 1000
    return EventIn(new_id(), "web", "hit", now, now, None, orjson.dumps({"n": n}).decode(), context)


async def test_a_batch_left_in_the_spool_at_shutdown_is_not_passed_by_a_later_one(tmp_path, monkeypatch):
    """The loss the issue saw: at SIGTERM a failing batch gave up, a later batch committed, and its sequence
    number released the segment of the first."""
    con = open_store(tmp_path / "inlet.duckdb")
    writer = StoreWriter(con, spool_dir(tmp_path / "inlet.duckdb"))
    real_ingest = writer_module.ingest

    def failing(c, batch):
        if any('"n":13' in row[7] for row in batch.rows["events"]):
            raise duckdb.IOException("injected: the disk went away")
        return real_ingest(c, batch)

    monkeypatch.setattr(writer_module, "ingest", failing)
    writer.start()
    await writer.write(_event(1))
    await writer.flush()
    writer._stopping = True  # as at SIGTERM: a failing batch is retried 3 times, then left for the next start
    await writer.write(_event(13))
    await writer.write(_event(2))
    await asyncio.sleep(0.3)
    await asyncio.to_thread(writer.stop)
    assert con.execute("SELECT seq FROM ingest_state").fetchone()[0] == 1
    con.close()
    assert {2, 3} <= {seq for _, seq, _ in read_records(spool_dir(tmp_path / "inlet.duckdb"))}

    monkeypatch.setattr(writer_module, "ingest", real_ingest)
    writer, con = _recovered(tmp_path)
    assert _stored(con) == [1, 2, 13]
    writer.stop()
    con.close()


async def test_a_retry_after_part_of_a_split_batch_committed_stores_nothing_twice(tmp_path, monkeypatch):
    con = open_store(tmp_path / "inlet.duckdb")
    writer = StoreWriter(con, spool_dir(tmp_path / "inlet.duckdb"))
    real_ingest = writer_module.ingest
    faults = {"io": 1}

    def flaky(c, batch):
        events = batch.rows["events"]
        if len(events) > 1 and any('"n":5' in row[7] for row in events):
            raise duckdb.ConversionException("injected: refused together")  # split record by record
        if len(events) == 1 and '"n":5' in events[0][7] and faults["io"]:
            faults["io"] -= 1
            raise duckdb.IOException("injected: a passing fault")  # after records 1-4 committed alone
        return real_ingest(c, batch)

    monkeypatch.setattr(writer_module, "ingest", flaky)
    writer.start()
    for n in range(1, 9):  # one spool record each, taken in by the ingest thread in one batch
        await writer.write(_event(n))
    await writer.flush()
    assert _stored(con) == list(range(1, 9))
    writer.stop()
    con.close()


async def test_a_row_that_runs_duckdb_out_of_memory_is_quarantined_and_the_rest_goes_on(tmp_path):
    con = open_store(tmp_path / "inlet.duckdb", memory_limit="16MB")
    writer = StoreWriter(con, spool_dir(tmp_path / "inlet.duckdb"))
    writer.start()
    huge = orjson.dumps({"h": "x" * 8_000_000}).decode()
    await asyncio.gather(writer.write(_event(1)), writer.write(_event(2, huge)), writer.write(_event(3)))
    await writer.flush()
    assert _stored(con) == [1, 3]
    assert writer.set_aside == 1
    writer.stop()
    con.close()
    [line] = (spool_dir(tmp_path / "inlet.duckdb") / QUARANTINE).read_bytes().splitlines()
    assert orjson.loads(orjson.loads(line)["row"][7])["n"] == 2
    assert health(spool_dir(tmp_path / "inlet.duckdb"))["quarantined_rows"] == 1


def test_a_store_that_cannot_take_in_its_spool_at_start_still_starts(tmp_path, caplog):
    spool = Spool(spool_dir(tmp_path / "inlet.duckdb"))
    spool.append(1, _record(1))
    spool.append(2, _record(2, size=8_000_000))  # acknowledged before a kill -9; too big for this memory limit
    spool.append(3, _record(3))
    spool.close(0)
    with caplog.at_level(logging.ERROR, logger="inlet.store"):
        writer, con = _recovered(tmp_path, memory_limit="16MB")
    assert _stored(con) == [1, 3]
    assert any("quarantine" in r.getMessage() for r in caplog.records)
    writer.stop()
    con.close()
    assert not list(read_records(spool_dir(tmp_path / "inlet.duckdb")))
    assert health(spool_dir(tmp_path / "inlet.duckdb"))["quarantined_rows"] == 1
