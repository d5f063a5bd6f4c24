"""The lake (engine/lake/): a node's store exported into Iceberg tables through real catalogs (SQLite, PostgreSQL)
and warehouses (a directory, moto's S3 server), read back with pyiceberg and with DuckDB: every event exactly once
across lost answers, crashes and other nodes' concurrent commits; the latest-state tables replaced row by row."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from pyiceberg.exceptions import CommitFailedException

from engine.config.lake import LakeConfig
from engine.lake import LakeError, housekeeping, open_lake
from engine.lake.export import Exporter
from engine.lake.housekeeping import housekeep
from engine.lake.tables import EVENTS
from engine.store import open_store, store_cursor
from tests.conftest import inlet, write_config
from tests.lake_services import S3, Postgres

pytestmark = pytest.mark.xdist_group("lake")


@pytest.fixture(scope="module")
def postgres():
    with Postgres() as pg:
        yield pg


class Node:
    """A store (as `inlet serve` would hold it) and its exporter into `lake`."""

    def __init__(self, path: Path, config: LakeConfig):
        self.con = open_store(path)
        self.lake = open_lake(config)
        self.before_read = None  # called when the exporter reads the store (a test's way in between)
        self.exporter = self.new_exporter()

    def new_exporter(self) -> Exporter:
        return Exporter(self.lake, self._cursor, self._remember)

    def _cursor(self):
        if self.before_read is not None:
            hook, self.before_read = self.before_read, None
            hook()
        return store_cursor(self.con)

    def _remember(self, fn):
        self.con.execute("BEGIN")
        try:
            fn(self.con)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def add_events(self, n: int, tag: str = "e") -> None:
        self.con.execute(f"""INSERT INTO events SELECT uuidv7(), 'website', 'page-view', now(),
                                now() - INTERVAL (i % 3) DAY, NULL, 's' || (i % 7), json_object('tag', '{tag}', 'i', i),
                                '{{}}', nextval('events_ingest_seq') FROM range({n}) t(i)""")

    def event_ids(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT event_id::VARCHAR FROM events").fetchall()]


def lake_config(tmp_path: Path, **more) -> LakeConfig:
    return LakeConfig(**{"catalog": f"sqlite:///{tmp_path}/catalog.db", "warehouse": str(tmp_path / "warehouse"),
                         "node": "node-a", **more})


def scan(lake, table: str, *columns: str) -> list[tuple]:
    rows = lake.refresh(table).scan(selected_fields=columns).to_arrow()
    return sorted(zip(*(rows.column(c).to_pylist() for c in columns), strict=True))


def duckdb_count(lake, table: str) -> tuple[int, int]:
    """(rows, distinct first column) as DuckDB reads the current snapshot's Parquet files."""
    files = [task.file.file_path.removeprefix("file://") for task in lake.refresh(table).scan().plan_files()]
    if not files:
        return 0, 0
    column = {"events": "event_id", "records": "external_id"}.get(table, "profile_id")
    with duckdb.connect() as con:
        return con.execute(f"SELECT count(*), count(DISTINCT {column}) FROM read_parquet(?)", [files]).fetchone()


def fill_latest_state(con) -> None:
    con.execute("""INSERT INTO records SELECT 'billing', 'customer', 'cus_' || i, now(), false,
                          json_object('id', 'cus_' || i, 'v', 1), now() FROM range(50) t(i)""")
    con.execute("""INSERT INTO records SELECT 'crm', 'contact', 'c' || i, now(), false, json_object('v', 1), now()
                   FROM range(30) t(i)""")
    con.execute("INSERT INTO profiles SELECT uuidv7(), json_object('n', i), now(), now() FROM range(20) t(i)")
    con.execute("""INSERT INTO identities SELECT 'email', 'p' || row_number() OVER () || '@x.com', profile_id,
                          'website', now() FROM profiles""")
    con.execute("""INSERT INTO profile_attributes SELECT profile_id, 'plan', '"pro"', 'billing', 'customer', NULL,
                          now(), now() FROM profiles""")


def test_events_go_once_and_changed_rows_are_replaced(tmp_path):
    node = Node(tmp_path / "a.duckdb", lake_config(tmp_path))
    node.add_events(1000)
    fill_latest_state(node.con)
    first = node.exporter.export()
    assert (first.events, first.watermark) == (1000, 1000)
    assert first.upserted == {"records": 80, "profiles": 20, "identities": 20, "profile_attributes": 20}
    again = node.exporter.export()
    assert (again.events, again.upserted, again.deleted) == (0, {}, {})  # nothing changed: nothing sent

    node.con.execute("UPDATE records SET data = json_object('v', 2) WHERE external_id IN ('cus_1', 'cus_2', 'c3')")
    gone = [r[0] for r in node.con.execute("SELECT profile_id FROM profiles ORDER BY profile_id LIMIT 2").fetchall()]
    for table in ("profile_attributes", "identities", "profiles"):  # as a merge removes a profile
        node.con.execute(f"DELETE FROM {table} WHERE profile_id IN (SELECT unnest(?::UUID[]))", [gone])
    node.con.execute("""INSERT INTO profile_merges SELECT unnest(?::UUID[]), (SELECT max(profile_id) FROM profiles),
                               now(), 'email' """, [gone])
    node.add_events(100, tag="later")
    second = node.exporter.export()
    assert (second.events, second.watermark) == (100, 1100)
    assert second.upserted == {"records": 3, "profile_merges": 2}
    assert second.deleted == {"profiles": 2, "identities": 2, "profile_attributes": 2}

    lake = node.lake
    events = scan(lake, "events", "event_id", "ingest_seq", "node")
    assert [e[0] for e in events] == sorted(node.event_ids())  # every event, once
    assert {e[2] for e in events} == {"node-a"}
    assert duckdb_count(lake, "events") == (1100, 1100)
    store_records = node.con.execute("SELECT source_id, object_type, external_id, data::VARCHAR FROM records "
                                     "ORDER BY ALL").fetchall()
    assert scan(lake, "records", "source_id", "object_type", "external_id", "data") == store_records
    assert duckdb_count(lake, "records") == (80, 80)
    assert scan(lake, "profiles", "profile_id") == sorted(
        (r[0],) for r in node.con.execute("SELECT profile_id::VARCHAR FROM profiles").fetchall())
    assert len(scan(lake, "identities", "identity")) == 18
    assert scan(lake, "profile_merges", "profile_id") == sorted((str(g),) for g in gone)
    # the watermark is committed with the events: as a table property and in the snapshot's summary
    table = lake.refresh("events")
    assert table.properties["inlet.watermark.node-a"].endswith(":1100")
    summary = table.current_snapshot().summary
    assert summary["inlet.node"] == "node-a" and summary["inlet.watermark"].endswith(":1100")


def test_a_commit_whose_answer_was_lost_is_not_appended_twice(tmp_path, monkeypatch):
    node = Node(tmp_path / "a.duckdb", lake_config(tmp_path))
    node.add_events(300)
    catalog = node.lake.catalog
    commit = catalog.commit_table
    lost = {"n": 0}

    def commit_then_lose_the_answer(table, requirements, updates):
        response = commit(table, requirements, updates)
        if table.name()[-1] == "events" and lost["n"] == 0:
            lost["n"] += 1
            raise CommitFailedException("the connection dropped after COMMIT")
        return response

    monkeypatch.setattr(catalog, "commit_table", commit_then_lose_the_answer)
    done = node.exporter.export()
    assert lost["n"] == 1 and done.events == 300
    assert duckdb_count(node.lake, "events") == (300, 300)

    # an answer lost any other way fails the export; the next one (a restarted node too) reads the lake's watermark
    def commit_then_fail(table, requirements, updates):
        commit(table, requirements, updates)
        raise OSError("connection reset by peer")

    node.add_events(50)
    monkeypatch.setattr(catalog, "commit_table", commit_then_fail)
    with pytest.raises(OSError):
        node.exporter.export()
    monkeypatch.setattr(catalog, "commit_table", commit)
    assert node.new_exporter().export().events == 0
    assert duckdb_count(node.lake, "events") == (350, 350)


def test_a_node_dying_between_its_commit_and_remembering_it_replaces_the_rows_with_themselves(tmp_path):
    node = Node(tmp_path / "a.duckdb", lake_config(tmp_path))
    node.add_events(10)
    fill_latest_state(node.con)

    def die(fn):
        raise KeyboardInterrupt("killed")

    exporter = Exporter(node.lake, lambda: store_cursor(node.con), die)
    with pytest.raises(KeyboardInterrupt):
        exporter.export()  # the events and records commits landed; the digests were never written
    node.exporter.export()
    assert duckdb_count(node.lake, "records") == (80, 80)
    assert len(scan(node.lake, "profiles", "profile_id")) == 20
    assert duckdb_count(node.lake, "events") == (10, 10)


def test_two_nodes_commit_at_once_to_a_postgresql_catalog_and_s3(tmp_path, postgres, caplog):
    with S3() as s3:
        config = {"catalog": postgres.url, "warehouse": "s3://lake/warehouse", "s3": s3.lake_s3}
        a = Node(tmp_path / "a.duckdb", LakeConfig(**config, node="node-a"))
        b = Node(tmp_path / "b.duckdb", LakeConfig(**config, node="node-b"))
        a.add_events(200)
        b.add_events(150)
        fill_latest_state(a.con)
        # node-b commits after node-a read its watermark and before node-a commits: node-a's commit fails and is
        # made again on top of node-b's
        a.before_read = lambda: b.exporter.export()
        with caplog.at_level("WARNING", logger="pyiceberg"):
            done = a.exporter.export()
        assert "Commit failed due to a concurrent update" in caplog.text  # pyiceberg's own retry, on the new state
        assert done.events == 200

        def rounds(node: Node, errors: list) -> None:
            try:
                for _ in range(4):
                    node.exporter.export()
            except Exception as exc:  # reported below
                errors.append(exc)

        for node in (a, b):
            node.add_events(40)
        errors: list = []
        threads = [threading.Thread(target=rounds, args=(n, errors)) for n in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        a.exporter.export()
        b.exporter.export()

        events = scan(a.lake, "events", "event_id", "node")
        assert sorted(e[0] for e in events) == sorted(a.event_ids() + b.event_ids())
        assert sum(1 for e in events if e[1] == "node-b") == 190
        table = a.lake.refresh("events")
        assert table.properties["inlet.watermark.node-a"].endswith(":240")
        assert table.properties["inlet.watermark.node-b"].endswith(":190")
        with table.scan().to_duckdb("events") as con:  # DuckDB reads the S3 warehouse through pyiceberg's IO
            assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == (430, 430)
        assert len(scan(a.lake, "records", "external_id")) == 80
        assert any(key.startswith("warehouse/inlet/events/data/") for key in s3.keys("warehouse/"))


def test_a_node_name_taken_by_another_store_is_refused(tmp_path):
    config = lake_config(tmp_path)
    a = Node(tmp_path / "a.duckdb", config)
    a.add_events(5)
    a.exporter.export()
    other = Node(tmp_path / "other.duckdb", config)
    other.add_events(5)
    with pytest.raises(LakeError, match=r"lake\.node: the lake's events of node 'node-a' came from another store"):
        other.exporter.export()
    assert duckdb_count(a.lake, "events") == (5, 5)


def test_a_store_whose_node_name_changed_is_refused(tmp_path):
    node = Node(tmp_path / "a.duckdb", lake_config(tmp_path, node="host-1234"))
    node.add_events(5)
    node.exporter.export()
    node.lake = open_lake(lake_config(tmp_path, node="host-5678"))  # a container that came back with a new host name
    with pytest.raises(LakeError, match="this store's events are in the lake as node 'host-1234', not 'host-5678'"):
        node.new_exporter().export()
    assert duckdb_count(node.lake, "events") == (5, 5)


def test_a_store_restored_from_an_older_copy_is_refused(tmp_path):
    node = Node(tmp_path / "a.duckdb", lake_config(tmp_path))
    node.add_events(5)
    node.con.execute("CHECKPOINT")
    shutil.copy(tmp_path / "a.duckdb", tmp_path / "backup.duckdb")
    node.add_events(5)
    node.exporter.export()
    restored = Node(tmp_path / "backup.duckdb", lake_config(tmp_path))  # same store id, fewer events
    restored.add_events(3)  # numbered 6-8: the lake's watermark (10) would pass them as exported
    with pytest.raises(LakeError, match="holds the events of node 'node-a' up to 10, but this store ends at 8"):
        restored.exporter.export()


def test_housekeeping_rewrites_small_files_and_expires_old_snapshots(tmp_path):
    node = Node(tmp_path / "a.duckdb", lake_config(tmp_path, keep_snapshots="1h"))
    for i in range(10):  # ten exports: ten small files in each of the three days' partitions
        node.add_events(30, tag=f"round{i}")
        node.con.execute("INSERT INTO profiles SELECT uuidv7(), '{}', now(), now() FROM range(3)")
        for source in ("billing", "crm"):
            node.con.execute(f"""INSERT INTO records SELECT '{source}', 'customer', 'r{i}-' || n, now(), false, '{{}}',
                                        now() FROM range(2) t(n)""")
        node.exporter.export()
    lake = node.lake
    before = scan(lake, "events", "event_id", "ingest_seq", "properties")
    assert len(list(lake.refresh("events").scan().plan_files())) == 30
    snapshots = len(lake.refresh("events").snapshots())
    data_dir = Path(lake.config.warehouse) / "inlet" / "events" / "data"
    parquet = len(list(data_dir.rglob("*.parquet")))

    # nothing is an hour old yet: compaction only; of `records` only the partitions of sources this node pulls
    done = housekeep(lake, {"billing"}, now=datetime.now(UTC))
    assert done["compacted_files"] == {"events": 30, "records": 10, "profiles": 10} and not done["expired_snapshots"]
    assert len(list(lake.refresh("records").scan().plan_files())) == 11  # billing's one file, crm's ten
    assert len(list(lake.refresh("events").scan().plan_files())) == 3  # one file per day
    assert scan(lake, "events", "event_id", "ingest_seq", "properties") == before
    assert len(list(data_dir.rglob("*.parquet"))) == parquet + 3  # the old files stay for time travel

    later = housekeep(lake, set(), now=datetime.now(UTC) + timedelta(hours=2))
    assert later["expired_snapshots"]["events"] >= snapshots
    assert len(lake.refresh("events").snapshots()) == 1
    assert len(list(data_dir.rglob("*.parquet"))) == 3  # the files only expired snapshots used are gone
    assert scan(lake, "events", "event_id", "ingest_seq", "properties") == before
    assert len(scan(lake, "profiles", "profile_id")) == 30
    node.add_events(7)
    assert node.exporter.export().events == 7  # the watermark outlived its snapshots
    assert duckdb_count(lake, "events") == (307, 307)


def test_lake_config_problems_name_their_keys(tmp_path):
    cfg = write_config(tmp_path, lake={"catalog": "mysql://x@db/lake", "warehouse": "gs://bucket/x", "every": "0s",
                                       "node": "a b", "s3": {"endpoint": "db:9000"}})
    result = inlet("validate", config=cfg)
    assert result.returncode == 1
    for key in ("lake.catalog", "lake.warehouse", "lake.every", "lake.node", "lake.s3.endpoint"):
        assert key in result.stderr, result.stderr
    cfg = write_config(tmp_path, lake={"catalog": "postgresql://inlet@db/lake", "warehouse": "x"})
    assert "name the driver inlet ships: postgresql+psycopg://" in inlet("validate", config=cfg).stderr


def test_lake_export_errors_name_the_key_and_hide_the_password(tmp_path):
    unreachable = write_config(tmp_path, lake={"catalog": "postgresql+psycopg://inlet:hunter2@127.0.0.1:9/lake",
                                               "warehouse": "lake"})
    result = inlet("lake", "export", config=unreachable)
    assert result.returncode == 1
    assert result.stderr.startswith("inlet: lake export failed: lake.catalog: cannot open the catalog "
                                    "postgresql+psycopg://inlet:***@127.0.0.1:9/lake")
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "a-file").write_text("")
    unwritable = write_config(tmp_path, lake={"catalog": "sqlite:///catalog.db", "warehouse": "a-file/lake"})
    result = inlet("lake", "export", config=unwritable)
    assert result.returncode == 1 and "lake.warehouse: cannot make the directory" in result.stderr
    assert "Traceback" not in result.stderr
    result = inlet("lake", "export", config=write_config(tmp_path))
    assert result.returncode == 1 and "the config has no `lake:` section" in result.stderr


def test_housekeeping_keeps_at_most_max_snapshots_whatever_their_age(tmp_path, monkeypatch):
    monkeypatch.setattr(housekeeping, "MAX_SNAPSHOTS", 4)
    node = Node(tmp_path / "a.duckdb", lake_config(tmp_path, keep_snapshots="1d"))
    for _ in range(10):
        node.add_events(5)
        node.exporter.export()
    assert housekeeping.due(node.lake)  # more than twice the cap: due before compact_every
    housekeeping.expire(node.lake, EVENTS, datetime.now(UTC) - timedelta(days=1))
    assert len(node.lake.refresh("events").snapshots()) == 4
    assert not housekeeping.due(node.lake)
    assert duckdb_count(node.lake, "events") == (50, 50)


def test_a_table_dropped_from_the_lake_is_made_again_and_gets_every_row(tmp_path):
    config = lake_config(tmp_path)
    node = Node(tmp_path / "a.duckdb", config)
    fill_latest_state(node.con)
    node.exporter.export()
    node.lake.catalog.drop_table(("inlet", "records"))
    with pytest.raises(LakeError, match=r"lake\.catalog: the table inlet\.records is gone"):
        node.exporter.export()
    node.lake = open_lake(config)  # as `inlet serve` does after a failed export: the lake opened again
    assert node.new_exporter().export().upserted == {"records": 80}
    assert duckdb_count(node.lake, "records") == (80, 80)
    assert node.con.execute("SELECT count(DISTINCT lake_table) FROM lake_rows").fetchone()[0] == 4  # old digests gone
    # (records, profiles, identities, profile_attributes: the store has no merges)
