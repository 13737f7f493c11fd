"""The reports API: anyone who was in a recorded room (or its host) reports it; admins work the
queue. Filing, each status change and each note is audited by the service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from roomscribe.accounts.tables import Account
from roomscribe.params import Cursor, Id
from roomscribe.reports.schemas import ReportDetail, ReportPage, ReportReason
from roomscribe.reports.service import PAGE_LIMIT, UNRESOLVED, ReportService, note_public, public
from roomscribe.reports.tables import (
    ReportCreate,
    ReportNoteCreate,
    ReportNotePublic,
    ReportPublic,
    ReportStatus,
    ReportUpdate,
)


def provide_reports(state: State) -> ReportService:
    service: ReportService = state.reports
    return service


DEPENDENCIES = {"reports": Provide(provide_reports, sync_to_thread=False)}


class ReportController(Controller):
    path = "/api/v1/rooms"
    tags = ("reports",)

    @post("/{room_id:str}/reports", operation_id="reportRoom", sync_to_thread=True)
    def file(self, room_id: FromPath[str], data: JSONBody[ReportReason],
             caller: NamedDependency[Account], reports: NamedDependency[ReportService],
             now: NamedDependency[datetime]) -> ReportPublic:
        """Report a recorded room you were in (or host): keeps its recording for the
        investigation. 403 if you were not in it, 410 after its deadline, 409 if you already
        have a report of it waiting."""
        assert caller.id is not None
        return public(reports.file(ReportCreate(room_id=room_id, reason=data.reason),
                                   reporter_id=caller.id, now=now))


class AdminReportController(Controller):
    path = "/api/v1/admin/reports"
    tags = ("admin",)

    @get("/", operation_id="listReports", sync_to_thread=True)
    def queue(
        self, admin: NamedDependency[Account], reports: NamedDependency[ReportService],
        status: FromQuery[list[ReportStatus] | None] = None,
        room_id: FromQuery[str | None] = None, after: Cursor = None,
        limit: Annotated[int, QueryParameter(ge=1, le=PAGE_LIMIT)] = 50,
    ) -> ReportPage:
        """The queue, oldest first: open and investigating reports unless `status` says."""
        return reports.page(statuses=status or UNRESOLVED, room_id=room_id, after=after,
                          limit=limit)

    @get("/{report_id:int}", operation_id="getReport", sync_to_thread=True)
    def report(self, report_id: Id, admin: NamedDependency[Account],
               reports: NamedDependency[ReportService]) -> ReportDetail:
        return reports.detail(report_id)

    @patch("/{report_id:int}", operation_id="updateReport", sync_to_thread=True)
    def update(self, report_id: Id, data: JSONBody[ReportUpdate],
               admin: NamedDependency[Account], reports: NamedDependency[ReportService],
               now: NamedDependency[datetime]) -> ReportPublic:
        """One step: open → investigating → resolved (with an outcome), optionally with a note.
        409 for any other step, or when another admin moved it first."""
        assert admin.id is not None
        return public(reports.update(report_id, data, by=admin.id, now=now))

    @post("/{report_id:int}/notes", operation_id="addReportNote", sync_to_thread=True)
    def add_note(self, report_id: Id, data: JSONBody[ReportNoteCreate],
                 admin: NamedDependency[Account], reports: NamedDependency[ReportService],
                 now: NamedDependency[datetime]) -> ReportNotePublic:
        assert admin.id is not None
        return note_public(reports.add_note(report_id, data, by=admin.id, now=now))
