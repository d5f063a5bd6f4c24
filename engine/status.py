"""What `inlet status` and `GET /status` show: every configured source with its store counts."""

from __future__ import annotations

from collections.abc import Callable

from engine.config import Config

COUNTS_SQL = """
SELECT source_id, sum(events) AS events, max(last_event_at) AS last_event_at, sum(rejections) AS rejections
FROM (
    SELECT source_id, count(*) AS events, max(received_at) AS last_event_at, 0 AS rejections
    FROM events GROUP BY source_id
    UNION ALL
    SELECT source_id, 0, NULL, count(*) FROM rejections WHERE source_id IS NOT NULL GROUP BY source_id
) GROUP BY source_id
"""

COLUMNS = ["source_id", "name", "bridge", "channel", "enabled", "events", "last_event_at", "rejections"]


def status_rows(config: Config, query: Callable[[str], list[list]]) -> list[dict]:
    """One row per configured source. `query` runs SQL and returns JSON-ready rows (socket or file)."""
    counts = {r[0]: r for r in query(COUNTS_SQL)}
    rows = []
    for s in config.sources:
        c = counts.get(s.id)
        rows.append(
            {
                "source_id": s.id,
                "name": s.name,
                "bridge": s.bridge,
                "channel": s.channel,
                "enabled": s.enabled,
                "events": int(c[1]) if c else 0,
                "last_event_at": c[2] if c else None,
                "rejections": int(c[3]) if c else 0,
            }
        )
    return rows
