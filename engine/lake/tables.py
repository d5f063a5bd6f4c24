"""inlet's tables in the lake: one Iceberg table per store table, each row with the `node` that exported it.

`events` is append-only, partitioned by node and by day of `received_at` (when inlet took the event: a client's
`occurred_at` may be any date, which would scatter small files over years). The latest-state tables are replaced
row by row (deleted by key, then appended, in one commit): `records` by (source_id, object_type, external_id),
partitioned by source and object type; `profiles` by profile_id, `identities` by (node, kind, identity),
`profile_attributes` by (profile_id, name) and `profile_merges` by the profile merged away, partitioned by node,
since profiles and identities are each node's own (see SCALING.md). UUIDs and JSON are strings in the lake: every
engine reads them, and JSON functions work on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import BooleanType, LongType, NestedField, StringType, TimestamptzType

# table properties: manifests merged as appends pile up (else every commit's manifest list grows by one), and old
# metadata files deleted after commits (each commit writes one)
PROPERTIES = {
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "50",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "20",
    "write.parquet.compression-codec": "zstd",
}

_TYPES = {"string": StringType(), "long": LongType(), "timestamptz": TimestamptzType(), "boolean": BooleanType()}


@dataclass(frozen=True)
class TableSpec:
    """A lake table: its columns (name, Iceberg type; all nullable), partitioning, and how rows are matched.

    `select` reads the store's rows in the lake's column order, `node` last. For an upserted table, `group` and
    `member` are its key: a change is found by the key's columns, and rows are deleted from the lake with
    `group == values AND member IN (...)` (an IN per group keeps the filter small where a key has many columns);
    `scoped`: the key includes the node (its rows are this node's alone)."""

    name: str
    columns: tuple[tuple[str, str], ...]
    select: str
    partitions: tuple[tuple[str, str], ...] = ()  # (column, "identity" | "day")
    group: tuple[str, ...] = ()
    member: str | None = None
    scoped: bool = False
    properties: dict = field(default_factory=lambda: dict(PROPERTIES))

    @property
    def upserted(self) -> bool:
        return self.member is not None

    @property
    def key(self) -> tuple[str, ...]:
        return (*self.group, self.member) if self.member else ()

    @property
    def schema(self) -> Schema:
        return Schema(*[NestedField(i, name, _TYPES[kind], required=False)
                        for i, (name, kind) in enumerate(self.columns, start=1)])

    @property
    def arrow_schema(self) -> pa.Schema:
        return self.schema.as_arrow()

    @property
    def partition_spec(self) -> PartitionSpec:
        ids = {name: i for i, (name, _) in enumerate(self.columns, start=1)}
        fields = [PartitionField(source_id=ids[column], field_id=1000 + n,
                                 transform=DayTransform() if how == "day" else IdentityTransform(),
                                 name=f"{column}_day" if how == "day" else column)
                  for n, (column, how) in enumerate(self.partitions)]
        return PartitionSpec(*fields)

    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


S, L, T, B = "string", "long", "timestamptz", "boolean"

EVENTS = TableSpec(
    "events",
    (("event_id", S), ("source_id", S), ("event_type", S), ("occurred_at", T), ("received_at", T),
     ("profile_id", S), ("session_id", S), ("properties", S), ("context", S), ("ingest_seq", L), ("node", S)),
    """SELECT event_id::VARCHAR AS event_id, source_id, event_type, occurred_at, received_at,
              profile_id::VARCHAR AS profile_id, session_id, properties::VARCHAR AS properties,
              context::VARCHAR AS context, ingest_seq, $node AS node
       FROM events WHERE ingest_seq > $after ORDER BY ingest_seq LIMIT $limit""",
    partitions=(("node", "identity"), ("received_at", "day")),
)

RECORDS = TableSpec(
    "records",
    (("source_id", S), ("object_type", S), ("external_id", S), ("updated_at", T), ("deleted", B), ("data", S),
     ("synced_at", T), ("node", S)),
    """SELECT source_id, object_type, external_id, updated_at, deleted, data::VARCHAR AS data, synced_at, $node AS node
       FROM records""",
    partitions=(("source_id", "identity"), ("object_type", "identity")),
    group=("source_id", "object_type"), member="external_id",
)

PROFILES = TableSpec(
    "profiles",
    (("profile_id", S), ("attributes", S), ("created_at", T), ("updated_at", T), ("node", S)),
    """SELECT profile_id::VARCHAR AS profile_id, attributes::VARCHAR AS attributes, created_at, updated_at,
              $node AS node
       FROM profiles""",
    partitions=(("node", "identity"),), member="profile_id", scoped=True,
)

IDENTITIES = TableSpec(
    "identities",
    (("kind", S), ("identity", S), ("profile_id", S), ("source_id", S), ("created_at", T), ("node", S)),
    """SELECT kind, identity, profile_id::VARCHAR AS profile_id, source_id, created_at, $node AS node
       FROM identities""",
    partitions=(("node", "identity"),), group=("kind",), member="identity", scoped=True,
)

PROFILE_ATTRIBUTES = TableSpec(
    "profile_attributes",
    (("profile_id", S), ("name", S), ("value", S), ("source_id", S), ("object_type", S), ("external_id", S),
     ("observed_at", T), ("updated_at", T), ("node", S)),
    """SELECT profile_id::VARCHAR AS profile_id, name, value::VARCHAR AS value, source_id, object_type,
              external_id, observed_at, updated_at, $node AS node
       FROM profile_attributes""",
    partitions=(("node", "identity"),), group=("name",), member="profile_id", scoped=True,
)

PROFILE_MERGES = TableSpec(  # an event keeps the profile id it was stored with: this resolves the merged-away ones
    "profile_merges",
    (("profile_id", S), ("merged_into", S), ("merged_at", T), ("reason", S), ("node", S)),
    """SELECT profile_id::VARCHAR AS profile_id, merged_into::VARCHAR AS merged_into, merged_at, reason,
              $node AS node
       FROM profile_merges""",
    partitions=(("node", "identity"),), member="profile_id", scoped=True,
)

TABLES = (EVENTS, RECORDS, PROFILES, IDENTITIES, PROFILE_ATTRIBUTES, PROFILE_MERGES)
UPSERTED = tuple(t for t in TABLES if t.upserted)
