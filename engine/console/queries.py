"""What the console reads from the store. Each function takes a cursor of the server's connection (run it in a
thread) and reads only what its page shows: counts come from the hourly rollups (engine/store/rollups.py), recent
rows from a time window the rollups say holds them (DuckDB skips the row groups outside it by their min/max),
profiles and identities by their keys.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import duckdb

from mappings.identities import normalise_identity

CHART_HOURS = 7 * 24
RECENT_EVENTS = 50
LINKED_RECORDS = 100  # of a profile, the most recently changed
IDENTITIES = 500  # of a profile (a customer's every order is one): its own first, then its records
_PHONE = re.compile(r"\+?[0-9 ().-]+")
SLACK = dt.timedelta(seconds=5)  # events committed out of arrival order: the debugger looks back this far again
# No event of a profile was received long before the profile was made: it is made with its first event or record,
# and a merge keeps the older profile. The timeline reads events from its creation (less this margin) on.
BEFORE_PROFILE = dt.timedelta(hours=1)

Row = dict


def _rows(cur: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> list[Row]:
    result = cur.execute(sql, params or [])
    names = [d[0] for d in result.description]
    return [dict(zip(names, values, strict=True)) for values in result.fetchall()]


def utc_hour(moment: dt.datetime) -> dt.datetime:
    """The start of the UTC hour `moment` falls in."""
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


# -- the overview --------------------------------------------------------------------------------------------

def hourly_volumes(cur, now: dt.datetime, source_id: str | None = None) -> dict[str, dict[dt.datetime, int]]:
    """source id -> {UTC hour: events} over the last CHART_HOURS hours (hours without events absent)."""
    start = utc_hour(now) - dt.timedelta(hours=CHART_HOURS - 1)
    sql = "SELECT source_id, hour, events FROM event_hours WHERE hour >= ?"
    params: list = [start]
    if source_id is not None:
        sql += " AND source_id = ?"
        params.append(source_id)
    out: dict[str, dict[dt.datetime, int]] = {}
    for source, hour, events in cur.execute(sql, params).fetchall():
        out.setdefault(source, {})[hour.astimezone(dt.UTC)] = int(events)
    return out


def totals(cur, now: dt.datetime) -> Row:
    """Events today (UTC), live profiles, merges, pending write-backs."""
    midnight = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    row = cur.execute("""
        SELECT (SELECT coalesce(sum(events), 0) FROM event_hours WHERE hour >= ?),
               (SELECT count(*) FROM profiles),
               (SELECT count(*) FROM profile_merges),
               (SELECT count(*) FROM writebacks WHERE status IN ('pending', 'sending'))""", [midnight]).fetchone()
    return {"events_today": int(row[0]), "profiles": int(row[1]), "merges": int(row[2]),
            "pending_writebacks": int(row[3])}


# -- a source --------------------------------------------------------------------------------------------------

def window_start(cur, source_id: str, newest: int) -> dt.datetime | None:
    """The start of the latest hour from which on the source has at least `newest` events (its first hour if it
    has fewer); None when it has none. Reading events from there finds the newest ones without a full scan."""
    row = cur.execute("""
        SELECT min(hour) FILTER (WHERE later - events < ?), min(hour)
        FROM (SELECT hour, events, sum(events) OVER (ORDER BY hour DESC) AS later
              FROM event_hours WHERE source_id = ?)""", [newest, source_id]).fetchone()
    start = row[0] or row[1]
    return start.astimezone(dt.UTC) if start is not None else None


def recent_events(cur, source_id: str, since: dt.datetime | None, limit: int = RECENT_EVENTS) -> list[Row]:
    """The source's newest events (newest first), received at `since` or later when given."""
    start = window_start(cur, source_id, limit)
    if start is None:
        return []
    if since is not None:
        start = max(start, since.astimezone(dt.UTC) - SLACK)
    return _rows(cur, """
        SELECT event_id::VARCHAR AS event_id, event_type, occurred_at, received_at, profile_id::VARCHAR AS profile_id,
               session_id, properties::VARCHAR AS properties, context::VARCHAR AS context
        FROM events WHERE received_at >= ? AND source_id = ?
        ORDER BY received_at DESC, event_id DESC LIMIT ?""", [start, source_id, limit])


def rejection_groups(cur, source_id: str, now: dt.datetime, days: int = 7) -> list[Row]:
    """The source's refusals of the last `days` days by reason: requests, last time, and the newest as example."""
    since = now.astimezone(dt.UTC) - dt.timedelta(days=days)
    return _rows(cur, """
        SELECT reason, sum(count)::BIGINT AS requests, max(received_at) AS last_at,
               arg_max(status, received_at) AS status, arg_max(method || ' ' || path, received_at) AS request,
               arg_max(excerpt, received_at) AS excerpt, arg_max(context::VARCHAR, received_at) AS context
        FROM rejections WHERE received_at >= ? AND source_id = ?
        GROUP BY reason ORDER BY requests DESC, reason""", [since, source_id])


def sync_history(cur, source_id: str, limit: int = 30) -> list[Row]:
    return _rows(cur, """
        SELECT run_id::VARCHAR AS run_id, object_type, started_at, finished_at, status, mode, records_read,
               records_changed, records_created, records_updated, records_deleted, requests, rate_limited, error,
               notes, epoch(finished_at - started_at) AS seconds
        FROM sync_runs WHERE source_id = ? ORDER BY started_at DESC LIMIT ?""", [source_id, limit])


def cursors(cur, source_id: str) -> list[Row]:
    return _rows(cur, """SELECT object_type, cursor::VARCHAR AS cursor, updated_at FROM sync_state
                         WHERE source_id = ? ORDER BY object_type""", [source_id])


def record_counts(cur, source_id: str) -> list[Row]:
    return _rows(cur, """SELECT object_type, count(*) FILTER (NOT deleted) AS live, count(*) FILTER (deleted) AS deleted
                         FROM records WHERE source_id = ? GROUP BY object_type ORDER BY object_type""", [source_id])


# -- profiles --------------------------------------------------------------------------------------------------

def as_uuid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        return None


def live_profile(cur, profile_id: str) -> tuple[str | None, bool]:
    """(the live profile this id is or was merged into, whether it was merged); (None, False) if unknown."""
    row = cur.execute("SELECT merged_into::VARCHAR FROM profile_merges WHERE profile_id = ?::UUID",
                      [profile_id]).fetchone()
    if row is not None:
        return row[0], True
    row = cur.execute("SELECT profile_id::VARCHAR FROM profiles WHERE profile_id = ?::UUID", [profile_id]).fetchone()
    return (row[0], False) if row else (None, False)


def find_profiles(cur, q: str, identity_kinds: list[str], record_types: list[tuple[str, str]]) -> list[Row]:
    """Profiles `q` names: a profile id (or a merged one), an identity of any of `identity_kinds` (email, phone, user
    id, a vendor's id...: `q` normalised as each kind is), a session id, or a vendor record id of one of
    `record_types` (source id, object type). Each is a lookup by key but the phone: the shipped mappings keep phones
    as the attribute `phone` (a household shares one, so it is no identity), compared digit for digit whatever its
    spacing and punctuation (one pass over the phone attributes: ~40 ms for 200,000)."""
    q = q.strip()
    found: dict[str, list[str]] = {}

    def add(profile_id: str | None, how: str) -> None:
        if profile_id is not None:
            live, _ = live_profile(cur, profile_id)
            if live is not None and how not in found.setdefault(live, []):
                found[live].append(how)

    if (pid := as_uuid(q)) is not None:
        add(pid, "profile id")
    for kind in identity_kinds:
        value = normalise_identity(kind, q)
        if value is None:
            continue
        for (profile_id,) in cur.execute("SELECT profile_id::VARCHAR FROM identities WHERE kind = ? AND identity = ?",
                                         [kind, value]).fetchall():
            add(profile_id, f"{kind} {value}")
    if (digits := phone_digits(q)) is not None:
        for (profile_id,) in cur.execute("""
                SELECT DISTINCT profile_id::VARCHAR FROM profile_attributes
                WHERE name = 'phone' AND json_type(value) = 'VARCHAR'
                  AND regexp_replace(value->>'$', '[^0-9]', '', 'g') = ? LIMIT 50""", [digits]).fetchall():
            add(profile_id, f"phone {q}")
    for (profile_id,) in cur.execute("SELECT profile_id::VARCHAR FROM sessions WHERE session_id = ?", [q]).fetchall():
        add(profile_id, f"session {q}")
    for source_id, object_type in record_types:
        # Shopify's ids are GraphQL global ids; its admin shows the number at their end
        for external_id in (q, f"gid://shopify/{object_type.capitalize()}/{q}") if q.isdigit() else (q,):
            identity = f"{source_id}/{object_type}/{external_id}"
            for (profile_id,) in cur.execute("SELECT profile_id::VARCHAR FROM identities WHERE kind = 'record' AND "
                                             "identity = ?", [identity]).fetchall():
                add(profile_id, f"{source_id} {object_type} {external_id}")
    if not found:
        return []
    summaries = {r["profile_id"]: r for r in _rows(cur, """
        SELECT profile_id::VARCHAR AS profile_id, attributes::VARCHAR AS attributes, created_at, updated_at
        FROM profiles WHERE profile_id IN (SELECT unnest(?::UUID[]))""", [list(found)])}
    return [{**summaries[p], "matched": how} for p, how in found.items() if p in summaries]


def phone_digits(q: str) -> str | None:
    """The digits of `q` when it reads as a phone number (7 to 15 digits, with only spaces, dashes, dots, brackets
    and a leading + besides), else None."""
    if not _PHONE.fullmatch(q):
        return None
    digits = re.sub(r"\D", "", q)
    return digits if 7 <= len(digits) <= 15 else None


def record_types(cur) -> list[tuple[str, str]]:
    """(source id, object type) of every kind of record a sync has read (those with a cursor)."""
    return [tuple(r) for r in cur.execute("SELECT DISTINCT source_id, object_type FROM sync_state "
                                          "ORDER BY ALL").fetchall()]


def profile(cur, profile_id: str, *, events: int = 100) -> Row | None:
    """Everything the profile page shows of a live profile, or None if there is none."""
    head = _rows(cur, """SELECT profile_id::VARCHAR AS profile_id, attributes::VARCHAR AS attributes, created_at,
                                updated_at FROM profiles WHERE profile_id = ?::UUID""", [profile_id])
    if not head:
        return None
    merged = _rows(cur, """SELECT profile_id::VARCHAR AS profile_id, merged_at, reason FROM profile_merges
                           WHERE merged_into = ?::UUID ORDER BY merged_at""", [profile_id])
    ids = [profile_id, *(m["profile_id"] for m in merged)]
    identities = _rows(cur, """SELECT kind, identity, source_id, created_at FROM identities
                               WHERE profile_id = ?::UUID ORDER BY kind = 'record', kind, created_at LIMIT ?""",
                       [profile_id, IDENTITIES])
    attributes = _rows(cur, """SELECT name, value::VARCHAR AS value, source_id, object_type, external_id, observed_at,
                                      updated_at FROM profile_attributes WHERE profile_id = ?::UUID ORDER BY name""",
                       [profile_id])
    # (source id, object type, external id) of each record identity, split once
    split = (i["identity"].split("/", 2) for i in identities if i["kind"] == "record")
    record_keys = [key for key in split if len(key) == 3]
    records = _rows(cur, """
        SELECT r.source_id, r.object_type, r.external_id, r.updated_at, r.deleted, r.synced_at,
               r.data::VARCHAR AS data
        FROM (SELECT unnest(?::VARCHAR[]) AS s, unnest(?::VARCHAR[]) AS t, unnest(?::VARCHAR[]) AS x) k
        JOIN records r ON r.source_id = k.s AND r.object_type = k.t AND r.external_id = k.x
        ORDER BY r.updated_at DESC LIMIT ?""",
                    [*([k[n] for k in record_keys] for n in range(3)), LINKED_RECORDS])
    timeline = _rows(cur, """
        SELECT event_id::VARCHAR AS event_id, source_id, event_type, occurred_at, received_at, session_id,
               profile_id::VARCHAR AS stored_profile_id, properties::VARCHAR AS properties
        FROM events WHERE received_at >= ? AND profile_id IN (SELECT unnest(?::UUID[]))
        ORDER BY received_at DESC, event_id DESC LIMIT ?""", [head[0]["created_at"] - BEFORE_PROFILE, ids, events])
    writebacks = _rows(cur, """
        SELECT writeback_id::VARCHAR AS writeback_id, source_id, object_type, external_id, changes::VARCHAR AS changes,
               status, attempts, last_error, last_http_status, created_at, finished_at
        FROM writebacks WHERE profile_id IN (SELECT unnest(?::UUID[])) ORDER BY created_at DESC LIMIT 50""", [ids])
    return {**head[0], "merged": merged, "identities": identities, "attributes": attributes, "records": records,
            "events": timeline, "writebacks": writebacks}
