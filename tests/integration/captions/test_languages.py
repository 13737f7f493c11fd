"""A room in other languages, live, through the real multilingual model (`base`) and a real
`roomscribe serve` process: Common Voice speech (human recordings, `../shared/speech/
multilingual/`) in, labelled captions in the language spoken and in English out.

One room set to "detect", two speakers talking at once (Spanish and German): four `base` streams
on this machine's two cores (each speaker as spoken and in English). Run once.

- each speaker's language is detected and carried by every event (`lang`);
- their words as spoken score within MARGIN of what the same model made of the same audio in
  the room's final pass (the offline path; WER after Whisper's multilingual normaliser), so the
  live path loses little;
- the English track (`task: translate`) is English: its words are mostly English function
  words where the spoken track's are not;
- the archive keeps both tracks, each segment with its language: after the final pass (which
  re-hears the words as spoken, in each track's detected language) the transcript offers a
  spoken and an English caption track, each exported as WebVTT, and search finds the room's
  words with `lang:` in each language.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from helpers.speech import english_share, error_rate, in_language
from helpers.waiting import until
from integration.transcripts.live_server import Client, Server, serving
from roomscribe.media.ffmpeg import decode

pytestmark = pytest.mark.model

MARGIN = 0.15
"""How far live WER may exceed offline WER on the same audio. `base` on these short read
sentences is far less stable than tiny.en on LibriSpeech (a word or two of a 10-word sentence
flip between runs), so the bound is wider than English's 1.5 points."""
SPEAKERS = {"ana": "es", "dirk": "de"}
GAP = 0.6
"""Seconds of silence between a speaker's sentences."""


def spoken(language: str) -> tuple[npt.NDArray[np.float32], list[str]]:
    """A speaker's three clips of `language` one after another, and their references."""
    clips = in_language(language)
    pause = np.zeros(int(GAP * 16_000), dtype=np.float32)
    audio = np.concatenate([part for clip in clips for part in (decode(clip.path), pause)])
    return audio, [clip.reference for clip in clips]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("languages")
    with serving(home / "data", home / "server.log") as server:
        yield server
    log = (home / "server.log").read_text()
    assert "Traceback" not in log, log


async def test_a_room_in_two_other_languages_is_captioned_as_spoken_and_in_english(
        server: Server) -> None:
    audio = {who: spoken(language) for who, language in SPEAKERS.items()}
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
        client = Client(http)
        for handle, name in (("hana", "Hana Host"), ("ana", "Ana García"),
                             ("dirk", "Dirk Müller"), ("lis", "Lis Tener")):
            await client.account(handle, name)
        room = await client.post("/rooms", "hana", {"title": "Babel", "record": True,
                                                     "language": "detect"})
        room_id = room["id"]
        assert room["language"] == "detect"
        client.started[room_id] = datetime.fromisoformat(room["started_at"]).timestamp()
        for handle in SPEAKERS:
            await client.post(f"/rooms/{room_id}/invitations", "hana", {"handle": handle})
            await client.post(f"/rooms/{room_id}/invitations/accept", handle, {"consent": True})
        async with client.listening(room_id, "lis") as lis:
            talking = await asyncio.gather(*(client.speak(room_id, who, audio[who][0])
                                             for who in SPEAKERS))
            for stream in talking:
                assert stream.socket is not None
                await stream.socket.close()  # the last words flush

            def finals(who: str, task: str) -> list[dict[str, Any]]:
                return [e for e in lis.finals(who) if e["task"] == task]

            await until(lambda: all(finals(w, "translate") for w in SPEAKERS), within=60,
                        what="both speakers' English tracks")
            await asyncio.sleep(5)  # the last finals of the slower track
            await client.post(f"/rooms/{room_id}/end", "hana")

        # The archive keeps the words as spoken, each in its language …
        segments = (await client.get(f"/rooms/{room_id}/transcript/segments", "hana",
                                     params={"version": 0})).json()["segments"]
        archived = sorted((s["speaker_id"], s["lang"], s["text"]) for s in segments)
        assert archived == sorted((w, SPEAKERS[w], e["text"]) for w in SPEAKERS
                                  for e in finals(w, "transcribe"))

        # … and, once the final pass has re-heard them (the offline path: each track's speech
        # cut at pauses, decoded whole, in the language it detects), offers both tracks.
        async def settled() -> dict[str, Any] | None:
            info = (await client.get(f"/rooms/{room_id}/transcript/versions", "hana")).json()
            return info if info["stage"] == "final" else None

        info = await until(settled, within=240, what="the final pass")
        assert [t["track"] for t in info["tracks"]] == ["spoken", "english"], info
        assert info["tracks"][0]["lang"] in SPEAKERS.values()
        assert info["tracks"][1] == {"track": "english", "lang": "en",
                                     "label": "English (machine translation)"}
        final = (await client.get(f"/rooms/{room_id}/transcript/segments", "hana")).json()
        assert {(s["speaker_id"], s["lang"]) for s in final["segments"]} == set(SPEAKERS.items())

        for who, language in SPEAKERS.items():
            said = finals(who, "transcribe")
            english = finals(who, "translate")
            assert said and english, who
            assert {e["lang"] for e in said} == {language}, (who, [e["lang"] for e in said])
            assert {e["lang"] for e in english} == {"en"}
            assert {e["speaker"]["id"] for e in said + english} == {who}
            references = [" ".join(audio[who][1])]
            live = error_rate(language, references, [" ".join(e["text"] for e in said)])
            best = error_rate(language, references, [" ".join(
                s["text"] for s in final["segments"] if s["speaker_id"] == who)])
            print(f"{who} ({language}): live {live:.2f}, offline {best:.2f}, English share "
                  f"{english_share(' '.join(e['text'] for e in english)):.2f} (as spoken "
                  f"{english_share(' '.join(e['text'] for e in said)):.2f})")
            assert live <= best + MARGIN, (who, live, best, [e["text"] for e in said])
            assert english_share(" ".join(e["text"] for e in english)) >= 0.15, english
            # (A word or two of Spanish or German can be an English one too: "on", "is".)
            assert english_share(" ".join(e["text"] for e in said)) < 0.10, said

        english_vtt = (await client.get(f"/rooms/{room_id}/transcript", "hana",
                                        params={"track": "english"})).text
        spoken_vtt = (await client.get(f"/rooms/{room_id}/transcript", "hana")).text
        assert english_vtt.startswith("WEBVTT") and spoken_vtt.startswith("WEBVTT")
        assert english_share(english_vtt) >= 0.15 > english_share(spoken_vtt) + 0.05

        # Search finds each language's words with `lang:`; the English track is lang:en.
        async def hits(q: str) -> list[dict[str, Any]]:
            found = (await client.get("/search", "hana", params={"q": q})).json()
            return [h for h in found["hits"] if h["room_id"] == room_id]

        for who, language in SPEAKERS.items():
            word = max((s["text"] for s in final["segments"] if s["speaker_id"] == who),
                       key=len).split()[0]
            found = await until(lambda q=f'"{word}" lang:{language}': hits(q), within=30,
                                every=0.5, what=f"{language} words in search")
            assert {(h["lang"], h["translated"]) for h in found} == {(language, False)}
            assert not await hits(f'"{word}" lang:{"de" if language == "es" else "es"}')
        english = next(e["text"] for e in finals("ana", "translate") if len(e["text"]) > 10)
        found = await hits(f'"{english.split()[0]}" lang:en')
        assert found and all(h["translated"] and h["lang"] == "en" for h in found)
