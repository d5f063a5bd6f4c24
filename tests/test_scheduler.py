"""The scheduler on a real APScheduler and event loop, with the sync service replaced by a stand-in whose runs
take as long as a test says: no overlap per source (skipped and logged instead), the concurrency limit,
catch-up at start, retries of passing failures only, and config changes applied by job id."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from engine.config import Config
from engine.scheduler import Scheduler
from engine.sync.runner import StreamResult, SyncResult


def config(*sources: dict, **scheduler) -> Config:
    return Config.model_validate({"sources": list(sources), "scheduler": scheduler})


def stripe(source_id: str, **schedule) -> dict:
    return {"id": source_id, "name": source_id, "channel": "billing", "bridge": "stripe", "api_key": "sk_test_x",
            "objects": ["customers"], "schedule": schedule}


class FakeSyncs:
    """Runs take `seconds[source]`; outcomes come from `outcomes[source]` (a list, one per run, else ok)."""

    def __init__(self, seconds: dict[str, float] | None = None) -> None:
        self.seconds = seconds or {}
        self.outcomes: dict[str, list[str]] = {}
        self.runs: list[tuple[str, float, float]] = []  # (source, start, end), monotonic: runs that ended
        self.started: list[tuple[str, float]] = []
        self.skips: list[tuple[str, str]] = []
        self.active: set[str] = set()
        self.most_at_once = 0

    def running(self, source_id: str) -> bool:
        return source_id in self.active

    async def record_skip(self, source, names, reason) -> None:
        self.skips.append((source.id, reason))

    async def sync(self, source_id: str, *, objects=None) -> SyncResult:
        assert source_id not in self.active, "two runs of one source at once"
        self.active.add(source_id)
        self.most_at_once = max(self.most_at_once, len(self.active))
        start = time.monotonic()
        self.started.append((source_id, start))
        await asyncio.sleep(self.seconds.get(source_id, 0.05))
        self.active.discard(source_id)
        self.runs.append((source_id, start, time.monotonic()))
        outcome = (self.outcomes.get(source_id) or ["ok"]).pop(0) if self.outcomes.get(source_id) else "ok"
        stream = StreamResult("customers", "customer", status="succeeded" if outcome == "ok" else "failed")
        stream.transient, stream.refused = outcome == "transient", outcome == "refused"
        return SyncResult(source_id, "run", [stream])

    def starts(self, source_id: str) -> list[float]:
        return [start for s, start in self.started if s == source_id]


def never_synced(source_id: str, types: list[str]):
    async def answer():
        return None
    return answer()


def synced_just_now(source_id: str, types: list[str]):
    async def answer():
        return datetime.now(UTC)
    return answer()


async def test_a_source_never_runs_twice_at_once_the_extra_slot_is_skipped_and_logged():
    syncs = FakeSyncs({"a": 2.5})
    scheduler = Scheduler(syncs, never_synced)
    await scheduler.start(config(stripe("a", every="1s")))
    await asyncio.sleep(4.6)
    scheduler.shutdown()
    assert len(syncs.starts("a")) == 2  # at start (never synced), then the first slot after it ended
    assert len(syncs.skips) >= 2 and all(s == "a" and "still going" in r for s, r in syncs.skips)


async def test_different_sources_run_at_once_up_to_the_limit():
    syncs = FakeSyncs({"a": 1.0, "b": 1.0, "c": 1.0})
    scheduler = Scheduler(syncs, never_synced)
    await scheduler.start(config(stripe("a", every="1h"), stripe("b", every="1h"), stripe("c", every="1h"),
                                 max_concurrent=2))
    await asyncio.sleep(2.6)
    scheduler.shutdown()
    assert sorted(s for s, _, _ in syncs.runs) == ["a", "b", "c"]  # each caught up once at start
    assert syncs.most_at_once == 2
    third = max(start for _, start, _ in syncs.runs)
    assert third - min(start for _, start, _ in syncs.runs) >= 0.9  # waited for a slot


async def test_only_missed_runs_are_caught_up_at_start_and_next_runs_are_reported():
    syncs = FakeSyncs()
    fresh = Scheduler(syncs, synced_just_now)
    await fresh.start(config(stripe("a", every="1h")))
    await asyncio.sleep(0.3)
    assert syncs.runs == []
    next_run = fresh.next_runs()["a"]
    assert timedelta(minutes=59) < next_run - datetime.now(UTC) <= timedelta(hours=1)
    assert fresh.schedules() == {"a": "every 1h"}
    fresh.shutdown()
    stale = Scheduler(syncs, never_synced)
    await stale.start(config(stripe("a", every="1h")))
    await asyncio.sleep(0.3)
    stale.shutdown()
    assert len(syncs.starts("a")) == 1


async def test_a_passing_failure_is_retried_with_backoff_a_refusal_is_not():
    syncs = FakeSyncs()
    syncs.outcomes = {"a": ["transient", "transient", "ok"], "b": ["refused"]}
    scheduler = Scheduler(syncs, never_synced)
    await scheduler.start(config(stripe("a", every="1h"), stripe("b", every="1h"), retries=3, retry_backoff=1))
    await asyncio.sleep(3.8)
    scheduler.shutdown()
    starts = syncs.starts("a")
    assert len(starts) == 3  # the catch-up run, then retries after 1 s and 2 s
    assert 0.9 <= starts[1] - starts[0] < 1.6 and 1.9 <= starts[2] - starts[1] < 2.6
    assert len(syncs.starts("b")) == 1


async def test_retries_are_bounded():
    syncs = FakeSyncs()
    syncs.outcomes = {"a": ["transient"] * 5}
    scheduler = Scheduler(syncs, never_synced)
    await scheduler.start(config(stripe("a", every="1h"), retries=1, retry_backoff=1))
    await asyncio.sleep(2.5)
    scheduler.shutdown()
    assert len(syncs.starts("a")) == 2


async def test_a_changed_config_is_applied_by_job_id_without_duplicates():
    syncs = FakeSyncs()
    scheduler = Scheduler(syncs, synced_just_now)
    first = config(stripe("a", every="1h"), stripe("b", every="1h"), stripe("c", cron="0 * * * *"))
    await scheduler.start(first)
    assert await scheduler.apply(first) == {"added": [], "removed": [], "changed": []}
    changes = await scheduler.apply(config(stripe("a", every="30m"), stripe("c", cron="0 * * * *"),
                                           stripe("d", every="1h")))
    assert changes == {"added": ["sync:d"], "removed": ["sync:b"], "changed": ["sync:a"]}
    assert sorted(j.id for j in scheduler._aps.get_jobs()) == ["sync:a", "sync:c", "sync:d"]
    assert scheduler.schedules()["a"] == "every 30m"
    scheduler.shutdown()
