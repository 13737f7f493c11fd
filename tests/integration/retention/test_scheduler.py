"""The real APScheduler with its job store in the application's SQLite file.

Deadlines are placed relative to the wall clock, since APScheduler wakes up by it; the injected
clock decides what is due.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from helpers.retention import ADMIN, LISTENER, RoomData, ended_room
from helpers.waiting import wait_for
from roomscribe.clock import ManualClock
from roomscribe.reports.service import ReportService
from roomscribe.reports.tables import ReportCreate
from roomscribe.retention.outcomes import PurgeOutcome
from roomscribe.retention.scheduler import SWEEP_JOB_ID, RetentionScheduler
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import PurgeReason, RetentionState

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


@pytest.fixture
def schedulers() -> Iterator[list[RetentionScheduler]]:
    started: list[RetentionScheduler] = []
    yield started
    for scheduler in started:
        if scheduler.running:
            scheduler.shutdown()


def start(schedulers: list[RetentionScheduler], service: RetentionService, engine: Engine,
          clock: ManualClock, *, sweep_at_start: bool = False,
          paused: bool = False) -> RetentionScheduler:
    scheduler = RetentionScheduler(service, engine=engine, clock=clock,
                                   sweep_at_start=sweep_at_start)
    scheduler.start(paused=paused)
    schedulers.append(scheduler)
    return scheduler


def purged(service: RetentionService, room_id: str = "r1") -> bool:
    return service.get(room_id).state is RetentionState.PURGED


def test_jobs_follow_reports_and_holds(
        service: RetentionService, engine: Engine,
        schedulers: list[RetentionScheduler]) -> None:
    t = datetime.now(UTC) - DAY
    clock = ManualClock(t + DAY)
    scheduler = start(schedulers, service, engine, clock)
    service.register(ended_room(ended_at=t))
    assert scheduler.next_run("r1") == t + 30 * DAY

    reports = ReportService(engine, retention=service, presence=lambda r, a: True)
    clock.set(t + 10 * DAY)
    reports.file(ReportCreate(room_id="r1", reason="abuse"), reporter_id=LISTENER, now=clock())
    assert scheduler.next_run("r1") == t + 120 * DAY

    service.place_hold("r1", by=ADMIN, now=clock())
    assert scheduler.next_run("r1") is None
    service.release_hold("r1", by=ADMIN, now=clock())
    assert scheduler.next_run("r1") == t + 120 * DAY


def test_releasing_an_overdue_hold_purges_at_once(
        service: RetentionService, engine: Engine, data: RoomData,
        schedulers: list[RetentionScheduler]) -> None:
    t = datetime.now(UTC) - DAY
    clock = ManualClock(t + DAY)
    start(schedulers, service, engine, clock)
    service.register(ended_room(ended_at=t))
    data.create("r1")
    service.place_hold("r1", by=ADMIN, now=clock())
    clock.set(t + 50 * DAY)
    service.release_hold("r1", by=ADMIN, now=clock())
    wait_for(lambda: purged(service))
    assert data.remaining("r1") == 0
    assert service.get("r1").purge_reason is PurgeReason.DEADLINE


def test_a_purge_due_while_down_runs_at_start(
        service: RetentionService, engine: Engine, data: RoomData,
        schedulers: list[RetentionScheduler]) -> None:
    # The deadline is ten wall-clock days ago; the first scheduler runs paused, which is how a
    # service that is down behaves: the job is stored, and nothing runs it.
    t = datetime.now(UTC) - 40 * DAY
    clock = ManualClock(t + DAY)
    first = start(schedulers, service, engine, clock, paused=True)
    service.register(ended_room(ended_at=t))
    data.create("r1")
    assert first.next_run("r1") == t + 30 * DAY
    first.shutdown()
    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT id FROM apscheduler_jobs")).scalars())
    assert stored == {"purge:r1", SWEEP_JOB_ID}

    clock.set(t + 30 * DAY + SECOND)
    restarted = RetentionService(engine, purgers=[data])
    start(schedulers, restarted, engine, clock)
    wait_for(lambda: purged(restarted))
    assert data.remaining("r1") == 0
    assert restarted.get("r1").purge_reason is PurgeReason.DEADLINE


def test_the_sweep_at_start_catches_a_room_without_a_job(
        service: RetentionService, engine: Engine, data: RoomData,
        schedulers: list[RetentionScheduler]) -> None:
    t = datetime.now(UTC) - 40 * DAY
    service.register(ended_room(ended_at=t))  # no scheduler listening: no job
    data.create("r1")
    start(schedulers, service, engine, ManualClock(t + 31 * DAY), sweep_at_start=True)
    wait_for(lambda: purged(service))
    assert service.get("r1").purge_reason is PurgeReason.SWEEP
    assert data.remaining("r1") == 0


def test_a_job_that_fires_early_aims_again(
        service: RetentionService, engine: Engine,
        schedulers: list[RetentionScheduler]) -> None:
    t = datetime.now(UTC)
    clock = ManualClock(t)
    scheduler = start(schedulers, service, engine, clock)
    service.register(ended_room(ended_at=t))
    scheduler.schedule(service.get("r1").model_copy(update={"retain_until": t + DAY}))
    result = scheduler.run_purge("r1")
    assert result.outcome is PurgeOutcome.NOT_DUE and not purged(service)
    assert scheduler.next_run("r1") == t + 30 * DAY


def test_one_scheduler_per_name(service: RetentionService, engine: Engine,
                                schedulers: list[RetentionScheduler]) -> None:
    clock = ManualClock(datetime.now(UTC))
    start(schedulers, service, engine, clock)
    with pytest.raises(RuntimeError, match="running"):
        start(schedulers, service, engine, clock)
