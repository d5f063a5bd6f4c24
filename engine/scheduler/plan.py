"""From config to jobs, as plain data and pure functions (tested with a made-up clock):

- one job per scheduled source (`sync:<source>`), for its objects that have no schedule of their own, and one
  per object that has (`sync:<source>:<object>`). The ids are fixed, so applying the same config twice, or
  after a restart, never duplicates a job;
- the trigger of a schedule (APScheduler 3: interval or crontab, in the schedule's time zone, with jitter);
- whether a job missed a run while the server was down (catch up once at start-up);
- how long a transient failure waits before it is tried again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from engine.config import Config, ObjectSchedule, PullSource


@dataclass(frozen=True)
class Planned:
    job_id: str
    source_id: str
    objects: tuple[str, ...]  # plural names this job syncs
    rule: ObjectSchedule

    def describe(self) -> str:
        return self.rule.describe()


def planned_jobs(config: Config) -> dict[str, Planned]:
    """The jobs `config` asks for, by id. Disabled sources and sources without a schedule have none."""
    jobs: dict[str, Planned] = {}
    for source in config.sources:
        if not isinstance(source, PullSource) or not source.enabled or source.schedule is None:
            continue
        own = source.schedule.objects
        rest = tuple(o for o in source.object_names if o not in own)
        if rest:
            jobs[f"sync:{source.id}"] = Planned(f"sync:{source.id}", source.id, rest, source.schedule)
        for name, rule in own.items():
            jobs[f"sync:{source.id}:{name}"] = Planned(f"sync:{source.id}:{name}", source.id, (name,), rule)
    return jobs


def trigger_for(rule: ObjectSchedule) -> BaseTrigger:
    jitter = int(rule.jitter.total_seconds()) if rule.jitter else None
    zone = ZoneInfo(rule.timezone)
    if rule.every is not None:
        return IntervalTrigger(seconds=int(rule.every.total_seconds()), timezone=zone, jitter=jitter)
    return CronTrigger.from_crontab(rule.cron, timezone=zone) if jitter is None else \
        _with_jitter(CronTrigger.from_crontab(rule.cron, timezone=zone), jitter)


def _with_jitter(trigger: CronTrigger, jitter: int) -> CronTrigger:
    trigger.jitter = jitter
    return trigger


def due_at_start(rule: ObjectSchedule, last_success: datetime | None, now: datetime) -> bool:
    """True when a run was missed while nothing ran: never succeeded, or a slot has passed since the last
    success (with `every`: the interval has elapsed; with `cron`: a fire time lies between then and now)."""
    if last_success is None:
        return True
    if rule.every is not None:
        return now - last_success >= rule.every
    following = CronTrigger.from_crontab(rule.cron, timezone=ZoneInfo(rule.timezone)).get_next_fire_time(
        None, last_success + timedelta(microseconds=1))
    return following is not None and following <= now


def retry_delay(attempt: int, backoff: timedelta) -> timedelta:
    """Attempt 1 waits `backoff`, then twice as long each time."""
    return backoff * (2 ** (attempt - 1))


def describe_schedules(jobs: dict[str, Planned]) -> dict[str, str]:
    """Per source, its schedule in words: `every 15m`, or `every 15m; invoices: every 1h`."""
    out: dict[str, list[str]] = {}
    for job in jobs.values():
        own = job.job_id != f"sync:{job.source_id}"
        out.setdefault(job.source_id, []).append(f"{job.objects[0]}: {job.describe()}" if own else job.describe())
    return {source: "; ".join(texts) for source, texts in out.items()}
