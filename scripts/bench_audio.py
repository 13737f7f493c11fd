"""Live audio through Janus, measured on this machine: mouth-to-ear latency (speaker to speaker,
speaker to listener), caption final latency through WebRTC next to the PCM socket, and what each
listener costs Janus, Roomscribe and the load generator.

Everything runs in a network namespace of its own (the script re-runs itself through
`unshare -n` and scripts/_netns.sh when it is not in one): `roomscribe serve` with the real model
and the Janus it starts, Chromium with recordings as microphones, and aiortc listeners.

- Mouth to ear: the speaker's microphone plays 80 ms tone bursts 1.5 s apart. Each page finds
  the onsets in what it has (the speaker in its own microphone stream, the other speaker in its
  stage audio, the listener in the room's audio) with an analyser polled every 5 ms, stamped
  with the machine's one clock; latency is receiver onset minus sender onset.
- Captions: four speakers read LibriSpeech at once, through WebRTC in one room, then through
  the PCM socket in another; a final's latency is its arrival minus the room time its last word
  ended.
- Listeners: aiortc clients watch a room's mix, more and more of them; they count RTP packets and
  decode nothing (a light client: the receiver's packet handler is replaced by a counter). Per
  step the CPU seconds of Janus, of Roomscribe and of the generator over a window, and the share
  of the mix's packets (50 a second) each listener got.

Prints one JSON object. Usage: .venv/bin/python scripts/bench_audio.py [--listeners 50,100,200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from helpers.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from helpers.speech import SPEECH_DIR  # noqa: E402
from integration.transcripts.live_server import Server, serving  # noqa: E402
from media.conftest import FAKE_MEDIA, in_own_namespace, janus_pid  # noqa: E402
from media.test_live_audio import People  # noqa: E402
from roomscribe.media.ffmpeg import decode, encode  # noqa: E402
from roomscribe.pcm import SAMPLE_RATE  # noqa: E402

READERS = ("librispeech_test_clean/1089-134686-0000.flac",
           "librispeech_test_clean/7021-79730-0001.flac",
           "librispeech_test_clean/121-127105-0000.flac",
           "librispeech_test_clean/8555-284447-0000.flac")
BURSTS, BURST_EVERY, BURST_SECONDS = 20, 1.5, 0.08

CAPTURE_MIC = """() => {
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c) => { window.__mic = await original(c);
                                                        return window.__mic; };
}"""
ONSETS = """(source) => {
  const stream = source === 'mic' ? window.__mic : document.querySelector(source).srcObject;
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 256;
  context.createMediaStreamSource(stream).connect(analyser);
  const data = new Float32Array(analyser.fftSize);
  window.__onsets = [];
  let lastLoud = -1e9;
  window.setInterval(() => {
    analyser.getFloatTimeDomainData(data);
    let sum = 0;
    for (const v of data) sum += v * v;
    const now = performance.now();
    if (Math.sqrt(sum / data.length) > 0.05) {
      if (now - lastLoud > 300) window.__onsets.push(performance.timeOrigin + now);
      lastLoud = now;
    }
  }, 5);
}"""


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def bursts(folder: Path) -> Path:
    """1 s of silence, then `BURSTS` 1 kHz tone bursts, then a minute of silence."""
    t = np.arange(int(BURST_SECONDS * SAMPLE_RATE)) / SAMPLE_RATE
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    audio = np.zeros(int((1 + BURSTS * BURST_EVERY + 60) * SAMPLE_RATE), dtype=np.float32)
    for i in range(BURSTS):
        at = int((1 + i * BURST_EVERY) * SAMPLE_RATE)
        audio[at: at + tone.size] = tone
    path = folder / "bursts.wav"
    encode(audio, path, codec="pcm_s16le")
    return path


def reading(folder: Path, name: str) -> Path:
    path = folder / f"{Path(name).stem}.wav"
    encode(np.concatenate([decode(SPEECH_DIR / name), np.zeros(60 * SAMPLE_RATE,
                                                               dtype=np.float32)]),
           path, codec="pcm_s16le")
    return path


def latencies(sent: list[float], got: list[float]) -> list[float]:
    """Each received onset against the last sent one before it (within 1.2 s), in ms."""
    out = []
    for t in got:
        before = [s for s in sent if s <= t]
        if before and t - before[-1] < 1200:
            out.append(t - before[-1])
    return out


class Chromiums:
    def __init__(self) -> None:
        self._playwright = sync_playwright().start()
        self.launched: list[Browser] = []

    def launch(self, voice: Path | None) -> Browser:
        args = [*CHROMIUM_ARGS, *FAKE_MEDIA]
        if voice is not None:
            args.append(f"--use-file-for-fake-audio-capture={voice}")
        browser = self._playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        self.launched.append(browser)
        return browser

    def close(self) -> None:
        for browser in self.launched:
            browser.close()
        self._playwright.stop()


def stage(people: People, browser: Browser, who: str, room: str, *, spy: bool = False) -> Page:
    page = people.tab(browser, who)
    if spy:
        page.add_init_script(f"({CAPTURE_MIC})()")
    page.goto(f"/r/{room}/speak")
    page.get_by_role("button", name="Join the stage").click()
    page.wait_for_function("() => document.querySelector('[data-stage-status]').textContent"
                           ".startsWith('You are live')", timeout=60_000)
    return page


def mouth_to_ear(people: People, chromes: Chromiums, folder: Path) -> dict[str, Any]:
    for handle in ("lat_a", "lat_b", "lat_l"):
        people.account(handle, handle)
    room = people.room("lat_a", "lat_b")
    listener = people.tab(chromes.launch(None), "lat_l")
    listener.goto(f"/r/{room}")
    listener.get_by_role("button", name="Play the room's audio").click()
    listener.wait_for_function("() => document.querySelector('[data-audio-status]')"
                               ".textContent.startsWith('Playing')", timeout=60_000)
    listener.evaluate(ONSETS, "[data-room-audio]")
    silent = folder / "silence.wav"
    encode(np.zeros(90 * SAMPLE_RATE, dtype=np.float32), silent, codec="pcm_s16le")
    other = stage(people, chromes.launch(silent), "lat_b", room)
    other.evaluate(ONSETS, "[data-stage-audio]")
    speaker = stage(people, chromes.launch(bursts(folder)), "lat_a", room, spy=True)
    speaker.evaluate(ONSETS, "mic")
    time.sleep(2 + BURSTS * BURST_EVERY)
    sent = speaker.evaluate("window.__onsets")
    to_speaker = latencies(sent, other.evaluate("window.__onsets"))
    to_listener = latencies(sent, listener.evaluate("window.__onsets"))
    return {"bursts_sent": len(sent), "bursts_heard_by_speaker": len(to_speaker),
            "bursts_heard_by_listener": len(to_listener),
            "speaker_mouth_to_ear_p50_ms": percentile(to_speaker, 50),
            "speaker_mouth_to_ear_p95_ms": percentile(to_speaker, 95),
            "listener_mouth_to_ear_p50_ms": percentile(to_listener, 50),
            "listener_mouth_to_ear_p95_ms": percentile(to_listener, 95)}


def final_waits(heard_events: list[Any], started: float) -> list[float]:
    return [arrived - started - e["end"] for arrived, e in heard_events if e["type"] == "final"]


@contextmanager
def timed_captions(people: People, room: str, who: str) -> Iterator[list[Any]]:
    """(arrival Unix time, event) of each caption event, read in a thread."""
    from websockets.sync.client import connect
    events: list[Any] = []
    url = f"{people.url.replace('http', 'ws', 1)}/api/v1/rooms/{room}/captions?token=" \
          f"{people.tokens[who]}"
    with connect(url, max_size=None, ping_interval=None) as socket:
        def read() -> None:
            try:
                for message in socket:
                    event = json.loads(message)
                    if event["type"] in ("partial", "final"):
                        events.append((time.time(), event))
            except Exception:
                return

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        yield events
    thread.join(5)


def captions(people: People, folder: Path) -> dict[str, Any]:
    """Four speakers at once through WebRTC (aiortc clients, so no browser takes the server's
    cores), then the same readings through the PCM socket in another room."""
    handles = [f"cap_{i}" for i in range(4)]
    for handle in ("cap_host", "cap_lis", *handles):
        people.account(handle, handle)
    voices = [reading(folder, name) for name in READERS]
    webrtc = people.room("cap_host", *handles)
    begin = _unix(people.api("GET", f"/rooms/{webrtc}", "cap_host")["started_at"])
    with timed_captions(people, webrtc, "cap_lis") as events:
        _in_thread(_speak_over_webrtc(people, webrtc, handles, voices))
        time.sleep(4)
    through_webrtc = final_waits(events, begin)
    pcm_room = people.room("cap_host", *handles)
    begin = _unix(people.api("GET", f"/rooms/{pcm_room}", "cap_host")["started_at"])
    with timed_captions(people, pcm_room, "cap_lis") as events:
        _in_thread(_read_over_sockets(people, pcm_room, handles, voices))
        time.sleep(4)
    through_socket = final_waits(events, begin)
    return {"speakers": 4,
            "caption_final_webrtc_p50_s": percentile(through_webrtc, 50),
            "caption_final_webrtc_p95_s": percentile(through_webrtc, 95),
            "caption_final_pcm_socket_p50_s": percentile(through_socket, 50),
            "caption_final_pcm_socket_p95_s": percentile(through_socket, 95),
            "finals_webrtc": len(through_webrtc), "finals_pcm_socket": len(through_socket)}


def _in_thread(coro: Any) -> None:
    """Run a coroutine to its end in a thread of its own: Playwright's sync API may be keeping
    an event loop in this one."""
    thread = threading.Thread(target=lambda: asyncio.run(coro))
    thread.start()
    thread.join()


async def _speak_over_webrtc(people: People, room: str, handles: list[str],
                             voices: list[Path]) -> None:
    """Each speaker's two connections (stage and captions), as the page makes them, from a file
    played in real time; what comes back is counted, not decoded."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaPlayer, MediaRelay
    from aiortc.rtcrtpreceiver import RTCRtpReceiver
    from websockets.asyncio.client import connect

    async def ignore(self: RTCRtpReceiver, packet: Any, arrival_time_ms: int) -> None:
        return None

    RTCRtpReceiver._handle_rtp_packet = ignore  # type: ignore[method-assign]

    async def speak(handle: str, voice: Path) -> None:
        url = f"{people.url.replace('http', 'ws', 1)}/api/v1/rooms/{room}/media?token=" \
              f"{people.tokens[handle]}"
        player, relay = MediaPlayer(str(voice)), MediaRelay()
        stage, captions = RTCPeerConnection(), RTCPeerConnection()
        stage.addTrack(relay.subscribe(player.audio))
        captions.addTransceiver(relay.subscribe(player.audio), direction="sendonly")
        for pc in (stage, captions):
            await pc.setLocalDescription(await pc.createOffer())
        async with connect(url, max_size=None) as socket:
            await socket.send(json.dumps({"type": "speak", "stage": stage.localDescription.sdp,
                                          "captions": captions.localDescription.sdp}))
            while (answers := json.loads(await socket.recv()))["type"] != "answers":
                continue
            await stage.setRemoteDescription(RTCSessionDescription(answers["stage"], "answer"))
            await captions.setRemoteDescription(
                RTCSessionDescription(answers["captions"], "answer"))
            await asyncio.sleep(26)
        for pc in (stage, captions):
            await pc.close()
        if player.audio is not None:
            player.audio.stop()  # its reading thread, before this event loop goes

    await asyncio.gather(*(speak(h, v) for h, v in zip(handles, voices, strict=True)))


async def _read_over_sockets(people: People, room: str, handles: list[str],
                             voices: list[Path]) -> None:
    """The same readings (with the silence after them, as a microphone sends it) over the PCM
    socket, in real time."""
    from websockets.asyncio.client import connect

    async def read(handle: str, voice: Path) -> None:
        pcm = (np.clip(decode(voice)[:26 * SAMPLE_RATE], -1, 1) * 32767).astype("<i2").tobytes()
        url = f"{people.url.replace('http', 'ws', 1)}/api/v1/rooms/{room}/audio?token=" \
              f"{people.tokens[handle]}"
        async with connect(url) as socket:
            start = time.monotonic()
            for n, at in enumerate(range(0, len(pcm) - 3199, 3200)):
                await asyncio.sleep(max(0.0, start + n * 0.1 - time.monotonic()))
                await socket.send(pcm[at: at + 3200])

    await asyncio.gather(*(read(h, v) for h, v in zip(handles, voices, strict=True)))


def _unix(iso: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def listeners(people: People, server: Server, steps: list[int],
                    window: float) -> list[dict[str, Any]]:
    """aiortc listeners on one room's mix, `steps` of them in turn."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.rtcrtpreceiver import RTCRtpReceiver
    from websockets.asyncio.client import connect

    counts: dict[int, int] = {}

    async def count(self: RTCRtpReceiver, packet: Any, arrival_time_ms: int) -> None:
        counts[id(self)] = counts.get(id(self), 0) + 1

    RTCRtpReceiver._handle_rtp_packet = count  # type: ignore[method-assign]
    people.account("scale_host", "Scale host")
    people.account("scale_lis", "Scale listener")
    room = people.room("scale_host")
    url = f"{people.url.replace('http', 'ws', 1)}/api/v1/rooms/{room}/media?token=" \
          f"{people.tokens['scale_lis']}"
    peers: list[tuple[Any, Any]] = []

    async def join() -> None:
        socket = await connect(url, max_size=None)
        await socket.send(json.dumps({"type": "listen"}))
        offer = json.loads(await socket.recv())
        pc = RTCPeerConnection()
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await socket.send(json.dumps({"type": "answer", "sdp": pc.localDescription.sdp}))
        peers.append((pc, socket))

    janus, service = janus_pid(server), server.proc.pid
    results = []
    for target in steps:
        while len(peers) < target:
            await asyncio.gather(*(join() for _ in range(min(20, target - len(peers)))))
        await asyncio.sleep(5)  # every connection up and flowing
        before = (cpu_seconds(janus), cpu_seconds(service), own_cpu(), dict(counts),
                  time.monotonic())
        await asyncio.sleep(window)
        after = (cpu_seconds(janus), cpu_seconds(service), own_cpu(), dict(counts),
                 time.monotonic())
        elapsed = after[4] - before[4]
        got = [after[3].get(k, 0) - before[3].get(k, 0) for k in after[3]]
        expected = 50 * elapsed
        per100 = 100 / target / elapsed * 100
        results.append({
            "listeners": target,
            "janus_cpu_percent_of_a_core_per_100_listeners":
                round((after[0] - before[0]) * per100, 2),
            "roomscribe_cpu_percent_of_a_core_per_100_listeners":
                round((after[1] - before[1]) * per100, 2),
            "generator_cpu_percent_of_a_core_per_100_listeners":
                round((after[2] - before[2]) * per100, 2),
            "packets_delivered_share": round(sum(min(g, expected) for g in got)
                                             / (expected * target), 4),
            "listeners_below_99_percent": sum(1 for g in got if g < 0.99 * expected),
        })
    for pc, socket in peers:
        await pc.close()
        await socket.close()
    return results


def main() -> None:
    if not in_own_namespace():
        os.execvp("unshare", ["unshare", "--net", "--", str(ROOT / "scripts" / "_netns.sh"),
                              sys.executable, *sys.argv])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", default="50,100,200",
                        help="listener counts to measure, in turn (default 50,100,200)")
    parser.add_argument("--window", type=float, default=15.0, help="seconds measured per step")
    parser.add_argument("--skip", default="", help="phases to skip: latency,captions,scale")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    unlimited = {f"ROOMSCRIBE_{k}": v for k, v in {
        "MEDIA": "auto", "SIGNUP_LIMIT": "100000/minute", "SIGNIN_LIMIT": "100000/minute",
        "MAX_CAPTION_CONNECTIONS_PER_ACCOUNT": "100000",
        "MAX_CAPTION_CONNECTIONS_PER_ADDRESS": "100000"}.items()}
    out: dict[str, Any] = {"machine": {"cores": os.cpu_count()}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with serving(folder / "data", folder / "server.log", **unlimited) as server:
            people = People(server)
            if "latency" not in skip:
                chromes = Chromiums()
                try:
                    out["mouth_to_ear"] = mouth_to_ear(people, chromes, folder)
                finally:
                    chromes.close()  # before the next phase: browsers would take its cores
            if "captions" not in skip:
                out["captions"] = captions(people, folder)
            if "scale" not in skip:
                steps = [int(n) for n in args.listeners.split(",")]
                out["listeners"] = asyncio.run(listeners(people, server, steps, args.window))
            people.http.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
