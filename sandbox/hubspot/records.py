"""Records as the sandbox keeps them, their indexes, and their API rendering.

A record is a `Rec`: its id, a plain dict of the properties that have a value (all strings, as the API renders
them; `createdate`, the last-modified property and `hs_object_id` included, so `createdAt`/`updatedAt` are read
from there), and numeric times for search. A change never edits a `Rec`: it makes a new one, so with search lag
the previous version stays reachable through `prev` for the lagging search index.

Each type's live and archived ids are sorted lists: list pages are bisections (the keyset `after`), whatever
changed meanwhile. For search, the live records' (last-modified ms, id) pairs are kept sorted (rebuilt on the
first search after a change), so a query bounded in time reads only that slice.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right, insort
from datetime import UTC, datetime

from sandbox.hubspot.objects import ObjectKind, Schema


def iso(ms: int) -> str:
    """Epoch ms → `2019-12-07T16:50:06.678Z` (ISO 8601 with milliseconds and Z)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def instant(value: object) -> int | None:
    """An instant in epoch ms from epoch ms (number or digit string) or ISO 8601 (date or date-time; without an
    offset it is UTC); None when unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class Rec:
    __slots__ = ("archived_at", "created_ms", "id", "prev", "props", "updated_ms")

    def __init__(self, id: int, props: dict[str, str], created_ms: int, updated_ms: int,
                 archived_at: str | None = None, prev: Rec | None = None) -> None:
        self.id = id
        self.props = props
        self.created_ms = created_ms
        self.updated_ms = updated_ms
        self.archived_at = archived_at
        self.prev = prev


class Store:
    """One object type's records: by id, plus sorted id lists of the live and the archived ones."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.kind: ObjectKind = schema.kind
        self.by_id: dict[int, Rec] = {}  # insertion order is id order: seeding sorts, creates take higher ids
        self.live: list[int] = []
        self.archived: list[int] = []
        self.emails: dict[str, int] = {}  # contacts: lower-cased email → id of the live contact holding it
        self.version = 0  # bumped by every change; search caches check it
        self.last_id = schema.kind.id_base
        self.search_cache: dict = {}
        self._log: list[tuple[int, int]] = []  # (updated_ms, id) of the live records, sorted, as of _log_version
        self._log_version = -1

    def load(self, recs: list[Rec]) -> None:
        for rec in recs:
            self.by_id[rec.id] = rec
            self.live.append(rec.id)
            email = rec.props.get("email")
            if email:
                self.emails[email] = rec.id
        self.last_id = max(self.last_id, recs[-1].id if recs else 0)
        self.version += 1

    def add(self, rec: Rec) -> None:
        self.by_id[rec.id] = rec
        self.live.append(rec.id)  # new ids are above every other id
        self.last_id = rec.id
        email = rec.props.get("email")
        if email:
            self.emails[email] = rec.id
        self.version += 1

    def put(self, old: Rec, new: Rec) -> None:
        """Swap in a new version of a record; moves it between the live and archived lists as needed."""
        self.by_id[new.id] = new
        was, now = old.archived_at is not None, new.archived_at is not None
        if was != now:
            _remove(self.archived if was else self.live, new.id)
            insort(self.live if was else self.archived, new.id)
        old_email, new_email = old.props.get("email"), new.props.get("email")
        if (old_email, was) != (new_email, now):
            if old_email and not was and self.emails.get(old_email) == old.id:
                del self.emails[old_email]
            if new_email and not now:
                self.emails.setdefault(new_email, new.id)
        self.version += 1

    def modified(self, low: tuple[int, int], high: tuple[int, int]) -> tuple[list[tuple[int, int]], int, int]:
        """The sorted (updated_ms, id) pairs of the live records and the slice [i, j) of those in [low, high]."""
        if self._log_version != self.version:
            by_id = self.by_id
            self._log = sorted([(by_id[i].updated_ms, i) for i in self.live])  # a new list: old views stay valid
            self._log_version = self.version
        log = self._log
        return log, bisect_left(log, low), bisect_right(log, high)

    def current(self, object_id: int, *, archived: bool | None = False) -> Rec | None:
        """The record with this id, if it exists and its archived state matches (`archived=None`: either)."""
        rec = self.by_id.get(object_id)
        if rec is None or (archived is not None and (rec.archived_at is not None) != archived):
            return None
        return rec


def _remove(ids: list[int], object_id: int) -> None:
    i = bisect_left(ids, object_id)
    if i < len(ids) and ids[i] == object_id:
        del ids[i]


def render(rec: Rec, names: tuple[str, ...], lastmod: str) -> dict:
    """A record as the API shows it, with exactly the properties `names` (unset ones as null)."""
    props = rec.props
    out = {"id": props["hs_object_id"], "properties": {n: props.get(n) for n in names},
           "createdAt": props["createdate"], "updatedAt": props[lastmod], "archived": rec.archived_at is not None}
    if rec.archived_at is not None:
        out["archivedAt"] = rec.archived_at
    return out


def render_set(rec: Rec, lastmod: str) -> dict:
    """A record with the properties that have a value, as create and update responses carry them."""
    return render(rec, tuple(rec.props), lastmod)
