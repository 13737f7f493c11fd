"""A report and a purge of the same room at the same moment, on two threads: either the report
wins (deadline moved, everything kept) or the purge does (report refused, nothing kept), never a
half-purged room."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from helpers.retention import LISTENER, RoomData, T, ended_room
from roomscribe.reports.service import ReportService
from roomscribe.reports.tables import ReportCreate
from roomscribe.retention.outcomes import PurgeOutcome, RetentionGone
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import PurgeReason, RetentionState

SECOND = timedelta(seconds=1)
DEADLINE = T + timedelta(days=30)
EVERYTHING = 8  # files, transcript rows and index entries `RoomData.create` makes


@pytest.fixture
def reports(engine: Engine, service: RetentionService) -> ReportService:
    return ReportService(engine, retention=service, presence=lambda r, a: True)


def race(service: RetentionService, reports: ReportService, room_id: str,
         *, purge_first: threading.Event | None = None) -> tuple[bool, PurgeOutcome]:
    """File a report just before the deadline while a purge evaluates it just after."""
    go = threading.Barrier(2)
    accepted: list[bool] = []
    outcome: list[PurgeOutcome] = []

    def report() -> None:
        go.wait()
        if purge_first is not None:
            purge_first.wait(10)
        try:
            reports.file(ReportCreate(room_id=room_id, reason="abuse"), reporter_id=LISTENER,
                         now=DEADLINE - SECOND)
            accepted.append(True)
        except RetentionGone:
            accepted.append(False)

    def purge() -> None:
        go.wait()
        outcome.append(service.purge(room_id, now=DEADLINE + SECOND,
                                     reason=PurgeReason.DEADLINE).outcome)

    threads = [threading.Thread(target=report), threading.Thread(target=purge)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return accepted[0], outcome[0]


def assert_whole(service: RetentionService, data: RoomData, room_id: str, accepted: bool,
                 outcome: PurgeOutcome) -> None:
    row = service.get(room_id)
    if accepted:
        assert outcome is PurgeOutcome.NOT_DUE
        assert (row.state, row.retain_until) == (RetentionState.RETAINED, T + timedelta(days=120))
        assert data.remaining(room_id) == EVERYTHING
    else:
        assert outcome is PurgeOutcome.PURGED
        assert row.state is RetentionState.PURGED and row.reported_at is None
        assert data.remaining(room_id) == 0


def test_racing_report_and_purge_never_leave_a_half_purged_room(
        service: RetentionService, reports: ReportService, data: RoomData) -> None:
    for i in range(20):
        room_id = f"r{i}"
        service.register(ended_room(room_id))
        data.create(room_id)
        assert_whole(service, data, room_id, *race(service, reports, room_id))


def test_a_report_arriving_mid_purge_is_refused(engine: Engine, data: RoomData) -> None:
    started = threading.Event()

    class Signalling:
        def purge(self, room_id: str) -> int:
            started.set()
            return data.purge(room_id)

    service = RetentionService(engine, purgers=[Signalling()])
    reports = ReportService(engine, retention=service, presence=lambda r, a: True)
    service.register(ended_room())
    data.create("r1")
    accepted, outcome = race(service, reports, "r1", purge_first=started)
    assert not accepted
    assert_whole(service, data, "r1", accepted, outcome)
