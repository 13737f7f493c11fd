"""Filing reports and moving them through the admins' workflow.

    open ──→ investigating ──→ resolved (violation | no_violation)
      └────────────────────────↗

Resolving straight from open is allowed (a report that needs no investigation); a resolved
report is final. Each step commits with its audit event, and status changes are compare-and-set
on the old status so two admins cannot both move the same report.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from roomscribe.audit import service as audit
from roomscribe.audit.tables import AuditAction
from roomscribe.db import session_scope
from roomscribe.errors import Conflict, Forbidden, InvalidInput, NotFound
from roomscribe.reports.schemas import ReportDetail, ReportPage
from roomscribe.reports.tables import (
    Report,
    ReportCreate,
    ReportNote,
    ReportNoteCreate,
    ReportNotePublic,
    ReportPublic,
    ReportStatus,
    ReportUpdate,
)
from roomscribe.retention.service import RetentionService

Presence = Callable[[str, int], bool]
"""`presence(room_id, account_id)`: whether that signed-in account was in the room. The rooms
domain provides it; the host may report whether or not it says so."""

_NEXT: dict[ReportStatus, frozenset[ReportStatus]] = {
    ReportStatus.OPEN: frozenset({ReportStatus.INVESTIGATING, ReportStatus.RESOLVED}),
    ReportStatus.INVESTIGATING: frozenset({ReportStatus.RESOLVED}),
    ReportStatus.RESOLVED: frozenset(),
}

UNRESOLVED = (ReportStatus.OPEN, ReportStatus.INVESTIGATING)

MAX_PAGE = 500
PAGE_LIMIT = 200
"""Reports a page of the queue shows at most."""


class ReportService:
    def __init__(self, engine: Engine, *, retention: RetentionService,
                 presence: Presence) -> None:
        self._engine = engine
        self._retention = retention
        self._presence = presence

    def standing(self, room_ids: Collection[str]) -> dict[str, ReportStatus]:
        """For a host's own rooms: the furthest along report of each reported room (open, under
        investigation, or resolved), for their list of rooms."""
        order = {ReportStatus.OPEN: 0, ReportStatus.INVESTIGATING: 1, ReportStatus.RESOLVED: 2}
        found: dict[str, ReportStatus] = {}
        with Session(self._engine) as session:
            for room_id, status in session.exec(select(Report.room_id, Report.status).where(
                    col(Report.room_id).in_(list(room_ids)))):
                status = ReportStatus(status)
                if room_id not in found or order[status] < order[found[room_id]]:
                    found[room_id] = status  # an unresolved report is what the host must know
        return found

    def filed_by(self, reporter_id: int) -> list[Report]:
        """Every report the account filed, oldest first (their data, for its export)."""
        with Session(self._engine) as session:
            return list(session.exec(select(Report).where(Report.reporter_id == reporter_id)
                                     .order_by(col(Report.filed_at))).all())

    def page(self, *, statuses: Collection[ReportStatus] = UNRESOLVED,
             room_id: str | None = None, after: int | None = None,
             limit: int = 50) -> ReportPage:
        """A page of the queue for the admins, oldest first."""
        # One extra row tells whether another page exists without a COUNT.
        found = self.queue(statuses=statuses, room_id=room_id, after=after, limit=limit + 1)
        items = [public(r) for r in found[:limit]]
        return ReportPage(items=items, next_after=items[-1].id if len(found) > limit else None)

    def detail(self, report_id: int) -> ReportDetail:
        return ReportDetail(report=public(self.get(report_id)),
                            notes=[note_public(n) for n in self.notes(report_id)])

    def may_report(self, room_id: str, account_id: int | None) -> bool:
        """Whether to offer `account_id` the report form of a room (they were in it)."""
        return account_id is not None and self._presence(room_id, account_id)

    def check_reporter(self, room_id: str, reporter_id: int) -> None:
        """Only the host and people who were in the room may report it, or even see what a
        report of it would say (its title, until when it is kept): Forbidden for anyone else."""
        if not self.may_report(room_id, reporter_id):
            raise Forbidden("only the host and people who were in the room may report it")

    def file(self, data: ReportCreate, *, reporter_id: int, now: datetime) -> Report:
        """File a report; it keeps the recording until `ended_at + report_retention`.

        Raises Forbidden for someone who was not in the room, `RetentionGone` (410) after the
        deadline, Conflict when this reporter already has an unresolved report of the room.
        """
        room = self._retention.get(data.room_id)
        if reporter_id != room.host_id:
            self.check_reporter(data.room_id, reporter_id)
        with session_scope(self._engine) as session:
            # The deadline moves first: its compare-and-set is the lock that orders this report
            # against a purge, and against the same reporter filing twice at once.
            retained = self._retention.extend_for_report(session, room_id=data.room_id, at=now)
            if session.exec(select(Report.id).where(
                    Report.room_id == data.room_id, Report.reporter_id == reporter_id,
                    col(Report.status).in_(UNRESOLVED))).first() is not None:
                raise Conflict("you have already reported this room; an admin is on it")
            report = Report.model_validate(data, update={
                "reporter_id": reporter_id, "filed_at": now, "updated_at": now})
            session.add(report)
            session.flush()
            audit.record(session, action=AuditAction.REPORT_FILED, at=now, actor_id=reporter_id,
                         room_id=data.room_id,
                         detail={"report_id": report.id, "retain_until": retained.retain_until})
        self._retention.announce(retained)
        return report

    def get(self, report_id: int) -> Report:
        with Session(self._engine) as session:
            return self._load(session, report_id)

    def queue(self, *, statuses: Collection[ReportStatus] = UNRESOLVED,
              room_id: str | None = None, after: int | None = None,
              limit: int = 50) -> list[Report]:
        """Reports in the given statuses, oldest first (a queue); pass the last id as `after`."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
        stmt = select(Report).where(col(Report.status).in_(list(statuses)))
        if room_id is not None:
            stmt = stmt.where(Report.room_id == room_id)
        if after is not None:
            stmt = stmt.where(col(Report.id) > after)
        with Session(self._engine) as session:
            return list(session.exec(stmt.order_by(col(Report.id)).limit(limit)).all())

    def update(self, report_id: int, change: ReportUpdate, *, by: int,
               now: datetime) -> Report:
        """Move a report one step (with an optional note); an admin's action."""
        with session_scope(self._engine) as session:
            report = self._load(session, report_id)
            old = report.status
            if change.status not in _NEXT[old]:
                raise Conflict(f"report {report_id} is {old}; it cannot become {change.status}")
            resolved = change.status is ReportStatus.RESOLVED
            result = session.exec(
                update(Report)
                .where(col(Report.id) == report_id, col(Report.status) == old)
                .values(status=change.status, outcome=change.outcome, updated_at=now,
                        resolved_by=by if resolved else None,
                        resolved_at=now if resolved else None)
                .execution_options(synchronize_session=False))
            if result.rowcount != 1:
                raise Conflict(f"report {report_id} was changed by someone else; reload it")
            note = (self._add_note(session, report, ReportNoteCreate(text=change.note),
                                   by=by, now=now) if change.note else None)
            audit.record(session, action=AuditAction.REPORT_STATUS, at=now, actor_id=by,
                         room_id=report.room_id,
                         detail={"report_id": report_id, "from": old, "to": change.status,
                                 "outcome": change.outcome,
                                 "note_id": note.id if note else None})
            return self._load(session, report_id)

    def add_note(self, report_id: int, note: ReportNoteCreate, *, by: int,
                 now: datetime) -> ReportNote:
        with session_scope(self._engine) as session:
            report = self._load(session, report_id)
            row = self._add_note(session, report, note, by=by, now=now)
            audit.record(session, action=AuditAction.REPORT_NOTE, at=now, actor_id=by,
                         room_id=report.room_id,
                         detail={"report_id": report_id, "note_id": row.id})
            return row

    def notes(self, report_id: int) -> list[ReportNote]:
        with Session(self._engine) as session:
            self._load(session, report_id)
            return list(session.exec(select(ReportNote)
                                     .where(ReportNote.report_id == report_id)
                                     .order_by(col(ReportNote.id))).all())

    @staticmethod
    def _add_note(session: Session, report: Report, note: ReportNoteCreate, *, by: int,
                  now: datetime) -> ReportNote:
        row = ReportNote.model_validate(note, update={"report_id": report.id, "author_id": by,
                                                      "at": now})
        session.add(row)
        session.flush()
        return row

    @staticmethod
    def _load(session: Session, report_id: int) -> Report:
        report = session.get(Report, report_id, populate_existing=True)
        if report is None:
            raise NotFound(f"no report {report_id}")
        return report


def public(report: Report) -> ReportPublic:
    return ReportPublic.model_validate(report, from_attributes=True)


def note_public(note: ReportNote) -> ReportNotePublic:
    return ReportNotePublic.model_validate(note, from_attributes=True)
