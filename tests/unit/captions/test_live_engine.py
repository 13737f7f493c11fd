"""LiveEngine with the tone-burst fake: contract, ordering, flushing, overload, the event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from itertools import pairwise

import numpy as np
import pytest

from helpers.fake_asr import VOCABULARY, FakeTranscriber, LoudnessVad
from roomscribe.asr.streaming import StreamConfig
from roomscribe.captions.events import CaptionEvent, LiveStream, Speaker
from roomscribe.captions.live_engine import LiveEngine
from roomscribe.errors import Unavailable

SR = 16_000
CHUNK = 1600  # 100 ms, what a browser client sends


def _words(n: int, seed: int) -> list[str]:
    return [str(w) for w in np.random.default_rng(seed).choice(VOCABULARY, n)]


class Sink:
    def __init__(self) -> None:
        self.events: list[CaptionEvent] = []

    async def __call__(self, event: CaptionEvent) -> None:
        self.events.append(event)

    def finals(self, speaker: str) -> list[str]:
        return [w.text for e in self.events if e.type == "final" and e.speaker.id == speaker
                for w in e.words]


async def _feed(stream: LiveStream, audio: np.ndarray, *, speed: float = 0.0) -> None:
    """Push `audio` in 100 ms chunks, `speed` times faster than real time (0: as fast as can be)."""
    start = time.perf_counter()
    for i in range(0, audio.size, CHUNK):
        stream.push(audio[i: i + CHUNK])
        if speed:
            await asyncio.sleep(max(0.0, (i + CHUNK) / SR / speed - (time.perf_counter() - start)))
        else:
            await asyncio.sleep(0)
    await stream.finish()


async def test_two_speakers_of_a_room_share_one_gap_free_sequence_and_never_mix() -> None:
    fake = FakeTranscriber()
    sink = Sink()
    a, script_a = fake.say(_words(25, seed=1))
    b, script_b = fake.say(_words(25, seed=2), lead=1.3)
    async with LiveEngine(fake, detector=LoudnessVad) as engine:
        sa = engine.open(room="r1", speaker=Speaker("a", "Ada"), origin=3.0, sink=sink)
        sb = engine.open(room="r1", speaker=Speaker("b", "Bo"), origin=7.0, sink=sink)
        await asyncio.gather(_feed(sa, a, speed=8), _feed(sb, b, speed=8))
    assert [e.seq for e in sink.events] == list(range(len(sink.events)))
    assert sink.finals("a") == [w.text for w in script_a]
    assert sink.finals("b") == [w.text for w in script_b]
    for speaker, origin, script in (("a", 3.0, script_a), ("b", 7.0, script_b)):
        finals = [e for e in sink.events if e.type == "final" and e.speaker.id == speaker]
        assert all(x.end <= y.start for x, y in pairwise(finals))
        assert finals[0].start == pytest.approx(origin + script[0].start, abs=0.05)
        assert {e.speaker.name for e in finals} == {"Ada" if speaker == "a" else "Bo"}


async def test_each_room_counts_its_own_events_and_the_count_outlives_a_stream() -> None:
    fake = FakeTranscriber()
    sink = Sink()
    audio, script = fake.say(_words(6, seed=3))
    async with LiveEngine(fake, detector=LoudnessVad) as engine:
        for room in ("r1", "r2", "r1"):  # r1's speaker mutes, r2 speaks, r1's speaker is back
            stream = engine.open(room=room, speaker=Speaker("s", "S"), origin=0.0, sink=sink)
            await _feed(stream, audio)
    words = [w.text for w in script]
    for room, streams in (("r1", 2), ("r2", 1)):
        events = [e for e in sink.events if e.room == room]
        assert [e.seq for e in events] == list(range(len(events)))
        assert [w.text for e in events if e.type == "final" for w in e.words] == words * streams


async def test_finish_returns_once_every_final_is_delivered() -> None:
    fake = FakeTranscriber(delay=0.05)
    delivered = Sink()

    async def slow_sink(event: CaptionEvent) -> None:
        await asyncio.sleep(0.01)
        await delivered(event)

    # No trailing silence: the last words are only flushed by finish().
    audio, script = fake.say(_words(10, seed=4), tail=0.0)
    async with LiveEngine(fake, detector=LoudnessVad) as engine:
        stream = engine.open(room="r", speaker=Speaker("s", "S"), origin=0.0, sink=slow_sink)
        for i in range(0, audio.size, CHUNK):
            stream.push(audio[i: i + CHUNK])
        await stream.finish()
        assert delivered.finals("s") == [w.text for w in script]
        assert delivered.events[-1].type == "final"
        with pytest.raises(RuntimeError):
            stream.push(audio[:CHUNK])


async def test_a_stream_refuses_audio_past_its_backlog_instead_of_piling_it_up() -> None:
    fake = FakeTranscriber()
    config = StreamConfig(max_backlog=1.0)
    async with LiveEngine(fake, detector=LoudnessVad, config=config) as engine:
        stream = engine.open(room="r", speaker=Speaker("s", "S"), origin=0.0, sink=Sink())
        stream.push(np.zeros(24_000, dtype=np.float32))  # 1.5 s, before any worker ran
        with pytest.raises(Unavailable, match="captions cannot keep up"):
            stream.push(np.zeros(1_600, dtype=np.float32))
        await stream.finish()


async def test_close_flushes_streams_still_open() -> None:
    fake = FakeTranscriber()
    sink = Sink()
    audio, script = fake.say(_words(8, seed=5), tail=0.0)
    engine = LiveEngine(fake, detector=LoudnessVad)
    with pytest.raises(RuntimeError):
        engine.open(room="r", speaker=Speaker("s", "S"), origin=0.0, sink=sink)
    await engine.start()
    stream = engine.open(room="r", speaker=Speaker("s", "S"), origin=0.0, sink=sink)
    stream.push(audio)
    await engine.close()
    assert sink.finals("s") == [w.text for w in script]


async def test_a_failing_sink_does_not_stop_the_room() -> None:
    fake = FakeTranscriber()
    good = Sink()

    async def broken(event: CaptionEvent) -> None:
        raise ValueError("listener gone")

    audio, script = fake.say(_words(8, seed=6))
    async with LiveEngine(fake, detector=LoudnessVad) as engine:
        bad = engine.open(room="r", speaker=Speaker("x", "X"), origin=0.0, sink=broken)
        ok = engine.open(room="r", speaker=Speaker("s", "S"), origin=0.0, sink=good)
        await asyncio.gather(_feed(bad, audio), _feed(ok, audio))
    assert good.finals("s") == [w.text for w in script]


async def test_the_event_loop_is_never_blocked_by_the_model(
        caplog: pytest.LogCaptureFixture) -> None:
    # A model call takes 0.5 s: run on the loop, it would hold it that long. asyncio's debug
    # mode reports any callback holding the loop past the threshold, which sits well above the
    # few tens of milliseconds a busy 2-core machine can take to schedule this process.
    fake = FakeTranscriber(delay=0.5, num_workers=2)
    sink = Sink()
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.25
    audio, _ = fake.say(_words(20, seed=7))
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        async with LiveEngine(fake, detector=LoudnessVad) as engine:
            streams = [engine.open(room="r", speaker=Speaker(str(i), "S"), origin=0.0,
                                   sink=sink) for i in range(4)]
            await asyncio.gather(*(_feed(s, audio, speed=4) for s in streams))
    loop.set_debug(False)
    # The model did run, for every stream (how many updates fit depends on the machine's load).
    assert fake.calls > 5
    assert {e.speaker.id for e in sink.events if e.type == "final"} == {"0", "1", "2", "3"}
    assert not [r.getMessage() for r in caplog.records if "took" in r.getMessage()]


async def test_overload_stretches_updates_batches_streams_and_drops_no_audio() -> None:
    """One worker, a model as slow as 0.25 s a call, eight streams fed at twice real time."""
    scripts = []
    audios = []
    for seed in range(8):
        audio, script = FakeTranscriber().say(_words(30, seed=10 + seed))
        audios.append(audio)
        scripts.append(script)

    async def run(fake: FakeTranscriber, n: int) -> Sink:
        sink = Sink()
        async with LiveEngine(fake, detector=LoudnessVad, max_batch=4) as engine:
            streams = [engine.open(room="r", speaker=Speaker(str(i), "S"), origin=0.0, sink=sink)
                       for i in range(n)]
            await asyncio.gather(*(_feed(s, a, speed=2) for s, a in zip(streams, audios,
                                                                           strict=False)))
        return sink

    calm = FakeTranscriber(delay=0.25)
    calm_sink = await run(calm, 1)
    busy = FakeTranscriber(delay=0.25)
    busy_sink = await run(busy, 8)
    for i in range(8):
        # Every word of every stream is final at the end: nothing was dropped.
        assert busy_sink.finals(str(i)) == [w.text for w in scripts[i]]
    # Windows were batched, and each stream was updated less often than when alone.
    assert busy.calls < len(busy.windows)
    partials = [len([e for e in busy_sink.events if e.speaker.id == str(i)
                     and e.type == "partial"]) for i in range(8)]
    calm_partials = len([e for e in calm_sink.events if e.type == "partial"])
    assert max(partials) < calm_partials
    # Fair: no stream was starved of updates while the others were served.
    assert min(partials) >= max(partials) // 3


async def test_a_broken_stream_fails_alone() -> None:
    class Broken(LoudnessVad):
        def score(self, frames: np.ndarray) -> np.ndarray:
            raise ValueError("voice activity model crashed")

    fake = FakeTranscriber()
    sink = Sink()
    audio, script = fake.say(_words(8, seed=8))
    detectors = iter([Broken(), LoudnessVad()])
    async with LiveEngine(fake, detector=lambda: next(detectors), max_batch=2) as engine:
        bad = engine.open(room="r", speaker=Speaker("x", "X"), origin=0.0, sink=sink)
        ok = engine.open(room="r", speaker=Speaker("s", "S"), origin=0.0, sink=sink)
        bad.push(audio)
        with pytest.raises(ValueError, match="crashed"):
            await bad.finish()
        with pytest.raises(RuntimeError, match="failed"):
            bad.push(audio[:CHUNK])
        await _feed(ok, audio)
    assert sink.finals("s") == [w.text for w in script]
    assert [e.seq for e in sink.events] == list(range(len(sink.events)))
