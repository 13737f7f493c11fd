"""The host console and the listener's own panel, driven by the keyboard in two browsers at once:
what the host does reaches the listener live (roster, pins, state), and the other way round."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from helpers.keyboard import start_at_top, tab_to
from helpers.site import Site
from roomscribe.web.actions import CONSENT

pytestmark = pytest.mark.browser

CONNECTED = "Connected. Captions are live."


def people(site: Site, *roles: str) -> dict[str, str]:
    names = {"host": "Hana", "speaker": "Sam", "listener": "Ann"}
    handles = {role: site.handle(role[:4]) for role in roles}
    for role, handle in handles.items():
        site.account(handle, name=names[role])
    return handles


def press(tab: Page, selector: str) -> None:
    """Reach a control with Tab alone and press Enter on it."""
    start_at_top(tab)
    tab_to(tab, selector)
    tab.keyboard.press("Enter")


def announced(tab: Page, text: str) -> None:
    expect(tab.locator("#announcer")).to_have_text(text)


# Everything the status region says, in order (it is emptied between messages).
LOG_ANNOUNCEMENTS = """() => {
  window.announcements = [];
  new MutationObserver(() => {
    const text = document.getElementById("announcer").textContent.trim();
    if (text) window.announcements.push(text);
  }).observe(document.getElementById("announcer"), {childList: true, characterData: true,
                                                    subtree: true});
}"""


def test_a_request_to_speak_is_made_and_approved_by_keyboard(site: Site, browser: Browser) -> None:
    who = people(site, "host", "listener")
    room = site.room(who["host"], record=True)
    with site.tab(browser, who["listener"]) as ann, site.tab(browser, who["host"]) as hana:
        hana.clock.install()
        hana.goto(f"{site.url}/r/{room}/host")
        expect(hana.locator("#requests-title")).to_have_text("Requests to speak (0)")

        ann.goto(f"{site.url}/r/{room}")
        expect(ann.locator("#caption-status")).to_have_text(CONNECTED)
        start_at_top(ann)
        tab_to(ann, "#consent-request")
        ann.keyboard.press("Space")
        tab_to(ann, f"form[action='/r/{room}/request'] button")
        ann.keyboard.press("Enter")
        announced(ann, "You asked to speak. A host will answer.")
        expect(ann.locator("#me-status")).to_have_text(
            "You asked to speak. A host or co-host will answer.")
        # The button pressed is gone; focus waits on its panel's heading instead of the page top.
        expect(ann.locator("#me-title")).to_be_focused()

        # Requests raise no event: the console asks every 5 s, and says what arrived.
        hana.clock.run_for(5_000)
        announced(hana, "Requests to speak (1)")
        press(hana, f"form[action='/r/{room}/people/{who['listener']}/approve'] button")
        announced(hana, "Ann may speak now.")
        expect(hana.locator("#requests-title")).to_have_text("Requests to speak (0)")
        expect(hana.locator("#requests-title")).to_be_focused()
        expect(hana.locator("#voices-title")).to_have_text("On stage (2)")

        # The roster event reaches Ann's page, which refreshes her panel and tells her.
        announced(ann, "You are a speaker here.")
        expect(ann.get_by_role("link", name="Open your microphone")).to_be_visible()
        expect(ann.locator("#stage-list")).to_contain_text("Ann (speaker)")


def test_an_invitation_is_sent_and_accepted_by_keyboard(site: Site, browser: Browser) -> None:
    who = people(site, "host", "listener")
    room = site.room(who["host"], record=True)
    with site.tab(browser, who["listener"]) as ann, site.tab(browser, who["host"]) as hana:
        hana.goto(f"{site.url}/r/{room}/host")
        start_at_top(hana)
        tab_to(hana, "#invite-handle")
        hana.keyboard.type(who["listener"])
        hana.keyboard.press("Enter")
        announced(hana, "Ann is invited to speak.")
        expect(hana.get_by_role("button", name="Withdraw invitation Ann")).to_be_visible()

        ann.goto(f"{site.url}/r/{room}")
        ann.evaluate(LOG_ANNOUNCEMENTS)
        press(ann, f"form[action='/r/{room}/invitation/accept'] button")
        # Recorded rooms need consent first: the refusal is shown and announced by the form.
        expect(ann.get_by_role("alert")).to_have_text(CONSENT)
        start_at_top(ann)
        tab_to(ann, "#consent-accept")
        ann.keyboard.press("Space")

        # A slow answer: the roster event the acceptance causes reaches the page first, and the
        # panel it refreshes must not announce the change the reader's own post announces.
        def slow(route: Route) -> None:
            answer = route.fetch()
            time.sleep(1.5)
            route.fulfill(response=answer)

        ann.route(f"**/r/{room}/invitation/accept", slow)
        ann.keyboard.press("Tab")
        ann.keyboard.press("Enter")
        announced(ann, "You are a speaker now.")
        expect(ann.get_by_role("link", name="Open your microphone")).to_be_visible()
        said = ann.evaluate("window.announcements")
        assert "You are a speaker here." not in said, said


def test_pins_and_reactions_reach_the_listener(site: Site, browser: Browser) -> None:
    who = people(site, "host", "listener")
    room = site.room(who["host"])
    with site.tab(browser, who["listener"]) as ann, site.tab(browser, who["host"]) as hana:
        ann.goto(f"{site.url}/r/{room}")
        expect(ann.locator("#caption-status")).to_have_text(CONNECTED)
        hana.goto(f"{site.url}/r/{room}/host")
        start_at_top(hana)
        tab_to(hana, "#pin-url")
        hana.keyboard.type("https://example.org/agenda")
        hana.keyboard.press("Tab")
        hana.keyboard.type("Agenda")
        hana.keyboard.press("Enter")
        announced(hana, "Link pinned.")
        expect(hana.locator("#host-pins-title")).to_have_text("Pinned links (1 of 5)")
        # The form is fresh for the next link, and focus is still where it was.
        expect(hana.locator("#pin-title")).to_be_focused()
        expect(hana.locator("#pin-title")).to_have_value("")

        pinned = ann.locator("#pin-list").get_by_role("link", name="Agenda (opens in a new tab)")
        expect(pinned).to_have_attribute("href", "https://example.org/agenda")
        expect(ann.locator("#pin-empty")).to_be_hidden()

        press(ann, "button[value='👏']")
        announced(ann, "Applause sent.")
        expect(ann.locator("#reaction-feed li")).to_have_text(["Ann: 👏Applause"])

        press(hana, f"form[action='/r/{room}/pins/1/unpin'] button")
        announced(hana, "Link unpinned.")
        expect(ann.locator("#pin-empty")).to_be_visible()
        expect(ann.locator("#pin-list li")).to_have_count(0)


def test_the_host_mutes_the_speaker_who_unmutes_and_removes_a_listener(
        site: Site, browser: Browser) -> None:
    who = people(site, "host", "speaker", "listener")
    room = site.room(who["host"])
    site.speaker(room, who["host"], who["speaker"])
    with site.tab(browser, who["listener"]) as ann, site.tab(browser, who["speaker"]) as sam, \
            site.tab(browser, who["host"]) as hana:
        ann.goto(f"{site.url}/r/{room}")
        expect(ann.locator("#caption-status")).to_have_text(CONNECTED)
        sam.goto(f"{site.url}/r/{room}/speak")
        expect(sam.get_by_role("button", name="Mute myself")).to_be_visible()
        hana.goto(f"{site.url}/r/{room}/host")
        expect(hana.locator("#listeners-title")).to_have_text("Listening now (1)")

        press(hana, f"form[action='/r/{room}/people/{who['speaker']}/mute'] button")
        announced(hana, "Sam is muted.")
        expect(hana.locator(".person", has_text="Sam")).to_contain_text("Speaker, muted")
        unmute = sam.get_by_role("button", name="Unmute myself")
        expect(unmute).to_be_visible()
        announced(sam, "You are a speaker here, and you are muted: nobody hears you until you "
                       "unmute.")

        press(sam, f"form[action='/r/{room}/people/{who['speaker']}/unmute'] button")
        # The form's own announcement may be overtaken by the panel refresh that follows it, so
        # what must hold is the state: the mute control is back and nothing says "muted".
        expect(sam.get_by_role("button", name="Mute myself")).to_be_visible()
        expect(sam.locator("#announcer")).not_to_contain_text("muted:")
        expect(hana.locator(".person", has_text="Sam")).to_contain_text("Speaker, not muted")

        hana.once("dialog", lambda dialog: dialog.accept())
        press(hana, f"form[action='/r/{room}/people/{who['listener']}/remove'] button")
        announced(hana, "Ann is removed from the room.")
        expect(ann.locator("#caption-status")).to_have_text("You were removed from the room.")


def test_the_host_corrects_a_speakers_language_by_keyboard(site: Site, browser: Browser) -> None:
    """In a room that detects each speaker's language, the console says what was heard and the
    host sets it from a list reached and chosen with the keyboard alone."""
    who = people(site, "host", "speaker")
    room = site.room(who["host"], language="detect")
    site.speaker(room, who["host"], who["speaker"])
    with site.tab(browser, who["host"]) as hana:
        hana.goto(f"{site.url}/r/{room}/host")
        sam = hana.locator(".person", has_text=f"@{who['speaker']}")
        expect(sam).to_contain_text("Language not heard yet")
        start_at_top(hana)
        tab_to(hana, f"#lang-{who['speaker']}")
        hana.keyboard.type("portu")  # a native list: typing jumps to "português"
        expect(hana.locator(f"#lang-{who['speaker']}")).to_have_value("pt")
        hana.keyboard.press("Tab")
        hana.keyboard.press("Enter")
        announced(hana, "Sam's captions are in português from now on.")
        expect(sam).to_contain_text("Speaks português (set).")
    members = site.api("GET", f"/rooms/{room}/members", who["host"])
    assert {m["handle"]: m["language"] for m in members}[who["speaker"]] == "pt"


def test_the_host_starts_and_ends_the_room_by_keyboard(site: Site, browser: Browser) -> None:
    who = people(site, "host", "listener")
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    room = site.room(who["host"], scheduled_for=later)
    with site.tab(browser, who["listener"]) as ann, site.tab(browser, who["host"]) as hana:
        ann.clock.install()
        ann.goto(f"{site.url}/r/{room}")
        expect(ann.locator("#caption-status")).to_contain_text("has not started yet")

        hana.goto(f"{site.url}/r/{room}/host")
        expect(hana.get_by_role("region", name="Your microphone")).to_have_count(0)
        press(hana, f"form[action='/r/{room}/start'] button")
        expect(hana.locator("#room-state")).to_have_text("Live now")
        expect(hana.get_by_role("region", name="Your microphone")).to_be_visible()
        # The listener's page was waiting and connects by itself at its next try, 10 s later.
        ann.clock.run_for(10_000)
        expect(ann.locator("#caption-status")).to_have_text(CONNECTED)

        hana.once("dialog", lambda dialog: dialog.dismiss())
        press(hana, f"form[action='/r/{room}/end'] button")
        assert site.api("GET", f"/rooms/{room}", who["host"])["state"] == "live"
        hana.once("dialog", lambda dialog: dialog.accept())
        press(hana, f"form[action='/r/{room}/end'] button")
        expect(hana.locator("#room-state")).to_have_text("Ended")
        expect(ann.locator("#caption-status")).to_have_text("The room has ended.")
        expect(ann.locator("#room-state")).to_have_text("Ended")


def test_only_moderators_see_the_console(site: Site, browser: Browser) -> None:
    who = people(site, "host", "listener")
    room = site.room(who["host"])
    with site.tab(browser, who["listener"]) as ann:
        assert ann.goto(f"{site.url}/r/{room}/host").status == 403  # type: ignore[union-attr]
        expect(ann.locator("main")).to_contain_text("Only the host or a co-host may do this.")
        assert ann.goto(f"{site.url}/r/{room}/speak").status == 403  # type: ignore[union-attr]
        ann.get_by_role("link", name="Back to the room").click()
        expect(ann).to_have_url(f"{site.url}/r/{room}")
