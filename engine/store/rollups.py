"""Hourly counts of events and refusals per source, kept in the transaction that stores the rows they count.

The console and `GET /status` read these instead of scanning `events` and `rejections`, so a page costs the same on
a store of a thousand events as on one of a billion. Hours are UTC, whatever the connection's time zone: an hour is
`received_at` cut to a multiple of 3,600 s since the epoch. Schema version 8 creates the tables and fills them from
what a store held before.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from engine.store.arrow import registered


def hour_of(column: str) -> str:
    """SQL for the UTC hour (TIMESTAMPTZ) a TIMESTAMPTZ expression falls in."""
    return f"to_timestamp((epoch_us({column}) // 3600000000) * 3600)"


# Pushed events may carry the violations of a warn-mode schema (`context.schema_violations`); they are counted
# here, as `inlet status` shows them (the rejections count those refused).
_WARNED = "count(*) FILTER (WHERE contains(context, '\"schema_violations\"') AND " \
          "json_exists(context, '$.schema_violations'))"

_ADD_EVENTS = """
    ON CONFLICT (source_id, hour) DO UPDATE SET
        events = event_hours.events + excluded.events,
        last_received_at = greatest(event_hours.last_received_at, excluded.last_received_at),
        warned = event_hours.warned + excluded.warned
"""

EVENTS_FROM = f"""
    INSERT INTO event_hours
    SELECT source_id, {hour_of("received_at")}, count(*), max(received_at), {_WARNED}
    FROM {{relation}} GROUP BY ALL
""" + _ADD_EVENTS

REJECTIONS_FROM = f"""
    INSERT INTO rejection_hours
    SELECT source_id, {hour_of("received_at")}, reason, sum(count), max(received_at)
    FROM {{relation}} WHERE source_id IS NOT NULL GROUP BY ALL
    ON CONFLICT (source_id, hour, reason) DO UPDATE SET
        requests = rejection_hours.requests + excluded.requests,
        last_received_at = greatest(rejection_hours.last_received_at, excluded.last_received_at)
"""

# A sync's changes of one object type, all received at `$now` (microseconds), as `engine/sync/apply.py` stores them.
PULLED = f"""
    INSERT INTO event_hours
    SELECT $source, {hour_of("make_timestamp($now)::TIMESTAMPTZ")}, $events, make_timestamp($now)::TIMESTAMPTZ, 0
""" + _ADD_EVENTS


def count_events(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    """Add event rows (columns as in `events`: at least source_id, received_at, context) to `event_hours`."""
    with registered(con, "rollup_rows", rows):
        con.execute(EVENTS_FROM.format(relation="rollup_rows"))


def count_rejections(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    """Add rejection rows (at least source_id, received_at, reason, count) to `rejection_hours`."""
    with registered(con, "rollup_rows", rows):
        con.execute(REJECTIONS_FROM.format(relation="rollup_rows"))


def count_pulled(con: duckdb.DuckDBPyConnection, source_id: str, events: int, now_us: int) -> None:
    """Add a sync's `events` changes of one object type, received at `now_us`, to `event_hours`."""
    con.execute(PULLED, {"source": source_id, "events": events, "now": now_us})
