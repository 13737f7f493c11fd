"""The listener page in Chromium while speakers stream a recording over the audio socket.

The caption engine is the rooms tests' fake (a partial per frame, a final every 0.4 s of audio), so
what appears and when is deterministic; the audio is a real recording, sent as a speaker's client
would send it: 100 ms binary frames of 16 kHz mono 16-bit PCM.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect
from websockets.sync.client import ClientConnection, connect

from helpers.profile import settings_for
from helpers.site import Site, serve
from helpers.speech import SPEECH_DIR
from helpers.waiting import free_port
from integration.rooms.harness import FakeCaptionSource
from roomscribe.media.ffmpeg import decode
from roomscribe.web.presets import FONTS, PRESETS, contrast

pytestmark = pytest.mark.browser

FRAME = 3200
"""100 ms of 16 kHz 16-bit mono PCM."""
PER_FINAL = 4
"""Frames per final with the fake engine (0.4 s)."""
CONNECTED = "Connected. Captions are live."
SERIF = next(f.stack for f in FONTS if f.key == "serif").replace("'", '"')
"""The serif font stack as the browser reports it back."""


@pytest.fixture(scope="module")
def recording() -> list[bytes]:
    """A real recording of speech as the 100 ms frames a speaker's client sends."""
    samples = decode(SPEECH_DIR / "jfk" / "jfk.flac")
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    return [pcm[i:i + FRAME] for i in range(0, len(pcm) - FRAME + 1, FRAME)]


class Voice:
    """A speaker's audio socket, sending the recording from where it left off."""

    def __init__(self, socket: ClientConnection, recording: list[bytes]) -> None:
        self.socket, self.recording, self.sent = socket, recording, 0

    def say(self, frames: int) -> None:
        for _ in range(frames):
            self.socket.send(self.recording[self.sent % len(self.recording)])
            self.sent += 1


def cast(site: Site, **room: object) -> tuple[str, str, str, str]:
    """A live room: its id, the host, a speaker and a listener (handles)."""
    host, speaker, listener = (site.handle(p) for p in ("host", "spk", "ann"))
    site.account(host, name="Hana")
    site.account(speaker, name="Sam")
    site.account(listener, name="Ann")
    room_id = site.room(host, **room)
    site.speaker(room_id, host, speaker)
    return room_id, host, speaker, listener


def captions_of(tab: Page) -> list[str]:
    return tab.locator("#caption-log .caption").all_inner_texts()


def open_room(tab: Page, site: Site, path: str) -> None:
    tab.goto(site.url + path)
    expect(tab.locator("#caption-status")).to_have_text(CONNECTED)


def wait_at_live_edge(tab: Page) -> None:
    """The log shows its newest line (within a few pixels of the end)."""
    tab.wait_for_function("""() => {
        const log = document.getElementById("caption-log");
        return log.scrollHeight - log.scrollTop - log.clientHeight < 9;
    }""")


def test_finals_go_into_the_log_and_the_partial_line_stays_outside_it(
        site: Site, browser: Browser, recording: list[bytes]) -> None:
    room, host, speaker, listener = cast(site)
    with site.tab(browser, listener) as tab, \
            connect(site.socket_url(f"/rooms/{room}/audio", speaker)) as sam_socket, \
            connect(site.socket_url(f"/rooms/{room}/audio", host)) as hana_socket:
        open_room(tab, site, f"/r/{room}")
        log = tab.get_by_role("log", name="Live captions")
        expect(log).to_have_id("caption-log")
        sam, hana = Voice(sam_socket, recording), Voice(hana_socket, recording)

        sam.say(1)
        partial = tab.locator("#caption-partial")
        expect(partial).to_contain_text("Sam:")
        expect(log.locator(".caption")).to_have_count(0)
        # Outside every live region: only finals are announced.
        assert partial.evaluate(
            "el => el.closest('[role=log],[role=status],[role=alert],[aria-live]')") is None

        sam.say(PER_FINAL - 1)
        expect(log.locator(".caption")).to_have_count(1)
        expect(partial.locator("p")).to_have_count(0)
        hana.say(PER_FINAL)
        expect(log.locator(".caption")).to_have_count(2)
        sam.say(2 * PER_FINAL)
        expect(log.locator(".caption")).to_have_count(4)

        texts = captions_of(tab)
        names = log.locator(".caption").evaluate_all(
            "lines => lines.map(l => l.querySelector('.speaker')?.textContent ?? null)")
        # The name starts each change of speaker, and only a change.
        assert names == ["Sam: ", "Hana: ", "Sam: ", None]
        assert all(len(t) > len("Sam: ") for t in texts[:3])
        seqs = log.locator(".caption").evaluate_all("lines => lines.map(l => +l.dataset.seq)")
        assert seqs == sorted(seqs) and len(set(seqs)) == 4
        expect(tab.locator("#caption-placeholder")).to_have_count(0)


def test_scrolling_back_pauses_and_jump_to_live_resumes(
        site: Site, browser: Browser, recording: list[bytes]) -> None:
    room, _, speaker, listener = cast(site)
    with site.tab(browser, listener) as tab, \
            connect(site.socket_url(f"/rooms/{room}/audio", speaker)) as socket:
        open_room(tab, site, f"/r/{room}")
        sam = Voice(socket, recording)
        log = tab.locator("#caption-log")
        sam.say(30 * PER_FINAL)
        expect(log.locator(".caption")).to_have_count(30)
        assert log.evaluate("l => l.scrollHeight > l.clientHeight * 2"), "the log should scroll"
        wait_at_live_edge(tab)

        log.hover()
        tab.mouse.wheel(0, -400)
        pause, live = tab.locator("#caption-pause"), tab.locator("#caption-live")
        expect(pause).to_have_attribute("aria-pressed", "true")
        expect(live).to_be_visible()
        held = log.evaluate("l => l.scrollTop")
        sam.say(PER_FINAL)
        expect(log.locator(".caption")).to_have_count(31)
        expect(live).to_have_text("Jump to live (1 new)")
        assert log.evaluate("l => l.scrollTop") == held

        live.click()
        expect(pause).to_have_attribute("aria-pressed", "false")
        expect(live).to_be_hidden()
        expect(log).to_be_focused()
        wait_at_live_edge(tab)


def test_the_pause_button_holds_the_view_until_pressed_again(
        site: Site, browser: Browser, recording: list[bytes]) -> None:
    room, _, speaker, listener = cast(site)
    with site.tab(browser, listener) as tab, \
            connect(site.socket_url(f"/rooms/{room}/audio", speaker)) as socket:
        open_room(tab, site, f"/r/{room}")
        sam = Voice(socket, recording)
        pause = tab.get_by_role("button", name="Pause auto-scroll")
        pause.click()
        expect(pause).to_have_attribute("aria-pressed", "true")
        sam.say(20 * PER_FINAL)
        expect(tab.locator("#caption-log .caption")).to_have_count(20)
        assert tab.locator("#caption-log").evaluate("l => l.scrollTop") == 0
        expect(tab.locator("#caption-live")).to_have_text("Jump to live (20 new)")
        pause.click()
        expect(pause).to_have_attribute("aria-pressed", "false")
        wait_at_live_edge(tab)


def test_caption_settings_preview_at_once_and_persist_across_a_reload(
        site: Site, browser: Browser) -> None:
    room, _, _, listener = cast(site)
    with site.tab(browser, listener) as tab:
        open_room(tab, site, f"/r/{room}")
        box, preview = tab.locator(".caption-box"), tab.locator("#caption-preview")
        tab.locator("summary", has_text="Caption settings").click()
        tab.get_by_label("Yellow on black").check()
        tab.get_by_label("Text size").fill("150")
        tab.get_by_label("Font").select_option("serif")
        tab.get_by_label("Background opacity").fill("80")
        for shown in (box, preview):
            expect(shown).to_have_css("color", "rgb(255, 255, 0)")
            expect(shown).to_have_css("background-color", "rgba(0, 0, 0, 0.8)")
            expect(shown).to_have_css("font-size", "36px")
            expect(shown).to_have_css("font-family", SERIF)
        # Presets are promised at full opacity, so 80 % is the reader's own choice now.
        expect(tab.get_by_label("My own colours")).to_be_checked()

        tab.reload()
        expect(box).to_have_css("color", "rgb(255, 255, 0)")
        expect(box).to_have_css("background-color", "rgba(0, 0, 0, 0.8)")
        expect(box).to_have_css("font-size", "36px")
        tab.locator("summary", has_text="Caption settings").click()
        expect(tab.get_by_label("Text size")).to_have_value("150")
        expect(tab.get_by_label("Text size")).to_have_attribute("aria-valuetext", "150%")
        expect(tab.get_by_label("Background opacity")).to_have_value("80")
        expect(tab.get_by_label("Font")).to_have_value("serif")
        expect(tab.get_by_label("Text colour")).to_have_value("#ffff00")

        tab.get_by_role("button", name="Reset caption settings").click()
        expect(box).to_have_css("color", "rgb(255, 255, 255)")
        expect(box).to_have_css("font-size", "24px")
        tab.reload()
        expect(box).to_have_css("background-color", "rgb(0, 0, 0)")


def test_each_preset_reports_the_contrast_the_server_vouches_for(
        site: Site, browser: Browser) -> None:
    room, _, _, listener = cast(site)
    with site.tab(browser, listener) as tab:
        open_room(tab, site, f"/r/{room}")
        tab.locator("summary", has_text="Caption settings").click()
        status = tab.locator("#cs-contrast")
        for preset in PRESETS:
            tab.get_by_label(preset.label).check()
            ratio = f"{contrast(preset.text, preset.background):.1f}:1"
            expect(status).to_have_text(f"Contrast {ratio}: meets the 4.5:1 minimum.")
        tab.get_by_label("Text colour").fill("#777777")
        tab.get_by_label("Background colour").fill("#999999")
        expect(status).to_contain_text("is below the 4.5:1 minimum")
        expect(status).to_have_class("contrast contrast--low")
        expect(tab.get_by_label("My own colours")).to_be_checked()


def test_a_dropped_connection_reconnects_without_repeating_captions(
        site: Site, browser: Browser, recording: list[bytes]) -> None:
    room, _, speaker, listener = cast(site)
    sockets: list[WebSocketRoute] = []

    def relay(socket: WebSocketRoute) -> None:
        socket.connect_to_server()
        sockets.append(socket)

    with site.tab(browser, listener) as tab, \
            connect(site.socket_url(f"/rooms/{room}/audio", speaker)) as audio:
        tab.route_web_socket(re.compile(r".*/captions$"), relay)
        open_room(tab, site, f"/r/{room}")
        sam = Voice(audio, recording)
        sam.say(2 * PER_FINAL)
        expect(tab.locator("#caption-log .caption")).to_have_count(2)
        sockets[0].close(code=1012, reason="service restart")
        expect(tab.locator("#caption-status")).to_have_text(
            "Connection lost. Reconnecting in 1 second…")
        expect(tab.locator("#caption-status")).to_have_text(CONNECTED)
        assert len(sockets) == 2
        # The two finals replayed to the new connection are not shown twice.
        sam.say(PER_FINAL)
        expect(tab.locator("#caption-log .caption")).to_have_count(3)


def test_a_partial_that_overtook_its_final_stays_on_show(site: Site, browser: Browser) -> None:
    """Events can arrive out of `seq` order (a final is saved before it is published): a final
    removes only the partial it supersedes, and a stale partial never replaces a newer one."""
    room, _, _, listener = cast(site)
    sockets: list[WebSocketRoute] = []

    def relay(socket: WebSocketRoute) -> None:
        socket.connect_to_server()
        sockets.append(socket)

    def event(kind: str, seq: int, text: str) -> str:
        return json.dumps({"type": kind, "room": room, "seq": 1000 + seq,
                           "speaker": {"id": "s1", "name": "Sam"}, "start": seq, "end": seq + 1,
                           "text": text, "words": []})

    with site.tab(browser, listener) as tab:
        tab.route_web_socket(re.compile(r".*/captions$"), relay)
        open_room(tab, site, f"/r/{room}")
        partial = tab.locator("#caption-partial p")
        sockets[0].send(event("partial", 2, "and then the"))
        sockets[0].send(event("final", 1, "It began."))
        expect(tab.locator("#caption-log .caption")).to_have_count(1)
        expect(partial).to_contain_text("and then the")
        sockets[0].send(event("partial", 0, "It beg"))
        sockets[0].send(event("partial", 3, "and then the rain"))
        expect(partial).to_contain_text("and then the rain")
        expect(partial).to_have_count(1)
        sockets[0].send(event("final", 4, "And then the rain came."))
        expect(partial).to_have_count(0)


def test_without_websockets_captions_come_over_server_sent_events(
        site: Site, browser: Browser, recording: list[bytes]) -> None:
    room, _, speaker, listener = cast(site)
    with site.tab(browser, listener) as tab, \
            connect(site.socket_url(f"/rooms/{room}/audio", speaker)) as socket:
        tab.add_init_script("delete window.WebSocket")
        open_room(tab, site, f"/r/{room}")
        Voice(socket, recording).say(2 * PER_FINAL)
        expect(tab.locator("#caption-log .caption")).to_have_count(2)
        assert tab.evaluate("typeof WebSocket") == "undefined"


def test_public_captions_need_no_account(site: Site, browser: Browser,
                                         recording: list[bytes]) -> None:
    public, _, speaker, _ = cast(site, captions_public=True)
    private, _, _, _ = cast(site)
    with site.tab(browser) as tab, \
            connect(site.socket_url(f"/rooms/{public}/audio", speaker)) as socket:
        open_room(tab, site, f"/r/{public}/captions")
        Voice(socket, recording).say(PER_FINAL)
        expect(tab.locator("#caption-log .caption")).to_have_count(1)
        expect(tab.get_by_role("link", name="Sign in")).to_be_visible()

        assert tab.goto(f"{site.url}/r/{private}/captions").status == 403  # type: ignore[union-attr]
        expect(tab.get_by_role("heading", level=1)).to_have_text("Not allowed")
        assert tab.goto(f"{site.url}/r/nosuchroom/captions").status == 404  # type: ignore[union-attr]
        tab.goto(f"{site.url}/r/{private}")
        expect(tab).to_have_url(f"{site.url}/signin?next=/r/{private}")


def test_ending_the_room_tells_the_listener(site: Site, browser: Browser,
                                            recording: list[bytes]) -> None:
    room, host, speaker, listener = cast(site)
    with site.tab(browser, listener) as tab, \
            connect(site.socket_url(f"/rooms/{room}/audio", speaker)) as socket:
        open_room(tab, site, f"/r/{room}")
        Voice(socket, recording).say(PER_FINAL + 1)
        # Wait for the final (late joiners get finals replayed; a partial published before this
        # tab's subscription took hold is not), so the room ends with words still unconfirmed.
        expect(tab.locator("#caption-log .caption")).to_have_count(1)
        site.api("POST", f"/rooms/{room}/end", host)
        expect(tab.locator("#caption-status")).to_have_text("The room has ended.")
        expect(tab.locator("#room-state")).to_have_text("Ended")
        # The flushed last words arrive as a final; no partial is left hanging.
        expect(tab.locator("#caption-log .caption")).to_have_count(2)
        expect(tab.locator("#caption-partial p")).to_have_count(0)


def test_captions_carry_on_after_the_server_restarts(
        tmp_path: Path, browser: Browser, recording: list[bytes]) -> None:
    """A graceful restart keeps the room live but numbers its captions from 0 again: the page,
    which reconnects by itself, shows the new captions instead of taking them for repeats."""
    settings = settings_for(tmp_path / "data")
    port = free_port()
    context = browser.new_context()
    try:
        with serve(settings, port=port, caption_source=FakeCaptionSource()) as first:
            room, _, speaker, listener = cast(first)
            first.sign_in(context, listener)
            tab = context.new_page()
            open_room(tab, first, f"/r/{room}")
            with connect(first.socket_url(f"/rooms/{room}/audio", speaker)) as socket:
                Voice(socket, recording).say(2 * PER_FINAL)
                expect(tab.locator("#caption-log .caption")).to_have_count(2)
            token = first.tokens[speaker]
        expect(tab.locator("#caption-status")).to_contain_text("Reconnecting")
        with serve(settings, port=port, caption_source=FakeCaptionSource()) as second:
            expect(tab.locator("#caption-status")).to_have_text(CONNECTED)
            second.tokens[speaker] = token
            with connect(second.socket_url(f"/rooms/{room}/audio", speaker)) as socket:
                Voice(socket, recording).say(2 * PER_FINAL)
                expect(tab.locator("#caption-log .caption")).to_have_count(4)
    finally:
        context.close()


def test_a_room_in_another_language_offers_its_english_track(
        site: Site, browser: Browser) -> None:
    """Arabic as spoken (right to left, marked as Arabic for screen readers) or the English
    track, chosen by keyboard and kept across a reload."""
    room, _, _, listener = cast(site, language="ar")
    sockets: list[WebSocketRoute] = []

    def relay(socket: WebSocketRoute) -> None:
        socket.connect_to_server()
        sockets.append(socket)

    def event(seq: int, text: str, lang: str, task: str) -> str:
        return json.dumps({"type": "final", "room": room, "seq": 2000 + seq,
                           "speaker": {"id": "s1", "name": "Sam"}, "start": seq, "end": seq + 1,
                           "text": text, "words": [], "lang": lang, "task": task})

    with site.tab(browser, listener) as tab:
        tab.route_web_socket(re.compile(r".*/captions$"), relay)
        open_room(tab, site, f"/r/{room}")
        chooser = tab.get_by_role("group", name="Captions in")
        expect(chooser).to_be_visible()
        as_spoken = chooser.get_by_role("radio", name=re.compile(r"As spoken \(\s*العربية\s*\)"))
        expect(as_spoken).to_be_checked()
        sockets[0].send(event(1, "هذه ملاحظة مهمة للغاية", "ar", "transcribe"))
        sockets[0].send(event(2, "This is a very important note.", "en", "translate"))
        expect(tab.locator("#caption-log .caption")).to_have_count(1)
        words = tab.locator("#caption-log .caption span[dir=auto]")
        expect(words).to_have_attribute("lang", "ar")
        assert tab.evaluate("() => getComputedStyle(document.querySelector("
                            "'#caption-log .caption span[dir=auto]')).direction") == "rtl"
        # By keyboard: the radio group takes the arrow keys.
        as_spoken.focus()
        tab.keyboard.press("ArrowDown")
        expect(chooser.get_by_role("radio", name="English (machine translation)")).to_be_checked()
        expect(tab.locator("#caption-log .caption")).to_have_count(1)
        expect(tab.locator("#caption-log")).to_contain_text("This is a very important note.")
        expect(words).to_have_attribute("lang", "en")
        tab.reload()
        expect(tab.locator("#caption-status")).to_have_text(CONNECTED)
        expect(tab.get_by_role("radio", name="English (machine translation)")).to_be_checked()
