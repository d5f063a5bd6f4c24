"""Dotted paths into a record's JSON (`properties.email`, `customer.id`, `tags`), telling absent from null.

A path is keys separated by dots; a part that is all digits also indexes a list (`lineItems.0.sku`). Walking
stops at the first part that is missing, or that meets something that is neither a dict nor a list: the value is
absent. Meeting a null on the way gives null: the vendor said there is nothing there (an order with
`customer: null` has `customer.id` null), which is not the same as the vendor not saying.
"""

from __future__ import annotations

import re
from typing import Any

PATH = re.compile(r"^[^.\s]+(\.[^.\s]+)*$")
PATH_RULE = "dotted keys like properties.email or customer.id: no spaces, no empty parts"


def lookup(data: Any, path: str) -> tuple[bool, Any]:
    """(present, value) at `path` in `data`; (False, None) when absent."""
    node = data
    for part in path.split("."):
        if node is None:
            return True, None
        if isinstance(node, dict):
            if part not in node:
                return False, None
            node = node[part]
        elif isinstance(node, list) and part.isdigit():
            index = int(part)
            if index >= len(node):
                return False, None
            node = node[index]
        else:
            return False, None
    return True, node


def nested(path: str, value: Any) -> dict:
    """The smallest dict that has `value` at `path`: nested("metadata.plan", "pro") == {"metadata": {"plan": "pro"}}."""
    parts = path.split(".")
    out: Any = value
    for part in reversed(parts):
        out = {part: out}
    return out
