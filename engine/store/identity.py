"""What the spool thread must know before it can answer a request: which profile a session (or a user id)
belongs to, and whether an idempotency key was seen before.

Answers come from memory, else from the store. Entries that are spooled but not yet in the store live in
`pending` and never leave memory until the ingest thread has committed them; only then do they move to a
bounded LRU, from which they may be evicted, because the store now has them. Only the spool thread touches
this object, so it needs no lock.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

CACHE_SIZE = 200_000


class _Memory(Generic[K, V]):
    def __init__(self, lookup: Callable[[list[K]], dict[K, V]], size: int = CACHE_SIZE):
        self._lookup = lookup  # asks the store for keys memory does not hold
        self._pending: dict[K, V] = {}
        self._known: OrderedDict[K, V] = OrderedDict()
        self._size = size
        self._by_seq: deque[tuple[int, list[K]]] = deque()

    def find(self, keys: Iterable[K]) -> dict[K, V]:
        found: dict[K, V] = {}
        missing = []
        for key in keys:
            if key in self._pending:
                found[key] = self._pending[key]
            elif key in self._known:
                self._known.move_to_end(key)
                found[key] = self._known[key]
            else:
                missing.append(key)
        if missing:
            from_store = self._lookup(missing)
            for key, value in from_store.items():
                self._remember(key, value)
            found.update(from_store)
        return found

    def add(self, seq: int, entries: dict[K, V]) -> None:
        """Entries spooled in record `seq`: kept until the store has committed that record."""
        if entries:
            self._pending.update(entries)
            self._by_seq.append((seq, list(entries)))

    def committed(self, seq: int) -> None:
        while self._by_seq and self._by_seq[0][0] <= seq:
            _, keys = self._by_seq.popleft()
            for key in keys:
                self._remember(key, self._pending.pop(key))

    def _remember(self, key: K, value: V) -> None:
        self._known[key] = value
        self._known.move_to_end(key)
        if len(self._known) > self._size:
            self._known.popitem(last=False)


class Identity:
    """session id -> profile id, (source id, idempotency key) -> the answer of the first event, and
    user id -> profile id."""

    def __init__(self, lookup_sessions, lookup_keys, lookup_users, size: int = CACHE_SIZE):
        self.sessions: _Memory[str, str] = _Memory(lookup_sessions, size)
        self.keys: _Memory[tuple[str, str], tuple] = _Memory(lookup_keys, size)
        self.users: _Memory[str, str] = _Memory(lookup_users, size)

    def committed(self, seq: int) -> None:
        self.sessions.committed(seq)
        self.keys.committed(seq)
        self.users.committed(seq)
