"""Time-ordered ids (UUIDv7): event ids sort by arrival, which keeps DuckDB's min/max indexes useful."""

import uuid_utils


def new_id() -> str:
    return str(uuid_utils.uuid7())
