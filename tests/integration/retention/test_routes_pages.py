"""The pages over the retention API, as a browser without script uses them: the host's download
page, the report form, and the admin console's forms (what they say when they refuse).

One server for the module; each test makes its own rooms, and the clock is put back after each.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from sqlalchemy import Engine
from websockets.sync.client import connect

from helpers.console import DAY, Visitor, iso, moment, start_clock
from helpers.profile import settings_for
from helpers.site import Site, serve
from integration.rooms.harness import FakeCaptionSource, RecordingAudioSink
from roomscribe.accounts.service import AccountService
from roomscribe.clock import ManualClock
from roomscribe.db import make_engine
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import Retention, RetentionCreate
from roomscribe.web import when

PEOPLE = ("host", "speaker", "listener", "stranger", "admin")


@dataclass
class Stage:
    site: Site
    clock: ManualClock
    engine: Engine
    retention: RetentionService
    visitors: dict[str, Visitor]
    start: datetime
    _rooms: Iterator[int] = field(default_factory=itertools.count)

    def ended_room(self) -> str:
        """A recorded room: the speaker spoke, the listener followed its captions; ended and
        kept."""
        site = self.site
        room = site.room("host", record=True, title=f"Budget {next(self._rooms)}")
        site.speaker(room, "host", "speaker")
        with connect(site.socket_url(f"/rooms/{room}/captions", "listener")) as socket:
            socket.recv(timeout=10)  # the room's snapshot: joined
        site.api("POST", f"/rooms/{room}/end", "host")
        ended = site.api("GET", f"/rooms/{room}", "host")
        self.retention.register(RetentionCreate(
            room_id=room, room_title=ended["title"], host_id=self.host_id,
            ended_at=moment(ended["ended_at"])))
        return room

    @property
    def host_id(self) -> int:
        return AccountService(self.engine).get("host").id or 0

    def kept(self, room: str) -> Retention:
        return self.retention.get(room)


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    settings = settings_for(tmp_path_factory.mktemp("pages") / "data")
    clock = start_clock()
    with serve(settings, clock=clock, caption_source=FakeCaptionSource(),
               audio_sink=RecordingAudioSink()) as site:
        engine = make_engine(settings)
        for handle in PEOPLE:
            site.account(handle)
        AccountService(engine).make_admin("admin", password=None)
        visitors = {who: Visitor.arrive(site.http, who) for who in PEOPLE}
        visitors["anonymous"] = Visitor.arrive(site.http, None)
        try:
            yield Stage(site, clock, engine, RetentionService(engine), visitors, clock())
        finally:
            engine.dispose()


@pytest.fixture(autouse=True)
def clock_back(stage: Stage) -> Iterator[None]:
    yield
    stage.clock.set(stage.start)


# -- the download page ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["host", "admin"])
def test_the_download_page_says_until_when(stage: Stage, who: str) -> None:
    room = stage.ended_room()
    page = stage.visitors[who].get(f"/r/{room}/downloads")
    assert page.status_code == 200
    deadline = stage.kept(room).retain_until
    assert (f'Available to download until <time datetime="{deadline.isoformat()}" data-local>'
            f"{when(deadline)}</time>") in page.text
    assert f'href="/api/v1/rooms/{room}/recording"' in page.text
    for fmt in ("vtt", "srt", "txt", "json"):
        assert f'href="/api/v1/rooms/{room}/transcript?format={fmt}"' in page.text


@pytest.mark.parametrize(("who", "status"), [("speaker", 403), ("listener", 403),
                                             ("stranger", 403), ("anonymous", 303)])
def test_only_the_host_and_admins_see_the_download_page(stage: Stage, who: str,
                                                        status: int) -> None:
    room = stage.ended_room()
    page = stage.visitors[who].get(f"/r/{room}/downloads")
    assert page.status_code == status
    if status == 403:
        assert "Only the host and admins may download this room&#39;s recording." in page.text


def test_after_the_deadline_and_after_the_purge(stage: Stage) -> None:
    room = stage.ended_room()
    deadline = stage.kept(room).retain_until
    stage.clock.set(deadline)
    gone = stage.visitors["host"].get(f"/r/{room}/downloads")
    assert "The recording can no longer be downloaded:" in gone.text
    assert 'href="/api/v1/rooms/' not in gone.text

    stage.clock.set(deadline + DAY)
    stage.visitors["admin"].post(f"/admin/purges/{room}")
    deleted = stage.visitors["host"].get(f"/r/{room}/downloads")
    assert "The recording was deleted on" in deleted.text
    assert f'<time datetime="{(deadline + DAY).isoformat()}"' in deleted.text


# -- the report form -----------------------------------------------------------------------------


def test_a_listener_reports_with_the_form(stage: Stage) -> None:
    room = stage.ended_room()
    form = stage.visitors["listener"].get(f"/r/{room}/report")
    assert form.status_code == 200 and "What happened?" in form.text

    sent = stage.visitors["listener"].post(f"/r/{room}/report", {"reason": "Slurs at 12:00."})

    assert (sent.status_code, sent.headers["location"]) == (303, f"/r/{room}/report?done=filed")
    assert "Your report is sent." in stage.visitors["listener"].get(sent.headers["location"]).text
    assert stage.kept(room).reported_at == stage.clock()


def test_the_form_says_why_it_refuses(stage: Stage) -> None:
    room = stage.ended_room()
    blank = stage.visitors["listener"].post(f"/r/{room}/report", {"reason": "  "})
    assert blank.status_code == 400
    assert 'aria-invalid="true"' in blank.text and "Say what happened" in blank.text

    stranger = stage.visitors["stranger"].post(f"/r/{room}/report", {"reason": "Rude."})
    assert stranger.status_code == 403
    assert "Only the host and people who were in the room may report it." in stranger.text
    # Nor does the form show a stranger the room's title or until when it is kept (a date that
    # moved would tell them someone reported it).
    form = stage.visitors["stranger"].get(f"/r/{room}/report")
    assert form.status_code == 403
    assert stage.kept(room).room_title not in form.text and "retention" not in form.text

    stage.clock.set(stage.kept(room).retain_until)
    late = stage.visitors["listener"].post(f"/r/{room}/report", {"reason": "Rude."})
    assert late.status_code == 410
    assert "This room can no longer be reported: its retention period ended on" in late.text
    assert stage.kept(room).reported_at is None


# -- the admin console's forms -------------------------------------------------------------------


def test_an_admin_works_a_report_through_the_forms(stage: Stage) -> None:
    room = stage.ended_room()
    stage.visitors["listener"].post(f"/r/{room}/report", {"reason": "Slurs at 12:00."})
    admin = stage.visitors["admin"]
    [filed] = stage.site.api("GET", f"/admin/reports?room_id={room}", "admin")["items"]
    report_id = filed["id"]
    path = f"/admin/reports/{report_id}"
    assert f'<a href="{path}">Report {report_id}</a>' in admin.get("/admin/reports").text

    assert admin.post(f"{path}/status", {"status": "investigating"}).status_code == 303
    no_outcome = admin.post(f"{path}/status", {"status": "resolved", "note": "Checked."})
    assert no_outcome.status_code == 400
    assert "Choose an outcome to resolve the report." in no_outcome.text
    assert ">Checked.</textarea>" in no_outcome.text
    resolved = admin.post(f"{path}/status", {"status": "resolved", "outcome": "violation",
                                             "note": "Confirmed at 12:00."})
    assert resolved.headers["location"] == f"{path}?done=resolved"
    page = admin.get(resolved.headers["location"])
    assert "The report is resolved." in page.text
    assert "Resolved: violation" in page.text and "Confirmed at 12:00." in page.text
    assert "Resolve the report" not in page.text
    again = admin.post(f"{path}/status", {"status": "investigating"})
    assert again.status_code == 409
    assert f"Report {report_id} is resolved; it cannot become investigating." in again.text


def test_admin_forms_refuse_with_a_reason(stage: Stage) -> None:
    room = stage.ended_room()
    admin = stage.visitors["admin"]
    unknown = admin.post("/admin/holds", {"room_id": "no-such-room"})
    assert unknown.status_code == 404
    assert "No retained recording for room no-such-room." in unknown.text
    early = admin.post(f"/admin/purges/{room}")
    assert early.status_code == 409
    assert f"Room {room} is retained until {iso(stage.kept(room).retain_until)}." in early.text
    who = admin.get("/admin/audit?who=nobody_here")
    assert who.status_code == 400 and "No account has the handle nobody_here." in who.text


def test_holding_from_the_purges_page_comes_back_there(stage: Stage) -> None:
    room = stage.ended_room()
    stage.clock.set(stage.kept(room).retain_until - DAY)
    admin = stage.visitors["admin"]
    assert room in admin.get("/admin/purges").text
    held = admin.post("/admin/holds", {"room_id": room, "back": "/admin/purges"})
    assert held.headers["location"] == "/admin/purges?done=held"
    assert room not in admin.get("/admin/purges").text
    assert room in admin.get("/admin/holds").text
    outside = admin.post(f"/admin/holds/{room}/release", {"back": "https://example.org/"})
    assert outside.headers["location"] == "/admin/holds?done=released"
