"""`{{ cursor }}` in a resource's `params` and `json`: the incremental position, put where a search-style API wants
it. A string that is only the placeholder becomes the value itself (a number stays a number); inside a longer string
it is spliced in as text. Nothing else is evaluated: these are not templates of a language."""

from __future__ import annotations

import re
from typing import Any

PLACEHOLDER = "cursor"
_MARK = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def placeholders(value: Any) -> set[str]:
    """The names of every `{{ name }}` in `value` (nested lists and dicts, values only)."""
    if isinstance(value, str):
        return set(_MARK.findall(value))
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value))
    return set()


def render(value: Any, cursor: Any) -> Any:
    """`value` with `{{ cursor }}` replaced by `cursor`."""
    if isinstance(value, str):
        whole = _MARK.fullmatch(value.strip())
        if whole is not None:
            return cursor
        return _MARK.sub(lambda m: "" if cursor is None else str(cursor), value)
    if isinstance(value, dict):
        return {k: render(v, cursor) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, cursor) for v in value]
    return value
