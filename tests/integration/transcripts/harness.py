"""The archive side of rooms in tests, without a model: the whole app in the test's event loop
with the real live engine, recordings, transcripts and search index, hearing tone bursts.

Speakers send `FakeTranscriber.say` audio: each word is a tone whose pitch names it, so the live
engine (`FakeTranscriber` + `LoudnessVad`) captions it, and `ToneModel`, the final pass's model
here, hears the same words in the recorded track: what the final pass finds proves which audio
reached the track and where it sits on the room clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from helpers.fake_asr import FakeTranscriber, LoudnessVad
from helpers.fake_final_pass import ToneModel
from integration.rooms.harness import Api, RawSocket, running
from roomscribe.app import create_app
from roomscribe.asr.results import Word
from roomscribe.captions.live_engine import LiveEngine
from roomscribe.config import Settings

FRAME_BYTES = 3200
"""100 ms of 16-bit 16 kHz mono PCM, as a browser sends it."""
VOICE = FakeTranscriber()


def say(words: Sequence[str], **timing: float) -> tuple[bytes, list[Word]]:
    """PCM of `words` as tone bursts, and where each word is in it (seconds from its start)."""
    audio, script = VOICE.say(words, **timing)
    return pcm16(audio), script


def pcm16(audio: npt.NDArray[np.float32]) -> bytes:
    return (np.clip(audio, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()


@asynccontextmanager
async def archive_app(settings: Settings, *, transcriber: Any = None,
                      engine: LiveEngine | None = None, clock: Any = None) -> AsyncIterator[Api]:
    """The app with a live engine hearing tone bursts; `transcriber` is the final pass's model
    (a `ToneModel` unless given; pass `False` for none, so one is loaded from settings)."""
    live = engine or LiveEngine(FakeTranscriber(), detector=LoudnessVad)
    model = ToneModel() if transcriber is None else transcriber or None
    async with live:
        app = create_app(settings, caption_source=live, transcriber=model,
                         speech_detector=LoudnessVad, clock=clock,
                         password_hasher=PasswordHasher.from_parameters(CHEAPEST))
        async with running(app) as api:
            yield api


async def recorded_room(api: Api, *speakers: str, host: str = "host", **fields: Any) -> str:
    """A live recorded room of `host` (signed up here) with `speakers` (signed up here too)."""
    for handle in (host, *speakers):
        if handle not in api.tokens:
            await api.account(handle)
    room = await api.room(host, record=True, **fields)
    for handle in speakers:
        await api.speaker(room, host, handle)
    return room


def speak(api: Api, room: str, who: str, pcm: bytes) -> RawSocket:
    """Open `who`'s audio socket and send `pcm` in 100 ms frames (as fast as they go)."""
    sock = api.socket(room, "audio", who)
    for offset in range(0, len(pcm), FRAME_BYTES):
        sock.send_bytes(pcm[offset:offset + FRAME_BYTES])
    return sock


async def end_and_settle(api: Api, room: str, host: str = "host") -> dict[str, Any]:
    """End the room and wait for its mix and final pass; the ended room."""
    ended: dict[str, Any] = await api.ok("POST", f"/rooms/{room}/end", host)
    await settle(api)
    return ended


async def settle(api: Api) -> None:
    state = api.app.state
    await asyncio.wait_for(asyncio.gather(state.recordings.mixes.join(),
                                          state.transcripts.final_passes.join()), 30)


async def sign_in(api: Api, handle: str) -> None:
    """A session for an account made earlier (by another app on the same data)."""
    session = await api.http.post("/api/v1/sessions",
                                  json={"handle": handle, "password": "password1"})
    assert session.status_code == 201, session.text
    api.tokens[handle] = session.json()["token"]
