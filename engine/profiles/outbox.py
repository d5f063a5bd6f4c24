"""The two-way outbox (`writebacks`): write-backs are stored in the transaction of the change that caused them,
claimed by a sender, and finished with each attempt's outcome recorded.

A record has at most one `pending` write-back: a later change to it is merged into that one (a newer value of a
field replaces the older). One being sent (`sending`) is left alone; a change meanwhile makes a new one. A
process that died while sending leaves `sending` rows; `release_unsent` puts them back to `pending` at start
(the vendors' writes are idempotent by value, and Stripe's carry an Idempotency-Key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import duckdb
import orjson

from connectors.kit.ids import new_id
from engine.profiles.tables import RecordRef

# superseded: a failed attempt's fields were folded into a newer write-back of the same record
STATUSES = ("pending", "sending", "sent", "rejected", "failed", "superseded")


@dataclass(slots=True)
class Claimed:
    writeback_id: str
    source_id: str
    object_type: str
    external_id: str
    changes: dict[str, Any]
    attempts: int  # before this one


def enqueue(con: duckdb.DuckDBPyConnection, wanted: dict[RecordRef, dict[str, tuple[str, Any]]],
            profiles: dict[RecordRef, str], now_us: int) -> int:
    """`wanted`: record -> path -> (attribute, value). Returns how many write-backs were created."""
    if not wanted:
        return 0
    pending = _pending(con, list(wanted))
    created = 0
    for ref, fields in wanted.items():
        changes = {path: value for path, (_, value) in fields.items()}
        attributes = {path: attribute for path, (attribute, _) in fields.items()}
        if ref in pending:
            wid, old_changes, old_attributes = pending[ref]
            con.execute("""UPDATE writebacks SET changes = $c, attributes = $a, profile_id = $p::UUID,
                           updated_at = make_timestamp($now)::TIMESTAMPTZ WHERE writeback_id = $w::UUID""",
                        {"c": _dumps({**old_changes, **changes}), "a": _dumps({**old_attributes, **attributes}),
                         "p": profiles.get(ref), "now": now_us, "w": wid})
            continue
        created += 1
        con.execute(
            """INSERT INTO writebacks VALUES ($w::UUID, $s, $t, $e, $p::UUID, $c, $a, 'pending', 0,
                   make_timestamp($now)::TIMESTAMPTZ, NULL, NULL, make_timestamp($now)::TIMESTAMPTZ,
                   make_timestamp($now)::TIMESTAMPTZ, NULL)""",
            {"w": new_id(), "s": ref[0], "t": ref[1], "e": ref[2], "p": profiles.get(ref), "c": _dumps(changes),
             "a": _dumps(attributes), "now": now_us})
    return created


def _pending(con: duckdb.DuckDBPyConnection, refs: list[RecordRef]) -> dict[RecordRef, tuple[str, dict, dict]]:
    """Each record's pending write-back: (its id, changes, attributes)."""
    rows = con.execute(
        """SELECT w.writeback_id::VARCHAR, w.source_id, w.object_type, w.external_id, w.changes::VARCHAR,
                  w.attributes::VARCHAR
           FROM (SELECT unnest($s::VARCHAR[]) AS s, unnest($t::VARCHAR[]) AS t, unnest($e::VARCHAR[]) AS e) q
           JOIN writebacks w ON w.source_id = q.s AND w.object_type = q.t AND w.external_id = q.e
           WHERE w.status = 'pending'""",
        {"s": [r[0] for r in refs], "t": [r[1] for r in refs], "e": [r[2] for r in refs]}).fetchall()
    return {(r[1], r[2], r[3]): (r[0], orjson.loads(r[4]), orjson.loads(r[5])) for r in rows}


def cancel(con: duckdb.DuckDBPyConnection, paths: dict[RecordRef, list[str]], now_us: int) -> None:
    """Take each record's `paths` out of its pending write-back: the remote changed them since (and won)."""
    if not paths:
        return
    for ref, (wid, old_changes, old_attributes) in _pending(con, list(paths)).items():
        gone = paths[ref]
        changes = {k: v for k, v in old_changes.items() if k not in gone}
        attributes = {k: v for k, v in old_attributes.items() if k not in gone}
        if changes:
            con.execute("""UPDATE writebacks SET changes = ?, attributes = ?,
                           updated_at = make_timestamp(?)::TIMESTAMPTZ WHERE writeback_id = ?::UUID""",
                        [_dumps(changes), _dumps(attributes), now_us, wid])
        else:
            con.execute("DELETE FROM writebacks WHERE writeback_id = ?::UUID", [wid])


def claim(con: duckdb.DuckDBPyConnection, source_ids: list[str], now_us: int, limit: int = 500) -> list[Claimed]:
    """Due pending write-backs of `source_ids`, oldest first, marked `sending`."""
    if not source_ids:
        return []
    rows = con.execute(
        """UPDATE writebacks SET status = 'sending', updated_at = make_timestamp($now)::TIMESTAMPTZ
           WHERE writeback_id IN (
               SELECT writeback_id FROM writebacks
               WHERE status = 'pending' AND source_id IN (SELECT unnest($s::VARCHAR[]))
                 AND next_attempt_at <= make_timestamp($now)::TIMESTAMPTZ
               ORDER BY created_at, writeback_id LIMIT $limit)
           RETURNING writeback_id::VARCHAR, source_id, object_type, external_id, changes::VARCHAR, attempts""",
        {"s": source_ids, "now": now_us, "limit": limit}).fetchall()
    claimed = [Claimed(r[0], r[1], r[2], r[3], orjson.loads(r[4]), r[5]) for r in rows]
    return sorted(claimed, key=lambda c: c.writeback_id)


def finish(con: duckdb.DuckDBPyConnection, claimed: list[Claimed], outcomes: list, now_us: int, *,
           max_attempts: int, backoff: timedelta, max_backoff: timedelta) -> dict[str, int]:
    """Record each attempt and move each write-back on: sent, rejected, back to pending later, or failed once
    its attempts are spent. Returns counts by resulting status."""
    counts = {"sent": 0, "rejected": 0, "pending": 0, "failed": 0, "superseded": 0}
    for item, outcome in zip(claimed, outcomes, strict=True):
        attempt = item.attempts + 1
        con.execute("INSERT INTO writeback_attempts VALUES (?::UUID, ?, make_timestamp(?)::TIMESTAMPTZ, ?, ?, ?, ?)",
                    [item.writeback_id, attempt, now_us, outcome.status, outcome.http_status, outcome.error,
                     _dumps(item.changes)])
        if outcome.status == "sent":
            status, next_us = "sent", now_us
            _landed(con, item, now_us)
        elif outcome.status == "rejected":
            status, next_us = "rejected", now_us
        elif attempt >= max_attempts:
            status, next_us = "failed", now_us
        else:
            wait = min(backoff * (2 ** (attempt - 1)), max_backoff)
            status, next_us = "pending", now_us + int(wait.total_seconds() * 1_000_000)
            if _fold_into_newer(con, item, now_us):
                status = "superseded"
        counts[status] = counts.get(status, 0) + 1
        con.execute(
            """UPDATE writebacks SET status = $st, attempts = $n, next_attempt_at = make_timestamp($next)::TIMESTAMPTZ,
                   last_error = $err, last_http_status = $http, updated_at = make_timestamp($now)::TIMESTAMPTZ,
                   finished_at = CASE WHEN $st IN ('sent', 'rejected', 'failed', 'superseded')
                                      THEN make_timestamp($now)::TIMESTAMPTZ END
               WHERE writeback_id = $w::UUID""",
            {"st": status, "n": attempt, "next": next_us, "err": outcome.error, "http": outcome.http_status,
             "now": now_us, "w": item.writeback_id})
    return counts


def _landed(con: duckdb.DuckDBPyConnection, item: Claimed, now_us: int) -> None:
    """What was written is now the remote value of each field: read back, it is inlet's own echo."""
    con.executemany(
        """UPDATE field_sync SET remote_value = ?::JSON, updated_at = make_timestamp(?)::TIMESTAMPTZ
           WHERE source_id = ? AND object_type = ? AND external_id = ? AND path = ?""",
        [[_dumps(value), now_us, item.source_id, item.object_type, item.external_id, path]
         for path, value in item.changes.items()])


def _fold_into_newer(con: duckdb.DuckDBPyConnection, item: Claimed, now_us: int) -> bool:
    """A write-back to retry while a newer one for the same record waits: its fields go into the newer one
    (whose own values of the same fields are newer and stay), so a stale value is never sent after a new one."""
    row = con.execute("""SELECT writeback_id::VARCHAR, changes::VARCHAR, attributes::VARCHAR FROM writebacks
                         WHERE source_id = ? AND object_type = ? AND external_id = ? AND status = 'pending'
                           AND writeback_id <> ?::UUID""",
                      [item.source_id, item.object_type, item.external_id, item.writeback_id]).fetchone()
    if row is None:
        return False
    old_attributes = orjson.loads(con.execute("SELECT attributes::VARCHAR FROM writebacks WHERE writeback_id = ?::UUID",
                                              [item.writeback_id]).fetchone()[0])
    changes = {**item.changes, **orjson.loads(row[1])}
    attributes = {**old_attributes, **orjson.loads(row[2])}
    con.execute("""UPDATE writebacks SET changes = ?, attributes = ?, next_attempt_at = make_timestamp(?)::TIMESTAMPTZ
                   WHERE writeback_id = ?::UUID""", [_dumps(changes), _dumps(attributes), now_us, row[0]])
    return True


def release_unsent(con: duckdb.DuckDBPyConnection) -> int:
    """`sending` rows left by a process that died mid-send go back to `pending`."""
    rows = con.execute("UPDATE writebacks SET status = 'pending' WHERE status = 'sending' RETURNING 1").fetchall()
    return len(rows)


def due(con: duckdb.DuckDBPyConnection, source_ids: list[str], now_us: int) -> int:
    if not source_ids:
        return 0
    return con.execute("""SELECT count(*) FROM writebacks WHERE status = 'pending'
                          AND source_id IN (SELECT unnest(?::VARCHAR[]))
                          AND next_attempt_at <= make_timestamp(?)::TIMESTAMPTZ""", [source_ids, now_us]).fetchone()[0]


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
