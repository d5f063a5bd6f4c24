"""Mirroring the configured sources into the `sources` table (without secrets) when the server starts or
reloads its config."""

from __future__ import annotations

import duckdb

from engine.config import Config, public_settings
from engine.jsonio import dumps


def mirror_sources(con: duckdb.DuckDBPyConnection, config: Config, *, own_transaction: bool = True) -> None:
    """Upsert every configured source; mark the ones no longer configured as removed (their events stay).
    `own_transaction=False` when the caller holds one (a store-writer job)."""
    if not own_transaction:
        _mirror(con, config)
        return
    con.execute("BEGIN")
    try:
        _mirror(con, config)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _mirror(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    for s in config.sources:
        settings = {k: v for k, v in public_settings(s).items()
                    if k not in ("id", "name", "description", "channel", "bridge", "enabled")}
        con.execute(
            """INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, now(), NULL)
               ON CONFLICT (source_id) DO UPDATE SET name = excluded.name, description = excluded.description,
                 channel = excluded.channel, bridge = excluded.bridge, enabled = excluded.enabled,
                 settings = excluded.settings, updated_at = excluded.updated_at, removed_at = NULL""",
            [s.id, s.name, s.description, s.channel, s.bridge, s.enabled, dumps(settings)],
        )
    ids = [s.id for s in config.sources]
    con.execute(
        "UPDATE sources SET removed_at = now() WHERE removed_at IS NULL AND NOT list_contains(?, source_id)",
        [ids],
    )
