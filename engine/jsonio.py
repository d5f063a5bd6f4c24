"""JSON in and out.

Parsing uses orjson: fast, and it refuses what is not JSON or what the store could not keep (NaN,
Infinity, numbers that overflow a double, lone surrogate escapes, nesting beyond 1,024 levels). Its one flaw
for inlet is that it reads integers beyond 64 bits as floats, so a body holding such a long digit run is read
again by the standard library, which keeps every integer exactly. Writing uses orjson and falls back to the
standard library for what orjson cannot write (those same huge integers, and nesting beyond 254 levels).

Depth is bounded so that nothing here depends on how much of Python's stack a caller has left: `loads` refuses
JSON nested deeper than `max_depth` (MAX_DEPTH unless the caller asks for more, up to orjson's PARSER_DEPTH),
and JSON holding long digit runs deeper than EXACT_DEPTH (the standard library's reader recurses). Every
refusal, and `dumps` running out of stack, is a ValueError (`TooDeep` for depth), never a RecursionError."""

import json
import re
from typing import Any

import orjson

MAX_DEPTH = 128  # nested arrays and objects that request data may have: far beyond any real payload
PARSER_DEPTH = 1024  # the most orjson reads
EXACT_DEPTH = 512  # the most the standard library's (recursive) reader is given, with room to spare on the stack
_LONG_DIGITS = re.compile(rb"\d{19}")


class TooDeep(ValueError):
    """JSON nested more deeply than inlet reads or writes."""


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON exactly; raises ValueError on anything that is not JSON the store can keep, or that nests
    more than `max_depth` arrays and objects (at most PARSER_DEPTH)."""
    raw = data.encode() if isinstance(data, str) else data
    value = orjson.loads(raw)
    brackets = -1  # counted once, only when needed: more brackets than a limit is the cheap sign to look deeper
    if max_depth < PARSER_DEPTH:
        brackets = raw.count(b"[") + raw.count(b"{")
        if brackets > max_depth and too_deep(value, max_depth):
            raise TooDeep(f"the JSON nests deeper than {max_depth} levels of arrays and objects, the most read here")
    if _LONG_DIGITS.search(raw):
        if brackets < 0:
            brackets = raw.count(b"[") + raw.count(b"{")
        if brackets > EXACT_DEPTH and too_deep(value, EXACT_DEPTH):
            raise TooDeep(f"JSON holding integers of 19 or more digits may nest at most {EXACT_DEPTH} levels deep")
        try:
            value = json.loads(raw)  # already validated by orjson; this pass only keeps big integers exact
        except RecursionError:  # not expected within EXACT_DEPTH; if the stack is short all the same, refuse
            raise TooDeep("the JSON nests too deeply to be read exactly") from None
    return value


def dumps(value: Any) -> str:
    """Compact JSON text; ValueError (TooDeep) when `value` nests too deeply to write, TypeError when it holds
    something JSON has no form for."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        pass
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    except RecursionError:
        raise TooDeep("the value nests too deeply to be written as JSON") from None


def too_deep(value: Any, limit: int) -> bool:
    """Whether `value` nests more than `limit` arrays and objects (walked without recursion)."""
    if not isinstance(value, dict | list):
        return False
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False
