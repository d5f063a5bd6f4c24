"""The write-ahead spool: where an event is durable before the store has taken it in.

An acknowledgement waits for one `write` and one `fdatasync` of its batch here, not for a DuckDB
transaction, whose fixed cost (a few ms of CPU) would otherwise be paid by every small batch. The writer's
ingest thread then moves the spooled records into DuckDB in large batches, and records in the store the
highest sequence number it committed, in the same transaction. At start-up every spooled record above that
number is ingested again, so a crash at any point loses nothing and doubles nothing.

A record is one batch: a sequence number and an orjson payload, framed as
    length (4 bytes) | crc32 of seq+payload (4) | seq (8) | payload
in numbered segment files. A frame cut short by a crash was never acknowledged; replay ignores it.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

_HEAD = struct.Struct("<IIQ")  # length of payload, crc32, sequence number
SEGMENT_BYTES = 32 * 1024 * 1024


class SpoolError(OSError):
    """The spool could not make a batch durable; nothing of that batch is acknowledged."""


def spool_dir(store_path: Path) -> Path:
    return Path(f"{Path(store_path).absolute()}.spool")


def read_records(directory: Path) -> Iterator[tuple[int, int, bytes]]:
    """(segment, seq, payload) of every intact record, in order; a segment is read up to a torn frame.
    Reads only: a missing directory has no records."""
    directory = Path(directory)
    numbers = sorted(int(p.stem) for p in directory.glob("*.log") if p.stem.isdigit())
    for number in numbers:
        data = (directory / f"{number:012d}.log").read_bytes()
        offset = 0
        while offset + _HEAD.size <= len(data):
            length, crc, seq = _HEAD.unpack_from(data, offset)
            end = offset + _HEAD.size + length
            if end > len(data) or zlib.crc32(data[offset + 8:end]) != crc:
                break
            yield number, seq, data[offset + _HEAD.size:end]
            offset = end


def records_after(directory: Path, seq: int) -> int:
    """How many spooled records the store (committed up to `seq`) has not taken in."""
    return sum(1 for _, s, _ in read_records(directory) if s > seq)


class Spool:
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None
        self._segment: int = 0
        self._size = 0
        self._last_seq: dict[int, int] = {}  # segment number -> highest seq written to it
        self._lock = threading.Lock()  # the ingest thread releases while the spool thread appends
        self._write = os.write  # attributes, so a test can make the disk fail
        self._sync = os.fdatasync

    # -- reading (start-up) ---------------------------------------------------------------------------
    def segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.dir.glob("*.log") if p.stem.isdigit())

    def replay(self) -> Iterator[tuple[int, bytes]]:
        """Every intact record in every segment, in order. Only segments read here (or written by this
        process) may later be released: one never looked at might hold records the store lacks."""
        for number in self.segments():
            self._last_seq.setdefault(number, 0)  # 0: no records (yet); a record found below raises it
        for number, seq, payload in read_records(self.dir):
            self._last_seq[number] = seq
            yield seq, payload

    # -- writing --------------------------------------------------------------------------------------
    def append(self, seq: int, payload: bytes) -> None:
        """Make one record durable (raises SpoolError if it is not)."""
        frame_tail = struct.pack("<Q", seq) + payload
        frame = struct.pack("<II", len(payload), zlib.crc32(frame_tail)) + frame_tail
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
        """Delete the segments whose every record is in the store, except the one being written. Only segments
        this process read or wrote are candidates (their last sequence numbers are known), so no directory
        listing is needed on this path, which runs after every ingest commit."""
        with self._lock:
            for number, last in list(self._last_seq.items()):
                if number != self._segment and last <= ingested_seq:
                    (self.dir / f"{number:012d}.log").unlink(missing_ok=True)
                    del self._last_seq[number]

    def close(self, ingested_seq: int) -> None:
        """Close the spool; if the store has every record, nothing is left on disk."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with self._lock:
            self._segment = 0
        self.release(ingested_seq)

    def _open_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        with self._lock:
            self._segment = max([*self.segments(), self._segment]) + 1
            self._last_seq[self._segment] = 0
        path = self.dir / f"{self._segment:012d}.log"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._size = 0
        dir_fd = os.open(self.dir, os.O_RDONLY)  # the new file's name must be durable too
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _abandon_segment(self) -> None:
        """After a failed write the segment may end in a torn frame: write the next batch to a new one."""
        try:
            os.close(self._fd)
        except OSError:
            pass
        self._fd = None
