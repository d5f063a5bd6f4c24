"""Moving spooled records into DuckDB, and the store lookups the spool thread needs.

Records are concatenated into one Arrow table per target table and appended with the relation API
(`from_arrow(...).insert_into(...)`), which skips SQL parsing; a transaction costs about the same for 20
rows as for 2,000, so the ingest thread takes everything spooled since its last commit at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from engine.store.rollups import count_events, count_rejections

_TS = pa.timestamp("us", tz="UTC")
_S = pa.string()

SCHEMAS = {
    "events": pa.schema([("event_id", _S), ("source_id", _S), ("event_type", _S), ("occurred_at", _TS),
                         ("received_at", _TS), ("profile_id", _S), ("session_id", _S), ("properties", _S),
                         ("context", _S)]),
    "sessions": pa.schema([("session_id", _S), ("profile_id", _S), ("source_id", _S), ("created_at", _TS)]),
    "profiles": pa.schema([("profile_id", _S), ("created_at", _TS)]),  # a new profile, its attributes empty
    "identities": pa.schema([("kind", _S), ("identity", _S), ("profile_id", _S), ("source_id", _S),
                             ("created_at", _TS)]),
    "idempotency_keys": pa.schema([("source_id", _S), ("key", _S), ("event_id", _S), ("event_type", _S),
                                   ("profile_id", _S), ("session_id", _S), ("created_at", _TS)]),
    "rejections": pa.schema([("rejection_id", _S), ("source_id", _S), ("received_at", _TS), ("method", _S),
                             ("path", _S), ("status", pa.int32()), ("reason", _S), ("size", pa.int64()),
                             ("excerpt", _S), ("context", _S), ("count", pa.int32())]),
}
_OLD_REJECTION = 10  # columns of a spooled rejection row before schema version 7 added `count`
# record key -> table; each row is a list in the table's column order. A session of "se" brings its new
# profile (as every session did before identities); one of "sl" joins a profile that exists or that a "pr"
# row of the same record creates.
RECORD_TABLES = {"ev": "events", "se": "sessions", "ke": "idempotency_keys", "rj": "rejections", "sl": "sessions",
                 "pr": "profiles", "id": "identities"}


@dataclass
class Batch:
    """Rows of one or more spool records, by table, with the highest sequence number among them."""

    seq: int = 0
    rows: dict[str, list[list]] = field(default_factory=lambda: {t: [] for t in SCHEMAS})
    records: list[tuple[int, dict]] = field(default_factory=list)  # to retry one by one if DuckDB refuses

    def add(self, seq: int, record: dict) -> None:
        self.seq = max(self.seq, seq)
        self.records.append((seq, record))
        for key, table in RECORD_TABLES.items():
            self.rows[table].extend(record.get(key, ()))
        if any(len(row) == _OLD_REJECTION for row in record.get("rj", ())):  # spooled before rows had a count
            self.rows["rejections"][:] = [[*r, 1] if len(r) == _OLD_REJECTION else r for r in self.rows["rejections"]]
        self.rows["profiles"].extend([row[1], row[3]] for row in record.get("se", ()))

    @classmethod
    def from_records(cls, records: list[tuple[int, dict]]) -> Batch:
        batch = cls()
        for seq, record in records:
            batch.add(seq, record)
        return batch

    @classmethod
    def of(cls, seq: int, record: dict | None = None) -> Batch:
        batch = cls(seq=seq)
        if record is not None:
            batch.add(seq, record)
        return batch

    def __len__(self) -> int:
        return sum(len(r) for r in self.rows.values())


def committed_seq(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT max(seq) FROM ingest_state").fetchone()[0] or 0


def ingest(con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
    """Insert a batch and record its sequence number; the caller holds the transaction."""
    for table, rows in batch.rows.items():
        if not rows:
            continue
        schema = SCHEMAS[table]
        columns = list(zip(*rows, strict=True))
        arrow = pa.Table.from_arrays([pa.array(col, f.type) for col, f in zip(columns, schema, strict=True)],
                                     schema=schema)
        if table == "profiles":  # a new profile starts empty
            con.from_arrow(arrow).project("profile_id::UUID, '{}'::JSON, created_at, created_at").insert_into(
                "profiles")
        elif table == "events":  # numbered in commit order: the lake's export watermark (schema version 9)
            con.from_arrow(arrow).project("*, nextval('events_ingest_seq')").insert_into(table)
        else:
            con.from_arrow(arrow).insert_into(table)
        if table == "events":  # the console's hourly counts (engine/store/rollups.py)
            count_events(con, rows)
        elif table == "rejections":
            count_rejections(con, rows)
    con.execute("UPDATE ingest_state SET seq = ?", [batch.seq])


def lookup_sessions(con: duckdb.DuckDBPyConnection, session_ids: list[str]) -> dict[str, str]:
    rows = con.execute("SELECT session_id, profile_id::VARCHAR FROM sessions WHERE session_id IN "
                       "(SELECT unnest(?::VARCHAR[]))", [session_ids]).fetchall()
    return dict(rows)


def lookup_keys(con: duckdb.DuckDBPyConnection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
    """(source_id, key) -> (event_id, event_type, profile_id, session_id) of the event first sent with it."""
    rows = con.execute(
        """SELECT k.source_id, k.key, k.event_id::VARCHAR, k.event_type, k.profile_id::VARCHAR, k.session_id
           FROM (SELECT unnest(?::VARCHAR[]) AS source_id, unnest(?::VARCHAR[]) AS key) q
           JOIN idempotency_keys k ON k.source_id = q.source_id AND k.key = q.key""",
        [[s for s, _ in keys], [k for _, k in keys]],
    ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def lookup_users(con: duckdb.DuckDBPyConnection, user_ids: list[str]) -> dict[str, str]:
    rows = con.execute("SELECT identity, profile_id::VARCHAR FROM identities WHERE kind = 'user_id' AND identity IN "
                       "(SELECT unnest(?::VARCHAR[]))", [user_ids]).fetchall()
    return dict(rows)
