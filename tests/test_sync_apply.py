"""apply_pages against a real store: only changes are written, every changing version is an event in order,
deletes keep the last data, complete reads find deletions, and cursor and run counts commit with the rows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from connectors.kit.ids import new_id
from connectors.kit.model import Page, RecordIn
from engine.store.database import open_store
from engine.sync.apply import Counts, Target, apply_pages, load_cursor

SOURCE, TYPE = "billing", "customer"
T0 = 1_700_000_000_000_000  # a vendor time, in microseconds


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_store(tmp_path / "inlet.duckdb")
    yield con
    con.close()


def begin_run(con: duckdb.DuckDBPyConnection, source: str = SOURCE, object_type: str = TYPE) -> Target:
    """The `sync_runs` row the runner writes before a stream starts (runner._begin)."""
    target = Target(source, object_type, new_id())
    con.execute("""INSERT INTO sync_runs (run_id, source_id, object_type, started_at, status, records_read,
                       records_changed)
                   VALUES (?::UUID, ?, ?, now(), 'running', 0, 0)""", [target.run_id, source, object_type])
    return target


def apply(con: duckdb.DuckDBPyConnection, target: Target, *pages: Page) -> Counts:
    """One store-writer job: apply_pages inside its own transaction."""
    con.execute("BEGIN")
    try:
        counts = apply_pages(con, target, list(pages))
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return counts


def rec(external_id: str, data: dict[str, Any] | None, at: int | None = None, *, deleted: bool = False,
        vendor_event_id: str | None = None) -> RecordIn:
    return RecordIn(external_id, data, deleted=deleted, updated_at_us=at, vendor_event_id=vendor_event_id)


def records(con: duckdb.DuckDBPyConnection, source: str = SOURCE, object_type: str = TYPE) -> dict[str, dict]:
    rows = con.execute("""SELECT external_id, deleted, data::VARCHAR, epoch_us(updated_at), epoch_us(synced_at)
                          FROM records WHERE source_id = ? AND object_type = ?""", [source, object_type]).fetchall()
    return {i: {"deleted": d, "data": orjson.loads(data), "updated_at": u, "synced_at": s}
            for i, d, data, u, s in rows}


def events(con: duckdb.DuckDBPyConnection, order: str = "event_id") -> list[tuple[str, str, dict]]:
    """(event_type, external_id, properties) of every event, in `order`."""
    rows = con.execute(f"""SELECT event_type, context->>'external_id', properties::VARCHAR FROM events
                           ORDER BY {order}""").fetchall()
    return [(t, i, orjson.loads(p)) for t, i, p in rows]


def run_row(con: duckdb.DuckDBPyConnection, target: Target) -> dict[str, Any]:
    cols = ("records_read", "records_created", "records_updated", "records_deleted", "records_changed",
            "requests", "mode", "notes")
    row = con.execute(f"SELECT {', '.join(cols)} FROM sync_runs WHERE run_id = ?::UUID AND object_type = ?",
                      [target.run_id, target.object_type]).fetchone()
    return dict(zip(cols, row, strict=True))


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every table apply_pages writes, as sortable text."""
    return {table: sorted(map(str, con.execute(f"SELECT * FROM {table}").fetchall()))
            for table in ("records", "events", "sync_state", "sync_runs", "sync_seen")}


def new_scan() -> str:
    """A scan id (UUIDv7) strictly after everything written so far, and before anything written next."""
    time.sleep(0.005)
    scan_id = new_id()
    time.sleep(0.005)
    return scan_id


# -- created, unchanged, updated ------------------------------------------------------------------------------

def test_new_records_are_created_with_one_event_each(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    before = time.time_ns() // 1000
    counts = apply(con, target, Page([rec("cus_1", {"name": "Ada", "n": 1}, T0, vendor_event_id="evt_1"),
                                      rec("cus_2", {"name": "Bob"})], {"after": "cus_2"}))
    after = time.time_ns() // 1000
    assert (counts.read, counts.created, counts.updated, counts.deleted, counts.changed) == (2, 2, 0, 0, 2)
    stored = records(con)
    assert stored["cus_1"]["data"] == {"name": "Ada", "n": 1} and stored["cus_1"]["updated_at"] == T0
    assert stored["cus_2"]["data"] == {"name": "Bob"}
    assert before <= stored["cus_2"]["updated_at"] <= after  # no vendor time: when it was read
    assert not stored["cus_1"]["deleted"] and not stored["cus_2"]["deleted"]
    assert sorted(events(con)) == [("customer.created", "cus_1", {"name": "Ada", "n": 1}),
                                   ("customer.created", "cus_2", {"name": "Bob"})]
    context = con.execute("""SELECT context::VARCHAR, source_id, epoch_us(occurred_at) FROM events
                             WHERE context->>'external_id' = 'cus_1'""").fetchone()
    assert orjson.loads(context[0]) == {"sync_run_id": target.run_id, "object_type": "customer",
                                        "external_id": "cus_1", "vendor_event_id": "evt_1"}
    assert context[1:] == (SOURCE, T0)


def test_the_same_content_again_writes_nothing(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    data = {"name": "Ada", "address": {"city": "Paris", "zip": "75001"}, "tags": ["a", "é"], "balance": 1.5}
    apply(con, target, Page([rec("cus_1", data, T0)], None))
    first = records(con)
    time.sleep(0.002)
    same = {"tags": ["a", "é"], "balance": 1.5, "address": {"zip": "75001", "city": "Paris"}, "name": "Ada"}
    counts = apply(con, target, Page([rec("cus_1", same, T0 + 5_000_000)], None))
    assert (counts.read, counts.changed) == (1, 0)
    assert records(con) == first  # neither synced_at nor updated_at moved
    assert [e[0] for e in events(con)] == ["customer.created"]


def test_changed_content_is_one_update_event_and_replaces_the_row(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    apply(con, target, Page([rec("cus_1", {"name": "Ada", "email": "a@x.test"}, T0),
                             rec("cus_2", {"name": "Bob"}, T0)], None))
    untouched = records(con)["cus_2"]
    time.sleep(0.002)
    counts = apply(con, target, Page([rec("cus_1", {"name": "Ada L."}, T0 + 1_000_000),
                                      rec("cus_2", {"name": "Bob"}, T0 + 1_000_000)], None))
    assert (counts.read, counts.created, counts.updated, counts.deleted) == (2, 0, 1, 0)
    stored = records(con)
    assert stored["cus_1"]["data"] == {"name": "Ada L."}  # replaced, not merged
    assert stored["cus_1"]["updated_at"] == T0 + 1_000_000 and not stored["cus_1"]["deleted"]
    assert stored["cus_1"]["synced_at"] > untouched["synced_at"]
    assert stored["cus_2"] == untouched
    assert events(con, "occurred_at, event_type")[-1] == ("customer.updated", "cus_1", {"name": "Ada L."})
    assert len(events(con)) == 3


# -- several versions of one object in one call ----------------------------------------------------------------

def test_every_changing_version_in_a_page_is_an_event_in_event_id_order(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    apply(con, target, Page([rec("cus_1", {"v": 0}, T0)], None))
    versions = [rec("cus_1", {"v": n}, T0 + n) for n in range(1, 13)]
    versions.insert(5, rec("cus_1", {"v": 4}, T0 + 4))  # the same as the one before: no event
    counts = apply(con, target, Page(versions, None))
    assert (counts.read, counts.updated) == (13, 12)
    assert events(con) == [("customer.created", "cus_1", {"v": 0}),
                           *[("customer.updated", "cus_1", {"v": n}) for n in range(1, 13)]]
    assert records(con)["cus_1"]["data"] == {"v": 12}


def test_versions_across_pages_and_the_later_page_wins(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    counts = apply(con, target,
                   Page([rec("cus_1", {"v": "a"}, T0 + 30)], None),
                   Page([rec("cus_1", {"v": "b"}, T0 + 20), rec("cus_2", {"v": "x"}, T0),
                         rec("cus_1", {"v": "b"}, T0 + 15)], None),
                   Page([rec("cus_1", {"v": "c"}, T0 + 10)], None))
    assert (counts.read, counts.created, counts.updated) == (5, 2, 2)
    stored = records(con)
    assert stored["cus_1"]["data"] == {"v": "c"} and stored["cus_1"]["updated_at"] == T0 + 10  # the last page
    mine = [e for e in events(con, "occurred_at DESC") if e[1] == "cus_1"]  # the vendor times run backwards here
    assert mine == [("customer.created", "cus_1", {"v": "a"}), ("customer.updated", "cus_1", {"v": "b"}),
                    ("customer.updated", "cus_1", {"v": "c"})]
    occurred = con.execute("SELECT epoch_us(occurred_at) FROM events WHERE properties->>'v' = 'b'").fetchall()
    assert occurred == [(T0 + 15,)]  # the first of the two equal versions is the change


def test_within_a_page_the_newer_version_wins_wherever_it_stands(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    apply(con, target, Page([rec("cus_1", {"v": "stored"}, T0)], None))
    counts = apply(con, target, Page([rec("cus_1", {"v": "newest"}, T0 + 300),
                                      rec("cus_1", {"v": "older"}, T0 + 100),
                                      rec("cus_2", {"v": "newest"}, T0 + 300),
                                      rec("cus_2", {"v": "older"}, T0 + 100)], None))
    assert (counts.created, counts.updated) == (1, 3)
    stored = records(con)
    assert stored["cus_1"]["data"] == {"v": "newest"} and stored["cus_1"]["updated_at"] == T0 + 300
    assert stored["cus_2"]["data"] == {"v": "newest"} and stored["cus_2"]["updated_at"] == T0 + 300
    assert [e for e in events(con, "occurred_at") if e[1] == "cus_2"] == [
        ("customer.created", "cus_2", {"v": "older"}), ("customer.updated", "cus_2", {"v": "newest"})]


def test_events_of_one_call_follow_version_order_not_page_position(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    apply(con, target, Page([rec("cus_1", {"v": n}, T0 + 100 - n) for n in range(12)], None))  # newest first
    assert events(con) == [("customer.created", "cus_1", {"v": 11}),
                           *[("customer.updated", "cus_1", {"v": n}) for n in range(10, -1, -1)]]


def test_equal_times_the_later_position_wins(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    counts = apply(con, target, Page([rec("cus_1", {"v": "first"}, T0), rec("cus_1", {"v": "second"}, T0)], None))
    assert (counts.created, counts.updated) == (1, 1)
    assert records(con)["cus_1"]["data"] == {"v": "second"}
    assert sorted(events(con)) == [("customer.created", "cus_1", {"v": "first"}),
                                   ("customer.updated", "cus_1", {"v": "second"})]


def test_two_rows_with_one_key_in_a_batch_upsert_the_newest(con: duckdb.DuckDBPyConnection) -> None:
    """DuckDB's ON CONFLICT DO UPDATE refuses (or keeps the first of) two rows with the same key."""
    target = begin_run(con)
    apply(con, target, Page([rec("cus_1", {"v": 0})], None))
    counts = apply(con, target, Page([rec("cus_1", {"v": 1}), rec("cus_1", {"v": 2}),  # both read "now"
                                      rec("cus_9", {"v": 1}), rec("cus_9", {"v": 2})], None))
    assert (counts.created, counts.updated) == (1, 3)
    stored = records(con)
    assert stored["cus_1"]["data"] == {"v": 2} and stored["cus_9"]["data"] == {"v": 2}


# -- deletes ---------------------------------------------------------------------------------------------------

def test_a_delete_without_data_keeps_the_last_data(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    apply(con, target, Page([rec("cus_1", {"name": "Ada"}, T0), rec("cus_2", {"name": "Bob"}, T0)], None))
    counts = apply(con, target, Page([rec("cus_1", None, T0 + 1_000_000, deleted=True, vendor_event_id="evt_9")],
                                     None))
    assert (counts.read, counts.created, counts.updated, counts.deleted) == (1, 0, 0, 1)
    stored = records(con)
    assert stored["cus_1"]["deleted"] and stored["cus_1"]["data"] == {"name": "Ada"}
    assert stored["cus_1"]["updated_at"] == T0 + 1_000_000
    assert not stored["cus_2"]["deleted"]
    assert events(con, "occurred_at, event_type")[-1] == ("customer.deleted", "cus_1", {"name": "Ada"})
    vendor = con.execute("SELECT context->>'vendor_event_id' FROM events WHERE event_type = 'customer.deleted'")
    assert vendor.fetchall() == [("evt_9",)]


def test_deleting_a_deleted_record_again_does_nothing(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    apply(con, target, Page([rec("cus_1", {"name": "Ada"}, T0)], None))
    apply(con, target, Page([rec("cus_1", None, T0 + 1, deleted=True)], None))
    before, n_events = records(con), len(events(con))
    time.sleep(0.002)
    counts = apply(con, target, Page([rec("cus_1", None, T0 + 2, deleted=True),
                                      rec("cus_1", {"name": "Ada"}, T0 + 3, deleted=True)], None))
    assert (counts.read, counts.changed) == (2, 0)
    assert records(con) == before and len(events(con)) == n_events


def test_a_delete_of_an_unknown_id_inserts_a_deleted_row(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    counts = apply(con, target, Page([rec("cus_gone", None, T0, deleted=True),
                                      rec("cus_known", {"name": "Eve"}, T0, deleted=True)], None))
    assert (counts.created, counts.deleted) == (0, 2)
    stored = records(con)
    assert stored["cus_gone"] == {**stored["cus_gone"], "deleted": True, "data": {}, "updated_at": T0}
    assert stored["cus_known"]["deleted"] and stored["cus_known"]["data"] == {"name": "Eve"}
    assert sorted(events(con)) == [("customer.deleted", "cus_gone", {}),
                                   ("customer.deleted", "cus_known", {"name": "Eve"})]


def test_a_version_after_a_delete_in_the_same_page_brings_it_back(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    apply(con, target, Page([rec("cus_1", {"name": "Ada"}, T0)], None))
    counts = apply(con, target, Page([rec("cus_1", None, T0 + 1, deleted=True),
                                      rec("cus_1", {"name": "Ada"}, T0 + 2)], None))
    assert (counts.updated, counts.deleted) == (1, 1)
    assert records(con)["cus_1"] == {**records(con)["cus_1"], "deleted": False, "data": {"name": "Ada"}}
    assert events(con, "occurred_at")[1:] == [("customer.deleted", "cus_1", {"name": "Ada"}),
                                              ("customer.updated", "cus_1", {"name": "Ada"})]


# -- cursor and run log ----------------------------------------------------------------------------------------

def test_the_cursor_of_the_last_page_is_saved(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    assert load_cursor(con, SOURCE, TYPE) is None
    cursor = {"mode": "events", "after": "evt_2", "at": 1_700_000_000, "nested": {"list": [1, None, "é"]}}
    apply(con, target, Page([rec("cus_1", {"v": 1})], {"mode": "list", "after": "cus_1"}),
          Page([], cursor))
    assert load_cursor(con, SOURCE, TYPE) == cursor
    assert load_cursor(con, SOURCE, "charge") is None
    apply(con, target, Page([], None))  # a stream may also clear its position
    assert load_cursor(con, SOURCE, TYPE) is None
    assert con.execute("SELECT count(*) FROM sync_state").fetchone() == (1,)
    apply(con, target)  # no pages: nothing is written
    assert con.execute("SELECT count(*) FROM sync_state").fetchone() == (1,)


def test_run_counts_add_up_over_several_calls(con: duckdb.DuckDBPyConnection) -> None:
    target, other = begin_run(con), begin_run(con, object_type="charge")
    apply(con, target, Page([rec("cus_1", {"v": 1}), rec("cus_2", {"v": 1})], 1, requests=2, mode="list"),
          Page([rec("cus_3", {"v": 1})], 2, mode="list", note="started over"))
    apply(con, target, Page([rec("cus_1", {"v": 2}), rec("cus_2", {"v": 1})], 3, mode="events"),
          Page([rec("cus_3", None, deleted=True)], 4, requests=3))
    apply(con, target, Page([], 5, requests=0, note="second note"))
    assert run_row(con, target) == {"records_read": 6, "records_created": 3, "records_updated": 1,
                                    "records_deleted": 1, "records_changed": 5, "requests": 7, "mode": "events",
                                    "notes": "started over; second note"}
    assert run_row(con, other) == {"records_read": 0, "records_created": 0, "records_updated": 0,
                                   "records_deleted": 0, "records_changed": 0, "requests": 0, "mode": None,
                                   "notes": None}


# -- complete reads --------------------------------------------------------------------------------------------

def seed_other_streams(con: duckdb.DuckDBPyConnection) -> None:
    """Records of another source and of another object type, which no scan of billing/customer may touch."""
    apply(con, begin_run(con, source="shop"), Page([rec("cus_1", {"v": "shop"}), rec("cus_x", {"v": "shop"})], 1))
    apply(con, begin_run(con, object_type="charge"), Page([rec("ch_1", {"v": "charge"})], 1))


def test_a_complete_read_marks_what_it_did_not_meet_deleted(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    seed_other_streams(con)
    apply(con, target, Page([rec(f"cus_{n}", {"v": n}, T0) for n in range(1, 6)], None))
    apply(con, target, Page([rec("cus_5", None, T0, deleted=True)], None))
    others = records(con, "shop"), records(con, SOURCE, "charge")
    before = records(con)
    scan = new_scan()
    counts = apply(con, target, Page([rec("cus_1", {"v": 1}), rec("cus_2", {"v": 1}), rec("cus_6", {"v": 6})],
                                     {"mode": "list", "after": "cus_6"}, scan_id=scan))
    assert (counts.created, counts.updated, counts.deleted) == (1, 1, 0)  # meeting cus_1 changes nothing
    assert con.execute("SELECT count(*) FROM sync_seen WHERE scan_id = ?", [scan]).fetchone() == (2,)
    n_events = len(events(con))
    counts = apply(con, target, Page([], {"mode": "events", "after": None}, scan_id=scan, scan_complete=True))
    assert (counts.read, counts.deleted, counts.changed) == (0, 2, 2)
    stored = records(con)
    assert stored["cus_1"] == before["cus_1"]  # met and unchanged: not even rewritten
    assert stored["cus_2"]["data"] == {"v": 1} and not stored["cus_2"]["deleted"]
    for gone in ("cus_3", "cus_4"):
        assert stored[gone]["deleted"] and stored[gone]["data"] == before[gone]["data"]
    assert stored["cus_5"] == before["cus_5"]  # already deleted: left alone
    assert not stored["cus_6"]["deleted"]
    assert sorted(events(con)[n_events:]) == [("customer.deleted", "cus_3", {"v": 3}),
                                              ("customer.deleted", "cus_4", {"v": 4})]
    assert con.execute("SELECT count(*) FROM sync_seen").fetchone() == (0,)
    assert (records(con, "shop"), records(con, SOURCE, "charge")) == others
    assert load_cursor(con, SOURCE, TYPE) == {"mode": "events", "after": None}
    assert run_row(con, target)["records_deleted"] == 3


def test_a_complete_read_in_one_call_finds_deletions_too(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    apply(con, target, Page([rec("cus_1", {"v": 1}), rec("cus_2", {"v": 2})], None))
    scan = new_scan()
    counts = apply(con, target, Page([rec("cus_2", {"v": 2})], "p1", scan_id=scan),
                   Page([], "done", scan_id=scan, scan_complete=True))
    assert (counts.read, counts.changed, counts.deleted) == (1, 1, 1)
    stored = records(con)
    assert stored["cus_1"]["deleted"] and not stored["cus_2"]["deleted"]
    assert con.execute("SELECT count(*) FROM sync_seen").fetchone() == (0,)


def test_a_scoped_read_judges_only_the_records_inside_its_scope(con: duckdb.DuckDBPyConnection) -> None:
    # orders read without read_all_orders: those created before the window were not visible, so not missing
    target = begin_run(con)
    apply(con, target, Page([rec("old", {"createdAt": "2024-01-01T00:00:00Z"}),
                             rec("recent", {"createdAt": "2025-06-01T00:00:00Z"}), rec("undated", {})], None))
    scan = new_scan()
    counts = apply(con, target, Page([], "done", scan_id=scan, scan_complete=True,
                                     scan_scope=("createdAt", "2025-04-01T00:00:00Z")))
    assert counts.deleted == 1
    assert {k for k, v in records(con).items() if v["deleted"]} == {"recent"}


def test_a_record_written_after_the_scan_began_is_never_marked_deleted(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    seed_other_streams(con)
    apply(con, target, Page([rec("cus_old", {"v": 1}), rec("cus_met", {"v": 1})], None))
    scan = new_scan()
    apply(con, target, Page([rec("cus_new", {"v": 1}, vendor_event_id="evt_1")], None))  # e.g. a webhook
    apply(con, target, Page([rec("cus_met", {"v": 1})], "p1", scan_id=scan))
    counts = apply(con, target, Page([], "done", scan_id=scan, scan_complete=True))
    assert counts.deleted == 1
    stored = records(con)
    assert stored["cus_old"]["deleted"]
    assert not stored["cus_new"]["deleted"] and not stored["cus_met"]["deleted"]
    assert not any(r["deleted"] for r in (*records(con, "shop").values(), *records(con, SOURCE, "charge").values()))


def test_what_another_scan_met_does_not_count(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    apply(con, target, Page([rec("cus_1", {"v": 1})], None))
    scan = new_scan()
    other_scan = new_id()
    apply(con, target, Page([rec("cus_1", {"v": 1})], "p", scan_id=other_scan))  # another scan's sightings
    counts = apply(con, target, Page([], "done", scan_id=scan, scan_complete=True))
    assert counts.deleted == 1 and records(con)["cus_1"]["deleted"]
    assert con.execute("SELECT scan_id FROM sync_seen").fetchall() == [(other_scan,)]


# -- transactions ----------------------------------------------------------------------------------------------

def test_a_rolled_back_transaction_leaves_everything_as_before(con: duckdb.DuckDBPyConnection) -> None:
    target = begin_run(con)
    apply(con, target, Page([rec("cus_1", {"v": 1}), rec("cus_2", {"v": 1})], {"after": "cus_2"}, mode="list"))
    before = snapshot(con)
    scan = new_scan()
    con.execute("BEGIN")
    try:
        apply_pages(con, target, [
            Page([rec("cus_1", {"v": 2}), rec("cus_3", {"v": 3}), rec("cus_2", None, deleted=True)], "x",
                 scan_id=scan, requests=5, mode="events", note="n"),
            Page([rec("cus_4", {"v": 4})], {"after": "cus_4"}, scan_id=scan),
        ])
        written = snapshot(con)
        raise RuntimeError("the writer failed after applying")
    except RuntimeError:
        con.execute("ROLLBACK")
    assert written != before  # it did write, inside the transaction
    assert snapshot(con) == before
    assert load_cursor(con, SOURCE, TYPE) == {"after": "cus_2"}
