"""`inlet mappings preview` and `inlet mappings apply`: a source's stored records through its mapping.

Preview runs the real mapping code (identities, merges, conflict policies, reconciling write-backs) in a store
transaction that is rolled back, one record at a time, so it shows exactly what a sync bringing those records
would do and changes nothing. Apply maps every stored record of the object and commits: the way to bring
records stored before their mapping existed (a sync maps only what changed) into profiles.
"""

from __future__ import annotations

import time
from typing import Any

import duckdb
import orjson

from engine.profiles.observe import Observation, apply_observations
from engine.profiles.registry import Registry
from engine.profiles.resolve import record_key
from mappings import MappingValueError

APPLY_BATCH = 1000


class MappingsRefused(Exception):
    """The source has no mapping for the object, or is unknown."""


def rules_for(registry: Registry, source_id: str, object_type: str):
    mapping = registry.mappings.get(source_id)
    if mapping is None:
        raise MappingsRefused(f"source {source_id!r} has no mapping (add `mapping:` to it in the config)")
    rules = mapping.for_object(object_type)
    if rules is None:
        known = ", ".join(sorted(mapping.objects)) or "none"
        raise MappingsRefused(f"the mapping of {source_id!r} ({mapping.file}) has no rules for {object_type!r}; "
                              f"it maps: {known}")
    return rules


def _records(con: duckdb.DuckDBPyConnection, source_id: str, object_type: str, limit: int | None,
             after: str | None = None) -> list[tuple[str, dict, int]]:
    rows = con.execute(
        """SELECT external_id, data::VARCHAR, epoch_us(updated_at) FROM records
           WHERE source_id = $s AND object_type = $t AND NOT deleted AND ($after IS NULL OR external_id > $after)
           ORDER BY """ + ("updated_at DESC, external_id" if after is None and limit else "external_id") +
        " LIMIT $limit",
        {"s": source_id, "t": object_type, "after": after, "limit": limit or APPLY_BATCH}).fetchall()
    return [(r[0], orjson.loads(r[1]), r[2]) for r in rows]


def preview(con: duckdb.DuckDBPyConnection, registry: Registry, source_id: str, object_type: str,
            limit: int) -> list[dict[str, Any]]:
    """What mapping each of the `limit` most recently changed records does; the caller rolls back."""
    rules = rules_for(registry, source_id, object_type)
    out = []
    base = time.time_ns() // 1000
    for n, (external_id, data, updated_us) in enumerate(_records(con, source_id, object_type, limit)):
        now = base + n  # the rows this record's mapping touches carry this time
        # read whole (fetchall): the mapping below registers its rows, which DuckDB refuses beside an unfinished result
        known = con.execute("SELECT profile_id::VARCHAR FROM identities WHERE kind = ? AND identity = ?",
                            list(record_key(source_id, object_type, external_id))).fetchall() or None
        item: dict[str, Any] = {"external_id": external_id, "identities": rules.identities_of(data),
                                "attributes": {}, "errors": []}
        for rule in rules.fields:
            if not rule.reads:
                continue
            present, raw = rule.remote(data)
            if present:
                try:
                    item["attributes"][rule.attribute] = rule.to_local(raw, data)
                except MappingValueError as exc:
                    item["errors"].append(str(exc))
        outcome = apply_observations(con, registry, [Observation(source_id, object_type, external_id, data, rules,
                                                                 updated_us)], now)
        item["profile_id"] = outcome.profiles[0]
        item["new_profile"] = known is None and outcome.profiles[0] is not None and not con.execute(
            "SELECT count(*) FROM profiles WHERE profile_id = ?::UUID AND created_at < make_timestamp(?)::TIMESTAMPTZ",
            [outcome.profiles[0], now]).fetchone()[0]
        item["merges"] = outcome.merges
        item["profile_changes"] = {name: orjson.loads(value) for name, value in con.execute(
            """SELECT name, value::VARCHAR FROM profile_attributes
               WHERE profile_id = ?::UUID AND updated_at = make_timestamp(?)::TIMESTAMPTZ ORDER BY name""",
            [outcome.profiles[0], now]).fetchall()} if outcome.profiles[0] else {}
        item["writebacks"] = [{"source_id": r[0], "object_type": r[1], "external_id": r[2],
                               "changes": orjson.loads(r[3])} for r in con.execute(
            """SELECT source_id, object_type, external_id, changes::VARCHAR FROM writebacks
               WHERE updated_at = make_timestamp(?)::TIMESTAMPTZ ORDER BY source_id, external_id""", [now]).fetchall()]
        out.append(item)
    return out


def apply_all(con: duckdb.DuckDBPyConnection, registry: Registry, source_id: str, object_type: str) -> dict[str, int]:
    """Map every stored record of the object (in the caller's transaction)."""
    rules = rules_for(registry, source_id, object_type)
    totals = {"records": 0, "profiles": 0, "attributes_changed": 0, "writebacks": 0, "merges": 0}
    after = None
    while batch := _records(con, source_id, object_type, None, after):
        observations = [Observation(source_id, object_type, e, d, rules, u) for e, d, u in batch]
        outcome = apply_observations(con, registry, observations, time.time_ns() // 1000)
        totals["records"] += len(batch)
        totals["profiles"] += sum(p is not None for p in outcome.profiles)
        totals["attributes_changed"] += outcome.changed_attributes
        totals["writebacks"] += outcome.writebacks
        totals["merges"] += outcome.merges
        after = batch[-1][0]
    return totals
