"""Wakes the retention service at each room's deadline, and sweeps for whatever was missed.

APScheduler 3 keeps one date job per retained room (`purge:{room_id}`) in the application's own
database (`SQLAlchemyJobStore`), so the jobs survive a restart; with no misfire grace and
coalescing, a job whose time passed while the service was down runs once, at start. An interval
job (`retention:sweep`, hourly by default, and once at start) catches anything else: a lost job,
a clock jump, a failed purge whose lease ran out.

Two clocks, on purpose: APScheduler's wall clock decides *when to wake up*; the injected `clock`
decides *what is due* (every policy decision goes through it), which is how tests and the
`--now` option move time without waiting for it.

Only one scheduler may run against a database: APScheduler 3 does not share a job store between
processes. (Running two anyway stays safe, only wasteful: purges are compare-and-set claims.)
"""

from __future__ import annotations

import contextlib
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_STOPPED
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from roomscribe.clock import Clock, system_clock
from roomscribe.retention.outcomes import PurgeOutcome, PurgeResult, SweepReport
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import PurgeReason, Retention, RetentionState

log = logging.getLogger(__name__)

SWEEP_JOB_ID = "retention:sweep"


def purge_job_id(room_id: str) -> str:
    return f"purge:{room_id}"


# Stored jobs name their function by reference ("roomscribe.retention.scheduler:purge_job") and
# their scheduler by name, since a pickled job cannot hold the live service. Renaming either
# function orphans every job already in a database.
_RUNNING: dict[str, RetentionScheduler] = {}
_RUNNING_LOCK = threading.Lock()


def purge_job(scheduler_name: str, room_id: str) -> None:
    """The body of every `purge:{room_id}` job."""
    if (scheduler := _RUNNING.get(scheduler_name)) is None:
        log.warning("purge job for room %s fired with no scheduler %r", room_id, scheduler_name)
        return
    scheduler.run_purge(room_id)


def sweep_job(scheduler_name: str) -> None:
    """The body of the `retention:sweep` job."""
    if (scheduler := _RUNNING.get(scheduler_name)) is None:
        log.warning("sweep fired with no scheduler %r", scheduler_name)
        return
    scheduler.run_sweep()


class _BackgroundScheduler(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler 3's `BackgroundScheduler`, minus one round of job processing after shutdown.

    Its main loop runs `_process_jobs` once more after `shutdown()` has stopped the executors:
    a job due at that moment fails to submit and the scheduler thread dies on a JobLookupError
    (agronholm/apscheduler#285). Skipping that round leaves the job in the store for next start.
    """

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        result: float | None = super()._process_jobs()
        return result


class RetentionScheduler:
    """Keeps a purge job at each retained room's deadline; start it with the application.

    It subscribes to the service, so registering a room, a report, a hold or its release
    (re)schedules that room's job, and a purge removes it.
    """

    def __init__(self, service: RetentionService, *, engine: Engine,
                 clock: Clock = system_clock, name: str = "default",
                 sweep_every: timedelta = timedelta(hours=1), sweep_at_start: bool = True,
                 max_workers: int = 2, tablename: str = "apscheduler_jobs") -> None:
        self.service = service
        self.name = name
        self._clock = clock
        self._sweep_every = sweep_every
        self._sweep_at_start = sweep_at_start
        self._scheduler = _BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=tablename)},
            executors={"default": ThreadPoolExecutor(max_workers=max_workers)},
            # No grace and coalescing: a job missed during downtime runs, once, at start.
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            timezone=UTC,
        )

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    @property
    def purging(self) -> bool:
        """Started and not paused: due jobs run."""
        return self.running and self._scheduler.state != STATE_PAUSED

    def resume(self) -> None:
        """Run jobs, after `start(paused=True)`; those that came due meanwhile run now."""
        self._scheduler.resume()

    def start(self, *, paused: bool = False) -> None:
        """Start processing jobs; `paused` loads the store but runs nothing (for maintenance)."""
        with _RUNNING_LOCK:
            if self.name in _RUNNING:
                raise RuntimeError(f"a retention scheduler named {self.name!r} is running")
            _RUNNING[self.name] = self
        try:
            self._scheduler.start(paused=paused)
            first: dict[str, Any] = {}
            if self._sweep_at_start:
                first["next_run_time"] = datetime.now(UTC)
            self._scheduler.add_job(
                sweep_job, IntervalTrigger(seconds=self._sweep_every.total_seconds(),
                                           timezone=UTC),
                args=(self.name,), id=SWEEP_JOB_ID, name="retention sweep",
                replace_existing=True, **first)
        except BaseException:
            with _RUNNING_LOCK:
                _RUNNING.pop(self.name, None)
            raise
        self.service.subscribe(self.schedule)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop; `wait` lets running purges finish. Their jobs stay in the database.

        Note that `SQLAlchemyJobStore.shutdown` disposes the engine's pool; the engine itself
        stays usable and reconnects on demand.
        """
        self.service.unsubscribe(self.schedule)
        try:
            self._scheduler.shutdown(wait=wait)
        finally:
            with _RUNNING_LOCK:
                _RUNNING.pop(self.name, None)

    def schedule(self, row: Retention) -> None:
        """Put `row`'s purge job where the policy says; remove it when held or purged."""
        job_id = purge_job_id(row.room_id)
        if row.state is not RetentionState.RETAINED or row.hold:
            with contextlib.suppress(JobLookupError):
                self._scheduler.remove_job(job_id)
            return
        # Overdue by the policy's clock (a hold released late): run now, not at a past date the
        # wall clock may not agree is past.
        run_date = (row.retain_until if row.retain_until > self._clock()
                    else datetime.now(UTC))
        self._scheduler.add_job(
            purge_job, DateTrigger(run_date=run_date, timezone=UTC),
            args=(self.name, row.room_id), id=job_id, name=f"purge room {row.room_id}",
            replace_existing=True)

    def next_run(self, room_id: str) -> datetime | None:
        """When the room's purge job will fire, or None without a job."""
        job = self._scheduler.get_job(purge_job_id(room_id))
        return None if job is None else job.next_run_time

    def run_purge(self, room_id: str) -> PurgeResult:
        result = self.service.purge(room_id, now=self._clock(), reason=PurgeReason.DEADLINE)
        row = result.retention
        # Not due: the deadline moved without telling us. Aim again, unless the wall clock
        # already passed the new deadline too (clocks that disagree would loop); the sweep then
        # catches it.
        if (result.outcome is PurgeOutcome.NOT_DUE and not row.hold
                and row.retain_until > datetime.now(UTC)):
            self.schedule(row)
        return result

    def run_sweep(self) -> SweepReport:
        report = self.service.sweep(now=self._clock())
        if report.due:
            log.info("retention sweep: %d due, %d purged, %d failed, %d bytes removed",
                     len(report.due), len(report.purged), len(report.failed),
                     report.bytes_removed)
        return report
