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

RECORDS_SQL = """
SELECT source_id, count(*) FILTER (NOT deleted) AS records FROM records GROUP BY source_id
"""

# The newest run of each source, with the outcome of all its objects (failed if any failed).
RUNS_SQL = """
SELECT source_id, max(started_at) AS started_at,
       CASE WHEN bool_or(status = 'running') THEN 'running' WHEN bool_or(status = 'failed') THEN 'failed'
            WHEN bool_and(status = 'skipped') THEN 'skipped' ELSE 'succeeded' END AS outcome
FROM sync_runs
WHERE (source_id, run_id) IN (SELECT source_id, arg_max(run_id, started_at) FROM sync_runs GROUP BY source_id)
GROUP BY source_id
"""

COLUMNS = ["source_id", "name", "bridge", "channel", "enabled", "events", "last_event_at", "rejections", "records",
           "last_sync_at", "last_sync"]


def status_rows(config: Config, query: Callable[[str], list[list]]) -> list[dict]:
    """One row per configured source. `query` runs SQL and returns JSON-ready rows (socket or file)."""
    counts = {r[0]: r for r in query(COUNTS_SQL)}
    records = {r[0]: r[1] for r in query(RECORDS_SQL)}
    runs = {r[0]: r for r in query(RUNS_SQL)}
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
                "records": int(records.get(s.id, 0)),
                "last_sync_at": runs[s.id][1] if s.id in runs else None,
                "last_sync": runs[s.id][2] if s.id in runs else None,
            }
        )
    return rows
