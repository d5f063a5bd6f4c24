"""JSON in and out.

Parsing uses orjson: fast, and it refuses what is not JSON or what the store could not keep (NaN,
Infinity, numbers that overflow a double, lone surrogate escapes, absurd nesting). Its one flaw for inlet
is that it reads integers beyond 64 bits as floats, so a body holding such a long digit run is read again
by the standard library, which keeps every integer exactly. Writing uses orjson and falls back to the
standard library for what orjson cannot write (those same huge integers)."""

import json
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(rb"\d{19}")


def loads(data: bytes | str) -> Any:
    """Parse JSON exactly; raises ValueError on anything that is not JSON the store can keep."""
    raw = data.encode() if isinstance(data, str) else data
    value = orjson.loads(raw)
    if _LONG_DIGITS.search(raw):
        value = json.loads(raw)  # already validated by orjson; this pass only keeps big integers exact
    return value


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True)
