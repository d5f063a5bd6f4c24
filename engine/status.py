"""What `inlet status` and `GET /status` show: every configured source with its store counts."""

from __future__ import annotations

from collections.abc import Callable

from engine.config import Config, PullSource
from engine.scheduler.plan import describe_schedules, planned_jobs

# From the hourly counts the store keeps with the rows (engine/store/rollups.py), not from `events` and
# `rejections` themselves: the same answer at any store size. A rejection may stand for many refused requests.
COUNTS_SQL = """
SELECT source_id, sum(events) AS events, max(last_event_at) AS last_event_at, sum(rejections) AS rejections,
       sum(refused_violations) AS refused_violations, sum(throttled) AS throttled, sum(warned) AS warned
FROM (
    SELECT source_id, sum(events) AS events, max(last_received_at) AS last_event_at, 0 AS rejections,
           0 AS refused_violations, 0 AS throttled, sum(warned) AS warned
    FROM event_hours GROUP BY source_id
    UNION ALL
    SELECT source_id, 0, NULL, sum(requests), sum(requests) FILTER (WHERE reason IN ('schema_violation',
           'unknown_event_type')), sum(requests) FILTER (WHERE reason = 'rate_limited'), 0
    FROM rejection_hours GROUP BY source_id
) GROUP BY source_id
"""

RECORDS_SQL = """
SELECT source_id, count(*) FILTER (NOT deleted) AS records FROM records GROUP BY source_id
"""

# The newest run of each source (that started; skipped slots only when nothing else ran), with the outcome of
# all its objects (failed if any failed), when it ended, what it read and changed, and its first error.
RUNS_SQL = """
SELECT source_id, min(started_at) AS started_at,
       CASE WHEN bool_or(status = 'running') THEN 'running' WHEN bool_or(status = 'failed') THEN 'failed'
            WHEN bool_and(status = 'skipped') THEN 'skipped' ELSE 'succeeded' END AS outcome,
       CASE WHEN bool_or(status = 'running') THEN NULL ELSE max(finished_at) END AS finished_at,
       sum(records_read) AS records_read, sum(records_changed) AS records_changed,
       first(error ORDER BY started_at) FILTER (WHERE error IS NOT NULL) AS error
FROM sync_runs
WHERE (source_id, run_id) IN (
    -- a slot skipped while a run went on says less than that run: the newest run that did start, if any
    SELECT source_id, coalesce(arg_max(run_id, started_at) FILTER (WHERE status <> 'skipped'),
                               arg_max(run_id, started_at))
    FROM sync_runs GROUP BY source_id)
GROUP BY source_id
"""

COLUMNS = ["source_id", "name", "bridge", "channel", "enabled", "events", "last_event_at", "rejections",
           "schema_violations", "throttled", "records", "schedule", "last_sync_at", "last_sync",
           "last_sync_finished_at", "last_sync_read", "last_sync_changed", "last_sync_error", "next_sync_at"]
TABLE_COLUMNS = ["source_id", "bridge", "enabled", "schedule", "events", "records", "last_sync_at", "last_sync",
                 "last_sync_changed", "next_sync_at", "last_sync_error"]


def status_rows(config: Config, query: Callable[[str], list[list]], *, schedules: dict[str, str] | None = None,
                next_runs: dict[str, str] | None = None) -> list[dict]:
    """One row per configured source. `query` runs SQL and returns JSON-ready rows (socket or file).
    `schedules` and `next_runs` (ISO) come from the running scheduler; without one, the schedules are read
    from the config and no run is next."""
    if schedules is None:
        schedules = describe_schedules(planned_jobs(config))
    next_runs = next_runs or {}
    counts = {r[0]: r for r in query(COUNTS_SQL)}
    records = {r[0]: r[1] for r in query(RECORDS_SQL)}
    runs = {r[0]: r for r in query(RUNS_SQL)}
    checked = {s.id for s in config.sources if getattr(s, "schemas", None) is not None}
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
                "schema_violations": (int(c[4] or 0) + (int(c[6] or 0) if s.id in checked else 0)) if c else 0,
                "throttled": int(c[5] or 0) if c else 0,
                "records": int(records.get(s.id, 0)),
                "schedule": schedules.get(s.id) or ("manual" if isinstance(s, PullSource) else None),
                "last_sync_at": run[1] if (run := runs.get(s.id)) else None,
                "last_sync": run[2] if run else None,
                "last_sync_finished_at": run[3] if run else None,
                "last_sync_read": int(run[4]) if run and run[4] is not None else None,
                "last_sync_changed": int(run[5]) if run and run[5] is not None else None,
                "last_sync_error": run[6] if run else None,
                "next_sync_at": next_runs.get(s.id),
            }
        )
    return rows


def store_warnings(health: dict) -> list[str]:
    """What of the store's intake needs a person (StoreWriter.health, or the file's spool without a server)."""
    warnings = [f"the spool is damaged: {what}" for what in health.get("spool_damage", ())]
    if health.get("damaged_segments"):
        warnings.append(f"{len(health['damaged_segments'])} damaged spool segment(s) kept in {health['damaged_dir']}")
    if health.get("quarantined_rows"):
        warnings.append(f"{health['quarantined_rows']} row(s) the store refused are kept in "
                        f"{health['quarantine_file']}")
    if health.get("last_error"):
        warnings.append(f"the store is not taking in acknowledged events: {health['last_error']}")
    if health.get("rejections_lost"):
        warnings.append(f"{health['rejections_lost']} refusal(s) could not be recorded in rejections (see the log)")
    return warnings
