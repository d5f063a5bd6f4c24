"""JSON in and out. Parsing uses the standard library because it keeps every value exactly (orjson reads
integers beyond 64 bits as floats) and can refuse NaN and Infinity, which are not JSON. Writing uses orjson
for speed and falls back to the standard library for what orjson cannot write (such as huge integers)."""

import json
from typing import Any

import orjson


def _no_constants(name: str):
    raise ValueError(f"{name} is not valid JSON")


def loads(data: bytes | str) -> Any:
    """Parse JSON exactly; raises ValueError (or RecursionError for absurd nesting) on bad input."""
    return json.loads(data, parse_constant=_no_constants)


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True)
