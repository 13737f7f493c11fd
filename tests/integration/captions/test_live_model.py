"""The LiveEngine with the real tiny.en model and Silero VAD on the human recordings."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.speech import Clip, clips, normalize, wer
from roomscribe.asr.engine import Transcriber
from roomscribe.captions.events import CaptionEvent, Speaker
from roomscribe.captions.live_engine import LiveEngine
from roomscribe.media import ffmpeg
from roomscribe.pcm import SAMPLE_RATE

SR = SAMPLE_RATE
CHUNK = SR // 10
GAP = 0.8

pytestmark = pytest.mark.model


@dataclass
class Played:
    """What a set of concurrent streams played and every event that came out, in order."""

    tracks: list[list[Clip]]
    events: list[CaptionEvent]
    finished: dict[str, int]
    """Per speaker id: how many events had been delivered when its finish() returned."""

    def finals(self, speaker: str) -> list[CaptionEvent]:
        return [e for e in self.events if e.speaker.id == speaker and e.type == "final"]

    def text(self, speaker: str) -> str:
        return " ".join(e.text for e in self.finals(speaker))

    def reference(self, i: int) -> str:
        return " ".join(c.reference for c in self.tracks[i])


def _track(chosen: list[Clip]) -> np.ndarray:
    gap = np.zeros(int(GAP * SR), dtype=np.float32)
    return np.concatenate([gap, *(np.concatenate([ffmpeg.decode(c.path), gap]) for c in chosen)])


async def _play(engine: LiveEngine, tracks: list[list[Clip]], *, speed: float) -> Played:
    events: list[CaptionEvent] = []
    finished: dict[str, int] = {}

    async def sink(event: CaptionEvent) -> None:
        events.append(event)

    async def feed(i: int, audio: np.ndarray) -> None:
        stream = engine.open(room=f"room{i % 2}", speaker=Speaker(str(i), f"Speaker {i}"),
                             origin=1.5 * i, sink=sink)
        start = time.perf_counter()
        for k in range(0, audio.size, CHUNK):
            stream.push(audio[k: k + CHUNK])
            await asyncio.sleep(max(0.0, (k + CHUNK) / SR / speed - (time.perf_counter() - start)))
        await stream.finish()
        finished[str(i)] = len(events)

    await asyncio.gather(*(feed(i, _track(t)) for i, t in enumerate(tracks)))
    return Played(tracks, events, finished)


@pytest.fixture(scope="module")
def corpus(transcriber: Transcriber) -> Played:
    """The LibriSpeech, LibriVox and JFK clips, dealt over four speakers in two rooms, played
    concurrently at twice real time."""
    pool = [c for s in ("librispeech_test_clean", "librivox_sense_sensibility", "jfk")
            for c in clips(s)]

    async def run() -> Played:
        async with LiveEngine(transcriber) as engine:
            return await _play(engine, [pool[i::4] for i in range(4)], speed=2.0)

    return asyncio.run(run())


def test_finals_reach_the_wer_bound(corpus: Played) -> None:
    live = wer([corpus.reference(i) for i in range(4)], [corpus.text(str(i)) for i in range(4)])
    # scripts/bench_live.py measured live 4.2-4.9% against 3.2% offline on these clips. 6% leaves
    # room for where windows fall at twice real time, and fails on dropped or doubled text: a
    # lost clip alone costs 2-5 points, a seam duplicate every utterance about 4.
    assert live <= 0.06, live


def test_concurrent_streams_never_mix_text(corpus: Played) -> None:
    refs = [set(normalize(corpus.reference(i)).split()) for i in range(4)]
    for i in range(4):
        own = wer([corpus.reference(i)], [corpus.text(str(i))])
        others = [wer([corpus.reference(j)], [corpus.text(str(i))]) for j in range(4) if j != i]
        assert own <= 0.1 < 0.6 <= min(others)
        for event in corpus.finals(str(i)):
            words = normalize(event.text).split()
            hits = [sum(w in ref for w in words) for ref in refs]
            # Every final is its own speaker's words, however short (misheard ones aside).
            assert hits[i] >= max(hits) and hits[i] >= len(words) / 2, event.text


def test_seq_is_gap_free_and_finals_are_never_revised(corpus: Played) -> None:
    for room in ("room0", "room1"):
        seqs = [e.seq for e in corpus.events if e.room == room]
        assert seqs == list(range(len(seqs)))
    for i in range(4):
        speaker = str(i)
        mine = [e for e in corpus.events if e.speaker.id == speaker]
        finals = corpus.finals(speaker)
        assert all(a.end <= b.start for a, b in pairwise(finals))
        assert all(w.start <= w.end for e in mine for w in e.words)
        assert all(a.start <= b.start for e in finals for a, b in pairwise(e.words))
        last_final = 1.5 * i
        for event in mine:
            if event.type == "final":
                last_final = event.end
            else:
                # A partial only ever covers what is not final yet.
                assert all(w.start >= last_final for w in event.words), event


def test_finish_flushes_everything(corpus: Played) -> None:
    for i in range(4):
        speaker = str(i)
        delivered = corpus.events[: corpus.finished[speaker]]
        mine = [e for e in corpus.events if e.speaker.id == speaker]
        assert mine and all(e in delivered for e in mine)
        assert mine[-1].type == "final"
        last_word = normalize(corpus.tracks[i][-1].reference).split()[-1]
        assert last_word in normalize(mine[-1].text).split()[-3:]


def _noise(kind: str, seconds: float = 8.0) -> np.ndarray:
    rng = np.random.default_rng(13)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    noise = {
        "silence": np.zeros(n),
        "white": rng.normal(0, 0.05, n),
        "loud white": rng.normal(0, 0.3, n),
        "brown": np.cumsum(rng.normal(0, 0.01, n)),
        "hum": 0.1 * np.sin(2 * np.pi * 50 * t) + 0.05 * np.sin(2 * np.pi * 100 * t),
        "clicks": np.where(np.arange(n) % (SR // 3) == 0, 0.8, 0.0),
        "faint": rng.normal(0, 0.002, n),
    }[kind]
    if kind == "brown":
        noise = 0.2 * noise / np.abs(noise).max()
    return np.asarray(noise, dtype=np.float32)


async def test_silence_and_noise_produce_no_events(transcriber: Transcriber) -> None:
    kinds = ["silence", "white", "loud white", "brown", "hum", "clicks", "faint"]
    events: list[CaptionEvent] = []

    async def sink(event: CaptionEvent) -> None:
        events.append(event)

    async with LiveEngine(transcriber) as engine:
        streams = [engine.open(room="r", speaker=Speaker(k, k), origin=0.0, sink=sink)
                   for k in kinds]
        for k, stream in zip(kinds, streams, strict=True):
            noise = _noise(k)
            for i in range(0, noise.size, CHUNK):
                stream.push(noise[i: i + CHUNK])
        await asyncio.gather(*(s.finish() for s in streams))
    assert events == []


_CLIP = clips("jfk")[0]
_AUDIO = ffmpeg.decode(_CLIP.path)


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.one_of(st.just(1), st.integers(2, 4000), st.integers(4000, 5 * SR),
                                st.just(5 * SR)), min_size=1, max_size=6))
def test_any_chunking_keeps_finals_final_and_seq_gap_free(
        transcriber: Transcriber, sizes: list[int]) -> None:
    """Chunks of 1 sample to 5 seconds, pushed as fast as they come."""
    origin = 42.0
    duration = _AUDIO.size / SR
    events: list[CaptionEvent] = []
    returned: list[int] = []

    async def sink(event: CaptionEvent) -> None:
        events.append(event)

    async def run() -> None:
        async with LiveEngine(transcriber) as engine:
            stream = engine.open(room="r", speaker=Speaker("s", "S"), origin=origin, sink=sink)
            i = k = 0
            while i < _AUDIO.size:
                size = sizes[k % len(sizes)]
                # A 1-sample chunk comes in a run of 1600 (0.1 s), or the clip would take
                # 176 000 pushes.
                for _ in range(1600 if size == 1 else 1):
                    stream.push(_AUDIO[i: i + size])
                    i += size
                k += 1
                await asyncio.sleep(0)
            await stream.finish()
            returned.append(len(events))

    asyncio.run(run())
    assert returned == [len(events)]
    assert [e.seq for e in events] == list(range(len(events)))
    finals = [e for e in events if e.type == "final"]
    assert finals and events[-1].type == "final"
    assert all(a.end <= b.start for a, b in pairwise(finals))
    last_final = origin
    for event in events:
        assert all(origin <= w.start <= w.end <= origin + duration + 0.1 for w in event.words)
        if event.type == "final":
            last_final = event.end
        else:
            assert all(w.start >= last_final for w in event.words)
    assert wer([_CLIP.reference], [" ".join(e.text for e in finals)]) <= 0.15
