"""The microphone control in Chromium with its fake capture device (see conftest.py): getUserMedia,
the AudioWorklet and the audio socket end to end, checked where the audio lands (a recording audio
sink)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from playwright.sync_api import Browser, expect

from helpers.browser import axe_violations, describe
from helpers.keyboard import start_at_top, tab_to
from helpers.site import Site
from helpers.waiting import wait_for
from integration.rooms.harness import RecordedTrack, RecordingAudioSink

pytestmark = pytest.mark.browser

FRAME = 3200
"""Bytes in the 100 ms frames the page sends: 1600 samples of 16-bit PCM at 16 kHz."""


def stage(site: Site) -> tuple[str, str, str]:
    """A live recorded room: its id, its host and a speaker who consented."""
    host, speaker = site.handle("host"), site.handle("spk")
    site.account(host, name="Hana")
    site.account(speaker, name="Sam")
    room = site.room(host, record=True)
    site.speaker(room, host, speaker)
    return room, host, speaker


def track_of(recorder: RecordingAudioSink, room: str, speaker: str) -> RecordedTrack | None:
    return next((t for t in recorder.tracks if t.room == room and t.speaker.id == speaker), None)


def frames_from(recorder: RecordingAudioSink, room: str, speaker: str, count: int) -> RecordedTrack:
    wait_for(lambda: (t := track_of(recorder, room, speaker)) is not None
             and len(t.chunks) >= count, 10, f"{count} audio frames from {speaker}")
    track = track_of(recorder, room, speaker)
    assert track is not None
    return track


def test_the_speaker_page_sends_16_khz_pcm_frames_and_shows_the_level(
        site: Site, browser: Browser, recorder: RecordingAudioSink) -> None:
    room, _, speaker = stage(site)
    with site.tab(browser, speaker) as tab:
        tab.goto(f"{site.url}/r/{room}/speak")
        button = tab.get_by_role("button", name="Microphone")
        status = tab.locator("#mic-status")
        expect(status).to_have_text("Microphone off.")
        start_at_top(tab)
        tab_to(tab, "#mic-toggle")
        tab.keyboard.press("Space")
        expect(button).to_have_attribute("aria-pressed", "true")
        expect(status).to_have_text("Microphone on: the room hears you.")
        started = time.monotonic()
        frames_from(recorder, room, speaker, 12)
        tab.wait_for_function("() => document.getElementById('mic-level').value > 0")
        # Captions of the speaker's own voice come back to the same page.
        expect(tab.locator("#caption-log .caption").first).to_contain_text("Sam:")

        tab.keyboard.press("Space")
        expect(button).to_have_attribute("aria-pressed", "false")
        expect(status).to_have_text("Microphone off.")
        elapsed = time.monotonic() - started
        track = track_of(recorder, room, speaker)
        assert track is not None
        wait_for(lambda: track.closed, 5, "the track to close")
        expect(tab.locator("#mic-level")).to_have_js_property("value", 0)

    *whole, last = track.chunks
    assert {len(c) for c in whole} == {FRAME}
    assert 0 < len(last) <= FRAME and len(last) % 2 == 0
    samples = np.frombuffer(b"".join(track.chunks), dtype="<i2")
    # Real time at 16 kHz: the worklet downsampled whatever rate the device ran at.
    assert 0.6 < len(samples) / 16_000 / elapsed < 1.4, (len(samples), elapsed)
    assert np.abs(samples).max() > 1000, "the fake device's tone should be audible"


def test_the_host_console_has_the_same_microphone(
        site: Site, browser: Browser, recorder: RecordingAudioSink) -> None:
    room, host, _ = stage(site)
    with site.tab(browser, host) as tab:
        tab.goto(f"{site.url}/r/{room}/host")
        button = tab.get_by_role("button", name="Microphone")
        button.click()
        expect(button).to_have_attribute("aria-pressed", "true")
        frames_from(recorder, room, host, 3)
        expect(tab.locator("#caption-log .caption").first).to_contain_text("Hana:")
        violations = axe_violations(tab)
        assert violations == [], describe(violations)


def test_losing_the_stage_stops_the_microphone_and_says_why(
        site: Site, browser: Browser, recorder: RecordingAudioSink) -> None:
    room, host, speaker = stage(site)
    with site.tab(browser, speaker) as tab:
        tab.goto(f"{site.url}/r/{room}/speak")
        button = tab.get_by_role("button", name="Microphone")
        button.click()
        frames_from(recorder, room, speaker, 2)
        site.api("POST", f"/rooms/{room}/members/{speaker}/revoke", host)
        expect(button).to_have_attribute("aria-pressed", "false")
        expect(tab.locator("#mic-status")).to_have_text(
            "You are no longer a speaker, so your microphone stopped.")
