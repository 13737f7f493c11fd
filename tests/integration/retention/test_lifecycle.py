"""Issue 6's "done when", end to end on a SQLite file with an injected clock: a room's files,
transcript rows and index entries live exactly as long as the policy says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from helpers.retention import ADMIN, HOST, LISTENER, RoomData, T, ended_room
from roomscribe.clock import ManualClock
from roomscribe.reports.service import ReportService
from roomscribe.reports.tables import ReportCreate
from roomscribe.retention.outcomes import DownloadKind, RetentionGone
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import PurgeReason, RetentionState

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T)


@pytest.fixture
def reports(engine: Engine, service: RetentionService) -> ReportService:
    return ReportService(engine, retention=service,
                         presence=lambda room_id, account_id: account_id == LISTENER)


@pytest.fixture
def room(service: RetentionService, data: RoomData) -> str:
    service.register(ended_room("r1"))
    data.create("r1")
    return "r1"


def download(service: RetentionService, clock: ManualClock, room: str) -> None:
    service.authorize_download(room, kind=DownloadKind.RECORDING, actor_id=HOST, is_admin=False,
                               now=clock())


def test_downloadable_at_29_days_gone_without_a_trace_after_30(
        service: RetentionService, data: RoomData, clock: ManualClock, room: str) -> None:
    clock.set(T + 29 * DAY)
    download(service, clock, room)
    assert service.sweep(now=clock()).due == []

    clock.set(T + 30 * DAY + SECOND)
    with pytest.raises(RetentionGone):
        download(service, clock, room)
    assert service.sweep(now=clock()).purged == [room]
    assert data.remaining(room) == 0
    tomb = service.get(room)
    assert (tomb.state, tomb.purged_at, tomb.purge_reason, tomb.bytes_removed) == \
        (RetentionState.PURGED, clock(), PurgeReason.SWEEP, 1000 + 2000 + 3000 + 4000)
    with pytest.raises(RetentionGone, match="room r1 is gone: its recording was deleted on "
                                            "2025-01-31T12:00:01"):
        download(service, clock, room)


def test_a_report_at_ten_days_keeps_it_until_120(
        service: RetentionService, reports: ReportService, data: RoomData, clock: ManualClock,
        room: str) -> None:
    clock.set(T + 10 * DAY)
    reports.file(ReportCreate(room_id=room, reason="threats"), reporter_id=LISTENER, now=clock())
    for day in (31, 60, 119):
        clock.set(T + day * DAY)
        download(service, clock, room)
        assert service.sweep(now=clock()).due == []
    assert data.remaining(room) == 8

    clock.set(T + 120 * DAY + SECOND)
    assert service.sweep(now=clock()).purged == [room]
    assert data.remaining(room) == 0


def test_a_report_after_30_days_is_refused(
        service: RetentionService, reports: ReportService, clock: ManualClock, room: str) -> None:
    clock.set(T + 30 * DAY + SECOND)
    with pytest.raises(RetentionGone, match="retention ended on 2025-01-31T12:00:00"):
        reports.file(ReportCreate(room_id=room, reason="late"), reporter_id=LISTENER,
                     now=clock())
    assert service.get(room).retain_until == T + 30 * DAY


def test_a_hold_blocks_the_purge_and_its_release_lets_it_happen(
        service: RetentionService, data: RoomData, clock: ManualClock, room: str) -> None:
    clock.set(T + 20 * DAY)
    service.place_hold(room, by=ADMIN, now=clock())
    clock.set(T + 45 * DAY)
    assert service.sweep(now=clock()).due == []
    download(service, clock, room)
    assert data.remaining(room) == 8

    service.release_hold(room, by=ADMIN, now=clock())
    assert service.sweep(now=clock()).purged == [room]
    assert data.remaining(room) == 0
