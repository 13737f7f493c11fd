"""The final pass's pieces: a track transcribed a window at a time, segments cut at sentences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from roomscribe.recordings.storage import LocalStorage
from roomscribe.recordings.tracks import TrackReader, TrackWriter
from roomscribe.transcription.results import Segment, Word
from roomscribe.transcripts import service
from roomscribe.transcripts.service import sentences, transcribe_track

RATE = 16_000


class ScriptedModel:
    """Hears what a script says was said, as Whisper would in the audio it is given: a segment
    running past the audio's end comes out cut short, one begun before it as a stray tail."""

    def __init__(self, script: list[Segment]) -> None:
        self.script = script
        self.calls: list[tuple[float, float, int]] = []

    def transcribe(self, audio: npt.NDArray[np.float32], *, offset: float = 0.0,
                   batch_size: int = 0) -> list[Segment]:
        end = offset + audio.size / RATE
        self.calls.append((offset, round(end - offset, 3), batch_size))
        heard = []
        for s in self.script:
            if s.end <= offset or s.start >= end:
                continue
            if s.start < offset:
                heard.append(Segment(start=offset, end=min(s.end, end), text="(tail)"))
            elif s.end > end:
                heard.append(Segment(start=s.start, end=end, text=s.text + " (cut)"))
            else:
                heard.append(s)
        return heard


class OneLongSegment:
    """A model that hears a whole window as one segment (Whisper never does)."""

    def transcribe(self, audio: npt.NDArray[np.float32], *, offset: float = 0.0,
                   batch_size: int = 0) -> list[Segment]:
        return [Segment(start=offset, end=offset + audio.size / RATE, text=f"at {offset:g}")]


@pytest.fixture
def track(tmp_path: Path) -> TrackReader:
    """100 s of one speaker's audio from room time 5 s."""
    storage = LocalStorage(tmp_path)
    with TrackWriter(storage, "room", "ada") as writer:
        writer.append(np.zeros(100 * RATE, dtype=np.int16), at=5.0)
    return TrackReader(storage, "room", "ada")


@pytest.fixture(autouse=True)
def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "WINDOW", 30.0)
    monkeypatch.setattr(service, "OVERLAP", 8.0)
    monkeypatch.setattr(service, "BATCH_FROM", 20.0)


def test_a_long_track_is_heard_whole_once_window_by_window(track: TrackReader) -> None:
    script = [Segment(start=6.0 + 7 * k, end=11.0 + 7 * k, text=f"sentence {k}.")
              for k in range(14)]
    model = ScriptedModel(script)
    assert transcribe_track(model, track) == script
    offsets = [offset for offset, _, _ in model.calls]
    assert offsets[0] == 5.0 and offsets == sorted(set(offsets))
    # Each later window starts where a sentence its predecessor may have cut off begins.
    assert set(offsets[1:]) <= {s.start for s in script}
    assert all(seconds <= 30.0 for _, seconds, _ in model.calls)
    assert [batch for _, seconds, batch in model.calls] == [
        8 if seconds > 20.0 else 0 for _, seconds, _ in model.calls]


def test_a_model_hearing_one_segment_a_window_still_gets_through(track: TrackReader) -> None:
    heard = transcribe_track(OneLongSegment(), track)
    assert [s.text for s in heard] == ["at 5", "at 35", "at 65", "at 95"]
    assert heard[-1].end == pytest.approx(105.0)


def test_an_empty_track_has_nothing_to_hear(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    TrackWriter(storage, "room", "ada").close()
    model = ScriptedModel([])
    assert transcribe_track(model, TrackReader(storage, "room", "ada")) == []
    assert model.calls == []


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
