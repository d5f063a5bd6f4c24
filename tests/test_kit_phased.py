"""The kit's phased stream and typed cursors, with a scripted stream (no HTTP): the order of the phases within one
run, where a run stops, a complete read started over when changes cannot be followed, and stored cursors that are
old, newer, or damaged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

import pytest

from connectors.kit.model import Page, RecordIn
from connectors.kit.phased import Cursor, CursorCodec, PhasedStream, Rescan, UnreadableCursor


class Scan(Cursor):
    phase: Literal["scan"] = "scan"
    how: str
    page: int = 0


class Changes(Cursor):
    phase: Literal["changes"] = "changes"
    since: int


class Deletions(Cursor):
    phase: Literal["deletions"] = "deletions"
    since: int


def upgrade(raw: dict[str, Any], version: int) -> dict[str, Any]:
    return {"phase": "changes", "since": raw["mark"]}  # version 1: {"mark": n}


CODEC = CursorCodec(Scan, Changes, Deletions, version=2, upgrade=upgrade)


class Scripted(PhasedStream):
    name, object_type, cursors = "things", "thing", CODEC

    def __init__(self, *, deletions: bool = True, rescan_at: int | None = None) -> None:
        self.log: list[str] = []
        self.deletions_on, self.rescan_at = deletions, rescan_at

    async def begin_scan(self, how: str) -> tuple[Scan, int]:
        self.log.append(f"begin {how}")
        return Scan(how=how), 1

    async def scan(self, cursor: Scan) -> AsyncIterator[Page]:
        for page in range(cursor.page, 2):
            self.log.append(f"scan {page}")
            yield Page([RecordIn(f"s{page}", {})], cursor.model_copy(update={"page": page + 1}), mode=cursor.how)
        yield Page([], Changes(since=10), scan_complete=True, mode=cursor.how)

    async def changes(self, cursor: Changes) -> AsyncIterator[Page]:
        if cursor.since == self.rescan_at:
            raise Rescan("changes expired", how="list (expired)")
        self.log.append(f"changes {cursor.since}")
        following = Deletions(since=cursor.since + 1) if self.deletions_on else Changes(since=cursor.since + 1)
        yield Page([RecordIn("c", {})], following, mode="changes", note="changed")

    async def deletions(self, cursor: Deletions) -> AsyncIterator[Page]:
        self.log.append(f"deletions {cursor.since}")
        yield Page([], Changes(since=cursor.since + 1), mode="deletions")


async def run(stream: PhasedStream, cursor: Any, *, full_refresh: bool = False) -> list[Page]:
    return [page async for page in stream.read(cursor, full_refresh=full_refresh)]


async def test_a_first_run_scans_then_reads_changes_and_deletions_once():
    stream = Scripted()
    pages = await run(stream, None)
    assert stream.log == ["begin list", "scan 0", "scan 1", "changes 10", "deletions 11"]
    assert [p.requests for p in pages] == [2, 1, 1, 1, 1]  # begin_scan's request counts with the first page
    assert pages[-1].cursor == {"v": 2, "phase": "changes", "since": 12}  # stored JSON, with its version
    assert [p.scan_complete for p in pages] == [False, False, True, False, False]


async def test_a_run_resumes_where_its_cursor_stands_and_stops_when_the_round_is_done():
    stream = Scripted()
    pages = await run(stream, {"v": 2, "phase": "scan", "how": "full refresh", "page": 1})
    assert stream.log == ["scan 1", "changes 10", "deletions 11"] and pages[0].mode == "full refresh"
    stream = Scripted()
    await run(stream, pages[-1].cursor)
    assert stream.log == ["changes 12", "deletions 13"]
    stream = Scripted(deletions=False)  # changes handing over to changes: one window per run
    await run(stream, {"v": 2, "phase": "changes", "since": 5})
    assert stream.log == ["changes 5"]


async def test_a_stream_may_end_the_run_after_its_complete_read():
    class ScanOnly(Scripted):
        scan_then_changes = False

    stream = ScanOnly()
    pages = await run(stream, None)
    assert stream.log == ["begin list", "scan 0", "scan 1"] and pages[-1].cursor == {"v": 2, "phase": "changes",
                                                                                     "since": 10}


async def test_a_full_refresh_scans_whatever_the_cursor_says():
    stream = Scripted()
    pages = await run(stream, {"v": 2, "phase": "changes", "since": 5}, full_refresh=True)
    assert stream.log[:3] == ["begin full refresh", "scan 0", "scan 1"] and pages[0].mode == "full refresh"


async def test_changes_that_cannot_be_followed_start_a_complete_read_saying_why():
    stream = Scripted(rescan_at=5)
    pages = await run(stream, {"v": 2, "phase": "changes", "since": 5})
    assert stream.log == ["begin list (expired)", "scan 0", "scan 1", "changes 10", "deletions 11"]
    assert pages[0].note == "changes expired" and pages[0].mode == "list (expired)" and pages[0].requests == 2
    assert pages[1].note is None


async def test_a_complete_read_that_asks_for_a_rescan_fails_instead_of_looping():
    class Stuck(Scripted):
        async def scan(self, cursor: Scan) -> AsyncIterator[Page]:
            raise Rescan("cannot")
            yield  # pragma: no cover

    with pytest.raises(Rescan):
        await run(Stuck(), None)


async def test_version_1_cursors_are_upgraded_and_unreadable_ones_start_over_with_a_note():
    stream = Scripted()
    await run(stream, {"mark": 7})
    assert stream.log == ["changes 7", "deletions 8"]
    for bad, why in [({"v": 9, "phase": "changes", "since": 1}, "version 9, written by a newer inlet"),
                     ({"v": 2, "phase": "changes"}, "since: Field required"),
                     ({"v": 2, "phase": "changes", "since": 1, "extra": 1}, "extra: Extra inputs"),
                     ({"v": "2"}, "version '2' is not a number"),
                     ({"nomark": 1}, "cannot be upgraded"),
                     ("changes", "a str, not an object")]:
        stream = Scripted()
        pages = await run(stream, bad)
        assert stream.log[:1] == ["begin list"], bad
        assert why in pages[0].note and pages[0].note.endswith("a complete read starts"), pages[0].note


def test_the_codec_round_trips_and_knows_no_cursor():
    assert CODEC.load(None) is None and CODEC.load({}) is None and CODEC.dump(None) is None
    cursor = Deletions(since=3)
    assert CODEC.load(CODEC.dump(cursor)) == cursor
    with pytest.raises(UnreadableCursor):
        CODEC.load([1])


async def test_a_phase_that_yields_nothing_still_reports_its_requests_and_note():
    class Empty(Scripted):
        async def scan(self, cursor: Scan) -> AsyncIterator[Page]:
            return
            yield  # pragma: no cover

    pages = await run(Empty(), {"v": 9})
    assert len(pages) == 1 and pages[0].records == [] and pages[0].requests == 1
    assert "newer inlet" in pages[0].note and pages[0].cursor == {"v": 2, "phase": "scan", "how": "list", "page": 0}


async def test_a_caller_stopping_early_closes_the_phase_reader():
    closed: list[str] = []

    class Watched(Scripted):
        async def scan(self, cursor: Scan) -> AsyncIterator[Page]:
            try:
                async for page in super().scan(cursor):
                    yield page
            finally:
                closed.append("scan")

    pages = Watched().read(None, full_refresh=False)
    await anext(pages)
    await pages.aclose()
    assert closed == ["scan"]
