"""The values a declared resource reads from its records: ids, times (`updated_at`, the incremental field) and the
arithmetic of an incremental position (the newest value seen, less the overlap), in the value's own format.

A time is an ISO 8601 string (`2024-05-01T10:00:00Z`, `...+02:00`, `...123Z`, a bare date) or a Unix time as a
number: seconds, or milliseconds when it is 10^11 or more (a seconds value that large is past the year 5000).
Any other value (an opaque, growing version string) is compared as it is and sent back unchanged.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

MS_FROM = 10**11
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?([Zz]|[+-]\d{2}:?\d{2})?$")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_iso(value: str) -> datetime | None:
    if not _ISO.match(value.strip()):
        return None
    text = value.strip().replace("z", "Z")
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) > 6:  # nanoseconds: Python keeps microseconds
        text = text.replace(fraction.group(0), "." + fraction.group(1)[:6])
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def as_time(value: Any) -> datetime | None:
    """The instant `value` names, or None when it is not a time."""
    if is_number(value):
        seconds = value / 1000 if abs(value) >= MS_FROM else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        return parse_iso(value)
    return None


def to_us(value: Any) -> int | None:
    """Microseconds since the epoch of a time value (records.updated_at), None when it is not one."""
    moment = as_time(value)
    if moment is None:
        return None
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _key(value: Any) -> tuple[int, Any]:
    moment = as_time(value)
    if moment is not None:
        return 0, moment
    return 1, str(value)


def newest(current: Any, candidate: Any) -> Any:
    """The later of two positions; None never wins."""
    if candidate is None or isinstance(candidate, (dict, list, bool)):
        return current
    if current is None:
        return candidate
    return candidate if _key(candidate) > _key(current) else current


def less(value: Any, overlap: timedelta) -> Any:
    """`value` moved back by `overlap`, written as `value` was (Unix seconds or milliseconds, ISO with Z or an
    offset, with as many decimals); a value that is no time is returned unchanged."""
    if not overlap or value is None:
        return value
    if is_number(value):
        step = overlap.total_seconds() * (1000 if abs(value) >= MS_FROM else 1)
        moved = value - step
        return int(moved) if isinstance(value, int) and float(moved).is_integer() else moved
    if not isinstance(value, str):
        return value
    moment = parse_iso(value)
    if moment is None:
        return value
    return _iso_like(moment - overlap, value.strip())


def _iso_like(moment: datetime, like: str) -> str:
    if "T" not in like.upper() and " " not in like:  # a bare date
        return moment.date().isoformat()
    fraction = re.search(r"\.(\d+)", like)
    digits = min(len(fraction.group(1)), 6) if fraction else 0
    zone = re.search(r"([Zz]|[+-]\d{2}:?\d{2})$", like)
    if zone and zone.group(1) not in ("Z", "z"):  # written in the value's own offset
        moment = moment.astimezone(datetime.fromisoformat("2000-01-01T00:00:00" + _colon(zone.group(1))).tzinfo)
    else:
        moment = moment.astimezone(UTC)
    sep = "T" if "T" in like else ("t" if "t" in like else " ")
    text = moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if digits:
        text += "." + f"{moment.microsecond:06d}"[:digits]
    if zone is None:
        return text
    if zone.group(1) in ("Z", "z"):
        return text + zone.group(1)
    offset_text = moment.strftime("%z")
    return text + (_colon(offset_text) if ":" in zone.group(1) else offset_text)


def _colon(offset: str) -> str:
    return offset if ":" in offset else offset[:3] + ":" + offset[3:]
