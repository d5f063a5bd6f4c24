"""`inlet sql` runs one read-only query over the store's tables and views, and nothing else: no files, URLs,
environment, settings, checkpoints or extensions. Checked on both of its paths (a server's connection in a
read-only transaction; the file opened read-only when no server runs), through the control socket and the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from engine.server.control import ask, socket_path
from engine.store import open_store, store_cursor
from engine.store.query_guard import QueryRefused, check_query
from engine.store.reader import QueryError, run_query
from tests.conftest import inlet, write_config

SECRET = "s3cret-" + os.urandom(6).hex()
FILES = "reads files (or URLs) and is not allowed"
NOT_A_TABLE = "is not one of the store's tables or views"


def refused_cases(secret_dir: Path) -> list[tuple[str, str]]:
    """(query, what the refusal says) for every way out of the store that `inlet sql` once allowed."""
    secret, csv = secret_dir / "secret.txt", secret_dir / "secret.csv"
    return [
        (f"SELECT * FROM read_text('{secret}')", f"read_text() {FILES}"),
        ("SELECT * FROM read_text('/etc/shadow')", f"read_text() {FILES}"),
        (f"SELECT content FROM read_text('{secret}')", f"read_text() {FILES}"),
        (f"SELECT read_text('{secret}')", f"read_text() {FILES}"),
        (f"SELECT * FROM read_csv('{csv}')", f"read_csv() {FILES}"),
        (f"SELECT * FROM '{csv}'", NOT_A_TABLE),
        (f"DESCRIBE '{csv}'", NOT_A_TABLE),
        (f"SELECT * FROM glob('{secret_dir}/*')", f"glob() {FILES}"),
        ("SELECT * FROM glob('/root/*')", f"glob() {FILES}"),
        ("SELECT * FROM read_text('http://127.0.0.1:9/x')", f"read_text() {FILES}"),
        ("SELECT getenv('HOME')", "getenv() reads the server's environment"),
        ("SELECT current_setting('temp_directory')", "current_setting() reads the server's settings"),
        ("SELECT * FROM duckdb_settings()", "the table function duckdb_settings() is not allowed"),
        ("SELECT * FROM query('SELECT 1')", "query() runs other SQL"),
        ("SELECT * FROM duckdb_tables", NOT_A_TABLE),
        ("CALL enable_logging()", "a CALL statement is not allowed"),
        ("SELECT * FROM enable_logging()", "enable_logging() is not allowed"),
        ("PRAGMA enable_profiling", "a PRAGMA statement is not allowed"),
        ("PRAGMA disable_checkpoint_on_shutdown", "a PRAGMA statement is not allowed"),
        ("CHECKPOINT", "a CALL statement is not allowed"),
        ("VACUUM", "a VACUUM statement is not allowed"),
        ("SET threads = 1", "a SET statement is not allowed"),
        ("CREATE SECRET (TYPE s3)", "a CREATE statement is not allowed"),
        ("INSTALL httpfs", "a LOAD statement is not allowed"),
        ("LOAD httpfs", "a LOAD statement is not allowed"),
        (f"ATTACH '{secret_dir}/other.duckdb' AS other", "an ATTACH statement is not allowed"),
        (f"COPY events TO '{secret_dir}/out.csv'", "a COPY statement is not allowed"),
        (f"EXPORT DATABASE '{secret_dir}/export'", "an EXPORT statement is not allowed"),
        # a name that is a CTE in one scope and a file in another
        (f"(WITH \"{csv}\" AS (SELECT 1 AS a) SELECT * FROM \"{csv}\") UNION ALL SELECT * FROM \"{csv}\"",
         NOT_A_TABLE),
        (f"WITH a AS (SELECT * FROM \"{csv}\"), \"{csv}\" AS (SELECT 1 AS a) SELECT * FROM a", NOT_A_TABLE),
    ]


GOOD = [
    ("SELECT source_id, count(*) AS n FROM events GROUP BY 1 ORDER BY 1", [("app", 1), ("website", 2)]),
    ("SELECT e.event_type, p.attributes->>'$.plan' FROM events e JOIN profiles p USING (profile_id) "
     "ORDER BY e.event_type", [("page", "pro"), ("signup", "pro")]),
    ("WITH recent AS (SELECT * FROM events WHERE source_id = 'website') SELECT count(*) FROM Recent", [(2,)]),
    ("SELECT event_type, row_number() OVER (PARTITION BY source_id ORDER BY occurred_at) FROM events "
     "ORDER BY source_id, 2", [("buy", 1), ("page", 1), ("signup", 2)]),
    ("SELECT json_extract(properties, '$.n')::INT, properties->>'$.tag' FROM events ORDER BY 1",
     [(1, "a"), (2, "b"), (3, "c")]),
    ("SELECT source_id FROM events UNION SELECT 'none' ORDER BY 1", [("app",), ("none",), ("website",)]),
    ("SELECT count(*) FROM events WHERE profile_id IN (SELECT profile_id FROM profiles) "
     "AND EXISTS (SELECT 1 FROM sync_runs WHERE false) IS FALSE", [(2,)]),
    ("SELECT count(*) FROM main.events", [(3,)]),
    ("FROM events SELECT count(*) FILTER (WHERE source_id = 'app')", [(1,)]),
    ("SELECT sum(x) FROM range(4) t(x)", [(6,)]),
    ("SELECT unnest([1, 2])", [(1,), (2,)]),
    ("SELECT count(*) FROM events, json_each(events.properties)", [(6,)]),
    ("WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT max(n) FROM r", [(3,)]),
    ("SELECT count(*) FROM information_schema.columns WHERE table_name = 'events'", [(10,)]),
    ("SELECT column_name FROM (DESCRIBE events) LIMIT 1", [("event_id",)]),
]


def fill(con) -> None:
    con.execute("""
        INSERT INTO profiles VALUES ('00000000-0000-7000-8000-000000000001', '{"plan": "pro"}', now(), now());
        INSERT INTO events VALUES
          (uuid(), 'website', 'page', '2024-01-01', now(), '00000000-0000-7000-8000-000000000001', 's1',
           '{"n": 1, "tag": "a"}', '{}', DEFAULT),
          (uuid(), 'website', 'signup', '2024-01-02', now(), '00000000-0000-7000-8000-000000000001', 's1',
           '{"n": 2, "tag": "b"}', '{}', DEFAULT),
          (uuid(), 'app', 'buy', '2024-01-03', now(), NULL, NULL, '{"n": 3, "tag": "c"}', '{}', DEFAULT);
    """)


@pytest.fixture(scope="module")
def secret_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("secrets")
    (directory / "secret.txt").write_text(SECRET)
    (directory / "secret.csv").write_text(f"a\n{SECRET}\n")
    return directory


@pytest.fixture(scope="module")
def served_con(tmp_path_factory):
    """The store as the server holds it (read-write; `inlet sql` in a read-only transaction of a cursor)."""
    con = open_store(tmp_path_factory.mktemp("served") / "inlet.duckdb")
    fill(con)
    yield con
    con.close()


@pytest.fixture(scope="module")
def file_con(tmp_path_factory):
    """The store as `inlet sql` opens it when no server runs."""
    path = tmp_path_factory.mktemp("file") / "inlet.duckdb"
    con = open_store(path)
    fill(con)
    con.close()
    con = open_store(path, read_only=True, external_access=False)
    yield con
    con.close()


def query(con, sql: str, *, in_transaction: bool) -> list[tuple]:
    cur = store_cursor(con)
    try:
        q = run_query(cur, sql, in_transaction=in_transaction)
        return [tuple(row) for rows in q.chunks for row in rows]
    finally:
        cur.close()


@pytest.mark.parametrize("served", [True, False], ids=["server", "file"])
def test_every_way_out_of_the_store_is_refused_with_what_is_not_allowed(served, served_con, file_con, secret_dir):
    con = served_con if served else file_con
    for sql, message in refused_cases(secret_dir):
        with pytest.raises(QueryError) as refused:
            query(con, sql, in_transaction=served)
        assert message in str(refused.value), (sql, str(refused.value))
        assert SECRET not in str(refused.value)
    assert not (secret_dir / "out.csv").exists() and not (secret_dir / "other.duckdb").exists()
    settings = con.execute("SELECT current_setting('enable_logging'), current_setting('enable_profiling')")
    assert settings.fetchone() == (0, None)  # CALL enable_logging() and PRAGMA enable_profiling did not run


@pytest.mark.parametrize("served", [True, False], ids=["server", "file"])
@pytest.mark.parametrize(("sql", "rows"), GOOD, ids=[sql[:40] for sql, _ in GOOD])
def test_analysts_queries_still_run(served, served_con, file_con, sql, rows):
    assert query(served_con if served else file_con, sql, in_transaction=served) == rows


@pytest.mark.parametrize("sql", ["DESCRIBE events", "SHOW events", "SUMMARIZE events", "SHOW TABLES",
                                 "SHOW ALL TABLES", "DESCRIBE SELECT * FROM profiles", "DESCRIBE profile_events",
                                 "PIVOT events ON source_id IN ('app', 'website') USING count(*)"])
def test_describe_show_summarize_and_pivot_of_the_stores_tables_and_views_run(served_con, sql):
    assert query(served_con, sql, in_transaction=True)


def test_the_guard_decides_from_duckdbs_parse_not_from_keywords(served_con):
    cur = store_cursor(served_con)
    try:
        check_query(cur, "SELECT 'read_text(''/etc/shadow'')', 'PRAGMA x' AS \"glob\" FROM events")  # mere text
        check_query(cur, "SELECT repeat('ab', 2)")  # a scalar function that shares a table function's name
        with pytest.raises(QueryRefused, match="exactly one SQL statement"):
            check_query(cur, "SELECT 1; SELECT 2")
        with pytest.raises(QueryRefused, match="an EXPLAIN statement"):
            check_query(cur, "EXPLAIN ANALYZE SELECT * FROM events")
        with pytest.raises(QueryRefused, match=r"'memory\.main\.t' is not one of"):
            check_query(cur, "SELECT * FROM memory.main.t")
        with pytest.raises(QueryRefused, match=r"nextval\(\) changes a sequence"):
            check_query(cur, "SELECT NEXTVAL('s')")
        with pytest.raises(QueryRefused, match="'c' is not one of"):  # a CTE of a subquery is not in scope outside it
            check_query(cur, "SELECT * FROM (WITH c AS (SELECT 1) SELECT * FROM c), c")
    finally:
        cur.close()


def test_the_stores_connections_never_install_or_load_extensions(served_con, file_con, secret_dir):
    settings = ("SELECT current_setting('autoinstall_known_extensions'), current_setting('autoload_known_extensions'),"
                " current_setting('enable_external_access')")
    cur = store_cursor(served_con)
    try:
        assert cur.execute(settings).fetchone() == (False, False, True)  # the server attaches snapshots' files
    finally:
        cur.close()
    assert file_con.execute(settings).fetchone() == (False, False, False)
    with pytest.raises(duckdb.PermissionException):  # without a server, DuckDB itself refuses too
        file_con.execute(f"SELECT * FROM read_text('{secret_dir / 'secret.txt'}')")


def test_refused_through_the_control_socket_and_the_server_is_unchanged(server, secret_dir):
    """The control socket of a real server (the path `inlet sql` takes while `inlet serve` runs)."""
    sock = socket_path(server.config.store.path)
    for sql, message in refused_cases(secret_dir):
        answers = list(ask(sock, {"op": "sql", "query": sql}))
        assert len(answers) == 1 and message in answers[0].get("error", ""), (sql, answers)
        assert SECRET not in str(answers)
    assert server.sql("SELECT current_setting('enable_logging'), current_setting('autoload_known_extensions')") == \
        [(0, False)]
    answers = list(ask(sock, {"op": "sql", "query": "SELECT count(*) FROM events"}))
    assert answers[-1] == {"end": True} and answers[1] == {"rows": [[0]]}


def test_the_cli_refuses_with_a_clear_message_and_exit_1_with_and_without_a_server(server, config_path, secret_dir,
                                                                                  tmp_path):
    (tmp_path / "offline").mkdir()
    offline = write_config(tmp_path / "offline")
    open_store(offline.parent / "inlet.duckdb").close()
    for config in (config_path, offline):
        result = inlet("sql", f"SELECT * FROM read_text('{secret_dir / 'secret.txt'}')", config=config)
        assert result.returncode == 1, result
        assert "inlet sql only reads the store's tables: read_text() reads files (or URLs) and is not allowed" \
            in result.stderr
        assert SECRET not in result.stdout + result.stderr and "Traceback" not in result.stderr
        good = inlet("sql", "SELECT count(*) AS n FROM events", "--format", "csv", config=config, check=True)
        assert good.stdout.split() == ["n", "0"]
