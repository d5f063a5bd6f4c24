"""Opening the store file: schema creation and upgrade, and errors a user can act on.

DuckDB lets one process open a file read-write, or any number read-only, never both at once. The server
holds it read-write; other processes reach the data through the server's control socket instead.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from engine.store.files import private_dir, private_file, private_umask
from engine.store.schema import MIGRATIONS

LATEST_VERSION = len(MIGRATIONS)
log = logging.getLogger("inlet.store")


class StoreError(Exception):
    """A store that cannot be used as asked; the message says why and what to do."""


class StoreLockedError(StoreError):
    pass


class StoreMissingError(StoreError):
    pass


class StoreVersionError(StoreError):
    pass


# DuckDB folds its WAL into the file once the WAL passes this size. At its default (16 MB) a sync writing a
# hundred thousand objects spent about half its store time in checkpoints; 32 MB costs no more time than 64 MB
# did (bench/pull.py), and the checkpoint when the store closes, and a restart's replay after a crash, are smaller.
# In `inlet serve`, 8 MB doubled the collect path's p99 latency (bench/collect.py): checkpoints came four times
# as often on the core that answers requests.
CHECKPOINT_THRESHOLD = "32MB"
# A process that holds the store only to sync (`inlet sync` with no server) folds in every 8 MB instead: data not
# yet folded in stays in memory, and a first sync of 100,000 Stripe customers peaked ~17 MB lower for ~3% more
# time. Its statements are small and one at a time, where DuckDB's worker threads gave no speed and ~40 MB more
# peak memory: one thread (an `inlet sql` that process answers meanwhile runs on one thread too).
SYNC_ONLY_SETTINGS = ("SET checkpoint_threshold = '8MB'", "SET threads = 1")
# DuckDB's own memory in the process that holds the store (its default is 80 % of the machine's RAM, which it
# fills with cached blocks). Queries that need more spill to `<store>.tmp`. `store.memory_limit` overrides it.
# Lower limits barely lower a sync's peak RSS any more (96 MB: ~15 MB less), and at 96 MB a first sync of 13,000
# HubSpot contacts (~2.7 KB each) ran out of memory inserting 3,200 of them in one transaction.
DEFAULT_MEMORY_LIMIT = "256MB"
# Rows per row group in the file (DuckDB's default: 122,880). A transaction that appends whole row groups has DuckDB
# compress and write them to the file as they fill ("optimistic writes") and skip the write-ahead log for them;
# below that size, every row went into the WAL at commit and was read back and compressed again at the next
# checkpoint, whose cost grew with the row group it kept rewriting. A sync transaction holds up to 64 pages (6,400
# Stripe objects): at 4,096, the store writer's thread spent 0.35-0.5 s less of a first sync of 100,000 customers
# (1.1-1.5 s instead of 1.7-2.3 s, four pairs of runs on one core) and the sync's peak RSS fell by ~40 MB. Analysts'
# queries over a million events ran as fast (grouping, time ranges, JSON filters; bench figures in BENCHMARKS.md),
# in a file ~10% larger. It applies to what is written from now on; row groups written before keep their size.
ROW_GROUP_SIZE = 4096
_RESERVED_CATALOGS = ("memory", "system", "temp", "main")
# The store needs no extension beyond those built into DuckDB's Python package (json, parquet, icu), and its
# connections never fetch or load one: a query naming a function or type of another extension fails instead
# of making the process download code (`inlet sql` runs analysts' queries on these connections).
NO_EXTENSION_LOADING = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def open_store(
    path: Path, *, read_only: bool = False, migrations: tuple[str, ...] = MIGRATIONS,
    memory_limit: str = DEFAULT_MEMORY_LIMIT, external_access: bool = True,
) -> duckdb.DuckDBPyConnection:
    """A connection to the store at `path`. Read-write, the file is attached with small row groups (see
    ROW_GROUP_SIZE) under its stem's name and made the default catalog; a cursor of it needs `store_cursor`.
    A read-only connection with `external_access=False` can read no other file, URL or environment variable
    (DuckDB's enable_external_access; snapshots need it on, to attach their target file)."""
    path = Path(path)
    if read_only and not path.exists():
        raise StoreMissingError(f"no store at {path} yet: `inlet serve` creates it")
    if not read_only:
        private_umask()  # DuckDB creates the WAL and spill files itself, later: the owner's only
        if not path.parent.is_dir():
            private_dir(path.parent)
    try:
        # without ICU, DuckDB keeps TIMESTAMPTZ in UTC
        con = _read_only(path, external_access) if read_only else _attach(path)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreLockedError(
                f"the store {path} is open in another process that did not answer on its control socket: {exc}"
            ) from None
        raise StoreError(f"cannot open the store {path}: {exc}") from None
    if not read_only:  # files an older inlet left readable by others
        for own in (path, Path(f"{path}.wal")):
            private_file(own)
        if Path(f"{path}.tmp").is_dir():
            private_dir(Path(f"{path}.tmp"))
    try:
        _upgrade(con, path, read_only, migrations)
        if not read_only:
            con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
            con.execute(f"SET memory_limit = '{memory_limit}'")
    except BaseException:
        con.close()
        raise
    return con


def _read_only(path: Path, external_access: bool) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=True,
                          config={**NO_EXTENSION_LOADING, "enable_external_access": external_access})


def _attach(path: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the store file attached read-write and in use: DuckDB takes a row group size
    only from ATTACH. The catalog keeps the name a plain `duckdb.connect(path)` would give it (the file's stem)."""
    name = path.stem if path.stem.lower() not in _RESERVED_CATALOGS else f"{path.stem}_store"
    quoted, ident = str(path).replace("'", "''"), _ident(name)
    con = duckdb.connect(config=NO_EXTENSION_LOADING)
    try:
        con.execute(f"ATTACH '{quoted}' AS {ident} (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
        con.execute(f"USE {ident}")
        con.execute(f"SET temp_directory = '{quoted}.tmp'")  # where a file-backed connection spills by default
    except BaseException:
        con.close()
        raise
    return con


def store_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor of the store connection `con` (a connection of its own, for another thread) using the store's
    catalog, as `con` does: a new cursor of an attached store starts in DuckDB's in-memory catalog."""
    cur = con.cursor()
    try:
        name = cur.execute("SELECT database_name FROM duckdb_databases() WHERE path IS NOT NULL").fetchone()[0]
        cur.execute(f"USE {_ident(name)}")
    except BaseException:
        cur.close()
        raise
    return cur


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def tune_for_sync_only(con: duckdb.DuckDBPyConnection) -> None:
    """Settings for a process that holds the store only to run syncs (see SYNC_ONLY_SETTINGS)."""
    for setting in SYNC_ONLY_SETTINGS:
        con.execute(setting)


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version' AND table_schema = 'main'"
    ).fetchone()[0]
    if not exists:
        return 0
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def _upgrade(con, path: Path, read_only: bool, migrations: tuple[str, ...]) -> None:
    version, latest = schema_version(con), len(migrations)
    if version > latest:
        raise StoreVersionError(
            f"the store {path} has schema version {version}, newer than this inlet knows ({latest}): "
            "upgrade inlet, or open a store made by this version"
        )
    if version == latest:
        return
    if read_only:
        raise StoreVersionError(
            f"the store {path} has schema version {version} and needs upgrading to {latest}: "
            "start `inlet serve` once to upgrade it"
        )
    if version:  # a store with data: some upgrades rewrite whole tables (version 6: records and events)
        log.warning("upgrading the store %s from schema version %d to %d; on a large store this takes a while "
                    "(about 1.5 s per million records and events on two cores)", path, version, latest)
    con.execute("BEGIN")
    try:
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        for number in range(version + 1, latest + 1):
            con.execute(migrations[number - 1])
            con.execute("INSERT INTO schema_version VALUES (?, now())", [number])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
