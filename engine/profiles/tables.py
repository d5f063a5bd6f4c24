"""The profile tables as the profile code reads and writes them, inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from engine.profiles.resolve import Key, record_key
from engine.store.arrow import registered


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _load(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _with_rows(con: duckdb.DuckDBPyConnection, columns: dict[str, list], sql: str,
               params: dict | None = None) -> list[tuple]:
    """Run `sql` over the rows (`columns`, as strings or ints) as table `rows`, and return what it fetches.

    An Arrow table, since binding long Python lists as parameters costs several times more (a first mapped sync of
    100,000 customers spent ~0.9 s looking up their 300,000 identities that way)."""
    rows = pa.table({name: pa.array(values, pa.int64() if name.endswith("_us") else pa.string())
                     for name, values in columns.items()})
    with registered(con, "rows", rows):
        result = con.execute(sql, params or {})
        return result.fetchall() if result.description else []


def same_local(a: Any, b: Any) -> bool:
    return _json(a) == _json(b)


@dataclass(slots=True)
class Attr:
    value: Any
    observed_us: int
    source_id: str
    object_type: str
    external_id: str | None


def known_identities(con: duckdb.DuckDBPyConnection, keys: list[Key]) -> dict[Key, str]:
    """The live profile of each key the store holds (a merged profile's keys resolve to the survivor)."""
    if not keys:
        return {}
    rows = _with_rows(con, {"k": [k for k, _ in keys], "v": [v for _, v in keys]},
                      """SELECT i.kind, i.identity, coalesce(m.merged_into, i.profile_id)::VARCHAR
                         FROM rows q JOIN identities i ON i.kind = q.k AND i.identity = q.v
                         LEFT JOIN profile_merges m ON m.profile_id = i.profile_id""")
    return {(r[0], r[1]): r[2] for r in rows}


def canonical(con: duckdb.DuckDBPyConnection, profile_ids: list[str]) -> dict[str, str]:
    """Each id's live profile (itself unless it was merged away)."""
    if not profile_ids:
        return {}
    rows = con.execute("SELECT profile_id::VARCHAR, merged_into::VARCHAR FROM profile_merges WHERE profile_id IN "
                       "(SELECT unnest(?::UUID[]))", [profile_ids]).fetchall()
    merged = dict(rows)
    return {p: merged.get(p, p) for p in profile_ids}


def create_profiles(con: duckdb.DuckDBPyConnection, profile_ids: list[str], now_us: int) -> None:
    if profile_ids:
        _with_rows(con, {"p": profile_ids}, """INSERT INTO profiles SELECT p::UUID, '{}'::JSON,
                                                   make_timestamp($now)::TIMESTAMPTZ, make_timestamp($now)::TIMESTAMPTZ
                                               FROM rows""", {"now": now_us})


def add_identities(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str, str]], now_us: int) -> None:
    """(kind, value, profile, source) rows, each new: none of their keys is held (`known_identities` said so in this
    transaction of the one writer). A plain insert, not an upsert: about half the cost, and a key held after all
    would be an error that rolls the transaction back, never a row lost."""
    if rows:
        _with_rows(con, {"k": [r[0] for r in rows], "v": [r[1] for r in rows], "p": [r[2] for r in rows],
                         "s": [r[3] for r in rows]},
                   "INSERT INTO identities SELECT k, v, p::UUID, s, make_timestamp($now)::TIMESTAMPTZ FROM rows",
                   {"now": now_us})


def merge_profiles(con: duckdb.DuckDBPyConnection, merges: list[tuple[str, str, str]], now_us: int) -> None:
    """Move what points at each merged profile to its survivor; the merged id keeps resolving through
    `profile_merges`. Attributes are moved by the caller (it decides conflicts)."""
    for merged, into, reason in merges:
        params = {"m": merged, "s": into}
        con.execute("INSERT INTO profile_merges VALUES ($m::UUID, $s::UUID, make_timestamp($now)::TIMESTAMPTZ, $r)",
                    {**params, "now": now_us, "r": reason})
        con.execute("UPDATE profile_merges SET merged_into = $s::UUID WHERE merged_into = $m::UUID", params)
        con.execute("UPDATE identities SET profile_id = $s::UUID WHERE profile_id = $m::UUID", params)
        con.execute("UPDATE sessions SET profile_id = $s::UUID WHERE profile_id = $m::UUID", params)
        con.execute("UPDATE writebacks SET profile_id = $s::UUID WHERE profile_id = $m::UUID", params)
        con.execute("DELETE FROM profiles WHERE profile_id = $m::UUID", {"m": merged})


def load_attributes(con: duckdb.DuckDBPyConnection, profile_ids: list[str]) -> dict[str, dict[str, Attr]]:
    out: dict[str, dict[str, Attr]] = {p: {} for p in profile_ids}
    if not profile_ids:
        return out
    rows = _with_rows(
        con, {"p": profile_ids},
        """SELECT profile_id::VARCHAR, name, value::VARCHAR, epoch_us(observed_at), source_id, object_type, external_id
           FROM profile_attributes WHERE profile_id IN (SELECT p::UUID FROM rows)""")
    for p, name, value, observed, source_id, object_type, external_id in rows:
        out[p][name] = Attr(_load(value), observed, source_id, object_type, external_id)
    return out


def save_attributes(con: duckdb.DuckDBPyConnection, changed: dict[tuple[str, str], Attr], dropped: list[str],
                    now_us: int, *, fresh: bool = False) -> None:
    """Upsert the changed attributes; `dropped`: profiles merged away, whose attribute rows go. `fresh`: none of
    the rows exists yet (the profiles had no attributes), so a plain insert does: about half an upsert's cost,
    and a row there after all would be an error that rolls the transaction back, never a value lost."""
    if dropped:
        con.execute("DELETE FROM profile_attributes WHERE profile_id IN (SELECT unnest(?::UUID[]))", [dropped])
    if not changed:
        return
    items = list(changed.items())
    sql = """INSERT INTO profile_attributes
             SELECT p::UUID, n, v::JSON, s, t, e, make_timestamp(o_us)::TIMESTAMPTZ, make_timestamp($now)::TIMESTAMPTZ
             FROM rows"""
    if not fresh:
        sql += """
             ON CONFLICT (profile_id, name) DO UPDATE SET value = excluded.value, source_id = excluded.source_id,
                 object_type = excluded.object_type, external_id = excluded.external_id,
                 observed_at = excluded.observed_at, updated_at = excluded.updated_at"""
    _with_rows(
        con, {"p": [k[0] for k, _ in items], "n": [k[1] for k, _ in items], "v": [_json(a.value) for _, a in items],
              "s": [a.source_id for _, a in items], "t": [a.object_type for _, a in items],
              "e": [a.external_id for _, a in items], "o_us": [a.observed_us for _, a in items]},
        sql, {"now": now_us})


def refresh_profiles(con: duckdb.DuckDBPyConnection, profile_ids: list[str], now_us: int) -> None:
    """`profiles.attributes` as the object of each profile's attributes (for analysts' SQL)."""
    if profile_ids:
        _with_rows(
            con, {"p": profile_ids},
            """UPDATE profiles SET attributes = coalesce(a.attrs, '{}'::JSON),
                   updated_at = make_timestamp($now)::TIMESTAMPTZ
               FROM (SELECT q.pid AS pid, (SELECT json_group_object(name, value) FROM profile_attributes pa
                                           WHERE pa.profile_id = q.pid) AS attrs
                     FROM (SELECT p::UUID AS pid FROM rows) q) a
               WHERE profiles.profile_id = a.pid""",
            {"now": now_us})


def linked_records(con: duckdb.DuckDBPyConnection, profile_ids: list[str]) -> list[tuple[str, str]]:
    """(profile, record key value) of every record tied to the profiles."""
    if not profile_ids:
        return []
    return _with_rows(con, {"p": profile_ids}, "SELECT profile_id::VARCHAR, identity FROM identities "
                                               "WHERE kind = 'record' AND profile_id IN (SELECT p::UUID FROM rows)")


def record_data(con: duckdb.DuckDBPyConnection, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], dict]:
    """The stored data of live records."""
    if not keys:
        return {}
    rows = con.execute(
        """SELECT r.source_id, r.object_type, r.external_id, r.data::VARCHAR
           FROM (SELECT unnest($s::VARCHAR[]) AS s, unnest($t::VARCHAR[]) AS t, unnest($e::VARCHAR[]) AS e) q
           JOIN records r ON r.source_id = q.s AND r.object_type = q.t AND r.external_id = q.e
           WHERE NOT r.deleted""",
        {"s": [k[0] for k in keys], "t": [k[1] for k in keys], "e": [k[2] for k in keys]}).fetchall()
    return {(r[0], r[1], r[2]): orjson.loads(r[3]) for r in rows}


RecordRef = tuple[str, str, str]  # source id, object type, external id


def load_field_sync(con: duckdb.DuckDBPyConnection, records: list[RecordRef]) -> dict[tuple[RecordRef, str], tuple]:
    """(record, path) -> (remote value, local value) inlet and the record last agreed on."""
    if not records:
        return {}
    rows = _with_rows(
        con, {"s": [r[0] for r in records], "t": [r[1] for r in records], "e": [r[2] for r in records]},
        """SELECT f.source_id, f.object_type, f.external_id, f.path, f.remote_value::VARCHAR, f.local_value::VARCHAR
           FROM rows q JOIN field_sync f ON f.source_id = q.s AND f.object_type = q.t AND f.external_id = q.e""")
    return {((r[0], r[1], r[2]), r[3]): (_load(r[4]), _load(r[5])) for r in rows}


def save_field_sync(con: duckdb.DuckDBPyConnection, rows: dict[tuple[RecordRef, str], tuple[str, Any, Any]],
                    now_us: int, *, fresh: bool = False) -> None:
    """(record, path) -> (attribute, remote value, local value). `fresh`: none of the rows exists yet (the records
    had none), so a plain insert does (as in `save_attributes`)."""
    if not rows:
        return
    items = list(rows.items())
    sql = "INSERT INTO field_sync SELECT s, t, e, p, a, r::JSON, l::JSON, make_timestamp($now)::TIMESTAMPTZ FROM rows"
    if not fresh:
        sql += """
           ON CONFLICT (source_id, object_type, external_id, path) DO UPDATE SET attribute = excluded.attribute,
               remote_value = excluded.remote_value, local_value = excluded.local_value,
               updated_at = excluded.updated_at"""
    _with_rows(
        con, {"s": [k[0][0] for k, _ in items], "t": [k[0][1] for k, _ in items], "e": [k[0][2] for k, _ in items],
              "p": [k[1] for k, _ in items], "a": [v[0] for _, v in items], "r": [_json(v[1]) for _, v in items],
              "l": [_json(v[2]) for _, v in items]},
        sql, {"now": now_us})


def record_mapping_errors(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str | None, str | None, str]],
                          now_us: int) -> None:
    """(source, object type, external id, attribute, error)."""
    if rows:
        con.executemany("INSERT INTO mapping_errors VALUES (make_timestamp(?)::TIMESTAMPTZ, ?, ?, ?, ?, ?)",
                        [[now_us, *r] for r in rows])


def record_profiles(con: duckdb.DuckDBPyConnection, source_id: str, object_type: str,
                    external_ids: list[str]) -> dict[str, str]:
    """The live profile of each record that has one."""
    keys = [record_key(source_id, object_type, e) for e in external_ids]
    found = known_identities(con, keys)
    return {e: found[k] for e, k in zip(external_ids, keys, strict=True) if k in found}
