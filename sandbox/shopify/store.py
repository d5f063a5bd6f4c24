"""Objects of one kind, their sorted orders, and keyset pages over them.

Every sort order is a list of keys `(flag, value, id)` in ascending order, `flag` 0 for a null value (nulls sort
first, as in Shopify's ascending orders) and 1 otherwise; `id` breaks ties, so the order is total and a cursor
(the key of an item) says exactly where a page ends even after that item changed or vanished. Orders are built
lazily and dropped whenever the collection changes, so a burst of thousands of writes costs one sort per order
at the next read, not one insertion per write.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any

import orjson

Key = tuple
INF = float("inf")


class CursorError(Exception):
    pass


class Collection:
    """Objects by numeric id, with lazily built sort orders. `sort_values` maps a sort key name (the GraphQL
    enum value) to a function giving an object's value for it; values of one sort are all numbers or all
    (lower-cased) strings, or None."""

    def __init__(self, sort_values: dict[str, Callable[[dict], Any]]) -> None:
        self.by_id: dict[int, dict] = {}
        self.sort_values = sort_values
        self.version = 0
        self._orders: dict[str, tuple[int, list[Key], list[dict]]] = {}

    def __len__(self) -> int:
        return len(self.by_id)

    def changed(self) -> None:
        self.version += 1

    def put(self, obj: dict) -> None:
        self.by_id[obj["_num"]] = obj
        self.version += 1

    def remove(self, num: int) -> dict | None:
        obj = self.by_id.pop(num, None)
        self.version += 1
        return obj

    def key(self, sort: str, obj: dict) -> Key:
        value = self.sort_values[sort](obj)
        return (0, 0, obj["_num"]) if value is None else (1, value, obj["_num"])

    def ordered(self, sort: str) -> tuple[list[Key], list[dict]]:
        cached = self._orders.get(sort)
        if cached is not None and cached[0] == self.version:
            return cached[1], cached[2]
        value_of = self.sort_values[sort]
        pairs = []
        for num, obj in self.by_id.items():
            value = value_of(obj)
            pairs.append(((0, 0, num) if value is None else (1, value, num), obj))
        pairs.sort(key=_first)
        keys = [k for k, _ in pairs]
        objs = [o for _, o in pairs]
        self._orders[sort] = (self.version, keys, objs)
        return keys, objs


def _first(pair: tuple) -> Any:
    return pair[0]


# -- cursors ---------------------------------------------------------------------------------------------------

def encode_cursor(key: Key) -> str:
    """Opaque to clients: base64 of the sort value and id of the item, as Shopify's own cursors are
    (theirs decode to `{"last_id":…,"last_value":…}`)."""
    value = None if key[0] == 0 else key[1]
    raw = orjson.dumps({"last_id": key[2], "last_value": value})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, numeric: bool) -> Key:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
        num, value = data["last_id"], data["last_value"]
    except (binascii.Error, ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise CursorError from None
    if not isinstance(num, int) or isinstance(num, bool):
        raise CursorError
    if value is None:
        return (0, 0, num)
    if numeric != isinstance(value, (int, float)) or isinstance(value, bool):
        raise CursorError  # a cursor made under another sort key
    return (1, value, num)


# -- pages -----------------------------------------------------------------------------------------------------

def window(keys: list[Key], bounds: list | None) -> tuple[int, int]:
    """The index range of keys whose value lies within `bounds` ([low, low_inclusive, high, high_inclusive])."""
    lo, hi = 0, len(keys)
    if bounds is None:
        return lo, hi
    low, low_inc, high, high_inc = bounds
    if low is not None:
        lo = bisect_left(keys, (1, low)) if low_inc else bisect_right(keys, (1, low, INF))
    if high is not None:
        hi = bisect_right(keys, (1, high, INF)) if high_inc else bisect_left(keys, (1, high))
    return lo, max(lo, hi)


def page(keys: list[Key], items: list, *, first: int | None, last: int | None, after: Key | None,
         before: Key | None, reverse: bool, predicate: Callable[[Any], bool] | None = None,
         span: tuple[int, int] | None = None) -> tuple[list[tuple[Key, Any]], bool, bool]:
    """One page of (key, item) pairs in traversal order, with hasPreviousPage and hasNextPage.

    `keys` ascend; `reverse` walks them descending. `after`/`before` are keys in traversal terms (items strictly
    after / before them). `span` narrows to an index range known to hold every match."""
    lo, hi = span if span is not None else (0, len(keys))
    s, e = lo, hi  # the window, as an ascending index range
    if not reverse:
        if after is not None:
            s = max(s, bisect_right(keys, after))
        if before is not None:
            e = min(e, bisect_left(keys, before))
    else:
        if after is not None:
            e = min(e, bisect_left(keys, after))
        if before is not None:
            s = max(s, bisect_right(keys, before))
    e = max(s, e)

    # traversal: `head` is where the window starts in traversal order, `tail` where it ends
    step = -1 if reverse else 1
    head, tail = (e - 1, s - 1) if reverse else (s, e)
    before_head = (range(e, hi) if reverse else range(s - 1, lo - 1, -1))  # outside, nearest first
    after_tail = (range(s - 1, lo - 1, -1) if reverse else range(e, hi))

    def exists(indexes: range) -> bool:
        if predicate is None:
            return len(indexes) > 0
        return any(predicate(items[i]) for i in indexes)

    def collect(indexes: range, limit: int) -> list[int]:
        if predicate is None:
            return list(indexes[:limit + 1])
        found: list[int] = []
        for i in indexes:
            if predicate(items[i]):
                found.append(i)
                if len(found) > limit:
                    break
        return found

    if last is not None and first is None:
        backward = range(tail - step, head - step, -step)  # the window from its traversal end
        found = collect(backward, last)
        has_previous = len(found) > last
        chosen = list(reversed(found[:last]))
        has_next = exists(after_tail)
    else:
        limit = first if first is not None else 0
        found = collect(range(head, tail, step), limit)
        has_next = len(found) > limit
        chosen = found[:limit]
        if last is not None:  # first and last together: the last `last` of the first `first`
            chosen = chosen[-last:] if last else []
        has_previous = exists(before_head)
    return [(keys[i], items[i]) for i in chosen], has_previous, has_next
