"""Scheduled pulls inside `inlet serve`: which jobs the config asks for, and the scheduler that runs them."""

from engine.scheduler.plan import (
    Planned,
    describe_schedules,
    due_at_start,
    planned_jobs,
    retry_delay,
    trigger_for,
)
from engine.scheduler.service import Scheduler

__all__ = ["Planned", "Scheduler", "describe_schedules", "due_at_start", "planned_jobs", "retry_delay", "trigger_for"]
