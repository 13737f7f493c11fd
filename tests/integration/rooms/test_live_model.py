"""Live captions through the real model over real sockets: human recordings in, labelled finals out.

`roomscribe serve` runs as its own process on 127.0.0.1 with a SQLite file under the test's tmp dir
and the real `LiveEngine` (tiny.en, built by `create_app`'s lifespan), so audio and captions cross
uvicorn, the WebSocket protocol, the rooms service and the channels exactly as in production.
Speakers stream recordings as 100 ms frames paced in real time; a listener reads the caption socket
until the host ends the room.

The WER bound is the live engine's (`scripts/bench_live.py`: live WER within 1.5 points of
offline), held per speaker on their own recording rather than over the whole corpus: each
speaker's finals may score at most 1.5 points above what `Transcriber.transcribe` (same model,
default options) scores on the same recording. Both figures are measured here, so the bound
follows the model and its settings instead of going stale. On one 30 s recording 1.5 points is
about one word, finer than a single recording can resolve (tiny.en flips a word such as
"Stuff it" / "Stuffered" from run to run), so a recording may also be two words worse than offline;
the corpus-wide 1.5-point target itself is measured by `scripts/bench_live.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
import numpy.typing as npt
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from helpers.profile import settings_for
from helpers.speech import SPEECH_DIR, Clip, manifest, normalize, wer
from integration.transcripts.live_server import Server, serving
from roomscribe.asr.engine import Transcriber
from roomscribe.media.ffmpeg import decode
from roomscribe.recordings.storage import open_storage
from roomscribe.recordings.tracks import TrackReader

pytestmark = pytest.mark.model

FRAME = 0.1
"""Seconds of audio in each frame, as a browser's mic capture sends them."""
MARGIN = 0.015
"""How far live WER may exceed offline WER on the same audio (issue 4)."""
ROUNDING = 0.001
"""Caption times travel rounded to milliseconds."""
LONGFORM = SPEECH_DIR / "longform" / "ls_1089_134686_0000-0004.wav"
"""30 s of one reader: five consecutive utterances of a chapter."""
DUET = (SPEECH_DIR / "librispeech_test_clean" / "8463-287645-0007.flac",
        SPEECH_DIR / "librispeech_test_clean" / "1320-122617-0001.flac")
"""The two longest single utterances of the LibriSpeech set (21.5 s and 14 s), two readers."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`roomscribe serve` on a free loopback port, for the module's tests."""
    home = tmp_path_factory.mktemp("live-model")
    # Audio is held to real time here, as in production (the tests' speakers read in real time).
    with serving(home / "data", home / "server.log", ROOMSCRIBE_AUDIO_BURST_SECONDS="2",
                 ROOMSCRIBE_MAX_STREAM_BACKLOG_SECONDS="30") as running:
        yield running
    # A crashed socket task or a failing caption sink is only logged by the server.
    log = running.log.read_text()
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def offline(transcriber: Transcriber) -> dict[Path, str]:
    """What the offline transcriber hears in each recording the tests stream."""
    return {path: " ".join(s.text for s in transcriber.transcribe(decode(path)))
            for path in (LONGFORM, *DUET)}


def clip_at(path: Path) -> Clip:
    return next(c for c in manifest() if c.path == path)


def pcm16(audio: npt.NDArray[np.float32]) -> bytes:
    return (np.clip(audio, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()


@dataclass
class Heard:
    """A listener's caption events with the room time each arrived at, and its close code."""

    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    close: int | None = None

    def finals(self, speaker: str) -> list[dict[str, Any]]:
        return [e for _, e in self.events if e["type"] == "final" and e["speaker"]["id"] == speaker]

    def text(self, speaker: str) -> str:
        return " ".join(e["text"] for e in self.finals(speaker))


@dataclass
class Session:
    """One live room on the server: its host, a listener and the speakers."""

    http: httpx.AsyncClient
    host: str
    listener: str
    room: str = ""
    started: float = 0.0
    """The room's start as a Unix time: room time is `time.time() - started`."""
    tokens: dict[str, str] = field(default_factory=dict)

    async def account(self, handle: str, name: str) -> None:
        body = {"handle": handle, "display_name": name, "password": "password1"}
        (await self.http.post("/api/v1/accounts", json=body)).raise_for_status()
        session = await self.http.post("/api/v1/sessions", json=body)
        session.raise_for_status()
        self.tokens[handle] = session.json()["token"]

    async def call(self, path: str, who: str, json: Any = None) -> Any:
        response = await self.http.post(f"/api/v1/rooms{path}", json=json,
                                        headers={"Authorization": f"Bearer {self.tokens[who]}"})
        assert response.status_code < 300, response.text
        return response.json()

    async def open(self, speakers: dict[str, str], *, record: bool = False) -> None:
        for handle, name in {self.host: "Host", self.listener: "Listener", **speakers}.items():
            await self.account(handle, name)
        room = await self.call("", self.host, {"title": "Reading aloud", "record": record})
        self.room = room["id"]
        self.started = datetime.fromisoformat(room["started_at"]).timestamp()
        for handle in speakers:
            await self.call(f"/{self.room}/invitations", self.host, {"handle": handle})
            await self.call(f"/{self.room}/invitations/accept", handle, {"consent": True})

    def url(self, stream: str, who: str) -> str:
        base = str(self.http.base_url).replace("http://", "ws://").rstrip("/")
        return f"{base}/api/v1/rooms/{self.room}/{stream}?token={self.tokens[who]}"

    async def listen(self, heard: Heard, joined: asyncio.Event) -> None:
        async with connect(self.url("captions", self.listener)) as ws:
            try:
                async for message in ws:
                    event = msgspec.json.decode(message)
                    joined.set()
                    if event["type"] in ("partial", "final"):
                        heard.events.append((time.time() - self.started, event))
            except ConnectionClosed:
                pass  # the code is what matters, read below
        heard.close = ws.close_code

    async def speak(self, who: str, audio: npt.NDArray[np.float32]) -> ClientConnection:
        """Stream `audio` in 100 ms frames, each sent when its time comes; the socket stays open."""
        data, step = pcm16(audio), round(16_000 * FRAME) * 2
        ws = await connect(self.url("audio", who))
        start = time.monotonic()
        for n, offset in enumerate(range(0, len(data), step)):
            # Against the clock, not sleep after sleep, so a slow loop cannot stretch the audio.
            await asyncio.sleep(max(0.0, start + n * FRAME - time.monotonic()))
            await ws.send(data[offset: offset + step])
        return ws


async def live(server: Server, speakers: dict[str, tuple[str, Path]]) -> tuple[Heard, float]:
    """Each speaker (handle: name, recording) streams at once into one new room with a listener;
    the host ends the room once every recording is sent. What the listener heard, and the room
    time the last frame went out."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        # The tests share the server: each room gets its own host and listener accounts.
        tag = "_".join(speakers)
        session = Session(http, host=f"host_{tag}", listener=f"lis_{tag}")
        await session.open({handle: name for handle, (name, _) in speakers.items()})
        heard, joined = Heard(), asyncio.Event()
        listener = asyncio.create_task(session.listen(heard, joined))
        await asyncio.wait_for(joined.wait(), 10)
        sockets = await asyncio.gather(*(session.speak(handle, decode(path))
                                         for handle, (_, path) in speakers.items()))
        sent = time.time() - session.started
        await session.call(f"/{session.room}/end", session.host)
        await asyncio.wait_for(listener, 60)
        for ws in sockets:
            await asyncio.wait_for(ws.wait_closed(), 10)
            assert ws.close_code == 4000, "the audio socket closes because the room ended"
        assert heard.close == 4000
        return heard, sent


def check_stream(heard: Heard, speaker: str, sent: float) -> None:
    """The engine's contract as a listener sees it, for one speaker's captions."""
    seqs = [e["seq"] for _, e in heard.events]
    assert seqs == sorted(set(seqs)), "seq rises with every event, across speakers"
    finals = [(t, e) for t, e in heard.events if e["type"] == "final"
              and e["speaker"]["id"] == speaker]
    # Live, not a flush at the end: finals reached the listener while the audio was still coming.
    assert finals and finals[0][0] < sent
    for (_, before), (_, after) in pairwise(finals):
        assert after["start"] >= before["end"] - ROUNDING, "finals never overlap"
    # Times are room time: nothing can be captioned before it was said and heard.
    assert all(e["end"] <= t + ROUNDING for t, e in finals)


def within_bound(reference: str, live: str, offline: str) -> None:
    live_wer, offline_wer = wer([reference], [live]), wer([reference], [offline])
    margin = max(MARGIN, 2 / len(normalize(reference).split()))
    assert live_wer <= offline_wer + margin, (
        f"live WER {live_wer:.3f} > offline {offline_wer:.3f} + {margin:.3f}\n"
        f"live:    {normalize(live)}\noffline: {normalize(offline)}")


def bigrams(text: str) -> set[tuple[str, str]]:
    words = normalize(text).split()
    return set(pairwise(words))


async def test_a_speakers_recording_reaches_a_listener_as_their_captions(
        server: Server, offline: dict[Path, str]) -> None:
    heard, sent = await live(server, {"ada": ("Ada Lovelace", LONGFORM)})
    assert heard.events
    assert all(e["speaker"] == {"id": "ada", "name": "Ada Lovelace"} for _, e in heard.events)
    check_stream(heard, "ada", sent)
    within_bound(clip_at(LONGFORM).reference, heard.text("ada"), offline[LONGFORM])


async def test_two_speakers_at_once_get_separate_correctly_labelled_captions(
        server: Server, offline: dict[Path, str]) -> None:
    speakers = {"cyd": ("Cyd Charisse", DUET[0]), "bob": ("Bob Moog", DUET[1])}
    heard, sent = await live(server, speakers)
    names = {handle: name for handle, (name, _) in speakers.items()}
    assert {e["speaker"]["id"] for _, e in heard.events} == set(names)
    assert all(e["speaker"]["name"] == names[e["speaker"]["id"]] for _, e in heard.events)
    for handle in speakers:
        check_stream(heard, handle, sent)
    refs = {handle: clip_at(path).reference for handle, (_, path) in speakers.items()}
    for handle, (_, path) in speakers.items():
        within_bound(refs[handle], heard.text(handle), offline[path])
    # Each reader's finals hold none of the other's phrases: a stream that heard the other's
    # audio, or a batched model call handing a hypothesis to the wrong stream, would.
    for one, other in (("cyd", "bob"), ("bob", "cyd")):
        theirs = bigrams(refs[other]) - bigrams(refs[one])
        assert bigrams(heard.text(one)) & theirs == set(), f"{other}'s words in {one}'s captions"


def final_latency_p95(heard: Heard, speaker: str) -> float:
    """Seconds from the end of a final's last word to its arrival, at the 95th percentile."""
    waits = [t - e["end"] for t, e in heard.events if e["type"] == "final"
             and e["speaker"]["id"] == speaker]
    return float(np.percentile(waits, 95))


async def flood(server: Server, stop: asyncio.Event) -> tuple[str, int, float]:
    """A speaker in another (recorded) room sending audio as fast as the socket takes it, and
    reconnecting each time it is refused, until `stop`. Its room, the refusals and the seconds
    it flooded for."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        session = Session(http, host="host_flood", listener="lis_flood")
        await session.open({"flooder": "Flood"}, record=True)
        # Speech, so whatever gets in would keep the model busy.
        speech = pcm16(decode(DUET[0]))
        frames = [speech[i: i + 6400] for i in range(0, len(speech) - 6400, 6400)]
        refused, sent, began = 0, 0, time.monotonic()
        while not stop.is_set():
            async with connect(session.url("audio", "flooder")) as ws:
                try:
                    while not stop.is_set():
                        await ws.send(frames[sent % len(frames)])
                        sent += 1
                        await asyncio.sleep(0)
                except ConnectionClosed:
                    pass
            refused += ws.close_code == 4429
            await asyncio.sleep(0.05)
        return session.room, refused, time.monotonic() - began


async def test_a_flooding_room_does_not_slow_another_rooms_captions(
        server: Server, offline: dict[Path, str]) -> None:
    """One speaker reads in real time while, in another room, a client pushes audio as fast as
    it can and reconnects whenever it is refused: the reader's final captions arrive as soon as
    when the server is quiet (within the 2.5 s target), and the flooder gets no more audio in
    than real time and its burst."""
    alone, _ = await live(server, {"quiet": ("Quiet Reader", LONGFORM)})
    stop = asyncio.Event()
    flooding = asyncio.create_task(flood(server, stop))
    flooded, sent = await live(server, {"reader": ("Reader", LONGFORM)})
    stop.set()
    flood_room, refused, seconds = await flooding
    before, during = final_latency_p95(alone, "quiet"), final_latency_p95(flooded, "reader")
    print(f"\nfinal latency p95: alone {before:.2f} s, beside a flood {during:.2f} s; "
          f"flooder refused {refused} times in {seconds:.1f} s")
    assert during <= 2.5, (before, during)
    check_stream(flooded, "reader", sent)
    within_bound(clip_at(LONGFORM).reference, flooded.text("reader"), offline[LONGFORM])
    assert refused >= 3
    track = TrackReader(open_storage(settings_for(server.data_dir)), flood_room, "flooder")
    assert track.recorded_seconds <= seconds + 2.0 + 0.5
