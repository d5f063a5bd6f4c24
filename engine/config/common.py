"""What every configuration model shares: strictness (unknown keys are errors, models are frozen), the id
patterns, and durations written as `30s`, `15m`, `2h`, `1d`."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import ConfigDict

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def format_duration(value: timedelta) -> str:
    """The shortest of `1d`, `2h`, `15m`, `30s` that says `value` exactly."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_duration(value: object) -> timedelta:
    """`30s`, `15m`, `2h`, `1d` (or a number of seconds) as a timedelta; anything else is an error."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=value)
    if isinstance(value, str) and (m := _DURATION.match(value)) and int(m.group(1)) > 0:
        return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    raise ValueError(f"{value!r} is not a duration: write a positive whole number and a unit, like 30s, 15m, 2h or 1d")


STRICT = ConfigDict(extra="forbid", frozen=True)  # every config model's: `class _Model(BaseModel)` with it


def http_url(value: str) -> str:
    """`value` if it is an absolute http(s) URL (a scheme and a host), else a ValueError saying so."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an absolute http(s) URL")
    return value
