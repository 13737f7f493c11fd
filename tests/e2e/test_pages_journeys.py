"""Small journeys in Chromium: captions switched off and back (remembered), and a scheduled
room's page counting down and turning live without a reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from playwright.sync_api import Browser, expect
from websockets.sync.client import connect

from helpers.site import Site

pytestmark = pytest.mark.browser

FRAME = np.full(1600, 2000, dtype="<i2").tobytes()
"""100 ms of PCM: four make a final with the fake engine."""


def test_captions_can_be_switched_off_and_stay_off(site: Site, browser: Browser) -> None:
    host, listener = site.handle("host"), site.handle("ann")
    site.account(host)
    site.account(listener)
    room = site.room(host)
    with site.tab(browser, listener) as tab:
        tab.goto(f"{site.url}/r/{room}")
        toggle = tab.get_by_role("button", name="Show captions")
        expect(toggle).to_have_attribute("aria-pressed", "true")
        expect(tab.locator(".caption-box")).to_be_visible()
        toggle.click()
        expect(toggle).to_have_attribute("aria-pressed", "false")
        expect(tab.locator(".caption-box")).to_be_hidden()
        expect(tab.locator("#caption-hidden-note")).to_be_visible()
        tab.reload()
        expect(tab.get_by_role("button", name="Show captions")).to_have_attribute(
            "aria-pressed", "false")
        expect(tab.locator(".caption-box")).to_be_hidden()
        tab.get_by_role("button", name="Show captions").click()
        expect(tab.locator(".caption-box")).to_be_visible()


def test_a_scheduled_room_counts_down_then_turns_live_without_a_reload(
        site: Site, browser: Browser) -> None:
    host, speaker, listener = (site.handle(p) for p in ("host", "spk", "ann"))
    for handle in (host, speaker, listener):
        site.account(handle)
    start = (datetime.now(UTC) + timedelta(hours=2, minutes=5)).isoformat()
    room = site.room(host, title="Later today", scheduled_for=start)
    site.speaker(room, host, speaker)
    with site.tab(browser, listener) as tab:
        tab.goto(f"{site.url}/r/{room}")
        expect(tab.locator("#countdown")).to_have_text("in 2 hours")
        expect(tab.locator("#room-state")).to_contain_text("Starts")
        site.api("POST", f"/rooms/{room}/start", host)
        # The page retries its captions connection while the room waits; then it is live.
        expect(tab.locator("#room-state")).to_have_text("Live now", timeout=20_000)
        expect(tab.locator("#countdown-panel")).to_be_hidden()
        with connect(site.socket_url(f"/rooms/{room}/audio", speaker)) as voice:
            for _ in range(4):
                voice.send(FRAME)
            expect(tab.locator("#caption-log .caption")).to_have_count(1)
