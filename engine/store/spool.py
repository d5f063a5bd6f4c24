"""The write-ahead spool: where an event is durable before the store has taken it in.

An acknowledgement waits for one `write` and one `fdatasync` of its batch here, not for a DuckDB
transaction, whose fixed cost (a few ms of CPU) would otherwise be paid by every small batch. The writer's
ingest thread then moves the spooled records into DuckDB in large batches, and records in the store the
highest sequence number it committed, in the same transaction. At start-up every spooled record above that
number is ingested again, so a crash at any point loses nothing and doubles nothing.

A record is one batch: a sequence number and an orjson payload, framed (engine/store/frames.py) in numbered
segment files. Damage is never silent and never deleted: replay reads past a damaged range to the records
after it, logs it (an ERROR unless the sequence numbers around it prove that no record the store lacks was
in it), and a segment that held damage is moved to `damaged/` instead of being deleted once the store has
its intact records. `damaged/` and `quarantine.jsonl` (rows DuckDB refused) wait there for a person.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from engine.store.files import private_dir, private_file
from engine.store.frames import Damage, encode, scan

SEGMENT_BYTES = 32 * 1024 * 1024
SUFFIX, LEGACY_SUFFIX = ".seg", ".log"  # framed with a magic; before it (still read)
DAMAGED = "damaged"
QUARANTINE = "quarantine.jsonl"
log = logging.getLogger("inlet.store")


class SpoolError(OSError):
    """The spool could not make a batch durable; nothing of that batch is acknowledged."""


def spool_dir(store_path: Path) -> Path:
    return Path(f"{Path(store_path).absolute()}.spool")


def _segment_files(directory: Path) -> list[tuple[int, Path]]:
    found = [(int(p.stem), p) for suffix in (SUFFIX, LEGACY_SUFFIX) for p in Path(directory).glob(f"*{suffix}")
             if p.stem.isdigit()]
    return sorted(found)


def scan_spool(directory: Path) -> Iterator[tuple[int, int, bytes] | Damage]:
    """(segment, seq, payload) of every intact record and a Damage for every damaged range, in order.
    Reads only: a missing directory has none."""
    for number, path in _segment_files(directory):
        for item in scan(number, path.read_bytes(), legacy=path.suffix == LEGACY_SUFFIX):
            yield item if isinstance(item, Damage) else (number, *item)


def read_records(directory: Path) -> Iterator[tuple[int, int, bytes]]:
    """(segment, seq, payload) of every intact record, in order."""
    return (item for item in scan_spool(directory) if not isinstance(item, Damage))


@dataclass
class Found:
    """A damaged range found by replay, and what it cost: `lost` are the sequence numbers of records that the
    store does not hold and that no intact frame holds either (None: not known, the damage ends the spool)."""

    damage: Damage
    before: int  # seq of the last intact record before it (0: none)
    after: int | None = None  # seq of the first intact record after it (None: none)
    lost: tuple[int, int] | None = None  # first and last missing seq; (x, x-1) when none is missing

    def describe(self) -> str:
        d = self.damage
        where = f"{d.length} damaged bytes at offset {d.offset} of spool segment {d.segment}"
        if self.lost is None:
            what = ("a write cut short: the batch being written when the process stopped (never acknowledged), "
                    "unless damage cut acknowledged records off the end" if d.torn else
                    "records after it may be lost")
            return f"{where} after record {self.before}: {what}"
        first, last = self.lost
        if last < first:
            return f"{where}: no record the store lacks was in it"
        return f"{where}: acknowledged record(s) {first}-{last} could not be read and are not in the store"

    @property
    def harmless(self) -> bool:
        return self.lost is not None and self.lost[1] < self.lost[0]


def health(directory: Path) -> dict:
    """What waits in the spool directory for a person: damaged segments kept aside, and rows DuckDB refused."""
    directory = Path(directory)
    quarantine = directory / QUARANTINE
    rows = 0
    if quarantine.exists():
        with open(quarantine, "rb") as f:
            rows = sum(1 for _ in f)
    damaged = sorted(p.name for p in (directory / DAMAGED).glob("*") if p.suffix in (SUFFIX, LEGACY_SUFFIX))
    return {"quarantined_rows": rows, "quarantine_file": str(quarantine) if rows else None,
            "damaged_segments": damaged, "damaged_dir": str(directory / DAMAGED) if damaged else None}


class Spool:
    def __init__(self, directory: Path):
        self.dir = private_dir(directory)
        private_file(self.dir / QUARANTINE)  # written before files were private
        self._fd: int | None = None
        self._segment: int = 0
        self._size = 0
        self._last_seq: dict[int, int] = {}  # segment number -> highest seq written to it
        self._paths: dict[int, Path] = {}
        self._damaged: set[int] = set()  # segments holding damage: moved aside, never deleted
        self.found: list[Found] = []  # damage the last replay found
        self._lock = threading.Lock()  # the ingest thread releases while the spool thread appends
        self._write = os.write  # attributes, so a test can make the disk fail
        self._sync = os.fdatasync

    # -- reading (start-up) ---------------------------------------------------------------------------
    def segments(self) -> list[int]:
        return [number for number, _ in _segment_files(self.dir)]

    def disk_bytes(self) -> int:
        """The segment files' size on disk now (for `GET /metrics`; safe from any thread)."""
        total = 0
        for _, path in _segment_files(self.dir):
            try:
                total += path.stat().st_size
            except FileNotFoundError:  # released meanwhile
                pass
        return total

    def replay(self, committed: int = 0) -> Iterator[tuple[int, bytes]]:
        """Every intact record in every segment, in order, reading past damage (see `found` afterwards; each
        damaged range is logged). `committed`: the store's last sequence number, to tell whether a damaged range
        held a record the store lacks. Only segments read here (or written by this process) may later be
        released: one never looked at might hold records the store lacks."""
        for number, path in _segment_files(self.dir):
            self._last_seq.setdefault(number, 0)  # 0: no records (yet); a record found below raises it
            self._paths[number] = path
            private_file(path)  # written before files were private
        self.found = []
        seen: set[int] = set()
        last = 0
        waiting: list[Found] = []  # damage not yet followed by an intact record
        for item in scan_spool(self.dir):
            if isinstance(item, Damage):
                self._damaged.add(item.segment)
                waiting.append(Found(item, last))
                self.found.append(waiting[-1])
                continue
            number, seq, payload = item
            seen.add(seq)
            for found in waiting:
                found.after = seq
            waiting = []
            self._last_seq[number] = max(self._last_seq[number], seq)
            last = seq
            yield seq, payload
        for found in self.found:
            if found.after is not None:
                missing = [s for s in range(max(found.before, committed) + 1, found.after) if s not in seen]
                found.lost = (missing[0], missing[-1]) if missing else (found.after, found.after - 1)
            if found.harmless:
                log.warning("%s; the segment is kept in %s", found.describe(), self.dir / DAMAGED)
            else:
                log.error("%s; the segment is kept in %s for a person to look at", found.describe(),
                          self.dir / DAMAGED)

    # -- writing --------------------------------------------------------------------------------------
    def append(self, seq: int, payload: bytes) -> None:
        """Make one record durable (raises SpoolError if it is not)."""
        frame = encode(seq, payload)
        if self._fd is None or self._size >= SEGMENT_BYTES:
            self._open_segment()
        try:
            written = self._write(self._fd, frame)
            if written != len(frame):
                raise OSError(f"short write to the spool ({written} of {len(frame)} bytes)")
            self._sync(self._fd)
        except OSError as exc:
            self._abandon_segment()
            raise SpoolError(f"could not write the spool in {self.dir}: {exc}") from exc
        self._size += len(frame)
        with self._lock:
            self._last_seq[self._segment] = seq

    def release(self, ingested_seq: int) -> None:
        """Delete the segments whose every record is in the store, except the one being written; one that held
        damage is moved to `damaged/` instead. Only segments this process read or wrote are candidates (their
        last sequence numbers are known), so no directory listing is needed on this path, which runs after
        every ingest commit."""
        with self._lock:
            for number, last in list(self._last_seq.items()):
                if number != self._segment and last <= ingested_seq:
                    path = self._paths.pop(number, self.dir / f"{number:012d}{SUFFIX}")
                    if number in self._damaged:
                        self._set_aside(path)
                        self._damaged.discard(number)
                    else:
                        path.unlink(missing_ok=True)
                    del self._last_seq[number]

    def close(self, ingested_seq: int) -> None:
        """Close the spool; if the store has every record, nothing is left on disk."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with self._lock:
            self._segment = 0
        self.release(ingested_seq)

    def _set_aside(self, path: Path) -> None:
        # numbers start again at 1 once the spool is empty: the time keeps an earlier damaged segment's name apart
        target = private_dir(self.dir / DAMAGED) / f"{path.stem}-{time.time_ns()}{path.suffix}"
        notes = [{"offset": f.damage.offset, "length": f.damage.length, "torn": f.damage.torn,
                  "what": f.describe()} for f in self.found if f.damage.segment == int(path.stem)]
        fd = os.open(target.with_suffix(".json"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "wb") as out:
            out.write(orjson.dumps(notes, option=orjson.OPT_INDENT_2))
        os.replace(path, target)
        _fsync_dir(target.parent)
        _fsync_dir(self.dir)
        log.error("spool segment %s held damage; it is kept as %s", path.name, target)

    def _open_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        with self._lock:
            self._segment = max([*self.segments(), self._segment]) + 1
            self._last_seq[self._segment] = 0
        path = self.dir / f"{self._segment:012d}{SUFFIX}"
        self._paths[self._segment] = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._size = 0
        _fsync_dir(self.dir)  # the new file's name must be durable too

    def _abandon_segment(self) -> None:
        """After a failed write the segment may end in a torn frame: write the next batch to a new one."""
        try:
            os.close(self._fd)
        except OSError:
            pass
        self._fd = None


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
