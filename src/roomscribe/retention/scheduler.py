"""Wakes the retention service at each room's deadline, and sweeps for whatever was missed.

APScheduler 3 keeps one date job per retained room (`purge:{room_id}`) in the application's own
database (`SQLAlchemyJobStore`), so the jobs survive a restart; with no misfire grace and
coalescing, a job whose time passed while the service was down runs once, at start. An interval
job (`retention:sweep`, hourly by default, and once at start) catches anything else: a lost job,
a clock jump, a failed purge whose lease ran out.

Two clocks, on purpose: APScheduler's wall clock decides *when to wake up*; the injected `clock`
decides *what is due* (every policy decision goes through it), which is how tests and the
`--now` option move time without waiting for it.

Several processes may share a database (the scale-out profile): each keeps its scheduler and
writes its rooms' jobs into the shared store, but only the one elected by `retention.leadership`
runs them; the others stay paused and take over within `ELECTION_EVERY` of the leader's death.
The leader reads the store again at least every `STORE_POLL`, since jobs other processes add
do not wake it. (Were two to run jobs anyway, a room would still be purged once: purges are
compare-and-set claims.)
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
from roomscribe.retention.leadership import Leadership, leadership_for
from roomscribe.retention.outcomes import PurgeOutcome, PurgeResult, SweepReport
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import PurgeReason, Retention, RetentionState

log = logging.getLogger(__name__)

SWEEP_JOB_ID = "retention:sweep"
ELECTION_EVERY = timedelta(seconds=2)
"""How often a process that does not lead tries to (and the leader checks it still does)."""
STORE_POLL = timedelta(seconds=30)
"""The longest the leader sleeps before reading the shared job store again."""


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

    poll: float | None = None
    """If set, the longest wait between two reads of the store (others write to it too)."""

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        result: float | None = super()._process_jobs()
        if self.poll is not None and self.state != STATE_PAUSED:
            result = self.poll if result is None else min(result, self.poll)
        return result


class RetentionScheduler:
    """Keeps a purge job at each retained room's deadline; start it with the application.

    It subscribes to the service, so registering a room, a report, a hold or its release
    (re)schedules that room's job, and a purge removes it.
    """

    def __init__(self, service: RetentionService, *, engine: Engine,
                 clock: Clock = system_clock, name: str = "default",
                 sweep_every: timedelta = timedelta(hours=1), sweep_at_start: bool = True,
                 max_workers: int = 2, tablename: str = "apscheduler_jobs",
                 leadership: Leadership | None = None,
                 election_every: timedelta = ELECTION_EVERY,
                 store_poll: timedelta = STORE_POLL) -> None:
        self.service = service
        self.name = name
        self.leadership = leadership or leadership_for(engine)
        self._election_every = election_every.total_seconds()
        self._wanted = False
        """Jobs should run (started and not paused), once this process leads."""
        self._leading = False
        self._stop = threading.Event()
        self._elector: threading.Thread | None = None
        self._state_lock = threading.Lock()
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
        self._scheduler.poll = store_poll.total_seconds()

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    @property
    def purging(self) -> bool:
        """Started, not paused, and leading: due jobs run here."""
        return self.running and self._scheduler.state != STATE_PAUSED

    @property
    def leading(self) -> bool:
        """This process holds the database's retention leadership."""
        return self._leading

    def resume(self) -> None:
        """Run jobs, after `start(paused=True)`; those that came due meanwhile run now (here,
        if this process leads; otherwise on the leader, or here once it does)."""
        with self._state_lock:
            self._wanted = True
            self._apply()

    def _apply(self) -> None:
        """Run jobs exactly when wanted and leading. Call with `_state_lock` held."""
        if not self.running:
            return
        if self._wanted and self._leading:
            if self._scheduler.state == STATE_PAUSED:
                self._scheduler.resume()
        elif self._scheduler.state != STATE_PAUSED:
            self._scheduler.pause()

    def _elect(self) -> None:
        """One election round: lead if the lock is free; step down if it was lost."""
        try:
            leading = (self.leadership.holds() if self._leading
                       else self.leadership.acquire())
        except Exception:
            log.warning("retention leader election failed; trying again", exc_info=True)
            leading = False
        with self._state_lock:
            if leading != self._leading:
                log.info("retention scheduler %s", "leads: running purges" if leading
                         else "no longer leads: purges paused")
            self._leading = leading
            self._apply()

    def _campaign(self) -> None:
        while not self._stop.wait(self._election_every):
            self._elect()

    def start(self, *, paused: bool = False) -> None:
        """Start processing jobs; `paused` loads the store but runs nothing (for maintenance).
        Jobs run only while this process leads (see the module docstring)."""
        with _RUNNING_LOCK:
            if self.name in _RUNNING:
                raise RuntimeError(f"a retention scheduler named {self.name!r} is running")
            _RUNNING[self.name] = self
        try:
            self._wanted = not paused
            self._scheduler.start(paused=True)
            first: dict[str, Any] = {}
            if self._sweep_at_start:
                first["next_run_time"] = datetime.now(UTC)
            self._scheduler.add_job(
                sweep_job, IntervalTrigger(seconds=self._sweep_every.total_seconds(),
                                           timezone=UTC),
                args=(self.name,), id=SWEEP_JOB_ID, name="retention sweep",
                replace_existing=True, **first)
            self._elect()
        except BaseException:
            with _RUNNING_LOCK:
                _RUNNING.pop(self.name, None)
            raise
        self._stop.clear()
        self._elector = threading.Thread(target=self._campaign, daemon=True,
                                         name=f"retention-election-{self.name}")
        self._elector.start()
        self.service.subscribe(self.schedule)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop; `wait` lets running purges finish. Their jobs stay in the database.

        Note that `SQLAlchemyJobStore.shutdown` disposes the engine's pool; the engine itself
        stays usable and reconnects on demand.
        """
        self.service.unsubscribe(self.schedule)
        self._stop.set()
        if self._elector is not None:
            self._elector.join()
            self._elector = None
        try:
            self._scheduler.shutdown(wait=wait)
        finally:
            with self._state_lock:
                self._leading = False
            self.leadership.release()
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
