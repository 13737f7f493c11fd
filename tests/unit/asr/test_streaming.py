"""StreamingSession with the tone-burst fake: LocalAgreement, utterances, cuts and time."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.fake_asr import VOCABULARY, FakeTranscriber, LoudnessVad
from roomscribe.asr.engine import Hypothesis, Window
from roomscribe.asr.results import Word
from roomscribe.asr.streaming import (
    Caption,
    StreamConfig,
    StreamingSession,
    agreed,
)

SR = 16_000


def _run(fake: FakeTranscriber, audio: np.ndarray, *, chunk: int = 1600, origin: float = 0.0,
         config: StreamConfig | None = None) -> list[tuple[float, Caption]]:
    """Feed `audio` in chunks, stepping after each; (stream seconds pushed, caption) pairs."""
    session = StreamingSession(LoudnessVad(), origin=origin, config=config)
    out: list[tuple[float, Caption]] = []

    def hear(window: Window) -> Hypothesis:
        return fake.hypothesize([window])[0]

    for i in range(0, audio.size, chunk):
        session.push(audio[i: i + chunk])
        out += [(min(audio.size, i + chunk) / SR, c) for c in session.step(hear)]
    out += [(audio.size / SR, c) for c in session.finish(hear)]
    assert session.done and session.backlog == 0
    return out


def _finals(captions: list[tuple[float, Caption]]) -> list[Word]:
    return [w for _, c in captions if c.final for w in c.words]


def _words(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [str(w) for w in rng.choice(VOCABULARY, n)]


def test_finals_spell_the_script_with_its_times() -> None:
    fake = FakeTranscriber()
    audio, script = fake.say(_words(30))
    finals = _finals(_run(fake, audio, origin=100.0))
    assert [w.text for w in finals] == [w.text for w in script]
    for heard, said in zip(finals, script, strict=True):
        assert heard.start == pytest.approx(100.0 + said.start, abs=0.05)
        assert heard.end == pytest.approx(100.0 + said.end, abs=0.05)


def test_partials_come_first_then_finals_that_never_overlap() -> None:
    fake = FakeTranscriber()
    audio, _ = fake.say(_words(30, seed=1))
    captions = _run(fake, audio)
    finals = [c for _, c in captions if c.final]
    partials = [c for _, c in captions if not c.final]
    assert partials and len(finals) > 3
    assert all(a.end <= b.start for a, b in pairwise(finals))
    # What is final is never shown again as partial: a partial only covers time after the
    # last final before it.
    last_final_end = 0.0
    for _, caption in captions:
        if caption.final:
            last_final_end = caption.end
        elif caption.words:
            assert caption.start >= last_final_end


def test_commits_need_two_agreeing_hypotheses() -> None:
    """A word cut off by the window's end (garbled by the fake) is never committed as heard."""
    fake = FakeTranscriber()
    audio, _ = fake.say(_words(40, seed=2))
    captions = _run(fake, audio, chunk=800)
    assert any(w.text.endswith("-") for _, c in captions if not c.final for w in c.words)
    assert not any(w.text.endswith("-") for w in _finals(captions))


def test_silence_and_pauses_cost_no_model_call() -> None:
    fake = FakeTranscriber()
    assert _run(fake, np.zeros(20 * SR, dtype=np.float32)) == []
    assert fake.calls == 0
    words, _ = fake.say(["the", "one"])
    audio = np.concatenate([np.zeros(10 * SR, dtype=np.float32), words,
                            np.zeros(10 * SR, dtype=np.float32)])
    _run(fake, audio)
    # Two words: at most one update and the flush, none for the 20 s of silence.
    assert fake.calls <= 2


def test_half_a_second_of_silence_flushes_the_tail_as_final() -> None:
    fake = FakeTranscriber()
    audio, script = fake.say(["when", "who", "would"], tail=2.0)
    captions = _run(fake, audio, chunk=320)
    finals = [(t, c) for t, c in captions if c.final]
    assert [w.text for _, c in finals for w in c.words] == ["when", "who", "would"]
    emitted, _ = finals[-1]
    # Flushed by 0.5 s of silence (plus up to one 32 ms frame), not by the end of the stream.
    assert emitted - script[-1].end == pytest.approx(0.5, abs=0.07)


def test_a_noise_blip_shorter_than_min_speech_is_dropped_unheard() -> None:
    fake = FakeTranscriber()
    blip, _ = fake.say(["the"], word=0.1, lead=1.0, tail=2.0)
    assert _run(fake, blip) == []
    assert fake.calls == 0


def test_window_stays_short_over_ten_minutes_of_speech() -> None:
    fake = FakeTranscriber()
    # Ten minutes of words with only 0.1 s gaps: continuous speech, no utterance ever ends.
    audio, script = fake.say(_words(1500, seed=3), gap=0.1)
    assert audio.size / SR > 600
    captions = _run(fake, audio, chunk=3200)
    assert [w.text for w in _finals(captions)] == [w.text for w in script]
    durations = [w.duration for w in fake.windows]
    assert max(durations) <= StreamConfig().max_window
    quarter = len(durations) // 4
    assert np.mean(durations[-quarter:]) <= np.mean(durations[:quarter]) + 0.5
    # Final latency (stream seconds pushed when a word became final, minus its end) is flat.
    lags = [t - w.end for t, c in captions if c.final for w in c.words]
    q = len(lags) // 4
    assert np.percentile(lags[-q:], 95) <= np.percentile(lags[:q], 95) + 0.2


def test_a_full_window_commits_what_the_model_keeps_changing_its_mind_about() -> None:
    class Fickle(FakeTranscriber):
        """Never says the same thing twice, so LocalAgreement alone would never commit."""

        def hypothesize(self, windows: object, *, beam_size: int = 1) -> list[Hypothesis]:
            hyps = super().hypothesize(windows, beam_size=beam_size)  # type: ignore[arg-type]
            return [Hypothesis(words=tuple(
                Word(w.start, w.end, f"{w.text}{self.calls}") for w in h.words)) for h in hyps]

    fake = Fickle()
    audio, script = fake.say(_words(120, seed=4))
    config = StreamConfig(max_window=6.0, keep=2.0)
    captions = _run(fake, audio, config=config)
    assert max(w.duration for w in fake.windows) <= 6.0 + 0.05
    assert len(_finals(captions)) == len(script)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.one_of(st.just(1), st.integers(2, 600), st.integers(600, 5 * SR),
                                st.just(5 * SR)), min_size=1, max_size=12))
def test_any_chunking_gives_the_same_finals(sizes: list[int]) -> None:
    fake = FakeTranscriber()
    audio, script = fake.say(_words(12, seed=5))
    session = StreamingSession(LoudnessVad())
    captions: list[Caption] = []
    i = 0
    k = 0
    hear = lambda w: fake.hypothesize([w])[0]  # noqa: E731
    while i < audio.size:
        # 1-sample chunks for the whole clip would be 60 000 pushes: cycle the drawn sizes,
        # each 1 used for a burst of 500 pushes.
        size = sizes[k % len(sizes)]
        for _ in range(500 if size == 1 else 1):
            session.push(audio[i: i + size])
            i += size
        k += 1
        captions += session.step(hear)
    captions += session.finish(hear)
    finals = [w for c in captions if c.final for w in c.words]
    assert [w.text for w in finals] == [w.text for w in script]
    assert all(a.end <= b.start for a, b in pairwise(finals))


def test_agreement_ignores_case_and_punctuation() -> None:
    a = (Word(0, 1, "Hello,"), Word(1, 2, "world"), Word(2, 3, "again"))
    b = (Word(0, 1, "hello"), Word(1, 2, "World."), Word(2, 3, "a-"))
    assert agreed(a, b) == 2
    assert agreed((), b) == 0


def test_misuse_is_refused() -> None:
    session = StreamingSession(LoudnessVad())
    with pytest.raises(RuntimeError):
        session.accept(Hypothesis())
    session.end()
    with pytest.raises(RuntimeError):
        session.push(np.zeros(10, dtype=np.float32))
    with pytest.raises(ValueError):
        StreamConfig(max_window=40.0)
