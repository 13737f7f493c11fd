"""The admin console: the report queue, holds, upcoming purges with "purge now", the audit log,
and storage used. Admins only; everyone else gets the 403 page (and a visitor who is not signed in
the sign-in page).

Every handler takes `page_admin`, so none can forget the check. Forms post, then come back to the
page they were on (303) with `?done=` naming a fixed message; a refusal shows the page again with
the reason in its error summary. The services audit every change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from pydantic import ValidationError

from roomscribe.accounts.service import AccountService
from roomscribe.accounts.tables import Account
from roomscribe.audit.service import AuditLog
from roomscribe.audit.tables import AuditAction, AuditPage
from roomscribe.errors import Forbidden, InvalidInput, RoomscribeError
from roomscribe.params import Id, row_number
from roomscribe.reports.schemas import ReportDetail
from roomscribe.reports.service import PAGE_LIMIT, UNRESOLVED, ReportService
from roomscribe.reports.tables import ReportNoteCreate, ReportStatus, ReportUpdate
from roomscribe.retention.service import UPCOMING_DAYS, RetentionService
from roomscribe.web.forms import Errors, FormData, value
from roomscribe.web.responses import render, sentence
from roomscribe.web.security import local_path

ACTION_NAMES = {
    AuditAction.REPORT_FILED: "Report filed",
    AuditAction.REPORT_STATUS: "Report status changed",
    AuditAction.REPORT_NOTE: "Note added to a report",
    AuditAction.HOLD_PLACED: "Hold placed",
    AuditAction.HOLD_RELEASED: "Hold released",
    AuditAction.DOWNLOAD_RECORDING: "Recording downloaded",
    AuditAction.DOWNLOAD_TRANSCRIPT: "Transcript downloaded",
    AuditAction.PURGE: "Purged at the deadline",
    AuditAction.PURGE_NOW: "Purged by an admin",
}

STATUS_FILTERS = {
    "waiting": ("Open and investigating", UNRESOLVED),
    "open": ("Open", (ReportStatus.OPEN,)),
    "investigating": ("Investigating", (ReportStatus.INVESTIGATING,)),
    "resolved": ("Resolved", (ReportStatus.RESOLVED,)),
    "all": ("All", tuple(ReportStatus)),
}

NOTICES = {
    "investigating": "The report is now being investigated.",
    "resolved": "The report is resolved.",
    "note": "Your note is added.",
    "held": "The hold is placed: the recording is kept until it is released.",
    "released": "The hold is released: the deadline applies again.",
    "purged": "The recording and transcript are deleted.",
}

AUDIT_PAGE = 50


def provide_page_admin(page_caller: NamedDependency[Account]) -> Account:
    if not page_caller.is_admin:
        raise Forbidden("only admins may use the admin console")
    return page_caller


# -- what the pages show -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class People:
    """Who the report pages name by id, and the rooms they are about."""

    accounts: AccountService
    retention: RetentionService


def provide_people(accounts: NamedDependency[AccountService],
                   retention: NamedDependency[RetentionService]) -> People:
    return People(accounts, retention)


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """The audit page's filter form, as typed and as the log query needs it."""

    room: str = ""
    who: str = ""
    action: str = ""
    since: str = ""
    until: str = ""

    @classmethod
    def read(cls, request: Request[Any, Any, Any]) -> AuditFilters:
        query = request.query_params
        return cls(**{name: (query.get(name) or "").strip() for name in
                      ("room", "who", "action", "since", "until")})

    @property
    def values(self) -> dict[str, str]:
        """The form's fields as typed, to show them again."""
        return {"room": self.room, "who": self.who, "action": self.action, "since": self.since,
                "until": self.until}

    def query(self, audit_log: AuditLog, accounts: AccountService, *,
              before: int | None) -> tuple[AuditPage, Errors]:
        errors: Errors = {}
        since = self._day(self.since, "since", errors)
        until = self._day(self.until, "until", errors)
        actor_id: int | None = None
        if self.who:
            actor = accounts.find(self.who.lstrip("@"))
            actor_id = actor.id if actor is not None else None
            if actor_id is None:
                errors["who"] = f"No account has the handle {self.who}."
        if self.action and self.action not in ACTION_NAMES:
            errors["action"] = "Choose an action from the list."
        if errors:
            return AuditPage(items=[]), errors
        return audit_log.page(room_id=self.room or None, actor_id=actor_id,
                              actions=[self.action] if self.action else None, since=since,
                              until=until + timedelta(days=1) if until else None,
                              before=before, limit=AUDIT_PAGE), errors

    def link(self, **extra: object) -> str:
        fields = {k: v for k, v in (*self.values.items(), *extra.items()) if v}
        return "/admin/audit" + (f"?{urlencode(fields)}" if fields else "")

    @staticmethod
    def _day(text: str, name: str, errors: Errors) -> datetime | None:
        """A `<input type=date>` value as the start of that day in UTC."""
        if not text:
            return None
        try:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        except ValueError:
            errors[name] = "Enter a date like 2025-03-01."
            return None


def _back(path: str, done: str) -> Redirect:
    return Redirect(path=f"{path}?done={done}", status_code=303)


def _back_to(data: dict[str, Any], default: str) -> str:
    """The admin page a form came from (`back`), where it returns to; else `default`."""
    back = local_path(value(data, "back"), default)
    return back if back.startswith("/admin/") else default


def _notice(request: Request[Any, Any, Any]) -> str:
    return NOTICES.get(request.query_params.get("done") or "", "")


def _refusal(err: RoomscribeError | ValidationError) -> tuple[int, Errors]:
    if isinstance(err, ValidationError):
        return 400, {"": sentence(str(err.errors()[0]["msg"]).removeprefix("Value error, "))}
    return int(err.status), {"": sentence(str(err))}


class AdminPageController(Controller):
    path = "/admin"
    include_in_schema = False
    # Read once by Litestar when the app is built, never mutated.
    dependencies = {"page_admin": Provide(provide_page_admin, sync_to_thread=False),  # noqa: RUF012
                    "people": Provide(provide_people, sync_to_thread=False)}

    # -- overview --------------------------------------------------------------------------------

    @get("/", sync_to_thread=True)
    def home(self, page_admin: NamedDependency[Account],
             retention: NamedDependency[RetentionService],
             reports: NamedDependency[ReportService], now: NamedDependency[datetime],
             storage_used: NamedDependency[int]) -> Template:
        return render("admin.html", page_admin, tab="overview",
                      summary=retention.overview(now=now, storage_used=storage_used),
                      waiting=len(reports.queue(limit=PAGE_LIMIT)), waiting_cap=PAGE_LIMIT)

    # -- reports ---------------------------------------------------------------------------------

    @get("/reports", sync_to_thread=True)
    def report_queue(self, request: Request[Any, Any, Any],
                     accounts: NamedDependency[AccountService],
                     page_admin: NamedDependency[Account],
                     retention: NamedDependency[RetentionService],
                     reports: NamedDependency[ReportService]) -> Template:
        shown = request.query_params.get("status") or "waiting"
        if shown not in STATUS_FILTERS:
            raise InvalidInput("choose which reports to show from the list")
        page = reports.page(statuses=STATUS_FILTERS[shown][1],
                            after=row_number(request.query_params.get("after")))
        return render("admin_reports.html", page_admin, tab="reports", page=page, shown=shown,
                      filters=STATUS_FILTERS,
                      people=accounts.handles(r.reporter_id for r in page.items),
                      rooms=retention.rows(r.room_id for r in page.items))

    @get("/reports/{report_id:int}", sync_to_thread=True)
    def report(self, request: Request[Any, Any, Any], report_id: Id,
               people: NamedDependency[People],
               page_admin: NamedDependency[Account], reports: NamedDependency[ReportService],
               now: NamedDependency[datetime]) -> Template:
        return self._report(people, page_admin, reports.detail(report_id), now,
                            notice=_notice(request))

    @post("/reports/{report_id:int}/status", sync_to_thread=True)
    def report_status(self, report_id: Id, data: FormData, people: NamedDependency[People],
                      page_admin: NamedDependency[Account],
                      reports: NamedDependency[ReportService],
                      now: NamedDependency[datetime]) -> Response[Any]:
        assert page_admin.id is not None
        fields = {"status": value(data, "status"), "outcome": value(data, "outcome") or None,
                  "note": value(data, "note").strip() or None}
        if fields["status"] == ReportStatus.RESOLVED and not fields["outcome"]:
            return self._report(people, page_admin, reports.detail(report_id), now,
                                errors={"outcome": "Choose an outcome to resolve the report."},
                                values=fields, status=400)
        try:
            change = ReportUpdate.model_validate(fields)
            reports.update(report_id, change, by=page_admin.id, now=now)
        except (RoomscribeError, ValidationError) as err:
            status, errors = _refusal(err)
            return self._report(people, page_admin, reports.detail(report_id), now,
                                errors=errors, values=fields, status=status)
        return _back(f"/admin/reports/{report_id}", change.status.value)

    @post("/reports/{report_id:int}/notes", sync_to_thread=True)
    def report_note(self, report_id: Id, data: FormData, people: NamedDependency[People],
                    page_admin: NamedDependency[Account],
                    reports: NamedDependency[ReportService],
                    now: NamedDependency[datetime]) -> Response[Any]:
        assert page_admin.id is not None
        try:
            note = ReportNoteCreate.model_validate({"text": value(data, "text")})
            reports.add_note(report_id, note, by=page_admin.id, now=now)
        except ValidationError:
            return self._report(people, page_admin, reports.detail(report_id), now,
                                errors={"text": "Write the note before adding it."},
                                status=400)
        return _back(f"/admin/reports/{report_id}", "note")

    def _report(self, people: People, admin: Account, found: ReportDetail, now: datetime, *,
                notice: str = "", errors: Errors | None = None,
                values: dict[str, Any] | None = None, status: int = 200) -> Template:
        report = found.report
        names = people.accounts.handles([report.reporter_id, report.resolved_by,
                                         *(n.author_id for n in found.notes)])
        return render("admin_report.html", admin, tab="reports", status=status, found=found,
                      report=report, kept=people.retention.rows([report.room_id]).get(
                          report.room_id),
                      people=names, now=now, notice=notice, errors=errors or {},
                      values=values or {})

    # -- holds -----------------------------------------------------------------------------------

    @get("/holds", sync_to_thread=True)
    def holds(self, request: Request[Any, Any, Any], accounts: NamedDependency[AccountService],
              page_admin: NamedDependency[Account],
              retention: NamedDependency[RetentionService]) -> Template:
        return self._holds(accounts, page_admin, retention, notice=_notice(request))

    @post("/holds", sync_to_thread=True)
    def place_hold(self, data: FormData, accounts: NamedDependency[AccountService],
                   page_admin: NamedDependency[Account],
                   retention: NamedDependency[RetentionService],
                   now: NamedDependency[datetime]) -> Response[Any]:
        assert page_admin.id is not None
        room_id = value(data, "room_id").strip()
        if not room_id:
            return self._holds(accounts, page_admin, retention, status=400,
                               errors={"room_id": "Enter the room's id."}, values=data)
        try:
            retention.place_hold(room_id, by=page_admin.id, now=now,
                                 note=value(data, "note").strip() or None)
        except RoomscribeError as err:
            status, errors = _refusal(err)
            return self._holds(accounts, page_admin, retention, status=status,
                               errors=errors, values=data)
        # The purges page and a report's page hold a room in one click, and come back there.
        return _back(_back_to(data, "/admin/holds"), "held")

    @post("/holds/{room_id:str}/release", sync_to_thread=True)
    def release_hold(self, room_id: FromPath[str], data: FormData,
                     accounts: NamedDependency[AccountService],
                     page_admin: NamedDependency[Account],
                     retention: NamedDependency[RetentionService],
                     now: NamedDependency[datetime]) -> Response[Any]:
        assert page_admin.id is not None
        try:
            retention.release_hold(room_id, by=page_admin.id, now=now)
        except RoomscribeError as err:
            status, errors = _refusal(err)
            return self._holds(accounts, page_admin, retention, status=status,
                               errors=errors)
        return _back(_back_to(data, "/admin/holds"), "released")

    def _holds(self, accounts: AccountService, admin: Account, retention: RetentionService, *,
               notice: str = "", errors: Errors | None = None,
               values: dict[str, Any] | None = None, status: int = 200) -> Template:
        held = retention.holds()
        return render("admin_holds.html", admin, tab="holds", status=status, holds=held,
                      people=accounts.handles(r.hold_by for r in held), notice=notice,
                      errors=errors or {}, values={k: value(values or {}, k)
                                                   for k in ("room_id", "note")})

    # -- purges ----------------------------------------------------------------------------------

    @get("/purges", sync_to_thread=True)
    def purges(self, request: Request[Any, Any, Any], page_admin: NamedDependency[Account],
               retention: NamedDependency[RetentionService],
               now: NamedDependency[datetime]) -> Template:
        return self._purges(page_admin, retention, now, notice=_notice(request))

    @post("/purges/{room_id:str}", sync_to_thread=True)
    def purge_now(self, room_id: FromPath[str], page_admin: NamedDependency[Account],
                  retention: NamedDependency[RetentionService],
                  now: NamedDependency[datetime]) -> Response[Any]:
        assert page_admin.id is not None
        try:
            retention.purge_now(room_id, by=page_admin.id, now=now)
        except RoomscribeError as err:
            status, errors = _refusal(err)
            return self._purges(page_admin, retention, now, errors=errors, status=status)
        return _back("/admin/purges", "purged")

    def _purges(self, admin: Account, retention: RetentionService, now: datetime, *,
                notice: str = "", errors: Errors | None = None, status: int = 200) -> Template:
        return render("admin_purges.html", admin, tab="purges", status=status, now=now,
                      days=UPCOMING_DAYS, notice=notice, errors=errors or {},
                      upcoming=retention.upcoming(now=now,
                                                  within=timedelta(days=UPCOMING_DAYS)))

    # -- audit log -------------------------------------------------------------------------------

    @get("/audit", sync_to_thread=True)
    def audit(self, request: Request[Any, Any, Any], accounts: NamedDependency[AccountService],
              audit_log: NamedDependency[AuditLog],
              page_admin: NamedDependency[Account]) -> Template:
        filters = AuditFilters.read(request)
        before = row_number(request.query_params.get("before"))
        page, errors = filters.query(audit_log, accounts, before=before)
        return render("admin_audit.html", page_admin, status=400 if errors else 200, tab="audit",
                      page=page, filters=filters, errors=errors, before=before,
                      actions=ACTION_NAMES,
                      people=accounts.handles(e.actor_id for e in page.items))
