"""Stripe's form encoding: `a[b]=c` nests, `a[]=x` and `a[0]=x` append, `a=` is an empty string.

Stripe takes query strings and POST bodies in this one shape (VENDOR_FACTS 3.2: deepObject encoding), so the
sandbox decodes both with this parser and every endpoint then sees plain nested dicts, lists and strings.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from sandbox.stripe.errors import invalid

_PART = re.compile(r"\[([^\[\]]*)\]")
Params = dict[str, Any]


def parse_form(raw: bytes | str) -> Params:
    """Decode `application/x-www-form-urlencoded` text into nested params; malformed nesting is a 400."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return build(parse_qsl(text, keep_blank_values=True))


def build(pairs: list[tuple[str, str]]) -> Params:
    params: Params = {}
    for name, value in pairs:
        path = _split(name)
        _put(params, path, value, name)
    return params


def _split(name: str) -> list[str]:
    head, bracket, _ = name.partition("[")
    if not bracket:
        return [name]
    rest = name[len(head):]
    parts = _PART.findall(rest)
    if not head or "".join(f"[{p}]" for p in parts) != rest:
        raise invalid(f"Invalid parameter name: {name}", param=name)
    return [head, *parts]


def _put(node: Any, path: list[str], value: str, name: str) -> None:
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        next_is_list = not last and (path[depth + 1] == "" or path[depth + 1].isdigit())
        if isinstance(node, list):
            # `a[]=x` appends; `a[0][b]=x&a[0][c]=y` builds one dict per index.
            index = len(node) if part == "" else int(part) if part.isdigit() else None
            if index is None:
                raise invalid(f"Invalid array: {name}", param=name)
            if last:
                if index >= len(node):
                    node.append(value)
                else:
                    node[index] = value
                return
            while len(node) <= index:
                node.append([] if next_is_list else {})
            node = node[index]
            continue
        if not isinstance(node, dict):
            raise invalid(f"Invalid hash: {name}", param=name)
        if last:
            if isinstance(node.get(part), dict | list):
                raise invalid(f"Invalid hash: {name}", param=name)
            node[part] = value  # a repeated plain key: the last one wins
            return
        child = node.get(part)
        if child is None:
            child = [] if next_is_list else {}
            node[part] = child
        elif isinstance(child, str):
            raise invalid(f"Invalid hash: {name}", param=name)
        node = child
