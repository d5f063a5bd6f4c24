"""`POST /crm/v3/objects/{type}/search` (VENDOR_FACTS 1.3): filters, one sort, offset paging, the 10,000 cap.

A query's full ordered result is computed once and cached (keyed by filters, sort and query) until the store
changes, so paging through 10,000 results costs one scan plus a slice per page. A query with one filter group
that bounds the last-modified property (the incremental-sync query) reads only that time range of the store's
last-modified log instead of every record; with an `EQ` on it, an `hs_object_id` lower bound narrows it further.

With `search_lag`, the scan sees each record as it was `search_lag` seconds ago (the search index lags writes),
and the cache also expires when a lagging change becomes visible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from sandbox.hubspot.errors import validation
from sandbox.hubspot.filters import compile_filters, compile_sort, number
from sandbox.hubspot.records import Rec, Store, instant, render

if TYPE_CHECKING:
    from sandbox.hubspot.data import HubSpotSandbox

MAX_LIMIT = 200
RESULT_CAP = 10_000
_CACHE_SIZE = 32


def search(sb: HubSpotSandbox, store: Store, body: object) -> dict:
    if not isinstance(body, dict):
        raise validation("Invalid input JSON on line 1, column 1: the search request must be a JSON object")
    limit = _integer(body.get("limit"), 10, "limit")
    after = _integer(body.get("after"), 0, "after")
    if limit > MAX_LIMIT or limit < 0:
        # Wording [UNCONFIRMED]; the documented fact is only "up to 200 objects" per page.
        raise validation(f"Limit must be between 0 and {MAX_LIMIT}; got {limit}.")
    if after + limit > RESULT_CAP:
        # "Attempting to page beyond 10,000 will result in a 400 error"; the body's wording is [UNCONFIRMED].
        raise validation(f"The search endpoints return at most {RESULT_CAP} results for any query: after={after} "
                         f"with limit={limit} pages beyond result {RESULT_CAP}. Narrow the query's filters instead.")
    matcher = compile_filters(store, body.get("filterGroups"), body.get("query"))
    order, natural = compile_sort(store, body.get("sorts"))
    key = orjson.dumps([body.get("filterGroups"), body.get("query"), body.get("sorts")], option=orjson.OPT_SORT_KEYS)
    span = _span(store, body.get("filterGroups"), body.get("query"))
    ordered = _results(sb, store, key, matcher, order, natural, span)
    names = store.schema.requested(_properties(body.get("properties")))
    lastmod = store.kind.lastmod
    page = [render(rec, names, lastmod) for rec in ordered[after:after + limit]]
    out: dict = {"total": len(ordered), "results": page}
    if after + limit < len(ordered) and limit > 0:
        out["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
    return out


def _integer(value: object, default: int, name: str) -> int:
    if value is None or value == "":
        return default
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        message = f"Invalid input JSON on line 1, column 1: `{name}` must be an integer, got {value!r}"
        raise validation(message) from None


def _properties(value: object) -> list[str] | None:
    if value is None or value == []:
        return None  # the default properties (VENDOR_FACTS 1.2)
    if isinstance(value, str):
        return value.split(",")
    if not isinstance(value, list):
        raise validation("Invalid input JSON on line 1, column 1: `properties` must be a list of property names")
    return [str(v) for v in value]


class _Slice:
    """Results that are exactly a slice of the store's sorted (updated_ms, id) pairs, materialised per page."""

    __slots__ = ("by_id", "log", "start", "stop")

    def __init__(self, by_id: dict[int, Rec], log: list[tuple[int, int]], start: int, stop: int) -> None:
        self.by_id, self.log, self.start, self.stop = by_id, log, start, max(start, stop)

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, part: slice) -> list[Rec]:
        by_id = self.by_id
        return [by_id[i] for _, i in self.log[self.start + part.start:min(self.stop, self.start + part.stop)]]


Span = tuple[tuple[int, int], tuple[int, int], bool]


def _span(store: Store, groups: object, query: object) -> Span | None:
    """The (updated_ms, id) range one filter group confines results to, from its filters on the last-modified
    property (and on hs_object_id when that pins one millisecond), and whether that range is the whole query;
    None when there is no such bound."""
    if not isinstance(groups, list) or len(groups) != 1:
        return None
    filters = groups[0].get("filters") or []
    low, high, low_id, bounded, exact = -(1 << 62), 1 << 62, -1, False, not query
    for spec in filters:
        op, name = spec.get("operator", "EQ"), spec.get("propertyName")
        if name == "hs_object_id" and op in ("GT", "GTE"):
            continue  # exact only if the range pins one millisecond; settled below
        if name != store.kind.lastmod or op not in ("EQ", "GT", "GTE", "LT", "LTE", "BETWEEN"):
            exact = False
            continue
        x = instant(spec.get("value"))
        if x is None:
            continue
        bounded = True
        if op in ("EQ", "GTE", "BETWEEN"):
            low = max(low, x)
        if op == "GT":
            low = max(low, x + 1)
        if op in ("EQ", "LTE"):
            high = min(high, x)
        if op == "LT":
            high = min(high, x - 1)
        if op == "BETWEEN" and (y := instant(spec.get("highValue"))) is not None:
            high = min(high, y)
    if not bounded:
        return None
    for spec in filters:
        if spec.get("propertyName") == "hs_object_id" and spec.get("operator") in ("GT", "GTE"):
            y = number(str(spec.get("value")))
            if low != high or y is None:
                exact = False
            else:
                low_id = max(low_id, int(y) + 1 if spec["operator"] == "GT" or y != int(y) else int(y))
    return (low, low_id), (high, 1 << 62), exact


def _results(sb: HubSpotSandbox, store: Store, key: bytes, matcher: Callable[[Rec], bool],
             order: Callable[[list[Rec]], list[Rec]], natural: Callable[[bool], bool],
             span: Span | None) -> list[Rec] | _Slice:
    cutoff = int((sb.now() - sb.search_lag) * 1000) if sb.search_lag > 0 else None
    cached = store.search_cache.get(key)
    if cached is not None:
        version, low, high, ordered = cached
        if version == store.version and (cutoff is None or low <= cutoff < high):
            return ordered
    found: list[Rec] = []
    next_change = 1 << 62
    ordered: list[Rec] | _Slice
    if cutoff is None and span is not None:
        low, high, exact = span
        log, i, j = store.modified(low, high)
        by_id = store.by_id
        if exact and natural(low[0] == high[0]):
            ordered = _Slice(by_id, log, i, j)
            _remember(store, key, (store.version, 0, next_change, ordered))
            return ordered
        found = [rec for rec in (by_id[k] for _, k in log[i:j]) if matcher(rec)]
        found.sort(key=_id)  # the order every sort starts from (ties stay in id order)
    elif cutoff is None:
        by_id = store.by_id
        found = [rec for rec in map(by_id.__getitem__, store.live) if matcher(rec)]
    else:
        for rec in store.by_id.values():  # id order
            seen = rec
            while seen is not None and seen.updated_ms > cutoff:
                next_change = min(next_change, seen.updated_ms)
                seen = seen.prev
            if seen is None or seen.archived_at is not None:
                continue
            seen.prev = None  # older versions can never be visible again (the cutoff only moves forward)
            if matcher(seen):
                found.append(seen)
    ordered = order(found)
    _remember(store, key, (store.version, cutoff or 0, next_change, ordered))
    return ordered


def _remember(store: Store, key: bytes, entry: tuple) -> None:
    if len(store.search_cache) >= _CACHE_SIZE:
        store.search_cache.clear()
    store.search_cache[key] = entry


def _id(rec: Rec) -> int:
    return rec.id
