"""Every page, in every state worth seeing, against axe-core, reflow and the keyboard.

Each page is loaded as someone would meet it, populated first (captions, a partial line, reactions,
pins, requests, form errors) and with the caption settings open, then:

- axe-core finds no violations;
- at 320 CSS px wide (1280 px at 400 % zoom) and at 640 × 400 (1280 × 800 at 200 %) nothing
  sticks out sideways;
- at 200 % zoom (its CSS viewport), Tab alone reaches every control in document order, each
  with a visible focus indicator on screen; Shift+Tab walks the same way back; neither gets stuck.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect
from websockets.sync.client import ClientConnection, connect

from helpers.browser import axe_violations, describe
from helpers.keyboard import Stop, start_at_top, tabbable, walk
from helpers.site import Site

pytestmark = pytest.mark.browser

FRAME = np.full(1600, 2000, dtype="<i2").tobytes()
"""100 ms of PCM: with the fake engine, four make a final and one a partial."""

OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  if (document.documentElement.scrollWidth > width) {
    found.push(`the page is ${document.documentElement.scrollWidth}px wide`);
  }
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.visually-hidden, .skip-link, [hidden]')) continue;
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
    live: str
    scheduled: str
    private: str
    ended: str
    people: dict[str, str]
    voice: ClientConnection
    archived: str
    foreign: str
    sent: int = 0

    def say(self, frames: int) -> None:
        for _ in range(frames):
            self.voice.send(FRAME)
            self.sent += 1

    def path(self, template: str) -> str:
        return template.format(host=self.people["host"], live=self.live,
                               scheduled=self.scheduled, private=self.private,
                               ended=self.ended, archived=self.archived,
                               foreign=self.foreign)


@pytest.fixture(scope="module")
def world(site: Site) -> Iterator[World]:
    """A recorded live room with public captions, finals, a pin, a speaker, someone asking to
    speak, someone invited, someone blocked and a listener present; a scheduled room; a
    private live room; an ended room."""
    names = {"host": "Hana", "host2": "Hugo", "speaker": "Sam", "listener": "Ann",
             "asker": "Ash", "invitee": "Ivy", "banned": "Bob"}
    people = {role: site.handle(role[:4]) for role in names}
    for role, handle in people.items():
        site.account(handle, name=names[role])
    host = people["host"]
    live = site.room(host, title="Design review", record=True, captions_public=True)
    site.speaker(live, host, people["speaker"])
    site.api("POST", f"/rooms/{live}/requests", people["asker"], {"consent": True})
    site.api("POST", f"/rooms/{live}/invitations", host, {"handle": people["invitee"]})
    site.api("POST", f"/rooms/{live}/members/{people['banned']}/block", host)
    site.api("POST", f"/rooms/{live}/pins", host,
             {"url": "https://example.org/agenda", "title": "Agenda"})
    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    scheduled = site.room(people["host2"], title="Friday questions", scheduled_for=soon)
    private = site.room(people["host2"], title="Private chat")
    foreign = site.room(people["host2"], title="نقاش", language="ar")  # Arabic: right to left
    ended = site.room(people["host2"], title="Last week")
    site.api("POST", f"/rooms/{ended}/end", people["host2"])
    # A recorded room that ended with captions said: its transcript is the host's to correct.
    archived = site.room(people["host2"], title="Recorded talk", record=True)
    site.speaker(archived, people["host2"], people["speaker"])
    with connect(site.socket_url(f"/rooms/{archived}/audio", people["speaker"])) as talk:
        for _ in range(8):
            talk.send(FRAME)
    site.api("POST", f"/rooms/{archived}/end", people["host2"])
    with connect(site.socket_url(f"/rooms/{live}/audio", people["speaker"])) as voice, \
            connect(site.socket_url(f"/rooms/{live}/captions", people["listener"]),
                    max_size=None, max_queue=None) as _present:
        world = World(site, live, scheduled, private, ended, people, voice, archived, foreign)
        world.say(8)
        yield world
        # Ending the room closes its sockets, so later tests on this server start clean.
        site.api("POST", f"/rooms/{live}/end", host)


def bad_sign_in(tab: Page) -> None:
    tab.get_by_label("Handle").fill("nobody")
    tab.get_by_label("Password").fill("wrong password")
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.locator(".error-summary")).to_be_focused()


def bad_sign_up(tab: Page) -> None:
    tab.get_by_label("Handle").fill("no spaces allowed")
    tab.get_by_role("button", name="Create account").click()
    expect(tab.locator(".error-summary")).to_be_focused()


def bad_new_room(tab: Page) -> None:
    tab.get_by_label("Schedule it").check()
    tab.get_by_role("button", name="Create room").click()
    expect(tab.locator(".error-summary")).to_be_focused()


def bad_password(tab: Page) -> None:
    tab.get_by_label("Current password").fill("not it")
    tab.get_by_label("New password").fill("short")
    tab.get_by_role("button", name="Change my password").click()
    expect(tab.locator(".error-summary")).to_be_focused()


def live_activity(world: World, who: str) -> Callable[[Page], None]:
    """Captions in progress: finals in the log, a partial line beside it, a reaction in the feed."""
    def populate(tab: Page) -> None:
        tab.locator("#caption-log .caption").first.wait_for()
        # The page only needs a partial line on show to be checked; on a loaded machine one can be
        # superseded before it is seen, so speak again (bounded) until one is.
        partial = tab.locator("#caption-partial p")
        for _ in range(4):
            world.say(1 + (world.sent % 4 == 3))  # the fourth frame of four would make a final
            try:
                expect(partial).to_have_count(1, timeout=5_000)
                break
            except AssertionError:
                continue
        expect(partial).to_have_count(1)
        if tab.locator("#reaction-feed").count():
            world.site.api("POST", f"/rooms/{world.live}/reactions", world.people[who],
                           {"emoji": "👏"})
            expect(tab.locator("#reaction-feed li")).to_have_count(1)

    return populate


@dataclass(frozen=True)
class Visit:
    who: str | None
    path: str
    then: Callable[[World], Callable[[Page], None]] | None = None
    status: int = 200


PAGES = {
    "rooms": Visit("listener", "/"),
    "rooms, signed out": Visit(None, "/"),
    "sign in": Visit(None, "/signin"),
    "sign in, refused": Visit(None, "/signin", lambda w: bad_sign_in),
    "sign up": Visit(None, "/signup"),
    "sign up, with errors": Visit(None, "/signup", lambda w: bad_sign_up),
    "new room": Visit("listener", "/rooms/new"),
    "new room, with errors": Visit("listener", "/rooms/new", lambda w: bad_new_room),
    "listener": Visit("listener", "/r/{live}", lambda w: live_activity(w, "listener")),
    "listener, invited": Visit("invitee", "/r/{live}"),
    "listener, asked to speak": Visit("asker", "/r/{live}"),
    "listener, signed out": Visit(None, "/r/{live}"),
    "listener, room ended": Visit("listener", "/r/{ended}"),
    "public captions": Visit(None, "/r/{live}/captions", lambda w: live_activity(w, "host")),
    "host console": Visit("host", "/r/{live}/host", lambda w: live_activity(w, "host")),
    "host console, scheduled": Visit("host2", "/r/{scheduled}/host"),
    "speaker": Visit("speaker", "/r/{live}/speak"),
    "listener, scheduled room": Visit("listener", "/r/{scheduled}"),
    "listener, room in Arabic": Visit("listener", "/r/{foreign}"),
    "host console, room in Arabic": Visit("host2", "/r/{foreign}/host"),
    "speaker, room in Arabic": Visit("host2", "/r/{foreign}/speak"),
    "listener, recorded room ended": Visit("speaker", "/r/{archived}"),
    "my rooms": Visit("host2", "/me/rooms"),
    "room settings, scheduled": Visit("host2", "/r/{scheduled}/settings"),
    "room settings, ended": Visit("host2", "/r/{archived}/settings"),
    "transcript editor": Visit("host2", "/r/{archived}/transcript"),
    "account": Visit("listener", "/account"),
    "account, with errors": Visit("listener", "/account", lambda w: bad_password),
    "profile": Visit("listener", "/u/{host}"),
    "not found": Visit(None, "/r/nosuchroom", status=404),
    "not allowed": Visit(None, "/r/{private}/captions", status=403),
}




@contextmanager
def visit(world: World, browser: Browser, name: str, **options: Any) -> Iterator[Page]:
    """The page `name` of PAGES, loaded, populated, with the caption settings open."""
    page = PAGES[name]
    who = world.people[page.who] if page.who else None
    with world.site.tab(browser, who, **options) as tab:
        response = tab.goto(world.site.url + world.path(page.path))
        assert response is not None and response.status == page.status, name
        if page.then is not None:
            page.then(world)(tab)
        if tab.locator("#caption-settings").count():
            expect(tab.locator("#caption-settings")).to_be_visible()
            tab.locator("#caption-settings summary").click()
            tab.locator("#caption-settings-form").wait_for()
            expect(tab.locator("#cs-contrast")).not_to_be_empty()
        yield tab


@pytest.mark.parametrize("name", PAGES)
def test_every_page_passes_axe_reflows_and_works_by_keyboard(name: str, world: World,
                                                             browser: Browser) -> None:
    with visit(world, browser, name) as tab:
        violations = axe_violations(tab)
        assert violations == [], describe(violations)

        for width, height in ((320, 640), (640, 400)):
            tab.set_viewport_size({"width": width, "height": height})
            assert tab.evaluate(OVERFLOW) == [], f"overflow at {width} px"
        log = tab.locator("#caption-log")
        if log.count():
            # Still a readable window of captions at 200 % zoom.
            assert log.evaluate("l => l.clientHeight") >= 100

        # At 200 % zoom (the viewport is now 640 × 400 CSS px): the keyboard alone.
        start_at_top(tab)
        expected = tabbable(tab)
        forward = walk(tab, limit=3 * len(expected) + 5)
        assert forward[0].what == 'a "Skip to main content"'
        assert visited(forward) == expected, [s.what for s in forward]
        unseen = [s.what for s in forward if not s.visible_focus]
        assert unseen == [], f"no visible focus on {unseen}"
        backward = walk(tab, "Shift+Tab", limit=3 * len(expected) + 5)
        assert visited(backward) == list(reversed(expected))


def visited(stops: list[Stop]) -> list[str | None]:
    """Each control once: a date-time field has a tab stop for each of its parts."""
    return [kb for kb, _ in groupby(s.kb for s in stops)]


def test_the_skip_link_moves_focus_to_the_main_content(world: World, browser: Browser) -> None:
    with visit(world, browser, "listener") as tab:
        start_at_top(tab)
        tab.keyboard.press("Tab")
        skip = tab.get_by_role("link", name="Skip to main content")
        expect(skip).to_be_focused()
        expect(skip).to_be_in_viewport()
        tab.keyboard.press("Enter")
        expect(tab.locator("main")).to_be_focused()
        tab.keyboard.press("Tab")
        # The next stop is inside the main content, not the header's navigation.
        assert tab.evaluate("() => document.querySelector('main').contains(document.activeElement)")
