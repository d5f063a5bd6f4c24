"""Keeping the lake fast and bounded: small files rewritten into big ones, old snapshots expired and the files only
they used deleted. `inlet serve` runs it every `lake.compact_every`, between exports.

pyiceberg (0.12) has snapshot expiry but no compaction (Spark's `rewrite_data_files`) and no file clean-up after
expiry, so both are built here from its public operations:

- **Compaction** rewrites a run of small files of one partition through `overwrite(rows, filter)`: the rows those
  files hold are read and written again as one file in the same commit that removes them. For `events` a run is
  consecutive files of one node and day, and the filter is their `ingest_seq` range (each export appends one range),
  so a rewrite reads only those files, whatever the partition holds besides. For the upserted tables it is the whole
  partition, up to `MAX_REWRITE_BYTES`. Each node compacts only the partitions of its own rows, so nodes do not race
  for the same files; a commit that loses to another node's is done again from the new state.
- **Expiry** removes snapshots older than `lake.keep_snapshots`, and all but the newest `MAX_SNAPSHOTS` of a table
  (time travel reaches back that far, whichever is shorter; the current one always stays), then deletes the data
  files, manifests and manifest lists that only the expired snapshots reached. A node's watermark is a table
  property, so no snapshot is needed to keep it. Housekeeping also runs early when a table holds twice
  `MAX_SNAPSHOTS` (a node exporting every few seconds, or many nodes).

Files a failed commit left (written, never committed) are not found here: sweep them with your engine's
orphan-file removal (Spark's `remove_orphan_files`) now and then.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from functools import reduce

from pyiceberg.conversions import from_bytes
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    IsNull,
    LessThan,
    LessThanOrEqual,
)
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform
from pyiceberg.types import LongType

from engine.lake.catalog import Lake, LakeError
from engine.lake.export import COMMIT_ATTEMPTS, pause
from engine.lake.tables import EVENTS, TABLES, TableSpec

log = logging.getLogger("inlet.lake")

SMALL_FILE_BYTES = 32 * 1024 * 1024  # files under this are worth rewriting together
MIN_FILES = 8  # a run of fewer small files is left as it is
MAX_REWRITE_BYTES = 256 * 1024 * 1024  # of files read by one rewrite (its rows are held in memory)
# snapshots kept at most per table, whatever their age: pyiceberg copies the table's metadata, every snapshot in it,
# about twenty times per commit (~2-3 ms per snapshot and export, SCALING.md), so a node exporting often, or many
# nodes, would otherwise pay for lake.keep_snapshots' worth of history in every export
MAX_SNAPSHOTS = 100


def due(lake: Lake) -> bool:
    """Housekeeping is due before its time when a table, as last loaded, holds twice MAX_SNAPSHOTS snapshots."""
    return any(len(table.metadata.snapshots) > 2 * MAX_SNAPSHOTS for table in lake.tables.values())


def housekeep(lake: Lake, own_sources: set[str], now: datetime | None = None) -> dict:
    """Compact every table, then expire snapshots; what was done, per table. `own_sources`: the sources whose
    records this node holds (`records` is partitioned by source, not by node)."""
    now = now or datetime.now(UTC)
    done: dict = {"compacted_files": {}, "expired_snapshots": {}, "deleted_files": {}}
    for spec in TABLES:
        files = compact(lake, spec, own_sources)
        expired, deleted = expire(lake, spec, now - lake.config.keep_snapshots)
        for key, value in (("compacted_files", files), ("expired_snapshots", expired), ("deleted_files", deleted)):
            if value:
                done[key][spec.name] = value
    return done


# -- compaction ---------------------------------------------------------------------------------------------------
def compact(lake: Lake, spec: TableSpec, own_sources: set[str]) -> int:
    """Rewrite this node's runs of small files, one commit per run; returns the files rewritten."""
    table = lake.refresh(spec.name)
    rewritten = 0
    for where, count in _runs(table, spec, lake.config.node, own_sources):
        rewritten += _rewrite(lake, spec, where, count)
    return rewritten


def _runs(table: Table, spec: TableSpec, node: str, own_sources: set[str]) -> list[tuple[BooleanExpression, int]]:
    """(filter, files) for each run of small files worth a rewrite."""
    if table.current_snapshot() is None:
        return []
    by_partition: dict[tuple, list] = defaultdict(list)
    for task in table.scan().plan_files():
        by_partition[tuple(task.file.partition)].append(task.file)
    partition_fields = table.spec().fields
    schema = table.schema()
    names = [schema.find_column_name(f.source_id) for f in partition_fields]
    seq_id = schema.find_field("ingest_seq").field_id if spec is EVENTS else None
    runs = []
    for partition, files in by_partition.items():
        values = dict(zip(names, partition, strict=True))
        if "node" in values and values["node"] != node:
            continue  # another node's rows: it compacts them
        if "source_id" in values and values["source_id"] not in own_sources:
            continue  # records of a source another node pulls
        where = _partition_filter(partition_fields, names, partition)
        if seq_id is None:
            small = [f for f in files if f.file_size_in_bytes < SMALL_FILE_BYTES]
            if len(small) >= MIN_FILES and sum(f.file_size_in_bytes for f in files) <= MAX_REWRITE_BYTES:
                runs.append((where, len(files)))
            continue
        for run in _small_runs(files, seq_id):
            low = min(from_bytes(LongType(), f.lower_bounds[seq_id]) for f in run)
            high = max(from_bytes(LongType(), f.upper_bounds[seq_id]) for f in run)
            runs.append((And(where, And(GreaterThanOrEqual("ingest_seq", low), LessThanOrEqual("ingest_seq", high))),
                         len(run)))
    return runs


def _small_runs(files: list, seq_id: int) -> list[list]:
    """Runs of consecutive (by ingest_seq) small files of an events partition, bounded in bytes."""
    ordered = sorted((f for f in files if seq_id in f.lower_bounds and seq_id in f.upper_bounds),
                     key=lambda f: from_bytes(LongType(), f.lower_bounds[seq_id]))
    runs, run, size = [], [], 0
    for f in ordered:
        if f.file_size_in_bytes >= SMALL_FILE_BYTES or size + f.file_size_in_bytes > MAX_REWRITE_BYTES:
            if len(run) >= MIN_FILES:
                runs.append(run)
            run, size = [], 0
            if f.file_size_in_bytes >= SMALL_FILE_BYTES:
                continue
        run.append(f)
        size += f.file_size_in_bytes
    if len(run) >= MIN_FILES:
        runs.append(run)
    return runs


def _partition_filter(fields, names: list[str], partition: tuple) -> BooleanExpression:
    terms: list[BooleanExpression] = []
    for field, name, value in zip(fields, names, partition, strict=True):
        if value is None:
            terms.append(IsNull(name))
        elif isinstance(field.transform, DayTransform):
            day = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=value)
            terms.append(And(GreaterThanOrEqual(name, day.isoformat()),
                             LessThan(name, (day + timedelta(days=1)).isoformat())))
        else:
            terms.append(EqualTo(name, value))
    return reduce(And, terms) if terms else AlwaysTrue()


def _rewrite(lake: Lake, spec: TableSpec, where: BooleanExpression, count: int) -> int:
    for attempt in range(COMMIT_ATTEMPTS):
        table = lake.refresh(spec.name)
        rows = table.scan(row_filter=where).to_arrow()
        if rows.num_rows == 0:
            return 0
        if spec is EVENTS:
            rows = rows.sort_by("ingest_seq")
        try:
            tx = table.transaction()
            tx.overwrite(rows, overwrite_filter=where,
                         snapshot_properties={"inlet.node": lake.config.node, "inlet.operation": "compact"})
            tx.commit_transaction()
            return count
        except (CommitFailedException, ValidationException):  # another node's commit came first
            pause(attempt)
    raise LakeError(f"lake.catalog: compacting {spec.name} lost to other nodes' commits {COMMIT_ATTEMPTS} times; "
                    "it is tried again at the next housekeeping")


# -- expiry -------------------------------------------------------------------------------------------------------
def expire(lake: Lake, spec: TableSpec, older_than: datetime) -> tuple[int, int]:
    """Expire snapshots older than `older_than`, and all but the newest MAX_SNAPSHOTS (never the current one);
    delete the files only they reached. Returns (snapshots expired, files deleted)."""
    table = lake.refresh(spec.name)
    cutoff = int(older_than.timestamp() * 1000)
    current = table.current_snapshot()
    newest = sorted(table.snapshots(), key=lambda s: s.timestamp_ms)[-MAX_SNAPSHOTS:]
    kept = {s.snapshot_id for s in newest if s.timestamp_ms >= cutoff}
    old = [s.snapshot_id for s in table.snapshots()
           if s.snapshot_id not in kept and (current is None or s.snapshot_id != current.snapshot_id)]
    if not old:
        return 0, 0
    data_files: dict[str, list[str]] = {}  # what the manifests read before the expiry hold, not read again after
    before = _reachable(table, data_files)
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            keep = {s.snapshot_id for s in table.snapshots()}
            table.maintenance.expire_snapshots().by_ids([i for i in old if i in keep]).commit()
            break
        except CommitFailedException:
            pause(attempt)
            table = lake.refresh(spec.name)
    else:
        raise LakeError(f"lake.catalog: expiring {spec.name}'s snapshots lost to other nodes' commits "
                        f"{COMMIT_ATTEMPTS} times; it is tried again at the next housekeeping")
    after = _reachable(lake.refresh(spec.name), data_files)
    unused = before - after
    io = table.io
    for path in unused:
        try:
            io.delete(path)
        except FileNotFoundError:
            pass
    return len(old), len(unused)


def _reachable(table: Table, data_files: dict[str, list[str]]) -> set[str]:
    """Every manifest list, manifest and live data file any snapshot of `table` reaches. `data_files`: each
    manifest's live data files, read once and kept across calls (a manifest is never rewritten in place)."""
    io = table.io
    paths: set[str] = set()
    for snapshot in table.snapshots():
        paths.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(io):
            path = manifest.manifest_path
            if path not in data_files:
                data_files[path] = [entry.data_file.file_path
                                    for entry in manifest.fetch_manifest_entry(io, discard_deleted=True)]
            paths.add(path)
            paths.update(data_files[path])
    return paths

