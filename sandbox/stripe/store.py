"""Sorted indexes of objects and events, so a list page costs O(log n + limit) even with 100,000 customers.

Every listed thing has a key `(-created, -seq)`: ascending keys are Stripe's newest-first order, and `seq` (the
order the sandbox made things in) breaks ties within one second, so the later of two same-second events comes
first, as a client replaying events expects. Cursors (`starting_after`, `ending_before`) and `created` bounds are
bisections on that key list.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

Key = tuple[int, int]
_LOWEST_SEQ = -(1 << 62)
_ABOVE_SEQ = 1  # greater than every -seq, which is <= 0


def make_key(created: int, seq: int) -> Key:
    return (-created, -seq)


@dataclass(frozen=True, slots=True)
class CreatedRange:
    """Inclusive bounds on `created`; `created[gt]=t` is stored as `low=t+1` since timestamps are whole seconds."""

    low: int | None = None
    high: int | None = None


class Index:
    """Items in newest-first order with their keys in a parallel list, for bisection."""

    __slots__ = ("items", "keys")

    def __init__(self, pairs: Iterable[tuple[Key, Any]] = ()) -> None:
        ordered = sorted(pairs, key=itemgetter(0))
        self.keys: list[Key] = [key for key, _ in ordered]
        self.items: list[Any] = [item for _, item in ordered]

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: Key, item: Any) -> None:
        i = bisect_left(self.keys, key)
        self.keys.insert(i, key)
        self.items.insert(i, item)

    def discard(self, key: Key) -> None:
        i = bisect_left(self.keys, key)
        if i < len(self.keys) and self.keys[i] == key:
            del self.keys[i]
            del self.items[i]

    def span(self, created: CreatedRange) -> tuple[int, int]:
        """The slice of items whose `created` lies in the range (newer → smaller index)."""
        lo, hi = 0, len(self.keys)
        if created.high is not None:
            lo = bisect_left(self.keys, (-created.high, _LOWEST_SEQ))
        if created.low is not None:
            hi = bisect_right(self.keys, (-created.low, _ABOVE_SEQ))
        return lo, max(lo, hi)


def page(index: Index, created: CreatedRange, *, after: Key | None = None, before: Key | None = None,
         limit: int = 10, match: Callable[[Any], bool] | None = None) -> tuple[list[Any], bool]:
    """One list page and `has_more`. With `before` (ending_before) it is the page just newer than the cursor,
    still newest first, and `has_more` says whether even newer items exist, as Stripe does."""
    keys, items = index.keys, index.items
    lo, hi = index.span(created)
    if before is not None:
        end = min(hi, bisect_left(keys, before))
        if match is None:
            start = max(lo, end - limit)
            return items[start:end], start > lo
        found: list[Any] = []
        i = end - 1
        while i >= lo and len(found) <= limit:
            if match(items[i]):
                found.append(items[i])
            i -= 1
        more = len(found) > limit
        found = found[:limit]
        found.reverse()
        return found, more
    start = lo if after is None else max(lo, bisect_right(keys, after))
    if match is None:
        end = min(hi, start + limit)
        return items[start:end], end < hi
    found = []
    i = start
    while i < hi and len(found) <= limit:
        if match(items[i]):
            found.append(items[i])
        i += 1
    return found[:limit], len(found) > limit


@dataclass
class Collection:
    """One object type: every object by id, the listed ones in an index, and per-customer indexes so the
    `customer=` filter of charges, invoices and subscriptions is a bisection rather than a scan."""

    kind: str  # the word in Stripe's "No such customer: 'cus_x'"
    path: str  # "/v1/customers"
    by_id: dict[str, dict] = field(default_factory=dict)
    key_of: dict[str, Key] = field(default_factory=dict)
    index: Index = field(default_factory=Index)
    by_customer: dict[str, Index] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)

    def load(self, rows: list[tuple[Key, dict]]) -> None:
        """Bulk load at seeding: one sort instead of n insertions."""
        self.index = Index(rows)
        groups: dict[str, list[tuple[Key, dict]]] = {}
        for key, obj in rows:
            self.by_id[obj["id"]] = obj
            self.key_of[obj["id"]] = key
            if "customer" in obj and obj["object"] != "customer":
                groups.setdefault(obj["customer"], []).append((key, obj))
        self.by_customer = {cus: Index(group) for cus, group in groups.items()}

    def add(self, key: Key, obj: dict) -> None:
        self.by_id[obj["id"]] = obj
        self.key_of[obj["id"]] = key
        self.index.add(key, obj)
        if "customer" in obj and obj["object"] != "customer":
            self.by_customer.setdefault(obj["customer"], Index()).add(key, obj)

    def replace(self, obj: dict) -> None:
        """Swap in a changed copy: stored dicts are never changed in place, so events can keep references to
        them as their snapshots."""
        key = self.key_of[obj["id"]]
        self.by_id[obj["id"]] = obj
        for index in (self.index, self.by_customer.get(obj.get("customer", ""))):
            if index is None:
                continue
            i = bisect_left(index.keys, key)
            if i < len(index.keys) and index.keys[i] == key:
                index.items[i] = obj

    def delete(self, object_id: str) -> dict:
        """Unlist an object; its id stays known (a cursor on it still works, retrieval says deleted)."""
        obj = self.by_id.pop(object_id)
        key = self.key_of[object_id]
        self.index.discard(key)
        if "customer" in obj and obj["object"] != "customer" and obj["customer"] in self.by_customer:
            self.by_customer[obj["customer"]].discard(key)  # so `?customer=` lists drop it too
        self.deleted.add(object_id)
        return obj
