"""What the store has that the lake lacks, read on a cursor of its own (a read transaction beside the writer), and
what the store remembers once the lake has it (a job of the store writer).

Events are numbered in commit order (`events.ingest_seq`), so the lake lacks exactly those past the node's
watermark. The latest-state tables change in place (a sync's upsert, a profile merge), by statements whose
timestamps do not follow commit order, so their changes are found by content instead: `lake_rows` keeps a digest of
each row as the lake last took it, and a row whose digest differs (or that has none) is sent; a row the store no
longer has is deleted from the lake. The digests are written only after the lake's commit: a node that dies in
between sends those rows again, which replaces them with themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import orjson
import pyarrow as pa

from engine.lake.tables import EVENTS, TableSpec
from engine.store.arrow import registered


@dataclass
class Changes:
    """Rows of one upserted table to replace in the lake (with their keys and digests), and keys to delete."""

    rows: pa.Table
    keys: list[str] = field(default_factory=list)  # JSON arrays of the key's values, as `lake_rows.key`
    digests: list[int] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.rows.num_rows + len(self.gone)


def store_id(cur: duckdb.DuckDBPyConnection) -> str:
    return cur.execute("SELECT store_id::VARCHAR FROM store_info").fetchone()[0]


def events_after(cur: duckdb.DuckDBPyConnection, node: str, after: int, limit: int) -> pa.Table:
    """Up to `limit` events past `after`, in commit order, as the lake's `events` rows."""
    rows = cur.sql(EVENTS.select, params={"node": node, "after": after, "limit": limit}).to_arrow_table()
    return _as_lake(rows, EVENTS)


def _as_lake(rows: pa.Table, spec: TableSpec) -> pa.Table:
    """The store's rows under the lake table's names and types (DuckDB names a cast column after the cast)."""
    return rows.rename_columns(spec.column_names()).cast(spec.arrow_schema)


def behind(cur: duckdb.DuckDBPyConnection, after: int) -> tuple[int, object]:
    """Events the lake lacks past `after`, and when the oldest of them was received (None when none)."""
    return cur.execute("SELECT count(*), min(received_at) FROM events WHERE ingest_seq > ?", [after]).fetchone()


def newest_seq(cur: duckdb.DuckDBPyConnection) -> int:
    return cur.execute("SELECT coalesce(max(ingest_seq), 0) FROM events").fetchone()[0]


def _key(spec: TableSpec) -> str:
    return f"to_json([{', '.join(spec.key)}])::VARCHAR"


def _digest(spec: TableSpec) -> str:
    return f"hash({', '.join(n for n in spec.column_names() if n != 'node')})"


def changed(cur: duckdb.DuckDBPyConnection, spec: TableSpec, lake_table: str, node: str, limit: int) -> Changes:
    """Up to `limit` rows of `spec`'s table that differ from what the lake last took, and up to `limit` keys the
    lake took that the store no longer has; in one read transaction."""
    cur.execute("BEGIN TRANSACTION READ ONLY")
    try:
        current = f"SELECT *, {_key(spec)} AS lake_key, {_digest(spec)} AS lake_digest FROM ({spec.select})"
        rows = cur.sql(
            f"""SELECT c.* FROM ({current}) c
                LEFT JOIN lake_rows l ON l.lake_table = $table AND l.key = c.lake_key
                WHERE l.digest IS DISTINCT FROM c.lake_digest LIMIT $limit""",
            params={"node": node, "table": lake_table, "limit": limit}).to_arrow_table()
        gone = cur.execute(
            f"""SELECT key FROM lake_rows
                WHERE lake_table = $table AND key NOT IN (SELECT {_key(spec)} FROM ({spec.select})) LIMIT $limit""",
            {"node": node, "table": lake_table, "limit": limit}).fetchall()
    finally:
        cur.execute("ROLLBACK")
    keys = rows.column("lake_key").to_pylist()
    digests = rows.column("lake_digest").to_pylist()
    data = _as_lake(rows.drop_columns(["lake_key", "lake_digest"]), spec)
    return Changes(data, keys, digests, [k for (k,) in gone])


def key_values(keys: list[str]) -> list[list]:
    return [orjson.loads(k) for k in keys]


def remember(con: duckdb.DuckDBPyConnection, lake_table: str, changes: Changes) -> None:
    """After the lake's commit: the digests of the rows it took, and the keys it deleted (the caller's transaction)."""
    if changes.keys:
        table = pa.table({"lake_table": pa.array([lake_table] * len(changes.keys), pa.string()),
                          "key": pa.array(changes.keys, pa.string()),
                          "digest": pa.array(changes.digests, pa.uint64())})
        with registered(con, "lake_sent", table):
            con.execute("""INSERT INTO lake_rows SELECT * FROM lake_sent
                           ON CONFLICT (lake_table, key) DO UPDATE SET digest = excluded.digest""")
    if changes.gone:
        con.execute("DELETE FROM lake_rows WHERE lake_table = ? AND key IN (SELECT unnest(?::VARCHAR[]))",
                    [lake_table, changes.gone])


def forget_other_tables(con: duckdb.DuckDBPyConnection, lake_tables: list[str]) -> int:
    """Digests kept for lake tables that are gone (a lake made anew, another catalog): their rows go again."""
    return con.execute("DELETE FROM lake_rows WHERE NOT list_contains(?::VARCHAR[], lake_table)",
                       [lake_tables]).fetchone()[0]
