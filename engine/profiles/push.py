"""Pushed events through their source's mapping, in the transaction that stores them (the store writer's
ingest): an `identify` with an email ties the session's profile to the email's profile (merging them when both
exist) and sets the attributes the mapping names. An event with no profile of its own gets the one its
identities resolve to."""

from __future__ import annotations

import duckdb
import orjson

from engine.profiles.observe import Observation, apply_observations
from engine.profiles.registry import Registry

# a spool record's event row: event_id, source_id, event_type, occurred_us, received_us, profile_id, session_id,
# properties, context


def map_events(registry: Registry, con: duckdb.DuckDBPyConnection, rows: list[list], now_us: int) -> int:
    """Map the events of `rows` whose source and type a mapping names; returns how many were mapped."""
    observations, event_ids = [], []
    for row in rows:
        rules = registry.event_rules(row[1], row[2])
        if rules is None:
            continue
        data = {"properties": _object(row[7]), "context": _object(row[8])}
        observations.append(Observation(row[1], row[2], None, data, rules, row[3], row[5]))
        event_ids.append(row[0])
    if not observations:
        return 0
    outcome = apply_observations(con, registry, observations, now_us)
    found = [(e, p) for e, o, p in zip(event_ids, observations, outcome.profiles, strict=True)
             if o.profile_id is None and p is not None]
    if found:
        con.execute("""UPDATE events SET profile_id = f.p
                       FROM (SELECT unnest($e::UUID[]) AS e, unnest($p::UUID[]) AS p) f WHERE events.event_id = f.e""",
                    {"e": [e for e, _ in found], "p": [p for _, p in found]})
    return len(observations)


def _object(text: str) -> dict:
    value = orjson.loads(text)
    return value if isinstance(value, dict) else {}
