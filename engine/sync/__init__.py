"""The sync runner: connectors' pages into `records`, `events`, `sync_state` and `sync_runs`."""
