"""The admin console, the host's download page and the report form, in Chromium.

Every page, in each state worth seeing, passes axe-core with no violations, reflows at 320 and
640 CSS px (only a data table may scroll, inside its own region), and works by keyboard alone:
Tab reaches every control in order with a visible focus, Shift+Tab walks back, nothing traps.
Then an admin purges an overdue room, and a listener reports a room, with the keyboard only.

Its own server: time (the retention policy's clock) is set by these tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from itertools import groupby

import pytest
from playwright.sync_api import Browser, Page, expect
from websockets.sync.client import connect

from helpers.browser import axe_violations, describe
from helpers.console import DAY, moment, start_clock
from helpers.keyboard import Stop, start_at_top, tab_to, tabbable, walk
from helpers.profile import settings_for
from helpers.site import Site, serve
from integration.rooms.harness import FakeCaptionSource, RecordingAudioSink
from roomscribe.accounts.service import AccountService
from roomscribe.clock import ManualClock
from roomscribe.db import make_engine
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import RetentionCreate

pytestmark = pytest.mark.browser

OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  if (document.documentElement.scrollWidth > width) {
    found.push(`the page is ${document.documentElement.scrollWidth}px wide`);
  }
  for (const el of document.body.querySelectorAll('*')) {
    // A data table may scroll sideways inside its own focusable region (WCAG 1.4.10 exempts
    // tables); the region itself must fit.
    if (el.closest('.visually-hidden, .skip-link, [hidden]')) continue;
    if (el.parentElement && el.parentElement.closest('.table-wrap')) continue;
    const box = el.getBoundingClientRect();
    if (box.width && (box.right > width + 1 || box.left < -1)) {
      found.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} ${box.left}..${box.right}`);
    }
  }
  return found.slice(0, 10);
}"""


@dataclass
class World:
    site: Site
    clock: ManualClock
    retention: RetentionService
    people: dict[str, str]
    rooms: dict[str, str]
    report: int

    def path(self, template: str) -> str:
        return template.format(report=self.report, **self.rooms)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Recorded rooms that ended: one reported by a listener who followed it (with a note on the
    report), one on hold, one purged; and rooms known only to the retention policy, one past its
    deadline and one due in three days."""
    settings = settings_for(tmp_path_factory.mktemp("console") / "data")
    clock = start_clock()
    with serve(settings, clock=clock, caption_source=FakeCaptionSource(),
               audio_sink=RecordingAudioSink()) as site:
        engine = make_engine(settings)
        accounts, retention = AccountService(engine), RetentionService(engine)
        names = {"host": "Hana", "speaker": "Sam", "listener": "Ann", "admin": "Ada"}
        people = {role: site.handle(role[:4]) for role in names}
        for role, handle in people.items():
            site.account(handle, name=names[role])
        admin, _ = accounts.make_admin(people["admin"], password=None)
        host_id = accounts.get(people["host"]).id or 0
        assert admin.id is not None

        def ended(title: str) -> str:
            room = site.room(people["host"], title=title, record=True)
            site.speaker(room, people["host"], people["speaker"])
            with connect(site.socket_url(f"/rooms/{room}/captions", people["listener"])) as ws:
                ws.recv(timeout=10)
            site.api("POST", f"/rooms/{room}/end", people["host"])
            row = site.api("GET", f"/rooms/{room}", people["host"])
            retention.register(RetentionCreate(room_id=room, room_title=title, host_id=host_id,
                                               ended_at=moment(row["ended_at"])))
            return room

        rooms = {"reported": ended("Design review"), "held": ended("Board meeting"),
                 "purged": ended("Old standup")}
        now = clock()
        for key, title, age in (("overdue", "Quarterly numbers", 31 * DAY),
                                ("due", "Hiring panel", 27 * DAY)):
            rooms[key] = f"{key}-room"
            retention.register(RetentionCreate(room_id=rooms[key], room_title=title,
                                               host_id=host_id, ended_at=now - age))
        report = site.api("POST", f"/rooms/{rooms['reported']}/reports", people["listener"],
                          {"reason": "Personal attacks on a speaker at about 10 minutes in."})
        site.api("POST", f"/admin/reports/{report['id']}/notes", people["admin"],
                 {"text": "Asked the host for context."})
        retention.place_hold(rooms["held"], by=admin.id, now=now, note="Legal request")
        retention.purge_now(rooms["purged"], by=admin.id,
                            now=retention.get(rooms["purged"]).retain_until + DAY)
        try:
            yield World(site, clock, retention, people, rooms, report["id"])
        finally:
            engine.dispose()


def resolve_without_outcome(tab: Page) -> None:
    tab.get_by_role("button", name="Resolve the report").click()
    expect(tab.locator(".error-summary")).to_be_focused()


def empty_hold(tab: Page) -> None:
    tab.get_by_role("button", name="Place the hold").click()
    expect(tab.locator(".error-summary")).to_be_focused()


def empty_report(tab: Page) -> None:
    tab.get_by_role("button", name="Send the report").click()
    expect(tab.locator(".error-summary")).to_be_focused()


@dataclass(frozen=True)
class Visit:
    who: str
    path: str
    then: Callable[[Page], None] | None = None
    status: int = 200


PAGES = {
    "admin overview": Visit("admin", "/admin"),
    "report queue": Visit("admin", "/admin/reports"),
    "report queue, resolved": Visit("admin", "/admin/reports?status=resolved"),
    "report": Visit("admin", "/admin/reports/{report}"),
    "report, with errors": Visit("admin", "/admin/reports/{report}", resolve_without_outcome),
    "holds": Visit("admin", "/admin/holds"),
    "holds, with errors": Visit("admin", "/admin/holds", empty_hold),
    "upcoming purges": Visit("admin", "/admin/purges"),
    "audit log": Visit("admin", "/admin/audit"),
    "audit log, filtered": Visit("admin", "/admin/audit?action=hold.placed&since=2020-01-01"),
    "audit log, refused filter": Visit("admin", "/admin/audit?who=nobody&since=soon",
                                       status=400),
    "admin console, not an admin": Visit("host", "/admin", status=403),
    "downloads": Visit("host", "/r/{reported}/downloads"),
    "downloads, on hold, as admin": Visit("admin", "/r/{held}/downloads"),
    "downloads, deleted": Visit("host", "/r/{purged}/downloads"),
    "report form": Visit("speaker", "/r/{reported}/report"),
    "report form, with errors": Visit("speaker", "/r/{reported}/report", empty_report),
}


@contextmanager
def visit(world: World, browser: Browser, name: str) -> Iterator[Page]:
    page = PAGES[name]
    with world.site.tab(browser, world.people[page.who]) as tab:
        response = tab.goto(world.site.url + world.path(page.path))
        assert response is not None and response.status == page.status, name
        if page.then is not None:
            page.then(tab)
        yield tab


def visited(stops: list[Stop]) -> list[str | None]:
    return [kb for kb, _ in groupby(s.kb for s in stops)]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_passes_axe_reflows_and_works_by_keyboard(name: str, world: World,
                                                             browser: Browser) -> None:
    with visit(world, browser, name) as tab:
        violations = axe_violations(tab)
        assert violations == [], describe(violations)

        for width, height in ((320, 640), (640, 400)):
            tab.set_viewport_size({"width": width, "height": height})
            assert tab.evaluate(OVERFLOW) == [], f"overflow at {width} px"

        start_at_top(tab)
        expected = tabbable(tab)
        forward = walk(tab, limit=3 * len(expected) + 5)
        assert forward[0].what == 'a "Skip to main content"'
        assert visited(forward) == expected, [s.what for s in forward]
        unseen = [s.what for s in forward if not s.visible_focus]
        assert unseen == [], f"no visible focus on {unseen}"
        backward = walk(tab, "Shift+Tab", limit=3 * len(expected) + 5)
        assert visited(backward) == list(reversed(expected))


def test_the_host_sees_until_when_the_recording_can_be_downloaded(world: World,
                                                                  browser: Browser) -> None:
    deadline = world.retention.get(world.rooms["reported"]).retain_until
    with visit(world, browser, "downloads") as tab:
        notice = tab.locator(".notice")
        expect(notice).to_contain_text("Available to download until")
        expect(notice.locator("time")).to_have_attribute("datetime", deadline.isoformat())
        expect(tab.get_by_role("link", name="The whole room, as Opus audio (.ogg)")) \
            .to_have_attribute("href", f"/api/v1/rooms/{world.rooms['reported']}/recording")
        expect(tab.get_by_role("link", name="Transcript as WebVTT captions (.vtt)")) \
            .to_have_attribute("href",
                               f"/api/v1/rooms/{world.rooms['reported']}/transcript?format=vtt")
    purged = world.retention.get(world.rooms["purged"]).purged_at
    assert purged is not None
    with visit(world, browser, "downloads, deleted") as tab:
        notice = tab.locator(".notice")
        expect(notice).to_contain_text("The recording was deleted on")
        expect(notice.locator("time")).to_have_attribute("datetime", purged.isoformat())
        expect(tab.get_by_role("link", name="Transcript as WebVTT captions (.vtt)")) \
            .to_have_count(0)


def test_an_admin_purges_an_overdue_room_by_keyboard(world: World, browser: Browser) -> None:
    room = world.rooms["overdue"]
    with visit(world, browser, "upcoming purges") as tab:
        start_at_top(tab)
        tab_to(tab, f"form[action='/admin/purges/{room}'] button")
        tab.once("dialog", lambda dialog: dialog.accept())
        tab.keyboard.press("Enter")
        expect(tab).to_have_url(f"{world.site.url}/admin/purges?done=purged")
        done = tab.locator(".notice[role=status]")
        expect(done).to_be_focused()
        expect(done).to_have_text("The recording and transcript are deleted.")
        expect(tab.get_by_text("Quarterly numbers")).to_have_count(0)
    assert world.retention.get(room).state == "purged"


def test_a_speaker_reports_the_room_by_keyboard(world: World, browser: Browser) -> None:
    with visit(world, browser, "report form") as tab:
        start_at_top(tab)
        tab_to(tab, "#f-reason")
        tab.keyboard.type("Shouting over the other speakers.")
        tab_to(tab, "form[action$='/report'] button")
        tab.keyboard.press("Enter")
        done = tab.locator(".notice[role=status]")
        expect(done).to_be_focused()
        expect(done).to_contain_text("Your report is sent.")
    queue = world.site.api("GET", "/admin/reports", world.people["admin"])["items"]
    assert "Shouting over the other speakers." in [r["reason"] for r in queue]


def test_after_the_deadline_the_report_form_says_so(world: World, browser: Browser) -> None:
    deadline = world.retention.get(world.rooms["reported"]).retain_until
    start = world.clock()
    world.clock.set(deadline + timedelta(minutes=1))
    try:
        with visit(world, browser, "report form") as tab:
            expect(tab.locator(".notice")).to_contain_text(
                "This room can no longer be reported: its retention period ended on")
            expect(tab.get_by_role("button", name="Send the report")).to_have_count(0)
    finally:
        world.clock.set(start)
