"""Applying pages of object versions to the store: the job the store writer runs, one transaction per call.

Per call: each object's versions are put in order (a later page, then a newer `updated_at`, then a later
position), each is compared with the one before it (the stored row for the first), and only changes are
written: every change to `events` (`<object_type>.created|updated|deleted`), and the newest to `records`
(DuckDB's upsert would otherwise keep the first of two rows with the same key and drop the other). The
stream's cursor and the run's counts are written in the same transaction, so a crash leaves either all of it or none.

A complete read (`scan_id`) also notes which unchanged records it met, in `sync_seen`. When it ends, the
records it neither met nor wrote since it began are marked deleted. Records written after the scan began
(by this scan, or by anything else) are never touched by that rule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb
import orjson
import pyarrow as pa

from connectors.kit.ids import new_id
from connectors.kit.model import Page
from engine.profiles import Observation, Registry, apply_observations, record_profiles
from engine.store.arrow import registered
from engine.store.rollups import count_pulled

_TS = pa.timestamp("us", tz="UTC")
_INCOMING = pa.schema([("external_id", pa.string()), ("data", pa.string()), ("deleted", pa.bool_()),
                       ("updated_at", _TS), ("vendor_event_id", pa.string()), ("pos", pa.int64())])


@dataclass(slots=True)
class Counts:
    read: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    requests: int = 0

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.deleted

    def add(self, other: Counts) -> None:
        self.read += other.read
        self.created += other.created
        self.updated += other.updated
        self.deleted += other.deleted
        self.requests += other.requests


def now_us() -> int:
    return time.time_ns() // 1000


def scan_started_us(scan_id: str) -> int:
    """A scan id is a UUIDv7: its first 48 bits are the milliseconds when the scan began."""
    return int(scan_id.replace("-", "")[:12], 16) * 1000


@dataclass(slots=True)
class Target:
    source_id: str
    object_type: str
    run_id: str
    profiles: Registry | None = None  # the sources' mappings: changes map to profiles in the same transaction


def apply_pages(con: duckdb.DuckDBPyConnection, target: Target, pages: list[Page]) -> Counts:
    """Apply `pages` (in order) and commit the last one's cursor; the caller holds the transaction."""
    counts = Counts()
    now = now_us()
    segment: list[Page] = []
    for page in pages:
        segment.append(page)
        counts.requests += page.requests
        if page.scan_complete:
            counts.add(_apply_records(con, target, segment, now))
            segment = []
            counts.deleted += _complete_scan(con, target, page.scan_id, now, page.scan_scope)
    if segment:
        counts.add(_apply_records(con, target, segment, now))
    if pages and not pages[-1].push:
        _save_cursor(con, target, pages[-1].cursor, now)
        _log_progress(con, target, counts, pages)
    return counts


def _incoming(pages: list[Page], now: int) -> pa.Table:
    pos: list[int] = []
    n = 0
    for index, page in enumerate(pages):  # a later page wins over any position in an earlier one
        start = (index << 32) + n
        pos.extend(range(start, start + len(page.records)))
        n += len(page.records)
    records = [record for page in pages for record in page.records]
    arrays = [pa.array([r.external_id for r in records], pa.string()),
              pa.array(_texts([r.data for r in records]), pa.string()),
              pa.array([r.deleted for r in records], pa.bool_()),
              pa.array([now if r.updated_at_us is None else r.updated_at_us for r in records], _TS),
              pa.array([r.vendor_event_id for r in records], pa.string()), pa.array(pos, pa.int64())]
    return pa.Table.from_arrays(arrays, schema=_INCOMING)


def _texts(datas: list) -> list:
    """The objects as JSON text with sorted keys (the runner serialized a read's; a webhook's are dicts); None kept."""
    dumps, sort = orjson.dumps, orjson.OPT_SORT_KEYS
    return [d if d is None or isinstance(d, str | bytes) else dumps(d, option=sort) for d in datas]


# Every version that differs from the one before it (the stored row, for the first) is a change and appends an
# event, so the event log does not depend on how pages were grouped into transactions; the upsert takes the
# last change of each object.
_CHANGES = """
    WITH versions AS (
        SELECT i.*, r.external_id IS NOT NULL AS existed, r.deleted AS was_deleted, r.data::VARCHAR AS stored,
               lag(i.data) OVER w AS prev_data, lag(i.deleted) OVER w AS prev_deleted, row_number() OVER w AS n
        FROM incoming i
        LEFT JOIN records r ON r.source_id = $source AND r.object_type = $type AND r.external_id = i.external_id
        WINDOW w AS (PARTITION BY i.external_id ORDER BY i.pos >> 32, i.updated_at, i.pos)
    ), compared AS (
        SELECT *,
               n > 1 OR existed AS had,
               CASE WHEN n = 1 THEN coalesce(was_deleted, false) ELSE prev_deleted END AS before_deleted,
               CASE WHEN n = 1 THEN stored ELSE coalesce(prev_data, stored) END AS before_data
        FROM versions
    )
    SELECT external_id, coalesce(data, before_data, '{}') AS data, deleted, updated_at, vendor_event_id, pos,
           CASE WHEN deleted THEN 'deleted' WHEN NOT had THEN 'created' ELSE 'updated' END AS change
    FROM compared
    WHERE NOT had
       OR (deleted AND NOT before_deleted)
       OR (NOT deleted AND (before_deleted OR before_data IS DISTINCT FROM data))
    ORDER BY pos >> 32, updated_at, pos
"""

# The usual case, each object once in the call (list pages): a plain comparison with the stored row.
_CHANGES_ONCE = """
    SELECT i.external_id, coalesce(i.data, r.data::VARCHAR, '{}') AS data, i.deleted, i.updated_at, i.vendor_event_id,
           i.pos, CASE WHEN i.deleted THEN 'deleted' WHEN r.external_id IS NULL THEN 'created' ELSE 'updated' END
           AS change
    FROM incoming i
    LEFT JOIN records r ON r.source_id = $source AND r.object_type = $type AND r.external_id = i.external_id
    WHERE r.external_id IS NULL
       OR (i.deleted AND NOT r.deleted)
       OR (NOT i.deleted AND (r.deleted OR r.data::VARCHAR IS DISTINCT FROM i.data))
    ORDER BY i.pos
"""

# Whether any of the incoming objects is stored: a scan of the stored ids alone, several times cheaper than the
# comparison join, which reads every stored row's data (a first sync of a million objects spent most of its
# store time there, more with each page).
_ANY_STORED = """
    SELECT count(*) FROM records
    WHERE source_id = $source AND object_type = $type AND external_id IN (SELECT external_id FROM incoming)
"""

# Versions older than the stored one (late webhook deliveries, or events a webhook already applied) never
# overwrite a newer record. Compared to the second: vendors' times have no more (Stripe's `created`), and a
# list read stores when it read.
_NOT_OLDER = """
    SELECT p.* FROM pushed p
    LEFT JOIN records r ON r.source_id = $source AND r.object_type = $type AND r.external_id = p.external_id
    WHERE r.external_id IS NULL OR date_trunc('second', p.updated_at) >= date_trunc('second', r.updated_at)
    ORDER BY p.pos
"""

_INSERT = """
    INSERT INTO records
    SELECT $source, $type, external_id, updated_at, deleted, data, make_timestamp($now)::TIMESTAMPTZ FROM changes
"""
_ON_CONFLICT = """
    ON CONFLICT (source_id, object_type, external_id) DO UPDATE SET
        updated_at = excluded.updated_at, deleted = excluded.deleted, data = excluded.data,
        synced_at = excluded.synced_at
"""
# DuckDB's upsert keeps the first of two rows with the same key in one statement: only the newest goes in.
_UPSERT = (_INSERT + "QUALIFY row_number() OVER (PARTITION BY external_id ORDER BY pos >> 32 DESC, updated_at DESC, "
           "pos DESC) = 1" + _ON_CONFLICT)
_UPSERT_ONCE = _INSERT + _ON_CONFLICT  # each object once in the changes: nothing to choose between

_EVENTS = """
    INSERT INTO events
    SELECT event_id::UUID, $source, $type || '.' || change, updated_at, make_timestamp($now)::TIMESTAMPTZ,
           profile_id::UUID, NULL,
           data, json_object('sync_run_id', $run::VARCHAR, 'object_type', $type, 'external_id', external_id,
                             'vendor_event_id', vendor_event_id),
           nextval('events_ingest_seq')
    FROM changes
"""

_SEEN = """
    INSERT INTO sync_seen
    SELECT $source, $type, $scan, i.external_id FROM incoming i
    JOIN records r ON r.source_id = $source AND r.object_type = $type AND r.external_id = i.external_id
    WHERE r.synced_at < make_timestamp($started)::TIMESTAMPTZ
"""


def _apply_records(con: duckdb.DuckDBPyConnection, target: Target, pages: list[Page], now: int) -> Counts:
    incoming = _incoming(pages, now)
    counts = Counts(read=incoming.num_rows)
    if not incoming.num_rows:
        return counts
    keys = {"source": target.source_id, "type": target.object_type}
    if any(p.push or any(r.updated_at_us is not None for r in p.records) for p in pages):
        # versions with the vendor's own time (events, webhooks, HubSpot, Shopify): one older than the stored
        # version is history already superseded (a webhook got there first), not a change to make now
        with registered(con, "pushed", incoming):
            incoming = con.sql(_NOT_OLDER, params=keys).to_arrow_table()
        if not incoming.num_rows:
            return counts
    with registered(con, "incoming", incoming):
        scan_id = pages[-1].scan_id
        once = len(set(incoming.column("external_id").to_pylist())) == incoming.num_rows
        # whether any is stored decides both below; none is, on a first read's usual page
        stored = (once or scan_id is not None) and con.execute(_ANY_STORED, keys).fetchall()[0][0] > 0
        if scan_id is not None and stored:  # before the upsert: records it rewrites are recent enough anyway
            con.execute(_SEEN, {**keys, "scan": scan_id, "started": scan_started_us(scan_id)})
        new = once and not stored
        if new:
            changes = _all_new(incoming)  # no stored row to compare with
        else:
            changes = con.sql(_CHANGES_ONCE if once else _CHANGES, params=keys).to_arrow_table()
        changes = _with_event_ids(changes)
    if not changes.num_rows:
        return counts
    changes = _as_json(_with_profiles(con, target, changes, now))
    with registered(con, "changes", changes):
        # all new (the scan of stored ids said so, in this transaction of the one writer): a plain insert, half
        # the upsert's cost; it still checks the key, and a conflict would be an error, not a lost row
        con.execute(_INSERT if new else _UPSERT_ONCE if once else _UPSERT, {**keys, "now": now})
        con.execute(_EVENTS, {**keys, "now": now, "run": target.run_id})
        count_pulled(con, target.source_id, changes.num_rows, now)  # the console's hourly counts
    kinds = changes.column("change").to_pylist()
    counts.created, counts.updated, counts.deleted = (kinds.count(k) for k in ("created", "updated", "deleted"))
    return counts


_MISSING = """
    SELECT r.external_id, r.data::VARCHAR AS data, true AS deleted,
           make_timestamp($now)::TIMESTAMPTZ AS updated_at, NULL::VARCHAR AS vendor_event_id, 0::BIGINT AS pos,
           'deleted' AS change
    FROM records r
    WHERE r.source_id = $source AND r.object_type = $type AND NOT r.deleted
      AND r.synced_at < make_timestamp($started)::TIMESTAMPTZ
      AND ($scope_key IS NULL OR json_extract_string(r.data, '$.' || $scope_key) >= $scope_min)
      AND r.external_id NOT IN (SELECT external_id FROM sync_seen
                                WHERE source_id = $source AND object_type = $type AND scan_id = $scan)
"""


def _all_new(incoming: pa.Table) -> pa.Table:
    """The changes of objects none of which is stored, each once (in `pos` order already): every one is new.
    Plain Python over the column, not pyarrow.compute: importing that cost a sync's start-up 25 ms."""
    change = pa.array(["deleted" if d else "created" for d in incoming.column("deleted").to_pylist()], pa.string())
    data = incoming.column("data")
    if data.null_count:  # a deletion of an object never stored: its event still needs a JSON document
        data = pa.array(["{}" if d is None else d for d in data.to_pylist()], pa.string())
    return incoming.set_column(1, "data", data).append_column("change", change)


_JSON = pa.json_(pa.string())


def _as_json(changes: pa.Table) -> pa.Table:
    """`changes` with its `data` typed as JSON for DuckDB (Arrow's JSON extension type over the same strings), so
    the inserts into JSON columns take the text as it is instead of parsing every document again to validate it:
    each one is orjson's output or a stored JSON value already (about a third of a first sync's insert time)."""
    index = changes.schema.get_field_index("data")
    data = changes.column(index)
    if data.type != pa.string():  # (a cast imports pyarrow.compute: 25 ms of start-up when never needed)
        data = data.cast(pa.string())
    typed = pa.chunked_array([pa.ExtensionArray.from_storage(_JSON, chunk) for chunk in data.chunks], _JSON)
    return changes.set_column(index, pa.field("data", _JSON), typed)


def _with_event_ids(changes: pa.Table) -> pa.Table:
    """UUIDv7 event ids made here, in the changes' order: ids from one process increase strictly (DuckDB's
    `uuidv7()` is random below the millisecond, which would shuffle the changes of one transaction)."""
    return changes.append_column("event_id", pa.array([new_id() for _ in range(changes.num_rows)], pa.string()))


def _with_profiles(con: duckdb.DuckDBPyConnection, target: Target, changes: pa.Table, now: int) -> pa.Table:
    """`changes` with each change's profile (its event's `profile_id`): the record's mapping resolves it,
    takes in its attributes and queues write-backs, in this transaction. Deletes keep the profile they had."""
    rules = target.profiles.object_rules(target.source_id, target.object_type) if target.profiles else None
    profiles: list[str | None] = [None] * changes.num_rows
    if rules is not None:
        ids = changes.column("external_id").to_pylist()
        deleted = changes.column("deleted").to_pylist()
        datas = changes.column("data").to_pylist()
        times = changes.column("updated_at").cast(pa.int64()).to_pylist()
        live = [i for i in range(changes.num_rows) if not deleted[i]]
        observations = [Observation(target.source_id, target.object_type, ids[i], orjson.loads(datas[i]), rules,
                                    times[i]) for i in live]
        outcome = apply_observations(con, target.profiles, observations, now)
        for i, profile in zip(live, outcome.profiles, strict=True):
            profiles[i] = profile
        gone = [i for i in range(changes.num_rows) if deleted[i]]
        if gone:
            known = record_profiles(con, target.source_id, target.object_type, [ids[i] for i in gone])
            for i in gone:
                profiles[i] = known.get(ids[i])
    return changes.append_column("profile_id", pa.array(profiles, pa.string()))


def _complete_scan(con: duckdb.DuckDBPyConnection, target: Target, scan_id: str | None, now: int,
                   scope: tuple[str, str] | None = None) -> int:
    """Mark deleted what the complete read `scan_id` did not meet (within `scope`); returns how many."""
    if scan_id is None:
        return 0
    keys = {"source": target.source_id, "type": target.object_type, "scan": scan_id}
    scope_key, scope_min = scope if scope else (None, None)
    missing = _with_event_ids(
        con.sql(_MISSING, params={**keys, "now": now, "started": scan_started_us(scan_id), "scope_key": scope_key,
                                  "scope_min": scope_min}).to_arrow_table())
    missing = _as_json(_with_profiles(con, target, missing, now))
    if missing.num_rows:
        with registered(con, "changes", missing):
            con.execute(_UPSERT_ONCE, {"source": target.source_id, "type": target.object_type, "now": now})
            con.execute(_EVENTS, {"source": target.source_id, "type": target.object_type, "now": now,
                                  "run": target.run_id})
            count_pulled(con, target.source_id, missing.num_rows, now)
    con.execute("DELETE FROM sync_seen WHERE source_id = $source AND object_type = $type AND scan_id = $scan", keys)
    return missing.num_rows


def _save_cursor(con: duckdb.DuckDBPyConnection, target: Target, cursor: object, now: int) -> None:
    """An UPDATE of the stream's row, and an INSERT only when there is none yet: DuckDB's upsert of this one row
    cost 2-4 ms of CPU, the UPDATE 0.6-0.9 ms (it runs with every transaction of a sync)."""
    keys = {"source": target.source_id, "type": target.object_type, "now": now,
            "cursor": None if cursor is None else orjson.dumps(cursor).decode()}
    updated = con.execute("""UPDATE sync_state SET cursor = $cursor, updated_at = make_timestamp($now)::TIMESTAMPTZ
                             WHERE source_id = $source AND object_type = $type""", keys).fetchone()[0]
    if not updated:
        con.execute("INSERT INTO sync_state VALUES ($source, $type, $cursor, make_timestamp($now)::TIMESTAMPTZ)", keys)


def _log_progress(con: duckdb.DuckDBPyConnection, target: Target, counts: Counts, pages: list[Page]) -> None:
    modes = [p.mode for p in pages if p.mode]
    notes = [p.note for p in pages if p.note]
    con.execute(
        """UPDATE sync_runs SET records_read = records_read + $read, records_changed = records_changed + $changed,
               records_created = records_created + $created, records_updated = records_updated + $updated,
               records_deleted = records_deleted + $deleted, requests = requests + $requests,
               mode = coalesce($mode, mode),
               notes = CASE WHEN $notes IS NULL THEN notes ELSE concat_ws('; ', notes, $notes) END
           WHERE run_id = $run::UUID AND object_type = $type""",
        {"read": counts.read, "changed": counts.changed, "created": counts.created, "updated": counts.updated,
         "deleted": counts.deleted, "requests": counts.requests, "mode": modes[-1] if modes else None,
         "notes": "; ".join(notes) if notes else None, "run": target.run_id, "type": target.object_type})


def load_cursor(con: duckdb.DuckDBPyConnection, source_id: str, object_type: str) -> object:
    row = con.execute("SELECT cursor::VARCHAR FROM sync_state WHERE source_id = ? AND object_type = ?",
                      [source_id, object_type]).fetchone()
    return None if row is None or row[0] is None else orjson.loads(row[0])
