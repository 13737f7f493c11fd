"""The final pass's pieces: speech clips, a track heard a window at a time, sentence cuts.

Tracks hold tone bursts (`FakeTranscriber.say`), clips are found by `LoudnessVad` and named by
`ToneModel`, so every word heard can be checked against where it was put on the room clock.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from helpers.fake_asr import FakeTranscriber, LoudnessVad
from helpers.fake_final_pass import ToneModel
from roomscribe.asr import offline
from roomscribe.asr.engine import DecodeOptions
from roomscribe.asr.offline import sentences, speech_clips, transcribe_track
from roomscribe.asr.results import Segment, Word
from roomscribe.recordings.storage import LocalStorage
from roomscribe.recordings.tracks import TrackReader, TrackWriter

RATE = 16_000
VOICE = FakeTranscriber()
PHRASES = [["she", "had", "been"], ["out", "with", "them"], ["what", "would", "you"],
           ["have", "said", "more"], ["all", "the", "one"]]


def utterance(words: list[str]) -> tuple[npt.NDArray[np.float32], list[Word]]:
    return VOICE.say(words, lead=0.0, tail=0.0)


def track_of(tmp_path: Path, placed: list[tuple[float, list[str]]],
             length: float) -> tuple[TrackReader, list[tuple[float, str]]]:
    """A track from room time 5 s to 5 s + `length`, with each phrase at its room time; and
    every word's room time."""
    audio = np.zeros(round(length * RATE), dtype=np.float32)
    said: list[tuple[float, str]] = []
    for at, words in placed:
        sound, script = utterance(words)
        first = round((at - 5.0) * RATE)
        audio[first:first + sound.size] = sound
        said += [(at + w.start, w.text) for w in script]
    storage = LocalStorage(tmp_path)
    with TrackWriter(storage, "room", "ada") as writer:
        writer.append(audio, at=5.0)
    return TrackReader(storage, "room", "ada"), said


def heard(segments: list[Segment]) -> list[tuple[float, str]]:
    return [(w.start, w.text.rstrip(".")) for s in segments for w in s.words]


@pytest.fixture(autouse=True)
def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offline, "WINDOW", 30.0)
    monkeypatch.setattr(offline, "OVERLAP", 8.0)


def test_a_long_track_is_heard_whole_and_once_window_by_window(tmp_path: Path) -> None:
    # Phrases every 7.3 s: window edges (every 30 s at most) fall inside some of them.
    placed = [(6.0 + 7.3 * k, PHRASES[k % len(PHRASES)]) for k in range(13)]
    track, said = track_of(tmp_path, placed, 100.0)
    model = ToneModel()
    found = heard(transcribe_track(model, track, LoudnessVad))
    assert [w for _, w in found] == [w for _, w in said]
    assert [t for t, _ in found] == pytest.approx([t for t, _ in said], abs=0.02)
    offsets = [offset for offset, *_ in model.calls]
    assert offsets[0] == 5.0 and offsets == sorted(offsets) and len(offsets) > 3
    assert all(seconds <= 30.0 and batch == offline.BATCH_SIZE
               for _, seconds, batch, _ in model.calls)


def test_silence_is_never_sent_to_the_model(tmp_path: Path) -> None:
    track, _ = track_of(tmp_path, [], 70.0)
    model = ToneModel()
    assert transcribe_track(model, track, LoudnessVad) == []
    assert model.calls == []


class OneLongSegment:
    """A model that hears a whole window as one segment (Whisper never does)."""

    def transcribe(self, audio: npt.NDArray[np.float32], *,
                   options: DecodeOptions | None = None, offset: float = 0.0,
                   batch_size: int = 0,
                   clips: list[tuple[float, float]] | None = None) -> list[Segment]:
        return [Segment(start=offset, end=offset + audio.size / RATE, text=f"at {offset:g}")]


def test_a_model_hearing_one_segment_a_window_still_gets_through(tmp_path: Path) -> None:
    track, _ = track_of(tmp_path, [(5.0 + 3.8 * k, PHRASES[0]) for k in range(26)], 100.0)
    found = transcribe_track(OneLongSegment(), track, LoudnessVad)
    assert [s.text for s in found] == ["at 5", "at 35", "at 65", "at 95"]


def test_speech_is_clipped_at_pauses_and_never_past_the_longest_clip() -> None:
    gap = np.zeros(RATE // 2, dtype=np.float32)
    pause = np.zeros(2 * RATE, dtype=np.float32)
    sound, _ = utterance(PHRASES[0])  # 1.1 s
    # Three phrases half a second apart, a 2 s pause, then 40 s of phrases half a second apart.
    audio = np.concatenate([sound, gap, sound, gap, sound, pause, *[sound, gap] * 25])
    clips = speech_clips(audio, LoudnessVad())
    assert clips[0] == pytest.approx((0.0, 4.3 + offline.TAIL), abs=0.05)
    assert clips[1][0] == pytest.approx(6.3 - offline.LEAD, abs=0.05)
    assert all(end - start <= offline.MAX_CLIP for start, end in clips)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(clips))
    assert clips[-1][1] == pytest.approx(audio.size / RATE)
    assert speech_clips(np.zeros(100, dtype=np.float32), LoudnessVad()) == []


def words(*spans: tuple[float, str]) -> tuple[Word, ...]:
    return tuple(Word(start=t, end=round(t + 0.3, 3), text=w) for t, w in spans)


def test_a_segment_is_cut_after_each_sentence_it_ends() -> None:
    said = Segment(start=0.9, end=4.4, text="Hello there. How are you? Fine", speaker="Ada",
                   words=words((1.0, "Hello"), (1.5, "there."), (2.5, "How"), (2.9, "are"),
                               (3.2, "you?"), (4.1, "Fine")))
    assert [(s.start, s.end, s.text, s.speaker, len(s.words)) for s in sentences(said)] == [
        (1.0, 1.8, "Hello there.", "Ada", 2),
        (2.5, 3.5, "How are you?", "Ada", 3),
        (4.1, 4.4, "Fine", "Ada", 1),
    ]


@pytest.mark.parametrize("said", [
    Segment(start=1.0, end=2.0, text="One sentence.",
            words=words((1.0, "One"), (1.5, "sentence."))),
    Segment(start=1.0, end=2.0, text="Mr. Lee said so, quoting “him.”",
            words=words((1.0, "Said"), (1.4, "“him.”"))),
    Segment(start=1.0, end=2.0, text="No word timings. Two sentences."),
])
def test_a_segment_of_one_sentence_or_without_words_is_kept_as_it_is(said: Segment) -> None:
    assert sentences(said) == [said]
