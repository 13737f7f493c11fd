"""Rooms people can hear, in real Chromium through the real Janus, with the real model: two
speakers hear each other, a listener hears both, captions come from the same audio, the host's
mute silences a speaker everywhere within half a second, a dead Janus comes back with no one
lifting a finger, and a speaker whose network drops returns to the stage.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from helpers.browser import axe_violations, describe
from helpers.profile import settings_for
from helpers.speech import SPEECH_DIR, manifest, normalize, wer
from helpers.waiting import wait_for
from integration.transcripts.live_server import Server
from media.conftest import janus_pid
from roomscribe.asr.engine import Transcriber
from roomscribe.media.ffmpeg import decode, encode
from roomscribe.pcm import SAMPLE_RATE
from roomscribe.recordings.storage import open_storage
from roomscribe.recordings.tracks import TrackReader

pytestmark = [pytest.mark.model, pytest.mark.browser]

PASSWORD = "password1"
ANA = "librispeech_test_clean/1089-134686-0000.flac"
"""10.4 s, one reader."""
BEN = "librispeech_test_clean/7021-79730-0001.flac"
"""11.5 s, another reader."""
LONG = "longform/ls_1089_134686_0000-0004.wav"
"""30 s of one reader."""
LIVE = "You are live: the room hears you."
PLAYING = "Playing the room's audio."
SLOW = 60_000

RECORD = """() => {
  const stream = document.querySelector('%s').srcObject;
  window.__chunks = [];
  window.__recorder = new MediaRecorder(stream, {mimeType: 'audio/webm;codecs=opus'});
  window.__recorder.ondataavailable = (e) => window.__chunks.push(e.data);
  window.__recorder.start(1000);
}"""
STOP = """async () => {
  const stopped = new Promise((resolve) => { window.__recorder.onstop = resolve; });
  window.__recorder.stop();
  await stopped;
  const bytes = new Uint8Array(await new Blob(window.__chunks).arrayBuffer());
  let text = '';
  for (let i = 0; i < bytes.length; i += 32768) {
    text += String.fromCharCode(...bytes.subarray(i, i + 32768));
  }
  return btoa(text);
}"""
LEVELS = """() => {
  const stream = document.querySelector('[data-room-audio]').srcObject;
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  context.createMediaStreamSource(stream).connect(analyser);
  const data = new Float32Array(analyser.fftSize);
  window.__levels = [];
  window.setInterval(() => {
    analyser.getFloatTimeDomainData(data);
    let sum = 0;
    for (const v of data) sum += v * v;
    window.__levels.push([Date.now(), Math.sqrt(sum / data.length)]);
  }, 20);
}"""


def reference(name: str) -> str:
    return next(c.reference for c in manifest() if c.path == SPEECH_DIR / name)


@dataclass
class Heard:
    """Caption events a listener's socket received, until it closes."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def finals(self, speaker: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == "final" and e["speaker"]["id"] == speaker]

    def text(self, speaker: str) -> str:
        return " ".join(e["text"] for e in self.finals(speaker))


class People:
    """Accounts, the API and signed-in browser tabs on the media test server."""

    def __init__(self, server: Server) -> None:
        self.url = server.url
        self.http = httpx.Client(base_url=server.url, timeout=30)
        self.tokens: dict[str, str] = {}

    def account(self, handle: str, name: str) -> None:
        body = {"handle": handle, "display_name": name, "password": PASSWORD}
        self.http.post("/api/v1/accounts", json=body).raise_for_status()
        session = self.http.post("/api/v1/sessions", json=body)
        session.raise_for_status()
        self.tokens[handle] = session.json()["token"]

    def api(self, method: str, path: str, who: str, json: Any = None) -> Any:
        response = self.http.request(method, f"/api/v1{path}", json=json,
                                     headers={"Authorization": f"Bearer {self.tokens[who]}"})
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def room(self, host: str, *speakers: str, **fields: Any) -> str:
        room = str(self.api("POST", "/rooms", host, {"title": "Reading aloud", **fields})["id"])
        for handle in speakers:
            self.api("POST", f"/rooms/{room}/invitations", host, {"handle": handle})
            self.api("POST", f"/rooms/{room}/invitations/accept", handle, {"consent": True})
        return room

    def tab(self, browser: Browser, who: str) -> Page:
        context = browser.new_context(base_url=self.url)
        signed = self.http.post("/api/v1/sessions/cookie",
                                json={"handle": who, "password": PASSWORD})
        assert signed.status_code == 204, signed.text
        context.add_cookies([{"name": "roomscribe_session", "url": self.url, "httpOnly": True,
                              "value": signed.cookies["roomscribe_session"]}])
        self.http.cookies.clear()
        page = context.new_page()
        page.set_default_timeout(20_000)
        return page

    @contextmanager
    def captions(self, room: str, who: str) -> Iterator[Heard]:
        """A listener's caption socket, read in a thread while the block runs."""
        heard = Heard()
        url = f"{self.url.replace('http', 'ws', 1)}/api/v1/rooms/{room}/captions?token=" \
              f"{self.tokens[who]}"
        opened: list[ClientConnection] = []
        ready = threading.Event()

        def read() -> None:
            with connect(url, max_size=None, ping_interval=None) as socket:
                opened.append(socket)
                ready.set()
                try:
                    for message in socket:
                        event = msgspec.json.decode(message)
                        if event["type"] in ("partial", "final"):
                            heard.events.append(event)
                except ConnectionClosed:
                    pass

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert ready.wait(10), "the caption socket did not open"
        try:
            yield heard
        finally:
            opened[0].close()
            reader.join(10)


@pytest.fixture
def people(server: Server) -> Iterator[People]:
    found = People(server)
    try:
        yield found
    finally:
        found.http.close()


def join_stage(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Join the stage").click()
    expect(page.locator("[data-stage-status]")).to_have_text(LIVE, timeout=SLOW)


def play(page: Page, room: str) -> None:
    page.goto(f"/r/{room}")
    page.get_by_role("button", name="Play the room's audio").click()
    expect(page.locator("[data-audio-status]")).to_have_text(PLAYING, timeout=SLOW)


def recorded(page: Page, tmp: Path, name: str) -> np.ndarray:
    """What the page's recorder captured, decoded to 16 kHz samples."""
    path = tmp / f"{name}.webm"
    path.write_bytes(base64.b64decode(page.evaluate(STOP)))
    return decode(path)


def within_bound(ref: str, live: str, offline: str, points: float) -> None:
    live_wer, offline_wer = wer([ref], [live]), wer([ref], [offline])
    # Offline is the clean recording; everything live crossed a browser's Opus encoder and the
    # network, so one 26-word clip may differ by a split word plus one more ("effecting" heard
    # as "effect thing", "as" as "is" in one CI run): three words, not the PCM path's two. The
    # corpus-wide bound is scripts/bench_audio.py's and bench_live.py's to hold.
    margin = max(points, 3 / len(normalize(ref).split()))
    assert live_wer <= offline_wer + margin, (
        f"WER {live_wer:.3f} > offline {offline_wer:.3f} + {margin:.3f}\n"
        f"heard:   {normalize(live)}\noffline: {normalize(offline)}")


def test_two_speakers_hear_each_other_and_a_listener_hears_both(
        server: Server, people: People, chromium: Callable[[Path | None], Browser],
        speech: Callable[..., Path], transcriber: Transcriber, tmp_path: Path) -> None:
    for handle, name in (("ana", "Ana Lima"), ("ben", "Ben Okafor"), ("lou", "Lou Listener")):
        people.account(handle, name)
    room = people.room("ana", "ben")
    listener = people.tab(chromium(None), "lou")
    play(listener, room)
    assert axe_violations(listener) == [], describe(axe_violations(listener))
    listener.evaluate(RECORD % "[data-room-audio]")
    with people.captions(room, "lou") as heard:
        # Ben's microphone is silent for 15 s, then reads; Ana reads at once: turn by turn.
        ben = people.tab(chromium(speech_after(speech, BEN, 15.0)), "ben")
        join_stage(ben, f"/r/{room}/speak")
        ben.evaluate(RECORD % "[data-stage-audio]")
        ana = people.tab(chromium(speech(ANA)), "ana")
        join_stage(ana, f"/r/{room}/speak")
        assert axe_violations(ana) == [], describe(axe_violations(ana))
        last_word = normalize(reference(BEN)).split()[-1]
        wait_for(lambda: last_word in normalize(heard.text("ben")), 60, "Ben's last words")
        time.sleep(2.0)
    to_listener = recorded(listener, tmp_path, "listener")
    to_ben = recorded(ben, tmp_path, "ben")
    offline = {name: " ".join(s.text for s in transcriber.transcribe(decode(SPEECH_DIR / name)))
               for name in (ANA, BEN)}
    # Captions: each speaker's own words, under their own name.
    assert {e["speaker"]["name"] for e in heard.events} == {"Ana Lima", "Ben Okafor"}
    within_bound(reference(ANA), heard.text("ana"), offline[ANA], 0.015)
    within_bound(reference(BEN), heard.text("ben"), offline[BEN], 0.015)
    # The listener heard both, well enough to transcribe back within 3 points of offline.
    both = f"{reference(ANA)} {reference(BEN)}"
    heard_by_listener = " ".join(s.text for s in transcriber.transcribe(to_listener))
    within_bound(both, heard_by_listener, f"{offline[ANA]} {offline[BEN]}", 0.03)
    # Ben heard Ana (and not himself: the stage mixes everyone but the one listening).
    heard_by_ben = " ".join(s.text for s in transcriber.transcribe(to_ben))
    within_bound(reference(ANA), heard_by_ben, offline[ANA], 0.03)


def speech_after(speech: Callable[..., Path], name: str, lead: float) -> Path:
    """`name` after `lead` seconds of silence (then a minute more of it)."""
    path = speech(name)
    target = path.with_name(f"{path.stem}-after-{int(lead)}.wav")
    if not target.exists():
        samples = decode(path)
        encode(np.concatenate([np.zeros(int(lead * SAMPLE_RATE), dtype=np.float32), samples]),
               target, codec="pcm_s16le")
    return target


def test_the_hosts_mute_silences_a_speaker_everywhere_within_half_a_second(
        server: Server, people: People, chromium: Callable[[Path | None], Browser],
        speech: Callable[..., Path]) -> None:
    for handle in ("host_m", "moe", "lis_m"):
        people.account(handle, handle.title())
    room = people.room("host_m", "moe", record=True)
    listener = people.tab(chromium(None), "lis_m")
    play(listener, room)
    listener.evaluate(LEVELS)
    moe = people.tab(chromium(speech(LONG)), "moe")
    join_stage(moe, f"/r/{room}/speak")
    storage = open_storage(settings_for(server.data_dir))
    wait_for(lambda: listener.evaluate("window.__levels.some(([, v]) => v > 0.02)"), 30,
          "the listener to hear Moe")
    time.sleep(3.0)  # well into the reading
    muted_at = time.time()
    people.api("POST", f"/rooms/{room}/members/moe/mute", "host_m")
    time.sleep(0.5)
    recorded_then = TrackReader(storage, room, "moe").recorded_seconds
    time.sleep(2.5)
    levels = [(t / 1000, v) for t, v in listener.evaluate("window.__levels")]
    after = [(t, v) for t, v in levels if t >= muted_at]
    quiet_from = next(t for i, (t, _) in enumerate(after)
                      if all(v < 0.005 for _, v in after[i:]))
    print(f"\nmute: listener silent {1000 * (quiet_from - muted_at):.0f} ms after the request")
    assert quiet_from - muted_at <= 0.5
    assert recorded_then > 1.0  # Moe was being recorded…
    assert TrackReader(storage, room, "moe").recorded_seconds == recorded_then  # …not now
    expect(moe.locator("[data-stage-status]")).to_contain_text("Muted by the host")


def test_janus_killed_mid_room_comes_back_and_captions_from_the_socket_carry_on(
        server: Server, people: People, chromium: Callable[[Path | None], Browser],
        speech: Callable[..., Path]) -> None:
    for handle in ("host_k", "bot_k", "lis_k"):
        people.account(handle, handle.title())
    room = people.room("host_k", "bot_k")
    listener = people.tab(chromium(None), "lis_k")
    play(listener, room)
    host = people.tab(chromium(speech(ANA)), "host_k")
    join_stage(host, f"/r/{room}/host")
    pcm = (np.clip(decode(SPEECH_DIR / LONG), -1, 1) * 32767).astype("<i2").tobytes()
    frames = [pcm[i: i + 3200] for i in range(0, len(pcm) - 3199, 3200)]  # 100 ms each
    url = f"{server.url.replace('http', 'ws', 1)}/api/v1/rooms/{room}/audio?token=" \
          f"{people.tokens['bot_k']}"
    with people.captions(room, "lis_k") as heard, connect(url) as bot:
        started, sent = time.monotonic(), [0]

        def send(upto: float) -> None:
            """The bot reads, in real time, up to `upto` seconds into the recording."""
            while sent[0] < min(len(frames), round(upto * 10)):
                bot.send(frames[sent[0]])
                sent[0] += 1
                time.sleep(max(0.0, started + sent[0] / 10 - time.monotonic()))

        send(6.0)
        os.kill(janus_pid(server), signal.SIGKILL)
        killed = time.monotonic()
        finals_before = len(heard.finals("bot_k"))
        expect(listener.locator("[data-audio-status]")).to_contain_text("reconnecting",
                                                                       timeout=10_000)
        send(18.0)
        # Captions from the PCM socket never stopped.
        assert len(heard.finals("bot_k")) > finals_before
        expect(listener.locator("[data-audio-status]")).to_have_text(PLAYING, timeout=SLOW)
        expect(host.locator("[data-stage-status]")).to_have_text(LIVE, timeout=SLOW)
        print(f"\nJanus back, listener playing again {time.monotonic() - killed:.1f} s after "
              "the kill")
        assert people.http.get("/health").json()["media"] == "up"
        send(30.0)


def test_a_speaker_whose_network_drops_comes_back_with_the_same_role(
        server: Server, people: People, chromium: Callable[[Path | None], Browser],
        speech: Callable[..., Path]) -> None:
    for handle in ("host_n", "nia"):
        people.account(handle, handle.title())
    room = people.room("host_n", "nia")
    nia = people.tab(chromium(speech(BEN)), "nia")
    join_stage(nia, f"/r/{room}/speak")
    # The network goes away (both ends of the veth lose their addresses), then comes back.
    addresses = (("10.99.0.1/24", "v0"), ("10.99.0.2/24", "v1"))
    for address, link in addresses:
        subprocess.run(["ip", "addr", "del", address, "dev", link], check=True)
    try:
        expect(nia.locator("[data-stage-status]")).not_to_have_text(LIVE, timeout=30_000)
    finally:
        for address, link in addresses:
            subprocess.run(["ip", "addr", "add", address, "dev", link], check=True)
    expect(nia.locator("[data-stage-status]")).to_have_text(LIVE, timeout=SLOW)
    [member] = [m for m in people.api("GET", f"/rooms/{room}/members", "host_n")
                if m["handle"] == "nia"]
    assert member["role"] == "speaker"


def test_a_listener_made_speaker_joins_the_stage_and_leaves_it_without_a_reload(
        server: Server, people: People, chromium: Callable[[Path | None], Browser],
        speech: Callable[..., Path]) -> None:
    for handle in ("host_r", "ivy"):
        people.account(handle, handle.title())
    room = people.room("host_r")
    ivy = people.tab(chromium(speech(ANA)), "ivy")
    play(ivy, room)
    stage = ivy.locator("[data-stage]")
    expect(stage).to_be_hidden()
    people.api("POST", f"/rooms/{room}/invitations", "host_r", {"handle": "ivy"})
    people.api("POST", f"/rooms/{room}/invitations/accept", "ivy", {"consent": True})
    expect(stage).to_be_visible()
    ivy.get_by_role("button", name="Join the stage").click()
    expect(ivy.locator("[data-stage-status]")).to_have_text(LIVE, timeout=SLOW)
    assert axe_violations(ivy) == [], describe(axe_violations(ivy))
    people.api("POST", f"/rooms/{room}/members/ivy/revoke", "host_r")
    # Without a reload is the point, not a deadline: on two loaded cores it took over 5 s.
    expect(ivy.locator("[data-stage-status]")).to_have_text(
        "You are a listener now, so your microphone is off.", timeout=30_000)
    expect(stage).to_be_hidden()
    # Back to hearing the room, as before she spoke.
    expect(ivy.locator("[data-audio-status]")).to_have_text(PLAYING, timeout=SLOW)
    # Blocked: her audio stops with her captions.
    people.api("POST", f"/rooms/{room}/members/ivy/block", "host_r")
    expect(ivy.locator("[data-audio-status]")).to_have_text("You are blocked from this room.",
                                                             timeout=30_000)
