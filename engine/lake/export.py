"""One export of a node's store into the lake: events past the node's watermark appended, then the latest-state
tables' changed rows replaced. Blocking (pyiceberg and DuckDB); `inlet serve` runs it off the event loop, on a read
cursor of the store, so acknowledgements never wait for it.

Exactly once: an events commit carries the watermark it brings the node to (engine/lake/watermark.py). Iceberg's
commit is a compare-and-swap in the catalog, so a commit fails as a whole when another node committed first.
pyiceberg (0.12) then retries it itself on the new state, reusing the files it wrote, and stops when it finds its own
snapshot already in the table (an answer lost on the way back). When it gives up (`CommitFailedException`), the
table is read again here and, unless the watermark shows that this very commit has landed, the same rows are
committed again. A replaced row is deleted by its key and appended in one commit, so sending it twice leaves it
once.
"""

from __future__ import annotations

import logging
import random
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass, field
from functools import reduce
from typing import TypeVar

import duckdb
import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import AlwaysFalse, And, BooleanExpression, EqualTo, In, Or

from engine.lake import changes, watermark
from engine.lake.catalog import Lake, LakeError
from engine.lake.tables import EVENTS, UPSERTED, TableSpec
from engine.lake.watermark import Watermark

log = logging.getLogger("inlet.lake")
T = TypeVar("T")

EVENTS_PER_COMMIT = 200_000  # bounds the memory of a catch-up; a steady node sends what `every` gathered
ROWS_PER_COMMIT = 50_000
COMMIT_ATTEMPTS = 12  # against commits of other nodes; each waits a little longer, at random
MAX_BATCHES = 100  # per table and export: an export ends even if a table keeps changing

# a replaced row is deleted by key first, whether or not the lake has it yet (a node that died after a commit and
# before remembering it sends the row again): a delete that matches nothing is expected, not worth a warning
warnings.filterwarnings("ignore", message="Delete operation did not match any records")


@dataclass
class Exported:
    events: int = 0
    watermark: int = 0
    upserted: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0  # commits made again here after losing to other nodes' (beyond pyiceberg's own retries)

    def as_dict(self) -> dict:
        return asdict(self)


class Exporter:
    """Exports one store as one node. `cursor()` gives a fresh read cursor of the store; `remember(fn)` runs
    `fn(con)` as a write transaction of the store's writer and returns when it is committed."""

    def __init__(self, lake: Lake, cursor: Callable[[], duckdb.DuckDBPyConnection],
                 remember: Callable[[Callable[[duckdb.DuckDBPyConnection], object]], object]):
        self.lake = lake
        self.node = lake.config.node
        self._cursor = cursor
        self._remember = remember
        self.store_id = self._read(changes.store_id)
        self.mark = 0  # the node's watermark as of the last export (or read)
        self._forgot = False

    def read_mark(self) -> int:
        """The node's watermark, read from the lake now (and checked to be this store's)."""
        table = self.lake.refresh(EVENTS.name)
        mark = self._check(watermark.read(table, self.node))
        if mark is None and (others := watermark.nodes_of_store(table, self.store_id)):
            # a node name that changed (the default, the host name, does in many containers): exporting again under
            # the new one would put this store's events in the lake twice
            raise LakeError(f"lake.node: this store's events are in the lake as node {others[0]!r}, not "
                            f"{self.node!r}: set lake.node: {others[0]} (the default is the host name)")
        self.mark = mark.seq if mark else 0
        return self.mark

    def _read(self, fn: Callable[..., T], *args) -> T:
        """`fn(cur, *args)` on a fresh read cursor of the store, closed after."""
        with closing(self._cursor()) as cur:
            return fn(cur, *args)

    def export(self) -> Exported:
        done = Exported()
        self._events(done)
        if not self._forgot:  # once per process: digests kept for a lake that is gone
            uuids = [str(self.lake.table(s.name).metadata.table_uuid) for s in UPSERTED]
            self._remember(lambda con: changes.forget_other_tables(con, uuids))
            self._forgot = True
        for spec in UPSERTED:
            self._upsert(spec, done)
        return done

    # -- events ---------------------------------------------------------------------------------------------------
    def _check(self, mark: Watermark | None) -> Watermark | None:
        if mark is not None and mark.store_id != self.store_id:
            raise LakeError(
                f"lake.node: the lake's events of node {self.node!r} came from another store ({mark.store_id}, up to "
                f"event {mark.seq}), not this one ({self.store_id}): give each node's store its own lake.node")
        # a lake ahead of the store: this store's next events would pass as exported
        if mark is not None and mark.seq > (newest := self._read(changes.newest_seq)):
            raise LakeError(
                f"lake.node: the lake holds the events of node {self.node!r} up to {mark.seq}, but this store ends at "
                f"{newest}: it was restored from an older copy. Export it under a new lake.node")
        return mark

    def _events(self, done: Exported) -> None:
        after = self.read_mark()
        for _ in range(MAX_BATCHES):
            rows = self._read(changes.events_after, self.node, after, EVENTS_PER_COMMIT)
            if rows.num_rows == 0:
                break
            top = Watermark(self.store_id, rows.column("ingest_seq")[-1].as_py())
            done.conflicts += self._commit_events(rows, after, top)
            done.events += rows.num_rows
            self.mark = after = top.seq
            if rows.num_rows < EVENTS_PER_COMMIT:
                break
        done.watermark = self.mark

    def _commit_events(self, rows: pa.Table, after: int, top: Watermark) -> int:
        """Append `rows` (the events past `after` up to `top`) with the watermark; returns the conflicts met."""
        table = self.lake.table(EVENTS.name)
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                tx = table.transaction()
                tx.append(rows, snapshot_properties=watermark.summary(self.node, top))
                tx.set_properties(watermark.properties(self.node, top))
                tx.commit_transaction()
                return attempt
            except CommitFailedException:
                table = self.lake.refresh(EVENTS.name)
                mark = self._check(watermark.read(table, self.node))
                seq = mark.seq if mark else 0
                if seq >= top.seq:
                    return attempt  # this commit landed; its answer was lost
                if seq != after:
                    raise LakeError(f"lake.node: another process exports as node {self.node!r} (the lake's watermark "
                                    f"moved from {after} to {seq} meanwhile); each node needs its own name") from None
                pause(attempt)
        raise LakeError(f"lake.catalog: the events commit failed {COMMIT_ATTEMPTS} times in a row against other "
                        "nodes' commits; it is tried again at the next export")

    # -- latest-state tables -------------------------------------------------------------------------------------
    def _upsert(self, spec: TableSpec, done: Exported) -> None:
        table = self.lake.refresh(spec.name)
        uuid = str(table.metadata.table_uuid)  # a table made anew has a new id: no digest matches, every row goes
        for _ in range(MAX_BATCHES):
            found = self._read(changes.changed, spec, uuid, self.node, ROWS_PER_COMMIT)
            if not len(found):
                break
            done.conflicts += self._commit_upsert(spec, found)
            self._remember(lambda con, found=found: changes.remember(con, uuid, found))
            if found.rows.num_rows:
                done.upserted[spec.name] = done.upserted.get(spec.name, 0) + found.rows.num_rows
            if found.gone:
                done.deleted[spec.name] = done.deleted.get(spec.name, 0) + len(found.gone)
            if found.rows.num_rows < ROWS_PER_COMMIT and len(found.gone) < ROWS_PER_COMMIT:
                break

    def _commit_upsert(self, spec: TableSpec, found: changes.Changes) -> int:
        """Delete the changed and gone keys and append the changed rows, in one commit; returns the conflicts met."""
        where = match(spec, changes.key_values(found.keys + found.gone), self.node)
        table = self.lake.table(spec.name)
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                tx = table.transaction()
                tx.delete(where, snapshot_properties={"inlet.node": self.node})
                if found.rows.num_rows:
                    tx.append(found.rows, snapshot_properties={"inlet.node": self.node})
                tx.commit_transaction()
                return attempt
            except (CommitFailedException, ValidationException):  # idempotent: again, on the new state
                table = self.lake.refresh(spec.name)
                pause(attempt)
        raise LakeError(f"lake.catalog: the {spec.name} commit failed {COMMIT_ATTEMPTS} times in a row against "
                        "other nodes' commits; it is tried again at the next export")


def match(spec: TableSpec, keys: list[list], node: str) -> BooleanExpression:
    """Rows of the lake table with one of `keys`: per value of the key's group columns, `member IN (...)`."""
    groups: dict[tuple, list] = defaultdict(list)
    for key in keys:
        groups[tuple(key[:-1])].append(key[-1])
    terms: list[BooleanExpression] = []
    for values, members in groups.items():  # pyiceberg makes an IN of one value an EqualTo
        parts = [EqualTo(column, value) for column, value in zip(spec.group, values, strict=True)]
        parts.append(In(spec.member, members))
        if spec.scoped:
            parts.insert(0, EqualTo("node", node))
        terms.append(reduce(And, parts))
    return reduce(Or, terms, AlwaysFalse())  # Or(AlwaysFalse(), t) is t


def pause(attempt: int) -> None:
    time.sleep(min(2.0, 0.05 * 2 ** attempt) * random.uniform(0.5, 1.0))

