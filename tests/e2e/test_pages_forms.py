"""Signing up, in and out and creating rooms, in Chromium, with the keyboard alone where a person
would type: the forms post to page routes that set the page session cookie."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from helpers.keyboard import start_at_top, tab_to
from helpers.site import PASSWORD, Site
from roomscribe.accounts.security import SESSION_COOKIE
from roomscribe.web.security import CSRF_COOKIE

pytestmark = pytest.mark.browser


def type_into(tab: Page, selector: str, text: str) -> None:
    tab_to(tab, selector)
    tab.keyboard.type(text)


def test_sign_up_sign_out_and_sign_in_again_by_keyboard(site: Site, browser: Browser) -> None:
    handle = site.handle("kay")
    with site.tab(browser) as tab:
        tab.goto(f"{site.url}/signup?next=/rooms/new")
        start_at_top(tab)
        type_into(tab, "#f-handle", handle.upper())
        type_into(tab, "#f-display-name", "Kay Keys")
        type_into(tab, "#f-password", PASSWORD)
        tab.keyboard.press("Enter")
        # Straight on to where they were going, signed in.
        expect(tab).to_have_url(f"{site.url}/rooms/new")
        expect(tab.locator(".account__who")).to_have_text("Signed in as Kay Keys")
        cookie = next(c for c in tab.context.cookies() if c["name"] == SESSION_COOKIE)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

        start_at_top(tab)
        tab_to(tab, "form[action='/signout'] button")
        tab.keyboard.press("Enter")
        expect(tab).to_have_url(f"{site.url}/")
        expect(tab.get_by_role("banner").get_by_role("link", name="Sign in")).to_be_visible()
        assert SESSION_COOKIE not in {c["name"] for c in tab.context.cookies()}

        tab.goto(f"{site.url}/signin")
        start_at_top(tab)
        type_into(tab, "#f-handle", handle)
        type_into(tab, "#f-password", "not the password")
        tab.keyboard.press("Enter")
        summary = tab.locator(".error-summary")
        expect(summary).to_be_focused()
        expect(summary).to_contain_text("That handle and password do not match an account.")
        # The handle is kept; the password never comes back.
        expect(tab.locator("#f-handle")).to_have_value(handle)
        expect(tab.locator("#f-password")).to_have_value("")
        type_into(tab, "#f-password", PASSWORD)
        tab.keyboard.press("Enter")
        expect(tab).to_have_url(f"{site.url}/")
        expect(tab.locator(".account__who")).to_have_text("Signed in as Kay Keys")


def test_form_errors_are_summarised_and_each_links_to_its_field(
        site: Site, browser: Browser) -> None:
    taken = site.handle("taken")
    site.account(taken)
    with site.tab(browser) as tab:
        tab.goto(f"{site.url}/signup")
        start_at_top(tab)
        type_into(tab, "#f-handle", taken)
        type_into(tab, "#f-password", "short")
        tab.keyboard.press("Enter")
        summary = tab.locator(".error-summary")
        expect(summary).to_be_focused()
        expect(summary.get_by_role("link")).to_have_text([
            "Enter a name of 1 to 50 characters.", "Use at least 8 characters."])
        expect(summary.get_by_role("link").first).to_have_attribute("href", "#f-display-name")
        # With every field valid, the handle is tried, and it is taken.
        tab.goto(f"{site.url}/signup")
        type_into(tab, "#f-handle", taken)
        type_into(tab, "#f-display-name", "Someone")
        type_into(tab, "#f-password", PASSWORD)
        tab.keyboard.press("Enter")
        expect(summary).to_be_focused()
        tab.keyboard.press("Tab")
        expect(summary.get_by_role("link")).to_be_focused()
        tab.keyboard.press("Enter")
        handle = tab.locator("#f-handle")
        expect(handle).to_be_focused()
        expect(handle).to_have_attribute("aria-invalid", "true")
        described = handle.get_attribute("aria-describedby") or ""
        errors = [" ".join(tab.locator(f"#{i}").inner_text().split()) for i in described.split()]
        assert "Error: That handle is taken. Choose another." in errors


def test_a_room_is_created_by_keyboard_and_listed(site: Site, browser: Browser) -> None:
    host = site.handle("host")
    site.account(host, name="Hana")
    with site.tab(browser, host) as tab:
        tab.goto(f"{site.url}/rooms/new")
        start_at_top(tab)
        type_into(tab, "#f-title", "Keyboard hour")
        tab_to(tab, "#f-policy-everyone")
        tab.keyboard.press("ArrowDown")
        expect(tab.locator("#f-policy-followed")).to_be_checked()
        tab.keyboard.press("Tab")
        expect(tab.locator("#f-record")).to_be_focused()
        tab.keyboard.press("Space")
        tab.keyboard.press("Tab")
        tab.keyboard.press("Space")
        # The language list answers typing, as a native select does: "esp" finds español.
        tab.keyboard.press("Tab")
        expect(tab.locator("#f-language")).to_be_focused()
        tab.keyboard.type("esp")
        expect(tab.locator("#f-language")).to_have_value("es")
        tab_to(tab, "form[action='/rooms/new'] button")
        tab.keyboard.press("Enter")
        expect(tab.get_by_role("heading", level=1)).to_have_text("Host console: Keyboard hour")
        room_id = tab.url.split("/")[-2]
        room = site.api("GET", f"/rooms/{room_id}", host)
        assert (room["state"], room["speak_policy"], room["record"], room["captions_public"],
                room["language"]) == ("live", "followed", True, True, "es")
        expect(tab.get_by_role("group", name="Captions in")).to_be_visible()

        tab.goto(f"{site.url}/")
        live = tab.get_by_role("region", name="Live now")
        expect(live.get_by_role("link", name="Keyboard hour", exact=True)).to_have_attribute(
            "href", f"/r/{room_id}")
        expect(live.get_by_text("Recorded")).to_be_visible()
        expect(live.get_by_role("link", name="Host console for Keyboard hour")).to_be_visible()


def test_a_room_is_scheduled_in_the_readers_time_zone(site: Site, browser: Browser) -> None:
    host = site.handle("host")
    site.account(host, name="Hana")
    start = (datetime.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    zone = "America/Sao_Paulo"
    with site.tab(browser, host, timezone_id=zone) as tab:
        tab.goto(f"{site.url}/rooms/new")
        expect(tab.locator("#f-scheduled-for-hint")).to_contain_text(zone)
        tab.get_by_label("Title").fill("Later talk")
        tab.get_by_label("Schedule it").check()
        tab.get_by_label("Start time").fill(start.strftime("%Y-%m-%dT%H:%M"))
        tab.get_by_role("button", name="Create room").click()
        expect(tab.get_by_role("heading", level=1)).to_have_text("Host console: Later talk")
        room = site.api("GET", f"/rooms/{tab.url.split('/')[-2]}", host)
        assert room["state"] == "scheduled"
        # The typed time was read in the browser's zone, not the server's.
        scheduled = datetime.fromisoformat(room["scheduled_for"])
        assert scheduled == start.replace(tzinfo=ZoneInfo(zone))

        tab.get_by_role("link", name="Rooms", exact=True).click()
        listed = tab.get_by_role("region", name="Scheduled").get_by_role("listitem") \
            .filter(has_text="Later talk").locator("time")
        # Shown in the reader's zone, as they typed it.
        expect(listed).to_contain_text(start.strftime("%-I:%M"))
        assert datetime.fromisoformat(listed.get_attribute("datetime") or "") == scheduled

        # A second scheduled room is refused, beside the start time field.
        tab.goto(f"{site.url}/rooms/new")
        tab.get_by_label("Title").fill("Another")
        tab.get_by_label("Schedule it").check()
        tab.get_by_label("Start time").fill(start.strftime("%Y-%m-%dT%H:%M"))
        tab.get_by_role("button", name="Create room").click()
        expect(tab.locator(".error-summary")).to_contain_text("you already have a scheduled room"
                                                              .capitalize())
        expect(tab.get_by_label("Title")).to_have_value("Another")


def test_pages_that_need_an_account_send_you_to_sign_in_and_back(
        site: Site, browser: Browser) -> None:
    handle = site.handle("back")
    site.account(handle)
    with site.tab(browser) as tab:
        tab.goto(f"{site.url}/rooms/new")
        expect(tab).to_have_url(f"{site.url}/signin?next=/rooms/new")
        tab.get_by_label("Handle").fill(handle)
        tab.get_by_label("Password").fill(PASSWORD)
        tab.get_by_role("button", name="Sign in").click()
        expect(tab).to_have_url(f"{site.url}/rooms/new")
        # An outside address in `next` is ignored.
        tab.goto(f"{site.url}/signin?next=//evil.example/")
        tab.get_by_label("Handle").fill(handle)
        tab.get_by_label("Password").fill(PASSWORD)
        tab.get_by_role("button", name="Sign in").click()
        expect(tab).to_have_url(f"{site.url}/")


def test_a_stale_form_is_refused_with_a_way_forward(site: Site, browser: Browser) -> None:
    handle = site.handle("stale")
    site.account(handle)
    with site.tab(browser) as tab:
        tab.goto(f"{site.url}/signin")
        tab.context.clear_cookies(name=CSRF_COOKIE)
        tab.get_by_label("Handle").fill(handle)
        tab.get_by_label("Password").fill(PASSWORD)
        tab.get_by_role("button", name="Sign in").click()
        expect(tab.get_by_role("heading", level=1)).to_have_text("Not allowed")
        expect(tab.locator("main")).to_contain_text("This form has expired")
        tab.goto(f"{site.url}/signin")
        tab.get_by_label("Handle").fill(handle)
        tab.get_by_label("Password").fill(PASSWORD)
        tab.get_by_role("button", name="Sign in").click()
        expect(tab).to_have_url(f"{site.url}/")
