"""Every admin action, in the API and in the console's pages, needs the admin role.

Each is refused for the room's host, one of its speakers, a listener who followed it, and an
anonymous visitor (each cell its own test, and the audit log shows nothing happened), and each is
allowed for an admin, whose action lands in the audit log under their name.

One server serves the module: refusals change nothing, and each admin action works on rooms and
reports of its own, so the cells cannot depend on their order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from helpers.console import DAY, Visitor, moment, start_clock
from helpers.profile import settings_for
from helpers.site import Site, serve
from integration.rooms.harness import FakeCaptionSource, RecordingAudioSink
from roomscribe.accounts.service import AccountService
from roomscribe.app import create_app
from roomscribe.audit.tables import AuditAction, AuditEvent
from roomscribe.clock import ManualClock
from roomscribe.config import Settings
from roomscribe.db import make_engine
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import RetentionCreate

ROLES = ("host", "speaker", "listener", "anonymous")


@dataclass(frozen=True)
class Action:
    method: str
    path: str
    """With placeholders: {room} (kept, reported), {report} (open), {overdue} (past its
    deadline), {held} (on hold)."""
    ok: int
    body: dict[str, str] = field(default_factory=dict)
    audited: AuditAction | None = None
    """What an admin doing it writes to the audit log (reads write nothing)."""

    @property
    def page(self) -> bool:
        return not self.path.startswith("/api/")


ACTIONS = {
    "list reports": Action("GET", "/api/v1/admin/reports", 200),
    "read a report": Action("GET", "/api/v1/admin/reports/{report}", 200),
    "move a report": Action("PATCH", "/api/v1/admin/reports/{report}", 200,
                            {"status": "investigating"}, AuditAction.REPORT_STATUS),
    "note a report": Action("POST", "/api/v1/admin/reports/{report}/notes", 201,
                            {"text": "Listened to minute 12."}, AuditAction.REPORT_NOTE),
    "retention overview": Action("GET", "/api/v1/admin/retention", 200),
    "a room's retention": Action("GET", "/api/v1/admin/retention/{room}", 200),
    "upcoming purges": Action("GET", "/api/v1/admin/purges", 200),
    "purge now": Action("POST", "/api/v1/admin/purges/{overdue}", 200,
                        audited=AuditAction.PURGE_NOW),
    "list holds": Action("GET", "/api/v1/admin/holds", 200),
    "place a hold": Action("PUT", "/api/v1/admin/holds/{room}", 200, {"note": "Legal asked."},
                           AuditAction.HOLD_PLACED),
    "release a hold": Action("DELETE", "/api/v1/admin/holds/{held}", 200,
                             audited=AuditAction.HOLD_RELEASED),
    "audit log": Action("GET", "/api/v1/admin/audit", 200),
    "console page": Action("GET", "/admin", 200),
    "reports page": Action("GET", "/admin/reports", 200),
    "report page": Action("GET", "/admin/reports/{report}", 200),
    "report status form": Action("POST", "/admin/reports/{report}/status", 303,
                                 {"status": "investigating"}, AuditAction.REPORT_STATUS),
    "report note form": Action("POST", "/admin/reports/{report}/notes", 303,
                               {"text": "Asked the host."}, AuditAction.REPORT_NOTE),
    "holds page": Action("GET", "/admin/holds", 200),
    "hold form": Action("POST", "/admin/holds", 303, {"room_id": "{room}"},
                        AuditAction.HOLD_PLACED),
    "release form": Action("POST", "/admin/holds/{held}/release", 303,
                           audited=AuditAction.HOLD_RELEASED),
    "purges page": Action("GET", "/admin/purges", 200),
    "purge now form": Action("POST", "/admin/purges/{overdue}", 303,
                             audited=AuditAction.PURGE_NOW),
    "audit page": Action("GET", "/admin/audit", 200),
}


@dataclass
class Stage:
    site: Site
    clock: ManualClock
    engine: Engine
    retention: RetentionService
    """The test's own view of the server's database, for setting up rooms and checking the log."""
    ids: dict[str, int]
    shared: dict[str, str]
    """Targets the refused cells use (they change nothing)."""
    visitors: dict[str, Visitor]
    _made: Iterator[int] = field(default_factory=itertools.count)

    def targets(self) -> dict[str, str]:
        """Fresh rooms and a report for one admin action: kept and reported, overdue, held."""
        n = next(self._made)
        names = {key: f"{key}-{n}" for key in ("room", "overdue", "held")}
        now = self.clock()
        for key, room in names.items():
            # Ended a day ago, or (overdue) past the 30 days everything is kept.
            ended = now - (31 * DAY if key == "overdue" else DAY)
            self.retention.register(RetentionCreate(room_id=room, room_title=f"Room {room}",
                                                    host_id=self.ids["host"], ended_at=ended))
        self.retention.place_hold(names["held"], by=self.ids["admin"], now=now)
        report = self.site.api("POST", f"/rooms/{names['room']}/reports", "host",
                               {"reason": "Slurs at minute 12."})
        return {**names, "report": str(report["id"])}

    def last_event(self) -> int:
        """The newest audit event's id (0 for none)."""
        with Session(self.engine) as session:
            return session.exec(select(func.coalesce(func.max(AuditEvent.id), 0))).one()

    def events_after(self, event_id: int) -> list[AuditEvent]:
        with Session(self.engine) as session:
            return list(session.exec(select(AuditEvent).where(col(AuditEvent.id) > event_id)
                                     .order_by(col(AuditEvent.id))).all())

    def request(self, action: Action, who: str | None, targets: dict[str, str]) -> httpx.Response:
        path = action.path.format(**targets)
        body = {k: v.format(**targets) for k, v in action.body.items()}
        if action.page:
            visitor = self.visitors[who or "anonymous"]
            return visitor.get(path) if action.method == "GET" else visitor.post(path, body)
        headers = {"Authorization": f"Bearer {self.site.tokens[who]}"} if who else {}
        return self.site.http.request(action.method, path, headers=headers,
                                      json=body if action.method in ("PUT", "PATCH", "POST")
                                      else None)


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    settings = settings_for(tmp_path_factory.mktemp("admin") / "data")
    clock = start_clock()
    with serve(settings, clock=clock, caption_source=FakeCaptionSource(),
               audio_sink=RecordingAudioSink()) as site:
        engine = make_engine(settings)
        accounts = AccountService(engine)
        for handle in ("host", "speaker", "listener", "admin"):
            site.account(handle)
        admin, _ = accounts.make_admin("admin", password=None)
        ids = {handle: accounts.get(handle).id or 0 for handle in ("host", "speaker", "listener")}
        ids["admin"] = admin.id or 0
        room = site.room("host", record=True)
        site.speaker(room, "host", "speaker")
        site.api("POST", f"/rooms/{room}/end", "host")
        ended = site.api("GET", f"/rooms/{room}", "host")
        retention = RetentionService(engine)
        retention.register(RetentionCreate(room_id=room, room_title=ended["title"],
                                           host_id=ids["host"],
                                           ended_at=moment(ended["ended_at"])))
        visitors = {role: Visitor.arrive(site.http, None if role == "anonymous" else role)
                    for role in (*ROLES, "admin")}
        stage = Stage(site, clock, engine, retention, ids, {}, visitors)
        stage.shared = {**stage.targets(), "room": room}
        stage.shared["report"] = str(site.api("POST", f"/rooms/{room}/reports", "host",
                                              {"reason": "Doxxing."})["id"])
        try:
            yield stage
        finally:
            engine.dispose()


def test_every_admin_route_is_in_the_table(settings: Settings) -> None:
    """A new admin endpoint or page fails here until it is added to ACTIONS (and so tested)."""
    app = create_app(settings)
    routed = {(method, route.path) for route in app.routes
              if route.path.startswith(("/api/v1/admin", "/admin"))
              for method in getattr(route, "methods", ()) if method not in ("HEAD", "OPTIONS")}

    def shape(path: str) -> str:
        return "/".join("{}" if part.startswith("{") else part for part in path.split("/"))

    assert {(m, shape(p)) for m, p in routed} == {(a.method, shape(a.path))
                                                   for a in ACTIONS.values()}


@pytest.mark.parametrize(("name", "role"), [
    pytest.param(name, role, id=f"{name}-{role}") for name in ACTIONS for role in ROLES])
def test_refused(stage: Stage, name: str, role: str) -> None:
    action = ACTIONS[name]
    who = None if role == "anonymous" else role
    before = stage.last_event()
    response = stage.request(action, who, stage.shared)
    if action.page and who is None and action.method == "GET":
        assert response.status_code == 303
        assert response.headers["location"].startswith("/signin?next=/admin")
    elif action.page:
        assert response.status_code == (401 if who is None else 403)
        assert ("Sign in" if who is None else "Only admins may use the admin console.") \
            in response.text
    else:
        assert response.status_code == (401 if who is None else 403), response.text
        assert response.json()["error"] == ("NotAuthenticated" if who is None else "Forbidden")
    assert stage.events_after(before) == []


@pytest.mark.parametrize("name", list(ACTIONS))
def test_allowed_for_admins_and_audited(stage: Stage, name: str) -> None:
    action = ACTIONS[name]
    targets = stage.targets()
    since = stage.clock()
    stage.clock.advance(timedelta(seconds=1))
    before = stage.last_event()
    response = stage.request(action, "admin", targets)
    assert response.status_code == action.ok, response.text
    if action.page and action.method == "POST":
        assert "?done=" in response.headers["location"]
    written = stage.events_after(before)
    if action.audited is None:
        assert written == []
        return
    assert [(e.action, e.actor_id) for e in written] == [(action.audited, stage.ids["admin"])]
    assert written[0].at > since
    room = targets["held" if "release" in name else "overdue" if "purge" in name else "room"]
    assert written[0].room_id == room
