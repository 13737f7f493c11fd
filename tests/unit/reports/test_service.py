"""Filing reports (who may, until when) and the admins' workflow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from helpers.retention import ADMIN, HOST, LISTENER, STRANGER, T, ended_room
from roomscribe.audit import service as audit
from roomscribe.errors import Conflict, Forbidden, NotFound
from roomscribe.reports.service import ReportService
from roomscribe.reports.tables import (
    ReportCreate,
    ReportNoteCreate,
    ReportOutcome,
    ReportStatus,
    ReportUpdate,
)
from roomscribe.retention.outcomes import RetentionGone
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import Retention

DAY = timedelta(days=1)


@pytest.fixture
def retention(engine: Engine) -> RetentionService:
    service = RetentionService(engine)
    service.register(ended_room())
    return service


@pytest.fixture
def reports(engine: Engine, retention: RetentionService) -> ReportService:
    present = {("r1", LISTENER)}
    return ReportService(engine, retention=retention,
                         presence=lambda room_id, account_id: (room_id, account_id) in present)


def report(reason: str = "harassment at 12:30") -> ReportCreate:
    return ReportCreate(room_id="r1", reason=reason)


def test_a_present_listener_files_and_retention_moves_to_120_days(
        reports: ReportService, retention: RetentionService) -> None:
    seen: list[Retention] = []
    retention.subscribe(seen.append)
    filed = reports.file(report(), reporter_id=LISTENER, now=T + 10 * DAY)
    assert (filed.status, filed.outcome, filed.reporter_id) == (ReportStatus.OPEN, None, LISTENER)
    assert retention.get("r1").retain_until == T + 120 * DAY
    assert [r.retain_until for r in seen] == [T + 120 * DAY]


def test_the_host_may_report_without_presence(reports: ReportService) -> None:
    assert reports.file(report(), reporter_id=HOST, now=T + DAY).id is not None


def test_someone_who_was_not_there_may_not(reports: ReportService) -> None:
    with pytest.raises(Forbidden, match="in the room"):
        reports.file(report(), reporter_id=STRANGER, now=T + DAY)


def test_a_reason_is_required() -> None:
    with pytest.raises(ValidationError, match="blank"):
        report("   ")


def test_an_unknown_room_is_not_found(reports: ReportService) -> None:
    with pytest.raises(NotFound):
        reports.file(ReportCreate(room_id="nope", reason="x"), reporter_id=HOST, now=T)


def test_after_the_deadline_the_report_is_refused_with_the_date(
        reports: ReportService, retention: RetentionService) -> None:
    with pytest.raises(RetentionGone, match="can no longer be reported: its retention ended on "
                                            "2025-01-31T12:00:00") as err:
        reports.file(report(), reporter_id=LISTENER, now=T + 30 * DAY + timedelta(seconds=1))
    assert err.value.status == 410
    assert reports.queue() == []
    assert retention.get("r1").reported_at is None


def test_one_unresolved_report_per_reporter_and_room(reports: ReportService) -> None:
    first = reports.file(report(), reporter_id=LISTENER, now=T + DAY)
    with pytest.raises(Conflict, match="already reported"):
        reports.file(report(), reporter_id=LISTENER, now=T + 2 * DAY)
    reports.update(first.id or 0, ReportUpdate(status=ReportStatus.RESOLVED,
                                               outcome=ReportOutcome.NO_VIOLATION),
                   by=ADMIN, now=T + 3 * DAY)
    assert reports.file(report(), reporter_id=LISTENER, now=T + 4 * DAY).id != first.id


def test_workflow_with_notes_and_audit(
        reports: ReportService, retention: RetentionService, engine: Engine) -> None:
    rid = reports.file(report(), reporter_id=LISTENER, now=T + DAY).id or 0
    step = reports.update(rid, ReportUpdate(status=ReportStatus.INVESTIGATING,
                                            note="listening to 12:00–13:00"),
                          by=ADMIN, now=T + 2 * DAY)
    assert step.status is ReportStatus.INVESTIGATING and step.updated_at == T + 2 * DAY
    reports.add_note(rid, ReportNoteCreate(text="speaker 2 confirmed"), by=ADMIN, now=T + 3 * DAY)
    done = reports.update(rid, ReportUpdate(status=ReportStatus.RESOLVED,
                                            outcome=ReportOutcome.NO_VIOLATION),
                          by=ADMIN, now=T + 4 * DAY)
    assert (done.outcome, done.resolved_by, done.resolved_at) == \
        (ReportOutcome.NO_VIOLATION, ADMIN, T + 4 * DAY)
    assert [n.text for n in reports.notes(rid)] == ["listening to 12:00–13:00",
                                                    "speaker 2 confirmed"]
    # Whatever the outcome, the extension the report bought stays.
    assert retention.get("r1").retain_until == T + 120 * DAY
    with Session(engine) as session:
        events = audit.query(session, room_id="r1").items
    assert [e.action for e in events] == ["report.status", "report.note", "report.status",
                                          "report.filed"]
    assert events[0].detail == {"report_id": rid, "from": "investigating", "to": "resolved",
                                "outcome": "no_violation", "note_id": None}


def test_a_resolved_report_is_final_and_steps_are_checked(reports: ReportService) -> None:
    rid = reports.file(report(), reporter_id=LISTENER, now=T + DAY).id or 0
    reports.update(rid, ReportUpdate(status=ReportStatus.RESOLVED,
                                     outcome=ReportOutcome.VIOLATION), by=ADMIN, now=T + 2 * DAY)
    with pytest.raises(Conflict, match="resolved; it cannot become investigating"):
        reports.update(rid, ReportUpdate(status=ReportStatus.INVESTIGATING), by=ADMIN,
                       now=T + 3 * DAY)
    with pytest.raises(ValidationError, match="outcome"):
        ReportUpdate(status=ReportStatus.RESOLVED)
    with pytest.raises(ValidationError, match="outcome"):
        ReportUpdate(status=ReportStatus.INVESTIGATING, outcome=ReportOutcome.VIOLATION)
    with pytest.raises(NotFound):
        reports.update(999, ReportUpdate(status=ReportStatus.INVESTIGATING), by=ADMIN, now=T)


def test_the_queue_is_oldest_first_and_filters(
        reports: ReportService, retention: RetentionService) -> None:
    retention.register(ended_room("r2"))
    a = reports.file(report(), reporter_id=HOST, now=T + DAY)
    b = reports.file(ReportCreate(room_id="r2", reason="spam"), reporter_id=HOST, now=T + DAY)
    c = reports.file(report(), reporter_id=LISTENER, now=T + DAY)
    reports.update(c.id or 0, ReportUpdate(status=ReportStatus.INVESTIGATING), by=ADMIN, now=T)
    assert [r.id for r in reports.queue()] == [a.id, b.id, c.id]
    assert [r.id for r in reports.queue(statuses=[ReportStatus.OPEN])] == [a.id, b.id]
    assert [r.id for r in reports.queue(room_id="r1")] == [a.id, c.id]
    assert [r.id for r in reports.queue(after=a.id, limit=1)] == [b.id]
