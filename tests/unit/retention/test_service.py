"""The retention service on a real SQLite database: deadlines, downloads, holds, purges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from helpers.retention import ADMIN, HOST, STRANGER, T, ended_room
from roomscribe.audit import service as audit
from roomscribe.audit.tables import AuditAction
from roomscribe.db import session_scope
from roomscribe.errors import Conflict, Forbidden, NotFound
from roomscribe.retention.outcomes import DownloadKind, PurgeIncomplete, PurgeOutcome, RetentionGone
from roomscribe.retention.purgers import DirectoryPurger
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import PurgeReason, Retention, RetentionCreate, RetentionState

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
DEADLINE = T + 30 * DAY


class CountingPurger:
    def __init__(self, size: int = 100, *, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.size = size
        self.fail = fail

    def purge(self, room_id: str) -> int:
        self.calls.append(room_id)
        if self.fail:
            raise OSError("disk says no")
        return self.size


@pytest.fixture
def purger() -> CountingPurger:
    return CountingPurger()


@pytest.fixture
def service(engine: Engine, purger: CountingPurger) -> RetentionService:
    service = RetentionService(engine, purgers=[purger])
    service.register(ended_room())
    return service


def actions(engine: Engine, room_id: str = "r1") -> list[str]:
    with Session(engine) as session:
        return [e.action for e in reversed(audit.query(session, room_id=room_id).items)]


def test_register_sets_the_deadline_once_and_announces(engine: Engine) -> None:
    service = RetentionService(engine)
    seen: list[Retention] = []
    service.subscribe(seen.append)
    row = service.register(ended_room())
    again = service.register(ended_room(ended_at=T + DAY))
    assert row.retain_until == again.retain_until == DEADLINE
    assert row.state is RetentionState.RETAINED and row.retain_until.tzinfo is UTC
    assert [r.room_id for r in seen] == ["r1"]


def test_a_naive_end_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        RetentionCreate(room_id="r", room_title="t", host_id=HOST, ended_at=datetime(2025, 1, 1))


def test_unknown_rooms_are_not_found(service: RetentionService) -> None:
    with pytest.raises(NotFound):
        service.get("nope")
    with pytest.raises(NotFound):
        service.purge("nope", now=T, reason=PurgeReason.SWEEP)


def test_host_and_admins_download_before_the_deadline_and_it_is_logged(
        service: RetentionService, engine: Engine) -> None:
    row = service.authorize_download("r1", kind=DownloadKind.RECORDING, actor_id=HOST,
                                     is_admin=False, now=T + 29 * DAY)
    assert row.retain_until == DEADLINE
    service.authorize_download("r1", kind=DownloadKind.TRANSCRIPT, actor_id=ADMIN, is_admin=True,
                               now=T + 29 * DAY)
    with pytest.raises(Forbidden):
        service.authorize_download("r1", kind=DownloadKind.RECORDING, actor_id=STRANGER,
                                   is_admin=False, now=T + DAY)
    assert actions(engine) == ["download.recording", "download.transcript"]


def test_after_the_deadline_downloads_are_gone_with_the_date(service: RetentionService) -> None:
    with pytest.raises(RetentionGone) as err:
        service.authorize_download("r1", kind=DownloadKind.RECORDING, actor_id=HOST,
                                   is_admin=False, now=DEADLINE + SECOND)
    assert err.value.status == 410 and err.value.purge_date == DEADLINE
    assert "2025-01-31T12:00:00+00:00" in str(err.value)

    service.purge("r1", now=DEADLINE + DAY, reason=PurgeReason.SWEEP)
    with pytest.raises(RetentionGone, match="deleted on 2025-02-01") as err:
        service.authorize_download("r1", kind=DownloadKind.RECORDING, actor_id=HOST,
                                   is_admin=True, now=DEADLINE + 2 * DAY)
    assert err.value.purge_date == DEADLINE + DAY


def test_a_report_inside_the_window_extends_once_and_only_later(
        service: RetentionService, engine: Engine) -> None:
    with session_scope(engine) as session:
        row = service.extend_for_report(session, room_id="r1", at=T + 10 * DAY)
    assert (row.retain_until, row.reported_at) == (T + 120 * DAY, T + 10 * DAY)
    with session_scope(engine) as session:
        row = service.extend_for_report(session, room_id="r1", at=T + 100 * DAY)
    assert (row.retain_until, row.reported_at) == (T + 120 * DAY, T + 10 * DAY)


def test_a_report_after_the_deadline_is_gone(service: RetentionService, engine: Engine) -> None:
    refused = "room r1 can no longer be reported: its retention ended on 2025-01-31"
    with pytest.raises(RetentionGone, match=refused), session_scope(engine) as session:
        service.extend_for_report(session, room_id="r1", at=DEADLINE + SECOND)
    assert service.get("r1").retain_until == DEADLINE


def test_a_hold_blocks_the_purge_until_released(
        service: RetentionService, purger: CountingPurger, engine: Engine) -> None:
    service.place_hold("r1", by=ADMIN, now=T + 20 * DAY, note="legal")
    service.place_hold("r1", by=ADMIN, now=T + 21 * DAY)
    late = DEADLINE + 10 * DAY
    assert service.due(now=late) == []
    assert service.purge("r1", now=late, reason=PurgeReason.SWEEP).outcome is PurgeOutcome.HELD
    assert [r.room_id for r in service.holds()] == ["r1"]
    assert service.verdict("r1", now=late).may_download

    row = service.release_hold("r1", by=ADMIN, now=late)
    assert not row.hold and row.hold_by is None
    assert service.due(now=late) == ["r1"]
    assert service.purge("r1", now=late, reason=PurgeReason.SWEEP).outcome is PurgeOutcome.PURGED
    assert purger.calls == ["r1"]
    assert actions(engine) == ["hold.placed", "hold.released", "purge"]


def test_a_purged_room_cannot_be_held(service: RetentionService) -> None:
    service.purge("r1", now=DEADLINE, reason=PurgeReason.SWEEP)
    with pytest.raises(RetentionGone):
        service.place_hold("r1", by=ADMIN, now=DEADLINE + DAY)


def test_purge_is_idempotent_and_leaves_a_tombstone(
        service: RetentionService, purger: CountingPurger) -> None:
    assert service.purge("r1", now=DEADLINE - SECOND,
                         reason=PurgeReason.DEADLINE).outcome is PurgeOutcome.NOT_DUE
    first = service.purge("r1", now=DEADLINE, reason=PurgeReason.DEADLINE)
    second = service.purge("r1", now=DEADLINE + DAY, reason=PurgeReason.SWEEP)
    assert (first.outcome, second.outcome) == (PurgeOutcome.PURGED, PurgeOutcome.ALREADY_PURGED)
    assert purger.calls == ["r1"]
    tomb = service.get("r1")
    assert (tomb.room_id, tomb.room_title, tomb.host_id) == ("r1", "Budget meeting", HOST)
    assert (tomb.ended_at, tomb.retain_until, tomb.purged_at) == (T, DEADLINE, DEADLINE)
    assert (tomb.bytes_removed, tomb.purge_reason) == (100, PurgeReason.DEADLINE)
    assert tomb.state is RetentionState.PURGED


def test_a_failed_purge_stays_claimed_and_a_later_sweep_finishes_it(engine: Engine) -> None:
    good, bad = CountingPurger(10), CountingPurger(fail=True)
    service = RetentionService(engine, purgers=[bad, good], lease=timedelta(minutes=15))
    service.register(ended_room())
    result = service.purge("r1", now=DEADLINE, reason=PurgeReason.DEADLINE)
    assert result.outcome is PurgeOutcome.INCOMPLETE
    assert result.retention.state is RetentionState.PURGING and good.calls == ["r1"]
    with pytest.raises(RetentionGone, match=r"is being deleted \(since 2025-01-31"):
        service.authorize_download("r1", kind=DownloadKind.RECORDING, actor_id=HOST,
                                   is_admin=False, now=DEADLINE)

    # Inside the lease the claim belongs to the worker that took it.
    assert service.due(now=DEADLINE + timedelta(minutes=5)) == []
    assert service.purge("r1", now=DEADLINE + timedelta(minutes=5),
                         reason=PurgeReason.SWEEP).outcome is PurgeOutcome.IN_PROGRESS
    bad.fail = False
    report = service.sweep(now=DEADLINE + timedelta(minutes=20))
    assert report.purged == ["r1"] and report.bytes_removed == 10 + 10 + 100
    tomb = service.get("r1")
    assert (tomb.state, tomb.purge_reason) == (RetentionState.PURGED, PurgeReason.DEADLINE)


def test_one_failing_room_does_not_stop_a_sweep(engine: Engine) -> None:
    class FailsOnR2(CountingPurger):
        def purge(self, room_id: str) -> int:
            super().purge(room_id)
            if room_id == "r2":
                raise OSError("busy")
            return self.size

    service = RetentionService(engine, purgers=[FailsOnR2()])
    for i in range(1, 4):
        service.register(ended_room(f"r{i}", ended_at=T + i * SECOND))
    report = service.sweep(now=DEADLINE + DAY)
    assert (report.purged, report.failed, report.skipped) == (["r1", "r3"], ["r2"], [])
    assert service.get("r2").state is RetentionState.PURGING


def test_purge_now_is_for_admins_past_the_deadline(
        service: RetentionService, engine: Engine) -> None:
    with pytest.raises(Conflict, match="retained until 2025-01-31"):
        service.purge_now("r1", by=ADMIN, now=T + DAY)
    service.place_hold("r1", by=ADMIN, now=T + DAY)
    with pytest.raises(Conflict, match="on hold"):
        service.purge_now("r1", by=ADMIN, now=DEADLINE + DAY)
    service.release_hold("r1", by=ADMIN, now=DEADLINE + DAY)
    tomb = service.purge_now("r1", by=ADMIN, now=DEADLINE + DAY)
    assert tomb.purge_reason is PurgeReason.ADMIN
    assert service.purge_now("r1", by=ADMIN, now=DEADLINE + 2 * DAY) == tomb
    with Session(engine) as session:
        event = audit.query(session, actions=[AuditAction.PURGE_NOW]).items[0]
    assert (event.actor_id, event.detail["bytes_removed"]) == (ADMIN, 100)


def test_purge_now_reports_an_incomplete_purge(engine: Engine) -> None:
    service = RetentionService(engine, purgers=[CountingPurger(fail=True)])
    service.register(ended_room())
    with pytest.raises(PurgeIncomplete):
        service.purge_now("r1", by=ADMIN, now=DEADLINE)


def test_sweep_takes_oldest_first_and_a_dry_run_deletes_nothing(engine: Engine) -> None:
    purger = CountingPurger()
    service = RetentionService(engine, purgers=[purger])
    for i, ended in enumerate([T + 2 * DAY, T, T + 40 * DAY, T + DAY]):
        service.register(ended_room(f"r{i}", ended_at=ended))
    now = DEADLINE + 5 * DAY
    dry = service.sweep(now=now, dry_run=True)
    assert dry.due == ["r1", "r3", "r0"] and dry.purged == [] and purger.calls == []
    wet = service.sweep(now=now)
    assert wet.purged == ["r1", "r3", "r0"] and wet.bytes_removed == 300
    assert service.sweep(now=now).due == []


def test_upcoming_and_summary(engine: Engine) -> None:
    service = RetentionService(engine)
    for i, ended in enumerate([T, T + 3 * DAY, T + 20 * DAY]):
        service.register(ended_room(f"r{i}", ended_at=ended))
    service.place_hold("r1", by=ADMIN, now=T)
    now = DEADLINE + DAY
    assert [r.room_id for r in service.upcoming(now=now)] == ["r0"]
    assert [r.room_id for r in service.upcoming(now=now, within=30 * DAY)] == ["r0", "r2"]
    summary = service.summary(now=now)
    assert (summary.retained, summary.held, summary.due, summary.upcoming) == (3, 1, 1, 1)
    assert summary.next_deadline == DEADLINE


def test_a_failing_listener_does_not_undo_the_change(engine: Engine) -> None:
    service = RetentionService(engine)

    def broken(row: Retention) -> None:
        raise RuntimeError("scheduler down")

    service.subscribe(broken)
    assert service.register(ended_room()).room_id == "r1"
    assert service.get("r1").retain_until == DEADLINE


def test_directory_purger_removes_a_room_folder_and_counts_bytes(tmp_path: Path) -> None:
    (tmp_path / "r1" / "tracks").mkdir(parents=True)
    (tmp_path / "r1" / "mixed.opus").write_bytes(b"x" * 300)
    (tmp_path / "r1" / "tracks" / "a.opus").write_bytes(b"x" * 50)
    (tmp_path / "r2").mkdir()
    purger = DirectoryPurger(tmp_path)
    assert purger.purge("r1") == 350
    assert purger.purge("r1") == 0
    assert [p.name for p in tmp_path.iterdir()] == ["r2"]
    with pytest.raises(ValueError, match="not a room id"):
        purger.purge("../etc")
