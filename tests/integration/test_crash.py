"""A server SIGKILLed in the middle of a recorded room loses nothing it had received or published.

1. `roomscribe serve` runs with the real model; a speaker reads a 30 s recording into a recorded
   room in real time while a listener follows the captions. Once finals have reached the listener
   and half the recording has gone out, the server is SIGKILLed: no shutdown code runs.
2. A server starts on the same data folder without a model, so that no final pass replaces the
   live transcript while it is checked: the room has ended as crashed, its recording holds the
   audio sent before the kill at its place on the room clock, and every final the listener saw is
   in the transcript and found by search.
3. A server with the model starts again: the final pass the crash left pending runs on the
   recovered track.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from helpers.speech import SPEECH_DIR, normalize
from helpers.waiting import until
from integration.transcripts.live_server import Client, Spoken, serving
from roomscribe.media.ffmpeg import decode

pytestmark = pytest.mark.model

LONGFORM = SPEECH_DIR / "longform" / "ls_1089_134686_0000-0004.wav"
"""30 s of one reader: five consecutive utterances of a chapter."""
KILL_AFTER = 15.0
"""Seconds of the recording sent before the kill (and at least two finals heard)."""
IN_FLIGHT = 0.5
"""Seconds of frames that may have been sent but not yet received when the server died."""
STEP = 320
"""20 ms: the loudness envelope's resolution."""


def envelope(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    n = samples.size // STEP
    return np.sqrt(np.mean(samples[: n * STEP].reshape(n, STEP).astype(np.float64) ** 2, axis=1))


def best_alignment(mix: npt.NDArray[np.float32], sent: npt.NDArray[np.float32],
                   at: float) -> tuple[float, float]:
    """Where `sent` sits in `mix` near room time `at`: (offset from `at` in s, correlation)."""
    spoken, heard = envelope(sent), envelope(mix)
    first = round(at * 16_000 / STEP)
    best = (0.0, -1.0)
    for lag in range(-25, 26):  # ±0.5 s
        start = first + lag
        window = heard[max(start, 0): start + spoken.size]
        if start < 0 or window.size < spoken.size:
            continue
        corr = float(np.corrcoef(window, spoken)[0, 1])
        if corr > best[1]:
            best = (lag * STEP / 16_000, corr)
    return best


def phrase(text: str) -> str:
    """A final as a phrase query: its words only."""
    return '"' + " ".join(re.findall(r"[\w']+", text)) + '"'


async def test_a_killed_server_keeps_the_audio_and_finals_of_its_live_room(
        tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "server.log"
    audio = decode(LONGFORM)
    spoken = Spoken()
    with serving(data, log) as first:
        async with httpx.AsyncClient(base_url=first.url, timeout=60) as http:
            client = Client(http)
            for handle, name in (("hana", "Hana Host"), ("ada", "Ada Lovelace"),
                                 ("lis", "Lis Tener")):
                await client.account(handle, name)
            room = await client.recorded_room("hana", ["ada"], "Late reading")
            async with client.listening(room, "lis") as heard:
                speaking = asyncio.create_task(client.speak(room, "ada", audio, spoken))

                async def far_enough() -> bool:
                    return len(heard.finals()) >= 2 and spoken.sent >= KILL_AFTER * 32_000

                await until(far_enough, within=60, every=0.05)
                first.kill()
                finals = list(heard.finals())
                await asyncio.wait([speaking], timeout=10)
                assert speaking.done()  # the socket died with the server
    sent = spoken.sent // 2
    assert 0 < sent < audio.size, "the kill came in the middle of the recording"

    with serving(data, log, ROOMSCRIBE_ASR_MODEL="no-such-model") as second:
        async with httpx.AsyncClient(base_url=second.url, timeout=60) as http:
            client = Client(http)
            await client.sign_in("hana")
            described = (await client.get(f"/rooms/{room}", "hana")).json()
            assert (described["state"], described["ended_reason"]) == ("ended", "crash")

            async def mixed() -> httpx.Response | None:
                response = await client.get(f"/rooms/{room}/recording", "hana")
                return response if response.status_code == 200 else None

            mix = await until(mixed, within=120)
            (tmp_path / "mix.ogg").write_bytes(mix.content)
            samples = decode(tmp_path / "mix.ogg")
            # The mix ends with the last audio received: everything sent but the frames still
            # in flight, at the room time the first frame arrived (its start is 100 ms earlier).
            origin = spoken.origin - 0.1
            assert origin + (sent / 16_000) - IN_FLIGHT <= samples.size / 16_000
            assert samples.size / 16_000 <= origin + sent / 16_000 + 0.3
            kept = audio[: sent - round(IN_FLIGHT * 16_000)]
            lag, corr = best_alignment(samples, kept, origin)
            assert corr > 0.9 and abs(lag) < 0.3, (lag, corr)

            info = (await client.get(f"/rooms/{room}/transcript/versions", "hana")).json()
            assert (info["stage"], info["current"]) == ("pending", 0)
            live = (await client.get(f"/rooms/{room}/transcript/segments", "hana")).json()
            saved: list[dict[str, Any]] = live["segments"]
            texts = [s["text"] for s in saved]
            for final in finals:
                assert final["text"] in texts
                found = (await client.get("/search", "hana",
                                          params={"q": phrase(final["text"])})).json()
                assert [(h["room_id"], h["speaker"]) for h in found["hits"]][:1] == [
                    (room, "Ada Lovelace")], final

    with serving(data, log) as third:
        async with httpx.AsyncClient(base_url=third.url, timeout=60) as http:
            client = Client(http)
            await client.sign_in("hana")

            async def passed() -> dict[str, Any] | None:
                info = (await client.get(f"/rooms/{room}/transcript/versions", "hana")).json()
                return info if info["stage"] != "pending" else None

            info = await until(passed, within=180)
            assert (info["stage"], info["current"]) == ("final", 1)
            final = (await client.get(f"/rooms/{room}/transcript/segments", "hana")).json()
            heard_words = set(normalize(" ".join(texts)).split())
            final_words = normalize(" ".join(s["text"] for s in final["segments"])).split()
            assert len(heard_words & set(final_words)) >= 0.8 * len(heard_words)
    assert "Traceback" not in log.read_text(), log.read_text()
