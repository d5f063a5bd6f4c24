"""A list read's pages as two columns (`Listed`): the same records as RecordIns everywhere they are read, and the
same store after applying them, alone or mixed with pages of RecordIns."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import orjson
import pytest

from connectors.kit.model import Listed, Page, RecordIn
from engine.store.database import open_store
from engine.sync.runner import _serialize
from tests.test_sync_apply import apply, begin_run

LATER = time.time_ns() // 1000 + 3_600_000_000  # a vendor time after every list read here
OBJECTS = [{"id": f"cus_{i}", "name": f"N{i}", "address": {"zip": str(i), "city": "Paris"}} for i in range(6)]


def listed(objects: list[dict]) -> Listed:
    return Listed([o["id"] for o in objects], objects)


def as_records(objects: list[dict]) -> list[RecordIn]:
    return [RecordIn(o["id"], o) for o in objects]


def test_listed_reads_as_the_record_ins_it_stands_for() -> None:
    page = listed(OBJECTS[:3])
    assert len(page) == 3 and list(page) == as_records(OBJECTS[:3]) and page == as_records(OBJECTS[:3])
    assert page[0] == RecordIn("cus_0", OBJECTS[0]) and page[-1].external_id == "cus_2"
    assert page[1:] == as_records(OBJECTS[1:3]) and listed([]) == []
    with pytest.raises(IndexError):
        page[3]
    with pytest.raises(ValueError, match="as many ids"):
        Listed(["cus_0"], [])


def test_the_runner_turns_a_listed_page_into_sorted_json_text_and_counts_its_bytes() -> None:
    page = Page(listed(OBJECTS[:2]), None)
    size = _serialize(page)
    texts = page.records.objects
    assert texts == [orjson.dumps(o, option=orjson.OPT_SORT_KEYS).decode() for o in OBJECTS[:2]]
    assert size == sum(map(len, texts))
    assert page.records[0] == RecordIn("cus_0", texts[0])  # read back as a RecordIn: text, as before
    assert _serialize(page) == size  # already text: left as it is


def store_content(con: duckdb.DuckDBPyConnection) -> tuple[list, list]:
    records = con.execute("""SELECT external_id, deleted, data::VARCHAR FROM records ORDER BY external_id""").fetchall()
    events = con.execute("""SELECT event_type, context->>'external_id', properties::VARCHAR FROM events
                            ORDER BY event_id""").fetchall()
    return records, events


@pytest.mark.parametrize("serialized", [False, True])
def test_listed_pages_alone_or_mixed_store_what_record_ins_store(tmp_path: Path, serialized: bool) -> None:
    changed = {**OBJECTS[1], "name": "changed"}
    calls = [
        # a first read: two pages in one call
        lambda make: [Page(make(OBJECTS[:3]), {"after": "cus_2"}), Page(make(OBJECTS[3:5]), {"after": "cus_4"})],
        # a later one: one unchanged, one changed, one new, then a page of events with a delete and a vendor time
        lambda make: [Page(make([OBJECTS[0], changed, OBJECTS[5]]), {"after": "cus_5"}),
                      Page([RecordIn("cus_3", None, deleted=True, updated_at_us=LATER,
                                     vendor_event_id="evt_1")], {"after": "evt_1"})],
        # the same objects again: nothing changes
        lambda make: [Page(make([OBJECTS[0], changed]), {"after": "cus_1"})],
    ]
    results = {}
    for name, make in (("records", as_records), ("listed", listed)):
        con = open_store(tmp_path / f"{name}.duckdb")
        try:
            target = begin_run(con)
            counts = []
            for call in calls:
                pages = call(make)
                if serialized:
                    for page in pages:
                        _serialize(page)
                c = apply(con, target, *pages)
                counts.append((c.read, c.created, c.updated, c.deleted))
            results[name] = (counts, store_content(con))
        finally:
            con.close()
    assert results["listed"] == results["records"]
    counts, (_, events) = results["listed"]
    assert counts == [(5, 5, 0, 0), (4, 1, 1, 1), (2, 0, 0, 0)]
    assert [e[0] for e in events].count("customer.created") == 6 and ("customer.deleted", "cus_3") in [
        e[:2] for e in events]
