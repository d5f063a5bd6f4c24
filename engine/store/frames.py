"""How spool records are framed on disk, and how a segment is read back, damage and all.

A frame is
    magic (4 bytes) | length of payload (4) | crc32 of length+seq+payload (4) | seq (8) | payload
The magic holds 0xFE and 0xFF, bytes that never occur in UTF-8 and so never in a payload (orjson's JSON):
after damaged bytes the reader finds the next frame by its magic and checks it by its checksum, so the records
after a damaged one are still read. Segments written before the magic existed (length | crc of seq+payload |
seq | payload, no magic; named `*.log` where new ones are `*.seg`) are still read, up to their first damaged
frame (nothing marks where the next begins).

Damage is reported, never skipped silently: each damaged range with the sequence numbers of the intact records
on either side, from which the caller tells whether a record it does not hold went missing in it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

MAGIC = b"\xfe\xffIL"
_HEAD = struct.Struct("<4sIIQ")  # magic, length of payload, crc32, sequence number
_LEGACY_HEAD = struct.Struct("<IIQ")  # length of payload, crc32 of seq+payload, sequence number
HEAD_BYTES = _HEAD.size


@dataclass(frozen=True)
class Damage:
    """Bytes of a segment that are no intact frame: `offset` and `length` within segment `segment`."""

    segment: int
    offset: int
    length: int
    torn: bool  # the bytes run to the segment's end and stop inside a frame: a write cut short


def encode(seq: int, payload: bytes) -> bytes:
    tail = struct.pack("<IQ", len(payload), seq) + payload
    return _HEAD.pack(MAGIC, len(payload), zlib.crc32(tail), seq) + payload


def _frame_at(data: bytes, offset: int) -> tuple[int, int] | None:
    """(seq, end) of the intact frame starting at `offset`, or None."""
    if offset + _HEAD.size > len(data):
        return None
    magic, length, crc, seq = _HEAD.unpack_from(data, offset)
    end = offset + _HEAD.size + length
    if magic != MAGIC or end > len(data):
        return None
    payload = memoryview(data)[offset + _HEAD.size:end]
    if zlib.crc32(payload, zlib.crc32(struct.pack("<IQ", length, seq))) != crc:
        return None
    return seq, end


def _torn(data: bytes, offset: int) -> bool:
    """Whether the bytes from `offset` to the end look like the start of a frame whose write was cut short."""
    rest = len(data) - offset
    if rest < _HEAD.size:
        return MAGIC.startswith(data[offset:offset + len(MAGIC)])
    magic, length, _, _ = _HEAD.unpack_from(data, offset)
    return magic == MAGIC and offset + _HEAD.size + length > len(data)


def scan(segment: int, data: bytes, *, legacy: bool = False) -> Iterator[tuple[int, bytes] | Damage]:
    """Every intact record of a segment as (seq, payload), and every damaged range as a Damage, in file order."""
    if legacy:
        yield from _scan_legacy(segment, data)
        return
    offset = 0
    while offset < len(data):
        found = _frame_at(data, offset)
        if found is not None:
            seq, end = found
            yield seq, bytes(data[offset + _HEAD.size:end])
            offset = end
            continue
        resume = data.find(MAGIC, offset + 1)
        while resume != -1 and _frame_at(data, resume) is None:
            resume = data.find(MAGIC, resume + 1)
        if resume == -1:
            yield Damage(segment, offset, len(data) - offset, _torn(data, offset))
            return
        yield Damage(segment, offset, resume - offset, False)
        offset = resume


def _scan_legacy(segment: int, data: bytes) -> Iterator[tuple[int, bytes] | Damage]:
    offset = 0
    while offset + _LEGACY_HEAD.size <= len(data):
        length, crc, seq = _LEGACY_HEAD.unpack_from(data, offset)
        end = offset + _LEGACY_HEAD.size + length
        if end > len(data) or zlib.crc32(data[offset + 8:end]) != crc:
            break
        yield seq, data[offset + _LEGACY_HEAD.size:end]
        offset = end
    if offset < len(data):
        rest = len(data) - offset
        torn = rest < _LEGACY_HEAD.size or offset + _LEGACY_HEAD.size + _LEGACY_HEAD.unpack_from(data, offset)[0] > len(
            data)
        yield Damage(segment, offset, rest, torn)
