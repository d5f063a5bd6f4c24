"""The real CLI against a real `inlet serve` process, and against the file when no server runs."""

from __future__ import annotations

import csv
import io
import json
import signal
import threading
import time

import duckdb
import httpx
import pytest

from engine.server.control import socket_path
from engine.store import store_cursor
from tests.conftest import ServeProcess, inlet, write_config
from tests.stores import store


def send(url: str, n: int, source: str = "website", session: str | None = "s1") -> list[dict]:
    with httpx.Client(base_url=url) as client:
        path = f"/collect/page-view/{source}" + (f"/{session}" if session else "")
        return [client.post(path, json={"n": i, "tags": ["a", "b"], "ok": True}).json() for i in range(n)]


@pytest.fixture
def serving(serve_process):
    proc = serve_process()
    send(proc.url, 3)
    return proc


@pytest.fixture(scope="module")
def served_store(tmp_path_factory):
    """A running `inlet serve` holding 2 events, for the cases that only read (or are refused)."""
    proc = ServeProcess(write_config(tmp_path_factory.mktemp("served"))).start()
    try:
        send(proc.url, 2)
        yield proc
    finally:
        proc.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def offline_store(tmp_path_factory):
    """A store holding 2 events that no server holds any more."""
    proc = ServeProcess(write_config(tmp_path_factory.mktemp("offline"))).start()
    try:
        send(proc.url, 2)
    finally:
        assert proc.stop() == 0
    return proc.config_path


def test_sql_while_serving_prints_table_csv_and_json(serving):
    cfg = serving.config_path
    table = inlet("sql", "SELECT source_id, count(*) AS n FROM events GROUP BY 1", config=cfg, check=True).stdout
    assert table.splitlines() == ["source_id  n", "---------  -", "website    3", "(1 row)"]

    out = inlet("sql", "SELECT event_type, properties, received_at FROM events ORDER BY event_id",
                "--format", "csv", config=cfg, check=True).stdout
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["event_type", "properties", "received_at"] and len(rows) == 4
    assert json.loads(rows[1][1]) == {"n": 0, "tags": ["a", "b"], "ok": True}
    assert rows[1][2].endswith("+00:00")

    data = json.loads(inlet("sql", "SELECT event_id, properties, context, received_at, profile_id FROM events "
                            "ORDER BY event_id", "--format", "json", config=cfg, check=True).stdout)
    assert len(data) == 3
    assert data[0]["properties"] == {"n": 0, "tags": ["a", "b"], "ok": True}  # JSON columns as JSON
    assert data[0]["context"]["ip"] == "127.0.0.1"
    assert data[0]["received_at"].endswith("+00:00") and "T" in data[0]["received_at"]
    assert len({d["profile_id"] for d in data}) == 1
    empty = inlet("sql", "SELECT * FROM events WHERE false", "--format", "json", config=cfg, check=True).stdout
    assert json.loads(empty) == []


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("INSERT INTO events (event_id) VALUES (uuid())", "only reads the store"),
        ("DELETE FROM events", "only reads the store"),
        ("DROP TABLE events", "only reads the store"),
        ("CREATE TABLE x (a INT)", "only reads the store"),
        ("UPDATE profiles SET attributes = '{}'", "only reads the store"),
        ("COMMIT", "TRANSACTION statement is not allowed"),
        ("SELECT 1; DROP TABLE events", "exactly one SQL statement"),
        ("ATTACH '/tmp/x.duckdb' AS x", "ATTACH statement is not allowed"),
        ("COPY events TO '/tmp/out.csv'", "COPY statement is not allowed"),
        ("SELEC 1", "syntax error"),
    ],
)
def test_sql_refuses_writes_while_serving_and_without_a_server(served_store, offline_store, statement, message):
    # The two stores are shared by the cases: a write let through would show here and in every later case.
    result = inlet("sql", statement, config=served_store.config_path)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    sources = served_store.http.get("/status").json()["sources"]
    assert next(s for s in sources if s["source_id"] == "website")["events"] == 2
    result = inlet("sql", statement, config=offline_store)  # straight from the file, read-only
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert store(offline_store, "SELECT count(*) FROM events") == [(2,)]


def test_sql_sees_everything_acknowledged_while_the_server_is_under_load(serving):
    acked = [0]
    stop = threading.Event()

    def load():
        with httpx.Client(base_url=serving.url) as client:
            while not stop.is_set():
                if client.post("/collect/load/website", json={"x": 1}).status_code == 200:
                    acked[0] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(5):
            time.sleep(0.2)
            floor = acked[0]
            result = inlet("sql", "SELECT count(*) FROM events WHERE event_type = 'load'", "--format", "csv",
                           config=serving.config_path, check=True)
            assert int(result.stdout.splitlines()[1]) >= floor
        status = inlet("status", "--format", "json", config=serving.config_path, check=True)
        by_id = {row["source_id"]: row for row in json.loads(status.stdout)}
        assert by_id["website"]["events"] >= floor + 3
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert acked[0] > 50


def test_status_lists_every_source_with_counts_with_and_without_a_server(serving, tmp_path):
    cfg = serving.config_path
    httpx.get(f"{serving.url}/collect/x/legacy")
    table = inlet("status", config=cfg, check=True).stdout.splitlines()
    assert table[0].split() == ["source_id", "bridge", "enabled", "schedule", "events", "records", "last_sync_at",
                                "last_sync", "last_sync_changed", "next_sync_at", "last_sync_error"]
    assert [line.split()[0] for line in table[2:-1]] == ["website", "app", "legacy"]
    live = {r["source_id"]: r for r in json.loads(inlet("status", "--format", "json", config=cfg, check=True).stdout)}
    assert live["website"]["events"] == 3 and live["website"]["last_event_at"].endswith("+00:00")
    assert live["legacy"]["enabled"] is False and live["legacy"]["rejections"] == 1
    assert live["app"] == {"source_id": "app", "name": "Mobile app", "bridge": "webhook", "channel": "mobile",
                           "enabled": True, "events": 0, "last_event_at": None, "rejections": 0,
                           "schema_violations": 0, "throttled": 0, "records": 0,
                           "schedule": None, "last_sync_at": None, "last_sync": None, "last_sync_finished_at": None,
                           "last_sync_read": None, "last_sync_changed": None, "last_sync_error": None,
                           "next_sync_at": None}
    assert serving.stop() == 0
    offline = {r["source_id"]: r for r in json.loads(inlet("status", "--format", "json", config=cfg).stdout)}
    assert offline == live
    # before any server ran there is no store: status still lists the sources
    (tmp_path / "fresh").mkdir()
    fresh = json.loads(inlet("status", "--format", "json", config=write_config(tmp_path / "fresh")).stdout)
    assert [(r["source_id"], r["events"]) for r in fresh] == [("website", 0), ("app", 0), ("legacy", 0)]


def test_snapshot_while_serving_under_load_is_consistent_and_opens_in_duckdb(serving, tmp_path):
    stop = threading.Event()
    acked = [0]

    def load():
        with httpx.Client(base_url=serving.url) as client:
            while not stop.is_set():
                acked[0] += client.get("/collect/load/website/s9").status_code == 200

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(0.3)
        floor = acked[0]
        target = tmp_path / "analyst" / "copy.duckdb"
        out = inlet("snapshot", str(target), config=serving.config_path, check=True).stdout
        assert str(target) in out
        ceiling = acked[0] + 100
    finally:
        stop.set()
        worker.join()
    con = duckdb.connect(str(target), read_only=True)  # any DuckDB client can open it while the server runs
    events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    assert floor + 3 <= events <= ceiling + 3
    # consistent: every event's session is there, and the profile it points at
    assert con.execute("SELECT count(*) FROM events e LEFT JOIN sessions s USING (session_id) "
                       "WHERE e.session_id IS NOT NULL AND s.session_id IS NULL").fetchone()[0] == 0
    assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] >= 1
    con.close()
    assert not list(target.parent.glob(".*partial*"))
    assert inlet("snapshot", str(serving.config.store.path), config=serving.config_path).returncode == 1


def test_snapshot_without_a_server_and_on_a_schedule(serve_process, tmp_path):
    cfg = write_config(tmp_path, store={"snapshot": {"path": "snaps/latest.duckdb", "every": "1s"}})
    proc = serve_process(cfg)
    send(proc.url, 5)
    latest = tmp_path / "snaps" / "latest.duckdb"
    deadline = time.monotonic() + 20
    while not latest.exists():
        assert time.monotonic() < deadline, "no periodic snapshot appeared"
        time.sleep(0.1)
    time.sleep(1.5)  # a later snapshot has the events too
    con = duckdb.connect(str(latest), read_only=True)
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 5
    con.close()
    assert proc.stop() == 0
    target = tmp_path / "offline.duckdb"
    inlet("snapshot", str(target), config=cfg, check=True)
    assert duckdb.connect(str(target), read_only=True).execute("SELECT count(*) FROM events").fetchone()[0] == 5


def test_sigterm_exits_zero_and_a_second_server_on_the_same_store_is_refused(serve_process, tmp_path):
    cfg = write_config(tmp_path)
    proc = serve_process(cfg)
    (tmp_path / "other").mkdir()
    other = write_config(tmp_path / "other", store={"path": str(tmp_path / "inlet.duckdb")})
    second = inlet("serve", config=other, timeout=30)
    assert second.returncode == 1 and "already running" in second.stderr and "Traceback" not in second.stderr
    send(proc.url, 4)
    assert proc.stop(signal.SIGTERM) == 0
    assert not socket_path(proc.config.store.path).exists()
    assert "leaked" not in proc.log.read_text()  # DuckDB's objects were all freed before exit
    result = inlet("sql", "SELECT count(*) FROM events", "--format", "csv", config=cfg, check=True)
    assert result.stdout.splitlines()[1] == "4"
    proc2 = serve_process(cfg)
    assert proc2.stop(signal.SIGINT) == 0


async def test_events_left_in_the_spool_are_announced_and_taken_in_by_the_next_serve(serve_process, tmp_path):
    import asyncio

    from connectors.kit.ids import new_id
    from engine.config import load_config
    from engine.server.boot import build_state
    from engine.store import EventIn

    cfg = write_config(tmp_path)
    state = build_state(load_config(cfg))
    state.writer.start()
    store_cursor(state.con).execute("ALTER TABLE ingest_state RENAME TO moved")  # the store cannot take events in
    now = time.time_ns() // 1000
    answers = await asyncio.gather(*(state.writer.write(EventIn(new_id(), "website", "hit", now, now, "s", "{}", "{}"))
                                     for _ in range(20)))
    await asyncio.to_thread(state.writer.stop)  # gives up; the acknowledged events stay in the spool
    state.con.execute("ALTER TABLE moved RENAME TO ingest_state")
    state.con.close()

    offline = inlet("sql", "SELECT count(*) FROM events", "--format", "csv", config=cfg)
    assert offline.returncode == 0 and offline.stdout.splitlines()[1] == "0"
    assert "they are safe and go in when `inlet serve` starts again" in offline.stderr
    status = inlet("status", config=cfg)
    assert status.returncode == 0 and "These counts do not include them" in status.stderr

    proc = serve_process(cfg)
    rows = inlet("sql", "SELECT event_id FROM events", "--format", "csv", config=cfg, check=True).stdout.split()[1:]
    assert sorted(rows) == sorted(a.event_id for a in answers)
    assert proc.stop() == 0
    after = inlet("sql", "SELECT count(*) FROM events", "--format", "csv", config=cfg, check=True)
    assert after.stdout.splitlines()[1] == "20" and after.stderr == ""


def test_serve_on_a_port_in_use_fails_clearly(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = write_config(tmp_path, server={"port": port})
        result = inlet("serve", config=cfg, timeout=60)
    assert result.returncode == 1
    assert "address already in use" in result.stderr.lower()
    assert f"inlet serve could not start the HTTP server on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr and "leaked" not in result.stderr
    assert not socket_path(tmp_path / "inlet.duckdb").exists()  # nothing left behind


def test_the_control_socket_is_for_the_store_owner_only(serving):
    import os
    import stat

    sock = socket_path(serving.config.store.path)
    mode = os.stat(sock).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
