"""The scheduler inside `inlet serve` (APScheduler 3, on the server's event loop).

- Jobs have fixed ids (see plan.py); `apply(config)` adds, removes and replaces them, so a reload applies a
  changed config and a restart starts from the config alone (the job store is in memory: nothing to duplicate).
- Runs of one source never overlap: a job that fires while the source's previous run is still waiting or
  going records a `skipped` run (with the reason) instead of queueing a second one. Different sources run
  at once, up to `scheduler.max_concurrent`.
- Misfires are coalesced and never dropped (no grace time): a run that could not start on time starts late,
  once. At start-up, a job whose last successful run is older than its schedule allows runs at once.
- A run that failed for a passing reason (network, 5xx, 429 after the request's own retries) is tried again
  after `retry_backoff`, doubling, at most `retries` times and only if that comes before the next slot.
  Refused credentials or a spent daily quota are not retried: the error stays in `inlet status`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from engine import logs
from engine.config import Config, PullSource
from engine.scheduler.plan import (
    Planned,
    describe_schedules,
    due_at_start,
    planned_jobs,
    retry_delay,
    trigger_for,
)
from engine.sync.runner import SyncResult
from engine.sync.service import SyncRefused, SyncService, object_types

log = logging.getLogger("inlet.scheduler")

LastSuccess = Callable[[str, list[str]], Awaitable[datetime | None]]


class Scheduler:
    """`last_success(source_id, object_types)` gives when all those objects last synced successfully."""

    def __init__(self, syncs: SyncService, last_success: LastSuccess,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.syncs = syncs
        self._last_success = last_success
        self._now = now
        self._aps = AsyncIOScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "misfire_grace_time": None, "max_instances": 8})
        self._jobs: dict[str, Planned] = {}
        self._active: set[str] = set()  # sources with a scheduled run waiting for a slot or running
        self._retries: dict[str, int] = {}  # job id -> failed attempts in a row
        self._slots = asyncio.Semaphore(1)
        self.config: Config | None = None

    # -- life --------------------------------------------------------------------------------------------------
    async def start(self, config: Config) -> None:
        self._aps.start()
        await self.apply(config, catch_up=True)

    def pause(self) -> None:
        """No more runs start. The runs going on are left alone: they are the sync service's to stop."""
        if self._aps.running:
            self._aps.pause()

    def shutdown(self) -> None:
        """Only once no run goes on: APScheduler cancels the tasks of jobs still running."""
        if self._aps.running:
            self._aps.shutdown(wait=False)

    # -- config ------------------------------------------------------------------------------------------------
    async def apply(self, config: Config, *, catch_up: bool = True) -> dict[str, list[str]]:
        """Make the jobs what `config` asks for. New jobs (all of them at start-up) that missed a slot run at
        once when `catch_up`. Returns the job ids added, removed and changed."""
        planned = planned_jobs(config)
        old = self._jobs
        added = [j for j in planned if j not in old]
        removed = [j for j in old if j not in planned]
        changed = [j for j in planned if j in old and old[j] != planned[j]]
        self.config = config
        self._slots = asyncio.Semaphore(config.scheduler.max_concurrent)
        for job_id in removed:
            self._drop(job_id)
        for job_id in added + changed:
            job = planned[job_id]
            self._retries.pop(job_id, None)
            self._remove_aps(f"retry:{job_id}")
            next_run = None
            if catch_up and job_id in added and await self._missed(config, job):
                next_run = self._now()
            kwargs = {"next_run_time": next_run} if next_run else {}
            self._aps.add_job(self._fire, trigger_for(job.rule), id=job_id, args=[job_id], replace_existing=True,
                              name=f"sync {job.source_id} ({', '.join(job.objects)})", **kwargs)
            if next_run:
                log.info("%s: a run was missed while the server was down; running it now", job_id)
        self._jobs = planned
        return {"added": added, "removed": removed, "changed": changed}

    async def _missed(self, config: Config, job: Planned) -> bool:
        source = config.source(job.source_id)
        if not isinstance(source, PullSource):
            return False
        last = await self._last_success(job.source_id, object_types(source, list(job.objects)))
        return due_at_start(job.rule, last, self._now())

    def _drop(self, job_id: str) -> None:
        self._remove_aps(job_id)
        self._remove_aps(f"retry:{job_id}")
        self._retries.pop(job_id, None)

    def _remove_aps(self, job_id: str) -> None:
        if self._aps.get_job(job_id) is not None:
            self._aps.remove_job(job_id)

    # -- runs --------------------------------------------------------------------------------------------------
    async def _fire(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        with logs.bound(source_id=job.source_id if job is not None else None):  # the run's lines, and the retry's
            await self._run(job_id)

    async def _run(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job is None or self.config is None:
            return
        source = self.config.source(job.source_id)
        if not isinstance(source, PullSource):
            return
        if job.source_id in self._active or self.syncs.running(job.source_id):
            log.info("%s: skipped, the previous run of %s is still going", job_id, job.source_id)
            await self.syncs.record_skip(source, list(job.objects),
                                         "scheduled while the previous run of this source was still going")
            return
        self._active.add(job.source_id)
        try:
            async with self._slots:
                result = await self.syncs.sync(job.source_id, objects=list(job.objects))
        except SyncRefused as exc:
            log.error("%s: %s", job_id, exc)
            return
        except Exception:
            log.exception("%s: the run failed unexpectedly", job_id)
            return
        finally:
            self._active.discard(job.source_id)
        self._after(job, result)

    def _after(self, job: Planned, result: SyncResult | None) -> None:
        if result is None:  # skipped
            return
        if result.ok:
            self._retries.pop(job.job_id, None)
            return
        failed = [s for s in result.streams if s.status == "failed"]
        if any(s.refused for s in failed) or not all(s.transient for s in failed):
            self._retries.pop(job.job_id, None)
            log.error("%s failed and is not retried before its next slot: %s", job.job_id,
                      "; ".join(s.error or "" for s in failed))
            return
        attempt = self._retries.get(job.job_id, 0) + 1
        settings = self.config.scheduler if self.config else None
        if settings is None or attempt > settings.retries:
            self._retries.pop(job.job_id, None)
            log.error("%s failed %d times in a row; waiting for its next slot", job.job_id, attempt - 1)
            return
        when = self._now() + retry_delay(attempt, settings.retry_backoff)
        aps_job = self._aps.get_job(job.job_id)
        if aps_job is not None and aps_job.next_run_time is not None and when >= aps_job.next_run_time:
            self._retries.pop(job.job_id, None)
            return  # the next slot comes first
        self._retries[job.job_id] = attempt
        self._aps.add_job(self._fire, DateTrigger(when), id=f"retry:{job.job_id}", args=[job.job_id],
                          replace_existing=True, name=f"retry {attempt} of {job.job_id}")
        log.warning("%s failed for a passing reason; retry %d at %s", job.job_id, attempt, when.isoformat())

    # -- what is planned ---------------------------------------------------------------------------------------
    def _upcoming(self):
        """(job, its next run) of every job that has one."""
        if not self._aps.running:
            return
        for aps_job in self._aps.get_jobs():
            job = self._jobs.get(aps_job.args[0]) if aps_job.args else None
            if job is not None and aps_job.next_run_time is not None:
                yield job, aps_job.next_run_time

    def next_runs(self) -> dict[str, datetime]:
        """The next run of each scheduled source (its soonest job, retries included)."""
        soonest: dict[str, datetime] = {}
        for job, when in self._upcoming():
            if job.source_id not in soonest or when < soonest[job.source_id]:
                soonest[job.source_id] = when
        return soonest

    def next_runs_by_object(self) -> dict[tuple[str, str], datetime]:
        """The next run of each scheduled (source, object name): its soonest job, retries included."""
        soonest: dict[tuple[str, str], datetime] = {}
        for job, when in self._upcoming():
            for name in job.objects:
                key = (job.source_id, name)
                if key not in soonest or when < soonest[key]:
                    soonest[key] = when
        return soonest

    def schedules(self) -> dict[str, str]:
        """Each scheduled source's schedule, as `inlet status` shows it."""
        return describe_schedules(self._jobs)
