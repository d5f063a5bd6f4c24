"""Hourly counts of events and refusals per source, kept in the transaction that stores the rows they count.

The console and `GET /status` read these instead of scanning `events` and `rejections`, so a page costs the same on
a store of a thousand events as on one of a billion. Hours are UTC, whatever the connection's time zone: an hour is
`received_at` cut to a multiple of 3,600 s since the epoch. Schema version 8 creates the tables and fills them from
what a store held before.

A transaction's rows are counted in Python (they are at hand, and a transaction's events fall in one or two hours of
a few sources) and each (source, hour) is added with an UPDATE by its key, or an INSERT when it has no row yet: an
aggregate over the batch in SQL, or DuckDB's upsert, cost several times more (up to ~10 ms a transaction).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import orjson

HOUR_US = 3_600_000_000


def hour_of(column: str) -> str:
    """SQL for the UTC hour (TIMESTAMPTZ) a TIMESTAMPTZ expression falls in."""
    return f"to_timestamp((epoch_us({column}) // {HOUR_US}) * 3600)"


_ADD_EVENTS = """UPDATE event_hours SET events = events + $n, last_received_at = greatest(last_received_at, $last),
                 warned = warned + $warned WHERE source_id = $source AND hour = $hour"""
_NEW_EVENTS = "INSERT INTO event_hours VALUES ($source, $hour, $n, $last, $warned)"
_ADD_REJECTIONS = """UPDATE rejection_hours SET requests = requests + $n,
                     last_received_at = greatest(last_received_at, $last)
                     WHERE source_id = $source AND hour = $hour AND reason = $reason"""
_NEW_REJECTIONS = "INSERT INTO rejection_hours VALUES ($source, $hour, $reason, $n, $last)"


def count_events(con: duckdb.DuckDBPyConnection, rows: list[list]) -> None:
    """Add event rows as the writer spools them (source_id at 1, received_at in microseconds at 4, context as JSON
    text at 8) to `event_hours`. An event stored with `context.schema_violations` (a warn-mode schema) counts as
    warned."""
    counts: dict[tuple[str, int], list[int]] = {}
    for row in rows:
        received = row[4]
        c = counts.setdefault((row[1], received - received % HOUR_US), [0, received, 0])
        c[0] += 1
        c[1] = max(c[1], received)
        c[2] += _warned(row[8])
    for (source, hour), (n, last, warned) in counts.items():
        _add(con, _ADD_EVENTS, _NEW_EVENTS, {"source": source, "hour": _time(hour), "n": n, "last": _time(last),
                                             "warned": warned})


def count_rejections(con: duckdb.DuckDBPyConnection, rows: list[list]) -> None:
    """Add rejection rows as the writer spools them (source_id at 1, received_at in microseconds at 2, reason at 6,
    the requests they stand for at 10) to `rejection_hours`; rows naming no source are not counted."""
    counts: dict[tuple[str, int, str], list[int]] = {}
    for row in rows:
        if row[1] is None:
            continue
        received = row[2]
        c = counts.setdefault((row[1], received - received % HOUR_US, row[6]), [0, received])
        c[0] += row[10] if len(row) > 10 else 1
        c[1] = max(c[1], received)
    for (source, hour, reason), (n, last) in counts.items():
        _add(con, _ADD_REJECTIONS, _NEW_REJECTIONS, {"source": source, "hour": _time(hour), "reason": reason,
                                                     "n": n, "last": _time(last)})


def count_pulled(con: duckdb.DuckDBPyConnection, source_id: str, events: int, now_us: int) -> None:
    """Add a sync's `events` changes of one object type, received at `now_us`, to `event_hours`."""
    _add(con, _ADD_EVENTS, _NEW_EVENTS, {"source": source_id, "hour": _time(now_us - now_us % HOUR_US),
                                         "n": events, "last": _time(now_us), "warned": 0})


def _add(con: duckdb.DuckDBPyConnection, update: str, insert: str, values: dict) -> None:
    if con.execute(update, values).fetchone()[0] == 0:
        con.execute(insert, values)


def _warned(context: str | None) -> int:
    if not context or '"schema_violations"' not in context:
        return 0
    try:
        parsed = orjson.loads(context)
    except orjson.JSONDecodeError:
        return 0
    return int(isinstance(parsed, dict) and "schema_violations" in parsed)


def _time(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)
